"""The recomputed windows of a long run that are kept, shared by the threads that read them.

A :class:`Windows` keeps the last few windows a checkpointed trace recomputed
(least recently used first out) and recomputes the others through the
function it was given. The app's main thread, its tracing worker and a
prefetch thread all read it:

- a window that one thread is recomputing to keep is waited for by the
  others, never computed twice;
- :meth:`Windows.prefetch` recomputes windows in a background thread, so that
  a view can start the windows it will need besides the step's own, and have
  them done on the other core while the main thread computes and draws the
  step's (a jump's text then comes coloured in the same frame: see
  ``widgets/history_view.py``); :meth:`Windows.wait` waits for them, for a
  bounded time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .trace import Trace


class Windows:
    """Windows by index: ``get`` from the cache or recomputed by ``compute(w)``; at most ``size`` kept."""

    def __init__(self, compute: Callable[[int], Trace], size: int) -> None:
        self.compute = compute
        self.size = size
        self._kept: OrderedDict[int, Trace] = OrderedDict()
        self._changed = threading.Condition()  # its lock guards every field below; notified when one is done
        self._busy: set[int] = set()  # windows being recomputed to keep
        self._wanted: list[int] = []  # windows the prefetch has still to begin, first first
        self._fetching = False  # whether the prefetch thread runs

    def __len__(self) -> int:
        with self._changed:
            return len(self._kept)

    def values(self) -> list[Trace]:
        with self._changed:
            return list(self._kept.values())

    def clear(self) -> None:
        with self._changed:
            self._kept.clear()

    def cached(self, w: int) -> bool:
        """Whether window w is kept (reading it costs no recompute)."""
        with self._changed:
            return w in self._kept

    def peek(self, w: int) -> Trace | None:
        """Window w if it is kept (then kept longer), else None: never recomputes."""
        with self._changed:
            tr = self._kept.get(w)
            if tr is not None:
                self._kept.move_to_end(w)
            return tr

    def put(self, w: int, tr: Trace) -> None:
        with self._changed:
            self._kept[w] = tr
            self._kept.move_to_end(w)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
            self._changed.notify_all()

    def get(self, w: int, keep: bool = True) -> Trace:
        """Window w, kept or recomputed (and then kept, unless ``keep`` is False); a window
        another thread is recomputing to keep is waited for."""
        with self._changed:
            while w in self._busy:
                self._changed.wait()
            tr = self._kept.get(w)
            if tr is not None:
                self._kept.move_to_end(w)
                return tr
            if keep:
                self._busy.add(w)
        return self._compute_busy(w) if keep else self.compute(w)

    def _compute_busy(self, w: int) -> Trace:
        """Window w computed and kept; the caller marked it busy in the same hold of the lock in
        which it found it neither kept nor busy (so that a wait never sees it in none of the sets)."""
        try:
            tr = self.compute(w)
            self.put(w, tr)
            return tr
        finally:
            with self._changed:
                self._busy.discard(w)
                self._changed.notify_all()

    def prefetch(self, windows: list[int]) -> None:
        """Recompute these windows, in this order, in a background thread; those of an
        earlier prefetch not yet begun are dropped."""
        with self._changed:
            self._wanted = [w for w in windows if w not in self._kept and w not in self._busy]
            if not self._wanted or self._fetching:
                return
            self._fetching = True
        threading.Thread(target=self._fetch, name="lstm-tui-prefetch", daemon=True).start()

    def _fetch(self) -> None:
        while True:
            with self._changed:
                if not self._wanted:
                    self._fetching = False
                    self._changed.notify_all()
                    return
                w = self._wanted.pop(0)
                if w in self._kept or w in self._busy:
                    continue
                self._busy.add(w)
            try:
                self._compute_busy(w)
            except Exception:  # the view that reads the window recomputes it, and says what failed
                pass

    def wait(self, windows: list[int], seconds: float) -> None:
        """Wait up to ``seconds`` for those of these windows that a prefetch or another thread
        is recomputing; those not asked for are not waited for."""
        deadline = time.perf_counter() + seconds

        def done() -> bool:
            return not any(w in self._busy or w in self._wanted for w in windows if w not in self._kept)

        with self._changed:
            while not done():
                left = deadline - time.perf_counter()
                if left <= 0 or not self._changed.wait(left):
                    return
