"""PyTorch state dicts in safetensors, .npz and .pt: namings, prefixes, vocabularies, shapes that do not fit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file as load_arrays
from safetensors.numpy import save_file

from lstm_tui.core.cells import Bidirectional
from lstm_tui.core import Layer, Model, ModelFileError, softmax
from lstm_tui.core.errors import InputError
from lstm_tui.formats import load_file

from .util import VOCAB, WRITERS, assert_same_layers, expected_layers, torch_lm, torch_rnn, write_npz, write_st


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
    assert load_file(write_st(tmp_path / "o.safetensors", arrays, nonlinearity="relu")).cell == "rnn_relu"  # nn.RNN's


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
    bare = load_file(path)  # no vocabulary: the ids are the tokens, and a note says --vocab gives one
    assert bare.vocab == tuple(str(k) for k in range(7)) and bare.tokenizer == "word"
    assert any("no vocabulary" in n and "--vocab" in n for n in bare.notes)
    assert bare.trace(bare.meta["example"]).steps > 1 and not bare.trace("6 0 3").unknown.any()
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


@pytest.mark.parametrize(
    "vocab, words",
    [("[" + "9" * 5000 + "]", "a whole number of 5,000 digits, more than lstm-tui reads"),
     ("[" * 100_000, "arrays or objects nested too deeply")],
    ids=["5000 digits", "100000 ["],
)
def test_vocab_metadata_with_too_long_a_number_or_too_deep_is_refused_in_one_line(tmp_path, rng, vocab, words):
    """int() raises ValueError past 4,300 digits, deep nesting a RecursionError: not JSONDecodeErrors, they
    were internal errors."""
    path = tmp_path / "m.npz"
    np.savez(path, **torch_lm(rng), vocab=np.array(vocab))
    with pytest.raises(ModelFileError, match=rf"metadata 'vocab' is not a JSON list of token strings \({words}\)"):
        load_file(path)
    path = tmp_path / "m.safetensors"
    save_file(torch_lm(rng), str(path), metadata={"vocab": vocab})
    with pytest.raises(ModelFileError, match=rf"metadata 'vocab' is not a JSON list of token strings \({words}\)"):
        load_file(path)


@pytest.mark.parametrize("given", ["metadata", "--vocab", "none"])
def test_a_head_of_another_width_than_the_vocabulary_is_a_classifier(tmp_path, rng, given):
    """An embedding of the vocabulary's 7 tokens and a head of 5 outputs (a sentiment or tagging model):
    it opens, the outputs labelled by id, whether the vocabulary is in the file, given or absent (its ids)."""
    arrays = torch_lm(rng)
    arrays["decoder.weight"] = arrays["decoder.weight"][:5]
    arrays["decoder.bias"] = arrays["decoder.bias"][:5]
    path = write_st(tmp_path / "m.safetensors", arrays, **({"vocab": VOCAB} if given == "metadata" else {}))
    words = tmp_path / "vocab.txt"
    words.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    model = load_file(path, vocab_path=words if given == "--vocab" else None)
    assert "5 outputs" in model.meta["head_classes"] and model.trace(model.meta.get("example") or "ab").y.shape[1] == 5
    short = tmp_path / "short.txt"
    short.write_text("\n".join(VOCAB[:6]) + "\n", encoding="utf-8")
    with pytest.raises(ModelFileError, match="vocabulary has 6 tokens but encoder.weight has 7 rows"):
        load_file(path, vocab_path=short)  # a vocabulary that does not fit the embedding is still refused


def test_bad_tokenizer_metadata(tmp_path, rng):
    with pytest.raises(ModelFileError, match="metadata tokenizer 'bpe'"):
        load_file(write_st(tmp_path / "m.safetensors", torch_lm(rng), vocab=VOCAB, tokenizer="bpe"))


# --- refusals of a file that does not fit ------------------------------------------


def test_bidirectional_levels_from_reverse_keys(tmp_path, rng):
    """*_reverse keys make a Bidirectional level whose backward Layer reads from the end."""
    fwd, bwd = torch_rnn(rng, "gru", E=5, H=4, L=2, prefix="rnn."), torch_rnn(rng, "gru", E=5, H=4, L=2, prefix="rnn.")
    arrays = dict(fwd)
    arrays.update({f"{k}_reverse": v for k, v in bwd.items()})
    arrays["rnn.weight_ih_l1"] = rng.uniform(-0.5, 0.5, (12, 8)).astype(np.float32)  # takes 2H = 8
    arrays["rnn.weight_ih_l1_reverse"] = rng.uniform(-0.5, 0.5, (12, 8)).astype(np.float32)
    model = load_file(write_st(tmp_path / "m.safetensors", arrays))
    assert len(model.layers) == 2
    for k, level in enumerate(model.layers):
        assert isinstance(level, Bidirectional) and level.output_size == 8
        assert not level.forward.reverse and level.backward.reverse
        np.testing.assert_array_equal(level.forward.W_ih, arrays[f"rnn.weight_ih_l{k}"])
        np.testing.assert_array_equal(level.backward.W_ih, arrays[f"rnn.weight_ih_l{k}_reverse"])
        np.testing.assert_array_equal(level.backward.b_hh, arrays[f"rnn.bias_hh_l{k}_reverse"])
    with pytest.raises(ModelFileError, match=r"rnn.weight_ih_l1 has shape \[12, 4\], expected \[12, 8\] \(layer 1"):
        load_file(write_st(tmp_path / "n.safetensors", {**arrays, "rnn.weight_ih_l1": fwd["rnn.weight_ih_l1"]}))
    half = {k: v for k, v in arrays.items() if k != "rnn.weight_hh_l0_reverse"}
    with pytest.raises(ModelFileError, match=r"missing key rnn.weight_hh_l0_reverse"):
        load_file(write_st(tmp_path / "h.safetensors", half))
    wrong = {**arrays, "rnn.weight_hh_l0_reverse": np.zeros((12, 5), np.float32)}
    with pytest.raises(ModelFileError, match=r"rnn.weight_hh_l0_reverse has shape \[12, 5\], expected \[12, 4\]"):
        load_file(write_st(tmp_path / "w.safetensors", wrong))


def test_projection_builds_W_hr(tmp_path, rng):
    """weight_hr_l{k} (proj_size P): W_hh is (4H, P), the next level takes P, the head reads P."""
    H, P, E = 6, 3, 5
    arrays = {}
    for side in ("", "_reverse"):
        for k in range(2):
            arrays[f"weight_ih_l{k}{side}"] = rng.uniform(-0.5, 0.5, (4 * H, E if k == 0 else 2 * P)).astype(np.float32)
            arrays[f"weight_hh_l{k}{side}"] = rng.uniform(-0.5, 0.5, (4 * H, P)).astype(np.float32)
            arrays[f"bias_ih_l{k}{side}"] = rng.uniform(-0.5, 0.5, 4 * H).astype(np.float32)
            arrays[f"weight_hr_l{k}{side}"] = rng.uniform(-0.5, 0.5, (P, H)).astype(np.float32)
    model = load_file(write_st(tmp_path / "m.safetensors", arrays))
    for k, level in enumerate(model.layers):
        for layer, side in zip(level.directions, ("", "_reverse")):
            assert layer.cell == "lstm" and layer.hidden_size == H and layer.output_size == P
            np.testing.assert_array_equal(layer.W_hr, arrays[f"weight_hr_l{k}{side}"])
            assert not layer.b_hh.any()
    one = {k: v for k, v in arrays.items() if k.endswith("_l0")}
    model = load_file(write_st(tmp_path / "one.safetensors", one))
    assert isinstance(model.layers[0], Layer) and model.layers[0].W_hr.shape == (P, H)
    for change, match in (
        ({"weight_hr_l0": np.zeros((3, 5), np.float32)}, r"weight_hh_l0 has shape \[24, 3\], expected \[4\*5, 3\]"),
        ({"weight_hr_l0": np.zeros((6, 6), np.float32)}, r"weight_hr_l0 has shape \[6, 6\], expected \[P, H\] with P < H"),
    ):
        with pytest.raises(ModelFileError, match=match):
            load_file(write_st(tmp_path / "bad.safetensors", {**one, **change}))
    gru = torch_rnn(rng, "gru", H=6)
    gru["weight_hr_l0"] = np.zeros((3, 6), np.float32)
    gru["weight_hh_l0"] = np.zeros((18, 3), np.float32)
    with pytest.raises(ModelFileError, match=r"weight_hr_l0: a projection \(proj_size\) belongs to an LSTM"):
        load_file(write_st(tmp_path / "g.safetensors", gru))
    no_twin = {**arrays}
    del no_twin["weight_hr_l1_reverse"]
    with pytest.raises(ModelFileError, match="weight_hr_l1 has no counterpart in the other direction"):
        load_file(write_st(tmp_path / "t.safetensors", no_twin))


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
    with pytest.raises(ModelFileError, match=r"whole.pt: holds a whole pickled object \(torch.nn.modules.container"):
        load_file(tmp_path / "whole.pt")


# --- PyTorch's own numbers: bidirectional and projected modules (scripts/make_torch_fixtures.py) -----------

TORCH_DATA = Path(__file__).parent.parent / "data" / "torch"
TORCH_NAMES = sorted(p.stem for p in TORCH_DATA.glob("*.safetensors"))


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_torch_fixtures_load_and_match(name):
    """The files hold the state dict beside x, h0, expected.* and grad.* (another 'module' under grad.),
    so --prefix '' picks the module; the cell comes from the metadata (cell = rnn_relu)."""
    path = TORCH_DATA / f"{name}.safetensors"
    with pytest.raises(ModelFileError, match=r"several recurrent modules \(.*'' \(the top level\)"):
        load_file(path)
    model = load_file(path, prefix="")
    arrays = load_arrays(str(path))
    L = sum(1 for k in arrays if k.startswith("expected.h_l"))
    assert model.num_layers == L and model.meta["format"] == "pytorch"
    for k, level in enumerate(model.layers):
        for layer, side in zip(level.directions if isinstance(level, Bidirectional) else (level,), ("", "_reverse")):
            assert layer.reverse == (side == "_reverse")
            np.testing.assert_array_equal(layer.W_hh, arrays[f"weight_hh_l{k}{side}"])
            if f"weight_hr_l{k}{side}" in arrays:
                np.testing.assert_array_equal(layer.W_hr, arrays[f"weight_hr_l{k}{side}"])
            else:
                assert layer.W_hr is None

    def per_level(rows):  # PyTorch's (L*D, W) rows as one vector per level, forward first
        D = rows.shape[0] // L
        return [rows[k * D : (k + 1) * D].reshape(-1) for k in range(L)]

    c0 = per_level(arrays["c0"]) if "c0" in arrays else None
    trace = model.trace(arrays["x"], h0=per_level(arrays["h0"]), c0=c0)
    for k in range(L):
        want = arrays[f"expected.h_l{k}"]
        np.testing.assert_allclose(np.asarray(trace.states["h"][k]), want, atol=1e-5, rtol=0)


def test_bidirectional_language_model_head_reads_both_directions(tmp_path, rng):
    """A head after a bidirectional module is (V, 2H): found by name and checked against the level's width."""
    arrays = torch_lm(rng, "lstm", E=5, H=6, L=1)
    for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        arrays[f"rnn.{k}_reverse"] = rng.uniform(-0.5, 0.5, arrays[f"rnn.{k}"].shape).astype(np.float32)
    arrays["decoder.weight"] = rng.uniform(-0.5, 0.5, (len(VOCAB), 12)).astype(np.float32)
    model = load_file(write_st(tmp_path / "m.safetensors", arrays, vocab=VOCAB))
    assert isinstance(model.layers[0], Bidirectional) and model.head_W.shape == (len(VOCAB), 12)
    trace = model.trace("abc.")
    np.testing.assert_allclose(trace.logits, np.asarray(trace.states["h"][0]) @ arrays["decoder.weight"].T
                               + arrays["decoder.bias"], rtol=1e-5, atol=1e-6)
    arrays["decoder.weight"] = arrays["decoder.weight"][:, :6]
    with pytest.raises(ModelFileError, match=r"decoder.weight has shape \[7, 6\], expected \[V, 12\]"):
        load_file(write_st(tmp_path / "n.safetensors", arrays, vocab=VOCAB))


