"""Small Keras 3 models and their outputs, for tests/formats/test_keras.py.

Run where Keras 3 and PyTorch are installed (TensorFlow is not needed)::

    KERAS_BACKEND=torch python scripts/make_keras_fixtures.py tests/data/keras [NAME ...]

For each model NAME it writes ``NAME.keras`` (model.save), for some also
``NAME.weights.h5`` (model.save_weights: no config) and ``NAME.h5`` (the
legacy HDF5 format), and ``NAME.npz`` with the
input (``ids`` (T,) or ``x`` (T, E)), ``out_{i}`` the Keras output of the i-th
recurrent layer or level (a sub-model from the input to that layer: (T, W),
or (W,) with return_sequences=False), ``y`` the model's output, ``prefix_y`` (T, V) its output for
each prefix of the input (a model with a global pooling layer), and ``vocab``
when the model has an embedding. Weights are drawn at random (biases too, so
they are tested), and the files stay a few KB each.
"""

from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

T = 7
VOCAB = list("abcdefg ")


def lstm_lm():
    """Functional: Embedding, a Bidirectional LSTM, a narrower LSTM, a softmax head."""
    ids = keras.Input((None,), dtype="int32")
    x = layers.Embedding(len(VOCAB), 5)(ids)
    x = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(x)
    x = layers.LSTM(4, return_sequences=True)(x)
    y = layers.Dense(len(VOCAB), activation="softmax")(x)
    return keras.Model(ids, y), True


def gru_seq():
    """Sequential on frames: reset_after False then True, no bias, go_backwards, non-default activations,
    return_sequences=False on the last layer, a sigmoid head, a Dropout in between."""
    return keras.Sequential([
        keras.Input((None, 3)),
        layers.GRU(5, reset_after=False, return_sequences=True),
        layers.Dropout(0.2),
        layers.GRU(4, use_bias=False, go_backwards=True, return_sequences=True),
        layers.GRU(3, activation="softsign", recurrent_activation="hard_sigmoid"),
        layers.Dense(2, activation="sigmoid"),
    ]), False


def rnn_backwards():
    """Functional on frames: a relu SimpleRNN reading backwards, then a Bidirectional SimpleRNN (which
    therefore reads the text from the end in its forward half), then a TimeDistributed linear head."""
    inp = keras.Input((None, 4))
    x = layers.SimpleRNN(5, activation="relu", go_backwards=True, return_sequences=True)(inp)
    x = layers.Bidirectional(layers.SimpleRNN(3, activation="elu", return_sequences=True))(x)
    x = layers.SimpleRNN(2, activation="leaky_relu", return_sequences=True)(x)
    y = layers.TimeDistributed(layers.Dense(4))(x)
    return keras.Model(inp, y), False


def lstm_acts():
    """Sequential on frames, no head: relu/hard_sigmoid LSTM without bias, then a linear LSTM going backwards
    with return_sequences=False."""
    return keras.Sequential([
        keras.Input((None, 3)),
        layers.LSTM(4, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False,
                    return_sequences=True),
        layers.LSTM(3, activation="linear", go_backwards=True),
    ]), False


def gru_bidir_lm():
    """Sequential: Embedding, a Bidirectional GRU with reset_after=False, a GRU, a softmax head."""
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(VOCAB), 4),
        layers.Bidirectional(layers.GRU(3, reset_after=False, return_sequences=True)),
        layers.GRU(2, return_sequences=True),
        layers.Dense(len(VOCAB), activation="softmax"),
    ]), True


def gru_classifier():
    """The usual sentence classifier: Embedding, Bidirectional GRU (softplus) with return_sequences=False,
    one sigmoid unit."""
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(VOCAB), 4),
        layers.Bidirectional(layers.GRU(4, activation="softplus")),
        layers.Dense(1, activation="sigmoid"),
    ]), False


def lstm_nested():
    """A functional model wrapping a Sequential one (as Keras's tutorials wrap a trained model), the
    Sequential's LSTM under a second go_backwards LSTM of the outer model."""
    inner = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(VOCAB), 4),
        layers.LSTM(5, return_sequences=True),
    ], name="encoder")
    ids = keras.Input((None,), dtype="int32")
    x = inner(ids)
    x = layers.LSTM(3, go_backwards=True, return_sequences=True)(x)
    y = layers.Dense(len(VOCAB), activation="softmax")(x)
    return keras.Model(ids, y), False


