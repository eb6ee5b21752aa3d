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

from dataclasses import dataclass

import numpy as np

from .cells import MEMORY, QUANTITIES
from .errors import InputError
from .pooling import Pool


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

    def width(self, q: str, layer: int) -> int:
        """The width of quantity q at ``layer``: a name of ``quantities``, ``h_prev``,
        ``c_prev``, ``xW``, ``hW``, ``x`` (the layer's input) or ``y``."""
        if q in ("xW", "hW"):
            return getattr(self, q)[layer].shape[-1]
        if q == "x":
            return self.layer_input(layer).shape[-1]
        if q == "y":
            return 0 if self.y is None else self.y.shape[-1]
        key = q[0] if q.endswith("_prev") else q
        if key not in self.states:
            raise KeyError(q)
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
        return self.directions[layer] if self.directions else (False,)

    def state_before(self, q: str, layer: int, k: int) -> np.ndarray:
        """The state h or c (W,) before 0-based step k of ``layer``: hᵗ⁻¹ of a forward
        direction (the initial state for k = 0), hᵗ⁺¹ of a backward one (its
        initial state for k = T-1)."""
        if q == "c" and self.c0 is None:
            raise KeyError(f"a {self.cell} trace has no cell state c")
        init = (self.c0 if q == "c" else self.h0)[layer]
        v = self.states[q][layer]  # (T, W)
        flags = self.reverse_flags(layer)
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
        come from step k + 1)."""
        if q == "c" and self.c0 is None:
            raise KeyError(f"a {self.cell} trace has no cell state c")
        T = self.steps
        stop = T if stop is None else min(stop, T)
        start = min(max(0, start), stop)
        init = (self.c0 if q == "c" else self.h0)[layer]  # (W,)
        v = self.states[q][layer]  # (T, W)
        flags = self.reverse_flags(layer)
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
        if q in self.states:
            return self.states[q][layer][k]
        if q == "x":
            return self.layer_input(layer)[k]
        if q in ("h_prev", "c_prev"):
            return self.state_before(q[0], layer, k)
        if q == "y":
            return self.y[k]
        if q == "xW":
            return self.xW[layer][k]
        if q == "hW":
            return self.hW[layer][k]
        raise KeyError(q)

    def series(self, q: str, layer: int, j: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Unit j of quantity q at steps start..stop-1 (every step by default), (stop - start,)."""
        return self.states[q][layer][start:stop, j]

    def edge_state(self, q: str, layer: int, start: int, stop: int) -> np.ndarray:
        """The initial state (W,) of ``layer`` for a window of steps start..stop-1: the
        state before ``start`` for forward units, the state at ``stop`` (the
        state before stop - 1) for backward ones."""
        flags = self.reverse_flags(layer)
        if not any(flags):
            return self.state_before(q, layer, start)
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
        same as here at step start + k.
        """
        start, stop = max(0, start), min(self.steps, stop)
        stop = max(start, stop)
        cut = slice(start, stop)
        L = self.num_layers

        def init(q):
            per = [self.edge_state(q, n, start, stop) for n in range(L)]
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
        if q == "y":
            data = self.y
        elif q == "x":
            data = self.layer_input(layer)
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
