"""Finding a model by name or path."""

from __future__ import annotations

import os
from importlib import resources

from .errors import InputError, clip, shown
from .model import Model, random_model

#: Names that ``load_model`` knows without a file, with one line each.
BUILTIN = {
    "brackets": "LSTM trained on nested brackets: one cell unit counts the depth",
    "charlm": "character LSTM trained on the Zen of Python: y guesses the next letter",
    "copy": "LSTM that remembers a letter across a gap: the forget gate holds it, then lets go",
    "brackets-gru": "GRU trained on the brackets data: h holds the depth, spread over its units",
    "brackets-rnn": "tanh RNN trained on the brackets data: it learns local statistics, not the depth count",
    "copy-gru": "GRU trained on the copy task: one unit's h holds the letter, its update gate z near 1",
    "copy-rnn": "tanh RNN trained on the copy task: one unit's h holds the letter in a fixed point",
    "random": "untrained LSTM from --seed and --hidden: the machinery, no meaning",
}

#: The trained demos shipped as ``lstm_tui/demos/{name}.safetensors`` (made by scripts/train_demos.py).
DEMOS = ("brackets", "charlm", "copy", "brackets-gru", "brackets-rnn", "copy-gru", "copy-rnn")

#: Each task's demos by cell: the gradient compare runs the other cells of a model's task trained.
TASKS = {
    "brackets": {"lstm": "brackets", "gru": "brackets-gru", "rnn_tanh": "brackets-rnn"},
    "copy": {"lstm": "copy", "gru": "copy-gru", "rnn_tanh": "copy-rnn"},
}

DEFAULT = "brackets"


def is_builtin(name: str) -> bool:
    """Whether ``name`` is a built-in model rather than a file path."""
    return name in BUILTIN


def task_of(model: Model) -> str | None:
    """The demo task (a key of ``TASKS``) a model was trained on: its metadata ``task``, or a task's own
    name (the LSTM demos); None for any other model."""
    task = model.meta.get("task") or model.name
    return task if task in TASKS else None


def load_demo(name: str) -> Model:
    """A shipped demo model by name (see ``DEMOS``), read from the package's data."""
    from ..formats import load_file

    if name not in DEMOS:
        raise InputError(f"unknown demo {name!r}: expected one of {', '.join(DEMOS)}")
    res = resources.files("lstm_tui").joinpath(f"demos/{name}.safetensors")
    with resources.as_file(res) as path:
        return load_file(path)


def load_model(
    spec: str | None = None,
    *,
    hidden: int | None = None,
    seed: int | None = None,
    layers: int | None = None,
    cell: str | None = None,
    tokenizer: str | None = None,
    prefix: str | None = None,
    vocab_path: str | None = None,
    head_activations: str | None = None,
    head_pool: str | None = None,
) -> Model:
    """A model by built-in name (see ``BUILTIN``) or weights file path.

    ``hidden`` (24), ``seed`` (0), ``layers`` (1), ``cell`` ("lstm") and ``tokenizer``
    ("char") shape the ``random`` model; ``prefix``, ``vocab_path``, ``head_activations`` and ``head_pool`` go to
    ``formats.load_file``. Without ``spec``, as on the command line: ``DEFAULT``,
    or the random model if ``hidden`` or ``seed`` is given. Either kind of option given for
    another kind of model is refused (as the command line does), never ignored.
    """
    if spec is None:
        spec = "random" if hidden is not None or seed is not None else DEFAULT
    path = os.fspath(spec) if isinstance(spec, os.PathLike) else spec  # a path as a pathlib.Path
    if not isinstance(path, str):
        raise InputError(f"model {shown(spec)}: expected a built-in model's name or a weights file's path")
    spec = path
    for name, v, kinds in (("prefix", prefix, str), ("vocab_path", vocab_path, (str, os.PathLike)),
                           ("head_activations", head_activations, str), ("head_pool", head_pool, str)):
        if not (v is None or isinstance(v, kinds)):
            what = "a file's path" if name == "vocab_path" else "text, as the command line's option takes"
            raise InputError(f"{name} {shown(v)}: expected {what}, or None")
    from ..formats import is_model_path, load_file
    from ..formats.registry import suffix_list

    files = {"prefix": prefix, "vocab_path": vocab_path, "head_activations": head_activations, "head_pool": head_pool}
    randoms = {"hidden": hidden, "seed": seed, "layers": layers, "cell": cell, "tokenizer": tokenizer}
    for kind, options, fits in (("a weights file", files, is_model_path(spec)), ("the random model", randoms,
                                                                                 spec == "random")):
        given = [name for name, v in options.items() if v is not None]
        if given and not fits:
            raise InputError(f"{', '.join(given)}: only for {kind}, not for model {clip(spec)!r}")
    if spec == "random":
        return random_model(hidden=24 if hidden is None else hidden, seed=0 if seed is None else seed,
                            layers=1 if layers is None else layers, cell="lstm" if cell is None else cell,
                            tokenizer="char" if tokenizer is None else tokenizer)
    if spec in DEMOS:
        return load_demo(spec)
    if is_model_path(spec):
        return load_file(spec, prefix=prefix, vocab_path=vocab_path, head_activations=head_activations,
                         head_pool=head_pool)
    if "/" in spec or "\\" in spec:  # a path, not a name: say what is wrong with it
        raise InputError(f"{spec}: no such file (and not a model file's name: {suffix_list()})")
    raise InputError(f"unknown model {clip(spec)!r}: expected one of {', '.join(BUILTIN)} or a weights file")
