"""``evaluation.json``: the facts about an evaluation run that no table row holds.

``evaluate`` writes it into RUN_DIR beside the tables::

    {"classes": 4, "videos": 8, "split": "test"}

``classes`` is the number of classes of the classifier (and manifest), which
decides whether top-5 accuracy says anything (with 5 classes or fewer every
video is top-5 correct); ``videos`` is how many videos were evaluated (errors
excluded), ``split`` the manifest split. The report and ``scsampler evaluate``
read it; a run from before the file existed reads as ``None``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from scsampler._atomic import atomic_output

__all__ = ["SUMMARY_NAME", "TOP5_MIN_CLASSES", "write_summary", "read_summary", "shows_top5"]

SUMMARY_NAME = "evaluation.json"
TOP5_MIN_CLASSES = 6  # top-5 is shown only with more than 5 classes


def write_summary(run_dir: str | os.PathLike, *, classes: int, videos: int, split: str) -> Path:
    """Write ``RUN_DIR/evaluation.json`` atomically and return its path."""
    path = Path(run_dir) / SUMMARY_NAME
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps({"classes": int(classes), "videos": int(videos), "split": str(split)}) + "\n")
    return path


def read_summary(run_dir: str | os.PathLike) -> dict | None:
    """The run's ``evaluation.json`` as a dict; None when it is missing or unreadable (an older run)."""
    path = Path(run_dir) / SUMMARY_NAME
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def shows_top5(summary: dict | None) -> bool:
    """Whether top-5 accuracy is worth showing: more than 5 classes, or unknown (then shown as before)."""
    classes = (summary or {}).get("classes")
    return not isinstance(classes, int) or classes >= TOP5_MIN_CLASSES
