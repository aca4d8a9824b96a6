"""The three sampler training objectives of SCSampler (how each output becomes saliency: ``samplers/saliency.py``).

Notation: ``s`` is the sampler's output, ``f`` the clip classifier, ``y`` the video label.

* **AC** (action classification): ``s`` is a clip classifier over the C classes, trained with
  cross-entropy on ``y``; saliency = max over classes of ``softmax(s)``.
* **SAL-CL** (saliency classification): ``s`` is one logit for the binary target
  "``f``'s top-1 on this clip equals ``y``"; binary cross-entropy; saliency = ``sigmoid(s)``.
* **SAL-RANK** (saliency ranking): ``s`` is one scalar per clip. For every pair (i, j) of clips
  of the *same video* whose classifier scores for the true class differ (``t_i > t_j``), the
  hinge ``max(0, margin - (s_i - s_j))`` with ``margin = 1``; saliency = ``s``. Optionally
  (``min_gap``) only pairs whose targets differ by more than a gap: when the classifier is weak,
  most of a video's clips have nearly equal targets whose order is noise.

These are our reading of the paper (only its supplementary material is at hand): the SAL-CL
target, the SAL-RANK margin and the pair set (all ordered pairs within a video, ties skipped,
averaged over pairs) are documented here and nowhere else, so they are easy to change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scsampler.samplers.saliency import check_loss_name, scalar_output

__all__ = ["ac_loss", "sal_cl_loss", "sal_rank_loss", "sal_rank_pairs", "output_size", "RANK_MARGIN"]

#: Default SAL-RANK margin (our reading of the paper).
RANK_MARGIN = 1.0


def output_size(loss_name: str, *, num_classes: int) -> int:
    """Width of the sampler's output head: C classes for AC, one scalar for SAL-CL and SAL-RANK."""
    check_loss_name(loss_name)
    return int(num_classes) if loss_name == "ac" else 1


def ac_loss(logits: torch.Tensor, labels: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of the sampler's class logits [B, C] against the video labels [B] (mean).

    ``label_smoothing`` (0 = the paper's plain cross-entropy) mixes the one-hot target with the
    uniform distribution; the small-data ``cpu`` recipe uses it so that background clips, which
    carry the video's label too, do not drive the softmax to certainty.
    """
    if logits.dim() != 2:
        raise ValueError(f"AC needs class logits of shape [B, C], got {tuple(logits.shape)}.")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing!r}.")
    return F.cross_entropy(logits, labels.long(), label_smoothing=label_smoothing)


def sal_cl_loss(logits: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of one logit per clip against "the classifier is right here" (0/1)."""
    logits = scalar_output(logits, "SAL-CL")
    return F.binary_cross_entropy_with_logits(logits, correct.to(logits.dtype))


def sal_rank_pairs(target: torch.Tensor, group: torch.Tensor, *, min_gap: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Index pairs (hi, lo) of clips in the same ``group`` (video) with ``target[hi] - target[lo] > min_gap``.

    Clips with equal targets form no pair: there is no order to learn between them; with
    ``min_gap > 0``, neither do clips whose targets barely differ.
    """
    if min_gap < 0:
        raise ValueError(f"min_gap must be >= 0, got {min_gap!r}.")
    if target.shape != group.shape or target.dim() != 1:
        raise ValueError(
            f"SAL-RANK targets and groups must be 1-D of equal length, got {tuple(target.shape)} and {tuple(group.shape)}."
        )
    same = group[:, None] == group[None, :]
    above = (target[:, None] - target[None, :]) > min_gap
    hi, lo = torch.nonzero(same & above, as_tuple=True)
    return hi, lo


def sal_rank_loss(
    scores: torch.Tensor,
    target: torch.Tensor,
    group: torch.Tensor,
    *,
    margin: float = RANK_MARGIN,
    min_gap: float = 0.0,
) -> torch.Tensor:
    """Margin ranking (hinge) loss over the ordered pairs of clips of the same video.

    ``scores`` [B] (or [B, 1]) are the sampler's outputs, ``target`` [B] the clip classifier's
    probability of the true class, ``group`` [B] a video id per clip. For every pair with
    ``target[i] - target[j] > min_gap`` the loss is ``max(0, margin - (scores[i] - scores[j]))``; the
    result is the mean over pairs. A batch with no ordered pair gives a zero that still carries
    a gradient path (so DDP sees every parameter used).
    """
    scores = scalar_output(scores, "SAL-RANK")
    hi, lo = sal_rank_pairs(target, group, min_gap=min_gap)
    if len(hi) == 0:
        return scores.sum() * 0.0
    return F.relu(margin - (scores[hi] - scores[lo])).mean()

