"""Reading manifests (path,label[,split]), classes.txt and segments.csv, and their error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from scsampler.data import Segment, read_manifest, read_segments
from scsampler.errors import UsageError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_paths_resolve_beside_the_manifest_and_classes_are_sorted_labels(tmp_path):
    manifest_file = _write(
        tmp_path / "data" / "manifest.csv",
        "path,label,split\nvideos/a.mp4,walk,train\n../b.mp4,jump,val\nc.mp4,walk,\n\nd.mp4,run,test\n",
    )
    manifest = read_manifest(manifest_file)
    assert manifest.root == (tmp_path / "data").resolve()
    assert manifest.classes == ["jump", "run", "walk"]
    assert [e.path for e in manifest] == [
        (tmp_path / "data" / "videos" / "a.mp4").resolve(),
        (tmp_path / "b.mp4").resolve(),
        (tmp_path / "data" / "c.mp4").resolve(),
        (tmp_path / "data" / "d.mp4").resolve(),
    ]
    assert [(e.label, e.label_index, e.split) for e in manifest] == [
        ("walk", 2, "train"), ("jump", 0, "val"), ("walk", 2, None), ("run", 1, "test"),
    ]
    train = manifest.split("train")
    assert [e.path.name for e in train] == ["a.mp4"] and train.classes == manifest.classes
    assert [e.path.name for e in read_manifest(manifest_file, split="test")] == ["d.mp4"]


def test_without_split_column_and_with_extra_columns(tmp_path):
    manifest = read_manifest(_write(tmp_path / "m.csv", "label,duration,path\nb,3,x.mp4\na,4,y.mp4\n"))
    assert [(e.path.name, e.label, e.label_index, e.split) for e in manifest] == [("x.mp4", "b", 1, None), ("y.mp4", "a", 0, None)]
    assert manifest.split("train").entries == []


def test_classes_txt_fixes_the_class_list_and_order(tmp_path):
    _write(tmp_path / "classes.txt", "zebra\n\napple\nmango\n")
    manifest = read_manifest(_write(tmp_path / "manifest.csv", "path,label\na.mp4,apple\nb.mp4,zebra\n"))
    assert manifest.classes == ["zebra", "apple", "mango"]
    assert [e.label_index for e in manifest] == [1, 0]


def test_a_label_missing_from_classes_txt_names_file_and_line(tmp_path):
    _write(tmp_path / "classes.txt", "apple\nmango\n")
    manifest_file = _write(tmp_path / "manifest.csv", "path,label\na.mp4,apple\nb.mp4,kiwi\n")
    with pytest.raises(UsageError) as error:
        read_manifest(manifest_file)
    assert str(error.value) == (
        f"{manifest_file}: line 3: label 'kiwi' is not in {tmp_path.resolve() / 'classes.txt'} (2 classes); "
        "add it there or fix the label."
    )


def test_a_missing_column_names_file_and_header(tmp_path):
    manifest_file = _write(tmp_path / "manifest.csv", "file,label\na.mp4,apple\n")
    with pytest.raises(UsageError) as error:
        read_manifest(manifest_file)
    assert str(error.value) == (
        f"{manifest_file}: line 1: the header must name the columns path,label (and optionally split); "
        "missing path in file,label."
    )
    empty = _write(tmp_path / "empty.csv", "")
    with pytest.raises(UsageError, match="missing path,label in an empty first line"):
        read_manifest(empty)


def test_unknown_split_names_are_refused(tmp_path):
    manifest_file = _write(tmp_path / "manifest.csv", "path,label,split\na.mp4,apple,train\nb.mp4,apple,dev\n")
    with pytest.raises(UsageError) as error:
        read_manifest(manifest_file)
    assert str(error.value) == f"{manifest_file}: line 3: unknown split 'dev'; use one of train, val, test."
    good = _write(tmp_path / "good.csv", "path,label,split\na.mp4,apple,train\n")
    with pytest.raises(UsageError) as error:
        read_manifest(good, split="training")
    assert str(error.value) == "split must be one of train, val, test, got 'training'."
    with pytest.raises(UsageError):
        read_manifest(good).split("validation")


def test_short_rows_empty_cells_and_missing_files(tmp_path):
    short = _write(tmp_path / "short.csv", "path,label,split\na.mp4,apple\n")
    with pytest.raises(UsageError) as error:
        read_manifest(short)
    assert str(error.value) == f"{short}: line 2: expected 3 columns (path,label,split), found 2."
    empty_label = _write(tmp_path / "empty_label.csv", "path,label\na.mp4, \n")
    with pytest.raises(UsageError) as error:
        read_manifest(empty_label)
    assert str(error.value) == f"{empty_label}: line 2: the path and the label must not be empty."
    with pytest.raises(UsageError) as error:
        read_manifest(tmp_path / "nope.csv")
    assert str(error.value) == f"{tmp_path / 'nope.csv'}: no such file (expected a manifest)."


def test_duplicate_classes_in_classes_txt(tmp_path):
    _write(tmp_path / "classes.txt", "apple\nmango\napple\n")
    manifest_file = _write(tmp_path / "manifest.csv", "path,label\na.mp4,apple\n")
    with pytest.raises(UsageError) as error:
        read_manifest(manifest_file)
    assert str(error.value) == f"{tmp_path / 'classes.txt'}: line 3: class 'apple' repeats line 1; list each class once."


def test_read_segments_groups_by_video_and_sorts(tmp_path):
    segments_file = _write(
        tmp_path / "segments.csv",
        "path,start_s,end_s,kind\n"
        "videos/a.mp4,10,12.5,action\n"
        "videos/a.mp4,1,3,distractor_sound\n"
        "videos/b.mp4,0.25,2.25,action_silent\n"
        "videos/a.mp4,0,4,camera_pan\n",
    )
    segments = read_segments(segments_file)
    a, b = (tmp_path / "videos" / "a.mp4").resolve(), (tmp_path / "videos" / "b.mp4").resolve()
    assert set(segments) == {a, b}
    assert segments[a] == [Segment(0.0, 4.0, "camera_pan"), Segment(1.0, 3.0, "distractor_sound"), Segment(10.0, 12.5, "action")]
    assert [s.is_action for s in segments[a]] == [False, False, True]
    assert segments[b][0].is_action and segments[b][0].duration_s == 2.0


def test_read_segments_errors(tmp_path):
    bad_time = _write(tmp_path / "s1.csv", "path,start_s,end_s,kind\na.mp4,1,soon,action\n")
    with pytest.raises(UsageError) as error:
        read_segments(bad_time)
    assert str(error.value) == f"{bad_time}: line 2: start_s and end_s must be numbers, got '1', 'soon'."
    backwards = _write(tmp_path / "s2.csv", "path,start_s,end_s,kind\na.mp4,0,1,action\na.mp4,3,2,action\n")
    with pytest.raises(UsageError) as error:
        read_segments(backwards)
    assert str(error.value) == f"{backwards}: line 3: need 0 <= start_s < end_s, got 3.0 and 2.0."
    no_kind = _write(tmp_path / "s3.csv", "path,start_s,end_s\na.mp4,0,1\n")
    with pytest.raises(UsageError) as error:
        read_segments(no_kind)
    assert str(error.value) == (
        f"{no_kind}: line 1: the header must name the columns path,start_s,end_s,kind; missing kind in path,start_s,end_s."
    )
