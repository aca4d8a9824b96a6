"""Fast sampler scoring (issue 17): each distinct input once, fixed-size batches, the ONNX Runtime backend,
per-input sizes, and ``--sampler-backend`` on the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from scsampler.cli import main
from scsampler.cli._common import SAMPLER_BACKEND_CHOICES
from scsampler.cli.train_sampler import input_size_type
from scsampler.errors import UsageError
from scsampler.models.sampler_backends import (
    ONNX_TOLERANCE,
    SAMPLER_BACKENDS,
    EagerRunner,
    OnnxRunner,
    build_runner,
    net_parts,
    pairwise_max_pool2d,
)
from scsampler.models.sampler_nets import VisualSamplerNet, build_sampler_net
from scsampler.pipeline.stages import load_sampler
from scsampler.samplers.bundle import save_sampler
from scsampler.samplers.composite import CompositeSampler
from scsampler.samplers.learned import LearnedSampler, apply_sampler_backend, distinct_consecutive_rows
from scsampler.samplers.registry import get_sampler
from tests.test_select_cli import write_active_video

CLIPS = 90
GOP_CLIPS = 7  # clips per keyframe: the I-frames repeat in runs of 7, as with a GOP longer than a clip


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SCSAMPLER_CACHE_DIR", str(folder))
    return folder / "onnx"


def visual_inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    keyframes = torch.randint(0, 256, (CLIPS // GOP_CLIPS + 1, 3, 64, 64), dtype=torch.uint8, generator=generator)
    motion = torch.randn(CLIPS, 2, 15, 20, generator=generator).half()
    motion[40:55] = 0  # a still stretch: identical motion grids too
    return {"iframe": keyframes[torch.arange(CLIPS) // GOP_CLIPS], "motion": motion}


def audio_inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    mel = torch.randn(CLIPS, 1, 40, 200, generator=torch.Generator().manual_seed(seed))
    mel[10:20] = -5.0  # silence: identical log-MELs
    return {"audio": mel}


def random_net(config: dict, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_sampler_net(**config)
    with torch.no_grad():  # non-trivial batch-norm statistics, so that eval mode is not the identity
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return net.eval()


VISUAL = dict(modality="visual", backbone="tiny", inputs=("iframe", "motion"), input_sizes={"motion": 16})
AUDIO = dict(modality="audio", layout="tiny")


def top_k_agree(reference: np.ndarray, other: np.ndarray, *, k: int, tolerance: float) -> bool:
    """The same top-K clips, up to clips tied with the K-th within ``tolerance`` (of the scores' scale)."""
    order = np.argsort(-reference, kind="stable")
    kth = reference[order[k - 1]]
    scale = np.abs(reference).max()
    sure = {int(i) for i in order[:k] if reference[i] - kth > tolerance * scale}  # clearly inside the top-K
    possible = {int(i) for i in np.flatnonzero(reference >= kth - tolerance * scale)}  # inside or tied at the edge
    chosen = {int(i) for i in np.argsort(-other, kind="stable")[:k]}
    return sure <= chosen <= possible


# --------------------------------------------------------------------------- each distinct input once


def test_distinct_consecutive_rows_merges_only_runs_of_equal_neighbours() -> None:
    rows = torch.tensor([[1, 2], [1, 2], [3, 4], [1, 2], [1, 2], [1, 2]], dtype=torch.uint8)
    distinct, inverse = distinct_consecutive_rows(rows)
    assert distinct.tolist() == [[1, 2], [3, 4], [1, 2]]  # a row equal to a non-neighbour stays (one pass, no hashing)
    assert inverse.tolist() == [0, 0, 1, 2, 2, 2]
    assert torch.equal(distinct[inverse], rows)
    all_different = torch.arange(6.0).view(3, 2)
    assert distinct_consecutive_rows(all_different)[1] is None
    signed = torch.tensor([[0.0], [-0.0]])  # equal as numbers, not as bits: kept apart
    assert len(distinct_consecutive_rows(signed)[0]) == 2
    # runs that straddle the chunks neighbours are compared in (an hour of clips is thousands of rows)
    keys = torch.repeat_interleave(torch.arange(300), torch.tensor([1, 4, 2] * 100))  # 700 rows
    long_rows = torch.stack([keys % 7, keys], dim=1).to(torch.int16)
    distinct, inverse = distinct_consecutive_rows(long_rows)
    assert len(distinct) == 300 and torch.equal(distinct[inverse], long_rows)


@pytest.mark.parametrize("config, make_inputs", [(VISUAL, visual_inputs), (AUDIO, audio_inputs)], ids=["visual", "audio"])
def test_scoring_each_distinct_input_once_gives_the_same_bits(config, make_inputs) -> None:
    net = random_net(config)
    inputs = make_inputs()
    once = LearnedSampler(net, loss="sal-rank", batch_size=16).score_inputs(inputs)
    every = LearnedSampler(net, loss="sal-rank", batch_size=16, dedup=False).score_inputs(inputs)
    assert np.array_equal(once, every)
    with torch.inference_mode():  # and what the whole network gives, clip by clip
        direct = net(inputs["audio"] if "audio" in inputs else inputs).squeeze(1).double().numpy()
    np.testing.assert_allclose(once, direct, rtol=0, atol=1e-5 * np.abs(direct).max())
    assert len(np.unique(once)) < CLIPS  # the repeated inputs did repeat scores


def test_a_clip_scores_the_same_whatever_is_scored_with_it() -> None:
    net = random_net(VISUAL)
    inputs = visual_inputs()
    sampler = LearnedSampler(net, loss="sal-rank", batch_size=16)
    whole = sampler.score_inputs(inputs)
    for positions in ([5], [3, 4, 30], list(range(0, CLIPS, 3))):  # one clip, a few, a stride of 3
        part = sampler.score_inputs({name: tensor[positions] for name, tensor in inputs.items()})
        assert np.array_equal(part, whole[positions])


# --------------------------------------------------------------------------- the ONNX Runtime backend


@pytest.mark.parametrize("config, make_inputs", [(VISUAL, visual_inputs), (AUDIO, audio_inputs)], ids=["visual", "audio"])
def test_onnx_scores_match_eager_within_tolerance_and_keep_the_top_k(config, make_inputs) -> None:
    for seed in range(3):
        net = random_net(config, seed=seed)
        inputs = make_inputs(seed)
        eager = LearnedSampler(net, loss="sal-rank").score_inputs(inputs)
        onnx = LearnedSampler(net, loss="sal-rank", backend="onnx").score_inputs(inputs)
        scale = np.abs(eager).max()
        assert np.abs(onnx - eager).max() <= ONNX_TOLERANCE * scale
        for k in (1, 5, 10):
            assert top_k_agree(eager, onnx, k=k, tolerance=ONNX_TOLERANCE)


def test_top_k_agreement_fails_when_the_ranking_changes() -> None:
    reference = np.linspace(0.0, 1.0, 20)
    swapped = reference.copy()
    swapped[[9, 10]] = swapped[[10, 9]] + [0.5, -0.5]  # clip 9 jumps into the top 10 and clip 10 falls out
    assert top_k_agree(reference, reference + 1e-9, k=10, tolerance=1e-6)
    assert not top_k_agree(reference, swapped, k=10, tolerance=1e-6)


def test_onnx_handles_the_vggish_pool_and_a_frozen_layer() -> None:
    # the layout whose pool4 (12 x 2 -> 6 x 4) the exporter refuses as it is; frozen: the forward under no_grad
    net = random_net(dict(modality="audio", layout="tiny", frozen_at="fc1"))
    inputs = audio_inputs()
    eager = LearnedSampler(net, loss="sal-rank").score_inputs(inputs)
    onnx = LearnedSampler(net, loss="sal-rank", backend="onnx").score_inputs(inputs)
    assert np.abs(onnx - eager).max() <= ONNX_TOLERANCE * np.abs(eager).max()


def test_exports_are_cached_by_weights_and_reused(onnx_cache: Path) -> None:
    net = random_net(VISUAL)
    OnnxRunner(net)
    files = sorted(onnx_cache.glob("*.onnx"))
    assert len(files) == 2  # one per visual input
    stamps = [path.stat().st_mtime_ns for path in files]
    OnnxRunner(net)  # the same weights: the cached files, not rewritten
    assert [path.stat().st_mtime_ns for path in sorted(onnx_cache.glob("*.onnx"))] == stamps
    with torch.no_grad():
        net.branches["motion"].head.bias.add_(1.0)  # changed weights of one branch: one new file
    runner = OnnxRunner(net)
    assert len(list(onnx_cache.glob("*.onnx"))) == 3
    assert not list(onnx_cache.glob(".*"))  # no temporary file left behind
    x = net.branches["motion"].prepare(visual_inputs()["motion"][:4])
    with torch.inference_mode():
        np.testing.assert_allclose(runner.run("motion", x), net.branches["motion"].score_prepared(x), atol=1e-5)


def test_backend_choice_and_errors() -> None:
    assert SAMPLER_BACKEND_CHOICES == SAMPLER_BACKENDS  # the CLI's torch-free copy
    net = random_net(AUDIO)
    assert isinstance(build_runner(net), EagerRunner)
    with pytest.raises(UsageError, match=r"unknown sampler backend 'tensorrt'; choose one of eager, onnx"):
        LearnedSampler(net, loss="sal-rank", backend="tensorrt")
    with pytest.raises(UsageError, match="batch_size must be >= 1"):
        LearnedSampler(net, loss="sal-rank", batch_size=0)


def test_backend_reaches_the_learned_parts_of_a_composite() -> None:
    visual = LearnedSampler(random_net(VISUAL), loss="sal-rank")
    audio = LearnedSampler(random_net(AUDIO), loss="sal-rank")
    assert apply_sampler_backend(CompositeSampler(visual, audio, k=5), "onnx") == 2
    assert visual.backend == audio.backend == "onnx"
    assert apply_sampler_backend(get_sampler("motion"), "onnx") == 0  # no network: left as it is


# --------------------------------------------------------------------------- per-input sizes


def test_per_input_sizes_set_each_branch_and_survive_the_config() -> None:
    net = VisualSamplerNet(backbone="tiny", inputs=("iframe", "motion"), input_size=32, input_sizes={"motion": 16})
    assert (net.branches["iframe"].input_size, net.branches["motion"].input_size) == (32, 16)
    assert build_sampler_net(**net.config).branches["motion"].input_size == 16
    assert "input_sizes" not in VisualSamplerNet(backbone="tiny").config  # older configs stay as they were
    with pytest.raises(UsageError, match="input sizes are given for residual"):
        VisualSamplerNet(backbone="tiny", inputs=("iframe",), input_sizes={"residual": 16})


def test_input_size_option_parses_per_input_sizes() -> None:
    assert input_size_type("64") == (64, {})
    assert input_size_type("64,motion=16") == (64, {"motion": 16})
    assert input_size_type("motion=16") == (None, {"motion": 16})
    with pytest.raises(argparse.ArgumentTypeError, match="unknown visual input 'motoin'"):
        input_size_type("64,motoin=16")
    with pytest.raises(argparse.ArgumentTypeError, match="at least 8 pixels"):
        input_size_type("4")


# --------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def learned_bundle(tmp_path_factory) -> Path:
    net = random_net(dict(modality="visual", backbone="tiny", inputs=("iframe", "motion")))
    checkpoint = {"model_name": "sampler-visual", "model_args": dict(net.config), "classes": ["a", "b"],
                  "state_dict": net.state_dict(), "sampler": {"loss": "sal-rank"}}  # fmt: skip
    folder = tmp_path_factory.mktemp("bundle")
    return save_sampler(LearnedSampler(net, loss="sal-rank", checkpoint=checkpoint), folder / "sampler")


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_active_video(tmp_path_factory.mktemp("backends") / "active.mp4")


def test_select_gives_the_same_clips_with_either_backend(capsys, video: Path, learned_bundle: Path) -> None:
    chosen = {}
    for backend in ("eager", "onnx"):
        status = main(["select", str(video), "--sampler", str(learned_bundle), "--k", "3", "--sampler-backend", backend, "--json", "--quiet"])
        assert status == 0
        (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.strip()]
        chosen[backend] = line
    assert [c["index"] for c in chosen["onnx"]["clips"]] == [c["index"] for c in chosen["eager"]["clips"]]
    eager = np.array([c["score"] for c in chosen["eager"]["clips"]])
    onnx = np.array([c["score"] for c in chosen["onnx"]["clips"]])
    assert np.abs(onnx - eager).max() <= ONNX_TOLERANCE * np.abs(eager).max()


def test_pipeline_loads_a_sampler_with_its_backend(learned_bundle: Path) -> None:
    assert load_sampler(str(learned_bundle), backend="onnx").backend == "onnx"
    with pytest.raises(UsageError, match="unknown sampler backend 'fast'"):
        load_sampler("uniform", backend="fast")


@pytest.mark.parametrize("command", [
    ["select", "x.mp4", "--sampler", "motion"],
    ["classify", "x.mp4", "--sampler", "motion"],
    ["evaluate", "m.csv", "--classifier", "r3d_tiny", "--samplers", "motion", "-o", "out"],
], ids=["select", "classify", "evaluate"])  # fmt: skip
def test_a_bad_backend_is_a_usage_error_naming_the_choices(capsys, tmp_path, monkeypatch, command) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main([*command, "--sampler-backend", "tensorrt"])
    assert stop.value.code == 2
    assert "argument --sampler-backend: invalid choice: 'tensorrt' (choose from 'eager', 'onnx')" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- eager on the CPU: channels-last


@pytest.mark.parametrize(
    "config, make_inputs",
    [(VISUAL, visual_inputs), (AUDIO, audio_inputs), (dict(modality="audio", layout="vggish"), audio_inputs)],
    ids=["visual", "audio", "vggish"],
)
def test_eager_runs_channels_last_and_matches_the_contiguous_network(config, make_inputs) -> None:
    import copy

    net = random_net(config)
    contiguous = copy.deepcopy(net)
    inputs = make_inputs()
    if "vggish" in config.values():
        inputs = {"audio": inputs["audio"][:24]}  # VGGish's cost: a few batches' worth
    scores = LearnedSampler(net, loss="sal-rank", batch_size=16).score_inputs(inputs)
    convolutions = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convolutions)
    assert any(not w.is_contiguous() for w in convolutions)  # (a one-channel weight is both layouts at once)
    with torch.inference_mode():
        direct = contiguous(inputs["audio"] if "audio" in inputs else inputs).squeeze(1).double().numpy()
    scale = np.abs(direct).max()
    np.testing.assert_allclose(scores, direct, rtol=0, atol=1e-5 * scale)
    for k in (1, 5, 10):
        assert top_k_agree(direct, scores, k=k, tolerance=1e-5)


