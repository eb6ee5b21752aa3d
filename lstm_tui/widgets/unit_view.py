"""The selected unit's numbers at the current step, equations filled in."""

from __future__ import annotations

from textual.widgets import Static

from ..core.trace import Trace
from ..render.text import unit_text, unit_title
from .update import update


class UnitView(Static):
    DEFAULT_CSS = """
    UnitView {
        dock: bottom;
        height: auto;
        border: round $accent 60%;
        padding: 0 1;
    }
    """

    def show(self, trace: Trace, layer: int, k: int, unit: int, notation: str = "both", model=None) -> None:
        """The unit's numbers at step k; ``model`` names the layer's own activations."""
        self.border_title = unit_title(trace, layer, k, unit)
        update(self, unit_text(trace, layer, k, unit, notation, model))
