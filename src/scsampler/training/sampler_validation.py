"""How well a sampler network ranks the clips of the validation videos: the measure that picks its best epoch.

Per video, the precision of the sampler's top-K (``K = min(k, L)``) against the action segments
(the targets' ``in_segment``, where ``segments.csv`` exists) and against the oracle's top-K (the
K clips with the classifier's highest true-class probability), each beside Random's expectation;
and the Spearman rank correlation between the saliency and the true-class probability. Means
over videos (:func:`sampler_quality`). The *selection measure* (:func:`selection_measure`) is the
segment precision where segments are known, else the oracle precision, else (unlabelled videos
without segments) the precision against the top-K by the training target.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from scsampler.errors import DataWarning
from scsampler.metrics import precision_at_k, spearman
from scsampler.samplers.learned import forward_net
from scsampler.samplers.saliency import saliency_from_output
from scsampler.training.sampler_data import ClipTable

__all__ = ["table_saliency", "sampler_quality", "selection_measure", "warn_without_oracle"]


@torch.no_grad()
def table_saliency(net: nn.Module, table: ClipTable, *, loss: str, batch_size: int = 128) -> np.ndarray:
    """Saliency of every clip of ``table`` (float64), the network in eval mode."""
    was_training = net.training
    net.eval()
    scores = []
    for start in range(0, len(table), batch_size):
        positions = torch.arange(start, min(start + batch_size, len(table)))
        scores.append(saliency_from_output(loss, forward_net(net, table.inputs, positions)).double())
    net.train(was_training)
    return torch.cat(scores).cpu().numpy() if scores else np.zeros(0)


def _best_first(values: np.ndarray) -> np.ndarray:
    return np.lexsort((np.arange(len(values)), -values))


def sampler_quality(saliency: np.ndarray, table: ClipTable, *, k: int) -> dict[str, float | list[float]]:
    """How well the saliency ranks each video's clips; means over videos.

    - ``precision_at_k``: of the top-K (``K = min(k, L)``), the fraction among the oracle's
      top-K (the clips with the classifier's highest true-class probability);
      ``random_precision_at_k`` is Random's expectation, ``K / L``.
    - ``segment_precision``: of the top-K, the fraction that overlap an action segment
      (``in_segment``), over the videos whose segments are known and hold at least one clip;
      ``random_segment_precision`` is Random's expectation there (the fraction of clips in a
      segment), ``segment_videos`` their count. This is what a sampler is for, and it does not
      inherit the noise of a weak classifier's scores.
    - ``spearman``: rank correlation of the saliency with the true-class probability.
    - ``target_precision``: of the top-K, the fraction among the top-K by ``rank_target`` (the
      confidence or margin a sampler was trained on without labels); NaN without one.
    - ``<measure>_per_video`` for ``precision_at_k``, ``segment_precision`` and ``target_precision``:
      the values the mean is taken over, one per video counted, in the table's video order (so two
      samplers validated on the same table can be compared video by video).

    Unlabelled videos (true-class probability NaN) have no oracle: they count in neither
    ``precision_at_k`` nor ``spearman`` (``oracle_videos`` counts those that do).
    """
    precisions, randoms, correlations, on_target = [], [], [], []
    on_segments, random_on_segments = [], []
    true_prob = table.true_prob.double().cpu().numpy()
    in_segment = None if table.in_segment is None else table.in_segment.double().cpu().numpy()
    ranked = None if table.rank_target is None else table.rank_target.double().cpu().numpy()
    for positions in table.video_positions():
        if len(positions) == 0:
            continue
        top = min(k, len(positions))
        chosen = _best_first(saliency[positions])[:top]
        randoms.append(top / len(positions))
        if ranked is not None:
            on_target.append(precision_at_k(chosen.tolist(), _best_first(ranked[positions])[:top].tolist()))
        if np.isfinite(true_prob[positions]).all():
            oracle = _best_first(true_prob[positions])[:top]
            precisions.append(precision_at_k(chosen.tolist(), oracle.tolist()))
            rho = spearman(saliency[positions], true_prob[positions])
            if not math.isnan(rho):
                correlations.append(rho)
        if in_segment is not None:
            inside = in_segment[positions]
            if not np.isnan(inside).any() and inside.sum() > 0:
                on_segments.append(float(inside[chosen].mean()))
                random_on_segments.append(float(inside.mean()))
    nan = float("nan")
    return {
        "precision_at_k": float(np.mean(precisions)) if precisions else nan,
        "random_precision_at_k": float(np.mean(randoms)) if randoms else nan,
        "segment_precision": float(np.mean(on_segments)) if on_segments else nan,
        "random_segment_precision": float(np.mean(random_on_segments)) if random_on_segments else nan,
        "spearman": float(np.mean(correlations)) if correlations else nan,
        "target_precision": float(np.mean(on_target)) if on_target else nan,
        "videos": len(randoms),
        "oracle_videos": len(precisions),
        "segment_videos": len(on_segments),
        "precision_at_k_per_video": [float(value) for value in precisions],
        "segment_precision_per_video": on_segments,
        "target_precision_per_video": [float(value) for value in on_target],
    }


def selection_measure(quality: dict[str, float]) -> tuple[str, float]:
    """The validation measure that picks the best epoch and stops training early, and its value.

    Precision of the top-K against the action segments where the validation videos have them,
    else precision against the oracle (labelled videos), else against the top-K by the training
    target (unlabelled videos); NaN when there is no validation video.
    """
    if quality.get("segment_videos", 0) > 0:
        return "segment_precision", float(quality["segment_precision"])
    if quality.get("oracle_videos", quality.get("videos", 0)) == 0 and not math.isnan(quality.get("target_precision", math.nan)):
        return "target_precision", float(quality["target_precision"])
    return "precision_at_k", float(quality["precision_at_k"])


def warn_without_oracle(val: ClipTable, *, target: str, stacklevel: int = 1) -> None:
    """A DataWarning when the validation videos have neither labels nor segments: no oracle, no segment precision.

    ``stacklevel`` counts as ``warnings.warn``'s would at the call of this function (1: the line that calls it).
    """
    if len(val) == 0 or target == "label":
        return
    has_segments = val.in_segment is not None and bool(torch.isfinite(val.in_segment).any())
    if has_segments or bool(torch.isfinite(val.true_prob).any()):
        return
    warnings.warn(
        f"the validation videos have no labels and no segments.csv: the oracle precision is unavailable, and the "
        f"best epoch is picked by the precision of the top-K against the top-K by {target} (val_target_precision), "
        "which measures agreement with the classifier, not finding the action; label a few validation videos, "
        "or give them a segments.csv, to validate on what matters.",
        DataWarning,
        stacklevel=stacklevel + 1,
    )
