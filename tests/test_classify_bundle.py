"""classify honours a saved sampler's own K and stride unless they are given."""

from __future__ import annotations

import json

from scsampler.cli import main
from scsampler.samplers import CompositeSampler, get_sampler, save_sampler


def test_saved_sampler_brings_its_k_and_stride(shared_videos, tmp_path, capsys):
    bundle = tmp_path / "motion-k3-n2"
    save_sampler(CompositeSampler(get_sampler("motion"), None, k=3, stride=2), bundle)
    video = str(shared_videos / "vtest.avi")
    assert main(["classify", video, "--classifier", "r3d_tiny", "--sampler", str(bundle), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["clips"]) == 3 and all(clip["index"] % 2 == 0 for clip in result["clips"])
    assert result["k"] == 3 and result["stride"] == 2
    # Given on the command line, K wins over the bundle's.
    assert main(["classify", video, "--classifier", "r3d_tiny", "--sampler", str(bundle), "--k", "5", "--json", "--quiet"]) == 0
    assert len(json.loads(capsys.readouterr().out)["clips"]) == 5


def test_k_none_is_every_clip_and_own_is_the_bundles(shared_videos, tmp_path):
    """In the library ``k=None`` is every clip; the sampler's own K and N are spelt ``"own"`` (the default)."""
    import pytest

    from scsampler.batch_inference import ClassifyOptions, VideoClassifier
    from scsampler.errors import UsageError

    bundle = tmp_path / "motion-k3-n2"
    save_sampler(CompositeSampler(get_sampler("motion"), None, k=3, stride=2), bundle)
    own = VideoClassifier(ClassifyOptions(classifier="r3d_tiny", sampler=str(bundle)))
    assert (own.k, own.stride) == (3, 2)
    every = VideoClassifier(ClassifyOptions(classifier="r3d_tiny", sampler=str(bundle), k=None))
    assert (every.k, every.stride) == (None, 2)
    result = every.classify(str(shared_videos / "vtest.avi"))
    assert result["error"] is None and len(result["clips"]) > 3
    assert sorted(clip["index"] for clip in result["clips"]) == list(range(0, 2 * len(result["clips"]), 2))
    with pytest.raises(UsageError, match=r"^k must be a positive integer"):  # refused before any video is read
        VideoClassifier(ClassifyOptions(classifier="r3d_tiny", sampler="uniform", k=True))
