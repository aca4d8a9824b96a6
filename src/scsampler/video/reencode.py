"""Re-encode videos as CoViAR's compressed inputs: MPEG-4 Part 2, 340x256, a keyframe every 12 frames.

The paper's compressed-video samplers (SPEC.md, after CoViAR, Wu et al. CVPR 2018) read
I-frames and motion vectors from files re-encoded this way, not from the files as downloaded:
MPEG-4 Part 2 at 340x256 with a GOP of 12 frames and no B-frames (CoViAR's ``reencode.sh``
runs ``ffmpeg -vf scale=340:256,setsar=1:1 -q:v 1 -c:v mpeg4``; 12 frames and no B-frames are
ffmpeg's defaults for that encoder). Here:

* the video stream is decoded once and encoded with PyAV's ``mpeg4`` at a constant quantiser
  (``quality``: 1 is CoViAR's ``-q:v 1``, the best; 31 the worst), keyframes at exactly every
  ``gop`` frames (scene-cut keyframes off), no B-frames, each frame keeping its timestamp;
* the audio stream, when there is one, is copied packet for packet (the audio samplers read it);
* the output is an MP4 container, written to a temporary file and moved into place, so a file
  that exists is complete: :func:`reencode_folder` skips it on a rerun (resume).
"""

from __future__ import annotations

import csv
import os
from fractions import Fraction
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import av
from av.video.reformatter import VideoReformatter

from scsampler._atomic import atomic_output
from scsampler.errors import ScsamplerError, UsageError, VideoError
from scsampler.video._container import open_input

__all__ = ["ReencodeSettings", "ReencodeResult", "reencode_video", "reencode_folder", "VIDEO_EXTENSIONS"]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv", ".flv")
_NO_SCENE_CUTS = str(1_000_000_000)  # mpeg4's sc_threshold: keyframes only every gop frames
_MPEG4_MAX_TIME_BASE_DENOMINATOR = 65535  # the MPEG-4 Part 2 standard's limit (1/90000 is refused)


@dataclass(frozen=True)
class ReencodeSettings:
    """How to re-encode: frame ``size`` (width, height), keyframe interval, constant quantiser."""

    size: tuple[int, int] = (340, 256)
    gop: int = 12
    quality: int = 1
    audio: bool = True  # copy the audio stream when there is one

    def __post_init__(self) -> None:
        width, height = self.size
        if width < 16 or height < 16 or width % 2 or height % 2:
            raise UsageError(f"size must be even numbers of at least 16 pixels (4:2:0 video), got {width}x{height}.")
        if self.gop < 1:
            raise UsageError(f"gop must be >= 1 frame, got {self.gop}.")
        if not 1 <= self.quality <= 31:
            raise UsageError(f"quality is MPEG-4's quantiser, 1 (best) to 31, got {self.quality}.")


@dataclass(frozen=True)
class ReencodeResult:
    """One video of a folder: where it went, and ``error`` (None when it worked) or ``skipped``."""

    source: Path
    output: Path
    error: str | None = None
    skipped: bool = False


def reencode_video(source: str | os.PathLike, output: str | os.PathLike, settings: ReencodeSettings = ReencodeSettings()) -> Path:
    """Re-encode ``source`` to ``output`` (an ``.mp4``) with ``settings``; returns ``output``.

    Raises:
        VideoError: ``source`` cannot be read, has no video stream, or no frame decodes.
    """
    source, output = Path(source), Path(output)
    width, height = settings.size
    with open_input(source) as container:
        if not container.streams.video:
            raise VideoError(source, "has no video stream to re-encode.")
        video_in = container.streams.video[0]
        video_in.thread_type = "AUTO"
        audio_in = container.streams.audio[0] if settings.audio and container.streams.audio else None
        rate = video_in.average_rate or video_in.guessed_rate
        if not rate:
            raise VideoError(source, "states no frame rate, so its frames cannot be timed in the re-encoded file.")
        output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(output) as temporary:
            frames = 0
            with av.open(str(temporary), mode="w", format="mp4") as out:
                video_out = out.add_stream("mpeg4", rate=rate)
                video_out.width, video_out.height, video_out.pix_fmt = width, height, "yuv420p"
                clock = _Clock(video_in.time_base, rate)
                video_out.codec_context.time_base = clock.time_base
                video_out.codec_context.gop_size = settings.gop
                video_out.codec_context.max_b_frames = 0
                quantiser = str(settings.quality)  # qmin = qmax: ffmpeg's -q:v
                video_out.options = {"qmin": quantiser, "qmax": quantiser, "sc_threshold": _NO_SCENE_CUTS}
                audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
                scaler = VideoReformatter()  # one scaler for the file (frame.reformat builds one per frame)
                streams = [video_in] + ([audio_in] if audio_in is not None else [])
                try:
                    for packet in container.demux(*streams):
                        if packet.stream is video_in:
                            for frame in packet.decode():
                                scaled = scaler.reformat(frame, width=width, height=height, format="yuv420p")
                                scaled.pts, scaled.time_base = clock.pts(frame, frames), clock.time_base
                                # the source's picture type would force its own keyframes into the output
                                scaled.pict_type = av.video.frame.PictureType.NONE
                                for encoded in video_out.encode(scaled):
                                    out.mux(encoded)
                                frames += 1
                        elif packet.dts is not None:  # the demuxer's empty flush packet has none
                            packet.stream = audio_out
                            out.mux(packet)
                except av.error.FFmpegError as error:
                    raise VideoError(source, f"could not be decoded to the end ({error}); nothing was written.") from None
                for packet in video_out.encode():
                    out.mux(packet)
            if frames == 0:
                raise VideoError(source, "has a video stream, but none of its frames could be decoded; nothing was written.")
    return output


