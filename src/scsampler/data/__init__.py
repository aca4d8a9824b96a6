"""Datasets: manifests, action segments, and the synthetic untrimmed benchmark."""

from scsampler.data.manifest import (
    ACTION_KINDS,
    SPLITS,
    Manifest,
    ManifestEntry,
    Segment,
    read_classes,
    read_manifest,
    read_segments,
)
from scsampler.data.synth import SEGMENT_KINDS, make_synthetic_benchmark
from scsampler.data.synth_plan import ClassStyle, class_styles

__all__ = [
    "ACTION_KINDS",
    "SPLITS",
    "SEGMENT_KINDS",
    "Manifest",
    "ManifestEntry",
    "Segment",
    "ClassStyle",
    "read_manifest",
    "read_classes",
    "read_segments",
    "make_synthetic_benchmark",
    "class_styles",
]
