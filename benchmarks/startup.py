"""Start-up cost of the command line: wall time and peak memory of two cheap commands.

    .venv/bin/python benchmarks/startup.py [--video PATH] [--repeats 5]

Runs ``scsampler --help`` and ``scsampler info VIDEO`` each in a fresh subprocess
(``python -m scsampler``, so no console-script shim is measured) and prints the median
wall time and the median peak resident set size (the child's ``ru_maxrss``), plus whether
torch or Ray was imported. Target (issue 14): under 0.5 s and 150 MB on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = ROOT.parent / "shared" / "videos" / "tree.avi"

# Runs the CLI in-process in the child, then reports which heavy modules it imported.
_CHILD = (
    "import sys, json\n"
    "from scsampler.cli import main\n"
    "try:\n"
    "    status = main(sys.argv[1:])\n"
    "except SystemExit as exit_:\n"
    "    status = exit_.code\n"
    "sys.stdout.flush()\n"
    "print(json.dumps({'heavy': sorted(m for m in ('torch', 'ray', 'torchvision', 'pandas', 'matplotlib') if m in sys.modules)}), file=sys.stderr)\n"
)


def measure_once(argv: list[str]) -> tuple[float, float, list[str]]:
    """One fresh process: (wall seconds, peak RSS in MB, heavy modules imported)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far (kB on Linux); children run one at a
    # time and each benchmark starts from a fresh parent, so a rise means this child.
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    heavy = json.loads(done.stderr.strip().splitlines()[-1])["heavy"]
    return seconds, max(peak_kb, before) / 1024, heavy


def measure(argv: list[str], repeats: int) -> dict:
    """Median over ``repeats`` fresh processes, each measured alone (a fresh parent per run)."""
    times, peaks, heavy = [], [], []
    for _ in range(repeats):
        # A fresh parent per run: RUSAGE_CHILDREN's peak would otherwise be the maximum of all runs.
        report = subprocess.run(
            [sys.executable, __file__, "--one", json.dumps(argv)], capture_output=True, text=True, check=True
        )
        seconds, peak, heavy = json.loads(report.stdout)
        times.append(seconds)
        peaks.append(peak)
    return {
        "command": "scsampler " + " ".join(argv),
        "median_seconds": round(statistics.median(times), 3),
        "median_peak_rss_mb": round(statistics.median(peaks), 1),
        "runs": repeats,
        "heavy_modules_imported": heavy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="video for `scsampler info`")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per command (median)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_once(json.loads(args.one))))
        return
    load = os.getloadavg()[0]
    results = [measure(["--help"], args.repeats), measure(["info", str(args.video)], args.repeats)]
    for row in results:
        print(
            f"{row['command']}: {row['median_seconds']:.3f} s, {row['median_peak_rss_mb']:.0f} MB peak RSS "
            f"(median of {row['runs']}; heavy modules: {', '.join(row['heavy_modules_imported']) or 'none'})"
        )
    print(f"load average at start: {load:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
