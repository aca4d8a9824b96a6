"""Dataset manifests (``path,label[,split]`` CSV) and action segments (``segments.csv``).

A manifest is a CSV file whose header names at least the columns ``path`` and
``label``, and optionally ``split`` (``train``, ``val`` or ``test``; an empty
cell means "no split"). Paths are relative to the manifest's folder and are
resolved to absolute paths. The class list is the sorted set of labels, unless a
``classes.txt`` (one class per line) sits beside the manifest: then it fixes the
class list and its order, and every label must be in it.

``segments.csv`` (written by the synthetic benchmark) has the header
``path,start_s,end_s,kind``; see :data:`ACTION_KINDS` and
``scsampler.data.synth`` for the kinds.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from scsampler.errors import UsageError

__all__ = [
    "SPLITS",
    "ACTION_KINDS",
    "ManifestEntry",
    "Manifest",
    "Segment",
    "read_manifest",
    "read_segments",
    "read_classes",
]

SPLITS = ("train", "val", "test")
# Segment kinds that mark the labelled action (with or without its sound).
ACTION_KINDS = frozenset({"action", "action_silent"})
MANIFEST_COLUMNS = ("path", "label")
SEGMENT_COLUMNS = ("path", "start_s", "end_s", "kind")


@dataclass(frozen=True)
class ManifestEntry:
    """One video of a manifest: its absolute path, label, class index and split (or None).

    An unlabelled video (``read_manifest(..., allow_unlabelled=True)``, or a folder of videos)
    has the label ``""`` and the class index ``-1``.
    """

    path: Path
    label: str
    label_index: int
    split: str | None = None

    @property
    def labelled(self) -> bool:
        """False for a video without a label."""
        return self.label_index >= 0


@dataclass(frozen=True)
class Manifest:
    """A dataset: the manifest file's folder, its videos and the class list."""

    root: Path
    entries: list[ManifestEntry] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)

    def split(self, name: str) -> "Manifest":
        """The entries of split ``name`` (``train``, ``val`` or ``test``), with the same classes."""
        _check_split_name(name)
        return replace(self, entries=[entry for entry in self.entries if entry.split == name])

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labelled(self) -> bool:
        """True when every video has a label (an unlabelled manifest has none, and no classes)."""
        return all(entry.labelled for entry in self.entries)


@dataclass(frozen=True)
class Segment:
    """A time span of a video, in seconds, and what happens in it (``kind``)."""

    start_s: float
    end_s: float
    kind: str

    @property
    def is_action(self) -> bool:
        """True for the labelled action (kinds ``action`` and ``action_silent``)."""
        return self.kind in ACTION_KINDS

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def read_manifest(path: str | os.PathLike, *, split: str | None = None, allow_unlabelled: bool = False) -> Manifest:
    """Read a ``path,label[,split]`` CSV manifest; keep only ``split`` when given.

    ``allow_unlabelled`` (``scsampler label`` only) also accepts a manifest of unlabelled videos:
    one without a ``label`` column, or whose label cells are all empty. Its entries have the label
    ``""`` and the index ``-1``, and it has no classes. A mix of empty and non-empty labels is
    still refused: a forgotten label must not silently turn a video into an unlabelled one.

    Raises:
        UsageError: the file is missing, or has no ``path``/``label`` header, an
            empty cell, an unknown split name, or a label not in ``classes.txt``.
            The message names the file and the line.
    """
    if split is not None:
        _check_split_name(split)
    file = _existing_file(path, "manifest")
    root = file.parent.resolve()
    classes_file = root / "classes.txt"
    fixed_classes = read_classes(classes_file) if classes_file.is_file() else None

    rows: list[tuple[int, str, str, str | None]] = []
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [cell.strip() for cell in next(reader, [])]
        missing = [column for column in MANIFEST_COLUMNS if column not in header]
        if allow_unlabelled and missing == ["label"]:
            missing = []  # unlabelled videos
        if missing:
            raise UsageError(
                f"{file}: line 1: the header must name the columns path,label (and optionally split); "
                f"missing {','.join(missing)} in {','.join(header) or 'an empty first line'}."
            )
        path_col = header.index("path")
        label_col = header.index("label") if "label" in header else None
        split_col = header.index("split") if "split" in header else None
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue  # blank line
            if len(row) < len(header):
                raise UsageError(f"{file}: line {line}: expected {len(header)} columns ({','.join(header)}), found {len(row)}.")
            video = row[path_col].strip()
            label = row[label_col].strip() if label_col is not None else ""
            if not video or (not label and not allow_unlabelled):
                raise UsageError(f"{file}: line {line}: the path and the label must not be empty.")
            row_split = (row[split_col].strip() or None) if split_col is not None else None
            if row_split is not None and row_split not in SPLITS:
                raise UsageError(f"{file}: line {line}: unknown split {row_split!r}; use one of train, val, test.")
            if label and fixed_classes is not None and label not in fixed_classes:
                raise UsageError(
                    f"{file}: line {line}: label {label!r} is not in {classes_file} "
                    f"({len(fixed_classes)} classes); add it there or fix the label."
                )
            rows.append((line, video, label, row_split))

    if allow_unlabelled and rows and not all(label for _, _, label, _ in rows):
        labelled = [line for line, _, label, _ in rows if label]
        if labelled:  # some labels, some not: most likely a mistake, never silently unlabelled
            empty = next(line for line, _, label, _ in rows if not label)
            raise UsageError(
                f"{file}: line {empty}: the label is empty while line {labelled[0]} has one; "
                "give every video a label, or leave every label empty (or drop the column) for unlabelled videos."
            )
        return Manifest(
            root=root,
            entries=[
                ManifestEntry(path=(root / video).resolve(), label="", label_index=-1, split=row_split)
                for _, video, _, row_split in rows
                if split is None or row_split == split
            ],
            classes=[],
        )
    classes = fixed_classes if fixed_classes is not None else sorted({label for _, _, label, _ in rows})
    index = {name: position for position, name in enumerate(classes)}
    entries = [
        ManifestEntry(path=(root / video).resolve(), label=label, label_index=index[label], split=row_split)
        for _, video, label, row_split in rows
        if split is None or row_split == split
    ]
    return Manifest(root=root, entries=entries, classes=list(classes))


