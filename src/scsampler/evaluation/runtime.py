"""Measured per-clip costs: the clip classifier's, and the decoder's with a seek."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import torch

from scsampler.models import Classifier
from scsampler.types import ClipGrid, VideoInfo
from scsampler.video import decode_clips

__all__ = ["classifier_cost_per_clip_s", "random_access_decode_per_clip_s", "HEAVY_CLASSIFIER"]

#: The classifier whose cost gives the runtime at paper scale (torchvision R(2+1)D-18, 16x112x112).
HEAVY_CLASSIFIER = "r2plus1d_18"


def classifier_cost_per_clip_s(
    classifier: Classifier, *, video_size: tuple[int, int] = (240, 320), repeats: int = 3, batch_size: int = 1
) -> float:
    """Median seconds to classify one clip (decoded uint8 in, logits out), after one warm-up run.

    Runtime does not depend on the values of the weights, so a randomly
    initialised heavy model measures the cost of a trained one. ``video_size``
    is the (height, width) of the videos, which fixes the decoded clip size.
    """
    height, width = classifier.decode_size(height=video_size[0], width=video_size[1])
    clips = torch.randint(0, 256, (batch_size, 3, classifier.frames_per_clip, height, width), dtype=torch.uint8)
    classifier(clips)  # warm-up: allocations and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        classifier(clips)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / batch_size


def random_access_decode_per_clip_s(
    path: str | os.PathLike, grid: ClipGrid, *, info: VideoInfo, size: tuple[int, int], clips: int = 3
) -> float:
    """Mean seconds to decode one clip on its own (open, seek to its keyframe, decode forward)."""
    positions = np.unique(np.linspace(0, len(grid) - 1, clips).round().astype(int))
    times = []
    for position in positions:
        start = time.perf_counter()
        decode_clips(path, grid.subset([int(grid.index[position])]), size=size, info=info)
        times.append(time.perf_counter() - start)
    return sum(times) / len(times)
