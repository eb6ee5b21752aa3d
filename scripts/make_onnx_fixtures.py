"""Regenerate the ONNX fixtures: small graphs and onnxruntime's numbers for them.

    KERAS_BACKEND=torch python scripts/make_onnx_fixtures.py tests/data/onnx

Needs PyTorch, onnx, onnxruntime and onnxscript (the dynamo exporter); the
package and its tests never do. Two kinds of graphs:

- ``torch_{legacy,dynamo}_*.onnx``: small PyTorch models exported with
  ``torch.onnx.export`` (``dynamo=False`` is the TorchScript exporter,
  ``dynamo=True`` the torch.export one); users hold files from both.
- ``node_*.onnx``: recurrent nodes built with ``onnx.helper`` for what
  PyTorch never exports: reverse nodes, GRU ``linear_before_reset=0``, other
  activations with alpha/beta, ``clip``, constant initial states, ``layout=1``,
  weights computed by Constant/Identity/Transpose/Reshape/Unsqueeze/Concat/
  Slice/Expand nodes, a forward and a reverse node joined by Concat, a Gemm head.

Beside each ``NAME.onnx``, ``NAME.npz`` holds the input and onnxruntime's
outputs for it (batch 1):

- ``ids`` [T] int64 token ids, or ``frames`` [T, E] float32;
- ``h_l{k}`` [T, W]: the Y of stack level k (its recurrent node or nodes)
  laid out as lstm-tui's export does: forward units first, position t is
  ONNX's position t;
- ``hT_l{k}`` [D, H] (and ``cT_l{k}`` for an LSTM): the node's Y_h (Y_c),
  each direction's final state;
- ``y`` [T, V]: the graph's output after the head, as the graph computes it
  (probabilities, log-probabilities or logits: ``head`` says which);
- ``h0_l{k}``/``c0_l{k}`` [W] when the graph starts from a constant state.

``index.json`` says what each fixture covers and, for the PyTorch exports,
the largest difference between onnxruntime and PyTorch on the same input.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

T = 7  # steps of every fixture input


def ort_run(model, feeds: dict, levels: list[list[str]]) -> dict:
    """Run ``model`` with onnxruntime, every level's Y, Y_h, Y_c made graph outputs too."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    by_name = {n.name: n for n in m.graph.node}
    extra = []
    for k, level in enumerate(levels):
        for j, name in enumerate(level):
            node = by_name[name]
            outs = list(node.output) + [""] * (3 - len(node.output))
            count = 3 if node.op_type == "LSTM" else 2
            for i in range(count):
                if not outs[i]:
                    outs[i] = f"__fx_{k}_{j}_{i}"
            del node.output[:]
            node.output.extend(outs[:count])
            extra += [(k, j, i, outs[i]) for i in range(count)]
    have = {o.name for o in m.graph.output}
    for _, _, _, t in extra:
        if t not in have:
            m.graph.output.append(helper.make_empty_tensor_value_info(t))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, feeds)))
    out = {"__graph__": [got[o.name] for o in model.graph.output]}
    for k, j, i, t in extra:
        out[(k, j, i)] = got[t]
    return out


def layouts(model, levels):
    import onnx

    by_name = {n.name: n for n in model.graph.node}
    res = []
    for level in levels:
        res.append([next((onnx.helper.get_attribute_value(a) for a in by_name[n].attribute if a.name == "layout"), 0)
                    for n in level])
    return res


def reference(model, feeds: dict, levels: list[list[str]], head: str) -> dict:
    """The fixture arrays for ``model`` on ``feeds`` (see the module docstring)."""
    got = ort_run(model, feeds, levels)
    lay = layouts(model, levels)
    out = {}
    for k, level in enumerate(levels):
        parts, hT, cT = [], [], []
        for j in range(len(level)):
            Y = got[(k, j, 0)]
            if lay[k][j] == 1:
                Y = Y.transpose(1, 2, 0, 3)  # [batch, T, D, H] -> [T, D, batch, H]
                hT.append(got[(k, j, 1)][0])  # [batch, D, H]
                if (k, j, 2) in got:
                    cT.append(got[(k, j, 2)][0])
            else:
                hT.append(got[(k, j, 1)][:, 0])
                if (k, j, 2) in got:
                    cT.append(got[(k, j, 2)][:, 0])
            parts.append(Y[:, :, 0, :].reshape(Y.shape[0], -1))
        out[f"h_l{k}"] = np.concatenate(parts, axis=1)
        out[f"hT_l{k}"] = np.concatenate(hT, axis=0)
        if cT:
            out[f"cT_l{k}"] = np.concatenate(cT, axis=0)
    if head != "none":
        y = got["__graph__"][0]
        out["y"] = y.reshape(-1, y.shape[-1]) if y.ndim == 2 else (y[0] if y.shape[0] == 1 else y[:, 0])
    return out


