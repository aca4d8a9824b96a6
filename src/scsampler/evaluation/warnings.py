"""Warnings on degenerate results: a classifier stuck on one class, audio fallbacks, runtime estimates off.

Pure functions: each takes records or rows and returns messages (``str``), each
starting with the file it is about and saying what to do. ``evaluate`` emits them
as :class:`~scsampler.errors.DataWarning` (with the manifest's own, from
:mod:`scsampler.data.checks`) and writes them all to ``RUN_DIR/warnings.csv``
(``kind,message``), which the report shows.

* :func:`dense_one_class`: the classifier predicts one class for 90% or more of a split's
  videos while the labels are not that one-sided (:func:`scsampler.data.checks.one_class_predictions`);
* :func:`audio_fallbacks`: videos without audio, on which the audio samplers fall
  back to Uniform and the combinations to the visual ranking alone;
* :func:`runtime_disagreements`: an end-to-end run whose measured seconds differ
  from the estimate made from cached costs by more than 25%.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np

from scsampler._atomic import atomic_output
from scsampler.data.checks import emit_data_warnings, one_class_predictions
from scsampler.metrics import video_probabilities

if TYPE_CHECKING:
    import pandas as pd

    from scsampler.evaluation.cache import VideoRecord
    from scsampler.evaluation.strategies import Strategy

__all__ = [
    "RUNTIME_TOLERANCE",
    "WARNING_COLUMNS",
    "dense_one_class",
    "audio_fallbacks",
    "runtime_disagreements",
    "evaluation_warnings",
    "emit_warnings",
    "write_warnings",
]

#: End-to-end seconds that differ from the estimate by more than this share of the measured are reported.
RUNTIME_TOLERANCE = 0.25
WARNING_COLUMNS = ("kind", "message")
_LISTED = 5  # videos named in one message before "and N more"


def dense_one_class(records: Sequence[VideoRecord], classes: Sequence[str], *, manifest_path: str | os.PathLike, split: str) -> list[str]:
    """:func:`one_class_predictions` on the classifier's video-level predictions: the mean softmax over
    a video's action clips where ``segments.csv`` gives them, else over every clip (Dense).

    On untrimmed videos the background can take Dense's average to one class while the classifier
    is right on the actions (the benchmark preset: one class for all 100 test videos, 100% on
    the validation action clips): that is Dense's weakness, which samplers exist for, not a collapse.
    """
    predicted, labels = [], []
    action_clips_used = False
    for record in records:
        dense = record.dense
        if dense.num_clips == 0:
            continue
        clips = np.arange(dense.num_clips)
        spans = record.segments
        if spans:
            inside = [i for i in clips if any(min(dense.end_s[i], e) - max(dense.start_s[i], s) > 0 for s, e in spans)]
            if inside:
                clips, action_clips_used = np.asarray(inside), True
        predicted.append(classes[int(np.argmax(video_probabilities(dense.logits, clips)))])
        labels.append(dense.label)
    what = f"the {split} split ({'its action clips' if action_clips_used else 'Dense: every clip'})"
    return one_class_predictions(predicted, labels, file=manifest_path, what=what)


def audio_fallbacks(records: Sequence[VideoRecord], strategies: Sequence[Strategy], *, manifest_path: str | os.PathLike, split: str) -> list[str]:
    """One message naming the videos on which a strategy falls back because the video has no audio.

    A sampler whose cached scores are None for a video (an audio sampler on a video
    without audio) makes a ``sampler`` strategy fall back to Uniform and a
    ``combination`` strategy to its visual ranking alone.
    """
    silent = [r for r in records if any(s.scores is None for s in r.samplers.values())]
    if not silent:
        return []
    absent = {name for r in silent for name, s in r.samplers.items() if s.scores is None}
    to_uniform = [s.name for s in strategies if s.kind == "sampler" and s.visual in absent]
    to_visual = [s.name for s in strategies if s.kind == "combination" and s.audio in absent]
    if not to_uniform and not to_visual:
        return []
    names = [Path(r.dense.path).name for r in silent]
    listed = ", ".join(names[:_LISTED]) + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")
    effects = []
    if to_uniform:
        effects.append(f"{', '.join(to_uniform)} fall{'s' if len(to_uniform) == 1 else ''} back to Uniform")
    if to_visual:
        effects.append(f"{', '.join(to_visual)} fall{'s' if len(to_visual) == 1 else ''} back to the visual ranking alone")
    return [
        f"{manifest_path}: {len(silent)} of {len(records)} videos of the {split} split have no audio track "
        f"({listed}); on them {' and '.join(effects)}, so those rows are partly not audio results. "
        "Give the videos a sound track, or compare the audio strategies on videos that have one."
    ]


def runtime_disagreements(
    rows: Iterable[Mapping], *, check_file: str | os.PathLike = "runtime_check.csv", tolerance: float = RUNTIME_TOLERANCE
) -> list[str]:
    """A message per end-to-end check (``strategy, classifier, path, estimated_s, measured_s``) off by more than ``tolerance``.

    The difference is relative to the measured seconds.
    """
    messages = []
    for row in rows:
        estimated, measured = float(row["estimated_s"]), float(row["measured_s"])
        if not (np.isfinite(estimated) and np.isfinite(measured)) or measured <= 0:
            continue
        off = (estimated - measured) / measured
        if abs(off) <= tolerance:
            continue
        head = (
            f"{row['path']}: the runtime of {row['strategy']} with {row['classifier']} was estimated at "
            f"{estimated:.2f} s from cached costs but measured at {measured:.2f} s end to end ({off:+.0%}; {check_file}); "
        )
        if off > 0:  # faster than estimated: what the estimate, a sum of stages, leaves out
            messages.append(
                head + "the estimate adds up the stages' cached seconds, while classify_video decodes the next clips "
                "as it classifies these and scores a composite's visual and audio parts side by side: the "
                "table's seconds are an upper bound for this strategy here."
            )
        else:
            messages.append(
                head + "runtime estimates are unreliable: run on a quiet machine or with more "
                "end-to-end videos (--end-to-end-videos)."
            )
    return messages


def evaluation_warnings(
    records: Sequence[VideoRecord],
    strategies: Sequence[Strategy],
    check_rows: Iterable[Mapping],
    *,
    classes: Sequence[str],
    manifest_path: str | os.PathLike,
    split: str,
    check_file: str | os.PathLike = "runtime_check.csv",
) -> list[tuple[str, str]]:
    """``(kind, message)`` of every result warning of one evaluation (kinds: predictions, audio, runtime)."""
    found = [("predictions", m) for m in dense_one_class(records, classes, manifest_path=manifest_path, split=split)]
    found += [("audio", m) for m in audio_fallbacks(records, strategies, manifest_path=manifest_path, split=split)]
    found += [("runtime", m) for m in runtime_disagreements(check_rows, check_file=check_file)]
    return found


def emit_warnings(found: Sequence[tuple[str, str]], *, stacklevel: int = 2) -> list[tuple[str, str]]:
    """Emit each ``(kind, message)`` as a :class:`DataWarning`; return them."""
    emit_data_warnings([message for _, message in found], stacklevel=stacklevel + 1)
    return list(found)


def write_warnings(found: Iterable[tuple[str, str]], path: str | os.PathLike) -> Path:
    """Write ``kind,message`` rows to ``path`` (CSV, atomically; a header only when there are none)."""
    path = Path(path)
    with atomic_output(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(WARNING_COLUMNS)
        writer.writerows((kind, message) for kind, message in found)
    return path
