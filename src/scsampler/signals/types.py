"""``ClipSignals``: the cheap per-clip inputs of the samplers, with their provenance."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scsampler.types import ClipGrid

__all__ = ["ClipSignals", "SIGNAL_NAMES", "MOTION_SOURCES", "N_MELS", "MEL_FRAMES"]

#: Names accepted by ``extract_signals(..., signals=...)`` (``"mv"`` is an alias of ``"motion"``).
SIGNAL_NAMES = ("iframe", "motion", "residual", "audio", "clipframe")
#: Where ``ClipSignals.motion`` came from.
MOTION_SOURCES = ("motion_vectors", "frame_difference")
N_MELS = 40
MEL_FRAMES = 200


def _check(name: str, tensor: torch.Tensor | None, *, dtype: torch.dtype, clips: int, channels: int | None) -> None:
    if tensor is None:
        return
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"ClipSignals.{name} must be a torch.Tensor or None, got {type(tensor).__name__}.")
    if tensor.dtype != dtype:
        raise ValueError(f"ClipSignals.{name} must be {dtype}, got {tensor.dtype}.")
    expected_ndim = 3 if name == "audio" else 4
    if tensor.ndim != expected_ndim:
        raise ValueError(f"ClipSignals.{name} has shape {tuple(tensor.shape)}; see the field's documented layout.")
    if tensor.shape[0] != clips:
        raise ValueError(f"ClipSignals.{name} describes {tensor.shape[0]} clips, but the grid holds {clips}.")
    if channels is not None and tensor.shape[1] != channels:
        raise ValueError(f"ClipSignals.{name} must have {channels} channels, got shape {tuple(tensor.shape)}.")


@dataclass(frozen=True, eq=False)
class ClipSignals:
    """The cheap signals of the L clips of ``grid``, each absent (None) unless extracted.

    - ``iframe``: ``uint8 [L, 3, H, W]`` RGB; the keyframe covering each clip, i.e. the
      last keyframe at or before the clip's first frame (it may lie before the clip when
      the GOP is longer than a clip). Default size 112x112 (aspect ratio not kept).
    - ``motion``: ``float16 [L, 2, h, w]``; (dx, dy) in pixels of the full-size frame, one
      cell per 16x16 macroblock (native macroblock grid, ``h = ceil(H/16)``,
      ``w = ceil(W/16)``, unless another size was asked for). Per frame, a vector is the
      displacement of the content *forward in time* (the reference direction is
      undone: a vector from a future reference is negated), not divided by the distance
      to its reference frame. Per clip, the mean over the clip's P-frames by default,
      as CoViAR accumulates motion on P-frames (without its trajectory tracing), or over
      all its inter-coded frames with ``extract_signals(..., motion_frames="all")``; a
      clip with no such frame gets zeros. The frame-difference fallback averages every
      frame that has a predecessor.
    - ``motion_source``: ``"motion_vectors"`` (the decoder's exported vectors) or
      ``"frame_difference"`` (block matching on low-resolution frames, for codecs that
      export none); None when motion was not extracted.
    - ``residual``: ``float16 [L, 1, h', w']``, values in [0, 1]; the mean absolute
      difference between each frame's luma and the previous frame warped by that
      frame's motion, at low resolution (8 pixels of the working image per
      macroblock row/column, i.e. ``h' = 2h``, ``w' = 2w``). An approximation of the
      bitstream residual, which FFmpeg does not expose.
    - ``audio``: ``float32 [L, 40, 200]``; natural-log MEL energies of the clip's
      ``[start_s, end_s)`` window, mono 16 kHz. None when the file has no usable audio
      (``audio_absent_reason`` says why): never zeros standing in for audio.
    - ``clipframe``: ``uint8 [L, 3, H, W]`` RGB; a frame from inside each clip: of the frames
      the motion pass decodes (B-frames excluded), the one nearest the clip's middle, decoded
      without the loop filter; a clip holding none takes the nearest earlier one
      (:mod:`scsampler.signals.clipframes`). Default size 112x112, resized as the I-frames are.
    """

    path: str
    grid: ClipGrid
    iframe: torch.Tensor | None = None
    motion: torch.Tensor | None = None
    motion_source: str | None = None
    residual: torch.Tensor | None = None
    audio: torch.Tensor | None = None
    audio_absent_reason: str | None = None
    clipframe: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.grid, ClipGrid):
            raise TypeError(f"ClipSignals.grid must be a ClipGrid, got {type(self.grid).__name__}.")
        clips = len(self.grid)
        _check("iframe", self.iframe, dtype=torch.uint8, clips=clips, channels=3)
        _check("clipframe", self.clipframe, dtype=torch.uint8, clips=clips, channels=3)
        _check("motion", self.motion, dtype=torch.float16, clips=clips, channels=2)
        _check("residual", self.residual, dtype=torch.float16, clips=clips, channels=1)
        _check("audio", self.audio, dtype=torch.float32, clips=clips, channels=N_MELS)
        if self.audio is not None and self.audio.shape[2] != MEL_FRAMES:
            raise ValueError(f"ClipSignals.audio must have {MEL_FRAMES} frames per clip, got {tuple(self.audio.shape)}.")
        if (self.motion is None) != (self.motion_source is None):
            raise ValueError("ClipSignals.motion_source must be set exactly when motion is.")
        if self.motion_source is not None and self.motion_source not in MOTION_SOURCES:
            raise ValueError(f"ClipSignals.motion_source must be one of {MOTION_SOURCES}, got {self.motion_source!r}.")
        if self.audio is not None and self.audio_absent_reason is not None:
            raise ValueError("ClipSignals.audio_absent_reason must be None when audio is present.")

    def __len__(self) -> int:
        return len(self.grid)

    @property
    def present(self) -> tuple[str, ...]:
        """The names of the signals this object holds."""
        return tuple(name for name in SIGNAL_NAMES if getattr(self, name) is not None)
