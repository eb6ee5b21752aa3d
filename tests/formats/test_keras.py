"""Native Keras 3 files (.keras, .weights.h5) against Keras's own outputs (tests/data/keras, made by
scripts/make_keras_fixtures.py), and every refusal as one line naming the file, the layer and the option."""

from __future__ import annotations

import io
import json
import shutil
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_tui.core import ModelFileError
from lstm_tui.core.cells import Bidirectional, Layer
from lstm_tui.core.model import directions
from lstm_tui.formats import load_file

DATA = Path(__file__).parent.parent / "data" / "keras"
NAMES = sorted(p.stem for p in DATA.glob("*.npz"))
TOL = 1e-5


def _vocab_file(tmp_path: Path, ref) -> Path | None:
    if "vocab" not in ref:
        return None
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(ref["vocab"].tolist()))
    return path


def _trace(model, ref):
    if "ids" in ref:
        return model.trace([model.vocab[i] for i in ref["ids"]])
    return model.trace(ref["x"])


def _position(model, k: int, T: int) -> int:
    """lstm-tui's position of Keras's sequence index k (Keras passes a go_backwards layer's outputs on reversed)."""
    return T - 1 - k if model.meta.get("keras_order") == "reversed" else k


def _last(level, h: np.ndarray) -> np.ndarray:
    """Keras's return_sequences=False output: the last step each direction computed."""
    parts, start = [], 0
    for d in directions(level):
        w = d.output_size
        parts.append(h[0 if d.reverse else -1, start : start + w])
        start += w
    return np.concatenate(parts)


def _keras_positions(model, T: int) -> list[list[int]]:
    """For each level, the position of Keras's sequence index k = 0..T-1: reversed after an odd number of
    go_backwards layers (a lone reverse Layer sets the parity; a Bidirectional level keeps it)."""
    out, parity = [], False
    for level in model.layers:
        if isinstance(level, Layer):
            parity = level.reverse
        out.append(list(range(T - 1, -1, -1)) if parity else list(range(T)))
    return out


def _swapped(model, i: int) -> bool:
    """A Bidirectional level read while the sequence is reversed: its units are [Keras backward, Keras forward]."""
    before = [level for level in model.layers[:i] if isinstance(level, Layer)]
    return isinstance(model.layers[i], Bidirectional) and bool(before) and before[-1].reverse


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", [".keras", ".weights.h5", ".h5"])
def test_matches_keras(tmp_path, name, kind):
    path = DATA / f"{name}{kind}"
    if not path.exists():
        pytest.skip(f"{name} has no {kind} fixture")
    _assert_matches(tmp_path, path, name, kind)


def _assert_matches(tmp_path: Path, path: Path, name: str, kind: str) -> None:
    """The model in ``path`` gives Keras's outputs for fixture ``name`` (its .npz)."""
    ref = np.load(DATA / f"{name}.npz")
    model = load_file(path, vocab_path=_vocab_file(tmp_path, ref))
    trace = _trace(model, ref)
    T = len(trace.tokens)
    positions = _keras_positions(model, T)
    assert sum(1 for key in ref.files if key.startswith("out_")) == len(model.layers)
    for i, level in enumerate(model.layers):
        h = np.asarray(trace.states["h"][i])  # (T, W) by position
        want = ref[f"out_{i}"]
        merge = str(ref[f"merge_{i}"]) if f"merge_{i}" in ref else "concat"
        if _swapped(model, i) and merge == "concat":
            half = want.shape[-1] // 2
            want = np.concatenate([want[..., half:], want[..., :half]], axis=-1)
        got = _last(level, h) if want.ndim == 1 else h[positions[i]]  # (return_sequences=False: one step)
        if merge != "concat":  # Keras passes on the halves summed or averaged; lstm-tui keeps them apart
            half = got.shape[-1] // 2
            got = (got[..., :half] + got[..., half:]) * (0.5 if merge == "ave" else 1.0)
        np.testing.assert_allclose(got, want, atol=TOL, err_msg=f"{name} layer {i}")
    if model.head_W is None:
        assert "y" not in ref or np.allclose(ref["y"], ref[f"out_{len(model.layers) - 1}"])
        return
    act = model.meta["head_activation"] if kind != ".weights.h5" else "softmax"
    h = np.asarray(trace.states["h"][-1])
    if model.head_pool:  # a pool of every step: the last position's
        logits = trace.logits[-1]
    else:
        logits = model.logits_of(_last(model.layers[-1], h)) if ref["y"].ndim == 1 else trace.logits[positions[-1]]
    keras_y = {"softmax": lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True), "linear": lambda a: a,
               "sigmoid": lambda a: 1 / (1 + np.exp(-a))}
    np.testing.assert_allclose(keras_y[act](logits.astype(np.float64)), ref["y"], atol=TOL, err_msg=f"{name} y")
    if "prefix_y" in ref and not model.bidirectional:  # reading forwards, y at step t is the output for the text to t
        np.testing.assert_allclose(keras_y[act](trace.logits.astype(np.float64)), ref["prefix_y"], atol=TOL)
    if act == "softmax" and ref["y"].ndim == 2:
        np.testing.assert_allclose(trace.y[positions[-1]], ref["y"], atol=TOL)


# --- refusals: one line naming the file, the layer and the option ------------------------------------


