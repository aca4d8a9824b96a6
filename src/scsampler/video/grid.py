"""``clip_grid``: cut a video into consecutive clips of T frames."""

from __future__ import annotations

import numpy as np

from scsampler.errors import UsageError
from scsampler.types import ClipGrid, VideoInfo

__all__ = ["clip_grid", "count_full_clips"]


def count_full_clips(num_frames: int, frames_per_clip: int = 16, stride_frames: int | None = None) -> int:
    """How many whole clips of ``frames_per_clip`` frames fit, starting every ``stride_frames``.

    0 when the video is shorter than one clip (:func:`clip_grid` then gives one padded clip).
    """
    stride = _check_clip_arguments(frames_per_clip, stride_frames)
    if num_frames < frames_per_clip:
        return 0
    return (num_frames - frames_per_clip) // stride + 1


def clip_grid(info: VideoInfo, *, frames_per_clip: int = 16, stride_frames: int | None = None) -> ClipGrid:
    """The clips of ``info``'s video: clip ``i`` holds frames ``[i*stride, i*stride + T)``.

    ``stride_frames`` (default ``frames_per_clip``) is the distance between the
    first frames of consecutive clips: equal to T gives non-overlapping clips,
    smaller overlaps them, larger leaves gaps. Frames after the last whole clip
    are left out. Seconds come from the frames' real timestamps, so a variable
    frame rate gives clips of unequal duration.

    A video shorter than one clip gives one *padded* clip holding all its
    frames; decoding repeats its last frame to fill T frames, and
    ``ClipGrid.padded`` is True.
    """
    stride = _check_clip_arguments(frames_per_clip, stride_frames)
    num_frames = info.frames
    times = info.frame_times_s
    frame_end_s = np.append(times[1:], info.duration_s)  # each frame lasts until the next one starts

    count = count_full_clips(num_frames, frames_per_clip, stride)
    if count == 0:
        starts = np.array([0], dtype=np.int64)
        ends = np.array([num_frames], dtype=np.int64)
        padded = True
    else:
        starts = np.arange(count, dtype=np.int64) * stride
        ends = starts + frames_per_clip
        padded = False
    return ClipGrid(
        frames_per_clip=int(frames_per_clip),
        stride_frames=int(stride),
        video_frames=num_frames,
        index=np.arange(len(starts), dtype=np.int64),
        start_frame=starts,
        end_frame=ends,
        start_s=times[starts],
        end_s=frame_end_s[ends - 1],
        padded=padded,
    )


def _check_clip_arguments(frames_per_clip: int, stride_frames: int | None) -> int:
    """The stride in frames, after checking both arguments (the one check both functions share)."""
    # bool is an int subclass, but True frames per clip is a mistake, not 1
    if isinstance(frames_per_clip, bool) or not isinstance(frames_per_clip, (int, np.integer)) or frames_per_clip < 1:
        raise UsageError(f"frames_per_clip must be a positive integer, got {frames_per_clip!r}.")
    stride = frames_per_clip if stride_frames is None else stride_frames
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise UsageError(
            f"stride_frames must be a positive integer or None (= frames_per_clip), got {stride_frames!r}."
        )
    return int(stride)
