"""Samplers that need no training: ``motion`` (motion energy) and ``loudness`` (audio energy).

Both score only the clips at grid positions 0, N, 2N, ... (sampling stride N) and
extract the signals of those clips alone.

- ``motion``: the mean motion magnitude of the clip, ``mean over macroblocks of
  sqrt(dx^2 + dy^2)`` of :attr:`ClipSignals.motion` (pixels, from the clip's P-frame
  vectors by default); motion vectors where the codec exports them, frame differences
  otherwise.
- ``loudness``: the clip's audio energy, ``log(mean MEL power)`` over its 40x200
  log-MEL. A video with **no audio track** cannot be ranked by sound; the sampler then
  falls back to a *uniform spread*: scores that rank the clips in van der Corput order
  (first, middle, quarters, eighths...), so that its top K for any K is close to K
  equally spaced clips. A :class:`SignalWarning` says so, and ``ClipScores.source``
  reads ``"loudness (no audio: uniform spread)"``.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from scsampler.samplers.base import ScoringSampler, scored_grid
from scsampler.samplers.registry import register_sampler
from scsampler.signals import SignalWarning, extract_signals
from scsampler.types import ClipGrid, ClipScores, VideoInfo

__all__ = ["MotionSampler", "LoudnessSampler", "uniform_spread_scores", "NO_AUDIO_SOURCE"]

NO_AUDIO_SOURCE = "loudness (no audio: uniform spread)"


def _scored_grid(grid: ClipGrid, stride: int) -> ClipGrid:
    return scored_grid(grid, stride)


def _scores(scored: ClipGrid, values: np.ndarray, source: str) -> ClipScores:
    return ClipScores.for_grid(scored, values, source=source)  # counted against the video's full grid


def uniform_spread_scores(count: int) -> np.ndarray:
    """Scores in (0, 1] that rank ``count`` positions in van der Corput order.

    Position 0 scores highest, then the middle, then the quarters, and so on, so any
    top K is spread nearly evenly over the video.
    """
    order: list[int] = []
    seen: set[int] = set()
    k = 0
    while len(order) < count:
        value, denominator, n = 0.0, 1.0, k
        while n:  # the base-2 van der Corput value of k
            denominator *= 2.0
            value += (n % 2) / denominator
            n //= 2
        position = min(int(value * count), count - 1)
        if position not in seen:
            seen.add(position)
            order.append(position)
        k += 1
    scores = np.empty(count, dtype=np.float64)
    scores[np.asarray(order, dtype=np.int64)] = (count - np.arange(count)) / max(count, 1)
    return scores


class MotionSampler(ScoringSampler):
    """Scores a clip by its mean motion magnitude (pixels); no training needed.

    The magnitude is that of :attr:`ClipSignals.motion`: by default the mean of the clip's
    P-frame vectors (B-frames are not decoded), or of every inter-coded frame with
    ``motion_frames="all"``; with ``motion_step`` S, of the first P-frame of each run of S frames
    (:func:`~scsampler.signals.motion.extract_motion`: far less decoding on H.264).
    """

    name = "motion"
    zero_training = True

    def __init__(
        self,
        *,
        cache_dir: str | os.PathLike | None = None,
        thread_type: str = "NONE",
        motion_frames: str = "p_frames",
        motion_step: int | None = None,
    ) -> None:
        from scsampler.signals.motion import check_motion_step

        self.cache_dir = cache_dir
        self.thread_type = thread_type
        self.motion_frames = motion_frames
        self.motion_step = check_motion_step(motion_step)

    def score(self, video: VideoInfo, grid: ClipGrid, *, stride: int = 1) -> ClipScores:
        scored = _scored_grid(grid, stride)
        signals = extract_signals(
            video.path,
            scored,
            signals=("motion",),
            info=video,
            cache_dir=self.cache_dir,
            thread_type=self.thread_type,
            motion_frames=self.motion_frames,
            motion_step=self.motion_step,
        )
        motion = signals.motion.to(torch.float32)
        magnitude = torch.sqrt(motion[:, 0] ** 2 + motion[:, 1] ** 2).mean(dim=(1, 2))
        return _scores(scored, magnitude.numpy(), self.name)


class LoudnessSampler(ScoringSampler):
    """Scores a clip by its audio energy; a silent-track-less video gets a uniform spread."""

    name = "loudness"
    zero_training = True

    def __init__(self, *, cache_dir: str | os.PathLike | None = None) -> None:
        self.cache_dir = cache_dir

    def score(self, video: VideoInfo, grid: ClipGrid, *, stride: int = 1) -> ClipScores:
        scored = _scored_grid(grid, stride)
        if video.audio is None:
            return self._fallback(video, grid, scored, "no audio track")
        signals = extract_signals(video.path, scored, signals=("audio",), info=video, cache_dir=self.cache_dir)
        if signals.audio is None:
            return self._fallback(video, grid, scored, signals.audio_absent_reason or "no audio")
        energy = torch.logsumexp(signals.audio.flatten(1), dim=1) - np.log(signals.audio[0].numel())
        return _scores(scored, energy.numpy(), self.name)

    def _fallback(self, video: VideoInfo, grid: ClipGrid, scored: ClipGrid, reason: str) -> ClipScores:
        warnings.warn(
            f"{video.path}: {reason}, so the loudness sampler cannot rank its clips; "
            "it falls back to a uniform spread (first, middle, quarters, ...).",
            SignalWarning,
            stacklevel=3,
        )
        return _scores(scored, uniform_spread_scores(len(scored)), NO_AUDIO_SOURCE)


register_sampler("motion", MotionSampler)
register_sampler("loudness", LoudnessSampler)
