"""The clip classifier's cost per clip and peak memory against its forward batch, on this CPU.

    PYTHONPATH=src .venv/bin/python benchmarks/classifier_batch.py [--model r2plus1d_18 --model r2plus1d_tiny] [--batch 1 --batch 8] [--clips 48]

Each (model, batch) runs in a process of its own: ``Classifier`` (channels-last, eager, random weights) on
uint8 clips of its shape, ``prepare`` and forward as ``classify`` runs them, one untimed call, then
``--clips`` clips in batches; printed: the median and best seconds per clip, and the process's peak
resident memory. This is the measurement behind ``ClassifierSpec.cpu_batch_size`` (1 for the
full-size networks, 8 for the tiny ones).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings


def measure(model: str, batch: int, clips: int) -> dict:
    import torch

    from scsampler.models import Classifier

    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    classifier = Classifier.load(model, num_classes=8)
    spec = classifier.spec
    x = torch.randint(0, 256, (batch, 3, spec.frames_per_clip, *spec.crop_size), dtype=torch.uint8)
    classifier(x)  # warm-up
    seconds = []
    for _ in range(max(3, clips // batch)):
        began = time.perf_counter()
        classifier(x)
        seconds.append((time.perf_counter() - began) / batch)
    return {
        "model": model, "batch": batch, "median_s": statistics.median(seconds), "best_s": min(seconds),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="classifiers (default: r2plus1d_18 and r2plus1d_tiny)")
    parser.add_argument("--batch", type=int, action="append", help="forward batches (default: 1 and 8)")
    parser.add_argument("--clips", type=int, default=48, help="clips timed per (model, batch) (default: 48)")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], int(args.measure[1]), args.clips)))
        return
    print(f"{'model':<16} {'batch':>5} {'median ms/clip':>15} {'best ms/clip':>13} {'peak MB':>8}")
    for model in args.model or ["r2plus1d_18", "r2plus1d_tiny"]:
        for batch in args.batch or [1, 8]:
            command = [sys.executable, __file__, "--measure", model, str(batch), "--clips", str(args.clips)]
            row = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            print(f"{model:<16} {batch:5d} {row['median_s'] * 1000:15.1f} {row['best_s'] * 1000:13.1f} {row['peak_mb']:8.0f}", flush=True)


if __name__ == "__main__":
    main()