def save(outdir: Path, name: str, model, inputs: dict, levels, head: str, index: dict, about: str, twin=None,
         **extra):
    """Write NAME.onnx and NAME.npz; ``inputs`` maps graph input names to arrays (batch included).

    onnxruntime runs no ``layout=1`` node: such a graph gives ``twin``, the
    same weights with ``layout=0`` (model, inputs, levels), whose numbers are
    stored; the graph itself is run with onnx.reference, and its largest
    difference from the twin is recorded.
    """
    import onnx
    from onnx.reference import ReferenceEvaluator

    onnx.checker.check_model(model)
    if twin is None:
        arrays = reference(model, inputs, levels, head)
    else:
        arrays = reference(*twin, head)
        got = ReferenceEvaluator(model).run(None, inputs)[0]
        want = arrays["y"] if head != "none" else arrays["h_l0"]
        extra["reference_evaluator_vs_onnxruntime_twin"] = float(np.abs(got.reshape(want.shape) - want).max())
    arrays.update({k: v for k, v in extra.items() if isinstance(v, np.ndarray)})
    onnx.save(model, outdir / f"{name}.onnx")
    np.savez(outdir / f"{name}.npz", **arrays)
    index[name] = {"about": about, "head": head, "levels": len(levels),
                   **{k: v for k, v in extra.items() if not isinstance(v, np.ndarray)}}
    print(f"{name}: {about}")


# --- PyTorch exports ------------------------------------------------------------


