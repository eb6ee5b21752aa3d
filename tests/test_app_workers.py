"""The app's workers against what the user does meanwhile: watches pinned and unpinned while the
watch worker computes a long trace's series.

Every worker here waits on a gate the test opens (no clocks involved): the user's keys come in
while it is known to be running.
"""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from rich.console import Console
from textual.worker import get_current_worker

from lstm_tui.app import LstmApp, watching
from lstm_tui.core import random_model
from lstm_tui.core.checkpoint import CheckpointedTrace
from lstm_tui.core.watches import watch

LONG = ("the quick brown fox jumps over the lazy dog. " * 80)[:3000]


async def settle(pilot, until, tries: int = 500) -> None:
    """Let the app handle the workers' news until ``until()`` holds."""
    for _ in range(tries):
        if until():
            return
        await pilot.pause(0.01)
    raise AssertionError("the app never got there")


def text_of(renderable, width: int = 160) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def type_watch(pilot, text: str) -> None:
    await pilot.press("W", *text, "enter")
    await pilot.pause()


# ---------------------------------------------------------------------------
# Watches of a long trace: computed in a worker


@pytest.fixture
def gated_watch(monkeypatch):
    """``watch`` as the app calls it, held in a worker thread until ``open`` is set (or the worker is
    cancelled); ``seen`` lists the expressions the worker started on."""
    opened, stop, seen = threading.Event(), threading.Event(), []
    real = watching.watch

    def held(trace, text, layer, vocab=None, progress=None):
        if threading.current_thread() is not threading.main_thread():
            seen.append(text)
            cancelled = get_current_worker().is_cancelled
            while not opened.wait(0.01) and not stop.is_set():
                if cancelled:
                    break
                cancelled = get_current_worker().is_cancelled
        return real(trace, text, layer, vocab=vocab, progress=progress)

    monkeypatch.setattr(watching, "watch", held)
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)  # kept as checkpoints: watched in the worker
    held.open, held.seen = opened, seen
    yield held
    stop.set()


def own_series(app, text: str) -> np.ndarray:
    return watch(app.trace, text, 0, vocab=app.model.vocab)


async def test_unpinning_a_watch_while_the_worker_computes_keeps_each_series_under_its_own_label(gated_watch):
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.trace, CheckpointedTrace)
        for text in ("c[1]*o[1]", "max(f)", "h[2]-h[3]"):
            await type_watch(pilot, text)
        assert [w[2] for w in app.watch_exprs] == [None, None, None]  # the worker holds at the first
        await settle(pilot, lambda: "c[1]*o[1]" in gated_watch.seen)
        await type_watch(pilot, "c[1]*o[1]")  # unpinned while the worker is on it
        assert [w[0] for w in app.watch_exprs] == ["max(f)", "h[2]-h[3]"]
        gated_watch.open.set()
        await settle(pilot, lambda: all(w[2] is not None for w in app.watch_exprs))
        for _ in range(5):  # any late news of the old worker
            await pilot.pause(0.01)
        assert app.is_running
        assert [w[0] for w in app.watch_exprs] == ["max(f)", "h[2]-h[3]"]
        for text, _, series in app.watch_exprs:
            np.testing.assert_array_equal(series, own_series(app, text), err_msg=text)
        values = text_of(app.query_one("#watch-values").content)
        assert "c[1]*o[1]" not in values and "max(f)" in values


async def test_pinning_while_the_worker_computes_keeps_the_series_already_computed(gated_watch):
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        gated_watch.open.set()
        await type_watch(pilot, "max(f)")
        await settle(pilot, lambda: app.watch_exprs[0][2] is not None)
        first = app.watch_exprs[0][2]
        gated_watch.open.clear()
        await type_watch(pilot, "h[2]-h[3]")
        await type_watch(pilot, "c[1]")
        assert app.watch_exprs[0][2] is first  # not computed again, nor blanked
        gated_watch.open.set()
        await settle(pilot, lambda: all(w[2] is not None for w in app.watch_exprs))
        for text, _, series in app.watch_exprs:
            np.testing.assert_array_equal(series, own_series(app, text), err_msg=text)
        assert gated_watch.seen.count("max(f)") == 1


async def test_a_failing_watch_in_the_worker_is_said_and_the_app_goes_on(gated_watch, monkeypatch):
    held = watching.watch

    def broken(trace, text, layer, vocab=None, progress=None):
        if text == "max(f)":
            raise RuntimeError("evaluator bug")
        return held(trace, text, layer, vocab=vocab, progress=progress)

    monkeypatch.setattr(watching, "watch", broken)
    gated_watch.open.set()
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_watch(pilot, "max(f)")
        await type_watch(pilot, "c[1]")
        await settle(pilot, lambda: all(w[2] is not None for w in app.watch_exprs))
        assert app.is_running
        (_, _, bad), (_, _, good) = app.watch_exprs
        assert np.isnan(bad).all() and len(bad) == app.trace.steps
        np.testing.assert_array_equal(good, own_series(app, "c[1]"))
        notes = [n.message for n in app._notifications]
        assert any("max(f)" in n and "evaluator bug" in n for n in notes), notes
        await pilot.press("n")
        assert app.k == 1
