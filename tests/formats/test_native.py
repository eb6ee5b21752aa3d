"""lstm-tui's own files: save_model and reading them back."""

from __future__ import annotations

import numpy as np

from lstm_tui import load_model
from lstm_tui.core import random_model
from lstm_tui.formats import load_file, save_model

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
