"""Classify many videos: one callable that a plain loop or Ray Data maps over batches of paths.

:class:`VideoClassifier` follows the Ray Data batch-inference shape: it loads the clip
classifier and the sampler once in ``__init__``, and ``__call__`` classifies a batch
``{"path": [...]}`` under ``torch.inference_mode()``. :func:`classify_videos` runs its
``classify`` in this process (``workers=1``) or maps it on ``workers`` Ray actors, each holding its own model, with the
results in input order either way. A video that fails gives a result with ``error`` set, and
the others still run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import av
import numpy as np
import torch

from scsampler.early_exit import DEFAULT_K_MAX, DEFAULT_K_RULE, EarlyExitRule, confidence
from scsampler.errors import ScsamplerError, UsageError
from scsampler.inference import aggregate_clip_logits, classify_video
from scsampler.models import Classifier
from scsampler.pipeline import ENGINES, Pipeline, PipelineConfig, VideoOutcome
from scsampler.pipeline.ray_session import ray_data_session
from scsampler.pipeline.results import ResultStore
from scsampler.samplers.base import Own, resolve_k_and_stride
from scsampler.samplers.build import build_sampler
from scsampler.types import LabelProbability, VideoPrediction

__all__ = ["ClassifyOptions", "VideoClassifier", "classify_videos", "outcome_result", "error_result"]


@dataclass(frozen=True)
class ClassifyOptions:
    """What every worker builds its classifier and sampler from (plain values, so it travels to Ray actors).

    ``k`` is the clips per video (None: every clip); ``k`` and ``stride`` ``"own"`` (the defaults)
    mean the sampler's own, a saved composite's, else 10 and 1
    (:func:`~scsampler.samplers.base.resolve_k_and_stride`). ``k="auto"`` chooses K per video
    (:mod:`scsampler.early_exit`) with ``k_max``, ``k_threshold`` (None: the rule's default) and
    ``k_rule``; ``batch_size`` None is the classifier's own (:attr:`~scsampler.models.Classifier.batch_size`), and 1
    with ``k="auto"`` (it checks after each batch).
    """

    classifier: str | None = None
    weights: str | None = None
    sampler: str = "uniform"
    sampler_backend: str = "eager"  # how a learned sampler's networks run: eager or onnx (models/sampler_backends.py)
    k: int | None | Own | Literal["auto"] = "own"
    stride: int | Own = "own"
    seed: int = 0
    aggregate: str = "softmax_mean"
    batch_size: int | None = None
    device: str = "cpu"
    classifier_backend: str = "eager"  # how the classifier runs on a CPU: eager or onnx (models/classifier_backends.py)
    k_max: int = DEFAULT_K_MAX
    k_threshold: float | None = None
    k_rule: str = DEFAULT_K_RULE

    def early_exit(self) -> EarlyExitRule | None:
        """The rule of ``k="auto"`` (a bad threshold or rule fails here), else None."""
        if self.k != "auto":
            return None
        return EarlyExitRule(threshold=self.k_threshold, rule=self.k_rule, k_max=self.k_max)


class VideoClassifier:
    """Loads the model and the sampler once; classifies videos by path.

    ``threads`` sets torch's intra-op threads in this worker (None leaves torch's default),
    so that several workers on one machine do not oversubscribe its cores.
    """

    def __init__(self, options: ClassifyOptions, *, threads: int | None = None) -> None:
        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        self.options = options
        self.early_exit = options.early_exit()
        # the sampler first: it is cheap, and a bad --sampler should be reported as itself, not as a classifier error
        self.sampler = build_sampler(options.sampler, seed=options.seed, backend=options.sampler_backend)
        auto = options.k == "auto"
        k, self.stride = resolve_k_and_stride(self.sampler, k=None if auto else options.k, stride=options.stride)
        self.k = "auto" if auto else k
        self.classifier = Classifier.load(
            options.classifier, weights=options.weights, device=options.device, backend=options.classifier_backend
        )

    def classify(self, path: str) -> dict:
        """One video's result (under ``torch.inference_mode()``): ``path``, ``top5``, ``clips``, ``seconds``, ``error`` (None when it worked), and the settings used.

        ``k_used`` is the number of clips classified; with ``k="auto"`` the result also holds ``k_rule``,
        ``k_threshold``, ``k_max`` and ``k_confidence`` (the final prediction's confidence under that rule).
        """
        options = self.options
        try:
            with torch.inference_mode():
                prediction = classify_video(
                    path,
                    classifier=self.classifier,
                    sampler=self.sampler,
                    k=self.k,
                    stride=self.stride,
                    aggregate=options.aggregate,
                    batch_size=options.batch_size,
                    early_exit=self.early_exit,
                )
        except (ScsamplerError, av.FFmpegError, OSError) as error:
            return error_result(path, str(error) if isinstance(error, ScsamplerError) else f"{path}: {error}")
        result = _result(
            prediction,
            classifier=self.classifier.name,
            sampler=self.sampler.name or options.sampler,
            stride=self.stride,
        )
        if self.early_exit is not None:
            result.update(
                k="auto",
                **self.early_exit.to_dict(),
                k_confidence=round(confidence(prediction.probabilities, self.early_exit.rule), 6),
            )
        return result

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{"path": [...]}`` -> ``{"path": [...], "result": [JSON text, ...]}`` (a column of plain strings travels well)."""
        results = [json.dumps(self.classify(str(path)), allow_nan=False) for path in batch["path"]]
        return {"path": np.asarray(batch["path"]), "result": np.asarray(results, dtype=object)}


def error_result(path: str, message: str) -> dict:
    """The result of a video that could not be classified."""
    return {"path": path, "top5": [], "clips": [], "seconds": {}, "error": message}


def _result(prediction: VideoPrediction, *, classifier: str, sampler: str, stride: int) -> dict:
    result = prediction.to_dict()
    result.update(
        classifier=classifier,
        sampler=sampler,
        k=len(prediction.selection),
        k_used=len(prediction.selection),  # with k="auto": the clips this video needed
        stride=stride,
    )
    return result


def outcome_result(outcome: VideoOutcome, pipeline: Pipeline, *, aggregate: str, sampler: str) -> dict:
    """A pipeline's :class:`VideoOutcome` as the result :meth:`VideoClassifier.classify` gives."""
    if outcome.error is not None:
        return error_result(outcome.path, outcome.error)
    classes = pipeline.classifier.classes
    probabilities = aggregate_clip_logits(outcome.logits, aggregate=aggregate)
    top = np.argsort(-probabilities, kind="stable")[:5]
    prediction = VideoPrediction(
        path=outcome.path,
        top5=tuple(LabelProbability(classes[i], float(probabilities[i])) for i in top),
        probabilities=probabilities,
        selection=outcome.plan.selection,
        seconds=outcome.seconds,
    )
    return _result(prediction, classifier=pipeline.classifier.name, sampler=sampler, stride=pipeline.select.stride)


def classify_videos(
    paths: Sequence[str], options: ClassifyOptions, *, workers: int = 1, engine: str | None = None,
    store: ResultStore | None = None,
) -> Iterator[dict]:
    """Each video's result (see :meth:`VideoClassifier.classify`), in the order of ``paths``.

    ``engine="local"`` (the default with one worker) runs the pipeline (:mod:`scsampler.pipeline`)
    in this process; ``"ray"`` (the default with more) streams it on Ray Data, ``workers`` actors
    per CPU stage and the classifier on GPU actors when the cluster has GPUs. Ray joins the cluster
    that ``RAY_ADDRESS`` names, or starts a local runtime and stops it afterwards. Both give the
    same results apart from timings. Ray's start-up and a model load per actor cost several
    seconds: on a 2-core machine one process is faster (``benchmarks/classify_workers.py``).

    ``k="auto"`` decides after each batch whether to classify more of a video's clips, so it
    runs whole videos per worker (:class:`VideoClassifier`), on either engine.

    ``store`` keeps finished results on disk: videos it already holds are not classified again
    (their stored results are yielded), and new ones are added as they finish.
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}.")
    engine = engine or ("ray" if workers > 1 else "local")
    if engine not in ENGINES:
        raise UsageError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}.")
    paths = [os.fspath(path) for path in paths]
    done = store.done if store is not None else {}
    todo = [i for i, path in enumerate(paths) if path not in done]
    fresh = _fresh_results([paths[i] for i in todo], options, workers=workers, engine=engine)
    for position, path in enumerate(paths):
        if path in done:
            yield done[path]
            continue
        result = next(fresh)
        if store is not None:
            store.add(result)
        yield result


def _fresh_results(paths: list[str], options: ClassifyOptions, *, workers: int, engine: str) -> Iterator[dict]:
    if not paths:
        return
    if options.k == "auto":
        if engine == "local" or len(paths) <= 1:
            worker = VideoClassifier(options)
            for path in paths:
                yield worker.classify(path)
            return
        VideoClassifier(options)  # a bad model, weights file or sampler fails here, clearly, before any worker starts
        yield from _classify_on_ray(paths, options, workers=min(workers, len(paths)))
        return
    pipeline = Pipeline(PipelineConfig(
        classifier=options.classifier, weights=options.weights, device=options.device, sampler=options.sampler,
        classifier_backend=options.classifier_backend,
        sampler_backend=options.sampler_backend, k=options.k, stride=options.stride, seed=options.seed, batch_size=options.batch_size, engine=engine,
        workers=workers,
    ))  # fmt: skip
    sampler = (pipeline.select.sampler and pipeline.select.sampler.name) or options.sampler
    for outcome in pipeline.run(paths):
        yield outcome_result(outcome, pipeline, aggregate=options.aggregate, sampler=sampler)


def _classify_on_ray(paths: list[str], options: ClassifyOptions, *, workers: int) -> Iterator[dict]:
    cores = os.cpu_count() or 1
    with ray_data_session(logical_cpus=max(cores, workers), needed_for="--workers above 1") as ray:
        results = ray.data.from_items([{"path": path} for path in paths], override_num_blocks=len(paths)).map_batches(
            VideoClassifier,
            fn_constructor_args=(options,),
            fn_constructor_kwargs={"threads": max(1, cores // workers)},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
            max_restarts=0,  # a worker that crashes fails the run; by default Ray would retry it forever
        )
        try:
            for row in results.iter_rows():
                yield json.loads(row["result"])
        except ray.exceptions.RayError as error:
            raise ScsamplerError(
                f"a Ray worker failed while classifying ({type(error).__name__}); "
                "rerun with --workers 1 to see which video stops it."
            ) from error
