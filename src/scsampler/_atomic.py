"""Writing files atomically: nothing is ever left half-written.

Every output of scsampler (tables, checkpoints, caches, videos, reports) is
written to a temporary file in the destination's folder, then moved over the
destination in one ``os.replace``. A crash or a kill leaves either the old file
or the new one, and an interrupted long job can resume from what is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_output", "write_bytes_atomically", "write_text_atomically"]


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it becomes ``path`` when the block succeeds.

    The temporary name keeps ``path``'s suffix last (``.x.1a2b.tmp.npz``), so writers that
    choose a format by extension, or append one (``np.savez``, PyAV), see the right one. On an
    error the temporary file is removed and ``path`` is untouched. ``mode`` is applied before
    the move (``mkstemp`` would otherwise leave the file private to its owner).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".tmp{target.suffix}")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding="utf-8", newline="")
    return Path(path)