def _rewrite(tmp_path: Path, name: str, change, out: str = "bad.keras") -> Path:
    """A copy of fixture ``name``.keras whose config.json went through ``change(config)``."""
    src = zipfile.ZipFile(DATA / f"{name}.keras")
    config = json.loads(src.read("config.json"))
    change(config)
    path = tmp_path / out
    with zipfile.ZipFile(path, "w") as z:
        for item in src.namelist():
            z.writestr(item, json.dumps(config) if item == "config.json" else src.read(item))
    return path


def _layer(config: dict, name: str) -> dict:
    return next(x for x in config["config"]["layers"] if x["config"].get("name") == name)


def _refused(path: Path, *fragments: str, vocab=None) -> str:
    with pytest.raises(ModelFileError) as exc:
        load_file(path, vocab_path=vocab)
    msg = str(exc.value)
    assert msg.startswith(str(path)) and "\n" not in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def _set(name: str, **options):
    def change(config):
        _layer(config, name)["config"].update(options)
    return change


@pytest.mark.parametrize(
    "model, change, fragments",
    [
        ("gru_seq", _set("gru", activation="selu"), ["layer 'gru' (GRU)", "activation 'selu'", "expected one of tanh"]),
        ("gru_seq", _set("gru_2", recurrent_activation="swish"), ["layer 'gru_2' (GRU)", "recurrent_activation 'swish'"]),
        ("gru_seq", _set("gru", units=6), ["layer 'gru' (GRU) kernel has shape [3, 15], expected [3, 18]"]),
        ("gru_seq", _set("gru", reset_after=True), ["layer 'gru' (GRU) bias has shape [15], expected [2, 15]"]),
        ("gru_seq", _set("gru_1", use_bias=True), ["layer 'gru_1' (GRU): holds 2 weight arrays, expected 3"]),
        ("gru_seq", _set("gru", return_sequences=False), ["layer 'gru_1' (GRU)", "return_sequences=False"]),
        ("gru_seq", lambda c: _layer(c, "dropout").update(class_name="Conv1D"),
         ["layer 'dropout' (Conv1D): not a layer lstm-tui runs; expected InputLayer, TextVectorization, Embedding"]),
        ("gru_seq", lambda c: _layer(c, "dropout").update(class_name="Sequential"),
         ["layer 'dropout' (Sequential): a nested model whose layers have no weights in the file"]),
        ("gru_seq", lambda c: c.update(class_name="MyModel"), ["config.json: the model is a MyModel"]),
        ("lstm_lm", lambda c: _layer(c, "bidirectional")["config"].update(merge_mode="mul"),
         ["layer 'bidirectional' (Bidirectional): merge_mode 'mul'; expected 'concat', 'sum' or 'ave'"]),
        ("lstm_lm", lambda c: _layer(c, "bidirectional")["config"].update(merge_mode=None),
         ["merge_mode 'None'"]),
        ("lstm_lm", lambda c: _layer(c, "lstm_1").update(inbound_nodes=_layer(c, "bidirectional")["inbound_nodes"]),
         ["layer 'lstm_1' (LSTM): takes embedding; expected one input, the output of 'bidirectional'"]),
        ("lstm_lm", lambda c: c["config"].update(output_layers=[["lstm_1", 0, 0], ["dense", 0, 0]]),
         ["config.json: the model's outputs are"]),
        ("lstm_lm", lambda c: _layer(c, "lstm_1").update(class_name="GRU"), ["layer 'lstm_1' (GRU)"]),
        ("simple_seq", lambda c: c["config"]["layers"][1]["config"].update(time_major=True), ["time_major=True"]),
        ("lstm_mask_func", lambda c: _layer(c, "lstm_1")["inbound_nodes"][0]["kwargs"]["mask"]["config"].update(
            keras_history=["embedding", 0, 0]), ["layer 'lstm_1' (LSTM): takes bidirectional, embedding"]),
        ("lstm_act_layers", _set("re_lu", max_value=6.0), ["layer 're_lu' (ReLU): activation 'ReLU(max_value=6.0"]),
        # a number that is no finite float: every output NaN, or float() failing as if the weights had
        ("lstm_act_layers", _set("leaky_re_lu", negative_slope=float("nan")),
         ["layer 'leaky_re_lu' (LeakyReLU): negative_slope nan; expected a finite number"]),
        ("lstm_act_layers", _set("leaky_re_lu", negative_slope=float("inf")), ["negative_slope inf; expected a"]),
        ("lstm_act_layers", _set("leaky_re_lu", negative_slope=10**400),
         ["layer 'leaky_re_lu' (LeakyReLU): negative_slope 100000000000… (401 digits); expected a finite number"]),
        ("lstm_act_layers", lambda c: _layer(c, "leaky_re_lu").update(
            class_name="ELU", config={"name": "leaky_re_lu", "alpha": float("nan")}),
         ["layer 'leaky_re_lu' (ELU): alpha nan; expected a finite number"]),
        ("lstm_batch_norm_head", _set("batch_normalization", epsilon=-10**400),
         ["layer 'batch_normalization' (BatchNormalization): epsilon -10000000000… (401 digits); expected a finite"]),
        ("lstm_batch_norm_head", _set("batch_normalization", axis=1),
         ["layer 'batch_normalization' (BatchNormalization): axis 1; expected -1"]),
        ("lstm_batch_norm_head", _set("batch_normalization", center=False),
         ["layer 'batch_normalization' (BatchNormalization): holds 4 weight arrays, expected 3"]),
        ("lstm_deep_head", _set("dense_1", activation="gelu"), ["layer 'dense_1' (Dense): activation 'gelu'"]),
        ("lstm_deep_head", _set("dense", activation="softmax"), ["layer 'dense' (Dense): activation 'softmax'"]),
        ("lstm_deep_head", _set("dense", units=5), ["layer 'dense' (Dense) kernel has shape [8, 6], expected [8, 5]"]),
        ("lstm_deep_head", lambda c: _layer(c, "dropout").update(class_name="LayerNormalization"),
         ["layer 'dropout' (LayerNormalization): comes after the head 'dense'; expected Dense layers"]),
    ],
)
def test_config_refusals(tmp_path, model, change, fragments):
    ref = np.load(DATA / f"{model}.npz")
    _refused(_rewrite(tmp_path, model, change), *fragments, vocab=_vocab_file(tmp_path, ref))


