"""Motion per clip: the decoder's exported motion vectors, or block matching as a fallback.

One decoding pass yields, per frame, a (dx, dy) grid at macroblock resolution (and,
when asked, the residual approximation of :mod:`scsampler.signals.residual`); the
per-frame grids are averaged over each clip's frames as they stream by. The same pass can
also keep each clip's middle frame (:mod:`scsampler.signals.clipframes`).

By default only P-frames contribute vectors (as in CoViAR, whose accumulated motion is
defined on P-frames): the decoder then skips B-frames altogether (``skip_frame="BIDIR"``),
which the vectors of the frames it does decode do not depend on (vectors are parsed from
the bitstream, not derived from pixels). This removes more than a third of the decoding on
streams with B-frames and changes nothing on streams without them. Skipped frames leave
no trace, so the decoded ones are placed by their timestamps; containers that stamp frames
in decoding order (AVI) decode the B-frames and drop their vectors instead. When the pass also
keeps clip frames, it skips only non-reference frames (``skip_frame="NONREF"``): B-frames that
other frames are predicted from must be decoded for those frames' pixels to be right, and the
P-frames decoded, hence the motion, stay the same. ``frames="all"``
averages every inter-coded frame instead.

With ``step`` S, a clip's motion is the mean over fewer P-frames: the first P-frame of each run of S
frames (frames 0..S-1, S..2S-1, ...; with 16-frame clips and S=8, about two per clip), among the frames
the clips hold (the gaps of a strided grid are not decoded at all). Where the
packets' picture types can be read before decoding (:mod:`scsampler.signals.packet_types`: H.264 in
containers with presentation timestamps), the decoder is handed only
those P-frames' packets and the keyframes: a P-frame's vectors are parsed from its own bitstream, so
they are the same whether or not the frames between were decoded (tested against the full pass, which
other codecs and containers take, keeping the same frames). On the 5-minute benchmark video the pass
then decodes about a seventh of the P-frames. Exported vectors are gridded for many frames
at once (one ``bincount`` per batch of frames), not frame by frame.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from scsampler.errors import UsageError, VideoError
from scsampler.signals._clips import ClipMeans, needed_frames
from scsampler.signals._threads import one_torch_thread, run_side_by_side, side_by_side_threads
from scsampler.signals.clipframes import ClipFrames
from scsampler.signals.keyframes import KeyframeImages
from scsampler.signals.packet_types import packet_picture_type_reader
from scsampler.signals.residual import RESIDUAL_POOL, pool, residual_map
from scsampler.types import ClipGrid, VideoInfo
from scsampler.video._container import open_input

__all__ = [
    "extract_motion",
    "MotionResult",
    "mv_grid",
    "mv_grids",
    "block_motion",
    "MACROBLOCK",
    "WORK_PIXELS_PER_MB",
    "MOTION_FRAMES",
    "check_motion_step",
]

MACROBLOCK = 16  # pixels per macroblock side (H.264, MPEG-2/4)
WORK_PIXELS_PER_MB = 4  # the low-resolution luma used by the fallback and the residual: 4x4 pixels per macroblock
_DECODE_ERRORS = (av.error.FFmpegError,)  # a damaged packet is skipped, not fatal
#: Which inter-coded frames' vectors make a clip's motion: "p_frames" (CoViAR) or "all" (P and B).
MOTION_FRAMES = ("p_frames", "all")
#: A step (frames per P-frame kept) at most this long: a clip's motion from fewer frames than that says little.
MAX_MOTION_STEP = 256
_BATCH_RECORDS = 1 << 18  # exported vectors gridded together (a reused 10 MB buffer)
_BATCH_FRAMES = 256
_SEGMENT_CLIPS = 64  # clips at least per stretch of a pass split across threads (_segments)
_SEGMENTS_PER_THREAD = 2
# container formats (FFmpeg names) whose timestamps give each frame's display position
_PRESENTATION_TIMESTAMPED = {"mov", "mp4", "matroska", "webm", "mpegts", "flv"}
# containers whose index puts a seek on the keyframe asked for (MPEG-TS seeks by bytes and may land past it)
_SEEKS_TO_KEYFRAMES = {"mov", "mp4"}


@dataclass(frozen=True)
class MotionResult:
    motion: torch.Tensor | None  # float16 [L, 2, h, w]
    residual: torch.Tensor | None  # float16 [L, 1, h', w']
    source: str  # "motion_vectors" or "frame_difference"
    clipframe: torch.Tensor | None = None  # uint8 [L, 3, H, W] (scsampler.signals.clipframes)
    iframe: torch.Tensor | None = None  # uint8 [L, 3, H, W] (scsampler.signals.keyframes), when asked and vectors served


def check_motion_step(step: object, *, frames: str = "p_frames") -> int | None:
    """``step`` as an int in 1..MAX_MOTION_STEP, or None (every P-frame); a UsageError otherwise, or when
    ``frames`` (the motion's frames, :data:`MOTION_FRAMES`) is not P-frames only, which a step keeps."""
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 1 <= step <= MAX_MOTION_STEP:
        raise UsageError(f"the motion step must be a whole number of frames from 1 to {MAX_MOTION_STEP} (or None), got {step!r}.")
    if frames != "p_frames":
        raise UsageError(f"a motion step keeps P-frames only: it needs the motion frames 'p_frames', got {frames!r}.")
    return int(step)


class _FirstPFrameEachStep:
    """Keeps the first P-frame of each run of ``step`` frames: frames arrive in display order."""

    def __init__(self, step: int) -> None:
        self.step, self._run = step, -1

    def taken(self, index: int) -> bool:
        """Whether the run of frame ``index`` has had its P-frame (frames come in display order)."""
        return index // self.step == self._run

    def take(self, index: int) -> bool:
        """Whether frame ``index``, a P-frame, is its run's first (and from now on its run is taken)."""
        if self.taken(index):
            return False
        self._run = index // self.step
        return True


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
    return mv_grids([records], rows=rows, cols=cols)[0]


def mv_grids(frames: Sequence[np.ndarray], *, rows: int, cols: int) -> np.ndarray:
    """``float32 [F, 2, rows, cols]``: :func:`mv_grid` of each frame's records, in one pass.

    The records of all frames are concatenated and reduced with one ``bincount`` keyed by
    (frame, macroblock), so the cost per frame is a few array slices, not a dozen NumPy calls.
    """
    counts = np.fromiter((len(r) for r in frames), dtype=np.int64, count=len(frames))
    if counts.sum() == 0:
        return np.zeros((len(frames), 2, rows, cols), dtype=np.float32)
    return _grid_records(np.concatenate(frames), counts, rows=rows, cols=cols)


def _grid_records(records: np.ndarray, counts: np.ndarray, *, rows: int, cols: int) -> np.ndarray:
    """:func:`mv_grids` of ``records``, the concatenated records of frames holding ``counts`` each."""
    cells = rows * cols
    frames = len(counts)
    # floor division by 16 as an arithmetic shift (int16 stays int16; negatives stay below 0)
    row = np.clip(records["dst_y"] >> 4, 0, rows - 1).astype(np.int32)
    col = np.clip(records["dst_x"] >> 4, 0, cols - 1).astype(np.int32)
    key = np.repeat(np.arange(frames, dtype=np.int32) * cells, counts)
    key += row * np.int32(cols)
    key += col
    area = records["w"].astype(np.float32) * records["h"]
    # area * direction / motion_scale: the weight of motion_x and motion_y in the area-weighted sum
    per_unit = area / np.maximum(records["motion_scale"], 1)
    per_unit[records["source"] <= 0] *= -1.0  # a past reference: the content moved the other way
    size = frames * cells
    weight = np.bincount(key, weights=area, minlength=size)
    sum_x = np.bincount(key, weights=per_unit * records["motion_x"], minlength=size)
    sum_y = np.bincount(key, weights=per_unit * records["motion_y"], minlength=size)
    safe = np.where(weight > 0, weight, 1.0)
    grids = np.stack([sum_x / safe, sum_y / safe], axis=1)  # [F * cells, 2]
    return grids.reshape(frames, rows, cols, 2).transpose(0, 3, 1, 2).astype(np.float32)


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
    thread_type: str = "NONE",
    frames: str = "p_frames",
    clipframe_size: tuple[int, int] | None = None,
    iframe_size: tuple[int, int] | None = None,
    shrink: Mapping[str, int] | None = None,
    step: int | None = None,
) -> MotionResult:
    """Motion (and optionally the residual and the clip frames) of each clip of ``grid``, in one decoding pass.

    Codecs whose decoder exports motion vectors (``info.motion_vectors``) use them
    (``flags2=+export_mvs``, loop filter skipped: the vectors do not depend on it). Others,
    or a decoder that turns out to export none, fall back to block matching between
    consecutive low-resolution luma frames; ``MotionResult.source`` records which.
    ``frames`` picks the frames whose vectors are averaged: ``"p_frames"`` (B-frames are
    not even decoded, unless the residual needs them) or ``"all"`` inter-coded frames; the
    fallback always uses every frame. ``thread_type`` is the decoder's threading: "NONE"
    (the default: the least CPU time) or "SLICE" (less wall time, more CPU) give identical,
    deterministic vectors; "AUTO"/"FRAME" are faster on idle multi-core machines.
    ``clipframe_size`` (h, w) also takes each clip's frame from the same pass
    (:mod:`scsampler.signals.clipframes`); with neither ``motion`` nor ``residual`` the pass
    exports no vectors and only decodes (B-frames skipped where the container allows).
    ``iframe_size`` (h, w) also takes each clip's I-frame from the pass (``MotionResult.iframe``,
    the same pixels as :func:`~scsampler.signals.keyframes.extract_iframes`: keyframes keep
    their loop filter) when motion vectors serve and neither the residual nor the clip frames are
    asked, whose pixels are those of a pass without any loop filter; otherwise ``iframe`` is None.
    ``shrink`` (``{"iframe": s, "clipframe": s}``, either optional) shrinks those images to s x s as they
    are taken (:mod:`scsampler.signals.shrink`).
    ``step`` (frames; with ``frames="p_frames"`` only) averages only the first P-frame of each run of
    ``step`` frames, and decodes little more than those where their packets can be told apart (see the
    module docstring); the frame-difference fallback ignores it.
    """
    if frames not in MOTION_FRAMES:
        raise UsageError(f"motion frames must be one of {', '.join(MOTION_FRAMES)}, got {frames!r}.")
    step = check_motion_step(step, frames=frames)
    options = dict(
        motion=motion, residual=residual, thread_type=thread_type, p_frames=frames == "p_frames", clipframe_size=clipframe_size,
        shrink=dict(shrink or {}),
    )  # fmt: skip
    if iframe_size is not None and not residual and clipframe_size is None:
        options["iframe_size"] = iframe_size
    segments = _segments(grid, info=info, step=step, **options)
    if len(segments) > 1:
        # the frame index of each timestamp, built once for all stretches (108,000 frames in an hour: 21 ms)
        shared = dict(options, pts_to_index={int(p): i for i, p in enumerate(info.frame_pts)})
        tasks = [functools.partial(_motion_one_pass, path, grid.take(part), info=info, step=step, options=shared) for part in segments]
        try:
            joined = _joined(run_side_by_side(tasks))
        except VideoError:
            joined = None  # a damaged stretch: the pass over the whole decides, as without segments
        if joined is not None:
            return joined
    return _motion_one_pass(path, grid, info=info, step=step, options=options)


