"""A trained sampler network as a :class:`ScoringSampler`: cheap signals in, one saliency per clip out.

    sampler = LearnedSampler.from_checkpoint("runs/visual/sampler.pt")
    sampler = get_sampler("runs/visual/sampler")            # the bundle train-sampler writes
    sampler = get_sampler("learned", checkpoint="runs/visual/sampler.pt")

A sampler checkpoint is a scsampler checkpoint (``scsampler.models.checkpoint``) with
``model_name`` ``"sampler-visual"`` or ``"sampler-audio"``, ``model_args`` the network's
``config`` (``build_sampler_net(**model_args)`` rebuilds it), and ``sampler``: ``{"loss": ...,
"signals": {...}}``, the loss it was trained with (it decides how the output becomes saliency,
``samplers/saliency.py``) and how its signals are extracted.

The signal preparation shared by training and scoring lives here (:func:`net_inputs_from_signals`),
so a trained network sees at scoring time exactly what it saw in training.

Scoring (:meth:`LearnedSampler.score_inputs`) runs each visual input's branch (or the audio net)
on the *distinct* rows only: consecutive clips covered by one keyframe get the same I-frame, so
that branch runs once per keyframe (and once per run of identical motion grids or log-MELs, as
in a still or silent stretch). Every forward pass has the same batch size (the last batch is
padded by repeating its last row), so that a clip's score has the same bits whatever else is
scored with it: with or without that saving, at any stride. ``backend`` picks how the network
runs (``scsampler.models.sampler_backends``: eager PyTorch, or ONNX Runtime).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from scsampler._device import check_device
from scsampler.errors import ScsamplerError, UsageError, VideoError
from scsampler.samplers.base import ScoringSampler, scored_grid
from scsampler.samplers.bundle import BundleReader, BundleWriter, register_bundle_kind
from scsampler.samplers.registry import register_sampler
from scsampler.samplers.saliency import check_loss_name, saliency_from_output
from scsampler.signals.extract import IMAGE_SIZE
from scsampler.signals.shrink import shrink_images
from scsampler.types import ClipGrid, ClipScores, VideoInfo

__all__ = [
    "LearnedSampler",
    "signals_for_net",
    "net_inputs_from_signals",
    "net_inputs_key",
    "distinct_consecutive_rows",
    "apply_sampler_backend",
    "SAMPLER_CHECKPOINT_FILE",
]

SAMPLER_CHECKPOINT_FILE = "sampler.pt"
_RGB_INPUTS = ("iframe", "clipframe")  # uint8 images, shrunk once to the network's input size
_COMPARE_ROWS = 256  # neighbouring rows compared at a time by distinct_consecutive_rows
NET_INPUTS_FORMAT = 1  # bump when net_inputs_from_signals changes: cached network inputs then miss


def signals_for_net(net_config: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``extract_signals`` names a network with ``net_config`` needs."""
    if net_config["modality"] == "audio":
        return ("audio",)
    return tuple(net_config["inputs"])


