"""ONNX graphs: every fixture loads and matches onnxruntime's numbers; what cannot be read is refused in one line.

The fixtures (tests/data/onnx, made by scripts/make_onnx_fixtures.py) hold
onnxruntime's outputs. ``_forward`` below is an independent float64 reading
of the ONNX equations over the loaded Layers, so these tests check the
reader's conversion (gate order, biases, directions, activations, clip,
linear_before_reset, initial states) on their own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from lstm_tui.core.cells import Bidirectional, Layer  # noqa: E402
from lstm_tui.core.errors import ModelFileError  # noqa: E402
from lstm_tui.formats import onnx as onnx_format  # noqa: E402

DATA = Path(__file__).parent.parent / "data" / "onnx"
INDEX = json.loads((DATA / "index.json").read_text())
LOADABLE = sorted(k for k, v in INDEX.items() if "refused" not in v and "skipped" not in v)
TOL = 1e-5


# --- an independent float64 reading of the ONNX equations ---------------------------------

_ACT = {
    "Sigmoid": lambda x, a, b: 1 / (1 + np.exp(-x)),
    "Tanh": lambda x, a, b: np.tanh(x),
    "Relu": lambda x, a, b: np.maximum(x, 0),
    "Affine": lambda x, a, b: a * x + b,
    "LeakyRelu": lambda x, a, b: np.where(x >= 0, x, a * x),
    "ThresholdedRelu": lambda x, a, b: np.where(x >= a, x, 0),
    "ScaledTanh": lambda x, a, b: a * np.tanh(b * x),
    "HardSigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1),
    "Elu": lambda x, a, b: np.where(x >= 0, x, a * (np.exp(x) - 1)),
    "Softsign": lambda x, a, b: x / (1 + np.abs(x)),
    "Softplus": lambda x, a, b: np.log1p(np.exp(x)),
}
_DEFAULT = {"lstm": ("Sigmoid", "Tanh", "Tanh"), "gru": ("Sigmoid", "Tanh"), "rnn_tanh": ("Tanh",),
            "rnn_relu": ("Relu",)}


def _run_direction(layer: Layer, x: np.ndarray, h0=None, c0=None):
    """h (T, H) and the final (h, c) of one direction, in float64, position t = input position t."""
    f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    W_ih, W_hh, b_ih, b_hh = f64(layer.W_ih), f64(layer.W_hh), f64(layer.b_ih), f64(layer.b_hh)
    H = layer.hidden_size
    acts = layer.activations or tuple((n, 0.0, 0.0) for n in _DEFAULT[layer.cell])
    fn = [lambda v, n=n, a=a, b=b: _ACT[n](v, a, b) for n, a, b in acts]
    cl = (lambda v: np.clip(v, -layer.clip, layer.clip)) if layer.clip is not None else (lambda v: v)
    h = np.zeros(H) if h0 is None else f64(h0)
    c = np.zeros(H) if c0 is None else f64(c0)
    out = np.zeros((x.shape[0], H))
    steps = range(x.shape[0] - 1, -1, -1) if layer.reverse else range(x.shape[0])
    for t in steps:
        xt = f64(x[t])
        if layer.cell == "lstm":
            a = W_ih @ xt + b_ih + W_hh @ h + b_hh
            i, f, g, o = (cl(a[k * H : (k + 1) * H]) for k in range(4))
            c = fn[0](f) * c + fn[0](i) * fn[1](g)
            h = fn[0](o) * fn[2](c)
        elif layer.cell == "gru":
            ax, ah = W_ih @ xt + b_ih, W_hh @ h + b_hh
            r = fn[0](cl(ax[:H] + ah[:H]))
            z = fn[0](cl(ax[H : 2 * H] + ah[H : 2 * H]))
            if layer.linear_before_reset:
                n = fn[1](cl(ax[2 * H :] + r * ah[2 * H :]))
            else:
                n = fn[1](cl(ax[2 * H :] + W_hh[2 * H :] @ (r * h) + b_hh[2 * H :]))
            h = (1 - z) * n + z * h
        else:
            h = fn[0](cl(W_ih @ xt + b_ih + W_hh @ h + b_hh))
        out[t] = h
    return out, h, c


def _forward(model, x: np.ndarray):
    """Per level (h (T, W), final h per direction, final c per direction), and logits (T, V) or None."""
    h0 = model.meta.get("h0")
    c0 = model.meta.get("c0")
    levels, inp = [], x
    for k, level in enumerate(model.layers):
        dirs = level.directions if isinstance(level, Bidirectional) else (level,)
        hs, hT, cT, off = [], [], [], 0
        for d in dirs:
            H = d.hidden_size
            hk = None if h0 is None else h0[k][off : off + H]
            ck = None if c0 is None else c0[k][off : off + H]
            out, hl, cl = _run_direction(d, inp, hk, ck)
            hs.append(out)
            hT.append(hl)
            cT.append(cl)
            off += H
        inp = np.concatenate(hs, axis=1)
        levels.append((inp, np.stack(hT), np.stack(cT)))
    logits = None
    if model.head_pool:  # the head reads the max or mean of the positions up to each one
        pool = np.max if model.head_pool == "max" else np.mean
        inp = np.stack([pool(inp[: t + 1], axis=0) for t in range(len(inp))])
    for d in model.head_hidden:  # the head's hidden layers, in float64
        inp = d.act(inp @ d.W.T.astype(np.float64) + d.b)
    if model.head_W is not None:
        logits = inp @ model.head_W.T.astype(np.float64) + model.head_b
    return levels, logits


def _head(kind: str, logits: np.ndarray) -> np.ndarray:
    if kind == "logits":
        return logits
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-logits))
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return np.exp(logp) if kind == "softmax" else logp


def _npz(name: str) -> dict:
    with np.load(DATA / f"{name}.npz") as f:
        return dict(f)


def _inputs(model, data):
    if "ids" in data:
        return model.embedding[data["ids"]].astype(np.float64)
    return data["frames"].astype(np.float64)


# --- every fixture matches onnxruntime ------------------------------------------------


@pytest.mark.parametrize("name", LOADABLE)
def test_fixture_matches_onnxruntime(name):
    model = onnx_format.load(DATA / f"{name}.onnx")
    data = _npz(name)
    assert model.dtype == np.float32
    levels, logits = _forward(model, _inputs(model, data))
    assert len(levels) == INDEX[name]["levels"]
    for k, (h, hT, cT) in enumerate(levels):
        want = data[f"h_l{k}"]
        assert h.shape == want.shape
        np.testing.assert_allclose(h, want, atol=TOL, rtol=0, err_msg=f"{name} level {k}")
        np.testing.assert_allclose(hT.reshape(-1), data[f"hT_l{k}"].reshape(-1), atol=TOL, rtol=0)
        if f"cT_l{k}" in data:
            np.testing.assert_allclose(cT.reshape(-1), data[f"cT_l{k}"].reshape(-1), atol=TOL, rtol=0)
    kind = INDEX[name]["head"]
    assert model.meta["head"] == kind
    if kind == "none":
        assert model.head_W is None
    else:  # (a graph whose head reads the last position only gives that one row)
        if _reads_the_pair(model):
            logits = model.logits_of(_pair(levels[-1][0])[None])
        want = _head(kind, logits)[-len(data["y"]) :]
        np.testing.assert_allclose(want, data["y"], atol=TOL, rtol=0)


def _reads_the_pair(model) -> bool:
    """The head reads a bidirectional node's Y_h: [forward h at T-1, backward h at 0]."""
    return any("a pair no one position shows" in n for n in model.notes)


