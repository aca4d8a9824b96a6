"""One sampler object: a visual and/or an audio sampler, their combination, K and the stride N.

.. code-block:: python

    sampler = CompositeSampler(get_sampler("motion"), get_sampler("loudness"),
                               combination="union", k=10, k_prime=8, stride=2)
    k, stride = resolve_k_and_stride(sampler)     # "own" by default: the sampler's K=10 and N=2
    selection = sampler.select(info, grid, k=k, stride=stride)
    save_sampler(sampler, "runs/av-sampler")      # one bundle; load_sampler() gives it back

A video without an audio track falls back to the visual ranking (with a
:class:`~scsampler.errors.DataWarning` naming the video). The
combinations are defined in :mod:`scsampler.samplers.combine`.
"""

from __future__ import annotations

import dataclasses
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from scsampler.errors import DataWarning, UsageError
from scsampler.samplers.base import ClipSampler, ScoringSampler, scored_grid
from scsampler.samplers.bundle import BundleReader, BundleWriter, register_bundle_kind
from scsampler.samplers.combine import (
    DEFAULT_ALPHA,
    default_k_prime,
    check_alpha,
    check_combination,
    check_k_prime,
    combine_scores,
    normalise_scores,
)
from scsampler.samplers.selection import DEFAULT_K, _top_k, check_k, check_min_gap_s, check_stride
from scsampler.types import ClipGrid, ClipScores, ClipSelection, VideoInfo

__all__ = ["CompositeSampler", "SampledClips", "score_and_select"]

_SETTINGS = ("combination", "k", "stride", "k_prime", "alpha", "normalisation", "min_gap_s")


def _check_component(sampler: object, role: str) -> None:
    if sampler is not None and not isinstance(sampler, ScoringSampler):
        name = getattr(sampler, "name", type(sampler).__name__)
        raise UsageError(
            f"the {role} sampler must score clips (a ScoringSampler), got {name!r}, which chooses clips without "
            f"scores; use a scoring sampler such as motion or loudness as the {role} sampler, or use {name!r} alone."
        )