def signal_options(net_config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``extract_signals`` options for a network: the audio window it was trained with (older
    networks, which do not record one, used the clip's own); for a visual one, its RGB inputs'
    sizes as ``shrink`` where they are smaller than the images are extracted, and its motion step."""
    if net_config["modality"] == "audio":
        return {"audio_window": net_config.get("audio_window", "clip")}
    # RGB inputs smaller than extracted are shrunk as they are taken: the same bits, far less memory
    sizes = _rgb_input_sizes(net_config)
    shrink = {name: size for name, size in sizes.items() if size < min(IMAGE_SIZE)}
    options: dict[str, Any] = {"shrink": shrink} if shrink else {}
    if net_config.get("motion_step") is not None:
        options["motion_step"] = int(net_config["motion_step"])
    return options


def _rgb_input_sizes(net_config: Mapping[str, Any]) -> dict[str, int]:
    """The network's input size of each RGB input it takes (``input_sizes`` where it says, else ``input_size``)."""
    sizes = dict(net_config.get("input_sizes") or {})
    return {name: int(sizes.get(name, net_config["input_size"])) for name in net_config["inputs"] if name in _RGB_INPUTS}


def net_inputs_from_signals(net_config: Mapping[str, Any], signals) -> dict[str, torch.Tensor] | None:
    """The tensors a network takes, from a ``ClipSignals``: ``{name: [L, ...]}``; None when audio is absent.

    I-frames and clip frames larger than the network's input size are shrunk once here (uint8, bilinear), so
    that cached training inputs stay small; the network resizes whatever is left.
    """
    if net_config["modality"] == "audio":
        return None if signals.audio is None else {"audio": signals.audio.float().unsqueeze(1)}
    out: dict[str, torch.Tensor] = {}
    rgb_sizes = _rgb_input_sizes(net_config)
    for name in net_config["inputs"]:
        tensor = getattr(signals, name)
        if tensor is None:
            raise ScsamplerError(f"{signals.path}: the {name} signal is missing, and the sampler needs it.")
        size = rgb_sizes.get(name)
        if size is not None and (tensor.shape[-2] > size or tensor.shape[-1] > size):
            tensor = shrink_images(tensor, size)
        out[name] = tensor
    return out


def net_inputs_key(net_config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``net_config`` that :func:`net_inputs_from_signals` (with its signals) depends on.

    A cache of network inputs keys its entries on this, so that two networks that see the same
    inputs share them (e.g. any backbone or width on the same inputs and size).
    """
    key = {name: net_config[name] for name in ("modality", "inputs", "input_size") if name in net_config}
    # per-input sizes change the inputs only for the RGB ones (shrunk once); motion is kept as extracted
    rgb_sizes = {name: size for name, size in (net_config.get("input_sizes") or {}).items() if name in _RGB_INPUTS}
    if rgb_sizes:
        key["input_sizes"] = rgb_sizes
    if net_config.get("audio_window", "clip") != "clip":  # the clip's own window keeps its older cache entries
        key["audio_window"] = net_config["audio_window"]
    if net_config.get("motion_step") is not None:
        key["motion_step"] = net_config["motion_step"]
    key["format"] = NET_INPUTS_FORMAT
    return key


def distinct_consecutive_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(distinct, inverse)`` with ``distinct[inverse] == rows``, merging runs of bit-identical consecutive rows.

    Clips that share a keyframe have the same I-frame, so comparing neighbours finds them in one
    pass. ``inverse`` is None when no two neighbours are equal (``distinct`` is then ``rows``).
    """
    if len(rows) < 2:
        return rows, None
    flat = rows.reshape(len(rows), -1).contiguous().view(torch.uint8)  # bytes: -0.0 and 0.0 stay apart
    same = torch.empty(len(rows) - 1, dtype=torch.bool, device=rows.device)
    for start in range(0, len(rows) - 1, _COMPARE_ROWS):  # in chunks: one comparison of an hour's audio is 216 MB
        stop = min(start + _COMPARE_ROWS, len(rows) - 1)
        same[start:stop] = (flat[start + 1 : stop + 1] == flat[start:stop]).all(dim=1)
    if not bool(same.any()):
        return rows, None
    first = torch.cat([torch.ones(1, dtype=torch.bool, device=same.device), ~same])
    return rows[first], torch.cumsum(first.long(), 0) - 1


def forward_net(net: nn.Module, inputs: Mapping[str, torch.Tensor], positions: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The network's output for the clips at ``positions`` of ``inputs`` (as built above)."""
    positions = torch.as_tensor(positions, dtype=torch.long)
    if "audio" in inputs:
        return net(inputs["audio"][positions])
    return net({name: tensor[positions] for name, tensor in inputs.items()})


@register_bundle_kind
class LearnedSampler(ScoringSampler):
    """Scores clips with a trained sampler network (visual or audio) from a checkpoint.

    Args:
        net: a ``VisualSamplerNet`` or ``AudioSamplerNet`` (its ``config`` says which).
        loss: the loss it was trained with: ``ac``, ``sal-cl`` or ``sal-rank``.
        checkpoint: the checkpoint dict it came from (kept to save it in a bundle).
        batch_size: clips per forward pass (every pass has this size: the last is padded). Eager PyTorch pays
            a cost per call that favours large batches on a CPU; ONNX Runtime's cost per clip is about flat from 8 to
            64 (``benchmarks/sampler_cost.py --batch-sweep``).
        cache_dir: optional signals cache folder (``extract_signals(cache_dir=...)``).
        backend: ``eager`` or ``onnx`` (``scsampler.models.sampler_backends``).
        dedup: score each run of identical consecutive inputs once (the same scores; off only to measure it).
    """

    bundle_kind = "learned"

    def __init__(
        self,
        net: nn.Module,
        *,
        loss: str,
        checkpoint: dict | None = None,
        batch_size: int = 64,
        cache_dir: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        backend: str = "eager",
        dedup: bool = True,
    ) -> None:
        self.loss = check_loss_name(loss)
        self.device = torch.device(check_device(device) or "cpu")
        self.net = net.to(self.device).eval()
        self.modality = net.config["modality"]
        # What the evaluation's ablation reports: the visual backbone, or the audio layout (and frozen layer).
        config = net.config
        self.backbone = str(config.get("backbone") or config.get("layout", "?")) + (
            f"@{config['frozen_at']}" if config.get("frozen_at") else ""
        )
        self.name = f"learned-{self.modality}-{self.loss}"
        if int(batch_size) < 1:
            raise UsageError(f"batch_size must be >= 1, got {batch_size!r}.")
        self.batch_size = int(batch_size)
        self.cache_dir = cache_dir
        self.dedup = bool(dedup)
        self._checkpoint = checkpoint
        self.set_backend(backend)

    def set_backend(self, backend: str) -> None:
        """Run the network with ``backend`` from now on (``eager`` or ``onnx``; onnx exports it once, cached)."""
        from scsampler.models.sampler_backends import build_runner, check_sampler_backend

        backend = check_sampler_backend(backend)
        if backend != "eager" and self.device.type != "cpu":
            raise UsageError(f"--sampler-backend {backend} runs on the CPU only; use --sampler-backend eager on {self.device}.")
        self.backend = backend
        self._runner = build_runner(self.net, backend)

    # --- loading -----------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **options: Any) -> "LearnedSampler":
        """Rebuild the sampler from a checkpoint written by ``scsampler train-sampler``."""
        from scsampler.models.checkpoint import load_checkpoint
        from scsampler.models.sampler_nets import build_sampler_net

        data = load_checkpoint(path)
        if not str(data["model_name"]).startswith("sampler-") or not isinstance(data.get("sampler"), dict):
            raise ScsamplerError(
                f"{os.fspath(path)}: is a checkpoint of {data['model_name']!r}, not of a sampler network; "
                "train one with `scsampler train-sampler`."
            )
        net = build_sampler_net(**dict(data["model_args"]))
        try:
            net.load_state_dict(data["state_dict"], strict=True)
        except RuntimeError as error:
            detail = " ".join(str(error).splitlines()[:2])
            raise ScsamplerError(f"{os.fspath(path)}: its state dict does not fit the sampler network ({detail}).") from None
        slim = {key: data[key] for key in ("model_name", "model_args", "classes", "state_dict", "sampler") if key in data}
        return cls(net, loss=str(data["sampler"]["loss"]), checkpoint=slim, **options)

    def to_bundle(self, bundle: BundleWriter) -> dict:
        if self._checkpoint is None:
            raise UsageError("this learned sampler was not built from a checkpoint; save it with train-sampler first.")
        checkpoint = dict(self._checkpoint)
        checkpoint["state_dict"] = self.net.state_dict()
        torch.save(checkpoint, bundle.path(SAMPLER_CHECKPOINT_FILE))
        target = dict(checkpoint.get("sampler") or {}).get("target", "label")  # what it was trained on (label, confidence, margin)
        return {"checkpoint": SAMPLER_CHECKPOINT_FILE, "modality": self.modality, "loss": self.loss, "target": target}

    @classmethod
    def from_bundle(cls, config: dict, bundle: BundleReader, **options: Any) -> "LearnedSampler":
        return cls.from_checkpoint(bundle.path(config.get("checkpoint", SAMPLER_CHECKPOINT_FILE)), **options)

    # --- scoring -----------------------------------------------------------------------------

    @property
    def signals(self) -> tuple[str, ...]:
        """The signal names this sampler reads."""
        return signals_for_net(self.net.config)

    def score_inputs(self, inputs: Mapping[str, torch.Tensor]) -> np.ndarray:
        """Saliency of every clip of ``inputs`` (from :func:`net_inputs_from_signals`), float64 [L]."""
        count = len(next(iter(inputs.values())))
        if count == 0:
            return np.zeros(0)
        with torch.inference_mode():
            if self.modality == "audio":
                output = self._part_output("audio", inputs["audio"], self.net.prepare)
            else:
                branches = self.net.branches
                output = self.net.fuse([self._part_output(name, inputs[name], branches[name].prepare) for name in self.net.inputs])
            return saliency_from_output(self.loss, output).double().cpu().numpy()

    def _part_output(self, part: str, rows: torch.Tensor, prepare) -> torch.Tensor:
        """One part's output for every row (each distinct run of rows computed once), in fixed-size batches."""
        from scsampler.signals._threads import take_thread_share

        distinct, inverse = distinct_consecutive_rows(rows) if self.dedup else (rows, None)
        outputs = []
        for start in range(0, len(distinct), self.batch_size):
            take_thread_share()  # beside another part (a composite's): the threads it has left, if it ended
            batch = distinct[start : start + self.batch_size]
            real = len(batch)
            if real < self.batch_size:  # pad: every pass has one shape, so a row's output never depends on its batch
                batch = torch.cat([batch, batch[-1:].expand(self.batch_size - real, *batch.shape[1:])])
            outputs.append(self._runner.run(part, prepare(batch.to(self.device)))[:real])
        output = torch.cat(outputs)
        return output if inverse is None else output[inverse.to(output.device)]

    def score_signals(self, signals) -> np.ndarray:
        """Saliency of every clip of a ``ClipSignals`` (float64 [L]); a VideoError when its audio is absent."""
        inputs = net_inputs_from_signals(self.net.config, signals)
        if inputs is None:
            reason = signals.audio_absent_reason or "no usable audio"
            raise VideoError(signals.path, f"has no audio to score ({reason}); use a visual sampler for it.")
        return self.score_inputs(inputs)

    def score(self, video: VideoInfo, grid: ClipGrid, *, stride: int = 1) -> ClipScores:
        from scsampler.signals import extract_signals

        scored = scored_grid(grid, stride)  # checks the stride
        if self.modality == "audio" and video.audio is None:
            raise VideoError(video.path, "has no audio track, and this audio sampler cannot score it; use a visual sampler.")
        signals = extract_signals(
            video.path, scored, signals=self.signals, info=video, cache_dir=self.cache_dir, **signal_options(self.net.config)
        )
        return ClipScores.for_grid(scored, self.score_signals(signals), source=self.name)


def apply_sampler_backend(sampler, backend: str) -> int:
    """Run every learned network inside ``sampler`` (itself, or a composite's visual and audio) with ``backend``.

    Returns how many it found; other samplers (baselines, zero-training) have no network and are left as they are.
    """
    if isinstance(sampler, LearnedSampler):
        if sampler.backend != backend:
            sampler.set_backend(backend)
        return 1
    return sum(apply_sampler_backend(part, backend) for part in (getattr(sampler, "visual", None), getattr(sampler, "audio", None)) if part is not None)


def _build(*, checkpoint: str | os.PathLike | None = None, **options: Any) -> LearnedSampler:
    if checkpoint is None:
        raise UsageError(
            "the learned sampler needs a trained network: get_sampler('learned', checkpoint=PATH), "
            "or pass the sampler folder that `scsampler train-sampler` writes (RUN_DIR/sampler)."
        )
    return LearnedSampler.from_checkpoint(checkpoint, **options)


register_sampler("learned", _build)
