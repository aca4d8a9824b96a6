"""The three sampler losses against values computed by hand, and a SAL-RANK gradient step."""

from __future__ import annotations

import math

import pytest
import torch

from scsampler.errors import UsageError
from scsampler.training.losses import (
    ac_loss,
    output_size,
    sal_cl_loss,
    sal_rank_loss,
    sal_rank_pairs,
)
from scsampler.samplers.saliency import saliency_from_output


def test_ac_loss_matches_hand_computed_cross_entropy():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]])
    labels = torch.tensor([0, 1])
    # -log softmax: clip 0 true class 0; clip 1 true class 1.
    first = -(2.0 - math.log(math.exp(2) + 2))
    second = -(1.0 - math.log(1 + math.e + math.exp(3)))
    assert ac_loss(logits, labels).item() == pytest.approx((first + second) / 2, rel=1e-6)


def test_sal_cl_loss_matches_hand_computed_bce():
    logits = torch.tensor([0.0, 2.0, -1.0])
    correct = torch.tensor([1, 0, 0])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = -(math.log(0.5) + math.log(1 - sig(2.0)) + math.log(1 - sig(-1.0))) / 3
    assert sal_cl_loss(logits, correct).item() == pytest.approx(expected, rel=1e-6)
    # [B, 1] outputs are accepted as well.
    assert sal_cl_loss(logits[:, None], correct).item() == pytest.approx(expected, rel=1e-6)


def test_sal_rank_loss_matches_hand_computed_hinge_within_videos_only():
    scores = torch.tensor([0.5, 0.0, 2.0, 3.0, 1.0])
    target = torch.tensor([0.9, 0.1, 0.5, 0.2, 0.2])
    group = torch.tensor([0, 0, 0, 1, 1])
    # Video 0 pairs (hi, lo) by target: (0,1), (0,2), (2,1). Video 1: clips 3 and 4 tie -> no pair.
    # hinge = max(0, 1 - (s_hi - s_lo)): (0,1): 1 - 0.5 = 0.5; (0,2): 1 + 1.5 = 2.5; (2,1): 1 - 2 -> 0.
    assert sal_rank_loss(scores, target, group).item() == pytest.approx((0.5 + 2.5 + 0.0) / 3)
    hi, lo = sal_rank_pairs(target, group)
    assert sorted(zip(hi.tolist(), lo.tolist())) == [(0, 1), (0, 2), (2, 1)]
    # Margin is an option.
    assert sal_rank_loss(scores, target, group, margin=2.0).item() == pytest.approx((1.5 + 3.5 + 0.0) / 3)


def test_sal_rank_loss_without_pairs_is_zero_with_a_gradient_path():
    scores = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = sal_rank_loss(scores, torch.tensor([0.3, 0.3]), torch.tensor([0, 0]))
    assert loss.item() == 0.0
    loss.backward()
    assert scores.grad is not None


def test_sal_rank_gradient_step_orders_two_clips_correctly():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    x = torch.randn(2, 4)
    target = torch.tensor([0.2, 0.8])  # clip 1 is the salient one
    group = torch.tensor([7, 7])
    with torch.no_grad():  # start from the wrong order
        model.bias.zero_()
        model.weight.copy_((x[0] - x[1]) / (x[0] - x[1]).norm() ** 2)
    before = model(x)[:, 0]
    assert before[0] > before[1]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    loss = sal_rank_loss(model(x), target, group)
    loss.backward()
    optimizer.step()
    after = model(x)[:, 0]
    assert after[1] > after[0]
    assert sal_rank_loss(model(x), target, group).item() < loss.item()


def test_saliency_from_output_for_each_loss():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    ac = saliency_from_output("ac", logits)
    assert ac.tolist() == pytest.approx([math.exp(2) / (math.exp(2) + 1), 0.5])
    assert saliency_from_output("sal-cl", torch.tensor([[0.0], [100.0]])).tolist() == pytest.approx([0.5, 1.0])
    assert saliency_from_output("sal-rank", torch.tensor([[-3.0], [4.0]])).tolist() == [-3.0, 4.0]


def test_output_size_and_unknown_loss():
    assert output_size("ac", num_classes=5) == 5
    assert output_size("sal-cl", num_classes=5) == 1
    assert output_size("sal-rank", num_classes=5) == 1
    with pytest.raises(UsageError, match="unknown sampler loss 'rank'; choose one of ac, sal-cl, sal-rank"):
        saliency_from_output("rank", torch.zeros(2, 1))


def test_ac_loss_label_smoothing_matches_hand_computed_value():
    # Two classes, logits (0, log 3): p = (1/4, 3/4); label 1; smoothing 0.2 -> target (0.1, 0.9).
    logits = torch.tensor([[0.0, math.log(3.0)]])
    expected = -(0.1 * math.log(0.25) + 0.9 * math.log(0.75))
    assert ac_loss(logits, torch.tensor([1]), label_smoothing=0.2).item() == pytest.approx(expected, rel=1e-6)
    assert ac_loss(logits, torch.tensor([1])).item() == pytest.approx(-math.log(0.75), rel=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        ac_loss(logits, torch.tensor([1]), label_smoothing=1.0)


def test_sal_rank_min_gap_drops_pairs_whose_targets_barely_differ():
    target = torch.tensor([0.50, 0.52, 0.90, 0.10])
    group = torch.zeros(4, dtype=torch.long)
    hi, lo = sal_rank_pairs(target, group, min_gap=0.1)
    pairs = set(zip(hi.tolist(), lo.tolist()))
    assert pairs == {(2, 0), (2, 1), (2, 3), (0, 3), (1, 3)}  # (1, 0) differs by 0.02 only
    assert len(sal_rank_pairs(target, group)[0]) == 6
    # Every kept pair is ordered by more than the margin; only the dropped pair (1, 0) is violated.
    scores = torch.tensor([1.0, 0.0, 3.0, -1.0])
    assert float(sal_rank_loss(scores, target, group, min_gap=0.1)) == 0.0
    assert float(sal_rank_loss(scores, target, group)) == pytest.approx(2.0 / 6)
    with pytest.raises(ValueError, match="min_gap"):
        sal_rank_pairs(target, group, min_gap=-0.1)
