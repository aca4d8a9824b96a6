"""``scsampler``: the command line. Each subcommand lives in its own module here.

A subcommand module defines ``register(subparsers)``, which adds its parser and
sets ``handler`` to a function ``(args) -> int`` (the exit status). Modules
parse and print; the work happens in the library.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from scsampler import __version__
from scsampler.errors import ScsamplerError

# Subcommand modules, in the order `scsampler --help` lists them.
COMMAND_MODULES = (
    "info",
    "signals",
    "synth",
    "select",
    "classify",
    "train_classifier",
    "label",
    "train_sampler",
    "evaluate",
    "report",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scsampler",
        description="Salient clip sampling for efficient action recognition on long, untrimmed videos.",
        epilog="Example: scsampler info video.mp4 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"scsampler {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"scsampler.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.formatwarning = lambda message, category, *_: f"warning: {message}\n"
        try:
            return int(args.handler(args) or 0)
        except ScsamplerError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
