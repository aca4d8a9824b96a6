"""``evaluate``: every sampler and baseline on a test split, from one dense pass per video.

Step 1 (cached, resumable) runs the clip classifier on every clip of every test
video and every sampler on every video, measuring their costs. Step 2 replays
every strategy (K, K', N, baselines, combinations) from that cache and writes
the tables; the ``scsampler`` row is chosen beforehand from the same cached pass
over the tuning (validation) split, never the test split
(:mod:`scsampler.evaluation.tuning`). Step 3 checks the cached runtime against real end-to-end
``classify_video`` runs, and measures the runtime at paper scale with a heavy
classifier. The figures and ``report.html`` are made from the tables.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from scsampler._atomic import atomic_output, write_text_atomically
from scsampler.data.checks import warn_about_manifest
from scsampler.data.manifest import read_manifest, read_segments
from scsampler.early_exit import DEFAULT_K_MAX, DEFAULT_K_RULE, EarlyExitRule
from scsampler.errors import ScsamplerError, UsageError
from scsampler.evaluation.cache import DenseRecord, EvaluationCache, SamplerRecord, VideoRecord, video_key
from scsampler.evaluation.early_exit import AutoChoice, auto_curve, fixed_threshold, simulate, traces, tune_threshold
from scsampler.intervals import bootstrap_interval, paired_difference_interval
from scsampler.evaluation.metrics import segment_precision, topk_correct
from scsampler.metrics import precision_at_k, video_probabilities
from scsampler.evaluation.runtime import HEAVY_CLASSIFIER, classifier_cost_per_clip_s, random_access_decode_per_clip_s
from scsampler.evaluation.k_column import k_text, with_nullable_k
from scsampler.evaluation.strategies import Strategy, accuracy, choose, per_video_correct, per_video_top1_top5, runtime
from scsampler.evaluation.summary import write_summary
from scsampler.evaluation.tuning import TUNING_COLUMNS, TunedChoice, check_disjoint, fixed_choice, tune
from scsampler.evaluation.warnings import emit_warnings, evaluation_warnings, write_warnings
from scsampler.models import Classifier
from scsampler.pipeline import DEFAULT_CHUNK, Pipeline, every_clip_pipeline
from scsampler.probabilities import softmax
from scsampler.samplers.base import ClipSampler, ScoringSampler
from scsampler.samplers.baselines import UniformSampler
from scsampler.samplers.combine import DEFAULT_K_PRIME
from scsampler.samplers.composite import CompositeSampler
from scsampler.samplers.learned import apply_sampler_backend
from scsampler.samplers.registry import get_sampler
from scsampler.samplers.selection import DEFAULT_K, check_k
from scsampler.video import clip_grid, probe

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

    ``visual`` and ``audio`` name the candidate visual and audio samplers
    (among ``samplers``; several as a list or comma-separated). On
    ``tune_split`` (None: no tuning) the ``scsampler`` row's sampler(s),
    combination, K' and alpha are chosen by
    :func:`scsampler.evaluation.tuning.tune`. Without tuning videos it is the
    fixed choice: AV-union-list (K' of K) of the first visual and first audio
    candidate; with only one role given, the first candidate alone.
    """

    samplers: list[str]
    visual: str | Sequence[str] | None = None
    audio: str | Sequence[str] | None = None
    k: int = DEFAULT_K
    k_prime: int = DEFAULT_K_PRIME
    split: str = "test"
    random_seeds: int = 5
    heavy_classifier: str | None = HEAVY_CLASSIFIER
    end_to_end_videos: int = 2
    batch_size: int | None = None  # the dense pass's forward batch (None: the classifier's own) and decode chunk
    max_videos: int | None = None
    tune_split: str | None = "val"
    k_max: int = DEFAULT_K_MAX  # the ``auto`` row (early exit): the most clips per video
    k_rule: str = DEFAULT_K_RULE  # and its confidence: "prob" (top-1 probability) or "margin"
    sampler_backend: str = "eager"  # how learned samplers' networks run: eager or onnx (models/sampler_backends.py)

    def __post_init__(self) -> None:
        from scsampler.models.sampler_backends import check_sampler_backend

        check_sampler_backend(self.sampler_backend)
        names = list(self.sampler_specs())
        if len(set(names)) != len(names):
            raise UsageError(f"sampler names must be unique, got {names}; name them with NAME=SAMPLER.")
        for role in ("visual", "audio"):
            for name in self.candidates(role):
                if name not in names:
                    raise UsageError(f"the {role} sampler {name!r} must be one of the evaluated samplers {names}.")
        both = sorted(set(self.candidates("visual")) & set(self.candidates("audio")))
        if both:
            raise UsageError(f"sampler {both[0]!r} is both a visual and an audio candidate; give it one role (--visual or --audio).")
        if self.tune_split is not None and self.tune_split == self.split:
            raise UsageError(
                f"the tuning split must differ from the evaluated split, both are {self.split!r}; "
                "pass --tune-split val (or none for the fixed choice)."
            )
        check_k(self.k)  # the one rule for K: a positive integer, not a bool
        if self.k is None:
            raise UsageError(f"k must be a number of clips for the main table (Dense is its every-clip row), got None; pass k={DEFAULT_K}.")
        if not 0 <= self.k_prime <= self.k:
            raise UsageError(f"k_prime must lie in [0, k={self.k}], got {self.k_prime}.")
        if self.end_to_end_videos < 0:
            raise UsageError(f"end_to_end_videos must be >= 0 (0: no end-to-end check), got {self.end_to_end_videos}.")
        EarlyExitRule(rule=self.k_rule, k_max=self.k_max)  # a bad --k-rule or --k-max fails before the dense pass


    def candidates(self, role: str) -> tuple[str, ...]:
        """The candidate samplers of ``role`` (``visual`` or ``audio``), in the order given."""
        value = getattr(self, role)
        if value is None:
            return ()
        parts = value.split(",") if isinstance(value, str) else list(value)
        return tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))

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
    tuning: TunedChoice | None = None  # how the ``scsampler`` row was chosen
    auto: AutoChoice | None = None  # the ``auto`` row's threshold (early exit), chosen on the same split


