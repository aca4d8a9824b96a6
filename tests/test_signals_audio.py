"""Log-MEL audio per clip window: the right band, the right shape, absent when there is no audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scsampler.signals import extract_signals, log_mel, mel_band_centres_hz, mel_filterbank
from scsampler.video import clip_grid, probe

from tests.signals_media import SHARED_VIDEOS, encode_audio, moving_block_video


def _nearest_band(hz: float) -> int:
    return int(np.argmin(np.abs(mel_band_centres_hz() - hz)))


@pytest.mark.parametrize("tone_hz", [440.0, 1000.0, 3000.0])
def test_log_mel_of_a_tone_peaks_in_its_band(tone_hz):
    time_s = np.arange(8533) / 16000.0  # one 16-frame clip at 30 fps
    tone = torch.from_numpy(np.sin(2 * np.pi * tone_hz * time_s).astype(np.float32))[None]
    mel = log_mel(tone)
    assert mel.shape == (1, 40, 200) and mel.dtype == torch.float32
    assert int(mel[0].mean(dim=1).argmax()) == _nearest_band(tone_hz)


def test_filterbank_bands_are_triangles_on_the_mel_scale():
    bank = mel_filterbank()
    assert bank.shape == (40, 257)
    assert torch.all(bank >= 0) and torch.all(bank.max(dim=1).values > 0)
    peaks = bank.argmax(dim=1)
    assert torch.all(peaks[1:] >= peaks[:-1])  # centres rise with the band index


def test_audio_of_a_video_with_a_tone(tmp_path):
    path = moving_block_video(tmp_path / "tone.mp4", frames=48, tone_hz=1000.0)
    info = probe(path)
    grid = clip_grid(info)
    signals = extract_signals(path, grid, signals=("audio",), info=info)
    assert signals.audio.shape == (len(grid), 40, 200) and signals.audio.dtype == torch.float32
    assert signals.audio_absent_reason is None
    assert torch.all(signals.audio.mean(dim=2).argmax(dim=1) == _nearest_band(1000.0))


def test_no_audio_track_gives_an_absent_signal(tmp_path):
    path = moving_block_video(tmp_path / "silent.mp4", frames=16)
    info = probe(path)
    signals = extract_signals(path, clip_grid(info), signals=("audio",), info=info)
    assert signals.audio is None
    assert signals.audio_absent_reason == "no audio track"


@pytest.mark.skipif(not (SHARED_VIDEOS / "Megamind.avi").exists(), reason="shared videos are missing")
def test_ac3_audio_of_real_footage():
    path = SHARED_VIDEOS / "Megamind.avi"
    info = probe(path)
    signals = extract_signals(path, clip_grid(info), signals=("audio",), info=info)
    assert signals.audio.shape[1:] == (40, 200)
    assert torch.isfinite(signals.audio).all()
    assert float(signals.audio.std()) > 0.1  # real sound varies


def test_sample_buffer_stays_bounded_while_streaming():
    from scsampler.signals.audio import _SampleBuffer

    buffer = _SampleBuffer()
    rng = np.random.default_rng(0)
    stream = rng.standard_normal(100 * 1024).astype(np.float32)
    for start in range(0, len(stream), 1024):
        buffer.append(stream[start : start + 1024])
        window = buffer.window(buffer.end - 3000, buffer.end - 1000) if buffer.end >= 3000 else None
        if window is not None:
            assert np.array_equal(window, stream[buffer.end - 3000 : buffer.end - 1000])
            buffer.drop_before(buffer.end - 3000)
        assert buffer.held <= 3000 + 1024
    # what the stream does not cover reads as silence
    assert np.all(buffer.window(buffer.end, buffer.end + 10) == 0)


@pytest.mark.parametrize("samples", [8533, 150])  # a clip window; one shorter than half a window (edge padding)
def test_log_mel_matches_a_frame_by_frame_reference(samples):
    """Frame j: 400 samples centred at floor((j + 0.5) * S / 200), Hann, 512-point power spectrum, mel, log."""
    rng = np.random.default_rng(4)
    windows = rng.standard_normal((2, samples)).astype(np.float32)
    mel = log_mel(torch.from_numpy(windows)).numpy()
    bank = mel_filterbank().numpy().astype(np.float64)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)  # periodic
    for row in range(2):
        padded = np.pad(windows[row].astype(np.float64), 200, mode="reflect" if samples > 200 else "edge")
        for j in (0, 1, 99, 199):
            centre = int(np.floor((j + 0.5) * samples / 200))
            power = np.abs(np.fft.rfft(padded[centre : centre + 400] * hann, n=512)) ** 2
            expected = np.log(bank @ power + 1e-6)
            np.testing.assert_allclose(mel[row, :, j], expected, rtol=1e-4, atol=1e-4)


def _stereo_44k_video(path, *, seconds: float = 3.0):
    """A short H.264 video with a 44.1 kHz stereo AAC track (different tones left and right)."""
    import av

    container = av.open(str(path), "w", format="mp4")  # the name may not end in .mp4
    video = container.add_stream("libx264", rate=25)
    video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
    audio = container.add_stream("aac", rate=44_100)
    audio.layout = "stereo"
    for t in range(int(seconds * 25)):
        image = np.full((48, 64, 3), (t * 7) % 256, dtype=np.uint8)
        for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    time_s = np.arange(int(seconds * 44_100)) / 44_100
    channels = np.stack([np.sin(2 * np.pi * 440 * time_s), np.sin(2 * np.pi * 3000 * time_s)]).astype(np.float32) * 0.4
    encode_audio(container, audio, channels, rate=44_100)
    container.close()
    return path


def _per_packet_samples(path) -> np.ndarray:
    import av

    from scsampler.signals.audio import _resampled_chunks

    with av.open(str(path)) as container:
        return np.concatenate(list(_resampled_chunks(container, container.streams.audio[0])))


def test_filter_graph_decoding_equals_per_packet_decoding_whatever_the_file_name(tmp_path):
    """The fast path (one FFmpeg filter graph) gives the per-packet path's samples, even for a hostile name."""
    import av

    from scsampler.signals.audio import _filtered_chunks

    folder = tmp_path / "we ird,[x];'q'=:\\b"
    folder.mkdir()
    path = _stereo_44k_video(folder / "a b'c [1].mp4 ")
    with av.open(str(path)) as container:
        index = container.streams.audio[0].index
    filtered = np.concatenate(list(_filtered_chunks(path, index)))
    reference = _per_packet_samples(path)
    assert len(filtered) == len(reference) > 2.5 * 16_000  # downmixed and resampled to 16 kHz
    np.testing.assert_array_equal(filtered, reference)


