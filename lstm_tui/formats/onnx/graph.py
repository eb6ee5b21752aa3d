"""Walking an ONNX graph and evaluating the parts of it that compute constants.

:class:`Graph` indexes a ModelProto's nodes by the tensors they produce and
read, and answers the questions the reader asks of it:

- which nodes compute a tensor (:meth:`Graph.ancestors`), and whether that
  needs a graph input's values or only its shape;
- the value of a tensor that does not depend on the inputs' values
  (:meth:`Graph.constant`, :meth:`Graph.weight`): exporters compute weights
  and states with Constant, Identity, Transpose, Reshape, Unsqueeze, Concat,
  Slice, Expand, ConstantOfShape and Shape nodes, so the part of the graph
  that computes the tensor is run with ``onnx.reference.ReferenceEvaluator``
  (initializers read through ``onnx.numpy_helper``; graph inputs read only
  for their shapes get zeros of their declared shape);
- whether the nodes between two tensors only move data (:meth:`Graph.probe`):
  they are run on probes of two sequence lengths (:data:`PROBE_LENGTHS`) and
  must give what a re-layout would.

No tensor the evaluator computes may take more than :data:`MAX_TENSOR_BYTES`
(checked before a node runs where its inputs tell the size, and on every
output), and attributes must have their operator's types (:meth:`Graph.attrs`).

Every error is a :class:`ModelFileError` naming the file, the node and its op.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ...core.errors import ModelFileError, inert
from ...core.inputs import first_line
from ..registry import fail

#: ONNX recurrent ops -> (cell kind, gate blocks G, activations per direction).
RECURRENT = {"LSTM": ("lstm", 4, 3), "GRU": ("gru", 3, 2), "RNN": ("rnn", 1, 1)}
#: Ops that move data without computing on it: the only ones followed between nodes.
RELAYOUT = frozenset(
    {"Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Concat", "Slice", "Split",
     "Cast", "Expand", "Dropout", "Gather"}
)
#: Ops whose outputs depend on their inputs' shapes only.
SHAPE_OPS = frozenset({"Shape", "Size"})
#: Ops never followed: their subgraphs read the outer graph.
CONTROL = frozenset({"Loop", "Scan", "If", "SequenceMap"})

#: Sequence lengths the probes run with (two, so a shape computed for one length is caught).
PROBE_LENGTHS = (3, 2)

#: The most bytes one tensor the reader computes may take (a few bytes of ConstantOfShape can ask for any
#: size): checked before a node runs where its inputs tell, and on every output.
MAX_TENSOR_BYTES = 2 * 1024**3
#: Ops whose output is as large as their inputs broadcast together.
BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Where", "And",
                          "Or", "Xor", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"})


def show(text) -> str:
    """A name from the graph for a one-line message (bytes of a damaged string field decoded, escapes inert)."""
    return inert(text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))


class Graph:
    """An ONNX graph with its producers and consumers; every error names the file, the node and its op.

    Also holds what the reader finds on the way: ``notes`` (what lstm-tui does
    differently from the graph), ``fixed_used`` (sequence lengths an exporter
    fixed that a probe had to run with) and ``read_nodes`` (each recurrent
    node's directions, filled by :func:`.nodes.directions`).
    """

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
        self.example = ""  # a text to start on, when the model gives none (see ends.vocabulary_of)
        self._consts: dict[str, np.ndarray] = {}
        self._init_values: dict[str, np.ndarray] = {}
        self.read_nodes: dict[int, list] = {}  # id(node) -> [nodes.Direction], forward first
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
            raise self.fail(f"initializer {show(tensor.name)!r} cannot be read ({first_line(exc)})") from None

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

    # messages and attributes

    def fail(self, message: str) -> ModelFileError:
        return fail(self.name, message)

    def label(self, node) -> str:
        name = node.name or f"#{self.index[id(node)]}"
        return f"node {show(name)!r} ({show(node.op_type)})"

    def attrs(self, node) -> dict:
        """A node's attributes by name (strings decoded); refuses one whose type is not its operator's."""
        from onnx import AttributeProto, defs, helper

        try:
            schema = defs.get_schema(node.op_type, self.opset, "" if node.domain == "ai.onnx" else node.domain)
        except defs.SchemaError:  # an op onnx does not know: only the values are read
            schema = None
        out = {}
        for a in node.attribute:
            want = schema.attributes.get(a.name) if schema is not None else None
            if want is not None and a.type != want.type:
                kind = AttributeProto.AttributeType
                got = kind.Name(a.type).lower() if a.type in kind.values() else str(a.type)
                raise self.fail(f"{self.label(node)}: attribute {show(a.name)} is of type {got}, expected "
                                f"{kind.Name(want.type).lower()}")
            try:
                v = helper.get_attribute_value(a)
            except Exception as exc:  # no type, or none of its fields set
                raise self.fail(f"{self.label(node)}: attribute {show(a.name)} cannot be read ({first_line(exc)})") \
                    from None
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            elif isinstance(v, list):
                v = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v]
            out[a.name] = v
        return out

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
                raise self.fail(f"tensor {show(t)!r} has no producer, initializer or graph input")
            if not shape_only and (node.op_type in RECURRENT or node.op_type in CONTROL):
                blockers.append((node, t))
            nodes[id(node)] = node
            deeper = shape_only or node.op_type in SHAPE_OPS
            todo.extend((u, deeper, node) for u in node.input)
        return sorted(nodes.values(), key=lambda n: self.index[id(n)]), value_inputs, shape_inputs, blockers

    def run(self, nodes, feeds: dict, outputs: list[str]) -> list[np.ndarray]:
        """Evaluate ``outputs`` of ``nodes`` with onnx.reference from ``feeds`` and the initializers.

        A recurrent node among them is read only for its outputs' shapes (one read for its values is
        refused before): it runs as a stand-in that onnx.reference can run (see _shape_stand_in)."""
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        used = {t for n in nodes for t in n.input} | set(outputs)
        # initializers go in as inputs, as the arrays already read: nothing large is copied into the part
        feeds = {**{t: self.init_value(t) for t in used if t in self.init and t not in feeds}, **feeds}
        ins = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
               for k, v in feeds.items()]
        outs = [helper.make_empty_tensor_value_info(t) for t in outputs]
        parts = [_shape_stand_in(n) if n.op_type in RECURRENT else n for n in nodes]
        graph = helper.make_graph(parts, "part", ins, outs)
        model = helper.make_model(graph, opset_imports=list(self.proto.opset_import),
                                  ir_version=self.proto.ir_version or 7)
        model.functions.extend(self.proto.functions)
        evaluator = ReferenceEvaluator(model)
        for rt, node in zip(getattr(evaluator, "rt_nodes_", ()), nodes):
            rt.run = self._bounded(rt.run, node)
        return evaluator.run(outputs, feeds)

    def _bounded(self, run, node):
        """``run`` (one node's evaluator) refused when it would make, or has made, a tensor over
        :data:`MAX_TENSOR_BYTES`."""

        def check(size, made=""):
            if size > MAX_TENSOR_BYTES:
                raise self.fail(f"{self.label(node)} computes {made}{size / 1024**3:.1f} GB, over the "
                                f"{MAX_TENSOR_BYTES // 1024**3} GB lstm-tui evaluates for one tensor")

        def bounded(*inputs, **kw):
            check(planned_bytes(node, inputs))
            outputs = run(*inputs, **kw)
            for out in outputs if isinstance(outputs, (tuple, list)) else ():
                if isinstance(out, np.ndarray):
                    check(out.nbytes, f"{list(out.shape)} {out.dtype}: ")
            return outputs

        return bounded

    def placeholders(self, names, free: int = 1) -> dict[str, np.ndarray]:
        """Zeros for graph inputs read only for their shapes: a free dimension is ``free``."""
        from onnx import helper

        feeds = {}
        for t in names:
            tt = self.inputs[t].type.tensor_type
            if not tt.HasField("shape"):
                raise self.fail(f"graph input {show(t)!r} has no declared shape to evaluate the constants with")
            dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else free for d in tt.shape.dim]
            try:
                dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
            except Exception:
                raise self.fail(f"graph input {show(t)!r} has an unknown element type {tt.elem_type}") from None
            if np.prod(dims, dtype=np.float64) * np.dtype(dtype).itemsize > MAX_TENSOR_BYTES:
                raise self.fail(f"graph input {show(t)!r} declares shape {dims}, over the "
                                f"{MAX_TENSOR_BYTES // 1024**3} GB lstm-tui evaluates for one tensor")
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
            raise self.fail(f"{what} of {self.label(node)} comes from graph input {show(src)!r}: "
                            "only constant weights are read")
        if value.dtype.kind != "f" and "float" not in value.dtype.name:  # bfloat16 and float8 are kind "V"
            raise self.fail(f"{what} of {self.label(node)} holds {value.dtype} values, expected floating-point")
        if value.dtype not in (np.float32, np.float64):
            value = value.astype(np.float32)  # float16, bfloat16: computed in float32
        if not np.isfinite(value).all():
            raise self.fail(f"{what} of {self.label(node)} holds NaN or Inf values")
        return value

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
            raise self.fail(f"stopped at {who} {between}: it reads graph input {show(t)!r}")

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
        where = self.label(last) if last is not None else f"graph input {show(target)!r}"
        raise self.fail(f"stopped at {where} {between}: it does not pass the data on as {shape_text}")


def _shape_stand_in(node):
    """A recurrent node read for its outputs' shapes (PyTorch's exporter makes a layer's initial state from
    the Shape of the layer below's Y): the node with its default activations, which give outputs of the
    same shapes and which onnx.reference runs (its RNN knows only Tanh and Affine)."""
    from onnx import NodeProto

    stand_in = NodeProto()
    stand_in.CopyFrom(node)
    keep = [a for a in node.attribute if a.name not in ("activations", "activation_alpha", "activation_beta")]
    del stand_in.attribute[:]
    stand_in.attribute.extend(keep)
    return stand_in


def planned_bytes(node, inputs) -> float:
    """The bytes ``node``'s output will take, where its inputs tell before it runs (ops that make large
    tensors from small ones); 0 when they do not."""
    from onnx import helper

    op = node.op_type
    if op not in BROADCASTING and op not in ("ConstantOfShape", "Expand", "Tile", "Range", "MatMul", "Pad"):
        return 0
    try:
        arrays = [np.asarray(x) for x in inputs if x is not None]
        if op == "ConstantOfShape":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            size = 4 if value is None else np.dtype(helper.tensor_dtype_to_np_dtype(value.data_type)).itemsize
            return size * np.prod(arrays[0], dtype=np.float64)
        if op == "Expand":
            shape = np.broadcast_shapes(arrays[0].shape, tuple(int(d) for d in arrays[1].reshape(-1)))
            return arrays[0].itemsize * np.prod(shape, dtype=np.float64)
        if op == "Pad":  # the data's shape plus the pads at both ends (pads over every axis only)
            pads = arrays[1] if len(arrays) > 1 else np.array(next(a.ints for a in node.attribute if a.name == "pads"))
            r = arrays[0].ndim
            if len(pads) != 2 * r:
                return 0
            return arrays[0].itemsize * np.prod(np.maximum(np.add(arrays[0].shape, pads[:r] + pads[r:]), 0),
                                                dtype=np.float64)
        if op == "Tile":
            return arrays[0].nbytes * np.prod(arrays[1], dtype=np.float64)
        if op == "Range":
            start, limit, delta = (float(x) for x in arrays[:3])
            return arrays[0].itemsize * max(np.ceil((limit - start) / delta), 0)
        if op == "MatMul" and all(x.ndim >= 2 for x in arrays[:2]):
            a, b = arrays[:2]
            return a.itemsize * np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]),
                                        dtype=np.float64)
        if op in BROADCASTING:
            return max(x.itemsize for x in arrays) * np.prod(np.broadcast_shapes(*(x.shape for x in arrays)),
                                                             dtype=np.float64)
    except Exception:  # inputs the op itself will refuse
        return 0
    return 0
