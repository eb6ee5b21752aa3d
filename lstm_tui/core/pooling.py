"""A pooling head: the head reads the max or the mean of the last level's h over the steps so far.

Keras's ``GlobalMaxPooling1D`` / ``GlobalAveragePooling1D`` (PyTorch's ``out.max(1)`` /
``out.mean(1)``) pool every position of a text into one vector before the head. Stepping,
the head at position t reads the pool of positions 0..t: for a model that reads forwards,
exactly the model's output for the text up to t; at the last position, its output for the
whole text. The pool is carried from one chunk or window of a long run to the next as
:class:`Pool`, the pooled row so far and how many steps it pooled, as h and c are.
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
    """The pool before some step: ``kind`` "max" or "mean", ``row`` (W,) the pool of the
    ``count`` steps before (None when there were none)."""

    kind: str
    row: np.ndarray | None = None
    count: int = 0

    def rows(self, h: np.ndarray) -> np.ndarray:
        """The pooled row at each of the next steps, whose last level's h is ``h`` (T, W): (T, W)."""
        if self.kind == "max":
            out = np.maximum.accumulate(h, axis=0)
            return out if self.row is None else np.maximum(out, self.row)
        total = np.cumsum(h, axis=0, dtype=np.float64)  # a float64 sum: a long run loses no steps
        if self.row is not None:
            total += self.row.astype(np.float64) * self.count
        return (total / (self.count + np.arange(1, len(h) + 1))[:, None]).astype(h.dtype)

    def after(self, h: np.ndarray) -> Pool:
        """The pool after the next steps, whose last level's h is ``h`` (T, W)."""
        if not len(h):
            return self
        return Pool(self.kind, self.rows(h)[-1].copy(), self.count + len(h))

    def backward(self, h: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """dL/dh (T, W) of the next steps' h, given dL/d of each step's pooled row ``grad`` (T, W).

        A mean passes each row's gradient to every step it averaged, divided by their
        number; a max to the step that holds the maximum (the first, if several do), or to
        none of these steps when the maximum came before them."""
        T = len(h)
        if self.kind == "mean":
            share = grad / (self.count + np.arange(1, T + 1))[:, None]
            return np.cumsum(share[::-1], axis=0)[::-1].astype(grad.dtype)
        pooled = self.rows(h)
        before = np.full_like(h[:1], -np.inf) if self.row is None else self.row[None].astype(h.dtype)
        new = h > np.concatenate([before, pooled[:-1]])  # the step at which each row's maximum arrived
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
        self.start, self.run = start, start.rows(h)  # the run's pooled row at each step
        self.total = np.empty((R, h.shape[1]), dtype=np.float64)  # each copy's max, or sum of its steps so far

    def join(self, rows: np.ndarray, t: int) -> None:
        """Copies ``rows`` start at step t from the run's pool before it."""
        p = self.start
        before = self.run[t - 1] if t else p.row
        if before is None:
            self.total[rows] = -np.inf if p.kind == "max" else 0.0
        else:
            self.total[rows] = before if p.kind == "max" else before * (p.count + t)  # a mean's sum

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
            return self.total.astype(self.run.dtype)
        return (self.total / (self.start.count + k + 1)).astype(self.run.dtype)
