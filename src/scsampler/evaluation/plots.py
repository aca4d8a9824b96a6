"""The evaluation figures, one function per figure, drawn headless with matplotlib (Agg).

Each ``plot_xxx(table, out_png)`` takes the table the evaluation runner wrote
(see ``scsampler.evaluation.report`` for the file names and columns), draws one
PNG, writes it atomically and returns its path. A table that lacks a column the
figure needs raises :class:`~scsampler.errors.UsageError` naming the columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from scsampler._atomic import atomic_output
from scsampler.errors import UsageError  # noqa: E402
from scsampler.evaluation.k_column import is_every_clip, k_text  # noqa: E402

__all__ = [
    "plot_main_table",
    "plot_runtime",
    "plot_accuracy_vs_k",
    "plot_accuracy_vs_clips_auto",
    "plot_union_vs_kprime",
    "plot_accuracy_vs_runtime",
    "plot_accuracy_vs_stride",
    "plot_sampler_quality",
    "plot_speedup_vs_length",
    "plot_timeline",
    "mpl_text",
]

_DPI = 110
_BASELINES = {"dense", "uniform", "random"}
_HIGHLIGHT = "scsampler"
# boxplot's ``vert`` became ``orientation`` in matplotlib 3.10 (``vert`` is deprecated from 3.11)
_HORIZONTAL = {"orientation": "horizontal"} if tuple(map(int, matplotlib.__version__.split(".")[:2])) >= (3, 10) else {"vert": False}  # strategies whose name contains this are drawn as the method's points


def mpl_text(value: object) -> str:
    """Text from the data made safe for matplotlib: ``$`` would start mathtext and can fail to parse."""
    return str(value).replace("\\", "\\\\").replace("$", r"\$")


def plot_main_table(table: pd.DataFrame, out_png: Path) -> Path:
    """Top-1 accuracy per strategy at K (bars) next to its seconds per video split by stage."""
    _require(table, ["strategy", "top1", "sampler_s", "decode_s", "classifier_s"], "main_table")
    names = [mpl_text(s) for s in table["strategy"]]
    positions = np.arange(len(table))
    fig, (ax_acc, ax_time) = plt.subplots(1, 2, figsize=(11, max(3.0, 0.38 * len(table) + 1.2)), sharey=True)
    colors = [_strategy_color(s) for s in table["strategy"]]
    ax_acc.barh(positions, 100 * table["top1"].to_numpy(float), color=colors)
    if {"top1_low", "top1_high"} <= set(table.columns):  # the 95% bootstrap interval over videos
        top1 = 100 * table["top1"].to_numpy(float)
        below = np.nan_to_num(top1 - 100 * table["top1_low"].to_numpy(float))
        above = np.nan_to_num(100 * table["top1_high"].to_numpy(float) - top1)
        ax_acc.errorbar(top1, positions, xerr=np.clip([below, above], 0, None), fmt="none", ecolor="black", capsize=3)
        ax_acc.set_title("bars: 95% interval over videos", fontsize=8)
    elif "top1_std" in table.columns:
        std = 100 * table["top1_std"].to_numpy(float)
        ax_acc.errorbar(100 * table["top1"].to_numpy(float), positions, xerr=np.nan_to_num(std), fmt="none", ecolor="black")
    ax_acc.set_yticks(positions, names)
    ax_acc.invert_yaxis()
    ax_acc.set_xlabel("video top-1 accuracy (%)")
    ax_acc.set_xlim(0, 100)
    _stacked_seconds(ax_time, table, positions)
    ax_time.set_xlabel("seconds per video")
    k_values = list(table["k"].dropna().unique()) if "k" in table.columns else []  # null: Dense's every clip
    fig.suptitle("Main table" + (f" (K={_k_label(k_values[0])})" if len(k_values) == 1 else ""))
    return _save(fig, out_png)


def plot_runtime(table: pd.DataFrame, out_png: Path) -> Path:
    """Seconds per video at paper scale (heavy classifier), split by stage, with the speed-up."""
    _require(table, ["strategy", "classifier", "sampler_s", "decode_s", "classifier_s", "total_s"], "runtime_table")
    positions = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.38 * len(table) + 1.2)))
    _stacked_seconds(ax, table, positions)
    ax.set_yticks(positions, [mpl_text(s) for s in table["strategy"]])
    ax.invert_yaxis()
    ax.set_xlabel("seconds per video")
    if "speedup_vs_dense" in table.columns:
        for y, (total, speedup) in enumerate(zip(table["total_s"], table["speedup_vs_dense"])):
            if np.isfinite(speedup):
                ax.annotate(f" {speedup:.1f}x", (total, y), va="center", fontsize=8)
    classifiers = ", ".join(mpl_text(c) for c in pd.unique(table["classifier"].astype(str)))
    ax.set_title(f"Runtime at paper scale: {classifiers}")
    return _save(fig, out_png)


def plot_accuracy_vs_k(table: pd.DataFrame, out_png: Path) -> Path:
    """Top-1 accuracy against the number of clips K, one line per strategy (supplementary Fig. 1).

    A null K (every clip) is drawn last, as "all".
    """
    _require(table, ["strategy", "k", "top1"], "accuracy_vs_k")
    k_values = sorted(set(_k_or_none(k) for k in table["k"]), key=lambda k: (k is None, k or 0))
    position = {k: i for i, k in enumerate(k_values)}
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    _colors_for(ax, table)
    bands = {"top1_low", "top1_high"} <= set(table.columns)
    for strategy, rows in _groups(table, "strategy"):
        rows = rows.assign(_x=[position[_k_or_none(k)] for k in rows["k"]]).sort_values("_x")
        (line,) = ax.plot(rows["_x"], 100 * rows["top1"], **_line_style(strategy))
        if bands:  # the 95% bootstrap interval over videos, faint so that the lines stay readable
            ax.fill_between(rows["_x"], 100 * rows["top1_low"].to_numpy(float), 100 * rows["top1_high"].to_numpy(float),
                            color=line.get_color(), alpha=0.08, linewidth=0)
    ax.set_xticks(range(len(k_values)), [_k_label(k) for k in k_values])
    ax.set_xlabel("clips per video K")
    ax.set_ylabel("video top-1 accuracy (%)")
    ax.set_title("Accuracy vs K" + (" (bands: 95% interval over videos)" if bands else ""))
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _save(fig, out_png)


def plot_accuracy_vs_clips_auto(table: pd.DataFrame, out_png: Path, *, fixed_k: pd.DataFrame | None = None) -> Path:
    """K chosen per video (``accuracy_vs_clips_auto``): top-1 against mean clips per video, one point per threshold.

    The chosen threshold is starred. ``fixed_k`` (the ``accuracy_vs_k`` table) adds the ``scsampler``
    row's fixed-K curve at x = K (a video with fewer clips than K uses all of its own).
    """
    _require(table, ["threshold", "mean_clips", "top1"], "accuracy_vs_clips_auto")
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    rows = table.sort_values(["mean_clips", "threshold"])
    (line,) = ax.plot(rows["mean_clips"], 100 * rows["top1"], marker="o", markersize=4, linewidth=1.6,
                      label="auto (one point per threshold)", color="tab:orange")
    if {"top1_low", "top1_high"} <= set(rows.columns):
        ax.fill_between(rows["mean_clips"], 100 * rows["top1_low"].to_numpy(float), 100 * rows["top1_high"].to_numpy(float),
                        color=line.get_color(), alpha=0.1, linewidth=0)
    if "chosen" in rows.columns:
        chosen = rows[rows["chosen"].astype(bool)]
        for clips, top1, threshold in zip(chosen["mean_clips"], chosen["top1"], chosen["threshold"]):
            ax.plot([clips], [100 * top1], marker="*", markersize=15, color="tab:red", linestyle="none", zorder=4,
                    label=f"chosen threshold {threshold:g}")
    if fixed_k is not None and {"strategy", "k", "top1"} <= set(fixed_k.columns):
        fixed = fixed_k[(fixed_k["strategy"] == _HIGHLIGHT) & fixed_k["k"].notna()].sort_values("k")
        if not fixed.empty:
            ax.plot(fixed["k"], 100 * fixed["top1"], marker="s", markersize=5, linewidth=1.2, linestyle="--",
                    color="tab:gray", label="scsampler, fixed K (x = K)")
    ax.set_xlabel("clips classified per video (mean)")
    ax.set_ylabel("video top-1 accuracy (%)")
    ax.set_title("Accuracy vs clips per video: K chosen per video")
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _save(fig, out_png)


def plot_union_vs_kprime(table: pd.DataFrame, out_png: Path) -> Path:
    """AV-union-list accuracy against K', the clips taken from the visual list (supplementary Fig. 2)."""
    _require(table, ["k_prime", "k", "top1"], "union_vs_kprime")
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for k, rows in _groups(table, "k"):
        rows = rows.sort_values("k_prime")
        (line,) = ax.plot(rows["k_prime"], 100 * rows["top1"], marker="o", label=f"top-1, K={_k_label(k)}")
        if "top5" in rows.columns and rows["top5"].notna().any():
            ax.plot(rows["k_prime"], 100 * rows["top5"], marker="s", linestyle="--", color=line.get_color(),
                    alpha=0.6, label=f"top-5, K={_k_label(k)}")
    ax.set_xlabel("K' (clips from the visual sampler; the rest from the audio sampler)")
    ax.set_ylabel("video accuracy (%)")
    ax.set_title("AV-union-list vs K'")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, out_png)


