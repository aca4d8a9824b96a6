"""``probe``: what a video holds, measured from its packets rather than its header."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

from scsampler.errors import VideoError
from scsampler.types import AudioInfo, VideoInfo
from scsampler.video._container import MOTION_VECTOR_CODECS, _reason, open_input

__all__ = ["probe", "MAX_FRAME_PIXELS"]

# Frames larger than 8K UHD are refused: decoding them to RGB would need gigabytes per clip.
MAX_FRAME_PIXELS = 7680 * 4320


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe the video at ``path`` by demuxing it (no decoding).

    Frame count, timestamps and keyframe positions come from the video packets:
    one non-empty packet per frame, its presentation timestamp, and its
    keyframe flag. A header that lies about duration or frame count is noted in
    ``VideoInfo.warnings`` and otherwise ignored.

    Raises:
        VideoError: the file is missing, empty, not a video, has no video
            stream, holds no video packets, or has frames of impossible size.
    """
    with open_input(path) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context
        width, height = int(codec.width or 0), int(codec.height or 0)
        if width <= 0 or height <= 0:
            raise VideoError(path, f"the video stream reports an invalid frame size {width}x{height}.")
        if width * height > MAX_FRAME_PIXELS:
            raise VideoError(path, f"frames of {width}x{height} are larger than the 7680x4320 this tool decodes.")
        time_base = stream.time_base or Fraction(1, 90000)
        nominal_rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        header_frames = int(stream.frames) if stream.frames else None
        header_duration_s = _header_duration_s(container, stream)

        pts_list: list[int] = []
        key_pts: list[int] = []
        missing_pts = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the flush packet at the end, or an empty (dropped) frame
                    continue
                timestamp = packet.pts if packet.pts is not None else packet.dts
                if timestamp is None:
                    missing_pts += 1
                    timestamp = (pts_list[-1] + 1) if pts_list else 0
                pts_list.append(int(timestamp))
                if packet.is_keyframe:
                    key_pts.append(int(timestamp))
        except av.error.FFmpegError as error:
            if not pts_list:
                raise VideoError(path, f"cannot read its packets: {_reason(error)}.") from None
            # A truncated file: keep the packets read so far, and say so.
            truncated_at = len(pts_list)
        else:
            truncated_at = None

        if not pts_list:
            raise VideoError(path, "holds no video frames (the video stream has no packets).")

        audio = _audio_info(container)

    pts = np.unique(np.asarray(pts_list, dtype=np.int64))  # display order
    warnings: list[str] = []
    if len(pts) != len(pts_list):
        warnings.append(f"{len(pts_list) - len(pts)} video packets repeat a timestamp; they count once.")
    if missing_pts:
        warnings.append(f"{missing_pts} video packets carry no timestamp; their times are guessed.")
    if truncated_at is not None:
        warnings.append(f"the file ends early (damaged or truncated); {truncated_at} video packets could be read.")

    times = (pts - pts[0]).astype(np.float64) * float(time_base)
    if nominal_rate:
        frame_duration = 1.0 / float(nominal_rate)
    elif len(times) > 1:
        frame_duration = float(np.median(np.diff(times)))
    else:
        frame_duration = 0.0
    if len(times) > 1 and np.median(np.diff(times)) > 0 and frame_duration > 4 * float(np.median(np.diff(times))):
        frame_duration = float(np.median(np.diff(times)))  # the nominal rate is wrong; trust the packets
    frames = len(pts)
    duration_s = float(times[-1] + frame_duration) if frames > 1 or frame_duration else float(frame_duration)
    if duration_s <= 0:
        duration_s = frame_duration or 1.0 / 30.0
        warnings.append("a single frame with no known duration; assuming 1/30 s.")
    fps = frames / duration_s

    if nominal_rate and abs(fps - float(nominal_rate)) > 0.02 * float(nominal_rate):
        warnings.append(
            f"variable or irregular frame rate: {frames} frames over {duration_s:.3f} s ({fps:.3f} fps), "
            f"while the stream declares {float(nominal_rate):.3f} fps."
        )
    if header_frames is not None and header_frames != frames:
        warnings.append(f"the header claims {header_frames} frames; {frames} were found.")
    if header_duration_s is not None and abs(header_duration_s - duration_s) > max(1.0, 0.05 * duration_s):
        warnings.append(f"the header claims {header_duration_s:.3f} s; the frames span {duration_s:.3f} s.")

    keyframes = np.searchsorted(pts, np.unique(np.asarray(key_pts, dtype=np.int64)))
    if len(keyframes) == 0 or keyframes[0] != 0:
        # Decoding can always start at the first frame; treat it as a keyframe.
        keyframes = np.concatenate([[0], keyframes]).astype(np.int64)

    return VideoInfo(
        path=os.fspath(path),
        container=container.format.name,
        codec=codec.name,
        width=width,
        height=height,
        fps=fps,
        frames=frames,
        duration_s=duration_s,
        frame_times_s=times,
        frame_pts=pts,
        time_base=time_base,
        keyframes=keyframes,
        motion_vectors=codec.name in MOTION_VECTOR_CODECS,
        audio=audio,
        header_frames=header_frames,
        header_duration_s=header_duration_s,
        warnings=tuple(warnings),
    )


def _header_duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _audio_info(container: av.container.InputContainer) -> AudioInfo | None:
    if not container.streams.audio:
        return None
    stream = container.streams.audio[0]
    codec = stream.codec_context
    duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
    channels = int(getattr(codec, "channels", 0) or (codec.layout.nb_channels if codec.layout else 0))
    return AudioInfo(codec=codec.name, sample_rate=int(codec.sample_rate or 0), channels=channels, duration_s=duration)
