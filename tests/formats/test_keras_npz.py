"""Keras weights saved as named arrays (.npz of get_weights(), w.path names), against Keras's equations."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_tui.core.cells import Bidirectional
from lstm_tui.core import ModelFileError, softmax
from lstm_tui.formats import load_file

from .util import KERAS, VOCAB, _sigmoid, keras_lstm, keras_weights


# --- Keras ----------------------------------------------------------------------------


@pytest.mark.parametrize("cell", KERAS)
def test_keras_single_layer_matches_keras_equations(tmp_path, rng, cell):
    kernel, rec, bias = keras_weights(rng, cell, 4, 5)
    np.savez(tmp_path / "k.npz", kernel=kernel, recurrent_kernel=rec, bias=bias)
    model = load_file(tmp_path / "k.npz")
    assert model.cell == cell and model.dtype == np.float64 and model.meta["format"] == "keras"
    x = rng.standard_normal((11, 4))
    np.testing.assert_allclose(model.trace(x).states["h"][0], KERAS[cell][1](x, kernel, rec, bias), atol=1e-12)


def test_keras_gru_gates_are_reordered(tmp_path, rng):
    """PyTorch's r is Keras's second block, z its first: check the gates, not only h."""
    kernel, rec, bias = keras_weights(rng, "gru", 3, 4)
    np.savez(tmp_path / "k.npz", kernel=kernel, recurrent_kernel=rec, bias=bias)
    trace = load_file(tmp_path / "k.npz").trace(x := rng.standard_normal((2, 3)))
    H = 4
    z1 = _sigmoid(x[0] @ kernel[:, :H] + bias[0, :H] + bias[1, :H])
    r1 = _sigmoid(x[0] @ kernel[:, H : 2 * H] + bias[0, H : 2 * H] + bias[1, H : 2 * H])
    np.testing.assert_allclose(trace.states["z"][0, 0], z1, atol=1e-12)
    np.testing.assert_allclose(trace.states["r"][0, 0], r1, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_keras_language_model(tmp_path, rng, cell):
    """Embedding, two recurrent layers and a Dense head, saved as the load_file docstring says."""
    V, E, H = len(VOCAB), 4, 5
    w0, w1 = keras_weights(rng, cell, E, H), keras_weights(rng, cell, H, H)
    emb = rng.standard_normal((V, E))
    dense_k, dense_b = rng.uniform(-1, 1, (H, V)), rng.uniform(-1, 1, V)
    arrays = {"embedding/embeddings": emb}
    for k, w in enumerate((w0, w1)):
        arrays.update({f"layer{k}/{n}": a for n, a in zip(("kernel", "recurrent_kernel", "bias"), w)})
    arrays.update({"dense/kernel": dense_k, "dense/bias": dense_b})
    np.savez(tmp_path / "lm.npz", **arrays, vocab=np.array(VOCAB), tokenizer=np.array("char"))
    model = load_file(tmp_path / "lm.npz")
    assert model.num_layers == 2 and model.takes_tokens and model.vocab == tuple(VOCAB)
    text = "ab. cé a"
    trace = model.trace(text)
    x = emb[[VOCAB.index(c) for c in text]]
    h0 = KERAS[cell][1](x, *w0)
    h1 = KERAS[cell][1](h0, *w1)
    np.testing.assert_allclose(trace.states["h"][0], h0, atol=1e-12)
    np.testing.assert_allclose(trace.states["h"][1], h1, atol=1e-12)
    np.testing.assert_allclose(trace.y, softmax(h1 @ dense_k + dense_b), atol=1e-12)


@pytest.mark.parametrize("classes", [None, 3])
def test_keras_arrays_without_a_vocabulary_open_on_their_ids(tmp_path, rng, classes):
    """No vocabulary in the .npz (it is optional): the ids are the tokens, as for a .keras file; a head
    of another width than the embedding's (a classifier) is labelled by output id."""
    V, E, H = 6, 3, 4
    emb, (kernel, rec, bias) = rng.standard_normal((V, E)), keras_weights(rng, "lstm", E, H)
    dense_k, dense_b = rng.uniform(-1, 1, (H, classes or V)), rng.uniform(-1, 1, classes or V)
    np.savez(tmp_path / "m.npz", **{"embedding/embeddings": emb, "lstm/kernel": kernel, "lstm/recurrent_kernel": rec,
                                    "lstm/bias": bias, "dense/kernel": dense_k, "dense/bias": dense_b})
    model = load_file(tmp_path / "m.npz")
    assert model.vocab == tuple(str(k) for k in range(V)) and model.tokenizer == "word"
    assert any("no vocabulary" in n for n in model.notes)
    trace = model.trace("5 0 2")
    assert trace.ids.tolist() == [5, 0, 2] and not trace.unknown.any()
    h = KERAS["lstm"][1](emb[[5, 0, 2]], kernel, rec, bias)
    np.testing.assert_allclose(trace.y, softmax(h @ dense_k + dense_b), atol=1e-12)
    assert ("head_classes" in model.meta) == (classes is not None)


