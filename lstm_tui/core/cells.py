"""Recurrent cells with PyTorch's semantics, computed in NumPy.

One weight layout for every cell, PyTorch's: the gate blocks are stacked along
the rows of ``W_ih`` (G*H, E) and ``W_hh`` (G*H, P), with biases ``b_ih`` and
``b_hh`` (G*H,). G is 4 for an LSTM (gate order i, f, g, o), 3 for a GRU
(r, z, n) and 1 for a plain RNN. H is the width of the gates (and of c), P
the width of h: P = H except for a projected LSTM.

LSTM, at step t with input x = xᵗ and previous state h = hᵗ⁻¹, c = cᵗ⁻¹::

    i  = σ(W_ii x + b_ii + W_hi h + b_hi)      input gate      (z^i)
    f  = σ(W_if x + b_if + W_hf h + b_hf)      forget gate     (z^f)
    g  = tanh(W_ig x + b_ig + W_hg h + b_hg)   candidate       (z)
    o  = σ(W_io x + b_io + W_ho h + b_ho)      output gate     (z^o)
    c' = f ⊙ c + i ⊙ g
    h' = o ⊙ tanh(c')                          (projected: h' = W_hr (o ⊙ tanh(c')), P wide)

GRU::

    r  = σ(W_ir x + b_ir + W_hr h + b_hr)      reset gate
    z  = σ(W_iz x + b_iz + W_hz h + b_hz)      update gate
    n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
                                               (linear_before_reset False: W_in x + b_in + W_hn (r ⊙ h) + b_hn)
    h' = (1 - z) ⊙ n + z ⊙ h

RNN::

    h' = tanh(W_ih x + b_ih + W_hh h + b_hh)   (or relu)

A layer may name other activations for σ, tanh and the output's tanh (LSTM
f, g, h; GRU f, g; RNN f; see ``ACTIVATIONS``), and a ``clip``: every
pre-activation (the argument of f and g) is clipped to [-clip, clip] first, as
in ONNX; c is not clipped before h's activation.

Every step records, besides its gates and states, the two matrix products
without their biases, ``xW = W_ih x`` and ``hW = W_hh h`` (G*H,), so that a
pre-activation can be split into its input part, recurrent part and bias.
For a GRU with ``linear_before_reset=False`` the n block of ``hW`` holds the
product that enters n, W_hn (r ⊙ h); the r and z blocks are W_hr h, W_hz h.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import compiled

#: Number of gate blocks stacked in the weights, per cell kind.
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}

#: The quantities a step records for each cell kind, each of shape (H,).
QUANTITIES = {
    "lstm": ("i", "f", "g", "o", "c", "h"),
    "gru": ("r", "z", "n", "h"),
    "rnn_tanh": ("h",),
    "rnn_relu": ("h",),
}

#: The state that carries a cell's memory across steps.
MEMORY = {"lstm": "c", "gru": "h", "rnn_tanh": "h", "rnn_relu": "h"}

CELLS = tuple(GATES)


def sigmoid(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function as 0.5·tanh(a/2) + 0.5: never overflows, any dtype."""
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


#: An activation: (name, alpha, beta), names and parameters as in ONNX's
#: recurrent operators: Sigmoid, Tanh, Relu, Affine (αx+β), LeakyRelu (α),
#: ThresholdedRelu (α), ScaledTanh (α·tanh(βx)), HardSigmoid (max(0, min(1, αx+β))),
#: Elu (α), Softsign, Softplus. Unused parameters are 0.
Activation = tuple[str, float, float]

def _sigmoid_d(a, alpha, beta):
    s = sigmoid(a)
    return s * (1 - s)


def _tanh_d(a, alpha, beta):
    t = np.tanh(a)
    return 1 - t * t


def _hard_sigmoid(a, alpha, beta):
    return np.clip(alpha * a + beta, 0, 1)


def _hard_sigmoid_d(a, alpha, beta):
    u = alpha * a + beta
    return np.where((u > 0) & (u < 1), alpha, 0).astype(a.dtype)


