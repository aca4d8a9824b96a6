"""Choices made on the tuning (validation) split, never on the test split.

The paper tuned K' of AV-union-list, alpha of the convex combinations and the
combination itself; SPEC.md asks for them to be chosen on the validation split.
:func:`tune` does it from the evaluation cache of the tuning videos
(:class:`VideoRecord`), so it is a pure function of those records: the test
records are never passed to it.

The candidates, in this order (the order breaks the last ties, so earlier
means preferred):

1. each visual candidate alone, then each audio candidate alone (one sampler
   is simpler and cheaper than two);
2. for each (visual, audio) pair, visual candidates outermost, in the order given:
   AV-union-list for every K' in 0..K, the fixed K' first (``--k-prime``, what
   runs without tuning), then by distance to it, smaller first;
   AV-intersect-list; AV-convex-list and then AV-convex-score for every alpha
   of :data:`ALPHAS`, 0.5 first, then by distance to 0.5, smaller first.

Every candidate is scored at the main table's K. The objective is video-level
top-1 on the tuning split; ties (frequent on small splits) go to the higher mean
probability of the true class in the video prediction (a smoother measure of
the same thing), then to the earlier candidate. The probability is computed
from the chosen clips in index order, so identical choices give identical values.

The best K on the tuning split is then found for the chosen strategy among the
given K values, by the same objective, ties to the smaller K (cheaper). It is
reported only: the main table stays at the protocol's fixed K.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from scsampler.errors import UsageError
from scsampler.evaluation.cache import VideoRecord
from scsampler.evaluation.metrics import topk_correct
from scsampler.metrics import video_probabilities
from scsampler.evaluation.k_column import k_text
from scsampler.evaluation.strategies import Strategy, choose
from scsampler.samplers.combine import DEFAULT_K_PRIME

__all__ = [
    "ALPHAS", "COMBINATION_NAMES", "TUNING_COLUMNS", "TunedChoice", "tune", "fixed_choice", "describe", "candidates",
    "check_disjoint",
]

#: The alpha grid of the convex combinations: 0, 0.1, ..., 1.
ALPHAS = tuple(round(0.1 * i, 1) for i in range(11))

#: The paper's names of the combinations, as the descriptions show them.
COMBINATION_NAMES = {
    "union": "AV-union-list",
    "intersect": "AV-intersect-list",
    "convex-list": "AV-convex-list",
    "convex-score": "AV-convex-score",
}

#: The columns of ``tuning.csv``: one row per candidate.
TUNING_COLUMNS = [
    "order", "candidate", "kind", "visual", "audio", "combination", "k_prime", "alpha", "k",
    "top1", "true_prob", "chosen", "tune_split", "videos",
]

@dataclass(frozen=True)
class TunedChoice:
    """The ``scsampler`` row's strategy and how it was chosen.

    ``tuned`` is False when no tuning happened (``reason`` says why): the
    strategy is then the fixed default and the scores are NaN. ``best_k`` is the
    best K on the tuning split for the chosen strategy (None: every clip; also None,
    and meaningless, without tuning); it is reported, not used. ``candidates`` holds one
    ``tuning.csv`` row per candidate, ``by_k`` the chosen strategy's tuning
    top-1 and true-class probability at each K.
    """

    strategy: Strategy
    description: str
    k: int
    tuned: bool
    split: str | None
    videos: int
    top1: float = math.nan
    true_prob: float = math.nan
    best_k: int | None = None
    reason: str = ""
    candidates: tuple[dict, ...] = ()
    by_k: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready: what ``evaluate --json`` prints under ``tuning`` and ``tuning.json`` holds."""
        best_k = (k_text(self.best_k) if self.best_k is None else self.best_k) if self.tuned else None  # "all": every clip
        return {
            "split": self.split,
            "videos": self.videos,
            "tuned": self.tuned,
            "reason": self.reason,
            "choice": self.description,
            "strategy": _strategy_fields(self.strategy) | {"k": self.k},
            "top1": None if math.isnan(self.top1) else self.top1,
            "true_prob": None if math.isnan(self.true_prob) else self.true_prob,
            "best_k": best_k,
            "by_k": [dict(row) for row in self.by_k],
        }


def _strategy_fields(strategy: Strategy) -> dict:
    """The strategy's fields, with K' and alpha only where its combination uses them."""
    fields = {key: value for key, value in asdict(strategy).items() if key != "name"}
    if strategy.combination != "union":
        fields["k_prime"] = None
    if strategy.combination not in ("convex-list", "convex-score"):
        fields["alpha"] = None
    return fields


def describe(strategy: Strategy, *, k: int, audio: Sequence[str] = ()) -> str:
    """A readable name of a strategy: "AV-union-list of V (visual) and A (audio), K=10, K'=3".

    ``audio`` names the audio samplers, so that a single sampler says which role it plays.
    """
    if strategy.kind == "combination":
        text = f"{COMBINATION_NAMES[strategy.combination]} of {strategy.visual} (visual) and {strategy.audio} (audio), K={k}"
        if strategy.combination == "union":
            text += f", K'={strategy.k_prime}"
        elif strategy.combination in ("convex-list", "convex-score"):
            text += f", alpha={strategy.alpha:g}"
        return text
    if strategy.kind == "sampler":
        role = "audio" if strategy.visual in audio else "visual"
        return f"{strategy.visual} alone ({role}), K={k}"
    return f"{strategy.kind.capitalize()}, K={k}"


def _by_distance(values: Sequence, centre: float) -> list:
    return sorted(values, key=lambda value: (abs(value - centre), value))


