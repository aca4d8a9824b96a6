"""Streaming per-clip means: frames arrive one by one, clips are finished as soon as they end.

Per-frame values are NumPy arrays (small: a thread pool costs more than it saves).
Only the clips that are still open hold a float32 sum, so memory stays bounded by the
number of overlapping clips, not by the length of the video.
"""

from __future__ import annotations

import heapq

import numpy as np
import torch

from scsampler.types import ClipGrid


class ClipMeans:
    """Mean of per-frame tensors over each clip's frames, written into a float16 output.

    Frames must arrive in increasing order, but need not all arrive (skipped B-frames,
    damaged packets): a clip is finished when its last frame arrives or when a later
    frame does, so the open sums stay bounded either way.
    """

    def __init__(self, grid: ClipGrid, shape: tuple[int, ...]) -> None:
        self.grid = grid
        self.output = np.zeros((len(grid), *shape), dtype=np.float16)
        self.counts = np.zeros(len(grid), dtype=np.int64)
        self._sums: dict[int, np.ndarray] = {}
        self._positions = ClipsOfFrame(grid)
        self._last_frame = grid.end_frame.astype(np.int64) - 1
        self._open: list[tuple[int, int]] = []  # heap of (last frame, position) of the clips with a sum

    def wants(self, frame: int) -> bool:
        return len(self._positions.get(frame)) > 0

    def add(self, frame: int, value: np.ndarray | None) -> None:
        """Add ``value`` (None: the frame carries nothing to average, e.g. an intra frame)."""
        while self._open and self._open[0][0] < frame:  # clips whose last frame was skipped
            self._finish(heapq.heappop(self._open)[1])
        for position in self._positions.get(frame):
            if value is not None:
                if position in self._sums:
                    self._sums[position] += value
                else:
                    self._sums[position] = value.astype(np.float32)  # a copy
                    heapq.heappush(self._open, (int(self._last_frame[position]), position))
                self.counts[position] += 1

    def _finish(self, position: int) -> None:
        total = self._sums.pop(position, None)
        if total is not None:
            self.output[position] = (total / float(self.counts[position])).astype(np.float16)

    def finish(self) -> torch.Tensor:
        """The output; clips cut short by the end of the stream keep the mean of what arrived."""
        for position in list(self._sums):
            self._finish(position)
        self._open = []
        return torch.from_numpy(self.output)


class ClipsOfFrame:
    """Frame index -> positions in ``grid`` of the clips that hold it.

    Clips sorted by both start and end (any grid of equal-length clips) are found by two
    binary searches, without a table of every frame (a Python dict of every frame of a
    one-hour video costs tens of MB); other grids fall back to such a table.
    """

    def __init__(self, grid: ClipGrid) -> None:
        self._starts = grid.start_frame.astype(np.int64)
        self._ends = grid.end_frame.astype(np.int64)
        self._table: dict[int, list[int]] | None = None
        if np.any(np.diff(self._starts) < 0) or np.any(np.diff(self._ends) < 0):
            self._table = frame_to_positions(grid)

    def get(self, frame: int) -> range | list[int]:
        if self._table is not None:
            return self._table.get(frame, [])
        # clips with start <= frame form a prefix, clips with end <= frame a shorter prefix
        first = int(np.searchsorted(self._ends, frame, side="right"))
        last = int(np.searchsorted(self._starts, frame, side="right"))
        return range(first, max(first, last))


def frame_to_positions(grid: ClipGrid) -> dict[int, list[int]]:
    """Frame index -> positions in ``grid`` of the clips that hold it."""
    mapping: dict[int, list[int]] = {}
    for position, (start, end) in enumerate(zip(grid.start_frame.tolist(), grid.end_frame.tolist())):
        for frame in range(start, end):
            mapping.setdefault(frame, []).append(position)
    return mapping


def needed_frames(grid: ClipGrid) -> np.ndarray:
    """Sorted unique frame indices covered by the clips of ``grid``."""
    if len(grid) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate([np.arange(s, e) for s, e in zip(grid.start_frame, grid.end_frame)]))
