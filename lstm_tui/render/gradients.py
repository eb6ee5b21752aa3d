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


def norms_table(rows: dict[str, np.ndarray], width: int, k: int | None = None) -> Table:
    """One row per series: its name, log bars over t' = 1..t, the norm at t' = 1 and at t' = t.

    ``k`` is the target's 0-based step when the series run past it (a model with a
    backward direction, whose gradients also come from the steps after t): the bars
    then cover t' = 1..T and a last column gives the norm at t' = T.
    """
    lo, hi = log_range(*rows.values())
    n = max(len(v) for v in rows.values())
    past = k is not None and n > k + 1
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("‖dL/d·‖")
    span = f"t' = 1 … T, target at t = {k + 1}" if past else "t' = 1 … t"
    table.add_column(f"{span}  (log scale 1e{lo:.0f} … 1e{hi:.0f})")
    table.add_column("at t'=1", justify="right")
    table.add_column("at t'=t", justify="right")
    if past:
        table.add_column("at t'=T", justify="right")
    for name, norms in rows.items():
        at_t = norms[k] if k is not None and k < len(norms) else norms[-1]
        cells = [f"{norms[0]:.1e}", f"{at_t:.1e}"] + ([f"{norms[-1]:.1e}"] if past else [])
        table.add_row(name, log_bar(norms, width, lo, hi), *cells)
    return table


def direction_norms(grads_h, grads_c, flags: list[tuple[bool, ...]]) -> dict[str, np.ndarray]:
    """‖dL/dhᵗ'‖ of every layer (and ‖dL/dcᵗ'‖ of the last), one row per direction of a layer
    that has a backward one, labelled → forward (gradients from steps up to t) or ←
    backward (from steps t..T too). ``grads_h``/``grads_c``: per layer (n, W), forward
    units first; ``flags``: each layer's reverse flags."""
    L = len(flags)
    rows: dict[str, np.ndarray] = {}

    def add(name: str, g: np.ndarray, fl: tuple[bool, ...]) -> None:
        if not any(fl):
            rows[name] = np.linalg.norm(g, axis=-1)
            return
        w = g.shape[-1] // len(fl)
        for d, back in enumerate(fl):
            label = "← backward" if back else "→ forward"
            rows[f"{name} {label}"] = np.linalg.norm(g[:, d * w : (d + 1) * w], axis=-1)

    for n in range(L):
        add(f"hᵗ' layer {n + 1}" if L > 1 else "hᵗ'", grads_h[n], flags[n])
    if grads_c is not None:
        add("cᵗ' (last layer)", grads_c[-1], flags[-1])
    return rows


def saliency_text(tokens: tuple[str, ...], norms: np.ndarray, palette: str = SEQUENTIAL, k: int | None = None,
                  gap: bool = False) -> Text:
    """Tokens 1..t (1..T for a model that reads backwards too) coloured by ‖dL/dxᵗ'‖
    (brighter = more influence on the target); the target's step k marked (default the last)."""
    top = float(norms.max()) if norms.size and norms.max() > 0 else 1.0
    return coloured_tokens(tokens[: len(norms)], norms, Scale(palette, 0.0, top), k=len(norms) - 1 if k is None else k,
                           gap=gap)
