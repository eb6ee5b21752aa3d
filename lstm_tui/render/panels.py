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
    symbol: str  # its symbol in the title, where no notation names it (NOTATIONS names the LSTM gates)
    equation: str  # the equation it shows; {i} {f} {g} {o} stand for the gates' values in the notation
    kind: str  # "gate" (0..1), "tanh" (-1..1), "free" (symmetric, from the data), "prob" (0..max)
    pre: str = ""  # an LSTM gate's pre-activation, spelled out (its equation is built by ``equation``)


#: The one table of names for the LSTM gates, in each notation (cycled in this order by N).
#: ``value``: how an equation writes the gate's value; ``symbol``: how a panel or stage title
#: names it; ``input``: the name of its pre-activation, where the notation has one. PyTorch's
#: letters i, f, g, o are the code's names; the notes call the gates' inputs z^i, z^f, z, z^o
#: and write a gate's value as its activation of them, σ(z^f), tanh(z).
NOTATIONS: dict[str, dict[str, dict[str, str]]] = {
    "both": {
        "value": {"i": "iᵗ", "f": "fᵗ", "g": "gᵗ", "o": "oᵗ"},
        "symbol": {"i": "z^i / i", "f": "z^f / f", "g": "z / g", "o": "z^o / o"},
        "input": {"i": "z^i", "f": "z^f", "g": "z", "o": "z^o"},
    },
    "classic": {
        "value": {"i": "σ(z^i)", "f": "σ(z^f)", "g": "tanh(z)", "o": "σ(z^o)"},
        "symbol": {"i": "z^i", "f": "z^f", "g": "z", "o": "z^o"},
        "input": {"i": "z^i", "f": "z^f", "g": "z", "o": "z^o"},
    },
    "pytorch": {
        "value": {"i": "iᵗ", "f": "fᵗ", "g": "gᵗ", "o": "oᵗ"},
        "symbol": {"i": "i", "f": "f", "g": "g", "o": "o"},
        "input": {},
    },
}

_X = PanelSpec("x", "input", "xᵗ", "xᵗ: token t's embedding (or frame)", "free")
_HP = PanelSpec("h_prev", "previous hidden", "hᵗ⁻¹", "hᵗ⁻¹: the state the step starts from", "tanh")
_Y = PanelSpec("y", "output", "yᵗ", "yᵗ = softmax(W_y hᵗ + b_y)", "prob")

PANELS: dict[str, tuple[PanelSpec, ...]] = {
    "lstm": (
        _X,
        _HP,
        PanelSpec("c_prev", "previous cell", "cᵗ⁻¹", "cᵗ⁻¹: the memory the step starts from", "free"),
        PanelSpec("f", "forget gate", "f", "", "gate", "W_if xᵗ + W_hf hᵗ⁻¹ + b_f"),
        PanelSpec("i", "input gate", "i", "", "gate", "W_ii xᵗ + W_hi hᵗ⁻¹ + b_i"),
        PanelSpec("g", "candidate", "g", "", "tanh", "W_ig xᵗ + W_hg hᵗ⁻¹ + b_g"),
        PanelSpec("o", "output gate", "o", "", "gate", "W_io xᵗ + W_ho hᵗ⁻¹ + b_o"),
        PanelSpec("c", "cell state", "cᵗ", "cᵗ = {f} ⊙ cᵗ⁻¹ + {i} ⊙ {g}", "free"),
        PanelSpec("h", "hidden state", "hᵗ", "hᵗ = {o} ⊙ tanh(cᵗ)", "tanh"),
        _Y,
    ),
    "gru": (
        _X,
        _HP,
        PanelSpec("r", "reset gate", "rᵗ", "rᵗ = σ(W_ir xᵗ + W_hr hᵗ⁻¹ + b_r)", "gate"),
        PanelSpec("z", "update gate", "zᵗ", "zᵗ = σ(W_iz xᵗ + W_hz hᵗ⁻¹ + b_z)", "gate"),
        PanelSpec("n", "new gate", "nᵗ", "nᵗ = tanh(W_in xᵗ + b_in + rᵗ ⊙ (W_hn hᵗ⁻¹ + b_hn))", "tanh"),
        PanelSpec("h", "hidden state", "hᵗ", "hᵗ = (1 − zᵗ) ⊙ nᵗ + zᵗ ⊙ hᵗ⁻¹", "tanh"),
        _Y,
    ),
    "rnn_tanh": (
        _X,
        _HP,
        PanelSpec("h", "hidden state", "hᵗ", "hᵗ = tanh(W_ih xᵗ + b_ih + W_hh hᵗ⁻¹ + b_hh)", "tanh"),
        _Y,
    ),
    "rnn_relu": (
        _X,
        PanelSpec("h_prev", "previous hidden", "hᵗ⁻¹", "hᵗ⁻¹: the state the step starts from", "free"),
        PanelSpec("h", "hidden state", "hᵗ", "hᵗ = relu(W_ih xᵗ + b_ih + W_hh hᵗ⁻¹ + b_hh)", "free"),
        _Y,
    ),
}

ACTIVATION = {"gate": "σ", "tanh": "tanh"}  # an LSTM gate panel's activation, by its kind
GATE_ACTIVATION = {"i": "σ", "f": "σ", "g": "tanh", "o": "σ"}  # the default activation of each LSTM gate


def value_names(notation: str) -> dict[str, str]:
    """How equations write the LSTM gates' values i, f, g, o in ``notation``."""
    return NOTATIONS[notation]["value"]


def gate_symbol(q: str, notation: str) -> str:
    """How titles name LSTM gate ``q`` in ``notation`` (e.g. "z^f / f")."""
    return NOTATIONS[notation]["symbol"][q]


def title(spec: PanelSpec, notation: str = "both") -> str:
    """A panel's title: its name and symbol, an LSTM gate's in the notation."""
    symbol = gate_symbol(spec.key, notation) if spec.pre else spec.symbol
    return f"{spec.title}  {symbol}"


def equation(spec: PanelSpec, notation: str = "both") -> str:
    """The panel's equation in ``notation``: PyTorch's fᵗ = σ(W_if xᵗ + …), the notes' σ(z^f),
    where z^f = W_if xᵗ + …, or both (fᵗ = σ(z^f), z^f = …); the gate input on a line of its own."""
    names = value_names(notation)
    if not spec.pre:
        return spec.equation.format(**names)
    value, act = names[spec.key], ACTIVATION[spec.kind]
    z = NOTATIONS[notation]["input"].get(spec.key)
    if z is None:
        return f"{value} = {act}({spec.pre})"
    if value == f"{act}({z})":
        return f"{value}, where\n{z} = {spec.pre}"
    return f"{value} = {act}({z}), where\n{z} = {spec.pre}"


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


def scale_note(spec: PanelSpec) -> str:
    """Which scale a panel's colours use, in two words: a fixed range (gates 0..1, tanh -1..1),
    or one taken from the whole trace (± the largest |value| of the quantity over every step)."""
    return "fixed scale" if spec.kind in ("gate", "tanh") else "whole-trace scale"
