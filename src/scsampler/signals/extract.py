"""``extract_signals``: the cheap signals of a video's clips, one streaming pass per signal."""

from __future__ import annotations

import os
from typing import Iterable, Mapping

import torch
import torch.nn.functional as F

from scsampler.errors import UsageError
from scsampler.signals.audio import AUDIO_WINDOWS, extract_audio
from scsampler.signals.cache import cache_key, load_entry, save_entry
from scsampler.signals.keyframes import extract_iframes
from scsampler.signals.motion import MOTION_FRAMES, check_motion_step, extract_motion
from scsampler.signals.shrink import check_shrink
from scsampler.signals.types import MEL_FRAMES, SIGNAL_NAMES, ClipSignals
from scsampler.types import ClipGrid, VideoInfo
from scsampler.video import probe

__all__ = ["extract_signals", "parse_signal_names", "DEFAULT_SIGNALS", "IMAGE_SIZE"]

DEFAULT_SIGNALS = ("iframe", "motion", "audio")
IMAGE_SIZE = (112, 112)  # (h, w) of the I-frames and clip frames unless asked otherwise
_ALIASES = {
    "mv": "motion",
    "mvs": "motion",
    "keyframe": "iframe",
    "i-frame": "iframe",
    "clip-frame": "clipframe",
    "clip_frame": "clipframe",
}


def parse_signal_names(signals: str | Iterable[str]) -> tuple[str, ...]:
    """Canonical signal names from ``"iframe,mv"`` or an iterable; ``mv`` means ``motion``."""
    items = signals.split(",") if isinstance(signals, str) else list(signals)
    names: list[str] = []
    for item in items:
        name = _ALIASES.get(str(item).strip().lower(), str(item).strip().lower())
        if not name:
            continue
        if name not in SIGNAL_NAMES:
            raise UsageError(
                f"unknown signal {item!r}; choose from {', '.join(SIGNAL_NAMES)} (mv is an alias of motion), "
                "for example --signals iframe,motion,audio."
            )
        if name not in names:
            names.append(name)
    if not names:
        raise UsageError(f"no signal requested (got {signals!r}); choose from {', '.join(SIGNAL_NAMES)}.")
    return tuple(names)


