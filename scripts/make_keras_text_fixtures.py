"""Keras models that read text through a TextVectorization layer, and TensorFlow's numbers for them, for
tests/formats/test_keras.py (test_matches_keras and the tokenizer tests).

TextVectorization runs only on TensorFlow, so this script (alone among the fixture scripts) needs it::

    KERAS_BACKEND=tensorflow python scripts/make_keras_text_fixtures.py tests/data/keras

It writes, for each model NAME, ``NAME.keras`` and ``NAME.npz``: ``text`` (the text given to the model),
``ids`` (the TextVectorization's ids of it), ``out_0`` (the recurrent layer's output), ``y`` (the model's),
and ``texts`` / ``texts_ids`` / ``texts_len``: more texts, with edge cases of case, punctuation and
whitespace, and their ids (concatenated; ``texts_len`` their counts), as TensorFlow tokenizes them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

CORPUS = ["The cat sat on the mat.", "A dog ate my homework!", "The Cat, the hat -- what's that?",
          "Straße naïve café: ÄÖ", "tabs\tand\nnew lines", "don't stop-me now"]
TEXTS = ["the Cat sat, on my HAT!", "  leading and trailing  ", "A\u00a0dog\u2003ate\x1ccake",
         "WHAT'S THAT?!", "naïve ÄÖ café", "x-y_z/w", "tab\there\x0bvertical", ",.!?", ""]


def tutorial():
    """TensorFlow's "Text classification with an RNN": TextVectorization (adapted, default options), Embedding
    (mask_zero=True), a Bidirectional LSTM with return_sequences=False, Dense(5, relu), Dense(1)."""
    encoder = layers.TextVectorization(max_tokens=40)
    encoder.adapt(CORPUS)
    return keras.Sequential([
        encoder,
        layers.Embedding(input_dim=len(encoder.get_vocabulary()), output_dim=6, mask_zero=True),
        layers.Bidirectional(layers.LSTM(4)),
        layers.Dense(5, activation="relu"),
        layers.Dense(1),
    ]), "the Cat sat, on my HAT!"


def chars_given():
    """A functional character model whose vocabulary is in the config (vocabulary=...), lowercased but not
    stripped, split into characters; its Embedding has more rows than the vocabulary; a GRU and a softmax head."""
    inp = keras.Input(shape=(1,), dtype="string")
    x = layers.TextVectorization(vocabulary=list("abcdefgh .,"), standardize="lower", split="character")(inp)
    x = layers.Embedding(20, 4)(x)
    x = layers.GRU(5, return_sequences=True)(x)
    y = layers.Dense(20, activation="softmax")(x)
    return keras.Model(inp, y), "Bad cafe, HEAD."


MODELS = {"text_tutorial": tutorial, "text_chars_given": chars_given}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, make) in enumerate(MODELS.items()):
        keras.utils.set_random_seed(seed)
        model, text = make()
        rng = np.random.default_rng(seed)
        for layer in model.layers:  # every weight drawn, biases too
            ws = layer.get_weights()
            if ws and not isinstance(layer, layers.TextVectorization):
                layer.set_weights([rng.uniform(-0.8, 0.8, w.shape).astype("float32") for w in ws])
        vectorize = next(la for la in model.layers if isinstance(la, layers.TextVectorization))
        arrays = {"text": np.array(text), "ids": vectorize(tf.constant([text])).numpy()[0]}
        x = tf.constant([text])
        for layer in model.layers:  # each layer in turn: the recurrent one's output
            if isinstance(layer, layers.InputLayer):
                continue
            x = layer(x, training=False)
            if isinstance(layer, (layers.LSTM, layers.GRU, layers.SimpleRNN, layers.Bidirectional)):
                arrays["out_0"] = keras.ops.convert_to_numpy(x)[0]
        arrays["y"] = keras.ops.convert_to_numpy(model(tf.constant([text])))[0]
        ids = [vectorize(tf.constant([t])).numpy()[0] for t in TEXTS]
        arrays.update(texts=np.array(TEXTS), texts_ids=np.concatenate(ids), texts_len=np.array([len(i) for i in ids]))
        model.save(out / f"{name}.keras")
        np.savez(out / f"{name}.npz", **arrays)
        print(f"{name}: {text!r} -> {arrays['ids'].tolist()}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/keras"))
