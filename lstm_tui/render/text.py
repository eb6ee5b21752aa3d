"""Text panels as Rich ``Text``: the token strip, a unit's numbers, top guesses.

Tokens are shown inert: control characters (ANSI escapes included) are
replaced by visible escapes, never sent to the terminal.
"""

from __future__ import annotations

import math
import unicodedata

import numpy as np
from rich.cells import cell_len
from rich.text import Text

from ..core.cells import ACTIVATIONS, activations_of
from ..core.trace import Trace
from .acts import acts_note, gate_names, layer_direction, symbols
from .directions import previous_symbol, read_span, unit_direction

SPACE = "␠"  # how a space token is shown
#: Whitespace and control characters as visible one-cell symbols (C0 controls as their
#: Unicode control pictures, ␀ … ␟, DEL as ␡); other invisible or text-breaking
#: characters become \\x.. / \\u.... escapes.
_VISIBLE = {" ": SPACE, "\n": "⏎", "\t": "⇥", "\r": "␍", "\x7f": "␡", "\u00a0": "⍽"}
_VISIBLE.update({chr(c): chr(0x2400 + c) for c in range(0x20) if chr(c) not in _VISIBLE})


def token_label(tok: str) -> str:
    """A token as safe, visible text: no character in it moves the cursor, breaks the line or
    is invisible (``" "`` is ``␠``, ``"\\n"`` is ``⏎``, ESC is ``␛``, U+202E is ``\\u202e``)."""
    out = []
    for ch in tok:
        if ch in _VISIBLE:
            out.append(_VISIBLE[ch])
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp") or (cat == "Cf" and ch != "\u200d"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    text = "".join(out)
    if text and unicodedata.category(text[0]) in ("Mn", "Me", "Mc"):  # a lone mark (a code point of a
        text = "◌" + text  # vocabulary of code points): on its dotted circle, a cell wide, as type books show it
    return text or "∅"


def token_strip(tokens: tuple[str, ...], unknown: np.ndarray, k: int, width: int) -> Text:
    """One line of tokens fitting ``width`` cells, step k highlighted and kept in view.

    Unknown tokens are underlined in red and followed by a '?'. Only the
    tokens that fit are looked at, so a long sequence costs no more than a
    short one.
    """
    if not tokens:
        return Text("(empty sequence: press / and type one)", style="dim italic")
    lo, hi, label = _strip_window(tokens, unknown, k, width)
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


def token_at(tokens: tuple[str, ...], unknown: np.ndarray, k: int, width: int, x: int) -> int | None:
    """The step whose token :func:`token_strip` draws at cell ``x`` (None: a gap or an edge)."""
    if not tokens or x < 1:
        return None
    lo, hi, label = _strip_window(tokens, unknown, k, width)
    start = 1  # after the leading "…" or space
    for n in range(lo, hi):
        end = start + cell_len(label(n))
        if start <= x < end:
            return n
        start = end + 1
    return None


def _strip_window(tokens: tuple[str, ...], unknown: np.ndarray, k: int, width: int):
    """(lo, hi, label): the steps lo..hi-1 that fit ``width`` around k, and each one's label."""
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
    return lo, hi, label


def _f(v: float) -> str:
    return f"{v:+.4f}"


def _p(v: float) -> str:
    """A factor in a product: negative numbers in parentheses."""
    return f"({v:+.4f})" if v < 0 else f"{v:.4f}"


def unit_title(trace: Trace, layer: int, k: int, j: int) -> str:
    """The unit view's title: which unit (and, in a layer that reads backwards, which
    direction, the unit's number within it and what it has read), which step."""
    units = max(trace.width(q, layer) for q in trace.quantities)
    if trace.steps == 0:
        return f"unit {j} of {units}"
    where = f" · layer {layer + 1}" if trace.num_layers > 1 else ""
    d = unit_direction(trace, layer, j)
    side = ""
    if d is not None:
        per = trace.width(trace.quantities[0], layer) // len(trace.reverse_flags(layer))
        arrow = "←" if d[0] == "backward" else "→"
        side = f" = {arrow} {d[0]} unit {d[1]} of {per}, has read {read_span(trace, layer, j, k)}"
    return f"unit {j} of {units}{side}{where} · t = {k + 1} · '{token_label(trace.tokens[k])}'  (↑↓ moves)"


