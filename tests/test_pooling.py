"""A pooling head (core.pooling): the head reads the max or mean of the top level's h over the
steps so far. Each way a run is computed (whole, in chunks, in checkpointed windows, streamed,
patched, by the effect map, backwards) gives what the definition gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import numeric_grad

from lstm_tui.core.backward import backward, cross_entropy
from lstm_tui.core.checkpoint import checkpointed
from lstm_tui.core.interventions import EffectMap, Patch, intervene, log_probabilities
from lstm_tui.core.model import Dense, random_model
from lstm_tui.core.pooling import Pool
from lstm_tui.core.stream import chunks
from lstm_tui.core.tracing import TraceBuilder

TEXT = "the cat sat on the mat, and then the dog sat on the cat."


def pooled(model, kind: str, dtype="float64", hidden=False):
    m = dataclasses.replace(model.astype(dtype), head_pool=kind)
    if hidden:
        rng = np.random.default_rng(3)
        W = m.output_size
        d = Dense(rng.standard_normal((7, W)).astype(dtype), rng.standard_normal(7).astype(dtype), ("Tanh", 1.0, 0.0))
        m = dataclasses.replace(m, head_hidden=(d,), head_W=rng.standard_normal((m.head_W.shape[0], 7)).astype(dtype))
    return m


def by_definition(model, h):
    """Each step's logits from the pool of h[0..t], in float64, one step at a time."""
    rows = [h[: t + 1].max(axis=0) if model.head_pool == "max" else h[: t + 1].mean(axis=0) for t in range(len(h))]
    return model.logits_of(np.array(rows))


@pytest.fixture(params=["max", "mean"])
def kind(request):
    return request.param


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 2), ("rnn_tanh", 1)])
def test_whole_run_is_the_pool_of_the_steps_so_far(kind, cell, layers):
    model = pooled(random_model(hidden=12, cell=cell, layers=layers, seed=4), kind)
    tr = model.trace(TEXT)
    np.testing.assert_allclose(tr.logits, by_definition(model, tr.states["h"][-1]), rtol=1e-10, atol=1e-12)
    plain = dataclasses.replace(model, head_pool="").trace(TEXT)
    assert not np.allclose(tr.logits[1:], plain.logits[1:])  # the pool is not the last step's h
    np.testing.assert_allclose(tr.logits[0], plain.logits[0])  # but at the first step it is


def test_prefix_semantics(kind):
    """A model that reads forwards: the output at step t is the model's output for the text up to t."""
    model = pooled(random_model(hidden=10, seed=2), kind)
    whole = model.trace(TEXT)
    for t in (3, 17, len(TEXT) - 1):
        np.testing.assert_allclose(whole.logits[t], model.trace(TEXT[: t + 1]).logits[-1], rtol=1e-10)


def test_windows_chunks_checkpoints_and_streams_agree(kind):
    model = pooled(random_model(hidden=9, layers=2, seed=5), kind, dtype="float32")
    whole = model.trace(TEXT)
    for a, b in ((0, 5), (7, 30), (40, len(TEXT))):
        w = whole.window(a, b)
        assert w.pool.count == a
        np.testing.assert_allclose(model.head_logits(w.states["h"][-1], w.pool), whole.logits[a:b], rtol=1e-5, atol=1e-6)
    tracer = TraceBuilder(model, TEXT)
    while not tracer.complete:
        tracer.advance(max_steps=4, seconds=0)
    np.testing.assert_allclose(tracer.snapshot().logits, whole.logits, rtol=1e-5, atol=1e-6)
    ck = checkpointed(model, TEXT, window=8)
    np.testing.assert_allclose(ck.window(0, len(TEXT)).logits, whole.logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ck.window(21, 45).logits, whole.logits[21:45], rtol=1e-5, atol=1e-6)
    streamed = np.concatenate([c.logits for c in chunks(model, *model.prepare(TEXT), steps=6)])
    np.testing.assert_allclose(streamed, whole.logits, rtol=1e-5, atol=1e-6)


def test_a_patch_moves_every_later_step(kind):
    model = pooled(random_model(hidden=8, seed=6), kind)
    clean = model.trace(TEXT)
    patched = intervene(model, clean, [Patch(0, "h", 3, (5,), 2.5)])
    np.testing.assert_allclose(patched.logits, by_definition(model, patched.states["h"][-1]), rtol=1e-10)
    np.testing.assert_array_equal(patched.logits[:5], clean.logits[:5])
    if kind == "mean":  # a mean moves with every step pooled; a max only where the set value is the largest
        assert not np.allclose(patched.logits[-1], clean.logits[-1])


@pytest.mark.parametrize("hidden", [False, True])
def test_effect_map_is_patching_one_unit_at_a_time(kind, hidden):
    model = pooled(random_model(hidden=6, seed=7), kind, hidden=hidden)
    clean = model.trace(TEXT[:14])
    em = EffectMap(model, clean, "h", 0, 0.9, 11)
    effect = em.run()
    for s, j in ((0, 1), (4, 3), (11, 5)):
        one = intervene(model, clean, [Patch(0, "h", j, (s,), 0.9)])
        want = log_probabilities(one.logits[11])[em.token] - em.clean_logp
        assert effect[s, j] == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("hidden", [False, True])
