"""Choices made on the tuning split: hand-made records whose best choice is known, and `evaluate`
on a tiny fake manifest (no video is decoded: the dense pass is replaced by those records)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from scsampler.errors import UsageError
from scsampler.evaluation import runner
from scsampler.evaluation.cache import DenseRecord, SamplerRecord, VideoRecord
from scsampler.evaluation.runner import EvaluationConfig, evaluate
from scsampler.evaluation.strategies import Strategy, choose
from scsampler.evaluation.tuning import ALPHAS, candidates, check_disjoint, describe, tune
from scsampler.samplers.base import ScoringSampler, scored_grid
from scsampler.types import ClipScores
from scsampler.video import clip_grid
from tests.media import fake_video_info

CLASSES = ["a", "b", "c"]
K_VALUES = (1, 3, 5, None)


def make_record(path: str, label: int, logits: np.ndarray, scores: dict[str, np.ndarray]) -> VideoRecord:
    clips = len(logits)
    dense = DenseRecord(
        path=path, label=CLASSES[label], label_index=label,
        start_s=np.arange(clips, dtype=np.float64), end_s=np.arange(clips, dtype=np.float64) + 1,
        logits=np.asarray(logits, dtype=np.float32),
        decode_dense_s=1.0, classifier_dense_s=1.0, decode_random_per_clip_s=0.01, has_audio=True,
    )
    record = VideoRecord(dense=dense)
    for name, values in scores.items():
        record.samplers[name] = SamplerRecord(name, np.asarray(values, dtype=np.float64), seconds=0.1)
    return record


def logits_for(label: int, kinds: list[str]) -> np.ndarray:
    """'act' clips predict the label; 'mis' clips strongly predict a wrong class; 'bg' ones weakly."""
    wrong = (label + 1) % len(CLASSES)
    logits = np.zeros((len(kinds), len(CLASSES)), dtype=np.float32)
    for i, kind in enumerate(kinds):
        if kind == "act":
            logits[i, label] = 4.0
        else:
            logits[i, wrong] = 8.0 if kind == "mis" else 1.0
    return logits


def kprime_video(label: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """At K=4 only AV-union-list with K'=2 takes all four action clips.

    Clips 0, 1 are action clips the visual sampler ranks first, 2, 3 action clips the audio
    sampler ranks first; both rank the misleading clips 4, 5 next, and each ranks the other's
    action clips last.
    """
    rng = np.random.default_rng(seed)
    kinds = ["act"] * 4 + ["mis"] * 2 + ["bg"] * 6
    visual = np.concatenate([[10, 9, 0.1, 0.2, 8, 7], rng.uniform(0.3, 1, 6)])
    audio = np.concatenate([[0.1, 0.2, 10, 9, 8, 7], rng.uniform(0.3, 1, 6)])
    return logits_for(label, kinds), {"v": visual, "a": audio}


def alpha_video(label: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """At K=1 only AV-convex-score with alpha=0.3 ranks the action clip (clip 0) first.

    (visual, audio) scores: action (0.3, 0.9), visual's favourite (1, 0), audio's (0, 1), both
    fairly keen (0.7, 0.7): 0.3 a + 0.9 (1 - a) beats all three only for a in (0.25, 1/3).
    """
    kinds = ["act", "mis", "mis", "mis"]
    return logits_for(label, kinds), {"v": np.array([0.3, 1.0, 0.0, 0.7]), "a": np.array([0.9, 0.0, 1.0, 0.7])}


def visual_wins_video(label: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The visual sampler finds the 4 action clips, the audio sampler the 4 misleading ones."""
    kinds = ["act"] * 4 + ["mis"] * 4 + ["bg"] * 4
    visual = np.array([9, 8, 7, 6, 0, 0.1, 0.2, 0.3, 1, 1.1, 1.2, 1.3])
    audio = np.array([0, 0.1, 0.2, 0.3, 9, 8, 7, 6, 1, 1.1, 1.2, 1.3])
    return logits_for(label, kinds), {"v": visual, "a": audio}


def records_of(builder, labels) -> list[VideoRecord]:
    out = []
    for i, label in enumerate(labels):
        logits, scores = builder(label, **({"seed": i} if builder is kprime_video else {}))
        out.append(make_record(f"video{i}.mp4", label, logits, scores))
    return out


# --- tune() on hand-made records ------------------------------------------------------------