def _elu(a, alpha, beta):
    return np.where(a >= 0, a, alpha * np.expm1(np.minimum(a, 0)))


def _elu_d(a, alpha, beta):
    return np.where(a >= 0, 1, alpha * np.exp(np.minimum(a, 0))).astype(a.dtype)


def _softplus(a, alpha, beta):
    return np.logaddexp(np.zeros((), dtype=a.dtype), a)


#: name -> (f(a, α, β), f'(a, α, β)): every activation ONNX's recurrent operators
#: name, with the derivative with respect to the pre-activation a (for the
#: backward pass). ThresholdedRelu passes a where a > α, as onnxruntime does.
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "Sigmoid": (lambda a, al, be: sigmoid(a), _sigmoid_d),
    "Tanh": (lambda a, al, be: np.tanh(a), _tanh_d),
    "Relu": (lambda a, al, be: np.maximum(a, 0), lambda a, al, be: (a > 0).astype(a.dtype)),
    "Affine": (lambda a, al, be: al * a + be, lambda a, al, be: np.full_like(a, al)),
    "LeakyRelu": (lambda a, al, be: np.where(a >= 0, a, al * a), lambda a, al, be: np.where(a >= 0, 1, al).astype(a.dtype)),
    "ThresholdedRelu": (lambda a, al, be: np.where(a > al, a, 0).astype(a.dtype), lambda a, al, be: (a > al).astype(a.dtype)),
    "ScaledTanh": (lambda a, al, be: al * np.tanh(be * a), lambda a, al, be: al * be * _tanh_d(be * a, 0, 0)),
    "HardSigmoid": (_hard_sigmoid, _hard_sigmoid_d),
    "Elu": (_elu, _elu_d),
    "Softsign": (lambda a, al, be: a / (1 + np.abs(a)), lambda a, al, be: 1 / (1 + np.abs(a)) ** 2),
    "Softplus": (_softplus, lambda a, al, be: sigmoid(a)),
}

#: ONNX's alpha and beta for the activations that take them, when a file gives none.
ACTIVATION_DEFAULTS = {
    "Affine": (1.0, 0.0),
    "LeakyRelu": (0.01, 0.0),
    "ThresholdedRelu": (1.0, 0.0),
    "ScaledTanh": (1.0, 1.0),
    "HardSigmoid": (0.2, 0.5),
    "Elu": (1.0, 0.0),
}

#: Each cell's activations when a layer names none: LSTM (f, g, h) =
#: (σ for the gates, tanh for the candidate, tanh for the output); GRU (f, g);
#: RNN (f,).
DEFAULT_ACTIVATIONS: dict[str, tuple[Activation, ...]] = {
    "lstm": (("Sigmoid", 0.0, 0.0), ("Tanh", 0.0, 0.0), ("Tanh", 0.0, 0.0)),
    "gru": (("Sigmoid", 0.0, 0.0), ("Tanh", 0.0, 0.0)),
    "rnn_tanh": (("Tanh", 0.0, 0.0),),
    "rnn_relu": (("Relu", 0.0, 0.0),),
}


@dataclass(frozen=True)
class Layer:
    """One recurrent layer's parameters (one direction), in PyTorch's layout.

    The optional fields describe what PyTorch's defaults do not: an LSTM
    projection (``proj_size``: hᵗ = W_hr (o ⊙ tanh cᵗ), P wide), other
    activations (Keras, ONNX), a clip on pre-activations (ONNX ``clip``), a GRU
    whose reset gate acts before the recurrent product (Keras
    ``reset_after=False``, ONNX ``linear_before_reset=0``), and a direction that
    reads the sequence from its end.
    """

    cell: str  # "lstm", "gru", "rnn_tanh" or "rnn_relu"
    W_ih: np.ndarray  # (G*H, E)
    W_hh: np.ndarray  # (G*H, P) P = H without a projection
    b_ih: np.ndarray  # (G*H,)
    b_hh: np.ndarray  # (G*H,)
    W_hr: np.ndarray | None = None  # (P, H) LSTM projection, None without one
    activations: tuple[Activation, ...] | None = None  # None: DEFAULT_ACTIVATIONS[cell]
    clip: float | None = None  # pre-activations clipped to [-clip, clip] (ONNX), None: no clip
    linear_before_reset: bool = True  # GRU: n = g(W_in x + b_in + r ⊙ (W_hn h + b_hn)); False: W_hn (r ⊙ h) + b_hn
    reverse: bool = False  # reads steps T-1 .. 0 (ONNX "reverse", Keras go_backwards, PyTorch *_reverse)

    @property
    def hidden_size(self) -> int:
        """H, the width of the gates and of c."""
        return self.W_hh.shape[0] // GATES[self.cell]

    @property
    def output_size(self) -> int:
        """The width of h: P for a projected LSTM, else H."""
        return self.W_hh.shape[1]

    @property
    def input_size(self) -> int:
        return self.W_ih.shape[1]

    @property
    def dtype(self) -> np.dtype:
        return self.W_ih.dtype


