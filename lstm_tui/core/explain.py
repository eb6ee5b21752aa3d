"""Why each number is what it is: stage decomposition, unit search, saturation, history.

Everything here reads a :class:`Trace` (and, for the biases, its :class:`Model`)
and returns plain numbers or arrays; nothing is recomputed through the cell
except the elementwise sums and activations that the explanation shows.

Stage decomposition of one unit j at 0-based step k (UI step t = k + 1), with
x = xᵗ, h = hᵗ⁻¹, c = cᵗ⁻¹ and the trace's bias-free products
``xW = W_ih x`` and ``hW = W_hh h``. For an LSTM, each gate q of i, f, g, o::

    input      (W_iq x)ⱼ
    recurrent  (W_hq h)ⱼ
    bias       (b_iq + b_hq)ⱼ
    pre        input + recurrent + bias
    value      σ(pre)  (tanh for g)

    kept    = fⱼ · cⱼ        what stays of the old memory      (stage 1, forget)
    written = iⱼ · gⱼ        what is written                   (stage 2, select)
    c'ⱼ = kept + written,  tanh(c'ⱼ),  h'ⱼ = oⱼ · tanh(c'ⱼ)    (stage 3, output)

GRU: r and z as above; n's parts are input (W_in x)ⱼ, bias b_inⱼ and
recurrent rⱼ · ((W_hn h)ⱼ + b_hnⱼ), and::

    written = (1 - zⱼ) · nⱼ,   kept = zⱼ · hⱼ,   h'ⱼ = written + kept

RNN: one block, named ``h``, with input, recurrent, bias, pre and value h'ⱼ.
"""

from __future__ import annotations

import re

import numpy as np

from .cells import ACTIVATIONS, GATES, activations_of, sigmoid
from .errors import InputError, clip, whole_number
from .model import Model, directions
from .trace import Trace

