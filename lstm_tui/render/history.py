"""Units × time heatmaps (two units per line with half blocks) and text coloured by a unit."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
from rich.cells import cell_len, set_cell_size
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from .heatmap import short_number, level_segments
from .palette import LEVELS, RowScales, Scale, colours, luminance, quantise, quantise_rows
from .text import SPACE, token_label

GUTTER = 6  # characters for the unit number at the left of each line


@cache
def _pair_segments(palette: str, mono: bool) -> tuple[tuple[Segment, ...], ...]:
    """[top][bottom] → one '▀' segment with the top colour as ink and the bottom as paper."""
    if mono:
        plain, _ = level_segments(palette, 1, mono=True)
        return tuple(tuple(plain[max(a, b)] for b in range(LEVELS)) for a in range(LEVELS))
    cs = [Color.from_rgb(*rgb) for rgb in colours(palette)]
    return tuple(tuple(Segment("▀", Style(color=cs[a], bgcolor=cs[b])) for b in range(LEVELS)) for a in range(LEVELS))


HISTORY_SCALES = ("unit", "shared")
"""The history's colour scales: each unit's own robust range (the default), or one scale for all units."""

PERCENTILES = (1.0, 99.0)  # a unit's robust range: a few outlying steps do not wash out the rest
MIN_SPAN = 0.01  # a row whose range is below this share of the shared scale's keeps the shared scale
MAX_SAMPLES = 20_000  # robust_range looks at most at this many evenly spaced steps of each unit
MAX_UNIT_HEIGHT = 4  # half-lines per unit at most (two lines)


def robust_range(values: np.ndarray, pct: tuple[float, float] = PERCENTILES) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``pct`` percentiles of ``values`` (H, T), NaN and ±inf left out.

    Returns ``(lo (H,), hi (H,))``; a row without a finite value gets 0, 0.
    Long rows are sampled at ``MAX_SAMPLES`` evenly spaced steps.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.shape[1] > MAX_SAMPLES:
        v = v[:, :: -(-v.shape[1] // MAX_SAMPLES)]
    if v.shape[1] == 0:
        return np.zeros(v.shape[0]), np.zeros(v.shape[0])
    if np.isfinite(v).all():
        lo, hi = np.percentile(v, pct, axis=1)
    else:
        v = np.where(np.isfinite(v), v, np.nan)
        with warnings.catch_warnings():  # a row of NaN only: its percentiles are NaN, made 0 below
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanpercentile(v, pct, axis=1)
    return np.nan_to_num(lo), np.nan_to_num(hi)


def summary_range(
    lo: np.ndarray,  # (n, H) each unit's minimum in each bin of steps
    hi: np.ndarray,  # (n, H) each unit's maximum in each bin
    pct: tuple[float, float] = PERCENTILES,
) -> tuple[np.ndarray, np.ndarray]:
    """A long trace's robust range from its per-bin summaries: the low percentile of the
    bins' minima and the high percentile of their maxima, per unit. Returns (lo (H,), hi (H,))."""
    return robust_range(np.asarray(lo).T, (pct[0], pct[0]))[0], robust_range(np.asarray(hi).T, (pct[1], pct[1]))[1]


def unit_scales(lo: np.ndarray, hi: np.ndarray, shared: Scale) -> RowScales:
    """Per-unit colour ranges from each unit's robust ``lo``, ``hi`` (H,).

    A diverging scale stays centred on 0 (white is 0 in every row), from -m to m
    with m the larger of |lo| and |hi|; a sequential one runs from lo to hi. A
    unit that barely moves (range under ``MIN_SPAN`` of the shared scale's)
    keeps the shared scale, so that rounding noise is not blown up to full contrast.
    """
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if shared.diverging:
        m = np.maximum(np.abs(lo), np.abs(hi))
        lo, hi = -m, m
    flat = (hi - lo) < MIN_SPAN * (shared.hi - shared.lo)
    return RowScales(shared.palette, np.where(flat, shared.lo, lo), np.where(flat, shared.hi, hi))


