"""The four audio-visual combinations: hand-worked examples and properties (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scsampler.errors import UsageError
from scsampler.samplers.combine import (
    COMBINATIONS,
    av_convex_list,
    av_convex_score,
    av_intersect_list,
    av_union_list,
    combine,
    combine_scores,
    normalise_scores,
)
from scsampler.samplers.selection import ranking, top_k
from scsampler.types import ClipScores

score_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=True, width=64),
    st.sampled_from([0.0, 1.0, 2.0]),  # exact ties
)


def scores_of(values, *, index=None, source: str = "") -> ClipScores:
    values = np.asarray(values, dtype=np.float64)
    index = np.arange(len(values)) if index is None else np.asarray(index)
    num_clips = int(index.max()) + 1 if len(index) else 0
    return ClipScores(
        index=index, scores=values, start_s=index * 2.0, end_s=index * 2.0 + 2.0, num_clips=num_clips, source=source
    )


@st.composite
def two_modalities(draw, *, min_clips: int = 1, max_clips: int = 30) -> tuple[ClipScores, ClipScores]:
    """Visual and audio scores of the same clips (each listed in its own order; maybe a strided subset)."""
    num_clips = draw(st.integers(min_value=min_clips, max_value=max_clips))
    stride = draw(st.integers(min_value=1, max_value=3))
    index = np.arange(0, num_clips, stride)
    visual_values = draw(st.lists(score_values, min_size=len(index), max_size=len(index)))
    audio_values = draw(st.lists(score_values, min_size=len(index), max_size=len(index)))
    permutation = np.array(draw(st.permutations(range(len(index)))), dtype=np.int64)

    def make(values, order, source):
        chosen = index[order]
        return ClipScores(
            index=chosen,
            scores=np.asarray(values, dtype=np.float64)[order],
            start_s=chosen * 2.0,
            end_s=chosen * 2.0 + 2.0,
            num_clips=num_clips,
            source=source,
        )

    return make(visual_values, np.arange(len(index)), "v"), make(audio_values, permutation, "a")


def _audio_in_clip_order(visual: ClipScores, audio: ClipScores) -> ClipScores:
    order = np.argsort(audio.index)
    by_index = np.argsort(np.argsort(visual.index))
    return ClipScores(
        index=audio.index[order][by_index],
        scores=audio.scores[order][by_index],
        start_s=audio.start_s[order][by_index],
        end_s=audio.end_s[order][by_index],
        num_clips=audio.num_clips,
    )


def top_list(scores: ClipScores, n: int) -> set[int]:
    return set(scores.index[ranking(scores)[:n]].tolist())


ks = st.integers(min_value=1, max_value=35)


# --- hand-worked examples: these pin the definitions written in combine.py and docs/selection.md ----

# Visual ranks clips 0,1,2,3,4 best to worst; audio ranks them the other way round.
VISUAL = scores_of([5.0, 4.0, 3.0, 2.0, 1.0])
AUDIO = scores_of([1.0, 2.0, 3.0, 4.0, 5.0])


def test_union_hand_example() -> None:
    assert av_union_list(VISUAL, AUDIO, k=3, k_prime=2).index.tolist() == [0, 1, 4]
    assert av_union_list(VISUAL, AUDIO, k=3, k_prime=0).index.tolist() == [4, 3, 2]
    assert av_union_list(VISUAL, AUDIO, k=3, k_prime=3).index.tolist() == [0, 1, 2]


def test_intersect_hand_example() -> None:
    # Clip 2 is in both top-3 lists; clips 1 and 3 join at depth 4 (ranks sum to 4), visual's first.
    assert av_intersect_list(VISUAL, AUDIO, k=3).index.tolist() == [2, 1, 3]


def test_convex_list_hand_example() -> None:
    # Equal weights tie every clip (r_v + r_a = 4): the visual rank decides.
    assert av_convex_list(VISUAL, AUDIO, k=3, alpha=0.5).index.tolist() == [0, 1, 2]
    assert av_convex_list(VISUAL, AUDIO, k=3, alpha=0.25).index.tolist() == [4, 3, 2]


def test_convex_score_hand_example() -> None:
    visual, audio = scores_of([0.0, 10.0, 4.0, 6.0]), scores_of([8.0, 0.0, 8.0, 2.0])
    # min-max: visual [0, 1, .4, .6], audio [1, 0, 1, .25]; halves: [.5, .5, .7, .425].
    selection = av_convex_score(visual, audio, k=4, alpha=0.5)
    assert selection.index.tolist() == [2, 1, 0, 3]
    assert selection.scores == pytest.approx([0.7, 0.5, 0.5, 0.425], abs=1e-12)


# --- properties ---------------------------------------------------------------------------------------


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(two_modalities(), ks, st.data())
def test_union_holds_the_visual_top_k_prime(pair, k: int, data) -> None:
    visual, audio = pair
    k_prime = data.draw(st.integers(min_value=0, max_value=k))
    selection = av_union_list(visual, audio, k=k, k_prime=k_prime)
    chosen = selection.index.tolist()
    assert len(chosen) == len(set(chosen)) == min(k, len(visual))
    head = min(k_prime, len(visual))
    assert chosen[:head] == visual.index[ranking(visual)[:head]].tolist()
    # The rest are the best audio clips not already chosen.
    audio_order = [i for i in audio.index[ranking(audio)].tolist() if i not in chosen[:head]]
    assert chosen[head:] == audio_order[: len(chosen) - head]


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(two_modalities(), ks)
def test_intersect_takes_clips_in_both_top_lists(pair, k: int) -> None:
    visual, audio = pair
    selection = av_intersect_list(visual, audio, k=k)
    chosen = set(selection.index.tolist())
    assert len(chosen) == min(k, len(visual))
    wanted = min(k, len(visual))
    depth = next(n for n in range(1, len(visual) + 1) if len(top_list(visual, n) & top_list(audio, n)) >= wanted)
    assert chosen <= top_list(visual, depth) & top_list(audio, depth)
    assert top_list(visual, depth - 1) & top_list(audio, depth - 1) <= chosen


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(two_modalities(), ks)
def test_alpha_one_gives_the_visual_ranking_and_zero_the_audio_ranking(pair, k: int) -> None:
    visual, audio = pair
    visual_choice = top_k(visual, k=k).index.tolist()
    audio_choice = top_k(audio, k=k).index.tolist()
    for combination in (av_convex_list, av_convex_score):
        assert combination(visual, audio, k=k, alpha=1.0).index.tolist() == visual_choice
        assert combination(visual, audio, k=k, alpha=0.0).index.tolist() == audio_choice


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(two_modalities(), ks, st.sampled_from(COMBINATIONS), st.floats(min_value=0, max_value=1))
def test_the_same_input_gives_the_same_selection(pair, k: int, combination: str, alpha: float) -> None:
    visual, audio = pair
    first = combine(visual, audio, combination=combination, k=k, alpha=alpha)
    second = combine(visual, audio, combination=combination, k=k, alpha=alpha)
    # The order in which the audio scores are listed does not matter either.
    reordered = combine(visual, _audio_in_clip_order(visual, audio), combination=combination, k=k, alpha=alpha)
    assert first.index.tolist() == second.index.tolist() == reordered.index.tolist()
    assert len(first) == min(k, len(visual)) and first.scored == len(visual)


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(two_modalities(), ks, st.sampled_from(COMBINATIONS))
def test_no_audio_falls_back_to_the_visual_ranking(pair, k: int, combination: str) -> None:
    visual, _ = pair
    assert combine(visual, None, combination=combination, k=k).index.tolist() == top_k(visual, k=k).index.tolist()


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(two_modalities(), st.floats(min_value=0, max_value=1))
def test_convex_score_reports_the_convex_combination(pair, alpha: float) -> None:
    visual, audio = pair
    combined = combine_scores(visual, audio, combination="convex-score", alpha=alpha)
    aligned = _audio_in_clip_order(visual, audio)
    expected = alpha * normalise_scores(visual.scores) + (1 - alpha) * normalise_scores(aligned.scores)
    assert np.allclose(combined.scores, expected, rtol=0, atol=1e-12)


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(two_modalities(), st.sampled_from(COMBINATIONS), st.floats(min_value=0, max_value=1))
def test_list_scores_follow_the_combined_list(pair, combination: str, alpha: float) -> None:
    visual, audio = pair
    combined = combine_scores(visual, audio, combination=combination, alpha=alpha)
    selection = top_k(combined, k=None)
    if combination != "convex-score":
        n = len(visual)
        assert selection.scores.tolist() == pytest.approx([1 - p / n for p in range(n)])


@settings(deadline=None)  # a shared CI machine can be slow; no timing in tests
@given(st.lists(score_values, min_size=1, max_size=30), st.sampled_from(["minmax", "zscore"]))
def test_normalisation_keeps_the_order(values, method: str) -> None:
    values = np.array(values)
    normalised = normalise_scores(values, method=method)
    assert np.all(np.isfinite(normalised))
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(normalised[order]) >= 0)
    if method == "minmax":
        assert normalised.min() >= 0 and normalised.max() <= 1


def test_minmax_of_equal_scores_is_one_half() -> None:
    assert normalise_scores(np.array([3.0, 3.0])).tolist() == [0.5, 0.5]
    assert normalise_scores(np.array([-np.inf, 1.0, 3.0, np.inf])).tolist() == [0.0, 0.0, 1.0, 1.0]


def test_scores_of_different_clips_cannot_be_combined() -> None:
    with pytest.raises(UsageError, match=r"must cover the same clips of the same grid"):
        combine(scores_of([1.0, 2.0, 3.0]), scores_of([1.0, 2.0], index=[0, 2]), combination="union", k=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"combination": "union", "k": 10, "k_prime": 12},
            "k_prime must be an integer from 0 to k (10), got 12; "
            "pass k_prime=8 (80% of k, as the paper's best 8 of 10) or any value up to k.",
        ),
        (
            {"combination": "union", "k": 5, "k_prime": -1},
            "k_prime must be an integer from 0 to k (5), got -1; "
            "pass k_prime=4 (80% of k, as the paper's best 8 of 10) or any value up to k.",
        ),
        (
            {"combination": "convex-list", "k": 3, "alpha": -0.1},
            "alpha must be a number from 0 to 1 (1 = visual ranking only, 0 = audio only), got -0.1; "
            "pass alpha=0.5 to weigh both equally.",
        ),
        (
            {"combination": "convex-score", "k": 3, "alpha": float("nan")},
            "alpha must be a number from 0 to 1 (1 = visual ranking only, 0 = audio only), got nan; "
            "pass alpha=0.5 to weigh both equally.",
        ),
        (
            {"combination": "convex-score", "k": 3, "normalisation": "rank"},
            "normalisation must be one of minmax, zscore, got 'rank'; pass normalisation='minmax' (the default).",
        ),
        (
            {"combination": "intersect", "k": -2},
            "k must be a positive integer (or None for every clip), got -2; "
            "pass k=10 (the paper's default) or any count of at least 1.",
        ),
    ],
)
def test_bad_combination_arguments_get_exact_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError) as error:
        combine(VISUAL, AUDIO, **kwargs)
    assert str(error.value) == message
