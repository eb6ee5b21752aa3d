"""The sequence as one line of tokens, the current step highlighted."""

from __future__ import annotations

import numpy as np
from textual import events
from textual.strip import Strip
from textual.widget import Widget

from ..render.text import token_at, token_strip
from .messages import StepChosen
from .rich_lines import RichLines


class TokenStrip(RichLines, Widget):
    """Scrolls with the current step so it stays in view; a token clicked asks to go to its step."""

    DEFAULT_CSS = """
    TokenStrip { height: 1; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tokens: tuple[str, ...] = ()
        self.unknown = np.zeros(0, dtype=bool)
        self.k = 0

    def show(self, tokens: tuple[str, ...], unknown: np.ndarray, k: int) -> None:
        self.tokens, self.unknown, self.k = tokens, unknown, k
        if self.size.height:  # its lines, the border's cells too: the frame stays (framing.py)
            self.repaint_lines(range(self.size.height))
        else:
            self.refresh()

    def render(self):
        return token_strip(self.tokens, self.unknown, self.k, self.content_region.width or 80)

    def warm(self, k: int) -> None:
        """Draw the strip of step k now, before a key asks for it."""
        if 0 <= k < len(self.tokens):
            self.rich_warm(token_strip(self.tokens, self.unknown, k, self.content_region.width or 80))

    def render_line(self, y: int) -> Strip:
        line = self.rich_line(y, (self.tokens, self.unknown, self.k), self.render)
        return super().render_line(y) if line is None else line

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        n = token_at(self.tokens, self.unknown, self.k, self.content_region.width or 80, offset.x)
        if n is not None:
            self.post_message(StepChosen(n))
