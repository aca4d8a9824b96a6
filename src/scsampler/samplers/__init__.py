"""Scoring and selecting clips: baselines, zero-training and learned samplers, AV combination."""

from scsampler.samplers.base import ClipSampler, ScoringSampler
from scsampler.samplers.registry import get_sampler, list_samplers, register_sampler
from scsampler.samplers.selection import top_k
from scsampler.samplers.bundle import load_sampler, save_sampler
from scsampler.samplers.combine import combine
from scsampler.samplers.composite import CompositeSampler

__all__ = [
    "ClipSampler", "ScoringSampler", "get_sampler", "list_samplers", "register_sampler", "top_k",
    "CompositeSampler", "combine", "save_sampler", "load_sampler",
]