def _names(trace: Trace, layer: int, j: int, notation: str, model) -> tuple:
    """(gate names in the notation, activation symbols, the previous step's superscript, the
    unit's direction of the model's layer or None) of unit j."""
    d = unit_direction(trace, layer, j)
    backward = d is not None and d[0] == "backward" and len(trace.reverse_flags(layer)) > 1
    lay = layer_direction(model, layer, 1 if backward else 0)
    act = symbols(lay, trace.cell)
    return gate_names(trace.cell, notation, act), act, previous_symbol(trace, layer, j), lay


def unit_text(trace: Trace, layer: int, k: int, j: int, notation: str = "both", model=None) -> Text:
    """The selected unit j's numbers at 0-based step k, with the equations filled in.

    ``notation`` "classic" names the LSTM gates σ(z^f), σ(z^i), tanh(z), σ(z^o).
    ``model`` (the trace's) gives the layer's own activation functions and clip
    (the defaults without it). A backward unit's previous state is the one at
    t + 1 (written ᵗ⁺¹).
    """
    if trace.steps == 0:
        return Text("no steps yet: press / and type a sequence", style="dim")
    n, act, pv, lay = _names(trace, layer, j, notation, model)
    if trace.width("h", layer) != trace.width(trace.quantities[0], layer):  # a projected LSTM
        out = activations_of(lay)[2] if lay is not None else ("Tanh", 0.0, 0.0)
        t = _projected_text(trace, layer, k, j, n, act, pv, out)
    else:
        t = _plain_text(trace, layer, k, j, n, act, pv)
    note = acts_note(model, layer)
    if note:
        t.append("\n" + note, style="dim")
    return t


def _plain_text(trace: Trace, layer: int, k: int, j: int, n: dict, act: dict, pv: str) -> Text:
    s = {q: float(trace.value(q, layer, k)[j]) for q in trace.quantities}
    h_prev = float(trace.value("h_prev", layer, k)[j])
    t = Text()
    if trace.cell == "lstm":
        c_prev = float(trace.value("c_prev", layer, k)[j])
        t.append(f"{n['f']} {s['f']:.4f}  {n['i']} {s['i']:.4f}  {n['g']} {_f(s['g'])}  {n['o']} {s['o']:.4f}")
        t.append(f"  c{pv} {_f(c_prev)}\n")
        t.append(f"cᵗ = {n['f']}·c{pv} + {n['i']}·{n['g']} ", style="bold")  # a run ends with its space
        t.append(f"= {s['f']:.4f}·{_p(c_prev)} + {s['i']:.4f}·{_p(s['g'])} = {_f(s['c'])}\n")
        t.append(f"hᵗ = {n['o']}·{act['h']}(cᵗ) ", style="bold")
        t.append(f"= {s['o']:.4f}·{act['h']}({_f(s['c'])}) = {_f(s['h'])}")
    elif trace.cell == "gru":
        t.append(f"rᵗ {s['r']:.4f}  zᵗ {s['z']:.4f}  nᵗ {_f(s['n'])}  h{pv} {_f(h_prev)}\n")
        t.append(f"hᵗ = (1−zᵗ)·nᵗ + zᵗ·h{pv} ", style="bold")
        t.append(f"= {1 - s['z']:.4f}·{_p(s['n'])} + {s['z']:.4f}·{_p(h_prev)} = {_f(s['h'])}")
    else:
        fn = act["h"]
        pre = float(trace.value("xW", layer, k)[j] + trace.value("hW", layer, k)[j])
        t.append(f"h{pv} {_f(h_prev)}   W_ih xᵗ + W_hh h{pv} = {_f(pre)}\n")
        t.append(f"hᵗ = {fn}(W_ih xᵗ + b_ih + W_hh h{pv} + b_hh) ", style="bold")
        t.append(f"= {_f(s['h'])}")
    return t


