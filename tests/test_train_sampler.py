"""Saliency targets, sampler training and the learned sampler, end to end on a small synthetic set.

The training tests use targets made from the synthetic benchmark's known action segments (a
clip's "true-class probability" grows with its overlap with an action), so that the oracle is
meaningful without training a 3D CNN first; ``scsampler label`` itself is tested separately
with a tiny classifier.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from scsampler.cli import main
from scsampler.data.manifest import ACTION_KINDS, read_manifest, read_segments
from scsampler.errors import UsageError
from scsampler.samplers import get_sampler
from scsampler.samplers.learned import LearnedSampler
from scsampler.training.targets import TARGET_COLUMNS, read_targets, write_targets
from scsampler.training.recipes import sampler_recipe
from scsampler.training.sampler_data import epoch_batches
from scsampler.training.train_sampler import SamplerTrainConfig, train_sampler
from scsampler.video import clip_grid, probe
from tests.checkpoints import decisive_checkpoint

K = 2


def _synth(out: Path, *, videos: int, seconds: int, seed: int, classes: int = 2) -> Path:
    argv = ["synth", str(out), "--videos", str(videos), "--classes", str(classes), "--seed", str(seed),
            "--min-seconds", str(seconds), "--max-seconds", str(seconds), "--size", "96x64", "--gop", "16", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    return out


def _segment_targets(synth_dir: Path, output: Path, *, seed: int = 0) -> Path:
    """Targets whose true-class probability is 0.1 + 0.8 x (the clip's overlap with an action), plus noise."""
    manifest = read_manifest(synth_dir / "manifest.csv")
    segments = read_segments(synth_dir / "segments.csv")
    rng = np.random.default_rng(seed)
    frames = []
    for entry in manifest:
        grid = clip_grid(probe(entry.path), frames_per_clip=16)
        actions = [s for s in segments.get(entry.path, []) if s.kind in ACTION_KINDS]
        overlap = np.array(
            [sum(max(0.0, min(end, s.end_s) - max(start, s.start_s)) for s in actions) / (end - start)
             for start, end in zip(grid.start_s, grid.end_s)]
        )  # fmt: skip
        true_prob = np.clip(0.1 + 0.8 * overlap + rng.normal(0, 0.02, len(grid)), 0.01, 0.99)
        classes = manifest.num_classes
        logits = np.zeros((len(grid), classes), np.float32)
        logits[:, entry.label_index] = np.log(true_prob / (1 - true_prob) * (classes - 1))
        correct = overlap > 0.5
        frames.append(
            pd.DataFrame(
                {
                    "path": str(entry.path), "label": entry.label, "label_index": entry.label_index, "split": entry.split,
                    "clip_index": grid.index, "start_frame": grid.start_frame, "end_frame": grid.end_frame,
                    "video_frames": grid.video_frames, "start_s": grid.start_s, "end_s": grid.end_s,
                    "true_prob": true_prob, "top1": np.where(correct, entry.label_index, (entry.label_index + 1) % classes),
                    "correct": correct, "logits": list(logits), "in_segment": (overlap > 0).astype(float),
                }
            )  # fmt: skip
        )
    return write_targets(pd.concat(frames, ignore_index=True), output, classes=manifest.classes, frames_per_clip=16)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("sampler_data")
    # Many short videos of 4 classes: AC needs several classes (with two, the background becomes a class).
    synth = _synth(root / "synth", videos=48, seconds=10, seed=4, classes=4)
    targets = _segment_targets(synth, root / "targets.parquet")
    return {"root": root, "synth": synth, "targets": targets, "cache": root / "signals"}


def _config(dataset, run_dir: Path, **overrides) -> SamplerTrainConfig:
    options = dict(
        targets=dataset["targets"], run_dir=run_dir, modality="visual", loss="sal-rank", backbone="tiny",
        inputs=("iframe", "motion"), input_size=32, width=8, preset="cpu", epochs=8, k=K, seed=1,
        signals_cache=dataset["cache"],
    )  # fmt: skip
    options.update(overrides)
    return SamplerTrainConfig(**options)


def _test_split_precision(sampler, targets: Path) -> tuple[float, float]:
    """Mean precision of the sampler's top-K against the oracle's on the test videos, and Random's (K / L)."""
    rows, _ = read_targets(targets)
    precisions, randoms = [], []
    for path, video_rows in rows[rows["split"] == "test"].groupby("path"):
        info = probe(path)
        if sampler.modality == "audio" and info.audio is None:
            continue
        grid = clip_grid(info, frames_per_clip=16)
        chosen = sampler.select(info, grid, k=K).index
        truth = video_rows.sort_values("clip_index")["true_prob"].to_numpy()
        oracle = np.lexsort((np.arange(len(truth)), -truth))[:K]
        precisions.append(len(set(chosen.tolist()) & set(oracle.tolist())) / K)
        randoms.append(K / len(grid))
    return float(np.mean(precisions)), float(np.mean(randoms))


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["sal-rank", "sal-cl"])
def test_saliency_losses_train_a_visual_sampler_far_better_than_random(dataset, loss, tmp_path):
    result = train_sampler(_config(dataset, tmp_path / loss, loss=loss))
    assert len(result.history) == 8
    assert all(np.isfinite(epoch["train_loss"]) for epoch in result.history)
    # The saved sampler loads through the registry, by its bundle's path, and scores unseen videos.
    sampler = get_sampler(str(result.bundle))
    assert isinstance(sampler, LearnedSampler) and sampler.loss == loss
    precision, random = _test_split_precision(sampler, dataset["targets"])
    assert random <= 0.25
    assert precision >= max(0.45, 2 * random), (precision, random)


