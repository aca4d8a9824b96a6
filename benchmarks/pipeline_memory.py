"""Memory over a long pipeline run, and each stage's cost per video (issue 12's bounded memory and cost model).

    .venv/bin/python benchmarks/pipeline_memory.py [--videos 100] [--engine local|ray] [--workers 2] [--k 0]

Synthesises ``--videos`` short videos once (``--seconds`` long, 160x120 at 16 fps) into
``runs/pipeline-memory/``, then runs the pipeline over them with a seeded random r2plus1d_tiny
(8 classes): the dense pass (``--k 0``, what ``label`` and ``evaluate`` run, the heaviest stream)
or K sampled clips per video (uniform). A thread samples, every 0.2 s, the resident memory of
this process and of every Ray worker (``ray::`` processes: the private memory, RssAnon, of the
largest worker and of each stage's largest, and the largest VmRSS, which also counts the pages of
the shared object store that a worker has read) and, with Ray, the shared memory in use (its
object store lives in /dev/shm). Printed: those figures after 10%, 25%, 50%, 75% and 100% of
the videos (flat means bounded), and the mean seconds per video of each stage with clips per video.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from scsampler.models import get_model, save_checkpoint
from scsampler.pipeline import Pipeline, PipelineConfig

ROOT = Path("runs/pipeline-memory")


def _rss_mb(pid: int | str, field: str = "VmRSS") -> float:
    """Resident memory of ``pid``: ``VmRSS`` (all), or ``RssAnon`` (its private memory, without the
    object store's shared pages that a Ray worker maps and reads: they count in its VmRSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _ray_workers() -> dict[int, str]:
    """pid -> the stage a Ray worker serves (SelectClips, DecodeClips, ClassifyClips, or its own name)."""
    workers = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if command.startswith(b"ray::"):
                name = command.split(b"\0")[0].decode(errors="replace")
                stage = next((s for s in ("SelectClips", "DecodeClips", "ClassifyClips") if s in name), "other")
                workers[int(entry.name)] = stage
    return workers


def _shm_used_mb() -> float:
    stats = os.statvfs("/dev/shm")
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize / 2**20


class Sampler(threading.Thread):
    """Peak memory figures since the last :meth:`take`."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = {"driver_mb": 0.0, "largest_worker_mb": 0.0, "largest_worker_rss_mb": 0.0, "shm_mb": 0.0}
        self.peak.update({f"{stage}_mb": 0.0 for stage in ("SelectClips", "DecodeClips", "ClassifyClips")})
        self.lock = threading.Lock()
        self.stopped = False

    def run(self) -> None:
        while not self.stopped:
            workers = {pid: (stage, _rss_mb(pid, "RssAnon")) for pid, stage in _ray_workers().items()}
            now = {
                "driver_mb": _rss_mb("self"),
                "largest_worker_mb": max([rss for _, rss in workers.values()] or [0.0]),
                "largest_worker_rss_mb": max([_rss_mb(pid) for pid in workers] or [0.0]),
                "shm_mb": _shm_used_mb(),
            }
            for stage in ("SelectClips", "DecodeClips", "ClassifyClips"):  # each stage's largest worker
                now[f"{stage}_mb"] = max([rss for s, rss in workers.values() if s == stage] or [0.0])
            with self.lock:
                self.peak = {k: max(self.peak[k], now[k]) for k in now}
            time.sleep(0.2)

    def take(self) -> dict:
        with self.lock:
            peak, self.peak = self.peak, {k: 0.0 for k in self.peak}
        return {k: round(v, 1) for k, v in peak.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--k", type=int, default=0, help="clips per video (uniform); 0: every clip (the dense pass)")
    args = parser.parse_args()
    data = ROOT / f"videos-{args.videos}x{args.seconds}s"
    larger = sorted(ROOT.glob(f"videos-*x{args.seconds}s"), key=lambda p: int(p.name.split("-")[1].split("x")[0]))
    larger = [p for p in larger if int(p.name.split("-")[1].split("x")[0]) >= args.videos and (p / "manifest.csv").is_file()]
    if not (data / "manifest.csv").is_file() and larger:
        data = larger[0]  # the first videos of a larger set made before
    if not (data / "manifest.csv").is_file():
        subprocess.run([sys.executable, "-m", "scsampler", "synth", str(data), "--videos", str(args.videos), "--classes", "8",
                        "--min-seconds", str(args.seconds), "--max-seconds", str(args.seconds), "--workers", "2", "--quiet"],
                       check=True)  # fmt: skip
    videos = sorted((data / "videos").glob("*.mp4"))[: args.videos]
    torch.manual_seed(0)
    checkpoint = save_checkpoint(ROOT / "r2plus1d_tiny.pt", model_name="r2plus1d_tiny", model=get_model("r2plus1d_tiny", num_classes=8),
                                 classes=[f"class_{i}" for i in range(8)])  # fmt: skip
    config = PipelineConfig(weights=str(checkpoint), engine=args.engine, workers=args.workers,
                            **({"sampler": "uniform", "k": args.k} if args.k else {}))  # fmt: skip
    watcher = Sampler()
    watcher.start()
    began = time.perf_counter()
    marks = {max(1, round(len(videos) * f)) for f in (0.1, 0.25, 0.5, 0.75, 1.0)}
    stages = {"probe": [], "sampler": [], "decode": [], "classifier": [], "clips": []}
    rows = []
    for done, outcome in enumerate(Pipeline(config).run(videos), start=1):
        if outcome.error is None:
            for stage, seconds in outcome.seconds.items():
                stages[stage].append(seconds)
            stages["clips"].append(len(outcome.logits))
        if done in marks:
            rows.append({"videos": done, "wall_s": round(time.perf_counter() - began, 1), **watcher.take()})
            print(json.dumps(rows[-1]), flush=True)
    watcher.stopped = True
    print(json.dumps({"engine": args.engine, "workers": args.workers, "k": args.k or "all", "seconds_per_video": args.seconds,
                      **{f"mean_{k}" + ("" if k == "clips" else "_s"): round(float(np.mean(v)), 4) for k, v in stages.items() if v}}))  # fmt: skip


if __name__ == "__main__":
    main()