def test_damaged_archives(tmp_path):
    good = (DATA / "simple_seq.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(good[: len(good) // 2])
    _refused(tmp_path / "cut.keras", "not a valid .keras archive")
    src = zipfile.ZipFile(DATA / "simple_seq.keras")
    for drop, fragment in (("model.weights.h5", "holds a config.json but no model.weights.h5"),
                           ("config.json", "holds no config.json")):
        path = tmp_path / f"no_{drop}.keras"
        with zipfile.ZipFile(path, "w") as z:
            for item in src.namelist():
                if item != drop:
                    z.writestr(item, src.read(item))
        _refused(path, fragment)
    path = tmp_path / "json.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", "{not json")
        z.writestr("model.weights.h5", src.read("model.weights.h5"))
    _refused(path, "config.json is not valid JSON")
    path = tmp_path / "h5.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", src.read("config.json"))
        z.writestr("model.weights.h5", src.read("model.weights.h5")[:300])
    _refused(path, "is not a valid HDF5 file")
    (tmp_path / "cut.weights.h5").write_bytes((DATA / "simple_seq.weights.h5").read_bytes()[:2000])
    _refused(tmp_path / "cut.weights.h5", "not a valid HDF5 file")


def _h5(path: Path, arrays: dict, attrs: dict | None = None) -> Path:
    with h5py.File(path, "w") as f:
        for key, a in arrays.items():
            f[key] = a
        for key, v in (attrs or {}).items():
            f.attrs[key] = v
    return path


def test_weights_without_config(tmp_path):
    z = np.zeros
    _refused(_h5(tmp_path / "k2.h5", {"model_weights/lstm/kernel": z((3, 8))}, {"model_config": "{}"}),
             "model_config: the model is a None; expected a Sequential or functional Model")
    _refused(_h5(tmp_path / "k3.h5", {"model_weights/lstm/kernel": z((3, 8))}, {"model_config": "[1"}),
             "model_config is not valid JSON")
    _refused(_h5(tmp_path / "w.h5", {"lstm/lstm/kernel": z((3, 8))}, {"layer_names": ["lstm"]}),
             "a legacy .h5 file of weights only (no model_config)", "model.save('model.keras')")
    _refused(_h5(tmp_path / "none.weights.h5", {"vars/0": z(3)}), "holds no 'layers' group")
    _refused(_h5(tmp_path / "conv.weights.h5", {"layers/conv1d/vars/0": z((3, 3, 4)),
                                                 "layers/lstm/cell/vars/0": z((4, 8)),
                                                 "layers/lstm/cell/vars/1": z((2, 8))}),
             "layers/conv1d holds weights of a layer lstm-tui does not know", "open the .keras file")
    _refused(_h5(tmp_path / "nested.weights.h5", {"layers/sequential/layers/lstm/cell/vars/0": z((4, 8))}),
             "layers/sequential: a model nested inside the model")
    two_orders = {"layers/lstm/cell/vars/0": z((4, 16)), "layers/lstm/cell/vars/1": z((4, 16)),
                  "layers/bidirectional/forward_layer/cell/vars/0": z((4, 8)),
                  "layers/bidirectional/forward_layer/cell/vars/1": z((2, 8)),
                  "layers/bidirectional/backward_layer/cell/vars/0": z((4, 8)),
                  "layers/bidirectional/backward_layer/cell/vars/1": z((2, 8))}
    _refused(_h5(tmp_path / "two.weights.h5", two_orders), "more than one order of its recurrent layers")
    no_order = {"layers/lstm/cell/vars/0": z((4, 16)), "layers/lstm/cell/vars/1": z((4, 16)),
                "layers/lstm_1/cell/vars/0": z((5, 16)), "layers/lstm_1/cell/vars/1": z((4, 16))}
    _refused(_h5(tmp_path / "no.weights.h5", no_order), "no order of its recurrent layers")
    bad_kind = {"layers/gru/cell/vars/0": z((4, 16)), "layers/gru/cell/vars/1": z((4, 16))}
    _refused(_h5(tmp_path / "kind.weights.h5", bad_kind), "layers/gru: recurrent kernel [4, 16] does not fit a GRU")


def test_without_h5py_the_install_line_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    for name in ("simple_seq.keras", "simple_seq.weights.h5"):
        _refused(DATA / name, "are read with h5py, which is not installed: pip install h5py",
                 "pip install '.[keras]' in a clone of lstm-tui")


