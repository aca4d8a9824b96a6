"""Opening files with PyAV, turning its exceptions into :class:`VideoError`.

This module and its siblings in ``scsampler.video`` are the only code that
talks to PyAV directly (``scsampler.signals`` and ``scsampler.data.synth`` use
it through documented, narrow entry points).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import av

from scsampler.errors import VideoError

__all__ = ["open_input", "check_readable", "MOTION_VECTOR_CODECS"]

# Codecs whose FFmpeg decoders can export motion vectors (flags2=+export_mvs).
MOTION_VECTOR_CODECS = frozenset(
    {"h264", "mpeg1video", "mpeg2video", "mpeg4", "msmpeg4v1", "msmpeg4v2", "msmpeg4v3", "msmpeg4", "h263", "h263p", "flv1"}
)


def check_readable(path: str | os.PathLike) -> Path:
    """Fail with a clear message when ``path`` is missing, a folder, or empty."""
    file = Path(path)
    if not file.exists():
        raise VideoError(file, "no such file.")
    if file.is_dir():
        raise VideoError(file, "is a folder, not a video file.")
    if file.stat().st_size == 0:
        raise VideoError(file, "the file is empty (0 bytes).")
    return file


@contextlib.contextmanager
def open_input(path: str | os.PathLike, *, need_video: bool = True) -> Iterator[av.container.InputContainer]:
    """Open ``path`` for reading, closing it afterwards.

    Raises :class:`VideoError` naming the file when it is missing, empty, not a
    media file FFmpeg can read, or (with ``need_video``) has no video stream.
    """
    file = check_readable(path)
    try:
        container = av.open(str(file), mode="r")
    except av.error.InvalidDataError:
        raise VideoError(file, "not a video file FFmpeg can read (invalid data found when processing input).") from None
    except av.error.FFmpegError as error:
        raise VideoError(file, f"FFmpeg cannot open it: {_reason(error)}.") from None
    except (UnicodeDecodeError, OSError) as error:
        raise VideoError(file, f"cannot be opened: {error}.") from None
    try:
        if need_video and not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoError(file, f"has no video stream (streams found: {', '.join(kinds)}).")
        yield container
    finally:
        container.close()


def _reason(error: Exception) -> str:
    message = getattr(error, "strerror", None) or str(error)
    return str(message).rstrip(".")
