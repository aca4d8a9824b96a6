"""``scsampler select``: JSON and table output, bundles, combinations, bad files and bad options."""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from scsampler.cli import main
from scsampler.cli.select import BLOCKS, timeline
from scsampler.samplers.bundle import save_sampler
from scsampler.samplers.composite import CompositeSampler
from scsampler.samplers.registry import get_sampler, list_samplers
from scsampler.types import ClipScores, ClipSelection
from scsampler.video import clip_grid, probe
from tests.test_selection import TableSampler, WaveSampler

FPS = 16
FRAMES = 96  # six clips of 16 frames


def write_active_video(path: Path) -> Path:
    """Six 1-s clips: a block that moves only in clips 3-5, a tone that sounds only in clips 0-1."""
    rate = 16000
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 128, 96, "yuv420p"
        video.options = {"g": "16", "bf": "0", "crf": "18"}
        video.time_base = Fraction(1, FPS)
        audio = container.add_stream("aac", rate=rate, layout="mono")
        for number in range(FRAMES):
            image = np.full((96, 128, 3), 90, dtype=np.uint8)
            x = 8 + max(0, number - 3 * FPS) * 3 % 80  # still until clip 3, then 3 pixels a frame
            image[32:64, x : x + 32] = (250, 200, 40)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = number
            container.mux(video.encode(frame))
        seconds = FRAMES / FPS
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.5 * np.sin(2 * np.pi * 440 * t) * (t < 2.0)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = np.ascontiguousarray(samples[start : start + 1024][None, :])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(audio.encode(frame))
        container.mux(video.encode())
        container.mux(audio.encode())
    return path


@pytest.fixture(scope="module")
def active_video(tmp_path_factory) -> Path:
    return write_active_video(tmp_path_factory.mktemp("select") / "active.mp4")


