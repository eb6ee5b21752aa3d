"""The stages view: the selected unit's step in three stages, each gate split into its parts."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..core import explain
from ..core.checkpoint import CheckpointedTrace
from ..render.stages import stages_renderable
from ..render.text import token_label
from .state import State


class StagesView(VerticalScroll, can_focus=False):
    """The selected unit's step in three stages, each gate split into its parts."""

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
        title = Text(f"unit {state.unit} · t = {state.k + 1} · token {token_label(tr.tokens[state.k])!r}\n", style="bold")
        body.update(Group(title, stages_renderable(st, state.notation)))
