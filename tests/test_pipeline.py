"""The pipeline (select, decode, classify, gather): the local loop and Ray give the same outputs, faults included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from scsampler.batch_inference import ClassifyOptions, classify_videos
from scsampler.cli import main
from scsampler.errors import UsageError
from scsampler.inference import classify_video
from scsampler.models import Classifier
from scsampler.pipeline import ClassifyClips, Pipeline, PipelineConfig
from scsampler.pipeline.engines import _Gatherer
from scsampler.pipeline.results import ResultStore, options_identity
from scsampler.pipeline.stages import FAULT_ENV

from tests.checkpoints import decisive_checkpoint
from tests.signals_media import moving_block_video


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Four small videos of different motion (one of another size), two bad files, and a 3-class checkpoint."""
    folder = tmp_path_factory.mktemp("pipeline")
    checkpoint = decisive_checkpoint(folder / "r3d_tiny.pt", ["a", "b", "c"])
    videos = [
        moving_block_video(folder / f"v{index}.mp4", frames=64, dx=index + 1, dy=index, move_from=16 * index,
                           **({"width": 256, "height": 192} if index == 2 else {}))
        for index in range(4)
    ]  # fmt: skip
    not_a_video = folder / "bad.mp4"
    not_a_video.write_text("not a video")
    paths = [str(videos[0]), str(not_a_video), str(videos[1]), str(videos[2]), str(folder / "missing.mp4"), str(videos[3])]
    return paths, str(checkpoint)


def _same(outcomes_a, outcomes_b) -> None:
    assert [o.path for o in outcomes_a] == [o.path for o in outcomes_b]
    for a, b in zip(outcomes_a, outcomes_b):
        assert a.error == b.error
        if a.error is None:
            assert np.array_equal(a.plan.selection.index, b.plan.selection.index)
            assert np.array_equal(a.logits, b.logits)  # the same bits, not merely close


def test_the_local_pipeline_gives_what_classify_video_gives(media):
    paths, checkpoint = media
    pipeline = Pipeline(PipelineConfig(weights=checkpoint, sampler="uniform", k=3, batch_size=4))
    outcomes = list(pipeline.run(paths))
    assert [o.path for o in outcomes] == paths
    assert [o.error is None for o in outcomes] == [True, False, True, True, False, True]
    assert "bad.mp4" in outcomes[1].error and "missing.mp4" in outcomes[4].error
    classifier = Classifier.from_checkpoint(checkpoint)
    for outcome in (o for o in outcomes if o.error is None):
        alone = classify_video(outcome.path, classifier=classifier, sampler="uniform", k=3)
        assert np.array_equal(outcome.plan.selection.index, alone.selection.index)
        probabilities = torch.softmax(torch.from_numpy(outcome.logits).double(), 1).mean(0).numpy()
        np.testing.assert_allclose(probabilities, alone.probabilities, atol=1e-6)
        assert set(outcome.seconds) == {"probe", "sampler", "decode", "classifier"}


def test_a_clips_logits_do_not_depend_on_its_batch_neighbours(media):
    paths, checkpoint = media
    stage = ClassifyClips(classifier=None, weights=checkpoint, batch_size=4)
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (5, 3, 8, 112, 112), dtype=np.uint8)

    def rows(order):
        return {
            "position": np.arange(len(order)), "path": np.asarray(["x"] * len(order), dtype=object),
            "error": np.asarray([""] * len(order), dtype=object), "pixels": np.asarray([clips[i].tobytes() for i in order], dtype=object),
            "shape": np.asarray([clips[i].shape for i in order]),
        }  # fmt: skip

    forward = stage(rows([0, 1, 2, 3, 4]))["logits"]  # batches [0 1 2 3] and [4 + padding]
    shuffled = stage(rows([4, 2, 0]))["logits"]  # one batch [4 2 0 + padding]
    assert shuffled[0] == forward[4] and shuffled[1] == forward[2] and shuffled[2] == forward[0]


def test_a_video_that_fails_part_way_drops_its_rows_and_the_order_holds():
    gatherer = _Gatherer([7, 8])

    def rows(position, rank, *, error="", clips_in_video=2):
        return {
            "position": np.asarray([position]), "path": np.asarray([f"v{position}"], dtype=object),
            "error": np.asarray([error], dtype=object), "rank": np.asarray([rank]), "clips_in_video": np.asarray([clips_in_video]),
            "plan": np.asarray([b"" if rank else __import__("pickle").dumps("plan")], dtype=object),
            "logits": np.asarray([np.float32([rank, 1]).tobytes()], dtype=object),
            "decode_s": np.asarray([0.5]), "classifier_s": np.asarray([0.25]),
        }  # fmt: skip

    assert gatherer.add(rows(7, 0)) == []
    assert gatherer.add(rows(8, 1)) == [] and gatherer.add(rows(8, 0)) == []  # 8 is done but waits for 7
    finished = gatherer.add(rows(7, -1, error="v7: damaged at frame 40"))
    assert [(o.position, o.error) for o in finished] == [(7, "v7: damaged at frame 40"), (8, None)]
    assert finished[1].logits.tolist() == [[0, 1], [1, 1]] and finished[1].decode_s == 1.0


