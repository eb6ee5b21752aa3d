"""core.blas: BLAS held to one thread, and given back, when contexts of two threads overlap.

Nothing here sets the count from the main thread with threadpoolctl: OpenBLAS then ignores
every other thread's count (see core.blas).
"""

from __future__ import annotations

import threading

import numpy as np  # noqa: F401 (loads the BLAS that threadpoolctl finds)
import pytest

from lstm_tui.core.blas import one_blas_thread

threadpoolctl = pytest.importorskip("threadpoolctl")


def _threads() -> int:
    return max(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")


def test_overlapping_contexts_of_two_threads_give_the_threads_back():
    before = _threads()
    if before < 2:
        pytest.skip("BLAS has one thread here already")
    inside, first_out, done = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def worker():  # enters second and leaves last, as the tracing worker can
        inside.wait()
        with one_blas_thread():
            seen.append(_threads())
            first_out.wait()
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    with one_blas_thread():
        seen.append(_threads())
        inside.set()
        while not seen[1:]:
            threading.Event().wait(0.001)
    seen.append(_threads())  # the worker still holds it
    first_out.set()
    done.wait(5)
    t.join(5)
    assert seen == [1, 1, 1]
    assert _threads() == before


def test_a_context_alone_limits_and_restores():
    before = _threads()
    with one_blas_thread():
        assert _threads() == 1
    assert _threads() == before
