"""Sound of a synthetic video, one second at a time: noise, clicks, distractor sounds, the action's tone.

Loudness is deliberately not saliency: the class-agnostic distractor sounds
(noise bursts, whooshes, frequency sweeps; RMS 0.05 to 0.28) are mostly
louder than the action's harmonic tone (RMS 0.06 to 0.11), and clicks have
high peaks everywhere. What marks an action is its steady, class-specific
pitch.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from scsampler.data.synth_plan import ActionEvent, ClassStyle, SoundEvent, VideoPlan

__all__ = ["SAMPLE_RATE", "render_audio", "action_tone"]

SAMPLE_RATE = 22050
CLICKS_PER_S = 0.7
FADE_S = 0.03


def render_audio(plan: VideoPlan, style: ClassStyle, *, sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Yield ``plan.seconds`` mono ``float32`` blocks of ``sample_rate`` samples each, in [-1, 1]."""
    rng = np.random.default_rng(plan.audio_seed)
    noise_level = float(rng.uniform(0.008, 0.025))
    # (first sample, last sample, event); waveforms are made on first use and dropped after their end
    events: list[tuple[int, int, ActionEvent | SoundEvent]] = []
    for action in plan.actions:
        if not action.silent:
            events.append((_sample(action.start_frame, plan.fps, sample_rate), _sample(action.end_frame, plan.fps, sample_rate), action))
    for sound in plan.sounds:
        events.append((_sample(sound.start_frame, plan.fps, sample_rate), _sample(sound.end_frame, plan.fps, sample_rate), sound))
    cache: dict[int, np.ndarray] = {}

    for second in range(plan.seconds):
        block_start, block_end = second * sample_rate, (second + 1) * sample_rate
        block = rng.standard_normal(sample_rate) * noise_level
        for _ in range(int(rng.poisson(CLICKS_PER_S))):
            at = int(rng.integers(0, sample_rate))
            length = int(sample_rate * rng.uniform(0.002, 0.008))
            click = rng.standard_normal(length) * np.exp(-np.arange(length) / (0.3 * length)) * rng.uniform(0.3, 0.8)
            block[at : at + length] += click[: sample_rate - at]
        for key, (first, last, event) in enumerate(events):
            if last <= block_start or first >= block_end:
                if last <= block_start:
                    cache.pop(key, None)
                continue
            if key not in cache:
                cache[key] = _event_waveform(event, style, last - first, sample_rate=sample_rate)
            lo, hi = max(first, block_start), min(last, block_end)
            block[lo - block_start : hi - block_start] += cache[key][lo - first : hi - first]
        yield np.clip(block, -0.99, 0.99).astype(np.float32)


def _sample(frame: int, fps: int, sample_rate: int) -> int:
    return frame * sample_rate // fps


def _event_waveform(event: ActionEvent | SoundEvent, style: ClassStyle, length: int, *, sample_rate: int) -> np.ndarray:
    if isinstance(event, ActionEvent):
        return action_tone(style, length, sample_rate=sample_rate) * event.level
    return _distractor(event, length, sample_rate=sample_rate)


def action_tone(style: ClassStyle, length: int, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The class's sound, ``length`` samples at unit RMS: harmonic tone, amplitude-modulated, faded in and out."""
    t = np.arange(length) / sample_rate
    tone = sum(np.sin(2 * np.pi * h * style.f0_hz * t) / h for h in range(1, style.harmonics + 1))
    tone = tone * (1.0 - 0.5 * (0.5 - 0.5 * np.cos(2 * np.pi * style.am_hz * t)))
    return _fade(_unit_rms(tone), sample_rate)


def _distractor(event: SoundEvent, length: int, *, sample_rate: int) -> np.ndarray:
    """A loud class-agnostic sound at ``event.level`` RMS."""
    rng = np.random.default_rng(event.seed)
    t = np.arange(length) / sample_rate
    swell = np.sin(np.pi * t / t[-1]) ** 2 if length > 1 else np.ones(length)
    if event.sound == "noise_burst":  # band-passed noise, sharp attack, decaying
        low = rng.uniform(100, 1500)
        wave = _band(rng.standard_normal(length), low, low * rng.uniform(2, 8), sample_rate)
        wave *= np.exp(-t / max(1e-3, rng.uniform(0.3, 1.0) * t[-1]))
    elif event.sound == "whoosh":  # low-passed noise that swells and fades
        wave = _band(rng.standard_normal(length), 0.0, rng.uniform(400, 3000), sample_rate) * swell
    else:  # "chirp": a log frequency sweep with a few partials, up or down
        f_start, f_end = 150 * 2 ** rng.uniform(0, 4, size=2)
        frequency = f_start * (f_end / f_start) ** (t / max(t[-1], 1e-9))
        phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
        wave = (np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase)) * swell
    return _fade(_unit_rms(wave), sample_rate) * event.level


def _band(noise: np.ndarray, low_hz: float, high_hz: float, sample_rate: int) -> np.ndarray:
    spectrum = np.fft.rfft(noise)
    frequencies = np.fft.rfftfreq(len(noise), 1.0 / sample_rate)
    spectrum[(frequencies < low_hz) | (frequencies > high_hz)] = 0
    return np.fft.irfft(spectrum, n=len(noise))


def _unit_rms(wave: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(wave**2))) if len(wave) else 0.0
    return wave / rms if rms > 0 else wave


def _fade(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    n = min(len(wave) // 2, int(FADE_S * sample_rate))
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n)
        wave[:n] *= ramp
        wave[-n:] *= ramp[::-1]
    return wave
