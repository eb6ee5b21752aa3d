"""Pinned units: each one's value over the whole sequence as a sparkline."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ..core.checkpoint import CheckpointedTrace
from ..core.explain import bin_of
from ..core.trace import Trace
from ..render.sparkline import sparkline


class Watches(Static):
    """Shows the watched (quantity, unit) pairs; hidden while there are none."""

    DEFAULT_CSS = """
    Watches { dock: bottom; height: auto; max-height: 8; border: round $secondary 60%; padding: 0 1; display: none; }
    """

    def show(self, trace: Trace, k: int, watched: list[tuple[str, int, int]]) -> None:
        """Each (quantity, layer, unit) as a sparkline over the sequence, step k marked."""
        if self.display != bool(watched):  # setting it, even to the same value, costs a full relayout
            self.display = bool(watched)
        if not watched:
            return
        self.border_title = "watches  (m pins or unpins the unit; a picks the quantity)"
        width = max(8, (self.content_region.width or 60) - 22)
        table = Table.grid(padding=(0, 1))
        for q, layer, j in watched:
            if q not in trace.quantities:
                continue
            if isinstance(trace, CheckpointedTrace):  # a long run: the forward pass's bin means
                summary = trace.summary(q, layer)
                series, at = summary.mean[:, j], bin_of(summary.edges, k)
            else:
                series, at = trace.series(q, layer, j), k
            now = float(trace.value(q, layer, k)[j]) if trace.steps else 0.0
            label = f"{q}[{j}]" if trace.num_layers == 1 else f"{q}[{j}] l{layer + 1}"
            table.add_row(Text(label, style="bold"), sparkline(series, width, at), Text(f"{now:+.4f}"))
        self.update(table)
