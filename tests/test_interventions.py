"""Patched runs and effect maps against the equations written again here, in float64.

The reference below runs every level and direction from its first step with
the patches applied in equation order (a gate before c = f·c_prev + i·g, c
before h = o·tanh(c), h before the next step, level and head); it shares no
code with ``lstm_tui.core`` (the activations are model_zoo's textbook formulas).
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_tui.core import Model, random_model
from lstm_tui.core import interventions as iv
from lstm_tui.core.cells import Bidirectional
from lstm_tui.core.errors import InputError, inert
from lstm_tui.core.interventions import EffectMap, Patch, intervene, parse_patch, parse_patch_text
from lstm_tui.core.registry import load_model
from model_zoo import REF_ACT, REF_DEFAULTS, all_layer_configs, bidi, make_layer

QUANTITIES = {"lstm": "ifgoch", "gru": "rznh", "rnn_tanh": "h", "rnn_relu": "h"}
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


# ---------------------------------------------------------------------------
# The reference


def _override(patches, level, q, t, W, src):
    """(mask, values) (W,) that the patches set for quantity q of a level at position t."""
    mask, vals = np.zeros(W, bool), np.zeros(W)
    for p in patches:
        if p.layer == level and p.quantity == q and t in p.steps:
            sel = slice(None) if p.unit is None else p.unit
            v = np.asarray(src[level][q][t], np.float64) if p.value == "src" else p.value
            mask[sel] = True
            vals[sel] = v[sel] if np.ndim(v) else v
    return mask, vals


def ref_run(model: Model, x, patches=(), src=None) -> tuple[list[dict], np.ndarray | None]:
    """Per level {q: (T, W)} and the head's log-probabilities (T, V), float64, from step 1."""
    inp = np.asarray(x, np.float64)
    T = inp.shape[0]
    levels = []
    for n, level in enumerate(model.layers):
        dirs = level.directions if isinstance(level, Bidirectional) else (level,)
        D = len(dirs)
        out = {}
        for d, lay in enumerate(dirs):
            W_ih, W_hh, b_ih, b_hh = (np.asarray(a, np.float64) for a in (lay.W_ih, lay.W_hh, lay.b_ih, lay.b_hh))
            W_hr = None if lay.W_hr is None else np.asarray(lay.W_hr, np.float64)
            H = W_hh.shape[0] // GATES[lay.cell]
            P = W_hh.shape[1]
            fns = [lambda a, s=s: REF_ACT[s[0]](a, s[1], s[2]) for s in (lay.activations or REF_DEFAULTS[lay.cell])]
            clip = (lambda a: a) if lay.clip is None else (lambda a, c=lay.clip: np.minimum(c, np.maximum(-c, a)))

            def setq(q, t, v, w):
                mask, vals = _override(patches, n, q, t, w * D, src)
                m, vv = mask[d * w : (d + 1) * w], vals[d * w : (d + 1) * w]
                return np.where(m, vv, v)

            h, c = np.zeros(P), np.zeros(H)
            rows = {q: np.zeros((T, P if q == "h" else H)) for q in QUANTITIES[lay.cell]}
            for t in range(T - 1, -1, -1) if lay.reverse else range(T):
                xt = inp[t]
                if lay.cell == "lstm":
                    a = W_ih @ xt + b_ih + W_hh @ h + b_hh
                    i = setq("i", t, fns[0](clip(a[:H])), H)
                    f = setq("f", t, fns[0](clip(a[H : 2 * H])), H)
                    g = setq("g", t, fns[1](clip(a[2 * H : 3 * H])), H)
                    o = setq("o", t, fns[0](clip(a[3 * H :])), H)
                    c = setq("c", t, f * c + i * g, H)
                    m = o * fns[2](c)
                    h = setq("h", t, m if W_hr is None else W_hr @ m, P)
                    rec = dict(i=i, f=f, g=g, o=o, c=c, h=h)
                elif lay.cell == "gru":
                    ax = W_ih @ xt + b_ih
                    r = setq("r", t, fns[0](clip(ax[:H] + W_hh[:H] @ h + b_hh[:H])), H)
                    z = setq("z", t, fns[0](clip(ax[H : 2 * H] + W_hh[H : 2 * H] @ h + b_hh[H : 2 * H])), H)
                    if lay.linear_before_reset:
                        pre = ax[2 * H :] + r * (W_hh[2 * H :] @ h + b_hh[2 * H :])
                    else:
                        pre = ax[2 * H :] + W_hh[2 * H :] @ (r * h) + b_hh[2 * H :]
                    nn = setq("n", t, fns[1](clip(pre)), H)
                    h = setq("h", t, (1 - z) * nn + z * h, H)
                    rec = dict(r=r, z=z, n=nn, h=h)
                else:
                    h = setq("h", t, fns[0](clip(W_ih @ xt + b_ih + W_hh @ h + b_hh)), P)
                    rec = dict(h=h)
                for q, v in rec.items():
                    rows[q][t] = v
            for q, v in rows.items():
                out.setdefault(q, []).append(v)
        levels.append({q: np.concatenate(v, axis=1) for q, v in out.items()})
        inp = levels[-1]["h"]
    logp = None
    if model.head_W is not None:
        logits = inp @ np.asarray(model.head_W, np.float64).T + np.asarray(model.head_b, np.float64)
        logp = logits - logits.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    return levels, logp


