"""``classify_video``: sample clips, decode only those, classify them, average into a video label.

    >>> from scsampler.inference import classify_video
    >>> prediction = classify_video("match.mp4", classifier="r2plus1d_18", weights="weights.pth",
    ...                             sampler="uniform", k=10)
    >>> prediction.label, prediction.seconds
"""

from __future__ import annotations

import os
import time
from typing import Literal

import numpy as np
import torch

from scsampler._prefetch import prefetched
from scsampler.early_exit import DEFAULT_BATCH_SIZE, EarlyExitRule, classify_until_confident
from scsampler.errors import UsageError
from scsampler.models.classifier import Classifier
from scsampler.samplers.base import ClipSampler, Own, resolve_k_and_stride
from scsampler.samplers.registry import get_sampler
from scsampler.types import ClipGrid, ClipSelection, LabelProbability, VideoInfo, VideoPrediction
from scsampler.video import clip_grid, probe
from scsampler.video.chunks import decode_in_file_order

__all__ = ["classify_video", "aggregate_clip_logits", "classify_clips", "AGGREGATES"]

Aggregate = Literal["softmax_mean", "logit_mean"]
AGGREGATES: tuple[str, ...] = ("softmax_mean", "logit_mean")


def aggregate_clip_logits(logits: torch.Tensor | np.ndarray, *, aggregate: Aggregate = "softmax_mean") -> np.ndarray:
    """Video-level class probabilities ``[C]`` from clip logits ``[K, C]``.

    ``"softmax_mean"`` averages the clips' softmax (the paper's rule);
    ``"logit_mean"`` takes the softmax of the mean logits.
    """
    if aggregate not in AGGREGATES:
        raise UsageError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}.")
    logits = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    if logits.ndim != 2 or logits.shape[0] < 1:
        raise UsageError(f"clip logits must be [K, C] with K >= 1, got shape {tuple(logits.shape)}.")
    if aggregate == "softmax_mean":
        probs = torch.softmax(logits, dim=1).mean(dim=0)
    else:
        probs = torch.softmax(logits.mean(dim=0), dim=0)
    return probs.numpy()


def classify_clips(
    path: str | os.PathLike,
    clips: ClipGrid,
    *,
    classifier: Classifier,
    info: VideoInfo,
    batch_size: int | None = None,
) -> tuple[torch.Tensor, float, float]:
    """Decode ``clips`` of one video and classify them: ``(logits [K, C], decode_s, classifier_s)``.

    ``clips`` is the grid of the clips to classify, in the order wanted (``grid.subset(selection.index)``),
    ``info`` the video's probe. Clips are decoded in file order, ``batch_size`` at a time
    (:func:`scsampler.video.chunks.decode_in_file_order`, the pipeline's decode loop too), and each
    decoded chunk is one classifier batch; the logits come back in ``clips``' order. Many videos, and
    the dense passes of ``label`` and ``evaluate``, go through :mod:`scsampler.pipeline` instead
    (:func:`scsampler.pipeline.every_clip_pipeline`), whose forward batches have a fixed shape.
    ``batch_size`` None: the classifier's own (:attr:`~scsampler.models.Classifier.batch_size`).
    The next chunk is decoded in a thread while the classifier runs on this one
    (:func:`scsampler._prefetch.prefetched`), so ``decode_s`` (the decoding's own seconds) overlaps
    ``classifier_s`` and the two add up to more than the call's wall time.
    """
    batch_size = classifier.batch_size if batch_size is None else batch_size
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}.")
    size = classifier.decode_size(height=info.height, width=info.width)
    # Each batch's logits are copied into one tensor, not kept as views: a view keeps its batch's output (32
    # bytes) alive amid the freed activations, and over a dense pass those pinned bits split the heap so
    # that it grew by a clip's worth of frames each clip (5-minute video, r2plus1d_18: 3.2 GB; now flat).
    out: torch.Tensor | None = None
    filled = torch.zeros(len(clips), dtype=torch.bool)
    decode_s = classifier_s = 0.0
    # Beside a classifier on the CPU, decoding needs only to stay ahead of it: slice threads, not frame
    # threads that take cores from it (40 consecutive clips of r2plus1d_18 here: 23.0-23.2 s against 23.8-24.0)
    on_cpu = str(getattr(classifier, "device", "cpu")).startswith("cpu")
    threads = "SLICE" if on_cpu else None
    chunks = decode_in_file_order(path, clips, info=info, size=size, chunk=batch_size, thread_type=threads)
    for ranks, pixels, seconds in prefetched(chunks, name="scsampler-decode"):
        began = time.perf_counter()
        logits = classifier(pixels)
        classifier_s += time.perf_counter() - began
        decode_s += seconds
        if out is None:
            out = torch.empty((len(clips), *logits.shape[1:]), dtype=logits.dtype)
        ranks = torch.as_tensor(ranks, dtype=torch.long)
        out[ranks] = logits
        filled[ranks] = True
        del logits
    if out is None or not bool(filled.all()):
        raise UsageError(f"{os.fspath(path)}: {int((~filled).sum())} of {len(clips)} clips were not classified.")
    return out, decode_s, classifier_s


