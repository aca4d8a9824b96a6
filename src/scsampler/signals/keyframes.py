"""I-frame per clip from keyframe-only decoding: only keyframe packets reach the decoder."""

from __future__ import annotations

import collections
import os
import warnings

import av
from av.video.reformatter import VideoReformatter
import numpy as np
import torch

from scsampler.errors import UsageError, VideoError
from scsampler.signals._threads import one_torch_thread
from scsampler.signals.shrink import check_shrink, shrink_image
from scsampler.signals.warnings import SignalWarning
from scsampler.types import ClipGrid, VideoInfo
from scsampler.video._container import open_input

__all__ = ["extract_iframes", "clip_keyframes", "KeyframeImages", "SEEK_GAP_FRAMES"]

# Seek to the next keyframe wanted when it lies further ahead than this; read packets otherwise.
SEEK_GAP_FRAMES = 60

_DECODE_ERRORS = (av.error.FFmpegError,)  # a damaged packet is skipped, not fatal


def clip_keyframes(info: VideoInfo, grid: ClipGrid) -> np.ndarray:
    """For each clip, the index of the last keyframe at or before its first frame."""
    positions = np.searchsorted(info.keyframes, grid.start_frame, side="right") - 1
    return np.where(positions >= 0, info.keyframes[np.maximum(positions, 0)], 0).astype(np.int64)


class KeyframeImages:
    """Each clip's keyframe (:func:`clip_keyframes`), gathered from decoded frames by their index.

    :func:`extract_iframes` feeds it from a keyframe-only pass; the motion pass can feed it too
    (:func:`scsampler.signals.motion.extract_motion`'s ``iframe_size``), so that a video's
    I-frames and motion come from one decoding pass.
    """

    def __init__(self, info: VideoInfo, grid: ClipGrid, size: tuple[int, int], *, shrink: int | None = None) -> None:
        if len(size) != 2 or min(size) < 1:
            raise UsageError(f"iframe size must be (height, width) with positive values, got {size!r}.")
        self.height, self.width = int(size[0]), int(size[1])
        self.shrink = check_shrink(shrink)  # then each image shrunk to shrink x shrink (signals.shrink)
        self.wanted = clip_keyframes(info, grid)
        self.needed = set(int(k) for k in np.unique(self.wanted))
        self.images: dict[int, np.ndarray] = {}  # keyframe index -> uint8 [3, H, W]
        self._reformatter = VideoReformatter()  # one scaler for every keyframe (frame.to_ndarray builds one each)

    def add(self, index: int, frame: av.VideoFrame) -> None:
        rgb = self._reformatter.reformat(frame, width=self.width, height=self.height, format="rgb24").to_ndarray()
        # channels first, made contiguous here with NumPy: a strided copy per clip later is far
        # slower, and a torch copy would wake its thread pool, whose workers spin longer than it takes
        image = np.ascontiguousarray(rgb.transpose(2, 0, 1))
        self.images[index] = image if self.shrink is None else shrink_image(image, self.shrink)

    def finish(self, path) -> torch.Tensor:
        """``uint8 [L, 3, H, W]`` (``[L, 3, shrink, shrink]`` with ``shrink``); a keyframe that did not decode
        is replaced by the nearest earlier one (warned)."""
        height, width = (self.height, self.width) if self.shrink is None else (self.shrink, self.shrink)
        return _fill(path, self.wanted, self.images, height=height, width=width)


