"""How the clip classifier's network runs on a CPU: eager PyTorch, or ONNX Runtime.

    runner = build_classifier_runner(model, "onnx", input_shape=(3, 16, 112, 112))
    logits = runner(batch)        # float [B, 3, T, H, W] from Classifier.prepare -> float32 [B, C]

:class:`scsampler.models.Classifier` picks one (``backend=``, ``--classifier-backend``);
preprocessing (resize, crop, normalisation) stays in PyTorch either way. Backends:

``eager`` (default)
    The PyTorch module, channels-last 3D on the CPU, bf16 autocast on CUDA: the reference.
``onnx``
    The module exported once (:mod:`scsampler.models.onnx_support`: TorchScript exporter, which needs
    the ``onnx`` package; batch axis dynamic; cached on disk by a hash of the weights; randomly
    initialised weights are exported in memory only) and run by ONNX Runtime's CPU provider. Logits equal eager's within
    :data:`ONNX_TOLERANCE` and the top-1 of every clip is the same (tests/test_classifier_backends.py,
    benchmarks/classifier_backends.py on the demo's test clips). R(2+1)D-18 runs 1.22x faster than eager
    channels-last at batch 1 and 8 on the 2-core test machine, quiet (docs/models.md, "CPU backends"). CPU only: on another device the classifier stays eager.

``torch.compile`` (inductor) and ``torch.jit.freeze`` + ``optimize_for_inference`` were measured
too (benchmarks/classifier_backends.py --candidates): both slower than ONNX Runtime, and compiling
takes minutes, so they are not offered.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from scsampler.errors import ScsamplerError, UsageError
from scsampler.models.onnx_support import (
    ONNX_TOLERANCE,
    cached_onnx_export,
    cpu_session,
    module_digest,
    require_onnx_export,
    require_onnxruntime,
    run_session,
)

__all__ = ["CLASSIFIER_BACKENDS", "ONNX_TOLERANCE", "ClassifierRunner", "check_classifier_backend", "build_classifier_runner"]

#: Names accepted by ``--classifier-backend``; the first is the default.
CLASSIFIER_BACKENDS: tuple[str, ...] = ("eager", "onnx")
_EXPORT_FORMAT = 1  # bump when the export changes, so that cached files are not reused


def check_classifier_backend(name: str, *, device: str | torch.device = "cpu") -> str:
    """``name`` when it is a known backend that runs on ``device``, else a UsageError naming the value and the choices."""
    if name not in CLASSIFIER_BACKENDS:
        raise UsageError(f"unknown classifier backend {name!r}; choose one of {', '.join(CLASSIFIER_BACKENDS)}.")
    if name != "eager":
        device = torch.device(device)
        if device.type != "cpu":
            raise UsageError(
                f"--classifier-backend {name} runs on the CPU, not on {device}; on {device.type} the classifier runs in "
                "PyTorch (leave --classifier-backend out, or use --device cpu)."
            )
        require_onnxruntime(f"--classifier-backend {name}")
        require_onnx_export(f"--classifier-backend {name}")  # a cached export would not need it; a first one does
    return name


class ClassifierRunner(Protocol):
    """Maps a prepared float batch ``[B, 3, T, H, W]`` (on the CPU) to float32 logits ``[B, C]``."""

    name: str

    def __call__(self, batch: torch.Tensor) -> torch.Tensor: ...


class OnnxRunner:
    """The classifier exported to ONNX and run with ONNX Runtime on the CPU."""

    name = "onnx"

    def __init__(self, model: nn.Module, *, input_shape: tuple[int, ...], cache: bool = True) -> None:
        self.input_shape = tuple(int(v) for v in input_shape)
        example = torch.zeros((2, *self.input_shape))  # a batch of 2: the exporter keeps the batch axis symbolic
        key = module_digest(model, "classifier", _EXPORT_FORMAT, type(model).__name__, self.input_shape)
        self.session = cpu_session(cached_onnx_export(model, example, key=key, cache=cache))

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.device.type != "cpu":
            raise ScsamplerError(f"the onnx classifier backend runs on the CPU; got a batch on {batch.device}.")
        if tuple(batch.shape[1:]) != self.input_shape:
            raise ScsamplerError(
                f"the onnx classifier was exported for clips of {list(self.input_shape)}, got {list(batch.shape[1:])}."
            )
        return run_session(self.session, batch)


def build_classifier_runner(
    model: nn.Module, backend: str, *, input_shape: tuple[int, ...], cache: bool = True
) -> ClassifierRunner | None:
    """The runner of ``model`` for a non-eager ``backend`` (None for ``eager``: ``Classifier`` runs the module itself).

    ``input_shape`` is one clip's prepared shape ``(3, T, H, W)``; ``cache=False`` keeps the export in memory.
    """
    backend = check_classifier_backend(backend)
    if backend == "eager":
        return None
    return OnnxRunner(model, input_shape=input_shape, cache=cache)