@dataclass(frozen=True)
class Bidirectional:
    """A stack level that reads the sequence both ways: its output at position t is
    [forward hᵗ, backward hᵗ] (2P wide), forward units first. ``backward`` has
    ``reverse=True``: at position t it has read steps t..T-1."""

    forward: Layer
    backward: Layer

    @property
    def cell(self) -> str:
        return self.forward.cell

    @property
    def hidden_size(self) -> int:
        return 2 * self.forward.hidden_size

    @property
    def output_size(self) -> int:
        return 2 * self.forward.output_size

    @property
    def input_size(self) -> int:
        return self.forward.input_size

    @property
    def dtype(self) -> np.dtype:
        return self.forward.dtype

    @property
    def directions(self) -> tuple[Layer, Layer]:
        return (self.forward, self.backward)


def _act(spec: Activation) -> Callable[[np.ndarray], np.ndarray]:
    """The function of one activation spec (name, alpha, beta)."""
    name, alpha, beta = spec
    f = ACTIVATIONS[name][0]
    return lambda a: f(a, alpha, beta)


def activation(name: str, alpha: float | None = None, beta: float | None = None) -> Activation:
    """An activation spec with ONNX's default alpha/beta filled in where not given
    (LeakyRelu α 0.01, ThresholdedRelu α 1, ScaledTanh α β 1, HardSigmoid α 0.2 β 0.5,
    Elu α 1, Affine α 1 β 0). Raises ``KeyError`` for a name not in ``ACTIVATIONS``."""
    if name not in ACTIVATIONS:
        raise KeyError(name)
    a0, b0 = ACTIVATION_DEFAULTS.get(name, (0.0, 0.0))
    return (name, float(a0 if alpha is None else alpha), float(b0 if beta is None else beta))


def activation_problem(spec: Activation, names: tuple[str, str] = ("alpha", "beta")) -> str | None:
    """Why an activation (name, alpha, beta) cannot run, its name aside: an alpha or beta that is not a
    finite number (NaN or ±inf make every output NaN), worded with the parameters called ``names`` (a
    reader's own, as ONNX's activation_alpha); None when both are finite."""
    def finite(v) -> bool:
        try:
            return math.isfinite(float(v))
        except (TypeError, ValueError, OverflowError):
            return False

    bad = [f"{n} {v}" for n, v in zip(names, spec[1:]) if not finite(v)]
    expected = "finite numbers" if len(bad) > 1 else "a finite number"
    return f"activation {spec[0]} has {' and '.join(bad)}; expected {expected}" if bad else None


def activations_of(layer: Layer) -> tuple[Activation, ...]:
    """The layer's activations, its cell's defaults when it names none."""
    if layer.activations is None:
        return DEFAULT_ACTIVATIONS[layer.cell]
    return tuple((str(name), float(alpha), float(beta)) for name, alpha, beta in layer.activations)


def is_plain(layer: Layer) -> bool:
    """True for PyTorch's defaults (no projection, default activations, no clip, the
    GRU's reset after the product): the case the fast loop of :func:`run` computes."""
    return (
        layer.W_hr is None
        and layer.clip is None
        and (layer.cell != "gru" or layer.linear_before_reset)
        and activations_of(layer) == DEFAULT_ACTIVATIONS[layer.cell]
    )


