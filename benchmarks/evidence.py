"""The evidence benchmark: the whole pipeline at a size that can tell strategies apart, over seeds.

    .venv/bin/python benchmarks/evidence.py [--seeds 0,1,2] [--preset benchmark] [--summary-only]

For each seed it runs ``python -m scsampler.demo --preset benchmark --seed S`` (8 classes;
200 training videos of 20-30 s, 30 validation and 100 test videos of 2-3 minutes; synth, the clip
classifier, the dense targets, the samplers with their inputs chosen on validation, and the
evaluation whose choices are made on the validation split), each step resumable, into
``runs/benchmark-seedS/``. Then it prints, per seed, the main table with 95% bootstrap intervals
and the paired differences to Dense and Uniform, and the samplers' precision against the
action segments and against the oracle, and writes them to ``runs/evidence/`` (CSV and
Markdown). The wall time of every seed's run is printed too (the target is 45 minutes on the
2-core machine). Not part of CI.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def run_seed(preset: str, seed: int, *, quiet: bool) -> float:
    """Run (or resume) one seed's whole pipeline; its wall seconds."""
    began = time.perf_counter()
    command = [sys.executable, "-m", "scsampler.demo", "--preset", preset, "--seed", str(seed)] + (["--quiet"] if quiet else [])
    print(f"== seed {seed}: {' '.join(command[1:])}", flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    return time.perf_counter() - began


def _percent(value: float) -> str:
    return "-" if pd.isna(value) else f"{100 * value:.1f}"


def seed_tables(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(main table rows with intervals, sampler quality means) of one seed's evaluation."""
    evaluation = run_dir / "evaluation"
    main = pd.read_csv(evaluation / "main_table.csv")
    quality = pd.read_csv(evaluation / "sampler_quality.csv")
    quality = quality.groupby("strategy", sort=False)[["precision_vs_segments", "precision_vs_oracle"]].mean().reset_index()
    return main, quality


def references(main: pd.DataFrame) -> list[str]:
    """The rows the main table compares with: dense, uniform, then each zero-training sampler."""
    named = [c[len("top1_vs_"):] for c in main.columns if c.startswith("top1_vs_") and not c.endswith(("_low", "_high"))]
    return [name for name in ("dense", "uniform") if name in named] + [n for n in named if n not in ("dense", "uniform")]


def markdown(main: pd.DataFrame, quality: pd.DataFrame) -> str:
    """One seed's main table and sampler quality as Markdown."""
    merged = main.merge(quality, on="strategy", how="left")
    compared = references(main)
    lines = [
        "| strategy | top-1 % [95% CI] | " + "".join(f"vs {name} [CI] | " for name in compared)
        + "P@K segments | P@K oracle | choice |",
        "|---|---|" + "---|" * len(compared) + "---|---|---|",
    ]
    for row in merged.to_dict(orient="records"):
        def interval(prefix: str) -> str:
            if f"{prefix}_low" not in row:
                return "-"
            return f"{_percent(row[prefix])} [{_percent(row[prefix + '_low'])}, {_percent(row[prefix + '_high'])}]"

        choice = row.get("choice")
        lines.append(
            f"| {row['strategy']} | {interval('top1')} | " + "".join(f"{interval('top1_vs_' + name)} | " for name in compared)
            + f"{_percent(row.get('precision_vs_segments'))} | {_percent(row.get('precision_vs_oracle'))} | "
            f"{'' if pd.isna(choice) else choice} |"
        )
    videos = int(main["videos"].iloc[0]) if "videos" in main else "?"
    return f"{videos} test videos; accuracies and precisions in %.\n\n" + "\n".join(lines) + "\n\n" + targets(main)


def targets(main: pd.DataFrame) -> str:
    """The evidence issue's targets, checked on one seed's main table (differences in points)."""
    rows = main.set_index("strategy")
    checks = []

    def difference(row: str, reference: str) -> tuple[float, float, float] | None:
        column = f"top1_vs_{reference}"
        if row not in rows.index or column not in rows.columns:
            return None
        return tuple(100 * float(rows.loc[row, column + suffix]) for suffix in ("", "_low", "_high"))

    for reference, points in (("uniform", 15.0), ("loudness", 5.0)):
        found = difference("visual-sal-rank", reference)
        if found is not None:
            checks.append(f"visual-sal-rank - {reference} = {found[0]:+.1f} (target >= {points:+.0f}): "
                          f"{'met' if found[0] >= points else 'MISSED'}")
    for reference in ("dense", "uniform", "loudness"):
        found = difference("scsampler", reference)
        if found is not None:
            checks.append(f"scsampler - {reference} = {found[0]:+.1f} [{found[1]:+.1f}, {found[2]:+.1f}] "
                          f"(target: interval above 0): {'met' if found[1] > 0 else 'MISSED'}")
    return "Targets: " + ("; ".join(checks) if checks else "not checkable (columns missing)") + "."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--preset", default="benchmark", help="scsampler.demo preset (default: benchmark)")
    parser.add_argument("--summary-only", action="store_true", help="only summarise runs already made")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    out = ROOT / "runs" / "evidence"
    out.mkdir(parents=True, exist_ok=True)
    sections, rows = [], []
    for seed in seeds:
        run_dir = ROOT / "runs" / f"{args.preset}-seed{seed}"
        seconds = None if args.summary_only else run_seed(args.preset, seed, quiet=args.quiet)
        wall = run_dir / "wall_seconds.txt"  # the whole run's time, kept for --summary-only
        if seconds is not None:
            wall.write_text(f"{seconds:.0f}\n")
        elif wall.is_file():
            seconds = float(wall.read_text())
        if not (run_dir / "evaluation" / "main_table.csv").is_file():
            print(f"seed {seed}: no evaluation in {run_dir}; run without --summary-only", file=sys.stderr)
            continue
        main_table, quality = seed_tables(run_dir)
        took = "" if seconds is None else f" (whole run {seconds / 60:.1f} min)"
        sections.append(f"## seed {seed}{took}\n\n{markdown(main_table, quality)}\n")
        rows.append(main_table.merge(quality, on="strategy", how="left").assign(seed=seed))
    if not rows:
        return 1
    text = f"# Evidence benchmark ({args.preset})\n\n" + "\n".join(sections)
    (out / "summary.md").write_text(text)
    pd.concat(rows, ignore_index=True).to_csv(out / "summary.csv", index=False)
    print(text)
    print(f"written: {out / 'summary.md'}, {out / 'summary.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
