"""Pure functions that turn :class:`ClipScores` into a :class:`ClipSelection`.

Selection never looks at a video: it sees only the scores of the clips that
were scored. Under a sampling stride N the sampler scores clips 0, N, 2N, ...
(:func:`strided_scores` narrows dense scores the same way), so the selection
can only hold scored clips, and ``ClipSelection.scored`` says how many there
were. See docs/selection.md.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from scsampler.errors import UsageError
from scsampler.types import ClipScores, ClipSelection

__all__ = [
    "top_k",
    "ranking",
    "strided_scores",
    "check_k",
    "check_stride",
    "check_min_gap_s",
    "DEFAULT_K",
]

#: The paper's default number of clips given to the classifier: the one definition of the default K
#: (``k="own"`` of a sampler without its own K, and the evaluation's main table).
DEFAULT_K = 10


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_k(k: object) -> None:
    """``k`` is a positive integer (not a bool), or None for every scored clip: the one rule for K."""
    if k is not None and (not _is_int(k) or k < 1):
        raise UsageError(
            f"k must be a positive integer (or None for every clip), got {k!r}; "
            f"pass k={DEFAULT_K} (the paper's default) or any count of at least 1."
        )


def check_stride(stride: object) -> None:
    """``stride`` is a positive integer (not a bool): N scores clips 0, N, 2N, ...; the one rule for N."""
    if not _is_int(stride) or stride < 1:
        raise UsageError(
            f"stride must be a positive integer (N scores clips 0, N, 2N, ...), got {stride!r}; "
            "pass stride=1 to score every clip, or a larger N to score fewer."
        )


def check_min_gap_s(min_gap_s: object) -> None:
    """``min_gap_s`` is a finite number of seconds, at least 0."""
    if (
        not isinstance(min_gap_s, Real)
        or isinstance(min_gap_s, bool)
        or not math.isfinite(float(min_gap_s))
        or min_gap_s < 0
    ):
        raise UsageError(
            f"min_gap_s must be a finite number of seconds >= 0, got {min_gap_s!r}; "
            "pass min_gap_s=0 for no gap, or the seconds wanted between chosen clips."
        )


def ranking(scores: ClipScores) -> np.ndarray:
    """Positions into ``scores`` from best to worst: score descending, then lower clip index first."""
    # lexsort sorts by the last key first.
    return np.lexsort((scores.index, -scores.scores))


def strided_scores(scores: ClipScores, *, stride: int) -> ClipScores:
    """Only the clips a sampler with sampling stride N would have scored.

    Those are the clips at positions 0, N, 2N, ... of the grid in index order
    (for a full grid: clips 0, N, 2N, ...). Useful to replay a stride from
    scores computed for every clip (the evaluation cache does).
    """
    check_stride(stride)
    by_index = np.sort(scores.index)
    return scores.subset(by_index[::stride])


def _gap_s(start_s: float, end_s: float, chosen_start_s: np.ndarray, chosen_end_s: np.ndarray) -> np.ndarray:
    """Seconds between one clip and each chosen clip (0 when they touch, negative when they overlap)."""
    return np.maximum(chosen_start_s - end_s, start_s - chosen_end_s)


def top_k(
    scores: ClipScores,
    *,
    k: int | None,
    strategy: str = "",
    min_gap_s: float = 0.0,
) -> ClipSelection:
    """The ``min(k, len(scores))`` best-scored clips, best first.

    Ties are broken by the lower clip index, so equal inputs give equal
    outputs. ``k=None`` keeps every scored clip. Only scored clips can be
    chosen; ``ClipSelection.scored`` is ``len(scores)``.

    ``min_gap_s > 0`` keeps chosen clips at least that many seconds apart
    (from the end of one to the start of the next): walking down the ranking,
    a clip closer than that to an already chosen one is skipped. The
    selection may then hold fewer than ``k`` clips.
    """
    check_k(k)
    check_min_gap_s(min_gap_s)
    return _top_k(scores, k=k, strategy=strategy, min_gap_s=min_gap_s)


def _top_k(scores: ClipScores, *, k: int | None, strategy: str = "", min_gap_s: float = 0.0) -> ClipSelection:
    """:func:`top_k` for callers that have checked ``k`` and ``min_gap_s`` already (a sampler's ``select``)."""
    order = ranking(scores)
    if min_gap_s > 0:
        order = _spread(order, scores, k=k, min_gap_s=float(min_gap_s))
    elif k is not None:
        order = order[:k]
    return ClipSelection(
        index=scores.index[order],
        start_s=scores.start_s[order],
        end_s=scores.end_s[order],
        scores=scores.scores[order],
        num_clips=scores.num_clips,
        scored=len(scores),
        strategy=strategy or scores.source,
    )


def _spread(order: np.ndarray, scores: ClipScores, *, k: int | None, min_gap_s: float) -> np.ndarray:
    """The greedy walk down ``order`` that skips clips closer than ``min_gap_s`` to a chosen one."""
    wanted = len(order) if k is None else min(k, len(order))
    chosen: list[int] = []
    for position in order:
        if len(chosen) == wanted:
            break
        if chosen:
            gaps = _gap_s(
                scores.start_s[position], scores.end_s[position], scores.start_s[chosen], scores.end_s[chosen]
            )
            # A tiny tolerance: clip seconds come from frame timestamps and may carry rounding.
            if np.any(gaps < min_gap_s - 1e-9):
                continue
        chosen.append(int(position))
    return np.asarray(chosen, dtype=np.int64)
