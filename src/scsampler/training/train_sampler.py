"""Train a sampler network (visual or audio) on saliency targets, with AC, SAL-CL or SAL-RANK.

Reads top to bottom: the options, :func:`train_sampler` and its loop, then the loop's steps.

**Recipes**: the table in ``training/recipes.py`` (:func:`~scsampler.training.recipes.sampler_recipe`),
one per preset (``paper``, ``paper-kinetics``, ``cpu``) x modality x loss; ``SamplerTrainConfig``'s
``None`` fields keep the recipe's values. **Data and batches**: ``training/sampler_data.py`` (the
network inputs are extracted once per video and kept in the signals cache, ``signals/cache.py``).

**The loop** reads like ``train_classifier``'s: :func:`train_sampler` checks the options and
starts (or joins) the process group; ``_train`` builds the network, the data and the optimizer
(or resumes them from ``last.pt``: ``_check_resumable``), then per epoch
``_train_one_epoch``, ``_validate`` (``training/sampler_validation.py``), ``_after_epoch`` (best epoch,
plateau schedule, early stop) and ``_write_epoch`` (metrics line, ``last.pt``, ``sampler.pt``
and the bundle, through ``models/checkpoint.save_checkpoint``).

**Validation** (every epoch, on the ``val`` split of the targets, or on a seeded 20% of the
training videos when there is none: ``sampler_data.split_videos``): per video, the precision of the sampler's top-K
(``K = min(k, L)``) against the action segments (the targets' ``in_segment``, where
``segments.csv`` exists), and against the oracle's top-K (the K clips with the classifier's
highest true-class probability), each beside Random's expectation; and the Spearman rank
correlation between the saliency and the true-class probability. Means over videos. The
*selection measure* (:func:`~scsampler.training.sampler_validation.selection_measure`) is the segment precision where segments are
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
on the training clips" (:func:`~scsampler.training.sampler_data.salient_threshold`): the clips above it are the training clips'
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

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from scsampler._atomic import write_text_atomically
from scsampler.errors import UsageError
from scsampler.models.checkpoint import load_checkpoint, save_checkpoint
from scsampler.models.sampler_nets import (
    AUDIO_LAYOUTS,
    VISUAL_BACKBONES,
    build_sampler_net,
    canonical_backbone,
    parameter_groups,
    sampler_net_name,
)
from scsampler.samplers.learned import forward_net, signals_for_net
from scsampler.samplers.saliency import check_loss_name
from scsampler.samplers.selection import DEFAULT_K
from scsampler.training.distributed import all_reduce_sum, barrier, init_distributed, shutdown_distributed
from scsampler.training.losses import ac_loss, output_size, sal_cl_loss, sal_rank_loss
from scsampler.training.recipes import SamplerRecipe, sampler_recipe
from scsampler.training.sampler_data import (
    ClipTable,
    apply_input_statistics,
    build_table,
    epoch_batches,
    input_statistics,
    salient_threshold,
    split_videos,
)
from scsampler.training.sampler_validation import sampler_quality, selection_measure, table_saliency, warn_without_oracle
from scsampler.training.schedule import warmup_step_decay
from scsampler.training.targets import read_targets

__all__ = [
    "SAMPLER_TARGETS",
    "SamplerTrainConfig",
    "SamplerTrainResult",
    "train_sampler",
    "batch_loss",
    "write_bundle",
    "LAST_CHECKPOINT",
    "BEST_CHECKPOINT",
    "METRICS_FILE",
    "BUNDLE_FOLDER",
]

#: What SAL-RANK orders and SAL-CL thresholds: the true-class probability, or the classifier's label-free confidence.
SAMPLER_TARGETS = ("label", "confidence", "margin", "contrast")
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "sampler.pt"
METRICS_FILE = "metrics.jsonl"
BUNDLE_FOLDER = "sampler"


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
    motion_step: int | None = None  # visual: the motion input from the first P-frame of each run of this many frames (None: every P-frame)
    signals_cache: Path | None = None  # cached network inputs (None: RUN_DIR/signals)
    preset: str = "cpu"
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    clips_per_video: int | None = None
    decay_every_epochs: float | None = None
    rank_min_gap: float | None = None
    early_stop: int | None = None  # patience in epochs; 0 = never stop early
    k: int = DEFAULT_K
    seed: int = 0
    resume: bool = True
    device: str | None = None


@dataclass
class SamplerTrainResult:
    """What a run did: the epochs it ran now, all epochs' metrics, the best epoch and where its sampler is."""

    run_dir: Path
    start_epoch: int
    epochs: int
    history: list[dict]
    best: dict | None
    checkpoint: Path | None
    bundle: Path | None
    seconds: float
    stopped_early: bool = False  # the validation measure stopped improving before the last epoch


