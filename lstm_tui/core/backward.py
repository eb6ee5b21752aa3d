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

Layers beyond PyTorch's defaults (see ``cells.is_plain``) take a plainer loop
over the same equations with each activation's own derivative f'(a) at its
pre-activation a, zero where a clip cut a; a projection h = W_hr m adds
dm = W_hrᵀ dh and dW_hr = Σ_t dhᵗ mᵗᵀ; a GRU with ``linear_before_reset=False``
has dW_hn = Σ_t da_nᵗ (r ⊙ hᵗ⁻¹)ᵀ and sends W_hnᵀ da_n ⊙ r back to hᵗ⁻¹ and
W_hnᵀ da_n ⊙ hᵗ⁻¹ to r. A direction that reads backwards is the same pass on
the time-reversed records; a bidirectional level sums its two directions'
contributions to the level below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cells import ACTIVATIONS, GATES, Bidirectional, Layer, activations_of, is_plain
from .model import Model, directions, softmax
from .pooling import Pool
from .trace import Trace


@dataclass(frozen=True)
class Grads:
    """Gradients of one scalar loss for one traced run.

    ``params`` holds dL/d of every parameter the loss reached, under
    PyTorch's names (see :func:`parameters`): ``weight_ih_l{k}``,
    ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and
    ``weight_hr_l{k}`` for a projection) for level k, with ``_reverse`` for
    the backward direction of a bidirectional level, and ``encoder.weight``
    (V, E) (token input only), ``decoder.weight`` (V, W) and ``decoder.bias``
    (V,) (only when the loss went through the head).

    ``h``, ``c``, ``h0`` and ``c0`` are per layer like the trace's states: one
    (L, T, W) / (L, W) array when every layer has the same width, else a list.
    """

    x: np.ndarray  # (T, E) dL/dxᵗ, the first layer's inputs
    h: np.ndarray | list  # (L, T, W) total dL/dhᵗ of each layer, through every later step and layer
    c: np.ndarray | list | None  # (L, T, W) total dL/dcᵗ (LSTM only)
    h0: np.ndarray | list  # (L, W) dL/dh⁰, the initial hidden state (each direction's own)
    c0: np.ndarray | list | None  # (L, W) dL/dc⁰ (LSTM only)
    params: dict = field(default_factory=dict)  # name -> array of the parameter's shape


def parameters(model: Model, prefix: str = "") -> dict[str, np.ndarray]:
    """The model's own parameter arrays, named like :class:`Grads`.params: PyTorch's key names,
    ``prefix`` before the recurrent ones (``rnn.`` in the project's own .npz)."""
    out: dict[str, np.ndarray] = {}
    for k, level in enumerate(model.layers):
        for layer, side in zip(directions(level), ("", "_reverse")):
            sfx = f"l{k}{side}"
            out[f"{prefix}weight_ih_{sfx}"] = layer.W_ih
            out[f"{prefix}weight_hh_{sfx}"] = layer.W_hh
            out[f"{prefix}bias_ih_{sfx}"] = layer.b_ih
            out[f"{prefix}bias_hh_{sfx}"] = layer.b_hh
            if layer.W_hr is not None:
                out[f"{prefix}weight_hr_{sfx}"] = layer.W_hr
    if model.embedding is not None:
        out["encoder.weight"] = model.embedding
    for n, d in enumerate(model.head_hidden):
        out[f"head.{n}.weight"], out[f"head.{n}.bias"] = d.W, d.b
    if model.head_W is not None:
        out["decoder.weight"] = model.head_W
        out["decoder.bias"] = model.head_b
    return out


