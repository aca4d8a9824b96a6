"""Finished videos' results on disk, so that a killed run resumes: Parquet parts, then one file.

    >>> store = ResultStore("runs/results.parquet", identity=options_identity(options))
    >>> for result in classify_videos(paths, options, store=store): ...
    >>> store.finish(paths)            # runs/results.parquet, in the order of paths

Results are kept in small Parquet parts (``.<name>.parts-<identity>/part-NNNNNN.parquet``,
each written atomically, every ``flush_every`` videos and at the end), so a driver killed
mid-run loses at most the videos of one unwritten part. A rerun with the same settings reads the
parts and skips the videos they hold; other settings (another model, weights file, sampler or
K) get other parts. Failed videos are stored in the final file but not in the parts: a rerun
tries them again. :meth:`ResultStore.finish` writes the final file atomically, in input order,
and removes the parts.

Columns: ``path``, ``label`` (the top-1 class, empty on error), ``prob``, ``k_used``,
``error`` (empty when it worked) and ``result`` (the JSON line ``classify --json`` prints).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scsampler._atomic import atomic_output

__all__ = ["ResultStore", "options_identity", "RESULT_COLUMNS"]

RESULT_COLUMNS = ("path", "label", "prob", "k_used", "error", "result")


def _file_stamp(value: object) -> list:
    """Size and modification time of every file under a path named by ``value`` ([] when it names none)."""
    if not isinstance(value, str) or not value or not os.path.exists(value):
        return []
    root = Path(value)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def options_identity(options) -> str:
    """A key that changes with any setting of ``options`` (a dataclass) or any file it names (retrained weights)."""
    settings = asdict(options)
    stamps = {name: _file_stamp(value) for name, value in settings.items()}
    text = json.dumps([settings, stamps], sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _row(result: dict) -> dict:
    top = result["top5"][0] if result.get("top5") else {"label": "", "prob": float("nan")}
    return {
        "path": result["path"],
        "label": top["label"],
        "prob": float(top["prob"]),
        "k_used": int(result.get("k_used", len(result.get("clips", [])))),
        "error": result["error"] or "",
        "result": json.dumps(result, allow_nan=False),
    }


def _table(results: Sequence[dict]) -> pa.Table:
    rows = [_row(r) for r in results]
    schema = pa.schema([("path", pa.string()), ("label", pa.string()), ("prob", pa.float64()), ("k_used", pa.int64()),
                        ("error", pa.string()), ("result", pa.string())])  # fmt: skip
    return pa.Table.from_pylist(rows, schema=schema)


class ResultStore:
    """Results of finished videos, by path: read from earlier parts, added as videos finish."""

    def __init__(self, output: str | os.PathLike, *, identity: str, flush_every: int = 16) -> None:
        self.output = Path(output)
        self.parts = self.output.parent / f".{self.output.name}.parts-{identity}"
        self.flush_every = max(1, int(flush_every))
        self.done: dict[str, dict] = {}
        self._errors: dict[str, dict] = {}
        self._buffer: list[dict] = []
        if self.parts.is_dir():
            for part in sorted(self.parts.glob("part-*.parquet")):
                for text in pq.read_table(part, columns=["result"]).column("result").to_pylist():
                    result = json.loads(text)
                    self.done[result["path"]] = result
        self.resumed = len(self.done)

    def add(self, result: dict) -> None:
        """Keep one video's result (a failure is kept for the final file only)."""
        if result["error"]:
            self._errors[result["path"]] = result
            return
        self.done[result["path"]] = result
        self._buffer.append(result)
        if len(self._buffer) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write the results not yet on disk as one new part (atomically)."""
        if not self._buffer:
            return
        self.parts.mkdir(parents=True, exist_ok=True)
        number = len(list(self.parts.glob("part-*.parquet")))
        with atomic_output(self.parts / f"part-{number:06d}.parquet") as temporary:
            pq.write_table(_table(self._buffer), temporary)
        self._buffer = []

    def finish(self, paths: Sequence[str | os.PathLike]) -> Path:
        """Write the output file (one row per path, in this order; atomically) and remove the parts.

        A path with no result (it failed in this run before the store saw it) is left out; the parts
        stay then, so that a rerun can still resume.
        """
        self.flush()
        results = [self.done.get(p) or self._errors.get(p) for p in (os.fspath(p) for p in paths)]
        complete = all(r is not None for r in results)
        self.output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.output) as temporary:
            pq.write_table(_table([r for r in results if r is not None]), temporary)
        if complete:
            shutil.rmtree(self.parts, ignore_errors=True)
        return self.output
