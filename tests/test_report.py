"""The evaluation figures and report.html, from small fake tables of the runner's exact shape."""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpl_image

from scsampler.cli import main as cli_main
from scsampler.errors import UsageError
from scsampler.evaluation import plots
from scsampler.evaluation.report import SECTION_TITLES, clip_thumbnails, render_report, write_report
from tests.media import read_frame_number, write_numbered_video

HOSTILE_LABEL = '"><img src=x onerror=alert(1)>'
HOSTILE_STRATEGY = "<b>evil</b>$x$"
HOSTILE_DIR = "<script>alert(1)<"  # with the file below, the path holds <script>alert(1)</script>.mp4
HOSTILE_FILE = "script>.mp4"
STRATEGIES = ["dense", "uniform", "random", "motion", "av-union", "scsampler", "oracle"]
FIGURES = 8  # main, runtime, speed-up vs length, accuracy-vs-k, union-vs-kprime, accuracy-vs-runtime, stride, quality


# --- fake run directory --------------------------------------------------------------------


def _timeline_rows(path: Path, label: str, *, clips: int, clip_s: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(clips)
    selected = np.zeros(clips, bool)
    selected[np.argsort(-score)[:2]] = True
    return pd.DataFrame({
        "path": str(path), "label": label, "predicted": "jump",
        "clip_index": np.arange(clips), "start_s": np.arange(clips) * clip_s,
        "end_s": (np.arange(clips) + 1) * clip_s, "score": score, "selected": selected,
        "in_segment": np.isin(np.arange(clips), [1, 2]),
    })


def make_tables(videos: list[tuple[Path, str]]) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = len(STRATEGIES)
    main = pd.DataFrame({
        "strategy": STRATEGIES, "k": 10,
        "top1": np.linspace(0.4, 0.9, n), "top5": np.linspace(0.7, 1.0, n),
        "sampler_s": [0, 0, 0, 0.2, 0.3, 0.3, 0], "decode_s": rng.random(n), "classifier_s": rng.random(n) * 5,
    })
    main["total_s"] = main["sampler_s"] + main["decode_s"] + main["classifier_s"]
    main["top1_std"] = [np.nan, np.nan, 0.02, np.nan, np.nan, np.nan, np.nan]
    main.loc[3, "strategy"] = HOSTILE_STRATEGY
    runtime = main[["strategy", "k", "sampler_s", "decode_s", "classifier_s", "total_s"]].copy()
    runtime.insert(2, "classifier", "r2plus1d_18")
    runtime["speedup_vs_dense"] = runtime["total_s"].iloc[0] / runtime["total_s"]
    check = pd.DataFrame({"strategy": ["dense", "scsampler"], "path": [str(videos[0][0])] * 2,
                          "estimated_s": [3.0, 0.4], "measured_s": [3.2, 0.45]})
    ks = [1, 3, 5, 10, 15, 20, None]  # None: every clip (an empty k in the CSV)
    accuracy_vs_k = pd.DataFrame([{"strategy": s, "k": k, "top1": rng.random(), "top5": rng.random()}
                                  for s in ("uniform", "random", "scsampler") for k in ks])
    union = pd.DataFrame({"k_prime": range(11), "k": 10, "top1": rng.random(11), "top5": rng.random(11)})
    runtime_curve = pd.DataFrame([{"strategy": s, "k": k, "total_s": 0.1 * k + (0.3 if s == "scsampler" else 0),
                                   "top1": rng.random()} for s in ("uniform", "random") for k in (1, 5, 10, 20)]
                                 + [{"strategy": "scsampler", "k": 10, "total_s": 1.3, "top1": 0.8}])
    stride = pd.DataFrame([{"strategy": s, "stride": n_, "top1": rng.random(), "scored_per_video": 40 / n_}
                           for s in ("motion", "scsampler") for n_ in range(1, 11)])
    ablation = pd.DataFrame([{"loss": loss, "modality": m, "backbone": "r18", "top1": rng.random(), "top5": rng.random()}
                             for loss in ("AC", "SAL-CL", "SAL-RANK") for m in ("visual", "audio", "AV")])
    quality = pd.DataFrame([{"strategy": s, "path": str(p), "precision_vs_oracle": rng.random(),
                             "precision_vs_segments": np.nan if s == "uniform" else rng.random()}
                            for s in ("uniform", "motion", "scsampler") for p, _ in videos])
    speedup = pd.DataFrame({  # benchmarks/speedup_vs_length.py's columns
        "minutes": [1.0, 5.0, 60.0], "clips": [112, 562, 6750], "dense_s": [70.6, 354.2, 4254.3],
        "dense_estimated": [False, True, True], "ceiling": [11.2, 56.2, 675.0],
        "demo_s": [7.0, 10.1, 36.5], "demo_speedup": [10.1, 35.1, 116.5], "demo_peak_mb": [1025.4, 1072.7, 1224.3],
        f"{HOSTILE_STRATEGY}_s": [11.0, 24.3, 210.6], f"{HOSTILE_STRATEGY}_speedup": [6.4, 14.6, 20.2],
    })
    timelines = pd.concat([_timeline_rows(p, label, clips=6, clip_s=0.64, seed=i)
                           for i, (p, label) in enumerate(videos)], ignore_index=True)
    return {"main_table": main, "runtime_table": runtime, "runtime_check": check, "accuracy_vs_k": accuracy_vs_k,
            "union_vs_kprime": union, "accuracy_vs_runtime": runtime_curve, "accuracy_vs_stride": stride,
            "ablation": ablation, "sampler_quality": quality, "timelines": timelines, "speedup_vs_length": speedup}


def write_tables(run_dir: Path, tables: dict[str, pd.DataFrame]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        if name == "timelines":
            table.to_parquet(run_dir / f"{name}.parquet", index=False)
        else:
            table.to_csv(run_dir / f"{name}.csv", index=False)
    return run_dir


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """100 frames at 25 fps, pixels that carry their frame number: six clips of 16 frames."""
    return write_numbered_video(tmp_path_factory.mktemp("report_video") / "clip.mp4", frames=100, fps=25, gop=12)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, video) -> tuple[Path, str]:
    """A run directory with every table; one hostile-named real video and one that cannot be decoded."""
    root = tmp_path_factory.mktemp("run")
    hostile = root / HOSTILE_DIR / HOSTILE_FILE
    hostile.parent.mkdir()
    shutil.copy(video, hostile)
    broken = root / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    run_dir = write_tables(root / "run", make_tables([(hostile, HOSTILE_LABEL), (broken, "jump")]))
    path = write_report(run_dir, title="test <run>")
    return path, path.read_text(encoding="utf-8")


# --- the report ----------------------------------------------------------------------------


def _data_images(page: str, css: str) -> list[str]:
    return re.findall(rf'<img class="{css}" alt="[^"]*" src="(data:image/[a-z]+;base64,[A-Za-z0-9+/=]+)">', page)


def test_report_holds_every_section_and_figure(full_run):
    path, page = full_run
    assert path.name == "report.html"
    for section, heading in SECTION_TITLES.items():
        assert f'id="{section}"' in page, section
        assert html.escape(heading) in page, heading
    assert "Runtime at paper scale: r2plus1d_18" in page
    figures = _data_images(page, "figure")
    assert len(figures) == FIGURES + 2  # plus one timeline per video
    for uri in figures:
        assert uri.startswith("data:image/png;base64,")
    # the decodable video gets its top-3 and bottom-3 thumbnails; the broken one a note
    assert len(_data_images(page, "thumb")) == 6
    assert "broken.mp4: no thumbnails, the video could not be decoded" in page
    assert page.count("<img") == FIGURES + 2 + 6


def test_report_is_self_contained(full_run):
    _, page = full_run
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith(("data:", "#")) for s in sources), [s[:40] for s in sources if not s.startswith(("data:", "#"))]


