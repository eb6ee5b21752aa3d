"""Reading the user's input files: text, vocabularies and feature frames.

Each reader returns plain Python or NumPy data, or raises a :class:`UserError`
with one line naming the file. Model files are read by ``lstm_tui.formats``.
"""

from __future__ import annotations

import json
import os
import select
import stat
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import InputError, ModelFileError, UserError, inert, shown

#: --inputs longer than this are refused: the trace keeps every step of every gate.
MAX_FRAMES = 100_000
#: The largest text file (--text-file, --vocab) lstm-tui reads.
MAX_TEXT_BYTES = 64 * 1024**2
#: Seconds a pipe given as a text file is waited on for its first bytes.
PIPE_WAIT = 60.0


def dims(shape) -> str:
    """A shape as the messages write it: ``[4, 16]``."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def first_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's text as one inert line of at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return inert(text if len(text) <= limit else text[: limit - 1] + "…")


def _json_int(digits: str) -> int:
    try:
        return int(digits)
    except ValueError:  # past int()'s 4,300 digits
        raise ValueError(f"a whole number of {len(digits.lstrip('-')):,} digits, more than lstm-tui reads") from None


def read_json(text: str | bytes):
    """``json.loads(text)``, with every refusal a ValueError of one line: a json.JSONDecodeError (its
    ``lineno``) for text that is not JSON; a plain ValueError for a whole number past the 4,300 digits
    int() reads (int()'s own ValueError talks of sys.set_int_max_str_digits) or for arrays and objects
    nested too deeply for Python (a RecursionError)."""
    try:
        return json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise ValueError("arrays or objects nested too deeply") from None


def check_file(path: str | os.PathLike, what: str, error: type[UserError], regular: bool = False) -> str:
    """The file's inert display name, after refusing an empty name (Path("") is ".", a folder), a missing
    path, a folder or an impossible name; with ``regular``, anything but a regular file (a pipe waits for
    a writer, a device never ends)."""
    if not os.fspath(path):
        raise error(f"the file name is empty, expected {what}")
    path = Path(path)
    name = inert(str(path))
    try:
        exists, folder = path.exists(), path.is_dir()
        special = regular and exists and not folder and not path.is_file()
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise error(f"{name}: cannot be used ({exc.strerror or exc})") from None
    if not exists:
        raise error(f"{name}: no such file")
    if folder:
        raise error(f"{name}: is a directory, expected {what}")
    if special:
        raise error(f"{name}: is not a regular file (a pipe or a device), expected {what}")
    return name


def _open_text(path: Path, name: str, error: type[UserError]):
    """The file opened for reading. A pipe (``<(command)``, a named FIFO) is waited on for at most
    PIPE_WAIT seconds for its first bytes or its end: one that no program writes to would wait forever."""
    if not stat.S_ISFIFO(path.stat().st_mode):
        return open(path, "rb")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # does not wait for a writer to open it
    if not select.select([fd], [], [], PIPE_WAIT)[0]:
        os.close(fd)
        raise error(f"{name}: a pipe that nothing wrote to in {PIPE_WAIT:g} s")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_text(path: str | os.PathLike, what: str = "a UTF-8 text file", error: type[UserError] = InputError) -> str:
    """A UTF-8 text file's contents, or ``error`` with one line saying why it cannot be read."""
    name = check_file(path, what, error)
    path = Path(path)
    try:
        with _open_text(path, name, error) as fh:
            raw = fh.read(MAX_TEXT_BYTES + 1)
        if len(raw) > MAX_TEXT_BYTES:
            raise error(f"{name}: larger than {MAX_TEXT_BYTES // 1024**2} MB, expected {what}")
        return raw.decode("utf-8-sig")
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{name}: not UTF-8 text (byte {exc.start})") from None


def read_vocab(path: str | os.PathLike) -> tuple[str, ...]:
    """A vocabulary file: one token per line (UTF-8), or if it ends in ``.json`` a JSON list, or an object of
    token -> id (PyTorch's tutorials' ``word_to_ix``) whose ids are 0 to V-1, each once."""
    text = read_text(path, "a vocabulary file", ModelFileError)
    path = Path(path)
    name = inert(str(path))
    if path.suffix.lower() == ".json":
        try:
            tokens = read_json(text)
        except ValueError as exc:
            raise ModelFileError(f"{name}: not a JSON list of tokens ({first_line(exc)})") from None
        if isinstance(tokens, dict):  # {"the": 0, "dog": 1, ...}
            ids = list(tokens.values())
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids) or sorted(ids) != list(range(len(ids))):
                raise ModelFileError(f"{name}: a JSON object of token -> id whose ids are not 0 to {len(ids) - 1}, "
                                     "each once")
            tokens = sorted(tokens, key=tokens.__getitem__)
        return check_vocab(tokens, name)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line break
    lines = [t[:-1] if t.endswith("\r") else t for t in lines]
    for n, tok in enumerate(lines, 1):
        if tok == "":
            raise ModelFileError(
                f"{name}: line {n} is empty; for tokens such as a newline give the vocabulary as a .json list"
            )
    return check_vocab(lines, name)


