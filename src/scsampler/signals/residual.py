"""A low-resolution approximation of the residual: what motion compensation leaves unexplained.

FFmpeg does not expose the bitstream residual, so it is approximated as in
compressed-video recognition (CoViAR): ``|frame - warp(previous frame, motion)|`` on
low-resolution luma (4x4 pixels per macroblock), then pooled 2x2, in [0, 1].
Per-frame work is plain NumPy on small arrays: a thread pool would cost more than it saves.
"""

from __future__ import annotations

import numpy as np

__all__ = ["residual_map", "warp", "RESIDUAL_POOL"]

RESIDUAL_POOL = 2  # working pixels per residual cell side


def warp(previous: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``previous [H, W]`` moved by ``flow [2, rows, cols]`` (dx, dy in working pixels per cell).

    The result at ``(y, x)`` samples ``previous`` bilinearly at ``(y - dy, x - dx)`` (edges
    clamped): the content each cell held in the previous frame, moved to where the motion
    says it went. ``H`` and ``W`` are whole multiples of ``rows`` and ``cols``.
    """
    height, width = previous.shape
    cell_y, cell_x = height // flow.shape[1], width // flow.shape[2]
    dense_x = np.repeat(np.repeat(flow[0], cell_y, axis=0), cell_x, axis=1)
    dense_y = np.repeat(np.repeat(flow[1], cell_y, axis=0), cell_x, axis=1)
    source_x = np.clip(np.arange(width, dtype=np.float32)[None, :] - dense_x, 0, width - 1)
    source_y = np.clip(np.arange(height, dtype=np.float32)[:, None] - dense_y, 0, height - 1)
    x0 = np.minimum(source_x.astype(np.int64), width - 2) if width > 1 else np.zeros_like(source_x, dtype=np.int64)
    y0 = np.minimum(source_y.astype(np.int64), height - 2) if height > 1 else np.zeros_like(source_y, dtype=np.int64)
    fx, fy = source_x - x0, source_y - y0
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    top = previous[y0, x0] * (1 - fx) + previous[y0, x1] * fx
    bottom = previous[y1, x0] * (1 - fx) + previous[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def pool(image: np.ndarray, size: int) -> np.ndarray:
    """Mean over non-overlapping ``size x size`` cells (``image`` dimensions divisible by ``size``)."""
    height, width = image.shape
    return image.reshape(height // size, size, width // size, size).mean(axis=(1, 3))


def residual_map(previous: np.ndarray, current: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``float32 [1, H/2, W/2]`` in [0, 1]: mean ``|current - warp(previous, flow)|`` per 2x2 cell."""
    difference = np.abs(current - warp(previous, flow)) / 255.0
    return pool(difference, RESIDUAL_POOL)[None].astype(np.float32)
