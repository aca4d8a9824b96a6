"""run_side_by_side: tasks on the threads a caller may use, and the threads of a composite's parts that have ended."""

from __future__ import annotations

import threading

import pytest
import torch

from scsampler.signals._threads import ThreadShare, run_side_by_side, side_by_side_threads, torch_threads


def test_results_come_in_order_from_as_many_threads_as_torch_may_use():
    started = threading.Barrier(2, timeout=10)  # both threads must run a task at the same time

    def task(value: int):
        def run():
            if value < 2:
                started.wait()  # the first two tasks meet: two threads run them
            return value * value, threading.get_ident()

        return run

    with torch_threads(2):
        assert side_by_side_threads() == 2
        results = run_side_by_side([task(value) for value in range(6)])
    assert [square for square, _ in results] == [0, 1, 4, 9, 16, 25]
    assert threading.get_ident() in {ident for _, ident in results}  # the caller's thread works too
    assert len({ident for _, ident in results[:2]}) == 2


def test_on_one_thread_the_tasks_run_in_the_callers_thread():
    with torch_threads(1):
        results = run_side_by_side([threading.get_ident for _ in range(3)])
    assert set(results) == {threading.get_ident()}


def test_the_first_error_in_order_is_raised_after_every_task_has_ended():
    ran: list[int] = []

    def task(value: int):
        def run():
            ran.append(value)
            if value in (1, 3):
                raise ValueError(f"task {value}")
            return value

        return run

    with torch_threads(2), pytest.raises(ValueError, match="task 1"):
        run_side_by_side([task(value) for value in range(5)])
    assert sorted(ran) == [0, 1, 2, 3, 4]


def test_a_part_that_ends_takes_the_tasks_another_part_still_has_waiting():
    """Two parts with a share of one thread each: the first offers tasks and runs them on its own thread; the
    second, once ended, runs those still waiting on its thread (the first task waits until it has)."""
    share = ThreadShare(total=2, parts=2)
    offered, helped = threading.Event(), threading.Event()
    helper_thread: list[int] = []

    def other_part():
        with share.part():
            helper_thread.append(threading.get_ident())
            offered.wait(timeout=10)
        # leaving the part ran the waiting tasks here

    def task(value: int):
        def run():
            if value == 0:
                offered.set()
                assert helped.wait(timeout=10), "the ended part took no task"
            elif threading.get_ident() == helper_thread[0]:
                helped.set()
            return value, threading.get_ident()

        return run

    helper = threading.Thread(target=other_part)
    helper.start()
    with share.part():
        assert side_by_side_threads() == 1  # the other part still runs: no thread of its own to start
        results = run_side_by_side([task(value) for value in range(4)])
    helper.join(timeout=10)
    assert [value for value, _ in results] == [0, 1, 2, 3]
    assert results[0][1] == threading.get_ident() and helper_thread[0] in {ident for _, ident in results[1:]}
