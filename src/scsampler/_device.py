"""The one check of a torch device name, shared by the library and every ``--device`` option.

torch itself reports a bad name (``"nosuch"``) or a missing GPU (``"cuda"`` on a machine
without CUDA) as a ``RuntimeError`` deep inside a model's ``.to()``; this turns both into a
:class:`~scsampler.errors.UsageError` that says the rule and a fix, before any work starts.
"""

from __future__ import annotations

import re

from scsampler.errors import UsageError

__all__ = ["check_device"]

# cpu, cuda, cuda:N and mps: the devices this package's models are run on.
_DEVICE = re.compile(r"^(cpu|cuda|mps)(?::(\d+))?$")


def check_device(device: object) -> str | None:
    """``device`` as a string torch accepts, after checking that it exists on this machine.

    None (choose CUDA when it is available) and a ``torch.device`` pass too.

    Raises:
        UsageError: not one of ``cpu``, ``cuda``, ``cuda:N``, ``mps``; or a GPU that this
            machine does not have.
    """
    if device is None:
        return None
    text = str(device).strip()
    match = _DEVICE.match(text)
    if match is None or (match.group(1) == "cpu" and match.group(2) not in (None, "0")):
        raise UsageError(f"device must be cpu, cuda, cuda:N or mps, got {str(device)!r}.")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu":
        return text
    import torch  # here, not at import time: `--help` and `info` must not pay for torch

    if kind == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {text!r}: CUDA is not available on this machine (torch sees no GPU); use cpu.")
        count = torch.cuda.device_count()
        if index is not None and int(index) >= count:
            raise UsageError(f"device {text!r}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}.")
    elif not torch.backends.mps.is_available():
        raise UsageError(f"device {text!r}: MPS (Apple GPU) is not available on this machine; use cpu.")
    return text
