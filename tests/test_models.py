"""The model registry: torchvision parity, one contract over every model (classifiers and sampler
networks), weights and checkpoints."""

from __future__ import annotations

import ast
import copy
import inspect
import urllib.error

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import video as tv_video

import scsampler.models.checkpoint
from scsampler.errors import ScsamplerError, UsageError
from scsampler.models import (
    Classifier,
    ClassifierSpec,
    get_model,
    get_model_spec,
    get_weights_info,
    list_models,
    load_classifier,
    preprocess,
    save_checkpoint,
)
from scsampler.models.registry import get_model_entry
from scsampler.models.sampler_nets import AudioSamplerNet, VisualSamplerNet, build_sampler_net

TORCHVISION_MODELS = {"r3d_18": tv_video.r3d_18, "mc3_18": tv_video.mc3_18, "r2plus1d_18": tv_video.r2plus1d_18}


def _small_input(name: str, batch: int = 2) -> torch.Tensor:
    """A small float clip batch: the tiny models at their crop, the _18 and larger ones reduced (4 frames, 32x32)."""
    spec = get_model_spec(name)
    if name in TORCHVISION_MODELS or min(spec.crop_size) >= 112:
        shape = (batch, 3, 4, 32, 32)
    else:
        shape = (batch, 3, 8, *spec.crop_size)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def test_registry_lists_torchvision_and_cpu_models():
    names = list_models()
    assert set(TORCHVISION_MODELS) <= set(names)
    assert any(name.endswith("_tiny") for name in names)
    assert names == sorted(names)


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(UsageError, match=r"unknown classifier 'r4d_18'; choose one of .*r2plus1d_18"):
        get_model("r4d_18")


@pytest.mark.parametrize("weights_format", ["state_dict", "checkpoint"])
def test_r2plus1d_18_from_saved_state_dict_matches_torchvision(tmp_path, weights_format):
    torch.manual_seed(0)
    reference = tv_video.r2plus1d_18(num_classes=7).eval()
    with torch.no_grad():  # non-trivial BN statistics, so that loading them is checked too
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "r2plus1d.pth"
    if weights_format == "state_dict":
        torch.save(reference.state_dict(), path)
    else:
        save_checkpoint(path, model_name="r2plus1d_18", model=reference, classes=[f"c{i}" for i in range(7)])

    model = get_model("r2plus1d_18", weights=path).eval()
    x = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, actual = reference(x), model(x)
    assert actual.shape == (1, 7)
    torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize("name", list_models())
def test_model_contract(name):
    """Every registered model: logits of the right shape, finite, and gradients reach every parameter."""
    torch.manual_seed(0)
    model = get_model(name, num_classes=3).train()
    x = _small_input(name)
    logits = model(x)
    assert logits.shape == (2, 3)
    assert torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([0, 2])).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert no_grad == []
    spec = get_model_spec(name)
    assert spec.name == name and spec.frames_per_clip >= 8 and spec.num_classes == 400


#: A small configuration of each registered sampler network, for the contract below.
SAMPLER_NET_CASES = {
    "sampler-visual": (dict(backbone="tiny", inputs=("iframe", "motion", "residual"), fusion="learned", out_features=3),
                       lambda g: {"iframe": torch.randint(0, 256, (2, 3, 40, 48), dtype=torch.uint8, generator=g),
                                  "motion": torch.randn(2, 2, 7, 9, generator=g) * 3,
                                  "residual": torch.randn(2, 1, 20, 20, generator=g) * 10}),
    "sampler-audio": (dict(layout="tiny", out_features=3), lambda g: torch.randn(2, 1, 40, 200, generator=g)),
}  # fmt: skip


def test_registry_lists_the_sampler_networks_apart_from_the_classifiers():
    assert list_models(task="sampler") == sorted(SAMPLER_NET_CASES) == ["sampler-audio", "sampler-visual"]
    assert not set(list_models(task="sampler")) & set(list_models())
    assert get_model_entry("sampler-visual", task="sampler").builder is VisualSamplerNet
    assert get_model_entry("sampler-audio", task="sampler").builder is AudioSamplerNet
    with pytest.raises(UsageError, match=r"unknown classifier 'sampler-visual'; choose one of .*r2plus1d_18"):
        get_model("sampler-visual")
    with pytest.raises(UsageError, match=r"unknown sampler network 'r3d_18'; choose one of sampler-audio, sampler-visual"):
        get_model_entry("r3d_18", task="sampler")
    with pytest.raises(UsageError, match=r"task must be one of classifier, sampler, got 'detector'"):
        list_models(task="detector")
    with pytest.raises(UsageError, match=r"modality must be 'visual' or 'audio', got 'depth'"):
        build_sampler_net(modality="depth")


