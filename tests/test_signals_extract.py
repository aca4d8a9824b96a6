"""extract_signals: shapes and dtypes, keyframes, the disk cache, the CLI, damaged files."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from scsampler.cli import main
from scsampler.errors import UsageError
from scsampler.signals import ClipSignals, extract_signals, parse_signal_names
from scsampler.signals.keyframes import clip_keyframes
from scsampler.video import clip_grid, decode_clips, probe

from tests.signals_media import SHARED_VIDEOS, moving_block_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = moving_block_video(
        tmp_path_factory.mktemp("extract") / "v.mp4", frames=40, tone_hz=500.0,
        options={"g": "12", "keyint_min": "12", "sc_threshold": "0", "preset": "veryfast"},
    )
    info = probe(path)
    return path, info, clip_grid(info, frames_per_clip=8)


def test_all_signals_shapes_and_dtypes(video):
    path, info, grid = video
    signals = extract_signals(path, grid, signals=("iframe", "motion", "residual", "audio"), info=info, iframe_size=(64, 96))
    L = len(grid)
    assert signals.present == ("iframe", "motion", "residual", "audio")
    assert signals.iframe.dtype == torch.uint8 and tuple(signals.iframe.shape) == (L, 3, 64, 96)
    assert signals.motion.dtype == torch.float16 and tuple(signals.motion.shape) == (L, 2, 15, 20)
    assert signals.residual.dtype == torch.float16 and tuple(signals.residual.shape) == (L, 1, 30, 40)
    assert signals.audio.dtype == torch.float32 and tuple(signals.audio.shape) == (L, 40, 200)


def test_iframe_is_the_keyframe_at_or_before_the_clip(video):
    path, info, grid = video
    assert len(info.keyframes) > 2  # the fixture's GOP of 12 frames is shorter than the video
    keyframes = clip_keyframes(info, grid)
    for position, start in enumerate(grid.start_frame):
        assert keyframes[position] == info.keyframe_at_or_before(int(start))
    signals = extract_signals(path, grid, signals="iframe", info=info)
    # compare with the frame decoded the ordinary way
    for position in range(len(grid)):
        k = int(keyframes[position])
        reference = decode_clips(path, clip_grid(info, frames_per_clip=1).subset([k]), info=info)[0, :, 0]
        assert (signals.iframe[position].int() - reference.int()).abs().float().mean() < 2.0


def test_unrequested_signals_stay_absent(video):
    path, info, grid = video
    signals = extract_signals(path, grid, signals="iframe", info=info)
    assert signals.motion is None and signals.motion_source is None and signals.audio is None


def test_cache_hit_returns_identical_tensors_and_a_changed_parameter_misses(video, tmp_path, monkeypatch):
    path, info, grid = video
    cache = tmp_path / "cache"
    first = extract_signals(path, grid, signals=("iframe", "motion", "audio"), info=info, cache_dir=cache)
    assert len(list(cache.glob("*.pt"))) == 3
    assert not list(cache.glob("*.tmp"))  # written atomically, nothing left behind

    import scsampler.signals.extract as extract_module

    def refuse(*args, **kwargs):
        raise AssertionError("a cache hit must not decode the video")

    with monkeypatch.context() as patch:
        for name in ("extract_iframes", "extract_motion", "extract_audio"):
            patch.setattr(extract_module, name, refuse)
        second = extract_signals(path, grid, signals=("iframe", "motion", "audio"), info=info, cache_dir=cache)
    for name in ("iframe", "motion", "audio"):
        assert torch.equal(getattr(first, name), getattr(second, name))
    assert second.motion_source == first.motion_source

    resized = extract_signals(path, grid, signals="iframe", info=info, iframe_size=(32, 32), cache_dir=cache)
    assert tuple(resized.iframe.shape[2:]) == (32, 32)
    assert len(list(cache.glob("iframe-*.pt"))) == 2


def test_damaged_cache_entry_is_a_miss(video, tmp_path):
    path, info, grid = video
    cache = tmp_path / "cache"
    first = extract_signals(path, grid, signals="motion", info=info, cache_dir=cache)
    (entry,) = cache.glob("motion-*.pt")
    entry.write_bytes(b"not a torch file")
    again = extract_signals(path, grid, signals="motion", info=info, cache_dir=cache)
    assert torch.equal(first.motion, again.motion)


def test_strided_subset_matches_the_full_grid(video):
    path, info, grid = video
    full = extract_signals(path, grid, signals=("iframe", "motion", "audio"), info=info)
    subset = grid.subset(grid.index[::2])
    part = extract_signals(path, subset, signals=("iframe", "motion", "audio"), info=info)
    assert torch.equal(part.iframe, full.iframe[::2])
    assert torch.equal(part.motion, full.motion[::2])
    assert torch.allclose(part.audio, full.audio[::2], atol=1e-4)


def test_signal_names_and_errors(video):
    path, info, grid = video
    assert parse_signal_names("iframe, MV ,audio") == ("iframe", "motion", "audio")
    with pytest.raises(UsageError, match="unknown signal 'optical_flow'"):
        extract_signals(path, grid, signals="optical_flow", info=info)
    other = clip_grid(probe(moving_block_video(path.parent / "short.mp4", frames=17)))
    with pytest.raises(UsageError, match="clip grid was made for a video of 17 frames"):
        extract_signals(path, other, signals="iframe", info=info)


def test_clip_signals_validates_its_tensors(video):
    _, _, grid = video
    with pytest.raises(ValueError, match="must be torch.float16"):
        ClipSignals(path="x", grid=grid, motion=torch.zeros(len(grid), 2, 4, 4), motion_source="motion_vectors")
    with pytest.raises(ValueError, match="describes 1 clips"):
        ClipSignals(path="x", grid=grid, audio=torch.zeros(1, 40, 200))
    with pytest.raises(ValueError, match="motion_source"):
        ClipSignals(path="x", grid=grid, motion=torch.zeros(len(grid), 2, 4, 4, dtype=torch.float16))


def test_cli_writes_signals(video, tmp_path, capsys):
    path, _, _ = video
    out = tmp_path / "out" / "signals.pt"
    assert main(["signals", str(path), "-o", str(out), "--signals", "iframe,mv", "--json", "--frames-per-clip", "8"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["signals"]["motion"] == [5, 2, 15, 20]
    assert summary["motion_source"] == "motion_vectors"
    saved = torch.load(out, weights_only=True)
    assert saved["audio"] is None and saved["iframe"].shape == (5, 3, 112, 112)
    assert main(["signals", str(path), "-o", str(out), "--signals", "sound"]) == 2
    assert "unknown signal 'sound'" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED_VIDEOS / "Megamind_bugy.avi").exists(), reason="shared videos are missing")
def test_damaged_file_does_not_crash():
    path = SHARED_VIDEOS / "Megamind_bugy.avi"
    info = probe(path)
    grid = clip_grid(info)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signals = extract_signals(path, grid, signals=("iframe", "motion", "audio"), info=info)
    assert signals.iframe.shape[0] == len(grid) and signals.motion.shape[0] == len(grid)
    assert signals.audio is None and signals.audio_absent_reason


@pytest.mark.parametrize("codec", ["h264", "mpeg4", "cinepak"])
def test_iframes_with_motion_come_from_the_motion_pass_and_equal_the_separate_passes(codec, tmp_path, monkeypatch):
    """Where motion vectors serve, one decoding pass gives the I-frames and the motion that two passes gave
    (the pass keeps the keyframes' loop filter); cinepak, without vectors, still takes its own I-frame pass."""
    import scsampler.signals.extract as extract_module
    from scsampler.signals.keyframes import extract_iframes
    from scsampler.signals.motion import extract_motion

    if codec == "cinepak":
        path = SHARED_VIDEOS / "tree.avi"
        if not path.is_file():
            pytest.skip("the shared footage (cinepak tree.avi) is not here")
    else:
        options = {"g": "12", "bf": "2"} | ({"keyint_min": "12", "sc_threshold": "0", "preset": "veryfast"} if codec == "h264" else {})
        path = moving_block_video(tmp_path / "v.mp4", frames=60, dx=3, codec="libx264" if codec == "h264" else "mpeg4", options=options)
    info = probe(path)
    grid = clip_grid(info, frames_per_clip=8)
    separate_iframes = extract_iframes(path, grid, info=info, size=(112, 112))
    separate_motion = extract_motion(path, grid, info=info).motion
    separate_passes = []
    monkeypatch.setattr(extract_module, "extract_iframes", lambda *a, **kw: separate_passes.append(1) or extract_iframes(*a, **kw))
    together = extract_signals(path, grid, signals=("iframe", "motion"), info=info)
    assert torch.equal(together.iframe, separate_iframes)
    assert torch.equal(together.motion, separate_motion)
    assert len(separate_passes) == (0 if info.motion_vectors else 1)
    assert info.motion_vectors == (codec != "cinepak")


@pytest.mark.parametrize("shrink_batch", [64, 2])
def test_shrinking_as_the_images_are_taken_gives_the_bits_of_shrinking_after(video, tmp_path, monkeypatch, shrink_batch):
    """extract_signals(shrink=...) holds the small images only, and they are bit for bit the ones a
    sampler network got by shrinking the whole tensor afterwards (the I-frames from the motion pass
    and from their own pass, the clip frames, shrunk in batches of any size)."""
    from scsampler.signals import clipframes
    from scsampler.signals.shrink import shrink_images

    monkeypatch.setattr(clipframes, "_SHRINK_BATCH", shrink_batch)
    path, info, grid = video
    full = extract_signals(path, grid, signals=("iframe", "clipframe", "motion"), info=info)
    small = extract_signals(path, grid, signals=("iframe", "clipframe", "motion"), info=info, shrink={"iframe": 40, "clipframe": 24})
    assert tuple(small.iframe.shape) == (len(grid), 3, 40, 40) and tuple(small.clipframe.shape) == (len(grid), 3, 24, 24)
    assert torch.equal(small.iframe, shrink_images(full.iframe, 40))
    assert torch.equal(small.clipframe, shrink_images(full.clipframe, 24))
    assert torch.equal(small.motion, full.motion)
    alone = extract_signals(path, grid, signals="iframe", info=info, shrink={"iframe": 40})  # the keyframe-only pass
    assert torch.equal(alone.iframe, small.iframe)
    # the shrink size is part of the cache key: a cached full-size entry is not served for it
    extract_signals(path, grid, signals="iframe", info=info, cache_dir=tmp_path)
    cached = extract_signals(path, grid, signals="iframe", info=info, cache_dir=tmp_path, shrink={"iframe": 40})
    assert tuple(cached.iframe.shape[-2:]) == (40, 40)
    for bad in ({"iframe": 0}, {"iframe": True}, {"motion": 8}):
        with pytest.raises(UsageError):
            extract_signals(path, grid, signals="iframe", info=info, shrink=bad)


def test_a_sampler_network_asks_for_its_own_input_size():
    from scsampler.samplers.learned import signal_options

    visual = {"modality": "visual", "inputs": ["iframe", "clipframe", "motion"], "input_size": 64}
    assert signal_options(visual) == {"shrink": {"iframe": 64, "clipframe": 64}}
    assert signal_options(visual | {"input_sizes": {"clipframe": 32}}) == {"shrink": {"iframe": 64, "clipframe": 32}}
    assert signal_options(visual | {"input_size": 112}) == {}  # extracted at that size already
    assert signal_options({"modality": "audio"}) == {"audio_window": "clip"}


@pytest.mark.parametrize("signals", [("iframe",), ("iframe", "motion"), ("iframe", "clipframe", "motion")])
def test_the_decoding_passes_shrink_images_on_one_torch_thread_and_give_the_callers_back(video, monkeypatch, signals):
    """Each image is shrunk as it is taken, a small call per image: on a pool of threads its workers spin
    between calls (the visual sampler alone took 1.8 s of CPU in 0.9 s on two cores), so the passes run
    their torch work on one thread, and the caller's count is back afterwards."""
    from scsampler.signals import clipframes, keyframes

    path, info, grid = video
    seen: list[int] = []
    for module, name in ((keyframes, "shrink_image"), (clipframes, "shrink_images")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, **kw: seen.append(torch.get_num_threads()) or real(*a, **kw))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        extract_signals(path, grid, signals=signals, info=info, shrink={"iframe": 32, "clipframe": 32})
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}
