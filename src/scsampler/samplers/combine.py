"""The four audio-visual combinations of SCSampler (SPEC.md step 5), as pure functions.

Only the abstract and supplementary material of the paper are at hand, so the
exact definitions below are **our reading of the method**. Each is written
once, in the ``_*_order`` function named after it; change it there. The
documentation of the same definitions is docs/selection.md.

Every combination turns the visual and the audio :class:`ClipScores` of one
video into a single *combined* :class:`ClipScores` over the same clips. Its
best-first order under :func:`top_k` (score descending, lower index first) is
the combination's ranking, so the first K clips are the combination's choice
for any K, and a sampling stride or a minimum gap applies unchanged:

- ``union`` (AV-union-list): the top K' clips of the visual ranking, then the
  rest in audio-ranking order. The first K clips are therefore the visual
  top K' plus the best K-K' audio clips not already chosen.
- ``intersect`` (AV-intersect-list): walk down both rankings together; at
  depth n, take the clips that are in both top-n lists and not yet taken.
  Clips that enter at the same depth come by the sum of their two ranks, then
  by their visual rank.
- ``convex-list`` (AV-convex-list): sort by ``alpha * r_v + (1 - alpha) * r_a``
  ascending, where r is a clip's 0-based position in each ranking.
- ``convex-score`` (AV-convex-score): sort by ``alpha * n(s_v) + (1 - alpha) *
  n(s_a)`` descending, where n is the per-video normalisation (min-max to
  [0, 1] by default; see :func:`normalise_scores`).

Ties left by a convex combination go to the clip that ranks better in the
modality with the larger weight (visual when alpha >= 0.5), then to the lower
index, so alpha=1 gives exactly the visual ranking and alpha=0 the audio one.

The combined scores are what a user sees next to each clip: for the three
*list* combinations, the clip's place in the combined list mapped to (0, 1]
(1 for the first, ``1 - p / L`` for place p of L); for ``convex-score``, the
convex combination of the normalised scores itself.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Callable

import numpy as np

from scsampler.errors import UsageError
from scsampler.samplers.selection import check_k, check_min_gap_s, ranking, top_k
from scsampler.types import ClipScores, ClipSelection

__all__ = [
    "COMBINATIONS",
    "NORMALISATIONS",
    "DEFAULT_K_PRIME",
    "DEFAULT_ALPHA",
    "combine_scores",
    "combine",
    "av_union_list",
    "av_intersect_list",
    "av_convex_list",
    "av_convex_score",
    "normalise_scores",
    "check_k_prime",
    "default_k_prime",
    "check_alpha",
    "check_combination",
]

#: K'=8 of K=10 was the best AV-union-list in the paper (supplementary Fig. 2).
DEFAULT_K_PRIME = 8
DEFAULT_ALPHA = 0.5


def default_k_prime(k: int | None) -> int:
    """K' when none is given: 80% of K, rounded (K'=8 of K=10, the paper's best); 8 when K is None."""
    return DEFAULT_K_PRIME if k is None else int(round(0.8 * k))


# --- normalisation (used by convex-score) -----------------------------------------------------


def _minmax(values: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] over the video's finite scores; +inf -> 1, -inf -> 0, all equal -> 0.5."""
    out = np.full(values.shape, 0.5)
    finite = np.isfinite(values)
    out[values == np.inf] = 1.0
    out[values == -np.inf] = 0.0
    if finite.any():
        x = values[finite]
        scale = float(np.max(np.abs(x)))
        if scale > 0:
            x = x / scale  # in [-1, 1]: the range below cannot overflow
        low, high = float(x.min()), float(x.max())
        out[finite] = (x - low) / (high - low) if high > low else 0.5
    return out


def _zscore(values: np.ndarray) -> np.ndarray:
    """Mean 0, standard deviation 1 over the video's finite scores; +-inf -> +-(finite extremes +- 1)."""
    out = np.zeros(values.shape)
    finite = np.isfinite(values)
    if finite.any():
        x = values[finite]
        scale = float(np.max(np.abs(x)))
        if scale > 0:
            x = x / scale
        std = float(x.std())
        z = (x - x.mean()) / std if std > 0 else np.zeros_like(x)
        out[finite] = z
        out[values == np.inf] = z.max() + 1.0
        out[values == -np.inf] = z.min() - 1.0
    return out


#: Per-video score normalisations for AV-convex-score; ``minmax`` is the default.
NORMALISATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"minmax": _minmax, "zscore": _zscore}


def normalise_scores(values: np.ndarray, *, method: str = "minmax") -> np.ndarray:
    """Scores of one video put on a common scale so that two modalities can be added.

    ``minmax`` (default) maps the video's lowest finite score to 0 and its
    highest to 1 (all equal: 0.5; -inf: 0; +inf: 1). ``zscore`` subtracts the
    mean and divides by the standard deviation. Both keep the order of the
    scores (ties can appear only by floating-point rounding).
    """
    if method not in NORMALISATIONS:
        raise UsageError(
            f"normalisation must be one of {', '.join(NORMALISATIONS)}, got {method!r}; "
            "pass normalisation='minmax' (the default)."
        )
    return NORMALISATIONS[method](np.asarray(values, dtype=np.float64))


