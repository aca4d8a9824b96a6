"""Issue 14's failures, one test each: bad options are usage errors, bad files are clear errors naming them."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import pytest
import torch

from scsampler.cli import main
from scsampler.errors import UsageError, VideoError
from tests.checkpoints import tiny_checkpoint
from tests.media import write_numbered_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """A healthy MP4 (40 frames), one of 5 frames (shorter than a clip), one whose data is zeroed, one cut short."""
    root = tmp_path_factory.mktemp("reliability")
    good = write_numbered_video(root / "good.mp4", frames=40, fps=16, gop=8)
    short = write_numbered_video(root / "short.mp4", frames=5, fps=16, gop=8)
    data = good.read_bytes()
    start, end = data.find(b"mdat") + 4, data.find(b"moov") - 4  # the index is written after the data
    assert 0 < start < end
    zeroed = root / "zeroed.mp4"
    zeroed.write_bytes(data[:start] + bytes(end - start) + data[end:])
    truncated = root / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    return {"good": good, "short": short, "zeroed": zeroed, "truncated": truncated}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny.pt", ["a", "b"])


def usage_error(capsys, argv: list[str]) -> str:
    """Run the CLI, expecting argparse's usage error (exit 2); return what it printed."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err


# 1. evaluate: a manifest row naming a missing file ------------------------------------------


def test_video_key_reports_a_missing_file_as_a_video_error(tmp_path):
    from scsampler.evaluation.cache import video_key

    with pytest.raises(VideoError, match=r"missing\.mp4: no such file\.$"):
        video_key(tmp_path / "missing.mp4", "r3d_tiny:random")


@pytest.mark.slow
def test_evaluate_records_a_missing_video_and_evaluates_the_others(tmp_path, capsys):
    from scsampler.data.synth import make_synthetic_benchmark

    manifest = make_synthetic_benchmark(tmp_path / "data", videos=6, classes=2, seed=1, min_seconds=10, max_seconds=10)
    with manifest.open("a") as rows:
        rows.write("videos/missing.mp4,class00,test\n")
    weights = tiny_checkpoint(tmp_path / "tiny.pt", ["class00", "class01"])
    out = tmp_path / "evaluation"
    status = main([
        "evaluate", str(manifest), "--classifier", str(weights), "--samplers", "motion", "--visual", "motion",
        "--k", "2", "--k-prime", "1", "--random-seeds", "1", "--heavy-classifier", "none", "--no-report",
        "-o", str(out), "--quiet",
    ])  # fmt: skip
    assert status == 1  # some video failed
    import pandas as pd

    errors = pd.read_csv(out / "errors.csv")
    assert len(errors) == 1 and errors["error"][0].endswith("missing.mp4: no such file.")
    assert "missing.mp4: no such file." in capsys.readouterr().out
    assert (out / "main_table.csv").is_file()
    assert (out / "evaluation.json").read_text().count('"videos": 2') == 1  # the other two test videos


# 2. --frames-per-clip, and the clip count that info and select share ---------------------------


