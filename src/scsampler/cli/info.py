"""``scsampler info VIDEO``: what a video holds, measured from its packets."""

from __future__ import annotations

from scsampler.cli._common import add_command, add_output_flags, positive_int, print_json
from scsampler.errors import ScsamplerError
from scsampler.video import clip_grid, probe


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "info",
        help="describe videos: codec, size, frames, duration, keyframes, audio, clips",
        description="Describe each VIDEO from its demuxed packets (frame count and duration as found, "
        "not as the header claims).",
        example="scsampler info ../shared/videos/vtest.avi --json",
    )
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files")
    parser.add_argument(
        "--frames-per-clip", type=positive_int, default=16,
        help="clip length T used to count clips (16); a video shorter than one clip counts as 1 padded clip, as `select` scores it",
    )
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    failed = 0
    for path in args.videos:
        try:
            info = probe(path)
        except ScsamplerError as error:
            failed += 1
            if args.json:
                print_json({"path": path, "error": str(error)})
            else:
                print(f"error: {error}")
            continue
        summary = info.to_dict()
        # the grid `select`, `signals` and `classify` use, so that every command counts the same clips
        summary["clips"] = len(clip_grid(info, frames_per_clip=args.frames_per_clip))
        summary["frames_per_clip"] = args.frames_per_clip
        summary["error"] = None
        if args.json:
            print_json(summary)
        else:
            _print_table(summary)
    return 1 if failed else 0


def _print_table(summary: dict) -> None:
    audio = summary["audio"]
    audio_text = f"{audio['codec']} {audio['sample_rate']} Hz, {audio['channels']} ch" if audio else "none"
    rows = [
        ("container / codec", f"{summary['container']} / {summary['codec']}"),
        ("frame size", f"{summary['width']}x{summary['height']}"),
        ("frames", f"{summary['frames']} at {summary['fps']:.3f} fps"),
        ("duration", f"{summary['duration_s']:.3f} s"),
        ("keyframes", str(summary["keyframes"])),
        ("motion vectors", "yes" if summary["motion_vectors"] else "no (frame-difference fallback)"),
        ("audio", audio_text),
        (f"clips of {summary['frames_per_clip']} frames", str(summary["clips"])),
    ]
    print(summary["path"])
    for name, value in rows:
        print(f"  {name:<20} {value}")
    for warning in summary["warnings"]:
        print(f"  warning: {warning}")
