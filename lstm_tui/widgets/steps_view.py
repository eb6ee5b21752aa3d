"""The steps view: a panel per quantity at the current step, and the history under them.

Only the panels with a line on screen are drawn on a step: one refreshed
while off screen makes Textual map the whole screen again on the next frame,
which costs more than the rest of a step. The others are marked stale and
drawn when scrolled into view, or when Textual draws one (a new layout
brought it into view: ``Panel.Uncovered``).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Static

from ..core.trace import Trace
from ..render import panels as panel_specs
from ..render.acts import layer_equation
from ..render.directions import direction_line, panel_parts, width_label
from ..render.interventions import delta_scale, output_text
from ..render.palette import Scale
from ..render.panels import PanelSpec
from ..render.text import top_k
from .heatmap import MAX_ROWS
from .history_view import HistoryView
from .panel import Panel
from .state import State
from .update import update

#: Panels of the gates and states (the top grid); inputs and output go below them.
CORE_KEYS = ("f", "i", "g", "o", "c", "h", "r", "z", "n")


class StepsView(VerticalScroll, can_focus=False):
    """Every quantity of the step in a grid of panels; the history view below on a tall screen."""

    _built_for: tuple | None = None  # (cell, has_head) of the trace the panels were built for
    _fitting = False  # a fit_rows is due after the layout under way

    DEFAULT_CSS = """
    StepsView #directions { height: auto; padding: 0 1; color: $text-muted; display: none; }
    """
    TIMELINE_MIN_HEIGHT = 46  # a taller screen shows the history under the panels
    TIMELINE_MAX_UNITS = 256  # and only while it stays cheap to redraw on every step

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.panels: list[Panel] = []  # as built for the trace's cell
        self._state: State | None = None  # the last state shown
        self._scales: dict = {}  # (spec, layer, palette) -> Scale, for self._scales_of
        self._scales_of: Trace | None = None  # the trace those scales were computed for
        self.timeline = HistoryView(id="timeline")
        self.timeline.display = False  # until the screen is tall enough (fit_timeline)

    def compose(self) -> ComposeResult:
        yield Static("", id="directions", markup=False)  # what each direction has read (a backward layer only)
        yield Grid(id="core", classes="grid")
        yield Grid(id="io", classes="grid")
        yield self.timeline

    def on_mount(self) -> None:
        self.watch(self, "scroll_y", self._scrolled, init=False)

    def on_resize(self) -> None:
        self._fit_rows_soon()

    def on_panel_resized(self, message: Panel.Resized) -> None:
        message.stop()
        self._fit_rows_soon()

    def _fit_rows_soon(self) -> None:
        """fit_rows once the layout under way is done (once for all the panels it resizes)."""
        if not self._fitting:
            self._fitting = True
            self.call_after_refresh(self.fit_rows)

    def fit_rows(self) -> None:
        """Heatmaps too tall to show whole get the lines the view has to spare (none while the history
        is under the panels: it fills them), the same number of rows more on each row of panels."""
        self._fitting = False
        rows: dict[tuple, list[Panel]] = {}  # the panels of each row of a grid, as last laid out
        for p in self.panels:
            if p.outer_height(MAX_ROWS) and p.region:
                rows.setdefault((p.parent, p.region.y), []).append(p)
        if not rows or not self.size.height:
            return

        def height(extra: int) -> int:  # the rows' lines, each heatmap showing MAX_ROWS + extra rows at most
            return sum(max(p.outer_height(MAX_ROWS + extra) for p in row) for row in rows.values())

        laid_out = sum(max(p.region.height for p in row) for row in rows.values())
        used = sum(c.outer_size.height + c.styles.margin.top + c.styles.margin.bottom for c in self.children if c.display)
        room = self.scrollable_content_region.height - (used - laid_out)  # for the rows of panels
        extra = 0  # the most extra rows that fit (height only grows with them), up to the tallest heatmap's
        if not self.timeline.display:
            hi = max(p.heatmap.map.rows_for(p.content_region.width, MAX_ROWS)[0] for row in rows.values() for p in row)
            hi = max(0, hi - MAX_ROWS)
            while extra < hi:
                mid = (extra + hi + 1) // 2
                extra, hi = (mid, hi) if height(mid) <= room else (extra, mid - 1)
        for p in self.panels:
            p.set_max_rows(MAX_ROWS + extra)

    async def build(self, trace: Trace, notation: str) -> None:
        """(Re)create the panels that fit the trace's cell."""
        core, io = self.query_one("#core", Grid), self.query_one("#io", Grid)
        await core.remove_children()
        await io.remove_children()
        specs = panel_specs.panels_for(trace)
        await core.mount_all([Panel(s, id=f"panel-{s.key}") for s in specs if s.key in CORE_KEYS])
        await io.mount_all([Panel(s, id=f"panel-{s.key}") for s in specs if s.key not in CORE_KEYS])
        self.panels = list(self.query(Panel))
        self._built_for = (trace.cell, trace.has_head)
        self._fit_spans()
        self.set_notation(notation)

    def set_notation(self, notation: str) -> None:
        for panel in self.panels:
            panel.set_notation(notation)

    def fit_columns(self, width: int) -> None:
        """Panels per row for a screen ``width`` wide."""
        cols = max(1, min(4, width // 36))
        for grid in self.query(".grid"):
            grid.styles.grid_size_columns = cols
        self._fit_spans()

    def _fit_spans(self) -> None:
        """Panels alone on a grid's last row share its columns, so that no panel-wide hole is left
        beside them: the later panels (the states, the output) take the odd column."""
        for grid in self.query(".grid"):
            cols, panels = grid.styles.grid_size_columns, list(grid.query_children(Panel))
            last = len(panels) % cols
            spans = [1] * (len(panels) - last) + [cols // last + (j >= last - cols % last) for j in range(last)]
            for panel, span in zip(panels, spans):
                if panel.styles.column_span != span:  # setting it, even to the same value, costs a relayout
                    panel.styles.column_span = span

    def fit_timeline(self, height: int, hidden_size: int) -> bool:
        """Show the history under the panels on a screen ``height`` tall; whether it has just appeared."""
        show = height >= self.TIMELINE_MIN_HEIGHT and hidden_size <= self.TIMELINE_MAX_UNITS
        if self.timeline.display == show:
            return False
        self.timeline.display = show
        self._fit_rows_soon()  # the history takes the lines to spare, or gives them back
        return show

    def show(self, state: State) -> None:
        """Push the step into the panels on screen (an empty trace empties every panel)."""
        self._state = state
        tr = state.trace
        if (tr.cell, tr.has_head) != self._built_for:
            return  # the panels of another model's cell: the app builds new ones, then shows the step
        if tr.steps == 0:
            for panel in self.query(Panel):
                panel.show(np.zeros(0), panel_specs.scale(tr, panel.spec, state.layer), None, state.mono)
            if self.timeline.display:
                self.timeline.show(state)
            return
        self._show_directions(state)
        self._show_panels(state, self.panels)
        if self.timeline.display:
            self.timeline.show(state)

    def _show_directions(self, state: State) -> None:
        """One line over the panels of a layer that reads backwards: what each direction has read at t."""
        # hidden: 0 wide, and just after a resize still the old width: never wider than the screen
        width = max(0, min(self.content_region.width or self.app.size.width, self.app.size.width - 2) - 2)
        note = direction_line(state.trace, state.layer, state.k, width) if state.steps else ""
        line = self.query_one("#directions", Static)
        if line.display != bool(note):  # setting it, even to the same value, costs a relayout
            line.display = bool(note)
            self._fit_rows_soon()  # a line more or less for the panels
        if note:
            update(line, note, (note, width))

    def catch_up(self, state: State | None = None) -> None:
        """Draw the panels scrolled (or laid out) into view since the step changed."""
        state = state or self._state
        if state is not None and state.view == "steps" and state.steps:
            self._show_directions(state)  # a new width may take the other wording (a no-op otherwise)
        if any(p.stale for p in self.panels) and state is not None and state.view == "steps" and state.steps:
            self._show_panels(state, [p for p in self.panels if p.stale])

    @property
    def stale(self) -> set[Panel]:
        """The panels off screen that still show an earlier step."""
        return {p for p in self.panels if p.stale}

    def _scrolled(self, *_) -> None:
        self.catch_up()

    def on_panel_uncovered(self, message: Panel.Uncovered) -> None:
        message.stop()
        self.catch_up()

    def _show_panels(self, state: State, panels: list[Panel]) -> None:
        view = self.region
        for panel in panels:
            region = panel.region  # a panel with a line on screen is drawn: its title, equation and
            # legend change with the model or the mode too, not only its heatmap
            if view and region and not region.overlaps(view) and panel.drawn:  # (drawn once: its size is right)
                panel.mark_stale(True)
                continue
            panel.mark_stale(False)
            tr, spec, layer = state.trace, panel.spec, state.layer
            vals, scale, unit, parts = self._heatmap_of(state, panel, state.k)
            panel.show(
                vals, scale, unit, state.mono, self._extra(state, panel, state.k), state.numbers,
                parts=parts, subtitle=width_label(tr, spec.key, layer, len(vals)),
                equation=layer_equation(panel_specs.equation(spec, state.notation), spec.key, state.model, layer),
                note="difference scale" if state.mode is not None else None,
            )

    @staticmethod
    def _extra(state: State, panel: Panel, k: int):
        """The output panel's top tokens at step k (patched: before → after); None for the others."""
        if panel.spec.key != "y":
            return None
        return top_k(state.trace, state.model.vocab, k) if state.after is None else output_text(state, k)

    def _heatmap_of(self, state: State, panel: Panel, k: int) -> tuple:
        """(values, scale, marked unit, direction blocks) of the panel's heatmap at 0-based step k."""
        tr, spec, layer = state.trace, panel.spec, state.layer
        vals = panel_specs.values(tr, spec.key, layer, k)
        scale = self._scale(tr, spec, layer, state.palette, state.mode is not None)
        by_unit = spec.key not in ("x", "y") or (spec.key == "x" and layer > 0)
        unit = min(state.unit, len(vals) - 1) if by_unit else None
        if spec.key in ("h", "h_prev") and tr.width("h", layer) != tr.width(tr.quantities[0], layer):
            unit = None  # a projected LSTM's h (P wide) mixes every unit: none of its values is the unit's
        return vals, scale, unit, panel_parts(tr, spec.key, layer)

    def warm(self, k: int) -> list:
        """What to do, a panel a call, to make the heatmap lines of 0-based step k of the state last shown
        before a key asks for them (``Panel.warm``): the panels on screen, while step k's values are at
        hand (a long trace's window is not recomputed for them on the main thread)."""
        state = self._state
        if state is None or not 0 <= k < state.steps or (state.trace.cell, state.trace.has_head) != self._built_for:
            return []
        return [partial(self.if_at_hand, k, partial(self._warm, state, panel, k))
                for panel in self.panels if panel.drawn and not panel.stale]

    def if_at_hand(self, k: int, call) -> None:
        """``call()``, if 0-based step k's numbers are at hand: not a checkpointed trace's window that
        reading would recompute (it may have left the cache since the step was shown)."""
        state = self._state
        if state is not None and 0 <= k < state.steps and not getattr(state.trace, "uncached", lambda a, b: [])(k, k + 1):
            call()

    def _warm(self, state: State, panel: Panel, k: int) -> None:
        """Panel.warm of step k, unless another state has been shown since the list was made."""
        if state is self._state:
            vals, scale, unit, parts = self._heatmap_of(state, panel, k)
            panel.warm(vals, scale, unit, state.mono, state.numbers, parts, self._extra(state, panel, k))

    def _scale(self, trace: Trace, spec: PanelSpec, layer: int, palette: str, delta: bool = False) -> Scale:
        """The panel's colour scale, computed once per trace, layer and palette
        (a difference's: diverging, ± its largest |value|)."""
        if trace is not self._scales_of or len(self._scales) > 64:
            self._scales, self._scales_of = {}, trace
        key = (spec.key, layer, palette, delta)
        if key not in self._scales:
            self._scales[key] = (
                delta_scale(trace.abs_max(spec.key, layer)) if delta else panel_specs.scale(trace, spec, layer, palette)
            )
        return self._scales[key]
