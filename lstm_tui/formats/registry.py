"""Which reader opens a model file, and how every refusal is worded.

:func:`load_file` reads the first bytes of the file and asks each reader in
``READERS`` (modules of this package, most specific first) whether it takes
the file: ``match(path, head_bytes)`` looks at magic bytes, the suffix and, for
containers of named arrays, the names; it never reads the weights. The first
reader that says yes loads the file into a :class:`~lstm_tui.core.model.Model`.

Every message a reader raises starts with the file's name and is built by the
functions below, so refusals read alike: which file, which layer, node or key,
what option was found and what was expected.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ..core.errors import ModelFileError, inert, install_hint
from ..core.inputs import check_file, read_vocab
from ..core.model import Model
from ..core.pooling import POOLS

#: Readers in the order they are asked; the last takes any container of named arrays.
READERS = ("native", "keras", "onnx", "keras_npz", "pytorch")

#: Readers that need an optional package: (module to import, pip extra, what it reads).
EXTRAS = {
    "keras": ("h5py", "keras", "Keras .keras and .weights.h5 files"),
    "onnx": ("onnx", "onnx", "ONNX graphs"),
}

#: Suffixes each reader owns even when its package is missing (for the install hint).
SUFFIXES = {"keras": (".keras", ".h5", ".hdf5"), "onnx": (".onnx",)}

#: File endings that mark a --model spec as a path rather than a built-in name, and the list every hint
#: and refusal shows (:func:`suffix_list`): every ending a reader owns ends with one of these.
#: (".weights.h5" ends in ".h5"; it is listed because Keras 3 saves weights alone under that ending.)
MODEL_SUFFIXES = (".safetensors", ".npz", ".pt", ".pth", ".keras", ".weights.h5", ".h5", ".hdf5", ".onnx")

#: How many bytes of a file ``match`` sees.
HEAD_BYTES = 64 * 1024

#: How to save PyTorch weights instead of a whole pickled module.
SAVE_STATE_DICT = 'safetensors.torch.save_file(model.state_dict(), "model.safetensors")'


# --- the wording of refusals ------------------------------------------------------


def show(text: str) -> str:
    """A name from a file, made safe for a one-line message (control characters and escapes shown, never obeyed)."""
    return inert(str(text))


def fail(file: str, message: str) -> ModelFileError:
    """The error for ``file`` (its display name) with a one-line ``message``."""
    return ModelFileError(f"{file}: {message}")


def refuse(file: str, where: str, found: str, expected: str) -> ModelFileError:
    """A layer or node option lstm-tui does not run: ``FILE: WHERE: FOUND; expected EXPECTED``."""
    return fail(file, f"{where}: {found}; expected {expected}")


def missing_extra(file: str, reader: str) -> ModelFileError:
    """The install line for a reader whose optional package is missing."""
    module, extra, what = EXTRAS[reader]
    return fail(file, f"{what} are read with {module}, which is not installed: {install_hint(extra)}")


def never_unpickled(file: str, what: str) -> ModelFileError:
    """A whole pickled module or a TorchScript archive: never unpickled, and how to save weights instead."""
    return fail(file, f"{what}, which lstm-tui never unpickles (it can run code); save the weights instead: "
                      f"{SAVE_STATE_DICT}")


# --- picking the reader -------------------------------------------------------------


def suffix_list() -> str:
    """The model files' endings for a hint or a refusal: ".safetensors, .npz, …"."""
    return ", ".join(MODEL_SUFFIXES)


def is_model_path(spec: str | os.PathLike) -> bool:
    """True if ``spec`` names a file: it exists or ends like a model file."""
    return os.path.exists(spec) or str(spec).lower().endswith(MODEL_SUFFIXES)


def _reader(name: str):
    return importlib.import_module(f"{__package__}.{name}")


def pick(path: Path, head: bytes, file: str):
    """The reader module for ``path`` whose first bytes are ``head``, or a refusal naming what was expected."""
    suffix = path.suffix.lower()
    for name in READERS:
        if not (_reader_matches(name, path, head) or suffix in SUFFIXES.get(name, ())):
            continue
        if name in EXTRAS:  # imported only for a file this reader takes: loading a demo never pays for it
            try:
                importlib.import_module(EXTRAS[name][0])
            except ImportError:
                raise missing_extra(file, name) from None
        try:
            return _reader(name)
        except ImportError:  # a reader this copy of lstm-tui does not have
            continue
    raise fail(file, f"unknown file type {suffix or '(none)'!r}: expected {suffix_list()}")


def _reader_matches(name: str, path: Path, head: bytes) -> bool:
    try:
        reader = _reader(name)
    except ImportError:  # a reader not written yet, or one whose package is missing
        return False
    try:
        return bool(reader.match(path, head))
    except Exception:  # a damaged file: let a later reader (or its loader) say so
        return False


def load_file(
    path: str | os.PathLike,
    *,
    prefix: str | None = None,
    vocab_path: str | os.PathLike | None = None,
    head_activations: str | None = None,
    head_pool: str | None = None,
) -> Model:
    """Load a model from a file in any format this package reads (see the README's "Models you can open").

    ``prefix`` picks the recurrent module of a state dict or an ``.npz`` that
    holds several (``"rnn"`` finds ``rnn.weight_ih_l0``). ``vocab_path`` gives
    the vocabulary: one token per line, UTF-8 (or a ``.json`` list, for tokens
    such as a newline); it replaces any vocabulary in the file.
    ``head_activations`` (``"relu"``, ``"relu,tanh"``) are those of a PyTorch
    state dict's hidden head layers, which the file does not keep; ``head_pool``
    (``"max"``, ``"mean"``) says that its head reads the pool of the steps (``core.pooling``).

    Raises :class:`ModelFileError` with one line naming the file, the layer,
    node or key, and what was expected.
    """
    file = check_file(path, "a weights file", ModelFileError, regular=True)
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise fail(file, f"cannot read ({exc.strerror or exc})") from None
    if not head:
        raise fail(file, "is empty")
    reader = pick(path, head, file)
    if head_activations is not None or head_pool is not None:
        said = "--head-activations gives the activations" if head_activations is not None else "--head-pool gives the pool"
        if reader.__name__.rsplit(".", 1)[-1] != "pytorch":
            raise fail(file, f"{said} a PyTorch state dict does not keep; this is "
                             f"not one ({reader.__name__.rsplit('.', 1)[-1]} reads it, which takes none)")
        if head_pool not in (None, *POOLS):
            raise fail(file, f"--head-pool {show(repr(head_pool))}: expected one of {', '.join(POOLS)}")
        from .torch_head import parse_activations

        acts = None if head_activations is None else parse_activations(head_activations)
        return reader.load(path, prefix=prefix, vocab_path=vocab_path, head_activations=acts, head_pool=head_pool or "")
    if getattr(reader, "TAKES_PREFIX", False):
        return reader.load(path, prefix=prefix, vocab_path=vocab_path)
    if prefix is not None:
        raise fail(file, "--prefix picks a module of a state dict or .npz, not a part of this file")
    return reader.load(path, vocab_path=vocab_path)


def vocabulary(vocab_path: str | os.PathLike | None) -> tuple[str, ...] | None:
    """The --vocab file's tokens, or None."""
    return None if vocab_path is None else read_vocab(vocab_path)
