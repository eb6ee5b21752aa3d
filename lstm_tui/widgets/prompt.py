"""A one-line question in a modal: returns what was typed, or None on Esc; and the Input both it and the
app's sequence line use, whose keys act in the order they were typed."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TypedInput(Input):
    """Textual's Input inserts a printable key as it arrives, but a key it binds (ctrl+u, backspace, ←, Enter)
    acts once the key has bubbled up to the app: in a burst of keys (a paste without bracketed paste, keys
    sent by a script) the letters after a bound key went in before it acted, so ctrl+u, a text and Enter
    ran an empty sequence (Textual issue 6605). Here the Input's own bindings act as their key arrives (keys
    the app or a screen binds still act once they reach it, as in Textual)."""

    async def _on_key(self, event: events.Key) -> None:
        self._restart_blink()  # as Input's own handler does for every key
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return
        await super()._on_key(event)


class PromptScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical {
        width: 70; max-width: 100%; height: auto; border: round $accent; background: $surface; padding: 0 1;
    }
    PromptScreen Static { color: $text-muted; }
    """
    AUTO_FOCUS = "#answer"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, hint: str, value: str = "") -> None:
        super().__init__()
        self._title, self._hint, self._value = title, hint, value

    def compose(self) -> ComposeResult:
        with Vertical() as v:
            v.border_title = self._title
            yield Static(self._hint, markup=False)
            yield TypedInput(value=self._value, id="answer")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
