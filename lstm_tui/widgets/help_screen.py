"""The help screen: every key of the app, read from its bindings."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def keys_table(bindings: list[Binding]) -> Table:
    """A table of key and meaning, one row per action, keys of one action joined."""
    table = Table(box=None, show_header=True, header_style="bold", padding=(0, 2))
    table.add_column("key")
    table.add_column("does")
    rows: dict[str, list[str]] = {}
    descr: dict[str, str] = {}
    for b in bindings:
        for key in b.key.split(","):
            rows.setdefault(b.action, []).append(b.key_display or _pretty(key.strip()))
        descr[b.action] = b.tooltip or b.description
    for action, keys in rows.items():
        table.add_row(" ".join(dict.fromkeys(keys)), descr[action])
    return table


def _pretty(key: str) -> str:
    names = {"right": "→", "left": "←", "up": "↑", "down": "↓", "space": "space", "question_mark": "?",
             "slash": "/", "plus": "+", "minus": "-", "equals_sign": "=", "escape": "esc"}
    return names.get(key, key)


class HelpScreen(ModalScreen[None]):
    """Lists every key; escape or ? closes it (q quits, as everywhere)."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen Static { width: 100%; height: auto; }
    """
    AUTO_FOCUS = "VerticalScroll"  # so that ↑ ↓ PgUp PgDn scroll a list taller than the screen
    BINDINGS = [
        Binding("escape,question_mark", "dismiss_help", "close help"),
        Binding("q", "app.quit", "quit"),  # a modal screen hides the app's keys
    ]

    def __init__(self, bindings: list[Binding], about: str) -> None:
        super().__init__()
        self._keys = bindings
        self._about = about

    def compose(self) -> ComposeResult:
        with VerticalScroll() as v:
            v.border_title = "lstm-tui keys"
            v.border_subtitle = "esc or ? closes · q quits"
            yield Static(self._about, markup=False)
            yield Static(keys_table(self._keys))

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