def _pair(h: np.ndarray) -> np.ndarray:
    """A bidirectional level's final states as Y_h holds them, from its h (T, 2H)."""
    H = h.shape[1] // 2
    return np.concatenate([h[-1, :H], h[0, H:]])


@pytest.mark.parametrize("name", LOADABLE)
def test_fixture_trace_matches_onnxruntime(name):
    """The model lstm-tui traces (core's cells, from the file's initial states) gives onnxruntime's numbers."""
    model = onnx_format.load(DATA / f"{name}.onnx")
    data = _npz(name)
    inputs = [str(i) for i in data["ids"]] if "ids" in data else data["frames"]
    trace = model.trace(inputs, h0=model.meta.get("h0"), c0=model.meta.get("c0"))
    for k, level in enumerate(model.layers):
        h = trace.states["h"][k]
        np.testing.assert_allclose(h, data[f"h_l{k}"], atol=TOL, rtol=0, err_msg=f"{name} level {k}")
        dirs = level.directions if isinstance(level, Bidirectional) else (level,)
        finals = {"h": [], "c": []}
        for d, lay in enumerate(dirs):
            t = 0 if lay.reverse else -1  # a reverse direction ends at position 0
            for q in finals:
                if q in trace.states:
                    W = trace.states[q][k].shape[1] // len(dirs)
                    finals[q].append(trace.states[q][k][t, d * W : (d + 1) * W])
        np.testing.assert_allclose(np.concatenate(finals["h"]), data[f"hT_l{k}"].reshape(-1), atol=TOL, rtol=0)
        if f"cT_l{k}" in data:
            np.testing.assert_allclose(np.concatenate(finals["c"]), data[f"cT_l{k}"].reshape(-1), atol=TOL, rtol=0)
    kind = INDEX[name]["head"]
    if _reads_the_pair(model):  # the graph's one output, from lstm-tui's own trace
        y = _head(kind, model.logits_of(_pair(trace.states["h"][-1])[None]).astype(np.float64))
        np.testing.assert_allclose(y, data["y"], atol=TOL, rtol=0)
    elif kind in ("softmax", "sigmoid"):  # (a binary classifier's y is σ of its one logit, as its graph's output)
        np.testing.assert_allclose(trace.y[-len(data["y"]) :], data["y"], atol=TOL, rtol=0)
    elif kind == "logsoftmax":
        np.testing.assert_allclose(np.log(trace.y)[-len(data["y"]) :], data["y"], atol=TOL, rtol=0)
    elif kind == "logits":
        np.testing.assert_allclose(trace.logits[-len(data["y"]) :], data["y"], atol=TOL, rtol=0)
    else:
        assert trace.y is None


def test_final_states_sit_where_the_export_contract_puts_them():
    """The reverse direction's final state is its output at position 0, the forward one's at T-1."""
    model = onnx_format.load(DATA / "node_gru_bi_lbr1.onnx")
    data = _npz("node_gru_bi_lbr1")
    H = model.layers[0].forward.hidden_size
    h = data["h_l0"]
    np.testing.assert_allclose(h[-1, :H], data["hT_l0"][0], atol=TOL)
    np.testing.assert_allclose(h[0, H:], data["hT_l0"][1], atol=TOL)


# --- what the reader makes of each option ------------------------------------------------


def test_gate_order_and_biases_follow_pytorch():
    """A PyTorch export read back gives PyTorch's own layout: i, f, g, o and two biases."""
    model = onnx_format.load(DATA / "torch_legacy_lstm_bi2_emb_softmax.onnx")
    assert [type(lv).__name__ for lv in model.layers] == ["Bidirectional", "Bidirectional"]
    assert model.layers[1].input_size == 8 and model.layers[0].output_size == 8
    fwd, bwd = model.layers[0].directions
    assert not fwd.reverse and bwd.reverse
    assert fwd.W_ih.shape == (16, 5) and fwd.W_hh.shape == (16, 4)
    assert model.embedding.shape == (11, 5) and model.head_W.shape == (11, 8)
    assert model.vocab == tuple(str(k) for k in range(11)) and model.tokenizer == "word"


def test_options_are_read():
    gru0 = onnx_format.load(DATA / "node_gru_lbr0_op9.onnx").layers[0]
    gru1 = onnx_format.load(DATA / "node_gru_reverse_lbr1.onnx").layers[0]
    assert gru0.linear_before_reset is False and gru1.linear_before_reset is True
    assert gru1.reverse and not gru0.reverse
    assert onnx_format.load(DATA / "node_lstm_reverse_op7.onnx").layers[0].reverse
    assert onnx_format.load(DATA / "node_lstm_clip.onnx").layers[0].clip == pytest.approx(0.7)
    lstm = onnx_format.load(DATA / "node_lstm_acts.onnx").layers[0]
    assert [a[0] for a in lstm.activations] == ["HardSigmoid", "LeakyRelu", "Softsign"]
    assert lstm.activations[0][1:] == pytest.approx((0.25, 0.4)) and lstm.activations[1][1] == pytest.approx(0.1)
    gru = onnx_format.load(DATA / "node_gru_bi_acts.onnx").layers[0]
    assert gru.forward.activations[1] == pytest.approx(("ScaledTanh", 1.5, 0.7))
    assert gru.backward.activations[0] == pytest.approx(("HardSigmoid", 0.3, 0.55))
    assert gru.backward.activations[1] == pytest.approx(("Elu", 0.8, 0.0))
    relu = onnx_format.load(DATA / "torch_legacy_rnn_relu_bi_frames.onnx").layers[0]
    assert relu.forward.cell == relu.backward.cell == "rnn_relu" and relu.forward.activations is None


def test_constant_initial_states_are_kept_per_level():
    for name in ("node_lstm_bi_state", "node_lstm_layout1_bi_state", "node_lstm_bi_wrapped_weights"):
        model = onnx_format.load(DATA / f"{name}.onnx")
        data = _npz(name)
        np.testing.assert_array_equal(model.meta["h0"][0], data["h0_l0"])
        np.testing.assert_array_equal(model.meta["c0"][0], data["c0_l0"])
    model = onnx_format.load(DATA / "node_gru_state.onnx")
    assert "c0" not in model.meta and model.meta["h0"][0].shape == (4,)