def test_cli_refusal_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    from lstm_tui.cli import main

    bad = _rewrite(tmp_path, "simple_seq", lambda c: c["config"]["layers"][1]["config"].update(activation="gelu"))
    out = tmp_path / "out.npz"
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 3), np.float32))
    assert main(["export", "--model", str(bad), "--inputs", str(x), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "activation 'gelu'" in err and "layer 'simple_rnn" in err
    assert not out.exists()
    good = DATA / "simple_seq.keras"
    assert main(["export", "--model", str(good), "--inputs", str(x), "-o", str(out)]) == 0
    assert out.exists()


def test_without_a_vocabulary_the_ids_are_the_tokens():
    ref = np.load(DATA / "lstm_lm.npz")
    model = load_file(DATA / "lstm_lm.keras")
    assert model.vocab == tuple(str(k) for k in range(len(ref["vocab"]))) and model.tokenizer == "word"
    assert any("no vocabulary" in n for n in model.notes)
    trace = model.trace(" ".join(str(i) for i in ref["ids"]))
    np.testing.assert_allclose(trace.y, ref["y"], atol=TOL)
    start = model.trace(model.meta["example"])  # what the app and the CLI start on without --text
    assert start.steps > 1 and not start.unknown.any()  # ids, not words that would all be <unk>


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["lstm_lm.keras", "gru_seq.keras", "simple_seq.weights.h5", "rnn_backwards.h5"]),
       cut=st.integers(0, 3), pos=st.integers(0, 1 << 20), byte=st.integers(0, 255))
def test_fuzz_damaged_keras_files_load_or_fail_cleanly(tmp_path, name, cut, pos, byte):
    data = bytearray((DATA / name).read_bytes())
    if cut:
        data = data[: len(data) * cut // 4]
    data[pos % len(data)] = byte
    path = tmp_path / name
    path.write_bytes(bytes(data))
    try:
        model = load_file(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc)
    else:
        for level in model.layers:
            for d in directions(level):
                assert all(np.isfinite(a).all() for a in (d.W_ih, d.W_hh, d.b_ih, d.b_hh))


def test_a_state_output_or_an_initial_state_is_not_a_linear_stack(tmp_path):
    def state(c):  # the Dense reads output 2 (return_state's c) of the LSTM
        _layer(c, "dense")["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["lstm_1", 0, 2]
    _refused(_rewrite(tmp_path, "lstm_lm", state), "layer 'dense' (Dense): takes lstm_1[2]")

    def initial(c):  # the LSTM called with initial_state from the embedding
        node = _layer(c, "lstm_1")["inbound_nodes"][0]
        node["kwargs"]["initial_state"] = [_layer(c, "bidirectional")["inbound_nodes"][0]["args"][0]]
    _refused(_rewrite(tmp_path, "lstm_lm", initial), "layer 'lstm_1' (LSTM): takes bidirectional, embedding")


def test_archive_members_too_large_are_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr("lstm_tui.formats.keras.MAX_WEIGHTS_BYTES", 1000)
    _refused(DATA / "simple_seq.keras", "model.weights.h5 unpacks to", "more than lstm-tui reads")
    raw = zipfile.ZipFile(DATA / "simple_seq.keras").read("config.json").decode()
    with zipfile.ZipFile(tmp_path / "deep.keras", "w") as z:
        z.writestr("config.json", raw[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
        z.writestr("model.weights.h5", b"")
    _refused(tmp_path / "deep.keras", "config.json is not valid JSON")


def test_dense_then_softmax_layer_is_one_head(tmp_path):
    """Dense(V) followed by Activation('softmax') (or a Softmax layer) is the same head as Dense(V, 'softmax')."""
    ref = np.load(DATA / "lstm_lm.npz")
    vocab = _vocab_file(tmp_path, ref)

    def split(cls):
        def change(c):
            layers = c["config"]["layers"]
            dense = _layer(c, "dense")
            dense["config"]["activation"] = "linear"
            extra = {"module": "keras.layers", "class_name": cls, "name": "act",
                     "config": {"name": "act", **({"activation": "softmax"} if cls == "Activation" else {})},
                     "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                                  "config": {"keras_history": ["dense", 0, 0]}}], "kwargs": {}}]}
            layers.append(extra)
            c["config"]["output_layers"] = [["act", 0, 0]]
        return change

    for cls in ("Activation", "Softmax"):
        model = load_file(_rewrite(tmp_path, "lstm_lm", split(cls), f"{cls}.keras"), vocab_path=vocab)
        assert model.meta["head_activation"] == "softmax" and model.meta["keras_layers"] == "bidirectional, lstm_1"
        trace = _trace(model, ref)
        np.testing.assert_allclose(trace.y, ref["y"], atol=TOL)
    after = split("Activation")

    def twice(c):
        after(c)
        _layer(c, "act")["config"]["activation"] = "softmax"
        c["config"]["layers"].append({**_layer(c, "act"), "name": "act2", "config": {"name": "act2"},
                                      "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
                                          "keras_history": ["act", 0, 0]}}]}]})
        c["config"]["output_layers"] = [["act2", 0, 0]]
    _refused(_rewrite(tmp_path, "lstm_lm", twice), "layer 'act2' (Activation): comes after the head 'dense'",
             vocab=vocab)


