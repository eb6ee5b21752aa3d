"""The names of a layer's activation functions, as the unit and stage views write them.

A layer's ``activations`` are ONNX's ``(name, alpha, beta)``: f for the
gates, g for the candidate (LSTM, GRU), h for an LSTM's output; None means
the cell's defaults (σ, tanh, tanh). Equations write each by a short symbol
(σ, tanh, relu, or the ONNX name); :func:`acts_note` spells out the
parameters of those that are not the defaults, and the clip.
"""

from __future__ import annotations

from ..core.cells import activations_of
from ..core.model import directions
from .panels import GATE_ACTIVATION, NOTATIONS, value_names

_SHORT = {"Sigmoid": "σ", "Tanh": "tanh", "Relu": "relu"}
#: Which of alpha and beta each parameterised activation reads.
_PARAMS = {
    "Affine": "αβ", "LeakyRelu": "α", "ThresholdedRelu": "α", "ScaledTanh": "αβ", "HardSigmoid": "αβ", "Elu": "α",
}
#: Which activation (0 f, 1 g, 2 h) each gate and output goes through, per cell.
_ROLE = {
    "lstm": {"i": 0, "f": 0, "o": 0, "g": 1, "h": 2},
    "gru": {"r": 0, "z": 0, "n": 1},
    "rnn_tanh": {"h": 0},
    "rnn_relu": {"h": 0},
}


_SUB = "₀₁₂₃₄₅₆₇₈₉"


def symbol(spec: tuple) -> str:
    """σ, tanh, relu, or the ONNX name of any other activation."""
    return _SHORT.get(spec[0], spec[0])


def spelled(spec: tuple) -> str:
    """The activation with the parameters it reads: "HardSigmoid α=0.2 β=0.5"."""
    name, alpha, beta = spec
    vals = {"α": alpha, "β": beta}
    return " ".join([symbol(spec), *(f"{p}={vals[p]:g}" for p in _PARAMS.get(name, ""))])


def layer_direction(model, layer: int, d: int = 0):
    """Direction d of level ``layer`` of ``model`` (None without a model)."""
    if model is None:
        return None
    dirs = directions(model.layers[layer])
    return dirs[min(d, len(dirs) - 1)]


def symbols(lay, cell: str) -> dict[str, str]:
    """gate or output name → its activation's symbol for one direction ``lay`` (defaults when None)."""
    acts = activations_of(lay) if lay is not None else None
    if acts is None:
        from ..core.cells import DEFAULT_ACTIVATIONS

        acts = DEFAULT_ACTIVATIONS[cell]
    return {q: symbol(acts[n]) for q, n in _ROLE[cell].items()}


def acts_note(model, layer: int) -> str:
    """"" when every direction of ``layer`` uses its cell's default activations and no clip;
    otherwise one line naming them: "activations f = HardSigmoid α=0.2 β=0.5, g = Softsign; clip ±0.8"
    (per direction when they differ)."""
    if model is None:
        return ""
    dirs = directions(model.layers[layer])
    from ..core.cells import DEFAULT_ACTIVATIONS

    parts = []
    for d, lay in enumerate(dirs):
        acts = activations_of(lay)
        bits = []
        if acts != DEFAULT_ACTIVATIONS[lay.cell]:
            bits.append(", ".join(f"{'fgh'[n]} = {spelled(a)}" for n, a in enumerate(acts)))
        if lay.clip is not None:
            bits.append(f"clip ±{lay.clip:g}")
        parts.append("; ".join(bits))
    if not any(parts):
        return ""
    if len(parts) == 1 or len(set(parts)) == 1:
        return "activations " + parts[0] if not parts[0].startswith("clip") else parts[0]
    return " | ".join(f"{('forward', 'backward')[d]}: {p or 'defaults'}" for d, p in enumerate(parts))


def gate_names(cell: str, notation: str, act: dict[str, str]) -> dict[str, str]:
    """How equations name an LSTM's gate values in ``notation``, from the one table of names
    (``panels.NOTATIONS``), the notes' σ(z^i) … written with the layer's own activations ``act``."""
    if cell != "lstm":
        return dict(value_names("pytorch"))
    names = dict(value_names(notation))
    for q, z in NOTATIONS[notation]["input"].items():
        if names[q] == f"{GATE_ACTIVATION[q]}({z})":  # the table writes the default activation
            names[q] = f"{act[q]}({z})"
    return names


#: The activation each panel's equation applies, by cell and panel key (0 f, 1 g, 2 h).
_PANEL_ROLE = {
    "lstm": {"i": 0, "f": 0, "o": 0, "g": 1, "h": 2},
    "gru": {"r": 0, "z": 0, "n": 1},
    "rnn_tanh": {"h": 0},
    "rnn_relu": {"h": 0},
}
_WRITTEN = {"lstm": ("σ", "tanh", "tanh"), "gru": ("σ", "tanh"), "rnn_tanh": ("tanh",), "rnn_relu": ("relu",)}


def layer_equation(equation: str, key: str, model, layer: int) -> str:
    """A panel's ``equation`` as ``layer`` of ``model`` computes it: its own activation in
    place of the default one (σ, tanh, relu), hᵗ = W_hr(…) for a projected LSTM, the clip,
    and ᵗ⁺¹ for the previous state of backward units; the equation as given without a
    model or for a forward layer with the defaults."""
    if model is None or not 0 <= layer < len(model.layers):
        return equation
    if key == "x" and layer > 0:  # a layer above the first reads the hidden state of the one below
        return f"xᵗ: layer {layer}'s hidden state hᵗ, this layer's input"
    dirs = directions(model.layers[layer])
    lay = dirs[0]
    role = _PANEL_ROLE.get(lay.cell, {}).get(key)
    out = equation
    if key == "y" and (model.head_hidden or model.head_pool):  # yᵗ = softmax(W_y relu(W₁ max(h¹…hᵗ) + b₁) + b_y)
        inner = f"{model.head_pool}(h¹…hᵗ)" if model.head_pool else "hᵗ"
        for n, d in enumerate(model.head_hidden, 1):
            act = "" if d.activation == ("Affine", 1.0, 0.0) else symbol(d.activation)
            sub = "".join(_SUB[int(c)] for c in str(n))
            inner = f"{act}(W{sub} {inner} + b{sub})"
        out = out.replace("W_y hᵗ", f"W_y {inner}", 1)
    if key == "y" and model.head_W is not None and model.head_W.shape[0] == 1:  # a binary classifier's p
        out = out.replace("softmax(", "σ(", 1)
    if role is not None:
        written = _WRITTEN[lay.cell][role]
        own = [symbol(activations_of(d)[role]) for d in dirs]
        if own[0] != written and f"{written}(" in out:
            out = out.replace(f"{written}(", f"{own[0]}(", 1)
        if len(set(own)) > 1:
            out += f"  (← backward: {own[1]})"
        if lay.cell == "lstm" and key == "h" and lay.W_hr is not None:
            out = out.replace("hᵗ = ", "hᵗ = W_hr (", 1) + ")"
        if lay.clip is not None and not (lay.cell == "lstm" and key == "h"):
            out += f"  (pre-activation clipped to ±{lay.clip:g})"
    flags = [d.reverse for d in dirs]
    if key != "x" and "ᵗ⁻¹" in out and any(flags):  # a backward unit's previous state is at t + 1
        if all(flags):
            out = out.replace("ᵗ⁻¹", "ᵗ⁺¹")
        elif key.endswith("_prev"):  # the gates say it in the line over the panels
            out = out.replace(":", f" (← units: {out[0]}ᵗ⁺¹):", 1)
    return out