@pytest.mark.slow
def test_ac_trains_a_sampler_far_better_than_random(dataset, tmp_path):
    """AC (cpu recipe: weight decay and label smoothing) ranks action clips first, and classifies them.

    On the I-frame alone: the synthetic classes differ by colour, and motion is class-agnostic.
    """
    from scsampler.samplers.learned import forward_net
    from scsampler.training.sampler_data import build_table

    result = train_sampler(_config(dataset, tmp_path / "ac", loss="ac", inputs=("iframe",), epochs=None))
    assert len(result.history) == sampler_recipe(modality="visual", loss="ac", preset="cpu").epochs
    sampler = get_sampler(str(result.bundle))
    assert isinstance(sampler, LearnedSampler) and sampler.loss == "ac"
    precision, random = _test_split_precision(sampler, dataset["targets"])
    assert random <= 0.25
    assert precision >= max(0.35, 1.75 * random), (precision, random)
    rows, _ = read_targets(dataset["targets"])
    test_paths = list(rows[rows["split"] == "test"]["path"].unique())
    table = build_table(rows, test_paths, net_config=sampler.net.config, frames_per_clip=16, cache_dir=dataset["cache"])
    action = table.true_prob > 0.5
    with torch.no_grad():
        predicted = forward_net(sampler.net, table.inputs, torch.arange(len(table))).argmax(1)
    accuracy = float((predicted[action] == table.label[action]).float().mean())
    assert accuracy >= 0.45, accuracy  # chance is 1/4


@pytest.mark.slow
def test_audio_sampler_trains_far_better_than_random(dataset, tmp_path):
    result = train_sampler(_config(dataset, tmp_path / "audio", modality="audio", inputs=(), input_size=None))
    sampler = get_sampler("learned", checkpoint=str(result.checkpoint))
    assert sampler.modality == "audio" and sampler.signals == ("audio",)
    precision, random = _test_split_precision(sampler, dataset["targets"])  # videos with sound only
    assert precision >= max(0.45, 2 * random), (precision, random)


def test_training_resumes_and_writes_metrics(dataset, tmp_path):
    run_dir = tmp_path / "resume"
    first = train_sampler(_config(dataset, run_dir, epochs=1))
    assert first.start_epoch == 1 and len(first.history) == 1
    second = train_sampler(_config(dataset, run_dir, epochs=2))
    assert second.start_epoch == 2 and [e["epoch"] for e in second.history] == [1, 2]
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    for key in ("train_loss", "val_precision_at_k", "val_random_precision_at_k", "val_spearman", "lr"):
        assert key in lines[-1]
    with pytest.raises(Exception, match="belongs to another sampler"):
        train_sampler(_config(dataset, run_dir, epochs=3, loss="ac"))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_validation_measure_rises_clearly_above_random(dataset, seed, tmp_path):
    """What picks the best epoch is precision against the action segments on the val videos; it must see learning."""
    result = train_sampler(_config(dataset, tmp_path / f"seed{seed}", seed=seed, inputs=("iframe",)))
    first, best = result.history[0], result.best["metrics"]
    assert result.best["measure"] == "segment_precision" and best["val_measure"] == "segment_precision"
    assert best["val_segment_videos"] >= 8
    random = best["val_random_segment_precision"]
    assert random <= 0.3
    assert best["val_segment_precision"] >= max(0.6, 2 * random), (best, random)
    assert result.best["score"] == best["val_segment_precision"] >= first["val_segment_precision"]


