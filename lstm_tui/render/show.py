"""One step as Rich output for ``lstm-tui show``: notes, pipes, screen readers."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..core.model import Model
from ..core.trace import Trace
from .directions import direction_note, unit_direction
from .text import token_label, top_tokens, unit_text


def step_report(model: Model, trace: Trace, layer: int, k: int, unit: int) -> Group:
    """Every unit's values at 0-based step k of ``layer``, one unit's equations, the top guesses."""
    head = Text.assemble(
        (f"{model.name}", "bold"),
        f"  {trace.cell}  layer {layer + 1}/{trace.num_layers}  step t = {k + 1}/{trace.steps}  token ",
        (f"'{token_label(trace.tokens[k])}'", "bold"),
        ("  (not in the vocabulary)" if trace.unknown[k] else "", "red"),
    )
    qs = ["h_prev", *(["c_prev"] if trace.cell == "lstm" else []), *trace.quantities]
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("unit", justify="right")
    for q in qs:
        table.add_column(q.replace("_prev", "ᵗ⁻¹"), justify="right")
    cols = [trace.value(q, layer, k) for q in qs]  # each its own width: a projected h is narrower than c
    for j in range(max(len(c) for c in cols)):
        label = str(j) if (d := unit_direction(trace, layer, j)) is None else f"{j} {d[0][0]}{d[1]}"
        table.add_row(label, *(f"{c[j]:+.4f}" if j < len(c) else "" for c in cols), style="bold" if j == unit else None)
    parts = [head]
    note = direction_note(trace, layer, k)
    if note:
        parts.append(Text(note, style="dim"))
    parts += [table, Text(""), unit_text(trace, layer, k, unit)]
    if trace.has_head:
        parts.append(top_tokens(trace, model.vocab, k))
    return Group(*parts)