# --- checks ------------------------------------------------------------------------------------

#: Names of the combinations, as the CLI's --combine accepts them.
COMBINATIONS = ("union", "intersect", "convex-list", "convex-score")


def check_combination(combination: object) -> None:
    if combination not in COMBINATIONS:
        raise UsageError(
            f"combination must be one of {', '.join(COMBINATIONS)}, got {combination!r}; "
            "pass combination='union' (AV-union-list, the paper's best) or another of those."
        )


def check_k_prime(k_prime: object, *, k: int | None = None) -> None:
    """``k_prime`` (K') is an integer from 0 to k: the clips AV-union-list takes from the visual ranking."""
    upper = "k" if k is None else f"k ({k})"
    if not isinstance(k_prime, Integral) or isinstance(k_prime, bool) or k_prime < 0 or (k is not None and k_prime > k):
        raise UsageError(
            f"k_prime must be an integer from 0 to {upper}, got {k_prime!r}; "
            f"pass k_prime={default_k_prime(k)} (80% of k, as the paper's best 8 of 10) or any value up to k."
        )


def check_alpha(alpha: object) -> None:
    """``alpha`` is a number in [0, 1]: the weight of the visual side (1 = visual only, 0 = audio only)."""
    if not isinstance(alpha, Real) or isinstance(alpha, bool) or not math.isfinite(float(alpha)) or not 0 <= alpha <= 1:
        raise UsageError(
            f"alpha must be a number from 0 to 1 (1 = visual ranking only, 0 = audio only), got {alpha!r}; "
            "pass alpha=0.5 to weigh both equally."
        )


# --- the four definitions: each returns positions (into the aligned arrays), best first --------


def _ranks(order: np.ndarray) -> np.ndarray:
    """``ranks[position]`` = place of that position in ``order`` (0 = best)."""
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def _union_order(visual: ClipScores, audio: ClipScores, *, k_prime: int) -> np.ndarray:
    """AV-union-list: the visual top K', then every other clip in audio-ranking order."""
    head = ranking(visual)[:k_prime]
    taken = np.zeros(len(visual), dtype=bool)
    taken[head] = True
    audio_order = ranking(audio)
    return np.concatenate([head, audio_order[~taken[audio_order]]])


def _intersect_order(visual: ClipScores, audio: ClipScores) -> np.ndarray:
    """AV-intersect-list: a clip enters at depth max(r_v, r_a) + 1, when it is in both top-n lists."""
    r_v, r_a = _ranks(ranking(visual)), _ranks(ranking(audio))
    return np.lexsort((r_v, r_v + r_a, np.maximum(r_v, r_a)))


def _convex_list_order(visual: ClipScores, audio: ClipScores, *, alpha: float) -> np.ndarray:
    """AV-convex-list: ascending alpha * r_v + (1 - alpha) * r_a; ties to the heavier side's rank."""
    r_v, r_a = _ranks(ranking(visual)), _ranks(ranking(audio))
    combined = alpha * r_v + (1 - alpha) * r_a
    first, second = (r_v, r_a) if alpha >= 0.5 else (r_a, r_v)
    return np.lexsort((visual.index, second, first, combined))


def _convex_score_values(visual: ClipScores, audio: ClipScores, *, alpha: float, normalisation: str) -> np.ndarray:
    """AV-convex-score: alpha * n(s_v) + (1 - alpha) * n(s_a) on per-video normalised scores."""
    n_v = normalise_scores(visual.scores, method=normalisation)
    n_a = normalise_scores(audio.scores, method=normalisation)
    return alpha * n_v + (1 - alpha) * n_a


def _convex_score_order(values: np.ndarray, visual: ClipScores, audio: ClipScores, *, alpha: float) -> np.ndarray:
    r_v, r_a = _ranks(ranking(visual)), _ranks(ranking(audio))
    first, second = (r_v, r_a) if alpha >= 0.5 else (r_a, r_v)
    return np.lexsort((visual.index, second, first, -values))


# --- putting it together -------------------------------------------------------------------------


def _align(visual: ClipScores, audio: ClipScores) -> ClipScores:
    """``audio`` reordered to ``visual``'s clip order; both must cover the same clips."""
    if visual.num_clips != audio.num_clips or set(visual.index.tolist()) != set(audio.index.tolist()):
        raise UsageError(
            f"the visual scores ({len(visual)} of {visual.num_clips} clips) and the audio scores "
            f"({len(audio)} of {audio.num_clips} clips) must cover the same clips of the same grid; "
            "score both with the same grid and the same stride."
        )
    position_of = {int(v): i for i, v in enumerate(audio.index)}
    return audio.take(np.array([position_of[int(v)] for v in visual.index], dtype=np.int64))


