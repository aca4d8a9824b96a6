"""How the evaluation's tables write K: a nullable integer, null for "every clip of the video".

As in the library (``k=None``: every clip), a table's ``k`` is null for Dense and for the "all"
point of the K curves: empty in CSV, NA in Parquet (pandas' ``Int64``), null in JSON. Readers
turn a read table's ``k`` back into ``Int64`` with :func:`with_nullable_k` and print it with
:func:`k_text`.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["with_nullable_k", "is_every_clip", "k_text"]


def with_nullable_k(table: pd.DataFrame, column: str = "k") -> pd.DataFrame:
    """``table`` with its K column as ``Int64`` (None/NaN -> NA), so that 10 is written "10", not "10.0"."""
    if column in table.columns and (table[column].isna().any() or pd.api.types.is_numeric_dtype(table[column])):
        table[column] = pd.array([None if is_every_clip(k) else int(k) for k in table[column]], dtype="Int64")
    return table


def is_every_clip(k: object) -> bool:
    """Whether a table's (or the library's) K means every clip: None, NaN or NA."""
    return k is None or bool(pd.isna(k))


def k_text(k: object) -> str:
    """K as people read it: ``"all"`` for every clip, else the number."""
    return "all" if is_every_clip(k) else str(int(k))