#: The gates of each cell in weight order, with their activation function's name.
GATE_ACTIVATIONS = {
    "lstm": {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid"},
    "gru": {"r": "sigmoid", "z": "sigmoid", "n": "tanh"},
    "rnn_tanh": {"h": "tanh"},
    "rnn_relu": {"h": "relu"},
}

#: The gates that are sigmoids, whose saturation (near 0 or 1) means something.
SIGMOID_GATES = {
    cell: tuple(q for q, act in acts.items() if act == "sigmoid") for cell, acts in GATE_ACTIVATIONS.items()
}

_ACT = {"sigmoid": sigmoid, "tanh": np.tanh, "relu": lambda a: np.maximum(a, 0)}


def _check_layer(trace: Trace, layer: int) -> None:
    if not 0 <= layer < trace.num_layers:
        raise InputError(f"layer {layer} out of range: the trace has {trace.num_layers} layer(s)")


def _check_quantity(trace: Trace, quantity: str) -> None:
    if quantity not in trace.states:
        raise InputError(
            f"unknown quantity {quantity!r} for a {trace.cell} trace: expected one of {', '.join(trace.quantities)}"
        )


def _unit_range(trace: Trace, layer: int, j: int | None, q: str) -> None:
    W = trace.width(q, layer)
    if j is not None and not 0 <= j < W:
        raise InputError(f"unit {j} out of range: layer {layer + 1} has {W} unit(s) of {q}")


def stages(model: Model, trace: Trace, layer: int, k: int, j: int | None) -> dict:
    """The decomposition of unit j of ``layer`` at 0-based step k (see the module docstring).

    ``trace`` must come from ``model`` (the biases, activations and clip are
    read from the model). Returns ``{"cell", "layer", "k", "unit", "gates", ...}``
    where ``gates`` maps each gate name (weight order) to a dict of ``input``,
    ``recurrent``, ``bias``, ``pre`` and ``value`` (value = f(clip(pre)) with
    the layer's own activation f), and the rest are the state terms:
    ``h_prev`` and ``h`` for every cell; ``c_prev``, ``kept``, ``written``,
    ``c`` and ``tanh_c`` (the output activation of c) for an LSTM; ``kept``,
    ``written`` and ``reset_input`` (what rᵗ scales, W_hn·hᵗ⁻¹ + b_hn) for a
    GRU. For a projected LSTM, h is P units that do not line up with the
    gates: ``h`` is then mᵗ = o ⊙ act(cᵗ) (before W_hr), ``projected`` is True
    and there is no ``h_prev``. A GRU whose reset acts before the product
    (``linear_before_reset`` False) has recurrent part W_hn (r ⊙ hᵗ⁻¹) and bias
    b_in + b_hn for n (and ``reset_input`` NaN). Values, c and h are computed
    from the parts shown (they equal the trace's up to rounding). A
    bidirectional level's units are the forward direction's then the
    backward one's; ``direction`` names unit j's. Every number is a float;
    with ``j=None`` every number is an array over all units instead.
    """
    _check_layer(trace, layer)
    if not 0 <= k < trace.steps:
        raise InputError(f"step {k} out of range: the trace has {trace.steps} step(s)")
    _unit_range(trace, layer, j, "c" if trace.cell == "lstm" else "h")
    level = model.layers[layer]
    dirs = directions(level)
    cell = trace.cell
    xW_all = trace.value("xW", layer, k)  # (D*G*H,) W_ih xᵗ per direction and gate block
    hW_all = trace.value("hW", layer, k)  # (D*G*H,) W_hh hᵗ⁻¹
    h_prev_all = trace.state_before("h", layer, k)  # (D*P,)
    c_prev_all = trace.state_before("c", layer, k) if cell == "lstm" else None  # (D*H,)
    per_dir = []
    for d, lay in enumerate(dirs):
        G, H, P = GATES[lay.cell], lay.hidden_size, lay.output_size
        acts = activations_of(lay)
        if cell == "lstm":  # f for i, f, o; g for the candidate
            gate_act = (acts[0], acts[0], acts[1], acts[0])
        elif cell == "gru":
            gate_act = (acts[0], acts[0], acts[1])
        else:
            gate_act = acts
        clip = (lambda a: a) if lay.clip is None else (lambda a, c=lay.clip: np.clip(a, -c, c))
        xW = xW_all[d * G * H : (d + 1) * G * H].reshape(G, H)  # (G, H)
        hW = hW_all[d * G * H : (d + 1) * G * H].reshape(G, H)
        b_ih = lay.b_ih.reshape(G, H)
        b_hh = lay.b_hh.reshape(G, H)
        h_prev = h_prev_all[d * P : (d + 1) * P]  # (P,)
        gates: dict[str, dict] = {}
        for n, q in enumerate(GATE_ACTIVATIONS[cell]):
            if cell == "gru" and q == "n" and lay.linear_before_reset:
                r = gates["r"]["value"]
                parts = {"input": xW[n], "recurrent": r * (hW[n] + b_hh[n]), "bias": b_ih[n]}
            else:
                parts = {"input": xW[n], "recurrent": hW[n], "bias": b_ih[n] + b_hh[n]}
            parts["pre"] = parts["input"] + parts["recurrent"] + parts["bias"]  # (H,)
            name, alpha, beta = gate_act[n]
            parts["value"] = ACTIVATIONS[name][0](clip(parts["pre"]), alpha, beta)  # (H,)
            gates[q] = parts
        out: dict = {}
        if cell == "lstm":
            c_prev = c_prev_all[d * H : (d + 1) * H]  # (H,)
            out["c_prev"] = c_prev
            out["kept"] = gates["f"]["value"] * c_prev  # fᵗ ⊙ cᵗ⁻¹
            out["written"] = gates["i"]["value"] * gates["g"]["value"]  # iᵗ ⊙ gᵗ
            out["c"] = out["kept"] + out["written"]
            name, alpha, beta = acts[2]
            out["tanh_c"] = ACTIVATIONS[name][0](out["c"], alpha, beta)
            out["h"] = gates["o"]["value"] * out["tanh_c"]  # m, = h without a projection
            if lay.W_hr is None:
                out["h_prev"] = h_prev
        elif cell == "gru":
            z = gates["z"]["value"]
            jn = list(GATE_ACTIVATIONS[cell]).index("n")  # what the reset scales: W_hn·hᵗ⁻¹ + b_hn (NaN: hᵗ⁻¹ itself)
            out["reset_input"] = hW[jn] + b_hh[jn] if lay.linear_before_reset else np.full(H, np.nan)
            out["h_prev"] = h_prev
            out["written"] = (1 - z) * gates["n"]["value"]  # (1 - zᵗ) ⊙ nᵗ
            out["kept"] = z * h_prev  # zᵗ ⊙ hᵗ⁻¹
            out["h"] = out["written"] + out["kept"]
        else:
            out["h_prev"] = h_prev
            out["h"] = gates["h"]["value"]
        per_dir.append((gates, out))
    gates = {
        q: {name: np.concatenate([g[q][name] for g, _ in per_dir]) for name in per_dir[0][0][q]} for q in per_dir[0][0]
    }
    out = {name: np.concatenate([o[name] for _, o in per_dir]) for name in per_dir[0][1]}
    D = len(dirs)
    width = out["h"].shape[0] // D  # units per direction
    extra = {
        "projected": cell == "lstm" and dirs[0].W_hr is not None,
        "linear_before_reset": dirs[0].linear_before_reset,
        "direction": None if D == 1 or j is None else ("forward", "backward")[j // width],
    }
    if j is not None:
        gates = {q: {name: float(v[j]) for name, v in parts.items()} for q, parts in gates.items()}
        out = {name: float(v[j]) for name, v in out.items()}
    return {"cell": cell, "layer": layer, "k": k, "unit": j, "gates": gates, **out, **extra}


def history(trace: Trace, quantity: str, layer: int) -> np.ndarray:
    """Quantity ``quantity`` of every unit of ``layer`` at every step, as units × time (H, T).

    A contiguous copy, ready for a heatmap with one row per unit.
    """
    _check_layer(trace, layer)
    _check_quantity(trace, quantity)
    return np.ascontiguousarray(trace.states[quantity][layer].T)  # (H, T)


def bin_time(values: np.ndarray, width: int, how: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Squeeze the time axis of ``values`` (H, T) into at most ``width`` columns.

    Returns ``(binned, edges)``: ``binned`` (H, n) with n = min(T, width) and
    ``edges`` (n + 1,) int step indices, column b covering steps
    ``edges[b] <= k < edges[b + 1]``. Bins differ in size by at most one step.
    When T <= width the values come back unchanged (one step per column).
    ``how`` is ``"mean"`` (the bin's average) or ``"maxabs"`` (the value of
    largest magnitude in the bin, sign kept, so that a short spike survives).
    """
    if width < 1:
        raise InputError(f"width must be at least 1, got {width}")
    if how not in ("mean", "maxabs"):
        raise InputError(f"unknown binning {how!r}: expected 'mean' or 'maxabs'")
    values = np.asarray(values)
    if values.ndim != 2:
        raise InputError(f"values have shape {values.shape}: expected (H, T)")
    T = values.shape[1]
    if T <= width:
        return values.copy(), np.arange(T + 1)
    edges = np.arange(width + 1) * T // width  # (width + 1,) strictly increasing since T > width
    starts = edges[:-1]
    if how == "mean":
        sums = np.add.reduceat(values, starts, axis=1)  # (H, width)
        return sums / np.diff(edges), edges
    hi = np.maximum.reduceat(values, starts, axis=1)  # (H, width)
    lo = np.minimum.reduceat(values, starts, axis=1)
    return np.where(np.abs(hi) >= np.abs(lo), hi, lo), edges


def bin_means(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The means (n,) of ``values`` (T,) over the bins ``edges[b] <= k < edges[b + 1]`` (n + 1 strictly
    increasing edges from 0), NaN and ±inf left out: NaN for a bin with no finite value, or past the values."""
    if len(edges) < 2:
        return np.zeros(0)
    v = np.asarray(values, dtype=np.float64)[: edges[-1]]
    if len(v) < edges[-1]:  # (steps the values do not reach: empty bins)
        v = np.concatenate([v, np.full(edges[-1] - len(v), np.nan)])
    ok = np.isfinite(v)
    sums = np.add.reduceat(np.where(ok, v, 0.0), edges[:-1])
    counts = np.add.reduceat(ok.astype(np.int64), edges[:-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def bin_of(edges: np.ndarray, k: int) -> int:
    """The column of ``bin_time``'s ``edges`` that holds 0-based step k (to mark the current step)."""
    return int(np.searchsorted(edges, k, side="right")) - 1


def unit_search(
    trace: Trace,
    quantity: str,
    layer: int,
    start: int,
    stop: int,
    threshold: float,
    *,
    absolute: bool = False,  # compare |value| with the threshold, for units that go negative
) -> list[tuple[int, float]]:
    """Units of ``layer`` that are on inside steps [start, stop) and off outside (LSTMVis's select).

    A unit is *on* at a step when its ``quantity`` is above ``threshold``.
    Its score is the fraction of in-range steps where it is on minus the
    fraction of out-of-range steps where it is on, in [-1, 1]: 1 for a unit
    on exactly in the range, 0 for one that does not tell the range apart
    (an empty outside, when the range covers the whole sequence, counts as
    never on). Returns ``[(unit, score), ...]`` for the units with a
    positive score, best first (ties by unit number).
    """
    _check_layer(trace, layer)
    _check_quantity(trace, quantity)
    T = trace.steps
    if not 0 <= start < stop <= T:
        raise InputError(f"step range [{start}, {stop}) is empty or outside the trace's {T} step(s)")
    v = trace.states[quantity][layer]  # (T, H)
    on = (np.abs(v) if absolute else v) > threshold  # (T, H)
    inside = on[start:stop].mean(axis=0)  # (H,)
    n_out = T - (stop - start)
    outside = (on[:start].sum(axis=0) + on[stop:].sum(axis=0)) / max(n_out, 1)  # (H,)
    score = inside - outside  # (H,)
    order = sorted(np.flatnonzero(score > 0), key=lambda u: (-score[u], u))
    return [(int(u), float(score[u])) for u in order]


def saturation(trace: Trace, layer: int, low: float = 0.1, high: float = 0.9) -> dict[str, tuple]:
    """How often each sigmoid gate of ``layer`` is saturated (Karpathy, Johnson & Fei-Fei 2015).

    Returns ``gate -> (left (H,), right (H,))``: per unit, the fraction of
    steps with the gate below ``low`` and above ``high``. The gates are the
    sigmoids only (LSTM i, f, o; GRU r, z; none for an RNN), since "near 0 or
    1" means shut or open for them. An empty trace gives zeros.
    """
    _check_layer(trace, layer)
    out = {}
    for q in SIGMOID_GATES[trace.cell]:
        v = trace.states[q][layer]  # (T, H)
        n = max(v.shape[0], 1)
        out[q] = ((v < low).sum(axis=0) / n, (v > high).sum(axis=0) / n)
    return out


def frozen_units(trace: Trace, layer: int, tol: float = 1e-3, quantity: str = "h") -> dict[str, np.ndarray]:
    """Units of ``layer`` whose ``quantity`` never moves, and dead units.

    Returns ``{"frozen", "dead", "std", "max_abs"}``: ``std`` and ``max_abs``
    (H,) are the standard deviation over time and the largest magnitude of
    each unit's value; ``frozen`` are the unit numbers with std < tol (the
    value is the same at every step), ``dead`` those with max |value| < tol
    (the value is ~0 at every step; every dead unit is also frozen).
    """
    _check_layer(trace, layer)
    _check_quantity(trace, quantity)
    v = trace.states[quantity][layer]  # (T, H)
    if v.shape[0] == 0:
        std = max_abs = np.zeros(v.shape[1], dtype=v.dtype)
    else:
        std, max_abs = v.std(axis=0), np.abs(v).max(axis=0)  # (H,) each
    return {
        "frozen": np.flatnonzero(std < tol),
        "dead": np.flatnonzero(max_abs < tol),
        "std": std,
        "max_abs": max_abs,
    }


_SEARCH = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*>\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*(\w+)?\s*(abs)?\s*$", re.I)


def parse_search(text: str, quantities: tuple[str, ...], steps: int) -> tuple[int, int, float, str, bool]:
    """'START-END > THRESHOLD [QUANTITY] [abs]' (1-based, inclusive) → (start, stop, threshold, q, abs)."""
    m = _SEARCH.match(text)
    if not m:
        raise InputError(f"unit search '{clip(text)}': expected START-END > THRESHOLD [quantity] [abs], e.g. 5-9 > 0.5 c")
    first, last = whole_number(m[1]), whole_number(m[2] or m[1])  # (5,000 digits: out of range, not a ValueError)
    if first > last:
        raise InputError(f"unit search: the range {first}-{last} is empty: write the smaller step first ({last}-{first})")
    if not 1 <= first <= last <= steps:
        raise InputError(f"unit search: steps {first}-{last} are not within 1..{steps}")
    memory = "c" if "c" in quantities else "h"  # the default: the cell's memory
    q = m[4] or memory
    if q.lower() == "abs" and m[5] is None:
        q, absolute = memory, True
    else:
        absolute = m[5] is not None
    if q not in quantities:
        raise InputError(f"unit search: unknown quantity '{clip(q)}', expected one of {', '.join(quantities)}")
    try:
        threshold = float(m[3])
    except ValueError:
        raise InputError(f"unit search: '{clip(m[3])}' is not a number") from None
    return first - 1, last, threshold, q, absolute
