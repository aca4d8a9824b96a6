"""Train a sampler network (visual or audio) on saliency targets, with AC, SAL-CL or SAL-RANK.

Reads top to bottom: recipes, data (signals extracted once per video and cached in the run
folder), batches, validation quality, then :func:`train_sampler`, the loop.

**Recipes** (SPEC "Training recipes", :func:`sampler_recipe`):

- visual, every loss: lr 0.001, divided by 10 when the validation quality (precision of the
  top-K against the oracle's) has not improved for ``patience`` epochs; ImageNet layers at a
  100x smaller rate. 20 epochs (the paper gives no count).
- audio SAL-RANK: lr 0.01 (``paper``, Sports1M) or 0.03 (``paper-kinetics``) for 5 epochs,
  then /10 every 5 epochs, 15 epochs; AudioSet layers at 0.05x.
- audio SAL-CL: lr 0.001 for 10 epochs, then /10 for 6 more (16 epochs).
- audio AC: lr 0.001, /10 every 5 epochs (15 epochs).
- SGD with momentum 0.9 for the paper's recipes; ``cpu``: Adam, lr 0.003, 8 epochs, /10 at
  epoch 6, for tiny networks on small data.
- ``cpu`` AC: 15 epochs, weight decay 0.05 and label smoothing 0.1 (the paper's recipes keep
  plain cross-entropy). Why: most clips of an untrimmed video are background that carries the
  video's label in AC's cross-entropy; on a small set a tiny net memorises each video's
  background, becomes as confident there as on the actions, and its saliency (max softmax)
  ranks no better than Random. Strong weight decay and smoothing keep it from fitting
  background to its label, so it is confident only where the class is visible (an action);
  with the best epoch by validation precision its top-K beats Random (tests/test_train_sampler.py).
  On the synthetic set AC ranks best on the I-frame alone: its class cue is colour, and the
  motion branch (class-agnostic camera pans and distractors) only dilutes the fused softmax.

**Batches**: AC and SAL-CL draw clips at random over all training videos. SAL-RANK batches hold
``clips_per_video`` clips of each of ``batch_size // clips_per_video`` videos, since its pairs
only exist within a video.

**Validation** (every epoch, on the ``val`` split of the targets, or on a seeded 20% of the
training videos when there is none, with a warning: validation videos should be shaped like
the test videos, long and untrimmed): per video, the precision of the sampler's top-K
(``K = min(k, L)``) against the action segments (the targets' ``in_segment``, where
``segments.csv`` exists), and against the oracle's top-K (the K clips with the classifier's
highest true-class probability), each beside Random's expectation; and the Spearman rank
correlation between the saliency and the true-class probability. Means over videos. The
*selection measure* (:func:`selection_measure`) is the segment precision where segments are
known, else the oracle precision: it picks the best epoch, drives the plateau schedule and
stops training early (``early_stop_patience`` epochs without a better measure).

**SAL-RANK pairs**: ``rank_min_gap`` keeps only pairs whose targets differ by more than the
gap (see ``training/losses.py``).

**Targets** (``target``, :data:`SAMPLER_TARGETS`): ``label`` (the paper's: SAL-RANK orders clips by
the true-class probability, SAL-CL's salient is "the classifier's top-1 is right") needs
labelled videos; ``confidence`` (the classifier's max softmax), ``margin`` (its top-1 minus
top-2 probability) and ``contrast`` (KL divergence of the clip's softmax from the video's mean
softmax: ``targets.video_contrast``) need none, so a sampler can be trained on unlabelled footage. SAL-RANK
then orders pairs by that target. SAL-CL's salient is "the target is above a threshold chosen
on the training clips" (:func:`salient_threshold`): the clips above it are the training clips'
top share ``s``, with ``s`` the mean confidence over the training clips, clipped to
[0.05, 0.95], unless ``salient_share`` sets it. Why that share: for a calibrated classifier the
mean max-softmax is its expected clip accuracy, i.e. the share of clips a labelled SAL-CL run
would call salient, so the unlabelled run has about the labelled run's balance of positives.
AC trains on the labels themselves and is refused with another target. Validation without
labels: the oracle precision and the Spearman correlation need the true class and are NaN;
``target_precision`` (the top-K against the top-K by the target) stands in for the oracle
precision as the selection measure when the validation videos have no segments either (a
warning says so: it measures agreement with the classifier, not finding the action).

**Outputs** in RUN_DIR: ``metrics.jsonl`` (one line per epoch), ``last.pt`` (resumes),
``sampler.pt`` (the best epoch by the selection measure) and ``sampler/`` (a sampler bundle of
it, for ``--sampler RUN_DIR/sampler``), ``signals/`` (the cached network inputs).
Under torchrun the batches are shared over the ranks (DDP) and rank 0 writes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from scsampler._atomic import atomic_output, write_text_atomically
from scsampler.errors import DataWarning, ScsamplerError, UsageError
from scsampler.metrics import precision_at_k, spearman
from scsampler.models.sampler_nets import (
    AUDIO_LAYOUTS,
    VISUAL_BACKBONES,
    build_sampler_net,
    canonical_backbone,
    parameter_groups,
)
from scsampler.samplers.learned import forward_net, net_inputs_from_signals, net_inputs_key, signal_options, signals_for_net
from scsampler.samplers.saliency import check_loss_name, saliency_from_output
from scsampler.training.losses import ac_loss, output_size, sal_cl_loss, sal_rank_loss
from scsampler.training.schedule import warmup_step_decay
from scsampler.training.targets import grid_from_targets, read_targets

__all__ = [
    "SamplerRecipe",
    "SAMPLER_PRESETS",
    "sampler_recipe",
    "SAMPLER_TARGETS",
    "salient_threshold",
    "SamplerTrainConfig",
    "SamplerTrainResult",
    "train_sampler",
    "sampler_quality",
    "selection_measure",
    "epoch_batches",
]

SAMPLER_PRESETS = ("paper", "paper-kinetics", "cpu")
#: What SAL-RANK orders and SAL-CL thresholds: the true-class probability, or the classifier's label-free confidence.
SAMPLER_TARGETS = ("label", "confidence", "margin", "contrast")
#: Fewer validation videos than this draw a warning: the best epoch would be picked by noise.
MIN_VALIDATION_VIDEOS = 8


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class SamplerRecipe:
    """Optimiser and schedule of a sampler run. ``schedule``: ``step`` or ``plateau``."""

    name: str
    epochs: int
    lr: float
    schedule: str
    decay_every_epochs: float | None = None  # step: divide by 10 every this many epochs
    patience: int = 2  # plateau: epochs without improvement before dividing by 10
    pretrained_lr_scale: float = 1.0
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 32
    clips_per_video: int = 8  # SAL-RANK: clips of one video per batch
    label_smoothing: float = 0.0  # AC: cross-entropy label smoothing (0 in the paper's recipes)
    rank_min_gap: float = 0.0  # SAL-RANK: only pairs whose targets differ by more than this
    early_stop_patience: int = 0  # stop after this many epochs without a better validation measure; 0: never

    def to_dict(self) -> dict:
        return asdict(self)


def sampler_recipe(*, modality: str, loss: str, preset: str = "paper") -> SamplerRecipe:
    """The default recipe for ``modality`` x ``loss`` (see the module docstring)."""
    check_loss_name(loss)
    if preset not in SAMPLER_PRESETS:
        raise UsageError(f"unknown sampler recipe {preset!r}; choose one of {', '.join(SAMPLER_PRESETS)}.")
    if modality not in ("visual", "audio"):
        raise UsageError(f"modality must be 'visual' or 'audio', got {modality!r}.")
    if preset == "cpu":
        recipe = SamplerRecipe(
            name=f"cpu-{modality}-{loss}", epochs=8, lr=0.003, schedule="step", decay_every_epochs=6,
            optimizer="adam", weight_decay=0.0, batch_size=32, clips_per_video=8,
            pretrained_lr_scale=0.01 if modality == "visual" else 0.05,
        )  # fmt: skip
        if loss == "ac":  # see the module docstring: keep AC from memorising background
            recipe = replace(recipe, epochs=15, weight_decay=0.05, label_smoothing=0.1)
        return recipe
    if modality == "visual":
        return SamplerRecipe(name=f"{preset}-visual-{loss}", epochs=20, lr=0.001, schedule="plateau", pretrained_lr_scale=0.01)
    if loss == "sal-rank":
        lr = 0.03 if preset == "paper-kinetics" else 0.01
        return SamplerRecipe(
            name=f"{preset}-audio-sal-rank", epochs=15, lr=lr, schedule="step", decay_every_epochs=5, pretrained_lr_scale=0.05
        )
    if loss == "sal-cl":
        return SamplerRecipe(name=f"{preset}-audio-sal-cl", epochs=16, lr=0.001, schedule="step", decay_every_epochs=10)
    return SamplerRecipe(name=f"{preset}-audio-ac", epochs=15, lr=0.001, schedule="step", decay_every_epochs=5)


# --------------------------------------------------------------------------- data


@dataclass
class ClipTable:
    """The network inputs and targets of every clip of a set of videos, concatenated."""

    inputs: dict[str, torch.Tensor]
    label: torch.Tensor  # video label index, per clip
    correct: torch.Tensor  # bool: the classifier's top-1 is the label
    true_prob: torch.Tensor  # the classifier's probability of the label
    video: torch.Tensor  # video number, per clip
    paths: list[str] = field(default_factory=list)
    in_segment: torch.Tensor | None = None  # float per clip: 1 in an action segment, 0 not, NaN unknown
    rank_target: torch.Tensor | None = None  # SAL-RANK's target when not true_prob (confidence, margin or contrast)
    salient: torch.Tensor | None = None  # SAL-CL's target when not correct (rank_target above a threshold)

    def __len__(self) -> int:
        return len(self.label)

    def video_positions(self) -> list[np.ndarray]:
        """Clip positions of each video, in clip order."""
        video = self.video.numpy()
        return [np.flatnonzero(video == v) for v in range(len(self.paths))]


def _cache_file(cache_dir: Path, path: str, net_config: dict, grid_key: str) -> Path:
    key = net_inputs_key(net_config)
    stat = os.stat(path)
    text = json.dumps([os.path.abspath(path), stat.st_size, stat.st_mtime_ns, key, grid_key], sort_keys=True)
    return cache_dir / f"{hashlib.sha1(text.encode()).hexdigest()[:16]}.pt"


def load_video_inputs(path: str, rows: pd.DataFrame, *, net_config: dict, frames_per_clip: int, cache_dir: Path) -> dict | None:
    """The network inputs of one video's clips (extracted once, then read from ``cache_dir``); None without audio."""
    from scsampler.signals import extract_signals

    grid = grid_from_targets(rows, frames_per_clip=frames_per_clip)
    grid_key = hashlib.sha1(np.ascontiguousarray(grid.start_frame).tobytes() + np.ascontiguousarray(grid.end_frame).tobytes()).hexdigest()
    file = _cache_file(cache_dir, path, net_config, grid_key)
    if file.is_file():
        stored = torch.load(file, map_location="cpu", weights_only=True)
        return stored["inputs"] if stored["inputs"] else None
    signals = extract_signals(path, grid, signals=signals_for_net(net_config), **signal_options(net_config))
    inputs = net_inputs_from_signals(net_config, signals)
    with atomic_output(file) as temporary:
        torch.save({"inputs": inputs or {}}, temporary)
    return inputs


