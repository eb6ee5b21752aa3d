"""A heatmap of one vector, drawn with the Line API from cached segments."""

from __future__ import annotations

import numpy as np
from textual import events
from textual.geometry import Size
from textual.strip import Strip

from ..render.heatmap import (
    heatmap_row,
    layout,
    number_row,
    split_layout,
    split_row,
    split_row_of,
    split_rows,
    split_unit_at,
)
from ..render.palette import Scale, quantise
from .lines_view import LinesView
from .messages import UnitChosen


class _Rows:
    """The heatmap's lines as strips, each built the first time it is asked for.

    Only the rows on screen are ever built: a vector of 10,000 values costs
    what the six rows shown cost.
    """

    def __init__(self, build, n: int) -> None:
        self._build, self._n, self._done = build, n, {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, row: int) -> Strip:
        if not -self._n <= row < self._n:
            raise IndexError(row)
        row %= self._n
        strip = self._done.get(row)
        if strip is None:
            strip = self._done[row] = self._build(row)
        return strip


class Heatmap(LinesView):
    """Shows ``values`` (n,) wrapped to the widget's width; scrolls when taller than allowed.

    Where the values are units (a unit is marked), a cell clicked asks for its unit.
    A layer with a backward direction gives ``parts`` (an arrow per direction): each
    direction's block then starts with its arrow, on one line parted by "│" or on rows
    of its own.
    """

    DEFAULT_CSS = """
    Heatmap {
        height: auto;
        max-height: 6;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._values = np.zeros(0)
        self._scale = Scale("viridis", 0.0, 1.0)
        self._selected: int | None = None
        self._mono = False
        self._numbers = False
        self._width = 0
        self._levels = np.zeros(0, dtype=np.intp)
        self._strips = _Rows(lambda row: Strip([]), 0)
        self._parts: tuple[str, ...] = ()  # an arrow per direction block, () for one block
        self._one_row = False  # the direction blocks share one line
        self.cols, self.cell_width = 1, 1  # values per row (for tests and the cursor), characters per value

    def show(
        self,
        values: np.ndarray,
        scale: Scale,
        selected: int | None = None,
        mono: bool = False,
        numbers: bool = False,
        parts: tuple[str, ...] = (),
    ) -> None:
        """Draw ``values`` with ``scale``, marking unit ``selected``; ``numbers`` writes each value out;
        ``parts`` splits the values into equal blocks, one per direction ("→", "←")."""
        self._values, self._scale, self._selected = values, scale, selected
        self._mono, self._numbers = mono, numbers
        self._parts = parts if parts and len(values) and len(values) % len(parts) == 0 else ()
        self._rebuild()

    def _layout(self, n: int, width: int) -> tuple[int, int]:
        if self._parts:
            cols, cw, self._one_row = split_layout(n, len(self._parts), width, 6 if self._numbers else 0)
            return cols, cw
        if self._numbers:
            return max(1, min(n, width // 6)), 6
        return layout(n, width)

    def _line_width(self) -> int:
        """The cells of the widest line: the values, and the arrows and dividers of direction blocks."""
        D = len(self._parts)
        if not D:
            return self.cols * self.cell_width
        if self._one_row:
            return D * (2 + self.cols * self.cell_width) + D - 1
        return 2 + self.cols * self.cell_width

    def _rows(self, n: int, cols: int) -> int:
        if self._parts:
            return split_rows(n, len(self._parts), cols, self._one_row)
        return -(-n // cols)

    def _content_width(self) -> int:
        return max(1, self.scrollable_content_region.width or self.size.width or 1)

    def _row(self, row: int) -> Strip:
        cw = self.cell_width
        if self._parts:
            segs = split_row(
                self._levels, self._values, row, self._parts, self.cols, cw, self._one_row,
                self._scale, self._selected, self._mono, self._numbers,
            )
            return Strip(segs).apply_style(self._style())  # the arrows and dividers on the widget's background
        if self._numbers:
            segs = number_row(self._values, self._levels, row, self._scale, self.cols, self._selected, self._mono)
        else:
            segs = heatmap_row(self._levels, row, self._scale, self.cols, cw, self._selected, self._mono)
        return Strip(segs, len(segs) * cw)

    def _rebuild(self) -> None:
        width = self._content_width()
        n = len(self._values)
        self.cols, self.cell_width = self._layout(n, width)
        self._levels = quantise(self._values, self._scale.lo, self._scale.hi) if n else np.zeros(0, dtype=np.intp)
        rows = self._rows(n, self.cols) if n else 0
        self._strips = _Rows(self._row, rows)
        rows_changed = rows != self.virtual_size.height or width != self._width
        self._width = width
        self.virtual_size = Size(self._line_width(), rows)
        if not self.is_mounted:
            return
        if rows_changed:
            self.refresh(layout=True)
        else:
            self.refresh()
        if self._selected is not None and rows:
            row = (
                split_row_of(self._selected, n, len(self._parts), self.cols, self._one_row)
                if self._parts
                else self._selected // self.cols
            )
            if not self.scroll_offset.y <= row < self.scroll_offset.y + max(1, self.size.height):
                self.scroll_to(y=row, animate=False)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        n = len(self._values)
        cols, _ = self._layout(n, width)
        return max(1, self._rows(n, cols)) if n else 1

    def on_resize(self) -> None:
        if self._content_width() != self._width:
            self._rebuild()

    def unit_at(self, x: int, y: int) -> int | None:
        """The index of the value drawn at content cell (x, y), or None."""
        if self._parts:
            n = len(self._values)
            return split_unit_at(
                x + self.scroll_offset.x, y + self.scroll_offset.y,
                n, len(self._parts), self.cols, self.cell_width, self._one_row,
            )
        col = (x + self.scroll_offset.x) // self.cell_width
        j = (y + self.scroll_offset.y) * self.cols + col
        return j if 0 <= col < self.cols and 0 <= j < len(self._values) else None

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self._selected is None:  # a panel not indexed by unit (x, y)
            return
        j = self.unit_at(offset.x, offset.y)
        if j is not None:
            self.post_message(UnitChosen(j))
