"""The trace: every number of every step of one run, for reading afterwards.

Steps are stored 0-based (index k is the UI's step t = k + 1), at the
sequence's own positions. The state before step k is
``state_before(q, layer, k)``: the initial state for k = 0.

Layers may differ in width: ``states[q][layer]`` is (T, W) with W that
layer's width for q (always index the layer first). When every layer has the
same width for every quantity (``uniform``), ``states[q]`` is one (L, T, W)
array; otherwise it is a list of (T, W_l) arrays, one per layer, and ``xW``,
``hW``, ``h0`` and ``c0`` likewise.

A bidirectional layer is 2W wide, forward units first. Its backward half at
position t has read steps t..T-1, so the state "before" position t is, for
those units, the state at t+1 (the backward initial state at T-1); a layer
that only reads backwards (ONNX ``reverse``, Keras ``go_backwards``) is the
same with one direction.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from .cells import MEMORY, QUANTITIES
from .errors import InputError, int_argument, shown
from .pooling import Pool


# ---------------------------------------------------------------------------
# The arguments of a trace's readers (the Python API's): each refused in one InputError line naming it.
# A fast path first: the app reads a trace through these many times a frame.


def layer_argument(layer, count: int) -> int:
    """``layer`` of a trace of ``count`` layers: 0 to count - 1, or -count to -1 counted from the last."""
    if type(layer) is int and -count <= layer < count:
        return layer
    return int_argument(layer, "layer", f"a 0-based layer from 0 to {count - 1} (-1: the last)", -count, count - 1)


def step_argument(k, high: int, name: str = "k", after: bool = False) -> int:
    """``k``, a 0-based step from 0 to ``high`` (``after``: ``high`` is the state after the last step)."""
    if type(k) is int and 0 <= k <= high:
        return k
    if high < 0:
        raise InputError(f"{name} {shown(k)}: the trace has no steps")
    last = f" ({high}: after the last step)" if after else ""
    return int_argument(k, name, f"a 0-based step from 0 to {high}{last}", 0, high)


def bound_argument(value, name: str, default: int | None = None) -> int:
    """A start or stop of a range of steps: any whole number (the caller clips it), None for ``default``."""
    if type(value) is int:
        return value
    if value is None and default is not None:
        return default
    return int_argument(value, name, "a 0-based step" + (", or None" if default is not None else ""))


def range_argument(start, stop, steps: int) -> tuple[int, int]:
    """``series``'s start and stop: 0-based steps, clipped to ``steps``. A negative one is refused, not
    read from the end as NumPy does (an answer silently other than NumPy's is worse than an error)."""
    start, stop = bound_argument(start, "start"), bound_argument(stop, "stop", steps)
    for value, name in ((start, "start"), (stop, "stop")):
        if value < 0:
            raise InputError(f"{name} {value}: expected a 0-based step from 0 (not counted from the end)")
    stop = min(stop, steps)
    return min(start, stop), stop


def name_argument(q, names, name: str = "q") -> str:
    """``q`` if it is one of ``names`` (a quantity's name and the like)."""
    if isinstance(q, str) and q in names:
        return q
    raise InputError(f"{name} {shown(q)}: expected one of {', '.join(names)}")


def reader_names(quantities, head: bool, prev: bool = True, inputs: bool = True) -> tuple[str, ...]:
    """The names a trace's ``value`` reads: its ``quantities``, ``h_prev`` and ``c_prev`` (``prev``; c_prev
    with a c), ``x``, ``xW``, ``hW`` and ``y`` (``inputs``; y only with a ``head``)."""
    names = tuple(quantities)
    if prev:
        names += ("h_prev", "c_prev") if "c" in quantities else ("h_prev",)
    if inputs:
        names += ("x", "xW", "hW") + (("y",) if head else ())
    return names


READ_ALWAYS = frozenset(("x", "xW", "hW", "h_prev"))  # the names besides the quantities that every trace reads


def value_name(q, quantities, head: bool) -> str:
    """``q`` if it is one of :func:`reader_names` (``quantities`` a tuple or dict of them): without making
    that list, but to word a refusal (the app reads many values a frame)."""
    if type(q) is str and (q in quantities or q in READ_ALWAYS or q == "c_prev" and "c" in quantities or q == "y" and head):
        return q
    return name_argument(q, reader_names(quantities, head))


def state_name(q, cell: str) -> str:
    """``q`` of a trace's ``state_before``: h, or c of an LSTM (of ``cell``)."""
    if isinstance(q, str) and q in ("h", "c"):
        if q == "c" and "c" not in QUANTITIES[cell]:
            raise InputError(f"q 'c': a {cell} trace has no cell state c (expected h)")
        return q
    return name_argument(q, ("h", "c") if "c" in QUANTITIES[cell] else ("h",))


def unit_argument(j, width: int, q: str, layer: int) -> int:
    """``j``, a unit of quantity q at ``layer``, ``width`` wide."""
    if type(j) is int and 0 <= j < width:
        return j
    return int_argument(j, "j", f"a unit from 0 to {width - 1} (the width of {q} in layer {layer})", 0, width - 1)


def _cut(v, cut: slice):
    """Steps ``cut`` of per-layer data: an (L, T, W) array or a list of (T, W_l)."""
    return v[:, cut] if isinstance(v, np.ndarray) else [a[cut] for a in v]


@dataclass(frozen=True)
class Trace:
    """Every step's gates, states and products, for each layer.

    ``states[q]`` is quantity q (see ``cells.QUANTITIES``) for every layer and
    step: ``states[q][layer]`` (T, W_l); ``xW`` and ``hW`` are the bias-free
    input and recurrent products, ``xW[layer]`` (T, G*H_l) (each direction's
    blocks side by side in a bidirectional layer); ``y`` the output head's
    probabilities (T, V) if the model has a head.
    """

    cell: str  # "lstm", "gru", "rnn_tanh" or "rnn_relu"
    tokens: tuple[str, ...]  # (T,) the labels of the steps: tokens or frame numbers
    unknown: np.ndarray  # (T,) bool: token not in the vocabulary (mapped to <unk>)
    ids: np.ndarray | None  # (T,) vocabulary ids, None for feature-frame input
    x: np.ndarray  # (T, E) the first layer's input vectors
    states: dict  # q -> (L, T, W) or [(T, W_l)] per layer
    xW: np.ndarray | list  # (L, T, G*H) or [(T, G*H_l)]: W_ih xᵗ, no bias
    hW: np.ndarray | list  # (L, T, G*H) or [(T, G*H_l)]: W_hh hᵗ⁻¹, no bias
    h0: np.ndarray | list  # (L, W) or [(W_l,)]: initial hidden state, per direction's own start
    c0: np.ndarray | list | None  # (L, W) or [(W_l,)]: initial cell state (LSTM only)
    logits: np.ndarray | None  # (T, V) output head before softmax
    y: np.ndarray | None  # (T, V) next-token probabilities
    offset: int = 0  # the step of a longer run that step 0 is (a window's place; 0 for a whole run)
    directions: tuple = ()  # per layer, per direction: reads backwards? () = every layer one forward direction
    pool: Pool | None = None  # a pooling head's pool of the steps before step 0 (core.pooling); None without one

    def __getstate__(self) -> dict:
        """Pickled without :func:`mark_run`'s weak references (which cannot be): an unpickled run is
        one of no clean trace here, as a run of another process is."""
        return {k: v for k, v in self.__dict__.items() if k != "_made_of"}

    @property
    def steps(self) -> int:
        return len(self.tokens)

    @property
    def num_layers(self) -> int:
        return len(self.h0)

    @property
    def uniform(self) -> bool:
        """True when ``states[q]`` is one (L, T, W) array for every q."""
        return isinstance(self.states["h"], np.ndarray)

    def names(self, prev: bool = True, inputs: bool = True, y: bool = False) -> tuple[str, ...]:
        """The names :meth:`value` reads: the quantities, ``h_prev`` and ``c_prev`` (``prev``), ``x``,
        ``xW``, ``hW`` and ``y`` (``inputs``; ``y`` only with a head, unless ``y``)."""
        return reader_names(tuple(self.states), y or self.y is not None, prev, inputs)

    def width(self, q: str, layer: int) -> int:
        """The width of quantity q at ``layer``: a name of ``quantities``, ``h_prev``,
        ``c_prev``, ``xW``, ``hW``, ``x`` (the layer's input) or ``y``."""
        L = len(self.h0)
        if not (type(layer) is int and -L <= layer < L):  # (each check inline first: the app's hot path)
            layer = layer_argument(layer, L)
        if not (type(q) is str and (q in self.states or q in READ_ALWAYS or q == "y")):
            q = value_name(q, self.states, True)
        return self._width(q, layer)

    def _width(self, q: str, layer: int) -> int:
        """:meth:`width` of arguments checked."""
        if q in ("xW", "hW"):
            return getattr(self, q)[layer].shape[-1]
        if q == "x":
            return self._input(layer).shape[-1]
        if q == "y":
            return 0 if self.y is None else self.y.shape[-1]
        key = q[0] if q.endswith("_prev") else q
        return self.states[key][layer].shape[-1]

    @property
    def hidden_size(self) -> int:
        """The one width of every quantity of every layer; ValueError when they differ
        (a bidirectional, projected or mixed-width stack): use :meth:`width`."""
        ws = {self.width(q, n) for q in self.states for n in range(self.num_layers)}
        if len(ws) != 1:
            raise ValueError("the layers or quantities of this trace differ in width: use trace.width(q, layer)")
        return ws.pop()

    @property
    def memory_quantity(self) -> str:
        """The state that carries memory: c for an LSTM, h for the others."""
        return MEMORY[self.cell]

    @property
    def has_head(self) -> bool:
        """Whether the model had an output head (so ``y`` exists)."""
        return self.y is not None

    @property
    def quantities(self) -> tuple[str, ...]:
        return QUANTITIES[self.cell]

    def reverse_flags(self, layer: int) -> tuple[bool, ...]:
        """Whether each direction of ``layer`` reads backwards (its units split evenly, in this order)."""
        return self._flags(layer_argument(layer, self.num_layers))

    def _flags(self, layer: int) -> tuple[bool, ...]:
        return self.directions[layer] if self.directions else (False,)

    def state_before(self, q: str, layer: int, k: int) -> np.ndarray:
        """The state h or c (W,) before 0-based step k of ``layer``: hᵗ⁻¹ of a forward
        direction (the initial state for k = 0), hᵗ⁺¹ of a backward one (its
        initial state for k = T-1). k = T is the state after the last step."""
        L, T = len(self.h0), len(self.tokens)
        if not (type(layer) is int and -L <= layer < L):
            layer = layer_argument(layer, L)
        if not (type(k) is int and 0 <= k <= T):
            k = step_argument(k, T, after=True)
        if not (type(q) is str and q == "h"):
            q = state_name(q, self.cell)
        return self._before(q, layer, k)

    def _before(self, q: str, layer: int, k: int) -> np.ndarray:
        """:meth:`state_before` of arguments checked."""
        init = (self.c0 if q == "c" else self.h0)[layer]
        v = self.states[q][layer]  # (T, W)
        flags = self._flags(layer)
        if not any(flags):
            return v[k - 1] if k > 0 else init
        T = v.shape[0]
        w = init.shape[0] // len(flags)
        out = np.empty_like(init)
        for d, back in enumerate(flags):
            part = slice(d * w, (d + 1) * w)
            src = k + 1 if back else k - 1
            out[part] = v[src, part] if 0 <= src < T else init[part]
        return out

    def states_before(self, q: str, layer: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """:meth:`state_before` of steps start..stop-1 at once, (stop - start, W): for
        code that reads hᵗ⁻¹ over a block of steps (a backward direction's units
        come from step k + 1). start and stop are clipped to the trace's steps."""
        q, layer, T = state_name(q, self.cell), layer_argument(layer, self.num_layers), self.steps
        stop = min(bound_argument(stop, "stop", T), T)
        start = min(max(0, bound_argument(start, "start")), stop)
        init = (self.c0 if q == "c" else self.h0)[layer]  # (W,)
        v = self.states[q][layer]  # (T, W)
        flags = self._flags(layer)
        w = init.shape[0] // len(flags)
        out = np.empty((stop - start, init.shape[0]), dtype=v.dtype)
        if stop == start:
            return out
        for d, back in enumerate(flags):
            part = slice(d * w, (d + 1) * w)
            if not back:  # row k: step k - 1, the initial state at k = 0
                if start > 0:
                    out[:, part] = v[start - 1 : stop - 1, part]
                else:
                    out[0, part] = init[part]
                    out[1:, part] = v[: stop - 1, part]
            elif stop < T:  # row k: step k + 1, the initial state at k = T - 1
                out[:, part] = v[start + 1 : stop + 1, part]
            else:
                out[:-1, part] = v[start + 1 : T, part]
                out[-1, part] = init[part]
        return out

    def value(self, q: str, layer: int, k: int) -> np.ndarray:
        """One vector of 0-based step k: a quantity (W,), ``x`` (the layer's
        input), ``h_prev``/``c_prev`` (the state before the step), ``y`` (V,),
        ``xW`` or ``hW`` (G*H,).

        Views and renderers read the trace only through this method and
        :meth:`abs_max`, so a trace that keeps checkpoints and recomputes
        windows can stand in for this one.
        """
        L, T = len(self.h0), len(self.tokens)
        if not (type(layer) is int and -L <= layer < L):
            layer = layer_argument(layer, L)
        if not (type(k) is int and 0 <= k < T):
            k = step_argument(k, T - 1)
        if type(q) is str and q in self.states:
            return self.states[q][layer][k]
        if not (type(q) is str and q in READ_ALWAYS):  # (c_prev and y: of some traces only)
            q = value_name(q, self.states, self.y is not None)
        return self._value(q, layer, k)

    def _value(self, q: str, layer: int, k: int) -> np.ndarray:
        """:meth:`value` of arguments checked."""
        if q in self.states:
            return self.states[q][layer][k]
        if q == "x":
            return self._input(layer)[k]
        if q in ("h_prev", "c_prev"):
            return self._before(q[0], layer, k)
        if q == "y":
            return self.y[k]
        if q == "xW":
            return self.xW[layer][k]
        return self.hW[layer][k]

    def series(self, q: str, layer: int, j: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Unit j of quantity q at 0-based steps start..stop-1 (every step by default, clipped to the
        trace's steps; a negative start or stop is refused), (stop - start,)."""
        if not (type(q) is str and q in self.states):
            q = name_argument(q, tuple(self.states))
        L, T = len(self.h0), len(self.tokens)
        if not (type(layer) is int and -L <= layer < L):
            layer = layer_argument(layer, L)
        v = self.states[q][layer]
        if not (type(j) is int and 0 <= j < v.shape[-1]):
            j = unit_argument(j, v.shape[-1], q, layer)
        if type(start) is int and start == 0 and stop is None:
            return v[:, j]
        start, stop = range_argument(start, stop, T)
        return v[start:stop, j]

    def edge_state(self, q: str, layer: int, start: int, stop: int) -> np.ndarray:
        """The initial state (W,) of ``layer`` for a window of steps start..stop-1: the
        state before ``start`` for forward units, the state at ``stop`` (the
        state before stop - 1) for backward ones."""
        q, layer, T = state_name(q, self.cell), layer_argument(layer, self.num_layers), self.steps
        return self._edge(q, layer, step_argument(start, T, "start"), step_argument(stop, T, "stop"))

    def _edge(self, q: str, layer: int, start: int, stop: int) -> np.ndarray:
        """:meth:`edge_state` of arguments checked."""
        flags = self._flags(layer)
        if not any(flags):
            return self._before(q, layer, start)
        init = (self.c0 if q == "c" else self.h0)[layer]
        v = self.states[q][layer]
        T = v.shape[0]
        w = init.shape[0] // len(flags)
        out = np.empty_like(init)
        for d, back in enumerate(flags):
            part = slice(d * w, (d + 1) * w)
            src = stop if back else start - 1
            out[part] = v[src, part] if 0 <= src < T else init[part]
        return out

    def window(self, start: int, stop: int) -> Trace:
        """Steps start..stop-1 as a trace of their own (views of these arrays).

        Its initial state is the state before ``start`` (after ``stop - 1`` for
        backward units), so that every value, ``state_before`` included, is the
        same as here at step start + k. start and stop are clipped to the trace's steps.
        """
        start, stop = max(0, bound_argument(start, "start")), min(self.steps, bound_argument(stop, "stop"))
        stop = max(start, stop)
        cut = slice(start, stop)
        L = self.num_layers

        def init(q):
            per = [self._edge(q, n, start, stop) for n in range(L)]
            return np.stack(per) if self.uniform else per

        return Trace(
            cell=self.cell,
            tokens=tuple(self.tokens[cut]),
            unknown=self.unknown[cut],
            ids=None if self.ids is None else self.ids[cut],
            x=self.x[cut],
            states={q: _cut(v, cut) for q, v in self.states.items()},
            xW=_cut(self.xW, cut),
            hW=_cut(self.hW, cut),
            h0=init("h"),
            c0=None if self.c0 is None else init("c"),
            logits=None if self.logits is None else self.logits[cut],
            y=None if self.y is None else self.y[cut],
            offset=self.offset + start,
            directions=self.directions,
            pool=None if self.pool is None else self.pool.after(self.states["h"][L - 1][:start]),
        )

    def pool_after(self) -> Pool | None:
        """A pooling head's pool after the last step (for the chunk or window that follows), or None."""
        return None if self.pool is None else self.pool.after(self.states["h"][-1])

    def abs_max(self, q: str, layer: int) -> float:
        """The largest |value| of a quantity (or ``x``, ``y``) over the whole
        sequence, initial state included; 0 for an empty trace."""
        layer = layer_argument(layer, self.num_layers)
        q = name_argument(q, self.names(inputs=False) + ("x", "y"))
        if q == "y":
            data = self.y
        elif q == "x":
            data = self._input(layer)
        else:
            key = q[0] if q.endswith("_prev") else q
            data = self.states[key][layer]
            init = self.c0 if key == "c" else self.h0 if key == "h" else None
            if init is not None:
                data = np.concatenate([data, init[layer][None]])
        if data is None or not data.size:
            return 0.0
        return float(np.abs(data).max())

    def layer_input(self, layer: int) -> np.ndarray:
        """The input vectors (T, E or the width of the layer below) that ``layer`` received."""
        return self._input(layer_argument(layer, self.num_layers))

    def _input(self, layer: int) -> np.ndarray:
        """:meth:`layer_input` of a layer checked (-1: the last)."""
        layer %= self.num_layers
        return self.x if layer == 0 else self.states["h"][layer - 1]

    def arrays(self) -> dict[str, np.ndarray]:
        """The trace as plain arrays, as ``lstm-tui export`` writes them.

        Each quantity q is one array [layers, T, width] when every layer has
        the same width, else one array ``{q}_l{k}`` [T, width_k] per layer
        (a bidirectional layer's width is 2W, forward units first, at the
        sequence's own positions).
        """
        out = {}
        for q, v in self.states.items():
            if isinstance(v, np.ndarray):
                out[q] = np.ascontiguousarray(v)
            else:
                out.update({f"{q}_l{k}": np.ascontiguousarray(a) for k, a in enumerate(v)})
        out["x"] = self.x
        if self.y is not None:
            out["y"] = self.y
        out["tokens"] = np.array(self.tokens, dtype=str) if self.tokens else np.zeros(0, dtype="<U1")
        out["unknown"] = self.unknown
        if self.ids is not None:
            out["ids"] = self.ids
        return out


def mark_run(run: Trace, clean: Trace, source: Trace | None = None) -> Trace:
    """Note on ``run``, a patched run of ``clean`` (or a spare copy of it), the clean trace and the source
    (src's values) it was made from, by weak references: an earlier run handed back to be reused must be
    one of this clean trace, whose rows before its patches are this input's (see :func:`run_of`)."""
    if run is not clean:  # (an attribute of the instance, not a field: dataclasses.replace leaves it behind)
        object.__setattr__(run, "_made_of", (weakref.ref(clean), None if source is None else weakref.ref(source)))
    return run


def run_of(run) -> tuple[Trace | None, Trace | None]:
    """The clean trace and the source that :func:`mark_run` noted on ``run``; (None, None) for any other trace."""
    refs = getattr(run, "_made_of", None)
    return (None, None) if refs is None else (refs[0](), None if refs[1] is None else refs[1]())


def trace_argument(value, name: str, long_ok: bool = False) -> Trace:
    """``value`` if it is a :class:`Trace` (or, ``long_ok``, a trace kept as checkpoints), else an
    :class:`InputError` naming the Python API's argument ``name``."""
    if isinstance(value, Trace):
        return value
    from .checkpoint import CheckpointedTrace

    if isinstance(value, CheckpointedTrace):
        if long_ok:
            return value
        raise InputError(f"{name}: this sequence is kept as checkpoints (it is long): patch a full trace of it, "
                         "or a part of it")
    raise InputError(f"{name}: expected a Trace, as model.trace(...) returns, not {type(value).__name__}")


def concat(parts: list[Trace]) -> Trace:
    """Consecutive traces as one (the first one's initial state)."""
    first = parts[0]

    def cat(get, axis=0):
        vals = [get(p) for p in parts]
        if vals[0] is None:
            return None
        if isinstance(vals[0], list):  # per-layer arrays of a mixed-width trace
            return [np.concatenate([v[n] for v in vals]) for n in range(len(vals[0]))]
        return np.concatenate(vals, axis=axis)

    return Trace(
        cell=first.cell,
        tokens=tuple(t for p in parts for t in p.tokens),
        unknown=cat(lambda p: p.unknown),
        ids=cat(lambda p: p.ids),
        x=cat(lambda p: p.x),
        states={q: cat(lambda p, q=q: p.states[q], axis=1) for q in first.states},
        xW=cat(lambda p: p.xW, axis=1),
        hW=cat(lambda p: p.hW, axis=1),
        h0=first.h0,
        c0=first.c0,
        logits=cat(lambda p: p.logits),
        y=cat(lambda p: p.y),
        offset=first.offset,
        directions=first.directions,
        pool=first.pool,
    )