def check_vocab(tokens, where: str, error: type[UserError] = ModelFileError) -> tuple[str, ...]:
    """``tokens`` as a vocabulary (V,): a non-empty list of distinct strings; ``where`` starts the message."""
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise error(f"{where}: vocabulary is not a list of token strings")
    if not tokens:
        raise error(f"{where}: vocabulary is empty")
    seen: dict[str, int] = {}
    for k, tok in enumerate(tokens):
        if tok in seen:
            raise error(f"{where}: vocabulary repeats the token {tok!r} (ids {seen[tok]} and {k})")
        seen[tok] = k
    return tuple(tokens)


def _starts_with(path: Path, magic: bytes) -> bool:
    """Whether the file's first bytes are ``magic`` (False when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(magic)) == magic
    except OSError:
        return False


def load_frames(path: str | os.PathLike, input_size: int | None = None) -> np.ndarray:
    """Feature frames from a ``.npy`` file: a real array (T, E), finite, 1 <= T <= ``MAX_FRAMES``.

    ``input_size`` checks E. Raises :class:`InputError` with one line naming the file.
    """
    name = check_file(path, "a .npy file", InputError, regular=True)
    path = Path(path)
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            if not _starts_with(path, b"\x93NUMPY"):  # np.load tries pickle on anything without the header
                raise InputError(f"{name}: not a .npy array (no NumPy header): save frames with np.save") from None
            raise InputError(f"{name}: holds Python objects (pickled data), which lstm-tui never loads") from None
        raise InputError(f"{name}: not a valid .npy array ({first_line(exc)})") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or first_line(exc)})") from None
    except Exception as exc:  # EOFError, corrupted headers
        raise InputError(f"{name}: not a valid .npy array ({first_line(exc)})") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise InputError(f"{name}: is an .npz archive, expected one .npy array [T, E] (np.save)")
    want = f"[T, {'E' if input_size is None else input_size}]"
    if x.dtype.kind not in "fiu":
        raise InputError(f"{name}: holds {x.dtype} values, expected real numbers {want}")
    if x.ndim != 2:
        raise InputError(f"{name}: has shape {dims(x.shape)}, expected {want}")
    if input_size is not None and x.shape[1] != input_size:
        raise InputError(f"{name}: has shape {dims(x.shape)}, expected {want} (the model's input size)")
    if x.shape[0] == 0:
        raise InputError(f"{name}: has no frames (shape {dims(x.shape)})")
    if x.shape[0] > MAX_FRAMES:
        raise InputError(f"{name}: has {x.shape[0]} frames, more than the {MAX_FRAMES} lstm-tui traces")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = int(np.argwhere(~np.isfinite(x))[0, 0])
        raise InputError(f"{name}: holds NaN or Inf values (first in frame {bad + 1})")
    return x


def token_list(inputs) -> list[str]:
    """Inputs to ``Model.trace`` given as tokens (any iterable of text, not bytes) as a list; else an
    :class:`InputError` naming what is not text (the API's None, a number, a list of numbers)."""
    if isinstance(inputs, (set, frozenset)):  # {"a", "b"}: its order changes from one Python to the next
        raise InputError(f"inputs: a {type(inputs).__name__} of tokens has no order: expected a list of tokens")
    toks = list(inputs) if isinstance(inputs, Iterable) and not isinstance(inputs, (bytes, bytearray)) else None
    k = None if toks is None else next((k for k, t in enumerate(toks) if not isinstance(t, str)), -1)
    if k == -1:
        return toks
    what = f"inputs {shown(inputs)}" if toks is None else f"inputs: token {k} is {shown(toks[k])}, not text"
    raise InputError(f"{what}: expected text, a list of tokens (each text) or frames, a NumPy array [T, E]")


def _numbers(value, what: str) -> np.ndarray:
    """``value`` as an array of real numbers, or an InputError naming ``what``."""
    try:
        a = np.asarray(value)
    except (ValueError, TypeError):  # ragged lists
        a = None
    if a is None or a.dtype.kind not in "biuf":
        raise InputError(f"{what} {shown(value)}: expected numbers")
    return a


def _in_dtype(a: np.ndarray, dtype, what: str) -> np.ndarray:
    """``a`` in the model's dtype, refused when it holds NaN or ±inf, or numbers too large for that dtype."""
    if not np.isfinite(a).all():
        raise InputError(f"{what} holds NaN or Inf values")
    with np.errstate(over="ignore"):
        x = a.astype(dtype, copy=False)
    if not np.isfinite(x).all():
        raise InputError(f"{what} holds values too large for {np.dtype(dtype).name} (the model's weights are)")
    return x


def initial_states(given, q: str, widths: list[int], dtype, finite: bool = False):
    """The initial state q (h or c) of each level: one vector of ``widths[l]`` numbers per level (a list, or an
    (L, W) array), each in ``dtype``; zeros for None. ``finite``: what :meth:`Model.trace` was given, refused
    with NaN or ±inf, as input frames are (a window of a long run starts from whatever its checkpoint holds)."""
    if given is None:
        return [np.zeros(w, dtype=dtype) for w in widths]
    L = len(widths)
    if isinstance(given, (str, bytes)) or not isinstance(given, Iterable) or getattr(given, "ndim", 1) == 0:
        raise InputError(f"initial {q} {shown(given)}: expected one vector per layer ({L} layer(s))")
    given = list(given)
    if len(given) != L:
        raise InputError(f"initial {q} has {len(given)} layer(s): the model has {L}")
    per = [_numbers(v, f"initial {q} of layer {n}") for n, v in enumerate(given)]
    for n, v in enumerate(per):
        if v.shape != (widths[n],):
            raise InputError(f"initial {q} of layer {n} has shape {v.shape}: expected ({widths[n]},)")
    if not finite:
        return [np.asarray(v, dtype=dtype) for v in per]
    return [_in_dtype(v, dtype, f"initial {q} of layer {n}") for n, v in enumerate(per)]


def head_reads(h, width: int, head: bool, name: str) -> np.ndarray:
    """What :meth:`Model.logits_of` was given: numbers (..., ``width``) for a model with a head."""
    if not head:
        raise InputError(f"model {name!r} has no output head")
    if isinstance(h, np.ndarray) and h.dtype.kind == "f" and h.shape[-1:] == (width,):
        return h  # (the model's own calls)
    a = _numbers(h, "h")
    if a.shape[-1:] != (width,):
        raise InputError(f"h of shape {a.shape}: expected (..., {width}), the last layer's h")
    return a
