"""Top-K selection, sampling stride, minimum gap, the composite sampler and its bundle."""

from __future__ import annotations

import ast
import inspect
import json
import math
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scsampler.samplers.registry
from scsampler.errors import UsageError, VideoError
from scsampler.samplers.base import ScoringSampler, resolve_k_and_stride
from scsampler.samplers.bundle import BundleReader, BundleWriter, load_sampler, register_bundle_kind, save_sampler
from scsampler.samplers.composite import CompositeSampler, score_and_select
from scsampler.samplers.registry import get_sampler
from scsampler.samplers.selection import DEFAULT_K, check_k, check_stride, ranking, strided_scores, top_k
from scsampler.types import ClipGrid, ClipScores, VideoInfo
from scsampler.video import clip_grid

from tests.media import fake_video_info


def own(sampler) -> dict:
    """``k`` and ``stride`` keywords for ``select``: the sampler's own."""
    k, stride = resolve_k_and_stride(sampler)
    return {"k": k, "stride": stride}

# --- fakes: small scoring samplers whose scores are a known function of the clip index ----------


@register_bundle_kind
class WaveSampler(ScoringSampler):
    """Scores ``sin(index * frequency + phase)``; records the strides it was asked for."""

    bundle_kind = "test-wave"

    def __init__(self, *, frequency: float = 1.3, phase: float = 0.0, name: str = "wave") -> None:
        self.frequency, self.phase, self.name = frequency, phase, name
        self.strides: list[int] = []

    def score(self, video: VideoInfo, grid: ClipGrid, *, stride: int = 1) -> ClipScores:
        self.strides.append(stride)
        scored = grid.strided(stride)
        return ClipScores.for_grid(scored, np.sin(scored.index * self.frequency + self.phase), source=self.name)

    def to_bundle(self, bundle: BundleWriter) -> dict:
        return {"frequency": self.frequency, "phase": self.phase, "name": self.name}

    @classmethod
    def from_bundle(cls, config: dict, bundle: BundleReader, **options) -> "WaveSampler":
        return cls(**config, **options)


@register_bundle_kind
class TableSampler(ScoringSampler):
    """Scores from a weights table kept in a checkpoint file; ignores ``stride`` (scores every clip)."""

    bundle_kind = "test-table"

    def __init__(self, table: np.ndarray, *, name: str = "table") -> None:
        self.table, self.name = np.asarray(table, dtype=np.float64), name

    def score(self, video: VideoInfo, grid: ClipGrid, *, stride: int = 1) -> ClipScores:
        return ClipScores.for_grid(grid, self.table[grid.index % len(self.table)], source=self.name)

    def to_bundle(self, bundle: BundleWriter) -> dict:
        np.save(bundle.path("table.npy"), self.table)
        return {"name": self.name}

    @classmethod
    def from_bundle(cls, config: dict, bundle: BundleReader, **options) -> "TableSampler":
        return cls(np.load(bundle.path("table.npy")), name=config["name"], **options)


# --- hypothesis strategies ------------------------------------------------------------------------

score_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=True, width=64),
    st.sampled_from([0.0, 1.0, -1.0, 0.5]),  # many exact ties
)


@st.composite
def clip_scores(draw, *, min_clips: int = 0, max_clips: int = 40) -> ClipScores:
    """Scores of some clips (shuffled order, maybe a subset) of a grid of 1-s clips with gaps of 0.5 s."""
    num_clips = draw(st.integers(min_value=max(min_clips, 1), max_value=max_clips))
    index = draw(st.permutations(range(num_clips)))
    count = draw(st.integers(min_value=min(min_clips, num_clips), max_value=num_clips))
    index = np.array(index[:count], dtype=np.int64)
    values = draw(st.lists(score_values, min_size=count, max_size=count))
    return ClipScores(
        index=index,
        scores=np.array(values, dtype=np.float64),
        start_s=index * 1.5,
        end_s=index * 1.5 + 1.0,
        num_clips=num_clips,
        source="drawn",
    )


