"""Long sequences in bounded memory: a trace kept as checkpoints, recomputed a window at a time.

A full :class:`~lstm_tui.core.trace.Trace` keeps every gate and state of every
step: at T = 1,000,000 and H = 128 that is about 3 GB of float32. A
:class:`CheckpointedTrace` keeps instead

- the inputs (token ids, or the frames) and the steps' labels;
- a checkpoint every W steps: the state (h, c) of every layer before step
  w·W, (L, H) each;
- per window of W steps, the largest |value| of each quantity, so colour
  scales cover the whole sequence;
- per bin of B steps (B a multiple of W), each unit's min, max and mean of
  each quantity, for history views and sparklines over the whole sequence;

all of it filled in by one forward pass, window by window. Reading a step
recomputes the window that holds it from its checkpoint (a few windows are
kept, least recently used first out: :mod:`.windows`). A window is recomputed by the same call
on the same inputs and state as the forward pass made, so it holds the same
numbers to the last bit.

W is chosen so that a window costs about ``WINDOW_SECONDS`` to recompute (the
price of a jump) and fits the cache.

A model with a direction that reads backwards (a bidirectional or reverse
layer) is always traced whole: its state at a step depends on every later
step, so a window cannot be recomputed from a checkpoint before it alone.

Layers may differ in width: checkpoints and statistics are kept per layer.

Beside this module: :mod:`.tracing` picks the kind of trace a run gets and
builds either a chunk at a time (:class:`~.tracing.TraceBuilder`);
:mod:`.labels` keeps the steps' labels of a long run; :mod:`.scan` runs
breakpoints over one a window at a time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from . import compiled
from .blas import one_blas_thread
from .cells import GATES, MEMORY, QUANTITIES
from .errors import InputError, int_argument
from .labels import TokenLabels, token_labels
from .model import Model, directions
from .trace import (Trace, bound_argument, layer_argument, name_argument, range_argument, reader_names, state_name,
                    step_argument, unit_argument, value_name, READ_ALWAYS)
from .trace import concat  # noqa: F401 (read from here by scan and the tests)
from .windows import Windows

WINDOW_SECONDS = 0.01  # aim for a window's recompute (what a jump's frame waits for) to cost about this
CACHE_BYTES = 64 << 20  # recomputed windows kept, at most
CACHE_STEPS = 8192  # and no more steps than this (whole windows, at least two)
CHECKPOINT_BYTES = 64 << 20  # checkpoints kept, at most (W grows to stay under)
SUMMARY_BYTES = 32 << 20  # per-bin min, max and mean, at most
MAX_BINS = 2048  # time bins of the summaries, at most (a screen is narrower)


# ---------------------------------------------------------------------------
# Sizes and costs


def bytes_per_step(model: Model) -> int:
    """What one step of a full trace keeps: every quantity, xW and hW of each
    layer, the input vector, and the head's logits and probabilities."""
    per_layer = sum(sum(model.widths(q)) for q in (*QUANTITIES[model.cell], "xW", "hW"))
    V = 0 if model.head_W is None else model.head_W.shape[0]
    return model.dtype.itemsize * (per_layer + model.input_size + 2 * V)


def full_trace_bytes(model: Model, steps: int) -> int:
    """The size of a full :class:`Trace` of ``steps`` steps."""
    return steps * bytes_per_step(model)


def step_seconds(model: Model) -> float:
    """A rough cost of one traced step on a 2-core machine of 2024.

    Per layer, about 10 µs of NumPy calls plus the recurrent and input
    products at about 20 GMAC/s; the head's product and softmax besides.
    Only used to size windows and chunks, never to report a time.
    """
    G = GATES[model.cell]
    per = 0.0
    for level in model.layers:
        for layer in directions(level):
            per += 10e-6 + G * layer.hidden_size * (layer.output_size + layer.input_size) / 20e9
    if model.head_W is not None:
        V, H = model.head_W.shape
        per += V * H / 20e9 + V * 5e-9 + sum(d.W.size for d in model.head_hidden) / 20e9
    return per


def window_length(model: Model, steps: int) -> int:
    """W for a checkpointed trace of ``steps`` steps: a power of two, as long as a
    window can be for its recompute to take about ``WINDOW_SECONDS`` and four to
    fit the cache, and no shorter than keeps the checkpoints within ``CHECKPOINT_BYTES``."""
    w = min(WINDOW_SECONDS / step_seconds(model), CACHE_BYTES / 4 / bytes_per_step(model))
    per_checkpoint = sum(model.widths("h")) + (sum(model.widths("c")) if model.cell == "lstm" else 0)
    per_checkpoint *= model.dtype.itemsize
    W = 2 ** int(math.floor(math.log2(max(w, 1.0))))
    while W * CHECKPOINT_BYTES < steps * per_checkpoint:
        W *= 2
    return W


