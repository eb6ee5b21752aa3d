"""The shipped demos load by name and do what their descriptions say."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from lstm_tui import load_model
from lstm_tui.cli import main
from lstm_tui.core import registry


@pytest.fixture(scope="module")
def demos():
    return {name: load_model(name) for name in registry.DEMOS}


def test_every_demo_loads_by_name(demos):
    assert registry.DEFAULT in registry.DEMOS
    total = 0
    for name, model in demos.items():
        assert name in registry.BUILTIN
        assert model.name == name and model.description
        cell = {"gru": "gru", "rnn": "rnn_tanh"}.get(name.rpartition("-")[2], "lstm")  # brackets-gru is a GRU
        assert model.cell == cell and model.dtype == np.float32 and model.takes_tokens
        assert model.meta["trained_by"] == "scripts/train_demos.py"
        example = model.meta["example"]
        assert not model.trace(example).unknown.any(), f"{name}'s example has tokens outside its vocabulary"
        total += len(resources.files("lstm_tui").joinpath(f"demos/{name}.safetensors").read_bytes())
    assert total < 2_000_000


def test_default_opens_the_default_demo_on_its_example(tmp_path):
    out = tmp_path / "t.npz"
    assert main(["export", "-o", str(out)]) == 0
    data = np.load(out)
    model = load_model()
    assert model.name == registry.DEFAULT
    assert "".join(data["tokens"]) == model.meta["example"]
    assert data["h"].shape[2] == model.hidden_size


def balanced(rng: np.random.Generator, p_open: float, max_depth: int = 8) -> str:
    """A random walk of brackets from depth 0 back to 0, then '.' (not the generator the demo was trained on)."""
    out, depth = [], 0
    while True:
        if depth == 0 and out and rng.random() < 0.3:
            return "".join(out) + "."
        if depth == 0 or (depth < max_depth and rng.random() < p_open):
            out.append("(")
            depth += 1
        else:
            out.append(")")
            depth -= 1


def depth(text: str) -> np.ndarray:
    return np.cumsum([(ch == "(") - (ch == ")") for ch in text])


@pytest.mark.parametrize("p_open", [0.4, 0.5])
def test_brackets_unit_tracks_depth_on_held_out_strings(demos, p_open):
    model = demos["brackets"]
    u = int(model.meta["depth_unit"])
    assert f"unit {u}" in model.description
    rng = np.random.default_rng(20240 + int(10 * p_open))
    strings = [balanced(rng, p_open) for _ in range(150)]
    c = np.concatenate([model.trace(s).states["c"][0, :, u] for s in strings])
    d = np.concatenate([depth(s) for s in strings])
    assert d.max() >= 6
    r = np.corrcoef(c, d)[0, 1]
    assert r > 0.9, f"unit {u}: correlation {r:.3f} with depth"


def test_brackets_counter_steps_by_one_per_bracket(demos):
    model = demos["brackets"]
    u = int(model.meta["depth_unit"])
    c = model.trace("(" * 10 + ")" * 10).states["c"][0, :, u]
    steps = np.diff(c)
    assert (steps[:9] > 0.5).all() and (steps[10:] < -0.5).all()


@pytest.mark.parametrize(
    "prompt,guess",
    [
        ("Beautiful is better tha", "n"),
        ("Readability cou", "n"),
        ("Now is better than nev", "e"),
        ("Namespaces are one honking great id", "e"),
    ],
)
def test_charlm_guesses_the_next_character(demos, prompt, guess):
    model = demos["charlm"]
    y = model.trace(prompt).y[-1]
    assert model.vocab[int(np.argmax(y))] == guess
    assert y.max() > 0.5


def test_charlm_text_is_the_zen_of_python(demos):
    model = demos["charlm"]
    assert "PEP 20" in model.meta["source"] and "public domain" in model.meta["source"]
    assert model.trace(model.meta["example"]).y.shape[1] == len(model.vocab)


@pytest.mark.parametrize("gap", [1, 2, 7, 15, 30, 60])
def test_copy_says_the_letter_back_after_any_gap(demos, gap):
    model = demos["copy"]
    for symbol in ("a", "b", ""):
        trace = model.trace(symbol + "-" * gap + "?")
        assert model.vocab[int(np.argmax(trace.y[-1]))] == (symbol or ".")


def test_copy_forget_gate_holds_then_releases(demos):
    """The description's claim: unit u's forget gate stays near 1 through the gap and drops at the answer."""
    model = demos["copy"]
    u = int(model.meta["memory_unit"])
    assert f"unit {u}'s forget gate" in model.description
    for text in ("a" + "-" * 12 + "?a", "b" + "-" * 5 + "?b", "a-?a", "b" + "-" * 25 + "?b"):
        trace = model.trace(text)
        f = trace.states["f"][0, :, u]
        c = trace.states["c"][0, :, u]
        assert (f[1:-1] > 0.9).all(), f"{text}: f = {np.round(f, 2)}"  # the dashes and ?: held
        assert f[-1] < 0.1, f"{text}: f = {np.round(f, 2)}"  # the answer: let go
        assert np.ptp(c[1:-1]) < 0.2  # c barely moves while it is held
    # what it holds tells a from b
    held = {s: model.trace(s + "-" * 9).states["c"][0, -1, u] for s in "ab"}
    assert abs(held["a"] - held["b"]) > 0.5


def test_readme_names_the_units_the_files_name(demos):
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert f"unit {demos['brackets'].meta['depth_unit']}'s cell state c counts" in readme
    assert f"unit {demos['copy'].meta['memory_unit']} holds the letter" in readme
    for name in ("copy-gru", "copy-rnn"):
        assert f"unit {demos[name].meta['memory_unit']}'s h holds it" in readme
    for name in ("brackets-gru", "brackets-rnn"):
        assert f"R² = {float(demos[name].meta['depth_r2']):.2f}" in readme


# --- the GRU and RNN demos (issue 13.7): each claim measured on strings they were not trained on


def linear_readout_r2(model, strings) -> float:
    """R² of the least-squares readout of the depth from h (and a constant)."""
    h = np.concatenate([model.trace(s).states["h"][0] for s in strings]).astype(np.float64)
    d = np.concatenate([depth(s) for s in strings]).astype(np.float64)
    X = np.c_[h, np.ones(len(h))]
    coef, *_ = np.linalg.lstsq(X, d, rcond=None)
    return float(1 - ((X @ coef - d) ** 2).sum() / ((d - d.mean()) ** 2).sum())


@pytest.mark.parametrize("p_open", [0.4, 0.5])
def test_brackets_gru_holds_the_depth_in_h_and_the_rnn_does_not(demos, p_open):
    rng = np.random.default_rng(20240 + int(10 * p_open))
    strings = [balanced(rng, p_open) for _ in range(150)]
    gru, rnn = demos["brackets-gru"], demos["brackets-rnn"]
    assert f"R² = {float(gru.meta['depth_r2']):.2f}" in gru.description
    r2_gru, r2_rnn = linear_readout_r2(gru, strings), linear_readout_r2(rnn, strings)
    assert r2_gru > 0.9, f"GRU: R² {r2_gru:.3f}"
    assert r2_rnn < 0.7, f"RNN: R² {r2_rnn:.3f}"  # "not the count": far below the GRU's
    assert float(rnn.meta["depth_r2"]) < float(rnn.meta["depth_r2_untrained"]) + 0.1  # no better than untrained


def test_brackets_rnn_learns_more_than_the_last_character(demos):
    """Its claim: held-out loss below the best guess from the last character alone, on strings of another generator."""
    from lstm_tui.core.train import evaluate

    model = demos["brackets-rnn"]
    rng = np.random.default_rng(7)
    text = "".join(balanced(rng, 0.45) for _ in range(400))
    ids = np.array([model.vocab.index(ch) for ch in text])
    counts = np.ones((len(model.vocab),) * 2)
    np.add.at(counts, (ids[:-1], ids[1:]), 1)  # fitted on the very strings it is scored on: a lower bound
    p = counts / counts.sum(axis=1, keepdims=True)
    bigram = float(np.mean(-np.log(p[ids[:-1], ids[1:]])))
    loss = evaluate(model, ids)
    assert loss < bigram - 0.02, f"RNN {loss:.3f}, last character alone {bigram:.3f}"
    assert "the last character alone" in model.description


@pytest.mark.parametrize("name", ["copy-gru", "copy-rnn"])
@pytest.mark.parametrize("gap", [1, 2, 7, 15, 30, 60])
def test_copy_gru_and_rnn_say_the_letter_back_after_any_gap(demos, name, gap):
    model = demos[name]
    for symbol in ("a", "b", ""):
        trace = model.trace(symbol + "-" * gap + "?")
        assert model.vocab[int(np.argmax(trace.y[-1]))] == (symbol or ".")


@pytest.mark.parametrize("name", ["copy-gru", "copy-rnn"])
def test_copy_gru_and_rnn_hold_the_letter_in_one_unit(demos, name):
    """The description's claim: unit u's h tells a from b all through the dashes (for the GRU, z near 1 keeps it)."""
    model = demos[name]
    u = int(model.meta["memory_unit"])
    assert f"unit {u}'s h holds it through the dashes" in model.description
    for gap in (3, 12, 25, 50):
        a, b = (model.trace(s + "-" * gap + "?").states["h"][0, 1:-1, u] for s in "ab")
        assert a.max() < b.min() or b.max() < a.min(), f"gap {gap}: a {np.round(a, 2)}, b {np.round(b, 2)}"
        if model.cell == "gru":
            for s in "ab":
                z = model.trace(s + "-" * gap + "?").states["z"][0, 1:-1, u]
                assert (z > 0.85).all(), f"{s}, gap {gap}: z = {np.round(z, 2)}"
    assert ("update gate z near 1" in model.description) == (model.cell == "gru")
