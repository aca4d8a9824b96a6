"""Small validated dataclasses that flow through the pipeline.

Every object that describes clips keeps their timestamps in seconds next to the
arrays of frame indices, so a selection can always be reported in seconds.

    VideoInfo ──clip_grid──> ClipGrid ──sampler──> ClipScores ──select──> ClipSelection
                                                                  ──classify──> VideoPrediction
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np

__all__ = [
    "AudioInfo",
    "VideoInfo",
    "Clip",
    "ClipGrid",
    "ClipScores",
    "ClipSelection",
    "LabelProbability",
    "VideoPrediction",
]


def _as_1d(name: str, values: Sequence | np.ndarray, dtype: type) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}.")
    array.setflags(write=False)
    return array


def _take_arrays(record, positions, fields: tuple[str, ...]):
    """A copy of the frozen dataclass ``record`` with its per-clip arrays ``fields`` indexed by ``positions``."""
    positions = positions if isinstance(positions, slice) else np.asarray(positions)
    return dataclasses.replace(record, **{name: getattr(record, name)[positions] for name in fields})


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream of a file."""

    codec: str
    sample_rate: int
    channels: int
    duration_s: float | None = None


@dataclass(frozen=True, eq=False)
class VideoInfo:
    """What ``scsampler.video.probe`` learns about a file from its packets.

    ``frames``, ``duration_s`` and ``fps`` are measured from the demuxed packets
    (one presentation timestamp per frame), not copied from the header; what the
    header claims is kept in ``header_frames`` and ``header_duration_s``.
    ``frame_times_s[i]`` is the presentation time of frame ``i`` in display order,
    measured from the first frame, and ``keyframes`` holds the indices of the
    frames whose packets carry the keyframe flag. ``frame_pts`` (stream
    timestamps in ``time_base`` units) lets the decoder seek.
    """

    path: str
    container: str
    codec: str
    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    frame_times_s: np.ndarray
    keyframes: np.ndarray
    motion_vectors: bool
    audio: AudioInfo | None
    frame_pts: np.ndarray | None = None
    time_base: Fraction | None = None
    header_frames: int | None = None
    header_duration_s: float | None = None
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame_times_s", _as_1d("frame_times_s", self.frame_times_s, np.float64))
        object.__setattr__(self, "keyframes", _as_1d("keyframes", self.keyframes, np.int64))
        if self.frame_pts is not None:
            object.__setattr__(self, "frame_pts", _as_1d("frame_pts", self.frame_pts, np.int64))
        if self.frames != len(self.frame_times_s):
            raise ValueError(
                f"frames ({self.frames}) must equal len(frame_times_s) ({len(self.frame_times_s)})."
            )
        if self.frames < 1:
            raise ValueError(f"{self.path}: a video needs at least one frame, got {self.frames}.")
        if np.any(np.diff(self.frame_times_s) < 0):
            raise ValueError("frame_times_s must be sorted in display order.")

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    def keyframe_at_or_before(self, frame: int) -> int:
        """The index of the last keyframe at or before ``frame`` (0 when there is none)."""
        position = int(np.searchsorted(self.keyframes, frame, side="right")) - 1
        return int(self.keyframes[position]) if position >= 0 else 0

    def to_dict(self) -> dict:
        """A JSON-ready summary (arrays reduced to counts)."""
        return {
            "path": self.path,
            "container": self.container,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps, 6),
            "frames": self.frames,
            "duration_s": round(self.duration_s, 6),
            "has_audio": self.has_audio,
            "audio": None
            if self.audio is None
            else {
                "codec": self.audio.codec,
                "sample_rate": self.audio.sample_rate,
                "channels": self.audio.channels,
            },
            "motion_vectors": self.motion_vectors,
            "keyframes": int(len(self.keyframes)),
            "header_frames": self.header_frames,
            "header_duration_s": self.header_duration_s,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Clip:
    """One clip of a grid: ``frames`` is the list of frame indices it decodes to."""

    index: int
    start_frame: int
    end_frame: int  # exclusive
    start_s: float
    end_s: float
    frames: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class ClipGrid:
    """L clips of ``frames_per_clip`` frames each, with frame ranges and seconds.

    ``index[i]`` is the clip's position in the full grid of its video (a grid
    narrowed by :meth:`subset` keeps the original indices). ``end_frame`` is
    exclusive. ``start_s`` is the presentation time of the first frame and
    ``end_s`` the end of the clip's last frame (its time plus one frame
    duration). A video shorter than one clip gives a single *padded* clip whose
    missing frames repeat the last frame; ``padded`` is then True.
    """

    frames_per_clip: int
    stride_frames: int
    video_frames: int
    index: np.ndarray
    start_frame: np.ndarray
    end_frame: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    padded: bool = False

    def __post_init__(self) -> None:
        for name, dtype in (
            ("index", np.int64),
            ("start_frame", np.int64),
            ("end_frame", np.int64),
            ("start_s", np.float64),
            ("end_s", np.float64),
        ):
            object.__setattr__(self, name, _as_1d(name, getattr(self, name), dtype))
        n = len(self.index)
        for name in ("start_frame", "end_frame", "start_s", "end_s"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"ClipGrid.{name} has {len(getattr(self, name))} entries, expected {n}.")
        if self.frames_per_clip < 1:
            raise ValueError(f"frames_per_clip must be >= 1, got {self.frames_per_clip}.")
        if np.any(self.end_frame <= self.start_frame):
            raise ValueError("every clip must hold at least one frame (end_frame > start_frame).")
        if np.any(self.start_frame < 0) or np.any(self.end_frame > self.video_frames):
            raise ValueError(f"clip frame ranges must lie within [0, {self.video_frames}].")
        if np.any(self.end_s < self.start_s):
            raise ValueError("every clip must have end_s >= start_s.")

    def __len__(self) -> int:
        return len(self.index)

    @property
    def num_clips(self) -> int:
        """Clips in the video's full grid (a narrowed grid may hold fewer)."""
        if self.padded:
            return 1
        return (self.video_frames - self.frames_per_clip) // self.stride_frames + 1

    def clip(self, position: int) -> Clip:
        """The clip at ``position`` in this grid (not necessarily its ``index``)."""
        start, end = int(self.start_frame[position]), int(self.end_frame[position])
        frames = list(range(start, end))
        frames += [end - 1] * (self.frames_per_clip - len(frames))  # padding repeats the last frame
        return Clip(
            index=int(self.index[position]),
            start_frame=start,
            end_frame=end,
            start_s=float(self.start_s[position]),
            end_s=float(self.end_s[position]),
            frames=tuple(frames),
        )

    def __iter__(self):
        return (self.clip(i) for i in range(len(self)))

    def subset(self, indices: Sequence[int] | np.ndarray) -> "ClipGrid":
        """The clips whose grid ``index`` is in ``indices``, in the order given."""
        wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
        position_of = {int(v): i for i, v in enumerate(self.index)}
        missing = [int(v) for v in wanted if int(v) not in position_of]
        if missing:
            raise IndexError(f"clip indices {missing} are not in this grid of {len(self)} clips.")
        return self.take(np.array([position_of[int(v)] for v in wanted], dtype=np.int64))

    def strided(self, stride: int) -> "ClipGrid":
        """The clips a sampler with sampling stride N scores: those at positions 0, N, 2N, ... of this grid.

        The result is a narrowed grid: it keeps the clips' grid ``index`` and :attr:`num_clips`.
        """
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise ValueError(f"stride must be a positive integer (1 keeps every clip), got {stride!r}.")
        return self.take(np.arange(0, len(self), stride, dtype=np.int64))

    def take(self, positions: Sequence[int] | np.ndarray | slice) -> "ClipGrid":
        """The clips at ``positions`` of this grid (positions, a boolean mask or a slice), in that order.

        The video's grid parameters are kept; :meth:`subset` looks clips up by grid index instead.
        """
        return _take_arrays(self, positions, ("index", "start_frame", "end_frame", "start_s", "end_s"))


