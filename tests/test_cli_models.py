"""--model PATH, --prefix, --vocab and --inputs through main(argv), without starting the app."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from lstm_tui.cli import main
from lstm_tui.core import GATES
from lstm_tui.formats import load_file

VOCAB = ["a", "b", "c", " ", ".", "<unk>"]


def rnn_arrays(rng, cell="lstm", E=5, H=4, L=1, prefix="") -> dict:
    G = GATES[cell]
    out = {}
    for k in range(L):
        out[f"{prefix}weight_ih_l{k}"] = rng.uniform(-1, 1, (G * H, E if k == 0 else H)).astype(np.float32)
        out[f"{prefix}weight_hh_l{k}"] = rng.uniform(-1, 1, (G * H, H)).astype(np.float32)
        out[f"{prefix}bias_ih_l{k}"] = rng.uniform(-1, 1, G * H).astype(np.float32)
        out[f"{prefix}bias_hh_l{k}"] = rng.uniform(-1, 1, G * H).astype(np.float32)
    return out


def lm_arrays(rng, cell="lstm", E=5, H=4, L=2) -> dict:
    out = rnn_arrays(rng, cell, E, H, L, prefix="rnn.")
    out["encoder.weight"] = rng.standard_normal((len(VOCAB), E)).astype(np.float32)
    out["decoder.weight"] = rng.uniform(-1, 1, (len(VOCAB), H)).astype(np.float32)
    out["decoder.bias"] = rng.uniform(-1, 1, len(VOCAB)).astype(np.float32)
    return out


@pytest.fixture
def lm_file(tmp_path, rng) -> Path:
    path = tmp_path / "lm.safetensors"
    save_file(lm_arrays(rng), str(path), metadata={"vocab": json.dumps(VOCAB), "tokenizer": "char"})
    return path


@pytest.fixture
def bare_file(tmp_path, rng) -> Path:
    path = tmp_path / "bare.npz"
    np.savez(path, **rnn_arrays(rng, "gru", E=3, H=4, L=2))
    return path


def run_error(argv: list[str], capsys) -> str:
    """Run main, expecting exit code 2 and one line on stderr; returns it."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstm-tui: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_help_lists_the_model_options(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = capsys.readouterr().out
    for opt in ("--model NAME|PATH", "--prefix", "--vocab FILE", "--inputs FRAMES.npy"):
        assert opt in out


def test_export_a_model_file(tmp_path, lm_file):
    out = tmp_path / "t.npz"
    assert main(["export", "--model", str(lm_file), "--text", "abc. ab", "-o", str(out)]) == 0
    data = np.load(out)
    want = load_file(lm_file).trace("abc. ab")
    assert data["h"].shape == (2, 7, 4)
    for q in "ifgoch":
        np.testing.assert_array_equal(data[q], want.states[q])
    np.testing.assert_array_equal(data["y"], want.y)
    assert data["tokens"].tolist() == list("abc. ab")