@pytest.mark.parametrize("fmt", WRITERS)
@pytest.mark.parametrize("level", [0, 1])
def test_a_reverse_direction_without_its_forward_one_is_refused(tmp_path, rng, fmt, level):
    """Level ``level`` holds only ``*_l{level}_reverse`` keys: refused by name, never a crash (no level at all)
    or a level dropped without a word (the levels under it load)."""
    arrays = torch_rnn(rng, "lstm", L=2)
    arrays = {(k + "_reverse" if k.endswith(f"_l{level}") else k): a for k, a in arrays.items()}
    path = WRITERS[fmt](tmp_path / f"m.{fmt}", arrays)
    with pytest.raises(ModelFileError, match=rf"weight_ih_l{level}_reverse has no forward direction \(weight_ih_l{level}\)"):
        load_file(path)


@pytest.mark.parametrize("dtype", ["F8_E4M3", "F8_E5M2", "F6_E2M3", "F4"])
def test_small_float_safetensors_are_refused_by_name(tmp_path, dtype):
    """NumPy has no 8-bit (or smaller) floats: one line naming the array and its dtype, not a crash
    inside safetensors."""
    shapes = {"weight_ih_l0": [8, 3], "weight_hh_l0": [8, 2]}
    bits = int(dtype[1])  # F8_E4M3: 8 bits a value, F4: 4 (two to a byte)
    header, at = {}, 0
    for key, shape in shapes.items():
        size = shape[0] * shape[1] * bits // 8
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + size]}
        at += size
    text = json.dumps(header).encode()
    path = tmp_path / "small.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text + bytes(range(at)))
    with pytest.raises(ModelFileError, match=rf"weight_.h_l0 holds {dtype} values, which NumPy cannot read"):
        load_file(path)


