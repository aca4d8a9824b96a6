"""What limits the visual sampler: a sweep of its training options, judged on the validation split only.

    .venv/bin/python benchmarks/sampler_sweep.py runs/demo/targets.parquet \\
        --signals-cache runs/demo/visual-sampler/signals --inputs iframe,motion \\
        --gaps 0,0.1 --lrs 0.003,0.001 --input-sizes 64 --epochs 20 --seeds 0,1

Trains one SAL-RANK visual sampler (``cpu`` recipe, tiny backbone) per combination of SAL-RANK
minimum target gap, learning rate, input size and seed, into a temporary folder, and prints
per combination the validation measure (precision of the top-K against the action segments,
see ``training.sampler_validation.selection_measure``) at the best epoch, its mean over the last five
epochs (how stable training is), the oracle precision at the best epoch, and Random's. The
test split is never read: options chosen from this table stay honest on the test videos.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from scsampler.training.train_sampler import SamplerTrainConfig, train_sampler


def _floats(text: str) -> list[float]:
    return [float(value) for value in text.split(",") if value.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", type=Path)
    parser.add_argument("--signals-cache", type=Path, required=True, help="cached network inputs (shared by every run)")
    parser.add_argument("--inputs", default="iframe,motion")
    parser.add_argument("--gaps", default="0,0.1")
    parser.add_argument("--lrs", default="0.003")
    parser.add_argument("--input-sizes", default="", help="backbone input sizes (default: the backbone's own, 64 for tiny)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", default="0")
    args = parser.parse_args(argv)
    rows = []
    combinations = itertools.product(
        _floats(args.gaps), _floats(args.lrs), [int(v) for v in _floats(args.input_sizes)] or [None], [int(v) for v in _floats(args.seeds)]
    )
    with tempfile.TemporaryDirectory() as scratch:
        for number, (gap, lr, size, seed) in enumerate(combinations):
            config = SamplerTrainConfig(
                targets=args.targets, run_dir=Path(scratch) / str(number), modality="visual", loss="sal-rank",
                backbone="tiny", inputs=tuple(args.inputs.split(",")), input_size=size, preset="cpu",
                epochs=args.epochs, lr=lr, rank_min_gap=gap, early_stop=0, seed=seed, signals_cache=args.signals_cache,
            )  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = train_sampler(config)
            measure = [epoch["val_segment_precision"] for epoch in result.history]
            best = result.best["metrics"]
            rows.append({
                "gap": gap, "lr": lr, "input_size": size, "seed": seed,
                "best_epoch": result.best["epoch"], "best": best["val_segment_precision"],
                "last5_mean": float(np.mean(measure[-5:])), "oracle_at_best": best["val_precision_at_k"],
                "random": best["val_random_segment_precision"],
            })  # fmt: skip
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=number == 0, float_format=lambda v: f"{v:.3f}"), flush=True)
    table = pd.DataFrame(rows)
    print("\nmeans over seeds:")
    print(table.fillna({"input_size": "default"}).groupby(["gap", "lr", "input_size"])[["best", "last5_mean", "oracle_at_best"]].mean().to_string(float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
