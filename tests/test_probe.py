"""probe on real footage and on bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from scsampler.cli import main
from scsampler.errors import VideoError
from scsampler.video import clip_grid, decode_clips, probe
from tests.media import write_audio_only

EXPECTED = {
    # name: (codec, width, height, frames, fps, motion vectors, audio)
    "vtest.avi": ("msmpeg4", 768, 576, 795, 10.0, True, False),
    "Megamind.avi": ("mpeg4", 720, 528, 270, 23.976, True, True),
    "Megamind_bugy.avi": ("mpeg4", 720, 528, 270, 30.0, True, False),
    "tree.avi": ("cinepak", 320, 240, 68, 68 / 29.600148, False, False),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_probe_real_footage(shared_videos, name):
    codec, width, height, frames, fps, mvs, audio = EXPECTED[name]
    info = probe(shared_videos / name)
    assert (info.codec, info.width, info.height, info.frames) == (codec, width, height, frames)
    assert info.fps == pytest.approx(fps, rel=1e-3)
    assert info.motion_vectors is mvs
    assert info.has_audio is audio
    assert info.keyframes[0] == 0 and len(info.keyframes) >= 1
    assert info.duration_s == pytest.approx(frames / fps, rel=1e-3)


def test_tree_header_lies_about_frame_count(shared_videos):
    info = probe(shared_videos / "tree.avi")
    assert info.header_frames == 444
    assert any("the header claims 444 frames; 68 were found" in w for w in info.warnings)


def test_megamind_audio_stream(shared_videos):
    audio = probe(shared_videos / "Megamind.avi").audio
    assert (audio.codec, audio.sample_rate, audio.channels) == ("ac3", 48000, 2)


def test_info_json_reports_vtest(shared_videos, capsys):
    assert main(["info", str(shared_videos / "vtest.avi"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 795 and report["fps"] == 10.0
    assert report["clips"] == 49 and report["keyframes"] == 4
    assert report["has_audio"] is False and report["motion_vectors"] is True
    for key in ("path", "codec", "width", "height", "duration_s"):
        assert key in report


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match=r"missing\.mp4: no such file\."):
        probe(tmp_path / "missing.mp4")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty\.mp4: the file is empty \(0 bytes\)\."):
        probe(tmp_path / "empty.mp4")


def test_text_named_mp4(tmp_path):
    (tmp_path / "notes.mp4").write_text("these are not frames\n" * 20)
    with pytest.raises(VideoError, match=r"notes\.mp4: not a video file FFmpeg can read"):
        probe(tmp_path / "notes.mp4")


def test_folder(tmp_path):
    with pytest.raises(VideoError, match="is a folder, not a video file"):
        probe(tmp_path)


def test_audio_only_file(tmp_path):
    path = write_audio_only(tmp_path / "sound.m4a")
    with pytest.raises(VideoError, match=r"sound\.m4a: has no video stream \(streams found: audio\)\."):
        probe(path)


def test_truncated_mp4_is_named(numbered_video, tmp_path):
    data = numbered_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    # An MP4 cut in half keeps its index (moov at the end is lost, so FFmpeg refuses it),
    # or, with moov first, reads until the data ends. Either way the error names the file.
    try:
        info = probe(cut)
    except VideoError as error:
        assert str(error).startswith(str(cut))
    else:
        grid = clip_grid(info)
        with pytest.warns(UserWarning, match="cut.mp4"):
            decode_clips(cut, grid.subset([len(grid) - 1]), info=info)


def test_truncated_mp4_with_index_first(numbered_video, tmp_path):
    import av

    faststart = tmp_path / "faststart.mp4"
    with av.open(str(numbered_video)) as source, av.open(str(faststart), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
    data = faststart.read_bytes()
    cut = tmp_path / "cut_faststart.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    info = probe(cut)
    assert info.frames < 100
    assert any("ends early" in w for w in info.warnings) or info.frames < 100


def test_damaged_megamind_decodes_with_its_name_in_any_warning(shared_videos, recwarn):
    path = shared_videos / "Megamind_bugy.avi"
    info = probe(path)
    clips = decode_clips(path, clip_grid(info).subset([0, 8]), size=(32, 32), info=info)
    assert clips.shape == (2, 3, 16, 32, 32)
    for warning in recwarn:
        assert str(path) in str(warning.message)


def test_info_batch_reports_bad_file_and_finishes(shared_videos, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    good = tmp_path / "tree.avi"
    shutil.copy(shared_videos / "tree.avi", good)
    status = main(["info", str(bad), str(good), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1
    assert lines[0]["path"] == str(bad) and "not a video file" in lines[0]["error"]
    assert lines[1]["frames"] == 68 and lines[1]["error"] is None
