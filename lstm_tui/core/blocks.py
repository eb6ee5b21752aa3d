"""What the breakpoint language runs on: the names, their values over a block of steps, and the scan.

Not the language itself (``syntax.py`` and ``breakpoints.py``); watches share it. ``names_for`` and
``kind_of`` say which names an expression may use and what each holds. A :class:`Block` gives each
name's value over steps lo..hi-1 of one layer: a per-step number is (n, 1), a per-step vector (n, W)
with W that quantity's width in the layer, a constant a NumPy or Python scalar; so NumPy's broadcasting
pairs a step's number with the same step's vector. Tokens are :class:`Tokens`. Arrays are read layer
first (``states[q][layer]``): layers may differ in width. ``run``, ``holds``, ``test``, ``find_next``
and ``values`` evaluate a compiled expression over blocks of steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .cells import QUANTITIES
from .errors import InputError

_FIRST_BLOCK, _LAST_BLOCK = 64, 65536  # steps in a scan's first and largest block
_GATE_NAMES = frozenset(q for qs in QUANTITIES.values() for q in qs)

#: Token names and the step each reads, relative to the step itself.
TOKEN_SHIFT = {"token": 0, "prev_token": -1, "next_token": 1}
ID_SHIFT = {"token_id": 0, "prev_id": -1, "next_id": 1}
HEAD_NAMES = ("y", "top")  # the names only a model with an output head has


def names_for(cell: str, has_head: bool) -> tuple[str, ...]:
    """Every name an expression may use for this cell kind, in the order messages list them."""
    if cell not in QUANTITIES:
        raise InputError(f"unknown cell {cell!r}: expected one of {', '.join(QUANTITIES)}")
    prev = ("c_prev", "h_prev") if cell == "lstm" else ("h_prev",)
    head = HEAD_NAMES if has_head else ()
    return QUANTITIES[cell] + prev + ("x",) + head + ("t", "layer") + tuple(TOKEN_SHIFT) + tuple(ID_SHIFT)


#: Examples for the b and W prompts, in each cell's own names (a GRU has no c or f to copy); unit 0 only,
#: which every layer has: a model of 2 units would refuse f[3] when it is added, and plot NaN for h[3].
_EXAMPLES = {
    "lstm": (("f[0] < 0.1", "abs(c).max() > 3"), ("c[0]*o[0]", "max(f)", "h[0]-h_prev[0]")),
    "gru": (("z[0] > 0.9", "abs(h).max() > 0.9"), ("z[0]*h[0]", "max(r)", "h[0]-h_prev[0]")),
}
_RNN_EXAMPLES = (("h[0] > 0.5", "abs(h).max() > 0.9"), ("h[0]*h_prev[0]", "max(h)", "h[0]-h_prev[0]"))


def examples_for(cell: str, has_head: bool, watch: bool = False) -> tuple[str, ...]:
    """Expressions to show as examples: conditions for a breakpoint, or numbers to watch (``watch``)."""
    conditions, numbers = _EXAMPLES.get(cell, _RNN_EXAMPLES)
    if watch:
        return numbers
    return conditions + ('token == "("',) + (("y.argmax() != next_token",) if has_head else ())


def kind_of(name: str) -> str:
    """What a name holds at each step: "int" (one whole number), "token", or "float" (a vector)."""
    return "int" if name in ("t", "layer", *ID_SHIFT) else "token" if name in (*TOKEN_SHIFT, "top") else "float"


class EvalError(Exception):
    """A failure while evaluating a block; ``row`` is the block's row at fault, if it depends on the step."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row


@dataclass
class Tokens:
    """Token values over a block: texts (n, 1) (None for ``top``) and ids (n, 1), -1 for none."""

    texts: np.ndarray | None
    ids: np.ndarray


