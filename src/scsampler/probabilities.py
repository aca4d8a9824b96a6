"""Class probabilities from clip logits: the one softmax, and a clip's confidence from it.

Every place that turns clip logits ``[L, C]`` into probabilities with NumPy calls :func:`softmax`
(the evaluation's replay, the early-exit rule, the saliency targets), so that one arithmetic gives
the same bits everywhere. ``dtype`` is each caller's: the evaluation works in the cached logits'
float32, the early-exit rule and the targets' confidences in float64.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax", "confidence_and_margin"]


def softmax(logits: np.ndarray, *, dtype: np.dtype | type | None = None) -> np.ndarray:
    """Softmax over the last axis of ``logits`` (one row per clip), stable for large values.

    ``dtype`` None computes in the logits' own dtype (float32 logits give float32 probabilities);
    otherwise the logits are cast to it first.
    """
    values = np.asarray(logits) if dtype is None else np.asarray(logits, dtype=dtype)
    shifted = values - values.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def confidence_and_margin(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``logits`` [N, C]: the max softmax probability, and top-1 minus top-2 probability (float64).

    With one class the margin is the probability itself (there is no second class).
    """
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    if logits.shape[0] == 0:
        return np.zeros(0), np.zeros(0)
    probabilities = np.sort(softmax(logits), axis=1)
    second = probabilities[:, -2] if probabilities.shape[1] > 1 else np.zeros(len(probabilities))
    return probabilities[:, -1], probabilities[:, -1] - second
