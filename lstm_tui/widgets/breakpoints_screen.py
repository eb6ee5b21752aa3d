"""The breakpoint list: enable, disable and delete the conditions that `c` stops at."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message

from ..core.breakpoints import Breakpoint
from .list_screen import ListScreen


class BreakpointsScreen(ListScreen):
    """Shows the breakpoints and asks the app to toggle or delete one; closes with Esc or B."""

    class Toggled(Message):
        """Breakpoint ``index`` of the list shown is now to be ``enabled`` (or not)."""

        def __init__(self, index: int, enabled: bool) -> None:
            super().__init__()
            self.index, self.enabled = index, enabled

    class Deleted(Message):
        """Delete breakpoint ``index`` of the list shown."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    DEFAULT_CSS = """
    BreakpointsScreen { align: center middle; }
    BreakpointsScreen > Vertical {
        width: 72; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    BreakpointsScreen OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [
        Binding("space,enter", "toggle", "enable / disable"),
        Binding("d,delete", "delete", "delete"),
        Binding("escape,B", "close", "close"),
    ]

    FRAME_TITLE = "breakpoints"
    KEYS = "space: on/off  d: delete  esc: close"
    HELP = "b adds one; c / C go to the next / previous step where an enabled one holds."
    EMPTY = "(none yet: press b in the main screen)"

    def __init__(self, breakpoints: list[Breakpoint]) -> None:
        super().__init__([(bp.text, bp.enabled) for bp in breakpoints])

    def _label(self, row) -> str:
        text, enabled = row
        return f"{'●' if enabled else '○'} {text}"

    def action_toggle(self) -> None:
        n = self._highlighted()
        if n is not None:
            text, enabled = self._rows[n]
            self._rows[n] = (text, not enabled)
            self.post_message(self.Toggled(n, not enabled))
            self._redraw(n)

    def action_delete(self) -> None:
        n = self._highlighted()
        if n is not None:
            del self._rows[n]
            self.post_message(self.Deleted(n))
            self._redraw(n)