def torch_models():
    """name -> (module factory, takes ids, batch_first, head kind, about)."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, kind, layers, bidirectional, V=11, E=5, H=4, embed=True, head="softmax",
                     batch_first=False, mlp=(), out=None, last=False, final=False, pool="", **kw):
            super().__init__()
            self.embed = nn.Embedding(V, E) if embed else None
            self.rnn = getattr(nn, kind)(E, H, num_layers=layers, bidirectional=bidirectional,
                                         batch_first=batch_first, **kw)
            width, hidden = H * (2 if bidirectional else 1), []
            for units, act in mlp:  # the head's hidden layers: Linear, then an activation module
                hidden += [nn.Linear(width, units), act]
                width = units
            self.mlp = nn.Sequential(*hidden)
            self.fc = nn.Linear(width, out or V) if head != "none" else None
            self.head = head
            self.last = last  # the head reads the last position only: out[-1], as a classifier does
            self.final = final  # the head reads the last layer's final state: fc(h_n[-1]), or "pair": both halves
            self.pool = pool  # the head reads the max or mean over the positions: fc(out.max(1).values)

        def forward(self, x):
            if self.embed is not None:
                x = self.embed(x)
            y, state = self.rnn(x)
            if self.final:
                h_n = state[0] if isinstance(state, tuple) else state
                y = torch.cat((h_n[-2], h_n[-1]), dim=1) if self.final == "pair" else h_n[-1]
            if self.fc is None:
                return y
            if self.last:
                y = y[:, -1] if self.rnn.batch_first else y[-1]
            steps = 1 if self.rnn.batch_first else 0
            if self.pool:
                y = y.max(dim=steps).values if self.pool == "max" else y.mean(dim=steps)
            y = self.fc(self.mlp(y))
            if self.head == "softmax":
                return torch.softmax(y, dim=-1)
            if self.head == "logsoftmax":
                return torch.log_softmax(y, dim=-1)
            if self.head == "sigmoid":
                return torch.sigmoid(y)
            return y

    return {
        "lstm_bi2_emb_softmax": (lambda: Net("LSTM", 2, True), True, False, "softmax",
                                 "Embedding -> 2-layer bidirectional LSTM -> Linear -> softmax"),
        "lstm2_emb_logits": (lambda: Net("LSTM", 2, False, head="logits"), True, False, "logits",
                             "Embedding -> 2-layer LSTM -> Linear (logits)"),
        "gru_bi2_emb_logsoftmax": (lambda: Net("GRU", 2, True, head="logsoftmax"), True, False, "logsoftmax",
                                   "Embedding -> 2-layer bidirectional GRU -> Linear -> log_softmax"),
        "gru1_frames_bf": (lambda: Net("GRU", 1, False, embed=False, head="none", batch_first=True), False, True,
                           "none", "1-layer GRU, batch_first, on frames, no head"),
        "rnn_tanh2_emb_softmax": (lambda: Net("RNN", 2, False), True, False, "softmax",
                                  "Embedding -> 2-layer tanh RNN -> Linear -> softmax"),
        "rnn_relu_bi_frames": (lambda: Net("RNN", 1, True, embed=False, nonlinearity="relu", head="logits"), False,
                               False, "logits", "bidirectional relu RNN on frames -> Linear (logits)"),
        "lstm_bi1_frames_bf": (lambda: Net("LSTM", 1, True, embed=False, head="softmax", batch_first=True), False,
                               True, "softmax", "bidirectional LSTM, batch_first, on frames -> Linear -> softmax"),
        # the legacy exporter makes layer 2's initial state from the Shape of layer 1's Y (a relu node)
        "rnn_relu2_emb_logits": (lambda: Net("RNN", 2, False, nonlinearity="relu", head="logits"), True, False,
                                 "logits", "Embedding -> 2-layer relu RNN -> Linear (logits)"),
        "lstm_mlp_emb_softmax": (lambda: Net("LSTM", 1, False, mlp=((6, nn.ReLU()),)), True, False, "softmax",
                                 "Embedding -> LSTM -> Linear -> ReLU -> Linear -> softmax (a head with a hidden "
                                 "layer)"),
        "gru_bi_mlp2_frames_logits": (lambda: Net("GRU", 1, True, embed=False, head="logits",
                                                  mlp=((5, nn.Tanh()), (3, nn.LeakyReLU(0.1)))), False, False,
                                      "logits", "bidirectional GRU on frames -> Linear -> Tanh -> Linear -> "
                                      "LeakyReLU(0.1) -> Linear (two hidden layers)"),
        "lstm_emb_binary_sigmoid": (lambda: Net("LSTM", 1, False, head="sigmoid", out=1, mlp=((5, nn.ReLU()),)),
                                    True, False, "sigmoid", "Embedding -> LSTM -> Linear -> ReLU -> Linear(1) -> "
                                    "sigmoid (a binary classifier)"),
        "lstm_last_mlp_binary": (lambda: Net("LSTM", 1, False, head="sigmoid", out=1, mlp=((5, nn.ReLU()),),
                                             last=True), True, False, "sigmoid",
                                 "Embedding -> LSTM -> out[-1] -> Linear -> ReLU -> Linear(1) -> sigmoid (the usual "
                                 "sentiment classifier: its head reads the last position)"),
        "lstm2_final_state_logits": (lambda: Net("LSTM", 2, False, head="logits", out=3, final=True), True, False,
                                     "logits", "Embedding -> 2-layer LSTM -> h_n[-1] -> Linear(3) (a classifier on the "
                                     "last layer's final state)"),
        "gru_final_state_mlp_softmax": (lambda: Net("GRU", 1, False, out=4, final=True, mlp=((5, nn.Tanh()),)), True,
                                        False, "softmax", "Embedding -> GRU -> h_n[-1] -> Linear -> Tanh -> Linear(4) "
                                        "-> softmax"),
        "lstm_max_pool_mlp_softmax": (lambda: Net("LSTM", 1, False, out=3, pool="max", mlp=((5, nn.ReLU()),)), True,
                                      False, "softmax", "Embedding -> LSTM -> out.max(0) over the positions -> Linear "
                                      "-> ReLU -> Linear(3) -> softmax (a pooling head)"),
        "gru_bi_mean_pool_logits": (lambda: Net("GRU", 1, True, head="logits", out=2, pool="mean", batch_first=True),
                                    True, True, "logits", "Embedding -> bidirectional GRU, batch_first -> out.mean(1) "
                                    "-> Linear(2) (a pooling head)"),
        "lstm_bi2_final_pair_sigmoid": (lambda: Net("LSTM", 2, True, head="sigmoid", out=1, final="pair"), True, False,
                                        "sigmoid", "Embedding -> 2-layer bidirectional LSTM -> torch.cat((h_n[-2], "
                                        "h_n[-1]), 1) -> Linear(1) -> sigmoid (the usual bidirectional classifier)"),
    }


def make_torch(outdir: Path, index: dict) -> None:
    import onnx
    import torch

    rng = np.random.default_rng(7)
    for seed, (key, (factory, ids, batch_first, head, about)) in enumerate(torch_models().items()):
        for exporter in ("legacy", "dynamo"):
            name = f"torch_{exporter}_{key}"
            torch.manual_seed(seed)
            net = factory().eval()
            if ids:
                x = rng.integers(0, 11, size=T).astype(np.int64)
            else:
                x = rng.standard_normal((T, 5)).astype(np.float32)
            shaped = x[None] if batch_first else x[:, None]  # [1, T, ...] or [T, 1, ...]
            tx = torch.from_numpy(np.ascontiguousarray(shaped))
            path = outdir / f"{name}.onnx"
            tdim = 1 if batch_first else 0
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if exporter == "legacy":
                        torch.onnx.export(net, (tx,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                                          dynamic_axes={"x": {tdim: "T"}}, opset_version=17)
                    else:
                        torch.onnx.export(net, (tx,), str(path), dynamo=True, input_names=["x"], output_names=["y"],
                                          dynamic_shapes=({tdim: torch.export.Dim("T", min=2, max=4096)},),
                                          verbose=False)
            except Exception as exc:  # an exporter that cannot export this model: say so, keep going
                print(f"{name}: NOT EXPORTED ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
                index[name] = {"about": about, "skipped": f"{type(exc).__name__}"}
                continue
            model = onnx.load(str(path))  # with any external data: saved again below as one file
            for extra_file in outdir.glob(f"{name}.onnx*"):
                extra_file.unlink()
            levels = [[n.name] for n in model.graph.node if n.op_type in ("LSTM", "GRU", "RNN")]
            if not levels:  # unrolled into one MatMul/Add/Tanh block per step: kept (2 steps) as a refusal
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(net, (tx[:2] if tdim == 0 else tx[:, :2],), str(path), dynamo=True,
                                      input_names=["x"], output_names=["y"], verbose=False)
                ops = sorted({n.op_type for n in onnx.load(str(path)).graph.node})
                refused = f"no recurrent node: the exporter unrolled the steps ({', '.join(ops)})"
                index[name] = {"about": about, "refused": refused}
                print(f"{name}: unrolled by the exporter, kept as a refusal")
                continue
            dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
            with torch.no_grad():
                want = net(tx).numpy()
            feeds = {model.graph.input[0].name: shaped}
            arrays = reference(model, feeds, levels, head if head != "none" else "none")
            graph_y = ort_run(model, feeds, [])["__graph__"][0]
            err = float(np.abs(graph_y - want).max())
            extra = {"torch_vs_onnxruntime": err, "exporter": exporter, "input_dims": dims,
                     "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))}
            inputs = {"ids": x} if ids else {"frames": x}
            save(outdir, name, model, feeds, levels, head, index, about, **inputs, **extra)


# --- hand-built nodes -----------------------------------------------------------------


class Builder:
    """A graph of recurrent nodes built with onnx.helper, weights drawn from one generator."""

    def __init__(self, opset: int, seed: int):
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def init(self, array, base="w") -> str:
        from onnx import numpy_helper

        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def const(self, array, base="c") -> str:
        """A Constant node's output."""
        from onnx import helper, numpy_helper

        out = self.name(base)
        self.nodes.append(helper.make_node("Constant", [], [out], name=self.name("Constant"),
                                           value=numpy_helper.from_array(np.asarray(array), out + "_v")))
        return out

    def op(self, op: str, inputs, n_out=1, **attrs):
        from onnx import helper

        name = self.name(op)
        outs = [f"{name}_out{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def weights(self, op: str, D: int, H: int, E: int, scale=0.6):
        G = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
        W = (self.rng.standard_normal((D, G * H, E)) * scale).astype(np.float32)
        R = (self.rng.standard_normal((D, G * H, H)) * scale).astype(np.float32)
        B = (self.rng.standard_normal((D, 2 * G * H)) * 0.3).astype(np.float32)
        return W, R, B

    def rnn(self, op, X, W, R, B="", seq="", h0="", c0="", P="", **attrs):
        name = self.name(op)
        inputs = [X, W, R, B, seq, h0]
        if op == "LSTM":
            inputs += [c0, P]
        while inputs and not inputs[-1]:
            inputs.pop()
        from onnx import helper

        outs = [f"{name}_Y", f"{name}_Y_h"] + ([f"{name}_Y_c"] if op == "LSTM" else [])
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return name, outs[0]

    def model(self, inputs, outputs):
        from onnx import TensorProto, helper

        ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT if dt == "f" else TensorProto.INT64, shape)
               for n, dt, shape in inputs]
        outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n, shape in outputs]
        ir = {7: 3, 9: 4, 11: 6, 13: 7, 14: 7, 17: 8, 22: 10}[self.opset]
        if ir < 4:  # IR 3 lists every initializer among the graph inputs too
            ins += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in self.inits]
        graph = helper.make_graph(self.nodes, "g", ins, outs, initializer=self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)], ir_version=ir,
                                 producer_name="make_onnx_fixtures")


