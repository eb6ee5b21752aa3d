"""Breakpoint expressions: stops against NumPy's own answer, refusals, and a fuzz test."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import warnings
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lstm_tui.core import InputError, Layer, Model, random_model
from lstm_tui.core import breakpoints as bp_module
from lstm_tui.core.breakpoints import MAX_LENGTH, compile_breakpoint, compile_expression, find_next, names_for
from lstm_tui.core.watches import watch

TEXT = "(a(b)c) ((d)) e(f(g(h)))i j((k)) l (m) n"
RIGHT = (2, 5, 9, 17, 30)  # steps (0-based) where the planted head predicts the next token


@pytest.fixture(scope="module")
def model():
    return random_model(hidden=8, seed=7, layers=2)


@pytest.fixture(scope="module")
def trace(model):
    """A two-layer LSTM trace whose head is replaced by one with a known top token per step."""
    tr = model.trace(TEXT)
    T, V = tr.y.shape
    nxt = np.append(tr.ids[1:], 0)
    top = (nxt + 1) % V  # wrong everywhere ...
    top[list(RIGHT)] = nxt[list(RIGHT)]  # ... except at the planted steps
    y = np.full((T, V), 0.5 / (V - 1), dtype=tr.y.dtype)
    y[np.arange(T), top] = 0.5
    return dataclasses.replace(tr, y=y)


def q(trace, name, layer):
    """Quantity ``name`` of ``layer`` for every step, (T, H), straight from the trace's arrays."""
    s = trace.states
    if name == "c_prev":
        return np.concatenate([trace.c0[layer][None], s["c"][layer, :-1]])
    return trace.layer_input(layer) if name == "x" else s[name][layer]


def at(trace, name, layer, p):
    """The p-quantile of a quantity: a threshold that some steps pass and some do not."""
    return repr(float(np.quantile(q(trace, name, layer), p)))


def expected_masks(tr, L):
    """(expression, (T,) bool mask computed directly in NumPy) for layer L."""
    T = tr.steps
    toks = np.array(tr.tokens)
    prev, nxt = np.append("", toks[:-1]), np.append(toks[1:], "")
    nxt_ids = np.append(tr.ids[1:], -1)
    top = tr.y.argmax(axis=1)
    f, i, o, c, h = (q(tr, n, L) for n in "fioch")
    t = np.arange(1, T + 1)
    cm = np.abs(c).max(axis=1)
    thr = {
        "f3": float(np.quantile(f[:, 3], 0.3)),
        "cmax": float(np.quantile(cm, 0.8)),
        "c3": float(np.quantile(c[:, 3], 0.5)),
        "hmean": float(np.quantile(h.mean(axis=1), 0.2)),
        "imin": float(np.quantile(i[:, 0:4].min(axis=1), 0.7)),
        "cprev": float(np.quantile(q(tr, "c_prev", L)[:, 2], 0.6)),
        "x1": float(np.quantile(q(tr, "x", L)[:, 1], 0.75)),
        "o0": float(np.quantile(o[:, 0], 0.4)),
        "h2": float(np.quantile(h[:, 0].astype(np.float64) ** 2, 0.9)),
        "fi": float(np.quantile(f[:, -1] - i[:, -1], 0.85)),
        "cat": float(np.quantile(c[np.arange(T), h.argmax(axis=1)], 0.7)),
    }
    lo, hi = (float(v) for v in np.quantile(f[:, 1], [0.3, 0.6]))
    fsum = (f > np.median(f)).sum(axis=1)
    return [
        (f"f[3] < {thr['f3']!r}", f[:, 3] < thr["f3"]),
        (f"abs(c).max() > {thr['cmax']!r}", cm > thr["cmax"]),
        ('token == "("', toks == "("),
        ("y.argmax() != next_token", top != nxt_ids),
        ("top == next_token", top == nxt_ids),
        (f"c[3] > {thr['c3']!r} and t > 5", (c[:, 3] > thr["c3"]) & (t > 5)),
        (f"h.mean() < {thr['hmean']!r}", h.mean(axis=1) < thr["hmean"]),
        (f"i[0:4].min() > {thr['imin']!r}", i[:, 0:4].min(axis=1) > thr["imin"]),
        (f"c_prev[2] >= {thr['cprev']!r}", q(tr, "c_prev", L)[:, 2] >= thr["cprev"]),
        (f"x[1] > {thr['x1']!r}", q(tr, "x", L)[:, 1] > thr["x1"]),
        (f"{lo!r} < f[1] <= {hi!r}", (lo < f[:, 1]) & (f[:, 1] <= hi)),
        (f"not (o[0] > {thr['o0']!r})", ~(o[:, 0] > thr["o0"])),
        (f"(f > {float(np.median(f))!r}).sum() >= 5", fsum >= 5),
        ("token == prev_token or next_token == ')'", (toks == prev) | (nxt == ")")),
        (f"f[-1] - i[-1] > {thr['fi']!r}", f[:, -1] - i[:, -1] > thr["fi"]),
        (f"h[0] ** 2 > {thr['h2']!r}", h[:, 0].astype(np.float64) ** 2 > thr["h2"]),  # powers are taken in float64
        (f"c[h.argmax()] > {thr['cat']!r}", c[np.arange(T), h.argmax(axis=1)] > thr["cat"]),
        ("t == 7 or t == 31", (t == 7) | (t == 31)),
        (f"layer == {L + 1} and token_id == next_id - 0", (tr.ids == nxt_ids)),
        ("max(f[0], i[0]) > 0.5 and len(x) > 0", np.maximum(f[:, 0], i[:, 0]) > 0.5),
    ]


