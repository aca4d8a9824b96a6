"""``decode_clips``: decode only the frames of the selected clips to RGB."""

from __future__ import annotations

import os
import warnings
from typing import Iterator

from typing import TYPE_CHECKING

import av
import numpy as np
from av.video.reformatter import VideoReformatter

if TYPE_CHECKING:
    import torch

from scsampler.errors import UsageError, VideoError
from scsampler.types import ClipGrid, VideoInfo
from scsampler.video._container import open_input
from scsampler.video.probe import probe

__all__ = ["decode_clips", "iter_clips", "iter_frames", "VideoWarning"]


class VideoWarning(UserWarning):
    """A video could be used, but something in it is damaged or odd."""


def decode_clips(
    path: str | os.PathLike,
    clips: ClipGrid,
    *,
    size: tuple[int, int] | None = (112, 112),
    info: VideoInfo | None = None,
) -> torch.Tensor:
    """Decode exactly the frames of ``clips`` and return them as ``uint8 [K, 3, T, H, W]``.

    ``clips`` is a :class:`ClipGrid` (often ``grid.subset(selected_indices)``);
    the output follows its order. ``size`` is ``(height, width)`` to resize to
    (bilinear, aspect ratio not kept), or None for the native size. Values are
    uint8 RGB in [0, 255]; models normalise them (see
    ``scsampler.models.preprocess``).

    Only the frames the clips need are converted to RGB. For each run of
    clips the decoder seeks to the keyframe at or before the first frame
    needed, then decodes forward; clips that share a GOP, or follow each other
    closely, share that one forward pass. A padded clip (video shorter than T
    frames) repeats its last frame. The clips one at a time, as each is
    decoded: :func:`iter_clips`.

    Raises:
        VideoError: the file cannot be opened or none of the frames decode.
    """
    info = info if info is not None else probe(path)
    height, width = _checked_size(size, info)
    import torch  # here: the video layer's probe and grid must not pay for importing torch

    output = torch.empty((len(clips), 3, clips.frames_per_clip, height, width), dtype=torch.uint8)
    for position, clip in iter_clips(path, clips, size=size, info=info):
        output[position] = clip
    return output


