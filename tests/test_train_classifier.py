"""`scsampler train-classifier`: a CPU classifier trained on a small synthetic set, resume, torchrun, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scsampler.cli import main
from scsampler.data.synth import make_synthetic_benchmark
from scsampler.models import get_model_spec, load_checkpoint, load_classifier
from scsampler.training.clip_dataset import (
    ClipDataset,
    ClipGeometry,
    clip_starts_in_windows,
    evaluation_clips,
    labelled_videos,
)
from scsampler.training.recipes import get_recipe
from scsampler.types import VideoInfo

CLASSES = 3
MODEL = "r2plus1d_tiny"
RECIPE = "cpu-micro"
# One torch thread: on a shared 2-core machine, two threads that wait for each other are several times slower.
THREADS = ["--threads", "1"]
FAST = ["--recipe", RECIPE, "--clips-per-video", "1", *THREADS]  # for the runs that test the mechanics, not accuracy


@pytest.fixture(scope="module")
def synth_manifest(tmp_path_factory) -> Path:
    """3 classes, 18 videos of 10-12 s at 160x120 (12 train, 3 val, 3 test); a few seconds to make."""
    out = tmp_path_factory.mktemp("synth-train")
    return make_synthetic_benchmark(out, videos=18, classes=CLASSES, seed=3, min_seconds=10, max_seconds=12)


@pytest.fixture(scope="module")
def trained_run(synth_manifest, tmp_path_factory) -> Path:
    """The command with the fastest CPU recipe (8-frame clips at 48x48), trained once for the module."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    status = main(
        ["train-classifier", str(synth_manifest), "-o", str(run_dir), "--model", MODEL, "--recipe", RECIPE, *THREADS, "--quiet"]
    )
    assert status == 0
    return run_dir


def _read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_trained_classifier_beats_chance_on_action_clips(trained_run, synth_manifest):
    model, spec, classes = load_classifier(trained_run / "last.pt")
    assert classes == [f"class{i:02d}" for i in range(CLASSES)]
    trained = load_checkpoint(trained_run / "last.pt")["geometry"]  # the recipe's clip geometry
    geometry = ClipGeometry(trained["frames_per_clip"], tuple(trained["resize_size"]), tuple(trained["crop_size"]))
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1, 1)
    # Held-out videos: the val and the test split, action clips only.
    videos = labelled_videos(synth_manifest, split="val")[0] + labelled_videos(synth_manifest, split="test")[0]
    correct = total = 0
    with torch.inference_mode():
        for video in videos:
            assert video.action_windows_s, "the synthetic set labels every video's action segments"
            clips = evaluation_clips(video, geometry=geometry, uniform_clips=1).action
            predicted = model((clips.float() / 255 - mean) / std).argmax(1)
            correct += int((predicted == video.label_index).sum())
            total += len(clips)
    accuracy = correct / total
    print(f"held-out action-clip accuracy {accuracy:.3f} over {total} clips (chance {1 / CLASSES:.3f})")
    assert total >= 8
    assert accuracy > 0.6  # chance is 1/3


def test_metrics_and_checkpoints(trained_run, synth_manifest):
    val_videos = len(labelled_videos(synth_manifest, split="val")[0])
    metrics = _read_metrics(trained_run)
    assert [m["epoch"] for m in metrics] == list(range(1, len(metrics) + 1))
    assert len(metrics) >= 2
    for m in metrics:
        assert 0.0 <= m["val_clip_acc"] <= 1.0 and 0.0 <= m["val_video_acc"] <= 1.0
        assert m["val_videos"] == val_videos and m["val_clips"] >= val_videos
        assert np.isfinite(m["train_loss"]) and m["lr"] > 0
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]

    last = torch.load(trained_run / "last.pt", map_location="cpu", weights_only=True)
    best = torch.load(trained_run / "best.pt", map_location="cpu", weights_only=True)
    assert last["model_name"] == MODEL and last["model_args"] == {"num_classes": CLASSES}
    assert last["epoch"] == len(metrics) and last["step"] == metrics[-1]["step"]
    assert last["optimizer"]["state"], "momentum buffers are saved"
    assert isinstance(last["rng_torch"], torch.Tensor)
    assert last["history"] == metrics
    best_clip = max(m["val_clip_acc"] for m in metrics)  # clip accuracy picks the best epoch
    assert best["metrics"]["val_clip_acc"] == best_clip
    assert not list(trained_run.glob(".*.tmp")), "no temporary files are left behind"


