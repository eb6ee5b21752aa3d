"""The trace: every number of every step of one run, for reading afterwards.

Steps are stored 0-based (index k is the UI's step t = k + 1). The state
before step k is ``state_before(q, layer, k)``: the initial state for k = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cells import MEMORY, QUANTITIES


@dataclass(frozen=True)
class Trace:
    """Every step's gates, states and products, for each layer.

    ``states[q]`` is quantity q (see ``cells.QUANTITIES``) for every layer and
    step, (L, T, H); ``xW`` and ``hW`` are the bias-free input and recurrent
    products (L, T, G*H); ``y`` the output head's probabilities (T, V) if the
    model has a head.
    """

    cell: str  # "lstm", "gru", "rnn_tanh" or "rnn_relu"
    tokens: tuple[str, ...]  # (T,) the labels of the steps: tokens or frame numbers
    unknown: np.ndarray  # (T,) bool: token not in the vocabulary (mapped to <unk>)
    ids: np.ndarray | None  # (T,) vocabulary ids, None for feature-frame input
    x: np.ndarray  # (T, E) the first layer's input vectors
    states: dict  # q -> (L, T, H)
    xW: np.ndarray  # (L, T, G*H) W_ih xᵗ, no bias
    hW: np.ndarray  # (L, T, G*H) W_hh hᵗ⁻¹, no bias
    h0: np.ndarray  # (L, H) initial hidden state
    c0: np.ndarray | None  # (L, H) initial cell state (LSTM only)
    logits: np.ndarray | None  # (T, V) output head before softmax
    y: np.ndarray | None  # (T, V) next-token probabilities
    offset: int = 0  # the step of a longer run that step 0 is (a window's place; 0 for a whole run)

    @property
    def steps(self) -> int:
        return len(self.tokens)

    @property
    def num_layers(self) -> int:
        return self.h0.shape[0]

    @property
    def hidden_size(self) -> int:
        return self.h0.shape[1]

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

    def state_before(self, q: str, layer: int, k: int) -> np.ndarray:
        """hᵗ⁻¹ or cᵗ⁻¹ (H,) for 0-based step k of ``layer``."""
        if q == "c" and self.c0 is None:
            raise KeyError(f"a {self.cell} trace has no cell state c")
        if k > 0:
            return self.states[q][layer, k - 1]
        return (self.c0 if q == "c" else self.h0)[layer]

    def value(self, q: str, layer: int, k: int) -> np.ndarray:
        """One vector of 0-based step k: a quantity (H,), ``x`` (the layer's
        input), ``h_prev``/``c_prev`` (the state before the step), ``y`` (V,),
        ``xW`` or ``hW`` (G*H,).

        Views and renderers read the trace only through this method and
        :meth:`abs_max`, so a trace that keeps checkpoints and recomputes
        windows can stand in for this one.
        """
        if q in self.states:
            return self.states[q][layer, k]
        if q == "x":
            return self.layer_input(layer)[k]
        if q in ("h_prev", "c_prev"):
            return self.state_before(q[0], layer, k)
        if q == "y":
            return self.y[k]
        if q == "xW":
            return self.xW[layer, k]
        if q == "hW":
            return self.hW[layer, k]
        raise KeyError(q)

    def series(self, q: str, layer: int, j: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Unit j of quantity q at steps start..stop-1 (every step by default), (stop - start,)."""
        return self.states[q][layer, start:stop, j]

    def window(self, start: int, stop: int) -> Trace:
        """Steps start..stop-1 as a trace of their own (views of these arrays).

        Its initial state is the state before ``start``, so that every value,
        ``state_before`` included, is the same as here at step start + k.
        """
        start, stop = max(0, start), min(self.steps, stop)
        stop = max(start, stop)
        cut = slice(start, stop)
        L = self.num_layers
        h0 = np.stack([self.state_before("h", n, start) for n in range(L)])  # (L, H)
        c0 = None if self.c0 is None else np.stack([self.state_before("c", n, start) for n in range(L)])
        return Trace(
            cell=self.cell,
            tokens=tuple(self.tokens[cut]),
            unknown=self.unknown[cut],
            ids=None if self.ids is None else self.ids[cut],
            x=self.x[cut],
            states={q: v[:, cut] for q, v in self.states.items()},
            xW=self.xW[:, cut],
            hW=self.hW[:, cut],
            h0=h0,
            c0=c0,
            logits=None if self.logits is None else self.logits[cut],
            y=None if self.y is None else self.y[cut],
            offset=self.offset + start,
        )

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
        """The input vectors (T, E or H) that ``layer`` received."""
        return self.x if layer == 0 else self.states["h"][layer - 1]

    def arrays(self) -> dict[str, np.ndarray]:
        """The trace as plain arrays, as ``lstm-tui export`` writes them."""
        out = {q: np.ascontiguousarray(v) for q, v in self.states.items()}
        out["x"] = self.x
        if self.y is not None:
            out["y"] = self.y
        out["tokens"] = np.array(self.tokens, dtype=str) if self.tokens else np.zeros(0, dtype="<U1")
        out["unknown"] = self.unknown
        if self.ids is not None:
            out["ids"] = self.ids
        return out
