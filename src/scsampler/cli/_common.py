"""Small helpers shared by the subcommands: help formatting, JSON, progress."""

from __future__ import annotations

import argparse
import json
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


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "", quiet: bool = False) -> Iterable[T]:
    """A progress bar on a terminal; nothing when quiet or when stderr is not a terminal (CI)."""
    disable = quiet or not sys.stderr.isatty()
    return tqdm(items, total=total, desc=desc, disable=disable, leave=False, dynamic_ncols=True)
