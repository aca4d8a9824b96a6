"""What the saliency targets give a sampler to learn: their size, their noise, and which SAL-RANK pairs carry signal.

    .venv/bin/python benchmarks/sampler_targets.py runs/demo/targets.parquet [--gaps 0,0.02,0.05,0.1,0.2]

Reads a targets file written by ``scsampler label`` (with ``in_segment``, i.e. labelled from a
manifest with a ``segments.csv``) and prints, per split:

- videos and clips, and the share of clips inside an action segment;
- the targets' noise: the true-class probability inside and outside the actions, and the
  AUC of the target for "this clip is in an action" (0.5: the targets do not see the actions);
- the same AUC for every training target of ``train-sampler --target``: ``label`` (the
  true-class probability) and the label-free ``confidence``, ``margin`` and ``contrast``, over
  all clips of the split and within a video (the mean over videos with both kinds of clip: what
  SAL-RANK's pairs see), with the precision of each target's own top-K against the segments;
- per target, the SAL-RANK pairs (ordered pairs of clips of one video with different targets), by the
  gap between their targets: how many there are, and the share that are *informative*
  (one clip in an action, one not) and *agree* with the segments (the action clip has the
  higher target). Pairs of two background clips carry only the classifier's noise.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from scsampler.training.targets import read_targets

#: The columns ``train-sampler --target`` trains on: label -> true_prob; the label-free ones as they are.
TARGET_COLUMNS = {"label": "true_prob", "confidence": "confidence", "margin": "margin", "contrast": "contrast"}


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    values = np.concatenate([pos, neg])
    _, tie, count = np.unique(values, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(count) - (count - 1) / 2.0)[tie]  # 1-based ranks, ties averaged
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def target_table(rows: pd.DataFrame, *, k: int = 10) -> pd.DataFrame:
    """Per training target: AUC for "in an action" over all clips and within videos, and its top-K's precision."""
    table = []
    videos = [video for _, video in rows.groupby("path")]
    for name, column in TARGET_COLUMNS.items():
        if column not in rows or rows[column].isna().any():
            continue
        inside = rows["in_segment"].to_numpy() > 0.5
        within, precision = [], []
        for video in videos:
            target, positive = video[column].to_numpy(), video["in_segment"].to_numpy() > 0.5
            if positive.any() and not positive.all():
                within.append(auc(target, positive))
            if positive.any():
                precision.append(positive[np.argsort(-target, kind="stable")[: min(k, len(target))]].mean())
        table.append({
            "target": name, "auc_all_clips": auc(rows[column].to_numpy(), inside),
            "auc_within_video": float(np.mean(within)) if within else float("nan"),
            f"precision_top{k}": float(np.mean(precision)) if precision else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(table)


def pair_table(rows: pd.DataFrame, gaps: list[float], column: str = "true_prob") -> pd.DataFrame:
    """SAL-RANK pairs of the target ``column`` per minimum gap: count, share informative, share agreeing with the segments."""
    counts = {gap: [0, 0, 0] for gap in gaps}
    for _, video in rows.groupby("path"):
        target = video[column].to_numpy()
        inside = video["in_segment"].to_numpy() > 0.5
        difference = target[:, None] - target[None, :]
        informative = inside[:, None] != inside[None, :]
        agrees = inside[:, None] & ~inside[None, :]  # the higher-target clip is the action one
        for gap in gaps:
            kept = difference > gap
            counts[gap][0] += int(kept.sum())
            counts[gap][1] += int((kept & informative).sum())
            counts[gap][2] += int((kept & agrees).sum())
    return pd.DataFrame(
        [
            {
                "min_gap": gap,
                "pairs": total,
                "informative": informative / total if total else float("nan"),
                "agree_with_segments": agree / informative if informative else float("nan"),
            }
            for gap, (total, informative, agree) in counts.items()
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", help="targets.parquet from `scsampler label`")
    parser.add_argument("--gaps", default="0,0.02,0.05,0.1,0.2", help="minimum target gaps of the pair table")
    args = parser.parse_args(argv)
    rows, meta = read_targets(args.targets)
    if "in_segment" not in rows or rows["in_segment"].isna().all():
        print(f"{args.targets}: no in_segment column; label a manifest with a segments.csv beside it", file=sys.stderr)
        return 1
    rows = rows[rows["in_segment"].notna()]
    gaps = [float(g) for g in args.gaps.split(",")]
    print(f"{args.targets}: classifier {meta.get('classifier')}, {len(meta['classes'])} classes")
    for split, part in rows.groupby("split", sort=False):
        inside = part["in_segment"].to_numpy() > 0.5
        target = part["true_prob"].to_numpy()
        correct = part["correct"].to_numpy().astype(bool)
        print(f"\n== split {split}: {part['path'].nunique()} videos, {len(part)} clips, {inside.mean():.3f} in an action")
        print(f"   true-class prob: in actions mean {target[inside].mean():.3f} (median {np.median(target[inside]):.3f}); "
              f"elsewhere {target[~inside].mean():.3f} (median {np.median(target[~inside]):.3f})")  # fmt: skip
        print(f"   classifier right: {correct[inside].mean():.3f} of action clips, {correct[~inside].mean():.3f} of the others")
        print(f"   AUC of the target for 'in an action': {auc(target, inside):.3f}")
        print(target_table(part).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        for name, column in TARGET_COLUMNS.items():
            if column in part and part[column].notna().all():
                print(f"   SAL-RANK pairs of --target {name}:")
                print(pair_table(part, gaps, column).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