def gru_nested_seq():
    """A Sequential holding a functional encoder (Embedding, a Bidirectional GRU) and then its own head."""
    ids = keras.Input((None,), dtype="int32")
    x = layers.Embedding(len(VOCAB), 4)(ids)
    x = layers.Bidirectional(layers.GRU(3, return_sequences=True))(x)
    encoder = keras.Model(ids, x, name="encoder")
    return keras.Sequential([keras.Input((None,), dtype="int32"), encoder, layers.Dropout(0.1),
                             layers.Dense(len(VOCAB))]), False


def lstm_deep_head():
    """The usual sentence classifier with a hidden layer in its head (as TensorFlow's RNN tutorial builds it):
    Embedding, a Bidirectional LSTM with return_sequences=False, Dense(6, relu), Dropout, Dense(3, tanh), Dense(1)."""
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(VOCAB), 4),
        layers.Bidirectional(layers.LSTM(4)),
        layers.Dense(6, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(3, activation="tanh"),
        layers.Dense(1),
    ]), False


def gru_deep_head_lm():
    """A language model whose head has a hidden layer at every step: a GRU, TimeDistributed(Dense(6, elu)),
    Dense(V), Activation(softmax)."""
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(VOCAB), 4),
        layers.GRU(5, return_sequences=True),
        layers.TimeDistributed(layers.Dense(6, activation="elu")),
        layers.Dense(len(VOCAB)),
        layers.Activation("softmax"),
    ]), False  # (a .weights.h5 does not say the hidden layer's activation: refused)


def lstm_mask_func():
    """Functional with Embedding(mask_zero=True): Keras records the mask as a NotEqual layer that the
    Bidirectional and the LSTM read as mask=. (The ids drawn avoid 0, the padding id.)"""
    ids = keras.Input((None,), dtype="int32")
    x = layers.Embedding(len(VOCAB), 4, mask_zero=True)(ids)
    x = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(x)
    x = layers.LSTM(4, return_sequences=True)(x)
    y = layers.Dense(len(VOCAB), activation="softmax")(x)
    return keras.Model(ids, y), False


def lstm_act_layers():
    """A head whose activations are layers: Dense(6), LeakyReLU(0.2), Dense(5), ReLU(), Dense(V), Softmax()."""
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(VOCAB), 4),
        layers.LSTM(5, return_sequences=True),
        layers.Dense(6), layers.LeakyReLU(negative_slope=0.2),
        layers.Dense(5), layers.ReLU(),
        layers.Dense(len(VOCAB)), layers.Softmax(),
    ]), False


def lstm_bi_sum():
    """Bidirectional(LSTM, merge_mode="sum") under an LSTM, then a softmax head."""
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(VOCAB), 4),
        layers.Bidirectional(layers.LSTM(4, return_sequences=True), merge_mode="sum"),
        layers.LSTM(3, return_sequences=True),
        layers.Dense(len(VOCAB), activation="softmax"),
    ]), False


def gru_bi_ave_after_backwards():
    """On frames: a GRU reading backwards, then Bidirectional(GRU, merge_mode="ave") with
    return_sequences=False (so its halves are read from the end), then a linear head of 2."""
    return keras.Sequential([
        keras.Input((None, 3)),
        layers.GRU(4, go_backwards=True, return_sequences=True),
        layers.Bidirectional(layers.GRU(3), merge_mode="ave"),
        layers.Dense(2),
    ]), False


def lstm_batch_norm_head():
    """BatchNormalization in the head: after the LSTM, and between a Dense and its Activation."""
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(VOCAB), 4),
        layers.LSTM(5, return_sequences=True),
        layers.BatchNormalization(),
        layers.Dense(6),
        layers.BatchNormalization(epsilon=0.01, center=False),
        layers.Activation("relu"),
        layers.Dense(len(VOCAB), activation="softmax"),
    ]), False


def lstm_max_pool_clf():
    """The Kaggle-style classifier: LSTM over every step, GlobalMaxPooling1D, Dense(relu), Dense(1, sigmoid)."""
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(VOCAB), 4),
        layers.LSTM(5, return_sequences=True),
        layers.GlobalMaxPooling1D(),
        layers.Dropout(0.2),
        layers.Dense(6, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ]), False


def gru_bi_avg_pool():
    """Bidirectional(GRU) under a GRU, GlobalAveragePooling1D(keepdims=True), a softmax head of 3 classes."""
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(VOCAB), 4),
        layers.Bidirectional(layers.GRU(3, return_sequences=True)),
        layers.GRU(4, return_sequences=True),
        layers.GlobalAveragePooling1D(keepdims=True),
        layers.Dense(3, activation="softmax"),
    ]), False


def rnn_avg_pool_frames():
    """On frames: SimpleRNN, GlobalAveragePooling1D, a linear head of 2 (the pool of a model that reads
    forwards: its output for each prefix is y at that step, in ``prefix_y``)."""
    return keras.Sequential([
        keras.Input((None, 3)),
        layers.SimpleRNN(4, return_sequences=True),
        layers.GlobalAveragePooling1D(),
        layers.Dense(2),
    ]), False