def iter_clips(
    path: str | os.PathLike,
    clips: ClipGrid,
    *,
    size: tuple[int, int] | None = (112, 112),
    info: VideoInfo | None = None,
    thread_type: str | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(position in clips, uint8 [3, T, H, W])`` for every clip, each as soon as its frames are decoded.

    One forward pass of one decoder serves all the clips (seeking to a keyframe only where that
    skips frames, as :func:`decode_clips` does), so the clips come in the order their last frame
    is reached: file order, for a grid's clips. Only the clips under way are held in memory: a
    dense pass over a long video, a few clips at a time, decodes every frame once instead of
    going back to a keyframe for each batch (``scsampler.video.chunks.decode_in_file_order``).

    A frame that cannot be decoded (damaged or truncated data) is replaced by the frame decoded
    before it (the first one decoded, when it came before any), with one warning at the end that
    counts and lists them. ``thread_type``: the decoder's threading (:func:`iter_frames`).

    Raises:
        VideoError: the file cannot be opened or none of the frames decode.
    """
    info = info if info is not None else probe(path)
    height, width = _checked_size(size, info)
    if clips.video_frames != info.frames:
        raise UsageError(
            f"the clip grid was made for a video of {clips.video_frames} frames, but {path} has {info.frames}; "
            "build the grid from this video's probe()."
        )
    import torch  # here, as in decode_clips: probe and the grid must not pay for importing torch

    # Every (clip, time) slot's frame, as arrays: a dict of slots per frame took 20 MB for an hour's clips.
    # A padded clip (shorter than T frames) repeats its last frame.
    frames_per_clip = clips.frames_per_clip
    if len(clips) == 0:
        return
    slot_frames = np.minimum(
        clips.start_frame[:, None] + np.arange(frames_per_clip), clips.end_frame[:, None] - 1
    ).ravel()  # slot s = position * T + t
    by_frame = np.argsort(slot_frames, kind="stable")
    sorted_frames = slot_frames[by_frame]
    targets = np.unique(sorted_frames).tolist()
    unfilled = np.full(len(clips), frames_per_clip, dtype=np.int64)
    under_way: dict[int, torch.Tensor] = {}
    missing: list[int] = []
    orphans: list[int] = []  # frames lost before any frame was decoded: they take the first one decoded

    def fill(index: int, image: np.ndarray) -> list[int]:
        """Put ``image`` in every slot of frame ``index``; the positions of the clips it completes."""
        pixels = torch.from_numpy(image).permute(2, 0, 1)
        first, last = np.searchsorted(sorted_frames, [index, index + 1])
        done = []
        for slot in by_frame[first:last].tolist():
            position, t = divmod(slot, frames_per_clip)
            clip = under_way.get(position)
            if clip is None:
                clip = under_way[position] = torch.empty((3, frames_per_clip, height, width), dtype=torch.uint8)
            clip[:, t] = pixels
            unfilled[position] -= 1
            if unfilled[position] == 0:
                done.append(position)
        return done

    last_image: np.ndarray | None = None
    damage = _Damage()
    cursor = 0  # targets[cursor] is the next frame expected
    for index, image in iter_frames(path, targets, info=info, size=(height, width), damage=damage, thread_type=thread_type):
        done = []
        while targets[cursor] < index:  # skipped by the decoder: lost
            missing.append(targets[cursor])
            if last_image is None:
                orphans.append(targets[cursor])
            else:
                done += fill(targets[cursor], last_image)
            cursor += 1
        for orphan in orphans:
            done += fill(orphan, image)
        orphans.clear()
        done += fill(index, image)
        cursor += 1
        last_image = image
        for position in sorted(done):
            yield position, under_way.pop(position)
    if last_image is None:
        raise VideoError(path, "no frame of the requested clips could be decoded.")
    done = []
    for index in targets[cursor:]:  # after the last frame decoded: truncated
        missing.append(index)
        done += fill(index, last_image)
    for position in sorted(done):
        yield position, under_way.pop(position)
    if missing:
        warnings.warn(
            f"{path}: {len(missing)} of the {len(targets)} frames asked for could not be decoded "
            f"(damaged or truncated: {_frame_ranges(missing)}); the frame decoded before each stands in for it.",
            VideoWarning,
            stacklevel=2,
        )
    if damage.packets:
        warnings.warn(
            f"{path}: {damage.packets} damaged video packets could not be decoded and were skipped.",
            VideoWarning,
            stacklevel=2,
        )


def _checked_size(size: tuple[int, int] | None, info: VideoInfo) -> tuple[int, int]:
    """``(height, width)`` of the decoded frames: ``size``, or the video's own when None."""
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise UsageError(f"size must be (height, width) with positive values or None, got {size!r}.")
    return tuple(size) if size is not None else (info.height, info.width)


class _Damage:
    """Counts what the decoder could not use, for one warning per call."""

    def __init__(self) -> None:
        self.packets = 0


def iter_frames(
    path: str | os.PathLike,
    frame_indices: list[int],
    *,
    info: VideoInfo,
    size: tuple[int, int] | None = None,
    pixel_format: str = "rgb24",
    damage: "_Damage | None" = None,
    thread_type: str | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, HxWxC array)`` for the sorted ``frame_indices``.

    ``thread_type`` is the decoder's threading (``"SLICE"``, ``"FRAME"``, ``"AUTO"``, ``"NONE"``); None
    chooses by the frames asked for: frame threads for a long run of them, slice threads otherwise.

    Seeks to the keyframe before a wanted frame whenever that skips frames
    that would otherwise be decoded for nothing. Frame numbers count decoded
    frames from the keyframe reached, because some containers (AVI with packed
    B-frames) label decoded frames with shuffled timestamps.
    """
    targets = sorted(set(int(i) for i in frame_indices))
    if targets and (targets[0] < 0 or targets[-1] >= info.frames):
        raise UsageError(f"frame indices must lie in [0, {info.frames}), got {targets[0]}..{targets[-1]}.")
    height, width = size if size is not None else (info.height, info.width)
    # One scaler for the whole call: ``frame.to_ndarray(width=, height=)`` builds a new one per frame,
    # which took 3/4 of the time of decoding and converting a 160x120 video (same pixels either way).
    reformatter = VideoReformatter()

    def convert(frame: av.VideoFrame) -> np.ndarray:
        return reformatter.reformat(frame, width=width, height=height, format=pixel_format).to_ndarray()

    with open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = thread_type or _thread_type(targets)
        position = 0  # index of the next frame the decoder will return
        damage = damage if damage is not None else _Damage()
        frames = _decoded_frames(container, stream, damage)
        cursor = 0
        while cursor < len(targets):
            target = targets[cursor]
            keyframe = info.keyframe_at_or_before(target)
            if target < position or keyframe > position:
                position = _seek(container, stream, info, keyframe)
                frames = _decoded_frames(container, stream, damage)
            for frame in frames:
                index = position
                if index == 0 or frame.key_frame:
                    index = _resync(info, frame, index)
                position = index + 1
                if index == target:
                    yield index, convert(frame)
                    cursor += 1
                    break
                if index > target:  # the decoder skipped it (damaged data): move on
                    cursor += 1
                    while cursor < len(targets) and targets[cursor] < index:
                        cursor += 1
                    if cursor < len(targets) and targets[cursor] == index:
                        yield index, convert(frame)
                        cursor += 1
                    break
            else:
                return  # end of stream: the caller reports what is missing


def _thread_type(targets: list[int]) -> str:
    """Frame threads for runs of consecutive frames; slice threads when the decoder will seek often.

    Frame threading decodes several frames at once, which pays on a long forward run, but every
    seek drains and restarts its pipeline: on 10 clips spread over a 5-minute video, ``SLICE``
    was 12% faster than ``AUTO`` here (benchmarks/video_decode.py).
    """
    if not targets:
        return "AUTO"
    density = len(targets) / (targets[-1] - targets[0] + 1)
    return "AUTO" if density > 0.5 else "SLICE"


def _decoded_frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream, damage: _Damage):
    """Frames in display order; packets that fail to decode are skipped, not fatal."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError:  # the file ends in damaged data: stop as at its end
            damage.packets += 1
            return
        try:
            decoded = packet.decode()
        except av.error.FFmpegError:  # a damaged packet: skip it, the frames after it still decode
            damage.packets += 1
            continue
        yield from decoded


def _seek(container: av.container.InputContainer, stream: av.video.stream.VideoStream, info: VideoInfo, keyframe: int) -> int:
    if info.frame_pts is None:
        container.seek(0)
        return 0
    container.seek(int(info.frame_pts[keyframe]), stream=stream, backward=True, any_frame=False)
    return keyframe


def _resync(info: VideoInfo, frame: av.VideoFrame, counted: int) -> int:
    """Trust a keyframe's own timestamp to know where the decoder really is."""
    if info.frame_pts is None or frame.pts is None:
        return counted
    found = int(np.searchsorted(info.frame_pts, frame.pts))
    if found < info.frames and info.frame_pts[found] == frame.pts:
        return found
    return counted


def _frame_ranges(frames: list[int], *, shown: int = 4) -> str:
    """``"frame 7"``, ``"frames 44..49, 60..79"``: sorted frame indices as runs, the first ``shown`` of them."""
    runs: list[list[int]] = []
    for frame in frames:
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    text = ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs[:shown])
    more = f" and {len(runs) - shown} more runs" if len(runs) > shown else ""
    return f"{'frame' if len(frames) == 1 else 'frames'} {text}{more}"
