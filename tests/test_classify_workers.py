"""Classifying many videos on Ray workers gives what the plain loop gives, in input order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scsampler.batch_inference import ClassifyOptions, VideoClassifier, classify_videos
from scsampler.cli import main
from scsampler.errors import UsageError

from tests.checkpoints import decisive_checkpoint
from tests.signals_media import moving_block_video

pytestmark = pytest.mark.slow  # starts a local Ray runtime


@pytest.fixture(scope="module")
def videos_and_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("workers")
    checkpoint = decisive_checkpoint(folder / "r3d_tiny.pt", ["a", "b", "c"])
    videos = [
        moving_block_video(folder / f"v{index}.mp4", frames=48, dx=index + 1, dy=index, move_from=16 * index)
        for index in range(3)
    ]
    bad = folder / "bad.mp4"
    bad.write_text("not a video")
    return [str(videos[0]), str(bad), str(videos[1]), str(videos[2])], checkpoint


def _comparable(result: dict) -> dict:
    """What must not depend on where a video was classified (timings do)."""
    return {key: result[key] for key in ("path", "top5", "clips", "error")}


def test_ray_workers_match_the_local_loop_in_order(videos_and_checkpoint):
    paths, checkpoint = videos_and_checkpoint
    options = ClassifyOptions(weights=str(checkpoint), sampler="uniform", k=2)
    local = list(classify_videos(paths, options, workers=1))
    on_ray = list(classify_videos(paths, options, workers=2))
    assert [r["path"] for r in on_ray] == paths
    assert [_comparable(r) for r in on_ray] == [_comparable(r) for r in local]
    assert "bad.mp4" in on_ray[1]["error"] and on_ray[1]["top5"] == []
    assert all(r["error"] is None and len(r["clips"]) == 2 for i, r in enumerate(on_ray) if i != 1)
    # the videos differ, so a mix-up between workers would show
    assert len({json.dumps(r["top5"]) for i, r in enumerate(local) if i != 1}) > 1


def test_the_callable_maps_a_batch_of_paths(videos_and_checkpoint):
    paths, checkpoint = videos_and_checkpoint
    worker = VideoClassifier(ClassifyOptions(weights=str(checkpoint), k=2), threads=1)
    out = worker({"path": np.asarray(paths[:2])})
    assert list(out["path"]) == paths[:2]
    first, second = (json.loads(text) for text in out["result"])
    assert first["error"] is None and len(first["top5"]) == 3
    assert "not a video" in second["error"] or "bad.mp4" in second["error"]


def test_a_bad_model_fails_before_any_worker_starts(videos_and_checkpoint, tmp_path):
    paths, _ = videos_and_checkpoint
    missing = tmp_path / "missing.pt"
    with pytest.raises(Exception, match="missing.pt"):
        list(classify_videos(paths, ClassifyOptions(weights=str(missing)), workers=2))
    with pytest.raises(UsageError, match="workers must be at least 1, got 0"):
        list(classify_videos(paths, ClassifyOptions(weights=str(missing)), workers=0))


def test_cli_workers_flag(videos_and_checkpoint, capsys):
    paths, checkpoint = videos_and_checkpoint
    argv = ["classify", *paths, "--weights", str(checkpoint), "--k", "2", "--workers", "2", "--json", "--quiet"]
    assert main(argv) == 1  # one file failed
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["path"] for line in lines] == paths
    assert [bool(line["error"]) for line in lines] == [False, True, False, False]
