"""The app's workers against what the user does meanwhile: watches pinned and unpinned while the
watch worker computes a long trace's series, and c pressed while a long input is still traced.

Every worker here waits on a gate the test opens (no clocks involved): the user's keys come in
while it is known to be running.
"""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from conftest import settle
from rich.console import Console
from textual.worker import get_current_worker

from lstm_tui.app import LstmApp, watching
from lstm_tui.core import random_model
from lstm_tui.core.breakpoints import compile_breakpoint
from lstm_tui.core.breakpoints import find_next as find_next_full
from lstm_tui.core.checkpoint import CheckpointedTrace
from lstm_tui.core.tracing import TraceBuilder
from lstm_tui.core.watches import watch

LONG = ("the quick brown fox jumps over the lazy dog. " * 80)[:3000]


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


@pytest.fixture
def held_scan(monkeypatch):
    """``scan.find_next`` as the scan worker calls it, held until ``open`` is set; ``steps`` lists the
    lengths of the traces it was called on."""
    from lstm_tui.core import scan

    opened, stop, steps = threading.Event(), threading.Event(), []
    real = scan.find_next

    def slow(trace, *args, **kwargs):
        steps.append(trace.steps)
        worker = get_current_worker()
        while not opened.wait(0.01) and not stop.is_set() and not worker.is_cancelled:
            pass  # (a test that fails lets it go: the app cancels its workers on the way out)
        return real(trace, *args, **kwargs)

    monkeypatch.setattr(scan, "find_next", slow)
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)  # kept as checkpoints: scanned in the worker
    slow.open, slow.steps = opened, steps
    yield slow
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


# ---------------------------------------------------------------------------
# c while a long input is still traced


LIMITS = pytest.mark.parametrize("limit", [10**12, 0], ids=["full", "checkpointed"])


async def start_long(pilot, app, gated) -> int:
    """``LONG`` entered and its first chunk traced: the steps on screen."""
    app.run_text(LONG)
    gated.gate.release()
    await settle(pilot, lambda: app.trace.steps > 0)
    assert app.tracing is not None and app.trace.steps < len(LONG)
    return app.trace.steps


async def scan_waiting(pilot, app, gated, *keys: str) -> None:
    """``LONG`` entered and its first chunk traced, ``keys`` pressed, then c for a token nowhere in the text:
    the scan has covered the steps traced so far and waits for more."""
    await start_long(pilot, app, gated)
    app.breakpoints.append(compile_breakpoint("token == '#'", "lstm", True))
    await pilot.press(*keys, "c")
    await settle(pilot, lambda: app.scanning == app.trace.steps - 1)


def no_breakpoint_said(app) -> bool:
    return any("no breakpoint" in n.message for n in app._notifications)


@LIMITS
async def test_c_while_tracing_finds_a_breakpoint_past_the_steps_traced_so_far(gated, monkeypatch, limit):
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", limit)
    m = random_model(hidden=8, seed=0)
    app = LstmApp(m, text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        done = await start_long(pilot, app, gated)
        bp = compile_breakpoint("t > 2000 and token == 'z'", "lstm", True)
        app.breakpoints.append(bp)
        want = find_next_full(m.trace(LONG), [bp], 0, 0, 1)
        assert want is not None and want >= done
        await pilot.press("c")
        for _ in range(10):
            await pilot.pause(0.01)
        assert not no_breakpoint_said(app)  # the steps not traced yet are not checked
        assert app.scanning is not None and "scanning" in app.status_line()
        for _ in range(20):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None and app.scanning is None)
        assert app.k == want and not no_breakpoint_said(app)
        assert "scanning" not in app.status_line()


