"""Watches of expressions: ``W`` asks for any expression of the breakpoint language
(``c[12]*o[12]``, ``max(f)``, ``h[3]-h[4]``), and the watches panel plots its value
at every step beside the pinned units (``m``).

A watch is kept as its text and layer; its series is computed again for every new
trace (a new sequence, another model): at once for a full trace, in a worker for
a long one, so the screen never waits for it.
"""

from __future__ import annotations

from textual.message import Message
from textual.worker import get_current_worker

from ..core.breakpoints import compile_expression, names_for
from ..core.checkpoint import CheckpointedTrace
from ..core.errors import InputError
from ..core.syntax import ExpressionError
from ..core.watches import watch
from ..widgets.prompt import PromptScreen


class WatchComputed(Message):
    """From the watch worker: the series of watch ``index`` for ``trace``."""

    def __init__(self, trace, index: int, series) -> None:
        super().__init__()
        self.trace, self.index, self.series = trace, index, series


def error_text(exc: InputError) -> str:
    """An expression's refusal for a notice: the message, and the text with a caret under the column."""
    if isinstance(exc, ExpressionError):
        return f"{exc}\n{exc.caret()}"
    return str(exc)


class Watching:
    """Mixed into ``LstmApp``: the ``W`` key and the series of the watched expressions."""

    def action_watch_expression(self) -> None:
        hint = (
            "any expression of the breakpoint language, plotted at every step, e.g.  c[12]*o[12]   max(f)   "
            "h[3]-h[4]   (the same text again unpins it).  Names: "
            + ", ".join(names_for(self.trace.cell, self.trace.has_head))
        )
        self.push_screen(PromptScreen("watch an expression", hint, self.refused.pop("W", "")), self._add_watch_expression)

    def _add_watch_expression(self, text: str | None) -> None:
        if text is None or not text.strip():
            return
        text = text.strip()
        for n, (t, layer, _) in enumerate(self.watch_exprs):
            if t == text and layer == self.layer:
                del self.watch_exprs[n]
                self.refresh_view()
                return
        try:
            compile_expression(text, self.trace.cell, self.trace.has_head)
        except InputError as exc:
            self.notify(error_text(exc), severity="error", timeout=8)
            self.refused["W"] = text
            return
        self.watch_exprs.append([text, self.layer, None])
        self._compute_watches()

    def _compute_watches(self) -> None:
        """The series of every watch for the trace on screen (a long trace's in a worker). A difference on
        screen (Δ, diff) shows each watch's own difference, its value on one run minus the other: c[12]*o[12]
        of the difference trace would be Δc·Δo."""
        tr = self.trace
        runs = self.difference_sides() or (tr,)
        todo = []
        for n, w in enumerate(self.watch_exprs):
            w[2] = None
            if w[1] >= tr.num_layers:
                continue
            if any(isinstance(run, CheckpointedTrace) for run in runs):
                todo.append(n)
            else:
                w[2] = self._series_of(runs, w[0], w[1], tr.steps)
        if todo:
            self.run_worker(lambda: self._watch_worker(tr, runs, todo), thread=True, exclusive=True, group="watches")
        self.refresh_view()

    def _series_of(self, runs: tuple, text: str, layer: int, steps: int, progress=None):
        """A watch's series on the one run, or on the first of two minus the second (their first ``steps``)."""
        series = [self._watch_series(run, text, layer, progress)[:steps] for run in runs]
        return series[0] - series[1] if len(series) == 2 else series[0]

    def _watch_series(self, trace, text: str, layer: int, progress=None):
        try:
            return watch(trace, text, layer, vocab=self.model.vocab, progress=progress)
        except InputError:  # a name this cell does not have (after another model was opened): all NaN
            import numpy as np

            return np.full(trace.steps, np.nan)

    def _watch_worker(self, trace, runs: tuple, todo: list[int]) -> None:
        worker = get_current_worker()
        for n in todo:
            text, layer, _ = self.watch_exprs[n]
            series = self._series_of(runs, text, layer, trace.steps, progress=lambda step: not worker.is_cancelled)
            if worker.is_cancelled:
                return
            self.post_message(WatchComputed(trace, n, series))

    def on_watch_computed(self, message: WatchComputed) -> None:
        if message.trace is self.trace and message.index < len(self.watch_exprs):
            self.watch_exprs[message.index][2] = message.series
            self.refresh_view()