ks = st.one_of(st.none(), st.integers(min_value=1, max_value=50))


# --- top_k ----------------------------------------------------------------------------------------


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(clip_scores(), ks)
def test_top_k_holds_min_k_l_distinct_scored_clips_best_first(scores: ClipScores, k: int | None) -> None:
    selection = top_k(scores, k=k)
    expected = len(scores) if k is None else min(k, len(scores))
    assert len(selection) == expected
    assert len(set(selection.index.tolist())) == expected
    assert set(selection.index.tolist()) <= set(scores.index.tolist())
    assert selection.scored == len(scores)
    # Every clip left out scores no higher than the last one chosen.
    if expected:
        left_out = np.setdiff1d(scores.index, selection.index)
        worst_chosen = selection.scores[-1]
        assert np.all(scores.subset(left_out).scores <= worst_chosen)
        assert all(a >= b for a, b in zip(selection.scores, selection.scores[1:]))


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(clip_scores(), ks, st.randoms(use_true_random=False))
def test_top_k_is_deterministic_and_ignores_input_order(scores: ClipScores, k, rnd) -> None:
    first, again = top_k(scores, k=k), top_k(scores, k=k)
    order = list(range(len(scores)))
    rnd.shuffle(order)
    shuffled = ClipScores(
        index=scores.index[order],
        scores=scores.scores[order],
        start_s=scores.start_s[order],
        end_s=scores.end_s[order],
        num_clips=scores.num_clips,
    )
    assert first.index.tolist() == again.index.tolist() == top_k(shuffled, k=k).index.tolist()


def test_top_k_breaks_ties_by_lower_index() -> None:
    scores = ClipScores(
        index=[4, 1, 3, 0], scores=[2.0, 2.0, 5.0, 2.0], start_s=[4, 1, 3, 0], end_s=[5, 2, 4, 1], num_clips=5
    )
    assert top_k(scores, k=3).index.tolist() == [3, 0, 1]


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(clip_scores(), st.integers(min_value=1, max_value=12), ks)
def test_stride_never_selects_an_unscored_clip(scores: ClipScores, stride: int, k) -> None:
    full = ClipScores(  # a sampler that scored every clip of the grid
        index=np.arange(scores.num_clips),
        scores=np.resize(scores.scores, scores.num_clips) if len(scores) else np.zeros(scores.num_clips),
        start_s=np.arange(scores.num_clips) * 1.5,
        end_s=np.arange(scores.num_clips) * 1.5 + 1.0,
        num_clips=scores.num_clips,
    )
    strided = strided_scores(full, stride=stride)
    selection = top_k(strided, k=k)
    assert all(int(i) % stride == 0 for i in selection.index)
    assert selection.scored == math.ceil(scores.num_clips / stride)


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(clip_scores(min_clips=1), ks, st.floats(min_value=0.01, max_value=6.0))
def test_min_gap_is_respected_and_the_greedy_walk_misses_no_clip(scores: ClipScores, k, min_gap_s: float) -> None:
    selection = top_k(scores, k=k, min_gap_s=min_gap_s)
    starts, ends = selection.start_s, selection.end_s
    for a in range(len(selection)):
        for b in range(a + 1, len(selection)):
            gap = max(starts[b] - ends[a], starts[a] - ends[b])
            assert gap >= min_gap_s - 1e-9
    # Fewer than k clips only when every other scored clip is too close to a chosen one.
    wanted = len(scores) if k is None else min(k, len(scores))
    if len(selection) < wanted:
        for position in range(len(scores)):
            if scores.index[position] in selection.index:
                continue
            gaps = np.maximum(starts - scores.end_s[position], scores.start_s[position] - ends)
            assert np.any(gaps < min_gap_s - 1e-9)
    assert top_k(scores, k=k, min_gap_s=0).index[: len(selection)][0] == selection.index[0]


