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


def decisive_checkpoint(path: Path, classes: list[str], *, model_name: str = "r3d_tiny", head_std: float = 1.0) -> Path:
    """A seeded random ``model_name`` (full-size clips) whose head is drawn with ``head_std``, as a checkpoint.

    The wide head makes logits differ clearly between clips and classes, so probabilities are not all
    equal and a top-1 is not decided by rounding.
    """
    from scsampler.models import get_model, save_checkpoint

    torch.manual_seed(0)
    model = get_model(model_name, num_classes=len(classes))
    with torch.no_grad():
        model.fc.weight.normal_(0, head_std)
    return save_checkpoint(path, model_name=model_name, model=model, classes=classes)