def unit_height(units: int, lines: int) -> int:
    """Half-lines per unit so that ``units`` rows fill about ``lines`` lines: 1 (two units a line)
    up to ``MAX_UNIT_HEIGHT``."""
    return max(1, min(MAX_UNIT_HEIGHT, (2 * max(lines, 1)) // max(units, 1)))


def history_lines(
    values: np.ndarray,  # (H, n) units × time columns
    scale: Scale | RowScales,  # one scale for all units, or one range per unit
    col: int | None,  # column of the current step, marked on the axis line
    unit: int | None,  # the selected unit, marked in the gutter
    mono: bool = False,
    cell_width: int = 1,  # characters per time column
    height: int = 1,  # half-lines per unit (1: two units a line; 2: one a line; see unit_height)
) -> list[list[Segment]]:
    """An axis line with ▼ over the current column, then the units, ``height`` half-lines each."""
    H, n = values.shape
    pairs = _pair_segments(scale.palette, mono)
    if isinstance(scale, RowScales):
        q = quantise_rows(values, scale.lo, scale.hi)
    else:
        q = quantise(values, scale.lo, scale.hi)
    q = np.repeat(np.repeat(q, cell_width, axis=1), height, axis=0)  # (H * height, n * cell_width)
    n *= cell_width
    lines = [axis_line(col, cell_width, n)]
    if len(q) % 2:  # an odd number of half-lines: the last line's lower half is blank
        q = np.vstack([q, np.full((1, n), LEVELS // 2 if scale.diverging else 0)])
    for r in range(0, len(q), 2):
        units = (r // height, (r + 1) // height)  # the units in the top and bottom half
        here = unit is not None and unit in units and unit < H
        if height == 1:
            mark = ("▲" if unit == r else "▼") if here else " "
            number = f"{r:>4}"
        else:
            first = units[0] if units[0] * height == r else units[1] if units[1] * height == r + 1 else None
            mark = "▶" if here else " "
            number = f"{first:>4}" if first is not None and first < H else "    "
        label = Segment(f"{number}{mark} ", Style(reverse=True, bold=True) if here else Style(dim=True))
        lines.append([label, *(pairs[a][b] for a, b in zip(q[r].tolist(), q[r + 1].tolist()))])
    return lines


def axis_line(col: int | None, cell_width: int, n: int) -> list[Segment]:
    """The line above the map: ▼ over column ``col`` (a step moves only this line)."""
    axis = [Segment(" " * GUTTER, Style())]
    if col is not None and 0 <= col * cell_width < n:
        axis += [Segment(" " * (col * cell_width + cell_width // 2), Style()), Segment("▼", Style(bold=True))]
    return axis


def history_title(
    name: str,  # the quantity's name in words, e.g. "cell state"
    q: str,  # its symbol, e.g. "c"
    layer: int,
    steps: int,
    columns: int,  # time columns drawn (fewer than steps when binned)
    scales: Scale | RowScales,
) -> Text:
    """The history's heading: what is drawn, how time is binned, which colour scale and the keys."""
    binned = f", {steps:,} steps binned to {columns}, largest |value| per bin" if columns < steps else ""
    # Each styled run ends with its space, not the next run starting with one (an SVG viewer drops it).
    text = Text.assemble((f"{name} {q} ", "bold"), f"of layer {layer + 1}: units × time{binned}.  ")
    if isinstance(scales, RowScales):
        text.append("Colours: each unit's own range ", style="bold")
        text.append(f"({PERCENTILES[0]:g}st–{PERCENTILES[1]:g}th percentile{', 0 is white' if scales.diverging else ''})   ")
    else:
        text.append("Colours: one scale for all units ", style="bold")
        text.append(f"({short_number(scales.lo)} … {short_number(scales.hi)})   ")
    text.append("a: next quantity  r: " + ("one shared scale" if isinstance(scales, RowScales) else "each unit's range"), style="dim")
    return text


def history_legend(
    scales: Scale | RowScales, unit: int | None, width: int, mono: bool = False, room: int | None = None
) -> list[Segment]:
    """A colour ramp no wider than the map (``width``) and, in the ``room`` left (the map's
    width if not given), what its ends mean for the selected unit."""
    ramp_width = max(1, min(LEVELS, width))
    plain, _ = level_segments(scales.palette, 1, mono)
    ramp = [plain[int(k)] for k in np.linspace(0, LEVELS - 1, ramp_width).round()]
    if isinstance(scales, RowScales):
        j = unit if unit is not None and 0 <= unit < len(scales.lo) else 0
        words = f" unit {j}: {short_number(scales.lo[j])} … {short_number(scales.hi[j])} (every row: its own range)"
    else:
        words = f" {short_number(scales.lo)} … {short_number(scales.hi)} (all units)"
    room = max(0, (width if room is None else max(room, width)) - ramp_width)
    if room < 2:
        return [Segment(" " * GUTTER, Style()), *ramp]
    return [Segment(" " * GUTTER, Style()), *ramp, Segment(" ", Style()), Segment(words[1:room], Style(dim=True))]


def coloured_tokens(tokens: tuple[str, ...], values: np.ndarray, scale: Scale, k: int | None = None,
                    gap: bool = False) -> Text:
    """The sequence with each token's background set by ``values`` (T,) (Karpathy et al.'s cell pictures);
    ``gap``: an uncoloured space between tokens (words), where characters join."""
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
        if gap and n:
            text.append(" ")
        text.append(" " if label == SPACE else label, style=style)
    return text


def token_window(tokens, k: int, cells: int) -> slice:
    """The steps around k whose token labels fill about ``cells`` cells (k kept inside).

    Grows right and left in turn, as :func:`..text.token_strip` does; only the
    tokens in the window are looked at, so a long sequence costs what a short one does.
    """
    if not len(tokens):
        return slice(0, 0)
    k = min(max(k, 0), len(tokens) - 1)
    lo, hi, used = k, k + 1, cell_len(token_label(tokens[k]))
    grew = True
    while grew:
        grew = False
        if hi < len(tokens) and used < cells:
            used += cell_len(token_label(tokens[hi]))
            hi, grew = hi + 1, True
        if lo > 0 and used < cells:
            lo -= 1
            used += cell_len(token_label(tokens[lo]))
            grew = True
    return slice(lo, hi)


_PENDING = (Style(dim=True), Style(dim=True, bold=True, underline=True))  # a token whose value is still to come


@cache
def _token_style(palette: str, level: int, current: bool) -> Style:
    rgb = colours(palette)[level]
    ink = Color.from_rgb(0, 0, 0) if luminance(rgb) > 0.5 else Color.from_rgb(255, 255, 255)
    return Style(color=ink, bgcolor=Color.from_rgb(*rgb), bold=current, underline=current)


def coloured_token_lines(
    tokens,  # the window's tokens (m,)
    values: np.ndarray,  # (m,) the unit's value at each of them
    scale: Scale,
    k: int | None,  # index of the current step in the window, drawn bold and underlined
    width: int,  # cells a line
    lines: int,  # lines at most: those around k are kept
    known: np.ndarray | None = None,  # (m,) bool: False where the value is not computed yet (drawn dim, uncoloured)
    gap: bool = False,  # an uncoloured space between tokens (words; characters join)
) -> list[list[Segment]]:
    """The tokens, each on the colour of its value, wrapped to ``width`` cells (Karpathy et al.'s
    cell pictures) as lines of segments: a Line-API widget draws them without laying out text."""
    q = quantise(values, scale.lo, scale.hi).tolist()
    if known is not None:
        q = [level if ok else None for level, ok in zip(q, known.tolist())]
    out: list[list[Segment]] = [[]]
    used, k_line = 0, 0
    for n, tok in enumerate(tokens):
        label = token_label(tok)
        label = " " if label == SPACE else label
        w = cell_len(label)
        if used + w + gap > width and used:
            out.append([])
            used = 0
        elif gap and used:
            out[-1].append(Segment(" "))
            used += 1
        if w > width:  # one token longer than the line: cut
            label, w = set_cell_size(label, width), width
        if n == k:
            k_line = len(out) - 1
        style = _PENDING[n == k] if q[n] is None else _token_style(scale.palette, q[n], n == k)
        out[-1].append(Segment(label, style))
        used += w
    first = max(0, min(k_line - (lines - 1) // 2, len(out) - lines))
    return out[first : first + max(1, lines)]