def sum_last_h(trace: Trace) -> tuple[float, np.ndarray]:
    """The reference files' loss L = Σ h_T of the last layer, and dL/dh_top (T, W)."""
    h = trace.states["h"][-1]  # (T, W)
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
    dh_top: np.ndarray | None = None,  # (T, W) dL/dhᵗ of the last layer from outside
    dlogits: np.ndarray | None = None,  # (T, V) dL/dlogits, through the output head
) -> Grads:
    """Backpropagate through every step and layer of ``trace`` (made by ``model``).

    Returns the :class:`Grads` of the loss whose gradients ``dh_top`` and/or
    ``dlogits`` are given (missing ones count as zero). The embedding's
    gradient is included when the trace was run on tokens.
    """
    L, T = trace.num_layers, trace.steps
    dt = model.dtype
    h_top = trace.states["h"][L - 1]  # (T, W)
    W_top = h_top.shape[1]
    dh_in = np.zeros((T, W_top), dtype=dt) if dh_top is None else np.array(dh_top, dtype=dt)  # (T, W)
    params: dict[str, np.ndarray] = {}
    if dlogits is not None:
        if model.head_W is None:
            raise ValueError(f"model {model.name!r} has no output head to take dlogits")
        dlogits = np.asarray(dlogits, dtype=dt)  # (T, V)
        dh_in += _head_backward(model, h_top, dlogits, params, trace.pool)
    lstm = trace.cell == "lstm"
    dh_all = [np.empty((T, trace.width("h", k)), dtype=dt) for k in range(L)]
    dc_all = [np.empty((T, trace.width("c", k)), dtype=dt) for k in range(L)] if lstm else None
    dh0 = [np.empty(trace.width("h", k), dtype=dt) for k in range(L)]
    dc0 = [np.empty(trace.width("c", k), dtype=dt) for k in range(L)] if lstm else None
    for k in range(L - 1, -1, -1):
        level = model.layers[k]
        x = trace.layer_input(k)  # (T, E)
        dx = np.zeros_like(x)  # (T, E): dL/d of this level's input, reaching the level below
        for d, layer in enumerate(directions(level)):
            rev = layer.reverse
            P, H = layer.output_size, layer.hidden_size
            G = GATES[layer.cell]
            hs, cs, gs = slice(d * P, (d + 1) * P), slice(d * H, (d + 1) * H), slice(d * G * H, (d + 1) * G * H)

            def part(v, s, rev=rev):  # this direction's columns, in its reading order
                v = v[:, s]
                return v[::-1] if rev else v

            rec = {q: part(trace.states[q][k], hs if q == "h" else cs) for q in trace.quantities}
            rec["xW"], rec["hW"] = part(trace.xW[k], gs), part(trace.hW[k], gs)
            h_init = trace.h0[k][hs]
            c_init = trace.c0[k][cs] if lstm else None
            xs = x[::-1] if rev else x
            h_prev = np.concatenate([h_init[None], rec["h"][:-1]])[:T]  # (T, P) hᵗ⁻¹ in reading order
            c_prev = np.concatenate([c_init[None], rec["c"][:-1]])[:T] if lstm else None
            dh_d = np.empty((T, P), dtype=dt)
            dc_d = np.empty((T, H), dtype=dt) if lstm else None
            dh0_d = np.empty(P, dtype=dt)
            dc0_d = np.empty(H, dtype=dt) if lstm else None
            out = _direction_backward(layer, rec, h_prev, c_prev, part(dh_in, hs), dh_d, dh0_d, dc_d, dc0_d)
            dax, dah = out["dax"], out["dah"]
            sfx = f"l{k}" + ("_reverse" if isinstance(level, Bidirectional) and d else "")
            params[f"weight_ih_{sfx}"] = dax.T @ xs  # (G*H, E)
            params[f"weight_hh_{sfx}"] = out["dW_hh"] if "dW_hh" in out else dah.T @ h_prev  # (G*H, P)
            params[f"bias_ih_{sfx}"] = dax.sum(axis=0)  # (G*H,)
            params[f"bias_hh_{sfx}"] = dah.sum(axis=0)  # (G*H,)
            if "dW_hr" in out:
                params[f"weight_hr_{sfx}"] = out["dW_hr"]  # (P, H)
            back = (lambda v: v[::-1]) if rev else (lambda v: v)
            dh_all[k][:, hs] = back(dh_d)
            dh0[k][hs] = dh0_d
            if lstm:
                dc_all[k][:, cs] = back(dc_d)
                dc0[k][cs] = dc0_d
            dx += back(dax @ layer.W_ih)
        dh_in = dx
    if trace.ids is not None and model.embedding is not None:
        demb = np.zeros_like(model.embedding)  # (V, E)
        np.add.at(demb, trace.ids, dh_in)
        params["encoder.weight"] = demb

    def per_layer(v):
        return None if v is None else (np.stack(v) if trace.uniform else v)

    return Grads(x=dh_in, h=per_layer(dh_all), c=per_layer(dc_all), h0=per_layer(dh0), c0=per_layer(dc0), params=params)


def _head_backward(model: Model, h_top: np.ndarray, dlogits: np.ndarray, params: dict, pool: Pool | None) -> np.ndarray:
    """dL/dh of the last level (T, W) through the head (its hidden layers and its pool too, ``pool``
    the trace's before its step 0), the head's gradients in ``params``."""
    ins, pres = [h_top if pool is None else pool.rows(h_top)], []  # each layer's input, each hidden pre-activation
    for d in model.head_hidden:
        pres.append(d.pre(ins[-1]))
        ins.append(d.act(pres[-1]))
    params["decoder.weight"] = dlogits.T @ ins[-1]  # (V, W)
    params["decoder.bias"] = dlogits.sum(axis=0)  # (V,)
    grad = dlogits @ model.head_W  # dL/d of the head's input
    for n in range(len(model.head_hidden) - 1, -1, -1):
        d = model.head_hidden[n]
        name, alpha, beta = d.activation
        grad = grad * ACTIVATIONS[name][1](pres[n], alpha, beta)  # dL/d of its pre-activation
        params[f"head.{n}.weight"], params[f"head.{n}.bias"] = grad.T @ ins[n], grad.sum(axis=0)
        grad = grad @ d.W
    return grad if pool is None else pool.backward(h_top, grad)


