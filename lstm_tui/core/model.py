"""A recurrent model: optional embedding, a stack of levels, optional head.

    xᵗ = E[idᵗ]                  (or a feature frame given directly)
    hᵗ_l = cell(x or hᵗ_{l-1})   for each level l (see ``cells``)
    yᵗ = softmax(W_y hᵗ_L + b_y) (if the model has an output head; σ of a head of one output, a binary classifier)
    yᵗ = softmax(W_y a(W_1 hᵗ_L + b_1) + b_y)   (a head with a hidden layer, as Keras's Dense(64, "relu"), Dense(V))

A level is a :class:`~.cells.Layer` (one direction) or a
:class:`~.cells.Bidirectional` pair, whose output at position t is
[forward hᵗ, backward hᵗ], forward units first. Levels may differ in width
(a bidirectional level is 2P wide, a projected LSTM has gates H and h P
wide); they must share the quantities they record (one cell kind, or the
two plain RNNs).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from itertools import islice

import numpy as np

from . import tokenize
from .cells import (ACTIVATIONS, GATES, QUANTITIES, Bidirectional, Laid, Layer,
                    run, sigmoid)
from .errors import InputError, int_argument, shown
from .inputs import head_reads, initial_states, token_list
from .model_checks import check_levels, check_parts, head_hidden_argument, levels_argument
from .pooling import POOLS, Pool
from .trace import Trace, layer_argument, name_argument

#: The most memory the weights of an untrained random model may take.
MAX_RANDOM_BYTES = 1024**3
MAX_RANDOM_LAYERS = 64

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


def probabilities(logits: np.ndarray) -> np.ndarray:
    """y of the head's logits (..., V): their softmax; for a head of one output (a binary classifier, Keras's
    Dense(1), PyTorch's BCEWithLogitsLoss) the probability of its class, σ(logit), which a softmax would make 1.
    Either way d log y[v] / d logits = onehot(v) - y."""
    if logits.shape[-1] == 1:
        return sigmoid(logits)
    return softmax(logits)


Level = Layer | Bidirectional


def add_note(meta: dict, line: str) -> None:
    """Add a line to ``meta["notes"]`` (which holds a line or a list of them)."""
    given = meta.get("notes") or []
    meta["notes"] = [*([given] if isinstance(given, str) else given), line]


@dataclass(frozen=True)
class Dense:
    """A hidden layer of the output head, between the last level and ``head_W``: act(W x + b)."""

    W: np.ndarray  # (out, in)
    b: np.ndarray  # (out,)
    activation: tuple[str, float, float] = ("Affine", 1.0, 0.0)  # a name of cells.ACTIVATIONS, alpha, beta

    def pre(self, x: np.ndarray) -> np.ndarray:
        """W x + b for each row of x (..., in)."""
        return x @ self.W.T + self.b

    def act(self, a: np.ndarray) -> np.ndarray:
        name, alpha, beta = self.activation
        return ACTIVATIONS[name][0](a, alpha, beta)


def directions(level: Level) -> tuple[Layer, ...]:
    """The directions of one stack level: (layer,) or (forward, backward)."""
    return level.directions if isinstance(level, Bidirectional) else (level,)


def level_width(level: Level, q: str) -> int:
    """The width of quantity q (a name of ``QUANTITIES``, ``xW`` or ``hW``) at one level:
    h is P per direction, xW and hW G*H, the rest H; a bidirectional level is twice as wide."""
    lay = directions(level)
    one = lay[0]
    w = one.output_size if q == "h" else GATES[one.cell] * one.hidden_size if q in ("xW", "hW") else one.hidden_size
    return w * len(lay)


@dataclass(frozen=True)
class Model:
    """A traced recurrent model (all arrays share one float dtype)."""

    layers: tuple[Level, ...]  # level k feeds level k+1: Layer or Bidirectional
    embedding: np.ndarray | None = None  # (V, E) token id -> input vector
    head_W: np.ndarray | None = None  # (V, W) output head on the last level's h (W its width)
    head_b: np.ndarray | None = None  # (V,)
    vocab: tuple[str, ...] | None = None  # (V,) token string of each id
    tokenizer: str = "char"  # "char", "word" or "keras:<standardize>:<split>" (core.tokenize)
    name: str = "model"  # shown in the title bar
    description: str = ""  # one line for --list-models and the help screen
    meta: dict = field(default_factory=dict)  # anything else the file said
    head_hidden: tuple[Dense, ...] = ()  # the head's hidden layers, in order, between the last level and head_W
    head_pool: str = ""  # "max" or "mean": the head reads the pool of h over the steps so far (core.pooling)

    def __post_init__(self):
        object.__setattr__(self, "layers", levels_argument(self.layers))
        check_levels(self.layers)
        object.__setattr__(self, "head_hidden", head_hidden_argument(self.head_hidden))
        check_parts(self)  # the embedding, head and vocabulary: arrays of the layers' dtype, widths that chain
        if self.embedding is not None and self.embedding.shape[1] != self.input_size:
            raise InputError(
                f"the embedding gives vectors of size {self.embedding.shape[1]}, layer 0 takes {self.input_size}"
            )
        if self.head_pool and self.head_pool not in POOLS:
            raise InputError(f"the head's pooling {self.head_pool!r} is not one of {', '.join(POOLS)}")
        if self.head_pool and self.head_W is None:
            raise InputError(f"a pooling ({self.head_pool}) without a head to read it")

    def head_input(self, h: np.ndarray) -> np.ndarray:
        """What ``head_W`` reads from the last level's h (..., W): h through the head's hidden layers."""
        for d in self.head_hidden:
            h = d.act(d.pre(h))
        return h

    def logits_of(self, h: np.ndarray) -> np.ndarray:
        """The head's logits (..., V) of what it reads (..., W): the last level's h, or its pool."""
        h = head_reads(h, self.output_size, self.head_W is not None, self.name)
        return self.head_input(h) @ self.head_W.T + self.head_b

    def pool_start(self) -> Pool | None:
        """A pooling head's pool before the first step (None without one)."""
        return Pool(self.head_pool) if self.head_pool else None

    def head_logits(self, h: np.ndarray, pool: Pool | None = None) -> np.ndarray:
        """The logits (T, V) at consecutive steps whose last level's h is ``h`` (T, W): of h
        itself, or of its pool carried on from ``pool`` (the steps before; None: none)."""
        if self.head_pool:
            h = (pool or self.pool_start()).rows(h)
        return self.logits_of(h)

    @property
    def cell(self) -> str:
        return self.layers[0].cell

    def width(self, q: str, layer: int) -> int:
        """The width of quantity q (``QUANTITIES``, ``xW``, ``hW``) at level ``layer`` (from 0; -1 the last)."""
        return level_width(self.layers[layer_argument(layer, len(self.layers))], self._quantity(q))

    def widths(self, q: str = "h") -> tuple[int, ...]:
        """The width of quantity q at every level."""
        q = self._quantity(q)
        return tuple(level_width(level, q) for level in self.layers)

    def _quantity(self, q) -> str:
        """q if this model records it (or ``xW``, ``hW``); level_width reads any other name as H."""
        if type(q) is str and (q in QUANTITIES[self.cell] or q in ("xW", "hW")):
            return q
        return name_argument(q, (*QUANTITIES[self.cell], "xW", "hW"))

    @property
    def uniform(self) -> bool:
        """True when every quantity has the same width at every level (a trace then keeps
        each quantity as one (L, T, W) array; otherwise as one (T, W_l) array per level)."""
        qs = (*QUANTITIES[self.cell], "xW", "hW")
        return all(len(set(self.widths(q))) == 1 for q in qs)

    @property
    def notes(self) -> tuple[str, ...]:
        """What the reader noted about the file, one line each (``meta["notes"]`` holds a
        line or a list of lines; nothing when it holds none)."""
        given = self.meta.get("notes")
        if not given:
            return ()
        lines = [given] if isinstance(given, str) else list(given)
        return tuple(" ".join(str(line).split()) for line in lines if str(line).strip())

    @property
    def bidirectional(self) -> bool:
        """True when some level reads the sequence backwards (a Bidirectional level or a reverse layer)."""
        return any(d.reverse for level in self.layers for d in directions(level))

    @property
    def hidden_size(self) -> int:
        """The width of every level's gates and states, for a model where that is one number
        (:meth:`width` gives each level's own; ValueError when they differ)."""
        ws = {w for q in QUANTITIES[self.cell] for w in self.widths(q)}
        if len(ws) != 1:
            raise ValueError(f"model {self.name!r}: its layers or quantities differ in width; use Model.width(q, layer)")
        return ws.pop()

    @property
    def output_size(self) -> int:
        """The width of the last level's h (what the head reads)."""
        return self.width("h", -1)

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
        dt = dtype_argument(dtype)
        if dt == self.dtype:
            return self

        def cast(a):
            return None if a is None else a.astype(dt)

        def layer(a: Layer) -> Layer:
            return replace(a, W_ih=cast(a.W_ih), W_hh=cast(a.W_hh), b_ih=cast(a.b_ih), b_hh=cast(a.b_hh), W_hr=cast(a.W_hr))

        def level(v: Level) -> Level:
            return Bidirectional(layer(v.forward), layer(v.backward)) if isinstance(v, Bidirectional) else layer(v)

        layers = tuple(level(v) for v in self.layers)
        hidden = tuple(replace(d, W=cast(d.W), b=cast(d.b)) for d in self.head_hidden)
        return replace(self, layers=layers, embedding=cast(self.embedding), head_W=cast(self.head_W), head_b=cast(self.head_b),
                       head_hidden=hidden)

    def tokens(self, text: str) -> list[str]:
        """Split text with this model's tokenizer (characters its vocabulary holds only as code points, as those)."""
        if not isinstance(text, str):
            raise InputError(f"text {shown(text)}: expected text (a str)")
        toks = tokenize.split(text, self.tokenizer)
        if self.tokenizer != "char" or self.vocab is None or text.isascii() and "\r\n" not in text:
            return toks  # ASCII: every character is one code point already
        return tokenize.fit_vocab(toks, self.vocab)

    def start_text(self, fallback: str) -> str:
        """The text to start on when none is given: the file's example, else ``fallback`` if the vocabulary
        holds a token of it, else the vocabulary's tokens 1 to 12 (a file's own vocabulary, such as a
        checkpoint's, that knows no token of ``fallback`` would read it all as unknown)."""
        if "example" in self.meta or self.vocab is None or not self.takes_tokens:
            return self.meta.get("example", fallback)
        tokens = self.tokens(fallback)
        if tokens and not tokenize.encode(tokens, self.vocab)[1].all():
            return fallback
        chars = tokenize.split("ab", self.tokenizer) == ["a", "b"]  # a character tokenizer: tokens written together
        words = (t for t in self.vocab[1:] if t.strip() and t not in (tokenize.UNK, tokenize.KERAS_UNK)
                 and self.tokens(t) == [t])  # each token reads back as itself
        return ("" if chars else " ").join(islice(words, 12)) or fallback

    def trace(
        self,
        inputs: str | list[str] | np.ndarray,
        h0=None,  # per level (W_l,) of that level's h width, forward units first; None: meta["h0"] or zeros
        c0=None,  # per level (W_l,) of that level's c width (LSTM); None: meta["c0"] or zeros
    ) -> Trace:
        """Run the model over text, a token list or feature frames (T, E).

        Returns the :class:`Trace` of every step of every layer.
        """
        tokens, ids, unknown, frames = self.prepare(inputs)
        x = frames if frames is not None else self.embedding[ids]  # (T, E)
        if c0 is not None and self.cell != "lstm":
            raise InputError(f"c0: a {self.cell} has no cell state c (only an LSTM takes c0)")
        h0 = self.meta.get("h0") if h0 is None else initial_states(h0, "h", self.widths("h"), self.dtype, True)
        c0 = self.meta.get("c0") if c0 is None else initial_states(c0, "c", self.widths("c"), self.dtype, True)
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
            if inputs.dtype.kind not in "biuf":
                raise InputError(f"input frames of {inputs.dtype}: expected numbers, [T, {self.input_size}]")
            with np.errstate(over="ignore"):  # (too large for x's type: refused below, without NumPy's warning)
                x = np.asarray(inputs, dtype=self.dtype)
            if x.ndim != 2 or x.shape[1] != self.input_size:
                raise InputError(
                    f"input frames have shape {tuple(inputs.shape)}: expected [T, {self.input_size}]"
                )
            if not np.isfinite(x).all():
                given = np.isfinite(np.asarray(inputs, dtype=np.float64)).all()  # finite, but too large for x's type
                raise InputError(f"input frames hold values too large for {x.dtype.name} (the model's weights are "
                                 f"{x.dtype.name})" if given else "input frames hold NaN or Inf values")
            return [str(k + 1) for k in range(x.shape[0])], None, np.zeros(x.shape[0], dtype=bool), x
        if not self.takes_tokens:
            raise InputError(f"model {self.name!r} has no embedding and vocabulary: give it frames")
        toks = self.tokens(inputs) if isinstance(inputs, str) else token_list(inputs)
        ids, unknown = tokenize.encode(toks, self.vocab)
        return toks, ids, unknown, None

    def trace_vectors(
        self,
        x: np.ndarray,  # (T, E) the first layer's input vectors
        tokens: tuple[str, ...],  # (T,) the steps' labels
        ids: np.ndarray | None,  # (T,) vocabulary ids, None for frames
        unknown: np.ndarray,  # (T,) bool
        h0=None,  # per level (W_l,), W_l = width("h", l); an (L, W) array for a uniform model; zeros if None
        c0=None,  # per level (W_l,), W_l = width("c", l) (LSTM); zeros if None
        laid: dict | None = None,  # from laid_out(): the weights laid out once for a run in chunks
        pool: Pool | None = None,  # a pooling head's pool of the steps before x's first (None: none)
    ) -> Trace:
        """The trace of input vectors already prepared, from initial states (h0, c0):
        what :meth:`trace` runs, and how a long trace recomputes a window.

        A caller that runs the model chunk after chunk passes ``laid`` (from
        :meth:`laid_out`, made once), so that each chunk does not lay out the
        recurrent weights again; the numbers are the same either way.

        ``h0[l]`` is level l's initial h; for a bidirectional level it is
        [forward, backward] (forward units first), the backward half being
        that direction's state before position T-1 (ONNX ``initial_h`` with
        its directions concatenated, Keras's initial states in order).
        """
        L, dt, T = self.num_layers, self.dtype, x.shape[0]
        uniform = self.uniform
        lstm = self.cell == "lstm"

        def initial(given, q: str):  # a list of (W_l,) per level, checked (inputs.initial_states)
            per = initial_states(given, q, list(self.widths(q)), dt)
            return np.stack(per) if uniform else per

        h0 = initial(h0, "h")
        c0 = initial(c0, "c") if lstm else None
        qs = QUANTITIES[self.cell]
        if uniform:
            states = {q: np.empty((L, T, self.width(q, 0)), dtype=dt) for q in qs}
            xW = np.empty((L, T, self.width("xW", 0)), dtype=dt)
            hW = np.empty((L, T, self.width("hW", 0)), dtype=dt)
        else:
            states = {q: [np.empty((T, self.width(q, n)), dtype=dt) for n in range(L)] for q in qs}
            xW = [np.empty((T, self.width("xW", n)), dtype=dt) for n in range(L)]
            hW = [np.empty((T, self.width("hW", n)), dtype=dt) for n in range(L)]
        inp = x
        for k, level in enumerate(self.layers):
            dirs = directions(level)
            D = len(dirs)
            for d, layer in enumerate(dirs):
                P, H, GH = layer.output_size, layer.hidden_size, GATES[layer.cell] * layer.hidden_size
                # One direction writes straight into the trace where the loop can (the compiled one does).
                out = {"xW": xW[k], "hW": hW[k], **{q: v[k] for q, v in states.items()}} if D == 1 else None
                rec = run(
                    layer,
                    inp,
                    h0[k][d * P : (d + 1) * P],
                    None if c0 is None else c0[k][d * H : (d + 1) * H],
                    out=out,
                    laid=None if laid is None else laid.get((k, d)),
                )
                if D == 1:
                    for name, v in rec.items():
                        if v is not out[name]:
                            out[name][...] = v
                    continue
                xW[k][:, d * GH : (d + 1) * GH] = rec.pop("xW")
                hW[k][:, d * GH : (d + 1) * GH] = rec.pop("hW")
                for q, v in rec.items():
                    w = v.shape[1]
                    states[q][k][:, d * w : (d + 1) * w] = v
            inp = states["h"][k]
        logits = y = None
        pool = pool or self.pool_start()
        if self.head_W is not None:
            logits = self.head_logits(inp, pool)  # (T, V)
            y = probabilities(logits)
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
            directions=self.direction_flags,
            pool=pool,
        )

    def laid_out(self) -> dict[tuple[int, int], Laid]:
        """Each layer direction's :class:`~.cells.Laid`, by (level, direction): for
        :meth:`trace_vectors` called chunk after chunk on this model (made lazily, per loop)."""
        return {(k, d): Laid(layer) for k, level in enumerate(self.layers) for d, layer in enumerate(directions(level))}

    @property
    def direction_flags(self) -> tuple[tuple[bool, ...], ...]:
        """Per level, whether each of its directions reads backwards: ((False,), (False, True), ...)."""
        return tuple(tuple(d.reverse for d in directions(level)) for level in self.layers)


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


