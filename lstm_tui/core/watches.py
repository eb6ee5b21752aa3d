"""Watches: an expression of the breakpoint language at every step, as a float series.

A watch is any number or condition the breakpoint language can say about one step
(``c[12] * o[12]``, ``max(f)``, ``h[3] - h[4]``, ``f[0] < 0.1``)::

    from lstm_tui.core.breakpoints import compile_expression
    from lstm_tui.core.watches import watch

    w = compile_expression("c[12] * o[12]", trace.cell, trace.has_head)  # InputError if malformed
    series = watch(trace, w, layer=0, vocab=model.vocab)  # (T,) float64

A condition gives 0.0 or 1.0. A step where the expression fails (an index out of
range there, as ``c[t]`` past the layer's width) is NaN; a failure that does not
depend on the step (``y`` without an output head, an index past a narrower layer)
makes every step NaN. ``Expression.text`` is the label to show.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import blocks
from .breakpoints import Expression, compile_expression
from .checkpoint import CheckpointedTrace
from .trace import Trace

CHUNK_SECONDS = 0.25  # a long run is read this much recompute at a time (whole windows)


def watch(
    trace: Trace | CheckpointedTrace,
    expr: Expression | str,
    layer: int,
    vocab: tuple[str, ...] | None = None,
    start: int = 0,
    stop: int | None = None,
    progress: Callable[[int], bool] | None = None,
) -> np.ndarray:
    """``expr`` at steps start..stop-1 (every step by default) of ``layer`` (0-based), (n,) float64.

    ``expr`` is a compiled expression or its text (compiled for the trace's cell). A
    :class:`CheckpointedTrace` is read a chunk of whole windows at a time, with one step
    of context either side only when ``prev_*``/``next_*`` are read; ``progress(step)``,
    if given, is called before each chunk and may return False to stop (the steps not
    reached stay NaN). ``vocab`` lets ``top`` compare with tokens absent from the text.
    """
    if isinstance(expr, str):
        expr = compile_expression(expr, trace.cell, trace.has_head)
    stop = trace.steps if stop is None else min(stop, trace.steps)
    start = max(0, start)
    if not isinstance(trace, CheckpointedTrace):
        return blocks.values(expr, trace, layer, start, stop, vocab)
    out = np.full(max(stop - start, 0), np.nan)
    before = bool(expr.names & {"prev_token", "prev_id"})  # a step of context, for the chunk's first step
    after = bool(expr.names & {"next_token", "next_id"})
    n = trace.steps_within(CHUNK_SECONDS)
    a = start
    while a < stop:
        b = min((a // n + 1) * n, stop)
        if progress is not None and not progress(a):
            break
        lo = a - (before and a > 0)
        win = trace.window(lo, b + after, keep=False)  # (b - a) steps, and the context
        out[a - start : b - start] = blocks.values(expr, win, layer, a - lo, a - lo + b - a, vocab)
        a = b
    return out
