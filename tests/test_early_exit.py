"""K chosen per video (early exit): the rule, ``classify --k auto``, and the ``auto`` row of ``evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from scsampler import inference
from scsampler.cli import main
from scsampler.early_exit import EarlyExitRule, classify_until_confident, confidence, exit_trace
from scsampler.errors import UsageError
from scsampler.evaluation import plots, runner
from scsampler.evaluation.cache import DenseRecord, SamplerRecord, VideoRecord
from scsampler.evaluation.early_exit import simulate, traces
from scsampler.metrics import video_probabilities
from scsampler.evaluation.runner import EvaluationConfig, evaluate
from scsampler.evaluation.strategies import Strategy, choose
from scsampler.models import get_model, save_checkpoint

CLASSES = ["a", "b", "c"]


class _Calls:
    """A stub classifier of ranked clips: known logits, and a record of which clips it was asked for."""

    def __init__(self, logits: np.ndarray) -> None:
        self.logits = np.asarray(logits, dtype=np.float32)
        self.asked: list[tuple[int, int]] = []

    def __call__(self, start: int, stop: int) -> np.ndarray:
        self.asked.append((start, stop))
        return self.logits[start:stop]


# --- the rule ---------------------------------------------------------------------------------------


def test_auto_stops_at_once_when_the_first_clip_is_decisive():
    logits = np.zeros((10, 3))
    logits[0, 2] = 10.0  # clip 0 alone: class c with probability > 0.999
    calls = _Calls(logits)
    result = classify_until_confident(calls, len(logits), EarlyExitRule(threshold=0.9, k_max=10))
    assert result.clips == 1 and calls.asked == [(0, 1)]
    assert result.stopped_early and int(np.argmax(result.probabilities)) == 2 and result.confidence > 0.999


def test_auto_never_exceeds_k_max():
    undecided = np.zeros((20, 3))  # every clip 1/3 each: never confident
    calls = _Calls(undecided)
    result = classify_until_confident(calls, 20, EarlyExitRule(threshold=0.9, k_max=4))
    assert result.clips == 4 and calls.asked == [(0, 1), (1, 2), (2, 3), (3, 4)] and not result.stopped_early
    # It checks only after a whole batch; the last batch is cut at K-max.
    calls = _Calls(undecided)
    assert classify_until_confident(calls, 20, EarlyExitRule(threshold=0.9, k_max=4), batch_size=3).clips == 4
    assert calls.asked == [(0, 3), (3, 4)]
    # A video with fewer ranked clips than K-max uses them all.
    assert classify_until_confident(_Calls(undecided[:2]), 2, EarlyExitRule(threshold=0.9, k_max=4)).clips == 2


def test_a_batch_of_b_can_stop_only_after_b_clips():
    logits = np.zeros((10, 3))
    logits[:, 0] = 10.0  # every clip decisive
    calls = _Calls(logits)
    assert classify_until_confident(calls, 10, EarlyExitRule(threshold=0.5), batch_size=4).clips == 4
    assert calls.asked == [(0, 4)]


def test_prob_and_margin_rules():
    probabilities = np.array([0.5, 0.45, 0.05])
    assert confidence(probabilities, "prob") == pytest.approx(0.5)
    assert confidence(probabilities, "margin") == pytest.approx(0.05)
    assert EarlyExitRule(threshold=0.4, rule="prob").confident(probabilities)
    assert not EarlyExitRule(threshold=0.4, rule="margin").confident(probabilities)
    assert EarlyExitRule(rule="margin").threshold == 0.5 and EarlyExitRule().threshold == 0.8  # documented defaults
    with pytest.raises(UsageError, match="k_rule must be one of prob, margin, got 'entropy'"):
        EarlyExitRule(rule="entropy")
    with pytest.raises(UsageError, match="k_threshold must be a finite number >= 0, got -0.1"):
        EarlyExitRule(threshold=-0.1)
    with pytest.raises(UsageError, match="k_max must be a positive integer, got 0"):
        EarlyExitRule(k_max=0)


# --- classify_video(k="auto"): only the clips classified are decoded ------------------------------------


class _StubClassifier:
    """Known logits for every clip (its frames are ignored); counts the clips it classifies."""

    name = "stub"
    classes = CLASSES
    frames_per_clip = 16

    def __init__(self, row: list[float]) -> None:
        self.row = torch.tensor(row, dtype=torch.float32)
        self.clips = 0

    def decode_size(self, *, height: int, width: int) -> tuple[int, int]:
        return (32, 32)

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        self.clips += len(clips)
        return self.row.repeat(len(clips), 1)


@pytest.fixture()
def decoded(monkeypatch) -> list[list[int]]:
    """The clip indices of each decoder that classify_video starts (through the shared decode loop, one per call)."""
    from scsampler.video import chunks

    calls: list[list[int]] = []
    real = chunks.iter_clips

    def spy(path, grid, **kwargs):
        calls.append(grid.index.tolist())
        return real(path, grid, **kwargs)

    monkeypatch.setattr(chunks, "iter_clips", spy)
    return calls


def test_classify_video_auto_decodes_only_the_clips_it_classifies(numbered_video, decoded):
    decisive = _StubClassifier([8.0, 0.0, 0.0])
    prediction = inference.classify_video(numbered_video, classifier=decisive, sampler="uniform", k="auto",
                                          early_exit=EarlyExitRule(threshold=0.9, k_max=4))
    # uniform's 4 of the video's 6 clips are 0, 2, 3, 5: the first is decisive
    assert prediction.selection.index.tolist() == [0] and decoded == [[0]] and decisive.clips == 1
    assert prediction.label == "a"

    decoded.clear()
    undecided = _StubClassifier([0.0, 0.0, 0.0])
    prediction = inference.classify_video(numbered_video, classifier=undecided, sampler="uniform", k="auto",
                                          early_exit=EarlyExitRule(threshold=0.9, k_max=4))
    assert prediction.selection.index.tolist() == [0, 2, 3, 5] and decoded == [[0], [2], [3], [5]]
    assert undecided.clips == 4


def test_classify_video_auto_refuses_logit_mean(numbered_video):
    with pytest.raises(UsageError, match="k='auto' stops on the mean softmax"):
        inference.classify_video(numbered_video, classifier=_StubClassifier([0, 0, 0]), k="auto", aggregate="logit_mean")


# --- scsampler classify --k auto --json -----------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = get_model("r3d_tiny", num_classes=3)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "r3d_tiny.pt", model_name="r3d_tiny", model=model, classes=CLASSES)


def _classify_json(capsys, video, checkpoint, *extra) -> dict:
    status = main(["classify", str(video), "--weights", str(checkpoint), "--sampler", "uniform", "--json", "--quiet", *extra])
    out = capsys.readouterr().out
    assert status == 0, out
    [line] = out.strip().splitlines()
    return json.loads(line)


def test_cli_classify_auto_reports_k_used_and_the_threshold(numbered_video, checkpoint, capsys):
    never = _classify_json(capsys, numbered_video, checkpoint, "--k", "auto", "--k-max", "3", "--k-threshold", "1.5")
    assert never["k_used"] == 3 == len(never["clips"]) and never["k"] == "auto"
    assert (never["k_rule"], never["k_threshold"], never["k_max"]) == ("prob", 1.5, 3)
    assert 0 < never["k_confidence"] <= 1
    at_once = _classify_json(capsys, numbered_video, checkpoint, "--k", "auto", "--k-threshold", "0", "--k-rule", "margin")
    assert at_once["k_used"] == 1 and at_once["k_rule"] == "margin" and at_once["k_max"] == 10
    fixed = _classify_json(capsys, numbered_video, checkpoint, "--k", "2")
    assert fixed["k_used"] == 2 and "k_threshold" not in fixed


def test_cli_classify_auto_options_need_k_auto(numbered_video, checkpoint, capsys):
    status = main(["classify", str(numbered_video), "--weights", str(checkpoint), "--k", "3", "--k-threshold", "0.5"])
    assert status == 2 and "apply to --k auto only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["classify", str(numbered_video), "--k", "often"])
    assert "or 'auto' to choose K per video" in capsys.readouterr().err


# --- evaluate: the simulation from the cache ------------------------------------------------------------


def make_record(path: str, label: int, logits: np.ndarray, scores: np.ndarray) -> VideoRecord:
    clips = len(logits)
    dense = DenseRecord(
        path=path, label=CLASSES[label], label_index=label,
        start_s=np.arange(clips, dtype=np.float64), end_s=np.arange(clips, dtype=np.float64) + 1,
        logits=np.asarray(logits, dtype=np.float32),
        decode_dense_s=1.0, classifier_dense_s=1.0, decode_random_per_clip_s=0.01, has_audio=False,
    )
    record = VideoRecord(dense=dense)
    record.samplers["v"] = SamplerRecord("v", np.asarray(scores, dtype=np.float64), seconds=0.1)
    return record


@pytest.mark.parametrize("rule", ["prob", "margin"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_the_evaluate_simulation_equals_running_the_rule_on_the_same_logits(rule, batch_size):
    rng = np.random.default_rng(7)
    records = [make_record(f"v{i}.mp4", i % 3, rng.normal(0, 2.5, (12, 3)), rng.random(12)) for i in range(8)]
    strategy = Strategy("scsampler", "sampler", visual="v")
    found = traces(records, strategy, rule=rule, k_max=7, batch_size=batch_size)
    used = set()
    for threshold in (0.0, 0.3, 0.5, 0.7, 0.9, 1.1):
        clips, top1, _ = simulate(records, found, threshold)
        for record, count, correct in zip(records, clips, top1):
            ranked, _ = choose(record, strategy, k=7)
            direct = classify_until_confident(_Calls(record.dense.logits[ranked]), len(ranked),
                                              EarlyExitRule(threshold=threshold, rule=rule, k_max=7), batch_size=batch_size)
            assert direct.clips == count
            np.testing.assert_allclose(direct.probabilities, video_probabilities(record.dense.logits, ranked[:count]), rtol=1e-6)
            assert correct == float(np.argmax(direct.probabilities) == record.dense.label_index)
            used.add(int(count))
    assert len(used) >= 2  # the thresholds really stop at different clips


def test_exit_trace_checks_after_each_batch():
    trace = exit_trace(np.zeros((10, 3)), k_max=8, batch_size=3)
    assert trace.clips.tolist() == [3, 6, 8] and trace.clips_used(0.2) == 3 and trace.clips_used(0.9) == 8


# --- evaluate: the threshold is tuned on validation only ------------------------------------------------

# Ranked clip 0 says class a (p = 0.91), every later one class b (p = 0.96). With label a only K=1 is
# right, so auto must stop at once (threshold <= 0.91); with label b it must never stop early.
TRAP = np.array([[3.0, 0.0, 0.0]] + [[0.0, 4.0, 0.0]] * 9)
RANKED = np.arange(10, 0, -1, dtype=np.float64)  # the sampler ranks clip 0 first, then 1, 2, ...


def _write_manifest(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    path = folder / "manifest.csv"
    path.write_text("path,label,split\n" + "".join(f"{p},{label},{split}\n" for p, label, split in rows))
    return path


class _FakeClassifier:
    name = "fake"
    classes = CLASSES
    model = torch.nn.Linear(1, 1)
    frames_per_clip = 16
    backend = "eager"  # Classifier.backend: the dense cache key names a non-eager one


@pytest.fixture()
def fake_dense_pass(monkeypatch) -> None:
    """Every video gets the TRAP logits and RANKED scores; its label comes from the manifest."""

    def video_record(entry, *args, **kwargs) -> VideoRecord:
        return make_record(str(entry.path), entry.label_index, TRAP, RANKED)

    monkeypatch.setattr(runner, "_video_record", video_record)
    monkeypatch.setattr(runner, "_fill_dense_cache", lambda *args, **kwargs: [])  # the pipeline would decode files


def _evaluate(tmp_path: Path, name: str, *, val: str, test: str) -> tuple[runner.EvaluationResult, Path]:
    rows = [(f"val{i}.mp4", val, "val") for i in range(3)] + [(f"test{i}.mp4", test, "test") for i in range(3)]
    manifest = _write_manifest(tmp_path / name, rows)
    config = EvaluationConfig(samplers=["v=motion"], visual="v", k=3, k_prime=2, heavy_classifier=None, end_to_end_videos=0, random_seeds=1)
    result = evaluate(manifest, classifier=_FakeClassifier(), run_dir=tmp_path / f"run-{name}", config=config)
    return result, tmp_path / f"run-{name}"


def test_the_threshold_is_tuned_on_validation_only(tmp_path, fake_dense_pass):
    result, run = _evaluate(tmp_path, "first", val="a", test="a")
    auto = result.auto
    assert auto.tuned and auto.split == "val" and auto.videos == 3 and auto.best_k == 1
    assert auto.threshold == 0.9 and auto.mean_clips == 1.0 and auto.top1 == 1.0  # the highest threshold that stops at once
    main_table = pd.read_csv(run / "main_table.csv")
    assert main_table["strategy"].tolist().index("auto") == main_table["strategy"].tolist().index("scsampler") + 1
    rows = main_table.set_index("strategy")
    assert rows.loc["auto", "mean_k"] == 1.0 and rows.loc["auto", "k"] == 10 and rows.loc["auto", "top1"] == 1.0
    assert "on the scsampler row's ranking" in rows.loc["auto", "early_exit"] and "chosen on split 'val'" in rows.loc["auto", "early_exit"]
    assert rows["mean_k"].drop(index="auto").isna().all()
    # its seconds from the cached per-clip costs: 1 clip of 0.1 s, one seek-decode of 0.01 s, the sampler's 0.1 s
    assert rows.loc["auto", "classifier_s"] == pytest.approx(0.1) and rows.loc["auto", "decode_s"] == pytest.approx(0.01)
    assert rows.loc["auto", "total_s"] == pytest.approx(0.21)
    assert rows.loc["auto", "top1_low"] <= rows.loc["auto", "top1"] <= rows.loc["auto", "top1_high"]
    assert {"top1_vs_dense", "top1_vs_uniform_high"} <= set(rows.columns) and np.isfinite(rows.loc["auto", "top1_vs_dense"])
    curve = pd.read_csv(run / "accuracy_vs_clips_auto.csv")
    assert curve["chosen"].sum() == 1 and curve.loc[curve["chosen"], "threshold"].item() == 0.9
    assert set(curve["mean_clips"]) == {1.0, 10.0} and set(curve["k_rule"]) == {"prob"}
    assert json.loads((run / "tuning.json").read_text())["auto"]["k_threshold"] == 0.9

    # Only the test labels change: the test accuracy moves, the threshold does not.
    relabelled, run2 = _evaluate(tmp_path, "relabelled", val="a", test="b")
    assert relabelled.auto == auto
    assert pd.read_csv(run2 / "main_table.csv").set_index("strategy").loc["auto", "top1"] == 0.0
    # The validation labels do choose it: with label b there it must never stop early.
    other_val, _ = _evaluate(tmp_path, "other-val", val="b", test="a")
    assert other_val.auto.threshold == 1.0 and other_val.auto.mean_clips == 10.0


def test_without_validation_videos_the_default_threshold_is_kept(tmp_path, fake_dense_pass):
    manifest = _write_manifest(tmp_path / "data", [(f"test{i}.mp4", "a", "test") for i in range(2)])
    config = EvaluationConfig(samplers=["v=motion"], visual="v", k=3, k_prime=2, heavy_classifier=None, end_to_end_videos=0,
                              random_seeds=1, k_rule="margin")
    result = evaluate(manifest, classifier=_FakeClassifier(), run_dir=tmp_path / "run", config=config)
    assert not result.auto.tuned and result.auto.threshold == 0.5 and "no videos in split 'val'" in result.auto.reason
    assert "default, no tuning" in pd.read_csv(tmp_path / "run" / "main_table.csv").set_index("strategy").loc["auto", "early_exit"]


def test_report_draws_the_auto_curve_beside_accuracy_vs_k(tmp_path, fake_dense_pass):
    from scsampler.evaluation.report import render_report

    _, run = _evaluate(tmp_path, "report", val="a", test="a")
    page = render_report(run, thumbnails=False).path.read_text(encoding="utf-8")
    section = page[page.index('id="accuracy-vs-clips-auto"'):]
    section = section[: section.index("</section>")]
    assert '<img class="figure"' in section and (run / "figures" / "accuracy_vs_clips_auto.png").is_file()
    assert page.index('id="accuracy-vs-k"') < page.index('id="accuracy-vs-clips-auto"')


def test_auto_curve_plot_needs_its_columns(tmp_path):
    with pytest.raises(UsageError, match="lacks column\\(s\\) mean_clips"):
        plots.plot_accuracy_vs_clips_auto(pd.DataFrame({"threshold": [0.5], "top1": [0.5]}), tmp_path / "x.png")
