"""Which direction a unit belongs to, and what each direction has read: the labels
of a bidirectional or reverse layer, as plain strings (no app, no widgets).

A bidirectional layer's units are the forward direction's first, then the
backward direction's; at step t (1-based) the forward units have read steps
1..t and the backward units steps t..T.
"""

from __future__ import annotations

_NAMES = ("forward", "backward")


def layer_units(trace, layer: int) -> int:
    """How many units the unit cursor of ``layer`` ranges over: its widest quantity
    (a projected LSTM's gates are wider than its h; each panel clamps to its own width)."""
    return max(trace.width(q, layer) for q in trace.quantities)


def unit_direction(trace, layer: int, j: int, q: str | None = None) -> tuple[str, int] | None:
    """("forward" or "backward", the unit's number within its direction) for unit j of
    quantity q (default the layer's first quantity) of a layer that reads backwards
    in some direction; None for a layer that only reads forwards."""
    flags = trace.reverse_flags(layer)
    if not any(flags):
        return None
    w = trace.width(q or trace.quantities[0], layer) // len(flags)
    d = min(j // w, len(flags) - 1) if w else 0
    return _NAMES[1] if flags[d] else _NAMES[0], j - d * w


def direction_ranges(trace, layer: int, q: str | None = None) -> list[tuple[str, int, int]]:
    """[(name, first unit, last unit)] of each direction of ``layer`` for quantity q, in unit order."""
    flags = trace.reverse_flags(layer)
    w = trace.width(q or trace.quantities[0], layer) // len(flags)
    return [(_NAMES[1] if back else _NAMES[0], d * w, (d + 1) * w - 1) for d, back in enumerate(flags)]


def direction_note(trace, layer: int, k: int, q: str | None = None) -> str:
    """One line on what each direction of ``layer`` has read at 0-based step k
    ("" for a layer that only reads forwards)."""
    flags = trace.reverse_flags(layer)
    if not any(flags):
        return ""
    T, t = trace.steps, k + 1
    read = {"forward": f"steps 1..{t}", "backward": f"steps {t}..{T}"}
    if len(flags) == 1:
        return f"layer {layer + 1} reads backwards: at t = {t} it has read {read['backward']}"
    parts = [f"{name} units {a}-{b} have read {read[name]}" for name, a, b in direction_ranges(trace, layer, q)]
    return f"at t = {t}: " + "; ".join(parts)
