"""Every Layer field, mixed widths and initial states: step() = run() = the equations.

The reference is ``model_zoo.ref_layer``: the equations written again in
float64 in the tests, a reverse direction by reading the sequence reversed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lstm_tui.core import InputError, Model
from lstm_tui.core.cells import Bidirectional, activation, is_plain, run, step
from lstm_tui.core.checkpoint import checkpointed
from lstm_tui.core.model import Dense
from lstm_tui.core.tracing import TraceBuilder
from model_zoo import all_layer_configs, bidi, make_layer, ref_layer, ref_model

CONFIGS = all_layer_configs()


def _steps(layer, x, h0, c0):
    """The layer stepped one position at a time with step(), in its reading order."""
    T = x.shape[0]
    order = range(T - 1, -1, -1) if layer.reverse else range(T)
    out: dict[str, np.ndarray] = {}
    h, c = h0, c0
    for t in order:
        rec = step(layer, x[t], h, c)
        for q, v in rec.items():
            out.setdefault(q, np.zeros((T, v.shape[0])))[t] = v
        h, c = rec["h"], rec.get("c")
    return out


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_step_equals_run_equals_the_equations(name, kw, rng):
    E, H, T = 3, 5, 9
    layer = make_layer(rng, E=E, H=H, **kw)
    P = layer.output_size
    x = rng.standard_normal((T, E)) * 1.5
    h0 = rng.standard_normal(P) * 0.5
    c0 = rng.standard_normal(H) * 0.5 if layer.cell == "lstm" else None
    whole = run(layer, x, h0, c0)
    stepped = _steps(layer, x, h0, c0)
    ref = ref_layer(layer, x, h0, c0)
    assert set(ref) | {"xW", "hW"} == set(whole) == set(stepped)
    for q, v in ref.items():
        assert whole[q].shape == v.shape == (T, P if q == "h" else H), q
        np.testing.assert_allclose(whole[q], v, rtol=0, atol=1e-12, err_msg=q)
        np.testing.assert_allclose(stepped[q], whole[q], rtol=0, atol=1e-13, err_msg=q)
    np.testing.assert_allclose(stepped["xW"], whole["xW"], atol=1e-13)
    np.testing.assert_allclose(stepped["hW"], whole["hW"], atol=1e-13)
    np.testing.assert_allclose(whole["xW"], x @ layer.W_ih.T, atol=1e-12)


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_float32_within_1e5_of_float64(name, kw, rng):
    layer64 = make_layer(rng, E=4, H=6, **kw)
    layer32 = dataclasses.replace(
        layer64, **{f: getattr(layer64, f).astype(np.float32) for f in ("W_ih", "W_hh", "b_ih", "b_hh")},
        W_hr=None if layer64.W_hr is None else layer64.W_hr.astype(np.float32),
    )
    x = rng.standard_normal((12, 4))
    P, H = layer64.output_size, layer64.hidden_size
    c0 = np.zeros(H) if layer64.cell == "lstm" else None
    ref = ref_layer(layer64, x, np.zeros(P), c0)
    got = run(layer32, x.astype(np.float32), np.zeros(P, np.float32), None if c0 is None else c0.astype(np.float32))
    for q, v in ref.items():
        assert got[q].dtype == np.float32
        np.testing.assert_allclose(got[q], v, rtol=0, atol=1e-5, err_msg=q)


def test_the_fast_loop_is_taken_only_for_plain_layers(rng):
    assert is_plain(make_layer(rng, "lstm", 2, 3))
    assert is_plain(make_layer(rng, "gru", 2, 3, reverse=True))
    assert not is_plain(make_layer(rng, "lstm", 2, 3, P=2))
    assert not is_plain(make_layer(rng, "gru", 2, 3, lbr=False))
    assert not is_plain(make_layer(rng, "rnn_tanh", 2, 3, clip=1.0))
    assert not is_plain(make_layer(rng, "rnn_tanh", 2, 3, activations=(("Relu", 0, 0),)))
    assert is_plain(make_layer(rng, "rnn_tanh", 2, 3, activations=(("Tanh", 0, 0),)))
    assert is_plain(make_layer(rng, "gru", 2, 3, activations=[["Sigmoid", 0.0, 0.0], ["Tanh", 0, 0]]))


def test_gru_linear_before_reset_false_records_the_product_that_enters_n(rng):
    layer = make_layer(rng, "gru", 3, 4, lbr=False)
    x, h = rng.standard_normal(3), rng.standard_normal(4)
    rec = step(layer, x, h)
    H = 4
    np.testing.assert_allclose(rec["hW"][: 2 * H], layer.W_hh[: 2 * H] @ h)
    np.testing.assert_allclose(rec["hW"][2 * H :], layer.W_hh[2 * H :] @ (rec["r"] * h))
    pre_n = rec["xW"][2 * H :] + layer.b_ih[2 * H :] + rec["hW"][2 * H :] + layer.b_hh[2 * H :]
    np.testing.assert_allclose(np.tanh(pre_n), rec["n"])


def test_activation_fills_onnx_defaults():
    assert activation("HardSigmoid") == ("HardSigmoid", 0.2, 0.5)
    assert activation("LeakyRelu") == ("LeakyRelu", 0.01, 0.0)
    assert activation("ScaledTanh", beta=2) == ("ScaledTanh", 1.0, 2.0)
    with pytest.raises(KeyError):
        activation("Swish")


def _mixed_model(rng, dtype="float64", head=True):
    """Embedding 5 → Bidirectional projected LSTM (H 6, P 4: 8 wide) → LSTM H 3 → head."""
    E = 5
    l0 = bidi(rng, "lstm", E, 6, P=4, dtype=dtype)
    l1 = make_layer(rng, "lstm", 8, 3, dtype=dtype)
    V = 7
    return Model(
        layers=(l0, l1),
        embedding=rng.standard_normal((V, E)).astype(dtype),
        head_W=rng.standard_normal((V, 3)).astype(dtype) if head else None,
        head_b=rng.standard_normal(V).astype(dtype) if head else None,
        vocab=tuple("abcdef") + ("<unk>",),
    )


def test_mixed_width_model_traces_every_level_against_the_reference(rng):
    model = _mixed_model(rng)
    assert not model.uniform and model.bidirectional
    assert model.widths("h") == (8, 3) and model.widths("c") == (12, 3) and model.widths("xW") == (48, 12)
    with pytest.raises(ValueError, match="width"):
        model.hidden_size
    trace = model.trace("abcabfed")
    T = 8
    ref = ref_model(model, trace.x)
    for n in range(2):
        for q in trace.quantities:
            assert trace.states[q][n].shape == (T, model.width(q, n))
            np.testing.assert_allclose(trace.states[q][n], ref[n][q], atol=1e-12, err_msg=f"{q} l{n}")
    logits = ref[1]["h"] @ model.head_W.T + model.head_b
    np.testing.assert_allclose(trace.logits, logits, atol=1e-12)
    assert trace.width("h", 0) == 8 and trace.width("x", 1) == 8 and trace.width("c_prev", 0) == 12
    with pytest.raises(ValueError):
        trace.hidden_size


def test_initial_states_per_level_forward_units_first(rng):
    model = _mixed_model(rng)
    h0 = [rng.standard_normal(8), rng.standard_normal(3)]
    c0 = [rng.standard_normal(12), rng.standard_normal(3)]
    trace = model.trace("fedcba", h0=h0, c0=c0)
    ref = ref_model(model, trace.x, h0, c0)
    for n in range(2):
        for q in trace.quantities:
            np.testing.assert_allclose(trace.states[q][n], ref[n][q], atol=1e-12)
    # the backward half's initial state is its state before position T-1
    np.testing.assert_array_equal(trace.state_before("h", 0, 5)[4:], h0[0][4:])
    np.testing.assert_array_equal(trace.state_before("c", 0, 0)[:6], c0[0][:6])
    with pytest.raises(InputError, match="layer 1"):
        model.trace("abc", h0=[h0[0], np.zeros(4)])


def test_state_before_of_the_backward_half_is_the_state_at_t_plus_1(rng):
    model = _mixed_model(rng)
    trace = model.trace("abcdefa")
    T = trace.steps
    h = trace.states["h"][0]  # (T, 8): forward 0..3, backward 4..7
    c = trace.states["c"][0]  # (T, 12): forward 0..5, backward 6..11
    for k in range(T):
        hb = trace.state_before("h", 0, k)
        np.testing.assert_array_equal(hb[:4], h[k - 1, :4] if k else 0)
        np.testing.assert_array_equal(hb[4:], h[k + 1, 4:] if k < T - 1 else 0)
        cb = trace.state_before("c", 0, k)
        np.testing.assert_array_equal(cb[6:], c[k + 1, 6:] if k < T - 1 else 0)
        np.testing.assert_array_equal(trace.value("h_prev", 0, k), hb)
    for start, stop in [(0, T), (0, 3), (2, 5), (4, T), (3, 3)]:
        block = trace.states_before("h", 0, start, stop)
        want = [trace.state_before("h", 0, k) for k in range(start, stop)]
        np.testing.assert_array_equal(block, np.array(want).reshape(-1, 8))
        np.testing.assert_array_equal(
            trace.states_before("c", 1, start, stop), np.array([trace.state_before("c", 1, k) for k in range(start, stop)]).reshape(-1, 3)
        )
    # a forward-only level above it is the usual hᵗ⁻¹
    np.testing.assert_array_equal(trace.state_before("h", 1, 3), trace.states["h"][1][2])


def test_windows_of_a_bidirectional_trace_keep_every_value(rng):
    model = _mixed_model(rng)
    trace = model.trace("abcdefabcd")
    for start, stop in [(0, 10), (2, 7), (0, 3), (6, 10), (4, 4)]:
        win = trace.window(start, stop)
        assert win.offset == start
        for k in range(win.steps):
            for n in range(2):
                for q in ("h", "c", "i", "h_prev", "c_prev", "x", "xW", "hW"):
                    np.testing.assert_array_equal(win.value(q, n, k), trace.value(q, n, start + k), err_msg=q)
        # a window recomputed from its own initial states gives the same numbers
        if win.steps:
            again = model.trace_vectors(win.x, win.tokens, win.ids, win.unknown, win.h0, win.c0)
            for n in range(2):
                np.testing.assert_allclose(again.states["h"][n], win.states["h"][n], atol=1e-13)


def test_arrays_are_per_layer_when_widths_differ(rng):
    model = _mixed_model(rng)
    arrays = model.trace("abcd").arrays()
    for q in ("i", "f", "g", "o", "c", "h"):
        assert q not in arrays
    assert arrays["h_l0"].shape == (4, 8) and arrays["h_l1"].shape == (4, 3)
    assert arrays["c_l0"].shape == (4, 12) and arrays["i_l1"].shape == (4, 3)
    assert arrays["y"].shape == (4, 7)


def test_uniform_bidirectional_stack_keeps_one_array_per_quantity(rng):
    l0 = bidi(rng, "gru", 3, 4)
    l1 = bidi(rng, "gru", 8, 4, lbr=False)
    model = Model(layers=(l0, l1))
    assert model.uniform and model.hidden_size == 8
    x = rng.standard_normal((6, 3))
    trace = model.trace(x)
    assert trace.states["h"].shape == (2, 6, 8) and trace.xW.shape == (2, 6, 24)
    ref = ref_model(model, x)
    for n in range(2):
        for q in trace.quantities:
            np.testing.assert_allclose(trace.states[q][n], ref[n][q], atol=1e-12)
    arrays = trace.arrays()
    assert arrays["h"].shape == (2, 6, 8) and "h_l0" not in arrays


def test_projected_lstm_keeps_h_and_c_widths(rng):
    model = Model(layers=(make_layer(rng, "lstm", 3, 6, P=2), make_layer(rng, "lstm", 2, 6, P=2)))
    assert model.uniform and model.widths("h") == (2, 2) and model.widths("c") == (6, 6)
    trace = model.trace(rng.standard_normal((5, 3)))
    assert trace.states["h"].shape == (2, 5, 2) and trace.states["c"].shape == (2, 5, 6)
    arrays = trace.arrays()
    assert arrays["h"].shape == (2, 5, 2) and arrays["o"].shape == (2, 5, 6)


def test_mixed_kinds_and_broken_chains_are_refused_in_one_line(rng):
    with pytest.raises(InputError, match="mix cell kinds"):
        Model(layers=(make_layer(rng, "lstm", 3, 4), make_layer(rng, "gru", 4, 4)))
    with pytest.raises(InputError, match="layer 1 takes inputs of size 4, layer 0 gives 8"):
        Model(layers=(bidi(rng, "lstm", 3, 4), make_layer(rng, "lstm", 4, 4)))
    with pytest.raises(InputError, match="forward direction and a reverse"):
        Model(layers=(Bidirectional(make_layer(rng, "gru", 3, 4), make_layer(rng, "gru", 3, 4)),))
    with pytest.raises(InputError, match="head takes vectors of size 4, the last layer gives 8"):
        Model(layers=(bidi(rng, "lstm", 3, 4),), head_W=np.zeros((5, 4)), head_b=np.zeros(5))
    with pytest.raises(InputError, match="embedding gives vectors of size 2, layer 0 takes 3"):
        Model(layers=(make_layer(rng, "gru", 3, 4),), embedding=np.zeros((5, 2)))
    good = make_layer(rng, "lstm", 3, 4, P=2)
    bad = [
        (dataclasses.replace(good, W_hr=None), "W_hh has 2 columns, expected H = 4"),
        (dataclasses.replace(good, b_hh=np.zeros(15)), "do not share 4·H = 16 rows"),
        (dataclasses.replace(good, W_hr=np.zeros((2, 3))), r"W_hr must be an LSTM's \[P, H\] = \[2, 4\]"),
        (dataclasses.replace(good, activations=(("Sigmoid", 0, 0), ("Swish", 0, 0), ("Tanh", 0, 0))), "expected 3 of"),
        (dataclasses.replace(good, clip=0.0), "clip must be a positive number"),
        (dataclasses.replace(good, cell="lstmx"), "unknown cell 'lstmx'"),
    ]
    for layer, message in bad:
        with pytest.raises(InputError, match=message):
            Model(layers=(layer,))
    with pytest.raises(InputError, match=r"layer 0 \(reverse\): clip"):
        Model(layers=(Bidirectional(make_layer(rng, "gru", 3, 4), make_layer(rng, "gru", 3, 4, reverse=True, clip=-1.0)),))
    # the two plain RNNs record the same quantities and may share a stack
    Model(layers=(make_layer(rng, "rnn_tanh", 3, 4), make_layer(rng, "rnn_relu", 4, 2)))


def test_activation_parameters_that_are_not_finite_are_refused_naming_the_layer(rng):
    """A NaN or ±inf alpha or beta makes every output NaN: Model refuses it, whichever reader (or caller) made it."""
    nan, inf = float("nan"), float("inf")
    good = make_layer(rng, "gru", 3, 4)
    for alpha, beta, said in ((nan, 0.0, "layer 0: activation LeakyRelu has alpha nan; expected a finite number"),
                              (0.5, -inf, "layer 0: activation LeakyRelu has beta -inf; expected a finite number"),
                              (inf, nan, "activation LeakyRelu has alpha inf and beta nan; expected finite numbers")):
        layer = dataclasses.replace(good, activations=(("Sigmoid", 0.0, 0.0), ("LeakyRelu", alpha, beta)))
        with pytest.raises(InputError, match=f"^{said}$" if said.startswith("layer") else said):
            Model(layers=(layer,))
    back = make_layer(rng, "gru", 4, 2, reverse=True, activations=(("Sigmoid", 0, 0), ("ScaledTanh", nan, 1.0)))
    with pytest.raises(InputError, match=r"^layer 1 \(reverse\): activation ScaledTanh has alpha nan"):
        Model(layers=(good, Bidirectional(make_layer(rng, "gru", 4, 2), back)))
    head = dict(head_W=np.zeros((5, 6)), head_b=np.zeros(5))
    with pytest.raises(InputError, match="^the head's hidden layer 0: activation Elu has alpha nan; expected a finite"):
        Model(layers=(good,), head_hidden=(Dense(np.zeros((6, 4)), np.zeros(6), ("Elu", nan, 0.0)),), **head)
    Model(layers=(good,), head_hidden=(Dense(np.zeros((6, 4)), np.zeros(6), ("Elu", 0.5, 0.0)),), **head)


def test_astype_keeps_every_field(rng):
    model = Model(layers=(bidi(rng, "lstm", 3, 4, P=2, clip=0.5, activations=(("Sigmoid", 0, 0), ("Softsign", 0, 0), ("Tanh", 0, 0))),))
    m32 = model.astype("float32")
    fw = m32.layers[0].forward
    assert isinstance(m32.layers[0], Bidirectional) and m32.layers[0].backward.reverse
    assert fw.W_hr.dtype == np.float32 and fw.clip == 0.5 and fw.activations[1][0] == "Softsign"
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(m32.trace(x).states["h"][0], model.trace(x).states["h"][0], atol=1e-5)


def test_checkpointed_windows_equal_the_full_trace_for_mixed_widths(rng):
    l0 = make_layer(rng, "lstm", 5, 6, P=4, dtype="float32")
    l1 = make_layer(rng, "lstm", 4, 3, clip=0.9, dtype="float32")
    model = Model(layers=(l0, l1), embedding=rng.standard_normal((7, 5)).astype("float32"), vocab=tuple("abcdef") + ("<unk>",))
    text = "abcdefedcbabcfeda" * 3
    full = model.trace(text)
    long = checkpointed(model, text, window=8)
    assert long.window_length == 8 and not long.uniform
    assert long.width("h", 0) == 4 and long.width("c", 0) == 6
    for start, stop in [(0, 51), (5, 30), (16, 24), (40, 51)]:
        win = long.window(start, stop)
        for n in range(2):
            for q in full.quantities:
                np.testing.assert_array_equal(win.states[q][n], full.states[q][n][start:stop])
    np.testing.assert_array_equal(long.states_before("c", 1, 6, 20), full.states_before("c", 1, 6, 20))
    for k in (0, 7, 8, 9, 50):
        for n in range(2):
            np.testing.assert_array_equal(long.state_before("c", n, k), full.state_before("c", n, k))
            np.testing.assert_array_equal(long.value("h", n, k), full.value("h", n, k))
    for n in range(2):
        for q in ("h", "c", "f", "x"):
            assert long.abs_max(q, n) == full.abs_max(q, n)
        s = long.summary("h", n)
        assert s.lo.shape[1] == model.width("h", n)
        np.testing.assert_allclose(s.hi.max(axis=0), full.states["h"][n].max(axis=0), atol=1e-7)
    built = TraceBuilder(model, text, limit=0, window=8)
    while not built.complete:
        built.advance(max_steps=8)
    np.testing.assert_array_equal(built.snapshot().window(0, 51).states["h"][1], full.states["h"][1])


def test_a_model_that_reads_backwards_is_traced_whole(rng, monkeypatch):
    from lstm_tui.core import tracing

    model = _mixed_model(rng, dtype="float32")
    text = "abcdef" * 20
    full = model.trace(text)
    built = TraceBuilder(model, text, limit=0, window=8)  # a limit that would checkpoint a forward model
    assert not built.checkpointed
    built.advance(seconds=0.0, max_steps=1)
    assert built.complete
    for n in range(2):
        np.testing.assert_array_equal(built.snapshot().states["h"][n], full.states["h"][n])
    with pytest.raises(InputError, match="reads the sequence backwards"):
        checkpointed(model, text, window=8)
    monkeypatch.setattr(tracing, "REVERSE_TRACE_BYTES", 1000)
    with pytest.raises(InputError, match="reads the sequence backwards.*shorter input"):
        TraceBuilder(model, text)