class Scan:
    """What every block of one scan shares: the trace, layer, vocabulary and the token lookup."""

    def __init__(self, trace, layer: int, vocab: tuple[str, ...] | None):
        if not 0 <= layer < trace.num_layers:
            raise InputError(f"layer {layer + 1} does not exist: the model has {trace.num_layers}")
        self.trace, self.layer, self.vocab = trace, layer, vocab
        self._ids: dict[str, int] | None = None

    def id_of(self, text: str) -> int | None:
        """The vocabulary id of a token string: from ``vocab`` or, lacking it, the trace's own tokens."""
        if self._ids is None:
            tr = self.trace
            if self.vocab is not None:
                self._ids = {s: k for k, s in enumerate(self.vocab)}
            else:
                ids = [] if tr.ids is None else tr.ids.tolist()
                self._ids = {s: int(i) for s, i, u in zip(tr.tokens, ids, tr.unknown.tolist()) if not u}
        return self._ids.get(text)


class Block:
    """Steps lo..hi-1 of one scan; ``first`` is the step scanned first, for messages.

    ``bad`` (n,) bool, when given, makes the block lenient: a step whose index
    or exponent is out of range is marked there (and computed with a stand-in)
    instead of failing the whole block. Watches use it; breakpoints do not.
    """

    def __init__(self, scan: Scan, lo: int, hi: int, first: int, bad: np.ndarray | None = None):
        self.scan, self.lo, self.hi, self.first, self.bad = scan, lo, hi, first, bad
        self.cache: dict[str, object] = {}

    def first_row(self, mask: np.ndarray) -> int:
        """The row of the first True in ``mask`` (n,) in the order the scan visits the steps."""
        rows = np.flatnonzero(mask)
        return int(rows[0]) if self.first == self.lo else int(rows[-1])

    def excuse(self, mask: np.ndarray, message: Callable[[int], str]) -> None:
        """Steps ``mask`` (n,) failed: mark them if lenient, else raise for the first one scanned."""
        if self.bad is None:
            row = self.first_row(mask)
            raise EvalError(message(row), row)
        self.bad |= mask

    def get(self, name: str) -> object:
        v = self.cache.get(name)
        if v is None:
            v = self.cache[name] = self._load(name)
        return v

    def _load(self, name: str) -> object:
        tr, L, lo, hi = self.scan.trace, self.scan.layer, self.lo, self.hi
        if name in tr.states:
            return tr.states[name][L][lo:hi]  # (n, W)
        if name in ("c_prev", "h_prev"):
            q = name[0]
            if q not in tr.states or (q == "c" and tr.c0 is None):
                raise EvalError(f"this {tr.cell} trace has no {name}")
            return tr.states_before(q, L, lo, hi)  # (n, W): a backward direction's units from step k + 1
        if name == "x":
            return tr.layer_input(L)[lo:hi]  # (n, E) or (n, W of the layer below)
        if name == "y":
            if tr.y is None:
                raise EvalError("this trace has no output head, so no y")
            return tr.y[lo:hi]  # (n, V)
        if name == "t":
            return np.arange(lo + 1, hi + 1)[:, None] + tr.offset  # a window of a long run counts from its place
        if name == "layer":
            return L + 1
        if name in TOKEN_SHIFT:
            return self._tokens(TOKEN_SHIFT[name])
        if name in ID_SHIFT:
            return self._tokens(ID_SHIFT[name]).ids
        if name == "top":
            return Tokens(None, self.get("y").argmax(axis=1)[:, None])
        raise EvalError(f"this {tr.cell} trace has no {name}")

    def _tokens(self, shift: int) -> Tokens:
        tr = self.scan.trace
        T, lo, hi = tr.steps, self.lo + shift, self.hi + shift
        a, b = max(lo, 0), min(hi, T)
        before, after = a - lo, hi - b  # rows outside the text: "" and id -1
        texts = [""] * before + list(tr.tokens[a:b]) + [""] * after
        ids = np.full(hi - lo, -1, dtype=np.int64)
        if tr.ids is not None:
            ids[before : before + (b - a)] = tr.ids[a:b]
        return Tokens(np.array(texts, dtype=str)[:, None], ids[:, None])