def _direction_backward(
    layer: Layer,
    rec: dict,  # the direction's records in its reading order: quantities (T, H|P), xW, hW (T, G*H)
    h_prev: np.ndarray,  # (T, P) hᵗ⁻¹
    c_prev: np.ndarray | None,  # (T, H) cᵗ⁻¹ (LSTM)
    dh_in: np.ndarray,  # (T, P) gradient reaching hᵗ from outside the recurrence
    dh_out: np.ndarray,  # (T, P) written: total dL/dhᵗ
    dh0_out: np.ndarray,  # (P,) written: dL/dh⁰
    dc_out: np.ndarray | None,  # (T, H) written: total dL/dcᵗ (LSTM)
    dc0_out: np.ndarray | None,  # (H,) written: dL/dc⁰ (LSTM)
) -> dict:
    """One direction's backward pass, in its reading order. Returns ``dax`` and ``dah``
    (T, G*H), dL/d of the input and recurrent parts of the pre-activations,
    and ``dW_hh``/``dW_hr`` where they are not ``dahᵀ hᵗ⁻¹`` / absent."""
    if is_plain(layer):
        dax, dah = _plain_backward(layer, rec, h_prev, c_prev, dh_in, dh_out, dh0_out, dc_out, dc0_out)
        return {"dax": dax, "dah": dah}
    return _general_backward(layer, rec, h_prev, c_prev, dh_in, dh_out, dh0_out, dc_out, dc0_out)


def _plain_backward(layer, s, h_prev, c_prev, dh_in, dh_out, dh0_out, dc_out, dc0_out):
    """PyTorch's default cells: gate derivatives from the gates' values, one array operation over all steps."""
    T, H = dh_in.shape
    G = GATES[layer.cell]
    dt = dh_in.dtype
    W_hh = layer.W_hh  # (G*H, H): daᵗ @ W_hh is W_hhᵀ daᵗ as a row
    da = np.empty((T, G * H), dtype=dt)  # dL/d pre-activations, every entry written
    da3 = da.reshape(T, G, H)
    rec = np.zeros(H, dtype=dt)  # W_hhᵀ daᵗ⁺¹, the recurrent part of dhᵗ
    if layer.cell == "lstm":
        i, f, g, o, c = s["i"], s["f"], s["g"], s["o"], s["c"]  # (T, H) each
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
        r, z, n = s["r"], s["z"], s["n"]  # (T, H) each
        ah_n = s["hW"][:, 2 * H :] + layer.b_hh[2 * H :]  # (T, H) W_hn h + b_hn
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
    h = s["h"]  # (T, H)
    dact = (1 - h * h) if layer.cell == "rnn_tanh" else (h > 0).astype(dt)  # (T, H) dh/da
    for t in range(T - 1, -1, -1):
        dh = dh_out[t]
        np.add(dh_in[t], rec, out=dh)
        np.multiply(dh, dact[t], out=da[t])
        np.dot(da[t], W_hh, out=rec)
    dh0_out[:] = rec
    return da, da