def test_report_escapes_names_from_the_data(full_run):
    _, page = full_run
    hostile_path = f"{HOSTILE_DIR}/{HOSTILE_FILE}"
    assert "<script>alert(1)</script>.mp4" in hostile_path
    for raw in (hostile_path, HOSTILE_LABEL, HOSTILE_STRATEGY, "test <run>"):
        assert raw not in page, raw
        assert html.escape(raw, quote=True) in page, raw
    assert "onerror=alert(1)>" not in page


def test_thumbnails_show_the_middle_frame_of_each_clip(video):
    # clips of 16 frames at 25 fps: clip i spans frames 16i..16i+15, its middle frame is 16i+8
    starts = np.array([0, 1, 4]) * 0.64
    images = clip_thumbnails(video, starts, starts + 0.64, height_px=96)
    assert len(images) == 3 and all(images)
    numbers = [read_frame_number(mpl_image.imread(io.BytesIO(data), format="jpeg")) for data in images]
    assert numbers == [8, 24, 72]


def test_missing_optional_tables_give_notes_not_a_crash(tmp_path, video):
    tables = make_tables([(video, "jump")])
    timelines = tables["timelines"].drop(columns=["predicted"]).assign(predicted_index=2)  # index only
    errors = pd.DataFrame({"path": ["/data/<i>bad</i>.mp4"], "error": ["cannot decode"]})
    run_dir = write_tables(tmp_path / "run", {"main_table": tables["main_table"], "timelines": timelines,
                                              "errors": errors})
    (run_dir / "ablation.csv").write_text("")  # empty file
    (run_dir / "sampler_quality.csv").write_text("strategy,path,precision_vs_oracle,precision_vs_segments\n")
    (run_dir / "accuracy_vs_k.csv").write_text("strategy,top1\nuniform,0.5\n")  # lacks k: a figure note
    with pytest.warns(UserWarning, match="accuracy_vs_k.png could not be drawn"):
        summary = render_report(run_dir, thumbnails=False)
    page = summary.path.read_text(encoding="utf-8")
    assert "No ablation results: ablation.csv is empty." in page
    assert "sampler_quality.csv has no rows." in page
    assert "runtime_table.csv is not in the run directory." in page
    assert "speedup_vs_length.csv is not in the run directory. `benchmarks/speedup_vs_length.py --out RUN_DIR`" in page
    assert "accuracy_vs_k.png could not be drawn" in page and "lacks column(s) k" in page
    assert len(_data_images(page, "figure")) == 2  # main table and the one timeline
    assert "predicted <b>class #2</b> &middot;" in page  # no right/wrong verdict without class names
    assert "Videos that could not be evaluated" in page and "/data/&lt;i&gt;bad&lt;/i&gt;.mp4" in page
    assert not _data_images(page, "thumb")
    assert summary.videos == 1 and summary.thumbnails == 0


