"""The breakpoint list: enable, disable and delete the conditions that `c` stops at."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static

from ..core.breakpoints import Breakpoint


class BreakpointsScreen(ModalScreen[None]):
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

    AUTO_FOCUS = "OptionList"
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

    def __init__(self, breakpoints: list[Breakpoint]) -> None:
        super().__init__()
        self._rows = [(bp.text, bp.enabled) for bp in breakpoints]  # what is shown; the app keeps the list

    def compose(self) -> ComposeResult:
        with Vertical() as v:
            v.border_title = "breakpoints"
            v.border_subtitle = "space: on/off  d: delete  esc: close"
            yield Static("b adds one; c / C go to the next / previous step where an enabled one holds.")
            yield OptionList(*self._labels())

    def _labels(self) -> list[str]:
        if not self._rows:
            return ["(none yet: press b in the main screen)"]
        return [f"{'●' if enabled else '○'} {text}" for text, enabled in self._rows]

    def _redraw(self, highlight: int | None) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self._labels())
        if highlight is not None and self._rows:
            options.highlighted = min(highlight, len(self._rows) - 1)

    def action_toggle(self) -> None:
        n = self.query_one(OptionList).highlighted
        if n is not None and self._rows:
            text, enabled = self._rows[n]
            self._rows[n] = (text, not enabled)
            self.post_message(self.Toggled(n, not enabled))
            self._redraw(n)

    def action_delete(self) -> None:
        n = self.query_one(OptionList).highlighted
        if n is not None and self._rows:
            del self._rows[n]
            self.post_message(self.Deleted(n))
            self._redraw(n)

    def action_close(self) -> None:
        self.dismiss(None)
