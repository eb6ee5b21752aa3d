"""One step of a cell computed from its products, with patches applied in equation order.

:func:`cell_step` is the patched run's step (:func:`.interventions.intervene`)
and the exact effect map's general path: one step as vectors, or the rows of
many patched copies at once. :class:`PlainRows` is the effect map's fast path
for a level with PyTorch's defaults: the same equations, in place, in fewer
passes over memory.
"""

from __future__ import annotations

import numpy as np

from .cells import ACTIVATIONS, GATES, _act, activations_of


def activation_functions(layer) -> tuple:
    """The layer's activation functions (LSTM f, g, h; GRU f, g; RNN f), from ``cells``."""
    return tuple(_act(a) for a in activations_of(layer))


def derivative(layer, k: int):
    """The derivative of the layer's k-th activation with respect to its argument."""
    name, alpha, beta = activations_of(layer)[k]
    d = ACTIVATIONS[name][1]
    return lambda a: d(a, alpha, beta)


def clipped(layer, a: np.ndarray) -> np.ndarray:
    """Pre-activations clipped to [-clip, clip] (ONNX), unchanged without a clip."""
    return a if layer.clip is None else np.clip(a, -layer.clip, layer.clip)


def _set(arr: np.ndarray, sets, batch: int | None) -> np.ndarray:
    """arr with every (index, values) of ``sets`` written into it, in order (a fresh array)."""
    if batch is not None and (arr.ndim == 1 or arr.shape[0] != batch):
        arr = np.broadcast_to(arr, (batch, arr.shape[-1])).copy()
    else:
        arr = arr.copy()
    for idx, vals in sets:
        arr[idx] = vals
    return arr


def cell_step(layer, xW, hW, h_prev, c_prev=None, sets: dict | None = None, batch: int | None = None) -> dict:
    """One step of ``layer`` from its products ``xW = W_ih x`` and ``hW = W_hh h_prev`` (G*H,),
    with the patches ``sets`` (q -> list of (index, values)) applied in equation order.

    Works on one step (vectors (W,)) or on rows of copies (arrays (B, W)); with
    ``batch`` = B, rows that are still one shared vector are widened to B rows
    where a patch first writes. Returns the step's record: every quantity of
    the cell plus ``xW`` and ``hW``.
    """
    sets = sets or {}
    H = layer.hidden_size
    rec = {"xW": xW, "hW": hW}

    def put(q, v):
        rec[q] = _set(v, sets[q], batch) if q in sets else v
        return rec[q]

    if layer.cell == "lstm":
        act_f, act_g, act_h = activation_functions(layer)
        a = clipped(layer, xW + layer.b_ih + hW + layer.b_hh)  # (…, 4H)
        i = put("i", act_f(a[..., 0:H]))
        f = put("f", act_f(a[..., H : 2 * H]))
        g = put("g", act_g(a[..., 2 * H : 3 * H]))
        o = put("o", act_f(a[..., 3 * H :]))
        c = put("c", f * c_prev + i * g)  # c = f ⊙ c_prev + i ⊙ g
        h = o * act_h(c)  # h = o ⊙ tanh(c)
        if layer.W_hr is not None:
            h = h @ layer.W_hr.T  # (…, P) projection h = W_hr (o ⊙ tanh(c))
        put("h", h)
    elif layer.cell == "gru":
        act_f, act_g = activation_functions(layer)
        ax = xW + layer.b_ih  # (…, 3H)
        r = put("r", act_f(clipped(layer, ax[..., 0:H] + hW[..., 0:H] + layer.b_hh[0:H])))
        z = put("z", act_f(clipped(layer, ax[..., H : 2 * H] + hW[..., H : 2 * H] + layer.b_hh[H : 2 * H])))
        if layer.linear_before_reset:
            rh = r * (hW[..., 2 * H :] + layer.b_hh[2 * H :])  # r ⊙ (W_hn h + b_hn)
        else:
            hn = (r * h_prev) @ layer.W_hh[2 * H :].T  # W_hn (r ⊙ h): the n block of hW (see cells)
            hW = np.concatenate([np.broadcast_to(hW[..., : 2 * H], hn.shape[:-1] + (2 * H,)), hn], axis=-1)
            rec["hW"] = hW
            rh = hn + layer.b_hh[2 * H :]
        n = put("n", act_g(clipped(layer, ax[..., 2 * H :] + rh)))
        put("h", (1 - z) * n + z * h_prev)  # h = (1 - z) ⊙ n + z ⊙ h_prev
    else:
        (act,) = activation_functions(layer)
        put("h", act(clipped(layer, xW + layer.b_ih + hW + layer.b_hh)))
    return rec


