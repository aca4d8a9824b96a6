"""Seeded fuzzing of the commands with damaged videos: a result or a clean error naming the file, never a traceback.

Each variant is a real file from ``../shared/videos`` or a small synthetic MP4, damaged one way,
with a seed: cut short, bytes flipped, a range zeroed, a chunk dropped or a chunk duplicated.
``info``, ``select``, ``signals`` and ``classify`` (a tiny classifier checkpoint made here) run
on it through ``scsampler.cli.main`` in this process; each must return exit status 0, or 1/2
with an ``error:`` line that names the file. An exception escaping ``main`` fails the test with
its traceback; a hang fails it through the per-test timeout.

The default run holds a small fixed set (:data:`QUICK`). The larger set (every source, every
damage, :data:`LARGE_SEEDS` seeds) is marked ``fuzz`` and runs only when the environment variable
``SCSAMPLER_FUZZ=1`` is set::

    SCSAMPLER_FUZZ=1 .venv/bin/python -m pytest -q tests/test_fuzz.py -m fuzz
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from scsampler.cli import main
from tests.checkpoints import tiny_checkpoint
from tests.conftest import SHARED_VIDEOS
from tests.media import write_numbered_video

DAMAGES = ("truncate", "flip", "zero", "drop", "duplicate")
# Sources: the synthetic MP4 (H.264, index at the end), and real AVI files of three codecs.
SOURCES = ("synth", "tree.avi", "Megamind.avi", "vtest.avi")
QUICK = [
    ("synth", "truncate", 0),
    ("synth", "flip", 0),
    ("synth", "zero", 0),
    ("synth", "drop", 0),
    ("synth", "duplicate", 0),
    ("synth", "flip", 1),
    ("synth", "flip", 2),  # a codec tag damaged: PyAV opens a stream without a decoder (once a crash in probe)
    ("tree.avi", "truncate", 0),
    ("tree.avi", "zero", 1),
    ("Megamind.avi", "flip", 0),
    ("Megamind.avi", "drop", 1),
]
LARGE_SEEDS = range(5)


def damage(data: bytes, how: str, seed: int) -> bytes:
    """``data`` damaged one way; the same ``how`` and ``seed`` always give the same bytes."""
    rng = np.random.default_rng([seed, DAMAGES.index(how)])
    size = len(data)
    chunk = int(rng.integers(64, max(65, size // 10)))
    start = int(rng.integers(0, max(1, size - chunk)))
    if how == "truncate":
        return data[: int(size * rng.uniform(0.05, 0.95))]
    if how == "flip":
        damaged = bytearray(data)
        for position in rng.integers(0, size, size=int(rng.integers(1, 50))):
            damaged[position] ^= int(rng.integers(1, 256))
        return bytes(damaged)
    if how == "zero":
        return data[:start] + bytes(chunk) + data[start + chunk :]
    if how == "drop":
        return data[:start] + data[start + chunk :]
    if how == "duplicate":
        at = int(rng.integers(0, size))
        return data[:at] + data[start : start + chunk] + data[at:]
    raise ValueError(how)


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    write_numbered_video(root / "synth.mp4", frames=48, fps=16, gop=8)
    tiny_checkpoint(root / "tiny.pt", ["a", "b"])
    return root


def variant(root: Path, source: str, how: str, seed: int) -> Path:
    if source == "synth":
        original = root / "synth.mp4"
    else:
        if SHARED_VIDEOS is None:
            pytest.skip("the real footage folder (../shared/videos) is not here; set SCSAMPLER_SHARED_VIDEOS")
        original = SHARED_VIDEOS / source
    path = root / f"{Path(source).stem}-{how}-{seed}{original.suffix}"
    path.write_bytes(damage(original.read_bytes(), how, seed))
    return path


def run_cli(capsys, argv: list[str], path: Path) -> int:
    """One command on a damaged file: exit status 0, or 1/2 with an `error:` line naming the file."""
    status = main(argv)
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert status in (0, 1, 2), (argv, status, output)
    # errors come as `error: ...` lines (text, and any error that stops the command) or, with --json,
    # as a result's "error" field
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    errors += [json.loads(line).get("error") for line in captured.out.splitlines() if line.startswith("{")]
    errors = [error for error in errors if error]
    if status:
        assert errors, (argv, output)
        assert all(str(path) in line for line in errors), (argv, errors)
    assert "Traceback" not in output
    return status


def check_commands(capsys, root: Path, path: Path) -> dict[str, int]:
    statuses = {
        "info": run_cli(capsys, ["info", str(path), "--json"], path),
        "select": run_cli(capsys, ["select", str(path), "--sampler", "motion", "--k", "2", "--json"], path),
        "signals": run_cli(capsys, ["signals", str(path), "-o", str(path.with_suffix(".pt")), "--json", "--quiet"], path),
        "classify": run_cli(
            capsys, ["classify", str(path), "--weights", str(root / "tiny.pt"), "--k", "2", "--json", "--quiet"], path
        ),
    }
    if statuses["info"] != 0:  # a file that cannot be opened cannot be used by anything else either
        assert all(statuses.values()), statuses
    return statuses


@pytest.mark.timeout(300)
@pytest.mark.parametrize("source,how,seed", QUICK)
def test_damaged_videos_give_a_result_or_a_clean_error(capsys, fuzz_root, source, how, seed):
    check_commands(capsys, fuzz_root, variant(fuzz_root, source, how, seed))


def test_damage_is_seeded_and_changes_the_file():
    data = bytes(range(256)) * 40
    for how in DAMAGES:
        assert damage(data, how, 3) == damage(data, how, 3)
        assert damage(data, how, 3) != data
    assert damage(data, "flip", 1) != damage(data, "flip", 2)


@pytest.mark.fuzz
@pytest.mark.skipif(os.environ.get("SCSAMPLER_FUZZ") != "1", reason="the large fuzz set runs with SCSAMPLER_FUZZ=1")
@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", LARGE_SEEDS)
@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("source", SOURCES)
def test_large_fuzz_set(capsys, fuzz_root, source, how, seed):
    check_commands(capsys, fuzz_root, variant(fuzz_root, source, how, seed))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_evaluate_over_a_manifest_of_damaged_videos(tmp_path, capsys):
    """Damaged copies of a test video (and a missing file) in the test split: each is evaluated or is one row of errors.csv."""
    import pandas as pd

    from scsampler.data.synth import make_synthetic_benchmark

    manifest = make_synthetic_benchmark(tmp_path / "data", videos=6, classes=2, seed=2, min_seconds=10, max_seconds=10)
    rows = pd.read_csv(manifest)
    source = rows[rows.split == "test"].iloc[0]
    original = manifest.parent / source.path
    extra = ["videos/missing.mp4"]
    for how in ("truncate", "flip", "zero", "drop", "duplicate"):
        name = f"videos/damaged-{how}.mp4"
        (manifest.parent / name).write_bytes(damage(original.read_bytes(), how, 0))
        extra.append(name)
    with manifest.open("a") as file:
        file.writelines(f"{name},{source.label},test\n" for name in extra)
    weights = tiny_checkpoint(tmp_path / "tiny.pt", ["class00", "class01"])
    out = tmp_path / "evaluation"
    status = main([
        "evaluate", str(manifest), "--classifier", str(weights), "--samplers", "motion", "--visual", "motion",
        "--k", "2", "--k-prime", "1", "--random-seeds", "1", "--heavy-classifier", "none", "--no-report",
        "--tune-split", "none", "-o", str(out), "--quiet", "--json",
    ])  # fmt: skip
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == (1 if result["errors"] else 0)
    errors = pd.read_csv(out / "errors.csv")
    assert all(str(path) in error for path, error in zip(errors["path"], errors["error"]))
    assert any(path.endswith("missing.mp4") for path in errors["path"])
    test_rows = int((rows.split == "test").sum()) + len(extra)
    assert result["videos"] + len(errors) == test_rows  # every test row is evaluated or recorded as an error