def test_export_frames(tmp_path, bare_file, rng):
    frames = rng.standard_normal((9, 3))
    np.save(tmp_path / "x.npy", frames)
    out = tmp_path / "t.npz"
    assert main(["export", "--model", str(bare_file), "--inputs", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    data = np.load(out)
    np.testing.assert_allclose(data["x"], frames.astype(np.float32))
    assert data["h"].shape == (2, 9, 4) and "y" not in data and "ids" not in data
    assert data["tokens"].tolist() == [str(k) for k in range(1, 10)]
    np.testing.assert_array_equal(data["h"], load_file(bare_file).trace(frames).states["h"])


def test_frames_into_a_language_model(tmp_path, lm_file, rng):
    np.save(tmp_path / "x.npy", rng.standard_normal((4, 5)))
    out = tmp_path / "t.npz"
    assert main(["export", "--model", str(lm_file), "--inputs", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    assert np.load(out)["y"].shape == (4, len(VOCAB))


def test_prefix_and_vocab(tmp_path, rng, capsys):
    arrays = {**rnn_arrays(rng, "lstm", prefix="encoder.lstm."), **rnn_arrays(rng, "rnn_tanh", prefix="decoder.rnn.")}
    arrays["encoder.embedding.weight"] = rng.standard_normal((len(VOCAB), 5)).astype(np.float32)
    path = tmp_path / "two.safetensors"
    save_file(arrays, str(path))
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    out = tmp_path / "t.npz"
    err = run_error(["export", "--model", str(path), "-o", str(out)], capsys)
    assert "several recurrent modules ('decoder.rnn', 'encoder.lstm'): choose one with --prefix" in err
    ids = tmp_path / "ids.npz"
    assert main(["export", "--model", str(path), "--prefix", "encoder.lstm", "--text", "5 0", "-o", str(ids)]) == 0
    assert "no vocabulary: tokens are the ids 0 to 5" in capsys.readouterr().err  # said as a note
    assert np.load(ids)["ids"].tolist() == [5, 0]
    argv = ["export", "--model", str(path), "--prefix", "encoder.lstm", "--vocab", str(vocab), "--text", "ab", "-o"]
    assert main([*argv, str(out)]) == 0
    assert np.load(out)["c"].shape == (1, 2, 4)
    assert main(["export", "--model", str(path), "--prefix", "decoder.rnn", "--inputs", str(_frames(tmp_path, 5)),
                 "-o", str(tmp_path / "d.npz")]) == 0
    assert set(np.load(tmp_path / "d.npz").files) >= {"h", "x"} and "c" not in np.load(tmp_path / "d.npz").files


def _frames(folder: Path, E: int) -> Path:
    np.save(folder / "frames.npy", np.ones((3, E)))
    return folder / "frames.npy"


def test_keras_npz_through_the_cli(tmp_path, rng):
    H, E = 4, 3
    np.savez(tmp_path / "k.npz", **{"layer0/kernel": rng.uniform(-1, 1, (E, 3 * H)),
                                    "layer0/recurrent_kernel": rng.uniform(-1, 1, (H, 3 * H)),
                                    "layer0/bias": rng.uniform(-1, 1, (2, 3 * H))})
    out = tmp_path / "t.npz"
    argv = ["export", "--model", str(tmp_path / "k.npz"), "--inputs", str(_frames(tmp_path, E)), "-o", str(out)]
    assert main(argv) == 0
    assert np.load(out)["r"].shape == (1, 3, H)


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    (tmp_path / name).write_bytes(data)
    return str(tmp_path / name)


class _Payload:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        import os

        return (os.mkdir, (self.target,))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda t, r: str(t / "none.safetensors"), "none.safetensors: no such file"),
        (lambda t, r: str(t), "is a directory"),
        (lambda t, r: _write(t, "e.safetensors", b""), "e.safetensors: is empty"),
        (lambda t, r: _write(t, "r.safetensors", r.bytes(300)), "r.safetensors: not a valid safetensors file"),
        (lambda t, r: _write(t, "r.npz", r.bytes(300)), "r.npz: not"),
        (lambda t, r: _write(t, "evil.pt", pickle.dumps(_Payload(str(t / "pwned")))), "evil.pt: "),
        (lambda t, r: _write(t, "m.h5", b"\x89HDF\r\n\x1a\n"), "m.h5: it is not a valid HDF5 file"),
        (lambda t, r: _write(t, "weights.bin", b"xx"), "unknown file type '.bin'"),
    ],
)
def test_bad_model_files_are_one_line_errors(tmp_path, capsys, make, match):
    rng = np.random.default_rng(3)
    spec = make(tmp_path, rng)
    err = run_error(["export", "--model", spec, "-o", str(tmp_path / "t.npz")], capsys)
    assert match in err
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "t.npz").exists()


def test_nan_weights_refused(tmp_path, rng, capsys):
    arrays = lm_arrays(rng)
    arrays["rnn.weight_hh_l1"][0, 0] = np.nan
    save_file(arrays, str(tmp_path / "nan.safetensors"), metadata={"vocab": json.dumps(VOCAB)})
    err = run_error(["export", "--model", str(tmp_path / "nan.safetensors"), "-o", str(tmp_path / "t.npz")], capsys)
    assert "nan.safetensors: rnn.weight_hh_l1 holds NaN or Inf values" in err


def test_wrong_shape_names_key_and_shapes(tmp_path, rng, capsys):
    arrays = lm_arrays(rng)
    arrays["rnn.weight_ih_l1"] = np.zeros((16, 3), np.float32)
    save_file(arrays, str(tmp_path / "s.safetensors"), metadata={"vocab": json.dumps(VOCAB)})
    err = run_error(["export", "--model", str(tmp_path / "s.safetensors"), "-o", str(tmp_path / "t.npz")], capsys)
    assert "s.safetensors: rnn.weight_ih_l1 has shape [16, 3], expected [16, 4]" in err