def test_state_from_a_graph_input_starts_from_zeros_with_a_note():
    model = onnx_format.load(DATA / "node_rnn_state_input.onnx")
    assert "h0" not in model.meta
    assert any("graph input 'h0'" in note and "zeros" in note for note in model.meta["notes"])


def test_a_length_fixed_by_the_exporter_is_followed_and_noted(tmp_path):
    """torch.onnx.export(dynamo=True) may write Reshape(Y, [7, 1, W]): the head still reads, with a note."""
    V = 5
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Reshape", ["Y", "fixed"], ["flat"], name="fixed_reshape"),
        helper.make_node("MatMul", ["flat", "Wh"], ["logits"], name="head"),
    ]
    path = _lstm_graph(tmp_path, outputs=["logits"], inits={"fixed": np.array([7, 1, 2], np.int64),
                                                           "Wh": rng.standard_normal((2, V)).astype(np.float32)})
    proto = onnx.load(path)
    proto.graph.node.extend(nodes)
    onnx.save(proto, path)
    model = onnx_format.load(path)
    assert model.head_W.shape == (V, 2)
    assert any("only at sequence length 7" in n for n in model.meta["notes"])


def test_vocabulary_from_file_and_metadata(tmp_path):
    vocab = tmp_path / "v.txt"
    vocab.write_text("\n".join("abcdefghijk") + "\n")
    model = onnx_format.load(DATA / "torch_legacy_lstm2_emb_logits.onnx", vocab_path=vocab, name="mine")
    assert model.vocab == tuple("abcdefghijk") and model.tokenizer == "char" and model.name == "mine"
    short = tmp_path / "short.txt"
    short.write_text("a\nb\n")
    with pytest.raises(ModelFileError, match="has 2 tokens but the embedding has 11 rows"):
        onnx_format.load(DATA / "torch_legacy_lstm2_emb_logits.onnx", vocab_path=short)
    proto = onnx.load(DATA / "node_split_bi_lstm_lstm_gemm.onnx")
    helper.set_model_props(proto, {"vocab": json.dumps(list("ABCDEFGHI")), "name": "from-meta"})
    path = tmp_path / "meta.onnx"
    onnx.save(proto, path)
    model = onnx_format.load(path)
    assert model.vocab == tuple("ABCDEFGHI") and model.name == "from-meta"
    assert "example" not in model.meta  # the CLI's and the app's own text then
    for vocab, words in (("[" + "9" * 5000 + "]", "a whole number of 5,000"), ("[" * 100_000, "arrays or objects nested")):
        helper.set_model_props(proto, {"vocab": vocab})  # int()'s ValueError past 4,300 digits; a RecursionError
        onnx.save(proto, path)
        with pytest.raises(ModelFileError, match=f"metadata 'vocab' is not a JSON list of token strings \\({words}"):
            onnx_format.load(path)


def test_without_a_vocabulary_the_ids_are_the_tokens_and_the_example():
    model = onnx_format.load(DATA / "torch_legacy_lstm2_emb_logits.onnx")
    assert model.vocab == tuple(str(k) for k in range(11)) and model.tokenizer == "word"
    assert any("no vocabulary" in n for n in model.meta["notes"])
    start = model.trace(model.meta["example"])  # what the app and the CLI start on without --text
    assert start.steps > 1 and not start.unknown.any()


def test_match():
    head = (DATA / "node_gru_state.onnx").read_bytes()[:16]
    assert onnx_format.match("x.onnx", b"")
    assert onnx_format.match("model.bin", head)
    assert not onnx_format.match("model.bin", b"PK\x03\x04")
    assert not onnx_format.match("model.safetensors", head)
    for name in LOADABLE:
        assert onnx_format.match(f"{name}.data", (DATA / f"{name}.onnx").read_bytes()[:16]), name


# --- refusals: one line naming the file, the node and the op -------------------------------


