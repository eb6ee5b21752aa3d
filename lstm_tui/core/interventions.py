"""Interventions: run the model with some of its numbers set, and map which numbers matter.

A :class:`Patch` sets one quantity (a gate or state of the cell kind: LSTM
i f g o c h, GRU r z n h, RNN h) of one stack level, for one unit or all
units, at some steps, to a number or to ``"src"``: the same quantity at the
same position in a clean run on a second, *source* input. Patches are data:
:func:`intervene` takes a list of them and returns an ordinary :class:`Trace`
of the patched run, so everything that reads a trace reads a patched one.

Patches apply in equation order inside a step (LSTM, PyTorch's gate order)::

    i, f, g, o  replaced                         before
    c = f ⊙ c_prev + i ⊙ g,  c replaced          before
    h = o ⊙ tanh(c) (W_hr(·) when projected), h replaced
    and h then feeds the next step, the next level and the head.

GRU: r replaced before ``n = tanh(ax_n + r ⊙ ah_n)`` uses it; z and n before
``h = (1 - z) ⊙ n + z ⊙ h_prev``; h last. RNN: h.

Only what is downstream of a patch is computed again: each direction of each
level restarts at its first affected step in reading order (the first patched
step, or the first step whose input changed) from the clean trace's state
there, never from step 1. A forward direction recomputes that step and every
later one, a reverse direction that step and every earlier one. Long
stretches without a patch run through ``cells.run``, the clean fast loop.

Steps and units here are 0-based (the command line counts steps and levels
from 1). A bidirectional level's units are [forward, backward], as in the trace.

The effect map (:class:`EffectMap`) asks, for every step s ≤ k and unit j,
how much log p(token at step k) changes when Q[j] at step s alone is set to
the value: exactly, by running the patched copies of all units of step s
together as the rows of a matrix from s to k; and as an estimate from one
backward pass, ``dlogp/dQ × (value - clean value)`` (attribution patching).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .cells import ACTIVATIONS, GATES, QUANTITIES, _act, activations_of, is_plain, run
from .errors import InputError, inert
from .model import Model, directions, level_width, softmax
from .trace import Trace


@dataclass(frozen=True)
class Patch:
    """One intervention. ``steps`` may be given as an int or any iterable of ints;
    it is kept as a tuple of sorted 0-based steps."""

    layer: int  # stack level, 0-based
    quantity: str  # "i" "f" "g" "o" "c" "h" (LSTM), "r" "z" "n" "h" (GRU), "h" (RNN)
    unit: int | None  # 0-based unit of the level (a bidirectional level: forward units first); None: all units
    steps: tuple[int, ...]  # 0-based steps (positions) the patch holds at
    value: float | str  # the number to set, or "src": the same quantity, position and unit of the source run

    def __post_init__(self):
        steps = (self.steps,) if isinstance(self.steps, (int, np.integer)) else self.steps
        object.__setattr__(self, "steps", tuple(sorted({int(k) for k in steps})))
        if not (self.value == "src" or isinstance(self.value, (int, float, np.floating, np.integer))):
            raise InputError(f"patch value {self.value!r}: expected a number or 'src'")
        if self.value != "src":
            object.__setattr__(self, "value", float(self.value))

    def __str__(self) -> str:
        """The command line's form, 1-based: ``L1:c[3]=0.0@5-7`` (steps that are not
        one range are listed with commas, which only the Python API takes)."""
        unit = "*" if self.unit is None else str(self.unit)
        return f"L{self.layer + 1}:{self.quantity}[{unit}]={self.value}@{_steps_text(self.steps)}"


def _steps_text(steps: tuple[int, ...]) -> str:
    if len(steps) == 1:
        return str(steps[0] + 1)
    if steps and steps[-1] - steps[0] + 1 == len(steps):
        return f"{steps[0] + 1}-{steps[-1] + 1}"
    return ",".join(str(k + 1) for k in steps)


# ---------------------------------------------------------------------------
# The shape of a level: its directions and the width of each quantity


def _check_quantity(model: Model, q: str) -> None:
    valid = QUANTITIES[model.cell]
    if q not in valid:
        raise InputError(f"quantity {q!r} out of range: expected one of {' '.join(valid)} ({model.cell})")


# ---------------------------------------------------------------------------
# Activations (ONNX's names) and one step computed from its products


def _activations(layer) -> tuple:
    """The layer's activation functions (LSTM f, g, h; GRU f, g; RNN f), from ``cells``."""
    return tuple(_act(a) for a in activations_of(layer))


def _derivative(layer, k: int):
    """The derivative of the layer's k-th activation with respect to its argument."""
    name, alpha, beta = activations_of(layer)[k]
    d = ACTIVATIONS[name][1]
    return lambda a: d(a, alpha, beta)


