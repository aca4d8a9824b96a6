"""Run the stages over many videos: in a plain local loop, or streaming on Ray Data; same outputs.

    >>> from scsampler.pipeline import Pipeline, PipelineConfig
    >>> pipeline = Pipeline(PipelineConfig(weights="runs/demo/classifier/best.pt", sampler="uniform", k=10))
    >>> for video in pipeline.run(["a.mp4", "b.mp4"]):      # in input order
    ...     video.path, video.error, video.logits.shape       # logits [K, C], in the sampler's order

Both engines build the same stage objects (:mod:`scsampler.pipeline.stages`) from the same
:class:`PipelineConfig`, and the classifier stage's fixed forward-batch shape makes a clip's
logits independent of which clips shared its batch, so the local loop and Ray give identical
logits, in input order. On Ray each stage gets its own actor pool, by resource: selection and
decoding on CPU actors, the classifier on GPU actors when the cluster has GPUs (one each),
else on CPU actors; decoded clips stream through in bounded blocks (Ray Data's backpressure),
a killed worker is restarted and its task retried.
"""

from __future__ import annotations

import os
import pickle
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from scsampler.errors import ScsamplerError, UsageError
from scsampler.pipeline.ray_session import ray_data_session
from scsampler.pipeline.stages import EVERY_CLIP, ClassifyClips, DecodeClips, SelectClips, VideoPlan, load_sampler

__all__ = ["ENGINES", "DEFAULT_CHUNK", "PipelineConfig", "VideoOutcome", "Pipeline", "every_clip_pipeline"]

ENGINES = ("local", "ray")
DEFAULT_CHUNK = 8  # clips decoded at a time
#: How often Ray restarts a killed stage worker (and retries its task) before the run fails.
RAY_RETRIES = 3


@dataclass(frozen=True)
class PipelineConfig:
    """What every stage is built from (plain values: it travels to Ray actors).

    ``sampler`` is a sampler name or saved sampler's path, or ``"every-clip"`` for a dense pass;
    ``k`` (None: every clip) and ``stride`` default to ``"own"``, the sampler's own (a saved composite's,
    else 10 and 1: :func:`~scsampler.samplers.base.resolve_k_and_stride`); ``sampler_backend`` runs its
    networks (``eager`` or ``onnx``: ``scsampler.models.sampler_backends``), ``classifier_backend`` the
    clip classifier's on a CPU (the same choices: ``scsampler.models.classifier_backends``). ``batch_size`` is the
    classifier's forward batch (None: the classifier's own, :attr:`~scsampler.models.Classifier.batch_size`),
    ``chunk`` the clips decoded at a time. On Ray, ``workers`` actors
    serve each CPU stage, and ``classifier_workers`` (None: one per GPU of the cluster, else
    ``workers``) the classifier.
    """

    classifier: str | None = None
    weights: str | None = None
    num_classes: int | None = None
    device: str = "cpu"
    classifier_backend: str = "eager"
    sampler: str = EVERY_CLIP
    sampler_backend: str = "eager"
    k: int | None | Literal["own"] = "own"
    stride: int | Literal["own"] = "own"
    seed: int = 0
    batch_size: int | None = None
    chunk: int = DEFAULT_CHUNK
    engine: str = "local"
    workers: int = 1
    classifier_workers: int | None = None

    @classmethod
    def for_classifier(cls, classifier: str | os.PathLike, *, weights: str | None = None, **fields) -> PipelineConfig:
        """A config for a classifier given as a user gives it: a saved checkpoint's path, or a registry name
        with its ``weights`` (a published weights name or local file). A checkpoint carries its own classes,
        so ``num_classes`` applies to a name only."""
        if os.path.isfile(classifier):
            fields.pop("num_classes", None)
            return cls(classifier=None, weights=os.path.abspath(classifier), **fields)
        return cls(classifier=os.fspath(classifier), weights=weights, **fields)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise UsageError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}.")
        for name in ("batch_size", "chunk", "workers"):
            value = getattr(self, name)
            if name == "batch_size" and value is None:
                continue  # the classifier's own
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}.")


@dataclass
class VideoOutcome:
    """One video through the pipeline: its plan and clip logits (in the selection's order), or its error."""

    position: int
    path: str
    error: str | None = None
    plan: VideoPlan | None = None
    logits: np.ndarray | None = None  # float32 [K, C]
    decode_s: float = 0.0
    classifier_s: float = 0.0

    @property
    def seconds(self) -> dict[str, float]:
        """``probe``, ``sampler``, ``decode`` and ``classifier`` seconds (as ``classify_video`` reports them)."""
        if self.plan is None:
            return {}
        return {"probe": self.plan.probe_s, "sampler": self.plan.sampler_s, "decode": self.decode_s, "classifier": self.classifier_s}


