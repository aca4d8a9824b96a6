"""One registry of every network: the clip classifiers and the sampler networks, looked up by name.

Every network is a plain builder with typed keyword arguments, registered under a name and a
*task*:

- ``"classifier"``: clip classifiers (``r2plus1d_18(*, num_classes=400)``), recorded by
  :func:`register_model` with their :class:`ClassifierSpec` (the input they expect) and the
  pretrained weights they can load. :func:`get_model` is a thin name lookup over those builders,
  and :func:`load_classifier` rebuilds one from a checkpoint alone.
- ``"sampler"``: the sampler networks (``sampler-visual``, ``sampler-audio``: the
  ``model_name`` their checkpoints store), recorded by :func:`register_sampler_net` and built
  through ``scsampler.models.sampler_nets.build_sampler_net(**net.config)``.

    >>> from scsampler.models import get_model, get_model_spec, list_models
    >>> model = get_model("r2plus1d_tiny", num_classes=5)
    >>> get_model_spec("r2plus1d_tiny").frames_per_clip
    16
    >>> list_models(task="sampler")
    ['sampler-audio', 'sampler-visual']

Arrows point down: this module reads weights files through ``scsampler.models.checkpoint``
(which knows nothing of the registry); builder modules import this one and register
themselves when :func:`_ensure_loaded` imports them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from scsampler.errors import ScsamplerError, UsageError
from scsampler.models.checkpoint import check_checkpoint, load_checkpoint, read_state_dict
from scsampler.models.published_layouts import KeyLayout, find_layout, strip_prefix, to_native
from scsampler.models.weights import WeightsInfo

__all__ = [
    "MODEL_TASKS",
    "ClassifierSpec",
    "ModelEntry",
    "register_model",
    "register_sampler_net",
    "list_models",
    "get_model",
    "build_model",
    "get_model_spec",
    "get_model_entry",
    "get_weights_info",
    "replace_head",
    "num_classes_of",
    "load_classifier",
    "classifier_from_checkpoint",
]

#: What a registered network does: classify clips, or score them for a sampler.
MODEL_TASKS: tuple[str, ...] = ("classifier", "sampler")

# torchvision's Kinetics-400 normalisation (``VideoClassification`` preset).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class ClassifierSpec:
    """The input a clip classifier expects.

    A clip of ``frames_per_clip`` frames is resized to ``resize_size``, then
    centre-cropped to ``crop_size`` (height, width), scaled to [0, 1] and
    normalised with ``mean``/``std``. ``resize_size`` is ``(height, width)``, or
    ``(short_side,)`` to keep the aspect ratio with the shorter side at that
    length. ``num_classes`` is the default width of the head. ``cpu_batch_size`` is the forward batch
    that costs least per clip on a CPU (:attr:`Classifier.batch_size`): 1 for the full-size 3D CNNs, whose
    convolutions already use every core at batch 1 (R(2+1)D-18 on 2 cores: 574 ms per clip at batch
    1, 643 ms at 8, and a peak of 970 MB against 1,722; ``benchmarks/classifier_batch.py``), more for
    networks so small that the cost per call dominates.
    """

    name: str
    frames_per_clip: int
    crop_size: tuple[int, int]
    resize_size: tuple[int, ...]
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    num_classes: int = 400
    cpu_batch_size: int = 1

    def __post_init__(self) -> None:
        if self.frames_per_clip < 1:
            raise ValueError(f"{self.name}: frames_per_clip must be >= 1, got {self.frames_per_clip}.")
        if len(self.crop_size) != 2 or min(self.crop_size) < 1:
            raise ValueError(f"{self.name}: crop_size must be (height, width), got {self.crop_size}.")
        if len(self.resize_size) not in (1, 2) or min(self.resize_size) < 1:
            raise ValueError(f"{self.name}: resize_size must be (short_side,) or (height, width), got {self.resize_size}.")
        if self.cpu_batch_size < 1:
            raise ValueError(f"{self.name}: cpu_batch_size must be >= 1, got {self.cpu_batch_size}.")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"{self.name}: mean and std need three channels and std > 0.")

    def resized_size(self, *, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` after the resize step, for a frame of ``height`` x ``width``."""
        if len(self.resize_size) == 2:
            return int(self.resize_size[0]), int(self.resize_size[1])
        short = int(self.resize_size[0])
        if height <= width:
            return short, max(short, round(width * short / height))
        return max(short, round(height * short / width)), short


