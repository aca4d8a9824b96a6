"""The video layer: the only part of scsampler that talks to PyAV for pixels and timing."""

from scsampler.video.decode import VideoWarning, decode_clips, iter_clips, iter_frames
from scsampler.video.grid import clip_grid, count_full_clips
from scsampler.video.probe import probe

__all__ = ["probe", "clip_grid", "count_full_clips", "decode_clips", "iter_clips", "iter_frames", "VideoWarning"]
