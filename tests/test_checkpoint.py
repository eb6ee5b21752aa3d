"""The checkpointed trace against the full trace, step by step; windows, summaries, chunked builds.

A checkpointed trace recomputes each window from its checkpoint with the same
call the forward pass made, so a window read twice is the same to the bit. It
agrees with ``Model.trace`` to rounding only: a window's input product is a
matrix product over fewer rows than the whole sequence's. Float64 models pin
that agreement to 1e-12; float32 ones to a few ulps. No test looks at a clock.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lstm_tui.core import Model, random_model
from lstm_tui.core.breakpoints import compile_breakpoint
from lstm_tui.core.breakpoints import find_next as find_next_full
from lstm_tui.core.checkpoint import (
    CheckpointedTrace,
    checkpointed,
    full_trace_bytes,
    window_length,
)
from lstm_tui.core.errors import InputError
from lstm_tui.core.labels import TokenLabels
from lstm_tui.core.scan import find_next
from lstm_tui.core.trace import Trace
from lstm_tui.core.tracing import TraceBuilder, trace

TEXT = "the cat sat on the mat; the dog ate the bone. " * 3 + "naïve ∑ done"  # 151 steps, 2 unknown
W = 16  # steps per checkpoint: the text crosses nine of them
TOL = {"float32": dict(rtol=1e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-12)}
CASES = [(cell, layers) for cell in ("lstm", "gru", "rnn_tanh", "rnn_relu") for layers in (1, 2)]


def model(cell: str, layers: int, dtype: str = "float64") -> Model:
    return random_model(hidden=12, layers=layers, cell=cell, embed=6, seed=3, dtype=dtype)


def readable(tr) -> tuple[str, ...]:
    """Every name ``value`` answers for a trace's cell."""
    extra = ("x", "h_prev", "xW", "hW") + (("c_prev",) if tr.cell == "lstm" else ()) + (("y",) if tr.has_head else ())
    return tr.quantities + extra


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell,layers", CASES)
def test_every_step_equals_the_full_trace(cell, layers, dtype):
    m = model(cell, layers, dtype)
    full, ck = m.trace(TEXT), checkpointed(m, TEXT, window=W)
    assert isinstance(ck, CheckpointedTrace) and ck.window_length == W
    assert (ck.steps, ck.cell, ck.num_layers, ck.hidden_size, ck.has_head, ck.quantities) == (
        full.steps, full.cell, full.num_layers, full.hidden_size, full.has_head, full.quantities
    )
    assert tuple(ck.tokens) == full.tokens and ck.tokens[W - 1 : W + 2] == full.tokens[W - 1 : W + 2]
    np.testing.assert_array_equal(ck.unknown, full.unknown)
    np.testing.assert_array_equal(ck.ids, full.ids)
    for k in range(full.steps):
        for layer in range(layers):
            for q in readable(full):
                np.testing.assert_allclose(ck.value(q, layer, k), full.value(q, layer, k), **TOL[dtype], err_msg=f"{q} {k}")
            for q in ("h", "c") if cell == "lstm" else ("h",):
                np.testing.assert_allclose(ck.state_before(q, layer, k), full.state_before(q, layer, k), **TOL[dtype])
    for layer in range(layers):
        for q in readable(full):
            if q not in ("xW", "hW"):  # colour scales: every panel but the products
                assert ck.abs_max(q, layer) == pytest.approx(full.abs_max(q, layer), rel=1e-6), q