def step(layer: Layer, x: np.ndarray, h: np.ndarray, c: np.ndarray | None = None) -> dict:
    """One timestep of ``layer`` from state h (P,), c (H,) on input x (E,).

    Returns the step's record: every quantity of ``QUANTITIES[layer.cell]``
    (H,; h is (P,)) plus ``xW`` and ``hW`` (G*H,). Nothing is stored on the
    layer. This is the plain form of the equations, for every field of
    :class:`Layer` (the direction aside: a step is a step); :func:`run` is the
    fast loop and must agree with it.
    """
    return _step(layer, activations_of(layer), layer.W_ih @ x, h, c)


def _step(layer: Layer, acts: tuple[Activation, ...], xW: np.ndarray, h: np.ndarray, c: np.ndarray | None) -> dict:
    """:func:`step` from the input product xW = W_ih x (G*H,) already made."""
    H = layer.hidden_size
    clip = layer.clip
    cl = (lambda a: a) if clip is None else (lambda a: np.clip(a, -clip, clip))
    if layer.cell == "lstm":
        f_act, g_act, h_act = (_act(a) for a in acts)
        hW = layer.W_hh @ h  # (4H,)
        a = cl(xW + layer.b_ih + hW + layer.b_hh)  # (4H,)
        i = f_act(a[0:H])
        f = f_act(a[H : 2 * H])
        g = g_act(a[2 * H : 3 * H])
        o = f_act(a[3 * H : 4 * H])
        c_new = f * c + i * g
        m = o * h_act(c_new)  # (H,) the output before any projection
        h_new = m if layer.W_hr is None else layer.W_hr @ m  # (P,)
        return {"xW": xW, "hW": hW, "i": i, "f": f, "g": g, "o": o, "c": c_new, "h": h_new}
    if layer.cell == "gru":
        f_act, g_act = (_act(a) for a in acts)
        ax = xW + layer.b_ih  # (3H,)
        hW = np.empty_like(xW)  # (3H,)
        hW[: 2 * H] = layer.W_hh[: 2 * H] @ h
        ah = hW[: 2 * H] + layer.b_hh[: 2 * H]  # (2H,) recurrent part of r, z
        r = f_act(cl(ax[0:H] + ah[0:H]))
        z = f_act(cl(ax[H : 2 * H] + ah[H : 2 * H]))
        if layer.linear_before_reset:
            hW[2 * H :] = layer.W_hh[2 * H :] @ h  # W_hn h
            n = g_act(cl(ax[2 * H :] + r * (hW[2 * H :] + layer.b_hh[2 * H :])))
        else:
            hW[2 * H :] = layer.W_hh[2 * H :] @ (r * h)  # W_hn (r ⊙ h)
            n = g_act(cl(ax[2 * H :] + hW[2 * H :] + layer.b_hh[2 * H :]))
        h_new = (1 - z) * n + z * h
        return {"xW": xW, "hW": hW, "r": r, "z": z, "n": n, "h": h_new}
    hW = layer.W_hh @ h  # (H,)
    return {"xW": xW, "hW": hW, "h": _act(acts[0])(cl(xW + layer.b_ih + hW + layer.b_hh))}


class Laid:
    """One layer's weights laid out for the loops of :func:`run`, made once and kept.

    Both loops lay W_hh out their own way before the steps (the NumPy loop
    transposed, its rows reordered and the sigmoid gates' halved; the compiled
    one as (H, G, H), with W_ih transposed): 16 MB copied more than once at
    H = 1024. A caller that runs the same layer chunk after chunk, or window
    after window, passes one of these to :func:`run` (``Model.laid_out`` makes
    them for a model), and each layout is made on first use only. The numbers
    are those ``run`` computes without one, to the bit.

    It keeps copies: one made before the layer's arrays change in place
    (training does that) holds the old weights; make another.
    """

    __slots__ = ("layer", "_numpy", "_compiled")

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self._numpy: tuple | None = None
        self._compiled: tuple | None = None

    def numpy(self) -> tuple:
        """What :func:`_run` lays out (see :func:`_numpy_layout`)."""
        if self._numpy is None:
            self._numpy = _numpy_layout(self.layer)
        return self._numpy

    def compiled(self) -> tuple:
        """What :func:`compiled.run` lays out (see :func:`compiled.layout`)."""
        if self._compiled is None:
            self._compiled = compiled.layout(self.layer)
        return self._compiled


