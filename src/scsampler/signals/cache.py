"""A disk cache of signals, one file per (video file identity, clip grid, signal, parameters).

A file is identified by its absolute path, size and modification time, so an edited or
replaced video misses. Entries are written to a temporary file in the cache folder and
moved into place with ``os.replace`` (readers never see half a file), and read with
``torch.load(weights_only=True)`` (no code runs on load). An unreadable or mismatching
entry is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from scsampler._atomic import atomic_output
from scsampler.types import ClipGrid

__all__ = ["cache_key", "load_entry", "save_entry", "CACHE_VERSION"]

CACHE_VERSION = 1  # bump when the meaning of a cached signal changes


def _grid_digest(grid: ClipGrid) -> str:
    digest = hashlib.sha256()
    for array in (grid.index, grid.start_frame, grid.end_frame, grid.start_s, grid.end_s):
        digest.update(array.tobytes())
    digest.update(f"{grid.frames_per_clip},{grid.stride_frames},{grid.video_frames}".encode())
    return digest.hexdigest()


def cache_key(path: str | os.PathLike, grid: ClipGrid, signal: str, params: dict[str, Any]) -> str:
    """A JSON text naming everything the cached ``signal`` depends on."""
    file = Path(path).resolve()
    stat = file.stat()
    return json.dumps(
        {
            "version": CACHE_VERSION,
            "signal": signal,
            "file": {"path": str(file), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
            "grid": _grid_digest(grid),
            "params": params,
        },
        sort_keys=True,
    )


def _entry_path(cache_dir: str | os.PathLike, signal: str, key: str) -> Path:
    return Path(cache_dir) / f"{signal}-{hashlib.sha256(key.encode()).hexdigest()[:32]}.pt"


def load_entry(cache_dir: str | os.PathLike, signal: str, key: str) -> dict | None:
    """The stored ``{"tensor": ..., "meta": {...}}`` for ``key``, or None on a miss.

    ``signal`` names the entry's kind: a signal of ``extract_signals``, or ``net-inputs`` (a sampler
    network's inputs, cached by ``training/sampler_data.py``).
    """
    file = _entry_path(cache_dir, signal, key)
    if not file.is_file():
        return None
    try:
        entry = torch.load(file, map_location="cpu", weights_only=True)
    except Exception:  # a damaged or foreign file is a miss; it will be overwritten
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    return entry


def save_entry(
    cache_dir: str | os.PathLike, signal: str, key: str, *, tensor: torch.Tensor | dict[str, torch.Tensor] | None, meta: dict
) -> Path:
    """Store ``tensor`` (a tensor, a dict of named tensors, or None) and ``meta`` under ``key``, atomically."""
    target = _entry_path(Path(cache_dir), signal, key)
    with atomic_output(target) as temporary:
        torch.save({"key": key, "tensor": tensor, "meta": meta}, temporary)
    return target
