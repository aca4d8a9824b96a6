"""One contract over every registered sampler (``list_samplers()``): for any K and stride, a valid ``ClipSelection``.

A sampler registered without a case here fails ``test_every_registered_sampler_has_a_case``, so a
new sampler is checked by the contract as soon as it is registered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scsampler.models.sampler_nets import build_sampler_net
from scsampler.samplers import get_sampler, list_samplers
from scsampler.types import ClipGrid, ClipSelection
from scsampler.video import clip_grid, probe

from tests.signals_media import moving_block_video

CLIPS = 10
FRAMES_PER_CLIP = 8
#: Samplers that take every clip whatever K: Dense, the reference.
IGNORES_K = {"dense"}


def _learned_checkpoint(folder: Path) -> Path:
    """A tiny visual sampler network, untrained, in the checkpoint format train-sampler writes."""
    torch.manual_seed(0)
    net = build_sampler_net(modality="visual", backbone="tiny", inputs=("iframe", "motion"), input_size=32)
    config = dict(net.config, inputs=list(net.config["inputs"]))
    path = folder / "sampler.pt"
    torch.save({"model_name": "sampler-visual", "model_args": config, "classes": ["a", "b"],
                "state_dict": net.state_dict(), "sampler": {"loss": "sal-rank"}}, path)  # fmt: skip
    return path


#: The options each registered sampler needs, built from the test video's grid and a folder.
CASES = {
    "dense": lambda grid, folder: {},
    "uniform": lambda grid, folder: {},
    "random": lambda grid, folder: {"seed": 3},
    "oracle": lambda grid, folder: {
        "clip_probs": np.random.default_rng(0).dirichlet(np.ones(5), size=len(grid)),
        "label_index": 2,
    },
    "motion": lambda grid, folder: {},
    "loudness": lambda grid, folder: {},
    "learned": lambda grid, folder: {"checkpoint": _learned_checkpoint(folder)},
}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contract")
    path = moving_block_video(
        folder / "v.mp4", frames=CLIPS * FRAMES_PER_CLIP, move_from=32, dx=3, dy=0, loud_from_s=40 / 25
    )
    info = probe(path)
    grid = clip_grid(info, frames_per_clip=FRAMES_PER_CLIP)
    assert len(grid) == grid.num_clips == CLIPS
    return info, grid, folder


@pytest.fixture(scope="module")
def samplers(video):
    _, grid, folder = video
    return {name: get_sampler(name, **CASES[name](grid, folder)) for name in CASES}


def test_every_registered_sampler_has_a_case():
    assert sorted(CASES) == list_samplers()


def _check_selection(selection: ClipSelection, grid: ClipGrid, *, name: str, k: int | None, stride: int) -> None:
    assert isinstance(selection, ClipSelection)
    assert selection.num_clips == grid.num_clips
    index = selection.index
    assert index.dtype == np.int64 and len(np.unique(index)) == len(index)
    assert np.all((0 <= index) & (index < grid.num_clips))
    assert 0 <= selection.scored <= selection.num_clips
    # the seconds are the chosen clips' own
    position = {int(v): i for i, v in enumerate(grid.index)}
    rows = np.array([position[int(v)] for v in index], dtype=np.int64)
    np.testing.assert_array_equal(selection.start_s, grid.start_s[rows])
    np.testing.assert_array_equal(selection.end_s, grid.end_s[rows])
    if selection.scored:
        # a scoring sampler scores exactly the clips at positions 0, N, 2N, ... and chooses only among them, best first
        strided = grid.strided(stride)
        assert selection.scored == len(strided)
        assert set(index.tolist()) <= set(strided.index.tolist())
        assert np.all(np.diff(selection.scores) <= 0)
    candidates = selection.scored or selection.num_clips
    if name in IGNORES_K:
        assert len(selection) == selection.num_clips
    elif k is None:
        assert len(selection) == candidates
    else:
        assert len(selection) == min(k, candidates)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 3, None])
@pytest.mark.parametrize("name", sorted(CASES))
def test_sampler_contract(name, k, stride, video, samplers):
    info, grid, _ = video
    sampler = samplers[name]
    selection = sampler.select(info, grid, k=k, stride=stride)
    _check_selection(selection, grid, name=name, k=k, stride=stride)
    again = sampler.select(info, grid, k=k, stride=stride)  # selection is a pure function of its inputs
    np.testing.assert_array_equal(again.index, selection.index)
