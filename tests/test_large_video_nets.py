"""ir-CSN-152/101 and R(2+1)D-50: their architecture, and weights in the VMZ and PyTorchVideo layouts.

The large models run on tiny clips here (4-8 frames of 32-64 pixels): the weights and the
layer shapes are those of the real models, only the activations are small.
"""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn
from torchvision.models.video.resnet import Bottleneck, VideoResNet

from scsampler.errors import ScsamplerError
from scsampler.models import get_model, get_model_entry, get_model_spec, get_weights_info
from scsampler.models.large_video_nets import PYTORCHVIDEO_LAYOUT

LARGE = ("ir_csn_101", "ir_csn_152", "r2plus1d_50")


def _clip(frames: int = 4, size: int = 32, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))


def _randomise_batch_norm(model: nn.Module) -> nn.Module:
    """Non-trivial BN statistics and affine terms, so that loading them is checked too."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm3d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    return model.eval()


# --------------------------------------------------------------------------- the VMZ release


class _VmzDepthwise(nn.Conv3d):
    """VMZ's ``Conv3DDepthwise`` conv maker (pt/vmz/models/utils.py), for torchvision's ``VideoResNet``."""

    def __init__(self, in_planes, out_planes, midplanes=None, stride=1, padding=1):
        super().__init__(in_planes, out_planes, kernel_size=3, stride=stride, padding=padding, groups=in_planes, bias=False)

    @staticmethod
    def get_downsample_stride(stride):
        return (stride, stride, stride)


def _vmz_stem() -> nn.Module:  # VMZ's BasicStem_Pool
    return nn.Sequential(
        nn.Conv3d(3, 64, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
    )


def _vmz_ir_csn_152(num_classes: int) -> nn.Module:
    """ir-CSN-152 as VMZ builds it: torchvision's VideoResNet, Bottleneck blocks, BN eps 1e-3."""
    model = VideoResNet(block=Bottleneck, conv_makers=[_VmzDepthwise] * 4, layers=[3, 8, 36, 3], stem=_vmz_stem, num_classes=num_classes)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.eps = 1e-3
    return model


def test_a_vmz_ir_csn_152_file_loads_key_for_key_with_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    vmz = _randomise_batch_norm(_vmz_ir_csn_152(num_classes=5))
    path = tmp_path / "irCSN_152_ft_kinetics_from_Sports1M_f101599884.pth"
    torch.save(vmz.state_dict(), path)
    model = get_model("ir_csn_152", weights=path).eval()
    assert list(model.state_dict()) == list(vmz.state_dict())  # the same names, in the same order
    x = _clip()
    with torch.inference_mode():
        torch.testing.assert_close(model(x), vmz(x))
    middle = [m for name, m in model.named_modules() if name.endswith("conv2.0")]
    assert len(middle) == 3 + 8 + 36 + 3
    assert all(m.groups == m.in_channels == m.out_channels and m.kernel_size == (3, 3, 3) for m in middle)


def test_a_vmz_file_with_a_wrong_shape_names_the_file_and_the_key(tmp_path):
    state = _vmz_ir_csn_152(num_classes=5).state_dict()
    state["layer3.7.conv2.0.weight"] = torch.zeros(256, 2, 3, 3, 3)  # a grouped, not depthwise, conv
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(ScsamplerError, match=r"broken\.pth: these weights do not fit the ir_csn_152 classifier \(1 wrong shape keys: layer3\.7\.conv2\.0\.weight\)"):
        get_model("ir_csn_152", weights=path)


# --------------------------------------------------------------------------- PyTorchVideo's hub layout

# Written from PyTorchVideo's create_csn / create_r2plus1d (Net.blocks, ResStage.res_blocks, ResBlock
# branch1_*/branch2, BottleneckBlock conv_a..norm_c, Conv2plus1d conv_t/norm/conv_xy, head proj).
_PTV_PART = {
    "downsample.0": "branch1_conv", "downsample.1": "branch1_norm",
    "conv1.0": "branch2.conv_a", "conv1.1": "branch2.norm_a",
    "conv2.0": "branch2.conv_b", "conv2.1": "branch2.norm_b",
    "conv3.0": "branch2.conv_c", "conv3.1": "branch2.norm_c",
}  # fmt: skip


def _pytorchvideo_name(key: str) -> str:
    first, _, rest = key.partition(".")
    if first == "stem":
        index, _, rest = rest.partition(".")
        return f"blocks.0.{ {'0': 'conv', '1': 'norm'}[index] }.{rest}"
    if first == "fc":
        return f"blocks.5.proj.{rest}"
    block, part, index, rest = rest.split(".", 3)
    return f"blocks.{first.removeprefix('layer')}.res_blocks.{block}.{_PTV_PART[f'{part}.{index}']}.{rest}"


