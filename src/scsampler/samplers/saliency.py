"""How a sampler network's output becomes saliency, by the loss it was trained with.

Scoring (``samplers/learned.py``) and training (``training/losses.py``, validation in
``training/sampler_validation.py``) both read a network's output through this module, so that a
trained network is scored exactly as it was validated:

* **AC**: class logits ``[B, C]``; saliency = max over classes of ``softmax``.
* **SAL-CL**: one logit per clip; saliency = ``sigmoid`` (P(salient)).
* **SAL-RANK**: one scalar per clip; saliency = the scalar itself.
"""

from __future__ import annotations

import torch

from scsampler.errors import UsageError

__all__ = ["LOSSES", "check_loss_name", "scalar_output", "saliency_from_output"]

#: The loss names accepted everywhere (CLI, checkpoints, samplers).
LOSSES: tuple[str, ...] = ("ac", "sal-cl", "sal-rank")


def check_loss_name(loss_name: str) -> str:
    """``loss_name`` if it is one of :data:`LOSSES`, else a UsageError that lists them."""
    if loss_name not in LOSSES:
        raise UsageError(f"unknown sampler loss {loss_name!r}; choose one of {', '.join(LOSSES)}.")
    return loss_name


def scalar_output(output: torch.Tensor, name: str) -> torch.Tensor:
    """[B] from an output of shape [B] or [B, 1]; ``name`` (the loss) goes into the error."""
    if output.dim() == 2 and output.shape[1] == 1:
        return output[:, 0]
    if output.dim() == 1:
        return output
    raise ValueError(f"{name} needs one scalar per clip ([B] or [B, 1]), got shape {tuple(output.shape)}.")


def saliency_from_output(loss_name: str, output: torch.Tensor) -> torch.Tensor:
    """Saliency per clip [B] (higher = more salient) from the output of a sampler trained with ``loss_name``.

    AC: max softmax probability; SAL-CL: ``sigmoid`` (P(salient)); SAL-RANK: the scalar itself.
    """
    check_loss_name(loss_name)
    if loss_name == "ac":
        if output.dim() != 2:
            raise ValueError(f"AC outputs class logits [B, C], got {tuple(output.shape)}.")
        return output.float().softmax(dim=1).amax(dim=1)
    scalar = scalar_output(output, loss_name.upper()).float()
    return torch.sigmoid(scalar) if loss_name == "sal-cl" else scalar
