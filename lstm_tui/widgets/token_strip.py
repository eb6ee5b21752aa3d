"""The sequence as one line of tokens, the current step highlighted."""

from __future__ import annotations

import numpy as np
from textual.widget import Widget

from ..render.text import token_strip


class TokenStrip(Widget):
    """Scrolls with the current step so it stays in view."""

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
        self.refresh()

    def render(self):
        return token_strip(self.tokens, self.unknown, self.k, self.content_region.width or 80)
