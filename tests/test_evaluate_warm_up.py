"""The untimed warm-up before the first measured video: once, and only when something is measured."""

from __future__ import annotations

import pytest
import torch

from scsampler.errors import VideoError
from scsampler.evaluation.runner import _WarmUp

from tests.signals_media import moving_block_video


class _SpyClassifier:
    frames_per_clip = 16

    def __init__(self) -> None:
        self.batches: list[tuple[int, ...]] = []

    def decode_size(self, *, height: int, width: int) -> tuple[int, int]:
        return (32, 32)

    def __call__(self, clips):
        self.batches.append(tuple(clips.shape))
        return torch.zeros(len(clips), 2)


class _SpySampler:
    def __init__(self) -> None:
        self.grids: list[int] = []

    def score(self, info, grid, *, stride: int = 1):
        self.grids.append(len(grid))


def test_warm_up_runs_every_part_once_on_one_clip(tmp_path):
    video = moving_block_video(tmp_path / "v.mp4", frames=48)
    classifier, sampler = _SpyClassifier(), _SpySampler()
    warm_up = _WarmUp(classifier, {"spy": sampler})
    warm_up(video)
    warm_up(video)
    assert classifier.batches == [(1, 3, 16, 32, 32)]
    assert sampler.grids == [1]


def test_a_damaged_first_video_leaves_the_warm_up_for_the_next(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    classifier, sampler = _SpyClassifier(), _SpySampler()
    warm_up = _WarmUp(classifier, {"spy": sampler})
    with pytest.raises(VideoError, match="bad.mp4"):
        warm_up(bad)
    warm_up(moving_block_video(tmp_path / "good.mp4", frames=32))
    assert len(classifier.batches) == 1 and sampler.grids == [1]