def extract_iframes(
    path: str | os.PathLike,
    grid: ClipGrid,
    *,
    info: VideoInfo,
    size: tuple[int, int] = (112, 112),
    shrink: int | None = None,
) -> torch.Tensor:
    """``uint8 [L, 3, H, W]``: the keyframe covering each clip of ``grid``, resized to ``size``
    (then to ``shrink`` x ``shrink`` with :func:`~scsampler.signals.shrink.shrink_images`, when given).

    Only the keyframe packets that some clip needs are sent to the decoder, which also
    runs with ``skip_frame="NONKEY"``; so no predicted frame is ever decoded, whatever
    the codec. Packets are read in order, with a seek whenever the next keyframe wanted
    lies more than ``SEEK_GAP_FRAMES`` ahead (long GOPs, sparse clips). A keyframe that fails to decode
    is replaced by the nearest earlier decoded one (a :class:`SignalWarning` says so).
    """
    keyframes = KeyframeImages(info, grid, size, shrink=shrink)
    needed, images = keyframes.needed, keyframes.images
    if info.frame_pts is None:
        raise VideoError(path, "the probe holds no frame timestamps, so keyframes cannot be located.")
    pts_to_index = {int(p): i for i, p in enumerate(info.frame_pts)}

    with open_input(path) as container, one_torch_thread():  # (each image's shrink: see the motion pass)
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        # one thread: a few dozen independent keyframes do not repay starting slice or frame threads
        stream.thread_type = "NONE"
        sent: collections.deque[int] = collections.deque()  # keyframe indices sent, in order

        def collect(frames: list[av.VideoFrame]) -> None:
            for frame in frames:
                if not sent:
                    return
                index = pts_to_index.get(frame.pts) if frame.pts is not None else None
                if index is not None and index in sent:
                    while sent[0] != index:
                        sent.popleft()
                keyframes.add(sent.popleft(), frame)

        def drain() -> None:
            """Take the frames the decoder still holds, and make it ready for more packets."""
            try:
                collect(stream.decode(None))
            except _DECODE_ERRORS:
                pass
            stream.codec_context.flush_buffers()

        try:
            targets = sorted(needed)
            cursor = 0  # next target keyframe
            read_up_to = -1  # frame index of the last packet read
            last_sought = None  # never seek twice for one target (a coarse index may land far before it)
            while cursor < len(targets):
                target = targets[cursor]
                if target - read_up_to > SEEK_GAP_FRAMES and target != last_sought:
                    # far ahead: jump there rather than read every packet in between
                    drain()
                    container.seek(int(info.frame_pts[target]), stream=stream, backward=True, any_frame=False)
                    last_sought = target
                for packet in container.demux(stream):
                    if packet.size == 0:
                        continue
                    timestamp = packet.pts if packet.pts is not None else packet.dts
                    index = pts_to_index.get(int(timestamp)) if timestamp is not None else None
                    if index is None:
                        continue
                    read_up_to = max(read_up_to, index)
                    if packet.is_keyframe and index in needed and index not in images and index not in sent:
                        sent.append(index)
                        try:
                            collect(stream.decode(packet))
                        except _DECODE_ERRORS:
                            pass
                    while cursor < len(targets) and targets[cursor] <= read_up_to:
                        cursor += 1
                    if cursor >= len(targets):
                        break
                    if targets[cursor] - read_up_to > SEEK_GAP_FRAMES and targets[cursor] != last_sought:
                        break
                else:
                    break  # end of stream
            drain()
        except av.error.FFmpegError:
            pass  # a truncated or unseekable file: keep what was decoded

    return keyframes.finish(path)


def _fill(path, wanted: np.ndarray, images: dict[int, np.ndarray], *, height: int, width: int) -> torch.Tensor:
    if not images:
        if len(wanted):
            raise VideoError(path, "none of its keyframes could be decoded.")
        return torch.zeros((len(wanted), 3, height, width), dtype=torch.uint8)
    decoded = np.array(sorted(images), dtype=np.int64)
    # each clip's keyframe, or the nearest earlier decoded one when its own failed
    source = np.maximum(np.searchsorted(decoded, wanted, side="right") - 1, 0)
    missing = int(np.count_nonzero(decoded[source] != wanted))
    output = torch.from_numpy(np.stack([images[int(k)] for k in decoded])[source])  # one row gather
    if missing:
        warnings.warn(
            f"{path}: {missing} clips' keyframes could not be decoded (damaged data); "
            "the nearest decoded keyframe stands in for them.",
            SignalWarning,
            stacklevel=4,
        )
    return output
