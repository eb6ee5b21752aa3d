"""The two ends of the stack: the embedding before it, the head after it, and the vocabulary.

Embedding: a ``Gather`` of rows of a constant table at indices that come from
a graph input, through ops that keep the ids as they are (:data:`ID_OPS`; an
``Add`` there is refused); without one the first recurrent node reads a graph
input itself. Head: ``MatMul`` (+ ``Add``) or ``Gemm`` on the last level's ``Y``,
then an optional ``Softmax``/``LogSoftmax``, to a graph output; an activation then
another ``MatMul``/``Gemm`` makes the layer before it a hidden layer of the head. From the
embedding (or input) to the first node, and from the last node to the graph
output, only re-layouts may carry the data, checked by running the nodes on
probes (:meth:`.graph.Graph.probe`); the head's nodes must give W h + b (then
the softmax) at every position.

A head may read the last position only (``out[-1]``), or the final state
``Y_h`` of a node (``fc(h_n[-1])``: the same h; other levels' outputs are fed
zeros in the probe); the graph's output is then that position's, with a note.
A bidirectional node's ``Y_h`` pairs the forward half at the last position with
the backward half at the first, which no one position shows: the head is
applied at every position, with a note. A head on ``Y_c`` loads without that
head (with a note). A ``ReduceMax`` or ``ReduceMean``
between ``Y`` and the head pools the positions (``core.pooling``): the probe checks the graph's one
output against the head on the pool of every position. ONNX files keep no vocabulary: ``--vocab``, else a ``vocab``
entry (a JSON list) in the model's metadata, else the token ids "0" … "V-1"
(word tokenizer).
"""

from __future__ import annotations


import numpy as np

from ...core.cells import ACTIVATIONS, activation, activation_problem
from ...core.errors import ModelFileError
from ...core.inputs import check_vocab, first_line, read_json
from ...core.model import Dense
from ...core.pooling import Pool, backward_note
from ..arrays import id_vocabulary, tokenizer_of
from ..registry import vocabulary
from .graph import PROBE_LENGTHS, RECURRENT, RELAYOUT, SHAPE_OPS, Graph, show
from .nodes import directions, y_shape

#: Ops that pool the positions before the head (core.pooling), and their pool.
POOL_OPS = {"ReduceMax": "max", "ReduceMean": "mean"}
#: ONNX operators that are activations lstm-tui runs (cells.ACTIVATIONS has the same names), between the head's layers.
ACTIVATION_OPS = frozenset(ACTIVATIONS) - {"Affine", "ScaledTanh"}
MAX_HIDDEN = 16  # the head's hidden layers at most

#: Ops that may carry the token ids to the embedding's Gather: they keep the ids' values and order.
ID_OPS = frozenset({"Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose", "Cast"})
#: Integer types a Cast of the ids may give (ONNX INT32, INT64, UINT32, UINT64): every id fits.
ID_TYPES = (6, 7, 12, 13)


def input_side(graph: Graph, level):
    """(embedding (V, E) or None, its label): what feeds the first level, checked by a probe."""
    node = level[0]
    X = node.input[0]
    layout = int(graph.attrs(node).get("layout", 0))
    E = directions(graph, node)[0].layer.input_size
    # the data leaves of X: graph inputs, and Gathers on a constant table (embeddings)
    gathers, seen, todo, leaves = [], set(), [X], []
    while todo:
        t = todo.pop()
        if t in seen or t in graph.init:
            continue
        seen.add(t)
        if t in graph.inputs:
            leaves.append(t)
            continue
        n = graph.producer.get(t)
        if n is None:
            continue
        if n.op_type == "Gather" and is_lookup(graph, n):
            gathers.append(n)
            continue
        if n.op_type in SHAPE_OPS:
            continue
        todo.extend(u for u in n.input if u)
    if len(gathers) > 1:
        raise graph.fail(f"{graph.label(gathers[0])} and {graph.label(gathers[1])} both feed "
                         f"{graph.label(node)}: lstm-tui reads one embedding")
    embedding = None
    if gathers:
        g = gathers[0]
        if int(graph.attrs(g).get("axis", 0)) != 0:
            raise graph.fail(f"{graph.label(g)} gathers along axis {graph.attrs(g)['axis']}: an embedding "
                             "gathers rows (axis 0)")
        embedding = graph.weight(g, 0, "the table")
        if embedding.ndim != 2:
            raise graph.fail(f"the table of {graph.label(g)} has shape {list(embedding.shape)}, expected [V, E]")
        source, start = g.output[0], graph.label(g)
    else:
        if len(leaves) != 1:
            raise graph.fail(f"X of {graph.label(node)} comes from {len(leaves)} graph inputs, expected one")
        source, start = leaves[0], f"graph input {show(leaves[0])!r}"
    if source == X:
        return embedding, start

    def frames(T):
        return np.arange(1, T * E + 1, dtype=np.float32).reshape(T, E)

    candidates = [lambda T, s=s: {source: frames(T).reshape(s(T))}
                  for s in (lambda T: (T, 1, E), lambda T: (1, T, E), lambda T: (T, E))]

    def want(T):
        return frames(T)[None] if layout == 1 else frames(T)[:, None]

    graph.probe([source], X, candidates, want, start, graph.label(node), f"[T, batch, {E}]")
    return embedding, start


