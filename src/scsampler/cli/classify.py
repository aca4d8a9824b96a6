"""``scsampler classify VIDEO...``: a video-level label from K sampled clips."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scsampler.batch_inference import ClassifyOptions, classify_videos
from scsampler.cli._common import (
    add_backend_flag,
    add_command,
    add_engine_flags,
    add_output_flags,
    check_engine_flags,
    device_type,
    positive_int,
    print_json,
    progress,
)
from scsampler.early_exit import DEFAULT_K_MAX, DEFAULT_K_RULE, DEFAULT_THRESHOLDS, K_RULES
from scsampler.errors import UsageError
from scsampler.inference import AGGREGATES
from scsampler.models import list_models
from scsampler.pipeline.results import ResultStore, options_identity
from scsampler.samplers import list_samplers


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "classify",
        help="classify videos from K sampled clips: top-5 labels, clips used, time spent",
        description="For each VIDEO: choose K clips with the sampler, decode only those, run the clip "
        "classifier on them and average its softmax into top-5 video labels. A file that fails is "
        "reported on its own line and the others still run; the exit status is 1 when any failed.",
        example="scsampler classify ../shared/videos/vtest.avi --classifier r2plus1d_18 "
        "--weights r2plus1d_18-91a641e6.pth --sampler uniform --k 10 --json\n"
        "  scsampler classify runs/demo/data/long/videos/*.mp4 --weights runs/demo/classifier/best.pt "
        "--sampler runs/demo/visual-sampler/sampler --engine ray --workers 2 -o runs/results.parquet\n"
        "  scsampler classify match.mp4 --weights runs/demo/classifier/best.pt --sampler runs/demo/visual-sampler/sampler "
        "--k auto --k-max 10 --k-threshold 0.8 --json",
    )
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files")
    parser.add_argument(
        "--classifier",
        metavar="NAME",
        help=f"clip classifier: one of {', '.join(list_models())}; may be left out when --weights is a "
        "scsampler checkpoint (it names its model)",
    )
    parser.add_argument(
        "--weights",
        metavar="PATH",
        help="a local weights file (state dict or scsampler checkpoint; for ir_csn_* and r2plus1d_50 also a "
        "VMZ or PyTorchVideo file as published), or a pretrained weights name of the classifier (KINETICS400_V1 "
        "for torchvision's, VMZ_SPORTS1M_FT_KINETICS400, PTV_KINETICS400_16X4, ... or DEFAULT; downloaded once; "
        "needs network). With --classifier and no --weights "
        "the classifier is randomly initialised (a warning says so); give at least one of the two.",
    )
    parser.add_argument(
        "--sampler",
        default="uniform",
        metavar="NAME",
        help=f"how to choose clips: {', '.join(n for n in list_samplers() if n != 'oracle')}, or a saved "
        "sampler's path (default: uniform)",
    )
    parser.add_argument(
        "--k",
        type=k_or_auto,
        help="clips to classify per video (default: a saved sampler's own K, else 10), or 'auto': classify clips in "
        "the sampler's order, one batch at a time, and stop once the running prediction (mean softmax) is confident "
        "(--k-threshold) or at --k-max clips; --json reports each video's k_used",
    )
    parser.add_argument(
        "--k-max", type=positive_int, default=DEFAULT_K_MAX, help=f"with --k auto: the most clips per video (default: {DEFAULT_K_MAX})"
    )
    parser.add_argument(
        "--k-threshold",
        type=float,
        metavar="T",
        help="with --k auto: stop when the confidence reaches T (default: "
        + ", ".join(f"{value} for {rule}" for rule, value in DEFAULT_THRESHOLDS.items())
        + "; `scsampler evaluate` chooses one on the validation split and prints it)",
    )
    parser.add_argument(
        "--k-rule",
        choices=K_RULES,
        default=DEFAULT_K_RULE,
        help="with --k auto: confidence is the top-1 probability (prob, default) or top-1 minus top-2 (margin)",
    )
    parser.add_argument(
        "--stride", type=positive_int, help="sampling stride N: score every N-th clip (default: a saved sampler's own N, else 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random sampler (default: 0)")
    parser.add_argument(
        "--aggregate",
        choices=AGGREGATES,
        default="softmax_mean",
        help="how clip outputs become the video's: mean of softmax (default) or softmax of mean logits",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        help="clips per classifier batch (default: the classifier's own: 1 on a CPU for full-size networks, whose "
        "cost per clip is least there, 8 for the tiny ones and on a GPU; with --k auto 1, because it checks only "
        "after a whole batch: a batch of B can stop after B, 2B, ... clips)",
    )
    parser.add_argument(
        "--device", type=device_type, default="cpu", help="torch device for the classifier: cpu, cuda, cuda:N or mps (default: cpu)"
    )
    add_engine_flags(parser, runs="classification", default=None)
    add_backend_flag(parser, "sampler")
    add_backend_flag(parser, "classifier")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="RESULTS",
        help="also write the results to this Parquet file (path, label, prob, k_used, error, result: the JSON line), "
        "in the order of VIDEO, atomically. Finished videos are kept beside it as they finish, so a rerun of a killed "
        "run with the same settings skips them",
    )
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def k_or_auto(text: str) -> int | str:
    """An argparse ``type`` for ``--k``: a whole number of at least 1, or ``auto`` (K chosen per video)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{error}; or 'auto' to choose K per video") from None