def _one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def _lstm_graph(tmp_path, *, extra_nodes=(), inputs=None, attrs=None, node_inputs=None, H=2, E=3, name="bad",
                opset=13, outputs=None, inits=None):
    rng = np.random.default_rng(0)
    init = {
        "W": rng.standard_normal((1, 4 * H, E)).astype(np.float32),
        "R": rng.standard_normal((1, 4 * H, H)).astype(np.float32),
        "B": rng.standard_normal((1, 8 * H)).astype(np.float32),
    }
    init.update(inits or {})
    node = helper.make_node("LSTM", node_inputs or ["X", "W", "R", "B"], ["Y"], name="the_lstm", hidden_size=H,
                            **(attrs or {}))
    ins = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, E])] + list(inputs or [])
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in (outputs or ["Y"])]
    graph = helper.make_graph([*extra_nodes, node], "g", ins, outs,
                              initializer=[numpy_helper.from_array(v, k) for k, v in init.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return path


def test_peepholes_and_input_forget_are_refused_by_name(tmp_path):
    P = np.ones((1, 6), np.float32)
    path = _lstm_graph(tmp_path, node_inputs=["X", "W", "R", "B", "", "", "", "P"], inits={"P": P})
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert str(path) in _one_line(exc) and "'the_lstm' (LSTM)" in str(exc.value) and "peephole" in str(exc.value)
    zero = _lstm_graph(tmp_path, node_inputs=["X", "W", "R", "B", "", "", "", "P"], inits={"P": 0 * P}, name="p0")
    assert onnx_format.load(zero).layers[0].cell == "lstm"  # zero peepholes change nothing
    path = _lstm_graph(tmp_path, attrs={"input_forget": 1}, name="coupled")
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "'the_lstm' (LSTM)" in _one_line(exc) and "input_forget" in str(exc.value)


def test_weights_from_a_graph_input_are_refused(tmp_path):
    W = helper.make_tensor_value_info("Wdyn", TensorProto.FLOAT, [1, 8, 3])
    path = _lstm_graph(tmp_path, inputs=[W], node_inputs=["X", "Wdyn", "R", "B"])
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "W of node 'the_lstm' (LSTM) comes from graph input 'Wdyn'" in _one_line(exc)


def test_sequence_lens_from_an_input_is_refused(tmp_path):
    seq = helper.make_tensor_value_info("lens", TensorProto.INT32, [1])
    path = _lstm_graph(tmp_path, inputs=[seq], node_inputs=["X", "W", "R", "B", "lens"])
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "sequence_lens of node 'the_lstm' (LSTM) comes from graph input 'lens'" in _one_line(exc)
    const = _lstm_graph(tmp_path, node_inputs=["X", "W", "R", "B", "lens"],
                        inits={"lens": np.array([4], np.int32)}, name="const_lens")
    with pytest.raises(ModelFileError, match="can be shorter than the sequence"):
        onnx_format.load(const)


def test_a_sequence_lens_that_is_the_length_is_accepted(tmp_path):
    nodes = [
        helper.make_node("Shape", ["X"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["T"], name="take_T", axis=0),
        helper.make_node("Cast", ["T"], ["T32"], name="cast", to=TensorProto.INT32),
        helper.make_node("Expand", ["T32", "one"], ["lens"], name="expand"),
    ]
    path = _lstm_graph(tmp_path, extra_nodes=nodes, node_inputs=["X", "W", "R", "B", "lens"],
                       inits={"zero": np.array([0], np.int64), "one": np.array([1], np.int64)})
    assert onnx_format.load(path).layers[0].cell == "lstm"


def test_unknown_or_underspecified_activations_are_refused(tmp_path):
    path = _lstm_graph(tmp_path, attrs={"activations": ["Sigmoid", "Swish", "Tanh"]})
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "'the_lstm' (LSTM): activation 'Swish'" in _one_line(exc)
    path = _lstm_graph(tmp_path, attrs={"activations": ["Sigmoid", "ScaledTanh", "Tanh"]}, name="scaled")
    with pytest.raises(ModelFileError, match="ScaledTanh needs activation_alpha"):
        onnx_format.load(path)


@pytest.mark.parametrize("fixture, op, k, value, words", [
    ("node_rnn_leaky_thresh", "RNN", 0, float("nan"), "(RNN): activation LeakyRelu has activation_alpha nan"),
    ("node_rnn_leaky_thresh", "RNN", 1, float("inf"), "(RNN): activation ThresholdedRelu has activation_alpha inf"),
    ("torch_dynamo_gru_bi_mlp2_frames_logits", "LeakyRelu", None, float("-inf"),
     "(LeakyRelu): activation LeakyRelu has alpha -inf"),
])
def test_activation_parameters_that_are_not_finite_are_refused_by_node(tmp_path, fixture, op, k, value, words):
    """A cell's activation_alpha, or the alpha of an activation in the head, of NaN or ±inf: every output would be
    NaN. The fixture with that one number changed is refused in one line naming the node."""
    proto = onnx.load(DATA / f"{fixture}.onnx")
    node = next(n for n in proto.graph.node if n.op_type == op)
    attr = next(a for a in node.attribute if a.name == ("alpha" if k is None else "activation_alpha"))
    if k is None:
        attr.f = value
    else:
        attr.floats[k] = value
    path = tmp_path / f"{fixture}.onnx"
    onnx.save(proto, path)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert _one_line(exc).startswith(str(path))
    assert f"node '{node.name}' {words}; expected a finite number" in _one_line(exc)


def test_control_flow_is_refused_by_node(tmp_path):
    body = helper.make_graph(
        [helper.make_node("Identity", ["s_in"], ["s_out"]), helper.make_node("Identity", ["x_t"], ["y_t"])],
        "body",
        [helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("x_t", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("y_t", TensorProto.FLOAT, [2])],
    )
    scan = helper.make_node("Scan", ["s0", "X"], ["s", "Y"], name="my_scan", num_scan_inputs=1, body=body)
    graph = helper.make_graph(
        [scan], "g",
        [helper.make_tensor_value_info("s0", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "scan.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "'my_scan' (Scan)" in _one_line(exc)


def test_a_loop_computing_a_weight_is_refused_by_node(tmp_path):
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["w_in"], ["w_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("w_in", TensorProto.FLOAT, [1, 8, 3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("w_out", TensorProto.FLOAT, [1, 8, 3])],
    )
    loop = helper.make_node("Loop", ["n", "cond", "W"], ["Wloop"], name="my_loop", body=body)
    path = _lstm_graph(tmp_path, extra_nodes=[loop], node_inputs=["X", "Wloop", "R", "B"],
                       inits={"n": np.array(2, np.int64), "cond": np.array(True)})
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "'my_loop' (Loop)" in _one_line(exc) and "'the_lstm' (LSTM)" in str(exc.value)


def test_two_unrelated_recurrent_nodes_are_refused(tmp_path):
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("W1", (1, 8, 3)), ("R1", (1, 8, 2)), ("W2", (1, 6, 3)), ("R2", (1, 6, 2)))]
    graph = helper.make_graph(
        [helper.make_node("LSTM", ["X", "W1", "R1"], ["Y1"], name="left", hidden_size=2),
         helper.make_node("GRU", ["X2", "W2", "R2"], ["Y2"], name="right", hidden_size=2)],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3]),
         helper.make_tensor_value_info("X2", TensorProto.FLOAT, ["T", 1, 3])],
        [helper.make_tensor_value_info("Y1", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("Y2", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    path = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "'left' (LSTM)" in _one_line(exc) and "'right' (GRU)" in str(exc.value)


def test_computation_between_layers_is_refused_by_node(tmp_path):
    proto = onnx.load(DATA / "torch_legacy_lstm2_emb_logits.onnx")
    g = proto.graph
    lstms = [n for n in g.node if n.op_type == "LSTM"]
    second = lstms[1]
    relu = helper.make_node("Relu", [second.input[0]], ["relu_out"], name="sneaky_relu")
    second.input[0] = "relu_out"
    g.node.insert(list(g.node).index(second), relu)
    path = tmp_path / "relu.onnx"
    onnx.save(proto, path)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "stopped at node 'sneaky_relu' (Relu)" in _one_line(exc)


def test_a_head_the_reader_cannot_follow_is_refused_by_node(tmp_path):
    proto = onnx.load(DATA / "torch_legacy_lstm2_emb_logits.onnx")
    g = proto.graph
    add = next(n for n in g.node if n.op_type == "Add")
    out = add.output[0]
    add.output[0] = "pre_tanh"
    g.node.append(helper.make_node("Tanh", ["pre_tanh"], [out], name="squash"))
    path = tmp_path / "tanh_head.onnx"
    onnx.save(proto, path)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "'squash' (Tanh)" in _one_line(exc)


def test_unrolled_exports_are_refused_with_a_hint():
    for name in (k for k, v in INDEX.items() if "refused" in v):
        with pytest.raises(ModelFileError) as exc:
            onnx_format.load(DATA / f"{name}.onnx")
        text = _one_line(exc)
        hint = ".keras file" if name.startswith("keras") else "dynamo=False"
        assert "no LSTM, GRU or RNN node" in text and hint in text and "node '" in text


@pytest.mark.parametrize("kind", ["truncated", "text", "empty", "directory", "missing", "zeros"])
def test_files_that_are_not_onnx_models(tmp_path, kind):
    path = tmp_path / "m.onnx"
    whole = (DATA / "torch_legacy_lstm2_emb_logits.onnx").read_bytes()
    if kind == "truncated":
        path.write_bytes(whole[: len(whole) // 2])
    elif kind == "text":
        path.write_text("this is not a model\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "zeros":
        path.write_bytes(bytes(64))
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert _one_line(exc).startswith(str(path))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(min_size=1, max_size=200))
def test_random_bytes_never_escape_as_a_traceback(tmp_path, blob):
    path = tmp_path / "fuzz.onnx"
    path.write_bytes(blob)
    with pytest.raises(ModelFileError):
        onnx_format.load(path)


def test_without_the_onnx_package_the_install_line_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(DATA / "node_gru_state.onnx")
    assert "pip install onnx" in _one_line(exc)


def test_a_stack_of_two_cell_kinds_is_refused_by_node(tmp_path):
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("Squeeze", ["Y", "axis1"], ["y1"], name="squeeze"),
        helper.make_node("GRU", ["y1", "W2", "R2"], ["Y2"], name="the_gru", hidden_size=2),
    ]
    path = _lstm_graph(tmp_path, outputs=["Y2"], inits={
        "axis1": np.array([1], np.int64),
        "W2": rng.standard_normal((1, 6, 2)).astype(np.float32),
        "R2": rng.standard_normal((1, 6, 2)).astype(np.float32)})
    proto = onnx.load(path)
    proto.graph.node.extend(nodes)
    onnx.save(proto, path)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "'the_gru' (GRU) follows node 'the_lstm' (LSTM)" in _one_line(exc)


# --- through the registry, the CLI and every way of tracing -----------------------------------


def test_the_registry_picks_this_reader():
    from lstm_tui.formats import load_file

    model = load_file(DATA / "node_gru_bi_lbr0.onnx")
    assert model.meta["format"] == "onnx" and isinstance(model.layers[0], Bidirectional)


@pytest.mark.parametrize("name", ["torch_legacy_lstm_bi2_emb_softmax", "node_lstm_bi_state", "node_gru_reverse_lbr1",
                                  "node_layout1_gru_bi_gru", "node_split_bi_lstm_lstm_gemm"])
def test_cli_export_matches_onnxruntime(tmp_path, name):
    """``lstm-tui export`` of an ONNX file: [layers, T, width] arrays, or h_l0, h_l1, ... when the widths differ,
    with onnxruntime's numbers."""
    from lstm_tui.cli import main

    data = _npz(name)
    out = tmp_path / "out.npz"
    if "ids" in data:
        args = ["--text", " ".join(str(i) for i in data["ids"])]
    else:
        np.save(tmp_path / "x.npy", data["frames"])
        args = ["--inputs", str(tmp_path / "x.npy")]
    assert main(["export", "--model", str(DATA / f"{name}.onnx"), *args, "-o", str(out)]) == 0
    with np.load(out) as f:
        got = dict(f)
    for k in range(INDEX[name]["levels"]):
        h = got["h"][k] if "h" in got else got[f"h_l{k}"]
        np.testing.assert_allclose(h, data[f"h_l{k}"], atol=TOL, rtol=0)
    if INDEX[name]["head"] == "softmax":
        np.testing.assert_allclose(got["y"], data["y"], atol=TOL, rtol=0)


def test_cli_refusal_is_one_line_and_writes_nothing(tmp_path, capsys):
    from lstm_tui.cli import main

    np.save(tmp_path / "x.npy", np.zeros((3, 5), np.float32))
    out = tmp_path / "out.npz"
    name = next(k for k, v in INDEX.items() if "refused" in v)
    code = main(["export", "--model", str(DATA / f"{name}.onnx"), "--inputs", str(tmp_path / "x.npy"), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert len(err.splitlines()) == 1 and name in err and "no LSTM, GRU or RNN node" in err


def test_every_way_of_tracing_starts_from_the_files_initial_state():
    """Model.trace, the app's TraceBuilder (whole or chunk by chunk) and checkpointed windows."""
    from lstm_tui.core import tracing

    for name in ("node_lstm_bi_state", "node_gru_state"):
        model = onnx_format.load(DATA / f"{name}.onnx")
        data = _npz(name)
        x = data["frames"]
        builder = tracing.TraceBuilder(model, x)
        while not builder.complete:
            builder.advance(max_steps=2)
        traces = [model.trace(x), tracing.trace(model, x), builder.snapshot()]
        if not model.bidirectional:
            traces.append(tracing.trace(model, x, limit=1, window=2).window(0, len(x)))
        for trace in traces:
            np.testing.assert_allclose(trace.states["h"][0], data["h_l0"], atol=TOL, rtol=0)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_a_head_on_the_final_state_reads_it_as_the_last_position(tmp_path, direction):
    """A classifier: Gemm on Y_h (PyTorch's fc(h_n[-1])). Y_h of one direction is h at the last position it
    read (the first, for a node reading backwards): the head opens, its output there is the graph's
    (onnx.reference), and a note says the graph gives that position only. It loaded without its head."""
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(4)
    proto = onnx.load(_lstm_graph(tmp_path, outputs=["probs"], attrs={"direction": direction}, inits={
        "axis0": np.array([0], np.int64), "Wc": rng.standard_normal((3, 2)).astype(np.float32)}))
    lstm = proto.graph.node[0]
    del lstm.output[:]
    lstm.output.extend(["", "Y_h"])
    proto.graph.node.extend([
        helper.make_node("Squeeze", ["Y_h", "axis0"], ["h_last"], name="squeeze"),
        helper.make_node("Gemm", ["h_last", "Wc"], ["scores"], name="classifier", transB=1),
        helper.make_node("Softmax", ["scores"], ["probs"], name="softmax", axis=1),
    ])
    path = tmp_path / "classifier.onnx"
    onnx.save(proto, path)
    model = onnx_format.load(path)
    assert model.head_W.shape == (3, 2) and model.meta["head"] == "softmax"
    at = -1 if direction == "forward" else 0
    assert any(("at the last position only" if at else "and the first is the graph's") in n for n in model.notes)
    x = rng.standard_normal((5, 1, 3)).astype(np.float32)
    (probs,) = ReferenceEvaluator(proto).run(None, {"X": x})
    np.testing.assert_allclose(model.trace(x[:, 0]).y[at], probs[0], atol=1e-5)


def test_a_head_on_a_bidirectional_final_state_opens_with_a_note(tmp_path):
    """Y_h of a bidirectional node pairs the forward half at the last position with the backward half at the
    first, which no one position shows: the head opens (its weights checked on a probe of Y_h), applied at every
    position as for Keras's Bidirectional(return_sequences=False), and a note says so."""
    rng = np.random.default_rng(5)
    H, E = 2, 3
    inits = {"W": rng.standard_normal((2, 4 * H, E)).astype(np.float32),
             "R": rng.standard_normal((2, 4 * H, H)).astype(np.float32),
             "B": rng.standard_normal((2, 8 * H)).astype(np.float32),
             "shape": np.array([1, 2 * H], np.int64), "Wc": rng.standard_normal((3, 2 * H)).astype(np.float32)}
    proto = onnx.load(_lstm_graph(tmp_path, outputs=["scores"], inits=inits, attrs={"direction": "bidirectional"}))
    lstm = proto.graph.node[0]
    del lstm.output[:]
    lstm.output.extend(["", "Y_h"])
    proto.graph.node.extend([
        helper.make_node("Transpose", ["Y_h"], ["h_t"], name="t", perm=[1, 0, 2]),
        helper.make_node("Reshape", ["h_t", "shape"], ["h_both"], name="reshape"),
        helper.make_node("Gemm", ["h_both", "Wc"], ["scores"], name="classifier", transB=1),
    ])
    path = tmp_path / "bi.onnx"
    onnx.save(proto, path)
    model = onnx_format.load(path)
    np.testing.assert_array_equal(model.head_W, inits["Wc"])
    assert any("a pair no one position shows; lstm-tui applies the head at every position" in n for n in model.notes)
    from onnx.reference import ReferenceEvaluator

    x = rng.standard_normal((5, 1, E)).astype(np.float32)
    (scores,) = ReferenceEvaluator(proto).run(None, {"X": x})
    tr = model.trace(x[:, 0])
    h = tr.states["h"][0]  # (T, 2H): the pair the graph read, from lstm-tui's own trace
    np.testing.assert_allclose(scores[0], model.logits_of(np.concatenate([h[-1, :H], h[0, H:]])), atol=1e-5)


def test_an_opset_before_7_is_refused(tmp_path):
    path = _lstm_graph(tmp_path, opset=6)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "opset 6" in _one_line(exc)


def test_missing_external_data_is_one_line(tmp_path):
    proto = onnx.load(DATA / "node_gru_state.onnx")
    path = tmp_path / "ext.onnx"
    onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True, location="ext.data",
                    size_threshold=0)
    assert onnx_format.load(path).layers[0].cell == "gru"  # beside it, the data is read
    (tmp_path / "ext.data").unlink()
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert _one_line(exc).startswith(str(path))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(LOADABLE), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                               st.integers(0, 255)), min_size=1, max_size=4))
def test_damaged_models_load_or_are_refused_in_one_line(tmp_path, name, flips):
    blob = bytearray((DATA / f"{name}.onnx").read_bytes())
    for where, value in flips:
        blob[int(where * len(blob))] = value
    path = tmp_path / "damaged.onnx"
    path.write_bytes(bytes(blob))
    try:
        onnx_format.load(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE])
def test_weights_in_other_float_types(tmp_path, dtype):
    """float16 and bfloat16 weights are computed in float32, double ones in float64."""
    proto = onnx.load(_lstm_graph(tmp_path))
    W32 = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    del proto.graph.initializer[:]
    for name, a in W32.items():
        proto.graph.initializer.append(helper.make_tensor(name, dtype, a.shape, a.reshape(-1).tolist()))
    path = tmp_path / "typed.onnx"
    onnx.save(proto, path)
    layer = onnx_format.load(path).layers[0]
    assert layer.dtype == (np.float64 if dtype == TensorProto.DOUBLE else np.float32)
    tol = 1e-2 if dtype != TensorProto.DOUBLE else 1e-7
    np.testing.assert_allclose(layer.W_ih[:2], W32["W"][0, :2], atol=tol * 10)  # block i stays first


# --- bad inputs: values the reader would get wrong, sizes it would compute, attribute types ---------------


def _save(tmp_path, nodes, inputs, inits, name, outputs=("Y",)):
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                                   for o in outputs],
                              initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)
    return path


def _embedded_lstm(tmp_path, id_nodes, name, H=2, E=3, V=6):
    """ids [T, 1] -> id_nodes (the last gives "idx") -> Gather(table) -> LSTM."""
    rng = np.random.default_rng(5)
    inits = {"table": rng.standard_normal((V, E)).astype(np.float32), "one": np.array(1, np.int64),
             "W": rng.standard_normal((1, 4 * H, E)).astype(np.float32),
             "R": rng.standard_normal((1, 4 * H, H)).astype(np.float32)}
    nodes = [*id_nodes, helper.make_node("Gather", ["table", "idx"], ["x"], name="emb"),
             helper.make_node("LSTM", ["x", "W", "R"], ["Y"], name="the_lstm", hidden_size=H)]
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["T", 1])
    return _save(tmp_path, nodes, [ids], inits, name), inits["table"]


def test_ops_that_change_the_token_ids_are_refused_by_node(tmp_path):
    """Add(ids, 1) before the embedding looks up other rows: refused, not read as a plain lookup."""
    path, _ = _embedded_lstm(tmp_path, [helper.make_node("Add", ["ids", "one"], ["idx"], name="shift")], "shift")
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert str(path) in _one_line(exc) and "'shift' (Add)" in str(exc.value) and "'emb' (Gather)" in str(exc.value)
    narrow = [helper.make_node("Cast", ["ids"], ["idx"], name="to_int8", to=TensorProto.INT8)]
    with pytest.raises(ModelFileError, match="'to_int8' \\(Cast\\)"):
        onnx_format.load(_embedded_lstm(tmp_path, narrow, "int8")[0])
    kept = [helper.make_node("Cast", ["ids"], ["i32"], name="to_int32", to=TensorProto.INT32),
            helper.make_node("Identity", ["i32"], ["idx"], name="same")]
    path, table = _embedded_lstm(tmp_path, kept, "int32")
    model = onnx_format.load(path)
    np.testing.assert_array_equal(model.embedding, table)


def test_a_huge_weight_is_refused_before_it_is_computed(tmp_path):
    """A few bytes of ConstantOfShape can ask for terabytes: the declared hidden_size, or the shape the node is
    given, is refused before anything is allocated."""
    E = 3
    for H, declared in ((20000, True), (1_000_000, False)):
        inits = {"shW": np.array([1, 4 * H, E], np.int64), "shR": np.array([1, 4 * H, H], np.int64)}
        nodes = [helper.make_node("ConstantOfShape", ["shW"], ["W"], name="make_W"),
                 helper.make_node("ConstantOfShape", ["shR"], ["R"], name="make_R"),
                 helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="the_lstm",
                                  **({"hidden_size": H} if declared else {}))]
        X = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, E])
        path = _save(tmp_path, nodes, [X], inits, f"bomb{H}")
        with pytest.raises(ModelFileError) as exc:
            onnx_format.load(path)
        who = f"'the_lstm' (LSTM): hidden_size {H}" if declared else "'make_R' (ConstantOfShape) computes"
        assert str(path) in _one_line(exc) and who in str(exc.value) and "over the 2 GB" in str(exc.value)


