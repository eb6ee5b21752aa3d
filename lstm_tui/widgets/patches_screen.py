"""The patch list: every active patch, and a key to remove one or all of them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static


class PatchesScreen(ModalScreen[None]):
    """Shows the patches (as text) and asks the app to remove one or all; closes with Esc or X."""

    class Removed(Message):
        """Remove patch ``index`` of the list shown (None: every patch)."""

        def __init__(self, index: int | None) -> None:
            super().__init__()
            self.index = index

    AUTO_FOCUS = "OptionList"
    DEFAULT_CSS = """
    PatchesScreen { align: center middle; }
    PatchesScreen > Vertical {
        width: 100; max-width: 100%; height: auto; max-height: 90%;
        border: round $warning; background: $surface; padding: 0 1;
    }
    PatchesScreen OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [
        Binding("d,delete", "remove", "remove"),
        Binding("D", "clear", "remove all"),
        Binding("escape,X", "close", "close"),
    ]

    def __init__(self, rows: list[str]) -> None:
        super().__init__()
        self._rows = list(rows)  # what is shown; the app keeps the patches

    def compose(self) -> ComposeResult:
        with Vertical() as v:
            v.border_title = "patches"
            v.border_subtitle = "d: remove  D: remove all  esc: close"
            yield Static("! sets the selected unit at this step; the run is recomputed from the first patched step.")
            yield OptionList(*self._labels())

    def _labels(self) -> list[str]:
        return list(self._rows) or ["(none: press ! in the main screen to set a unit)"]

    def _redraw(self, highlight: int | None) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self._labels())
        if highlight is not None and self._rows:
            options.highlighted = min(highlight, len(self._rows) - 1)

    def action_remove(self) -> None:
        n = self.query_one(OptionList).highlighted
        if n is not None and self._rows:
            del self._rows[n]
            self.post_message(self.Removed(n))
            self._redraw(n)

    def action_clear(self) -> None:
        if self._rows:
            self._rows.clear()
            self.post_message(self.Removed(None))
            self._redraw(None)

    def action_close(self) -> None:
        self.dismiss(None)