def test_arrays_it_does_not_read_are_named_in_a_note(tmp_path, rng):
    """A head with hidden layers (fc1, ReLU, fc2 in code) has no head lstm-tui reads: it opens without one,
    and a note names the arrays left unread and where the activations are; a file read whole has no note."""
    arrays = torch_lm(rng, names=("embedding", "lstm", "fc1"))
    arrays["fc2.weight"] = rng.standard_normal((3, len(VOCAB))).astype(np.float32)
    model = load_file(write_st(tmp_path / "m.safetensors", arrays, vocab=VOCAB))
    assert model.head_W is None
    (note,) = [n for n in model.meta["notes"] if "not read" in n]
    assert note.startswith("3 arrays are not read: fc1.bias, fc1.weight, fc2.weight") and "--head-activations" in note
    whole = load_file(write_st(tmp_path / "w.safetensors", torch_lm(rng, names=("embedding", "lstm", "fc")), vocab=VOCAB))
    assert not any("not read" in n for n in whole.meta.get("notes", []))


TORCH_MODELS = Path(__file__).parent.parent / "data" / "torch_models"


@pytest.mark.parametrize("name", sorted(p.stem for p in TORCH_MODELS.glob("*.npz")))
def test_whole_pytorch_models_give_pytorchs_numbers(name):
    """Models as PyTorch's users write them (scripts/make_torch_model_fixtures.py): the tutorial's tagger, a
    sentiment LSTM with fc1, ReLU, fc2 to one logit, a GRU whose head is nn.Sequential(Linear, Tanh, Linear,
    LeakyReLU(0.2), Linear), classifiers that pool the steps (out.max(1), out.mean(1)): with --head-activations
    for those whose head has hidden layers and --head-pool for those that pool, every position's output is
    PyTorch's (log-softmax of the tags, or the sigmoid of one logit; a pooled model's for the input so far)."""
    ref = np.load(TORCH_MODELS / f"{name}.npz")
    acts, pool = str(ref["activations"]) or None, str(ref["pool"]) or None
    model = load_file(TORCH_MODELS / f"{name}.safetensors", head_activations=acts, head_pool=pool)
    assert len(model.head_hidden) == (0 if acts is None else len(acts.split(",")))
    assert model.head_pool == (pool or "")
    trace = model.trace([model.vocab[i] for i in ref["ids"]])
    got = trace.y if ref["out"].shape[1] == 1 else np.log(trace.y)
    np.testing.assert_allclose(got, ref["out"], atol=1e-5)
    if acts is not None:  # without them: no head, and a note that says how to give them
        bare = load_file(TORCH_MODELS / f"{name}.safetensors")
        assert bare.head_W is None and any("--head-activations" in n for n in bare.meta["notes"])


