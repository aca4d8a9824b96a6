"""The data of sampler training: every clip's network inputs and targets, as one table.

    targets (one row per clip) ──group by video──> network inputs per video (extracted once,
    then read from the signals cache) ──concatenate──> :class:`ClipTable` ──> batches

**Split** (:func:`split_videos`): the targets' ``train`` and ``val`` splits, or, without a
``val`` split, a seeded 20% of the training videos held out (with a warning: validation videos
should be shaped like the test videos, long and untrimmed).

**Batches** (:func:`epoch_batches`): AC and SAL-CL draw clips at random over all training
videos. SAL-RANK batches hold ``clips_per_video`` clips of each of ``batch_size //
clips_per_video`` videos, since its pairs only exist within a video.

**SAL-CL without labels** (:func:`salient_threshold`): a clip is salient when its target is
above a threshold chosen on the training clips (see ``training/train_sampler.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from scsampler.errors import DataWarning, ScsamplerError, UsageError
from scsampler.samplers.learned import net_inputs_from_signals, net_inputs_key, signal_options, signals_for_net
from scsampler.signals.cache import cache_key, load_entry, save_entry
from scsampler.training.targets import grid_from_targets

__all__ = [
    "ClipTable",
    "NET_INPUTS_ENTRY",
    "MIN_VALIDATION_VIDEOS",
    "load_video_inputs",
    "build_table",
    "split_videos",
    "input_statistics",
    "apply_input_statistics",
    "salient_threshold",
    "epoch_batches",
]

#: The signals-cache entry name of a video's network inputs (``signals/cache.py``).
NET_INPUTS_ENTRY = "net-inputs"
#: Fewer validation videos than this draw a warning: the best epoch would be picked by noise.
MIN_VALIDATION_VIDEOS = 8


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

    def to(self, device: torch.device) -> "ClipTable":
        """This table with its training tensors on ``device`` (itself on the CPU)."""
        if device.type == "cpu":
            return self
        return ClipTable(
            inputs={name: tensor.to(device) for name, tensor in self.inputs.items()},
            label=self.label.to(device),
            correct=self.correct.to(device),
            true_prob=self.true_prob.to(device),
            video=self.video.to(device),
            paths=self.paths,
            in_segment=self.in_segment,  # read on the CPU by sampler_quality
            rank_target=None if self.rank_target is None else self.rank_target.to(device),
            salient=None if self.salient is None else self.salient.to(device),
        )


def load_video_inputs(path: str, rows: pd.DataFrame, *, net_config: dict, frames_per_clip: int, cache_dir: Path) -> dict | None:
    """The network inputs of one video's clips (extracted once, then read from ``cache_dir``); None without audio.

    The cache is the signals cache (``signals/cache.py``): an entry per video file, clip grid and
    :func:`~scsampler.samplers.learned.net_inputs_key` of the network.
    """
    from scsampler.signals import extract_signals

    grid = grid_from_targets(rows, frames_per_clip=frames_per_clip)
    key = cache_key(path, grid, NET_INPUTS_ENTRY, net_inputs_key(net_config))
    entry = load_entry(cache_dir, NET_INPUTS_ENTRY, key)
    if entry is not None:
        return entry["tensor"] or None
    signals = extract_signals(path, grid, signals=signals_for_net(net_config), **signal_options(net_config))
    inputs = net_inputs_from_signals(net_config, signals)
    save_entry(cache_dir, NET_INPUTS_ENTRY, key, tensor=inputs or {}, meta={})  # {}: no audio, remembered too
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
    videos = dict(tuple(targets.groupby("path", sort=False)))  # one pass over the rows, not one per video
    parts: dict[str, list[torch.Tensor]] = {}
    labels, correct, true_prob, video, kept, in_segment, ranked = [], [], [], [], [], [], []
    for path in paths:
        rows = videos[path].sort_values("clip_index")
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


def apply_input_statistics(net: nn.Module, stats: dict[str, tuple[list[float], list[float]]]) -> None:
    """Set the network's input normalisation to ``stats`` (from :func:`input_statistics`)."""
    for name, (mean, std) in stats.items():
        if name == "audio":
            net.set_input_stats(mean=mean[0], std=std[0])
        else:
            net.set_input_stats(name, mean=mean, std=std)


def salient_threshold(target: torch.Tensor, confidence: torch.Tensor, *, share: float | None = None) -> tuple[float, float]:
    """SAL-CL's threshold on ``target`` for "salient" without labels, and the share of clips it keeps.

    The clips above the threshold are the top ``share`` of ``target`` (the training clips'); by
    default ``share`` is the mean ``confidence`` clipped to [0.05, 0.95], the calibrated estimate
    of the classifier's clip accuracy (the salient share of a labelled run). See ``training/train_sampler.py``.
    """
    if share is None:
        share = float(np.clip(float(confidence.double().mean()), 0.05, 0.95))
    if not 0.0 < share < 1.0:
        raise UsageError(f"--salient-share must lie strictly between 0 and 1, got {share}.")
    return float(torch.quantile(target.double(), 1.0 - share)), share


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