def simple_seq():
    """The plainest case: one SimpleRNN on frames."""
    return keras.Sequential([keras.Input((None, 3)), layers.SimpleRNN(4, return_sequences=True)]), True


MODELS = {f.__name__: f for f in (lstm_lm, gru_seq, rnn_backwards, lstm_acts, gru_bidir_lm, gru_classifier, simple_seq,
                                          lstm_nested, gru_nested_seq, lstm_deep_head,
                                          gru_deep_head_lm, lstm_mask_func,
                                          lstm_act_layers, lstm_bi_sum, gru_bi_ave_after_backwards,
                                          lstm_batch_norm_head, lstm_max_pool_clf, gru_bi_avg_pool,
                                          rnn_avg_pool_frames)}
#: Models also saved in the legacy .h5 format.
LEGACY = ("lstm_lm", "gru_seq", "rnn_backwards", "lstm_deep_head", "lstm_max_pool_clf")
POOLS = (layers.GlobalMaxPooling1D, layers.GlobalAveragePooling1D)
RECURRENT = (layers.LSTM, layers.GRU, layers.SimpleRNN, layers.Bidirectional)


def flat(model) -> list:
    """The model's layers, each nested model's in its place."""
    return [x for layer in model.layers for x in (flat(layer) if isinstance(layer, keras.Model) else [layer])]


def randomise(model, rng) -> None:
    """Every weight uniform in [-0.6, 0.6] (embeddings normal), so zero-initialised biases are tested too."""
    for layer in flat(model):
        ws = layer.get_weights()
        if not ws:
            continue
        if isinstance(layer, layers.Embedding):
            layer.set_weights([rng.standard_normal(w.shape).astype("float32") for w in ws])
        elif isinstance(layer, layers.BatchNormalization):  # the last array is a variance: positive
            ws = [rng.uniform(-0.6, 0.6, w.shape) for w in ws[:-1]] + [rng.uniform(0.2, 1.5, ws[-1].shape)]
            layer.set_weights([w.astype("float32") for w in ws])
        else:
            layer.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype("float32") for w in ws])


def main(out: Path, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in names or MODELS:
        make = MODELS[name]
        rng = np.random.default_rng(zlib.crc32(name.encode()))  # each model its own draws
        keras.utils.set_random_seed(0)
        model, weights_only = make()
        randomise(model, rng)
        tokens = any(isinstance(layer, layers.Embedding) for layer in flat(model))
        if tokens:
            masked = any(getattr(layer, "mask_zero", False) for layer in flat(model))
            ids = rng.integers(1 if masked else 0, len(VOCAB), T).astype("int32")  # (id 0 is padding: skipped)
            inp = ids[None]
            arrays = {"ids": ids, "vocab": np.array(VOCAB)}
        else:
            E = model.inputs[0].shape[-1]
            x = rng.standard_normal((T, E)).astype("float32")
            inp = x[None]
            arrays = {"x": x}
        i, x = 0, inp
        for layer in flat(model):  # the layers called in turn: a nested model's own outputs are its layers'
            if isinstance(layer, layers.InputLayer):
                continue
            x = layer(x, training=False)
            if isinstance(layer, RECURRENT):
                arrays[f"out_{i}"] = keras.ops.convert_to_numpy(x)[0]
                if isinstance(layer, layers.Bidirectional) and layer.merge_mode != "concat":
                    arrays[f"merge_{i}"] = np.array(layer.merge_mode)  # the halves as Keras passes them on
                i += 1
        arrays["y"] = keras.ops.convert_to_numpy(model(inp))[0]
        if any(isinstance(layer, POOLS) for layer in flat(model)):  # (V,) (keepdims: (1, V)), and for each prefix
            arrays["y"] = arrays["y"].reshape(-1)
            arrays["prefix_y"] = np.stack([keras.ops.convert_to_numpy(model(inp[:, : t + 1]))[0].reshape(-1)
                                           for t in range(T)])
        model.save(out / f"{name}.keras")
        if weights_only:
            model.save_weights(out / f"{name}.weights.h5")
        if name in LEGACY:
            model.save(out / f"{name}.h5")  # the legacy HDF5 format: model_config + model_weights
        np.savez(out / f"{name}.npz", **arrays)
        sizes = ", ".join(f"{p.name} {p.stat().st_size // 1024} KB" for p in sorted(out.glob(f"{name}.*")))
        print(f"{name}: {sizes}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/keras"), sys.argv[2:])
