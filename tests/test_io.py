"""Loading weights files: every format and naming, Keras's reordering, every malformed file.

The files are built here from arrays the tests create; PyTorch is needed only
by the tests marked to skip without it.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from lstm_tui import load_model
from lstm_tui.core import GATES, Layer, Model, ModelFileError, random_model, softmax
from lstm_tui.core.io import load_file, load_frames, read_vocab, save_model
from lstm_tui.core.errors import InputError

VOCAB = ["a", "b", "c", " ", ".", "<unk>", "é"]


def torch_rnn(rng, cell="lstm", E=5, H=6, L=1, prefix="", bias=True, dtype=np.float32) -> dict:
    """Arrays of an nn.LSTM/GRU/RNN state dict under ``prefix``."""
    G = GATES[cell]
    out = {}
    for k in range(L):
        out[f"{prefix}weight_ih_l{k}"] = rng.uniform(-0.5, 0.5, (G * H, E if k == 0 else H)).astype(dtype)
        out[f"{prefix}weight_hh_l{k}"] = rng.uniform(-0.5, 0.5, (G * H, H)).astype(dtype)
        if bias:
            out[f"{prefix}bias_ih_l{k}"] = rng.uniform(-0.5, 0.5, G * H).astype(dtype)
            out[f"{prefix}bias_hh_l{k}"] = rng.uniform(-0.5, 0.5, G * H).astype(dtype)
    return out


def torch_lm(rng, cell="lstm", names=("encoder", "rnn", "decoder"), E=5, H=6, L=1, V=len(VOCAB), head_bias=True):
    """A whole language model's state dict: embedding, recurrent module and head."""
    emb, rnn, head = names
    out = torch_rnn(rng, cell, E, H, L, prefix=f"{rnn}.")
    out[f"{emb}.weight"] = rng.standard_normal((V, E)).astype(np.float32)
    out[f"{head}.weight"] = rng.uniform(-0.5, 0.5, (V, H)).astype(np.float32)
    if head_bias:
        out[f"{head}.bias"] = rng.uniform(-0.5, 0.5, V).astype(np.float32)
    return out


def expected_layers(arrays: dict, cell: str, prefix: str = "") -> list[Layer]:
    """The layers the arrays describe, built by hand."""
    L = sum(1 for k in arrays if k.startswith(prefix + "weight_ih_l"))
    layers = []
    for k in range(L):
        W_hh = arrays[f"{prefix}weight_hh_l{k}"]
        zeros = np.zeros(W_hh.shape[0], W_hh.dtype)
        b_ih = arrays.get(f"{prefix}bias_ih_l{k}", zeros)
        b_hh = arrays.get(f"{prefix}bias_hh_l{k}", zeros)
        layers.append(Layer(cell, arrays[f"{prefix}weight_ih_l{k}"], W_hh, b_ih, b_hh))
    return layers


