"""``report.html``: one self-contained page with every table and figure of an evaluation run.

It reads only what the evaluation runner wrote into RUN_DIR: its tables (CSV,
or Parquet of the same name when there is no CSV) and ``evaluation.json``:

====================== ================================================================
``main_table``          strategy,k,top1,top5,sampler_s,decode_s,classifier_s,total_s
                        (optional: ``top1_std``; ``videos``, ``top1_low``, ``top1_high``,
                        ``top5_low``, ``top5_high``: 95% bootstrap intervals over videos;
                        ``top1_vs_dense``, ``top1_vs_uniform`` and ``top1_vs_<sampler>`` for
                        each zero-training sampler, each with ``_low`` and ``_high``:
                        paired differences, all fractions; other columns, such
                        as ``choice``, are shown as they are)
``evaluation.json``     {"classes", "videos", "split"} (optional): top-5 is shown only
                        with more than 5 classes (always when the file is missing)
``runtime_table``       strategy,k,classifier,sampler_s,decode_s,classifier_s,total_s,
                        speedup_vs_dense (heavy classifier: "runtime at paper scale")
``runtime_check``       strategy,path,estimated_s,measured_s (optional)
``accuracy_vs_k``       strategy,k,top1,top5 (an empty k means all clips; optional
                        ``top1_low``, ``top1_high``: drawn as a band)
``..._clips_auto``      ``accuracy_vs_clips_auto``: threshold,mean_clips,top1 (optional
                        ``top1_low``, ``top1_high``, ``chosen``): the ``auto`` row (K chosen
                        per video) over thresholds, drawn beside the fixed-K curve
``union_vs_kprime``     k_prime,k,top1,top5
``accuracy_vs_runtime`` strategy,k,total_s,top1
``speedup_vs_length``   minutes,clips,dense_s,ceiling,<strategy>_s,<strategy>_speedup,
                        <strategy>_peak_mb (optional; ``benchmarks/speedup_vs_length.py
                        --out RUN_DIR`` writes it)
``accuracy_vs_stride``  strategy,stride,top1,scored_per_video
``ablation``            loss,modality,backbone,top1,top5 (optional)
``sampler_quality``     strategy,path,precision_vs_oracle,precision_vs_segments
``tuning.json``         how the ``scsampler`` row was chosen (evaluation/tuning.py:
                        ``TunedChoice.to_dict``), with ``tuning`` (one row per candidate)
``warnings``            kind,message (what looked degenerate; none: "No warnings")
``timelines``           path,label,predicted,clip_index,start_s,end_s,score,selected
                        (optional ``in_segment``), one row per (video, clip)
====================== ================================================================

Figures are written as PNG under ``RUN_DIR/figures/`` and embedded in the page
as base64 data URIs with inline CSS, so the page needs no other file and loads
nothing from the network. Every name that comes from the data (paths, labels,
strategies) is HTML-escaped. A missing or unreadable table becomes a note in
its section, not a crash.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from scsampler._atomic import write_bytes_atomically
from scsampler.errors import ScsamplerError, UsageError
from scsampler.evaluation import plots
from scsampler.evaluation.k_column import is_every_clip, with_nullable_k
from scsampler.evaluation.summary import SUMMARY_NAME, read_summary, shows_top5

__all__ = ["write_report", "render_report", "ReportSummary", "REPORT_NAME", "SECTION_TITLES"]

REPORT_NAME = "report.html"
FIGURES_DIR = "figures"

# Section id -> heading; the runtime heading gets ": <classifier>" appended when known.
SECTION_TITLES = {
    "warnings": "Warnings",
    "main": "Main table",
    "tuning": "Choices made on the validation split",
    "runtime": "Runtime at paper scale",
    "speedup-vs-length": "Speed-up against video length",
    "accuracy-vs-k": "Accuracy vs K",
    "accuracy-vs-clips-auto": "Accuracy vs clips per video: K chosen per video (auto)",
    "union-vs-kprime": "AV-union-list vs K'",
    "accuracy-vs-runtime": "Accuracy vs runtime per video",
    "accuracy-vs-stride": "Accuracy vs sampler stride N",
    "ablation": "Ablation: loss x modality x backbone",
    "sampler-quality": "Sampler quality",
    "videos": "Per-video saliency timelines",
}

_TABLE_FILES = {
    "main": "main_table",
    "runtime": "runtime_table",
    "runtime_check": "runtime_check",
    "accuracy_vs_k": "accuracy_vs_k",
    "auto": "accuracy_vs_clips_auto",
    "union": "union_vs_kprime",
    "accuracy_vs_runtime": "accuracy_vs_runtime",
    "speedup": "speedup_vs_length",
    "stride": "accuracy_vs_stride",
    "ablation": "ablation",
    "quality": "sampler_quality",
    "timelines": "timelines",
    "errors": "errors",
}

_SPEEDUP_HOW = " `benchmarks/speedup_vs_length.py --out RUN_DIR` measures it (an hour or more of CPU)."
_THUMBNAILS_PER_END = 3  # top-3 and bottom-3 clips by score
_THUMBNAIL_HEIGHT_PX = 90


@dataclass
class ReportSummary:
    """What :func:`render_report` wrote: the page, its figures, and the notes it shows."""

    path: Path
    figures: list[Path] = field(default_factory=list)
    videos: int = 0
    thumbnails: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "report": str(self.path),
            "figures": [str(p) for p in self.figures],
            "videos": self.videos,
            "thumbnails": self.thumbnails,
            "notes": list(self.notes),
        }


def write_report(
    run_dir: Path,
    *,
    title: str = "SCSampler evaluation",
    thumbnails: bool = True,
    max_videos: int | None = None,
) -> Path:
    """Write ``RUN_DIR/report.html`` from the run's tables and return its path.

    See :func:`render_report` for the arguments.
    """
    return render_report(run_dir, title=title, thumbnails=thumbnails, max_videos=max_videos).path


def render_report(
    run_dir: Path,
    *,
    title: str = "SCSampler evaluation",
    thumbnails: bool = True,
    max_videos: int | None = None,
) -> ReportSummary:
    """Draw every figure into ``RUN_DIR/figures/`` and write ``RUN_DIR/report.html`` atomically.

    Args:
        run_dir: the folder ``scsampler evaluate`` wrote its tables into.
        title: the page title (escaped).
        thumbnails: decode one middle frame of the top-3 and bottom-3 clips of
            each video (by score) and show them under its timeline.
        max_videos: show timelines for at most this many videos (None: all).

    Raises:
        UsageError: ``run_dir`` is not a folder or holds none of the tables.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"run directory {run_dir} does not exist or is not a folder; pass the -o folder of `scsampler evaluate`.")
    if max_videos is not None and max_videos < 0:
        raise UsageError(f"max_videos must be >= 0 or None, got {max_videos!r}.")
    tables: dict[str, pd.DataFrame | None] = {}
    table_notes: dict[str, str] = {}
    for key, stem in _TABLE_FILES.items():
        tables[key], note = _read_table(run_dir, stem)
        if note:
            table_notes[key] = note
    if all(tables[key] is None for key in _TABLE_FILES if key != "errors"):
        names = ", ".join(f"{stem}.csv" for stem in _TABLE_FILES.values())
        raise UsageError(f"{run_dir} holds none of the evaluation tables ({names}); run `scsampler evaluate ... -o {run_dir}` first.")

    builder = _PageBuilder(run_dir)
    body = [
        _section_warnings(run_dir),
        _section_main(builder, tables["main"], table_notes.get("main"), summary=read_summary(run_dir)),
        _section_tuning(run_dir),
        _section_runtime(builder, tables["runtime"], table_notes.get("runtime"), tables["runtime_check"]),
        _figure_section(builder, "speedup-vs-length", tables["speedup"],
                        table_notes["speedup"] + _SPEEDUP_HOW if "speedup" in table_notes else None,
                        plots.plot_speedup_vs_length, "speedup_vs_length.png",
                        "Dense against classify with each sampler at K clips on synthetic videos of growing length "
                        "(benchmarks/speedup_vs_length.py): the sampler's cost grows with the video, the K clips' does "
                        "not, so the speed-up approaches the ceiling L/K only where the sampler costs little per clip. "
                        "Dense is measured on the shortest video and estimated for the others; peak_mb is each "
                        "process's peak resident memory."),
        _figure_section(builder, "accuracy-vs-k", tables["accuracy_vs_k"], table_notes.get("accuracy_vs_k"),
                        plots.plot_accuracy_vs_k, "accuracy_vs_k.png",
                        "Video top-1 accuracy against the number of clips K per video (supplementary Fig. 1)."),
        _section_auto(builder, tables["auto"], table_notes.get("auto"), tables["accuracy_vs_k"]),
        _figure_section(builder, "union-vs-kprime", tables["union"], table_notes.get("union"),
                        plots.plot_union_vs_kprime, "union_vs_kprime.png",
                        "AV-union-list: K' clips from the visual sampler's list, the rest from the audio sampler's "
                        "(supplementary Fig. 2)."),
        _figure_section(builder, "accuracy-vs-runtime", tables["accuracy_vs_runtime"],
                        table_notes.get("accuracy_vs_runtime"), plots.plot_accuracy_vs_runtime,
                        "accuracy_vs_runtime.png",
                        "Random and Uniform given more clips against SCSampler at the same seconds per video; the "
                        "sampler's own cost is counted (supplementary Fig. 3)."),
        _figure_section(builder, "accuracy-vs-stride", tables["stride"], table_notes.get("stride"),
                        plots.plot_accuracy_vs_stride, "accuracy_vs_stride.png",
                        "The sampler scores every N-th clip (supplementary Fig. 4)."),
        _section_ablation(tables["ablation"], table_notes.get("ablation")),
        _section_quality(builder, tables["quality"], table_notes.get("quality")),
        _section_videos(builder, tables["timelines"], table_notes.get("timelines"),
                        thumbnails=thumbnails, max_videos=max_videos),
    ]
    if tables["errors"] is not None:
        body.append('<section><h2 id="errors">Videos that could not be evaluated</h2>'
                    f"{_html_table(tables['errors'], highlight=None)}</section>")
    page = _page(title, run_dir, body, builder.notes)
    path = run_dir / REPORT_NAME
    write_bytes_atomically(path, page.encode("utf-8"))
    return ReportSummary(path=path, figures=builder.figures, videos=builder.videos,
                         thumbnails=builder.thumbnails, notes=builder.notes)