def test_a_filter_graph_failure_midway_resumes_per_packet_without_a_gap_or_repeat(tmp_path, monkeypatch):
    import av

    from scsampler.signals import audio as audio_module

    path = _stereo_44k_video(tmp_path / "stereo.mp4")
    reference = _per_packet_samples(path)
    real_filtered = audio_module._filtered_chunks

    def failing_after_two_chunks(file, index):
        for number, chunk in enumerate(real_filtered(file, index)):
            if number == 2:
                raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
            yield chunk

    monkeypatch.setattr(audio_module, "_filtered_chunks", failing_after_two_chunks)
    with av.open(str(path)) as container:
        combined = np.concatenate(list(audio_module._mono_16k_chunks(path, container, container.streams.audio[0])))
    np.testing.assert_array_equal(combined, reference)


def test_without_lavfi_the_per_packet_path_gives_the_same_log_mel(tmp_path, monkeypatch):
    import av

    path = _stereo_44k_video(tmp_path / "stereo.mp4")
    info = probe(path)
    grid = clip_grid(info)
    fast = extract_signals(path, grid, signals=("audio",), info=info).audio
    monkeypatch.setattr(av, "formats_available", set(av.formats_available) - {"lavfi"})
    slow = extract_signals(path, grid, signals=("audio",), info=info).audio
    assert fast.shape == (len(grid), 40, 200)
    torch.testing.assert_close(fast, slow, rtol=0, atol=0)
    # left 440 Hz and right 3000 Hz both survive the downmix
    spectrum = fast.mean(dim=(0, 2))
    assert {_nearest_band(440.0), _nearest_band(3000.0)} <= set(torch.topk(spectrum, 4).indices.tolist())