def _laid(layer: Layer, laid: Laid | None) -> Laid:
    """``laid`` if it was made for this very layer, else a new one (used once)."""
    return laid if laid is not None and laid.layer is layer else Laid(layer)


def run(
    layer: Layer,
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray | None = None,
    out: dict | None = None,
    laid: Laid | None = None,
) -> dict:
    """Run ``layer`` over a whole sequence x (T, E) from state h0 (P,), c0 (H,).

    Returns the same keys as :func:`step`, each stacked over time at the
    sequence's own positions: quantities (T, H) (h (T, P)), ``xW`` and ``hW``
    (T, G*H). A ``reverse`` layer reads steps T-1..0: h0/c0 is its state
    before position T-1, and row t holds what it computed at position t
    (having read t..T-1), so its ``hW`` row t is the product of its state at t+1.

    PyTorch's defaults (see :func:`is_plain`) take a fast loop; any other
    layer takes the plain steps of :func:`step`. A forward float32 layer with
    the defaults runs in the compiled loop of :mod:`.compiled` when it is
    ready, which writes into the arrays of ``out`` (name -> array of the
    result's shape) and returns them; the other loops return arrays of their
    own, which the caller copies where it wants them.

    ``laid``, if given, holds the layer's weights already laid out for the
    loops (see :class:`Laid`); one made for another layer is not used.
    """
    laid = _laid(layer, laid)
    fast = compiled.run(layer, x, h0, c0, out, laid)  # None: not such a layer, or no compiled loop (yet)
    if fast is not None:
        return fast
    if layer.reverse:
        rec = _run(layer, np.asarray(x)[::-1], h0, c0, laid)
        return {q: v[::-1] for q, v in rec.items()}
    return _run(layer, x, h0, c0, laid)


def _run_general(layer: Layer, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None) -> dict:
    """The forward loop for any layer: :func:`step` at every position, the input products at once."""
    dt = layer.dtype
    T = x.shape[0]
    acts = activations_of(layer)
    xW = np.asarray(x, dtype=dt) @ layer.W_ih.T  # (T, G*H)
    out = {q: np.empty((T, layer.output_size if q == "h" else layer.hidden_size), dtype=dt) for q in QUANTITIES[layer.cell]}
    hW = np.empty_like(xW)  # (T, G*H)
    h = np.asarray(h0, dtype=dt)
    c = None if c0 is None else np.asarray(c0, dtype=dt)
    for t in range(T):
        rec = _step(layer, acts, xW[t], h, c)
        hW[t] = rec["hW"]
        for q, v in out.items():
            v[t] = rec[q]
        h = out["h"][t]
        c = out["c"][t] if c is not None else None
    return {"xW": xW, "hW": hW, **out}


def _numpy_layout(layer: Layer) -> tuple:
    """The weights the fast NumPy loop of :func:`_run` reads, for a plain layer:

    - LSTM: W_hhT (H, 4H) and b (4H,), rows in the order o, i, f, g, the
      sigmoid gates' halved (see ``_run``);
    - GRU: W_hhT (H, 3H), b_hh, b_ih and the scale (3H,), r and z halved;
    - RNN: W_hhT (H, H) and b = b_ih + b_hh (H,).
    """
    dt = layer.dtype
    H = layer.hidden_size
    half = np.asarray(0.5, dtype=dt)
    if layer.cell == "lstm":
        H3, H4 = 3 * H, 4 * H
        order = np.r_[H3:H4, 0:H3]  # PyTorch rows o, i, f, g
        scale = np.full(H4, half, dtype=dt)  # (4H,) ½ for o, i, f; 1 for g
        scale[H3:] = 1
        W_hhT = np.ascontiguousarray((layer.W_hh[order] * scale[:, None]).T)  # (H, 4H), row-vector product
        b = (layer.b_ih + layer.b_hh)[order] * scale  # (4H,)
        return W_hhT, b
    if layer.cell == "gru":
        scale = np.full(3 * H, half, dtype=dt)  # (3H,) ½ for r, z; 1 for n
        scale[2 * H :] = 1
        W_hhT = np.ascontiguousarray((layer.W_hh * scale[:, None]).T)  # (H, 3H)
        return W_hhT, layer.b_hh * scale, layer.b_ih * scale, scale
    return np.ascontiguousarray(layer.W_hh.T), layer.b_ih + layer.b_hh  # (H, H), (H,)