def single(outdir, index, name, op, *, opset=13, direction="forward", H=4, E=3, layout=0, attrs=None,
           state=False, state_input=False, about="", scale=0.6, seed=0, build_only=False):
    """One recurrent node reading frames; its Y is the graph output."""
    b = Builder(opset, seed)
    D = 2 if direction == "bidirectional" else 1
    W, R, B = b.weights(op, D, H, E, scale)
    given, attrs = attrs, dict(attrs or {})
    attrs["hidden_size"] = H
    if direction != "forward":
        attrs["direction"] = direction
    if layout:
        attrs["layout"] = layout
    extra, h0 = {}, ""
    c0 = ""
    inputs = [("X", "f", [1, "T", E] if layout else ["T", 1, E])]
    if state:
        hs = (b.rng.standard_normal((D, 1, H)) * 0.8).astype(np.float32)
        cs = (b.rng.standard_normal((D, 1, H)) * 0.8).astype(np.float32)
        to = (lambda a: a.transpose(1, 0, 2)) if layout else (lambda a: a)
        h0 = b.init(to(hs), "initial_h")
        c0 = b.init(to(cs), "initial_c") if op == "LSTM" else ""
        extra["h0_l0"] = hs[:, 0].reshape(-1)
        if op == "LSTM":
            extra["c0_l0"] = cs[:, 0].reshape(-1)
    if state_input:
        h0 = "h0"
        inputs.append(("h0", "f", [D, 1, H]))
    node, Y = b.rnn(op, "X", b.init(W, "W"), b.init(R, "R"), b.init(B, "B"), h0=h0, c0=c0, **attrs)
    model = b.model(inputs, [(Y, [1, "T", D, H] if layout else ["T", D, 1, H])])
    frames = b.rng.standard_normal((T, E)).astype(np.float32)
    feeds = {"X": frames[None] if layout else frames[:, None]}
    if state_input:
        feeds["h0"] = np.zeros((D, 1, H), dtype=np.float32)
    if build_only:
        return model, feeds, [[node]]
    twin = None
    if layout:
        twin = single(outdir, index, name, op, opset=opset, direction=direction, H=H, E=E, layout=0, attrs=given,
                      state=state, state_input=state_input, scale=scale, seed=seed, build_only=True)
    save(outdir, name, model, feeds, [[node]], "none", index, about, twin=twin, frames=frames, opset=opset, **extra)