# ---------------------------------------------------------------------------
# The checkpointed trace


@dataclass(frozen=True)
class Summary:
    """One quantity of one layer over time, in bins of whole steps.

    ``lo``, ``hi`` and ``mean`` are (n, W): each unit's min, max and mean in
    each bin; bin b covers 0-based steps ``edges[b] <= k < edges[b + 1]``.
    """

    lo: np.ndarray  # (n, W)
    hi: np.ndarray  # (n, W)
    mean: np.ndarray  # (n, W)
    edges: np.ndarray  # (n + 1,) int

    def maxabs(self) -> np.ndarray:
        """(W, n) units × time: per bin the value of largest magnitude, sign kept
        (what ``explain.bin_time(..., how="maxabs")`` gives for a full trace)."""
        return np.where(np.abs(self.hi) >= np.abs(self.lo), self.hi, self.lo).T


class Store:
    """What every view of one long run shares: inputs, checkpoints, statistics, the cache.

    The forward pass (``forward``) fills windows in order; readers only ever
    ask for windows already done, so the two may run in different threads.
    """

    def __init__(self, model: Model, tokens, ids, unknown, frames, window: int | None = None, bins: int | None = None):
        T = len(tokens)
        L = model.num_layers
        dt = model.dtype
        if model.bidirectional:
            raise InputError(
                f"model {model.name!r} reads the sequence backwards: it is traced whole, not in checkpoints"
            )
        self.model = model
        self.total = T
        self.labels = token_labels(tokens, ids, unknown, model.vocab) if ids is not None else TokenLabels(None, None, T)
        self.ids = ids  # (T,) or None
        self.unknown = unknown  # (T,) bool
        self.frames = frames  # (T, E) or None
        self.W = W = window or window_length(model, T)
        n_win = max(1, -(-T // W))
        self.quantities = QUANTITIES[model.cell]
        Q = len(self.quantities)
        # Bins: whole windows each, as many as the summary budget allows.
        units = sum(sum(model.widths(q)) for q in self.quantities)  # every unit of every quantity and layer
        budget = max(16, SUMMARY_BYTES // (3 * units * 4))
        n_bins = bins or min(MAX_BINS, budget, n_win)
        self.B = W * -(-n_win // max(1, n_bins))  # steps per bin
        n_bins = max(1, -(-T // self.B))
        self.uniform = model.uniform
        # checkpoint w of layer l: its state before step w·W, h[l] (n_win + 1, W_l)
        self.h = [np.zeros((n_win + 1, model.width("h", n)), dtype=dt) for n in range(L)]
        self.c = [np.zeros((n_win + 1, model.width("c", n)), dtype=dt) for n in range(L)] if model.cell == "lstm" else None
        for kept, start in ((self.h, model.meta.get("h0")), (self.c, model.meta.get("c0"))):
            if kept is not None and start is not None:  # the file's own initial state (ONNX initial_h)
                for n in range(L):
                    kept[n][0] = start[n]
        self.pools = [model.pool_start()]  # a pooling head's pool before window w (None without one)
        # Largest |value| per window: quantities of each layer, then x, then y.
        self.win_max = np.zeros((n_win, L, Q + 1), dtype=np.float64)
        self.y_max = np.zeros(n_win, dtype=np.float64)
        # Per (layer, quantity index): each unit's min, max and mean per bin, (n_bins, W).
        keys = [(n, qi) for n in range(L) for qi in range(Q)]
        width = {(n, qi): model.width(q, n) for n in range(L) for qi, q in enumerate(self.quantities)}
        self.lo = {key: np.zeros((n_bins, width[key]), dtype=np.float32) for key in keys}
        self.hi = {key: np.zeros((n_bins, width[key]), dtype=np.float32) for key in keys}
        self.mean = {key: np.zeros((n_bins, width[key]), dtype=np.float32) for key in keys}
        self._sum = {key: np.zeros(width[key], dtype=np.float64) for key in keys}  # the bin being filled
        self.done = 0  # windows computed by the forward pass
        self.path = [False] * n_win  # how window w was computed: False (NumPy) or "serial" (compiled; see compute)
        bpw = bytes_per_step(model) * W
        self.cache_windows = int(max(2, min(CACHE_STEPS // W, CACHE_BYTES // max(bpw, 1))))
        self.windows = Windows(self.compute, self.cache_windows)  # the recomputed ones kept
        self.laid = model.laid_out()  # the weights laid out once for every window's run

    @property
    def steps_done(self) -> int:
        return min(self.done * self.W, self.total)

    def compute(self, w: int) -> Trace:
        """Window w (steps w·W .. (w+1)·W - 1) from its checkpoint.

        By the loop (NumPy, or the compiled one) that the forward pass used for it, so
        that a window recomputed later has the same numbers to the bit; with
        NumPy's BLAS held to one thread, whose start-up for a product this
        small costs more than a second thread gains.
        """
        a, b = w * self.W, min(self.total, (w + 1) * self.W)
        m = self.model
        x = self.frames[a:b] if self.frames is not None else m.embedding[self.ids[a:b]]  # (n, E)
        ids = None if self.ids is None else self.ids[a:b]
        with compiled.using(self.path[w]), one_blas_thread():
            tr = m.trace_vectors(
                x, self.labels[a:b], ids, self.unknown[a:b], self.checkpoint("h", w), self.checkpoint("c", w), self.laid,
                self.pools[w],
            )
        return dataclasses.replace(tr, offset=a)

    def checkpoint(self, q: str, w: int):
        """Every layer's state q before step w·W: (L, W) for a uniform model, else a list; None for a missing c."""
        kept = self.h if q == "h" else self.c
        if kept is None:
            return None
        per = [a[w] for a in kept]
        return np.stack(per) if self.uniform else per

    def get(self, w: int, keep: bool = True) -> Trace:
        """Window w, from the cache or recomputed (and then kept, unless ``keep`` is False)."""
        return self.windows.get(w, keep)

    def forward(self) -> None:
        """Compute the next window: its checkpoint after it, its maxima, its share of the bins."""
        w = self.done
        # The compiled loop's one-core kernel: its all-core one may differ in the last bit, and
        # on a busy machine a window of a few hundred steps is recomputed faster on one core.
        self.path[w] = "serial" if compiled.will_run() else False
        tr = self.compute(w)
        n = tr.steps
        for lay in range(len(self.h)):
            self.h[lay][w + 1] = tr.states["h"][lay][-1]
            if self.c is not None:
                self.c[lay][w + 1] = tr.states["c"][lay][-1]
        if len(self.pools) == w + 1:
            self.pools.append(tr.pool_after())
        a = w * self.W
        b = a // self.B
        first = a % self.B == 0
        for (lay, qi), total in self._sum.items():
            if first:
                total[:] = 0
            v = tr.states[self.quantities[qi]][lay]  # (n, W)
            lo, hi = v.min(axis=0), v.max(axis=0)  # (W,)
            self.win_max[w, lay, qi] = max(np.abs(lo).max(), np.abs(hi).max())
            if first:
                self.lo[lay, qi][b], self.hi[lay, qi][b] = lo, hi
            else:
                np.minimum(self.lo[lay, qi][b], lo, out=self.lo[lay, qi][b])
                np.maximum(self.hi[lay, qi][b], hi, out=self.hi[lay, qi][b])
            total += v.sum(axis=0, dtype=np.float64)
            self.mean[lay, qi][b] = total / (a + n - b * self.B)
        self.win_max[w, 0, -1] = np.abs(tr.x).max() if tr.x.size else 0.0
        if tr.y is not None:
            self.y_max[w] = tr.y.max()
        if w < 2:  # the first windows are the ones shown first
            self.windows.put(w, tr)
        self.done = w + 1


class CheckpointedTrace:
    """A long run read like a :class:`Trace`, kept as checkpoints (see the module docstring).

    It has the reader interface of a trace: ``value``, ``state_before``,
    ``series``, ``abs_max``, ``steps``, ``tokens``, ``unknown``, ``ids``,
    ``cell``, ``num_layers``, ``hidden_size``, ``quantities``, ``has_head``,
    ``h0``, ``c0``; ``window(start, stop)`` gives a full :class:`Trace` of a
    slice for whatever needs whole arrays; ``summary`` the binned history.
    It has no ``states``, ``x``, ``xW``, ``hW`` or ``y`` arrays: code that
    reads them whole must ask for a window.

    Build one with :func:`checkpointed` (or :class:`~.tracing.TraceBuilder`, a
    chunk at a time).
    """

    def __init__(self, store: Store, steps: int) -> None:
        self._store = store
        self._steps = steps
        self._layers, self._quantities = store.model.num_layers, QUANTITIES[store.model.cell]  # (read many times a frame)
        self.tokens = store.labels.prefix(steps)

    # --------------------------------------------------------- properties
    @property
    def steps(self) -> int:
        return self._steps

    @property
    def total(self) -> int:
        """The steps of the whole input (``steps`` counts those computed)."""
        return self._store.total

    @property
    def cell(self) -> str:
        return self._store.model.cell

    @property
    def num_layers(self) -> int:
        return self._store.model.num_layers

    @property
    def hidden_size(self) -> int:
        """As :attr:`Trace.hidden_size` (ValueError when widths differ: use :meth:`width`)."""
        return self._store.model.hidden_size

    @property
    def uniform(self) -> bool:
        return self._store.uniform

    @property
    def directions(self) -> tuple:
        return self._store.model.direction_flags

    def reverse_flags(self, layer: int) -> tuple[bool, ...]:
        return self.directions[layer_argument(layer, self.num_layers)]

    def names(self, prev: bool = True, inputs: bool = True, y: bool = False) -> tuple[str, ...]:
        """As :meth:`Trace.names`."""
        return reader_names(self.quantities, y or self.has_head, prev, inputs)

    def width(self, q: str, layer: int) -> int:
        """As :meth:`Trace.width`."""
        m = self._store.model
        layer = layer_argument(layer, self.num_layers) % self.num_layers
        q = value_name(q, self.quantities, True)
        if q == "x":
            return m.input_size if layer == 0 else m.width("h", layer - 1)
        if q == "y":
            return 0 if m.head_W is None else m.head_W.shape[0]
        return m.width(q[0] if q.endswith("_prev") else q, layer)

    @property
    def has_head(self) -> bool:
        return self._store.model.head_W is not None

    @property
    def memory_quantity(self) -> str:
        """The state that carries memory: c for an LSTM, h for the others."""
        return MEMORY[self.cell]

    @property
    def quantities(self) -> tuple[str, ...]:
        return QUANTITIES[self.cell]

    @property
    def unknown(self) -> np.ndarray:
        return self._store.unknown[: self._steps]

    @property
    def ids(self) -> np.ndarray | None:
        return None if self._store.ids is None else self._store.ids[: self._steps]

    @property
    def h0(self):
        """(L, W) or a list of (W_l,): the initial hidden state of each layer."""
        return self._store.checkpoint("h", 0)

    @property
    def c0(self):
        return self._store.checkpoint("c", 0)

    @property
    def window_length(self) -> int:
        """W: steps per checkpoint, and per recomputed window."""
        return self._store.W

    def steps_within(self, seconds: float) -> int:
        """How many steps (whole windows, at least one) take about ``seconds`` to recompute."""
        W = self._store.W
        return W * max(1, int(seconds / (step_seconds(self._store.model) * W)))

    def block(self, k: int, seconds: float) -> tuple[int, int]:
        """The steps (start, stop) around step k that take about ``seconds`` to recompute:
        whole windows, the same block for every k inside it (so a view can keep its result)."""
        n = self.steps_within(seconds)
        start = (k // n) * n
        return start, min(start + n, self._steps)

    # ------------------------------------------------------------ reading
    def whole_window(self, w: int, keep: bool = True) -> Trace:
        """Window w whole, steps w·W .. (w+1)·W - 1 as the forward pass computed them (not clipped to
        ``steps``), from the cache or recomputed (``keep`` as in :meth:`window`)."""
        return self._store.get(w, keep)

    def prefetch(self, windows: list[int]) -> None:
        """Recompute these windows in a background thread, in this order (see :mod:`.windows`):
        those the compiled loop computed, whose kernel lets the main thread run meanwhile.
        NumPy's loop holds the GIL between its products, so a window of it in the background
        slowed the main thread's own as much as it gained (a jump's frame: 27 -> 40 ms)."""
        self._store.windows.prefetch([w for w in windows if self._store.path[w]])

    def wait(self, windows: list[int], seconds: float) -> None:
        """Wait up to ``seconds`` for those of these windows being recomputed (see :mod:`.windows`)."""
        self._store.windows.wait(windows, seconds)

    def local(self, k: int) -> tuple[Trace, int]:
        """The window holding 0-based step k, and k's index in it."""
        k = step_argument(k, self._steps - 1)
        W = self._store.W
        return self._store.get(k // W), k % W

    def value(self, q: str, layer: int, k: int) -> np.ndarray:
        """As :meth:`Trace.value`: one vector of 0-based step k."""
        store, L = self._store, self._layers
        if not (type(layer) is int and -L <= layer < L):  # (each check inline first: the app's hot path)
            layer = layer_argument(layer, L)
        if not (type(k) is int and 0 <= k < self._steps):
            k = step_argument(k, self._steps - 1)
        if not (type(q) is str and (q in READ_ALWAYS or q in self._quantities)):
            q = value_name(q, self.quantities, self.has_head)
        W = store.W
        return store.get(k // W)._value(q, layer, k % W)  # (checked here, not again in the window)

    def state_before(self, q: str, layer: int, k: int) -> np.ndarray:
        """hᵗ⁻¹ or cᵗ⁻¹ (W,) for 0-based step k of ``layer`` (k = T: the state after the last step)."""
        L = self._layers
        if not (type(q) is str and q == "h"):
            q = state_name(q, self.cell)
        if not (type(layer) is int and -L <= layer < L):
            layer = layer_argument(layer, L)
        if not (type(k) is int and 0 <= k < self._steps):
            k = step_argument(k, self._steps, after=True)
        W = self._store.W
        if k == self._steps:  # the state after the last step
            if not k:
                return (self.c0 if q == "c" else self.h0)[layer]
            return self._store.get((k - 1) // W)._value(q, layer, (k - 1) % W)
        return self._store.get(k // W)._before(q, layer, k % W)

    def states_before(self, q: str, layer: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """As :meth:`Trace.states_before` (recomputes the windows it crosses)."""
        stop = min(bound_argument(stop, "stop", self._steps), self._steps)
        start = min(max(0, bound_argument(start, "start")), stop)
        if start == stop:
            return self.window(start, stop).states_before(q, layer)
        return self._gather(start, stop, lambda tr, a, b: tr.states_before(q, layer, a, b))

    def series(self, q: str, layer: int, j: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Unit j of quantity q at steps start..stop-1, (stop - start,).

        Recomputes every window it crosses: ask for a short range (a whole
        long sequence costs a forward pass; :meth:`summary` has it binned).
        """
        start, stop = range_argument(start, stop, self._steps)
        q, layer = name_argument(q, self.quantities), layer_argument(layer, self.num_layers)
        j = unit_argument(j, self.width(q, layer), q, layer)
        if start == stop:
            return self.window(start, stop).series(q, layer, j)
        return self._gather(start, stop, lambda tr, a, b: tr.series(q, layer, j, a, b))

    def uncached(self, start: int, stop: int) -> list[int]:
        """The windows over steps start..stop-1 that reading would recompute (not in the cache)."""
        start, stop = max(0, start), min(self._steps, stop)
        if start >= stop:
            return []
        W = self._store.W
        return [w for w in range(start // W, (stop - 1) // W + 1) if not self._store.windows.cached(w)]

    def series_cached(self, q: str, layer: int, j: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`series` without recomputing anything: ``(values, known)``, both
        (stop - start,), ``known`` False and the value NaN at the steps of a window not
        in the cache (see :meth:`uncached`), for a view that draws those later."""
        stop = min(stop, self._steps)
        start = min(max(0, start), stop)
        W = self._store.W
        values = np.full(stop - start, np.nan, dtype=self._store.model.dtype)
        known = np.zeros(stop - start, dtype=bool)
        for w in range(start // W, (stop - 1) // W + 1) if start < stop else ():
            tr = self._store.windows.peek(w)
            if tr is not None:
                a, b = max(start, w * W), min(stop, (w + 1) * W)
                values[a - start : b - start] = tr.series(q, layer, j, a - w * W, b - w * W)
                known[a - start : b - start] = True
        return values, known

    def _gather(self, start: int, stop: int, part) -> np.ndarray:
        """``part(window, a, b)`` of each window that steps start..stop-1 cross, joined:
        only what is asked for is copied, not every array of the windows (as
        :meth:`window` does across an edge)."""
        W = self._store.W
        parts = []
        for w in range(start // W, (stop - 1) // W + 1):
            a = w * W
            parts.append(part(self._store.get(w), max(start - a, 0), min(stop - a, W)))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def abs_max(self, q: str, layer: int) -> float:
        """The largest |value| of a quantity (or ``x``, ``y``) over every step computed,
        initial state included as :meth:`Trace.abs_max` does; from the forward pass's maxima."""
        s = self._store
        layer = layer_argument(layer, self.num_layers) % self.num_layers
        q = name_argument(q, self.names(inputs=False) + ("x", "y"))
        n = -(-self._steps // s.W)
        if n == 0:
            return 0.0
        if q == "y":
            if not self.has_head:
                return 0.0
            return float(s.y_max[:n].max())
        if q == "x":
            if layer == 0:
                return float(s.win_max[:n, 0, -1].max())
            q, layer, init = "h", layer - 1, None
        else:
            q = q[0] if q.endswith("_prev") else q
            init = self.c0 if q == "c" else self.h0 if q == "h" else None
        m = float(s.win_max[:n, layer, self.quantities.index(q)].max())
        return max(m, float(np.abs(init[layer]).max())) if init is not None else m

    def window(self, start: int, stop: int, keep: bool = True) -> Trace:
        """Steps start..stop-1 as a full :class:`Trace` (clipped to the steps computed),
        its initial state the state before ``start``, its labels those of the steps.

        ``keep=False`` leaves the cache as it was (for a long read that would
        push out the windows around the step on screen)."""
        start, stop = max(0, bound_argument(start, "start")), min(self._steps, bound_argument(stop, "stop"))
        stop = max(start, stop)
        W = self._store.W
        if start == stop:
            k = min(start, self._steps - 1)
            if k < 0:
                return self._store.compute(0).window(0, 0)
            tr, j = self.local(k)
            return tr.window(j + (start > k), j + (start > k))
        parts = []
        for w in range(start // W, (stop - 1) // W + 1):
            tr = self._store.get(w, keep)
            parts.append(tr.window(max(start - w * W, 0), min(stop - w * W, tr.steps)))
        return parts[0] if len(parts) == 1 else concat(parts)

    def summary(self, q: str, layer: int) -> Summary:
        """Quantity q of ``layer`` over every step computed, in the forward pass's bins."""
        s = self._store
        q, layer = name_argument(q, self.quantities), layer_argument(layer, self.num_layers) % self.num_layers
        n = -(-self._steps // s.B)
        qi = self.quantities.index(q)
        edges = np.minimum(np.arange(n + 1) * s.B, self._steps)
        return Summary(s.lo[layer, qi][:n], s.hi[layer, qi][:n], s.mean[layer, qi][:n], edges)

    def prefix(self, steps: int) -> CheckpointedTrace:
        """The same run read up to ``steps`` steps (at most the steps computed)."""
        steps = int_argument(steps, "steps", "a whole number of steps from 0", 0)
        return CheckpointedTrace(self._store, min(steps, self._store.steps_done))

    def arrays(self) -> dict[str, np.ndarray]:
        raise InputError(
            f"this trace has {self._steps:,} steps, kept as checkpoints: too long to export whole "
            "(export a shorter input, or use lstm-tui export)"
        )

    def nbytes(self) -> int:
        """The memory this run keeps (checkpoints, statistics, inputs, cached windows)."""
        s = self._store
        arrays = [*s.h, *(s.c or ()), s.win_max, s.y_max, *s.lo.values(), *s.hi.values(), *s.mean.values(), s.unknown]
        arrays += [p.total for p in s.pools if p is not None and p.total is not None]
        arrays += [a for a in (s.ids, s.frames, s.labels.indices) if a is not None]
        cached = sum(_trace_bytes(t) for t in s.windows.values())
        return sum(a.nbytes for a in arrays) + cached


def _trace_bytes(tr: Trace) -> int:
    per_layer = [tr.xW, tr.hW, *tr.states.values()]
    arrays = [a for v in per_layer for a in list(v)] + [tr.x] + [a for a in (tr.logits, tr.y) if a is not None]
    return sum(a.nbytes for a in arrays)


def checkpointed(model: Model, inputs, window: int | None = None, bins: int | None = None) -> CheckpointedTrace:
    """Run ``model`` over ``inputs`` (text, tokens or frames) keeping checkpoints every
    ``window`` steps (default: :func:`window_length`) and at most ``bins`` time bins."""
    store = Store(model, *model.prepare(inputs), window, bins)
    while store.steps_done < store.total:
        store.forward()
    return CheckpointedTrace(store, store.total)
