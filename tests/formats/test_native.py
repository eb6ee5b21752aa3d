"""lstm-tui's own files: save_model and reading them back, with every Layer field kept."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file as load_arrays
from safetensors.numpy import save_file

from lstm_tui import load_model
from lstm_tui.core import Model, ModelFileError, random_model
from lstm_tui.core.cells import Bidirectional
from lstm_tui.core.model import directions
from lstm_tui.formats import load_file, model_metadata, model_tensors, save_model

from model_zoo import bidi, make_layer
from .util import assert_same_layers


def test_save_model_round_trip(tmp_path):
    model = random_model(hidden=5, layers=2, cell="gru", tokenizer="word", seed=4)
    save_model(model, tmp_path / "m.safetensors")
    back = load_file(tmp_path / "m.safetensors")
    assert back.name == model.name and back.description == model.description
    assert back.vocab == model.vocab and back.tokenizer == "word"
    assert_same_layers(back, list(model.layers))
    a, b = model.trace("the cat sat"), back.trace("the cat sat")
    np.testing.assert_array_equal(a.y, b.y)
    assert load_model(str(tmp_path / "m.safetensors")).tokenizer == "word"


def _levels_equal(a, b):
    assert len(a) == len(b)
    for la, lb in zip(a, b):
        assert type(la) is type(lb)
        for da, db in zip(directions(la), directions(lb)):
            for f in ("cell", "activations", "clip", "linear_before_reset", "reverse"):
                assert getattr(da, f) == getattr(db, f), f
            for f in ("W_ih", "W_hh", "b_ih", "b_hh", "W_hr"):
                x, y = getattr(da, f), getattr(db, f)
                assert (x is None) == (y is None), f
                if x is not None:
                    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("case", ["projected_bidirectional_lstm", "gru_options", "rnn_mixed"])
def test_every_layer_field_survives_a_save(tmp_path, case):
    rng = np.random.default_rng(3)
    if case == "projected_bidirectional_lstm":
        levels = (bidi(rng, "lstm", 4, 5, P=3, activations=(("HardSigmoid", 0.2, 0.5), ("Tanh", 0, 0), ("Softsign", 0, 0))),
                  make_layer(rng, "lstm", 6, 4, clip=2.5, reverse=True))
    elif case == "gru_options":
        levels = (make_layer(rng, "gru", 4, 6, lbr=False), bidi(rng, "gru", 6, 3, lbr=False),
                  make_layer(rng, "gru", 6, 2, activations=(("Sigmoid", 0, 0), ("LeakyRelu", 0.1, 0))))
    else:
        levels = (make_layer(rng, "rnn_relu", 4, 5, reverse=True), make_layer(rng, "rnn_tanh", 5, 3))
    W = levels[-1].output_size
    vocab = tuple("abcdefg")
    model = Model(layers=levels, embedding=rng.standard_normal((7, 4)), head_W=rng.standard_normal((7, W)),
                  head_b=rng.standard_normal(7), vocab=vocab, name="zoo", description="every field")
    save_model(model, tmp_path / "m.safetensors")
    back = load_file(tmp_path / "m.safetensors")
    assert back.meta["format"] == "lstm-tui" and back.vocab == vocab and back.name == "zoo"
    _levels_equal(model.layers, back.layers)
    a, b = model.trace("abcgfedcab"), back.trace("abcgfedcab")
    np.testing.assert_array_equal(a.y, b.y)
    for k in range(len(levels)):
        np.testing.assert_array_equal(np.asarray(a.states["h"][k]), np.asarray(b.states["h"][k]))


def test_model_tensors_use_pytorch_names(tmp_path):
    rng = np.random.default_rng(0)
    model = Model(layers=(bidi(rng, "lstm", 3, 4, P=2),))
    keys = set(model_tensors(model))
    assert {"rnn.weight_ih_l0", "rnn.weight_hr_l0", "rnn.weight_ih_l0_reverse", "rnn.weight_hr_l0_reverse"} <= keys
    # without the metadata's layers, the same arrays are an ordinary PyTorch state dict
    save_file(model_tensors(model), str(tmp_path / "plain.safetensors"))
    plain = load_file(tmp_path / "plain.safetensors")
    assert plain.meta["format"] == "pytorch" and isinstance(plain.layers[0], Bidirectional)
    _levels_equal(model.layers, plain.layers)


@pytest.mark.parametrize(
    "layers, match",
    [
        ("not json", "metadata 'layers' is not JSON"),
        ("[]", "is not a list of levels"),
        ('[[{"cell": "lstm"}], [{"cell": "lstm"}]]', r"describes 2 level\(s\) but the file holds 1"),
        ('[[{"cell": "lstm"}]]', r"gives level 0 1 direction\(s\) but the file holds 2"),
        ('[[{"cell": "gru"}, {"cell": "gru"}]]', r"rnn.weight_hh_l0 has shape \[16, 4\], expected \[12, 4\] for cell gru"),
        ('[[{"cell": "lstm", "activations": [["Gelu", 0, 0]]}, {"cell": "lstm"}]]', "activations is not 3"),
        ('[[{"cell": "lstm", "clip": -1}, {"cell": "lstm"}]]', "clip is not a positive number"),
        ('[[{"cell": "lstm", "reverse": "yes"}, {"cell": "lstm"}]]', "reverse are not true or false"),
        ('[[{"cell": "transformer"}, {"cell": "lstm"}]]', "cell is not one of lstm"),
    ],
)
def test_bad_layer_metadata(tmp_path, layers, match):
    rng = np.random.default_rng(1)
    model = Model(layers=(bidi(rng, "lstm", 3, 4),))
    meta = model_metadata(model)
    meta["layers"] = layers
    save_file(model_tensors(model), str(tmp_path / "m.safetensors"), metadata=meta)
    with pytest.raises(ModelFileError, match=match) as exc:
        load_file(tmp_path / "m.safetensors")
    assert str(exc.value).startswith(str(tmp_path / "m.safetensors")) and "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("layers", '[[{"cell": "lstm", "clip": %s}, {"cell": "lstm"}]]', "level 0 direction 0: clip is not a positive"),
        ("layers", '[[{"cell": "lstm", "activations": [["HardSigmoid", %s, 0.5], ["Tanh", 0, 0], ["Tanh", 0, 0]]}, '
                   '{"cell": "lstm"}]]', "level 0 direction 0: activations is not 3 [name, alpha, beta]"),
        ("head_hidden", '[["Relu", %s, 0]]', "metadata 'head_hidden' is not a list of [name, alpha, beta]"),
    ],
    ids=["clip", "activation alpha", "head_hidden"],
)
def test_a_whole_number_past_floats_range_is_refused_as_not_finite(tmp_path, key, value, match):
    """1 followed by 400 zeros is a JSON integer that int() reads but float() cannot: math.isfinite raised
    OverflowError (an internal error); it is refused as NaN and inf are."""
    rng = np.random.default_rng(1)
    model = Model(layers=(bidi(rng, "lstm", 3, 4),))
    meta = model_metadata(model)
    meta[key] = value % ("1" + "0" * 400)
    save_file(model_tensors(model), str(tmp_path / "m.safetensors"), metadata=meta)
    with pytest.raises(ModelFileError) as exc:
        load_file(tmp_path / "m.safetensors")
    assert match in str(exc.value) and "\n" not in str(exc.value)


def test_saved_metadata_is_json(tmp_path):
    model = random_model(hidden=3)
    save_model(model, tmp_path / "m.safetensors")
    assert len(load_arrays(str(tmp_path / "m.safetensors"))) == 7  # 4 recurrent arrays, embedding, head weight and bias
    assert json.loads(model_metadata(model)["layers"])[0][0]["cell"] == "lstm"


def test_a_head_with_hidden_layers_survives_a_save(tmp_path):
    """Keras's Dense(6, "relu"), Dropout, Dense(3, "tanh"), Dense(1) head (fixture lstm_deep_head): saved and read
    back, the same hidden layers and the same logits; a damaged head_hidden or a missing array is one line."""
    from pathlib import Path

    model = load_file(Path(__file__).parent.parent / "data" / "keras" / "lstm_deep_head.keras")
    assert [d.activation[0] for d in model.head_hidden] == ["Relu", "Tanh"]
    save_model(model, tmp_path / "m.safetensors")
    back = load_file(tmp_path / "m.safetensors")
    assert [(d.W.shape, d.activation) for d in back.head_hidden] == [(d.W.shape, d.activation) for d in model.head_hidden]
    text = list(model.vocab[:5])
    np.testing.assert_array_equal(back.trace(text).logits, model.trace(text).logits)
    for bad, match in (("[[\"Gelu\", 0, 0], [\"Tanh\", 0, 0]]", "'head_hidden' is not a list"),
                       ("[[\"Relu\", 0, 0], [\"Tanh\", 0, 0], [\"Tanh\", 0, 0]]", "head.2.weight")):
        meta = model_metadata(model)
        meta["head_hidden"] = bad
        save_file(model_tensors(model), str(tmp_path / "bad.safetensors"), metadata=meta)
        with pytest.raises(ModelFileError, match=match) as exc:
            load_file(tmp_path / "bad.safetensors")
        assert "\n" not in str(exc.value)
