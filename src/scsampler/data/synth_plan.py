"""What each synthetic video holds: class styles and per-video timelines, drawn from the seed.

Nothing here renders pixels or samples: a :class:`VideoPlan` is the cheap,
complete description of one video (its actions, distractor sounds and camera
pans, in frames) from which ``synth_visual`` and ``synth_audio`` render it and
``synth`` writes ``segments.csv``. Video ``i`` depends only on ``(seed, i)``
and the settings, never on how many videos are made.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SHAPES",
    "MOTIONS",
    "DISTRACTOR_SOUNDS",
    "SPLIT_PATTERN",
    "ClassStyle",
    "ActionEvent",
    "SoundEvent",
    "PanEvent",
    "VideoPlan",
    "class_styles",
    "class_name",
    "plan_video",
]

SHAPES = ("disc", "square", "triangle", "diamond", "ring", "cross")
MOTIONS = ("sway", "orbit", "pulse", "bounce")
DISTRACTOR_SOUNDS = ("noise_burst", "whoosh", "chirp")
# Split of the j-th video of a class: every class with >= 3 videos has train, val and test.
SPLIT_PATTERN = ("train", "test", "val", "train", "train")

ACTION_MIN_S = 2
ACTION_MAX_S = 6
MAX_ACTIONS = 3
NO_AUDIO_PROBABILITY = 0.15
SILENT_ACTION_PROBABILITY = 0.2
SECONDS_PER_DISTRACTOR_SOUND = 30.0  # about one class-agnostic sound per 30 s of background
SOUND_MARGIN_S = 0.5  # distractor sounds keep this far from actions


@dataclass(frozen=True)
class ClassStyle:
    """The look and sound of one class's action.

    ``hue`` (0..1 on the colour wheel, full saturation) gives ``rgb``; ``shape``
    moves with ``motion`` at ``motion_hz`` along ``angle_rad`` (sway, bounce) or
    turns (pulse). Its sound is a harmonic tone: fundamental ``f0_hz`` with
    ``harmonics`` partials, amplitude-modulated at ``am_hz``.
    """

    index: int
    name: str
    hue: float
    rgb: tuple[int, int, int]
    shape: str
    motion: str
    motion_hz: float
    angle_rad: float
    f0_hz: float
    am_hz: float
    harmonics: int


@dataclass(frozen=True)
class ActionEvent:
    """The class's action over frames ``[start_frame, end_frame)`` around ``center`` (x, y in pixels)."""

    start_frame: int
    end_frame: int
    silent: bool
    center: tuple[float, float]
    level: float  # RMS of its sound when not silent


@dataclass(frozen=True)
class SoundEvent:
    """A loud class-agnostic sound over frames ``[start_frame, end_frame)``."""

    start_frame: int
    end_frame: int
    sound: str
    level: float  # RMS
    seed: int


@dataclass(frozen=True)
class PanEvent:
    """The camera pans by ``(dx, dy)`` pixels per frame over frames ``[start_frame, end_frame)``."""

    start_frame: int
    end_frame: int
    dx: float
    dy: float


@dataclass(frozen=True)
class VideoPlan:
    """Everything that defines one synthetic video, before rendering."""

    index: int
    name: str
    label_index: int
    split: str
    seconds: int
    fps: int
    has_audio: bool
    actions: tuple[ActionEvent, ...]
    sounds: tuple[SoundEvent, ...]
    pans: tuple[PanEvent, ...]
    visual_seed: int
    audio_seed: int

    @property
    def frames(self) -> int:
        return self.seconds * self.fps

    def action_at(self, frame: int) -> ActionEvent | None:
        for action in self.actions:
            if action.start_frame <= frame < action.end_frame:
                return action
        return None


def class_name(index: int, classes: int) -> str:
    """``class00``, ``class01``, ... (more digits when there are more than 100 classes)."""
    return f"class{index:0{max(2, len(str(classes - 1)))}d}"