def candidates(
    *, visual: Sequence[str], audio: Sequence[str], k: int, k_prime: int = DEFAULT_K_PRIME, alphas: Sequence[float] = ALPHAS
) -> list[Strategy]:
    """Every candidate strategy, in the documented order (see the module docstring); all named ``scsampler``."""
    found = [Strategy("scsampler", "sampler", visual=name) for name in (*visual, *audio)]
    for v in visual:
        for a in audio:
            pair = {"visual": v, "audio": a}
            found += [
                Strategy("scsampler", "combination", combination="union", k_prime=kp, **pair)
                for kp in _by_distance(range(k + 1), min(k_prime, k))
            ]
            found.append(Strategy("scsampler", "combination", combination="intersect", k_prime=k_prime, **pair))
            for combination in ("convex-list", "convex-score"):
                found += [
                    Strategy("scsampler", "combination", combination=combination, k_prime=k_prime, alpha=float(alpha), **pair)
                    for alpha in _by_distance(alphas, 0.5)
                ]
    return found


def _objective(records: Sequence[VideoRecord], strategy: Strategy, *, k: int | None) -> tuple[float, float]:
    """(video top-1, mean probability of the true class) over ``records`` at K."""
    hits, true_prob = 0, 0.0
    for record in records:
        chosen, _ = choose(record, strategy, k=k)
        probabilities = video_probabilities(record.dense.logits, np.sort(chosen))
        hits += topk_correct(probabilities, record.dense.label_index, 1)
        true_prob += float(probabilities[record.dense.label_index])
    return hits / len(records), true_prob / len(records)


def _best(scored: list[tuple[float, float]]) -> int:
    """The index of the best (top-1, true prob) pair: higher top-1, then higher prob, then earlier."""
    # Rounding keeps floating-point noise in the last bits from deciding a tie.
    return min(range(len(scored)), key=lambda i: (-scored[i][0], -round(scored[i][1], 12), i))


def tune(
    records: Sequence[VideoRecord],
    *,
    visual: Sequence[str],
    audio: Sequence[str],
    k: int,
    k_values: Sequence[int | None],
    k_prime: int = DEFAULT_K_PRIME,
    alphas: Sequence[float] = ALPHAS,
    split: str = "val",
) -> TunedChoice:
    """Choose the sampler(s), the combination, K' and alpha on the tuning ``records`` at K.

    Args:
        records: the cached dense pass of the tuning split's videos (never the test split's).
        visual, audio: the candidate visual and audio samplers (names in the records).
        k: the main table's K; every candidate is scored at it.
        k_values: the K values searched for the best K on the tuning split (None: every clip).
        k_prime: the fixed K' (tried first among the K' values of AV-union-list).
        alphas: the alpha grid of the convex combinations.
        split: the tuning split's name, as reported.

    Raises:
        ValueError: no records, or no candidate sampler.
    """
    if not records:
        raise ValueError("tune needs at least one tuning video.")
    pool = candidates(visual=visual, audio=audio, k=k, k_prime=k_prime, alphas=alphas)
    if not pool:
        raise ValueError("tune needs at least one visual or audio candidate sampler.")
    scored = [_objective(records, strategy, k=k) for strategy in pool]
    best = _best(scored)
    chosen = pool[best]
    rows = tuple(
        {
            "order": order,
            "candidate": describe(strategy, k=k, audio=audio),
            "kind": strategy.kind,
            "visual": strategy.visual,
            "audio": strategy.audio,
            "combination": strategy.combination,
            "k_prime": strategy.k_prime if strategy.combination == "union" else None,
            "alpha": strategy.alpha if strategy.combination in ("convex-list", "convex-score") else None,
            "k": k,
            "top1": top1,
            "true_prob": true_prob,
            "chosen": order == best,
            "tune_split": split,
            "videos": len(records),
        }
        for order, (strategy, (top1, true_prob)) in enumerate(zip(pool, scored))
    )
    ks = list(k_values)
    by_k_scores = [_objective(records, chosen, k=value) for value in ks]
    best_k = ks[_best(by_k_scores)]
    by_k = tuple(
        {"k": None if value is None else int(value), "top1": top1, "true_prob": prob}  # None: every clip
        for value, (top1, prob) in zip(ks, by_k_scores)
    )
    return TunedChoice(
        strategy=chosen,
        description=describe(chosen, k=k, audio=audio),
        k=k,
        tuned=True,
        split=split,
        videos=len(records),
        top1=scored[best][0],
        true_prob=scored[best][1],
        best_k=None if best_k is None else int(best_k),
        candidates=rows,
        by_k=by_k,
    )


def fixed_choice(strategy: Strategy, *, k: int, audio: Sequence[str] = (), split: str | None, reason: str) -> TunedChoice:
    """The fixed default when no tuning happened, with ``reason`` saying why."""
    return TunedChoice(
        strategy=replace(strategy, name="scsampler"),
        description=describe(strategy, k=k, audio=audio),
        k=k,
        tuned=False,
        split=split,
        videos=0,
        reason=reason,
    )


def check_disjoint(
    tuning_paths: Sequence[str | os.PathLike],
    test_paths: Sequence[str | os.PathLike],
    *,
    tune_split: str,
    test_split: str,
    manifest: str,
) -> None:
    """Raise :class:`UsageError` naming the first video that is in both the tuning and the test split.

    A choice made on a test video would be judged on that same video.
    """
    test = {Path(path).resolve() for path in test_paths}
    for path in tuning_paths:
        if Path(path).resolve() in test:
            raise UsageError(
                f"{manifest}: {path} is in both the tuning split {tune_split!r} and the evaluated split "
                f"{test_split!r}; the scsampler row must not be chosen on a video it is tested on: keep each "
                "video in one split, or pass --tune-split none."
            )
