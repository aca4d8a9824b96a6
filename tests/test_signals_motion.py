"""Motion vectors, the frame-difference fallback and the residual approximation."""

from __future__ import annotations

import dataclasses

import av
import numpy as np
import pytest
import torch
from av.video.frame import PictureType

from scsampler.errors import UsageError
from scsampler.signals import extract_signals
from scsampler.signals._threads import torch_threads
from scsampler.signals.motion import block_motion, mv_grid, mv_grids
from scsampler.signals.residual import warp
from scsampler.video import clip_grid, probe

from tests.signals_media import SHARED_VIDEOS, moving_block_video

DX, DY = 4, 2
# the layout of FFmpeg's exported motion vectors (AVMotionVector), as PyAV returns them
MV_DTYPE = np.dtype(
    [("source", "<i4"), ("w", "u1"), ("h", "u1"), ("src_x", "<i2"), ("src_y", "<i2"), ("dst_x", "<i2"),
     ("dst_y", "<i2"), ("flags", "<u8"), ("motion_x", "<i4"), ("motion_y", "<i4"), ("motion_scale", "<u2")]
)


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    path = moving_block_video(tmp_path_factory.mktemp("motion") / "moving.mp4", frames=24, dx=DX, dy=DY)
    info = probe(path)
    return path, info, clip_grid(info, frames_per_clip=8)


