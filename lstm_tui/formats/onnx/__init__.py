"""ONNX graphs: ``LSTM``, ``GRU`` and ``RNN`` nodes (opsets 7 to 22), read with the ``onnx`` package.

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
nodes in one stack, and any op on the followed path that is not a re-layout.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..core.cells import DEFAULT_ACTIVATIONS, Bidirectional, Layer
from ..core.errors import ModelFileError, UserError, inert
from ..core.inputs import check_file, check_vocab, first_line
from .arrays import tokenizer_of
from .registry import fail, missing_extra, vocabulary

#: File endings this reader claims.
SUFFIXES = (".onnx", ".ort.onnx")

#: ONNX recurrent ops -> (cell kind, gate blocks G, activations per direction).
RECURRENT = {"LSTM": ("lstm", 4, 3), "GRU": ("gru", 3, 2), "RNN": ("rnn", 1, 1)}
#: PyTorch's gate blocks, as indices into ONNX's blocks.
GATE_ORDER = {"lstm": (0, 2, 3, 1), "gru": (1, 0, 2), "rnn": (0,)}
#: Ops that move data without computing on it: the only ones followed between nodes.
RELAYOUT = frozenset(
    {"Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Concat", "Slice", "Split",
     "Cast", "Expand", "Dropout", "Gather"}
)
#: Ops whose outputs depend on their inputs' shapes only.
SHAPE_OPS = frozenset({"Shape", "Size"})
#: Ops never followed: their subgraphs read the outer graph.
CONTROL = frozenset({"Loop", "Scan", "If", "SequenceMap"})
#: Opsets whose recurrent ops lstm-tui reads (the first with today's LSTM, GRU and RNN is 7).
MIN_OPSET = 7

#: ONNX activation names (any case) -> the name kept in a Layer.
ACTIVATION_NAMES = {
    n.lower(): n
    for n in ("Sigmoid", "Tanh", "Relu", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid",
              "Elu", "Softsign", "Softplus")
}
#: Which of (alpha, beta) an activation takes.
USES = {"Affine": (1, 1), "LeakyRelu": (1, 0), "ThresholdedRelu": (1, 0), "ScaledTanh": (1, 1),
        "HardSigmoid": (1, 1), "Elu": (1, 0)}
#: Defaults where the ONNX operator of that name has them and onnxruntime agrees.
ALPHA_BETA_DEFAULTS = {"LeakyRelu": (0.01, 0.0), "HardSigmoid": (0.2, 0.5), "Elu": (1.0, 0.0)}

#: Sequence lengths the probes run with (two, so a shape computed for one length is caught).
PROBE_LENGTHS = (3, 2)


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
    from ..core.model import Model

    path = Path(path)
    shown = check_file(path, "an ONNX model", ModelFileError)
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
        graph = _Graph(proto, shown)
        levels = graph.stack()
        embedding, first_input = graph.input_side(levels[0])
        head_W, head_b, head_kind = graph.head(levels[-1])
    except UserError:
        raise
    except Exception as exc:  # a graph damaged in a way no check above names: still one line
        raise fail(shown, f"cannot follow the graph ({type(exc).__name__}: {first_line(exc)})") from None
    layers, h0, c0 = [], [], []
    for level in levels:
        dirs = [d for node in level for d in graph.directions(node)]
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
    if head_W is not None and head_W.shape[1] != layers[-1].output_size:
        raise graph.fail(f"the head reads {head_W.shape[1]} values but {graph.label(levels[-1][0])} gives "
                         f"{layers[-1].output_size}")
    vocab, tokenizer = _vocab(graph, vocab_path, embedding, head_W)
    meta = {k: v for k, v in graph.props.items() if k != "vocab"}  # the file's own metadata, then what was found
    meta.update({"format": "onnx", "path": str(path), "opset": graph.opset, "producer": _show(proto.producer_name),
                 "nodes": [_show(n.name) for level in levels for n in level], "head": head_kind})
    if any(np.any(h) for h in h0) or any(c is not None and np.any(c) for c in c0):
        meta["h0"] = tuple(h.astype(dt) for h in h0)  # per level, forward units first
        if layers[0].cell == "lstm":
            meta["c0"] = tuple(c.astype(dt) for c in c0)
    if graph.fixed_used:
        fixed = ", ".join(str(T) for T in sorted(graph.fixed_used))
        graph.notes.append(f"the graph runs only at sequence length {fixed} (fixed by its exporter); "
                           "lstm-tui runs any length")
    if graph.notes:
        meta["notes"] = list(graph.notes)
    kinds = "/".join(dict.fromkeys(n.op_type for level in levels for n in level))
    bi = " bidirectional" if any(isinstance(lay, Bidirectional) for lay in layers) else ""
    widths = ", ".join(str(lay.output_size) for lay in layers)
    description = f"ONNX {kinds} from {_show(path.name)}: {len(layers)} level(s){bi}, widths {widths}"
    try:
        return Model(
            layers=tuple(layers),
            embedding=None if embedding is None else np.ascontiguousarray(embedding, dtype=dt),
            head_W=None if head_W is None else np.ascontiguousarray(head_W, dtype=dt),
            head_b=None if head_b is None else np.ascontiguousarray(head_b, dtype=dt),
            vocab=vocab,
            tokenizer=tokenizer,
            name=_show(name or graph.props.get("name") or path.stem),
            description=_show(graph.props.get("description") or description),
            meta=meta,
        )
    except UserError as exc:  # a stack the model description refuses: named by file
        raise graph.fail(str(exc)) from None


# --- one direction of one node ------------------------------------------------


class _Direction:
    """One direction of a recurrent node: its Layer and initial state (H,) each."""

    def __init__(self, layer: Layer, h0: np.ndarray, c0: np.ndarray | None):
        self.layer, self.h0, self.c0 = layer, h0, c0


def _cast_layer(layer, dt):
    if isinstance(layer, Bidirectional):
        return Bidirectional(_cast_layer(layer.forward, dt), _cast_layer(layer.backward, dt))
    if layer.dtype == dt:
        return layer
    from dataclasses import replace

    return replace(layer, W_ih=layer.W_ih.astype(dt), W_hh=layer.W_hh.astype(dt), b_ih=layer.b_ih.astype(dt),
                   b_hh=layer.b_hh.astype(dt))


def _show(text) -> str:
    """A name from the graph for a one-line message (bytes of a damaged string field decoded, escapes inert)."""
    return inert(text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))


def _vocab(graph, vocab_path, embedding, head_W):
    """(vocab, tokenizer) from --vocab, the model's metadata, or the token ids."""
    V = embedding.shape[0] if embedding is not None else (head_W.shape[0] if head_W is not None else None)
    vocab = vocabulary(vocab_path)
    where = _show(str(vocab_path))
    if vocab is None and "vocab" in graph.props:
        where = "metadata 'vocab'"
        try:
            vocab = json.loads(graph.props["vocab"])
        except (json.JSONDecodeError, RecursionError) as exc:
            raise graph.fail(f"metadata 'vocab' is not a JSON list of token strings ({first_line(exc)})") from None
        vocab = check_vocab(vocab, f"{graph.name}: metadata 'vocab'")
    if vocab is None:
        if embedding is None:
            return None, "char"
        graph.notes.append(f"no vocabulary: tokens are the ids 0 to {V - 1}, written as numbers")
        return tuple(str(k) for k in range(V)), "word"
    if V is not None and len(vocab) != V:
        what = "embedding" if embedding is not None else "head"
        raise graph.fail(f"vocabulary {where} has {len(vocab)} tokens but the {what} has {V} rows")
    return vocab, tokenizer_of(graph.name, graph.props, vocab)