@dataclass(frozen=True, eq=False)
class ClipScores:
    """One saliency score per scored clip of a video (higher means more salient).

    ``index`` holds the grid indices of the clips that were scored (all of them,
    or every N-th under a sampling stride); ``scores[i]`` belongs to ``index[i]``.
    ``start_s``/``end_s`` are the clips' seconds. ``source`` names the sampler.
    """

    index: np.ndarray
    scores: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    num_clips: int
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", _as_1d("index", self.index, np.int64))
        object.__setattr__(self, "scores", _as_1d("scores", self.scores, np.float64))
        object.__setattr__(self, "start_s", _as_1d("start_s", self.start_s, np.float64))
        object.__setattr__(self, "end_s", _as_1d("end_s", self.end_s, np.float64))
        n = len(self.index)
        for name in ("scores", "start_s", "end_s"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"ClipScores.{name} has {len(getattr(self, name))} entries, expected {n}.")
        if len(np.unique(self.index)) != n:
            raise ValueError("ClipScores.index must not repeat a clip.")
        if n and (self.index.min() < 0 or self.index.max() >= self.num_clips):
            raise ValueError(f"ClipScores.index must lie in [0, {self.num_clips}).")
        if np.any(np.isnan(self.scores)):
            raise ValueError(f"ClipScores from {self.source or 'a sampler'} contain NaN.")

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def for_grid(cls, grid: ClipGrid, scores: Sequence[float] | np.ndarray, *, source: str = "") -> "ClipScores":
        """Scores for every clip of ``grid``, in grid order."""
        return cls(
            index=grid.index,
            scores=np.asarray(scores, dtype=np.float64),
            start_s=grid.start_s,
            end_s=grid.end_s,
            num_clips=grid.num_clips,
            source=source,
        )

    def subset(self, indices: Sequence[int] | np.ndarray) -> "ClipScores":
        """The scores of the clips whose grid index is in ``indices`` (in this object's order)."""
        return self.take(np.isin(self.index, np.asarray(indices, dtype=np.int64).reshape(-1)))

    def take(self, positions: Sequence[int] | np.ndarray | slice) -> "ClipScores":
        """The scores at ``positions`` of this object (an array of positions, a boolean mask or a slice), in that order."""
        return _take_arrays(self, positions, ("index", "scores", "start_s", "end_s"))


