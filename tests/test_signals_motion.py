"""Motion vectors, the frame-difference fallback and the residual approximation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from scsampler.signals import extract_signals
from scsampler.signals.motion import block_motion, mv_grid
from scsampler.signals.residual import warp
from scsampler.video import clip_grid, probe

from tests.signals_media import SHARED_VIDEOS, moving_block_video

DX, DY = 4, 2


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    path = moving_block_video(tmp_path_factory.mktemp("motion") / "moving.mp4", frames=24, dx=DX, dy=DY)
    info = probe(path)
    return path, info, clip_grid(info, frames_per_clip=8)


def _block_cells(clip_position: int, frames_per_clip: int = 8) -> tuple[slice, slice]:
    """Macroblocks that the 64x64 block covers during the whole clip (its core)."""
    first, last = clip_position * frames_per_clip, (clip_position + 1) * frames_per_clip - 1
    x_lo, x_hi = 64 + DX * last, 64 + DX * first + 64  # columns covered in every frame of the clip
    y_lo, y_hi = 48 + DY * last, 48 + DY * first + 64
    return slice(-(-y_lo // 16), y_hi // 16), slice(-(-x_lo // 16), x_hi // 16)


def test_motion_vectors_give_the_known_displacement(moving):
    path, info, grid = moving
    signals = extract_signals(path, grid, signals=("mv",), info=info)
    assert signals.motion_source == "motion_vectors"
    assert signals.motion.dtype == torch.float16
    assert tuple(signals.motion.shape) == (len(grid), 2, 15, 20)  # native macroblock grid of 320x240
    for position in (1, 2):  # clip 0 starts with the keyframe
        rows, cols = _block_cells(position)
        core = signals.motion[position, :, rows, cols].float()
        assert core.numel() > 0
        assert torch.allclose(core[0], torch.full_like(core[0], DX), atol=0.26)
        assert torch.allclose(core[1], torch.full_like(core[1], DY), atol=0.26)
    # the static background far from the block does not move
    assert signals.motion[1, :, 12:, 14:].float().abs().max() < 0.5


def test_mv_grid_undoes_the_reference_direction():
    dtype = np.dtype(
        [("source", "<i4"), ("w", "u1"), ("h", "u1"), ("src_x", "<i2"), ("src_y", "<i2"), ("dst_x", "<i2"),
         ("dst_y", "<i2"), ("flags", "<u8"), ("motion_x", "<i4"), ("motion_y", "<i4"), ("motion_scale", "<u2")]
    )
    # content moved +3 px right: from a past reference the block's source lies 3 px left (motion_x = -3*4)
    past = np.array([(-1, 16, 16, 5, 8, 8, 8, 0, -12, 0, 4)], dtype=dtype)
    future = np.array([(1, 16, 16, 11, 8, 8, 8, 0, 12, 0, 4)], dtype=dtype)
    assert mv_grid(past, rows=1, cols=1)[0, 0, 0] == pytest.approx(3.0)
    assert mv_grid(future, rows=1, cols=1)[0, 0, 0] == pytest.approx(3.0)
    # four 8x8 sub-blocks average by area into their macroblock
    quads = np.array([(-1, 8, 8, 0, 0, 4 + 8 * (i % 2), 4 + 8 * (i // 2), 0, -4 * i, 0, 4) for i in range(4)], dtype=dtype)
    assert mv_grid(quads, rows=1, cols=1)[0, 0, 0] == pytest.approx(1.5)


def test_fallback_block_matching_finds_the_shift():
    rng = np.random.default_rng(1)
    previous = rng.uniform(0, 255, (32, 48)).astype(np.float32)
    current = np.roll(previous, shift=(1, 2), axis=(0, 1))  # content moves dx=2, dy=1
    flow = block_motion(previous, current)
    assert flow.shape == (2, 8, 12)
    inner = flow[:, 1:-1, 1:-1]
    assert np.all(inner[0] == 2) and np.all(inner[1] == 1)


def test_fallback_on_a_codec_without_motion_vectors_on_the_moving_block(moving):
    path, info, grid = moving
    without = dataclasses.replace(info, motion_vectors=False)
    signals = extract_signals(path, grid, signals=("motion",), info=without)
    assert signals.motion_source == "frame_difference"
    rows, cols = _block_cells(1)
    assert signals.motion[1, 0, rows, cols].float().mean() > DX / 2  # moves right, about DX px per frame


def test_residual_is_small_where_motion_explains_the_frame(moving):
    path, info, grid = moving
    signals = extract_signals(path, grid, signals=("motion", "residual"), info=info)
    residual = signals.residual
    assert residual.dtype == torch.float16 and tuple(residual.shape) == (len(grid), 1, 30, 40)
    assert float(residual.float().min()) >= 0.0 and float(residual.float().max()) <= 1.0
    # warping by the motion explains the frame better than not warping does
    previous = np.random.default_rng(2).uniform(0, 255, (32, 48)).astype(np.float32)
    current = np.roll(previous, shift=(0, 4), axis=(0, 1))
    flow = np.zeros((2, 8, 12), dtype=np.float32)
    flow[0] = 4
    assert np.abs(current - warp(previous, flow))[:, 4:].mean() < 0.1 * np.abs(current - previous)[:, 4:].mean()


@pytest.mark.skipif(not (SHARED_VIDEOS / "tree.avi").exists(), reason="shared videos are missing")
def test_cinepak_falls_back_to_frame_differences_with_motion():
    path = SHARED_VIDEOS / "tree.avi"
    info = probe(path)
    assert not info.motion_vectors
    signals = extract_signals(path, clip_grid(info), signals=("motion",), info=info)
    assert signals.motion_source == "frame_difference"
    assert signals.motion.shape[1] == 2
    assert float(signals.motion.float().abs().mean()) > 0.0
