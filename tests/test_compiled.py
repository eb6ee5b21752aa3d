"""The compiled step loop (numba) against the NumPy loop and PyTorch's numbers.

The compiled loop reorders sums and uses a rational tanh, so it agrees with
the NumPy loop to a tolerance (1e-6 on every gate and state), never to the
bit. Both paths are run in every test here through ``compiled.using``; no
test looks at a clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import tolerance
from lstm_tui.core import GATES, QUANTITIES, Layer, Model, compiled, random_model, run
from lstm_tui.core.checkpoint import checkpointed

numba = pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-6  # gates, c and h of the two paths


@pytest.fixture(autouse=True)
def kernel_ready(monkeypatch):
    monkeypatch.setenv(compiled.ENV, "auto")  # conftest keeps the other tests on NumPy's loop
    assert compiled.warm_up(wait=True), compiled.status()


def random_layer(H: int, E: int, seed: int, gain: float = 1.0, dtype="float32", cell="lstm", **fields) -> Layer:
    rng = np.random.default_rng(seed)
    k = gain / np.sqrt(H)
    G = GATES[cell]

    def u(*shape):
        return rng.uniform(-k, k, size=shape).astype(dtype)

    return Layer(cell, u(G * H, E), u(G * H, H), u(G * H), u(G * H), **fields)


def inputs(layer: Layer, T: int, seed: int):
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((T, layer.input_size)).astype(np.float32)  # (T, E)
    h0 = rng.uniform(-1, 1, layer.hidden_size).astype(np.float32)  # (H,)
    c0 = rng.uniform(-2, 2, layer.hidden_size).astype(np.float32) if layer.cell == "lstm" else None  # (H,)
    return x, h0, c0


def both(layer: Layer, x, h0, c0) -> tuple[dict, dict]:
    """(compiled, NumPy) records of the same run."""
    with compiled.using(True):
        fast = run(layer, x, h0, c0)
    with compiled.using(False):
        slow = run(layer, x, h0, c0)
    return fast, slow


def product_bound(W: np.ndarray, v: np.ndarray) -> np.ndarray:
    """How far two summation orders of W v may differ, per row, in float32 (n·ε·Σ|wᵢvᵢ|, twice)."""
    return 2 * W.shape[1] * np.finfo(np.float32).eps * (np.abs(W) @ np.abs(v).T).T


def assert_close(fast: dict, slow: dict, layer: Layer, x: np.ndarray, h0: np.ndarray, slack: bool = False) -> None:
    """Gates, c and h within TOL (relative to |c| where c grows past 1); the products
    within what two summation orders may differ by. ``slack``: gates may also differ by
    that much, for pre-activations so large that their rounding alone passes TOL."""
    qs = QUANTITIES[layer.cell]
    assert set(fast) == set(slow) == {"xW", "hW", *qs}
    h_prev = np.vstack([h0[None], slow["h"][:-1]])  # (T, H) the state each product read
    x_bound = 1e-7 + product_bound(layer.W_ih, x).max(initial=0)
    h_bound = 1e-6 + product_bound(layer.W_hh, h_prev).max(initial=0)
    if slack:  # and the product of the state's own difference, which large weights magnify
        dh = float(np.abs(fast["h"] - slow["h"]).max(initial=0))
        h_bound += float(np.abs(layer.W_hh).sum(axis=1).max(initial=0)) * dh
    for q in qs:
        assert fast[q].dtype == np.float32 and fast[q].shape == slow[q].shape
        err = float(np.abs(fast[q] - slow[q]).max(initial=0))
        scale = max(1.0, float(np.abs(slow[q]).max(initial=0)))  # c may grow past 1
        allowed = TOL * scale + (2 * (x_bound + h_bound) if slack else 0)
        assert err <= allowed, f"{q}: the paths differ by {err:.3g}"
    np.testing.assert_allclose(fast["xW"], slow["xW"], rtol=0, atol=x_bound)
    np.testing.assert_allclose(fast["hW"], slow["hW"], rtol=0, atol=h_bound)


CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("T", [0, 1, 2, 63, 600])
@pytest.mark.parametrize("H,E", [(1, 1), (7, 5), (24, 9), (64, 64)])
def test_compiled_loop_equals_numpy_loop(cell, T, H, E):
    layer = random_layer(H, E, seed=T + H, cell=cell)
    x, h0, c0 = inputs(layer, T, seed=T)
    assert compiled.applies(layer)
    assert_close(*both(layer, x, h0, c0), layer, x, h0)


@pytest.mark.parametrize("cell", CELLS)
def test_long_sequences_stay_within_tolerance(cell):
    # 20,000 steps: the small differences of each step must not grow along the sequence.
    layer = random_layer(48, 16, seed=5, gain=1.5, cell=cell)
    x, h0, c0 = inputs(layer, 20_000, seed=5)
    fast, slow = both(layer, x, h0, c0)
    assert_close(fast, slow, layer, x, h0)
    if cell == "lstm":
        assert np.abs(slow["c"]).max() > 1  # a run whose cell state does grow


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_saturated_gates(cell):
    # Pre-activations in the hundreds: the approximation's clamp, sigmoids at exactly 0 and 1.
    layer = random_layer(16, 5, seed=7, gain=40.0, cell=cell)
    x, h0, c0 = inputs(layer, 150, seed=7)
    fast, slow = both(layer, 10 * x, h0, c0)
    assert_close(fast, slow, layer, 10 * x, h0, slack=True)
    gate = {"lstm": "i", "gru": "z", "rnn_tanh": "h"}[cell]
    assert (np.abs(slow[gate]) == 1).any()
    assert np.abs(fast[gate]).max() <= 1


def test_tanh_approximation_against_float64():
    a = np.concatenate([np.linspace(-12, 12, 200_001), [0.0, 1e-30, -1e-30, 1e-4, 20.0, -20.0]]).astype(np.float32)
    got = np.array([compiled.tanh32(v) for v in a[::50]] + [compiled.tanh32(v) for v in a[-6:]], dtype=np.float32)
    want = np.tanh(np.concatenate([a[::50], a[-6:]]).astype(np.float64))
    assert np.abs(got - want).max() <= 4e-7
    assert np.isnan(compiled.tanh32(np.float32("nan")))
    assert compiled.tanh32(np.float32("inf")) == pytest.approx(1, abs=3e-7)  # the clamp: within 2 ulp of 1


def test_inf_and_nan_come_out_where_numpy_puts_them():
    # A user's weights may hold an inf or a NaN: fast math must not turn a NaN into a number.
    layer = random_layer(6, 3, seed=2)
    layer.W_ih[9, 1] = -np.inf  # a forget gate shut whatever the input
    layer.W_hh[2, 4] = np.nan
    x, h0, c0 = inputs(layer, 12, seed=2)
    fast, slow = both(layer, x, h0, c0)
    for q in QUANTITIES["lstm"]:
        assert (np.isnan(fast[q]) == np.isnan(slow[q])).all(), q
        ok = np.isfinite(slow[q])
        np.testing.assert_allclose(fast[q][ok], slow[q][ok], atol=TOL)
    assert np.isnan(slow["h"]).any() and slow["f"][0, 3] in (0, 1) and np.isfinite(slow["h"][0]).sum() == 5


@pytest.mark.parametrize("name", ["lstm_1layer_f32", "gru_1layer_f32"])
def test_against_pytorch_reference(name):
    from conftest import load_reference

    tensors, meta, model = load_reference(name)
    with compiled.using(True):
        assert compiled.will_run() and compiled.applies(model.layers[0])
        trace = model.trace(tensors["x"])
    for q in QUANTITIES[meta["cell"]]:
        err = np.abs(trace.states[q][0] - tensors[f"expected.{q}_l0"]).max()
        assert err <= tolerance(meta), f"{q}: {err:.3g}"


def test_model_trace_of_two_layers_writes_into_the_trace():
    m = random_model(hidden=20, layers=2, embed=6, seed=4)
    text = "the compiled loop, twice over. " * 20
    with compiled.using(True):
        fast = m.trace(text)
    with compiled.using(False):
        slow = m.trace(text)
    for q in QUANTITIES["lstm"]:
        assert fast.states[q].shape == slow.states[q].shape == (2, len(text), 20)
        np.testing.assert_allclose(fast.states[q], slow.states[q], rtol=TOL, atol=TOL)
    np.testing.assert_allclose(fast.y, slow.y, atol=1e-6)


def test_run_writes_into_the_given_arrays():
    layer = random_layer(8, 3, seed=1)
    x, h0, c0 = inputs(layer, 40, seed=1)
    out = {n: np.full((40, 32 if n in ("xW", "hW") else 8), np.nan, dtype=np.float32) for n in ("xW", "hW", *"ifgoch")}
    with compiled.using(True):
        rec = run(layer, x, h0, c0, out=out)
    assert all(rec[n] is out[n] for n in out)
    assert all(np.isfinite(v).all() for v in out.values())
    with compiled.using(False):
        slow = run(layer, x, h0, c0)
    assert_close(rec, slow, layer, x, h0)


@pytest.mark.parametrize(
    "change",
    [
        {"dtype": "float64"},
        {"activations": (("Sigmoid", 0.0, 0.0), ("Tanh", 0.0, 0.0), ("Relu", 0.0, 0.0))},
        {"clip": 3.0},
        {"reverse": True},
        {"cell": "gru", "linear_before_reset": False},
    ],
)
def test_only_default_layers_are_compiled(change):
    layer = random_layer(6, 4, seed=0, **change)
    assert not compiled.applies(layer)
    x, h0, c0 = inputs(layer, 10, seed=0)
    with compiled.using(True):
        c0 = None if c0 is None else c0.astype(layer.dtype)
        assert compiled.run(layer, x.astype(layer.dtype), h0.astype(layer.dtype), c0) is None
    assert compiled.applies(random_layer(6, 4, seed=0))
    default = random_layer(6, 4, seed=0, activations=(("Sigmoid", 0.0, 0.0), ("Tanh", 0.0, 0.0), ("Tanh", 0.0, 0.0)))
    assert compiled.applies(default)


def test_a_projected_lstm_is_not_compiled():
    rng = np.random.default_rng(0)
    proj = Layer("lstm", *(rng.standard_normal(s).astype(np.float32) for s in ((16, 3), (16, 2), (16,), (16,))),
                 W_hr=rng.standard_normal((2, 4)).astype(np.float32))
    assert not compiled.applies(proj)


def test_checkpointed_windows_are_recomputed_by_the_path_that_first_computed_them():
    m = random_model(hidden=16, layers=2, embed=6, seed=3)
    text = "(()(()))" * 60
    with compiled.using(False):
        full = m.trace(text)
    for path in (True, False):
        with compiled.using(path):
            ck = checkpointed(m, text, window=64)
        first = [ck.value("c", 1, k).copy() for k in range(0, ck.steps, 5)]
        ck._store.windows.clear()
        with compiled.using(not path):  # the reader's pin does not matter: each window keeps its own path
            again = [ck.value("c", 1, k) for k in range(0, ck.steps, 5)]
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)
        for k in range(0, ck.steps, 7):
            np.testing.assert_allclose(ck.value("h", 1, k), full.states["h"][1, k], atol=TOL)


def test_forcing_numpy_with_the_environment(monkeypatch):
    layer = random_layer(5, 2, seed=9)
    x, h0, c0 = inputs(layer, 4, seed=9)
    monkeypatch.setenv(compiled.ENV, "0")
    assert compiled.mode() == "off" and not compiled.ready() and not compiled.will_run()
    assert compiled.run(layer, x, h0, c0) is None
    assert "off" in compiled.status()
    monkeypatch.setenv(compiled.ENV, "1")
    assert compiled.mode() == "wait" and compiled.will_run()
    assert compiled.run(layer, x, h0, c0) is not None
    monkeypatch.setenv(compiled.ENV, "auto")
    assert compiled.mode() == "auto" and compiled.ready()


def _python(code: str, **env) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), compiled.ENV: "auto", **env}, check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_importing_the_core_does_not_import_numba():
    code = (
        "import sys, json, lstm_tui.core.model, lstm_tui.core.checkpoint, lstm_tui.core.export;"
        "import lstm_tui; m = lstm_tui.load_model(); m.trace('(())');"
        "print(json.dumps(['numba' in sys.modules, 'llvmlite' in sys.modules]))"
    )
    assert json.loads(_python(code)) == [False, False]


def test_without_numba_the_numpy_loop_runs_and_says_how_to_get_it():
    code = (
        "import sys, json; sys.modules['numba'] = None;"
        "from lstm_tui.core import compiled, random_model;"
        "ok = compiled.warm_up(wait=True); m = random_model(hidden=8); tr = m.trace('abc');"
        "print(json.dumps([ok, compiled.will_run(), compiled.status(), tr.steps]))"
    )
    ok, runs, status, steps = json.loads(_python(code, LSTM_TUI_COMPILED="1"))
    assert (ok, runs, steps) == (False, False, 3)
    assert "pip install numba threadpoolctl (or pip install '.[speed]' in a clone of lstm-tui)" in status


def test_nothing_waits_for_the_compile():
    # The warm-up is held back until told: meanwhile traces run in NumPy and say so.
    code = (
        "import json, threading; from lstm_tui.core import compiled, random_model;"
        "go = threading.Event(); build = compiled._build;"
        "compiled._build = lambda: (go.wait(), build());"
        "compiled.warm_up(); m = random_model(hidden=8);"
        "a = [compiled.will_run(), m.trace('abc').steps, compiled.status()];"
        "go.set(); compiled.warm_up(wait=True);"
        "print(json.dumps(a + [compiled.will_run()]))"
    )
    before, steps, status, after = json.loads(_python(code))
    assert (before, steps, after) == (False, 3, True)
    assert "compiling in the background" in status


def test_a_cache_folder_that_cannot_be_written_still_compiles():
    # numba refuses cache=True when it has nowhere to write: the loop is compiled without a cache.
    code = (
        "import json, numba\nplain = numba.njit\n"
        "def njit(*a, cache=False, **k):\n"
        "    if cache: raise RuntimeError('cannot cache function: no locator available')\n"
        "    return plain(*a, **k)\n"
        "numba.njit = njit\n"
        "from lstm_tui.core import compiled, random_model\n"
        "ok = compiled.warm_up(wait=True)\n"
        "with compiled.using(True): tr = random_model(hidden=8).trace('abc')\n"
        "print(json.dumps([ok, compiled.status(), float(abs(tr.states['h']).max())]))"
    )
    ok, status, h = json.loads(_python(code))
    assert ok and "not cached" in status and 0 < h < 1


def test_both_kernels_agree_with_numpy_and_each_repeats_itself():
    # One core or all: the same equations; blocks of steps cross STEPS_PER_CALL here.
    layer = random_layer(40, 7, seed=12)
    x, h0, c0 = inputs(layer, 2 * compiled.STEPS_PER_CALL + 37, seed=12)
    with compiled.using(False):
        slow = run(layer, x, h0, c0)
    for kernel in compiled.KERNELS:
        with compiled.using(kernel):
            first = run(layer, x, h0, c0)
            again = run(layer, x, h0, c0)
        assert_close(first, slow, layer, x, h0)
        for q in first:
            np.testing.assert_array_equal(first[q], again[q])
    assert compiled.choose("lstm", 40) in compiled.KERNELS
    assert {("lstm", 40, True), ("lstm", 40, False)} <= set(compiled._state.cost)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("path", [False, "serial", "parallel"])
def test_weights_laid_out_once_give_the_same_bits(cell, path):
    """A Laid (the layout of W_hh and W_ih made once, for a run in chunks) changes no number,
    on either loop; one made for another layer is not used."""
    from lstm_tui.core.cells import Laid

    layer = random_layer(24, 7, seed=5, cell=cell)
    other = random_layer(24, 7, seed=6, cell=cell)
    x, h0, c0 = inputs(layer, 40, seed=5)
    with compiled.using(path):
        plain = run(layer, x, h0, c0)
        laid = Laid(layer)
        for chunk in range(2):  # the second run reads the layout the first one made
            again = run(layer, x, h0, c0, laid=laid)
            for q, v in plain.items():
                np.testing.assert_array_equal(again[q], v, err_msg=f"{q}, run {chunk}")
        assert (laid._compiled is not None) == bool(path) and (laid._numpy is not None) == (not path)
        mixed = run(layer, x, h0, c0, laid=Laid(other))
        for q, v in plain.items():
            np.testing.assert_array_equal(mixed[q], v)


def test_a_trace_in_chunks_with_its_weights_laid_out_once_equals_one_without():
    m = random_model(hidden=16, layers=2, seed=2, dtype="float32")
    x, tokens = m.embedding[np.arange(30) % 90], tuple("a" * 30)
    ids, unknown = np.arange(30) % 90, np.zeros(30, dtype=bool)
    for path in (False, "serial"):
        with compiled.using(path):
            want = m.trace_vectors(x, tokens, ids, unknown)
            got = m.trace_vectors(x, tokens, ids, unknown, laid=m.laid_out())
        for q in want.states:
            np.testing.assert_array_equal(got.states[q], want.states[q])
        np.testing.assert_array_equal(got.y, want.y)


def test_every_kernel_lets_other_threads_run():
    """nogil: a window recomputed or a trace run in a worker thread leaves the main thread free to draw."""
    assert compiled.warm_up(wait=True)
    kernels = compiled._state.kernels
    assert {kind for kind, _ in kernels} == {*compiled.STEPS, "product"}
    assert all(k.targetoptions.get("nogil") for k in kernels.values())