def _motion_one_pass(path, grid: ClipGrid, *, info: VideoInfo, step: int | None, options: dict) -> MotionResult:
    """:func:`extract_motion` in one pass over ``grid`` (or two, when the decoder exports no vectors)."""
    options = dict(options)
    # one intra-op thread for the passes' small tensor work (each image shrunk as it is taken): a pool's
    # workers spin between such calls, a core's worth of CPU taken from whatever runs beside
    with one_torch_thread():
        if info.motion_vectors:
            try:
                result = _motion_pass(path, grid, info=info, use_vectors=True, skip_b_frames=True, step=step, **options)
            except _Unplaced:  # frames without a known timestamp: decode them all and count instead
                result = _motion_pass(path, grid, info=info, use_vectors=True, skip_b_frames=False, step=step, **options)
            if result is not None:
                return result
        options.pop("iframe_size", None)  # the fallback's pixels: I-frames come from their own pass
        fallback = _motion_pass(path, grid, info=info, use_vectors=False, skip_b_frames=False, **options)
    assert fallback is not None
    return fallback


def _segments(
    grid: ClipGrid, *, info: VideoInfo, step: int | None, motion: bool, residual: bool, p_frames: bool,
    clipframe_size: tuple[int, int] | None, **_: object,
) -> list[slice]:
    """The stretches of ``grid`` whose passes run side by side (:func:`run_side_by_side`); one when they should not.

    Only where the pass hands the decoder its chosen packets alone (a motion step on H.264, without residual
    or clip frames) in an MP4/MOV, whose index makes a seek land on the keyframe asked for (in MPEG-TS it
    may land past it, and a stretch lost its first frames): a stretch's pass then seeks to its keyframe and
    decodes that and its own chosen P-frames, whose vectors do not depend on what was decoded before, so
    the stretches give the bits of the one pass (tested). Each stretch starts at a clip beginning on a
    multiple of ``step`` (runs of ``step`` frames are not cut) and after every earlier clip's last frame
    (no frame is shared). A pass costs 10-15 ms to start (open, seek, a keyframe), so a stretch holds at
    least ``_SEGMENT_CLIPS`` clips, and there are two per thread the pass may use now, none on one thread:
    the stretches' CPU is the one pass's and more, so they pay only where a thread would otherwise idle (a
    composite's part on two cores has one thread while the other part runs, and ran slower split; where
    parts have two or more, the part that ends first takes the stretches the other still has waiting).
    """
    if not (
        motion and p_frames and step is not None and not residual and clipframe_size is None and info.motion_vectors
        and packet_picture_type_reader(info.codec, None) is not None and info.frame_pts is not None
        and set(info.container.split(",")) & _SEEKS_TO_KEYFRAMES
    ):  # fmt: skip
        return [slice(0, len(grid))]
    threads = side_by_side_threads()
    count = min(_SEGMENTS_PER_THREAD * threads, len(grid) // _SEGMENT_CLIPS)
    if threads < 2 or count < 2:
        return [slice(0, len(grid))]
    starts = np.asarray(grid.start_frame, dtype=np.int64)
    ends_before = np.maximum.accumulate(np.asarray(grid.end_frame, dtype=np.int64))  # the last frame + 1 up to each clip
    can_start = (starts % step == 0) & np.concatenate([[True], ends_before[:-1] <= starts[1:]])
    bounds = [0]  # increasing, each the first clip from its target on that a stretch can start at
    for target in (round(k * len(grid) / count) for k in range(1, count)):
        first = max(target, bounds[-1] + 1)
        candidates = np.flatnonzero(can_start[first:])
        if len(candidates):
            bounds.append(first + int(candidates[0]))
    bounds.append(len(grid))
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _joined(results: Sequence[MotionResult]) -> MotionResult | None:
    """The stretches' results as one; None when they disagree on the motion's source (the one pass decides)."""
    if len({result.source for result in results}) != 1:
        return None

    def cat(name: str) -> torch.Tensor | None:
        parts = [getattr(result, name) for result in results]
        return None if any(part is None for part in parts) else torch.cat(parts)

    return MotionResult(cat("motion"), cat("residual"), results[0].source, cat("clipframe"), cat("iframe"))


class _Unplaced(Exception):
    """A decoded frame could not be placed by its timestamp while frames were being skipped."""


class _VectorBatch:
    """Per-frame vector records gridded in batches (:func:`mv_grids`), then added in frame order.

    Records are copied on arrival into one reused buffer: PyAV's array is a view that
    keeps the whole decoded frame alive, and holding a batch of frames would cost far more
    memory (and page faults) than the copy. The copy is of raw bytes: assigning a structured
    array field by field took twice as long as decoding the P-frames' vectors did.
    """

    def __init__(self, means: ClipMeans, *, rows: int, cols: int) -> None:
        self.means, self.rows, self.cols = means, rows, cols
        self._pending: list[tuple[int, int]] = []  # (frame, records held; -1: none)
        self._buffer: np.ndarray | None = None  # uint8, whole records of ``self._dtype``
        self._dtype: np.dtype | None = None
        self._held = 0  # records in the buffer

    def add(self, frame: int, records: np.ndarray | None) -> None:
        if records is None:
            if not self._pending:
                self.means.add(frame, None)
            else:
                self._pending.append((frame, -1))
            return
        if self._dtype != records.dtype:
            self.flush()
            self._dtype = records.dtype
            self._buffer = np.empty(_BATCH_RECORDS * records.dtype.itemsize, dtype=np.uint8)
        size = records.dtype.itemsize
        if (self._held + len(records)) * size > len(self._buffer):
            self.flush()
            if len(records) * size > len(self._buffer):
                self._buffer = np.empty(len(records) * size, dtype=np.uint8)
        raw = np.ascontiguousarray(records).view(np.uint8)
        self._buffer[self._held * size : self._held * size + len(raw)] = raw
        self._held += len(records)
        self._pending.append((frame, len(records)))
        if len(self._pending) >= _BATCH_FRAMES:
            self.flush()

    def flush(self) -> None:
        counts = np.array([count for _, count in self._pending if count >= 0], dtype=np.int64)
        grids = iter(())
        if len(counts):
            records = self._buffer[: self._held * self._dtype.itemsize].view(self._dtype)
            grids = iter(_grid_records(records, counts, rows=self.rows, cols=self.cols))
        for frame, count in self._pending:
            self.means.add(frame, None if count < 0 else next(grids))
        self._pending, self._held = [], 0


def _motion_pass(
    path,
    grid: ClipGrid,
    *,
    info: VideoInfo,
    use_vectors: bool,
    motion: bool,
    residual: bool,
    thread_type: str,
    p_frames: bool,
    skip_b_frames: bool,
    clipframe_size: tuple[int, int] | None = None,
    iframe_size: tuple[int, int] | None = None,
    shrink: Mapping[str, int],
    step: int | None = None,
    pts_to_index: Mapping[int, int] | None = None,
) -> MotionResult | None:
    rows, cols = macroblock_grid(info)
    work_h, work_w = rows * WORK_PIXELS_PER_MB, cols * WORK_PIXELS_PER_MB
    # full-resolution pixels per working pixel, to report the fallback's motion in frame pixels
    scale_x, scale_y = info.width / work_w, info.height / work_h
    need_pixels = residual or (motion and not use_vectors)  # low-resolution luma (clip frames need none)
    export_vectors = use_vectors and (motion or residual)  # a pass for clip frames alone only decodes
    p_frames = p_frames and use_vectors  # the fallback compares consecutive frames, whatever their type
    # B-frames are not decoded when nothing needs them and every frame can be placed by its timestamp
    skip_b_frames = skip_b_frames and p_frames and not need_pixels and info.frame_pts is not None
    motion_means = ClipMeans(grid, (2, rows, cols)) if motion else None
    residual_means = ClipMeans(grid, (1, work_h // RESIDUAL_POOL, work_w // RESIDUAL_POOL)) if residual else None
    clip_frames = ClipFrames(grid, clipframe_size, shrink=shrink.get("clipframe")) if clipframe_size is not None else None
    keyframes = KeyframeImages(info, grid, iframe_size, shrink=shrink.get("iframe")) if iframe_size is not None else None
    source = "motion_vectors" if use_vectors else "frame_difference"
    frames_needed = needed_frames(grid)
    if len(frames_needed) == 0:
        return MotionResult(
            motion_means.finish() if motion_means else None,
            residual_means.finish() if residual_means else None,
            source,
            clip_frames.finish(path) if clip_frames else None,
            keyframes.finish(path) if keyframes else None,
        )
    first_needed, last_needed = int(frames_needed[0]), int(frames_needed[-1])
    needed_mask = np.zeros(last_needed + 2, dtype=bool)  # a frame a clip holds (a set of every frame costs MBs)
    needed_mask[frames_needed] = True
    if pts_to_index is None:
        pts_to_index = {int(p): i for i, p in enumerate(info.frame_pts)} if info.frame_pts is not None else {}
    # without pixels to warp, vectors are gridded many frames at a time
    batch = _VectorBatch(motion_means, rows=rows, cols=cols) if use_vectors and motion_means and not residual else None
    vector_type_frames = vector_frames = 0  # frames that should carry vectors, and those that did
    picture_type = av.video.frame.PictureType
    gray = VideoReformatter()  # one scaler for the pass; frame.reformat builds one per frame
    kept_p_frames = _FirstPFrameEachStep(step) if step is not None and use_vectors and p_frames else None

    with open_input(path) as container:
        stream = container.streams.video[0]
        # no loop filter: the vectors do not depend on it; I-frames taken here keep theirs (on keyframes only)
        options = {"skip_loop_filter": "nokey" if keyframes is not None else "all"}
        if export_vectors:
            options["flags2"] = "+export_mvs"
        stream.codec_context.options = options
        # AVI and other formats without presentation timestamps stamp frames in decoding
        # order, so frames cannot be placed by timestamp once B-frames are skipped
        skip_b_frames = skip_b_frames and bool(set(container.format.name.split(",")) & _PRESENTATION_TIMESTAMPED)
        if skip_b_frames:
            # B-frames can be references (x264's B-pyramid): skipping them leaves vectors intact but
            # corrupts the pixels predicted from them, so clip frames skip only non-reference frames
            # (the levels nest: BIDIR discards every non-reference frame too, so the P-frames are the same)
            stream.codec_context.skip_frame = "NONREF" if clip_frames is not None else "BIDIR"
        stream.thread_type = thread_type
        keep_packet = None
        if kept_p_frames is not None and skip_b_frames and clip_frames is None and residual_means is None:
            keep_packet = _PacketChooser(stream, step, pts_to_index, needed=needed_mask)
        # start at the keyframe before the first frame that matters (one frame earlier for a "previous")
        start_key = info.keyframe_at_or_before(max(first_needed - 1, 0))
        position = 0
        if start_key > 0 and info.frame_pts is not None:
            container.seek(int(info.frame_pts[start_key]), stream=stream, backward=True, any_frame=False)
            position = start_key
        previous: np.ndarray | None = None
        previous_index = -2
        decoded_any = False
        for frame in _decoded(container, stream, keep=keep_packet):
            decoded_any = True
            index = position
            if skip_b_frames:  # skipped frames leave no trace: every frame is placed by its timestamp
                if frame.pts is None or frame.pts not in pts_to_index:
                    raise _Unplaced
                index = pts_to_index[frame.pts]
            elif (frame.key_frame or index == 0) and frame.pts is not None and frame.pts in pts_to_index:
                index = pts_to_index[frame.pts]  # trust a keyframe's own timestamp to resync
            position = index + 1
            if index > last_needed:
                break
            if keyframes is not None and index in keyframes.needed:
                keyframes.add(index, frame)
            if clip_frames is not None and frame.pict_type != picture_type.B:
                clip_frames.add(index, frame)  # B-frames never serve: the pass skips them where it can
            wanted = (motion_means is not None and motion_means.wants(index)) or (
                residual_means is not None and residual_means.wants(index)
            )
            lowres = None
            if need_pixels and (wanted or needed_mask[min(index + 1, last_needed + 1)]):
                lowres = gray.reformat(frame, width=work_w, height=work_h, format="gray", interpolation="AREA").to_ndarray().astype(np.float32)
            if not wanted:
                previous, previous_index = lowres, index
                continue
            has_previous = previous is not None and previous_index == index - 1
            flow: np.ndarray | None = None  # [2, rows, cols] in frame pixels, None for an intra frame
            counted = True  # whether this frame's flow enters the clip's motion
            if use_vectors:
                kind = frame.pict_type
                inter = not frame.key_frame and kind != picture_type.I
                counted = inter and not (p_frames and kind == picture_type.B)
                if counted and kept_p_frames is not None:
                    counted = kept_p_frames.take(index)
                vector_type_frames += counted
                # a B-frame's vectors still serve the residual when it is asked for
                side = frame.side_data.get("MOTION_VECTORS") if counted or (inter and residual_means is not None) else None
                records = side.to_ndarray() if side is not None else None
                vector_frames += counted and records is not None
                if batch is not None:
                    batch.add(index, records)
                elif records is not None:
                    flow = mv_grid(records, rows=rows, cols=cols)
            elif has_previous:
                flow = block_motion(previous, lowres)
                flow[0] *= scale_x
                flow[1] *= scale_y
            if batch is None and motion_means is not None:
                motion_means.add(index, flow if counted else None)
            if residual_means is not None:
                value = None
                if flow is not None and has_previous:
                    work_flow = np.stack([flow[0] / scale_x, flow[1] / scale_y])
                    value = residual_map(previous, lowres, work_flow)
                residual_means.add(index, value)
            previous, previous_index = lowres, index
        if batch is not None:
            batch.flush()

    if not decoded_any:  # zeros would pass for "no motion": a file of which nothing decodes is an error
        where = "" if start_key == 0 else f" from frame {start_key} on"
        raise VideoError(path, f"none of its frames{where} could be decoded (damaged or unsupported video data).")
    if use_vectors and vector_frames == 0 and vector_type_frames > 0:
        return None  # the decoder exported nothing: let the caller fall back to frame differences
    return MotionResult(
        motion_means.finish() if motion_means else None,
        residual_means.finish() if residual_means else None,
        source,
        clip_frames.finish(path) if clip_frames else None,
        keyframes.finish(path) if keyframes else None,
    )


class _PacketChooser:
    """Which packets the decoder is handed when only the first P-frame of each run of ``step`` frames serves.

    Keyframes and packets of an unknown type or position are always decoded (the frames' own types then
    decide, as in the full pass); B-frames and other I-frames never; a P-frame when it is the first of its
    run. P-frames are decoded in display order, so this is the rule the pass applies to the decoded frames.
    Frames that no clip holds (``needed``, by frame index: the gaps of a strided grid) are not decoded at
    all: a run without a clip's frame leaves the others' choices unchanged.
    """

    def __init__(self, stream, step: int, pts_to_index: Mapping[int, int], *, needed: np.ndarray) -> None:
        context = stream.codec_context
        self._read = packet_picture_type_reader(context.name, context.extradata)
        self._first = _FirstPFrameEachStep(step)
        self._pts_to_index = pts_to_index
        self._needed = needed  # bool per frame index, up to one past the last frame a clip holds

    def __call__(self, packet) -> bool:
        if self._read is None or packet.size == 0 or packet.is_keyframe:
            return True  # (an empty packet flushes the decoder)
        index = self._pts_to_index.get(packet.pts) if packet.pts is not None else None
        if index is None or index >= len(self._needed) - 1:
            return True  # (a frame past the last clip ends the pass)
        if not self._needed[index]:
            return False
        if self._first.taken(index):
            return False  # its run has its P-frame: whatever this packet is, it is not needed (no header read)
        kind = self._read(memoryview(packet))
        if kind is None:
            return True
        return kind == "P" and self._first.take(index)


def _decoded(container, stream, *, keep=None):
    """Frames in display order; packets that fail to decode are skipped, not fatal.

    ``keep(packet)``, when given, says which packets the decoder is handed.
    """
    try:
        for packet in container.demux(stream):
            if keep is not None and not keep(packet):
                continue
            try:
                yield from packet.decode()
            except _DECODE_ERRORS:
                continue
    except av.error.FFmpegError:
        return  # a truncated file: stop at what could be read