@dataclass(frozen=True, eq=False)
class ClipSelection:
    """The clips chosen for the classifier, in the order of preference.

    ``scored`` counts the clips the sampler had to score to make this choice
    (fewer than ``num_clips`` under a sampling stride).
    """

    index: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    scores: np.ndarray
    num_clips: int
    scored: int
    strategy: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", _as_1d("index", self.index, np.int64))
        object.__setattr__(self, "start_s", _as_1d("start_s", self.start_s, np.float64))
        object.__setattr__(self, "end_s", _as_1d("end_s", self.end_s, np.float64))
        object.__setattr__(self, "scores", _as_1d("scores", self.scores, np.float64))
        n = len(self.index)
        for name in ("start_s", "end_s", "scores"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"ClipSelection.{name} has {len(getattr(self, name))} entries, expected {n}.")
        if len(np.unique(self.index)) != n:
            raise ValueError("ClipSelection.index must not repeat a clip.")
        if n and (self.index.min() < 0 or self.index.max() >= self.num_clips):
            raise ValueError(f"ClipSelection.index must lie in [0, {self.num_clips}).")
        if not 0 <= self.scored <= self.num_clips:
            raise ValueError(f"ClipSelection.scored must lie in [0, {self.num_clips}], got {self.scored}.")

    def __len__(self) -> int:
        return len(self.index)

    def take(self, positions: Sequence[int] | np.ndarray | slice) -> "ClipSelection":
        """The chosen clips at ``positions`` (an array of positions, a boolean mask or a slice), in that order."""
        return _take_arrays(self, positions, ("index", "start_s", "end_s", "scores"))

    def to_dicts(self) -> list[dict]:
        """``[{index, start_s, end_s, score}, ...]`` for JSON output."""
        return [
            {
                "index": int(i),
                "start_s": round(float(s), 6),
                "end_s": round(float(e), 6),
                "score": None if np.isnan(c) else float(c),
            }
            for i, s, e, c in zip(self.index, self.start_s, self.end_s, self.scores)
        ]


@dataclass(frozen=True)
class LabelProbability:
    label: str
    prob: float


@dataclass(frozen=True)
class VideoPrediction:
    """The video-level result of running the classifier on the selected clips.

    ``seconds`` splits the wall time into ``sampler``, ``decode`` and ``classifier``.
    """

    path: str
    top5: tuple[LabelProbability, ...]
    probabilities: np.ndarray
    selection: ClipSelection
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.top5[0].label

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "top5": [{"label": p.label, "prob": round(float(p.prob), 6)} for p in self.top5],
            "clips": self.selection.to_dicts(),
            "scored": self.selection.scored,
            "seconds": {k: round(float(v), 6) for k, v in self.seconds.items()},
            "error": None,
        }
