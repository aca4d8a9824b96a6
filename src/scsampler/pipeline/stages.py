"""The pipeline's stages: callable classes that map a batch (a dict of numpy columns) to the next one.

Each follows Ray Data's batch-inference shape (the model loads once in ``__init__``, ``__call__``
maps a batch), so :mod:`scsampler.pipeline.engines` runs the very same objects in a plain loop or
on Ray actors. Three stages, by the resource they need:

1. :class:`SelectClips` (CPU): probe, clip grid, cheap signals and sampler scores, the selection.
   One row per video.
2. :class:`DecodeClips` (CPU): decode the selected clips to uint8 at the classifier's decode
   size, a few at a time in file order (:func:`scsampler.video.chunks.decode_in_file_order`, the
   decode loop of ``classify_video`` too; a generator: a long video's dense pass never sits in memory whole).
   One row per clip.
3. :class:`ClassifyClips` (GPU when there is one): the clip classifier over clips of any videos,
   in forward batches of exactly ``batch_size`` clips (the last one padded), so that a clip's
   logits do not depend on which other clips share its batch: the same bits whichever engine or
   worker ran it. One row per clip, with its logits instead of its pixels.

The fourth step, gathering a video's clips into its result, runs where the results are read
(:func:`scsampler.pipeline.engines.gather_videos`).

A video that fails in any stage becomes one row with ``error`` set, and the others go on.
Everything that describes a video travels in ``video`` (a pickled :class:`VideoPlan`) on the
video's first clip row only; pixels and logits travel as raw bytes with their shape.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av
import numpy as np
import torch

from scsampler.errors import ScsamplerError, UsageError
from scsampler.types import ClipGrid, ClipSelection, VideoInfo

if TYPE_CHECKING:
    from scsampler.samplers.base import ClipSampler, Own

__all__ = [
    "VideoPlan",
    "SelectClips",
    "load_sampler",
    "DecodeClips",
    "ClassifyClips",
    "EVERY_CLIP",
    "FAULT_ENV",
]

#: ``sampler`` value of :class:`SelectClips` for a dense pass: every clip, in time order.
EVERY_CLIP = "every-clip"
#: Testing hook: when this environment variable names a file that does not exist yet, the first
#: :class:`ClassifyClips` call to create it kills its own process with SIGKILL (a worker dying
#: mid-run, as ``kill -9`` would do it), so that the retry can be tested.
FAULT_ENV = "SCSAMPLER_PIPELINE_KILL_ONCE"
#: What a video can fail with, as opposed to a bug: reported per video, never raised.
_VIDEO_FAILURES = (ScsamplerError, av.FFmpegError, OSError)


@dataclass(frozen=True)
class VideoPlan:
    """One video's probe, chosen clips and timings so far: what the later stages and the gathering need."""

    info: VideoInfo
    selection: ClipSelection
    clips: ClipGrid  # the selected clips' grid, in the selection's order
    probe_s: float
    sampler_s: float


def _error_message(path: str, error: Exception) -> str:
    return str(error) if isinstance(error, ScsamplerError) else f"{path}: {error}"


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))


def load_sampler(name: str, *, seed: int = 0, backend: str = "eager") -> ClipSampler | None:
    """The sampler a stage selects with (None for :data:`EVERY_CLIP`); one that needs the true label is refused.

    ``backend`` runs its networks, if it has any (``scsampler.models.sampler_backends``).
    """
    from scsampler.models.sampler_backends import check_sampler_backend
    from scsampler.samplers.build import build_sampler

    check_sampler_backend(backend)
    if name == EVERY_CLIP:
        return None
    sampler = build_sampler(name, seed=seed, backend=backend)
    if sampler.needs_label:
        raise UsageError(
            f"the {sampler.name} sampler needs the ground-truth label (an upper bound for evaluation); "
            "choose a sampler that does not, e.g. uniform."
        )
    return sampler


