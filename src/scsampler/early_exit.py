"""K chosen per video (early exit): classify clips in the sampler's order and stop once confident.

The rule (``classify --k auto`` and the ``auto`` row of ``evaluate`` both use it):

1. the sampler chooses ``k_max`` clips, best first (its ranking);
2. they are classified in that order, ``batch_size`` clips at a time;
3. after each batch the running video prediction is the mean softmax over every clip so far
   (``aggregate="softmax_mean"`` of :func:`scsampler.inference.aggregate_clip_logits`);
4. it stops when that prediction's confidence reaches ``threshold``, or after ``k_max`` clips
   (fewer when the video has fewer).

Confidence is one of :data:`K_RULES`: ``"prob"`` (the default), the top-1 probability; or
``"margin"``, the top-1 probability minus the top-2 one (with one class, the top-1 probability).

Where it can stop depends on the batch: it checks only after a whole batch, so with a batch of B
it stops after B, 2B, ... clips (or ``k_max``). A batch of 1 gives exact per-clip stopping; that
is what ``classify --k auto`` uses unless ``--batch-size`` is given, and what ``evaluate``
simulates (:data:`DEFAULT_BATCH_SIZE`).

:func:`classify_until_confident` runs the rule on a classifier (it calls it batch by batch, so
only the clips classified are decoded); :func:`exit_trace` replays it from clip logits already
computed (the evaluation cache), with the same arithmetic, so both stop after the same clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from scsampler.errors import UsageError
from scsampler.probabilities import softmax

__all__ = [
    "K_RULES",
    "DEFAULT_K_RULE",
    "DEFAULT_K_MAX",
    "DEFAULT_THRESHOLDS",
    "DEFAULT_BATCH_SIZE",
    "EarlyExitRule",
    "EarlyExitResult",
    "ExitTrace",
    "confidence",
    "classify_until_confident",
    "exit_trace",
]

K_RULES: tuple[str, ...] = ("prob", "margin")
DEFAULT_K_RULE = "prob"
DEFAULT_K_MAX = 10
#: The threshold when none is given (``evaluate`` chooses one on the validation split and reports it).
DEFAULT_THRESHOLDS = {"prob": 0.8, "margin": 0.5}
#: Clips per check: 1 stops after exactly the clip that made the prediction confident.
DEFAULT_BATCH_SIZE = 1


def confidence(probabilities: np.ndarray, rule: str = DEFAULT_K_RULE) -> float:
    """How sure a video prediction ``[C]`` is: its top-1 probability (``prob``) or top-1 minus top-2 (``margin``)."""
    _check_rule(rule)
    values = np.asarray(probabilities, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise UsageError(f"a video prediction must be [C] with C >= 1, got shape {values.shape}.")
    if rule == "prob" or len(values) == 1:
        return float(values.max())
    top2 = np.partition(values, len(values) - 2)[-2:]
    return float(top2[1] - top2[0])


def _check_rule(rule: str) -> None:
    if rule not in K_RULES:
        raise UsageError(f"k_rule must be one of {', '.join(K_RULES)}, got {rule!r}; pass prob (the default) or margin.")


@dataclass(frozen=True)
class EarlyExitRule:
    """Stop when :func:`confidence` of the running prediction is at least ``threshold``, or at ``k_max`` clips.

    ``threshold`` None takes :data:`DEFAULT_THRESHOLDS` of ``rule``. Both rules' confidences lie in
    [0, 1]; a threshold above 1 never stops early, one of 0 stops after the first batch.
    """

    threshold: float | None = None
    rule: str = DEFAULT_K_RULE
    k_max: int = DEFAULT_K_MAX

    def __post_init__(self) -> None:
        _check_rule(self.rule)
        if isinstance(self.k_max, bool) or not isinstance(self.k_max, (int, np.integer)) or self.k_max < 1:
            raise UsageError(f"k_max must be a positive integer, got {self.k_max!r}; pass k_max=10 (the default).")
        if self.threshold is None:
            object.__setattr__(self, "threshold", DEFAULT_THRESHOLDS[self.rule])
        value = self.threshold
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value) or value < 0:
            raise UsageError(
                f"k_threshold must be a finite number >= 0, got {value!r}; both rules' confidences lie in [0, 1], "
                f"e.g. {DEFAULT_THRESHOLDS[self.rule]} for {self.rule}."
            )
        object.__setattr__(self, "threshold", float(value))

    def confident(self, probabilities: np.ndarray) -> bool:
        """Whether a running video prediction ``[C]`` is confident enough to stop."""
        return confidence(probabilities, self.rule) >= self.threshold

    def to_dict(self) -> dict:
        return {"k_rule": self.rule, "k_threshold": self.threshold, "k_max": int(self.k_max)}


@dataclass(frozen=True)
class EarlyExitResult:
    """What :func:`classify_until_confident` classified: ``clips`` of the ranking (its first ones),
    their ``logits`` ``[clips, C]``, the video ``probabilities`` (mean softmax) and their ``confidence``."""

    clips: int
    logits: np.ndarray
    probabilities: np.ndarray
    confidence: float
    stopped_early: bool  # confident before k_max (or before the video's last clip)


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}.")


def classify_until_confident(
    classify: Callable[[int, int], np.ndarray],
    count: int,
    rule: EarlyExitRule,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> EarlyExitResult:
    """Run the rule: ``classify(start, stop)`` gives the logits ``[stop - start, C]`` of ranked clips start..stop-1.

    ``count`` is how many ranked clips there are (at most ``rule.k_max`` are used). ``classify`` is
    called once per batch, in ranking order, and never after the prediction is confident, so a
    caller that decodes inside it decodes only the clips classified.
    """
    _check_batch_size(batch_size)
    limit = min(int(rule.k_max), int(count))
    if limit < 1:
        raise UsageError("early exit needs at least one ranked clip; the sampler chose none.")
    parts: list[np.ndarray] = []
    total = None
    stop = 0
    for start in range(0, limit, batch_size):
        stop = min(start + batch_size, limit)
        logits = np.asarray(classify(start, stop), dtype=np.float64)
        if logits.ndim != 2 or len(logits) != stop - start:
            raise UsageError(f"the classifier gave logits of shape {logits.shape} for {stop - start} clips.")
        parts.append(logits)
        total = _add(total, softmax(logits))  # float64, as exit_trace's
        running = total / stop
        if rule.confident(running):
            break
    running = total / stop
    return EarlyExitResult(
        clips=stop,
        logits=np.concatenate(parts),
        probabilities=running,
        confidence=confidence(running, rule.rule),
        stopped_early=stop < limit,
    )


def _add(total: np.ndarray | None, probabilities: np.ndarray) -> np.ndarray:
    """The running sum of clip probabilities; one batch is summed first, as the classifier gives it."""
    batch = probabilities.sum(axis=0)
    return batch if total is None else total + batch


@dataclass(frozen=True)
class ExitTrace:
    """The rule replayed on one video for every threshold at once.

    At each check (after each batch): ``clips[j]`` clips classified so far, ``confidence[j]`` of the
    running prediction ``probabilities[j]`` (``[checks, C]``).
    """

    clips: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray

    def stop(self, threshold: float) -> int:
        """The check at which the rule stops under ``threshold``: the first confident one, else the last."""
        confident = np.flatnonzero(self.confidence >= threshold)
        return int(confident[0]) if len(confident) else len(self.clips) - 1

    def clips_used(self, threshold: float) -> int:
        return int(self.clips[self.stop(threshold)])


def exit_trace(
    logits: np.ndarray, *, rule: str = DEFAULT_K_RULE, k_max: int = DEFAULT_K_MAX, batch_size: int = DEFAULT_BATCH_SIZE
) -> ExitTrace:
    """Replay the rule from the logits ``[n, C]`` of the ranked clips (best first), without a classifier.

    The same sums as :func:`classify_until_confident`, so for any threshold
    ``exit_trace(...).clips_used(t)`` is the number of clips that function classifies on these logits.
    """
    _check_rule(rule)
    _check_batch_size(batch_size)
    EarlyExitRule(rule=rule, k_max=k_max)  # checks k_max
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim != 2:
        raise UsageError(f"clip logits must be [n, C], got shape {values.shape}.")
    probabilities = softmax(values)
    limit = min(int(k_max), len(probabilities))
    if limit < 1:
        raise UsageError("early exit needs at least one ranked clip; the sampler chose none.")
    clips, confidences, running = [], [], []
    total = None
    for start in range(0, limit, batch_size):
        stop = min(start + batch_size, limit)
        total = _add(total, probabilities[start:stop])
        clips.append(stop)
        running.append(total / stop)
        confidences.append(confidence(running[-1], rule))
    return ExitTrace(clips=np.asarray(clips), confidence=np.asarray(confidences), probabilities=np.stack(running))