@pytest.mark.parametrize(
    "frames, match",
    [
        (np.zeros((5, 2)), "has shape [5, 2], expected [T, 3] (the model's input size)"),
        (np.zeros(5), "has shape [5], expected [T, 3]"),
        (np.zeros((2, 5, 3)), "has shape [2, 5, 3], expected [T, 3]"),
        (np.array([[0.0, np.nan, 0.0]]), "holds NaN or Inf values (first in frame 1)"),
        (np.array([[0.0, 1e300, 0.0]]), "input frames hold values too large for float32"),  # finite in float64
        (np.zeros((0, 3)), "has no frames"),
        (np.array([[1 + 1j, 0, 0]]), "holds complex128 values"),
    ],
)
def test_bad_frames(tmp_path, bare_file, capsys, frames, match):
    np.save(tmp_path / "x.npy", frames)
    argv = ["export", "--model", str(bare_file), "--inputs", str(tmp_path / "x.npy"), "-o", str(tmp_path / "t.npz")]
    assert match in run_error(argv, capsys)


def test_frames_file_problems(tmp_path, bare_file, capsys):
    out = ["-o", str(tmp_path / "t.npz")]
    err = run_error(["export", "--model", str(bare_file), "--inputs", str(tmp_path / "no.npy"), *out], capsys)
    assert "no.npy: no such file" in err
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    err = run_error(["export", "--model", str(bare_file), "--inputs", str(tmp_path / "o.npy"), *out], capsys)
    assert "Python objects" in err
    frames = _frames(tmp_path, 3)
    err = run_error(["export", "--model", str(bare_file), "--inputs", str(frames), "--text", "ab", *out], capsys)
    assert "give --text (or --text-file) or --inputs, not both" in err


def test_model_without_embedding_needs_inputs(tmp_path, bare_file, capsys):
    err = run_error(["export", "--model", str(bare_file), "-o", str(tmp_path / "t.npz")], capsys)
    assert "has no embedding and vocabulary" in err and "--inputs FRAMES.npy, a float array [T, 3]" in err
    # the same check runs before the app would start
    assert "--inputs FRAMES.npy" in run_error(["--model", str(bare_file)], capsys)


def test_prefix_and_vocab_need_a_file(tmp_path, capsys):
    err = run_error(["export", "--prefix", "rnn", "-o", str(tmp_path / "t.npz")], capsys)
    assert "--prefix, --vocab, --head-activations and --head-pool apply to a weights file" in err
    err = run_error(["export", "--head-pool", "max", "-o", str(tmp_path / "t.npz")], capsys)
    assert "--head-pool apply to a weights file given with --model PATH" in err


def test_head_pool_through_the_cli(tmp_path, capsys):
    """--head-pool reaches the PyTorch reader: the exported y at the last step is PyTorch's output for the
    whole input (tests/data/torch_models/lstm_max_pool, scripts/make_torch_model_fixtures.py)."""
    import numpy as np

    data = Path(__file__).parent / "data" / "torch_models"
    ref = np.load(data / "lstm_max_pool.npz")
    text = " ".join(str(i) for i in ref["ids"])
    out = tmp_path / "t.npz"
    main(["export", "--model", str(data / "lstm_max_pool.safetensors"), "--head-pool", "max", "--text", text,
          "-o", str(out)])
    np.testing.assert_allclose(np.log(np.load(out)["y"]), ref["out"], atol=1e-5)
    with pytest.raises(SystemExit) as exc:
        main(["export", "--model", str(data / "lstm_max_pool.safetensors"), "--head-pool", "min", "-o", str(out)])
    assert exc.value.code == 2 and "argument --head-pool: invalid choice: 'min'" in capsys.readouterr().err


