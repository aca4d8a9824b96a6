"""Cheap per-clip signals: keyframes, motion vectors, residuals, log-MEL audio and clip frames; a disk cache.

    signals = extract_signals("video.mp4", clip_grid(probe("video.mp4")), signals=("iframe", "motion", "audio"))

See :class:`ClipSignals` for each signal's layout, units and provenance.
"""

from scsampler.signals.audio import log_mel, mel_band_centres_hz, mel_filterbank
from scsampler.signals.extract import DEFAULT_SIGNALS, extract_signals, parse_signal_names
from scsampler.signals.types import MEL_FRAMES, MOTION_SOURCES, N_MELS, SIGNAL_NAMES, ClipSignals
from scsampler.signals.warnings import SignalWarning

__all__ = [
    "ClipSignals",
    "extract_signals",
    "parse_signal_names",
    "DEFAULT_SIGNALS",
    "SIGNAL_NAMES",
    "MOTION_SOURCES",
    "N_MELS",
    "MEL_FRAMES",
    "SignalWarning",
    "log_mel",
    "mel_filterbank",
    "mel_band_centres_hz",
]