def build_table(
    targets: pd.DataFrame,
    paths: list[str],
    *,
    net_config: dict,
    frames_per_clip: int,
    cache_dir: Path,
    on_skip: Callable[[str, str], None] | None = None,
    target: str = "label",
) -> ClipTable:
    """The :class:`ClipTable` of the videos ``paths`` (videos without usable audio are skipped for audio).

    ``target`` ``confidence``, ``margin`` or ``contrast`` fills ``rank_target`` from that column.
    """
    parts: dict[str, list[torch.Tensor]] = {}
    labels, correct, true_prob, video, kept, in_segment, ranked = [], [], [], [], [], [], []
    for path in paths:
        rows = targets[targets["path"] == path].sort_values("clip_index")
        try:
            inputs = load_video_inputs(path, rows, net_config=net_config, frames_per_clip=frames_per_clip, cache_dir=cache_dir)
        except ScsamplerError as error:
            if on_skip:
                on_skip(path, str(error))
            continue
        if inputs is None:
            if on_skip:
                on_skip(path, "no audio")
            continue
        for name, tensor in inputs.items():
            parts.setdefault(name, []).append(tensor)
        count = len(rows)
        labels.append(torch.as_tensor(rows["label_index"].to_numpy(copy=True), dtype=torch.long))
        # an unlabelled video's correct is null: False here, and never a target (no SAL-CL on labels for it)
        correct.append(torch.as_tensor(rows["correct"].to_numpy(dtype=bool, na_value=False, copy=True), dtype=torch.bool))
        true_prob.append(torch.as_tensor(rows["true_prob"].to_numpy(dtype=np.float64, copy=True), dtype=torch.float32))
        if target != "label":
            ranked.append(torch.as_tensor(rows[target].to_numpy(dtype=np.float64, copy=True), dtype=torch.float32))
        known = rows["in_segment"].to_numpy(dtype=np.float64, copy=True) if "in_segment" in rows else np.full(count, np.nan)
        in_segment.append(torch.as_tensor(known, dtype=torch.float32))
        video.append(torch.full((count,), len(kept), dtype=torch.long))
        kept.append(path)
    if not kept:
        return ClipTable({}, torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.bool), torch.zeros(0), torch.zeros(0, dtype=torch.long), [])
    return ClipTable(
        inputs={name: torch.cat(tensors) for name, tensors in parts.items()},
        label=torch.cat(labels),
        correct=torch.cat(correct),
        true_prob=torch.cat(true_prob),
        video=torch.cat(video),
        paths=kept,
        in_segment=torch.cat(in_segment),
        rank_target=torch.cat(ranked) if ranked else None,
    )


