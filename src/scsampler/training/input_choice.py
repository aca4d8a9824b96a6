"""Let validation choose a visual sampler's inputs: train one sampler per alternative, keep the best.

Which compressed inputs help (the I-frame alone, I-frame + motion vectors, a frame of the clip
itself) depends on the footage: on the synthetic benchmark the motion of distractors misled a
small network, on real footage motion lifted it. So ``train-sampler --inputs 'iframe|iframe,motion'``
trains one sampler per alternative, each in ``RUN_DIR/inputs/<alternative>/`` (all sharing one
signal cache), and one alternative becomes ``RUN_DIR/sampler`` and ``RUN_DIR/sampler.pt``, by one of
:data:`INPUT_RULES`:

- ``best``: the best validation *selection measure* (see
  :func:`scsampler.training.sampler_validation.selection_measure`); ties go to the first listed.
- ``cheapest-not-worse``: the first listed (list them cheapest first) whose measure is not below the
  best one's at 95%: the paired bootstrap interval over the validation videos of its per-video values
  minus the best alternative's (:func:`scsampler.intervals.paired_difference_interval`)
  reaches 0. A few validation videos rarely tell inputs apart, and the dearer inputs cost every video
  scored (on the demo's 5-minute test video the demo pair with I-frame, clip frame and motion costs 2.0 s,
  with the I-frame alone 0.6 s: docs/models.md). Where an alternative has no per-video values (a run
  trained before they were logged), the rule falls back to ``best``.

``RUN_DIR/inputs.csv`` lists every alternative with its best epoch and measure, its difference from the
best with that interval, and which was chosen. Reruns resume each alternative, like a single run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from scsampler._atomic import atomic_output
from scsampler.errors import UsageError
from scsampler.intervals import paired_difference_interval
from scsampler.training.train_sampler import (
    BEST_CHECKPOINT,
    BUNDLE_FOLDER,
    METRICS_FILE,
    SamplerTrainConfig,
    SamplerTrainResult,
    train_sampler,
    write_bundle,
)

__all__ = ["parse_input_alternatives", "InputChoice", "train_sampler_choosing_inputs", "choose_inputs", "INPUT_RULES"]

CHOICE_TABLE = "inputs.csv"
#: How validation chooses among input alternatives (see the module docstring).
INPUT_RULES = ("best", "cheapest-not-worse")


def parse_input_alternatives(text: str) -> list[tuple[str, ...]]:
    """``'iframe|iframe,motion'`` -> ``[('iframe',), ('iframe', 'motion')]`` (each set in its given order)."""
    alternatives = []
    for part in text.split("|"):
        inputs = tuple(name.strip() for name in part.split(",") if name.strip())
        if not inputs:
            raise UsageError(f"--inputs {text!r}: an alternative is empty; write e.g. 'iframe|iframe,motion'.")
        if inputs in alternatives:
            raise UsageError(f"--inputs {text!r}: the alternative {','.join(inputs)} is listed twice.")
        alternatives.append(inputs)
    return alternatives


@dataclass
class InputChoice:
    """The alternative kept, the result of every alternative's run, and the table written."""

    chosen: tuple[str, ...]
    result: SamplerTrainResult
    results: dict[tuple[str, ...], SamplerTrainResult]
    table: Path
    rule: str = "best"


def _folder_name(inputs: tuple[str, ...]) -> str:
    return "+".join(inputs)


