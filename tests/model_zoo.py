"""Hand-built models with random weights for every Layer field, and an independent
float64 re-implementation of the equations to check them against.

The reference here is written from the equations (PyTorch's and ONNX's
documentation), not from ``lstm_tui.core.cells``: one plain loop per cell, the
activations as their textbook formulas, a reverse direction by reading the
sequence reversed by hand.
"""

from __future__ import annotations

import numpy as np

from lstm_tui.core import Model
from lstm_tui.core.cells import Bidirectional, Layer

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _sig(a):
    return 1 / (1 + np.exp(-a))


#: Textbook formulas of ONNX's activation functions, (a, alpha, beta) -> value.
REF_ACT = {
    "Sigmoid": lambda a, al, be: _sig(a),
    "Tanh": lambda a, al, be: np.tanh(a),
    "Relu": lambda a, al, be: np.maximum(a, 0),
    "Affine": lambda a, al, be: al * a + be,
    "LeakyRelu": lambda a, al, be: np.where(a >= 0, a, al * a),
    "ThresholdedRelu": lambda a, al, be: np.where(a > al, a, 0.0),
    "ScaledTanh": lambda a, al, be: al * np.tanh(be * a),
    "HardSigmoid": lambda a, al, be: np.minimum(1, np.maximum(0, al * a + be)),
    "Elu": lambda a, al, be: np.where(a >= 0, a, al * (np.exp(np.minimum(a, 0)) - 1)),
    "Softsign": lambda a, al, be: a / (1 + np.abs(a)),
    "Softplus": lambda a, al, be: np.log1p(np.exp(a)),
}

REF_DEFAULTS = {
    "lstm": [("Sigmoid", 0, 0), ("Tanh", 0, 0), ("Tanh", 0, 0)],
    "gru": [("Sigmoid", 0, 0), ("Tanh", 0, 0)],
    "rnn_tanh": [("Tanh", 0, 0)],
    "rnn_relu": [("Relu", 0, 0)],
}


def make_layer(rng, cell, E, H, *, P=None, activations=None, clip=None, lbr=True, reverse=False, scale=0.6, dtype="float64"):
    """A Layer with N(0, scale²) weights (large enough to reach a clip and the activations' bends)."""
    G = GATES[cell]
    Pw = H if P is None else P

    def w(*shape):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    return Layer(
        cell,
        w(G * H, E),
        w(G * H, Pw),
        w(G * H),
        w(G * H),
        W_hr=None if P is None else w(P, H),
        activations=activations,
        clip=clip,
        linear_before_reset=lbr,
        reverse=reverse,
    )


def bidi(rng, cell, E, H, **kw):
    return Bidirectional(make_layer(rng, cell, E, H, **kw), make_layer(rng, cell, E, H, reverse=True, **kw))


def ref_layer(layer: Layer, x, h0, c0=None) -> dict:
    """The layer's quantities (T, W) at the sequence's positions, float64, from the equations."""
    W_ih, W_hh, b_ih, b_hh = (np.asarray(a, np.float64) for a in (layer.W_ih, layer.W_hh, layer.b_ih, layer.b_hh))
    W_hr = None if layer.W_hr is None else np.asarray(layer.W_hr, np.float64)
    acts = [(n, float(a), float(b)) for n, a, b in (layer.activations or REF_DEFAULTS[layer.cell])]
    fns = [lambda a, n=n, al=al, be=be: REF_ACT[n](a, al, be) for n, al, be in acts]
    clip = (lambda a: a) if layer.clip is None else (lambda a: np.minimum(layer.clip, np.maximum(-layer.clip, a)))
    x = np.asarray(x, np.float64)
    T = x.shape[0]
    H = W_hh.shape[0] // GATES[layer.cell]
    if layer.reverse:  # read the sequence reversed, then put the records back at their positions
        fwd = ref_layer(_forward_copy(layer), x[::-1], h0, c0)
        return {q: v[::-1] for q, v in fwd.items()}
    h = np.asarray(h0, np.float64)
    c = None if c0 is None else np.asarray(c0, np.float64)
    rows: dict[str, list] = {}
    for t in range(T):
        xt = x[t]
        if layer.cell == "lstm":
            sg, tg, th = fns
            pre = W_ih @ xt + b_ih + W_hh @ h + b_hh
            i = sg(clip(pre[:H]))
            f = sg(clip(pre[H : 2 * H]))
            g = tg(clip(pre[2 * H : 3 * H]))
            o = sg(clip(pre[3 * H :]))
            c = f * c + i * g
            m = o * th(c)
            h = m if W_hr is None else W_hr @ m
            rec = {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}
        elif layer.cell == "gru":
            sg, tg = fns
            Wr, Wz, Wn = W_ih[:H], W_ih[H : 2 * H], W_ih[2 * H :]
            Rr, Rz, Rn = W_hh[:H], W_hh[H : 2 * H], W_hh[2 * H :]
            r = sg(clip(Wr @ xt + b_ih[:H] + Rr @ h + b_hh[:H]))
            z = sg(clip(Wz @ xt + b_ih[H : 2 * H] + Rz @ h + b_hh[H : 2 * H]))
            if layer.linear_before_reset:
                n = tg(clip(Wn @ xt + b_ih[2 * H :] + r * (Rn @ h + b_hh[2 * H :])))
            else:
                n = tg(clip(Wn @ xt + b_ih[2 * H :] + Rn @ (r * h) + b_hh[2 * H :]))
            h = (1 - z) * n + z * h
            rec = {"r": r, "z": z, "n": n, "h": h}
        else:
            h = fns[0](clip(W_ih @ xt + b_ih + W_hh @ h + b_hh))
            rec = {"h": h}
        for q, v in rec.items():
            rows.setdefault(q, []).append(v)
    if T == 0:
        return {}
    return {q: np.array(v) for q, v in rows.items()}