def reference_next(mask, k, direction):
    hits = np.flatnonzero(mask)
    hits = hits[hits > k] if direction > 0 else hits[hits < k][::-1]
    return int(hits[0]) if hits.size else None


@pytest.mark.parametrize("layer", [0, 1])
def test_stops_where_numpy_says_both_ways(trace, layer):
    for text, mask in expected_masks(trace, layer):
        b = compile_breakpoint(text, "lstm", has_head=True)
        assert mask.any() and not mask.all() or text.startswith("layer"), f"{text}: a weak test"
        got = [b.test(trace, layer, k) for k in range(trace.steps)]
        assert got == mask.tolist(), text
        for k in range(-1, trace.steps + 1):
            for d in (1, -1):
                assert find_next(trace, [b], layer, k, d) == reference_next(mask, k, d), (text, k, d)


def test_planted_predictions(trace):
    wrong = compile_breakpoint("y.argmax() != next_token", "lstm", True)
    right = compile_breakpoint("top == next_token", "lstm", True)
    assert find_next(trace, [right], 0, 0, 1) == RIGHT[0]
    assert find_next(trace, [right], 0, trace.steps - 1, -1) == RIGHT[-1]
    # every step is wrong but the planted ones, and the last, which has no next token
    assert find_next(trace, [wrong], 0, RIGHT[2] - 1, 1) == RIGHT[2] + 1
    assert wrong.test(trace, 0, trace.steps - 1)


def test_several_breakpoints_disabled_and_no_wrapping(trace):
    a = compile_breakpoint("t == 4", "lstm", True)
    b = compile_breakpoint("t == 10", "lstm", True)
    assert find_next(trace, [a, b], 0, 0, 1) == 3
    assert find_next(trace, [a, b], 0, 3, 1) == 9
    assert find_next(trace, [a, b], 0, 9, 1) is None  # no wrapping to the start
    assert find_next(trace, [a, b], 0, 9, -1) == 3
    a.enabled = False
    assert find_next(trace, [a, b], 0, 0, 1) == 9
    assert find_next(trace, [a, b], 0, 9, -1) is None
    assert find_next(trace, [], 0, 0, 1) is None
    assert b.text == "t == 10" and b.enabled


def test_long_trace_scans_in_blocks():
    """A hit far away, past several blocks, in both directions."""
    m = random_model(hidden=4, seed=2)
    text = "a" * 5000
    tr = m.trace(text[:2345] + "(" + text[2346:])
    b = compile_breakpoint('token == "(" and prev_token == "a"', "lstm", True)
    assert find_next(tr, [b], 0, 0, 1) == 2345
    assert find_next(tr, [b], 0, 4999, -1) == 2345
    assert find_next(tr, [b], 0, 2345, 1) is None