class PlainRows:
    """One plain level (PyTorch's defaults, see ``cells.is_plain``) stepping rows of
    copies in place: the exact map's fast path, the same equations as :func:`cell_step`
    in fewer passes over memory. As in ``cells.run``, σ(a) = ½·tanh(½a) + ½ with the
    halving folded into the weights, so one tanh covers every gate; an LSTM's gate
    columns are kept in the order i, f, o, g so the three sigmoids are one block."""

    def __init__(self, layer, rows: int):
        H, dt, cell = layer.hidden_size, layer.dtype, layer.cell
        self.cell, self.H = cell, H
        G = GATES[cell]
        if cell == "lstm":
            perm = np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]  # i f o g
            scale = np.r_[np.full(3 * H, 0.5), np.ones(H)]
        elif cell == "gru":
            perm, scale = np.arange(3 * H), np.r_[np.full(2 * H, 0.5), np.ones(H)]  # r z halved, n not
        else:
            perm, scale = np.arange(H), np.ones(H)
        self.perm, self.scale = perm, scale.astype(dt)
        self.W_ihT = np.ascontiguousarray((layer.W_ih[perm] * self.scale[:, None]).T)  # (E, G*H)
        self.W_hhT = np.ascontiguousarray((layer.W_hh[perm] * self.scale[:, None]).T)  # (P, G*H)
        self.b_ih = (layer.b_ih[perm] * self.scale).astype(dt)  # (G*H,)
        self.b_hh = (layer.b_hh[perm] * self.scale).astype(dt)
        self.A = np.empty((rows, G * H), dtype=dt)  # the recurrent part, then the gates
        self.X = np.empty((rows, G * H), dtype=dt)  # the input part
        self.tmp = np.empty((rows, H), dtype=dt)
        #: where each quantity lives: a block of A's columns, or the state arrays
        self.block = {"i": 0, "f": 1, "o": 2, "g": 3} if cell == "lstm" else {"r": 0, "z": 1}

    def step(self, x, h, c, sets) -> None:
        """Advance rows h (n, P), c (n, H) by one step, in place. ``x`` is the clean run's
        bias-free input product xW (G*H,) shared by every row, or the rows' input (n, E)."""
        n, H = h.shape[0], self.H
        A, X, tmp = self.A[:n], self.X[:n], self.tmp[:n]
        if x.ndim == 1:
            xp = x[self.perm] * self.scale + self.b_ih  # (G*H,)
        else:
            np.matmul(x, self.W_ihT, out=X)
            X += self.b_ih
            xp = X
        np.matmul(h, self.W_hhT, out=A)
        A += self.b_hh

        def patch(q, arr):
            for idx, vals in (sets or {}).get(q, ()):
                arr[idx] = vals

        def gate(q):
            return A[:, self.block[q] * H : (self.block[q] + 1) * H]

        if self.cell == "lstm":
            A += xp
            np.tanh(A, out=A)
            sig = A[:, : 3 * H]
            sig *= 0.5
            sig += 0.5
            for q in ("i", "f", "g", "o"):
                patch(q, gate(q))
            i, f, o, g = gate("i"), gate("f"), gate("o"), gate("g")
            np.multiply(i, g, out=tmp)
            c *= f
            c += tmp  # c = f ⊙ c_prev + i ⊙ g
            patch("c", c)
            np.tanh(c, out=tmp)
            np.multiply(o, tmp, out=h)  # h = o ⊙ tanh(c)
            patch("h", h)
        elif self.cell == "gru":
            rz = A[:, : 2 * H]
            rz += xp[..., : 2 * H]
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            patch("r", gate("r"))
            patch("z", gate("z"))
            np.multiply(gate("r"), A[:, 2 * H :], out=tmp)  # r ⊙ (W_hn h + b_hn)
            tmp += xp[..., 2 * H :]
            np.tanh(tmp, out=tmp)  # n
            patch("n", tmp)
            np.subtract(h, tmp, out=h)
            h *= gate("z")
            h += tmp  # h = (1 - z) ⊙ n + z ⊙ h_prev
            patch("h", h)
        else:
            A += xp
            if self.cell == "rnn_tanh":
                np.tanh(A, out=h)
            else:
                np.maximum(A, 0, out=h)
            patch("h", h)
