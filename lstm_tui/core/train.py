"""A small NumPy trainer: next-token cross-entropy, truncated BPTT, clipping, Adam.

The training data is one long stream of token ids (N,), or a list of
documents (each its own array of ids). The trainer walks along it in chunks
of ``chunk`` steps: each chunk's inputs are ids[p : p+T] and its targets
ids[p+1 : p+T+1]; the state at the end of a chunk is the initial state of the
next (so the model sees the whole stream), but gradients stop at the chunk's
start (truncated backpropagation through time). Each document starts from
zero state, as the model will when it is traced, and each pass over the
data takes the documents in a new random order; a single stream starts each
pass from zero state at a random offset.

Each update, with g the gradients of the mean cross-entropy of one chunk::

    g ← g · min(1, clip / ‖g‖)          (‖g‖ over all parameters together)
    m ← β₁ m + (1 - β₁) g
    v ← β₂ v + (1 - β₂) g²
    p ← p - lr · (m / (1 - β₁ᵏ)) / (√(v / (1 - β₂ᵏ)) + ε)

(Adam, Kingma and Ba 2015). Everything is seeded: the same model, data and
config give the same weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .backward import backward, cross_entropy, parameters
from .cells import Layer
from .model import Model, init_model  # noqa: F401 - init_model is part of the trainer's API


@dataclass(frozen=True)
class TrainConfig:
    """How to train; the defaults suit a small model on a stream of a few thousand tokens."""

    steps: int = 1000  # Adam updates, one chunk each
    chunk: int = 64  # T of truncated BPTT: gradients flow back at most this many steps
    lr: float = 3e-3  # Adam's step size at the start
    lr_end: float | None = None  # step size at the last update (linear decay); None keeps lr
    beta1: float = 0.9  # decay of the gradient's running mean
    beta2: float = 0.999  # decay of the squared gradient's running mean
    eps: float = 1e-8  # keeps Adam's division finite
    clip: float = 1.0  # largest global gradient norm; larger gradients are scaled down to it
    seed: int = 0  # picks the offsets where passes over the stream start


def copy_model(model: Model) -> Model:
    """A model with the same fields and its own copies of every parameter array."""
    layers = tuple(Layer(a.cell, a.W_ih.copy(), a.W_hh.copy(), a.b_ih.copy(), a.b_hh.copy()) for a in model.layers)

    def own(a):
        return None if a is None else a.copy()

    return dataclasses.replace(
        model,
        layers=layers,
        embedding=own(model.embedding),
        head_W=own(model.head_W),
        head_b=own(model.head_b),
        head_hidden=tuple(dataclasses.replace(d, W=d.W.copy(), b=d.b.copy()) for d in model.head_hidden),
        meta=dict(model.meta),
    )


def _check(model: Model, ids: np.ndarray) -> None:
    if model.embedding is None or model.head_W is None:
        raise ValueError(f"model {model.name!r} needs an embedding and an output head to train on tokens")
    if model.head_pool:  # its loss at a step reads every step before, across the chunks training cuts
        raise ValueError(f"model {model.name!r} pools the steps before its head: training reads next-token heads")
    V = model.embedding.shape[0]
    if ids.ndim != 1 or ids.size < 2:
        raise ValueError("the training stream (and each document) must be a 1-D array of at least 2 token ids")
    if ids.min() < 0 or ids.max() >= V:
        raise ValueError(f"token ids must lie in [0, {V})")


def chunk_loss(
    model: Model,
    ids: np.ndarray,  # (T+1,) inputs ids[:-1], targets ids[1:]
    h0: np.ndarray | None = None,  # (L, H) initial state, zeros if None
    c0: np.ndarray | None = None,  # (L, H) initial cell state (LSTM)
    with_grads: bool = True,
    weights: np.ndarray | None = None,  # (T+1,) weight of predicting each id (weights[0] unused)
) -> tuple[float, dict | None, np.ndarray, np.ndarray | None]:
    """Mean next-token cross-entropy of one chunk and its gradients.

    Returns (loss, grads by parameter name or None, h at the end (L, H),
    c at the end (L, H) or None). The inputs go in as embedding rows.
    """
    x = model.embedding[ids[:-1]]  # (T, E)
    trace = model.trace(x, h0=h0, c0=c0)
    loss, dlogits = cross_entropy(trace.logits, ids[1:], None if weights is None else weights[1:])
    h_end = trace.states["h"][:, -1].copy()  # (L, H)
    c_end = trace.states["c"][:, -1].copy() if "c" in trace.states else None
    if not with_grads:
        return loss, None, h_end, c_end
    grads = backward(model, trace, dlogits=dlogits)
    g = grads.params
    demb = np.zeros_like(model.embedding)  # (V, E): the frames came from these rows
    np.add.at(demb, ids[:-1], grads.x)
    g["encoder.weight"] = demb
    return loss, g, h_end, c_end


def clip_grads(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale every gradient in place so that their joint norm is at most ``max_norm``.

    Returns the norm before clipping, ‖g‖ = √(Σ over all arrays of Σ g²).
    """
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / norm
    return norm


