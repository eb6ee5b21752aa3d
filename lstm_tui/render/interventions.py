"""Drawing interventions: the badge, the output's top-k before → after, the effect map.

Pure functions from arrays to text and segments, tested without an app
(the app's intervention keys live in ``lstm_tui.app.intervene``).
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from ..core.interventions import Patch, TokenChange, top_k_change
from .heatmap import level_segments
from .palette import DIVERGING, Scale, quantise
from .text import token_label

MODES = {"delta": "Δ patched − clean", "diff": "diff source − main"}
GUTTER = 6  # characters for the unit number at the left of each effect map line


def badge(patches: int, mode: str | None, nonfinite: bool = False) -> str:
    """What the status line starts with when the run shown is not the plain one ("" when it is)."""
    parts = []
    if patches:
        parts.append(f"PATCHED ({patches})")
    if mode:
        parts.append(MODES[mode].upper() if mode == "delta" else MODES[mode] + (" (patches not applied)" if patches else ""))
    if nonfinite:
        parts.append("NaN/inf!")
    return "  ".join(parts)


def patch_label(p: Patch, source_steps: int | None = None) -> str:
    """A patch as the list shows it: the command line's form, and what it says in words."""
    unit = "every unit" if p.unit is None else f"unit {p.unit}"
    value = "the source's value" if p.value == "src" else f"{p.value:g}"
    steps = f"t = {p.steps[0] + 1}" if len(p.steps) == 1 else f"t = {p.steps[0] + 1}…{p.steps[-1] + 1}"
    return f"{p}   ({p.quantity} of layer {p.layer + 1}, {unit}, {steps}, set to {value})"


def delta_scale(values_absmax: float) -> Scale:
    """A difference's scale: diverging, symmetric around 0, as far as the largest |Δ|."""
    m = values_absmax if np.isfinite(values_absmax) and values_absmax > 0 else 1.0
    return Scale(DIVERGING, -m, m)


def top_k_text(changes: list[TokenChange], sides: str = "clean → patched") -> Text:
    """The patched run's most likely next tokens, each p before → after and Δ log p."""
    t = Text(f"next ({sides}, Δ log p):\n", style="bold")
    for n, ch in enumerate(changes):
        t.append(f"{token_label(ch.label):>6} ", style="reverse" if n == 0 else "")
        t.append(f"{ch.p_before:.3f} → {ch.p_after:.3f} ")
        d = ch.dlogp
        style = "dim" if not np.isfinite(d) or abs(d) < 1e-3 else ("green" if d > 0 else "red")
        t.append(f"{d:+.3f}" if np.isfinite(d) else str(d), style=style)
        if n < len(changes) - 1:
            t.append("\n")
    return t


def effect_columns(steps: int, width: int) -> tuple[int, int]:
    """(columns, characters per column) for ``steps`` steps in ``width`` characters (at most 6 each)."""
    width = max(1, width - GUTTER)
    cw = max(1, min(6, width // max(steps, 1)))
    return min(steps, width // cw) or 1, cw


def effect_lines(
    values: np.ndarray,  # (W, n) units × step columns, NaN where not computed yet
    scale: Scale,
    col: int | None,  # the column of the current step (▼ on the axis, ◆ on the selected unit)
    unit: int | None,  # the selected unit (its line is marked in the gutter)
    target: int | None = None,  # the column of the target step (T on the axis)
    mono: bool = False,
    cell_width: int = 1,
) -> list[list[Segment]]:
    """An axis line, then one line per unit: each step's cell coloured by its effect.

    Cells not computed yet (NaN) are drawn as a dim '·'; non-finite effects (±inf) as '!'."""
    W, n = values.shape
    plain, sel = level_segments(scale.palette, cell_width, mono)
    pending = Segment("·".center(cell_width), Style(dim=True))
    broken = Segment("!".center(cell_width), Style(bold=True, color="red"))
    axis = [" "] * (n * cell_width)
    if target is not None and 0 <= target < n:
        axis[target * cell_width + cell_width // 2] = "T"
    if col is not None and 0 <= col < n:
        axis[col * cell_width + cell_width // 2] = "▼"
    head = [Segment(" " * GUTTER)]
    for x, ch in enumerate(axis):  # markers as runs of their own (an SVG viewer drops a run's leading spaces)
        if ch != " ":
            gap = x - sum(len(s.text) for s in head) + GUTTER
            head += [Segment(" " * gap), Segment(ch, Style(bold=True))]
    lines = [head]
    levels = quantise(np.where(np.isfinite(values), values, 0.0), scale.lo, scale.hi)
    nan = np.isnan(values)
    inf = np.isinf(values)
    for j in range(W):
        here = unit == j
        label = Segment(f"{j:>4}{'▶' if here else ' '} ", Style(reverse=True, bold=True) if here else Style(dim=True))
        row = [label]
        for b in range(n):
            if nan[j, b]:
                row.append(pending)
            elif inf[j, b]:
                row.append(broken)
            else:
                row.append((sel if here and b == col else plain)[levels[j, b]])
        lines.append(row)
    return lines


def output_text(state, k: int, top: int = 5) -> Text:
    """The output panel's text while patches are active: the patched run's top-k at step k,
    each with p clean → patched and Δ log p (main → source in the diff mode).
    ``state`` has ``model``, ``before``, ``after`` and ``mode``."""
    if state.before is None or state.after is None or state.before.logits is None:
        return Text("")
    if not k < min(len(state.before.logits), len(state.after.logits)):  # a run shorter than the other
        return Text("")
    sides = "main → source" if state.mode == "diff" else "clean → patched"
    return top_k_text(top_k_change(state.model, state.before, state.after, k, top), sides)
