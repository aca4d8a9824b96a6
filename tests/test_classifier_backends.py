"""The clip classifier's CPU backends (issue 17 item 3): ONNX Runtime against eager, the export cache,
``--classifier-backend`` on the command line, and the pipeline on either backend."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scsampler.batch_inference import ClassifyOptions, VideoClassifier
from scsampler.cli import main
from scsampler.cli._common import CLASSIFIER_BACKEND_CHOICES
from scsampler.errors import UsageError
from scsampler.inference import aggregate_clip_logits
from scsampler.models import Classifier, decode_size, get_model, get_model_spec, save_checkpoint
from scsampler.models.classifier_backends import CLASSIFIER_BACKENDS, ONNX_TOLERANCE, OnnxRunner, check_classifier_backend
from scsampler.pipeline import Pipeline, PipelineConfig
from scsampler.video import clip_grid, decode_clips, probe
from tests.signals_media import moving_block_video


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SCSAMPLER_CACHE_DIR", str(folder))
    return folder / "onnx"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Two small videos of different motion and a 4-class r2plus1d_tiny checkpoint (the demo's model) whose
    head is centred on their clips, so that clips get different top-1 classes."""
    folder = tmp_path_factory.mktemp("backends")
    videos = [moving_block_video(folder / f"v{i}.mp4", frames=64, dx=2 * i + 1, dy=i, move_from=16 * i) for i in range(2)]
    spec = get_model_spec("r2plus1d_tiny")
    clips = []
    for video in videos:
        info = probe(video)
        clips.append(decode_clips(video, clip_grid(info, frames_per_clip=spec.frames_per_clip), size=decode_size(
            spec, height=info.height, width=info.width), info=info))  # fmt: skip
    classifier = tiny_classifier(classes=4, centre_on=torch.cat(clips))
    checkpoint = save_checkpoint(folder / "r2plus1d_tiny.pt", model_name="r2plus1d_tiny", model=classifier.model,
                                 classes=classifier.classes)  # fmt: skip
    return [str(v) for v in videos], str(checkpoint)


def tiny_classifier(
    seed: int = 0, *, classes: int = 5, backend: str = "eager", pretrained: bool = True, centre_on: torch.Tensor | None = None
) -> Classifier:
    """r2plus1d_tiny with seeded random weights and a wide head (logits that differ clearly between classes).

    ``centre_on``: clips whose mean logits the head's bias removes. A random network's features share a large
    mean, which alone would decide every clip's top-1; centred, the top-1 differs from clip to clip.
    """
    torch.manual_seed(seed)
    model = get_model("r2plus1d_tiny", num_classes=classes)
    with torch.no_grad():
        model.fc.weight.normal_(0, 1.0)
    spec = get_model_spec("r2plus1d_tiny")
    names = [f"c{i}" for i in range(classes)]
    if centre_on is not None:
        with torch.no_grad():
            model.fc.bias.sub_(Classifier(model, spec, names)(centre_on).mean(0))
    return Classifier(model, spec, names, backend=backend, pretrained=pretrained)


def test_the_cli_choices_are_the_backends():
    assert CLASSIFIER_BACKEND_CHOICES == CLASSIFIER_BACKENDS
    assert CLASSIFIER_BACKENDS[0] == "eager"  # the default