def wrapped(outdir, index):
    """An LSTM whose every weight and state is computed by re-layout nodes from constants (opset 13)."""
    b = Builder(13, 11)
    D, H, E, G = 2, 3, 4, 4
    W, R, B = b.weights("LSTM", D, H, E)
    # W: stored transposed [E, D, 4H] -> Transpose -> [D, 4H, E], through Identity
    Wt = b.op("Identity", [b.init(W.transpose(2, 0, 1), "W_t")])
    Wn = b.op("Transpose", [Wt], perm=[1, 2, 0])
    # R: two directions stored apart, each [4H, H], Unsqueeze'd and Concat'ed
    R0 = b.op("Unsqueeze", [b.const(R[0], "R_fwd"), b.const(np.array([0], np.int64))])
    R1 = b.op("Unsqueeze", [b.init(R[1], "R_bwd"), b.const(np.array([0], np.int64))])
    Rn = b.op("Concat", [R0, R1], axis=0)
    # B: a Slice of a longer flat constant, Reshape'd
    padded = np.concatenate([np.full(5, 9.0, np.float32), B.reshape(-1), np.full(3, 9.0, np.float32)])
    Bs = b.op("Slice", [b.init(padded, "B_padded"), b.const(np.array([5], np.int64)),
                        b.const(np.array([5 + B.size], np.int64))])
    Bn = b.op("Reshape", [Bs, b.const(np.array([D, 2 * G * H], np.int64))])
    # initial_h: Expand of one row; initial_c: Cast of a float64 constant
    hrow = (b.rng.standard_normal((1, 1, H)) * 0.5).astype(np.float32)
    h0 = b.op("Expand", [b.const(hrow, "h_row"), b.const(np.array([D, 1, H], np.int64))])
    cs = (b.rng.standard_normal((D, 1, H)) * 0.5)
    c0 = b.op("Cast", [b.init(cs.astype(np.float64), "c_f64")], to=1)
    node, Y = b.rnn("LSTM", "X", Wn, Rn, Bn, h0=h0, c0=c0, hidden_size=H, direction="bidirectional")
    model = b.model([("X", "f", ["T", 1, E])], [(Y, ["T", D, 1, H])])
    frames = b.rng.standard_normal((T, E)).astype(np.float32)
    save(outdir, "node_lstm_bi_wrapped_weights", model, {"X": frames[:, None]}, [[node]], "none", index,
         "bidirectional LSTM: W, R, B, initial_h, initial_c behind Identity/Transpose/Unsqueeze/Concat/Slice/"
         "Reshape/Expand/Cast/Constant", frames=frames, opset=13,
         h0_l0=np.broadcast_to(hrow, (D, 1, H))[:, 0].reshape(-1).astype(np.float32),
         c0_l0=cs[:, 0].reshape(-1).astype(np.float32))


