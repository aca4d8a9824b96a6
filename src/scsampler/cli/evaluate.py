"""``scsampler evaluate MANIFEST``: every sampler and baseline on the test split, tables, figures, report."""

from __future__ import annotations

import sys

from scsampler.cli._common import (
    add_backend_flag,
    add_command,
    add_engine_flags,
    add_output_flags,
    check_engine_flags,
    positive_int,
    print_json,
    progress,
)
from scsampler.early_exit import DEFAULT_K_MAX, DEFAULT_K_RULE, K_RULES
from scsampler.evaluation.k_column import k_text
from scsampler.evaluation.runner import EvaluationConfig, evaluate
from scsampler.evaluation.runtime import HEAVY_CLASSIFIER
from scsampler.models import Classifier
from scsampler.samplers.selection import DEFAULT_K
from scsampler.pipeline import DEFAULT_CHUNK, Pipeline, PipelineConfig


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "evaluate",
        help="evaluate samplers against Dense, Uniform, Random and Oracle; write tables, figures and report.html",
        description="Run the clip classifier once on every clip of every test video (cached; an interrupted "
        "run resumes), score every clip with every sampler, then evaluate every strategy from that cache: the "
        "main table at K, accuracy against K, K' and the sampling stride N, accuracy against runtime, the "
        "loss x modality ablation and sampler quality. The 'scsampler' row's sampler(s), combination, K' and "
        "alpha are chosen on the tuning split (--tune-split, default val; every candidate's score in tuning.csv), "
        "never on the evaluated split; without tuning videos it is AV-union-list (--k-prime) of the first --visual "
        "and the first --audio. The 'auto' row chooses K per video on the scsampler row's ranking (early exit: stop "
        "once the mean softmax so far is confident, at most --k-max clips; threshold chosen on the tuning split), "
        "with its mean clips per video (mean_k); accuracy_vs_clips_auto.csv holds its curve over thresholds. "
        "Runtime is also measured at paper scale with a heavy "
        "classifier (--heavy-classifier), in runtime_table.csv.",
        example="scsampler evaluate data/manifest.csv --classifier runs/demo/classifier/best.pt "
        "--samplers motion,loudness --visual motion --audio loudness -o runs/eval",
    )
    parser.add_argument("manifest", metavar="MANIFEST", help="dataset manifest (CSV: path,label,split)")
    parser.add_argument("--classifier", required=True, metavar="NAME_OR_CHECKPOINT", help="registry name or scsampler checkpoint")
    parser.add_argument("--weights", metavar="PATH", help="weights for a classifier given by name")
    parser.add_argument(
        "--samplers",
        default="motion,loudness",
        help="comma-separated samplers to evaluate: registered names or saved-sampler paths, each optionally "
        "named as NAME=SAMPLER (default: motion,loudness)",
    )
    parser.add_argument(
        "--visual",
        metavar="NAME[,NAME...]",
        help="candidate visual samplers of the 'scsampler' row (among --samplers); the tuning split chooses one",
    )
    parser.add_argument(
        "--audio",
        metavar="NAME[,NAME...]",
        help="candidate audio samplers of the 'scsampler' row (among --samplers); the tuning split chooses one",
    )
    parser.add_argument("--k", type=int, default=DEFAULT_K, help=f"clips per video in the main table (default: {DEFAULT_K})")
    parser.add_argument(
        "--k-prime",
        type=int,
        default=8,
        help="K' of AV-union-list without tuning videos, and of the av-union row (default: 8)",
    )
    parser.add_argument(
        "--k-max", type=positive_int, default=DEFAULT_K_MAX, help=f"the auto row's most clips per video (default: {DEFAULT_K_MAX})"
    )
    parser.add_argument(
        "--k-rule",
        choices=K_RULES,
        default=DEFAULT_K_RULE,
        help="the auto row's confidence: top-1 probability (prob, default) or top-1 minus top-2 (margin)",
    )
    parser.add_argument("--split", default="test", help="manifest split to evaluate (default: test)")
    parser.add_argument(
        "--tune-split",
        default="val",
        metavar="NAME|none",
        help="manifest split on which the 'scsampler' row is chosen, never a video of --split; 'none', or a "
        "split without videos, keeps the fixed choice (default: val)",
    )
    parser.add_argument("--random-seeds", type=int, default=5, help="draws of the Random baseline (default: 5)")
    parser.add_argument(
        "--end-to-end-videos",
        type=int,
        default=2,
        metavar="N",
        help="videos classified for real to check the runtime estimated from cached costs (default: 2)",
    )
    parser.add_argument(
        "--heavy-classifier",
        default=HEAVY_CLASSIFIER,
        help=f"classifier whose measured cost gives runtime at paper scale, or 'none' (default: {HEAVY_CLASSIFIER})",
    )
    parser.add_argument("--max-videos", type=int, help="use only the first N videos of the split (and of the tuning split)")
    add_engine_flags(parser, runs="the dense pass")
    add_backend_flag(parser, "sampler")
    add_backend_flag(parser, "classifier")
    parser.add_argument("--no-report", action="store_true", help="write the tables only, no figures or report.html")
    parser.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="where the tables, figures and report go")
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.classifier.endswith((".pt", ".pth")):
        classifier = Classifier.load(None, weights=args.classifier, backend=args.classifier_backend)
    else:
        classifier = Classifier.load(args.classifier, weights=args.weights, backend=args.classifier_backend)
    config = EvaluationConfig(
        samplers=[name for name in args.samplers.split(",") if name],
        visual=args.visual,
        audio=args.audio,
        k=args.k,
        k_prime=args.k_prime,
        split=args.split,
        random_seeds=args.random_seeds,
        end_to_end_videos=args.end_to_end_videos,
        heavy_classifier=None if args.heavy_classifier.lower() == "none" else args.heavy_classifier,
        max_videos=args.max_videos,
        tune_split=None if args.tune_split.lower() == "none" else args.tune_split,
        k_max=args.k_max,
        k_rule=args.k_rule,
        sampler_backend=args.sampler_backend,
    )
    check_engine_flags(args)
    pipeline = Pipeline(
        PipelineConfig.for_classifier(
            args.classifier, weights=args.weights, batch_size=config.batch_size, chunk=config.batch_size or DEFAULT_CHUNK,
            engine=args.engine, workers=args.workers, classifier_backend=args.classifier_backend,
        ),
        classifier=classifier,
    )  # fmt: skip
    say = (lambda message: None) if (args.quiet or args.json) else (lambda message: print(message, file=sys.stderr))
    result = evaluate(
        args.manifest,
        classifier=classifier,
        run_dir=args.output,
        config=config,
        progress=lambda items, total, desc: progress(items, total=total, desc=desc, quiet=args.quiet),
        log=say,
        pipeline=pipeline,
    )
    report = None
    if not args.no_report:
        from scsampler.evaluation.report import write_report

        report = write_report(result.run_dir)
    main_table = result.tables["main_table"]
    if args.json:
        import pandas as pd

        print_json({
            "run_dir": str(result.run_dir),
            "videos": result.videos,
            "errors": result.errors,
            # NaN (Oracle's runtime: not a method) becomes null
            "main_table": pd.read_csv(main_table).astype(object).where(lambda t: t.notna(), None).to_dict(orient="records"),
            "tuning": None if result.tuning is None else result.tuning.to_dict(),
            "auto": None if result.auto is None else result.auto.to_dict(),
            "report": None if report is None else str(report),
            "tables": {name: str(path) for name, path in result.tables.items()},
        })
    else:
        print_main_table(main_table)
        if result.tuning is not None:
            print(describe_tuning(result.tuning))
        if result.auto is not None:
            print(describe_auto(result.auto))
        for error in result.errors:
            print(f"error: {error['error']}")
        if report is not None:
            print(f"report: {report}")
    return 1 if result.errors else 0


