"""Wall time of ``classify`` over many videos: the plain loop against Ray Data workers.

    make demo   # once: the videos, the classifier and the samplers this measures with
    .venv/bin/python benchmarks/classify_workers.py        # the local engine, then Ray with 1 and 2 workers
    .venv/bin/python benchmarks/classify_workers.py --classifier r2plus1d_18 --videos 6

Each setting runs in its own process, so Ray's start-up (about 3 s on the 2-core machine)
and every model load are inside the figure, as a user of ``scsampler classify --workers N``
pays them. The results of every setting are compared with the plain loop's (top-5 and
clips must be identical). Each setting also prints its per-stage seconds per video (probe,
sampler: the cheap signals, scoring and selection, decode, classifier), summed from the
``seconds`` of ``classify --json``: the figures ``docs/scale.md``'s cost model rests on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

DEMO = Path("runs/demo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workers", default="local,ray:1,ray:2",
        help="comma-separated settings: local (--engine local), ray:N (--engine ray --workers N), or N (--workers N, "
        "classify's own choice of engine) (default: local,ray:1,ray:2)",
    )  # fmt: skip
    parser.add_argument("--videos", type=int, default=16, help="how many demo videos to classify (default: 16)")
    parser.add_argument("--sampler", default=str(DEMO / "visual-sampler" / "sampler"))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--classifier",
        help="a registered model to use with random weights instead of the demo's (for example r2plus1d_18: "
        "paper-scale cost per clip)",
    )
    args = parser.parse_args()
    videos = sorted((DEMO / "data").glob("*/videos/*.mp4"))[: args.videos]
    classifier = DEMO / "classifier" / "best.pt"
    if not videos or not classifier.exists():
        sys.exit("run `make demo` first: this benchmark uses its videos, classifier and samplers")
    seconds_of_video = _total_seconds(videos)
    reference = None
    model = args.classifier or f"{classifier} (the demo's)"
    if args.classifier:  # one seeded random model saved once, so every worker holds the same weights
        classifier = _random_checkpoint(args.classifier, classes=(DEMO / "data" / "long" / "classes.txt").read_text().split())
    print(f"{len(videos)} videos ({seconds_of_video:.0f} s of video), classifier {model}, sampler {args.sampler}, K={args.k}")
    for setting in (w.strip() for w in args.workers.split(",") if w.strip()):
        if setting == "local":
            engine = ["--engine", "local"]
        elif setting.startswith("ray:"):
            engine = ["--engine", "ray", "--workers", setting[4:]]
        else:
            engine = ["--workers", setting]
        command = [
            sys.executable, "-m", "scsampler", "classify", *map(str, videos),
            "--weights", str(classifier), "--sampler", args.sampler, "--k", str(args.k), *engine, "--json", "--quiet",
        ]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        comparable = [(r["path"], r["top5"], r["clips"], r["error"]) for r in results]
        reference = reference if reference is not None else comparable
        same = "identical" if comparable == reference else "DIFFERENT"
        print(f"  {setting:>8}: {seconds:6.1f} s wall, {len(videos) / seconds * 3600:7.0f} videos per hour ({len(results)} results, exit {done.returncode}, {same} to the first setting)")
        print(f"            per video: {_stage_seconds(results)}")


def _stage_seconds(results: list[dict]) -> str:
    """Mean seconds per video of each stage, over the videos that succeeded."""
    timed = [r["seconds"] for r in results if not r.get("error") and r.get("seconds")]
    if not timed:
        return "no timings"
    stages = ("probe", "sampler", "decode", "classifier")
    return ", ".join(f"{stage} {sum(t.get(stage, 0.0) for t in timed) / len(timed):.3f} s" for stage in stages)


def _random_checkpoint(name: str, *, classes: list[str]) -> Path:
    import tempfile

    import torch

    from scsampler.models import get_model, save_checkpoint

    torch.manual_seed(0)
    path = Path(tempfile.mkdtemp(prefix="classify_workers_")) / f"{name}.pt"
    return save_checkpoint(path, model_name=name, model=get_model(name, num_classes=len(classes)), classes=classes)


def _total_seconds(videos: list[Path]) -> float:
    from scsampler.video import probe

    return sum(probe(video).duration_s or 0.0 for video in videos)


if __name__ == "__main__":
    main()
