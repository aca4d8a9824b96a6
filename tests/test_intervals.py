"""Bootstrap intervals over videos, per-video correctness, and the main table's interval columns."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from scsampler.intervals import bootstrap_interval, paired_difference_interval
from scsampler.evaluation.metrics import topk_correct
from scsampler.metrics import video_probabilities
from scsampler.evaluation.runner import INTERVAL_COLUMNS, MAIN_COLUMNS, EvaluationConfig, _main_table
from scsampler.evaluation.strategies import Strategy, accuracy, choose, per_video_correct
from tests.test_strategies import make_record

# --- the interval code against a hand-computed bootstrap --------------------------------------


def _quantile_by_hand(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (position (R - 1) * q), written out."""
    position = (len(sorted_values) - 1) * q
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    return sorted_values[below] + (position - below) * (sorted_values[above] - sorted_values[below])


def _bootstrap_by_hand(values: list[float], *, resamples: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap as an explicit loop: draw each video index one at a time, from the same stream."""
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(resamples):
        total = 0.0
        for _ in range(len(values)):
            total += values[int(rng.integers(0, len(values)))]
        means.append(total / len(values))
    means.sort()
    tail = (1 - level) / 2
    return _quantile_by_hand(means, tail), _quantile_by_hand(means, 1 - tail)


@pytest.mark.parametrize("seed", [0, 7])
def test_bootstrap_matches_an_explicit_loop_over_the_same_draws(seed):
    values = [0.3, 1.0, 0.0, 0.6, 1.0, 0.2, 0.9]  # e.g. Random's fraction of seeds correct, per video
    low, high = bootstrap_interval(values, resamples=500, seed=seed)
    expected = _bootstrap_by_hand(values, resamples=500, seed=seed)
    assert (low, high) == pytest.approx(expected, abs=1e-12)
    assert low < np.mean(values) < high


def test_bootstrap_of_three_videos_matches_the_exact_distribution():
    # 3 videos, 1 right and 2 wrong: the 27 equally likely resamples give means 0, 1/3, 2/3, 1
    # with probabilities 8/27, 12/27, 6/27, 1/27. The exact 2.5% quantile is 0, the exact 97.5% is 1
    # (P(mean = 1) = 0.037 > 0.025), and 90% gives [0, 2/3] (P(mean = 1) < 0.05).
    values = [1.0, 0.0, 0.0]
    exact = sorted(np.mean([values[i] for i in draw]) for draw in itertools.product(range(3), repeat=3))

    def exact_quantile(q: float) -> float:
        return exact[math.ceil(q * len(exact)) - 1]  # the inverse of the exact distribution function

    assert (exact_quantile(0.025), exact_quantile(0.975)) == (0.0, 1.0)
    assert bootstrap_interval(values, resamples=20000, seed=3) == pytest.approx((0.0, 1.0))
    assert bootstrap_interval(values, resamples=20000, seed=3, level=0.90) == pytest.approx((0.0, exact_quantile(0.95)))


def test_bootstrap_is_deterministic_for_a_seed_and_depends_on_it():
    values = np.linspace(0, 1, 9) ** 2
    assert bootstrap_interval(values, seed=4) == bootstrap_interval(values, seed=4)
    assert bootstrap_interval(values, seed=4) != bootstrap_interval(values, seed=5)
    narrow = bootstrap_interval(values, level=0.5)
    wide = bootstrap_interval(values, level=0.99)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_one_video_collapses_and_no_video_is_nan():
    assert bootstrap_interval([0.75]) == (0.75, 0.75)
    assert all(math.isnan(v) for v in bootstrap_interval([]))
    assert all(math.isnan(v) for v in paired_difference_interval([], []))
    assert paired_difference_interval([1.0], [0.0]) == (1.0, 1.0, 1.0)


def test_constant_columns_give_a_zero_width_interval_at_the_value():
    assert bootstrap_interval([1.0] * 8) == (1.0, 1.0)
    low, high = bootstrap_interval([0.1] * 7)  # 0.1 is not exact in binary: no rounding leak outside
    assert low <= np.mean([0.1] * 7) <= high and high - low < 1e-15


def test_paired_difference_resamples_the_same_videos_for_both():
    rng = np.random.default_rng(1)
    b = rng.random(12)
    # a differs from b by the same 0.25 on every video: a paired interval has no width at all,
    # though each side varies a lot between videos (an unpaired interval would be wide).
    mean, low, high = paired_difference_interval(b + 0.25, b)
    assert mean == pytest.approx(0.25) and low == pytest.approx(0.25) and high == pytest.approx(0.25)
    assert high - low < 1e-12
    assert paired_difference_interval(b, b) == (0.0, 0.0, 0.0)
    # In general it is the bootstrap of the per-video differences, same seed, same draws.
    a = rng.random(12)
    mean, low, high = paired_difference_interval(a, b, seed=2)
    assert mean == pytest.approx(np.mean(a - b))
    assert (low, high) == pytest.approx(_bootstrap_by_hand(list(a - b), resamples=2000, seed=2), abs=1e-12)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: paired_difference_interval([1.0, 0.0], [1.0]), "one value per video"),
        (lambda: bootstrap_interval([1.0, float("nan")]), "NaN"),
        (lambda: bootstrap_interval([[1.0, 0.0]]), "1-D"),
        (lambda: bootstrap_interval([1.0, 0.0], level=1.0), "level"),
        (lambda: bootstrap_interval([1.0, 0.0], resamples=0), "resamples"),
    ],
)
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- per-video correctness -------------------------------------------------------------------


@pytest.fixture()
def records():
    # As in test_strategies: Dense and Uniform K=3 are always wrong, the "good" sampler always right.
    return [make_record(i % 3, [1 + i % 3, 17 + i % 3], seed=i, has_audio=i != 0) for i in range(6)]


def test_per_video_correct_is_what_accuracy_averages(records):
    for strategy, k in ((Strategy("good", "sampler", visual="good"), 2), (Strategy("dense", "dense"), None),
                        (Strategy("noise", "sampler", visual="noise"), 3)):
        values = per_video_correct(records, strategy, k=k)
        assert values.shape == (len(records),) and set(values.tolist()) <= {0.0, 1.0}
        assert float(np.mean(values)) == accuracy(records, strategy, k=k)["top1"]
        assert float(np.mean(per_video_correct(records, strategy, k=k, top=5))) == accuracy(records, strategy, k=k)["top5"]
    assert per_video_correct(records, Strategy("good", "sampler", visual="good"), k=2).tolist() == [1.0] * 6
    assert per_video_correct(records, Strategy("dense", "dense"), k=None).tolist() == [0.0] * 6


def test_random_per_video_is_the_fraction_of_its_seeds(records):
    random = Strategy("random", "random")
    values = per_video_correct(records, random, k=3, seeds=5)
    by_hand = [
        np.mean([topk_correct(video_probabilities(r.dense.logits, choose(r, random, k=3, seed=s)[0]), r.dense.label_index, 1)
                 for s in range(5)])
        for r in records
    ]
    assert values.tolist() == pytest.approx(by_hand)
    assert float(np.mean(values)) == pytest.approx(accuracy(records, random, k=3, seeds=5)["top1"])


# --- the main table ----------------------------------------------------------------------------


def test_main_table_has_intervals_and_paired_differences(records):
    config = EvaluationConfig(samplers=["good", "noise"], k=3, k_prime=1, random_seeds=4, heavy_classifier=None)
    strategies = [Strategy("dense", "dense"), Strategy("uniform", "uniform"), Strategy("random", "random"),
                  Strategy("good", "sampler", visual="good"), Strategy("noise", "sampler", visual="noise"),
                  Strategy("oracle", "oracle")]
    table = _main_table(records, strategies, config)
    assert list(table.columns) == MAIN_COLUMNS + INTERVAL_COLUMNS
    assert (table["videos"] == len(records)).all()
    for top in ("top1", "top5"):
        assert (table[f"{top}_low"] <= table[top]).all() and (table[top] <= table[f"{top}_high"]).all()
        assert table[f"{top}_low"].between(0, 1).all() and table[f"{top}_high"].between(0, 1).all()
    for reference in ("dense", "uniform"):
        assert (table[f"top1_vs_{reference}_low"] <= table[f"top1_vs_{reference}"]).all()
        assert (table[f"top1_vs_{reference}"] <= table[f"top1_vs_{reference}_high"]).all()
    rows = table.set_index("strategy")
    for reference in ("dense", "uniform"):  # a baseline against itself: exactly 0, no width
        own = rows.loc[reference, [f"top1_vs_{reference}", f"top1_vs_{reference}_low", f"top1_vs_{reference}_high"]]
        assert own.tolist() == [0.0, 0.0, 0.0]
    # good is right on every video and Dense wrong on every one: +1 on each video, no width.
    assert rows.loc["good", ["top1_vs_dense", "top1_vs_dense_low", "top1_vs_dense_high"]].tolist() == [1.0, 1.0, 1.0]
    # Every difference is the paired bootstrap of the two rows' per-video values.
    noise = per_video_correct(records, strategies[4], k=3)
    uniform = per_video_correct(records, strategies[1], k=3)
    assert rows.loc["noise", ["top1_vs_uniform", "top1_vs_uniform_low", "top1_vs_uniform_high"]].tolist() == pytest.approx(
        list(paired_difference_interval(noise, uniform)))
    assert rows.loc["noise", "top1"] == pytest.approx(float(np.mean(noise)))
    # Random's interval is over videos of its seed-averaged correctness.
    random = per_video_correct(records, strategies[2], k=3, seeds=4)
    assert rows.loc["random", ["top1_low", "top1_high"]].tolist() == pytest.approx(list(bootstrap_interval(random)))


def test_main_table_without_baseline_rows_still_compares_to_them(records):
    config = EvaluationConfig(samplers=["good"], k=2, k_prime=1, heavy_classifier=None)
    table = _main_table(records, [Strategy("good", "sampler", visual="good")], config)
    row = table.iloc[0]
    assert row["top1_vs_dense"] == 1.0 and row["top1_vs_uniform"] == pytest.approx(
        1.0 - float(np.mean(per_video_correct(records, Strategy("uniform", "uniform"), k=2))))


def test_main_table_compares_every_row_with_each_zero_training_sampler(records):
    config = EvaluationConfig(samplers=["good", "noise"], k=3, k_prime=1, heavy_classifier=None)
    strategies = [Strategy("uniform", "uniform"), Strategy("good", "sampler", visual="good"),
                  Strategy("noise", "sampler", visual="noise")]
    table = _main_table(records, strategies, config, zero_training=["noise"])
    assert list(table.columns)[-3:] == ["top1_vs_noise", "top1_vs_noise_low", "top1_vs_noise_high"]
    rows = table.set_index("strategy")
    noise = per_video_correct(records, strategies[2], k=3)
    good = per_video_correct(records, strategies[1], k=3)
    assert rows.loc["good", ["top1_vs_noise", "top1_vs_noise_low", "top1_vs_noise_high"]].tolist() == pytest.approx(
        list(paired_difference_interval(good, noise)))
    assert rows.loc["noise", ["top1_vs_noise", "top1_vs_noise_low", "top1_vs_noise_high"]].tolist() == [0.0, 0.0, 0.0]


def test_motion_and_loudness_are_the_zero_training_samplers():
    from scsampler.evaluation.runner import _zero_training
    from scsampler.samplers.registry import get_sampler

    samplers = {name: get_sampler(name) for name in ("uniform", "motion", "random", "loudness")}
    assert _zero_training(samplers) == ["motion", "loudness"]
