"""A Line-API view of pre-rendered lines of segments, scrolling both ways."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LinesView(ScrollView, can_focus=False):
    """Draws ``set_lines``' lines; only the visible ones are cropped per frame."""

    def __init__(self, *, id: str | None = None, classes: str | None = None, base_style: bool = False) -> None:
        super().__init__(id=id, classes=classes)
        # Put the widget's own style under every segment: text without a background then shows on
        # the theme's background rather than the terminal's (each strip keeps the result cached).
        self.base_style = base_style
        self._strips: list[Strip] = []
        self._line_style: Style | None = None  # the widget's style, looked up once per frame

    def set_lines(self, lines: list[list[Segment]]) -> None:
        self._strips = [Strip(segs) for segs in lines]
        width = max((s.cell_length for s in self._strips), default=0)
        old = self.virtual_size
        self.virtual_size = Size(width, len(self._strips))
        if self.is_mounted:
            self.refresh(layout=old.height != len(self._strips))

    def set_line(self, row: int, segments: list[Segment]) -> None:
        """Replace one line, redrawing only it (a cursor moving over a map that stays)."""
        strip = Strip(segments)
        if row >= len(self._strips) or strip.cell_length > self.virtual_size.width:
            self.set_lines([*[list(s) for s in self._strips[:row]], segments, *[list(s) for s in self._strips[row + 1 :]]])
            return
        self._strips[row] = strip
        y = row - self.scroll_offset.y
        if self.is_mounted and 0 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def render_lines(self, crop: Region) -> list[Strip]:
        self._line_style = None  # the theme may have changed since the last frame
        return super().render_lines(crop)

    def _style(self) -> Style:
        # ``rich_style`` walks every ancestor's CSS on each call: once a frame is enough.
        if self._line_style is None:
            self._line_style = self.rich_style
        return self._line_style

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = y + scroll_y
        width = self.size.width
        if row >= len(self._strips):
            return Strip.blank(width, self._style())
        strip = self._strips[row]
        if self.base_style:
            strip = strip.apply_style(self._style())
        if scroll_x or strip.cell_length > width:
            strip = strip.crop(scroll_x, scroll_x + width)
        return strip if strip.cell_length == width else strip.extend_cell_length(width, self._style())
