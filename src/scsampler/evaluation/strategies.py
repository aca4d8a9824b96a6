"""Every clip-selection strategy, replayed from the evaluation cache.

A strategy picks clip positions for one cached video; its accuracy uses the
cached logits of those clips, and its runtime the cached per-clip costs:

- ``sampler_s``: the seconds the sampler(s) took on the whole video (measured;
  under a sampling stride N this is still the full-pass figure, an upper bound,
  because signal extraction reads the whole file once whatever N is);
- ``decode_s``: reading the file's packets (probe, which every strategy needs),
  plus K times the measured cost of decoding one clip with a seek (Dense: the
  measured sequential decode of every clip);
- ``classifier_s``: the number of clips times the measured per-clip cost.

Oracle needs the label and the dense pass: it is an upper bound on accuracy,
not a method, so it has no runtime (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from scsampler.evaluation.cache import VideoRecord
from scsampler.evaluation.metrics import topk_correct
from scsampler.metrics import video_probabilities
from scsampler.probabilities import softmax
from scsampler.samplers.baselines import random_positions, uniform_positions
from scsampler.samplers.combine import DEFAULT_K_PRIME, combine_scores
from scsampler.samplers.selection import DEFAULT_K, strided_scores, top_k
from scsampler.types import ClipScores

__all__ = ["Strategy", "choose", "accuracy", "per_video_correct", "per_video_top1_top5", "runtime"]


@dataclass(frozen=True)
class Strategy:
    """How to choose clips: a baseline, one sampler's ranking, or an audio-visual combination.

    ``kind`` is ``dense``, ``uniform``, ``random``, ``oracle``, ``sampler``
    (``visual`` names it) or ``combination`` (``visual`` and ``audio`` name
    the two samplers; ``combination`` is union, intersect, convex-list or
    convex-score).
    """

    name: str
    kind: str
    visual: str | None = None
    audio: str | None = None
    combination: str | None = None
    k_prime: int = DEFAULT_K_PRIME
    alpha: float = 0.5

    @property
    def samplers(self) -> tuple[str, ...]:
        return tuple(name for name in (self.visual, self.audio) if name)


def _scores(record: VideoRecord, name: str) -> ClipScores | None:
    sampler = record.samplers[name]
    if sampler.scores is None:
        return None
    dense = record.dense
    return ClipScores(
        index=np.arange(dense.num_clips),
        scores=sampler.scores,
        start_s=dense.start_s,
        end_s=dense.end_s,
        num_clips=dense.num_clips,
        source=name,
    )


def choose(record: VideoRecord, strategy: Strategy, *, k: int | None, stride: int = 1, seed: int = 0) -> tuple[np.ndarray, int]:
    """Clip positions chosen for one video, and how many clips were scored to choose them."""
    dense = record.dense
    count = dense.num_clips
    if strategy.kind == "dense":
        return np.arange(count), 0
    if strategy.kind == "uniform":
        return uniform_positions(count, k=k), 0
    if strategy.kind == "random":
        return random_positions(count, k=k, seed=seed, key=dense.path), 0
    if strategy.kind == "oracle":
        true_prob = softmax(dense.logits)[:, dense.label_index]
        oracle = ClipScores(
            index=np.arange(count), scores=true_prob, start_s=dense.start_s, end_s=dense.end_s, num_clips=count
        )
        return top_k(oracle, k=k).index, count
    if strategy.kind == "sampler":
        scores = _scores(record, strategy.visual)
        if scores is None:  # e.g. an audio sampler on a video with no audio track: fall back to Uniform
            return uniform_positions(count, k=k), 0
        scores = strided_scores(scores, stride=stride)
        return top_k(scores, k=k).index, len(scores)
    if strategy.kind == "combination":
        visual = strided_scores(_scores(record, strategy.visual), stride=stride)
        audio = _scores(record, strategy.audio)
        audio = None if audio is None else strided_scores(audio, stride=stride)
        combined = combine_scores(
            visual, audio, combination=strategy.combination, k_prime=strategy.k_prime, alpha=strategy.alpha
        )
        return top_k(combined, k=k).index, len(visual)
    raise ValueError(f"unknown strategy kind {strategy.kind!r}.")


def _correct_by_seed(
    records: list[VideoRecord], strategy: Strategy, *, k: int | None, stride: int, seeds: int, tops: tuple[int, ...]
) -> np.ndarray:
    """``[len(tops), draws, videos]`` 1.0/0.0: whether each video is top-``t`` correct on each draw.

    Only Random has more than one draw (``seeds``); every other strategy is deterministic.
    """
    draws = seeds if strategy.kind == "random" else 1
    correct = np.zeros((len(tops), draws, len(records)))
    for seed in range(draws):
        for v, record in enumerate(records):
            chosen, _ = choose(record, strategy, k=k, stride=stride, seed=seed)
            probs = video_probabilities(record.dense.logits, chosen)
            for t, top in enumerate(tops):
                correct[t, seed, v] = topk_correct(probs, record.dense.label_index, top)
    return correct


def per_video_correct(
    records: list[VideoRecord], strategy: Strategy, *, k: int | None, stride: int = 1, seeds: int = 1, top: int = 1
) -> np.ndarray:
    """One value per video, in ``records`` order: 1.0 if its top-``top`` prediction is right, else 0.0.

    For Random, the fraction of its ``seeds`` draws that were right. The mean of
    this array is :func:`accuracy`'s ``top1`` (``top=1``) or ``top5`` (``top=5``);
    bootstrap intervals over videos resample it.
    """
    return _correct_by_seed(records, strategy, k=k, stride=stride, seeds=seeds, tops=(top,))[0].mean(axis=0)


def per_video_top1_top5(
    records: list[VideoRecord], strategy: Strategy, *, k: int | None, stride: int = 1, seeds: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`per_video_correct` for top-1 and top-5 at once: each video's clips are chosen once."""
    correct = _correct_by_seed(records, strategy, k=k, stride=stride, seeds=seeds, tops=(1, 5)).mean(axis=1)
    return correct[0], correct[1]


