"""core.windows: the kept windows of a long run, shared between threads, and their prefetch."""

from __future__ import annotations

import threading
import time

import pytest

from lstm_tui.core.windows import Windows


class Slow:
    """A compute function that records its calls and, for the windows in ``held``, waits to be released."""

    def __init__(self, held=()) -> None:
        self.calls: list[tuple[int, str]] = []
        self.held = set(held)
        self.release = threading.Event()
        self.started = threading.Event()
        self.fail = set()

    def __call__(self, w: int):
        self.calls.append((w, threading.current_thread().name))
        if w in self.held:
            self.started.set()
            self.release.wait(10)
        if w in self.fail:
            raise ValueError(f"window {w} cannot be computed")
        return f"window {w}"


def test_get_keeps_the_last_windows_and_recomputes_the_rest():
    compute = Slow()
    windows = Windows(compute, size=2)
    assert [windows.get(w) for w in (0, 1, 0, 2)] == ["window 0", "window 1", "window 0", "window 2"]
    assert [w for w, _ in compute.calls] == [0, 1, 2]  # 0 read again from the cache
    assert windows.cached(0) and windows.cached(2) and not windows.cached(1)  # 1 least recently used
    assert windows.get(5, keep=False) == "window 5" and not windows.cached(5)
    assert windows.peek(1) is None and windows.peek(2) == "window 2"


def test_a_window_another_thread_is_computing_is_waited_for_not_computed_twice():
    compute = Slow(held={3})
    windows = Windows(compute, size=4)
    other = threading.Thread(target=windows.get, args=(3,))
    other.start()
    assert compute.started.wait(5)
    got: list = []
    reader = threading.Thread(target=lambda: got.append(windows.get(3)))
    reader.start()
    reader.join(0.1)
    assert reader.is_alive() and not got  # waiting for the other thread's result
    compute.release.set()
    reader.join(5)
    other.join(5)
    assert got == ["window 3"] and [w for w, _ in compute.calls] == [3]


def test_prefetch_computes_in_a_background_thread_in_the_order_given():
    compute = Slow()
    windows = Windows(compute, size=8)
    windows.get(1)
    windows.prefetch([4, 1, 2])  # 1 is kept already
    windows.wait([4, 2], 5)
    assert windows.cached(4) and windows.cached(2)
    assert compute.calls[1:] == [(4, "lstm-tui-prefetch"), (2, "lstm-tui-prefetch")]


def test_a_new_prefetch_drops_the_windows_of_the_last_not_yet_begun():
    compute = Slow(held={0})
    windows = Windows(compute, size=8)
    windows.prefetch([0, 1, 2])
    assert compute.started.wait(5)  # 0 begun, 1 and 2 waiting
    windows.prefetch([7])
    compute.release.set()
    windows.wait([0, 7], 5)
    time.sleep(0.05)
    assert [w for w, _ in compute.calls] == [0, 7]


def test_wait_is_bounded_and_ignores_windows_nobody_computes():
    compute = Slow(held={6})
    windows = Windows(compute, size=8)
    t0 = time.perf_counter()
    windows.wait([9], 5)  # not asked for: nothing to wait for
    assert time.perf_counter() - t0 < 1
    windows.prefetch([6])
    assert compute.started.wait(5)
    t0 = time.perf_counter()
    windows.wait([6], 0.05)
    assert 0.04 < time.perf_counter() - t0 < 2 and not windows.cached(6)  # gave up after the bound
    compute.release.set()
    windows.wait([6], 5)
    assert windows.cached(6)


def test_a_failed_prefetch_leaves_the_error_to_the_reader_and_prefetches_again():
    compute = Slow()
    compute.fail = {2}
    windows = Windows(compute, size=8)
    windows.prefetch([2, 3])
    windows.wait([2, 3], 5)
    assert windows.cached(3) and not windows.cached(2)  # went on past the failure
    with pytest.raises(ValueError, match="window 2"):
        windows.get(2)
    windows.prefetch([4])
    windows.wait([4], 5)
    assert windows.cached(4)


def test_wait_sees_a_window_the_prefetch_has_taken_but_not_begun(monkeypatch):
    """The prefetch thread may be held up between taking a window off its list and computing it:
    a wait in that moment still waits for the window."""
    windows = Windows(Slow(), size=8)
    real_get = windows.get

    def late_get(w, keep=True):
        if threading.current_thread().name == "lstm-tui-prefetch":
            time.sleep(0.1)  # descheduled, as a busy machine does
        return real_get(w, keep)

    monkeypatch.setattr(windows, "get", late_get)
    windows.prefetch([2])
    time.sleep(0.03)  # the window taken off the list by now
    windows.wait([2], 5)
    assert windows.cached(2)