def test_run_dir_without_tables_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="none of the evaluation tables"):
        write_report(tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        write_report(tmp_path / "nope")


def test_cli_report_json(tmp_path, video, capsys):
    run_dir = write_tables(tmp_path / "run", make_tables([(video, "jump")]))
    assert cli_main(["report", str(run_dir), "--json", "--no-thumbnails"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["report"] == str(run_dir / "report.html") and Path(out["report"]).is_file()
    assert len(out["figures"]) == FIGURES + 1 and out["thumbnails"] == 0
    assert all(Path(f).is_file() for f in out["figures"])
    assert cli_main(["report", str(tmp_path / "missing")]) == 2
    assert "error:" in capsys.readouterr().err


# --- the figures ---------------------------------------------------------------------------


def _assert_drawn(png: Path) -> None:
    assert png.is_file() and png.stat().st_size > 0
    pixels = mpl_image.imread(png)[..., :3]
    assert pixels.std() > 0.02
    assert (pixels.min(axis=-1) < 0.9).mean() > 0.01  # more than a white page with a frame


PLOTS = {
    "main_table": plots.plot_main_table,
    "runtime_table": plots.plot_runtime,
    "accuracy_vs_k": plots.plot_accuracy_vs_k,
    "union_vs_kprime": plots.plot_union_vs_kprime,
    "accuracy_vs_runtime": plots.plot_accuracy_vs_runtime,
    "accuracy_vs_stride": plots.plot_accuracy_vs_stride,
    "sampler_quality": plots.plot_sampler_quality,
    "speedup_vs_length": plots.plot_speedup_vs_length,
}


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_each_plot_writes_a_drawn_png(tmp_path, name):
    tables = make_tables([(Path("/data/a.mp4"), "jump"), (Path("/data/b.mp4"), "run")])
    out = PLOTS[name](tables[name], tmp_path / "figs" / f"{name}.png")
    assert out == tmp_path / "figs" / f"{name}.png"
    _assert_drawn(out)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_timeline_plot_marks_selected_clips(tmp_path):
    rows = _timeline_rows(Path("/data/$a$.mp4"), "jump", clips=30, clip_s=0.64, seed=3)
    out = plots.plot_timeline(rows, tmp_path / "timeline.png", title="$a$.mp4")
    _assert_drawn(out)
    pixels = mpl_image.imread(out)[..., :3]
    orange = (pixels[..., 0] > 0.9) & (np.abs(pixels[..., 1] - 0.5) < 0.1) & (pixels[..., 2] < 0.2)
    assert orange.sum() > 20  # the selected clips' bars
    with pytest.raises(UsageError, match="one video"):
        plots.plot_timeline(pd.concat([rows, rows.assign(path="/data/other.mp4")]), tmp_path / "two.png")


def test_plot_rejects_a_table_without_its_columns(tmp_path):
    with pytest.raises(UsageError, match="lacks column.*top1"):
        plots.plot_accuracy_vs_k(pd.DataFrame({"strategy": ["a"], "k": [1]}), tmp_path / "x.png")
    with pytest.raises(UsageError, match="lacks column.*_speedup"):
        plots.plot_speedup_vs_length(pd.DataFrame({"minutes": [1.0], "ceiling": [11.2], "demo_s": [7.0]}), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# --- intervals in the main table -------------------------------------------------------------


def _interval_run(tmp_path: Path, *, classes: int) -> Path:
    """A main table with intervals: `apart` beats Dense with an interval that excludes 0, `close` does not."""
    rows = [  # strategy, top1, low, high, vs dense (difference, low, high), vs uniform
        ("dense", 0.50, 0.25, 0.75, (0.0, 0.0, 0.0), (-0.125, -0.375, 0.125)),
        ("uniform", 0.625, 0.375, 0.875, (0.125, -0.125, 0.375), (0.0, 0.0, 0.0)),
        ("apart", 0.75, 0.50, 1.00, (0.25, 0.125, 0.375), (0.125, -0.25, 0.5)),
        ("close", 0.5625, 0.25, 0.875, (0.0625, -0.125, 0.25), (-0.0625, -0.25, 0.125)),
    ]
    table = pd.DataFrame([{
        "strategy": name, "k": None if name == "dense" else 10, "top1": top1, "top5": 0.9,
        "sampler_s": 0.1, "decode_s": 0.2, "classifier_s": 0.3, "total_s": 0.6,
        "videos": 8, "top1_low": low, "top1_high": high, "top5_low": 0.8, "top5_high": 1.0,
        "top1_vs_dense": dense[0], "top1_vs_dense_low": dense[1], "top1_vs_dense_high": dense[2],
        "top1_vs_uniform": uniform[0], "top1_vs_uniform_low": uniform[1], "top1_vs_uniform_high": uniform[2],
    } for name, top1, low, high, dense, uniform in rows])
    run_dir = write_tables(tmp_path / "run", {"main_table": table})
    (run_dir / "evaluation.json").write_text(json.dumps({"classes": classes, "videos": 8, "split": "test"}))
    return run_dir


def _main_rows(page: str) -> dict[str, list[str]]:
    """The main table's cells per strategy, and its header under the key 'header'."""
    section = page.split('<h2 id="main">', 1)[1].split("</section>", 1)[0]
    header = re.findall(r"<th>(.*?)</th>", section)
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", section.split("<tbody>", 1)[1]):
        cells = re.findall(r"<td>(.*?)</td>", row)
        rows[cells[0]] = cells
    rows["header"] = header
    return rows


def test_report_marks_differences_whose_interval_contains_zero(tmp_path):
    page = render_report(_interval_run(tmp_path, classes=8), thumbnails=False).path.read_text(encoding="utf-8")
    rows = _main_rows(page)
    header = rows["header"]
    vs_dense = header.index("top1 vs Dense (pts) [95% CI]")
    vs_uniform = header.index("top1 vs Uniform (pts) [95% CI]")
    assert rows["apart"][header.index("top1 [95% CI]")] == "75.0% [50.0, 100.0]"
    assert "+25.0 [+12.5, +37.5]" in rows["apart"][vs_dense] and "&dagger;" not in rows["apart"][vs_dense]
    assert "+6.2 [-12.5, +25.0]" in rows["close"][vs_dense] and "&dagger;" in rows["close"][vs_dense]
    assert "&dagger;" in rows["apart"][vs_uniform]  # -25 to +50 points: contains 0
    assert "reference" in rows["dense"][vs_dense] and "reference" in rows["uniform"][vs_uniform]
    assert "not distinguishable from 0 at 95%" in page and "on 8 videos" in page
    # the raw interval columns are folded into those cells, not repeated
    assert not {"top1_low", "top1_vs_dense_high", "videos"} & set(header)


def test_top5_is_shown_only_with_more_than_five_classes(tmp_path):
    many = _main_rows(render_report(_interval_run(tmp_path / "eight", classes=8), thumbnails=False)
                      .path.read_text(encoding="utf-8"))
    assert "top5 [95% CI]" in many["header"]
    assert many["apart"][many["header"].index("top5 [95% CI]")] == "90.0% [80.0, 100.0]"
    page = render_report(_interval_run(tmp_path / "four", classes=4), thumbnails=False).path.read_text(encoding="utf-8")
    few = _main_rows(page)
    assert not any("top5" in column for column in few["header"])
    assert "Top-5 is not shown: with 4 classes" in page


def test_cli_main_table_prints_intervals_and_marks(tmp_path, capsys):
    from scsampler.cli.evaluate import print_main_table

    run_dir = _interval_run(tmp_path, classes=4)
    print_main_table(run_dir / "main_table.csv")
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "top-5" not in lines["strategy"] and "top-5 not shown: 4 classes" in lines["top-5"]
    assert "75.0% [50.0,100.0]" in lines["apart"]
    assert "+25.0 [+12.5,+37.5] " in lines["apart"] and "+12.5 [-25.0,+50.0]~" in lines["apart"]
    assert "+6.2 [-12.5,+25.0]~" in lines["close"]


# --- the page in a real browser ------------------------------------------------------------


def _chromium() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_report_renders_in_headless_chromium(full_run, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the screenshot test needs it")
    path, _ = full_run
    shot = tmp_path / "shot.png"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
               "--window-size=1280,2000", path.resolve().as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    pixels = mpl_image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 0.05  # a blank page has none
    # the main-table figure's bars (orange for scsampler) are on screen, so the data-URI images rendered
    orange = (pixels[..., 0] > 0.9) & (np.abs(pixels[..., 1] - 0.5) < 0.12) & (pixels[..., 2] < 0.25)
    assert orange.sum() > 200
