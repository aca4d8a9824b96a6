"""``scsampler train-classifier MANIFEST -o RUN_DIR``: train a clip classifier (one process or torchrun)."""

from __future__ import annotations

import argparse
from pathlib import Path

from scsampler.cli._common import add_command, add_output_flags, device_type, print_training_summary
from scsampler.training.recipes import list_recipes


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "train-classifier",
        help="train a clip classifier on a manifest (checkpoints, metrics, resume, torchrun)",
        description="Train a clip classifier on the train split of MANIFEST, measuring clip- and video-level "
        "accuracy on its val split after every epoch. Writes RUN_DIR/metrics.jsonl (one line per epoch), "
        "RUN_DIR/last.pt and RUN_DIR/best.pt, and resumes from RUN_DIR/last.pt when it exists. "
        "Defaults come from the recipe (sports1m and kinetics: the paper's; cpu-tiny: small models on a CPU); "
        "the options below override it. Under `torchrun --nproc_per_node=N -m scsampler train-classifier ...` "
        "it trains with DDP (gloo on a CPU) and only rank 0 writes.",
        example="scsampler train-classifier data/synth/manifest.csv -o runs/tiny --model r2plus1d_tiny --recipe cpu-tiny",
    )
    parser.add_argument("manifest", type=Path, metavar="MANIFEST", help="CSV with path,label,split (segments.csv beside it is used)")
    parser.add_argument("-o", "--output", dest="run_dir", type=Path, required=True, metavar="RUN_DIR", help="folder for checkpoints and metrics")
    parser.add_argument(
        "--model", default=None,
        help="classifier name from the model registry (r2plus1d_tiny; with --init, the checkpoint's model)",
    )
    parser.add_argument(
        "--weights", default=None,
        help="initial weights: a pretrained name of the model or a local file; a head of another width is replaced, "
        "one of the same width kept whatever its classes (to fine-tune a scsampler checkpoint, see --init)",
    )
    parser.add_argument(
        "--init", type=Path, default=None, metavar="CKPT",
        help="fine-tune from a scsampler checkpoint (or a state dict): its weights and model (another --model is refused), its "
        "head rows of the manifest's classes when it has them all (by name), else a fresh head; epoch 1 with a fresh "
        "optimizer and the recipe's schedule (e.g. --recipe kinetics-finetune, 14 epochs); not with --weights; "
        "RUN_DIR/last.pt, when there, is resumed instead",
    )
    parser.add_argument("--recipe", default="cpu-tiny", choices=list_recipes(), help="training preset (cpu-tiny)")
    parser.add_argument("--epochs", type=int, default=None, help="total epochs (recipe's by default)")
    parser.add_argument("--lr", type=float, default=None, help="base learning rate after warm-up (recipe's)")
    parser.add_argument("--batch-size", type=int, default=None, help="clips per batch per process (recipe's)")
    parser.add_argument("--clips-per-video", type=int, default=None, help="training clips drawn per video per epoch (recipe's)")
    parser.add_argument(
        "--group-clips", action=argparse.BooleanOptionalAction, default=None,
        help="put each video's clips-per-video clips in the same batch, batch-size a multiple of clips-per-video "
        "(recipe's: on for kinetics and kinetics-finetune, 5 clips of one video per batch; off otherwise)",
    )
    parser.add_argument("--workers", type=int, default=None, help="data loader worker processes (recipe's)")
    parser.add_argument(
        "--early-stop", type=int, default=None, metavar="EPOCHS",
        help="stop after EPOCHS epochs without a better validation clip accuracy; 0: never (recipe's: 1 for cpu-tiny)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and of the clips drawn (0)")
    parser.add_argument(
        "--device", type=device_type, default=None,
        help="cpu, cuda, cuda:N or mps (cuda when available; under torchrun each process uses cuda:LOCAL_RANK)",
    )
    parser.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads for torch (default: torch's choice; 1 is often fastest on a busy, shared CPU)",
    )
    parser.add_argument(
        "--resume", action=argparse.BooleanOptionalAction, default=True,
        help="continue from RUN_DIR/last.pt when it exists (default); --no-resume starts over",
    )
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from scsampler.training.train_classifier import TrainConfig, train_classifier

    config = TrainConfig(
        manifest=args.manifest,
        run_dir=args.run_dir,
        model=args.model,
        recipe=args.recipe,
        weights=args.weights,
        init=args.init,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        clips_per_video=args.clips_per_video,
        group_clips=args.group_clips,
        workers=args.workers,
        early_stop=args.early_stop,
        seed=args.seed,
        resume=args.resume,
        progress=not args.quiet,
        device=args.device,
        threads=args.threads,
    )
    on_epoch = None if (args.json or args.quiet) else _print_epoch
    result = train_classifier(config, on_epoch=on_epoch)
    print_training_summary(
        args,
        result,
        files={"last_checkpoint": result.last_checkpoint, "best_checkpoint": result.best_checkpoint},
        finished=f"checkpoints: {result.last_checkpoint} (last), {result.best_checkpoint} (best); {result.seconds:.1f} s",
    )
    return 0


def _print_epoch(metrics: dict) -> None:
    def percent(value):
        return "  n/a" if value is None else f"{100 * value:5.1f}%"

    print(
        f"epoch {metrics['epoch']:3d}  loss {metrics['train_loss']:.4f}  train clip {percent(metrics['train_clip_acc'])}  "
        f"val clip {percent(metrics['val_clip_acc'])}  val video {percent(metrics['val_video_acc'])}  "
        f"lr {metrics['lr']:.3g}  {metrics['seconds']:.1f} s",
        flush=True,
    )
