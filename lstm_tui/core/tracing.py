"""Which kind of trace a run gets, and computing it a chunk at a time.

:func:`trace` keeps the plain full :class:`~lstm_tui.core.trace.Trace` when it
would take at most ``FULL_TRACE_BYTES``, else a
:class:`~lstm_tui.core.checkpoint.CheckpointedTrace`. A model with a direction
that reads backwards is always traced whole (see :mod:`.checkpoint`), up to
``REVERSE_TRACE_BYTES``; a longer input is refused in one line.

:class:`TraceBuilder` computes either kind a chunk at a time, for a worker
thread that shows the steps computed so far while it runs.
"""

from __future__ import annotations

import time

import numpy as np

from .cells import QUANTITIES
from .checkpoint import WINDOW_SECONDS, CheckpointedTrace, Store, full_trace_bytes, step_seconds
from .errors import InputError
from .model import Model
from .trace import Trace

FULL_TRACE_BYTES = 256 << 20  # a trace larger than this is checkpointed
REVERSE_TRACE_BYTES = 1 << 30  # the longest full trace of a model that reads backwards (never checkpointed)


def trace(model: Model, inputs, limit: int = FULL_TRACE_BYTES, window: int | None = None) -> Trace | CheckpointedTrace:
    """A full :class:`Trace` when it takes at most ``limit`` bytes, else a :class:`CheckpointedTrace`."""
    return TraceBuilder(model, inputs, limit, window).run()


def _start(zeros, given):
    """Per-layer initial states: the file's own (``Model.meta["h0"]``/``["c0"]``, per level) or the zeros."""
    if given is not None:
        for n, v in enumerate(given):
            zeros[n][...] = v
    return zeros


class TraceBuilder:
    """Computes a trace a chunk at a time: for a worker thread that shows the steps done so far.

    ``advance`` computes about ``seconds`` of steps; ``snapshot`` is the trace
    of the steps done (a full :class:`Trace` of a prefix, or a
    :class:`CheckpointedTrace` read up to them); when ``complete`` it is the
    whole trace. Full traces are computed in chunks into arrays of their final
    size; long ones (above ``limit`` bytes) window by window.
    """

    def __init__(self, model: Model, inputs, limit: int = FULL_TRACE_BYTES, window: int | None = None) -> None:
        tokens, ids, unknown, frames = model.prepare(inputs)
        self.model = model
        self.total = T = len(tokens)
        self.done = 0
        self._per_step = step_seconds(model)
        self._store: Store | None = None
        self._full: Trace | None = None
        self._laid = None  # a full trace's chunks: the weights laid out once (the store keeps its own)
        size = full_trace_bytes(model, T)
        if model.bidirectional:
            if size > REVERSE_TRACE_BYTES:
                raise InputError(
                    f"model {model.name!r} reads the sequence backwards, so it is traced whole: "
                    f"{T:,} steps would take {size / 2**30:.1f} GB (at most {REVERSE_TRACE_BYTES / 2**30:.0f} GB); "
                    "give a shorter input"
                )
        elif size > limit:
            self._store = Store(model, tokens, ids, unknown, frames, window)
            return
        L, dt = model.num_layers, model.dtype
        V = None if model.head_W is None else model.head_W.shape[0]

        def per_layer(q: str, steps: bool = True):
            shape = [(T, model.width(q, n)) if steps else (model.width(q, n),) for n in range(L)]
            if model.uniform:
                return np.zeros((L, *shape[0]), dtype=dt)
            return [np.zeros(s, dtype=dt) for s in shape]

        self._full = Trace(
            cell=model.cell,
            tokens=tuple(tokens),
            unknown=unknown,
            ids=ids,
            x=frames if frames is not None else model.embedding[ids],
            states={q: per_layer(q) for q in QUANTITIES[model.cell]},
            xW=per_layer("xW"),
            hW=per_layer("hW"),
            h0=_start(per_layer("h", steps=False), model.meta.get("h0")),
            c0=_start(per_layer("c", steps=False), model.meta.get("c0")) if model.cell == "lstm" else None,
            logits=None if V is None else np.zeros((T, V), dtype=dt),
            y=None if V is None else np.zeros((T, V), dtype=dt),
            directions=model.direction_flags,
            pool=model.pool_start(),
        )
        self._pool = model.pool_start()  # a pooling head's pool of the steps done

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @property
    def checkpointed(self) -> bool:
        return self._store is not None

    def advance(self, seconds: float = 0.05, max_steps: int | None = None) -> None:
        """Compute about ``seconds`` worth of the next steps (at least one step, or one
        window of a long trace), and no more than ``max_steps`` (whole windows, for a long one)."""
        if self.complete:
            return
        t0 = time.perf_counter()
        if self._store is not None:
            start = self.done
            while True:
                self._store.forward()
                self.done = self._store.steps_done
                if self.complete or time.perf_counter() - t0 >= seconds or self.done - start >= (max_steps or self.total):
                    return
        # The first chunk is short, so that a worker can show step 1 soon.
        n = max(1, int((seconds if self.done else min(seconds, WINDOW_SECONDS)) / self._per_step))
        n = min(n, max_steps or n)
        if self.model.bidirectional:
            n = self.total  # a backward direction needs every later step: one chunk

        a, b = self.done, min(self.total, self.done + n)
        full = self._full
        if self._laid is None:
            self._laid = self.model.laid_out()
        chunk = self.model.trace_vectors(
            full.x[a:b], full.tokens[a:b], None if full.ids is None else full.ids[a:b], full.unknown[a:b],
            full.h0 if a == 0 else _state(full, "h", a),
            full.c0 if a == 0 or full.c0 is None else _state(full, "c", a),
            self._laid,
            self._pool,
        )
        self._pool = chunk.pool_after()
        for n in range(full.num_layers):
            for q, v in chunk.states.items():
                full.states[q][n][a:b] = v[n]
            full.xW[n][a:b], full.hW[n][a:b] = chunk.xW[n], chunk.hW[n]
        if chunk.y is not None:
            full.logits[a:b], full.y[a:b] = chunk.logits, chunk.y
        self.done = b
        # Measured, so the next chunk takes about ``seconds``.
        self._per_step = max((time.perf_counter() - t0) / (b - a), 1e-7)

    @property
    def fraction(self) -> float:
        """The share of steps done, 0..1."""
        return self.done / self.total if self.total else 1.0

    def snapshot(self) -> Trace | CheckpointedTrace:
        """The trace of the steps done so far."""
        if self._store is not None:
            return CheckpointedTrace(self._store, self.done)
        return self._full if self.complete else self._full.window(0, self.done)

    def run(self) -> Trace | CheckpointedTrace:
        """Compute everything left and return the whole trace."""
        if self._full is not None and self.done == 0:
            f = self._full
            self._full = self.model.trace_vectors(f.x, f.tokens, f.ids, f.unknown, f.h0, f.c0)  # what Model.trace does
            self.done = self.total
        while not self.complete:
            self.advance(seconds=1.0)
        return self.snapshot()


def _state(trace: Trace, q: str, k: int):
    """The state q before 0-based step k of every layer: (L, W), or a list for mixed widths."""
    per = [trace.state_before(q, n, k) for n in range(trace.num_layers)]
    return np.stack(per) if trace.uniform else per
