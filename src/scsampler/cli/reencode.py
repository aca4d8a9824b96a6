"""``scsampler reencode IN_DIR OUT_DIR``: CoViAR's compressed inputs (MPEG-4 Part 2, 340x256, GOP 12)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from scsampler.cli._common import add_command, add_output_flags, frame_size, print_json

SUMMARY = "re-encode videos as CoViAR's compressed inputs (MPEG-4 Part 2, 340x256, a keyframe every 12 frames)"


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "reencode",
        help=SUMMARY,
        description="Re-encode every video under IN_DIR into OUT_DIR (same relative paths, .mp4) the way the paper's "
        "compressed-video inputs were made (after CoViAR): MPEG-4 Part 2 at 340x256, a keyframe every 12 frames and "
        "no B-frames, constant quantiser 1 (ffmpeg's -q:v 1); the audio stream is copied as it is. A manifest.csv, "
        "segments.csv and classes.txt in IN_DIR are written to OUT_DIR with their paths pointing at the re-encoded "
        "files. Videos already re-encoded are skipped (a rerun resumes); a video that fails is reported and the "
        "others still finish (exit status 1).",
        example="scsampler reencode runs/demo/data/long runs/demo/data/long-mpeg4 --workers 2",
    )
    parser.add_argument("in_dir", metavar="IN_DIR", type=Path, help="folder of videos (searched recursively)")
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to write (created if missing)")
    parser.add_argument("--size", type=frame_size, default=(340, 256), metavar="WxH", help="frame size (340x256)")
    parser.add_argument("--gop", type=int, default=12, help="frames from one keyframe to the next (12)")
    parser.add_argument("--quality", type=int, default=1, help="MPEG-4 quantiser, 1 (best, CoViAR's) to 31 (1)")
    parser.add_argument("--no-audio", action="store_true", help="drop the audio stream instead of copying it")
    parser.add_argument("--workers", type=int, default=1, help="videos re-encoded at once, one process each (1)")
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from tqdm import tqdm

    from scsampler.video.reencode import ReencodeSettings, reencode_folder

    settings = ReencodeSettings(size=args.size, gop=args.gop, quality=args.quality, audio=not args.no_audio)
    started = time.perf_counter()
    bar = tqdm(desc="reencode", unit="video", leave=False, disable=args.quiet or not sys.stderr.isatty())
    try:
        results = reencode_folder(
            args.in_dir, args.out_dir, settings, workers=args.workers,
            progress=lambda done, total: (setattr(bar, "total", total), bar.update(done - bar.n)),
        )  # fmt: skip
    finally:
        bar.close()
    failed = [r for r in results if r.error]
    summary = {
        "out_dir": str(args.out_dir),
        "videos": len(results),
        "reencoded": sum(1 for r in results if not r.error and not r.skipped),
        "skipped": sum(1 for r in results if r.skipped),
        "failed": [{"path": str(r.source), "error": r.error} for r in failed],
        "wall_s": round(time.perf_counter() - started, 3),
    }
    if args.json:
        print_json(summary)
    else:
        for result in failed:
            print(f"error: {result.error}", file=sys.stderr)
        if not args.quiet:
            print(
                f"{summary['reencoded']} re-encoded, {summary['skipped']} already there, {len(failed)} failed "
                f"into {args.out_dir} in {summary['wall_s']:.1f} s"
            )
    return 1 if failed else 0