@LIMITS
async def test_c_while_tracing_stops_at_a_breakpoint_in_the_steps_traced_at_once(gated, monkeypatch, limit):
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", limit)
    app = LstmApp(random_model(hidden=8, seed=0), text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        await start_long(pilot, app, gated)
        app.breakpoints.append(compile_breakpoint("token == 'q'", "lstm", True))
        await pilot.press("c")
        await settle(pilot, lambda: app.scanning is None)
        assert app.k == LONG.index("q") and app.tracing is not None  # found without waiting for the rest
        await pilot.press("C")
        await settle(pilot, lambda: app.scanning is None)
        assert app.k == LONG.index("q") and no_breakpoint_said(app)  # none before it: the steps before are all traced


@LIMITS
async def test_a_breakpoint_on_the_next_token_at_the_last_step_traced_is_checked_again(gated, monkeypatch, limit):
    """At the last step traced so far the next token is not known yet: a condition on it is checked
    again once the step after it comes in."""
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", limit)
    m = random_model(hidden=8, seed=0)
    app = LstmApp(m, text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        done = await start_long(pilot, app, gated)
        bp = compile_breakpoint(f"t == {done} and next_token == {LONG[done]!r}", "lstm", True)
        app.breakpoints.append(bp)
        assert find_next_full(m.trace(LONG), [bp], 0, 0, 1) == done - 1
        await pilot.press("c")
        for _ in range(10):
            await pilot.pause(0.01)
        assert app.k == 0 and not no_breakpoint_said(app)
        for _ in range(20):
            gated.gate.release()
        await settle(pilot, lambda: app.scanning is None and app.tracing is None)
        assert app.k == done - 1 and not no_breakpoint_said(app)


async def test_c_stops_a_scan_waiting_for_the_trace_and_a_finished_trace_says_no_breakpoint(gated, monkeypatch):
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)
    app = LstmApp(random_model(hidden=8, seed=0), text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        await scan_waiting(pilot, app, gated)
        await pilot.press("c")
        assert app.scanning is None and "scanning" not in app.status_line()
        await pilot.press("c")
        for _ in range(20):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None and app.scanning is None)
        assert app.k == 0 and no_breakpoint_said(app)


async def test_a_scan_outgrown_by_the_trace_goes_on_over_the_new_steps(gated, held_scan):
    """The scan of the steps traced so far ends after more have come in (here: all of them): its
    answer for the shorter trace is not dropped with the status left saying "scanning"."""
    m = random_model(hidden=8, seed=0)
    app = LstmApp(m, text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        done = await start_long(pilot, app, gated)
        bp = compile_breakpoint("t > 2000 and token == 'z'", "lstm", True)
        app.breakpoints.append(bp)
        await pilot.press("c")
        await settle(pilot, lambda: held_scan.steps == [done])  # the scan of the first steps, held
        for _ in range(20):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None)
        held_scan.open.set()
        await settle(pilot, lambda: app.scanning is None)
        assert app.k == find_next_full(m.trace(LONG), [bp], 0, 0, 1) and not no_breakpoint_said(app)
        assert held_scan.steps == [done, len(LONG)]  # then from the end of the first steps over the rest


async def test_a_failing_scan_is_said_and_the_status_line_let_go(monkeypatch):
    from lstm_tui.core import scan

    def broken(*args, **kwargs):
        raise RuntimeError("evaluator bug")

    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)  # a long trace: scanned in the worker
    monkeypatch.setattr(scan, "find_next", broken)
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        app.breakpoints.append(compile_breakpoint("token == 'z'", "lstm", True))
        await pilot.press("c")
        await settle(pilot, lambda: app.scanning is None)
        assert app.is_running and "scanning" not in app.status_line()
        assert any("evaluator bug" in n.message for n in app._notifications)
        await pilot.press("n")
        assert app.k == 1


@LIMITS
async def test_a_watch_pinned_while_tracing_is_of_the_whole_run_once_it_is_traced(gated, monkeypatch, limit):
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", limit)
    app = LstmApp(random_model(hidden=8, seed=0), text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        done = await start_long(pilot, app, gated)
        await type_watch(pilot, "max(f)")
        for _ in range(20):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None)
        await settle(pilot, lambda: app.watch_exprs[0][2] is not None and len(app.watch_exprs[0][2]) > done)
        np.testing.assert_array_equal(app.watch_exprs[0][2], own_series(app, "max(f)"))


