"""``scsampler manifest DATASET ANNOTATIONS VIDEO_DIR -o manifest.csv``: a manifest from official annotation files."""

from __future__ import annotations

import argparse
from pathlib import Path

from scsampler.cli._common import add_command, add_output_flags, print_json

DESCRIPTION = """\
Write the manifest (path,label,split) of a real dataset from its official annotation files and
a folder of downloaded videos, with classes.txt (the full class list) and, for -o NAME.csv,
NAME.missing.csv (the videos not found: counted and listed, never an error) beside it.
VIDEO_DIR is walked once; a video is found by its file name without extension (.mp4, .mkv,
.webm or .avi) in any subfolder (per label or per split). Paths in the manifest are relative
to its folder.

DATASET and what ANNOTATIONS holds:
  kinetics400  the official CSVs (label,youtube_id,time_start,time_end,split): a folder holding
               train.csv, validate.csv, test.csv (or names ending that way), or one CSV file.
               Files are named {youtube_id}_{time_start:06d}_{time_end:06d} as the common
               downloaders write them (or just {youtube_id}). --splits paper (the default, as
               in the paper: train on train, test on validate) maps train -> train and
               validate -> test and leaves the official test rows out; --splits official maps
               train -> train, validate -> val, test -> test.
  sports1m     a folder with labels.txt (one class per line, line 1 is index 0) and
               train_partition.txt / test_partition.txt (lines "URL i,j,..." of label indices).
               Files are named {youtube_id}. A video with several labels gets the first as
               its label; the manifest's labels column keeps all of them, joined by "|".
  minisports   a folder with train.txt, val.txt, test.txt (at least one), lines "ID LABEL": a
               YouTube id (or watch URL), whitespace, the class name. With a labels.txt beside
               them (Sports-1M's), LABEL may be a 0-based index into it and classes.txt is that
               list. Files are named {youtube_id}.

It fails, naming the file and the problem, on an annotation file that cannot be read or breaks
its format, and when none of the videos is in VIDEO_DIR; then it writes nothing."""


def register(subparsers) -> None:
    from scsampler.data.datasets import DATASETS, KINETICS_SPLITS

    parser = add_command(
        subparsers,
        "manifest",
        help="write a dataset manifest from official annotation files (kinetics400, sports1m, minisports)",
        description=DESCRIPTION,
        example="scsampler manifest kinetics400 data/kinetics400/annotations data/kinetics400/videos -o data/k400.csv",
    )
    parser.add_argument("dataset", metavar="DATASET", choices=DATASETS, help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("annotations", metavar="ANNOTATIONS", type=Path, help="the official annotation folder (kinetics400: or one CSV)")
    parser.add_argument("video_dir", metavar="VIDEO_DIR", type=Path, help="folder of the downloaded videos (searched with its subfolders)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="MANIFEST", help="the manifest CSV to write")
    parser.add_argument(
        "--splits", choices=list(KINETICS_SPLITS), default=None,
        help="kinetics400 only: paper (default: train -> train, validate -> test, official test left out) "
        "or official (train, validate -> val, test)",
    )
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from scsampler.data.dataset_manifest import write_dataset_manifest
    from scsampler.data.datasets import read_annotations

    annotations = read_annotations(args.dataset, args.annotations, splits=args.splits)
    summary = write_dataset_manifest(annotations, args.video_dir, args.output)
    if args.json:
        print_json(summary.to_dict())
    elif not args.quiet:
        per_split = ", ".join(f"{split} {count}" for split, count in summary.videos.items())
        missing = sum(summary.missing.values())
        total = missing + sum(summary.videos.values())
        print(f"{summary.manifest}: {sum(summary.videos.values())} videos ({per_split}), {summary.classes} classes")
        print(f"missing: {missing} of {total} videos ({100 * missing / total:.1f}%), listed in {summary.missing_file}")
        for reason, count in summary.skipped.items():
            print(f"left out: {count} annotation rows ({reason})")
    return 0
