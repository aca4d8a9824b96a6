"""Samplers from unlabelled video: `label` without labels, and `train-sampler --target confidence|margin|contrast`.

The labelling tests run a tiny random classifier (tests/checkpoints.py) over a few short
synthetic videos: they check what is stored, not how good it is. The training test, like
tests/test_train_sampler.py, uses targets simulated from the synthetic benchmark's known action
segments (a classifier that is more confident where the action is, plus noise), with no label
at all, so that it checks the unlabelled training path without training a 3D CNN first.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from scsampler.cli import main
from scsampler.data.manifest import ACTION_KINDS, read_manifest, read_segments
from scsampler.data.synth import make_synthetic_benchmark
from scsampler.errors import DataWarning, UsageError
from scsampler.training.losses import sal_rank_loss, sal_rank_pairs
from scsampler.probabilities import confidence_and_margin
from scsampler.training.targets import TARGET_COLUMNS, read_targets, video_contrast, write_targets
from scsampler.training.sampler_data import salient_threshold
from scsampler.training.train_sampler import SamplerTrainConfig, train_sampler
from scsampler.video import clip_grid, probe
from tests.checkpoints import tiny_checkpoint

K = 2


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Three 10-second synthetic videos and a tiny classifier checkpoint (2 classes)."""
    root = tmp_path_factory.mktemp("unlabelled_small")
    manifest = make_synthetic_benchmark(root / "synth", videos=3, classes=2, seed=3, min_seconds=10, max_seconds=10, size=(96, 64), gop=16)
    classifier = tiny_checkpoint(root / "tiny.pt", ["class00", "class01"])
    return {"root": root, "synth": manifest.parent, "manifest": manifest, "classifier": classifier}


def _label_cli(capsys, source: Path, classifier: Path, output: Path, *extra: str) -> dict:
    argv = ["label", str(source), "--classifier", str(classifier), "-o", str(output), "--json", *extra]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_label_stores_confidence_for_a_manifest_without_labels(small, tmp_path, capsys):
    unlabelled = small["synth"] / "unlabelled.csv"  # beside segments.csv: in_segment is still known
    entries = read_manifest(small["manifest"])
    pd.DataFrame({"path": [str(e.path) for e in entries], "split": [e.split for e in entries]}).to_csv(unlabelled, index=False)
    output = tmp_path / "targets.parquet"
    summary = _label_cli(capsys, unlabelled, small["classifier"], output)
    assert summary["unlabelled_videos"] is True and summary["labelled"] == 3
    rows, meta = read_targets(output)
    assert meta["classes"] == ["class00", "class01"] and meta["labelled"] is False  # the checkpoint's classes
    assert list(rows.columns) == list(TARGET_COLUMNS) + ["confidence", "margin", "contrast", "in_segment"]
    assert (rows["label"] == "").all() and (rows["label_index"] == -1).all()
    assert rows["true_prob"].isna().all() and rows["correct"].isna().all()  # label-dependent: empty
    probabilities = np.sort(_softmax(np.stack(rows["logits"].to_numpy()).astype(np.float64)), axis=1)
    assert np.allclose(rows["confidence"], probabilities[:, -1], atol=1e-6)
    assert np.allclose(rows["margin"], probabilities[:, -1] - probabilities[:, -2], atol=1e-6)
    assert (rows["margin"] >= 0).all() and (rows["confidence"] >= 0.5).all()  # two classes
    for _, video in rows.groupby("path"):  # contrast: against each video's own mean softmax, not the file's
        assert np.allclose(video["contrast"], video_contrast(np.stack(video["logits"].to_numpy())), atol=1e-6)
    assert rows["in_segment"].notna().all() and list(rows.groupby("path")["split"].first().sort_index()) == [
        e.split for e in sorted(entries, key=lambda e: str(e.path))
    ]


def test_label_takes_a_folder_of_videos_and_holds_out_whole_videos(small, tmp_path, capsys):
    output = tmp_path / "folder.parquet"
    summary = _label_cli(capsys, small["synth"], small["classifier"], output, "--val-fraction", "0.34")
    assert summary["videos"] == 3 and summary["unlabelled_videos"] is True
    rows, _ = read_targets(output)
    videos = sorted(str(p.resolve()) for p in (small["synth"] / "videos").rglob("*.mp4"))
    assert sorted(rows["path"].unique()) == videos  # found recursively
    splits = rows.groupby("path")["split"].nunique()
    assert (splits == 1).all()  # whole videos
    by_video = rows.groupby("path")["split"].first()
    assert sorted(by_video) == ["train", "train", "val"]
    assert rows["in_segment"].notna().all()  # the folder's segments.csv


