"""Watches: an expression's value at every step, against NumPy's own answer, full and checkpointed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_tui.core import InputError, random_model
from lstm_tui.core.breakpoints import compile_expression
from lstm_tui.core.checkpoint import checkpointed
from lstm_tui.core.watches import watch

TEXT = "(a(b)c) ((d)) e(f(g(h)))i j((k)) l (m) n" * 3


@pytest.fixture(scope="module")
def model():
    return random_model(hidden=8, seed=5, layers=2)


@pytest.fixture(scope="module")
def trace(model):
    return model.trace(TEXT)


def expected(tr, L):
    s = tr.states
    c, o, f, h = (s[q][L] for q in "cofh")
    T = tr.steps
    toks = np.array(tr.tokens)
    prev = np.append("", toks[:-1])
    nxt_ids = np.append(tr.ids[1:], -1)
    c_prev = np.concatenate([tr.c0[L][None], c[:-1]])
    x = tr.layer_input(L)
    return [
        ("c[3] * o[3]", c[:, 3] * o[:, 3]),
        ("max(f)", f.max(axis=1)),
        ("h[3] - h[4]", h[:, 3] - h[:, 4]),
        ("f[0] < 0.5", (f[:, 0] < 0.5).astype(float)),
        ("t", np.arange(1, T + 1)),
        ("c_prev[2] + x[1]", c_prev[:, 2] + x[:, 1]),
        ('token == "(" or prev_token == ")"', ((toks == "(") | (prev == ")")).astype(float)),
        ("y.argmax() == next_token", (tr.y.argmax(axis=1) == nxt_ids).astype(float)),
        ("abs(c).max() / 2", np.abs(c).max(axis=1) / 2),
        ("h[h.argmax()] ** 2", h.max(axis=1).astype(np.float64) ** 2),
    ]


@pytest.mark.parametrize("layer", [0, 1])
def test_watch_matches_numpy(trace, layer):
    for text, want in expected(trace, layer):
        got = watch(trace, text, layer)
        assert got.shape == (trace.steps,) and got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=text)


def test_nan_where_it_fails(trace):
    H = trace.states["c"][0].shape[1]
    got = watch(trace, "c[t - 1]", 0)  # in range for the first H steps only
    c = trace.states["c"][0]
    np.testing.assert_allclose(got[:H], c[np.arange(H), np.arange(H)], rtol=1e-6)
    assert np.isnan(got[H:]).all()
    power = watch(trace, "2 ** (3 * t)", 0)  # exponents over 64 are refused per step
    assert np.isnan(power[21:]).all() and power[20] == 2.0**63
    assert np.isnan(watch(trace, "f[30]", 0)).all()  # wider than the layer at every step
    assert np.isnan(watch(trace, "top == 'Z'", 0)).all()  # Z is not in the text and no vocabulary was given


def test_watch_refuses_what_is_not_one_number(trace):
    refused = [("c", "is a vector"), ("token", "is a token, not a number"), ("f[", "column 3"),
               ("q + 1", "unknown name"), ("  ", "the watch is empty")]
    for text, message in refused:
        with pytest.raises(InputError, match=message):
            compile_expression(text, "lstm", True)
    with pytest.raises(InputError, match="layer 3 does not exist"):
        watch(trace, "t", 2)


def test_checkpointed_trace_window_by_window_matches_full(model, monkeypatch):
    monkeypatch.setattr("lstm_tui.core.watches.CHUNK_SECONDS", 0.0)  # one window (64 steps) a chunk
    text = "".join(np.random.default_rng(1).choice(list("ab() "), size=1500))
    full = model.trace(text)
    ck = checkpointed(model, text, window=64)
    assert ck.window_length == 64
    for expr in ["c[2] * o[2]", "h_prev[1]", "t", "prev_token == '(' and next_token == ')'", "next_id - prev_id"]:
        for layer in (0, 1):
            # a window recomputed from its checkpoint is the forward pass's, within float32 rounding of the full run's
            np.testing.assert_allclose(watch(ck, expr, layer), watch(full, expr, layer), rtol=1e-5, atol=1e-6,
                                       err_msg=expr)
    part = watch(ck, "t + h[0]", 1, start=100, stop=700)
    np.testing.assert_allclose(part, watch(full, "t + h[0]", 1)[100:700], rtol=1e-5, atol=1e-6)
    seen = []
    stopped = watch(ck, "t", 0, progress=lambda k: seen.append(k) or k < 500)
    assert seen == list(range(0, 513, 64))  # the chunk from 512 on is refused
    assert np.isfinite(stopped[:512]).all() and np.isnan(stopped[512:]).all()


LEAVES = ["f", "c", "h", "x", "y", "t", "layer", "token", "next_token", "top", "token_id", "c_prev", "h_prev",
          "0", "1", "-1", "7", "0.5", "1e300", "1e400", "100", '"("', "'a'", "True"]
OPS = ["+", "-", "*", "/", "**", "<", "<=", ">", ">=", "==", "!=", "and", "or"]
FUNCS = ["abs", "tanh", "min", "max", "mean", "sum", "std", "any", "all", "argmax", "argmin", "len", "abs", "open"]


def _extend(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(OPS), children).map(lambda p: f"({p[0]} {p[1]} {p[2]})"),
        st.tuples(st.sampled_from(["-", "not ", "+"]), children).map(lambda p: f"{p[0]}({p[1]})"),
        st.tuples(st.sampled_from(FUNCS), st.lists(children, min_size=1, max_size=3)).map(
            lambda p: f"{p[0]}({', '.join(p[1])})"),
        st.tuples(children, st.sampled_from(["max", "argmin", "any", "std", "__class__"])).map(
            lambda p: f"({p[0]}).{p[1]}()"),
        st.tuples(children, children).map(lambda p: f"({p[0]})[{p[1]}]"),
        st.tuples(children, st.sampled_from(["", "1", "-2", "t"]), st.sampled_from(["", "3", "-1", "0"]),
                  st.sampled_from(["", ":2", ":-1", ":0"])).map(lambda p: f"({p[0]})[{p[1]}:{p[2]}{p[3]}]"),
    )


EXPRESSIONS = st.recursive(st.sampled_from(LEAVES) | st.sampled_from(LEAVES) | st.sampled_from(["q", "__class__"]),
                           _extend, max_leaves=10)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(EXPRESSIONS)
def test_random_expressions_only_raise_input_error(trace, text):
    """Built from the grammar's own pieces: compiled, watched and scanned, nothing but InputError escapes."""
    try:
        w = compile_expression(text, "lstm", True)
    except InputError as e:
        assert "\n" not in str(e)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            got = watch(trace, w, 1)
        except InputError as e:
            assert "\n" not in str(e)
            return
    assert got.shape == (trace.steps,) and got.dtype == np.float64