def test_keras_weight_paths_in_saved_order(tmp_path, rng):
    """Names from w.path (Keras 3) or w.name (tf.keras, with :0): the layers in the order they were saved."""
    w0, w1 = keras_weights(rng, "lstm", 3, 5), keras_weights(rng, "lstm", 5, 5)
    arrays = {}
    for name, w in (("zeta/lstm_cell/", w0), ("alpha/lstm_cell/", w1)):
        arrays.update({f"{name}{n}:0": a for n, a in zip(("kernel", "recurrent_kernel", "bias"), w)})
    np.savez(tmp_path / "k.npz", **arrays)
    model = load_file(tmp_path / "k.npz")
    x = rng.standard_normal((6, 3))
    np.testing.assert_allclose(model.trace(x).states["h"][1], keras_lstm(keras_lstm(x, *w0), *w1), atol=1e-12)
    assert load_file(tmp_path / "k.npz", prefix="alpha").input_size == 5


def test_keras_without_bias(tmp_path, rng):
    kernel, rec, _ = keras_weights(rng, "lstm", 3, 4)
    np.savez(tmp_path / "k.npz", kernel=kernel, recurrent_kernel=rec)
    x = rng.standard_normal((5, 3))
    np.testing.assert_allclose(load_file(tmp_path / "k.npz").trace(x).states["h"][0],
                               keras_lstm(x, kernel, rec, np.zeros(16)), atol=1e-12)


def test_keras_gru_reset_after_false_and_bidirectional(tmp_path, rng):
    """A (3H,) GRU bias is reset_after=False; forward_/backward_ names pair into one Bidirectional level."""
    kernel, rec, bias = keras_weights(rng, "gru", 3, 4)
    np.savez(tmp_path / "g.npz", kernel=kernel, recurrent_kernel=rec, bias=bias[0])
    layer = load_file(tmp_path / "g.npz").layers[0]
    perm = np.r_[4:8, 0:4, 8:12]
    assert not layer.linear_before_reset and not layer.b_hh.any()
    np.testing.assert_array_equal(layer.b_ih, bias[0][perm])
    np.testing.assert_array_equal(layer.W_hh, rec[:, perm].T)
    k, r, b = keras_weights(rng, "lstm", 3, 4)
    k2, r2, b2 = keras_weights(rng, "lstm", 3, 4)
    np.savez(tmp_path / "b.npz", **{"bidirectional/forward_lstm/kernel": k,
                                    "bidirectional/forward_lstm/recurrent_kernel": r,
                                    "bidirectional/backward_lstm/kernel": k2,
                                    "bidirectional/backward_lstm/recurrent_kernel": r2})
    level = load_file(tmp_path / "b.npz").layers[0]
    assert isinstance(level, Bidirectional) and level.backward.reverse and not level.forward.reverse
    np.testing.assert_array_equal(level.backward.W_hh, r2.T)
    np.savez(tmp_path / "o.npz", **{"bidirectional/backward_lstm/kernel": k2,
                                    "bidirectional/backward_lstm/recurrent_kernel": r2})
    with pytest.raises(ModelFileError, match="backward direction without its forward one"):
        load_file(tmp_path / "o.npz")


def test_keras_refusals(tmp_path, rng):
    k, r, b = keras_weights(rng, "lstm", 3, 4)
    np.savez(tmp_path / "s.npz", **{"layer0/kernel": k, "layer0/recurrent_kernel": r,
                                    "layer1/kernel": k, "layer1/recurrent_kernel": r})
    with pytest.raises(ModelFileError, match=r"layer1/kernel has shape \[3, 16\], expected \[4, 16\] \(layer 1"):
        load_file(tmp_path / "s.npz")
    dense = {"d1/kernel": np.ones((4, 4)), "d2/kernel": np.ones((4, 2))}
    np.savez(tmp_path / "d.npz", kernel=k, recurrent_kernel=r, **dense)
    with pytest.raises(ModelFileError, match="several dense layers"):
        load_file(tmp_path / "d.npz")
    np.savez(tmp_path / "n.npz", kernel=k, recurrent_kernel=r, bias=np.full(16, np.nan))
    with pytest.raises(ModelFileError, match="n.npz: bias holds NaN or Inf values"):
        load_file(tmp_path / "n.npz")