def test_tf_keras_inbound_nodes_form(tmp_path):
    """tf.keras writes a call as [[layer, node, tensor, kwargs]]: read as the same chain."""
    def old_form(c):
        for x in c["config"]["layers"][1:]:
            src = x["inbound_nodes"][0]["args"][0]["config"]["keras_history"]
            x["inbound_nodes"] = [[[src[0], 0, 0, {}]]]
    ref = np.load(DATA / "lstm_lm.npz")
    model = load_file(_rewrite(tmp_path, "lstm_lm", old_form), vocab_path=_vocab_file(tmp_path, ref))
    np.testing.assert_allclose(_trace(model, ref).y, ref["y"], atol=TOL)


def test_legacy_h5_hard_sigmoid_follows_the_keras_version(tmp_path):
    """Keras 3's hard_sigmoid is x/6 + 1/2; tf.keras (2.x) wrote files whose hard_sigmoid is 0.2 x + 1/2."""
    assert load_file(DATA / "gru_seq.h5").layers[2].activations[0] == ("HardSigmoid", 1 / 6, 0.5)
    old = tmp_path / "old.h5"
    shutil.copy(DATA / "gru_seq.h5", old)
    with h5py.File(old, "r+") as f:
        f.attrs["keras_version"] = "2.15.0"
    model = load_file(old)
    assert model.layers[2].activations[0] == ("HardSigmoid", 0.2, 0.5) and model.meta["keras_version"] == "2.15.0"


