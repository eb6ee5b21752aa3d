"""Backward passes through every Layer field, bidirectional levels and mixed widths,
against float64 finite differences of the forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import numeric_grad
from lstm_tui.core import Model
from lstm_tui.core.backward import backward, parameters
from lstm_tui.core.gradients import export_gradients, gradient_norms, target_gradients
from model_zoo import all_layer_configs, bidi, make_layer

EPS = 1e-6


def _close(name, analytic, numeric):
    err = np.abs(analytic - numeric).max() if analytic.size else 0.0
    scale = max(1.0, np.abs(numeric).max() if numeric.size else 0.0)
    assert err <= 1e-7 * scale, f"{name}: analytic and numeric differ by {err:.3g}"


def _initial(model, rng):
    h0 = [rng.uniform(-0.9, 0.9, model.width("h", n)) for n in range(model.num_layers)]
    c0 = [rng.uniform(-1.5, 1.5, model.width("c", n)) for n in range(model.num_layers)] if model.cell == "lstm" else None
    return h0, c0


def _check_everything(model, rng, T=5, head=False):
    """dL/d every parameter, the inputs and the initial states, L = Σ w ⊙ h_top (+ Σ u ⊙ logits)."""
    x = rng.standard_normal((T, model.input_size))
    h0, c0 = _initial(model, rng)
    w = rng.standard_normal((T, model.output_size))
    u = rng.standard_normal((T, model.head_W.shape[0])) if head else None

    def loss():
        tr = model.trace(x, h0=h0, c0=c0)
        out = float((tr.states["h"][-1] * w).sum())
        return out + (float((tr.logits * u).sum()) if head else 0.0)

    grads = backward(model, model.trace(x, h0=h0, c0=c0), dh_top=w, dlogits=u)
    names = []
    for name, array in parameters(model).items():
        if name.startswith("encoder") or (name.startswith("decoder") and not head):
            continue
        _close(name, grads.params[name], numeric_grad(loss, array, EPS))
        names.append(name)
    _close("x", grads.x, numeric_grad(loss, x, EPS))
    for n in range(model.num_layers):
        _close(f"h0 l{n}", grads.h0[n], numeric_grad(loss, h0[n], EPS))
        if c0 is not None:
            _close(f"c0 l{n}", grads.c0[n], numeric_grad(loss, c0[n], EPS))
    return grads, names


CONFIGS = all_layer_configs()


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_every_layer_field_by_finite_differences(name, kw, rng):
    model = Model(layers=(make_layer(rng, E=3, H=4, **kw),))
    grads, names = _check_everything(model, rng)
    if kw.get("P"):
        assert "weight_hr_l0" in names


def test_bidirectional_projected_lstm_then_a_narrower_lstm_with_a_head(rng):
    l0 = bidi(rng, "lstm", 3, 4, P=2)
    l1 = make_layer(rng, "lstm", 4, 3, clip=1.2)
    model = Model(layers=(l0, l1), head_W=rng.standard_normal((5, 3)), head_b=rng.standard_normal(5))
    grads, names = _check_everything(model, rng, head=True)
    assert {"weight_hr_l0", "weight_hr_l0_reverse", "weight_ih_l0_reverse", "weight_hh_l1", "decoder.weight"} <= set(names)
    assert grads.h[0].shape == (5, 4) and grads.c[0].shape == (5, 8) and grads.h[1].shape == (5, 3)


def test_bidirectional_gru_stack_without_reset_after_and_with_clip(rng):
    l0 = bidi(rng, "gru", 3, 3, lbr=False, clip=0.9)
    l1 = bidi(rng, "gru", 6, 3)
    _check_everything(Model(layers=(l0, l1)), rng)


def test_bidirectional_rnn_with_other_activations(rng):
    l0 = bidi(rng, "rnn_tanh", 3, 4, activations=(("Softsign", 0, 0),))
    l1 = make_layer(rng, "rnn_relu", 8, 2, activations=(("Elu", 0.7, 0),), reverse=True)
    _check_everything(Model(layers=(l0, l1)), rng)


def test_total_state_gradients_of_a_bidirectional_level(rng):
    """grads.h[0] at position t is dL/dhᵗ of both directions: perturb the state a step hands on."""
    model = Model(layers=(bidi(rng, "lstm", 2, 3),))
    x = rng.standard_normal((6, 2))
    w = rng.standard_normal((6, 6))
    trace = model.trace(x)
    grads = backward(model, trace, dh_top=w)
    # the backward direction's h at position 2 is what it hands to position 1: start a run there
    t = 2
    bw = model.layers[0].backward
    from lstm_tui.core.cells import run

    def tail_loss(h_start):
        rec = run(bw, x[:t], h_start, trace.states["c"][0][t, 3:])
        return float((rec["h"] * w[:t, 3:]).sum()) + float(h_start @ w[t, 3:])

    h_start = trace.states["h"][0][t, 3:].copy()
    num = numeric_grad(lambda: tail_loss(h_start), h_start, EPS)
    _close("dh backward at t", grads.h[0][t, 3:], num)


def test_gradient_views_and_export_for_mixed_widths(rng):
    l0 = bidi(rng, "lstm", 3, 4, P=2)
    l1 = make_layer(rng, "lstm", 4, 3)
    V = 6
    model = Model(
        layers=(l0, l1), embedding=rng.standard_normal((V, 3)), head_W=rng.standard_normal((V, 3)),
        head_b=rng.standard_normal(V), vocab=tuple("abcde") + ("<unk>",),
    )
    trace = model.trace("abcdeab")
    norms = gradient_norms(model, trace, "top", 4)
    # a stack that reads backwards: later steps reach the target, so every step has a norm
    assert norms["h"].shape == (2, 7) and norms["c"].shape == (2, 7) and norms["x"].shape == (7,)
    assert norms["k"] == 4 and norms["x"][6] > 0
    out = export_gradients(model, trace, "sum-h")
    assert set(out) == {"grad_x", "grad_h_l0", "grad_h_l1", "grad_c_l0", "grad_c_l1"}
    assert out["grad_h_l0"].shape == (7, 4) and out["grad_c_l0"].shape == (7, 8) and out["grad_h_l1"].shape == (7, 3)
    # the target at step k of a bidirectional stack depends on later steps: its gradients cover them
    value, label, grads = target_gradients(model, trace, "sum-h", 2)
    assert grads.x.shape[0] == 7 and np.abs(grads.x[5:]).max() > 0

    def val():
        return float(model.trace(ids_frames).states["h"][-1][2].sum())

    ids_frames = model.embedding[trace.ids].copy()
    _close("sum-h at step 3 by x", grads.x, numeric_grad(val, ids_frames, EPS))