@pytest.mark.parametrize("command", ["info", "select", "signals"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_frames_per_clip_must_be_positive(capsys, videos, command, value):
    extra = {"select": ["--sampler", "uniform"], "signals": ["-o", "unused.pt"]}.get(command, [])
    err = usage_error(capsys, [command, str(videos["good"]), *extra, "--frames-per-clip", value])
    assert f"argument --frames-per-clip: must be at least 1, got {value}" in err


def test_count_full_clips_checks_its_arguments():
    from scsampler.video import count_full_clips

    with pytest.raises(UsageError, match=r"frames_per_clip must be a positive integer, got 0"):
        count_full_clips(100, 0)
    with pytest.raises(UsageError, match=r"stride_frames must be a positive integer"):
        count_full_clips(100, 16, -1)


def test_info_counts_the_clips_select_scores(capsys, videos):
    import json

    assert main(["info", str(videos["short"]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert main(["select", str(videos["short"]), "--sampler", "uniform", "--k", "1", "--json"]) == 0
    selected = json.loads(capsys.readouterr().out)
    assert info["clips"] == selected["num_clips"] == 1  # one padded clip: shorter than 16 frames
    assert main(["info", str(videos["good"]), "--frames-per-clip", "8"]) == 0
    assert "clips of 8 frames    5\n" in capsys.readouterr().out


# 3. --device ----------------------------------------------------------------------------------


def test_check_device():
    from scsampler._device import check_device

    assert check_device("cpu") == "cpu" and check_device(None) is None
    with pytest.raises(UsageError, match=r"device must be cpu, cuda, cuda:N or mps, got 'nosuch'"):
        check_device("nosuch")


@pytest.mark.parametrize(
    "argv",
    [
        ["classify", "v.mp4", "--weights", "w.pt"],
        ["label", "m.csv", "--classifier", "w.pt", "-o", "t.parquet"],
        ["train-classifier", "m.csv", "-o", "run"],
        ["train-sampler", "t.parquet", "-o", "run"],
    ],
)
@pytest.mark.parametrize("device", ["cuda", "nosuch"])
def test_device_is_a_usage_error(capsys, monkeypatch, argv, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = usage_error(capsys, [*argv, "--device", device])
    expected = "CUDA is not available on this machine" if device == "cuda" else "device must be cpu, cuda"
    assert "argument --device:" in err and expected in err


def test_library_entry_points_check_the_device(monkeypatch):
    from scsampler.training.distributed import init_distributed

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="CUDA is not available"):
        init_distributed(device="cuda")
    with pytest.raises(UsageError, match="got 'nosuch'"):
        init_distributed(device="nosuch")


# 4. a file of which no frame decodes -------------------------------------------------------


def test_select_reports_a_video_of_which_nothing_decodes(capsys, videos):
    status = main(["select", str(videos["zeroed"]), "--sampler", "motion", "--k", "1"])
    out = capsys.readouterr().out
    assert status == 1
    assert f"error: {videos['zeroed']}: none of its frames could be decoded" in out


# 5. classify's counts -----------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--k", "--stride", "--batch-size"])
def test_classify_counts_are_usage_errors_before_any_video(capsys, option):
    err = usage_error(capsys, ["classify", "no-such-video.mp4", "--weights", "w.pt", option, "0"])
    assert f"argument {option}: must be at least 1, got 0" in err
    assert "no-such-video" not in err


# 6. a truncated MP4 -------------------------------------------------------------------------


def test_truncated_mp4_is_called_truncated(capsys, videos, tmp_path):
    assert main(["info", str(videos["truncated"])]) == 1
    assert "looks truncated or unfinished: an MP4/MOV needs a 'moov' index" in capsys.readouterr().out
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video at all" * 100)
    assert main(["info", str(garbage)]) == 1
    assert "not a video file FFmpeg can read" in capsys.readouterr().out


# 7. classify's help and --sampler learned ---------------------------------------------------


def test_classify_help_tells_how_the_classifier_is_chosen(capsys):
    with pytest.raises(SystemExit):
        main(["classify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "With --classifier and no --weights the classifier is randomly initialised" in text
    assert "give at least one of the two" in text


def test_learned_sampler_without_a_path_gives_its_own_error(capsys, videos):
    assert main(["classify", str(videos["good"]), "--sampler", "learned"]) == 2
    err = capsys.readouterr().err
    assert "the learned sampler needs a trained network" in err and "classifier" not in err.split("network")[0]


# 8. checkpoints and the decode warning --------------------------------------------------------


class _Unsafe:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_unsafe_checkpoint_refusal_never_suggests_the_unsafe_loader(tmp_path, capsys, videos):
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"x": _Unsafe()}, unsafe)
    assert main(["classify", str(videos["good"]), "--weights", str(unsafe)]) == 2
    err = capsys.readouterr().err
    assert f"{unsafe}: refused: it holds a pickled Python object (print)" in err
    assert "weights_only=False" not in err and "this must never run" not in err


def test_legacy_pickle_is_refused_without_torch_warnings(tmp_path):
    from scsampler.errors import ScsamplerError
    from scsampler.models.checkpoint import load_checkpoint

    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False, pickle_protocol=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ScsamplerError, match=r"refused: the safe loader .* cannot check it") as error:
            load_checkpoint(legacy)
    assert not caught, [str(w.message) for w in caught]
    assert "weights_only=False" not in str(error.value)
    text = tmp_path / "notes.pt"
    text.write_bytes(pickle.dumps("x", protocol=0))  # a protocol-0 pickle has no PROTO opcode
    with pytest.raises(ScsamplerError, match=r"cannot be read as a PyTorch weights file"):
        load_checkpoint(text)


def test_a_rejected_checkpoint_leaves_no_run_dir(tmp_path, capsys):
    from scsampler.data.synth import make_synthetic_benchmark

    manifest = make_synthetic_benchmark(tmp_path / "data", videos=2, classes=2, seed=0, min_seconds=10, max_seconds=10)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"x": _Unsafe()}, unsafe)
    run = tmp_path / "run"
    status = main(["train-classifier", str(manifest), "-o", str(run), "--recipe", "cpu-micro", "--weights", str(unsafe), "--quiet"])
    assert status == 2 and "refused" in capsys.readouterr().err
    assert not run.exists()


def test_remove_if_left_empty_keeps_a_folder_with_files(tmp_path):
    from scsampler.cli._common import remove_if_left_empty

    empty, used = tmp_path / "empty", tmp_path / "used"
    (empty / "cache" / "deeper").mkdir(parents=True)
    (used / "cache").mkdir(parents=True)
    (used / "cache" / "part.npz").write_bytes(b"x")
    remove_if_left_empty([empty, used])
    assert not empty.exists() and (used / "cache" / "part.npz").is_file()


def test_missing_frames_message_counts_them():
    from scsampler.video.decode import _frame_ranges

    assert _frame_ranges([7]) == "frame 7"
    assert _frame_ranges([44, 45, 46, 60, 61, 79]) == "frames 44..46, 60..61, 79"
    assert _frame_ranges(list(range(0, 20, 2))) == "frames 0, 2, 4, 6 and 6 more runs"


def test_decode_warning_says_how_many_frames_were_lost(tmp_path):
    import re

    from scsampler.video import VideoWarning, clip_grid, decode_clips, probe

    data = write_numbered_video(tmp_path / "whole.mp4", frames=64, fps=16, gop=8).read_bytes()
    start, end = data.find(b"mdat") + 4, data.find(b"moov") - 4
    cut = start + (end - start) * 3 // 4  # the last quarter of the frame data zeroed
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(data[:cut] + bytes(end - cut) + data[end:])
    info = probe(damaged)
    with pytest.warns(VideoWarning) as caught:
        decode_clips(damaged, clip_grid(info, frames_per_clip=16), size=(48, 64), info=info)
    messages = [str(w.message) for w in caught]
    pattern = r": (\d+) of the 64 frames asked for could not be decoded \(damaged or truncated: frames? ([\d., ]+)\)"
    (found,) = [re.search(pattern, message) for message in messages if re.search(pattern, message)]
    runs = [tuple(map(int, run.split(".."))) if ".." in run else (int(run), int(run)) for run in found.group(2).split(", ")]
    assert int(found.group(1)) == sum(b - a + 1 for a, b in runs) > 0  # the count is the frames listed