def test_min_gap_in_seconds_skips_close_clips() -> None:
    # Clips of 1 s back to back; the best three are 5, 6 and 8.
    scores = ClipScores(
        index=np.arange(10), scores=[0, 1, 2, 3, 4, 9, 8, 5, 7, 6], start_s=np.arange(10.0), end_s=np.arange(10.0) + 1,
        num_clips=10,
    )
    assert top_k(scores, k=3).index.tolist() == [5, 6, 8]
    assert top_k(scores, k=3, min_gap_s=1.0).index.tolist() == [5, 8, 3]


def test_fewer_clips_than_k_gives_all_of_them() -> None:
    info = fake_video_info(frames=40)  # two clips of 16 frames
    grid = clip_grid(info)
    selection = WaveSampler().select(info, grid, k=10)
    assert sorted(selection.index.tolist()) == [0, 1]


# --- exact error messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda s: top_k(s, k=0),
            "k must be a positive integer (or None for every clip), got 0; "
            "pass k=10 (the paper's default) or any count of at least 1.",
        ),
        (
            lambda s: top_k(s, k="10"),
            "k must be a positive integer (or None for every clip), got '10'; "
            "pass k=10 (the paper's default) or any count of at least 1.",
        ),
        (
            lambda s: top_k(s, k=True),
            "k must be a positive integer (or None for every clip), got True; "
            "pass k=10 (the paper's default) or any count of at least 1.",
        ),
        (
            lambda s: top_k(s, k=3, min_gap_s=-1.0),
            "min_gap_s must be a finite number of seconds >= 0, got -1.0; "
            "pass min_gap_s=0 for no gap, or the seconds wanted between chosen clips.",
        ),
        (
            lambda s: strided_scores(s, stride=0),
            "stride must be a positive integer (N scores clips 0, N, 2N, ...), got 0; "
            "pass stride=1 to score every clip, or a larger N to score fewer.",
        ),
        (
            lambda s: CompositeSampler(WaveSampler(), WaveSampler(), k=10, k_prime=12),
            "k_prime must be an integer from 0 to k (10), got 12; "
            "pass k_prime=8 (80% of k, as the paper's best 8 of 10) or any value up to k.",
        ),
        (
            lambda s: CompositeSampler(WaveSampler(), WaveSampler(), combination="convex-score", alpha=1.5),
            "alpha must be a number from 0 to 1 (1 = visual ranking only, 0 = audio only), got 1.5; "
            "pass alpha=0.5 to weigh both equally.",
        ),
        (
            lambda s: CompositeSampler(WaveSampler(), WaveSampler(), combination="average"),
            "combination must be one of union, intersect, convex-list, convex-score, got 'average'; "
            "pass combination='union' (AV-union-list, the paper's best) or another of those.",
        ),
        (
            lambda s: CompositeSampler(),
            "a composite sampler needs a visual sampler, an audio sampler or both, got neither; "
            "pass visual=get_sampler('motion') for example.",
        ),
        (
            lambda s: CompositeSampler(get_sampler("uniform")),
            "the visual sampler must score clips (a ScoringSampler), got 'uniform', which chooses clips without "
            "scores; use a scoring sampler such as motion or loudness as the visual sampler, or use 'uniform' alone.",
        ),
    ],
)
def test_bad_arguments_get_exact_messages(call, message: str) -> None:
    scores = ClipScores(index=[0, 1], scores=[1.0, 2.0], start_s=[0, 1], end_s=[1, 2], num_clips=2)
    with pytest.raises(UsageError) as error:
        call(scores)
    assert str(error.value) == message


def test_check_stride_rejects_a_float() -> None:
    with pytest.raises(UsageError, match=r"^stride must be a positive integer .* got 2\.0;"):
        check_stride(2.0)