def train_sampler_choosing_inputs(
    config: SamplerTrainConfig,
    alternatives: list[tuple[str, ...]],
    *,
    on_start: Callable[[tuple[str, ...]], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    rule: str = "best",
) -> InputChoice:
    """Train ``config`` once per input alternative; copy the one ``rule`` chooses (:data:`INPUT_RULES`) to
    ``config.run_dir``."""
    _check_rule(rule)
    if config.modality != "visual":
        raise UsageError("alternatives of --inputs apply to the visual sampler only.")
    if len(alternatives) < 2:
        raise UsageError("give at least two alternatives, separated by '|', to choose inputs on validation.")
    run_dir = Path(config.run_dir)
    cache = Path(config.signals_cache) if config.signals_cache else run_dir / "signals"
    results: dict[tuple[str, ...], SamplerTrainResult] = {}
    rows, per_video = [], []
    for inputs in alternatives:
        if on_start is not None:
            on_start(inputs)
        folder = run_dir / "inputs" / _folder_name(inputs)
        if not config.resume:  # train_sampler ignores last.pt then; its log must start over too
            (folder / METRICS_FILE).unlink(missing_ok=True)
        result = train_sampler(replace(config, inputs=inputs, run_dir=folder, signals_cache=cache), on_epoch=on_epoch, on_skip=on_skip)
        results[inputs] = result
        best = result.best or {}
        metrics = best.get("metrics", {})
        measure = best.get("measure", "precision_at_k")
        rows.append({
            "inputs": ",".join(inputs),
            "best_epoch": best.get("epoch"),
            "measure": measure,
            "value": best.get("score"),
            "random": metrics.get("val_random_segment_precision" if measure == "segment_precision" else "val_random_precision_at_k"),
            "precision_vs_oracle": metrics.get("val_precision_at_k"),
            "precision_vs_segments": metrics.get("val_segment_precision"),
            "validation_videos": metrics.get("val_videos"),
        })
        per_video.append(metrics.get(f"val_{measure}_per_video"))
    table = pd.DataFrame(rows)
    position, differences = choose_inputs(table["value"].astype(float).to_numpy(), per_video, rule=rule)
    chosen = alternatives[position]
    table["vs_best"], table["vs_best_low"], table["vs_best_high"] = zip(*differences)
    table["chosen"] = [i == position for i in range(len(alternatives))]
    table["rule"] = rule
    with atomic_output(run_dir / CHOICE_TABLE) as temporary:
        table.to_csv(temporary, index=False)
    winner = results[chosen]
    if winner.checkpoint is not None:
        _replace_file(winner.checkpoint, run_dir / BEST_CHECKPOINT)
        write_bundle(run_dir / BEST_CHECKPOINT, run_dir / BUNDLE_FOLDER)  # atomic, as after every best epoch
    kept = replace(winner, run_dir=run_dir, checkpoint=run_dir / BEST_CHECKPOINT, bundle=run_dir / BUNDLE_FOLDER)
    return InputChoice(chosen=chosen, result=kept, results=results, table=run_dir / CHOICE_TABLE, rule=rule)


def choose_inputs(
    values: np.ndarray, per_video: list[list[float] | None], *, rule: str = "best"
) -> tuple[int, list[tuple[float, float, float]]]:
    """The position of the alternative ``rule`` chooses, and each one's ``(difference, low, high)`` from the best.

    ``values`` holds each alternative's validation measure (NaN: none), in the order listed (cheapest
    first); ``per_video`` the per-video values it is the mean of (None where not logged). The best is the
    highest value, the first listed among equals. The differences are paired bootstrap intervals over
    the videos (NaN without per-video values); ``cheapest-not-worse`` takes the first alternative whose
    interval's upper end reaches 0, ``best`` (or any alternative without per-video values) the best.
    """
    _check_rule(rule)
    scores = np.where(np.isfinite(values), values, -np.inf)
    best = int(scores.argmax())
    nan = float("nan")
    reference = per_video[best]
    differences = []
    for values_here in per_video:
        if reference is None or values_here is None or len(values_here) != len(reference) or not len(reference):
            differences.append((nan, nan, nan))
        else:
            differences.append(paired_difference_interval(values_here, reference))
    if rule == "best" or any(np.isnan(difference[0]) for difference in differences):
        return best, differences
    for position, (_, _, high) in enumerate(differences):
        if high >= 0.0:
            return position, differences
    return best, differences


def _check_rule(rule: str) -> None:
    if rule not in INPUT_RULES:
        raise UsageError(f"unknown inputs rule {rule!r}; choose one of {', '.join(INPUT_RULES)}.")


def _replace_file(source: Path, target: Path) -> None:
    with atomic_output(target) as temporary:
        shutil.copyfile(source, temporary)