def run_json(capsys, argv: list[str]) -> tuple[int, list[dict]]:
    status = main(["select", *argv, "--json", "--quiet"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    return status, lines


def test_json_lines_hold_clips_with_seconds_and_scores(capsys, active_video: Path) -> None:
    status, [line] = run_json(capsys, [str(active_video), "--sampler", "uniform", "--k", "3"])
    assert status == 0
    assert line["path"] == str(active_video) and line["error"] is None and line["scored"] == 0
    info = probe(active_video)
    grid = clip_grid(info)
    assert [c["index"] for c in line["clips"]] == get_sampler("uniform").select(info, grid, k=3).index.tolist()
    for clip in line["clips"]:
        assert set(clip) == {"index", "start_s", "end_s", "score"}
        assert clip["start_s"] == pytest.approx(grid.start_s[clip["index"]])
        assert clip["end_s"] == pytest.approx(grid.end_s[clip["index"]])


@pytest.mark.skipif("motion" not in list_samplers(), reason="the motion sampler has not landed")
def test_motion_chooses_the_moving_clips_and_honours_the_stride(capsys, active_video: Path) -> None:
    status, [line] = run_json(capsys, [str(active_video), "--sampler", "motion", "--k", "3"])
    assert status == 0 and line["scored"] == 6
    assert sorted(c["index"] for c in line["clips"]) == [3, 4, 5]
    status, [line] = run_json(capsys, [str(active_video), "--sampler", "motion", "--k", "3", "--stride", "2"])
    assert line["scored"] == 3 and [c["index"] for c in line["clips"]][0] == 4
    assert all(c["index"] % 2 == 0 for c in line["clips"])


@pytest.mark.skipif(
    not {"motion", "loudness"} <= set(list_samplers()), reason="the motion and loudness samplers have not landed"
)
def test_union_of_motion_and_loudness_takes_from_both(capsys, active_video: Path) -> None:
    argv = [str(active_video), "--sampler", "motion", "--audio-sampler", "loudness", "--k", "2"]
    status, [line] = run_json(capsys, [*argv, "--combine", "union", "--k-prime", "1"])
    assert status == 0
    first, second = (c["index"] for c in line["clips"])
    assert first in (3, 4, 5) and second in (0, 1)  # moving clip first, then a loud one
    status, [visual] = run_json(capsys, [*argv, "--combine", "convex-list", "--alpha", "1"])
    assert {c["index"] for c in visual["clips"]} <= {3, 4, 5}
    status, [audio] = run_json(capsys, [*argv, "--combine", "convex-list", "--alpha", "0"])
    assert {c["index"] for c in audio["clips"]} == {0, 1}


def test_a_saved_sampler_runs_with_its_own_k_and_stride(capsys, tmp_path: Path, active_video: Path) -> None:
    sampler = CompositeSampler(
        TableSampler(np.array([0.1, 0.9, 0.3, 0.7, 0.5, 0.2])),
        WaveSampler(frequency=2.0, name="a"),
        combination="union",
        k=2,
        k_prime=1,
        stride=2,
    )
    bundle = save_sampler(sampler, tmp_path / "av")
    status, [line] = run_json(capsys, [str(active_video), "--sampler", str(bundle)])
    expected = sampler.select(probe(active_video), clip_grid(probe(active_video)), k=2, stride=2)
    assert status == 0 and line["scored"] == 3
    assert [c["index"] for c in line["clips"]] == expected.index.tolist()
    assert [c["score"] for c in line["clips"]] == pytest.approx(expected.scores.tolist())
    # Options on the command line override the saved ones.
    status, [line] = run_json(capsys, [str(active_video), "--sampler", str(bundle), "--k", "3", "--stride", "1"])
    assert len(line["clips"]) == 3 and line["scored"] == 6


def test_one_bad_file_is_reported_in_its_line_and_the_rest_finish(capsys, tmp_path: Path, active_video: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    status, lines = run_json(capsys, [str(broken), str(active_video), "--sampler", "uniform", "--k", "2"])
    assert status == 1
    assert [line["path"] for line in lines] == [str(broken), str(active_video)]
    assert lines[0]["error"].startswith(f"{broken}: ") and lines[0]["clips"] == []
    assert lines[1]["error"] is None and len(lines[1]["clips"]) == 2


def test_table_output_and_the_timeline_on_a_terminal(capsys, monkeypatch, active_video: Path, tmp_path: Path) -> None:
    bundle = save_sampler(CompositeSampler(TableSampler(np.arange(6.0)), k=2), tmp_path / "table")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    status = main(["select", str(active_video), "--sampler", str(bundle), "--quiet"])
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[0] == f"{active_video}: 2 of 6 clips chosen by table (6 scored)"
    assert out[2].split()[:2] == ["1", "5"] and out[3].split()[:2] == ["2", "4"]
    assert out[4].strip() == "▁▂▄▅▇█" and out[5].strip() == "^^" and out[5].index("^") == out[4].index("▇")


def test_bad_options_stop_before_any_video_is_read(capsys, active_video: Path) -> None:
    status = main(["select", str(active_video), "--sampler", "uniform", "--k", "0"])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "error: k must be a positive integer (or None for every clip), got 0; "
        "pass k=10 (the paper's default) or any count of at least 1."
    )
    status = main(["select", str(active_video), "--sampler", "no-such-sampler"])
    assert status == 2 and "unknown sampler 'no-such-sampler'" in capsys.readouterr().err


def _selection(index, num_clips: int) -> ClipSelection:
    index = np.asarray(index)
    return ClipSelection(
        index=index, start_s=index * 1.0, end_s=index + 1.0, scores=np.zeros(len(index)), num_clips=num_clips, scored=0
    )


def test_timeline_scales_per_video_and_marks_chosen_clips() -> None:
    scores = ClipScores(
        index=[0, 2, 4, 6], scores=[-5.0, 10.0, 2.5, -np.inf], start_s=[0, 2, 4, 6], end_s=[1, 3, 5, 7], num_clips=8
    )
    bars, marks = timeline(scores, _selection([2, 4], 8), width=80)
    assert bars == f"{BLOCKS[0]} {BLOCKS[-1]} {BLOCKS[4]} {BLOCKS[0]} "  # unscored clips are blank
    assert marks == "  ^ ^"
    # A long video is binned: each column shows the best score among its clips.
    many = ClipScores.for_grid(clip_grid_of(1000), np.arange(1000.0))
    bars, marks = timeline(many, _selection([999, 0], 1000), width=50)
    assert len(bars) == 50 and bars[0] == BLOCKS[0] and bars[-1] == BLOCKS[-1]
    assert marks == "^" + " " * 48 + "^"
    # Without scores (a baseline) only the chosen clips are shown.
    bars, marks = timeline(None, _selection([1], 3), width=10)
    assert bars == "   " and marks == " ^"


def clip_grid_of(count: int):
    from scsampler.types import ClipGrid

    return ClipGrid(
        frames_per_clip=1,
        stride_frames=1,
        video_frames=count,
        index=np.arange(count),
        start_frame=np.arange(count),
        end_frame=np.arange(count) + 1,
        start_s=np.arange(count, dtype=float),
        end_s=np.arange(count, dtype=float) + 1,
    )


def test_build_sampler_is_what_the_select_options_mean(tmp_path: Path) -> None:
    """The library side of ``select``: which sampler the options build, and which K and N it selects with."""
    from scsampler.samplers import build_sampler, resolve_k_and_stride

    plain = build_sampler("uniform", k=5, stride=2)  # a plain sampler stays itself; K and N are only asked for
    assert plain.name == "uniform" and not isinstance(plain, CompositeSampler)
    assert resolve_k_and_stride(plain) == (10, 1) and resolve_k_and_stride(plain, k=5, stride=2) == (5, 2)
    combined = build_sampler(WaveSampler(name="v"), audio=WaveSampler(name="a"), combination="convex-list", alpha=0.25)
    assert isinstance(combined, CompositeSampler) and combined.name == "v+a:convex-list(alpha=0.25)"
    assert resolve_k_and_stride(combined) == (10, 1)
    saved = save_sampler(CompositeSampler(WaveSampler(name="v"), WaveSampler(name="a"), k=4, stride=3, k_prime=2), tmp_path / "av")
    kept = build_sampler(str(saved))
    assert (kept.k, kept.stride, kept.k_prime, kept.audio.name) == (4, 3, 2, "a")
    assert resolve_k_and_stride(kept) == (4, 3)
    changed = build_sampler(str(saved), k=None, stride=1, audio=WaveSampler(name="b"))
    assert (changed.k, changed.stride, changed.k_prime, changed.audio.name) == (None, 1, 2, "b")
    assert resolve_k_and_stride(changed) == (None, 1)  # None: every clip, as everywhere
