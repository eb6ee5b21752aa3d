"""The explain-and-debug views: stages, history, units, gradients.

Each view has ``show(app)``: it reads the app's state (trace, model, step,
unit, layer, notation) and draws it; the app calls it only for the view that
is on screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..core import explain
from ..core.checkpoint import CheckpointedTrace, step_seconds
from ..core.errors import UserError
from ..core.gradients import compare_cells, gradient_norms
from ..render.gradients import CELL_NAMES, norms_table, saliency_text
from ..render.history import GUTTER, coloured_tokens, history_lines
from ..render.palette import DIVERGING, Scale
from ..render.panels import PANELS
from ..render.panels import scale as panel_scale
from ..render.stages import stages_renderable
from ..render.text import token_label
from .lines_view import LinesView
from .update import update

if TYPE_CHECKING:
    from ..app import LstmApp


class StagesView(VerticalScroll, can_focus=False):
    """The selected unit's step in three stages, each gate split into its parts."""

    def compose(self) -> ComposeResult:
        yield Static(id="stages-body")

    def show(self, app: LstmApp) -> None:
        tr = app.trace
        body = self.query_one("#stages-body", Static)
        self.border_title = f"stages of unit {app.unit} at t = {app.k + 1}"
        if tr.steps == 0:
            body.update("empty sequence")
            return
        at, k = tr.local(app.k) if isinstance(tr, CheckpointedTrace) else (tr, app.k)  # the window holding t
        st = explain.stages(app.model, at, app.layer, k, app.unit)
        title = Text(f"unit {app.unit} · t = {app.k + 1} · token {token_label(tr.tokens[app.k])!r}\n", style="bold")
        body.update(Group(title, stages_renderable(st, app.notation)))


class HistoryView(VerticalScroll, can_focus=False):
    """Units × time for one quantity, and the text coloured by the selected unit."""

    DEFAULT_CSS = """
    HistoryView LinesView { height: auto; max-height: 70%; overflow-x: hidden; }
    HistoryView #history-text { margin-top: 1; }
    HistoryView#timeline #history-text { max-height: 6; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="history-title")
        yield LinesView(id="history-map")
        yield Static(id="history-text")

    def show(self, app: LstmApp) -> None:
        tr = app.trace
        q = app.history_quantity
        spec = next(s for s in PANELS[tr.cell] if s.key == q)
        width = max(8, (self.content_region.width or 80) - GUTTER - 2)
        title = self.query_one("#history-title", Static)
        if tr.steps == 0:
            title.update("empty sequence")
            self.query_one(LinesView).set_lines([])
            self.query_one("#history-text", Static).update("")
            return
        long = isinstance(tr, CheckpointedTrace)
        unit = min(app.unit, tr.width(q, app.layer) - 1)  # a projected LSTM's h is narrower than its gates
        lines = self.query_one(LinesView)
        # The map changes with the trace, quantity, layer, width, colours and unit, not with
        # the step: a step moves only the ▼ over it, and redraws only that line.
        key = (id(tr), tr.steps, q, app.layer, width, app.palette, app.mono, unit)
        if getattr(self, "_map_key", None) != key:
            if long:  # the forward pass's bins, binned again to the width
                summary = tr.summary(q, app.layer)
                values, cols = explain.bin_time(summary.maxabs(), width, how="maxabs")
                edges = summary.edges[cols]
            else:
                values, edges = explain.bin_time(explain.history(tr, q, app.layer), width, how="maxabs")
            binned = values.shape[1] < tr.steps
            scale = panel_scale(tr, spec, app.layer, app.palette)
            update(
                title,
                Text.assemble(
                    (f"{spec.title} {q}", "bold"),
                    f" of layer {app.layer + 1}: units (rows, two per line) × time (columns",
                    f", {tr.steps:,} steps binned to {values.shape[1]}, largest |value| per bin)" if binned else ")",
                    f"  scale {scale.lo:+.2f} … {scale.hi:+.2f}   (a: next quantity)",
                ),
            )
            cw = max(1, min(3, width // max(values.shape[1], 1)))
            col = explain.bin_of(edges, app.k)
            lines.set_lines(history_lines(values, scale, col, unit, app.mono, cw))
            self._map_key, self._map = key, (values[:0], edges, scale, cw, col)
        else:
            empty, edges, scale, cw, last = self._map
            col = explain.bin_of(edges, app.k)
            if col != last:
                lines.set_line(0, history_lines(empty, scale, col, unit, app.mono, cw)[0])
                self._map = (empty, edges, scale, cw, col)
        tq = q  # the text is coloured by the quantity the history shows (c at first)
        tspec = spec
        text = Text.assemble((f"text coloured by unit {unit}'s {tq}ᵗ", "bold"))
        n = app.HISTORY_TEXT_STEPS // (4 if long else 1)  # a long trace recomputes these steps
        if self.id == "timeline":  # under the panels: a few lines of text, redrawn on every step
            n = min(n, 2 * width)
        shown = slice(max(0, app.k - n), min(tr.steps, app.k + n))  # a window around t for long inputs
        if long:
            series = tr.series(tq, app.layer, unit, shown.start, shown.stop)
        else:
            series = tr.series(tq, app.layer, unit)[shown]
        tscale = _unit_scale(series, tspec, tr, app)
        text.append(f" (scale {tscale.lo:+.2f} … {tscale.hi:+.2f}):\n", style="bold")
        text.append_text(coloured_tokens(tr.tokens[shown], series, tscale, app.k - shown.start))
        update(self.query_one("#history-text", Static), text)


def _unit_scale(series, spec, trace, app) -> Scale:
    """The coloured text's scale: a gate's 0..1, otherwise ± the unit's own largest |value| on screen,
    so that one unit's rise and fall shows even when other units reach much further."""
    if spec.kind == "gate":
        return panel_scale(trace, spec, app.layer, app.palette)
    m = float(np.abs(series).max()) if len(series) else 0.0
    m = m if np.isfinite(m) and m > 0 else 1.0
    return Scale(DIVERGING, -m, m)


