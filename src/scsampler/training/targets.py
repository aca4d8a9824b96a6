"""Saliency targets: the clip classifier run densely over every clip of a dataset, once, on disk.

This is the costly offline step of SCSampler training (SPEC step 4). The dense pass is the
pipeline's (:func:`scsampler.pipeline.every_clip_pipeline`); :func:`targets_frame` turns one video's
logits into its rows. For every clip of every video of a manifest it stores, one row per clip
(:data:`TARGET_COLUMNS`):

``path`` (absolute), ``label``, ``label_index``, ``split``, ``clip_index``, ``start_frame``,
``end_frame`` (exclusive), ``video_frames``, ``start_s``, ``end_s``, ``true_prob`` (the
classifier's softmax probability of the true class), ``top1`` (its top-1 class index),
``correct`` (``top1 == label_index``), ``logits`` (a list of C floats), the classifier's own
confidence, which needs no label: ``confidence`` (its max softmax probability), ``margin``
(top-1 minus top-2 probability) and ``contrast`` (how far the clip's softmax is from the video's
mean softmax: :func:`video_contrast`), and, when the
manifest has a ``segments.csv`` beside it, ``in_segment`` (1.0 when the clip overlaps one of
the video's action segments, 0.0 when not, NaN for a video that file does not list): sampler
training validates against it (what a sampler is for: finding the action).

Unlabelled videos (a manifest without labels, or a folder: ``scsampler.data.video_folder``)
get ``label`` ``""``, ``label_index`` -1, ``true_prob`` NaN and ``correct`` null; their class
list is the classifier's. :func:`read_targets` computes whichever of ``confidence``, ``margin`` and
``contrast`` (per video) a file written before they existed lacks, from the logits.

The Parquet file's metadata holds the class list, the classifier's name, the clip length and
whether the videos were labelled (``labelled``).

Resuming: each finished video is written as its own part (``<output>.parts/NNNNNN.parquet``,
atomically), and finished videos are skipped on a rerun; the final file is written atomically
from the parts, which are then removed. Under ``torchrun`` the videos are sharded over the
ranks (video ``i`` goes to rank ``i % world_size``) and rank 0 writes the final file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scsampler._atomic import atomic_output
from scsampler.data.checks import emit_data_warnings, one_class_predictions
from scsampler.errors import ScsamplerError, UsageError
from scsampler.metrics import video_probabilities
from scsampler.probabilities import confidence_and_margin, softmax
from scsampler.types import ClipGrid

__all__ = [
    "TARGET_COLUMNS",
    "OPTIONAL_TARGET_COLUMNS",
    "LabelSummary",
    "video_contrast",
    "targets_frame",
    "compute_targets",
    "read_targets",
    "write_targets",
    "grid_from_targets",
    "targets_one_class",
]

TARGET_COLUMNS = (
    "path",
    "label",
    "label_index",
    "split",
    "clip_index",
    "start_frame",
    "end_frame",
    "video_frames",
    "start_s",
    "end_s",
    "true_prob",
    "top1",
    "correct",
    "logits",
)
#: Columns a targets file may have beyond :data:`TARGET_COLUMNS`.
OPTIONAL_TARGET_COLUMNS = ("in_segment", "confidence", "margin", "contrast")
#: The classifier's own confidence per clip, label-free (:func:`scsampler.probabilities.confidence_and_margin`,
#: :func:`video_contrast`).
CONFIDENCE_COLUMNS = ("confidence", "margin", "contrast")
_META_KEY = b"scsampler.targets"


@dataclass
class LabelSummary:
    """What :func:`compute_targets` did: videos labelled now, skipped as done, and failures.

    Under torchrun, ``labelled`` and ``resumed`` count this rank's videos (``rank``); ``clips`` and
    ``errors`` (on rank 0) cover the whole manifest. ``unlabelled_videos``: the manifest had no labels.
    """

    output: Path
    videos: int = 0
    labelled: int = 0
    resumed: int = 0
    clips: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    rank: int = 0
    unlabelled_videos: bool = False


def video_contrast(logits: np.ndarray) -> np.ndarray:
    """Per clip of one video (``logits`` [L, C], every clip of it): KL(clip's softmax || the video's mean softmax), in nats.

    The video's mean softmax is what the classifier says about the video's typical clip; in an
    untrimmed video most clips are background, so it is mostly the classifier's background
    prediction (for example one class it gives to background everywhere, often confidently).
    A clip's contrast is the information its prediction carries beyond that prior: near 0 for a
    clip the classifier sees like the rest of the video, however confident, and large for a clip
    that is confident about a class the rest of the video does not show (an action). Needs no
    label; ``max softmax`` ranks the confident background as high as the action (docs/targets.md).
    """
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    if logits.shape[0] == 0:
        return np.zeros(0)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    prior = np.exp(log_p).mean(axis=0)
    return np.maximum((np.exp(log_p) * (log_p - np.log(prior))).sum(axis=1), 0.0)


def targets_frame(grid: ClipGrid, logits: np.ndarray, *, label_index: int | None) -> pd.DataFrame:
    """One row per clip of ``grid`` from its logits ``[L, C]`` (the dense pass's, in grid order): the target
    columns without ``path``, ``label``, ``label_index`` and ``split``.

    ``label_index`` None (an unlabelled video): ``true_prob`` NaN and ``correct`` null; ``confidence``,
    ``margin`` and ``contrast`` are stored either way.
    """
    logits = np.asarray(logits, dtype=np.float32)
    if label_index is not None and not 0 <= label_index < logits.shape[1]:
        raise UsageError(f"label index {label_index} is outside the classifier's {logits.shape[1]} classes.")
    probabilities = softmax(logits)  # float32, as the targets have always been
    top1 = logits.argmax(axis=1)
    confidence, margin = confidence_and_margin(logits)
    if label_index is None:
        true_prob = np.full(len(grid), np.nan)
        correct = pd.array([pd.NA] * len(grid), dtype="boolean")
    else:
        true_prob, correct = probabilities[:, label_index].astype(np.float64), top1 == label_index
    return pd.DataFrame(
        {
            "clip_index": grid.index.astype(np.int64),
            "start_frame": grid.start_frame.astype(np.int64),
            "end_frame": grid.end_frame.astype(np.int64),
            "video_frames": np.full(len(grid), grid.video_frames, dtype=np.int64),
            "start_s": grid.start_s.astype(np.float64),
            "end_s": grid.end_s.astype(np.float64),
            "true_prob": true_prob,
            "top1": top1.astype(np.int64),
            "correct": correct,
            "logits": list(logits),
            "confidence": confidence,
            "margin": margin,
            "contrast": video_contrast(logits),
        }
    )


def _identity(classifier, classifier_source: str, frames_per_clip: int, segments_source: str = "") -> str:
    """A key that changes when the classifier, the clip geometry or the segments change (stale parts are never reused)."""
    text = json.dumps([
        classifier_source, _file_stamp(classifier_source), classifier.name, frames_per_clip, classifier.classes,
        segments_source, _file_stamp(segments_source) if segments_source else [], "confidence-columns-2",
    ])  # fmt: skip
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _file_stamp(source: str) -> list:
    try:
        stat = os.stat(source)
        return [stat.st_size, stat.st_mtime_ns]
    except OSError:
        return []


def _write_parquet_atomically(table: pa.Table, path: Path) -> None:
    with atomic_output(path) as temporary:
        pq.write_table(table, temporary)


def _with_metadata(table: pa.Table, metadata: dict) -> pa.Table:
    existing = dict(table.schema.metadata or {})
    existing[_META_KEY] = json.dumps(metadata).encode("utf-8")
    return table.replace_schema_metadata(existing)


def compute_targets(
    manifest,
    *,
    classifier,
    output: str | os.PathLike,
    classifier_source: str = "",
    batch_size: int | None = None,
    rank: int = 0,
    world_size: int = 1,
    barrier: Callable[[], None] | None = None,
    progress: Callable[[Iterable, int], Iterable] | None = None,
    segments_path: str | os.PathLike | None = None,
    pipeline=None,
) -> LabelSummary:
    """Label every clip of every video of ``manifest`` with ``classifier``; write ``output`` (Parquet).

    Args:
        manifest: a ``scsampler.data.manifest.Manifest`` (its classes must be the classifier's);
            an unlabelled one (no labels, no classes) takes the classifier's classes.
        classifier: a ``scsampler.models.Classifier``.
        output: the Parquet file to write (atomically).
        classifier_source: the name or path the classifier came from (recorded; part of the
            resume key, with the file's size and time, so parts of another classifier are not reused).
        rank, world_size, barrier: sharding under torchrun; ``barrier()`` waits for every rank.
        progress: wraps the iterable of this rank's videos (a progress bar), given its length.
        segments_path: a ``segments.csv`` (default: the one beside the manifest, when there is
            one); each clip gets ``in_segment`` from its action segments.
        pipeline: the :class:`scsampler.pipeline.Pipeline` that runs the dense pass (every clip;
            ``--engine ray`` builds one on Ray); default: :func:`scsampler.pipeline.every_clip_pipeline`
            around ``classifier``, in this process. :func:`scsampler.training.labelling.label_videos`
            builds it from a classifier's name or checkpoint, under torchrun or not.

    Videos that cannot be decoded are reported in ``LabelSummary.errors`` and left out.
    """
    output = Path(output)
    labelled = manifest.labelled
    if not labelled and any(entry.labelled for entry in manifest.entries):
        raise UsageError("the manifest mixes labelled and unlabelled videos; label them in two runs.")
    if not labelled:
        if not classifier.classes:
            raise UsageError(
                "unlabelled videos take their class list from the classifier, and this one has none; "
                "use a scsampler classifier checkpoint or pretrained weights."
            )
    elif list(manifest.classes) != list(classifier.classes):
        if len(manifest.classes) != len(classifier.classes):
            raise UsageError(
                f"the manifest has {len(manifest.classes)} classes but the classifier has {len(classifier.classes)}; "
                "label with a classifier trained on this manifest's classes."
            )
        warnings.warn(
            "the classifier's class names differ from the manifest's; classes are matched by position.", stacklevel=2
        )
    segments, segments_source = _action_segments(manifest, segments_path)
    key = _identity(classifier, classifier_source, classifier.frames_per_clip, segments_source)
    parts = output.parent / f".{output.name}.parts-{key}"
    parts.mkdir(parents=True, exist_ok=True)
    summary = LabelSummary(output=output, videos=len(manifest.entries), rank=rank, unlabelled_videos=not labelled)
    mine = [(i, entry) for i, entry in enumerate(manifest.entries) if i % world_size == rank]
    todo = [(i, entry) for i, entry in mine if not (parts / f"{i:06d}.parquet").is_file()]
    summary.resumed = len(mine) - len(todo)
    if pipeline is None:
        from scsampler.pipeline import every_clip_pipeline

        pipeline = every_clip_pipeline(classifier, batch_size=batch_size)
    entries = dict(todo)
    outcomes = pipeline.run([entry.path for _, entry in todo], positions=[i for i, _ in todo])
    for outcome in progress(outcomes, len(todo)) if progress else outcomes:
        position, entry = outcome.position, entries[outcome.position]
        part = parts / f"{position:06d}.parquet"
        if outcome.error is not None:
            summary.errors.append((str(entry.path), outcome.error))
            (parts / f"{position:06d}.error").write_text(outcome.error, encoding="utf-8")
            continue
        try:
            label_index = entry.label_index if entry.labelled else None
            frame = targets_frame(outcome.plan.clips, outcome.logits, label_index=label_index)
        except ScsamplerError as error:
            summary.errors.append((str(entry.path), str(error)))
            (parts / f"{position:06d}.error").write_text(str(error), encoding="utf-8")
            continue
        frame.insert(0, "split", entry.split)
        frame.insert(0, "label_index", np.int64(entry.label_index))
        frame.insert(0, "label", entry.label)
        frame.insert(0, "path", str(entry.path))
        columns = list(TARGET_COLUMNS) + list(CONFIDENCE_COLUMNS)
        if segments is not None:
            frame["in_segment"] = _in_segment(frame, segments.get(Path(entry.path).resolve()))
            columns.append("in_segment")
        _write_parquet_atomically(pa.Table.from_pandas(frame[columns], preserve_index=False), part)
        summary.labelled += 1
    if barrier is not None:
        barrier()
    if rank != 0:
        return summary
    tables, done = [], 0
    for position, entry in enumerate(manifest.entries):
        part = parts / f"{position:06d}.parquet"
        if part.is_file():
            tables.append(pq.read_table(part))
            done += 1
        elif (parts / f"{position:06d}.error").is_file() and not any(p == str(entry.path) for p, _ in summary.errors):
            summary.errors.append((str(entry.path), (parts / f"{position:06d}.error").read_text(encoding="utf-8")))
    if not tables:
        raise ScsamplerError(f"{output}: no video could be labelled; see the errors above.")
    table = pa.concat_tables(tables)
    classes = list(manifest.classes) if labelled else list(classifier.classes)
    metadata = {
        "classes": classes,
        "classifier": classifier.name,
        "classifier_source": classifier_source,
        "frames_per_clip": int(classifier.frames_per_clip),
        "labelled": labelled,
    }
    _write_parquet_atomically(_with_metadata(table, metadata), output)
    summary.clips = table.num_rows
    if labelled:  # the one-class check compares predictions with labels
        _warn_on_one_class(table, classes, output)
    if done == len(manifest.entries):  # everything is in the final file: the parts are no longer needed
        shutil.rmtree(parts, ignore_errors=True)
    return summary


def targets_one_class(rows: pd.DataFrame, classes: Sequence[str], *, targets_path: str | os.PathLike) -> list[str]:
    """:func:`~scsampler.data.checks.one_class_predictions` on the labelled videos of a targets table.

    ``rows`` is a DataFrame with the targets columns ``path``, ``label`` and ``logits``
    (one row per clip), and optionally ``in_segment``; a video's prediction is the mean softmax
    over its action clips (``in_segment`` 1) when it has any, else over all its clips: the
    background of an untrimmed video says nothing about whether the classifier collapsed.
    """
    predicted, labels = [], []
    action_clips_used = False
    for _, video in rows.groupby("path", sort=False):
        if "in_segment" in video and (video["in_segment"] == 1).any():
            video = video[video["in_segment"] == 1]
            action_clips_used = True
        logits = np.stack([np.asarray(value, dtype=np.float64) for value in video["logits"]])
        predicted.append(classes[int(np.argmax(video_probabilities(logits, np.arange(len(logits)))))])
        labels.append(str(video["label"].iloc[0]))
    what = "the labelled videos (their action clips)" if action_clips_used else "the labelled videos (every clip)"
    return one_class_predictions(predicted, labels, file=targets_path, what=what)


def _warn_on_one_class(table: pa.Table, classes: list[str], output: Path) -> None:
    """A DataWarning when the classifier predicts one class for 90% or more of the labelled videos.

    Video-level (mean softmax over a video's action clips where ``in_segment`` knows them, else
    over every clip), not clip-level: most clips of an untrimmed video are background, which even
    a good classifier may give to one class (on the benchmark preset, one class took every video
    over all clips while the classifier's validation clip accuracy was 100%).
    """
    columns = ["path", "label", "logits"] + (["in_segment"] if "in_segment" in table.column_names else [])
    rows = table.select(columns).to_pandas()
    emit_data_warnings(targets_one_class(rows, classes, targets_path=output), stacklevel=3)


def _action_segments(manifest, segments_path) -> tuple[dict | None, str]:
    """Action spans per video (resolved path -> [(start_s, end_s)]) and the file they came from, or (None, '')."""
    from scsampler.data.manifest import read_segments

    if segments_path is None:
        root = getattr(manifest, "root", None)
        beside = Path(root) / "segments.csv" if root is not None else None
        if beside is None or not beside.is_file():
            return None, ""
        segments_path = beside
    spans = {
        path: [(segment.start_s, segment.end_s) for segment in segments if segment.is_action]
        for path, segments in read_segments(segments_path).items()
    }
    return spans, os.path.abspath(segments_path)


def _in_segment(frame: pd.DataFrame, spans: list[tuple[float, float]] | None) -> np.ndarray:
    """1.0 / 0.0 per clip for a video the segments file lists, NaN for one it does not."""
    if spans is None:
        return np.full(len(frame), np.nan)
    from scsampler.metrics import clips_in_segments

    return clips_in_segments(frame["start_s"].to_numpy(), frame["end_s"].to_numpy(), spans).astype(np.float64)


def write_targets(rows: pd.DataFrame, output: str | os.PathLike, *, classes: list[str], frames_per_clip: int, classifier: str = "") -> Path:
    """Write target rows (the :data:`TARGET_COLUMNS`) atomically, with the metadata :func:`read_targets` needs.

    For targets made another way than :func:`compute_targets` (for example from known segments).
    """
    missing = [c for c in TARGET_COLUMNS if c not in rows.columns]
    if missing:
        raise UsageError(f"target rows lack the columns {', '.join(missing)}.")
    columns = list(TARGET_COLUMNS) + [c for c in OPTIONAL_TARGET_COLUMNS if c in rows.columns]
    table = pa.Table.from_pandas(rows[columns], preserve_index=False)
    metadata = {"classes": list(classes), "classifier": classifier, "classifier_source": classifier, "frames_per_clip": int(frames_per_clip)}
    output = Path(output)
    _write_parquet_atomically(_with_metadata(table, metadata), output)
    return output


def read_targets(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """``(rows, metadata)`` of a targets file written by :func:`compute_targets`.

    Those of ``confidence``, ``margin`` and ``contrast`` (per video) that the file predates are computed
    from the logits; the ones it holds are kept.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such targets file; make one with `scsampler label MANIFEST -o {path.name}`.")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ScsamplerError(f"{path}: not a readable Parquet file ({error}).") from None
    missing = [c for c in TARGET_COLUMNS if c not in table.column_names]
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if missing or raw is None:
        raise ScsamplerError(
            f"{path}: not a saliency targets file (missing {', '.join(missing) or 'its metadata'}); "
            "make one with `scsampler label`."
        )
    rows = table.to_pandas()
    _add_missing_confidences(rows)
    return rows, json.loads(raw.decode("utf-8"))


def _add_missing_confidences(rows: pd.DataFrame) -> None:
    """Compute those of :data:`CONFIDENCE_COLUMNS` that ``rows`` lack (a file older than them) from the logits."""
    missing = [column for column in CONFIDENCE_COLUMNS if column not in rows.columns]
    if not missing:
        return
    logits = np.stack([np.asarray(value, dtype=np.float64) for value in rows["logits"]]) if len(rows) else np.zeros((0, 1))
    if "confidence" in missing or "margin" in missing:
        confidence, margin = confidence_and_margin(logits)
        for column, values in (("confidence", confidence), ("margin", margin)):
            if column in missing:
                rows[column] = values
    if "contrast" in missing:
        contrast = np.zeros(len(rows))
        for positions in rows.groupby("path", sort=False).indices.values():  # every clip of a video is in its file
            contrast[positions] = video_contrast(logits[positions])
        rows["contrast"] = contrast


def grid_from_targets(rows: pd.DataFrame, *, frames_per_clip: int) -> ClipGrid:
    """The clip grid of one video's target rows (sorted by clip index)."""
    rows = rows.sort_values("clip_index")
    return ClipGrid(
        frames_per_clip=int(frames_per_clip),
        stride_frames=int(frames_per_clip),
        video_frames=int(rows["video_frames"].iloc[0]),
        index=rows["clip_index"].to_numpy(),
        start_frame=rows["start_frame"].to_numpy(),
        end_frame=rows["end_frame"].to_numpy(),
        start_s=rows["start_s"].to_numpy(),
        end_s=rows["end_s"].to_numpy(),
        padded=bool(((rows["end_frame"] - rows["start_frame"]) < frames_per_clip).any()),
    )
