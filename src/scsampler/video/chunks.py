"""``decode_in_file_order``: a video's clips decoded a few at a time, in file order, each chunk timed.

The one decode loop behind both ways clips reach the classifier: ``classify_video``'s
(:func:`scsampler.inference.classify_clips`, one video) and the pipeline's decode stage
(:class:`scsampler.pipeline.stages.DecodeClips`, many videos, the dense pass included).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from scsampler.errors import UsageError
from scsampler.types import ClipGrid, VideoInfo
from scsampler.video.decode import iter_clips

if TYPE_CHECKING:
    import torch

__all__ = ["decode_in_file_order"]


def decode_in_file_order(
    path: str | os.PathLike,
    clips: ClipGrid,
    *,
    info: VideoInfo,
    size: tuple[int, int] | None,
    chunk: int,
    thread_type: str | None = None,
) -> Iterator[tuple[np.ndarray, torch.Tensor, float]]:
    """Decode ``clips`` ``chunk`` at a time, sorted by clip index: ``(ranks, pixels, seconds)`` per chunk.

    ``ranks`` are the chunk's positions in ``clips`` (so a caller puts results back in ``clips``'
    order), ``pixels`` its uint8 ``[n, 3, T, H, W]`` at ``size``, ``seconds`` the time decoding it
    took. One decoder serves every chunk (:func:`scsampler.video.decode.iter_clips`): in file order
    it runs forward from one chunk into the next, so a dense pass decodes each frame once, and it
    seeks only where that skips frames; ``chunk`` bounds the memory a long video's clips take.
    ``thread_type``: the decoder's threading (None: chosen by :func:`~scsampler.video.decode.iter_frames`).
    """
    import torch

    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise UsageError(f"chunk must be a positive integer, got {chunk!r}.")
    in_file_order = np.argsort(clips.index, kind="stable")
    stream = iter_clips(path, clips.take(in_file_order), size=size, info=info, thread_type=thread_type)
    while True:
        began = time.perf_counter()
        decoded = list(itertools.islice(stream, chunk))
        if not decoded:
            return
        positions = np.array([position for position, _ in decoded])
        yield in_file_order[positions], torch.stack([clip for _, clip in decoded]), time.perf_counter() - began