class UnitsView(VerticalScroll, can_focus=False):
    """Unit search results and gate saturation per unit, with frozen and dead units flagged."""

    def compose(self) -> ComposeResult:
        yield Static(id="units-search")
        yield Static(id="units-saturation")

    def show(self, app: LstmApp) -> None:
        tr = app.trace
        search = Text()
        if app.search_results is None:
            search.append("unit search: press s and give a step range and a threshold, e.g. ", style="dim")
            search.append("5-9 > 0.5", style="bold")
        else:
            label, results = app.search_results
            search.append(f"units {label}: ", style="bold")
            if not results:
                search.append("none")
            for n, (u, score) in enumerate(results[:12]):
                style = "reverse" if u == app.unit else ""
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
            start, stop = tr.block(app.k, app.WINDOW_SECONDS)
            key = (id(tr), tr.steps, app.layer, start, stop)
            if getattr(self, "_block", (None,))[0] != key:
                win = tr.window(start, stop, keep=False)
                self._block = (key, explain.saturation(win, app.layer), explain.frozen_units(win, app.layer, quantity="h"))
            sat, frozen = self._block[1:]
            title += f" {start + 1:,}-{stop:,} of {tr.steps:,} (a long trace: the block of steps around t)"
        else:
            sat = explain.saturation(tr, app.layer)
            frozen = explain.frozen_units(tr, app.layer, quantity="h")
        table = Table(box=None, padding=(0, 1), header_style="bold", title=title)
        table.add_column("unit", justify="right")
        for g in sat:
            table.add_column(f"{g} < 0.1", justify="right")
            table.add_column(f"{g} > 0.9", justify="right")
        table.add_column("hᵗ std", justify="right")
        table.add_column("")
        dead, still = set(frozen["dead"].tolist()), set(frozen["frozen"].tolist())
        rows = max([len(frozen["std"]), *(len(lo) for lo, _ in sat.values())])  # gates and h may differ in width
        for j in range(rows):
            cells = []
            for lo, hi in sat.values():
                cells += [_share(lo[j]), _share(hi[j])] if j < len(lo) else ["", ""]
            flag = "dead" if j in dead else "never moves" if j in still else ""
            if sat and j < len(next(iter(sat.values()))[0]) and all(max(lo[j], hi[j]) >= 0.99 for lo, hi in sat.values()):
                flag = flag or "all gates saturated"
            table.add_row(
                Text(str(j), style="reverse" if j == app.unit else ""),
                *cells,
                f"{frozen['std'][j]:.3f}" if j < len(frozen["std"]) else "",
                Text(flag, style="bold red") if flag else "",
            )
        body.update(table)


