"""``scsampler``: the command line. Each subcommand lives in its own module here.

A subcommand module defines ``register(subparsers)``, which adds its parser and
sets ``handler`` to a function ``(args) -> int`` (the exit status). Modules
parse and print; the work happens in the library.

Only the module of the command being run is imported: the others appear in
``scsampler --help`` by their one-line summary (:data:`SUMMARIES`), so that a
cheap command such as ``info`` does not pay for torch, Ray or pandas at start-up.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Iterable

from scsampler import __version__
from scsampler.cli._common import new_output_folders, remove_if_left_empty
from scsampler.errors import ScsamplerError

# Subcommand modules, in the order `scsampler --help` lists them.
COMMAND_MODULES = (
    "info",
    "signals",
    "synth",
    "manifest",
    "reencode",
    "select",
    "classify",
    "train_classifier",
    "label",
    "train_sampler",
    "evaluate",
    "report",
)


# Each command's one-line summary in `scsampler --help`; the same text as its module passes as
# `help=` (tests/test_startup.py checks that they agree).
SUMMARIES = {
    "info": "describe videos: codec, size, frames, duration, keyframes, audio, clips",
    "signals": "extract cheap per-clip signals (keyframes, motion vectors, residual, log-MEL audio, clip frames)",
    "synth": "write the synthetic untrimmed benchmark (H.264/AAC videos, manifest.csv, segments.csv)",
    "manifest": "write a dataset manifest from official annotation files (kinetics400, sports1m, minisports)",
    "reencode": "re-encode videos as CoViAR's compressed inputs (MPEG-4 Part 2, 340x256, a keyframe every 12 frames)",
    "select": "choose the K most salient clips of videos, with their seconds and scores",
    "classify": "classify videos from K sampled clips: top-5 labels, clips used, time spent",
    "train-classifier": "train a clip classifier on a manifest (checkpoints, metrics, resume, torchrun)",
    "label": "run the clip classifier densely once over a manifest: per-clip saliency targets (Parquet)",
    "train-sampler": "train a sampler network (visual or audio; AC, SAL-CL or SAL-RANK) on saliency targets",
    "evaluate": "evaluate samplers against Dense, Uniform, Random and Oracle; write tables, figures and report.html",
    "report": "write RUN_DIR/report.html from the tables of an evaluation run",
}


def command_name(module: str) -> str:
    """The command a module implements: ``train_classifier`` -> ``train-classifier``."""
    return module.replace("_", "-")


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``scsampler`` parser; ``commands`` (default: all) get their full parsers, the others a summary only.

    A summary-only command imports nothing: its module is loaded when it is the one being run.
    """
    full = set(SUMMARIES if commands is None else commands)
    parser = argparse.ArgumentParser(
        prog="scsampler",
        description="Salient clip sampling for efficient action recognition on long, untrimmed videos.",
        epilog="Example: scsampler info video.mp4 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"scsampler {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        name = command_name(module)
        if name in full:
            importlib.import_module(f"scsampler.cli.{module}").register(subparsers)
        else:
            subparsers.add_parser(name, help=SUMMARIES[name], add_help=False)
    return parser


def _requested_command(argv: list[str]) -> str | None:
    """The command named on the command line: its first word that is not an option (``--version``, ``-h``)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in SUMMARIES else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _requested_command(argv)
    parser = build_parser([command] if command else [])
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.formatwarning = lambda message, category, *_: f"warning: {message}\n"
        created = new_output_folders(args)
        try:
            return int(args.handler(args) or 0)
        except ScsamplerError as error:
            remove_if_left_empty(created)
            print(f"error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
