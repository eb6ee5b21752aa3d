"""What a patch is, and how it is written: the :class:`Patch` record and the ``[L<n>:]Q[J]=V@S`` text.

A :class:`Patch` sets one quantity of one stack level, for one unit or all,
at some steps, to a number or to ``"src"`` (see :mod:`.interventions`, which
runs patches). :func:`parse_patch_text` reads the command line's form exactly
as its contract says; :func:`parse_patch` checks it against a model and an
input length; :func:`prompt_patch` reads the app's shorter prompt. Every
refusal is a :class:`PatchSyntaxError` with the column of the bad character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import islice
from dataclasses import dataclass

from .cells import QUANTITIES
from .errors import InputError, clip, float_argument, inert, int_argument, shown, whole_number
from .model import Model, level_width


@dataclass(frozen=True)
class Patch:
    """One intervention. ``steps`` may be given as an int or any iterable of ints;
    it is kept as a tuple of sorted 0-based steps. Whole numbers may be NumPy's
    (``np.int64(3)``); a float, a bool, text or None where one is meant is an
    :class:`InputError` naming the field (ranges are :func:`.interventions.intervene`'s to check)."""

    layer: int  # stack level, 0-based
    quantity: str  # "i" "f" "g" "o" "c" "h" (LSTM), "r" "z" "n" "h" (GRU), "h" (RNN)
    unit: int | None  # 0-based unit of the level (a bidirectional level: forward units first); None: all units
    steps: tuple[int, ...]  # 0-based steps (positions) the patch holds at
    value: float | str  # the number to set, or "src": the same quantity, position and unit of the source run

    def __post_init__(self):
        # the Python API's arguments, each refused in one line naming it (ranges need the model: intervene checks them)
        layer = int_argument(self.layer, "patch layer", "a 0-based layer (a whole number)")
        if not isinstance(self.quantity, str):
            raise InputError(f"patch quantity {shown(self.quantity)}: expected a quantity's name, as 'c' or 'h'")
        unit = None if self.unit is None else int_argument(self.unit, "patch unit", _UNIT)
        steps = self.steps
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Iterable) or getattr(steps, "ndim", None) == 0:
            steps = (steps,)  # one step (or not a step, refused below)
        steps = list(islice(steps, MAX_PATCH_STEPS + 1))  # (range(10**12) or itertools.count(): never made whole)
        if len(steps) > MAX_PATCH_STEPS:
            raise InputError(f"patch steps: more than {MAX_PATCH_STEPS:,}, longer than any "
                             "trace intervene patches: expected the steps of one")
        steps = tuple(sorted({int_argument(k, "patch steps", _STEPS) for k in steps}))
        for name, v in (("layer", layer), ("unit", unit), ("steps", steps), ("value", patch_value(self.value))):
            object.__setattr__(self, name, v)

    def __str__(self) -> str:
        """The command line's form, 1-based: ``L1:c[3]=0.0@5-7`` (steps that are not
        one range are listed with commas, which only the Python API takes)."""
        unit = "*" if self.unit is None else str(self.unit)
        return f"L{self.layer + 1}:{self.quantity}[{unit}]={self.value}@{_steps_text(self.steps)}"


#: The most steps a patch holds: a trace this long (full, as intervene takes it) would take gigabytes at any size.
MAX_PATCH_STEPS = 10_000_000
_UNIT = "a 0-based unit (a whole number), or None for all units"
_STEPS = "a 0-based step (a whole number), or an iterable of them (a list, a range)"


def patch_value(value, name: str = "patch value") -> float | str:
    """A patch's value as the Python API takes it: ``"src"``, or a number (as a float)."""
    return value if isinstance(value, str) and value == "src" else float_argument(value, name, "a number or 'src'")


def patch_list(patches, name: str = "patches") -> list[Patch]:
    """The patches an API call was given, as a list: an iterable of :class:`Patch` (a lone patch is refused)."""
    if isinstance(patches, (Patch, str, bytes)) or not isinstance(patches, Iterable):
        lone = " (put a lone patch in a list: [patch])" if isinstance(patches, Patch) else ""
        raise InputError(f"{name}: expected a list of Patch, not {type(patches).__name__}{lone}")
    patches = list(patches)
    for p in patches:
        if not isinstance(p, Patch):
            raise InputError(f"{name}: {shown(p)} is not a Patch: expected a list of Patch")
    return patches


