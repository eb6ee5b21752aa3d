"""Watches: pinned units and expressions over the whole sequence, as a line plot (or
sparklines without textual-plotext), the current step marked, and each one's value now."""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..core.checkpoint import CheckpointedTrace
from ..core.explain import bin_means, bin_of
from ..core.trace import Trace
from ..render import plots
from ..render.sparkline import sparkline
from .figure import Figure

#: A watched expression as the app hands it down: (label, layer, series (T,) or None while it is computed).
ExprWatch = tuple[str, int, "np.ndarray | None"]


class Watches(Vertical):
    """Shows the watched (quantity, layer, unit) pins and expressions; hidden while there are none."""

    MAX_LINES, MAX_PLOT_LINES = 18, 14  # the box at most: values alone, with a plot
    PLOT_SHARE, VALUE_LINES = 45, 6  # the box's share of the screen with a plot (%); value lines at most
    MIN_PLOT = 7  # lines of a plot worth drawing: its title, the frame around 3 rows, the axis labels

    # With a plot, a share of the terminal's height (its cap, and what the screen leaves, set by
    # fit): the views above keep the rest, and the unit view under it stays on screen; the values
    # first. Too short for a plot (-short): the values alone.
    DEFAULT_CSS = f"""
    Watches {{
        height: auto; border: round $secondary 60%; border-title-color: $text; padding: 0 1; display: none;
    }}
    Watches.-plot {{ height: {PLOT_SHARE}vh; }}
    Watches.-short, Watches.-empty {{ height: auto; }}
    Watches.-short Figure, Watches.-empty Figure {{ display: none; }}
    Watches Figure {{ height: 1fr; }}
    Watches #watch-values {{ height: auto; max-height: {VALUE_LINES}; }}
    """

    _room, _screen, _count = 0, 0, 0  # the lines the screen leaves and has (fit), the watches (show)

    def fit(self, room: int, screen: int, count: int | None = None) -> None:
        """At most ``room`` lines (what a ``screen`` lines tall leaves under the views' first line): the
        plot only when what the box leaves it under ``count`` values (the watches) is worth drawing."""
        self._room, self._screen, self._count = room, screen, self._count if count is None else count
        values = min(self._count, self.VALUE_LINES)
        plot_cap = self.MAX_PLOT_LINES + max(0, values - 1)  # each value past the first adds its line
        box = min(plot_cap, room, self.PLOT_SHARE * screen // 100)
        short = box - 2 - values < self.MIN_PLOT
        if short != self.has_class("-short"):  # a class set, even to the same value, costs a relayout
            self.set_class(short, "-short")
        cap = plot_cap if self.has_class("-plot") and not short else self.MAX_LINES
        if self.styles.max_height is None or self.styles.max_height.value != max(3, min(cap, room)):
            self.styles.max_height = max(3, min(cap, room))

    def compose(self) -> ComposeResult:
        if plots.available():
            self.add_class("-plot")
            yield Figure(id="watch-plot")
        yield Static(id="watch-values")

    def show(
        self,
        trace: Trace,
        k: int,
        watched: list[tuple[str, int, int]],
        exprs: tuple[ExprWatch, ...] | list[ExprWatch] = (),
    ) -> None:
        """Each pin and expression over the sequence, step k marked."""
        shown = bool(watched or exprs)
        if self.display != shown:  # setting it, even to the same value, costs a full relayout
            self.display = shown
        if not shown:
            return
        if len(watched) + len(exprs) != self._count:  # more values leave the plot fewer lines
            self.fit(self._room, self._screen, len(watched) + len(exprs))
        self.border_title = "watches  (m pins the unit, W an expression; again to unpin)"
        long = isinstance(trace, CheckpointedTrace)
        edges = None
        series: dict[str, np.ndarray] = {}
        values = Table.grid(padding=(0, 1))
        rows = []
        for q, layer, j in watched:
            if q not in trace.quantities:
                continue
            if long:  # a long run: the forward pass's bin means
                summary = trace.summary(q, layer)
                s, edges = summary.mean[:, j], summary.edges
            else:
                s = trace.series(q, layer, j)
            label = f"{q}[{j}]" if trace.num_layers == 1 else f"{q}[{j}] l{layer + 1}"
            series[label] = s
            rows.append((label, s, f"{float(trace.value(q, layer, k)[j]):+.4f}" if trace.steps else "n/a here"))
        for text, layer, s in exprs:
            label = text if trace.num_layers == 1 else f"{text} l{layer + 1}"
            if s is None:
                rows.append((label, None, "computing…"))
                continue
            now = s[k] if 0 <= k < len(s) else np.nan
            if long and edges is not None:  # on the pins' bins, so that one axis serves all
                s = bin_means(s, edges)
            series[label] = s
            rows.append((label, s, "n/a here" if not np.isfinite(now) else f"{now:+.4f}"))
        # x: steps 1..T, or each bin's first step for a long run's bin means
        x = None if not long or edges is None else edges[:-1] + 1
        at = k + 1
        drawn = plots.available() and trace.steps > 0  # an empty sequence: no axes over nothing
        if self.has_class("-empty") != (trace.steps == 0):  # setting it, even to the same value, costs a relayout
            self.set_class(trace.steps == 0, "-empty")
        if drawn:
            key = (id(trace), trace.steps, tuple(series), tuple(id(v) for v in series.values()), k)
            self.query_one("#watch-plot", Figure).show(
                key, lambda w, h: plots.series_figure(series, w, h, at=at, x=x, title="watches over time (│ = step t)")
            )
        width = max(8, (self.content_region.width or 60) - 22)
        for label, s, now in rows:
            cells = [Text(label, style="bold")]
            if not drawn:
                cells.append(sparkline(s, width, bin_of(edges, k) if long and edges is not None else k) if s is not None else Text(""))
            cells.append(Text(now))
            values.add_row(*cells)
        self.query_one("#watch-values", Static).update(values)