@register_bundle_kind
class CompositeSampler(ScoringSampler):
    """Scores clips with a visual and/or an audio sampler, combines them, and keeps the top K.

    Args:
        visual: the visual sampler (any :class:`ScoringSampler`), or None.
        audio: the audio sampler, or None. At least one of the two is needed.
        combination: ``union``, ``intersect``, ``convex-list`` or
            ``convex-score`` (see :mod:`scsampler.samplers.combine`); used when
            both samplers are given. Defaults to ``union``.
        k: its own K, what ``k="own"`` resolves to (None: every scored clip).
        stride: its own sampling stride N (only clips 0, N, 2N, ... are scored, by both
            samplers), what ``stride="own"`` resolves to.
        k_prime: K' of AV-union-list (at most ``k``); None: 80% of K, rounded
            (the paper's best, K'=8 of K=10), see ``default_k_prime``.
        alpha: weight of the visual side in the convex combinations.
        normalisation: per-video score normalisation of AV-convex-score.
        min_gap_s: minimum seconds between two chosen clips (0: none).
        name: how the sampler is reported; built from its parts by default.

    Without an audio track a video is ranked by the visual sampler alone (the
    audio sampler is not called). A composite with an audio sampler only
    leaves such a video to that sampler (``loudness`` spreads its choice
    uniformly).
    """

    bundle_kind = "composite"

    def __init__(
        self,
        visual: ScoringSampler | None = None,
        audio: ScoringSampler | None = None,
        *,
        combination: str | None = None,
        k: int | None = DEFAULT_K,
        stride: int = 1,
        k_prime: int | None = None,
        alpha: float = DEFAULT_ALPHA,
        normalisation: str = "minmax",
        min_gap_s: float = 0.0,
        name: str = "",
    ) -> None:
        if visual is None and audio is None:
            raise UsageError(
                "a composite sampler needs a visual sampler, an audio sampler or both, got neither; "
                "pass visual=get_sampler('motion') for example."
            )
        _check_component(visual, "visual")
        _check_component(audio, "audio")
        if combination is None:
            combination = "union"
        check_combination(combination)
        check_k(k)
        check_stride(stride)
        if k_prime is not None:
            check_k_prime(k_prime, k=k)
        check_alpha(alpha)
        normalise_scores(np.zeros(1), method=normalisation)  # validates the name
        check_min_gap_s(min_gap_s)
        self.visual = visual
        self.audio = audio
        self.combination = combination
        self.k = None if k is None else int(k)
        self.stride = int(stride)
        self.k_prime = None if k_prime is None else int(k_prime)
        self.alpha = float(alpha)
        self.normalisation = normalisation
        self.min_gap_s = float(min_gap_s)
        self.name = name or self._default_name()
        self.needs_label = any(getattr(s, "needs_label", False) for s in (visual, audio) if s is not None)

    def _default_name(self) -> str:
        if self.visual is not None and self.audio is not None:
            detail = {
                "union": "union" if self.k_prime is None else f"union(k'={self.k_prime})",
                "intersect": "intersect",
                "convex-list": f"convex-list(alpha={self.alpha:g})",
                "convex-score": f"convex-score(alpha={self.alpha:g})",
            }[self.combination]
            return f"{self.visual.name}+{self.audio.name}:{detail}"
        return (self.visual or self.audio).name

    def settings(self) -> dict:
        """K, N and the combination's parameters, JSON-ready."""
        return {name: getattr(self, name) for name in _SETTINGS}

    def replace(self, **changes: Any) -> "CompositeSampler":
        """A copy with some of ``visual``, ``audio``, ``name`` and the settings changed (each value as given:
        ``k=None`` is every clip, ``k_prime=None`` 80% of K)."""
        unknown = sorted(set(changes) - set(_SETTINGS) - {"visual", "audio", "name"})
        if unknown:
            raise UsageError(
                f"unknown composite sampler settings {unknown}; choose from visual, audio, {', '.join(_SETTINGS)}."
            )
        arguments = {"visual": self.visual, "audio": self.audio, **self.settings(), **changes}
        if "name" not in changes and self.name != self._default_name():
            arguments["name"] = self.name
        return CompositeSampler(**arguments)

    def own_k_and_stride(self) -> tuple[int | None, int]:
        """Its ``k`` and ``stride``: what ``"own"`` means for it (:func:`~scsampler.samplers.base.resolve_k_and_stride`)."""
        return self.k, self.stride

    def _check_k_prime_fits(self, k: int | None) -> None:
        """A fixed K' of AV-union-list must not exceed the K it selects with."""
        if self.k_prime is not None and self.visual is not None and self.audio is not None and self.combination == "union":
            check_k_prime(self.k_prime, k=k)

    def _k_prime_for(self, k: int | None) -> int:
        return default_k_prime(k) if self.k_prime is None else self.k_prime

    def score(self, video: VideoInfo, grid: ClipGrid, *, stride: int = 1) -> ClipScores:
        """Combined scores of the clips at grid positions 0, N, 2N, ... (N: ``stride``).

        AV-union-list's default K' (80% of K) is taken from this sampler's own ``k``.
        """
        return self._combined_scores(video, grid, k=self.k, stride=stride)

    def _combined_scores(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int) -> ClipScores:
        """The combined scores for a selection of ``k`` clips (``k`` matters only to AV-union-list's default K')."""
        scored = scored_grid(grid, stride).index
        # Without a sound track the visual ranking decides; an audio sampler alone handles it its own way.
        use_audio = self.audio is not None and (video.audio is not None or self.visual is None)
        if self.audio is not None and not use_audio:
            warnings.warn(
                f"{video.path}: has no audio track, so {self.name} ranks its clips by the visual sampler "
                f"{self.visual.name!r} alone, without its audio sampler {self.audio.name!r} ({self.combination}); "
                "give the video a sound track, or choose its clips with a visual sampler.",
                DataWarning,
                stacklevel=3,
            )
        visual, audio = self._part_scores(video, grid, stride=stride, use_audio=use_audio)
        visual = None if visual is None else _on_grid(visual, grid, scored)
        audio = None if audio is None else _on_grid(audio, grid, scored)
        if visual is None:
            return audio
        if audio is None:
            return visual
        return combine_scores(
            visual,
            audio,
            combination=self.combination,
            k_prime=self._k_prime_for(k),
            alpha=self.alpha,
            normalisation=self.normalisation,
        )

    def _part_scores(self, video: VideoInfo, grid: ClipGrid, *, stride: int, use_audio: bool) -> tuple[ClipScores | None, ClipScores | None]:
        """The visual and the audio sampler's scores; with both, the audio's are computed in a thread meanwhile.

        The two read the file separately (the visual sampler its video stream, the audio one its sound track),
        and FFmpeg's decoding and PyTorch's kernels release the GIL, so on two cores the audio's decoding and
        log-MEL overlap the visual sampler's decoding pass (measured in docs/models.md). The two share torch's
        intra-op threads (:class:`~scsampler.signals._threads.ThreadShare`: half each while both run, all of
        them for the one left): with both pools as wide as the machine, their threads fought the other
        part's decoding for the cores (the demo's pair, 5-minute video: 1.13 s together, 0.97 s on one
        thread each). Each part's scores are what it gives alone; an error in either is raised here.
        """
        if self.visual is None or not use_audio:
            visual = None if self.visual is None else self.visual.score(video, grid, stride=stride)
            return visual, self.audio.score(video, grid, stride=stride) if use_audio else None
        import torch  # here: the command line's start-up imports this module, not torch

        from scsampler.signals._threads import ThreadShare, torch_threads

        share = ThreadShare(torch.get_num_threads(), parts=2)

        def on_share(part: ScoringSampler) -> ClipScores:
            with share.part():
                return part.score(video, grid, stride=stride)

        # each part sets its thread's count as its share changes: torch_threads puts the caller's back after
        with torch_threads(share.total), ThreadPoolExecutor(max_workers=1, thread_name_prefix="scsampler-audio") as pool:
            audio = pool.submit(on_share, self.audio)
            visual = on_share(self.visual)  # an error here waits for the audio's end, then rises
            return visual, audio.result()

    def select(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int = 1) -> ClipSelection:
        """The top ``k`` clips among those scored under ``stride`` (pass its own with
        :func:`~scsampler.samplers.base.resolve_k_and_stride`)."""
        return self.score_and_select(video, grid, k=k, stride=stride).selection

    def score_and_select(self, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int = 1) -> "SampledClips":
        """:meth:`select`, keeping the combined scores it chose from."""
        check_k(k)  # before scoring; the stride is checked where the clips are strided (scored_grid)
        self._check_k_prime_fits(k)
        scores = self._combined_scores(video, grid, k=k, stride=stride)
        return SampledClips(_top_k(scores, k=k, strategy=self.name, min_gap_s=self.min_gap_s), scores)

    # --- bundle protocol -------------------------------------------------------------------------

    def to_bundle(self, bundle: BundleWriter) -> dict:
        return {
            "visual": None if self.visual is None else bundle.save(self.visual, "visual"),
            "audio": None if self.audio is None else bundle.save(self.audio, "audio"),
            "name": self.name if self.name != self._default_name() else "",
            **self.settings(),
        }

    @classmethod
    def from_bundle(cls, config: dict, bundle: BundleReader, **options: Any) -> "CompositeSampler":
        own = {key: options.pop(key) for key in list(options) if key in _SETTINGS}
        visual = None if config.get("visual") is None else bundle.load(config["visual"], "visual", **options)
        audio = None if config.get("audio") is None else bundle.load(config["audio"], "audio", **options)
        settings = {key: config[key] for key in _SETTINGS if key in config}
        settings.update(own)
        return cls(visual, audio, name=config.get("name", ""), **settings)

    def __repr__(self) -> str:
        return f"CompositeSampler({self.name!r}, k={self.k}, stride={self.stride}, min_gap_s={self.min_gap_s:g})"