# --- reading tables -------------------------------------------------------------------------


def _read_table(run_dir: Path, stem: str) -> tuple[pd.DataFrame | None, str | None]:
    """The table ``stem`` as CSV, else Parquet; (None, note) when missing, empty or unreadable."""
    csv, parquet = run_dir / f"{stem}.csv", run_dir / f"{stem}.parquet"
    source = csv if csv.exists() else parquet if parquet.exists() else None
    if source is None:
        return None, f"{stem}.csv is not in the run directory."
    try:
        table = pd.read_csv(source) if source.suffix == ".csv" else pd.read_parquet(source)
    except pd.errors.EmptyDataError:
        return None, f"{source.name} is empty."
    except (OSError, ValueError, pd.errors.ParserError) as error:  # pyarrow's errors derive from these
        return None, f"{source.name} could not be read: {error}"
    if table.empty:
        return None, f"{source.name} has no rows."
    return with_nullable_k(table), None


# --- page pieces ----------------------------------------------------------------------------


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


class _PageBuilder:
    """Draws figures into RUN_DIR/figures and turns them into <img> tags; collects notes."""

    def __init__(self, run_dir: Path) -> None:
        self.figures_dir = run_dir / FIGURES_DIR
        self.figures: list[Path] = []
        self.notes: list[str] = []
        self.videos = 0
        self.thumbnails = 0

    def figure(self, plot: Callable[..., Path], table: pd.DataFrame, name: str, *, alt: str, **options) -> str:
        try:
            path = plot(table, self.figures_dir / name, **options)
        except (UsageError, ValueError, TypeError, KeyError) as error:
            message = f"figure {name} could not be drawn: {error}"
            warnings.warn(message, stacklevel=2)
            self.notes.append(message)
            return _note(message)
        self.figures.append(path)
        return _img("image/png", path.read_bytes(), alt=alt, css="figure")


