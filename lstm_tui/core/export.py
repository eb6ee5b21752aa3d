"""Writing traces to files, atomically and never over a file by surprise."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import UserError
from .trace import Trace


def atomic_write(path: str | os.PathLike, write, *, force: bool = False) -> Path:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it.

    Refuses an existing ``path`` unless ``force``; a failed write leaves any
    old file untouched and no temporary file behind.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a file name")
    if path.exists() and not force:
        raise UserError(f"{path}: already exists (use --force to overwrite)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UserError(f"{path}: cannot write ({exc.strerror})") from None
        raise
    return path


def write_npz(trace: Trace, path: str | os.PathLike, *, force: bool = False, extra: dict | None = None) -> Path:
    """Write ``trace.arrays()`` (plus ``extra`` arrays) as an uncompressed .npz."""
    arrays = trace.arrays()
    arrays["cell"] = np.array(trace.cell)
    arrays.update(extra or {})
    return atomic_write(path, lambda fh: np.savez(fh, **arrays), force=force)
