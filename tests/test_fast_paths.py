"""The fast loop, ``cells.run``, against the plain equations, ``cells.step``.

``run`` reorders gates, halves weight rows and prepares its inputs in chunks
of steps; none of that may show: every step's record must be what ``step``
computes from the same state, for every cell kind and float dtype, over
sequences that cross several chunks. No test here looks at a clock.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_tui.core import CELLS, GATES, QUANTITIES, Layer, Model, run, step

# Lengths around and across run's chunks of 64 steps, and one of several chunks.
LENGTHS = [0, 1, 63, 64, 65, 300]
TOL = {"float32": dict(rtol=2e-6, atol=2e-6), "float64": dict(rtol=1e-13, atol=1e-13)}


def rounding_bound(layer: Layer, x: np.ndarray, h: np.ndarray, c: np.ndarray | None) -> float:
    """How far two summation orders of one step's products may drift apart.

    A sum of n products computed in any order is within n·ε·Σ|wᵢxᵢ| of the
    exact sum, so two orders (run's matrix product, step's matrix-vector
    products) differ by at most twice that; the activations' slopes are at
    most 1, and c also carries the error of f and i times |cᵗ⁻¹| and |g| ≤ 1.
    """
    eps = np.finfo(layer.dtype).eps
    terms = np.abs(layer.W_ih) @ np.abs(x) + np.abs(layer.W_hh) @ np.abs(h) + np.abs(layer.b_ih) + np.abs(layer.b_hh)
    bound = 2 * (layer.input_size + layer.hidden_size + 2) * eps * float(terms.max())
    return bound * (2 + (0 if c is None else float(np.abs(c).max())))


def random_layer(cell: str, H: int, E: int, dtype: str, seed: int, gain: float = 1.0) -> Layer:
    """A layer with weights U(-gain/√H, gain/√H); a large gain saturates the gates."""
    rng = np.random.default_rng(seed)
    G, k = GATES[cell], gain / np.sqrt(H)

    def u(*shape):
        return rng.uniform(-k, k, size=shape).astype(dtype)

    return Layer(cell, u(G * H, E), u(G * H, H), u(G * H), u(G * H))


def inputs(layer: Layer, T: int, seed: int):
    """Frames (T, E) and a non-zero initial state (h0, c0)."""
    rng = np.random.default_rng(seed + 1)
    dt = layer.dtype
    x = rng.standard_normal((T, layer.input_size)).astype(dt)
    h0 = rng.uniform(-1, 1, layer.hidden_size).astype(dt)
    c0 = rng.uniform(-2, 2, layer.hidden_size).astype(dt) if layer.cell == "lstm" else None
    return x, h0, c0


def assert_run_equals_step(layer: Layer, x, h0, c0) -> dict:
    """Each step of run(...) is step(...) from run's own previous state."""
    rec = run(layer, x, h0, c0)
    tol = TOL[np.dtype(layer.dtype).name]
    h, c = h0, c0
    for t in range(x.shape[0]):
        want = step(layer, x[t], h, c)
        assert set(want) == set(rec)
        atol = tol["atol"] + rounding_bound(layer, x[t], h, c)
        for q, v in want.items():
            np.testing.assert_allclose(rec[q][t], v, rtol=tol["rtol"], atol=atol, err_msg=f"{layer.cell} step {t} {q}")
        h, c = rec["h"][t], (rec["c"][t] if "c" in rec else None)
    return rec


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("T", LENGTHS)
def test_run_equals_step_at_every_step(cell, dtype, T):
    layer = random_layer(cell, H=24, E=9, dtype=dtype, seed=T)
    assert_run_equals_step(layer, *inputs(layer, T, seed=T))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_run_equals_step_with_saturated_gates(cell, dtype):
    # Pre-activations in the hundreds: sigmoids at 0 or 1, tanh at ±1.
    layer = random_layer(cell, H=16, E=5, dtype=dtype, seed=7, gain=40.0)
    x, h0, c0 = inputs(layer, 150, seed=7)
    assert_run_equals_step(layer, 10 * x, h0, c0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", CELLS)
def test_free_running_steps_reach_the_same_state(cell, dtype):
    # Stepping on from step's own state for 500 steps ends where run ends.
    layer = random_layer(cell, H=32, E=8, dtype=dtype, seed=11)
    x, h0, c0 = inputs(layer, 500, seed=11)
    rec = run(layer, x, h0, c0)
    h, c = h0, c0
    for t in range(len(x)):
        out = step(layer, x[t], h, c)
        h, c = out["h"], out.get("c")
    tol = 1e-4 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(rec["h"][-1], h, rtol=0, atol=tol)
    if c is not None:
        np.testing.assert_allclose(rec["c"][-1], c, rtol=0, atol=tol)


@given(
    cell=st.sampled_from(CELLS),
    dtype=st.sampled_from(["float32", "float64"]),
    T=st.integers(0, 200),
    H=st.integers(1, 40),
    E=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_run_equals_step_for_any_sizes(cell, dtype, T, H, E, seed):
    layer = random_layer(cell, H=H, E=E, dtype=dtype, seed=seed)
    assert_run_equals_step(layer, *inputs(layer, T, seed=seed))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", CELLS)
def test_returned_arrays_have_the_documented_shapes_and_share_nothing(cell, dtype):
    T, H, E = 130, 6, 4
    layer = random_layer(cell, H=H, E=E, dtype=dtype, seed=3)
    x, h0, c0 = inputs(layer, T, seed=3)
    given_arrays = [a for a in (x, h0, c0, layer.W_ih, layer.W_hh, layer.b_ih, layer.b_hh) if a is not None]
    saved = [a.copy() for a in given_arrays]
    rec = run(layer, x, h0, c0)

    G = GATES[cell]
    assert set(rec) == {"xW", "hW", *QUANTITIES[cell]}
    for q in QUANTITIES[cell]:
        assert rec[q].shape == (T, H) and rec[q].dtype == np.dtype(dtype), q
    for q in ("xW", "hW"):
        assert rec[q].shape == (T, G * H) and rec[q].dtype == np.dtype(dtype), q

    # Inputs are read, never written, and no output aliases an input.
    for before, after in zip(saved, given_arrays):
        np.testing.assert_array_equal(before, after)
    for name, v in rec.items():
        assert not any(np.shares_memory(v, a) for a in given_arrays), name

    # Outputs may be views into one buffer, but no two overlap: writing one
    # leaves every other unchanged.
    for name, v in rec.items():
        others = {k: w.copy() for k, w in rec.items() if k != name}
        v[...] = 7
        for k, w in others.items():
            np.testing.assert_array_equal(rec[k], w, err_msg=f"writing {name} changed {k}")


def test_initial_state_rows_are_not_kept():
    # The trace's h0/c0 rows are passed to run; later changes to them must not
    # reach the returned arrays (and run must not have changed them).
    layer = random_layer("lstm", H=5, E=3, dtype="float32", seed=1)
    x, h0, c0 = inputs(layer, 10, seed=1)
    rec = run(layer, x, h0, c0)
    c_first = rec["c"][0].copy()
    c0[:] = 100
    h0[:] = 100
    np.testing.assert_array_equal(rec["c"][0], c_first)


@pytest.mark.parametrize("cell", CELLS)
def test_model_trace_of_several_layers_equals_stepping(cell):
    # Model.trace feeds run's h of one layer into the next: each layer's every
    # step against step from the trace's own previous state.
    layers = (
        random_layer(cell, H=12, E=5, dtype="float64", seed=20),
        random_layer(cell, H=12, E=12, dtype="float64", seed=21),
    )
    model = Model(layers=layers)
    x = np.random.default_rng(0).standard_normal((140, 5))
    trace = model.trace(x)
    for k, layer in enumerate(layers):
        h = trace.h0[k]
        c = None if trace.c0 is None else trace.c0[k]
        for t in range(trace.steps):
            want = step(layer, trace.layer_input(k)[t], h, c)
            atol = TOL["float64"]["atol"] + rounding_bound(layer, trace.layer_input(k)[t], h, c)
            for q in trace.quantities:
                np.testing.assert_allclose(trace.states[q][k, t], want[q], rtol=TOL["float64"]["rtol"], atol=atol)
            h = trace.states["h"][k, t]
            c = trace.states["c"][k, t] if "c" in trace.states else None
