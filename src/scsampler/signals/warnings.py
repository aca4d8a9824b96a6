"""The warning category of signal extraction."""

from scsampler.video.decode import VideoWarning

__all__ = ["SignalWarning"]


class SignalWarning(VideoWarning):
    """A signal could be extracted, but part of it is approximate, missing, or a fallback."""