def class_styles(classes: int) -> list[ClassStyle]:
    """The style of each of ``classes`` classes; a function of the class index and count only.

    Hues are spread evenly over the wheel; shapes, motions and modulation
    rates cycle with different periods, so that neighbouring classes differ
    in several ways; fundamentals are spread log-evenly over 3 octaves
    (200 to 1600 Hz), so they stay apart on a mel scale.
    """
    styles = []
    for c in range(classes):
        hue = c / classes
        r, g, b = colorsys.hsv_to_rgb(hue, 1.0, 1.0)
        styles.append(
            ClassStyle(
                index=c,
                name=class_name(c, classes),
                hue=hue,
                rgb=(round(255 * r), round(255 * g), round(255 * b)),
                shape=SHAPES[c % len(SHAPES)],
                motion=MOTIONS[c % len(MOTIONS)],
                motion_hz=(0.6, 1.0, 1.4)[(c // len(MOTIONS)) % 3],
                angle_rad=math.pi * ((0.37 * c) % 1.0),
                f0_hz=200.0 * 2.0 ** (3.0 * c / classes),
                am_hz=(2.0, 3.5, 5.0, 7.0, 9.0)[c % 5],
                harmonics=1 + (c % 4),
            )
        )
    return styles


def plan_video(
    index: int,
    *,
    seed: int,
    classes: int,
    min_seconds: int,
    max_seconds: int,
    size: tuple[int, int],
    fps: int,
    background_fraction: float,
) -> VideoPlan:
    """Draw the timeline of video ``index`` from ``(seed, index)`` alone."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    width, height = size
    seconds = int(rng.integers(min_seconds, max_seconds + 1))
    frames = seconds * fps
    has_audio = bool(rng.random() >= NO_AUDIO_PROBABILITY)

    # Actions: 1..3 spans of 2..6 s whose total keeps the background at >= background_fraction.
    budget = int(math.floor((1.0 - background_fraction) * frames + 1e-9))
    shortest, longest = ACTION_MIN_S * fps, ACTION_MAX_S * fps
    count = int(rng.integers(1, min(MAX_ACTIONS, budget // shortest) + 1))
    top = min(longest, budget // count)
    lengths = [int(rng.integers(shortest, top + 1)) for _ in range(count)]
    background = frames - sum(lengths)
    # Gaps before, between and after actions: each at least min(1 s, fair share), the rest at random.
    floor_gap = min(fps, background // (count + 1))
    spare = background - floor_gap * (count + 1)
    shares = np.floor(rng.dirichlet(np.ones(count + 1)) * spare).astype(int)
    gaps = [floor_gap + int(s) for s in shares]
    gaps[-1] += background - sum(gaps)

    action_reach = 0.18 * height + 0.14 * height * 1.45  # how far the shape can reach from its centre
    margin_x, margin_y = action_reach + 2, action_reach + 2
    actions = []
    position = 0
    for gap, length in zip(gaps, lengths):
        start = position + gap
        center = (
            float(rng.uniform(margin_x, max(margin_x, width - margin_x))),
            float(rng.uniform(margin_y, max(margin_y, height - margin_y))),
        )
        silent = (not has_audio) or bool(rng.random() < SILENT_ACTION_PROBABILITY)
        actions.append(ActionEvent(start, start + length, silent, center, float(rng.uniform(0.06, 0.11))))
        position = start + length

    sounds = _plan_distractor_sounds(rng, actions, frames=frames, fps=fps) if has_audio else []
    pans = _plan_pans(rng, frames=frames, fps=fps, width=width)
    return VideoPlan(
        index=index,
        name=f"synth_{index:05d}.mp4",
        label_index=index % classes,
        split=SPLIT_PATTERN[(index // classes) % len(SPLIT_PATTERN)],
        seconds=seconds,
        fps=fps,
        has_audio=has_audio,
        actions=tuple(actions),
        sounds=tuple(sounds),
        pans=tuple(pans),
        visual_seed=int(rng.integers(2**62)),
        audio_seed=int(rng.integers(2**62)),
    )


def _plan_distractor_sounds(rng: np.random.Generator, actions: list[ActionEvent], *, frames: int, fps: int) -> list[SoundEvent]:
    """Loud class-agnostic sounds of 1..3 s, only in the background, never overlapping each other."""
    margin = int(round(SOUND_MARGIN_S * fps))
    # Free stretches between actions, shrunk by the margin.
    free, position = [], 0
    for action in actions:
        free.append((position, action.start_frame - margin))
        position = action.end_frame + margin
    free.append((position, frames))
    free = [(a, b) for a, b in free if b - a >= fps]
    background_s = sum(b - a for a, b in free) / fps
    wanted = max(1, int(round(background_s / SECONDS_PER_DISTRACTOR_SOUND)))
    sounds: list[SoundEvent] = []
    taken: list[tuple[int, int]] = []
    for _ in range(wanted * 10):  # a few tries per sound; give up quietly when the video is crowded
        if len(sounds) == wanted or not free:
            break
        length = int(rng.integers(fps, 3 * fps + 1))
        room = np.array([b - a - length + 1 if b - a >= length else 0 for a, b in free], dtype=float)
        if room.sum() == 0:
            continue
        chosen = int(rng.choice(len(free), p=room / room.sum()))
        start = free[chosen][0] + int(rng.integers(0, int(room[chosen])))
        end = start + length
        if any(start < t1 + fps // 2 and t0 < end + fps // 2 for t0, t1 in taken):
            continue
        taken.append((start, end))
        sounds.append(
            SoundEvent(start, end, DISTRACTOR_SOUNDS[int(rng.integers(len(DISTRACTOR_SOUNDS)))], float(rng.uniform(0.05, 0.28)), int(rng.integers(2**62)))
        )
    return sorted(sounds, key=lambda s: s.start_frame)


def _plan_pans(rng: np.random.Generator, *, frames: int, fps: int, width: int) -> list[PanEvent]:
    """Alternate static stretches (4..16 s) and pans (2..6 s) over the whole video, actions or not."""
    pans = []
    position = 0
    panning = bool(rng.random() < 0.25)
    scale = width / 160.0
    while position < frames:
        length = int(rng.integers((2 if panning else 4) * fps, (6 if panning else 16) * fps + 1))
        end = min(frames, position + length)
        if panning:
            angle = rng.uniform(0, 2 * math.pi)
            speed = rng.uniform(0.5, 4.0) * scale
            pans.append(PanEvent(position, end, float(speed * math.cos(angle)), float(speed * math.sin(angle))))
        position = end
        panning = not panning
    return pans