def _forward_copy(layer: Layer) -> Layer:
    import dataclasses

    return dataclasses.replace(layer, reverse=False)


def ref_model(model: Model, x, h0=None, c0=None) -> list[dict]:
    """Per level, the quantities (T, W_l) of the reference run, bidirectional levels concatenated forward-first."""
    out = []
    inp = np.asarray(x, np.float64)
    for n, level in enumerate(model.layers):
        dirs = level.directions if isinstance(level, Bidirectional) else (level,)
        recs = []
        for d, lay in enumerate(dirs):
            P, H = lay.output_size, lay.hidden_size
            h_init = np.zeros(P) if h0 is None else np.asarray(h0[n], np.float64)[d * P : (d + 1) * P]
            c_init = None
            if lay.cell == "lstm":
                c_init = np.zeros(H) if c0 is None else np.asarray(c0[n], np.float64)[d * H : (d + 1) * H]
            recs.append(ref_layer(lay, inp, h_init, c_init))
        level_rec = {q: np.concatenate([r[q] for r in recs], axis=1) for q in recs[0]}
        out.append(level_rec)
        inp = level_rec["h"]
    return out


def all_layer_configs():
    """(id, kwargs for make_layer) covering every Layer field alone and a few together."""
    return [
        ("lstm-plain", dict(cell="lstm")),
        ("lstm-proj", dict(cell="lstm", P=3)),
        ("lstm-proj-wide", dict(cell="lstm", P=7)),
        ("lstm-acts", dict(cell="lstm", activations=(("HardSigmoid", 0.2, 0.5), ("Softsign", 0, 0), ("ScaledTanh", 1.5, 0.7)))),
        ("lstm-clip", dict(cell="lstm", clip=0.8)),
        ("lstm-reverse", dict(cell="lstm", reverse=True)),
        ("lstm-all", dict(cell="lstm", P=3, clip=1.1, reverse=True, activations=(("Sigmoid", 0, 0), ("Elu", 0.9, 0), ("Softsign", 0, 0)))),
        ("gru-plain", dict(cell="gru")),
        ("gru-lbr0", dict(cell="gru", lbr=False)),
        ("gru-acts", dict(cell="gru", activations=(("HardSigmoid", 0.25, 0.4), ("LeakyRelu", 0.1, 0)))),
        ("gru-clip-lbr0-reverse", dict(cell="gru", clip=0.7, lbr=False, reverse=True)),
        ("rnn-tanh-plain", dict(cell="rnn_tanh")),
        ("rnn-relu-plain", dict(cell="rnn_relu")),
        ("rnn-affine", dict(cell="rnn_tanh", activations=(("Affine", 0.5, 0.1),))),
        ("rnn-softplus-clip", dict(cell="rnn_tanh", activations=(("Softplus", 0, 0),), clip=0.9)),
        ("rnn-thresholded-reverse", dict(cell="rnn_relu", activations=(("ThresholdedRelu", 0.3, 0),), reverse=True)),
    ]
