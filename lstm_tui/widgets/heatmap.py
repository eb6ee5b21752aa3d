"""A panel's heatmap of one vector: its rows as strips, built from cached segments.

Not a widget of its own: the :class:`~lstm_tui.widgets.panel.Panel` that owns
it draws its rows among the panel's other lines, so that a step repaints the
rows that changed and nothing is laid out.
"""

from __future__ import annotations

import numpy as np
from rich.style import Style
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

MAX_ROWS = 6  # rows shown at once, unless the view has lines to spare; a taller heatmap scrolls, with a scrollbar
SCROLLBAR = 1  # the scrollbar's width, in cells


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


class HeatmapRows:
    """``values`` (n,) wrapped to a width, ``cols`` values a row, ``cell_width`` characters each.

    ``fit(width)`` fits the values to the cells a panel has; ``rows_shown`` of
    the ``len(strips)`` rows are drawn from ``scroll`` on, with a scrollbar when
    some are hidden. ``row_key(r)`` changes exactly when row r's strip does.
    A layer with a backward direction gives ``parts`` (an arrow per direction): each
    direction's block then starts with its arrow, on one line parted by "│" or on rows
    of its own.
    """

    def __init__(self) -> None:
        self._values = np.zeros(0)
        self._scale = Scale("viridis", 0.0, 1.0)
        self._selected: int | None = None
        self._mono = False
        self._numbers = False
        self._levels = np.zeros(0, dtype=np.intp)
        self._strips = _Rows(lambda row: Strip([]), 0)
        self.cols = 1  # values per row, for tests and the cursor
        self.cell_width = 1  # characters per value
        self.width = 0  # the cells the rows are wrapped to (the panel's, less a scrollbar)
        self.scroll = 0  # the first row shown
        self.max_rows = MAX_ROWS  # rows shown at most (more where the steps view has lines to spare)
        self.style = Style()  # under the arrows and dividers of direction blocks (the panel's own)
        self._parts: tuple[str, ...] = ()  # an arrow per direction block, () for one block
        self._one_row = False  # the direction blocks share one line

    def set(
        self, values: np.ndarray, scale: Scale, selected: int | None, mono: bool, numbers: bool,
        parts: tuple[str, ...] = (),
    ) -> None:
        """Take a step's ``values``; the rows are built when asked for. ``parts`` splits the values
        into equal blocks, one per direction ("→", "←")."""
        self._values, self._scale, self._selected = values, scale, selected
        self._mono, self._numbers = mono, numbers
        self._parts = parts if parts and len(values) and len(values) % len(parts) == 0 else ()
        self._rebuild()

    def _fit(self, n: int, width: int) -> tuple[int, int, bool]:
        """(cols, cell width, whether the direction blocks share one line) in ``width`` cells."""
        if self._parts:
            return split_layout(n, len(self._parts), width, 6 if self._numbers else 0)
        if self._numbers:
            return max(1, min(n, width // 6)), 6, False
        return (*layout(n, width), False)

    def rows_for(self, width: int, max_rows: int | None = None) -> tuple[int, int]:
        """(rows, cells) of the values wrapped in ``width`` cells: a scrollbar takes a cell when they
        are more than ``max_rows`` (the heatmap's own by default)."""
        n = len(self._values)
        if not n:
            return 0, width
        rows = self._rows(n, width)
        if rows > (self.max_rows if max_rows is None else max_rows):
            inner = max(1, width - SCROLLBAR)
            return self._rows(n, inner), inner
        return rows, width

    def _rows(self, n: int, width: int) -> int:
        """Rows of the n values wrapped in ``width`` cells."""
        cols, _, one_row = self._fit(n, width)
        if self._parts:
            return split_rows(n, len(self._parts), cols, one_row)
        return -(-n // cols)

    @property
    def line_width(self) -> int:
        """The cells of the widest line: the values, and the arrows and dividers of direction blocks."""
        D = len(self._parts)
        if not D:
            return self.cols * self.cell_width
        if self._one_row:
            return D * (2 + self.cols * self.cell_width) + D - 1
        return 2 + self.cols * self.cell_width

    def height_for(self, width: int, max_rows: int | None = None) -> int:
        """Lines the heatmap takes in a panel ``width`` cells wide (one, blank, when empty), showing
        ``max_rows`` rows at most (the heatmap's own by default)."""
        max_rows = self.max_rows if max_rows is None else max_rows
        rows, _ = self.rows_for(width, max_rows)
        return min(max_rows, rows) if rows else 1

    def fit(self, width: int) -> None:
        """Wrap the values to a panel ``width`` cells wide."""
        self.width = max(1, width)
        self._rebuild()

    def _rebuild(self) -> None:
        n = len(self._values)
        rows, cells = self.rows_for(self.width)
        self.cols, self.cell_width, self._one_row = self._fit(n, cells)
        self._levels = quantise(self._values, self._scale.lo, self._scale.hi) if n else np.zeros(0, dtype=np.intp)
        self._strips = _Rows(self._row, rows)
        self.scroll = max(0, min(self.scroll, rows - self.max_rows))
        if self._selected is not None and rows:
            row = (
                split_row_of(self._selected, n, len(self._parts), self.cols, self._one_row)
                if self._parts
                else self._selected // self.cols
            )
            if not self.scroll <= row < self.scroll + self.max_rows:  # keep the marked unit in view
                self.scroll = max(0, min(row, rows - self.max_rows))

    @property
    def rows(self) -> int:
        return len(self._strips)

    @property
    def rows_shown(self) -> int:
        return min(self.max_rows, self.rows)

    @property
    def scrollbar(self) -> bool:
        return self.rows > self.max_rows

    def _row(self, row: int) -> Strip:
        cw = self.cell_width
        if self._parts:
            segs = split_row(
                self._levels, self._values, row, self._parts, self.cols, cw, self._one_row,
                self._scale, self._selected, self._mono, self._numbers,
            )
            return Strip(segs).apply_style(self.style)  # the arrows and dividers on the panel's background
        if self._numbers:
            segs = number_row(self._values, self._levels, row, self._scale, self.cols, self._selected, self._mono)
        else:
            segs = heatmap_row(self._levels, row, self._scale, self.cols, cw, self._selected, self._mono)
        return Strip(segs, len(segs) * cw)

    def row_key(self, row: int) -> tuple:
        """What row ``row``'s strip is drawn from: equal keys, equal strips."""
        if self._parts:  # (direction blocks: any change redraws the panel's rows)
            values = self._values.tobytes() if self._numbers else b""
            return (row, self._levels.tobytes(), values, self._selected, self._parts, self._one_row, self.cols,
                    self.cell_width, self._scale.palette, self._mono, self._numbers, self.style)
        start = row * self.cols
        stop = start + self.cols
        sel = self._selected - start if self._selected is not None and start <= self._selected < stop else None
        values = self._values[start:stop].tobytes() if self._numbers else b""
        return (self._levels[start:stop].tobytes(), values, sel, self.cols, self.cell_width, self._scale.palette,
                self._mono, self._numbers)

    def unit_at(self, x: int, y: int) -> int | None:
        """The index of the value drawn at (x, y) of the rows shown, or None."""
        if self._parts:
            return split_unit_at(x, y + self.scroll, len(self._values), len(self._parts), self.cols, self.cell_width,
                                 self._one_row)
        col = x // self.cell_width
        j = (y + self.scroll) * self.cols + col
        return j if 0 <= col < self.cols and 0 <= x < self.cols * self.cell_width and 0 <= j < len(self._values) else None
