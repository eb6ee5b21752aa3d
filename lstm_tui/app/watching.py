"""Watches of expressions: ``W`` asks for any expression of the breakpoint language
(``c[12]*o[12]``, ``max(f)``, ``h[3]-h[4]``), and the watches panel plots its value
at every step beside the pinned units (``m``).

A watch is kept as its text and layer; its series is computed again for every new
trace (a new sequence, another model): at once for a full trace, in a worker for
a long one, so the screen never waits for it.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from textual.message import Message
from textual.worker import get_current_worker

from ..core.blocks import examples_for
from ..core.breakpoints import compile_expression, names_for
from ..core.checkpoint import CheckpointedTrace
from ..core.errors import InputError, clip
from ..core.syntax import ExpressionError
from ..core.watches import watch
from ..widgets.prompt import PromptScreen


class WatchComputed(Message):
    """From the watch worker: the series of ``watch`` (an entry of ``watch_exprs``, the list itself) for
    ``trace``, or the error that stopped it (``series`` is then all NaN)."""

    def __init__(self, trace, watch: list, series, error: str | None = None) -> None:
        super().__init__()
        self.trace, self.watch, self.series, self.error = trace, watch, series, error


def error_text(exc: InputError) -> str:
    """An expression's refusal for a notice: the message, and the text with a caret under the column."""
    if isinstance(exc, ExpressionError):
        return f"{exc}\n{exc.caret()}"
    return str(exc)


class Watching:
    """Mixed into ``LstmApp``: the ``W`` key and the series of the watched expressions."""

    def action_watch_expression(self) -> None:
        cell, head = self.trace.cell, self.trace.has_head
        hint = (
            f"any expression of the breakpoint language, plotted at every step, e.g.  "
            f"{'   '.join(examples_for(cell, head, watch=True))}   (the same text again unpins it).  Names: "
            + ", ".join(names_for(cell, head))
        )
        self.push_screen(PromptScreen("watch an expression", hint, self.refused.pop("W", "")), self._add_watch_expression)

    def _add_watch_expression(self, text: str | None) -> None:
        if text is None or not text.strip():
            return
        text = text.strip()
        for n, (t, layer, series) in enumerate(self.watch_exprs):
            if t == text and layer == self.layer:
                del self.watch_exprs[n]
                if series is None:  # the worker may be on it: the others still to compute, without it
                    self._compute_watches(pending_only=True)
                else:
                    self.refresh_view()
                return
        try:
            compile_expression(text, self.trace.cell, self.trace.has_head)
        except InputError as exc:
            self.notify(error_text(exc), severity="error", timeout=8)
            self.refused["W"] = text
            return
        self.watch_exprs.append([text, self.layer, None])
        self._compute_watches(pending_only=True)

    def _compute_watches(self, pending_only: bool = False) -> None:
        """The series of every watch for the trace on screen (a long trace's in a worker); ``pending_only``:
        of those not computed yet (a watch pinned or unpinned, the trace the same). A difference on screen
        (Δ, diff) shows each watch's own difference, its value on one run minus the other: c[12]*o[12]
        of the difference trace would be Δc·Δo.

        The worker is handed the watches themselves (not their places in the list), and its news names the
        watch it is of: a watch unpinned meanwhile is dropped, not taken for the one now in its place. A
        new worker replaces the last one (the same group)."""
        tr = self.trace
        runs = self.difference_sides() or (tr,)
        todo = []
        for w in self.watch_exprs:
            if pending_only and w[2] is not None:
                continue
            w[2] = None
            if w[1] >= tr.num_layers:
                continue
            if any(isinstance(run, CheckpointedTrace) for run in runs):
                todo.append(w)
            else:
                w[2] = self._series_of(runs, w[0], w[1], tr.steps)
        if todo:
            self.run_worker(partial(self._watch_worker, tr, runs, todo), name="watches", group="watches",
                            exclusive=True, thread=True, exit_on_error=False)
        else:  # nothing left for a worker still running to do
            self.workers.cancel_group(self, "watches")
        self.refresh_view()

    def _series_of(self, runs: tuple, text: str, layer: int, steps: int, progress=None):
        """A watch's series on the one run, or on the first of two minus the second (their first ``steps``)."""
        series = [self._watch_series(run, text, layer, progress)[:steps] for run in runs]
        return series[0] - series[1] if len(series) == 2 else series[0]

    def _watch_series(self, trace, text: str, layer: int, progress=None):
        try:
            return watch(trace, text, layer, vocab=self.model.vocab, progress=progress)
        except InputError:  # a name this cell does not have (after another model was opened): all NaN
            return np.full(trace.steps, np.nan)

    def _watch_worker(self, trace, runs: tuple, todo: list[list]) -> None:
        """The series of each watch of ``todo``, as handed over (never by its place in the app's list, which a
        W may change meanwhile; a watch's text and layer never change). A failure is that watch's, said in
        its news: not the app's end."""
        worker = get_current_worker()
        for w in todo:
            text, layer, error = w[0], w[1], None
            try:
                series = self._series_of(runs, text, layer, trace.steps, progress=lambda step: not worker.is_cancelled)
            except Exception as exc:  # a bug in the evaluator must not close the app and lose the session
                series, error = np.full(trace.steps, np.nan), f"{type(exc).__name__}: {exc}"
            if worker.is_cancelled:
                return
            self.post_message(WatchComputed(trace, w, series, error))

    def on_watch_computed(self, message: WatchComputed) -> None:
        """A watch's series, if the watch is still pinned and the trace it is of still shown."""
        if message.trace is not self.trace or not any(w is message.watch for w in self.watch_exprs):
            return
        message.watch[2] = message.series
        if message.error:
            self.notify(f"watch {clip(message.watch[0])}: could not be computed ({clip(message.error, 200)})",
                        severity="error", timeout=8)
        self.refresh_view()