def test_labelled_videos_get_confidence_and_margin_too(small, tmp_path, capsys):
    output = tmp_path / "labelled.parquet"
    _label_cli(capsys, small["manifest"], small["classifier"], output)
    rows, meta = read_targets(output)
    assert meta["labelled"] is True and (rows["label_index"] >= 0).all() and rows["true_prob"].notna().all()
    confidence, margin = confidence_and_margin(np.stack(rows["logits"].to_numpy()))
    assert np.allclose(rows["confidence"], confidence) and np.allclose(rows["margin"], margin)
    assert (rows["confidence"] >= rows["true_prob"] - 1e-6).all()


def test_contrast_discounts_what_the_classifier_says_of_the_whole_video(tmp_path):
    # One video: 8 background clips the classifier calls class 0 with 0.95 (a class it gives to
    # background everywhere), 2 action clips it calls class 1 with only 0.88.
    background, action = np.log([0.95, 0.025, 0.025]), np.log([0.06, 0.88, 0.06])
    logits = np.stack([background] * 8 + [action] * 2)
    confidence, margin = confidence_and_margin(logits)
    contrast = video_contrast(logits)
    inside = np.array([False] * 8 + [True] * 2)
    assert confidence[~inside].min() > confidence[inside].max() and margin[~inside].min() > margin[inside].max()
    assert contrast[inside].min() > 5 * contrast[~inside].max()  # the action: far from the video's prior
    prior = np.array([0.95 * 0.8 + 0.06 * 0.2, 0.025 * 0.8 + 0.88 * 0.2, 0.025 * 0.8 + 0.06 * 0.2])
    expected = (np.exp(action) * (action - np.log(prior))).sum()  # KL(clip || mean softmax), in nats
    assert contrast[-1] == pytest.approx(expected, rel=1e-9)
    assert np.allclose(video_contrast(np.stack([background] * 4)), 0.0)  # a video the classifier sees alike: no contrast
    assert np.allclose(video_contrast(logits + 7.0), contrast)  # logits, not their offset
    # A file written without the column gets it per video on reading, whatever the other videos hold.
    rows = pd.DataFrame({
        "path": ["a.mp4"] * 10 + ["b.mp4"] * 4, "label": "", "label_index": -1, "split": "train",
        "clip_index": list(range(10)) + list(range(4)), "start_frame": 0, "end_frame": 16, "video_frames": 160,
        "start_s": 0.0, "end_s": 1.0, "true_prob": np.nan, "top1": 0,
        "correct": pd.array([pd.NA] * 14, dtype="boolean"), "logits": list(np.vstack([logits, np.stack([action] * 4)])),
    })  # fmt: skip
    read, _ = read_targets(write_targets(rows, tmp_path / "old.parquet", classes=["a", "b", "c"], frames_per_clip=16))
    assert np.allclose(read["contrast"].to_numpy()[:10], contrast) and np.allclose(read["contrast"].to_numpy()[10:], 0.0)
    assert np.allclose(read["confidence"].to_numpy()[:10], confidence) and np.allclose(read["margin"].to_numpy()[:10], margin)
    # Only the missing columns are computed: those the file holds are read as they are.
    rows["confidence"], rows["contrast"] = 0.25, 0.5
    read, _ = read_targets(write_targets(rows, tmp_path / "partial.parquet", classes=["a", "b", "c"], frames_per_clip=16))
    assert (read["confidence"] == 0.25).all() and (read["contrast"] == 0.5).all()
    assert np.allclose(read["margin"].to_numpy()[:10], margin)


