"""A manifest for a real dataset: find the annotated videos on disk, write ``path,label,split``.

:func:`write_dataset_manifest` takes the :class:`~scsampler.data.datasets.Annotations` of a
dataset and a folder of downloaded videos, and writes, atomically, beside ``output``:

- ``output`` itself: the project's manifest (``path,label,split``; paths relative to its folder;
  Sports-1M adds ``labels``, every label of the video joined by ``|``);
- ``classes.txt``: the dataset's full class list (Kinetics: the sorted labels; Sports-1M: its
  ``labels.txt`` order), so that a class with no downloaded video keeps its index;
- ``{stem}.missing.csv`` (``youtube_id,label,split,expected,annotation``): the videos not found.

Missing videos are normal (a few percent of Kinetics is gone from YouTube): they are counted and
listed, never an error. Only a folder in which *none* of the videos is found is an error. The
folder is walked once and every file with a video extension (:data:`VIDEO_EXTENSIONS`) indexed
by its name without extension, in any subfolder (per label or per split, as downloaders lay
them out); hidden files and folders are skipped.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from scsampler._atomic import atomic_output
from scsampler.data.datasets import AnnotatedVideo, Annotations
from scsampler.data.manifest import SPLITS
from scsampler.errors import UsageError

__all__ = ["VIDEO_EXTENSIONS", "ManifestSummary", "index_videos", "write_dataset_manifest", "missing_list_path"]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi")
MISSING_COLUMNS = ("youtube_id", "label", "split", "expected", "annotation")
LABELS_SEPARATOR = "|"


@dataclass(frozen=True)
class ManifestSummary:
    """What :func:`write_dataset_manifest` wrote: files, videos per split, missing videos, classes."""

    dataset: str
    manifest: Path
    classes_file: Path
    missing_file: Path
    videos: dict[str, int]  # split -> videos found
    missing: dict[str, int]  # split -> videos not found
    classes: int
    skipped: dict[str, int] = field(default_factory=dict)  # annotation rows left out, by reason

    def to_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "dataset": self.dataset,
            "manifest": str(self.manifest),
            "classes_file": str(self.classes_file),
            "missing_file": str(self.missing_file),
            "videos": sum(self.videos.values()),
            "videos_per_split": dict(self.videos),
            "missing": sum(self.missing.values()),
            "missing_per_split": dict(self.missing),
            "classes": self.classes,
            "skipped_rows": dict(self.skipped),
        }


def missing_list_path(output: str | os.PathLike) -> Path:
    """``manifest.csv`` -> ``manifest.missing.csv`` beside it."""
    output = Path(output)
    return output.with_name(f"{output.stem}.missing.csv")


def index_videos(video_dir: str | os.PathLike) -> dict[str, list[Path]]:
    """Every video file under ``video_dir`` (one walk, symbolic links followed), by name without extension."""
    root = Path(video_dir)
    if not root.is_dir():
        problem = "is a file, not a folder" if root.is_file() else "no such folder"
        raise UsageError(f"{root}: {problem} (expected the folder of downloaded videos).")
    index: dict[str, list[Path]] = {}
    visited: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a link loop, or a folder linked twice
            subfolders[:] = []
            continue
        visited.add(real)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            stem, extension = os.path.splitext(name)
            if extension.lower() in VIDEO_EXTENSIONS and not name.startswith("."):
                index.setdefault(stem, []).append(Path(folder) / name)
    return index


def write_dataset_manifest(
    annotations: Annotations, video_dir: str | os.PathLike, output: str | os.PathLike
) -> ManifestSummary:
    """Find ``annotations``' videos under ``video_dir``; write the manifest, ``classes.txt`` and the missing list.

    Raises:
        UsageError: ``video_dir`` is not a folder, the annotations name no video, or none of
            them is found (then nothing is written).
    """
    output = Path(output)
    if output.is_dir():
        raise UsageError(f"{output}: is a folder; -o takes the manifest's file name (e.g. {output / 'manifest.csv'}).")
    if not annotations.videos:
        raise UsageError(f"{annotations.source}: names no labelled video of a split this manifest keeps.")
    index = index_videos(video_dir)
    root = Path(os.path.abspath(output.parent))
    found: list[tuple[AnnotatedVideo, Path]] = []
    missing: list[AnnotatedVideo] = []
    used: set[Path] = set()
    for video in annotations.videos:
        path = _find(video, index, used)
        if path is None:
            missing.append(video)
        else:
            used.add(path)
            found.append((video, path))
    if not found:
        example = annotations.videos[0].stems[0]
        raise UsageError(
            f"{video_dir}: none of the {len(annotations.videos)} videos of {annotations.source} is there "
            f"(looked for files such as {example}{'|'.join(VIDEO_EXTENSIONS)} in any subfolder); check VIDEO_DIR."
        )

    header = ["path", "label", "split"] + (["labels"] if annotations.multi_label else [])
    rows = []
    for video, path in sorted(found, key=lambda pair: SPLITS.index(pair[0].split)):  # stable: file order within a split
        row = [Path(os.path.relpath(os.path.abspath(path), root)).as_posix(), video.label, video.split]
        if annotations.multi_label:
            row.append(LABELS_SEPARATOR.join(video.labels))
        rows.append(row)
    missing_rows = [
        [video.youtube_id, video.label, video.split, f"{video.stems[0]}{{{','.join(VIDEO_EXTENSIONS)}}}", video.source]
        for video in missing
    ]
    classes_file, missing_file = output.with_name("classes.txt"), missing_list_path(output)
    # The manifest last: when it exists, the files beside it are complete.
    _write_csv(missing_file, MISSING_COLUMNS, missing_rows)
    with atomic_output(classes_file) as temporary:
        temporary.write_text("".join(f"{name}\n" for name in annotations.classes), encoding="utf-8")
    _write_csv(output, header, rows)
    return ManifestSummary(
        dataset=annotations.dataset,
        manifest=output,
        classes_file=classes_file,
        missing_file=missing_file,
        videos=_per_split(video for video, _ in found),
        missing=_per_split(missing),
        classes=len(annotations.classes),
        skipped=dict(annotations.skipped),
    )


def _find(video: AnnotatedVideo, index: dict[str, list[Path]], used: set[Path]) -> Path | None:
    """The file of ``video``: the first of its names found; among several files of that name, one under a
    folder named after its label; a file another annotation already took is not used twice."""
    label_folders = {video.label, video.label.replace(" ", "_")}
    for stem in video.stems:
        candidates = [path for path in index.get(stem, ()) if path not in used]
        if candidates:
            by_label = [path for path in candidates if label_folders & set(path.parent.parts)]
            return (by_label or candidates)[0]
    return None


def _per_split(videos) -> dict[str, int]:
    counts = {split: 0 for split in SPLITS}
    for video in videos:
        counts[video.split] += 1
    return {split: count for split, count in counts.items() if count}


def _write_csv(path: Path, header, rows) -> None:
    with atomic_output(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
