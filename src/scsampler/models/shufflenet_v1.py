"""ShuffleNet v1 (Zhang, Zhou, Lin, Sun, CVPR 2018): the 0.5x, 3-group network as a sampler backbone.

Layout (the paper's Table 1, for g = 3): a 3x3 stride-2 conv and a 3x3 stride-2 max pool, then
three stages of 4, 8 and 4 ShuffleNet units whose first unit has stride 2; at 1x the stages give
240, 480 and 960 channels and the stem 24; "0.5x" scales every layer by 0.5 (120/240/480, stem
12, as in megvii's released 0.5x weights). A unit: 1x1 group conv to a quarter of the unit's
output width, BatchNorm, ReLU; 3x3 depthwise conv (stride 1 or 2), BatchNorm; channel shuffle;
1x1 group conv, BatchNorm. Stride 1 adds the input and applies ReLU; stride 2 concatenates a 3x3
average-pooled input with the ReLU'd branch (whose width is the output minus the input). The
first unit's first 1x1 conv is not grouped (its input has only the stem's channels). Then a
global average pool and ``fc`` (no bias).

The unit follows megvii's ShuffleNet-Series implementation (``ShuffleNetV1/blocks.py``), the
common public one, so that its weights load: the shuffle comes after the depthwise conv (the
paper draws it before; depthwise ops are per channel, so this only relabels channels), and its
channel order is megvii's (channels viewed as ``(C / g, g)`` and transposed). Module names follow
torchvision's ShuffleNet v2 (``conv1``, ``maxpool``, ``stage2``-``stage4``, ``fc``), so the
visual sampler replaces the stem's first conv (``conv1.0``) alike for both.

Weights: torchvision has none for v1. A local file in megvii's layout (``first_conv``,
``features.K.branch_main_1/2``, ``classifier``; optionally under ``state_dict`` and with
DataParallel's ``module.`` prefix) or in this module's own names is mapped and checked strictly
by :func:`imagenet_backbone_state_dict`.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from scsampler.models.published_layouts import KeyLayout, to_native

__all__ = [
    "ShuffleNetV1",
    "ShuffleUnitV1",
    "channel_shuffle",
    "MEGVII_LAYOUT",
    "megvii_key",
    "imagenet_backbone_state_dict",
    "STAGE_REPEATS",
]

#: Units per stage (stage2, stage3, stage4).
STAGE_REPEATS: tuple[int, int, int] = (4, 8, 4)
#: Output channels (stem, stage2, stage3, stage4) for 3 groups, per width multiplier (megvii's table).
_WIDTHS_G3: dict[str, tuple[int, int, int, int]] = {
    "0.5x": (12, 120, 240, 480),
    "1.0x": (24, 240, 480, 960),
    "1.5x": (24, 360, 720, 1440),
    "2.0x": (48, 480, 960, 1920),
}


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """megvii's shuffle: channels viewed as ``(C / groups, groups)``, transposed, flattened."""
    batch, channels, height, width = x.shape
    x = x.reshape(batch, channels // groups, groups, height, width).transpose(1, 2)
    return x.reshape(batch, channels, height, width)


class ShuffleUnitV1(nn.Module):
    """One ShuffleNet v1 unit (see the module docstring); ``reduce``, ``depthwise``, ``expand``."""

    def __init__(self, in_channels: int, out_channels: int, *, groups: int, stride: int, group_first_conv: bool = True) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}.")
        middle = out_channels // 4
        branch = out_channels - in_channels if stride == 2 else out_channels
        self.groups = groups
        self.reduce = nn.Sequential(
            nn.Conv2d(in_channels, middle, 1, groups=groups if group_first_conv else 1, bias=False),
            nn.BatchNorm2d(middle),
            nn.ReLU(inplace=True),
        )
        self.depthwise = nn.Sequential(
            nn.Conv2d(middle, middle, 3, stride=stride, padding=1, groups=middle, bias=False), nn.BatchNorm2d(middle)
        )
        self.expand = nn.Sequential(nn.Conv2d(middle, branch, 1, groups=groups, bias=False), nn.BatchNorm2d(branch))
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(self.reduce(x))
        y = self.expand(channel_shuffle(y, self.groups) if self.groups > 1 else y)
        if self.shortcut is None:
            return F.relu(x + y)
        return torch.cat((self.shortcut(x), F.relu(y)), dim=1)


