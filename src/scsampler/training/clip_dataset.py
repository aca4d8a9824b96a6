"""Training and evaluation clips for clip classifiers, read from a manifest.

**Where training clips come from.** The classifier learns the *video* label.
On an untrimmed video most clips show nothing of the action, so when a
``segments.csv`` sits beside the manifest (the synthetic benchmark writes one:
``path,start_s,end_s,kind``) training clips are drawn only from inside the
labelled action segments (``Segment.is_action``: kinds ``action`` and
``action_silent``; distractor and camera-pan rows are ignored). A video without segments (or with no segment file at all: a
trimmed dataset such as Kinetics) gives clips drawn uniformly over the whole
video. Every epoch, each video gives ``clips_per_video`` clips at fresh random
start frames (temporal jitter).

**Augmentation** (the supplementary recipe): ``frames_per_clip`` adjacent
frames, each rescaled to the same size, one random crop at the *same place* in
every frame, and a random horizontal flip. Randomness is a pure function of
``(seed, epoch, item)``, so a resumed run draws the same clips.

**Cache.** With ``cache_dir`` the frames a video can give (its action segments,
or the whole video) are decoded once, at the rescaled size, into one ``.npy``
file per video, then memory-mapped; later epochs, worker processes and torchrun
ranks read it without decoding. Meant for small datasets (the CPU presets): a
whole long video at 342x256 is large. Without ``cache_dir`` every item is decoded
from the file with :func:`scsampler.video.decode_clips`.

**Evaluation clips** (:func:`evaluation_clips`): the same rescale, then a centre
crop; the *action clips* are the non-overlapping clips inside the action
segments (clip-level accuracy), the *uniform clips* are ``n`` equally spaced
clips over the whole video (video-level accuracy: mean softmax over them).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from scsampler._atomic import atomic_output
from scsampler.data.manifest import read_manifest, read_segments
from scsampler.errors import ScsamplerError, UsageError
from scsampler.types import ClipGrid, VideoInfo
from scsampler.video import decode_clips, iter_frames, probe

__all__ = [
    "ClipGeometry",
    "LabelledVideo",
    "ClipDataset",
    "EvaluationClips",
    "labelled_videos",
    "clip_starts_in_windows",
    "grid_from_starts",
    "evaluation_clips",
]

SEGMENTS_FILE = "segments.csv"


@dataclass(frozen=True)
class ClipGeometry:
    """Clip length and frame sizes: rescale every frame, then crop ``crop_size``."""

    frames_per_clip: int
    resize_size: tuple[int, ...]  # (height, width), or (short_side,) keeping the aspect ratio
    crop_size: tuple[int, int]  # (height, width)

    def __post_init__(self) -> None:
        if self.frames_per_clip < 1:
            raise UsageError(f"frames_per_clip must be >= 1, got {self.frames_per_clip}.")
        if len(self.resize_size) not in (1, 2) or min(self.resize_size) < 1:
            raise UsageError(f"resize size must be (height, width) or (short_side,), got {self.resize_size}.")
        if len(self.crop_size) != 2 or min(self.crop_size) < 1:
            raise UsageError(f"crop size must be (height, width), got {self.crop_size}.")

    def resized_hw(self, info: VideoInfo) -> tuple[int, int]:
        """``(height, width)`` of this video's frames after rescaling; checked against the crop."""
        if len(self.resize_size) == 2:
            size = (int(self.resize_size[0]), int(self.resize_size[1]))
        else:
            short = int(self.resize_size[0])
            if info.height <= info.width:
                size = (short, max(short, round(info.width * short / info.height)))
            else:
                size = (max(short, round(info.height * short / info.width)), short)
        if size[0] < self.crop_size[0] or size[1] < self.crop_size[1]:
            raise UsageError(
                f"{info.path}: frames rescaled to {size[0]}x{size[1]} (HxW) are smaller than the crop "
                f"{self.crop_size[0]}x{self.crop_size[1]}; use a larger resize size or a smaller crop."
            )
        return size


@dataclass(frozen=True)
class LabelledVideo:
    """A video of the manifest, its class index, and the seconds its action fills (empty: unknown)."""

    path: Path
    label_index: int
    action_windows_s: tuple[tuple[float, float], ...] = ()


def labelled_videos(manifest: str | os.PathLike, *, split: str | None) -> tuple[list[LabelledVideo], list[str]]:
    """The videos of ``split`` (None: all) with class indices, action windows, and the class list."""
    manifest_path = Path(manifest)
    data = read_manifest(manifest_path, split=split)
    segments_file = manifest_path.parent / SEGMENTS_FILE
    segments = read_segments(segments_file) if segments_file.is_file() else {}
    videos = []
    for entry in data.entries:
        path = Path(entry.path).resolve()
        windows = tuple((s.start_s, s.end_s) for s in segments.get(path, ()) if s.is_action)
        videos.append(LabelledVideo(path, int(entry.label_index), windows))
    return videos, list(data.classes)