def _block_cells(clip_position: int, frames_per_clip: int = 8) -> tuple[slice, slice]:
    """Macroblocks that the 64x64 block covers during the whole clip (its core)."""
    first, last = clip_position * frames_per_clip, (clip_position + 1) * frames_per_clip - 1
    x_lo, x_hi = 64 + DX * last, 64 + DX * first + 64  # columns covered in every frame of the clip
    y_lo, y_hi = 48 + DY * last, 48 + DY * first + 64
    return slice(-(-y_lo // 16), y_hi // 16), slice(-(-x_lo // 16), x_hi // 16)


def test_motion_vectors_give_the_known_displacement(moving):
    path, info, grid = moving
    signals = extract_signals(path, grid, signals=("mv",), info=info)
    assert signals.motion_source == "motion_vectors"
    assert signals.motion.dtype == torch.float16
    assert tuple(signals.motion.shape) == (len(grid), 2, 15, 20)  # native macroblock grid of 320x240
    for position in (1, 2):  # clip 0 starts with the keyframe
        rows, cols = _block_cells(position)
        core = signals.motion[position, :, rows, cols].float()
        assert core.numel() > 0
        assert torch.allclose(core[0], torch.full_like(core[0], DX), atol=0.26)
        assert torch.allclose(core[1], torch.full_like(core[1], DY), atol=0.26)
    # the static background far from the block does not move
    assert signals.motion[1, :, 12:, 14:].float().abs().max() < 0.5


def test_mv_grid_undoes_the_reference_direction():
    dtype = MV_DTYPE
    # content moved +3 px right: from a past reference the block's source lies 3 px left (motion_x = -3*4)
    past = np.array([(-1, 16, 16, 5, 8, 8, 8, 0, -12, 0, 4)], dtype=dtype)
    future = np.array([(1, 16, 16, 11, 8, 8, 8, 0, 12, 0, 4)], dtype=dtype)
    assert mv_grid(past, rows=1, cols=1)[0, 0, 0] == pytest.approx(3.0)
    assert mv_grid(future, rows=1, cols=1)[0, 0, 0] == pytest.approx(3.0)
    # four 8x8 sub-blocks average by area into their macroblock
    quads = np.array([(-1, 8, 8, 0, 0, 4 + 8 * (i % 2), 4 + 8 * (i // 2), 0, -4 * i, 0, 4) for i in range(4)], dtype=dtype)
    assert mv_grid(quads, rows=1, cols=1)[0, 0, 0] == pytest.approx(1.5)


def test_fallback_block_matching_finds_the_shift():
    rng = np.random.default_rng(1)
    previous = rng.uniform(0, 255, (32, 48)).astype(np.float32)
    current = np.roll(previous, shift=(1, 2), axis=(0, 1))  # content moves dx=2, dy=1
    flow = block_motion(previous, current)
    assert flow.shape == (2, 8, 12)
    inner = flow[:, 1:-1, 1:-1]
    assert np.all(inner[0] == 2) and np.all(inner[1] == 1)


def test_fallback_on_a_codec_without_motion_vectors_on_the_moving_block(moving):
    path, info, grid = moving
    without = dataclasses.replace(info, motion_vectors=False)
    signals = extract_signals(path, grid, signals=("motion",), info=without)
    assert signals.motion_source == "frame_difference"
    rows, cols = _block_cells(1)
    assert signals.motion[1, 0, rows, cols].float().mean() > DX / 2  # moves right, about DX px per frame


def test_residual_is_small_where_motion_explains_the_frame(moving):
    path, info, grid = moving
    signals = extract_signals(path, grid, signals=("motion", "residual"), info=info)
    residual = signals.residual
    assert residual.dtype == torch.float16 and tuple(residual.shape) == (len(grid), 1, 30, 40)
    assert float(residual.float().min()) >= 0.0 and float(residual.float().max()) <= 1.0
    # warping by the motion explains the frame better than not warping does
    previous = np.random.default_rng(2).uniform(0, 255, (32, 48)).astype(np.float32)
    current = np.roll(previous, shift=(0, 4), axis=(0, 1))
    flow = np.zeros((2, 8, 12), dtype=np.float32)
    flow[0] = 4
    assert np.abs(current - warp(previous, flow))[:, 4:].mean() < 0.1 * np.abs(current - previous)[:, 4:].mean()


@pytest.mark.skipif(not (SHARED_VIDEOS / "tree.avi").exists(), reason="shared videos are missing")
def test_cinepak_falls_back_to_frame_differences_with_motion():
    path = SHARED_VIDEOS / "tree.avi"
    info = probe(path)
    assert not info.motion_vectors
    signals = extract_signals(path, clip_grid(info), signals=("motion",), info=info)
    assert signals.motion_source == "frame_difference"
    assert signals.motion.shape[1] == 2
    assert float(signals.motion.float().abs().mean()) > 0.0


@pytest.fixture(scope="module")
def with_b_frames(tmp_path_factory):
    """The moving block coded I B B P B B P ...: each P-frame refers to the P-frame 3 frames back."""
    options = {"bf": "2", "refs": "1", "preset": "veryfast", "x264-params": "b-adapt=0:b-pyramid=none"}
    path = moving_block_video(tmp_path_factory.mktemp("bframes") / "b.mp4", frames=40, dx=DX, dy=DY, options=options)
    info = probe(path)
    return path, info, clip_grid(info, frames_per_clip=8)


def _reference_motion(path, grid, *, kinds: set, rows: int = 15, cols: int = 20, step: int | None = None) -> np.ndarray:
    """Every frame decoded; the per-clip mean of ``mv_grid`` over the frames whose type is in ``kinds``
    (with ``step``, only the first such frame of each run of ``step`` frames)."""
    per_frame = {}
    runs_taken = set()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"flags2": "+export_mvs"}
        for index, frame in enumerate(container.decode(stream)):
            side = frame.side_data.get("MOTION_VECTORS")
            if frame.pict_type not in kinds:
                continue
            if step is not None:
                if index // step in runs_taken:
                    continue
                runs_taken.add(index // step)
            if side is not None:
                per_frame[index] = mv_grid(side.to_ndarray(), rows=rows, cols=cols)
    expected = np.zeros((len(grid), 2, rows, cols), dtype=np.float32)
    for position, (start, end) in enumerate(zip(grid.start_frame, grid.end_frame)):
        frames = [per_frame[f] for f in range(int(start), int(end)) if f in per_frame]
        if frames:
            expected[position] = np.mean(frames, axis=0)
    return expected


@pytest.mark.parametrize(
    "frames, kinds", [("p_frames", {PictureType.P}), ("all", {PictureType.P, PictureType.B})]
)
def test_clip_motion_is_the_mean_over_the_chosen_frames(with_b_frames, frames, kinds):
    path, info, grid = with_b_frames
    signals = extract_signals(path, grid, signals="motion", info=info, motion_frames=frames)
    assert signals.motion_source == "motion_vectors"
    expected = _reference_motion(path, grid, kinds=kinds)
    assert np.abs(expected).max() > 1.0  # the block's motion is there to be found
    np.testing.assert_allclose(signals.motion.float().numpy(), expected, rtol=2e-3, atol=1e-2)


def test_p_frame_motion_follows_the_block(with_b_frames):
    path, info, grid = with_b_frames
    p_only = extract_signals(path, grid, signals="motion", info=info).motion.float()
    every = extract_signals(path, grid, signals="motion", info=info, motion_frames="all").motion.float()
    assert not torch.allclose(p_only, every)  # B-frames do change the mean: the option matters
    rows, cols = _block_cells(2)
    core = p_only[2, :, rows, cols]
    # P-frames are 3 frames apart, and vectors are not divided by that distance
    assert core[0].mean() == pytest.approx(3 * DX, abs=0.5)
    assert core[1].mean() == pytest.approx(3 * DY, abs=0.5)
    assert p_only[2, :, 12:, 14:].abs().max() < 0.5  # the static background


def test_unknown_motion_frames_is_a_usage_error(moving):
    path, info, grid = moving
    with pytest.raises(UsageError, match="motion_frames"):
        extract_signals(path, grid, signals="motion", info=info, motion_frames="b_frames")


def test_batched_gridding_matches_frame_by_frame():
    rng = np.random.default_rng(3)
    frames = []
    for count in (0, 5, 40, 1, 17):
        records = np.zeros(count, dtype=MV_DTYPE)
        records["source"] = rng.choice([-1, 1], count)
        records["w"] = rng.choice([4, 8, 16], count)
        records["h"] = rng.choice([4, 8, 16], count)
        records["dst_x"] = rng.integers(-8, 70, count)  # some centres outside the frame: clamped to the edge
        records["dst_y"] = rng.integers(-8, 40, count)
        records["motion_x"] = rng.integers(-64, 64, count)
        records["motion_y"] = rng.integers(-64, 64, count)
        records["motion_scale"] = rng.choice([2, 4], count)
        frames.append(records)
    batched = mv_grids(frames, rows=2, cols=4)
    assert batched.shape == (5, 2, 2, 4) and batched.dtype == np.float32
    for position, records in enumerate(frames):
        np.testing.assert_allclose(batched[position], mv_grid(records, rows=2, cols=4), rtol=1e-6)
    assert np.all(batched[0] == 0) and np.abs(batched[2]).max() > 0


def test_clip_means_finish_clips_whose_last_frame_never_arrives():
    from scsampler.signals._clips import ClipMeans
    from scsampler.types import ClipGrid

    grid = ClipGrid(
        index=np.arange(3), start_frame=np.array([0, 4, 8]), end_frame=np.array([4, 8, 12]),
        start_s=np.array([0.0, 0.4, 0.8]), end_s=np.array([0.4, 0.8, 1.2]),
        frames_per_clip=4, stride_frames=4, video_frames=12,
    )
    means = ClipMeans(grid, (1,))
    for frame in (0, 2, 5, 9):  # frames 3, 7 and 11 (each clip's last) are skipped
        means.add(frame, np.array([float(frame)]))
        if frame == 5:
            assert 0 not in means._sums  # clip 0 was finished by the later frame, not held to the end
    output = means.finish().float().numpy()[:, 0]
    np.testing.assert_allclose(output, [1.0, 5.0, 9.0])


def test_motion_does_not_depend_on_asking_for_the_residual(with_b_frames):
    # the residual makes the pass decode B-frames too; the motion must still average P-frames only
    path, info, grid = with_b_frames
    alone = extract_signals(path, grid, signals="motion", info=info).motion
    both = extract_signals(path, grid, signals=("motion", "residual"), info=info)
    assert torch.equal(both.motion, alone)
    assert float(both.residual.float().max()) > 0


@pytest.mark.parametrize("length, stride, order", [(4, 4, None), (4, 2, None), (3, 5, None), (4, 4, [2, 0, 1])])
def test_clips_of_a_frame_match_a_table_of_every_frame(length, stride, order):
    from scsampler.signals._clips import ClipsOfFrame, frame_to_positions
    from scsampler.types import ClipGrid

    starts = np.arange(0, 12, stride)
    if order is not None:  # clips out of order take the table path
        starts = starts[order]
    grid = ClipGrid(
        index=np.arange(len(starts)), start_frame=starts, end_frame=starts + length,
        start_s=starts / 10.0, end_s=(starts + length) / 10.0,
        frames_per_clip=length, stride_frames=stride, video_frames=20,
    )
    table = frame_to_positions(grid)
    lookup = ClipsOfFrame(grid)
    for frame in range(-1, 22):
        assert sorted(lookup.get(frame)) == table.get(frame, [])


@pytest.mark.skipif(not (SHARED_VIDEOS / "Megamind.avi").exists(), reason="shared videos are missing")
def test_p_frame_motion_of_an_avi_with_packed_b_frames():
    # AVI stamps frames in decoding order: B-frames must be decoded so that frames can be counted
    path = SHARED_VIDEOS / "Megamind.avi"
    info = probe(path)
    grid = clip_grid(info)
    rows, cols = -(-info.height // 16), -(-info.width // 16)
    signals = extract_signals(path, grid, signals="motion", info=info)
    expected = _reference_motion(path, grid, kinds={PictureType.P}, rows=rows, cols=cols)
    assert np.abs(expected).max() > 1.0
    np.testing.assert_allclose(signals.motion.float().numpy(), expected, rtol=2e-3, atol=2e-2)


# --------------------------------------------------------------------------- motion_step: a few P-frames per clip


@pytest.fixture(scope="module", params=["mp4", "ts"])
def b_pyramid(request, tmp_path_factory):
    """H.264 with B-frames (reference B-frames too: x264's B-pyramid), in MP4 (length-prefixed NAL units) or MPEG-TS (Annex B)."""
    options = {"bf": "3", "refs": "2", "g": "24", "preset": "veryfast", "x264-params": "b-adapt=0:b-pyramid=normal"}
    path = moving_block_video(tmp_path_factory.mktemp("pyramid") / f"p.{request.param}", frames=60, dx=2, dy=1, options=options)
    info = probe(path)
    return path, info, clip_grid(info, frames_per_clip=8)


def test_packet_picture_types_are_the_decoders(b_pyramid, tmp_path):
    from scsampler.signals.packet_types import packet_picture_type_reader

    path, _, _ = b_pyramid
    sliced = moving_block_video(tmp_path / "slices.mp4", frames=20, dx=2, dy=1, options={"bf": "2", "slices": "4", "preset": "veryfast"})
    for video in (path, sliced):
        read, parsed, decoded = None, {}, {}
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            read = packet_picture_type_reader(stream.codec_context.name, stream.codec_context.extradata)
            for packet in container.demux(stream):
                if packet.size:
                    parsed[packet.pts] = read(bytes(packet))
                for frame in packet.decode():
                    decoded[frame.pts] = PictureType(frame.pict_type).name
        assert set(decoded.values()) == {"I", "P", "B"}
        assert {pts: parsed.get(pts) for pts in decoded} == decoded
    assert packet_picture_type_reader("mpeg4", None) is None  # other codecs: unknown, decoded in full


@pytest.mark.parametrize("step", [4, 8])
def test_motion_step_averages_the_first_p_frame_of_each_run(b_pyramid, step):
    path, info, grid = b_pyramid
    signals = extract_signals(path, grid, signals="motion", info=info, motion_step=step)
    expected = _reference_motion(path, grid, kinds={PictureType.P}, step=step)
    every = _reference_motion(path, grid, kinds={PictureType.P})
    assert np.abs(expected).max() > 1.0 and not np.allclose(expected, every)  # the step does choose other frames
    np.testing.assert_allclose(signals.motion.float().numpy(), expected, rtol=2e-3, atol=1e-2)


@pytest.fixture
def decoded_frames(monkeypatch) -> list[int]:
    """Frames the motion pass decodes, one count per pass from here on."""
    import scsampler.signals.motion as motion_module

    counts: list[int] = []
    real_decoded = motion_module._decoded

    def counting(container, stream, *, keep=None):
        counts.append(0)
        for frame in real_decoded(container, stream, keep=keep):
            counts[-1] += 1
            yield frame

    monkeypatch.setattr(motion_module, "_decoded", counting)
    return counts


def test_motion_step_decodes_fewer_frames_with_the_same_bits(b_pyramid, decoded_frames, monkeypatch):
    import scsampler.signals.motion as motion_module

    path, info, grid = b_pyramid
    chosen = motion_module.extract_motion(path, grid, info=info, iframe_size=(64, 64), step=8)
    monkeypatch.setattr(motion_module, "packet_picture_type_reader", lambda codec, extradata: None)  # every packet decoded
    full = motion_module.extract_motion(path, grid, info=info, iframe_size=(64, 64), step=8)
    assert torch.equal(chosen.motion, full.motion) and torch.equal(chosen.iframe, full.iframe)
    assert decoded_frames[0] < decoded_frames[1]


def test_motion_step_is_checked(moving):
    path, info, grid = moving
    for bad in (0, -3, 2.5, True, 10_000):
        with pytest.raises(UsageError, match="motion step"):
            extract_signals(path, grid, signals="motion", info=info, motion_step=bad)
    with pytest.raises(UsageError, match="P-frames only"):
        extract_signals(path, grid, signals="motion", info=info, motion_frames="all", motion_step=4)



def test_motion_step_is_part_of_the_cache_key(b_pyramid, tmp_path):
    path, info, grid = b_pyramid
    stepped = extract_signals(path, grid, signals="motion", info=info, cache_dir=tmp_path, motion_step=4).motion
    every = extract_signals(path, grid, signals="motion", info=info, cache_dir=tmp_path).motion
    assert not torch.equal(stepped, every)
    assert torch.equal(every, extract_signals(path, grid, signals="motion", info=info).motion)
    assert torch.equal(extract_signals(path, grid, signals="motion", info=info, cache_dir=tmp_path, motion_step=4).motion, stepped)


def test_h264_slice_types_by_hand():
    from scsampler.signals.packet_types import _rbsp, packet_picture_type_reader

    avcc = bytes([1, 0x64, 0, 0x1F, 0xFF])  # avcC: version 1, ..., 4-byte NAL lengths
    read = packet_picture_type_reader("h264", avcc)
    # NAL header 0x41 (a non-IDR slice), then ue(first_mb_in_slice = 0) = "1" and ue(slice_type): 5 -> "00110" (P),
    # 6 -> "00111" (B), 7 -> "0001000" (I); an SEI unit first is passed over
    sei = b"\x00\x00\x00\x03\x06\x05\x80"
    for payload, kind in ((0b10011000, "P"), (0b10011100, "B"), (0b10001000, "I")):
        assert read(b"\x00\x00\x00\x02\x41" + bytes([payload])) == kind
        assert read(sei + b"\x00\x00\x00\x02\x41" + bytes([payload])) == kind
        assert packet_picture_type_reader("h264", None)(b"\x00\x00\x00\x01\x09\xf0\x00\x00\x01\x41" + bytes([payload])) == kind  # Annex B
    assert read(b"\x00\x00\x00\x02\x41\x00") is None  # no code in the bytes there are
    assert read(sei) is None  # no slice at all
    assert _rbsp(b"\x12\x00\x00\x03\x01\x00\x00\x03\x00") == b"\x12\x00\x00\x01\x00\x00\x00"


def test_the_motion_sampler_takes_a_motion_step(b_pyramid):
    from scsampler.samplers.zero_training import MotionSampler

    path, info, grid = b_pyramid
    stepped = MotionSampler(motion_step=4).score(info, grid).scores
    motion = extract_signals(path, grid, signals="motion", info=info, motion_step=4).motion.float()
    np.testing.assert_allclose(stepped, torch.sqrt(motion[:, 0] ** 2 + motion[:, 1] ** 2).mean(dim=(1, 2)).numpy(), rtol=1e-6)
    assert not np.allclose(stepped, MotionSampler().score(info, grid).scores)
    with pytest.raises(UsageError, match="motion step"):
        MotionSampler(motion_step=0)


def test_motion_step_on_a_strided_grid_decodes_only_the_scored_clips(b_pyramid, decoded_frames, monkeypatch):
    import scsampler.signals.motion as motion_module

    path, info, _ = b_pyramid
    every_clip = clip_grid(info, frames_per_clip=6)
    strided = every_clip.strided(2)  # frames 0-5, 12-17, 24-29, ...: runs of 4 frames straddle the clips' edges
    chosen = motion_module.extract_motion(path, strided, info=info, step=4).motion
    motion_module.extract_motion(path, every_clip, info=info, step=4)
    monkeypatch.setattr(motion_module, "packet_picture_type_reader", lambda codec, extradata: None)
    full = motion_module.extract_motion(path, strided, info=info, step=4).motion
    assert torch.equal(chosen, full) and float(chosen.float().abs().max()) > 1.0
    assert decoded_frames[0] < decoded_frames[1] < decoded_frames[2]


# --------------------------------------------------------------------------- the step's pass in stretches side by side


@pytest.fixture
def passes(monkeypatch) -> list[tuple[int, int]]:
    """(first clip's start frame, clips) of each motion pass from here on, stretches as small as two clips."""
    import scsampler.signals.motion as motion_module

    monkeypatch.setattr(motion_module, "_SEGMENT_CLIPS", 2)
    seen: list[tuple[int, int]] = []
    real = motion_module._motion_pass

    def counting(path, grid, **kwargs):
        seen.append((int(grid.start_frame[0]), len(grid)))
        return real(path, grid, **kwargs)

    monkeypatch.setattr(motion_module, "_motion_pass", counting)
    return seen


@pytest.mark.parametrize("stride", [None, 12, 4])
def test_the_steps_pass_split_across_threads_gives_the_one_passs_bits(b_pyramid, passes, stride):
    """With two threads the step's pass runs in stretches side by side, each from its own keyframe: the same
    motion and I-frames as one pass; stretches start on a multiple of the step after every earlier clip
    (clips of 8 frames every 12: gaps; every 4: overlapping clips, which leave no place to cut)."""
    from scsampler.signals.motion import extract_motion

    path, info, _ = b_pyramid
    split_here = path.suffix == ".mp4"  # MPEG-TS seeks by bytes: its pass stays whole
    grid = clip_grid(info, frames_per_clip=8, stride_frames=stride)
    with torch_threads(1):
        one = extract_motion(path, grid, info=info, iframe_size=(64, 64), shrink={"iframe": 32}, step=4)
    assert len(passes) == 1
    passes.clear()
    with torch_threads(2):
        split = extract_motion(path, grid, info=info, iframe_size=(64, 64), shrink={"iframe": 32}, step=4)
    assert torch.equal(split.motion, one.motion) and torch.equal(split.iframe, one.iframe)
    assert float(one.motion.float().abs().max()) > 1.0
    if stride == 4 or not split_here:
        assert len(passes) == 1
    else:
        assert len(passes) > 1 and sum(clips for _, clips in passes) == len(grid)
        assert all(start % 4 == 0 for start, _ in passes)


def test_only_the_steps_pass_on_h264_is_split(b_pyramid, passes):
    from scsampler.signals.motion import extract_motion

    path, info, grid = b_pyramid
    if path.suffix != ".mp4":
        pytest.skip("the MP4 holds the H.264 whose step's pass is split")
    with torch_threads(2):
        extract_motion(path, grid, info=info)  # every P-frame: the whole stream is decoded, once
        extract_motion(path, grid, info=info, residual=True, step=4)
        extract_motion(path, grid, info=info, clipframe_size=(32, 32), step=4)
        assert len(passes) == 3
        extract_motion(path, grid, info=info, step=4)
        assert len(passes) > 4


def test_a_stretch_that_fails_leaves_the_one_pass_to_decide(b_pyramid, passes, monkeypatch):
    import scsampler.signals.motion as motion_module
    from scsampler.errors import VideoError

    path, info, grid = b_pyramid
    if path.suffix != ".mp4":
        pytest.skip("the MP4 holds the H.264 whose step's pass is split")
    with torch_threads(1):
        one = motion_module.extract_motion(path, grid, info=info, step=4)
    real = motion_module._motion_pass
    failed: list[int] = []

    def second_stretch_fails(path, grid, **kwargs):
        if int(grid.start_frame[0]) > 0:
            failed.append(int(grid.start_frame[0]))
            raise VideoError(path, "none of its frames could be decoded (a damaged stretch)")
        return real(path, grid, **kwargs)

    monkeypatch.setattr(motion_module, "_motion_pass", second_stretch_fails)
    with torch_threads(2):
        again = motion_module.extract_motion(path, grid, info=info, step=4)
    assert failed and torch.equal(again.motion, one.motion)
