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
    media file FFmpeg can read (an MP4/MOV without its index is called truncated), or (with
    ``need_video``) has no video stream or none FFmpeg can decode.
    """
    file = check_readable(path)
    try:
        container = av.open(str(file), mode="r")
    except av.error.InvalidDataError:
        problem = _truncated_iso_file(file) or "not a video file FFmpeg can read (invalid data found when processing input)."
        raise VideoError(file, problem) from None
    except av.error.FFmpegError as error:
        raise VideoError(file, f"FFmpeg cannot open it: {_reason(error)}.") from None
    except (UnicodeDecodeError, OSError) as error:
        raise VideoError(file, f"cannot be opened: {error}.") from None
    try:
        if need_video and not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoError(file, f"has no video stream (streams found: {', '.join(kinds)}).")
        if need_video and container.streams.video[0].codec_context is None:
            # PyAV opens a stream whose codec it cannot name (a damaged or unknown codec tag) with no decoder
            raise VideoError(file, "its video stream names no codec FFmpeg can decode (an unknown or damaged codec tag).")
        yield container
    finally:
        container.close()


def _reason(error: Exception) -> str:
    message = getattr(error, "strerror", None) or str(error)
    return str(message).rstrip(".")


# Top-level boxes an MP4/MOV (ISO base media) file may start with.
_ISO_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"})


def _truncated_iso_file(file: Path) -> str | None:
    """Why an MP4/MOV that FFmpeg rejects looks unfinished, from its top-level boxes; None if it does not.

    FFmpeg says only "invalid data" (and logs "moov atom not found") for a recording or download
    that stopped before its ``moov`` index was written, the usual way such files break.
    """
    try:
        with file.open("rb") as stream:
            total = os.fstat(stream.fileno()).st_size
            offset, kinds, cut = 0, [], False
            while offset + 8 <= total:
                stream.seek(offset)
                header = stream.read(16)
                size, kind = int.from_bytes(header[:4], "big"), header[4:8]
                if not kinds and kind not in _ISO_FIRST_BOXES:
                    return None  # not an ISO base media file: FFmpeg's own words fit better
                if size == 1 and len(header) == 16:  # a 64-bit size follows the type
                    size = int.from_bytes(header[8:16], "big")
                elif size == 0:  # the box runs to the end of the file
                    size = total - offset
                if size < 8:
                    break  # damaged box headers: stop reading the structure
                kinds.append(kind)
                if offset + size > total:
                    cut = True
                    break
                offset += size
    except OSError:
        return None
    if not kinds or b"moov" in kinds:
        return None
    ending = f" and its last box ('{kinds[-1].decode('latin-1')}') is cut short" if cut else ""
    return (
        f"looks truncated or unfinished: an MP4/MOV needs a 'moov' index, which this file lacks{ending} "
        "(a recording or download that stopped early); fetch or export it again."
    )