def test_tuning_picks_the_k_prime_that_takes_every_action_clip():
    records = records_of(kprime_video, [0, 1, 2, 0])
    choice = tune(records, visual=["v"], audio=["a"], k=4, k_values=K_VALUES, k_prime=3)
    assert choice.tuned and choice.strategy.kind == "combination"
    assert (choice.strategy.combination, choice.strategy.k_prime) == ("union", 2)
    assert choice.description == "AV-union-list of v (visual) and a (audio), K=4, K'=2"
    # K'=1 and K'=3 are right on every video too (one misleading clip of four): the true class's
    # probability breaks the tie, and it is highest with no misleading clip at all.
    rows = pd.DataFrame(list(choice.candidates))
    union = rows[rows.combination == "union"].set_index("k_prime")
    assert union.loc[[1, 2, 3], "top1"].eq(1.0).all() and union.loc[[0, 4], "top1"].eq(0.0).all()
    assert union.loc[2, "true_prob"] > max(union.loc[1, "true_prob"], union.loc[3, "true_prob"])
    assert rows["chosen"].sum() == 1 and rows.loc[rows.chosen, "candidate"].item() == choice.description
    assert choice.top1 == 1.0 and choice.true_prob == pytest.approx(union.loc[2, "true_prob"])
    assert set(rows["tune_split"]) == {"val"} and set(rows["videos"]) == {4}


def test_tuning_picks_the_combination_and_alpha_and_reports_the_best_k():
    records = records_of(alpha_video, [0, 1, 2])
    choice = tune(records, visual=["v"], audio=["a"], k=1, k_values=K_VALUES)
    assert (choice.strategy.combination, choice.strategy.alpha) == ("convex-score", 0.3)
    assert choice.description == "AV-convex-score of v (visual) and a (audio), K=1, alpha=0.3"
    rows = pd.DataFrame(list(choice.candidates))
    assert rows["top1"].eq(1.0).sum() == 1  # no other candidate is right on any video
    # K=1 is the only K at which the action clip is not outvoted.
    assert choice.best_k == 1
    assert [row["k"] for row in choice.by_k] == [1, 3, 5, None]  # None: every clip
    assert [row["top1"] for row in choice.by_k] == [1.0, 0.0, 0.0, 0.0]


def test_exact_ties_go_to_the_earlier_candidate_a_single_sampler():
    # Visual alone, AV-union-list with K'=K and both convex combinations at alpha=1 choose the same clips.
    records = records_of(visual_wins_video, [0, 1, 2])
    choice = tune(records, visual=["v"], audio=["a"], k=4, k_values=K_VALUES)
    assert choice.strategy == Strategy("scsampler", "sampler", visual="v")
    assert choice.description == "v alone (visual), K=4"
    rows = pd.DataFrame(list(choice.candidates))
    best = rows[(rows.top1 == rows.top1.max()) & np.isclose(rows.true_prob, rows.true_prob.max())]
    assert len(best) >= 4 and best["order"].min() == rows.loc[rows.chosen, "order"].item()


def test_several_candidates_each_role_is_chosen_from_them():
    records = records_of(visual_wins_video, [0, 1, 2])
    for record in records:  # a second visual candidate that finds the misleading clips
        record.samplers["v0"] = SamplerRecord("v0", record.samplers["a"].scores.copy(), 0.1)
    choice = tune(records, visual=["v0", "v"], audio=["a"], k=4, k_values=K_VALUES)
    assert choice.strategy.visual == "v" and choice.strategy.kind == "sampler"
    assert len(choice.candidates) == len(candidates(visual=["v0", "v"], audio=["a"], k=4))


def test_candidate_order_tries_the_fixed_values_first():
    pool = candidates(visual=["v"], audio=["a"], k=4, k_prime=3)
    assert [s.visual for s in pool[:2]] == ["v", "a"] and all(s.kind == "sampler" for s in pool[:2])
    assert [s.k_prime for s in pool if s.combination == "union"] == [3, 2, 4, 1, 0]
    alphas = [s.alpha for s in pool if s.combination == "convex-list"]
    assert alphas[0] == 0.5 and sorted(alphas) == list(ALPHAS)
    assert describe(Strategy("x", "sampler", visual="a"), k=10, audio=["a"]) == "a alone (audio), K=10"


def test_disjoint_splits_error_names_the_video(tmp_path):
    shared = tmp_path / "both.mp4"
    with pytest.raises(UsageError, match=r"both\.mp4 is in both the tuning split 'val' and the evaluated split 'test'"):
        check_disjoint([tmp_path / "v.mp4", shared], [shared], tune_split="val", test_split="test", manifest="m.csv")
    check_disjoint([tmp_path / "v.mp4"], [shared], tune_split="val", test_split="test", manifest="m.csv")


# --- evaluate() on a fake manifest -----------------------------------------------------------


class _FakeClassifier:
    name = "fake"
    classes = CLASSES
    model = torch.nn.Linear(1, 1)
    frames_per_clip = 16
    backend = "eager"  # Classifier.backend: the dense cache key names a non-eager one


