"""scsampler: sample salient clips from long videos, then classify only those.

The public API is re-exported here; see the README for a tour.
"""

__version__ = "0.1.0"

from scsampler.errors import ScsamplerError, UsageError, VideoError
from scsampler.types import (
    AudioInfo,
    Clip,
    ClipGrid,
    ClipScores,
    ClipSelection,
    LabelProbability,
    VideoInfo,
    VideoPrediction,
)
from scsampler.video import clip_grid, decode_clips, probe
from scsampler.signals import ClipSignals, extract_signals
from scsampler.inference import classify_video
from scsampler.models import Classifier, get_model, list_models

__all__ = [
    "classify_video",
    "Classifier",
    "get_model",
    "list_models",
    "__version__",
    "ScsamplerError",
    "UsageError",
    "VideoError",
    "AudioInfo",
    "Clip",
    "ClipGrid",
    "ClipScores",
    "ClipSelection",
    "LabelProbability",
    "VideoInfo",
    "VideoPrediction",
    "probe",
    "clip_grid",
    "decode_clips",
    "ClipSignals",
    "extract_signals",
]
