"""Ray for this package's Ray Data runs: joined or started quietly, configured once, stopped cleanly.

    >>> with ray_data_session(logical_cpus=4, needed_for="--engine ray") as ray:
    ...     rows = ray.data.from_items([...]).map_batches(...).iter_rows()

Used by the pipeline's Ray engine and by ``classify``'s whole-video workers (``--k auto``).
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import warnings
from collections.abc import Iterator

import torch

from scsampler.errors import UsageError

__all__ = ["ray_data_session"]


@contextlib.contextmanager
def ray_data_session(*, logical_cpus: int, needed_for: str) -> Iterator:
    """Yield the ``ray`` module with a runtime up and Ray Data set for ordered, quiet runs.

    Joins the cluster ``RAY_ADDRESS`` names, else starts a local runtime of ``logical_cpus``
    logical CPUs (enough for every stage's actors); a runtime this call started is shut down on
    exit, and what Ray changed in this process is undone. ``needed_for`` names the option that
    needs Ray, for the error of an install without it.
    """
    try:
        import ray
        import ray.data
    except ImportError:  # pragma: no cover - ray is a dependency; this guards a trimmed install
        raise UsageError(f"{needed_for} needs Ray (pip install 'ray[data]').") from None
    started_here = not ray.is_initialized()
    kept = {"print": builtins.print, "threads": torch.get_num_threads()}
    if started_here:
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=False, logging_level=logging.ERROR)
        else:
            ray.init(num_cpus=logical_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        with warnings.catch_warnings():
            # Ray Data warns about its own deprecated settings whenever its context is built, and
            # about the keyword its own documentation gives for max_restarts
            warnings.filterwarnings("ignore", module=r"ray\.")
            warnings.filterwarnings("ignore", message=r".*ray_remote_args.* is deprecated")
            context = ray.data.DataContext.get_current()
            context.execution_options.preserve_order = True  # results in input order
            context.enable_progress_bars = False  # the caller shows its own
            logging.getLogger("ray.data").setLevel(logging.ERROR)
            yield ray
    finally:
        if started_here:
            ray.shutdown()
            # Ray replaces builtins.print with its own (ray.experimental.tqdm_ray.safe_print) and leaves it
            # there after shutdown: a caller's later prints and pickles should not carry it
            builtins.print = kept["print"]
            torch.set_num_threads(kept["threads"])