@pytest.mark.parametrize("cell", ["gru", "rnn_tanh", "rnn_relu"])
def test_other_cells(cell):
    m = random_model(hidden=5, seed=1, cell=cell)
    tr = m.trace("hello there")
    h = tr.states["h"][0]
    thr = float(np.median(h[:, 2]))
    b = compile_breakpoint(f"h[2] > {thr!r}", cell, True)
    mask = h[:, 2] > thr
    assert find_next(tr, [b], 0, 0, 1) == reference_next(mask, 0, 1)
    assert compile_breakpoint("h_prev.max() >= 0", cell, True).test(tr, 0, 0)  # h0 is zeros
    if cell == "gru":
        b = compile_breakpoint("(z > 0.5).any() and r[0] < 2 and n[0] > -2", cell, True)
        assert b.test(tr, 0, 3) == bool((tr.states["z"][0, 3] > 0.5).any())
    with pytest.raises(InputError, match="unknown name 'c'"):
        compile_breakpoint("c[0] > 1", cell, True)
    with pytest.raises(InputError, match="unknown name 'c_prev'"):
        compile_breakpoint("c_prev[0] > 1", cell, True)


def test_names_without_head_and_frames():
    rng = np.random.default_rng(0)
    H, E = 3, 2
    layer = Layer("rnn_tanh", *(rng.standard_normal(s).astype("float32") for s in ((H, E), (H, H), (H,), (H,))))
    tr = Model(layers=(layer,)).trace(rng.standard_normal((6, E)).astype("float32"))
    assert "y" not in names_for("rnn_tanh", False)
    for text in ("y[0] > 0", "top == token"):
        with pytest.raises(InputError, match="needs a model with an output head"):
            compile_breakpoint(text, "rnn_tanh", has_head=False)
    b = compile_breakpoint('token == "3" and token_id == -1 and next_token == "4" and x[1] == x[-1]', "rnn_tanh", False)
    assert [b.test(tr, 0, k) for k in range(6)] == [False, False, True, False, False, False]
    with_head = compile_breakpoint("y[0] > 0", "rnn_tanh", True)
    with pytest.raises(InputError, match="no output head"):
        with_head.test(tr, 0, 0)


def test_top_compared_with_a_string(model, trace):
    b = compile_breakpoint('top == "b"', "lstm", True)
    ids = dict(zip(trace.tokens, trace.ids.tolist()))
    mask = trace.y.argmax(axis=1) == ids["b"]
    assert find_next(trace, [b], 0, -1, 1) == reference_next(mask, -1, 1)
    far = compile_breakpoint('top != "Z"', "lstm", True)  # Z is not in the text
    with pytest.raises(InputError, match="vocabulary"):
        far.test(trace, 0, 0)
    assert far.test(trace, 0, 0, vocab=model.vocab)
    assert find_next(trace, [far], 0, 0, 1, vocab=model.vocab) == 1


def test_evaluation_errors_name_the_step(trace):
    out = compile_breakpoint("f[30] < 0.1", "lstm", True)
    with pytest.raises(InputError, match=r"step 2: index 30 is out of range for f, which has 8 values \(0 to 7\)"):
        find_next(trace, [out], 0, 0, 1)
    per_step = compile_breakpoint("c[t] > 100", "lstm", True)  # t = 8 is the first index past the 8 units
    with pytest.raises(InputError, match="step 8: index 8 is out of range"):
        find_next(trace, [per_step], 0, 0, 1)
    with pytest.raises(InputError, match=f"step {trace.steps - 1}: index {trace.steps - 1} is out of range"):
        find_next(trace, [per_step], 0, trace.steps - 1, -1)
    for text, message in [
        ("f[2:20].max() > 0", "bound 20 is out of range"),
        ("f[3:3].max() > 0", "selects no values"),
        ("(x - h > 0).any()", "pairs vectors of"),  # layer 0: x has E = 16 values, h 8
        ("f[0] ** (3 * t) > 0", "step 40: exponent"),  # scanned from the end
    ]:
        b = compile_breakpoint(text, "lstm", True)
        with pytest.raises(InputError, match=message) as e:
            find_next(trace, [b], 0, 70, -1) if "**" in text else b.test(trace, 0, 4)
        assert "step " in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputError, match="layer 3 does not exist"):
        compile_breakpoint("t > 1", "lstm", True).test(trace, 2, 0)
    with pytest.raises(InputError, match="step 99 does not exist"):
        compile_breakpoint("t > 1", "lstm", True).test(trace, 0, 98)


