"""The sampler networks: a visual one on compressed-domain inputs and an audio one on log-MEL.

Both are small image CNNs that score one clip from its cheap signals (``ClipSignals``). Their
output head is sized by the training loss (``scsampler.training.losses.output_size``): C class
logits for AC, one scalar for SAL-CL and SAL-RANK.

Visual sampler (:class:`VisualSamplerNet`)
    One torchvision backbone per compressed input, ``iframe`` (RGB, 3 channels), ``clipframe``
    (RGB, 3 channels: a frame from inside the clip, for videos whose keyframes are sparser than
    clips), ``motion`` ((dx, dy) in pixels, 2 channels) and ``residual`` (1 channel); which
    inputs are used is an option. Each input has its own branch (stem, backbone, head), the two
    RGB inputs included. Backbones: ``resnet18``, ``shufflenet_v2_x0_5``, ``shufflenet_v2_x1_0`` (alias
    ``shufflenet``), ``shufflenet_v1_x0_5_g3`` (alias ``shufflenet_v1``: ShuffleNet v1, 0.5x, 3
    groups, ``scsampler.models.shufflenet_v1``), and ``tiny`` (three conv layers, for tests and the
    CPU demo). A stem with the input's channel count replaces the RGB stem. Every input is normalised (per-channel
    mean/std held as buffers, set from training data by the trainer) and resized to the
    backbone's input size (``input_size``, 112 by default: the size of the I-frames the signals
    give, and a quarter of ImageNet's pixels for speed; ``input_sizes`` overrides it per input, e.g.
    ``{"motion": 32}`` for the 15x20 macroblock grid of a 320x240 video, which 112 would upsample
    40 times over), so any spatial size works. Each input has its own linear head; the scores are fused **late**: the mean of the per-input outputs
    (``fusion="mean"``, the default) or a learned softmax-weighted mean (``fusion="learned"``).

    ImageNet weights load through torchvision's weights enums (``pretrained="imagenet"``, which
    downloads once into the torch hub cache) or from a local torchvision state dict file
    (``pretrained=PATH``, e.g. ``resnet18-f37072fd.pth``). ShuffleNet v1 has no torchvision
    weights: only a local file, in megvii's ShuffleNet-Series layout (mapped key by key and checked
    strictly) or in our own names. For the motion and residual stems,
    the RGB filters are averaged over their 3 input channels and repeated for each channel (the
    cross-modality initialisation of TSN), as CoViAR does for its motion/residual nets.

Audio sampler (:class:`AudioSamplerNet`)
    The VGGish layout (Hershey et al. 2017): conv1 64, pool, conv2 128, pool, conv3_1/conv3_2
    256, pool, conv4_1/conv4_2 512, pool4, then fc1_1 4096, fc1_2 4096, fc2 128, each followed
    by ReLU, then our output head. VGGish takes 96 frames x 64 mel bands (0.96 s); our clip
    input is 40 mel bands x 200 frames. Adaptation: the input is transposed to (time, mel)
    = 200 x 40 like VGGish's (96 x 64); the conv stack is unchanged (convolutions work at any
    size), pool4 gives 512 x 12 x 2, which an adaptive average pool brings to VGGish's
    512 x 6 x 4 (time halved, mel repeated) so that fc1_1 keeps its 12288 inputs in VGGish's
    flatten order (time, mel, channel). ``layout="tiny"`` is the same layout with narrow
    layers and batch norm, for tests and the CPU demo.

    AudioSet weights load from a local file (``pretrained=PATH``) in the layout of the PyTorch
    port of VGGish (harritaylor/torchvggish, ``vggish-10086976.pth``), key by key:

    =====================  ===============================  ======================
    VGGish (TF-slim name)  torchvggish key                  here
    =====================  ===============================  ======================
    vggish/conv1           features.0                       features.0
    vggish/conv2           features.3                       features.3
    vggish/conv3/conv3_1   features.6                       features.6
    vggish/conv3/conv3_2   features.8                       features.8
    vggish/conv4/conv4_1   features.11                      features.11
    vggish/conv4/conv4_2   features.13                      features.13
    vggish/fc1/fc1_1       embeddings.0                     embeddings.0
    vggish/fc1/fc1_2       embeddings.2                     embeddings.2
    vggish/fc2             embeddings.4                     embeddings.4
    =====================  ===============================  ======================

    (TF-slim weights are HWIO and its FC weights are [in, out]: transpose them to OIHW and
    [out, in] when converting.) Other keys of the file (e.g. torchvggish's ``pproc.*`` PCA
    parameters) are ignored.

    The **frozen** variant (supplementary Table 1): ``frozen_at`` in ``conv4_2``, ``pool4`` or
    ``fc1`` (the output of fc1_1) freezes the backbone, keeps it in eval mode, and trains one
    linear layer on the flattened activations of that layer.

Both are registered in the one model registry (``scsampler.models.registry``) as
``sampler-visual`` and ``sampler-audio`` (task ``"sampler"``: ``list_models(task="sampler")``),
the ``model_name`` their checkpoints store. Every network keeps the keyword arguments it was
built with in ``.config``; :func:`build_sampler_net` (``build_sampler_net(**net.config)``) looks
the builder up in the registry and rebuilds it, so a checkpoint can rebuild the network alone.
"""

