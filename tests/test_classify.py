"""classify_video and ``scsampler classify`` on real files."""

from __future__ import annotations

import json
import urllib.error

import numpy as np
import pytest
import torch

from scsampler.cli import main
from scsampler.errors import UsageError, VideoError
from scsampler.inference import aggregate_clip_logits, classify_video
from scsampler.models import Classifier
from scsampler.samplers.baselines import OracleSampler
from scsampler.video import clip_grid, decode_clips, probe
from tests.checkpoints import decisive_checkpoint

CLASSES = ["jump", "run", "wave"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny R3D with 3 classes saved as a scsampler checkpoint."""
    return decisive_checkpoint(tmp_path_factory.mktemp("ckpt") / "r3d_tiny.pt", CLASSES)


@pytest.fixture(scope="module")
def classifier(checkpoint):
    return Classifier.from_checkpoint(checkpoint)


def test_video_probabilities_are_the_mean_softmax_of_the_selected_clips(numbered_video, classifier):
    prediction = classify_video(numbered_video, classifier=classifier, sampler="uniform", k=3)
    info = probe(numbered_video)
    grid = clip_grid(info, frames_per_clip=16)
    assert len(grid) == 6
    assert list(prediction.selection.index) == [1, 3, 5]
    # Recompute independently: decode those clips, run the model, average the softmax.
    clips = decode_clips(numbered_video, grid.subset([1, 3, 5]), size=(72, 96), info=info)
    expected = torch.softmax(classifier(clips).double(), dim=1).mean(dim=0).numpy()
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=1e-5, atol=1e-6)
    assert [p.label for p in prediction.top5] == [CLASSES[i] for i in np.argsort(-expected)]
    assert prediction.probabilities.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(prediction.selection.start_s, grid.start_s[[1, 3, 5]])
    assert set(prediction.seconds) >= {"sampler", "decode", "classifier"}
    assert all(v >= 0 for v in prediction.seconds.values())


def test_dense_uses_every_clip_and_logit_mean_is_an_option(numbered_video, classifier):
    dense = classify_video(numbered_video, classifier=classifier, sampler="dense", batch_size=4)
    assert list(dense.selection.index) == list(range(6))
    logit_mean = classify_video(numbered_video, classifier=classifier, sampler="dense", aggregate="logit_mean")
    assert logit_mean.probabilities.sum() == pytest.approx(1.0)
    with pytest.raises(UsageError, match="aggregate must be one of softmax_mean, logit_mean, got 'max'"):
        classify_video(numbered_video, classifier=classifier, sampler="dense", aggregate="max")


def test_aggregate_rules():
    logits = np.array([[2.0, 0.0], [0.0, 4.0]])
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(aggregate_clip_logits(logits), softmax.mean(axis=0))
    mean = logits.mean(axis=0)
    np.testing.assert_allclose(aggregate_clip_logits(logits, aggregate="logit_mean"), np.exp(mean) / np.exp(mean).sum())


def test_classify_video_refuses_samplers_that_need_the_label(numbered_video, classifier):
    oracle = OracleSampler(clip_probs=np.ones((6, 3)), label_index=0)
    with pytest.raises(UsageError, match="needs the ground-truth label"):
        classify_video(numbered_video, classifier=classifier, sampler=oracle)


def test_classify_video_on_a_missing_file_names_it(tmp_path, classifier):
    with pytest.raises(VideoError, match="missing.mp4"):
        classify_video(tmp_path / "missing.mp4", classifier=classifier, sampler="uniform")


def _run_cli(capsys, argv):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_json_lines(numbered_video, checkpoint, capsys):
    status, out, _ = _run_cli(
        capsys, ["classify", str(numbered_video), "--weights", str(checkpoint), "--sampler", "random", "--k", "2", "--json"]
    )
    assert status == 0
    [line] = out.strip().splitlines()
    result = json.loads(line)
    assert result["path"] == str(numbered_video) and result["error"] is None
    assert [entry["label"] for entry in result["top5"]] and {e["label"] for e in result["top5"]} == set(CLASSES)
    assert sum(entry["prob"] for entry in result["top5"]) == pytest.approx(1.0, abs=1e-5)
    assert len(result["clips"]) == 2 and all(c["end_s"] > c["start_s"] >= 0 for c in result["clips"])
    assert set(result["seconds"]) >= {"sampler", "decode", "classifier"}
    assert result["classifier"] == "r3d_tiny" and result["sampler"] == "random"


def test_cli_reports_a_bad_file_and_finishes_the_others(numbered_video, checkpoint, tmp_path, capsys):
    missing = tmp_path / "missing.mp4"
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    argv = ["classify", str(numbered_video), str(missing), str(not_video), str(numbered_video)]
    status, out, _ = _run_cli(capsys, argv + ["--weights", str(checkpoint), "--k", "2", "--json", "--quiet"])
    assert status == 1
    results = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["path"] for r in results] == [str(numbered_video), str(missing), str(not_video), str(numbered_video)]
    assert [r["error"] is None for r in results] == [True, False, False, True]
    assert str(missing) in results[1]["error"] and str(not_video) in results[2]["error"]
    assert results[1]["top5"] == [] and results[1]["clips"] == []
    assert results[0]["top5"] == results[3]["top5"]


def test_cli_table(numbered_video, checkpoint, capsys):
    status, out, _ = _run_cli(
        capsys, ["classify", str(numbered_video), "--classifier", "r3d_tiny", "--weights", str(checkpoint), "--k", "3"]
    )
    assert status == 0
    assert str(numbered_video) in out and "uniform: 3 clips" in out
    assert "1. " in out and "clips: #1 " in out


def test_cli_kinetics_weights_without_network(numbered_video, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    status, _, err = _run_cli(
        capsys, ["classify", str(numbered_video), "--classifier", "r2plus1d_18", "--weights", "KINETICS400_V1"]
    )
    assert status == 2
    assert "error: cannot download the KINETICS400_V1 weights" in err and "--weights PATH" in err


def test_cli_checkpoint_of_another_model_is_refused(numbered_video, checkpoint, capsys):
    status, _, err = _run_cli(
        capsys, ["classify", str(numbered_video), "--classifier", "mc3_tiny", "--weights", str(checkpoint)]
    )
    assert status == 2 and "is a checkpoint of r3d_tiny, not mc3_tiny" in err


def test_cli_on_real_footage(shared_videos, checkpoint, capsys):
    videos = [shared_videos / "vtest.avi", shared_videos / "tree.avi"]
    status, out, _ = _run_cli(
        capsys, ["classify", *map(str, videos), "--weights", str(checkpoint), "--k", "3", "--json", "--quiet"]
    )
    assert status == 0
    for video, line in zip(videos, out.strip().splitlines()):
        result = json.loads(line)
        assert result["path"] == str(video) and result["error"] is None and len(result["clips"]) == 3


def test_the_default_forward_batch_is_the_classifiers_own(numbered_video, classifier):
    """On a CPU the full-size networks run one clip per forward pass (cheapest per clip there, a quarter of the
    memory, and K=10 needs no padding), the tiny ones 8; classify_video and the pipeline both default to it."""
    import dataclasses

    from scsampler.models.registry import get_model_spec
    from scsampler.pipeline import Pipeline, PipelineConfig

    assert get_model_spec("r2plus1d_18").cpu_batch_size == 1 and get_model_spec("ir_csn_152").cpu_batch_size == 1
    assert get_model_spec("r2plus1d_tiny").cpu_batch_size == 8 and classifier.batch_size == 8
    for cpu_batch in (1, 8, 3):
        one = Classifier(classifier.model, dataclasses.replace(classifier.spec, cpu_batch_size=cpu_batch), classifier.classes)
        assert one.batch_size == cpu_batch
        seen: list[int] = []
        hook = one.model.register_forward_hook(lambda module, inputs, output: seen.append(len(inputs[0])))
        try:
            classify_video(numbered_video, classifier=one, sampler="uniform", k=5)
            assert seen == [min(cpu_batch, 5 - i) for i in range(0, 5, cpu_batch)]
            seen.clear()
            outcome = next(Pipeline(PipelineConfig(sampler="uniform", k=5), classifier=one).run([numbered_video]))
            assert outcome.error is None and len(outcome.logits) == 5
            assert seen == [cpu_batch] * -(-5 // cpu_batch)  # fixed-shape batches: the last one padded
        finally:
            hook.remove()
    with pytest.raises(ValueError, match="cpu_batch_size"):
        dataclasses.replace(classifier.spec, cpu_batch_size=0)
