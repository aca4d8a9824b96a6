"""Clip classifiers: torchvision's R3D, MC3 and R(2+1)D ResNet-18, and small CPU variants.

The ``*_18`` builders call torchvision's own builders, so a state dict (or the
Kinetics-400 weights) made for torchvision loads unchanged. The ``*_tiny``
variants keep the same architecture families and torchvision's building blocks
with fewer channels, one block per stage and a 64x64 crop, so that they train
and classify in tens of milliseconds per clip on a CPU (tests and the demo).

All models take float ``[B, 3, T, H, W]`` (see ``scsampler.models.preprocess``)
and return logits ``[B, num_classes]`` from a final ``nn.Linear`` named ``fc``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torchvision.models import video as tv_video
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, Conv3DNoTemporal, Conv3DSimple

from scsampler.models.registry import ClassifierSpec, register_model
from scsampler.models.weights import from_torchvision

__all__ = ["r3d_18", "mc3_18", "r2plus1d_18", "r3d_tiny", "mc3_tiny", "r2plus1d_tiny", "TinyVideoResNet"]

# torchvision's Kinetics-400 input: 16 frames resized to 128x171, centre crop 112x112.
_TV_INPUT = dict(frames_per_clip=16, crop_size=(112, 112), resize_size=(128, 171), num_classes=400)
# CPU variants: 16 frames resized to 72x96 (the same aspect ratio), centre crop 64x64. So small that the
# cost per call dominates on a CPU: r2plus1d_tiny takes 32 ms per clip at batch 1, 15 ms at batch 8
# (benchmarks/classifier_batch.py).
_TINY_INPUT = dict(frames_per_clip=16, crop_size=(64, 64), resize_size=(72, 96), num_classes=400, cpu_batch_size=8)


@register_model(
    ClassifierSpec(name="r3d_18", **_TV_INPUT),
    weights={"KINETICS400_V1": from_torchvision(tv_video.R3D_18_Weights.KINETICS400_V1)},
    description="R3D-18 (torchvision): 3D convolutions everywhere",
)
def r3d_18(*, num_classes: int = 400) -> nn.Module:
    """torchvision's ``r3d_18`` with a head of ``num_classes``."""
    return tv_video.r3d_18(weights=None, num_classes=num_classes)


@register_model(
    ClassifierSpec(name="mc3_18", **_TV_INPUT),
    weights={"KINETICS400_V1": from_torchvision(tv_video.MC3_18_Weights.KINETICS400_V1)},
    description="MC3-18 (torchvision): 3D convolutions in the first stage, 2D after",
)
def mc3_18(*, num_classes: int = 400) -> nn.Module:
    """torchvision's ``mc3_18`` with a head of ``num_classes``."""
    return tv_video.mc3_18(weights=None, num_classes=num_classes)


@register_model(
    ClassifierSpec(name="r2plus1d_18", **_TV_INPUT),
    weights={"KINETICS400_V1": from_torchvision(tv_video.R2Plus1D_18_Weights.KINETICS400_V1)},
    description="R(2+1)D-18 (torchvision): 3D convolutions split into 2D spatial + 1D temporal",
)
def r2plus1d_18(*, num_classes: int = 400) -> nn.Module:
    """torchvision's ``r2plus1d_18`` with a head of ``num_classes``."""
    return tv_video.r2plus1d_18(weights=None, num_classes=num_classes)


ConvMaker = type[Conv3DSimple] | type[Conv3DNoTemporal] | type[Conv2Plus1D]


class TinyVideoResNet(nn.Module):
    """A narrow video ResNet built from torchvision's ``BasicBlock`` and conv makers.

    Same layout as torchvision's ``VideoResNet`` (stem, four stages, average
    pool, ``fc``) but with ``widths`` channels and ``blocks`` blocks per stage.
    """

    def __init__(
        self,
        *,
        stem: nn.Module,
        conv_makers: Sequence[ConvMaker],
        widths: Sequence[int] = (16, 32, 64, 128),
        blocks: Sequence[int] = (1, 1, 1, 1),
        num_classes: int = 400,
    ) -> None:
        super().__init__()
        self.stem = stem
        self.inplanes = widths[0]
        stages = []
        for stage, (maker, width, count) in enumerate(zip(conv_makers, widths, blocks)):
            stages.append(self._make_stage(maker, width, count, stride=1 if stage == 0 else 2))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(widths[-1], num_classes)
        init_like_torchvision(self)

    def _make_stage(self, maker: ConvMaker, planes: int, count: int, *, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes, kernel_size=1, stride=maker.get_downsample_stride(stride), bias=False),
                nn.BatchNorm3d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, maker, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes, maker) for _ in range(1, count)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def init_like_torchvision(model: nn.Module) -> None:
    """torchvision's VideoResNet initialisation, for the video networks built here."""
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm3d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)


def _stem_3d(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv3d(3, width, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


def _stem_2plus1d(width: int) -> nn.Module:
    middle = (width * 45) // 64  # torchvision's R(2+1)D stem ratio (45 of 64)
    return nn.Sequential(
        nn.Conv3d(3, middle, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(middle),
        nn.ReLU(inplace=True),
        nn.Conv3d(middle, width, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


_TINY_WIDTHS = (16, 32, 64, 128)


def _tiny(stem: Callable[[int], nn.Module], makers: Sequence[ConvMaker], num_classes: int) -> TinyVideoResNet:
    return TinyVideoResNet(stem=stem(_TINY_WIDTHS[0]), conv_makers=makers, widths=_TINY_WIDTHS, num_classes=num_classes)


@register_model(ClassifierSpec(name="r3d_tiny", **_TINY_INPUT), description="R3D, 16-128 channels, 1 block per stage (CPU)")
def r3d_tiny(*, num_classes: int = 400) -> nn.Module:
    """A narrow R3D for CPUs: 3D convolutions, widths 16-128, one block per stage."""
    return _tiny(_stem_3d, [Conv3DSimple] * 4, num_classes)


@register_model(ClassifierSpec(name="mc3_tiny", **_TINY_INPUT), description="MC3, 16-128 channels, 1 block per stage (CPU)")
def mc3_tiny(*, num_classes: int = 400) -> nn.Module:
    """A narrow MC3 for CPUs: 3D convolutions in the first stage, 2D spatial after."""
    return _tiny(_stem_3d, [Conv3DSimple] + [Conv3DNoTemporal] * 3, num_classes)


@register_model(
    ClassifierSpec(name="r2plus1d_tiny", **_TINY_INPUT), description="R(2+1)D, 16-128 channels, 1 block per stage (CPU)"
)
def r2plus1d_tiny(*, num_classes: int = 400) -> nn.Module:
    """A narrow R(2+1)D for CPUs: (2+1)D convolutions, widths 16-128, one block per stage."""
    return _tiny(_stem_2plus1d, [Conv2Plus1D] * 4, num_classes)
