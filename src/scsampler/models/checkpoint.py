"""The checkpoint format shared by the trainers and inference, loaded safely.

A checkpoint is a ``torch.save``d dict::

    {"model_name": "r2plus1d_tiny", "model_args": {"num_classes": 5},
     "classes": ["jump", "run", ...], "state_dict": {...},
     # optional:
     "optimizer": {...}, "epoch": 3, "metrics": {...}}

It holds everything needed to rebuild the model from the file alone, and only
tensors and plain containers, so it loads with ``torch.load(weights_only=True)``.
This module reads and writes the file; rebuilding a network from it is the
registry's (``scsampler.models.registry.load_classifier``), which imports this
module, never the other way round.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scsampler._atomic import atomic_output
from scsampler.errors import ScsamplerError

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "check_checkpoint",
    "is_checkpoint",
    "read_state_dict", "state_dict_of", "REQUIRED_KEYS"]

REQUIRED_KEYS = ("model_name", "model_args", "classes", "state_dict")


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model_name: str,
    model: nn.Module,
    classes: list[str],
    model_args: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file in the same folder, then ``os.replace``).

    ``model_args`` defaults to ``{"num_classes": len(classes)}``. ``extra``
    entries (plain types and tensors only) are stored beside the standard keys.
    """
    # Unwrap DistributedDataParallel so the keys match a plain model.
    module = getattr(model, "module", model)
    checkpoint: dict[str, Any] = {
        "model_name": model_name,
        "model_args": dict(model_args) if model_args is not None else {"num_classes": len(classes)},
        "classes": [str(c) for c in classes],
        "state_dict": module.state_dict(),
    }
    if optimizer is not None:
        checkpoint["optimizer"] = optimizer.state_dict()
    if epoch is not None:
        checkpoint["epoch"] = int(epoch)
    if metrics is not None:
        checkpoint["metrics"] = metrics
    if extra:
        checkpoint.update(extra)
    path = Path(path)
    with atomic_output(path) as temporary:
        torch.save(checkpoint, temporary)
    return path


def _torch_load(path: str | os.PathLike) -> Any:
    """``torch.load(weights_only=True)``: tensors and plain containers only, never pickled code.

    Every failure becomes one :class:`ScsamplerError` naming the file, in our words: torch's own
    message advises retrying with the unsafe loader, which this package never suggests.
    """
    text = os.fspath(path)
    if not os.path.exists(text):
        raise ScsamplerError(f"{text}: no such weights file.")
    try:
        with warnings.catch_warnings():
            # the safe loader warns about any pickle protocol but 2 (torch's legacy format), then
            # either reads the file or fails; the failure is reported below, the warning is noise
            warnings.filterwarnings("ignore", message=r"Detected pickle protocol", category=UserWarning)
            return torch.load(text, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ScsamplerError(f"{text}: {_refusal(str(error), text)}") from None
    except Exception as error:  # zip and I/O errors carry no useful type; report them as the file's problem
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ScsamplerError(f"{text}: cannot be read as a PyTorch weights file ({first.rstrip('.')}).") from None


def _refusal(message: str, path: str) -> str:
    """Why the safe loader refused a file, and a safe fix (torch's advice to load it unsafely left out)."""
    unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", message)
    if unsupported:
        # the same object is named "print" or "builtins.print" depending on what pickled it
        name = re.sub(r"^(?:builtins|__builtin__)\.", "", unsupported.group(1))
        return (
            f"refused: it holds a pickled Python object ({name}), not only tensors and plain "
            "containers, and loading it could run code. Only load weights saved as tensors: re-save them, "
            "from code you trust, with torch.save(model.state_dict(), PATH)."
        )
    detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|$)", message, flags=re.DOTALL)
    reason = " ".join(detail.group(1).split()).rstrip(".") if detail else message.strip().splitlines()[0].rstrip(".")
    if "weights_only" in reason:  # torch's general advice, not the reason
        reason = "the safe loader cannot read it"
    with open(path, "rb") as stream:
        pickled = stream.read(1) == b"\x80"  # pickle's PROTO opcode: torch's legacy (non-zip) format
    if not pickled:
        return f"cannot be read as a PyTorch weights file ({reason})."
    return (
        f"refused: the safe loader (tensors and plain containers only) cannot check it ({reason}); it may be "
        "in torch's legacy format with a newer pickle protocol. Re-save it with torch.save(state_dict, PATH), "
        "which writes the default format."
    )


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a scsampler checkpoint safely and check that it has the standard keys."""
    return check_checkpoint(_torch_load(path), path)


def check_checkpoint(data: Any, path: str | os.PathLike) -> dict[str, Any]:
    """``data`` (a file read from ``path``) when it has the standard keys; else a ScsamplerError naming the missing ones."""
    if not isinstance(data, dict) or any(key not in data for key in REQUIRED_KEYS):
        missing = [k for k in REQUIRED_KEYS if not isinstance(data, dict) or k not in data]
        raise ScsamplerError(f"{os.fspath(path)}: not a scsampler checkpoint (missing {', '.join(missing)}).")
    return data


def is_checkpoint(data: Any) -> bool:
    """True when ``data`` (a loaded file) has the keys of a scsampler checkpoint."""
    return isinstance(data, dict) and all(key in data for key in REQUIRED_KEYS)


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """``(state_dict, classes)`` from a plain state dict file or a scsampler checkpoint.

    ``classes`` is None for a plain state dict. Published training checkpoints that wrap the
    state dict are read too: ``{"state_dict": ...}`` (e.g. megvii's ShuffleNet files) and
    PyTorchVideo's ``{"model_state": ...}``.
    """
    return state_dict_of(_torch_load(path), source=path)


def state_dict_of(data: Any, *, source: str | os.PathLike) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """:func:`read_state_dict` for a file already loaded from ``source``."""
    for wrapper in ("state_dict", "model_state"):
        if isinstance(data, dict) and wrapper in data and isinstance(data[wrapper], dict):
            classes = data.get("classes")
            return data[wrapper], (list(classes) if classes is not None else None)
    if isinstance(data, dict) and data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return data, None
    raise ScsamplerError(f"{os.fspath(source)}: holds neither a state dict nor a scsampler checkpoint.")