def split_bidirectional(outdir, index):
    """Embedding -> a forward and a reverse LSTM node joined by Concat -> LSTM -> Gemm -> Softmax (opset 13)."""
    b = Builder(13, 12)
    V, E, H, H2 = 9, 3, 4, 5
    emb = (b.rng.standard_normal((V, E))).astype(np.float32)
    x = b.op("Gather", [b.init(emb, "embedding"), "ids"], axis=0)  # ids [T, 1] -> [T, 1, E]
    Wf, Rf, Bf = b.weights("LSTM", 1, H, E)
    Wr, Rr, Br = b.weights("LSTM", 1, H, E)
    nf, Yf = b.rnn("LSTM", x, b.init(Wf), b.init(Rf), b.init(Bf), hidden_size=H)
    nr, Yr = b.rnn("LSTM", x, b.init(Wr), b.init(Rr), b.init(Br), hidden_size=H, direction="reverse")
    axes = b.const(np.array([1], np.int64))
    cat = b.op("Concat", [b.op("Squeeze", [Yf, axes]), b.op("Squeeze", [Yr, axes])], axis=2)  # [T, 1, 2H]
    Wg, Rg, Bg = b.weights("LSTM", 1, H2, 2 * H)
    ng, Yg = b.rnn("LSTM", cat, b.init(Wg), b.init(Rg), b.init(Bg), hidden_size=H2)
    flat = b.op("Reshape", [Yg, b.const(np.array([-1, H2], np.int64))])  # [T, H2]
    Wh = b.rng.standard_normal((V, H2)).astype(np.float32)
    bh = b.rng.standard_normal(V).astype(np.float32)
    logits = b.op("Gemm", [flat, b.init(Wh), b.init(bh)], transB=1, alpha=0.5, beta=2.0)
    y = b.op("Softmax", [logits], axis=1)
    model = b.model([("ids", "i", ["T", 1])], [(y, ["T", V])])
    ids = b.rng.integers(0, V, T).astype(np.int64)
    save(outdir, "node_split_bi_lstm_lstm_gemm", model, {"ids": ids[:, None]}, [[nf, nr], [ng]], "softmax", index,
         "Gather embedding -> forward + reverse LSTM nodes joined by Squeeze/Concat -> LSTM -> Reshape -> "
         "Gemm(transB, alpha, beta) -> Softmax", ids=ids, opset=13)


