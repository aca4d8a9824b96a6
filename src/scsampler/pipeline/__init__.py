"""Many videos through the same steps as ``classify_video``, as stages by resource, on Ray Data or a local loop.

Stages (:mod:`scsampler.pipeline.stages`): select clips (CPU), decode them (CPU), classify them
(GPU when there is one, batching clips across videos), then gather each video's clips
(:mod:`scsampler.pipeline.engines`). ``classify``, ``label`` and ``evaluate``'s dense pass run on it
(``--engine local|ray``; the dense pass in one process: :func:`every_clip_pipeline`);
:mod:`scsampler.pipeline.results` keeps finished videos on disk so that a killed run resumes.
"""

from scsampler.pipeline.engines import DEFAULT_CHUNK, ENGINES, Pipeline, PipelineConfig, VideoOutcome, every_clip_pipeline
from scsampler.pipeline.stages import EVERY_CLIP, ClassifyClips, DecodeClips, SelectClips, VideoPlan

__all__ = [
    "ENGINES",
    "DEFAULT_CHUNK",
    "EVERY_CLIP",
    "Pipeline",
    "PipelineConfig",
    "VideoOutcome",
    "every_clip_pipeline",
    "VideoPlan",
    "SelectClips",
    "DecodeClips",
    "ClassifyClips",
]
