"""decode_clips returns exactly each clip's frames, seeking only where it saves work."""

from __future__ import annotations

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scsampler.errors import UsageError
from scsampler.video import clip_grid, decode_clips, probe
from tests.media import read_frame_number


def frame_numbers(clips) -> list[list[int]]:
    """Read the frame number drawn into each decoded frame: [K][T]."""
    return [
        [read_frame_number(clips[k, :, t].permute(1, 2, 0).numpy()) for t in range(clips.shape[2])]
        for k in range(clips.shape[0])
    ]


def test_selected_clips_hold_exactly_their_frames(numbered_video):
    info = probe(numbered_video)
    grid = clip_grid(info, frames_per_clip=16)
    chosen = grid.subset([5, 0, 3])
    clips = decode_clips(numbered_video, chosen, size=(96, 128), info=info)
    assert clips.shape == (3, 3, 16, 96, 128) and clips.dtype.is_floating_point is False
    assert frame_numbers(clips) == [list(range(80, 96)), list(range(0, 16)), list(range(48, 64))]


@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_any_subset_any_stride(numbered_video, data):
    info = probe(numbered_video)
    length = data.draw(st.integers(1, 20), label="frames_per_clip")
    stride = data.draw(st.integers(1, 30), label="stride")
    grid = clip_grid(info, frames_per_clip=length, stride_frames=stride)
    picks = data.draw(st.lists(st.sampled_from(grid.index.tolist()), min_size=1, max_size=4, unique=True))
    clips = decode_clips(numbered_video, grid.subset(picks), size=(48, 64), info=info)
    expected = [list(range(i * stride, i * stride + length)) for i in picks]
    assert frame_numbers(clips) == expected


def test_short_video_gives_one_padded_clip(tmp_path):
    from tests.media import write_numbered_video

    path = write_numbered_video(tmp_path / "short.mp4", frames=5, gop=4)
    info = probe(path)
    grid = clip_grid(info, frames_per_clip=8)
    assert grid.padded and len(grid) == 1
    clips = decode_clips(path, grid, size=(96, 128), info=info)
    assert frame_numbers(clips) == [[0, 1, 2, 3, 4, 4, 4, 4]]


