"""Baseline samplers: Dense, Uniform, Random (seeded) and the Oracle upper bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scsampler.errors import UsageError
from scsampler.samplers import get_sampler, list_samplers
from scsampler.samplers.baselines import (
    DenseSampler,
    OracleSampler,
    RandomSampler,
    UniformSampler,
    oracle_selection,
    uniform_positions,
)
from scsampler.video import clip_grid

from tests.media import fake_video_info


def _grid(num_clips: int, *, path: str = "video.mp4"):
    info = fake_video_info(frames=num_clips * 16, audio=False, width=320, height=240, path=path)
    return info, clip_grid(info, frames_per_clip=16)


def test_baselines_are_registered():
    assert {"dense", "uniform", "random", "oracle"} <= set(list_samplers())
    assert isinstance(get_sampler("random", seed=3), RandomSampler) and get_sampler("random", seed=3).seed == 3


def test_dense_takes_every_clip_whatever_k():
    info, grid = _grid(23)
    selection = DenseSampler().select(info, grid, k=5)
    assert list(selection.index) == list(range(23))
    np.testing.assert_allclose(selection.start_s, grid.start_s)
    assert selection.scored == 0 and np.isnan(selection.scores).all() and selection.strategy == "dense"


@settings(max_examples=200, deadline=None)
@given(num_clips=st.integers(1, 500), k=st.integers(1, 60))
def test_uniform_takes_one_clip_from_each_of_k_equal_parts(num_clips, k):
    positions = uniform_positions(num_clips, k=k)
    if k >= num_clips:
        assert list(positions) == list(range(num_clips))
        return
    assert len(positions) == k and np.all(np.diff(positions) > 0)
    parts = np.arange(k)
    # Clip j spans [j, j + 1) on the clip axis; clip i of the selection holds the centre of part i.
    centres = (parts + 0.5) * num_clips / k
    assert np.all(positions <= centres) and np.all(centres < positions + 1)
    # Equal spacing: consecutive picks are L/k apart, give or take one clip.
    assert np.all(np.abs(np.diff(positions) - num_clips / k) <= 1)


def test_uniform_sampler_reports_seconds_of_the_chosen_clips():
    info, grid = _grid(100)
    selection = UniformSampler().select(info, grid, k=4)
    assert list(selection.index) == [12, 37, 62, 87]
    np.testing.assert_allclose(selection.start_s, grid.start_s[[12, 37, 62, 87]])
    np.testing.assert_allclose(selection.end_s, grid.end_s[[12, 37, 62, 87]])


def test_random_is_reproducible_for_a_seed_and_varies_with_it():
    info, grid = _grid(1000)
    first = RandomSampler(seed=7).select(info, grid, k=10)
    again = RandomSampler(seed=7).select(info, grid, k=10)
    other_seed = RandomSampler(seed=8).select(info, grid, k=10)
    other_video = RandomSampler(seed=7).select(*_grid(1000, path="other.mp4"), k=10)
    assert list(first.index) == list(again.index)
    assert list(first.index) != list(other_seed.index)
    assert list(first.index) != list(other_video.index)
    assert len(set(first.index)) == 10 and first.index.min() >= 0 and first.index.max() < 1000


def test_random_covers_the_grid_over_many_seeds():
    info, grid = _grid(20)
    seen = set()
    for seed in range(30):
        seen.update(int(i) for i in RandomSampler(seed=seed).select(info, grid, k=3).index)
    assert seen == set(range(20))
    assert list(RandomSampler(seed=0).select(info, grid, k=50).index) == list(range(20))


def test_bad_k_stride_and_seed_are_usage_errors():
    info, grid = _grid(5)
    with pytest.raises(UsageError, match="k must be a positive integer"):
        UniformSampler().select(info, grid, k=0)
    with pytest.raises(UsageError, match="stride must be a positive integer"):
        RandomSampler().select(info, grid, k=2, stride=0)
    with pytest.raises(UsageError, match="seed must be an integer, got 'a'"):
        RandomSampler(seed="a")


def test_oracle_picks_the_clips_with_the_highest_true_class_probability():
    info, grid = _grid(40)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, 6))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    selection = oracle_selection(probs, grid, label_index=4, k=5)
    expected = np.argsort(-probs[:, 4])[:5]
    assert list(selection.index) == list(expected)
    np.testing.assert_allclose(selection.scores, probs[expected, 4])
    assert selection.strategy == "oracle" and selection.scored == 40
    # Under a sampling stride only clips 0, N, 2N, ... are candidates.
    strided = oracle_selection(probs, grid, label_index=4, k=3, stride=4)
    candidates = np.arange(0, 40, 4)
    assert list(strided.index) == list(candidates[np.argsort(-probs[candidates, 4])[:3]])
    assert strided.scored == 10


def test_oracle_sampler_needs_the_label_and_the_clip_outputs():
    info, grid = _grid(10)
    probs = np.eye(10, 3)[np.arange(10) % 3]
    sampler = get_sampler("oracle", clip_probs=probs, label_index=1)
    assert sampler.needs_label and isinstance(sampler, OracleSampler)
    assert set(sampler.select(info, grid, k=3).index) == {1, 4, 7}
    with pytest.raises(UsageError, match="the oracle sampler needs clip_probs"):
        get_sampler("oracle")
    with pytest.raises(UsageError, match=r"label_index must be a class index in \[0, 3\), got 3"):
        oracle_selection(probs, grid, label_index=3, k=2)
    with pytest.raises(UsageError, match=r"clip_probs must be \[L, C\] with L = 10"):
        oracle_selection(probs[:5], grid, label_index=0, k=2)
