"""The units view: unit search results and gate saturation per unit, frozen and dead units flagged."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..core import explain
from ..core.checkpoint import CheckpointedTrace
from ..render import plots
from ..render.directions import aligned_rows, unit_direction
from ..render.panels import value_names
from .figure import Figure
from .messages import UnitChosen
from .state import State


class UnitsView(VerticalScroll, can_focus=False):
    """Unit search results and gate saturation per unit, with frozen and dead units flagged."""

    DEFAULT_CSS = """
    UnitsView #units-scatter { height: 16; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="units-search")
        if plots.available():
            yield Figure(id="units-scatter")
        yield Static(id="units-saturation")

    def show(self, state: State) -> None:
        tr = state.trace
        search = Text()
        if state.search_results is None:
            search.append("unit search: press s and give a step range and a threshold, e.g. ", style="dim")
            search.append("5-9 > 0.5", style="bold")
        else:
            label, results = state.search_results
            search.append(f"units {label}: ", style="bold")
            if not results:
                search.append("none")
            for n, (u, score) in enumerate(results[:12]):
                style = "reverse" if u == state.unit else ""
                search.append(f"{u}", style=style)
                search.append(f" ({score:.2f})" + ("  " if n < len(results) - 1 else ""), style="dim")
            search.append("   u: next result", style="dim")
        self.query_one("#units-search", Static).update(search)
        body = self.query_one("#units-saturation", Static)
        if tr.steps == 0:
            body.update("")
            return
        title = "gate saturation: share of steps"
        if isinstance(tr, CheckpointedTrace):  # a block of steps around t, not all of them
            start, stop = tr.block(state.k, state.window_seconds)
            key = (id(tr), tr.steps, state.layer, start, stop)
            if getattr(self, "_block", (None,))[0] != key:
                win = tr.window(start, stop, keep=False)
                self._block = (key, explain.saturation(win, state.layer), explain.frozen_units(win, state.layer, quantity="h"))
            sat, frozen = self._block[1:]
            title += f" {start + 1:,}-{stop:,} of {tr.steps:,} (a long trace: the block of steps around t)"
        else:
            sat = explain.saturation(tr, state.layer)
            frozen = explain.frozen_units(tr, state.layer, quantity="h")
        self._sat = sat
        if plots.available() and sat:
            names = _gate_names(state)
            self.query_one("#units-scatter", Figure).show(
                (id(sat), state.unit, state.notation),
                lambda w, h: plots.saturation_figure(sat, w, h, state.unit, names),
                [((0.0, 1.0), (0.0, 1.0))] * len(sat),
            )
        elif plots.available():
            self.query_one("#units-scatter", Figure).display = False
        table = Table(box=None, padding=(0, 1), header_style="bold", title=title)
        if not plots.available():
            table.caption = plots.MISSING
        table.add_column("unit", justify="right")
        for g in sat:
            table.add_column(f"{g} < 0.1", justify="right")
            table.add_column(f"{g} > 0.9", justify="right")
        table.add_column("hᵗ std", justify="right")
        table.add_column("")
        rows = max([len(frozen["std"]), *(len(lo) for lo, _ in sat.values())])  # gates and h may differ in width
        D = len(tr.reverse_flags(state.layer))
        std = aligned_rows(frozen["std"], D, rows)  # a projected h: its direction's rows
        P, block = max(1, len(frozen["std"]) // D), rows // D  # h's units a direction, and the rows of one

        def row(i: int) -> int:  # the row of h's unit i (a projected h sits at the top of its direction's rows)
            return (i // P) * block + i % P

        dead, still = {row(i) for i in frozen["dead"].tolist()}, {row(i) for i in frozen["frozen"].tolist()}
        for j in range(rows):
            cells = []
            for lo, hi in sat.values():
                cells += [_share(lo[j]), _share(hi[j])] if j < len(lo) else ["", ""]
            flag = "dead" if j in dead else "never moves" if j in still else ""
            if sat and j < len(next(iter(sat.values()))[0]) and all(max(lo[j], hi[j]) >= 0.99 for lo, hi in sat.values()):
                flag = flag or "all gates saturated"
            table.add_row(
                Text(_label(tr, state.layer, j), style="reverse" if j == state.unit else ""),
                *cells,
                "" if std[j] is None else f"{std[j]:.3f}",
                Text(flag, style="bold red") if flag else "",
            )
        body.update(table)


    def on_figure_picked(self, message: Figure.Picked) -> None:
        """A click on a scatter: select the unit whose point is nearest."""
        message.stop()
        unit = plots.nearest_unit(getattr(self, "_sat", {}), message.index, message.x, message.y)
        if unit is not None:
            self.post_message(UnitChosen(unit))


def _gate_names(state: State) -> dict[str, str]:
    """Each LSTM gate's name in the notation shown (the other cells' gates keep their letters)."""
    if state.trace.cell != "lstm" or state.notation == "both":
        return {}
    return dict(value_names(state.notation))


def _share(v: float) -> Text:
    return Text(f"{v:.0%}", style="bold" if v >= 0.9 else "dim" if v == 0 else "")


def _label(trace, layer: int, j: int) -> str:
    """Unit j's number, with its direction and number within it in a layer that reads backwards ("9 b1")."""
    d = unit_direction(trace, layer, j)
    return str(j) if d is None else f"{j} {d[0][0]}{d[1]}"
