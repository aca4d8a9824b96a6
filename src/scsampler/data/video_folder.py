"""Unlabelled videos for ``scsampler label``: a folder of videos as a manifest, and a held-out val split.

A folder becomes a :class:`~scsampler.data.manifest.Manifest` of every file with a video
extension (:data:`scsampler.video.reencode.VIDEO_EXTENSIONS`) in it or any subfolder, sorted by
path, unlabelled (label ``""``, index ``-1``, no classes) and all in the ``train`` split: sampler
training then holds out its own validation videos (with a warning), unless
:func:`hold_out_videos` put a seeded share of whole videos in ``val`` first. Its root is the
folder, so a ``segments.csv`` there gives every clip its ``in_segment``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from scsampler.data.manifest import Manifest, ManifestEntry
from scsampler.errors import UsageError

__all__ = ["manifest_from_folder", "hold_out_videos"]


def manifest_from_folder(folder: str | os.PathLike) -> Manifest:
    """Every video file under ``folder`` (recursively; hidden files skipped), unlabelled, split ``train``.

    Raises:
        UsageError: ``folder`` is not a folder, or holds no video file.
    """
    from scsampler.video.reencode import VIDEO_EXTENSIONS

    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder (expected a folder of videos or a manifest CSV).")
    root = root.resolve()
    videos = sorted(
        path for path in root.rglob("*")
        if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")
    )  # fmt: skip
    if not videos:
        raise UsageError(f"{root}: holds no video file ({', '.join(VIDEO_EXTENSIONS)}) in it or any subfolder.")
    entries = [ManifestEntry(path=path, label="", label_index=-1, split="train") for path in videos]
    return Manifest(root=root, entries=entries, classes=[])


def hold_out_videos(manifest: Manifest, fraction: float, *, seed: int = 0) -> Manifest:
    """``manifest`` with a seeded ``fraction`` of its unsplit or ``train`` videos moved to ``val`` (whole videos).

    At least one video is held out when ``fraction > 0`` and there are two or more candidates;
    videos already in ``val`` or ``test`` keep their split. ``fraction`` 0 changes nothing.
    """
    if not 0.0 <= fraction < 1.0:
        raise UsageError(f"--val-fraction must lie in [0, 1), got {fraction}.")
    candidates = [i for i, entry in enumerate(manifest.entries) if entry.split in (None, "train")]
    if fraction == 0.0 or len(candidates) < 2:
        return manifest
    count = min(len(candidates) - 1, max(1, int(round(fraction * len(candidates)))))
    held = {candidates[i] for i in np.random.default_rng(seed).permutation(len(candidates))[:count]}
    movable = set(candidates)
    entries = [
        replace(entry, split="val" if i in held else "train") if i in movable else entry
        for i, entry in enumerate(manifest.entries)
    ]
    return replace(manifest, entries=entries)
