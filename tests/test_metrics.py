"""Evaluation metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scsampler.evaluation.metrics import segment_precision, topk_correct
from scsampler.metrics import precision_at_k, spearman, video_probabilities
from scsampler.probabilities import softmax


def test_softmax_by_hand():
    probs = softmax(np.array([[0.0, math.log(3.0)]]))
    assert probs[0].tolist() == pytest.approx([0.25, 0.75])
    # the logits' own dtype unless told: the evaluation replays float32 logits in float32
    assert softmax(np.zeros((2, 3), dtype=np.float32)).dtype == np.float32
    assert softmax(np.zeros((2, 3), dtype=np.float32), dtype=np.float64).dtype == np.float64


def test_video_probabilities_average_the_chosen_clips_softmax():
    logits = np.array([[0.0, math.log(3.0)], [math.log(3.0), 0.0], [100.0, 0.0]])
    # clips 0 and 1: (0.25 + 0.75) / 2 = 0.5 each
    assert video_probabilities(logits, [0, 1]).tolist() == pytest.approx([0.5, 0.5])
    assert video_probabilities(logits, [2]).tolist() == pytest.approx([1.0, 0.0])
    with pytest.raises(ValueError, match="at least one clip"):
        video_probabilities(logits, [])


def test_topk_correct():
    probs = np.array([0.1, 0.5, 0.3, 0.1])
    assert topk_correct(probs, 1, 1)
    assert not topk_correct(probs, 2, 1)
    assert topk_correct(probs, 2, 2)
    # a tie between classes 0 and 3: the lower index ranks first
    assert topk_correct(probs, 0, 3) and not topk_correct(probs, 3, 3)


def test_precision_at_k_by_hand():
    assert precision_at_k([1, 2, 3, 4], [4, 3, 9, 8]) == 0.5
    assert precision_at_k([7], [1, 2]) == 0.0
    assert math.isnan(precision_at_k([], [1]))


def test_segment_precision_by_hand():
    starts, ends = np.array([0.0, 1.0, 5.0, 9.0]), np.array([1.0, 2.0, 6.0, 10.0])
    # segments cover [1.5, 2.5] and [9.5, 12]: clips 1 and 3 overlap, clip 0 only touches nothing
    assert segment_precision(starts, ends, [(1.5, 2.5), (9.5, 12.0)]) == 0.5
    # touching at one instant is not overlap
    assert segment_precision(np.array([0.0]), np.array([1.0]), [(1.0, 2.0)]) == 0.0


def test_spearman_by_hand():
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    # ranks (0, 1, 2) vs (1, 0, 2): 1 - 6 * (1 + 1 + 0) / (3 * 8) = 0.5
    assert spearman(np.array([1, 2, 3]), np.array([2, 1, 3])) == pytest.approx(0.5)
    assert math.isnan(spearman(np.array([1, 1, 1]), np.array([1, 2, 3])))
