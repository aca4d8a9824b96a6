"""How a sampler network runs at scoring time: eager PyTorch, or ONNX Runtime.

    runner = build_runner(net, "onnx")         # net: a VisualSamplerNet or AudioSamplerNet
    runner.run("iframe", net.branches["iframe"].prepare(x))   # a visual input's branch
    runner.run("audio", net.prepare(mel))                      # the audio network

A network is run in *parts*: one per visual input (its branch's backbone and head, after
``prepare``: normalisation and resizing stay in PyTorch, so each part's input shape is fixed
but for the batch), or ``"audio"`` (the whole audio network after ``prepare``). The late fusion
of a visual net's parts stays in PyTorch (``VisualSamplerNet.fuse``).

Backends (``--sampler-backend``):

``eager`` (default)
    The PyTorch modules themselves: the reference; batch norm folded into the convolutions,
    channels-last on the CPU (:class:`EagerRunner`).
``onnx``
    Each part exported with ``torch.onnx.export(dynamo=False)`` (the TorchScript exporter: in
    torch 2.14 it imports ``onnx``, pinned beside ``onnxruntime``, but not ``onnxscript``) and run by ``onnxruntime``'s CPU provider with
    ``torch.get_num_threads()`` threads. Outputs equal eager's within ``ONNX_TOLERANCE`` (relative
    to the outputs' scale) and keep the top-K of a video's ranking (tests/test_sampler_backends.py);
    on the 2-core test machine it scored ResNet-18 and VGGish 1.45-1.7x faster than contiguous eager, and
    is within 10% of channels-last eager either way; against eager with batch norm folded too, onnx was 7%
    faster end to end for ResNet-18 + VGGish and 10-17% slower for the demo's tiny networks (docs/models.md).

Export, cache and session come from :mod:`scsampler.models.onnx_support` (shared with the clip
classifier's backend): exported files are kept in ``onnx_cache_dir()`` (``$SCSAMPLER_CACHE_DIR/onnx``,
default ``~/.cache/scsampler/onnx``), named by a hash of the part's config, its weights and the
torch version, written atomically; where that folder cannot be written, the export stays in memory.
"""

from __future__ import annotations

import os
from typing import Protocol

import torch
from torch import nn

from scsampler.errors import ScsamplerError, UsageError
from scsampler.models.onnx_support import (
    ONNX_TOLERANCE,
    cached_onnx_export,
    cpu_session,
    module_digest,
    onnx_cache_dir,
    require_onnx_export,
    require_onnxruntime,
    run_session,
)

__all__ = [
    "SAMPLER_BACKENDS",
    "ONNX_TOLERANCE",
    "SamplerRunner",
    "EagerRunner",
    "OnnxRunner",
    "build_runner",
    "check_sampler_backend",
    "net_parts",
    "onnx_cache_dir",
]

#: Names accepted by ``--sampler-backend``; the first is the default.
SAMPLER_BACKENDS: tuple[str, ...] = ("eager", "onnx")
_EXPORT_FORMAT = 1  # bump when the export of a part changes, so that cached files are not reused


def check_sampler_backend(name: str) -> str:
    """``name`` when it is a known backend, else a UsageError naming the choices."""
    if name not in SAMPLER_BACKENDS:
        raise UsageError(f"unknown sampler backend {name!r}; choose one of {', '.join(SAMPLER_BACKENDS)}.")
    if name == "onnx":
        require_onnxruntime("--sampler-backend onnx")
        require_onnx_export("--sampler-backend onnx")  # a cached export would not need it; a first one does
    return name


class SamplerRunner(Protocol):
    """Runs one part of a sampler network (a visual input's name, or ``"audio"``) on a prepared batch."""

    def run(self, part: str, x: torch.Tensor) -> torch.Tensor: ...


def net_parts(net: nn.Module) -> dict[str, nn.Module]:
    """The parts of ``net`` as modules that take the prepared tensor: ``{input name: branch}`` or ``{"audio": net}``."""
    if net.config["modality"] == "audio":
        return {"audio": _Prepared(net)}
    return {name: _Prepared(branch) for name, branch in net.branches.items()}


class _Prepared(nn.Module):
    """``module.score_prepared`` / ``forward_prepared`` as a module's forward, for export."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.train(module.training)  # a new module is in training mode; this one is in the wrapped module's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        method = getattr(self.module, "score_prepared", None) or self.module.forward_prepared
        return method(x)


def part_input_shape(net: nn.Module, part: str) -> tuple[int, int, int]:
    """The prepared input's shape of a part, without the batch: ``(C, H, W)``."""
    config = net.config
    if part == "audio":
        return (1, int(config["n_frames"]), int(config["n_mels"]))  # prepare() puts time first, as VGGish does
    branch = net.branches[part]
    return (branch.channels, branch.input_size, branch.input_size)