def test_sampler_quality_against_segments_by_hand():
    from scsampler.training.sampler_data import ClipTable
    from scsampler.training.sampler_validation import sampler_quality, selection_measure

    # Two videos of 4 clips; in video 0 clips 1 and 2 hold the action, in video 1 clip 3; K = 2.
    table = ClipTable(
        inputs={}, label=torch.zeros(8, dtype=torch.long), correct=torch.zeros(8, dtype=torch.bool),
        true_prob=torch.tensor([0.1, 0.9, 0.8, 0.2, 0.4, 0.3, 0.2, 0.1]),
        video=torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), paths=["a", "b"],
        in_segment=torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]),
    )  # fmt: skip
    saliency = np.array([0.0, 5.0, 1.0, 2.0, 0.0, 0.0, 1.0, 9.0])  # top-2: {1, 3} and {7, 6}
    quality = sampler_quality(saliency, table, k=2)
    assert quality["segment_precision"] == pytest.approx((0.5 + 0.5) / 2)
    assert quality["random_segment_precision"] == pytest.approx((0.5 + 0.25) / 2)
    assert quality["precision_at_k"] == pytest.approx((0.5 + 0.0) / 2)  # oracle top-2: {1, 2} and {4, 5}
    assert quality["segment_videos"] == 2
    assert selection_measure(quality) == ("segment_precision", quality["segment_precision"])
    # the values each mean is taken over, video by video in the table's order
    assert quality["segment_precision_per_video"] == pytest.approx([0.5, 0.5])
    assert quality["precision_at_k_per_video"] == pytest.approx([0.5, 0.0])
    # Without known segments the oracle precision decides.
    table.in_segment = torch.full((8,), float("nan"))
    unknown = sampler_quality(saliency, table, k=2)
    assert unknown["segment_videos"] == 0 and selection_measure(unknown) == ("precision_at_k", unknown["precision_at_k"])


def test_training_stops_early_and_stays_stopped(dataset, tmp_path):
    run_dir = tmp_path / "early"
    # A learning rate too small to change anything: the measure never improves after epoch 1.
    result = train_sampler(_config(dataset, run_dir, epochs=6, lr=1e-12, early_stop=2))
    assert [e["epoch"] for e in result.history] == [1, 2, 3] and result.history[-1]["stopped_early"]
    assert result.best["epoch"] == 1
    again = train_sampler(_config(dataset, run_dir, epochs=6, lr=1e-12, early_stop=2))
    assert len(again.history) == 3  # a stopped run does not start again on resume


def test_validation_chooses_the_inputs(dataset, tmp_path):
    from scsampler.training.input_choice import parse_input_alternatives, train_sampler_choosing_inputs

    alternatives = parse_input_alternatives("iframe|motion")
    assert alternatives == [("iframe",), ("motion",)]
    run_dir = tmp_path / "choice"
    choice = train_sampler_choosing_inputs(_config(dataset, run_dir, epochs=2), alternatives)
    table = pd.read_csv(choice.table)
    assert list(table["inputs"]) == ["iframe", "motion"] and table["chosen"].sum() == 1
    best_row = table.loc[table["value"].idxmax()]
    assert bool(best_row["chosen"]) and tuple(best_row["inputs"].split(",")) == choice.chosen
    assert best_row["value"] == choice.results[choice.chosen].best["score"]
    kept = get_sampler(str(run_dir / "sampler"))
    assert tuple(kept.net.config["inputs"]) == choice.chosen
    for inputs in alternatives:
        assert (run_dir / "inputs" / "+".join(inputs) / "sampler").is_dir()