def extract_signals(
    path: str | os.PathLike,
    grid: ClipGrid,
    *,
    signals: str | Iterable[str] = DEFAULT_SIGNALS,
    info: VideoInfo | None = None,
    iframe_size: tuple[int, int] = IMAGE_SIZE,
    motion_size: tuple[int, int] | None = None,
    mel_frames: int = MEL_FRAMES,
    cache_dir: str | os.PathLike | None = None,
    thread_type: str = "NONE",
    motion_frames: str = "p_frames",
    clipframe_size: tuple[int, int] = IMAGE_SIZE,
    audio_window: str = "clip",
    shrink: Mapping[str, int] | None = None,
    motion_step: int | None = None,
) -> ClipSignals:
    """The requested cheap signals of every clip of ``grid`` (see :class:`ClipSignals`).

    ``signals`` names any of ``iframe``, ``motion`` (alias ``mv``), ``residual``, ``audio``
    and ``clipframe``; the others stay None. Each signal is one streaming pass over the file
    (motion, residual and clipframe share theirs: the clip frames asked with motion cost no
    second decode; the I-frames come from the motion pass too when motion vectors serve and
    neither residual nor clipframe is asked), holding only the frames and samples of the clips
    in progress.
    ``audio_window`` is the log-MEL's window (``clip`` or ``centred-2s``, see
    :mod:`scsampler.signals.audio`). ``clipframe_size`` (h, w) is the size of the clip frames (see
    :mod:`scsampler.signals.clipframes`). ``motion_size`` (h, w) pools the native macroblock
    grid to a fixed size (adaptive average); None keeps it. ``motion_frames`` picks the frames whose
    vectors make a clip's motion: ``"p_frames"`` (CoViAR's choice; B-frames are then not
    decoded at all, which makes the pass much cheaper) or ``"all"`` inter-coded frames.
    ``motion_step`` S (frames) keeps only the first P-frame of each run of S frames, whose packets alone
    are then decoded where the codec allows (:func:`~scsampler.signals.motion.extract_motion`); None
    keeps every P-frame.
    ``thread_type`` is the motion pass's decoder threading (see
    :func:`~scsampler.signals.motion.extract_motion`; "NONE" spends the least CPU).
    ``shrink`` (``{"iframe": s, "clipframe": s}``, either optional) shrinks those images further, to s x s,
    as they are taken (:mod:`scsampler.signals.shrink`: the same bits as shrinking the whole tensor after,
    in a fraction of its memory); a sampler network asks for its own input size this way.
    ``cache_dir`` stores each signal on disk,
    keyed by the file's path, size and modification time, the grid, and the parameters;
    a hit returns the stored tensors without touching the video.

    Raises:
        VideoError: the file cannot be read.
        UsageError: an unknown signal, a bad size, or a grid made for another video.
    """
    names = parse_signal_names(signals)
    if len(iframe_size) != 2 or min(iframe_size) < 1:
        raise UsageError(f"iframe_size must be (height, width) with positive values, got {iframe_size!r}.")
    if len(clipframe_size) != 2 or min(clipframe_size) < 1:
        raise UsageError(f"clipframe_size must be (height, width) with positive values, got {clipframe_size!r}.")
    if motion_size is not None and (len(motion_size) != 2 or min(motion_size) < 1):
        raise UsageError(f"motion_size must be (height, width) with positive values or None, got {motion_size!r}.")
    if mel_frames != MEL_FRAMES:
        raise UsageError(f"mel_frames must be {MEL_FRAMES} (the audio sampler's input), got {mel_frames!r}.")
    if motion_frames not in MOTION_FRAMES:
        raise UsageError(f"motion_frames must be one of {', '.join(MOTION_FRAMES)}, got {motion_frames!r}.")
    motion_step = check_motion_step(motion_step, frames=motion_frames)  # before the cache, which a hit would skip
    shrink = {name: check_shrink(size) for name, size in (shrink or {}).items() if size is not None}
    if set(shrink) - {"iframe", "clipframe"}:
        raise UsageError(f"shrink applies to iframe and clipframe only, got {sorted(shrink)}.")
    if audio_window not in AUDIO_WINDOWS:
        raise UsageError(f"audio_window must be one of {', '.join(AUDIO_WINDOWS)}, got {audio_window!r}.")
    if thread_type not in ("NONE", "SLICE", "FRAME", "AUTO"):
        raise UsageError(f"thread_type must be NONE, SLICE, FRAME or AUTO, got {thread_type!r}.")
    info = info if info is not None else probe(path)
    if grid.video_frames != info.frames:
        raise UsageError(
            f"the clip grid was made for a video of {grid.video_frames} frames, but {path} has {info.frames}; "
            "build the grid from this video's probe()."
        )
    params = {
        "iframe": {"size": list(iframe_size)} | ({"shrink": shrink["iframe"]} if "iframe" in shrink else {}),
        "motion": {"size": list(motion_size) if motion_size else None, "frames": motion_frames}
        | ({} if motion_step is None else {"step": motion_step}),
        "residual": {},
        # the window enters the key only when it is not the clip's own (older caches stay valid)
        "audio": {"mel_frames": mel_frames} | ({} if audio_window == "clip" else {"window": audio_window}),
        # the selection rule and decoding are part of the key: change "rule" when they change
        "clipframe": {"size": list(clipframe_size), "rule": "middle-non-b-no-loop-filter"}
        | ({"shrink": shrink["clipframe"]} if "clipframe" in shrink else {}),
    }
    found: dict[str, dict] = {}
    keys: dict[str, str] = {}
    for name in names:
        if cache_dir is not None:
            keys[name] = cache_key(path, grid, name, params[name])
            entry = load_entry(cache_dir, name, keys[name])
            if entry is not None:
                found[name] = entry

    def store(name: str, tensor: torch.Tensor | None, meta: dict) -> None:
        found[name] = {"tensor": tensor, "meta": meta}
        if cache_dir is not None:
            save_entry(cache_dir, name, keys[name], tensor=tensor, meta=meta)

    want_iframe = "iframe" in names and "iframe" not in found
    want_motion = "motion" in names and "motion" not in found
    want_residual = "residual" in names and "residual" not in found
    want_clipframe = "clipframe" in names and "clipframe" not in found
    if want_motion or want_residual or want_clipframe:
        result = extract_motion(
            path,
            grid,
            info=info,
            motion=want_motion,
            residual=want_residual,
            thread_type=thread_type,
            frames=motion_frames,
            clipframe_size=tuple(clipframe_size) if want_clipframe else None,
            # the motion pass decodes the keyframes anyway: where it can, the I-frames come from it
            iframe_size=tuple(iframe_size) if want_iframe else None,
            shrink=shrink,
            step=motion_step,
        )
        if want_iframe and result.iframe is not None:
            store("iframe", result.iframe, {})
            want_iframe = False
        if want_motion:
            motion = result.motion
            if motion_size is not None:
                motion = F.adaptive_avg_pool2d(motion.float(), tuple(motion_size)).to(torch.float16)
            store("motion", motion, {"source": result.source})
        if want_residual:
            store("residual", result.residual, {"source": result.source})
        if want_clipframe:
            store("clipframe", result.clipframe, {})
    if want_iframe:
        store("iframe", extract_iframes(path, grid, info=info, size=tuple(iframe_size), shrink=shrink.get("iframe")), {})
    if "audio" in names and "audio" not in found:
        audio = extract_audio(path, grid, info=info, n_frames=mel_frames, window=audio_window)
        store("audio", audio.mel, {"absent_reason": audio.absent_reason})

    def tensor(name: str) -> torch.Tensor | None:
        return found[name]["tensor"] if name in found else None

    return ClipSignals(
        path=os.fspath(path),
        grid=grid,
        iframe=tensor("iframe"),
        motion=tensor("motion"),
        motion_source=found["motion"]["meta"]["source"] if "motion" in found else None,
        residual=tensor("residual"),
        audio=tensor("audio"),
        audio_absent_reason=found["audio"]["meta"]["absent_reason"] if "audio" in found else None,
        clipframe=tensor("clipframe"),
    )
