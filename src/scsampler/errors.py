"""Errors, and the data warning, that name the file and the problem, for users rather than for library internals."""

from __future__ import annotations

import os

__all__ = ["ScsamplerError", "VideoError", "UsageError", "DataWarning"]


class ScsamplerError(Exception):
    """Base class of every error this package raises on purpose."""


class UsageError(ScsamplerError, ValueError):
    """An argument breaks a documented rule; the message says the rule and a fix."""


class VideoError(ScsamplerError):
    """A video file cannot be used: missing, empty, not a video, damaged.

    ``str(error)`` reads ``"<path>: <problem>"`` so that a batch report can
    print it as one line.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DataWarning(UserWarning):
    """The data or a result looks degenerate; the message names the file and a fix.

    Raised as a warning, not an error: the run goes on (a one-class split or an
    untrustworthy runtime estimate is worth knowing about, not worth stopping for).
    ``str(warning)`` starts with the file it is about (a manifest, ``segments.csv``,
    a video or a targets file).
    """
