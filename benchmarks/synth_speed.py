"""How long the synthetic benchmark takes to make, and how hard its distractors make naive saliency.

    .venv/bin/python benchmarks/synth_speed.py [--videos 24] [--classes 4] [--min-seconds 180]
        [--max-seconds 240] [--workers 1] [--check-videos 6] [--out DIR]

1. Generates a demo-size set (default 24 videos of 180-240 s, 160x120, 16 fps) into a
   fresh temporary folder (or --out, which must be empty) and reports wall time, seconds of
   video made per wall second, and size on disk.
2. On the first --check-videos videos with audio, decodes everything and scores each 1 s
   clip (16 frames) with two zero-training cues: motion energy (mean absolute difference
   of consecutive grey frames) and loudness (audio RMS). It prints how many of each cue's
   top-10 clips per video overlap an action, against the share expected by chance, and
   the same for a cue that the action alone carries (saturated pixels), as a ceiling.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from scsampler.data import make_synthetic_benchmark, read_manifest, read_segments

TOP_K = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-seconds", type=int, default=180)
    parser.add_argument("--max-seconds", type=int, default=240)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--check-videos", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None, help="keep the set here (default: a temporary folder, deleted)")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="synth_speed_")) / "bench"
    if out.exists() and any(out.iterdir()):
        parser.error(f"--out {out} is not empty; the timing needs a fresh folder")
    try:
        started = time.perf_counter()
        manifest_path = make_synthetic_benchmark(
            out, videos=args.videos, classes=args.classes, seed=args.seed,
            min_seconds=args.min_seconds, max_seconds=args.max_seconds, workers=args.workers,
        )
        wall_s = time.perf_counter() - started
        record = json.loads((out / "synth.json").read_text())
        seconds = sum(video["seconds"] for video in record["videos"])
        megabytes = sum(f.stat().st_size for f in (out / "videos").iterdir()) / 1e6
        print(f"generation: {args.videos} videos, {args.min_seconds}-{args.max_seconds} s, 160x120 @ 16 fps, "
              f"workers={args.workers}")
        print(f"  {seconds} s of video ({seconds / 60:.1f} min) in {wall_s:.1f} s wall "
              f"= {seconds / wall_s:.1f} s of video per wall second; {megabytes:.1f} MB on disk")
        print(f"  videos with audio: {sum(v['has_audio'] for v in record['videos'])}/{len(record['videos'])}")
        _naive_saliency(manifest_path, limit=args.check_videos)
    finally:
        if args.out is None:
            shutil.rmtree(out.parent, ignore_errors=True)


def _naive_saliency(manifest_path: Path, *, limit: int) -> None:
    manifest = read_manifest(manifest_path)
    segments = read_segments(manifest_path.parent / "segments.csv")
    hits = {"chance": [], "motion energy": [], "loudness": [], "saturation (ceiling)": []}
    checked = 0
    for entry in manifest:
        if checked == limit:
            break
        motion, saturation, loudness = _clip_cues(entry.path)
        if loudness is None:
            continue
        checked += 1
        clips = len(motion)
        actions = [s for s in segments[entry.path] if s.is_action]
        is_action = np.array([any(a.start_s < c + 1 and c < a.end_s for a in actions) for c in range(clips)])
        hits["chance"].append(is_action.mean() * TOP_K)
        for name, score in (("motion energy", motion), ("loudness", loudness), ("saturation (ceiling)", saturation)):
            hits[name].append(is_action[np.argsort(-score, kind="stable")[:TOP_K]].sum())
    print(f"naive saliency on {checked} videos with audio: action clips among each cue's top-{TOP_K} (mean per video)")
    for name, values in hits.items():
        print(f"  {name:<22} {np.mean(values):5.2f} / {TOP_K}")


def _clip_cues(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per 1 s clip (16 frames): motion energy, saturated-pixel share, and audio RMS (None without audio)."""
    grey, saturated = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            rgb = frame.to_ndarray(format="rgb24").astype(np.int16)
            grey.append(rgb.mean(axis=2))
            saturated.append(((rgb.max(axis=2) - rgb.min(axis=2)) > 128).mean())
    grey_frames = np.stack(grey)
    difference = np.concatenate([[0.0], np.abs(np.diff(grey_frames, axis=0)).mean(axis=(1, 2))])
    clips = len(difference) // 16
    motion = difference[: clips * 16].reshape(clips, 16).mean(axis=1)
    saturation = np.asarray(saturated)[: clips * 16].reshape(clips, 16).mean(axis=1)
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return motion, saturation, None
        stream = container.streams.audio[0]
        samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(stream)])
        rate = stream.codec_context.sample_rate
    audio = samples[: clips * rate].reshape(clips, rate)
    return motion, saturation, np.sqrt((audio**2).mean(axis=1))


if __name__ == "__main__":
    main()
