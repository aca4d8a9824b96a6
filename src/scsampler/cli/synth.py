"""``scsampler synth OUT_DIR``: write the synthetic untrimmed benchmark."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from scsampler.cli._common import add_command, add_output_flags, frame_size, print_json
from scsampler.data.synth import make_synthetic_benchmark


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "synth",
        help="write the synthetic untrimmed benchmark (H.264/AAC videos, manifest.csv, segments.csv)",
        description="Write N long synthetic videos into OUT_DIR, each labelled with one of C classes and holding "
        "1 to 3 short actions among busy but uninformative stretches (camera pans, a grey moving object, noise, "
        "clicks and loud class-agnostic sounds). Writes OUT_DIR/videos/*.mp4, manifest.csv (path,label,split), "
        "classes.txt, segments.csv (path,start_s,end_s,kind) and synth.json. Deterministic for a seed; a rerun "
        "skips the videos already written.",
        example="scsampler synth runs/synth --videos 6 --classes 3 --seed 0 --min-seconds 20 --max-seconds 30",
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to write (created if missing)")
    parser.add_argument("--videos", type=int, default=24, metavar="N", help="number of videos (24)")
    parser.add_argument("--classes", type=int, default=4, metavar="C", help="number of classes (4)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (0)")
    parser.add_argument("--min-seconds", type=int, default=180, help="shortest video, whole seconds (180)")
    parser.add_argument("--max-seconds", type=int, default=240, help="longest video, whole seconds (240)")
    parser.add_argument("--size", type=frame_size, default=(160, 120), metavar="WxH", help="frame size (160x120)")
    parser.add_argument("--fps", type=int, default=16, help="frames per second (16: a 16-frame clip lasts 1 s)")
    parser.add_argument("--gop", type=int, default=32, help="frames between keyframes (32)")
    parser.add_argument("--workers", type=int, default=1, help="videos encoded at once, one process each (1)")
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    started = time.perf_counter()
    bar = tqdm(total=args.videos, desc="synth", unit="video", leave=False, disable=args.quiet or not sys.stderr.isatty())
    try:
        manifest = make_synthetic_benchmark(
            args.out_dir,
            videos=args.videos,
            classes=args.classes,
            seed=args.seed,
            min_seconds=args.min_seconds,
            max_seconds=args.max_seconds,
            size=args.size,
            fps=args.fps,
            gop=args.gop,
            workers=args.workers,
            progress=lambda done, total: bar.update(done - bar.n),
        )
    finally:
        bar.close()
    wall_s = time.perf_counter() - started
    record = json.loads((args.out_dir / "synth.json").read_text())
    seconds = sum(video["seconds"] for video in record["videos"])
    summary = {
        "out_dir": str(args.out_dir),
        "manifest": str(manifest),
        "segments": str(args.out_dir / "segments.csv"),
        "videos": len(record["videos"]),
        "classes": len(record["classes"]),
        "video_seconds": seconds,
        "wall_s": round(wall_s, 3),
    }
    if args.json:
        print_json(summary)
    elif not args.quiet:
        print(
            f"wrote {summary['videos']} videos ({seconds / 60:.1f} min of video, {summary['classes']} classes) "
            f"to {args.out_dir} in {wall_s:.1f} s\n  manifest: {manifest}\n  segments: {summary['segments']}"
        )
    return 0

