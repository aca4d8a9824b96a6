"""The evaluation cache: one dense pass per test video, kept on disk.

For each video the cache holds every clip's logits and seconds, the measured
costs of decoding and classifying, and, in separate files, every sampler's
scores with the seconds it took. Files are written atomically, so an
interrupted evaluation resumes where it stopped, and adding a sampler later
reuses the dense pass.
"""

from __future__ import annotations
from scsampler._atomic import atomic_output

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scsampler.video._container import check_readable

__all__ = ["DenseRecord", "SamplerRecord", "VideoRecord", "video_key", "EvaluationCache"]


@dataclass
class DenseRecord:
    """The clip classifier run on every clip of one video, with measured costs."""

    path: str
    label: str
    label_index: int
    start_s: np.ndarray
    end_s: np.ndarray
    logits: np.ndarray  # [L, C]
    decode_dense_s: float  # decoding every clip, sequentially
    classifier_dense_s: float  # the classifier on every clip
    decode_random_per_clip_s: float  # decoding one clip with a seek (what K selected clips cost each)
    has_audio: bool
    probe_s: float = 0.0  # reading the packets to find frames and keyframes, which every strategy needs

    @property
    def num_clips(self) -> int:
        return len(self.start_s)

    @property
    def classifier_per_clip_s(self) -> float:
        return self.classifier_dense_s / max(self.num_clips, 1)


@dataclass
class SamplerRecord:
    """One sampler's scores for every clip of one video (``scores is None``: the signal is absent)."""

    name: str
    scores: np.ndarray | None
    seconds: float


@dataclass
class VideoRecord:
    dense: DenseRecord
    samplers: dict[str, SamplerRecord] = field(default_factory=dict)
    segments: list[tuple[float, float]] = field(default_factory=list)


def video_key(path: str | os.PathLike, classifier_id: str) -> str:
    """A cache key from the file's identity (path, size, mtime) and the classifier's.

    Raises :class:`~scsampler.errors.VideoError` (as every command does) when the file is
    missing, a folder or empty, so that the evaluation records it as that video's error.
    """
    stat = check_readable(path).stat()
    identity = f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{classifier_id}"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem)[:40]
    return f"{stem}-{hashlib.sha1(identity.encode()).hexdigest()[:12]}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]


def _atomic_savez(path: Path, **arrays) -> None:
    # A kill -9 in the middle of an earlier write of this file left its temporary file (named as
    # atomic_output names them); the entry is being written again now, so that one is stale.
    for stale in path.parent.glob(f".{path.name}.*.tmp{path.suffix}"):
        stale.unlink(missing_ok=True)
    with atomic_output(path) as temporary:
        np.savez(temporary, **arrays)


class EvaluationCache:
    """``RUN_DIR/cache/<video key>/dense.npz`` and ``sampler-<name>.npz``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dense_path(self, key: str) -> Path:
        return self.root / key / "dense.npz"

    def _sampler_path(self, key: str, name: str) -> Path:
        return self.root / key / f"sampler-{_safe(name)}.npz"

    def has_dense(self, key: str) -> bool:
        """Whether the dense record of ``key`` is on disk (without reading it)."""
        return self._dense_path(key).is_file()

    def load_dense(self, key: str) -> DenseRecord | None:
        path = self._dense_path(key)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return DenseRecord(
                path=meta["path"],
                label=meta["label"],
                label_index=int(meta["label_index"]),
                start_s=data["start_s"],
                end_s=data["end_s"],
                logits=data["logits"],
                decode_dense_s=float(meta["decode_dense_s"]),
                classifier_dense_s=float(meta["classifier_dense_s"]),
                decode_random_per_clip_s=float(meta["decode_random_per_clip_s"]),
                has_audio=bool(meta["has_audio"]),
                probe_s=float(meta.get("probe_s", 0.0)),
            )

    def save_dense(self, key: str, record: DenseRecord) -> None:
        meta = {
            "path": record.path,
            "label": record.label,
            "label_index": record.label_index,
            "decode_dense_s": record.decode_dense_s,
            "classifier_dense_s": record.classifier_dense_s,
            "decode_random_per_clip_s": record.decode_random_per_clip_s,
            "has_audio": record.has_audio,
            "probe_s": record.probe_s,
        }
        _atomic_savez(
            self._dense_path(key),
            meta=np.array(json.dumps(meta)),
            start_s=record.start_s,
            end_s=record.end_s,
            logits=record.logits.astype(np.float32),
        )

    def load_sampler(self, key: str, name: str) -> SamplerRecord | None:
        path = self._sampler_path(key, name)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            absent = bool(data["absent"])
            return SamplerRecord(name=name, scores=None if absent else data["scores"], seconds=float(data["seconds"]))

    def save_sampler(self, key: str, record: SamplerRecord) -> None:
        _atomic_savez(
            self._sampler_path(key, record.name),
            scores=np.zeros(0) if record.scores is None else record.scores.astype(np.float64),
            absent=np.array(record.scores is None),
            seconds=np.array(record.seconds),
        )