def _clip(layer, a: np.ndarray) -> np.ndarray:
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
        act_f, act_g, act_h = _activations(layer)
        a = _clip(layer, xW + layer.b_ih + hW + layer.b_hh)  # (…, 4H)
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
        act_f, act_g = _activations(layer)
        ax = xW + layer.b_ih  # (…, 3H)
        r = put("r", act_f(_clip(layer, ax[..., 0:H] + hW[..., 0:H] + layer.b_hh[0:H])))
        z = put("z", act_f(_clip(layer, ax[..., H : 2 * H] + hW[..., H : 2 * H] + layer.b_hh[H : 2 * H])))
        if layer.linear_before_reset:
            rh = r * (hW[..., 2 * H :] + layer.b_hh[2 * H :])  # r ⊙ (W_hn h + b_hn)
        else:
            hn = (r * h_prev) @ layer.W_hh[2 * H :].T  # W_hn (r ⊙ h): the n block of hW (see cells)
            hW = np.concatenate([np.broadcast_to(hW[..., : 2 * H], hn.shape[:-1] + (2 * H,)), hn], axis=-1)
            rec["hW"] = hW
            rh = hn + layer.b_hh[2 * H :]
        n = put("n", act_g(_clip(layer, ax[..., 2 * H :] + rh)))
        put("h", (1 - z) * n + z * h_prev)  # h = (1 - z) ⊙ n + z ⊙ h_prev
    else:
        (act,) = _activations(layer)
        put("h", act(_clip(layer, xW + layer.b_ih + hW + layer.b_hh)))
    return rec


# ---------------------------------------------------------------------------
# Patches resolved to (level, direction) -> step -> q -> [(index, values)]


def _plan(model: Model, clean: Trace, patches: Sequence[Patch], source: Trace | None) -> dict:
    T = clean.steps
    plan: dict = {}
    for p in patches:
        L = model.num_layers
        if not 0 <= p.layer < L:
            raise InputError(f"patch {p}: layer {p.layer + 1} out of range: expected a layer from 1 to {L}")
        _check_quantity(model, p.quantity)
        level = model.layers[p.layer]
        W = level_width(level, p.quantity)
        if p.unit is not None and not 0 <= p.unit < W:
            raise InputError(
                f"patch {p}: unit {p.unit} out of range: {p.quantity} of layer {p.layer + 1} has units 0 to {W - 1}"
            )
        if not p.steps:
            raise InputError(f"patch {p}: no steps")
        if p.steps[0] < 0 or p.steps[-1] >= T:
            bad = p.steps[0] if p.steps[0] < 0 else p.steps[-1]
            raise InputError(f"patch {p}: step {bad + 1} out of range: expected a step from 1 to {T}")
        if p.value == "src":
            if source is None:
                raise InputError(f"patch {p}: the value src needs a source input")
            if p.steps[-1] >= source.steps:
                raise InputError(
                    f"patch {p}: step {p.steps[-1] + 1} is past the source's length ({source.steps} steps)"
                )
        dirs = directions(level)
        w = W // len(dirs)  # one direction's width
        for d in range(len(dirs)):
            lo, hi = d * w, (d + 1) * w
            if p.unit is not None and not lo <= p.unit < hi:
                continue
            cols = slice(None) if p.unit is None else p.unit - lo
            for k in p.steps:
                if p.value == "src":
                    row = source.states[p.quantity][p.layer][k]
                    vals = row[lo:hi] if p.unit is None else row[p.unit]
                else:
                    vals = p.value
                plan.setdefault((p.layer, d), {}).setdefault(k, {}).setdefault(p.quantity, []).append((cols, vals))
    return plan


# ---------------------------------------------------------------------------
# The patched run


def _fresh(arr):
    """A writable copy of one trace field: an (L, …) array or a list of per-level arrays."""
    if arr is None:
        return None
    if isinstance(arr, np.ndarray):
        return arr.copy()
    return [a.copy() for a in arr]


