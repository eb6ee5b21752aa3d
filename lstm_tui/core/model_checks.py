"""One line for a model whose parts do not fit together: what :class:`~.model.Model` checks when it is made
(by a weights file's reader, or by hand from the Python API's Model, Layer and Bidirectional)."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

from . import tokenize
from .cells import ACTIVATIONS, DEFAULT_ACTIVATIONS, GATES, QUANTITIES, Bidirectional, Layer, activation_problem
from .errors import InputError, shown
from .inputs import check_vocab

_ARRAYS = ("W_ih", "W_hh", "b_ih", "b_hh")


def _float_array(a, what: str, ndim: int | None = None) -> None:
    """An :class:`InputError` unless ``a`` is a NumPy array of float32 or float64 (of ``ndim`` dimensions)."""
    if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
        kind = f"of {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
        raise InputError(f"{what} is {'an array ' if isinstance(a, np.ndarray) else 'a '}{kind}: "
                         "expected a NumPy array of float32 or float64")
    if ndim is not None and a.ndim != ndim:
        raise InputError(f"{what} has shape {list(a.shape)}: expected {ndim} dimension{'s' if ndim > 1 else ''}")


def head_hidden_argument(hidden) -> tuple:
    """A model's ``head_hidden``: a list (or any iterable) of Dense, as a tuple (each checked by :func:`check_parts`)."""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Iterable):
        raise InputError(f"head_hidden {shown(hidden)}: expected a list of Dense, () for none")
    return tuple(hidden)


def _is_spec(a) -> bool:
    """Whether ``a`` is an activation's (name, alpha, beta)."""
    return isinstance(a, (tuple, list)) and len(a) == 3 and isinstance(a[0], str)


def levels_argument(levels) -> tuple:
    """A model's ``layers``: a list (or any iterable) of Layer and Bidirectional, as a tuple."""
    if isinstance(levels, (Layer, Bidirectional)):
        raise InputError("layers: expected a list of Layer or Bidirectional (put a lone layer in a list: [layer])")
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Iterable):
        raise InputError(f"layers {shown(levels)}: expected a list of Layer or Bidirectional")
    levels = tuple(levels)
    for n, level in enumerate(levels):
        if not isinstance(level, (Layer, Bidirectional)):
            raise InputError(f"layers: layer {n} is {shown(level)}, not a Layer or a Bidirectional")
        if isinstance(level, Bidirectional):
            for side in ("forward", "backward"):
                if not isinstance(getattr(level, side), Layer):
                    raise InputError(f"layer {n}: its {side} direction {shown(getattr(level, side))}: expected a Layer")
    return levels


def _check_layer(layer: Layer, where: str) -> None:
    """One line for a direction whose arrays or options do not fit together."""
    if not isinstance(layer.cell, str) or layer.cell not in GATES:
        raise InputError(f"{where}: unknown cell {shown(layer.cell)}, expected one of {', '.join(GATES)}")
    for name in _ARRAYS + (("W_hr",) if layer.W_hr is not None else ()):
        _float_array(getattr(layer, name), f"{where}: {name}")
    G = GATES[layer.cell]
    shapes = {name: np.shape(getattr(layer, name)) for name in ("W_ih", "W_hh", "b_ih", "b_hh")}
    if len(shapes["W_ih"]) != 2 or len(shapes["W_hh"]) != 2 or shapes["W_ih"][0] % G or shapes["W_ih"][0] == 0:
        raise InputError(f"{where}: W_ih {shapes['W_ih']} and W_hh {shapes['W_hh']} are not [{G}·H, E] and [{G}·H, P]")
    GH = shapes["W_ih"][0]
    if shapes["W_hh"][0] != GH or shapes["b_ih"] != (GH,) or shapes["b_hh"] != (GH,):
        raise InputError(
            f"{where}: shapes W_ih {shapes['W_ih']}, W_hh {shapes['W_hh']}, b_ih {shapes['b_ih']}, b_hh {shapes['b_hh']} "
            f"do not share {G}·H = {GH} rows"
        )
    H, P = GH // G, shapes["W_hh"][1]
    if layer.W_hr is None and P != H:
        raise InputError(f"{where}: W_hh has {P} columns, expected H = {H} (or a projection W_hr)")
    if layer.W_hr is not None and (layer.cell != "lstm" or np.shape(layer.W_hr) != (P, H)):
        raise InputError(f"{where}: a projection W_hr must be an LSTM's [P, H] = [{P}, {H}], got {np.shape(layer.W_hr)}")
    for name in ("linear_before_reset", "reverse"):
        if not isinstance(getattr(layer, name), (bool, np.bool_)):  # ("no" read as True)
            raise InputError(f"{where}: {name} {shown(getattr(layer, name))}: expected True or False")
    if layer.activations is not None:
        want = len(DEFAULT_ACTIVATIONS[layer.cell])
        if isinstance(layer.activations, str) or not all(_is_spec(a) for a in layer.activations):
            raise InputError(f"{where}: activations {shown(layer.activations)}: expected (name, alpha, beta) for each "
                             f"of the {layer.cell}'s {want}")
        names = [a[0] for a in layer.activations]
        if len(names) != want or any(name not in ACTIVATIONS for name in names):
            raise InputError(
                f"{where}: activations {names} for a {layer.cell}: expected {want} of {', '.join(ACTIVATIONS)}"
            )
        for spec in layer.activations:  # NaN or ±inf (a reader's or a caller's): every output would be NaN
            if problem := activation_problem(spec):
                raise InputError(f"{where}: {problem}")
    if layer.clip is not None and (isinstance(layer.clip, bool) or not isinstance(layer.clip, numbers.Real)
                                   or not layer.clip > 0):
        raise InputError(f"{where}: clip must be a positive number, got {layer.clip}")


