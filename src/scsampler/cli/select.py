"""``scsampler select VIDEO... --sampler NAME_OR_PATH --k 10``: which clips a sampler chooses, with seconds."""

from __future__ import annotations

import shutil
import sys

import numpy as np

from scsampler.cli._common import add_backend_flag, add_command, add_output_flags, positive_int, print_json, progress
from scsampler.errors import ScsamplerError
from scsampler.samplers.base import resolve_k_and_stride
from scsampler.samplers.build import build_sampler
from scsampler.samplers.combine import COMBINATIONS
from scsampler.samplers.composite import score_and_select
from scsampler.types import ClipScores, ClipSelection
from scsampler.video import clip_grid, probe

BLOCKS = "▁▂▃▄▅▆▇█"


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "select",
        help="choose the K most salient clips of videos, with their seconds and scores",
        description="Score the clips of each VIDEO with a sampler (a registered name or a saved sampler's path) "
        "and print the K it chooses. With --audio-sampler, the two rankings are combined (--combine). "
        "On a terminal, a timeline of the whole video shows the scores (▁ low, █ high) and ^ marks the "
        "chosen clips.",
        example="scsampler select ../shared/videos/vtest.avi --sampler motion --k 5 --stride 2",
    )
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files")
    parser.add_argument("--sampler", required=True, help="visual sampler: a registered name, or a saved sampler's path")
    parser.add_argument("--k", type=int, default=None, help="clips to choose (10, or a saved sampler's own)")
    parser.add_argument(
        "--stride", type=int, default=None, help="score only clips 0, N, 2N, ... (1, or a saved sampler's own)"
    )
    parser.add_argument("--audio-sampler", metavar="NAME_OR_PATH", help="audio sampler to combine with --sampler")
    parser.add_argument(
        "--combine", choices=COMBINATIONS, default=None, help="how the two rankings are combined (union)"
    )
    parser.add_argument("--k-prime", type=int, default=None, help="AV-union-list: clips from the visual ranking (80%% of K)")
    parser.add_argument("--alpha", type=float, default=None, help="convex combinations: weight of the visual side (0.5)")
    parser.add_argument("--min-gap", type=float, default=None, metavar="SECONDS", help="seconds between chosen clips (0)")
    parser.add_argument("--frames-per-clip", type=positive_int, default=16, help="clip length T in frames (16)")
    add_backend_flag(parser, "sampler")
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    # "own" when --k/--stride are left out: a saved composite's K and N, else 10 and 1
    k = "own" if args.k is None else args.k
    stride = "own" if args.stride is None else args.stride
    sampler = build_sampler(
        args.sampler, audio=args.audio_sampler, combination=args.combine, k=k, stride=stride, k_prime=args.k_prime,
        alpha=args.alpha, min_gap_s=args.min_gap, backend=args.sampler_backend,
    )  # fmt: skip
    k, stride = resolve_k_and_stride(sampler, k=k, stride=stride)  # bad options stop before any video is read
    show_timeline = not args.json and sys.stdout.isatty()
    failed = 0
    for path in progress(args.videos, total=len(args.videos), desc="select", quiet=args.quiet):
        try:
            info = probe(path)
            grid = clip_grid(info, frames_per_clip=args.frames_per_clip)
            sampled = score_and_select(sampler, info, grid, k=k, stride=stride)
        except (ScsamplerError, OSError) as error:
            failed += 1
            message = str(error)
            if args.json:
                print_json({"path": str(path), "clips": [], "scored": 0, "error": message})
            else:
                print(f"error: {message}")
            continue
        selection = sampled.selection
        if args.json:
            print_json(
                {
                    "path": str(path),
                    "sampler": sampler.name,
                    "num_clips": selection.num_clips,
                    "clips": selection.to_dicts(),
                    "scored": selection.scored,
                    "error": None,
                }
            )
            continue
        _print_selection(str(path), sampler.name, selection)
        if show_timeline:
            width = max(20, min(shutil.get_terminal_size().columns - 12, 100))
            for line in timeline(sampled.scores, selection, width=width):
                print(f"  {line}")
    return 1 if failed else 0


def _print_selection(path: str, sampler_name: str, selection: ClipSelection) -> None:
    print(
        f"{path}: {len(selection)} of {selection.num_clips} clips chosen by {sampler_name} "
        f"({selection.scored} scored)"
    )
    print(f"  {'rank':>4}  {'clip':>5}  {'start_s':>9}  {'end_s':>9}  score")
    for rank, clip in enumerate(selection.to_dicts(), start=1):
        score = "-" if clip["score"] is None else f"{clip['score']:.4g}"
        print(f"  {rank:>4}  {clip['index']:>5}  {clip['start_s']:>9.3f}  {clip['end_s']:>9.3f}  {score}")


def timeline(scores: ClipScores | None, selection: ClipSelection, *, width: int = 80) -> list[str]:
    """Two text lines over the whole video: scores as ▁..█ (scaled to this video), ^ under chosen clips.

    Each column covers ``num_clips / width`` clips (or one clip per column for
    short videos) and shows the highest score among its scored clips; a
    column with no scored clip is a space.
    """
    num_clips = selection.num_clips
    columns = max(1, min(width, num_clips))
    column_of = lambda index: (np.asarray(index, dtype=np.int64) * columns) // max(num_clips, 1)  # noqa: E731
    levels = np.full(columns, -1, dtype=np.int64)
    if scores is not None and len(scores):
        values = scores.scores.astype(np.float64)
        finite = np.isfinite(values)
        low = values[finite].min() if finite.any() else 0.0
        high = values[finite].max() if finite.any() else 0.0
        with np.errstate(invalid="ignore", over="ignore"):
            span = (values - low) / (high - low) if high > low else np.ones_like(values)
        scaled = np.where(finite, span, np.where(values > 0, 1.0, 0.0))
        level = np.clip(np.round(scaled * (len(BLOCKS) - 1)), 0, len(BLOCKS) - 1).astype(np.int64)
        np.maximum.at(levels, column_of(scores.index), level)
    bars = "".join(BLOCKS[v] if v >= 0 else " " for v in levels)
    marks = [" "] * columns
    for column in column_of(selection.index):
        marks[int(column)] = "^"
    return [bars, "".join(marks).rstrip()]