def test_every_tensor_the_reader_computes_is_bounded(tmp_path, monkeypatch):
    """With the limit lowered: checked from the inputs before a node runs (ConstantOfShape, Expand, Pad: the
    message has no shape of a tensor made), and on the output of any other (Concat: it has)."""
    from lstm_tui.formats.onnx import graph as onnx_graph

    rng = np.random.default_rng(6)
    R = rng.standard_normal((1, 8, 2)).astype(np.float32)
    cases = {
        "make_W": [helper.make_node("ConstantOfShape", ["shW"], ["W"], name="make_W")],
        "wide": [helper.make_node("ConstantOfShape", ["one3"], ["w1"], name="ones"),
                 helper.make_node("Expand", ["w1", "shW"], ["W"], name="wide")],
        "join": [helper.make_node("Concat", ["Wa", "Wb"], ["W"], name="join", axis=1)],
        "padW": [helper.make_node("Pad", ["W1", "pads"], ["W"], name="padW")],
    }
    inits = {"shW": np.array([1, 8, 3], np.int64), "one3": np.array([1, 1, 1], np.int64), "R": R,
             "Wa": np.zeros((1, 4, 3), np.float32), "Wb": np.ones((1, 4, 3), np.float32),
             "W1": np.ones((1, 8, 1), np.float32), "pads": np.array([0, 0, 1, 0, 0, 1], np.int64)}
    X = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3])
    for who, nodes in cases.items():
        lstm = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="the_lstm", hidden_size=2)
        path = _save(tmp_path, [*nodes, lstm], [X], inits, who)
        assert onnx_format.load(path).layers[0].input_size == 3  # 96 bytes: read
        monkeypatch.setattr(onnx_graph, "MAX_TENSOR_BYTES", 64)
        with pytest.raises(ModelFileError) as exc:
            onnx_format.load(path)
        assert f"'{who}' (" in _one_line(exc) and "over the" in str(exc.value)
        assert (" float32: " in str(exc.value)) == (who == "join"), str(exc.value)  # made, or refused before
        monkeypatch.undo()