@pytest.mark.parametrize("call", [
    lambda: check_k(True),
    lambda: check_stride(True),
    lambda: resolve_k_and_stride(WaveSampler(), k=True),
    lambda: resolve_k_and_stride(WaveSampler(), stride=True),
    lambda: resolve_k_and_stride(WaveSampler(), k="all"),
    lambda: get_sampler("uniform").select(fake_video_info(), clip_grid(fake_video_info()), k=True),
    lambda: get_sampler("dense").select(fake_video_info(), clip_grid(fake_video_info()), k=None, stride=True),
    lambda: WaveSampler().select(fake_video_info(), clip_grid(fake_video_info()), k=2, stride=True),
    lambda: CompositeSampler(WaveSampler(), k=True),
])
def test_k_and_stride_refuse_a_bool_everywhere(call) -> None:
    with pytest.raises(UsageError, match=r"^(k|stride) must be a positive integer"):
        call()


# --- the composite sampler -------------------------------------------------------------------------


def test_composite_honours_the_stride_for_both_modalities() -> None:
    info = fake_video_info(frames=400)  # 25 clips
    grid = clip_grid(info)
    visual, audio = WaveSampler(name="v"), WaveSampler(frequency=0.7, name="a")
    sampler = CompositeSampler(visual, audio, combination="convex-score", k=5, stride=3)
    selection = sampler.select(info, grid, **own(sampler))
    assert visual.strides == [3] and audio.strides == [3]
    assert selection.scored == math.ceil(25 / 3)
    assert all(int(i) % 3 == 0 for i in selection.index)
    # A component that ignores the stride is narrowed to the strided clips anyway.
    ignoring = CompositeSampler(TableSampler(np.arange(25.0)), k=4, stride=4)
    chosen = ignoring.select(info, grid, **own(ignoring))
    assert chosen.index.tolist() == [24, 20, 16, 12] and chosen.scored == 7


def test_composite_select_equals_top_k_of_its_scores() -> None:
    info = fake_video_info()
    grid = clip_grid(info)
    for combination in ("union", "intersect", "convex-list", "convex-score"):
        sampler = CompositeSampler(
            WaveSampler(name="v"), WaveSampler(frequency=0.4, name="a"), combination=combination, k=6, stride=2
        )
        direct = sampler.select(info, grid, k=6, stride=2)
        replayed = top_k(sampler.score(info, grid, stride=2), k=6)
        assert direct.index.tolist() == replayed.index.tolist()
        assert direct.strategy == sampler.name
        sampled = score_and_select(sampler, info, grid, k=6, stride=2)
        assert sampled.selection.index.tolist() == direct.index.tolist()


def test_a_video_without_audio_falls_back_to_the_visual_ranking() -> None:
    silent = fake_video_info(audio=False)
    grid = clip_grid(silent)
    visual = WaveSampler(name="v")
    audio = WaveSampler(frequency=0.4, name="a")
    for combination in ("union", "intersect", "convex-list", "convex-score"):
        sampler = CompositeSampler(visual, audio, combination=combination, k=5, stride=2)
        assert sampler.select(silent, grid, **own(sampler)).index.tolist() == visual.select(silent, grid, k=5, stride=2).index.tolist()
    assert audio.strides == []  # never asked to score a silent video
    # An audio sampler alone decides for itself what to do without sound.
    alone = CompositeSampler(audio=audio, k=3).select(silent, grid, k=3)
    assert alone.index.tolist() == audio.select(silent, grid, k=3).index.tolist()


def test_select_arguments_override_the_samplers_own_k_and_stride() -> None:
    info = fake_video_info()
    grid = clip_grid(info)
    sampler = CompositeSampler(WaveSampler(), k=3, stride=2)
    assert resolve_k_and_stride(sampler) == (3, 2)
    assert len(sampler.select(info, grid, **own(sampler))) == 3
    assert resolve_k_and_stride(sampler, k=7, stride=1) == (7, 1)
    overridden = sampler.select(info, grid, k=7, stride=1)
    assert len(overridden) == 7 and overridden.scored == len(grid)
    changed = sampler.replace(k=4)
    assert (changed.k, changed.stride) == (4, 2)
    assert sampler.replace(k=None).k is None  # None is every clip here too, not "keep"
    # A sampler without its own K and N: the paper's K=10, N=1.
    assert resolve_k_and_stride(WaveSampler()) == (DEFAULT_K, 1) == (10, 1)
    assert resolve_k_and_stride(WaveSampler(), k=None) == (None, 1)


