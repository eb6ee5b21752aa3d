"""The stages view: the selected unit's step in three stages, each gate split into its parts."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..core import explain
from ..core.checkpoint import CheckpointedTrace
from ..render.acts import acts_note, layer_direction, symbols
from ..render.directions import previous_symbol, read_span, unit_direction
from ..render.stages import stages_renderable
from ..render.text import token_label
from .state import State, patched_here


class StagesView(VerticalScroll, can_focus=False):
    """The selected unit's step in three stages, each gate split into its parts.

    A backward unit (a bidirectional or reverse layer) starts from its state at
    t + 1, and the view says so; a projected LSTM gets a fourth stage, h = W_hr m.
    """

    def compose(self) -> ComposeResult:
        yield Static(id="stages-body")

    def show(self, state: State) -> None:
        tr = state.trace
        body = self.query_one("#stages-body", Static)
        self.border_title = f"stages of unit {state.unit} at t = {state.k + 1}"
        if tr.steps == 0:
            body.update("empty sequence")
            return
        at, k = tr.local(state.k) if isinstance(tr, CheckpointedTrace) else (tr, state.k)  # the window holding t
        st = explain.stages(state.model, at, state.layer, k, state.unit)
        d = unit_direction(tr, state.layer, state.unit)
        backward = d is not None and d[0] == "backward"
        lay = layer_direction(state.model, state.layer, 1 if backward and len(tr.reverse_flags(state.layer)) > 1 else 0)
        pv = previous_symbol(tr, state.layer, state.unit)
        title = Text(f"unit {state.unit} · t = {state.k + 1} · token {token_label(tr.tokens[state.k])!r}", style="bold")
        if d is not None:
            span = read_span(tr, state.layer, state.unit, state.k)
            title.append(f" · {'←' if backward else '→'} {d[0]} unit {d[1]}, has read {span}")
        parts = [title]
        if backward:
            prev = f"h{pv}, c{pv}" if tr.cell == "lstm" else f"h{pv}"
            parts.append(Text(f"it reads backwards: its previous state {prev} is the one at t + 1", style="dim"))
        note = acts_note(state.model, state.layer)
        if note:
            parts.append(Text(note, style="dim"))
        projection = None
        if st.get("projected") and lay is not None:
            D = len(tr.reverse_flags(state.layer))
            P, u = lay.output_size, d[1] if d is not None else state.unit
            side = 1 if backward and D > 1 else 0
            h = at.value("h", state.layer, k)[side * P : (side + 1) * P]  # (P,) the unit's direction
            projection = {"h": h, "column": lay.W_hr[:, u], "unit": u}
        parts[-1].append("\n")  # a blank line before the table
        parts.append(stages_renderable(st, state.notation, symbols(lay, tr.cell), pv, projection))
        patched = patched_here(state.patches, state.layer, state.k, state.unit) if state.mode is None else []
        if patched:  # the stages compute what the equations give; the run carries the patch's value
            values = ", ".join(f"{q}ᵗ = {at.value(q, state.layer, k)[state.unit]:+.4f}" for q in patched)
            parts.append(Text(f"set by a patch: {values} in the run; the stages above show what the "
                              "equations give", style="bold yellow"))
        body.update(Group(*parts))
