"""``scsampler signals VIDEO -o OUT``: extract a video's cheap per-clip signals to a file."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from scsampler._atomic import atomic_output
from scsampler.cli._common import add_command, add_output_flags, positive_int, print_json
from scsampler.errors import UsageError
from scsampler.signals import DEFAULT_SIGNALS, extract_signals, parse_signal_names
from scsampler.video import clip_grid, probe


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "signals",
        help="extract cheap per-clip signals (keyframes, motion vectors, residual, log-MEL audio, clip frames)",
        description="Extract the cheap signals of every clip of VIDEO without decoding it to RGB, and save "
        "them with torch.save to OUT (a dict of tensors; absent signals are None).",
        example="scsampler signals ../shared/videos/vtest.avi -o vtest.signals.pt --signals iframe,mv --json",
    )
    parser.add_argument("video", metavar="VIDEO", help="video file")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (.pt)")
    parser.add_argument(
        "--signals",
        default=",".join(DEFAULT_SIGNALS),
        help="comma-separated: iframe, motion (or mv), residual, audio, clipframe (a frame from inside each clip, "
        "taken from the motion pass) (default: iframe,motion,audio)",
    )
    parser.add_argument("--frames-per-clip", type=positive_int, default=16, help="clip length T in frames (16)")
    parser.add_argument("--iframe-size", type=int, nargs=2, default=(112, 112), metavar=("H", "W"), help="I-frame size (112 112)")
    parser.add_argument(
        "--clipframe-size", type=int, nargs=2, default=(112, 112), metavar=("H", "W"), help="clip frame size (112 112)"
    )
    parser.add_argument("--cache-dir", default=None, help="reuse and store signals in this folder")
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    names = parse_signal_names(args.signals)
    output = Path(args.output)
    if output.is_dir():
        raise UsageError(f"-o must name a file, got the folder {str(output)!r}; for example -o {output / 'signals.pt'}.")
    started = time.perf_counter()
    info = probe(args.video)
    grid = clip_grid(info, frames_per_clip=args.frames_per_clip)
    signals = extract_signals(
        args.video,
        grid,
        signals=names,
        info=info,
        iframe_size=tuple(args.iframe_size),
        clipframe_size=tuple(args.clipframe_size),
        cache_dir=args.cache_dir,
    )
    seconds = time.perf_counter() - started
    payload = {
        "path": signals.path,
        "clip_index": torch.from_numpy(grid.index.copy()),
        "start_s": torch.from_numpy(grid.start_s.copy()),
        "end_s": torch.from_numpy(grid.end_s.copy()),
        "iframe": signals.iframe,
        "clipframe": signals.clipframe,
        "motion": signals.motion,
        "motion_source": signals.motion_source,
        "residual": signals.residual,
        "audio": signals.audio,
        "audio_absent_reason": signals.audio_absent_reason,
    }
    with atomic_output(output) as temporary:
        torch.save(payload, temporary)
    summary = {
        "path": signals.path,
        "output": str(output),
        "clips": len(grid),
        "signals": {
            name: (list(getattr(signals, name).shape) if getattr(signals, name) is not None else None) for name in names
        },
        "motion_source": signals.motion_source,
        "audio_absent_reason": signals.audio_absent_reason,
        "seconds": round(seconds, 3),
    }
    if args.json:
        print_json(summary)
    elif not args.quiet:
        print(f"{signals.path}: {len(grid)} clips -> {output} ({seconds:.2f} s)")
        for name, shape in summary["signals"].items():
            note = ""
            if name == "motion" and signals.motion_source:
                note = f"  (from {signals.motion_source.replace('_', ' ')})"
            if name == "audio" and shape is None:
                note = f"  ({signals.audio_absent_reason})"
            print(f"  {name:<9} {'absent' if shape is None else 'x'.join(map(str, shape))}{note}")
    return 0