def intervene(
    model: Model,
    inputs,
    patches: Sequence[Patch],
    source=None,
    *,
    base: Trace | None = None,
    base_patches: Sequence[Patch] = (),
) -> Trace:
    """Run ``model`` on ``inputs`` with ``patches`` applied; returns the patched run's :class:`Trace`.

    ``inputs`` is the clean :class:`Trace` of the input (its states up to the
    first patched step are reused) or anything :meth:`Model.trace` takes.
    ``source`` (a Trace or inputs) is the input that ``"src"`` values come
    from. Non-finite values a patch causes are kept as NaN or ±inf (see
    :func:`nonfinite`), never raised. Refuses, with an :class:`InputError`, a
    layer, quantity, unit or step out of range, and src without a source or
    past its length.

    ``base``, the result of an earlier call on the same inputs and source with
    ``base_patches``, lets a patch be added or removed cheaply: a model that
    reads forwards is then recomputed only from the first step of the patches
    that differ (the app's patch list; not copied, never changed).
    """
    from .checkpoint import CheckpointedTrace

    if isinstance(inputs, CheckpointedTrace):
        raise InputError("this sequence is kept as checkpoints (it is long): patch a full trace of it, or a part of it")
    clean = inputs if isinstance(inputs, Trace) else model.trace(inputs)
    src = None
    if source is not None:
        src = source if isinstance(source, Trace) else model.trace(source)
    patches = list(patches)
    plan = _plan(model, clean, patches, src)
    if not plan:
        return clean
    start, forced = clean, {}  # the trace whose states are right before each level's first affected step
    if base is not None and base.steps == clean.steps and not model.bidirectional:
        old = list(base_patches)
        differ = [p for p in patches if p not in old] + [p for p in old if p not in patches]
        if not differ:
            return base
        for p in differ:  # a level must be recomputed from the first step a differing patch held at
            forced[(p.layer, 0)] = min(forced.get((p.layer, 0), p.steps[0]), p.steps[0])
        floor = min(forced.values())
        plan = {key: {k: v for k, v in steps.items() if k >= floor} for key, steps in plan.items()}
        start = base
    T = clean.steps
    states = {q: _fresh(v) for q, v in start.states.items()}
    hW = _fresh(start.hW)
    # the first level's input never changes, so neither does its xW: a model of one
    # level shares the clean xW, a deeper one copies it for the levels above
    xW = _fresh(start.xW) if model.num_layers > 1 else start.xW
    changed = None  # (lo, hi): positions where the current level's input differs from `start`
    with np.errstate(all="ignore"):
        for n, level in enumerate(model.layers):
            x_in = clean.x if n == 0 else states["h"][n - 1]  # (T, E) this level's input, patched below
            out = None
            dirs = directions(level)
            for d, layer in enumerate(dirs):
                steps = plan.get((n, d), {})
                starts = list(steps)
                if (n, d) in forced:
                    starts.append(forced[(n, d)])
                if changed is not None:
                    starts.append(changed[1] if layer.reverse else changed[0])
                if not starts:
                    continue
                first = max(starts) if layer.reverse else min(starts)
                _rerun(start, n, d, layer, first, x_in, steps, states, xW, hW)
                span = (0, first) if layer.reverse else (first, T - 1)
                out = span if out is None else (min(out[0], span[0]), max(out[1], span[1]))
            changed = out
    logits, y = start.logits, start.y
    if changed is not None and model.head_W is not None:
        lo, hi = changed
        logits, y = logits.copy(), y.copy()
        with np.errstate(all="ignore"):
            logits[lo : hi + 1] = states["h"][-1][lo : hi + 1] @ model.head_W.T + model.head_b  # (…, V)
            y[lo : hi + 1] = softmax(logits[lo : hi + 1])
    return dataclasses.replace(start, states=states, xW=xW, hW=hW, logits=logits, y=y)


#: The fewest unpatched steps in a row that go through ``cells.run`` (whose set-up
#: reorders the weights) rather than one :func:`cell_step` each.
RUN_MIN = 64


def _rerun(clean, n, d, layer, first, x_in, steps, states, xW, hW) -> None:
    """Recompute direction d of level n from position ``first`` on, in its reading order,
    writing into the patched arrays."""
    T = clean.steps
    G = GATES[layer.cell]
    H, P = layer.hidden_size, layer.output_size
    order = list(range(first, -1, -1)) if layer.reverse else list(range(first, T))
    qs = QUANTITIES[layer.cell]
    h = np.array(clean.state_before("h", n, first)[d * P : (d + 1) * P])  # (P,) state before `first` in reading order
    c = None
    if layer.cell == "lstm":
        c = np.array(clean.state_before("c", n, first)[d * H : (d + 1) * H])  # (H,)
    plain = dataclasses.replace(layer, reverse=False) if layer.reverse else layer  # fed in reading order

    def cols(q):
        w = P if q == "h" else H
        return slice(d * w, (d + 1) * w)

    blk = slice(d * G * H, (d + 1) * G * H)  # this direction's block of xW and hW

    def write(positions, rec):
        for q in qs:
            states[q][n][positions, cols(q)] = rec[q]
        if n > 0:  # level 0 keeps the clean run's own products of the same input
            xW[n][positions, blk] = rec["xW"]
        hW[n][positions, blk] = rec["hW"]

    i = 0
    while i < len(order):
        j = i
        while j < len(order) and order[j] not in steps:
            j += 1
        if j - i >= RUN_MIN:  # a long stretch without patches: the clean fast loop
            seg = np.array(order[i:j])  # positions in reading order
            rec = run(plain, x_in[seg], h, c)
            write(seg, rec)
            h = rec["h"][-1].copy()
            c = None if c is None else rec["c"][-1].copy()
            i = j
            continue
        pos = order[i]  # a patched step, or one of a short stretch (run's set-up would cost more)
        xW_t = clean.xW[0][pos, blk] if n == 0 else layer.W_ih @ x_in[pos]  # the first level's input is the clean one
        rec = cell_step(layer, xW_t, layer.W_hh @ h, h, c, steps.get(pos))
        write(pos, rec)
        h, c = rec["h"], rec.get("c")
        i += 1