def test_arithmetic_edge_cases_are_quiet(trace):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compile_breakpoint("f[0] / 0 > 1e308", "lstm", True).test(trace, 0, 0)  # +inf
        assert not compile_breakpoint("0 / 0 == 0 / 0", "lstm", True).test(trace, 0, 0)  # nan
        assert compile_breakpoint("(10 ** 64) ** 64 > 1e308", "lstm", True).test(trace, 0, 0)  # inf, not a bigint
        assert compile_breakpoint("2 ** -1 == 0.5 and -2 ** 2 == -4 and 7 - 2 - 1 == 4", "lstm", True).test(trace, 0, 0)
        assert compile_breakpoint('"a" == "a" and "a" != "b" and True and not False', "lstm", True).test(trace, 0, 0)
        assert compile_breakpoint(r'"\"" != "\\" and (f > 2).sum() == 0', "lstm", True).test(trace, 0, 0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the breakpoint is empty"),
        ("   ", "the breakpoint is empty"),
        ("f[", "column 3: expected a value, found the end"),
        ("f[1] <", "column 7: expected a value, found the end"),
        (")", "column 1: expected a value, found ')'"),
        ("f[1] < 0.1)", "column 11: unexpected ')'"),
        ("(f[1] < 0.1", "column 12: expected ')', found the end"),
        ("q > 1", "column 1: unknown name 'q' (expected one of: i, f, g, o, c, h, c_prev, h_prev, x, y, top, t,"),
        ("f < 0.1", "'f < 0.1' is a vector: use any() or all()"),
        ("abs(c) > 3", "is a vector: use any() or all()"),
        ("f[0]", "'f[0]' is a number, not a condition"),
        ("c", "'c' is a vector, not a condition"),
        ("token", "'token' is a token, not a condition"),
        ("f = 1", "column 3: '=' assigns: use '==' to compare"),
        ("f[1] & 1", "column 6: unexpected character '&': use 'and'"),
        ("token < 'a'", "column 1: 'token' is text: text compares only with == and !="),
        ("token == 1.5", "column 10: a token compares with a string or with one whole number"),
        ("'a' == 1", "column 8: cannot compare the string"),
        ("token + 1 > 0", "'+' needs numbers"),
        ("f[0.5] > 0", "column 3: an index must be a whole number"),
        ("f[1, 2] > 0", "column 4: one index only"),
        ("f[0][0] > 0", "indexing applies to vectors, and 'f[0]' is a single number"),
        ("t.max() > 0", ".max() applies to vectors"),
        ("max() > 0", "max() needs an argument"),
        ("mean(f, c) > 0", "mean() takes one argument, not 2"),
        ("max(f, axis=0) > 0", "keyword arguments are not allowed"),
        ("f.max(1) > 0", ".max() takes no arguments"),
        ("max > 0", "'max' is a function: call it"),
        ("f(1) > 0", "'f' is not a function"),
        ("f[0] > 0 and c", "'and' needs conditions, and 'c' is not one"),
        ('"abc', "column 1: this string is not closed"),
        (r'"\q" == token', "column 2: unknown escape"),
        ("f[::0].max() > 0", "zero"),
    ],
)
def test_malformed_refused_with_one_line(text, message):
    with pytest.raises(InputError) as e:
        compile_breakpoint(text, "lstm", has_head=True)
        compile_breakpoint(text, "lstm", has_head=True).test(random_model(hidden=4).trace("ab"), 0, 0)
    msg = str(e.value)
    assert message in msg
    assert "\n" not in msg and len(msg) < 250


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('touch pwned') == 0", "unknown function '__import__'"),
        ("f.__class__", "'.__class__' is not allowed"),
        ("f.__class__.__bases__[0].__subclasses__()", "'.__class__' is not allowed"),
        ("().__class__", "expected a value, found ')'"),
        ("open('x').write('y') > 0", "unknown function 'open'"),
        ("eval('1') == 1", "unknown function 'eval'"),
        ("__builtins__ == 1", "unknown name '__builtins__'"),
        ("9**9**9", "exponent 3.8742e+08 is not allowed"),
        ("2**100000 > 1", "exponent 100000 is not allowed"),
        ("'a'*10**9 == token", "'*' needs numbers"),
        ("[x for x in y]", "lists are not allowed"),
        ("{1: 2}", "unexpected character '{'"),
        ("lambda: 1", "'lambda' is not allowed"),
        ("import os", "'import' is not allowed"),
        ("token in 'abc'", "'in' is not allowed"),
        ("f.max.__globals__", "expected '(' after .max"),
        ("x if t else y", "'if' is not allowed"),
        ("f[0] > 0; import os", "unexpected character ';'"),
        ("(" * 200 + "1" + ")" * 200, "nested more than 30 levels deep"),
        ("-" * 200 + "1 > 0", "nested more than 30 levels deep"),
        ("not " * 100 + "True", "nested more than 30 levels deep"),
        ("abs(" * 60 + "f" + ")" * 60, "nested more than 30 levels deep"),
        ("f" + "[0:8]" * 60 + ".max() > 0", "nested more than 30 levels deep"),
        ("t == 1 or " * 60 + "t == 2", f"at most {MAX_LENGTH}"),
        ("1" * 10000, f"at most {MAX_LENGTH}"),
    ],
)
def test_malicious_refused_without_side_effects(text, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as e:
        compile_breakpoint(text, "lstm", has_head=True)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_the_module_never_runs_python_code():
    """No eval, exec, compile or __import__ anywhere in the breakpoint module."""
    tree = ast.parse(inspect.getsource(bp_module))
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__", "open"}
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "literal_eval" not in attrs


# The fuzz test: arbitrary text, and text built from the grammar's own pieces (which gets
# past the tokenizer far more often), must only ever raise InputError, and quickly.

PIECES = [
    "f", "c", "h", "i", "x", "y", "top", "t", "layer", "token", "next_token", "token_id", "next_id", "c_prev",
    "q", "__class__", "abs", "max", "min", "mean", "len", "argmax", "tanh", "any",
    "0", "1", "3", "-1", "7", "100", "0.5", "1e9", "1e400", "9", '"("', "'a'", '""',
    "(", ")", "[", "]", ":", ",", ".", ".max()", ".argmax()", ".any()", ".std()",
    "+", "-", "*", "/", "**", "<", "<=", ">", ">=", "==", "!=", "=", "and", "or", "not", "True", "lambda",
]
FUZZ = settings(
    max_examples=250,
    deadline=timedelta(milliseconds=500),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def small():
    m = random_model(hidden=6, seed=3)
    return m, m.trace("ab(c)d")


def _exercise(text, small):
    model, tr = small
    try:
        b = compile_breakpoint(text, "lstm", has_head=True)
    except InputError as e:
        assert "\n" not in str(e)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k, d in ((0, 1), (5, -1)):
            try:
                r = b.test(tr, 0, k, vocab=model.vocab if d > 0 else None)
                assert isinstance(r, bool)
                n = find_next(tr, [b], 0, k, d)
                assert n is None or 0 <= n < tr.steps
            except InputError as e:
                assert "\n" not in str(e)


@FUZZ
@given(st.text(max_size=80))
def test_fuzz_arbitrary_text(small, text):
    _exercise(text, small)


@FUZZ
@given(st.lists(st.sampled_from(PIECES), max_size=25).map(" ".join))
def test_fuzz_grammar_pieces(small, text):
    _exercise(text, small)


def test_no_module_of_the_language_runs_python_code():
    """The reading (syntax), the walk (breakpoints), the evaluation (blocks) and watches: no eval anywhere."""
    from lstm_tui.core import blocks, syntax, watches

    for module in (bp_module, syntax, blocks, watches):
        tree = ast.parse(inspect.getsource(module))
        called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not called & {"eval", "exec", "compile", "__import__", "open"}, module.__name__
        assert "literal_eval" not in {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


def test_the_error_keeps_its_column_for_a_caret():
    with pytest.raises(bp_module.ExpressionError) as e:
        compile_breakpoint("  f[1] < 0.1 & t", "lstm", True)
    assert str(e.value) == "column 14: unexpected character '&': use 'and'"
    assert e.value.caret() == "  f[1] < 0.1 & t\n             ^"
    with pytest.raises(bp_module.ExpressionError, match="column 5: unknown name 'zz'") as e:
        compile_breakpoint("t > zz", "lstm", True)
    assert e.value.caret().splitlines()[1] == "    ^"
    with pytest.raises(bp_module.ExpressionError, match="column 7: unknown name") as e:
        compile_breakpoint("'é' > zz", "lstm", True)  # columns count characters, not UTF-8 bytes


LANGUAGE_CHARS = "([{)]}.,:;+-*/%<>=!&|'\"\\ \t\n\x1b\x07fchtoxy0123456789e_abnotrid"


@settings(max_examples=200, deadline=timedelta(milliseconds=1000),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.text(alphabet=LANGUAGE_CHARS, max_size=MAX_LENGTH))
def test_fuzz_long_strings_of_the_language_characters(small, text):
    """Up to the length limit, from the characters the language uses: an answer, quickly, and only InputError,
    whose message obeys no control character the text held."""
    _exercise(text, small)
    try:
        compile_breakpoint(text, "lstm", has_head=True)
    except InputError as e:
        assert str(e).isprintable(), repr(str(e))


def test_layers_of_different_widths_are_read_layer_first(trace):
    """The trace convention: states[q][layer] is (T, W_layer). A narrower layer 2 (its first 3 units,
    as a per-layer list) must be indexed against its own width, never the first layer's."""
    from lstm_tui.core.watches import watch

    from lstm_tui.core import Trace

    class PerLayer(Trace):  # what branch core's Trace does for mixed widths: lists, one array a layer
        @property
        def num_layers(self) -> int:
            return len(self.h0)

    fields = {f.name: getattr(trace, f.name) for f in dataclasses.fields(trace)}
    fields.update(states={q: [v[0], v[1][:, :3]] for q, v in trace.states.items()},
                  h0=[trace.h0[0], trace.h0[1][:3]], c0=[trace.c0[0], trace.c0[1][:3]])
    mixed = PerLayer(**fields)
    wide = compile_breakpoint("len(c) == 8 and f[5] > -1", "lstm", True)
    small = compile_breakpoint("len(c) == 3 and len(c_prev) == 3 and len(x) == 8 and c_prev[2] > -100", "lstm", True)
    assert find_next(mixed, [wide], 0, -1, 1) == 0 and find_next(mixed, [small], 1, -1, 1) == 0
    with pytest.raises(InputError, match="index 5 is out of range for f, which has 3 values"):
        find_next(mixed, [wide], 1, -1, 1)
    np.testing.assert_array_equal(watch(mixed, "c[2]", 1), trace.states["c"][1][:, 2])
    assert np.isnan(watch(mixed, "c[5]", 1)).all() and not np.isnan(watch(mixed, "c[5]", 0)).any()


# The language against NumPy: random well-formed expressions, each with its meaning in plain NumPy over the
# trace's arrays, of the same dtypes (float32 quantities, float64 literals, whole numbers as Python ints).

QUANTITIES = ["f", "i", "g", "o", "c", "h", "c_prev", "h_prev"]
H = 8  # the module's model: hidden=8
ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide}
CMPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal}
REDUCE = {"max": np.max, "min": np.min, "mean": np.mean, "sum": np.sum, "std": np.std}


def _env(tr, layer):
    """Each name's value over the whole trace, in the shapes a block of steps has: (T, 1) a number, (T, W) a vector."""
    env = {name: q(tr, name, layer) for name in ("f", "i", "g", "o", "c", "h", "c_prev")}
    env["h_prev"] = np.concatenate([tr.h0[layer][None], tr.states["h"][layer, :-1]])
    env["t"] = np.arange(1, tr.steps + 1)[:, None]
    return env


@st.composite
def numbers(draw, depth=3):
    """(text, meaning): one number a step."""
    kind = draw(st.integers(0, 10 if depth else 2))
    if kind == 0:
        name, k = draw(st.sampled_from(QUANTITIES)), draw(st.integers(-H, H - 1))
        return f"{name}[{k}]", lambda e: e[name][:, [k]]
    if kind == 1:
        v = draw(st.sampled_from([0.5, 2.0, 1.25, 1e-3, 3.0]))
        return repr(v), lambda e: np.float64(v)
    if kind == 2:
        n = draw(st.sampled_from([0, 1, 2, 7]))
        return (str(n), lambda e: n) if draw(st.booleans()) else ("t", lambda e: e["t"])
    if kind in (3, 4):
        (a, fa), (b, fb), op = draw(numbers(depth - 1)), draw(numbers(depth - 1)), draw(st.sampled_from(list(ARITH)))
        return f"({a}) {op} ({b})", lambda e: ARITH[op](fa(e), fb(e))
    if kind == 5:
        (a, fa), fn = draw(numbers(depth - 1)), draw(st.sampled_from(["abs", "tanh", "-"]))
        meaning = {"abs": np.abs, "-": np.negative, "tanh": lambda v: np.tanh(np.asarray(v, dtype=np.float64))}[fn]
        return (f"-({a})" if fn == "-" else f"{fn}({a})"), lambda e: meaning(fa(e))
    if kind == 6:
        (a, fa), (b, fb), fn = draw(numbers(depth - 1)), draw(numbers(depth - 1)), draw(st.sampled_from(["max", "min"]))
        return f"{fn}({a}, {b})", lambda e: (np.maximum if fn == "max" else np.minimum)(fa(e), fb(e))
    if kind == 7:
        (a, fa), p = draw(numbers(depth - 1)), draw(st.integers(0, 3))
        return f"({a}) ** {p}", lambda e: np.power(np.asarray(fa(e), dtype=np.float64), np.float64(p))
    if kind in (8, 9):
        (v, fv), word, method = draw(vectors(depth - 1)), draw(st.sampled_from(list(REDUCE))), draw(st.booleans())
        lo, hi = draw(st.sampled_from([None, -H, 0, 2, -3])), draw(st.sampled_from([None, H, 3, -1]))
        if lo is not None or hi is not None:
            assume(len(range(H)[lo:hi]) > 0)
            v, fv = f"({v})[{'' if lo is None else lo}:{'' if hi is None else hi}]", lambda e, f=fv: f(e)[:, lo:hi]
        text = f"({v}).{word}()" if method else f"{word}({v})"
        return text, lambda e: REDUCE[word](fv(e), axis=1, keepdims=True)
    (v, fv), (w, fw) = draw(vectors(depth - 1)), draw(vectors(depth - 1))  # an index that changes per step
    return f"({v})[({w}).argmax()]", lambda e: np.take_along_axis(fv(e), fw(e).argmax(axis=1)[:, None], axis=1)


@st.composite
def vectors(draw, depth=2):
    """(text, meaning): a vector of H values a step (a slice of one is taken only to reduce it)."""
    kind = draw(st.integers(0, 3 if depth > 0 else 0))
    if kind == 0:
        name = draw(st.sampled_from(QUANTITIES))
        return name, lambda e: e[name]
    (v, fv) = draw(vectors(depth - 1))
    if kind == 1:
        (a, fa), op = draw(numbers(depth - 1)), draw(st.sampled_from(list(ARITH)))
        return f"({v}) {op} ({a})", lambda e: ARITH[op](fv(e), fa(e))
    if kind == 2:
        (w, fw), op = draw(vectors(depth - 1)), draw(st.sampled_from(list(ARITH)))
        return f"({v}) {op} ({w})", lambda e: ARITH[op](fv(e), fw(e))
    return f"abs({v})", lambda e: np.abs(fv(e))


@st.composite
def conditions(draw, depth=2):
    """(text, meaning): one condition a step."""
    kind = draw(st.integers(0, 3 if depth else 0))
    if kind == 0:
        (a, fa), (b, fb), op = draw(numbers(1)), draw(numbers(1)), draw(st.sampled_from(list(CMPS)))
        return f"{a} {op} {b}", lambda e: CMPS[op](fa(e), fb(e))
    if kind == 1:
        (v, fv), (a, fa), word = draw(vectors(1)), draw(numbers(0)), draw(st.sampled_from(["any", "all"]))
        return f"({v} > {a}).{word}()", lambda e: getattr(np, word)(fv(e) > fa(e), axis=1, keepdims=True)
    if kind == 2:
        (a, fa) = draw(conditions(depth - 1))
        return f"not ({a})", lambda e: np.logical_not(fa(e))
    (a, fa), (b, fb) = draw(conditions(depth - 1)), draw(conditions(depth - 1))
    word = draw(st.sampled_from(["and", "or"]))
    return f"({a}) {word} ({b})", lambda e: (np.logical_and if word == "and" else np.logical_or)(fa(e), fb(e))


ROUND_TRIP = settings(max_examples=150, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                             HealthCheck.filter_too_much])


