"""The official annotation files of Kinetics-400, Sports-1M and miniSports, read into one shape.

Each reader returns :class:`Annotations`: the videos the files name (YouTube id, label, the
project's split, the file names the video may have on disk) and the class list.
:mod:`scsampler.data.dataset_manifest` then finds the files and writes a manifest.

- **kinetics400** (:func:`read_kinetics400`): the official CSVs, columns
  ``label,youtube_id,time_start,time_end,split`` (``train.csv``, ``validate.csv``, ``test.csv``, or
  any file name ending in ``train.csv``, ``validate.csv``, ``val.csv`` or ``test.csv``). The paper
  trains on ``train`` and tests on ``validate``: with ``splits="paper"`` (the default) train ->
  train, validate -> test, and the official test rows are left out; with ``splits="official"``
  train -> train, validate -> val, test -> test. A video's file is
  ``{youtube_id}_{time_start:06d}_{time_end:06d}.EXT`` as the common downloaders write it, or
  ``{youtube_id}.EXT``.
- **sports1m** (:func:`read_sports1m`): ``labels.txt`` (one class per line; line 1 is index 0)
  and ``train_partition.txt`` / ``test_partition.txt``, lines ``URL i,j,...`` of label indices.
  A video's file is its YouTube id. A video with several labels gets the first as ``label`` and
  keeps all of them in ``labels``.
- **minisports** (:func:`read_minisports`): ``train.txt``, ``val.txt``, ``test.txt`` (at least
  one), lines ``ID LABEL``: a YouTube id (or watch URL), whitespace, then the class. With a
  ``labels.txt`` beside them (Sports-1M's list: miniSports is a subset of Sports-1M) the class may
  be a 0-based index into it, and the class list is that file's; otherwise it is the sorted set
  of the classes named.

A file that cannot be read, or a line that breaks its format, is a :class:`UsageError` naming the
file and the line; nothing here looks at video files.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlparse

from scsampler.errors import UsageError

__all__ = [
    "DATASETS",
    "KINETICS_SPLITS",
    "AnnotatedVideo",
    "Annotations",
    "read_annotations",
    "read_kinetics400",
    "read_sports1m",
    "read_minisports",
    "youtube_id_from",
]

DATASETS = ("kinetics400", "sports1m", "minisports")

#: Kinetics split name in the CSVs -> the project's split (None: left out), per reading.
KINETICS_SPLITS: dict[str, dict[str, str | None]] = {
    # The paper: train on train, test on validate; the official test split is not used.
    "paper": {"train": "train", "validate": "test", "val": "test", "test": None},
    "official": {"train": "train", "validate": "val", "val": "val", "test": "test"},
}
KINETICS_COLUMNS = ("youtube_id", "time_start", "time_end")
KINETICS_FILE_ENDINGS = ("train.csv", "validate.csv", "val.csv", "test.csv")
SPORTS1M_PARTITIONS = {"train_partition.txt": "train", "test_partition.txt": "test"}
MINISPORTS_FILES = {"train.txt": "train", "val.txt": "val", "test.txt": "test"}
LABELS_FILE = "labels.txt"

# YouTube ids are 11 characters of [A-Za-z0-9_-]; older lists sometimes hold other lengths, so
# any run of those characters is accepted.
_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class AnnotatedVideo:
    """One video the annotation files name.

    ``stems`` are the file names (without extension) it may have on disk, preferred first;
    ``labels`` holds every label of a multi-label video (``label`` is the first); ``source``
    is ``file:line`` of its annotation.
    """

    youtube_id: str
    label: str
    split: str
    stems: tuple[str, ...]
    labels: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Annotations:
    """What a dataset's annotation files hold: its videos, its class list, and the rows left out, by reason."""

    dataset: str
    source: Path
    videos: list[AnnotatedVideo]
    classes: list[str]
    skipped: dict[str, int] = field(default_factory=dict)
    multi_label: bool = False


def read_annotations(dataset: str, annotations: str | os.PathLike, *, splits: str | None = None) -> Annotations:
    """Read the annotation files of ``dataset`` (one of :data:`DATASETS`) at ``annotations``.

    ``splits`` (``paper`` or ``official``) applies to ``kinetics400`` only.
    """
    readers: dict[str, Callable[[Path], Annotations]] = {
        "kinetics400": lambda path: read_kinetics400(path, splits=splits or "paper"),
        "sports1m": read_sports1m,
        "minisports": read_minisports,
    }
    if dataset not in readers:
        raise UsageError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    if splits is not None and dataset != "kinetics400":
        raise UsageError(f"--splits applies to kinetics400 only; {dataset}'s splits are fixed by its files.")
    return readers[dataset](Path(annotations))


