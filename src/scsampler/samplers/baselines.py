"""The baseline samplers: Dense, Uniform, Random, and the Oracle upper bound.

Dense, Uniform and Random choose clips from their positions alone; they score
nothing, so their selections carry NaN scores and ``scored=0``, and a sampling
stride does not change them. Oracle needs the clip classifier's output on every
clip and the ground-truth label: it is an upper bound for evaluation, never a
method (``needs_label = True``).
"""

from __future__ import annotations

import zlib

import numpy as np

from scsampler.errors import UsageError
from scsampler.samplers.base import ClipSampler, scored_grid
from scsampler.samplers.registry import register_sampler
from scsampler.samplers.selection import _top_k, check_k, check_stride
from scsampler.types import ClipGrid, ClipScores, ClipSelection, VideoInfo

__all__ = [
    "DenseSampler",
    "UniformSampler",
    "RandomSampler",
    "OracleSampler",
    "uniform_positions",
    "random_positions",
    "oracle_selection",
]


def _selection(grid: ClipGrid, positions: np.ndarray, *, strategy: str) -> ClipSelection:
    positions = np.asarray(positions, dtype=np.int64)
    return ClipSelection(
        index=grid.index[positions],
        start_s=grid.start_s[positions],
        end_s=grid.end_s[positions],
        scores=np.full(len(positions), np.nan),
        num_clips=grid.num_clips,
        scored=0,
        strategy=strategy,
    )


def uniform_positions(num_clips: int, *, k: int | None) -> np.ndarray:
    """``min(k, L)`` equally spaced positions among ``L = num_clips``: the centres of k equal parts.

    Position ``i`` is ``floor((i + 0.5) * L / k)``; parts are at least one clip
    long when ``k <= L``, so the positions are distinct and increasing.
    """
    check_k(k)
    if k is None or k >= num_clips:
        return np.arange(num_clips, dtype=np.int64)
    return np.floor((np.arange(k) + 0.5) * num_clips / k).astype(np.int64)


def random_positions(num_clips: int, *, k: int | None, seed: int, key: str = "") -> np.ndarray:
    """``min(k, L)`` distinct random positions, sorted; the same for the same ``(seed, key, L)``.

    ``key`` (the video's path) makes different videos draw differently under
    one seed while keeping each draw a pure function of its inputs.
    """
    check_k(k)
    count = num_clips if k is None else min(k, num_clips)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8")), num_clips])
    return np.sort(rng.choice(num_clips, size=count, replace=False)).astype(np.int64)


class DenseSampler(ClipSampler):
    """Every clip of the grid (``k`` is ignored): the expensive reference."""

    name = "dense"

    def select(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int = 1) -> ClipSelection:
        check_k(k)  # unused, like the stride, but a bad value is still a mistake worth reporting
        check_stride(stride)
        return _selection(grid, np.arange(len(grid)), strategy=self.name)


class UniformSampler(ClipSampler):
    """K equally spaced clips: the centres of K equal parts of the grid."""

    name = "uniform"

    def select(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int = 1) -> ClipSelection:
        check_stride(stride)  # unused (Uniform scores nothing); ``uniform_positions`` checks ``k``
        return _selection(grid, uniform_positions(len(grid), k=k), strategy=self.name)


class RandomSampler(ClipSampler):
    """K clips drawn at random without replacement, reproducible for a ``seed`` and video."""

    name = "random"

    def __init__(self, *, seed: int = 0) -> None:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise UsageError(f"seed must be an integer, got {seed!r}.")
        self.seed = int(seed)

    def select(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int = 1) -> ClipSelection:
        check_stride(stride)  # unused (Random scores nothing); ``random_positions`` checks ``k``
        positions = random_positions(len(grid), k=k, seed=self.seed, key=video.path)
        return _selection(grid, positions, strategy=self.name)


def oracle_selection(
    clip_probs: np.ndarray,
    grid: ClipGrid,
    *,
    label_index: int,
    k: int | None,
    stride: int = 1,
) -> ClipSelection:
    """The K clips on which the classifier gives the true class the highest score.

    Args:
        clip_probs: ``[L, C]`` per-clip softmax probabilities (or logits; the
            order of a column is what counts), row ``i`` for grid position ``i``.
        grid: the clips those rows belong to.
        label_index: the ground-truth class.
        k: how many clips (None: all, ranked).
        stride: score only grid positions 0, N, 2N, ... like any sampler.

    Ties go to the lower clip index. The selection's scores are the
    true-class column.
    """
    check_k(k)
    probs = np.asarray(clip_probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != len(grid):
        raise UsageError(f"clip_probs must be [L, C] with L = {len(grid)} grid clips, got shape {probs.shape}.")
    if not isinstance(label_index, (int, np.integer)) or not 0 <= label_index < probs.shape[1]:
        raise UsageError(f"label_index must be a class index in [0, {probs.shape[1]}), got {label_index!r}.")
    scores = ClipScores.for_grid(scored_grid(grid, stride), probs[::stride, int(label_index)], source="oracle")
    return _top_k(scores, k=k, strategy="oracle")


class OracleSampler(ClipSampler):
    """The Oracle upper bound as a sampler, for one video whose clip outputs and label are known.

    ``clip_probs`` is ``[L, C]`` for the grid the sampler will be given.
    """

    name = "oracle"
    needs_label = True

    def __init__(self, *, clip_probs: np.ndarray | None = None, label_index: int | None = None) -> None:
        if clip_probs is None or label_index is None:
            raise UsageError(
                "the oracle sampler needs clip_probs (the classifier's [L, C] output on every clip) and "
                "label_index (the true class); it is an upper bound for evaluation, not a method for unlabelled videos."
            )
        self.clip_probs = np.asarray(clip_probs, dtype=np.float64)
        self.label_index = label_index

    def select(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int = 1) -> ClipSelection:
        return oracle_selection(self.clip_probs, grid, label_index=self.label_index, k=k, stride=stride)


register_sampler("dense", DenseSampler)
register_sampler("uniform", UniformSampler)
register_sampler("random", RandomSampler)
register_sampler("oracle", OracleSampler)
