"""Audio per clip: mono 16 kHz, a log-MEL spectrogram of 40 bands x 200 frames per clip window.

Two readings of the paper's "40x200 log-MEL of the clip" (``window``, see :data:`AUDIO_WINDOWS`):
``clip`` spans exactly the clip's ``[start_s, end_s)`` (200 frames over it: a 2.67 ms hop for a
0.53 s clip of 16 frames at 30 fps, 5 ms for the demo's 1 s clips); ``centred-2s`` is a 2 s window
centred on the clip's middle at VGGish's usual 10 ms hop (200 frames = 2 s), reaching past the
clip on both sides (silence before the start and after the end of the track).

The first audio stream is decoded, downmixed and resampled (libswresample, inside one FFmpeg
filter graph, or packet by packet when that fails) in one streaming pass; a clip's spectrogram is computed as soon as the stream has passed its end, and
samples no remaining clip needs are dropped, so memory is bounded by the longest clip
window, not by the length of the file.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
import torch

from scsampler.signals._threads import one_torch_thread
from scsampler.signals.types import MEL_FRAMES, N_MELS
from scsampler.types import ClipGrid, VideoInfo
from scsampler.video._container import open_input

__all__ = [
    "AudioResult",
    "extract_audio",
    "log_mel",
    "mel_filterbank",
    "hz_to_mel",
    "SAMPLE_RATE",
    "WINDOW_SAMPLES",
    "N_FFT",
    "F_MIN_HZ",
    "F_MAX_HZ",
    "LOG_OFFSET",
    "AUDIO_WINDOWS",
    "audio_windows_samples",
]

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 400  # 25 ms Hann window, as in VGGish
N_FFT = 512
F_MIN_HZ = 125.0  # VGGish's band edges, so AudioSet-pretrained weights see familiar inputs
F_MAX_HZ = 7_500.0
LOG_OFFSET = 1e-6  # log(mel power + offset): silence maps to log(1e-6), about -13.8
#: ``window`` names: the clip itself, or 2 s centred on it at a 10 ms hop.
AUDIO_WINDOWS = ("clip", "centred-2s")
CENTRED_WINDOW_S = 2.0
_BATCH = 16  # clip windows per log-MEL transform (its temporaries are about 2 MB per window)
_CHUNK_SAMPLES = SAMPLE_RATE // 2  # resampled samples per chunk handed to the clip buffer


@dataclass(frozen=True)
class AudioResult:
    mel: torch.Tensor | None  # float32 [L, 40, 200]
    absent_reason: str | None


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(
    *, n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE, f_min_hz: float = F_MIN_HZ, f_max_hz: float = F_MAX_HZ
) -> torch.Tensor:
    """``float32 [n_mels, n_fft // 2 + 1]``: triangular filters evenly spaced on the HTK mel scale.

    Band ``m`` rises from edge ``m`` to a peak at centre ``m + 1`` and falls to edge ``m + 2``
    of ``n_mels + 2`` edges between ``f_min_hz`` and ``f_max_hz``.
    """
    frequencies = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(hz_to_mel(f_min_hz), hz_to_mel(f_max_hz), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (frequencies[None] - lower) / (centre - lower)
    falling = (upper - frequencies[None]) / (upper - centre)
    return torch.from_numpy(np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32))


def mel_band_centres_hz(*, n_mels: int = N_MELS, f_min_hz: float = F_MIN_HZ, f_max_hz: float = F_MAX_HZ) -> np.ndarray:
    """The peak frequency of each band of :func:`mel_filterbank`."""
    return _mel_to_hz(np.linspace(hz_to_mel(f_min_hz), hz_to_mel(f_max_hz), n_mels + 2))[1:-1]


def log_mel(windows: torch.Tensor, *, n_frames: int = MEL_FRAMES, filterbank: torch.Tensor | None = None) -> torch.Tensor:
    """``float32 [B, n_mels, n_frames]`` log-MEL of ``B`` equal-length sample windows ``[B, S]``.

    The hop is ``S / n_frames`` (fractional when needed): frame ``j`` is a 25 ms Hann
    window centred at sample ``(j + 0.5) * S / n_frames``, the signal reflected at both ends,
    so every clip window maps to exactly ``n_frames`` frames whatever its duration.
    """
    filterbank = mel_filterbank() if filterbank is None else filterbank
    frames = _windowed_frames(windows.detach().cpu().to(torch.float32).numpy(), n_frames=n_frames)
    lo, hi = _nonzero_bins(filterbank)
    # only the bins some band weighs are squared and summed (125-7500 Hz: 235 of 257)
    spectrum = torch.fft.rfft(torch.from_numpy(frames))[..., lo:hi]  # [B, n_frames, hi - lo]
    power = spectrum.real.square()
    power.addcmul_(spectrum.imag, spectrum.imag)
    mel = power @ filterbank[:, lo:hi].T
    return torch.log(mel.add_(LOG_OFFSET)).transpose(1, 2).contiguous()


def _windowed_frames(windows: np.ndarray, *, n_frames: int) -> np.ndarray:
    """``[B, n_frames, N_FFT]``: the Hann-windowed samples under each frame, zero-padded for the FFT.

    Frame ``j`` covers the ``WINDOW_SAMPLES`` samples starting ``WINDOW_SAMPLES // 2`` before
    its centre; the rest of its ``N_FFT`` row stays zero (the padding of a 400-sample window
    to a 512-point FFT). Rows are gathered from a strided view and windowed in one pass
    into the zeroed output.
    """
    batch, samples = windows.shape
    half = WINDOW_SAMPLES // 2
    padded = np.pad(windows, ((0, 0), (half, half)), mode="reflect" if samples > half else "edge")
    starts = np.floor((np.arange(n_frames, dtype=np.float64) + 0.5) * samples / n_frames).astype(np.int64)
    view = np.lib.stride_tricks.sliding_window_view(padded, WINDOW_SAMPLES, axis=1)  # [B, S + 1, 400], no copy
    frames = np.zeros((batch, n_frames, N_FFT), dtype=np.float32)
    np.multiply(view[:, starts], _hann(), out=frames[..., :WINDOW_SAMPLES])
    return frames


@functools.lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    """The periodic 25 ms Hann window."""
    return torch.hann_window(WINDOW_SAMPLES, periodic=True).numpy()


def _nonzero_bins(filterbank: torch.Tensor) -> tuple[int, int]:
    """The range ``[lo, hi)`` of FFT bins that some band of ``filterbank`` weighs."""
    used = torch.nonzero(filterbank.sum(dim=0)).flatten()
    if len(used) == 0:
        return 0, filterbank.shape[1]
    return int(used[0]), int(used[-1]) + 1


def audio_windows_samples(grid: ClipGrid, window: str = "clip") -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)``: each clip's audio window in 16 kHz samples from the first video frame.

    ``clip``: the clip's own ``[start_s, end_s)``. ``centred-2s``: 2 s centred on the clip's
    middle (it may start before 0 or end after the track: that part is silence).
    """
    if window not in AUDIO_WINDOWS:
        from scsampler.errors import UsageError

        raise UsageError(f"unknown audio window {window!r}; choose one of {', '.join(AUDIO_WINDOWS)}.")
    if window == "clip":
        starts = np.round(grid.start_s * SAMPLE_RATE).astype(np.int64)
        return starts, np.maximum(np.round(grid.end_s * SAMPLE_RATE).astype(np.int64), starts + 1)
    length = int(round(CENTRED_WINDOW_S * SAMPLE_RATE))
    middles = (np.asarray(grid.start_s, dtype=np.float64) + np.asarray(grid.end_s, dtype=np.float64)) / 2
    starts = np.round(middles * SAMPLE_RATE).astype(np.int64) - length // 2
    return starts, starts + length


def extract_audio(
    path: str | os.PathLike, grid: ClipGrid, *, info: VideoInfo, n_frames: int = MEL_FRAMES, window: str = "clip"
) -> AudioResult:
    """Log-MEL ``[L, 40, n_frames]`` of each clip's audio window, or the reason there is none.

    ``window`` (:data:`AUDIO_WINDOWS`): ``clip``, the clip's ``[start_s, end_s)``, or
    ``centred-2s``, 2 s centred on it (a 10 ms hop at 200 frames); see the module docstring.
    Times are on the video's clock (``frame_times_s``): the audio stream's start is
    aligned to the first video frame using both streams' start timestamps. The hop is
    the window's length over ``n_frames``, so clips of unequal duration (variable frame
    rate) get different hops but the same shape.
    Parts of a window the audio track does not cover (it ends early) are silence.
    """
    starts, ends = audio_windows_samples(grid, window)
    if info.audio is None:
        return AudioResult(None, "no audio track")
    if len(grid) == 0:
        return AudioResult(torch.zeros((0, N_MELS, n_frames), dtype=torch.float32), None)
    order = np.argsort(starts, kind="stable")
    output = torch.empty((len(grid), N_MELS, n_frames), dtype=torch.float32)
    filterbank = mel_filterbank()
    buffer = _SampleBuffer()
    pending: list[int] = []
    cursor = 0  # next clip (in ``order``) not yet computed
    received = 0

    def flush(final: bool = False) -> None:
        nonlocal pending
        if pending and (final or len(pending) >= _BATCH):
            groups: dict[int, list[int]] = {}  # equal window lengths share one batched transform
            for position in pending:
                groups.setdefault(int(ends[position] - starts[position]), []).append(position)
            for positions in groups.values():
                windows = torch.from_numpy(np.stack([buffer.window(int(starts[p]), int(ends[p])) for p in positions]))
                output[positions] = log_mel(windows, n_frames=n_frames, filterbank=filterbank)
            pending = []

    with open_input(path) as container, one_torch_thread():
        stream = container.streams.audio[0]
        video = container.streams.video[0]
        buffer.origin = _audio_offset_samples(stream, video)
        # closed as soon as the last window is complete, not at the end of the track
        with contextlib.closing(_mono_16k_chunks(path, container, stream)) as chunks:
            for chunk in chunks:
                buffer.append(chunk)
                received += len(chunk)
                # compute every clip whose window the stream has passed
                while cursor < len(order) and ends[order[cursor]] <= buffer.end:
                    pending.append(int(order[cursor]))
                    cursor += 1
                flush()
                keep_from = int(starts[order[cursor]]) if cursor < len(order) else buffer.end
                if pending:
                    keep_from = min(keep_from, int(starts[pending].min()))
                buffer.drop_before(keep_from)
                if cursor >= len(order):
                    break  # every window is complete (the pending ones are flushed below): the rest is not needed
        if received == 0:
            return AudioResult(None, f"the {info.audio.codec} audio track holds no decodable samples")
        while cursor < len(order):  # the audio ended before these windows: the rest is silence
            pending.append(int(order[cursor]))
            cursor += 1
        flush(final=True)
    return AudioResult(output, None)


class _SampleBuffer:
    """Samples ``[start, end)`` of the 16 kHz stream (sample 0 = the first video frame)."""

    def __init__(self) -> None:
        self.origin = 0  # stream sample index of the first decoded sample
        self.start = 0
        self.end = 0
        self._chunks: list[np.ndarray] = []

    def append(self, chunk: np.ndarray) -> None:
        if not self._chunks and self.end == 0:
            self.start = self.end = self.origin
        self._chunks.append(chunk)
        self.end += len(chunk)

    def drop_before(self, sample: int) -> None:
        """Forget the samples before ``sample``: memory stays bounded by the windows in progress."""
        while self._chunks and self.start + len(self._chunks[0]) <= sample:
            self.start += len(self._chunks[0])
            self._chunks.pop(0)
        if self._chunks and self.start < sample:  # the first chunk straddles: keep only its tail (a copy, not a view)
            self._chunks[0] = self._chunks[0][sample - self.start :].copy()
            self.start = sample

    @property
    def held(self) -> int:
        """How many samples the buffer holds."""
        return self.end - self.start

    def window(self, start: int, end: int) -> np.ndarray:
        """Samples ``[start, end)``; what the stream does not cover is silence."""
        out = np.zeros(end - start, dtype=np.float32)
        data = np.concatenate(self._chunks) if len(self._chunks) > 1 else (self._chunks[0] if self._chunks else out[:0])
        if len(self._chunks) > 1:
            self._chunks = [data]
        lo, hi = max(start, self.start), min(end, self.start + len(data))
        if hi > lo:
            out[lo - start : hi - start] = data[lo - self.start : hi - self.start]
        return out


def _audio_offset_samples(audio: av.audio.stream.AudioStream, video: av.video.stream.VideoStream) -> int:
    """Where the audio starts relative to the first video frame, in 16 kHz samples."""
    if audio.start_time is None or video.start_time is None or not audio.time_base or not video.time_base:
        return 0
    offset_s = float(audio.start_time * audio.time_base) - float(video.start_time * video.time_base)
    return int(round(offset_s * SAMPLE_RATE))


def _mono_16k_chunks(path: str | os.PathLike, container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> Iterator[np.ndarray]:
    """The audio stream as mono float32 chunks at 16 kHz, in order.

    FFmpeg's own filter graph decodes, downmixes and resamples the stream in C
    (:func:`_filtered_chunks`); when it cannot (no ``lavfi``, damaged data), the rest comes
    from the per-packet path (:func:`_resampled_chunks`), which skips packets that fail to
    decode. Both paths use libswresample's defaults and give the same samples, so the
    per-packet path resumes after the samples already delivered.
    """
    delivered = 0
    if "lavfi" in av.formats_available:
        try:
            for chunk in _filtered_chunks(path, stream.index):
                delivered += len(chunk)
                yield chunk
            return
        except av.error.FFmpegError:
            pass
    skip = delivered
    for chunk in _resampled_chunks(container, stream):
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        yield chunk[skip:]
        skip = 0


def _filtered_chunks(path: str | os.PathLike, stream_index: int) -> Iterator[np.ndarray]:
    """Decode, downmix and resample in one FFmpeg filter graph: one Python object per chunk, not per codec frame.

    A 5-minute AAC track is about 13,000 codec frames; handing each to Python (decode,
    resample, convert) cost more than the decoding itself. Needs FFmpeg's ``lavfi`` input.
    """
    description = (
        f"amovie=filename={_filter_value(os.fspath(path))}:si={int(stream_index)},"
        f"aresample={SAMPLE_RATE},aformat=sample_fmts=flt:channel_layouts=mono,"
        f"asetnsamples=n={_CHUNK_SAMPLES}:p=0"
    )
    with av.open(description, format="lavfi") as graph:
        for frame in graph.decode(audio=0):
            yield frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)


def _filter_value(text: str) -> str:
    """``text`` escaped as one option value inside a filter graph description.

    Two levels, as FFmpeg's filtergraph documentation describes: quoted for the filter's
    option parser (a quote inside becomes ``'\\''``), then every character special to the
    graph parser (``\\ ' [ ] , ;``) escaped with a backslash.
    """
    quoted = "'" + text.replace("'", "'\\''") + "'"
    return "".join("\\" + character if character in "\\'[],;" else character for character in quoted)


def _resampled_chunks(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> Iterator[np.ndarray]:
    """Mono float32 chunks at 16 kHz, packet by packet; damaged packets are skipped."""
    # whole chunks of _CHUNK_SAMPLES: one NumPy conversion per chunk rather than per codec frame
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE, frame_size=_CHUNK_SAMPLES)

    def convert(frames) -> list[np.ndarray]:
        return [frame.to_ndarray().reshape(-1).astype(np.float32, copy=False) for frame in frames]

    try:
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in decoded:
                yield from convert(resampler.resample(frame))
    except av.error.FFmpegError:
        pass  # a truncated file: keep what was read
    yield from convert(resampler.resample(None))