def layout1_stack(outdir, index, layout=1):
    """Batch-first (layout=1) bidirectional GRU (lbr 0) -> Reshape -> layout=1 GRU (lbr 1) -> MatMul+Add (opset 14).

    ``layout=0`` builds the same weights as a time-first twin for onnxruntime.
    """
    b = Builder(14, 13)
    E, H, H2, V = 3, 4, 3, 6
    W, R, B = b.weights("GRU", 2, H, E)
    W2, R2, B2 = b.weights("GRU", 1, H2, 2 * H)
    Wh = b.rng.standard_normal((H2, V)).astype(np.float32)
    bh = b.rng.standard_normal(V).astype(np.float32)
    frames = b.rng.standard_normal((T, E)).astype(np.float32)
    lay = {"layout": 1} if layout else {}
    n1, Y1 = b.rnn("GRU", "X", b.init(W), b.init(R), b.init(B), hidden_size=H, direction="bidirectional", **lay)
    if layout:
        x2 = b.op("Reshape", [Y1, b.const(np.array([1, -1, 2 * H], np.int64))])  # [1, T, 2, H] -> [1, T, 2H]
    else:
        x2 = b.op("Reshape", [b.op("Transpose", [Y1], perm=[0, 2, 1, 3]), b.const(np.array([0, 1, 2 * H], np.int64))])
    n2, Y2 = b.rnn("GRU", x2, b.init(W2), b.init(R2), b.init(B2), hidden_size=H2, linear_before_reset=1, **lay)
    h = b.op("Squeeze", [Y2, b.const(np.array([2 if layout else 1], np.int64))])  # [1, T, H2] or [T, 1, H2]
    logits = b.op("Add", [b.init(bh), b.op("MatMul", [h, b.init(Wh)])])
    shape = [1, "T", E] if layout else ["T", 1, E]
    model = b.model([("X", "f", shape)], [(logits, [1, "T", V] if layout else ["T", 1, V])])
    feeds = {"X": frames[None] if layout else frames[:, None]}
    if not layout:
        return model, feeds, [[n1], [n2]]
    save(outdir, "node_layout1_gru_bi_gru", model, feeds, [[n1], [n2]], "logits", index,
         "layout=1: bidirectional GRU (linear_before_reset 0) -> Reshape -> GRU (linear_before_reset 1) -> "
         "MatMul + Add", frames=frames,
         opset=14, twin=layout1_stack(outdir, index, layout=0))


def batch_major(outdir, index):
    """As tf2onnx writes a Keras Bidirectional(LSTM) -> Dense(softmax): input [batch, T, E] transposed in, zero
    peepholes, sequence_lens computed from the input's shape, Y transposed back to [batch, T, 2H] (opset 13)."""
    b = Builder(13, 14)
    E, H, V = 3, 4, 5
    W, R, B = b.weights("LSTM", 2, H, E)
    x = b.op("Transpose", ["X"], perm=[1, 0, 2])  # [T, batch, E]
    shape = b.op("Shape", ["X"])
    steps = b.op("Slice", [shape, b.const(np.array([1], np.int64)), b.const(np.array([2], np.int64))])  # [T]
    batch = b.op("Slice", [shape, b.const(np.array([0], np.int64)), b.const(np.array([1], np.int64))])
    lens = b.op("Cast", [b.op("Expand", [steps, batch])], to=6)  # int32 [batch], every entry T
    P = b.init(np.zeros((2, 3 * H), np.float32), "P")
    node, Y = b.rnn("LSTM", x, b.init(W), b.init(R), b.init(B), seq=lens, P=P, hidden_size=H,
                    direction="bidirectional")
    y = b.op("Transpose", [Y], perm=[2, 0, 1, 3])  # [batch, T, 2, H]
    y = b.op("Reshape", [y, b.const(np.array([0, 0, -1], np.int64))])  # [batch, T, 2H]
    logits = b.op("Add", [b.op("MatMul", [y, b.init(b.rng.standard_normal((2 * H, V)).astype(np.float32))]),
                          b.init(b.rng.standard_normal(V).astype(np.float32))])
    probs = b.op("Softmax", [logits], axis=-1)
    model = b.model([("X", "f", ["batch", "T", E])], [(probs, ["batch", "T", V])])
    frames = b.rng.standard_normal((T, E)).astype(np.float32)
    save(outdir, "node_batch_major_bi_lstm_softmax", model, {"X": frames[None]}, [[node]], "softmax", index,
         "tf2onnx-like: [batch, T, E] -> Transpose -> bidirectional LSTM (zero P, sequence_lens from the shape) -> "
         "Transpose/Reshape -> MatMul + Add -> Softmax", frames=frames, opset=13)


