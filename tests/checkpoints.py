"""A tiny classifier checkpoint for tests that run `classify` or `evaluate` without training one."""

from __future__ import annotations

from pathlib import Path

import torch


def tiny_checkpoint(path: Path, classes: list[str]) -> Path:
    """A randomly initialised r3d_tiny as a scsampler checkpoint, with cpu-micro's small clips (8 frames, 48x48)."""
    from scsampler.models import get_model, save_checkpoint

    torch.manual_seed(0)
    model = get_model("r3d_tiny", num_classes=len(classes))
    geometry = {"frames_per_clip": 8, "resize_size": [54, 72], "crop_size": [48, 48]}
    return save_checkpoint(path, model_name="r3d_tiny", model=model, classes=classes, extra={"geometry": geometry})
