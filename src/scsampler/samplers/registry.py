"""Samplers by name: ``get_sampler("uniform")``, ``get_sampler("motion")``, or a saved bundle's path.

Each sampler module registers its builders here with :func:`register_sampler`;
the table below is the one place that lists them.

Arrows point down: ``scsampler.samplers.bundle`` (saving and loading samplers) imports this
module, never the other way round. It hands :func:`get_sampler` its loader for a saved
sampler's path through :func:`register_path_loader` when it is imported, which importing any
``scsampler.samplers`` module does (the package imports it).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from scsampler.errors import UsageError
from scsampler.samplers.base import ClipSampler

__all__ = ["register_sampler", "register_path_loader", "get_sampler", "list_samplers", "load_sampler_modules"]

_BUILDERS: dict[str, Callable[..., ClipSampler]] = {}
_path_loader: Callable[..., ClipSampler] | None = None  # the bundle loader, once bundle.py is imported

# Modules that call register_sampler() when imported.
_SAMPLER_MODULES: tuple[str, ...] = ("scsampler.samplers.baselines", "scsampler.samplers.learned", "scsampler.samplers.zero_training")


def register_sampler(name: str, builder: Callable[..., ClipSampler]) -> None:
    """Make ``get_sampler(name, **options)`` call ``builder(**options)``."""
    if name in _BUILDERS:
        raise ValueError(f"a sampler named {name!r} is already registered.")
    _BUILDERS[name] = builder


def register_path_loader(loader: Callable[..., ClipSampler]) -> None:
    """Make ``get_sampler(path, **options)`` call ``loader(path, **options)`` for an existing path."""
    global _path_loader
    _path_loader = loader


def load_sampler_modules() -> None:
    """Import every module that registers samplers (and, through them, the bundle kinds they define)."""
    for module in _SAMPLER_MODULES:
        importlib.import_module(module)


def list_samplers() -> list[str]:
    """Names accepted by :func:`get_sampler` (a saved sampler's path is accepted too)."""
    load_sampler_modules()
    return sorted(_BUILDERS)


def get_sampler(name: str, **options) -> ClipSampler:
    """Build the sampler called ``name``; keyword options go to its builder."""
    load_sampler_modules()
    if name in _BUILDERS:
        return _BUILDERS[name](**options)
    if Path(name).exists() and _path_loader is not None:
        return _path_loader(name, **options)
    raise UsageError(
        f"unknown sampler {name!r}; choose one of {', '.join(list_samplers())}, or give the path of a saved sampler."
    )