def ref_states(trace) -> list[dict]:
    return [{q: np.asarray(trace.states[q][n], np.float64) for q in trace.states} for n in range(trace.num_layers)]


def check(model, trace, patched, patches, src=None, tol=2e-5):
    levels, logp = ref_run(model, trace.x, patches, src)
    for n, want in enumerate(levels):
        for q, v in want.items():
            np.testing.assert_allclose(patched.states[q][n], v, atol=tol, rtol=tol, err_msg=f"{q} of level {n}")
    if logp is not None:
        np.testing.assert_allclose(np.log(patched.y.astype(np.float64)), logp, atol=20 * tol, rtol=20 * tol)


# ---------------------------------------------------------------------------
# Patched runs against the reference


def trained_models():
    """Every shipped trained demo, and a random model of each cell kind no demo has yet
    (the trained GRU and RNN demos are on their way)."""
    from lstm_tui.core.registry import DEMOS

    out = [(name, load_model(name)) for name in DEMOS]
    have = {m.cell for _, m in out}
    for cell in ("gru", "rnn_tanh", "rnn_relu"):
        if cell not in have:
            out.append((f"random-{cell}", random_model(hidden=10, seed=4, cell=cell, layers=2)))
    return out


@pytest.mark.parametrize("name,model", trained_models(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_quantity_patched_matches_the_equations(name, model):
    text = model.meta.get("example", "the cat sat on the mat.")[:24]
    trace = model.trace(text)
    T = trace.steps
    src_text = text[::-1]
    source = model.trace(src_text)
    src = ref_states(source)
    L = model.num_layers
    for q in QUANTITIES[model.cell]:
        W = trace.width(q, L - 1)
        cases = [
            [Patch(0, q, 1, T // 3, 0.0)],  # one unit, one step, a number
            [Patch(L - 1, q, None, range(T // 2, T // 2 + 3), "src")],  # all units, a range, from the source
            [Patch(0, q, W - 1, range(T), 0.9), Patch(L - 1, q, 0, T - 1, -0.5)],  # every step; two patches
        ]
        for patches in cases:
            patched = intervene(model, trace, patches, source)
            check(model, trace, patched, patches, src)
            k = min(p.steps[0] for p in patches)
            for qq in trace.states:  # nothing before the first patched step moved
                np.testing.assert_array_equal(patched.states[qq][0][:k], trace.states[qq][0][:k])


def zoo_models():
    """Two-level float64 stacks of every Layer field, bidirectional ones too."""
    out = []
    for ident, kw in all_layer_configs():
        rng = np.random.default_rng(len(out))
        cell = kw["cell"]
        first = make_layer(rng, E=5, H=4, **kw)
        second = make_layer(rng, cell=cell, E=first.output_size, H=3)
        head = dict(head_W=rng.standard_normal((7, 3)), head_b=rng.standard_normal(7))
        out.append((ident, Model(layers=(first, second), **head)))
    rng = np.random.default_rng(99)
    for cell in ("lstm", "gru", "rnn_tanh"):
        b = bidi(rng, cell, 5, 3)
        top = make_layer(rng, cell, 6, 4)
        head = dict(head_W=rng.standard_normal((7, 4)), head_b=rng.standard_normal(7))
        out.append((f"bidi-{cell}", Model(layers=(b, top), **head)))
    return out


@pytest.mark.parametrize("ident,model", zoo_models(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_layer_field_patched_matches_the_equations(ident, model):
    rng = np.random.default_rng(1)
    x, x_src = rng.standard_normal((9, 5)), rng.standard_normal((9, 5))
    trace, source = model.trace(x), model.trace(x_src)
    src = ref_states(source)
    for q in QUANTITIES[model.cell]:
        W0 = trace.width(q, 0)
        for patches in (
            [Patch(0, q, W0 - 1, 4, 0.3)],
            [Patch(0, q, None, range(2, 5), "src"), Patch(1, q, 0, 6, -0.7)],
            [Patch(1, q, None, 0, 0.1)],
        ):
            patched = intervene(model, trace, patches, source)
            check(model, trace, patched, patches, src, tol=1e-10)
            check_products(model, patched)


def check_products(model, patched):
    """The patched trace's xW and hW are the products of its own (patched) inputs and states."""
    for n, level in enumerate(model.layers):
        dirs = level.directions if isinstance(level, Bidirectional) else (level,)
        x_in = np.asarray(patched.layer_input(n))
        for d, lay in enumerate(dirs):
            GH, P, H = lay.W_ih.shape[0], lay.output_size, lay.hidden_size
            blk = slice(d * GH, (d + 1) * GH)
            np.testing.assert_allclose(patched.xW[n][:, blk], x_in @ lay.W_ih.T, atol=1e-10)
            for t in range(patched.steps):
                h_prev = patched.state_before("h", n, t)[d * P : (d + 1) * P]
                want = lay.W_hh @ h_prev
                # a GRU with the reset before the product keeps W_hn (r ⊙ h) in hW's n block
                rows = 2 * H if lay.cell == "gru" and not lay.linear_before_reset else GH
                np.testing.assert_allclose(patched.hW[n][t, blk][:rows], want[:rows], atol=1e-10)


def test_recomputes_from_the_first_patched_step_only(monkeypatch):
    """Each level's rerun starts at the first patched step, never at step 1."""
    model = random_model(hidden=6, seed=2, layers=2)
    trace = model.trace("abcdefghijklmnop")
    ran = []
    real_run, real_step = iv.run, iv.cell_step
    monkeypatch.setattr(iv, "run", lambda layer, x, h, c=None: ran.append(len(x)) or real_run(layer, x, h, c))
    monkeypatch.setattr(iv, "cell_step", lambda *a, **k: ran.append(1) or real_step(*a, **k))
    patched = intervene(model, trace, [Patch(0, "c", 2, 12, 0.0)])
    T = trace.steps
    assert sum(ran) == 2 * (T - 12)  # steps 12..T-1 of both levels and no others
    check(model, trace, patched, [Patch(0, "c", 2, 12, 0.0)])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_long_stretches_between_patches_take_the_fast_loop(cell, monkeypatch):
    model = random_model(hidden=6, seed=2, layers=2, cell=cell)
    trace = model.trace("the quick brown fox jumps over the lazy dog. " * 7)  # 315 steps
    T = trace.steps
    calls = []
    real_run = iv.run
    monkeypatch.setattr(iv, "run", lambda layer, x, h, c=None: calls.append(len(x)) or real_run(layer, x, h, c))
    patches = [Patch(0, "h", 1, 20, 0.5), Patch(0, "h", None, range(200, 203), -0.25)]
    patched = intervene(model, trace, patches)
    assert calls == [179, T - 203, T - 20]  # level 0 between and after the patches, level 1 from step 20 on
    check(model, trace, patched, patches, tol=1e-4)


def test_a_patch_that_changes_nothing_leaves_the_trace():
    model = load_model("brackets")
    trace = model.trace("(()())")
    same = intervene(model, trace, [Patch(0, "h", None, range(6), "src")], "(()())")
    for q in trace.states:
        np.testing.assert_allclose(same.states[q], trace.states[q], atol=1e-6)
    assert intervene(model, trace, []) is trace


def test_non_finite_report_is_one_line_naming_every_quantity_and_layer():
    """One line, not one a quantity: layers with the same quantities together, in layer order, y last; each
    one's first step in parentheses when they differ."""
    model = random_model(hidden=5, seed=1, cell="gru", layers=3)
    trace = model.trace("hello")
    patched = intervene(model, trace, [Patch(0, "h", 0, 1, float("inf"))])
    assert iv.nonfinite(patched) == (
        "r, z, n, h of layers 1, 2, 3 and y are not finite from step 2 on (step 2: h of layer 1; "
        "step 3: n of layer 1 and r, z, n, h of layers 2, 3 and y; step 4: r, z of layer 1)")
    rnn = random_model(hidden=5, seed=1, cell="rnn_tanh")
    last = intervene(rnn, rnn.trace("hello"), [Patch(0, "h", 0, 4, float("nan"))])
    assert iv.nonfinite(last) == "h of layer 1 and y are not finite from step 5 on"  # one step: no parentheses
    headless = Model(layers=rnn.layers)
    one = intervene(headless, headless.trace(np.zeros((3, rnn.input_size))), [Patch(0, "h", 0, 2, float("nan"))])
    assert iv.nonfinite(one) == "h of layer 1 is not finite from step 3 on"


def test_non_finite_values_are_kept_and_reported():
    model = random_model(hidden=5, seed=1, cell="gru")
    trace = model.trace("hello")
    patched = intervene(model, trace, [Patch(0, "h", 0, 1, float("inf"))])
    assert not np.isfinite(patched.states["h"][0][2]).all()
    assert np.isfinite(patched.states["h"][0][:1]).all()
    assert iv.nonfinite(patched) == ("r, z, n, h of layer 1 and y are not finite from step 2 on "
                                     "(step 2: h of layer 1 and y; step 3: n of layer 1; step 4: r, z of layer 1)")
    assert iv.nonfinite(patched).split(" (")[0] == "r, z, n, h of layer 1 and y are not finite from step 2 on"
    assert iv.nonfinite(trace) == ""
    em = EffectMap(model, trace, "h", 0, float("nan"), 4)
    assert np.isnan(em.run()[:5]).all()


def test_patches_out_of_range_are_refused_with_the_range():
    model = random_model(hidden=5, seed=1, layers=2)
    trace = model.trace("hello")
    for patch, words in [
        (Patch(2, "c", 0, 0, 0.0), "expected a layer from 1 to 2"),
        (Patch(0, "r", 0, 0, 0.0), "expected one of i f g o c h"),
        (Patch(0, "c", 5, 0, 0.0), "has units 0 to 4"),
        (Patch(0, "c", 0, 5, 0.0), "expected a step from 1 to 5"),
        (Patch(0, "c", 0, 0, "src"), "needs a source input"),
    ]:
        with pytest.raises(InputError, match=words):
            intervene(model, trace, [patch])
    with pytest.raises(InputError, match="past the source's length"):
        intervene(model, trace, [Patch(0, "c", 0, 3, "src")], "hi")


# ---------------------------------------------------------------------------
# The effect map, cell by cell against single patched runs


def single(model, trace, q, layer, s, j, value, k, token, source=None):
    patched = intervene(model, trace, [Patch(layer, q, j, s, value)], source)
    return iv.log_softmax(patched.logits[k])[token] - iv.log_softmax(trace.logits[k])[token]


EFFECT_MODELS = [
    ("lstm", lambda: random_model(hidden=5, seed=3, layers=2, dtype="float64")),
    ("gru", lambda: random_model(hidden=5, seed=3, layers=2, cell="gru", dtype="float64")),
    ("rnn_tanh", lambda: random_model(hidden=5, seed=3, layers=2, cell="rnn_tanh", dtype="float64")),
    ("rnn_relu", lambda: random_model(hidden=5, seed=3, cell="rnn_relu", dtype="float64")),
    ("brackets", lambda: load_model("brackets")),
    ("brackets-gru", lambda: load_model("brackets-gru")),
    ("brackets-rnn", lambda: load_model("brackets-rnn")),
]


@pytest.mark.parametrize("name,make", EFFECT_MODELS, ids=[m[0] for m in EFFECT_MODELS])
def test_effect_map_cell_by_cell(name, make):
    model = make()
    text = "(()(()))" if name.startswith("brackets") else "a cat sat"
    trace, source = model.trace(text), model.trace(text[::-1])
    k = trace.steps - 2
    tol = 1e-9 if model.dtype == np.float64 else 2e-5
    for q in QUANTITIES[model.cell]:
        for layer in range(model.num_layers):
            for value in (0.25, "src"):
                em = EffectMap(model, trace, q, layer, value, k, source=source)
                effect = em.run()
                assert em.complete and effect.shape == (trace.steps, trace.width(q, layer))
                assert (effect[k + 1 :] == 0).all()
                for s in range(k + 1):
                    for j in range(effect.shape[1]):
                        want = single(model, trace, q, layer, s, j, value, k, em.token, source)
                        assert effect[s, j] == pytest.approx(want, abs=tol), (q, layer, value, s, j)


@pytest.mark.parametrize(
    "ident,model", zoo_models()[:16:3] + zoo_models()[-1:], ids=lambda v: v if isinstance(v, str) else ""
)
def test_effect_map_every_layer_field(ident, model):
    x = np.random.default_rng(5).standard_normal((6, 5))
    trace = model.trace(x)
    for q in QUANTITIES[model.cell]:
        em = EffectMap(model, trace, q, 0, -0.4, 3, token=2)
        effect = em.run()
        rows = range(trace.steps) if model.bidirectional else range(4)
        for s in rows:
            for j in range(effect.shape[1]):
                assert effect[s, j] == pytest.approx(single(model, trace, q, 0, s, j, -0.4, 3, 2), abs=1e-9)


def test_effect_map_rows_cancel_and_progress(monkeypatch):
    monkeypatch.setattr(iv, "GROUP_ROWS", 4)  # one step's copies at a time
    model = random_model(hidden=4, seed=0)
    trace = model.trace("abcdef")
    em = EffectMap(model, trace, "h", 0, 0.0, 5)
    seen = []
    em.run(progress=lambda f: seen.append(f) or len(seen) == 2)  # stop after two rows
    assert len(seen) == 2 and 0 < seen[0] < seen[1] < 1
    assert em.done.sum() == 2 and not em.complete
    assert np.isnan(em.effect[:4]).all() and np.isfinite(em.effect[4:]).all()
    list(em.rows())  # the rest
    assert em.complete and em.fraction == 1


def test_effect_map_cancel_inside_a_group(monkeypatch):
    model = random_model(hidden=4, seed=0)
    trace = model.trace("abcdefgh")
    em = EffectMap(model, trace, "c", 0, 0.0, 7)
    calls = []
    real = iv.cell_step

    def step_then_cancel(*a, **k):  # as if another thread cancelled during the first time step
        calls.append(1)
        em.cancel()
        return real(*a, **k)

    monkeypatch.setattr(iv, "is_plain", lambda layer: False)  # the cell_step path
    monkeypatch.setattr(iv, "cell_step", step_then_cancel)
    assert list(em.rows()) == []
    assert len(calls) == 1 and not em.done[:8].any() and np.isnan(em.effect).all()
    monkeypatch.setattr(iv, "cell_step", real)
    assert list(em.rows())[0] == 7 and em.complete  # a new rows() starts again


# ---------------------------------------------------------------------------
# The estimate: its gradient against finite differences of patched runs


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_estimate_is_the_gradient_times_the_change(cell):
    model = random_model(hidden=4, seed=7, cell=cell, layers=2, dtype="float64")
    trace = model.trace("a cat")
    k, eps, value = 4, 1e-6, 0.37
    for q in QUANTITIES[cell]:
        for layer in (0, 1):
            em = EffectMap(model, trace, q, layer, value, k)
            est = em.estimate()
            clean = np.asarray(trace.states[q][layer])
            for s in (0, 2, 4):
                for j in range(4):
                    plus = single(model, trace, q, layer, s, j, clean[s, j] + eps, k, em.token)
                    minus = single(model, trace, q, layer, s, j, clean[s, j] - eps, k, em.token)
                    grad = (plus - minus) / (2 * eps)
                    assert est[s, j] == pytest.approx(grad * (value - clean[s, j]), abs=1e-6), (q, layer, s, j)
            assert (est[k + 1 :] == 0).all()


@pytest.mark.parametrize("ident,model", zoo_models(), ids=lambda v: v if isinstance(v, str) else "")
def test_estimate_every_layer_field(ident, model):
    x = np.random.default_rng(6).standard_normal((5, 5))
    trace = model.trace(x)
    eps, value, k = 1e-6, 0.2, 3
    for q in QUANTITIES[model.cell]:
        em = EffectMap(model, trace, q, 0, value, k, token=1)
        est = em.estimate()
        clean = np.asarray(trace.states[q][0])
        rows = range(trace.steps) if model.bidirectional else range(k + 1)
        for s in rows:
            for j in range(clean.shape[1]):
                plus = single(model, trace, q, 0, s, j, clean[s, j] + eps, k, 1)
                minus = single(model, trace, q, 0, s, j, clean[s, j] - eps, k, 1)
                grad = (plus - minus) / (2 * eps)
                assert est[s, j] == pytest.approx(grad * (value - clean[s, j]), abs=1e-6), (q, s, j)


def test_spearman_ranks():
    a = np.array([1.0, 2, 3, 4, 5])
    assert iv.spearman(a, a**3) == pytest.approx(1)
    assert iv.spearman(a, -a) == pytest.approx(-1)
    assert iv.spearman(np.array([1.0, 1, 2]), np.array([3.0, 3, 5])) == pytest.approx(1)


# ---------------------------------------------------------------------------
# Reading patched runs


def test_difference_and_top_k_change():
    model = load_model("charlm")
    trace = model.trace("hello world")
    patched = intervene(model, trace, [Patch(0, "h", None, 5, 0.0)])
    d = iv.difference(patched, trace)
    for q in trace.states:
        np.testing.assert_array_equal(d.states[q], patched.states[q] - trace.states[q])
        assert not d.states[q][0][:5].any() and d.states[q][0][5:].any()
    np.testing.assert_array_equal(d.y, patched.y - trace.y)
    short = iv.difference(model.trace("help"), trace)  # diff mode: two inputs, the common steps
    assert short.steps == 4 and short.tokens == ("h", "e", "l", "p")
    top = iv.top_k_change(model, trace, patched, 7, top=3)
    assert len(top) == 3 and top[0].p_after >= top[1].p_after >= top[2].p_after
    for row in top:
        assert row.p_after == pytest.approx(float(patched.y[7, row.id]), rel=1e-4)
        assert row.p_before == pytest.approx(float(trace.y[7, row.id]), rel=1e-4)
        assert row.dlogp == pytest.approx(np.log(row.p_after / row.p_before), abs=1e-4)
        assert row.label == model.vocab[row.id]


# ---------------------------------------------------------------------------
# The command line's form


def test_parse_the_contract_forms():
    model = random_model(hidden=6, seed=0, layers=2)
    assert parse_patch("c[3]=0@5", model, 9) == Patch(0, "c", 3, 4, 0.0)
    assert parse_patch("L2:h[*]=src@2-4", model, 9, 9) == Patch(1, "h", None, range(1, 4), "src")
    assert parse_patch("L1:f[0]=-1.5e-1@*", model, 9) == Patch(0, "f", 0, range(9), -0.15)
    assert parse_patch("  L 2 : i [ 5 ] = .5 @ 7 - 9 ", model, 9) == Patch(1, "i", 5, range(6, 9), 0.5)


@pytest.mark.parametrize(
    "text,column,words",
    [
        ("c=0@5", 1, "expected [J]"),
        ("c[]=0@5", 2, "a unit"),
        ("c[x]=0@5", 2, "a unit"),
        ("c[\uff13]=0@5", 2, "a unit"),  # a full-width digit: int() reads it, other tools do not
        ("c[3]=0@\uff15", 7, "expected steps"),
        ("c[3=0@5", 3, "expected ]"),
        ("c[3]0@5", 4, "expected ="),
        ("c[3]=@5", 5, "a number or src"),
        ("c[3]=zero@5", 5, "a number or src"),
        ("c[3]=0", 6, "expected @"),
        ("c[3]=0@", 7, "expected steps"),
        ("c[3]=0@a", 7, "expected steps"),
        ("c[3]=0@5-", 9, "last step"),
        ("c[3]=0@6-5", 7, "is empty"),
        ("c[3]=0@5 x", 9, "unexpected text"),
        ("L:c[3]=0@5", 1, "layer number"),
        ("L2c[3]=0@5", 2, "expected :"),
        ("[3]=0@5", 0, "quantity"),
    ],
)
def test_malformed_sets_point_at_the_bad_column(text, column, words):
    with pytest.raises(iv.PatchSyntaxError) as exc:
        parse_patch_text(text)
    assert words in str(exc.value)
    head = '--set "'
    assert str(exc.value).startswith(f'{head}{text}": column {column + 1}: ')
    assert exc.value.column == column


@pytest.mark.parametrize(
    "text,column,words",
    [
        ("L3:c[0]=0@1", 1, "layer 3 out of range: expected a layer from 1 to 2"),
        ("L0:c[0]=0@1", 1, "expected a layer from 1 to 2"),
        ("r[0]=0@1", 0, "expected one of i f g o c h"),
        ("c[6]=0@1", 2, "unit 6 out of range: c of layer 1 has units 0 to 5"),
        ("c[-1]=0@1", 2, "unit -1 out of range: c of layer 1 has units 0 to 5"),
        ("L-1:c[0]=0@1", 1, "layer -1 out of range: expected a layer from 1 to 2"),
        ("c[0]=0@10", 7, "step 10 out of range: expected a step from 1 to 9"),
        ("c[0]=0@0", 7, "step 0 out of range"),
        ("c[0]=0@2-10", 7, "step 10 out of range"),
        ("c[0]=src@1", 5, "needs a source input"),
    ],
)
def test_out_of_range_names_the_valid_range(text, column, words):
    model = random_model(hidden=6, seed=0, layers=2)
    with pytest.raises(iv.PatchSyntaxError) as exc:
        parse_patch(text, model, 9)
    assert words in str(exc.value)
    assert str(exc.value).startswith(f'--set "{text}": column {column + 1}: ')
    assert exc.value.caret() == f"{text}\n{' ' * column}^"


@pytest.mark.parametrize(
    "text,column,words",
    [
        ("L{n}:c[0]=0@1", 1, "layer 9999999999999999999999999999999999999... out of range: expected a layer from 1"),
        ("c[{n}]=0@1", 2, "unit 9999999999999999999999999999999999999... out of range: c of layer 1 has units 0 to 5"),
        ("c[-{n}]=0@1", 2, "unit -999999999999999999999999999999999999... out of range"),
        ("c[0]=0@{n}", 7, "step 9999999999999999999999999999999999999... out of range: expected a step from 1 to 9"),
        ("c[0]=0@1-{n}", 7, "step 9999999999999999999999999999999999999... out of range"),
    ],
)
def test_a_number_too_long_for_int_is_out_of_range(text, column, words):
    """A layer, unit or step of 5,000 digits (int() raises ValueError past 4,300) is out of range in the
    usual words, the number and the text clipped; leading zeros are no digits of the number."""
    model = random_model(hidden=6, seed=0, layers=2)
    text = text.format(n="9" * 5000)
    with pytest.raises(iv.PatchSyntaxError) as exc:
        parse_patch(text, model, 9)
    line = str(exc.value)
    assert words in line and exc.value.column == column and len(line) < 250
    assert line.startswith(f'--set "{text[:57]}...": column {column + 1}: ')
    assert exc.value.caret().endswith("\n" + " " * column + "^")  # the app's caret: the whole text
    with pytest.raises(iv.PatchSyntaxError, match="step 9999999999999999999999999999999999999... out of range"):
        iv.prompt_patch("0@" + "9" * 5000, model, 0, "c", 0, 4, 9)
    assert parse_patch(f"c[0]=0@{'0' * 5000}2", model, 9) == Patch(0, "c", 0, 1, 0.0)


def test_src_past_the_source_is_refused():
    model = random_model(hidden=6, seed=0)
    with pytest.raises(iv.PatchSyntaxError, match="past the source's length"):
        parse_patch("c[0]=src@*", model, 9, 4)
    assert parse_patch("c[0]=src@1-4", model, 9, 4).steps == (0, 1, 2, 3)


def test_a_patch_prints_as_it_parses():
    from hypothesis import given
    from hypothesis import strategies as st

    model = random_model(hidden=6, seed=0, layers=2)

    @given(
        st.integers(0, 1),
        st.sampled_from("ifgoch"),
        st.one_of(st.none(), st.integers(0, 5)),
        st.integers(0, 8),
        st.integers(0, 3),
        st.one_of(st.just("src"), st.floats(allow_nan=False, width=32)),
    )
    def roundtrip(layer, q, unit, first, extra, value):
        last = min(8, first + extra)
        p = Patch(layer, q, unit, range(first, last + 1), value)
        assert parse_patch(str(p), model, 9, 9) == p

    roundtrip()


def test_the_app_prompt_forms():
    model = random_model(hidden=6, seed=0, layers=2)
    assert iv.prompt_patch("0.5", model, 1, "c", 3, 4, 9) == Patch(1, "c", 3, 4, 0.5)
    assert iv.prompt_patch(" src ", model, 0, "h", None, 4, 9, 9) == Patch(0, "h", None, 4, "src")
    assert iv.prompt_patch("-1@2-5", model, 0, "f", 0, 4, 9) == Patch(0, "f", 0, range(1, 5), -1.0)
    with pytest.raises(iv.PatchSyntaxError) as exc:
        iv.prompt_patch("zero", model, 0, "c", 0, 4, 9)
    assert "a number or src" in str(exc.value) and exc.value.column == 0
    assert str(exc.value).startswith('value "zero": column 1: ')
    with pytest.raises(iv.PatchSyntaxError, match="expected a step from 1 to 9"):
        iv.prompt_patch("1@3-12", model, 0, "c", 0, 4, 9)


def test_a_checkpointed_trace_is_refused_in_one_line():
    from lstm_tui.core.checkpoint import checkpointed

    model = random_model(hidden=4, seed=0)
    long = checkpointed(model, "abcdefgh" * 20, window=16)
    with pytest.raises(InputError, match="kept as checkpoints"):
        intervene(model, long, [Patch(0, "h", 0, 3, 0.0)])


@pytest.mark.parametrize("ident,model", zoo_models()[-3:], ids=lambda v: v if isinstance(v, str) else "")
def test_difference_of_mixed_width_traces(ident, model):
    rng = np.random.default_rng(2)
    a, b = model.trace(rng.standard_normal((6, 5))), model.trace(rng.standard_normal((4, 5)))
    d = iv.difference(a, b)
    assert d.steps == 4
    for q in a.states:
        for n in range(a.num_layers):
            np.testing.assert_array_equal(d.states[q][n], a.states[q][n][:4] - b.states[q][n])
            assert d.value(q, n, 2).shape == (a.width(q, n),)


def test_any_text_parses_or_fails_in_one_line():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    model = random_model(hidden=6, seed=0, layers=2)
    alphabet = st.sampled_from(list("L:[]*=@-.e0123456789 ifgochsrcnaz+\t"))

    @settings(max_examples=400, deadline=None)
    @given(st.one_of(st.text(alphabet, max_size=20), st.text(max_size=12)))
    def fuzz(text):
        try:
            p = parse_patch(text, model, 9, 9)
        except iv.PatchSyntaxError as exc:
            line = str(exc)
            assert "\n" not in line and 0 <= exc.column <= len(text)
            assert f'": column {len(inert(text[: exc.column])) + 1}: ' in line
        else:
            assert 0 <= p.layer < 2 and p.steps and 0 <= p.steps[0] <= p.steps[-1] < 9

    fuzz()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_adding_or_removing_a_patch_from_a_base_run(cell, monkeypatch):
    """With the previous patched run as base, only the steps from the differing patch on are recomputed,
    and the result is the same as a run from the clean trace."""
    model = random_model(hidden=6, seed=3, layers=2, cell=cell)
    trace = model.trace("the quick brown fox jumps over the lazy dog")
    T = trace.steps
    early = [Patch(0, "h", 2, 5, 0.7), Patch(1, "h", None, range(8, 10), -0.2)]
    later = Patch(1, "h", 4, 38, 0.0)
    base = intervene(model, trace, early)
    counted = []
    real_step = iv.cell_step
    monkeypatch.setattr(iv, "cell_step", lambda *a, **k: counted.append(1) or real_step(*a, **k))
    added = intervene(model, trace, [*early, later], base=base, base_patches=early)
    assert len(counted) == T - 38  # level 2 only, from step 38 on
    removed = intervene(model, trace, early, base=added, base_patches=[*early, later])
    monkeypatch.setattr(iv, "cell_step", real_step)
    for got, want in ((added, intervene(model, trace, [*early, later])), (removed, base)):
        for q in trace.states:
            np.testing.assert_allclose(got.states[q], want.states[q], atol=1e-6)
        np.testing.assert_allclose(got.y, want.y, atol=1e-6)
    check(model, trace, added, [*early, later])
    first = Patch(0, "c" if cell == "lstm" else "h", 0, 2, 0.1)  # earlier than every other: recompute from there
    both = intervene(model, trace, [first, *early], base=base, base_patches=early)
    check(model, trace, both, [first, *early])
    assert intervene(model, trace, early, base=base, base_patches=early) is base
    assert intervene(model, trace, [], base=base, base_patches=early) is trace


def test_a_head_with_hidden_layers_is_carried_through_patches_maps_casts_and_copies():
    """Keras's GRU, TimeDistributed(Dense(6, elu)), Dense(V) (fixture gru_deep_head_lm): a patched run's logits
    are the whole head's of its h; the effect map's batched rows equal patching one unit at a time; a cast
    and the trainer's copy keep the hidden layers; the output panel's equation names them."""
    import dataclasses
    from pathlib import Path

    from lstm_tui.core.train import copy_model
    from lstm_tui.formats import load_file
    from lstm_tui.render.acts import layer_equation

    model = load_file(Path(__file__).parent / "data" / "keras" / "gru_deep_head_lm.keras").astype("float64")
    assert model.head_hidden and model.head_hidden[0].W.dtype == np.float64
    clean = model.trace("1 2 3 4 5 6")
    patched = intervene(model, clean, [Patch(0, "h", 2, (1,), 0.7)])
    h = patched.states["h"][-1]
    np.testing.assert_allclose(patched.logits, model.logits_of(h), rtol=1e-12)
    assert not np.allclose(patched.logits[1:], clean.logits[1:])
    em = EffectMap(model, clean, "h", 0, 0.7, 4)
    effect = em.run()
    for s, j in ((1, 2), (3, 0)):
        one = intervene(model, clean, [Patch(0, "h", j, (s,), 0.7)])
        want = iv.log_probabilities(one.logits[4])[em.token] - em.clean_logp
        assert effect[s, j] == pytest.approx(want, abs=1e-9)
    copy = copy_model(model)
    assert copy.head_hidden[0].W is not model.head_hidden[0].W
    np.testing.assert_array_equal(copy.head_hidden[0].W, model.head_hidden[0].W)
    assert layer_equation("yᵗ = softmax(W_y hᵗ + b_y)", "y", model, 0) == "yᵗ = softmax(W_y Elu(W₁ hᵗ + b₁) + b_y)"
    one = dataclasses.replace(model, head_W=model.head_W[:1], head_b=model.head_b[:1])
    assert layer_equation("yᵗ = softmax(W_y hᵗ + b_y)", "y", one, 0).startswith("yᵗ = σ(W_y Elu(")


def test_a_sets_column_counts_the_text_as_the_line_shows_it():
    """A control character is written out in the message (\\t): the column is where the bad character shows."""
    with pytest.raises(iv.PatchSyntaxError) as exc:
        parse_patch_text("c[3]\t=x@2")
    line = str(exc.value)
    assert line.startswith('--set "c[3]\\t=x@2": column 8: ')
    shown = line[len('--set "') :]
    assert shown[8 - 1] == "x" and exc.value.column == 6  # the raw text's column, for the app's caret
