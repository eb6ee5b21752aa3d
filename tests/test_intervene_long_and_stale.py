"""Two edges of the app's interventions: the diff mode on a long input kept as checkpoints is
refused (``difference`` needs whole arrays; it crashed the app), and a patched run computed for an
input replaced since is never written into for the new one (its rows before the first patched step
are the old input's numbers).
"""

from __future__ import annotations

import threading

import numpy as np
from conftest import settle_runs as settle

from lstm_tui.app import LstmApp
from lstm_tui.core.checkpoint import CheckpointedTrace
from lstm_tui.core.interventions import Patch, difference, intervene
from lstm_tui.core.registry import load_demo
from lstm_tui.core.trace import Trace

TEXT = "(()(()))((()))"
SOURCE = "((((()))))))()"


async def test_the_diff_mode_on_a_long_input_kept_as_checkpoints_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)  # every input kept as checkpoints
    m = load_demo("brackets")
    app = LstmApp(m, text=TEXT, source=m.trace(SOURCE), source_text=SOURCE)
    async with app.run_test(size=(120, 40)) as pilot:
        clean = app.trace
        assert isinstance(clean, CheckpointedTrace) and app.tracing is None
        await pilot.press("n", "n", "D")
        await pilot.pause()
        assert app.compare_mode is None and app.trace is clean and app.k == 2  # the run itself, where it was
        said = [n for n in app._notifications if "checkpoints" in n.message]
        assert len(said) == 1 and "\n" not in said[0].message and "diff" in said[0].message
        assert said[0].severity == "error"
        await pilot.press("D")  # again: refused again, nothing else changed
        await pilot.pause()
        assert app.compare_mode is None and app.trace is clean
        assert app.is_running


async def test_a_patch_refused_on_a_long_input_says_how_long_an_input_may_be(monkeypatch):
    """'patches need a shorter input' left the user guessing how much shorter: the refusal names the
    longest input this model keeps whole."""
    from lstm_tui.core.checkpoint import bytes_per_step

    m = load_demo("brackets")
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 10 * bytes_per_step(m))  # 10 steps kept whole at most
    app = LstmApp(m, text=TEXT)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.trace, CheckpointedTrace) and app.tracing is None
        await pilot.press("!")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]  # no prompt
        said = [n.message for n in app._notifications if "checkpoints" in n.message]
        assert said == [f"this sequence ({len(TEXT)} steps) is kept as checkpoints (it is long): patches need "
                        "inputs of at most 10 steps for this model"]
        app.run_text(TEXT[:10])
        await pilot.pause()
        assert isinstance(app.trace, Trace)  # as said: 10 steps are kept whole, and patched
        await pilot.press("!", "0", "enter")
        await settle(pilot, app, lambda: app.patches)
        assert len(app.patches) == 1


async def test_the_diff_mode_waits_for_the_input_to_be_traced(gated):
    """While a worker traces, each chunk's steps replace the trace on screen: a difference shown
    then would be replaced by the clean run under the diff mode's name."""
    m = load_demo("brackets")
    long = "(()(()))" * 300
    app = LstmApp(m, text="()", source=m.trace(SOURCE), source_text=SOURCE)
    async with app.run_test(size=(120, 40)) as pilot:
            gated.gate.release()
            await settle(pilot, app, lambda: app.tracing is None and app.trace.steps == 2)
            app.run_text(long)
            gated.gate.release()  # one chunk of the long input
            await settle(pilot, app, lambda: app.trace.steps > 2)
            assert app.tracing is not None
            await pilot.press("D")
            await pilot.pause()
            assert app.compare_mode is None
            said = [n for n in app._notifications if n.message.startswith("the input is still being traced")]
            assert len(said) == 1 and said[0].severity == "warning" and "diff" in said[0].message
            for _ in range(10):
                gated.gate.release()
            await settle(pilot, app, lambda: app.tracing is None)
            await pilot.press("D")  # traced: now it is shown
            await pilot.pause()
            assert app.compare_mode == "diff"
            want = difference(app.source, m.trace(long))
            for q in ("c", "h"):
                np.testing.assert_allclose(app.trace.states[q][0], want.states[q][0], rtol=1e-5, atol=1e-6)


async def test_a_patched_run_of_an_input_replaced_meanwhile_is_not_written_into_for_the_new_one(monkeypatch):
    """A new input of the same length typed while a patch's run is computed: that run, late, must not
    come back as the spare of the new input's clean run (its rows before the next patch's first
    step, and its input products, are the old input's numbers), so the next patch is exact."""
    import lstm_tui.app.intervene as room

    real, started, release, done = room.intervene_into, threading.Event(), threading.Event(), threading.Event()

    def held(*args, **kwargs):  # the first run waits until the new input is on screen
        if not done.is_set():
            started.set()
            release.wait(10)
            try:
                return real(*args, **kwargs)
            finally:
                done.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(room, "intervene_into", held)
    m = load_demo("brackets")
    other = SOURCE  # as long as TEXT, other brackets from the second step on
    assert len(m.tokens(other)) == len(m.tokens(TEXT)) and other[:4] != TEXT[:4]
    app = LstmApp(m, text=TEXT)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*["n"] * 12, "exclamation_mark")
        await pilot.pause()
        await pilot.press("0", "enter")
        assert started.wait(10) and app.patching
        app.run_text(other)  # the patches are cleared; the run under way is of the old input
        await pilot.pause()
        assert app.trace.tokens == tuple(m.tokens(other)) and not app.patches
        release.set()
        assert done.wait(10)
        for _ in range(5):  # its late news handled
            await pilot.pause(0.02)
        assert app._spare is None  # not kept as the new input's spare
        await pilot.press(*["n"] * 10, "exclamation_mark")
        await pilot.pause()
        await pilot.press("0", "enter")
        await settle(pilot, app, lambda: app._patched is not None)
        assert app.patches == [Patch(0, "c", app.unit, (10,), 0.0)]
        want = intervene(m, m.trace(other), app.patches)
        for q in ("i", "f", "g", "o", "c", "h"):
            np.testing.assert_allclose(app.trace.states[q][0], want.states[q][0], rtol=1e-5, atol=1e-6, err_msg=q)
        np.testing.assert_allclose(app.trace.xW[0], want.xW[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(app.trace.y, want.y, rtol=1e-5, atol=1e-6)
