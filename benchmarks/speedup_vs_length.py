"""Speed-up of SCSampler over Dense against video length, with r2plus1d_18 at K=10 (issue 17, item 4).

    .venv/bin/python benchmarks/speedup_vs_length.py [--minutes 1,5,20,60] [--samplers demo,paper] [--k 10] [--out DIR]

Videos: synthetic 480x360 30 fps H.264/AAC (GOP 250) of each length, made once by
``benchmarks/signals_speed.py``'s generator and kept in benchmarks/results/ (git-ignored).
Classifier: r2plus1d_18 with seeded random weights (the cost does not depend on their values).

Each (video, strategy) runs in its own process through ``classify_video``, which reports its
probe, sampler, decode and classifier seconds; the process's peak resident memory is read at its
end. Strategies:

- ``dense``: every clip, measured on the shortest video only (a dense pass over an hour of video
  is hours of CPU); for the others Dense is *estimated* from it: probe seconds of that video plus
  L x the measured seconds per clip (decoding and classifying), which is linear in L.
- ``demo``: the demo's sampler, its visual and audio networks (runs/demo/{visual,audio}-sampler
  when ``make demo`` has run; else networks of the same architecture, tiny visual on I-frame +
  motion (the demo's ``--motion-step 8``) and tiny audio, with random weights), K=10.
- ``paper``: the paper's sampler, ResNet-18 on I-frame + motion and VGGish (random weights), K=10.

Printed and written to ``--out``/speedup_vs_length.csv (default benchmarks/results; the plot beside it,
.png): per video its clips L, each strategy's seconds, the speed-up Dense / strategy, the ceiling L / K,
and peak memory. With ``--out`` an evaluation run's folder, ``scsampler report`` puts the table and the
plot in that run's report ("Speed-up against video length").
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEMO = Path("runs/demo")
CLASSIFIER = "r2plus1d_18"
NUM_CLASSES = 8


def _video(minutes: float) -> Path:
    spec = importlib.util.spec_from_file_location("signals_speed", HERE / "signals_speed.py")
    signals_speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(signals_speed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    return signals_speed.make_video(RESULTS / f"bench_{minutes:g}min.mp4", minutes=minutes)


def _sampler(strategy: str):
    """The sampler a strategy classifies with (None for dense)."""
    import torch

    from scsampler.models.sampler_nets import build_sampler_net
    from scsampler.samplers import get_sampler
    from scsampler.samplers.composite import CompositeSampler
    from scsampler.samplers.learned import LearnedSampler

    if strategy == "dense":
        return None
    torch.manual_seed(0)
    if strategy == "demo" and (DEMO / "visual-sampler" / "sampler").is_dir() and (DEMO / "audio-sampler" / "sampler").is_dir():
        visual, audio = get_sampler(str(DEMO / "visual-sampler" / "sampler")), get_sampler(str(DEMO / "audio-sampler" / "sampler"))
    else:
        from scsampler.demo import MOTION_STEP

        backbone, layout = ("tiny", "tiny") if strategy == "demo" else ("resnet18", "vggish")
        step = {"motion_step": MOTION_STEP} if strategy == "demo" else {}  # the demo's motion: a few P-frames per clip
        visual = LearnedSampler(build_sampler_net(modality="visual", backbone=backbone, inputs=("iframe", "motion"), **step), loss="sal-rank")
        audio = LearnedSampler(build_sampler_net(modality="audio", layout=layout), loss="sal-rank")
    return CompositeSampler(visual, audio, combination="union")


def measure(strategy: str, video: str, k: int) -> dict:
    """One strategy on one video in this process: classify_video's seconds and the peak memory."""
    import torch

    from scsampler.inference import classify_video
    from scsampler.models import Classifier

    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    classifier = Classifier.load(CLASSIFIER, num_classes=NUM_CLASSES)
    sampler = _sampler(strategy)
    began = time.perf_counter()
    if sampler is None:
        prediction = classify_video(video, classifier=classifier, sampler="dense", k=None)
    else:
        prediction = classify_video(video, classifier=classifier, sampler=sampler, k=k)
    wall = time.perf_counter() - began
    return {
        "strategy": strategy, "clips": int(prediction.selection.num_clips), "classified": len(prediction.selection.index),
        "wall_s": round(wall, 3), **{f"{stage}_s": round(float(s), 3) for stage, s in prediction.seconds.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }  # fmt: skip


def _run(strategy: str, video: Path, k: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", strategy, "--video", str(video), "--k", str(k)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{strategy} on {video} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", default="1,5,20,60", help="video lengths in minutes (default: 1,5,20,60)")
    parser.add_argument("--samplers", default="demo,paper", help="strategies besides dense (default: demo,paper)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the table and plot (default: benchmarks/results)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--video", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.video, args.k)))
        return
    minutes = sorted(float(m) for m in args.minutes.split(","))
    strategies = [s.strip() for s in args.samplers.split(",") if s.strip()]
    demo_source = "runs/demo's trained networks" if (DEMO / "visual-sampler" / "sampler").is_dir() else "tiny networks, random weights"
    print(f"{CLASSIFIER} (random weights), K={args.k}, {os.cpu_count()} CPUs; demo sampler: {demo_source}", flush=True)
    videos = {m: _video(m) for m in minutes}
    dense = _run("dense", videos[minutes[0]], args.k)
    # From the wall time: classify_video decodes the next clips while it classifies these, so its decode and
    # classifier seconds overlap and their sum is more than the time spent
    per_clip = (dense["wall_s"] - dense["probe_s"] - dense["sampler_s"]) / dense["classified"]
    print(f"dense on the {minutes[0]:g}-minute video: {dense['classified']} clips in {dense['wall_s']:.1f} s "
          f"({per_clip:.3f} s per clip decoded and classified), peak {dense['peak_rss_mb']:.0f} MB", flush=True)  # fmt: skip
    from scsampler.video import probe

    rows = []
    header = f"{'minutes':>7} {'clips':>6} {'dense s':>9} " + "".join(f"{s + ' s':>10} {'speed-up':>9} {'peak MB':>8} " for s in strategies)
    print(header + f"{'L/K':>7}", flush=True)
    for m in minutes:
        began = time.perf_counter()
        probe(videos[m])
        probe_s = time.perf_counter() - began
        measured = {s: _run(s, videos[m], args.k) for s in strategies}
        clips = next(iter(measured.values()))["clips"] if measured else dense["clips"]
        dense_s = dense["wall_s"] if m == minutes[0] else probe_s + clips * per_clip
        row = {"minutes": m, "clips": clips, "dense_s": round(dense_s, 2), "dense_estimated": m != minutes[0],
               "ceiling": round(clips / args.k, 1)}  # fmt: skip
        line = f"{m:7g} {clips:6d} {dense_s:9.1f}{'*' if m != minutes[0] else ' '}"
        for s, result in measured.items():
            row.update({f"{s}_s": result["wall_s"], f"{s}_speedup": round(dense_s / result["wall_s"], 1),
                        f"{s}_peak_mb": result["peak_rss_mb"], f"{s}_sampler_s": result.get("sampler_s")})  # fmt: skip
            line += f"{result['wall_s']:10.1f} {dense_s / result['wall_s']:9.1f} {result['peak_rss_mb']:8.0f} "
        rows.append(row)
        print(line + f"{clips / args.k:7.1f}", flush=True)
    print("* estimated: probe + L x the dense per-clip seconds measured on the shortest video")
    _write(rows, args.out)


def _write(rows: list[dict], out: Path) -> None:
    import pandas as pd

    from scsampler._atomic import write_bytes_atomically
    from scsampler.evaluation.plots import plot_speedup_vs_length

    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows)
    write_bytes_atomically(out / "speedup_vs_length.csv", table.to_csv(index=False).encode())
    plot_speedup_vs_length(table, out / "speedup_vs_length.png")
    print(f"wrote {out / 'speedup_vs_length.csv'} and .png")


if __name__ == "__main__":
    main()
