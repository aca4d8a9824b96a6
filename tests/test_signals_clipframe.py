"""The clip frame: a frame from inside each clip, taken from the motion pass; its sampler input."""

from __future__ import annotations

import json
import warnings

import av
import numpy as np
import pytest
import torch
from av.video.frame import PictureType

from scsampler.cli import main
from scsampler.models.sampler_nets import VisualSamplerNet
from scsampler.samplers.learned import LearnedSampler, net_inputs_from_signals, signals_for_net
from scsampler.signals import SignalWarning, extract_signals
from scsampler.signals.clipframes import ClipFrames
from scsampler.types import ClipGrid
from scsampler.video import clip_grid, probe

from tests.media import draw_frame_number, read_frame_number, write_numbered_video
from tests.signals_media import SHARED_VIDEOS, moving_block_video

T = 16  # frames per clip


def _numbers(frames: torch.Tensor) -> list[int]:
    """The frame number drawn in each ``uint8 [L, 3, H, W]`` image."""
    return [read_frame_number(image.permute(1, 2, 0).numpy()) for image in frames]


def _expected_frames(path, grid: ClipGrid) -> list[int]:
    """The rule, from an ordinary decode of every frame: the I/P-frame nearest each clip's middle."""
    with av.open(str(path)) as container:
        kinds = [frame.pict_type for frame in container.decode(video=0)]
    candidates = np.array([i for i, kind in enumerate(kinds) if kind != PictureType.B])
    expected = []
    for start, end in zip(grid.start_frame.tolist(), grid.end_frame.tolist()):
        inside = candidates[(candidates >= start) & (candidates < end)]
        expected.append(int(inside[np.argmin(np.abs(2 * inside - (start + end - 1)))]))  # ties: the earlier
    return expected


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory):
    """Numbered frames, a keyframe every 100 frames (clips are 16), B-frames with x264's B-pyramid."""
    path = write_numbered_video(tmp_path_factory.mktemp("clipframe") / "numbered.mp4", frames=150, gop=100)
    info = probe(path)
    return path, info, clip_grid(info, frames_per_clip=T)


def test_clipframe_shows_a_frame_inside_the_clip_while_the_iframe_lies_before_it(long_gop):
    path, info, grid = long_gop
    assert list(info.keyframes) == [0, 100]
    signals = extract_signals(path, grid, signals=("iframe", "clipframe"), info=info)
    assert signals.clipframe.dtype == torch.uint8 and tuple(signals.clipframe.shape) == (len(grid), 3, 112, 112)
    assert signals.present == ("iframe", "clipframe")
    shown = _numbers(signals.clipframe)
    # P-frames are predicted from B-frames here, so this also fails if the pass skipped those
    assert shown == _expected_frames(path, grid)
    for number, start, end in zip(shown, grid.start_frame, grid.end_frame):
        assert start <= number < end and abs(2 * number - (start + end - 1)) <= 3  # a P-frame every 3 frames
    keyframes = _numbers(signals.iframe)
    assert sum(k < s for k, s in zip(keyframes, grid.start_frame)) >= len(grid) - 2  # the I-frame is stale


@pytest.fixture(scope="module")
def moving_b(tmp_path_factory):
    """A moving block with B-frames (B-pyramid, several references): motion worth comparing."""
    options = {"bf": "3", "preset": "veryfast", "g": "60", "keyint_min": "60", "sc_threshold": "0"}
    path = moving_block_video(tmp_path_factory.mktemp("clipframe_b") / "b.mp4", frames=64, dx=2, dy=1, options=options)
    info = probe(path)
    return path, info, clip_grid(info, frames_per_clip=T)


@pytest.mark.parametrize("motion_frames", ["p_frames", "all"])
def test_one_pass_equals_each_signal_alone(moving_b, motion_frames):
    path, info, grid = moving_b
    options = dict(info=info, motion_frames=motion_frames)
    both = extract_signals(path, grid, signals=("motion", "clipframe"), **options)
    motion = extract_signals(path, grid, signals="motion", **options).motion
    frames = extract_signals(path, grid, signals="clipframe", info=info).clipframe
    assert float(motion.float().abs().max()) > 1.0  # there is motion to get wrong
    assert torch.equal(both.motion, motion)
    assert torch.equal(both.clipframe, frames)  # B-frames decoded for the motion never serve
    with_residual = extract_signals(path, grid, signals=("residual", "clipframe"), info=info)
    assert torch.equal(with_residual.clipframe, frames)


