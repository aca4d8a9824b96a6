"""Training recipes for clip classifiers, as named presets.

``sports1m`` and ``kinetics`` are the supplementary material's recipes (SPEC.md,
"Training recipes"): 16-frame clips, frames rescaled to 342x256, one random
crop at the same place in every frame, SGD with momentum, linear warm-up then
step decay. They need GPUs and real datasets. The ``cpu-*`` presets run the same
code on a CPU with small models and small data (tests, the demo): fewer epochs,
a higher rate, a disk cache of decoded frames.

A recipe field set to ``None`` takes the model's own value from
``scsampler.models.get_model_spec`` (clip length, frame size, crop).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from scsampler.errors import UsageError

__all__ = ["Recipe", "RECIPES", "get_recipe", "list_recipes"]


@dataclass(frozen=True)
class Recipe:
    """Everything the trainer needs besides the data and the model name."""

    name: str
    epochs: int
    lr: float
    warmup_epochs: float
    decay_every_epochs: float | None
    decay_factor: float = 0.1
    batch_size: int = 8
    clips_per_video: int = 1  # training clips drawn from each video per epoch (temporal jitter)
    group_clips: bool = False  # a video's clips_per_video clips in the same batch (training/video_batches.py)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    frames_per_clip: int | None = 16
    resize_size: tuple[int, ...] | None = (256, 342)  # (height, width), or (short_side,), before the crop
    crop_size: tuple[int, int] | None = (112, 112)  # (height, width) of the random crop
    flip: bool = True
    val_clips_per_video: int = 10  # uniformly placed clips for video-level accuracy
    cache: str = "none"  # "disk": decode training frames once per run (small data); "none": decode every step
    workers: int = 4
    early_stop_patience: int = 0  # stop after this many epochs without a better validation score; 0: never

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("resize_size", "crop_size"):
            data[key] = list(data[key]) if data[key] is not None else None
        return data

    def with_overrides(self, **overrides) -> "Recipe":
        """A copy with the given fields changed; ``None`` values are ignored."""
        changes = {key: value for key, value in overrides.items() if value is not None}
        unknown = sorted(set(changes) - set(self.__dataclass_fields__))
        if unknown:
            raise UsageError(f"unknown recipe fields {unknown}; known: {sorted(self.__dataclass_fields__)}.")
        return replace(self, **changes)


RECIPES: dict[str, Recipe] = {
    # Sports1M: batch 8 clips per GPU, 100 epochs, 15 warm-up, lr 0.005, /10 every 20 epochs.
    "sports1m": Recipe(
        name="sports1m", epochs=100, lr=0.005, warmup_epochs=15, decay_every_epochs=20, batch_size=8, clips_per_video=1
    ),
    # Kinetics: mini-batches of five 16-frame clips per video with temporal jitter (one video's five clips per
    # batch and process: group_clips), 45 epochs, 10 warm-up, lr 0.01, /10 every 10.
    "kinetics": Recipe(
        name="kinetics", epochs=45, lr=0.01, warmup_epochs=10, decay_every_epochs=10, batch_size=5, clips_per_video=5,
        group_clips=True,
    ),
    # Fine-tuning a Sports1M model on Kinetics takes 14 epochs (same rates, shorter).
    "kinetics-finetune": Recipe(
        name="kinetics-finetune", epochs=14, lr=0.01, warmup_epochs=2, decay_every_epochs=5, batch_size=5, clips_per_video=5,
        group_clips=True,
    ),
    # Small models on the synthetic benchmark, on a CPU: clip geometry from the model's spec.
    "cpu-tiny": Recipe(
        name="cpu-tiny",
        epochs=6,
        lr=0.05,
        warmup_epochs=1,
        decay_every_epochs=3,
        batch_size=8,
        clips_per_video=6,
        frames_per_clip=None,
        resize_size=None,
        crop_size=None,
        val_clips_per_video=5,
        cache="disk",
        workers=0,
        early_stop_patience=1,  # the benchmark preset's classifier reached 100% val clip accuracy at epoch 4 of 6
    ),
    # The fastest sanity check (tests): shorter clips, smaller frames. The checkpoint records this
    # geometry ("geometry"); evaluate such a model with it, not with the registry's defaults.
    "cpu-micro": Recipe(
        name="cpu-micro",
        epochs=6,
        lr=0.05,
        warmup_epochs=1,
        decay_every_epochs=3,
        batch_size=8,
        clips_per_video=6,
        frames_per_clip=8,
        resize_size=(54, 72),
        crop_size=(48, 48),
        val_clips_per_video=5,
        cache="disk",
        workers=0,
    ),
}


def list_recipes() -> list[str]:
    """Names of the presets, in the order they are defined."""
    return list(RECIPES)


def get_recipe(name: str) -> Recipe:
    """The preset called ``name``."""
    try:
        return RECIPES[name]
    except KeyError:
        raise UsageError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}.") from None