def train_sampler(
    config: SamplerTrainConfig, *, on_epoch: Callable[[dict], None] | None = None, on_skip: Callable[[str, str], None] | None = None
) -> SamplerTrainResult:
    """Train a sampler network on a targets file (see the module docstring); resumes from ``last.pt``.

    ``on_epoch`` is called on rank 0 with each epoch's metrics dict; ``on_skip(path, why)`` for each
    video left out (no audio for an audio sampler, or signals that cannot be extracted).

    Raises:
        UsageError: a bad option, targets that do not fit the loss or target, or a ``last.pt`` in
            ``run_dir`` from another sampler.
    """
    started = time.perf_counter()
    _check_options(config)
    targets, meta = read_targets(config.targets)
    if config.target == "label" and (targets["label_index"] < 0).any():
        raise UsageError(
            f"{config.targets}: holds unlabelled videos (no true-class probability), and --target label needs labels; "
            "train with --target confidence or --target margin (or contrast)."
        )
    recipe = _recipe(config)
    options = _net_options(config, num_classes=len(meta["classes"]))
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    context = init_distributed(device=config.device)
    # Tiny activations of small nets turn into denormal floats, which slow CPU kernels tenfold.
    flush_denormal = torch.set_flush_denormal(True) if context.device.type == "cpu" else False
    try:
        return _train(
            config, context, recipe=recipe, options=options, targets=targets, meta=meta, on_epoch=on_epoch,
            on_skip=on_skip, started=started,
        )  # fmt: skip
    finally:
        if flush_denormal:
            torch.set_flush_denormal(False)
        shutdown_distributed(context)


def _check_options(config: SamplerTrainConfig) -> None:
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


def _recipe(config: SamplerTrainConfig) -> SamplerRecipe:
    """The preset's recipe for the modality and loss, with the config's overrides, checked."""
    recipe = sampler_recipe(modality=config.modality, loss=config.loss, preset=config.preset).with_overrides(
        epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, clips_per_video=config.clips_per_video,
        decay_every_epochs=config.decay_every_epochs, rank_min_gap=config.rank_min_gap,
        early_stop_patience=config.early_stop,
    )  # fmt: skip
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
    return recipe


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
        options = dict(
            modality="visual", inputs=tuple(config.inputs), backbone=backbone, out_features=out, fusion=config.fusion,
            input_size=config.input_size, width=config.width,
            # an alternative without an input leaves its size out (--inputs 'iframe|iframe,motion' with motion=16)
            input_sizes={name: size for name, size in config.input_sizes.items() if name in config.inputs},
        )  # fmt: skip
        if config.motion_step is not None and "motion" in config.inputs:  # (an alternative without motion leaves it out)
            options["motion_step"] = config.motion_step
        return options
    if config.modality == "audio":
        if config.backbone not in AUDIO_LAYOUTS:
            raise UsageError(f"--backbone {config.backbone!r} is not an audio backbone; choose one of {', '.join(AUDIO_LAYOUTS)}.")
        return dict(
            modality="audio", layout=config.backbone, out_features=out, frozen_at=config.frozen_at, audio_window=config.audio_window
        )
    raise UsageError(f"--modality must be visual or audio, got {config.modality!r}.")