@ROUND_TRIP
@given(numbers(), st.sampled_from([0, 1]))
def test_random_numbers_mean_what_numpy_says(trace, pair, layer):
    text, meaning = pair
    assume(len(text) <= MAX_LENGTH)
    with np.errstate(all="ignore"):
        want = np.broadcast_to(np.asarray(meaning(_env(trace, layer)), dtype=np.float64), (trace.steps, 1))[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = watch(trace, text, layer)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12, equal_nan=True, err_msg=text)


@ROUND_TRIP
@given(conditions(), st.sampled_from([0, 1]))
def test_random_conditions_stop_where_numpy_says(trace, pair, layer):
    text, meaning = pair
    assume(len(text) <= MAX_LENGTH)
    with np.errstate(all="ignore"):
        mask = np.broadcast_to(meaning(_env(trace, layer)), (trace.steps, 1))[:, 0]
    b = compile_breakpoint(text, "lstm", True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(watch(trace, b, layer), mask, err_msg=text)
        assert find_next(trace, [b], layer, -1, 1) == reference_next(mask, -1, 1), text
        assert find_next(trace, [b], layer, trace.steps, -1) == reference_next(mask, trace.steps, -1), text


@ROUND_TRIP
@given(numbers(), st.data())
def test_the_caret_is_under_the_name_at_fault(pair, data):
    """One name of a well-formed expression made unknown: the error names it at its own column, in characters
    (a string of non-ASCII text before it must not move the caret)."""
    text, _ = pair
    spots = [m.start() for m in re.finditer(r"\b(?:f|i|g|o|c|h|c_prev|h_prev|t)\b(?!\()", text)]
    assume(spots)
    at = data.draw(st.sampled_from(spots))
    name = re.match(r"\w+", text[at:]).group()
    prefix = data.draw(st.sampled_from(["", "  ", "('é→' == token) + "]))
    bad = prefix + text[:at] + "qq" + text[at + len(name):]
    assume(len(bad) <= MAX_LENGTH)
    with pytest.raises(bp_module.ExpressionError) as e:
        compile_expression(bad, "lstm", True)
    column = len(prefix) + at
    assert str(e.value).startswith(f"column {column + 1}: unknown name 'qq'"), (bad, str(e.value))
    assert e.value.caret() == f"{bad}\n{' ' * column}^"


def test_the_longest_chains_fit_the_stack():
    """500 characters make at most 250 operators in a row, each a level of the tree: they compile and run."""
    tr = random_model(hidden=4, seed=1).trace("abcdef")
    for text in ["+".join(["1"] * 250), "-".join(["t"] * 166), "*".join(["f[0]"] * 100), " or ".join(["t > 1"] * 50)]:
        assert len(text) <= MAX_LENGTH
        assert watch(tr, compile_expression(text, "lstm", True), 0).shape == (tr.steps,), text


def test_the_readme_describes_the_language_the_code_knows():
    """README.md holds the language's description (the modules point there): every function, method, name and limit."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("- **Breakpoints (`b`).**") : readme.index("- **Bidirectional")]
    words = set(re.findall(r"[\w.()]+", section))
    assert set(bp_module.FUNCTIONS) <= words and {f".{m}()" for m in bp_module.METHODS} <= words
    assert {n for cell in ("lstm", "gru", "rnn_tanh") for n in names_for(cell, True)} <= words
    for limit in (f"{MAX_LENGTH} characters", f"{bp_module.MAX_DEPTH} levels", f"at most {bp_module.MAX_EXPONENT}"):
        assert limit in section


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("has_head", [True, False])
def test_the_prompts_examples_run_on_every_cell_even_of_one_unit(cell, has_head):
    """The b and W prompts show these: each must be accepted by the model it is shown for, and run at
    every step of a model of one unit (f[3] compiled, then was refused at once on a 2-unit model)."""
    from lstm_tui.core.blocks import examples_for

    trace = random_model(hidden=1, seed=0, cell=cell).trace("((a)")
    if not has_head:
        trace = dataclasses.replace(trace, logits=None, y=None)
    assert trace.has_head == has_head
    for text in examples_for(cell, has_head):
        bp = compile_breakpoint(text, cell, has_head)
        for k in range(trace.steps):
            bp.test(trace, 0, k)  # raises if it fails at a step
    for text in examples_for(cell, has_head, watch=True):
        assert np.isfinite(watch(trace, text, 0)).all(), text
    assert any("y." in e for e in examples_for(cell, has_head)) == has_head  # y only where it exists
    with pytest.raises(InputError, match=r"empty: type a condition, such as " + re.escape(examples_for(cell, has_head)[0])):
        compile_breakpoint(" ", cell, has_head)