@pytest.mark.parametrize("name", list_models(task="sampler"))
def test_sampler_net_contract(name):
    """Every registered sampler network: built through the registry, output of the right shape, finite,
    gradients reach every trainable parameter, and its config rebuilds it (what a checkpoint stores)."""
    config, make_input = SAMPLER_NET_CASES[name]
    torch.manual_seed(0)
    net = get_model_entry(name, task="sampler").builder(**config).train()
    modality = net.config["modality"]
    assert name == f"sampler-{modality}"  # the registry name is the model_name of its checkpoints
    batch = make_input(torch.Generator().manual_seed(1))
    output = net(batch)
    assert output.shape == (2, 3)
    assert torch.isfinite(output).all()
    (output**2).mean().backward()
    no_grad = [n for n, p in net.named_parameters() if p.requires_grad and (p.grad is None or not torch.any(p.grad != 0))]
    assert no_grad == []
    rebuilt = build_sampler_net(**net.config)
    assert type(rebuilt) is type(net)
    rebuilt.load_state_dict(net.state_dict(), strict=True)
    net.eval(), rebuilt.eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(batch), net(batch), rtol=0, atol=0)


def _imported_modules(module) -> set[str]:
    """Every module ``module`` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_checkpoint_does_not_import_the_registry():
    """The arrow points down: the registry reads files through checkpoint.py, never the reverse."""
    assert not {name for name in _imported_modules(scsampler.models.checkpoint) if name.startswith("scsampler.models.")}


@pytest.mark.parametrize("name", sorted(TORCHVISION_MODELS))
def test_kinetics_weights_metadata_matches_the_model(name):
    info = get_weights_info(name, "DEFAULT")
    assert info.name == "KINETICS400_V1"
    assert len(info.categories) == 400 and info.frames_per_clip == 16
    assert info.crop_size == (112, 112) and len(info.mean) == len(info.std) == 3
    assert info.metrics["Kinetics-400"]["acc@1"] > 0 and info.recipe
    # The published parameter count is the one of the model the registry builds.
    assert sum(p.numel() for p in get_model(name).parameters()) == info.num_params


def test_kinetics_weights_without_network_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached copy
    requested = []

    def no_network(request, *args, **kwargs):
        requested.append(getattr(request, "full_url", request))
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    with pytest.raises(ScsamplerError) as raised:
        get_model("r3d_18", weights="KINETICS400_V1")
    message = str(raised.value)
    assert "cannot download the KINETICS400_V1 weights" in message and "no network" in message
    assert "--weights PATH" in message
    assert requested == [tv_video.R3D_18_Weights.KINETICS400_V1.url]  # torchvision's own loading code ran


def test_unknown_weights_name_is_a_usage_error():
    with pytest.raises(UsageError, match=r"no pretrained weights called 'IMAGENET'.*KINETICS400_V1"):
        get_model("r3d_18", weights="IMAGENET")
    with pytest.raises(UsageError, match="has no pretrained weights called 'DEFAULT'"):
        get_model("r3d_tiny", weights="DEFAULT")


def test_num_classes_replaces_the_head_after_loading(tmp_path):
    source = get_model("r3d_tiny", num_classes=5)
    path = tmp_path / "tiny.pth"
    torch.save(source.state_dict(), path)
    model = get_model("r3d_tiny", weights=path, num_classes=2)
    assert model.fc.out_features == 2
    torch.testing.assert_close(model.layer1[0].conv1[0].weight, source.layer1[0].conv1[0].weight)
    with pytest.raises(UsageError, match="num_classes must be a positive integer, got 0"):
        get_model("r3d_tiny", num_classes=0)


def test_weights_that_do_not_fit_name_the_file(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(get_model("r3d_tiny", num_classes=3).state_dict(), path)
    with pytest.raises(ScsamplerError, match=r"other\.pth: these weights do not fit the r2plus1d_tiny classifier \(\d+ missing keys"):
        get_model("r2plus1d_tiny", weights=path)
    with pytest.raises(ScsamplerError, match=r"nothing\.pth: no such weights file"):
        get_model("r3d_tiny", weights=tmp_path / "nothing.pth")


class _NotATensor:
    pass


def test_weights_files_are_loaded_with_weights_only(tmp_path):
    path = tmp_path / "pickle.pth"
    torch.save({"fc.weight": torch.zeros(2, 128), "payload": _NotATensor()}, path)
    with pytest.raises(ScsamplerError, match=r"pickle\.pth: refused: it holds a pickled Python object \(\S*_NotATensor\)") as error:
        get_model("r3d_tiny", weights=path)
    assert "weights_only=False" not in str(error.value)  # never suggest the unsafe loader


def test_checkpoint_rebuilds_the_classifier_from_the_file_alone(tmp_path):
    torch.manual_seed(0)
    model = get_model("mc3_tiny", num_classes=3).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = save_checkpoint(
        tmp_path / "run" / "last.pt",
        model_name="mc3_tiny",
        model=model,
        classes=["jump", "run", "wave"],
        optimizer=optimizer,
        epoch=4,
        metrics={"clip_acc": 0.5},
    )
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left behind
    rebuilt, spec, classes = load_classifier(path)
    assert spec == get_model_spec("mc3_tiny") and classes == ["jump", "run", "wave"]
    x = _small_input("mc3_tiny")
    with torch.inference_mode():
        torch.testing.assert_close(rebuilt(x), model(x))
    assert not rebuilt.training


def test_load_classifier_rejects_a_plain_state_dict(tmp_path):
    path = tmp_path / "plain.pth"
    torch.save(get_model("r3d_tiny", num_classes=2).state_dict(), path)
    with pytest.raises(ScsamplerError, match=r"plain\.pth: not a scsampler checkpoint \(missing model_name"):
        load_classifier(path)


def test_spec_short_side_resize_keeps_the_aspect_ratio():
    spec = ClassifierSpec(name="x", frames_per_clip=8, crop_size=(64, 64), resize_size=(72,))
    assert spec.resized_size(height=480, width=640) == (72, 96)
    assert spec.resized_size(height=640, width=480) == (96, 72)
    assert get_model_spec("r2plus1d_18").resized_size(height=480, width=640) == (128, 171)


def test_preprocess_resizes_crops_and_normalises():
    spec = ClassifierSpec(
        name="x", frames_per_clip=4, crop_size=(8, 6), resize_size=(10, 12), mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0)
    )
    values = torch.tensor([255, 0, 51], dtype=torch.uint8).view(1, 3, 1, 1, 1)
    clips = values.expand(2, 3, 4, 20, 30).contiguous()
    x = preprocess(clips, spec)
    assert x.shape == (2, 3, 4, 8, 6) and x.dtype == torch.float32
    expected = torch.tensor([(1.0 - 0.5) / 0.5, (0.0 - 0.25) / 0.25, 0.2])
    torch.testing.assert_close(x[0, :, 0, 0, 0], expected)
    with pytest.raises(UsageError, match="clips must be uint8"):
        preprocess(clips.float(), spec)


def test_classifier_maps_uint8_clips_to_logits():
    classifier = Classifier(get_model("r3d_tiny", num_classes=2), get_model_spec("r3d_tiny"), ["a", "b"])
    clips = torch.randint(0, 256, (3, 3, 16, 72, 96), dtype=torch.uint8)
    logits = classifier(clips)
    assert logits.shape == (3, 2) and not logits.requires_grad
    with pytest.raises(UsageError, match="got 3 class names for a model with 2 outputs"):
        Classifier(get_model("r3d_tiny", num_classes=2), get_model_spec("r3d_tiny"), ["a", "b", "c"])


@pytest.mark.parametrize("name", ["r2plus1d_tiny", "r3d_tiny"])
def test_classifier_runs_channels_last_on_cpu_with_the_plain_models_logits(name):
    torch.manual_seed(0)
    model = get_model(name, num_classes=5).eval()
    plain = copy.deepcopy(model)
    classifier = Classifier(model, get_model_spec(name), [f"c{i}" for i in range(5)])
    clips = torch.randint(0, 256, (6, 3, 16, 72, 96), dtype=torch.uint8)
    logits = classifier(clips)
    conv = next(p for p in classifier.model.parameters() if p.dim() == 5)
    assert conv.is_contiguous(memory_format=torch.channels_last_3d)  # the faster layout is really used
    with torch.inference_mode():
        expected = plain(preprocess(clips, get_model_spec(name)))
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)
    assert torch.equal(logits.argmax(1), expected.argmax(1))
