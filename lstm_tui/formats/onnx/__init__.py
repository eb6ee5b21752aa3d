"""ONNX graphs: ``LSTM``, ``GRU`` and ``RNN`` nodes (opsets 7 to 22), read with the ``onnx`` package.

This package is the ONNX reader: :func:`match` and :func:`load` here; :mod:`.graph` walks the graph and
folds constants, :mod:`.stack` orders the recurrent nodes and checks the data between them, :mod:`.nodes`
turns one node into Layers, :mod:`.ends` reads the embedding, the head and the vocabulary.

A graph is read as the model lstm-tui traces: an optional embedding (a
``Gather`` on a constant table), a stack of recurrent nodes, each fed by the
``Y`` of the one before, and an optional head (``MatMul`` + ``Add`` or
``Gemm``, then an optional ``Softmax``/``LogSoftmax``).

Weights. ONNX stacks the gate blocks along the rows as PyTorch does, in
another order, with one bias holding the input and the recurrent halves::

    LSTM  W (D, 4H, E), R (D, 4H, H) blocks i, o, f, c  ->  PyTorch i, f, g, o
    GRU   W (D, 3H, E), R (D, 3H, H) blocks z, r, h     ->  PyTorch r, z, n
    RNN   W (D, H, E),  R (D, H, H)
    B (D, 2·G·H) = [Wb, Rb]                             ->  b_ih = Wb, b_hh = Rb

D is 2 for ``direction="bidirectional"`` (forward first, then reverse: a
:class:`Bidirectional` level), else 1 (``"reverse"`` gives ``reverse=True``).
GRU ``linear_before_reset`` 1 is PyTorch's GRU, 0 (ONNX's default) puts the
reset gate before the recurrent product. ``activations`` (f, g, h for an
LSTM; f, g for a GRU; f for an RNN; twice as many when bidirectional, forward
first) keep ONNX's names; ``activation_alpha``/``activation_beta`` are taken
in order by the functions that use them, as onnxruntime does. ``clip`` is
kept. ``layout`` 1 (batch first, opset 14+) is followed.

Constants. Exporters compute weights and states with Constant, Identity,
Transpose, Reshape, Unsqueeze, Concat, Slice, Expand, ConstantOfShape and
Shape nodes. Every tensor lstm-tui needs is evaluated with
``onnx.reference.ReferenceEvaluator`` on the part of the graph that computes
it (initializers through ``onnx.numpy_helper``); a tensor that depends on a
graph input's values is not a constant. A shape-derived one (zeros as wide as
the batch) is evaluated with placeholder inputs.

Between two recurrent nodes, from the embedding to the first one and from the
last one to the head's output, only re-layout ops (:data:`RELAYOUT`) may carry
the data, and what they do is checked by running them: the evaluator must turn
a probe ``Y`` [T, D, batch, H] into [T, batch, D·H] with the forward units
first (and the head's nodes into W h + b, then the softmax, at every position).

Initial states given as constants are kept in ``Model.meta["h0"]`` and
``meta["c0"]``: one array per stack level, as wide as that level's output
(forward units first); every trace starts from them. ``meta["notes"]`` lists
what lstm-tui does differently from the graph: an initial state that is a
graph input starts from zeros; a graph whose head reads only the final state
``Y_h`` loads without that head; a graph an exporter fixed to one sequence
length runs any length. ``meta["head"]`` is ``softmax``, ``logsoftmax``,
``logits`` or ``none``: what the graph's output is. ONNX files keep no
vocabulary: ``--vocab``, else a ``vocab`` entry (a JSON list) in the model's
metadata, else the token ids "0" … "V-1" (word tokenizer: ``--text "3 1 4"``).

Refused, in one line naming the file, the node and the op: LSTM peepholes
``P`` that are not zero, ``input_forget=1``, a ``sequence_lens`` that can
differ from the sequence length, weights that are not constants, control flow
(``Loop``, ``Scan``, ``If``), recurrences unrolled into per-step ops (no
recurrent node at all), nodes that do not feed one another, LSTM, GRU and RNN
nodes in one stack, any op on the followed path that is not a re-layout, an
op that changes the token ids before the embedding, attributes of another type
than their operator's, a hidden_size that is not positive, weights with a size
of 0, and any tensor the reader would compute over 2 GB (``MAX_TENSOR_BYTES``).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...core.cells import Bidirectional
from ...core.errors import ModelFileError, UserError
from ...core.inputs import check_file, first_line
from ..registry import fail, missing_extra
from .ends import head, input_side, vocabulary_of
from .graph import Graph, show
from .nodes import directions
from .stack import stack

#: File endings this reader claims.
SUFFIXES = (".onnx", ".ort.onnx")


def match(path: str | os.PathLike, head: bytes) -> bool:
    """True for a ``.onnx`` file, or a file of another ending whose first bytes look like an ONNX model.

    An ONNX ModelProto starts with field 1, ``ir_version`` (tag 0x08, a small
    varint), then usually ``producer_name`` (0x12), ``graph`` (0x3a) or
    ``opset_import`` (0x42).
    """
    name = str(path).lower()
    if name.endswith(SUFFIXES):
        return True
    if name.endswith((".safetensors", ".npz", ".npy", ".pt", ".pth", ".h5", ".keras", ".json", ".txt")):
        return False
    return len(head) >= 3 and head[0] == 0x08 and 3 <= head[1] <= 30 and head[2] in b"\x12\x1a\x22\x28\x32\x3a\x42"


def load(path: str | os.PathLike, *, vocab_path: str | os.PathLike | None = None, name: str | None = None):
    """The :class:`~lstm_tui.core.model.Model` an ONNX file describes (see the module docstring).

    ``vocab_path`` gives the vocabulary (one token per line, or a ``.json``
    list); without it a ``vocab`` entry of the model's metadata (a JSON list)
    is used, and else the token ids themselves ("0" … "V-1", word tokenizer).
    Raises :class:`ModelFileError` with one line naming the file, the node and
    the op.
    """
    from ...core.model import Model

    shown = check_file(path, "an ONNX model", ModelFileError, regular=True)
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise fail(shown, f"cannot be used ({exc.strerror or exc})") from None
    if size == 0:
        raise fail(shown, "is empty")
    try:
        import onnx
    except ImportError:
        raise missing_extra(shown, "onnx") from None
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # DecodeError for a truncated file or other bytes, ValidationError for external data
        raise fail(shown, f"not a readable ONNX model ({first_line(exc)})") from None
    if not proto.HasField("graph") or not proto.graph.node:
        raise fail(shown, "not an ONNX model (no graph nodes)")
    try:
        graph = Graph(proto, shown)
        levels = stack(graph)
        embedding, first_input = input_side(graph, levels[0])
        head_W, head_b, head_kind, hidden, pool = head(graph, levels[-1])
    except UserError:
        raise
    except Exception as exc:  # a graph damaged in a way no check above names: still one line
        raise fail(shown, f"cannot follow the graph ({type(exc).__name__}: {first_line(exc)})") from None
    layers, h0, c0 = [], [], []
    for level in levels:
        dirs = [d for node in level for d in directions(graph, node)]
        layers.append(dirs[0].layer if len(dirs) == 1 else Bidirectional(dirs[0].layer, dirs[1].layer))
        h0.append(np.concatenate([d.h0 for d in dirs]))
        c0.append(None if dirs[0].c0 is None else np.concatenate([d.c0 for d in dirs]))
    plain = {"rnn_tanh", "rnn_relu"}
    for k in range(1, len(layers)):
        a, b = layers[0].cell, layers[k].cell
        if a != b and not {a, b} <= plain:
            raise graph.fail(f"{graph.label(levels[k][0])} follows {graph.label(levels[0][0])}: lstm-tui's layers "
                             "must all be LSTM, all GRU or all RNN")
    for k in range(1, len(layers)):
        if layers[k].input_size != layers[k - 1].output_size:
            raise graph.fail(f"{graph.label(levels[k][0])} reads {layers[k].input_size} inputs but the node before "
                             f"gives {layers[k - 1].output_size}")
    dt = np.float64 if all(lay.dtype == np.float64 for lay in layers) else np.float32
    layers = [_cast_layer(lay, dt) for lay in layers]
    if embedding is not None and embedding.shape[1] != layers[0].input_size:
        raise graph.fail(f"the embedding {first_input} is {embedding.shape[1]} wide but "
                         f"{graph.label(levels[0][0])} reads {layers[0].input_size} inputs")
    reads = hidden[0].W.shape[1] if hidden else None if head_W is None else head_W.shape[1]
    if reads is not None and reads != layers[-1].output_size:
        raise graph.fail(f"the head reads {reads} values but {graph.label(levels[-1][0])} gives "
                         f"{layers[-1].output_size}")
    vocab, tokenizer = vocabulary_of(graph, vocab_path, embedding, head_W)
    meta = {k: v for k, v in graph.props.items() if k != "vocab"}  # the file's own metadata, then what was found
    meta.update({"format": "onnx", "path": str(path), "opset": graph.opset, "producer": show(proto.producer_name),
                 "nodes": [show(n.name) for level in levels for n in level], "head": head_kind})
    if any(np.any(h) for h in h0) or any(c is not None and np.any(c) for c in c0):
        meta["h0"] = tuple(h.astype(dt) for h in h0)  # per level, forward units first
        if layers[0].cell == "lstm":
            meta["c0"] = tuple(c.astype(dt) for c in c0)
    if pool:
        meta["head_pool"] = pool
    if graph.fixed_used:
        fixed = ", ".join(str(T) for T in sorted(graph.fixed_used))
        graph.notes.append(f"the graph runs only at sequence length {fixed} (fixed by its exporter); "
                           "lstm-tui runs any length")
    if graph.notes:
        meta["notes"] = list(graph.notes)
    if graph.example and "example" not in meta:  # the ids, when the file has no vocabulary
        meta["example"] = graph.example
    kinds = "/".join(dict.fromkeys(n.op_type for level in levels for n in level))
    bi = " bidirectional" if any(isinstance(lay, Bidirectional) for lay in layers) else ""
    widths = ", ".join(str(lay.output_size) for lay in layers)
    description = f"ONNX {kinds} from {show(path.name)}: {len(layers)} level(s){bi}, widths {widths}"
    try:
        return Model(
            layers=tuple(layers),
            embedding=None if embedding is None else np.ascontiguousarray(embedding, dtype=dt),
            head_W=None if head_W is None else np.ascontiguousarray(head_W, dtype=dt),
            head_b=None if head_b is None else np.ascontiguousarray(head_b, dtype=dt),
            head_hidden=tuple(replace(d, W=np.ascontiguousarray(d.W, dtype=dt), b=np.ascontiguousarray(d.b, dtype=dt))
                              for d in hidden),
            head_pool=pool,
            vocab=vocab,
            tokenizer=tokenizer,
            name=show(name or graph.props.get("name") or path.stem),
            description=show(graph.props.get("description") or description),
            meta=meta,
        )
    except UserError as exc:  # a stack the model description refuses: named by file
        raise graph.fail(str(exc)) from None


def _cast_layer(layer, dt):
    """``layer`` (or both directions of a Bidirectional level) with its weights in dtype ``dt``."""
    if isinstance(layer, Bidirectional):
        return Bidirectional(_cast_layer(layer.forward, dt), _cast_layer(layer.backward, dt))
    if layer.dtype == dt:
        return layer
    from dataclasses import replace

    return replace(layer, W_ih=layer.W_ih.astype(dt), W_hh=layer.W_hh.astype(dt), b_ih=layer.b_ih.astype(dt),
                   b_hh=layer.b_hh.astype(dt))
