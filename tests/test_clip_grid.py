"""Clip-grid arithmetic, property-based."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scsampler.errors import UsageError
from scsampler.types import ClipScores, ClipSelection, VideoInfo
from scsampler.video import clip_grid, count_full_clips


def make_info(frame_times_s: np.ndarray, *, duration_s: float | None = None) -> VideoInfo:
    frames = len(frame_times_s)
    duration = duration_s if duration_s is not None else float(frame_times_s[-1]) + 0.04
    return VideoInfo(
        path="synthetic.mp4",
        container="mp4",
        codec="h264",
        width=64,
        height=48,
        fps=frames / duration,
        frames=frames,
        duration_s=duration,
        frame_times_s=frame_times_s,
        keyframes=np.array([0]),
        motion_vectors=True,
        audio=None,
    )


@st.composite
def videos(draw):
    frames = draw(st.integers(min_value=1, max_value=400))
    gaps = draw(st.lists(st.floats(min_value=0.001, max_value=0.5), min_size=frames - 1, max_size=frames - 1))
    times = np.concatenate([[0.0], np.cumsum(gaps)]) if gaps else np.array([0.0])
    return make_info(times, duration_s=float(times[-1]) + draw(st.floats(min_value=0.001, max_value=0.5)))


@settings(max_examples=200, deadline=None)
@given(info=videos(), frames_per_clip=st.integers(1, 40), stride=st.one_of(st.none(), st.integers(1, 50)))
def test_grid_covers_whole_clips_in_order(info, frames_per_clip, stride):
    grid = clip_grid(info, frames_per_clip=frames_per_clip, stride_frames=stride)
    step = frames_per_clip if stride is None else stride
    if info.frames < frames_per_clip:
        assert len(grid) == 1 and grid.padded
        clip = grid.clip(0)
        assert clip.frames[: info.frames] == tuple(range(info.frames))
        assert set(clip.frames[info.frames :]) <= {info.frames - 1}
        assert len(clip.frames) == frames_per_clip
    else:
        assert not grid.padded
        assert len(grid) == (info.frames - frames_per_clip) // step + 1 == count_full_clips(info.frames, frames_per_clip, step)
        assert np.all(grid.end_frame - grid.start_frame == frames_per_clip)
        assert np.all(np.diff(grid.start_frame) == step)
        assert grid.end_frame[-1] <= info.frames
        # one more clip would not fit
        assert grid.start_frame[-1] + step + frames_per_clip > info.frames
    assert grid.start_frame[0] == 0
    assert grid.num_clips == len(grid) == grid.subset(grid.index[::3]).num_clips
    assert np.all(grid.start_s == info.frame_times_s[grid.start_frame])
    assert np.all(grid.end_s > grid.start_s)
    assert np.all(np.diff(grid.start_s) > 0)
    assert grid.end_s[-1] <= info.duration_s + 1e-9


def test_variable_frame_rate_gives_clips_of_unequal_seconds():
    times = np.concatenate([np.arange(16) * 0.1, 1.6 + np.arange(16) * 0.5])
    grid = clip_grid(make_info(times, duration_s=9.6), frames_per_clip=16)
    assert len(grid) == 2
    assert grid.start_s.tolist() == pytest.approx([0.0, 1.6])
    assert grid.end_s.tolist() == pytest.approx([1.6, 9.6])


def test_subset_keeps_grid_indices_and_order():
    grid = clip_grid(make_info(np.arange(100) / 25), frames_per_clip=10)
    part = grid.subset([7, 2])
    assert part.index.tolist() == [7, 2]
    assert part.clip(0).frames == tuple(range(70, 80))
    with pytest.raises(IndexError, match=r"clip indices \[42\] are not in this grid of 10 clips"):
        grid.subset([42])


def test_strided_keeps_every_nth_clip_and_the_full_grid_count():
    grid = clip_grid(make_info(np.arange(100) / 25), frames_per_clip=10)
    part = grid.strided(3)
    assert part.index.tolist() == [0, 3, 6, 9]
    assert part.num_clips == grid.num_clips == 10  # counted against the video's grid, not its last clip
    assert part.start_s.tolist() == grid.start_s[[0, 3, 6, 9]].tolist() and part.clip(1).frames == tuple(range(30, 40))
    assert grid.strided(1).index.tolist() == grid.index.tolist()
    assert grid.subset([6, 3]).strided(2).index.tolist() == [6]  # positions in the grid it is called on
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        grid.strided(0)


def test_scores_and_selection_take_positions_masks_and_slices():
    scores = ClipScores(index=[4, 1, 3], scores=[0.5, 2.0, -1.0], start_s=[4, 1, 3], end_s=[5, 2, 4], num_clips=6, source="s")
    taken = scores.take([2, 0])
    assert taken.index.tolist() == [3, 4] and taken.scores.tolist() == [-1.0, 0.5] and taken.end_s.tolist() == [4, 5]
    assert taken.num_clips == 6 and taken.source == "s"
    assert scores.take(np.array([True, False, True])).index.tolist() == [4, 3]
    assert scores.subset([3, 4]).index.tolist() == [4, 3]  # subset keeps this object's order
    selection = ClipSelection(index=[4, 1, 3], start_s=[4, 1, 3], end_s=[5, 2, 4], scores=[3, 2, 1], num_clips=6, scored=3,
                              strategy="x")  # fmt: skip
    head = selection.take(slice(0, 2))
    assert head.index.tolist() == [4, 1] and head.scores.tolist() == [3, 2] and (head.num_clips, head.scored) == (6, 3)
    assert head.strategy == "x" and len(selection.take(slice(2, 10))) == 1


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_clip_length_is_named(bad):
    with pytest.raises(UsageError, match=rf"frames_per_clip must be a positive integer, got {bad!r}"):
        clip_grid(make_info(np.arange(50) / 25), frames_per_clip=bad)


def test_bad_stride_is_named():
    with pytest.raises(UsageError, match=r"stride_frames must be a positive integer or None \(= frames_per_clip\), got 0"):
        clip_grid(make_info(np.arange(50) / 25), stride_frames=0)