def _on_grid(scores: ClipScores, grid: ClipGrid, scored: np.ndarray) -> ClipScores:
    """A component's scores narrowed to the strided clips and counted against the whole grid.

    Narrowing keeps "only scored clips are chosen" even for a component that
    ignores the stride; the clip count is the grid's (``ClipGrid.num_clips``),
    whatever count the component gave.
    """
    scores = scores.subset(scored)
    num_clips = grid.num_clips
    if len(scores) != len(scored):
        missing = sorted(set(scored.tolist()) - set(scores.index.tolist()))[:5]
        raise UsageError(
            f"the sampler {scores.source!r} left out clips it was asked to score (the first: {missing}); "
            "a sampler must score every clip at grid positions 0, N, 2N, ... of its stride N."
        )
    if num_clips == scores.num_clips:
        return scores
    return dataclasses.replace(scores, num_clips=num_clips)


@dataclass(frozen=True)
class SampledClips:
    """A selection with the scores it was made from (None for samplers that choose without scores)."""

    selection: ClipSelection
    scores: ClipScores | None


def score_and_select(sampler: ClipSampler, video: VideoInfo, grid: ClipGrid, *, k: int | None, stride: int) -> SampledClips:
    """Run ``sampler`` on one video and keep its scores, scoring each clip once.

    ``k`` and ``stride`` are numbers (resolve ``"own"`` first with
    :func:`~scsampler.samplers.base.resolve_k_and_stride`).
    """
    if isinstance(sampler, CompositeSampler):
        return sampler.score_and_select(video, grid, k=k, stride=stride)
    if isinstance(sampler, ScoringSampler) and type(sampler).select is ScoringSampler.select:
        check_k(k)
        scores = sampler.score(video, grid, stride=stride)
        return SampledClips(_top_k(scores, k=k, strategy=sampler.name), scores)
    return SampledClips(sampler.select(video, grid, k=k, stride=stride), None)