def _documents(data, weights) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """The training data as a list of id arrays, and their weights (None where there are none)."""
    one = isinstance(data, np.ndarray) and data.ndim == 1
    docs = [np.asarray(d, dtype=np.int64) for d in ([data] if one else data)]
    if not docs:
        raise ValueError("no training data: the list of documents is empty")
    if weights is None:
        ws = [None] * len(docs)
    else:
        ws = [np.asarray(w, dtype=np.float64) for w in ([weights] if one else weights)]
        if len(ws) != len(docs) or any(w.shape != d.shape for w, d in zip(ws, docs)):
            raise ValueError("weights must have the shape of the token ids, document by document")
    return docs, ws


def evaluate(
    model: Model,
    data: np.ndarray | Sequence[np.ndarray],  # (N,) one stream, or a list of documents
    chunk: int = 256,
    weights: np.ndarray | Sequence[np.ndarray] | None = None,  # like data: weight of predicting each id
) -> float:
    """Mean next-token cross-entropy over all the data; each document runs on from zero state.

    With ``weights``, the weighted mean Σ wᵗ ℓᵗ / Σ wᵗ (over every id but each document's first).
    """
    docs, ws = _documents(data, weights)
    total = norm = 0.0
    for ids, w in zip(docs, ws):
        _check(model, ids)
        h = c = None
        for p in range(0, ids.size - 1, chunk):
            part = ids[p : p + chunk + 1]
            wp = None if w is None else w[p : p + chunk + 1]
            loss, _, h, c = chunk_loss(model, part, h, c, with_grads=False, weights=wp)
            total += loss * (part.size - 1)
        norm += ids.size - 1 if w is None else float(w[1:].sum())
    return total / norm


def _chunks(sizes: list[int], T: int, rng: np.random.Generator, stream: bool):
    """Endless (document, start, stop, fresh) spans of at most T+1 ids, pass after pass.

    Documents come in a new random order each pass, each from its start with
    ``fresh`` (zero) state; a single stream starts each pass at a random
    offset below T instead, so that chunk boundaries move.
    """
    while True:
        order = [0] if stream else rng.permutation(len(sizes))
        for d in order:
            start = int(rng.integers(0, min(T, sizes[d] - 1))) if stream else 0
            for p in range(start, sizes[d] - 1, T):
                yield int(d), p, min(p + T + 1, sizes[d]), p == start


def train(
    model: Model,
    data: np.ndarray | Sequence[np.ndarray],  # (N,) one token stream, or a list of documents
    config: TrainConfig = TrainConfig(),
    weights: np.ndarray | Sequence[np.ndarray] | None = None,  # like data: weight of predicting each id
    callback: Callable[[int, float, Model], None] | None = None,  # called after each update
) -> tuple[Model, list[float]]:
    """Train a copy of ``model`` on the data; returns it and each update's chunk loss.

    ``model`` needs an embedding and an output head; it is left untouched.
    ``weights`` make some predictions count more than others (a task whose
    point is one step in ten can weigh that step up).
    """
    docs, ws = _documents(data, weights)
    for ids in docs:
        _check(model, ids)
    model = copy_model(model)
    params = parameters(model)  # the arrays Adam updates in place
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    rng = np.random.default_rng(config.seed)
    stream = isinstance(data, np.ndarray) and data.ndim == 1
    spans = _chunks([d.size for d in docs], config.chunk, rng, stream=stream)
    h = c = None
    losses: list[float] = []
    for k in range(1, config.steps + 1):
        d, start, stop, fresh = next(spans)
        if fresh:
            h = c = None
        w = None if ws[d] is None else ws[d][start:stop]
        loss, grads, h, c = chunk_loss(model, docs[d][start:stop], h, c, weights=w)
        losses.append(loss)
        clip_grads(grads, config.clip)
        lr = config.lr
        if config.lr_end is not None and config.steps > 1:
            lr += (config.lr_end - config.lr) * (k - 1) / (config.steps - 1)
        step_size = float(lr * np.sqrt(1 - config.beta2**k) / (1 - config.beta1**k))  # both bias corrections
        eps = float(config.eps * np.sqrt(1 - config.beta2**k))
        for name, p in params.items():
            g = grads[name]
            m[name] *= config.beta1
            m[name] += (1 - config.beta1) * g
            v[name] *= config.beta2
            v[name] += (1 - config.beta2) * g * g
            p -= step_size * m[name] / (np.sqrt(v[name]) + eps)
        if callback is not None:
            callback(k, loss, model)
    return model, losses