def _share(v: float) -> Text:
    return Text(f"{v:.0%}", style="bold" if v >= 0.9 else "dim" if v == 0 else "")


class GradientView(VerticalScroll, can_focus=False):
    """How far back the target at step t reaches: ‖dL/dhᵗ'‖, ‖dL/dcᵗ'‖, saliency of each token.

    Gradients are computed in float64: in float32 a vanishing gradient
    underflows to exactly 0 after a hundred steps or so, which hides how small it is.
    """

    COMPARE_STEPS = 512  # the comparison reruns three cells: it looks at most this far back

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cache: tuple = (None, None, None, None)  # (model, trace, model64, trace64)

    def _float64(self, model, trace):
        """The model and trace in float64, recomputed only when either changes."""
        if self._cache[0] is model and self._cache[1] is trace:
            return self._cache[2], self._cache[3]
        m64 = model.astype("float64")
        t64 = m64.trace_vectors(
            np.asarray(trace.x, dtype=np.float64), trace.tokens, trace.ids, trace.unknown,
            trace.h0, trace.c0,  # per layer; trace_vectors converts them
        )
        self._cache = (model, trace, m64, t64)
        return m64, t64

    def compose(self) -> ComposeResult:
        yield Static(id="grad-body")

    def show(self, app: LstmApp) -> None:
        tr = app.trace
        body = self.query_one("#grad-body", Static)
        if tr.steps == 0:
            body.update("empty sequence")
            return
        width = max(8, (self.content_region.width or 80) - 36)
        k, note = app.k, None
        if isinstance(tr, CheckpointedTrace):  # the window of steps ending at t
            n = min(app.k + 1, max(32, min(1024, int(app.WINDOW_SECONDS / (3 * step_seconds(app.model))))))
            tr, k = tr.window(app.k + 1 - n, app.k + 1, keep=False), n - 1
            note = Text(
                f"(a long trace: steps {tr.offset + 1:,}-{app.k + 1:,}, the {n:,} up to t, from the state before them)\n",
                style="dim",
            )
        try:
            model, tr = self._float64(app.model, tr)
            g = gradient_norms(model, tr, app.grad_target, k)
            rows = {f"hᵗ' layer {n + 1}" if tr.num_layers > 1 else "hᵗ'": g["h"][n] for n in range(tr.num_layers)}
            if g["c"] is not None:
                rows["cᵗ' (last layer)"] = g["c"][-1]
            rows["xᵗ' (saliency)"] = g["x"]
            parts = [
                Text.assemble(("target: ", "bold"), g["target"], f" = {g['value']:+.4f}   (T: switch target)\n"),
                *([note] if note else []),
                norms_table(rows, width),
                Text("\nsaliency ‖dL/dxᵗ'‖ of each token up to t:", style="bold"),
                saliency_text(tr.tokens, g["x"], app.palette),
            ]
            if app.grad_compare:
                start = max(0, k + 1 - self.COMPARE_STEPS)  # the other cells run on the steps up to t only
                cmp = compare_cells(model, tr.window(start, k + 1), seed=0)
                others = ", ".join(CELL_NAMES[c] for c in cmp if c != tr.cell)
                parts += [
                    Text(
                        f"\ncompare with {others}: ‖dL/dhᵗ'‖ for L = Σ hᵗ of the last layer at t, same hidden size and "
                        "inputs; the other cells untrained (PyTorch's default initialisation)"
                        + (f"; the last {k + 1 - start} steps" if start else ""),
                        style="bold",
                    ),
                    norms_table({CELL_NAMES[c]: v for c, v in cmp.items()}, width),
                ]
            else:
                parts.append(Text("\nx: compare with the other cells (LSTM, GRU, RNN) of the same size", style="dim"))
            body.update(Group(*parts))
        except UserError as exc:
            body.update(Text(str(exc), style="red"))

