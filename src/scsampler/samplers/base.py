"""What every clip sampler offers.

A sampler turns a video's clip grid into a :class:`ClipSelection`. Most samplers
*score* clips (``ScoringSampler``) and leave the choice to the pure selection
functions in ``scsampler.samplers.selection``; the baselines Dense, Uniform and
Random choose directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

import numpy as np

from scsampler.samplers.selection import DEFAULT_K, _top_k, check_k, check_stride
from scsampler.types import ClipGrid, ClipScores, ClipSelection, VideoInfo

__all__ = ["ClipSampler", "ScoringSampler", "Own", "resolve_k_and_stride", "scored_grid"]

#: ``k="own"`` / ``stride="own"``: the sampler's own K and N, i.e. a composite sampler's (a saved
#: bundle carries them), for any other sampler K=10 (:data:`~scsampler.samplers.selection.DEFAULT_K`)
#: and N=1. Only the edges take it (``classify_video``, ``ClassifyOptions``, ``PipelineConfig``, the
#: CLI when ``--k``/``--stride`` are left out), and :func:`resolve_k_and_stride` turns it into numbers
#: there; ``select`` and ``top_k`` take numbers, and ``k=None`` means every clip everywhere.
Own = Literal["own"]


def resolve_k_and_stride(
    sampler: "ClipSampler", *, k: int | None | Own = "own", stride: int | Own = "own"
) -> tuple[int | None, int]:
    """The K and N to select with: ``"own"`` becomes ``sampler``'s own (:meth:`ClipSampler.own_k_and_stride`).

    The one place where "the sampler's own" is decided, and where an edge checks ``k`` (a positive
    integer, or None for every clip) and ``stride`` (a positive integer), before any video is read.
    """
    own_k, own_stride = sampler.own_k_and_stride()
    k = own_k if _is_own(k) else k
    stride = own_stride if _is_own(stride) else stride
    check_k(k)
    check_stride(stride)
    return k, stride


def _is_own(value: object) -> bool:
    return isinstance(value, str) and value == "own"


def scored_grid(grid: ClipGrid, stride: int) -> ClipGrid:
    """The clips a sampler scores under sampling stride N: grid positions 0, N, 2N, ... (``stride`` is checked here)."""
    check_stride(stride)
    return grid.strided(stride)


class ClipSampler(ABC):
    """Chooses up to K clips of a video. ``name`` is how users select it."""

    name: str = ""
    #: True for samplers that must see the ground-truth label (Oracle): an upper bound, never a method.
    needs_label: bool = False
    #: True for samplers that learn nothing from data (motion, loudness): what a learned sampler must beat.
    zero_training: bool = False

    def own_k_and_stride(self) -> tuple[int | None, int]:
        """What ``k="own"`` and ``stride="own"`` mean for this sampler: K=10 (the paper's) and N=1 unless it
        carries its own (a :class:`~scsampler.samplers.composite.CompositeSampler` does)."""
        return DEFAULT_K, 1

    @abstractmethod
    def select(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int = 1) -> ClipSelection:
        """Choose ``min(k, L)`` clips (all when ``k`` is None) from ``grid``, scoring clips 0, N, 2N, ... (N = ``stride``).

        ``k`` and ``stride`` are numbers here (resolve ``"own"`` first with :func:`resolve_k_and_stride`);
        each is checked once, where it is used.
        """


class ScoringSampler(ClipSampler):
    """A sampler that gives every scored clip a saliency score (higher = more salient)."""

    @abstractmethod
    def score(self, video: VideoInfo, grid: ClipGrid, *, stride: int = 1) -> ClipScores:
        """Scores of the clips at grid positions 0, N, 2N, ... (N = ``stride``)."""

    def select(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int = 1) -> ClipSelection:
        # before scoring, the expensive part (a score() that strides with scored_grid checks N again)
        check_k(k)
        check_stride(stride)
        return _top_k(self.score(video, grid, stride=stride), k=k, strategy=self.name)
