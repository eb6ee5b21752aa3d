"""lstm-tui's own model files: one safetensors file, written by :func:`save_model`.

The arrays use PyTorch's names (see ``pytorch``): ``rnn.weight_ih_l{k}`` and
friends per stack level, ``_reverse`` for the backward direction of a
bidirectional level, ``rnn.weight_hr_l{k}`` for an LSTM projection,
``encoder.weight`` (V, E) for the embedding and ``decoder.weight`` (V, W),
``decoder.bias`` (V,) for the head. The string metadata carries ``cell``,
``vocab`` (a JSON list of token strings, index = id), ``tokenizer`` (``char``
or ``word``), ``name``, ``description`` and ``layers``: a JSON list with one
entry per level, a list of one or two directions, each
``{"cell", "activations", "clip", "linear_before_reset", "reverse"}`` (the
fields of :class:`~lstm_tui.core.cells.Layer` that the names cannot say), so
a model read from Keras or ONNX keeps its activations and directions. A head
with hidden layers keeps them as ``head.{n}.weight`` (out, in) and
``head.{n}.bias``, their activations in ``head_hidden`` (a JSON list of
``[name, alpha, beta]``), and a pooling head its pool in ``head_pool`` (``max`` or ``mean``).
Files without ``layers`` (the shipped demos, older saves) are plain PyTorch
state dicts and read by ``pytorch``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from ..core.backward import parameters
from ..core.cells import DEFAULT_ACTIVATIONS, GATES, Layer
from ..core.inputs import first_line, read_json
from ..core.export import atomic_write
from ..core.model import Model
from ..core.pooling import POOLS
from . import pytorch
from .arrays import directions, open_arrays, safetensors_header
from .registry import fail, show, vocabulary

#: This reader takes --prefix.
TAKES_PREFIX = True

#: Activation names a file may give (ONNX's names, as ``core.cells`` runs them).
ACTIVATIONS = ("Sigmoid", "Tanh", "Relu", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid",
               "Elu", "Softsign", "Softplus")


def model_tensors(model: Model, prefix: str = "rnn.") -> dict[str, np.ndarray]:
    """The model's arrays under PyTorch's key names (``prefix`` before the recurrent ones)."""
    return {k: np.ascontiguousarray(v) for k, v in parameters(model, prefix).items()}


def _options(layer: Layer) -> dict:
    acts = None if layer.activations is None else [[n, float(a), float(b)] for n, a, b in layer.activations]
    return {"cell": layer.cell, "activations": acts, "clip": layer.clip,
            "linear_before_reset": bool(layer.linear_before_reset), "reverse": bool(layer.reverse)}


def model_metadata(model: Model) -> dict[str, str]:
    """The model's metadata as safetensors stores it (strings only)."""
    meta = {"cell": model.cell, "tokenizer": model.tokenizer, "name": model.name, "description": model.description}
    if model.vocab is not None:
        meta["vocab"] = json.dumps(list(model.vocab), ensure_ascii=False)
    meta["layers"] = json.dumps([[_options(d) for d in directions(level)] for level in model.layers])
    if model.head_hidden:
        meta["head_hidden"] = json.dumps([list(d.activation) for d in model.head_hidden])
    if model.head_pool:
        meta["head_pool"] = model.head_pool
    return meta


def save_model(model: Model, path: str | os.PathLike, *, force: bool = False) -> None:
    """Write ``model`` as one safetensors file (atomically, never over a file unless ``force``)."""
    from safetensors.numpy import save

    blob = save(model_tensors(model), metadata=model_metadata(model))
    atomic_write(path, lambda fh: fh.write(blob), force=force)


def match(path: Path, head: bytes) -> bool:
    """A safetensors file whose metadata has ``layers`` (written by :func:`save_model`)."""
    header = safetensors_header(path, head)
    return header is not None and "layers" in (header.get("__metadata__") or {})


def load(path: Path, *, prefix: str | None = None, vocab_path=None) -> Model:
    """A model written by :func:`save_model`."""
    vocab = vocabulary(vocab_path)

    def build(f):
        spec = layer_spec(f.name, f.meta.get("layers"))
        head = head_spec(f.name, f.meta.get("head_hidden"))
        pool = f.meta.get("head_pool", "")
        if pool not in ("", *POOLS):
            raise fail(f.name, f"metadata 'head_pool' is {show(repr(pool))}: expected one of {', '.join(POOLS)}")
        return pytorch.build(f, path, prefix, vocab, spec=spec, fmt="lstm-tui", head_hidden=head, head_pool=pool)

    return open_arrays(path, show(str(path)), build)


def _finite(v) -> bool:
    """A JSON number that is a finite float: not NaN or ±inf, nor a whole number past float's range
    (1 followed by 400 zeros, on which math.isfinite raises OverflowError)."""
    return isinstance(v, (int, float)) and -sys.float_info.max <= v <= sys.float_info.max


def _activation_ok(a) -> bool:
    return isinstance(a, list) and len(a) == 3 and a[0] in ACTIVATIONS and all(_finite(v) for v in a[1:])


def head_spec(file: str, text) -> list[tuple[str, float, float]]:
    """The metadata ``head_hidden``, checked: the activation of each hidden layer of the head ([] without)."""
    if text is None:
        return []
    try:
        spec = read_json(text) if isinstance(text, str) else None
    except ValueError:
        spec = None
    if not isinstance(spec, list) or len(spec) > 64 or not all(_activation_ok(a) for a in spec):
        raise fail(file, f"metadata 'head_hidden' is not a list of [name, alpha, beta] with names from "
                         f"{', '.join(ACTIVATIONS)}")
    return [(a[0], float(a[1]), float(a[2])) for a in spec]


def layer_spec(file: str, text) -> list[list[dict]]:
    """The metadata ``layers``, checked: per level, per direction, Layer's keyword fields (and ``cell``)."""
    def bad(why: str):
        return fail(file, f"metadata 'layers' {why}")

    try:
        spec = read_json(text) if isinstance(text, str) else None
    except ValueError as exc:
        raise bad(f"is not JSON ({first_line(exc)})") from None
    if not isinstance(spec, list) or not spec:
        raise bad("is not a list of levels")
    out = []
    for k, level in enumerate(spec):
        if not isinstance(level, list) or len(level) not in (1, 2):
            raise bad(f"level {k} is not a list of one or two directions")
        dirs = []
        for d, opts in enumerate(level):
            where = f"level {k} direction {d}"
            if not isinstance(opts, dict) or opts.get("cell") not in GATES:
                raise bad(f"{where}: cell is not one of {', '.join(GATES)}")
            cell = opts["cell"]
            acts = opts.get("activations")
            if acts is not None:
                n = len(DEFAULT_ACTIVATIONS[cell])
                ok = isinstance(acts, list) and len(acts) == n and all(_activation_ok(a) for a in acts)
                if not ok:
                    raise bad(f"{where}: activations is not {n} [name, alpha, beta] with names from "
                              f"{', '.join(ACTIVATIONS)}")
                acts = tuple((a[0], float(a[1]), float(a[2])) for a in acts)
            clip = opts.get("clip")
            if clip is not None and not (_finite(clip) and clip > 0):
                raise bad(f"{where}: clip is not a positive number")
            flags = {n: opts.get(n, dflt) for n, dflt in (("linear_before_reset", True), ("reverse", d == 1))}
            if not all(isinstance(v, bool) for v in flags.values()):
                raise bad(f"{where}: linear_before_reset and reverse are not true or false")
            dirs.append({"cell": cell, "activations": acts, "clip": None if clip is None else float(clip), **flags})
        out.append(dirs)
    return out



