"""Strategies replayed from a hand-made evaluation cache: accuracy and runtime by construction."""

from __future__ import annotations

import numpy as np
import pytest

from scsampler.evaluation.cache import DenseRecord, EvaluationCache, SamplerRecord, VideoRecord
from scsampler.evaluation.strategies import Strategy, accuracy, choose, runtime

CLASSES = 3
CLIPS = 30


def make_record(label: int, action: list[int], *, has_audio: bool = True, seed: int = 0) -> VideoRecord:
    """Clips in ``action`` predict ``label`` confidently; the others predict the next class, weakly."""
    logits = np.zeros((CLIPS, CLASSES), dtype=np.float32)
    logits[:, (label + 1) % CLASSES] = 1.0  # background clips lean to a wrong class
    logits[action, label] = 4.0
    dense = DenseRecord(
        path=f"video{seed}.mp4",
        label=f"class{label}",
        label_index=label,
        start_s=np.arange(CLIPS, dtype=np.float64),
        end_s=np.arange(CLIPS, dtype=np.float64) + 1,
        logits=logits,
        decode_dense_s=3.0,
        classifier_dense_s=6.0,  # 0.2 s per clip
        decode_random_per_clip_s=0.05,
        has_audio=has_audio,
    )
    good = np.zeros(CLIPS)
    good[action] = 1.0 + np.arange(len(action))  # a sampler that finds the action
    rng = np.random.default_rng(seed)
    record = VideoRecord(dense=dense)
    record.samplers["good"] = SamplerRecord("good", good, seconds=0.5)
    record.samplers["noise"] = SamplerRecord("noise", rng.random(CLIPS), seconds=0.1)
    record.samplers["audio"] = SamplerRecord("audio", rng.random(CLIPS) if has_audio else None, seconds=0.2)
    return record


@pytest.fixture()
def records():
    # Two action clips per video, placed where Uniform K=3 (positions 5, 15, 25) never looks.
    return [make_record(i % CLASSES, [1 + i % 3, 17 + i % 3], seed=i, has_audio=i != 0) for i in range(6)]


def test_accuracy_by_construction(records):
    oracle = accuracy(records, Strategy("oracle", "oracle"), k=3)["top1"]
    dense = accuracy(records, Strategy("dense", "dense"), k=None)["top1"]
    uniform = accuracy(records, Strategy("uniform", "uniform"), k=3)["top1"]
    good = accuracy(records, Strategy("good", "sampler", visual="good"), k=2)["top1"]
    assert oracle == 1.0 and good == 1.0
    # Dense averages 2 confident clips with 28 wrong-leaning ones: always wrong here.
    assert dense == 0.0 and uniform == 0.0
    random = accuracy(records, Strategy("random", "random"), k=3, seeds=5)
    assert 0.0 <= random["top1"] <= 1.0 and random["top1_std"] >= 0.0


def test_runtime_by_construction(records):
    dense = runtime(records, Strategy("dense", "dense"), k=None)
    assert dense == pytest.approx({"sampler_s": 0.0, "decode_s": 3.0, "classifier_s": 6.0, "total_s": 9.0})
    good = runtime(records, Strategy("good", "sampler", visual="good"), k=10)
    assert good == pytest.approx({"sampler_s": 0.5, "decode_s": 0.5, "classifier_s": 2.0, "total_s": 3.0})
    combined = runtime(records, Strategy("av", "combination", visual="good", audio="audio", combination="union"), k=10)
    assert combined["sampler_s"] == pytest.approx(0.7)
    # At paper scale the per-clip classifier cost is replaced by the heavy model's.
    heavy = runtime(records, Strategy("dense", "dense"), k=None, classifier_per_clip_s=1.0)
    assert heavy["classifier_s"] == pytest.approx(30.0)
    assert np.isnan(runtime(records, Strategy("oracle", "oracle"), k=10)["total_s"])


def test_stride_never_chooses_an_unscored_clip(records):
    for stride in range(1, 8):
        chosen, scored = choose(records[1], Strategy("noise", "sampler", visual="noise"), k=5, stride=stride)
        assert all(c % stride == 0 for c in chosen)
        assert scored == len(range(0, CLIPS, stride))


def test_union_without_audio_falls_back_to_visual(records):
    union = Strategy("av", "combination", visual="good", audio="audio", combination="union", k_prime=1)
    silent = records[0]  # has_audio False: its audio scores are absent
    chosen, _ = choose(silent, union, k=2)
    visual, _ = choose(silent, Strategy("good", "sampler", visual="good"), k=2)
    assert chosen.tolist() == visual.tolist()
    # With audio, K'=1 keeps the visual best clip and adds the best audio clip.
    with_audio = records[1]
    chosen, _ = choose(with_audio, union, k=2)
    assert chosen[0] == choose(with_audio, Strategy("good", "sampler", visual="good"), k=1)[0][0]
    audio_order = np.argsort(-with_audio.samplers["audio"].scores, kind="stable")
    assert chosen[1] == next(c for c in audio_order if c != chosen[0])


def test_cache_round_trip(tmp_path, records):
    cache = EvaluationCache(tmp_path)
    record = records[0]
    cache.save_dense("key", record.dense)
    cache.save_sampler("key", record.samplers["audio"])
    cache.save_sampler("key", record.samplers["good"])
    loaded = cache.load_dense("key")
    assert np.array_equal(loaded.logits, record.dense.logits) and loaded.label == record.dense.label
    assert cache.load_sampler("key", "audio").scores is None
    assert np.array_equal(cache.load_sampler("key", "good").scores, record.samplers["good"].scores)
    assert cache.load_sampler("key", "missing") is None and cache.load_dense("other") is None
