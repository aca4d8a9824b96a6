"""``train-classifier --init CKPT``: start a run from another run's classifier (fine-tuning).

``--weights`` (:func:`scsampler.models.get_model`) already loads a local state dict or checkpoint
and replaces the head when its *width* differs from the class count. ``--init`` is for
fine-tuning a scsampler checkpoint (a Sports-1M model on Kinetics: ``--recipe kinetics-finetune``)
and adds what a checkpoint knows:

- **the model**: without ``--model``, the checkpoint's ``model_name`` (and its ``model_args``) is
  used; with a different ``--model`` it is an error, not a key mismatch;
- **the head by class name**: when every class of the manifest is among the checkpoint's classes,
  the head keeps the rows of those classes, in the manifest's order (a subset, or a reordering,
  keeps what was learnt); otherwise a fresh head of the manifest's width. ``--weights`` keeps a
  head of the right width even when its rows mean other classes.

A plain state dict (no class names) keeps its head when its width fits, as ``--weights`` does.
Either way training starts at epoch 1 with a fresh optimizer and the recipe's schedule; a
``RUN_DIR/last.pt`` is resumed as usual and wins over ``--init``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from scsampler.errors import ScsamplerError, UsageError
from scsampler.models.checkpoint import _torch_load, is_checkpoint
from scsampler.models.registry import _load_state_dict, get_model_entry, replace_head

__all__ = ["InitialWeights", "read_initial_weights", "model_name_for", "initial_model", "DEFAULT_MODEL"]

DEFAULT_MODEL = "r2plus1d_tiny"


@dataclass(frozen=True)
class InitialWeights:
    """The weights ``--init`` names: a state dict, and what a checkpoint says about it (None for a plain state dict)."""

    source: Path
    state_dict: dict[str, torch.Tensor]
    model_name: str | None = None
    model_args: dict | None = None
    classes: list[str] | None = None


def read_initial_weights(path: str | os.PathLike) -> InitialWeights:
    """Read a scsampler checkpoint or a plain state dict safely (``weights_only=True``)."""
    source = Path(path)
    data = _torch_load(source)  # one read: the checkpoint's model name and classes come with the tensors
    if is_checkpoint(data):
        return InitialWeights(
            source, dict(data["state_dict"]), str(data["model_name"]), dict(data["model_args"]), [str(c) for c in data["classes"]]
        )
    if isinstance(data, dict) and data and all(isinstance(value, torch.Tensor) for value in data.values()):
        return InitialWeights(source, data)
    raise ScsamplerError(f"{source}: holds neither a state dict nor a scsampler checkpoint.")


def model_name_for(model: str | None, init: InitialWeights | None) -> str:
    """The model to train: ``model`` if given (checked against the checkpoint), else the checkpoint's, else the default."""
    if init is not None and init.model_name is not None:
        if model is not None and model != init.model_name:
            raise UsageError(
                f"{init.source}: holds a {init.model_name} classifier, not {model}; "
                f"pass --model {init.model_name}, or leave --model out (--init then sets it)."
            )
        return init.model_name
    return model or DEFAULT_MODEL


def initial_model(name: str, init: InitialWeights, *, classes: list[str]) -> tuple[nn.Module, str]:
    """Model ``name`` with ``init``'s weights and a head for ``classes``; also how the head was made.

    The second value is ``"kept"`` (the head as saved), ``"selected"`` (the rows of ``classes``,
    by name) or ``"replaced"`` (a fresh head).

    Raises:
        ScsamplerError: the weights are not those of a ``name`` classifier (keys or shapes differ).
    """
    entry = get_model_entry(name)
    weight = init.state_dict.get("fc.weight")
    if weight is None:
        raise ScsamplerError(f"{init.source}: not weights of a {name} classifier (no 'fc.weight' in its state dict).")
    args = dict(init.model_args or {})
    args["num_classes"] = int(weight.shape[0])
    try:
        model = entry.builder(**args)
    except TypeError as error:  # model_args that the builder does not take
        raise ScsamplerError(f"{init.source}: model_args {args} do not fit {name} ({error}).") from None
    _load_state_dict(model, init.state_dict, source=str(init.source), name=name)

    if init.classes is not None and len(init.classes) == model.fc.out_features and set(classes) <= set(init.classes):
        if list(classes) == list(init.classes):
            return model, "kept"
        rows = torch.tensor([init.classes.index(label) for label in classes])
        old = model.fc
        model.fc = nn.Linear(old.in_features, len(classes), bias=old.bias is not None)
        with torch.no_grad():
            model.fc.weight.copy_(old.weight[rows])
            if old.bias is not None:
                model.fc.bias.copy_(old.bias[rows])
        return model, "selected"
    if init.classes is None and model.fc.out_features == len(classes):
        return model, "kept"
    replace_head(model, len(classes))
    return model, "replaced"