def test_clipframe_sees_the_block_move_between_clips(moving_b):
    path, info, grid = moving_b
    signals = extract_signals(path, grid, signals=("iframe", "clipframe"), info=info)
    assert len(info.keyframes) == 2  # frames 0 and 60: every clip shares the first I-frame but the last
    assert torch.equal(signals.iframe[0], signals.iframe[2])
    assert not torch.equal(signals.clipframe[0], signals.clipframe[2])


def _numbered_mjpeg(path, *, frames: int):
    """Numbered frames as MJPEG in AVI: every frame intra-coded, no motion vectors."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuvj420p"
        for number in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(draw_frame_number(number), format="rgb24")))
        container.mux(stream.encode())
    return path


def test_mjpeg_without_motion_vectors_gives_the_middle_frame(tmp_path):
    path = _numbered_mjpeg(tmp_path / "numbered.avi", frames=48)
    info = probe(path)
    assert not info.motion_vectors
    grid = clip_grid(info, frames_per_clip=T)
    both = extract_signals(path, grid, signals=("motion", "clipframe"), info=info, clipframe_size=(96, 128))
    assert both.motion_source == "frame_difference"
    # every frame is an intra frame: the middle one, of two the earlier
    assert _numbers(both.clipframe) == [int(s) + (T - 1) // 2 for s in grid.start_frame]
    alone = extract_signals(path, grid, signals="clipframe", info=info, clipframe_size=(96, 128))
    assert torch.equal(alone.clipframe, both.clipframe)


@pytest.mark.skipif(not (SHARED_VIDEOS / "tree.avi").exists(), reason="shared videos are missing")
def test_cinepak_gives_clip_frames_that_change_within_a_gop():
    path = SHARED_VIDEOS / "tree.avi"
    info = probe(path)
    assert not info.motion_vectors
    grid = clip_grid(info)
    signals = extract_signals(path, grid, signals=("motion", "clipframe", "iframe"), info=info)
    assert signals.motion_source == "frame_difference"
    assert tuple(signals.clipframe.shape) == (len(grid), 3, 112, 112)
    assert float(signals.clipframe.float().std()) > 10  # a picture, not a blank
    # clips sharing a keyframe get frames of their own
    shared = [p for p in range(1, len(grid)) if torch.equal(signals.iframe[p], signals.iframe[p - 1])]
    assert shared and any(not torch.equal(signals.clipframe[p], signals.clipframe[p - 1]) for p in shared)


@pytest.mark.skipif(not (SHARED_VIDEOS / "Megamind_bugy.avi").exists(), reason="shared videos are missing")
def test_damaged_file_gives_clip_frames_and_the_same_motion():
    path = SHARED_VIDEOS / "Megamind_bugy.avi"
    info = probe(path)
    grid = clip_grid(info)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SignalWarning)
        both = extract_signals(path, grid, signals=("motion", "clipframe"), info=info)
    assert both.clipframe.shape[0] == len(grid) and float(both.clipframe.float().std()) > 10
    assert torch.equal(both.motion, extract_signals(path, grid, signals="motion", info=info).motion)


def test_a_clip_of_b_frames_borrows_the_nearest_earlier_frame(long_gop):
    path, info, _ = long_gop
    one_frame = clip_grid(info, frames_per_clip=1).subset(np.arange(40))  # a B-frame's clip holds no candidate
    with pytest.warns(SignalWarning, match="clips hold no decoded frame"):
        signals = extract_signals(path, one_frame, signals="clipframe", info=info)
    with av.open(str(path)) as container:
        candidates = np.array([i for i, f in enumerate(container.decode(video=0)) if f.pict_type != PictureType.B])
    assert np.count_nonzero(candidates < 40) < 40
    assert _numbers(signals.clipframe) == [int(candidates[candidates <= frame].max()) for frame in range(40)]


def _video_frame(number: int) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(draw_frame_number(number), format="rgb24")


def _grid(starts, length: int, total: int) -> ClipGrid:
    starts = np.asarray(starts)
    return ClipGrid(
        index=np.arange(len(starts)), start_frame=starts, end_frame=starts + length,
        start_s=starts / 25.0, end_s=(starts + length) / 25.0,
        frames_per_clip=length, stride_frames=length, video_frames=total,
    )


def test_rule_ties_fallbacks_and_frames_held():
    # clips [0,4) [4,8) [8,12) [12,16) [16,20); frames 5-12 never arrive (damaged, or skipped)
    collector = ClipFrames(_grid([0, 4, 8, 12, 16], 4, 20), (96, 128))
    held = []
    for index in (1, 2, 4, 13, 14, 15, 17, 18):
        collector.add(index, _video_frame(index))
        held.append(len(collector._frames))
    collector.add(3, _video_frame(3))  # out of order: ignored
    with pytest.warns(SignalWarning, match="1 clips"):
        output = collector.finish("x.mp4")
    # clip 0: 1 and 2 tie around 1.5 (the earlier wins); clip 1: only 4; clip 2: none inside, the
    # nearest earlier (4); clip 3: 13 and 14 tie, 13; clip 4: 17 and 18 tie, 17
    assert _numbers(output) == [1, 4, 4, 13, 17]
    assert max(held) <= 3  # never more than the open clips' frames and the latest one


def test_a_clip_before_any_decoded_frame_takes_the_next_one_and_nothing_decoded_is_an_error():
    collector = ClipFrames(_grid([0, 4], 4, 8), (96, 128))
    for index in (5, 6):
        collector.add(index, _video_frame(index))
    with pytest.warns(SignalWarning):
        assert _numbers(collector.finish("x.mp4")) == [5, 5]
    from scsampler.errors import VideoError

    with pytest.raises(VideoError, match="none of its frames could be decoded"):
        ClipFrames(_grid([0], 4, 4), (96, 128)).finish("x.mp4")


def test_cache_and_cli(long_gop, tmp_path, capsys):
    path, info, grid = long_gop
    first = extract_signals(path, grid, signals="clip-frame", info=info, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("clipframe-*.pt"))) == 1
    again = extract_signals(path, grid, signals="clipframe", info=info, cache_dir=tmp_path / "cache")
    assert torch.equal(first.clipframe, again.clipframe)
    smaller = extract_signals(path, grid, signals="clipframe", info=info, cache_dir=tmp_path / "cache", clipframe_size=(48, 64))
    assert tuple(smaller.clipframe.shape[-2:]) == (48, 64)  # another size is another entry
    out = tmp_path / "signals.pt"
    assert main(["signals", str(path), "-o", str(out), "--signals", "clipframe,mv", "--clipframe-size", "96", "128", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["signals"]["clipframe"] == [len(grid), 3, 96, 128]
    saved = torch.load(out, weights_only=True)
    assert _numbers(saved["clipframe"]) == _expected_frames(path, grid)


def test_visual_sampler_net_with_iframe_and_clipframe(long_gop):
    path, info, grid = long_gop
    net = VisualSamplerNet(inputs=("iframe", "clipframe"), backbone="tiny", out_features=3, fusion="learned")
    assert set(net.branches) == {"iframe", "clipframe"}
    assert net.branches["iframe"].backbone[0].weight.data_ptr() != net.branches["clipframe"].backbone[0].weight.data_ptr()
    assert signals_for_net(net.config) == ("iframe", "clipframe")
    signals = extract_signals(path, grid, signals=signals_for_net(net.config), info=info)
    inputs = net_inputs_from_signals(net.config, signals)
    size = net.config["input_size"]  # 64 for tiny: both RGB inputs are shrunk to it once
    assert {name: tuple(t.shape) for name, t in inputs.items()} == {
        "iframe": (len(grid), 3, size, size), "clipframe": (len(grid), 3, size, size)
    }
    assert inputs["clipframe"].dtype == torch.uint8
    output = net(inputs)
    assert output.shape == (len(grid), 3) and torch.isfinite(output).all()


def test_learned_sampler_scores_a_video_with_a_clipframe_net(long_gop):
    path, info, grid = long_gop
    torch.manual_seed(0)
    net = VisualSamplerNet(inputs=("clipframe", "motion"), backbone="tiny")
    sampler = LearnedSampler(net, loss="sal-rank")
    assert sampler.signals == ("clipframe", "motion")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SignalWarning)  # every clip holds a P-frame: nothing borrowed
        scores = sampler.score(info, grid)
    assert len(scores.scores) == len(grid) and np.isfinite(scores.scores).all()
    assert np.ptp(scores.scores) > 0  # clips with different frames score differently


@pytest.mark.slow
def test_train_sampler_cli_with_iframe_clipframe_and_motion(tmp_path):
    from tests.test_train_sampler import _segment_targets, _synth

    synth = _synth(tmp_path / "synth", videos=6, seconds=10, seed=1, classes=2)
    targets = _segment_targets(synth, tmp_path / "targets.parquet")
    run = tmp_path / "run"
    argv = ["train-sampler", str(targets), "-o", str(run), "--inputs", "iframe,clipframe,motion", "--recipe", "cpu",
            "--epochs", "1", "--width", "8", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    sampler = LearnedSampler.from_checkpoint(run / "sampler.pt")
    assert sampler.net.config["inputs"] == ["iframe", "clipframe", "motion"]
    video = probe(sorted(synth.rglob("*.mp4"))[0])
    scores = sampler.score(video, clip_grid(video))
    assert np.isfinite(scores.scores).all()