# ---------------------------------------------------------------------------
# Reading patched runs: differences, top-k changes, non-finite values


def difference(after: Trace, before: Trace) -> Trace:
    """A trace of ``after - before`` for every quantity, product, input and the head's
    logits and probabilities (``y``), over the steps both have: what the app's Δ mode
    (patched - clean) and diff mode (source - main) draw. Labels are ``after``'s."""
    T = min(after.steps, before.steps)

    def levels(a, b):
        if isinstance(a, np.ndarray):
            return a[:, :T] - b[:, :T]
        return [x[:T] - y[:T] for x, y in zip(a, b)]

    def initial(a, b):  # (L, W) or a list of (W_l,)
        if a is None:
            return None
        return a - b if isinstance(a, np.ndarray) else [x - y for x, y in zip(a, b)]

    def rows(a, b):
        return None if a is None or b is None else a[:T] - b[:T]

    cut = after.window(0, T)
    with np.errstate(all="ignore"):
        return dataclasses.replace(
            cut,
            states={q: levels(after.states[q], before.states[q]) for q in after.states},
            xW=levels(after.xW, before.xW),
            hW=levels(after.hW, before.hW),
            x=rows(after.x, before.x),
            h0=initial(after.h0, before.h0),
            c0=initial(after.c0, before.c0),
            logits=rows(after.logits, before.logits),
            y=rows(after.y, before.y),
        )


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, in float64."""
    a = np.asarray(logits, dtype=np.float64)
    with np.errstate(all="ignore"):  # NaN or inf logits (a patch's doing) give NaN, quietly
        m = np.max(a, axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        return a - m - np.log(np.sum(np.exp(a - m), axis=-1, keepdims=True))


@dataclass(frozen=True)
class TokenChange:
    """One token's probability before and after an intervention, at one step."""

    id: int  # vocabulary id
    label: str  # the token as text, or #id without a vocabulary
    p_before: float
    p_after: float
    dlogp: float  # log p_after - log p_before


def top_k_change(model: Model, clean: Trace, patched: Trace, k: int, top: int = 5) -> list[TokenChange]:
    """The ``top`` most likely next tokens of the patched run at 0-based step k, each
    with its probability in the clean run and the change in log-probability."""
    if clean.logits is None:
        raise InputError(f"model {model.name!r} has no output head")
    before = log_softmax(clean.logits[k])  # (V,)
    after = log_softmax(patched.logits[k])  # (V,)
    key = np.where(np.isnan(after), -np.inf, after)
    ids = np.argsort(-key, kind="stable")[:top]
    out = []
    for v in ids.tolist():
        out.append(
            TokenChange(v, token_label(model, v), math.exp(before[v]), math.exp(after[v]), float(after[v] - before[v]))
        )
    return out


def token_label(model: Model, v: int) -> str:
    return model.vocab[v] if model.vocab is not None and v < len(model.vocab) else f"#{v}"


def nonfinite(trace: Trace) -> list[str]:
    """One line per quantity and level that holds NaN or ±inf: where it first appears (steps 1-based)."""
    lines = []
    for q, levels in trace.states.items():
        for n in range(len(levels)):
            bad = ~np.isfinite(levels[n])
            if bad.any():
                k = int(np.argmax(bad.any(axis=1)))
                lines.append(f"{q} of layer {n + 1} is not finite from step {k + 1}")
    if trace.y is not None and trace.steps:
        bad = ~np.isfinite(trace.y)
        if bad.any():
            lines.append(f"y is not finite from step {int(np.argmax(bad.any(axis=1))) + 1}")
    return lines


# ---------------------------------------------------------------------------
# The effect map


#: About how many patched copies the exact effect map advances together (rows of its matrices).
GROUP_ROWS = 2048


def find_token(model: Model, token: str | int) -> int:
    """The vocabulary id of a token given as its text (or as an id when the text is no token)."""
    V = model.head_W.shape[0]
    if isinstance(token, (int, np.integer)):
        v = int(token)
    elif model.vocab is not None and token in model.vocab:
        return model.vocab.index(token)
    else:
        try:
            v = int(token.removeprefix("#"))
        except ValueError:
            raise InputError(f"token {token!r} is not in the vocabulary of {model.name!r}") from None
    if not 0 <= v < V:
        raise InputError(f"token id {v} out of range: expected 0 to {V - 1}")
    return v


