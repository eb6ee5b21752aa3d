"""The labels of a run's steps, and finding a step by its label.

A long run (:class:`~lstm_tui.core.checkpoint.CheckpointedTrace`) has too many
steps for a string object each: :class:`TokenLabels` keeps one small integer
per step into a table of the vocabulary and the tokens that are not in it, and
reads like the tuple of strings a full trace's ``tokens`` is.
:func:`find_token` finds the next step with a given label in either.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence

import numpy as np


class TokenLabels(Sequence):
    """The labels of a long run's steps without a string object per step.

    Each step's label is ``table[index[k]]`` (the vocabulary, then the tokens
    that are not in it), or the frame number ``str(k + 1)`` without a table.
    Slices give tuples of strings, like a full trace's ``tokens``.
    """

    def __init__(self, table: tuple[str, ...] | None, index: np.ndarray | None, n: int) -> None:
        self._table, self._index, self._n = table, index, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            steps = range(*i.indices(self._n))
            if self._table is None:
                return tuple(str(k + 1) for k in steps)
            ix = self._index[steps.start : steps.stop : steps.step] if steps else self._index[:0]
            return tuple(map(self._table.__getitem__, ix.tolist()))
        k = operator.index(i)
        if k < 0:
            k += self._n
        if not 0 <= k < self._n:
            raise IndexError(i)
        return str(k + 1) if self._table is None else self._table[self._index[k]]

    def __iter__(self) -> Iterator[str]:
        for start in range(0, self._n, 65536):
            yield from self[start : start + 65536]

    def positions(self, label: str) -> np.ndarray:
        """The 0-based steps whose label is ``label``, in order."""
        if self._table is None:
            k = int(label) - 1 if label.isdigit() else -1
            return np.array([k] if 0 <= k < self._n else [], dtype=np.int64)
        hits = [n for n, s in enumerate(self._table) if s == label]
        return np.flatnonzero(np.isin(self._index[: self._n], hits))

    def prefix(self, n: int) -> TokenLabels:
        """The labels of the first n steps (the same table and index)."""
        return TokenLabels(self._table, self._index, n)

    @property
    def indices(self) -> np.ndarray | None:
        """(T,) each step's place in the table (None without a table): what these labels keep in memory."""
        return self._index


def token_labels(tokens: list[str], ids: np.ndarray | None, unknown: np.ndarray, vocab) -> TokenLabels:
    """The labels of a run's steps: ``tokens`` (T,) kept as indices into ``vocab`` and the tokens not in it
    (``ids`` (T,) and ``unknown`` (T,) bool as :meth:`Model.prepare` gives them), or frame numbers without ids."""
    if ids is None:
        return TokenLabels(None, None, len(tokens))
    index = ids.astype(np.int32)  # (T,) into vocab + the unknown tokens
    extra: dict[str, int] = {}
    for p in np.flatnonzero(unknown).tolist():
        index[p] = extra.setdefault(tokens[p], len(vocab) + len(extra))
    return TokenLabels(tuple(vocab) + tuple(extra), index, len(tokens))


def find_token(tokens: tuple[str, ...], token: str, k: int, direction: int, wrap: bool = False) -> int | None:
    """The next step after k (or before, direction -1) whose token is ``token``."""
    T = len(tokens)
    if isinstance(tokens, TokenLabels):  # a long run: look the label up, not every step
        at = tokens.positions(token)
        after, before = at[at > k], at[at < k]
        if direction > 0:
            found = after[:1] if after.size or not wrap else at[:1]
        else:
            found = before[-1:] if before.size or not wrap else at[-1:]
        return int(found[0]) if found.size else None
    order = range(k + 1, T) if direction > 0 else range(k - 1, -1, -1)
    if wrap:
        order = [*order, *(range(0, k + 1) if direction > 0 else range(T - 1, k - 1, -1))]
    return next((n for n in order if tokens[n] == token), None)