def test_the_cheapest_inputs_not_worse_than_the_best_on_validation_are_chosen():
    """cheapest-not-worse takes the first alternative (cheapest listed first) whose paired interval against
    the best reaches 0; best takes the best; without per-video values, the best."""
    from scsampler.training.input_choice import choose_inputs

    best_values = [1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    close = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]  # one video worse: not distinguishable on eight
    far = [0.0] * 8  # worse on every video the best gets right
    values = np.array([np.mean(far), np.mean(close), np.mean(best_values)])
    position, differences = choose_inputs(values, [far, close, best_values], rule="cheapest-not-worse")
    assert position == 1
    assert differences[2] == (0.0, 0.0, 0.0) and differences[0][2] < 0.0 <= differences[1][2]
    assert differences[1][0] == pytest.approx(-0.125)
    assert choose_inputs(values, [far, close, best_values], rule="best")[0] == 2
    assert choose_inputs(values, [far, None, best_values], rule="cheapest-not-worse")[0] == 2  # not logged: the best
    # equal measures: the first listed is the best, and is chosen either way
    assert choose_inputs(np.array([0.5, 0.5]), [[0.5], [0.5]], rule="best")[0] == 0
    with pytest.raises(UsageError, match="inputs rule"):
        choose_inputs(values, [far, close, best_values], rule="cheapest")


def test_the_inputs_rule_decides_what_the_run_keeps(dataset, tmp_path, capsys):
    """The CLI's --inputs-rule reaches the choice; inputs.csv records each alternative's paired difference from
    the best, and the rule."""
    run_dir = tmp_path / "rule"
    code = main([
        "train-sampler", str(dataset["targets"]), "--modality", "visual", "--loss", "sal-rank", "--recipe", "cpu",
        "--inputs", "iframe|motion", "--inputs-rule", "cheapest-not-worse", "--epochs", "2", "--input-size", "32",
        "--signals-cache", str(tmp_path / "cache"), "-o", str(run_dir),
    ])  # fmt: skip
    assert code == 0
    table = pd.read_csv(run_dir / "inputs.csv")
    assert set(table["rule"]) == {"cheapest-not-worse"}
    best = int(table["value"].idxmax())
    assert table.loc[best, "vs_best"] == 0.0
    first_not_worse = int(np.flatnonzero(table["vs_best_high"].to_numpy() >= 0.0)[0])
    assert table["chosen"].tolist() == [i == first_not_worse for i in range(len(table))]
    assert "inputs chosen on validation (cheapest-not-worse)" in capsys.readouterr().out
    kept = get_sampler(str(run_dir / "sampler"))
    assert tuple(kept.net.config["inputs"]) == tuple(table.loc[first_not_worse, "inputs"].split(","))


def test_sal_rank_batches_hold_several_clips_of_one_video(dataset, tmp_path):
    from scsampler.training.sampler_data import build_table, split_videos

    rows, meta = read_targets(dataset["targets"])
    train_paths, _ = split_videos(rows, seed=0)
    config = {"modality": "visual", "inputs": ["motion"], "input_size": 32}
    table = build_table(rows, train_paths[:3], net_config=config, frames_per_clip=16, cache_dir=tmp_path)
    batches = epoch_batches(table, loss="sal-rank", batch_size=8, clips_per_video=4, rng=np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(table)))  # every clip once
    for batch in batches:
        videos, counts = np.unique(table.video[batch].numpy(), return_counts=True)
        assert len(videos) <= 2 and counts.min() >= 2


def test_recipes_follow_the_paper():
    assert sampler_recipe(modality="visual", loss="ac").lr == 0.001
    assert sampler_recipe(modality="visual", loss="sal-rank").pretrained_lr_scale == 0.01
    rank = sampler_recipe(modality="audio", loss="sal-rank")
    assert (rank.lr, rank.decay_every_epochs, rank.pretrained_lr_scale) == (0.01, 5, 0.05)
    assert sampler_recipe(modality="audio", loss="sal-rank", preset="paper-kinetics").lr == 0.03
    cl = sampler_recipe(modality="audio", loss="sal-cl")
    assert (cl.lr, cl.decay_every_epochs, cl.epochs) == (0.001, 10, 16)


