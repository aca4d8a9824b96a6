"""The clip classifier on each CPU backend against eager: per-clip cost, and whether top-1 stays the same.

    nice -n 5 .venv/bin/python benchmarks/classifier_backends.py [--repeats 5] [--heavy-clips 48]
        [--manifest runs/demo/data/manifest.csv --classifier runs/demo/classifier/best.pt --split test]
        [--candidates compile,jit] [--skip-speed] [--skip-demo] [--max-videos N]

1. **Speed**: per-clip forward milliseconds of R(2+1)D-18 (``--model``; random weights: cost does not
   depend on their values) at batch 1 and 8, on prepared float input of its clip shape
   (16x112x112), eager channels-last (what ``Classifier`` runs today) against each backend of
   ``--classifier-backend``. The backends take turns within each of ``--repeats`` rounds (the order
   rotating), after one untimed warm-up each, so that a loaded machine slows all alike; the median
   and the best round are printed, and eager's median over the backend's. ``--candidates`` adds
   ``torch.compile`` (inductor) and ``torch.jit.freeze`` + ``optimize_for_inference`` to the same
   rounds: measured, not offered (slower than ONNX Runtime here, and compiling takes minutes).
2. **Agreement on the demo's test clips**: the demo's classifier (``--classifier``; ``make demo``
   writes it) on *every* clip of the ``--split`` videos of ``--manifest``, eager against each
   backend on the same decoded batches of 8 (the pipeline's forward batch): the largest logit
   difference, beside the smallest top-1/top-2 logit gap (while the difference stays below half
   that gap, no clip's top-1 can change), per-clip top-1 agreement, and video-level top-1 (mean
   softmax over the clips) agreement and accuracy. Per-clip ms on those clips too.
3. **Agreement of R(2+1)D-18** (random weights, seed 0, 400 classes) on ``--heavy-clips`` clips
   spread evenly over the same videos: top-1 agreement of clips and the largest logit difference;
   again with the head's bias centred on those clips (eager's mean logits subtracted from both
   backends' logits), since a random network gives every clip the same top-1.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from scsampler.data.manifest import read_manifest
from scsampler.inference import aggregate_clip_logits
from scsampler.models import Classifier
from scsampler.models.classifier_backends import CLASSIFIER_BACKENDS
from scsampler.video import clip_grid, decode_clips, probe

BATCH = 8  # the pipeline's forward batch (ClassifyClips pads the last one to it)


def load_pair(name: str | None, *, weights: str | None = None, backends: list[str]) -> dict[str, Classifier]:
    """``{backend: Classifier}`` sharing one model: a registry name with seeded random weights, or a checkpoint."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no weights given": random weights on purpose
        torch.manual_seed(0)
        eager = Classifier.load(name, weights=weights, num_classes=None if weights else 400)
    pair = {"eager": eager}
    for backend in backends:
        pair[backend] = Classifier(
            eager.model, eager.spec, eager.classes, name=eager.name, pretrained=eager.pretrained, backend=backend
        )
    return pair


