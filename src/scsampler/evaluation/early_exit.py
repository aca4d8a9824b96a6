"""The ``auto`` row of ``evaluate``: K chosen per video (:mod:`scsampler.early_exit`), replayed from the cache.

Every clip's logits are in the dense pass, so the early-exit rule is simulated without decoding
anything: for each video, the ``scsampler`` row's ranking (its first ``k_max`` clips, best first,
:func:`~scsampler.evaluation.strategies.choose`) gives the ranked clips' logits, and
:func:`scsampler.early_exit.exit_trace` gives the running prediction and its confidence after
each clip (a batch of :data:`~scsampler.early_exit.DEFAULT_BATCH_SIZE`, what ``classify --k auto``
uses by default). Any threshold then gives each video's clips used and its prediction.

The threshold is chosen on the tuning (validation) records only, by
:func:`tune_threshold`:

1. the best fixed K on validation: the highest video top-1 of the ``scsampler`` strategy among
   the K values (ties to the smaller K), and the 95% bootstrap interval of that top-1
   (:func:`~scsampler.intervals.bootstrap_interval`);
2. every threshold of :data:`THRESHOLDS` whose validation top-1 is at least that interval's low
   end "matches" it; among those, the one with the fewest mean clips per video (ties: the higher
   top-1, then the higher threshold);
3. when none matches (``k_max`` below the best K can cost accuracy), the highest validation top-1
   (ties: fewer clips, then the higher threshold).

Without tuning videos the threshold is the rule's default
(:data:`~scsampler.early_exit.DEFAULT_THRESHOLDS`) and ``reason`` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from scsampler.early_exit import DEFAULT_BATCH_SIZE, DEFAULT_THRESHOLDS, ExitTrace, exit_trace
from scsampler.evaluation.cache import VideoRecord
from scsampler.intervals import bootstrap_interval
from scsampler.evaluation.metrics import topk_correct
from scsampler.evaluation.k_column import k_text
from scsampler.evaluation.strategies import Strategy, choose, per_video_correct

__all__ = [
    "THRESHOLDS", "AUTO_CURVE_COLUMNS", "AutoChoice", "traces", "simulate", "tune_threshold", "fixed_threshold",
    "auto_curve",
]

#: The thresholds tried (both rules' confidences lie in [0, 1]): 0, 0.02, ..., 1.
THRESHOLDS = tuple(round(0.02 * i, 2) for i in range(51))

#: The columns of ``accuracy_vs_clips_auto.csv``: one row per threshold, on the evaluated split.
AUTO_CURVE_COLUMNS = ["threshold", "k_rule", "k_max", "mean_clips", "top1", "top1_low", "top1_high", "chosen"]


def traces(
    records: Sequence[VideoRecord], strategy: Strategy, *, rule: str, k_max: int, batch_size: int = DEFAULT_BATCH_SIZE
) -> list[ExitTrace]:
    """Each video's :class:`ExitTrace` on ``strategy``'s ranking (its first ``k_max`` clips, best first)."""
    found = []
    for record in records:
        ranked, _ = choose(record, strategy, k=k_max)
        found.append(exit_trace(record.dense.logits[ranked], rule=rule, k_max=k_max, batch_size=batch_size))
    return found


def simulate(
    records: Sequence[VideoRecord], found: Sequence[ExitTrace], threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per video, in ``records`` order: clips used, top-1 correct (1.0/0.0) and top-5 correct under ``threshold``."""
    clips, top1, top5 = [], [], []
    for record, trace in zip(records, found):
        stop = trace.stop(threshold)
        probabilities = trace.probabilities[stop]
        clips.append(int(trace.clips[stop]))
        top1.append(float(topk_correct(probabilities, record.dense.label_index, 1)))
        top5.append(float(topk_correct(probabilities, record.dense.label_index, 5)))
    return np.asarray(clips), np.asarray(top1), np.asarray(top5)


