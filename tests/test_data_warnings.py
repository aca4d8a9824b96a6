"""Warnings on degenerate data and results: each names its file and a fix, and a clean dataset gets none."""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from scsampler.cli import main
from scsampler.data.checks import KNOWN_SEGMENT_KINDS, check_manifest, one_class_predictions, warn_about_manifest
from scsampler.data.manifest import read_manifest
from scsampler.errors import DataWarning, ScsamplerError
from scsampler.evaluation.cache import DenseRecord, SamplerRecord, VideoRecord
from scsampler.evaluation.strategies import Strategy
from scsampler.evaluation.warnings import (
    audio_fallbacks,
    dense_one_class,
    emit_warnings,
    evaluation_warnings,
    runtime_disagreements,
    write_warnings,
)
from scsampler.samplers.base import ScoringSampler
from scsampler.samplers.composite import CompositeSampler
from scsampler.training.targets import targets_one_class
from scsampler.types import ClipScores
from scsampler.video import clip_grid

from tests.media import fake_video_info

CLEAN = [(f"videos/{label}{i}_{split}.mp4", label, split) for label in "abc" for split in ("train", "val", "test") for i in range(2)]


def write_dataset(folder: Path, rows, segments=None) -> Path:
    """manifest.csv (path,label,split) and, when given, segments.csv (path,start_s,end_s,kind) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "manifest.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label", "split"), *rows])
    if segments is not None:
        with open(folder / "segments.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([("path", "start_s", "end_s", "kind"), *segments])
    return folder / "manifest.csv"


def clean_segments(rows, kinds=("action", "action_silent", "distractor_sound", "camera_pan")):
    return [(path, 1.0 + i, 2.0 + i, kinds[i % len(kinds)]) for i, (path, _, _) in enumerate(rows)]


def only(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, DataWarning)]


# --- the manifest and segments.csv -----------------------------------------------------------------


def test_a_clean_manifest_with_every_synth_kind_gets_no_warning(tmp_path):
    manifest = write_dataset(tmp_path, CLEAN, clean_segments(CLEAN))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # any warning fails the test
        assert warn_about_manifest(manifest) == []
    assert {"action", "action_silent", "distractor_sound", "camera_pan"} <= KNOWN_SEGMENT_KINDS


def test_a_split_with_a_single_class(tmp_path):
    rows = [row for row in CLEAN if row[2] != "val"] + [("videos/a_val.mp4", "a", "val")]
    manifest = write_dataset(tmp_path, rows)
    with pytest.warns(DataWarning) as record:
        messages = warn_about_manifest(manifest)
    assert only(record) == messages and len(messages) == 1
    message = messages[0]
    assert message.startswith(f"{manifest}: the val split holds a single class ('a', 1 video)")
    assert "add val videos of the other classes (b, c)" in message


def test_a_class_with_training_videos_missing_from_test(tmp_path):
    rows = [row for row in CLEAN if not (row[2] == "test" and row[1] == "c")]
    manifest = write_dataset(tmp_path, rows)
    with pytest.warns(DataWarning, match=re.escape(str(manifest))) as record:
        warn_about_manifest(manifest)
    (message,) = only(record)
    assert "none in the test split (4 videos of 2 classes): c" in message
    assert message.endswith("Add test videos of class c.")


def test_a_class_missing_from_validation_and_a_one_class_train_split(tmp_path):
    rows = [row for row in CLEAN if not (row[2] == "val" and row[1] == "b")]
    messages = check_manifest(read_manifest(write_dataset(tmp_path, rows)), manifest_path="m.csv")
    assert len(messages) == 1 and "none in the val split" in messages[0] and "Add val videos of class b." in messages[0]
    one_class_train = [row for row in CLEAN if row[2] != "train" or row[1] == "a"]
    messages = check_manifest(read_manifest(write_dataset(tmp_path / "b", one_class_train)), manifest_path="m.csv")
    assert [m.split(":")[0] for m in messages] == ["m.csv"]
    assert "the train split holds a single class ('a', 2 videos)" in messages[0]


def test_segment_kinds_the_project_does_not_read(tmp_path):
    segments = clean_segments(CLEAN) + [(CLEAN[0][0], 5.0, 6.0, "Action"), (CLEAN[1][0], 5.0, 6.0, "Action"), (CLEAN[2][0], 7.0, 8.0, "jump")]
    manifest = write_dataset(tmp_path, CLEAN, segments)
    with pytest.warns(DataWarning) as record:
        warn_about_manifest(manifest)
    (message,) = only(record)
    assert message.startswith(f"{tmp_path / 'segments.csv'}: 3 rows of kinds the project does not read: 'Action' (2 rows), 'jump' (1 row)")
    assert "segments.csv kinds read: action, action_silent (the labelled action)" in message
    assert "known and not used: camera_pan, distractor_sound" in message


def test_segments_whose_paths_match_no_manifest_video(tmp_path):
    segments = [(f"elsewhere/{Path(path).name}", start, end, kind) for path, start, end, kind in clean_segments(CLEAN)]
    manifest = write_dataset(tmp_path, CLEAN, segments)
    with pytest.warns(DataWarning) as record:
        warn_about_manifest(manifest)
    (message,) = only(record)
    assert message.startswith(f"{tmp_path / 'segments.csv'}: none of its {len(CLEAN)} videos is in {manifest}")
    # one matching path is enough to stay quiet
    write_dataset(tmp_path, CLEAN, segments + [(CLEAN[0][0], 1.0, 2.0, "action")])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert warn_about_manifest(manifest) == []


def test_the_commands_that_read_a_manifest_warn(tmp_path):
    """train-classifier, label and evaluate warn before their work (here it then fails: the videos are not videos)."""
    from scsampler.evaluation.runner import EvaluationConfig, evaluate
    from scsampler.models import Classifier
    from scsampler.training.train_classifier import TrainConfig, train_classifier

    rows = [row for row in CLEAN if row[2] != "val"] + [("videos/a_val.mp4", "a", "val")]
    manifest = write_dataset(tmp_path / "data", rows)
    for path, _, _ in rows:
        (manifest.parent / path).parent.mkdir(exist_ok=True)
        (manifest.parent / path).write_text("not a video")
    expected = f"{manifest}: the val split holds a single class"
    with pytest.warns(DataWarning, match=re.escape(expected)), pytest.raises(ScsamplerError):
        train_classifier(TrainConfig(manifest=manifest, run_dir=tmp_path / "run", model="r2plus1d_tiny", recipe="cpu-micro"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-initialisation warning
        classifier = Classifier.load("r2plus1d_tiny", num_classes=3)
    classifier.classes = ["a", "b", "c"]
    with pytest.warns(DataWarning, match=re.escape(expected)), pytest.raises(ScsamplerError):
        evaluate(manifest, classifier=classifier, run_dir=tmp_path / "eval", config=EvaluationConfig(samplers=["motion"]))
    with pytest.warns(DataWarning, match=re.escape(expected)):  # the CLI prints it as "warning: ..."
        status = main(["label", str(manifest), "--classifier", "r2plus1d_tiny", "-o", str(tmp_path / "t.parquet"), "--quiet"])
    assert status != 0


# --- results: one-class predictions, audio fallbacks, runtime --------------------------------------


def record(path: str, label: str, label_index: int, logits, *, scores: dict | None = None) -> VideoRecord:
    logits = np.asarray(logits, dtype=np.float32)
    clips = len(logits)
    dense = DenseRecord(
        path=path, label=label, label_index=label_index, start_s=np.arange(clips) * 1.0, end_s=np.arange(clips) + 1.0,
        logits=logits, decode_dense_s=1.0, classifier_dense_s=1.0, decode_random_per_clip_s=0.1,
        has_audio=True, probe_s=0.01,
    )
    samplers = {name: SamplerRecord(name, value, 0.1) for name, value in (scores or {}).items()}
    return VideoRecord(dense=dense, samplers=samplers)


CLASSES = ["a", "b", "c"]
SAYS_A = [[5.0, 0.0, 0.0], [4.0, 1.0, 0.0]]  # Dense: class a
SAYS_B = [[0.0, 5.0, 0.0], [0.0, 4.0, 1.0]]


def test_one_class_predictions_at_and_below_the_threshold():
    labels = list("aabbbccccc")
    assert one_class_predictions(["a"] * 9 + ["b"], labels, file="f.csv", what="x") != []  # 90%
    assert one_class_predictions(["a"] * 8 + ["b", "c"], labels, file="f.csv", what="x") == []  # 80%
    # labels as one-sided as the predictions: predicting that class is right, not degenerate
    assert one_class_predictions(["a"] * 10, ["a"] * 9 + ["b"], file="f.csv", what="x") == []
    assert one_class_predictions(["a", "a"], ["a", "b"], file="f.csv", what="x") == []  # two videos show little
    assert one_class_predictions(["a"] * 3, ["a", "b", "c"], file="f.csv", what="x") != []
    (message,) = one_class_predictions(["c"] * 10, labels, file="f.csv", what="the test split")
    assert message.startswith("f.csv: the classifier predicts 'c' for 10 of 10 videos (100%) of the test split")
    assert "only 5 of them are 'c'" in message and "Retrain the classifier" in message and "check the labels" in message


def test_dense_one_class_reads_the_dense_video_predictions():
    records = [record(f"v{i}.mp4", label, index, SAYS_A) for i, (label, index) in enumerate([("a", 0), ("b", 1), ("c", 2)])]
    (message,) = dense_one_class(records, CLASSES, manifest_path="data/manifest.csv", split="test")
    assert message.startswith("data/manifest.csv: the classifier predicts 'a' for 3 of 3 videos")
    assert "the test split (Dense: every clip)" in message
    records[1] = record("v1.mp4", "b", 1, SAYS_B)
    assert dense_one_class(records, CLASSES, manifest_path="data/manifest.csv", split="test") == []


def test_targets_one_class_is_video_level():
    import pandas as pd

    # 3 videos; most clips of each say 'a' (background), but the videos' mean softmax differs
    rows = []
    for path, label, strong in (("v0.mp4", "a", 0), ("v1.mp4", "b", 1), ("v2.mp4", "c", 2)):
        for clip in range(4):
            logits = [0.5, 0.0, 0.0]  # a weak lean towards a
            if clip == 0:
                logits[strong] = 20.0
            rows.append({"path": path, "label": label, "logits": np.asarray(logits)})
    assert targets_one_class(pd.DataFrame(rows), CLASSES, targets_path="t.parquet") == []
    for row in rows:
        row["logits"] = np.asarray([3.0, 0.0, 0.0])
    (message,) = targets_one_class(pd.DataFrame(rows), CLASSES, targets_path="t.parquet")
    assert message.startswith("t.parquet: the classifier predicts 'a' for 3 of 3 videos")


def test_audio_fallbacks_name_the_videos_and_the_strategies():
    scores = np.arange(2.0)
    records = [
        record("/d/v0.mp4", "a", 0, SAYS_A, scores={"motion": scores, "loudness": scores}),
        record("/d/silent.mp4", "b", 1, SAYS_B, scores={"motion": scores, "loudness": None}),
    ]
    strategies = [
        Strategy("dense", "dense"),
        Strategy("motion", "sampler", visual="motion"),
        Strategy("loudness", "sampler", visual="loudness"),
        Strategy("av-union", "combination", visual="motion", audio="loudness", combination="union"),
    ]
    (message,) = audio_fallbacks(records, strategies, manifest_path="m.csv", split="test")
    assert message.startswith("m.csv: 1 of 2 videos of the test split have no audio track (silent.mp4)")
    assert "loudness falls back to Uniform" in message and "av-union falls back to the visual ranking alone" in message
    assert audio_fallbacks(records, strategies[:2], manifest_path="m.csv", split="test") == []  # motion needs no audio
    records[1].samplers["loudness"] = SamplerRecord("loudness", scores, 0.1)
    assert audio_fallbacks(records, strategies, manifest_path="m.csv", split="test") == []


def test_runtime_estimates_off_by_more_than_a_quarter():
    rows = [
        {"strategy": "uniform", "classifier": "tiny", "path": "/d/v0.mp4", "estimated_s": 1.0, "measured_s": 1.2},  # -17%
        {"strategy": "scsampler", "classifier": "tiny", "path": "/d/v0.mp4", "estimated_s": 1.0, "measured_s": 2.0},  # -50%
        {"strategy": "scsampler", "classifier": "r2plus1d_18", "path": "/d/v1.mp4", "estimated_s": 3.0, "measured_s": 2.0},
    ]
    messages = runtime_disagreements(rows, check_file="run/runtime_check.csv")
    assert len(messages) == 2
    assert messages[0].startswith("/d/v0.mp4: the runtime of scsampler with tiny was estimated at 1.00 s")
    assert "measured at 2.00 s end to end (-50%; run/runtime_check.csv)" in messages[0]
    assert "runtime estimates are unreliable: run on a quiet machine or with more end-to-end videos" in messages[0].lower()
    assert messages[1].startswith("/d/v1.mp4:") and "(+50%" in messages[1]
    # faster than the estimate: the stages that classify_video overlaps, not a noisy machine
    assert "the table's seconds are an upper bound for this strategy here" in messages[1]
    assert "unreliable" not in messages[1]


def test_evaluation_warnings_are_emitted_and_written(tmp_path):
    records = [record(f"/d/v{i}.mp4", label, index, SAYS_A, scores={"loudness": None}) for i, (label, index) in enumerate([("a", 0), ("b", 1), ("c", 2)])]
    rows = [{"strategy": "uniform", "classifier": "tiny", "path": "/d/v0.mp4", "estimated_s": 0.5, "measured_s": 1.0}]
    found = evaluation_warnings(
        records, [Strategy("loudness", "sampler", visual="loudness")], rows, classes=CLASSES, manifest_path="m.csv", split="test"
    )
    assert [kind for kind, _ in found] == ["predictions", "audio", "runtime"]
    with pytest.warns(DataWarning) as caught:
        emit_warnings(found)
    assert only(caught) == [message for _, message in found]
    path = write_warnings(found, tmp_path / "warnings.csv")
    with open(path, newline="") as handle:
        assert [tuple(row) for row in csv.reader(handle)] == [("kind", "message"), *found]
    write_warnings([], path)
    assert path.read_text().strip() == "kind,message"


def test_the_report_lists_the_warnings_escaped_or_says_there_were_none(tmp_path):
    from scsampler.evaluation.report import render_report

    run = tmp_path / "run"
    run.mkdir()
    (run / "ablation.csv").write_text("loss,modality,backbone,top1,top5\nsal-rank,visual,tiny,0.5,0.75\n")  # one table
    write_warnings([("data", "m.csv: class <b> & co")], run / "warnings.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # notes about the other missing tables
        page = render_report(run, thumbnails=False).path.read_text()
    assert 'id="warnings"' in page and "m.csv: class &lt;b&gt; &amp; co" in page and "<b> & co" not in page
    write_warnings([], run / "warnings.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = render_report(run, thumbnails=False).path.read_text()
    assert "No warnings" in page


# --- a composite sampler on a video without audio ----------------------------------------------------


class _Ramp(ScoringSampler):
    def __init__(self, name: str, modality: str) -> None:
        self.name, self.modality = name, modality

    def score(self, video, grid, *, stride: int = 1) -> ClipScores:
        scored = grid.subset(grid.index[::stride])
        return ClipScores(index=scored.index, scores=scored.index.astype(float), start_s=scored.start_s,
                          end_s=scored.end_s, num_clips=len(grid), source=self.name)


def test_a_composite_sampler_warns_per_video_without_audio():
    sampler = CompositeSampler(_Ramp("v", "visual"), _Ramp("a", "audio"), k=3)
    silent = fake_video_info(audio=False, path="/d/silent.mp4")
    with pytest.warns(DataWarning) as caught:
        sampler.select(silent, clip_grid(silent), k=3)
    (message,) = only(caught)
    assert message.startswith("/d/silent.mp4: has no audio track, so v+a:union ranks its clips by the visual sampler 'v' alone")
    sounding = fake_video_info(audio=True, path="/d/sound.mp4")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        sampler.select(sounding, clip_grid(sounding), k=3)


def test_targets_one_class_looks_at_the_action_clips_when_segments_are_known():
    import pandas as pd

    # Background clips (most of each video) all lean hard towards 'a'; the action clip is right.
    rows = []
    for path, label, strong in (("v0.mp4", "a", 0), ("v1.mp4", "b", 1), ("v2.mp4", "c", 2)):
        for clip in range(6):
            logits = np.zeros(3)
            in_action = clip == 2
            logits[strong if in_action else 0] = 8.0
            rows.append({"path": path, "label": label, "logits": logits, "in_segment": float(in_action)})
    without_segments = pd.DataFrame(rows).drop(columns="in_segment")
    (message,) = targets_one_class(without_segments, CLASSES, targets_path="t.parquet")
    assert "(every clip)" in message
    assert targets_one_class(pd.DataFrame(rows), CLASSES, targets_path="t.parquet") == []
    for row in rows:  # a classifier that says 'a' on the actions too has collapsed
        row["logits"] = np.asarray([8.0, 0.0, 0.0])
    (message,) = targets_one_class(pd.DataFrame(rows), CLASSES, targets_path="t.parquet")
    assert "the labelled videos (their action clips)" in message


def test_dense_one_class_looks_at_the_action_clips_when_segments_are_known():
    # Three clips per video: two of background that say 'a', one action clip (1-2 s) that is right.
    rows = [("v0.mp4", "a", 0), ("v1.mp4", "b", 1), ("v2.mp4", "c", 2)]
    records = []
    for path, label, index in rows:
        logits = [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0], [6.0, 0.0, 0.0]]
        logits[1][index] = 9.0
        records.append(record(path, label, index, logits))
    (message,) = dense_one_class(records, CLASSES, manifest_path="m.csv", split="test")
    assert "(Dense: every clip)" in message  # without segments: the background wins the average
    for r in records:
        r.segments = [(1.2, 1.8)]
    assert dense_one_class(records, CLASSES, manifest_path="m.csv", split="test") == []
    for r in records:  # wrong on the actions too: that is a collapse
        r.dense.logits[1] = [9.0, 0.0, 0.0]
    (message,) = dense_one_class(records, CLASSES, manifest_path="m.csv", split="test")
    assert "the test split (its action clips)" in message
