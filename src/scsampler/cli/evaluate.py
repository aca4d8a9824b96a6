"""``scsampler evaluate MANIFEST``: every sampler and baseline on the test split, tables, figures, report."""

from __future__ import annotations

import sys

from scsampler.cli._common import add_command, add_output_flags, print_json, progress
from scsampler.evaluation.runner import EvaluationConfig, evaluate
from scsampler.evaluation.runtime import HEAVY_CLASSIFIER
from scsampler.models import Classifier


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "evaluate",
        help="evaluate samplers against Dense, Uniform, Random and Oracle; write tables, figures and report.html",
        description="Run the clip classifier once on every clip of every test video (cached; an interrupted "
        "run resumes), score every clip with every sampler, then evaluate every strategy from that cache: the "
        "main table at K, accuracy against K, K' and the sampling stride N, accuracy against runtime, the "
        "loss x modality ablation and sampler quality. Runtime is also measured at paper scale with a heavy "
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
    parser.add_argument("--visual", metavar="NAME", help="the visual sampler of the default 'scsampler' row (one of --samplers)")
    parser.add_argument("--audio", metavar="NAME", help="the audio sampler of the default 'scsampler' row (one of --samplers)")
    parser.add_argument("--k", type=int, default=10, help="clips per video in the main table (default: 10)")
    parser.add_argument("--k-prime", type=int, default=8, help="K' of AV-union-list (default: 8)")
    parser.add_argument("--split", default="test", help="manifest split to evaluate (default: test)")
    parser.add_argument("--random-seeds", type=int, default=5, help="draws of the Random baseline (default: 5)")
    parser.add_argument(
        "--heavy-classifier",
        default=HEAVY_CLASSIFIER,
        help=f"classifier whose measured cost gives runtime at paper scale, or 'none' (default: {HEAVY_CLASSIFIER})",
    )
    parser.add_argument("--max-videos", type=int, help="evaluate only the first N videos of the split")
    parser.add_argument("--no-report", action="store_true", help="write the tables only, no figures or report.html")
    parser.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="where the tables, figures and report go")
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.classifier.endswith((".pt", ".pth")):
        classifier = Classifier.load(None, weights=args.classifier)
    else:
        classifier = Classifier.load(args.classifier, weights=args.weights)
    config = EvaluationConfig(
        samplers=[name for name in args.samplers.split(",") if name],
        visual=args.visual,
        audio=args.audio,
        k=args.k,
        k_prime=args.k_prime,
        split=args.split,
        random_seeds=args.random_seeds,
        heavy_classifier=None if args.heavy_classifier.lower() == "none" else args.heavy_classifier,
        max_videos=args.max_videos,
    )
    say = (lambda message: None) if (args.quiet or args.json) else (lambda message: print(message, file=sys.stderr))
    result = evaluate(
        args.manifest,
        classifier=classifier,
        run_dir=args.output,
        config=config,
        progress=lambda items, total, desc: progress(items, total=total, desc=desc, quiet=args.quiet),
        log=say,
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
            "report": None if report is None else str(report),
            "tables": {name: str(path) for name, path in result.tables.items()},
        })
    else:
        print_main_table(main_table)
        for error in result.errors:
            print(f"error: {error['error']}")
        if report is not None:
            print(f"report: {report}")
    return 1 if result.errors else 0


def print_main_table(path) -> None:
    """The main table as aligned text: accuracy in percent, seconds per video."""
    import pandas as pd

    table = pd.read_csv(path)
    print(f"{'strategy':<22}{'K':>5}{'top-1':>8}{'top-5':>8}{'sampler s':>11}{'decode s':>10}{'classif. s':>11}{'total s':>9}")
    for row in table.itertuples():
        k = "all" if row.k == -1 else str(row.k)
        cells = [f"{value:>{width}.3f}" if value == value else f"{'-':>{width}}" for value, width in (
            (row.sampler_s, 11), (row.decode_s, 10), (row.classifier_s, 11), (row.total_s, 9))]
        print(f"{row.strategy:<22}{k:>5}{100 * row.top1:>7.1f}%{100 * row.top5:>7.1f}%" + "".join(cells))
