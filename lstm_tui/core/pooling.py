"""A pooling head: the head reads the max or the mean of the last level's h over the steps so far.

Keras's ``GlobalMaxPooling1D`` / ``GlobalAveragePooling1D`` (PyTorch's ``out.max(1)`` /
``out.mean(1)``) pool every position of a text into one vector before the head. Stepping,
the head at position t reads the pool of positions 0..t: for a model that reads forwards,
exactly the model's output for the text up to t; at the last position, its output for the
whole text. The pool is carried from one chunk or window of a long run to the next as
:class:`Pool` (the running maximum or sum in float64, and how many steps it holds), as h and
c are: ``Trace.pool`` is the pool before a trace's first step, ``Trace.pool_after()`` after its last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POOLS = ("max", "mean")


def backward_note(kind: str, where: str) -> str:
    """A reader's note for a pooling head over a model with a backward direction."""
    return (f"{where}: the model's output is the head on the {kind} of every position's h; lstm-tui's y at step t "
            f"is the head on the {kind} of positions 1..t (the model's output at the last step), whose backward "
            "units have read the text after t as well")


@dataclass(frozen=True)
class Pool:
    """The pool before some step: ``kind`` "max" or "mean", ``total`` (W,) in float64 the maximum or the
    sum of the ``count`` steps before (None when there were none), so that a pool carried from chunk to
    chunk loses nothing to rounding."""

    kind: str
    total: np.ndarray | None = None
    count: int = 0

    def totals(self, h: np.ndarray) -> np.ndarray:
        """The running maximum or sum (T, W), in float64, at each of the next steps, whose h is ``h`` (T, W)."""
        if self.kind == "max":
            out = np.maximum.accumulate(h.astype(np.float64), axis=0)
            return out if self.total is None else np.maximum(out, self.total)
        out = np.cumsum(h, axis=0, dtype=np.float64)
        return out if self.total is None else out + self.total

    def rows(self, h: np.ndarray) -> np.ndarray:
        """The pooled row at each of the next steps, whose last level's h is ``h`` (T, W): (T, W) in h's dtype."""
        out = self.totals(h)
        if self.kind == "mean":
            out /= (self.count + np.arange(1, len(h) + 1))[:, None]
        return out.astype(h.dtype)

    def after(self, h: np.ndarray) -> Pool:
        """The pool after the next steps, whose last level's h is ``h`` (T, W)."""
        if not len(h):
            return self
        step = h.max(axis=0).astype(np.float64) if self.kind == "max" else h.sum(axis=0, dtype=np.float64)
        if self.total is not None:
            step = np.maximum(step, self.total) if self.kind == "max" else step + self.total
        return Pool(self.kind, step, self.count + len(h))

    def backward(self, h: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """dL/dh (T, W) of the next steps' h, given dL/d of each step's pooled row ``grad`` (T, W).

        A mean passes each row's gradient to every step it averaged, divided by their
        number; a max to the step that holds the maximum (the first, if several do, as
        ``torch.max`` does; TensorFlow's ``reduce_max`` would share it among them), or to
        none of these steps when the maximum came before them. A NaN is a maximum from the
        step it appears."""
        T = len(h)
        if self.kind == "mean":
            share = grad / (self.count + np.arange(1, T + 1))[:, None]
            return np.cumsum(share[::-1], axis=0)[::-1].astype(grad.dtype)
        running = self.totals(h)
        before = np.full((1, h.shape[1]), -np.inf) if self.total is None else self.total[None]
        prev = np.concatenate([before, running[:-1]])
        new = (h > prev) | (np.isnan(h) & ~np.isnan(prev))  # the step at which each row's maximum arrived
        at = np.maximum.accumulate(np.where(new, np.arange(T)[:, None], -1), axis=0)  # (T, W), -1: before
        dh = np.zeros_like(grad)
        t, j = np.nonzero(at >= 0)
        np.add.at(dh, (at[t, j], j), grad[t, j])
        return dh


class Copies:
    """The pools of R copies of a run (the effect map's patched copies), each joining the run at its own
    step from the run's pool there, then pooling its own h."""

    def __init__(self, start: Pool, h: np.ndarray, R: int):
        """``start`` the run's pool before its step 0, ``h`` (T, W) its last level's h."""
        self.start, self.dtype = start, h.dtype
        self.run = start.totals(h)  # the run's running maximum or sum at each step, float64
        self.total = np.empty((R, h.shape[1]), dtype=np.float64)  # each copy's

    def join(self, rows: np.ndarray, t: int) -> None:
        """Copies ``rows`` start at step t from the run's pool before it."""
        before = self.run[t - 1] if t else self.start.total
        if before is None:
            self.total[rows] = -np.inf if self.start.kind == "max" else 0.0
        else:
            self.total[rows] = before

    def step(self, h: np.ndarray) -> None:
        """The running copies' (the first len(h)) last-level h at their next step, pooled in."""
        part = self.total[: len(h)]
        if self.start.kind == "max":
            np.maximum(part, h, out=part)
        else:
            part += h

    def rows(self, k: int) -> np.ndarray:
        """Each copy's pooled row at step k, after its step k."""
        if self.start.kind == "max":
            return self.total.astype(self.dtype)
        return (self.total / (self.start.count + k + 1)).astype(self.dtype)