@pytest.mark.parametrize("cell,layers", CASES[::3])
def test_windows_equal_slices_of_the_full_trace(cell, layers):
    m = model(cell, layers)
    full, ck = m.trace(TEXT), checkpointed(m, TEXT, window=W)
    T = full.steps
    for start, stop in [(0, T), (0, 1), (W - 1, W + 1), (5, 60), (W, 2 * W), (T - 3, T), (40, 40), (T, T), (-5, T + 9)]:
        got, want = ck.window(start, stop), full.window(start, stop)
        assert isinstance(got, Trace)
        assert got.tokens == want.tokens and got.steps == want.steps and got.offset == want.offset
        np.testing.assert_allclose(got.h0, want.h0, **TOL["float64"])
        if want.c0 is not None:
            np.testing.assert_allclose(got.c0, want.c0, **TOL["float64"])
        for q in full.quantities:
            np.testing.assert_allclose(got.states[q], want.states[q], **TOL["float64"])
        np.testing.assert_allclose(got.x, want.x, **TOL["float64"])
        np.testing.assert_allclose(got.y, want.y, **TOL["float64"])
        np.testing.assert_array_equal(got.ids, want.ids)
    # A slice of the full trace is itself a trace whose steps start from the right state.
    part = full.window(30, 50)
    again = m.trace_vectors(part.x, part.tokens, part.ids, part.unknown, part.h0, part.c0)
    np.testing.assert_allclose(again.states["h"], part.states["h"], **TOL["float64"])
    np.testing.assert_allclose(ck.series("h", layers - 1, 3, 10, 70), full.series("h", layers - 1, 3, 10, 70), **TOL["float64"])


def test_series_and_states_before_across_window_edges_read_only_the_windows():
    m = model("lstm", 2, "float32")
    ck = checkpointed(m, TEXT, window=W)
    for start, stop in [(0, ck.steps), (W - 1, W + 1), (5, 3 * W + 2), (W, 2 * W), (40, 40), (ck.steps, ck.steps)]:
        win = ck.window(start, stop)  # the whole trace of those steps, joined across the edges
        np.testing.assert_array_equal(ck.series("g", 1, 4, start, stop), win.series("g", 1, 4))
        for q in ("h", "c"):
            np.testing.assert_array_equal(ck.states_before(q, 1, start, stop), win.states_before(q, 1))


def test_series_cached_reads_what_the_cache_has_and_says_what_it_lacks():
    m = model("gru", 1, "float32")
    ck = checkpointed(m, TEXT, window=W)
    ck._store.windows.clear()
    assert ck.uncached(W + 3, 3 * W + 1) == [1, 2, 3]
    ck.whole_window(2)
    assert ck.uncached(W + 3, 3 * W + 1) == [1, 3] and ck.uncached(2 * W, 3 * W) == []
    values, known = ck.series_cached("z", 0, 5, W + 3, 3 * W + 1)
    assert values.shape == known.shape == (2 * W - 2,)
    assert known.tolist() == [False] * (W - 3) + [True] * W + [False]
    assert np.isnan(values[~known]).all()
    np.testing.assert_array_equal(values[known], ck.series("z", 0, 5, 2 * W, 3 * W))
    whole = ck.series("z", 0, 5, W + 3, 3 * W + 1)  # recomputes (and keeps) what it lacked
    assert ck.uncached(W + 3, 3 * W + 1) == []
    np.testing.assert_array_equal(whole[known], values[known])


