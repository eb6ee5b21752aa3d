"""Errors meant for the user: each message is one line that says what was wrong."""


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