def _train(
    config: SamplerTrainConfig,
    context,
    *,
    recipe: SamplerRecipe,
    options: dict,
    targets: pd.DataFrame,
    meta: dict,
    on_epoch: Callable[[dict], None] | None,
    on_skip: Callable[[str, str], None] | None,
    started: float,
) -> SamplerTrainResult:
    classes = list(meta["classes"])
    frames_per_clip = int(meta["frames_per_clip"])
    run_dir = Path(config.run_dir)

    # ---- network ------------------------------------------------------------------------------
    torch.manual_seed(config.seed)
    net = build_sampler_net(**options, pretrained=config.pretrained)
    pretrained_loaded = bool(net.pretrained_loaded)
    net_config = dict(net.config)

    # ---- data: every rank reads its share of videos first (filling the cache), then all of them
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
    warn_without_oracle(val, target=config.target, stacklevel=3)  # at the caller of train_sampler
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

    # ---- resume, or start from the training clips' input statistics -----------------------------
    last_path, best_path = run_dir / LAST_CHECKPOINT, run_dir / BEST_CHECKPOINT
    state = {"epoch": 0, "plateau_scale": 1.0, "best": None, "bad_epochs": 0, "history": []}
    optimizer_state = None
    if config.resume and last_path.is_file():
        saved = load_checkpoint(last_path)
        _check_resumable(saved, last_path, net_config=net_config, loss=config.loss, target=config.target)
        net.load_state_dict(saved["state_dict"])
        pretrained_loaded = bool(saved["train_state"].get("pretrained_loaded", False))
        state = dict(saved["train_state"])
        optimizer_state = saved["optimizer"]
    else:
        apply_input_statistics(net, stats)
    if context.is_main:  # a kill after an epoch's metrics line but before its last.pt left lines the state lacks
        write_text_atomically(run_dir / METRICS_FILE, "".join(json.dumps(line) + "\n" for line in state["history"]))
    net.pretrained_loaded = pretrained_loaded
    net.to(context.device)
    optimizer = _optimizer(net, recipe)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    model: nn.Module = net
    if context.is_distributed:
        model = nn.parallel.DistributedDataParallel(net, device_ids=None if context.device.type == "cpu" else [context.device])
    train_table = train.to(context.device)
    val_table = val.to(context.device) if len(val) else None

    # ---- the loop -------------------------------------------------------------------------------
    start_epoch = int(state["epoch"])
    for epoch in range(start_epoch, recipe.epochs):
        if state.get("stopped_early"):  # a resumed run that had already stopped early
            break
        epoch_started = time.perf_counter()
        lr = _epoch_lr(recipe, epoch, plateau_scale=state["plateau_scale"])
        train_loss = _train_one_epoch(
            model, optimizer, train_table, lr=lr, rng=np.random.default_rng([config.seed, epoch]), loss=config.loss,
            recipe=recipe, context=context,
        )  # fmt: skip
        metrics: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss, "lr": lr}
        quality = _validate(net, val_table if val_table is not None else val, loss=config.loss, k=config.k)
        metrics.update({f"val_{key}": value for key, value in quality.items()})
        measure, value = selection_measure(quality)
        metrics["val_measure"] = measure
        metrics["seconds"] = time.perf_counter() - epoch_started
        improved = _after_epoch(state, metrics, measure=measure, value=value, recipe=recipe, validated=val_table is not None)
        metrics["stopped_early"] = state["stopped_early"]
        state["history"].append(_json_ready(metrics))
        state["pretrained_loaded"] = pretrained_loaded
        if context.is_main:
            _write_epoch(run_dir, net, metrics, improved=improved, classes=classes, sampler=sampler_info, optimizer=optimizer, state=state)
        if on_epoch is not None and context.is_main:
            on_epoch(metrics)
        if state["stopped_early"]:
            break
    barrier(context)
    return SamplerTrainResult(
        run_dir=run_dir,
        start_epoch=start_epoch + 1,
        epochs=recipe.epochs,
        history=list(state["history"]),
        best=state["best"],
        checkpoint=best_path if best_path.is_file() else None,
        bundle=run_dir / BUNDLE_FOLDER if (run_dir / BUNDLE_FOLDER).is_dir() else None,
        seconds=time.perf_counter() - started,
        stopped_early=bool(state.get("stopped_early")),
    )


def _check_resumable(saved: dict, path: Path, *, net_config: dict, loss: str, target: str) -> None:
    """A UsageError unless ``saved`` (a ``last.pt``) trains the same network with the same loss and target."""
    same = (
        saved["model_args"].get("modality") == net_config["modality"]
        and saved["sampler"]["loss"] == loss
        and saved["sampler"].get("target", "label") == target
        and all(
            saved["model_args"].get(key) == (list(value) if isinstance(value, tuple) else value) for key, value in net_config.items()
        )
    )
    if not same:
        raise UsageError(
            f"{path}: belongs to another sampler ({saved['model_name']}, loss {saved['sampler']['loss']}, "
            f"target {saved['sampler'].get('target', 'label')}, {saved['model_args']}); "
            "use another RUN_DIR or --no-resume to start over."
        )


def _optimizer(net: nn.Module, recipe: SamplerRecipe) -> torch.optim.Optimizer:
    """The recipe's optimizer over the network's parameter groups (pretrained layers at ``pretrained_lr_scale``)."""
    groups = parameter_groups(net, lr=recipe.lr, pretrained_lr_scale=recipe.pretrained_lr_scale)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)


