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
