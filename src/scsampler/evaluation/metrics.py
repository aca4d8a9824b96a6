"""Pure metrics over arrays for evaluation: top-k accuracy, segment precision.

The metrics that training uses too (``video_probabilities``, ``precision_at_k``, ``clips_in_segments``, ``spearman``) are in
``scsampler/metrics.py``, below both.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from scsampler.metrics import clips_in_segments

__all__ = [
    "topk_correct",
    "segment_precision",
]


def topk_correct(probabilities: np.ndarray, label_index: int, k: int) -> bool:
    """Whether ``label_index`` is among the ``k`` most probable classes (ties: lower class index first)."""
    order = np.lexsort((np.arange(len(probabilities)), -probabilities))
    return bool(label_index in order[:k])


def segment_precision(
    starts_s: np.ndarray, ends_s: np.ndarray, segments: Sequence[tuple[float, float]], *, min_overlap_s: float = 1e-6
) -> float:
    """The fraction of clips (given by their start and end seconds) that overlap a true action segment
    (``scsampler.metrics.clips_in_segments``)."""
    if len(starts_s) == 0:
        return float("nan")
    return float(clips_in_segments(starts_s, ends_s, segments, min_overlap_s=min_overlap_s).mean())