def _pytorchvideo_file(tmp_path, name: str, *, num_classes: int = 6):
    torch.manual_seed(0)
    source = _randomise_batch_norm(get_model(name, num_classes=num_classes))
    renamed = {_pytorchvideo_name(key): value for key, value in source.state_dict().items()}
    return source, renamed


# Keys and shapes that PyTorchVideo's builders give (R101/R152 CSN, R50 R(2+1)D; 6 classes).
_PTV_FACTS = {
    "ir_csn_101": {
        "blocks.0.conv.weight": (64, 3, 3, 7, 7),
        "blocks.1.res_blocks.0.branch1_conv.weight": (256, 64, 1, 1, 1),
        "blocks.2.res_blocks.0.branch2.conv_b.weight": (128, 1, 3, 3, 3),
        "blocks.3.res_blocks.22.branch2.norm_c.running_var": (1024,),
        "blocks.5.proj.weight": (6, 2048),
    },
    "ir_csn_152": {
        "blocks.2.res_blocks.7.branch2.conv_a.weight": (128, 512, 1, 1, 1),
        "blocks.3.res_blocks.35.branch2.conv_b.weight": (256, 1, 3, 3, 3),
        "blocks.4.res_blocks.0.branch1_norm.weight": (2048,),
    },
    "r2plus1d_50": {
        "blocks.0.conv.weight": (64, 3, 1, 7, 7),
        "blocks.1.res_blocks.0.branch2.conv_b.conv_t.weight": (64, 64, 3, 1, 1),
        "blocks.1.res_blocks.0.branch2.conv_b.norm.running_mean": (64,),
        "blocks.1.res_blocks.0.branch2.conv_b.conv_xy.weight": (64, 64, 1, 3, 3),
        "blocks.4.res_blocks.2.branch2.conv_c.weight": (2048, 512, 1, 1, 1),
        "blocks.5.proj.bias": (6,),
    },
}
_PTV_ABSENT = {"ir_csn_101": "blocks.3.res_blocks.23.", "ir_csn_152": "blocks.3.res_blocks.36.", "r2plus1d_50": "blocks.3.res_blocks.6."}


@pytest.mark.parametrize("name", LARGE)
def test_a_pytorchvideo_file_loads_strictly_with_the_same_outputs(tmp_path, name):
    source, renamed = _pytorchvideo_file(tmp_path, name)
    for key, shape in _PTV_FACTS[name].items():
        assert tuple(renamed[key].shape) == shape, key
    assert not any(key.startswith(_PTV_ABSENT[name]) for key in renamed)
    path = tmp_path / "CHECKPOINT.pyth"
    torch.save({"model_state": renamed, "epoch": 196, "cfg": "TRAIN:\n  ENABLE: true\n"}, path)  # PyTorchVideo's wrapper
    model = get_model(name, weights=path).eval()
    x = _clip()
    with torch.inference_mode():
        torch.testing.assert_close(model(x), source(x))
    # A plain state dict in that layout, and a fine-tuning head, work too.
    torch.save(renamed, tmp_path / "plain.pth")
    assert get_model(name, weights=tmp_path / "plain.pth", num_classes=2).fc.out_features == 2