def _strictly_ordered(values: np.ndarray, order: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values`` nudged by a few units in the last place so that ``top_k`` reproduces ``order``.

    Only exact ties whose wanted order is not the index order are touched;
    every other value is returned unchanged.
    """
    out = values.astype(np.float64).copy()
    for previous, current in zip(order[:-1], order[1:]):
        if out[current] > out[previous] or (out[current] == out[previous] and index[current] < index[previous]):
            out[current] = np.nextafter(out[previous], -np.inf)
    return out


def _source(visual: ClipScores, audio: ClipScores, label: str) -> str:
    names = "+".join(name for name in (visual.source, audio.source) if name)
    return f"{names}:{label}" if names else label


def combine_scores(
    visual: ClipScores,
    audio: ClipScores | None,
    *,
    combination: str,
    k_prime: int = DEFAULT_K_PRIME,
    alpha: float = DEFAULT_ALPHA,
    normalisation: str = "minmax",
) -> ClipScores:
    """One combined score per clip, whose best-first order is the combination's ranking.

    ``audio=None`` (a video without an audio track) returns ``visual``
    unchanged: the visual ranking. See the module docstring for the four
    definitions.
    """
    check_combination(combination)
    if combination == "union":
        check_k_prime(k_prime)
    if combination in ("convex-list", "convex-score"):
        check_alpha(alpha)
    if audio is None:
        return visual
    audio = _align(visual, audio)
    if combination == "convex-score":
        if normalisation not in NORMALISATIONS:
            normalise_scores(visual.scores, method=normalisation)  # raises the usage error
        values = _convex_score_values(visual, audio, alpha=float(alpha), normalisation=normalisation)
        order = _convex_score_order(values, visual, audio, alpha=float(alpha))
        combined = _strictly_ordered(values, order, visual.index)
        label = f"convex-score(alpha={alpha:g},{normalisation})"
    else:
        if combination == "union":
            order, label = _union_order(visual, audio, k_prime=int(k_prime)), f"union(k'={k_prime})"
        elif combination == "intersect":
            order, label = _intersect_order(visual, audio), "intersect"
        else:
            order, label = _convex_list_order(visual, audio, alpha=float(alpha)), f"convex-list(alpha={alpha:g})"
        n = len(order)
        combined = np.empty(n, dtype=np.float64)
        combined[order] = 1.0 - np.arange(n) / max(n, 1)
    return ClipScores(
        index=visual.index,
        scores=combined,
        start_s=visual.start_s,
        end_s=visual.end_s,
        num_clips=visual.num_clips,
        source=_source(visual, audio, label),
    )


def combine(
    visual: ClipScores,
    audio: ClipScores | None,
    *,
    combination: str,
    k: int | None,
    k_prime: int | None = None,
    alpha: float = DEFAULT_ALPHA,
    normalisation: str = "minmax",
    min_gap_s: float = 0.0,
    strategy: str = "",
) -> ClipSelection:
    """The K clips chosen by ``combination`` (``min(k, L)``; all when ``k`` is None).

    For ``union``, ``k_prime`` must not exceed ``k``; None means
    :func:`default_k_prime` (80% of K). ``audio=None`` falls back to the
    visual ranking.
    """
    check_k(k)
    check_combination(combination)
    check_min_gap_s(min_gap_s)
    if k_prime is None:
        k_prime = default_k_prime(k)
    if combination == "union":
        check_k_prime(k_prime, k=k)
    combined = combine_scores(
        visual, audio, combination=combination, k_prime=k_prime, alpha=alpha, normalisation=normalisation
    )
    return top_k(combined, k=k, strategy=strategy, min_gap_s=min_gap_s)


def av_union_list(
    visual: ClipScores, audio: ClipScores | None, *, k: int | None, k_prime: int | None = None, min_gap_s: float = 0.0
) -> ClipSelection:
    """AV-union-list: the visual top K', then the best K-K' audio clips not already chosen.

    ``k_prime=None``: 80% of K, rounded (the paper's best, 8 of 10).
    """
    return combine(visual, audio, combination="union", k=k, k_prime=k_prime, min_gap_s=min_gap_s)


def av_intersect_list(
    visual: ClipScores, audio: ClipScores | None, *, k: int | None, min_gap_s: float = 0.0
) -> ClipSelection:
    """AV-intersect-list: the clips in both top-n lists, growing n until K are found."""
    return combine(visual, audio, combination="intersect", k=k, min_gap_s=min_gap_s)


def av_convex_list(
    visual: ClipScores, audio: ClipScores | None, *, k: int | None, alpha: float = DEFAULT_ALPHA, min_gap_s: float = 0.0
) -> ClipSelection:
    """AV-convex-list: rank by ``alpha * r_v + (1 - alpha) * r_a`` (r = rank position, 0 = best)."""
    return combine(visual, audio, combination="convex-list", k=k, alpha=alpha, min_gap_s=min_gap_s)


def av_convex_score(
    visual: ClipScores,
    audio: ClipScores | None,
    *,
    k: int | None,
    alpha: float = DEFAULT_ALPHA,
    normalisation: str = "minmax",
    min_gap_s: float = 0.0,
) -> ClipSelection:
    """AV-convex-score: rank by ``alpha * n(s_v) + (1 - alpha) * n(s_a)`` on normalised scores."""
    return combine(
        visual, audio, combination="convex-score", k=k, alpha=alpha, normalisation=normalisation, min_gap_s=min_gap_s
    )
