"""The evaluation protocol end to end on a tiny synthetic set: tables, runtime, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scsampler.cli import main
from scsampler.data.synth import make_synthetic_benchmark

pytestmark = pytest.mark.slow

MAIN_COLUMNS = ["strategy", "k", "top1", "top5", "sampler_s", "decode_s", "classifier_s", "total_s"]
RUNTIME_COLUMNS = ["strategy", "k", "classifier", "sampler_s", "decode_s", "classifier_s", "total_s", "speedup_vs_dense"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> tuple[Path, dict]:
    """15 videos of 20-24 s (3 classes: 9 train, 3 val, 3 test), a cpu-micro classifier, one evaluation."""
    root = tmp_path_factory.mktemp("evaluate")
    manifest = make_synthetic_benchmark(root / "data", videos=15, classes=3, seed=5, min_seconds=20, max_seconds=24)
    run = root / "classifier"
    assert main(["train-classifier", str(manifest), "-o", str(run), "--recipe", "cpu-micro", "--threads", "1", "--quiet"]) == 0
    out = root / "evaluation"
    argv = [
        "evaluate", str(manifest), "--classifier", str(run / "best.pt"),
        "--samplers", "motion,loudness", "--visual", "motion", "--audio", "loudness",
        "--k", "3", "--k-prime", "2", "--heavy-classifier", "r3d_tiny", "--random-seeds", "3", "-o", str(out), "--json",
    ]
    assert main(argv) == 0
    return out, {"manifest": manifest, "argv": argv}


def test_main_table_rows_and_orderings(evaluated):
    out, _ = evaluated
    table = pd.read_csv(out / "main_table.csv")
    assert list(table.columns)[: len(MAIN_COLUMNS)] == MAIN_COLUMNS  # the intervals (and more) come after
    assert {"videos", "top1_low", "top1_high", "top1_vs_dense", "top1_vs_uniform_high"} <= set(table.columns)
    assert ((table["top1_low"] <= table["top1"]) & (table["top1"] <= table["top1_high"])).all()
    assert json.loads((out / "evaluation.json").read_text()) == {"classes": 3, "videos": 3, "split": "test"}
    rows = table.set_index("strategy")
    for name in ("dense", "uniform", "random", "oracle", "motion", "loudness", "av-union", "av-intersect",
                 "av-convex-list", "av-convex-score", "scsampler"):
        assert name in rows.index, name
    assert pd.isna(rows.loc["dense", "k"]) and rows.loc["scsampler", "k"] == 3
    # K is a nullable integer: every clip is an empty cell, other K's are written as whole numbers
    lines = (out / "main_table.csv").read_text().splitlines()
    assert any(line.startswith("dense,,") for line in lines) and any(line.startswith("scsampler,3,") for line in lines)
    assert rows["total_s"].drop(index="oracle").notna().all() and pd.isna(rows.loc["oracle", "total_s"])
    assert ((table["top1"] >= 0) & (table["top1"] <= table["top5"]) & (table["top5"] <= 1)).all()


def test_runtime_estimates_follow_from_the_cached_costs(evaluated):
    """What the cached costs fix whatever the machine's speed (tests never compare measured seconds):
    total = sampler + decode + classifier; every K-clip row pays K clips at the same measured
    per-clip cost, Dense every clip; a K-clip row decodes no more than Dense's one sequential pass."""
    out, _ = evaluated
    rows = pd.read_csv(out / "main_table.csv").set_index("strategy").drop(index="oracle")
    assert rows["total_s"].to_numpy() == pytest.approx((rows["sampler_s"] + rows["decode_s"] + rows["classifier_s"]).to_numpy())
    assert rows.loc["dense", "sampler_s"] == 0.0
    k_rows = rows.drop(index=["dense", "auto"])  # auto: K differs per video
    assert k_rows["classifier_s"].to_numpy() == pytest.approx(rows.loc["uniform", "classifier_s"])
    assert (k_rows["classifier_s"] <= rows.loc["dense", "classifier_s"]).all()
    assert (k_rows["decode_s"] <= rows.loc["dense", "decode_s"] + 1e-12).all()