from __future__ import annotations

import os
import urllib.error
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from scsampler.errors import ScsamplerError, UsageError
from scsampler.models.checkpoint import read_state_dict
from scsampler.models.registry import get_model_entry, register_sampler_net
from scsampler.models.shufflenet_v1 import ShuffleNetV1, imagenet_backbone_state_dict

__all__ = [
    "VISUAL_INPUTS",
    "VISUAL_BACKBONES",
    "AUDIO_LAYOUTS",
    "FROZEN_LAYERS",
    "SAMPLER_MODALITIES",
    "VisualSamplerNet",
    "AudioSamplerNet",
    "build_sampler_net",
    "sampler_net_name",
    "canonical_backbone",
    "check_input_sizes",
    "parameter_groups",
    "imagenet_state_dict",
]

#: The compressed-domain inputs and their channel counts.
VISUAL_INPUTS: dict[str, int] = {"iframe": 3, "clipframe": 3, "motion": 2, "residual": 1}
#: ShuffleNet v1, 0.5x, 3 groups (scsampler.models.shufflenet_v1): no torchvision builder or weights.
SHUFFLENET_V1 = "shufflenet_v1_x0_5_g3"
#: Visual backbones: torchvision builders (with ImageNet weights enums), ShuffleNet v1 (local weights only), tiny.
VISUAL_BACKBONES: tuple[str, ...] = ("resnet18", "shufflenet_v1_x0_5_g3", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "tiny")
AUDIO_LAYOUTS: tuple[str, ...] = ("vggish", "tiny")
#: Layers of the audio net whose activations the frozen variant trains a linear layer on.
FROZEN_LAYERS: tuple[str, ...] = ("conv4_2", "pool4", "fc1")

_ALIASES = {"shufflenet": "shufflenet_v2_x1_0", "resnet": "resnet18", "shufflenet_v1": SHUFFLENET_V1}

# ImageNet normalisation for I-frames and clip frames; motion (pixels) and residual (0..255 differences) get
# rough defaults that the trainer replaces by statistics of the training data.
_DEFAULT_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "iframe": ((0.485 * 255, 0.456 * 255, 0.406 * 255), (0.229 * 255, 0.224 * 255, 0.225 * 255)),
    "clipframe": ((0.485 * 255, 0.456 * 255, 0.406 * 255), (0.229 * 255, 0.224 * 255, 0.225 * 255)),
    "motion": ((0.0, 0.0), (4.0, 4.0)),
    "residual": ((0.0,), (16.0,)),
}


def canonical_backbone(name: str) -> str:
    """The registered backbone name for ``name`` (``shufflenet`` -> ``shufflenet_v2_x1_0``)."""
    return _ALIASES.get(name, name)


# --------------------------------------------------------------------------- visual


def _tiny_backbone(in_channels: int, *, width: int = 16) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = []
    channels = in_channels
    for out in (width, 2 * width, 4 * width):
        layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), channels