def candidate_runners(classifier: Classifier, names: list[str]) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Other ways to run the channels-last model, to measure beside the offered backends."""
    model = classifier.model
    example = torch.zeros((1, 3, classifier.frames_per_clip, *classifier.spec.crop_size)).contiguous(
        memory_format=torch.channels_last_3d
    )
    runners = {}
    for name in names:
        began = time.perf_counter()
        if name == "compile":
            compiled = torch.compile(model, dynamic=False)  # one graph per batch size, compiled at first use
            runners[name] = lambda x, m=compiled: m(x.contiguous(memory_format=torch.channels_last_3d))
        elif name == "jit":
            with torch.inference_mode():
                frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, example).eval()))
            runners[name] = lambda x, m=frozen: m(x.contiguous(memory_format=torch.channels_last_3d))
        else:
            raise SystemExit(f"unknown candidate {name!r}; choose among compile, jit.")
        print(f"  {name}: built in {time.perf_counter() - began:.1f} s", flush=True)
    return runners


def speed(runners: dict[str, Callable], *, shape: tuple[int, ...], batches: tuple[int, ...], repeats: int) -> None:
    """Per-clip ms of each runner at each batch, taking turns within each round; eager first in the table."""
    print(f"\n{'batch':>5}  {'backend':<8}{'median ms/clip':>16}{'best ms/clip':>14}{'eager/this':>12}")
    names = list(runners)
    for batch in batches:
        x = torch.randn((batch, *shape), generator=torch.Generator().manual_seed(batch))
        times = {name: [] for name in names}
        with torch.inference_mode():
            for name in names:
                began = time.perf_counter()
                runners[name](x)  # warm-up: allocations, kernel choice, (compile) the graph for this batch
                if time.perf_counter() - began > 20:
                    print(f"  ({name} warm-up at batch {batch}: {time.perf_counter() - began:.0f} s)", flush=True)
            for round_ in range(repeats):
                for name in names[round_ % len(names):] + names[: round_ % len(names)]:
                    began = time.perf_counter()
                    runners[name](x)
                    times[name].append((time.perf_counter() - began) * 1000 / batch)
        reference = statistics.median(times["eager"])
        for name in names:
            median = statistics.median(times[name])
            print(f"{batch:>5}  {name:<8}{median:>16.1f}{min(times[name]):>14.1f}{reference / median:>11.2f}x", flush=True)


def _batches(path: Path, classifier: Classifier, *, every: int = 1, limit: int | None = None):
    """Decoded uint8 batches of up to ``BATCH`` clips of ``path`` (every ``every``-th clip, at most ``limit``)."""
    info = probe(path)
    grid = clip_grid(info, frames_per_clip=classifier.frames_per_clip)
    index = np.asarray(grid.index)[::every][:limit]
    size = classifier.decode_size(height=info.height, width=info.width)
    for start in range(0, len(index), BATCH):
        yield decode_clips(path, grid.subset(index[start : start + BATCH]), size=size, info=info)


def compare_on_videos(pair: dict[str, Classifier], videos: list, *, every: int = 1, limit: int | None = None) -> dict:
    """Every backend's logits against eager's on the same prepared batches (padded to ``BATCH``), per video."""
    eager = pair["eager"]
    names = list(pair)
    logits = {name: [] for name in names}
    seconds = {name: 0.0 for name in names}
    clips = 0
    for number, entry in enumerate(videos):
        per_video = {name: [] for name in names}
        for raw in _batches(entry.path, eager, every=every, limit=limit):
            inputs = eager.prepare(raw)
            n = len(inputs)
            if n < BATCH:
                inputs = torch.cat([inputs, inputs.new_zeros((BATCH - n, *inputs.shape[1:]))])
            for name in names[number % len(names):] + names[: number % len(names)]:  # alternate who goes first
                began = time.perf_counter()
                out = pair[name].forward_preprocessed(inputs)[:n]
                seconds[name] += time.perf_counter() - began
                per_video[name].append(out.numpy())
            clips += n
        for name in names:
            logits[name].append(np.concatenate(per_video[name]))
        print(f"  {Path(entry.path).name}: {len(logits['eager'][-1])} clips", flush=True)
    return {"logits": logits, "seconds": seconds, "clips": clips}


def centred(result: dict) -> dict:
    """``result`` as with the head's bias minus eager's mean logits over these clips, for every backend alike.

    A random network's features share a large mean that alone decides every clip's top-1 (one class for
    all); a bias shift, the same for both backends, lets the top-1 differ from clip to clip.
    """
    mean = np.concatenate(result["logits"]["eager"]).mean(0)
    logits = {name: [v - mean for v in values] for name, values in result["logits"].items()}
    return {**result, "logits": logits}


def report_agreement(result: dict, videos: list, *, classes: list[str], title: str, video_level: bool) -> None:
    eager = result["logits"]["eager"]
    eager_all = np.concatenate(eager)
    ordered = np.sort(eager_all, axis=1)
    gap = float((ordered[:, -1] - ordered[:, -2]).min())
    print(f"\n{title}: {result['clips']} clips of {len(videos)} videos")
    print(f"  smallest top-1/top-2 logit gap of eager: {gap:.3g}; largest |logit| {np.abs(eager_all).max():.3g}; "
          f"eager's clip top-1 takes {len(np.unique(eager_all.argmax(1)))} distinct classes")  # fmt: skip
    for name, logits in result["logits"].items():
        if name == "eager":
            continue
        other = np.concatenate(logits)
        same = int((other.argmax(1) == eager_all.argmax(1)).sum())
        line = (f"  {name}: max |logit - eager| {np.abs(other - eager_all).max():.3g}; clip top-1 the same on "
                f"{same}/{len(other)} clips; {1000 * result['seconds'][name] / result['clips']:.1f} ms/clip "
                f"(eager {1000 * result['seconds']['eager'] / result['clips']:.1f}) at batch {BATCH}")  # fmt: skip
        print(line)
        if video_level:
            top_eager = [int(aggregate_clip_logits(v).argmax()) for v in eager]
            top_other = [int(aggregate_clip_logits(v).argmax()) for v in logits]
            truth = [classes.index(entry.label) if entry.label in classes else -1 for entry in videos]
            print(f"  {name}: video top-1 the same on {sum(a == b for a, b in zip(top_eager, top_other))}/{len(videos)} "
                  f"videos; accuracy eager {np.mean(np.equal(top_eager, truth)):.1%}, {name} {np.mean(np.equal(top_other, truth)):.1%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="r2plus1d_18", help="classifier of the speed and random-weights parts")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per batch size (default: 5)")
    parser.add_argument("--candidates", default="", help="also time these: compile, jit (comma-separated)")
    parser.add_argument("--manifest", default="runs/demo/data/manifest.csv")
    parser.add_argument("--classifier", default="runs/demo/classifier/best.pt", help="the demo's trained classifier")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-videos", type=int, help="only the first N videos of the split")
    parser.add_argument("--heavy-clips", type=int, default=48, help="clips for the R(2+1)D-18 agreement (0: skip)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-demo", action="store_true", help="skip the demo classifier's agreement")
    args = parser.parse_args()
    backends = [name for name in CLASSIFIER_BACKENDS if name != "eager"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; backends: eager, {', '.join(backends)}")

    heavy = None
    if not args.skip_speed:
        heavy = load_pair(args.model, backends=backends)
        eager = heavy["eager"]
        shape = (3, eager.frames_per_clip, *eager.spec.crop_size)
        runners = {name: classifier.forward_preprocessed for name, classifier in heavy.items()}
        runners.update(candidate_runners(eager, [c for c in args.candidates.split(",") if c]))
        print(f"\n{args.model}: per-clip forward on prepared {list(shape)} input, {args.repeats} rounds, taking turns")
        speed(runners, shape=shape, batches=(1, BATCH), repeats=args.repeats)

    videos = list(read_manifest(args.manifest, split=args.split).entries)[: args.max_videos]
    if not args.skip_demo:
        pair = load_pair(None, weights=args.classifier, backends=backends)
        print(f"\nthe demo's classifier ({pair['eager'].name}, {args.classifier}) on every clip of {len(videos)} {args.split} videos")
        result = compare_on_videos(pair, videos)
        report_agreement(result, videos, classes=pair["eager"].classes, title="demo classifier", video_level=True)
    if args.heavy_clips > 0:
        heavy = heavy or load_pair(args.model, backends=backends)
        per_video = max(1, args.heavy_clips // len(videos))
        clips = len(clip_grid(probe(videos[0].path), frames_per_clip=heavy["eager"].frames_per_clip))
        print(f"\n{args.model} (random weights, seed 0) on {per_video} clips of each video")
        result = compare_on_videos(heavy, videos, every=max(1, clips // per_video), limit=per_video)
        report_agreement(result, videos, classes=heavy["eager"].classes, title=f"{args.model}, random weights", video_level=False)
        report_agreement(centred(result), videos, classes=heavy["eager"].classes, video_level=False,
                         title=f"{args.model}, random weights, head bias centred on these clips")  # fmt: skip


if __name__ == "__main__":
    main()