def print_main_table(path) -> None:
    """The main table as aligned text: top-1 with its 95% interval, differences to Dense,
    Uniform and the zero-training samplers in points with theirs (``~``: the interval contains 0), top-5 only with more than
    5 classes, seconds per video."""
    from pathlib import Path

    import pandas as pd

    from scsampler.evaluation.summary import read_summary, shows_top5

    table = pd.read_csv(path)  # an empty k (every clip) reads as NaN: k_text prints it as "all"
    summary = read_summary(Path(path).parent)
    top5 = shows_top5(summary) and "top5" in table.columns
    has = set(table.columns)
    accuracy_width = 21 if {"top1_low", "top1_high"} <= has else 8
    named = ["dense", "uniform"] + [
        c[len("top1_vs_"):] for c in table.columns
        if c.startswith("top1_vs_") and not c.endswith(("_low", "_high")) and c not in ("top1_vs_dense", "top1_vs_uniform")
    ]  # then each zero-training sampler (motion, loudness): what a learned sampler must beat
    references = [name for name in named if {f"top1_vs_{name}", f"top1_vs_{name}_low", f"top1_vs_{name}_high"} <= has]
    header = f"{'strategy':<22}{'K':>5}{'top-1':>{accuracy_width}}" + (f"{'top-5':>{accuracy_width}}" if top5 else "")
    header += "".join(f"{'vs ' + name:>22}" for name in references)
    print(header + f"{'sampler s':>11}{'decode s':>10}{'classif. s':>11}{'total s':>9}")
    for row in table.to_dict(orient="records"):
        k = k_text(row["k"])
        if row["strategy"] == "auto" and row.get("mean_k") == row.get("mean_k") and row.get("mean_k") is not None:
            k = f"~{row['mean_k']:.1f}"  # K chosen per video: its mean
        line = f"{row['strategy']:<22}{k:>5}{_accuracy_text(row, 'top1'):>{accuracy_width}}"
        if top5:
            line += f"{_accuracy_text(row, 'top5'):>{accuracy_width}}"
        for name in references:
            line += f"{_difference_text(row, name):>22}"
        cells = [f"{value:>{width}.3f}" if value == value else f"{'-':>{width}}" for value, width in (
            (row["sampler_s"], 11), (row["decode_s"], 10), (row["classifier_s"], 11), (row["total_s"], 9))]
        print(line + "".join(cells))
    if accuracy_width > 8 or references:
        videos = (summary or {}).get("videos", table["videos"].max() if "videos" in has else "the")
        print(f"[ ]: 95% bootstrap interval over {videos} videos; vs {'/'.join(references)}: top-1 difference in points, "
              "paired over the same videos; ~: the interval contains 0 (not distinguishable from 0 at 95%)")
    if not top5 and "top5" in table.columns:
        print(f"top-5 not shown: {summary['classes']} classes (shown with more than 5)")