def test_head_activations_refused_in_one_line(tmp_path):
    sentiment = TORCH_MODELS / "lstm_sentiment.safetensors"
    for acts, words in (("relu,tanh", "gives 2 activations, one for each hidden layer of the head, but the layers "
                                      "reading the last layer's 6 values chain as fc1.weight -> fc2.weight: 1 hidden"),
                        ("gelu", "unknown activation 'gelu'"), ("relu=2", "relu takes no parameter"),
                        ("leaky_relu=x", "the parameter is not a finite number"), ("elu=", "not a finite number"),
                        ("elu=nan", "not a finite number"),
                        ("elu=" + "9" * 5000, "'elu=" + "9" * 33 + "...': the parameter is not")):
        with pytest.raises((ModelFileError, InputError), match=re.escape(words)):
            load_file(sentiment, head_activations=acts)
    with pytest.raises(ModelFileError, match="chain as hidden2tag.weight: 0 hidden layers"):
        load_file(TORCH_MODELS / "lstm_tagger.safetensors", head_activations="relu")
    with pytest.raises(ModelFileError, match=r"this is not one \(keras reads it, which takes none\)"):
        load_file(Path(__file__).parent.parent / "data" / "keras" / "lstm_deep_head.keras", head_activations="relu")
    with pytest.raises(ModelFileError, match=r"--head-pool gives the pool a PyTorch state dict does not keep; this is "
                                             r"not one \(keras reads it"):
        load_file(Path(__file__).parent.parent / "data" / "keras" / "lstm_deep_head.keras", head_pool="max")
    with pytest.raises(ModelFileError, match=r"--head-pool 'median': expected one of max, mean"):
        load_file(sentiment, head_activations="relu", head_pool="median")
    with pytest.raises(ModelFileError, match=r"--head-pool pools the steps for the head, and lstm-tui found no head "
                                             r"in the file .*: its layers chain as a head with hidden layers "
                                             r"\(fc1.weight -> fc2.weight\): give their activations with "
                                             r"--head-activations"):
        load_file(sentiment, head_pool="mean")  # without --head-activations, fc1 and fc2 make no head
    bidi = load_file(TORCH_MODELS / "gru_sequential_head.safetensors", head_activations="tanh,leaky_relu=0.2",
                     head_pool="max")  # a pool over a backward direction: only the last step is the model's
    assert any(n.startswith("--head-pool: the model's output is the head on the max of every position's h")
               for n in bidi.notes)