def test_audio_visual_combination_uses_both_rankings() -> None:
    info = fake_video_info()
    grid = clip_grid(info)
    visual, audio = TableSampler(np.arange(25.0), name="v"), TableSampler(-np.arange(25.0), name="a")
    union = CompositeSampler(visual, audio, combination="union", k=5, k_prime=3)
    # Visual prefers late clips, audio early ones.
    assert union.select(info, grid, k=5).index.tolist() == [24, 23, 22, 0, 1]
    assert union.name == "v+a:union(k'=3)"
    default = CompositeSampler(visual, audio, k=5)  # K' = 80% of K = 4
    assert default.select(info, grid, k=5).index.tolist() == [24, 23, 22, 21, 0]


# --- bundles ------------------------------------------------------------------------------------------


def test_bundle_round_trip_gives_the_same_selection(tmp_path) -> None:
    info = fake_video_info()
    grid = clip_grid(info)
    table = np.random.default_rng(7).normal(size=25)
    sampler = CompositeSampler(
        TableSampler(table, name="v"),
        WaveSampler(frequency=0.9, phase=0.2, name="a"),
        combination="convex-score",
        k=6,
        stride=2,
        alpha=0.3,
        min_gap_s=0.5,
    )
    folder = save_sampler(sampler, tmp_path / "av")
    assert (folder / "sampler.json").is_file() and (folder / "visual" / "table.npy").is_file()
    loaded = load_sampler(folder)
    assert isinstance(loaded, CompositeSampler) and loaded.settings() == sampler.settings()
    assert loaded.name == sampler.name
    first, second = sampler.select(info, grid, **own(sampler)), loaded.select(info, grid, **own(loaded))
    assert first.index.tolist() == second.index.tolist()
    assert np.array_equal(first.scores, second.scores)
    # The registry loads a path too, and load options override the saved settings.
    by_path = get_sampler(str(folder), k=2)
    assert by_path.select(info, grid, **own(by_path)).index.tolist() == first.index[:2].tolist()
    # No temporary folders are left beside the bundle.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["av"]


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(["union", "intersect", "convex-list", "convex-score"]),
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=1, max_value=5),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0.1, max_value=3),
)
def test_bundle_round_trip_property(tmp_path_factory, combination, k, stride, alpha, frequency) -> None:
    info = fake_video_info()
    grid = clip_grid(info)
    sampler = CompositeSampler(
        WaveSampler(frequency=frequency), WaveSampler(frequency=0.5, name="a"),
        combination=combination, k=k, stride=stride, alpha=alpha, k_prime=None,
    )
    path = tmp_path_factory.mktemp("bundle") / "sampler.json"
    loaded = load_sampler(save_sampler(sampler, path))
    assert loaded.select(info, grid, **own(loaded)).index.tolist() == sampler.select(info, grid, k=k, stride=stride).index.tolist()


def test_single_file_bundle_and_saved_baselines(tmp_path) -> None:
    info = fake_video_info(frames=800)
    grid = clip_grid(info)
    random = get_sampler("random", seed=11)
    path = save_sampler(random, tmp_path / "random.json")
    document = json.loads(path.read_text())
    assert document["sampler"]["config"] == {"name": "random", "options": {"seed": 11}}
    loaded = load_sampler(path)
    assert loaded.select(info, grid, k=5).index.tolist() == random.select(info, grid, k=5).index.tolist()
    uniform = load_sampler(save_sampler(get_sampler("uniform"), tmp_path / "uniform"))
    assert uniform.name == "uniform"
    # A sampler with checkpoint files cannot go into a single .json file.
    with pytest.raises(UsageError, match=r"single \.json bundle cannot hold"):
        save_sampler(TableSampler(np.ones(3)), tmp_path / "table.json")
    assert not (tmp_path / "table.json").exists()


