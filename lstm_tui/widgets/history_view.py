"""The history view: units × time for one quantity, and the text coloured by the selected unit."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..core import explain
from ..core.checkpoint import CheckpointedTrace
from ..render.directions import direction_ranges, value_index
from ..render.history import GUTTER, coloured_tokens, history_lines
from ..render.palette import DIVERGING, Scale
from ..render.panels import PANELS
from ..render.panels import scale as panel_scale
from .lines_view import LinesView
from .state import State
from .update import update


class HistoryView(VerticalScroll, can_focus=False):
    """Units × time for one quantity, and the text coloured by the selected unit."""

    DEFAULT_CSS = """
    HistoryView LinesView { height: auto; max-height: 70%; overflow-x: hidden; }
    HistoryView #history-text { margin-top: 1; }
    HistoryView#timeline #history-text { max-height: 6; }
    """
    TEXT_STEPS = 2000  # the coloured text shows this many tokens each side of t

    def compose(self) -> ComposeResult:
        yield Static(id="history-title")
        yield LinesView(id="history-map")
        yield Static(id="history-text")

    def show(self, state: State) -> None:
        tr = state.trace
        q = state.history_quantity
        spec = next(s for s in PANELS[tr.cell] if s.key == q)
        width = max(8, (self.content_region.width or 80) - GUTTER - 2)
        title = self.query_one("#history-title", Static)
        if tr.steps == 0:
            title.update("empty sequence")
            self.query_one(LinesView).set_lines([])
            self.query_one("#history-text", Static).update("")
            return
        long = isinstance(tr, CheckpointedTrace)
        lines = self.query_one(LinesView)
        # The map changes with the trace, quantity, layer, width, colours and unit, not with
        # the step: a step moves only the ▼ over it, and redraws only that line.
        unit = value_index(tr, q, state.layer, state.unit)  # a projected LSTM's h is narrower than its gates
        key = (id(tr), tr.steps, q, state.layer, width, state.palette, state.mono, unit)
        if getattr(self, "_map_key", None) != key:
            if long:  # the forward pass's bins, binned again to the width
                summary = tr.summary(q, state.layer)
                values, cols = explain.bin_time(summary.maxabs(), width, how="maxabs")
                edges = summary.edges[cols]
            else:
                values, edges = explain.bin_time(explain.history(tr, q, state.layer), width, how="maxabs")
            binned = values.shape[1] < tr.steps
            scale = panel_scale(tr, spec, state.layer, state.palette)
            update(
                title,
                Text.assemble(
                    (f"{spec.title} {q}", "bold"),
                    f" of layer {state.layer + 1}: units (rows, two per line) × time (columns",
                    f", {tr.steps:,} steps binned to {values.shape[1]}, largest |value| per bin)" if binned else ")",
                    f"  scale {scale.lo:+.2f} … {scale.hi:+.2f}   (a: next quantity)",
                    _directions(tr, q, state.layer),
                ),
            )
            cw = max(1, min(3, width // max(values.shape[1], 1)))
            col = explain.bin_of(edges, state.k)
            lines.set_lines(history_lines(values, scale, col, unit, state.mono, cw))
            self._map_key, self._map = key, (values[:0], edges, scale, cw, col)
        else:
            empty, edges, scale, cw, last = self._map
            col = explain.bin_of(edges, state.k)
            if col != last:
                lines.set_line(0, history_lines(empty, scale, col, unit, state.mono, cw)[0])
                self._map = (empty, edges, scale, cw, col)
        tq = q  # the text is coloured by the quantity the history shows (c at first)
        tspec = spec
        text = Text.assemble((f"text coloured by unit {unit}'s {tq}ᵗ", "bold"))
        n = self.TEXT_STEPS // (4 if long else 1)  # a long trace recomputes these steps
        if self.id == "timeline":  # under the panels: a few lines of text, redrawn on every step
            n = min(n, 2 * width)
        shown = slice(max(0, state.k - n), min(tr.steps, state.k + n))  # a window around t for long inputs
        if long:
            series = tr.series(tq, state.layer, unit, shown.start, shown.stop)
        else:
            series = tr.series(tq, state.layer, unit)[shown]
        tscale = _unit_scale(series, tspec, tr, state)
        text.append(f" (scale {tscale.lo:+.2f} … {tscale.hi:+.2f}):\n", style="bold")
        text.append_text(coloured_tokens(tr.tokens[shown], series, tscale, state.k - shown.start))
        update(self.query_one("#history-text", Static), text)


def _unit_scale(series, spec, trace, state: State) -> Scale:
    """The coloured text's scale: a gate's 0..1, otherwise ± the unit's own largest |value| on screen,
    so that one unit's rise and fall shows even when other units reach much further."""
    if spec.kind == "gate":
        return panel_scale(trace, spec, state.layer, state.palette)
    m = float(np.abs(series).max()) if len(series) else 0.0
    m = m if np.isfinite(m) and m > 0 else 1.0
    return Scale(DIVERGING, -m, m)


def _directions(trace, q: str, layer: int) -> str:
    """Which rows are which direction, for a layer that reads backwards ("" otherwise)."""
    if not any(trace.reverse_flags(layer)):
        return ""
    ranges = direction_ranges(trace, layer, q)
    return "\nrows " + ", ".join(f"{a}-{b} {'← backward' if n == 'backward' else '→ forward'}" for n, a, b in ranges)
