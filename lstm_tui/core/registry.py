"""Finding a model by name or path."""

from __future__ import annotations

from .errors import InputError
from .model import Model, random_model

#: Names that ``load_model`` knows without a file, with one line each.
BUILTIN = {
    "random": "untrained LSTM from --seed and --hidden: the machinery, no meaning",
}

DEFAULT = "random"


def load_model(
    spec: str = DEFAULT,
    *,
    hidden: int = 24,
    seed: int = 0,
    layers: int = 1,
    cell: str = "lstm",
    tokenizer: str = "char",
) -> Model:
    """A model by built-in name (see ``BUILTIN``) or weights file path.

    ``hidden``, ``seed``, ``layers``, ``cell`` and ``tokenizer`` shape the
    ``random`` model.
    """
    if spec == "random":
        return random_model(hidden=hidden, seed=seed, layers=layers, cell=cell, tokenizer=tokenizer)
    raise InputError(f"unknown model {spec!r}: expected one of {', '.join(BUILTIN)} or a weights file")
