"""The patch list: every active patch, and a key to remove one or all of them."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message

from .list_screen import ListScreen


class PatchesScreen(ListScreen):
    """Shows the patches (as text) and asks the app to remove one or all; closes with Esc or X."""

    class Removed(Message):
        """Remove patch ``index`` of the list shown (None: every patch)."""

        def __init__(self, index: int | None) -> None:
            super().__init__()
            self.index = index

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

    FRAME_TITLE = "patches"
    KEYS = "d: remove  D: remove all  esc: close"
    HELP = "! sets the selected unit at this step; the run is recomputed from the first patched step."
    EMPTY = "(none: press ! in the main screen to set a unit)"

    def action_remove(self) -> None:
        n = self._highlighted()
        if n is not None:
            del self._rows[n]
            self.post_message(self.Removed(n))
            self._redraw(n)

    def action_clear(self) -> None:
        if self._rows:
            self._rows.clear()
            self.post_message(self.Removed(None))
            self._redraw(None)
