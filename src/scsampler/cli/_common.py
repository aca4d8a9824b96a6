"""Small helpers shared by the subcommands: help formatting, JSON, progress."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Literal, TypeVar

from scsampler.errors import UsageError

T = TypeVar("T")


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1 (a bad value is a usage error naming the option)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def device_type(text: str) -> str:
    """An argparse ``type`` for ``--device``: a torch device this machine has (:func:`scsampler._device.check_device`)."""
    from scsampler._device import check_device

    try:
        return check_device(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).rstrip(".")) from None


def add_command(subparsers, name: str, *, help: str, description: str, example: str) -> argparse.ArgumentParser:
    """Add a subcommand whose --help ends with a worked example."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"Example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def frame_size(text: str) -> tuple[int, int]:
    """An argparse type: ``WIDTHxHEIGHT`` -> ``(width, height)``."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT, e.g. 160x120, got {text!r}") from None
    return width, height


def add_engine_flags(parser: argparse.ArgumentParser, *, runs: str, default: str | None = "local") -> None:
    """``--engine local|ray`` and ``--workers N`` for a command whose ``runs`` goes through :mod:`scsampler.pipeline`.

    ``default`` None lets the command choose (``classify``: ray with ``--workers`` above 1);
    :func:`check_engine_flags` refuses ``--workers`` above 1 on the local engine.
    """
    from scsampler.pipeline import ENGINES  # here: a command's parser is built only when it is the one run

    chosen = "ray with --workers above 1, else local" if default is None else default
    parser.add_argument(
        "--engine", choices=ENGINES, default=default,
        help=f"where {runs} runs: local (the pipeline's stages, select, decode, classify, in this process) or ray "
        "(the same stages streamed on Ray Data, --workers actors per CPU stage and the classifier on GPU actors when "
        "the cluster has GPUs; joins the cluster RAY_ADDRESS names, else starts a local one). Same results either way "
        f"(default: {chosen})",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=positive_int, default=1,
        help="with --engine ray: actors per CPU stage, each loading its model once (default: 1). Worth it with many "
        "cores or a cluster: on 2 cores Ray's start-up makes it slower",
    )  # fmt: skip


def check_engine_flags(args: argparse.Namespace) -> None:
    """A usage error for ``--workers`` above 1 on the local engine."""
    if args.engine == "local" and args.workers > 1:
        raise UsageError("--workers above 1 needs --engine ray.")


#: ``--sampler-backend`` choices: scsampler.models.sampler_backends.SAMPLER_BACKENDS, spelt out here so that
#: building a parser imports no torch (tests/test_sampler_backends.py checks that the two agree).
SAMPLER_BACKEND_CHOICES: tuple[str, ...] = ("eager", "onnx")
#: ``--classifier-backend`` choices: scsampler.models.classifier_backends.CLASSIFIER_BACKENDS, spelt out here so that
#: building a parser imports no torch (tests/test_classifier_backends.py checks that the two agree).
CLASSIFIER_BACKEND_CHOICES: tuple[str, ...] = ("eager", "onnx")

_BACKEND_FLAGS: dict[str, tuple[tuple[str, ...], str]] = {
    "sampler": (
        SAMPLER_BACKEND_CHOICES,
        "how learned samplers' networks run: eager (PyTorch, default) or onnx (exported once, cached in "
        "~/.cache/scsampler/onnx or $SCSAMPLER_CACHE_DIR, run by ONNX Runtime on the CPU: the same scores within 1e-4 "
        "of their scale; on a 2-core CPU eager, channels-last with batch norm folded, was 10-17%% faster for the demo's "
        "tiny networks and onnx 7%% faster for ResNet-18 + VGGish; docs/models.md, \"Cost\")",
    ),
    "classifier": (
        CLASSIFIER_BACKEND_CHOICES,
        "how the clip classifier runs on the CPU: eager (PyTorch, channels-last; default) or onnx (exported once, "
        "cached in ~/.cache/scsampler/onnx or $SCSAMPLER_CACHE_DIR, run by ONNX Runtime: the same top-1, logits within "
        "1e-4 of their scale; R(2+1)D-18 1.22x faster here; docs/models.md, \"CPU backends\"). A CPU option: on "
        "CUDA the classifier runs in PyTorch (bf16 autocast) and onnx is refused",
    ),
}


def add_backend_flag(parser: argparse.ArgumentParser, part: Literal["sampler", "classifier"]) -> None:
    """``--sampler-backend`` or ``--classifier-backend`` ``eager|onnx``: how that part's networks run
    (bad values: argparse's usage error)."""
    choices, help_text = _BACKEND_FLAGS[part]
    parser.add_argument(f"--{part}-backend", choices=choices, default="eager", help=help_text)


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def new_output_folders(args: argparse.Namespace) -> list[Path]:
    """The ``-o`` paths (RUN_DIR or output file) of a command that do not exist yet, before it runs."""
    candidates = [getattr(args, name, None) for name in ("run_dir", "output")]
    return [Path(path) for path in candidates if path is not None and not os.path.lexists(path)]


def remove_if_left_empty(folders: Iterable[Path]) -> None:
    """Remove each folder that a failed command created but wrote no file into (empty subfolders go too).

    A run that stops on a rejected checkpoint or a bad option should not leave an empty RUN_DIR that
    looks like a started run; a folder holding any file is kept, so partial work can resume.
    """
    for folder in folders:
        if not folder.is_dir() or folder.is_symlink():
            continue
        if any(not entry.is_dir() or entry.is_symlink() for entry in folder.rglob("*")):
            continue
        for sub in sorted(folder.rglob("*"), key=lambda entry: len(entry.parts), reverse=True):
            sub.rmdir()
        folder.rmdir()


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, allow_nan=False), flush=True)


def print_training_summary(args, result, *, files: dict[str, Any], finished: str) -> None:
    """The end of ``train-classifier`` and ``train-sampler``: rank 0 alone prints (under torchrun).

    With ``--json``, one line: ``run_dir``, ``start_epoch``, ``epochs``, ``history``, ``best``,
    ``stopped_early``, then ``files`` (paths or None), then ``seconds``; otherwise ``finished``, after a hint
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
                "stopped_early": result.stopped_early,
                **{name: str(path) if path else None for name, path in files.items()},
                "seconds": round(result.seconds, 3),
            }
        )
    elif not args.quiet:
        if result.stopped_early:
            best = (result.best or {}).get("epoch")
            print(f"{result.run_dir}: stopped early, no better validation score since epoch {best}; --early-stop 0 trains on.")
        elif result.start_epoch > result.epochs:
            print(f"{result.run_dir}: already trained for {result.epochs} epochs; raise --epochs to train more.")
        print(finished)


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "", quiet: bool = False) -> Iterable[T]:
    """A progress bar on a terminal; nothing when quiet or when stderr is not a terminal (CI)."""
    from tqdm import tqdm  # here: importing tqdm costs start-up time that `info` and `--help` need not pay

    disable = quiet or not sys.stderr.isatty()
    return tqdm(items, total=total, desc=desc, disable=disable, leave=False, dynamic_ncols=True)
