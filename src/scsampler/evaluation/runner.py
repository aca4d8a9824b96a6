"""``evaluate``: every sampler and baseline on a test split, from one dense pass per video.

Step 1 (cached, resumable) runs the clip classifier on every clip of every test
video and every sampler on every video, measuring their costs. Step 2 replays
every strategy (K, K', N, baselines, combinations) from that cache and writes
the tables. Step 3 checks the cached runtime against real end-to-end
``classify_video`` runs, and measures the runtime at paper scale with a heavy
classifier. The figures and ``report.html`` are made from the tables.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from scsampler._atomic import atomic_output
from scsampler.data.manifest import read_manifest, read_segments
from scsampler.errors import ScsamplerError, UsageError
from scsampler.evaluation.cache import DenseRecord, EvaluationCache, SamplerRecord, VideoRecord, video_key
from scsampler.evaluation.metrics import precision_at_k, segment_precision, softmax, topk_correct, video_probabilities
from scsampler.evaluation.runtime import HEAVY_CLASSIFIER, classifier_cost_per_clip_s, random_access_decode_per_clip_s
from scsampler.evaluation.strategies import DEFAULT_K, DEFAULT_K_PRIME, Strategy, accuracy, choose, runtime
from scsampler.models import Classifier
from scsampler.samplers.base import ClipSampler, ScoringSampler
from scsampler.samplers.baselines import UniformSampler
from scsampler.samplers.composite import CompositeSampler
from scsampler.samplers.registry import get_sampler
from scsampler.video import clip_grid, decode_clips, probe

__all__ = ["EvaluationConfig", "evaluate", "K_VALUES", "STRIDES"]

K_VALUES = (1, 3, 5, 10, 15, 20, None)  # None = all clips
RUNTIME_K_VALUES = (1, 3, 5, 10, 15, 20, 30, 50, None)
STRIDES = tuple(range(1, 11))
COMBINATIONS = {"av-union": "union", "av-intersect": "intersect", "av-convex-list": "convex-list", "av-convex-score": "convex-score"}

Progress = Callable[[Iterable, int, str], Iterable]


@dataclass
class EvaluationConfig:
    """What ``evaluate`` runs. ``samplers`` are names or saved-sampler paths, each
    optionally given a display name as ``NAME=SAMPLER`` (``visual=runs/v/sampler``).

    ``visual`` and ``audio`` name the two samplers (among ``samplers``) that
    the ``scsampler`` row combines with AV-union-list (K' of K); with only
    one of them, ``scsampler`` is that sampler alone.
    """

    samplers: list[str]
    visual: str | None = None
    audio: str | None = None
    k: int = DEFAULT_K
    k_prime: int = DEFAULT_K_PRIME
    split: str = "test"
    random_seeds: int = 5
    heavy_classifier: str | None = HEAVY_CLASSIFIER
    end_to_end_videos: int = 2
    batch_size: int = 8
    max_videos: int | None = None

    def __post_init__(self) -> None:
        names = list(self.sampler_specs())
        if len(set(names)) != len(names):
            raise UsageError(f"sampler names must be unique, got {names}; name them with NAME=SAMPLER.")
        for role in ("visual", "audio"):
            name = getattr(self, role)
            if name is not None and name not in names:
                raise UsageError(f"the {role} sampler {name!r} must be one of the evaluated samplers {names}.")
        if self.k < 1:
            raise UsageError(f"k must be a positive integer, got {self.k}.")
        if not 0 <= self.k_prime <= self.k:
            raise UsageError(f"k_prime must lie in [0, k={self.k}], got {self.k_prime}.")


    def sampler_specs(self) -> dict[str, str]:
        """Display name -> sampler name or path."""
        specs = {}
        for entry in self.samplers:
            name, _, spec = entry.partition("=") if "=" in entry else (entry, "", entry)
            specs[name.strip()] = spec.strip()
        return specs


@dataclass
class EvaluationResult:
    run_dir: Path
    videos: int
    errors: list[dict] = field(default_factory=list)
    tables: dict[str, Path] = field(default_factory=dict)


def evaluate(
    manifest_path: str | os.PathLike,
    *,
    classifier: Classifier,
    run_dir: str | os.PathLike,
    config: EvaluationConfig,
    progress: Progress | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> EvaluationResult:
    """Evaluate every strategy on ``config.split`` of the manifest; write the tables into ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    progress = progress or (lambda items, total, desc: items)
    manifest = read_manifest(manifest_path, split=config.split)
    if len(manifest) == 0:
        raise UsageError(f"{manifest_path}: no videos in split {config.split!r}; choose another --split.")
    if list(manifest.classes) != list(classifier.classes):
        raise UsageError(
            f"the classifier's classes ({len(classifier.classes)}) differ from the manifest's ({len(manifest.classes)}); "
            "evaluate with a classifier trained on this dataset's classes."
        )
    entries = list(manifest.entries)[: config.max_videos]
    segments_file = Path(manifest_path).parent / "segments.csv"
    segments = read_segments(segments_file) if segments_file.exists() else {}

    specs = config.sampler_specs()
    samplers = {name: get_sampler(spec) for name, spec in specs.items()}
    # A retrained sampler saved at the same path must not reuse the old cached scores.
    sampler_ids = {name: f"{name}|{spec}|{_files_identity(spec)}" for name, spec in specs.items()}
    for name, sampler in samplers.items():
        if not isinstance(sampler, ScoringSampler):
            raise UsageError(f"sampler {name!r} does not score clips; baselines (dense, uniform, random, oracle) are always evaluated.")

    cache = EvaluationCache(run_dir / "cache")
    classifier_id = f"{classifier.name}:{_weights_identity(classifier)}"
    records: list[VideoRecord] = []
    errors: list[dict] = []
    warm_up = _WarmUp(classifier, samplers)
    for entry in progress(entries, len(entries), "dense pass"):
        try:
            record = _video_record(
                entry, classifier, classifier_id, samplers, sampler_ids, cache, batch_size=config.batch_size, warm_up=warm_up
            )
        except ScsamplerError as error:
            errors.append({"path": str(entry.path), "error": str(error)})
            log(f"error: {error}")
            continue
        record.segments = [(s.start_s, s.end_s) for s in segments.get(Path(entry.path), []) if s.is_action]
        records.append(record)
    if not records:
        raise ScsamplerError(f"no test video could be evaluated; first error: {errors[0]['error'] if errors else 'none'}")

    strategies = _strategies(config, samplers)
    result = EvaluationResult(run_dir=run_dir, videos=len(records), errors=errors)
    tables = {
        "main_table": _main_table(records, strategies, config),
        "accuracy_vs_k": _accuracy_vs_k(records, strategies, config),
        "union_vs_kprime": _union_vs_kprime(records, config),
        "accuracy_vs_runtime": _accuracy_vs_runtime(records, strategies, config),
        "accuracy_vs_stride": _accuracy_vs_stride(records, strategies, config),
        "ablation": _ablation(records, samplers, config),
        "sampler_quality": _sampler_quality(records, strategies, config),
        "random_seeds": _random_spread(records, config),
        "errors": pd.DataFrame(errors, columns=["path", "error"]),
    }
    for name, table in tables.items():
        result.tables[name] = _write_csv(table, run_dir / f"{name}.csv")
    result.tables["timelines"] = _write_parquet(
        _timelines(records, strategies, config, classes=list(classifier.classes)), run_dir / "timelines.parquet"
    )
    result.tables["clips"] = _write_parquet(_clip_table(records), run_dir / "clips.parquet")

    scsampler = _composite_for(config, samplers)
    check_rows = _end_to_end_check(records, classifier, scsampler, config, log)
    if config.heavy_classifier:
        runtime_table, heavy_check = _runtime_at_paper_scale(records, strategies, scsampler, config, log)
        result.tables["runtime_table"] = _write_csv(runtime_table, run_dir / "runtime_table.csv")
        check_rows += heavy_check
    result.tables["runtime_check"] = _write_csv(
        pd.DataFrame(check_rows, columns=["strategy", "classifier", "path", "estimated_s", "measured_s"]),
        run_dir / "runtime_check.csv",
    )
    return result


# -- step 1: the dense pass -------------------------------------------------------------------------


def _weights_identity(classifier: Classifier) -> str:
    """A short fingerprint of the weights, so a retrained classifier does not reuse old logits."""
    total = 0.0
    for parameter in classifier.model.parameters():
        total += float(parameter.detach().double().abs().sum())
    return f"{total:.6e}"


def _files_identity(spec: str) -> str:
    """Size and modification time of a saved sampler's files ('' for a registered name)."""
    path = Path(spec)
    if not path.exists():
        return ""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return ",".join(f"{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)


class _WarmUp:
    """Run the decoder, the classifier and every sampler once, untimed, before the first measurement.

    One-time costs (lazy initialisation in torch, FFmpeg and the models, the allocator
    growing) would otherwise be charged to the first video measured, inflating its
    cached seconds and every runtime estimated from them. It runs at most once, and only
    when something is about to be measured (a rerun served from the cache skips it).
    """

    def __init__(self, classifier: Classifier, samplers: dict) -> None:
        self.classifier = classifier
        self.samplers = samplers
        self.done = False

    def __call__(self, path: str | os.PathLike) -> None:
        if self.done:
            return
        info = probe(path)
        grid = clip_grid(info, frames_per_clip=self.classifier.frames_per_clip)
        if len(grid) == 0:
            return
        first = grid.subset(grid.index[:1])
        size = self.classifier.decode_size(height=info.height, width=info.width)
        self.classifier(decode_clips(path, first, size=size, info=info))
        random_access_decode_per_clip_s(path, first, info=info, size=size)
        for sampler in self.samplers.values():
            if not (_is_audio(sampler) and not info.has_audio):
                sampler.score(info, first, stride=1)
        self.done = True  # not before: a damaged first video fails here and the next one warms up


def _video_record(
    entry,
    classifier: Classifier,
    classifier_id: str,
    samplers: dict,
    sampler_ids: dict,
    cache: EvaluationCache,
    *,
    batch_size: int,
    warm_up: Callable[[str | os.PathLike], None] = lambda path: None,
) -> VideoRecord:
    key = video_key(entry.path, classifier_id)
    dense = cache.load_dense(key)
    info = None
    grid = None
    if dense is None:
        warm_up(entry.path)
        began = time.perf_counter()
        info = probe(entry.path)
        grid = clip_grid(info, frames_per_clip=classifier.frames_per_clip)
        probe_s = time.perf_counter() - began
        dense = _dense_pass(entry, info, grid, classifier, batch_size=batch_size, probe_s=probe_s)
        cache.save_dense(key, dense)
    record = VideoRecord(dense=dense)
    for name, sampler in samplers.items():
        cached = cache.load_sampler(key, sampler_ids[name])
        if cached is None:
            if info is None:
                warm_up(entry.path)
                info = probe(entry.path)
                grid = clip_grid(info, frames_per_clip=classifier.frames_per_clip)
            cached = _score_video(name, sampler, info, grid)
            cache.save_sampler(key, SamplerRecord(sampler_ids[name], cached.scores, cached.seconds))
        record.samplers[name] = SamplerRecord(name, cached.scores, cached.seconds)
    return record


def _dense_pass(entry, info, grid, classifier: Classifier, *, batch_size: int, probe_s: float) -> DenseRecord:
    size = classifier.decode_size(height=info.height, width=info.width)
    logits, decode_s, classify_s = [], 0.0, 0.0
    for start in range(0, len(grid), batch_size):
        chunk = grid.subset(grid.index[start : start + batch_size])
        began = time.perf_counter()
        clips = decode_clips(entry.path, chunk, size=size, info=info)
        decoded = time.perf_counter()
        logits.append(classifier(clips).numpy())
        decode_s += decoded - began
        classify_s += time.perf_counter() - decoded
    return DenseRecord(
        path=str(entry.path),
        label=entry.label,
        label_index=entry.label_index,
        start_s=grid.start_s.copy(),
        end_s=grid.end_s.copy(),
        logits=np.concatenate(logits).astype(np.float32),
        decode_dense_s=decode_s,
        classifier_dense_s=classify_s,
        decode_random_per_clip_s=random_access_decode_per_clip_s(entry.path, grid, info=info, size=size),
        has_audio=info.has_audio,
        probe_s=probe_s,
    )


def _score_video(name: str, sampler: ScoringSampler, info, grid) -> SamplerRecord:
    if _is_audio(sampler) and not info.has_audio:
        return SamplerRecord(name=name, scores=None, seconds=0.0)
    began = time.perf_counter()
    scores = sampler.score(info, grid, stride=1)
    seconds = time.perf_counter() - began
    full = np.full(len(grid), np.nan)
    full[scores.index] = scores.scores
    if np.isnan(full).any():
        raise ScsamplerError(f"{info.path}: sampler {name!r} did not score every clip.")
    return SamplerRecord(name=name, scores=full, seconds=seconds)


def _is_audio(sampler: ClipSampler) -> bool:
    return getattr(sampler, "modality", None) == "audio"


# -- step 2: strategies and tables ------------------------------------------------------------------


def _strategies(config: EvaluationConfig, samplers: dict) -> list[Strategy]:
    strategies = [Strategy("dense", "dense"), Strategy("uniform", "uniform"), Strategy("random", "random")]
    strategies += [Strategy(name, "sampler", visual=name) for name in samplers]
    if config.visual and config.audio:
        for name, combination in COMBINATIONS.items():
            strategies.append(
                Strategy(name, "combination", visual=config.visual, audio=config.audio, combination=combination, k_prime=config.k_prime)
            )
    strategies.append(_default_strategy(config))
    strategies.append(Strategy("oracle", "oracle"))
    return strategies


def _default_strategy(config: EvaluationConfig) -> Strategy:
    if config.visual and config.audio:
        return Strategy("scsampler", "combination", visual=config.visual, audio=config.audio, combination="union", k_prime=config.k_prime)
    single = config.visual or config.audio or next(iter(config.sampler_specs()), None)
    if single is None:
        return Strategy("scsampler", "uniform")
    return Strategy("scsampler", "sampler", visual=single)


def _main_table(records, strategies, config) -> pd.DataFrame:
    rows = []
    for strategy in strategies:
        k = None if strategy.kind == "dense" else config.k
        scores = accuracy(records, strategy, k=k, seeds=config.random_seeds)
        cost = runtime(records, strategy, k=k)
        rows.append({"strategy": strategy.name, "k": _k_label(k), "top1": scores["top1"], "top5": scores["top5"], **cost})
    return pd.DataFrame(rows, columns=["strategy", "k", "top1", "top5", "sampler_s", "decode_s", "classifier_s", "total_s"])


def _k_label(k: int | None) -> int:
    """K as written in the tables: -1 stands for 'all clips'."""
    return -1 if k is None else int(k)


def _random_spread(records, config) -> pd.DataFrame:
    rows = []
    for seed in range(config.random_seeds):
        top1 = np.mean([
            topk_correct(
                video_probabilities(r.dense.logits, choose(r, Strategy("random", "random"), k=config.k, seed=seed)[0]),
                r.dense.label_index,
                1,
            )
            for r in records
        ])
        rows.append({"seed": seed, "k": config.k, "top1": float(top1)})
    return pd.DataFrame(rows, columns=["seed", "k", "top1"])


def _accuracy_vs_k(records, strategies, config) -> pd.DataFrame:
    rows = []
    for strategy in strategies:
        for k in K_VALUES:
            if strategy.kind == "dense" and k is not None:
                continue
            scores = accuracy(records, strategy, k=k, seeds=config.random_seeds)
            rows.append({"strategy": strategy.name, "k": _k_label(k), "top1": scores["top1"], "top5": scores["top5"]})
    return pd.DataFrame(rows, columns=["strategy", "k", "top1", "top5"])


def _union_vs_kprime(records, config) -> pd.DataFrame:
    rows = []
    if config.visual and config.audio:
        for k_prime in range(0, config.k + 1):
            strategy = Strategy("av-union", "combination", visual=config.visual, audio=config.audio, combination="union", k_prime=k_prime)
            scores = accuracy(records, strategy, k=config.k)
            rows.append({"k_prime": k_prime, "k": config.k, "top1": scores["top1"], "top5": scores["top5"]})
    return pd.DataFrame(rows, columns=["k_prime", "k", "top1", "top5"])


def _accuracy_vs_runtime(records, strategies, config) -> pd.DataFrame:
    rows = []
    for strategy in strategies:
        if strategy.kind in ("oracle",):
            continue
        ks = (None,) if strategy.kind == "dense" else RUNTIME_K_VALUES if strategy.kind in ("uniform", "random") else K_VALUES[:-1]
        for k in ks:
            scores = accuracy(records, strategy, k=k, seeds=config.random_seeds)
            rows.append({"strategy": strategy.name, "k": _k_label(k), "total_s": runtime(records, strategy, k=k)["total_s"], "top1": scores["top1"]})
    return pd.DataFrame(rows, columns=["strategy", "k", "total_s", "top1"])


def _accuracy_vs_stride(records, strategies, config) -> pd.DataFrame:
    rows = []
    for strategy in strategies:
        if strategy.kind not in ("sampler", "combination"):
            continue
        for stride in STRIDES:
            scores = accuracy(records, strategy, k=config.k, stride=stride)
            scored = np.mean([choose(r, strategy, k=config.k, stride=stride)[1] for r in records])
            rows.append({"strategy": strategy.name, "stride": stride, "top1": scores["top1"], "scored_per_video": float(scored)})
    return pd.DataFrame(rows, columns=["strategy", "stride", "top1", "scored_per_video"])


def _ablation(records, samplers: dict, config) -> pd.DataFrame:
    rows = []
    for name, sampler in samplers.items():
        loss = getattr(sampler, "loss", None)
        if loss is None:
            continue
        scores = accuracy(records, Strategy(name, "sampler", visual=name), k=config.k)
        rows.append({
            "loss": loss,
            "modality": getattr(sampler, "modality", "?"),
            "backbone": getattr(sampler, "backbone", "?"),
            "sampler": name,
            "top1": scores["top1"],
            "top5": scores["top5"],
        })
    return pd.DataFrame(rows, columns=["loss", "modality", "backbone", "sampler", "top1", "top5"])


def _sampler_quality(records, strategies, config) -> pd.DataFrame:
    rows = []
    oracle = Strategy("oracle", "oracle")
    for record in records:
        oracle_top = choose(record, oracle, k=config.k)[0]
        for strategy in strategies:
            if strategy.kind in ("dense", "oracle"):
                continue
            chosen = choose(record, strategy, k=config.k)[0]
            on_segments = (
                segment_precision(record.dense.start_s[chosen], record.dense.end_s[chosen], record.segments)
                if record.segments
                else float("nan")
            )
            rows.append({
                "strategy": strategy.name,
                "path": record.dense.path,
                "precision_vs_oracle": precision_at_k(chosen.tolist(), oracle_top.tolist()),
                "precision_vs_segments": on_segments,
            })
    return pd.DataFrame(rows, columns=["strategy", "path", "precision_vs_oracle", "precision_vs_segments"])


def _timelines(records, strategies, config, *, classes: list[str]) -> pd.DataFrame:
    default = next(s for s in strategies if s.name == "scsampler")
    rows = []
    for record in records:
        dense = record.dense
        chosen = set(choose(record, default, k=config.k)[0].tolist())
        score = _timeline_scores(record, default)
        predicted_index = int(np.argmax(softmax(dense.logits[sorted(chosen)]).mean(0))) if chosen else -1
        for i in range(dense.num_clips):
            rows.append({
                "path": dense.path,
                "label": dense.label,
                "predicted": classes[predicted_index] if predicted_index >= 0 else "",
                "clip_index": i,
                "start_s": float(dense.start_s[i]),
                "end_s": float(dense.end_s[i]),
                "score": float(score[i]),
                "selected": i in chosen,
                "in_segment": any(min(dense.end_s[i], e) - max(dense.start_s[i], s) > 0 for s, e in record.segments),
            })
    return pd.DataFrame(rows)


def _timeline_scores(record: VideoRecord, strategy: Strategy) -> np.ndarray:
    """The saliency shown on the timeline: the default sampler's (visual) score, min-max scaled."""
    names = [n for n in strategy.samplers if record.samplers[n].scores is not None]
    if not names:
        return np.zeros(record.dense.num_clips)
    total = np.zeros(record.dense.num_clips)
    for name in names:
        values = record.samplers[name].scores
        span = values.max() - values.min()
        total += (values - values.min()) / span if span > 0 else 0.0
    return total / len(names)


def _clip_table(records) -> pd.DataFrame:
    rows = []
    for record in records:
        dense = record.dense
        probs = softmax(dense.logits)
        for i in range(dense.num_clips):
            row = {
                "path": dense.path,
                "label": dense.label,
                "clip_index": i,
                "start_s": float(dense.start_s[i]),
                "end_s": float(dense.end_s[i]),
                "true_prob": float(probs[i, dense.label_index]),
                "top1_index": int(np.argmax(probs[i])),
            }
            for name, sampler in record.samplers.items():
                row[f"score:{name}"] = float("nan") if sampler.scores is None else float(sampler.scores[i])
            rows.append(row)
    return pd.DataFrame(rows)


# -- step 3: runtime checks ---------------------------------------------------------------------------


def _composite_for(config: EvaluationConfig, samplers: dict) -> ClipSampler:
    """The sampler object of the ``scsampler`` row, for real end-to-end runs."""
    strategy = _default_strategy(config)
    if strategy.kind == "uniform":
        return UniformSampler()
    visual = samplers.get(strategy.visual) if strategy.visual else None
    audio = samplers.get(strategy.audio) if strategy.audio else None
    return CompositeSampler(visual, audio, combination="union", k=config.k, k_prime=config.k_prime, name="scsampler")


def _end_to_end_check(records, classifier, scsampler, config, log) -> list[dict]:
    from scsampler.inference import classify_video

    rows = []
    for record in records[: config.end_to_end_videos]:
        for name, sampler in (("uniform", UniformSampler()), ("scsampler", scsampler)):
            strategy = Strategy("uniform", "uniform") if name == "uniform" else _default_strategy(config)
            estimated = runtime([record], strategy, k=config.k)["total_s"]
            began = time.perf_counter()
            classify_video(record.dense.path, classifier=classifier, sampler=sampler, k=config.k)
            measured = time.perf_counter() - began
            rows.append({"strategy": name, "classifier": classifier.name, "path": record.dense.path, "estimated_s": estimated, "measured_s": measured})
            log(f"end-to-end {name} on {Path(record.dense.path).name}: estimated {estimated:.2f} s, measured {measured:.2f} s")
    return rows


def _runtime_at_paper_scale(records, strategies, scsampler, config, log) -> tuple[pd.DataFrame, list[dict]]:
    from scsampler.inference import classify_video

    with warnings.catch_warnings():  # random weights on purpose: runtime does not depend on their values
        warnings.simplefilter("ignore")
        heavy = Classifier.load(config.heavy_classifier, num_classes=400)
    first = records[0].dense
    video = probe(first.path)
    per_clip = classifier_cost_per_clip_s(heavy, video_size=(video.height, video.width))
    log(f"runtime at paper scale: {config.heavy_classifier} costs {per_clip:.3f} s per clip here")
    rows = []
    dense_total = None
    for strategy in strategies:
        if strategy.kind == "oracle":
            continue
        k = None if strategy.kind == "dense" else config.k
        cost = runtime(records, strategy, k=k, classifier_per_clip_s=per_clip)
        if strategy.kind == "dense":
            dense_total = cost["total_s"]
        rows.append({"strategy": strategy.name, "k": _k_label(k), "classifier": config.heavy_classifier, **cost})
    table = pd.DataFrame(rows, columns=["strategy", "k", "classifier", "sampler_s", "decode_s", "classifier_s", "total_s"])
    table["speedup_vs_dense"] = dense_total / table["total_s"]

    # One real end-to-end run of the default sampler with the heavy classifier.
    estimated = float(runtime([records[0]], _default_strategy(config), k=config.k, classifier_per_clip_s=per_clip)["total_s"])
    heavy_for_video = Classifier(heavy.model, heavy.spec, heavy.classes, name=heavy.name)
    began = time.perf_counter()
    classify_video(first.path, classifier=heavy_for_video, sampler=scsampler, k=config.k, batch_size=1)
    measured = time.perf_counter() - began
    log(f"end-to-end scsampler with {config.heavy_classifier}: estimated {estimated:.2f} s, measured {measured:.2f} s")
    check = [{"strategy": "scsampler", "classifier": config.heavy_classifier, "path": first.path, "estimated_s": estimated, "measured_s": measured}]
    return table, check


# -- writing ------------------------------------------------------------------------------------------


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    with atomic_output(path) as temporary:
        table.to_csv(temporary, index=False)
    return path


def _write_parquet(table: pd.DataFrame, path: Path) -> Path:
    with atomic_output(path) as temporary:
        table.to_parquet(temporary, index=False)
    return path
