"""A recurrent model: optional embedding, a stack of layers, optional head.

    xᵗ = E[idᵗ]                  (or a feature frame given directly)
    hᵗ_l = cell(x or hᵗ_{l-1})   for each layer l (see ``cells``)
    yᵗ = softmax(W_y hᵗ_L + b_y) (if the model has an output head)
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources

import numpy as np

from . import tokenize
from .cells import GATES, QUANTITIES, Layer, run
from .errors import InputError
from .trace import Trace

#: The most memory the weights of an untrained random model may take.
MAX_RANDOM_BYTES = 1024**3

#: The built-in character vocabulary: printable ASCII and <unk>.
ASCII_VOCAB = tuple(c for c in string.printable if c not in "\t\n\r\x0b\x0c") + (tokenize.UNK,)


@cache
def word_vocab() -> tuple[str, ...]:
    """The built-in word vocabulary (common English words, punctuation, <unk>)."""
    text = resources.files("lstm_tui").joinpath("data/words.txt").read_text(encoding="utf-8")
    words = [w for w in text.split("\n") if w and not w.startswith("#")]
    return tuple(words) + (tokenize.UNK,)


def softmax(a: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so it cannot overflow."""
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Model:
    """A traced recurrent model (all arrays share one float dtype)."""

    layers: tuple[Layer, ...]  # layer k feeds layer k+1
    embedding: np.ndarray | None = None  # (V, E) token id -> input vector
    head_W: np.ndarray | None = None  # (V, H) output head
    head_b: np.ndarray | None = None  # (V,)
    vocab: tuple[str, ...] | None = None  # (V,) token string of each id
    tokenizer: str = "char"  # "char" or "word"
    name: str = "model"  # shown in the title bar
    description: str = ""  # one line for --list-models and the help screen
    meta: dict = field(default_factory=dict)  # anything else the file said

    @property
    def cell(self) -> str:
        return self.layers[0].cell

    @property
    def hidden_size(self) -> int:
        return self.layers[0].hidden_size

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].dtype

    @property
    def takes_tokens(self) -> bool:
        return self.embedding is not None and self.vocab is not None

    def astype(self, dtype) -> Model:
        """The same model with every array in ``dtype`` (float64 keeps tiny gradients from underflowing)."""
        dt = np.dtype(dtype)
        if dt == self.dtype:
            return self

        def cast(a):
            return None if a is None else a.astype(dt)

        layers = tuple(Layer(a.cell, cast(a.W_ih), cast(a.W_hh), cast(a.b_ih), cast(a.b_hh)) for a in self.layers)
        return replace(self, layers=layers, embedding=cast(self.embedding), head_W=cast(self.head_W), head_b=cast(self.head_b))

    def tokens(self, text: str) -> list[str]:
        """Split text with this model's tokenizer."""
        return tokenize.split(text, self.tokenizer)

    def trace(
        self,
        inputs: str | list[str] | np.ndarray,
        h0: np.ndarray | None = None,  # (L, H), zeros if None
        c0: np.ndarray | None = None,  # (L, H), zeros if None (LSTM)
    ) -> Trace:
        """Run the model over text, a token list or feature frames (T, E).

        Returns the :class:`Trace` of every step of every layer.
        """
        tokens, ids, unknown, frames = self.prepare(inputs)
        x = frames if frames is not None else self.embedding[ids]  # (T, E)
        return self.trace_vectors(x, tuple(tokens), ids, unknown, h0, c0)

    def prepare(
        self, inputs: str | list[str] | np.ndarray
    ) -> tuple[list[str], np.ndarray | None, np.ndarray, np.ndarray | None]:
        """Check and encode inputs without running anything.

        Returns ``(tokens, ids, unknown, frames)``: the step labels (T,), the
        vocabulary ids (T,) (None for frames), the not-in-vocabulary mask (T,)
        and the frames (T, E) in the model's dtype (None for tokens).
        """
        if isinstance(inputs, np.ndarray):
            x = np.asarray(inputs, dtype=self.dtype)
            if x.ndim != 2 or x.shape[1] != self.input_size:
                raise InputError(
                    f"input frames have shape {tuple(inputs.shape)}: expected [T, {self.input_size}]"
                )
            if not np.isfinite(x).all():
                raise InputError("input frames hold NaN or Inf values")
            return [str(k + 1) for k in range(x.shape[0])], None, np.zeros(x.shape[0], dtype=bool), x
        if not self.takes_tokens:
            raise InputError(f"model {self.name!r} has no embedding and vocabulary: give it frames")
        toks = self.tokens(inputs) if isinstance(inputs, str) else list(inputs)
        ids, unknown = tokenize.encode(toks, self.vocab)
        return toks, ids, unknown, None

    def trace_vectors(
        self,
        x: np.ndarray,  # (T, E) the first layer's input vectors
        tokens: tuple[str, ...],  # (T,) the steps' labels
        ids: np.ndarray | None,  # (T,) vocabulary ids, None for frames
        unknown: np.ndarray,  # (T,) bool
        h0: np.ndarray | None = None,  # (L, H), zeros if None
        c0: np.ndarray | None = None,  # (L, H), zeros if None (LSTM)
    ) -> Trace:
        """The trace of input vectors already prepared, from state (h0, c0):
        what :meth:`trace` runs, and how a long trace recomputes a window."""
        L, H, dt = self.num_layers, self.hidden_size, self.dtype
        h0 = np.zeros((L, H), dtype=dt) if h0 is None else np.asarray(h0, dtype=dt)
        c0 = None if self.cell != "lstm" else (np.zeros((L, H), dtype=dt) if c0 is None else np.asarray(c0, dtype=dt))
        T = x.shape[0]
        G = GATES[self.cell]
        states = {q: np.empty((L, T, H), dtype=dt) for q in QUANTITIES[self.cell]}
        xW = np.empty((L, T, G * H), dtype=dt)
        hW = np.empty((L, T, G * H), dtype=dt)
        inp = x
        for k, layer in enumerate(self.layers):
            out = {"xW": xW[k], "hW": hW[k], **{q: v[k] for q, v in states.items()}}
            rec = run(layer, inp, h0[k], None if c0 is None else c0[k], out=out)
            for name, v in rec.items():
                if v is not out[name]:  # the NumPy loop's own array (the compiled one writes into out)
                    out[name][...] = v
            inp = out["h"]
        logits = y = None
        if self.head_W is not None:
            logits = inp @ self.head_W.T + self.head_b  # (T, V)
            y = softmax(logits)
        return Trace(
            cell=self.cell,
            tokens=tokens,
            unknown=unknown,
            ids=ids,
            x=x,
            states=states,
            xW=xW,
            hW=hW,
            h0=h0,
            c0=c0,
            logits=logits,
            y=y,
        )