def make_nodes(outdir: Path, index: dict) -> None:
    single(outdir, index, "node_lstm_reverse_op7", "LSTM", opset=7, direction="reverse",
           about="reverse LSTM, opset 7")
    single(outdir, index, "node_gru_reverse_lbr1", "GRU", opset=13, direction="reverse",
           attrs={"linear_before_reset": 1}, about="reverse GRU, linear_before_reset 1")
    single(outdir, index, "node_gru_lbr0_op9", "GRU", opset=9, about="GRU, linear_before_reset 0 (default), opset 9")
    single(outdir, index, "node_gru_bi_lbr1", "GRU", opset=11, direction="bidirectional",
           attrs={"linear_before_reset": 1}, about="bidirectional GRU, linear_before_reset 1")
    single(outdir, index, "node_gru_bi_lbr0", "GRU", opset=22, direction="bidirectional",
           about="bidirectional GRU, linear_before_reset 0, opset 22")
    single(outdir, index, "node_rnn_reverse", "RNN", direction="reverse", about="reverse tanh RNN")
    single(outdir, index, "node_lstm_acts", "LSTM", opset=22,
           attrs={"activations": ["HardSigmoid", "LeakyRelu", "Softsign"], "activation_alpha": [0.25, 0.1],
                  "activation_beta": [0.4]},
           about="LSTM activations HardSigmoid(0.25, 0.4), LeakyRelu(0.1), Softsign")
    single(outdir, index, "node_gru_bi_acts", "GRU", opset=14, direction="bidirectional",
           attrs={"activations": ["Sigmoid", "ScaledTanh", "HardSigmoid", "Elu"],
                  "activation_alpha": [1.5, 0.3, 0.8], "activation_beta": [0.7, 0.55], "linear_before_reset": 1},
           about="bidirectional GRU: forward Sigmoid/ScaledTanh(1.5, 0.7), reverse HardSigmoid(0.3, 0.55)/Elu(0.8)")
    single(outdir, index, "node_rnn_bi_acts", "RNN", direction="bidirectional",
           attrs={"activations": ["Affine", "Softplus"], "activation_alpha": [0.5], "activation_beta": [0.1]},
           about="bidirectional RNN: forward Affine(0.5, 0.1), reverse Softplus")
    single(outdir, index, "node_rnn_leaky_thresh", "RNN", direction="bidirectional",
           attrs={"activations": ["LeakyRelu", "ThresholdedRelu"], "activation_alpha": [0.2, 0.3]},
           about="bidirectional RNN: forward LeakyRelu(0.2), reverse ThresholdedRelu(0.3)")
    single(outdir, index, "node_lstm_clip", "LSTM", opset=11, attrs={"clip": 0.7}, scale=1.5,
           about="LSTM with clip 0.7 (large weights, so the clip bites)")
    single(outdir, index, "node_gru_clip_reverse", "GRU", opset=13, direction="reverse",
           attrs={"clip": 0.5, "linear_before_reset": 0}, scale=1.5, about="reverse GRU with clip 0.5")
    single(outdir, index, "node_lstm_bi_state", "LSTM", opset=13, direction="bidirectional", state=True,
           about="bidirectional LSTM with constant initial_h and initial_c")
    single(outdir, index, "node_gru_state", "GRU", opset=13, state=True, attrs={"linear_before_reset": 1},
           about="GRU with a constant initial_h")
    single(outdir, index, "node_lstm_layout1_bi_state", "LSTM", opset=14, direction="bidirectional", layout=1,
           state=True, about="layout=1 bidirectional LSTM with constant initial states")
    single(outdir, index, "node_rnn_state_input", "RNN", opset=13, state_input=True,
           about="RNN whose initial_h is a graph input (run with zeros)")
    wrapped(outdir, index)
    split_bidirectional(outdir, index)
    layout1_stack(outdir, index)
    batch_major(outdir, index)


def make_keras(outdir: Path, index: dict) -> None:
    """Keras 3's own ONNX export (``model.export(format="onnx")``, torch backend): its recurrent layers come out as
    per-step ops, no LSTM or GRU node, so the file is kept as a refusal."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import onnx

    keras.utils.set_random_seed(5)
    model = keras.Sequential([
        keras.Input((None, 3)),
        keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True)),
        keras.layers.Dense(5, activation="softmax"),
    ])
    model(np.zeros((1, T, 3), np.float32))
    path = outdir / "keras_export_bi_lstm.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(str(path), format="onnx", verbose=False)
    ops = sorted({n.op_type for n in onnx.load(str(path)).graph.node})
    index["keras_export_bi_lstm"] = {"about": "Keras 3 model.export(format='onnx') of Bidirectional(LSTM) -> Dense",
                                     "refused": f"no recurrent node: per-step ops ({', '.join(ops)})"}
    print("keras_export_bi_lstm: kept as a refusal")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--only", choices=("torch", "nodes", "keras"), default=None)
    args = ap.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    index_path = args.outdir / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    if args.only in (None, "nodes"):
        make_nodes(args.outdir, index)
    if args.only in (None, "torch"):
        make_torch(args.outdir, index)
    if args.only in (None, "keras"):
        make_keras(args.outdir, index)
    index_path.write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