def _steps_text(steps: tuple[int, ...]) -> str:
    if len(steps) == 1:
        return str(steps[0] + 1)
    if steps and steps[-1] - steps[0] + 1 == len(steps):
        return f"{steps[0] + 1}-{steps[-1] + 1}"
    return ",".join(str(k + 1) for k in steps)


# ---------------------------------------------------------------------------
# The command line's form of a patch: [L<n>:]Q[J]=V@S


class PatchSyntaxError(InputError):
    """A ``--set`` that does not parse or does not fit the model: one line
    ``--set "TEXT": column N: reason``, N counted from 1 as ``syntax.ExpressionError``
    counts it, in TEXT as the line shows it (a control character written out takes
    its escape's columns; a TEXT past 60 characters is clipped, N still counts in it
    all). ``column`` is the bad character's 0-based column in the text, and
    :meth:`caret` draws text and caret for a UI."""

    def __init__(self, option: str, text: str, column: int, reason: str):
        shown = len(inert(text[:column]))
        super().__init__(f'{option} "{clip(text, 60)}": column {shown + 1}: {reason}')
        self.option, self.text, self.column, self.reason = option, text, column, reason

    def caret(self) -> str:
        """Two lines for a UI: the text, and a caret under the offending column."""
        line = "".join(ch if ch.isprintable() else " " for ch in self.text)
        return f"{line}\n{' ' * self.column}^"


#: A number as --set takes it: decimal, optional exponent, or inf / nan.
#: ASCII digits only (re's \d and Python's int() read other scripts' digits, which other tools do not).
NUMBER = re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE | re.ASCII)
_INT = re.compile(r"\d+", re.ASCII)
_SIGNED = re.compile(r"[+-]?\d+", re.ASCII)  # a layer or unit: a negative one is named with the range
_NAME = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class PatchText:
    """A parsed ``[L<n>:]Q[J]=V@S`` before it is checked against a model:
    numbers as written (layer and steps 1-based), each part's column kept for messages."""

    text: str
    layer: int  # 1-based, 1 when not given
    quantity: str
    unit: int | None  # None for *
    first: int | None  # 1-based first step, None for *
    last: int | None  # 1-based last step, None for *
    value: float | str
    columns: dict  # part -> column: "layer", "quantity", "unit", "value", "steps"


def unknown_quantity(q: str, cell: str) -> str | None:
    """Why ``q`` is not a quantity a ``cell`` records (None when it is)."""
    valid = QUANTITIES[cell]
    return None if q in valid else f"quantity {q!r} is not one of this {cell}'s: expected one of {' '.join(valid)}"