def is_lookup(graph: Graph, n) -> bool:
    """A Gather of rows of a constant table at indices that come from a graph input.

    Refuses one whose indices are not the graph input's values: only :data:`ID_OPS` may carry them there.
    """
    table = graph.ancestors([n.input[0]])
    if table[1] or table[3] or len(n.input) < 2 or not graph.ancestors([n.input[1]])[1]:
        return False
    t, seen = n.input[1], set()
    while t not in graph.inputs and t not in seen:
        seen.add(t)
        p = graph.producer[t]
        ok = p.op_type in ID_OPS and (p.op_type != "Cast" or graph.attrs(p).get("to") in ID_TYPES)
        if not ok or any(graph.ancestors([u])[1] for u in p.input[1:] if u):
            raise graph.fail(f"stopped at {graph.label(p)} on the token ids of the embedding {graph.label(n)}: "
                             "only Cast to a 32/64-bit integer, Reshape, Squeeze, Unsqueeze, Flatten, Transpose "
                             "and Identity may carry them")
        t = p.input[0]
    return True


def head(graph: Graph, level):
    """(head_W (V, W'), head_b (V,), kind, hidden, pool) of the nodes after the last level: ``hidden`` the head's
    layers before the last (core.model.Dense), W' the width the last reads, ``pool`` "max" or "mean" when a
    ReduceMax or ReduceMean pools the positions before it (else ""); or (None, None, "none", (), "")."""
    ys = [n.output[0] if n.output else "" for n in level]
    used = lambda t: bool(t) and bool(graph.consumers.get(t) or t in graph.outputs)  # noqa: E731
    if not any(used(y) for y in ys) and len(level) == 1 and len(level[0].output) > 1 and used(level[0].output[1]):
        ys = [level[0].output[1]]  # fc(h_n[-1]): a head on the final state Y_h (of both directions: a pair)
    elif not any(used(y) for y in ys):
        # Y unused: a classifier reading the final state of a bidirectional level, Y_c, or nothing at all
        if any(used(t) for n in level for t in n.output[1:]):
            graph.notes.append(f"the graph reads only the final state (Y_h, Y_c) of {graph.label(level[0])}: "
                               "lstm-tui shows every step of the recurrent layers, without what the graph "
                               "computes from that state")
        return None, None, "none", (), ""
    # forward along the data from Y: re-layouts pass, MatMul/Gemm is the head
    heads, others, pools, seen = [], [], [], set()
    todo = list(ys)
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        for c in graph.consumers.get(t, []):
            if c.op_type in SHAPE_OPS:
                continue
            if c.op_type in ("MatMul", "Gemm"):
                if c not in heads:
                    heads.append(c)
            elif c.op_type in RELAYOUT or c.op_type in POOL_OPS:
                todo.extend(u for u in c.output if u)
                if c.op_type in POOL_OPS and c not in pools:
                    pools.append(c)
            elif c not in others:
                others.append(c)
    if len(heads) > 1:
        raise graph.fail(f"{graph.label(heads[0])} and {graph.label(heads[1])} both read the last recurrent "
                         "node: lstm-tui reads one head")
    if len(pools) > 1:
        raise graph.fail(f"{graph.label(pools[0])} and {graph.label(pools[1])} both pool the positions: lstm-tui's "
                         "head reads one pool")
    if not heads:
        if others or pools:
            raise graph.fail(f"stopped at {graph.label((others or pools)[0])} after {graph.label(level[0])}: lstm-tui "
                             "follows Y to a MatMul+Add or Gemm head")
        return None, None, "none", (), ""
    pool = POOL_OPS[pools[0].op_type] if pools else ""
    if pools:
        _pools_every_position(graph, ys, pools[0])
    hn = heads[0]
    head_W, head_b = _linear(graph, hn)
    # on from the head: re-layouts, an Add of a constant, an activation and another MatMul or Gemm (the one
    # before is then a hidden layer), one Softmax/LogSoftmax, to a graph output
    t, kind, added, act, hidden = hn.output[0], "logits", False, None, []
    path = [hn]
    while t not in graph.outputs:
        cs = [c for c in graph.consumers.get(t, []) if c.op_type not in SHAPE_OPS]
        if len(cs) != 1:
            if not cs:
                raise graph.fail(f"the output of {graph.label(path[-1])} is not a graph output and nothing reads it")
            raise graph.fail(f"the output of {graph.label(path[-1])} is read by {len(cs)} nodes: lstm-tui follows "
                             "one head")
        c = cs[0]
        if c.op_type == "Add" and not added and act is None and kind == "logits":
            other = c.input[1] if c.input[0] == t else c.input[0]
            b = graph.constant(other, "the bias", c)
            if b is None or b.dtype.kind != "f" or b.size not in (1, head_W.shape[0]):
                raise graph.fail(f"{graph.label(c)} after the head does not add a constant bias of "
                                 f"{head_W.shape[0]} values")
            head_b = head_b + b.reshape(-1).astype(head_b.dtype)
            added = True
        elif c.op_type in ACTIVATION_OPS and act is None and kind == "logits":
            a = graph.attrs(c)
            act = activation(c.op_type, a.get("alpha"), a.get("beta"))
            if problem := activation_problem(act):
                raise graph.fail(f"{graph.label(c)}: {problem}")
        elif c.op_type in ("MatMul", "Gemm") and kind == "logits" and len(hidden) < MAX_HIDDEN:
            hidden.append(Dense(head_W, head_b, act or activation("Affine")))  # the layer so far is a hidden one
            (head_W, head_b), added, act = _linear(graph, c), False, None
            if head_W.shape[1] != hidden[-1].W.shape[0]:
                raise graph.fail(f"{graph.label(c)} reads {head_W.shape[1]} values but the head's layer before "
                                 f"gives {hidden[-1].W.shape[0]}")
        elif c.op_type in ("Softmax", "LogSoftmax") and kind == "logits" and act is None:
            kind = "softmax" if c.op_type == "Softmax" else "logsoftmax"
        elif c.op_type not in RELAYOUT:
            raise graph.fail(f"stopped at {graph.label(c)} after the head {graph.label(hn)}: expected an Add of the "
                             "bias, an activation before another MatMul or Gemm, Softmax or LogSoftmax")
        path.append(c)
        t = c.output[0]
    if act is not None and act[0] == "Sigmoid" and head_W.shape[0] == 1:
        kind = "sigmoid"  # a binary classifier: its probability, lstm-tui's y of one output
    elif act is not None:
        raise graph.fail(f"the head ends in {graph.label(path[-1])}: lstm-tui's head gives logits (then softmax, "
                         "log-softmax, or the sigmoid of one output)")
    V = head_W.shape[0]
    out = t
    shapes = [y_shape(graph, n) for n in level]
    rng = np.random.default_rng(0)
    final = ys[0] != level[0].output[0]  # the head reads Y_h
    others = {t: (m, k) for m in graph.nodes if m.op_type in RECURRENT and m not in level
              for k, t in enumerate(m.output) if t}  # other levels' outputs: zeros (a Concat of every Y_h)
    nodes, _, _, shape_inputs = graph.data_path([*ys, *others], out)
    ran, error, last = False, None, None  # last: the graph's output is the last position's only
    width = sum(D * H for D, H, _ in shapes)
    reads = hidden[0].W.shape[1] if hidden else head_W.shape[1]
    if reads != width:  # a pool of part of the units, or the pool beside something else
        raise graph.fail(f"the head {graph.label(hn)} reads {reads} values but "
                         f"{graph.label(level[0])} gives {width}")
    for T in graph.lengths:
        if ran and T not in PROBE_LENGTHS:
            break  # a fixed length is tried only when ours cannot run, and one that runs is enough
        rounds = -(-T // width) if pool == "max" else 1  # a max: each round puts some unit's maximum at every position
        for r in range(rounds):
            feeds, parts = {}, []
            for y, (D, H, lay) in zip(ys, shapes):
                v = rng.standard_normal((T, D, 1, H)).astype(np.float32)
                if pool == "max":  # unit u's maximum at position (u + r·width) mod T: a pool that skips one shows
                    own = np.arange(D * H)  # this node's units; u counts every node's
                    u = sum(len(p[0]) for p in parts) + own
                    v[(u + r * width) % T, own // H, 0, own % H] += 4
                parts.append(v[:, :, 0, :].reshape(T, D * H))
                feeds[y] = v.transpose(2, 0, 1, 3) if lay == 1 else v
                if final:  # Y_h: [D, batch, H] (layout 1: [batch, D, H]), the last position's
                    feeds[y] = v[-1].transpose(1, 0, 2) if lay == 1 else v[-1]
            for t, (m, k) in others.items():
                D, H, lay = y_shape(graph, m)
                if lay == 0:
                    shape = (T, D, 1, H) if k == 0 else (D, 1, H)
                else:
                    shape = (1, T, D, H) if k == 0 else (1, D, H)
                feeds[t] = np.zeros(shape, np.float32)
            h = np.concatenate(parts, axis=1)  # (T, width)
            if pool:  # the head at each position on the pool of the positions so far: the graph's is the last
                h = Pool(pool).rows(h.astype(np.float64))
            for d in hidden:
                h = d.act(d.pre(h))
            logits = (h @ head_W.T + head_b).astype(np.float64)  # (T, V)
            expected = 1 / (1 + np.exp(-logits)) if kind == "sigmoid" else logits
            if kind in ("softmax", "logsoftmax"):
                z = logits - logits.max(axis=1, keepdims=True)
                logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
                expected = np.exp(logp) if kind == "softmax" else logp
            try:
                (got,) = graph.run(nodes, {**graph.placeholders(shape_inputs), **feeds}, [out])
            except ModelFileError:
                raise
            except Exception as exc:  # this length cannot run (a length fixed at export): try the others
                error = error or exc
                break
            ran = True
            if T not in PROBE_LENGTHS:
                graph.fixed_used.add(T)
            got = np.asarray(got, dtype=np.float64)
            if pool:
                if got.size != V:
                    raise graph.fail(f"the head {graph.label(hn)} after {graph.label(pools[0])} does not give {V} "
                                     f"values (output {show(out)!r} has shape {list(got.shape)})")
                got, expected = got.reshape(1, V), expected[-1:]
            elif got.size == V and T > 1 and last is not False:  # out[:, -1] before the head: the last position's
                last, got, expected = True, got.reshape(1, V), expected[-1:]
            elif got.size != T * V or last:
                raise graph.fail(f"the head {graph.label(hn)} does not give {V} values at each of the T positions, nor "
                                 f"at the last (output {show(out)!r} has shape {list(got.shape)})")
            else:
                last = False
                if got.ndim == 3 and got.shape[0] == 1 and got.shape[1] == T:
                    got = got[0]
                got = got.reshape(T, V)
            if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
                where = f"the {pool} of the positions ({graph.label(pools[0])})" if pool else \
                    "the last position" if last else "each position"
                raise graph.fail(f"stopped at {graph.label(path[-1])}: the head's output {show(out)!r} is not "
                                 f"{kind} of the head's layers at {where}")
    if not ran:
        raise graph.fail(f"cannot run the head {graph.label(hn)} on a probe ({first_line(error)})")
    reads_back = any(graph.attrs(m).get("direction", "forward") != "forward" for m in graph.nodes if m.op_type in RECURRENT)
    if pool and reads_back:
        graph.notes.append(backward_note(pool, graph.label(pools[0])))
    if last and final and shapes[0][0] == 2:
        graph.notes.append(f"the graph's head reads the final states (Y_h) of {graph.label(level[0])}: the forward "
                           "half's h at the last position beside the backward half's at the first, a pair no one "
                           "position shows; lstm-tui applies the head at every position, to the two halves' h there")
    elif last and final and graph.attrs(level[0]).get("direction", "forward") == "reverse":
        graph.notes.append(f"the graph's head reads the final state (Y_h) of {graph.label(level[0])}, which reads "
                           "backwards: h at the first position; lstm-tui computes the head at every position, and "
                           "the first is the graph's")
    elif last:
        graph.notes.append(f"the graph gives its head's output at the last position only ({show(out)!r}); lstm-tui "
                           "computes it at every position, and the last is the graph's")
    return head_W, head_b, kind, tuple(hidden), pool


def _pools_every_position(graph: Graph, ys: list, pool) -> None:
    """Refuse what lies between Y and the pool and could leave positions out of it (a Slice, Gather or Split)
    or put other values in (a Concat of anything but Y's own data: padding). The probes check the rest."""
    data, todo = set(), list(ys)  # the tensors that carry Y's data, forward from Y
    while todo:
        t = todo.pop()
        if t not in data:
            data.add(t)
            todo.extend(u for c in graph.consumers.get(t, []) if c.op_type in RELAYOUT for u in c.output if u)
    todo, seen = [pool.input[0]], set()  # back from the pool to Y, along those tensors
    while todo:
        t = todo.pop()
        c = graph.producer.get(t)
        if t in seen or t in ys or c is None:
            continue
        seen.add(t)
        if c.op_type in ("Slice", "Gather", "Split") or c.op_type == "Concat" and not all(i in data for i in c.input):
            raise graph.fail(f"{graph.label(c)} lies between the recurrent output and the pool {graph.label(pool)}: "
                             "lstm-tui's pool reads every position as it is")
        todo.extend(i for i in c.input if i in data)


def _linear(graph: Graph, hn) -> tuple[np.ndarray, np.ndarray]:
    """(W (out, in), b (out,)) of a MatMul or Gemm reading [positions, in]."""
    if hn.op_type == "MatMul":
        W = graph.weight(hn, 1, "B (the head's weights)")
        if W.ndim != 2:
            raise graph.fail(f"the weights of {graph.label(hn)} have shape {list(W.shape)}, expected [width, V]")
        return W.T, np.zeros(W.shape[1], dtype=W.dtype)
    a = graph.attrs(hn)
    if int(a.get("transA", 0)):
        raise graph.fail(f"{graph.label(hn)} has transA=1: the head must read [positions, width]")
    W = graph.weight(hn, 1, "B (the head's weights)")
    if W.ndim != 2:
        raise graph.fail(f"the weights of {graph.label(hn)} have shape {list(W.shape)}, expected 2-D")
    head_W = float(a.get("alpha", 1.0)) * (W if int(a.get("transB", 0)) else W.T)
    C = graph.weight(hn, 2, "C (the head's bias)", required=False)
    head_b = np.zeros(head_W.shape[0], dtype=W.dtype)
    if C is not None:
        if C.size not in (1, head_W.shape[0]):
            raise graph.fail(f"the bias C of {graph.label(hn)} has shape {list(C.shape)}, expected [V]")
        head_b = head_b + float(a.get("beta", 1.0)) * C.reshape(-1)
    return head_W, head_b


def vocabulary_of(graph: Graph, vocab_path, embedding, head_W):
    """(vocab, tokenizer) from --vocab, the model's metadata, or the token ids."""
    V = embedding.shape[0] if embedding is not None else (head_W.shape[0] if head_W is not None else None)
    vocab = vocabulary(vocab_path)
    where = show(str(vocab_path))
    if vocab is None and "vocab" in graph.props:
        where = "metadata 'vocab'"
        try:
            vocab = read_json(graph.props["vocab"])
        except ValueError as exc:
            raise graph.fail(f"metadata 'vocab' is not a JSON list of token strings ({first_line(exc)})") from None
        vocab = check_vocab(vocab, f"{graph.name}: metadata 'vocab'")
    if vocab is None:
        if embedding is None:
            return None, "char"
        vocab, said = id_vocabulary(V, " (--vocab gives one)")
        graph.notes.append(said["notes"])
        graph.example = said["example"]
        return vocab, said["tokenizer"]
    if V is not None and len(vocab) != V:
        what = "embedding" if embedding is not None else "head"
        raise graph.fail(f"vocabulary {where} has {len(vocab)} tokens but the {what} has {V} rows")
    return vocab, tokenizer_of(graph.name, graph.props, vocab)
