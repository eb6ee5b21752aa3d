"""Heatmaps as lines of Rich segments: pure functions, no app needed.

A vector of n values is laid out row by row, ``cols`` values a row, each
value one cell of ``cell_width`` characters coloured by its level. The
selected unit is drawn with a marker in a colour that contrasts with its cell.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

from .palette import LEVELS, Scale, colours, glyph_ramp, luminance, quantise

MARK = {1: "◆", 2: "◆ ", 3: " ◆ "}


@cache
def level_segments(palette: str, cell_width: int, mono: bool = False) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    """(plain, selected) segments for every level of ``palette``."""
    mark = MARK.get(cell_width, "◆".center(cell_width))
    if mono:
        ramp = glyph_ramp()
        idx = np.minimum((np.arange(LEVELS) * len(ramp)) // LEVELS, len(ramp) - 1)
        plain = tuple(Segment(ramp[k] * cell_width, Style()) for k in idx)
        sel = tuple(Segment(mark, Style(reverse=True)) for _ in idx)
        return plain, sel
    plain, sel = [], []
    for rgb in colours(palette):
        bg = Color.from_rgb(*rgb)
        fg = Color.from_rgb(0, 0, 0) if luminance(rgb) > 0.5 else Color.from_rgb(255, 255, 255)
        plain.append(Segment(" " * cell_width, Style(bgcolor=bg)))
        sel.append(Segment(mark, Style(bgcolor=bg, color=fg, bold=True)))
    return tuple(plain), tuple(sel)


def layout(n: int, width: int, max_cell_width: int = 2) -> tuple[int, int]:
    """(cols, cell_width) for n values in ``width`` characters: wide cells when they fit in one row."""
    width = max(width, 1)
    for cw in range(max_cell_width, 1, -1):
        if n * cw <= width:
            return n, cw
    return max(1, min(n, width)), 1


def heatmap_lines(
    values: np.ndarray,  # (n,) one value per unit
    scale: Scale,
    cols: int,
    cell_width: int = 1,
    selected: int | None = None,
    mono: bool = False,
) -> list[list[Segment]]:
    """The heatmap of ``values`` as lines of segments (ceil(n / cols) lines)."""
    q = quantise(values, scale.lo, scale.hi)
    return [heatmap_row(q, r, scale, cols, cell_width, selected, mono) for r in range(-(-len(q) // cols))]


def heatmap_row(
    q: np.ndarray,  # (n,) levels from ``quantise``
    row: int,
    scale: Scale,
    cols: int,
    cell_width: int = 1,
    selected: int | None = None,
    mono: bool = False,
) -> list[Segment]:
    """Line ``row`` of :func:`heatmap_lines`, from the levels already quantised:
    a widget builds only the lines on screen."""
    plain, sel = level_segments(scale.palette, cell_width, mono)
    start = row * cols
    line = [plain[k] for k in q[start : start + cols].tolist()]
    if selected is not None and start <= selected < start + cols:
        line[selected - start] = sel[q[selected]]
    return line


def number_label(v: float) -> str:
    """A value in at most 5 characters (numbers mode)."""
    if not np.isfinite(v):
        return f"{v:>5}"[:5]
    if abs(v) < 9.995:
        return f"{v:+.2f}"
    if abs(v) < 99.95:
        return f"{v:+.1f}"
    return f"{v:+.0e}".replace("e+0", "e").replace("e+", "e")[:5]


def number_lines(
    values: np.ndarray,  # (n,)
    scale: Scale,
    cols: int,
    selected: int | None = None,
    mono: bool = False,
) -> list[list[Segment]]:
    """Numbers mode: each value written out in a 6-character cell, coloured unless ``mono``."""
    q = quantise(values, scale.lo, scale.hi)
    return [number_row(values, q, r, scale, cols, selected, mono) for r in range(-(-len(values) // cols))]


def number_row(
    values: np.ndarray,  # (n,)
    q: np.ndarray,  # (n,) levels from ``quantise``
    row: int,
    scale: Scale,
    cols: int,
    selected: int | None = None,
    mono: bool = False,
) -> list[Segment]:
    """Line ``row`` of :func:`number_lines`."""
    plain, _ = level_segments(scale.palette, 1, mono)
    line = []
    for j in range(row * cols, min((row + 1) * cols, len(values))):
        label = number_label(float(values[j])) + " "
        if mono:
            style = Style(reverse=True) if j == selected else Style()
        else:
            style = plain[q[j]].style + Style(color=_ink(scale.palette, int(q[j])), bold=j == selected)
            if j == selected:
                style += Style(underline=True)
        line.append(Segment(label.rjust(6), style))
    return line


@cache
def _ink(palette: str, level: int) -> Color:
    return Color.from_rgb(0, 0, 0) if luminance(colours(palette)[level]) > 0.5 else Color.from_rgb(255, 255, 255)


def legend(scale: Scale, width: int = 24, mono: bool = False, room: int | None = None) -> list[Segment]:
    """A colour ramp exactly ``width`` cells wide (the heatmap row it explains), and its range.

    The range is written after the ramp when ``room`` (the cells available, at
    least ``width``) leaves space for it, otherwise at the ramp's two ends, inside
    the width; a row too narrow even for that shows the ramp alone.
    """
    width = max(1, width)
    lo, hi = short_number(scale.lo), short_number(scale.hi)
    plain, _ = level_segments(scale.palette, 1, mono)

    def ramp(n: int) -> list[Segment]:
        return [plain[int(k)] for k in np.linspace(0, LEVELS - 1, n).round()] if n > 0 else []

    # The gaps are segments of a style of their own: an SVG viewer (librsvg) drops a space
    # that opens a run of text, and pulls the number after it onto the ramp.
    gap = Segment(" ", Style(dim=True))
    after = f"{lo} … {hi}"
    if room is not None and width + 1 + len(after) <= room:
        return [*ramp(width), gap, Segment(after, Style())]
    bar = width - len(lo) - len(hi) - 2
    if bar >= 3:
        return [Segment(lo, Style()), gap, *ramp(bar), gap, Segment(hi, Style())]
    return ramp(width)


def short_number(v: float) -> str:
    """A scale's end in a few characters: 0, 2.5, -14.14, 1.2e+03."""
    if v == 0:
        return "0"
    if abs(v) >= 100 or abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{v:.2f}".rstrip("0").rstrip(".")


