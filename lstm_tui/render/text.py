"""Text panels as Rich ``Text``: the token strip, a unit's numbers, top guesses.

Tokens are shown inert: control characters (ANSI escapes included) are
replaced by visible escapes, never sent to the terminal.
"""

from __future__ import annotations

import unicodedata

import numpy as np
from rich.cells import cell_len
from rich.text import Text

from ..core.trace import Trace
from .directions import unit_direction
from .panels import SYMBOLS

_VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}


def token_label(tok: str) -> str:
    """A token as safe, visible text."""
    if tok in _VISIBLE:
        return _VISIBLE[tok]
    out = []
    for ch in tok:
        cat = unicodedata.category(ch)
        if ch in _VISIBLE:
            out.append(_VISIBLE[ch])
        elif cat in ("Cc", "Cs", "Co", "Cn") or (cat == "Cf" and ch not in "\u200d"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out) or "∅"


def token_strip(tokens: tuple[str, ...], unknown: np.ndarray, k: int, width: int) -> Text:
    """One line of tokens fitting ``width`` cells, step k highlighted and kept in view.

    Unknown tokens are underlined in red and followed by a '?'. Only the
    tokens that fit are looked at, so a long sequence costs no more than a
    short one.
    """
    if not tokens:
        return Text("(empty sequence: press / and type one)", style="dim italic")
    width = max(width, 4)
    labels: dict[int, str] = {}

    def label(n: int) -> str:
        if n not in labels:
            labels[n] = token_label(tokens[n]) + ("?" if unknown[n] else "")
        return labels[n]

    # Grow a window around k, alternating right and left, until it is full.
    lo, hi, used = k, k + 1, cell_len(label(k)) + 1
    grew = True
    while grew:
        grew = False
        if hi < len(tokens) and used + cell_len(label(hi)) + 1 <= width - 2:
            used += cell_len(label(hi)) + 1
            hi += 1
            grew = True
        if lo > 0 and used + cell_len(label(lo - 1)) + 1 <= width - 2:
            lo -= 1
            used += cell_len(label(lo)) + 1
            grew = True
    text = Text("…" if lo > 0 else " ", style="dim")
    for n in range(lo, hi):
        style = "reverse bold" if n == k else ("red underline" if unknown[n] else "")
        if n == k and unknown[n]:
            style = "reverse bold red"
        text.append(label(n), style=style)
        text.append(" ")
    if hi < len(tokens):
        text.append("…", style="dim")
    return text


def _f(v: float) -> str:
    return f"{v:+.4f}"


def _p(v: float) -> str:
    """A factor in a product: negative numbers in parentheses."""
    return f"({v:+.4f})" if v < 0 else f"{v:.4f}"


def unit_title(trace: Trace, layer: int, k: int, j: int) -> str:
    """The unit view's title: which unit, which step."""
    units = max(trace.width(q, layer) for q in trace.quantities)
    if trace.steps == 0:
        return f"unit {j} of {units}"
    where = f" · layer {layer + 1}" if trace.num_layers > 1 else ""
    d = unit_direction(trace, layer, j)
    side = "" if d is None else f" ({d[0]} {d[1]})"
    return f"unit {j} of {units}{side}{where} · t = {k + 1} · '{token_label(trace.tokens[k])}'  (↑↓ moves)"