async def test_no_breakpoint_is_said_from_the_step_the_scan_set_out_from(gated, monkeypatch):
    """The user moves on while a scan waits for the rest of the input: "no breakpoint after t = …" names
    the step c was pressed at, not the step on screen when the answer comes."""
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)
    app = LstmApp(random_model(hidden=8, seed=0), text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        await scan_waiting(pilot, app, gated, "n", "n")
        await pilot.press("n", "n", "n")
        assert app.k == 5 and app.scanning is not None
        for _ in range(20):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None and app.scanning is None)
        said = [n.message for n in app._notifications if "no breakpoint" in n.message]
        assert said == ["no breakpoint holds after t = 3"], said


async def test_a_failing_trace_worker_is_said_and_the_app_goes_on(gated, monkeypatch):
    """A failure past the first chunk (a bug, or memory) ends the tracing with a message: the app stays up
    with the steps traced so far, and takes the next input."""
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)

    def broken(self, seconds=0.05, max_steps=None):
        raise MemoryError("no room for the next window")

    app = LstmApp(random_model(hidden=8, seed=0), text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        done = await start_long(pilot, app, gated)
        monkeypatch.setattr(gated, "advance", broken)  # from the next chunk after the one held now
        gated.gate.release()
        await settle(pilot, lambda: app.tracing is None)
        assert app.is_running and done <= app.trace.steps < len(LONG)
        assert [n.message for n in app._notifications if "tracing stopped" in n.message] == [
            "tracing stopped (MemoryError: no room for the next window)"]
        monkeypatch.setattr(LstmApp, "SYNC_SECONDS", 10.0)
        app.run_text("abc")
        assert app.trace.steps == 3 and app.tracing is None


def break_the_next_chunk(monkeypatch, gated) -> None:
    """The tracing worker fails on the next chunk it is let through (memory, a bug): no step more comes."""

    def broken(self, seconds=0.05, max_steps=None):
        raise MemoryError("no room for the next window")

    monkeypatch.setattr(TraceBuilder, "advance", broken)  # what the gated builder calls once the gate opens
    gated.gate.release()


async def test_a_trace_failing_while_a_scan_waits_for_it_ends_the_scan(gated, monkeypatch):
    """The scan waiting for steps still to come is answered on the steps traced: not "scanning…" for good."""
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)
    app = LstmApp(random_model(hidden=8, seed=0), text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        await scan_waiting(pilot, app, gated)
        steps = app.trace.steps
        break_the_next_chunk(monkeypatch, gated)
        await settle(pilot, lambda: app.tracing is None)
        assert app.trace.steps == steps  # no more steps came: the scan has to be answered without them
        await settle(pilot, lambda: app.scanning is None)
        assert app._scan_job is None and "scanning" not in app.status_line()
        assert no_breakpoint_said(app)


async def test_a_trace_failing_after_a_watch_was_pinned_computes_it_on_the_steps_traced(gated, gated_watch, monkeypatch):
    """Its series for an earlier snapshot is dropped as more steps come in, and the end of the run it
    waited for never comes: it is computed on the steps traced, not left "computing…" for good."""
    app = LstmApp(random_model(hidden=8, seed=0), text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        first = await start_long(pilot, app, gated)
        await type_watch(pilot, "max(f)")  # its worker holds on the first steps
        gated.gate.release()
        await settle(pilot, lambda: app.trace.steps > first)  # more steps: that series is stale
        gated_watch.open.set()
        for _ in range(10):
            await pilot.pause(0.01)
        break_the_next_chunk(monkeypatch, gated)
        await settle(pilot, lambda: app.tracing is None)
        await settle(pilot, lambda: app.watch_exprs[0][2] is not None)
        np.testing.assert_array_equal(app.watch_exprs[0][2], own_series(app, "max(f)"))


async def test_a_breakpoint_added_while_a_scan_runs_does_not_close_the_app_at_its_answer(held_scan):
    """The scan's answer names the conditions it looked for: one added meanwhile that fails at the step
    found (h[t] past the last unit) was tested there, uncaught, and closed the app."""
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        app.breakpoints.append(compile_breakpoint("t > 100 and token == 'z'", "lstm", True))
        await pilot.press("c")
        assert app.scanning is not None
        await pilot.press("b", *"h[t] > 0", "enter")  # holds at t = 1, the step on screen: accepted
        await pilot.pause()
        assert [b.text for b in app.breakpoints][-1] == "h[t] > 0"
        held_scan.open.set()
        await settle(pilot, lambda: app.scanning is None)
        await pilot.pause()
        assert app.is_running
        want = LONG.index("z", 100)
        assert app.k == want
        said = [n.message for n in app._notifications if n.message.startswith(f"t = {want + 1}:")]
        assert said == [f"t = {want + 1}: t > 100 and token == 'z'"], said


async def test_the_late_answer_of_a_stopped_scan_is_not_taken_for_the_next_ones(held_scan):
    """A worker stopped (c again) after its last check of being cancelled can still post its answer: on
    the same trace, the scan started next must not take it for its own."""
    from lstm_tui.app.workers import ScanDone, ScanProgress

    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        app.breakpoints.append(compile_breakpoint("token == 'z'", "lstm", True))
        await pilot.press("c")
        first = app._scan_job.run
        await pilot.press("c")  # stopped
        await pilot.press("c")  # the next scan, on the same trace
        assert app._scan_job.run is not first and app.scanning is not None
        app.post_message(ScanProgress(first, 2000))
        app.post_message(ScanDone(first, app.trace, 1, 7))  # the stopped one's late news
        await pilot.pause()
        assert app.k == 0 and app.scanning == 0 and app._scan_job is not None
        held_scan.open.set()
        await settle(pilot, lambda: app.scanning is None)
        assert app.k == LONG.index("z")


async def test_export_waits_for_the_input_to_be_traced_and_says_how_to_export_a_long_one(gated, tmp_path, monkeypatch):
    """e while a long input was still traced wrote the steps traced so far (63,883 of 150,000) as if
    they were the input, and said only 'wrote'. A trace kept as checkpoints names the command that writes it."""
    monkeypatch.chdir(tmp_path)
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        gated.gate.release()  # one chunk of the long input
        await settle(pilot, lambda: app.trace.steps > 0)
        assert app.tracing is not None
        await pilot.press("e", "enter")  # the prompt offers trace.npz
        await pilot.pause()
        assert not (tmp_path / "trace.npz").exists()
        said = [n.message for n in app._notifications if "still being traced" in n.message]
        assert said and said[-1].startswith("the input is still being traced (500 of 3,000 steps)")
        for _ in range(10):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None)
        await pilot.press("e", "enter")
        await settle(pilot, lambda: (tmp_path / "trace.npz").exists())
        with np.load(tmp_path / "trace.npz") as npz:
            assert npz["h"].shape[1] == len(LONG)


async def test_export_of_a_trace_kept_as_checkpoints_names_the_command_that_writes_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)  # kept as checkpoints
    app = LstmApp(random_model(hidden=8, seed=0), text="hello world")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.tracing is None and isinstance(app.trace, CheckpointedTrace))
        await pilot.press("e", "enter")
        await pilot.pause()
        said = [n.message for n in app._notifications if "checkpoints" in n.message]
        assert len(said) == 1 and "lstm-tui export -o trace.npz" in said[0] and "\n" not in said[0]
        assert not (tmp_path / "trace.npz").exists()


