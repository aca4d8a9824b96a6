"""``scsampler info VIDEO``: what a video holds, measured from its packets."""

from __future__ import annotations

from scsampler.cli._common import add_command, add_output_flags, print_json
from scsampler.errors import ScsamplerError
from scsampler.video import count_full_clips, probe


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
    parser.add_argument("--frames-per-clip", type=int, default=16, help="clip length T used to count clips (16)")
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
        summary["clips"] = count_full_clips(info.frames, args.frames_per_clip)
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
        ("clips of 16 frames", str(summary["clips"])),
    ]
    print(summary["path"])
    for name, value in rows:
        print(f"  {name:<20} {value}")
    for warning in summary["warnings"]:
        print(f"  warning: {warning}")
