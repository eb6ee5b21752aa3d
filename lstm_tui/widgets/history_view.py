"""The history view: units × time for one quantity, and the text coloured by the selected unit."""

from __future__ import annotations

import time

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..core import explain
from ..core.checkpoint import CheckpointedTrace
from ..render.directions import direction_ranges, value_index
from ..render.history import (
    GUTTER,
    axis_line,
    coloured_token_lines,
    history_legend,
    history_lines,
    history_title,
    robust_range,
    summary_range,
    token_window,
    unit_height,
    unit_scales,
)
from ..render.interventions import delta_scale
from ..render.palette import DIVERGING, Scale
from ..render.panels import PANELS
from ..render.panels import scale as panel_scale
from .lines_view import LinesView
from .state import State
from .update import update


class HistoryView(VerticalScroll, can_focus=False):
    """Units × time for one quantity, and the text coloured by the selected unit.

    The map takes the height its container leaves: each unit gets one to four
    half-lines (``render.history.unit_height``). Colours are each unit's own
    robust range by default, or one shared scale (``state.history_scale``).
    """

    DEFAULT_CSS = """
    HistoryView LinesView { height: auto; overflow-x: hidden; }
    HistoryView #history-text { margin-top: 1; height: 1; }
    """

    TEXT_LINES = 4  # lines kept for the coloured text under the map (more when the map leaves them)
    MAX_CELL_WIDTH = 6  # characters per step at most: a short sequence spreads over the width
    _state = None  # the last State shown, drawn again when the size changes
    _pending = None  # (long trace, windows its text still lacks) after a frame drawn without them
    _text_lines = 0  # lines of the coloured text, set when the map is drawn
    _fill_due = False  # a _fill is asked for after the next refresh

    def compose(self) -> ComposeResult:
        yield Static(id="history-title")
        yield LinesView(id="history-map", base_style=True)
        yield Static(id="history-text")
        yield LinesView(id="history-tokens", base_style=True)

    def _heights(self, steps: int, width: int) -> tuple[int, int]:
        """(map, text) lines: what the container leaves after the other widgets in it, less the
        title, the map's axis and legend lines and the text's margin and heading."""
        parent = self.parent
        height = self.size.height
        if parent is not None and self.id == "timeline":  # under the panels: the rest of the steps view
            others = sum(w.outer_size.height for w in parent.children if w is not self and w.display)
            height = parent.size.height - others - self.styles.margin.top
        text = max(1, min(self.TEXT_LINES, -(-steps // max(width, 1))))  # a token a cell, at least
        return max(4, height - 2 - 2 - 2 - text), text

    def _ranges(self, tr, q: str, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """Each unit's robust range of ``q`` (H,), H: over every step, or a long trace's bin summaries."""
        key = (id(tr), tr.steps, q, layer)
        if getattr(self, "_ranges_key", None) != key:
            if isinstance(tr, CheckpointedTrace):
                s = tr.summary(q, layer)
                self._ranges_value = summary_range(s.lo, s.hi)
            else:
                self._ranges_value = robust_range(explain.history(tr, q, layer))
            self._ranges_key = key
        return self._ranges_value

    def on_resize(self) -> None:
        if self._state is not None and self.display:
            self.show(self._state)  # the map takes the new height

    def show(self, state: State) -> None:
        self._state = state  # the last state shown, drawn again when the size changes
        tr = state.trace
        q = state.history_quantity
        spec = next(s for s in PANELS[tr.cell] if s.key == q)
        width = max(8, (self.content_region.width or 80) - GUTTER - 2)
        title = self.query_one("#history-title", Static)
        if tr.steps == 0:
            title.update("empty sequence")
            self.query_one("#history-map", LinesView).set_lines([])
            self.query_one("#history-text", Static).update("")
            self.query_one("#history-tokens", LinesView).set_lines([])
            return
        long = isinstance(tr, CheckpointedTrace)
        lines = self.query_one("#history-map", LinesView)
        room, text_lines = self._heights(tr.steps, width + GUTTER)  # not with the step: no redraw
        # The map changes with the trace, quantity, layer, size, colours and unit, not with
        # the step: a step moves only the ▼ over it, and redraws only that line.
        unit = value_index(tr, q, state.layer, state.unit)  # a projected LSTM's h is narrower than its gates
        units, map_width = tr.width(q, state.layer), width
        height = unit_height(units, room)  # half-lines a unit's row
        rows = -(-units * height // 2)  # lines of the map's rows
        if rows > room:  # more rows than lines: the map scrolls, and its scrollbar takes cells
            map_width = max(8, width - lines.styles.scrollbar_size_vertical)
        key = (id(tr), tr.steps, q, state.layer, map_width, room, state.palette, state.mono, unit, state.history_scale, state.mode)
        if getattr(self, "_map_key", None) != key:
            if long:  # the forward pass's bins, binned again to the width
                summary = tr.summary(q, state.layer)
                values, cols = explain.bin_time(summary.maxabs(), map_width, how="maxabs")
                edges = summary.edges[cols]
            else:
                values, edges = explain.bin_time(explain.history(tr, q, state.layer), map_width, how="maxabs")
            scale = panel_scale(tr, spec, state.layer, state.palette)
            if state.mode is not None:  # a difference (Δ or diff mode): diverging around 0
                scale = delta_scale(tr.abs_max(q, state.layer))
            elif state.history_scale == "unit":
                scale = unit_scales(*self._ranges(tr, q, state.layer), scale)
            heading = history_title(spec.title, q, state.layer, tr.steps, values.shape[1], scale)
            heading.append(_directions(tr, q, state.layer))
            update(title, heading)
            cw = max(1, min(self.MAX_CELL_WIDTH, map_width // max(values.shape[1], 1)))
            col = explain.bin_of(edges, state.k)
            self.unit_height, used = height, min(room, rows)
            lines.styles.max_height = room + 2  # the map and its axis and legend lines; more units scroll
            lines.set_lines(
                [
                    *history_lines(values, scale, col, unit, state.mono, cw, height),
                    history_legend(scale, unit, values.shape[1] * cw, state.mono, room=map_width),
                ]
            )
            self._text_lines = text_lines + (room - used if self.id != "timeline" else 0)  # the rest: text
            self._map_key, self._map = key, (edges, cw, col)
        else:
            edges, cw, last = self._map
            col = explain.bin_of(edges, state.k)
            if col != last:
                lines.set_line(0, axis_line(col, cw, (len(edges) - 1) * cw))
                self._map = (edges, cw, col)
        # The text around t, coloured by the unit's value of the quantity the history shows
        # (c at first): as many tokens as fill its lines, so a step redraws a few lines only.
        # A short text leaves lines over in the history view: the same text coloured by the
        # unit's other quantities (h, the gates) fills them.
        text_width = width + GUTTER
        spare = self._text_lines
        shown = self._text_steps(tr, state.k)
        body: list[list[Segment]] = []
        extra = self.id != "timeline"
        # A long trace: the window holding t comes first (every view reads it at this step); the
        # text's other windows were started on another core before the panels (prefetch) and are
        # waited for up to WAIT_SECONDS. Steps in windows still not done are drawn dim and
        # uncoloured in this frame, and coloured after it, one window at a time (_fill): a
        # jump's frame waits for about one window's recompute, not for all that the text crosses.
        lacking: list[int] = []
        if long:
            tr.whole_window(state.k // tr.window_length)
            lacking = tr.uncached(shown.start, shown.stop)
            if lacking:  # started by prefetch: on the other core while this one drew the panels
                tr.wait(lacking, self.WAIT_SECONDS)
                lacking = tr.uncached(shown.start, shown.stop)
        known = None
        for n, tq in enumerate([q, *sorted((x for x in tr.quantities if x != q), key=_TEXT_ORDER.find)]):
            if n > 0 and (not extra or spare < 2):
                break  # no room for another text: not computed (a long trace's would recompute windows)
            u = value_index(tr, tq, state.layer, state.unit)
            if lacking:
                series, known = tr.series_cached(tq, state.layer, u, shown.start, shown.stop)
            elif long:
                series = tr.series(tq, state.layer, u, shown.start, shown.stop)
            else:
                series = tr.series(tq, state.layer, u)[shown]
            tspec = next(s for s in PANELS[tr.cell] if s.key == tq)
            tscale = _unit_scale(series if known is None else series[known], tspec, tr, state)
            block = coloured_token_lines(tr.tokens[shown], series, tscale, state.k - shown.start, text_width, spare, known,
                                         gap=state.spaced)
            scale_words = f"(scale {tscale.lo:+.2f} … {tscale.hi:+.2f})"
            if n == 0:
                heading = f"text coloured by unit {u}'s {tq}ᵗ {scale_words}:"
                update(self.query_one("#history-text", Static), Text(heading, style="bold"))
            elif extra and len(block) + 1 <= spare:
                body.append([Segment(f"… by its {tq}ᵗ {scale_words}:", Style(bold=True))])
            else:
                break
            body += block
            spare -= len(block) + (n > 0)
        self.query_one("#history-tokens", LinesView).set_lines(body)
        self._pending = (tr, lacking) if lacking else None
        if lacking and not self._fill_due:
            self._fill_due = True
            self.call_after_refresh(self._fill)

    def _text_steps(self, tr, k: int) -> slice:
        """The steps of the text coloured around step k."""
        width = max(8, (self.content_region.width or 80) - GUTTER - 2)
        return token_window(tr.tokens, k, (width + GUTTER) * self._text_lines)

    WAIT_SECONDS = 0.01  # how long a frame waits for the text's windows that prefetch started

    def prefetch(self, state: State) -> None:
        """Before the app draws a step: start recomputing, in a background thread, the windows
        of a long trace that the text around the step crosses besides the step's own (which the
        panels recompute), so that this view's show finds them done and colours the whole text
        in the same frame; what is not done by then is drawn dim and coloured after it (_fill)."""
        tr = state.trace
        if not isinstance(tr, CheckpointedTrace) or not self.display or not tr.steps:
            return
        shown, W = self._text_steps(tr, state.k), tr.window_length
        lacking = [w for w in tr.uncached(shown.start, shown.stop) if w != state.k // W]
        tr.prefetch(sorted(lacking, key=lambda w: abs(w * W + W // 2 - state.k)))

    FILL_SECONDS = 0.02  # recomputing the text's windows after a frame: then a frame, so that keys are not held up long

    def _fill(self) -> None:
        """After a frame drawn with some of the text still to come: recompute the windows it
        lacks, nearest t first, for about ``FILL_SECONDS``, and draw the text again (which
        asks for the rest after the next frame, if any is left)."""
        self._fill_due = False
        state, pending = self._state, self._pending
        if state is None or pending is None or pending[0] is not state.trace or not self.is_mounted or not self.display:
            self._pending = None  # moved to another trace, or hidden, since: the next show asks again
            return
        tr, lacking = pending
        W = tr.window_length
        t0 = time.perf_counter()
        for w in sorted(lacking, key=lambda w: abs(w * W + W // 2 - state.k)):
            tr.whole_window(w)
            if time.perf_counter() - t0 >= self.FILL_SECONDS:
                break
        self.show(state)


_TEXT_ORDER = "chfiogrzn"  # the order of the extra coloured texts: states first, then the gates


def _unit_scale(series, spec, trace, state: State) -> Scale:
    """The coloured text's scale: a gate's 0..1, otherwise ± the unit's own largest |value| on screen,
    so that one unit's rise and fall shows even when other units reach much further."""
    if spec.kind == "gate" and state.mode is None:
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
