"""The gradient view computed in a worker: the keys go on while it computes, and a picture only ever
shows for the request it was computed for (its step, target, trace).

``compute`` is held at a gate per step that the test opens (no clocks involved), so each key comes in
while a computation is known to be under way.
"""

from __future__ import annotations

import io
import threading

import pytest
from conftest import settle
from rich.console import Console

from lstm_tui.app import LstmApp
from lstm_tui.core import random_model
from lstm_tui.render import gradient_flow
from lstm_tui.widgets import gradient_view
from lstm_tui.widgets.gradient_view import GradientView

TEXT = "the quick brown fox jumps over the lazy dog"


@pytest.fixture
def held(monkeypatch):
    """Every gradient picture computed in the worker, each held until its step's gate is opened
    (``held.open(k)``, 0-based); ``held.seen`` lists the steps the worker started on."""
    gates: dict[int, threading.Event] = {}
    stop, seen = threading.Event(), []
    real = gradient_flow.compute

    def gate(k: int) -> threading.Event:
        return gates.setdefault(k, threading.Event())

    def compute(request, cache=(None,) * 4, cancelled=lambda: False):
        seen.append(request.k)
        while not gate(request.k).wait(0.01) and not stop.is_set():
            pass  # held even when cancelled: its answer must still not show
        return real(request, cache)

    monkeypatch.setattr(gradient_view, "compute", compute)
    monkeypatch.setattr(GradientView, "SYNC_SECONDS", -1.0)  # every picture in the worker
    monkeypatch.setattr(GradientView, "SETTLE_SECONDS", 0.0)
    compute.open, compute.seen = (lambda k: gate(k).set()), seen
    yield compute
    stop.set()


def head(app) -> str:
    return str(app.query_one("#grad-head").render())


def body(app) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(app.query_one("#grad-body").content)
    return console.export_text()


def want_label(app, k: int) -> str:
    return f"at step {k + 1} ="


async def test_the_step_moves_while_the_gradients_are_computed_and_a_stale_picture_never_shows(held):
    app = LstmApp(random_model(hidden=8, seed=0), text=TEXT)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "n", "5")
        await settle(pilot, lambda: 2 in held.seen)
        assert "computing the gradients at step 3…" in head(app)
        await pilot.press("n", "n")  # while step 3's is held: the keys are taken at once
        assert app.k == 4 and "t = 5 /" in str(app.query_one("#status").render())
        assert "at step 5…" in head(app)
        held.open(2)  # the old computation ends: superseded, its picture is not drawn
        for _ in range(10):
            await pilot.pause(0.01)
        view = app.query_one(GradientView)
        assert "computing" in head(app) and view._shown is None
        # a late answer for another step that does reach the view is dropped there
        stale = gradient_flow.compute(gradient_flow.GradientRequest(app.model, app.trace, 3, None, False))
        view.post_message(GradientView.Computed(stale))
        for _ in range(5):
            await pilot.pause(0.01)
        assert "computing" in head(app) and view._shown is None
        held.open(4)
        await settle(pilot, lambda: want_label(app, 4) in head(app))
        assert view._shown.request.k == 4 and "computing" not in head(app)
        assert "saliency" in body(app) and not view.has_class("-stale")
        assert 3 not in held.seen  # step 4 passed by before its worker began: never computed

        await pilot.press("n")  # the picture of step 5 stays, dimmed, while step 6's is computed
        assert "at step 6…" in head(app) and "dimmed: step 5" in head(app)
        assert view.has_class("-stale") and not view.has_class("-blank") and "saliency" in body(app)
        held.open(5)
        await settle(pilot, lambda: want_label(app, 5) in head(app))
        assert not view.has_class("-stale")

        await pilot.press("p")  # back to step 5: asked for again (its gate is open)
        held.open(4)
        await settle(pilot, lambda: want_label(app, 4) in head(app))


async def test_a_new_input_while_computing_shows_nothing_of_the_old_one(held):
    app = LstmApp(random_model(hidden=8, seed=0), text=TEXT)
    async with app.run_test(size=(120, 40)) as pilot:
        held.open(0)
        await pilot.press("5")
        await settle(pilot, lambda: want_label(app, 0) in head(app))
        old = app.trace
        await pilot.press("end")
        await settle(pilot, lambda: len(old.tokens) - 1 in held.seen)
        await pilot.press("slash", *"abc", "enter")  # a new input: step 1 of it, computed meanwhile
        assert app.trace is not old and app.k == 0
        view = app.query_one(GradientView)
        assert "computing" in head(app) and view.has_class("-blank") and "dimmed" not in head(app)
        held.open(len(old.tokens) - 1)  # the old input's last step ends; then the new input's step 1 (open)

        def drawn() -> bool:
            assert want_label(app, len(old.tokens) - 1) not in head(app)  # never the old input's picture
            return want_label(app, 0) in head(app)

        await settle(pilot, drawn)
        assert view._shown.request.trace is app.trace


async def test_an_error_in_the_worker_is_one_line_in_the_view(held, monkeypatch):
    def broken(request, cache=(None,) * 4, cancelled=lambda: False):
        raise RuntimeError("backward pass bug\nsecond line")

    monkeypatch.setattr(gradient_view, "compute", broken)
    app = LstmApp(random_model(hidden=8, seed=0), text=TEXT)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "5")
        await settle(pilot, lambda: "backward pass bug" in body(app))
        assert body(app).strip() == "gradients not computed (RuntimeError: backward pass bug"
        assert "at step 2:" in head(app) and app.is_running
        await pilot.press("n")
        await settle(pilot, lambda: "at step 3:" in head(app))
        assert app.is_running and app.k == 2


async def test_a_long_trace_is_computed_in_the_worker_and_a_short_one_at_once(monkeypatch):
    """With the real sizes: a short full trace is drawn in the same frame as the key (the snapshots rely
    on it); a long one, kept as checkpoints, goes to the worker and comes after."""
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)  # kept as checkpoints
    real, on_main = gradient_flow.compute, []

    def spy(request, cache=(None,) * 4, cancelled=lambda: False):
        on_main.append(threading.current_thread() is threading.main_thread())
        return real(request, cache, cancelled)

    monkeypatch.setattr(gradient_view, "compute", spy)
    long = (TEXT + " ") * 80
    app = LstmApp(random_model(hidden=64, seed=0), text=long)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.tracing is None and app.trace.steps == len(long))
        await pilot.press("end", "5")
        await settle(pilot, lambda: want_label(app, len(long) - 1) in head(app))
        assert "a long trace: steps" in head(app) and on_main == [False]
        await pilot.press("slash", *"short", "enter")
        assert want_label(app, 0) in head(app) and on_main == [False, True]  # no pause: drawn with the key