def _gb(size: int) -> str:
    """A size in GB for a message: 298.0, or 1.5e+72 for one past a million (a number typed with 5,000 digits)."""
    gb = size / 1024**3
    return f"{gb:.1f}" if gb < 1e6 else f"{gb:.1e}"


def dtype_argument(dtype) -> np.dtype:
    """float32 or float64, as a name, a NumPy type or a dtype; else an InputError (None is NumPy's float64: refused)."""
    try:
        dt = np.dtype(dtype) if isinstance(dtype, (str, type, np.dtype)) else None
    except TypeError:  # a name NumPy does not know
        dt = None
    if dt not in (np.float32, np.float64):
        raise InputError(f"dtype {shown(dtype)}: expected float32 or float64")
    return dt


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
    if not isinstance(cell, str) or cell not in GATES:  # (a list is unhashable: a TypeError, once)
        raise InputError(f"unknown cell {shown(cell)}: expected one of {', '.join(GATES)}")
    hidden, layers, embed = (int_argument(v, name, "a whole number from 1", low=1)
                             for v, name in ((hidden, "hidden"), (layers, "layers"), (embed, "embed")))
    seed = None if seed is None else int_argument(seed, "seed", "a whole number from 0, or None", low=0)
    dtype = dtype_argument(dtype)
    if not isinstance(tokenizer, str) or tokenizer not in tokenize.TOKENIZERS:
        raise InputError(f"unknown tokenizer {shown(tokenizer)}: expected one of {', '.join(tokenize.TOKENIZERS)}")
    vocab = ASCII_VOCAB if tokenizer == "char" else word_vocab()
    G = GATES[cell]
    V = len(vocab)
    weights = layers * G * hidden * (2 * hidden + 2) + G * hidden * (embed - hidden) + V * (embed + hidden + 1)
    if weights * np.dtype(dtype).itemsize > MAX_RANDOM_BYTES:
        raise InputError(
            f"a random model with H={hidden} and {layers} layer(s) would need "
            f"{_gb(weights * np.dtype(dtype).itemsize)} GB of weights (at most {MAX_RANDOM_BYTES // 1024**3} GB)"
        )
    if layers > MAX_RANDOM_LAYERS:  # small ones pass the size cap, but each costs Python's time in every step
        raise InputError(f"a random model of {layers} layers: at most {MAX_RANDOM_LAYERS}")
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
