"""scsampler: sample salient clips from long videos, then classify only those.

The public API is re-exported here; see the README for a tour.
"""

__version__ = "0.1.0"

from scsampler.errors import DataWarning, ScsamplerError, UsageError, VideoError
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

# Names whose modules import torch, imported on first use (PEP 562) so that `import scsampler`
# and `scsampler info` start fast; `from scsampler import Classifier` works as before.
_LAZY = {
    "ClipSignals": "scsampler.signals",
    "extract_signals": "scsampler.signals",
    "classify_video": "scsampler.inference",
    "Classifier": "scsampler.models",
    "get_model": "scsampler.models",
    "list_models": "scsampler.models",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'scsampler' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "classify_video",
    "Classifier",
    "get_model",
    "list_models",
    "__version__",
    "ScsamplerError",
    "UsageError",
    "VideoError",
    "DataWarning",
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
