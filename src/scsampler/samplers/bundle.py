"""Save a sampler and load it back: one *bundle* holds its configuration (JSON) and its checkpoints.

A bundle is either

- a folder holding ``sampler.json`` plus whatever checkpoint files its
  components write (a nested component writes into a subfolder named after
  its role, e.g. ``visual/``), or
- a single ``.json`` file, for samplers without checkpoints (zero-training
  samplers, baselines, combinations of them).

``sampler.json`` reads ``{"format": "scsampler-sampler", "version": 1,
"sampler": COMPONENT}`` where a COMPONENT is ``{"kind": ..., "module": ...,
"config": {...}}``.

**The protocol a sampler class follows to be saved** (learned samplers do
this):

.. code-block:: python

    @register_bundle_kind
    class MySampler(ScoringSampler):
        bundle_kind = "my-sampler"                 # unique, stable name

        def to_bundle(self, bundle: BundleWriter) -> dict:
            torch.save(self.net.state_dict(), bundle.path("weights.pt"))
            return {"arch": self.arch}             # JSON-ready

        @classmethod
        def from_bundle(cls, config: dict, bundle: BundleReader, **options) -> "MySampler":
            state = torch.load(bundle.path("weights.pt"), weights_only=True)
            return cls(config["arch"], state, **options)

A component may save its own sub-samplers with ``bundle.save(sampler, role)``
and load them with ``bundle.load(component, role, **options)``. On load, a
kind not yet registered is found by importing the component's ``module``
(only modules inside ``scsampler`` are imported, never one named by an
arbitrary file).

A sampler with no ``to_bundle`` is saved by the name it is registered under
(``get_sampler(name)``), with the keyword options its ``bundle_options()``
method returns if it has one, else the keyword arguments of its constructor
that it keeps as attributes of the same name (e.g. Random's ``seed``). Those
must be plain JSON values. That makes the zero-training samplers and the
baselines saveable as they are.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from scsampler._atomic import write_text_atomically
from scsampler.errors import UsageError
from scsampler.samplers.base import ClipSampler
from scsampler.samplers.registry import get_sampler, list_samplers, load_sampler_modules, register_path_loader

__all__ = [
    "save_sampler",
    "load_sampler",
    "register_bundle_kind",
    "BundleWriter",
    "BundleReader",
    "BUNDLE_FILE",
]

BUNDLE_FILE = "sampler.json"
_FORMAT = "scsampler-sampler"
_VERSION = 1
_REGISTERED = "registered"  # the kind of a sampler saved by its registry name
_FOLDER_MODE = 0o755  # a bundle folder's mode, as _atomic gives its files 0644

Loader = Callable[..., ClipSampler]
_LOADERS: dict[str, Loader] = {}


def register_bundle_kind(cls: type) -> type:
    """Class decorator: samplers of ``cls`` are saved with ``cls.to_bundle`` and loaded with ``cls.from_bundle``."""
    kind = getattr(cls, "bundle_kind", "")
    if not kind or not hasattr(cls, "to_bundle") or not hasattr(cls, "from_bundle"):
        raise TypeError(f"{cls.__name__} needs a bundle_kind name, to_bundle() and from_bundle() to be saved.")
    registered = _LOADERS.get(kind)
    if registered is not None and registered != cls.from_bundle:
        raise ValueError(f"a bundle kind named {kind!r} is already registered.")
    _LOADERS[kind] = cls.from_bundle
    return cls


class BundleWriter:
    """Where a component writes its checkpoints while being saved."""

    def __init__(self, folder: Path | None, *, target: str) -> None:
        self._folder = folder
        self._target = target

    def path(self, name: str) -> Path:
        """The path of a checkpoint file called ``name`` inside the bundle (its folder exists)."""
        if self._folder is None:
            raise UsageError(
                f"{self._target}: this sampler has checkpoint files, which a single .json bundle cannot hold; "
                "save it to a folder instead (a path without .json)."
            )
        _check_relative(name)
        path = self._folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def save(self, sampler: ClipSampler, role: str) -> dict:
        """The component description of a nested ``sampler``; its files go into the subfolder ``role``."""
        _check_relative(role)
        child = None if self._folder is None else self._folder / role
        return _describe(sampler, BundleWriter(child, target=self._target))


class BundleReader:
    """Where a component finds its checkpoints while being loaded."""

    def __init__(self, folder: Path | None, *, source: str) -> None:
        self._folder = folder
        self._source = source

    def path(self, name: str) -> Path:
        """The path of the checkpoint file ``name``; a clear error when the bundle lacks it."""
        _check_relative(name)
        if self._folder is None or not (self._folder / name).is_file():
            raise UsageError(f"{self._source}: the saved sampler needs the file {name!r}, which is missing; save it again.")
        return self._folder / name

    def load(self, component: dict, role: str, **options: Any) -> ClipSampler:
        """The nested sampler that :meth:`BundleWriter.save` described under ``role``."""
        _check_relative(role)
        child = None if self._folder is None else self._folder / role
        return _build(component, BundleReader(child, source=self._source), options)


def _check_relative(name: str) -> None:
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise ValueError(f"bundle file names must be relative paths inside the bundle, got {name!r}.")


def _describe(sampler: ClipSampler, writer: BundleWriter) -> dict:
    """The JSON description of one component (its files written through ``writer``)."""
    cls = type(sampler)
    if hasattr(sampler, "to_bundle") and getattr(cls, "bundle_kind", ""):
        register_bundle_kind(cls)
        return {"kind": cls.bundle_kind, "module": cls.__module__, "config": sampler.to_bundle(writer)}
    return {"kind": _REGISTERED, "module": cls.__module__, "config": _registered_config(sampler, writer)}


def _registered_config(sampler: ClipSampler, writer: BundleWriter) -> dict:
    name = getattr(sampler, "name", "")
    options = dict(sampler.bundle_options()) if hasattr(sampler, "bundle_options") else _keyword_attributes(sampler)
    try:
        json.dumps(options, allow_nan=False)
    except (TypeError, ValueError):
        raise UsageError(
            f"{writer._target}: the sampler {name!r} holds options that are not plain values "
            f"({', '.join(sorted(options))}); it cannot be saved by name."
        ) from None
    if name not in list_samplers():
        raise UsageError(
            f"{writer._target}: cannot save the sampler {type(sampler).__name__} (name {name!r}): it is not "
            "registered by name and has no to_bundle(); register it with register_sampler() or give its class "
            "bundle_kind, to_bundle() and from_bundle()."
        )
    rebuilt = get_sampler(name, **options)
    if type(rebuilt) is not type(sampler):
        raise UsageError(
            f"{writer._target}: the sampler named {name!r} is a {type(sampler).__name__}, but "
            f"get_sampler({name!r}) builds a {type(rebuilt).__name__}; it cannot be saved by name."
        )
    return {"name": name, "options": options}


def _keyword_attributes(sampler: ClipSampler) -> dict:
    """The keyword arguments of the sampler's constructor that it keeps as attributes of the same name
    (e.g. Random's ``seed``): enough to rebuild it with ``get_sampler(name, **options)``."""
    try:
        parameters = inspect.signature(type(sampler).__init__).parameters.values()
    except (TypeError, ValueError):
        return {}
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {
        p.name: getattr(sampler, p.name)
        for p in parameters
        if p.kind in kinds and p.name != "self" and hasattr(sampler, p.name)
    }


def _build(component: dict, reader: BundleReader, options: dict) -> ClipSampler:
    if not isinstance(component, dict) or "kind" not in component:
        raise UsageError(f"{reader._source}: a saved component lacks its 'kind'; the bundle is damaged, save it again.")
    kind = component["kind"]
    config = component.get("config") or {}
    if kind == _REGISTERED:
        try:
            return get_sampler(config["name"], **{**config.get("options", {}), **options})
        except TypeError as error:
            raise UsageError(
                f"{reader._source}: the sampler {config['name']!r} does not take the options "
                f"{sorted(options)} ({error}); drop them."
            ) from None
    if kind not in _LOADERS:
        _import_kind(component.get("module", ""))
    if kind not in _LOADERS:
        raise UsageError(
            f"{reader._source}: unknown sampler kind {kind!r}; this version of scsampler cannot load it "
            f"(known: {', '.join(sorted(_LOADERS)) or 'none'})."
        )
    return _LOADERS[kind](config, reader, **options)


def _import_kind(module: str) -> None:
    """Import the module that registers a kind (only scsampler's own modules)."""
    load_sampler_modules()
    if isinstance(module, str) and (module == "scsampler" or module.startswith("scsampler.")):
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # reported as an unknown kind


def save_sampler(sampler: ClipSampler, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Save ``sampler`` as one bundle at ``path`` (a folder, or a single file when it ends in .json).

    The bundle is written to a temporary name beside ``path`` and moved into
    place at the end, so a crash never leaves half a bundle. An existing
    bundle is replaced only with ``overwrite=True``.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise UsageError(f"{path}: already exists; pass overwrite=True or choose another path.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        if path.is_dir():
            raise UsageError(f"{path}: is a folder; give a file path ending in .json or a folder without .json.")
        document = _document(sampler, BundleWriter(None, target=str(path)))
        _write_json_atomically(document, path)
        return path

    if path.exists() and not (path / BUNDLE_FILE).is_file():
        raise UsageError(f"{path}: exists and is not a saved sampler; it is left alone, choose another path.")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(staging, _FOLDER_MODE)  # it becomes the bundle: readable like any folder, not mkdtemp's 0700
    try:
        document = _document(sampler, BundleWriter(staging, target=str(path)))
        _write_json_atomically(document, staging / BUNDLE_FILE)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "bundle")
            os.replace(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return path


def _document(sampler: ClipSampler, writer: BundleWriter) -> dict:
    return {"format": _FORMAT, "version": _VERSION, "sampler": _describe(sampler, writer)}


def _write_json_atomically(document: dict, path: Path) -> None:
    # through _atomic, like every other output: the file gets its usual mode (0644), not mkstemp's 0600
    write_text_atomically(path, json.dumps(document, indent=2, allow_nan=False) + "\n")


def load_sampler(path: str | os.PathLike, **options: Any) -> ClipSampler:
    """The sampler saved at ``path`` by :func:`save_sampler`; ``options`` go to its loader.

    For a composite sampler, ``options`` may override its own settings (k,
    stride, combination, k_prime, alpha, normalisation, min_gap_s); the others
    are passed on to its components.
    """
    path = Path(path)
    if path.is_dir():
        file, folder = path / BUNDLE_FILE, path
    else:
        file, folder = path, None
    if not file.is_file():
        raise UsageError(f"{path}: no saved sampler here (expected {file}); save one with save_sampler().")
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{file}: not a readable saved sampler ({error}); save it again.") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise UsageError(f"{file}: not a saved scsampler sampler (no format {_FORMAT!r}).")
    if document.get("version") != _VERSION:
        raise UsageError(
            f"{file}: saved sampler format version {document.get('version')!r}, but this scsampler reads "
            f"version {_VERSION}; save it again with this version."
        )
    return _build(document.get("sampler"), BundleReader(folder, source=str(path)), options)


register_path_loader(load_sampler)  # get_sampler(path) loads a saved sampler; the registry never imports this module
