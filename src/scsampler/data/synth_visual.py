"""Pixels of a synthetic video: a panning textured background, a grey distractor object, noise, and the action.

Everything except the action is neutral (low or no saturation): the action is
the only saturated colour in the frame, while motion and change are
everywhere (camera pans, a grey object that is sometimes fast, pixel noise).
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from scsampler.data.synth_plan import ClassStyle, VideoPlan

__all__ = ["render_frames", "shape_mask"]

ACTION_AMPLITUDE = 0.18  # of the frame height: how far the action shape travels from its centre
ACTION_RADIUS = 0.14  # of the frame height: the shape's radius (about 34 px at 120 px high)


def render_frames(plan: VideoPlan, style: ClassStyle, *, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Yield the ``plan.frames`` RGB frames (``uint8 [H, W, 3]``) of the video, in order."""
    width, height = size
    rng = np.random.default_rng(plan.visual_seed)
    texture = _texture(rng, width=width, height=height)
    tex_h, tex_w = texture.shape[:2]
    rows0, cols0 = np.arange(height), np.arange(width)
    noise_level = int(rng.integers(2, 6))

    # The grey object: neutral, dark or light, an ellipse or a box, bouncing around.
    obj_w, obj_h = (float(v) for v in rng.uniform(0.15 * height, 0.3 * height, size=2))
    obj_grey = float(rng.choice([rng.uniform(25, 60), rng.uniform(195, 235)]))
    obj_box = bool(rng.random() < 0.5)
    obj_pos = np.array([rng.uniform(obj_w, width - obj_w), rng.uniform(obj_h, height - obj_h)])
    obj_vel = np.zeros(2)
    regime_end = 0

    pan_x = pan_y = 0.0
    pans = list(plan.pans)
    for frame in range(plan.frames):
        # camera: integer crop of the periodic texture, offset by the accumulated pan
        pan = next((p for p in pans if p.start_frame <= frame < p.end_frame), None)
        if pan is not None:
            pan_x, pan_y = pan_x + pan.dx, pan_y + pan.dy
        rows = (rows0 + int(round(pan_y))) % tex_h
        cols = (cols0 + int(round(pan_x))) % tex_w
        image = texture[rows[:, None], cols[None, :]].astype(np.int16)

        # grey object: a new speed regime every 2..6 s, fast about a third of the time
        if frame >= regime_end:
            regime_end = frame + int(rng.integers(2 * plan.fps, 6 * plan.fps + 1))
            speed = rng.uniform(4.0, 9.0) if rng.random() < 0.35 else rng.uniform(0.3, 2.0)
            angle = rng.uniform(0, 2 * math.pi)
            obj_vel = speed * (width / 160.0) * np.array([math.cos(angle), math.sin(angle)])
        obj_pos += obj_vel
        for axis, (low, high) in enumerate(((obj_w / 2, width - obj_w / 2), (obj_h / 2, height - obj_h / 2))):
            if not low <= obj_pos[axis] <= high:
                obj_vel[axis] = -obj_vel[axis]
                obj_pos[axis] = min(max(obj_pos[axis], low), high)
        _paint(image, _object_mask(obj_pos, obj_w, obj_h, obj_box, width=width, height=height), (obj_grey,) * 3)

        action = plan.action_at(frame)
        if action is not None:
            local_s = (frame - action.start_frame) / plan.fps
            _paint(image, _action_mask(style, action.center, local_s, width=width, height=height), style.rgb)

        # pixel noise, the same on all channels so it stays neutral
        image += rng.integers(-noise_level, noise_level + 1, size=(height, width, 1), dtype=np.int16)
        yield np.clip(image, 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator, *, width: int, height: int) -> np.ndarray:
    """A periodic, low-saturation 1/f texture twice the frame size, so pans wrap around seamlessly."""
    tex_h, tex_w = 2 * height, 2 * width
    fy = np.fft.fftfreq(tex_h)[:, None]
    fx = np.fft.rfftfreq(tex_w)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    spectrum = np.fft.rfft2(rng.standard_normal((tex_h, tex_w)))
    cloudy = np.fft.irfft2(spectrum / radius**1.6, s=(tex_h, tex_w))
    detail = np.fft.irfft2(spectrum * (radius > 0.15), s=(tex_h, tex_w))  # fine grain: motion vectors lock on
    texture = _unit(cloudy) + 0.35 * _unit(detail)
    luminance = 55.0 + 150.0 * _unit(texture)
    tint = rng.uniform(-0.07, 0.07, size=3)  # a faint colour cast; saturation stays below ~0.15
    return np.clip(luminance[..., None] * (1.0 + tint), 0, 255).astype(np.uint8)


