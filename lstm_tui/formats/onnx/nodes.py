"""One recurrent node (``LSTM``, ``GRU``, ``RNN``) as lstm-tui Layers: gate orders, biases, attributes.

ONNX stacks the gate blocks along the rows as PyTorch does, in another order,
with one bias holding the input and the recurrent halves::

    LSTM  W (D, 4H, E), R (D, 4H, H) blocks i, o, f, c  ->  PyTorch i, f, g, o
    GRU   W (D, 3H, E), R (D, 3H, H) blocks z, r, h     ->  PyTorch r, z, n
    RNN   W (D, H, E),  R (D, H, H)
    B (D, 2·G·H) = [Wb, Rb]                             ->  b_ih = Wb, b_hh = Rb

D is 2 for ``direction="bidirectional"`` (forward first, then reverse), else 1
(``"reverse"`` gives ``reverse=True``). GRU ``linear_before_reset`` 1 is
PyTorch's GRU, 0 (ONNX's default) puts the reset gate before the recurrent
product. ``activations`` (f, g, h for an LSTM; f, g for a GRU; f for an RNN;
twice as many when bidirectional, forward first) keep ONNX's names;
``activation_alpha``/``activation_beta`` are taken in order by the functions
that use them, as onnxruntime does. ``clip`` is kept. ``layout`` 1 (batch
first, opset 14+) is followed. ``initial_h``/``initial_c`` given as constants
are kept; from a graph input they start at zeros (with a note). Refused:
peepholes ``P`` that are not zero, ``input_forget=1``, a ``sequence_lens``
that can differ from the sequence length.
"""

from __future__ import annotations

import numpy as np

from ...core.cells import DEFAULT_ACTIVATIONS, Layer, activation_problem
from ...core.errors import ModelFileError
from ...core.inputs import first_line
from .graph import MAX_TENSOR_BYTES, RECURRENT, Graph, show

#: PyTorch's gate blocks, as indices into ONNX's blocks.
GATE_ORDER = {"lstm": (0, 2, 3, 1), "gru": (1, 0, 2), "rnn": (0,)}

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


class Direction:
    """One direction of a recurrent node: its Layer and initial state (H,) each."""

    def __init__(self, layer: Layer, h0: np.ndarray, c0: np.ndarray | None):
        self.layer, self.h0, self.c0 = layer, h0, c0


