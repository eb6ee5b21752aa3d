"""Gradient norms over time as log-scale block bars, and saliency-coloured tokens."""

from __future__ import annotations

import numpy as np
from rich.table import Table
from rich.text import Text

from .history import coloured_tokens
from .palette import SEQUENTIAL, Scale
from .sparkline import BLOCKS, bin_columns

CELL_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN relu"}


def log_bar(norms: np.ndarray, width: int, lo: float, hi: float) -> Text:
    """``norms`` (n,) as blocks on a log10 scale from 10**lo to 10**hi; 0 is a blank."""
    means, _ = bin_columns(norms, width)
    means = np.repeat(means, max(1, min(4, width // max(len(means), 1))))  # short sequences: wider steps
    out = []
    for v in means:
        if not v > 0:
            out.append(" ")
            continue
        level = (np.log10(v) - lo) / (hi - lo) if hi > lo else 1.0
        out.append(BLOCKS[int(np.clip(round(level * (len(BLOCKS) - 1)), 0, len(BLOCKS) - 1))])
    return Text("".join(out), style="bold")


def log_range(*series: np.ndarray) -> tuple[float, float]:
    """log10 of the smallest positive and of the largest value over all series."""
    vals = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in series])
    pos = vals[vals > 0]
    if not pos.size:
        return 0.0, 1.0
    return float(np.log10(pos.min())), float(np.log10(pos.max()))


def norms_table(rows: dict[str, np.ndarray], width: int) -> Table:
    """One row per series: its name, log bars over t' = 1..t, the norm at t' = 1 and at t' = t."""
    lo, hi = log_range(*rows.values())
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("‖dL/d·‖")
    table.add_column(f"t' = 1 … t  (log scale 1e{lo:.0f} … 1e{hi:.0f})")
    table.add_column("at t'=1", justify="right")
    table.add_column("at t'=t", justify="right")
    for name, norms in rows.items():
        table.add_row(name, log_bar(norms, width, lo, hi), f"{norms[0]:.1e}", f"{norms[-1]:.1e}")
    return table


def saliency_text(tokens: tuple[str, ...], norms: np.ndarray, palette: str = SEQUENTIAL) -> Text:
    """Tokens 1..t coloured by ‖dL/dxᵗ'‖ (brighter = more influence on the target)."""
    top = float(norms.max()) if norms.size and norms.max() > 0 else 1.0
    return coloured_tokens(tokens[: len(norms)], norms, Scale(palette, 0.0, top), k=len(norms) - 1)
