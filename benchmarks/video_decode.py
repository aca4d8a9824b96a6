"""Probe + clip grid + decode 10 clips of a 5-minute video, against decoding the whole video to RGB.

    .venv/bin/python benchmarks/video_decode.py [--minutes 5] [--repeats 3] [--chunk 8]

Also every clip in chunks of ``--chunk`` through ``decode_in_file_order`` (the dense pass's decode
loop: ``label``, ``evaluate``, ``classify --sampler dense``), which should cost about what decoding
the whole video does.

Makes (once, cached in benchmarks/results/) a 480x360 30 fps H.264/AAC video with
GOP 250, the case in the project brief, then times each path (best of N).
"""

from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from scsampler.video import clip_grid, decode_clips, probe
from scsampler.video.chunks import decode_in_file_order

RESULTS = Path(__file__).resolve().parent / "results"


def make_test_video(path: Path, *, minutes: float, width: int = 480, height: int = 360, fps: int = 30, gop: int = 250) -> Path:
    """Moving texture plus a bouncing square, with a tone: cheap to make, realistic to decode."""
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, size=(height * 2, width * 2, 3), dtype=np.uint8)
    texture = ((texture.astype(np.uint16) + np.roll(texture, 1, 0) + np.roll(texture, 1, 1)) // 3).astype(np.uint8)
    partial = path.with_suffix(".partial.mp4")
    rate = 16000
    with av.open(str(partial), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"g": str(gop), "sc_threshold": "0", "preset": "veryfast", "crf": "26"}
        audio = container.add_stream("aac", rate=rate, layout="mono")
        samples_per_frame = rate // fps
        for index in range(int(minutes * 60 * fps)):
            x, y = (index * 2) % width, (index // 3) % height
            image = np.ascontiguousarray(texture[y : y + height, x : x + width])
            sx, sy = int((np.sin(index / 20) + 1) * (width - 60) / 2), int((np.cos(index / 33) + 1) * (height - 60) / 2)
            image[sy : sy + 60, sx : sx + 60] = (230, 40, 40)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
            t = (index * samples_per_frame + np.arange(samples_per_frame)) / rate
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            audio_frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            audio_frame.sample_rate, audio_frame.pts, audio_frame.time_base = rate, index * samples_per_frame, Fraction(1, rate)
            container.mux(audio.encode(audio_frame))
        container.mux(video.encode())
        container.mux(audio.encode())
    partial.replace(path)
    return path


def best_of(repeats: int, function) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=8, help="clips per chunk of the dense pass (default: 8, the pipeline's)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    path = make_test_video(RESULTS / f"bench_{args.minutes:g}min_480x360_30fps.mp4", minutes=args.minutes)

    info = probe(path)
    grid = clip_grid(info)
    chosen = grid.subset(np.linspace(0, len(grid) - 1, args.clips).round().astype(int))

    def selected() -> None:
        video = probe(path)
        clips = clip_grid(video).subset(chosen.index)
        decode_clips(path, clips, size=(112, 112), info=video)

    def everything() -> None:
        with av.open(str(path)) as container:
            container.streams.video[0].thread_type = "AUTO"
            for frame in container.decode(video=0):
                frame.to_ndarray(format="rgb24", width=112, height=112)

    def dense_in_chunks() -> None:
        for _ in decode_in_file_order(path, grid, info=info, size=(112, 112), chunk=args.chunk):
            pass

    probe_s = best_of(args.repeats, lambda: probe(path))
    dense_s = best_of(args.repeats, dense_in_chunks)
    selected_s = best_of(args.repeats, selected)
    full_s = best_of(args.repeats, everything)
    report = {
        "video": path.name,
        "frames": info.frames,
        "clips": len(grid),
        "probe_s": round(probe_s, 4),
        "probe_grid_decode_10_clips_s": round(selected_s, 3),
        "decode_all_frames_rgb112_s": round(full_s, 3),
        "speedup": round(full_s / selected_s, 1),
        f"every_clip_in_chunks_of_{args.chunk}_s": round(dense_s, 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
