"""The synthetic untrimmed benchmark: long H.264/AAC videos with a few short labelled actions.

``make_synthetic_benchmark(out_dir, videos=N, classes=C, seed=S)`` writes::

    OUT_DIR/videos/synth_00000.mp4 ...   H.264 (libx264, yuv420p, B-frames, a keyframe every
                                         ``gop`` frames) + AAC mono 22050 Hz; ~15% have no audio
    OUT_DIR/manifest.csv                 path,label,split  (paths relative to OUT_DIR)
    OUT_DIR/classes.txt                  class00, class01, ... one per line
    OUT_DIR/segments.csv                 path,start_s,end_s,kind
    OUT_DIR/synth.json                   the settings, each class's style, each video's summary

Each class has its own action: a saturated shape of a class-specific hue,
shape and motion pattern (see :func:`~scsampler.data.synth_plan.class_styles`),
and its own sound: a harmonic tone with a class-specific fundamental and
amplitude-modulation rate. A video (label = one class) holds 1 to 3 actions
of 2 to 6 s; everything else (at least ``background_fraction`` of it) is
uninformative but busy: a textured background that the camera pans over now
and then, a neutral grey object that moves throughout (sometimes fast), pixel
noise, background noise, random clicks, and loud class-agnostic sounds.

Measured (benchmarks/synth_speed.py): loudness and frame-difference motion
energy pick action clips far less often than a cue that only actions carry
(saturated colour); see the benchmark for the figures.

Kinds in ``segments.csv``:

* ``action``: the class's action, with its sound.
* ``action_silent``: the class's action without sound (about 20% of actions,
  and every action of a video without an audio track).
* ``distractor_sound``: a class-agnostic sound (noise burst, whoosh or
  frequency sweep, 1 to 3 s, mostly louder than actions; about one per 30 s
  of background), always in the background, 0.5 s or more from any action.
* ``camera_pan``: the camera pans (the whole frame moves), in the background
  and during actions alike.

Use ``Segment.is_action`` (kinds ``action`` and ``action_silent``) to find the
labelled spans. Times are multiples of 1/fps.

Determinism: all randomness comes from ``numpy.random`` seeded by
``(seed, video index)``; video ``i`` is the same whatever the number of videos,
so a rerun with more videos extends a set. The MP4 files are identical
between runs, byte for byte: libx264's macroblock-tree rate control
(``mbtree``) gave a different encoding of the same frames now and then (of
the same video encoded 8 times in one process, 1 to 3 differed, by up to 6
grey levels once decoded), so it is off; one thread, no scene-cut detection.

Resume: each video is written to a temporary name and renamed when complete,
so a rerun skips finished videos. ``synth.json`` records the settings; a
rerun into the same folder with other settings is refused.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import math
import os
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np

from scsampler._atomic import atomic_output, write_text_atomically
from scsampler.data.synth_audio import SAMPLE_RATE, render_audio
from scsampler.data.synth_plan import ACTION_MIN_S, ClassStyle, VideoPlan, class_styles, plan_video
from scsampler.data.synth_visual import render_frames
from scsampler.errors import UsageError

__all__ = ["make_synthetic_benchmark", "plan_benchmark", "write_video", "SEGMENT_KINDS", "FORMAT_VERSION"]

SEGMENT_KINDS = ("action", "action_silent", "distractor_sound", "camera_pan")
FORMAT_VERSION = 1
AUDIO_BIT_RATE = 48000
X264_PRESET = "veryfast"  # keeps B-frames (ultrafast drops them) and is still fast at small sizes


def make_synthetic_benchmark(
    out_dir: str | os.PathLike,
    *,
    videos: int,
    classes: int,
    seed: int,
    min_seconds: int = 180,
    max_seconds: int = 240,
    size: tuple[int, int] = (160, 120),
    fps: int = 16,
    gop: int = 32,
    background_fraction: float = 0.8,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> Path:
    """Write the benchmark into ``out_dir`` and return the path of its ``manifest.csv``.

    ``size`` is ``(width, height)``; ``fps`` frames per second (16 makes one
    16-frame clip last 1 s); ``gop`` frames between keyframes. Video lengths
    are whole seconds drawn from ``[min_seconds, max_seconds]``. ``progress``,
    when given, is called as ``progress(done, total)`` after each video
    (including videos skipped because a previous run finished them).
    ``workers`` > 1 encodes that many videos at once in separate processes
    (the files are the same as with one worker).

    Raises:
        UsageError: a setting is out of range (the message says the rule and a
            fix), or ``out_dir`` holds a benchmark made with other settings.
    """
    settings = _check_settings(
        videos=videos, classes=classes, seed=seed, min_seconds=min_seconds, max_seconds=max_seconds,
        size=size, fps=fps, gop=gop, background_fraction=background_fraction,
    )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder; choose a folder for the benchmark.")
    (out / "videos").mkdir(parents=True, exist_ok=True)
    _check_or_record_settings(out, settings)

    styles = class_styles(classes)
    plans = plan_benchmark(
        videos=videos, classes=classes, seed=seed, min_seconds=min_seconds, max_seconds=max_seconds,
        size=size, fps=fps, background_fraction=background_fraction,
    )
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"workers must be a whole number >= 1, got {workers!r}.")
    # finished videos are renamed into place only when complete, so an existing file is a finished one
    todo = [plan for plan in plans if not (out / "videos" / plan.name).is_file()]
    done = len(plans) - len(todo)
    if progress is not None and done:
        progress(done, len(plans))
    jobs = [(out / "videos" / plan.name, plan, styles[plan.label_index]) for plan in todo]
    if workers == 1 or len(jobs) < 2:
        for target, plan, style in jobs:
            write_video(target, plan, style, size=size, gop=gop)
            done += 1
            if progress is not None:
                progress(done, len(plans))
    else:
        with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            futures = [pool.submit(write_video, target, plan, style, size=size, gop=gop) for target, plan, style in jobs]
            for future in concurrent.futures.as_completed(futures):
                future.result()
                done += 1
                if progress is not None:
                    progress(done, len(plans))

    _write_text(out / "classes.txt", "".join(f"{style.name}\n" for style in styles))
    _write_text(out / "segments.csv", _segments_csv(plans))
    _write_text(out / "synth.json", json.dumps(_summary(settings, styles, plans), indent=1) + "\n")
    manifest = out / "manifest.csv"
    _write_text(manifest, _manifest_csv(plans, styles))  # last: its presence means the set is complete
    return manifest


def plan_benchmark(
    *,
    videos: int,
    classes: int,
    seed: int,
    min_seconds: int,
    max_seconds: int,
    size: tuple[int, int],
    fps: int,
    background_fraction: float,
) -> list[VideoPlan]:
    """The plans of videos ``0..videos-1`` (cheap: nothing is rendered)."""
    return [
        plan_video(
            index, seed=seed, classes=classes, min_seconds=min_seconds, max_seconds=max_seconds,
            size=size, fps=fps, background_fraction=background_fraction,
        )
        for index in range(videos)
    ]


def write_video(path: str | os.PathLike, plan: VideoPlan, style: ClassStyle, *, size: tuple[int, int], gop: int) -> Path:
    """Render and encode one video to ``path`` atomically, one second of frames and sound at a time."""
    target = Path(path)
    with atomic_output(target) as temporary:
        _encode(temporary, plan, style, size=size, gop=gop)
    return target


def _encode(path: Path, plan: VideoPlan, style: ClassStyle, *, size: tuple[int, int], gop: int) -> None:
    width, height = size
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream(
            "libx264",
            rate=plan.fps,
            options={
                "preset": X264_PRESET,
                "crf": "23",
                # regular keyframes (no scene-cut detection, fixed GOP); mbtree off: with it, the same
                # frames sometimes encoded differently, which made tests on synthetic sets flaky
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:mbtree=0",
            },
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = Fraction(1, plan.fps)
        video.codec_context.thread_count = 1  # reproducible output
        audio = None
        if plan.has_audio:
            audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
            audio.bit_rate = AUDIO_BIT_RATE
        frames = render_frames(plan, style, size=size)
        sounds = render_audio(plan, style, sample_rate=SAMPLE_RATE) if audio is not None else None
        index = 0
        for second in range(plan.seconds):
            for _ in range(plan.fps):
                frame = av.VideoFrame.from_ndarray(next(frames), format="rgb24")
                frame.pts = index
                index += 1
                container.mux(video.encode(frame))
            if audio is not None:
                samples = next(sounds)
                block = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
                block.sample_rate = SAMPLE_RATE
                block.pts = second * SAMPLE_RATE
                container.mux(audio.encode(block))
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))


def _check_settings(**settings) -> dict:
    seed = settings["seed"]
    for name in ("videos", "classes", "min_seconds", "max_seconds", "fps", "gop"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UsageError(f"{name} must be a whole number >= 1, got {value!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}.")
    size = settings["size"]
    if len(size) != 2 or any(not isinstance(v, (int, np.integer)) or v < 64 or v % 2 for v in size):
        raise UsageError(f"size must be (width, height), even numbers of at least 64 pixels (H.264 4:2:0), got {size!r}; e.g. 160x120.")
    fraction = settings["background_fraction"]
    if not 0.0 <= fraction < 1.0:
        raise UsageError(f"background_fraction must lie in [0, 1), got {fraction!r}.")
    if settings["min_seconds"] > settings["max_seconds"]:
        raise UsageError(
            f"min_seconds ({settings['min_seconds']}) must not exceed max_seconds ({settings['max_seconds']})."
        )
    needed = _min_seconds_needed(fraction)
    if settings["min_seconds"] < needed:
        raise UsageError(
            f"min_seconds must be at least {needed} with background_fraction {fraction:g}, got {settings['min_seconds']}: "
            f"a video needs room for one 2 s action while keeping {fraction:.0%} of it background; "
            f"raise --min-seconds to {needed} or lower background_fraction."
        )
    result = {key: (list(value) if key == "size" else value) for key, value in settings.items()}
    result = {key: (int(v) if isinstance(v, np.integer) else v) for key, v in result.items()}
    result["size"] = [int(v) for v in size]
    result["sample_rate"] = SAMPLE_RATE
    result["format_version"] = FORMAT_VERSION
    return result


def _min_seconds_needed(background_fraction: float) -> int:
    """The shortest video that fits one 2 s action and keeps ``background_fraction`` background."""
    return max(ACTION_MIN_S, math.ceil(ACTION_MIN_S / (1.0 - background_fraction) - 1e-9))


def _check_or_record_settings(out: Path, settings: dict) -> None:
    """Refuse to mix videos made with other settings; otherwise record these settings."""
    record = out / "synth.json"
    comparable = {key: value for key, value in settings.items() if key != "videos"}
    if record.is_file():
        try:
            previous = json.loads(record.read_text())["settings"]
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"{record}: is not a synth.json this tool wrote; choose an empty folder.") from None
        previous = {key: value for key, value in previous.items() if key != "videos"}
        if previous != comparable:
            changed = ", ".join(
                f"{key} {previous.get(key)!r} -> {comparable.get(key)!r}"
                for key in sorted(set(previous) | set(comparable))
                if previous.get(key) != comparable.get(key)
            )
            raise UsageError(
                f"{out}: holds a synthetic benchmark made with other settings ({changed}); "
                "choose another folder, or delete this one to start again."
            )
    else:
        _write_text(record, json.dumps({"settings": settings, "complete": False}, indent=1) + "\n")


def _manifest_csv(plans: list[VideoPlan], styles: list[ClassStyle]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "split"])
    for plan in plans:
        writer.writerow([f"videos/{plan.name}", styles[plan.label_index].name, plan.split])
    return buffer.getvalue()


def _segments_csv(plans: list[VideoPlan]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "start_s", "end_s", "kind"])
    for plan in plans:
        rows = [(a.start_frame, a.end_frame, "action_silent" if a.silent else "action") for a in plan.actions]
        rows += [(s.start_frame, s.end_frame, "distractor_sound") for s in plan.sounds]
        rows += [(p.start_frame, p.end_frame, "camera_pan") for p in plan.pans]
        for start, end, kind in sorted(rows):
            writer.writerow([f"videos/{plan.name}", _seconds(start, plan.fps), _seconds(end, plan.fps), kind])
    return buffer.getvalue()


def _seconds(frame: int, fps: int) -> str:
    return f"{frame / fps:.6f}".rstrip("0").rstrip(".") or "0"


def _summary(settings: dict, styles: list[ClassStyle], plans: list[VideoPlan]) -> dict:
    return {
        "settings": settings,
        "complete": True,
        "classes": [asdict(style) for style in styles],
        "videos": [
            {
                "path": f"videos/{plan.name}",
                "label": styles[plan.label_index].name,
                "split": plan.split,
                "seconds": plan.seconds,
                "has_audio": plan.has_audio,
                "actions": len(plan.actions),
                "action_seconds": sum(a.end_frame - a.start_frame for a in plan.actions) / plan.fps,
            }
            for plan in plans
        ],
    }


def _write_text(path: Path, text: str) -> None:
    write_text_atomically(path, text)
