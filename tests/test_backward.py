"""Backpropagation through time against PyTorch's autograd and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import numeric_grad, tolerance
from lstm_tui.core import GATES, Model, random_model
from lstm_tui.core.backward import backward, cross_entropy, parameters, sum_last_h

EPS = 1e-6  # central-difference step, float64


def test_gradients_match_pytorch(reference):
    tensors, meta, model = reference
    trace = model.trace(tensors["x"])
    loss, dh_top = sum_last_h(trace)
    assert meta["loss"] == "sum(h_T) of the last layer"
    grads = backward(model, trace, dh_top)
    tol = tolerance(meta, grad=True)
    got = {"grad.x": grads.x}
    for k in range(model.num_layers):
        got[f"grad.h_l{k}"] = grads.h[k]
        if meta["cell"] == "lstm":
            got[f"grad.c_l{k}"] = grads.c[k]
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            got[f"grad.{name}_l{k}"] = grads.params[f"{name}_l{k}"]
    assert set(got) == {key for key in tensors if key.startswith("grad.")}
    for key, value in got.items():
        assert value.dtype == tensors[key].dtype, key
        err = np.abs(value - tensors[key]).max()
        assert err <= tol, f"{meta['cell']} {key}: max error {err:.3g} > {tol}"


def _state(model, rng):
    L, H = model.num_layers, model.hidden_size
    h0 = rng.uniform(-0.9, 0.9, (L, H))
    c0 = rng.uniform(-1.5, 1.5, (L, H)) if model.cell == "lstm" else None
    return h0, c0


def _numeric(f, array):
    return numeric_grad(f, array, EPS)


def _close(name, analytic, numeric):
    err = np.abs(analytic - numeric).max() if analytic.size else 0.0
    scale = max(1.0, np.abs(numeric).max() if numeric.size else 0.0)
    assert err <= 1e-7 * scale, f"{name}: analytic and numeric differ by {err:.3g}"


@pytest.mark.parametrize(
    "cell,layers", [("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 2), ("rnn_tanh", 2), ("rnn_relu", 1), ("rnn_relu", 2)]
)
def test_finite_differences_every_parameter_input_and_initial_state(cell, layers, rng):
    model = random_model(hidden=3, seed=7, cell=cell, layers=layers, embed=4, dtype="float64")
    x = rng.standard_normal((6, 4))
    h0, c0 = _state(model, rng)
    w = rng.standard_normal((6, 3))  # L = Σ w ⊙ h of the last layer: every step matters

    def loss():
        return float((model.trace(x, h0=h0, c0=c0).states["h"][-1] * w).sum())

    grads = backward(model, model.trace(x, h0=h0, c0=c0), dh_top=w)
    checked = []
    for name, array in parameters(model).items():
        if name.startswith(("encoder", "decoder")):
            assert name not in grads.params  # frames in, no head in the loss
            continue
        _close(name, grads.params[name], _numeric(loss, array))
        checked.append(name)
    assert len(checked) == 4 * layers
    _close("x", grads.x, _numeric(loss, x))
    _close("h0", grads.h0, _numeric(loss, h0))
    if cell == "lstm":
        _close("c0", grads.c0, _numeric(loss, c0))
    else:
        assert grads.c is None and grads.c0 is None


def _last_h_with_state(model, trace, x, layer, t, h, c):
    """The last layer's h (T, H) when ``layer``'s state after step t is replaced by (h, c)."""
    inp = x
    for k, lay in enumerate(model.layers):
        one = Model(layers=(lay,))
        if k < layer:
            out = trace.states["h"][k]
        elif k == layer:
            tail = one.trace(inp[t + 1 :], h0=h[None], c0=None if c is None else c[None]).states["h"][0]
            out = np.concatenate([trace.states["h"][k, :t], h[None], tail])
        else:
            c0 = None if trace.c0 is None else trace.c0[k : k + 1]
            out = one.trace(inp, h0=trace.h0[k : k + 1], c0=c0).states["h"][0]
        inp = out
    return inp


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("layer", [0, 1])
def test_total_state_gradients_by_finite_differences(cell, layer, rng):
    """grads.h[l, t] (and .c) is dL/dhᵗ through every later step and layer: perturb it and run on."""
    model = random_model(hidden=3, seed=2, cell=cell, layers=2, embed=4, dtype="float64")
    x = rng.standard_normal((5, 4))
    w = rng.standard_normal((5, 3))
    trace = model.trace(x)
    grads = backward(model, trace, dh_top=w)
    for t in (0, 2, 4):
        h = trace.states["h"][layer, t].copy()
        c = trace.states["c"][layer, t].copy() if cell == "lstm" else None

        def loss():
            return float((_last_h_with_state(model, trace, x, layer, t, h, c) * w).sum())

        _close(f"h[{layer}, {t}]", grads.h[layer, t], _numeric(loss, h))
        if cell == "lstm":
            o = trace.states["o"][layer, t]

            def loss_c():  # cᵗ reaches the loss also through hᵗ = o ⊙ tanh cᵗ
                return float((_last_h_with_state(model, trace, x, layer, t, o * np.tanh(c), c) * w).sum())

            _close(f"c[{layer}, {t}]", grads.c[layer, t], _numeric(loss_c, c))


@pytest.mark.parametrize("cell", list(GATES))
def test_cross_entropy_through_head_and_embedding(cell):
    model = random_model(hidden=3, seed=11, cell=cell, layers=1, embed=2, dtype="float64")
    text = "abcab"
    ids = model.trace(text).ids
    targets = np.array([1, 2, 3, 4, ids[0]])

    def loss():
        return cross_entropy(model.trace(text).logits, targets)[0]

    trace = model.trace(text)
    value, dlogits = cross_entropy(trace.logits, targets)
    assert value == pytest.approx(-np.log(trace.y[np.arange(5), targets]).mean(), rel=1e-12)
    grads = backward(model, trace, dlogits=dlogits)
    params = parameters(model)
    assert set(grads.params) == set(params)
    for name, array in params.items():
        if name == "encoder.weight":
            rows = np.unique(ids)  # only the rows the text used; the others must be zero
            numeric = np.stack([_numeric(loss, array[row]) for row in rows])
            _close(name, grads.params[name][rows], numeric)
            others = np.setdiff1d(np.arange(array.shape[0]), rows)
            assert not grads.params[name][others].any()
        else:
            _close(name, grads.params[name], _numeric(loss, array))


def test_head_and_outside_gradients_add():
    model = random_model(hidden=4, seed=3, cell="lstm", dtype="float64")
    trace = model.trace("hello")
    _, dlogits = cross_entropy(trace.logits, np.arange(5))
    _, dh_top = sum_last_h(trace)
    both = backward(model, trace, dh_top=dh_top, dlogits=dlogits)
    a = backward(model, trace, dh_top=dh_top)
    b = backward(model, trace, dlogits=dlogits)
    np.testing.assert_allclose(both.x, a.x + b.x, atol=1e-14)
    for name in ("weight_hh_l0", "encoder.weight"):
        np.testing.assert_allclose(both.params[name], a.params[name] + b.params[name], atol=1e-14)
    assert "decoder.weight" not in a.params and "encoder.weight" in a.params


@pytest.mark.parametrize("cell", list(GATES))
def test_empty_sequence_has_zero_gradients(cell):
    model = random_model(hidden=4, seed=1, cell=cell, layers=2)
    trace = model.trace("")
    grads = backward(model, trace, *sum_last_h(trace)[1:])
    assert grads.x.shape == (0, 16) and grads.h.shape == (2, 0, 4)
    assert not grads.h0.any()
    assert not grads.params["weight_hh_l1"].any()


def test_float32_stays_float32():
    model = random_model(hidden=5, seed=0, cell="gru")
    trace = model.trace("abc")
    grads = backward(model, trace, dlogits=cross_entropy(trace.logits, np.array([1, 2, 3]))[1])
    assert all(v.dtype == np.float32 for v in grads.params.values())
    assert grads.x.dtype == grads.h.dtype == np.float32


@pytest.mark.parametrize("acts", [(("Relu", 0.0, 0.0),), (("Tanh", 0.0, 0.0), ("Elu", 1.0, 0.0))])
def test_cross_entropy_through_a_head_with_hidden_layers(acts, rng):
    """A head with hidden layers (Keras's Dense(6, "relu"), Dense(V)): every parameter's gradient, the
    hidden layers' too, and the input's, by finite differences."""
    from dataclasses import replace

    from lstm_tui.core.model import Dense

    base = random_model(hidden=3, seed=5, cell="lstm", layers=1, embed=2, dtype="float64")
    widths = [3, 5, 4][: len(acts) + 1]
    hidden = tuple(Dense(rng.standard_normal((o, i)), rng.standard_normal(o), a)
                   for i, o, a in zip(widths, widths[1:], acts))
    V = base.head_W.shape[0]
    model = replace(base, head_hidden=hidden, head_W=rng.standard_normal((V, widths[-1])))
    text = "abcab"
    targets = np.array([1, 2, 3, 4, 0])

    def loss():
        return cross_entropy(model.trace(text).logits, targets)[0]

    trace = model.trace(text)
    h = trace.states["h"][-1]
    for d in hidden:  # the logits are the head's layers applied in turn
        name, alpha, beta = d.activation
        h = {"Relu": lambda a: np.maximum(a, 0), "Tanh": np.tanh,
             "Elu": lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0)))}[name](h @ d.W.T + d.b)
    np.testing.assert_allclose(trace.logits, h @ model.head_W.T + model.head_b, rtol=1e-12)
    grads = backward(model, trace, dlogits=cross_entropy(trace.logits, targets)[1])
    params = parameters(model)
    assert {f"head.{n}.{w}" for n in range(len(acts)) for w in ("weight", "bias")} <= set(grads.params) == set(params)
    for name, array in params.items():
        if name != "encoder.weight":
            _close(name, grads.params[name], _numeric(loss, array))
    with pytest.raises(Exception, match="hidden layer 0"):
        replace(model, head_hidden=(Dense(np.zeros((2, 7)), np.zeros(2)),))