def read_classes(path: str | os.PathLike) -> list[str]:
    """Read ``classes.txt``: one class name per line; blank lines are skipped, duplicates refused."""
    file = _existing_file(path, "class list")
    classes: list[str] = []
    seen: dict[str, int] = {}
    for line, text in enumerate(file.read_text(encoding="utf-8-sig").splitlines(), start=1):
        name = text.strip()
        if not name:
            continue
        if name in seen:
            raise UsageError(f"{file}: line {line}: class {name!r} repeats line {seen[name]}; list each class once.")
        seen[name] = line
        classes.append(name)
    if not classes:
        raise UsageError(f"{file}: lists no classes; write one class name per line.")
    return classes


def read_segments(path: str | os.PathLike) -> dict[Path, list[Segment]]:
    """Read ``segments.csv`` (``path,start_s,end_s,kind``) into absolute path -> segments sorted by start.

    Paths are relative to the file's folder, like a manifest's. Videos with no
    segment do not appear.

    Raises:
        UsageError: missing file or column, a time that is not a number, or
            ``end_s <= start_s``, naming the file and the line.
    """
    file = _existing_file(path, "segments file")
    root = file.parent.resolve()
    segments: dict[Path, list[Segment]] = {}
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [cell.strip() for cell in next(reader, [])]
        missing = [column for column in SEGMENT_COLUMNS if column not in header]
        if missing:
            raise UsageError(
                f"{file}: line 1: the header must name the columns path,start_s,end_s,kind; "
                f"missing {','.join(missing)} in {','.join(header) or 'an empty first line'}."
            )
        columns = [header.index(column) for column in SEGMENT_COLUMNS]
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise UsageError(f"{file}: line {line}: expected {len(header)} columns ({','.join(header)}), found {len(row)}.")
            video, start_text, end_text, kind = (row[column].strip() for column in columns)
            try:
                start_s, end_s = float(start_text), float(end_text)
            except ValueError:
                raise UsageError(f"{file}: line {line}: start_s and end_s must be numbers, got {start_text!r}, {end_text!r}.") from None
            if not (math.isfinite(start_s) and math.isfinite(end_s)) or start_s < 0 or end_s <= start_s:
                raise UsageError(f"{file}: line {line}: need 0 <= start_s < end_s, got {start_s} and {end_s}.")
            if not video or not kind:
                raise UsageError(f"{file}: line {line}: the path and the kind must not be empty.")
            segments.setdefault((root / video).resolve(), []).append(Segment(start_s, end_s, kind))
    for spans in segments.values():
        spans.sort(key=lambda segment: (segment.start_s, segment.end_s))
    return segments


def _check_split_name(name: str) -> None:
    if name not in SPLITS:
        raise UsageError(f"split must be one of train, val, test, got {name!r}.")


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    file = Path(path)
    if not file.is_file():
        problem = "is a folder, not a file" if file.is_dir() else "no such file"
        raise UsageError(f"{file}: {problem} (expected a {what}).")
    return file
