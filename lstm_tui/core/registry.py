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
    prefix: str | None = None,
    vocab_path: str | None = None,
) -> Model:
    """A model by built-in name (see ``BUILTIN``) or weights file path.

    ``hidden``, ``seed``, ``layers``, ``cell`` and ``tokenizer`` shape the
    ``random`` model; ``prefix`` and ``vocab_path`` go to ``io.load_file``.
    """
    if spec == "random":
        return random_model(hidden=hidden, seed=seed, layers=layers, cell=cell, tokenizer=tokenizer)
    from .io import is_model_path, load_file

    if is_model_path(spec):
        return load_file(spec, prefix=prefix, vocab_path=vocab_path)
    raise InputError(f"unknown model {spec!r}: expected one of {', '.join(BUILTIN)} or a weights file")