def plot_accuracy_vs_runtime(table: pd.DataFrame, out_png: Path) -> Path:
    """Top-1 accuracy against seconds per video, log-x (supplementary Fig. 3).

    Random and Uniform given more clips are lines; SCSampler configurations are
    stars, each point labelled with its K. The sampler's own cost is in ``total_s``.
    """
    _require(table, ["strategy", "k", "total_s", "top1"], "accuracy_vs_runtime")
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    _colors_for(ax, table)
    for strategy, rows in _groups(table, "strategy"):
        rows = rows.sort_values("total_s")
        style = _line_style(strategy)
        if _is_method(strategy) and len(rows) == 1:
            style["linestyle"] = "none"
        ax.plot(rows["total_s"], 100 * rows["top1"], **style)
        if not (_is_method(strategy) or str(strategy).lower() in _BASELINES):
            continue  # label K on the baselines and the method only, or the labels pile up
        for total, top1, k in zip(rows["total_s"], rows["top1"], rows["k"]):
            ax.annotate(f"K={_k_label(k)}", (total, 100 * top1), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if (table["total_s"] > 0).all():
        _plain_log_scale(ax, "x")
    ax.set_xlabel("seconds per video (sampler + decoding + classifier)")
    ax.set_ylabel("video top-1 accuracy (%)")
    ax.set_title("Accuracy vs runtime per video")
    ax.grid(alpha=0.3, which="both")
    _legend_outside(ax)
    return _save(fig, out_png)


def plot_accuracy_vs_stride(table: pd.DataFrame, out_png: Path) -> Path:
    """Top-1 accuracy against the sampler's stride N (supplementary Fig. 4), clips scored per video on the right."""
    _require(table, ["strategy", "stride", "top1"], "accuracy_vs_stride")
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    _colors_for(ax, table)
    right = ax.twinx() if "scored_per_video" in table.columns else None
    for strategy, rows in _groups(table, "strategy"):
        rows = rows.sort_values("stride")
        (line,) = ax.plot(rows["stride"], 100 * rows["top1"], **_line_style(strategy))
        if right is not None:
            right.plot(rows["stride"], rows["scored_per_video"], linestyle=":", color=line.get_color(), alpha=0.6)
    ax.set_xlabel("sampler stride N (every N-th clip is scored)")
    ax.set_ylabel("video top-1 accuracy (%)")
    if right is not None:
        right.set_ylabel("clips scored per video (dotted)")
    ax.set_title("Accuracy vs sampler stride N")
    ax.grid(alpha=0.3)
    _legend_outside(ax, right_axis=right is not None)
    return _save(fig, out_png)


def plot_sampler_quality(table: pd.DataFrame, out_png: Path) -> Path:
    """Per-video precision of each strategy's top-K against the oracle's top-K (and the true segments).

    One box per strategy over the videos, the mean as a white diamond; a second
    panel for precision against the true segments when that column has values.
    """
    _require(table, ["strategy", "precision_vs_oracle"], "sampler_quality")
    columns = [("precision_vs_oracle", "precision of top-K vs oracle top-K")]
    if "precision_vs_segments" in table.columns and table["precision_vs_segments"].notna().any():
        columns.append(("precision_vs_segments", "precision of top-K vs true segments"))
    strategies = list(pd.unique(table["strategy"]))
    fig, axes = plt.subplots(1, len(columns), figsize=(6 * len(columns), max(3.0, 0.4 * len(strategies) + 1.5)),
                             squeeze=False)
    for ax, (column, title) in zip(axes[0], columns):
        data = [table.loc[table["strategy"] == s, column].dropna().to_numpy(float) for s in strategies]
        kept = [(s, d) for s, d in zip(strategies, data) if d.size]
        if kept:
            ax.boxplot([d for _, d in kept], **_HORIZONTAL, widths=0.6, showmeans=True,
                       meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black"})
            ax.set_yticks(range(1, len(kept) + 1), [mpl_text(s) for s, _ in kept])
            ax.invert_yaxis()
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel(title)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle("Sampler quality (one value per video)")
    return _save(fig, out_png)


def plot_speedup_vs_length(table: pd.DataFrame, out_png: Path) -> Path:
    """Speed-up over Dense against video length, log-log: one line per sampler and the ceiling L/K dashed.

    The table is ``benchmarks/speedup_vs_length.py``'s: ``minutes``, ``ceiling`` and a
    ``<strategy>_speedup`` column per sampler.
    """
    _require(table, ["minutes", "ceiling"], "speedup_vs_length")
    strategies = [str(c)[: -len("_speedup")] for c in table.columns if str(c).endswith("_speedup")]
    if not strategies:
        raise UsageError(f"speedup_vs_length: the table lacks column(s) <strategy>_speedup; it has {', '.join(map(str, table.columns))}.")
    table = table.sort_values("minutes")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(table["minutes"], table["ceiling"], color="black", linestyle="--", label="ceiling L/K")
    for strategy in strategies:
        ax.plot(table["minutes"], table[f"{strategy}_speedup"], marker="o", label=f"{mpl_text(strategy)} sampler")
    _plain_log_scale(ax, "x", "y")
    ax.set_xlabel("video length (minutes)")
    ax.set_ylabel("speed-up over Dense")
    ax.set_title("Speed-up against video length")
    ax.grid(alpha=0.3, which="both")
    _legend_outside(ax)
    return _save(fig, out_png)


def plot_timeline(table: pd.DataFrame, out_png: Path, *, title: str | None = None) -> Path:
    """One video's saliency over time: a bar per clip, the clips SCSampler kept in orange.

    ``table`` holds one video's rows of ``timelines.parquet`` (``clip_index,
    start_s, end_s, score, selected``, optionally ``in_segment``). Clips that
    overlap a true action segment are shaded green when ``in_segment`` is there.
    """
    _require(table, ["start_s", "end_s", "score", "selected"], "timelines")
    if "path" in table.columns and table["path"].nunique() > 1:
        raise UsageError(
            f"plot_timeline draws one video, got rows of {table['path'].nunique()} videos; "
            "pass table[table['path'] == path]."
        )
    rows = table.sort_values("start_s")
    start = rows["start_s"].to_numpy(float)
    width = np.maximum(rows["end_s"].to_numpy(float) - start, 1e-6)
    score = rows["score"].to_numpy(float)
    selected = rows["selected"].fillna(False).to_numpy(bool)
    fig, ax = plt.subplots(figsize=(10, 2.4))
    if "in_segment" in rows.columns:
        for seg_start, seg_end in _runs(start, start + width, rows["in_segment"].fillna(False).to_numpy(bool)):
            ax.axvspan(seg_start, seg_end, color="tab:green", alpha=0.18, linewidth=0)
        ax.plot([], [], color="tab:green", alpha=0.4, linewidth=8, label="true action segment")
    finite = np.isfinite(score)
    floor = np.nanmin(score) if finite.any() else 0.0
    base = min(floor, 0.0)
    ax.bar(start[~selected], (np.nan_to_num(score, nan=base) - base)[~selected], width=width[~selected],
           bottom=base, align="edge", color="tab:gray", alpha=0.7, label="clip score")
    ax.bar(start[selected], (np.nan_to_num(score, nan=base) - base)[selected], width=width[selected],
           bottom=base, align="edge", color="tab:orange", label="selected")
    ax.set_xlim(start.min() if len(start) else 0, (start + width).max() if len(start) else 1)
    top = np.nanmax(score) if finite.any() else 1.0
    ax.set_ylim(base, top + 0.3 * max(top - base, 1e-6))  # headroom for the legend
    ax.set_xlabel("time (s)")
    ax.set_ylabel("saliency")
    if title:
        ax.set_title(mpl_text(title), fontsize=9)
    ax.legend(fontsize=7, loc="upper right", ncol=3)
    return _save(fig, out_png)


# --- helpers -------------------------------------------------------------------------------


def _require(table: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise UsageError(f"{name}: expected a pandas DataFrame, got {type(table).__name__}.")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UsageError(
            f"{name}: the table lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, table.columns))}."
        )
    if table.empty:
        raise UsageError(f"{name}: the table has no rows, nothing to plot.")


def _groups(table: pd.DataFrame, column: str):
    """Groups in order of first appearance (the runner's order), not sorted."""
    for value in pd.unique(table[column]):
        yield value, table[table[column] == value]


def _is_method(strategy: object) -> bool:
    return _HIGHLIGHT in str(strategy).lower()


def _line_style(strategy: object) -> dict:
    if _is_method(strategy):
        return {"marker": "*", "markersize": 12, "linewidth": 2.2, "label": mpl_text(strategy), "zorder": 3}
    return {"marker": "o", "markersize": 5, "linewidth": 1.4, "label": mpl_text(strategy)}


def _strategy_color(strategy: object) -> str:
    name = str(strategy).lower()
    if _is_method(name):
        return "tab:orange"
    if name in {"dense", "oracle"}:
        return "tab:gray" if name == "dense" else "tab:green"
    if name in {"uniform", "random"}:
        return "tab:blue"
    return "tab:purple"


def _stacked_seconds(ax, table: pd.DataFrame, positions: np.ndarray) -> None:
    left = np.zeros(len(table))
    for column, color in (("sampler_s", "tab:orange"), ("decode_s", "tab:blue"), ("classifier_s", "tab:gray")):
        values = np.nan_to_num(table[column].to_numpy(float))
        ax.barh(positions, values, left=left, color=color, label=column.removesuffix("_s"))
        left += values
    ax.legend(fontsize=8, loc="lower right")


def _colors_for(ax, table: pd.DataFrame) -> None:
    """tab10 repeats after 10 lines; with more strategies use tab20 so each keeps its own colour."""
    if table["strategy"].nunique() > 10:
        ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)


def _legend_outside(ax, *, right_axis: bool = False) -> None:
    """Legend to the right of the axes: with many strategies it would hide the lines."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.14 if right_axis else 1.02, 1.0), borderaxespad=0)


def _plain_log_scale(ax, *which: str) -> None:
    """Log scale on the named axes (``"x"``, ``"y"``), ticks labelled as plain numbers."""
    for name in which:
        getattr(ax, f"set_{name}scale")("log")
        axis = getattr(ax, f"{name}axis")
        axis.set_major_formatter(FuncFormatter(_plain_log_label))
        axis.set_minor_formatter(FuncFormatter(_plain_log_label))


def _plain_log_label(value: float, _position: object) -> str:
    """0.2, 0.5, 1, 2, 5, 10 ... on a log axis, instead of 2x10^-1 (other ticks unlabelled)."""
    if value <= 0:
        return ""
    mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
    return f"{value:g}" if mantissa in (1, 2, 5) else ""


def _k_or_none(k: object) -> int | None:
    """A table's K as a dict key: None for every clip."""
    return None if is_every_clip(k) else int(k)


def _k_label(k: object) -> str:
    try:
        return k_text(k)
    except (TypeError, ValueError):
        return mpl_text(k)


def _runs(starts: np.ndarray, ends: np.ndarray, flags: np.ndarray) -> list[tuple[float, float]]:
    """Merge consecutive flagged clips into (start_s, end_s) spans."""
    spans: list[tuple[float, float]] = []
    for s, e, flag in zip(starts, ends, flags):
        if not flag:
            continue
        if spans and s <= spans[-1][1] + 1e-6:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((float(s), float(e)))
    return spans


def _save(fig: Figure, out_png: Path) -> Path:
    """Write the figure atomically (temp file in the same folder, then rename) and close it."""
    out_png = Path(out_png)
    try:
        fig.tight_layout()
        with atomic_output(out_png) as temporary:
            fig.savefig(temporary, format="png", dpi=_DPI, bbox_inches="tight")  # keeps outside legends
    finally:
        plt.close(fig)
    return out_png
