"""Test media made with PyAV: videos whose pixels carry their frame number."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from scsampler.types import AudioInfo, VideoInfo

import os

BLOCK = 16  # one bit per 16x16 block survives H.264 compression
BITS = 12


def find_shared_videos() -> Path | None:
    """The project's real footage: $SCSAMPLER_SHARED_VIDEOS, ../shared/videos beside the checkout, or /work/shared/videos."""
    candidates = [
        os.environ.get("SCSAMPLER_SHARED_VIDEOS"),
        Path(__file__).resolve().parents[2] / "shared" / "videos",
        "/work/shared/videos",
    ]
    for candidate in candidates:
        if candidate and Path(candidate, "vtest.avi").is_file():
            return Path(candidate)
    return None


def draw_frame_number(number: int, *, width: int = 128, height: int = 96) -> np.ndarray:
    """An RGB frame whose top two block rows encode ``number`` in binary (white = 1)."""
    image = np.full((height, width, 3), 64, dtype=np.uint8)
    columns = width // BLOCK
    for bit in range(BITS):
        row, column = divmod(bit, columns)
        value = 255 if (number >> bit) & 1 else 0
        image[row * BLOCK : (row + 1) * BLOCK, column * BLOCK : (column + 1) * BLOCK] = value
    return image


def read_frame_number(image: np.ndarray) -> int:
    """Inverse of :func:`draw_frame_number` for an RGB image of the same layout."""
    height, width = image.shape[:2]
    columns = 128 // BLOCK
    scale_y, scale_x = height / 96, width / 128
    number = 0
    for bit in range(BITS):
        row, column = divmod(bit, columns)
        y0, y1 = int(row * BLOCK * scale_y), int((row + 1) * BLOCK * scale_y)
        x0, x1 = int(column * BLOCK * scale_x), int((column + 1) * BLOCK * scale_x)
        patch = image[y0 + 1 : max(y1 - 1, y0 + 2), x0 + 1 : max(x1 - 1, x0 + 2)]
        if patch.mean() > 128:
            number |= 1 << bit
    return number


def write_numbered_video(
    path: Path, *, frames: int, fps: int = 25, gop: int = 12, codec: str = "libx264", faststart: bool = False
) -> Path:
    """Frames whose pixels encode their number; ``faststart`` puts the MP4 index before the data."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = 128, 96
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "2", "crf": "18"}
        else:
            stream.options = {"g": str(gop)}
        stream.time_base = Fraction(1, fps)
        for number in range(frames):
            frame = av.VideoFrame.from_ndarray(draw_frame_number(number), format="rgb24")
            frame.pts = number
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_audio_only(path: Path, *, seconds: float = 1.0, rate: int = 16000) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        samples = np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start : start + 1024][None, :]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def fake_video_info(
    *,
    frames: int = 400,
    fps: float = 25.0,
    audio: bool = True,
    path: str = "fake.mp4",
    width: int = 128,
    height: int = 96,
) -> VideoInfo:
    """A probe result for a video that does not exist: constant frame rate, a keyframe every 12 frames."""
    return VideoInfo(
        path=path,
        container="mp4",
        codec="h264",
        width=width,
        height=height,
        fps=fps,
        frames=frames,
        duration_s=frames / fps,
        frame_times_s=np.arange(frames) / fps,
        keyframes=np.arange(0, frames, 12),
        motion_vectors=True,
        audio=AudioInfo(codec="aac", sample_rate=16000, channels=1) if audio else None,
    )