@dataclass
class _Gathering:
    rows: dict[int, tuple[np.ndarray, float, float]] = field(default_factory=dict)  # rank -> (logits, decode_s, classifier_s)
    plan: VideoPlan | None = None
    expected: int = -1


class _Gatherer:
    """Stage 4: clip rows (from the classifier stage, in order) -> finished videos, in input order."""

    def __init__(self, positions: Sequence[int]) -> None:
        self.pending = deque(positions)  # what is still to come, in order
        self.done: dict[int, VideoOutcome] = {}
        self.open: dict[int, _Gathering] = {}

    def add(self, batch: dict[str, np.ndarray]) -> list[VideoOutcome]:
        for i in range(len(batch["position"])):
            position, path = int(batch["position"][i]), str(batch["path"][i])
            if position in self.done:
                continue  # rows of a video that failed part-way arrive before its error row and are dropped
            if batch["error"][i]:
                self.open.pop(position, None)
                self.done[position] = VideoOutcome(position, path, error=str(batch["error"][i]))
                continue
            gathering = self.open.setdefault(position, _Gathering())
            gathering.expected = int(batch["clips_in_video"][i])
            if batch["plan"][i]:
                gathering.plan = pickle.loads(batch["plan"][i])
            logits = np.frombuffer(batch["logits"][i], dtype=np.float32)
            gathering.rows[int(batch["rank"][i])] = (logits, float(batch["decode_s"][i]), float(batch["classifier_s"][i]))
            if len(gathering.rows) == gathering.expected and gathering.plan is not None:
                del self.open[position]
                ranked = [gathering.rows[rank] for rank in range(gathering.expected)]
                self.done[position] = VideoOutcome(
                    position, path, plan=gathering.plan, logits=np.stack([r[0] for r in ranked]),
                    decode_s=sum(r[1] for r in ranked), classifier_s=sum(r[2] for r in ranked),
                )  # fmt: skip
        finished = []
        while self.pending and self.pending[0] in self.done:
            finished.append(self.done.pop(self.pending.popleft()))
        return finished


def _concat(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}