def check_levels(levels: tuple) -> None:
    """One line for a stack that cannot run: mixed quantities, directions that do not pair, widths that do not chain."""
    if not levels:
        raise InputError("a model needs at least one recurrent layer")
    from .model import directions, level_width

    for n, level in enumerate(levels):
        for layer in directions(level):
            _check_layer(layer, f"layer {n}" + (" (reverse)" if isinstance(level, Bidirectional) and layer.reverse else ""))
    kinds = {level.cell for level in levels}
    if len({QUANTITIES[k] for k in kinds}) > 1:
        raise InputError(
            f"layers mix cell kinds ({', '.join(sorted(kinds))}): a model's layers must all be LSTM, all GRU or all RNN"
        )
    for n, level in enumerate(levels):
        if isinstance(level, Bidirectional):
            fw, bw = level.forward, level.backward
            if fw.reverse or not bw.reverse:
                raise InputError(f"layer {n}: a bidirectional layer needs a forward direction and a reverse one")
            if (fw.cell, fw.hidden_size, fw.output_size, fw.input_size) != (bw.cell, bw.hidden_size, bw.output_size, bw.input_size):
                raise InputError(f"layer {n}: the two directions of a bidirectional layer differ in cell or size")
        if n and level.input_size != level_width(levels[n - 1], "h"):
            raise InputError(
                f"layer {n} takes inputs of size {level.input_size}, layer {n - 1} gives {level_width(levels[n - 1], 'h')}"
            )


def check_parts(model) -> None:
    """The arrays around the layers (embedding, head, the head's hidden layers) and the vocabulary and tokenizer:
    every array a NumPy float array of the layers' one dtype, a head with its bias, no more tokens than embeddings."""
    from .model import Dense, directions

    arrays = [(f"layer {n} {name}", getattr(layer, name)) for n, level in enumerate(model.layers)
              for layer in directions(level) for name in _ARRAYS]
    for what, a, ndim in (("the embedding", model.embedding, 2), ("head_W", model.head_W, 2), ("head_b", model.head_b, 1)):
        if a is not None:
            _float_array(a, what, ndim)
            arrays.append((what, a))
    if (model.head_W is None) != (model.head_b is None):
        raise InputError("head_W and head_b: expected both (an output head) or neither")
    if model.head_W is not None and model.head_b.shape != model.head_W.shape[:1]:
        raise InputError(f"head_b has shape {list(model.head_b.shape)}: expected [{model.head_W.shape[0]}], head_W's rows")
    width, gives = model.output_size, "the last layer gives"
    for n, d in enumerate(model.head_hidden):  # each one's types, then its shapes chained from the last layer's h
        if not isinstance(d, Dense):
            raise InputError(f"head_hidden: layer {n} is {shown(d)}, not a Dense")
        if not _is_spec(d.activation):
            raise InputError(f"the head's hidden layer {n}: activation {shown(d.activation)}: expected (name, alpha, beta)")
        _float_array(d.W, f"the head's hidden layer {n} W", 2), _float_array(d.b, f"the head's hidden layer {n} b", 1)
        arrays += [(f"the head's hidden layer {n} W", d.W), (f"the head's hidden layer {n} b", d.b)]
        if model.head_W is None or d.W.shape[1] != width or d.b.shape != (d.W.shape[0],):
            raise InputError(f"the head's hidden layer {n} has weights {list(d.W.shape)} and a bias {list(d.b.shape)}: "
                             f"expected [out, {width}] and [out] ({gives} {width}), and a head after it")
        if d.activation[0] not in ACTIVATIONS:
            raise InputError(f"the head's hidden layer {n} has an unknown activation {d.activation[0]!r}")
        if problem := activation_problem(d.activation):
            raise InputError(f"the head's hidden layer {n}: {problem}")
        width, gives = d.W.shape[0], f"hidden layer {n} gives"
    if model.head_W is not None and model.head_W.shape[1] != width:
        raise InputError(f"the output head takes vectors of size {model.head_W.shape[1]}, {gives} {width}")
    kinds: dict = {}
    for what, a in arrays:  # each dtype with the first array of it
        kinds.setdefault(a.dtype.name, what)
    if len(kinds) > 1:
        raise InputError(f"the model's arrays mix {' and '.join(f'{k} ({w})' for k, w in sorted(kinds.items()))}: "
                         "expected one float dtype (convert them with .astype)")
    if not isinstance(model.tokenizer, str) or not tokenize.is_known(model.tokenizer):
        raise InputError(f"tokenizer {shown(model.tokenizer)}: expected one of {', '.join(tokenize.TOKENIZERS)} "
                         "or keras:<standardize>:<split>")
    if model.vocab is not None:
        check_vocab(list(model.vocab) if isinstance(model.vocab, (tuple, list)) else model.vocab, "the model", InputError)
    if model.vocab is not None and model.embedding is not None and len(model.vocab) > len(model.embedding):
        raise InputError(f"the vocabulary has {len(model.vocab)} tokens, the embedding {len(model.embedding)} rows: "
                         "expected a row for each token")
