"""The zero-training samplers: `motion` ranks moving clips first, `loudness` loud ones."""

from __future__ import annotations

import numpy as np
import pytest

from scsampler.samplers import get_sampler, list_samplers
from scsampler.samplers.zero_training import NO_AUDIO_SOURCE, uniform_spread_scores
from scsampler.signals import SignalWarning
from scsampler.video import clip_grid, probe

from tests.signals_media import moving_block_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    # 6 clips of 8 frames at 25 fps; the block moves from frame 24 (clip 3) and the sound is loud from 1.0 s (clip 3+)
    path = moving_block_video(
        tmp_path_factory.mktemp("zero") / "v.mp4", frames=48, move_from=24, dx=3, dy=0, loud_from_s=24 / 25
    )
    info = probe(path)
    return info, clip_grid(info, frames_per_clip=8)


def test_registered_by_name():
    assert {"motion", "loudness"} <= set(list_samplers())


def test_motion_sampler_prefers_moving_clips(video):
    info, grid = video
    scores = get_sampler("motion").score(info, grid)
    assert list(scores.index) == list(range(6)) and scores.source == "motion"
    assert scores.scores[3:].min() > scores.scores[:3].max()
    selection = get_sampler("motion").select(info, grid, k=3)
    assert sorted(selection.index) == [3, 4, 5]


def test_strided_scoring_scores_only_every_nth_clip(video):
    info, grid = video
    scores = get_sampler("motion").score(info, grid, stride=2)
    assert list(scores.index) == [0, 2, 4] and scores.num_clips == 6
    full = get_sampler("motion").score(info, grid)
    assert np.allclose(scores.scores, full.scores[[0, 2, 4]])
    selection = get_sampler("loudness").select(info, grid, k=1, stride=2)
    assert selection.scored == 3 and list(selection.index) == [4]


def test_loudness_sampler_prefers_loud_clips(video):
    info, grid = video
    scores = get_sampler("loudness").score(info, grid)
    assert scores.source == "loudness"
    assert scores.scores[3:].min() > scores.scores[:3].max() + 1.0


def test_loudness_without_audio_falls_back_to_a_uniform_spread(tmp_path):
    info = probe(moving_block_video(tmp_path / "silent.mp4", frames=64, dx=1, dy=0))
    grid = clip_grid(info, frames_per_clip=4)  # 16 clips
    with pytest.warns(SignalWarning, match="no audio track"):
        scores = get_sampler("loudness").score(info, grid)
    assert scores.source == NO_AUDIO_SOURCE
    with pytest.warns(SignalWarning):
        selection = get_sampler("loudness").select(info, grid, k=4)
    assert sorted(selection.index) == [0, 4, 8, 12]


@pytest.mark.parametrize("count", [1, 2, 7, 16, 100])
def test_uniform_spread_ranks_every_position_once(count):
    scores = uniform_spread_scores(count)
    assert len(np.unique(scores)) == count and scores.argmax() == 0
    if count >= 4:
        top = np.sort(np.argsort(-scores)[:4])
        assert np.all(np.diff(top) >= count // 4 - 1)  # spread out, not bunched at the start
