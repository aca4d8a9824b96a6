"""How long each cheap signal takes, against decoding every frame to RGB 112x112, and peak memory.

    .venv/bin/python benchmarks/signals_speed.py                   # 5-minute and 60-minute videos
    .venv/bin/python benchmarks/signals_speed.py --long-minutes 0  # the 5-minute video only

The videos are made once with PyAV (480x360, 30 fps, H.264 GOP 250 + AAC 44.1 kHz stereo)
and kept in benchmarks/results/ (git-ignored). Every measurement runs in its own
subprocess, so its peak resident memory (``ru_maxrss``) is its own; the figure includes
the Python + torch + PyAV runtime, measured alone as ``import-only``. Times are wall
seconds and CPU seconds (user + system) of the work alone (imports excluded; probing the
file included). On a shared machine CPU time is the steadier figure, but it still grows
when other processes compete for the cores and caches, so each measurement is repeated
(``--repeat``, round-robin so that every row sees the same load) and the median is shown.

Three RGB baselines, all decoding every frame to RGB 112x112:

- ``rgb112 1-thread``: one decoding thread, ``frame.to_ndarray(format="rgb24", width=112,
  height=112)`` per frame. The reference for the ratios (the cost as the project brief
  defines it).
- ``rgb112 AUTO threads``: the same with frame threads, as ``scsampler.video.decode_clips``
  decodes (more CPU, less wall time).
- ``rgb112 1-thread reused scaler``: one ``VideoReformatter`` reused for every frame with
  area interpolation. ``to_ndarray(width=, height=)`` builds a new scaler for each frame,
  which costs about as much as decoding; this is the cheapest honest way to get every
  frame at 112x112, and the second ratio column is against it.

The ``floor ...`` rows time, each alone, the library calls that keyframes + audio cannot
avoid (reading the packets, decoding the keyframes, decoding the AAC track to 16 kHz mono,
the log-MEL's FFTs); their sum is the least keyframes + audio can cost as the signals are defined.

Motion uses P-frames only by default (B-frames are not decoded); ``motion all-frames``
averages every inter-coded frame (``motion_frames="all"``); ``motion step16`` and ``step8`` the first
P-frame of each run of 16 or 8 frames (``motion_step``), whose packets alone reach the decoder; the
``stride4`` rows score every 4th clip only (a sampling stride). ``motion+clipframe`` takes each
clip's middle frame from the motion pass (which then also decodes the B-frames other frames
refer to), ``clipframe`` runs that pass alone, without exporting vectors.
``--clipframe-fidelity`` compares the clip frames (decoded without the loop filter) with the
same frames decoded normally.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
WIDTH, HEIGHT, FPS, GOP = 480, 360, 30, 250
AUDIO_RATE = 44_100

BASELINE = "rgb112 1-thread"
FAST_BASELINE = "rgb112 1-thread reused scaler"
# name -> (signals, extract_signals options); None: not a signal measurement
MEASUREMENTS: dict[str, tuple[tuple[str, ...], dict] | None] = {
    "import-only": None,
    BASELINE: None,
    "rgb112 AUTO threads": None,
    FAST_BASELINE: None,
    "iframe": (("iframe",), {}),
    "motion": (("motion",), {}),
    "motion all-frames": (("motion",), {"motion_frames": "all"}),
    # the first P-frame of each run of 16 / 8 frames: only those packets (and the keyframes) are decoded on H.264
    "motion step16": (("motion",), {"motion_step": 16}),
    "motion step8": (("motion",), {"motion_step": 8}),
    # the clip frames: from the motion pass itself, or from the same pass without vectors
    "motion+clipframe": (("motion", "clipframe"), {}),
    "clipframe": (("clipframe",), {}),
    "residual": (("residual",), {}),
    "audio": (("audio",), {}),
    "audio centred-2s": (("audio",), {"audio_window": "centred-2s"}),  # 2 s around each clip, 10 ms hop
    "iframe+audio": (("iframe", "audio"), {}),
    "iframe+audio centred-2s": (("iframe", "audio"), {"audio_window": "centred-2s"}),
    "iframe+motion": (("iframe", "motion"), {}),  # one pass where vectors serve (the I-frames from the motion pass)
    "iframe+motion step16": (("iframe", "motion"), {"motion_step": 16}),
    # a sampling stride of 4 (every 4th clip scored): with a step, the clips between are not decoded at all
    "iframe+motion stride4": (("iframe", "motion"), {"stride": 4}),
    "iframe+motion step8 stride4": (("iframe", "motion"), {"motion_step": 8, "stride": 4}),
    "all (iframe+motion+audio)": (("iframe", "motion", "audio"), {}),
    "all+residual": (("iframe", "motion", "residual", "audio"), {}),
    # the library calls iframe+audio cannot avoid, each alone (see FLOORS)
    "floor probe": None,
    "floor keyframe decode": None,
    "floor AAC decode to 16k mono": None,
    "floor log-MEL FFT": None,
}
# What keyframes + audio must at least spend, as this project defines the signals: reading
# the packets (probe), decoding the keyframes the clips need (no resize), decoding the AAC
# track to 16 kHz mono (the cheapest way found: one FFmpeg filter graph), and the 512-point
# FFTs of 200 frames per clip (no framing, no power spectrum, no mel, no log).
FLOORS = ["floor probe", "floor keyframe decode", "floor AAC decode to 16k mono", "floor log-MEL FFT"]
LONG_MEASUREMENTS = ["import-only", "iframe+audio", "all (iframe+motion+audio)"]


def make_video(path: Path, *, minutes: float, preset: str = "veryfast") -> Path:
    """A synthetic broadcast-like video: a panning textured scene, a moving object, bursts of sound."""
    if path.exists():
        return path
    frames = int(minutes * 60 * FPS)
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (HEIGHT // 8 + 60, WIDTH // 8 + 60, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    block = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8).repeat(6, 0).repeat(6, 1)
    temporary = path.with_suffix(".tmp.mp4")
    container = av.open(str(temporary), "w")
    video = container.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.options = {"preset": preset, "g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "crf": "26"}
    audio = container.add_stream("aac", rate=AUDIO_RATE)
    audio.layout = "stereo"
    samples_per_frame = 1024
    audio_pts = 0
    tone = 0.2 * np.sin(2 * np.pi * 440 * np.arange(samples_per_frame) / AUDIO_RATE).astype(np.float32)
    for t in range(frames):
        phase = (t // (FPS * 20)) % 3  # 20-second segments: static, panning, action
        offset = 0 if phase == 0 else (t % 400) // 8
        image = np.ascontiguousarray(scene[offset : offset + HEIGHT, offset : offset + WIDTH])
        if phase == 2:
            x = (t * 5) % (WIDTH - 72)
            image[140:212, x : x + 72] = block
        for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
        while audio_pts < (t + 1) * AUDIO_RATE / FPS:
            loud = 0.5 if phase == 2 else 0.02
            chunk = (tone + loud * rng.standard_normal(samples_per_frame).astype(np.float32)).clip(-1, 1)
            frame = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, audio_pts, Fraction(1, AUDIO_RATE)
            for packet in audio.encode(frame):
                container.mux(packet)
            audio_pts += samples_per_frame
    for stream in (video, audio):
        for packet in stream.encode():
            container.mux(packet)
    container.close()
    os.replace(temporary, path)
    return path


def measure(what: str, video: str) -> dict:
    """Run one measurement in this process; return seconds and peak memory."""
    import torch  # noqa: F401  (the runtime every real use pays for)
    from av.video.reformatter import Interpolation, VideoReformatter

    from scsampler.signals import extract_signals
    from scsampler.video import clip_grid, probe

    floor = _floor(what, video) if what in FLOORS else None
    started = time.perf_counter()
    cpu_started = _cpu_s()
    extra = {}
    if floor is not None:
        extra.update(floor())
    elif what.startswith("rgb112"):
        with av.open(video) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO" if "AUTO" in what else "NONE"
            reformatter = VideoReformatter()
            count = 0
            for frame in container.decode(stream):
                if what == FAST_BASELINE:
                    reformatter.reformat(frame, width=112, height=112, format="rgb24", interpolation=Interpolation.AREA).to_ndarray()
                else:
                    frame.to_ndarray(format="rgb24", width=112, height=112)
                count += 1
        extra["frames"] = count
    elif what != "import-only":
        names, options = MEASUREMENTS[what]
        options = dict(options)
        info = probe(video)
        grid = clip_grid(info).strided(options.pop("stride", 1))
        signals = extract_signals(video, grid, signals=names, info=info, **options)
        extra["clips"] = len(grid)
        extra["motion_source"] = signals.motion_source
    seconds = time.perf_counter() - started
    cpu_s = _cpu_s() - cpu_started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"what": what, "seconds": round(seconds, 3), "cpu_s": round(cpu_s, 3), "peak_mb": round(peak_mb, 1), **extra}


def _floor(what: str, video: str):
    """One irreducible part of keyframes + audio, as a call to time (its set-up done here, untimed)."""
    import torch

    from scsampler.signals.keyframes import clip_keyframes
    from scsampler.video import clip_grid, probe

    if what == "floor probe":
        return lambda: {"frames": probe(video).frames}
    if what == "floor AAC decode to 16k mono":
        from scsampler.signals.audio import _filtered_chunks

        with av.open(video) as container:
            audio_index = container.streams.audio[0].index

        def decode_audio() -> dict:
            return {"samples": sum(len(chunk) for chunk in _filtered_chunks(video, audio_index))}

        return decode_audio
    info = probe(video)
    grid = clip_grid(info)
    if what == "floor keyframe decode":
        keyframes = sorted(set(int(k) for k in clip_keyframes(info, grid)))

        def decode_keyframes() -> dict:
            decoded = 0
            with av.open(video) as container:
                stream = container.streams.video[0]
                stream.codec_context.skip_frame = "NONKEY"
                stream.thread_type = "NONE"
                for index in keyframes:
                    container.seek(int(info.frame_pts[index]), stream=stream, backward=True)
                    for packet in container.demux(stream):
                        if packet.is_keyframe:
                            decoded += len(stream.decode(packet))
                            break
                decoded += len(stream.decode(None))
            return {"keyframes": decoded}

        return decode_keyframes
    torch.set_num_threads(1)
    frames = torch.randn(16 * 200, 512)  # 16 clips' frames at a time, as extract_audio batches them

    def transform() -> dict:
        for _ in range(0, len(grid), 16):
            torch.fft.rfft(frames)
        return {"clips": len(grid)}

    return transform


def clipframe_fidelity(video: str) -> dict:
    """Mean absolute difference (0-255, RGB 112x112) of the clip frames and I-frames to the clip's frames.

    Every frame is decoded normally (loop filter on, nothing skipped); the frame the clip-frame
    rule picks (the I- or P-frame nearest the clip's middle) is compared with the clip frame,
    which the motion pass decodes without the loop filter, and the clip's exact middle frame
    with the I-frame, which may lie long before the clip.
    """
    from av.video.frame import PictureType
    from av.video.reformatter import VideoReformatter

    from scsampler.signals import extract_signals
    from scsampler.signals.keyframes import clip_keyframes
    from scsampler.video import clip_grid, probe

    info = probe(video)
    grid = clip_grid(info)
    signals = extract_signals(video, grid, signals=("iframe", "clipframe"), info=info)
    starts, ends = grid.start_frame.astype(np.int64), grid.end_frame.astype(np.int64)
    twice_middle = starts + ends - 1
    keyframes = clip_keyframes(info, grid)
    middles = set((twice_middle // 2).tolist())
    reformatter = VideoReformatter()
    frames: dict[int, np.ndarray] = {}  # the candidates and the middle frames only (memory)
    candidates: list[int] = []
    with av.open(video) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            candidate = frame.pict_type != PictureType.B
            if candidate:
                candidates.append(index)
            if candidate or index in middles:
                image = reformatter.reformat(frame, width=112, height=112, format="rgb24").to_ndarray()
                frames[index] = image.transpose(2, 0, 1)
    candidates_array = np.array(candidates)
    clip_errors, iframe_errors = [], []
    for position in range(len(grid)):
        inside = candidates_array[(candidates_array >= starts[position]) & (candidates_array < ends[position])]
        if not len(inside):
            continue
        chosen = int(inside[np.argmin(np.abs(2 * inside - twice_middle[position]))])  # argmin: ties go to the earlier
        middle = int(twice_middle[position] // 2)
        clip_errors.append(np.abs(signals.clipframe[position].numpy().astype(np.int16) - frames[chosen]).mean())
        iframe_errors.append(np.abs(signals.iframe[position].numpy().astype(np.int16) - frames[middle]).mean())
    return {
        "clips": len(clip_errors),
        "clipframe_vs_its_frame_decoded_normally": round(float(np.mean(clip_errors)), 3),
        "clipframe_vs_its_frame_worst_clip": round(float(np.max(clip_errors)), 3),
        "iframe_vs_clip_middle_frame": round(float(np.mean(iframe_errors)), 3),
        "keyframe_gap_frames_mean": round(float(np.mean(starts - keyframes)), 1),
    }


def _cpu_s() -> float:
    """CPU seconds of this process (user + system): steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_in_subprocess(what: str, video: Path) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--measure", what, "--video", str(video)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def report(video: Path, names: list[str], *, repeat: int) -> list[dict]:
    """Measure ``names`` ``repeat`` times round-robin; print and return the medians."""
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(repeat):
        for name in names:
            runs[name].append(run_in_subprocess(name, video))
    rows = []
    for name in names:
        first = runs[name][0]
        row = {**first, "repeats": len(runs[name])}
        for field in ("seconds", "cpu_s", "peak_mb"):
            values = [run[field] for run in runs[name]]
            row[field] = float(np.median(values))
            row[f"{field}_all"] = values
        rows.append(row)
    by_name = {row["what"]: row for row in rows}
    base, fast = by_name.get(BASELINE), by_name.get(FAST_BASELINE)
    print(f"\n{video.name} (median of {repeat})")
    print(
        f"  {'measurement':<30} {'wall s':>7} {'x RGB':>7} {'CPU s':>7} {'x RGB':>7} {'x fast':>7} {'peak MB':>8}"
    )
    for row in rows:
        ratios = ["", "", ""]
        if row["what"] != "import-only":
            if base:
                ratios[0] = f"{row['seconds'] / base['seconds']:.3f}"
                ratios[1] = f"{row['cpu_s'] / base['cpu_s']:.3f}"
            if fast:
                ratios[2] = f"{row['cpu_s'] / fast['cpu_s']:.3f}"
        print(
            f"  {row['what']:<30} {row['seconds']:>7.2f} {ratios[0]:>7} {row['cpu_s']:>7.2f} {ratios[1]:>7} "
            f"{ratios[2]:>7} {row['peak_mb']:>8.0f}",
            flush=True,
        )
    floors = [by_name[name] for name in FLOORS if name in by_name]
    if len(floors) == len(FLOORS) and base:
        floor_cpu_s = sum(row["cpu_s"] for row in floors)
        print(f"  {'sum of the floors':<30} {'':>7} {'':>7} {floor_cpu_s:>7.2f} {floor_cpu_s / base['cpu_s']:>7.3f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short-minutes", type=float, default=5.0)
    parser.add_argument("--long-minutes", type=float, default=60.0, help="0 skips the long video")
    parser.add_argument("--long-all", action="store_true", help="time every signal on the long video too (slow)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is shown)")
    parser.add_argument("--only", help="comma-separated measurement names to run on the short video (default: all)")
    parser.add_argument(
        "--clipframe-fidelity", action="store_true", help="compare the clip frames with normally decoded frames, then stop"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--video", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.video)))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    print(f"cpu cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.2f}")
    results = {}
    started = time.perf_counter()
    short = make_video(RESULTS / f"bench_{args.short_minutes:g}min.mp4", minutes=args.short_minutes)
    print(f"made {short.name} in {time.perf_counter() - started:.0f} s (reused if it existed)", flush=True)
    if args.clipframe_fidelity:
        print(json.dumps(clipframe_fidelity(str(short))))
        return
    names = [name.strip() for name in args.only.split(",")] if args.only else list(MEASUREMENTS)
    unknown = [name for name in names if name not in MEASUREMENTS]
    if unknown:
        parser.error(f"unknown measurement(s) {unknown}; choose from {list(MEASUREMENTS)}")
    results["short"] = report(short, names, repeat=args.repeat)
    if args.long_minutes > 0:
        started = time.perf_counter()
        long = make_video(RESULTS / f"bench_{args.long_minutes:g}min.mp4", minutes=args.long_minutes, preset="ultrafast")
        print(f"made {long.name} in {time.perf_counter() - started:.0f} s (reused if it existed)", flush=True)
        names = list(MEASUREMENTS) if args.long_all else LONG_MEASUREMENTS
        results["long"] = report(long, names, repeat=1)
    (RESULTS / "signals_speed.json").write_text(json.dumps(results, indent=2))
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}; figures in {RESULTS / 'signals_speed.json'}")


if __name__ == "__main__":
    main()