def write_manifest(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    path = folder / "manifest.csv"
    path.write_text("path,label,split\n" + "".join(f"{p},{label},{split}\n" for p, label, split in rows))
    return path


@pytest.fixture()
def fake_dense_pass(monkeypatch):
    """Replace the dense pass: each manifest path gets the logits and scores registered here;
    the label comes from the manifest, so changing a label there changes only that."""
    videos: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}

    def video_record(entry, *args, **kwargs) -> VideoRecord:
        logits, scores = videos[Path(entry.path).name]
        return make_record(str(entry.path), entry.label_index, logits, scores)

    monkeypatch.setattr(runner, "_video_record", video_record)
    monkeypatch.setattr(runner, "_fill_dense_cache", lambda *args, **kwargs: [])  # the pipeline would decode files
    return videos


def _config(**changes) -> EvaluationConfig:
    options = dict(samplers=["v=motion", "a=loudness"], visual="v", audio="a", k=4, k_prime=3,
                   heavy_classifier=None, end_to_end_videos=0, random_seeds=1)
    options.update(changes)
    return EvaluationConfig(**options)


TEST_LOGIT_LABELS = (0, 1, 2, 0)


def _fake_manifest(tmp_path, videos, *, test_labels=TEST_LOGIT_LABELS, val=True, name="data") -> Path:
    rows = []
    if val:
        for i, label in enumerate((0, 1, 2, 0)):
            videos[f"val{i}.mp4"] = kprime_video(label, seed=i)
            rows.append((f"val{i}.mp4", CLASSES[label], "val"))
    for i, label in enumerate(test_labels):
        videos[f"test{i}.mp4"] = visual_wins_video(TEST_LOGIT_LABELS[i])  # the clips never change, only the label
        rows.append((f"test{i}.mp4", CLASSES[label], "test"))
    return write_manifest(tmp_path / name, rows)


def test_evaluate_tunes_on_val_and_never_on_test(tmp_path, fake_dense_pass):
    messages: list[str] = []
    manifest = _fake_manifest(tmp_path, fake_dense_pass)
    result = evaluate(manifest, classifier=_FakeClassifier(), run_dir=tmp_path / "run", config=_config(), log=messages.append)
    # On the test videos the visual sampler alone would win; on val only K'=2 takes every action clip.
    assert result.tuning.tuned and result.tuning.split == "val" and result.tuning.videos == 4
    assert result.tuning.description == "AV-union-list of v (visual) and a (audio), K=4, K'=2"
    assert any("chosen on split 'val' (4 videos)" in m for m in messages)
    main = pd.read_csv(tmp_path / "run" / "main_table.csv").set_index("strategy")
    assert main.loc["scsampler", "choice"] == result.tuning.description
    assert main["choice"].drop(index="scsampler").isna().all()
    tuning = pd.read_csv(tmp_path / "run" / "tuning.csv")
    assert tuning["chosen"].sum() == 1 and set(tuning["tune_split"]) == {"val"} and set(tuning["videos"]) == {4}
    summary = json.loads((tmp_path / "run" / "tuning.json").read_text())
    assert summary["choice"] == result.tuning.description and summary["strategy"]["k_prime"] == 2

    # Only the test labels change: the test accuracy moves, the choice and every tuning score do not.
    other = _fake_manifest(tmp_path, fake_dense_pass, test_labels=(2, 2, 1, 1), name="relabelled")
    relabelled = evaluate(other, classifier=_FakeClassifier(), run_dir=tmp_path / "run2", config=_config())
    assert relabelled.tuning.strategy == result.tuning.strategy
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "run2" / "tuning.csv"), tuning)
    main2 = pd.read_csv(tmp_path / "run2" / "main_table.csv").set_index("strategy")
    assert not np.allclose(main2["top1"].to_numpy(), main["top1"].to_numpy())


def test_without_a_val_split_the_fixed_choice_is_kept(tmp_path, fake_dense_pass):
    messages: list[str] = []
    manifest = _fake_manifest(tmp_path, fake_dense_pass, val=False)
    result = evaluate(manifest, classifier=_FakeClassifier(), run_dir=tmp_path / "run", config=_config(), log=messages.append)
    assert not result.tuning.tuned and "no videos in split 'val'" in result.tuning.reason
    assert result.tuning.strategy == Strategy("scsampler", "combination", visual="v", audio="a", combination="union", k_prime=3)
    assert any(m.startswith("no tuning:") for m in messages)
    main = pd.read_csv(tmp_path / "run" / "main_table.csv").set_index("strategy")
    assert main.loc["scsampler", "top1"] == main.loc["av-union", "top1"]  # both K'=3 of K=4, as before tuning
    assert pd.read_csv(tmp_path / "run" / "tuning.csv").empty
    assert json.loads((tmp_path / "run" / "tuning.json").read_text())["tuned"] is False
    # --tune-split none: the same fixed choice even with val videos.
    with_val = _fake_manifest(tmp_path, fake_dense_pass, name="with_val")
    untuned = evaluate(with_val, classifier=_FakeClassifier(), run_dir=tmp_path / "run2", config=_config(tune_split=None))
    assert not untuned.tuning.tuned and untuned.tuning.strategy == result.tuning.strategy