class EffectMap:
    """log p_patched(token at step k) - log p_clean(token at step k), for every
    step s ≤ k and unit j, when Q[j] at step s alone is set to ``value``.

    ``effect`` (T, W) is filled a row at a time by :meth:`rows` (NaN until a
    row is done; rows after k stay 0, as a later step cannot reach step k in a
    forward model); :meth:`estimate` gives the whole map at once from one
    backward pass. All 0-based: ``layer`` a stack level, ``step`` the target
    step k, ``token`` a vocabulary id (default: the clean run's top-1 at k).

    The exact rows advance the W patched copies of a step together as the
    rows of (W, ·) matrices in the model's dtype (float32 for the demos), from
    step s to step k only; the log-probabilities are taken in float64. A model
    with a reverse direction is done one patched run per cell (its later steps
    reach step k too, so every row is computed).
    """

    def __init__(self, model: Model, clean: Trace, quantity: str, layer: int, value: float | str, step: int,
                 token: int | str | None = None, source=None):
        if model.head_W is None or clean.logits is None:
            raise InputError(f"the effect map needs a model with an output head; {model.name!r} has none")
        _check_quantity(model, quantity)
        L, T = model.num_layers, clean.steps
        if not 0 <= layer < L:
            raise InputError(f"layer {layer + 1} out of range: expected a layer from 1 to {L}")
        if not 0 <= step < T:
            raise InputError(f"step {step + 1} out of range: expected a step from 1 to {T}")
        self.model, self.clean, self.quantity, self.layer, self.step = model, clean, quantity, layer, step
        if not (value == "src" or isinstance(value, (int, float, np.floating, np.integer))):
            raise InputError(f"value {value!r}: expected a number or 'src'")
        self.value = value if value == "src" else float(value)
        self.source = None
        self.causal = not model.bidirectional
        last = step if self.causal else T - 1  # the last row that can differ from 0
        if value == "src":
            if source is None:
                raise InputError("the value src needs a source input")
            self.source = source if isinstance(source, Trace) else model.trace(source)
            if self.source.steps <= last:
                raise InputError(
                    f"src: the source has {self.source.steps} steps, the map needs {last + 1} (up to step {last + 1})"
                )
        lp = log_softmax(clean.logits[step])
        self.token = int(np.argmax(lp)) if token is None else find_token(model, token)
        self.clean_logp = float(lp[self.token])
        self.width = level_width(model.layers[layer], quantity)  # W, units of the map
        self.last = last
        self.effect = np.zeros((T, self.width))  # (T, W) float64
        self.effect[: last + 1] = np.nan
        self.done = np.zeros(T, dtype=bool)  # rows computed
        self.done[last + 1 :] = True
        self._cancelled = False  # set by cancel(), read between time steps

    @property
    def label(self) -> str:
        return token_label(self.model, self.token)

    def values(self, s: int) -> np.ndarray:
        """The value each unit is set to at step s, (W,)."""
        if self.value == "src":
            return np.asarray(self.source.states[self.quantity][self.layer][s], dtype=self.model.dtype)
        return np.full(self.width, self.value, dtype=self.model.dtype)

    @property
    def fraction(self) -> float:
        """The share of the work done, rows weighted by the steps they run."""
        cost = np.array([self._cost(s) for s in range(self.last + 1)], dtype=float)
        return float(cost[self.done[: self.last + 1]].sum() / cost.sum()) if cost.sum() else 1.0

    def _cost(self, s: int) -> int:
        return (self.step - s + 1) if self.causal else self.clean.steps

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    def rows(self) -> Iterator[int]:
        """Compute the exact rows, those nearest the target step first; yields each row's
        0-based step once it is in ``effect``. Stop iterating to cancel: the rows done stay.

        The copies of several steps (about ``GROUP_ROWS`` copies) advance together, so
        rows arrive a group at a time."""
        self._cancelled = False
        todo = [s for s in range(self.last, -1, -1) if not self.done[s]]
        per = max(1, GROUP_ROWS // max(1, self.width)) if self.causal else 1
        for g in range(0, len(todo), per):
            group = sorted(todo[g : g + per])
            with np.errstate(all="ignore"):
                block = self._group(group) if self.causal else [self._row_one_by_one(s) for s in group]
            if block is None or any(row is None for row in block):  # cancelled inside the group: its rows stay undone
                return
            for s, row in zip(group, block):
                self.effect[s] = row
                self.done[s] = True
            yield from reversed(group)

    def run(self, progress=None) -> np.ndarray:
        """Every exact row; ``progress(fraction)`` after each, which may return True to stop."""
        for _ in self.rows():
            if progress is not None and progress(self.fraction):
                break
        return self.effect

    def cancel(self) -> None:
        """Stop :meth:`rows` at its next time step (safe to call from another thread)."""
        self._cancelled = True

    def _row_one_by_one(self, s: int) -> np.ndarray | None:
        out = np.empty(self.width)
        for j in range(self.width):
            if self._cancelled:
                return None
            patch = Patch(self.layer, self.quantity, j, (s,), self.value)
            tr = intervene(self.model, self.clean, [patch], self.source)
            out[j] = log_softmax(tr.logits[self.step])[self.token] - self.clean_logp
        return out

    def _group(self, steps: list[int]) -> np.ndarray:
        """The rows of ``steps`` (ascending), (len(steps), W): the W copies of each step
        (copy j with unit j set at that step alone), advanced together as the rows of
        one matrix per level from the first of the steps to the target step k.

        Copy rows join when the time reaches their step, starting from the clean state;
        levels below the patched one are clean and read from the trace."""
        model, clean, N, k = self.model, self.clean, self.layer, self.step
        B = self.width
        levels = range(N, model.num_layers)
        R = len(steps) * B  # every copy of the group; the first `active` rows are running
        h = [np.empty((R, model.width("h", n)), dtype=model.dtype) for n in levels]  # (R, P) per level
        c = [np.empty((R, model.width("c", n)), dtype=model.dtype) if model.cell == "lstm" else None for n in levels]
        W_ihT = [np.ascontiguousarray(model.layers[n].W_ih.T) for n in levels]  # (E, G*H)
        W_hhT = [np.ascontiguousarray(model.layers[n].W_hh.T) for n in levels]  # (P, G*H)
        units = np.arange(B)
        fast = all(is_plain(model.layers[n]) for n in levels)
        plain = [_PlainRows(model.layers[n], R) for n in levels] if fast else None
        active = 0
        for t in range(steps[0], k + 1):
            if self._cancelled:
                return None
            sets = None
            if t in steps:  # this step's copies join, from the clean state before t
                new = np.arange(active, active + B)
                for m, n in enumerate(levels):
                    h[m][new] = clean.state_before("h", n, t)
                    if c[m] is not None:
                        c[m][new] = clean.state_before("c", n, t)
                sets = {self.quantity: [((new, units), self.values(t))]}
                active += B
            below = None
            for m, n in enumerate(levels):
                layer = model.layers[n]
                hm = h[m][:active]
                cm = None if c[m] is None else c[m][:active]
                if fast:
                    plain[m].step(clean.xW[n][t] if below is None else below, hm, cm, sets if m == 0 else None)
                else:
                    # the clean input's xW (G*H,) at the patched level, the copies' (active, G*H) above it
                    xW = clean.xW[n][t] if below is None else below @ W_ihT[m]
                    rec = cell_step(layer, xW, hm @ W_hhT[m], hm, cm, sets if m == 0 else None, batch=active)
                    hm[...] = rec["h"]
                    if cm is not None:
                        cm[...] = rec["c"]
                below = hm
        logits = h[-1] @ model.head_W.T + model.head_b  # (R, V)
        return (log_softmax(logits)[:, self.token] - self.clean_logp).reshape(len(steps), B)

    def estimate(self) -> np.ndarray:
        """The map from one backward pass: dlogp/dQ[j] at step s × (value - clean Q[j] at s), (T, W).

        dlogp/dQ treats Q as set (the rest of its step recomputed from it), like the patch:
        LSTM dL/di = dc ⊙ g, dL/df = dc ⊙ c_prev, dL/dg = dc ⊙ i, dL/do = dh' ⊙ tanh(c)
        (dh' = W_hrᵀ dh with a projection), dL/dc = dc, dL/dh = dh, with dc, dh the
        total gradients; GRU dL/dz = dh ⊙ (h_prev - n), dL/dn = dh ⊙ (1 - z),
        dL/dr = dL/dn ⊙ g'(·) ⊙ (W_hn h + b_hn)."""
        from .gradients import target_gradients

        model, clean, N, q = self.model, self.clean, self.layer, self.quantity
        k = self.last
        _, _, grads = target_gradients(model, clean, self.token, self.step)
        rows = min(k + 1, grads.h[N].shape[0])
        s = self.clean.states
        dh = np.asarray(grads.h[N][:rows], dtype=np.float64)  # (rows, P)
        dc = None if grads.c is None else np.asarray(grads.c[N][:rows], dtype=np.float64)
        level = model.layers[N]
        get = lambda name: np.asarray(s[name][N][:rows], dtype=np.float64)  # noqa: E731
        if q == "h":
            d = dh
        elif q == "c":
            d = dc
        elif q in "ifg" and model.cell == "lstm":
            other = {"i": get("g"), "f": _prev(clean, "c", N, rows), "g": get("i")}[q]
            d = dc * other
        elif q == "o":
            c = get("c")
            parts = []
            for dn, layer in enumerate(directions(level)):
                H, P = layer.hidden_size, layer.output_size
                dhp = dh[:, dn * P : (dn + 1) * P]
                if layer.W_hr is not None:
                    dhp = dhp @ layer.W_hr  # through h = W_hr m
                parts.append(dhp * _activations(layer)[2](c[:, dn * H : (dn + 1) * H]))
            d = np.concatenate(parts, axis=1)
        else:  # GRU r z n
            z, n_ = get("z"), get("n")
            dn = dh * (1 - z)
            if q == "n":
                d = dn
            elif q == "z":
                d = dh * (_prev(clean, "h", N, rows) - n_)
            else:
                d = self._gru_dr(dn, rows)
        delta = np.stack([self.values(t) for t in range(rows)]).astype(np.float64) - get(q)
        out = np.zeros_like(self.effect)
        with np.errstate(all="ignore"):
            out[:rows] = d * delta
        return out

    def _gru_dr(self, dn: np.ndarray, rows: int) -> np.ndarray:
        """dL/dr of a GRU level: through n = g(ax_n + r ⊙ ah_n) (or W_hn (r ⊙ h) + b_hn)."""
        clean, N = self.clean, self.layer
        parts = []
        for d, layer in enumerate(directions(self.model.layers[N])):
            H = layer.hidden_size
            x_in = clean.layer_input(N)[:rows].astype(np.float64)  # (rows, E)
            h_prev = _prev(clean, "h", N, rows)[:, d * H : (d + 1) * H]
            r = np.asarray(clean.states["r"][N][:rows, d * H : (d + 1) * H], dtype=np.float64)
            W_hn, b_hn = layer.W_hh[2 * H :].astype(np.float64), layer.b_hh[2 * H :].astype(np.float64)
            ax_n = x_in @ layer.W_ih[2 * H :].T.astype(np.float64) + layer.b_ih[2 * H :]
            lbr = layer.linear_before_reset
            rh = r * (h_prev @ W_hn.T + b_hn) if lbr else (r * h_prev) @ W_hn.T + b_hn
            pre = ax_n + rh
            gprime = _derivative(layer, 1)(_clip(layer, pre))  # g'(pre), 0 where the clip holds it
            if layer.clip is not None:
                gprime = gprime * (np.abs(pre) < layer.clip)
            dpre = dn[:, d * H : (d + 1) * H] * gprime
            parts.append(dpre * (h_prev @ W_hn.T + b_hn) if lbr else (dpre @ W_hn) * h_prev)
        return np.concatenate(parts, axis=1)


def _prev(trace: Trace, q: str, n: int, rows: int) -> np.ndarray:
    """The state before each of the first ``rows`` steps, (rows, W) float64."""
    return np.stack([trace.state_before(q, n, t) for t in range(rows)]).astype(np.float64)


class _PlainRows:
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


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two arrays (finite pairs only; ties get their mean rank)."""
    a, b = np.ravel(a), np.ravel(b)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 2:
        return float("nan")
    ra, rb = _ranks(a), _ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / den) if den else float("nan")


def _ranks(a: np.ndarray) -> np.ndarray:
    order = np.argsort(a, kind="stable")
    ranks = np.empty(a.size)
    ranks[order] = np.arange(a.size)
    _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return sums[inv] / counts[inv]


# ---------------------------------------------------------------------------
# The command line's form of a patch: [L<n>:]Q[J]=V@S


class PatchSyntaxError(InputError):
    """A ``--set`` that does not parse or does not fit the model: one line
    ``--set "TEXT": reason``. ``column`` is the bad character's 0-based column in
    the text, ``offset`` its column in the message (where the command line puts
    its caret), and :meth:`caret` draws text and caret for a UI, like
    ``syntax.ExpressionError``."""

    def __init__(self, option: str, text: str, column: int, reason: str):
        head = f'{option} "'
        super().__init__(f'{head}{inert(text)}": {reason}')
        self.option, self.text, self.column, self.reason = option, text, column, reason
        self.offset = len(head) + len(inert(text[:column]))

    def caret(self) -> str:
        """Two lines for a UI: the text, and a caret under the offending column."""
        line = "".join(ch if ch.isprintable() else " " for ch in self.text)
        return f"{line}\n{' ' * self.column}^"


#: A number as --set takes it: decimal, optional exponent, or inf / nan.
NUMBER = re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE)
_INT = re.compile(r"\d+")
_NAME = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class PatchText:
    """A parsed ``[L<n>:]Q[J]=V@S`` before it is checked against a model:
    numbers as written (layer and steps 1-based), each part's column kept for messages."""

    text: str
    layer: int  # 1-based, 1 when not given
    quantity: str
    unit: int | None  # None for *
    first: int | None  # 1-based first step, None for *
    last: int | None  # 1-based last step, None for *
    value: float | str
    columns: dict  # part -> column: "layer", "quantity", "unit", "value", "steps"


def parse_patch_text(text: str, option: str = "--set") -> PatchText:
    """Parse ``[L<n>:]Q[J]=V@S`` exactly as the command line contract says:
    layer n from 1 (default 1); J a unit from 0 or ``*``; V a number or ``src``;
    S a step from 1, ``A-B`` or ``*``. Whitespace between the parts is allowed.
    Raises :class:`PatchSyntaxError` with the column of the first bad character."""
    pos = 0
    cols: dict = {}

    def skip():
        nonlocal pos
        while pos < len(text) and text[pos] in " \t":
            pos += 1

    def fail(reason, at=None):
        raise PatchSyntaxError(option, text, pos if at is None else at, reason)

    def expect(ch, reason):
        nonlocal pos
        skip()
        if not text.startswith(ch, pos):
            fail(reason)
        pos += 1

    def integer(reason):
        nonlocal pos
        skip()
        m = _INT.match(text, pos)
        if not m:
            fail(reason)
        pos = m.end()
        return int(m.group())

    skip()
    layer = 1
    if re.match(r"L\s*\d", text[pos:]):
        pos += 1
        skip()
        cols["layer"] = pos
        layer = integer("expected the layer number after L")
        expect(":", "expected : after the layer number, as in L2:c[0]=0@3")
    skip()
    cols["quantity"] = pos
    m = _NAME.match(text, pos)
    if not m:
        fail("expected [L<n>:] then a quantity name, as in L1:c[0]=0@3")
    quantity = m.group()
    pos = m.end()
    if text[pos : pos + 1] == ":" and quantity.startswith("L"):
        fail("expected a layer number after L, as in L2:", at=cols["quantity"] + 1)
    expect("[", f"expected [J] after the quantity {quantity}: a unit from 0, or *")
    skip()
    cols["unit"] = pos
    if text.startswith("*", pos):
        unit = None
        pos += 1
    else:
        unit = integer("expected a unit (a whole number from 0) or * inside [ ]")
    expect("]", "expected ] after the unit")
    expect("=", "expected = and a value after the unit")
    skip()
    cols["value"] = pos
    if text.startswith("src", pos) and not _NAME.match(text, pos + 3) and not text[pos + 3 : pos + 4].isdigit():
        value: float | str = "src"
        pos += 3
    else:
        m = NUMBER.match(text, pos)
        if not m:
            fail("expected a value: a number or src")
        value = float(m.group())
        pos = m.end()
    expect("@", "expected @ and the steps after the value")
    skip()
    cols["steps"] = pos
    if text.startswith("*", pos):
        first = last = None
        pos += 1
    else:
        first = integer("expected steps: S, A-B (from 1) or *")
        last = first
        skip()
        if text.startswith("-", pos):
            pos += 1
            last = integer("expected the last step of the range A-B")
            if last < first:
                fail(f"the range {first}-{last} is empty: expected A-B with A ≤ B", at=cols["steps"])
    skip()
    if pos != len(text):
        fail("unexpected text after the steps")
    return PatchText(text, layer, quantity, unit, first, last, value, cols)


def parse_patch(text: str, model: Model, steps: int, source_steps: int | None = None, option: str = "--set") -> Patch:
    """A ``--set`` text as a :class:`Patch` for ``model`` on an input of ``steps`` steps
    (and a source of ``source_steps``, None without a source). Everything out of range
    is named with its valid range; raises :class:`PatchSyntaxError`."""
    p = parse_patch_text(text, option)

    def fail(part, reason):
        raise PatchSyntaxError(option, text, p.columns.get(part, 0), reason)

    L = model.num_layers
    if not 1 <= p.layer <= L:
        fail("layer", f"layer {p.layer} out of range: expected a layer from 1 to {L}")
    valid = QUANTITIES[model.cell]
    if p.quantity not in valid:
        fail("quantity", f"quantity {p.quantity!r} out of range: expected one of {' '.join(valid)} ({model.cell})")
    W = level_width(model.layers[p.layer - 1], p.quantity)
    if p.unit is not None and not 0 <= p.unit < W:
        fail("unit", f"unit {p.unit} out of range: {p.quantity} of layer {p.layer} has units 0 to {W - 1} (or *)")
    if steps == 0:
        fail("steps", "the input has no steps to patch")
    first, last = (1, steps) if p.first is None else (p.first, p.last)
    for k in (first, last):
        if not 1 <= k <= steps:
            fail("steps", f"step {k} out of range: expected a step from 1 to {steps} (or *)")
    if p.value == "src":
        if source_steps is None:
            fail("value", "src needs a source input: give --source-text or --source-inputs")
        if last > source_steps:
            fail("value", f"src at step {last} is past the source's length ({source_steps} steps)")
    return Patch(p.layer - 1, p.quantity, p.unit, range(first - 1, last), p.value)


def prompt_patch(
    text: str,
    model: Model,
    layer: int,
    quantity: str,
    unit: int | None,
    k: int,
    steps: int,
    source_steps: int | None = None,
) -> Patch:
    """The app's prompt: ``V`` (a number or src) for the selected unit at the current
    0-based step k, or ``V@S`` with S as on the command line (``S``, ``A-B``, ``*``,
    from 1) for other steps. Raises :class:`PatchSyntaxError` (option ``value``)."""
    value = text.strip()
    if "@" not in value:
        value += f"@{k + 1}"
    head = f"L{layer + 1}:{quantity}[{'*' if unit is None else unit}]="
    try:
        return parse_patch(head + value, model, steps, source_steps, option="value")
    except PatchSyntaxError as exc:
        lead = len(text) - len(text.lstrip())
        column = min(len(text), max(0, exc.column - len(head)) + lead)
        raise PatchSyntaxError("value", text, column, exc.reason) from None