def test_oracle_has_the_highest_mean_true_class_probability(evaluated):
    """Oracle takes each video's K clips of highest true-class probability: their mean true-class probability
    is the highest of any strategy's (its top-1 need not be: a clip's top class is another question)."""
    from scsampler.evaluation.cache import EvaluationCache, SamplerRecord, VideoRecord
    from scsampler.evaluation.strategies import Strategy, choose

    out, _ = evaluated
    clips = pd.read_parquet(out / "clips.parquet")
    cache = EvaluationCache(out / "cache")
    dense = {record.path: record for record in (cache.load_dense(d.parent.name) for d in (out / "cache").glob("*/dense.npz"))}
    records = []
    for path, video in clips.groupby("path", sort=False):  # the test videos
        video = video.sort_values("clip_index")
        samplers = {
            name: SamplerRecord(name, None if video[f"score:{name}"].isna().all() else video[f"score:{name}"].to_numpy(), 0.0)
            for name in ("motion", "loudness")
        }
        records.append((VideoRecord(dense=dense[path], samplers=samplers), video["true_prob"].to_numpy()))
    assert len(records) == 3

    def mean_true_prob(strategy: Strategy, *, seed: int = 0) -> float:
        return float(np.mean([true_prob[choose(record, strategy, k=3, seed=seed)[0]].mean() for record, true_prob in records]))

    others = [Strategy("dense", "dense"), Strategy("uniform", "uniform"), Strategy("motion", "sampler", visual="motion"),
              Strategy("loudness", "sampler", visual="loudness")]
    others += [Strategy(c, "combination", visual="motion", audio="loudness", combination=c, k_prime=2)
               for c in ("union", "intersect", "convex-list", "convex-score")]
    best = mean_true_prob(Strategy("oracle", "oracle"))
    for strategy in others:
        assert mean_true_prob(strategy) <= best + 1e-9, strategy.name
    assert all(mean_true_prob(Strategy("random", "random"), seed=seed) <= best + 1e-9 for seed in range(3))
    timelines = pd.read_parquet(out / "timelines.parquet")  # the scsampler row's clips
    chosen = timelines[timelines["selected"]].merge(clips, on=["path", "clip_index"])
    assert chosen.groupby("path")["true_prob"].mean().mean() <= best + 1e-9


def test_runtime_at_paper_scale(evaluated):
    out, _ = evaluated
    table = pd.read_csv(out / "runtime_table.csv")
    assert list(table.columns) == RUNTIME_COLUMNS
    assert set(table["classifier"]) == {"r3d_tiny"}
    rows = table.set_index("strategy")
    assert rows.loc["dense", "speedup_vs_dense"] == pytest.approx(1.0)
    assert rows["speedup_vs_dense"].to_numpy() == pytest.approx((rows.loc["dense", "total_s"] / rows["total_s"]).to_numpy())
    # Every row pays the heavy classifier's one measured per-clip cost: K clips per video, Dense all L of them.
    clips = pd.read_parquet(out / "clips.parquet").groupby("path").size()
    share = float(clips.clip(upper=3).mean() / clips.mean())
    assert rows["classifier_s"].drop(index="dense").to_numpy() == pytest.approx(share * rows.loc["dense", "classifier_s"])
    # Estimated against measured end-to-end seconds: a warning beyond 25% (evaluation/warnings.py), never a
    # test assertion, since the measurement depends on the machine's load.
    check = pd.read_csv(out / "runtime_check.csv")
    assert {"uniform", "scsampler"} <= set(check["strategy"]) and (check["measured_s"] > 0).all()


def test_curves_and_quality_tables(evaluated):
    out, _ = evaluated
    by_k = pd.read_csv(out / "accuracy_vs_k.csv")
    uniform_k = by_k[by_k.strategy == "uniform"]["k"]
    assert set(uniform_k.dropna()) == {1, 3, 5, 10, 15, 20} and uniform_k.isna().sum() == 1  # empty: every clip
    kprime = pd.read_csv(out / "union_vs_kprime.csv")
    assert kprime["k_prime"].tolist() == [0, 1, 2, 3]
    # K'=K is the visual ranking alone: the same accuracy as the motion sampler at K.
    motion_top1 = pd.read_csv(out / "main_table.csv").set_index("strategy").loc["motion", "top1"]
    assert kprime.set_index("k_prime").loc[3, "top1"] == pytest.approx(motion_top1)
    stride = pd.read_csv(out / "accuracy_vs_stride.csv")
    assert sorted(set(stride["stride"])) == list(range(1, 11))
    scored = stride[stride.strategy == "motion"].set_index("stride")["scored_per_video"]
    assert scored.is_monotonic_decreasing and scored.loc[1] > scored.loc[10]
    quality = pd.read_csv(out / "sampler_quality.csv")
    assert quality["precision_vs_oracle"].between(0, 1).all()
    assert quality["precision_vs_segments"].notna().all()  # segments.csv exists for the synthetic set
    timelines = pd.read_parquet(out / "timelines.parquet")
    assert timelines.groupby("path")["selected"].sum().eq(3).all()


