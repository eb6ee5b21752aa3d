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

Beside this module: :mod:`.patches` (the :class:`Patch` record and its
``--set`` text), :mod:`.patched_step` (one step with patches applied, and the
effect map's rows of copies), :mod:`.outcomes` (what a patched run changed).
Their public names are importable from here as well.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator, Sequence

import numpy as np

from .cells import GATES, QUANTITIES, is_plain, run
from .errors import InputError, clip, int_argument, whole_number
from .model import Model, directions, level_width, probabilities

# The interventions API stays importable from here: a patch and its text (patches.py), what a patched
# run changed (outcomes.py).
from .outcomes import TokenChange, difference, log_probabilities, log_softmax, names_outputs, nonfinite, token_label, top_k_change  # noqa: F401
from .patched_step import PlainRows, activation_functions, cell_step, clipped, derivative
from .patches import NUMBER, Patch, PatchSyntaxError, parse_patch, parse_patch_text, patch_list, patch_value, prompt_patch, unknown_quantity  # noqa: F401
from .pooling import Copies, Pool
from .run_checks import check_fits, model_argument, run_argument
from .trace import Trace, mark_run, run_of, trace_argument

# ---------------------------------------------------------------------------
# The shape of a level: its directions and the width of each quantity


def _check_quantity(model: Model, q: str) -> None:
    if why := unknown_quantity(q, model.cell):
        raise InputError(why)


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
    that differ (the app's patch list; not copied, never changed). A base made
    from another clean Trace is not read (the whole run is recomputed), nor its
    src values when ``source`` is another Trace than its own.
    """
    from .checkpoint import CheckpointedTrace

    if isinstance(inputs, CheckpointedTrace):
        raise InputError("this sequence is kept as checkpoints (it is long): patch a full trace of it, or a part of it")
    model = model_argument(model)
    clean, src = run_argument(model, inputs, "inputs"), None if source is None else run_argument(model, source, "source")
    patches, base_patches = patch_list(patches), patch_list(base_patches, "base_patches")
    base = None if base is None else trace_argument(base, "base")
    plan = _plan(model, clean, patches, src)
    if not plan:
        return clean
    start, forced = clean, {}  # the trace whose states are right before each level's first affected step
    made_of, made_with = run_of(base)
    if base is not None and made_of is clean and not model.bidirectional:  # (a run of another input: its rows differ)
        differ = _differ(patches, base_patches, made_with is src)
        if not differ:
            return base
        for p in differ:  # a level must be recomputed from the first step a differing patch held at
            forced[(p.layer, 0)] = min(forced.get((p.layer, 0), p.steps[0]), p.steps[0])
        floor = min(forced.values())
        plan = {key: {k: v for k, v in steps.items() if k >= floor} for key, steps in plan.items()}
        start = base
    states = {q: _fresh(v) for q, v in start.states.items()}
    hW = _fresh(start.hW)
    # the first level's input never changes, so neither does its xW: a model of one
    # level shares the clean xW, a deeper one copies it for the levels above
    xW = _fresh(start.xW) if model.num_layers > 1 else start.xW
    changed = _propagate(model, clean, start, plan, forced, states, xW, hW)
    logits, y = start.logits, start.y
    if changed is not None and model.head_W is not None:
        logits, y = logits.copy(), y.copy()
        _head(model, states, logits, y, changed, start.pool)
    return mark_run(dataclasses.replace(start, states=states, xW=xW, hW=hW, logits=logits, y=y), clean, src)


def _differ(patches: Sequence[Patch], old: Sequence[Patch], same_source: bool) -> list[Patch]:
    """The patches in one list and not the other; and each src patch, for a run made with another source."""
    differ = [p for p in patches if p not in old] + [p for p in old if p not in patches]
    return differ + ([] if same_source else [p for p in (*patches, *old) if p.value == "src" and p not in differ])


def _propagate(model: Model, clean: Trace, start: Trace, plan: dict, forced: dict, states, xW, hW):
    """Recompute, level by level, each direction from its first affected step: a patched step
    of ``plan``, ``forced[(level, direction)]``, or where the level's input changed below.
    ``start``'s rows are those before; ``states``, ``xW`` and ``hW`` are written. Returns the
    (first, last) positions where the top level changed, or None."""
    T = clean.steps
    changed = None  # (lo, hi): positions where the current level's input differs from `start`
    with np.errstate(all="ignore"):
        for n, level in enumerate(model.layers):
            x_in = clean.x if n == 0 else states["h"][n - 1]  # (T, E) this level's input, patched below
            out = None
            for d, layer in enumerate(directions(level)):
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
    return changed


def _head(model: Model, states, logits: np.ndarray, y: np.ndarray, changed: tuple[int, int], pool: Pool | None) -> None:
    """The output head's logits and y at positions ``changed`` (first, last) and, for a pooling head
    (``pool`` the trace's own before its step 0), at every later one, written in place."""
    lo, hi = changed
    h = states["h"][-1]
    if pool is not None:  # the pool at a changed position carries the change to every later one
        hi, pool = len(h) - 1, pool.after(h[:lo])
    with np.errstate(all="ignore"):
        logits[lo : hi + 1] = model.head_logits(h[lo : hi + 1], pool)  # (…, V)
        y[lo : hi + 1] = probabilities(logits[lo : hi + 1])


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
# The effect map


#: About how many patched copies the exact effect map advances together (rows of its matrices).
GROUP_ROWS = 2048


_ID = re.compile(r"#?[+-]?\d+", re.ASCII)  # an output id, 3 or #3, in ASCII digits


def find_token(model: Model, token: str | int) -> int:
    """The output id of a token given as its text (or as an id: 3 or #3, when the text is no token)."""
    V = model.head_W.shape[0]
    if not isinstance(token, str):
        v = int_argument(token, "token", "a token's text or an output id (a whole number)")
    elif names_outputs(model) and token in model.vocab:
        return model.vocab.index(token)
    elif _ID.fullmatch(token):
        v = whole_number(token.removeprefix("#"))  # (5,000 digits: out of range, not int()'s ValueError)
    elif model.vocab is not None and not names_outputs(model):
        raise InputError(f"token '{clip(token)}': the {V} outputs of {model.name!r} are classes, not the vocabulary's "
                         f"tokens: give a class id from 0 to {V - 1}, as #{V - 1}")
    else:
        raise InputError(f"token '{clip(token)}' is not in the vocabulary of {model.name!r}")
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
        model, clean = model_argument(model), trace_argument(clean, "clean")
        check_fits(model, clean, "clean")
        if model.head_W is None or clean.logits is None:
            raise InputError(f"the effect map needs a model with an output head; {model.name!r} has none")
        _check_quantity(model, quantity)
        L, T = model.num_layers, clean.steps
        layer = int_argument(layer, "layer", f"a 0-based layer from 0 to {L - 1}", 0, L - 1)  # (the app and the
        steps = f"a 0-based step from 0 to {T - 1}" if T else "a 0-based step (clean has no steps)"  # CLI count from 1)
        step = int_argument(step, "step", steps, 0, T - 1)
        self.model, self.clean, self.quantity, self.layer, self.step = model, clean, quantity, layer, step
        self.value = value = patch_value(value, "value")
        self.source = None
        self.causal = not model.bidirectional
        last = step if self.causal else T - 1  # the last row that can differ from 0
        if value == "src":
            if source is None:
                raise InputError("the value src needs a source input")
            self.source = run_argument(model, source, "source")
            if self.source.steps <= last:
                raise InputError(
                    f"src: the source has {self.source.steps} steps, the map needs {last + 1} (up to step {last + 1})"
                )
        lp = log_probabilities(clean.logits[step])
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
        if progress is not None and not callable(progress):
            raise InputError(f"progress {clip(repr(progress))}: expected a function of the fraction done, or None")
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
            out[j] = log_probabilities(tr.logits[self.step])[self.token] - self.clean_logp
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
        plain = [PlainRows(model.layers[n], R) for n in levels] if fast else None
        pool = Copies(clean.pool, clean.states["h"][-1], R) if model.head_pool else None
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
                if pool is not None:
                    pool.join(new, t)
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
            if pool is not None:
                pool.step(h[-1][:active])
        logits = model.logits_of(h[-1] if pool is None else pool.rows(k))  # (R, V)
        return (log_probabilities(logits)[:, self.token] - self.clean_logp).reshape(len(steps), B)

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
                parts.append(dhp * activation_functions(layer)[2](c[:, dn * H : (dn + 1) * H]))
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
            gprime = derivative(layer, 1)(clipped(layer, pre))  # g'(pre), 0 where the clip holds it
            if layer.clip is not None:
                gprime = gprime * (np.abs(pre) < layer.clip)
            dpre = dn[:, d * H : (d + 1) * H] * gprime
            parts.append(dpre * (h_prev @ W_hn.T + b_hn) if lbr else (dpre @ W_hn) * h_prev)
        return np.concatenate(parts, axis=1)


def _prev(trace: Trace, q: str, n: int, rows: int) -> np.ndarray:
    """The state before each of the first ``rows`` steps, (rows, W) float64."""
    return np.stack([trace.state_before(q, n, t) for t in range(rows)]).astype(np.float64)


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