class _Clock:
    """Timestamps for the encoder: the source's own, in a time base MPEG-4 Part 2 accepts.

    The source's time base is kept when the standard allows it (its denominator at most 65535);
    otherwise (1/90000 is common in MP4) the frame period is used and timestamps are rescaled,
    each one kept above the last so no two frames collide.
    """

    def __init__(self, source: Fraction | None, rate: Fraction) -> None:
        self.source = Fraction(source) if source else Fraction(rate.denominator, rate.numerator)
        keep = self.source.denominator <= _MPEG4_MAX_TIME_BASE_DENOMINATOR
        self.time_base = self.source if keep else Fraction(rate.denominator, rate.numerator)
        self.last: int | None = None

    def pts(self, frame: av.VideoFrame, index: int) -> int:
        if frame.pts is None:  # no timestamp: place it one period after the last
            value = index if self.last is None else self.last + 1
        else:
            value = round(frame.pts * self.source / self.time_base)
        if self.last is not None and value <= self.last:
            value = self.last + 1
        self.last = value
        return value


def _reencode_one(job: tuple[Path, Path, ReencodeSettings]) -> ReencodeResult:
    source, output, settings = job
    try:
        reencode_video(source, output, settings)
    except ScsamplerError as error:
        return ReencodeResult(source, output, error=str(error))
    return ReencodeResult(source, output)


def reencode_folder(
    in_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: ReencodeSettings = ReencodeSettings(),
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[ReencodeResult]:
    """Re-encode every video under ``in_dir`` into the same relative place under ``out_dir``.

    Each output is ``<relative path>.mp4``. Videos whose output exists are skipped (a rerun
    resumes); one that fails is reported in its result and the others still finish. A
    ``manifest.csv`` and ``segments.csv`` in ``in_dir`` are copied with their paths pointing at
    the re-encoded files (``classes.txt`` too), so the folder can be used in place of the original.
    ``workers`` processes encode at once.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise UsageError(f"{in_dir}: not a folder; give the folder that holds the videos (and its manifest.csv).")
    if workers < 1:
        raise UsageError(f"workers must be >= 1, got {workers}.")
    if out_dir.resolve() == in_dir.resolve():
        raise UsageError(f"{out_dir}: is the input folder; write the re-encoded videos somewhere else.")
    sources = sorted(p for p in in_dir.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and out_dir not in p.parents)
    if not sources:
        raise UsageError(f"{in_dir}: holds no video files ({', '.join(VIDEO_EXTENSIONS)}).")
    outputs = {source: out_dir / source.relative_to(in_dir).with_suffix(".mp4") for source in sources}
    results: list[ReencodeResult] = [ReencodeResult(s, o, skipped=True) for s, o in outputs.items() if o.exists()]
    jobs = [(s, o, settings) for s, o in outputs.items() if not o.exists()]
    done = len(results)
    if progress is not None:
        progress(done, len(sources))
    for result in _run(jobs, workers=workers):
        results.append(result)
        done += 1
        if progress is not None:
            progress(done, len(sources))
    _copy_tables(in_dir, out_dir, {s.relative_to(in_dir): o.relative_to(out_dir) for s, o in outputs.items()})
    order = {source: position for position, source in enumerate(sources)}
    return sorted(results, key=lambda r: order[r.source])


def _run(jobs: list[tuple[Path, Path, ReencodeSettings]], *, workers: int) -> Iterable[ReencodeResult]:
    if workers == 1 or len(jobs) <= 1:
        yield from map(_reencode_one, jobs)
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        yield from pool.map(_reencode_one, jobs)


def _copy_tables(in_dir: Path, out_dir: Path, renamed: dict[Path, Path]) -> None:
    """manifest.csv and segments.csv with their ``path`` column renamed; classes.txt as it is."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_text = {str(old): str(new) for old, new in renamed.items()} | {old.as_posix(): new.as_posix() for old, new in renamed.items()}
    for name in ("manifest.csv", "segments.csv"):
        table = in_dir / name
        if not table.is_file():
            continue
        with open(table, newline="") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            if "path" not in fields:
                raise UsageError(f"{table}: has no 'path' column, so its rows cannot follow the re-encoded files.")
            rows = list(reader)
        for row in rows:
            row["path"] = by_text.get(os.path.normpath(row["path"]), by_text.get(row["path"], row["path"]))
        with atomic_output(out_dir / name) as temporary, open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    classes = in_dir / "classes.txt"
    if classes.is_file():
        with atomic_output(out_dir / "classes.txt") as temporary:
            Path(temporary).write_text(classes.read_text())
