"""Torch's intra-op threads for a stretch of work: small tensor work on one thread, parts side by side on a share each.

On a busy machine a thread pool spins more than it saves: the log-MEL and the decoding passes (each image
shrunk as it is taken) run on one thread, and the parts of a composite sampler, run side by side, share the
threads (:class:`ThreadShare`).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import torch

__all__ = ["torch_threads", "one_torch_thread", "ThreadShare", "take_thread_share"]


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


_current = threading.local()  # .share: the ThreadShare of the part this thread runs, if any


class ThreadShare:
    """Torch's ``total`` intra-op threads shared by ``parts`` run side by side, one Python thread each.

    Each part has an equal share while the others run and takes the rest as they end: with both pools as
    wide as the machine, a light network's threads fought the other part's decoding for the cores, and a
    fixed half left a core idle once the lighter part ended. A part takes its share where it calls
    :func:`take_thread_share` (a learned sampler does before each forward batch).
    """

    def __init__(self, total: int, parts: int) -> None:
        self.total = max(1, int(total))
        self._running = max(1, int(parts))
        self._lock = threading.Lock()

    def threads(self) -> int:
        """The threads each running part may use now."""
        with self._lock:
            return max(1, self.total // self._running)

    @contextlib.contextmanager
    def part(self) -> Iterator[None]:
        """Run one part in this Python thread: on its share from the start, the share given back at its end."""
        _current.share = self
        torch.set_num_threads(self.threads())
        try:
            yield
        finally:
            _current.share = None
            with self._lock:
                self._running = max(1, self._running - 1)


def take_thread_share() -> None:
    """Set this thread's torch threads to its part's share now; nothing outside a :meth:`ThreadShare.part`."""
    share = getattr(_current, "share", None)
    if share is not None:
        wanted = share.threads()
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