def read_kinetics400(annotations: str | os.PathLike, *, splits: str = "paper") -> Annotations:
    """Kinetics-400 from its official CSVs: a folder holding them, or one CSV file.

    Rows without a label (the test split of some releases) and repeated
    ``(youtube_id, time_start, time_end)`` rows are left out and counted in ``skipped``.
    """
    if splits not in KINETICS_SPLITS:
        raise UsageError(f"splits must be one of {', '.join(KINETICS_SPLITS)}, got {splits!r}.")
    mapping = KINETICS_SPLITS[splits]
    source = Path(annotations)
    files = _kinetics_files(source)
    videos: list[AnnotatedVideo] = []
    skipped: dict[str, int] = {}
    seen: set[tuple[str, int, int]] = set()
    for file in files:
        for line, row in _csv_rows(file, required=KINETICS_COLUMNS):
            split_name = ((row.get("split") or "").strip() or _split_from_name(file)).lower()
            if split_name not in mapping:
                raise UsageError(
                    f"{file}: line {line}: unknown split {split_name!r}; Kinetics uses train, validate (or val), test."
                )
            youtube_id = _checked_id(row["youtube_id"], file, line)
            start, end = _whole_seconds(row["time_start"], file, line), _whole_seconds(row["time_end"], file, line)
            label = (row.get("label") or "").strip()
            split = mapping[split_name]
            if split is None:
                _count(skipped, f"official {split_name} split (not used with --splits {splits})")
            elif not label:
                _count(skipped, "no label")
            elif (youtube_id, start, end) in seen:
                _count(skipped, "repeated row")
            else:
                seen.add((youtube_id, start, end))
                stems = (f"{youtube_id}_{start:06d}_{end:06d}", youtube_id)
                videos.append(AnnotatedVideo(youtube_id, label, split, stems, (label,), f"{file}:{line}"))
    classes = sorted({video.label for video in videos})
    return Annotations("kinetics400", source, videos, classes, skipped)


def read_sports1m(annotations: str | os.PathLike) -> Annotations:
    """Sports-1M from ``labels.txt`` and ``train_partition.txt`` / ``test_partition.txt`` in a folder.

    The class list is ``labels.txt`` in its order, so a manifest's class index is Sports-1M's.
    A video listed twice in one partition is kept once (counted in ``skipped``).
    """
    folder = _folder(annotations, "Sports-1M annotation folder")
    labels = _label_list(folder / LABELS_FILE)
    partitions = [(folder / name, split) for name, split in SPORTS1M_PARTITIONS.items() if (folder / name).is_file()]
    if not partitions:
        raise UsageError(f"{folder}: holds neither {' nor '.join(SPORTS1M_PARTITIONS)} (the official partition files).")
    videos: list[AnnotatedVideo] = []
    skipped: dict[str, int] = {}
    for file, split in partitions:
        seen: set[str] = set()
        for line, text in _text_lines(file):
            parts = text.split()
            if len(parts) != 2:
                raise UsageError(f"{file}: line {line}: expected 'URL LABEL,LABEL,...', found {len(parts)} fields.")
            youtube_id = youtube_id_from(parts[0], file=file, line=line)
            names = tuple(_indexed_label(index, labels, file, line) for index in parts[1].split(","))
            if youtube_id in seen:
                _count(skipped, "repeated video")
                continue
            seen.add(youtube_id)
            videos.append(AnnotatedVideo(youtube_id, names[0], split, (youtube_id,), names, f"{file}:{line}"))
    return Annotations("sports1m", folder, videos, labels, skipped, multi_label=True)


def read_minisports(annotations: str | os.PathLike) -> Annotations:
    """miniSports from ``train.txt`` / ``val.txt`` / ``test.txt`` (lines ``ID LABEL``) in a folder.

    With ``labels.txt`` beside them, LABEL may be a 0-based index into it and every name must be
    in it; the class list is that file's. A video listed twice in one file is kept once.
    """
    folder = _folder(annotations, "miniSports annotation folder")
    labels = _label_list(folder / LABELS_FILE) if (folder / LABELS_FILE).is_file() else None
    lists = [(folder / name, split) for name, split in MINISPORTS_FILES.items() if (folder / name).is_file()]
    if not lists:
        raise UsageError(f"{folder}: holds none of {', '.join(MINISPORTS_FILES)} (one 'ID LABEL' line per video).")
    known = set(labels or ())
    videos: list[AnnotatedVideo] = []
    skipped: dict[str, int] = {}
    for file, split in lists:
        seen: set[str] = set()
        for line, text in _text_lines(file):
            parts = text.split(maxsplit=1)
            if len(parts) != 2:
                raise UsageError(f"{file}: line {line}: expected 'YOUTUBE_ID LABEL', found {text!r}.")
            youtube_id = youtube_id_from(parts[0], file=file, line=line)
            label = parts[1].strip()
            if labels is not None and label.isdigit():
                label = _indexed_label(label, labels, file, line)
            elif labels is not None and label not in known:
                raise UsageError(f"{file}: line {line}: label {label!r} is neither in {folder / LABELS_FILE} nor an index into it.")
            if youtube_id in seen:
                _count(skipped, "repeated video")
                continue
            seen.add(youtube_id)
            videos.append(AnnotatedVideo(youtube_id, label, split, (youtube_id,), (label,), f"{file}:{line}"))
    classes = labels if labels is not None else sorted({video.label for video in videos})
    return Annotations("minisports", folder, videos, classes, skipped)


