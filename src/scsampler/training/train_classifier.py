"""Train a clip classifier on a manifest: one function that reads top to bottom.

    manifest ──> training clips (random crop, flip, temporal jitter) ──> SGD, warm-up + step decay
             ──> per epoch: clip- and video-level accuracy on the val split
             ──> RUN_DIR/metrics.jsonl, RUN_DIR/last.pt, RUN_DIR/best.pt

Runs as one process or under ``torchrun --nproc_per_node=N`` (DDP; ``gloo`` on
a CPU): each process trains on its share of the clips (DistributedSampler) and
evaluates its share of the val videos; the counts are summed; only rank 0
writes files. With the recipe's ``group_clips`` (the ``kinetics`` recipes) a video's
``clips_per_video`` clips share a batch (``training/video_batches.py``).

**Starting weights.** ``weights``: a pretrained name of the model or a weights file, loaded
into the model. ``init``: a scsampler checkpoint to fine-tune (``training/init_weights.py``):
its model unless ``model`` is given, its head rows kept by class name where they cover the
manifest's classes, a fresh optimizer from epoch 1.

**Early stopping.** The recipe's ``early_stop_patience`` (``early_stop`` overrides it): stop
after that many epochs without a better validation score (``_score``); 0 never stops early.

**Resuming.** With ``resume=True`` (the default) and a ``RUN_DIR/last.pt``, the
run continues after the last finished epoch: model, optimizer, schedule step,
best score and torch RNG state come from the checkpoint, and the clips each
epoch draws depend only on ``(seed, epoch)``, so an interrupted run and an
uninterrupted one see the same data. Lines of ``metrics.jsonl`` from epochs
after the checkpoint (a kill between the two writes) are dropped. With
``resume=False`` the run starts over and replaces ``metrics.jsonl``.

**Accuracy.** *Clip* accuracy: top-1 over the val videos' action clips
(non-overlapping clips inside the segments of ``segments.csv``; without one,
the uniform clips). *Video* accuracy: top-1 of the mean softmax over
``val_clips_per_video`` equally spaced clips of each val video. ``best.pt`` is
the epoch with the best clip accuracy (ties: video accuracy; see ``_score``). Without a val
split, no accuracy is measured and ``best.pt`` follows ``last.pt``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from scsampler._atomic import atomic_output
from scsampler.data.checks import warn_about_manifest
from scsampler.errors import ScsamplerError, UsageError
from scsampler.models import get_model, get_model_spec, load_checkpoint, save_checkpoint
from scsampler.training.clip_dataset import ClipDataset, ClipGeometry, evaluation_clips, labelled_videos
from scsampler.training.distributed import all_reduce_sum, barrier, init_distributed, shutdown_distributed
from scsampler.training.init_weights import initial_model, model_name_for, read_initial_weights
from scsampler.training.recipes import get_recipe
from scsampler.training.schedule import warmup_step_decay
from scsampler.training.video_batches import VideoClipGroups, check_grouped_batches

__all__ = ["TrainConfig", "TrainResult", "train_classifier", "LAST_CHECKPOINT", "BEST_CHECKPOINT", "METRICS_FILE"]

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
METRICS_FILE = "metrics.jsonl"
CACHE_FOLDER = "cache"


@dataclass(frozen=True)
class TrainConfig:
    """What to train, on what, where. ``None`` fields take the recipe's value."""

    manifest: Path
    run_dir: Path
    model: str | None = "r2plus1d_tiny"  # None: the --init checkpoint's model (else r2plus1d_tiny)
    recipe: str = "cpu-tiny"
    weights: str | None = None  # initial weights: a pretrained name of the model, or a local file
    init: str | Path | None = None  # a checkpoint to fine-tune from (training/init_weights.py); not with weights
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    clips_per_video: int | None = None
    group_clips: bool | None = None  # a video's clips in one batch (training/video_batches.py)
    workers: int | None = None
    early_stop: int | None = None  # patience in epochs without a better validation score; 0: never
    seed: int = 0
    resume: bool = True
    progress: bool = True  # a progress bar on a terminal (rank 0 only)
    device: str | None = None  # "cpu", "cuda", or None (CUDA when available)
    threads: int | None = None  # CPU threads for torch (None: torch's default); restored afterwards


@dataclass
class TrainResult:
    """What a run did: the epochs it ran now, all epochs' metrics, and where the checkpoints are."""

    run_dir: Path
    start_epoch: int  # 1-based number of the first epoch run by this call
    epochs: int  # total epochs of the run
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    last_checkpoint: Path | None = None
    best_checkpoint: Path | None = None
    seconds: float = 0.0
    stopped_early: bool = False  # the validation score stopped improving before the last epoch