class EagerRunner:
    """The PyTorch modules themselves (the reference backend): batch norm folded, channels-last on the CPU.

    On the CPU the network's convolution weights are put channels-last (in place: the sampler owns its
    network) and so is every input: oneDNN's convolutions and pools run 1.4-1.6x faster that way on
    VGGish, ResNet-18 and the tiny audio net (``benchmarks/sampler_batch.py --layout``); the outputs
    differ from the contiguous layout's by float32 rounding (a few 1e-6 of their scale at most).
    ``channels_last`` forces either layout (None: channels-last on the CPU only).

    With ``fold_batch_norm`` (the default for a network in eval mode) each part runs as a copy whose
    batch norms are folded into the convolutions before them (``torch.fx.experimental.optimization.fuse``):
    the tiny audio net twice as fast, ResNet-18 about 10% (``benchmarks/sampler_batch.py --fold``), the
    outputs within float32 rounding again (tested). The network itself is left as it is, so a sampler
    saves the weights it was given; the copy is made here, so build a new runner after changing them.
    A part that ``torch.fx`` cannot trace runs unfolded (:attr:`folded` says which parts were).

    In eval mode each 2x2 max pool of stride 2 (the audio nets': VGGish's layout) runs as
    :func:`pairwise_max_pool2d` in the traced copy, the same values (:attr:`pair_pools` counts them).
    """

    name = "eager"

    def __init__(self, net: nn.Module, *, channels_last: bool | None = None, fold_batch_norm: bool | None = None) -> None:
        if channels_last is None:
            channels_last = next(net.parameters()).device.type == "cpu"
        if fold_batch_norm is None:
            fold_batch_norm = not net.training
        self.channels_last = bool(channels_last)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        net.to(memory_format=layout)
        self.parts = net_parts(net)
        self.folded: dict[str, bool] = {}
        self.pair_pools: dict[str, int] = {}
        for part, module in self.parts.items():
            # one trace per eval-mode part (new containers around the network's layers), rewritten in place
            traced = None if module.training else _traced(module)
            folded = _fold_batch_norm(traced) if fold_batch_norm and traced is not None else None
            traced = folded if folded is not None else traced
            self.folded[part] = folded is not None
            self.pair_pools[part] = _use_pairwise_max_pools(traced) if traced is not None else 0
            if folded is not None or self.pair_pools[part]:
                self.parts[part] = traced.to(memory_format=layout)

    def run(self, part: str, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.parts[part](x)


_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _fold_batch_norm(traced) -> nn.Module | None:
    """A copy of the traced eval-mode part ``traced`` with each batch norm that follows a convolution folded
    into it, or None when it has no batch norm or folding fails (then it runs as it is)."""
    from torch.fx.experimental.optimization import fuse

    if not any(isinstance(m, _BATCH_NORMS) for m in traced.modules()):
        return None
    try:
        # inplace=True skips fuse's deep copy, no_trace=True its second trace: the folded convolutions go into
        # the trace's own containers, which share the original's unfolded layers; the original keeps its own (tested)
        return fuse(traced, inplace=True, no_trace=True)
    except Exception:  # noqa: BLE001 - any folding failure: the unfolded module is the reference anyway
        return None


def pairwise_max_pool2d(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2, 2)`` as the elementwise maximum of neighbouring rows, then of neighbouring columns.

    The same values (a maximum is exact; NaN propagates in both), without the indices that PyTorch's CPU
    pool computes and drops: on the tiny audio net's four pools in channels-last, 6.8 -> 1.9 ms per 64
    clips on one thread, 0.05 -> 0.01 s of CPU for the 562 clips of a 5-minute video (docs/models.md).
    """
    height, width = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # an odd last row or column is dropped, as the pool does
    rows = torch.maximum(x[..., 0:height:2, :width], x[..., 1:height:2, :width])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def _is_pair_pool(module: nn.Module | None) -> bool:
    """Whether ``module`` is a max pool that :func:`pairwise_max_pool2d` computes exactly."""
    if not isinstance(module, nn.MaxPool2d) or module.ceil_mode or module.return_indices:
        return False
    settings = (module.kernel_size, module.stride, module.padding, module.dilation)  # nn.MaxPool2d sets stride
    return tuple((v, v) if isinstance(v, int) else tuple(v) for v in settings) == ((2, 2), (2, 2), (0, 0), (1, 1))


def _traced(module: nn.Module):
    """``module`` traced by ``torch.fx`` (new containers around the same layers), or None when it cannot be."""
    from torch import fx

    try:
        return fx.symbolic_trace(module)
    except Exception:  # noqa: BLE001 - any tracing failure: the module runs as it is
        return None


def _use_pairwise_max_pools(graph_module) -> int:
    """Rewrite ``graph_module``'s calls of 2x2 stride-2 max pools into :func:`pairwise_max_pool2d`; how many.

    Only the graph changes: the pool modules stay where they are (shared with the network), unused.
    """
    modules = dict(graph_module.named_modules())
    graph = graph_module.graph
    replaced = 0
    for node in list(graph.nodes):
        if node.op == "call_module" and _is_pair_pool(modules.get(node.target)):
            with graph.inserting_after(node):
                pairwise = graph.call_function(pairwise_max_pool2d, node.args)
            node.replace_all_uses_with(pairwise)
            graph.erase_node(node)
            replaced += 1
    if replaced:
        graph_module.recompile()
    return replaced


class OnnxRunner:
    """Every part exported to ONNX (cached on disk) and run with ONNX Runtime on the CPU."""

    name = "onnx"

    def __init__(self, net: nn.Module, *, cache_dir: str | os.PathLike | None = None) -> None:
        check_sampler_backend("onnx")
        self.sessions = {}
        for part, module in net_parts(net).items():
            module.eval()
            key = module_digest(module, "sampler", _EXPORT_FORMAT, part, net.config)
            example = torch.zeros((2, *part_input_shape(net, part)))
            model = cached_onnx_export(module, example, key=key, folder=cache_dir)
            self.sessions[part] = cpu_session(model)  # as many threads as torch uses (--threads, OMP_NUM_THREADS)

    def run(self, part: str, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            raise ScsamplerError(f"the onnx sampler backend runs on the CPU; got a tensor on {x.device} (use --device cpu).")
        return run_session(self.sessions[part], x)


def build_runner(net: nn.Module, backend: str = "eager", *, cache_dir: str | os.PathLike | None = None) -> SamplerRunner:
    """The runner of ``net`` for ``backend`` (one of :data:`SAMPLER_BACKENDS`)."""
    backend = check_sampler_backend(backend)
    if backend == "onnx":
        return OnnxRunner(net, cache_dir=cache_dir)
    return EagerRunner(net)
