"""Small helpers shared by the subcommands: help formatting, JSON, progress."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def add_command(subparsers, name: str, *, help: str, description: str, example: str) -> argparse.ArgumentParser:
    """Add a subcommand whose --help ends with a worked example."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"Example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, allow_nan=False), flush=True)


def print_training_summary(args, result, *, files: dict[str, Any], finished: str) -> None:
    """The end of ``train-classifier`` and ``train-sampler``: rank 0 alone prints (under torchrun).

    With ``--json``, one line: ``run_dir``, ``start_epoch``, ``epochs``, ``history``, ``best``,
    then ``files`` (paths or None), then ``seconds``; otherwise ``finished``, after a hint
    when the run was already complete.
    """
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if args.json:
        print_json(
            {
                "run_dir": str(result.run_dir),
                "start_epoch": result.start_epoch,
                "epochs": result.epochs,
                "history": result.history,
                "best": result.best,
                **{name: str(path) if path else None for name, path in files.items()},
                "seconds": round(result.seconds, 3),
            }
        )
    elif not args.quiet:
        if result.start_epoch > result.epochs:
            print(f"{result.run_dir}: already trained for {result.epochs} epochs; raise --epochs to train more.")
        print(finished)


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "", quiet: bool = False) -> Iterable[T]:
    """A progress bar on a terminal; nothing when quiet or when stderr is not a terminal (CI)."""
    disable = quiet or not sys.stderr.isatty()
    return tqdm(items, total=total, desc=desc, disable=disable, leave=False, dynamic_ncols=True)
