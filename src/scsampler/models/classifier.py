"""``Classifier``: a clip classifier ready for inference (model + input spec + class names).

Follows the Ray Data batch-inference pattern: the model is loaded once in the
constructor, and calling the object maps a batch of decoded clips to logits
under ``torch.inference_mode()``. The same object runs in a plain loop.
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import nn

from scsampler._device import check_device
from scsampler.errors import ScsamplerError, UsageError
from scsampler.models.classifier_backends import build_classifier_runner, check_classifier_backend
from scsampler.models.checkpoint import _torch_load, is_checkpoint
from scsampler.models.preprocess import decode_size, preprocess
from scsampler.models.registry import ClassifierSpec, build_model, classifier_from_checkpoint, load_classifier, num_classes_of

__all__ = ["Classifier"]

#: Clips per forward pass on a GPU (or MPS) unless asked otherwise: batching pays there.
ACCELERATOR_BATCH_SIZE = 8


class Classifier:
    """A clip classifier in eval mode on ``device``, with its input spec and class names.

    Args:
        model: takes float ``[B, 3, T, H, W]``, returns logits ``[B, C]``.
        spec: the input it expects (clip length, sizes, normalisation).
        classes: ``C`` class names, in the order of the model's outputs.
        name: the registry name (for reports).
        pretrained: False when the weights are a random initialisation.
        backend: how the network runs on a CPU: ``eager`` (PyTorch, default) or ``onnx`` (ONNX Runtime;
            :mod:`scsampler.models.classifier_backends`). Other devices take ``eager`` only.
    """

    def __init__(
        self,
        model: nn.Module,
        spec: ClassifierSpec,
        classes: list[str],
        *,
        name: str | None = None,
        device: str | torch.device = "cpu",
        pretrained: bool = True,
        backend: str = "eager",
    ) -> None:
        if len(classes) != num_classes_of(model):
            raise UsageError(f"got {len(classes)} class names for a model with {num_classes_of(model)} outputs.")
        self.device = torch.device(check_device(device) or "cpu")  # a missing GPU: a UsageError, not a RuntimeError in .to()
        self.model = model.to(self.device).eval()
        # Channels-last 3D convolutions: 24% faster for R(2+1)D-18 and 33% for r2plus1d_tiny on this
        # CPU (benchmarks/classifier_cost.py); logits differ by ~3e-7, top-1 is the same. On CUDA it is
        # the layout cuDNN's bf16 tensor-core kernels want (benchmarks/gpu_check.sh measures it).
        self._channels_last = self.device.type in ("cpu", "cuda") and not any(p.dim() == 4 for p in self.model.parameters())
        if self._channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self.spec = spec
        self.classes = [str(c) for c in classes]
        self.name = name or spec.name
        self.pretrained = pretrained
        self.backend = check_classifier_backend(backend, device=self.device)
        # None: the module itself runs. Random weights are exported in memory only: their key never comes back.
        self._runner = build_classifier_runner(
            self.model, self.backend, input_shape=(3, spec.frames_per_clip, *spec.crop_size), cache=pretrained
        )

    @classmethod
    def load(
        cls,
        name: str | None,
        *,
        weights: str | os.PathLike | None = None,
        num_classes: int | None = None,
        device: str | torch.device = "cpu",
        backend: str = "eager",
    ) -> "Classifier":
        """Build from a registry ``name`` and ``weights`` (see ``get_model``), or from a checkpoint.

        With ``name=None``, ``weights`` must be a scsampler checkpoint, which
        names its model. Without weights the model is randomly initialised
        (a warning says so) and its classes are called ``class_0``, ...
        ``backend``: see :class:`Classifier` (checked before any model loads).
        """
        check_classifier_backend(backend, device=check_device(device) or "cpu")
        if name is None:
            if weights is None:
                raise UsageError(
                    "give a classifier name (--classifier NAME), or a scsampler checkpoint as weights (--weights PATH)."
                )
            return cls.from_checkpoint(weights, device=device, backend=backend)
        if weights is not None and os.path.isfile(os.fspath(weights)):
            data = _torch_load(weights)
            if is_checkpoint(data):
                model, spec, classes = classifier_from_checkpoint(data, source=weights)
                if spec.name != name:
                    raise ScsamplerError(
                        f"{os.fspath(weights)}: is a checkpoint of {spec.name}, not {name}; "
                        f"use --classifier {spec.name} (or leave the name out)."
                    )
                if num_classes is None or num_classes == len(classes):
                    return cls(model, spec, classes, name=name, device=device, backend=backend)
            del data  # a plain state dict (or a head to replace): build_model reads it
        model, classes = build_model(name, weights=weights, num_classes=num_classes)
        if weights is None:
            warnings.warn(f"no weights given for {name}: its predictions come from a random initialisation.", stacklevel=2)
        if classes is None:
            classes = [f"class_{i}" for i in range(num_classes_of(model))]
        from scsampler.models.registry import get_model_spec

        return cls(
            model, get_model_spec(name), classes, name=name, device=device, pretrained=weights is not None, backend=backend
        )

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike, *, device: str | torch.device = "cpu", backend: str = "eager"
    ) -> "Classifier":
        """Rebuild a classifier from a scsampler checkpoint alone (loaded with ``weights_only=True``)."""
        model, spec, classes = load_classifier(path)
        return cls(model, spec, classes, name=spec.name, device=device, backend=backend)

    @property
    def frames_per_clip(self) -> int:
        return self.spec.frames_per_clip

    @property
    def batch_size(self) -> int:
        """The forward batch that costs least per clip here: the spec's ``cpu_batch_size`` on a CPU (1 for
        the full-size networks), else :data:`ACCELERATOR_BATCH_SIZE`. Every caller's default batch."""
        return self.spec.cpu_batch_size if self.device.type == "cpu" else ACCELERATOR_BATCH_SIZE

    def decode_size(self, *, height: int, width: int) -> tuple[int, int]:
        """The ``(height, width)`` to decode a ``height`` x ``width`` video at for this classifier."""
        return decode_size(self.spec, height=height, width=width)

    def prepare(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, T, H, W]`` clips -> the model's normalised float input, on ``device``.

        On CUDA the uint8 clips cross from pinned host memory without blocking (a quarter of the
        bytes of float input) and are normalised on the GPU.
        """
        if self.device.type == "cuda":
            clips = clips.pin_memory().to(self.device, non_blocking=True)
        elif self.device.type != "cpu":
            clips = clips.to(self.device)
        return preprocess(clips, self.spec)

    def forward_preprocessed(self, batch: torch.Tensor) -> torch.Tensor:
        """The model on a batch from :meth:`prepare` -> float32 logits ``[B, C]`` on the CPU.

        On CUDA under bf16 autocast (the GPU's fast path; logits are returned as float32); on the CPU
        through ``backend`` (eager: the module, channels-last).
        """
        with torch.inference_mode():
            if self._runner is not None:
                return self._runner(batch)
            if self._channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last_3d)
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    return self.model(batch).float().cpu()
            return self.model(batch).float().cpu()

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, T, H, W]`` clips -> float32 logits ``[B, C]`` on the CPU."""
        with torch.inference_mode():
            return self.forward_preprocessed(self.prepare(clips))
