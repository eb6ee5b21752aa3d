"""Plots drawn with plotext (through textual-plotext's figure): pure functions from
arrays to a figure, so they are tested as text without an app.

- :func:`gradient_figure`: ‖dL/dhᵗ'‖ against t' on a log axis, one line per series
  (every layer, and the LSTM / GRU / RNN compare on the same axes).
- :func:`saturation_figure`: Karpathy, Johnson & Fei-Fei's (2015) scatter per gate,
  the fraction of steps a unit's gate is left-saturated (< 0.1) against the fraction
  it is right-saturated (> 0.9), one point per unit, the selected unit marked.
- :func:`series_figure`: watched units or expressions over time, the current step marked.

textual-plotext is optional (the ``plots`` extra): :func:`available` says whether it
is installed and :data:`MISSING` is the one-line hint to show when it is not.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass

import numpy as np

from ..core.errors import install_hint
from .sparkline import bin_columns

MISSING = f"plots need textual-plotext: {install_hint('plots')}"

#: Line colours, one per series, in order (plotext colour names that read on dark and light themes).
COLOURS = ("cyan", "orange", "magenta", "green", "red", "blue", "yellow", "white")

#: Marker of the selected unit in a scatter, and of the others.
SELECTED, POINT = "●", "•"


def available() -> bool:
    """Whether textual-plotext can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("textual_plotext") is not None
    except (ImportError, ValueError):
        return False


def new_figure(width: int, height: int):
    """A plotext figure of ``width`` × ``height`` cells (textual-plotext's Plot)."""
    from textual_plotext.plot import Plot

    fig = Plot()
    fig.plotsize(width, height)
    fig._set_size(width, height)  # textual-plotext's own widget sets both: a resize is not kept otherwise
    fig.theme("clear")  # the terminal's own background and text colour, so a plot sits in any app theme
    return fig


def decade_ticks(lo: float, hi: float, most: int = 6) -> tuple[list[float], list[str]]:
    """Tick positions (log10 values) and labels ``1e-3`` … for a log axis from 10**lo to 10**hi."""
    a, b = math.floor(lo), math.ceil(hi)
    if a == b:
        a, b = a - 1, b + 1
    step = max(1, math.ceil((b - a) / max(most - 1, 1)))
    ticks = list(range(b, a - step, -step))[::-1]  # from the top decade down past the bottom one
    return [float(t) for t in ticks], [f"1e{t}" for t in ticks]