def directions(graph: Graph, node) -> list[Direction]:
    """The node's directions (forward first), each with its Layer and initial state."""
    if id(node) in graph.read_nodes:
        return graph.read_nodes[id(node)]
    label = graph.label(node)
    op = node.op_type
    kind, G, per = RECURRENT[op]
    a = graph.attrs(node)
    direction = a.get("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise graph.fail(f"{label}: direction {show(str(direction))!r} is not forward, reverse or bidirectional")
    D = 2 if direction == "bidirectional" else 1
    layout = int(a.get("layout", 0))
    if layout not in (0, 1):
        raise graph.fail(f"{label}: layout {layout} is not 0 or 1")
    if op == "LSTM" and int(a.get("input_forget", 0)) != 0:
        raise graph.fail(f"{label} has input_forget=1 (coupled input and forget gates): not supported")
    H = a.get("hidden_size")
    if H is not None and H <= 0:
        raise graph.fail(f"{label}: hidden_size {H} is not a positive number")
    if H is not None and D * G * H * H * 4 > MAX_TENSOR_BYTES:  # before the weights are read or computed
        raise graph.fail(f"{label}: hidden_size {H} makes R [{D}, {G * H}, {H}] of {D * G * H * H * 4 / 1024**3:.1f}"
                         f" GB, over the {MAX_TENSOR_BYTES // 1024**3} GB lstm-tui reads")
    W = graph.weight(node, 1, "W")
    R = graph.weight(node, 2, "R")
    B = graph.weight(node, 3, "B", required=False)
    if W.ndim != 3 or R.ndim != 3:
        raise graph.fail(f"{label}: W has shape {list(W.shape)} and R {list(R.shape)}, expected 3-D "
                         f"[{D}, {G}*H, E] and [{D}, {G}*H, H]")
    if 0 in W.shape or 0 in R.shape:
        raise graph.fail(f"{label}: W has shape {list(W.shape)} and R {list(R.shape)}: no weights "
                         "(a size is 0)")
    if H is None:
        H = R.shape[2]
    H = int(H)
    E = W.shape[2]
    for what, arr, shape in (("W", W, (D, G * H, E)), ("R", R, (D, G * H, H)), ("B", B, (D, 2 * G * H))):
        if arr is not None and arr.shape != shape:
            raise graph.fail(f"{label}: {what} has shape {list(arr.shape)}, expected {list(shape)} "
                             f"(direction {direction}, hidden_size {H})")
    if B is None:
        B = np.zeros((D, 2 * G * H), dtype=W.dtype)
    seq = node.input[4] if len(node.input) > 4 else ""
    if seq:
        check_sequence_lens(graph, node, seq, layout)
    if op == "LSTM":
        P = graph.weight(node, 7, "P (peepholes)", required=False)
        if P is not None and np.any(P):
            raise graph.fail(f"{label} has peephole weights P that are not zero: not supported")
    h0 = initial_state(graph, node, 5, "initial_h", D, H, layout, W.dtype)
    c0 = initial_state(graph, node, 6, "initial_c", D, H, layout, W.dtype) if op == "LSTM" else None
    clip = a.get("clip")
    if clip is not None and not (np.isfinite(clip) and clip > 0):
        raise graph.fail(f"{label}: clip {clip} is not a positive number")
    lbr = bool(int(a.get("linear_before_reset", 0))) if op == "GRU" else True
    acts = activations(graph, node, kind, per, D)
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
        out.append(Direction(layer, h0[d], None if c0 is None else c0[d]))
    graph.read_nodes[id(node)] = out
    return out


def activations(graph: Graph, node, cell: str, per: int, D: int) -> list[tuple | None]:
    """Per direction, the activations as (name, alpha, beta) tuples, or None for the defaults."""
    a = graph.attrs(node)
    names = a.get("activations")
    alphas = list(a.get("activation_alpha", []))
    betas = list(a.get("activation_beta", []))
    if not names:
        if alphas or betas:
            raise graph.fail(f"{graph.label(node)} has activation_alpha/beta without activations")
        return [None] * D
    if len(names) != per * D:
        raise graph.fail(f"{graph.label(node)} lists {len(names)} activations, expected {per * D}")
    acts = []
    for raw in names:
        name = ACTIVATION_NAMES.get(str(raw).lower())
        if name is None:
            raise graph.fail(f"{graph.label(node)}: activation {show(str(raw))!r} is not one of "
                             f"{', '.join(ACTIVATION_NAMES.values())}")
        use_a, use_b = USES.get(name, (0, 0))
        da, db = ALPHA_BETA_DEFAULTS.get(name, (None, None))
        alpha = beta = 0.0
        if use_a:
            alpha = alphas.pop(0) if alphas else da
        if use_b:
            beta = betas.pop(0) if betas else db
        if alpha is None or beta is None:
            raise graph.fail(f"{graph.label(node)}: activation {name} needs activation_alpha and activation_beta "
                             "(runtimes disagree on its defaults)")
        if problem := activation_problem((name, alpha, beta), ("activation_alpha", "activation_beta")):
            raise graph.fail(f"{graph.label(node)}: {problem}")
        acts.append((name, float(alpha), float(beta)))
    if alphas or betas:  # onnxruntime hands them out in order and leaves the rest unused: so does lstm-tui
        graph.notes.append(f"{graph.label(node)} lists more activation_alpha/beta values than its activations "
                           "take: the extra ones are unused")
    return [tuple(acts[d * per : (d + 1) * per]) for d in range(D)]


def initial_state(graph: Graph, node, k: int, what: str, D: int, H: int, layout: int, dtype) -> np.ndarray:
    """Initial state input k as (D, H): zeros when absent or a graph input (with a note)."""
    zeros = np.zeros((D, H), dtype=dtype)
    tensor = node.input[k] if len(node.input) > k else ""
    if not tensor:
        return zeros
    value = graph.constant(tensor, what, node)
    if value is None:
        src = next(iter(graph.ancestors([tensor])[1]))
        graph.notes.append(f"{what} of {graph.label(node)} comes from graph input {show(src)!r}: "
                           "lstm-tui starts from zeros")
        return zeros
    if value.dtype.kind != "f" or not np.isfinite(value).all():
        raise graph.fail(f"{what} of {graph.label(node)} is not finite floating-point values")
    if layout == 1 and value.ndim == 3:
        value = value.transpose(1, 0, 2)  # [batch, D, H] -> [D, batch, H]
    if value.ndim != 3 or value.shape[0] != D or value.shape[2] != H:
        want = f"[{D}, batch, {H}]" if layout == 0 else f"[batch, {D}, {H}]"
        raise graph.fail(f"{what} of {graph.label(node)} has shape {list(value.shape)}, expected {want}")
    if value.shape[1] > 1 and not np.all(value == value[:, :1]):
        raise graph.fail(f"{what} of {graph.label(node)} differs between the {value.shape[1]} sequences of the "
                         "batch: lstm-tui runs one sequence")
    return np.asarray(value[:, 0], dtype=dtype)


def check_sequence_lens(graph: Graph, node, tensor: str, layout: int) -> None:
    """Accept ``sequence_lens`` only when it is the sequence length itself (computed from X's shape)."""
    nodes, value_inputs, shape_inputs, blockers = graph.ancestors([tensor])
    where = f"sequence_lens of {graph.label(node)}"
    if value_inputs:
        raise graph.fail(f"{where} comes from graph input {show(next(iter(value_inputs)))!r}: lstm-tui runs "
                         "every sequence to its full length")
    if blockers:
        raise graph.fail(f"{where} is computed by {graph.label(blockers[0][0])}: not followed")
    X = node.input[0]
    nodes, _, _, _ = graph.ancestors([tensor, X])
    inputs = set(shape_inputs) | set(graph.ancestors([X])[1]) | set(graph.ancestors([X])[2])
    for free in (2, 5):  # two lengths: a constant equals at most one of them
        try:
            lens, x = graph.run(nodes, graph.placeholders(inputs, free), [tensor, X])
        except ModelFileError:
            raise
        except Exception as exc:
            raise graph.fail(f"cannot evaluate {where} ({first_line(exc)})") from None
        if not np.all(np.asarray(lens) == x.shape[1 if layout == 1 else 0]):
            raise graph.fail(f"{where} can be shorter than the sequence: lstm-tui runs every sequence to its "
                             "full length")


def y_shape(graph: Graph, node) -> tuple[int, int, int]:
    """(D, H, layout) of a node's Y."""
    dirs = directions(graph, node)
    return len(dirs), dirs[0].layer.output_size, int(graph.attrs(node).get("layout", 0))
