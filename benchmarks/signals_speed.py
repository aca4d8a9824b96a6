"""How long each cheap signal takes, against decoding every frame to RGB 112x112, and peak memory.

    .venv/bin/python benchmarks/signals_speed.py                 # 5-minute and 60-minute videos
    .venv/bin/python benchmarks/signals_speed.py --long-minutes 0  # the 5-minute video only

The videos are made once with PyAV (480x360, 30 fps, H.264 GOP 250 + AAC 44.1 kHz stereo)
and kept in benchmarks/results/ (git-ignored). Every measurement runs in its own
subprocess, so its peak resident memory (``ru_maxrss``) is its own; the figure includes
the Python + torch + PyAV runtime, measured alone as ``import-only``. Times are wall
seconds and CPU seconds (user + system) of the work alone (imports excluded; probing the
file included); on a shared machine the CPU figures are the steadier ones. The RGB
baseline decodes with frame threads (as ``decode_clips`` does); the signals use slice
threading unless the name says frame threads.
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

MEASUREMENTS = {
    "import-only": None,
    "rgb112-every-frame": None,
    "iframe": ("iframe",),
    "motion": ("motion",),
    "motion-frame-threads": ("motion",),
    "residual": ("residual",),
    "audio": ("audio",),
    "iframe+audio": ("iframe", "audio"),
    "all (iframe+motion+audio)": ("iframe", "motion", "audio"),
    "all+residual": ("iframe", "motion", "residual", "audio"),
}


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

    from scsampler.signals import extract_signals
    from scsampler.video import clip_grid, probe

    started = time.perf_counter()
    cpu_started = _cpu_s()
    extra = {}
    if what == "rgb112-every-frame":
        with av.open(video) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # as scsampler.video.decode_clips does
            count = 0
            for frame in container.decode(stream):
                frame.to_ndarray(format="rgb24", width=112, height=112)
                count += 1
        extra["frames"] = count
    elif what != "import-only":
        info = probe(video)
        grid = clip_grid(info)
        thread_type = "AUTO" if what == "motion-frame-threads" else "SLICE"
        signals = extract_signals(video, grid, signals=MEASUREMENTS[what], info=info, thread_type=thread_type)
        extra["clips"] = len(grid)
        extra["motion_source"] = signals.motion_source
    seconds = time.perf_counter() - started
    cpu_s = _cpu_s() - cpu_started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"what": what, "seconds": round(seconds, 3), "cpu_s": round(cpu_s, 3), "peak_mb": round(peak_mb, 1), **extra}


def _cpu_s() -> float:
    """CPU seconds of this process (user + system): steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_in_subprocess(what: str, video: Path) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--measure", what, "--video", str(video)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def report(video: Path, names: list[str]) -> list[dict]:
    rows = [run_in_subprocess(name, video) for name in names]
    base = next((r for r in rows if r["what"] == "rgb112-every-frame"), None)
    print(f"\n{video.name}")
    print(f"  {'measurement':<28} {'wall s':>8} {'x RGB':>7} {'CPU s':>8} {'x RGB':>7} {'peak MB':>8}")
    for row in rows:
        ratios = ("", "")
        if base and row["what"] != "import-only":
            ratios = (f"{row['seconds'] / base['seconds']:.3f}", f"{row['cpu_s'] / base['cpu_s']:.3f}")
        print(
            f"  {row['what']:<28} {row['seconds']:>8.2f} {ratios[0]:>7} {row['cpu_s']:>8.2f} {ratios[1]:>7} {row['peak_mb']:>8.0f}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short-minutes", type=float, default=5.0)
    parser.add_argument("--long-minutes", type=float, default=60.0, help="0 skips the long video")
    parser.add_argument("--long-all", action="store_true", help="time every signal on the long video too (slow)")
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
    results["short"] = report(short, list(MEASUREMENTS))
    if args.long_minutes > 0:
        started = time.perf_counter()
        long = make_video(RESULTS / f"bench_{args.long_minutes:g}min.mp4", minutes=args.long_minutes, preset="ultrafast")
        print(f"made {long.name} in {time.perf_counter() - started:.0f} s (reused if it existed)", flush=True)
        names = list(MEASUREMENTS) if args.long_all else ["import-only", "iframe+audio", "all (iframe+motion+audio)"]
        results["long"] = report(long, names)
    (RESULTS / "signals_speed.json").write_text(json.dumps(results, indent=2))
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}; figures in {RESULTS / 'signals_speed.json'}")


if __name__ == "__main__":
    main()