def clip_starts_in_windows(
    info: VideoInfo, windows_s: tuple[tuple[float, float], ...] | list, *, frames_per_clip: int, stride_frames: int = 1
) -> np.ndarray:
    """Start frames of the clips that lie inside the windows (every ``stride_frames``-th one).

    A window shorter than a clip gives the one clip centred on it (clamped to
    the video). Windows outside the video are ignored. With no usable window,
    the clips of the whole video. A video shorter than one clip gives ``[0]``
    (a padded clip that repeats its last frame).
    """
    last_start = max(info.frames - frames_per_clip, 0)
    starts: list[np.ndarray] = []
    times = info.frame_times_s
    for start_s, end_s in windows_s:
        first = int(np.searchsorted(times, start_s, side="left"))
        end = int(np.searchsorted(times, end_s, side="left"))  # exclusive
        if end <= first:
            continue
        if end - first >= frames_per_clip:
            starts.append(np.arange(first, end - frames_per_clip + 1, stride_frames))
        else:
            centre = (first + end) // 2
            starts.append(np.array([min(max(centre - frames_per_clip // 2, 0), last_start)]))
    if not starts:
        return np.arange(0, last_start + 1, stride_frames, dtype=np.int64)
    return np.unique(np.concatenate(starts)).astype(np.int64)


def grid_from_starts(info: VideoInfo, starts: np.ndarray, *, frames_per_clip: int) -> ClipGrid:
    """A :class:`ClipGrid` of clips starting at ``starts`` (clips past the end are padded)."""
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.minimum(starts + frames_per_clip, info.frames)
    frame_end_s = np.append(info.frame_times_s[1:], info.duration_s)
    return ClipGrid(
        frames_per_clip=frames_per_clip,
        stride_frames=frames_per_clip,
        video_frames=info.frames,
        index=np.arange(len(starts)),
        start_frame=starts,
        end_frame=ends,
        start_s=info.frame_times_s[starts],
        end_s=frame_end_s[ends - 1],
        padded=bool(np.any(ends - starts < frames_per_clip)),
    )


def _clip_frames(start: int, *, frames_per_clip: int, video_frames: int) -> np.ndarray:
    """Frame indices of the clip at ``start``; past the end the last frame repeats."""
    return np.minimum(np.arange(start, start + frames_per_clip), video_frames - 1)


class ClipDataset(Dataset):
    """``len(videos) * clips_per_video`` random training clips per epoch: ``(uint8 [3, T, h, w], label)``.

    Call :meth:`set_epoch` before each epoch to draw new clips. Item ``i``
    comes from video ``i // clips_per_video``. See the module docstring for
    where clips come from, the augmentation and the cache.
    """

    def __init__(
        self,
        videos: list[LabelledVideo],
        *,
        geometry: ClipGeometry,
        clips_per_video: int = 1,
        seed: int = 0,
        flip: bool = True,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        if not videos:
            raise UsageError("a clip dataset needs at least one video.")
        if clips_per_video < 1:
            raise UsageError(f"clips_per_video must be >= 1, got {clips_per_video}.")
        self.videos = list(videos)
        self.geometry = geometry
        self.clips_per_video = clips_per_video
        self.seed = seed
        self.flip = flip
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.epoch = 0
        self._infos: dict[int, VideoInfo] = {}
        self._starts: dict[int, np.ndarray] = {}
        self._frames: dict[int, np.ndarray] = {}  # memory-mapped caches, opened once per process

    def set_epoch(self, epoch: int) -> None:
        """Draw the clips of ``epoch`` (0-based)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.videos) * self.clips_per_video

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        video_index = item // self.clips_per_video
        video = self.videos[video_index]
        rng = np.random.default_rng([self.seed, self.epoch, item])
        starts = self._candidate_starts(video_index)
        start = int(starts[rng.integers(len(starts))])
        clip = self._load_clip(video_index, start)  # uint8 [T, H, W, 3]
        crop_h, crop_w = self.geometry.crop_size
        top = int(rng.integers(clip.shape[1] - crop_h + 1))
        left = int(rng.integers(clip.shape[2] - crop_w + 1))
        clip = clip[:, top : top + crop_h, left : left + crop_w]
        if self.flip and rng.random() < 0.5:
            clip = clip[:, :, ::-1]
        # [3, T, h, w], contiguous: convolutions on a permuted (channels-last) layout are far slower on a CPU
        tensor = torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2).contiguous()
        return tensor, video.label_index

    def build_cache(self, video_indices: list[int] | range | None = None) -> None:
        """Decode the frames of these videos (all by default) into the cache folder, when there is one."""
        if self.cache_dir is None:
            return
        for index in range(len(self.videos)) if video_indices is None else video_indices:
            self._cached_frames(index)

    # -- internals -----------------------------------------------------------------

    def _info(self, video_index: int) -> VideoInfo:
        if video_index not in self._infos:
            self._infos[video_index] = probe(self.videos[video_index].path)
        return self._infos[video_index]

    def _candidate_starts(self, video_index: int) -> np.ndarray:
        if video_index not in self._starts:
            self._starts[video_index] = clip_starts_in_windows(
                self._info(video_index),
                self.videos[video_index].action_windows_s,
                frames_per_clip=self.geometry.frames_per_clip,
            )
        return self._starts[video_index]

    def _needed_frames(self, video_index: int) -> np.ndarray:
        info = self._info(video_index)
        starts = self._candidate_starts(video_index)
        offsets = np.arange(self.geometry.frames_per_clip)
        return np.unique(np.minimum(starts[:, None] + offsets[None, :], info.frames - 1))

    def _load_clip(self, video_index: int, start: int) -> np.ndarray:
        info = self._info(video_index)
        T = self.geometry.frames_per_clip
        if self.cache_dir is not None:
            frames = self._cached_frames(video_index)
            positions = np.searchsorted(self._needed_frames(video_index), _clip_frames(start, frames_per_clip=T, video_frames=info.frames))
            return np.asarray(frames[positions])
        grid = grid_from_starts(info, np.array([start]), frames_per_clip=T)
        clip = decode_clips(self.videos[video_index].path, grid, size=self.geometry.resized_hw(info), info=info)
        return clip[0].permute(1, 2, 3, 0).numpy()  # [T, H, W, 3]

    def _cached_frames(self, video_index: int) -> np.ndarray:
        if video_index in self._frames:
            return self._frames[video_index]
        assert self.cache_dir is not None
        video = self.videos[video_index]
        info = self._info(video_index)
        size = self.geometry.resized_hw(info)
        needed = self._needed_frames(video_index)
        stat = video.path.stat()
        key = hashlib.sha1(
            repr((str(video.path), stat.st_size, stat.st_mtime_ns, size, needed.tobytes())).encode()
        ).hexdigest()[:16]
        file = self.cache_dir / f"{video.path.stem}-{key}.npy"
        if not file.is_file():
            frames = np.empty((len(needed), size[0], size[1], 3), dtype=np.uint8)
            filled = np.zeros(len(needed), dtype=bool)
            last = None
            for index, image in iter_frames(video.path, needed.tolist(), info=info, size=size):
                position = int(np.searchsorted(needed, index))
                frames[position], filled[position], last = image, True, image
            if last is None:
                raise ScsamplerError(f"{video.path}: none of the training frames could be decoded.")
            for position in np.flatnonzero(~filled):  # damaged frames: the last good one stands in
                frames[position] = frames[position - 1] if position > 0 else last
            _save_npy_atomically(file, frames)
        self._frames[video_index] = np.load(file, mmap_mode="r")
        return self._frames[video_index]

    def __getstate__(self) -> dict:
        # Worker processes reopen the memory maps themselves.
        state = dict(self.__dict__)
        state["_frames"] = {}
        return state


def _save_npy_atomically(file: Path, array: np.ndarray) -> None:
    with atomic_output(file) as temporary, open(temporary, "wb") as out:
        np.save(out, array)


@dataclass(frozen=True)
class EvaluationClips:
    """Centre-cropped uint8 clips ``[n, 3, T, h, w]`` of one validation video."""

    label_index: int
    action: torch.Tensor  # clips inside the action segments (or, without segments, equal to ``uniform``)
    uniform: torch.Tensor  # equally spaced clips over the whole video


def evaluation_clips(video: LabelledVideo, *, geometry: ClipGeometry, uniform_clips: int) -> EvaluationClips:
    """Decode one validation video's action clips and ``uniform_clips`` equally spaced clips."""
    if uniform_clips < 1:
        raise UsageError(f"uniform_clips must be >= 1, got {uniform_clips}.")
    info = probe(video.path)
    T = geometry.frames_per_clip
    size = geometry.resized_hw(info)
    last_start = max(info.frames - T, 0)
    uniform_starts = np.unique(np.linspace(0, last_start, uniform_clips).round().astype(np.int64))
    starts = [uniform_starts]
    action_starts = None
    if video.action_windows_s:
        action_starts = clip_starts_in_windows(info, video.action_windows_s, frames_per_clip=T, stride_frames=T)
        starts.append(action_starts)
    all_starts = np.unique(np.concatenate(starts))
    clips = decode_clips(video.path, grid_from_starts(info, all_starts, frames_per_clip=T), size=size, info=info)
    top = (size[0] - geometry.crop_size[0]) // 2
    left = (size[1] - geometry.crop_size[1]) // 2
    clips = clips[..., top : top + geometry.crop_size[0], left : left + geometry.crop_size[1]].contiguous()
    uniform = clips[torch.from_numpy(np.searchsorted(all_starts, uniform_starts))]
    action = clips[torch.from_numpy(np.searchsorted(all_starts, action_starts))] if action_starts is not None else uniform
    return EvaluationClips(video.label_index, action, uniform)