class SelectClips:
    """Stage 1: ``{"position", "path"}`` -> ``{"position", "path", "error", "plan"}``, one row per video.

    ``sampler`` is a sampler name or saved sampler's path (loaded once), or :data:`EVERY_CLIP` for a
    dense pass. ``k`` (None: every clip) and ``stride``, ``"own"`` by default: the sampler's own, a
    saved composite's, else 10 and 1; resolved once, here (``self.k`` and ``self.stride`` hold the numbers).
    ``sampler_backend`` runs a named sampler's networks (``eager`` or ``onnx``).
    """

    def __init__(
        self,
        *,
        frames_per_clip: int,
        sampler: str | ClipSampler | None = EVERY_CLIP,
        k: int | None | Own = "own",
        stride: int | Own = "own",
        seed: int = 0,
        threads: int | None = None,
        sampler_backend: str = "eager",
    ) -> None:
        from scsampler.samplers.base import resolve_k_and_stride

        _set_threads(threads)
        self.frames_per_clip = frames_per_clip
        # a name is loaded here; an already loaded sampler (None: every clip) is used as it is
        self.sampler = load_sampler(sampler, seed=seed, backend=sampler_backend) if isinstance(sampler, str) else sampler
        # a dense pass takes every clip; a bad K or N stops here, before any video is read
        self.k, self.stride = (None, 1) if self.sampler is None else resolve_k_and_stride(self.sampler, k=k, stride=stride)

    @property
    def sampler_name(self) -> str:
        return EVERY_CLIP if self.sampler is None else (self.sampler.name or "sampler")

    def plan(self, path: str) -> VideoPlan:
        """Probe ``path`` and choose its clips (raises what a bad video raises)."""
        from scsampler.video import clip_grid, probe

        began = time.perf_counter()
        info = probe(path)
        grid = clip_grid(info, frames_per_clip=self.frames_per_clip)
        probed = time.perf_counter()
        if self.sampler is None:
            selection = ClipSelection(
                index=grid.index, start_s=grid.start_s, end_s=grid.end_s, scores=np.zeros(len(grid)),
                num_clips=grid.num_clips, scored=len(grid), strategy="dense",
            )  # fmt: skip
        else:
            selection = self.sampler.select(info, grid, k=self.k, stride=self.stride)
        sampled = time.perf_counter()
        if len(selection) == 0:
            raise UsageError(f"{path}: the {self.sampler_name} sampler chose no clips.")
        return VideoPlan(info, selection, grid.subset(selection.index), probed - began, sampled - probed)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        errors, plans = [], []
        for path in batch["path"]:
            path = str(path)
            try:
                with torch.inference_mode():
                    plans.append(pickle.dumps(self.plan(path)))
                errors.append("")
            except _VIDEO_FAILURES as error:
                plans.append(b"")
                errors.append(_error_message(path, error))
        return {
            "position": np.asarray(batch["position"], dtype=np.int64),
            "path": np.asarray([str(p) for p in batch["path"]], dtype=object),
            "error": np.asarray(errors, dtype=object),
            "plan": np.asarray(plans, dtype=object),
        }


def _clip_rows(position: int, path: str, *, ranks, indices, clips: np.ndarray | None, clips_in_video: int,
               decode_s: float, plan: bytes, error: str = "") -> dict[str, np.ndarray]:
    """Clip rows of one video (``clips`` None: one error row)."""
    n = 1 if clips is None else len(clips)
    pixels = [b""] if clips is None else [np.ascontiguousarray(c).tobytes() for c in clips]
    shapes = [np.zeros(4, dtype=np.int64)] if clips is None else [np.asarray(c.shape, dtype=np.int64) for c in clips]
    return {
        "position": np.full(n, position, dtype=np.int64),
        "path": np.asarray([path] * n, dtype=object),
        "error": np.asarray([error] * n, dtype=object),
        "rank": np.asarray(ranks, dtype=np.int64),
        "clip_index": np.asarray(indices, dtype=np.int64),
        "clips_in_video": np.full(n, clips_in_video, dtype=np.int64),
        "pixels": np.asarray(pixels, dtype=object),
        "shape": np.stack(shapes),
        "decode_s": np.full(n, decode_s / n, dtype=np.float64),
        # the plan rides on the video's first row only: a dense pass has hundreds of rows per video
        "plan": np.asarray([plan] + [b""] * (n - 1), dtype=object),
    }


