"""The NumPy cells against PyTorch's own numbers, and against themselves."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tolerance
from lstm_tui.core import GATES, QUANTITIES, Layer, random_model, sigmoid, step


def test_forward_matches_pytorch(reference):
    tensors, meta, model = reference
    trace = model.trace(tensors["x"])
    tol = tolerance(meta)
    checked = 0
    for k in range(model.num_layers):
        for q in QUANTITIES[meta["cell"]]:
            expected = tensors[f"expected.{q}_l{k}"]
            got = trace.states[q][k]
            assert got.dtype == expected.dtype
            err = np.abs(got - expected).max()
            assert err <= tol, f"{meta['cell']} layer {k} {q}: max error {err:.3g} > {tol}"
            checked += 1
    assert checked == model.num_layers * len(QUANTITIES[meta["cell"]])


def test_step_by_step_equals_whole_sequence(reference):
    tensors, meta, model = reference
    trace = model.trace(tensors["x"])
    for k, layer in enumerate(model.layers):
        h = trace.h0[k]
        c = None if trace.c0 is None else trace.c0[k]
        for t in range(trace.steps):
            rec = step(layer, trace.layer_input(k)[t], h, c)
            for q in trace.quantities:
                np.testing.assert_allclose(rec[q], trace.states[q][k, t], rtol=0, atol=tolerance(meta))
            np.testing.assert_allclose(rec["xW"], trace.xW[k, t], rtol=0, atol=tolerance(meta))
            np.testing.assert_allclose(rec["hW"], trace.hW[k, t], rtol=0, atol=tolerance(meta))
            h, c = rec["h"], rec.get("c")


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_state_before_and_equations(cell, dtype):
    model = random_model(hidden=6, seed=3, cell=cell, layers=2, dtype=dtype)
    trace = model.trace("abc def")
    assert trace.states["h"].shape == (2, 7, 6)
    assert trace.states["h"].dtype == np.dtype(dtype)
    if cell == "lstm":
        s = trace.states
        for k in range(7):
            c_prev = trace.state_before("c", 1, k)
            np.testing.assert_allclose(
                s["c"][1, k], s["f"][1, k] * c_prev + s["i"][1, k] * s["g"][1, k], rtol=1e-5, atol=1e-6
            )
            np.testing.assert_allclose(s["h"][1, k], s["o"][1, k] * np.tanh(s["c"][1, k]), rtol=1e-5, atol=1e-6)
    assert trace.y.shape == (7, len(model.vocab))
    np.testing.assert_allclose(trace.y.sum(axis=1), 1, rtol=1e-5)


def test_sigmoid_is_finite_and_exact_at_extremes():
    a = np.array([-1e6, -800, -40, 0, 40, 800, 1e6], dtype=np.float64)
    with np.errstate(all="raise"):
        s = sigmoid(a)
    assert np.all(np.isfinite(s))
    assert s[0] == 0 and s[-1] == 1 and s[3] == 0.5
    x = np.linspace(-30, 30, 1001)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=0, atol=1e-15)


def test_random_model_is_deterministic_from_its_seed():
    a, b, c = random_model(seed=5), random_model(seed=5), random_model(seed=6)
    assert np.array_equal(a.layers[0].W_hh, b.layers[0].W_hh)
    assert not np.array_equal(a.layers[0].W_hh, c.layers[0].W_hh)


def test_initial_state_is_used():
    model = random_model(hidden=5, seed=1)
    h0 = np.full((1, 5), 0.5, dtype=np.float32)
    c0 = np.full((1, 5), -2.0, dtype=np.float32)
    trace = model.trace("ab", h0=h0, c0=c0)
    assert np.array_equal(trace.state_before("c", 0, 0), c0[0])
    rec = step(model.layers[0], trace.x[0], h0[0], c0[0])
    np.testing.assert_allclose(trace.states["c"][0, 0], rec["c"], atol=1e-6)


def test_empty_sequence_gives_empty_trace():
    trace = random_model(hidden=4).trace("")
    assert trace.steps == 0
    assert trace.states["h"].shape == (1, 0, 4)
    assert trace.y.shape[0] == 0


def test_layer_shapes():
    layer = Layer("gru", np.zeros((9, 2)), np.zeros((9, 3)), np.zeros(9), np.zeros(9))
    assert (layer.hidden_size, layer.input_size) == (3, 2)