def test_onnx_logits_equal_eager_within_tolerance_with_the_same_top1():
    clips = torch.randint(0, 256, (6, 3, 16, 128, 171), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    eager = tiny_classifier(centre_on=clips)
    onnx = Classifier(eager.model, eager.spec, eager.classes, backend="onnx")
    assert isinstance(onnx._runner, OnnxRunner) and eager._runner is None
    for batch in (1, 3, 6):  # the batch axis is dynamic
        for start in range(0, len(clips), batch):
            part = clips[start : start + batch]
            expected, got = eager(part), onnx(part)
            assert got.dtype == torch.float32 and got.shape == expected.shape
            scale = float(expected.abs().max())
            assert float((got - expected).abs().max()) <= ONNX_TOLERANCE * scale, batch
            assert torch.equal(got.argmax(1), expected.argmax(1)), batch
    assert len(set(eager(clips).argmax(1).tolist())) > 1  # the clips are told apart: top-1 agreement means something


def test_onnx_refuses_clips_of_another_shape():
    onnx = tiny_classifier(backend="onnx")
    with pytest.raises(Exception, match=r"exported for clips of \[3, 16, 64, 64\], got \[3, 8, 64, 64\]"):
        onnx.forward_preprocessed(torch.zeros(1, 3, 8, 64, 64))


def test_the_export_is_cached_by_weights_and_random_weights_are_not_kept(onnx_cache):
    tiny_classifier(seed=0, backend="onnx")
    files = sorted(onnx_cache.glob("*.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = tiny_classifier(seed=0, backend="onnx")  # the same weights: the cached file, not a new export
    assert sorted(onnx_cache.glob("*.onnx")) == files and files[0].stat().st_mtime_ns == stamp
    clips = torch.randint(0, 256, (2, 3, 16, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    expected = tiny_classifier(seed=0)(clips)
    assert float((again(clips) - expected).abs().max()) <= ONNX_TOLERANCE * float(expected.abs().max())
    tiny_classifier(seed=1, backend="onnx")  # other weights: another file
    assert len(list(onnx_cache.glob("*.onnx"))) == 2
    tiny_classifier(seed=2, backend="onnx", pretrained=False)  # a random initialisation: exported in memory only
    assert len(list(onnx_cache.glob("*.onnx"))) == 2


def test_a_bad_backend_is_a_usage_error_naming_it(media, capsys):
    paths, checkpoint = media
    with pytest.raises(UsageError, match=r"unknown classifier backend 'tvm'; choose one of eager, onnx\."):
        Classifier.load(None, weights=checkpoint, backend="tvm")
    with pytest.raises(UsageError, match=r"--classifier-backend onnx runs on the CPU, not on cuda"):
        check_classifier_backend("onnx", device="cuda")
    assert check_classifier_backend("eager", device="cuda") == "eager"  # CUDA keeps today's path
    for argv in (["classify", paths[0], "--weights", checkpoint], ["evaluate", "m.csv", "--classifier", checkpoint, "-o", "run"]):
        with pytest.raises(SystemExit) as stop:
            main(argv + ["--classifier-backend", "tvm"])
        assert stop.value.code == 2
        assert "argument --classifier-backend: invalid choice: 'tvm'" in capsys.readouterr().err


def test_the_pipeline_on_onnx_gives_eager_top1(media):
    paths, checkpoint = media
    outcomes = {}
    for backend in CLASSIFIER_BACKENDS:
        pipeline = Pipeline(PipelineConfig(weights=checkpoint, sampler="every-clip", batch_size=4, classifier_backend=backend))
        assert pipeline.classifier.backend == backend
        outcomes[backend] = list(pipeline.run(paths))
    for eager, onnx in zip(outcomes["eager"], outcomes["onnx"]):
        assert eager.error is None and onnx.error is None
        assert np.array_equal(eager.plan.selection.index, onnx.plan.selection.index)
        scale = np.abs(eager.logits).max()
        assert np.abs(onnx.logits - eager.logits).max() <= ONNX_TOLERANCE * scale
        assert np.array_equal(onnx.logits.argmax(1), eager.logits.argmax(1))  # every clip's top-1
        assert aggregate_clip_logits(onnx.logits).argmax() == aggregate_clip_logits(eager.logits).argmax()  # the video's
    clip_labels = np.concatenate([o.logits.argmax(1) for o in outcomes["eager"]])
    assert len(clip_labels) >= 8 and len(set(clip_labels.tolist())) > 1  # clips told apart: agreement means something


def test_cli_classify_with_onnx_gives_eager_labels(media, capsys, monkeypatch):
    paths, checkpoint = media
    calls = []
    run = OnnxRunner.__call__
    monkeypatch.setattr(OnnxRunner, "__call__", lambda self, batch: calls.append(len(batch)) or run(self, batch))
    labels, probabilities = {}, {}
    for backend in CLASSIFIER_BACKENDS:
        argv = ["classify", *paths, "--weights", checkpoint, "--sampler", "uniform", "--k", "3", "--json", "--quiet"]
        assert main(argv + ["--classifier-backend", backend]) == 0
        results = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
        labels[backend] = [[entry["label"] for entry in r["top5"]] for r in results]
        probabilities[backend] = [[entry["prob"] for entry in r["top5"]] for r in results]
    assert calls == [8]  # onnx ran (and only for onnx): the 2 videos' 3 clips each, in one forward batch padded to 8
    assert labels["onnx"] == labels["eager"]  # the video's ranking of classes, not only its top-1
    assert np.allclose(probabilities["onnx"], probabilities["eager"], atol=1e-5)


def test_classify_with_k_auto_and_a_ray_mismatch_take_the_backend(media):
    paths, checkpoint = media
    worker = VideoClassifier(ClassifyOptions(weights=checkpoint, k="auto", classifier_backend="onnx"))
    assert worker.classifier.backend == "onnx"
    onnx = Classifier.from_checkpoint(checkpoint, backend="onnx")
    with pytest.raises(UsageError, match="runs on the onnx backend but the config names 'eager'"):
        Pipeline(PipelineConfig(weights=checkpoint, engine="ray"), classifier=onnx)  # before any Ray start


@pytest.mark.parametrize("package, pin", [("onnxruntime", "onnxruntime==1.23.2"), ("onnx", "onnx==1.23.2")])
def test_a_missing_package_is_a_usage_error_with_its_pin(monkeypatch, package, pin):
    monkeypatch.setitem(sys.modules, package, None)  # `import package` now raises ImportError
    with pytest.raises(UsageError, match=rf"--classifier-backend onnx needs the {package} package.*pip install {pin}\."):
        check_classifier_backend("onnx")
    assert check_classifier_backend("eager") == "eager"  # eager needs neither