def _accuracy_text(row: dict, top: str) -> str:
    """``75.0% [50.0,100.0]`` (percent), or ``75.0%`` when the table has no interval."""
    value, low, high = row[top], row.get(f"{top}_low"), row.get(f"{top}_high")
    if value != value:
        return "-"
    if low is None or high is None or low != low or high != high:
        return f"{100 * value:.1f}%"
    return f"{100 * value:.1f}% [{100 * low:.1f},{100 * high:.1f}]"


def _difference_text(row: dict, reference: str) -> str:
    """``+12.5 [-12.5,+37.5]~`` in points (``~``: the interval contains 0); ``ref`` for the reference row."""
    if row["strategy"] == reference:
        return "ref "
    value, low, high = (row[f"top1_vs_{reference}{suffix}"] for suffix in ("", "_low", "_high"))
    if value != value or low != low or high != high:
        return "- "
    mark = "~" if low <= 0 <= high else " "
    return f"{100 * value:+.1f} [{100 * low:+.1f},{100 * high:+.1f}]{mark}"


def describe_auto(auto) -> str:
    """One line under the table: the ``auto`` row's rule and where its threshold was chosen."""
    where = (f"chosen on split {auto.split!r}, {auto.videos} videos: {auto.mean_clips:.1f} clips per video, "
             f"top-1 {100 * auto.top1:.1f}% there" if auto.tuned else f"default, no tuning: {auto.reason}")
    return (f"auto: early exit on the scsampler row's ranking, {auto.rule} >= {auto.threshold:g}, at most "
            f"{auto.k_max} clips ({where}); use it with `scsampler classify --k auto --k-rule {auto.rule} "
            f"--k-threshold {auto.threshold:g} --k-max {auto.k_max}`")


def describe_tuning(choice) -> str:
    """One line under the table: what the ``scsampler`` row is, and where it was chosen."""
    if not choice.tuned:
        return f"scsampler: {choice.description} (fixed choice, no tuning: {choice.reason})"
    best_k = k_text(choice.best_k)
    return (
        f"scsampler: {choice.description} (chosen on split {choice.split!r}, {choice.videos} videos: "
        f"top-1 {100 * choice.top1:.1f}% there; best K there: {best_k})"
    )