def _epoch_lr(recipe: SamplerRecipe, epoch: int, *, plateau_scale: float) -> float:
    """The base learning rate of ``epoch`` (0-based): step decay, or the plateau schedule's current scale."""
    if recipe.schedule == "step":
        return warmup_step_decay(epoch, base_lr=recipe.lr, warmup_epochs=0, decay_every_epochs=recipe.decay_every_epochs)
    return recipe.lr * plateau_scale


def _train_one_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, table: ClipTable, *, lr: float, rng: np.random.Generator, loss: str,
    recipe: SamplerRecipe, context,
) -> float:  # fmt: skip
    """One pass over this rank's share of the epoch's batches; the mean loss per clip over all ranks."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    batches = epoch_batches(table, loss=loss, batch_size=recipe.batch_size, clips_per_video=recipe.clips_per_video, rng=rng)
    batches = batches[: len(batches) - len(batches) % context.world_size] if context.is_distributed else batches
    model.train()
    total, count = 0.0, 0
    for positions in batches[context.rank :: context.world_size]:
        value = batch_loss(
            model, table, positions, loss=loss, label_smoothing=recipe.label_smoothing, rank_min_gap=recipe.rank_min_gap
        )
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        total += float(value.detach()) * len(positions)
        count += len(positions)
    total, count = all_reduce_sum([total, float(count)], context)
    return total / max(count, 1)


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


def _validate(net: nn.Module, table: ClipTable, *, loss: str, k: int) -> dict[str, float]:
    """:func:`~scsampler.training.sampler_validation.sampler_quality` on the validation table (every measure NaN without one)."""
    if len(table) == 0:
        return sampler_quality(np.zeros(0), table, k=k)
    return sampler_quality(table_saliency(net, table, loss=loss), table, k=k)


def _after_epoch(state: dict, metrics: dict, *, measure: str, value: float, recipe: SamplerRecipe, validated: bool) -> bool:
    """Update ``state`` after an epoch (best epoch, plateau schedule, early stop); whether this epoch is the best so far.

    Without a validation measure (NaN) the lower training loss counts as better.
    """
    score = value if not math.isnan(value) else -metrics["train_loss"]
    improved = state["best"] is None or score > state["best"]["score"]
    if improved:
        state["best"] = {"score": score, "epoch": metrics["epoch"], "measure": measure, "metrics": _json_ready(metrics)}
        state["bad_epochs"] = 0
        state["since_best"] = 0
    else:
        state["bad_epochs"] += 1
        state["since_best"] = state.get("since_best", 0) + 1
        if recipe.schedule == "plateau" and state["bad_epochs"] > recipe.patience:
            state["plateau_scale"] *= 0.1
            state["bad_epochs"] = 0
    state["epoch"] = metrics["epoch"]
    patience = recipe.early_stop_patience
    state["stopped_early"] = bool(patience and validated and state["since_best"] >= patience and metrics["epoch"] < recipe.epochs)
    return improved


def _write_epoch(
    run_dir: Path, net: nn.Module, metrics: dict, *, improved: bool, classes: list[str], sampler: dict,
    optimizer: torch.optim.Optimizer, state: dict,
) -> None:  # fmt: skip
    """Rank 0's files after an epoch: the metrics line, ``sampler.pt`` and its bundle when best, ``last.pt``."""
    ready = _json_ready(metrics)
    with open(run_dir / METRICS_FILE, "a", encoding="utf-8") as log:
        log.write(json.dumps(ready) + "\n")
    common = dict(model_name=sampler_net_name(net.config['modality']), model=net, classes=classes, model_args=_model_args(net))
    if improved:
        save_checkpoint(run_dir / BEST_CHECKPOINT, epoch=metrics["epoch"], metrics=ready, extra={"sampler": sampler}, **common)
        write_bundle(run_dir / BEST_CHECKPOINT, run_dir / BUNDLE_FOLDER)
    save_checkpoint(run_dir / LAST_CHECKPOINT, optimizer=optimizer, extra={"sampler": sampler, "train_state": state}, **common)


def _model_args(net: nn.Module) -> dict:
    """The network's config as checkpoint ``model_args`` (``build_sampler_net(**model_args)`` rebuilds it)."""
    config = dict(net.config)
    if "inputs" in config:
        config["inputs"] = list(config["inputs"])
    return config


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