def test_matches_sequential_decoding_on_real_footage(shared_videos):
    for name in ("vtest.avi", "Megamind.avi", "tree.avi"):
        path = shared_videos / name
        info = probe(path)
        grid = clip_grid(info)
        chosen = grid.subset([len(grid) - 1, 0, len(grid) // 2])
        clips = decode_clips(path, chosen, size=(32, 32), info=info)
        with av.open(str(path)) as container:
            every = [f.to_ndarray(format="rgb24", width=32, height=32) for f in container.decode(video=0)]
        assert len(every) == info.frames, name
        for k, clip in enumerate(chosen):
            for t, frame in enumerate(clip.frames):
                assert np.array_equal(clips[k, :, t].permute(1, 2, 0).numpy(), every[frame]), (name, clip.index, t)


def test_grid_from_another_video_is_refused(numbered_video, shared_videos):
    other = clip_grid(probe(shared_videos / "tree.avi"))
    with pytest.raises(UsageError, match="the clip grid was made for a video of 68 frames"):
        decode_clips(numbered_video, other)


def test_bad_size_is_refused(numbered_video):
    info = probe(numbered_video)
    with pytest.raises(UsageError, match=r"size must be \(height, width\) with positive values or None, got \(0, 5\)"):
        decode_clips(numbered_video, clip_grid(info), size=(0, 5), info=info)


def test_garbage_in_the_middle_still_decodes_with_a_named_warning(tmp_path):
    from tests.media import write_numbered_video

    source = write_numbered_video(tmp_path / "source.mp4", frames=100, faststart=True)
    data = bytearray(source.read_bytes())
    middle = int(len(data) * 0.6)  # inside the frame data, well after the index
    data[middle : middle + 3000] = bytes((i * 37) % 256 for i in range(3000))
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    info = probe(damaged)
    grid = clip_grid(info, frames_per_clip=16)
    import warnings as _warnings

    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        clips = decode_clips(damaged, grid, size=(48, 64), info=info)
    assert clips.shape == (len(grid), 3, 16, 48, 64)
    # The frames before the damage are exact; anything reported names the file.
    assert frame_numbers(clips[:1]) == [list(range(16))]
    for warning in caught:
        assert str(damaged) in str(warning.message)


# --------------------------------------------------------------------------- one decoder for all the clips


def test_a_dense_pass_in_chunks_seeks_once_and_decodes_each_frame_once(tmp_path, monkeypatch):
    import scsampler.video.decode as decode
    from scsampler.video.chunks import decode_in_file_order
    from tests.media import write_numbered_video

    path = write_numbered_video(tmp_path / "long-gop.mp4", frames=96, fps=25, gop=96)  # one GOP: 6 clips
    info = probe(path)
    grid = clip_grid(info, frames_per_clip=16)
    seeks, decoded = [], []
    real_seek, real_frames = decode._seek, decode._decoded_frames
    monkeypatch.setattr(decode, "_seek", lambda *a, **k: seeks.append(a[-1]) or real_seek(*a, **k))

    def counted_frames(*args, **kwargs):
        for frame in real_frames(*args, **kwargs):
            decoded.append(frame.pts)
            yield frame

    monkeypatch.setattr(decode, "_decoded_frames", counted_frames)
    chunks = list(decode_in_file_order(path, grid, info=info, size=(48, 64), chunk=1))
    assert [int(ranks[0]) for ranks, _, _ in chunks] == list(range(len(grid)))
    assert [frame_numbers(pixels)[0] for _, pixels, _ in chunks] == [list(range(16 * i, 16 * i + 16)) for i in range(6)]
    assert len(seeks) <= 1  # a decoder per chunk went back to the keyframe for each of the 6
    assert len(decoded) == len(set(decoded)) == 96


def test_clips_come_as_soon_as_they_are_decoded_in_file_order(numbered_video):
    from scsampler.video import iter_clips
    from scsampler.training.clip_dataset import grid_from_starts

    info = probe(numbered_video)
    picks = [9, 2, 5, 3, 0]
    subset = grid_from_starts(info, np.array([4 * p for p in picks]), frames_per_clip=8)  # overlapping clips: frames shared
    stream = iter_clips(numbered_video, subset, size=(48, 64), info=info)
    first_position, first_clip = next(stream)
    assert picks[first_position] == 0  # the earliest clip first, before the later ones are decoded
    rest = list(stream)
    assert [picks[p] for p, _ in rest] == [2, 3, 5, 9]
    whole = decode_clips(numbered_video, subset, size=(48, 64), info=info)
    for position, clip in [(first_position, first_clip), *rest]:
        assert torch_equal(clip, whole[position])
        assert frame_numbers(clip[None])[0] == list(range(4 * picks[position], 4 * picks[position] + 8))


def test_a_lost_frame_takes_the_one_decoded_before_it(numbered_video, monkeypatch):
    import scsampler.video.decode as decode
    from scsampler.video import VideoWarning

    real = decode.iter_frames
    lost = {20, 21, 40}

    def losing(*args, **kwargs):  # the decoder skipping damaged frames, as iter_frames does then
        yield from ((index, image) for index, image in real(*args, **kwargs) if index not in lost)

    monkeypatch.setattr(decode, "iter_frames", losing)
    info = probe(numbered_video)
    grid = clip_grid(info, frames_per_clip=16)
    with pytest.warns(VideoWarning, match=r"3 of the 96 frames asked for could not be decoded \(damaged or truncated: frames 20..21, 40\)"):
        clips = decode_clips(numbered_video, grid, size=(48, 64), info=info)
    numbers = [n for clip in frame_numbers(clips) for n in clip]
    expected = [19 if i in (20, 21) else 39 if i == 40 else i for i in range(96)]
    assert numbers == expected


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


@pytest.mark.parametrize("device, expected", [("cpu", "SLICE"), ("cuda:0", None)])
def test_beside_a_cpu_classifier_the_decoder_takes_slice_threads(numbered_video, monkeypatch, device, expected):
    import scsampler.video.decode as decode
    from scsampler.inference import classify_clips
    from tests.test_early_exit import _StubClassifier

    asked = []
    real = decode.iter_frames

    def spy(*args, **kwargs):
        asked.append(kwargs.get("thread_type"))
        return real(*args, **kwargs)

    monkeypatch.setattr(decode, "iter_frames", spy)
    classifier = _StubClassifier([1.0, 0.0, 0.0])
    classifier.device = device  # only read to choose the decoder's threads; the stub computes nothing
    info = probe(numbered_video)
    grid = clip_grid(info, frames_per_clip=16)
    logits, _, _ = classify_clips(numbered_video, grid.subset([0, 1]), classifier=classifier, info=info, batch_size=1)
    assert asked == [expected] and logits.shape == (2, 3)


def test_classify_clips_keeps_no_batchs_output_alive_once_it_has_its_logits(numbered_video):
    """Each batch's logits are copied out: a kept view pinned its batch's output amid the freed activations,
    and over a dense pass the heap grew by a clip's frames per clip (5-minute video: 3.2 GB). Logits come
    back in the clips' order whatever the decoding order."""
    import weakref

    import torch

    from scsampler.inference import classify_clips

    info = probe(numbered_video)
    grid = clip_grid(info, frames_per_clip=16)

    class Recording:
        decode_size = staticmethod(lambda *, height, width: (32, 32))
        device = "cpu"

        def __init__(self) -> None:
            self.outputs: list[weakref.ref] = []
            self.alive_at_call: list[int] = []

        def __call__(self, clips: torch.Tensor) -> torch.Tensor:
            self.alive_at_call.append(sum(ref() is not None for ref in self.outputs))
            first_frame = clips.float().mean(dim=(1, 2, 3, 4))  # the numbered frames differ: one value per clip
            out = torch.stack([first_frame, -first_frame], dim=1)
            self.outputs.append(weakref.ref(out))
            return out

    classifier = Recording()
    order = [2, 0, 1]
    logits, _, _ = classify_clips(numbered_video, grid.subset(order), classifier=classifier, info=info, batch_size=1)
    assert len(classifier.alive_at_call) == 3 and classifier.alive_at_call == [0, 0, 0]
    alone = [classify_clips(numbered_video, grid.subset([i]), classifier=Recording(), info=info, batch_size=1)[0][0] for i in order]
    assert torch.equal(logits, torch.stack(alone)) and len(set(logits[:, 0].tolist())) == 3