def test_an_embedding_and_a_head_named_otherwise_are_found_by_shape(tmp_path, rng):
    """PyTorch's LSTM tagger tutorial names them word_embeddings and hidden2tag: found by their shapes (a table
    named as one, the one layer reading the last layer's h), with a note, and the numbers are PyTorch's
    (tests/data/torch_models, scripts/make_torch_model_fixtures.py). A layer whose output another reads is a
    hidden layer, not the head: none is taken, and the note names the arrays left unread."""
    model = load_file(TORCH_MODELS / "lstm_tagger.safetensors")
    assert "word_embeddings.weight" in model.meta["notes"][0] and "hidden2tag.weight" in model.meta["notes"][0]
    arrays = torch_lm(rng, names=("embedding", "lstm", "fc1"))
    arrays["fc2.weight"] = rng.standard_normal((3, len(VOCAB))).astype(np.float32)
    assert load_file(write_st(tmp_path / "m.safetensors", arrays, vocab=VOCAB)).head_W is None
    frames = torch_rnn(rng, "lstm", 4, 4, 1, prefix="rnn.")
    frames["proj.weight"] = rng.standard_normal((4, 4)).astype(np.float32)  # no bias, not named as a table
    assert load_file(write_st(tmp_path / "f.safetensors", frames)).embedding is None


