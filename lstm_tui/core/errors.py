"""Errors meant for the user: each message is one line that says what was wrong."""

import numbers
import operator
import unicodedata


class UserError(Exception):
    """Bad input from the user: the CLI prints the message and exits with 2."""


class InputError(UserError, ValueError):
    """Input (text, frames, options) that does not fit the model."""


class ModelFileError(UserError):
    """A weights file that cannot be read as a model: names the file and the key."""


#: The optional extras of pyproject.toml that a hint may name: extra -> the packages it adds.
EXTRAS = {
    "serve": ("textual-serve",),
    "keras": ("h5py",),
    "onnx": ("onnx",),
    "plots": ("textual-plotext",),
    "speed": ("numba", "threadpoolctl"),
    "torch": ("torch",),
}


def install_hint(extra: str) -> str:
    """How to install an optional extra, the one wording every message uses.

    lstm-tui is installed from a clone (the README's ``pip install '.[all]'``),
    so the extra's own name works only in the clone; the packages work anywhere.
    """
    return f"pip install {' '.join(EXTRAS[extra])} (or pip install '.[{extra}]' in a clone of lstm-tui)"


def inert(text: str) -> str:
    """Text for a one-line message: control characters and escapes shown, never obeyed."""
    return text if text.isprintable() else repr(text)[1:-1]


def clip(s: str, n: int = 40) -> str:
    """``s`` shortened to ``n`` characters for a message, control characters shown, never obeyed."""
    s = inert(s)
    return s if len(s) <= n else s[: n - 3] + "..."


#: Digits of the longest whole number read as itself. A longer one is past every range lstm-tui
#: checks (steps, units, layers, token ids, seeds below 2**63); past 4,300 digits, int() refuses it.
MAX_DIGITS = 40


class _TooLong(int):
    """A whole number of more than MAX_DIGITS digits: it compares as ±10**MAX_DIGITS, out of every
    range, and a message shows it as its own text, clipped."""

    def __new__(cls, text: str):
        n = super().__new__(cls, -(10**MAX_DIGITS) if text.startswith("-") else 10**MAX_DIGITS)
        n.text = clip(text)
        return n

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return self.text


def whole_number(text: str) -> int:
    """``int(text)`` at any length. Digits (a sign, blanks around) longer than MAX_DIGITS give a stand-in
    that the caller's range check refuses in its own words (``step 99999...: expected a step from 1 to
    15``), where int() would raise its ValueError past 4,300 digits. Other text is int()'s to refuse."""
    s = text.strip()
    digits = s[1:] if s[:1] in ("+", "-") else s
    if not digits.isdecimal():  # (the digits int() reads: ASCII's, or another script's that a caller took)
        return int(text)
    if not digits.isascii():
        digits = "".join(str(unicodedata.decimal(c)) for c in digits)
    if len(digits.lstrip("0")) > MAX_DIGITS:
        return _TooLong(s)
    n = int(digits.lstrip("0") or "0")  # (leading zeros count towards int()'s limit too)
    return -n if s.startswith("-") else n


# ---------------------------------------------------------------------------
# Arguments of the Python API (the command line's are text, read by whole_number and its callers)


def shown(value) -> str:
    """A value the Python API was given, for a message: its repr (``1.5``, ``'3'``, ``np.float64(2.0)``), clipped."""
    try:
        return clip(repr(value))
    except ValueError:  # an int past 4,300 digits, which repr() refuses
        return f"(a {type(value).__name__} too long to show)"


def _refuse(value, name: str, expected: str):
    bool_ = ", not a bool" if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_") else ""  # NumPy's too
    return InputError(f"{name} {shown(value)}: expected {expected}{bool_}")


def int_argument(value, name: str, expected: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, for an argument that counts (a layer, unit, step, token id, size): an int or a NumPy
    integer (``np.int64(3)``), from ``low`` to ``high`` when given. Anything else (a float, 2.0 too, text,
    None, a bool, an array) is an :class:`InputError` of one line, ``{name} {value}: expected {expected}``."""
    n = None
    if not isinstance(value, bool):  # (NumPy's bool has no __index__)
        try:
            n = operator.index(value)
        except TypeError:
            pass
    if n is None or (low is not None and n < low) or (high is not None and n > high):
        raise _refuse(value, name, expected)
    return value if isinstance(value, int) else n  # (an int subclass kept: whole_number's stand-in shows its text)


def float_argument(value, name: str, expected: str) -> float:
    """``value`` as a float, for an argument that is a number: any real number (an int, a float, a NumPy
    number), never a bool, text, None or an array; refused as :func:`int_argument` says."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise _refuse(value, name, expected)
    try:
        f = float(value)
    except OverflowError:
        f = None
    if f is None or f != value and f in (float("inf"), float("-inf")):  # (NumPy's longdouble 1e4000: inf, quietly)
        raise InputError(f"{name} {shown(value)}: too large for a float (expected {expected})")
    return f
