"""Learning-rate schedules as small pure functions of the (fractional) epoch.

The supplementary material trains clip classifiers with a linear warm-up and
then a step decay ("the first 15 epochs for warm-up, lr 0.005, divided by 10
every 20 epochs"). It does not say whether the decay steps are counted from the
start of training or from the end of the warm-up. We count them **from the end
of the warm-up** (Kinetics: 10 warm-up epochs then a decay every 10 epochs
would otherwise divide the rate at the very moment the warm-up reaches it).
Change :func:`warmup_step_decay` in one place if a better reading turns up.
"""

from __future__ import annotations

import math

from scsampler.errors import UsageError

__all__ = ["warmup_step_decay", "epoch_at_step"]


def warmup_step_decay(
    epoch: float,
    *,
    base_lr: float,
    warmup_epochs: float,
    decay_every_epochs: float | None,
    decay_factor: float = 0.1,
    warmup_start_factor: float = 0.1,
) -> float:
    """The learning rate at ``epoch`` (a float: ``epoch + step / steps_per_epoch``).

    - warm-up, ``0 <= epoch < warmup_epochs``: linear from
      ``base_lr * warmup_start_factor`` up to ``base_lr``;
    - then ``base_lr * decay_factor ** floor((epoch - warmup_epochs) / decay_every_epochs)``
      (no decay when ``decay_every_epochs`` is None).

    >>> warmup_step_decay(25.0, base_lr=0.01, warmup_epochs=10, decay_every_epochs=10)
    0.001
    """
    if epoch < 0:
        raise UsageError(f"epoch must be >= 0, got {epoch!r}.")
    if base_lr <= 0:
        raise UsageError(f"base_lr must be > 0, got {base_lr!r}.")
    if warmup_epochs < 0:
        raise UsageError(f"warmup_epochs must be >= 0, got {warmup_epochs!r}.")
    if decay_every_epochs is not None and decay_every_epochs <= 0:
        raise UsageError(f"decay_every_epochs must be > 0 or None (no decay), got {decay_every_epochs!r}.")
    if not 0 < decay_factor <= 1:
        raise UsageError(f"decay_factor must lie in (0, 1], got {decay_factor!r}.")
    if not 0 <= warmup_start_factor <= 1:
        raise UsageError(f"warmup_start_factor must lie in [0, 1], got {warmup_start_factor!r}.")
    if epoch < warmup_epochs:
        progress = epoch / warmup_epochs
        return base_lr * (warmup_start_factor + (1.0 - warmup_start_factor) * progress)
    if decay_every_epochs is None:
        return base_lr
    decays = math.floor((epoch - warmup_epochs) / decay_every_epochs + 1e-9)  # exact at boundaries
    return base_lr * decay_factor**decays


def epoch_at_step(step: int, *, steps_per_epoch: int) -> float:
    """The fractional epoch reached after ``step`` optimizer steps (0-based)."""
    if steps_per_epoch < 1:
        raise UsageError(f"steps_per_epoch must be >= 1, got {steps_per_epoch!r}.")
    return step / steps_per_epoch
