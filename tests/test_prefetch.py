"""``prefetched``: order, errors in place, an early stop that leaves no thread behind, and the work overlapping."""

from __future__ import annotations

import threading

import pytest

from scsampler._prefetch import prefetched


def test_yields_every_item_in_order():
    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))
    assert list(prefetched([])) == []


def test_an_error_is_raised_in_place_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise OSError("damaged chunk")

    got = []
    with pytest.raises(OSError, match="damaged chunk"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_stops_the_thread_and_closes_the_source():
    made = []
    closed = threading.Event()

    def items():
        try:
            for i in range(1000):
                made.append(i)
                yield i
        finally:
            closed.set()

    stream = prefetched(items(), depth=2, name="test-prefetch")
    assert next(stream) == 0
    stream.close()
    assert closed.is_set()
    assert len(made) <= 4  # the one taken, two ready, at most one under way: not the whole source
    assert not any(t.name == "test-prefetch" for t in threading.enumerate())


def test_the_next_item_is_made_while_the_caller_works():
    # The producer can only make item 1 while the caller still holds item 0: a prefetcher that
    # made items on demand, in the caller's thread, would wait forever here (the timeout fails it).
    caller_has_item_0 = threading.Event()
    item_1_made_meanwhile = threading.Event()

    def items():
        yield 0
        assert caller_has_item_0.wait(timeout=10)
        yield 1
        item_1_made_meanwhile.set()  # runs once the queue has room for item 1, i.e. while the caller works on 0
        yield 2

    stream = prefetched(items(), depth=1)
    assert next(stream) == 0
    caller_has_item_0.set()
    assert item_1_made_meanwhile.wait(timeout=10)
    assert list(stream) == [1, 2]


@pytest.mark.parametrize("depth", [0, -1, 1.5, True])
def test_depth_must_be_a_positive_integer(depth):
    with pytest.raises(ValueError, match="depth"):
        list(prefetched([1], depth=depth))
