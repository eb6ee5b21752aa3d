"""The selected unit's numbers at the current step, equations filled in."""

from __future__ import annotations

from rich.text import Text

from ..core.trace import Trace
from ..render.text import unit_text, unit_title
from .rich_lines import RichStatic
from .update import update


class UnitView(RichStatic):
    DEFAULT_CSS = """
    UnitView {
        height: auto;
        border: round $accent 60%;
        padding: 0 1;
    }
    """

    def show(
        self, trace: Trace, layer: int, k: int, unit: int, notation: str = "both", model=None, patched=()
    ) -> None:
        """The unit's numbers at step k; ``model`` names the layer's own activations; ``patched``
        lists the quantities of this unit and step that a patch set (their equations do not hold)."""
        self.border_title = Text(unit_title(trace, layer, k, unit))  # verbatim: a token is not markup
        update(self, self._text(trace, layer, k, unit, notation, model, patched))

    def warm(self, trace: Trace, layer: int, k: int, unit: int, notation: str = "both", model=None, patched=()) -> None:
        """Draw what ``show`` of these would show, now, before a key asks for it."""
        self.rich_warm(self._text(trace, layer, k, unit, notation, model, patched))

    @staticmethod
    def _text(trace: Trace, layer: int, k: int, unit: int, notation: str, model, patched) -> Text:
        text = unit_text(trace, layer, k, unit, notation, model)
        if patched:
            text = Text.assemble(
                text, (f"\nset by a patch: {', '.join(q + 'ᵗ' for q in patched)}: its equation above does not hold at this step", "bold yellow")
            )
        return text