def parse_patch_text(text: str, option: str = "--set") -> PatchText:
    """Parse ``[L<n>:]Q[J]=V@S`` exactly as the command line contract says:
    layer n from 1 (default 1); J a unit from 0 or ``*``; V a number or ``src``;
    S a step from 1, ``A-B`` or ``*``. Whitespace between the parts is allowed.
    Raises :class:`PatchSyntaxError` with the column of the first bad character."""
    pos = 0
    cols: dict = {}

    def skip():
        nonlocal pos
        while pos < len(text) and text[pos] in " \t":
            pos += 1

    def fail(reason, at=None):
        raise PatchSyntaxError(option, text, pos if at is None else at, reason)

    def expect(ch, reason):
        nonlocal pos
        skip()
        if not text.startswith(ch, pos):
            fail(reason)
        pos += 1

    def integer(reason, pattern=_INT):
        nonlocal pos
        skip()
        m = pattern.match(text, pos)
        if not m:
            fail(reason)
        pos = m.end()
        return whole_number(m.group())  # a number too long for int() is out of range

    skip()
    layer = 1
    if re.match(r"L\s*[+-]?[0-9]", text[pos:]):
        pos += 1
        skip()
        cols["layer"] = pos
        layer = integer("expected the layer number after L", _SIGNED)
        expect(":", "expected : after the layer number, as in L2:c[0]=0@3")
    skip()
    cols["quantity"] = pos
    m = _NAME.match(text, pos)
    if not m:
        fail("expected [L<n>:] then a quantity name, as in L1:c[0]=0@3")
    quantity = m.group()
    pos = m.end()
    if text[pos : pos + 1] == ":" and quantity.startswith("L"):
        fail("expected a layer number after L, as in L2:", at=cols["quantity"] + 1)
    expect("[", f"expected [J] after the quantity {quantity}: a unit from 0, or *")
    skip()
    cols["unit"] = pos
    if text.startswith("*", pos):
        unit = None
        pos += 1
    else:
        unit = integer("expected a unit (a whole number from 0) or * inside [ ]", _SIGNED)
    expect("]", "expected ] after the unit")
    expect("=", "expected = and a value after the unit")
    skip()
    cols["value"] = pos
    if text.startswith("src", pos) and not _NAME.match(text, pos + 3) and not text[pos + 3 : pos + 4].isdigit():
        value: float | str = "src"
        pos += 3
    else:
        m = NUMBER.match(text, pos)
        if not m:
            fail("expected a value: a number or src")
        value = float(m.group())
        pos = m.end()
    expect("@", "expected @ and the steps after the value")
    skip()
    cols["steps"] = pos
    if text.startswith("*", pos):
        first = last = None
        pos += 1
    else:
        first = integer("expected steps: S, A-B (from 1) or *")
        last = first
        skip()
        if text.startswith("-", pos):
            pos += 1
            last = integer("expected the last step of the range A-B")
            if last < first:
                fail(f"the range {first}-{last} is empty: expected A-B with A ≤ B", at=cols["steps"])
    skip()
    if pos != len(text):
        fail("unexpected text after the steps")
    return PatchText(text, layer, quantity, unit, first, last, value, cols)


def parse_patch(text: str, model: Model, steps: int, source_steps: int | None = None, option: str = "--set") -> Patch:
    """A ``--set`` text as a :class:`Patch` for ``model`` on an input of ``steps`` steps
    (and a source of ``source_steps``, None without a source). Everything out of range
    is named with its valid range; raises :class:`PatchSyntaxError`."""
    p = parse_patch_text(text, option)

    def fail(part, reason):
        raise PatchSyntaxError(option, text, p.columns.get(part, 0), reason)

    L = model.num_layers
    if not 1 <= p.layer <= L:
        fail("layer", f"layer {p.layer} out of range: expected a layer from 1 to {L}")
    if why := unknown_quantity(p.quantity, model.cell):
        fail("quantity", why)
    W = level_width(model.layers[p.layer - 1], p.quantity)
    if p.unit is not None and not 0 <= p.unit < W:
        fail("unit", f"unit {p.unit} out of range: {p.quantity} of layer {p.layer} has units 0 to {W - 1} (or *)")
    if steps == 0:
        fail("steps", "the input has no steps to patch")
    first, last = (1, steps) if p.first is None else (p.first, p.last)
    for k in (first, last):
        if not 1 <= k <= steps:
            fail("steps", f"step {k} out of range: expected a step from 1 to {steps} (or *)")
    if p.value == "src":
        if source_steps is None:
            fail("value", "src needs a source input: give --source-text or --source-inputs (in the app: I)")
        if last > source_steps:
            fail("value", f"src at step {last} is past the source's length ({source_steps} steps)")
    return Patch(p.layer - 1, p.quantity, p.unit, range(first - 1, last), p.value)


def prompt_patch(
    text: str,
    model: Model,
    layer: int,
    quantity: str,
    unit: int | None,
    k: int,
    steps: int,
    source_steps: int | None = None,
) -> Patch:
    """The app's prompt: ``V`` (a number or src) for the selected unit at the current
    0-based step k, or ``V@S`` with S as on the command line (``S``, ``A-B``, ``*``,
    from 1) for other steps. Raises :class:`PatchSyntaxError` (option ``value``)."""
    value = text.strip()
    if "@" not in value:
        value += f"@{k + 1}"
    head = f"L{layer + 1}:{quantity}[{'*' if unit is None else unit}]="
    try:
        return parse_patch(head + value, model, steps, source_steps, option="value")
    except PatchSyntaxError as exc:
        lead = len(text) - len(text.lstrip())
        column = min(len(text), max(0, exc.column - len(head)) + lead)
        raise PatchSyntaxError("value", text, column, exc.reason) from None
