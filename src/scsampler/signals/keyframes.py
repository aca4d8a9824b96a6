"""I-frame per clip from keyframe-only decoding: only keyframe packets reach the decoder."""

from __future__ import annotations

import collections
import os
import warnings

import av
import numpy as np
import torch

from scsampler.errors import UsageError, VideoError
from scsampler.signals.warnings import SignalWarning
from scsampler.types import ClipGrid, VideoInfo
from scsampler.video._container import decoder_messages, open_input

__all__ = ["extract_iframes", "clip_keyframes"]

_DECODE_ERRORS = (av.error.FFmpegError,)  # a damaged packet is skipped, not fatal


def clip_keyframes(info: VideoInfo, grid: ClipGrid) -> np.ndarray:
    """For each clip, the index of the last keyframe at or before its first frame."""
    positions = np.searchsorted(info.keyframes, grid.start_frame, side="right") - 1
    return np.where(positions >= 0, info.keyframes[np.maximum(positions, 0)], 0).astype(np.int64)


def extract_iframes(
    path: str | os.PathLike,
    grid: ClipGrid,
    *,
    info: VideoInfo,
    size: tuple[int, int] = (112, 112),
) -> torch.Tensor:
    """``uint8 [L, 3, H, W]``: the keyframe covering each clip of ``grid``, resized to ``size``.

    The video packets are demuxed (cheap) and only the keyframe packets that some clip
    needs are sent to the decoder, which also runs with ``skip_frame="NONKEY"``; so no
    predicted frame is ever decoded, whatever the codec. A keyframe that fails to decode
    is replaced by the nearest earlier decoded one (a :class:`SignalWarning` says so).
    """
    if len(size) != 2 or min(size) < 1:
        raise UsageError(f"iframe size must be (height, width) with positive values, got {size!r}.")
    height, width = int(size[0]), int(size[1])
    wanted = clip_keyframes(info, grid)
    needed = set(int(k) for k in np.unique(wanted))
    images: dict[int, torch.Tensor] = {}
    if info.frame_pts is None:
        raise VideoError(path, "the probe holds no frame timestamps, so keyframes cannot be located.")
    pts_to_index = {int(p): i for i, p in enumerate(info.frame_pts)}
    last_needed = max(needed) if needed else -1

    with open_input(path) as container, decoder_messages():
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        stream.thread_type = "SLICE"  # keyframes are independent: frame threads would only add delay
        sent: collections.deque[int] = collections.deque()  # keyframe indices sent, in order

        def collect(frames: list[av.VideoFrame]) -> None:
            for frame in frames:
                if not sent:
                    return
                index = pts_to_index.get(frame.pts) if frame.pts is not None else None
                if index is not None and index in sent:
                    while sent[0] != index:
                        sent.popleft()
                index = sent.popleft()
                images[index] = torch.from_numpy(
                    frame.to_ndarray(format="rgb24", width=width, height=height)
                ).permute(2, 0, 1)

        try:
            for packet in container.demux(stream):
                if packet.size == 0 or not packet.is_keyframe:
                    continue
                timestamp = packet.pts if packet.pts is not None else packet.dts
                index = pts_to_index.get(int(timestamp)) if timestamp is not None else None
                if index is None or index not in needed:
                    if index is not None and index > last_needed:
                        break
                    continue
                sent.append(index)
                try:
                    collect(stream.decode(packet))
                except _DECODE_ERRORS:
                    continue
            try:
                collect(stream.decode(None))  # flush frames the decoder still holds
            except _DECODE_ERRORS:
                pass
        except av.error.FFmpegError:
            pass  # a truncated file: keep what was decoded

    return _fill(path, wanted, images, height=height, width=width)


def _fill(path, wanted: np.ndarray, images: dict[int, torch.Tensor], *, height: int, width: int) -> torch.Tensor:
    output = torch.zeros((len(wanted), 3, height, width), dtype=torch.uint8)
    if not images:
        if len(wanted):
            raise VideoError(path, "none of its keyframes could be decoded.")
        return output
    decoded = np.array(sorted(images), dtype=np.int64)
    missing = 0
    for position, keyframe in enumerate(wanted.tolist()):
        if keyframe not in images:
            missing += 1
            earlier = np.searchsorted(decoded, keyframe, side="right") - 1
            keyframe = int(decoded[max(earlier, 0)])
        output[position] = images[keyframe]
    if missing:
        warnings.warn(
            f"{path}: {missing} clips' keyframes could not be decoded (damaged data); "
            "the nearest decoded keyframe stands in for them.",
            SignalWarning,
            stacklevel=3,
        )
    return output
