"""95% bootstrap intervals over videos for accuracies and for differences between strategies.

Method (the one every interval in ``main_table.csv``, ``accuracy_vs_k.csv``, the
report and ``scsampler evaluate`` uses, and ``train-sampler --inputs-rule cheapest-not-worse``
on the validation videos): a **percentile bootstrap over videos**.
The unit is the test video, because videos, not clips, are what a strategy is
judged on: each video contributes one number (1.0 or 0.0 for correct or wrong;
for Random, the fraction of its seeds that were correct). ``resamples`` times
(2000 by default) we draw as many videos as there are, uniformly with
replacement, and take the mean; the interval is the ``(1 - level) / 2`` and
``(1 + level) / 2`` quantiles of those means (NumPy's default linear
interpolation between order statistics).

A **paired** interval for the difference between two strategies resamples the
*same* video indices for both, i.e. it bootstraps the per-video difference
``a - b``: the question is whether one strategy beats the other on the same
videos, so the variation between videos that both share cancels. A difference
whose interval contains 0 is "not distinguishable from 0 at 95%".

The draws come from ``numpy.random.default_rng(seed)`` with one
``integers(0, n, size=(resamples, n))`` call, so an interval is the same on
every run for a given seed. With one video the interval collapses to its value;
with none, every number is NaN. The resampled means are rounded like any float
sum, so the interval is widened by at most that rounding to contain the
observed mean (with 2000 resamples at 95% nothing else can put it outside).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["bootstrap_interval", "paired_difference_interval", "RESAMPLES", "LEVEL"]

RESAMPLES = 2000
LEVEL = 0.95


def bootstrap_interval(
    values: Sequence[float] | np.ndarray, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval ``(low, high)`` of the mean of ``values`` (one number per video).

    Args:
        values: one finite number per video, e.g. 1.0/0.0 for correct/wrong.
        resamples: how many bootstrap resamples of the videos (with replacement).
        level: the interval's coverage, in (0, 1); 0.95 gives the 2.5% and 97.5% quantiles.
        seed: the seed of ``numpy.random.default_rng``; the same seed gives the same interval.

    Returns:
        ``(nan, nan)`` for no values; ``(v, v)`` for a single value ``v``.

    Raises:
        ValueError: ``values`` is not one-dimensional or holds NaN/inf, or
            ``resamples``/``level`` are out of range.
    """
    data = _as_values(values, "values")
    _check(resamples, level)
    if len(data) == 0:
        return float("nan"), float("nan")
    mean = float(data.mean())
    if len(data) == 1:
        return mean, mean
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, len(data), size=(int(resamples), len(data)))
    means = data[indices].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    # why min/max: float rounding of the resampled sums may put a constant column's mean 1 ulp outside
    return float(min(low, mean)), float(max(high, mean))


def paired_difference_interval(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(mean difference, low, high)`` of ``mean(a) - mean(b)``, resampling the same videos for both.

    ``a[i]`` and ``b[i]`` must be the same video's values under two strategies.
    This is :func:`bootstrap_interval` of the per-video differences ``a - b``
    (drawing video ``i`` draws both of its values), so identical inputs give
    ``(0, 0, 0)`` and inputs that differ by ``c`` on every video give ``(c, c, c)``.
    Empty inputs give NaN three times.

    Raises:
        ValueError: ``a`` and ``b`` differ in length, or either fails :func:`bootstrap_interval`'s checks.
    """
    first, second = _as_values(a, "a"), _as_values(b, "b")
    if len(first) != len(second):
        raise ValueError(f"a paired difference needs one value per video on both sides, got {len(first)} and {len(second)}.")
    difference = first - second
    low, high = bootstrap_interval(difference, resamples=resamples, level=level, seed=seed)
    mean = float(difference.mean()) if len(difference) else float("nan")
    return mean, low, high


def _as_values(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError(f"{name} must be one number per video (1-D), got shape {data.shape}.")
    if not np.isfinite(data).all():
        raise ValueError(f"{name} holds NaN or infinite values; give one finite number per video.")
    return data


def _check(resamples: int, level: float) -> None:
    if int(resamples) != resamples or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples!r}.")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}.")