def _gru_graph(tmp_path, name, **attrs):
    rng = np.random.default_rng(7)
    inits = {"W": rng.standard_normal((1, 6, 3)).astype(np.float32),
             "R": rng.standard_normal((1, 6, 2)).astype(np.float32)}
    node = helper.make_node("GRU", ["X", "W", "R"], ["Y"], name="the_gru", hidden_size=2, **attrs)
    return _save(tmp_path, [node], [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3])], inits, name)


def test_attributes_of_the_wrong_type_are_refused_by_node_and_name(tmp_path):
    cases = [(_gru_graph(tmp_path, "lbr", linear_before_reset="yes"),
              "'the_gru' (GRU): attribute linear_before_reset is of type string, expected int"),
             (_lstm_graph(tmp_path, attrs={"clip": "big"}, name="clip"),
              "'the_lstm' (LSTM): attribute clip is of type string, expected float"),
             (_gru_graph(tmp_path, "direction", direction=1),
              "'the_gru' (GRU): attribute direction is of type int, expected string")]
    for path, message in cases:
        with pytest.raises(ModelFileError) as exc:
            onnx_format.load(path)
        assert str(path) in _one_line(exc) and message in str(exc.value)
    assert onnx_format.load(_gru_graph(tmp_path, "fine", linear_before_reset=1)).layers[0].linear_before_reset


