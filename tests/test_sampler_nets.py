"""Contract test over the sampler networks: shape, no NaN, gradients reach every trainable parameter."""

from __future__ import annotations

import pytest
import torch
import torchvision

from scsampler.errors import UsageError
from scsampler.models.sampler_nets import (
    FROZEN_LAYERS,
    AudioSamplerNet,
    VisualSamplerNet,
    build_sampler_net,
    parameter_groups,
)

BATCH = 2


def _visual_inputs(inputs, *, generator) -> dict[str, torch.Tensor]:
    # Deliberately different spatial sizes: the net resizes every input itself.
    make = {
        "iframe": lambda: torch.randint(0, 256, (BATCH, 3, 112, 112), dtype=torch.uint8, generator=generator),
        "motion": lambda: (torch.randn(BATCH, 2, 7, 9, generator=generator) * 3).half(),
        "residual": lambda: (torch.randn(BATCH, 1, 28, 28, generator=generator) * 10).half(),
    }
    return {name: make[name]() for name in inputs}


VISUAL_CASES = [
    dict(backbone="tiny", inputs=("iframe",), out_features=1),
    dict(backbone="tiny", inputs=("motion",), out_features=4),
    dict(backbone="tiny", inputs=("iframe", "motion", "residual"), out_features=3, fusion="learned"),
    dict(backbone="resnet18", inputs=("iframe", "motion"), out_features=1),
    dict(backbone="shufflenet", inputs=("motion", "residual"), out_features=5),
    dict(backbone="shufflenet_v2_x0_5", inputs=("iframe",), out_features=1, fusion="learned"),
    dict(backbone="shufflenet_v1", inputs=("iframe", "motion", "residual"), out_features=2, input_size=64),
]
AUDIO_CASES = [
    dict(layout="tiny", out_features=1),
    dict(layout="tiny", out_features=6),
    dict(layout="vggish", out_features=1),
] + [dict(layout="tiny", out_features=2, frozen_at=layer) for layer in FROZEN_LAYERS]


def _check_contract(net: torch.nn.Module, batch, out_features: int) -> None:
    net.train()
    output = net(batch)
    assert output.shape == (BATCH, out_features)
    assert torch.isfinite(output).all()
    (output.float() ** 2).mean().backward()
    trainable = [(name, p) for name, p in net.named_parameters() if p.requires_grad]
    assert trainable
    for name, parameter in trainable:
        assert parameter.grad is not None, f"no gradient reaches {name}"
        assert torch.isfinite(parameter.grad).all(), name
    # Rebuilding from the stored config gives the same architecture, so a checkpoint rebuilds alone.
    rebuilt = build_sampler_net(**net.config)
    rebuilt.load_state_dict(net.state_dict(), strict=True)


@pytest.mark.parametrize("case", VISUAL_CASES, ids=lambda c: f"{c['backbone']}-{'+'.join(c['inputs'])}")
def test_visual_sampler_contract(case):
    torch.manual_seed(0)
    net = VisualSamplerNet(**case)
    _check_contract(net, _visual_inputs(case["inputs"], generator=torch.Generator().manual_seed(1)), case["out_features"])


@pytest.mark.parametrize("case", AUDIO_CASES, ids=lambda c: f"{c['layout']}-{c.get('frozen_at')}-{c['out_features']}")
def test_audio_sampler_contract(case):
    torch.manual_seed(0)
    net = AudioSamplerNet(**case)
    mel = torch.randn(BATCH, 1, 40, 200)
    _check_contract(net, mel, case["out_features"])
    if case.get("frozen_at"):
        # The frozen variant trains its FC layer only, and its backbone stays in eval mode.
        trainable = {name for name, p in net.named_parameters() if p.requires_grad}
        assert trainable == {"head.weight", "head.bias"}
        assert not net.features.training and net.training


def test_audio_sampler_takes_three_dimensional_mel_and_rejects_wrong_shapes():
    net = AudioSamplerNet(layout="tiny").eval()
    mel = torch.randn(3, 40, 200)
    assert torch.allclose(net(mel), net(mel[:, None]))
    with pytest.raises(ValueError, match=r"expected log-MEL"):
        net(torch.randn(3, 2, 40, 200))


def test_vggish_layout_matches_torchvggish_keys_and_shapes():
    shapes = {k: tuple(v.shape) for k, v in AudioSamplerNet(layout="vggish").state_dict().items()}
    expected = {
        "features.0.weight": (64, 1, 3, 3),
        "features.3.weight": (128, 64, 3, 3),
        "features.6.weight": (256, 128, 3, 3),
        "features.8.weight": (256, 256, 3, 3),
        "features.11.weight": (512, 256, 3, 3),
        "features.13.weight": (512, 512, 3, 3),
        "embeddings.0.weight": (4096, 512 * 6 * 4),
        "embeddings.2.weight": (4096, 4096),
        "embeddings.4.weight": (128, 4096),
    }
    for key, shape in expected.items():
        assert shapes[key] == shape, key


def test_vggish_weights_load_from_a_local_file(tmp_path):
    source = AudioSamplerNet(layout="tiny")
    state = {k: v for k, v in source.state_dict().items() if k.startswith(("features.", "embeddings."))}
    state["pproc._pca_matrix"] = torch.zeros(2, 2)  # torchvggish extras are ignored
    path = tmp_path / "vggish.pth"
    torch.save(state, path)
    target = AudioSamplerNet(layout="tiny")
    target.load_vggish(path)
    assert target.pretrained_loaded
    for key, value in source.features.state_dict().items():
        assert torch.equal(target.features.state_dict()[key], value), key
    groups = parameter_groups(target, lr=0.01, pretrained_lr_scale=0.05)
    assert [g["lr"] for g in groups] == [0.01, pytest.approx(0.0005)]
    assert sum(len(g["params"]) for g in groups) == len(list(target.parameters()))


def test_imagenet_weights_load_from_a_local_file_with_adapted_stems(tmp_path):
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-local.pth"
    torch.save(reference.state_dict(), path)
    net = VisualSamplerNet(backbone="resnet18", inputs=("iframe", "motion", "residual"), pretrained=path)
    rgb = reference.conv1.weight
    assert torch.equal(net.branches["iframe"].backbone.conv1.weight, rgb)
    assert torch.allclose(net.branches["motion"].backbone.conv1.weight, rgb.mean(1, keepdim=True).repeat(1, 2, 1, 1))
    assert torch.allclose(net.branches["residual"].backbone.conv1.weight, rgb.mean(1, keepdim=True))
    assert torch.equal(net.branches["motion"].backbone.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    groups = parameter_groups(net, lr=1e-3, pretrained_lr_scale=0.01)
    assert [g["name"] for g in groups] == ["new", "pretrained"]
    assert groups[1]["lr"] == pytest.approx(1e-5)
    assert all(p is not None for g in groups for p in g["params"])


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="unknown visual backbone 'vgg'"):
        VisualSamplerNet(backbone="vgg")
    with pytest.raises(UsageError, match="visual inputs must be distinct names"):
        VisualSamplerNet(backbone="tiny", inputs=("iframe", "depth"))
    with pytest.raises(UsageError, match="frozen_at must be one of conv4_2, pool4, fc1"):
        AudioSamplerNet(layout="tiny", frozen_at="conv5")
    with pytest.raises(UsageError, match="modality must be 'visual' or 'audio'"):
        build_sampler_net(modality="depth")
    with pytest.raises(ValueError, match="needs inputs motion"):
        VisualSamplerNet(backbone="tiny", inputs=("iframe", "motion"))({"iframe": torch.zeros(1, 3, 8, 8)})