def test_resume_continues_from_the_saved_epoch(synth_manifest, tmp_path, capsys):
    run_dir = tmp_path / "resume"
    common = ["train-classifier", str(synth_manifest), "-o", str(run_dir), *FAST, "--json"]
    assert main([*common, "--epochs", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["start_epoch"] == 1 and [m["epoch"] for m in first["history"]] == [1]
    after_one = torch.load(run_dir / "last.pt", weights_only=True)

    # A kill between the checkpoint and the metrics line of a later epoch leaves a stray line: it is dropped.
    with open(run_dir / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps({"epoch": 2, "stray": True}) + "\n")
    assert main([*common, "--epochs", "2"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["start_epoch"] == 2
    assert [m["epoch"] for m in _read_metrics(run_dir)] == [1, 2]
    assert not any("stray" in m for m in _read_metrics(run_dir))
    after_two = torch.load(run_dir / "last.pt", weights_only=True)
    assert after_two["epoch"] == 2 and after_two["step"] == 2 * after_one["step"]
    assert after_two["history"][0] == after_one["history"][0]

    # Asking for no more epochs than done trains nothing; --no-resume starts over.
    assert main([*common, "--epochs", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["start_epoch"] == 3
    assert len(_read_metrics(run_dir)) == 2
    assert main([*common, "--epochs", "1", "--no-resume"]) == 0
    assert json.loads(capsys.readouterr().out)["start_epoch"] == 1
    assert [m["epoch"] for m in _read_metrics(run_dir)] == [1]


def test_resume_refuses_another_model(synth_manifest, tmp_path, capsys):
    run_dir = tmp_path / "other"
    args = ["train-classifier", str(synth_manifest), "-o", str(run_dir), "--epochs", "1", *FAST, "--quiet"]
    assert main(args) == 0
    assert main([*args, "--model", "r3d_tiny"]) == 2
    error = capsys.readouterr().err
    assert "last.pt" in error and "'r2plus1d_tiny', not 'r3d_tiny'" in error and "--no-resume" in error


def test_training_clips_come_from_action_segments(synth_manifest, tmp_path):
    videos, _ = labelled_videos(synth_manifest, split="train")
    spec = get_model_spec(MODEL)
    geometry = ClipGeometry(spec.frames_per_clip, spec.resize_size, spec.crop_size)
    dataset = ClipDataset(videos[:2], geometry=geometry, clips_per_video=3, seed=5, cache_dir=tmp_path / "cache")
    dataset.set_epoch(4)
    clip, label = dataset[4]
    assert clip.shape == (3, spec.frames_per_clip, *spec.crop_size) and clip.dtype == torch.uint8
    assert label == videos[1].label_index
    assert torch.equal(dataset[4][0], clip), "an item depends only on (seed, epoch, index)"
    uncached = ClipDataset(videos[:2], geometry=geometry, clips_per_video=3, seed=5)
    uncached.set_epoch(4)
    # Cache and direct decoding give the same frames (both rescale while decoding).
    assert torch.equal(uncached[4][0], clip)
    dataset.set_epoch(5)
    assert not torch.equal(dataset[4][0], clip), "a new epoch draws new clips"


def _fake_info(frames: int, fps: float) -> VideoInfo:
    times = np.arange(frames) / fps
    return VideoInfo(
        path="fake.mp4", container="mp4", codec="h264", width=160, height=120, fps=fps, frames=frames,
        duration_s=frames / fps, frame_times_s=times, keyframes=np.array([0]), motion_vectors=True, audio=None,
    )


def test_clip_starts_in_windows_by_hand():
    info = _fake_info(100, 10.0)
    assert clip_starts_in_windows(info, [(2.0, 4.0)], frames_per_clip=16).tolist() == [20, 21, 22, 23, 24]
    assert clip_starts_in_windows(info, [(2.0, 4.0)], frames_per_clip=8, stride_frames=8).tolist() == [20, 28]
    # A window shorter than a clip gives the clip centred on it; clamped at the end of the video.
    assert clip_starts_in_windows(info, [(5.0, 5.5)], frames_per_clip=16).tolist() == [44]
    assert clip_starts_in_windows(info, [(9.5, 10.0)], frames_per_clip=16).tolist() == [84]
    # No usable window: the whole video.
    assert clip_starts_in_windows(info, [(20.0, 30.0)], frames_per_clip=16).tolist() == list(range(85))
    assert clip_starts_in_windows(_fake_info(10, 10.0), [], frames_per_clip=16).tolist() == [0]


def test_bad_manifests_give_clear_errors(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train-classifier", str(tmp_path / "missing.csv"), "-o", str(run_dir)]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err

    bad_header = tmp_path / "bad" / "manifest.csv"
    bad_header.parent.mkdir()
    bad_header.write_text("video,class\na.mp4,x\n")
    assert main(["train-classifier", str(bad_header), "-o", str(run_dir)]) == 2
    assert "manifest.csv: line 1" in capsys.readouterr().err

    no_train = tmp_path / "no_train" / "manifest.csv"
    no_train.parent.mkdir()
    no_train.write_text("path,label,split\na.mp4,x,val\nb.mp4,y,test\n")
    assert main(["train-classifier", str(no_train), "-o", str(run_dir)]) == 2
    assert "no videos in the train split" in capsys.readouterr().err

    missing_video = tmp_path / "missing_video" / "manifest.csv"
    missing_video.parent.mkdir()
    missing_video.write_text("path,label,split\nnot_here.mp4,x,train\nb.mp4,y,train\n")
    assert main(["train-classifier", str(missing_video), "-o", str(run_dir), "--quiet"]) == 2
    assert "not_here.mp4: no such file" in capsys.readouterr().err
    assert not (run_dir / "last.pt").exists()


def test_bad_options_give_clear_errors(synth_manifest, tmp_path, capsys):
    args = ["train-classifier", str(synth_manifest), "-o", str(tmp_path / "run")]
    assert main([*args, "--epochs", "0"]) == 2
    assert "epochs must be >= 1, got 0" in capsys.readouterr().err
    assert main([*args, "--model", "resnet9000"]) == 2
    assert "unknown classifier 'resnet9000'" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_processes(synth_manifest, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    run_dir = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "scsampler", "train-classifier",
        str(synth_manifest), "-o", str(run_dir), "--epochs", "1", *FAST, "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])  # rank 0 alone prints
    train_videos = len(labelled_videos(synth_manifest, split="train")[0])
    val_videos = len(labelled_videos(synth_manifest, split="val")[0])
    assert summary["history"][0]["val_videos"] == val_videos  # both ranks' shares are summed
    batch_size = get_recipe(RECIPE).batch_size
    assert summary["history"][0]["step"] == -(-train_videos // 2 // batch_size)  # each rank sees half the clips
    checkpoint = torch.load(run_dir / "last.pt", weights_only=True)
    assert checkpoint["epoch"] == 1 and not any(key.startswith("module.") for key in checkpoint["state_dict"])
    assert len(_read_metrics(run_dir)) == 1


def test_early_stop_ends_the_run_patience_epochs_after_the_best(synth_manifest, tmp_path, capsys):
    # A learning rate this small leaves the validation score flat, so the best epoch stays early.
    run_dir = tmp_path / "early"
    common = ["train-classifier", str(synth_manifest), "-o", str(run_dir), *FAST, "--lr", "1e-9", "--epochs", "6", "--json"]
    assert main([*common, "--early-stop", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    epochs = [m["epoch"] for m in result["history"]]
    assert result["stopped_early"] is True
    assert epochs[-1] == result["best"]["epoch"] + 1 < 6  # one epoch without a better score, then stop
    assert [m["epoch"] for m in _read_metrics(run_dir)] == epochs

    # Resuming a run that stopped early trains nothing more; --early-stop 0 trains on to the end.
    assert main([*common, "--early-stop", "1"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["stopped_early"] is True and [m["epoch"] for m in again["history"]] == epochs
    assert main([*common, "--early-stop", "0"]) == 0
    finished = json.loads(capsys.readouterr().out)
    assert finished["stopped_early"] is False and [m["epoch"] for m in finished["history"]] == list(range(1, 7))
    assert main([*common[:-1], "--early-stop", "-1"]) == 2
    assert "early-stop must be >= 0" in capsys.readouterr().err
