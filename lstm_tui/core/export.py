"""Writing traces to files, atomically and never over a file by surprise.

An .npz holds the arrays of :meth:`Trace.arrays` and the cell's name:

- ``i f g o c h`` [layers, T, H] (``r z n h`` for a GRU, ``h`` for an RNN);
  one array ``{q}_l{k}`` [T, width] per layer when the layers' widths differ;
- ``x`` [T, E], the first layer's input at each step;
- ``y`` [T, V], the next-token probabilities (a model with an output head);
- ``tokens`` [T], the steps' labels (str);
- ``ids`` [T], the vocabulary id fed at each step (int64; a token not in the
  vocabulary gets ``<unk>``'s id, or 0); not written for feature-frame input;
- ``unknown`` [T], True where the token is not in the vocabulary;
- ``cell``, the cell's name (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``).

A .json holds the same arrays as lists (with ``cell``, ``steps``, ``layers``
and the widths); a .csv one row per number: step (from 1), token, layer,
quantity, unit, value. :mod:`.stream` writes the same .npz a chunk at a time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import InputError, UserError, inert, shown
from .trace import Trace, trace_argument

#: Most numbers a .csv or .json export writes; past this, .npz is the format that fits.
MAX_TEXT_EXPORT = 20_000_000


def _kind(path: Path, name: str) -> tuple[bool, bool]:
    """(exists, is a folder) of ``path``, or a one-line error for a name the system refuses."""
    try:
        return path.exists(), path.is_dir()
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise UserError(f"{name}: cannot be used ({exc.strerror or exc})") from None


def _mode(path: Path, exists: bool) -> int:
    """The permissions a written file gets: the old file's, else the default for new files (umask)."""
    if exists:
        return path.stat().st_mode & 0o7777
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike, write, *, force: bool = False) -> Path:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it.

    Refuses an existing ``path`` unless ``force``; a failed write leaves any
    old file untouched and no temporary file behind.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path {shown(path)}: expected a file name, a str or a pathlib.Path")
    path = Path(path)
    name = inert(str(path))
    exists, folder_given = _kind(path, name)
    if folder_given:
        raise UserError(f"{name}: is a directory, expected a file name")
    if exists and not force:
        raise UserError(f"{name}: already exists (use --force to overwrite)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{name}: folder {inert(str(folder))} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=folder)
        os.chmod(tmp, _mode(path, exists))
    except OSError as exc:
        raise UserError(f"{name}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UserError(f"{name}: cannot write ({exc.strerror})") from None
        raise
    return path


def write_npz(trace: Trace, path: str | os.PathLike, *, force: bool = False, extra: dict | None = None) -> Path:
    """Write ``trace.arrays()`` (plus ``extra`` arrays) as an uncompressed .npz."""
    trace = trace_argument(trace, "write_npz trace", long_ok=True)
    if not isinstance(force, (bool, np.bool_)):  # ("no" once overwrote the file)
        raise InputError(f"force {shown(force)}: expected True or False")
    if not (extra is None or isinstance(extra, dict)):
        raise InputError(f"extra {shown(extra)}: expected a dict of arrays, or None")
    if isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() in (".csv", ".json"):
        raise InputError(f"{inert(str(path))}: write_npz writes .npz files (write_trace writes .npz, .csv or .json)")
    arrays = trace.arrays()
    arrays["cell"] = np.array(trace.cell)
    arrays.update(extra or {})
    return atomic_write(path, lambda fh: np.savez(fh, **arrays), force=force)


FORMATS = (".npz", ".csv", ".json")


def _long_rows(trace: Trace):
    """(step, token, layer, quantity, unit, value) for every number of the trace, steps 1-based."""
    for k in range(trace.steps):
        tok = trace.tokens[k]
        for layer in range(trace.num_layers):
            for q in trace.quantities:
                for j, v in enumerate(trace.value(q, layer, k).tolist()):
                    yield k + 1, tok, layer, q, j, v
        if trace.has_head:
            for j, v in enumerate(trace.value("y", 0, k).tolist()):
                yield k + 1, tok, "", "y", j, v


def write_csv(trace: Trace, path: str | os.PathLike, *, force: bool = False) -> Path:
    """The trace in long format: one row per number, columns step, token, layer, quantity, unit, value."""

    _check_text_size(trace, path)

    def write(fh):
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="backslashreplace", newline="")
        out = csv.writer(text)
        out.writerow(("step", "token", "layer", "quantity", "unit", "value"))
        out.writerows(_long_rows(trace))
        text.flush()
        text.detach()

    return atomic_write(path, write, force=force)


def write_json(trace: Trace, path: str | os.PathLike, *, force: bool = False) -> Path:
    """The trace as one JSON object: cell, tokens, unknown, and every array as nested lists."""
    _check_text_size(trace, path)
    arrays = trace.arrays()
    doc = {"cell": trace.cell, "steps": trace.steps, "layers": trace.num_layers}
    widths = {q: [trace.width(q, n) for n in range(trace.num_layers)] for q in trace.quantities}
    if len({w for ws in widths.values() for w in ws}) == 1:
        doc["hidden_size"] = widths["h"][0]
    else:  # layers or quantities of different widths: each quantity's width per layer
        doc["widths"] = widths
    doc.update({k: _json_list(v) for k, v in arrays.items()})

    def write(fh):
        fh.write(json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8", "backslashreplace"))

    return atomic_write(path, write, force=force)


def _json_list(a: np.ndarray) -> list:
    """``a`` as nested lists, NaN and ±inf as null: standard JSON has neither (JSON.parse refuses them)."""
    if a.dtype.kind != "f" or np.isfinite(a).all():
        return a.tolist()
    return np.where(np.isfinite(a), a.astype(object), None).tolist()


def _check_text_size(trace: Trace, path) -> None:
    per_step = sum(trace.width(q, n) for n in range(trace.num_layers) for q in trace.quantities)
    if trace.has_head:
        per_step += trace.value("y", 0, 0).shape[0] if trace.steps else 0
    numbers = trace.steps * per_step
    if numbers > MAX_TEXT_EXPORT:
        raise UserError(
            f"{inert(str(path))}: {numbers:,} numbers are too many for a text format "
            f"(at most {MAX_TEXT_EXPORT:,}): export .npz instead"
        )


def write_trace(trace: Trace, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the trace in the format its file name ends with: .npz, .csv or .json."""
    name = inert(str(path))
    if not name.strip():
        raise UserError("the output file's name is empty: expected FILE.npz, FILE.csv or FILE.json")
    if _kind(Path(path), name)[1]:
        raise UserError(f"{name}: is a directory, expected a file name")
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return write_npz(trace, path, force=force)
    if suffix == ".csv":
        return write_csv(trace, path, force=force)
    if suffix == ".json":
        return write_json(trace, path, force=force)
    raise UserError(f"{name}: unknown format {suffix or '(no extension)'!r}, expected one of {', '.join(FORMATS)}")