def youtube_id_from(text: str, *, file: Path | str = "", line: int = 0) -> str:
    """The YouTube id of a watch URL (``https://www.youtube.com/watch?v=ID``, ``youtu.be/ID``) or of a bare id."""
    text = text.strip()
    candidate = text
    if "/" in text or "?" in text:
        url = urlparse(text if "://" in text else f"https://{text}")
        if url.netloc.endswith("youtu.be"):
            candidate = url.path.strip("/")
        else:
            candidate = (parse_qs(url.query).get("v") or [""])[0]
    if not candidate or not _ID.match(candidate):
        where = f"{file}: line {line}: " if file else ""
        raise UsageError(f"{where}{text!r} is neither a YouTube id nor a watch URL (https://www.youtube.com/watch?v=ID).")
    return candidate


# -- file reading ---------------------------------------------------------------------------------


def _kinetics_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    folder = _folder(source, "Kinetics annotation folder or CSV file")
    files = sorted(
        path for path in folder.iterdir() if path.is_file() and path.name.lower().endswith(KINETICS_FILE_ENDINGS)
    )
    if not files:
        raise UsageError(
            f"{folder}: holds no Kinetics CSV (train.csv, validate.csv, test.csv, or names ending that way)."
        )
    return files


def _split_from_name(file: Path) -> str:
    """The split a Kinetics CSV without a ``split`` column holds, from its name (``kinetics_400_val.csv``)."""
    name = file.name.lower()
    for ending in KINETICS_FILE_ENDINGS:
        if name.endswith(ending):
            return ending[: -len(".csv")]
    raise UsageError(f"{file}: has no split column and its name does not say the split (train, validate, test).")


def _csv_rows(file: Path, *, required: tuple[str, ...]):
    """``(line, row)`` of a CSV file with a header naming ``required``; blank lines skipped."""
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [cell.strip() for cell in next(reader, [])]
            missing = [column for column in required if column not in header]
            if missing:
                raise UsageError(
                    f"{file}: line 1: the header must name the columns {','.join(required)} (and label, split); "
                    f"missing {','.join(missing)} in {','.join(header) or 'an empty first line'}."
                )
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise UsageError(
                        f"{file}: line {reader.line_num}: expected {len(header)} columns ({','.join(header)}), found {len(row)}."
                    )
                yield reader.line_num, dict(zip(header, row))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"{file}: cannot be read as a CSV file ({error}).") from None


def _text_lines(file: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of the non-blank lines of a text file."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{file}: cannot be read as a text file ({error}).") from None
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _label_list(file: Path) -> list[str]:
    """``labels.txt``: line n+1 is class n. A blank line inside would shift every index, so it is refused."""
    if not file.is_file():
        raise UsageError(f"{file}: no such file (the label list: one class per line, line 1 is index 0).")
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{file}: cannot be read as a text file ({error}).") from None
    while lines and not lines[-1].strip():
        lines.pop()
    labels = [line.strip() for line in lines]
    for number, label in enumerate(labels, start=1):
        if not label:
            raise UsageError(f"{file}: line {number} is empty; every line up to the last names a class (line n is index n-1).")
    if len(set(labels)) != len(labels):
        repeated = next(label for label in labels if labels.count(label) > 1)
        raise UsageError(f"{file}: class {repeated!r} is listed twice; list each class once.")
    if not labels:
        raise UsageError(f"{file}: lists no classes.")
    return labels


def _indexed_label(text: str, labels: list[str], file: Path, line: int) -> str:
    try:
        index = int(text)
    except ValueError:
        raise UsageError(f"{file}: line {line}: label index {text!r} is not a whole number.") from None
    if not 0 <= index < len(labels):
        raise UsageError(f"{file}: line {line}: label index {index} is outside 0..{len(labels) - 1} ({LABELS_FILE} has {len(labels)} classes).")
    return labels[index]


def _checked_id(text: str, file: Path, line: int) -> str:
    youtube_id = text.strip()
    if not youtube_id or not _ID.match(youtube_id):
        raise UsageError(f"{file}: line {line}: youtube_id {text!r} is not a YouTube id (letters, digits, - and _).")
    return youtube_id


def _whole_seconds(text: str, file: Path, line: int) -> int:
    """A Kinetics time (whole seconds; ``14`` or ``14.0``), as the downloaders format it."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{file}: line {line}: time_start and time_end must be numbers of seconds, got {text!r}.") from None
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise UsageError(f"{file}: line {line}: time_start and time_end must be whole seconds >= 0, got {text!r}.")
    return int(value)


def _folder(path: str | os.PathLike, what: str) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        problem = "is a file, not a folder" if folder.is_file() else "no such folder"
        raise UsageError(f"{folder}: {problem} (expected the {what}).")
    return folder


def _count(counts: dict[str, int], reason: str) -> None:
    counts[reason] = counts.get(reason, 0) + 1