def _head(batch: dict[str, np.ndarray], stop: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return {n: c[:stop] for n, c in batch.items()}, {n: c[stop:] for n, c in batch.items()}


class Pipeline:
    """Classify many videos' selected clips (or every clip) with one classifier, on either engine.

    Building it loads the sampler and the classifier once in this process, so a bad model,
    weights file or sampler fails here, clearly, before any worker starts; the local engine then
    uses those objects. ``classifier``: an already loaded ``Classifier`` for the local stages (Ray
    workers still load theirs from ``config``, which must name the same model and weights).
    """

    def __init__(self, config: PipelineConfig, *, classifier=None) -> None:
        self.config = config
        # the sampler first: it is cheap, and a bad sampler should be reported as itself, not as a classifier error
        sampler = load_sampler(config.sampler, seed=config.seed, backend=config.sampler_backend)
        if classifier is not None and config.engine == "ray" and not classifier.pretrained:
            raise UsageError(
                "a randomly initialised classifier would differ on every Ray worker; give weights or a checkpoint, "
                "or use --engine local."
            )
        if classifier is not None and config.engine == "ray" and classifier.backend != config.classifier_backend:
            raise UsageError(
                f"the classifier runs on the {classifier.backend} backend but the config names {config.classifier_backend!r}, "
                "which the Ray workers would load; give both the same."
            )
        self.classify = ClassifyClips(
            classifier=classifier if classifier is not None else config.classifier, weights=config.weights,
            num_classes=config.num_classes, device=config.device, batch_size=config.batch_size,
            backend=config.classifier_backend,
        )  # fmt: skip
        self.classifier = self.classify.classifier
        self.select = SelectClips(
            frames_per_clip=self.classifier.frames_per_clip, sampler=sampler, k=config.k, stride=config.stride, seed=config.seed
        )  # clips as long as the classifier's
        self.decode = DecodeClips(spec=self.classifier.spec, chunk=config.chunk)

    @property
    def sampler_name(self) -> str:
        return self.select.sampler_name

    def run(self, paths: Sequence[str | os.PathLike], *, positions: Sequence[int] | None = None) -> Iterator[VideoOutcome]:
        """Each video's :class:`VideoOutcome`, in the order of ``paths`` (``positions`` label them; default 0, 1, ...)."""
        paths = [os.fspath(p) for p in paths]
        positions = list(range(len(paths))) if positions is None else [int(p) for p in positions]
        if len(positions) != len(paths):
            raise UsageError(f"got {len(positions)} positions for {len(paths)} paths.")
        if not paths:
            return iter(())
        if self.config.engine == "ray":
            return self._run_on_ray(paths, positions)
        return self._run_locally(paths, positions)

    def _run_locally(self, paths: list[str], positions: list[int]) -> Iterator[VideoOutcome]:
        gatherer = _Gatherer(positions)
        waiting: list[dict[str, np.ndarray]] = []  # decoded clip rows not yet classified
        count = 0
        batch_size = self.classify.batch_size
        for position, path in zip(positions, paths):
            videos = self.select({"position": np.asarray([position]), "path": np.asarray([path], dtype=object)})
            for rows in self.decode(videos):
                waiting.append(rows)
                count += len(rows["position"])
                if count < batch_size:
                    continue
                # classify full forward batches as soon as there are some: memory stays at about one batch
                pooled = _concat(waiting)
                while count >= batch_size:
                    ready, pooled = _head(pooled, batch_size)
                    count -= batch_size
                    yield from gatherer.add(self.classify(ready))
                waiting = [pooled]
        if count:  # the last, partial batch (error rows pass through the classifier stage untouched)
            yield from gatherer.add(self.classify(_concat(waiting)))

    def _run_on_ray(self, paths: list[str], positions: list[int]) -> Iterator[VideoOutcome]:
        config = self.config
        cores = os.cpu_count() or 1
        with ray_data_session(logical_cpus=max(cores, 3 * config.workers), needed_for="--engine ray") as ray:
            gpus = int(ray.cluster_resources().get("GPU", 0)) if config.device.startswith("cuda") else 0
            dataset = self._ray_dataset(ray, paths, positions, gpus=gpus, threads=max(1, cores // config.workers))
            gatherer = _Gatherer(positions)
            try:
                for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                    yield from gatherer.add(batch)
            except ray.exceptions.RayError as error:
                raise ScsamplerError(
                    f"a Ray worker failed {RAY_RETRIES + 1} times while classifying ({type(error).__name__}); "
                    "rerun with --engine local to see which video stops it."
                ) from error
            if gatherer.pending:
                raise ScsamplerError(f"the Ray pipeline ended with {len(gatherer.pending)} videos unfinished.")

    def _ray_dataset(self, ray, paths: list[str], positions: list[int], *, gpus: int, threads: int):
        config = self.config
        retries = {"max_restarts": RAY_RETRIES, "max_task_retries": RAY_RETRIES}  # a killed worker: restarted, its task retried
        items = [{"position": p, "path": path} for p, path in zip(positions, paths)]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        dataset = dataset.map_batches(
            SelectClips,
            fn_constructor_kwargs=dict(
                frames_per_clip=self.classifier.frames_per_clip, sampler=config.sampler, k=config.k, stride=config.stride,
                seed=config.seed, threads=threads, sampler_backend=config.sampler_backend,
            ),
            batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(config.workers, len(items))), num_cpus=1, **retries,
        )  # fmt: skip
        dataset = dataset.map_batches(
            DecodeClips,
            fn_constructor_kwargs=dict(spec=self.classifier.spec, chunk=config.chunk, threads=threads),
            batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(config.workers, len(items))), num_cpus=1, **retries,
        )  # fmt: skip
        size = config.classifier_workers or (gpus if gpus else config.workers)
        resources = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
        return dataset.map_batches(
            ClassifyClips,
            fn_constructor_kwargs=dict(
                classifier=config.classifier, weights=config.weights, num_classes=config.num_classes, device=config.device,
                batch_size=self.classify.batch_size, threads=threads, backend=config.classifier_backend,
            ),
            batch_size=self.classify.batch_size, compute=ray.data.ActorPoolStrategy(size=size), **resources, **retries,
        )  # fmt: skip


def every_clip_pipeline(classifier, *, batch_size: int | None = None, chunk: int = DEFAULT_CHUNK) -> Pipeline:
    """The dense pass, in this process: every clip of each video, in time order, through ``classifier``.

    The one way the project decodes and classifies every clip of a video (``label``'s targets and
    ``evaluate``'s cache both run it; ``label --engine ray`` builds the same stages on Ray):
    ``run(paths)`` gives each video's logits ``[L, C]`` (float32, grid order), its plan (probe, clip
    grid) and its decode and classifier seconds. ``classifier`` is a loaded ``Classifier``;
    ``batch_size`` its forward batch (fixed: the last one is padded; None: the classifier's own), ``chunk``
    the clips decoded at a time.
    """
    return Pipeline(PipelineConfig(batch_size=batch_size, chunk=chunk), classifier=classifier)
