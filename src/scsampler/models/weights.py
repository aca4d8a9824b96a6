"""Pretrained weights: where they come from and what they expect, after torchvision's ``Weights``.

A :class:`WeightsInfo` bundles the torchvision weights enum member that knows
the file (URL and hash) with the metadata a user needs to trust it: the
categories, the clip length and frame size, the normalisation, the number of
parameters, the published metrics and the training recipe.
"""

from __future__ import annotations

import pickle
import urllib.error
from dataclasses import dataclass, field
from typing import Any

import torch
from torchvision.models import WeightsEnum

from scsampler.errors import ScsamplerError

__all__ = ["WeightsInfo", "from_torchvision", "download_state_dict"]


@dataclass(frozen=True)
class WeightsInfo:
    """Metadata of one set of pretrained weights.

    ``torchvision_weights`` is the torchvision enum member that downloads the
    file (None for weights torchvision does not have: those download from
    ``url`` when it is set, e.g. the VMZ and PyTorchVideo releases).
    """

    name: str
    categories: tuple[str, ...]
    frames_per_clip: int
    crop_size: tuple[int, int]
    resize_size: tuple[int, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    num_params: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    recipe: str = ""
    url: str | None = None
    torchvision_weights: WeightsEnum | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (categories reduced to their count)."""
        return {
            "name": self.name,
            "url": self.url,
            "num_categories": len(self.categories),
            "frames_per_clip": self.frames_per_clip,
            "crop_size": list(self.crop_size),
            "resize_size": list(self.resize_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "num_params": self.num_params,
            "metrics": self.metrics,
            "recipe": self.recipe,
        }


def from_torchvision(member: WeightsEnum, *, frames_per_clip: int = 16) -> WeightsInfo:
    """Read a torchvision video weights entry (e.g. ``R2Plus1D_18_Weights.KINETICS400_V1``)."""
    preset = member.transforms()  # torchvision's VideoClassification preset: sizes and normalisation
    meta = member.meta
    return WeightsInfo(
        name=member.name,
        categories=tuple(meta["categories"]),
        frames_per_clip=frames_per_clip,  # torchvision documents clip_len=16 for these weights
        crop_size=tuple(int(v) for v in preset.crop_size),
        resize_size=tuple(int(v) for v in preset.resize_size),
        mean=tuple(float(v) for v in preset.mean),
        std=tuple(float(v) for v in preset.std),
        num_params=int(meta["num_params"]),
        metrics={k: dict(v) for k, v in meta.get("_metrics", {}).items()},
        recipe=str(meta.get("recipe", "")),
        url=member.url,
        torchvision_weights=member,
    )


def download_state_dict(info: WeightsInfo) -> dict[str, torch.Tensor]:
    """The state dict of ``info``, downloaded once into the torch hub cache.

    Through torchvision's weights enum where there is one; else from ``info.url`` with
    ``torch.hub.load_state_dict_from_url`` (``weights_only=True``), unwrapping a published
    training checkpoint (``{"model_state": ...}``) to its state dict. The keys are the
    file's own: the registry maps a published layout to the model's names.

    Raises:
        ScsamplerError: the file cannot be downloaded (no network) or is damaged;
            the message says how to pass a local file instead.
    """
    if info.torchvision_weights is None and not info.url:
        raise ScsamplerError(f"weights {info.name} have no download location; pass the path of a local file.")
    hub_dir = torch.hub.get_dir()
    try:
        if info.torchvision_weights is not None:
            return info.torchvision_weights.get_state_dict(progress=False, check_hash=True)
        data = torch.hub.load_state_dict_from_url(
            info.url, progress=False, check_hash=True, map_location="cpu", weights_only=True
        )
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise ScsamplerError(
            f"cannot download the {info.name} weights from {info.url} (no network? {reason}). "
            f"Download the file on a machine with network access and either place it in {hub_dir}/checkpoints/, "
            "or pass its path: --weights PATH (get_model(name, weights=PATH))."
        ) from None
    except pickle.UnpicklingError:  # the safe loader refused the cached file
        raise ScsamplerError(
            f"the cached {info.name} weights in {hub_dir}/checkpoints/ hold pickled Python objects and were refused; "
            "re-save them as plain tensors and pass the file with --weights PATH."
        ) from None
    except RuntimeError as error:  # hash mismatch or a truncated file in the cache
        raise ScsamplerError(
            f"the cached {info.name} weights in {hub_dir}/checkpoints/ are damaged ({error}); delete the file and retry, "
            "or pass a local file with --weights PATH."
        ) from None
    from scsampler.models.checkpoint import state_dict_of

    return state_dict_of(data, source=info.url)[0]