def classify_video(
    path: str | os.PathLike,
    *,
    classifier: Classifier | str,
    sampler: ClipSampler | str = "uniform",
    k: int | None | Own | Literal["auto"] = "own",
    stride: int | Own = "own",
    weights: str | os.PathLike | None = None,
    aggregate: Aggregate = "softmax_mean",
    batch_size: int | None = None,
    device: str = "cpu",
    early_exit: EarlyExitRule | None = None,
    classifier_backend: str = "eager",
) -> VideoPrediction:
    """Classify a video from ``k`` clips chosen by ``sampler``.

    Steps: probe the file; cut it into clips of the classifier's length; let
    the sampler choose ``k`` clips (scoring every ``stride``-th clip); decode
    only those, at the classifier's input size; run the classifier under
    ``torch.inference_mode()``; average the clips' softmax (``aggregate``).

    Args:
        path: the video file.
        classifier: a loaded :class:`Classifier`, or a registry name (then
            ``weights``, ``device`` and ``classifier_backend`` are used to load it;
            loading once and passing the object is faster for many videos).
        sampler: a :class:`ClipSampler` or a registered name (or saved sampler path).
        k: clips to classify (None: all of them). ``"own"`` (the default): the
            sampler's own K (a composite bundle carries it), else 10
            (:func:`~scsampler.samplers.base.resolve_k_and_stride`). ``"auto"``: K chosen
            per video by ``early_exit`` (:mod:`scsampler.early_exit`): the sampler
            ranks ``early_exit.k_max`` clips and they are decoded and classified
            in that order, one batch at a time, until the running prediction is
            confident; ``selection`` then holds only the clips classified.
        stride: sampling stride N (the sampler scores clips 0, N, 2N, ...).
            ``"own"`` (the default): the sampler's own N, else 1.
        batch_size: clips per decode and classifier batch. None: the classifier's
            own (:attr:`~scsampler.models.Classifier.batch_size`: 1 on a CPU for the
            full-size networks, 8 on a GPU), and with ``k="auto"`` 1, because the rule
            checks only after a whole batch (a batch of B can stop after B, 2B, ... clips).
        early_exit: the rule of ``k="auto"`` (None: :class:`EarlyExitRule`'s
            defaults: top-1 probability >= 0.8, K-max 10); needs ``aggregate="softmax_mean"``.
        classifier_backend: how a classifier loaded by name runs on a CPU: ``eager``
            or ``onnx`` (:mod:`scsampler.models.classifier_backends`).

    Returns:
        A :class:`VideoPrediction`: top-5 labels with probabilities, all class
        probabilities (in ``classifier.classes`` order), the clips used, and
        ``seconds`` split into ``probe``, ``sampler``, ``decode`` and ``classifier`` (the decoding of
        the next clips runs beside the classifier, so ``decode`` overlaps ``classifier``).

    Raises:
        VideoError: the file cannot be read or decoded.
        UsageError: bad arguments; a sampler that needs the label (Oracle).
    """
    if isinstance(sampler, str):
        sampler = get_sampler(sampler)
    auto = isinstance(k, str) and k == "auto"
    # "auto" ranks early_exit.k_max clips; any other k is resolved (and checked) here, once
    resolved_k, stride = resolve_k_and_stride(sampler, k=None if auto else k, stride=stride)
    if aggregate not in AGGREGATES:
        raise UsageError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}.")
    if auto and aggregate != "softmax_mean":
        raise UsageError(f"k='auto' stops on the mean softmax of the clips so far; use aggregate='softmax_mean', not {aggregate!r}.")
    if early_exit is not None and not auto:
        raise UsageError(f"early_exit is the rule of k='auto'; pass k='auto' with it, not k={resolved_k!r}.")
    if isinstance(classifier, str):
        classifier = Classifier.load(classifier, weights=weights, device=device, backend=classifier_backend)
    if batch_size is None:
        batch_size = DEFAULT_BATCH_SIZE if auto else classifier.batch_size
    if sampler.needs_label:
        raise UsageError(
            f"the {sampler.name or type(sampler).__name__} sampler needs the ground-truth label (an upper bound for "
            "evaluation); choose a sampler that does not, e.g. uniform."
        )

    began = time.perf_counter()
    info = probe(path)
    grid = clip_grid(info, frames_per_clip=classifier.frames_per_clip)
    probed = time.perf_counter()
    rule = (early_exit or EarlyExitRule()) if auto else None
    selection = sampler.select(info, grid, k=rule.k_max if auto else resolved_k, stride=stride)
    sampled = time.perf_counter()
    if len(selection) == 0:
        raise UsageError(f"{os.fspath(path)}: the {sampler.name} sampler chose no clips.")
    if auto:
        selection, logits, decode_s, classifier_s = _classify_until_confident(
            path, selection, rule, classifier=classifier, grid=grid, info=info, batch_size=batch_size
        )
    else:
        logits, decode_s, classifier_s = classify_clips(
            path, grid.subset(selection.index), classifier=classifier, info=info, batch_size=batch_size
        )
    probabilities = aggregate_clip_logits(logits, aggregate=aggregate)
    top = np.argsort(-probabilities, kind="stable")[:5]
    return VideoPrediction(
        path=os.fspath(path),
        top5=tuple(LabelProbability(classifier.classes[i], float(probabilities[i])) for i in top),
        probabilities=probabilities,
        selection=selection,
        seconds={
            "probe": probed - began,
            "sampler": sampled - probed,
            "decode": decode_s,
            "classifier": classifier_s,
        },
    )


def _head(selection: ClipSelection, start: int, stop: int) -> ClipSelection:
    """Ranked clips ``start..stop-1`` of ``selection``, still in ranking order."""
    return selection.take(slice(start, stop))


def _classify_until_confident(
    path, selection: ClipSelection, rule: EarlyExitRule, *, classifier: Classifier, grid: ClipGrid, info: VideoInfo, batch_size: int
) -> tuple[ClipSelection, torch.Tensor, float, float]:
    """``k="auto"``: decode and classify the ranked clips batch by batch until confident (no clip decoded after that)."""
    seconds = {"decode": 0.0, "classifier": 0.0}

    def classify_batch(start: int, stop: int) -> np.ndarray:
        logits, decode_s, classifier_s = classify_clips(
            path, grid.subset(selection.index[start:stop]), classifier=classifier, info=info, batch_size=batch_size
        )
        seconds["decode"] += decode_s
        seconds["classifier"] += classifier_s
        return logits.numpy()

    result = classify_until_confident(classify_batch, len(selection), rule, batch_size=batch_size)
    return _head(selection, 0, result.clips), torch.from_numpy(result.logits), seconds["decode"], seconds["classifier"]