def _run(layer: Layer, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None = None, laid: Laid | None = None) -> dict:
    """The forward-reading loop (see :func:`run`)."""
    if not is_plain(layer):
        return _run_general(layer, x, h0, c0)
    laid = _laid(layer, laid)
    dt = layer.dtype
    T = x.shape[0]
    H = layer.hidden_size
    G = GATES[layer.cell]
    x = np.asarray(x, dtype=dt)
    xW = x @ layer.W_ih.T  # (T, G*H)
    hW = np.empty((T, G * H), dtype=dt)  # W_hh hᵗ⁻¹, filled per step
    h_out = np.empty((T, H), dtype=dt)
    h_prev = np.asarray(h0, dtype=dt)
    H2, H3 = 2 * H, 3 * H
    # Constants as 0-d arrays: a ufunc converts a scalar on every call.
    half = np.asarray(0.5, dtype=dt)
    two = np.asarray(2, dtype=dt)
    # σ(a) = ½·tanh(½a) + ½, and halving is exact (a power of two): the
    # sigmoid gates' rows of W_hh are halved once (_numpy_layout, kept in the
    # Laid) and those of the input part chunk by chunk, so one tanh covers every gate of a step; hW is doubled back chunk by chunk.
    # The loop walks rows of preallocated arrays (zip over column blocks gives
    # each step its views without indexing) and allocates nothing. The input
    # part of the pre-activations is prepared K steps at a time, in a buffer
    # small enough to stay in cache beside W_hh.
    K = 64
    chunks = [slice(t, min(t + K, T)) for t in range(0, T, K)]
    if layer.cell == "lstm":
        # Inside the loop the gates are kept in the order o, i, f, g and each
        # step's row of S is [o i f g | cᵗ⁻¹]: the three sigmoids are one
        # slice, and [i f] ⊙ [g cᵗ⁻¹] is one product. S's row t+1 receives cᵗ.
        H4 = 4 * H
        W_hhT, b = laid.numpy()  # (H, 4H) o i f g, o i f halved; (4H,) likewise
        S = np.empty((T + 1, 5 * H), dtype=dt)  # row t: o, i, f, g of step t, cᵗ⁻¹
        S[0, H4:] = c0
        o, i, f, g = S[:T, :H], S[:T, H:H2], S[:T, H2:H3], S[:T, H3:H4]  # (T, H) each
        c_out = S[1:, H4:]  # (T, H)
        pre = np.empty((K, H4), dtype=dt)  # input part and biases of a chunk of steps, o i f g
        hW_k = np.empty((K, H4), dtype=dt)  # W_hh hᵗ⁻¹ of a chunk, o i f g, o i f halved
        ig_fc = np.empty(H2, dtype=dt)  # i ⊙ g, f ⊙ cᵗ⁻¹
        ig, fc = ig_fc[:H], ig_fc[H:]
        tmp = np.empty(H, dtype=dt)
        for k in chunks:
            m = k.stop - k.start  # steps in this chunk
            pre_k = pre[:m]
            np.multiply(xW[k, H3:], half, out=pre_k[:, :H])  # o
            np.multiply(xW[k, :H2], half, out=pre_k[:, H:H3])  # i, f
            np.copyto(pre_k[:, H3:], xW[k, H2:H3])  # g
            np.add(pre_k, b, out=pre_k)
            S_k = S[k]
            rows = zip(pre_k, hW_k, S_k[:, :H4], S_k[:, :H3], S_k[:, H:H3], S_k[:, H3:], o[k], c_out[k], h_out[k])
            for pre_t, hW_t, a, oif_t, if_t, gc_t, o_t, c, h in rows:
                np.dot(h_prev, W_hhT, out=hW_t)
                np.add(pre_t, hW_t, out=a)
                np.tanh(a, out=a)  # tanh(½a) for o, i, f; g
                np.multiply(oif_t, half, out=oif_t)
                np.add(oif_t, half, out=oif_t)  # o, i, f
                np.multiply(if_t, gc_t, out=ig_fc)
                np.add(ig, fc, out=c)  # cᵗ = f ⊙ cᵗ⁻¹ + i ⊙ g
                np.tanh(c, out=tmp)
                np.multiply(o_t, tmp, out=h)
                h_prev = h
            np.multiply(hW_k[:m, H:H3], two, out=hW[k, :H2])  # back to i, f, g, o, undoing the halving
            np.copyto(hW[k, H2:H3], hW_k[:m, H3:])
            np.multiply(hW_k[:m, :H], two, out=hW[k, H3:])
        return {"xW": xW, "hW": hW, "i": i, "f": f, "g": g, "o": o, "c": c_out, "h": h_out}
    if layer.cell == "gru":
        W_hhT, b_hh, b_ih, scale = laid.numpy()  # (H, 3H), (3H,) each: the r, z rows halved
        ax = np.empty((K, 3 * H), dtype=dt)  # W_ih x + b_ih of a chunk of steps, r z rows halved
        acts = np.empty((T, 3 * H), dtype=dt)  # r, z, n side by side
        r, z, n = acts[:, :H], acts[:, H:H2], acts[:, H2:]  # (T, H) each
        ah = np.empty(3 * H, dtype=dt)  # W_hh hᵗ⁻¹ + b_hh, r z rows halved
        ah_rz, ah_n = ah[:H2], ah[H2:]
        for k in chunks:
            ax_k = ax[: k.stop - k.start]
            np.multiply(xW[k], scale, out=ax_k)
            np.add(ax_k, b_ih, out=ax_k)
            rows = zip(ax_k[:, :H2], ax_k[:, H2:], hW[k], acts[k, :H2], r[k], z[k], n[k], h_out[k])
            for ax_rz, ax_n, hW_t, rz_t, r_t, z_t, n_t, h in rows:
                np.dot(h_prev, W_hhT, out=hW_t)
                np.add(hW_t, b_hh, out=ah)
                np.add(ax_rz, ah_rz, out=rz_t)
                np.tanh(rz_t, out=rz_t)
                np.multiply(rz_t, half, out=rz_t)
                np.add(rz_t, half, out=rz_t)  # r, z
                np.multiply(r_t, ah_n, out=n_t)
                np.add(n_t, ax_n, out=n_t)
                np.tanh(n_t, out=n_t)  # n
                np.subtract(h_prev, n_t, out=h)  # h' = n + z ⊙ (h - n)
                np.multiply(h, z_t, out=h)
                np.add(h, n_t, out=h)
                h_prev = h
            np.multiply(hW[k, :H2], two, out=hW[k, :H2])
        return {"xW": xW, "hW": hW, "r": r, "z": z, "n": n, "h": h_out}
    W_hhT, b = laid.numpy()  # (H, H), (H,)
    pre = np.empty((K, H), dtype=dt)  # input part and biases of a chunk of steps
    zero = np.asarray(0, dtype=dt)
    relu = layer.cell == "rnn_relu"
    for k in chunks:
        pre_k = pre[: k.stop - k.start]
        np.add(xW[k], b, out=pre_k)
        for pre_t, hW_t, h in zip(pre_k, hW[k], h_out[k]):
            np.dot(h_prev, W_hhT, out=hW_t)
            np.add(pre_t, hW_t, out=h)
            if relu:
                np.maximum(h, zero, out=h)
            else:
                np.tanh(h, out=h)
            h_prev = h
    return {"xW": xW, "hW": hW, "h": h_out}