def as_text(lines: list[list[Segment]]) -> list[str]:
    """The characters of rendered lines, for tests."""
    return ["".join(s.text for s in line) for line in lines]


# ------------------------------------------------- one block per direction
PREFIX = 2  # the cells of "→ " / "← " before each direction's block
_ARROW = Style(bold=True)
_DIVIDER = Segment("│", Style(dim=True))


def split_layout(n: int, parts: int, width: int, cell: int = 0) -> tuple[int, int, bool]:
    """(cols, cell_width, one_row) for n values in ``parts`` equal blocks (the directions of
    a layer), each led by its arrow: all blocks on one line, a divider between them, when
    they fit; otherwise each block on rows of its own, ``cols`` values a row. ``cell`` fixes
    the cell width (numbers mode); 0 picks 2 or 1 as :func:`layout` does."""
    block = n // parts
    for cw in (cell,) if cell else (2, 1):
        if parts * (PREFIX + block * cw) + parts - 1 <= width:
            return max(block, 1), cw, True
    avail = max(1, width - PREFIX)
    if cell:
        return max(1, min(block, avail // cell)), cell, False
    cols, cw = layout(block, avail)
    return cols, cw, False


def split_rows(n: int, parts: int, cols: int, one_row: bool) -> int:
    """How many lines :func:`split_row` draws."""
    return 1 if one_row else parts * -(-(n // parts) // cols)


def split_row(
    levels: np.ndarray,  # (n,) from ``quantise``
    values: np.ndarray,  # (n,) the values (numbers mode writes them out)
    row: int,
    arrows: tuple[str, ...],  # one per block, "→" or "←"
    cols: int,
    cell_width: int,
    one_row: bool,
    scale: Scale,
    selected: int | None = None,
    mono: bool = False,
    numbers: bool = False,
) -> list[Segment]:
    """Line ``row`` of a heatmap split into direction blocks (see :func:`split_layout`):
    each block starts with its arrow; the blocks of one line are parted by "│"."""
    D = len(arrows)
    block = len(levels) // D

    def part(d: int, r: int, lead: bool) -> list[Segment]:
        a = d * block
        sel = selected - a if selected is not None and a <= selected < a + block else None
        q = levels[a : a + block]
        if numbers:
            segs = number_row(values[a : a + block], q, r, scale, cols, sel, mono)
        else:
            segs = heatmap_row(q, r, scale, cols, cell_width, sel, mono)
        return [Segment(f"{arrows[d]} " if lead else "  ", _ARROW), *segs]

    if one_row:
        line: list[Segment] = []
        for d in range(D):
            line += ([_DIVIDER] if d else []) + part(d, 0, True)
        return line
    per = -(-block // cols)
    d, r = divmod(row, per)
    return part(d, r, r == 0)


def split_unit_at(x: int, row: int, n: int, parts: int, cols: int, cell_width: int, one_row: bool) -> int | None:
    """The value drawn at cell x of line ``row`` by :func:`split_row` (None: an arrow, a divider, a gap)."""
    block = n // parts
    if one_row:
        if row != 0:
            return None
        for d in range(parts):
            start = d * (PREFIX + block * cell_width + 1) + PREFIX
            if start <= x < start + block * cell_width:
                return d * block + (x - start) // cell_width
        return None
    per = -(-block // cols)
    d, r = divmod(row, per)
    col = (x - PREFIX) // cell_width if x >= PREFIX else -1
    u = r * cols + col
    return d * block + u if 0 <= col < cols and u < block and d < parts else None


def split_row_of(j: int, n: int, parts: int, cols: int, one_row: bool) -> int:
    """The line of :func:`split_row` that holds value j."""
    if one_row:
        return 0
    block = n // parts
    return (j // block) * -(-block // cols) + (j % block) // cols
