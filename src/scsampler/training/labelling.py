"""``label_videos``: what ``scsampler label`` does, as a function: the saliency targets of a manifest or a folder.

    >>> from scsampler.training.labelling import label_videos
    >>> summary = label_videos("data/synth/manifest.csv", classifier="runs/tiny/best.pt",
    ...                        output="runs/targets.parquet", splits=["train", "val"])
    >>> summary.clips, summary.errors

It reads the videos (:func:`read_label_manifest`), joins the torchrun process group when there is
one, loads the classifier (:func:`load_label_classifier`), builds the dense pass's pipeline and runs
:func:`scsampler.training.targets.compute_targets`. Targets are documented there.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from scsampler.data.manifest import Manifest
from scsampler.errors import UsageError
from scsampler.models import Classifier
from scsampler.training.targets import LabelSummary, compute_targets

__all__ = ["read_label_manifest", "load_label_classifier", "label_videos"]


def read_label_manifest(
    source: str | os.PathLike, *, splits: Sequence[str] | None = None, val_fraction: float = 0.0, seed: int = 0
) -> Manifest:
    """The videos to label: a manifest CSV (labels optional) or a folder of videos (unlabelled, all ``train``).

    ``val_fraction`` moves a seeded share of the train (or unsplit) videos to ``val``, whole videos;
    ``splits`` (None: all) keeps only those splits, after that.

    Raises:
        UsageError: a bad split name, or no video in ``splits``.
    """
    from scsampler.data.manifest import read_manifest
    from scsampler.data.video_folder import hold_out_videos, manifest_from_folder

    source = Path(source)
    manifest = manifest_from_folder(source) if source.is_dir() else read_manifest(source, allow_unlabelled=True)
    manifest = hold_out_videos(manifest, val_fraction, seed=seed)
    if splits:
        parts = [manifest.split(name) for name in splits]  # a UsageError names a bad split
        keep = {id(entry) for part in parts for entry in part.entries}
        manifest = replace(manifest, entries=[entry for entry in manifest.entries if id(entry) in keep])
        if not manifest.entries:
            raise UsageError(f"{source}: no videos in the splits {', '.join(splits)}.")
    return manifest


def load_label_classifier(
    classifier: str | os.PathLike, *, manifest: Manifest, weights: str | None = None, device="cpu", source: str | os.PathLike = ""
) -> tuple[Classifier, str]:
    """The classifier that labels ``manifest``, and its source as the targets record it.

    ``classifier`` is a scsampler checkpoint file (it carries its classes; the source is its absolute
    path) or a registry name, built with ``weights`` and the manifest's number of classes (the source is
    the name). A registry model without ``weights`` is a random initialisation: it has no class names
    of its own, so it takes the manifest's, and it cannot label unlabelled videos (``source`` names
    them in that error).
    """
    if os.path.isfile(classifier):
        return Classifier.from_checkpoint(classifier, device=device), os.path.abspath(classifier)
    loaded = Classifier.load(classifier, weights=weights, num_classes=manifest.num_classes or None, device=device)
    if not loaded.pretrained and not manifest.labelled:
        raise UsageError(
            f"{source}: unlabelled videos take their classes and confidences from the classifier, "
            f"and {classifier} without --weights is a random initialisation; give a checkpoint or --weights."
        )
    if not loaded.pretrained:  # a random initialisation has no class names of its own
        loaded.classes = list(manifest.classes)
    return loaded, os.fspath(classifier)


def label_videos(
    source: str | os.PathLike,
    *,
    classifier: str | os.PathLike,
    output: str | os.PathLike,
    weights: str | None = None,
    splits: Sequence[str] | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | None = None,
    engine: str = "local",
    workers: int = 1,
    progress: Callable[[Iterable, int], Iterable] | None = None,
) -> LabelSummary:
    """Run ``classifier`` over every clip of the videos of ``source`` once; write their targets to ``output``.

    ``source``, ``splits``, ``val_fraction`` and ``seed``: :func:`read_label_manifest`. ``classifier`` and
    ``weights``: :func:`load_label_classifier`. ``batch_size`` clips are classified (and decoded) at a time; None: the classifier's own forward batch
    (:attr:`~scsampler.models.Classifier.batch_size`), 8 decoded at a time.
    ``device`` None: CUDA when available. Under ``torchrun`` the videos are shared over the processes
    (each on ``cuda:LOCAL_RANK`` on CUDA) and rank 0 writes ``output`` (``LabelSummary.rank`` says which
    process returned); ``engine="ray"`` streams the dense pass over ``workers`` Ray workers instead.
    A labelled manifest's data warnings are emitted first, once.
    """
    from scsampler.data.checks import warn_about_manifest
    from scsampler.pipeline import DEFAULT_CHUNK, Pipeline, PipelineConfig
    from scsampler.training.distributed import barrier, init_distributed, shutdown_distributed

    manifest = read_label_manifest(source, splits=splits, val_fraction=val_fraction, seed=seed)
    context = init_distributed(device=device)
    try:
        if context.is_main and manifest.labelled:
            warn_about_manifest(source)  # the whole manifest, whatever the splits
        loaded, classifier_source = load_label_classifier(
            classifier, manifest=manifest, weights=weights, device=context.device, source=source
        )
        if engine == "ray" and context.world_size > 1:
            raise UsageError("--engine ray shares the videos over Ray workers itself; run it without torchrun.")
        pipeline = Pipeline(
            PipelineConfig.for_classifier(
                classifier, weights=weights, num_classes=manifest.num_classes or None, device=str(context.device),
                batch_size=batch_size, chunk=batch_size or DEFAULT_CHUNK, engine=engine, workers=workers,
            ),
            classifier=loaded,
        )  # fmt: skip
        return compute_targets(
            manifest,
            classifier=loaded,
            output=output,
            classifier_source=classifier_source,
            batch_size=batch_size,
            rank=context.rank,
            world_size=context.world_size,
            barrier=lambda: barrier(context),
            progress=progress,
            pipeline=pipeline,
        )
    finally:
        shutdown_distributed(context)
