"""A plotext figure as a widget: it draws what a builder function gives for its size.

The widget holds a ``build(width, height) -> figure`` function (see
``render.plots``) and a key; it rebuilds the figure only when the key or its
size changes. A click inside a plot's frame posts :class:`Figure.Picked` with
the data coordinates and the index of the plot (scatters left to right), so a
view can turn it into a unit without knowing where plotext put the axes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from ..render import plots


class Figure(Widget):
    """A plot, rebuilt when its data key or its size changes."""

    DEFAULT_CSS = """
    Figure { width: 1fr; height: 16; }
    """

    class Picked(Message):
        """A click at data coordinates (x, y) of plot number ``index`` (0 = leftmost)."""

        def __init__(self, figure: Figure, index: int, x: float, y: float) -> None:
            super().__init__()
            self.figure, self.index, self.x, self.y = figure, index, x, y

        @property
        def control(self) -> Figure:
            return self.figure

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._build: Callable[[int, int], Any] | None = None
        self._key: object = None
        self._limits: list[tuple[tuple[float, float], tuple[float, float]]] = []
        self._cached: tuple[object, Text] | None = None
        self._boxes: list[plots.Box] = []

    def show(self, key: object, build: Callable[[int, int], Any], limits=()) -> None:
        """Draw ``build(width, height)``; ``key`` names the data (the same key: no rebuild).
        ``limits`` gives each plot's (xlim, ylim), for clicks to map to data."""
        if key == self._key and self._build is not None:
            return
        self._key, self._build, self._limits = key, build, list(limits)
        self._cached = None
        self.refresh()

    def render(self) -> Text:
        if self._build is None:
            return Text("")
        size = (self.size.width, self.size.height)
        if self._cached is None or self._cached[0] != (self._key, size):
            if min(size) < 4:
                return Text("")
            text = Text.from_ansi(self._build(*size).build())
            text.no_wrap = True
            lines = text.plain.split("\n")
            self._boxes = [
                plots.Box(left, top, right, bottom, *lim)
                for (left, top, right, bottom), lim in zip(plots.frames(lines), self._limits)
            ]
            self._cached = ((self._key, size), text)
        return self._cached[1]

    def on_click(self, event: events.Click) -> None:
        for index, box in enumerate(self._boxes):
            at = box.to_data(event.x, event.y)
            if at is not None:
                self.post_message(self.Picked(self, index, *at))
                return