def train_classifier(config: TrainConfig, *, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train ``config.model`` on ``config.manifest``; returns the metrics (on every rank).

    ``on_epoch`` is called on rank 0 with each epoch's metrics dict.

    Raises:
        UsageError: a bad manifest, recipe, model name or argument, or a
            checkpoint in ``run_dir`` from a different model or class list.
    """
    started = time.perf_counter()
    if config.threads is not None and config.threads < 1:
        raise UsageError(f"threads must be >= 1 or None (torch's default), got {config.threads}.")
    threads_before = torch.get_num_threads()
    if config.threads is not None:
        # On a shared CPU one thread is often much faster than several that wait for each other.
        torch.set_num_threads(config.threads)
    context = init_distributed(device=config.device)
    try:
        return _train(config, context, on_epoch=on_epoch, started=started)
    finally:
        shutdown_distributed(context)
        torch.set_num_threads(threads_before)


def _train(config: TrainConfig, context, *, on_epoch, started: float) -> TrainResult:
    # ---- recipe, clip geometry, data ------------------------------------------------------
    recipe = get_recipe(config.recipe).with_overrides(
        epochs=config.epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        clips_per_video=config.clips_per_video,
        workers=config.workers,
        early_stop_patience=config.early_stop,
        group_clips=config.group_clips,
    )
    for name in ("epochs", "batch_size", "clips_per_video"):
        if getattr(recipe, name) < 1:
            raise UsageError(f"{name.replace('_', '-')} must be >= 1, got {getattr(recipe, name)}.")
    if recipe.early_stop_patience < 0:
        raise UsageError(f"early-stop must be >= 0 epochs (0: never), got {recipe.early_stop_patience}.")
    if recipe.lr <= 0 or not math.isfinite(recipe.lr):
        raise UsageError(f"lr must be a positive number, got {recipe.lr}.")
    if recipe.workers < 0:
        raise UsageError(f"workers must be >= 0, got {recipe.workers}.")
    if recipe.group_clips:
        check_grouped_batches(batch_size=recipe.batch_size, clips_per_video=recipe.clips_per_video)
    if config.init is not None and config.weights is not None:
        raise UsageError("--init and --weights both give the initial weights; use one (--init: a scsampler checkpoint to fine-tune).")
    init = read_initial_weights(config.init) if config.init is not None else None
    config = replace(config, model=model_name_for(config.model, init))  # without --model, --init's model
    spec = get_model_spec(config.model)
    geometry = ClipGeometry(
        frames_per_clip=recipe.frames_per_clip or spec.frames_per_clip,
        resize_size=tuple(recipe.resize_size or spec.resize_size),
        crop_size=tuple(recipe.crop_size or spec.crop_size),
    )
    manifest = Path(config.manifest)
    train_videos, classes = labelled_videos(manifest, split="train")
    val_videos, _ = labelled_videos(manifest, split="val")
    if not train_videos:
        raise UsageError(f"{manifest}: has no videos in the train split; give rows the split 'train'.")
    if len(classes) < 2:
        raise UsageError(f"{manifest}: a classifier needs at least 2 classes, found {len(classes)} ({', '.join(classes)}).")
    if context.is_main:
        warn_about_manifest(manifest)  # one-class splits, classes missing from val, odd segments.csv

    run_dir = Path(config.run_dir)
    last_path, best_path, metrics_path = run_dir / LAST_CHECKPOINT, run_dir / BEST_CHECKPOINT, run_dir / METRICS_FILE
    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    barrier(context)

    # ---- model and optimizer (and the checkpoint to resume from) --------------------------
    torch.manual_seed(config.seed)
    init_record = None  # how --init was applied, kept in the checkpoints
    if init is not None:
        model, head = initial_model(config.model, init, classes=classes)
        model, init_record = model.to(context.device), {"path": str(init.source), "head": head}
    else:
        model = get_model(config.model, weights=config.weights, num_classes=len(classes)).to(context.device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    start_epoch, step, best, history = 0, 0, None, []
    if config.resume and last_path.is_file():
        checkpoint = load_checkpoint(last_path)
        _check_resumable(checkpoint, last_path, model_name=config.model, classes=classes)
        model.load_state_dict(checkpoint["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        start_epoch, step = int(checkpoint["epoch"]), int(checkpoint["step"])
        best, history = checkpoint.get("best"), list(checkpoint.get("history", []))
        init_record = checkpoint.get("init", init_record)  # where the run started, not this call
        torch.set_rng_state(checkpoint["rng_torch"])
    if context.is_main:
        _rewrite_metrics(metrics_path, history)  # drops lines of epochs after the checkpoint
    ddp_model = DistributedDataParallel(model) if context.is_distributed else model

    # ---- training clips: each process decodes its share into the cache, then reads them all
    dataset = ClipDataset(
        train_videos,
        geometry=geometry,
        clips_per_video=recipe.clips_per_video,
        seed=config.seed,
        flip=recipe.flip,
        cache_dir=run_dir / CACHE_FOLDER if recipe.cache == "disk" else None,
    )
    dataset.build_cache(range(context.rank, len(train_videos), context.world_size))
    barrier(context)
    if recipe.group_clips:  # each video's clips one after the other: a batch holds whole videos
        sampler = VideoClipGroups(
            len(train_videos), clips_per_video=recipe.clips_per_video, num_replicas=context.world_size,
            rank=context.rank, seed=config.seed,
        )
    else:
        sampler = DistributedSampler(
            dataset, num_replicas=context.world_size, rank=context.rank, shuffle=True, seed=config.seed, drop_last=False
        )
    loader = DataLoader(
        dataset,
        batch_size=recipe.batch_size,
        sampler=sampler,
        num_workers=recipe.workers,
        drop_last=len(sampler) > recipe.batch_size,  # no tiny last batch for batch norm when there is a choice
        pin_memory=context.device.type == "cuda",
    )
    steps_per_epoch = len(loader)
    # Validation clips are fixed: decode this process's share once, keep them in memory.
    val_clips = [
        evaluation_clips(video, geometry=geometry, uniform_clips=recipe.val_clips_per_video)
        for video in val_videos[context.rank :: context.world_size]
    ]
    mean = torch.tensor(spec.mean, device=context.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(spec.std, device=context.device).view(1, 3, 1, 1, 1)

    def normalise(clips: torch.Tensor) -> torch.Tensor:
        x = clips.to(context.device, non_blocking=True).float().div_(255.0)
        return ((x - mean) / std).contiguous()

    def lr_at(epoch: int, batch: int) -> float:
        return warmup_step_decay(
            epoch + batch / steps_per_epoch,
            base_lr=recipe.lr,
            warmup_epochs=recipe.warmup_epochs,
            decay_every_epochs=recipe.decay_every_epochs,
            decay_factor=recipe.decay_factor,
        )

    # ---- the loop ---------------------------------------------------------------------------
    stopped_early = False
    for epoch in range(start_epoch, recipe.epochs):
        if _patience_spent(best, epoch, recipe.early_stop_patience):  # also when resuming a stopped run
            stopped_early = True
            break
        epoch_started = time.perf_counter()
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        ddp_model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        batches = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{recipe.epochs}",
            disable=not (config.progress and context.is_main and sys.stderr.isatty()),
            leave=False,
            dynamic_ncols=True,
        )
        for batch, (clips, labels) in enumerate(batches):
            lr = lr_at(epoch, batch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = normalise(clips), labels.to(context.device)
            logits = ddp_model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.detach().argmax(1) == y).sum())
            seen += len(y)
            batches.set_postfix(loss=f"{loss_sum / seen:.3f}", lr=f"{lr:.2g}")
        if not math.isfinite(loss_sum):
            raise ScsamplerError(f"training diverged at epoch {epoch + 1} (loss is {loss_sum}); lower the learning rate.")

        val = _evaluate(model, val_clips, normalise=normalise, batch_size=max(recipe.batch_size, 8))
        totals = all_reduce_sum([loss_sum, correct, seen, *val], context)
        train_loss, train_correct, train_seen, clip_correct, clips_seen, video_correct, videos_seen = totals
        metrics = {
            "epoch": epoch + 1,
            "step": step,
            "lr": lr,  # at the last step of the epoch
            "train_loss": train_loss / max(train_seen, 1),
            "train_clip_acc": train_correct / max(train_seen, 1),
            "val_clip_acc": clip_correct / clips_seen if clips_seen else None,
            "val_video_acc": video_correct / videos_seen if videos_seen else None,
            "val_clips": int(clips_seen),
            "val_videos": int(videos_seen),
            "seconds": round(time.perf_counter() - epoch_started, 3),
        }
        history.append(metrics)
        improved = best is None or _score(metrics) > _score(best)
        if improved:
            best = metrics
        if context.is_main:  # checkpoint first: a kill before the metrics line is repaired on resume
            extra = {
                "step": step,
                "steps_per_epoch": steps_per_epoch,
                "best": best,
                "history": history,
                "recipe": recipe.to_dict(),
                "geometry": {
                    "frames_per_clip": geometry.frames_per_clip,
                    "resize_size": list(geometry.resize_size),
                    "crop_size": list(geometry.crop_size),
                },
                "init": init_record,
                "seed": config.seed,
                "rng_torch": torch.get_rng_state(),
            }
            common = dict(model_name=config.model, model=model, classes=classes, optimizer=optimizer, epoch=epoch + 1)
            save_checkpoint(last_path, metrics=metrics, extra=extra, **common)
            if improved:
                save_checkpoint(best_path, metrics=metrics, extra=extra, **common)
            _append_metrics(metrics_path, metrics)
            if on_epoch is not None:
                on_epoch(metrics)
        barrier(context)

    return TrainResult(
        run_dir=run_dir,
        start_epoch=start_epoch + 1,
        epochs=recipe.epochs,
        history=history,
        best=best,
        last_checkpoint=last_path if last_path.exists() else None,
        best_checkpoint=best_path if best_path.exists() else None,
        seconds=time.perf_counter() - started,
        stopped_early=stopped_early,
    )


def _patience_spent(best: dict[str, Any] | None, epochs_done: int, patience: int) -> bool:
    """Whether ``patience`` epochs have passed since the best one (never without validation, or with 0)."""
    if not patience or best is None or best.get("val_clip_acc") is None:
        return False
    return epochs_done - int(best["epoch"]) >= patience


@torch.inference_mode()
def _evaluate(model: torch.nn.Module, val_clips, *, normalise, batch_size: int) -> list[float]:
    """``[clip_correct, clips, video_correct, videos]`` over this process's val videos."""
    model.eval()
    clip_correct = clips_seen = video_correct = 0
    for video in val_clips:
        action_logits = _logits(model, video.action, normalise=normalise, batch_size=batch_size)
        clip_correct += int((action_logits.argmax(1) == video.label_index).sum())
        clips_seen += len(action_logits)
        if video.uniform is video.action:
            uniform_logits = action_logits
        else:
            uniform_logits = _logits(model, video.uniform, normalise=normalise, batch_size=batch_size)
        video_correct += int(uniform_logits.softmax(1).mean(0).argmax() == video.label_index)
    return [clip_correct, clips_seen, video_correct, len(val_clips)]


def _logits(model: torch.nn.Module, clips: torch.Tensor, *, normalise, batch_size: int) -> torch.Tensor:
    return torch.cat([model(normalise(clips[i : i + batch_size])).cpu() for i in range(0, len(clips), batch_size)])


def _score(metrics: dict[str, Any]) -> tuple[float, float, float]:
    """Higher is better: clip accuracy, then video accuracy, then (without val) the later epoch.

    Clip accuracy first: on the action clips it measures the classifier itself, whereas video
    accuracy over uniform clips of a long untrimmed video mostly measures how much background
    those clips hold (on the demo's 3-minute val videos it fell from 0.375 to 0.125 while clip
    accuracy rose from 0.54 to 1.0).
    """
    video = metrics["val_video_acc"] if metrics["val_video_acc"] is not None else -1.0
    clip = metrics["val_clip_acc"] if metrics["val_clip_acc"] is not None else -1.0
    later = metrics["epoch"] if metrics["val_video_acc"] is None else 0
    return (clip, video, later)


def _check_resumable(checkpoint: dict, path: Path, *, model_name: str, classes: list[str]) -> None:
    if checkpoint["model_name"] != model_name:
        raise UsageError(
            f"{path}: this run trains {checkpoint['model_name']!r}, not {model_name!r}; "
            "use another -o RUN_DIR, or --no-resume to start over."
        )
    if list(checkpoint["classes"]) != list(classes):
        raise UsageError(
            f"{path}: this run's classes ({', '.join(checkpoint['classes'])}) differ from the manifest's "
            f"({', '.join(classes)}); use another -o RUN_DIR, or --no-resume to start over."
        )
    for key in ("optimizer", "epoch", "step", "rng_torch"):
        if key not in checkpoint:
            raise UsageError(f"{path}: cannot resume from this checkpoint (no {key!r}); use --no-resume to start over.")


def _append_metrics(path: Path, metrics: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(metrics) + "\n")


def _rewrite_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    """Replace ``path`` atomically with one line per epoch of ``history``."""
    with atomic_output(path) as temporary, open(temporary, "w", encoding="utf-8") as out:
        for metrics in history:
            out.write(json.dumps(metrics) + "\n")
