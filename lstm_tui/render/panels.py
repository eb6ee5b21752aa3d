"""What each panel shows, per cell kind: names, equation, values and scale.

Pure data and NumPy indexing: the widgets ask this module for a panel's
values at a step and draw them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.trace import Trace
from .palette import DIVERGING, SEQUENTIAL, Scale


@dataclass(frozen=True)
class PanelSpec:
    """One panel: the quantity it shows and how it is labelled."""

    key: str  # a trace quantity, or x, h_prev, c_prev, y
    title: str  # plain-words name
    classic: str  # the classic diagrams' symbol (z^f, z^i, z^o, z)
    torch: str  # PyTorch's symbol (f, i, o, g)
    equation: str  # the equation the panel shows
    kind: str  # "gate" (0..1), "tanh" (-1..1), "free" (symmetric, from the data), "prob" (0..max)


_X = PanelSpec("x", "input", "x", "x", "xᵗ = embedding of the token (or the frame)", "free")
_HP = PanelSpec("h_prev", "previous hidden", "hᵗ⁻¹", "h", "hᵗ⁻¹: the state the step starts from", "tanh")
_Y = PanelSpec("y", "output", "y", "y", "yᵗ = softmax(W_y hᵗ + b_y)", "prob")

PANELS: dict[str, tuple[PanelSpec, ...]] = {
    "lstm": (
        _X,
        _HP,
        PanelSpec("c_prev", "previous cell", "cᵗ⁻¹", "c", "cᵗ⁻¹: the memory the step starts from", "free"),
        PanelSpec("f", "forget gate", "z^f", "f", "fᵗ = σ(W_if xᵗ + W_hf hᵗ⁻¹ + b_f)", "gate"),
        PanelSpec("i", "input gate", "z^i", "i", "iᵗ = σ(W_ii xᵗ + W_hi hᵗ⁻¹ + b_i)", "gate"),
        PanelSpec("g", "candidate", "z", "g", "gᵗ = tanh(W_ig xᵗ + W_hg hᵗ⁻¹ + b_g)", "tanh"),
        PanelSpec("o", "output gate", "z^o", "o", "oᵗ = σ(W_io xᵗ + W_ho hᵗ⁻¹ + b_o)", "gate"),
        PanelSpec("c", "cell state", "c", "c", "cᵗ = fᵗ ⊙ cᵗ⁻¹ + iᵗ ⊙ gᵗ", "free"),
        PanelSpec("h", "hidden state", "h", "h", "hᵗ = oᵗ ⊙ tanh(cᵗ)", "tanh"),
        _Y,
    ),
    "gru": (
        _X,
        _HP,
        PanelSpec("r", "reset gate", "r", "r", "rᵗ = σ(W_ir xᵗ + W_hr hᵗ⁻¹ + b_r)", "gate"),
        PanelSpec("z", "update gate", "z", "z", "zᵗ = σ(W_iz xᵗ + W_hz hᵗ⁻¹ + b_z)", "gate"),
        PanelSpec("n", "new gate", "h̃", "n", "nᵗ = tanh(W_in xᵗ + b_in + rᵗ ⊙ (W_hn hᵗ⁻¹ + b_hn))", "tanh"),
        PanelSpec("h", "hidden state", "h", "h", "hᵗ = (1 − zᵗ) ⊙ nᵗ + zᵗ ⊙ hᵗ⁻¹", "tanh"),
        _Y,
    ),
    "rnn_tanh": (
        _X,
        _HP,
        PanelSpec("h", "hidden state", "h", "h", "hᵗ = tanh(W_ih xᵗ + b_ih + W_hh hᵗ⁻¹ + b_hh)", "tanh"),
        _Y,
    ),
    "rnn_relu": (
        _X,
        PanelSpec("h_prev", "previous hidden", "hᵗ⁻¹", "h", "hᵗ⁻¹: the state the step starts from", "free"),
        PanelSpec("h", "hidden state", "h", "h", "hᵗ = relu(W_ih xᵗ + b_ih + W_hh hᵗ⁻¹ + b_hh)", "free"),
        _Y,
    ),
}


NOTATIONS = ("both", "classic", "pytorch")

#: How the unit view names each LSTM gate in each notation (the classic
#: diagrams write the activation of a gate input z^f as f(z^f), here σ(z^f)).
SYMBOLS = {
    "classic": {"i": "σ(z^i)", "f": "σ(z^f)", "g": "tanh(z)", "o": "σ(z^o)"},
    "pytorch": {"i": "iᵗ", "f": "fᵗ", "g": "gᵗ", "o": "oᵗ"},
}


def title(spec: PanelSpec, notation: str = "both") -> str:
    """A panel's title in a notation: classic, PyTorch's, or both side by side."""
    if spec.classic == spec.torch:
        return spec.title
    if notation == "classic":
        return f"{spec.title}  {spec.classic}"
    if notation == "pytorch":
        return f"{spec.title}  {spec.torch}"
    return f"{spec.title}  {spec.classic} / {spec.torch}"


def panels_for(trace: Trace) -> tuple[PanelSpec, ...]:
    """The panels that fit the trace's cell (no output panel without a head)."""
    return tuple(p for p in PANELS[trace.cell] if p.key != "y" or trace.has_head)


def values(trace: Trace, spec_key: str, layer: int, k: int) -> np.ndarray:
    """The panel's vector (n,) at 0-based step k of ``layer``."""
    return trace.value(spec_key, layer, k)


def scale(trace: Trace, spec: PanelSpec, layer: int, sequential: str = SEQUENTIAL) -> Scale:
    """One scale per panel for the whole trace, so colours compare across steps.

    ``sequential`` names the palette of 0..1 and 0..max panels (viridis or cividis).
    """
    if spec.kind == "gate":
        return Scale(sequential, 0.0, 1.0)
    if spec.kind == "tanh":
        return Scale(DIVERGING, -1.0, 1.0)
    m = trace.abs_max(spec.key, layer)
    m = m if np.isfinite(m) and m > 0 else 1.0
    if spec.kind == "prob" or (trace.cell == "rnn_relu" and spec.key in ("h", "h_prev")):
        return Scale(sequential, 0.0, m)
    return Scale(DIVERGING, -m, m)