def init_layers(
    rng: np.random.Generator,
    cell: str,
    layers: int,
    input_size: int,  # E of the first layer; the layers above take H
    hidden: int,  # H
    dtype="float32",
    forget_bias: float = 0.0,  # added to an LSTM's forget-gate b_hh: 1 makes early memories last
) -> tuple[Layer, ...]:
    """Recurrent layers initialised like PyTorch: every weight and bias U(-1/√H, 1/√H).

    Per layer the draws are b_hh, W_ih, W_hh, b_ih, in that order (the shipped
    demos were trained from this order, so it stays).
    """
    k = 1 / np.sqrt(hidden)
    G = GATES[cell]

    def u(*shape):
        return rng.uniform(-k, k, size=shape).astype(dtype)

    stack = []
    for n in range(layers):
        E = input_size if n == 0 else hidden
        b_hh = u(G * hidden)
        if cell == "lstm":
            b_hh[hidden : 2 * hidden] += forget_bias
        stack.append(Layer(cell, u(G * hidden, E), u(G * hidden, hidden), u(G * hidden), b_hh))
    return tuple(stack)


def init_model(
    vocab: tuple[str, ...],  # (V,) token string of each id
    hidden: int = 32,  # H, units per layer
    embed: int = 8,  # E, the embedding size
    cell: str = "lstm",
    layers: int = 1,
    seed: int = 0,  # the same seed gives the same weights
    forget_bias: float = 0.0,  # added to the LSTM's forget-gate b_hh
    dtype: str = "float32",
    **fields,  # any other Model field: tokenizer, name, description, meta
) -> Model:
    """An untrained embedding → layers → head model over ``vocab``, initialised like PyTorch.

    :func:`init_layers` for the recurrent layers, N(0, 1) for the embedding,
    U(-1/√H, 1/√H) for the head.
    """
    rng = np.random.default_rng(seed)
    stack = init_layers(rng, cell, layers, embed, hidden, dtype, forget_bias)
    k = 1 / np.sqrt(hidden)
    V = len(vocab)
    return Model(
        layers=stack,
        embedding=rng.standard_normal((V, embed)).astype(dtype),
        head_W=rng.uniform(-k, k, size=(V, hidden)).astype(dtype),
        head_b=rng.uniform(-k, k, size=V).astype(dtype),
        vocab=tuple(vocab),
        **fields,
    )


def random_model(
    hidden: int = 24,  # H, units per layer
    seed: int = 0,  # the same seed gives the same weights
    cell: str = "lstm",
    layers: int = 1,
    embed: int = 16,  # E, the embedding size
    tokenizer: str = "char",  # "char" (ASCII vocabulary) or "word" (common English words)
    dtype: str = "float32",
) -> Model:
    """An untrained embedding → recurrent layers → linear head model.

    Weights are drawn like PyTorch's defaults (see :func:`init_model`).
    """
    if cell not in GATES:
        raise InputError(f"unknown cell {cell!r}: expected one of {', '.join(GATES)}")
    if hidden < 1 or layers < 1 or embed < 1:
        raise InputError("hidden size, layers and embedding size must be at least 1")
    if tokenizer not in tokenize.TOKENIZERS:
        raise InputError(f"unknown tokenizer {tokenizer!r}: expected one of {', '.join(tokenize.TOKENIZERS)}")
    vocab = ASCII_VOCAB if tokenizer == "char" else word_vocab()
    G = GATES[cell]
    V = len(vocab)
    weights = layers * G * hidden * (2 * hidden + 2) + G * hidden * (embed - hidden) + V * (embed + hidden + 1)
    if weights * np.dtype(dtype).itemsize > MAX_RANDOM_BYTES:
        raise InputError(
            f"a random model with H={hidden} and {layers} layer(s) would need "
            f"{weights * np.dtype(dtype).itemsize / 1024**3:.1f} GB of weights (at most {MAX_RANDOM_BYTES // 1024**3} GB)"
        )
    return init_model(
        vocab,
        hidden=hidden,
        embed=embed,
        cell=cell,
        layers=layers,
        seed=seed,
        dtype=dtype,
        tokenizer=tokenizer,
        name=f"random-{cell}",
        description=f"untrained {cell.upper()}, H={hidden}, seed {seed}: the machinery, no meaning",
    )