def _unit(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _paint(image: np.ndarray, mask: tuple[slice, slice, np.ndarray] | None, rgb) -> None:
    if mask is None:
        return
    rows, cols, inside = mask
    region = image[rows, cols]
    region[inside] = np.asarray(rgb, dtype=np.int16)


def _object_mask(pos: np.ndarray, w: float, h: float, box: bool, *, width: int, height: int):
    x0, x1 = max(0, int(pos[0] - w / 2)), min(width, int(pos[0] + w / 2) + 1)
    y0, y1 = max(0, int(pos[1] - h / 2)), min(height, int(pos[1] + h / 2) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    dx = (np.arange(x0, x1) - pos[0])[None, :] / (w / 2)
    dy = (np.arange(y0, y1) - pos[1])[:, None] / (h / 2)
    inside = (np.maximum(abs(dx), abs(dy)) <= 1) if box else (dx**2 + dy**2 <= 1)
    return slice(y0, y1), slice(x0, x1), inside


def _action_mask(style: ClassStyle, center: tuple[float, float], local_s: float, *, width: int, height: int):
    """Where the class's shape is ``local_s`` seconds into its action."""
    amplitude, radius = ACTION_AMPLITUDE * height, ACTION_RADIUS * height
    phase = 2 * math.pi * style.motion_hz * local_s
    cx, cy = center
    rotation = 0.0
    if style.motion == "sway":  # back and forth along the class's angle
        cx += amplitude * math.sin(phase) * math.cos(style.angle_rad)
        cy += amplitude * math.sin(phase) * math.sin(style.angle_rad)
    elif style.motion == "orbit":  # round a circle
        cx += amplitude * math.cos(phase)
        cy += amplitude * math.sin(phase)
    elif style.motion == "pulse":  # grows and shrinks while turning
        radius *= 1.0 + 0.35 * math.sin(phase)
        rotation = 0.5 * phase
    elif style.motion == "bounce":  # hops up and drifts sideways
        cy += amplitude * (0.5 - abs(math.sin(0.5 * phase)))
        cx += 0.6 * amplitude * math.sin(phase / 3.0)
    reach = radius * 1.45
    x0, x1 = max(0, int(cx - reach)), min(width, int(cx + reach) + 2)
    y0, y1 = max(0, int(cy - reach)), min(height, int(cy + reach) + 2)
    if x1 <= x0 or y1 <= y0:
        return None
    dx = (np.arange(x0, x1) - cx)[None, :]
    dy = (np.arange(y0, y1) - cy)[:, None]
    return slice(y0, y1), slice(x0, x1), shape_mask(style.shape, dx, dy, radius=radius, rotation_rad=rotation)


def shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, *, radius: float, rotation_rad: float = 0.0) -> np.ndarray:
    """Boolean mask of ``shape`` of ``radius`` pixels at offsets ``(dx, dy)`` from its centre."""
    cos, sin = math.cos(rotation_rad), math.sin(rotation_rad)
    x = cos * dx + sin * dy
    y = -sin * dx + cos * dy
    if shape == "disc":
        return x**2 + y**2 <= radius**2
    if shape == "square":
        return np.maximum(abs(x), abs(y)) <= 0.85 * radius
    if shape == "triangle":  # equilateral, pointing up, inscribed circle of radius/2
        inside = np.ones(np.broadcast(x, y).shape, dtype=bool)
        for k in range(3):
            angle = math.pi / 2 + 2 * math.pi * k / 3
            inside &= -(x * math.cos(angle) - y * math.sin(angle)) <= 0.55 * radius
        return inside
    if shape == "diamond":
        return abs(x) + abs(y) <= 1.2 * radius
    if shape == "ring":
        distance = x**2 + y**2
        return (distance <= radius**2) & (distance >= (0.5 * radius) ** 2)
    if shape == "cross":
        return ((abs(x) <= 0.35 * radius) & (abs(y) <= radius)) | ((abs(y) <= 0.35 * radius) & (abs(x) <= radius))
    raise ValueError(f"unknown shape {shape!r}")