def salient_threshold(target: torch.Tensor, confidence: torch.Tensor, *, share: float | None = None) -> tuple[float, float]:
    """SAL-CL's threshold on ``target`` for "salient" without labels, and the share of clips it keeps.

    The clips above the threshold are the top ``share`` of ``target`` (the training clips'); by
    default ``share`` is the mean ``confidence`` clipped to [0.05, 0.95], the calibrated estimate
    of the classifier's clip accuracy (the salient share of a labelled run). See the module docstring.
    """
    if share is None:
        share = float(np.clip(float(confidence.double().mean()), 0.05, 0.95))
    if not 0.0 < share < 1.0:
        raise UsageError(f"--salient-share must lie strictly between 0 and 1, got {share}.")
    return float(torch.quantile(target.double(), 1.0 - share)), share


def split_videos(targets: pd.DataFrame, *, seed: int, val_fraction: float = 0.2) -> tuple[list[str], list[str]]:
    """Training and validation videos: the ``train`` and ``val`` splits, else a seeded hold-out of train."""
    by_split = targets.groupby("path", sort=False)["split"].first()
    train = [p for p, s in by_split.items() if s == "train"]
    val = [p for p, s in by_split.items() if s == "val"]
    if not train:  # no split column values: every video is training material
        train = [p for p, s in by_split.items() if s not in ("val", "test")]
    if not val:
        rng = np.random.default_rng(seed)
        order = list(rng.permutation(len(train)))
        count = max(1, int(round(val_fraction * len(train)))) if len(train) > 1 else 0
        val = [train[i] for i in sorted(order[:count])]
        train = [train[i] for i in sorted(order[count:])]
        warnings.warn(
            f"the targets hold no 'val' split: validating on {count} of the training videos held out; "
            "label a val split of videos shaped like the test videos (as long, as untrimmed) to validate on what matters.",
            DataWarning,
            stacklevel=2,
        )
    elif len(val) < MIN_VALIDATION_VIDEOS:
        warnings.warn(
            f"the targets' 'val' split holds {len(val)} videos: the validation measure that picks the best epoch "
            f"moves in steps of 1/{len(val)}; label at least {MIN_VALIDATION_VIDEOS} validation videos.",
            DataWarning,
            stacklevel=2,
        )
    if not train:
        raise UsageError("the targets hold no training video (split 'train'); label a manifest with a train split.")
    return train, val


