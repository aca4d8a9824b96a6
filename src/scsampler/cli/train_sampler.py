"""``scsampler train-sampler TARGETS -o RUN_DIR``: train a visual or audio sampler on saliency targets."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from scsampler.cli._common import add_command, add_output_flags, device_type, print_training_summary
from scsampler.errors import UsageError


def input_size_type(text: str) -> tuple[int | None, dict[str, int]]:
    """An argparse ``type`` for ``--input-size``: ``N``, ``N,motion=M`` or ``motion=M`` -> (N or None, {input: size})."""
    from scsampler.models.sampler_nets import VISUAL_INPUTS

    default: int | None = None
    sizes: dict[str, int] = {}
    for part in (piece.strip() for piece in text.split(",")):
        name, _, value = part.rpartition("=")
        if name and name not in VISUAL_INPUTS:
            raise argparse.ArgumentTypeError(f"{part!r}: unknown visual input {name!r}; choose among {', '.join(VISUAL_INPUTS)}")
        if not value.isdigit() or int(value) < 8 or (not name and default is not None):
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected a size of at least 8 pixels and per-input sizes, e.g. 64 or 64,motion=16"
            )
        if name:
            sizes[name] = int(value)
        else:
            default = int(value)
    return default, sizes


def register(subparsers) -> None:
    from scsampler.samplers.saliency import LOSSES
    from scsampler.samplers.selection import DEFAULT_K
    from scsampler.training.input_choice import INPUT_RULES
    from scsampler.training.recipes import SAMPLER_PRESETS
    from scsampler.training.train_sampler import SAMPLER_TARGETS

    parser = add_command(
        subparsers,
        "train-sampler",
        help="train a sampler network (visual or audio; AC, SAL-CL or SAL-RANK) on saliency targets",
        description="Train a sampler network on TARGETS (from `scsampler label`). After each epoch it logs the "
        "loss and the quality of the sampler on the validation videos: precision of its top-K against the action "
        "segments (where the manifest had a segments.csv) and among the oracle's top-K (Random's beside each) "
        "and the Spearman correlation with the classifier's true-class probability; the first (else the second) "
        "picks the best epoch and stops training early. Writes RUN_DIR/metrics.jsonl, RUN_DIR/last.pt (resumes), RUN_DIR/sampler.pt (best epoch) "
        "and RUN_DIR/sampler (a saved sampler for `--sampler RUN_DIR/sampler`). Defaults follow the paper's "
        "recipes (--recipe paper); --recipe cpu trains small networks on a CPU. Runs under torchrun (DDP). "
        "--target confidence|margin|contrast trains on the classifier's own confidence instead of the labels, so TARGETS may "
        "come from unlabelled videos: SAL-RANK orders a video's clips by it, SAL-CL calls salient the training clips "
        "above a threshold (their top share, by default the mean confidence: a calibrated classifier's expected clip "
        "accuracy; --salient-share sets it), AC is refused; without labels or segments on the validation videos the "
        "oracle precision is n/a and the precision against the top-K by the target picks the best epoch (a warning "
        "says so). The target is recorded in the saved sampler.",
        example="scsampler train-sampler runs/targets.parquet --modality visual --loss sal-rank --backbone tiny "
        "--recipe cpu --inputs 'iframe|iframe,motion' -o runs/visual\n"
        "  scsampler train-sampler runs/unlabelled.parquet --target confidence --recipe cpu -o runs/visual-unlabelled",
    )
    parser.add_argument("targets", type=Path, metavar="TARGETS", help="Parquet file written by `scsampler label`")
    parser.add_argument("-o", "--output", dest="run_dir", type=Path, required=True, metavar="RUN_DIR", help="folder for checkpoints and metrics")
    parser.add_argument("--modality", choices=("visual", "audio"), default="visual", help="visual (compressed-domain) or audio (visual)")
    parser.add_argument("--loss", choices=LOSSES, default="sal-rank", help="training objective (sal-rank)")
    parser.add_argument(
        "--target", choices=SAMPLER_TARGETS, default="label",
        help="what SAL-RANK orders and SAL-CL thresholds: label (true-class probability / top-1 correct; the paper's), "
        "confidence (max softmax), margin (top-1 minus top-2 probability) or contrast (KL divergence of the clip's "
        "softmax from its video's mean softmax: confidence beyond what the classifier says of the whole video), "
        "which need no labels (label)",
    )
    parser.add_argument(
        "--salient-share", type=float, default=None, metavar="S",
        help="SAL-CL with --target confidence|margin|contrast: the share of training clips called salient (mean confidence)",
    )
    parser.add_argument(
        "--backbone", default=None,
        help="visual: resnet18, shufflenet (v2 x1.0), shufflenet_v2_x0_5, shufflenet_v1 (v1 0.5x, 3 groups), tiny; audio: vggish, tiny "
        "(default: tiny with --recipe cpu, else resnet18 / vggish)",
    )
    parser.add_argument(
        "--inputs", default="iframe,motion",
        help="visual inputs, comma-separated: iframe, clipframe, motion, residual (iframe,motion); alternatives "
        "separated by '|', cheapest first (e.g. 'iframe|iframe,motion'), are each trained in RUN_DIR/inputs/ and "
        "the one --inputs-rule chooses becomes RUN_DIR/sampler (RUN_DIR/inputs.csv compares them)",
    )
    parser.add_argument(
        "--inputs-rule", choices=INPUT_RULES, default="best",
        help="with alternatives: best (the best validation measure; ties go to the first) or cheapest-not-worse "
        "(the first whose measure is not below the best's at 95%%, a paired bootstrap over the validation videos) (best)",
    )
    parser.add_argument("--fusion", choices=("mean", "learned"), default="mean", help="late fusion of the visual inputs' scores (mean)")
    parser.add_argument("--frozen-at", choices=("conv4_2", "pool4", "fc1"), default=None, help="audio: train one FC layer on this frozen layer")
    parser.add_argument(
        "--audio-window", choices=("clip", "centred-2s"), default="clip",
        help="audio: the log-MEL's window: the clip itself (200 frames over it), or 2 s centred on it at a 10 ms hop (clip)",
    )
    parser.add_argument(
        "--pretrained", default=None, metavar="imagenet|PATH",
        help="ImageNet weights (visual; shufflenet_v1: a local file in megvii's ShuffleNet-Series layout) or a VGGish file (audio)",
    )
    parser.add_argument(
        "--input-size", type=input_size_type, default=(None, {}), metavar="N[,INPUT=N]",
        help="visual: backbone input size in pixels (112; tiny: 64), and per input where it differs, e.g. "
        "'64,motion=16' (the motion grid of a 320x240 video is 15x20 macroblocks)",
    )
    parser.add_argument("--width", type=int, default=16, help="visual tiny backbone: channels of its first layer (16)")
    parser.add_argument(
        "--motion-step", type=int, default=None, metavar="FRAMES",
        help="visual: the motion input from the first P-frame of each run of FRAMES frames (e.g. 16: one per 16-frame clip), "
        "whose H.264 packets alone are then decoded; default: the mean over every P-frame of the clip",
    )
    parser.add_argument("--signals-cache", type=Path, default=None, help="folder of cached network inputs (RUN_DIR/signals)")
    parser.add_argument("--recipe", choices=SAMPLER_PRESETS, default="paper", help="training preset (paper)")
    parser.add_argument("--epochs", type=int, default=None, help="total epochs (recipe's)")
    parser.add_argument("--lr", type=float, default=None, help="base learning rate (recipe's, per loss)")
    parser.add_argument("--batch-size", type=int, default=None, help="clips per batch per process (recipe's)")
    parser.add_argument("--clips-per-video", type=int, default=None, help="SAL-RANK: clips of one video per batch (recipe's)")
    parser.add_argument("--decay-every", type=float, default=None, help="step schedule: divide the lr by 10 every this many epochs (recipe's)")
    parser.add_argument(
        "--rank-min-gap", type=float, default=None,
        help="SAL-RANK: only pairs of clips whose targets (true-class probabilities, or the --target column) differ by more "
        "than this (recipe's)",
    )
    parser.add_argument(
        "--early-stop", type=int, default=None, metavar="EPOCHS",
        help="stop after EPOCHS epochs without a better validation measure; 0: never (recipe's)",
    )
    parser.add_argument("--k", type=int, default=DEFAULT_K, help=f"K of the validation precision against the segments and the oracle ({DEFAULT_K})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation, the split and the batches (0)")
    parser.add_argument(
        "--device", type=device_type, default=None,
        help="cpu, cuda, cuda:N or mps (cuda when available; under torchrun each process uses cuda:LOCAL_RANK)",
    )
    parser.add_argument(
        "--resume", action=argparse.BooleanOptionalAction, default=True,
        help="continue from RUN_DIR/last.pt when it exists (default); --no-resume starts over",
    )
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from scsampler.training.input_choice import parse_input_alternatives
    from scsampler.training.train_sampler import LAST_CHECKPOINT, METRICS_FILE, SamplerTrainConfig, train_sampler

    alternatives = parse_input_alternatives(args.inputs)
    if args.motion_step is not None:
        from scsampler.signals.motion import check_motion_step

        check_motion_step(args.motion_step)
        if not any("motion" in alternative for alternative in alternatives):
            raise UsageError(f"--motion-step applies to the motion input, which --inputs {args.inputs!r} does not take.")
    backbone = args.backbone or ("tiny" if args.recipe == "cpu" else ("resnet18" if args.modality == "visual" else "vggish"))
    if not args.resume:
        for name in (LAST_CHECKPOINT, METRICS_FILE):
            (args.run_dir / name).unlink(missing_ok=True)
    config = SamplerTrainConfig(
        targets=args.targets,
        run_dir=args.run_dir,
        modality=args.modality,
        loss=args.loss,
        target=args.target,
        salient_share=args.salient_share,
        backbone=backbone,
        inputs=alternatives[0],
        fusion=args.fusion,
        frozen_at=args.frozen_at,
        audio_window=args.audio_window,
        pretrained=args.pretrained,
        input_size=args.input_size[0],
        input_sizes=args.input_size[1],
        width=args.width,
        motion_step=args.motion_step,
        signals_cache=args.signals_cache,
        preset=args.recipe,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        clips_per_video=args.clips_per_video,
        decay_every_epochs=args.decay_every,
        rank_min_gap=args.rank_min_gap,
        early_stop=args.early_stop,
        k=args.k,
        seed=args.seed,
        resume=args.resume,
        device=args.device,
    )
    verbose = not (args.json or args.quiet)
    on_skip = (lambda path, why: print(f"skipped {path}: {why}")) if verbose else None
    if len(alternatives) > 1:
        from scsampler.training.input_choice import train_sampler_choosing_inputs

        on_start = (lambda inputs: print(f"== inputs {','.join(inputs)}", flush=True)) if verbose else None
        choice = train_sampler_choosing_inputs(
            config, alternatives, on_start=on_start, on_epoch=_print_epoch if verbose else None, on_skip=on_skip,
            rule=args.inputs_rule,
        )  # fmt: skip
        result = choice.result
        if verbose:
            print(f"inputs chosen on validation ({choice.rule}): {','.join(choice.chosen)} (all alternatives: {choice.table})")
    else:
        result = train_sampler(config, on_epoch=_print_epoch if verbose else None, on_skip=on_skip)
    print_training_summary(
        args,
        result,
        files={"checkpoint": result.checkpoint, "sampler": result.bundle},
        finished=f"best: {result.checkpoint}; sampler: {result.bundle} (use --sampler {result.bundle}); {result.seconds:.1f} s",
    )
    return 0


def _print_epoch(metrics: dict) -> None:
    def number(value, fmt):
        return "  n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)

    on_segments = ""
    if metrics.get("val_segment_videos"):
        on_segments = (
            f"val P@K segments {number(metrics['val_segment_precision'], '.3f')} "
            f"(random {number(metrics['val_random_segment_precision'], '.3f')})  "
        )
    on_target = ""
    if metrics.get("val_target_precision") is not None:
        on_target = f"target {number(metrics['val_target_precision'], '.3f')}  "
    print(
        f"epoch {metrics['epoch']:3d}  loss {metrics['train_loss']:.4f}  {on_segments}{on_target}"
        f"oracle {number(metrics['val_precision_at_k'], '.3f')} (random {number(metrics['val_random_precision_at_k'], '.3f')})  "
        f"spearman {number(metrics['val_spearman'], '+.3f')}  lr {metrics['lr']:.3g}  {metrics['seconds']:.1f} s",
        flush=True,
    )
