"""Exporting a run of any length chunk by chunk: an .npz file in bounded memory.

A full trace of a million tokens at H = 128 takes about 8 GB. :func:`write_npz_stream`
computes the run a chunk of steps at a time (each chunk from the state the
previous one ended in) and writes each chunk's arrays out before the next
chunk is computed, so memory holds one chunk whatever the length.

The file has the members and bytes :func:`export.write_npz` writes for the
whole trace: the array names, shapes and order are those of
:meth:`Trace.arrays` (taken from the chunks themselves, so the two cannot
drift apart), then ``cell``. An .npz member must be written whole before the
next begins, while a chunk gives a piece of every member at once: the pieces
wait in spool files beside the output (on disk, not in memory) until the
last chunk, and are then copied into the zip member by member.

Models that read the sequence backwards (a bidirectional level, a reverse
layer) cannot be cut into forward chunks; they are traced whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .cells import QUANTITIES
from .checkpoint import bytes_per_step
from .errors import UserError, inert
from .export import MAX_TEXT_EXPORT, atomic_write, write_npz
from .model import Model
from .trace import Trace

CHUNK_BYTES = 32 << 20  # a chunk's full trace takes about this much


def chunk_steps(model: Model) -> int:
    """Steps per chunk: as many as fit in ``CHUNK_BYTES`` of a full trace."""
    return max(1, CHUNK_BYTES // max(bytes_per_step(model), 1))


def chunks(model: Model, tokens, ids, unknown, frames, steps: int) -> Iterator[Trace]:
    """The run over prepared inputs (see :meth:`Model.prepare`) as consecutive
    traces of at most ``steps`` steps, each from the state the one before ended
    in, the first from the model's own initial state (as :meth:`Model.trace`);
    one empty trace for an empty input."""
    T = len(tokens)
    h0, c0 = model.meta.get("h0"), model.meta.get("c0")  # the file's initial state (ONNX initial_h), if any
    laid = model.laid_out()  # the weights laid out once for every chunk
    pool = model.pool_start()  # a pooling head's pool of the steps so far
    for a in range(0, max(T, 1), steps):
        b = min(T, a + steps)
        x = frames[a:b] if frames is not None else model.embedding[ids[a:b]]  # (n, E)
        tr = model.trace_vectors(x, tuple(tokens[a:b]), None if ids is None else ids[a:b], unknown[a:b], h0, c0, laid,
                                 pool)
        if b > a:
            pool = tr.pool_after()
            h0 = [_last(tr, "h", n) for n in range(tr.num_layers)]
            c0 = None if tr.c0 is None else [_last(tr, "c", n) for n in range(tr.num_layers)]
        yield tr


def _last(tr: Trace, q: str, layer: int) -> np.ndarray:
    """Quantity q of ``layer`` after the trace's last step, (W,)."""
    return np.array(tr.states[q][layer][-1])


def time_axis(array: np.ndarray) -> int | None:
    """Which axis of an exported array is time: 1 for [layers, T, width], 0 for
    the others ([T, ...]), None for a scalar (``cell``)."""
    return None if array.ndim == 0 else 1 if array.ndim == 3 else 0


def _pieces(array: np.ndarray) -> list[np.ndarray]:
    """An exported array of a chunk cut where the file's member needs it:
    [layers, n, width] into its layers (each layer's steps are contiguous in the
    file), anything else whole; each C-contiguous."""
    parts = list(array) if time_axis(array) == 1 else [array]
    return [np.ascontiguousarray(p) for p in parts]


def _header(fh, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """The .npy header np.save writes for an array of this dtype and shape (format 1.0, or 2.0 if it must)."""
    fmt = np.lib.format
    d = {"descr": fmt.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    try:
        fmt.write_array_header_1_0(fh, d)
    except ValueError:  # a header past 64 KiB
        fmt.write_array_header_2_0(fh, d)


def check_text_size(model: Model, inputs, path) -> None:
    """Refuse, before tracing, an input whose .csv or .json export would pass
    ``export.MAX_TEXT_EXPORT`` numbers (the message the writers give)."""
    T = len(inputs) if isinstance(inputs, np.ndarray) else len(model.prepare(inputs)[0])
    per_step = sum(sum(model.widths(q)) for q in QUANTITIES[model.cell])
    per_step += 0 if model.head_W is None else model.head_W.shape[0]
    if T * per_step > MAX_TEXT_EXPORT:
        raise UserError(
            f"{inert(str(path))}: {T * per_step:,} numbers are too many for a text format "
            f"(at most {MAX_TEXT_EXPORT:,}): export .npz instead"
        )


def write_npz_stream(
    model: Model, inputs, path: str | os.PathLike, *, force: bool = False, steps: int | None = None
) -> tuple[Path, int]:
    """Trace ``model`` over ``inputs`` (text, tokens or frames) a chunk of ``steps``
    steps at a time (default :func:`chunk_steps`) straight into an .npz at ``path``.

    Writes what ``export.write_npz(model.trace(inputs), path)`` writes, with
    the same refusals (an existing file without ``force``, a missing folder)
    and the same atomic replace. Returns (path, steps traced).
    """
    tokens, ids, unknown, frames = model.prepare(inputs)
    T = len(tokens)
    if model.bidirectional:
        return write_npz(model.trace(inputs), path, force=force), T
    width = max(1, max(map(len, tokens), default=1))  # of the tokens array: its longest token, as np.array(tokens) has
    steps = steps or chunk_steps(model)
    folder = Path(path).parent if str(Path(path).parent) else Path(".")

    def write(fh) -> None:
        with tempfile.TemporaryDirectory(prefix=".lstm-tui-spool.", dir=folder) as spool:
            members: dict[str, tuple[np.dtype, tuple[int, ...], list]] = {}  # name -> dtype, shape, spool files
            try:
                for tr in chunks(model, tokens, ids, unknown, frames, steps):
                    arrays = tr.arrays()
                    arrays["tokens"] = np.array(tr.tokens, dtype=f"<U{width}") if tr.tokens else np.zeros(0, f"<U{width}")
                    for name, a in arrays.items():
                        if name not in members:  # the first chunk sets the member's dtype, shape and spools
                            shape = list(a.shape)
                            shape[time_axis(a)] = T
                            files = [open(Path(spool) / f"{len(members)}.{k}", "wb") for k in range(len(_pieces(a)))]
                            members[name] = (a.dtype, tuple(shape), files)
                        for piece, f in zip(_pieces(a), members[name][2]):
                            if piece.size:
                                f.write(piece.data)
                for _, _, files in members.values():
                    for f in files:
                        f.flush()
                with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                    for name, (dtype, shape, files) in members.items():
                        with zf.open(name + ".npy", "w", force_zip64=True) as out:
                            _header(out, dtype, shape)
                            for f in files:
                                with open(f.name, "rb") as src:
                                    shutil.copyfileobj(src, out, 16 << 20)
                    cell = np.array(model.cell)
                    with zf.open("cell.npy", "w", force_zip64=True) as out:
                        _header(out, cell.dtype, ())
                        out.write(cell.tobytes())
            finally:
                for _, _, files in members.values():
                    for f in files:
                        f.close()

    return atomic_write(path, write, force=force), T