def test_audio_stops_reading_once_the_last_window_is_complete(tmp_path, monkeypatch):
    from scsampler.signals import audio as audio_module

    path = _stereo_44k_video(tmp_path / "stereo.mp4", seconds=6.0)
    info = probe(path)
    grid = clip_grid(info)
    full = audio_module.extract_audio(path, grid, info=info).mel
    consumed = []
    real_chunks = audio_module._mono_16k_chunks

    def counting(*args):
        for chunk in real_chunks(*args):
            consumed.append(len(chunk))
            yield chunk

    monkeypatch.setattr(audio_module, "_mono_16k_chunks", counting)
    first = grid.subset(grid.index[:1])  # 16 frames at 25 fps: the first 0.64 s
    mel = audio_module.extract_audio(path, first, info=info).mel
    torch.testing.assert_close(mel[0], full[0], rtol=0, atol=0)
    assert sum(consumed) < 2 * 16_000  # the track holds 96,000 samples at 16 kHz


def test_extract_audio_takes_the_filter_graph_path_on_a_sound_file(tmp_path, monkeypatch):
    """The per-packet path is only a fallback: on a healthy file it is never entered."""
    from scsampler.signals import audio as audio_module

    path = _stereo_44k_video(tmp_path / "stereo.mp4")
    expected = audio_module.extract_audio(path, clip_grid(probe(path)), info=probe(path)).mel

    def refuse(*args):
        raise AssertionError("the per-packet fallback ran on a healthy file")
        yield  # a generator, like the function it replaces

    monkeypatch.setattr(audio_module, "_resampled_chunks", refuse)
    mel = audio_module.extract_audio(path, clip_grid(probe(path)), info=probe(path)).mel
    torch.testing.assert_close(mel, expected, rtol=0, atol=0)


def test_centred_2s_window_is_2_s_around_the_clip_at_a_10_ms_hop():
    from scsampler.signals.audio import audio_windows_samples
    from scsampler.types import ClipGrid

    grid = ClipGrid(
        frames_per_clip=16, stride_frames=16, video_frames=32, index=np.arange(2), start_frame=np.array([0, 16]),
        end_frame=np.array([16, 32]), start_s=np.array([0.0, 1.0]), end_s=np.array([1.0, 2.0]),
    )
    starts, ends = audio_windows_samples(grid, "centred-2s")
    assert starts.tolist() == [-8000, 8000] and ends.tolist() == [24000, 40000]  # middles 0.5 s and 1.5 s
    assert (ends - starts).tolist() == [200 * 160] * 2  # 200 frames of 10 ms at 16 kHz
    starts, ends = audio_windows_samples(grid, "clip")
    assert starts.tolist() == [0, 16000] and ends.tolist() == [16000, 32000]
    with pytest.raises(Exception, match="unknown audio window 'wide'"):
        audio_windows_samples(grid, "wide")


def test_centred_2s_log_mel_of_a_tone_peaks_in_its_band_and_is_silent_before_the_start(tmp_path):
    path = moving_block_video(tmp_path / "tone.mp4", frames=48, tone_hz=1000.0)
    info = probe(path)
    grid = clip_grid(info)
    signals = extract_signals(path, grid, signals=("audio",), info=info, audio_window="centred-2s")
    mel = signals.audio
    assert mel.shape == (len(grid), 40, 200)
    # the first clip's window starts about 0.73 s before the video: those 10 ms frames hold silence
    lead = int(round((1.0 - (grid.start_s[0] + grid.end_s[0]) / 2) / 0.010))
    assert torch.all(mel[0, :, : lead - 2] < -13.0) and mel[0, :, lead + 5 :].max() > -5.0
    inside = mel[0, :, lead + 5 : lead + 40]
    assert int(inside.mean(dim=1).argmax()) == _nearest_band(1000.0)
    clip = extract_signals(path, grid, signals=("audio",), info=info).audio
    assert not torch.allclose(clip, mel)  # a different window, not the same spectrogram relabelled
