"""The three stages of one unit's step, laid out as the classic explanation goes."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .panels import SYMBOLS
from .text import _f as _n
from .text import _p

NAMES = {
    "lstm": {"i": "input gate", "f": "forget gate", "g": "candidate", "o": "output gate"},
    "gru": {"r": "reset gate", "z": "update gate", "n": "new gate"},
    "rnn_tanh": {"h": "hidden state"},
    "rnn_relu": {"h": "hidden state"},
}
ACT = {"i": "σ", "f": "σ", "o": "σ", "g": "tanh", "r": "σ", "z": "σ", "n": "tanh"}


def _gate_label(cell: str, q: str, notation: str) -> str:
    name = NAMES[cell][q]
    if cell != "lstm" or notation == "pytorch":
        return f"{name} {q}"
    classic = SYMBOLS["classic"][q]
    return f"{name} {classic}" if notation == "classic" else f"{name} {classic} / {q}"


def stages_renderable(st: dict, notation: str = "both") -> Group:
    """``explain.stages`` of one unit as a table of gate parts and the three stages."""
    cell = st["cell"]
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("gate")
    for col in ("input W_ih·xᵗ", "recurrent W_hh·hᵗ⁻¹", "bias b_ih+b_hh", "= pre-act.", "→ value"):
        table.add_column(col, justify="right")
    for q, parts in st["gates"].items():
        act = ACT.get(q, "relu" if cell == "rnn_relu" else "tanh")
        table.add_row(
            _gate_label(cell, q, notation),
            _n(parts["input"]),
            _n(parts["recurrent"]),
            _n(parts["bias"]),
            _n(parts["pre"]),
            f"{act} → {parts['value']:+.4f}",
        )
    lines = Text()
    g = {q: p["value"] for q, p in st["gates"].items()}
    if cell == "lstm":
        n = SYMBOLS["classic" if notation == "classic" else "pytorch"]
        lines.append("1 forget  ", style="bold")
        lines.append(f"{n['f']} = {g['f']:.4f} keeps {n['f']}·cᵗ⁻¹ = {g['f']:.4f}·{_p(st['c_prev'])} = {_n(st['kept'])}\n")
        lines.append("2 select  ", style="bold")
        lines.append(f"{n['i']} = {g['i']:.4f} writes {n['i']}·{n['g']} = {g['i']:.4f}·{_p(g['g'])} = {_n(st['written'])}\n")
        lines.append("3 output  ", style="bold")
        lines.append(f"cᵗ = {_n(st['kept'])} + {_p(st['written'])} = {_n(st['c'])}, tanh(cᵗ) = {_n(st['tanh_c'])}, ")
        if st.get("projected"):  # h = W_hr m mixes every unit: this unit's m
            lines.append(f"mᵗ = {n['o']}·tanh(cᵗ) = {g['o']:.4f}·{_p(st['tanh_c'])} = {_n(st['h'])}, hᵗ = W_hr·mᵗ")
        else:
            lines.append(f"hᵗ = {n['o']}·tanh(cᵗ) = {g['o']:.4f}·{_p(st['tanh_c'])} = {_n(st['h'])}")
    elif cell == "gru":
        lines.append("1 reset   ", style="bold")
        lines.append(f"rᵗ = {g['r']:.4f} scales the recurrent part of nᵗ: {_n(st['gates']['n']['recurrent'])}\n")
        lines.append("2 new     ", style="bold")
        lines.append(f"nᵗ = tanh({_n(st['gates']['n']['pre'])}) = {_n(g['n'])}\n")
        lines.append("3 update  ", style="bold")
        lines.append(f"hᵗ = (1−zᵗ)·nᵗ + zᵗ·hᵗ⁻¹ = {_n(st['written'])} + {_p(st['kept'])} = {_n(st['h'])}")
        if st.get("linear_before_reset", True):
            lines.append("\n(for n the recurrent part is rᵗ·(W_hn·hᵗ⁻¹ + b_hn) and the bias b_in alone)", style="dim")
        else:
            lines.append("\n(for n the recurrent part is W_hn·(rᵗ·hᵗ⁻¹) and the bias b_in + b_hn)", style="dim")
    else:
        lines.append("hᵗ = ", style="bold")
        lines.append(f"{'tanh' if cell == 'rnn_tanh' else 'relu'}({_n(st['gates']['h']['pre'])}) = {_n(st['h'])}")
    return Group(table, Text(""), lines)