def test_bundle_errors_are_clear(tmp_path) -> None:
    saved = save_sampler(CompositeSampler(TableSampler(np.ones(3))), tmp_path / "t")
    with pytest.raises(UsageError, match=r"already exists; pass overwrite=True"):
        save_sampler(CompositeSampler(TableSampler(np.zeros(3))), saved)
    save_sampler(CompositeSampler(TableSampler(np.zeros(3))), saved, overwrite=True)
    assert np.array_equal(np.load(saved / "visual" / "table.npy"), np.zeros(3))
    (saved / "visual" / "table.npy").unlink()
    with pytest.raises(UsageError, match=r"needs the file 'table\.npy', which is missing"):
        load_sampler(saved)
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    with pytest.raises(UsageError, match=r"not a saved scsampler sampler"):
        load_sampler(tmp_path / "other.json")
    (tmp_path / "unknown.json").write_text(
        json.dumps({"format": "scsampler-sampler", "version": 1, "sampler": {"kind": "nope", "module": "os"}})
    )
    with pytest.raises(UsageError, match=r"unknown sampler kind 'nope'"):
        load_sampler(tmp_path / "unknown.json")


def test_bundles_get_the_usual_modes_not_private_ones(tmp_path) -> None:
    """Bundles are written through scsampler._atomic like every output: files 0644, folders 0755 (not mkstemp's 0600)."""
    single = save_sampler(get_sampler("random", seed=2), tmp_path / "random.json")
    assert single.stat().st_mode & 0o777 == 0o644
    folder = save_sampler(CompositeSampler(TableSampler(np.ones(3))), tmp_path / "t")
    assert folder.stat().st_mode & 0o777 == 0o755
    assert (folder / "sampler.json").stat().st_mode & 0o777 == 0o644
    save_sampler(CompositeSampler(TableSampler(np.zeros(3))), folder, overwrite=True)
    assert folder.stat().st_mode & 0o777 == 0o755 and (folder / "sampler.json").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["random.json", "t"]  # no temporary left beside them


def test_the_sampler_registry_does_not_import_bundles() -> None:
    """The arrow points down: bundle.py imports the registry and hands it the path loader, never the reverse."""
    tree = ast.parse(inspect.getsource(scsampler.samplers.registry))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "scsampler.samplers.bundle" not in imported and "scsampler.samplers" not in imported


def test_ranking_is_a_permutation() -> None:
    scores = ClipScores(index=[2, 0, 1], scores=[1.0, 1.0, 3.0], start_s=[2, 0, 1], end_s=[3, 1, 2], num_clips=3)
    assert ranking(scores).tolist() == [2, 1, 0]


# --- the composite scores its visual and audio parts at the same time ------------------------------


class _MeetingSampler(ScoringSampler):
    """Sets ``arrived`` on entering ``score``, then waits (up to 20 s) for ``partner`` before scoring."""

    def __init__(self, arrived: threading.Event, partner: threading.Event, *, phase: float, fail: bool = False) -> None:
        self.arrived, self.partner, self.phase, self.fail = arrived, partner, phase, fail
        self.met = False
        self.name = f"meeting-{phase}"

    def score(self, video: VideoInfo, grid: ClipGrid, *, stride: int = 1) -> ClipScores:
        self.arrived.set()
        self.met = self.partner.wait(timeout=20)
        if self.fail:
            raise VideoError(video.path, "has damaged audio (a test's error)")
        scored = grid.strided(stride)
        return ClipScores.for_grid(scored, np.sin(scored.index * 1.3 + self.phase), source=self.name)


