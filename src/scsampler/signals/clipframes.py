"""A small RGB frame from inside each clip, taken from the motion pass's decoded frames.

I-frames come from keyframes, which can lie seconds before a clip when the GOP is long
(real H.264 often has a keyframe every 250 frames). The motion pass decodes the frames of
every clip anyway, so :class:`ClipFrames` keeps, per clip, the decoded frame nearest the
clip's middle and resizes it once, when the clip is done. Frames are decoded as the motion
pass decodes them: without the loop filter (``skip_loop_filter=all``), which the vectors do not
need; on the benchmark video (GOP 250) a clip frame then differs from the same frame decoded
normally by 0.8 grey levels on average (``benchmarks/signals_speed.py --clipframe-fidelity``).

The rule, whatever else the pass extracts:

- candidates are the decoded I- and P-frames (the pass decodes B-frames only when something
  needs them: other frames' references, ``motion_frames="all"``, the residual, AVI's
  decoding-order timestamps; they never serve, so a clip's frame is the same whatever else was
  extracted with it);
- a clip takes the candidate nearest its middle, ``(start + end - 1) / 2``; of two at the same
  distance, the earlier;
- a clip holding no candidate (damaged data, or a clip made only of skipped B-frames) takes the
  nearest earlier candidate, or, when there is none, the next one after it (a
  :class:`~scsampler.signals.warnings.SignalWarning` says how many clips borrowed a frame).

Memory stays bounded: only the decoded frames that some open clip may still take are held
(references to the decoder's frames, not copies), plus the latest candidate; each clip's
output is written as soon as the clip is done.
"""

from __future__ import annotations

import os
import warnings

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from scsampler.errors import UsageError, VideoError
from scsampler.signals.shrink import check_shrink, shrink_images
from scsampler.signals.warnings import SignalWarning
from scsampler.types import ClipGrid

__all__ = ["ClipFrames", "check_size"]

_SHRINK_BATCH = 64  # clip frames shrunk per call: one call per frame costs 0.3 ms in overhead alone


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """``(height, width)`` as ints; a UsageError unless both are positive."""
    if len(size) != 2 or min(size) < 1:
        raise UsageError(f"clipframe size must be (height, width) with positive values, got {size!r}.")
    return int(size[0]), int(size[1])


