"""The learning-rate schedule (linear warm-up, then step decay) and the recipe presets."""

from __future__ import annotations

import pytest

from scsampler.errors import UsageError
from scsampler.training.recipes import get_recipe, list_recipes
from scsampler.training.schedule import epoch_at_step, warmup_step_decay

KINETICS = dict(base_lr=0.01, warmup_epochs=10, decay_every_epochs=10)


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        (0.0, 0.001),  # warm-up starts at 10% of the base rate
        (5.0, 0.0055),  # halfway: 0.001 + 0.5 * 0.009
        (9.999, 0.01 * (0.1 + 0.9 * 0.9999)),
        (10.0, 0.01),  # warm-up done: the base rate
        (19.5, 0.01),
        (20.0, 0.001),  # first decay, 10 epochs after the warm-up
        (29.9, 0.001),
        (30.0, 0.0001),
        (44.0, 0.00001),
    ],
)
def test_kinetics_schedule_by_hand(epoch, expected):
    assert warmup_step_decay(epoch, **KINETICS) == pytest.approx(expected, rel=1e-9)


def test_sports1m_recipe_schedule_by_hand():
    recipe = get_recipe("sports1m")
    assert (recipe.lr, recipe.warmup_epochs, recipe.decay_every_epochs, recipe.epochs) == (0.005, 15, 20, 100)
    kwargs = dict(base_lr=recipe.lr, warmup_epochs=recipe.warmup_epochs, decay_every_epochs=recipe.decay_every_epochs)
    assert warmup_step_decay(15, **kwargs) == pytest.approx(0.005)
    assert warmup_step_decay(34.9, **kwargs) == pytest.approx(0.005)
    assert warmup_step_decay(35, **kwargs) == pytest.approx(0.0005)
    assert warmup_step_decay(99, **kwargs) == pytest.approx(0.005 * 1e-4)


def test_no_warmup_no_decay_and_custom_factors():
    assert warmup_step_decay(0, base_lr=0.1, warmup_epochs=0, decay_every_epochs=None) == 0.1
    assert warmup_step_decay(1000, base_lr=0.1, warmup_epochs=0, decay_every_epochs=None) == 0.1
    assert warmup_step_decay(0, base_lr=0.1, warmup_epochs=2, decay_every_epochs=None, warmup_start_factor=0.0) == 0.0
    assert warmup_step_decay(1, base_lr=0.1, warmup_epochs=2, decay_every_epochs=None, warmup_start_factor=0.0) == pytest.approx(0.05)
    assert warmup_step_decay(7, base_lr=1.0, warmup_epochs=1, decay_every_epochs=3, decay_factor=0.5) == pytest.approx(0.25)


def test_schedule_never_increases_after_warmup():
    rates = [warmup_step_decay(e / 4, **KINETICS) for e in range(0, 45 * 4)]
    peak = rates.index(max(rates))
    assert peak == 40  # epoch 10.0
    assert all(a <= b for a, b in zip(rates[:peak], rates[1 : peak + 1]))
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1 :]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(epoch=-1.0), "epoch must be >= 0"),
        (dict(base_lr=0.0), "base_lr must be > 0"),
        (dict(decay_every_epochs=0), "decay_every_epochs must be > 0"),
        (dict(decay_factor=1.5), "decay_factor must lie in"),
        (dict(warmup_epochs=-2), "warmup_epochs must be >= 0"),
    ],
)
def test_bad_schedule_arguments(kwargs, message):
    arguments = dict(epoch=1.0, **KINETICS)
    arguments.update(kwargs)
    epoch = arguments.pop("epoch")
    with pytest.raises(UsageError, match=message):
        warmup_step_decay(epoch, **arguments)


def test_epoch_at_step():
    assert epoch_at_step(30, steps_per_epoch=12) == 2.5
    with pytest.raises(UsageError, match="steps_per_epoch"):
        epoch_at_step(1, steps_per_epoch=0)


def test_recipes_are_named_and_overridable():
    assert {"sports1m", "kinetics", "cpu-tiny"} <= set(list_recipes())
    kinetics = get_recipe("kinetics")
    assert (kinetics.lr, kinetics.epochs, kinetics.warmup_epochs, kinetics.decay_every_epochs) == (0.01, 45, 10, 10)
    assert kinetics.clips_per_video == 5 and kinetics.frames_per_clip == 16
    changed = kinetics.with_overrides(epochs=3, lr=None)
    assert changed.epochs == 3 and changed.lr == 0.01
    with pytest.raises(UsageError, match="unknown recipe 'imagenet'"):
        get_recipe("imagenet")