def evaluate(
    manifest_path: str | os.PathLike,
    *,
    classifier: Classifier,
    run_dir: str | os.PathLike,
    config: EvaluationConfig,
    progress: Progress | None = None,
    log: Callable[[str], None] = lambda message: None,
    pipeline: Pipeline | None = None,
) -> EvaluationResult:
    """Evaluate every strategy on ``config.split`` of the manifest; write the tables into ``run_dir``.

    The dense pass (every clip of every video not yet in the cache) runs on ``pipeline``
    (:mod:`scsampler.pipeline`; default: its local loop around ``classifier``; ``evaluate
    --engine ray`` gives one on Ray). Its per-clip seconds are those the pipeline's stages measure.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    progress = progress or (lambda items, total, desc: items)
    manifest = read_manifest(manifest_path, split=config.split)
    found_warnings = [("data", message) for message in warn_about_manifest(manifest_path)]  # the whole manifest
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
    for sampler in samplers.values():
        apply_sampler_backend(sampler, config.sampler_backend)
    # A retrained sampler saved at the same path must not reuse the old cached scores (nor another backend's:
    # its scores differ in the last bits, and its seconds are what the runtime tables report).
    backend = "" if config.sampler_backend == "eager" else f"|backend={config.sampler_backend}"  # eager keeps older caches
    sampler_ids = {name: f"{name}|{spec}|{_files_identity(spec)}{backend}" for name, spec in specs.items()}
    for name, sampler in samplers.items():
        if not isinstance(sampler, ScoringSampler):
            raise UsageError(f"sampler {name!r} does not score clips; baselines (dense, uniform, random, oracle) are always evaluated.")

    cache = EvaluationCache(run_dir / "cache")
    # another classifier backend's logits differ in the last bits and its seconds are what the runtime tables report
    classifier_id = f"{classifier.name}:{_weights_identity(classifier)}" + ("" if classifier.backend == "eager" else f"|backend={classifier.backend}")
    tuning_entries, no_tuning = _tuning_entries(manifest_path, config, manifest.entries)
    warm_up = _WarmUp(classifier, samplers)

    def dense_pipeline() -> Pipeline:
        """The pipeline of the dense pass, built when some video is not cached yet."""
        nonlocal pipeline
        if pipeline is None:
            pipeline = every_clip_pipeline(classifier, batch_size=config.batch_size, chunk=config.batch_size or DEFAULT_CHUNK)
        return pipeline

    def dense_pass(split_entries: list, desc: str) -> tuple[list[VideoRecord], list[dict]]:
        """The cached dense pass over ``split_entries``: their records and the videos that failed."""
        failed = _fill_dense_cache(split_entries, dense_pipeline, classifier_id, cache, warm_up=warm_up, progress=progress, desc=desc)
        for error in failed:
            log(f"error: {error['error']}")
        found = []
        broken = {error["path"] for error in failed}
        split_entries = [entry for entry in split_entries if str(entry.path) not in broken]
        for entry in progress(split_entries, len(split_entries), desc.replace("dense pass", "sampler scores")):
            try:
                record = _video_record(
                    entry, classifier, classifier_id, samplers, sampler_ids, cache, warm_up=warm_up
                )
            except ScsamplerError as error:
                failed.append({"path": str(entry.path), "error": str(error)})
                log(f"error: {error}")
                continue
            record.segments = [(s.start_s, s.end_s) for s in segments.get(Path(entry.path), []) if s.is_action]
            found.append(record)
        return found, failed

    records, errors = dense_pass(entries, "dense pass")
    if not records:
        raise ScsamplerError(f"no test video could be evaluated; first error: {errors[0]['error'] if errors else 'none'}")
    # The same cached pass on the tuning split; only these records choose the scsampler row.
    tuning_records, tuning_errors = dense_pass(tuning_entries, f"dense pass ({config.tune_split})") if tuning_entries else ([], [])
    errors += tuning_errors
    choice = _choose(config, samplers, tuning_records, no_tuning=no_tuning, log=log)
    pair = _pair_config(config, choice.strategy)  # the av-* rows and the K' curve show the chosen pair

    strategies = _strategies(pair, samplers, default=choice.strategy)
    auto = _choose_threshold(config, choice, tuning_records, no_tuning=no_tuning, log=log)  # on the tuning split too
    auto_traces = traces(records, choice.strategy, rule=config.k_rule, k_max=config.k_max)  # replayed on the test split
    result = EvaluationResult(run_dir=run_dir, videos=len(records), errors=errors)
    tables = {
        "main_table": _with_auto(
            _with_choice(_main_table(records, strategies, config, zero_training=_zero_training(samplers)), choice),
            records, auto_traces, choice, auto, config, zero_training=_zero_training(samplers),
        ),
        "accuracy_vs_clips_auto": auto_curve(records, auto_traces, auto),
        "accuracy_vs_k": _accuracy_vs_k(records, strategies, config),
        "union_vs_kprime": _union_vs_kprime(records, pair),
        "accuracy_vs_runtime": _accuracy_vs_runtime(records, strategies, config),
        "accuracy_vs_stride": _accuracy_vs_stride(records, strategies, config),
        "ablation": _ablation(records, samplers, config),
        "sampler_quality": _sampler_quality(records, strategies, config),
        "random_seeds": _random_spread(records, config),
        "errors": pd.DataFrame(errors, columns=["path", "error"]),
        "tuning": pd.DataFrame(list(choice.candidates), columns=TUNING_COLUMNS),
    }
    for name, table in tables.items():
        result.tables[name] = _write_csv(table, run_dir / f"{name}.csv")
    result.tables["evaluation"] = write_summary(run_dir, classes=len(classifier.classes), videos=len(records), split=config.split)
    result.tables["timelines"] = _write_parquet(
        _timelines(records, strategies, config, classes=list(classifier.classes)), run_dir / "timelines.parquet"
    )
    result.tables["clips"] = _write_parquet(_clip_table(records), run_dir / "clips.parquet")

    result.tuning, result.auto = choice, auto
    result.tables["tuning_summary"] = write_text_atomically(
        run_dir / "tuning.json", json.dumps({**choice.to_dict(), "auto": auto.to_dict()}, indent=2) + "\n"
    )
    scsampler = _composite_for(config, samplers, choice.strategy)
    check_rows = _end_to_end_check(records, classifier, scsampler, config, log, strategy=choice.strategy)
    if config.heavy_classifier:
        runtime_table, heavy_check = _runtime_at_paper_scale(records, strategies, scsampler, config, log, backend=classifier.backend)
        result.tables["runtime_table"] = _write_csv(runtime_table, run_dir / "runtime_table.csv")
        check_rows += heavy_check
    result.tables["runtime_check"] = _write_csv(
        pd.DataFrame(check_rows, columns=["strategy", "classifier", "path", "estimated_s", "measured_s"]),
        run_dir / "runtime_check.csv",
    )
    found_warnings += emit_warnings(evaluation_warnings(
        records, strategies, check_rows, classes=list(classifier.classes), manifest_path=manifest_path, split=config.split,
        check_file=run_dir / "runtime_check.csv",
    ))
    result.tables["warnings"] = write_warnings(found_warnings, run_dir / "warnings.csv")
    return result


# -- step 1: the dense pass -------------------------------------------------------------------------


def _fill_dense_cache(
    entries: list, dense_pipeline: Callable[[], Pipeline], classifier_id: str, cache: EvaluationCache, *, warm_up, progress: Progress, desc: str
) -> list[dict]:
    """Run ``pipeline`` over every entry whose dense logits are not cached yet and cache them; the videos that failed."""
    todo, failed = [], []
    for entry in entries:
        try:
            key = video_key(entry.path, classifier_id)  # reads the file's size and time: a missing file fails here
        except ScsamplerError as error:
            failed.append({"path": str(entry.path), "error": str(error)})
            continue
        if not cache.has_dense(key):
            todo.append(entry)
    if not todo:
        return failed
    for entry in todo:  # warm up on the first video that opens (one that does not is reported by the pipeline)
        try:
            warm_up(entry.path)
            break
        except ScsamplerError:
            continue
    pipeline = dense_pipeline()
    classifier = pipeline.classifier
    outcomes = pipeline.run([entry.path for entry in todo])
    for entry, outcome in zip(todo, progress(outcomes, len(todo), desc)):
        if outcome.error is not None:
            failed.append({"path": str(entry.path), "error": outcome.error})
            continue
        plan = outcome.plan
        size = classifier.decode_size(height=plan.info.height, width=plan.info.width)
        try:
            random_per_clip_s = random_access_decode_per_clip_s(entry.path, plan.clips, info=plan.info, size=size)
        except ScsamplerError as error:
            failed.append({"path": str(entry.path), "error": str(error)})
            continue
        cache.save_dense(video_key(entry.path, classifier_id), DenseRecord(
            path=str(entry.path), label=entry.label, label_index=entry.label_index,
            start_s=plan.clips.start_s.copy(), end_s=plan.clips.end_s.copy(), logits=outcome.logits.astype(np.float32),
            decode_dense_s=outcome.decode_s, classifier_dense_s=outcome.classifier_s,
            decode_random_per_clip_s=random_per_clip_s, has_audio=plan.info.has_audio, probe_s=plan.probe_s,
        ))  # fmt: skip
    return failed


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
        from scsampler.inference import classify_clips

        if self.done:
            return
        info = probe(path)
        grid = clip_grid(info, frames_per_clip=self.classifier.frames_per_clip)
        if len(grid) == 0:
            return
        first = grid.subset(grid.index[:1])
        classify_clips(path, first, classifier=self.classifier, info=info, batch_size=1)
        size = self.classifier.decode_size(height=info.height, width=info.width)
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
    warm_up: Callable[[str | os.PathLike], None] = lambda path: None,
) -> VideoRecord:
    key = video_key(entry.path, classifier_id)
    dense = cache.load_dense(key)  # written by the pipeline's dense pass (_fill_dense_cache)
    if dense is None:
        raise ScsamplerError(f"{entry.path}: its dense pass is missing from the evaluation cache; run evaluate again.")
    info = None
    grid = None
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


def _strategies(config: EvaluationConfig, samplers: dict, *, default: Strategy | None = None) -> list[Strategy]:
    """Every row: baselines, each sampler, the four combinations of ``config``'s first visual and audio
    candidate (at the fixed K' and alpha 0.5; ``evaluate`` passes the chosen pair, see ``_pair_config``),
    ``default`` as ``scsampler`` (the fixed choice when None), and Oracle."""
    strategies = [Strategy("dense", "dense"), Strategy("uniform", "uniform"), Strategy("random", "random")]
    strategies += [Strategy(name, "sampler", visual=name) for name in samplers]
    visual, audio = config.candidates("visual")[:1], config.candidates("audio")[:1]
    if visual and audio:
        for name, combination in COMBINATIONS.items():
            strategies.append(
                Strategy(name, "combination", visual=visual[0], audio=audio[0], combination=combination, k_prime=config.k_prime)
            )
    strategies.append(_default_strategy(config) if default is None else replace(default, name="scsampler"))
    strategies.append(Strategy("oracle", "oracle"))
    return strategies


def _default_strategy(config: EvaluationConfig) -> Strategy:
    """The fixed choice (no tuning): AV-union-list of the first visual and audio candidates, or one sampler alone."""
    visual, audio = config.candidates("visual")[:1], config.candidates("audio")[:1]
    if visual and audio:
        return Strategy("scsampler", "combination", visual=visual[0], audio=audio[0], combination="union", k_prime=config.k_prime)
    single = (visual or audio or tuple(config.sampler_specs())[:1] or (None,))[0]
    if single is None:
        return Strategy("scsampler", "uniform")
    return Strategy("scsampler", "sampler", visual=single)


# -- choices made on the tuning split (see evaluation/tuning.py) -------------------------------------


def _tuning_entries(manifest_path, config: EvaluationConfig, test_entries) -> tuple[list, str]:
    """The tuning split's videos (at most ``max_videos``), or none and the reason; never a test video."""
    if config.tune_split is None:
        return [], "no tuning split was asked for (--tune-split none)"
    tuning = read_manifest(manifest_path, split=config.tune_split)
    check_disjoint(
        [entry.path for entry in tuning.entries], [entry.path for entry in test_entries],
        tune_split=config.tune_split, test_split=config.split, manifest=str(manifest_path),
    )
    if len(tuning) == 0:
        return [], f"{manifest_path} has no videos in split {config.tune_split!r}"
    return list(tuning.entries)[: config.max_videos], ""


def _candidate_roles(config: EvaluationConfig, samplers: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The visual and audio candidates; with neither given, the fixed single sampler in its modality's role."""
    visual, audio = config.candidates("visual"), config.candidates("audio")
    if visual or audio:
        return visual, audio
    single = _default_strategy(config).visual
    if single is None:
        return (), ()
    return ((), (single,)) if _is_audio(samplers[single]) else ((single,), ())


def _choose(config: EvaluationConfig, samplers: dict, tuning_records: list[VideoRecord], *, no_tuning: str, log) -> TunedChoice:
    """The ``scsampler`` row: tuned on ``tuning_records``, else the fixed choice (logged, with the reason)."""
    visual, audio = _candidate_roles(config, samplers)
    if tuning_records and (visual or audio):
        choice = tune(tuning_records, visual=visual, audio=audio, k=config.k, k_values=K_VALUES,
                      k_prime=config.k_prime, split=config.tune_split)
        log(f"chosen on split {choice.split!r} ({choice.videos} videos): {choice.description} "
            f"(top-1 {100 * choice.top1:.1f}% there; best K there: {k_text(choice.best_k)})")
        return choice
    if not no_tuning:
        no_tuning = (f"no video of split {config.tune_split!r} could be evaluated" if not tuning_records
                     else "no visual or audio sampler to choose from")
    choice = fixed_choice(_default_strategy(config), k=config.k, audio=audio, split=config.tune_split, reason=no_tuning)
    log(f"no tuning: {no_tuning}; the scsampler row keeps the fixed choice: {choice.description}")
    return choice


def _pair_config(config: EvaluationConfig, strategy: Strategy) -> EvaluationConfig:
    """``config`` narrowed to one visual and one audio sampler: those of ``strategy``, else the first candidate.

    The av-* rows and the K' curve show this pair, so they compare with the chosen row.
    """
    visual, audio = config.candidates("visual"), config.candidates("audio")
    used = strategy.samplers
    pair_visual = next((name for name in used if name in visual), visual[0] if visual else None)
    pair_audio = next((name for name in used if name in audio), audio[0] if audio else None)
    return replace(config, visual=pair_visual, audio=pair_audio)


def _with_choice(table: pd.DataFrame, choice: TunedChoice) -> pd.DataFrame:
    """The main table with a ``choice`` column: the ``scsampler`` row's description, empty elsewhere."""
    table = table.copy()
    table["choice"] = np.where(table["strategy"] == "scsampler", choice.description, "")
    return table


def _choose_threshold(config: EvaluationConfig, choice: TunedChoice, tuning_records: list[VideoRecord], *, no_tuning: str, log) -> AutoChoice:
    """The ``auto`` row's threshold: tuned on ``tuning_records`` for the ``scsampler`` row's ranking, else the default."""
    if tuning_records:
        auto = tune_threshold(tuning_records, choice.strategy, rule=config.k_rule, k_max=config.k_max,
                              k_values=K_VALUES, split=config.tune_split)
        log(f"auto (early exit): {config.k_rule} >= {auto.threshold:g} chosen on split {auto.split!r}: "
            f"{auto.mean_clips:.1f} clips per video, top-1 {100 * auto.top1:.1f}% there")
        return auto
    reason = no_tuning or f"no video of split {config.tune_split!r} could be evaluated"
    return fixed_threshold(rule=config.k_rule, k_max=config.k_max, split=config.tune_split, reason=reason)


def _with_auto(table: pd.DataFrame, records, found, choice: TunedChoice, auto: AutoChoice, config, *,
               zero_training: Sequence[str] = ()) -> pd.DataFrame:
    """The main table with the ``auto`` row after ``scsampler``: early exit on that row's ranking (``found``: its
    traces on ``records``), with ``mean_k`` (clips per video, mean) and ``early_exit`` (the rule); both empty elsewhere."""
    clips, top1, top5 = simulate(records, found, auto.threshold)
    seeds = config.random_seeds
    references = {
        "dense": per_video_correct(records, Strategy("dense", "dense"), k=None, seeds=seeds),
        "uniform": per_video_correct(records, Strategy("uniform", "uniform"), k=config.k, seeds=seeds),
        **{name: per_video_correct(records, Strategy(name, "sampler", visual=name), k=config.k, seeds=seeds) for name in zero_training},
    }
    row = {
        "strategy": "auto", "k": config.k_max, "top1": float(np.mean(top1)), "top5": float(np.mean(top5)),
        **runtime(records, choice.strategy, k=config.k_max, clips_per_video=clips),
        **_accuracy_intervals(top1, top5),
        **{key: value for name, reference in references.items()
           for key, value in _difference_columns(f"top1_vs_{name}", top1, reference).items()},
        "choice": "", "mean_k": float(np.mean(clips)), "early_exit": auto.describe(choice.description),
    }
    table = table.copy()
    table["mean_k"], table["early_exit"] = np.nan, ""
    after = int(np.flatnonzero(table["strategy"].to_numpy() == "scsampler")[0]) + 1
    auto_row = pd.DataFrame([row]).reindex(columns=table.columns)
    return pd.concat([table.iloc[:after], auto_row, table.iloc[after:]], ignore_index=True)


MAIN_COLUMNS = ["strategy", "k", "top1", "top5", "sampler_s", "decode_s", "classifier_s", "total_s"]
# 95% percentile-bootstrap intervals over videos (intervals.py), all fractions like top1.
INTERVAL_COLUMNS = [
    "videos", "top1_low", "top1_high", "top5_low", "top5_high",
    "top1_vs_dense", "top1_vs_dense_low", "top1_vs_dense_high",
    "top1_vs_uniform", "top1_vs_uniform_low", "top1_vs_uniform_high",
]


def _zero_training(samplers: dict) -> list[str]:
    """Names of the samplers that learn nothing from data (``motion``, ``loudness``), in table order."""
    return [name for name, sampler in samplers.items() if getattr(sampler, "zero_training", False)]


def _main_table(records, strategies, config, *, zero_training: Sequence[str] = ()) -> pd.DataFrame:
    """Accuracy, runtime and the 95% intervals of every strategy at K (Dense: every clip).

    Every interval resamples the same videos (bootstrap seed 0), so the rows'
    intervals and the paired differences to Dense, Uniform and each zero-training sampler in
    ``zero_training`` (columns ``top1_vs_<name>``: what a learned sampler must beat) are comparable.
    """
    per_video = [_per_video_top1_top5(records, strategy, _main_k(strategy, config), config) for strategy in strategies]
    dense = _reference_top1(records, strategies, per_video, Strategy("dense", "dense"), k=None, config=config)
    uniform = _reference_top1(records, strategies, per_video, Strategy("uniform", "uniform"), k=config.k, config=config)
    zero = {
        name: _reference_top1(records, strategies, per_video, Strategy(name, "sampler", visual=name), k=config.k, config=config)
        for name in zero_training
    }
    extra = [f"top1_vs_{name}{suffix}" for name in zero for suffix in ("", "_low", "_high")]
    rows = []
    for strategy, (top1, top5) in zip(strategies, per_video):
        k = _main_k(strategy, config)
        cost = runtime(records, strategy, k=k)
        rows.append({
            "strategy": strategy.name, "k": k, "top1": float(np.mean(top1)), "top5": float(np.mean(top5)), **cost,
            **_accuracy_intervals(top1, top5),
            **_difference_columns("top1_vs_dense", top1, dense),
            **_difference_columns("top1_vs_uniform", top1, uniform),
            **{key: value for name, reference in zero.items() for key, value in _difference_columns(f"top1_vs_{name}", top1, reference).items()},
        })
    return with_nullable_k(pd.DataFrame(rows, columns=MAIN_COLUMNS + INTERVAL_COLUMNS + extra))


def _main_k(strategy: Strategy, config) -> int | None:
    return None if strategy.kind == "dense" else config.k


def _per_video_top1_top5(records, strategy: Strategy, k: int | None, config) -> tuple[np.ndarray, np.ndarray]:
    """Per-video top-1 and top-5 correctness (Random: the fraction of its seeds), in ``records`` order."""
    return per_video_top1_top5(records, strategy, k=k, seeds=config.random_seeds)


def _reference_top1(records, strategies, per_video, reference: Strategy, *, k: int | None, config) -> np.ndarray:
    """Per-video top-1 of the Dense or Uniform baseline: its row's, else computed (a table without that row)."""
    for strategy, (top1, _) in zip(strategies, per_video):
        if strategy.name == reference.name and strategy.kind == reference.kind:
            return top1
    return per_video_correct(records, reference, k=k, seeds=config.random_seeds, top=1)


def _accuracy_intervals(top1: np.ndarray, top5: np.ndarray) -> dict[str, float]:
    top1_low, top1_high = bootstrap_interval(top1)
    top5_low, top5_high = bootstrap_interval(top5)
    return {"videos": len(top1), "top1_low": top1_low, "top1_high": top1_high, "top5_low": top5_low, "top5_high": top5_high}


def _difference_columns(name: str, top1: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """``name``, ``name_low``, ``name_high``: top-1 minus the reference's, paired over the same videos."""
    difference, low, high = paired_difference_interval(top1, reference)
    return {name: difference, f"{name}_low": low, f"{name}_high": high}


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
            top1, top5 = _per_video_top1_top5(records, strategy, k, config)
            low, high = bootstrap_interval(top1)
            rows.append({"strategy": strategy.name, "k": k, "top1": float(np.mean(top1)), "top5": float(np.mean(top5)),
                         "top1_low": low, "top1_high": high})
    return with_nullable_k(pd.DataFrame(rows, columns=["strategy", "k", "top1", "top5", "top1_low", "top1_high"]))


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
            rows.append({"strategy": strategy.name, "k": k, "total_s": runtime(records, strategy, k=k)["total_s"], "top1": scores["top1"]})
    return with_nullable_k(pd.DataFrame(rows, columns=["strategy", "k", "total_s", "top1"]))


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


def _composite_for(config: EvaluationConfig, samplers: dict, strategy: Strategy | None = None) -> ClipSampler:
    """The sampler object of the ``scsampler`` row (``strategy``; the fixed choice when None), for real
    end-to-end runs: its combination, K' and alpha, or its one sampler alone in that sampler's role."""
    strategy = _default_strategy(config) if strategy is None else strategy
    if strategy.kind == "uniform":
        return UniformSampler()
    if strategy.kind == "sampler":
        visual, audio = _candidate_roles(config, samplers)
        sampler = samplers[strategy.visual]
        as_audio = strategy.visual in audio or (strategy.visual not in visual and _is_audio(sampler))
        return CompositeSampler(None if as_audio else sampler, sampler if as_audio else None, k=config.k, name="scsampler")
    return CompositeSampler(
        samplers[strategy.visual], samplers[strategy.audio], combination=strategy.combination, k=config.k,
        k_prime=strategy.k_prime, alpha=strategy.alpha, name="scsampler",
    )


def _end_to_end_check(records, classifier, scsampler, config, log, *, strategy: Strategy | None = None) -> list[dict]:
    """Cached runtime estimates against real ``classify_video`` runs of Uniform and ``scsampler``
    (whose strategy is ``strategy``; the fixed choice when None)."""
    from scsampler.inference import classify_video

    rows = []
    for record in records[: config.end_to_end_videos]:
        for name, sampler in (("uniform", UniformSampler()), ("scsampler", scsampler)):
            replayed = Strategy("uniform", "uniform") if name == "uniform" else strategy or _default_strategy(config)
            estimated = runtime([record], replayed, k=config.k)["total_s"]
            began = time.perf_counter()
            classify_video(record.dense.path, classifier=classifier, sampler=sampler, k=config.k)
            measured = time.perf_counter() - began
            rows.append({"strategy": name, "classifier": classifier.name, "path": record.dense.path, "estimated_s": estimated, "measured_s": measured})
            log(f"end-to-end {name} on {Path(record.dense.path).name}: estimated {estimated:.2f} s, measured {measured:.2f} s")
    return rows


def _runtime_at_paper_scale(records, strategies, scsampler, config, log, *, backend: str = "eager") -> tuple[pd.DataFrame, list[dict]]:
    """``backend``: the evaluated classifier's (``--classifier-backend``); the heavy classifier runs on it too."""
    from scsampler.inference import classify_video

    with warnings.catch_warnings():  # random weights on purpose: runtime does not depend on their values
        warnings.simplefilter("ignore")
        heavy = Classifier.load(config.heavy_classifier, num_classes=400, backend=backend)
    first = records[0].dense
    video = probe(first.path)
    per_clip = classifier_cost_per_clip_s(heavy, video_size=(video.height, video.width))
    log(f"runtime at paper scale: {config.heavy_classifier} costs {per_clip:.3f} s per clip here ({backend} backend)")
    rows = []
    dense_total = None
    for strategy in strategies:
        if strategy.kind == "oracle":
            continue
        k = None if strategy.kind == "dense" else config.k
        cost = runtime(records, strategy, k=k, classifier_per_clip_s=per_clip)
        if strategy.kind == "dense":
            dense_total = cost["total_s"]
        rows.append({"strategy": strategy.name, "k": k, "classifier": config.heavy_classifier, **cost})
    table = with_nullable_k(pd.DataFrame(rows, columns=["strategy", "k", "classifier", "sampler_s", "decode_s", "classifier_s", "total_s"]))
    table["speedup_vs_dense"] = dense_total / table["total_s"]

    # One real end-to-end run of the default sampler with the heavy classifier.
    default = next((s for s in strategies if s.name == "scsampler"), None) or _default_strategy(config)
    estimated = float(runtime([records[0]], default, k=config.k, classifier_per_clip_s=per_clip)["total_s"])
    began = time.perf_counter()
    classify_video(first.path, classifier=heavy, sampler=scsampler, k=config.k, batch_size=1)  # the same model and backend
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