def write_st(path: Path, arrays: dict, **meta) -> Path:
    save_file(arrays, str(path), metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    return path


def write_npz(path: Path, arrays: dict, **meta) -> Path:
    np.savez(path, **arrays, **{k: np.array(v) for k, v in meta.items()})
    return path


WRITERS = {"safetensors": write_st, "npz": write_npz}


def assert_same_layers(model: Model, layers: list[Layer]):
    assert model.num_layers == len(layers)
    for got, want in zip(model.layers, layers):
        assert got.cell == want.cell
        for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


# --- PyTorch naming, both containers ------------------------------------------


@pytest.mark.parametrize("fmt", WRITERS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("L", [1, 3])
def test_bare_module_round_trip(tmp_path, rng, fmt, cell, L):
    arrays = torch_rnn(rng, cell, L=L)
    model = load_file(WRITERS[fmt](tmp_path / f"m.{fmt}", arrays))
    assert model.cell == cell and model.embedding is None and model.head_W is None
    assert_same_layers(model, expected_layers(arrays, cell))
    assert not model.takes_tokens
    x = rng.standard_normal((9, 5))
    want = Model(layers=tuple(expected_layers(arrays, cell))).trace(x)
    np.testing.assert_array_equal(model.trace(x).states["h"], want.states["h"])


def test_relu_rnn_comes_from_the_metadata(tmp_path, rng):
    arrays = torch_rnn(rng, "rnn_relu")
    assert load_file(write_st(tmp_path / "m.safetensors", arrays, cell="rnn_relu")).cell == "rnn_relu"
    assert load_file(write_st(tmp_path / "n.safetensors", arrays, cell="rnn", nonlinearity="relu")).cell == "rnn_relu"
    assert load_file(write_npz(tmp_path / "m.npz", arrays, cell="rnn_relu")).cell == "rnn_relu"
    assert load_file(write_st(tmp_path / "t.safetensors", arrays)).cell == "rnn_tanh"


def test_metadata_cell_must_fit_the_gate_count(tmp_path, rng):
    path = write_st(tmp_path / "m.safetensors", torch_rnn(rng, "gru", H=6), cell="lstm")
    with pytest.raises(ModelFileError, match=r"weight_hh_l0 has shape \[18, 6\], expected \[24, 6\] for cell lstm"):
        load_file(path)
    with pytest.raises(ModelFileError, match="metadata cell 'transformer'"):
        load_file(write_st(tmp_path / "t.safetensors", torch_rnn(rng), cell="transformer"))


def test_no_bias_means_zeros(tmp_path, rng):
    arrays = torch_rnn(rng, "gru", L=2, bias=False)
    model = load_file(write_st(tmp_path / "m.safetensors", arrays))
    for layer in model.layers:
        assert not layer.b_ih.any() and not layer.b_hh.any() and layer.b_ih.shape == (18,)


def test_lstm_cell_module_naming(tmp_path, rng):
    one = torch_rnn(rng, "lstm")
    cell_keys = {k.removesuffix("_l0"): v for k, v in one.items()}
    model = load_file(write_st(tmp_path / "m.safetensors", cell_keys))
    assert_same_layers(model, expected_layers(one, "lstm"))


@pytest.mark.parametrize(
    "names",
    [
        ("encoder", "rnn", "decoder"),  # word_language_model
        ("embedding", "lstm", "fc"),
        ("embed", "gru", "head"),
        ("embedding", "rnn", "linear"),
        ("encoder", "lstm", "out"),
    ],
)
@pytest.mark.parametrize("fmt", WRITERS)
def test_language_model_namings(tmp_path, rng, names, fmt):
    cell = "gru" if names[1] == "gru" else "lstm"
    arrays = torch_lm(rng, cell, names, L=2)
    model = load_file(WRITERS[fmt](tmp_path / f"m.{fmt}", arrays, vocab=VOCAB, tokenizer="char"))
    emb, rnn, head = names
    assert_same_layers(model, expected_layers(arrays, cell, f"{rnn}."))
    np.testing.assert_array_equal(model.embedding, arrays[f"{emb}.weight"])
    np.testing.assert_array_equal(model.head_W, arrays[f"{head}.weight"])
    np.testing.assert_array_equal(model.head_b, arrays[f"{head}.bias"])
    assert model.vocab == tuple(VOCAB) and model.tokenizer == "char" and model.takes_tokens
    trace = model.trace("abc. é")
    h = trace.states["h"][-1]
    np.testing.assert_allclose(trace.y, softmax(h @ arrays[f"{head}.weight"].T + arrays[f"{head}.bias"]), rtol=1e-6)
    assert trace.tokens == tuple("abc. é")


def test_nested_prefix_finds_its_siblings(tmp_path, rng):
    arrays = {f"model.{k}": v for k, v in torch_lm(rng, names=("embedding", "lstm", "fc")).items()}
    model = load_file(write_st(tmp_path / "m.safetensors", arrays, vocab=VOCAB))
    np.testing.assert_array_equal(model.embedding, arrays["model.embedding.weight"])
    assert model.meta["prefix"] == "model.lstm." and model.meta["head"] == "model.fc.weight"


def test_head_without_bias(tmp_path, rng):
    arrays = torch_lm(rng, names=("embedding", "lstm", "head"), head_bias=False)
    model = load_file(write_st(tmp_path / "m.safetensors", arrays, vocab=VOCAB))
    assert model.head_b.shape == (len(VOCAB),) and not model.head_b.any()


def test_tied_weights_saved_under_one_name(tmp_path, rng):
    """safetensors.torch.save_model keeps decoder.weight of a tied word_language_model, drops encoder.weight."""
    arrays = torch_lm(rng, E=6, H=6)
    del arrays["encoder.weight"]
    model = load_file(write_st(tmp_path / "m.safetensors", arrays, vocab=VOCAB))
    np.testing.assert_array_equal(model.embedding, arrays["decoder.weight"])
    assert model.meta["tied"] and model.takes_tokens
    other = torch_lm(rng, E=6, H=6)
    del other["decoder.weight"]  # the other way round: the embedding's name kept
    model = load_file(write_st(tmp_path / "n.safetensors", other, vocab=VOCAB))
    np.testing.assert_array_equal(model.head_W, other["encoder.weight"])


def test_prefix_picks_one_of_several_modules(tmp_path, rng):
    arrays = {**torch_rnn(rng, "lstm", prefix="encoder.rnn."), **torch_rnn(rng, "gru", prefix="decoder.rnn.")}
    path = write_st(tmp_path / "m.safetensors", arrays)
    with pytest.raises(ModelFileError, match=r"several recurrent modules .*'encoder.rnn'.*--prefix"):
        load_file(path)
    assert load_file(path, prefix="decoder.rnn").cell == "gru"
    assert load_file(path, prefix="encoder.rnn.").cell == "lstm"
    with pytest.raises(ModelFileError, match=r"no recurrent weights under prefix 'lstm'.*prefixes found"):
        load_file(path, prefix="lstm")


def test_float16_bfloat16_and_float64(tmp_path, rng):
    arrays = torch_rnn(rng, dtype=np.float64)
    assert load_file(write_st(tmp_path / "d.safetensors", arrays)).dtype == np.float64
    half = {k: v.astype(np.float16) for k, v in arrays.items()}
    model = load_file(write_st(tmp_path / "h.safetensors", half))
    assert model.dtype == np.float32
    np.testing.assert_array_equal(model.layers[0].W_hh, half["weight_hh_l0"].astype(np.float32))
    # bfloat16 is the top half of a float32: written by hand, NumPy has no such dtype
    f32 = {k: v.astype(np.float32) for k, v in arrays.items()}
    bf = {k: (v.view(np.uint32) >> 16).astype("<u2") for k, v in f32.items()}
    header, blob = {}, b""
    for k, v in bf.items():
        header[k] = {"dtype": "BF16", "shape": list(v.shape), "data_offsets": [len(blob), len(blob) + v.nbytes]}
        blob += v.tobytes()
    head = json.dumps(header).encode()
    (tmp_path / "b.safetensors").write_bytes(len(head).to_bytes(8, "little") + head + blob)
    model = load_file(tmp_path / "b.safetensors")
    want = (bf["weight_ih_l0"].astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(model.layers[0].W_ih, want)
    np.testing.assert_allclose(model.layers[0].W_ih, f32["weight_ih_l0"], rtol=1e-2)


def test_save_model_round_trip(tmp_path):
    model = random_model(hidden=5, layers=2, cell="gru", tokenizer="word", seed=4)
    save_model(model, tmp_path / "m.safetensors")
    back = load_file(tmp_path / "m.safetensors")
    assert back.name == model.name and back.description == model.description
    assert back.vocab == model.vocab and back.tokenizer == "word"
    assert_same_layers(back, list(model.layers))
    a, b = model.trace("the cat sat"), back.trace("the cat sat")
    np.testing.assert_array_equal(a.y, b.y)
    assert load_model(str(tmp_path / "m.safetensors")).tokenizer == "word"


# --- vocabulary -----------------------------------------------------------------


def test_npz_vocab_and_tokenizer_arrays(tmp_path, rng):
    words = ["the", "cat", "sat", ".", "<unk>"]
    arrays = torch_lm(rng, V=len(words))
    model = load_file(write_npz(tmp_path / "m.npz", arrays, vocab=words, tokenizer="word"))
    assert model.vocab == tuple(words) and model.tokenizer == "word"
    assert model.trace("the dog sat").unknown.tolist() == [False, True, False]


def test_tokenizer_guessed_from_the_vocabulary(tmp_path, rng):
    assert load_file(write_st(tmp_path / "c.safetensors", torch_lm(rng), vocab=VOCAB)).tokenizer == "char"
    words = ["the", "cat", "a", ".", "sat", "on", "mat"]
    assert load_file(write_st(tmp_path / "w.safetensors", torch_lm(rng), vocab=words)).tokenizer == "word"


def test_vocab_file(tmp_path, rng):
    path = write_st(tmp_path / "m.safetensors", torch_lm(rng))
    with pytest.raises(ModelFileError, match=r"has an embedding \(7 tokens\) but no vocabulary: give one with --vocab"):
        load_file(path)
    lines = tmp_path / "vocab.txt"
    lines.write_text("\ufeff" + "\r\n".join(VOCAB) + "\r\n", encoding="utf-8")
    assert load_file(path, vocab_path=lines).vocab == tuple(VOCAB)
    as_json = tmp_path / "vocab.json"
    with_newline = VOCAB[:-1] + ["\n"]
    as_json.write_text(json.dumps(with_newline), encoding="utf-8")
    assert load_file(path, vocab_path=as_json).vocab == tuple(with_newline)
    # the file's own vocabulary is replaced by --vocab
    other = write_st(tmp_path / "o.safetensors", torch_lm(rng), vocab=list("abcdefg"))
    assert load_file(other, vocab_path=lines).vocab == tuple(VOCAB)


@pytest.mark.parametrize(
    "content, match",
    [
        ("a\n\nb\n", "line 2 is empty"),
        ("a\nb\na\n", r"repeats the token 'a' \(ids 0 and 2\)"),
        ("", "vocabulary is empty"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_vocab_files(tmp_path, content, match):
    path = tmp_path / "v.txt"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(ModelFileError, match=match):
        read_vocab(path)


def test_bad_vocab_file_paths(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        read_vocab(tmp_path / "none.txt")
    with pytest.raises(ModelFileError, match="is a directory"):
        read_vocab(tmp_path)
    (tmp_path / "v.json").write_text('{"a": 1}')
    with pytest.raises(ModelFileError, match="not a list of token strings"):
        read_vocab(tmp_path / "v.json")
    (tmp_path / "w.json").write_text("[1, 2")
    with pytest.raises(ModelFileError, match="not a JSON list"):
        read_vocab(tmp_path / "w.json")


@pytest.mark.parametrize(
    "vocab, match",
    [
        (VOCAB[:-1], r"vocabulary has 6 tokens but encoder.weight has 7 rows"),
        (VOCAB[:-1] + ["a"], r"repeats the token 'a' \(ids 0 and 6\)"),
        ([], "vocabulary is empty"),
        ("not json [", "metadata 'vocab' is not a JSON list"),
        ({"a": 0}, "not a list of token strings"),
    ],
)
def test_bad_vocab_metadata(tmp_path, rng, vocab, match):
    path = tmp_path / "m.safetensors"
    save_file(torch_lm(rng), str(path), metadata={"vocab": vocab if isinstance(vocab, str) else json.dumps(vocab)})
    with pytest.raises(ModelFileError, match=match) as exc:
        load_file(path)
    assert str(exc.value).startswith(str(path))


def test_vocab_must_match_the_head_too(tmp_path, rng):
    arrays = torch_lm(rng)
    arrays["decoder.weight"] = arrays["decoder.weight"][:5]
    arrays["decoder.bias"] = arrays["decoder.bias"][:5]
    with pytest.raises(ModelFileError, match="vocabulary has 7 tokens but decoder.weight has 5 rows"):
        load_file(write_st(tmp_path / "m.safetensors", arrays, vocab=VOCAB))


def test_bad_tokenizer_metadata(tmp_path, rng):
    with pytest.raises(ModelFileError, match="metadata tokenizer 'bpe'"):
        load_file(write_st(tmp_path / "m.safetensors", torch_lm(rng), vocab=VOCAB, tokenizer="bpe"))


# --- refusals of a file that does not fit ------------------------------------------


def test_bidirectional_is_refused_naming_the_key(tmp_path, rng):
    arrays = torch_rnn(rng, prefix="rnn.")
    arrays["rnn.weight_ih_l0_reverse"] = arrays["rnn.weight_ih_l0"]
    with pytest.raises(ModelFileError, match="rnn.weight_ih_l0_reverse is the backward direction"):
        load_file(write_st(tmp_path / "m.safetensors", arrays))


def test_projection_is_refused_naming_the_key(tmp_path, rng):
    arrays = torch_rnn(rng)
    arrays["weight_hr_l0"] = np.zeros((3, 6), np.float32)
    with pytest.raises(ModelFileError, match=r"weight_hr_l0 is an LSTM projection \(proj_size > 0\)"):
        load_file(write_st(tmp_path / "m.safetensors", arrays))


def _zeros(*shape):
    return np.zeros(shape, np.float32)


@pytest.mark.parametrize(
    "change, match",
    [
        (
            lambda a: a.update(weight_ih_l1=_zeros(24, 5)),
            r"m.safetensors: weight_ih_l1 has shape \[24, 5\], expected \[24, 6\] \(layer 1 takes layer 0's h\)",
        ),
        (lambda a: a.update(weight_hh_l0=_zeros(24, 5)), r"weight_hh_l0 has shape \[24, 5\], expected \[G\*H, H\]"),
        (lambda a: a.update(weight_hh_l0=_zeros(12, 6)), r"\[12, 6\], expected \[G\*H, H\] with G = 4"),
        (lambda a: a.update(weight_hh_l1=_zeros(24, 5)), r"weight_hh_l1 has shape \[24, 5\], expected \[24, 6\]"),
        (lambda a: a.update(weight_ih_l0=_zeros(20, 5)), r"weight_ih_l0 has shape \[20, 5\], expected \[24, E\]"),
        (lambda a: a.update(bias_ih_l0=_zeros(23)), r"bias_ih_l0 has shape \[23\], expected \[24\]"),
        (lambda a: a.update(weight_ih_l0=_zeros(24)), r"weight_ih_l0 has shape \[24\], expected \[24, E\]"),
        (lambda a: a.update(weight_ih_l0=np.zeros((24, 5), np.int32)), "weight_ih_l0 holds int32 values"),
        (lambda a: a.pop("weight_hh_l1"), r"missing key weight_hh_l1 \(keys found: "),
        (lambda a: a.update(weight_ih_l3=a["weight_ih_l1"]), r"numbered \[0, 1, 3\], expected 0 to 2"),
        (lambda a: a["weight_hh_l1"].__setitem__((3, 2), np.nan), "weight_hh_l1 holds NaN or Inf values"),
        (lambda a: a["bias_hh_l0"].__setitem__(0, np.inf), "bias_hh_l0 holds NaN or Inf values"),
    ],
)
def test_shapes_that_do_not_fit(tmp_path, rng, change, match):
    arrays = torch_rnn(rng, "lstm", E=5, H=6, L=2)
    change(arrays)
    path = write_st(tmp_path / "m.safetensors", arrays)
    with pytest.raises(ModelFileError, match=match) as exc:
        load_file(path)
    assert "\n" not in str(exc.value)


def test_embedding_and_head_that_do_not_fit(tmp_path, rng):
    arrays = torch_lm(rng, E=5, H=6)
    arrays["encoder.weight"] = arrays["encoder.weight"][:, :4]
    with pytest.raises(ModelFileError, match=r"encoder.weight has shape \[7, 4\], expected \[V, 5\]"):
        load_file(write_st(tmp_path / "e.safetensors", arrays, vocab=VOCAB))
    arrays = torch_lm(rng, E=5, H=6)
    arrays["decoder.weight"] = arrays["decoder.weight"][:, :5]
    with pytest.raises(ModelFileError, match=r"decoder.weight has shape \[7, 5\], expected \[V, 6\]"):
        load_file(write_st(tmp_path / "d.safetensors", arrays, vocab=VOCAB))
    arrays = torch_lm(rng)
    arrays["decoder.weight"][0, 0] = -np.inf
    with pytest.raises(ModelFileError, match="decoder.weight holds NaN or Inf"):
        load_file(write_st(tmp_path / "n.safetensors", arrays, vocab=VOCAB))
    arrays = torch_lm(rng)
    arrays["encoder.bias"] = np.zeros(5, np.float32)
    with pytest.raises(ModelFileError, match="encoder.weight comes with a bias, so it is a linear input layer"):
        load_file(write_st(tmp_path / "l.safetensors", arrays, vocab=VOCAB))


def test_nothing_matches_lists_the_keys(tmp_path, rng):
    arrays = {f"transformer.h.{k}.attn.weight": np.zeros((2, 2), np.float32) for k in range(30)}
    with pytest.raises(ModelFileError) as exc:
        load_file(write_st(tmp_path / "gpt.safetensors", arrays))
    msg = str(exc.value)
    assert "no recurrent weights found" in msg and "keys found: transformer.h." in msg and "(18 more)" in msg
    assert "\n" not in msg and len(msg) < 800


def test_hostile_key_names_are_shown_inert(tmp_path):
    path = write_st(tmp_path / "m.safetensors", {"\x1b[31mred\nline": np.zeros(2, np.float32)})
    with pytest.raises(ModelFileError) as exc:
        load_file(path)
    assert "\x1b" not in str(exc.value) and "\n" not in str(exc.value) and "\\x1b[31mred\\nline" in str(exc.value)


# --- malformed and hostile files -----------------------------------------------------


def test_missing_directory_empty(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_file(tmp_path / "none.safetensors")
    (tmp_path / "d.safetensors").mkdir()
    with pytest.raises(ModelFileError, match="is a directory"):
        load_file(tmp_path / "d.safetensors")
    for ext in ("safetensors", "npz", "pt"):
        (tmp_path / f"e.{ext}").write_bytes(b"")
        with pytest.raises(ModelFileError, match="is empty"):
            load_file(tmp_path / f"e.{ext}")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable(tmp_path, rng):
    path = write_st(tmp_path / "m.safetensors", torch_rnn(rng))
    path.chmod(0)
    with pytest.raises(ModelFileError, match="cannot read"):
        load_file(path)


def test_unknown_and_keras_native_extensions(tmp_path):
    for ext, match in ((".bin", "unknown file type '.bin'"), (".h5", "Keras .h5 files are not read directly"),
                       (".keras", "save the layers' get_weights.. as .npz")):
        path = tmp_path / f"m{ext}"
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
        with pytest.raises(ModelFileError, match=match):
            load_file(path)


def test_damaged_safetensors(tmp_path, rng):
    good = write_st(tmp_path / "good.safetensors", torch_rnn(rng)).read_bytes()
    cases = {
        "truncated": good[: len(good) - 7],
        "header cut": good[:30],
        "header bytes": good[:12] + b"\x00\xff" + good[14:],
        "huge header": (2**40).to_bytes(8, "little") + b"{}",
        "random": np.random.default_rng(0).bytes(500),
        "tiny": b"abc",
    }
    for what, data in cases.items():
        path = tmp_path / "bad.safetensors"
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match=r"bad.safetensors: not a valid safetensors file \(") as exc:
            load_file(path)
        assert "\n" not in str(exc.value), what


def test_damaged_npz(tmp_path, rng):
    good = write_npz(tmp_path / "good.npz", torch_rnn(rng)).read_bytes()
    cases = {
        "truncated": good[: len(good) // 2],
        "random": np.random.default_rng(1).bytes(500),
        "pickle": pickle.dumps({"weight_ih_l0": [1.0]}),
    }
    for what, data in cases.items():
        path = tmp_path / "bad.npz"
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match=r"bad.npz: not (a valid|an) .npz archive") as exc:
            load_file(path)
        assert "\n" not in str(exc.value), what
    # a member whose bytes were damaged: the CRC check catches it
    path = tmp_path / "crc.npz"
    with zipfile.ZipFile(tmp_path / "good.npz") as z:
        info = z.infolist()[0]
    data = bytearray(good)
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"crc.npz: not a valid .npz archive \(.*CRC"):
        load_file(path)


def test_npz_with_object_arrays_is_refused(tmp_path, rng):
    path = tmp_path / "obj.npz"
    np.savez(path, **torch_rnn(rng), vocab=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="obj.npz: vocab holds Python objects"):
        load_file(path)


def test_npy_with_an_npz_name(tmp_path):
    with open(tmp_path / "one.npz", "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(ModelFileError, match="holds a single .npy array"):
        load_file(tmp_path / "one.npz")


class _Payload:
    """A pickle that would create a directory when unpickled."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_pt_without_torch_explains_the_conversion(tmp_path, monkeypatch):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Payload(target)))
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails
    with pytest.raises(ModelFileError) as exc:
        load_file(path)
    assert 'safetensors.torch.save_file(model.state_dict(), "model.safetensors")' in str(exc.value)
    assert not target.exists()


def test_pt_payload_never_runs_with_torch(tmp_path):
    pytest.importorskip("torch")
    target = tmp_path / "pwned"
    for ext in (".pt", ".pth"):
        path = tmp_path / f"evil{ext}"
        path.write_bytes(pickle.dumps(_Payload(target)))
        with pytest.raises(ModelFileError, match=r"refused by torch.load\(weights_only=True\)") as exc:
            load_file(path)
        assert "\n" not in str(exc.value) and "\x1b" not in str(exc.value)
    assert not target.exists()
    (tmp_path / "rand.pt").write_bytes(np.random.default_rng(2).bytes(300))
    with pytest.raises(ModelFileError):
        load_file(tmp_path / "rand.pt")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=600), ext=st.sampled_from([".safetensors", ".npz"]))
def test_fuzz_random_bytes(tmp_path, data, ext):
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(data)
    with pytest.raises(ModelFileError):
        load_file(path)


@pytest.fixture(scope="module")
def good_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    rng = np.random.default_rng(5)
    arrays = torch_lm(rng, E=3, H=2, V=4)
    return {
        ".safetensors": write_st(folder / "m.safetensors", arrays, vocab=list("abcd")).read_bytes(),
        ".npz": write_npz(folder / "m.npz", arrays, vocab=list("abcd")).read_bytes(),
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ext=st.sampled_from([".safetensors", ".npz"]), cut=st.integers(1, 4000), pos=st.integers(0, 4000),
       byte=st.integers(0, 255))
def test_fuzz_damaged_files_load_or_fail_cleanly(tmp_path, good_files, ext, cut, pos, byte):
    data = bytearray(good_files[ext][: max(1, len(good_files[ext]) - cut % 64)] if cut % 3 == 0 else good_files[ext])
    data[pos % len(data)] = byte
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(bytes(data))
    try:
        model = load_file(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc)
    else:  # a damaged name or value can still make a model: it must be a whole, finite one
        arrays = [a for layer in model.layers for a in (layer.W_ih, layer.W_hh, layer.b_ih, layer.b_hh)]
        arrays += [a for a in (model.embedding, model.head_W, model.head_b) if a is not None]
        assert all(np.isfinite(a).all() for a in arrays)


# --- Keras ----------------------------------------------------------------------------


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def keras_lstm(x, kernel, recurrent_kernel, bias):
    """Keras's LSTMCell: z = x K + h R + b, blocks i, f, c, o."""
    H = recurrent_kernel.shape[0]
    h, c, out = np.zeros(H), np.zeros(H), []
    for xt in x:
        z = xt @ kernel + h @ recurrent_kernel + bias
        i, f = _sigmoid(z[:H]), _sigmoid(z[H : 2 * H])
        c = f * c + i * np.tanh(z[2 * H : 3 * H])
        o = _sigmoid(z[3 * H :])
        h = o * np.tanh(c)
        out.append(h)
    return np.array(out)


def keras_gru(x, kernel, recurrent_kernel, bias):
    """Keras's GRUCell with reset_after=True: blocks z, r, h; bias rows input, recurrent."""
    H = recurrent_kernel.shape[0]
    h, out = np.zeros(H), []
    for xt in x:
        mx = xt @ kernel + bias[0]
        mh = h @ recurrent_kernel + bias[1]
        z = _sigmoid(mx[:H] + mh[:H])
        r = _sigmoid(mx[H : 2 * H] + mh[H : 2 * H])
        hh = np.tanh(mx[2 * H :] + r * mh[2 * H :])
        h = z * h + (1 - z) * hh
        out.append(h)
    return np.array(out)


def keras_simple_rnn(x, kernel, recurrent_kernel, bias):
    h, out = np.zeros(recurrent_kernel.shape[0]), []
    for xt in x:
        h = np.tanh(xt @ kernel + bias + h @ recurrent_kernel)
        out.append(h)
    return np.array(out)


KERAS = {"lstm": (4, keras_lstm), "gru": (3, keras_gru), "rnn_tanh": (1, keras_simple_rnn)}


def keras_weights(rng, cell, E, H):
    G, _ = KERAS[cell]
    bias = rng.uniform(-0.5, 0.5, (2, 3 * H) if cell == "gru" else G * H)
    return rng.uniform(-0.5, 0.5, (E, G * H)), rng.uniform(-0.5, 0.5, (H, G * H)), bias


@pytest.mark.parametrize("cell", KERAS)
def test_keras_single_layer_matches_keras_equations(tmp_path, rng, cell):
    kernel, rec, bias = keras_weights(rng, cell, 4, 5)
    np.savez(tmp_path / "k.npz", kernel=kernel, recurrent_kernel=rec, bias=bias)
    model = load_file(tmp_path / "k.npz")
    assert model.cell == cell and model.dtype == np.float64 and model.meta["format"] == "keras"
    x = rng.standard_normal((11, 4))
    np.testing.assert_allclose(model.trace(x).states["h"][0], KERAS[cell][1](x, kernel, rec, bias), atol=1e-12)


def test_keras_gru_gates_are_reordered(tmp_path, rng):
    """PyTorch's r is Keras's second block, z its first: check the gates, not only h."""
    kernel, rec, bias = keras_weights(rng, "gru", 3, 4)
    np.savez(tmp_path / "k.npz", kernel=kernel, recurrent_kernel=rec, bias=bias)
    trace = load_file(tmp_path / "k.npz").trace(x := rng.standard_normal((2, 3)))
    H = 4
    z1 = _sigmoid(x[0] @ kernel[:, :H] + bias[0, :H] + bias[1, :H])
    r1 = _sigmoid(x[0] @ kernel[:, H : 2 * H] + bias[0, H : 2 * H] + bias[1, H : 2 * H])
    np.testing.assert_allclose(trace.states["z"][0, 0], z1, atol=1e-12)
    np.testing.assert_allclose(trace.states["r"][0, 0], r1, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_keras_language_model(tmp_path, rng, cell):
    """Embedding, two recurrent layers and a Dense head, saved as the load_file docstring says."""
    V, E, H = len(VOCAB), 4, 5
    w0, w1 = keras_weights(rng, cell, E, H), keras_weights(rng, cell, H, H)
    emb = rng.standard_normal((V, E))
    dense_k, dense_b = rng.uniform(-1, 1, (H, V)), rng.uniform(-1, 1, V)
    arrays = {"embedding/embeddings": emb}
    for k, w in enumerate((w0, w1)):
        arrays.update({f"layer{k}/{n}": a for n, a in zip(("kernel", "recurrent_kernel", "bias"), w)})
    arrays.update({"dense/kernel": dense_k, "dense/bias": dense_b})
    np.savez(tmp_path / "lm.npz", **arrays, vocab=np.array(VOCAB), tokenizer=np.array("char"))
    model = load_file(tmp_path / "lm.npz")
    assert model.num_layers == 2 and model.takes_tokens and model.vocab == tuple(VOCAB)
    text = "ab. cé a"
    trace = model.trace(text)
    x = emb[[VOCAB.index(c) for c in text]]
    h0 = KERAS[cell][1](x, *w0)
    h1 = KERAS[cell][1](h0, *w1)
    np.testing.assert_allclose(trace.states["h"][0], h0, atol=1e-12)
    np.testing.assert_allclose(trace.states["h"][1], h1, atol=1e-12)
    np.testing.assert_allclose(trace.y, softmax(h1 @ dense_k + dense_b), atol=1e-12)


def test_keras_weight_paths_in_saved_order(tmp_path, rng):
    """Names from w.path (Keras 3) or w.name (tf.keras, with :0): the layers in the order they were saved."""
    w0, w1 = keras_weights(rng, "lstm", 3, 5), keras_weights(rng, "lstm", 5, 5)
    arrays = {}
    for name, w in (("zeta/lstm_cell/", w0), ("alpha/lstm_cell/", w1)):
        arrays.update({f"{name}{n}:0": a for n, a in zip(("kernel", "recurrent_kernel", "bias"), w)})
    np.savez(tmp_path / "k.npz", **arrays)
    model = load_file(tmp_path / "k.npz")
    x = rng.standard_normal((6, 3))
    np.testing.assert_allclose(model.trace(x).states["h"][1], keras_lstm(keras_lstm(x, *w0), *w1), atol=1e-12)
    assert load_file(tmp_path / "k.npz", prefix="alpha").input_size == 5


def test_keras_without_bias(tmp_path, rng):
    kernel, rec, _ = keras_weights(rng, "lstm", 3, 4)
    np.savez(tmp_path / "k.npz", kernel=kernel, recurrent_kernel=rec)
    x = rng.standard_normal((5, 3))
    np.testing.assert_allclose(load_file(tmp_path / "k.npz").trace(x).states["h"][0],
                               keras_lstm(x, kernel, rec, np.zeros(16)), atol=1e-12)


def test_keras_refusals(tmp_path, rng):
    kernel, rec, bias = keras_weights(rng, "gru", 3, 4)
    np.savez(tmp_path / "g.npz", kernel=kernel, recurrent_kernel=rec, bias=bias[0])
    with pytest.raises(ModelFileError, match=r"g.npz: bias has shape \[12\]: a GRU with reset_after=False"):
        load_file(tmp_path / "g.npz")
    k, r, b = keras_weights(rng, "lstm", 3, 4)
    np.savez(tmp_path / "b.npz", **{"bidirectional/forward_lstm/kernel": k,
                                    "bidirectional/forward_lstm/recurrent_kernel": r,
                                    "bidirectional/backward_lstm/kernel": k,
                                    "bidirectional/backward_lstm/recurrent_kernel": r})
    with pytest.raises(ModelFileError, match="backward_lstm/kernel is the backward direction of a Bidirectional"):
        load_file(tmp_path / "b.npz")
    np.savez(tmp_path / "s.npz", **{"layer0/kernel": k, "layer0/recurrent_kernel": r,
                                    "layer1/kernel": k, "layer1/recurrent_kernel": r})
    with pytest.raises(ModelFileError, match=r"layer1/kernel has shape \[3, 16\], expected \[4, 16\] \(layer 1"):
        load_file(tmp_path / "s.npz")
    dense = {"d1/kernel": np.ones((4, 4)), "d2/kernel": np.ones((4, 2))}
    np.savez(tmp_path / "d.npz", kernel=k, recurrent_kernel=r, **dense)
    with pytest.raises(ModelFileError, match="several dense layers"):
        load_file(tmp_path / "d.npz")
    np.savez(tmp_path / "n.npz", kernel=k, recurrent_kernel=r, bias=np.full(16, np.nan))
    with pytest.raises(ModelFileError, match="n.npz: bias holds NaN or Inf values"):
        load_file(tmp_path / "n.npz")


# --- feature frames ---------------------------------------------------------------------


def test_load_frames(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(load_frames(tmp_path / "x.npy", 3), x)
    cases = {
        "wrong_e": (np.zeros((4, 2)), r"has shape \[4, 2\], expected \[T, 3\]"),
        "one_dim": (np.zeros(4), r"has shape \[4\], expected \[T, 3\]"),
        "nan": (np.array([[0, 0, 0], [0, np.nan, 0]]), r"NaN or Inf values \(first in frame 2\)"),
        "empty": (np.zeros((0, 3)), "has no frames"),
        "text": (np.array([["a", "b", "c"]]), "holds <U1 values"),
        "objects": (np.array([None, 1], dtype=object), "Python objects"),
    }
    for name, (a, match) in cases.items():
        np.save(tmp_path / f"{name}.npy", a, allow_pickle=True)
        with pytest.raises(InputError, match=match):
            load_frames(tmp_path / f"{name}.npy", 3)
    np.savez(tmp_path / "z.npz", x=x)
    with pytest.raises(InputError, match="is an .npz archive"):
        load_frames(tmp_path / "z.npz", 3)
    with pytest.raises(InputError, match="no such file"):
        load_frames(tmp_path / "none.npy", 3)
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputError, match="not a valid .npy"):
        load_frames(tmp_path / "bad.npy", 3)


# --- real PyTorch ----------------------------------------------------------------------


@pytest.fixture
def torch_char_lm():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class CharLM(torch.nn.Module):
        def __init__(self, kind):
            super().__init__()
            self.encoder = torch.nn.Embedding(len(VOCAB), 8)
            self.rnn = getattr(torch.nn, kind)(8, 12, num_layers=2, batch_first=True)
            self.decoder = torch.nn.Linear(12, len(VOCAB))

        def forward(self, ids):
            h, _ = self.rnn(self.encoder(ids))
            return h, torch.softmax(self.decoder(h), dim=-1)

    return torch, CharLM


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_real_torch_char_model_matches(tmp_path, torch_char_lm, kind):
    torch, CharLM = torch_char_lm
    from safetensors.torch import save_file as torch_save_file

    net = CharLM(kind).eval()
    text = "abc. éa cab.. bé"
    ids = torch.tensor([[VOCAB.index(c) for c in text]])
    with torch.no_grad():
        h, y = net(ids)
    torch_save_file(net.state_dict(), str(tmp_path / "m.safetensors"),
                    metadata={"vocab": json.dumps(VOCAB), "tokenizer": "char"})
    torch.save(net.state_dict(), tmp_path / "m.pt")
    torch.save({"model": net.state_dict(), "vocab": VOCAB, "epoch": 3}, tmp_path / "ckpt.pth")
    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB))
    for name, vocab in (("m.safetensors", None), ("m.pt", tmp_path / "vocab.json"), ("ckpt.pth", None)):
        model = load_file(tmp_path / name, vocab_path=vocab)
        trace = model.trace(text)
        np.testing.assert_allclose(trace.states["h"][1], h[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(trace.y, y[0].numpy(), atol=1e-6)


def test_real_torch_whole_model_pickle_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.Sequential(torch.nn.Embedding(4, 3), torch.nn.LSTM(3, 2)), tmp_path / "whole.pt")
    with pytest.raises(ModelFileError, match=r"whole.pt: refused by torch.load\(weights_only=True\)"):
        load_file(tmp_path / "whole.pt")
