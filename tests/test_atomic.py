"""Atomic outputs: the destination is replaced whole or not at all."""

from __future__ import annotations

import numpy as np
import pytest

from scsampler._atomic import atomic_output, write_text_atomically


def test_success_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "table.npz"
    with atomic_output(target) as temporary:
        assert temporary.name.endswith(".tmp.npz") and temporary.parent == target.parent
        np.savez(temporary, values=np.arange(3))  # would append .npz to a name without it
    assert np.load(target)["values"].tolist() == [0, 1, 2]
    assert [p.name for p in target.parent.iterdir()] == ["table.npz"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_failure_keeps_the_old_file(tmp_path):
    target = write_text_atomically(tmp_path / "report.html", "old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