def test_a_manifest_mixing_empty_and_given_labels_is_refused(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\na.mp4,cat\nb.mp4,\n")
    with pytest.raises(UsageError, match=r"line 3: the label is empty while line 2 has one"):
        read_manifest(manifest, allow_unlabelled=True)
    with pytest.raises(UsageError, match="line 3: the path and the label must not be empty"):
        read_manifest(manifest)  # the labelled reading keeps its error
    (tmp_path / "n.csv").write_text("path,split\na.mp4,train\n")
    with pytest.raises(UsageError, match="missing label"):
        read_manifest(tmp_path / "n.csv")
    unlabelled = read_manifest(tmp_path / "n.csv", allow_unlabelled=True)
    assert not unlabelled.labelled and unlabelled.classes == [] and unlabelled.entries[0].label_index == -1


def test_sal_rank_on_confidence_orders_two_clips():
    # Two clips of one video: the classifier is confident on clip 0, unsure on clip 1.
    confidence, margin = confidence_and_margin(np.array([[4.0, 0.0, 0.0], [0.3, 0.1, 0.0]]))
    assert confidence[0] > confidence[1] and margin[0] > margin[1]
    target = torch.tensor(confidence, dtype=torch.float32)
    group = torch.zeros(2, dtype=torch.long)
    hi, lo = sal_rank_pairs(target, group)
    assert hi.tolist() == [0] and lo.tolist() == [1]  # the only ordered pair: confident above unsure
    scores = torch.tensor([0.0, 0.5], requires_grad=True)  # starts in the wrong order
    optimizer = torch.optim.SGD([scores], lr=0.1)
    for _ in range(50):
        optimizer.zero_grad()
        loss = sal_rank_loss(scores, target, group)
        loss.backward()
        optimizer.step()
    assert float(sal_rank_loss(scores, target, group).detach()) == pytest.approx(0.0, abs=1e-6)
    assert float((scores[0] - scores[1]).detach()) >= 1.0 - 1e-6  # ordered, by the margin


def test_salient_threshold_keeps_the_mean_confidence_share():
    confidence = torch.linspace(0.5, 1.0, 101)
    threshold, share = salient_threshold(confidence, confidence)
    assert share == pytest.approx(0.75)
    assert float((confidence > threshold).float().mean()) == pytest.approx(0.75, abs=0.02)
    threshold, share = salient_threshold(confidence, confidence, share=0.1)
    assert share == 0.1 and float((confidence > threshold).float().mean()) == pytest.approx(0.1, abs=0.02)
    with pytest.raises(UsageError, match="--salient-share"):
        salient_threshold(confidence, confidence, share=1.0)


def test_ac_without_labels_is_refused_naming_the_option(tmp_path, capsys):
    argv = ["train-sampler", str(tmp_path / "t.parquet"), "--loss", "ac", "--target", "confidence", "-o", str(tmp_path / "run")]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "--loss ac is not defined for --target confidence" in error and "sal-rank" in error
    with pytest.raises(UsageError, match="--target"):
        train_sampler(SamplerTrainConfig(targets=tmp_path / "t.parquet", run_dir=tmp_path / "r", loss="ac", target="margin"))


# --------------------------------------------------------------------------- training without labels


def _unlabelled_targets(
    synth_dir: Path, output: Path, *, seed: int = 0, segments: bool = True, confident_background: bool = False
) -> Path:
    """Unlabelled targets whose classifier is confident on the action clips: logit gap 0.2 + 4 x overlap + noise.

    ``confident_background``: instead, it gives the background to class 0 as confidently as a
    clip that overlaps an action to class 1 (logit 2.5 for its class, + noise on both), so that
    its max softmax does not tell them apart.
    """
    manifest = read_manifest(synth_dir / "manifest.csv")
    spans = read_segments(synth_dir / "segments.csv")
    rng = np.random.default_rng(seed)
    frames = []
    for entry in manifest:
        grid = clip_grid(probe(entry.path), frames_per_clip=16)
        actions = [s for s in spans.get(entry.path, []) if s.kind in ACTION_KINDS]
        overlap = np.array(
            [sum(max(0.0, min(end, s.end_s) - max(start, s.start_s)) for s in actions) / (end - start)
             for start, end in zip(grid.start_s, grid.end_s)]
        )  # fmt: skip
        logits = np.zeros((len(grid), 2), np.float32)
        if confident_background:
            hit = (overlap > 0).astype(np.float32)
            logits[:, 0] = 2.5 * (1.0 - hit) + rng.normal(0, 0.3, len(grid))
            logits[:, 1] = 2.5 * hit + rng.normal(0, 0.3, len(grid))
        else:
            logits[:, int(rng.integers(2))] = 0.2 + 4.0 * overlap + rng.normal(0, 0.3, len(grid))
        frame = pd.DataFrame(
            {
                "path": str(entry.path), "label": "", "label_index": -1, "split": entry.split,
                "clip_index": grid.index, "start_frame": grid.start_frame, "end_frame": grid.end_frame,
                "video_frames": grid.video_frames, "start_s": grid.start_s, "end_s": grid.end_s,
                "true_prob": np.nan, "top1": logits.argmax(1), "correct": pd.array([pd.NA] * len(grid), dtype="boolean"),
                "logits": list(logits),
            }
        )  # fmt: skip
        if segments:
            frame["in_segment"] = (overlap > 0).astype(float)
        frames.append(frame)
    return write_targets(pd.concat(frames, ignore_index=True), output, classes=["a", "b"], frames_per_clip=16)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("unlabelled_train")
    manifest = make_synthetic_benchmark(root / "synth", videos=20, classes=2, seed=4, min_seconds=10, max_seconds=10, size=(96, 64), gop=16)
    targets = _unlabelled_targets(manifest.parent, root / "targets.parquet")
    return {"root": root, "synth": manifest.parent, "targets": targets, "cache": root / "signals"}


def _config(data, run_dir: Path, **overrides) -> SamplerTrainConfig:
    options = dict(
        targets=data["targets"], run_dir=run_dir, modality="visual", loss="sal-rank", target="confidence", backbone="tiny",
        inputs=("iframe",), input_size=32, width=8, preset="cpu", epochs=6, k=K, seed=0, signals_cache=data["cache"],
    )  # fmt: skip
    options.update(overrides)
    return SamplerTrainConfig(**options)


def _test_segment_precision(sampler, synth_dir: Path) -> tuple[float, float]:
    """Mean precision of the sampler's top-K against the action segments on the test videos, and Random's."""
    spans = read_segments(synth_dir / "segments.csv")
    precisions, randoms = [], []
    for entry in read_manifest(synth_dir / "manifest.csv").split("test"):
        info = probe(entry.path)
        grid = clip_grid(info, frames_per_clip=16)
        actions = [s for s in spans.get(entry.path, []) if s.kind in ACTION_KINDS]
        inside = np.array([any(min(e, s.end_s) - max(b, s.start_s) > 0 for s in actions) for b, e in zip(grid.start_s, grid.end_s)])
        if not inside.any():
            continue
        chosen = sampler.select(info, grid, k=K).index
        precisions.append(float(inside[np.asarray(chosen)].mean()))
        randoms.append(float(inside.mean()))
    return float(np.mean(precisions)), float(np.mean(randoms))


def test_unlabelled_sampler_beats_random_against_the_segments(synthetic):
    from scsampler.samplers import get_sampler

    with pytest.raises(UsageError, match="--target confidence or --target margin"):
        train_sampler(_config(synthetic, synthetic["root"] / "refused", target="label"))
    result = train_sampler(_config(synthetic, synthetic["root"] / "rank"))
    best = result.best["metrics"]
    assert result.best["measure"] == "segment_precision"  # val videos have segments: the measure that matters
    assert best["val_precision_at_k"] is None and best["val_oracle_videos"] == 0  # no labels: no oracle
    assert best["val_segment_precision"] > best["val_random_segment_precision"]
    sampler = get_sampler(str(result.bundle))
    precision, random = _test_segment_precision(sampler, synthetic["synth"])
    print(f"unlabelled sal-rank on confidence: test P@{K} vs segments {precision:.3f}, random {random:.3f}")
    assert random <= 0.4
    assert precision >= max(0.5, 1.5 * random), (precision, random)
    bundle = json.loads((result.bundle / "sampler.json").read_text())
    assert bundle["sampler"]["config"]["target"] == "confidence"
    assert torch.load(result.checkpoint, weights_only=False)["sampler"]["target"] == "confidence"


def test_sal_cl_on_margin_and_validation_without_labels_or_segments(synthetic, tmp_path):
    targets = _unlabelled_targets(synthetic["synth"], tmp_path / "no_segments.parquet", segments=False)
    config = _config(synthetic, tmp_path / "cl", targets=targets, loss="sal-cl", target="margin", epochs=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train_sampler(config)
    assert any(issubclass(w.category, DataWarning) and "oracle precision is unavailable" in str(w.message) for w in caught)
    assert result.best["measure"] == "target_precision"
    assert result.best["metrics"]["val_target_precision"] is not None
    saved = torch.load(result.checkpoint, weights_only=False)["sampler"]
    assert saved["target"] == "margin" and 0.05 <= saved["salient_share"] <= 0.95
    rows, _ = read_targets(targets)
    train_margin = rows[rows["split"] == "train"]["margin"]
    assert train_margin.min() <= saved["salient_threshold"] <= train_margin.max()


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a positive clip scores above a negative one (ties count half)."""
    difference = scores[positive][:, None] - scores[~positive][None, :]
    return float((difference > 0).mean() + 0.5 * (difference == 0).mean())


def test_contrast_trains_a_sampler_where_the_background_is_confidently_one_class(synthetic, tmp_path):
    from scsampler.samplers import get_sampler

    targets = _unlabelled_targets(synthetic["synth"], tmp_path / "background_class.parquet", confident_background=True)
    rows, _ = read_targets(targets)
    assert "contrast" in rows.columns and (rows["label_index"] == -1).all()  # computed on reading, without labels
    inside = rows["in_segment"].to_numpy() > 0.5
    assert 0.1 <= inside.mean() <= 0.4  # actions are the minority of the clips: the video's prior is the background
    assert abs(_auc(rows["confidence"].to_numpy(), inside) - 0.5) < 0.15  # max softmax: background as confident as action
    assert _auc(rows["contrast"].to_numpy(), inside) > 0.9
    result = train_sampler(_config(synthetic, tmp_path / "contrast", targets=targets, target="contrast"))
    assert result.best["metrics"]["val_segment_precision"] > result.best["metrics"]["val_random_segment_precision"]
    precision, random = _test_segment_precision(get_sampler(str(result.bundle)), synthetic["synth"])
    print(f"unlabelled sal-rank on contrast: test P@{K} vs segments {precision:.3f}, random {random:.3f}")
    assert precision >= max(0.5, 1.5 * random), (precision, random)
    assert torch.load(result.checkpoint, weights_only=False)["sampler"]["target"] == "contrast"