def test_a_video_in_both_splits_is_a_usage_error(tmp_path, fake_dense_pass):
    fake_dense_pass["same.mp4"] = visual_wins_video(0)
    manifest = write_manifest(tmp_path / "data", [("same.mp4", "a", "val"), ("same.mp4", "a", "test")])
    with pytest.raises(UsageError, match=r"same\.mp4 is in both the tuning split 'val'"):
        evaluate(manifest, classifier=_FakeClassifier(), run_dir=tmp_path / "run", config=_config())


def test_config_rejects_bad_candidates():
    assert _config(visual="v, a", audio=None).candidates("visual") == ("v", "a")
    with pytest.raises(UsageError, match="'w' must be one of the evaluated samplers"):
        _config(visual="v,w")
    with pytest.raises(UsageError, match="both a visual and an audio candidate"):
        _config(visual="v,a")
    with pytest.raises(UsageError, match="tuning split must differ"):
        _config(tune_split="test")


# --- the real sampler object of the scsampler row ---------------------------------------------


class _FixedScores(ScoringSampler):
    """Scores given in advance, one per clip of the grid."""

    def __init__(self, name: str, scores: np.ndarray, modality: str) -> None:
        self.name, self.scores, self.modality = name, np.asarray(scores, dtype=np.float64), modality

    def score(self, video, grid, *, stride: int = 1) -> ClipScores:
        return ClipScores.for_grid(scored_grid(grid, stride), self.scores[::stride], source=self.name)


def test_composite_for_selects_what_each_candidate_chooses():
    info = fake_video_info(frames=12 * 16)
    grid = clip_grid(info, frames_per_clip=16)
    logits, scores = kprime_video(0, seed=3)
    record = make_record("fake.mp4", 0, logits, scores)
    record.dense.start_s, record.dense.end_s = grid.start_s, grid.end_s
    samplers = {"v": _FixedScores("v", scores["v"], "visual"), "a": _FixedScores("a", scores["a"], "audio")}
    config = _config()
    for strategy in candidates(visual=["v"], audio=["a"], k=config.k, k_prime=config.k_prime):
        composite = runner._composite_for(config, samplers, strategy)
        selected = composite.select(info, grid, k=config.k).index
        assert selected.tolist() == choose(record, strategy, k=config.k)[0].tolist(), describe(strategy, k=config.k)
    alone = runner._composite_for(config, samplers, Strategy("scsampler", "sampler", visual="a"))
    assert alone.visual is None and alone.audio is samplers["a"]
    # Without tuning it is the fixed AV-union-list, as before.
    fixed = runner._composite_for(config, samplers)
    assert (fixed.combination, fixed.k_prime) == ("union", 3)



# --- the report section --------------------------------------------------------------------


def test_report_shows_the_choice_the_best_k_and_the_best_candidates(tmp_path, fake_dense_pass):
    from scsampler.evaluation.report import _section_tuning, render_report

    manifest = _fake_manifest(tmp_path, fake_dense_pass)
    run_dir = tmp_path / "run"
    result = evaluate(manifest, classifier=_FakeClassifier(), run_dir=run_dir, config=_config())
    page = render_report(run_dir, thumbnails=False).path.read_text(encoding="utf-8")
    section = page[page.index('id="tuning"'):]
    section = section[: section.index("</section>")]
    assert "AV-union-list of v (visual) and a (audio), K=4, K&#x27;=2" in section
    assert f"Best K on that split for this strategy: <b>{result.tuning.to_dict()['best_k']}</b>" in section
    total = len(candidates(visual=["v"], audio=["a"], k=4))
    assert f"The 10 best of {total} candidates" in section
    assert section.count("<tr>") == 10 + 1 + len(runner.K_VALUES) + 1  # each table's header and the by-K rows

    # Without tuning the section says why, and shows no candidates (the section alone: no figures to draw).
    untuned = evaluate(_fake_manifest(tmp_path, fake_dense_pass, val=False, name="noval"), classifier=_FakeClassifier(),
                       run_dir=tmp_path / "run2", config=_config())
    section = _section_tuning(untuned.run_dir)
    assert "fixed choice <b>AV-union-list of v (visual) and a (audio), K=4, K&#x27;=3</b>: no tuning" in section
    assert "<table>" not in section