def _torchvision_backbone(name: str, in_channels: int) -> tuple[nn.Module, int]:
    """A torchvision ImageNet CNN without its classifier, with an ``in_channels`` stem."""
    model = getattr(torchvision.models, name)(weights=None)
    features = model.fc.in_features
    model.fc = nn.Identity()
    if in_channels != 3:
        if name == "resnet18":
            old = model.conv1
            model.conv1 = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
        else:  # shufflenet: conv1 = Sequential(Conv2d, BatchNorm2d, ReLU)
            old = model.conv1[0]
            model.conv1[0] = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
    return model, features


def _stem_key(backbone: str) -> str:
    return "conv1.weight" if backbone == "resnet18" else "conv1.0.weight"


def _imagenet_weights_enum(backbone: str):
    enum_name = {
        "resnet18": "ResNet18_Weights",
        "shufflenet_v2_x0_5": "ShuffleNet_V2_X0_5_Weights",
        "shufflenet_v2_x1_0": "ShuffleNet_V2_X1_0_Weights",
    }[backbone]
    return getattr(torchvision.models, enum_name).IMAGENET1K_V1


def _read_local_state_dict(path: str | os.PathLike, *, what: str) -> dict[str, torch.Tensor]:
    state_dict, _ = read_state_dict(path)
    if not state_dict:
        raise ScsamplerError(f"{os.fspath(path)}: holds no {what} weights.")
    return state_dict


def imagenet_state_dict(backbone: str, *, pretrained: str | os.PathLike) -> dict[str, torch.Tensor]:
    """ImageNet weights of ``backbone``: ``"imagenet"`` through torchvision's enum, or a local file.

    ShuffleNet v1 has no torchvision weights: only a local file, in megvii's ShuffleNet-Series
    layout or our own names, mapped and checked strictly (``shufflenet_v1.imagenet_backbone_state_dict``).
    """
    local = os.fspath(pretrained).lower() != "imagenet"
    if backbone == SHUFFLENET_V1:
        if not local:
            raise UsageError(
                f"{SHUFFLENET_V1} has no downloadable ImageNet weights (torchvision has no ShuffleNet v1); pass a local "
                "file in megvii's ShuffleNet-Series layout (e.g. its 0.5x, group 3 checkpoint): --pretrained PATH."
            )
        return imagenet_backbone_state_dict(_read_local_state_dict(pretrained, what="ImageNet"), source=pretrained)
    if local:
        return _read_local_state_dict(pretrained, what="ImageNet")
    member = _imagenet_weights_enum(backbone)
    try:
        return member.get_state_dict(progress=False, check_hash=True)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise ScsamplerError(
            f"cannot download the ImageNet weights of {backbone} from {member.url} (no network? {reason}). "
            f"Place the file in {torch.hub.get_dir()}/checkpoints/ or pass its path: --pretrained PATH."
        ) from None


