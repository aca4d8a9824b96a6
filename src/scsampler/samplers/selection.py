"""Pure functions that turn :class:`ClipScores` into a :class:`ClipSelection`."""

from __future__ import annotations

import numpy as np

from scsampler.samplers.base import check_k_and_stride
from scsampler.types import ClipScores, ClipSelection

__all__ = ["top_k"]


def top_k(scores: ClipScores, *, k: int | None, strategy: str = "") -> ClipSelection:
    """The ``min(k, len(scores))`` best-scored clips, best first.

    Ties are broken by the lower clip index, so equal inputs give equal outputs.
    ``k=None`` keeps every scored clip.
    """
    check_k_and_stride(k, 1)
    # lexsort sorts by the last key first: score descending, then index ascending.
    order = np.lexsort((scores.index, -scores.scores))
    if k is not None:
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