def step_ticks(first: float, last: float, width: int) -> list[int]:
    """Whole steps to label an axis of steps from ``first`` to ``last`` with, 1, 2 or 5 × 10^k apart,
    about one per 12 cells of ``width`` (plotext's own ticks fall between steps: 1.50, 775.8)."""
    if not first <= last:
        return []
    most, span = max(2, width // 12), max(last - first, 1)
    k = max(0, math.floor(math.log10(span / (most - 1))))  # the decade of the gap: 1, 2 or 5 of it
    gap = next(g for g in (10**k, 2 * 10**k, 5 * 10**k, 10 ** (k + 1)) if span / g <= most - 1)
    return list(range(math.ceil(first / gap) * gap, math.floor(last) + 1, gap)) or [round(first)]


def _log10(values: np.ndarray) -> np.ndarray:
    """log10 of positive values; NaN (a gap in the line) for 0, negative or non-finite ones."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, np.nan)
    ok = np.isfinite(v) & (v > 0)
    out[ok] = np.log10(v[ok])
    return out


def gradient_figure(
    series: dict[str, np.ndarray],  # name -> (t,) norms at t' = 1..t
    width: int,
    height: int,
    title: str = "‖dL/dhᵗ'‖ against t'",
    first_step: int = 1,  # the step number of each series' first value
    mark: int | None = None,  # a step to mark with a vertical line (the target's t when the series run past it)
):
    """Gradient norms on a log10 axis (labels 1e-k), one coloured line per series.

    Zeros (an underflow, or nothing to flow back) leave a gap; a series with no
    positive finite value is named in the title as ``(name: all 0)``, or as
    ``(name: not finite)`` when NaN or ±inf are among its values (a patched run that
    overflowed).
    """
    fig = new_figure(width, height)
    logs = {name: _log10(v) for name, v in series.items()}
    finite = np.concatenate([v[np.isfinite(v)] for v in logs.values()] or [np.zeros(0)])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 0.0)
    said: dict[str, list[str]] = {}  # what a series with nothing to draw on a log axis is, said in the title
    for n, (name, v) in enumerate(logs.items()):
        ok = np.isfinite(v)
        if not ok.any():
            bad = not np.isfinite(np.asarray(series[name], dtype=np.float64)).all()
            said.setdefault("not finite" if bad else "all 0", []).append(name)
            continue
        x = (np.flatnonzero(ok) + first_step).tolist()
        fig.plot(x, v[ok].tolist(), label=name, color=COLOURS[n % len(COLOURS)], marker="braille")
    for what, names in said.items():
        title += f"   ({', '.join(names)}: {what})"
    ticks, labels = decade_ticks(lo, hi)
    fig.yticks(ticks, labels)
    fig.ylim(ticks[0], ticks[-1])
    steps = max((len(v) for v in series.values()), default=1)
    fig.xlim(first_step, first_step + max(steps - 1, 1))
    fig.xticks(step_ticks(first_step, first_step + max(steps - 1, 1), width))
    if mark is not None:
        fig.vline(mark, "gray")
    fig.title(title)
    fig.xlabel("t' (log scale on the vertical axis)")
    return fig


@dataclass(frozen=True)
class Box:
    """Where a plot's axes lie in the built text: the cells inside the frame, and the data
    limits at its edges, so that a click maps back to data coordinates."""

    left: int  # first column inside the frame
    top: int  # first row inside the frame
    right: int  # last column inside the frame
    bottom: int  # last row inside the frame
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    def to_data(self, col: int, row: int) -> tuple[float, float] | None:
        """Data coordinates of a cell, None outside the frame."""
        if not (self.left <= col <= self.right and self.top <= row <= self.bottom):
            return None
        fx = (col - self.left) / max(self.right - self.left, 1)
        fy = (self.bottom - row) / max(self.bottom - self.top, 1)
        return (self.xlim[0] + fx * (self.xlim[1] - self.xlim[0]), self.ylim[0] + fy * (self.ylim[1] - self.ylim[0]))


def frames(text_lines: list[str]) -> list[tuple[int, int, int, int]]:
    """Each plot frame in built plot text, left to right then top to bottom:
    (left, top, right, bottom) of the cells inside ``┌ … ┘``."""
    out = []
    for row, line in enumerate(text_lines):
        for col, ch in enumerate(line):
            if ch != "┌":
                continue
            right = line.find("┐", col)
            if right < 0:
                continue
            bottom = next((r for r in range(row + 1, len(text_lines)) if text_lines[r][col : col + 1] == "└"), None)
            if bottom is not None:
                out.append((col + 1, row + 1, right - 1, bottom - 1))
    return out


def saturation_figure(
    saturation: dict[str, tuple[np.ndarray, np.ndarray]],  # gate -> (left (H,), right (H,))
    width: int,
    height: int,
    unit: int | None = None,  # the selected unit, marked
    names: dict[str, str] | None = None,  # gate -> its name in the notation shown
):
    """One scatter per sigmoid gate: x = share of steps below 0.1, y = share above 0.9, a point per unit.

    Units on the diagonal's far corners are always shut (x = 1) or always open
    (y = 1); units near the origin stay in the gate's linear range.
    """
    gates = list(saturation)
    fig = new_figure(width, height)
    if not gates:
        fig.title("no sigmoid gates in this cell")
        return fig
    fig.subplots(1, len(gates))
    for n, g in enumerate(gates):
        left, right = (np.asarray(a, dtype=np.float64) for a in saturation[g])
        sub = fig.subplot(1, n + 1)
        sub.plotsize(width // len(gates), height)
        others = [j for j in range(len(left)) if j != unit]
        sub.scatter(left[others].tolist(), right[others].tolist(), marker=POINT, color="cyan")
        if unit is not None and 0 <= unit < len(left):
            sub.scatter([float(left[unit])], [float(right[unit])], marker=SELECTED, color="orange")
        sub.xlim(0, 1)
        sub.ylim(0, 1)
        sub.xticks([0, 0.5, 1], ["0", ".5", "1"])
        sub.yticks([0, 0.5, 1], ["0", ".5", "1"])
        label = (names or {}).get(g, g)
        titles = (f"{label}: → shut (<0.1)  ↑ open (>0.9)", f"{label}: → <0.1  ↑ >0.9", label)
        sub.title(next((t for t in titles if len(t) <= width // len(gates) - 2), label))  # plotext drops one too wide
    return fig


def nearest_unit(saturation: dict[str, tuple[np.ndarray, np.ndarray]], gate_index: int, x: float, y: float) -> int | None:
    """The unit whose point in scatter ``gate_index`` is nearest to (x, y)."""
    gates = list(saturation)
    if not 0 <= gate_index < len(gates):
        return None
    left, right = (np.asarray(a, dtype=np.float64) for a in saturation[gates[gate_index]])
    if not left.size:
        return None
    return int(np.argmin((left - x) ** 2 + (right - y) ** 2))


def series_figure(
    series: dict[str, np.ndarray],  # label -> (n,) values at steps first_step.. (or bins)
    width: int,
    height: int,
    at: float | None = None,  # the current step (on the same axis as x), marked by a vertical line
    x: np.ndarray | None = None,  # (n,) the step of each value; 1..n by default
    title: str = "watches over time",
):
    """Each watched unit or expression as a line over time, the current step marked.

    A series longer than the plot has braille dots across (two a cell) is drawn as the means of
    as many bins (each at its first step), as the pins of a long run are: plotext takes seconds
    over 100,000 points, and the figure is rebuilt at every step to move the mark.
    """
    fig = new_figure(width, height)
    lo, hi = math.inf, -math.inf
    first, last = math.inf, -math.inf
    for n, (name, v) in enumerate(series.items()):
        v = np.asarray(v, dtype=np.float64)
        xs = np.arange(1, len(v) + 1) if x is None else np.asarray(x, dtype=np.float64)
        if len(xs):
            first, last = min(first, float(xs.min())), max(last, float(xs.max()))
        if len(v) > 2 * max(width, 1):
            v, starts = bin_columns(v, 2 * max(width, 1))
            xs = xs[starts]
        ok = np.isfinite(v)
        if ok.any():
            lo, hi = min(lo, float(v[ok].min())), max(hi, float(v[ok].max()))
            fig.plot(xs[ok].tolist(), v[ok].tolist(), label=name, color=COLOURS[n % len(COLOURS)], marker="braille")
    if at is not None:
        fig.vline(at, "white")
    if lo < hi:
        pad = 0.05 * (hi - lo)
        fig.ylim(lo - pad, hi + pad)
    if first <= last:
        fig.xticks(step_ticks(first, last, width))
    fig.title(title)
    return fig