@dataclass(frozen=True)
class ModelEntry:
    """A registered builder, its task, and for a classifier its input spec and the pretrained weights it can load."""

    name: str
    builder: Callable[..., nn.Module]
    task: str = "classifier"
    spec: ClassifierSpec | None = None  # classifiers only: sampler networks keep their input sizes in their config
    weights: dict[str, WeightsInfo] = field(default_factory=dict)
    description: str = ""
    layouts: tuple[KeyLayout, ...] = ()  # published key layouts its weights files may come in


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    spec: ClassifierSpec,
    *,
    weights: dict[str, WeightsInfo] | None = None,
    description: str = "",
    layouts: tuple[KeyLayout, ...] = (),
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a builder ``fn(*, num_classes) -> nn.Module`` under ``spec.name``.

    The built model takes float ``[B, 3, T, H, W]`` and returns logits
    ``[B, num_classes]``; its last layer is a ``nn.Linear`` called ``fc``.
    ``layouts`` are the published key layouts (besides the model's own names)
    that a weights file for it may use; such files are renamed and checked
    strictly on loading (``scsampler.models.published_layouts``).
    """

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _add(ModelEntry(spec.name, builder, "classifier", spec, dict(weights or {}), description, tuple(layouts)))
        return builder

    return decorate


def register_sampler_net(name: str, *, description: str = "") -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a sampler network builder (a class or function taking its ``config`` keywords) as ``name``.

    The built network keeps the keywords it was built with in ``.config`` (``modality`` among
    them), so that the builder rebuilds it from a checkpoint's ``model_args`` alone.
    """

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _add(ModelEntry(name, builder, "sampler", description=description))
        return builder

    return decorate


def _add(entry: ModelEntry) -> None:
    if entry.name in _MODELS:
        raise ValueError(f"a model named {entry.name!r} is already registered.")
    _MODELS[entry.name] = entry


def _ensure_loaded() -> None:
    # The builders register themselves when their module is imported.
    import scsampler.models.video_classifiers  # noqa: F401
    import scsampler.models.large_video_nets  # noqa: F401
    import scsampler.models.sampler_nets  # noqa: F401


def _check_task(task: str) -> None:
    if task not in MODEL_TASKS:
        raise UsageError(f"task must be one of {', '.join(MODEL_TASKS)}, got {task!r}.")


def list_models(task: str = "classifier") -> list[str]:
    """Names of the registered networks of ``task`` (``"classifier"``: those :func:`get_model` takes), sorted."""
    _check_task(task)
    _ensure_loaded()
    return sorted(name for name, entry in _MODELS.items() if entry.task == task)


def get_model_entry(name: str, *, task: str = "classifier") -> ModelEntry:
    """The registry entry of the ``task`` network ``name``; a clear :class:`UsageError` for an unknown name."""
    _check_task(task)
    _ensure_loaded()
    entry = _MODELS.get(name)
    if entry is None or entry.task != task:
        what = "classifier" if task == "classifier" else "sampler network"
        raise UsageError(f"unknown {what} {name!r}; choose one of {', '.join(list_models(task))}.")
    return entry


def get_model_spec(name: str) -> ClassifierSpec:
    """The input spec (clip length, sizes, normalisation, default classes) of classifier ``name``."""
    return get_model_entry(name).spec


def get_weights_info(name: str, weights: str) -> WeightsInfo:
    """Metadata of the pretrained ``weights`` of model ``name`` (``"DEFAULT"`` allowed)."""
    entry = get_model_entry(name)
    key = weights.upper()
    if key == "DEFAULT" and entry.weights:
        key = next(iter(entry.weights))
    if key not in entry.weights:
        known = ", ".join(list(entry.weights) + (["DEFAULT"] if entry.weights else [])) or "none"
        raise UsageError(
            f"model {name!r} has no pretrained weights called {weights!r} (known: {known}); "
            "give the path of a local weights file instead."
        )
    return entry.weights[key]


def num_classes_of(model: nn.Module) -> int:
    """Width of the model's head (``model.fc``)."""
    return int(model.fc.out_features)


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace ``model.fc`` by a fresh ``Linear`` with ``num_classes`` outputs (for fine-tuning)."""
    _check_num_classes(num_classes)
    old = model.fc
    model.fc = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    nn.init.normal_(model.fc.weight, 0, 0.01)
    if model.fc.bias is not None:
        nn.init.zeros_(model.fc.bias)
    return model


def _check_num_classes(num_classes: int | None) -> None:
    if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1):
        raise UsageError(f"num_classes must be a positive integer, got {num_classes!r}.")


def _is_path(weights: str | os.PathLike) -> bool:
    text = os.fspath(weights)
    return isinstance(weights, os.PathLike) or os.sep in text or text.endswith((".pt", ".pth", ".ckpt", ".pyth", ".tar")) or Path(text).exists()


def get_model(
    name: str,
    *,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
) -> nn.Module:
    """Build the clip classifier ``name``.

    Args:
        name: a name from :func:`list_models`.
        weights: None for random initialisation; a pretrained weights name of
            the model (``"KINETICS400_V1"``, ``"VMZ_SPORTS1M_FT_KINETICS400"``
            or ``"DEFAULT"``: see :func:`get_weights_info`; downloaded once into
            the torch hub cache, through torchvision's weights enums where
            torchvision has them); or the path of a local file: a state dict (in
            the model's own names or one of its published layouts, e.g.
            PyTorchVideo's ``{"model_state": ...}``) or a scsampler checkpoint
            (loaded with ``weights_only=True``).
        num_classes: width of the head. With weights whose head differs, the
            weights are loaded first and the head is then replaced by a fresh
            one of this width (fine-tuning).

    Raises:
        UsageError: unknown name or weights, or a bad ``num_classes``.
        ScsamplerError: the weights cannot be downloaded or read.
    """
    return build_model(name, weights=weights, num_classes=num_classes)[0]


def build_model(
    name: str,
    *,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
) -> tuple[nn.Module, list[str] | None]:
    """:func:`get_model`, also returning the class names the weights came with (None if unknown).

    The class names are dropped (None) when ``num_classes`` replaces the head.
    """
    _check_num_classes(num_classes)
    entry = get_model_entry(name)
    if weights is None:
        return entry.builder(num_classes=num_classes or entry.spec.num_classes), None

    if _is_path(weights):
        state_dict, classes = read_state_dict(weights)
        model = _build_from_state_dict(entry, state_dict, source=os.fspath(weights))
    else:
        from scsampler.models.weights import download_state_dict

        info = get_weights_info(name, os.fspath(weights))
        source = info.url or info.name
        model = _build_from_state_dict(entry, download_state_dict(info), source=source)
        classes = list(info.categories)
        if num_classes_of(model) != len(classes):
            raise ScsamplerError(f"{source}: has {num_classes_of(model)} outputs, its metadata lists {len(classes)} classes.")
    if num_classes is not None and num_classes != num_classes_of(model):
        replace_head(model, num_classes)
        classes = None
    return model, classes


def _build_from_state_dict(entry: ModelEntry, state_dict: dict[str, torch.Tensor], *, source: str) -> nn.Module:
    """The model of ``entry`` with ``state_dict`` loaded strictly, in the model's own names or a published layout."""
    layout = find_layout(state_dict, entry.layouts)
    if layout is not None:
        state_dict = {strip_prefix(key, layout.strip): value for key, value in state_dict.items()}
    head = "fc.weight" if layout is None else layout.to_published("fc.weight")
    if head not in state_dict:
        others = "".join(f" or {other.to_published('fc.weight')!r} ({other.name} layout)" for other in entry.layouts)
        raise ScsamplerError(f"{source}: not weights of a {entry.name} classifier (no 'fc.weight'{others} in its state dict).")
    model = entry.builder(num_classes=int(state_dict[head].shape[0]))
    if layout is not None:
        state_dict = to_native(state_dict, model.state_dict(), layout, source=source, what=f"the {entry.name} classifier")
    _load_state_dict(model, state_dict, source=source, name=entry.name)
    return model


def _load_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor], *, source: str, name: str) -> None:
    """Load strictly; on a mismatch, say how many keys differ and name a few (not the whole list)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong_shape = [
        k for k in expected if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
        if keys:
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            problems.append(f"{len(keys)} {label} keys: {', '.join(keys[:3])}{more}")
    if problems:
        raise ScsamplerError(f"{source}: these weights do not fit the {name} classifier ({'; '.join(problems)}).")
    model.load_state_dict(state_dict, strict=True)


# --------------------------------------------------------------------------- checkpoints


def load_classifier(path: str | os.PathLike) -> tuple[nn.Module, ClassifierSpec, list[str]]:
    """Rebuild a classifier from a checkpoint alone: ``(model, spec, classes)``, model in eval mode."""
    return classifier_from_checkpoint(load_checkpoint(path), source=path)


def classifier_from_checkpoint(
    data: dict[str, Any], *, source: str | os.PathLike = "checkpoint"
) -> tuple[nn.Module, ClassifierSpec, list[str]]:
    """:func:`load_classifier` for a checkpoint dict already read from ``source``."""
    path = source
    data = check_checkpoint(data, source)
    entry = get_model_entry(str(data["model_name"]))
    args = dict(data["model_args"])
    try:
        model = entry.builder(**args)
    except TypeError as error:  # model_args that the builder does not take
        raise ScsamplerError(f"{os.fspath(path)}: model_args {args} do not fit {entry.name} ({error}).") from None
    _load_state_dict(model, data["state_dict"], source=os.fspath(path), name=f"{entry.name}({args})")
    classes = [str(c) for c in data["classes"]]
    if len(classes) != model.fc.out_features:
        raise ScsamplerError(
            f"{os.fspath(path)}: lists {len(classes)} classes but the model has {model.fc.out_features} outputs."
        )
    model.eval()
    return model, _trained_spec(entry.spec, data.get("geometry")), classes


def _trained_spec(spec: ClassifierSpec, geometry: dict | None) -> ClassifierSpec:
    """The registry's input spec, with the clip length and sizes the checkpoint was trained on.

    A recipe may train a model on other clips than its registry default (``cpu-micro``: 8 frames
    of 48x48); the trainer records them under ``geometry`` and inference must feed the same.
    """
    if not geometry:
        return spec
    return dataclasses.replace(
        spec,
        frames_per_clip=int(geometry["frames_per_clip"]),
        resize_size=tuple(int(v) for v in geometry["resize_size"]),
        crop_size=tuple(int(v) for v in geometry["crop_size"]),
    )
