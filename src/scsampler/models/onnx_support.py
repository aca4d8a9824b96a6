"""Export a PyTorch module to ONNX once (cached on disk) and run it with ONNX Runtime on the CPU.

    model = cached_onnx_export(module, torch.zeros(2, 3, 16, 112, 112), key=module_digest(module, "my-net"))
    session = cpu_session(model)
    (logits,) = session.run(None, {"x": batch.numpy()})

Small and model-agnostic on purpose, so that any network's backend can share it (the clip
classifier's ``onnx`` backend uses it: :mod:`scsampler.models.classifier_backends`):

- the export uses the TorchScript exporter (``torch.onnx.export(dynamo=False)``), which needs
  ``onnx`` (torch 2.14 loads every exported model with it) but not ``onnxscript``, unlike the
  dynamo exporter; only the batch axis is dynamic. On this CPU its graphs run
  as fast as the dynamo exporter's (R(2+1)D-18, measured with both, alternated);
- exported files are kept in :func:`onnx_cache_dir` (``$SCSAMPLER_CACHE_DIR/onnx``, default
  ``~/.cache/scsampler/onnx``), named by a key the caller derives from what decides the graph
  (:func:`module_digest`: the weights, the torch version, the caller's own tags), written
  atomically; where that folder cannot be written, the export stays in memory;
- a session uses as many intra-op threads as torch would (``torch.get_num_threads()``, which
  ``--threads`` and ``OMP_NUM_THREADS`` set), so that the two never oversubscribe the cores.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from scsampler._atomic import atomic_output
from scsampler.errors import UsageError

__all__ = [
    "ONNXRUNTIME_PIN",
    "ONNX_PIN",
    "require_onnxruntime",
    "require_onnx_export",
    "onnx_cache_dir",
    "module_digest",
    "export_onnx",
    "cached_onnx_export",
    "cpu_session",
    "run_session",
    "ONNX_TOLERANCE",
]

#: The onnxruntime release scsampler is tested with (what ``pip install`` should name).
ONNXRUNTIME_PIN = "onnxruntime==1.23.2"
#: The onnx release the exporter is tested with (torch's TorchScript exporter imports it).
ONNX_PIN = "onnx==1.23.2"
_INPUT, _OUTPUT = "x", "y"
#: Largest difference of an ONNX Runtime output to eager's, relative to the largest eager output (float32 sums in
#: another order: measured 4e-7 to 2e-5 of the scale on the sampler nets, R(2+1)D-18 and the demo's classifier).
ONNX_TOLERANCE = 1e-4


def require_onnxruntime(option: str):
    """The ``onnxruntime`` module, or a UsageError telling how to install it (``option``: what asked for it)."""
    try:
        import onnxruntime
    except ImportError:
        raise UsageError(f"{option} needs the onnxruntime package: pip install {ONNXRUNTIME_PIN}.") from None
    return onnxruntime


def require_onnx_export(option: str) -> None:
    """A UsageError telling how to install ``onnx`` when it is missing: ``torch.onnx.export`` needs it to export."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UsageError(f"{option} needs the onnx package to export the model: pip install {ONNX_PIN}.") from None


def onnx_cache_dir() -> Path:
    """Where exported models are kept: ``$SCSAMPLER_CACHE_DIR/onnx``, else ``${XDG_CACHE_HOME:-~/.cache}/scsampler/onnx``."""
    root = os.environ.get("SCSAMPLER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "scsampler"
    )
    return Path(root) / "onnx"


def module_digest(module: nn.Module, *tags: object) -> str:
    """A hash of what decides an exported graph: ``tags`` (JSON-able), the torch version, and every parameter and buffer."""
    digest = hashlib.sha256()
    digest.update(json.dumps([torch.__version__, *tags], sort_keys=True, default=str).encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def export_onnx(module: nn.Module, example: torch.Tensor) -> bytes:
    """``module`` (in eval mode) as an ONNX model: one input ``x`` shaped like ``example`` but for the batch, one output ``y``."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        with torch.no_grad():
            torch.onnx.export(
                module.eval(), (example,), buffer, dynamo=False, input_names=[_INPUT], output_names=[_OUTPUT],
                dynamic_axes={_INPUT: {0: "batch"}, _OUTPUT: {0: "batch"}},
            )  # fmt: skip
    return buffer.getvalue()


def cached_onnx_export(
    module: nn.Module, example: torch.Tensor, *, key: str, folder: str | os.PathLike | None = None, cache: bool = True
) -> bytes | str:
    """The exported model: a cached file's path, or the bytes of a fresh export (then also written to the cache).

    ``cache=False`` exports in memory and writes nothing (e.g. randomly initialised weights, whose
    key would never be asked for again).
    """
    path = (Path(folder) if folder is not None else onnx_cache_dir()) / f"{key}.onnx"
    if cache and path.is_file():
        return str(path)
    model = export_onnx(module, example)
    if cache:
        try:
            with atomic_output(path) as temporary:
                temporary.write_bytes(model)
        except OSError:
            pass  # a read-only or full cache folder: the export is used from memory, as correct, only not kept
    return model


def cpu_session(model: bytes | str, *, threads: int | None = None):
    """An ONNX Runtime session on the CPU for ``model`` (bytes or a path), ``threads`` intra-op threads (None: torch's)."""
    onnxruntime = require_onnxruntime("ONNX Runtime")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise here
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def run_session(session, x: torch.Tensor) -> torch.Tensor:
    """``session``'s output for the CPU tensor ``x`` (the exported model's one input and one output), as a tensor."""
    (output,) = session.run(None, {_INPUT: x.float().contiguous().numpy()})
    return torch.from_numpy(output)