async def test_an_input_traced_as_checkpoints_is_refused_for_export_and_patches_at_once(gated, tmp_path, monkeypatch):
    """e and ! while an input that is kept as checkpoints was traced said 'export (patch) it once it is
    done', then refused it once done: they say now what they will say then, with the input's own length."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)  # kept as checkpoints
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        gated.gate.release()  # one chunk of the long input
        await settle(pilot, lambda: app.trace.steps > 0)
        assert app.tracing is not None and isinstance(app.trace, CheckpointedTrace)
        await pilot.press("e", "enter", "exclamation_mark")
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert not any("still being traced" in m for m in said), said
        assert any(m.startswith("3,000 steps kept as checkpoints") for m in said), said
        assert any(m.startswith("this sequence (3,000 steps) is kept as checkpoints") for m in said), said
        assert not (tmp_path / "trace.npz").exists() and not app.patches


async def test_go_to_a_step_or_token_not_yet_traced_says_so(gated):
    """While a long input was traced, g 2900 said 'step 2900 is outside 1..500' of a 3,000-step input,
    and a token not among the steps traced so far 'is not in the sequence'."""
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG + "Z")
    async with app.run_test(size=(120, 40)) as pilot:
        gated.gate.release()  # one chunk of the long input
        await settle(pilot, lambda: app.trace.steps > 0)
        assert app.tracing is not None and app.steps == 500
        await pilot.press("g", *"2900", "enter")
        await pilot.pause()
        assert app.k == 0
        said = [n.message for n in app._notifications]
        assert said[-1] == "step 2,900 is not traced yet (500 of 3,001 steps so far): g again once it is"
        await pilot.press("g", "Z", "enter")
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert said[-1] == "token 'Z' is not in the 500 steps traced so far (of 3,001)"
        await pilot.press("g", *"4000", "enter")
        await pilot.pause()
        assert [n.message for n in app._notifications][-1] == "step 4000 is outside 1..3001"  # the input's steps
        await pilot.press("end", "right_square_bracket")  # ] past the steps traced so far
        await pilot.pause()
        assert [n.message for n in app._notifications][-1].endswith(" in the 500 steps traced so far (of 3,001)")
        for _ in range(10):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None)
        await pilot.press("g", *"2900", "enter", "g", "Z", "enter")
        await settle(pilot, lambda: app.k == len(LONG))


async def test_esc_in_the_input_line_while_tracing_gives_back_the_text_traced(gated):
    """Esc gives back the sequence on screen, but not while a worker traced: '((((' typed and left with
    Esc stayed in the line above the panels of the long input, after it was traced too."""
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        gated.gate.release()  # one chunk of the long input
        await settle(pilot, lambda: app.trace.steps > 0)
        assert app.tracing is not None
        line = app.query_one("#input")
        await pilot.press("slash", "ctrl+u", *"((((", "escape")
        await pilot.pause()
        assert line.value == LONG and app.focused is None
        app.run_text("ab " * 1500)  # another long text, before its first chunk: it is the one in the line
        await pilot.pause()
        await pilot.press("slash", "ctrl+u", *"))", "escape")
        await pilot.pause()
        assert line.value == "ab " * 1500
        for _ in range(10):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None)
        assert app.text == "ab " * 1500 and line.value == app.text


async def test_a_unit_search_while_tracing_says_it_compared_the_steps_traced_so_far(gated):
    """Its scores compare the range with the steps outside it: while tracing, only those traced so far,
    which the heading did not say (a long trace kept as checkpoints says which steps it compared)."""
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        gated.gate.release()  # one chunk of the long input
        await settle(pilot, lambda: app.trace.steps > 0)
        assert app.tracing is not None
        await pilot.press("s", "ctrl+u", *"5-9 > 0.1", "enter")
        await pilot.pause()
        assert app.search_results[0] == "c > 0.1 in steps 5-9, outside: the 500 steps traced so far"
        for _ in range(10):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None)
        await pilot.press("s", "ctrl+u", *"5-9 > 0.1", "enter")
        await pilot.pause()
        assert app.search_results[0] == "c > 0.1 in steps 5-9"
