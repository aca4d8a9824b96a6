"""Pure metrics over arrays for evaluation: softmax, video-level probabilities and accuracy, segment precision.

The metrics that training uses too (``precision_at_k``, ``clips_in_segments``, ``spearman``) are in
``scsampler/metrics.py``, below both.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from scsampler.metrics import clips_in_segments

__all__ = [
    "video_probabilities",
    "topk_correct",
    "segment_precision",
]


def video_probabilities(clip_logits: np.ndarray, chosen: Sequence[int] | np.ndarray) -> np.ndarray:
    """The video's class probabilities: the mean softmax over the chosen clips (SPEC step 7)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen) == 0:
        raise ValueError("at least one clip must be chosen to predict a video's class.")
    return softmax(clip_logits[chosen]).mean(axis=0)


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

