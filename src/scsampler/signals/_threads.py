"""Torch's intra-op threads for a stretch of work: small tensor work on one thread, parallel parts on a share each.

On a busy machine a thread pool spins more than it saves: the log-MEL runs on one thread, and a
composite sampler's two parts, run at once, take half the threads each.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the enclosed torch operations on ``count`` intra-op threads, then restore the setting.

    Threads started inside take ``count`` too (torch gives a new thread the process's setting).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(count)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def one_torch_thread() -> contextlib.AbstractContextManager[None]:
    """Run the enclosed torch operations on one intra-op thread, then restore the setting."""
    return torch_threads(1)
