"""``make demo``: the whole method on the built-in synthetic benchmark, on a CPU.

    python -m scsampler.demo [--out runs/demo] [--preset demo|benchmark] [--seed S] [--quiet]

Steps, each skipped when its output is already there (a rerun resumes):

1. make the synthetic untrimmed benchmark: short training videos, and long validation and
   test videos shaped alike (minutes long, a few short actions), so that validation measures
   what the test measures;
2. train a CPU clip classifier (``r2plus1d_tiny``, recipe ``cpu-tiny``);
3. run it densely over the training and validation videos once: the saliency targets;
4. train the visual sampler, one per input alternative (keyframe; keyframe + motion vectors;
   keyframe + a frame of the clip + motion vectors), keeping the cheapest one not worse than
   the best on validation at 95% (``--inputs-rule cheapest-not-worse``), and the audio
   sampler (log-MEL), all with SAL-RANK; the motion is that of the first P-frame of each run
   of 8 frames (``--motion-step 8``: far less decoding, no measurable loss, see docs/signals.md);
5. evaluate every sampler and baseline on the test split, with the choices the paper tuned
   (the combination, K', alpha, the samplers) made on the validation split; measure runtime
   at paper scale with torchvision's R(2+1)D-18, and write ``report.html``.

``--preset benchmark`` runs the same steps at the size of the evidence benchmark (8 classes,
200 training videos of 20-30 s, 30 validation and 100 test videos of 2-3 minutes; see
``benchmarks/evidence.py``), which can tell strategies apart; the demo's size only shows the
method working end to end.

Every step is one ``scsampler`` command, printed before it runs, so the demo
doubles as a tour of the command line.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from scsampler._atomic import atomic_output
from scsampler.cli import main as scsampler


@dataclass(frozen=True)
class Preset:
    """The size of a run: classes, and per set the number of videos and their length in seconds."""

    classes: int
    train_videos: int
    train_seconds: tuple[int, int]
    val_videos: int
    test_videos: int
    long_seconds: tuple[int, int]  # validation and test videos alike
    synth_workers: int = 1


PRESETS = {
    # Chosen to finish in a few minutes on a 2-core CPU.
    "demo": Preset(classes=4, train_videos=32, train_seconds=(30, 40), val_videos=8, test_videos=8, long_seconds=(180, 200)),
    # The evidence benchmark, a size that can tell strategies apart (100 test videos of 2-3 minutes,
    # 30 validation videos shaped alike) in at most 45 minutes on the 2-core machine (see README).
    "benchmark": Preset(
        classes=8, train_videos=200, train_seconds=(20, 30), val_videos=30, test_videos=100, long_seconds=(120, 180),
        synth_workers=2,
    ),
}

#: Visual input alternatives, cheapest first: validation chooses the cheapest not worse than the best at 95%
#: (``--inputs-rule cheapest-not-worse``: 8 validation videos rarely tell them apart, and the dearest costs
#: the demo pair 3.2 MC3-18 clips per 5-minute video against 1.0 for the I-frame alone; docs/models.md).
VISUAL_INPUTS = "iframe|iframe,motion|iframe,clipframe,motion"
INPUTS_RULE = "cheapest-not-worse"
#: The visual sampler's motion: the first P-frame of each run of this many frames (docs/signals.md, motion_step).
MOTION_STEP = 8


def run_step(title: str, argv: list[str], *, done: Path | None, quiet: bool) -> None:
    """Run one ``scsampler`` command unless ``done`` exists; stop the demo if it fails."""
    if done is not None and done.exists():
        print(f"== {title}: already done ({done})", flush=True)
        return
    print(f"== {title}\n   scsampler {shlex.join(argv)}", flush=True)
    started = time.perf_counter()
    status = scsampler(argv + (["--quiet"] if quiet else []))
    if status not in (0, None):
        sys.exit(f"demo: step '{title}' failed with status {status}")
    print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)


def merge_manifests(sets: dict[str, Path], out_dir: Path) -> Path:
    """One manifest over the synthetic sets: every video of ``sets[split]`` gets that split."""
    rows: list[tuple[str, str, str]] = []
    segments: list[list[str]] = []
    for split, folder in sets.items():
        with open(folder / "manifest.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                rows.append((os.path.relpath(folder / row["path"], out_dir), row["label"], split))
        with open(folder / "segments.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                segments.append([os.path.relpath(folder / row["path"], out_dir), row["start_s"], row["end_s"], row["kind"]])
    _write_csv(out_dir / "segments.csv", ["path", "start_s", "end_s", "kind"], segments)
    (out_dir / "classes.txt").write_text((next(iter(sets.values())) / "classes.txt").read_text())
    return _write_csv(out_dir / "manifest.csv", ["path", "label", "split"], rows)


def _write_csv(path: Path, header: list[str], rows) -> Path:
    with atomic_output(path) as temporary, open(temporary, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="where everything goes (default: runs/demo, or runs/benchmark-seedS)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo", help="size of the run (default: demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic sets and the training (default: 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    default_out = "runs/demo" if args.preset == "demo" and args.seed == 0 else f"runs/{args.preset}-seed{args.seed}"
    out = Path(args.out or default_out)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    # Three synthetic sets with their own seeds; all of a set's videos take one split.
    sets = {"train": data / "short", "val": data / "long-val", "test": data / "long"}
    sizes = {
        "train": (preset.train_videos, preset.train_seconds, 3 * args.seed),
        "test": (preset.test_videos, preset.long_seconds, 3 * args.seed + 1),
        "val": (preset.val_videos, preset.long_seconds, 3 * args.seed + 2),
    }
    for number, (split, title) in enumerate((("train", "training"), ("val", "long validation"), ("test", "long test")), start=1):
        videos, (shortest, longest), seed = sizes[split]
        run_step(
            f"1{'abc'[number - 1]}. synthetic {title} videos",
            ["synth", str(sets[split]), "--videos", str(videos), "--classes", str(preset.classes), "--seed", str(seed),
             "--min-seconds", str(shortest), "--max-seconds", str(longest), "--workers", str(preset.synth_workers)],
            done=sets[split] / "manifest.csv",
            quiet=args.quiet,
        )  # fmt: skip
    manifest = merge_manifests(sets, data)

    classifier_dir = out / "classifier"
    run_step(
        "2. train the clip classifier",
        ["train-classifier", str(manifest), "-o", str(classifier_dir), "--model", "r2plus1d_tiny", "--recipe", "cpu-tiny",
         "--seed", str(args.seed)],
        done=classifier_dir / "best.pt",
        quiet=args.quiet,
    )  # fmt: skip
    classifier = classifier_dir / "best.pt"
    targets = out / "targets.parquet"
    run_step(
        "3. saliency targets: the classifier on every training and validation clip",
        ["label", str(manifest), "--classifier", str(classifier), "--split", "train,val", "-o", str(targets)],
        done=targets,
        quiet=args.quiet,
    )
    samplers = {}
    for modality, extra in (("visual", ["--inputs", VISUAL_INPUTS, "--inputs-rule", INPUTS_RULE, "--motion-step", str(MOTION_STEP)]), ("audio", [])):
        run_dir = out / f"{modality}-sampler"
        run_step(
            f"4. train the {modality} sampler (SAL-RANK)" + (", inputs chosen on validation" if modality == "visual" else ""),
            ["train-sampler", str(targets), "--modality", modality, "--loss", "sal-rank", "--recipe", "cpu",
             "--seed", str(args.seed), "-o", str(run_dir)] + extra,
            done=run_dir / "sampler",
            quiet=args.quiet,
        )  # fmt: skip
        samplers[modality] = str(run_dir / "sampler")

    evaluation = out / "evaluation"
    run_step(
        "5. evaluate on the long test videos, choices made on the long validation videos; report",
        ["evaluate", str(manifest), "--classifier", str(classifier),
         "--samplers", f"visual-sal-rank={samplers['visual']},audio-sal-rank={samplers['audio']},motion,loudness",
         "--visual", "visual-sal-rank,motion", "--audio", "audio-sal-rank,loudness", "--tune-split", "val",
         "-o", str(evaluation)],
        done=None,
        quiet=args.quiet,
    )  # fmt: skip
    print(f"\n{args.preset} finished in {time.perf_counter() - started:.0f} s; report: {evaluation / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
