"""The paper's strongest clip classifiers: ir-CSN-152 (and -101) and the bottleneck R(2+1)D-50.

Both are bottleneck video ResNets (:class:`BottleneckVideoResNet`): a stem, four stages of
bottleneck blocks (1x1x1 reduce, a middle convolution, 1x1x1 expand, x4 channels), a global
average pool and a linear ``fc``. They differ in the middle convolution, the stem and the strides:

ir-CSN (Tran, Wang, Torresani, Feiszli, ICCV 2019, "interaction-reduced channel-separated")
    The middle convolution is a *depthwise* 3x3x3 (groups = channels); the 1x1x1 convolutions
    keep all channel interactions. Stem: 3x7x7 conv, stride (1, 2, 2), then a 1x3x3 max pool,
    stride (1, 2, 2). Stage strides (t, h, w): (1, 1, 1), then (2, 2, 2) three times. ResNet-152
    layout [3, 8, 36, 3] (``ir_csn_152``, the VMZ release) and ResNet-101 [3, 4, 23, 3]
    (``ir_csn_101``, PyTorchVideo's ``csn_r101``). Clips of 32 frames at 224x224.
R(2+1)D-50 (Tran et al., CVPR 2018), bottleneck, as PyTorchVideo's ``r2plus1d_r50``
    The middle convolution is a (2+1)D pair: a 3x1x1 temporal conv, BatchNorm, ReLU, then a
    1x3x3 spatial conv, both with the block's width. Stem: one 1x7x7 conv, stride (1, 2, 2), no
    pool. Stage strides: (1, 2, 2), (1, 2, 2), (2, 2, 2), (2, 2, 2). ResNet-50 layout
    [3, 4, 6, 3], dropout 0.5 before ``fc``. Clips of 16 frames at 224x224.

Module names follow torchvision's ``VideoResNet`` (``stem.0``, ``layer3.5.conv2.0``,
``downsample``, ``fc``), which is the layout of the VMZ release (facebookresearch/VMZ, ``pt/``:
torchvision ``VideoResNet`` with ``Bottleneck`` blocks), so its files load key for key.
PyTorchVideo's hub files (``{"model_state": ...}``, keys ``blocks.0.conv``,
``blocks.N.res_blocks.i.branch2.conv_b``, ``blocks.5.proj``) are mapped by
:data:`PYTORCHVIDEO_LAYOUT`. Both are checked strictly: every key, every shape.

BatchNorm epsilon follows each model's published weights: 1e-3 for ``ir_csn_152`` (VMZ sets
Caffe2's value), 1e-5 for the PyTorchVideo ones. PyTorchVideo's heads end in an average pool
sized for 224x224 crops and, for R(2+1)D, a softmax; here the pool is global and ``fc`` gives
logits, which is the same function at 224x224 (up to the softmax). Those weights were trained on
clips taking every 2nd (CSN, 32x2) or 4th (R(2+1)D, 16x4) frame, while this package's clips are
consecutive frames.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import torch
from torch import nn
from torchvision.models import video as tv_video

from scsampler.models.published_layouts import KeyLayout
from scsampler.models.registry import KINETICS_MEAN, KINETICS_STD, ClassifierSpec, register_model
from scsampler.models.video_classifiers import init_like_torchvision
from scsampler.models.weights import WeightsInfo

__all__ = [
    "BottleneckBlock3d",
    "BottleneckVideoResNet",
    "Conv2Plus1dTemporalFirst",
    "PYTORCHVIDEO_LAYOUT",
    "ir_csn_152",
    "ir_csn_101",
    "r2plus1d_50",
]

Stride = tuple[int, int, int]
#: Builds the middle convolution of a bottleneck block: ``(channels, stride, bn_eps) -> module``.
MiddleConv = Callable[[int, Stride, float], nn.Module]


def depthwise_conv3d(channels: int, stride: Stride, bn_eps: float) -> nn.Module:
    """ir-CSN's middle convolution: 3x3x3, one filter per channel (groups = channels)."""
    return nn.Conv3d(channels, channels, kernel_size=3, stride=stride, padding=1, groups=channels, bias=False)


