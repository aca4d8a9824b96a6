"""``scsampler.training.labelling``: what ``scsampler label`` decides, as library functions (no video decoded)."""

from __future__ import annotations

import os
import warnings

import pytest

from scsampler.errors import UsageError
from scsampler.training.labelling import load_label_classifier, read_label_manifest
from tests.checkpoints import tiny_checkpoint


def _manifest(tmp_path, text: str):
    path = tmp_path / "manifest.csv"
    path.write_text(text)
    return path


def test_read_label_manifest_keeps_the_splits_asked_for(tmp_path):
    path = _manifest(tmp_path, "path,label,split\na.mp4,cat,train\nb.mp4,dog,val\nc.mp4,cat,test\n")
    kept = read_label_manifest(path, splits=["train", "val"])
    assert [entry.path.name for entry in kept.entries] == ["a.mp4", "b.mp4"] and kept.classes == ["cat", "dog"]
    assert len(read_label_manifest(path).entries) == 3
    with pytest.raises(UsageError, match="no videos in the splits val"):
        read_label_manifest(_manifest(tmp_path, "path,label,split\na.mp4,cat,train\n"), splits=["val"])


def test_a_random_initialisation_takes_the_manifests_classes(tmp_path):
    labelled = read_label_manifest(_manifest(tmp_path, "path,label\na.mp4,cat\nb.mp4,dog\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights, on purpose
        classifier, source = load_label_classifier("r3d_tiny", manifest=labelled)
    assert classifier.classes == ["cat", "dog"] and source == "r3d_tiny"
    unlabelled = read_label_manifest(_manifest(tmp_path, "path\na.mp4\n"))
    with pytest.raises(UsageError, match="without --weights is a random initialisation"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_label_classifier("r3d_tiny", manifest=unlabelled, source="footage/")


def test_a_checkpoint_keeps_its_classes_and_is_recorded_by_absolute_path(tmp_path, monkeypatch):
    tiny_checkpoint(tmp_path / "tiny.pt", ["x", "y", "z"])
    monkeypatch.chdir(tmp_path)
    manifest = read_label_manifest(_manifest(tmp_path, "path\na.mp4\n"))  # unlabelled: the checkpoint's classes
    classifier, source = load_label_classifier("tiny.pt", manifest=manifest)
    assert classifier.classes == ["x", "y", "z"] and source == os.path.abspath("tiny.pt")
