"""Native Keras 3 files (.keras, .weights.h5) against Keras's own outputs (tests/data/keras, made by
scripts/make_keras_fixtures.py), and every refusal as one line naming the file, the layer and the option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lstm_tui.core.cells import Bidirectional, Layer
from lstm_tui.core.model import directions
from lstm_tui.formats import load_file

DATA = Path(__file__).parent.parent / "data" / "keras"
NAMES = sorted(p.stem for p in DATA.glob("*.npz"))
TOL = 1e-5


def _vocab_file(tmp_path: Path, ref) -> Path | None:
    if "vocab" not in ref:
        return None
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(ref["vocab"].tolist()))
    return path


def _trace(model, ref):
    if "ids" in ref:
        return model.trace([model.vocab[i] for i in ref["ids"]])
    return model.trace(ref["x"])


def _position(model, k: int, T: int) -> int:
    """lstm-tui's position of Keras's sequence index k (Keras passes a go_backwards layer's outputs on reversed)."""
    return T - 1 - k if model.meta.get("keras_order") == "reversed" else k


def _last(level, h: np.ndarray) -> np.ndarray:
    """Keras's return_sequences=False output: the last step each direction computed."""
    parts, start = [], 0
    for d in directions(level):
        w = d.output_size
        parts.append(h[0 if d.reverse else -1, start : start + w])
        start += w
    return np.concatenate(parts)


def _keras_positions(model, T: int) -> list[list[int]]:
    """For each level, the position of Keras's sequence index k = 0..T-1: reversed after an odd number of
    go_backwards layers (a lone reverse Layer sets the parity; a Bidirectional level keeps it)."""
    out, parity = [], False
    for level in model.layers:
        if isinstance(level, Layer):
            parity = level.reverse
        out.append(list(range(T - 1, -1, -1)) if parity else list(range(T)))
    return out


def _swapped(model, i: int) -> bool:
    """A Bidirectional level read while the sequence is reversed: its units are [Keras backward, Keras forward]."""
    before = [level for level in model.layers[:i] if isinstance(level, Layer)]
    return isinstance(model.layers[i], Bidirectional) and bool(before) and before[-1].reverse


def _keras_positions(model, T: int) -> list[list[int]]:
    """For each level, the position of Keras's sequence index k = 0..T-1: reversed after an odd number of
    go_backwards layers (a lone reverse Layer sets the parity; a Bidirectional level keeps it)."""
    out, parity = [], False
    for level in model.layers:
        if isinstance(level, Layer):
            parity = level.reverse
        out.append(list(range(T - 1, -1, -1)) if parity else list(range(T)))
    return out


def _swapped(model, i: int) -> bool:
    """A Bidirectional level read while the sequence is reversed: its units are [Keras backward, Keras forward]."""
    before = [level for level in model.layers[:i] if isinstance(level, Layer)]
    return isinstance(model.layers[i], Bidirectional) and bool(before) and before[-1].reverse


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", [".keras", ".weights.h5"])
def test_matches_keras(tmp_path, name, kind):
    path = DATA / f"{name}{kind}"
    if not path.exists():
        pytest.skip(f"{name} has no {kind} fixture")
    ref = np.load(DATA / f"{name}.npz")
    model = load_file(path, vocab_path=_vocab_file(tmp_path, ref))
    trace = _trace(model, ref)
    T = len(trace.tokens)
    positions = _keras_positions(model, T)
    assert sum(1 for key in ref.files if key.startswith("out_")) == len(model.layers)
    for i, level in enumerate(model.layers):
        h = np.asarray(trace.states["h"][i])  # (T, W) by position
        want = ref[f"out_{i}"]
        if _swapped(model, i):
            half = want.shape[-1] // 2
            want = np.concatenate([want[..., half:], want[..., :half]], axis=-1)
        if want.ndim == 1:  # return_sequences=False
            np.testing.assert_allclose(_last(level, h), want, atol=TOL, err_msg=f"{name} layer {i} (last step)")
        else:
            np.testing.assert_allclose(h[positions[i]], want, atol=TOL, err_msg=f"{name} layer {i}")
    if model.head_W is None:
        assert "y" not in ref or np.allclose(ref["y"], ref[f"out_{len(model.layers) - 1}"])
        return
    act = model.meta["head_activation"] if kind == ".keras" else "softmax"
    h = np.asarray(trace.states["h"][-1])
    logits = _last(model.layers[-1], h) @ model.head_W.T + model.head_b if ref["y"].ndim == 1 else \
        trace.logits[positions[-1]]
    keras_y = {"softmax": lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True), "linear": lambda a: a,
               "sigmoid": lambda a: 1 / (1 + np.exp(-a))}[act](logits.astype(np.float64))
    np.testing.assert_allclose(keras_y, ref["y"], atol=TOL, err_msg=f"{name} y")
    if act == "softmax" and ref["y"].ndim == 2:
        np.testing.assert_allclose(trace.y[positions[-1]], ref["y"], atol=TOL)
