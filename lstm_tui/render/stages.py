"""The three stages of one unit's step, laid out as the classic explanation goes.

The activations are the layer's own (``act``: gate → symbol, from
:mod:`.acts`), and the previous state is written ``pv``: ᵗ⁻¹ for a unit that
reads forwards, ᵗ⁺¹ for a backward one (its previous state is at t + 1).
"""

from __future__ import annotations

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from .acts import gate_names
from .panels import gate_symbol
from .text import _f as _n
from .text import _p

NAMES = {
    "lstm": {"i": "input gate", "f": "forget gate", "g": "candidate", "o": "output gate"},
    "gru": {"r": "reset gate", "z": "update gate", "n": "new gate"},
    "rnn_tanh": {"h": "hidden state"},
    "rnn_relu": {"h": "hidden state"},
}
DEFAULT_ACT = {
    "lstm": {"i": "σ", "f": "σ", "o": "σ", "g": "tanh", "h": "tanh"},
    "gru": {"r": "σ", "z": "σ", "n": "tanh"},
    "rnn_tanh": {"h": "tanh"},
    "rnn_relu": {"h": "relu"},
}
PROJECTED_SHOWN = 8  # a projected h's values written out at most


def _gate_label(cell: str, q: str, notation: str) -> str:
    """The gate's name and symbol, an LSTM gate's in ``notation`` (z^f / f, z^f or f)."""
    name = NAMES[cell][q]
    return f"{name} {gate_symbol(q, notation) if cell == 'lstm' else q}"


def stages_renderable(
    st: dict,
    notation: str = "both",
    act: dict[str, str] | None = None,
    pv: str = "ᵗ⁻¹",
    projection: dict | None = None,
) -> Group:
    """``explain.stages`` of one unit as a table of gate parts and the three stages.

    ``projection`` (a projected LSTM): ``{"h": (P,) hᵗ of the unit's direction,
    "column": (P,) the unit's column of W_hr, "unit": its number in the direction}``.
    """
    cell = st["cell"]
    act = act or DEFAULT_ACT[cell]
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("gate")
    for col in ("input W_ih·xᵗ", f"recurrent W_hh·h{pv}", "bias b_ih+b_hh", "= pre-act.", "→ value"):
        table.add_column(col, justify="right")
    for q, parts in st["gates"].items():
        table.add_row(
            _gate_label(cell, q, notation),
            _n(parts["input"]),
            _n(parts["recurrent"]),
            _n(parts["bias"]),
            _n(parts["pre"]),
            f"{act[q]} → {parts['value']:+.4f}",
        )
    lines = Text()
    g = {q: p["value"] for q, p in st["gates"].items()}
    if cell == "lstm":
        n = gate_names(cell, notation, act)
        ah = act["h"]
        lines.append("1 forget  ", style="bold")
        kept = f"{g['f']:.4f}·{_p(st['c_prev'])} = {_n(st['kept'])}"
        lines.append(f"{n['f']} = {g['f']:.4f} keeps {n['f']}·c{pv} = {kept}\n")
        lines.append("2 select  ", style="bold")
        lines.append(f"{n['i']} = {g['i']:.4f} writes {n['i']}·{n['g']} = {g['i']:.4f}·{_p(g['g'])} = {_n(st['written'])}\n")
        lines.append("3 output  ", style="bold")
        lines.append(f"cᵗ = {_n(st['kept'])} + {_p(st['written'])} = {_n(st['c'])}, {ah}(cᵗ) = {_n(st['tanh_c'])}, ")
        if st.get("projected"):  # h = W_hr m mixes every unit: this unit's m, and what it adds to h
            lines.append(f"mᵗ = {n['o']}·{ah}(cᵗ) = {g['o']:.4f}·{_p(st['tanh_c'])} = {_n(st['h'])}\n")
            lines.append("4 project ", style="bold")
            lines.append(_projection_text(st["h"], projection))
        else:
            lines.append(f"hᵗ = {n['o']}·{ah}(cᵗ) = {g['o']:.4f}·{_p(st['tanh_c'])} = {_n(st['h'])}")
    elif cell == "gru":
        lines.append("1 reset   ", style="bold")
        r, part = g["r"], _n(st["gates"]["n"]["recurrent"])
        if st.get("linear_before_reset", True):
            scaled = f"nᵗ's recurrent part: rᵗ·(W_hn·h{pv} + b_hn) = {r:.4f}·{_p(st['reset_input'])}"
        else:
            scaled = f"h{pv} in nᵗ's recurrent part: W_hn·(rᵗ·h{pv})"
        lines.append(f"rᵗ = {r:.4f} scales {scaled} = {part}\n")
        lines.append("2 new     ", style="bold")
        lines.append(f"nᵗ = {act['n']}({_n(st['gates']['n']['pre'])}) = {_n(g['n'])}\n")
        lines.append("3 update  ", style="bold")
        z = g["z"]
        lines.append(
            f"hᵗ = (1−zᵗ)·nᵗ + zᵗ·h{pv} = {1 - z:.4f}·{_p(g['n'])} + {z:.4f}·{_p(st['h_prev'])} "
            f"= {_n(st['written'])} + {_p(st['kept'])} = {_n(st['h'])}"
        )
        if st.get("linear_before_reset", True):
            lines.append(f"\n(for n the recurrent part is rᵗ·(W_hn·h{pv} + b_hn) and the bias b_in alone)", style="dim")
        else:
            lines.append(f"\n(for n the recurrent part is W_hn·(rᵗ·h{pv}) and the bias b_in + b_hn)", style="dim")
    else:
        lines.append("hᵗ = ", style="bold")
        lines.append(f"{act['h']}({_n(st['gates']['h']['pre'])}) = {_n(st['h'])}")
    return Group(table, Text(""), lines)


def _projection_text(m: float, projection: dict | None) -> Text:
    """hᵗ = W_hr·mᵗ: the P values of the direction, and what this unit's mᵗ adds to each."""
    t = Text("hᵗ = W_hr·mᵗ mixes every unit's mᵗ")
    if projection is None:
        return t
    h, col, u = (np.asarray(projection[k]) if k != "unit" else projection[k] for k in ("h", "column", "unit"))
    P = len(h)
    shown = min(P, PROJECTED_SHOWN)
    more = f" … ({P} in all)" if P > shown else ""
    t.append(f" (P = {P} values):\n          hᵗ = ")
    t.append(" ".join(f"{v:+.4f}" for v in h[:shown]) + more)
    t.append(f"\n          of which unit {u}'s W_hr[:, {u}]·mᵗ = ")
    t.append(" ".join(f"{v * m:+.4f}" for v in col[:shown]) + more)
    return t
