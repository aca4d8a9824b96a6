"""Synthetic media for the signal tests, made with PyAV (H.264 video, optional AAC audio)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.media import find_shared_videos

SHARED_VIDEOS = find_shared_videos() or Path(__file__).resolve().parents[2] / "shared" / "videos"


def moving_block_video(
    path: Path,
    *,
    frames: int = 24,
    width: int = 320,
    height: int = 240,
    dx: int = 4,
    dy: int = 2,
    move_from: int = 0,
    fps: int = 25,
    codec: str = "libx264",
    options: dict | None = None,
    tone_hz: float | None = None,
    loud_from_s: float | None = None,
) -> Path:
    """A textured 64x64 block moving by (dx, dy) pixels per frame over a static textured background.

    The block starts moving at frame ``move_from``. With ``tone_hz`` the file gets an AAC
    track holding that sine tone; with ``loud_from_s`` instead, silence then loud noise.
    """
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    block = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    container = av.open(str(path), "w")
    video = container.add_stream(codec, rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    # no B-frames and one reference: every vector points one frame back
    video.options = options if options is not None else {"bf": "0", "refs": "1", "preset": "veryfast"}
    audio = None
    if tone_hz is not None or loud_from_s is not None:
        audio = container.add_stream("aac", rate=16000)
        audio.layout = "mono"
    for t in range(frames):
        image = background.copy()
        steps = max(0, t - move_from)
        x0, y0 = 64 + dx * steps, 48 + dy * steps
        image[y0 : y0 + 64, x0 : x0 + 64] = block
        for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    if audio is not None:
        total = int(frames / fps * 16000)
        time_s = np.arange(total) / 16000.0
        if tone_hz is not None:
            samples = 0.5 * np.sin(2 * np.pi * tone_hz * time_s)
        else:
            samples = np.where(time_s >= loud_from_s, rng.uniform(-0.8, 0.8, total), 0.0)
        encode_audio(container, audio, samples[None].astype(np.float32), rate=16000)
    container.close()
    return path


def encode_audio(container, stream, samples: np.ndarray, *, rate: int) -> None:
    """Encode and mux float32 ``samples [channels, n]`` (1 or 2 channels) into ``stream``, then flush it."""
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    for start in range(0, samples.shape[1], 1024):
        chunk = np.ascontiguousarray(samples[:, start : start + 1024])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