def test_a_hidden_layer_as_wide_as_h_does_not_make_the_next_one_the_head(tmp_path, rng):
    """fc1 (H -> H), fc2 (H -> 5): fc2 also reads H values, but it reads fc1's output; neither is the head."""
    arrays = torch_rnn(rng, "lstm", 3, 8, 1, prefix="lstm.")
    for name, shape in (("fc1", (8, 8)), ("fc2", (5, 8))):
        arrays[f"{name}.weight"] = rng.standard_normal(shape).astype(np.float32)
        arrays[f"{name}.bias"] = rng.standard_normal(shape[0]).astype(np.float32)
    model = load_file(write_st(tmp_path / "m.safetensors", arrays))
    assert model.head_W is None and any("fc1.weight" in n and "fc2.weight" in n for n in model.meta["notes"])



def _head_layers(arrays: dict, rng, layers: dict) -> dict:
    """``arrays`` with Linear layers name -> (out, in) (weight and bias) beside the recurrent module."""
    for name, shape in layers.items():
        arrays[f"{name}.weight"] = rng.standard_normal(shape).astype(np.float32)
        if len(shape) == 2:
            arrays[f"{name}.bias"] = rng.standard_normal(shape[0]).astype(np.float32)
    return arrays


def test_the_head_chain_takes_as_many_layers_as_activations_and_no_other_module(tmp_path, rng):
    """A next-frame predictor: input_proj (3 -> 4), an LSTM of 6, fc1 (6 -> 5), ReLU, fc2 (5 -> 3). input_proj
    reads fc2's width too, but with one activation the chain is fc1 -> fc2: the logits are fc2(relu(fc1 h))."""
    arrays = _head_layers(torch_rnn(rng, "lstm", 4, 6, 1, prefix="lstm."), rng,
                          {"input_proj": (4, 3), "fc1": (5, 6), "fc2": (3, 5)})
    model = load_file(write_st(tmp_path / "m.safetensors", arrays), head_activations="relu")
    h = model.trace(rng.standard_normal((5, 4)).astype(np.float32)).states["h"][-1]
    hidden = np.maximum(h @ arrays["fc1.weight"].T + arrays["fc1.bias"], 0)
    np.testing.assert_allclose(model.logits_of(h), hidden @ arrays["fc2.weight"].T + arrays["fc2.bias"], rtol=1e-5)
    assert any("input_proj.weight" in n for n in model.meta["notes"])


def test_layers_of_one_sequential_chain_by_their_numbers_and_none_is_skipped(tmp_path, rng):
    """nn.Sequential(Linear(6, 6), ReLU, Linear(6, 3)): both read 6 values; head.0 comes first by its number.
    With a LayerNorm at head.1 the chain would pass over it: refused, naming it."""
    base = torch_rnn(rng, "gru", 4, 6, 1, prefix="gru.")
    arrays = _head_layers(dict(base), rng, {"head.0": (6, 6), "head.2": (3, 6)})
    model = load_file(write_st(tmp_path / "m.safetensors", arrays), head_activations="relu")
    assert model.meta["head"] == "head.2.weight" and model.head_hidden[0].W.shape == (6, 6)
    normed = _head_layers(dict(arrays), rng, {"head.1": (6,)})
    with pytest.raises(ModelFileError, match=r"head\.1\.(bias|weight) sits among the head's layers"):
        load_file(write_st(tmp_path / "n.safetensors", normed), head_activations="relu")


