"""Reading and writing model weights files.

A whole model is saved as safetensors under the key names of PyTorch's
``word_language_model`` example: ``encoder.weight`` (V, E) for the embedding,
``rnn.weight_ih_l{k}`` and friends for the recurrent layers, and
``decoder.weight`` (V, H), ``decoder.bias`` (V,) for the output head. The
metadata carries ``cell``, ``vocab`` (a JSON list of token strings, index =
id), ``tokenizer`` (``char`` or ``word``), ``name`` and ``description``.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .export import atomic_write
from .model import Model


def model_tensors(model: Model, prefix: str = "rnn.") -> dict[str, np.ndarray]:
    """The model's arrays under PyTorch's key names."""
    out: dict[str, np.ndarray] = {}
    for k, layer in enumerate(model.layers):
        out[f"{prefix}weight_ih_l{k}"] = layer.W_ih
        out[f"{prefix}weight_hh_l{k}"] = layer.W_hh
        out[f"{prefix}bias_ih_l{k}"] = layer.b_ih
        out[f"{prefix}bias_hh_l{k}"] = layer.b_hh
    if model.embedding is not None:
        out["encoder.weight"] = model.embedding
    if model.head_W is not None:
        out["decoder.weight"] = model.head_W
        out["decoder.bias"] = model.head_b
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def model_metadata(model: Model) -> dict[str, str]:
    """The model's metadata as safetensors stores it (strings only)."""
    meta = {"cell": model.cell, "tokenizer": model.tokenizer, "name": model.name, "description": model.description}
    if model.vocab is not None:
        meta["vocab"] = json.dumps(list(model.vocab), ensure_ascii=False)
    return meta


def save_model(model: Model, path: str | os.PathLike, *, force: bool = False) -> None:
    """Write ``model`` as one safetensors file (atomically, never over a file unless ``force``)."""
    from safetensors.numpy import save

    blob = save(model_tensors(model), metadata=model_metadata(model))
    atomic_write(path, lambda fh: fh.write(blob), force=force)
