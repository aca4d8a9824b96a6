"""What every clip sampler offers.

A sampler turns a video's clip grid into a :class:`ClipSelection`. Most samplers
*score* clips (``ScoringSampler``) and leave the choice to the pure selection
functions in ``scsampler.samplers.selection``; the baselines Dense, Uniform and
Random choose directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from scsampler.errors import UsageError
from scsampler.types import ClipGrid, ClipScores, ClipSelection, VideoInfo

__all__ = ["ClipSampler", "ScoringSampler", "check_k_and_stride", "strided_positions"]


def check_k_and_stride(k: int | None, stride: int) -> None:
    if k is not None and (not isinstance(k, (int, np.integer)) or k < 1):
        raise UsageError(f"k must be a positive integer (or None for every clip), got {k!r}.")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise UsageError(f"stride must be a positive integer (1 scores every clip), got {stride!r}.")


def strided_positions(grid: ClipGrid, stride: int) -> np.ndarray:
    """Positions in ``grid`` of the clips scored under sampling stride N: 0, N, 2N, ..."""
    return np.arange(0, len(grid), stride, dtype=np.int64)


class ClipSampler(ABC):
    """Chooses up to K clips of a video. ``name`` is how users select it."""

    name: str = ""
    #: True for samplers that must see the ground-truth label (Oracle): an upper bound, never a method.
    needs_label: bool = False
    #: True for samplers that learn nothing from data (motion, loudness): what a learned sampler must beat.
    zero_training: bool = False

    @abstractmethod
    def select(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int = 1) -> ClipSelection:
        """Choose ``min(k, L)`` clips (all when ``k`` is None) from ``grid``."""


class ScoringSampler(ClipSampler):
    """A sampler that gives every scored clip a saliency score (higher = more salient)."""

    @abstractmethod
    def score(self, video: VideoInfo, grid: ClipGrid, *, stride: int = 1) -> ClipScores:
        """Scores of the clips at grid positions 0, N, 2N, ... (N = ``stride``)."""

    def select(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int = 1) -> ClipSelection:
        from scsampler.samplers.selection import top_k

        check_k_and_stride(k, stride)
        return top_k(self.score(video, grid, stride=stride), k=k, strategy=self.name)