class ShuffleNetV1(nn.Module):
    """ShuffleNet v1 with 3 groups; ``forward`` maps ``[B, in_channels, H, W]`` to ``[B, num_classes]``.

    With ``num_classes=None`` there is no ``fc`` (it is ``nn.Identity``) and the output is the
    pooled ``[B, out_features]`` features (480 at 0.5x): the sampler backbone.
    """

    def __init__(self, *, in_channels: int = 3, num_classes: int | None = 1000, width: str = "0.5x", groups: int = 3) -> None:
        super().__init__()
        if groups != 3 or width not in _WIDTHS_G3:
            raise ValueError(f"ShuffleNet v1 is built for 3 groups at {', '.join(_WIDTHS_G3)}; got {groups} groups at {width!r}.")
        stem, *stage_widths = _WIDTHS_G3[width]
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True)
        )
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = stem
        stages = []
        for position, (repeats, out_channels) in enumerate(zip(STAGE_REPEATS, stage_widths)):
            units = []
            for index in range(repeats):
                first = index == 0
                units.append(
                    ShuffleUnitV1(
                        channels, out_channels, groups=groups, stride=2 if first else 1,
                        group_first_conv=not (first and position == 0),
                    )
                )  # fmt: skip
                channels = out_channels
            stages.append(nn.Sequential(*units))
        self.stage2, self.stage3, self.stage4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_features = channels
        self.fc = nn.Linear(channels, num_classes, bias=False) if num_classes else nn.Identity()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        return self.fc(self.avgpool(x).flatten(1))


# --------------------------------------------------------------------------- megvii's key layout

_UNIT_KEY = re.compile(r"stage([234])\.(\d+)\.(reduce|depthwise|expand)\.([01])\.(.+)")
# Our unit part -> megvii's (branch_main_1 is conv, BN, ReLU, dw conv, BN; branch_main_2 is conv, BN).
_MEGVII_PARTS = {
    ("reduce", "0"): "branch_main_1.0",
    ("reduce", "1"): "branch_main_1.1",
    ("depthwise", "0"): "branch_main_1.3",
    ("depthwise", "1"): "branch_main_1.4",
    ("expand", "0"): "branch_main_2.0",
    ("expand", "1"): "branch_main_2.1",
}


def megvii_key(key: str) -> str:
    """megvii's name (ShuffleNet-Series ``ShuffleNetV1``) for our state-dict ``key``.

    ``conv1.N`` -> ``first_conv.N``; ``stageS.i.<part>`` -> ``features.K.branch_main_*`` with K
    counting units over all stages; ``fc`` -> ``classifier.0``.
    """
    if key.startswith("conv1."):
        return "first_conv." + key[len("conv1.") :]
    if key.startswith("fc."):
        return "classifier.0." + key[len("fc.") :]
    match = _UNIT_KEY.fullmatch(key)
    if match is None:
        raise ValueError(f"no megvii ShuffleNet v1 name for the key {key!r}.")
    stage, index, part, position, rest = match.groups()
    unit = sum(STAGE_REPEATS[: int(stage) - 2]) + int(index)
    return f"features.{unit}.{_MEGVII_PARTS[(part, position)]}.{rest}"


#: megvii's ShuffleNet-Series files; their ImageNet ``classifier`` is dropped (the sampler has its own head).
MEGVII_LAYOUT = KeyLayout(
    "megvii ShuffleNet-Series", marker="first_conv.", to_published=megvii_key, ignore=("classifier.",), strip="module."
)
_OWN_LAYOUT = KeyLayout("scsampler ShuffleNetV1", marker="conv1.", to_published=lambda key: key, ignore=("fc.",), strip="module.")


def imagenet_backbone_state_dict(
    state_dict: Mapping[str, torch.Tensor], *, source: str | os.PathLike, width: str = "0.5x"
) -> dict[str, torch.Tensor]:
    """ImageNet weights (megvii's layout, or this module's names) as a state dict of the backbone.

    The backbone is ``ShuffleNetV1(num_classes=None)`` with an RGB stem; the ImageNet classifier
    is dropped. Strict otherwise: a missing or extra key or a wrong shape raises
    :class:`~scsampler.errors.ScsamplerError` naming ``source`` and the key.
    """
    layout = MEGVII_LAYOUT if MEGVII_LAYOUT.matches(state_dict) else _OWN_LAYOUT
    reference = ShuffleNetV1(num_classes=None, width=width).state_dict()
    return to_native(state_dict, reference, layout, source=source, what=f"a ShuffleNet v1 {width} (3 groups) backbone")
