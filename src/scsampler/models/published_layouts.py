"""Key layouts of published weights files, mapped strictly onto this package's module names.

A model here names its layers its own way (torchvision's ``stem``/``layerN``/``fc`` for the
video ResNets); a published file names them another way (PyTorchVideo's ``blocks.N.res_blocks``,
megvii's ``first_conv``/``features``). A :class:`KeyLayout` holds one function, our key ->
the file's key, so the check runs in the file's own terms: every key the model needs must be in
the file with the model's shape, and the file may hold no other key. Any difference is one
:class:`~scsampler.errors.ScsamplerError` that names the file and the keys (in the file's names,
with ours beside them).

    >>> from scsampler.models.published_layouts import KeyLayout
    >>> layout = KeyLayout("example", marker="net.", to_published=lambda key: "net." + key)
    >>> layout.to_published("fc.weight")
    'net.fc.weight'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping

import torch

from scsampler.errors import ScsamplerError

__all__ = ["KeyLayout", "find_layout", "to_native", "strip_prefix"]

# BatchNorm's update counter: files written by old PyTorch versions lack it, and inference never reads it.
_BN_COUNTER = "num_batches_tracked"


@dataclass(frozen=True)
class KeyLayout:
    """A published key layout: its name, a key prefix that identifies it, and our key -> its key.

    ``marker`` is a prefix that only this layout's files have (``"blocks.0."`` for PyTorchVideo);
    ``to_published`` maps each of our state-dict keys to the file's key; ``ignore`` lists
    prefixes of file keys that are dropped (e.g. a classifier head the model does not have);
    ``strip`` is a prefix removed from every file key first (``"module."`` of DataParallel).
    """

    name: str
    marker: str
    to_published: Callable[[str], str]
    ignore: tuple[str, ...] = ()
    strip: str = ""

    def matches(self, state_dict: Mapping[str, torch.Tensor]) -> bool:
        """True when ``state_dict`` is in this layout (some key starts with ``marker``)."""
        return any(strip_prefix(key, self.strip).startswith(self.marker) for key in state_dict)


def strip_prefix(key: str, prefix: str) -> str:
    """``key`` without ``prefix`` (unchanged when it does not start with it)."""
    return key[len(prefix) :] if prefix and key.startswith(prefix) else key


def find_layout(state_dict: Mapping[str, torch.Tensor], layouts: tuple[KeyLayout, ...]) -> KeyLayout | None:
    """The first of ``layouts`` that ``state_dict`` is in; None for this package's own names."""
    return next((layout for layout in layouts if layout.matches(state_dict)), None)


def _shape(tensor: torch.Tensor) -> str:
    return "(" + ", ".join(str(int(n)) for n in tensor.shape) + ")"


def _listed(items: list[str], limit: int = 3) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def to_native(
    state_dict: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    layout: KeyLayout,
    *,
    source: str | os.PathLike,
    what: str,
) -> dict[str, torch.Tensor]:
    """``state_dict`` (in ``layout``) renamed to the keys of ``expected`` (a model's state dict).

    Strict: a key of the model missing from the file, a file key the model does not have, or a
    shape that differs raises :class:`ScsamplerError` naming ``source`` and the keys. A file with
    no BatchNorm ``num_batches_tracked`` key at all (older PyTorch) gets zeros for them.

    Raises:
        ScsamplerError: the file does not fit ``what`` (e.g. "the ir_csn_152 classifier").
    """
    given = {strip_prefix(key, layout.strip): value for key, value in state_dict.items()}
    given = {key: value for key, value in given.items() if not key.startswith(layout.ignore)}  # () ignores nothing
    ours_of = {layout.to_published(key): key for key in expected}
    fill_counters = not any(key.endswith(_BN_COUNTER) for key in given)
    missing = [
        f"{theirs} (ours: {ours})" if theirs != ours else theirs
        for theirs, ours in ours_of.items()
        if theirs not in given and not (fill_counters and ours.endswith(_BN_COUNTER))
    ]
    unexpected = [key for key in given if key not in ours_of]
    wrong_shape = [
        f"{theirs} is {_shape(given[theirs])} in the file, {_shape(expected[ours])} in the model"
        for theirs, ours in ours_of.items()
        if theirs in given and tuple(given[theirs].shape) != tuple(expected[ours].shape)
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
        if keys:
            problems.append(f"{len(keys)} {label} key{'s' if len(keys) > 1 else ''}: {_listed(keys)}")
    if problems:
        raise ScsamplerError(
            f"{os.fspath(source)}: does not fit {what} in the {layout.name} layout ({'; '.join(problems)})."
        )
    native = {}
    for theirs, ours in ours_of.items():
        value = given.get(theirs)
        native[ours] = value if value is not None else torch.zeros_like(expected[ours])
    return native
