"""Pure metrics over arrays that training and evaluation both use (below both, so that neither
imports the other): a video's probabilities from its chosen clips, how well a choice of clips agrees
with a reference, and rank correlation.

Evaluation-only metrics (top-k accuracy, segment precision) are in ``evaluation/metrics.py``; the
softmax is :mod:`scsampler.probabilities`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from scsampler.probabilities import softmax

__all__ = ["video_probabilities", "precision_at_k", "clips_in_segments", "spearman"]


def video_probabilities(clip_logits: np.ndarray, chosen: Sequence[int] | np.ndarray) -> np.ndarray:
    """The video's class probabilities: the mean softmax over the chosen clips (SPEC step 7)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen) == 0:
        raise ValueError("at least one clip must be chosen to predict a video's class.")
    return softmax(clip_logits[chosen]).mean(axis=0)


def precision_at_k(chosen: Sequence[int], reference_top: Sequence[int]) -> float:
    """The fraction of ``chosen`` clips that are also among the reference's top clips."""
    chosen = list(chosen)
    if not chosen:
        return float("nan")
    return len(set(chosen) & set(reference_top)) / len(chosen)


def clips_in_segments(
    starts_s: np.ndarray, ends_s: np.ndarray, segments: Sequence[tuple[float, float]], *, min_overlap_s: float = 1e-6
) -> np.ndarray:
    """Per clip, whether it overlaps a true action segment by at least ``min_overlap_s`` seconds."""
    starts_s, ends_s = np.asarray(starts_s, dtype=np.float64), np.asarray(ends_s, dtype=np.float64)
    inside = np.zeros(len(starts_s), dtype=bool)
    for seg_start, seg_end in segments:
        inside |= np.minimum(ends_s, seg_end) - np.maximum(starts_s, seg_start) >= min_overlap_s
    return inside


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError(f"spearman needs equal lengths, got {len(a)} and {len(b)}.")
    ra, rb = _average_ranks(a), _average_ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks
