"""Colour scales: stops from ``data/palettes.json`` expanded to fixed levels.

Values are quantised in NumPy to ``LEVELS`` steps; each step has one colour,
so a heatmap is drawn from a small set of pre-built segments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

LEVELS = 32  # colour steps per scale

SEQUENTIAL = "viridis"  # gates, probabilities: 0..1
DIVERGING = "blue-white-red"  # candidate, states, inputs: symmetric around 0


@cache
def _stops() -> dict:
    text = resources.files("lstm_tui").joinpath("data/palettes.json").read_text(encoding="utf-8")
    return json.loads(text)


def names() -> list[str]:
    return [k for k in _stops() if not k.startswith("_") and k != "glyphs"]


def glyph_ramp() -> tuple[str, ...]:
    """Characters from empty to full, for monochrome terminals."""
    return tuple(_stops()["glyphs"])


@cache
def colours(name: str, levels: int = LEVELS) -> tuple[tuple[int, int, int], ...]:
    """``levels`` RGB triples evenly spread along the named scale."""
    stops = np.array([[int(s[k : k + 2], 16) for k in (1, 3, 5)] for s in _stops()[name]], dtype=float)
    pos = np.linspace(0, len(stops) - 1, levels)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(stops) - 1)
    frac = (pos - lo)[:, None]
    rgb = np.rint(stops[lo] * (1 - frac) + stops[hi] * frac).astype(int)
    return tuple(tuple(int(c) for c in row) for row in rgb)


def quantise(values: np.ndarray, lo: float, hi: float, levels: int = LEVELS) -> np.ndarray:
    """Map values in [lo, hi] to ints 0..levels-1 (outside is clipped, ±inf to the ends, NaN -> 0)."""
    span = hi - lo if hi > lo else 1.0
    return _levels(np.asarray((np.asarray(values, dtype=np.float64) - lo) / span), levels)


def _levels(q: np.ndarray, levels: int) -> np.ndarray:
    """``q`` (a new float64 array, 0..1 across the scale) to levels, clipped before the cast: a value
    far outside (a patch's 1e30, inf) takes the end colour, where a cast first would wrap it to 0."""
    q *= levels
    np.fmax(q, 0.0, out=q)  # fmax takes 0 over NaN
    np.fmin(q, levels - 1, out=q)
    return q.astype(np.int64)


def luminance(rgb: tuple[int, int, int]) -> float:
    r, g, b = rgb
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


@dataclass(frozen=True)
class Scale:
    """How one panel's values map to colours: a palette and a range."""

    palette: str  # a name from palettes.json
    lo: float  # value drawn with the first colour
    hi: float  # value drawn with the last colour

    @property
    def diverging(self) -> bool:
        return self.lo < 0 < self.hi


def quantise_rows(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """``values`` (H, n) to levels 0..levels-1, row j mapped from ``lo[j]`` to ``hi[j]`` (H,) each.

    A row with ``hi <= lo`` is mapped as if its span were 1 (like :func:`quantise`).
    """
    lo = np.asarray(lo, dtype=np.float64)[:, None]  # (H, 1)
    span = np.asarray(hi, dtype=np.float64)[:, None] - lo
    span = np.where(span > 0, span, 1.0)
    return _levels((np.asarray(values, dtype=np.float64) - lo) / span, levels)


@dataclass(frozen=True, eq=False)
class RowScales:
    """One range per row of a units × time map: row j is drawn from ``lo[j]`` to ``hi[j]``."""

    palette: str  # a name from palettes.json
    lo: np.ndarray  # (H,) value drawn with the first colour, per row
    hi: np.ndarray  # (H,) value drawn with the last colour, per row

    @property
    def diverging(self) -> bool:
        return self.palette == DIVERGING

    def row(self, j: int) -> Scale:
        """Row j's range as a :class:`Scale`."""
        return Scale(self.palette, float(self.lo[j]), float(self.hi[j]))
