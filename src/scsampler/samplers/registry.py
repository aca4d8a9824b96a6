"""Samplers by name: ``get_sampler("uniform")``, ``get_sampler("motion")``, or a saved bundle's path.

Each sampler module registers its builders here with :func:`register_sampler`;
the table below is the one place that lists them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from scsampler.errors import UsageError
from scsampler.samplers.base import ClipSampler

__all__ = ["register_sampler", "get_sampler", "list_samplers"]

_BUILDERS: dict[str, Callable[..., ClipSampler]] = {}

# Modules that call register_sampler() when imported.
_SAMPLER_MODULES: tuple[str, ...] = ("scsampler.samplers.baselines", "scsampler.samplers.learned", "scsampler.samplers.zero_training")


def register_sampler(name: str, builder: Callable[..., ClipSampler]) -> None:
    if name in _BUILDERS:
        raise ValueError(f"a sampler named {name!r} is already registered.")
    _BUILDERS[name] = builder


def _load_modules() -> None:
    for module in _SAMPLER_MODULES:
        importlib.import_module(module)


def list_samplers() -> list[str]:
    """Names accepted by :func:`get_sampler` (a saved sampler's path is accepted too)."""
    _load_modules()
    return sorted(_BUILDERS)


def get_sampler(name: str, **options) -> ClipSampler:
    """Build the sampler called ``name``; keyword options go to its builder."""
    _load_modules()
    if name in _BUILDERS:
        return _BUILDERS[name](**options)
    if Path(name).exists():
        from scsampler.samplers.bundle import load_sampler  # noqa: PLC0415 (added by the selection work)

        return load_sampler(name, **options)
    raise UsageError(
        f"unknown sampler {name!r}; choose one of {', '.join(list_samplers())}, or give the path of a saved sampler."
    )
