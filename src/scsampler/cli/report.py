"""``scsampler report RUN_DIR``: re-render report.html (tables, figures, timelines) from a run directory."""

from __future__ import annotations

from pathlib import Path

from scsampler.cli._common import add_command, print_json


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "report",
        help="write RUN_DIR/report.html from the tables of an evaluation run",
        description="Draw the evaluation figures into RUN_DIR/figures/ and write RUN_DIR/report.html: one "
        "self-contained page (figures embedded, no network) with the main table, the runtime at paper "
        "scale, every figure and a saliency timeline per video with thumbnails of its top-3 and "
        "bottom-3 clips. Reads only the tables `scsampler evaluate` wrote (and speedup_vs_length.csv, "
        "which `benchmarks/speedup_vs_length.py --out RUN_DIR` writes).",
        example="scsampler report runs/demo --no-thumbnails",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="folder written by `scsampler evaluate -o`")
    parser.add_argument("--title", default="SCSampler evaluation", help="page title")
    parser.add_argument("--no-thumbnails", dest="thumbnails", action="store_false",
                        help="do not decode clip thumbnails (faster; timelines are still drawn)")
    parser.add_argument("--max-videos", type=int, default=None, metavar="N",
                        help="draw timelines for at most N videos (default: all)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from scsampler.evaluation.report import render_report  # matplotlib loads only for this command

    summary = render_report(args.run_dir, title=args.title, thumbnails=args.thumbnails, max_videos=args.max_videos)
    if args.json:
        print_json(summary.to_dict())
        return 0
    print(f"report: {summary.path}")
    print(f"  {len(summary.figures)} figures, {summary.videos} video timelines, {summary.thumbnails} thumbnails")
    for note in summary.notes:
        print(f"  note: {note}")
    return 0