def run(args) -> int:
    auto = args.k == "auto"
    if not auto and (args.k_threshold is not None or args.k_rule != DEFAULT_K_RULE or args.k_max != DEFAULT_K_MAX):
        raise UsageError("--k-max, --k-threshold and --k-rule apply to --k auto only; add --k auto or leave them out.")
    options = ClassifyOptions(
        classifier=args.classifier,
        weights=args.weights,
        sampler=args.sampler,
        sampler_backend=args.sampler_backend,
        k="own" if args.k is None else args.k,  # left out: the sampler's own K (a saved composite's, else 10)
        stride="own" if args.stride is None else args.stride,
        seed=args.seed,
        aggregate=args.aggregate,
        batch_size=args.batch_size,
        device=args.device,
        classifier_backend=args.classifier_backend,
        k_max=args.k_max,
        k_threshold=args.k_threshold,
        k_rule=args.k_rule,
    )
    options.early_exit()  # a bad --k-threshold is a usage error before any model loads
    check_engine_flags(args)
    store = ResultStore(args.output, identity=options_identity(options)) if args.output else None
    results = classify_videos(args.videos, options, workers=args.workers, engine=args.engine, store=store)
    failed = 0
    for result in progress(results, total=len(args.videos), desc="classify", quiet=args.quiet):
        failed += bool(result["error"])
        if args.json:
            print_json(result)
        else:
            _print_result(result)
    if store is not None:
        written = store.finish(args.videos)
        if not args.quiet:
            print(f"{written}: {len(args.videos)} videos ({store.resumed} from an earlier run, {failed} failed)", file=sys.stderr)
    return 1 if failed else 0


def _print_result(result: dict) -> None:
    if result["error"]:
        print(f"error: {result['error']}")
        return
    seconds = result["seconds"]
    timing = ", ".join(f"{name} {seconds[name]:.3f} s" for name in ("sampler", "decode", "classifier"))
    clips_text = f"{len(result['clips'])} clips"
    if result.get("k") == "auto":
        clips_text += (f" (auto: {result['k_rule']} {result['k_confidence']:.3f}, threshold {result['k_threshold']:g}, "
                       f"K-max {result['k_max']})")
    print(f"{result['path']}  ({result['sampler']}: {clips_text}; {timing})")
    for rank, entry in enumerate(result["top5"], start=1):
        print(f"  {rank}. {entry['label']:<32} {entry['prob']:.3f}")
    clips = sorted(result["clips"], key=lambda c: c["index"])
    shown = ", ".join(f"#{c['index']} {c['start_s']:.1f}-{c['end_s']:.1f}s" for c in clips[:12])
    more = f", ... ({len(clips) - 12} more)" if len(clips) > 12 else ""
    print(f"  clips: {shown}{more}")