# ---------------------------------------------------------------------------
# Evaluating a compiled expression (``breakpoints.Expression``) over steps


def run(expr, block: Block) -> np.ndarray:
    """The expression's value at every step of ``block``, (n,); EvalError if it fails."""
    tr = block.scan.trace
    for name in expr.names:
        if name in _GATE_NAMES and name not in tr.states:
            raise InputError(f"{expr.text!r} reads {name}, which a {tr.cell} trace does not have")
    with np.errstate(all="ignore"):
        r = np.asarray(expr.fn(block))
    n = block.hi - block.lo
    return np.broadcast_to(r.reshape(-1), (n,)) if r.size == 1 else r.reshape(n)


def holds(bp, block: Block) -> np.ndarray:
    """A breakpoint's condition at every step of ``block``, (n,) bool; a failure names its step."""
    try:
        return run(bp, block).astype(bool)
    except EvalError as e:
        row = e.row if e.row is not None else block.first - block.lo
        step = block.scan.trace.offset + block.lo + row + 1
        raise InputError(f"breakpoint {bp.text!r}, step {step}: {e}") from None


def test(bp, trace, layer: int, k: int, vocab: tuple[str, ...] | None = None) -> bool:
    """Whether a breakpoint holds at 0-based step k of ``layer`` (0-based)."""
    if not 0 <= k < trace.steps:
        raise InputError(f"step {k + 1} does not exist: the trace has {trace.steps}")
    return bool(holds(bp, Block(Scan(trace, layer, vocab), k, k + 1, k))[0])


def find_next(trace, breakpoints: list, layer: int, k: int, direction: int,
              vocab: tuple[str, ...] | None = None) -> int | None:
    """The nearest 0-based step after (direction +1) or before (-1) step k where an enabled breakpoint
    holds, scanning ``layer`` (0-based) of a full trace without wrapping; None if none. Blocks of
    64 steps, growing to 65,536. ``vocab`` is needed only to compare ``top`` with tokens absent
    from the text."""
    if direction not in (1, -1):
        raise InputError(f"direction must be 1 or -1, not {direction!r}")
    active, T, size = [b for b in breakpoints if b.enabled], trace.steps, _FIRST_BLOCK
    if not active or T == 0:
        return None
    scan = Scan(trace, layer, vocab)
    lo, hi = max(k + 1, 0), min(k, T)  # the next block starts at lo (forward) or ends at hi (backward)
    while (lo < T) if direction > 0 else (hi > 0):
        if direction > 0:
            hi = min(lo + size, T)
        else:
            lo = max(hi - size, 0)
        block = Block(scan, lo, hi, lo if direction > 0 else hi - 1)
        hit = holds(active[0], block)
        for b in active[1:]:
            hit = hit | holds(b, block)
        hits = np.flatnonzero(hit)
        if hits.size:
            return lo + int(hits[0] if direction > 0 else hits[-1])
        lo, hi = (hi, hi) if direction > 0 else (lo, lo)  # the next block begins where this one ended
        size = min(size * 4, _LAST_BLOCK)
    return None


def values(expr, trace, layer: int, start: int = 0, stop: int | None = None,
           vocab: tuple[str, ...] | None = None) -> np.ndarray:
    """An expression at steps start..stop-1 of ``layer`` of a full trace, (n,) float64: a condition
    as 0/1, NaN at steps where it fails (an index or exponent out of range there; every step for
    a failure that does not depend on the step, such as y without an output head)."""
    stop = trace.steps if stop is None else min(stop, trace.steps)
    out = np.full(max(stop - start, 0), np.nan)
    scan = Scan(trace, layer, vocab)
    for lo in range(start, stop, _LAST_BLOCK):
        hi = min(lo + _LAST_BLOCK, stop)
        block = Block(scan, lo, hi, lo, bad=np.zeros(hi - lo, dtype=bool))
        try:
            r = run(expr, block).astype(np.float64)
        except EvalError:
            continue
        out[lo - start : hi - start] = np.where(block.bad, np.nan, r)
    return out