def test_legacy_h5_bidirectional_halves_go_by_their_layer_names(tmp_path):
    """A legacy .h5 keeps a Bidirectional's arrays under <model>/<layer>/<sub-layer>/...: an explicit backward_layer
    under its own name (no "backward_"), and the model's and layer's names may hold "forward_" or "backward_".
    lstm_lm.h5 renamed so (as Keras 3 writes it) still gives Keras's numbers."""
    path = tmp_path / "names.h5"
    shutil.copy(DATA / "lstm_lm.h5", path)
    with h5py.File(path, "r+") as f:
        raw = f.attrs["model_config"]
        text = (raw.decode() if isinstance(raw, bytes) else raw).replace('"bidirectional"', '"backward_encoder"')
        config = json.loads(text.replace('"backward_lstm"', '"lstm_9"'))
        config["config"]["name"] = "forward_model"
        f.attrs["model_config"] = json.dumps(config)
        weights = f["model_weights"]
        weights.attrs["layer_names"] = [n.replace("bidirectional", "backward_encoder")
                                        for n in weights.attrs["layer_names"].astype(str)]
        weights.move("bidirectional", "backward_encoder")
        group = weights["backward_encoder"]
        group.create_group("forward_model")
        group.move("bidirectional", "forward_model/backward_encoder")
        group.move("forward_model/backward_encoder/backward_lstm", "forward_model/backward_encoder/lstm_9")
        group.attrs["weight_names"] = [f"forward_model/{n}".replace("bidirectional", "backward_encoder")
                                       .replace("backward_lstm", "lstm_9") for n in group.attrs["weight_names"]
                                       .astype(str)]
        assert all(n in group for n in group.attrs["weight_names"])
    _assert_matches(tmp_path, path, "lstm_lm", ".h5")
    with h5py.File(path, "r+") as f:  # a weight of neither half: one line, not a guess
        group = f["model_weights/backward_encoder"]
        names = group.attrs["weight_names"].astype(str)
        group.move("forward_model/backward_encoder/forward_lstm", "forward_model/backward_encoder/other")
        group.attrs["weight_names"] = [n.replace("/forward_lstm/", "/other/") for n in names]
    _refused(path, "layer 'backward_encoder' (Bidirectional) forward: holds 0 weight arrays, expected 3")
    tf_keras = tmp_path / "tf_keras.h5"  # tf.keras names the inner layer (lstm) and writes no backward_layer
    shutil.copy(DATA / "lstm_lm.h5", tf_keras)
    with h5py.File(tf_keras, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        bi = _layer(config, "bidirectional")["config"]
        bi["layer"]["config"]["name"] = "lstm"
        del bi["backward_layer"]
        f.attrs["model_config"] = json.dumps(config)
    _assert_matches(tmp_path, tf_keras, "lstm_lm", ".h5")


def test_weights_h5_order_search_is_bounded(tmp_path, monkeypatch):
    """An embedding of width 4, 12 LSTM and 12 GRU layers 4 -> 4 and a SimpleRNN 5 -> 4 that fits nowhere: the
    C(24, 12) = 2.7 million interleavings are counted over a few hundred partial orders, not tried one by one;
    past the cap of partial orders, a file is refused in one line."""
    from lstm_tui.formats import keras_infer

    def stack(*layers):
        arrays = {}
        for cls, G, E, H, n in layers:
            for k in range(n):
                sub = "forward_layer/cell" if cls == "bidirectional" else "cell"
                key = f"layers/{cls}{f'_{k}' if k else ''}/{sub}/vars"
                arrays.update({f"{key}/0": np.zeros((E, G * H)), f"{key}/1": np.zeros((H, G * H))})
        return arrays

    bomb = stack(("lstm", 4, 4, 4, 12), ("gru", 3, 4, 4, 12), ("simple_rnn", 1, 5, 4, 1))
    bomb["layers/embedding/vars/0"] = np.zeros((3, 4))
    monkeypatch.setattr(keras_infer, "MAX_ORDER_STATES", 500)
    _refused(_h5(tmp_path / "many.weights.h5", bomb), "no order of its recurrent layers")
    monkeypatch.setattr(keras_infer, "MAX_ORDER_STATES", 50)
    _refused(_h5(tmp_path / "more.weights.h5", bomb), "its 25 recurrent layers could go in too many orders to try")
    monkeypatch.undo()
    one = stack(("lstm", 4, 4, 4, 12), ("bidirectional", 4, 5, 2, 1))  # one order: bidirectional first
    one.update({k.replace("forward", "backward"): v for k, v in one.items() if "forward" in k})
    one.update({"layers/embedding/vars/0": np.zeros((3, 5)), "layers/dense/vars/0": np.zeros((4, 2))})
    model = load_file(_h5(tmp_path / "one.weights.h5", one))
    assert model.meta["keras_layers"] == "bidirectional, lstm, " + ", ".join(f"lstm_{k}" for k in range(1, 12))


def _notes(path: Path) -> list[str]:
    return list(load_file(path, vocab_path=None).notes)


def test_where_the_numbers_are_not_keras_output_a_note_says_so(tmp_path):
    """Masks, a one-step output, a head's other activation, a config guessed: each one a note (cli: stderr)."""
    plain = _notes(DATA / "lstm_lm.keras")
    assert not any(w in n for n in plain for w in ("mask", "padding", "one step", "pre-activation", "no config"))
    masked = _notes(_rewrite(tmp_path, "lstm_lm", _set("embedding", mask_zero=True)))
    assert any(n.startswith("layer 'embedding' (Embedding): mask_zero=True") and "Keras skips them" in n
               for n in masked)
    notes = _notes(DATA / "gru_seq.keras")
    assert any("layer 'gru_2' (return_sequences=False): Keras's output is one step" in n for n in notes)
    assert any("head 'dense_1' has activation sigmoid" in n for n in notes)
    assert not any("reversed order" in n for n in notes)  # gru_1 reads backwards, but the output is one step
    assert "go_backwards on 'simple_rnn': Keras's output lists its steps in reversed order" in " ".join(
        _notes(DATA / "rnn_backwards.keras"))
    masking = _rewrite(tmp_path, "gru_seq", lambda c: _layer(c, "dropout").update(class_name="Masking"), "m.keras")
    assert any(n.startswith("layer 'dropout' (Masking): steps whose inputs all equal") for n in _notes(masking))
    weights = tmp_path / "gru_seq.weights.h5"
    weights.write_bytes(zipfile.ZipFile(DATA / "gru_seq.keras").read("model.weights.h5"))
    guessed = _notes(weights)
    assert guessed[0].startswith("a .weights.h5 holds no config")
    assert [n for n in guessed if "reset_after" in n] == [
        "layer 'gru_1' (GRU): a GRU without biases does not say its reset_after: Keras's default (True) assumed"]


def test_a_model_used_as_a_layer_is_read_in_its_place(tmp_path):
    """A trained encoder wrapped in a new model (lstm_nested, gru_nested_seq) opens with Keras's numbers
    (test_matches_keras); its layers are named outer/inner. A legacy .h5 of one is refused, and so are models
    nested deeper than MAX_NESTING, each in one line."""
    from lstm_tui.formats.keras_config import MAX_NESTING

    model = load_file(DATA / "lstm_nested.keras")
    inner, outer = model.meta["keras_layers"].split(", ")
    assert inner.startswith("encoder/lstm") and outer.startswith("lstm") and "/" not in outer
    assert len(load_file(DATA / "gru_nested_seq.keras").layers) == 1

    legacy = tmp_path / "legacy.h5"
    shutil.copy(DATA / "gru_seq.h5", legacy)
    with h5py.File(legacy, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        _layer(config, "dropout").update(class_name="Sequential")
        f.attrs["model_config"] = json.dumps(config)
    _refused(legacy, "layer 'dropout' (Sequential): a model nested inside the model of a legacy .h5 file",
             "model.save('model.keras')")

    src = zipfile.ZipFile(DATA / "lstm_nested.keras")
    config = json.loads(src.read("config.json"))
    outer = next(x for x in config["config"]["layers"] if x["class_name"] == "Sequential")
    deep = tmp_path / "deep.keras"
    with h5py.File(tmp_path / "w.h5", "w") as h5, zipfile.ZipFile(deep, "w") as z:
        def copy(dst, src_group):
            for key in src_group:
                src_group.copy(src_group[key], dst, name=key)
        with h5py.File(io.BytesIO(src.read("model.weights.h5"))) as old:
            layer = outer
            group = h5.create_group("layers/sequential")
            for k in range(MAX_NESTING):  # the encoder inside MAX_NESTING more Sequentials
                layer = {"class_name": "Sequential", "config": {"name": f"wrap{k}", "layers": [layer]}}
                group = group.create_group("layers/sequential")
            layer.update(inbound_nodes=outer["inbound_nodes"], name=outer["name"])
            layer["config"]["name"] = outer["config"]["name"]
            copy(group, old["layers/sequential"])
            outer_layers = config["config"]["layers"]
            outer_layers[outer_layers.index(outer)] = layer
            for key in old:
                if key != "layers":
                    old.copy(old[key], h5, name=key)
            for key in old["layers"]:
                if key != "sequential":
                    old.copy(old["layers"][key], h5["layers"], name=key)
        h5.flush()
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", (tmp_path / "w.h5").read_bytes())
    _refused(deep, f"models nested more than {MAX_NESTING} deep")


def test_a_functional_models_mask_layer_is_a_mask_not_a_branch(tmp_path):
    """Embedding(mask_zero=True) in a functional model: Keras records the mask as a NotEqual layer the recurrent
    layers read as mask= (lstm_mask_func: Keras's numbers, test_matches_keras). The note says the masked steps
    differ, from the Embedding, or from the mask layer where the Embedding does not say it."""
    notes = load_file(DATA / "lstm_mask_func.keras").meta["notes"]
    assert sum("padding" in n or "a mask of the steps" in n for n in notes) == 1
    assert any("mask_zero=True" in n for n in notes)
    path = _rewrite(tmp_path, "lstm_mask_func", lambda c: _layer(c, "embedding")["config"].update(mask_zero=False))
    notes = load_file(path).meta["notes"]
    assert any(n.startswith("layer 'not_equal' (NotEqual): a mask of the steps: Keras skips them") for n in notes)


@pytest.mark.parametrize("name", ["text_tutorial", "text_chars_given"])
def test_a_model_that_reads_text_tokenizes_it_as_tensorflow_does(name):
    """A TextVectorization layer first (TensorFlow's RNN tutorial; a character model with its vocabulary in
    the config): the vocabulary comes from the file, and every text gives TensorFlow's ids (scripts/
    make_keras_text_fixtures.py), through ASCII-only lowercasing, punctuation and whitespace; the numbers are
    Keras's (test_matches_keras). Ids past the vocabulary are named, not tokens anyone types."""
    ref = np.load(DATA / f"{name}.npz")
    model = load_file(DATA / f"{name}.keras")
    assert model.tokenizer.startswith("keras:") and model.vocab[:2] == ("", "[UNK]")
    np.testing.assert_array_equal(model.trace(str(ref["text"])).ids, ref["ids"])
    starts = np.r_[0, np.cumsum(ref["texts_len"])]
    for k, text in enumerate(ref["texts"]):
        want = ref["texts_ids"][starts[k] : starts[k + 1]]
        tokens = model.tokens(str(text))
        assert [model.vocab.index(t) if t in model.vocab else 1 for t in tokens] == want.tolist(), repr(text)
    if name == "text_chars_given":
        assert len(model.vocab) == 20 and model.vocab[-1] == "<unused 19>"


def test_text_vectorization_options_lstm_tui_cannot_run_are_refused(tmp_path):
    for options, words in (({"output_mode": "multi_hot"}, "output_mode 'multi_hot'; expected 'int'"),
                           ({"ngrams": 2}, "ngrams 2"),
                           ({"standardize": "my_function"}, "standardize 'my_function'"),
                           ({"split": "my_split"}, "split 'my_split'")):
        path = _rewrite(tmp_path, "text_tutorial", lambda c, o=options: _layer(c, "text_vectorization")["config"].update(o))
        _refused(path, "layer 'text_vectorization' (TextVectorization): " + words)
    src = zipfile.ZipFile(DATA / "text_tutorial.keras")
    bare = tmp_path / "bare.keras"
    with zipfile.ZipFile(bare, "w") as z:
        for item in src.namelist():
            if not item.startswith("assets/"):
                z.writestr(item, src.read(item))
    _refused(bare, "its vocabulary is not in the archive (expected assets/layers/text_vectorization/_lookup_layer/vocabulary.txt)")


def test_activation_layers_of_tf_keras_2_and_their_parameters(tmp_path):
    """A legacy .h5 of tf.keras 2 saves LeakyReLU's slope as alpha (Keras 3: negative_slope); an ELU layer keeps
    its alpha; a ReLU with max_value is refused, not run as a plain relu."""
    for layer, want in (({"class_name": "LeakyReLU", "config": {"name": "act", "alpha": 0.1}}, ("LeakyRelu", 0.1, 0.0)),
                        ({"class_name": "LeakyReLU", "config": {"name": "act", "negative_slope": 0.05}},
                         ("LeakyRelu", 0.05, 0.0)),
                        ({"class_name": "LeakyReLU", "config": {"name": "act"}}, ("LeakyRelu", 0.3, 0.0)),
                        ({"class_name": "ELU", "config": {"name": "act", "alpha": 0.7}}, ("Elu", 0.7, 0.0))):
        path = tmp_path / "k2.h5"
        shutil.copy(DATA / "lstm_deep_head.h5", path)
        with h5py.File(path, "r+") as f:
            config = json.loads(f.attrs["model_config"])
            _layer(config, "dense")["config"]["activation"] = "linear"
            layers = config["config"]["layers"]
            layers.insert(layers.index(_layer(config, "dense")) + 1, dict(layer, name="act"))
            f.attrs["model_config"] = json.dumps(config)
            f.attrs["keras_version"] = "2.15.0"
        assert load_file(path).head_hidden[0].activation == want, layer


def test_a_softmax_over_another_axis_is_not_the_heads_softmax(tmp_path):
    """Softmax(axis=1) after Dense(V) on [batch, T, V] normalises over the steps: y is not Keras's output, and
    the note says so (it was read as a softmax over the classes, silently)."""
    path = _rewrite(tmp_path, "lstm_act_layers", _set("softmax", axis=1))
    model = load_file(path)
    assert model.meta["head_activation"] == "Softmax(axis=1)"
    assert any("activation Softmax(axis=1)" in n and "not Keras's output" in n for n in model.meta["notes"])
    assert load_file(_rewrite(tmp_path, "lstm_act_layers", _set("softmax", axis=-1))).meta["head_activation"] == \
        "softmax"


def test_unknown_words_of_a_text_vectorization_take_its_unk_even_beside_a_word_unk(tmp_path):
    """A vocabulary adapted on a text holding the word <unk> (as PTB does) keeps it as a word: an unknown word
    is still [UNK], id 1, as TensorFlow maps it. When the archive holds the
    vocabulary twice, the lookup layer's copy is the one Keras reads."""
    src = zipfile.ZipFile(DATA / "text_tutorial.keras")
    name = "assets/layers/text_vectorization/_lookup_layer/vocabulary.txt"
    words = src.read(name).decode().splitlines()
    words[3] = "<unk>"  # a word of the text it was adapted on
    path = tmp_path / "unk.keras"
    with zipfile.ZipFile(path, "w") as z:
        for item in src.namelist():
            z.writestr(item, "\n".join(words) if item == name else src.read(item))
    model = load_file(path)
    assert model.vocab[3] == "<unk>"
    assert model.trace("the zebra").ids.tolist() == [2, 1]  # (it was 3, the word's id)


def test_a_legacy_h5_with_text_vectorization_says_it_keeps_no_vocabulary(tmp_path):
    """model.save("x.h5") drops a TextVectorization's vocabulary (a .keras keeps it as an asset): one line that
    says so and what to do (it said 'cannot read the weights', an internal error); --vocab opens it."""
    path = tmp_path / "tv.h5"
    shutil.copy(DATA / "lstm_deep_head.h5", path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        tv = {"class_name": "TextVectorization", "config": {"name": "text_vectorization", "vocabulary": None,
                                                            "standardize": "lower", "split": "whitespace"}}
        config["config"]["layers"].insert(1, tv)
        f.attrs["model_config"] = json.dumps(config)
    _refused(path, "layer 'text_vectorization' (TextVectorization): a legacy .h5 keeps no vocabulary",
             "give the vocabulary with --vocab")
    vocab = tmp_path / "v.json"
    vocab.write_text(json.dumps(["", "[UNK]", *"abcdef"]))
    model = load_file(path, vocab_path=vocab)
    assert model.tokenizer == "keras:lower:whitespace" and model.trace("A zz b").ids.tolist() == [2, 1, 3]


def _class(config: dict, cls: str) -> dict:
    return next(x for x in config["config"]["layers"] if x["class_name"] == cls)


def _move_pool_after_first_dense(config):
    layers = config["config"]["layers"]
    pool = layers.pop(layers.index(_class(config, "GlobalMaxPooling1D")))
    layers.insert(layers.index(_class(config, "Dense")) + 1, pool)


@pytest.mark.parametrize(
    "model, change, fragments",
    [
        ("lstm_max_pool_clf", lambda c: _class(c, "GlobalMaxPooling1D")["config"].update(data_format="channels_first"),
         ["(GlobalMaxPooling1D): data_format 'channels_first' (a pool over the units); expected channels_last"]),
        ("lstm_max_pool_clf", _move_pool_after_first_dense,
         ["(GlobalMaxPooling1D): a pooling layer here; expected one global pooling right after the last recurrent"]),
        ("lstm_max_pool_clf", lambda c: _class(c, "LSTM")["config"].update(return_sequences=False),
         ["(GlobalMaxPooling1D): pools the one step a layer with return_sequences=False gives"]),
        ("lstm_max_pool_clf", lambda c: c["config"].update(layers=c["config"]["layers"][:4]),
         ["(GlobalMaxPooling1D): no Dense after it; expected a Dense head reading the pool"]),
        ("rnn_avg_pool_frames", lambda c: c["config"]["layers"].insert(3, dict(_class(c, "GlobalAveragePooling1D"))),
         ["(GlobalAveragePooling1D): a pooling layer here"]),
        ("lstm_bi_sum", lambda c: _class(c, "LSTM").update(class_name="GlobalMaxPooling1D", config={"name": "pool"}),
         ["layer 'pool' (GlobalMaxPooling1D): the max of a Bidirectional layer's merged halves (merge_mode sum or ave)"]),
    ],
)
def test_pooling_refusals(tmp_path, model, change, fragments):
    ref = np.load(DATA / f"{model}.npz")
    _refused(_rewrite(tmp_path, model, change), *fragments, vocab=_vocab_file(tmp_path, ref))


def test_a_pooled_head_says_where_y_is_kerass_output(tmp_path):
    ref = np.load(DATA / "gru_bi_avg_pool.npz")
    model = load_file(DATA / "gru_bi_avg_pool.keras", vocab_path=_vocab_file(tmp_path, ref))
    assert model.head_pool == "mean" and model.meta["head_pool"] == "mean"
    assert any("(GlobalAveragePooling1D): the model's output is the head on the mean of every position's h; "
               "lstm-tui's y at step t is the head on the mean of positions 1..t (the model's output at the last step)"
               in n for n in model.notes)
    forward = load_file(DATA / "lstm_max_pool_clf.keras", vocab_path=_vocab_file(tmp_path, ref))
    assert forward.head_pool == "max" and not any("pool" in n.lower() for n in forward.notes)
