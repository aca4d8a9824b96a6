"""kill -9 in the middle of ``train-sampler`` and ``evaluate``, then the same command again.

Each command runs in a subprocess, is killed with SIGKILL once it has written part of its work
(the first epoch's metrics line; the first cache entry of the dense pass), and is run again with
the same arguments. What the resumed run leaves must equal what an uninterrupted run leaves in
another folder: the same metrics lines (but for measured seconds) and bit-identical weights;
the same evaluation tables (but for the timing columns) and cached logits and scores, with no
temporary file left in the cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import torch

from tests.checkpoints import decisive_checkpoint
from tests.test_train_sampler import _segment_targets, _synth

pytestmark = pytest.mark.slow  # each test starts the command three times (about 30-60 s in all)

TIMING_COLUMNS = ["sampler_s", "decode_s", "classifier_s", "total_s"]
# One thread: the same float reductions in every run, and a light load on a shared machine.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TIMEOUT_S = 240


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """10 synthetic videos of 10 s (2 classes: 6 train, 2 val, 2 test), targets and a tiny classifier."""
    root = tmp_path_factory.mktemp("kill_resume")
    synth = _synth(root / "synth", videos=10, seconds=10, seed=3, classes=2)
    targets = _segment_targets(synth, root / "targets.parquet")
    classifier = decisive_checkpoint(root / "r3d_tiny.pt", ["class00", "class01"])
    return {"root": root, "manifest": synth / "manifest.csv", "targets": targets, "classifier": classifier}


def _command(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "scsampler", *argv]


def _run(argv: list[str], log: Path) -> None:
    with open(log, "ab") as err:
        done = subprocess.run(_command(argv), stdout=subprocess.DEVNULL, stderr=err, env=ENV, timeout=TIMEOUT_S)
    assert done.returncode == 0, log.read_text(errors="replace")[-3000:]


def _kill_when(argv: list[str], ready: Callable[[], bool], log: Path) -> None:
    """Start the command, SIGKILL it as soon as ``ready()`` holds; it must still have been running."""
    with open(log, "ab") as err:
        process = subprocess.Popen(_command(argv), stdout=subprocess.DEVNULL, stderr=err, env=ENV)
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while not ready():
                assert process.poll() is None, f"the command ended before it could be killed:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, "the command wrote nothing in time"
                time.sleep(0.01)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == -signal.SIGKILL, f"not killed (exit {process.returncode}): it finished first"


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if ".tmp" in p.name]


# --------------------------------------------------------------------------- train-sampler

EPOCHS = 12


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_train_sampler_resumes_after_kill_to_identical_outputs(data):
    root = data["root"]
    cache = root / "signals"  # shared: extracting the signals is not what is tested

    def argv(run_dir: Path) -> list[str]:
        return [
            "train-sampler", str(data["targets"]), "-o", str(run_dir), "--recipe", "cpu", "--backbone", "tiny",
            "--inputs", "iframe,motion", "--input-size", "32", "--width", "8", "--epochs", str(EPOCHS),
            "--decay-every", "4", "--batch-size", "8", "--clips-per-video", "4", "--k", "2", "--seed", "1",
            "--signals-cache", str(cache), "--quiet",
        ]  # fmt: skip

    whole, killed = root / "sampler_whole", root / "sampler_killed"
    _run(argv(whole), root / "sampler_whole.log")
    _kill_when(argv(killed), lambda: len(_metrics(killed)) >= 1, root / "sampler_killed.log")
    done = len(_metrics(killed))
    assert 1 <= done < EPOCHS, done

    # A kill between the epoch's metrics line and its last.pt leaves a line the checkpoint lacks:
    # make that case happen whatever the moment of the kill was.
    saved = torch.load(killed / "last.pt", weights_only=True)["train_state"]["epoch"] if (killed / "last.pt").is_file() else 0
    if done == saved:
        with open(killed / "metrics.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps({**_metrics(whole)[saved], "stray": True}) + "\n")

    _run(argv(killed), root / "sampler_killed.log")

    def without_seconds(lines: list[dict]) -> list[dict]:
        return [{key: value for key, value in line.items() if key != "seconds"} for line in lines]

    expected = without_seconds(_metrics(whole))
    assert [line["epoch"] for line in expected] == list(range(1, EPOCHS + 1))
    assert without_seconds(_metrics(killed)) == expected
    for name in ("sampler.pt", "last.pt"):
        ours, theirs = _state_dict(killed / name), _state_dict(whole / name)
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[key], theirs[key]) for key in theirs), f"{name}: weights differ after the resume"


# --------------------------------------------------------------------------- evaluate


def _cache_entries(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*.npz") if not p.name.startswith(".")] if cache.is_dir() else []


def test_evaluate_resumes_after_kill_to_identical_tables(data):
    root = data["root"]

    def argv(run_dir: Path) -> list[str]:
        return [
            "evaluate", str(data["manifest"]), "--classifier", str(data["classifier"]),
            "--samplers", "motion,loudness", "--visual", "motion", "--audio", "loudness", "--k", "2", "--k-prime", "1",
            "--heavy-classifier", "none", "--end-to-end-videos", "0", "--no-report", "-o", str(run_dir), "--quiet",
        ]  # fmt: skip

    whole, killed = root / "eval_whole", root / "eval_killed"
    _run(argv(whole), root / "eval_whole.log")
    _kill_when(argv(killed), lambda: bool(_cache_entries(killed / "cache")), root / "eval_killed.log")
    expected_entries = sorted(p.relative_to(whole) for p in _cache_entries(whole / "cache"))
    present = {p.relative_to(killed) for p in _cache_entries(killed / "cache")}
    missing = [p for p in expected_entries if p not in present]
    assert missing, "killed after the dense pass: nothing left to resume"
    assert not (killed / "main_table.csv").exists()

    # A kill in the middle of writing a cache file leaves its temporary file: make that case happen.
    stale = killed / missing[0].parent / f".{missing[0].name}.killed.tmp.npz"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"PK\x03\x04 half-written")

    _run(argv(killed), root / "eval_killed.log")

    assert sorted(p.relative_to(killed) for p in _cache_entries(killed / "cache")) == expected_entries
    assert _temporaries(killed / "cache") == []
    for entry in expected_entries:  # the cached logits and scores themselves
        with np.load(whole / entry) as theirs, np.load(killed / entry) as ours:
            for array in theirs.files:
                if array not in ("meta", "seconds"):  # measured seconds differ between runs
                    assert np.array_equal(ours[array], theirs[array]), (entry, array)
    main_whole, main_killed = (pd.read_csv(run / "main_table.csv") for run in (whole, killed))
    pd.testing.assert_frame_equal(main_killed.drop(columns=TIMING_COLUMNS), main_whole.drop(columns=TIMING_COLUMNS))
    for name in ("tuning.csv", "sampler_quality.csv", "accuracy_vs_k.csv"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name
