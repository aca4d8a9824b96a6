"""`scsampler manifest`: Kinetics-400, Sports-1M and miniSports manifests from annotation files written here.

The videos are empty placeholder files: the command only looks for names, never decodes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from scsampler.cli import main
from scsampler.data.datasets import youtube_id_from
from scsampler.data.manifest import read_classes, read_manifest
from scsampler.errors import UsageError
from tests.test_startup import heavy_modules_after

KINETICS_HEADER = "label,youtube_id,time_start,time_end,split\n"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _summary(capsys, argv: list[str]) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def kinetics(tmp_path) -> tuple[Path, Path]:
    """Official-style CSVs for 3 classes and videos laid out per split and label; one video gone, one repeated row."""
    notes = tmp_path / "annotations"
    notes.mkdir()
    (notes / "train.csv").write_text(
        KINETICS_HEADER
        + "abseiling,aaaaaaaaaa1,10,20,train\n"
        + '"air drumming",bbbbbbbbbb2,0,10,train\n'
        + "archery,cccccccccc3,5,15,train\n"
        + "archery,gone-gone-01,30,40,train\n"  # never downloaded
        + "archery,cccccccccc3,5,15,train\n"  # the same row twice
    )
    (notes / "validate.csv").write_text(
        KINETICS_HEADER + "abseiling,dddddddddd4,1,11,validate\n" + "archery,eeeeeeeeee5,100,110,validate\n"
    )
    (notes / "test.csv").write_text(KINETICS_HEADER + "abseiling,ffffffffff6,2,12,test\n")
    videos = tmp_path / "videos"
    _touch(videos / "train" / "abseiling" / "aaaaaaaaaa1_000010_000020.mp4")
    _touch(videos / "train" / "air_drumming" / "bbbbbbbbbb2_000000_000010.webm")
    _touch(videos / "train" / "archery" / "cccccccccc3_000005_000015.mkv")
    _touch(videos / "val" / "dddddddddd4_000001_000011.mp4")
    _touch(videos / "val" / "eeeeeeeeee5.avi")  # named by id alone
    _touch(videos / "test" / "ffffffffff6_000002_000012.mp4")
    _touch(videos / "train" / "archery" / "notes.txt")  # not a video
    _touch(videos / ".partial" / "gone-gone-01_000030_000040.mp4")  # hidden folder: skipped
    return notes, videos


def test_kinetics_paper_splits(kinetics, tmp_path, capsys):
    notes, videos = kinetics
    out = tmp_path / "out" / "kinetics.csv"
    summary = _summary(capsys, ["manifest", "kinetics400", str(notes), str(videos), "-o", str(out)])
    assert summary["videos_per_split"] == {"train": 3, "test": 2}
    assert summary["missing"] == 1 and summary["missing_per_split"] == {"train": 1}
    assert summary["classes"] == 3
    assert summary["skipped_rows"] == {"repeated row": 1, "official test split (not used with --splits paper)": 1}

    manifest = read_manifest(out)
    assert manifest.classes == ["abseiling", "air drumming", "archery"] == read_classes(out.parent / "classes.txt")
    by_path = {entry.path: (entry.label, entry.split) for entry in manifest.entries}
    assert by_path == {
        (videos / "train" / "abseiling" / "aaaaaaaaaa1_000010_000020.mp4").resolve(): ("abseiling", "train"),
        (videos / "train" / "air_drumming" / "bbbbbbbbbb2_000000_000010.webm").resolve(): ("air drumming", "train"),
        (videos / "train" / "archery" / "cccccccccc3_000005_000015.mkv").resolve(): ("archery", "train"),
        (videos / "val" / "dddddddddd4_000001_000011.mp4").resolve(): ("abseiling", "test"),
        (videos / "val" / "eeeeeeeeee5.avi").resolve(): ("archery", "test"),
    }
    assert all(not Path(row["path"]).is_absolute() for row in _rows(out)), "paths are relative to the manifest"
    (missing,) = _rows(out.parent / "kinetics.missing.csv")
    assert missing["youtube_id"] == "gone-gone-01" and missing["split"] == "train"
    assert missing["expected"].startswith("gone-gone-01_000030_000040") and missing["annotation"].endswith("train.csv:5")
    assert not list(out.parent.glob(".*")), "no temporary files are left"


def test_kinetics_official_splits_and_one_file(kinetics, tmp_path, capsys):
    notes, videos = kinetics
    out = tmp_path / "official.csv"
    argv = ["manifest", "kinetics400", str(notes), str(videos), "-o", str(out), "--splits", "official"]
    summary = _summary(capsys, argv)
    assert summary["videos_per_split"] == {"train": 3, "val": 2, "test": 1}
    assert [entry.split for entry in read_manifest(out, split="test")] == ["test"]

    # One CSV file instead of the folder.
    single = tmp_path / "single.csv"
    summary = _summary(capsys, ["manifest", "kinetics400", str(notes / "validate.csv"), str(videos), "-o", str(single)])
    assert summary["videos_per_split"] == {"test": 2} and summary["missing"] == 0 and summary["classes"] == 2


def test_kinetics_prints_the_missing_count(kinetics, tmp_path, capsys):
    notes, videos = kinetics
    out = tmp_path / "k.csv"
    assert main(["manifest", "kinetics400", str(notes), str(videos), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "5 videos (train 3, test 2), 3 classes" in printed
    assert f"missing: 1 of 6 videos (16.7%), listed in {out.parent / 'k.missing.csv'}" in printed


def test_sports1m_partitions_and_multi_label(tmp_path, capsys):
    notes = tmp_path / "sports1m"
    notes.mkdir()
    (notes / "labels.txt").write_text("archery\nbasketball\ncurling\ndarts\n")
    (notes / "train_partition.txt").write_text(
        "https://www.youtube.com/watch?v=AAAAAAAAAA1 1\n"
        "https://www.youtube.com/watch?v=BBBBBBBBBB2 3,0\n"  # two labels: the first is the label
        "\n"
        "https://www.youtube.com/watch?v=GONEGONE003 2\n"  # missing
        "https://www.youtube.com/watch?v=AAAAAAAAAA1 1\n"  # listed twice
    )
    (notes / "test_partition.txt").write_text("https://www.youtube.com/watch?v=-CCCCCCCCC4&t=5s 2\n")
    videos = tmp_path / "videos"
    _touch(videos / "AAAAAAAAAA1.mp4")
    _touch(videos / "sub" / "BBBBBBBBBB2.mkv")
    _touch(videos / "-CCCCCCCCC4.webm")
    out = tmp_path / "s1m" / "manifest.csv"
    summary = _summary(capsys, ["manifest", "sports1m", str(notes), str(videos), "-o", str(out)])
    assert summary["videos_per_split"] == {"train": 2, "test": 1} and summary["missing"] == 1
    assert summary["skipped_rows"] == {"repeated video": 1}
    assert summary["classes"] == 4
    assert read_classes(out.parent / "classes.txt") == ["archery", "basketball", "curling", "darts"]  # labels.txt order
    rows = {Path(row["path"]).name: row for row in _rows(out)}
    assert rows["BBBBBBBBBB2.mkv"]["label"] == "darts" and rows["BBBBBBBBBB2.mkv"]["labels"] == "darts|archery"
    assert rows["-CCCCCCCCC4.webm"]["split"] == "test" and rows["AAAAAAAAAA1.mp4"]["label"] == "basketball"
    manifest = read_manifest(out)
    assert {entry.label: entry.label_index for entry in manifest} == {"basketball": 1, "darts": 3, "curling": 2}
    assert [row["youtube_id"] for row in _rows(out.parent / "manifest.missing.csv")] == ["GONEGONE003"]


def test_minisports_names_and_indices(tmp_path, capsys):
    notes = tmp_path / "minisports"
    notes.mkdir()
    (notes / "train.txt").write_text("AAAAAAAAAA1 tai chi\nBBBBBBBBBB2 archery\n")
    (notes / "test.txt").write_text("CCCCCCCCCC3 archery\nDDDDDDDDDD4 tai chi\n")
    videos = tmp_path / "videos"
    for name in ("AAAAAAAAAA1.mp4", "BBBBBBBBBB2.mp4", "CCCCCCCCCC3.mp4"):
        _touch(videos / name)
    out = tmp_path / "mini.csv"
    summary = _summary(capsys, ["manifest", "minisports", str(notes), str(videos), "-o", str(out)])
    assert summary["videos_per_split"] == {"train": 2, "test": 1} and summary["missing_per_split"] == {"test": 1}
    assert read_manifest(out).classes == ["archery", "tai chi"]

    # With Sports-1M's labels.txt beside the lists, a label may be an index into it.
    (notes / "labels.txt").write_text("archery\nbasketball\ntai chi\n")
    (notes / "train.txt").write_text("AAAAAAAAAA1 2\nhttps://www.youtube.com/watch?v=BBBBBBBBBB2 archery\n")
    summary = _summary(capsys, ["manifest", "minisports", str(notes), str(videos), "-o", str(out)])
    assert summary["classes"] == 3
    labels = {Path(row["path"]).stem: row["label"] for row in _rows(out)}
    assert labels == {"AAAAAAAAAA1": "tai chi", "BBBBBBBBBB2": "archery", "CCCCCCCCCC3": "archery"}


@pytest.mark.parametrize(
    "dataset, name, text, message",
    [
        ("kinetics400", "train.csv", "label,youtube_id,time_end,split\nx,AAAAAAAAAA1,10,train\n", "line 1: the header must name the columns youtube_id,time_start,time_end"),
        ("kinetics400", "train.csv", KINETICS_HEADER + "x,AAAAAAAAAA1,ten,20,train\n", "line 2: time_start and time_end must be numbers"),
        ("kinetics400", "train.csv", KINETICS_HEADER + "x,AAAAAAAAAA1,10,20,holdout\n", "line 2: unknown split 'holdout'"),
        ("kinetics400", "train.csv", KINETICS_HEADER + "x,AAAAAAAAAA1,10\n", "line 2: expected 5 columns"),
        ("kinetics400", "train.csv", b"label,youtube_id\n\xff\xfe\n", "train.csv: cannot be read as a CSV file"),
        ("sports1m", "train_partition.txt", "https://www.youtube.com/watch?v=AAAAAAAAAA1 7\n", "line 1: label index 7 is outside 0..1"),
        ("sports1m", "train_partition.txt", "https://example.com/video 0\n", "line 1: 'https://example.com/video' is neither a YouTube id"),
        ("sports1m", "train_partition.txt", "https://www.youtube.com/watch?v=AAAAAAAAAA1\n", "line 1: expected 'URL LABEL,LABEL,...'"),
        ("minisports", "train.txt", "AAAAAAAAAA1\n", "line 1: expected 'YOUTUBE_ID LABEL'"),
    ],
)
def test_malformed_annotation_files_fail_naming_file_and_line(tmp_path, capsys, dataset, name, text, message):
    notes = tmp_path / "notes"
    notes.mkdir()
    if dataset == "sports1m":
        (notes / "labels.txt").write_text("archery\nbasketball\n")
    file = notes / name
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    videos = tmp_path / "videos"
    _touch(videos / "AAAAAAAAAA1.mp4")
    out = tmp_path / "out.csv"
    assert main(["manifest", dataset, str(notes), str(videos), "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"{file}: " in error and message in error
    assert not out.exists() and not (tmp_path / "classes.txt").exists()


def test_missing_inputs_and_no_video_found(kinetics, tmp_path, capsys):
    notes, videos = kinetics
    out = tmp_path / "out.csv"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["manifest", "kinetics400", str(notes), str(empty), "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"{empty}: none of the 6 videos" in error and "aaaaaaaaaa1_000010_000020.mp4" in error
    assert not out.exists() and not (tmp_path / "out.missing.csv").exists()

    assert main(["manifest", "kinetics400", str(notes), str(tmp_path / "nope"), "-o", str(out)]) == 2
    assert "nope: no such folder (expected the folder of downloaded videos)" in capsys.readouterr().err
    assert main(["manifest", "sports1m", str(empty), str(videos), "-o", str(out)]) == 2
    assert "labels.txt: no such file" in capsys.readouterr().err
    assert main(["manifest", "minisports", str(empty), str(videos), "-o", str(out)]) == 2
    assert "holds none of train.txt, val.txt, test.txt" in capsys.readouterr().err
    assert main(["manifest", "sports1m", str(notes), str(videos), "-o", str(out), "--splits", "official"]) == 2
    assert "--splits applies to kinetics400 only" in capsys.readouterr().err


def test_youtube_ids_from_urls():
    assert youtube_id_from("https://www.youtube.com/watch?v=dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert youtube_id_from("www.youtube.com/watch?feature=x&v=-abc_DEF123") == "-abc_DEF123"
    assert youtube_id_from("https://youtu.be/dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert youtube_id_from("dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    with pytest.raises(UsageError, match="neither a YouTube id nor a watch URL"):
        youtube_id_from("https://www.youtube.com/watch?list=PL1")


def test_manifest_command_imports_no_torch(kinetics, tmp_path):
    notes, videos = kinetics
    argv = ["manifest", "kinetics400", str(notes), str(videos), "-o", str(tmp_path / "k.csv"), "--json"]
    run = f"from scsampler.cli import main\nmain({argv!r})"
    assert heavy_modules_after(run) == []
    assert (tmp_path / "k.csv").is_file()
