"""Shared fixtures: the real footage folder and small videos made with PyAV."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media import find_shared_videos, write_numbered_video

SHARED_VIDEOS = find_shared_videos()


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    if SHARED_VIDEOS is None:
        pytest.skip("the real footage folder (../shared/videos) is not here; set SCSAMPLER_SHARED_VIDEOS")
    return SHARED_VIDEOS


@pytest.fixture(scope="session")
def numbered_video(tmp_path_factory) -> Path:
    """An H.264 MP4 (B-frames, GOP 12) of 100 frames whose pixels encode their own frame number."""
    path = tmp_path_factory.mktemp("numbered") / "numbered.mp4"
    write_numbered_video(path, frames=100, fps=25, gop=12)
    return path


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` skip, with the reason, where torch sees no CUDA device."""
    gpu_tests = [item for item in items if "gpu" in item.keywords]
    if not gpu_tests:
        return
    import torch

    if torch.cuda.is_available():
        return
    reason = pytest.mark.skip(reason="needs a CUDA GPU and torch sees none; benchmarks/gpu_check.sh runs these on a GPU machine")
    for item in gpu_tests:
        item.add_marker(reason)
