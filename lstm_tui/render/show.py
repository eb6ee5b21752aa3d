"""One step as Rich output for ``lstm-tui show``: notes, pipes, screen readers."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..core.model import Model
from ..core.outcomes import names_outputs
from ..core.trace import Trace
from .directions import aligned_rows, direction_note, unit_direction
from .text import token_label, top_tokens, unit_text


def step_report(model: Model, trace: Trace, layer: int, k: int, unit: int, steps: int | None = None) -> Group:
    """Every unit's values at 0-based step k of ``layer``, one unit's equations, the top guesses; ``steps``
    the input's length when the trace holds only its first steps (default: the trace's)."""
    head = Text.assemble(
        (f"{model.name}", "bold"),
        f"  {trace.cell}  layer {layer + 1}/{trace.num_layers}  step t = {k + 1}/{steps or trace.steps}  token ",
        (f"'{token_label(trace.tokens[k])}'", "bold"),
        ("  (not in the vocabulary)" if trace.unknown[k] else "", "red"),
    )
    qs = ["h_prev", *(["c_prev"] if trace.cell == "lstm" else []), *trace.quantities]
    flags = trace.reverse_flags(layer)
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("unit", justify="right")
    prev = "ᵗ⁻¹" if not any(flags) else " prev"  # a backward unit's previous state is at t + 1
    for q in qs:
        table.add_column(q.replace("_prev", prev), justify="right")
    rows = max(trace.width(q, layer) for q in qs)
    # each its own width: a projected h (P a direction) sits at the top of its direction's rows
    cols = [aligned_rows(trace.value(q, layer, k), len(flags), rows) for q in qs]
    for j in range(rows):
        label = str(j) if (d := unit_direction(trace, layer, j)) is None else f"{j} {d[0][0]}{d[1]}"
        cells = ("" if c[j] is None else f"{c[j]:+.4f}" for c in cols)
        table.add_row(label, *cells, style="bold" if j == unit else None)
    parts = [head]
    note = direction_note(trace, layer, k)
    if note:
        after = " (their previous state is the one at t + 1)" if "backward" in note else ""
        parts.append(Text(note + after, style="dim"))
    if trace.width("h", layer) != rows:
        D, P, H = len(flags), trace.width("h", layer), rows
        per = f" ({P // D} and {H // D} a direction)" if D > 1 else ""
        line = f"projected: h is {P} wide, the gates and c {H}{per}; h = W_hr·m mixes the units"
        parts.append(Text(line, style="dim"))
    parts += [table, Text(f"\nunit {unit}", style="bold"), unit_text(trace, layer, k, unit, model=model)]
    if trace.has_head:
        if names_outputs(model):
            heading = "next token, probability"
        elif trace.value("y", 0, k).shape[0] == 1:
            heading = "class 0, probability (σ of its logit)"
        else:
            heading = "class (output id), probability"
        parts += [Text(f"\n{heading}", style="bold"), top_tokens(trace, model.vocab, k)]
    return Group(*parts)

