"""``prefetched``: an iterator's next items made in a thread while the caller works on the current one.

For a producer whose work releases the GIL (FFmpeg decoding clips) beside a consumer whose work
does too (PyTorch kernels classifying them): on a CPU the two then overlap instead of taking turns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")

_ITEM, _ERROR, _END = "item", "error", "end"


def prefetched(items: Iterable[T], *, depth: int = 1, name: str = "scsampler-prefetch") -> Iterator[T]:
    """Yield ``items`` in their order, the next ``depth`` of them made ahead in a thread named ``name``.

    An exception raised while making an item is raised here, in its place (the items before it are
    yielded first). Closing this generator early (a ``break``, an error in the caller) stops the thread
    before it starts another item and waits for the one under way, so nothing runs on after the caller.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}.")
    ready: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        source = iter(items)
        try:
            while not stop.is_set():
                try:
                    item = next(source)
                except StopIteration:
                    ready.put((_END, None))
                    return
                ready.put((_ITEM, item))
        except BaseException as error:  # raised again in the caller's thread
            ready.put((_ERROR, error))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        # The producer may be blocked on a full queue: empty it so its last put returns and it sees ``stop``.
        while worker.is_alive():
            try:
                ready.get(timeout=0.01)
            except queue.Empty:
                pass
        worker.join()
