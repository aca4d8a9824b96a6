"""A sampler as a user names it: a registered or saved sampler, optionally combined with an audio sampler.

.. code-block:: python

    sampler = build_sampler("runs/demo/visual-sampler/sampler", audio="loudness", combination="union")
    k, stride = resolve_k_and_stride(sampler)     # its own K and N: the composite's, 10 and 1 by default
    sampled = score_and_select(sampler, info, grid, k=k, stride=stride)

What ``scsampler select`` and ``scsampler classify`` do with ``--sampler``, ``--audio-sampler``,
``--combine`` and the rest, for Python users too.
"""

from __future__ import annotations

from scsampler.samplers.base import ClipSampler, Own
from scsampler.samplers.composite import CompositeSampler
from scsampler.samplers.registry import get_sampler

__all__ = ["build_sampler"]


def build_sampler(
    sampler: str | ClipSampler,
    *,
    audio: str | ClipSampler | None = None,
    combination: str | None = None,
    k: int | None | Own = "own",
    stride: int | Own = "own",
    k_prime: int | None = None,
    alpha: float | None = None,
    min_gap_s: float | None = None,
    seed: int = 0,
    backend: str = "eager",
) -> ClipSampler:
    """The sampler ``sampler`` names (a registered name or a saved sampler's path), with the given settings.

    A saved composite keeps its parts and settings except those given. Another sampler stays as it
    is unless an ``audio`` sampler or a combination setting is given; then it becomes the visual
    side of a new :class:`CompositeSampler`. ``k`` and ``stride`` set a composite's own K and N
    (``"own"``: left as they are; ``k=None``: every clip); a plain sampler has none, so there they
    are only what :func:`~scsampler.samplers.base.resolve_k_and_stride` is asked for.
    ``combination``, ``k_prime``, ``alpha`` and ``min_gap_s`` None are left as they are (a saved
    composite's, else :class:`CompositeSampler`'s defaults). ``seed`` seeds the random sampler;
    ``backend`` runs the learned networks inside, if any (``eager`` or ``onnx``:
    :mod:`scsampler.models.sampler_backends`).

    Bad names and settings raise :class:`~scsampler.errors.UsageError` here, before any video is read.
    """
    from scsampler.models.sampler_backends import check_sampler_backend
    from scsampler.samplers.learned import apply_sampler_backend

    if isinstance(sampler, str):
        sampler = get_sampler(sampler, **({"seed": seed} if sampler == "random" else {}))
    if isinstance(audio, str):
        audio = get_sampler(audio)
    given = {"combination": combination, "k_prime": k_prime, "alpha": alpha, "min_gap_s": min_gap_s}
    changes = {name: value for name, value in given.items() if value is not None}
    own = {name: value for name, value in (("k", k), ("stride", stride)) if not (isinstance(value, str) and value == "own")}
    if isinstance(sampler, CompositeSampler):
        sampler = sampler.replace(**changes, **own, **({"audio": audio} if audio is not None else {}))
    elif audio is not None or changes:
        sampler = CompositeSampler(sampler, audio, **changes, **own)
    apply_sampler_backend(sampler, check_sampler_backend(backend))
    return sampler