def input_statistics(table: ClipTable) -> dict[str, tuple[list[float], list[float]]]:
    """Per-channel mean and std of each input over the training clips (one scalar for audio)."""
    stats = {}
    for name, tensor in table.inputs.items():
        x = tensor.float()
        if name == "audio":
            stats[name] = ([float(x.mean())], [float(x.std())])
        else:
            dims = [0, 2, 3]
            stats[name] = (x.mean(dim=dims).tolist(), x.std(dim=dims).tolist())
    return stats


def _apply_statistics(net: nn.Module, stats: dict) -> None:
    for name, (mean, std) in stats.items():
        if name == "audio":
            net.set_input_stats(mean=mean[0], std=std[0])
        else:
            net.set_input_stats(name, mean=mean, std=std)


# --------------------------------------------------------------------------- batches


def epoch_batches(
    table: ClipTable, *, loss: str, batch_size: int, clips_per_video: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """The clip positions of each batch of one epoch (every clip once; batches of fewer than 2 dropped).

    SAL-RANK: groups of ``clips_per_video`` clips of one video, ``batch_size // clips_per_video``
    groups per batch; the others: a random permutation of all clips.
    """
    if loss != "sal-rank":
        order = rng.permutation(len(table))
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        return [b for b in batches if len(b) >= 2]
    groups = []
    for positions in table.video_positions():
        shuffled = rng.permutation(positions)
        groups += [shuffled[i : i + clips_per_video] for i in range(0, len(shuffled), clips_per_video)]
    groups = [g for g in groups if len(g) >= 2]
    order = rng.permutation(len(groups))
    per_batch = max(1, batch_size // clips_per_video)
    return [np.concatenate([groups[j] for j in order[i : i + per_batch]]) for i in range(0, len(order), per_batch)]


def batch_loss(
    net: nn.Module, table: ClipTable, positions: np.ndarray, *, loss: str, label_smoothing: float = 0.0, rank_min_gap: float = 0.0
) -> torch.Tensor:
    """The loss of one batch of clip positions (``label_smoothing``: AC only; ``rank_min_gap``: SAL-RANK only)."""
    index = torch.as_tensor(positions, dtype=torch.long)
    output = forward_net(net, table.inputs, index)
    if loss == "ac":
        return ac_loss(output, table.label[index], label_smoothing=label_smoothing)
    if loss == "sal-cl":
        return sal_cl_loss(output, (table.correct if table.salient is None else table.salient)[index])
    ranked = table.true_prob if table.rank_target is None else table.rank_target
    return sal_rank_loss(output, ranked[index], table.video[index], min_gap=rank_min_gap)


# --------------------------------------------------------------------------- quality


@torch.no_grad()
def table_saliency(net: nn.Module, table: ClipTable, *, loss: str, batch_size: int = 128) -> np.ndarray:
    """Saliency of every clip of ``table`` (float64), the network in eval mode."""
    was_training = net.training
    net.eval()
    scores = []
    for start in range(0, len(table), batch_size):
        positions = torch.arange(start, min(start + batch_size, len(table)))
        scores.append(saliency_from_output(loss, forward_net(net, table.inputs, positions)).double())
    net.train(was_training)
    return torch.cat(scores).cpu().numpy() if scores else np.zeros(0)


def _best_first(values: np.ndarray) -> np.ndarray:
    return np.lexsort((np.arange(len(values)), -values))


def sampler_quality(saliency: np.ndarray, table: ClipTable, *, k: int) -> dict[str, float]:
    """How well the saliency ranks each video's clips; means over videos.

    - ``precision_at_k``: of the top-K (``K = min(k, L)``), the fraction among the oracle's
      top-K (the clips with the classifier's highest true-class probability);
      ``random_precision_at_k`` is Random's expectation, ``K / L``.
    - ``segment_precision``: of the top-K, the fraction that overlap an action segment
      (``in_segment``), over the videos whose segments are known and hold at least one clip;
      ``random_segment_precision`` is Random's expectation there (the fraction of clips in a
      segment), ``segment_videos`` their count. This is what a sampler is for, and it does not
      inherit the noise of a weak classifier's scores.
    - ``spearman``: rank correlation of the saliency with the true-class probability.
    - ``target_precision``: of the top-K, the fraction among the top-K by ``rank_target`` (the
      confidence or margin a sampler was trained on without labels); NaN without one.

    Unlabelled videos (true-class probability NaN) have no oracle: they count in neither
    ``precision_at_k`` nor ``spearman`` (``oracle_videos`` counts those that do).
    """
    precisions, randoms, correlations, on_target = [], [], [], []
    on_segments, random_on_segments = [], []
    true_prob = table.true_prob.double().cpu().numpy()
    in_segment = None if table.in_segment is None else table.in_segment.double().cpu().numpy()
    ranked = None if table.rank_target is None else table.rank_target.double().cpu().numpy()
    for positions in table.video_positions():
        if len(positions) == 0:
            continue
        top = min(k, len(positions))
        chosen = _best_first(saliency[positions])[:top]
        randoms.append(top / len(positions))
        if ranked is not None:
            on_target.append(precision_at_k(chosen.tolist(), _best_first(ranked[positions])[:top].tolist()))
        if np.isfinite(true_prob[positions]).all():
            oracle = _best_first(true_prob[positions])[:top]
            precisions.append(precision_at_k(chosen.tolist(), oracle.tolist()))
            rho = spearman(saliency[positions], true_prob[positions])
            if not math.isnan(rho):
                correlations.append(rho)
        if in_segment is not None:
            inside = in_segment[positions]
            if not np.isnan(inside).any() and inside.sum() > 0:
                on_segments.append(float(inside[chosen].mean()))
                random_on_segments.append(float(inside.mean()))
    nan = float("nan")
    return {
        "precision_at_k": float(np.mean(precisions)) if precisions else nan,
        "random_precision_at_k": float(np.mean(randoms)) if randoms else nan,
        "segment_precision": float(np.mean(on_segments)) if on_segments else nan,
        "random_segment_precision": float(np.mean(random_on_segments)) if random_on_segments else nan,
        "spearman": float(np.mean(correlations)) if correlations else nan,
        "target_precision": float(np.mean(on_target)) if on_target else nan,
        "videos": len(randoms),
        "oracle_videos": len(precisions),
        "segment_videos": len(on_segments),
    }


def selection_measure(quality: dict[str, float]) -> tuple[str, float]:
    """The validation measure that picks the best epoch and stops training early, and its value.

    Precision of the top-K against the action segments where the validation videos have them,
    else precision against the oracle (labelled videos), else against the top-K by the training
    target (unlabelled videos); NaN when there is no validation video.
    """
    if quality.get("segment_videos", 0) > 0:
        return "segment_precision", float(quality["segment_precision"])
    if quality.get("oracle_videos", quality.get("videos", 0)) == 0 and not math.isnan(quality.get("target_precision", math.nan)):
        return "target_precision", float(quality["target_precision"])
    return "precision_at_k", float(quality["precision_at_k"])


# --------------------------------------------------------------------------- the loop


@dataclass
class SamplerTrainConfig:
    """Options of :func:`train_sampler` (None takes the recipe's value)."""

    targets: Path
    run_dir: Path
    modality: str = "visual"
    loss: str = "sal-rank"
    target: str = "label"  # one of SAMPLER_TARGETS
    salient_share: float | None = None  # SAL-CL without labels: share of training clips called salient (None: mean confidence)
    backbone: str = "tiny"
    inputs: tuple[str, ...] = ("iframe", "motion")
    fusion: str = "mean"
    frozen_at: str | None = None
    audio_window: str = "clip"  # audio: the log-MEL's window, "clip" or "centred-2s" (signals/audio.py)
    pretrained: str | None = None
    input_size: int | None = None  # visual: backbone input size (None: 112, or 64 for tiny)
    input_sizes: dict[str, int] = field(default_factory=dict)  # visual: per-input sizes (e.g. {"motion": 16}) where they differ
    width: int = 16  # visual tiny backbone: channels of its first layer
    signals_cache: Path | None = None  # cached network inputs (None: RUN_DIR/signals)
    preset: str = "cpu"
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    clips_per_video: int | None = None
    decay_every_epochs: float | None = None
    rank_min_gap: float | None = None
    early_stop: int | None = None  # patience in epochs; 0 = never stop early
    k: int = 10
    seed: int = 0
    resume: bool = True
    device: str | None = None


@dataclass
class SamplerTrainResult:
    run_dir: Path
    start_epoch: int
    epochs: int
    history: list[dict]
    best: dict | None
    checkpoint: Path | None
    bundle: Path | None
    seconds: float
    stopped_early: bool = False  # the validation measure stopped improving before the last epoch


def _net_options(config: SamplerTrainConfig, *, num_classes: int) -> dict:
    out = output_size(config.loss, num_classes=num_classes)
    if config.modality == "visual":
        backbone = canonical_backbone(config.backbone)
        if backbone not in VISUAL_BACKBONES:
            raise UsageError(
                f"--backbone {config.backbone!r} is not a visual backbone; choose one of {', '.join(VISUAL_BACKBONES)} (or shufflenet)."
            )
        if config.frozen_at is not None:
            raise UsageError("--frozen-at applies to the audio sampler only.")
        if config.audio_window != "clip":
            raise UsageError("--audio-window applies to the audio sampler only.")
        return dict(
            modality="visual", inputs=tuple(config.inputs), backbone=backbone, out_features=out, fusion=config.fusion,
            input_size=config.input_size, width=config.width,
            # an alternative without an input leaves its size out (--inputs 'iframe|iframe,motion' with motion=16)
            input_sizes={name: size for name, size in config.input_sizes.items() if name in config.inputs},
        )  # fmt: skip
    if config.modality == "audio":
        if config.backbone not in AUDIO_LAYOUTS:
            raise UsageError(f"--backbone {config.backbone!r} is not an audio backbone; choose one of {', '.join(AUDIO_LAYOUTS)}.")
        return dict(
            modality="audio", layout=config.backbone, out_features=out, frozen_at=config.frozen_at, audio_window=config.audio_window
        )
    raise UsageError(f"--modality must be visual or audio, got {config.modality!r}.")


def _save_atomically(obj: Any, path: Path) -> None:
    with atomic_output(path) as temporary:
        torch.save(obj, temporary)


def _checkpoint(net: nn.Module, *, classes: list[str], sampler: dict, **extra: Any) -> dict:
    module = getattr(net, "module", net)
    config = dict(module.config)
    if "inputs" in config:
        config["inputs"] = list(config["inputs"])
    return {
        "model_name": f"sampler-{config['modality']}",
        "model_args": config,
        "classes": list(classes),
        "state_dict": module.state_dict(),
        "sampler": sampler,
        **extra,
    }


def train_sampler(
    config: SamplerTrainConfig, *, on_epoch: Callable[[dict], None] | None = None, on_skip: Callable[[str, str], None] | None = None
) -> SamplerTrainResult:
    """Train a sampler network on a targets file (see the module docstring); resumes from ``last.pt``."""
    from scsampler.training.distributed import all_reduce_sum, barrier, init_distributed, shutdown_distributed

    started = time.perf_counter()
    check_loss_name(config.loss)
    if config.k < 1:
        raise UsageError(f"--k must be a positive integer, got {config.k}.")
    if config.target not in SAMPLER_TARGETS:
        raise UsageError(f"unknown --target {config.target!r}; choose one of {', '.join(SAMPLER_TARGETS)}.")
    if config.loss == "ac" and config.target != "label":
        raise UsageError(
            f"--loss ac is not defined for --target {config.target}: AC trains on the video labels themselves; "
            "without labels use --loss sal-rank or sal-cl."
        )
    targets, meta = read_targets(config.targets)
    if config.target == "label" and (targets["label_index"] < 0).any():
        raise UsageError(
            f"{config.targets}: holds unlabelled videos (no true-class probability), and --target label needs labels; "
            "train with --target confidence or --target margin (or contrast)."
        )
    classes = list(meta["classes"])
    frames_per_clip = int(meta["frames_per_clip"])
    recipe = sampler_recipe(modality=config.modality, loss=config.loss, preset=config.preset)
    recipe = replace(
        recipe,
        **{
            key: value
            for key, value in dict(
                epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, clips_per_video=config.clips_per_video,
                decay_every_epochs=config.decay_every_epochs, rank_min_gap=config.rank_min_gap,
                early_stop_patience=config.early_stop,
            ).items()
            if value is not None
        },
    )
    if recipe.rank_min_gap < 0 or recipe.early_stop_patience < 0:
        raise UsageError(
            f"need a SAL-RANK min gap >= 0 and an early-stopping patience >= 0 (0 turns it off); "
            f"got {recipe.rank_min_gap} and {recipe.early_stop_patience}."
        )
    if recipe.epochs < 1 or recipe.lr <= 0 or recipe.batch_size < 2 or recipe.clips_per_video < 2:
        raise UsageError(
            f"need epochs >= 1, lr > 0, batch size >= 2 and clips per video >= 2; got {recipe.epochs}, {recipe.lr}, "
            f"{recipe.batch_size}, {recipe.clips_per_video}."
        )
    options = _net_options(config, num_classes=len(classes))
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    context = init_distributed(device=config.device)
    # Tiny activations of small nets turn into denormal floats, which slow CPU kernels tenfold.
    flush_denormal = torch.set_flush_denormal(True) if context.device.type == "cpu" else False
    try:
        torch.manual_seed(config.seed)
        net = build_sampler_net(**options, pretrained=config.pretrained)
        pretrained_loaded = bool(net.pretrained_loaded)
        net_config = dict(net.config)

        # Data: every rank reads its share of videos first (filling the cache), then all of them.
        train_paths, val_paths = split_videos(targets, seed=config.seed)
        cache_dir = Path(config.signals_cache) if config.signals_cache else run_dir / "signals"
        everything = train_paths + val_paths
        build_table(
            targets, everything[context.rank :: context.world_size], net_config=net_config,
            frames_per_clip=frames_per_clip, cache_dir=cache_dir,
        )  # fmt: skip
        barrier(context)
        tables = dict(net_config=net_config, frames_per_clip=frames_per_clip, cache_dir=cache_dir, on_skip=on_skip, target=config.target)
        train = build_table(targets, train_paths, **tables)
        val = build_table(targets, val_paths, **tables)
        if len(train) < 2:
            raise UsageError(f"{config.targets}: fewer than 2 usable training clips for the {config.modality} sampler.")
        stats = input_statistics(train)
        salient = None
        if config.loss == "sal-cl" and train.rank_target is not None:
            confidence = torch.as_tensor(targets.set_index("path").loc[train.paths, "confidence"].to_numpy(dtype=np.float64))
            threshold, share = salient_threshold(train.rank_target, confidence, share=config.salient_share)
            train.salient = train.rank_target > threshold
            salient = {"threshold": threshold, "share": share}
        _warn_without_oracle(val, target=config.target)

        sampler_info = {
            "loss": config.loss,
            "target": config.target,
            **({"salient_threshold": salient["threshold"], "salient_share": salient["share"]} if salient else {}),
            "signals": list(signals_for_net(net_config)),
            "targets": str(config.targets),
            "classifier": meta.get("classifier"),
            "frames_per_clip": frames_per_clip,
            "recipe": recipe.to_dict(),
        }
        last_path, best_path = run_dir / "last.pt", run_dir / "sampler.pt"
        state = {"epoch": 0, "plateau_scale": 1.0, "best": None, "bad_epochs": 0, "history": []}
        optimizer_state = None
        if config.resume and last_path.is_file():
            from scsampler.models.checkpoint import load_checkpoint

            saved = load_checkpoint(last_path)
            if saved["model_args"].get("modality") != net_config["modality"] or saved["sampler"]["loss"] != config.loss or saved[
                "sampler"
            ].get("target", "label") != config.target or any(
                saved["model_args"].get(key) != (list(value) if isinstance(value, tuple) else value)
                for key, value in net_config.items()
            ):
                raise UsageError(
                    f"{last_path}: belongs to another sampler ({saved['model_name']}, loss {saved['sampler']['loss']}, "
                    f"target {saved['sampler'].get('target', 'label')}, {saved['model_args']}); "
                    "use another RUN_DIR or --no-resume to start over."
                )
            net.load_state_dict(saved["state_dict"])
            pretrained_loaded = bool(saved["train_state"].get("pretrained_loaded", False))
            state = dict(saved["train_state"])
            optimizer_state = saved["optimizer"]
        else:
            _apply_statistics(net, stats)
        if context.is_main:  # a kill after an epoch's metrics line but before its last.pt left lines the state lacks
            write_text_atomically(run_dir / "metrics.jsonl", "".join(json.dumps(line) + "\n" for line in state["history"]))
        net.pretrained_loaded = pretrained_loaded
        net.to(context.device)
        groups = parameter_groups(net, lr=recipe.lr, pretrained_lr_scale=recipe.pretrained_lr_scale)
        if recipe.optimizer == "adam":
            optimizer = torch.optim.Adam(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
        else:
            optimizer = torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
        if optimizer_state is not None:
            optimizer.load_state_dict(optimizer_state)
        model: nn.Module = net
        if context.is_distributed:
            model = nn.parallel.DistributedDataParallel(net, device_ids=None if context.device.type == "cpu" else [context.device])
        train_table = _to_device(train, context.device)
        val_table = _to_device(val, context.device) if len(val) else None

        start_epoch = int(state["epoch"])
        for epoch in range(start_epoch, recipe.epochs):
            if state.get("stopped_early"):  # a resumed run that had already stopped early
                break
            epoch_started = time.perf_counter()
            if recipe.schedule == "step":
                lr = warmup_step_decay(epoch, base_lr=recipe.lr, warmup_epochs=0, decay_every_epochs=recipe.decay_every_epochs)
            else:
                lr = recipe.lr * state["plateau_scale"]
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            rng = np.random.default_rng([config.seed, epoch])
            batches = epoch_batches(
                train_table, loss=config.loss, batch_size=recipe.batch_size, clips_per_video=recipe.clips_per_video, rng=rng
            )
            batches = batches[: len(batches) - len(batches) % context.world_size] if context.is_distributed else batches
            model.train()
            total, count = 0.0, 0
            for positions in batches[context.rank :: context.world_size]:
                loss = batch_loss(
                    model, train_table, positions, loss=config.loss, label_smoothing=recipe.label_smoothing,
                    rank_min_gap=recipe.rank_min_gap,
                )  # fmt: skip
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(positions)
                count += len(positions)
            total, count = all_reduce_sum([total, float(count)], context)
            metrics: dict[str, Any] = {"epoch": epoch + 1, "train_loss": total / max(count, 1), "lr": lr}
            if val_table is not None:
                quality = sampler_quality(table_saliency(net, val_table, loss=config.loss), val_table, k=config.k)
            else:
                quality = sampler_quality(np.zeros(0), val, k=config.k)  # every measure NaN, no video
            metrics.update({f"val_{key}": value for key, value in quality.items()})
            measure, value = selection_measure(quality)
            metrics["val_measure"] = measure
            metrics["seconds"] = time.perf_counter() - epoch_started
            score = value if not math.isnan(value) else -metrics["train_loss"]
            improved = state["best"] is None or score > state["best"]["score"]
            if improved:
                state["best"] = {"score": score, "epoch": epoch + 1, "measure": measure, "metrics": _json_ready(metrics)}
                state["bad_epochs"] = 0
                state["since_best"] = 0
            else:
                state["bad_epochs"] += 1
                state["since_best"] = state.get("since_best", 0) + 1
                if recipe.schedule == "plateau" and state["bad_epochs"] > recipe.patience:
                    state["plateau_scale"] *= 0.1
                    state["bad_epochs"] = 0
            state["epoch"] = epoch + 1
            patience = recipe.early_stop_patience
            state["stopped_early"] = bool(patience and val_table is not None and state["since_best"] >= patience and epoch + 1 < recipe.epochs)
            metrics["stopped_early"] = state["stopped_early"]
            state["history"].append(_json_ready(metrics))
            state["pretrained_loaded"] = pretrained_loaded
            if context.is_main:
                with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as log:
                    log.write(json.dumps(_json_ready(metrics)) + "\n")
                if improved:
                    _save_atomically(_checkpoint(net, classes=classes, sampler=sampler_info, epoch=epoch + 1, metrics=_json_ready(metrics)), best_path)
                    write_bundle(best_path, run_dir / "sampler")
                _save_atomically(
                    _checkpoint(net, classes=classes, sampler=sampler_info, optimizer=optimizer.state_dict(), train_state=state),
                    last_path,
                )
            if on_epoch is not None and context.is_main:
                on_epoch(metrics)
            if state["stopped_early"]:
                break
        barrier(context)
    finally:
        if flush_denormal:
            torch.set_flush_denormal(False)
        shutdown_distributed(context)
    return SamplerTrainResult(
        run_dir=run_dir,
        start_epoch=start_epoch + 1,
        epochs=recipe.epochs,
        history=list(state["history"]),
        best=state["best"],
        checkpoint=best_path if best_path.is_file() else None,
        bundle=run_dir / "sampler" if (run_dir / "sampler").is_dir() else None,
        seconds=time.perf_counter() - started,
        stopped_early=bool(state.get("stopped_early")),
    )


def _to_device(table: ClipTable, device: torch.device) -> ClipTable:
    if device.type == "cpu":
        return table
    return ClipTable(
        inputs={name: tensor.to(device) for name, tensor in table.inputs.items()},
        label=table.label.to(device),
        correct=table.correct.to(device),
        true_prob=table.true_prob.to(device),
        video=table.video.to(device),
        paths=table.paths,
        in_segment=table.in_segment,  # read on the CPU by sampler_quality
        rank_target=None if table.rank_target is None else table.rank_target.to(device),
        salient=None if table.salient is None else table.salient.to(device),
    )


def _warn_without_oracle(val: ClipTable, *, target: str) -> None:
    """A DataWarning when the validation videos have neither labels nor segments: no oracle, no segment precision."""
    if len(val) == 0 or target == "label":
        return
    has_segments = val.in_segment is not None and bool(torch.isfinite(val.in_segment).any())
    if has_segments or bool(torch.isfinite(val.true_prob).any()):
        return
    warnings.warn(
        f"the validation videos have no labels and no segments.csv: the oracle precision is unavailable, and the "
        f"best epoch is picked by the precision of the top-K against the top-K by {target} (val_target_precision), "
        "which measures agreement with the classifier, not finding the action; label a few validation videos, "
        "or give them a segments.csv, to validate on what matters.",
        DataWarning,
        stacklevel=3,
    )


def write_bundle(checkpoint: Path, folder: Path) -> None:
    """Save the sampler of ``checkpoint`` as a sampler bundle in ``folder`` (replaced atomically)."""
    from scsampler.samplers.bundle import save_sampler
    from scsampler.samplers.learned import LearnedSampler

    save_sampler(LearnedSampler.from_checkpoint(checkpoint), folder, overwrite=True)


def _json_ready(metrics: dict) -> dict:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, float) and math.isnan(value):
            out[key] = None
        elif isinstance(value, (np.floating, np.integer)):
            out[key] = value.item()
        else:
            out[key] = value
    return out
