"""The effect map view: step × unit, how much setting one unit at one step moves log p(token at T).

The estimate (one backward pass) is drawn at once; the exact rows replace
it as the app's worker computes them, with a progress bar. The map's cursor
is the app's own step and unit (← → ↑ ↓ move it); Enter or a click on a
cell asks the app to go to that step and unit (:class:`EffectCellChosen`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import ProgressBar, Static

from ..core import explain
from ..core.interventions import EffectMap
from ..render.interventions import GUTTER, delta_scale, effect_columns, effect_lines
from ..render.text import token_label
from .lines_view import LinesView
from .state import State
from .update import update


@dataclass(frozen=True)
class EffectShown:
    """What the app hands the view: the map, its estimate and how far the exact rows have got."""

    map: EffectMap  # the exact rows so far (``map.done``) and the question asked
    estimate: np.ndarray | None  # (T, W) gradient × change, None until the worker has it
    running: bool  # the exact rows are still being computed
    fraction: float = 0.0  # share of the exact work done
    note: str = ""  # why the map stopped, or what the estimate cannot cover


class EffectCellChosen(Message):
    """Go to step ``k`` and unit ``unit`` of layer ``layer`` (a cell of the effect map)."""

    def __init__(self, k: int, layer: int, unit: int) -> None:
        super().__init__()
        self.k, self.layer, self.unit = k, layer, unit


class EffectLines(LinesView):
    """The map's lines; a click on a cell posts :class:`EffectCellChosen`."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.place: tuple | None = None  # (edges, cell width, layer) of the lines shown

    def cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        """(step, unit) drawn at content cell (x, y), or None."""
        if self.place is None:
            return None
        edges, cw, _ = self.place
        col = (x + self.scroll_offset.x - GUTTER) // cw
        unit = y + self.scroll_offset.y - 1  # line 0 is the axis
        if 0 <= col < len(edges) - 1 and 0 <= unit < len(self._strips) - 1:
            return int(edges[col]), unit
        return None

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        cell = None if offset is None else self.cell_at(offset.x, offset.y)
        if cell is not None:
            self.post_message(EffectCellChosen(cell[0], self.place[2], cell[1]))


def no_map_hint(state: State) -> str:
    """The view's one line before any map: what E would do here (the app's action_effect_map refuses alike)."""
    if not state.trace.has_head:
        return "no effect map: this model has no output head, so no log p to map"
    if not state.steps:
        return "no effect map yet: type a sequence (/), then press E"
    return "no effect map yet: press E to compute one for the current step"


class EffectView(Vertical, can_focus=False):
    """Step × unit map of log p_patched(token at T) − log p_clean(token at T), one patch per cell."""

    DEFAULT_CSS = """
    EffectView { padding: 0 1; }
    EffectView #effect-title { height: auto; }
    EffectView ProgressBar { height: 1; }
    EffectView EffectLines { height: 1fr; }
    EffectView #effect-cell { height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="effect-title")
        yield ProgressBar(total=100, show_eta=False, id="effect-progress")
        yield EffectLines(id="effect-map")
        yield Static(id="effect-cell")

    def _reveal(self, line: int) -> None:
        lines = self.query_one(EffectLines)
        height = max(1, lines.size.height)
        if not 0 <= line - lines.scroll_offset.y < height:
            lines.scroll_to(y=max(0, line - height // 2), animate=False)

    def values(self, shown: EffectShown) -> np.ndarray:
        """(rows, W): exact rows where done, the estimate elsewhere (NaN without one), up to the last row."""
        em = shown.map
        last = em.last + 1
        est = shown.estimate if shown.estimate is not None else np.full_like(em.effect, np.nan)
        return np.where(em.done[:last, None], em.effect[:last], est[:last])

    def on_resize(self) -> None:
        # the first show() can come before the view is laid out (content width 0: drawn for 80 columns);
        # nothing else redraws it when it gets its size, so the map's cell width depended on timing
        if getattr(self, "_state", None) is not None and self.display:
            self.show(self._state)

    def show(self, state: State) -> None:
        self._state = state  # the last state shown, drawn again when the size changes
        title, cell = self.query_one("#effect-title", Static), self.query_one("#effect-cell", Static)
        lines, bar = self.query_one(EffectLines), self.query_one(ProgressBar)
        shown = state.effect if state.steps else None  # an empty run has no step to map
        bar.display = shown is not None  # no bar at 0% before there is any work to measure
        if shown is None:
            update(title, no_map_hint(state))
            lines.set_lines([])
            lines.place, lines._key = None, None
            update(cell, "")
            return
        em = shown.map
        vals = self.values(shown)  # (rows, W)
        # the view's own width less a scrollbar's: the map's width must not depend on whether the
        # lines overflowed at the last draw (their scrollbar comes and goes)
        width = max(10, (self.content_region.width or 80) - 2)
        ncols, cw = effect_columns(vals.shape[0], width)
        binned, edges = explain.bin_time(vals.T, ncols, how="maxabs")
        finite = np.abs(vals[np.isfinite(vals)])
        scale = delta_scale(float(finite.max()) if finite.size else 0.0)
        col = explain.bin_of(edges, state.k) if state.k <= em.last else None
        unit = state.unit if state.layer == em.layer else None
        key = (id(em), int(em.done.sum()), shown.estimate is None, width, col, unit, state.mono)
        if getattr(lines, "_key", None) != key:  # the map changes with its rows and the cursor, not with each key
            lines._key = key
            lines.set_lines(effect_lines(binned, scale, col, unit, explain.bin_of(edges, em.step), state.mono, cw))
            lines.place = (edges, cw, em.layer)
            if unit is not None:  # once laid out (the lines may be new): the selected unit's line in view
                lines.call_after_refresh(self._reveal, unit + 1)
        value = "src" if em.value == "src" else f"{em.value:g}"
        done = int(em.done[: em.last + 1].sum())
        where = f"exact {shown.fraction:.0%} (Esc stops)" if shown.running else (
            "exact" if em.complete else f"estimate, exact rows {done} of {em.last + 1}")
        update(title, Text.assemble(
            ("effect map", "bold"),
            f": log p({token_label(em.label)!r} at t = {em.step + 1}) change when {em.quantity}[j] of layer "
            f"{em.layer + 1} at step s is set to {value}   [{where}]   scale ±{scale.hi:.3g}  "
            f"(rows: units j; columns: steps s{', binned' if len(edges) - 1 < vals.shape[0] else ''}; "
            "Enter / click: go there; E: new map)",
            (f"\n{shown.note}", "dim") if shown.note else "",
        ))
        bar.update(progress=100 * (1.0 if em.complete else shown.fraction))
        if unit is not None and state.k <= em.last and unit < vals.shape[1]:
            exact = em.effect[state.k, unit] if em.done[state.k] else None
            est = None if shown.estimate is None else shown.estimate[state.k, unit]
            update(cell, f"t = {state.k + 1}, unit {unit}: exact "
                         f"{'…' if exact is None else f'{exact:+.4f}'}, estimate "
                         f"{'…' if est is None else f'{est:+.4f}'}")
        else:
            update(cell, f"t = {state.k + 1} is after the target step" if unit is not None else
                   f"the map is of layer {em.layer + 1}: l switches layers")