def test_report_and_rerun_reuses_the_cache(evaluated, capsys):
    out, context = evaluated
    html = (out / "report.html").read_text()
    assert html.count("<img") >= 7 and "Runtime at paper scale" in html
    cached = sorted(p.name for p in (out / "cache").rglob("*.npz"))
    stamps = {p: p.stat().st_mtime_ns for p in (out / "cache").rglob("*.npz")}
    capsys.readouterr()
    assert main(context["argv"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["videos"] == 3 and summary["errors"] == []
    # the intervals come through --json; NaN (none here) would be null
    assert all(0 <= row["top1_low"] <= row["top1"] <= row["top1_high"] <= 1 for row in summary["main_table"])
    assert all(row["top1_vs_dense_low"] <= row["top1_vs_dense"] <= row["top1_vs_dense_high"] for row in summary["main_table"])
    assert sorted(p.name for p in (out / "cache").rglob("*.npz")) == cached
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in stamps.items())  # nothing recomputed


def test_a_bad_video_is_reported_and_the_rest_finish(evaluated, tmp_path, capsys):
    out, context = evaluated
    manifest = Path(context["manifest"])
    lines = manifest.read_text().splitlines()
    broken = tmp_path / "data"
    broken.mkdir()
    (broken / "bad.mp4").write_text("not a video")
    rows = [lines[0]] + [
        f"{(manifest.parent / line.split(',')[0]).resolve()},{','.join(line.split(',')[1:])}" for line in lines[1:]
    ]
    rows.append("bad.mp4,class00,test")
    (broken / "manifest.csv").write_text("\n".join(rows) + "\n")
    (broken / "classes.txt").write_text((manifest.parent / "classes.txt").read_text())
    argv = list(context["argv"])
    argv[1] = str(broken / "manifest.csv")
    argv[argv.index("-o") + 1] = str(tmp_path / "run")
    argv[argv.index("--heavy-classifier") + 1] = "none"
    capsys.readouterr()
    assert main(argv) == 1
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["videos"] == 3
    assert len(summary["errors"]) == 1 and "bad.mp4" in summary["errors"][0]["error"]


def test_warnings_are_recorded_and_reported(evaluated):
    """warnings.csv (kind,message): none about this clean manifest; the audio fallback exactly when a test video is silent."""
    out, context = evaluated
    found = pd.read_csv(out / "warnings.csv")
    assert list(found.columns) == ["kind", "message"]
    assert set(found["kind"]) <= {"predictions", "audio", "runtime"}  # no "data": the synthetic manifest is sound
    summary = json.loads((Path(context["manifest"]).parent / "synth.json").read_text())
    silent = [Path(v["path"]).name for v in summary["videos"] if v["split"] == "test" and not v["has_audio"]]
    audio = found.loc[found["kind"] == "audio", "message"].tolist()
    assert len(audio) == (1 if silent else 0)
    assert all(name in audio[0] for name in silent)
    assert 'id="warnings"' in (out / "report.html").read_text()


def test_scsampler_row_is_chosen_on_the_val_split(evaluated):
    out, _ = evaluated
    summary = json.loads((out / "tuning.json").read_text())
    assert summary["tuned"] and summary["split"] == "val" and summary["videos"] == 3  # the set's 3 val videos
    tuning = pd.read_csv(out / "tuning.csv")
    assert tuning["chosen"].sum() == 1 and tuning.loc[tuning["chosen"], "candidate"].item() == summary["choice"]
    assert set(tuning["visual"].dropna()) | set(tuning["audio"].dropna()) == {"motion", "loudness"}
    main_rows = pd.read_csv(out / "main_table.csv").set_index("strategy")
    assert main_rows.loc["scsampler", "choice"] == summary["choice"]
    assert "Choices made on the validation split" in (out / "report.html").read_text()