def test_eager_runner_layout_can_be_forced() -> None:
    net = random_net(VISUAL)
    EagerRunner(net, channels_last=False)
    convolutions = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous() for w in convolutions)
    runner = EagerRunner(net, channels_last=True)
    assert runner.channels_last and any(not w.is_contiguous() for w in convolutions)


# --------------------------------------------------------------------------- eager: batch norm folded


@pytest.mark.parametrize("config", [VISUAL, AUDIO], ids=["visual", "audio"])
def test_eager_folds_batch_norm_into_a_copy_and_leaves_the_network_as_it_was(config) -> None:
    net = random_net(config)
    before = {key: value.clone() for key, value in net.state_dict().items()}
    runner = EagerRunner(net)
    assert all(runner.folded.values())
    for part in runner.parts.values():
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in part.modules())
    after = net.state_dict()  # what a bundle saves: the network's own weights and its batch norms
    assert after.keys() == before.keys() and all(torch.equal(after[key], before[key]) for key in before)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    unfolded = EagerRunner(random_net(config), fold_batch_norm=False)
    assert not any(unfolded.folded.values())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for part in unfolded.parts.values() for m in part.modules())


def test_a_network_in_training_mode_is_not_folded() -> None:
    runner = EagerRunner(random_net(AUDIO).train())
    assert runner.folded == {"audio": False}
    assert runner.pair_pools == {"audio": 0}  # nor its pools rewritten: their gradients stay max_pool2d's


