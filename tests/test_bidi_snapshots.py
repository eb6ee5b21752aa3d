"""Screens of a bidirectional model as SVG snapshots: the steps view with each direction
labelled, the stage view of a backward unit, the gradient view and a projected layer.
Update with --snapshot-update, then look at them (rsvg-convert)."""

from __future__ import annotations

import numpy as np

from lstm_tui.app import LstmApp
from lstm_tui.core import Model
from model_zoo import bidi, make_layer

VOCAB = tuple("abcdefgh") + ("<unk>",)
TEXT = "abcdefghabcdef"


def bidi_lstm() -> LstmApp:
    """Two levels: a bidirectional LSTM of H 6 (12 wide), then an LSTM of H 5, with a head; fixed seed."""
    rng = np.random.default_rng(7)
    model = Model(
        layers=(bidi(rng, "lstm", 6, 6), make_layer(rng, "lstm", 12, 5)), embedding=rng.standard_normal((9, 6)),
        head_W=rng.standard_normal((9, 5)), head_b=rng.standard_normal(9), vocab=VOCAB, name="bidi-lstm",
    ).astype("float32")
    return LstmApp(model, text=TEXT)


def bidi_projected() -> LstmApp:
    """A bidirectional projected LSTM (H 6, P 3) with HardSigmoid gates; fixed seed."""
    rng = np.random.default_rng(8)
    acts = (("HardSigmoid", 0.2, 0.5), ("Tanh", 0.0, 0.0), ("Tanh", 0.0, 0.0))
    model = Model(
        layers=(bidi(rng, "lstm", 6, 6, P=3, activations=acts),), embedding=rng.standard_normal((9, 6)),
        vocab=VOCAB, name="bidi-projected",
    ).astype("float32")
    return LstmApp(model, text=TEXT)


def test_bidirectional_steps_view(snap_compare):
    assert snap_compare(bidi_lstm(), press=["n", "n", "n", *["j"] * 8], terminal_size=(120, 40))


def test_bidirectional_steps_view_small(snap_compare):
    assert snap_compare(bidi_lstm(), press=["n", "n", *["j"] * 7], terminal_size=(80, 24))


def test_bidirectional_stage_view_of_a_backward_unit(snap_compare):
    assert snap_compare(bidi_lstm(), press=["n", "n", "n", *["j"] * 8, "2"], terminal_size=(120, 36))


def test_bidirectional_gradient_view(snap_compare):
    assert snap_compare(bidi_lstm(), press=["n", "n", "n", "n", "5"], terminal_size=(120, 36))


def test_projected_stage_view(snap_compare):
    assert snap_compare(bidi_projected(), press=["n", "n", *["j"] * 7, "2"], terminal_size=(120, 36))
