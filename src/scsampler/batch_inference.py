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
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import av
import numpy as np
import torch

from scsampler.early_exit import DEFAULT_K_MAX, DEFAULT_K_RULE, EarlyExitRule, confidence
from scsampler.errors import ScsamplerError, UsageError
from scsampler.inference import classify_video
from scsampler.models import Classifier
from scsampler.samplers import get_sampler
from scsampler.samplers.composite import OWN

__all__ = ["ClassifyOptions", "VideoClassifier", "classify_videos"]


@dataclass(frozen=True)
class ClassifyOptions:
    """What every worker builds its classifier and sampler from (plain values, so it travels to Ray actors).

    ``k`` and ``stride`` None mean a saved sampler's own (else 10 and 1). ``k="auto"`` chooses K per
    video (:mod:`scsampler.early_exit`) with ``k_max``, ``k_threshold`` (None: the rule's default)
    and ``k_rule``; ``batch_size`` None is 8, and 1 with ``k="auto"`` (it checks after each batch).
    """

    classifier: str | None = None
    weights: str | None = None
    sampler: str = "uniform"
    k: int | str | None = None
    stride: int | None = None
    seed: int = 0
    aggregate: str = "softmax_mean"
    batch_size: int | None = None
    device: str = "cpu"
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
        self.sampler = get_sampler(options.sampler, **({"seed": options.seed} if options.sampler == "random" else {}))
        self.classifier = Classifier.load(options.classifier, weights=options.weights, device=options.device)

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
                    k=OWN if options.k is None else options.k,
                    stride=OWN if options.stride is None else options.stride,
                    aggregate=options.aggregate,
                    batch_size=options.batch_size,
                    early_exit=self.early_exit,
                )
        except (ScsamplerError, av.FFmpegError, OSError) as error:
            message = str(error) if isinstance(error, ScsamplerError) else f"{path}: {error}"
            return {"path": path, "top5": [], "clips": [], "seconds": {}, "error": message}
        result = prediction.to_dict()
        result.update(
            classifier=self.classifier.name,
            sampler=self.sampler.name or options.sampler,
            k=len(prediction.selection),
            k_used=len(prediction.selection),  # with k="auto": the clips this video needed
            stride=getattr(self.sampler, "stride", 1) if options.stride is None else options.stride,
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


def classify_videos(paths: Sequence[str], options: ClassifyOptions, *, workers: int = 1) -> Iterator[dict]:
    """Each video's result (see :meth:`VideoClassifier.classify`), in the order of ``paths``.

    ``workers=1`` runs in this process. More maps :class:`VideoClassifier` over the paths with
    Ray Data on that many actors (one model each, ``cores // workers`` torch threads each); it
    joins the cluster that ``RAY_ADDRESS`` names, or starts a local Ray runtime when none is
    running, and disconnects afterwards. Ray's start-up and a model load per actor cost several
    seconds, and one process already spreads a clip batch over the cores through torch's
    threads: workers pay off with many cores or a cluster, not on a 2-core machine
    (``benchmarks/classify_workers.py``).
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}.")
    paths = [os.fspath(path) for path in paths]
    if workers == 1 or len(paths) <= 1:
        worker = VideoClassifier(options)
        for path in paths:
            yield worker.classify(path)
        return
    VideoClassifier(options)  # a bad model, weights file or sampler fails here, clearly, before any worker starts
    yield from _classify_on_ray(paths, options, workers=min(workers, len(paths)))


def _classify_on_ray(paths: list[str], options: ClassifyOptions, *, workers: int) -> Iterator[dict]:
    try:
        import ray
        import ray.data
    except ImportError:  # pragma: no cover - ray is a dependency; this guards a trimmed install
        raise UsageError("--workers above 1 needs Ray (pip install 'ray[data]').") from None
    cores = os.cpu_count() or 1
    started_here = not ray.is_initialized()
    if started_here and os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False, logging_level=logging.ERROR)  # join the cluster RAY_ADDRESS names
    elif started_here:
        # a local runtime with enough logical CPUs for every actor; quiet unless something goes wrong
        ray.init(
            num_cpus=max(cores, workers),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    try:
        with warnings.catch_warnings():
            # Ray Data warns about its own deprecated settings whenever its context is built, and
            # about the keyword its own documentation gives for max_restarts
            warnings.filterwarnings("ignore", module=r"ray\.")
            warnings.filterwarnings("ignore", message=r".*ray_remote_args.* is deprecated")
            context = ray.data.DataContext.get_current()
            context.execution_options.preserve_order = True  # results in input order
            context.enable_progress_bars = False  # the caller shows its own
            logging.getLogger("ray.data").setLevel(logging.ERROR)
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
    finally:
        if started_here:
            ray.shutdown()

