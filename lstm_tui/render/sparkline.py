"""One unit over time as a line of block characters (a sparkline)."""

from __future__ import annotations

import numpy as np
from rich.text import Text

from ..core.explain import bin_means

BLOCKS = "▁▂▃▄▅▆▇█"


def bin_columns(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``values`` (T,) into at most ``width`` bins of whole steps.

    Returns (means (n,), starts (n,)): each bin's mean (of its finite values) and its first step.
    """
    T = len(values)
    n = max(1, min(T, width))
    edges = (np.arange(n + 1) * T) // n
    return (bin_means(values, edges) if T else np.zeros(0)), edges[:-1]


def sparkline(values: np.ndarray, width: int, k: int | None = None, lo: float | None = None, hi: float | None = None) -> Text:
    """``values`` (T,) in ``width`` cells; the cell holding step k is highlighted."""
    if len(values) == 0:
        return Text("")
    means, starts = bin_columns(values, width)
    lo = float(np.nanmin(means)) if lo is None else lo
    hi = float(np.nanmax(means)) if hi is None else hi
    span = hi - lo if hi > lo else 1.0
    idx = np.clip(((means - lo) / span * (len(BLOCKS) - 1)).round().astype(int), 0, len(BLOCKS) - 1)
    text = Text("".join(BLOCKS[i] for i in idx))
    if k is not None:
        col = int(np.searchsorted(starts, k, side="right") - 1)
        text.stylize("reverse", col, col + 1)
    return text