# --- the graph ----------------------------------------------------------------


class _Graph:
    """An ONNX graph with its producers and consumers; every error names the file, the node and its op."""

    def __init__(self, proto, shown: str):
        from onnx import numpy_helper

        self.proto = proto
        self.name = shown
        self._to_array = numpy_helper.to_array
        g = proto.graph
        self.nodes = list(g.node)
        self.index = {id(n): k for k, n in enumerate(self.nodes)}
        self.init = {t.name: t for t in g.initializer}
        self.inputs = {v.name: v for v in g.input if v.name not in self.init}
        self.outputs = [v.name for v in g.output]
        self.producer = {}
        self.consumers = defaultdict(list)
        for n in self.nodes:
            for t in n.output:
                if t:
                    self.producer[t] = n
            for t in n.input:
                if t:
                    self.consumers[t].append(n)
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.props = {p.key: p.value for p in proto.metadata_props}
        self.notes: list[str] = []
        self._consts: dict[str, np.ndarray] = {}
        self._init_values: dict[str, np.ndarray] = {}
        self._directions: dict[int, list[_Direction]] = {}
        self.lengths = PROBE_LENGTHS + self.fixed_lengths()
        self.fixed_used: set[int] = set()

    def init_value(self, name: str) -> np.ndarray:
        """Initializer ``name`` as an array, read once."""
        if name not in self._init_values:
            self._init_values[name] = self.array(self.init[name])
        return self._init_values[name]

    def array(self, tensor) -> np.ndarray:
        """An initializer's values (numpy_helper), or a refusal naming it when they cannot be read."""
        try:
            return self._to_array(tensor)
        except Exception as exc:  # a damaged file: unknown data type, data of the wrong size
            raise self.fail(f"initializer {_show(tensor.name)!r} cannot be read ({first_line(exc)})") from None

    def fixed_lengths(self) -> tuple[int, ...]:
        """Lengths an exporter may have fixed: static sizes of the graph inputs and of small int64 constants
        (a Reshape to [7, 1, 8] runs only at T = 7). The probes try them after their own."""
        found = {d.dim_value for v in self.inputs.values() for d in v.type.tensor_type.shape.dim
                 if d.HasField("dim_value")}
        small = [t for t in self.init.values() if t.data_type == 7 and 0 < np.prod(t.dims, dtype=np.int64) <= 8]
        small += [a.t for n in self.nodes if n.op_type == "Constant" for a in n.attribute
                  if a.name == "value" and a.t.data_type == 7 and 0 < np.prod(a.t.dims, dtype=np.int64) <= 8]
        for t in small:
            try:
                found.update(int(v) for v in self._to_array(t).reshape(-1))
            except Exception:  # damaged: whoever needs this tensor says so
                continue
        return tuple(sorted(v for v in found if 1 < v <= 4096 and v not in PROBE_LENGTHS))[:16]

    # messages

    def fail(self, message: str) -> ModelFileError:
        return fail(self.name, message)

    def label(self, node) -> str:
        name = node.name or f"#{self.index[id(node)]}"
        return f"node {_show(name)!r} ({_show(node.op_type)})"

    # walking the graph

    def ancestors(self, targets, stop=frozenset()):
        """The nodes that compute ``targets`` (graph order), not looking past the tensors in ``stop``.

        Returns ``(nodes, value_inputs, shape_inputs, blockers)``: graph inputs
        whose values or only whose shapes are read, and recurrent or
        control-flow nodes whose values are read (node, via tensor).
        """
        seen, nodes = set(), {}
        value_inputs, shape_inputs, blockers = {}, set(), []
        todo = [(t, False, None) for t in targets]
        while todo:
            t, shape_only, consumer = todo.pop()
            if not t or (t, shape_only) in seen or t in stop or t in self.init:
                continue
            seen.add((t, shape_only))
            if t in self.inputs:
                if shape_only:
                    shape_inputs.add(t)
                else:
                    value_inputs.setdefault(t, consumer)
                continue
            node = self.producer.get(t)
            if node is None:
                raise self.fail(f"tensor {_show(t)!r} has no producer, initializer or graph input")
            if not shape_only and (node.op_type in RECURRENT or node.op_type in CONTROL):
                blockers.append((node, t))
            nodes[id(node)] = node
            deeper = shape_only or node.op_type in SHAPE_OPS
            todo.extend((u, deeper, node) for u in node.input)
        return sorted(nodes.values(), key=lambda n: self.index[id(n)]), value_inputs, shape_inputs, blockers

    def run(self, nodes, feeds: dict, outputs: list[str]) -> list[np.ndarray]:
        """Evaluate ``outputs`` of ``nodes`` with onnx.reference from ``feeds`` and the initializers."""
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        used = {t for n in nodes for t in n.input} | set(outputs)
        # initializers go in as inputs, as the arrays already read: nothing large is copied into the part
        feeds = {**{t: self.init_value(t) for t in used if t in self.init and t not in feeds}, **feeds}
        ins = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
               for k, v in feeds.items()]
        outs = [helper.make_empty_tensor_value_info(t) for t in outputs]
        graph = helper.make_graph(nodes, "part", ins, outs)
        model = helper.make_model(graph, opset_imports=list(self.proto.opset_import),
                                  ir_version=self.proto.ir_version or 7)
        model.functions.extend(self.proto.functions)
        return ReferenceEvaluator(model).run(outputs, feeds)

    def placeholders(self, names, free: int = 1) -> dict[str, np.ndarray]:
        """Zeros for graph inputs read only for their shapes: a free dimension is ``free``."""
        from onnx import helper

        feeds = {}
        for t in names:
            tt = self.inputs[t].type.tensor_type
            if not tt.HasField("shape"):
                raise self.fail(f"graph input {_show(t)!r} has no declared shape to evaluate the constants with")
            dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else free for d in tt.shape.dim]
            try:
                dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
            except Exception:
                raise self.fail(f"graph input {_show(t)!r} has an unknown element type {tt.elem_type}") from None
            feeds[t] = np.zeros(dims, dtype=dtype)
        return feeds

    def constant(self, tensor: str, what: str, node) -> np.ndarray | None:
        """The value of ``tensor`` (input ``what`` of ``node``), or None if it depends on a graph input's values.

        Refuses a tensor computed from a recurrent or control-flow node.
        """
        if tensor in self._consts:
            return self._consts[tensor]
        if tensor in self.init:
            value = self.init_value(tensor)
        else:
            nodes, value_inputs, shape_inputs, blockers = self.ancestors([tensor])
            if blockers:
                b = blockers[0][0]
                raise self.fail(f"{what} of {self.label(node)} is computed by {self.label(b)}: only constants are read")
            if value_inputs:
                return None
            try:
                (value,) = self.run(nodes, self.placeholders(shape_inputs), [tensor])
            except ModelFileError:
                raise
            except Exception as exc:
                raise self.fail(f"cannot evaluate {what} of {self.label(node)} ({first_line(exc)})") from None
        value = np.asarray(value)
        self._consts[tensor] = value
        return value

    def weight(self, node, k: int, what: str, required: bool = True) -> np.ndarray | None:
        """Input k of ``node`` as a finite float array; refuses one that is not a constant."""
        tensor = node.input[k] if len(node.input) > k else ""
        if not tensor:
            if required:
                raise self.fail(f"{self.label(node)} has no input {what}")
            return None
        value = self.constant(tensor, what, node)
        if value is None:
            src = next(iter(self.ancestors([tensor])[1]))
            raise self.fail(f"{what} of {self.label(node)} comes from graph input {_show(src)!r}: "
                            "only constant weights are read")
        if value.dtype.kind != "f" and "float" not in value.dtype.name:  # bfloat16 and float8 are kind "V"
            raise self.fail(f"{what} of {self.label(node)} holds {value.dtype} values, expected floating-point")
        if value.dtype not in (np.float32, np.float64):
            value = value.astype(np.float32)  # float16, bfloat16: computed in float32
        if not np.isfinite(value).all():
            raise self.fail(f"{what} of {self.label(node)} holds NaN or Inf values")
        return value

    # the stack of recurrent nodes

    def recurrent_feeders(self, tensor: str) -> list:
        """The recurrent nodes whose outputs reach ``tensor`` through data (not through Shape)."""
        _, _, _, blockers = self.ancestors([tensor])
        out = {}
        for node, _ in blockers:
            if node.op_type in CONTROL:
                raise self.fail(f"stopped at {self.label(node)}: control flow is not followed")
            out.setdefault(id(node), node)
        # the nearest ones only: drop a node that feeds another listed node
        upstream = {id(b) for node in out.values() for b in self.ancestors_rnn(node)}
        return [node for key, node in out.items() if key not in upstream]

    def ancestors_rnn(self, node) -> list:
        return [b for b, _ in self.ancestors([node.input[0]])[3]] if node.input else []

    def stack(self) -> list[list]:
        """The recurrent nodes as stack levels, first to last: a level is one node, or a forward and a
        reverse node reading the same input."""
        rnn = [n for n in self.nodes if n.op_type in RECURRENT and n.domain in ("", "ai.onnx")]
        if not rnn:
            ctl = next((n for n in self.nodes if n.op_type in CONTROL), None)
            if ctl is not None:
                raise self.fail(f"no LSTM, GRU or RNN node: stopped at {self.label(ctl)}; a recurrence written as "
                                "a loop cannot be read")
            ops = ", ".join(dict.fromkeys(_show(n.op_type) for n in self.nodes))
            if len(ops) > 100:
                ops = ops[:99] + "…"
            last = self.producer.get(self.outputs[0]) if self.outputs else None
            where = f"; the output is computed by {self.label(last)}" if last is not None else ""
            hint = ""
            names = " ".join([*self.inputs, *(n.name for n in self.nodes[:50])]).lower()
            if "keras" in names:
                hint = "; for a Keras model open its .keras file (model.save) instead"
            elif _show(self.proto.producer_name).lower().startswith("pytorch"):
                hint = "; torch.onnx.export(..., dynamo=False) writes LSTM, GRU and RNN nodes"
            raise self.fail(f"no LSTM, GRU or RNN node in the graph (ops: {ops}){where}: a recurrence unrolled "
                            f"into per-step ops cannot be read{hint}")
        if self.opset < MIN_OPSET:
            raise self.fail(f"opset {self.opset}: lstm-tui reads recurrent nodes of opsets {MIN_OPSET} and later")
        groups: dict[str, list] = {}
        for n in rnn:
            if not n.input or not n.input[0]:
                raise self.fail(f"{self.label(n)} has no input X")
            groups.setdefault(n.input[0], []).append(n)
        levels = list(groups.values())
        feeds = {id(level[0]): self.recurrent_feeders(level[0].input[0]) for level in levels}
        roots = [level for level in levels if not feeds[id(level[0])]]
        if len(roots) != 1:
            a, b = roots[0][0], roots[1][0]
            raise self.fail(f"{self.label(a)} and {self.label(b)} do not feed one another: lstm-tui reads one stack")
        order = [roots[0]]
        while True:
            nxt = [lv for lv in levels if {id(n) for n in feeds[id(lv[0])]} & {id(n) for n in order[-1]}]
            if not nxt:
                break
            if len(nxt) > 1:
                raise self.fail(f"{self.label(order[-1][0])} feeds both {self.label(nxt[0][0])} and "
                                f"{self.label(nxt[1][0])}: lstm-tui reads one stack")
            level = nxt[0]
            got = {id(n) for n in feeds[id(level[0])]}
            if got != {id(n) for n in order[-1]}:
                raise self.fail(f"{self.label(level[0])} reads more than the node before it: lstm-tui reads one stack")
            order.append(level)
        for level in levels:
            if not any(level is lv for lv in order):
                raise self.fail(f"{self.label(level[0])} is not fed by {self.label(order[-1][0])} or the nodes "
                                f"before it: lstm-tui reads one stack")
        for level in order:
            self.check_level(level)
        for k in range(1, len(order)):
            self.follow(order[k - 1], order[k])
        return order

    def check_level(self, level) -> None:
        if len(level) == 1:
            self.directions(level[0])
            return
        dirs = [(n, self.attrs(n).get("direction", "forward")) for n in level]
        pair = sorted(d for _, d in dirs) == ["forward", "reverse"]
        if len(level) != 2 or not pair or level[0].op_type != level[1].op_type:
            raise self.fail(f"{self.label(level[0])} and {self.label(level[1])} read the same input but are not "
                            "one forward and one reverse node of the same op")
        level.sort(key=lambda n: self.attrs(n).get("direction", "forward") != "forward")
        for n in level:
            self.directions(n)

    # attributes and weights of one node

    def attrs(self, node) -> dict:
        from onnx import helper

        out = {}
        for a in node.attribute:
            v = helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            elif isinstance(v, list):
                v = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v]
            out[a.name] = v
        return out

    def activations(self, node, cell: str, per: int, D: int) -> list[tuple | None]:
        """Per direction, the activations as (name, alpha, beta) tuples, or None for the defaults."""
        a = self.attrs(node)
        names = a.get("activations")
        alphas = list(a.get("activation_alpha", []))
        betas = list(a.get("activation_beta", []))
        if not names:
            if alphas or betas:
                raise self.fail(f"{self.label(node)} has activation_alpha/beta without activations")
            return [None] * D
        if len(names) != per * D:
            raise self.fail(f"{self.label(node)} lists {len(names)} activations, expected {per * D}")
        acts = []
        for raw in names:
            name = ACTIVATION_NAMES.get(str(raw).lower())
            if name is None:
                raise self.fail(f"{self.label(node)}: activation {_show(str(raw))!r} is not one of "
                                f"{', '.join(ACTIVATION_NAMES.values())}")
            use_a, use_b = USES.get(name, (0, 0))
            da, db = ALPHA_BETA_DEFAULTS.get(name, (None, None))
            alpha = beta = 0.0
            if use_a:
                alpha = alphas.pop(0) if alphas else da
            if use_b:
                beta = betas.pop(0) if betas else db
            if alpha is None or beta is None:
                raise self.fail(f"{self.label(node)}: activation {name} needs activation_alpha and activation_beta "
                                "(runtimes disagree on its defaults)")
            acts.append((name, float(alpha), float(beta)))
        if alphas or betas:  # onnxruntime hands them out in order and leaves the rest unused: so does lstm-tui
            self.notes.append(f"{self.label(node)} lists more activation_alpha/beta values than its activations "
                              "take: the extra ones are unused")
        return [tuple(acts[d * per : (d + 1) * per]) for d in range(D)]

    def directions(self, node) -> list[_Direction]:
        """The node's directions (forward first), each with its Layer and initial state."""
        if id(node) in self._directions:
            return self._directions[id(node)]
        label = self.label(node)
        op = node.op_type
        kind, G, per = RECURRENT[op]
        a = self.attrs(node)
        direction = a.get("direction", "forward")
        if direction not in ("forward", "reverse", "bidirectional"):
            raise self.fail(f"{label}: direction {_show(str(direction))!r} is not forward, reverse or bidirectional")
        D = 2 if direction == "bidirectional" else 1
        layout = int(a.get("layout", 0))
        if layout not in (0, 1):
            raise self.fail(f"{label}: layout {layout} is not 0 or 1")
        if op == "LSTM" and int(a.get("input_forget", 0)) != 0:
            raise self.fail(f"{label} has input_forget=1 (coupled input and forget gates): not supported")
        W = self.weight(node, 1, "W")
        R = self.weight(node, 2, "R")
        B = self.weight(node, 3, "B", required=False)
        H = a.get("hidden_size")
        if W.ndim != 3 or R.ndim != 3:
            raise self.fail(f"{label}: W has shape {list(W.shape)} and R {list(R.shape)}, expected 3-D "
                            f"[{D}, {G}*H, E] and [{D}, {G}*H, H]")
        if H is None:
            H = R.shape[2]
        H = int(H)
        E = W.shape[2]
        for what, arr, shape in (("W", W, (D, G * H, E)), ("R", R, (D, G * H, H)), ("B", B, (D, 2 * G * H))):
            if arr is not None and arr.shape != shape:
                raise self.fail(f"{label}: {what} has shape {list(arr.shape)}, expected {list(shape)} "
                                f"(direction {direction}, hidden_size {H})")
        if B is None:
            B = np.zeros((D, 2 * G * H), dtype=W.dtype)
        seq = node.input[4] if len(node.input) > 4 else ""
        if seq:
            self.check_sequence_lens(node, seq, layout)
        if op == "LSTM":
            P = self.weight(node, 7, "P (peepholes)", required=False)
            if P is not None and np.any(P):
                raise self.fail(f"{label} has peephole weights P that are not zero: not supported")
        h0 = self.state(node, 5, "initial_h", D, H, layout, W.dtype)
        c0 = self.state(node, 6, "initial_c", D, H, layout, W.dtype) if op == "LSTM" else None
        clip = a.get("clip")
        if clip is not None and not (np.isfinite(clip) and clip > 0):
            raise self.fail(f"{label}: clip {clip} is not a positive number")
        lbr = bool(int(a.get("linear_before_reset", 0))) if op == "GRU" else True
        acts = self.activations(node, kind, per, D)
        order = np.concatenate([np.arange(b * H, (b + 1) * H) for b in GATE_ORDER[kind]])
        out = []
        relu = kind == "rnn" and all(act == (("Relu", 0.0, 0.0),) for act in acts)
        for d in range(D):
            cell, act = kind, acts[d]
            if kind == "rnn":
                cell = "rnn_relu" if relu else "rnn_tanh"
            if act is not None and act == DEFAULT_ACTIVATIONS[cell]:
                act = None
            reverse = direction == "reverse" or d == 1
            layer = Layer(
                cell,
                np.ascontiguousarray(W[d][order]),  # (G*H, E)
                np.ascontiguousarray(R[d][order]),  # (G*H, H)
                np.ascontiguousarray(B[d, : G * H][order]),  # (G*H,)
                np.ascontiguousarray(B[d, G * H :][order]),  # (G*H,)
                activations=act,
                clip=None if clip is None else float(clip),
                linear_before_reset=lbr,
                reverse=reverse,
            )
            out.append(_Direction(layer, h0[d], None if c0 is None else c0[d]))
        self._directions[id(node)] = out
        return out

    def state(self, node, k: int, what: str, D: int, H: int, layout: int, dtype) -> np.ndarray:
        """Initial state input k as (D, H): zeros when absent or a graph input (with a note)."""
        zeros = np.zeros((D, H), dtype=dtype)
        tensor = node.input[k] if len(node.input) > k else ""
        if not tensor:
            return zeros
        value = self.constant(tensor, what, node)
        if value is None:
            src = next(iter(self.ancestors([tensor])[1]))
            self.notes.append(f"{what} of {self.label(node)} comes from graph input {_show(src)!r}: "
                              "lstm-tui starts from zeros")
            return zeros
        if value.dtype.kind != "f" or not np.isfinite(value).all():
            raise self.fail(f"{what} of {self.label(node)} is not finite floating-point values")
        if layout == 1 and value.ndim == 3:
            value = value.transpose(1, 0, 2)  # [batch, D, H] -> [D, batch, H]
        if value.ndim != 3 or value.shape[0] != D or value.shape[2] != H:
            want = f"[{D}, batch, {H}]" if layout == 0 else f"[batch, {D}, {H}]"
            raise self.fail(f"{what} of {self.label(node)} has shape {list(value.shape)}, expected {want}")
        if value.shape[1] > 1 and not np.all(value == value[:, :1]):
            raise self.fail(f"{what} of {self.label(node)} differs between the {value.shape[1]} sequences of the "
                            "batch: lstm-tui runs one sequence")
        return np.asarray(value[:, 0], dtype=dtype)

    def check_sequence_lens(self, node, tensor: str, layout: int) -> None:
        """Accept ``sequence_lens`` only when it is the sequence length itself (computed from X's shape)."""
        nodes, value_inputs, shape_inputs, blockers = self.ancestors([tensor])
        where = f"sequence_lens of {self.label(node)}"
        if value_inputs:
            raise self.fail(f"{where} comes from graph input {_show(next(iter(value_inputs)))!r}: lstm-tui runs "
                            "every sequence to its full length")
        if blockers:
            raise self.fail(f"{where} is computed by {self.label(blockers[0][0])}: not followed")
        X = node.input[0]
        nodes, _, _, _ = self.ancestors([tensor, X])
        inputs = set(shape_inputs) | set(self.ancestors([X])[1]) | set(self.ancestors([X])[2])
        for free in (2, 5):  # two lengths: a constant equals at most one of them
            try:
                lens, x = self.run(nodes, self.placeholders(inputs, free), [tensor, X])
            except ModelFileError:
                raise
            except Exception as exc:
                raise self.fail(f"cannot evaluate {where} ({first_line(exc)})") from None
            if not np.all(np.asarray(lens) == x.shape[1 if layout == 1 else 0]):
                raise self.fail(f"{where} can be shorter than the sequence: lstm-tui runs every sequence to its "
                                "full length")

    # following data between nodes

    def data_path(self, sources, target: str):
        """The nodes carrying data from ``sources`` to ``target``; refuses any that is not a re-layout."""
        nodes, value_inputs, shape_inputs, blockers = self.ancestors([target], stop=frozenset(sources))
        carried = set(sources)  # tensors holding the data, graph order makes one pass enough
        bad = None
        for n in nodes:
            if n.op_type not in SHAPE_OPS and any(t in carried for t in n.input):
                carried.update(t for t in n.output if t)
                if bad is None and n.op_type not in RELAYOUT:
                    bad = n
        return nodes, bad, value_inputs, shape_inputs

    def probe(self, sources: list[str], target: str, candidates, want, start_label: str, end_label: str,
              shape_text: str) -> None:
        """Run the nodes between ``sources`` and ``target`` on probes; refuse unless they re-lay the data.

        ``candidates`` are functions T -> feeds (the arrangements the sources
        may have), ``want(T)`` is the target expected from any of them.
        """
        nodes, bad, value_inputs, shape_inputs = self.data_path(sources, target)
        between = f"between {start_label} and {end_label}"
        if bad is not None:
            raise self.fail(f"stopped at {self.label(bad)} {between}: only re-layout ops "
                            "(Transpose, Reshape, Squeeze, Concat, …) are followed")
        if value_inputs:
            t, consumer = next(iter(value_inputs.items()))
            who = self.label(consumer) if consumer is not None else "the path"
            raise self.fail(f"stopped at {who} {between}: it reads graph input {_show(t)!r}")

        def same(feeds, expected) -> bool | None:  # None: the nodes cannot run at this length
            if target in feeds:
                got = feeds[target]
            else:
                try:
                    (got,) = self.run(nodes, {**self.placeholders(shape_inputs), **feeds}, [target])
                except ModelFileError:
                    raise
                except Exception:
                    return None
            return np.shape(got) == expected.shape and np.array_equal(got, expected)

        for make in candidates:
            results = [same(make(T), want(T)) for T in PROBE_LENGTHS]
            if not any(r is not None for r in results):  # our lengths cannot run: one the exporter fixed may
                for T in self.lengths[len(PROBE_LENGTHS):]:
                    r = same(make(T), want(T))
                    if r is not None:
                        results = [r]
                        if r:
                            self.fixed_used.add(T)
                        break
            if any(results) and not any(r is False for r in results):
                return
        last = self.producer.get(target)
        where = self.label(last) if last is not None else f"graph input {_show(target)!r}"
        raise self.fail(f"stopped at {where} {between}: it does not pass the data on as {shape_text}")

    def y_shape(self, node) -> tuple[int, int, int]:
        """(D, H, layout) of a node's Y."""
        return len(self.directions(node)), self.directions(node)[0].layer.output_size, int(self.attrs(node).get("layout", 0))

    def _y(self, node) -> str:
        if len(node.output) == 0 or not node.output[0]:
            raise self.fail(f"{self.label(node)} has no output Y to follow")
        return node.output[0]

    def follow(self, prev: list, nxt: list) -> None:
        """Check that level ``nxt`` reads the Y of level ``prev`` as [T, batch, D·H], forward units first."""
        ys = [self._y(n) for n in prev]
        shapes = [self.y_shape(n) for n in prev]
        nlayout = int(self.attrs(nxt[0]).get("layout", 0))

        def canonical(T):  # each Y as [T, D, 1, H], distinct values
            out, base = [], 1
            for D, H, _ in shapes:
                out.append((np.arange(T * D * H, dtype=np.float32) + base).reshape(T, D, 1, H))
                base += T * D * H
            return out

        def make(T):
            return {y: v.transpose(2, 0, 1, 3) if lay == 1 else v  # layout 1: [batch, T, D, H]
                    for y, v, (_, _, lay) in zip(ys, canonical(T), shapes)}

        def want(T):
            x = np.concatenate([v[:, :, 0, :].reshape(T, -1) for v in canonical(T)], axis=1)[:, None, :]
            return x.transpose(1, 0, 2) if nlayout == 1 else x  # [T, 1, D·H] or [1, T, D·H]

        width = sum(D * H for D, H, _ in shapes)
        self.probe(ys, nxt[0].input[0], [make], want, self.label(prev[0]), self.label(nxt[0]),
                   f"[T, batch, {width}] (forward units first)")

    def is_lookup(self, n) -> bool:
        """A Gather of rows of a constant table at indices that come from a graph input."""
        table = self.ancestors([n.input[0]])
        return not table[1] and not table[3] and bool(self.ancestors([n.input[1]])[1])

    def input_side(self, level):
        """(embedding (V, E) or None, its label): what feeds the first level, checked by a probe."""
        node = level[0]
        X = node.input[0]
        layout = int(self.attrs(node).get("layout", 0))
        E = self.directions(node)[0].layer.input_size
        # the data leaves of X: graph inputs, and Gathers on a constant table (embeddings)
        gathers, seen, todo, leaves = [], set(), [X], []
        while todo:
            t = todo.pop()
            if t in seen or t in self.init:
                continue
            seen.add(t)
            if t in self.inputs:
                leaves.append(t)
                continue
            n = self.producer.get(t)
            if n is None:
                continue
            if n.op_type == "Gather" and self.is_lookup(n):
                gathers.append(n)
                continue
            if n.op_type in SHAPE_OPS:
                continue
            todo.extend(u for u in n.input if u)
        if len(gathers) > 1:
            raise self.fail(f"{self.label(gathers[0])} and {self.label(gathers[1])} both feed "
                            f"{self.label(node)}: lstm-tui reads one embedding")
        embedding = None
        if gathers:
            g = gathers[0]
            if int(self.attrs(g).get("axis", 0)) != 0:
                raise self.fail(f"{self.label(g)} gathers along axis {self.attrs(g)['axis']}: an embedding "
                                "gathers rows (axis 0)")
            embedding = self.weight(g, 0, "the table")
            if embedding.ndim != 2:
                raise self.fail(f"the table of {self.label(g)} has shape {list(embedding.shape)}, expected [V, E]")
            source, start = g.output[0], self.label(g)
        else:
            if len(leaves) != 1:
                raise self.fail(f"X of {self.label(node)} comes from {len(leaves)} graph inputs, expected one")
            source, start = leaves[0], f"graph input {_show(leaves[0])!r}"
        if source == X:
            return embedding, start

        def frames(T):
            return np.arange(1, T * E + 1, dtype=np.float32).reshape(T, E)

        candidates = [lambda T, s=s: {source: frames(T).reshape(s(T))}
                      for s in (lambda T: (T, 1, E), lambda T: (1, T, E), lambda T: (T, E))]

        def want(T):
            return frames(T)[None] if layout == 1 else frames(T)[:, None]

        self.probe([source], X, candidates, want, start, self.label(node), f"[T, batch, {E}]")
        return embedding, start

    def head(self, level):
        """(head_W (V, W), head_b (V,), kind) of the nodes after the last level, or (None, None, "none")."""
        ys = [n.output[0] if n.output else "" for n in level]
        if not any(y and (self.consumers.get(y) or y in self.outputs) for y in ys):
            # Y unused: a classifier reading the final state Y_h (or nothing at all)
            if any(t and (self.consumers.get(t) or t in self.outputs) for n in level for t in n.output[1:]):
                self.notes.append(f"the graph reads only the final state (Y_h, Y_c) of {self.label(level[0])}: "
                                  "lstm-tui shows every step of the recurrent layers, without what the graph "
                                  "computes from that state")
            return None, None, "none"
        # forward along the data from Y: re-layouts pass, MatMul/Gemm is the head
        heads, others, seen = [], [], set()
        todo = list(ys)
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            for c in self.consumers.get(t, []):
                if c.op_type in SHAPE_OPS:
                    continue
                if c.op_type in ("MatMul", "Gemm"):
                    if c not in heads:
                        heads.append(c)
                elif c.op_type in RELAYOUT:
                    todo.extend(u for u in c.output if u)
                elif c not in others:
                    others.append(c)
        if len(heads) > 1:
            raise self.fail(f"{self.label(heads[0])} and {self.label(heads[1])} both read the last recurrent "
                            "node: lstm-tui reads one head")
        if not heads:
            if others:
                raise self.fail(f"stopped at {self.label(others[0])} after {self.label(level[0])}: lstm-tui "
                                "follows Y to a MatMul+Add or Gemm head")
            return None, None, "none"
        hn = heads[0]
        if hn.op_type == "MatMul":
            W = self.weight(hn, 1, "B (the head's weights)")
            if W.ndim != 2:
                raise self.fail(f"the weights of {self.label(hn)} have shape {list(W.shape)}, expected [width, V]")
            head_W, head_b = W.T, np.zeros(W.shape[1], dtype=W.dtype)
        else:
            a = self.attrs(hn)
            if int(a.get("transA", 0)):
                raise self.fail(f"{self.label(hn)} has transA=1: the head must read [positions, width]")
            W = self.weight(hn, 1, "B (the head's weights)")
            if W.ndim != 2:
                raise self.fail(f"the weights of {self.label(hn)} have shape {list(W.shape)}, expected 2-D")
            head_W = float(a.get("alpha", 1.0)) * (W if int(a.get("transB", 0)) else W.T)
            C = self.weight(hn, 2, "C (the head's bias)", required=False)
            head_b = np.zeros(head_W.shape[0], dtype=W.dtype)
            if C is not None:
                if C.size not in (1, head_W.shape[0]):
                    raise self.fail(f"the bias C of {self.label(hn)} has shape {list(C.shape)}, expected [V]")
                head_b = head_b + float(a.get("beta", 1.0)) * C.reshape(-1)
        V = head_W.shape[0]
        # on from the head: re-layouts, one Add of a constant, one Softmax/LogSoftmax, to a graph output
        t, kind, added = hn.output[0], "logits", False
        path = [hn]
        while t not in self.outputs:
            cs = [c for c in self.consumers.get(t, []) if c.op_type not in SHAPE_OPS]
            if len(cs) != 1:
                if not cs:
                    raise self.fail(f"the output of {self.label(path[-1])} is not a graph output and nothing reads it")
                raise self.fail(f"the output of {self.label(path[-1])} is read by {len(cs)} nodes: lstm-tui follows "
                                "one head")
            c = cs[0]
            if c.op_type == "Add" and not added and kind == "logits":
                other = c.input[1] if c.input[0] == t else c.input[0]
                b = self.constant(other, "the bias", c)
                if b is None or b.dtype.kind != "f" or b.size not in (1, V):
                    raise self.fail(f"{self.label(c)} after the head does not add a constant bias of {V} values")
                head_b = head_b + b.reshape(-1).astype(head_b.dtype)
                added = True
            elif c.op_type in ("Softmax", "LogSoftmax") and kind == "logits":
                kind = "softmax" if c.op_type == "Softmax" else "logsoftmax"
            elif c.op_type not in RELAYOUT:
                raise self.fail(f"stopped at {self.label(c)} after the head {self.label(hn)}: expected an Add of the "
                                "bias, Softmax or LogSoftmax")
            path.append(c)
            t = c.output[0]
        out = t
        shapes = [self.y_shape(n) for n in level]
        rng = np.random.default_rng(0)
        nodes, _, _, shape_inputs = self.data_path(ys, out)
        ran, error = False, None
        for T in self.lengths:
            if ran and T not in PROBE_LENGTHS:
                break  # a fixed length is tried only when ours cannot run, and one that runs is enough
            feeds, parts = {}, []
            for y, (D, H, lay) in zip(ys, shapes):
                v = rng.standard_normal((T, D, 1, H)).astype(np.float32)
                parts.append(v[:, :, 0, :].reshape(T, D * H))
                feeds[y] = v.transpose(2, 0, 1, 3) if lay == 1 else v
            h = np.concatenate(parts, axis=1)  # (T, width)
            logits = (h @ head_W.T + head_b).astype(np.float64)  # (T, V)
            expected = logits
            if kind != "logits":
                z = logits - logits.max(axis=1, keepdims=True)
                logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
                expected = np.exp(logp) if kind == "softmax" else logp
            try:
                (got,) = self.run(nodes, {**self.placeholders(shape_inputs), **feeds}, [out])
            except ModelFileError:
                raise
            except Exception as exc:  # this length cannot run (a length fixed at export): try the others
                error = error or exc
                continue
            ran = True
            if T not in PROBE_LENGTHS:
                self.fixed_used.add(T)
            got = np.asarray(got, dtype=np.float64)
            if got.size != T * V:
                raise self.fail(f"the head {self.label(hn)} does not give {V} values at each of the T positions "
                                f"(output {_show(out)!r} has shape {list(got.shape)})")
            if got.ndim == 3 and got.shape[0] == 1 and got.shape[1] == T:
                got = got[0]
            got = got.reshape(T, V)
            if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
                raise self.fail(f"stopped at {self.label(path[-1])}: the head's output {_show(out)!r} is not "
                                f"{kind} of W h + b at each position")
        if not ran:
            raise self.fail(f"cannot run the head {self.label(hn)} on a probe ({first_line(error)})")
        return head_W, head_b, kind
