"""Backpropagation through time for every cell, from a :class:`Trace`.

The trace already holds everything the backward pass needs: each step's gates
and states, the bias-free products ``xW = W_ih x`` and ``hW = W_hh h`` and the
initial state. Nothing is recomputed forward.

Notation: ``dq`` is dL/dq. A loss reaches the network in two ways, both
optional: ``dh_top`` (T, H), dL/dhᵗ of the last layer from outside (for
example L = sum(h_T), see :func:`sum_last_h`), and ``dlogits`` (T, V), dL/d
of the head's logits (see :func:`cross_entropy`), which flows through the
head ``W_y hᵗ + b_y`` into the last layer's h.

For each layer, from the top down, with ``dh_in`` (T, H) the gradient that
reaches hᵗ directly (from the loss, or from the layer above through its
input weights) and ``a`` the pre-activations (G*H,) split as in ``cells``:

LSTM, from t = T-1 down to 0 (dhᵀ⁺¹-terms are zero)::

    dh  = dh_in + W_hhᵀ daᵗ⁺¹                   total dL/dhᵗ
    dc  = dh ⊙ o ⊙ (1 - tanh²c) + dcᵗ⁺¹ ⊙ fᵗ⁺¹   total dL/dcᵗ
    da_i = dc ⊙ g ⊙ i(1-i)       da_f = dc ⊙ cᵗ⁻¹ ⊙ f(1-f)
    da_g = dc ⊙ i ⊙ (1-g²)       da_o = dh ⊙ tanh c ⊙ o(1-o)

GRU (ax = W_ih x + b_ih, ah = W_hh h + b_hh)::

    dh   = dh_in + W_hhᵀ dahᵗ⁺¹ + dhᵗ⁺¹ ⊙ zᵗ⁺¹
    dax_n = dh ⊙ (1-z) ⊙ (1-n²)  dah_n = dax_n ⊙ r
    da_z = dh ⊙ (hᵗ⁻¹ - n) ⊙ z(1-z)
    da_r = dax_n ⊙ ah_n ⊙ r(1-r)  (the same in ax and ah)

RNN::

    dh = dh_in + W_hhᵀ daᵗ⁺¹,  da = dh ⊙ (1-h²)  (tanh)  or  dh ⊙ [h > 0]  (relu)

and then, for every cell, ``dW_ih = Σ_t daxᵗ xᵗᵀ``, ``dW_hh = Σ_t dahᵗ hᵗ⁻¹ᵀ``,
``db_ih = Σ_t daxᵗ``, ``db_hh = Σ_t dahᵗ`` and ``dx = dax W_ih`` (ax and ah
are the same a except in the GRU's n block). Everything not inside the
recurrence (the gate derivatives, the weight sums) is one array operation
over all steps; the loop over time only carries dh (and dc).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cells import GATES, Layer
from .model import Model, softmax
from .trace import Trace


@dataclass(frozen=True)
class Grads:
    """Gradients of one scalar loss for one traced run.

    ``params`` holds dL/d of every parameter the loss reached, under the key
    names of ``formats.model_tensors(model, prefix="")``: ``weight_ih_l{k}``,
    ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` for layer k, and
    ``encoder.weight`` (V, E) (token input only), ``decoder.weight`` (V, H)
    and ``decoder.bias`` (V,) (only when the loss went through the head).
    """

    x: np.ndarray  # (T, E) dL/dxᵗ, the first layer's inputs
    h: np.ndarray  # (L, T, H) total dL/dhᵗ of each layer, through every later step and layer
    c: np.ndarray | None  # (L, T, H) total dL/dcᵗ (LSTM only)
    h0: np.ndarray  # (L, H) dL/dh⁰, the initial hidden state
    c0: np.ndarray | None  # (L, H) dL/dc⁰ (LSTM only)
    params: dict = field(default_factory=dict)  # name -> array of the parameter's shape


def parameters(model: Model) -> dict[str, np.ndarray]:
    """The model's own parameter arrays, named like :class:`Grads`.params (PyTorch's names, no prefix)."""
    from ..formats.native import model_tensors

    return model_tensors(model, prefix="")


def sum_last_h(trace: Trace) -> tuple[float, np.ndarray]:
    """The reference files' loss L = Σ h_T of the last layer, and dL/dh_top (T, H)."""
    h = trace.states["h"][-1]  # (T, H)
    dh_top = np.zeros_like(h)
    if trace.steps:
        dh_top[-1] = 1
    return float(h[-1].sum()) if trace.steps else 0.0, dh_top


def cross_entropy(
    logits: np.ndarray,  # (T, V) the head's outputs
    targets: np.ndarray,  # (T,) the id each step should predict
    weights: np.ndarray | None = None,  # (T,) weight w of each step's term, 1 if None
) -> tuple[float, np.ndarray]:
    """Mean next-token cross-entropy and its gradient dL/dlogits (T, V).

    L = -(1/T) Σ_t wᵗ log softmax(logitsᵗ)[targetᵗ], whose gradient is
    wᵗ (softmax(logitsᵗ) - onehot(targetᵗ)) / T.
    """
    T = logits.shape[0]
    if T == 0:
        return 0.0, np.zeros_like(logits)
    rows = np.arange(T)
    shifted = logits - logits.max(axis=1, keepdims=True)  # (T, V)
    log_z = np.log(np.exp(shifted).sum(axis=1))  # (T,)
    nll = log_z - shifted[rows, targets]  # (T,)
    dlogits = softmax(logits)  # (T, V)
    dlogits[rows, targets] -= 1
    if weights is None:
        dlogits /= T
        return float(nll.mean()), dlogits
    w = np.asarray(weights, dtype=logits.dtype)  # (T,)
    dlogits *= (w / T)[:, None]
    return float((w * nll).mean()), dlogits


def backward(
    model: Model,
    trace: Trace,
    dh_top: np.ndarray | None = None,  # (T, H) dL/dhᵗ of the last layer from outside
    dlogits: np.ndarray | None = None,  # (T, V) dL/dlogits, through the output head
) -> Grads:
    """Backpropagate through every step and layer of ``trace`` (made by ``model``).

    Returns the :class:`Grads` of the loss whose gradients ``dh_top`` and/or
    ``dlogits`` are given (missing ones count as zero). The embedding's
    gradient is included when the trace was run on tokens.
    """
    L, T, H = trace.num_layers, trace.steps, trace.hidden_size
    dt = model.dtype
    h_top = trace.states["h"][L - 1]  # (T, H)
    dh_in = np.zeros((T, H), dtype=dt) if dh_top is None else np.array(dh_top, dtype=dt)  # (T, H)
    params: dict[str, np.ndarray] = {}
    if dlogits is not None:
        if model.head_W is None:
            raise ValueError(f"model {model.name!r} has no output head to take dlogits")
        dlogits = np.asarray(dlogits, dtype=dt)  # (T, V)
        params["decoder.weight"] = dlogits.T @ h_top  # (V, H)
        params["decoder.bias"] = dlogits.sum(axis=0)  # (V,)
        dh_in += dlogits @ model.head_W
    dh_all = np.empty((L, T, H), dtype=dt)
    dc_all = np.empty((L, T, H), dtype=dt) if trace.cell == "lstm" else None
    dh0 = np.empty((L, H), dtype=dt)
    dc0 = np.empty((L, H), dtype=dt) if trace.cell == "lstm" else None
    for k in range(L - 1, -1, -1):
        layer = model.layers[k]
        x = trace.layer_input(k)  # (T, E)
        h_prev = np.concatenate([trace.h0[k][None], trace.states["h"][k, :-1]])[:T]  # (T, H) hᵗ⁻¹
        dc_k = None if dc_all is None else dc_all[k]
        dc0_k = None if dc0 is None else dc0[k]
        dax, dah = _layer_backward(layer, trace, k, h_prev, dh_in, dh_all[k], dh0[k], dc_k, dc0_k)
        params[f"weight_ih_l{k}"] = dax.T @ x  # (G*H, E)
        params[f"weight_hh_l{k}"] = dah.T @ h_prev  # (G*H, H)
        params[f"bias_ih_l{k}"] = dax.sum(axis=0)  # (G*H,)
        params[f"bias_hh_l{k}"] = dah.sum(axis=0)  # (G*H,)
        dh_in = dax @ layer.W_ih  # (T, E): dL/d of this layer's input, reaching the layer below
    if trace.ids is not None and model.embedding is not None:
        demb = np.zeros_like(model.embedding)  # (V, E)
        np.add.at(demb, trace.ids, dh_in)
        params["encoder.weight"] = demb
    return Grads(x=dh_in, h=dh_all, c=dc_all, h0=dh0, c0=dc0, params=params)


def _layer_backward(
    layer: Layer,
    trace: Trace,
    k: int,
    h_prev: np.ndarray,  # (T, H) hᵗ⁻¹
    dh_in: np.ndarray,  # (T, H) gradient reaching hᵗ from outside the recurrence
    dh_out: np.ndarray,  # (T, H) written: total dL/dhᵗ
    dh0_out: np.ndarray,  # (H,) written: dL/dh⁰
    dc_out: np.ndarray | None,  # (T, H) written: total dL/dcᵗ (LSTM)
    dc0_out: np.ndarray | None,  # (H,) written: dL/dc⁰ (LSTM)
) -> tuple[np.ndarray, np.ndarray]:
    """One layer's backward pass; returns dL/d of its pre-activations (dax, dah), (T, G*H) each."""
    T, H = dh_in.shape
    G = GATES[layer.cell]
    dt = dh_in.dtype
    s = trace.states
    W_hh = layer.W_hh  # (G*H, H): daᵗ @ W_hh is W_hhᵀ daᵗ as a row
    da = np.empty((T, G * H), dtype=dt)  # dL/d pre-activations, every entry written
    da3 = da.reshape(T, G, H)
    rec = np.zeros(H, dtype=dt)  # W_hhᵀ daᵗ⁺¹, the recurrent part of dhᵗ
    if layer.cell == "lstm":
        i, f, g, o, c = s["i"][k], s["f"][k], s["g"][k], s["o"][k], s["c"][k]  # (T, H) each
        c_prev = np.concatenate([trace.c0[k][None], c[:-1]])[:T]  # (T, H) cᵗ⁻¹
        tc = np.tanh(c)  # (T, H)
        k_hc = o * (1 - tc * tc)  # (T, H) dcᵗ/dhᵗ along h = o tanh c
        coef = np.empty((T, 3, H), dtype=dt)  # da_{i,f,g} = dc ⊙ coef
        coef[:, 0] = g * i * (1 - i)
        coef[:, 1] = c_prev * f * (1 - f)
        coef[:, 2] = i * (1 - g * g)
        coef_o = tc * o * (1 - o)  # (T, H) da_o = dh ⊙ coef_o
        f_next = np.zeros((T, H), dtype=dt)  # fᵗ⁺¹, zero past the end
        f_next[:-1] = f[1:]
        dc = np.zeros(H, dtype=dt)
        tmp = np.empty(H, dtype=dt)
        for t in range(T - 1, -1, -1):
            dh = dh_out[t]
            np.add(dh_in[t], rec, out=dh)
            dc *= f_next[t]
            np.multiply(dh, k_hc[t], out=tmp)
            dc += tmp
            dc_out[t] = dc
            np.multiply(coef[t], dc, out=da3[t, :3])
            np.multiply(coef_o[t], dh, out=da3[t, 3])
            np.dot(da[t], W_hh, out=rec)
        dh0_out[:] = rec
        dc0_out[:] = (dc * f[0]) if T else 0
        return da, da
    if layer.cell == "gru":
        r, z, n = s["r"][k], s["z"][k], s["n"][k]  # (T, H) each
        ah_n = trace.hW[k][:, 2 * H :] + layer.b_hh[2 * H :]  # (T, H) W_hn h + b_hn
        dn_dh = (1 - z) * (1 - n * n)  # (T, H) dax_n = dh ⊙ dn_dh
        coef = np.empty((T, 3, H), dtype=dt)  # dah = dh ⊙ coef
        coef[:, 0] = dn_dh * ah_n * r * (1 - r)
        coef[:, 1] = (h_prev - n) * z * (1 - z)
        coef[:, 2] = dn_dh * r
        z_next = np.zeros((T, H), dtype=dt)  # zᵗ⁺¹, zero past the end
        z_next[:-1] = z[1:]
        tmp = np.empty(H, dtype=dt)
        for t in range(T - 1, -1, -1):
            dh = dh_out[t]
            np.add(dh_in[t], rec, out=dh)
            if t + 1 < T:
                np.multiply(dh_out[t + 1], z_next[t], out=tmp)
                dh += tmp
            np.multiply(coef[t], dh, out=da3[t])
            np.dot(da[t], W_hh, out=rec)
        dh0_out[:] = rec + (dh_out[0] * z[0] if T else 0)
        dax = da.copy()
        dax[:, 2 * H :] = dh_out * dn_dh
        return dax, da
    h = s["h"][k]  # (T, H)
    dact = (1 - h * h) if layer.cell == "rnn_tanh" else (h > 0).astype(dt)  # (T, H) dh/da
    for t in range(T - 1, -1, -1):
        dh = dh_out[t]
        np.add(dh_in[t], rec, out=dh)
        np.multiply(dh, dact[t], out=da[t])
        np.dot(da[t], W_hh, out=rec)
    dh0_out[:] = rec
    return da, da
