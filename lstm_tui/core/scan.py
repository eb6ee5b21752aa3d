"""Breakpoints over a run of any length: the scan a window at a time.

:func:`lstm_tui.core.breakpoints.find_next` scans a full
:class:`~lstm_tui.core.trace.Trace`. A long run kept as checkpoints
(:class:`~lstm_tui.core.checkpoint.CheckpointedTrace`) is scanned here one
recomputed window at a time, each with one step of context on either side, in
windows of its own so that the cache keeps the ones the user is looking at.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from .breakpoints import find_next as find_in_trace
from .checkpoint import CheckpointedTrace, concat
from .errors import InputError
from .trace import Trace


def find_next(
    trace: Trace | CheckpointedTrace,
    breakpoints: list,
    layer: int,
    k: int,
    direction: int,
    vocab: tuple[str, ...] | None = None,
    progress: Callable[[int], bool] | None = None,
) -> int | None:
    """``breakpoints.find_next`` for a trace of any length: a checkpointed one is
    scanned window by window from step k (each window with one step of context
    on each side, so ``prev_token``, ``next_token`` and ``h_prev`` are right at
    the edges). ``progress(step)``, if given, is called before each window with
    the first step it scans; returning False stops the scan (None is returned).
    """
    if not isinstance(trace, CheckpointedTrace):
        return find_in_trace(trace, breakpoints, layer, k, direction, vocab=vocab)
    if direction not in (1, -1):
        raise InputError(f"direction must be 1 or -1, not {direction!r}")
    T, W = trace.steps, trace.window_length
    last_w = (T - 1) // W if T else -1
    memo: OrderedDict[int, Trace] = OrderedDict()  # the scan's own windows: the cache keeps the user's

    def get(w: int) -> Trace:
        if w not in memo:
            memo[w] = trace.whole_window(w, keep=False)
            while len(memo) > 3:
                memo.popitem(last=False)
        return memo[w]

    def with_context(w: int) -> tuple[Trace, int]:
        """Window w with the step before and after it, and the step the first of those is."""
        parts, lo = [get(w)], w * W
        if w > 0:
            parts.insert(0, get(w - 1).window(W - 1, W))
            lo -= 1
        if w < last_w:
            parts.append(get(w + 1).window(0, 1))
        return concat(parts), lo

    w = (k + 1) // W if direction > 0 else (k - 1) // W
    while 0 <= w <= last_w:
        if direction > 0:
            a, b = max(w * W, k + 1), min((w + 1) * W, T)
        else:
            a, b = w * W, min((w + 1) * W, k)
        if a < b:
            if progress is not None and not progress(a if direction > 0 else b - 1):
                return None
            win, lo = with_context(w)
            start = a - 1 - lo if direction > 0 else b - lo
            hit = find_in_trace(win, breakpoints, layer, start, direction, vocab=vocab)
            if hit is not None and a <= lo + hit < b:
                return lo + hit
        w += direction
    return None