def test_composite_scores_its_visual_and_audio_parts_at_once_with_the_same_result() -> None:
    info = fake_video_info(frames=400)
    grid = clip_grid(info)
    visual_in, audio_in = threading.Event(), threading.Event()
    visual = _MeetingSampler(visual_in, audio_in, phase=0.0)
    audio = _MeetingSampler(audio_in, visual_in, phase=1.0)
    together = CompositeSampler(visual, audio, combination="convex-score", k=5).score(info, grid)
    # each waited for the other inside score(): run one after the other, the first would have waited in vain
    assert visual.met and audio.met
    apart = CompositeSampler(WaveSampler(phase=0.0), WaveSampler(phase=1.0), combination="convex-score", k=5).score(info, grid)
    assert np.array_equal(together.scores, apart.scores) and np.array_equal(together.index, apart.index)


def test_an_error_in_the_composites_audio_part_reaches_the_caller() -> None:
    info = fake_video_info(frames=400)
    visual_in, audio_in = threading.Event(), threading.Event()
    sampler = CompositeSampler(_MeetingSampler(visual_in, audio_in, phase=0.0), _MeetingSampler(audio_in, visual_in, phase=1.0, fail=True))
    with pytest.raises(VideoError, match="damaged audio"):
        sampler.score(info, clip_grid(info))


class _ThreadCountingSampler(WaveSampler):
    """Records torch's intra-op thread count when it starts scoring, then (after ``wait_for``) when it takes its share."""

    def __init__(self, *, phase: float, started: threading.Event, wait_for: threading.Event | None = None) -> None:
        super().__init__(phase=phase)
        self.started, self.wait_for = started, wait_for

    def score(self, video: VideoInfo, grid: ClipGrid, *, stride: int = 1) -> ClipScores:
        import torch

        from scsampler.signals._threads import take_thread_share

        self.threads_at_start = torch.get_num_threads()
        self.started.set()
        if self.wait_for is not None:
            assert self.wait_for.wait(timeout=20)
            time.sleep(0.05)  # the partner's part has returned: let it give its share back
        take_thread_share()  # what a learned sampler does before each forward batch
        self.threads_later = torch.get_num_threads()
        return super().score(video, grid, stride=stride)


@pytest.mark.parametrize("threads", [2, 4])
def test_the_composites_parts_share_torchs_threads_and_the_last_takes_them_all(threads) -> None:
    import torch

    info = fake_video_info(frames=400)
    visual_started, audio_started = threading.Event(), threading.Event()
    visual = _ThreadCountingSampler(phase=0.0, started=visual_started, wait_for=audio_started)
    # the audio part (in the composite's thread) starts, then waits for the visual part to have ended
    audio = _ThreadCountingSampler(phase=1.0, started=audio_started, wait_for=None)
    visual_done = threading.Event()
    audio.wait_for = visual_done
    original = visual.score

    def visual_score(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        finally:
            visual_done.set()

    visual.score = visual_score
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        together = CompositeSampler(visual, audio, combination="convex-score", k=5).score(info, clip_grid(info))
        assert (visual.threads_at_start, audio.threads_at_start) == (threads // 2, threads // 2)
        assert visual.threads_later == threads // 2  # the audio part was still running
        assert audio.threads_later == threads  # the visual part had ended: all of them
        assert torch.get_num_threads() == threads  # restored for the caller
    finally:
        torch.set_num_threads(before)
    apart = CompositeSampler(WaveSampler(phase=0.0), WaveSampler(phase=1.0), combination="convex-score", k=5).score(info, clip_grid(info))
    assert np.array_equal(together.scores, apart.scores)


def test_outside_a_composite_a_part_keeps_every_thread() -> None:
    import torch

    from scsampler.signals._threads import take_thread_share

    before = torch.get_num_threads()
    take_thread_share()
    assert torch.get_num_threads() == before