@pytest.mark.parametrize("H", [-4, 0])
def test_a_hidden_size_that_is_not_positive_is_refused_plainly(tmp_path, H):
    proto = onnx.load(_lstm_graph(tmp_path))
    proto.graph.node[0].attribute[0].i = H
    path = tmp_path / "hs.onnx"
    onnx.save(proto, path)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert f"'the_lstm' (LSTM): hidden_size {H} is not a positive number" in _one_line(exc)


def test_weights_with_a_zero_size_are_refused_at_load(tmp_path):
    """W [1, 8, 0]: a node that reads no inputs is refused when the file is opened, not when frames arrive."""
    path = _lstm_graph(tmp_path, E=0)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert str(path) in _one_line(exc) and "'the_lstm' (LSTM): W has shape [1, 8, 0]" in str(exc.value)
    assert "no weights" in str(exc.value)


def test_a_state_shaped_after_a_relu_layers_output_is_followed(tmp_path):
    """PyTorch's exporter, at a fixed length, makes layer 2's initial state from the Shape of layer 1's Y.
    onnx.reference runs only Tanh and Affine RNNs, so a relu layer 1 was refused ('Unknown activation
    function'); a node read for its shape runs with its default activations, which give the same shape."""
    name = "torch_legacy_rnn_relu2_emb_logits"
    model = onnx.load(DATA / f"{name}.onnx")
    first, second = (n for n in model.graph.node if n.op_type == "RNN")
    H = helper.get_attribute_value(next(a for a in second.attribute if a.name == "hidden_size"))
    const = {"one": np.array([1], np.int64), "hid": np.array([H], np.int64), "at1": np.array(1, np.int64),
             "ax0": np.array([0], np.int64)}
    model.graph.initializer.extend(numpy_helper.from_array(v, f"k_{k}") for k, v in const.items())
    shaped = [
        helper.make_node("Shape", [second.input[0]], ["s_shape"]),  # layer 1's Y, squeezed: [T, B, H]
        helper.make_node("Gather", ["s_shape", "k_at1"], ["s_batch"]),
        helper.make_node("Unsqueeze", ["s_batch", "k_ax0"], ["s_batch1"]),
        helper.make_node("Concat", ["k_one", "s_batch1", "k_hid"], ["s_dims"], axis=0),
        helper.make_node("ConstantOfShape", ["s_dims"], ["s_h0"]),
    ]
    at = list(model.graph.node).index(second)
    for k, node in enumerate(shaped):
        model.graph.node.insert(at + k, node)
    inputs = list(second.input) + [""] * (6 - len(second.input))
    inputs[5] = "s_h0"
    del second.input[:]
    second.input.extend(inputs)
    assert first.output[0] in {n.input[0] for n in model.graph.node if n.op_type == "Squeeze"}
    onnx.save(model, tmp_path / "shaped.onnx")
    loaded = onnx_format.load(tmp_path / "shaped.onnx")
    data = _npz(name)
    levels, logits = _forward(loaded, _inputs(loaded, data))
    for k, (h, _, _) in enumerate(levels):
        np.testing.assert_allclose(h, data[f"h_l{k}"], atol=TOL, rtol=0)
    np.testing.assert_allclose(logits, data["y"], atol=TOL, rtol=0)


