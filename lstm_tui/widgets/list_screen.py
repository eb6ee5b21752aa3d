"""A modal list the app owns: it shows rows as text, and asks the app (messages up)
to change the list; the app keeps the real list. The breakpoint list and the patch
list are two of these."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static


class ListScreen(ModalScreen[None]):
    """Rows in an option list under a title, a help line and a key line; Esc closes."""

    FRAME_TITLE = ""  # the frame's title
    KEYS = ""  # the frame's bottom line: the keys
    HELP = ""  # one line above the list
    EMPTY = ""  # the one row shown when there are none
    AUTO_FOCUS = "OptionList"
    BINDINGS = [Binding("q", "app.quit", "quit")]  # a modal screen hides the app's keys (subclasses add theirs)

    def __init__(self, rows: list) -> None:
        super().__init__()
        self._rows = list(rows)  # what is shown; the app keeps the list

    def compose(self) -> ComposeResult:
        with Vertical() as v:
            v.border_title = self.FRAME_TITLE
            v.border_subtitle = self.KEYS
            yield Static(self.HELP)
            yield OptionList(*self._labels())

    def _label(self, row) -> str:
        return str(row)

    def _labels(self) -> list[Text]:
        """The rows as typed (Text, not markup: a breakpoint's c[t] is no tag)."""
        return [Text(self._label(row)) for row in self._rows] or [Text(self.EMPTY)]

    def _highlighted(self) -> int | None:
        """The highlighted row's index, None when the list is empty."""
        n = self.query_one(OptionList).highlighted
        return n if n is not None and self._rows else None

    def _redraw(self, highlight: int | None) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self._labels())
        if highlight is not None and self._rows:
            options.highlighted = min(highlight, len(self._rows) - 1)

    def action_close(self) -> None:
        self.dismiss(None)