class _VisualBranch(nn.Module):
    """One compressed input: normalise, resize (:meth:`prepare`), then backbone and linear head
    (:meth:`score_prepared`, the part an inference backend runs: its input shape is fixed)."""

    def __init__(self, name: str, *, backbone: str, out_features: int, input_size: int, width: int) -> None:
        super().__init__()
        channels = VISUAL_INPUTS[name]
        if backbone == "tiny":
            self.backbone, features = _tiny_backbone(channels, width=width)
        elif backbone == SHUFFLENET_V1:  # its stem is built with the input's channels; no head
            self.backbone = ShuffleNetV1(in_channels=channels, num_classes=None, width="0.5x")
            features = self.backbone.out_features
        else:
            self.backbone, features = _torchvision_backbone(backbone, channels)
        self.head = nn.Linear(features, out_features)
        mean, std = _DEFAULT_STATS[name]
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.channels = channels
        self.input_size = input_size

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` as the signals give it -> normalised float ``[B, C, input_size, input_size]``."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected [B, {self.channels}, H, W], got {tuple(x.shape)}.")
        x = (x.float() - self.mean) / self.std
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return x

    def score_prepared(self, x: torch.Tensor) -> torch.Tensor:
        """The branch's output ``[B, out_features]`` from :meth:`prepare`'s tensor."""
        return self.head(self.backbone(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score_prepared(self.prepare(x))


@register_sampler_net("sampler-visual", description="compressed-domain inputs, one 2D CNN branch each, late fusion")
class VisualSamplerNet(nn.Module):
    """Scores a clip from its compressed-domain inputs; see the module docstring.

    ``forward(inputs)`` takes a mapping from input name to a tensor ``[B, C, H, W]`` (I-frames
    and clip frames uint8 or float in 0..255, motion in pixels, residual) and returns ``[B, out_features]``.
    """

    modality = "visual"

    def __init__(
        self,
        *,
        inputs: Sequence[str] = ("iframe", "motion"),
        backbone: str = "resnet18",
        out_features: int = 1,
        fusion: str = "mean",
        input_size: int | None = None,
        input_sizes: Mapping[str, int] | None = None,
        width: int = 16,
        pretrained: str | os.PathLike | None = None,
        motion_step: int | None = None,
    ) -> None:
        super().__init__()
        from scsampler.signals.motion import check_motion_step

        backbone = canonical_backbone(backbone)
        if backbone not in VISUAL_BACKBONES:
            raise UsageError(f"unknown visual backbone {backbone!r}; choose one of {', '.join(VISUAL_BACKBONES)} (or shufflenet).")
        inputs = tuple(inputs)
        unknown = [name for name in inputs if name not in VISUAL_INPUTS]
        if not inputs or unknown or len(set(inputs)) != len(inputs):
            raise UsageError(
                f"visual inputs must be distinct names among {', '.join(VISUAL_INPUTS)}, got {','.join(inputs) or 'none'}."
            )
        if fusion not in ("mean", "learned"):
            raise UsageError(f"fusion must be 'mean' or 'learned', got {fusion!r}.")
        if out_features < 1:
            raise UsageError(f"out_features must be >= 1, got {out_features!r}.")
        if pretrained is not None and backbone == "tiny":
            raise UsageError("the tiny backbone has no ImageNet weights; drop --pretrained or pick resnet18/shufflenet.")
        input_size = int(input_size or (64 if backbone == "tiny" else 112))
        sizes = check_input_sizes(input_sizes, inputs)
        motion_step = check_motion_step(motion_step)
        if motion_step is not None and "motion" not in inputs:
            raise UsageError(f"a motion step applies to the motion input, which these inputs lack: {','.join(inputs)}.")
        self.config = {
            "modality": "visual",
            "inputs": list(inputs),
            "backbone": backbone,
            "out_features": int(out_features),
            "fusion": fusion,
            "input_size": input_size,
            "width": int(width),
        }
        if sizes:  # only when set, so that older configs (and their signal-cache keys) stay as they were
            self.config["input_sizes"] = sizes
        if motion_step is not None:  # which P-frames make the motion input (signals/motion.py); set only when chosen
            self.config["motion_step"] = motion_step
        self.inputs = inputs
        self.branches = nn.ModuleDict(
            {
                name: _VisualBranch(
                    name, backbone=backbone, out_features=out_features, input_size=sizes.get(name, input_size), width=width
                )
                for name in inputs
            }
        )
        self.fusion_logits = nn.Parameter(torch.zeros(len(inputs))) if fusion == "learned" else None
        self.pretrained_loaded = False
        if pretrained is not None:
            self.load_imagenet(pretrained)

    def load_imagenet(self, pretrained: str | os.PathLike) -> None:
        """Load ImageNet weights into every branch's backbone (stems adapted; see module docstring)."""
        backbone = self.config["backbone"]
        state_dict = {k: v for k, v in imagenet_state_dict(backbone, pretrained=pretrained).items() if not k.startswith("fc.")}
        stem = _stem_key(backbone)
        if stem not in state_dict:
            raise ScsamplerError(f"{os.fspath(pretrained)}: not ImageNet weights of {backbone} (no {stem!r}).")
        for name, branch in self.branches.items():
            weights = dict(state_dict)
            rgb = weights[stem]
            if branch.channels != 3:
                weights[stem] = rgb.mean(dim=1, keepdim=True).repeat(1, branch.channels, 1, 1)
            try:
                branch.backbone.load_state_dict(weights, strict=True)
            except RuntimeError as error:
                detail = " ".join(str(error).splitlines()[:2])
                raise ScsamplerError(f"{os.fspath(pretrained)}: does not fit a {backbone} backbone ({detail}).") from None
        self.pretrained_loaded = True

    def set_input_stats(self, name: str, *, mean: Sequence[float], std: Sequence[float]) -> None:
        """Per-channel normalisation of input ``name`` (the trainer measures it on training data)."""
        branch = self.branches[name]
        branch.mean.copy_(torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        branch.std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-6).view(1, -1, 1, 1))

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """Backbone parameters that came from ImageNet (empty when none were loaded)."""
        if not self.pretrained_loaded:
            return []
        return [p for branch in self.branches.values() for p in branch.backbone.parameters() if p.requires_grad]

    def fuse(self, outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The late fusion of the per-input outputs (``[B, O]`` each, in ``self.inputs`` order)."""
        stacked = torch.stack(list(outputs), dim=0)  # [I, B, O]
        if self.fusion_logits is None:
            return stacked.mean(dim=0)
        weights = self.fusion_logits.softmax(dim=0).view(-1, 1, 1)
        return (weights * stacked).sum(dim=0)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = [name for name in self.inputs if name not in inputs or inputs[name] is None]
        if missing:
            raise ValueError(f"the visual sampler needs inputs {', '.join(missing)}, which are missing.")
        return self.fuse([self.branches[name](inputs[name]) for name in self.inputs])


def check_input_sizes(input_sizes: Mapping[str, int] | None, inputs: Sequence[str]) -> dict[str, int]:
    """Per-input backbone sizes (``{"motion": 32}``), checked against the net's ``inputs``."""
    sizes = {str(name): int(size) for name, size in dict(input_sizes or {}).items()}
    unknown = sorted(set(sizes) - set(inputs))
    if unknown:
        raise UsageError(
            f"input sizes are given for {', '.join(unknown)}, which the visual sampler does not take "
            f"(its inputs: {', '.join(inputs)})."
        )
    small = {name: size for name, size in sizes.items() if size < 8}
    if small:
        raise UsageError(f"input sizes must be at least 8 pixels, got {small}.")
    return sizes


# --------------------------------------------------------------------------- audio

# (conv widths conv1, conv2, conv3_1, conv3_2, conv4_1, conv4_2), (fc1_1, fc1_2, fc2)
_AUDIO_WIDTHS = {
    "vggish": ((64, 128, 256, 256, 512, 512), (4096, 4096, 128)),
    "tiny": ((8, 16, 32, 32, 32, 32), (64, 64, 32)),
}
_VGGISH_POOLED = (6, 4)  # VGGish's pool4 map (time, mel) for its 96 x 64 input


@register_sampler_net("sampler-audio", description="log-MEL through VGGish's layout (or a tiny one)")
class AudioSamplerNet(nn.Module):
    """Scores a clip from its log-MEL [B, 1, 40, 200] (or [B, 40, 200]); see the module docstring."""

    modality = "audio"

    def __init__(
        self,
        *,
        layout: str = "vggish",
        out_features: int = 1,
        frozen_at: str | None = None,
        n_mels: int = 40,
        n_frames: int = 200,
        pretrained: str | os.PathLike | None = None,
        audio_window: str = "clip",
    ) -> None:
        super().__init__()
        from scsampler.signals.audio import AUDIO_WINDOWS

        if audio_window not in AUDIO_WINDOWS:
            raise UsageError(f"unknown audio window {audio_window!r}; choose one of {', '.join(AUDIO_WINDOWS)}.")
        if layout not in AUDIO_LAYOUTS:
            raise UsageError(f"unknown audio layout {layout!r}; choose one of {', '.join(AUDIO_LAYOUTS)}.")
        if frozen_at is not None and frozen_at not in FROZEN_LAYERS:
            raise UsageError(f"frozen_at must be one of {', '.join(FROZEN_LAYERS)} (or None), got {frozen_at!r}.")
        if out_features < 1:
            raise UsageError(f"out_features must be >= 1, got {out_features!r}.")
        if pretrained is not None and layout != "vggish":
            raise UsageError("only the vggish layout loads AudioSet weights; drop --pretrained or use --backbone vggish.")
        self.config = {
            "modality": "audio",
            "layout": layout,
            "out_features": int(out_features),
            "frozen_at": frozen_at,
            "n_mels": int(n_mels),
            "n_frames": int(n_frames),
            "audio_window": audio_window,  # which log-MEL window it reads (signals/audio.py), for scoring alike
        }
        convs, fcs = _AUDIO_WIDTHS[layout]
        batch_norm = layout == "tiny"  # VGGish has none; keep its layout key-compatible
        layers: list[nn.Module] = []
        self._taps: dict[str, int] = {}
        channels = 1
        for position, out in enumerate(convs):
            layers.append(nn.Conv2d(channels, out, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            channels = out
            if position == 5:
                self._taps["conv4_2"] = len(layers)  # activations after conv4_2's ReLU
            if position in (0, 1, 3, 5):  # pools after conv1, conv2, conv3_2, conv4_2
                layers.append(nn.MaxPool2d(2, 2))
        self._taps["pool4"] = len(layers)
        self.features = nn.Sequential(*layers)
        flat = channels * _VGGISH_POOLED[0] * _VGGISH_POOLED[1]
        self.embeddings = nn.Sequential(
            nn.Linear(flat, fcs[0]), nn.ReLU(inplace=True),
            nn.Linear(fcs[0], fcs[1]), nn.ReLU(inplace=True),
            nn.Linear(fcs[1], fcs[2]), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.register_buffer("input_mean", torch.zeros(()))
        self.register_buffer("input_std", torch.ones(()))
        self.pretrained_loaded = False
        if pretrained is not None:
            self.load_vggish(pretrained)
        if frozen_at is None:
            self.head = nn.Linear(fcs[2], out_features)
        else:
            with torch.no_grad():
                width = self._backbone_activation(torch.zeros(1, 1, n_mels, n_frames)).shape[1]
            self.head = nn.Linear(width, out_features)
            for parameter in list(self.features.parameters()) + list(self.embeddings.parameters()):
                parameter.requires_grad_(False)
            self.features.eval()
            self.embeddings.eval()

    def load_vggish(self, path: str | os.PathLike) -> None:
        """Load AudioSet VGGish weights from a local file in torchvggish's layout (see module docstring)."""
        state_dict = _read_local_state_dict(path, what="VGGish")
        wanted = {k: v for k, v in state_dict.items() if k.startswith(("features.", "embeddings."))}
        backbone = nn.ModuleDict({"features": self.features, "embeddings": self.embeddings})
        try:
            backbone.load_state_dict(wanted, strict=True)
        except RuntimeError as error:
            detail = " ".join(str(error).splitlines()[:2])
            raise ScsamplerError(f"{os.fspath(path)}: not VGGish weights in torchvggish's layout ({detail}).") from None
        self.pretrained_loaded = True

    def set_input_stats(self, *, mean: float, std: float) -> None:
        """Normalisation of the log-MEL input (the trainer measures it on training data)."""
        self.input_mean.fill_(float(mean))
        self.input_std.fill_(max(float(std), 1e-6))

    def train(self, mode: bool = True) -> "AudioSamplerNet":
        super().train(mode)
        if self.config["frozen_at"] is not None:  # a frozen backbone stays in eval mode
            self.features.eval()
            self.embeddings.eval()
        return self

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """Trainable backbone parameters that came from AudioSet (empty when none were loaded)."""
        if not self.pretrained_loaded:
            return []
        return [p for p in list(self.features.parameters()) + list(self.embeddings.parameters()) if p.requires_grad]

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"expected log-MEL [B, 1, mels, frames] or [B, mels, frames], got {tuple(x.shape)}.")
        x = (x.float() - self.input_mean) / self.input_std
        return x.transpose(2, 3)  # (mel, time) -> (time, mel), VGGish's orientation

    def _flatten_pool4(self, x: torch.Tensor) -> torch.Tensor:
        x = _adaptive_avg_pool(x, _VGGISH_POOLED)
        return x.permute(0, 2, 3, 1).flatten(1)  # VGGish's (time, mel, channel) flatten order

    def _backbone_activation(self, x: torch.Tensor) -> torch.Tensor:
        """Flattened activations of the frozen layer (``frozen_at``)."""
        return self._backbone_activation_prepared(self._prepare(x))

    def _backbone_activation_prepared(self, x: torch.Tensor) -> torch.Tensor:
        frozen_at = self.config["frozen_at"]
        if frozen_at == "conv4_2":
            return self.features[: self._taps["conv4_2"]](x).flatten(1)
        x = self.features(x)
        if frozen_at == "pool4":
            return x.flatten(1)
        return self.embeddings[:2](self._flatten_pool4(x))  # fc1 = fc1_1 + ReLU

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Log-MEL ``[B, 1, mels, frames]`` -> the normalised ``[B, 1, frames, mels]`` the conv stack takes."""
        return self._prepare(x)

    def forward_prepared(self, x: torch.Tensor) -> torch.Tensor:
        """The output ``[B, out_features]`` from :meth:`prepare`'s tensor (what an inference backend runs)."""
        if self.config["frozen_at"] is not None:
            with torch.no_grad():
                activation = self._backbone_activation_prepared(x)
            return self.head(activation)
        x = self.features(x)
        return self.head(self.embeddings(self._flatten_pool4(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_prepared(self._prepare(x))


def _adaptive_avg_pool(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.adaptive_avg_pool2d``; while exporting to ONNX, the same bins as slices and means, because the
    ONNX exporter refuses an output size that does not divide the input (pool4's 12 x 2 -> 6 x 4)."""
    if not torch.onnx.is_in_onnx_export():
        return F.adaptive_avg_pool2d(x, size)
    height, width = x.shape[-2:]
    bins = lambda n, m: [((i * n) // m, -(-((i + 1) * n) // m)) for i in range(m)]  # noqa: E731 (torch's bin edges)
    x = torch.cat([x[:, :, a:b, :].mean(2, keepdim=True) for a, b in bins(int(height), size[0])], 2)
    return torch.cat([x[:, :, :, a:b].mean(3, keepdim=True) for a, b in bins(int(width), size[1])], 3)


# --------------------------------------------------------------------------- builder


#: The sampler networks' modalities: ``build_sampler_net(modality=...)`` and ``net.config["modality"]``.
SAMPLER_MODALITIES: tuple[str, ...] = ("visual", "audio")


def sampler_net_name(modality: str) -> str:
    """The registry name of the sampler network of ``modality`` (``"sampler-visual"``), also its checkpoints' ``model_name``."""
    if modality not in SAMPLER_MODALITIES:
        raise UsageError(f"modality must be 'visual' or 'audio', got {modality!r}.")
    return f"sampler-{modality}"


def build_sampler_net(*, modality: str, **config) -> nn.Module:
    """Build a sampler network from its ``config`` (as stored in ``net.config``), through the model registry.

    ``modality="visual"`` builds :class:`VisualSamplerNet` (registered as ``sampler-visual``),
    ``"audio"`` :class:`AudioSamplerNet` (``sampler-audio``); the other keywords go to that class.
    """
    return get_model_entry(sampler_net_name(modality), task="sampler").builder(**config)


def parameter_groups(
    net: nn.Module, *, lr: float, pretrained_lr_scale: float
) -> list[dict[str, object]]:
    """Optimizer groups: pretrained backbone layers at ``lr * pretrained_lr_scale``, the rest at ``lr``.

    The recipes use a 100x smaller rate for ImageNet layers (visual) and 0.05x for AudioSet
    layers under SAL-RANK (audio). Frozen parameters are left out.
    """
    pretrained = {id(p) for p in net.pretrained_parameters()}
    fresh = [p for p in net.parameters() if p.requires_grad and id(p) not in pretrained]
    groups: list[dict[str, object]] = [{"params": fresh, "lr": lr, "lr_scale": 1.0, "name": "new"}]
    if pretrained:
        groups.append(
            {
                "params": [p for p in net.parameters() if id(p) in pretrained],
                "lr": lr * pretrained_lr_scale,
                "lr_scale": pretrained_lr_scale,
                "name": "pretrained",
            }
        )
    return groups
