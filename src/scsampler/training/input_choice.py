"""Let validation choose a visual sampler's inputs: train one sampler per alternative, keep the best.

Which compressed inputs help (the I-frame alone, I-frame + motion vectors, a frame of the clip
itself) depends on the footage: on the synthetic benchmark the motion of distractors misled a
small network, on real footage motion lifted it. So ``train-sampler --inputs 'iframe|iframe,motion'``
trains one sampler per alternative, each in ``RUN_DIR/inputs/<alternative>/`` (all sharing one
signal cache), and the alternative with the best validation *selection measure* (see
:func:`scsampler.training.sampler_validation.selection_measure`) becomes ``RUN_DIR/sampler`` and
``RUN_DIR/sampler.pt``. ``RUN_DIR/inputs.csv`` lists every alternative with its best epoch and
measure. Reruns resume each alternative, like a single run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import pandas as pd

from scsampler._atomic import atomic_output
from scsampler.errors import UsageError
from scsampler.training.train_sampler import (
    BEST_CHECKPOINT,
    BUNDLE_FOLDER,
    METRICS_FILE,
    SamplerTrainConfig,
    SamplerTrainResult,
    train_sampler,
    write_bundle,
)

__all__ = ["parse_input_alternatives", "InputChoice", "train_sampler_choosing_inputs"]

CHOICE_TABLE = "inputs.csv"


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


def _folder_name(inputs: tuple[str, ...]) -> str:
    return "+".join(inputs)


def train_sampler_choosing_inputs(
    config: SamplerTrainConfig,
    alternatives: list[tuple[str, ...]],
    *,
    on_start: Callable[[tuple[str, ...]], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> InputChoice:
    """Train ``config`` once per input alternative; copy the best one's sampler to ``config.run_dir``."""
    if config.modality != "visual":
        raise UsageError("alternatives of --inputs apply to the visual sampler only.")
    if len(alternatives) < 2:
        raise UsageError("give at least two alternatives, separated by '|', to choose inputs on validation.")
    run_dir = Path(config.run_dir)
    cache = Path(config.signals_cache) if config.signals_cache else run_dir / "signals"
    results: dict[tuple[str, ...], SamplerTrainResult] = {}
    rows = []
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
    table = pd.DataFrame(rows)
    # The first alternative wins ties: list the cheaper inputs first.
    position = int(table["value"].astype(float).fillna(float("-inf")).to_numpy().argmax())
    chosen = alternatives[position]
    table["chosen"] = [i == position for i in range(len(alternatives))]
    with atomic_output(run_dir / CHOICE_TABLE) as temporary:
        table.to_csv(temporary, index=False)
    winner = results[chosen]
    if winner.checkpoint is not None:
        _replace_file(winner.checkpoint, run_dir / BEST_CHECKPOINT)
        write_bundle(run_dir / BEST_CHECKPOINT, run_dir / BUNDLE_FOLDER)  # atomic, as after every best epoch
    kept = replace(winner, run_dir=run_dir, checkpoint=run_dir / BEST_CHECKPOINT, bundle=run_dir / BUNDLE_FOLDER)
    return InputChoice(chosen=chosen, result=kept, results=results, table=run_dir / CHOICE_TABLE)


def _replace_file(source: Path, target: Path) -> None:
    with atomic_output(target) as temporary:
        shutil.copyfile(source, temporary)