class Conv2Plus1dTemporalFirst(nn.Module):
    """(2+1)D convolution in PyTorchVideo's order: 3x1x1 temporal, BatchNorm, ReLU, 1x3x3 spatial.

    Both convolutions keep ``channels`` (PyTorchVideo's ``r2plus1d_r50``; not the
    parameter-matched middle width of the original paper's basic blocks).
    """

    def __init__(self, channels: int, stride: Stride, bn_eps: float) -> None:
        super().__init__()
        self.conv_t = nn.Conv3d(channels, channels, (3, 1, 1), stride=(stride[0], 1, 1), padding=(1, 0, 0), bias=False)
        self.norm = nn.BatchNorm3d(channels, eps=bn_eps)
        self.activation = nn.ReLU(inplace=True)
        self.conv_xy = nn.Conv3d(
            channels, channels, (1, 3, 3), stride=(1, stride[1], stride[2]), padding=(0, 1, 1), bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_xy(self.activation(self.norm(self.conv_t(x))))


class BottleneckBlock3d(nn.Module):
    """1x1x1 reduce to ``planes``, the middle convolution, 1x1x1 expand to ``4 * planes``, residual.

    torchvision's ``Bottleneck`` names: ``conv1``, ``conv2``, ``conv3`` (each conv, BatchNorm[,
    ReLU]) and ``downsample`` (1x1x1 conv with the block's stride, BatchNorm) where the shape changes.
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, *, middle: MiddleConv, stride: Stride, bn_eps: float) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Sequential(
            nn.Conv3d(in_channels, planes, kernel_size=1, bias=False), nn.BatchNorm3d(planes, eps=bn_eps), nn.ReLU(inplace=True)
        )
        self.conv2 = nn.Sequential(middle(planes, stride, bn_eps), nn.BatchNorm3d(planes, eps=bn_eps), nn.ReLU(inplace=True))
        self.conv3 = nn.Sequential(
            nn.Conv3d(planes, out_channels, kernel_size=1, bias=False), nn.BatchNorm3d(out_channels, eps=bn_eps)
        )
        self.downsample = None
        if in_channels != out_channels or tuple(stride) != (1, 1, 1):
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm3d(out_channels, eps=bn_eps),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + shortcut)


class BottleneckVideoResNet(nn.Module):
    """A bottleneck video ResNet: ``stem``, four stages (widths 64-512, x4 out), global pool, ``fc``.

    Args:
        stem: maps ``[B, 3, T, H, W]`` to 64 channels.
        middle: the middle convolution of every block (see :data:`MiddleConv`).
        blocks: blocks per stage, e.g. ``(3, 8, 36, 3)`` for ResNet-152.
        strides: ``(t, h, w)`` stride of each stage's first block.
        num_classes: width of ``fc``.
        dropout: dropout before ``fc`` (while training).
        bn_eps: BatchNorm epsilon of every block (the stem builds its own).
    """

    def __init__(
        self,
        *,
        stem: nn.Module,
        middle: MiddleConv,
        blocks: Sequence[int],
        strides: Sequence[Stride],
        num_classes: int = 400,
        dropout: float = 0.0,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if len(blocks) != 4 or len(strides) != 4:
            raise ValueError(f"need blocks and strides for 4 stages, got {list(blocks)} and {list(strides)}.")
        self.stem = stem
        channels = 64
        stages = []
        for stage, (count, stride) in enumerate(zip(blocks, strides)):
            planes = 64 * 2**stage
            layer = [BottleneckBlock3d(channels, planes, middle=middle, stride=tuple(stride), bn_eps=bn_eps)]
            channels = planes * BottleneckBlock3d.expansion
            layer += [BottleneckBlock3d(channels, planes, middle=middle, stride=(1, 1, 1), bn_eps=bn_eps) for _ in range(1, count)]
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(channels, num_classes)
        init_like_torchvision(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.dropout(self.avgpool(x).flatten(1)))


def _csn_stem(bn_eps: float) -> nn.Module:
    """3x7x7 conv (stride 1, 2, 2), BatchNorm, ReLU, 1x3x3 max pool (stride 1, 2, 2): VMZ's pooled stem."""
    return nn.Sequential(
        nn.Conv3d(3, 64, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(64, eps=bn_eps),
        nn.ReLU(inplace=True),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
    )


def _r2plus1d_stem(bn_eps: float) -> nn.Module:
    """One 1x7x7 conv (stride 1, 2, 2), BatchNorm, ReLU, no pool: PyTorchVideo's R(2+1)D stem."""
    return nn.Sequential(
        nn.Conv3d(3, 64, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(64, eps=bn_eps),
        nn.ReLU(inplace=True),
    )


# --------------------------------------------------------------------------- PyTorchVideo's key layout

# Our block part (torchvision's names) -> PyTorchVideo's ResBlock part.
_PTV_PARTS = {
    "downsample.0": "branch1_conv",
    "downsample.1": "branch1_norm",
    "conv1.0": "branch2.conv_a",
    "conv1.1": "branch2.norm_a",
    "conv2.0": "branch2.conv_b",  # the depthwise conv, or the (2+1)D module's conv_t/norm/conv_xy
    "conv2.1": "branch2.norm_b",
    "conv3.0": "branch2.conv_c",
    "conv3.1": "branch2.norm_c",
}
_LAYER_KEY = re.compile(r"layer([1-4])\.(\d+)\.(downsample|conv[123])\.([01])\.(.+)")


def pytorchvideo_key(key: str) -> str:
    """PyTorchVideo's name (``create_csn`` / ``create_r2plus1d``) for our state-dict ``key``.

    ``stem.0`` -> ``blocks.0.conv``, ``stem.1`` -> ``blocks.0.norm``, ``layerS.i.<part>`` ->
    ``blocks.S.res_blocks.i.<branch part>`` (see ``_PTV_PARTS``), ``fc`` -> ``blocks.5.proj``.
    """
    for ours, theirs in (("stem.0.", "blocks.0.conv."), ("stem.1.", "blocks.0.norm."), ("fc.", "blocks.5.proj.")):
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    match = _LAYER_KEY.fullmatch(key)
    if match is None:
        raise ValueError(f"no PyTorchVideo name for the key {key!r}.")
    stage, block, part, index, rest = match.groups()
    return f"blocks.{stage}.res_blocks.{block}.{_PTV_PARTS[f'{part}.{index}']}.{rest}"


#: PyTorchVideo hub files (``csn_r101``, ``r2plus1d_r50``; ``create_csn``/``create_r2plus1d`` names).
PYTORCHVIDEO_LAYOUT = KeyLayout("PyTorchVideo", marker="blocks.0.", to_published=pytorchvideo_key)


# --------------------------------------------------------------------------- weights

_KINETICS400 = tuple(tv_video.R3D_18_Weights.KINETICS400_V1.meta["categories"])  # alphabetical, as both releases
_SPORTS1M = tuple(f"sports1m_{i:03d}" for i in range(487))  # indices into Sports-1M's labels.txt (not bundled)
_VMZ_FILES = "https://github.com/bjuncek/VMZ/releases/download/test_models/"  # facebookresearch/VMZ pt/vmz/models/utils.py
_VMZ_ZOO = "VMZ model zoo: https://github.com/facebookresearch/VMZ (c2/tutorials/model_zoo.md); Caffe2 models converted to PyTorch"
_PTV_FILES = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/"
_PTV_ZOO = "PyTorchVideo model zoo: https://github.com/facebookresearch/pytorchvideo (docs/source/model_zoo.md)"
_PTV_MEAN, _PTV_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)  # PyTorchVideo's Kinetics normalisation
_KINETICS_MEAN, _KINETICS_STD = KINETICS_MEAN, KINETICS_STD  # torchvision's, as in VMZ's pt/ test transform

# Parameter counts of the models these files fit (checked against the built models in tests).
_PARAMS_CSN152_K400 = 29_703_568
_PARAMS_CSN152_S1M = 29_881_831
_PARAMS_CSN101_K400 = 22_213_776
_PARAMS_R2PLUS1D50_K400 = 28_107_600

_CSN152_INPUT = dict(frames_per_clip=32, crop_size=(224, 224), resize_size=(256, 342), mean=_KINETICS_MEAN, std=_KINETICS_STD)
_CSN101_INPUT = dict(frames_per_clip=32, crop_size=(224, 224), resize_size=(256,), mean=_PTV_MEAN, std=_PTV_STD)
_R2PLUS1D50_INPUT = dict(frames_per_clip=16, crop_size=(224, 224), resize_size=(256,), mean=_PTV_MEAN, std=_PTV_STD)


def _vmz(name: str, file: str, categories: tuple[str, ...], num_params: int, metrics: dict) -> WeightsInfo:
    return WeightsInfo(
        name=name, categories=categories, num_params=num_params, metrics=metrics, recipe=_VMZ_ZOO,
        url=_VMZ_FILES + file, **_CSN152_INPUT,
    )  # fmt: skip


_CSN152_WEIGHTS = {
    "VMZ_SPORTS1M_FT_KINETICS400": _vmz(
        "VMZ_SPORTS1M_FT_KINETICS400", "irCSN_152_ft_kinetics_from_Sports1M_f101599884.pth", _KINETICS400,
        _PARAMS_CSN152_K400, {"Kinetics-400": {"acc@1": 78.2, "acc@5": 93.0}},
    ),
    "VMZ_IG65M_FT_KINETICS400": _vmz(
        "VMZ_IG65M_FT_KINETICS400", "irCSN_152_ft_kinetics_from_ig65m_f126851907.pth", _KINETICS400,
        _PARAMS_CSN152_K400, {"Kinetics-400": {"acc@1": 82.6, "acc@5": 95.3}},
    ),
    "VMZ_SPORTS1M": _vmz("VMZ_SPORTS1M", "irCSN_152_Sports1M_from_scratch_f99918785.pth", _SPORTS1M, _PARAMS_CSN152_S1M, {}),
}  # fmt: skip


@register_model(
    ClassifierSpec(name="ir_csn_152", num_classes=400, **_CSN152_INPUT),
    weights=_CSN152_WEIGHTS,
    layouts=(PYTORCHVIDEO_LAYOUT,),
    description="ir-CSN-152 (VMZ): bottleneck ResNet-152 with depthwise 3x3x3 convolutions, 32x224x224 clips",
)
def ir_csn_152(*, num_classes: int = 400) -> nn.Module:
    """ir-CSN-152: ResNet-152 bottlenecks [3, 8, 36, 3] with depthwise 3x3x3 middle convolutions (VMZ's eps 1e-3)."""
    return BottleneckVideoResNet(
        stem=_csn_stem(1e-3), middle=depthwise_conv3d, blocks=(3, 8, 36, 3),
        strides=((1, 1, 1), (2, 2, 2), (2, 2, 2), (2, 2, 2)), num_classes=num_classes, bn_eps=1e-3,
    )  # fmt: skip


@register_model(
    ClassifierSpec(name="ir_csn_101", num_classes=400, **_CSN101_INPUT),
    weights={
        "PTV_KINETICS400_32X2": WeightsInfo(
            name="PTV_KINETICS400_32X2", categories=_KINETICS400, num_params=_PARAMS_CSN101_K400,
            metrics={"Kinetics-400": {"acc@1": 77.00, "acc@5": 92.90}}, recipe=_PTV_ZOO,
            url=_PTV_FILES + "CSN_32x2_R101.pyth", **_CSN101_INPUT,
        )  # fmt: skip
    },
    layouts=(PYTORCHVIDEO_LAYOUT,),
    description="ir-CSN-101 (PyTorchVideo csn_r101): ResNet-101 bottlenecks, depthwise 3x3x3, 32x224x224 clips",
)
def ir_csn_101(*, num_classes: int = 400) -> nn.Module:
    """ir-CSN-101: ResNet-101 bottlenecks [3, 4, 23, 3] with depthwise 3x3x3 convolutions (PyTorchVideo's eps 1e-5)."""
    return BottleneckVideoResNet(
        stem=_csn_stem(1e-5), middle=depthwise_conv3d, blocks=(3, 4, 23, 3),
        strides=((1, 1, 1), (2, 2, 2), (2, 2, 2), (2, 2, 2)), num_classes=num_classes, bn_eps=1e-5,
    )  # fmt: skip


@register_model(
    ClassifierSpec(name="r2plus1d_50", num_classes=400, **_R2PLUS1D50_INPUT),
    weights={
        "PTV_KINETICS400_16X4": WeightsInfo(
            name="PTV_KINETICS400_16X4", categories=_KINETICS400, num_params=_PARAMS_R2PLUS1D50_K400,
            metrics={"Kinetics-400": {"acc@1": 76.01, "acc@5": 92.23}}, recipe=_PTV_ZOO,
            url=_PTV_FILES + "R2PLUS1D_16x4_R50.pyth", **_R2PLUS1D50_INPUT,
        )  # fmt: skip
    },
    layouts=(PYTORCHVIDEO_LAYOUT,),
    description="R(2+1)D-50 (PyTorchVideo r2plus1d_r50): bottleneck ResNet-50 with (2+1)D convolutions, 16x224x224 clips",
)
def r2plus1d_50(*, num_classes: int = 400) -> nn.Module:
    """Bottleneck R(2+1)D-50: ResNet-50 [3, 4, 6, 3], temporal-then-spatial middle convolutions, dropout 0.5."""
    return BottleneckVideoResNet(
        stem=_r2plus1d_stem(1e-5), middle=Conv2Plus1dTemporalFirst, blocks=(3, 4, 6, 3),
        strides=((1, 2, 2), (1, 2, 2), (2, 2, 2), (2, 2, 2)), num_classes=num_classes, dropout=0.5, bn_eps=1e-5,
    )  # fmt: skip