def test_recipe_table_covers_every_preset_modality_and_loss():
    from scsampler.errors import UsageError
    from scsampler.samplers.saliency import LOSSES
    from scsampler.training.recipes import SAMPLER_PRESETS, SAMPLER_RECIPES

    keys = {(preset, modality, loss) for preset in SAMPLER_PRESETS for modality in ("visual", "audio") for loss in LOSSES}
    assert set(SAMPLER_RECIPES) == keys
    assert all(recipe.name == "-".join(key) for key, recipe in SAMPLER_RECIPES.items())
    ac = sampler_recipe(modality="visual", loss="ac", preset="cpu")
    assert (ac.optimizer, ac.epochs, ac.weight_decay, ac.label_smoothing) == ("adam", 15, 0.05, 0.1)
    assert ac.with_overrides(epochs=3, lr=None).epochs == 3 and ac.with_overrides(lr=None).lr == ac.lr
    with pytest.raises(UsageError, match="unknown sampler recipe 'fast'"):
        sampler_recipe(modality="visual", loss="ac", preset="fast")


@pytest.fixture(scope="module")
def small_synth(tmp_path_factory):
    return _synth(tmp_path_factory.mktemp("small") / "synth", videos=2, seconds=10, seed=5)


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    return decisive_checkpoint(tmp_path_factory.mktemp("clf") / "r3d_tiny.pt", ["class00", "class01"])