def test_real_torch_model_through_the_cli(tmp_path):
    """A PyTorch char-RNN saved with safetensors.torch.save_file opens and matches PyTorch."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as torch_save_file

    torch.manual_seed(1)
    encoder = torch.nn.Embedding(len(VOCAB), 8)
    rnn = torch.nn.LSTM(8, 16, num_layers=2)
    decoder = torch.nn.Linear(16, len(VOCAB))
    state = {**{f"encoder.{k}": v for k, v in encoder.state_dict().items()},
             **{f"rnn.{k}": v for k, v in rnn.state_dict().items()},
             **{f"decoder.{k}": v for k, v in decoder.state_dict().items()}}
    meta = {"vocab": json.dumps(VOCAB), "tokenizer": "char"}
    torch_save_file(state, str(tmp_path / "char.safetensors"), metadata=meta)
    text = "abc. cab ba.. a"
    with torch.no_grad():
        h, _ = rnn(encoder(torch.tensor([VOCAB.index(c) for c in text])))
        y = torch.softmax(decoder(h), dim=-1)
    out = tmp_path / "t.npz"
    assert main(["export", "--model", str(tmp_path / "char.safetensors"), "--text", text, "-o", str(out)]) == 0
    data = np.load(out)
    np.testing.assert_allclose(data["h"][1], h.numpy(), atol=1e-6)
    np.testing.assert_allclose(data["y"], y.numpy(), atol=1e-6)


@pytest.mark.parametrize("command", [["export", "-o", "t.npz"], ["show"]])
def test_an_empty_model_name_is_refused_not_read_as_the_default(tmp_path, capsys, command):
    argv = [command[0], "--model", "", *command[1:]]
    assert "--model is empty: give a built-in model's name or a weights file" in run_error(argv, capsys)


def test_words_typed_to_a_model_that_reads_ids_get_a_note(tmp_path, capsys):
    """A Keras file keeps no vocabulary: its tokens are the ids. Words typed to it were read as the unknown
    token, every one, without a word; a note now says so and what to type. Ids typed get no such note."""
    model = Path(__file__).parent / "data" / "keras" / "gru_deep_head_lm.keras"
    assert main(["show", "--model", str(model), "--text", "the movie was great", "--step", "1"]) == 0
    err = capsys.readouterr().err
    assert "note: none of the 4 tokens of the text is in the vocabulary" in err
    assert "this model's tokens are its ids: type numbers from 0 to 7" in err
    for text in ("1 2 3", "the 2 cat"):  # some tokens known: no note
        assert main(["show", "--model", str(model), "--text", text, "--step", "1"]) == 0
        assert "none of the" not in capsys.readouterr().err
    assert main(["show", "--model", "charlm", "--text", "ЖЖЖ", "--step", "1"]) == 0  # a vocabulary of characters
    assert "its 45 tokens do not include them" in capsys.readouterr().err


def test_a_file_whose_vocabulary_knows_no_token_of_the_default_text_starts_on_its_own_tokens(tmp_path, capsys):
    """A training checkpoint keeps its vocabulary (here the ids as strings, single characters): the default
    English text was all unknown to it. Without --text it starts on the vocabulary's tokens; a vocabulary
    that knows a word of the default text keeps the text; --text is always read as given."""
    from dataclasses import replace

    from lstm_tui.core.registry import load_model

    ckpt = Path(__file__).parent / "data" / "torch_models" / "lstm_sentiment_checkpoint_bf16.pth"
    assert main(["show", "--model", str(ckpt), "--head-activations", "relu"]) == 0
    out = capsys.readouterr()
    assert "step t = 1/8  token '1'" in out.out and "none of the" not in out.err
    assert main(["show", "--model", str(ckpt), "--head-activations", "relu", "--text", "the cat"]) == 0
    assert "none of the 7 tokens of the text is in the vocabulary" in capsys.readouterr().err
    base = load_model("random", hidden=4, seed=0, tokenizer="word")
    m = replace(base, vocab=("<pad>", "<unk>", "movie", "great", "the", "bad", "."), embedding=base.embedding[:7],
                head_W=base.head_W[:7], head_b=base.head_b[:7], meta={})
    assert m.start_text("the cat sat on the mat.") == "the cat sat on the mat."  # it knows "the"
    assert m.start_text("xyz qq") == "movie great the bad ."  # past the padding; no unknown token
    assert load_model("brackets").start_text("x") == load_model("brackets").meta["example"]  # ... a file's example first


def test_show_names_what_a_classifiers_outputs_are(tmp_path, capsys):
    """show's table of outputs said "next token" for every head; a classifier's are classes (by id), and one
    output is a class's probability."""
    data = Path(__file__).parent / "data"
    frames = tmp_path / "x.npy"
    np.save(frames, np.zeros((2, 5), np.float32))
    cases = ((["--model", str(data / "keras" / "gru_classifier.keras"), "--text", "1 2"],
              "class 0, probability (σ of its logit)"),
             (["--model", str(data / "onnx" / "torch_legacy_gru_bi_mlp2_frames_logits.onnx"), "--inputs", str(frames)],
              "class (output id), probability"),
             (["--model", "charlm", "--text", "ab"], "next token, probability"))
    for argv, heading in cases:
        assert main(["show", "--step", "1", *argv]) == 0
        assert heading in capsys.readouterr().out


def test_tokens_are_spaced_for_words_not_for_characters():
    """The widgets' state says whether tokens are words (spaced in the coloured text) or characters (joined)."""
    from lstm_tui.core import random_model
    from lstm_tui.widgets.state import State

    for tokenizer, spaced in (("word", True), ("char", False)):
        model = random_model(hidden=4, tokenizer=tokenizer)
        assert State(model=model, trace=model.trace("a b"), k=0, layer=0, unit=0).spaced is spaced
