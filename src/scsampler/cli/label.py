"""``scsampler label MANIFEST|FOLDER --classifier NAME|PATH -o targets.parquet``: saliency targets for sampler training."""

from __future__ import annotations

from pathlib import Path

from scsampler.cli._common import (
    add_command,
    add_engine_flags,
    add_output_flags,
    check_engine_flags,
    device_type,
    positive_int,
    print_json,
    progress,
)


def fraction(text: str) -> float:
    """An argparse type: a number in [0, 1)."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise ValueError(text)
    return value


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "label",
        help="run the clip classifier densely once over a manifest: per-clip saliency targets (Parquet)",
        description="Run the clip classifier over every clip of every video of MANIFEST and store, per clip, "
        "the true class's probability, the top-1 class, whether it is correct, the logits, the classifier's own "
        "confidence (`confidence`: its max softmax probability; `margin`: top-1 minus top-2 probability; `contrast`: "
        "KL divergence of the clip's softmax from its video's mean softmax), and whether "
        "it overlaps an action segment (when a segments.csv sits beside MANIFEST, or in FOLDER). Unlabelled videos "
        "(a FOLDER of videos, searched recursively, or a manifest without a label column or with every label empty) "
        "take the classifier checkpoint's classes and get an empty label, label_index -1, and no true-class "
        "probability or correctness: train on them with `train-sampler --target confidence|margin|contrast`. A folder's "
        "videos are all in the train split (train-sampler then holds out its own validation videos, with a warning) "
        "unless --val-fraction moves a seeded share of whole videos to val. Finished videos "
        "are kept as parts and skipped on a rerun; the output is written atomically. Under "
        "`torchrun --nproc_per_node=N -m scsampler label ...` the videos are shared over the processes; with "
        "--engine ray they stream over Ray workers instead.",
        example="scsampler label data/synth/manifest.csv --classifier runs/tiny/best.pt --split train,val -o runs/targets.parquet\n"
        "  scsampler label footage/ --classifier runs/tiny/best.pt --val-fraction 0.2 -o runs/unlabelled.parquet",
    )
    parser.add_argument(
        "manifest", type=Path, metavar="MANIFEST|FOLDER",
        help="CSV with path,label[,split] (label optional: see above), or a folder of videos (unlabelled)",
    )
    parser.add_argument(
        "--classifier", required=True, metavar="NAME|PATH",
        help="a scsampler classifier checkpoint, or a registry name (with --weights)",
    )
    parser.add_argument("--weights", default=None, help="weights for a classifier given by name: a pretrained name or a file")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="TARGETS", help="Parquet file to write")
    parser.add_argument(
        "--split", default=None, metavar="SPLITS",
        help="label only these splits, comma-separated: train, val, test (e.g. train,val; all by default)",
    )
    parser.add_argument(
        "--val-fraction", type=fraction, default=0.0, metavar="F",
        help="move a seeded share F of the train (or unsplit) videos to val, whole videos; a folder's are all train (0: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the --val-fraction hold-out (0)")
    parser.add_argument(
        "--batch-size", type=positive_int, default=None,
        help="clips per classifier forward pass and decoded at a time (default: the classifier's own: 1 on a CPU for "
        "full-size networks, 8 for the tiny ones and on a GPU; 8 decoded at a time)",
    )  # fmt: skip
    add_engine_flags(parser, runs="the dense pass (each torchrun process's share, with local)")
    parser.add_argument(
        "--device", type=device_type, default=None,
        help="cpu, cuda, cuda:N or mps (cuda when available; under torchrun each process uses cuda:LOCAL_RANK)",
    )
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from scsampler.training.labelling import label_videos

    check_engine_flags(args)
    summary = label_videos(
        args.manifest,
        classifier=args.classifier,
        output=args.output,
        weights=args.weights,
        splits=[name.strip() for name in args.split.split(",") if name.strip()] if args.split else None,
        val_fraction=args.val_fraction,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        engine=args.engine,
        workers=args.workers,
        progress=lambda items, total: progress(items, total=total, desc="label", quiet=args.quiet),
    )
    if summary.rank != 0:  # under torchrun, rank 0 prints
        return 0
    if args.json:
        print_json(
            {
                "output": str(summary.output),
                "videos": summary.videos,
                "labelled": summary.labelled,
                "unlabelled_videos": summary.unlabelled_videos,
                "resumed": summary.resumed,
                "clips": summary.clips,
                "errors": [{"path": p, "error": e} for p, e in summary.errors],
            }
        )
    else:
        for path, error in summary.errors:
            print(f"error: {error}")
        if not args.quiet:
            print(
                f"{summary.output}: {summary.clips} clips of {summary.videos - len(summary.errors)} videos "
                f"({summary.labelled} labelled now, {summary.resumed} done before, {len(summary.errors)} failed)"
            )
    return 1 if summary.errors else 0