def test_label_cli_stores_every_clip(tmp_path, small_synth, tiny_classifier, capsys):
    synth = small_synth
    output = tmp_path / "targets.parquet"
    argv = ["label", str(synth / "manifest.csv"), "--classifier", str(tiny_classifier), "-o", str(output), "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (first["labelled"], first["resumed"]) == (2, 0)
    rows, meta = read_targets(output)
    # synth writes a segments.csv beside the manifest: every clip says whether it overlaps an action
    assert list(rows.columns) == list(TARGET_COLUMNS) + ["confidence", "margin", "contrast", "in_segment"]
    segments = read_segments(synth / "segments.csv")
    for row in rows.itertuples():
        actions = [s for s in segments.get(Path(row.path).resolve(), []) if s.is_action]
        overlaps = any(min(row.end_s, s.end_s) - max(row.start_s, s.start_s) > 0 for s in actions)
        assert row.in_segment == float(overlaps)
    assert 0 < rows["in_segment"].sum() < len(rows)
    assert meta["classes"] == ["class00", "class01"] and meta["frames_per_clip"] == 16
    expected = sum(len(clip_grid(probe(e.path), frames_per_clip=16)) for e in read_manifest(synth / "manifest.csv"))
    assert len(rows) == first["clips"] == expected
    logits = np.stack(rows["logits"].to_numpy())
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    assert np.allclose(rows["true_prob"], softmax[np.arange(len(rows)), rows["label_index"]], atol=1e-5)
    assert (rows["correct"] == (rows["top1"] == rows["label_index"])).all()
    assert (rows["top1"] == logits.argmax(1)).all()
    # Once everything is in the final file, the per-video parts are gone.
    assert not list(tmp_path.glob(f".{output.name}.parts-*"))


def test_label_resume_skips_finished_videos(tmp_path, small_synth, tiny_classifier):
    from scsampler.models import Classifier
    from scsampler.training.targets import compute_targets

    synth = small_synth
    manifest = read_manifest(synth / "manifest.csv")
    classifier = Classifier.from_checkpoint(tiny_classifier)
    output = tmp_path / "t.parquet"
    # Simulate a run killed after the first video: only rank 0 of 2 labels (video 0), no barrier.
    partial = compute_targets(manifest, classifier=classifier, output=output, classifier_source=str(tiny_classifier), rank=0, world_size=2)
    assert partial.labelled == 1
    done = compute_targets(manifest, classifier=classifier, output=output, classifier_source=str(tiny_classifier))
    assert (done.labelled, done.resumed) == (1, 1)
    assert sorted(read_targets(output)[0]["path"].unique()) == sorted(str(e.path) for e in manifest)


def test_learned_sampler_plugs_into_classify(dataset, tmp_path, tiny_classifier, capsys):
    result = train_sampler(_config(dataset, tmp_path / "plug", epochs=1))
    video = sorted((dataset["synth"] / "videos").glob("*.mp4"))[0]
    argv = ["classify", str(video), "--weights", str(tiny_classifier), "--sampler", str(result.bundle), "--k", "2", "--json"]
    assert main(argv) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["error"] is None and len(line["clips"]) == 2


@pytest.fixture(scope="module")
def micro_classifier(dataset):
    """A small clip classifier trained on the fixture's action clips (its last epoch)."""
    run_dir = dataset["root"] / "classifier"
    argv = ["train-classifier", str(dataset["synth"] / "manifest.csv"), "-o", str(run_dir), "--recipe", "cpu-micro",
            "--threads", "1", "--seed", "0", "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0
    return run_dir / "last.pt"


def _video_top1(capsys, videos: list, labels: dict, *, classifier: Path, sampler: str) -> float:
    argv = ["classify", *map(str, videos), "--weights", str(classifier), "--sampler", sampler, "--k", str(K), "--json", "--quiet"]
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == len(videos) and all(len(line["clips"]) == K for line in lines)
    return float(np.mean([line["top5"][0]["label"] == labels[str(line["path"])] for line in lines]))


@pytest.mark.slow
def test_classify_with_a_learned_sampler_beats_uniform(dataset, micro_classifier, tmp_path, capsys):
    """Video-level top-1 over the test videos: K clips chosen by SAL-RANK vs K equally spaced clips.

    With K = 2 of 10 clips and actions covering about a fifth of each video, Uniform often
    classifies background; the learned sampler finds the actions.
    """
    result = train_sampler(_config(dataset, tmp_path / "rank"))
    test = [entry for entry in read_manifest(dataset["synth"] / "manifest.csv") if entry.split == "test"]
    labels = {str(entry.path): entry.label for entry in test}
    videos = [entry.path for entry in test]
    uniform = _video_top1(capsys, videos, labels, classifier=micro_classifier, sampler="uniform")
    learned = _video_top1(capsys, videos, labels, classifier=micro_classifier, sampler=str(result.bundle))
    assert learned >= 0.5, (learned, uniform)  # chance is 1/4
    # Strictly above, not by a set margin: over 12 videos one video is 8 points, and the same code gave
    # 0.667 against 0.583 on this machine under load where CI had read a larger gap (the sampler's
    # precision against the segments, tested above, is the measure with room to spare).
    assert learned > uniform, (learned, uniform)


@pytest.mark.slow
def test_audio_sampler_on_the_centred_2s_window_trains_and_scores_with_that_window(dataset, tmp_path, monkeypatch):
    config = _config(dataset, tmp_path / "audio-2s", modality="audio", inputs=(), input_size=None, audio_window="centred-2s")
    result = train_sampler(config)
    sampler = get_sampler("learned", checkpoint=str(result.checkpoint))
    assert sampler.net.config["audio_window"] == "centred-2s"
    seen = []
    import scsampler.signals as signals_module

    real = signals_module.extract_signals
    monkeypatch.setattr(signals_module, "extract_signals", lambda *a, **kw: seen.append(kw.get("audio_window")) or real(*a, **kw))
    precision, random = _test_split_precision(sampler, dataset["targets"])
    assert seen and set(seen) == {"centred-2s"}  # scored on the window it was trained on
    assert precision >= max(0.45, 2 * random), (precision, random)
    with pytest.raises(Exception, match="--audio-window applies to the audio sampler only"):
        train_sampler(_config(dataset, tmp_path / "visual-2s", audio_window="centred-2s"))


def test_a_motion_step_is_trained_with_saved_and_scored_with(dataset, tmp_path, monkeypatch, capsys):
    import scsampler.signals

    run_dir = tmp_path / "stepped"
    result = train_sampler(_config(dataset, run_dir, epochs=1, motion_step=8, signals_cache=tmp_path / "signals"))
    assert result.best is not None
    sampler = get_sampler(str(run_dir / "sampler"))
    assert sampler.net.config["motion_step"] == 8
    asked = []
    real = scsampler.signals.extract_signals
    monkeypatch.setattr(scsampler.signals, "extract_signals", lambda *args, **kwargs: asked.append(kwargs) or real(*args, **kwargs))
    path = read_targets(dataset["targets"])[0]["path"].iloc[0]
    info = probe(path)
    sampler.score(info, clip_grid(info, frames_per_clip=16))
    assert asked and asked[-1]["motion_step"] == 8
    # an input alternative without motion drops the step; no alternative with motion is refused
    plain = train_sampler(_config(dataset, tmp_path / "plain", inputs=("iframe",), epochs=1, motion_step=8, signals_cache=tmp_path / "signals"))
    assert "motion_step" not in get_sampler(str(plain.run_dir / "sampler")).net.config
    code = main(["train-sampler", str(dataset["targets"]), "-o", str(tmp_path / "refused"), "--inputs", "iframe", "--motion-step", "8"])
    assert code == 2 and "--motion-step applies to the motion input" in capsys.readouterr().err