def _img(mime: str, data: bytes, *, alt: str, css: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="{css}" alt="{_esc(alt)}" src="data:{mime};base64,{encoded}">'


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _heading(section: str, suffix: str = "") -> str:
    return f'<h2 id="{section}">{_esc(SECTION_TITLES[section] + suffix)}</h2>'


def _section(section: str, *parts: str, suffix: str = "") -> str:
    return f'<section>{_heading(section, suffix)}{"".join(parts)}</section>'


@dataclass(frozen=True)
class _Html:
    """A table cell already rendered as safe HTML (its parts from the data escaped)."""

    text: str


def _format_cell(column: str, value: object) -> str:
    if isinstance(value, _Html):
        return value.text
    if column == "k" and is_every_clip(value):  # a null K: every clip (Dense, the "all" points)
        return "all"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "&ndash;"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        if column.startswith(("top1_vs_", "top5_vs_")):  # a difference of two accuracies: percentage points
            return f"{100 * number:+.1f} pts"
        if column in {"top1", "top5", "top1_std", "top5_std", "top1_low", "top1_high", "top5_low", "top5_high"}:
            return f"{100 * number:.1f}%"
        if column == "speedup_vs_dense":
            return f"{number:.1f}&times;"
        if column.endswith("_s"):
            return _seconds(number)
        if column.startswith("precision"):
            return f"{number:.3f}"
        if float(number).is_integer():
            return str(int(number))
        return f"{number:.4g}"
    return _esc(value)


def _seconds(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _html_table(table: pd.DataFrame, *, highlight: str | None = "strategy") -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in table.columns)
    rows = []
    for record in table.itertuples(index=False):
        cells = "".join(f"<td>{_format_cell(str(c), v)}</td>" for c, v in zip(table.columns, record))
        method = highlight in table.columns and "scsampler" in str(getattr(record, highlight, "")).lower()
        rows.append(f'<tr class="method">{cells}</tr>' if method else f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


_NOT_DISTINGUISHABLE = "&dagger;"  # marks a difference whose 95% interval contains 0
_REFERENCES = {"dense": "Dense", "uniform": "Uniform"}  # strategy name -> how the report names it


def _references(table: pd.DataFrame) -> dict[str, str]:
    """The rows the main table compares against: Dense, Uniform, then each zero-training sampler
    (``top1_vs_motion``, ``top1_vs_loudness``, ...), named as the report names them."""
    found = dict(_REFERENCES)
    for column in table.columns:
        name = column[len("top1_vs_"):] if column.startswith("top1_vs_") else ""
        if name and not name.endswith(("_low", "_high")) and name not in found:
            found[name] = name
    return {name: title for name, title in found.items() if f"top1_vs_{name}" in table.columns}


def _section_main(builder: _PageBuilder, table: pd.DataFrame | None, note: str | None, *,
                  summary: dict | None = None) -> str:
    if table is None:
        return _section("main", _note(note or "no main table."))
    top5 = shows_top5(summary)
    shown = _main_display(table, top5=top5)
    k = list(table["k"].dropna().unique()) if "k" in table.columns else []  # null: Dense's every clip
    videos = (summary or {}).get("videos")
    if videos is None and "videos" in table.columns and table["videos"].notna().any():
        videos = int(table["videos"].max())
    lead = ""
    if len(k) == 1:
        lead = (f"<p>Video-level accuracy and seconds per video (sampler, decoding, classifier) at "
                f"K={_format_cell('k', k[0])} (Dense: every clip)"
                + (f", on {_esc(videos)} videos" if videos is not None else "") + ".")
        if "top1_low" in table.columns:
            compared = ", ".join(_references(table).values()) or "Dense and Uniform"
            lead += (" In brackets: the 95% percentile-bootstrap interval over videos; differences to "
                     f"{_esc(compared)} (the zero-training samplers: what a learned one must beat) are in "
                     "percentage points, paired over the same videos.")
        lead += "</p>"
    notes = []
    if _references(table):
        notes.append(f'<p class="legend">{_NOT_DISTINGUISHABLE} the 95% interval of this difference contains 0: '
                     "not distinguishable from 0 at 95%.</p>")
    if not top5:
        notes.append(f'<p class="legend">Top-5 is not shown: with {_esc(summary["classes"])} classes '
                     f"(from {SUMMARY_NAME}) it says little; it is shown with more than 5.</p>")
    figure = builder.figure(plots.plot_main_table, table, "main_table.png", alt="main table: accuracy and runtime")
    return _section("main", lead, _html_table(shown), *notes, figure)


def _main_display(table: pd.DataFrame, *, top5: bool) -> pd.DataFrame:
    """The main table as shown: accuracy with its interval, differences with theirs, then the rest."""
    used = {"videos", "top1", "top1_low", "top1_high", "top5", "top5_low", "top5_high"}
    shown = pd.DataFrame(index=table.index)
    for column in ("strategy", "k"):
        if column in table.columns:
            shown[column] = table[column]
    for top in ("top1", "top5") if top5 else ("top1",):
        if top not in table.columns:
            continue
        if {f"{top}_low", f"{top}_high"} <= set(table.columns):
            shown[f"{top} [95% CI]"] = [_Html(_accuracy_cell(row[top], row[f"{top}_low"], row[f"{top}_high"]))
                                        for _, row in table.iterrows()]
        else:
            shown[top] = table[top]
    for name, title in _references(table).items():
        column = f"top1_vs_{name}"
        bounds = {column, f"{column}_low", f"{column}_high"}
        if bounds <= set(table.columns):
            used |= bounds
            shown[f"top1 vs {title} (pts) [95% CI]"] = [
                _Html(_difference_cell(row[column], row[f"{column}_low"], row[f"{column}_high"],
                                       reference=str(row.get("strategy", "")) == name))
                for _, row in table.iterrows()]
    for column in table.columns:
        if column not in used and column not in shown.columns:
            shown[column] = table[column]
    return shown


def _accuracy_cell(value: float, low: float, high: float) -> str:
    """``75.0% [50.0, 100.0]``: an accuracy and its 95% interval, in percent."""
    if not np.isfinite(value):
        return "&ndash;"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{100 * value:.1f}%"
    return f"{100 * value:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def _difference_cell(value: float, low: float, high: float, *, reference: bool) -> str:
    """``+12.5 [-12.5, +37.5] †``: a paired difference in points; marked when its interval contains 0."""
    if reference:
        return '<span class="muted">reference</span>'
    if not (np.isfinite(value) and np.isfinite(low) and np.isfinite(high)):
        return "&ndash;"
    text = f"{100 * value:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"
    if low <= 0 <= high:
        return f'<span class="ns" title="not distinguishable from 0 at 95%">{text} {_NOT_DISTINGUISHABLE}</span>'
    return text


def _section_runtime(builder: _PageBuilder, table: pd.DataFrame | None, note: str | None,
                     check: pd.DataFrame | None) -> str:
    if table is None:
        return _section("runtime", _note(note or "no runtime table."))
    classifiers = ", ".join(pd.unique(table["classifier"].astype(str))) if "classifier" in table.columns else ""
    suffix = f": {classifiers}" if classifiers else ""
    lead = ("<p>Seconds per video with a heavy clip classifier, measured on the same test videos "
            "(the per-clip cost of that classifier, the sampler's and the decoder's real time). "
            "These are not the seconds of the small classifier in the main table.</p>")
    parts = [lead, _html_table(table),
             builder.figure(plots.plot_runtime, table, "runtime_table.png", alt=f"runtime at paper scale{suffix}")]
    if check is not None:
        parts.append("<h3>End-to-end check: runtime estimated from cached costs vs measured</h3>")
        parts.append(_html_table(check))
    return _section("runtime", *parts, suffix=suffix)


def _figure_section(builder: _PageBuilder, section: str, table: pd.DataFrame | None, note: str | None,
                    plot: Callable[..., Path], png: str, caption: str) -> str:
    if table is None:
        return _section(section, _note(note or "no table."))
    figure = builder.figure(plot, table, png, alt=SECTION_TITLES[section])
    return _section(section, f"<p>{_esc(caption)}</p>", figure,
                    f"<details><summary>table</summary>{_html_table(table)}</details>")


def _section_auto(builder: _PageBuilder, table: pd.DataFrame | None, note: str | None,
                  fixed_k: pd.DataFrame | None) -> str:
    """The ``auto`` row's curve: each threshold's mean clips per video and top-1, beside the fixed-K curve."""
    section = "accuracy-vs-clips-auto"
    if table is None:
        return _section(section, _note(note or "no accuracy_vs_clips_auto table."))
    caption = ("K chosen per video on the scsampler row's ranking: clips are classified best first and the video "
               "stops once the mean softmax so far is confident enough (one point per threshold; the star is the "
               "threshold chosen on the validation split, the auto row of the main table). Dashed: the same ranking "
               "at a fixed K.")
    figure = builder.figure(plots.plot_accuracy_vs_clips_auto, table, "accuracy_vs_clips_auto.png",
                            alt=SECTION_TITLES[section], fixed_k=fixed_k)
    return _section(section, f"<p>{_esc(caption)}</p>", figure,
                    f"<details><summary>table</summary>{_html_table(table, highlight=None)}</details>")


def _section_warnings(run_dir: Path) -> str:
    """The warnings of the run (``warnings.csv``: kind,message), each escaped, or a line saying there were none."""
    if not (run_dir / "warnings.csv").exists():
        return _section("warnings", _note("warnings.csv is not in the run directory (a run made before warnings "
                                          "were recorded); rerun `scsampler evaluate` to see them."))
    table, note = _read_table(run_dir, "warnings")
    if table is None and note is not None and not note.endswith("has no rows."):
        return _section("warnings", _note(note))
    if table is None:
        return _section("warnings", "<p>No warnings: nothing in the data or the results looked degenerate.</p>")
    kinds = table["kind"].astype(str) if "kind" in table.columns else pd.Series([""] * len(table))
    messages = table["message"].astype(str) if "message" in table.columns else table.astype(str).agg(" ".join, axis=1)
    items = "".join(f"<li><b>{_esc(kind)}</b>: {_esc(message)}</li>" for kind, message in zip(kinds, messages))
    return _section("warnings", f"<p>{len(table)} warning{'' if len(table) == 1 else 's'} about the data or the "
                                f"results (also printed by <code>scsampler evaluate</code>):</p><ul>{items}</ul>")


def _section_ablation(table: pd.DataFrame | None, note: str | None) -> str:
    if table is None:
        return _section("ablation", _note(f"No ablation results: {note or 'ablation.csv is missing.'}"))
    return _section("ablation", "<p>Sampler loss x input modality x backbone, video accuracy at K=10.</p>",
                    _html_table(table, highlight=None))


def _section_quality(builder: _PageBuilder, table: pd.DataFrame | None, note: str | None) -> str:
    if table is None:
        return _section("sampler-quality", _note(note or "no sampler quality table."))
    parts = ["<p>Per video, the fraction of a strategy's top-K clips that are also among the oracle's top-K "
             "(and that overlap a true action segment, where the dataset has segments).</p>"]
    columns = [c for c in ("precision_vs_oracle", "precision_vs_segments") if c in table.columns]
    if "strategy" in table.columns and columns:
        summary = table.groupby("strategy", sort=False)[columns].mean().reset_index()
        summary.insert(1, "videos", table.groupby("strategy", sort=False).size().to_numpy())
        summary.columns = ["strategy", "videos"] + [f"{c} (mean)" for c in columns]
        parts.append(_html_table(summary))
    parts.append(builder.figure(plots.plot_sampler_quality, table, "sampler_quality.png", alt="sampler quality"))
    return _section("sampler-quality", *parts)


def _section_videos(builder: _PageBuilder, table: pd.DataFrame | None, note: str | None, *,
                    thumbnails: bool, max_videos: int | None) -> str:
    if table is None:
        return _section("videos", _note(note or "no timelines table."))
    missing = [c for c in ("path", "clip_index", "start_s", "end_s", "score", "selected") if c not in table.columns]
    if missing:
        message = f"timelines lacks column(s) {', '.join(missing)}; no timelines drawn."
        builder.notes.append(message)
        return _section("videos", _note(message))
    for stale in (builder.figures_dir / "timelines").glob("video_*.png"):  # from an earlier, larger render
        stale.unlink()
    paths = list(pd.unique(table["path"]))
    shown = paths if max_videos is None else paths[:max_videos]
    parts = ["<p>Saliency of each clip under the default sampler over time; orange clips are those SCSampler "
             "kept; green spans overlap a true action segment where known. Below each timeline, one "
             "middle frame of the 3 highest- and the 3 lowest-scored clips.</p>"]
    if len(shown) < len(paths):
        parts.append(_note(f"Showing {len(shown)} of {len(paths)} videos."))
    for number, path in enumerate(shown):
        parts.append(_video_block(builder, number, str(path), table[table["path"] == path], thumbnails=thumbnails))
    builder.videos = len(shown)
    return _section("videos", *parts)


def _video_block(builder: _PageBuilder, number: int, path: str, rows: pd.DataFrame, *, thumbnails: bool) -> str:
    label = rows["label"].iloc[0] if "label" in rows.columns else None
    predicted = rows["predicted"].iloc[0] if "predicted" in rows.columns else None
    comparable = predicted is not None and label is not None
    if predicted is None and "predicted_index" in rows.columns:  # a class index only: nothing to compare
        predicted = f"class #{rows['predicted_index'].iloc[0]}"
    facts = []
    if label is not None:
        facts.append(f"label <b>{_esc(label)}</b>")
    if predicted is not None:
        verdict = "" if not comparable else (" (correct)" if str(predicted) == str(label) else " (wrong)")
        facts.append(f"predicted <b>{_esc(predicted)}</b>{verdict}")
    selected = int(rows["selected"].fillna(False).astype(bool).sum())
    facts.append(f"{len(rows)} clips, {selected} selected")
    title = f"{Path(path).name}: label {label}, predicted {predicted}" if label is not None else Path(path).name
    timeline = builder.figure(plots.plot_timeline, rows, f"timelines/video_{number:04d}.png",
                              alt=f"saliency timeline of {Path(path).name}", title=title)
    parts = [f'<div class="video"><h3>{_esc(Path(path).name)}</h3>',
             f'<p class="path"><code>{_esc(path)}</code></p><p>{" &middot; ".join(facts)}</p>', timeline]
    if thumbnails:
        parts.append(_thumbnail_rows(builder, path, rows))
    parts.append("</div>")
    return "".join(parts)


def _thumbnail_rows(builder: _PageBuilder, path: str, rows: pd.DataFrame) -> str:
    scored = rows[np.isfinite(rows["score"].to_numpy(float))].sort_values("score", ascending=False, kind="stable")
    top = scored.head(_THUMBNAILS_PER_END)
    bottom = scored.drop(top.index).tail(_THUMBNAILS_PER_END).iloc[::-1]
    wanted = pd.concat([top, bottom])
    if wanted.empty:
        return _note("No scored clips, so no thumbnails.")
    try:
        images = clip_thumbnails(path, wanted["start_s"].to_numpy(float), wanted["end_s"].to_numpy(float))
    except (ScsamplerError, OSError) as error:
        message = f"{path}: no thumbnails, the video could not be decoded ({error})."
        builder.notes.append(message)
        return _note(message)
    out = []
    for heading, group, group_images in (("highest scores", top, images[: len(top)]),
                                         ("lowest scores", bottom, images[len(top):])):
        cells = []
        for (_, clip), image in zip(group.iterrows(), group_images):
            caption = (f"clip {_format_cell('clip_index', clip['clip_index'])} &middot; "
                       f"{clip['start_s']:.1f}&ndash;{clip['end_s']:.1f} s &middot; score {clip['score']:.3g}"
                       + (" &middot; selected" if bool(clip["selected"]) else ""))
            if image is None:
                cells.append(f'<figure class="thumb missing"><div>not decoded</div><figcaption>{caption}</figcaption></figure>')
            else:
                builder.thumbnails += 1
                thumb = _img("image/jpeg", image, alt=f"clip {clip['clip_index']}", css="thumb")
                cells.append(f'<figure class="thumb">{thumb}<figcaption>{caption}</figcaption></figure>')
        if cells:
            out.append(f'<div class="thumbs"><span class="rowlabel">{heading}</span>{"".join(cells)}</div>')
    return "".join(out)


def clip_thumbnails(path: str | os.PathLike, start_s: np.ndarray, end_s: np.ndarray, *,
                    height_px: int = _THUMBNAIL_HEIGHT_PX) -> list[bytes | None]:
    """JPEG bytes of the middle frame of each clip ``[start_s, end_s)`` of the video (None if not decoded).

    The middle frame is found from the video's real frame timestamps, so it
    does not depend on the clip length the evaluation used.

    Raises:
        VideoError: the file cannot be opened.
    """
    from matplotlib import image as mpl_image

    from scsampler.video import iter_frames, probe

    info = probe(path)
    middle_s = (np.asarray(start_s, float) + np.asarray(end_s, float)) / 2
    frames = np.clip(np.searchsorted(info.frame_times_s, middle_s, side="right") - 1, 0, info.frames - 1)
    width_px = max(2, int(round(height_px * info.width / max(info.height, 1) / 2)) * 2)
    decoded: dict[int, bytes] = {}
    for index, image in iter_frames(path, sorted(set(int(f) for f in frames)), info=info, size=(height_px, width_px)):
        buffer = io.BytesIO()
        mpl_image.imsave(buffer, np.ascontiguousarray(image), format="jpeg", pil_kwargs={"quality": 82})
        decoded[index] = buffer.getvalue()
    return [decoded.get(int(f)) for f in frames]


_TUNING_ROWS = 10  # the best candidates shown from tuning.csv


def _section_tuning(run_dir: Path) -> str:
    """What the ``scsampler`` row is and where it was chosen (``tuning.json``), with the best rows of ``tuning.csv``."""
    try:
        summary = json.loads((run_dir / "tuning.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _section("tuning", _note("tuning.json is not in the run directory (a run made before the scsampler "
                                        "row was tuned); rerun `scsampler evaluate` to see the choice."))
    except (OSError, ValueError) as error:
        return _section("tuning", _note(f"tuning.json could not be read: {error}"))
    choice = _esc(summary.get("choice", "?"))
    if not summary.get("tuned"):
        return _section("tuning", f"<p>The <b>scsampler</b> row is the fixed choice <b>{choice}</b>: no tuning "
                                  f"({_esc(summary.get('reason', ''))}).</p>")
    k = summary.get("strategy", {}).get("k", "?")
    lead = (f"<p>The <b>scsampler</b> row is <b>{choice}</b>, chosen on split <code>{_esc(summary.get('split'))}</code> "
            f"({_esc(summary.get('videos'))} videos), never on the test split: the best video top-1 there "
            f"({_format_cell('top1', summary.get('top1'))}), ties to the higher mean probability of the true class "
            f"({_format_cell('true_prob', summary.get('true_prob'))}). Best K on that split for this strategy: "
            f"<b>{_esc(summary.get('best_k'))}</b> (reported only: the main table keeps K={_esc(k)}).</p>")
    parts = [lead]
    by_k = pd.DataFrame(summary.get("by_k") or [])
    if not by_k.empty:
        parts.append(f"<details><summary>accuracy vs K on the tuning split</summary>{_html_table(by_k, highlight=None)}</details>")
    table, note = _read_table(run_dir, "tuning")
    if table is None:
        parts.append(_note(note or "no tuning table."))
    elif {"candidate", "top1", "true_prob"} <= set(table.columns):
        order = table["order"] if "order" in table.columns else pd.Series(range(len(table)), index=table.index)
        ranked = table.assign(_order=order).sort_values(["top1", "true_prob", "_order"], ascending=[False, False, True])
        shown = [c for c in ("candidate", "top1", "true_prob", "chosen") if c in table.columns]
        parts.append(f"<p>The {min(_TUNING_ROWS, len(table))} best of {len(table)} candidates (every one is in "
                     f"<code>tuning.csv</code>):</p>")
        parts.append(_html_table(ranked[shown].head(_TUNING_ROWS), highlight=None))
    return _section("tuning", *parts)


# --- the page -------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:1.5em 2em 4em}
h1{font-size:1.7em;margin-bottom:.2em} h2{margin-top:2em;border-bottom:2px solid #ddd;padding-bottom:.2em}
h3{margin:.3em 0;font-size:1.05em;word-break:break-all}
nav a{margin-right:1em;font-size:.9em}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0;background:#fff}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right} th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
tr.method td{background:#fff3e0;font-weight:600}
.ns{color:#777;font-style:italic} .muted{color:#999} .legend{font-size:.85em;color:#555;margin:.2em 0}
.scroll{overflow-x:auto}
img.figure{max-width:100%;height:auto;display:block;margin:.6em 0;background:#fff}
.note{background:#fff8d6;border-left:4px solid #e0b000;padding:.4em .8em}
.video{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:.6em 1em;margin:1em 0}
.path{font-size:.8em;color:#666;margin:0;word-break:break-all}
.thumbs{display:flex;flex-wrap:wrap;align-items:flex-start;gap:.6em;margin:.4em 0}
.rowlabel{width:7em;font-size:.85em;color:#555;align-self:center}
figure.thumb{margin:0;font-size:.72em;color:#444;max-width:190px}
figure.thumb img{display:block;height:90px;width:auto;border:1px solid #ccc}
figure.missing div{height:90px;width:120px;background:#eee;display:flex;align-items:center;justify-content:center}
details summary{cursor:pointer;color:#555;font-size:.9em}
footer{color:#888;font-size:.8em;margin-top:3em}
"""


def _page(title: str, run_dir: Path, body: list[str], notes: list[str]) -> str:
    nav = "".join(f'<a href="#{key}">{_esc(text)}</a>' for key, text in SECTION_TITLES.items())
    generated = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    notes_html = ""
    if notes:
        items = "".join(f"<li>{_esc(n)}</li>" for n in notes)
        notes_html = f'<section><h2 id="notes">Notes</h2><ul>{items}</ul></section>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No network at all: images are data URIs, styles are inline.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_esc(title)}</h1><p>Run directory <code>{_esc(run_dir.resolve())}</code> &middot; generated {_esc(generated)}</p>"
        f"<nav>{nav}</nav>{''.join(body)}{notes_html}"
        "<footer>Written by scsampler report. SCSampler: Korbar, Tran, Torresani, ICCV 2019.</footer>"
        "</main></body></html>\n"
    )
