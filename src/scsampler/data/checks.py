"""Warnings on degenerate datasets: one-class splits, classes missing from a split, odd ``segments.csv``.

``check_manifest`` returns messages; ``warn_about_manifest`` reads a manifest
(and the ``segments.csv`` beside it), checks it and emits each message as a
:class:`~scsampler.errors.DataWarning`. Every message starts with the file it is
about and ends with what to do. The commands that read a manifest for work
(``train-classifier``, ``label``, ``evaluate``) call ``warn_about_manifest``.

What is checked:

* a split (``train``, ``val``, ``test``; only splits with at least one video) whose
  videos all have one class;
* a class with training videos but none in a non-empty ``val`` or ``test`` split;
* ``segments.csv`` rows whose kind the project does not know (it reads
  :data:`~scsampler.data.manifest.ACTION_KINDS` as the labelled action, and knows
  the other kinds ``synth`` writes, :data:`~scsampler.data.synth.SEGMENT_KINDS`);
* a ``segments.csv`` none of whose paths is a video of the manifest.

:func:`one_class_predictions` is the check on a classifier's video-level predictions (one class for
90% or more of the videos) that ``label`` and ``evaluate`` run on their dense passes.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from scsampler.data.manifest import ACTION_KINDS, SPLITS, Manifest, read_manifest, read_segments
from scsampler.data.synth import SEGMENT_KINDS
from scsampler.errors import DataWarning

__all__ = [
    "KNOWN_SEGMENT_KINDS",
    "ONE_CLASS_SHARE",
    "ONE_CLASS_MIN_VIDEOS",
    "check_manifest",
    "warn_about_manifest",
    "emit_data_warnings",
    "one_class_predictions",
]

#: Every segment kind the project knows: the labelled action (read) and the synthetic benchmark's others.
KNOWN_SEGMENT_KINDS = frozenset(ACTION_KINDS) | frozenset(SEGMENT_KINDS)
SEGMENTS_FILE = "segments.csv"
_LISTED = 8  # names listed in one message before "and N more"
#: A classifier that predicts one class for at least this share of the videos is reported.
ONE_CLASS_SHARE = 0.9
#: ... among at least this many videos (with two, both predicted alike says little).
ONE_CLASS_MIN_VIDEOS = 3

_SPLIT_ROLE = {
    "train": "a classifier trained on it learns nothing to tell classes apart",
    "val": "validation cannot tell a good epoch or setting from a bad one",
    "test": "its accuracy says nothing about telling classes apart",
}
_MISSING_ROLE = {
    "val": "validation never measures them, so the best epoch and the tuned settings ignore them",
    "test": "their accuracy is never measured",
}


def check_manifest(
    manifest: Manifest, *, manifest_path: str | os.PathLike, segments_path: str | os.PathLike | None = None
) -> list[str]:
    """Messages about a degenerate manifest (and its ``segments.csv``); empty when all looks sound.

    Args:
        manifest: the whole manifest (every split), as :func:`read_manifest` gives it.
        manifest_path: the manifest's file, named in the messages.
        segments_path: a ``segments.csv`` to check against the manifest (None or a
            missing file: not checked).

    Raises:
        UsageError: ``segments_path`` exists but cannot be read (from :func:`read_segments`).
    """
    messages = _split_messages(manifest, Path(manifest_path))
    if segments_path is not None and Path(segments_path).is_file():
        messages += _segments_messages(manifest, Path(manifest_path), Path(segments_path))
    return messages


def warn_about_manifest(manifest_path: str | os.PathLike, *, stacklevel: int = 2) -> list[str]:
    """Read the whole manifest and the ``segments.csv`` beside it, check them, warn; return the messages.

    Raises:
        UsageError: the manifest or ``segments.csv`` cannot be read.
    """
    manifest_path = Path(manifest_path)
    messages = check_manifest(
        read_manifest(manifest_path), manifest_path=manifest_path, segments_path=manifest_path.parent / SEGMENTS_FILE
    )
    return emit_data_warnings(messages, stacklevel=stacklevel + 1)


def emit_data_warnings(messages: Iterable[str], *, stacklevel: int = 2) -> list[str]:
    """Emit each message as a :class:`DataWarning` (the CLI prints ``warning: <message>``); return them."""
    messages = list(messages)
    for message in messages:
        warnings.warn(message, DataWarning, stacklevel=stacklevel + 1)
    return messages


def one_class_predictions(
    predicted: Sequence[str], labels: Sequence[str], *, file: str | os.PathLike, what: str, share: float = ONE_CLASS_SHARE
) -> list[str]:
    """A message when one class takes ``share`` or more of the video-level predictions.

    Args:
        predicted: the predicted class of each video.
        labels: the true class of each video (same order).
        file: the file the message starts with (a manifest, a targets file).
        what: which videos, for the message ("the test split (Dense: every clip)").

    Nothing is said for fewer than :data:`ONE_CLASS_MIN_VIDEOS` videos, nor when the labels themselves give
    that class ``share`` or more of the videos (predicting it is then right).
    """
    if len(predicted) != len(labels):
        raise ValueError(f"predicted ({len(predicted)}) and labels ({len(labels)}) must be as long.")
    total = len(predicted)
    if total < ONE_CLASS_MIN_VIDEOS:
        return []
    top, count = Counter(predicted).most_common(1)[0]
    truly = sum(label == top for label in labels)
    if count / total < share or truly / total >= share:
        return []
    return [
        f"{file}: the classifier predicts {top!r} for {count} of {total} videos ({count / total:.0%}) of {what}, "
        f"though only {truly} of them {'is' if truly == 1 else 'are'} {top!r}: it may have collapsed onto one class. "
        "Retrain the classifier (more epochs or training videos, another --recipe) or check the labels."
    ]


def _split_messages(manifest: Manifest, manifest_path: Path) -> list[str]:
    videos = {split: Counter(entry.label for entry in manifest.entries if entry.split == split) for split in SPLITS}
    all_classes = list(manifest.classes)
    messages = []
    for split in SPLITS:
        counts = videos[split]
        if len(counts) == 1:
            (label, count), = counts.items()
            others = [name for name in all_classes if name != label]
            fix = (f"add {split} videos of the other classes ({_names(others)})" if others
                   else "add videos of at least one other class to the manifest")
            messages.append(
                f"{manifest_path}: the {split} split holds a single class ({label!r}, {count} video"
                f"{'' if count == 1 else 's'}), so {_SPLIT_ROLE[split]}; {fix}."
            )
    trained = set(videos["train"])
    for split in ("val", "test"):
        counts = videos[split]
        if len(counts) < 2:  # an empty split is not used; a single-class one was reported above
            continue
        missing = [name for name in all_classes if name in trained and name not in counts]
        if missing:
            total = sum(counts.values())
            messages.append(
                f"{manifest_path}: {len(missing)} class{'' if len(missing) == 1 else 'es'} with training videos "
                f"{'has' if len(missing) == 1 else 'have'} none in the {split} split ({total} videos of "
                f"{len(counts)} classes): {_names(missing)}; {_MISSING_ROLE[split]}. "
                f"Add {split} videos of class{'' if len(missing) == 1 else 'es'} {_names(missing)}."
            )
    return messages


def _segments_messages(manifest: Manifest, manifest_path: Path, segments_path: Path) -> list[str]:
    segments = read_segments(segments_path)
    messages = []
    kinds = Counter(segment.kind for spans in segments.values() for segment in spans)
    unknown = {kind: count for kind, count in kinds.items() if kind not in KNOWN_SEGMENT_KINDS}
    if unknown:
        rows = sum(unknown.values())
        listed = ", ".join(f"{kind!r} ({count} row{'' if count == 1 else 's'})" for kind, count in sorted(unknown.items())[:_LISTED])
        more = f" and {len(unknown) - _LISTED} more" if len(unknown) > _LISTED else ""
        messages.append(
            f"{segments_path}: {rows} row{'' if rows == 1 else 's'} of kind{'' if len(unknown) == 1 else 's'} "
            f"the project does not read: {listed}{more}; they are ignored. segments.csv kinds read: "
            f"{', '.join(sorted(ACTION_KINDS))} (the labelled action); known and not used: "
            f"{', '.join(sorted(KNOWN_SEGMENT_KINDS - ACTION_KINDS))}. Rename the kinds (a labelled action: 'action')."
        )
    videos = {Path(entry.path) for entry in manifest.entries}
    if segments and videos and not any(path in videos for path in segments):
        example = next(iter(segments))
        messages.append(
            f"{segments_path}: none of its {len(segments)} videos is in {manifest_path} (the first: {example}), "
            f"so no video gets its action segments; paths in segments.csv are read relative to its own folder "
            f"({segments_path.parent.resolve()}): write them as the manifest writes them."
        )
    return messages


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")
