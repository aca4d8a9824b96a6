"""Scoring and selecting clips: baselines, zero-training and learned samplers, AV combination.

``k`` is the number of clips everywhere (None: every clip). ``k="own"`` / ``stride="own"``, taken
only where a sampler is named (``classify_video``, ``ClassifyOptions``, ``PipelineConfig``, the CLI),
means the sampler's own K and N; :func:`resolve_k_and_stride` decides what that is, once.
"""

from scsampler.samplers.base import ClipSampler, ScoringSampler, resolve_k_and_stride
from scsampler.samplers.registry import get_sampler, list_samplers, register_sampler
from scsampler.samplers.selection import DEFAULT_K, top_k
from scsampler.samplers.bundle import load_sampler, save_sampler
from scsampler.samplers.combine import combine
from scsampler.samplers.composite import CompositeSampler, SampledClips, score_and_select
from scsampler.samplers.build import build_sampler

__all__ = [
    "ClipSampler", "ScoringSampler", "get_sampler", "list_samplers", "register_sampler", "top_k", "DEFAULT_K",
    "CompositeSampler", "combine", "save_sampler", "load_sampler", "resolve_k_and_stride", "build_sampler",
    "SampledClips", "score_and_select",
]