class ClipFrames:
    """Streams decoded frames in and gives ``uint8 [L, 3, H, W]``: each clip's frame, resized (and then
    shrunk to ``shrink`` x ``shrink`` by :func:`~scsampler.signals.shrink.shrink_images`, when given).

    Call :meth:`add` with every candidate frame (see the module docstring) in increasing
    frame order, then :meth:`finish`. Frames that arrive out of order are ignored.
    """

    def __init__(self, grid: ClipGrid, size: tuple[int, int], *, shrink: int | None = None) -> None:
        self.grid = grid
        self.height, self.width = check_size(size)
        self.shrink = check_shrink(shrink)  # then each frame shrunk to shrink x shrink (signals.shrink)
        self._starts = grid.start_frame.astype(np.int64)
        self._ends = grid.end_frame.astype(np.int64)
        self._twice_middle = self._starts + self._ends - 1  # integer arithmetic: no half frames
        self._order = np.argsort(self._starts, kind="stable")  # clips open in this order
        self._next = 0  # next clip of _order to open
        out_h, out_w = (self.height, self.width) if self.shrink is None else (self.shrink, self.shrink)
        self.output = np.zeros((len(grid), 3, out_h, out_w), dtype=np.uint8)
        self.borrowed = 0  # clips that held no candidate
        self._open: dict[int, tuple[int, int]] = {}  # position -> (best frame or -1, fallback frame or -1)
        self._orphans: list[int] = []  # clips closed with no candidate before or inside them: take the next one
        self._frames: dict[int, av.VideoFrame] = {}  # frame index -> decoded frame some clip may still take
        self._last = -1  # index of the latest candidate
        self._converted: tuple[int, np.ndarray] | None = None  # the latest resized frame (clips often share one)
        self._to_shrink: list[tuple[np.ndarray, list[int]]] = []  # with shrink: (image, its clips), shrunk in batches
        self._reformatter = VideoReformatter()  # one scaler for every frame

    def add(self, index: int, frame: av.VideoFrame) -> None:
        """Offer the decoded candidate ``frame`` at frame ``index``."""
        if index <= self._last:
            return
        self._frames[index] = frame
        while self._next < len(self._order) and self._starts[self._order[self._next]] <= index:
            position = int(self._order[self._next])
            self._next += 1
            self._open[position] = (-1, self._last)  # the nearest earlier candidate, if any
        for position, (best, fallback) in list(self._open.items()):
            if self._ends[position] <= index:  # ended before this frame
                self._close(position)
                continue
            twice_middle = int(self._twice_middle[position])
            if best < 0 or abs(2 * index - twice_middle) < abs(2 * best - twice_middle):
                self._open[position] = (index, fallback)  # ties keep the earlier frame
            if 2 * index >= twice_middle:
                self._close(position)  # every later frame lies further from the middle
        for position in self._orphans:  # no candidate before or inside them: this is the nearest after
            self._write(position, index)
        self._orphans = []
        self._last = index
        keep = {self._last} | {i for pair in self._open.values() for i in pair if i >= 0}
        for stale in [i for i in self._frames if i not in keep]:
            del self._frames[stale]  # drop the reference: the decoder may reuse the buffer

    def finish(self, path: str | os.PathLike) -> torch.Tensor:
        """The ``uint8 [L, 3, H, W]`` output, once every frame has been added.

        Raises:
            VideoError: clips exist but no candidate frame was decoded at all.
        """
        while self._next < len(self._order):  # clips after the last decoded frame
            self._open[int(self._order[self._next])] = (-1, self._last)
            self._next += 1
        for position in list(self._open):
            self._close(position)
        if self._orphans:
            raise VideoError(path, "none of its frames could be decoded, so no clip frame can be taken.")
        if self.borrowed:
            warnings.warn(
                f"{os.fspath(path)}: {self.borrowed} clips hold no decoded frame other than skipped B-frames "
                "(or their frames are damaged); the nearest earlier decoded frame stands in as their clip frame.",
                SignalWarning,
                stacklevel=4,
            )
        self._frames.clear()
        self._shrink_pending()
        return torch.from_numpy(self.output)

    def _close(self, position: int) -> None:
        best, fallback = self._open.pop(position)
        if best >= 0:
            self._write(position, best)
            return
        self.borrowed += 1
        if fallback >= 0:
            self._write(position, fallback)
        else:
            self._orphans.append(position)

    def _write(self, position: int, index: int) -> None:
        if self._converted is None or self._converted[0] != index:
            rgb = self._reformatter.reformat(self._frames[index], width=self.width, height=self.height, format="rgb24")
            # channels first, made contiguous here (as the I-frames are)
            image = np.ascontiguousarray(rgb.to_ndarray().transpose(2, 0, 1))
            self._converted = (index, image)
            if self.shrink is not None:
                if len(self._to_shrink) >= _SHRINK_BATCH:
                    self._shrink_pending()
                self._to_shrink.append((image, []))
        if self.shrink is None:
            self.output[position] = self._converted[1]
        else:
            self._to_shrink[-1][1].append(position)

    def _shrink_pending(self) -> None:
        """Shrink the images waiting (one call for many: each image on its own, so the same bits) into their clips."""
        if not self._to_shrink:
            return
        small = shrink_images(torch.from_numpy(np.stack([image for image, _ in self._to_shrink])), self.shrink).numpy()
        for image, (_, positions) in zip(small, self._to_shrink):
            self.output[positions] = image
        self._to_shrink = []
