"""`scsampler reencode`: CoViAR's MPEG-4 Part 2 inputs, keyframe interval, audio, resume, bad files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from scsampler.cli import main
from scsampler.data.synth import make_synthetic_benchmark
from scsampler.errors import UsageError, VideoError
from scsampler.signals import extract_signals
from scsampler.video import clip_grid, decode_clips, probe
from scsampler.video.reencode import ReencodeSettings, reencode_folder, reencode_video
from tests.media import read_frame_number, write_numbered_video


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    """Two 10-second synthetic H.264/AAC videos (GOP 32, B-frames) with manifest and segments."""
    out = tmp_path_factory.mktemp("synth-reencode")
    make_synthetic_benchmark(out, videos=2, classes=2, seed=5, min_seconds=10, max_seconds=10)
    return out


def test_reencoded_file_is_mpeg4_at_the_size_with_a_keyframe_every_gop(synth_dir, tmp_path):
    source = next((synth_dir / "videos").glob("*.mp4"))
    output = reencode_video(source, tmp_path / "out.mp4")
    before, after = probe(source), probe(output)
    assert after.codec == "mpeg4" and (after.width, after.height) == (340, 256)
    assert after.frames == before.frames and after.fps == pytest.approx(before.fps)
    assert np.array_equal(after.keyframes, np.arange(0, after.frames, 12))  # exactly every 12, no scene cuts
    assert after.audio is not None and after.audio.codec == before.audio.codec  # copied, not re-encoded
    # Motion vectors come out of the re-encoded file (MPEG-4 Part 2 exports them), and no B-frames.
    signals = extract_signals(output, clip_grid(after, frames_per_clip=16), signals=("motion",), info=after)
    assert signals.motion_source == "motion_vectors" and signals.motion.abs().sum() > 0


def test_frames_keep_their_order_and_timestamps(tmp_path):
    source = write_numbered_video(tmp_path / "numbered.mp4", frames=40, fps=25, gop=20)
    output = reencode_video(source, tmp_path / "numbered-mpeg4.mp4", ReencodeSettings(size=(128, 96), gop=5, audio=False))
    info = probe(output)
    assert info.frames == 40 and np.array_equal(info.keyframes, np.arange(0, 40, 5)) and info.audio is None
    clips = decode_clips(output, clip_grid(info, frames_per_clip=8), size=None, info=info)
    numbers = [read_frame_number(clips[c, :, t].permute(1, 2, 0).numpy()) for c in range(len(clips)) for t in range(8)]
    assert numbers == list(range(40))


def test_folder_copies_the_tables_resumes_and_reports_a_bad_video(synth_dir, tmp_path, capsys):
    work = tmp_path / "in"
    (work / "videos").mkdir(parents=True)
    for name in ("manifest.csv", "segments.csv", "classes.txt"):
        (work / name).write_bytes((synth_dir / name).read_bytes())
    for video in (synth_dir / "videos").glob("*.mp4"):
        (work / "videos" / video.name).write_bytes(video.read_bytes())
    (work / "videos" / "broken.avi").write_bytes(b"not a video at all")
    out = tmp_path / "out"

    assert main(["reencode", str(work), str(out), "--json", "--quiet"]) == 1  # one failed, the others finished
    summary = json.loads(capsys.readouterr().out)
    assert summary["reencoded"] == 2 and summary["skipped"] == 0
    (failure,) = summary["failed"]
    assert failure["path"].endswith("broken.avi") and "broken.avi" in failure["error"]
    assert not (out / "videos" / "broken.mp4").exists()
    assert not list(out.rglob(".*tmp*"))  # nothing half-written left behind
    with open(out / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all((out / row["path"]).is_file() and probe(out / row["path"]).codec == "mpeg4" for row in rows)
    with open(out / "segments.csv", newline="") as handle:
        assert {row["path"] for row in csv.DictReader(handle)} <= {row["path"] for row in rows}
    assert (out / "classes.txt").read_text() == (work / "classes.txt").read_text()

    stamp = {p: p.stat().st_mtime_ns for p in (out / "videos").glob("*.mp4")}
    assert main(["reencode", str(work), str(out), "--json", "--quiet"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["skipped"] == 2 and again["reencoded"] == 0  # resumed: the finished ones are not redone
    assert {p: p.stat().st_mtime_ns for p in (out / "videos").glob("*.mp4")} == stamp


def test_bad_arguments_are_clear(tmp_path):
    with pytest.raises(UsageError, match="even numbers"):
        ReencodeSettings(size=(341, 256))
    with pytest.raises(UsageError, match="quantiser"):
        ReencodeSettings(quality=0)
    with pytest.raises(UsageError, match="not a folder"):
        reencode_folder(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds no video files"):
        reencode_folder(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(VideoError, match="missing.mp4"):
        reencode_video(tmp_path / "missing.mp4", tmp_path / "x.mp4")


def test_time_bases_mpeg4_refuses_are_replaced_by_the_frame_period():
    from fractions import Fraction
    from types import SimpleNamespace

    from scsampler.video.reencode import _Clock

    clock = _Clock(Fraction(1, 90000), Fraction(25))
    assert clock.time_base == Fraction(1, 25)
    stamps = [clock.pts(SimpleNamespace(pts=p), i) for i, p in enumerate([0, 3600, 7200, 7300, None, 14400])]
    assert stamps == [0, 1, 2, 3, 4, 5]  # rescaled; a near-duplicate and a missing stamp still move forward
    kept = _Clock(Fraction(1, 16), Fraction(16))
    assert kept.time_base == Fraction(1, 16) and kept.pts(SimpleNamespace(pts=7), 0) == 7
