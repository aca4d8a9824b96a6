"""Batches that hold all of a video's training clips: the Kinetics recipe's "five clips per video".

The supplementary material trains on Kinetics with "mini-batches of five 16-frame clips per video
with temporal jitter". :class:`~scsampler.training.clip_dataset.ClipDataset` already draws
``clips_per_video`` clips of each video per epoch, each at a fresh random start frame (temporal
jitter); item ``i`` is a clip of video ``i // clips_per_video``. A plain shuffled sampler scatters
those clips over the epoch. With the recipe option ``group_clips`` the trainer uses
:class:`VideoClipGroups` instead: the *videos* are shuffled, and each video's clips come one after
the other, so a batch of ``batch_size`` clips (a multiple of ``clips_per_video``) holds
``batch_size / clips_per_video`` whole videos. The ``kinetics`` recipes (batch 5, 5 clips per
video) thus put one video's five clips in each batch of each process. That this is what the
paper did is our reading of one sentence; the option keeps the other reading one flag away.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch
from torch.utils.data import Sampler

from scsampler.errors import UsageError

__all__ = ["VideoClipGroups", "check_grouped_batches"]


def check_grouped_batches(*, batch_size: int, clips_per_video: int) -> None:
    """A batch must hold whole videos: ``batch_size`` a multiple of ``clips_per_video``."""
    if batch_size % clips_per_video:
        lower = max(clips_per_video, batch_size - batch_size % clips_per_video)
        raise UsageError(
            f"batch-size {batch_size} is not a multiple of clips-per-video {clips_per_video}: with grouped clips "
            f"(--group-clips, the kinetics recipes) each batch holds whole videos; use --batch-size {lower} or "
            f"{lower + clips_per_video}, or --no-group-clips."
        )


class VideoClipGroups(Sampler[int]):
    """Indices of a :class:`ClipDataset`, each video's ``clips_per_video`` clips together, videos shuffled per epoch.

    Like ``DistributedSampler``, each of ``num_replicas`` processes gets its share (here: of the
    videos, padded by repeating the first ones so that every process gets as many), and the order
    depends only on ``(seed, epoch)``; call :meth:`set_epoch` before each epoch.
    """

    def __init__(
        self,
        videos: int,
        *,
        clips_per_video: int,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        if videos < 1 or clips_per_video < 1:
            raise UsageError(f"need at least one video and one clip per video, got {videos} and {clips_per_video}.")
        if not 0 <= rank < num_replicas:
            raise UsageError(f"rank must be in 0..{num_replicas - 1}, got {rank}.")
        self.videos = videos
        self.clips_per_video = clips_per_video
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.videos_per_replica = math.ceil(videos / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def video_order(self) -> list[int]:
        """This process's videos, in this epoch's order."""
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.videos, generator=generator).tolist()
        else:
            order = list(range(self.videos))
        total = self.videos_per_replica * self.num_replicas
        order = (order * math.ceil(total / len(order)))[:total]
        return order[self.rank : total : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        for video in self.video_order():
            start = video * self.clips_per_video
            yield from range(start, start + self.clips_per_video)

    def __len__(self) -> int:
        return self.videos_per_replica * self.clips_per_video