def test_a_window_read_again_is_the_same_to_the_bit():
    m = model("lstm", 2, "float32")
    ck = checkpointed(m, TEXT * 4, window=W)
    first = [ck.value("c", 1, k).copy() for k in range(0, ck.steps, 7)]
    ck._store.windows.clear()  # every window is recomputed from its checkpoint
    again = [ck.value("c", 1, k) for k in range(0, ck.steps, 7)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert len(ck._store.windows) <= ck._store.cache_windows


def test_summaries_are_the_bins_of_the_full_trace():
    m = model("gru", 2)
    full, ck = m.trace(TEXT), checkpointed(m, TEXT, window=8, bins=5)
    s = ck.summary("z", 1)
    assert s.edges[0] == 0 and s.edges[-1] == full.steps and len(s.lo) == len(s.edges) - 1
    assert np.all(np.diff(s.edges) % 8 == 0) or s.edges[-1] == full.steps
    v = full.states["z"][1]  # (T, H)
    for b in range(len(s.lo)):
        seg = v[s.edges[b] : s.edges[b + 1]]
        np.testing.assert_allclose(s.lo[b], seg.min(axis=0), rtol=1e-6)
        np.testing.assert_allclose(s.hi[b], seg.max(axis=0), rtol=1e-6)
        np.testing.assert_allclose(s.mean[b], seg.mean(axis=0), rtol=1e-5, atol=1e-7)
    maxabs = s.maxabs()  # (H, n)
    assert maxabs.shape == (12, len(s.lo))
    assert np.all(np.abs(maxabs) == np.maximum(np.abs(s.lo), np.abs(s.hi)).T)


def test_frames_are_labelled_by_their_number():
    m = Model(layers=model("lstm", 1).layers, name="frames")
    x = np.random.default_rng(0).standard_normal((70, 6))
    full, ck = m.trace(x), checkpointed(m, x, window=W)
    assert tuple(ck.tokens) == full.tokens == tuple(str(k + 1) for k in range(70))
    assert ck.ids is None and not ck.has_head and ck.window(30, 35).tokens == ("31", "32", "33", "34", "35")
    np.testing.assert_allclose(ck.value("x", 0, 33), x[33], rtol=0)
    assert list(ck.tokens.positions("34")) == [33]


def test_unknown_tokens_keep_their_text():
    m = random_model(hidden=6, tokenizer="word", seed=0, dtype="float64")
    text = "the zyzzyva and the quokka met the zyzzyva again"
    full, ck = m.trace(text), checkpointed(m, text, window=2)
    assert tuple(ck.tokens) == full.tokens
    assert ck.tokens[1] == "zyzzyva" and ck.unknown[1]
    assert list(ck.tokens.positions("zyzzyva")) == [1, 7]
    assert list(ck.tokens.positions("the")) == [0, 3, 6]


def test_token_labels_behave_like_a_tuple():
    labels = TokenLabels(("a", "b", "c"), np.array([0, 2, 1, 1, 0], dtype=np.int32), 5)
    assert tuple(labels) == ("a", "c", "b", "b", "a") and len(labels) == 5
    assert labels[-1] == "a" and labels[1:4] == ("c", "b", "b") and labels[::2] == ("a", "b", "a")
    assert labels[3:1] == () and labels.prefix(2)[:] == ("a", "c")
    with pytest.raises(IndexError):
        labels[5]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_breakpoints_scan_window_by_window(cell):
    m = model(cell, 2)
    full, ck = m.trace(TEXT), checkpointed(m, TEXT, window=W)
    conditions = [
        "token == 'd' and prev_token == ' '",  # labels across window edges
        "next_token == 'e'",
        "h_prev[2] > h[2] + 0.05",  # the state before the first step of a window is a checkpoint
        "t > 100 and token == 't'",  # t counts from the start of the sequence, not of the window
        "y.argmax() == token_id",
        "abs(x).max() > 100",  # never
    ]
    for text in conditions:
        bp = [compile_breakpoint(text, cell, True)]
        for layer in (0, 1):
            for k in list(range(0, full.steps, 5)) + [full.steps - 1]:
                for d in (1, -1):
                    want = find_next_full(full, bp, layer, k, d, vocab=m.vocab)
                    assert find_next(ck, bp, layer, k, d, vocab=m.vocab) == want, (text, layer, k, d)
    assert find_next(full, [compile_breakpoint("t == 3", cell, True)], 0, 0, 1) == 2  # a full trace: one scan


def test_a_scan_reports_progress_and_can_stop():
    m = model("lstm", 1)
    ck = checkpointed(m, TEXT, window=W)
    seen = []
    bp = [compile_breakpoint("t == 140", "lstm", True)]
    assert find_next(ck, bp, 0, 0, 1, progress=lambda k: seen.append(k) or True) == 139
    assert seen[0] == 1 and seen == sorted(seen) and len(seen) == 9
    assert find_next(ck, bp, 0, 0, 1, progress=lambda k: k < 50) is None


@pytest.mark.parametrize("limit", [10**12, 0])
def test_builder_a_chunk_at_a_time_equals_model_trace(limit):
    m = model("lstm", 2, "float32")
    full = m.trace(TEXT)
    b = TraceBuilder(m, TEXT, limit=limit, window=W)
    assert b.checkpointed == (limit == 0) and b.done == 0 and b.total == full.steps
    first = None
    while not b.complete:
        b.advance(seconds=0.0, max_steps=20)  # one window or 20 steps at a time
        snap = b.snapshot()
        assert snap.steps == b.done and 0 < b.fraction <= 1
        first = first or snap.steps
        k = snap.steps - 1
        np.testing.assert_allclose(snap.value("c", 1, k), full.value("c", 1, k), **TOL["float32"])
        assert snap.abs_max("c", 0) <= full.abs_max("c", 0) + 1e-6
    assert first < full.steps  # it did go a chunk at a time
    final = b.snapshot()
    assert final.steps == full.steps and tuple(final.tokens) == full.tokens
    for k in range(full.steps):
        for q in ("i", "c", "h", "y", "h_prev"):
            np.testing.assert_allclose(final.value(q, 1 if q != "y" else 0, k), full.value(q, 1 if q != "y" else 0, k), **TOL["float32"])


def test_trace_keeps_the_full_trace_below_the_limit():
    m = model("gru", 1)
    assert isinstance(trace(m, TEXT), Trace)
    small = trace(m, TEXT, limit=full_trace_bytes(m, len(TEXT)) - 1)
    assert isinstance(small, CheckpointedTrace) and small.steps == len(m.tokens(TEXT))
    assert isinstance(TraceBuilder(m, "").run(), Trace)


def test_window_length_is_a_power_of_two_that_bounds_the_checkpoints():
    m = random_model(hidden=128, seed=0)
    W1 = window_length(m, 1_000_000)
    assert W1 & (W1 - 1) == 0 and 64 <= W1 <= 4096
    big = random_model(hidden=1024, layers=2, seed=0)
    W2 = window_length(big, 100_000)
    assert W2 & (W2 - 1) == 0 and W2 < W1
    assert 100_000 / W2 * 2 * 1024 * 2 * 4 <= 64 << 20  # checkpoints within CHECKPOINT_BYTES


def test_memory_is_bounded_by_checkpoints_not_steps():
    m = random_model(hidden=32, seed=0)
    ck = checkpointed(m, "abcdefgh" * 5000, window=256)
    for k in range(0, ck.steps, 997):
        ck.value("g", 0, k)
    assert len(ck._store.windows) <= ck._store.cache_windows
    assert ck.nbytes() < full_trace_bytes(m, ck.steps) / 4


def test_a_checkpointed_trace_refuses_to_export_whole():
    ck = checkpointed(model("rnn_tanh", 1), TEXT, window=W)
    with pytest.raises(InputError, match="checkpoints"):
        ck.arrays()
    with pytest.raises(InputError):
        ck.value("h", 0, ck.steps)


def test_checkpoint_module_imports_no_ui():
    code = (
        "import sys, json, lstm_tui.core.checkpoint;"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in ('textual', 'rich'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# ---------------------------------------------------------------------------
# In the app: a long input is traced in a worker, a chunk at a time.

import threading  # noqa: E402

from conftest import settle  # noqa: E402

from lstm_tui.app import LstmApp  # noqa: E402

LONG = ("the quick brown fox jumps over the lazy dog. " * 80)[:3000]


@pytest.mark.parametrize("limit", [10**12, 0], ids=["full", "checkpointed"])
async def test_a_long_input_is_traced_in_a_worker_while_stepping_works(gated, monkeypatch, limit):
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", limit)
    m = random_model(hidden=8, seed=0)
    app = LstmApp(m, text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.trace.steps == 0 and app.tracing is not None  # traced once mounted: nothing yet
        app.run_text(LONG)
        gated.gate.release()  # one chunk
        await settle(pilot, lambda: app.trace.steps > 0)
        done = app.trace.steps
        assert 0 < done < len(LONG) and app.tracing == (done, len(LONG))
        assert "tracing" in app.status_line() and f"t = 1 / {done:,}" in app.status_line()
        status = app.status_line()  # the step's token before the progress: 80 columns cut the end of the line
        assert status.index("token '") < status.index("tracing")
        await pilot.press("n", "n")
        assert app.k == 2  # stepping within the steps computed
        await pilot.press("end")
        assert app.k == done - 1
        gated.gate.release()
        await settle(pilot, lambda: app.trace.steps > done)
        assert app.k == done - 1  # more steps came in: the user stays where they were
        for _ in range(20):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None)
        assert "tracing" not in app.status_line() and app.text == LONG
        full = m.trace(LONG)
        assert app.trace.steps == full.steps and isinstance(app.trace, CheckpointedTrace) == (limit == 0)
        for k in range(0, full.steps, 37):
            for q in ("f", "c", "h", "y", "c_prev"):
                np.testing.assert_allclose(app.trace.value(q, 0, k), full.value(q, 0, k), **TOL["float32"])
        await pilot.press("end", "3", "4", "5", "2", "1")  # every view reads a long trace through windows


async def test_a_new_input_stops_the_old_worker(gated):
    m = random_model(hidden=8, seed=0)
    app = LstmApp(m, text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        gated.gate.release()
        await settle(pilot, lambda: app.trace.steps == 2 and app.tracing is None)
        app.run_text(LONG)
        gated.gate.release()
        await settle(pilot, lambda: app.trace.steps > 2)
        old = [w for w in app.workers if w.group == "trace"]
        app.run_text("xyz")  # a new Enter: a new worker, the old one cancelled
        assert all(w.is_cancelled for w in old)
        for _ in range(20):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None)
        assert app.trace.tokens == ("x", "y", "z") and app.text == "xyz"


async def test_quitting_while_tracing(gated):
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(100, 30)) as pilot:
        gated.gate.release()
        await settle(pilot, lambda: app.trace.steps > 0)
        assert app.tracing is not None
        await pilot.press("q")
    assert app.return_code == 0


async def test_long_trace_views_and_breakpoint_scan(monkeypatch):
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)  # kept as checkpoints, traced at once
    m = random_model(hidden=8, seed=0)
    app = LstmApp(m, text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        tr = app.trace
        assert isinstance(tr, CheckpointedTrace) and app.tracing is None
        full = m.trace(LONG)
        bp = compile_breakpoint("t > 2000 and token == 'z'", "lstm", True)
        app.breakpoints.append(bp)
        first = find_next_full(full, [bp], 0, 0, 1)
        second = find_next_full(full, [bp], 0, first, 1)
        for key, want in (("c", first), ("c", second), ("C", first)):
            await pilot.press(key)  # scanned in a worker, window by window
            await settle(pilot, lambda: app.scanning is None)
            assert app.k == want
        await pilot.press("right_square_bracket")  # the next step with this token, looked up by label
        assert app.k == second
        await pilot.press("3")
        assert "binned" in str(app.query_one("#history-title").content)
        await pilot.press("4")
        assert "around t" in str(app.query_one("#units-saturation").content.title)
        await pilot.press("5")
        assert "a long trace" in str(app.query_one("#grad-head").content)  # the note under the target line
        await pilot.press("m", "1")
        assert app.query_one("#watches").display


def _dim(tokens) -> list:
    return [seg for strip in tokens._strips for seg in strip if seg.style is not None and seg.style.dim]


@pytest.mark.parametrize("way", ["numpy", "compiled", "compiled, slow"])
async def test_a_jump_colours_the_text_around_it_from_windows_recomputed_meanwhile(monkeypatch, way):
    """The history under the panels needs the text around t, which crosses windows. Windows the
    compiled loop computed (its kernel lets the main thread run) are started in a background
    thread before the panels recompute t's, and the frame colours the whole text; those that take
    longer than the frame waits for (slow), and NumPy's windows (whose loop holds the GIL), are
    drawn dim in the frame and coloured after it. Each window is computed once."""
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)  # kept as checkpoints
    from lstm_tui.core import checkpoint
    from lstm_tui.widgets.history_view import HistoryView

    compiled, slow = way.startswith("compiled"), way.endswith("slow")
    if compiled:
        pytest.importorskip("numba")
    monkeypatch.setenv("LSTM_TUI_COMPILED", "1" if compiled else "0")
    monkeypatch.setattr(checkpoint, "window_length", lambda model, steps: 16)
    monkeypatch.setattr(HistoryView, "WAIT_SECONDS", 0.01 if slow else 30.0)
    app = LstmApp(random_model(hidden=8, seed=0, dtype="float32"), text=LONG)
    async with app.run_test(size=(160, 50)) as pilot:  # tall: the history is under the panels
        await pilot.pause()
        timeline = app.query_one("#timeline")
        assert timeline.display and isinstance(app.trace, CheckpointedTrace)
        assert all(app.trace._store.path) == compiled
        tokens = timeline.query_one("#history-tokens")
        k = app.trace.steps // 2 + 5
        windows = app.trace._store.windows
        computed, threads, release = [], set(), threading.Event()
        compute = windows.compute

        def counted(w):
            computed.append(w)
            threads.add(threading.current_thread().name)
            if slow and w != k // 16:
                release.wait(10)
            return compute(w)

        monkeypatch.setattr(windows, "compute", counted)
        app.k = k  # what go-to-step does
        assert k // 16 in computed
        assert ("lstm-tui-prefetch" in threads) == compiled  # the others: in the background
        if slow or not compiled:
            assert _dim(tokens) and timeline._pending is not None  # drawn dim until they are done
            release.set()
            await settle(pilot, lambda: timeline._pending is None)
        else:
            assert timeline._pending is None  # every window of the text in this frame
        assert not _dim(tokens)
        assert len(computed) > 1 and len(computed) == len(set(computed))  # none computed twice
        shown = sum(len(seg.text) for strip in tokens._strips for seg in strip)
        assert shown > 16 * 3  # the text spans several windows, every one coloured


async def test_a_view_without_the_coloured_text_prefetches_nothing(monkeypatch):
    """The timeline sits in the steps view: in another view a jump recomputes no window for it."""
    pytest.importorskip("numba")
    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)
    monkeypatch.setenv("LSTM_TUI_COMPILED", "1")  # windows of the compiled loop: those are prefetched
    from lstm_tui.core import checkpoint

    monkeypatch.setattr(checkpoint, "window_length", lambda model, steps: 16)
    app = LstmApp(random_model(hidden=8, seed=0, dtype="float32"), text=LONG)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        windows = app.trace._store.windows
        threads = []
        compute = windows.compute
        monkeypatch.setattr(windows, "compute", lambda w: threads.append(threading.current_thread().name) or compute(w))
        for view, k in (("4", app.trace.steps // 3), ("1", app.trace.steps // 2)):
            await pilot.press(view)
            threads.clear()
            app.k = k
            await pilot.pause()
            assert ("lstm-tui-prefetch" in threads) == (view == "1")  # units view: none; steps view: its text's


async def test_opening_a_model_stops_the_trace_of_the_old_one(gated):
    app = LstmApp(random_model(hidden=8, seed=0), text=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        gated.gate.release()
        await settle(pilot, lambda: app.trace.steps > 0)
        app._open_model("brackets")  # traced whole at once (a short example)
        assert app.model.name != "random-lstm" and app.tracing is None
        opened = app.trace
        for _ in range(20):
            gated.gate.release()  # the old worker, had it run on, would bring the old model's steps
        for _ in range(20):
            await pilot.pause(0.01)
        assert app.trace is opened and app.tracing is None
