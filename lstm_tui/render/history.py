"""Units × time heatmaps (two units per line with half blocks) and text coloured by a unit."""

from __future__ import annotations

from functools import cache

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from .heatmap import level_segments
from .palette import LEVELS, Scale, colours, luminance, quantise
from .text import token_label

GUTTER = 6  # characters for the unit number at the left of each line


@cache
def _pair_segments(palette: str, mono: bool) -> tuple[tuple[Segment, ...], ...]:
    """[top][bottom] → one '▀' segment with the top colour as ink and the bottom as paper."""
    if mono:
        plain, _ = level_segments(palette, 1, mono=True)
        return tuple(tuple(plain[max(a, b)] for b in range(LEVELS)) for a in range(LEVELS))
    cs = [Color.from_rgb(*rgb) for rgb in colours(palette)]
    return tuple(tuple(Segment("▀", Style(color=cs[a], bgcolor=cs[b])) for b in range(LEVELS)) for a in range(LEVELS))


def history_lines(
    values: np.ndarray,  # (H, n) units × time columns
    scale: Scale,
    col: int | None,  # column of the current step, marked on the axis line
    unit: int | None,  # the selected unit, marked in the gutter
    mono: bool = False,
    cell_width: int = 1,  # characters per time column
) -> list[list[Segment]]:
    """An axis line with ▼ over the current column, then one line per pair of units."""
    H, n = values.shape
    pairs = _pair_segments(scale.palette, mono)
    q = np.repeat(quantise(values, scale.lo, scale.hi), cell_width, axis=1)
    n *= cell_width
    axis = [Segment(" " * GUTTER, Style())]
    if col is not None and 0 <= col * cell_width < n:
        axis += [Segment(" " * (col * cell_width + cell_width // 2), Style()), Segment("▼", Style(bold=True))]
    lines = [axis]
    blank = LEVELS // 2 if scale.diverging else 0
    for r in range(0, H, 2):
        top = q[r]
        bottom = q[r + 1] if r + 1 < H else np.full(n, blank)
        here = unit is not None and r <= unit <= r + 1
        mark = ("▲" if unit == r else "▼") if here else " "
        label = Segment(f"{r:>4}{mark} ", Style(reverse=True, bold=True) if here else Style(dim=True))
        lines.append([label, *(pairs[a][b] for a, b in zip(top.tolist(), bottom.tolist()))])
    return lines


def coloured_tokens(tokens: tuple[str, ...], values: np.ndarray, scale: Scale, k: int | None = None) -> Text:
    """The sequence with each token's background set by ``values`` (T,) (Karpathy et al.'s cell pictures)."""
    cs = colours(scale.palette)
    q = quantise(values, scale.lo, scale.hi)
    text = Text()
    for n, tok in enumerate(tokens):
        rgb = cs[q[n]]
        ink = "black" if luminance(rgb) > 0.5 else "white"
        style = f"{ink} on rgb({rgb[0]},{rgb[1]},{rgb[2]})"
        if n == k:
            style += " bold underline"
        label = token_label(tok)
        text.append(" " if label == "␣" else label, style=style)
    return text