def _projected_text(trace: Trace, layer: int, k: int, j: int, n: dict, act: dict, pv: str, out: tuple) -> Text:
    """A projected LSTM's unit: the gates and c of unit j (H wide); h = W_hr·(o ⊙ act(c)) is P
    wide and mixes every unit of the direction."""
    s = {q: float(trace.value(q, layer, k)[j]) for q in ("i", "f", "g", "o", "c")}
    c_prev = float(trace.value("c_prev", layer, k)[j])
    m = s["o"] * float(ACTIVATIONS[out[0]][0](np.float64(s["c"]), out[1], out[2]))  # mᵗ = o ⊙ h-activation(c)
    D = len(trace.reverse_flags(layer))
    P = trace.width("h", layer) // D
    t = Text()
    t.append(f"{n['f']} {s['f']:.4f}  {n['i']} {s['i']:.4f}  {n['g']} {_f(s['g'])}  {n['o']} {s['o']:.4f}")
    t.append(f"  c{pv} {_f(c_prev)}\n")
    t.append(f"cᵗ = {n['f']}·c{pv} + {n['i']}·{n['g']}", style="bold")
    t.append(f" = {s['f']:.4f}·{_p(c_prev)} + {s['i']:.4f}·{_p(s['g'])} = {_f(s['c'])}\n")
    t.append(f"mᵗ = {n['o']}·{act['h']}(cᵗ) ", style="bold")
    t.append(f"= {s['o']:.4f}·{act['h']}({_f(s['c'])}) = {m:+.4f};  ")
    t.append("hᵗ = W_hr·mᵗ", style="bold")
    t.append(f" (P = {P}{' a direction' if D > 1 else ''}, mixes every unit)")
    return t


EIGHTHS = " ▏▎▍▌▋▊▉"  # a bar's last partial cell, in eighths


def bar(fraction: float, width: int) -> str:
    """``fraction`` of ``width`` cells as a bar of full and eighth blocks (0 is empty)."""
    if not math.isfinite(fraction):  # a patch or an overflow can make y NaN: no bar
        return ""
    eighths = int(round(min(max(fraction, 0.0), 1.0) * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


def top_k(trace: Trace, vocab: tuple[str, ...] | None, k: int, n: int = 5) -> list[tuple[str, float]]:
    """The n most likely next tokens at step k, best first: (visible label, probability).

    A vocabulary that does not match the output (a classifier's classes) gives ids.
    """
    if not trace.has_head or trace.steps == 0:
        return []
    p = trace.value("y", 0, k)
    cand = np.arange(len(p))
    if len(p) > 4 * n:  # a large vocabulary: sort only the n largest (and their ties), not all of it
        cand = np.flatnonzero(p >= np.partition(p, len(p) - n)[len(p) - n])
    best = cand[np.argsort(-p[cand], kind="stable")][:n]
    named = vocab is not None and len(vocab) == len(p)
    return [(token_label(vocab[i]) if named else str(i), float(p[i])) for i in best]


def top_k_text(rows: list[tuple[str, float]], width: int, label_width: int = 12) -> Text:
    """Top-k rows as aligned columns in ``width`` cells: token, probability, a bar of it (0..1).

    Labels longer than ``label_width`` cells end in …; the best row is bold.
    """
    if not rows:
        return Text("")
    lw = min(label_width, max(cell_len(label) for label, _ in rows))
    bar_width = max(1, width - lw - 7)  # label, space, "0.000", space, bar
    text = Text()
    for rank, (label, p) in enumerate(rows):
        cell = Text(label)
        cell.truncate(lw, overflow="ellipsis", pad=True)
        cell.append(" ")  # each run ends with its gap, none starts with one (an SVG viewer drops it)
        cell.stylize("bold" if rank == 0 else "")
        text.append_text(cell)
        text.append(f"{p:.3f} ", style="bold" if rank == 0 else "dim")
        text.append(bar(p, bar_width), style="bold" if rank == 0 else "")
        if rank < len(rows) - 1:
            text.append("\n")
    return text


def top_tokens(trace: Trace, vocab: tuple[str, ...] | None, k: int, n: int = 5, width: int = 40) -> Text:
    """The n most likely next tokens at step k: token, probability and a bar, one a line."""
    return top_k_text(top_k(trace, vocab, k, n), width)
