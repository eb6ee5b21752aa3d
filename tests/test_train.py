"""The NumPy trainer: the loss falls, runs are reproducible, the input model is untouched."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_tui.core.backward import parameters
from lstm_tui.core.train import TrainConfig, chunk_loss, clip_grads, evaluate, init_model, train

VOCAB = ("a", "b", "c", "d", "<unk>")
# After "ab" comes c or d in turn: predicting it needs a memory of 6 steps.
STREAM = np.array([VOCAB.index(ch) for ch in "abcabd" * 60])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_loss_falls_on_a_tiny_task(cell):
    model = init_model(VOCAB, hidden=8, embed=4, cell=cell, seed=0)
    before = evaluate(model, STREAM)
    trained, losses = train(model, STREAM, TrainConfig(steps=200, chunk=24, lr=2e-2, seed=1))
    after = evaluate(trained, STREAM)
    assert len(losses) == 200
    assert before > 1.4  # about log 5 untrained
    assert after < 0.5 * before
    assert np.mean(losses[-20:]) < np.mean(losses[:20])


def test_lstm_learns_the_long_dependency():
    """a b c a b d: the entropy left is zero once the model remembers which of c, d came last."""
    model = init_model(VOCAB, hidden=12, embed=4, seed=0, forget_bias=1.0)
    trained, _ = train(model, STREAM, TrainConfig(steps=600, chunk=24, lr=2e-2, lr_end=2e-3))
    assert evaluate(trained, STREAM) < 0.1


def test_training_is_reproducible_and_leaves_the_model_alone():
    model = init_model(VOCAB, hidden=6, embed=3, seed=4, layers=2)
    keep = {k: v.copy() for k, v in parameters(model).items()}
    config = TrainConfig(steps=30, chunk=16, seed=9)
    a, la = train(model, STREAM, config)
    b, lb = train(model, STREAM, config)
    assert la == lb
    for name, value in parameters(a).items():
        assert np.array_equal(value, parameters(b)[name]), name
        assert np.array_equal(parameters(model)[name], keep[name]), name
        assert not np.array_equal(value, keep[name]), name


def test_first_adam_step_moves_every_used_parameter_by_lr():
    """With bias correction, Adam's first update is lr · g/|g| for every entry whose gradient is not tiny."""
    model = init_model(VOCAB, hidden=5, embed=3, seed=2, dtype="float64")
    ids = STREAM[:20]
    _, grads, _, _ = chunk_loss(model, ids)
    trained, _ = train(model, [ids], TrainConfig(steps=1, chunk=19, lr=1e-3, clip=1e9))  # one document: from its start
    for name, before in parameters(model).items():
        g = grads[name]
        moved = parameters(trained)[name] - before
        big = np.abs(g) > 1e-5
        np.testing.assert_allclose(moved[big], -1e-3 * np.sign(g[big]), rtol=1e-3, err_msg=name)
        assert not moved[g == 0].any(), name


def test_clipping_scales_all_gradients_together():
    rng = np.random.default_rng(0)
    grads = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    keep = {k: v.copy() for k, v in grads.items()}
    norm = clip_grads(grads, 1.0)
    assert norm == pytest.approx(np.sqrt(sum((v**2).sum() for v in keep.values())))
    assert np.sqrt(sum((v**2).sum() for v in grads.values())) == pytest.approx(1.0)
    for k in grads:  # one common factor: directions kept
        np.testing.assert_allclose(grads[k], keep[k] / norm)
    assert clip_grads(grads, 10.0) == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"], keep["a"] / norm)


def test_bad_streams_are_refused():
    model = init_model(VOCAB, hidden=4, embed=2)
    with pytest.raises(ValueError, match="ids must lie"):
        train(model, np.array([0, 1, 9]))
    with pytest.raises(ValueError, match="at least 2"):
        train(model, np.array([0]))


def test_documents_are_walked_whole_from_zero_state_once_per_pass():
    from lstm_tui.core.train import _chunks

    sizes = [5, 12, 2, 9]
    spans = _chunks(sizes, 4, np.random.default_rng(0), stream=False)
    for _ in range(3):  # passes
        seen = {d: [] for d in range(len(sizes))}
        order = []
        for _ in range(sum(-(-(n - 1) // 4) for n in sizes)):  # chunks of one pass
            d, start, stop, fresh = next(spans)
            assert fresh == (start == 0)
            assert 2 <= stop - start <= 5
            seen[d].append((start, stop))
            if fresh:
                order.append(d)
        assert sorted(order) == [0, 1, 2, 3]
        for d, parts in seen.items():
            assert parts[0][0] == 0 and parts[-1][1] == sizes[d]
            assert all(a[1] - 1 == b[0] for a, b in zip(parts, parts[1:]))  # each target is the next input


def test_evaluate_runs_each_document_from_zero_state():
    model = init_model(VOCAB, hidden=5, embed=3, seed=1, dtype="float64")
    docs = [STREAM[:30], STREAM[30:41]]
    whole = evaluate(model, docs)
    parts = [evaluate(model, d) for d in docs]
    assert whole == pytest.approx((29 * parts[0] + 10 * parts[1]) / 39, rel=1e-12)
    assert whole != pytest.approx(evaluate(model, STREAM[:41]), rel=1e-9)
    w = [np.ones(30), np.r_[np.zeros(10), 1.0]]
    last = -np.log(model.trace([VOCAB[i] for i in docs[1][:-1]]).y[-1, docs[1][-1]])
    both = (29 * parts[0] + last) / 30
    assert evaluate(model, docs, weights=w) == pytest.approx(both, rel=1e-9)