def test_backward_matches_finite_differences(kind, hidden):
    model = pooled(random_model(hidden=5, layers=2, seed=8), kind, hidden=hidden)
    text = "abcabd"
    targets = np.array([1, 2, 3, 4, 0, 2])

    def loss():
        return cross_entropy(model.trace(text).logits, targets)[0]

    tr = model.trace(text)
    grads = backward(model, tr, dlogits=cross_entropy(tr.logits, targets)[1])
    for name, array in (("decoder.weight", model.head_W), ("weight_hh_l0", model.layers[0].W_hh),
                        ("weight_ih_l1", model.layers[1].W_ih)):
        np.testing.assert_allclose(grads.params[name], numeric_grad(loss, array), rtol=1e-5, atol=1e-8)


def test_pool_backward_of_a_window_stops_at_its_start(kind):
    rng = np.random.default_rng(0)
    h = rng.standard_normal((6, 4))
    before = Pool(kind).after(rng.standard_normal((3, 4)) + (0.5 if kind == "max" else 0))
    grad = rng.standard_normal((6, 4))
    if kind == "max":  # some units' maximum came before the window (no gradient), others' arrive in it
        got = before.backward(h, grad)
        assert (got == 0).all(axis=0).any() and (got != 0).any(axis=0).any()

    def total(hh):
        return float((before.rows(hh) * grad).sum())

    num = np.zeros_like(h)
    for idx in np.ndindex(h.shape):
        up, down = h.copy(), h.copy()
        up[idx] += 1e-6
        down[idx] -= 1e-6
        num[idx] = (total(up) - total(down)) / 2e-6
    np.testing.assert_allclose(before.backward(h, grad), num, atol=1e-6)


def test_a_patch_read_backwards_moves_the_pool_after_it(kind):
    """A backward direction patched at step s changes h before s only; the pool carries it to the end."""
    from model_zoo import bidi

    rng = np.random.default_rng(9)
    base = random_model(hidden=5, seed=9).astype("float64")
    level = bidi(rng, "lstm", base.input_size, 5)
    model = dataclasses.replace(base, layers=(level,), head_W=rng.standard_normal((base.head_W.shape[0], 10)),
                                head_pool=kind)
    clean = model.trace(TEXT[:12])
    patched = intervene(model, clean, [Patch(0, "h", 7, (6,), 3.0)])  # unit 7: the backward half's
    np.testing.assert_allclose(patched.logits, by_definition(model, patched.states["h"][-1]), rtol=1e-10)
    assert not np.allclose(patched.logits[7:], clean.logits[7:])


def test_equation_and_own_file(kind, tmp_path):
    from lstm_tui.formats import load_file
    from lstm_tui.formats.native import save_model
    from lstm_tui.render.acts import layer_equation

    model = pooled(random_model(hidden=6, seed=1), kind, dtype="float32", hidden=True)
    assert layer_equation("yᵗ = softmax(W_y hᵗ + b_y)", "y", model, 0) == (
        f"yᵗ = softmax(W_y tanh(W₁ {kind}(h¹…hᵗ) + b₁) + b_y)")
    save_model(model, tmp_path / "m.safetensors")
    back = load_file(tmp_path / "m.safetensors")
    assert back.head_pool == kind
    np.testing.assert_array_equal(back.trace(TEXT).logits, model.trace(TEXT).logits)


def test_a_long_mean_carried_through_chunks_loses_nothing_to_rounding():
    """The pool is carried in float64: 200,000 steps in chunks of 64 give the one-go mean to float32's precision."""
    rng = np.random.default_rng(5)
    h = (rng.standard_normal((200_000, 3)) + 3).astype(np.float32)
    pool = Pool("mean")
    for a in range(0, len(h), 64):
        pool = pool.after(h[a : a + 64])
    want = h.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(pool.rows(h[:1])[0], (want * len(h) + h[0]) / (len(h) + 1), rtol=1e-7)
    np.testing.assert_allclose(pool.total / pool.count, want, rtol=1e-12)


def test_a_nan_is_a_maximum_from_its_step():
    h = np.array([[1.0], [np.nan], [3.0]])
    np.testing.assert_array_equal(Pool("max").backward(h, np.ones((3, 1))), [[1.0], [2.0], [0.0]])


def test_the_gradient_view_recomputes_a_window_from_its_pool(kind):
    """The gradient panel reruns a window of a long run in float64: from the window's pool, not from none."""
    from lstm_tui.render.gradient_flow import float64_run

    model = pooled(random_model(hidden=7, seed=3), kind, dtype="float32")
    window = checkpointed(model, TEXT, window=8).window(24, 40)
    *_, t64 = float64_run(model, window)
    np.testing.assert_allclose(t64.logits, window.logits, rtol=1e-4, atol=1e-5)


def test_training_refuses_a_pooled_model():
    from lstm_tui.core.train import evaluate, train

    model = pooled(random_model(hidden=4, seed=0), "mean")
    for run in (evaluate, train):
        with pytest.raises(ValueError, match="pools the steps before its head"):
            run(model, np.array([1, 2, 3]))