class DecodeClips:
    """Stage 2: video rows -> clip rows, ``chunk`` clips decoded at a time (a generator of batches).

    Clips are decoded in file order, so one forward pass of the decoder serves neighbouring clips;
    each row keeps its ``rank`` in the selection. ``spec`` is the classifier's input spec
    (``ClassifierSpec``): clips are decoded at its resize size, so that resizing happens in the decoder.
    """

    def __init__(self, *, spec, chunk: int = 8, threads: int | None = None) -> None:
        if not isinstance(chunk, int) or chunk < 1:
            raise UsageError(f"chunk must be a positive integer, got {chunk!r}.")
        _set_threads(threads)
        self.spec = spec
        self.chunk = chunk

    def __call__(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        from scsampler.models.preprocess import decode_size
        from scsampler.video.chunks import decode_in_file_order

        for position, path, error, plan_bytes in zip(batch["position"], batch["path"], batch["error"], batch["plan"]):
            position, path = int(position), str(path)
            if error:
                yield _clip_rows(position, path, ranks=[-1], indices=[-1], clips=None, clips_in_video=0,
                                 decode_s=0.0, plan=b"", error=str(error))  # fmt: skip
                continue
            plan: VideoPlan = pickle.loads(plan_bytes)
            size = decode_size(self.spec, height=plan.info.height, width=plan.info.width)
            chunks = decode_in_file_order(path, plan.clips, info=plan.info, size=size, chunk=self.chunk)
            first = True
            while True:
                try:
                    ranks, pixels, seconds = next(chunks)
                except StopIteration:
                    break
                except _VIDEO_FAILURES as failure:  # rows already sent are dropped when this one arrives
                    yield _clip_rows(position, path, ranks=[-1], indices=[-1], clips=None, clips_in_video=0,
                                     decode_s=0.0, plan=b"", error=_error_message(path, failure))  # fmt: skip
                    break
                yield _clip_rows(
                    position, path, ranks=ranks, indices=plan.clips.index[ranks], clips=pixels.numpy(),
                    clips_in_video=len(plan.clips), decode_s=seconds, plan=plan_bytes if first else b"",
                )
                first = False


class ClassifyClips:
    """Stage 3: clip rows -> the same rows with ``logits`` (float32 bytes) instead of ``pixels``.

    Loads the classifier once (``Classifier.load``: a registry name and weights, or a checkpoint;
    or takes a loaded ``Classifier``) on ``device`` (on CUDA: bf16 autocast, pinned host memory, non-blocking copies). Clips of any
    videos are classified together, in forward batches of exactly ``batch_size`` (the last padded
    with zeros; None: the classifier's own, :attr:`~scsampler.models.Classifier.batch_size`), so the
    logits of a clip are the same bits whatever shares its batch. ``backend``
    (``eager`` or ``onnx``, CPU only: :mod:`scsampler.models.classifier_backends`) is how a classifier
    it loads runs; a loaded one keeps its own.
    """

    def __init__(
        self,
        *,
        classifier,
        weights: str | None = None,
        num_classes: int | None = None,
        device: str = "cpu",
        batch_size: int | None = None,
        threads: int | None = None,
        backend: str = "eager",
    ) -> None:
        from scsampler.models import Classifier

        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}.")
        _set_threads(threads)
        if isinstance(classifier, Classifier):  # already loaded (the local engine around a caller's classifier)
            self.classifier = classifier
        else:
            self.classifier = Classifier.load(
                classifier, weights=weights, num_classes=num_classes, device=device, backend=backend
            )  # after _set_threads: an onnx session takes torch's thread count
        self.batch_size = self.classifier.batch_size if batch_size is None else batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        _maybe_die_once()
        rows = len(batch["position"])
        logits: list[bytes] = [b""] * rows
        seconds = np.zeros(rows, dtype=np.float64)
        todo = [i for i in range(rows) if not batch["error"][i]]
        with torch.inference_mode():
            for start in range(0, len(todo), self.batch_size):
                part = todo[start : start + self.batch_size]
                began = time.perf_counter()
                # clip by clip: videos of other sizes may share the batch (preprocessing is per clip anyway)
                inputs = torch.cat([self.classifier.prepare(torch.from_numpy(_pixels(batch, i)).unsqueeze(0)) for i in part])
                if len(part) < self.batch_size:  # a fixed batch shape: a clip's logits do not depend on its neighbours
                    inputs = torch.cat([inputs, inputs.new_zeros((self.batch_size - len(part), *inputs.shape[1:]))])
                out = self.classifier.forward_preprocessed(inputs)[: len(part)].numpy().astype(np.float32)
                share = (time.perf_counter() - began) / len(part)
                for row, values in zip(part, out):
                    logits[row] = values.tobytes()
                    seconds[row] = share
        result = {name: column for name, column in batch.items() if name not in ("pixels", "shape")}
        result["logits"] = np.asarray(logits, dtype=object)
        result["classifier_s"] = seconds
        return result


def _pixels(batch: dict[str, np.ndarray], row: int) -> np.ndarray:
    shape = tuple(int(v) for v in batch["shape"][row])
    return np.frombuffer(batch["pixels"][row], dtype=np.uint8).reshape(shape).copy()  # writable, for torch


def _maybe_die_once() -> None:
    marker = os.environ.get(FAULT_ENV)
    if not marker:
        return
    try:
        with open(marker, "x", encoding="utf-8") as handle:
            handle.write(str(os.getpid()))
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