def unit_text(trace: Trace, layer: int, k: int, j: int, notation: str = "both") -> Text:
    """The selected unit j's numbers at 0-based step k, with the equations filled in.

    ``notation`` "classic" names the LSTM gates σ(z^f), σ(z^i), tanh(z), σ(z^o).
    """
    if trace.steps == 0:
        return Text("no steps yet: press / and type a sequence", style="dim")
    if trace.width("h", layer) != trace.width(trace.quantities[0], layer):  # a projected LSTM
        return _projected_text(trace, layer, k, j)
    s = {q: float(trace.value(q, layer, k)[j]) for q in trace.quantities}
    h_prev = float(trace.value("h_prev", layer, k)[j])
    t = Text()
    if trace.cell == "lstm":
        c_prev = float(trace.value("c_prev", layer, k)[j])
        n = SYMBOLS["classic" if notation == "classic" else "pytorch"]
        t.append(f"{n['f']} {s['f']:.4f}  {n['i']} {s['i']:.4f}  {n['g']} {_f(s['g'])}  {n['o']} {s['o']:.4f}")
        t.append(f"  cᵗ⁻¹ {_f(c_prev)}\n")
        t.append(f"cᵗ = {n['f']}·cᵗ⁻¹ + {n['i']}·{n['g']}", style="bold")
        t.append(f" = {s['f']:.4f}·{_p(c_prev)} + {s['i']:.4f}·{_p(s['g'])} = {_f(s['c'])}\n")
        t.append(f"hᵗ = {n['o']}·tanh(cᵗ)", style="bold")
        t.append(f" = {s['o']:.4f}·tanh({_f(s['c'])}) = {_f(s['h'])}")
    elif trace.cell == "gru":
        t.append(f"rᵗ {s['r']:.4f}  zᵗ {s['z']:.4f}  nᵗ {_f(s['n'])}  hᵗ⁻¹ {_f(h_prev)}\n")
        t.append("hᵗ = (1−zᵗ)·nᵗ + zᵗ·hᵗ⁻¹", style="bold")
        t.append(f" = {1 - s['z']:.4f}·{_p(s['n'])} + {s['z']:.4f}·{_p(h_prev)} = {_f(s['h'])}")
    else:
        fn = "tanh" if trace.cell == "rnn_tanh" else "relu"
        pre = float(trace.value("xW", layer, k)[j] + trace.value("hW", layer, k)[j])
        t.append(f"hᵗ⁻¹ {_f(h_prev)}   W_ih xᵗ + W_hh hᵗ⁻¹ = {_f(pre)}\n")
        t.append(f"hᵗ = {fn}(W_ih xᵗ + b_ih + W_hh hᵗ⁻¹ + b_hh)", style="bold")
        t.append(f" = {_f(s['h'])}")
    return t


def _projected_text(trace: Trace, layer: int, k: int, j: int) -> Text:
    """A projected LSTM's unit: the gates and c of unit j; h = W_hr·(o·tanh c) mixes every unit."""
    s = {q: float(trace.value(q, layer, k)[j]) for q in ("i", "f", "g", "o", "c")}
    c_prev = float(trace.value("c_prev", layer, k)[j])
    t = Text()
    t.append(f"iᵗ {s['i']:.4f}  fᵗ {s['f']:.4f}  gᵗ {_f(s['g'])}  oᵗ {s['o']:.4f}  cᵗ⁻¹ {_f(c_prev)}\n")
    t.append("cᵗ = fᵗ·cᵗ⁻¹ + iᵗ·gᵗ", style="bold")
    t.append(f" = {s['f']:.4f}·{_p(c_prev)} + {s['i']:.4f}·{_p(s['g'])} = {_f(s['c'])}\n")
    t.append("mᵗ = oᵗ·tanh(cᵗ)", style="bold")
    t.append(f" = {s['o'] * np.tanh(s['c']):+.4f};  hᵗ = W_hr·mᵗ, {trace.width('h', layer)} units, mixes every unit")
    return t


def top_tokens(trace: Trace, vocab: tuple[str, ...] | None, k: int, n: int = 5) -> Text:
    """The n most likely next tokens at step k with their probabilities."""
    if not trace.has_head or trace.steps == 0:
        return Text("")
    p = trace.value("y", 0, k)
    cand = np.arange(len(p))
    if len(p) > 4 * n:  # a large vocabulary: sort only the n largest (and their ties), not all of it
        cand = np.flatnonzero(p >= np.partition(p, len(p) - n)[len(p) - n])
    best = cand[np.argsort(-p[cand], kind="stable")][:n]
    t = Text("next: ", style="bold")
    for rank, idx in enumerate(best):
        label = token_label(vocab[idx]) if vocab is not None else str(idx)
        t.append(label, style="reverse" if rank == 0 else "underline")
        t.append(f" {p[idx]:.3f}", style="dim")
        if rank < len(best) - 1:
            t.append("  ")
    return t
