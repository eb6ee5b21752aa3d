"""Arrays and files the format tests build: PyTorch state dicts, Keras weights and their equations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from lstm_tui.core import GATES, Layer, Model

VOCAB = ["a", "b", "c", " ", ".", "<unk>", "é"]

def torch_rnn(rng, cell="lstm", E=5, H=6, L=1, prefix="", bias=True, dtype=np.float32) -> dict:
    """Arrays of an nn.LSTM/GRU/RNN state dict under ``prefix``."""
    G = GATES[cell]
    out = {}
    for k in range(L):
        out[f"{prefix}weight_ih_l{k}"] = rng.uniform(-0.5, 0.5, (G * H, E if k == 0 else H)).astype(dtype)
        out[f"{prefix}weight_hh_l{k}"] = rng.uniform(-0.5, 0.5, (G * H, H)).astype(dtype)
        if bias:
            out[f"{prefix}bias_ih_l{k}"] = rng.uniform(-0.5, 0.5, G * H).astype(dtype)
            out[f"{prefix}bias_hh_l{k}"] = rng.uniform(-0.5, 0.5, G * H).astype(dtype)
    return out


def torch_lm(rng, cell="lstm", names=("encoder", "rnn", "decoder"), E=5, H=6, L=1, V=len(VOCAB), head_bias=True):
    """A whole language model's state dict: embedding, recurrent module and head."""
    emb, rnn, head = names
    out = torch_rnn(rng, cell, E, H, L, prefix=f"{rnn}.")
    out[f"{emb}.weight"] = rng.standard_normal((V, E)).astype(np.float32)
    out[f"{head}.weight"] = rng.uniform(-0.5, 0.5, (V, H)).astype(np.float32)
    if head_bias:
        out[f"{head}.bias"] = rng.uniform(-0.5, 0.5, V).astype(np.float32)
    return out


def expected_layers(arrays: dict, cell: str, prefix: str = "") -> list[Layer]:
    """The layers the arrays describe, built by hand."""
    L = sum(1 for k in arrays if k.startswith(prefix + "weight_ih_l"))
    layers = []
    for k in range(L):
        W_hh = arrays[f"{prefix}weight_hh_l{k}"]
        zeros = np.zeros(W_hh.shape[0], W_hh.dtype)
        b_ih = arrays.get(f"{prefix}bias_ih_l{k}", zeros)
        b_hh = arrays.get(f"{prefix}bias_hh_l{k}", zeros)
        layers.append(Layer(cell, arrays[f"{prefix}weight_ih_l{k}"], W_hh, b_ih, b_hh))
    return layers


def write_st(path: Path, arrays: dict, **meta) -> Path:
    save_file(arrays, str(path), metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    return path


def write_npz(path: Path, arrays: dict, **meta) -> Path:
    np.savez(path, **arrays, **{k: np.array(v) for k, v in meta.items()})
    return path


WRITERS = {"safetensors": write_st, "npz": write_npz}


def assert_same_layers(model: Model, layers: list[Layer]):
    assert model.num_layers == len(layers)
    for got, want in zip(model.layers, layers):
        assert got.cell == want.cell
        for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def keras_lstm(x, kernel, recurrent_kernel, bias):
    """Keras's LSTMCell: z = x K + h R + b, blocks i, f, c, o."""
    H = recurrent_kernel.shape[0]
    h, c, out = np.zeros(H), np.zeros(H), []
    for xt in x:
        z = xt @ kernel + h @ recurrent_kernel + bias
        i, f = _sigmoid(z[:H]), _sigmoid(z[H : 2 * H])
        c = f * c + i * np.tanh(z[2 * H : 3 * H])
        o = _sigmoid(z[3 * H :])
        h = o * np.tanh(c)
        out.append(h)
    return np.array(out)


def keras_gru(x, kernel, recurrent_kernel, bias):
    """Keras's GRUCell with reset_after=True: blocks z, r, h; bias rows input, recurrent."""
    H = recurrent_kernel.shape[0]
    h, out = np.zeros(H), []
    for xt in x:
        mx = xt @ kernel + bias[0]
        mh = h @ recurrent_kernel + bias[1]
        z = _sigmoid(mx[:H] + mh[:H])
        r = _sigmoid(mx[H : 2 * H] + mh[H : 2 * H])
        hh = np.tanh(mx[2 * H :] + r * mh[2 * H :])
        h = z * h + (1 - z) * hh
        out.append(h)
    return np.array(out)


def keras_simple_rnn(x, kernel, recurrent_kernel, bias):
    h, out = np.zeros(recurrent_kernel.shape[0]), []
    for xt in x:
        h = np.tanh(xt @ kernel + bias + h @ recurrent_kernel)
        out.append(h)
    return np.array(out)


KERAS = {"lstm": (4, keras_lstm), "gru": (3, keras_gru), "rnn_tanh": (1, keras_simple_rnn)}


def keras_weights(rng, cell, E, H):
    G, _ = KERAS[cell]
    bias = rng.uniform(-0.5, 0.5, (2, 3 * H) if cell == "gru" else G * H)
    return rng.uniform(-0.5, 0.5, (E, G * H)), rng.uniform(-0.5, 0.5, (H, G * H)), bias