def test_a_killed_driver_resumes_from_the_stored_results(media, tmp_path):
    paths, checkpoint = media
    options = ClassifyOptions(weights=checkpoint, sampler="uniform", k=2)
    uninterrupted = ResultStore(tmp_path / "whole.parquet", identity=options_identity(options))
    whole = list(classify_videos(paths, options, store=uninterrupted))
    uninterrupted.finish(paths)

    output = tmp_path / "results.parquet"
    store = ResultStore(output, identity=options_identity(options), flush_every=1)
    run = classify_videos(paths, options, store=store)
    first_three = [next(run) for _ in range(3)]  # then the driver dies: nothing else reaches the disk
    del run
    assert [r["path"] for r in first_three] == paths[:3]
    resumed = ResultStore(output, identity=options_identity(options), flush_every=1)
    assert resumed.resumed == 2  # the two good videos among the first three; the failure is tried again
    again = list(classify_videos(paths, options, store=resumed))
    resumed.finish(paths)
    assert [r["path"] for r in again] == paths
    assert [r["seconds"] == f["seconds"] for r, f in zip(again[:3], first_three)] == [True, True, True]  # stored, not rerun

    def comparable(table):
        frame = table.to_pandas().drop(columns=["result"])
        return frame

    pd.testing.assert_frame_equal(comparable(pq.read_table(output)), comparable(pq.read_table(tmp_path / "whole.parquet")))
    assert not list(tmp_path.glob(".results.parquet.parts-*"))  # finished: the parts are gone
    assert [json.loads(r)["top5"] for r in pq.read_table(output).column("result").to_pylist()] == [r["top5"] for r in whole]


def test_other_settings_do_not_reuse_stored_results(media, tmp_path):
    _, checkpoint = media
    first = options_identity(ClassifyOptions(weights=checkpoint, k=2))
    assert options_identity(ClassifyOptions(weights=checkpoint, k=3)) != first
    assert options_identity(ClassifyOptions(weights=checkpoint, k=2)) == first


def test_engine_usage_errors(media, tmp_path, capsys):
    paths, checkpoint = media
    with pytest.raises(UsageError, match="engine must be one of local, ray, got 'spark'"):
        PipelineConfig(weights=checkpoint, engine="spark")
    local_with_workers = ["--engine", "local", "--workers", "2", "--quiet"]
    commands = {
        "classify": ["classify", paths[0], "--weights", checkpoint],
        "label": ["label", str(Path(paths[0]).parent), "--classifier", checkpoint, "-o", str(tmp_path / "t.parquet")],
        "evaluate": ["evaluate", str(tmp_path / "manifest.csv"), "--classifier", checkpoint, "-o", str(tmp_path / "run")],
    }
    for name, argv in commands.items():
        assert main(argv + local_with_workers) == 2, name
        assert "--workers above 1 needs --engine ray" in capsys.readouterr().err, name
    assert not (tmp_path / "run").exists() and not (tmp_path / "t.parquet").exists()


@pytest.mark.slow  # starts a local Ray runtime
def test_ray_gives_the_local_outputs_in_order_with_bad_files_among_good(media):
    paths, checkpoint = media
    config = dict(weights=checkpoint, sampler="uniform", k=3, batch_size=4)
    local = list(Pipeline(PipelineConfig(**config)).run(paths))
    on_ray = list(Pipeline(PipelineConfig(**config, engine="ray", workers=2)).run(paths))
    _same(on_ray, local)
    dense_local = list(Pipeline(PipelineConfig(weights=checkpoint, batch_size=4)).run(paths[:3]))
    dense_ray = list(Pipeline(PipelineConfig(weights=checkpoint, batch_size=4, engine="ray", workers=2)).run(paths[:3]))
    _same(dense_ray, dense_local)
    assert len(dense_local[0].logits) == len(dense_local[0].plan.clips)  # every clip


@pytest.mark.slow  # starts a local Ray runtime
def test_a_killed_ray_worker_is_retried_and_the_outputs_are_the_same(media, tmp_path, monkeypatch):
    paths, checkpoint = media
    config = dict(weights=checkpoint, sampler="uniform", k=3, batch_size=2)
    local = list(Pipeline(PipelineConfig(**config)).run(paths))
    marker = tmp_path / "killed"
    monkeypatch.setenv(FAULT_ENV, str(marker))  # the first classifier call on a worker SIGKILLs that worker
    on_ray = list(Pipeline(PipelineConfig(**config, engine="ray", workers=2)).run(paths))
    assert marker.is_file() and int(marker.read_text()) > 0  # a worker really died
    _same(on_ray, local)


@pytest.mark.slow  # starts a local Ray runtime
def test_cli_classify_and_label_on_ray_match_the_local_engine(media, tmp_path, capsys):
    paths, checkpoint = media
    argv = ["classify", *paths, "--weights", checkpoint, "--k", "2", "--json", "--quiet"]
    assert main(argv + ["-o", str(tmp_path / "local.parquet")]) == 1  # two files failed
    local = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert main(argv + ["--engine", "ray", "--workers", "2", "-o", str(tmp_path / "ray.parquet")]) == 1
    on_ray = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    keys = ("path", "top5", "clips", "error", "k_used")
    assert [{k: r.get(k) for k in keys} for r in on_ray] == [{k: r.get(k) for k in keys} for r in local]
    assert pq.read_table(tmp_path / "ray.parquet").column("label").to_pylist() == pq.read_table(
        tmp_path / "local.parquet"
    ).column("label").to_pylist()

    good = [p for p in paths if "bad" not in p and "missing" not in p]
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"path": good, "label": ["a", "b", "c", "a"], "split": "train"}).to_csv(manifest, index=False)
    base = ["label", str(manifest), "--classifier", checkpoint, "--quiet", "--batch-size", "4"]
    assert main(base + ["-o", str(tmp_path / "local-targets.parquet")]) == 0
    assert main(base + ["--engine", "ray", "--workers", "2", "-o", str(tmp_path / "ray-targets.parquet")]) == 0
    local_targets = pq.read_table(tmp_path / "local-targets.parquet").to_pandas()
    ray_targets = pq.read_table(tmp_path / "ray-targets.parquet").to_pandas()
    assert len(local_targets) > 4 * 2
    pd.testing.assert_frame_equal(local_targets, ray_targets)