def _general_backward(layer, s, h_prev, c_prev, dh_in, dh_out, dh0_out, dc_out, dc0_out) -> dict:
    """Any layer: each activation's derivative at its (clipped) pre-activation, a projection, a GRU's reset before the product."""
    T, P = dh_in.shape
    H = layer.hidden_size
    G = GATES[layer.cell]
    dt = dh_in.dtype
    acts = activations_of(layer)

    def d_act(spec, a):  # f'(a), a the clipped pre-activation
        name, alpha, beta = spec
        return ACTIVATIONS[name][1](a, alpha, beta)

    def f_act(spec, a):
        name, alpha, beta = spec
        return ACTIVATIONS[name][0](a, alpha, beta)

    def clipped(a):  # (the clipped pre-activation, 1 where the clip let it through)
        if layer.clip is None:
            return a, np.ones_like(a)
        return np.clip(a, -layer.clip, layer.clip), (np.abs(a) <= layer.clip).astype(dt)

    b_ih, b_hh, W_hh = layer.b_ih, layer.b_hh, layer.W_hh
    raw = s["xW"] + b_ih  # (T, G*H) input part and its bias
    dax = np.empty((T, G * H), dtype=dt)
    dah = np.empty((T, G * H), dtype=dt)
    out = {"dax": dax, "dah": dah}
    if layer.cell == "lstm":
        a, through = clipped(raw + s["hW"] + b_hh)  # (T, 4H)
        gate_d = np.empty((T, 4 * H), dtype=dt)  # f'(a) ⊙ [not clipped]
        for n, spec in enumerate((acts[0], acts[0], acts[1], acts[0])):
            blk = slice(n * H, (n + 1) * H)
            gate_d[:, blk] = d_act(spec, a[:, blk]) * through[:, blk]
        i, f, g, o, c = s["i"], s["f"], s["g"], s["o"], s["c"]
        hc = f_act(acts[2], c)  # (T, H) h's activation of c
        hc_d = d_act(acts[2], c)  # (T, H)
        W_hr = layer.W_hr
        dW_hr = None if W_hr is None else np.zeros_like(W_hr)
        rec = np.zeros(P, dtype=dt)
        dc = np.zeros(H, dtype=dt)
        for t in range(T - 1, -1, -1):
            dh = dh_out[t]
            np.add(dh_in[t], rec, out=dh)
            if W_hr is None:
                dm = dh
            else:
                dm = dh @ W_hr  # (H,) W_hrᵀ dh
                dW_hr += np.outer(dh, o[t] * hc[t])
            dc = dc * (f[t + 1] if t + 1 < T else 0) + dm * o[t] * hc_d[t]
            dc_out[t] = dc
            da = dax[t]
            da[:H] = dc * g[t] * gate_d[t, :H]
            da[H : 2 * H] = dc * c_prev[t] * gate_d[t, H : 2 * H]
            da[2 * H : 3 * H] = dc * i[t] * gate_d[t, 2 * H : 3 * H]
            da[3 * H :] = dm * hc[t] * gate_d[t, 3 * H :]
            rec = da @ W_hh
        dh0_out[:] = rec
        dc0_out[:] = (dc * f[0]) if T else 0
        dah[:] = dax
        if dW_hr is not None:
            out["dW_hr"] = dW_hr
        return out
    if layer.cell == "gru":
        r, z, n = s["r"], s["z"], s["n"]
        hW = s["hW"]
        ah = hW + b_hh  # (T, 3H)
        a_rz, thr_rz = clipped(raw[:, : 2 * H] + ah[:, : 2 * H])
        d_r = d_act(acts[0], a_rz[:, :H]) * thr_rz[:, :H]
        d_z = d_act(acts[0], a_rz[:, H:]) * thr_rz[:, H:]
        lbr = layer.linear_before_reset
        a_n = raw[:, 2 * H :] + (r * ah[:, 2 * H :] if lbr else ah[:, 2 * H :])
        a_n, thr_n = clipped(a_n)
        d_n = d_act(acts[1], a_n) * thr_n
        W_rz, W_n = W_hh[: 2 * H], W_hh[2 * H :]
        rec = np.zeros(P, dtype=dt)
        for t in range(T - 1, -1, -1):
            dh = dh_out[t]
            np.add(dh_in[t], rec, out=dh)
            if t + 1 < T:
                dh += dh_out[t + 1] * z[t + 1]
            da_n = dh * (1 - z[t]) * d_n[t]
            da_z = dh * (h_prev[t] - n[t]) * d_z[t]
            if lbr:
                dr = da_n * ah[t, 2 * H :]
                dah_n = da_n * r[t]
                back_n = dah_n @ W_n  # W_hnᵀ (r ⊙ da_n)
            else:
                g_rh = da_n @ W_n  # W_hnᵀ da_n, the gradient reaching r ⊙ h
                dr = g_rh * h_prev[t]
                dah_n = da_n
                back_n = g_rh * r[t]
            da_r = dr * d_r[t]
            dax[t, :H], dax[t, H : 2 * H], dax[t, 2 * H :] = da_r, da_z, da_n
            dah[t, :H], dah[t, H : 2 * H], dah[t, 2 * H :] = da_r, da_z, dah_n
            rec = dah[t, : 2 * H] @ W_rz + back_n
        dh0_out[:] = rec + (dh_out[0] * z[0] if T else 0)
        if not lbr:  # the n rows of W_hh multiplied r ⊙ hᵗ⁻¹
            dW_hh = np.empty_like(W_hh)
            dW_hh[: 2 * H] = dah[:, : 2 * H].T @ h_prev
            dW_hh[2 * H :] = dah[:, 2 * H :].T @ (r * h_prev)
            out["dW_hh"] = dW_hh
        return out
    a, through = clipped(raw + s["hW"] + b_hh)  # (T, H)
    dact = d_act(acts[0], a) * through
    rec = np.zeros(P, dtype=dt)
    for t in range(T - 1, -1, -1):
        dh = dh_out[t]
        np.add(dh_in[t], rec, out=dh)
        dax[t] = dh * dact[t]
        rec = dax[t] @ W_hh
    dh0_out[:] = rec
    dah[:] = dax
    return out
