"""Which recurrent nodes make the stack, in what order, and the data between them.

A graph is read as one stack: each level is one recurrent node, or a forward
and a reverse node reading the same input (a :class:`Bidirectional` level),
and each level reads the ``Y`` of the level before. Between two levels only
re-layout ops (:data:`.graph.RELAYOUT`) may carry the data, and what they do is
checked by running them: the evaluator must turn a probe ``Y`` [T, D, batch, H]
into [T, batch, D·H] with the forward units first.

Refused: no recurrent node at all (a recurrence unrolled into per-step ops, or
written as a loop), opsets before :data:`MIN_OPSET`, nodes that do not feed one
another, and an op on the followed path that is not a re-layout.
"""

from __future__ import annotations

import numpy as np

from .graph import CONTROL, RECURRENT, Graph, show
from .nodes import directions, y_shape

#: Opsets whose recurrent ops lstm-tui reads (the first with today's LSTM, GRU and RNN is 7).
MIN_OPSET = 7


def stack(graph: Graph) -> list[list]:
    """The recurrent nodes as stack levels, first to last: a level is one node, or a forward and a
    reverse node reading the same input."""
    rnn = [n for n in graph.nodes if n.op_type in RECURRENT and n.domain in ("", "ai.onnx")]
    if not rnn:
        ctl = next((n for n in graph.nodes if n.op_type in CONTROL), None)
        if ctl is not None:
            raise graph.fail(f"no LSTM, GRU or RNN node: stopped at {graph.label(ctl)}; a recurrence written as "
                             "a loop cannot be read")
        ops = ", ".join(dict.fromkeys(show(n.op_type) for n in graph.nodes))
        if len(ops) > 100:
            ops = ops[:99] + "…"
        last = graph.producer.get(graph.outputs[0]) if graph.outputs else None
        where = f"; the output is computed by {graph.label(last)}" if last is not None else ""
        hint = ""
        names = " ".join([*graph.inputs, *(n.name for n in graph.nodes[:50])]).lower()
        if "keras" in names:
            hint = "; for a Keras model open its .keras file (model.save) instead"
        elif show(graph.proto.producer_name).lower().startswith("pytorch"):
            hint = "; torch.onnx.export(..., dynamo=False) writes LSTM, GRU and RNN nodes"
        raise graph.fail(f"no LSTM, GRU or RNN node in the graph (ops: {ops}){where}: a recurrence unrolled "
                         f"into per-step ops cannot be read{hint}")
    if graph.opset < MIN_OPSET:
        raise graph.fail(f"opset {graph.opset}: lstm-tui reads recurrent nodes of opsets {MIN_OPSET} and later")
    groups: dict[str, list] = {}
    for n in rnn:
        if not n.input or not n.input[0]:
            raise graph.fail(f"{graph.label(n)} has no input X")
        groups.setdefault(n.input[0], []).append(n)
    levels = list(groups.values())
    feeds = {id(level[0]): recurrent_feeders(graph, level[0].input[0]) for level in levels}
    roots = [level for level in levels if not feeds[id(level[0])]]
    if len(roots) != 1:
        a, b = roots[0][0], roots[1][0]
        raise graph.fail(f"{graph.label(a)} and {graph.label(b)} do not feed one another: lstm-tui reads one stack")
    order = [roots[0]]
    while True:
        nxt = [lv for lv in levels if {id(n) for n in feeds[id(lv[0])]} & {id(n) for n in order[-1]}]
        if not nxt:
            break
        if len(nxt) > 1:
            raise graph.fail(f"{graph.label(order[-1][0])} feeds both {graph.label(nxt[0][0])} and "
                             f"{graph.label(nxt[1][0])}: lstm-tui reads one stack")
        level = nxt[0]
        got = {id(n) for n in feeds[id(level[0])]}
        if got != {id(n) for n in order[-1]}:
            raise graph.fail(f"{graph.label(level[0])} reads more than the node before it: lstm-tui reads one stack")
        order.append(level)
    for level in levels:
        if not any(level is lv for lv in order):
            raise graph.fail(f"{graph.label(level[0])} is not fed by {graph.label(order[-1][0])} or the nodes "
                             f"before it: lstm-tui reads one stack")
    for level in order:
        check_level(graph, level)
    for k in range(1, len(order)):
        follow(graph, order[k - 1], order[k])
    return order


def recurrent_feeders(graph: Graph, tensor: str) -> list:
    """The recurrent nodes whose outputs reach ``tensor`` through data (not through Shape)."""
    _, _, _, blockers = graph.ancestors([tensor])
    out = {}
    for node, _ in blockers:
        if node.op_type in CONTROL:
            raise graph.fail(f"stopped at {graph.label(node)}: control flow is not followed")
        out.setdefault(id(node), node)
    # the nearest ones only: drop a node that feeds another listed node
    upstream = {id(b) for node in out.values() for b in _recurrent_ancestors(graph, node)}
    return [node for key, node in out.items() if key not in upstream]


def _recurrent_ancestors(graph: Graph, node) -> list:
    """The recurrent nodes upstream of ``node``'s input X."""
    return [b for b, _ in graph.ancestors([node.input[0]])[3]] if node.input else []


def check_level(graph: Graph, level) -> None:
    """Read every node of a level; two must be one forward and one reverse node of the same op (sorted
    forward first)."""
    if len(level) == 1:
        directions(graph, level[0])
        return
    dirs = [(n, graph.attrs(n).get("direction", "forward")) for n in level]
    pair = sorted(d for _, d in dirs) == ["forward", "reverse"]
    if len(level) != 2 or not pair or level[0].op_type != level[1].op_type:
        raise graph.fail(f"{graph.label(level[0])} and {graph.label(level[1])} read the same input but are not "
                         "one forward and one reverse node of the same op")
    level.sort(key=lambda n: graph.attrs(n).get("direction", "forward") != "forward")
    for n in level:
        directions(graph, n)


def follow(graph: Graph, prev: list, nxt: list) -> None:
    """Check that level ``nxt`` reads the Y of level ``prev`` as [T, batch, D·H], forward units first."""
    ys = [y_of(graph, n) for n in prev]
    shapes = [y_shape(graph, n) for n in prev]
    nlayout = int(graph.attrs(nxt[0]).get("layout", 0))

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
    graph.probe(ys, nxt[0].input[0], [make], want, graph.label(prev[0]), graph.label(nxt[0]),
                f"[T, batch, {width}] (forward units first)")


def y_of(graph: Graph, node) -> str:
    """The name of a node's output Y (refused when it has none)."""
    if len(node.output) == 0 or not node.output[0]:
        raise graph.fail(f"{graph.label(node)} has no output Y to follow")
    return node.output[0]