def test_a_head_named_fc_whose_output_another_layer_reads_is_a_hidden_layer(tmp_path, rng):
    """fc (6 -> 7) then out (7 -> 3): fc is named as a head, but out reads it: no head is taken (the note names
    them); with --head-activations the chain is fc -> out."""
    arrays = _head_layers(torch_rnn(rng, "lstm", 4, 6, 1, prefix="lstm."), rng, {"fc": (7, 6), "out": (3, 7)})
    path = write_st(tmp_path / "m.safetensors", arrays)
    bare = load_file(path)
    assert bare.head_W is None and any("fc.weight" in n and "out.weight" in n for n in bare.meta["notes"])
    assert load_file(path, head_activations="tanh").meta["head"] == "out.weight"


def test_a_bar_of_nan_is_no_bar():
    from lstm_tui.render.text import bar

    assert bar(float("nan"), 10) == "" and bar(0.5, 4) == "██"



def test_head_activations_are_pytorchs_and_the_chain_is_said(tmp_path, rng):
    """hardsigmoid is PyTorch's relu6(x + 3) / 6 and leaky_relu's slope 0.01 by default; the note names the
    chain taken. Too few activations for a chain that goes on (fc1, fc2, fc3 with one) is refused, naming the
    layer that reads on; an input projection that reads the head's width is not part of the head."""
    from lstm_tui.formats.torch_head import parse_activations

    assert parse_activations("hardsigmoid,leaky_relu,elu") == [("HardSigmoid", 1 / 6, 0.5), ("LeakyRelu", 0.01, 0.0),
                                                               ("Elu", 1.0, 0.0)]
    arrays = _head_layers(torch_rnn(rng, "lstm", 4, 6, 1, prefix="lstm."), rng,
                          {"fc1": (8, 6), "fc2": (8, 8), "fc3": (3, 8)})
    path = write_st(tmp_path / "m.safetensors", arrays)
    with pytest.raises(ModelFileError, match="gives 1 activations, but fc3.weight reads the output of fc2.weight"):
        load_file(path, head_activations="relu")
    model = load_file(path, head_activations="relu,tanh")
    assert "chained by their shapes: fc1.weight -> Relu -> fc2.weight -> Tanh -> fc3.weight" in model.meta["notes"][0]
    arrays = _head_layers(torch_rnn(rng, "lstm", 4, 6, 1, prefix="lstm."), rng, {"input_proj": (4, 3), "fc": (3, 6)})
    model = load_file(write_st(tmp_path / "p.safetensors", arrays))
    assert model.meta["head"] == "fc.weight"  # input_proj reads fc's 3 values but gives the LSTM's 4: input side


def test_a_head_by_name_beside_other_readers_of_h_says_so_and_no_positional_table_is_an_embedding(tmp_path, rng):
    arrays = _head_layers(torch_rnn(rng, "lstm", 4, 6, 1, prefix="lstm."), rng, {"fc": (3, 6), "attn": (1, 6)})
    model = load_file(write_st(tmp_path / "m.safetensors", arrays))
    assert model.meta["head"] == "fc.weight"
    assert any("by its name, though attn.weight also reads the last layer's 6 values" in n for n in model.meta["notes"])
    frames = torch_rnn(rng, "lstm", 4, 6, 1, prefix="lstm.")
    frames["pos_emb.weight"] = rng.standard_normal((50, 4)).astype(np.float32)  # positions, not tokens
    assert load_file(write_st(tmp_path / "f.safetensors", frames)).embedding is None


def test_a_head_on_a_bidirectional_layer_says_what_it_is_applied_to():
    """A state dict cannot say whether its head reads each position or the final states (torch.cat((h_n[-2],
    h_n[-1]), 1), PyTorch's usual bidirectional classifier): the note says which lstm-tui computes."""
    bidi = load_file(TORCH_MODELS / "gru_sequential_head.safetensors", head_activations="tanh,leaky_relu=0.2")
    assert any("lstm-tui applies it at every position" in n and "torch.cat((h_n[-2], h_n[-1]), 1)" in n
               for n in bidi.notes)
    forward = load_file(TORCH_MODELS / "lstm_tagger.safetensors")
    assert not any("h_n[-2]" in n for n in forward.notes)