def accuracy(
    records: list[VideoRecord], strategy: Strategy, *, k: int | None, stride: int = 1, seeds: int = 1
) -> dict[str, float]:
    """Video-level top-1 and top-5 accuracy; for Random, the mean and spread over ``seeds`` draws.

    ``top1``/``top5`` are the means of :func:`per_video_correct` (the same
    computation, so the two always agree); ``top1_std`` is the spread of top-1
    between Random's draws (0 for every other strategy).
    """
    correct = _correct_by_seed(records, strategy, k=k, stride=stride, seeds=seeds, tops=(1, 5))
    top1_runs = correct[0].mean(axis=1)
    return {
        "top1": float(np.mean(correct[0].mean(axis=0))),
        "top5": float(np.mean(correct[1].mean(axis=0))),
        "top1_std": float(np.std(top1_runs)) if len(top1_runs) > 1 else 0.0,
    }


def runtime(
    records: list[VideoRecord],
    strategy: Strategy,
    *,
    k: int | None,
    classifier_per_clip_s: float | None = None,
    clips_per_video: Sequence[int] | None = None,
) -> dict[str, float]:
    """Seconds per video (mean over videos), split into sampler, decoding and classifier.

    ``classifier_per_clip_s`` replaces the measured per-clip classifier cost
    (the runtime table at paper scale uses a heavy classifier's cost).
    ``clips_per_video`` (one count per record, in order) replaces K for a strategy whose
    K differs per video (the ``auto`` row: early exit).
    """
    if strategy.kind == "oracle":
        nan = float("nan")
        return {"sampler_s": nan, "decode_s": nan, "classifier_s": nan, "total_s": nan}
    if clips_per_video is not None and len(clips_per_video) != len(records):
        raise ValueError(f"clips_per_video needs one count per video, got {len(clips_per_video)} for {len(records)}.")
    sampler_s, decode_s, classifier_s = [], [], []
    for position, record in enumerate(records):
        dense = record.dense
        per_clip = dense.classifier_per_clip_s if classifier_per_clip_s is None else classifier_per_clip_s
        if strategy.kind == "dense":
            clips = dense.num_clips
            decode_s.append(dense.probe_s + dense.decode_dense_s)
        else:
            clips = dense.num_clips if k is None else min(k, dense.num_clips)
            if clips_per_video is not None:
                clips = min(int(clips_per_video[position]), dense.num_clips)
            # decode_clips seeks only when that saves work, so K clips never cost more than one sequential pass
            decode_s.append(dense.probe_s + min(clips * dense.decode_random_per_clip_s, dense.decode_dense_s))
        classifier_s.append(clips * per_clip)
        sampler_s.append(sum(record.samplers[name].seconds for name in strategy.samplers))
    result = {
        "sampler_s": float(np.mean(sampler_s)),
        "decode_s": float(np.mean(decode_s)),
        "classifier_s": float(np.mean(classifier_s)),
    }
    result["total_s"] = result["sampler_s"] + result["decode_s"] + result["classifier_s"]
    return result