def test_a_pytorchvideo_file_with_a_wrong_key_or_shape_names_the_file_and_the_key(tmp_path):
    _, renamed = _pytorchvideo_file(tmp_path, "ir_csn_101")
    wrong_key = dict(renamed)
    wrong_key["blocks.2.res_blocks.0.branch2.conv_q.weight"] = wrong_key.pop("blocks.2.res_blocks.0.branch2.conv_b.weight")
    torch.save({"model_state": wrong_key}, tmp_path / "renamed.pyth")
    with pytest.raises(ScsamplerError) as error:
        get_model("ir_csn_101", weights=tmp_path / "renamed.pyth")
    assert str(error.value) == (
        f"{tmp_path / 'renamed.pyth'}: does not fit the ir_csn_101 classifier in the PyTorchVideo layout ("
        "1 missing key: blocks.2.res_blocks.0.branch2.conv_b.weight (ours: layer2.0.conv2.0.weight); "
        "1 unexpected key: blocks.2.res_blocks.0.branch2.conv_q.weight)."
    )
    wrong_shape = dict(renamed)
    wrong_shape["blocks.4.res_blocks.1.branch2.norm_b.running_var"] = torch.ones(511)
    torch.save({"model_state": wrong_shape}, tmp_path / "shape.pyth")
    with pytest.raises(ScsamplerError, match=r"shape\.pyth: does not fit the ir_csn_101 classifier in the PyTorchVideo layout "
                       r"\(1 wrong shape key: blocks\.4\.res_blocks\.1\.branch2\.norm_b\.running_var is \(511\) in the file, "
                       r"\(512\) in the model\)"):  # fmt: skip
        get_model("ir_csn_101", weights=tmp_path / "shape.pyth")
    # A file in neither layout says what head it looked for.
    torch.save({"proj.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(ScsamplerError, match=r"other\.pth: not weights of a r2plus1d_50 classifier \(no 'fc\.weight' or 'blocks\.5\.proj\.weight' \(PyTorchVideo layout\)"):
        get_model("r2plus1d_50", weights=tmp_path / "other.pth")


def test_every_large_model_accepts_the_pytorchvideo_layout():
    for name in LARGE:
        assert PYTORCHVIDEO_LAYOUT in get_model_entry(name).layouts


# --------------------------------------------------------------------------- architecture and metadata


@pytest.mark.parametrize(("name", "layer4"), [("ir_csn_152", (1, 2, 2)), ("r2plus1d_50", (2, 2, 2))])
def test_strides_give_the_published_heads_pooling_grid(name, layer4):
    """8x64x64 -> layer4 of (T/8, H/32) for ir-CSN, (T/4, H/32) for R(2+1)D-50: at 32x224 and 16x224,
    the 4x7x7 map that PyTorchVideo's heads pool over."""
    model = get_model(name, num_classes=3).eval()
    shapes = {}
    model.layer4.register_forward_hook(lambda module, inputs, output: shapes.update(layer4=tuple(output.shape)))  # returns None
    with torch.inference_mode():
        model(_clip(frames=8, size=64, batch=1))
    assert shapes["layer4"] == (1, 2048, *layer4)


def test_r2plus1d_50_factorises_every_middle_convolution_temporal_first():
    model = get_model("r2plus1d_50", num_classes=3)
    middles = [block.conv2[0] for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for block in layer]
    assert len(middles) == 3 + 4 + 6 + 3
    for middle in middles:
        assert middle.conv_t.kernel_size == (3, 1, 1) and middle.conv_xy.kernel_size == (1, 3, 3)
        assert middle.conv_t.in_channels == middle.conv_t.out_channels == middle.conv_xy.out_channels
    assert model.layer1[0].conv2[0].conv_xy.stride == (1, 2, 2) and model.layer3[0].conv2[0].conv_t.stride == (2, 1, 1)


@pytest.mark.parametrize("name", LARGE)
def test_weights_metadata_matches_the_model(name):
    spec = get_model_spec(name)
    entry = get_model_entry(name)
    assert entry.weights and spec.crop_size == (224, 224)
    assert spec.frames_per_clip == (16 if name == "r2plus1d_50" else 32)
    for key, info in entry.weights.items():
        assert info.name == key and info.url.startswith("https://") and info.recipe
        assert (info.frames_per_clip, info.crop_size, info.mean) == (spec.frames_per_clip, spec.crop_size, spec.mean)
        assert len(info.categories) in (400, 487)
        if len(info.categories) == 400:
            assert 70 < info.metrics["Kinetics-400"]["acc@1"] < info.metrics["Kinetics-400"]["acc@5"]
        assert sum(p.numel() for p in get_model(name, num_classes=len(info.categories)).parameters()) == info.num_params
    assert get_weights_info(name, "DEFAULT") is next(iter(entry.weights.values()))


@pytest.mark.parametrize(
    ("name", "weights"),
    [("ir_csn_152", "VMZ_SPORTS1M_FT_KINETICS400"), ("ir_csn_152", "vmz_sports1m"), ("ir_csn_101", "DEFAULT"), ("r2plus1d_50", "PTV_KINETICS400_16X4")],
)
def test_published_weights_without_network_give_the_same_clear_error(tmp_path, monkeypatch, name, weights):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached copy
    requested = []

    def no_network(request, *args, **kwargs):
        requested.append(getattr(request, "full_url", request))
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    info = get_weights_info(name, weights)
    with pytest.raises(ScsamplerError) as raised:
        get_model(name, weights=weights)
    message = str(raised.value)
    assert f"cannot download the {info.name} weights from {info.url}" in message and "no network" in message
    assert "--weights PATH" in message
    assert requested == [info.url]  # torch.hub's own download code ran, for the published file