# --------------------------------------------------------------------------- eager: 2x2 max pools as two maxima


@pytest.mark.parametrize("shape", [(3, 8, 200, 40), (2, 32, 25, 5), (1, 4, 7, 9)], ids=["even", "odd-width", "odd-both"])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["contiguous", "channels-last"])
def test_pairwise_max_pool_gives_max_pool2d_values(shape, layout) -> None:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).contiguous(memory_format=layout)
    x[0, 0, 0, 1] = float("nan")  # a NaN wins its window in both
    expected, got = torch.nn.functional.max_pool2d(x, 2, 2), pairwise_max_pool2d(x)
    assert got.shape == expected.shape
    assert torch.equal(torch.isnan(got), torch.isnan(expected)) and bool(torch.isnan(got).any())
    assert torch.equal(got.nan_to_num(0.0), expected.nan_to_num(0.0))
    assert got.is_contiguous(memory_format=layout)  # the layout the next convolution expects


def test_eager_runs_the_audio_nets_pools_pairwise_with_the_networks_own_bits() -> None:
    net = random_net(AUDIO)
    runner = EagerRunner(net, fold_batch_norm=False)  # traced for the pools alone: the arithmetic is the network's
    assert runner.pair_pools == {"audio": 4} and runner.folded == {"audio": False}
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.modules()) == 4  # the network keeps its own pools
    x = (audio_inputs()["audio"][:16].transpose(2, 3)).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        own = net_parts(net)["audio"](x)
        assert torch.equal(runner.run("audio", x), own)
    assert EagerRunner(random_net(AUDIO)).pair_pools == {"audio": 4}  # folded, and its pools rewritten too
    assert EagerRunner(random_net(VISUAL)).pair_pools == {"iframe": 0, "motion": 0}  # no 2x2 pools there


@pytest.mark.parametrize("config, make_inputs", [(VISUAL, visual_inputs), (AUDIO, audio_inputs)], ids=["visual", "audio"])
def test_folded_scores_match_the_unfolded_network_and_keep_the_top_k(config, make_inputs) -> None:
    inputs = make_inputs()
    folded = LearnedSampler(random_net(config), loss="sal-rank", batch_size=16)
    assert all(folded._runner.folded.values())
    reference = LearnedSampler(random_net(config), loss="sal-rank", batch_size=16)
    reference._runner = EagerRunner(reference.net, fold_batch_norm=False)
    expected, got = reference.score_inputs(inputs), folded.score_inputs(inputs)
    scale = np.abs(expected).max()
    assert not np.array_equal(expected, got)  # folding really changed the arithmetic, within rounding
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * scale)
    for k in (1, 5, 10):
        assert top_k_agree(expected, got, k=k, tolerance=1e-5)