@dataclass(frozen=True)
class AutoChoice:
    """The ``auto`` row's threshold and how it was chosen (see the module docstring).

    ``best_k`` is the best fixed K on the tuning split (None: every clip), ``target`` the low end
    of its 95% interval; ``top1`` and ``mean_clips`` are the chosen threshold's there. All NaN or
    None without tuning (``tuned`` False, ``reason`` says why).
    """

    threshold: float
    rule: str
    k_max: int
    tuned: bool
    split: str | None
    videos: int
    reason: str = ""
    best_k: int | None = None
    best_k_top1: float = math.nan
    target: float = math.nan
    top1: float = math.nan
    mean_clips: float = math.nan
    matched: bool = False  # a threshold matched the best fixed K's interval on the tuning split

    def describe(self, strategy_description: str) -> str:
        """The main table's ``choice`` text for the ``auto`` row."""
        where = f"chosen on split {self.split!r}" if self.tuned else f"default, no tuning: {self.reason}"
        confidence = "top-1 probability" if self.rule == "prob" else "top-1/top-2 margin"
        return (f"early exit on the scsampler row's ranking ({strategy_description}): stop when the {confidence} "
                f">= {self.threshold:g} ({where}), K-max {self.k_max}")

    def to_dict(self) -> dict:
        def number(value: float) -> float | None:
            return None if value is None or (isinstance(value, float) and math.isnan(value)) else value

        return {
            "k_rule": self.rule, "k_threshold": self.threshold, "k_max": self.k_max, "tuned": self.tuned,
            "split": self.split, "videos": self.videos, "reason": self.reason,
            "best_k": (k_text(self.best_k) if self.best_k is None else self.best_k) if self.tuned else None,  # "all": every clip
            "best_k_top1": number(self.best_k_top1), "target_top1": number(self.target),
            "top1": number(self.top1), "mean_clips": number(self.mean_clips), "matched": self.matched,
        }


def tune_threshold(
    records: Sequence[VideoRecord],
    strategy: Strategy,
    *,
    rule: str,
    k_max: int,
    k_values: Sequence[int | None],
    thresholds: Sequence[float] = THRESHOLDS,
    split: str = "val",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> AutoChoice:
    """Choose the threshold on the tuning ``records`` (never the test split's) for ``strategy``'s ranking.

    Raises:
        ValueError: no records or no thresholds.
    """
    if not records:
        raise ValueError("tune_threshold needs at least one tuning video.")
    if not thresholds:
        raise ValueError("tune_threshold needs at least one threshold.")
    per_k = [per_video_correct(list(records), strategy, k=k) for k in k_values]
    means = [float(np.mean(values)) for values in per_k]
    # ties to the smaller K: None (every clip) counts as the largest
    best = min(range(len(k_values)), key=lambda i: (-round(means[i], 12), math.inf if k_values[i] is None else k_values[i]))
    target, _ = bootstrap_interval(per_k[best])
    found = traces(records, strategy, rule=rule, k_max=k_max, batch_size=batch_size)
    scored = []
    for threshold in thresholds:
        clips, top1, _ = simulate(records, found, threshold)
        scored.append((float(threshold), float(clips.mean()), float(top1.mean())))
    matching = [row for row in scored if row[2] >= target - 1e-12]
    if matching:
        threshold, mean_clips, top1 = min(matching, key=lambda row: (round(row[1], 12), -round(row[2], 12), -row[0]))
    else:
        threshold, mean_clips, top1 = min(scored, key=lambda row: (-round(row[2], 12), round(row[1], 12), -row[0]))
    best_k = k_values[best]
    return AutoChoice(
        threshold=threshold, rule=rule, k_max=k_max, tuned=True, split=split, videos=len(records),
        best_k=None if best_k is None else int(best_k), best_k_top1=means[best], target=float(target),
        top1=top1, mean_clips=mean_clips, matched=bool(matching),
    )


def fixed_threshold(*, rule: str, k_max: int, split: str | None, reason: str) -> AutoChoice:
    """The rule's default threshold when nothing can be tuned, with ``reason`` saying why."""
    return AutoChoice(threshold=DEFAULT_THRESHOLDS[rule], rule=rule, k_max=k_max, tuned=False, split=split, videos=0, reason=reason)


def auto_curve(
    records: Sequence[VideoRecord], found: Sequence[ExitTrace], choice: AutoChoice, *, thresholds: Sequence[float] = THRESHOLDS
) -> pd.DataFrame:
    """``accuracy_vs_clips_auto``: per threshold, mean clips per video and top-1 (with its 95% interval)."""
    rows = []
    for threshold in sorted(set(map(float, thresholds)) | {choice.threshold}):
        clips, top1, _ = simulate(records, found, threshold)
        low, high = bootstrap_interval(top1)
        rows.append({
            "threshold": threshold, "k_rule": choice.rule, "k_max": choice.k_max, "mean_clips": float(clips.mean()),
            "top1": float(top1.mean()), "top1_low": low, "top1_high": high, "chosen": threshold == choice.threshold,
        })
    return pd.DataFrame(rows, columns=AUTO_CURVE_COLUMNS)
