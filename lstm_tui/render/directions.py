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


def panel_parts(trace, key: str, layer: int) -> tuple[str, ...]:
    """The arrows that start each direction's block in a panel of quantity ``key``
    ("→" forward, "←" backward), () for a panel not split by direction (a layer
    that only reads forwards, or the output y). The input x of a layer above a
    bidirectional one is split as that layer's h is."""
    if key == "y" or (key == "x" and layer == 0):
        return ()
    flags = trace.reverse_flags(layer - 1 if key == "x" else layer)
    if not any(flags):
        return ()
    return tuple("←" if back else "→" for back in flags)


def _symbol(trace, key: str, layer: int) -> str:
    """H or P: which width the panel's quantity has in a projected LSTM ("" otherwise)."""
    if trace.cell != "lstm" or key in ("x", "y") or trace.width("h", layer) == trace.width("c", layer):
        return ""
    return "P" if key in ("h", "h_prev") else "H"


def values_label(n: int) -> str:
    """"1 value", "16 values"."""
    return f"{n} value{'s' * (n != 1)}"


def width_label(trace, key: str, layer: int, n: int) -> str:
    """A panel's subtitle: how many values, which width (H, P, 2H …) in a projected or
    bidirectional layer, and each direction's units: "16 values (2H): → 0-7 │ ← 8-15"."""
    if not n:
        return ""
    parts = panel_parts(trace, key, layer)
    sym = _symbol(trace, key, layer if key != "x" else layer - 1)
    if sym and len(parts) > 1:
        sym = f"{len(parts)}{sym}"
    label = values_label(n) + (f" ({sym})" if sym else "")
    if not parts:
        return label
    w = n // len(parts)
    return label + ": " + " │ ".join(f"{a} {d * w}-{(d + 1) * w - 1}" for d, a in enumerate(parts))


def previous_symbol(trace, layer: int, j: int, q: str | None = None) -> str:
    """"ᵗ⁻¹" for a unit that reads forwards, "ᵗ⁺¹" for a backward one (its previous state is at t + 1)."""
    d = unit_direction(trace, layer, j, q)
    return "ᵗ⁺¹" if d is not None and d[0] == "backward" else "ᵗ⁻¹"


def read_span(trace, layer: int, j: int, k: int, q: str | None = None) -> str:
    """What unit j has read at 0-based step k: "steps 1..t" forwards, "steps t..T" backwards."""
    d = unit_direction(trace, layer, j, q)
    t, T = k + 1, trace.steps
    return f"steps {t}..{T}" if d is not None and d[0] == "backward" else f"steps 1..{t}"


def direction_line(trace, layer: int, k: int, width: int = 0) -> str:
    """:func:`direction_note` with each direction's arrow, for the line over the panels; a
    shorter wording when the long one is wider than ``width`` (0: no limit)."""
    flags = trace.reverse_flags(layer)
    if not any(flags):
        return ""
    T, t = trace.steps, k + 1
    if len(flags) == 1:
        line = f"← layer {layer + 1} reads backwards, from step {T}: at t = {t} it has read steps {t}..{T}"
        return line if not width or len(line) <= width else f"← reads backwards: has read steps {t}..{T}"
    ranges = direction_ranges(trace, layer)
    long = f"at t = {t}: " + "; ".join(
        f"{'←' if name == 'backward' else '→'} {name} units {a}-{b} have read steps "
        + (f"{t}..{T}, from the end (their previous state is at t + 1)" if name == "backward" else f"1..{t}")
        for name, a, b in ranges
    )
    if not width or len(long) <= width:
        return long
    return " │ ".join(
        f"{'←' if name == 'backward' else '→'} {name} {a}-{b} read "
        + (f"{t}..{T}, previous at t+1" if name == "backward" else f"1..{t}")
        for name, a, b in ranges
    )


def aligned_rows(values, parts: int, rows: int) -> list:
    """``values`` (w,) of ``parts`` direction blocks laid on ``rows`` rows of ``parts`` blocks:
    each direction's values at the top of its block, None below them (a projected h, P a
    direction, beside gates H a direction)."""
    out: list = [None] * rows
    w, block = len(values) // parts, rows // parts
    for d in range(parts):
        out[d * block : d * block + w] = [float(v) for v in values[d * w : (d + 1) * w]]
    return out


def unit_row(trace, q: str, layer: int, i: int) -> int:
    """The unit cursor's position for value i of quantity q: i itself, except for a projected
    LSTM's h (P a direction beside H gates a direction), whose value u of direction d sits
    at d·H + u, where :func:`aligned_rows` puts it."""
    units, w = layer_units(trace, layer), trace.width(q, layer)
    if w == units:
        return i
    D = len(trace.reverse_flags(layer))
    per, block = w // D, units // D
    return (i // per) * block + i % per


def value_index(trace, q: str, layer: int, j: int) -> int:
    """The value of quantity q that the unit cursor j points at: j itself, or for a projected
    LSTM's h the cursor's direction and number within it (clamped to P)."""
    units, w = layer_units(trace, layer), trace.width(q, layer)
    if w == units:
        return j
    D = len(trace.reverse_flags(layer))
    per, block = w // D, units // D
    d = min(j // block, D - 1)
    return d * per + min(j - d * block, per - 1)
