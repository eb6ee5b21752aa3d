"""The explain-and-debug views: stages, history, units, gradients.

Each view has ``show(app)``: it reads the app's state (trace, model, step,
unit, layer, notation) and draws it; the app calls it only for the view that
is on screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group
from rich.segment import Segment
from rich.style import Style
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
    """Units × time for one quantity, and the text coloured by the selected unit.

    The map takes the height its container leaves: each unit gets one to four
    half-lines (``render.history.unit_height``). Colours are each unit's own
    robust range by default, or one shared scale (``app.history_scale``).
    """

    DEFAULT_CSS = """
    HistoryView LinesView { height: auto; overflow-x: hidden; }
    HistoryView #history-text { margin-top: 1; height: 1; }
    """

    TEXT_LINES = 4  # lines kept for the coloured text under the map (more when the map leaves them)
    MAX_CELL_WIDTH = 6  # characters per step at most: a short sequence spreads over the width

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
        if getattr(self, "_app", None) is not None and self.display:
            self.show(self._app)  # the map takes the new height

    def show(self, app: LstmApp) -> None:
        self._app = app
        tr = app.trace
        q = app.history_quantity
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
        key = (id(tr), tr.steps, q, app.layer, width, room, app.palette, app.mono, app.unit, app.history_scale)
        if getattr(self, "_map_key", None) != key:
            if long:  # the forward pass's bins, binned again to the width
                summary = tr.summary(q, app.layer)
                values, cols = explain.bin_time(summary.maxabs(), width, how="maxabs")
                edges = summary.edges[cols]
            else:
                values, edges = explain.bin_time(explain.history(tr, q, app.layer), width, how="maxabs")
            scale = panel_scale(tr, spec, app.layer, app.palette)
            if app.history_scale == "unit":
                scale = unit_scales(*self._ranges(tr, q, app.layer), scale)
            update(title, history_title(spec.title, q, app.layer, tr.steps, values.shape[1], scale))
            cw = max(1, min(self.MAX_CELL_WIDTH, width // max(values.shape[1], 1)))
            col = explain.bin_of(edges, app.k)
            height = self.unit_height = unit_height(len(values), room)
            used = min(room, -(-len(values) * height // 2))
            lines.styles.max_height = room + 2  # the map and its axis and legend lines; more units scroll
            lines.set_lines(
                [
                    *history_lines(values, scale, col, app.unit, app.mono, cw, height),
                    history_legend(scale, app.unit, values.shape[1] * cw, app.mono, room=width),
                ]
            )
            self._text_lines = text_lines + (room - used if self.id != "timeline" else 0)  # the rest: text
            self._map_key, self._map = key, (edges, cw, col)
        else:
            edges, cw, last = self._map
            col = explain.bin_of(edges, app.k)
            if col != last:
                lines.set_line(0, axis_line(col, cw, (len(edges) - 1) * cw))
                self._map = (edges, cw, col)
        # The text around t, coloured by the unit's value of the quantity the history shows
        # (c at first): as many tokens as fill its lines, so a step redraws a few lines only.
        # A short text leaves lines over in the history view: the same text coloured by the
        # unit's other quantities (h, the gates) fills them.
        text_width = width + GUTTER
        spare = self._text_lines
        shown = token_window(tr.tokens, app.k, text_width * spare)
        body: list[list[Segment]] = []
        extra = self.id != "timeline"
        for n, tq in enumerate([q, *sorted((x for x in tr.quantities if x != q), key=_TEXT_ORDER.find)]):
            if long:
                series = tr.series(tq, app.layer, app.unit, shown.start, shown.stop)
            else:
                series = tr.series(tq, app.layer, app.unit)[shown]
            tspec = next(s for s in PANELS[tr.cell] if s.key == tq)
            tscale = _unit_scale(series, tspec, tr, app)
            block = coloured_token_lines(tr.tokens[shown], series, tscale, app.k - shown.start, text_width, spare)
            scale_words = f"(scale {tscale.lo:+.2f} … {tscale.hi:+.2f})"
            if n == 0:
                heading = f"text coloured by unit {app.unit}'s {tq}ᵗ {scale_words}:"
                update(self.query_one("#history-text", Static), Text(heading, style="bold"))
            elif extra and len(block) + 1 <= spare:
                body.append([Segment(f"… by its {tq}ᵗ {scale_words}:", Style(bold=True))])
            else:
                break
            body += block
            spare -= len(block) + (n > 0)
        self.query_one("#history-tokens", LinesView).set_lines(body)


_TEXT_ORDER = "chfiogrzn"  # the order of the extra coloured texts: states first, then the gates


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
        for j in range(tr.hidden_size):
            cells = []
            for lo, hi in sat.values():
                cells += [_share(lo[j]), _share(hi[j])]
            flag = "dead" if j in dead else "never moves" if j in still else ""
            if sat and all(max(lo[j], hi[j]) >= 0.99 for lo, hi in sat.values()):
                flag = flag or "all gates saturated"
            table.add_row(
                Text(str(j), style="reverse" if j == app.unit else ""),
                *cells,
                f"{frozen['std'][j]:.3f}",
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
            np.asarray(trace.h0, dtype=np.float64), None if trace.c0 is None else np.asarray(trace.c0, dtype=np.float64),
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

