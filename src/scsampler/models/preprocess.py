"""Turn decoded uint8 clips into the normalised float input a classifier expects."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scsampler.errors import UsageError
from scsampler.models.registry import ClassifierSpec

__all__ = ["preprocess", "center_crop", "decode_size"]


def decode_size(spec: ClassifierSpec, *, height: int, width: int) -> tuple[int, int]:
    """The ``(height, width)`` to ask ``decode_clips`` for, so that the resize happens while decoding."""
    return spec.resized_size(height=height, width=width)


def center_crop(clips: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The centre ``size`` (height, width) of ``[..., H, W]`` (padded with zeros when smaller)."""
    height, width = clips.shape[-2:]
    crop_h, crop_w = size
    if height < crop_h or width < crop_w:
        pad_h, pad_w = max(0, crop_h - height), max(0, crop_w - width)
        clips = F.pad(clips, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        height, width = clips.shape[-2:]
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return clips[..., top : top + crop_h, left : left + crop_w]


def preprocess(clips: torch.Tensor, spec: ClassifierSpec) -> torch.Tensor:
    """uint8 ``[K, 3, T, H, W]`` (from ``decode_clips``) -> float ``[K, 3, T, h, w]`` for the model.

    Frames are resized to ``spec``'s resize size (bilinear, skipped when the
    clips were already decoded at that size), centre-cropped to
    ``spec.crop_size``, scaled to [0, 1] and normalised with ``spec.mean`` and
    ``spec.std``, as torchvision's ``VideoClassification`` preset does.
    """
    if clips.ndim != 5 or clips.shape[1] != 3:
        raise UsageError(f"clips must be [K, 3, T, H, W], got shape {tuple(clips.shape)}.")
    if clips.dtype != torch.uint8:
        raise UsageError(f"clips must be uint8 in [0, 255] (as decode_clips returns), got {clips.dtype}.")
    k, c, t, h, w = clips.shape
    x = clips.to(torch.float32).div_(255.0)
    target = spec.resized_size(height=h, width=w)
    if (h, w) != target:
        frames = x.permute(0, 2, 1, 3, 4).reshape(k * t, c, h, w)
        frames = F.interpolate(frames, size=target, mode="bilinear", align_corners=False, antialias=False)
        x = frames.reshape(k, t, c, *target).permute(0, 2, 1, 3, 4)
    x = center_crop(x, spec.crop_size)
    mean = torch.tensor(spec.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(spec.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1, 1)
    return ((x - mean) / std).contiguous()
