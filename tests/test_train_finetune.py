"""The Kinetics recipe's sampling (a video's clips in one batch, temporal jitter) and `train-classifier --init`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from scsampler.cli import main
from scsampler.data.synth import make_synthetic_benchmark
from scsampler.errors import UsageError
from scsampler.models import get_model, save_checkpoint
from scsampler.training.clip_dataset import ClipDataset, ClipGeometry, labelled_videos
from scsampler.training.recipes import get_recipe
from scsampler.training.video_batches import VideoClipGroups, check_grouped_batches

THREADS = ["--threads", "1"]
CLASSES = ["class00", "class01"]


@pytest.fixture(scope="module")
def small_manifest(tmp_path_factory) -> Path:
    """2 classes, 10 videos of 10-11 s (6 train, 2 val, 2 test)."""
    out = tmp_path_factory.mktemp("synth-finetune")
    return make_synthetic_benchmark(out, videos=10, classes=2, seed=7, min_seconds=10, max_seconds=11)


class _Indices(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, item: int) -> int:
        return item


def test_the_kinetics_recipes_group_five_16_frame_clips_per_video():
    for name in ("kinetics", "kinetics-finetune"):
        recipe = get_recipe(name)
        assert recipe.group_clips and recipe.clips_per_video == 5 and recipe.frames_per_clip == 16
        check_grouped_batches(batch_size=recipe.batch_size, clips_per_video=recipe.clips_per_video)
    assert get_recipe("kinetics-finetune").epochs == 14
    assert not get_recipe("sports1m").group_clips and not get_recipe("cpu-micro").group_clips


@pytest.mark.parametrize("replicas", [1, 2])
def test_grouped_batches_hold_whole_videos(replicas):
    videos, clips = 7, 5
    dataset = _Indices(videos * clips)
    seen: list[list[int]] = []
    orders = []
    for rank in range(replicas):
        sampler = VideoClipGroups(videos, clips_per_video=clips, num_replicas=replicas, rank=rank, seed=3)
        sampler.set_epoch(2)
        batches = [batch.tolist() for batch in DataLoader(dataset, batch_size=10, sampler=sampler)]
        assert sum(len(batch) for batch in batches) == len(sampler) == -(-videos // replicas) * clips
        for batch in batches:  # whole videos, each video's clips together
            groups = [batch[i : i + clips] for i in range(0, len(batch), clips)]
            assert all(group == list(range(group[0], group[0] + clips)) and group[0] % clips == 0 for group in groups)
        seen.append([item // clips for batch in batches for item in batch[::clips]])
        orders.append(sampler.video_order())
    assert set().union(*map(set, seen)) == set(range(videos)), "every video is trained on"
    again = VideoClipGroups(videos, clips_per_video=clips, num_replicas=replicas, rank=0, seed=3)
    again.set_epoch(2)
    assert again.video_order() == orders[0], "the order depends only on (seed, epoch)"
    again.set_epoch(3)
    assert again.video_order() != orders[0], "a new epoch, a new order"


def test_a_batch_that_splits_a_video_is_refused():
    with pytest.raises(UsageError, match="batch-size 8 is not a multiple of clips-per-video 5.*--batch-size 5 or 10"):
        check_grouped_batches(batch_size=8, clips_per_video=5)


def test_each_video_gives_five_clips_at_jittered_starts(small_manifest):
    # No crop offset and no flip: two clips of a video differ only by where they start.
    videos, _ = labelled_videos(small_manifest, split="train")
    geometry = ClipGeometry(16, (48, 64), (48, 64))
    dataset = ClipDataset(videos[:1], geometry=geometry, clips_per_video=5, seed=1, flip=False)
    assert len(dataset) == 5
    epochs = []
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        clips = [dataset[i][0] for i in range(5)]
        assert all(clip.shape == (3, 16, 48, 64) for clip in clips)
        distinct = {clip.numpy().tobytes() for clip in clips}
        assert len(distinct) >= 3, "the five clips start at different frames"
        epochs.append(distinct)
    assert epochs[0] != epochs[1], "every epoch draws new start frames"


def test_grouped_training_batches_hold_both_clips_of_each_video(small_manifest, tmp_path, capsys, monkeypatch):
    drawn: list[int] = []  # the items the trainer asks for, in order (cpu-micro: no worker processes)
    original = ClipDataset.__getitem__
    monkeypatch.setattr(ClipDataset, "__getitem__", lambda self, item: (drawn.append(item), original(self, item))[1])
    run_dir = tmp_path / "grouped"
    argv = ["train-classifier", str(small_manifest), "-o", str(run_dir), "--recipe", "cpu-micro", *THREADS,
            "--epochs", "1", "--clips-per-video", "2", "--batch-size", "4", "--group-clips", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    train_videos = len(labelled_videos(small_manifest, split="train")[0])
    assert result["history"][0]["step"] == train_videos * 2 // 4  # whole batches of 2 videos
    assert torch.load(run_dir / "last.pt", weights_only=True)["recipe"]["group_clips"] is True
    batches = [drawn[i : i + 4] for i in range(0, len(drawn), 4)]
    assert len(batches) == 3
    for batch in batches:  # item i is a clip of video i // 2: two videos, both clips of each
        assert [item // 2 for item in batch[0::2]] == [item // 2 for item in batch[1::2]]
        assert [item % 2 for item in batch] == [0, 1, 0, 1]

    assert main([*argv[:-1], "--batch-size", "3", "--no-resume"]) == 2
    assert "batch-size 3 is not a multiple of clips-per-video 2" in capsys.readouterr().err


def _checkpoint(path: Path, model_name: str, classes: list[str], *, seed: int = 11) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = get_model(model_name, num_classes=len(classes))
    save_checkpoint(path, model_name=model_name, model=model, classes=classes)
    return {key: value.clone() for key, value in model.state_dict().items()}


def _finetune(manifest: Path, run_dir: Path, *extra: str) -> int:
    # A learning rate this small leaves the weights where --init put them (batch norm statistics still move).
    return main(["train-classifier", str(manifest), "-o", str(run_dir), "--recipe", "cpu-micro", "--clips-per-video", "1",
                 "--epochs", "1", "--lr", "1e-9", *THREADS, "--quiet", *extra])


def _parameters(model_name: str, state_dict: dict) -> dict[str, torch.Tensor]:
    names = {name for name, _ in get_model(model_name, num_classes=2).named_parameters()}
    return {key: value for key, value in state_dict.items() if key in names}


def test_init_fine_tunes_from_a_checkpoint_with_another_head(small_manifest, tmp_path):
    # An r3d_tiny trained on 5 other classes: --init sets the model (no --model) and gives a fresh 2-class head.
    source = _checkpoint(tmp_path / "other.pt", "r3d_tiny", ["a", "b", "c", "d", "e"])
    run_dir = tmp_path / "finetuned"
    assert _finetune(small_manifest, run_dir, "--init", str(tmp_path / "other.pt")) == 0
    last = torch.load(run_dir / "last.pt", weights_only=True)
    assert last["model_name"] == "r3d_tiny" and last["classes"] == CLASSES
    assert last["init"] == {"path": str(tmp_path / "other.pt"), "head": "replaced"}
    body = {key: value for key, value in _parameters("r3d_tiny", last["state_dict"]).items() if not key.startswith("fc.")}
    assert body and all(torch.allclose(value, source[key], atol=1e-6) for key, value in body.items())
    assert last["state_dict"]["fc.weight"].shape == (2, source["fc.weight"].shape[1])

    # Without --init the same run starts elsewhere: the comparison above can fail.
    scratch = tmp_path / "scratch"
    assert _finetune(small_manifest, scratch, "--model", "r3d_tiny") == 0
    fresh = torch.load(scratch / "last.pt", weights_only=True)["state_dict"]
    assert not all(torch.allclose(fresh[key], source[key], atol=1e-6) for key in body)


def test_init_keeps_the_head_rows_of_the_manifests_classes(small_manifest, tmp_path):
    # The checkpoint knows the manifest's two classes among others, in another order: their rows are kept.
    saved = ["zebra", "class01", "yak", "class00"]
    source = _checkpoint(tmp_path / "four.pt", "r2plus1d_tiny", saved)
    run_dir = tmp_path / "rows"
    assert _finetune(small_manifest, run_dir, "--init", str(tmp_path / "four.pt")) == 0
    last = torch.load(run_dir / "last.pt", weights_only=True)
    assert last["init"]["head"] == "selected"
    rows = torch.tensor([saved.index(name) for name in CLASSES])
    assert torch.allclose(last["state_dict"]["fc.weight"], source["fc.weight"][rows], atol=1e-6)
    assert torch.allclose(last["state_dict"]["fc.bias"], source["fc.bias"][rows], atol=1e-6)


def test_init_from_a_plain_state_dict(small_manifest, tmp_path):
    torch.manual_seed(5)
    model = get_model("r2plus1d_tiny", num_classes=2)
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    run_dir = tmp_path / "plain"
    assert _finetune(small_manifest, run_dir, "--init", str(tmp_path / "plain.pt")) == 0
    last = torch.load(run_dir / "last.pt", weights_only=True)
    assert last["init"]["head"] == "kept"  # no class names: a head of the right width is kept
    assert torch.allclose(last["state_dict"]["fc.weight"], model.state_dict()["fc.weight"], atol=1e-6)


def test_init_errors(small_manifest, tmp_path, capsys):
    _checkpoint(tmp_path / "r3d.pt", "r3d_tiny", CLASSES)
    run_dir = tmp_path / "bad"
    assert _finetune(small_manifest, run_dir, "--init", str(tmp_path / "r3d.pt"), "--model", "r2plus1d_tiny") == 2
    error = capsys.readouterr().err
    assert "r3d.pt: holds a r3d_tiny classifier, not r2plus1d_tiny; pass --model r3d_tiny" in error
    assert _finetune(small_manifest, run_dir, "--init", str(tmp_path / "r3d.pt"), "--weights", str(tmp_path / "r3d.pt")) == 2
    assert "--init and --weights both give the initial weights" in capsys.readouterr().err
    assert _finetune(small_manifest, run_dir, "--init", str(tmp_path / "nothing.pt")) == 2
    assert "nothing.pt: no such weights file" in capsys.readouterr().err
    torch.save({"fc.weight": torch.zeros(2, 3)}, tmp_path / "alien.pt")
    assert _finetune(small_manifest, run_dir, "--init", str(tmp_path / "alien.pt")) == 2
    assert "alien.pt: these weights do not fit the r2plus1d_tiny classifier" in capsys.readouterr().err
    assert not run_dir.exists(), "a refused run leaves no RUN_DIR"