@pytest.mark.parametrize("op, words", [("Gelu", "stopped at node 'mid' (Gelu)"), ("Selu", "stopped at node 'mid' (Selu)")])
def test_a_hidden_layer_of_the_head_needs_an_activation_the_cells_run(tmp_path, op, words):
    """Linear, ReLU, Linear (torch_legacy_lstm_mlp_emb_softmax) opens with a hidden layer (its numbers:
    test_fixture_matches_onnxruntime); with an activation lstm-tui does not run there it is refused by node,
    and a head that ends in an activation says so."""
    model = onnx_format.load(DATA / "torch_legacy_lstm_mlp_emb_softmax.onnx")
    assert [d.activation[0] for d in model.head_hidden] == ["Relu"] and model.meta["head"] == "softmax"
    proto = onnx.load(DATA / "torch_legacy_lstm_mlp_emb_softmax.onnx")
    relu = next(n for n in proto.graph.node if n.op_type == "Relu")
    relu.op_type, relu.name = op, "mid"
    path = tmp_path / "head.onnx"
    onnx.save(proto, path)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert words in _one_line(exc)
    proto = onnx.load(DATA / "torch_legacy_lstm_mlp_emb_softmax.onnx")
    soft = next(n for n in proto.graph.node if n.op_type == "Softmax")
    soft.op_type, soft.name = "Sigmoid", "last"
    del soft.attribute[:]
    onnx.save(proto, path)
    with pytest.raises(ModelFileError) as exc:
        onnx_format.load(path)
    assert "the head ends in node 'last' (Sigmoid)" in _one_line(exc)



def test_a_head_that_reads_the_last_position_opens_with_a_note():
    """The usual sentiment classifier exports out[-1] -> Linear -> ReLU -> Linear(1) -> sigmoid: the graph's
    output is one row, the last position's (test_fixture_matches_onnxruntime compares it). It was refused; it
    opens, and a note says the graph gives the last position only."""
    for exporter in ("legacy", "dynamo"):
        model = onnx_format.load(DATA / f"torch_{exporter}_lstm_last_mlp_binary.onnx")
        assert model.meta["head"] == "sigmoid" and len(model.head_hidden) == 1
        assert any("at the last position only" in n for n in model.meta["notes"])


def test_a_pool_over_the_positions_is_a_pooling_head_and_any_other_reduction_is_refused(tmp_path):
    """PyTorch's fc(out.max(0).values) exports a ReduceMax over the positions: a pooling head (the fixtures
    above match onnxruntime), and a ReduceMean there a mean. A ReduceMax over another axis is not the pool
    lstm-tui runs (the probe catches it), nor is a ReduceMin: the refusal names the node."""
    import re

    import onnx

    src = onnx.load(str(DATA / "torch_legacy_lstm_max_pool_mlp_softmax.onnx"))
    model = onnx_format.load(DATA / "torch_legacy_lstm_max_pool_mlp_softmax.onnx")
    assert model.head_pool == "max" and model.meta["head_pool"] == "max"
    for change, words in ((lambda n: n.attribute[0].ints.__setitem__(0, 1), "does not give 3 values"),
                          (lambda n: setattr(n, "op_type", "ReduceMin"), "stopped at node '/ReduceMax' (ReduceMin)"),
                          (lambda n: setattr(n, "op_type", "ReduceMean"), "")):
        bad = onnx.ModelProto()
        bad.CopyFrom(src)
        change(next(n for n in bad.graph.node if n.op_type == "ReduceMax"))
        path = tmp_path / "bad.onnx"
        onnx.save(bad, str(path))
        if not words:  # a mean of the positions: what the probe ran matches the pool lstm-tui runs
            mean = onnx_format.load(path)
            assert mean.head_pool == "mean"
            np.testing.assert_allclose(mean.trace("1 2 3").y[-1], _head("softmax", _forward(
                mean, mean.embedding[[1, 2, 3]].astype(np.float64))[1])[-1], atol=TOL)
            continue
        with pytest.raises(ModelFileError, match=re.escape(words)):
            onnx_format.load(path)


def test_a_pool_over_some_positions_only_is_refused(tmp_path, monkeypatch):
    """fc(out[1:].max(0)) skips position 0: the Slice before the pool is refused by name. And were it not (that
    check taken away below), the probe would still find it, even at one fixed length where random values might
    never put a maximum at the skipped position: each round of the probe puts some unit's maximum at every one."""
    import re

    from onnx import TensorProto, helper, numpy_helper

    from lstm_tui.formats.onnx import ends

    proto = onnx.load(str(DATA / "torch_legacy_lstm_max_pool_mlp_softmax.onnx"))
    pool = next(n for n in proto.graph.node if n.op_type == "ReduceMax")
    proto.graph.initializer.extend([numpy_helper.from_array(np.array([v], np.int64), name)
                                    for name, v in (("s_start", 1), ("s_end", 2**62), ("s_axis", 0))])
    proto.graph.node.insert(list(proto.graph.node).index(pool), helper.make_node(
        "Slice", [pool.input[0], "s_start", "s_end", "s_axis"], ["skipped"], name="skip_first"))
    pool.input[0] = "skipped"
    onnx.save(proto, str(tmp_path / "skip.onnx"))
    with pytest.raises(ModelFileError, match=re.escape("node 'skip_first' (Slice) lies between the recurrent output "
                                                       "and the pool node '/ReduceMax' (ReduceMax)")):
        onnx_format.load(tmp_path / "skip.onnx")

    monkeypatch.setattr(ends, "_pools_every_position", lambda *a: None)
    rng = np.random.default_rng(0)
    init = {"W": rng.standard_normal((1, 4, 3)), "R": rng.standard_normal((1, 4, 1)), "B": rng.standard_normal((1, 8)),
            "Wc": rng.standard_normal((2, 1)), "shape": np.array([6, 1]), "s0": np.array([0]), "s1": np.array([-1]),
            "ax": np.array([0])}
    nodes = [helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], name="lstm", hidden_size=1),
             helper.make_node("Reshape", ["Y", "shape"], ["y6"], name="fixed"),  # runs at length 6 only
             helper.make_node("Slice", ["y6", "s0", "s1", "ax"], ["ys"], name="skip_last"),
             helper.make_node("ReduceMax", ["ys"], ["pooled"], name="pool", axes=[0], keepdims=1),
             helper.make_node("Gemm", ["pooled", "Wc"], ["scores"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [6, 1, 3])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(v.astype(np.float32 if v.dtype.kind == "f" else
                                                                            np.int64), k) for k, v in init.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "fixed.onnx"))
    with pytest.raises(ModelFileError, match=re.escape("is not logits of the head's layers at the max of the "
                                                       "positions (node 'pool' (ReduceMax))")):
        onnx_format.load(tmp_path / "fixed.onnx")
