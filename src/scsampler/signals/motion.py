"""Motion per clip: the decoder's exported motion vectors, or block matching as a fallback.

One decoding pass yields, per frame, a (dx, dy) grid at macroblock resolution (and,
when asked, the residual approximation of :mod:`scsampler.signals.residual`); the
per-frame grids are averaged over each clip's frames as they stream by.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import av
import numpy as np
import torch

from scsampler.signals._clips import ClipMeans, needed_frames
from scsampler.signals.residual import RESIDUAL_POOL, pool, residual_map
from scsampler.types import ClipGrid, VideoInfo
from scsampler.video._container import decoder_messages, open_input

__all__ = ["extract_motion", "MotionResult", "mv_grid", "block_motion", "MACROBLOCK", "WORK_PIXELS_PER_MB"]

MACROBLOCK = 16  # pixels per macroblock side (H.264, MPEG-2/4)
WORK_PIXELS_PER_MB = 4  # the low-resolution luma used by the fallback and the residual: 4x4 pixels per macroblock
_DECODE_ERRORS = (av.error.FFmpegError,)  # a damaged packet is skipped, not fatal


@dataclass(frozen=True)
class MotionResult:
    motion: torch.Tensor | None  # float16 [L, 2, h, w]
    residual: torch.Tensor | None  # float16 [L, 1, h', w']
    source: str  # "motion_vectors" or "frame_difference"


def macroblock_grid(info: VideoInfo) -> tuple[int, int]:
    """(rows, columns) of 16x16 macroblocks covering a frame of ``info``."""
    return math.ceil(info.height / MACROBLOCK), math.ceil(info.width / MACROBLOCK)


def mv_grid(records: np.ndarray, *, rows: int, cols: int) -> np.ndarray:
    """``float32 [2, rows, cols]``: exported motion vectors drawn into a macroblock grid.

    Each record's displacement is ``(motion_x, motion_y) / motion_scale`` (the offset from
    the block to its source in the reference frame). The content moved the other way when
    the reference is in the past (``source < 0``), so past-reference vectors are negated:
    the grid holds the motion of the content forward in time, in pixels, whatever the
    reference direction. Blocks smaller than a macroblock are averaged by area into the
    macroblock holding their centre; macroblocks with no vector (intra) stay 0.
    """
    if len(records) == 0:
        return np.zeros((2, rows, cols), dtype=np.float32)
    scale = np.maximum(records["motion_scale"].astype(np.float32), 1.0)
    direction = np.where(records["source"] > 0, 1.0, -1.0).astype(np.float32)
    dx = direction * records["motion_x"].astype(np.float32) / scale
    dy = direction * records["motion_y"].astype(np.float32) / scale
    row = np.clip(records["dst_y"].astype(np.int64) // MACROBLOCK, 0, rows - 1)
    col = np.clip(records["dst_x"].astype(np.int64) // MACROBLOCK, 0, cols - 1)
    cell = row * cols + col
    area = records["w"].astype(np.float32) * records["h"].astype(np.float32)
    weight = np.bincount(cell, weights=area, minlength=rows * cols)
    sum_x = np.bincount(cell, weights=area * dx, minlength=rows * cols)
    sum_y = np.bincount(cell, weights=area * dy, minlength=rows * cols)
    safe = np.where(weight > 0, weight, 1.0)
    return np.stack([sum_x / safe, sum_y / safe]).reshape(2, rows, cols).astype(np.float32)


def block_motion(previous: np.ndarray, current: np.ndarray, *, radius: int = 3, cell: int = WORK_PIXELS_PER_MB) -> np.ndarray:
    """``float32 [2, rows, cols]``: per-cell displacement (in working pixels) from block matching.

    ``previous`` and ``current`` are ``[H, W]`` float luma at low resolution, ``H`` and
    ``W`` multiples of ``cell``. Every shift within ``radius`` is tried; each cell takes
    the shift with the lowest mean absolute difference, plus a small penalty per pixel
    of shift so that flat or static regions stay at zero.
    """
    height, width = current.shape
    padded = np.pad(previous, radius, mode="edge")
    shifts = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    best_cost = best_dx = best_dy = None
    for dy, dx in shifts:
        # candidate (dy, dx) means current[y, x] ~ previous[y - dy, x - dx]
        moved = padded[radius - dy : radius - dy + height, radius - dx : radius - dx + width]
        cost = pool(np.abs(moved - current), cell) + 0.5 * (abs(dy) + abs(dx))
        if best_cost is None:
            best_cost = cost
            best_dx = np.full(cost.shape, dx, dtype=np.float32)
            best_dy = np.full(cost.shape, dy, dtype=np.float32)
        else:
            better = cost < best_cost
            best_cost = np.where(better, cost, best_cost)
            best_dx[better] = dx
            best_dy[better] = dy
    return np.stack([best_dx, best_dy]).astype(np.float32)


def extract_motion(
    path: str | os.PathLike,
    grid: ClipGrid,
    *,
    info: VideoInfo,
    motion: bool = True,
    residual: bool = False,
    thread_type: str = "SLICE",
) -> MotionResult:
    """Motion (and optionally the residual) of each clip of ``grid``, in one decoding pass.

    Codecs whose decoder exports motion vectors (``info.motion_vectors``) use them
    (``flags2=+export_mvs``, loop filter skipped: the vectors do not depend on it). Others,
    or a decoder that turns out to export none, fall back to block matching between
    consecutive low-resolution luma frames; ``MotionResult.source`` records which.
    ``thread_type`` is the decoder's threading ("SLICE" or "NONE" keep frame output
    order and vectors deterministic; "AUTO"/"FRAME" are faster on multi-core machines).
    """
    if info.motion_vectors:
        result = _motion_pass(path, grid, info=info, use_vectors=True, motion=motion, residual=residual, thread_type=thread_type)
        if result is not None:
            return result
    fallback = _motion_pass(path, grid, info=info, use_vectors=False, motion=motion, residual=residual, thread_type=thread_type)
    assert fallback is not None
    return fallback


def _motion_pass(path, grid: ClipGrid, *, info: VideoInfo, use_vectors: bool, motion: bool, residual: bool, thread_type: str) -> MotionResult | None:
    rows, cols = macroblock_grid(info)
    work_h, work_w = rows * WORK_PIXELS_PER_MB, cols * WORK_PIXELS_PER_MB
    # full-resolution pixels per working pixel, to report the fallback's motion in frame pixels
    scale_x, scale_y = info.width / work_w, info.height / work_h
    need_pixels = residual or not use_vectors
    motion_means = ClipMeans(grid, (2, rows, cols)) if motion else None
    residual_means = ClipMeans(grid, (1, work_h // RESIDUAL_POOL, work_w // RESIDUAL_POOL)) if residual else None
    frames_needed = needed_frames(grid)
    if len(frames_needed) == 0:
        return MotionResult(
            motion_means.finish() if motion_means else None,
            residual_means.finish() if residual_means else None,
            "motion_vectors" if use_vectors else "frame_difference",
        )
    first_needed, last_needed = int(frames_needed[0]), int(frames_needed[-1])
    needed_set = set(frames_needed.tolist())
    pts_to_index = {int(p): i for i, p in enumerate(info.frame_pts)} if info.frame_pts is not None else {}
    inter_frames = vector_frames = 0

    with open_input(path) as container, decoder_messages():
        stream = container.streams.video[0]
        options = {"skip_loop_filter": "all"}
        if use_vectors:
            options["flags2"] = "+export_mvs"
        stream.codec_context.options = options
        stream.thread_type = thread_type
        # start at the keyframe before the first frame that matters (one frame earlier for a "previous")
        start_key = info.keyframe_at_or_before(max(first_needed - 1, 0))
        position = 0
        if start_key > 0 and info.frame_pts is not None:
            container.seek(int(info.frame_pts[start_key]), stream=stream, backward=True, any_frame=False)
            position = start_key
        previous: np.ndarray | None = None
        previous_index = -2
        for frame in _decoded(container, stream):
            index = position
            if (frame.key_frame or index == 0) and frame.pts is not None and frame.pts in pts_to_index:
                index = pts_to_index[frame.pts]  # trust a keyframe's own timestamp to resync
            position = index + 1
            if index > last_needed:
                break
            wanted = (motion_means is not None and motion_means.wants(index)) or (
                residual_means is not None and residual_means.wants(index)
            )
            lowres = None
            if need_pixels and (wanted or index + 1 in needed_set):
                lowres = frame.reformat(width=work_w, height=work_h, format="gray", interpolation="AREA").to_ndarray().astype(np.float32)
            if not wanted:
                previous, previous_index = lowres, index
                continue
            has_previous = previous is not None and previous_index == index - 1
            flow: np.ndarray | None = None  # [2, rows, cols] in frame pixels, None for an intra frame
            if use_vectors:
                side = frame.side_data.get("MOTION_VECTORS")
                if not frame.key_frame and frame.pict_type != av.video.frame.PictureType.I:
                    inter_frames += 1
                if side is not None:
                    vector_frames += 1
                    flow = mv_grid(side.to_ndarray(), rows=rows, cols=cols)
            elif has_previous:
                flow = block_motion(previous, lowres)
                flow[0] *= scale_x
                flow[1] *= scale_y
            if motion_means is not None:
                motion_means.add(index, flow)
            if residual_means is not None:
                value = None
                if flow is not None and has_previous:
                    work_flow = np.stack([flow[0] / scale_x, flow[1] / scale_y])
                    value = residual_map(previous, lowres, work_flow)
                residual_means.add(index, value)
            previous, previous_index = lowres, index

    if use_vectors and vector_frames == 0 and inter_frames > 0:
        return None  # the decoder exported nothing: let the caller fall back to frame differences
    return MotionResult(
        motion_means.finish() if motion_means else None,
        residual_means.finish() if residual_means else None,
        "motion_vectors" if use_vectors else "frame_difference",
    )


def _decoded(container, stream):
    """Frames in display order; packets that fail to decode are skipped, not fatal."""
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except _DECODE_ERRORS:
                continue
    except av.error.FFmpegError:
        return  # a truncated file: stop at what could be read
