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
        assert model.cell == "lstm" and model.dtype == np.float32 and model.takes_tokens
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
