"""Torch's intra-op threads for a stretch of work: small tensor work on one thread, parts side by side on a share each.

On a busy machine a thread pool spins more than it saves: the log-MEL and the decoding passes (each image
shrunk as it is taken) run on one thread, and the parts of a composite sampler, run side by side, share the
threads (:class:`ThreadShare`).
"""

from __future__ import annotations

import collections
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Sequence, TypeVar

import torch

__all__ = ["torch_threads", "one_torch_thread", "ThreadShare", "take_thread_share", "run_side_by_side", "side_by_side_threads"]

T = TypeVar("T")


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
        self._boards: list[_TaskBoard] = []  # tasks a running part offers (run_side_by_side) to the parts that end

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
                boards = list(self._boards)
            for board in boards:  # an ended part's thread takes the tasks the others still have waiting
                board.work()

    def _offer(self, board: "_TaskBoard") -> None:
        with self._lock:
            self._boards.append(board)

    def _withdraw(self, board: "_TaskBoard") -> None:
        with self._lock:
            self._boards.remove(board)


def take_thread_share() -> None:
    """Set this thread's torch threads to its part's share now; nothing outside a :meth:`ThreadShare.part`."""
    share = getattr(_current, "share", None)
    if share is not None:
        wanted = share.threads()
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)


def side_by_side_threads() -> int:
    """How many threads :func:`run_side_by_side` starts with here: in a part of a :class:`ThreadShare`, the part's
    share now (the others' threads join as they end); elsewhere torch's intra-op thread count."""
    share = getattr(_current, "share", None)
    return share.threads() if share is not None else torch.get_num_threads()


def run_side_by_side(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Every task's result, in order, from tasks run side by side; the first failed task's error (in order)
    is raised once all have ended.

    This thread runs tasks too, with as many more as its threads allow: in a part of a :class:`ThreadShare`,
    its share now, and the threads of the parts that end meanwhile take the tasks left waiting; elsewhere
    torch's intra-op thread count, the CPU the caller gives torch.
    """
    board = _TaskBoard(tasks)
    share = getattr(_current, "share", None)
    extra = max(0, min(side_by_side_threads(), len(tasks)) - 1)
    if share is not None:
        share._offer(board)
    helpers = ThreadPoolExecutor(max_workers=extra, thread_name_prefix="scsampler-side") if extra else contextlib.nullcontext()
    try:
        with helpers:
            for _ in range(extra):
                helpers.submit(board.work)
            board.work()
            return board.results()
    finally:
        if share is not None:
            share._withdraw(board)


class _TaskBoard:
    """Tasks that any thread may take, one at a time, until none is left waiting."""

    def __init__(self, tasks: Sequence[Callable[[], T]]) -> None:
        self._waiting = collections.deque(enumerate(tasks))
        self._results: list = [None] * len(tasks)
        self._errors: list[BaseException | None] = [None] * len(tasks)
        self._left = len(tasks)
        self._changed = threading.Condition()

    def work(self) -> None:
        """Run waiting tasks in this thread until none is left waiting."""
        while True:
            with self._changed:
                if not self._waiting:
                    return
                position, task = self._waiting.popleft()
            try:
                self._results[position] = task()
            except BaseException as error:  # raised in the thread that posted the tasks
                self._errors[position] = error
            with self._changed:
                self._left -= 1
                self._changed.notify_all()

    def results(self) -> list:
        """The results in order once every task has ended; the first error (in order) raised instead."""
        with self._changed:
            self._changed.wait_for(lambda: self._left == 0)
        for error in self._errors:
            if error is not None:
                raise error
        return self._results
