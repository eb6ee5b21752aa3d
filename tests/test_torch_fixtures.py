"""Bidirectional and projected PyTorch modules (scripts/make_torch_fixtures.py):
the core's trace and backward pass against PyTorch's outputs and autograd.

The model is built from the state dict by a tiny helper here; the real
loader (``formats``) is tested on the same files in its own tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from lstm_tui.core import Model
from lstm_tui.core.backward import backward
from lstm_tui.core.cells import Bidirectional, Layer

DATA = Path(__file__).parent / "data" / "torch"
NAMES = sorted(json.loads((DATA / "index.json").read_text()))


def load(name: str):
    path = DATA / f"{name}.safetensors"
    tensors = load_file(str(path))
    with safe_open(str(path), "np") as fh:
        meta = fh.metadata()
    return tensors, meta


def model_from_state(tensors: dict, meta: dict) -> Model:
    """Levels from PyTorch's names: weight_ih_l{k}[_reverse], weight_hr_l{k}[_reverse]."""
    levels = []
    for k in range(int(meta["num_layers"])):
        dirs = []
        for sfx in ("", "_reverse") if meta["bidirectional"] == "true" else ("",):
            dirs.append(
                Layer(
                    meta["cell"],
                    tensors[f"weight_ih_l{k}{sfx}"],
                    tensors[f"weight_hh_l{k}{sfx}"],
                    tensors[f"bias_ih_l{k}{sfx}"],
                    tensors[f"bias_hh_l{k}{sfx}"],
                    W_hr=tensors.get(f"weight_hr_l{k}{sfx}"),
                    reverse=bool(sfx),
                )
            )
        levels.append(Bidirectional(*dirs) if len(dirs) == 2 else dirs[0])
    return Model(layers=tuple(levels))


def per_level(rows: np.ndarray, L: int) -> list[np.ndarray]:
    """PyTorch's (L*D, W) initial or final states as one (D*W,) vector per level, forward first."""
    D = rows.shape[0] // L
    return [rows[k * D : (k + 1) * D].reshape(-1) for k in range(L)]


@pytest.fixture(params=NAMES)
def fixture(request):
    return request.param, *load(request.param)


def test_every_level_matches_pytorch(fixture):
    name, tensors, meta = fixture
    model = model_from_state(tensors, meta)
    L = model.num_layers
    lstm = meta["cell"] == "lstm"
    h0 = per_level(tensors["h0"], L)
    c0 = per_level(tensors["c0"], L) if lstm else None
    trace = model.trace(tensors["x"], h0=h0, c0=c0)
    for k in range(L):
        want = tensors[f"expected.h_l{k}"]
        got = trace.states["h"][k]
        assert got.shape == want.shape and got.dtype == np.float32
        err = np.abs(got - want).max()
        assert err <= 1e-5, f"{name} h_l{k}: max error {err:.3g}"
    # the final states: forward at position T-1, backward at position 0
    D = 2 if meta["bidirectional"] == "true" else 1
    for q, key in (("h", "expected.h_n"), ("c", "expected.c_n")):
        if q == "c" and not lstm:
            continue
        final = tensors[key]  # (L*D, W)
        for k in range(L):
            w = final.shape[1]
            v = trace.states[q][k]
            np.testing.assert_allclose(v[-1, :w], final[k * D], atol=1e-5, err_msg=f"{name} {q}_n forward l{k}")
            if D == 2:
                np.testing.assert_allclose(v[0, w:], final[k * D + 1], atol=1e-5, err_msg=f"{name} {q}_n backward l{k}")


def test_gradients_match_pytorch_autograd(fixture):
    name, tensors, meta = fixture
    model = model_from_state(tensors, meta)
    L = model.num_layers
    lstm = meta["cell"] == "lstm"
    h0 = per_level(tensors["h0"], L)
    c0 = per_level(tensors["c0"], L) if lstm else None
    trace = model.trace(tensors["x"], h0=h0, c0=c0)
    grads = backward(model, trace, dh_top=tensors["loss_w"])
    checked = 0
    for key, want in tensors.items():
        if not key.startswith("grad."):
            continue
        what = key[5:]
        if what == "x":
            got = grads.x
        elif what in ("h0", "c0"):
            D = want.shape[0] // L
            got = np.stack([getattr(grads, what)[k].reshape(D, -1) for k in range(L)]).reshape(want.shape)
        else:
            got = grads.params[what]
        assert got.shape == want.shape, key
        err = np.abs(got - want).max()
        assert err <= 1e-4 * max(1.0, np.abs(want).max()), f"{name} {key}: max error {err:.3g}"
        checked += 1
    assert checked == sum(k.startswith("grad.") for k in tensors) >= 6
