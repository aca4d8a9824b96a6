"""Shrinking uint8 RGB images to a sampler network's square input size.

Samplers extract I-frames and clip frames at a fixed size (112x112 by default) and a network may
take them smaller. :func:`shrink_images` resizes each image on its own (bilinear, antialiased,
rounded back to uint8), so shrinking images one at a time as they are decoded gives the same bits
as shrinking the whole ``[L, 3, H, W]`` tensor afterwards: the extractors do it as they go
(``extract_signals(shrink=...)``), holding an hour of video's clip images at 64x64 (83 MB) instead
of at 112x112 (254 MB) plus a float copy of them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from scsampler.errors import UsageError

__all__ = ["shrink_images", "shrink_image", "check_shrink"]

_ROWS = 256  # images resized together: a 12 MB float copy at 112x112


def check_shrink(size: int | None) -> int | None:
    """``size`` as an int (or None); a UsageError unless it is positive."""
    if size is None:
        return None
    if isinstance(size, bool) or int(size) != size or size < 1:
        raise UsageError(f"a shrink size must be a positive integer, got {size!r}.")
    return int(size)


def shrink_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[L, 3, H, W]`` -> uint8 ``[L, 3, size, size]``, a chunk of rows at a time (each row on its own)."""
    out = torch.empty((len(images), images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, len(images), _ROWS):
        rows = F.interpolate(images[start : start + _ROWS].float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[start : start + _ROWS] = rows.round().clamp(0, 255).to(torch.uint8)
    return out


def shrink_image(image: np.ndarray, size: int) -> np.ndarray:
    """One uint8 ``[3, H, W]`` image, as :func:`shrink_images` would shrink it in a batch."""
    return shrink_images(torch.from_numpy(image).unsqueeze(0), size)[0].numpy()
