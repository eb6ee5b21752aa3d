"""Train the shipped demo models with the project's own NumPy trainer.

    python scripts/train_demos.py                     # all three into lstm_tui/demos/
    python scripts/train_demos.py --only brackets --out /tmp/demos

About 15 seconds on one core, no PyTorch. Every random choice is seeded and
BLAS is held to one thread, so a run gives the same weights and metadata on
the same machine (safetensors may order the metadata in the file's header
differently, so the bytes can differ). After training, each demo is checked for the property its
description promises; a seed that fails the check is reported and the next
one tried (the seed used is in the file's metadata, key ``seed``).

- ``brackets``: next-character model of random nested-bracket strings such as
  ``(()(())).``; one cell unit counts the nesting depth (metadata
  ``depth_unit``, its Pearson correlation with depth on held-out strings
  ``depth_corr``).
- ``charlm``: character model of the Zen of Python (PEP 20, public domain),
  read from the standard library's ``this`` module.
- ``copy``: remembers ``a`` or ``b`` across a gap of dashes and says it back
  after ``?`` (``.`` if nothing was stored); metadata ``memory_unit`` is the
  unit whose forget gate holds it and then lets it go.

Each file is ``formats.save_model``'s whole-model safetensors format (float32)
plus the demo's own metadata, which save_model does not write (``example``
is the text the app opens with when no --text is given).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy: one thread, same sums every run
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import codecs  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lstm_tui.core import Model  # noqa: E402
from lstm_tui.core.export import atomic_write  # noqa: E402
from lstm_tui.formats import model_metadata, model_tensors  # noqa: E402
from lstm_tui.core.train import TrainConfig, evaluate, init_model, train  # noqa: E402

UNK = "<unk>"
SEEDS = range(10)  # tried in order until a trained model passes its check


# --- brackets ----------------------------------------------------------------

BRACKETS_VOCAB = ("(", ")", ".", UNK)
MAX_DEPTH = 8


def bracket_string(rng: np.random.Generator) -> str:
    """One balanced string ending in ``.``: opens less often the deeper it is, never beyond MAX_DEPTH."""
    out, depth = [], 0
    while True:
        if depth == 0:
            if out and rng.random() < 0.5:
                return "".join(out) + "."
            out.append("(")
            depth += 1
        elif depth == MAX_DEPTH or rng.random() > 0.7 * (1 - depth / MAX_DEPTH) + 0.1:
            out.append(")")
            depth -= 1
        else:
            out.append("(")
            depth += 1


def depths(text: str) -> np.ndarray:
    """Nesting depth after each character (T,)."""
    steps = np.array([(ch == "(") - (ch == ")") for ch in text])
    return np.cumsum(steps)


def depth_correlations(model: Model, strings: list[str]) -> np.ndarray:
    """Pearson correlation (H,) of each unit's cᵗ with the depth, each string run from zero state."""
    c = np.concatenate([model.trace(s).states["c"][0] for s in strings])  # (N, H)
    d = np.concatenate([depths(s) for s in strings]).astype(np.float64)  # (N,)
    c = c - c.mean(axis=0)
    d = d - d.mean()
    return (c * d[:, None]).sum(axis=0) / np.sqrt((c * c).sum(axis=0) * (d * d).sum() + 1e-30)


def flip_unit(model: Model, u: int) -> None:
    """Negate unit u's c and h in place (an exact symmetry of a one-layer LSTM with a head).

    g_u's row of every weight changes sign, so c_u and h_u do; every user of
    h_u (the column u of W_hh and of the head) changes sign to undo it.
    """
    (layer,) = model.layers
    H = layer.hidden_size
    for a in (layer.W_ih, layer.W_hh, layer.b_ih, layer.b_hh):
        a[2 * H + u] *= -1
    layer.W_hh[:, u] *= -1
    model.head_W[:, u] *= -1


def make_brackets(seed: int) -> tuple[Model, str]:
    rng = np.random.default_rng(1000)
    text = "".join(bracket_string(rng) for _ in range(1500))
    ids = np.array([BRACKETS_VOCAB.index(ch) for ch in text])
    model = init_model(BRACKETS_VOCAB, hidden=24, embed=4, seed=seed, forget_bias=1.0, name="brackets")
    model, _ = train(model, ids, TrainConfig(steps=2500, chunk=64, lr=1e-2, lr_end=1e-3, seed=seed))
    held_out = [bracket_string(np.random.default_rng(2000 + k)) for k in range(300)]
    r = depth_correlations(model, held_out)
    u = int(np.argmax(np.abs(r)))
    if r[u] < 0:
        probe = model.trace("(()(()))").y
        flip_unit(model, u)
        assert np.allclose(model.trace("(()(()))").y, probe, atol=1e-6)
        r[u] = -r[u]
    corr = float(r[u])
    if corr < 0.98:  # the test asks for 0.9 on other held-out strings: keep a margin
        return model, f"depth correlation only {corr:.3f}"
    model.meta.update(
        depth_unit=str(u),
        depth_corr=f"{corr:.4f}",
        example="(()(()))((()()(())))().",
        loss=f"{evaluate(model, ids[:20000]):.4f}",
    )
    description = (
        f"nested brackets: unit {u}'s cell state c counts the nesting depth (r = {corr:.3f} on held-out strings)"
    )
    return _named(model, "brackets", description), ""


# --- charlm --------------------------------------------------------------------


def zen_of_python() -> str:
    """PEP 20 (public domain) as one line, decoded from the standard library's ``this`` module."""
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the poem
        import this
    return " ".join(codecs.decode(this.s, "rot13").split())


def make_charlm(seed: int) -> tuple[Model, str]:
    text = zen_of_python()
    vocab = tuple(sorted(set(text))) + (UNK,)
    ids = np.array([vocab.index(ch) for ch in text])
    model = init_model(vocab, hidden=64, embed=16, seed=seed, forget_bias=1.0, name="charlm")
    model, _ = train(model, ids, TrainConfig(steps=3000, chunk=64, lr=1e-2, lr_end=5e-4, seed=seed))
    loss = evaluate(model, ids)
    checks = {"Beautiful is better tha": "n", "Simple is better than comp": "l", "Now is better than nev": "e"}
    for prompt, want in checks.items():
        got = model.vocab[int(np.argmax(model.trace(prompt).y[-1]))]
        if got != want:
            return model, f"guesses {got!r} after {prompt!r}"
    model.meta.update(
        example="Beautiful is better than ugly.",
        source="The Zen of Python, by Tim Peters (PEP 20, public domain), from the standard library's this module",
        loss=f"{loss:.4f}",
    )
    description = "character model of the Zen of Python: y guesses the next letter of a line you type from it"
    return _named(model, "charlm", description), ""


# --- copy ----------------------------------------------------------------------

COPY_SYMBOLS = "ab"
COPY_VOCAB = tuple(COPY_SYMBOLS) + ("-", "?", ".", UNK)
MAX_GAP = 30


def copy_episode(rng: np.random.Generator) -> str:
    """``a`` or ``b`` (or nothing), a gap of dashes, ``?``, and the answer: the symbol, or ``.`` for nothing."""
    k = int(rng.integers(len(COPY_SYMBOLS) + 1))
    symbol = COPY_SYMBOLS[k] if k < len(COPY_SYMBOLS) else ""
    gap = min(int(rng.geometric(1 / 8)), MAX_GAP)  # memoryless: counting dashes does not help
    return symbol + "-" * gap + "?" + (symbol or ".")


def copy_checks(model: Model) -> tuple[int, str]:
    """(memory unit, failure or ""): recall from zero state, and a unit that holds across the gap and lets go."""
    H = model.hidden_size
    hold = np.ones(H, dtype=bool)
    release = np.ones(H, dtype=bool)
    stored = {s: [] for s in COPY_SYMBOLS}
    for symbol in COPY_SYMBOLS + ".":
        for gap in range(1, MAX_GAP + 1):
            text = ("" if symbol == "." else symbol) + "-" * gap + "?" + symbol
            trace = model.trace(text)
            guess = model.vocab[int(np.argmax(trace.y[-2]))]
            if guess != symbol:
                return -1, f"guesses {guess!r} after {text[:-1]!r}"
            if symbol != ".":
                f = trace.states["f"][0]  # (T, H)
                hold &= (f[1:-1] > 0.9).all(axis=0)  # the gap and the ?: c kept
                release &= f[-1] < 0.1  # the answer: c let go
                stored[symbol].append(trace.states["c"][0, -2])
    a, b = (np.array(stored[s]) for s in COPY_SYMBOLS)  # (gaps, H) c at the ?
    margin = np.maximum(a.min(0) - b.max(0), b.min(0) - a.max(0))  # > 0: a and b never overlap
    good = hold & release & (margin > 0)
    if not good.any():
        return -1, "no unit holds the symbol with f > 0.9 and releases it with f < 0.1"
    return int(np.argmax(np.where(good, margin, -np.inf))), ""


def make_copy(seed: int) -> tuple[Model, str]:
    rng = np.random.default_rng(3000)
    docs, weights = [], []  # documents of 1 to 6 episodes, each run from zero state like a typed text
    for _ in range(1200):
        text = "".join(copy_episode(rng) for _ in range(int(rng.integers(1, 7))))
        docs.append(np.array([COPY_VOCAB.index(ch) for ch in text]))
        after_q = np.r_[False, np.array(list(text[:-1])) == "?"]
        weights.append(np.where(after_q, 1.0, 0.3))  # the answers are the point; the dashes' guesses count less
    model = init_model(COPY_VOCAB, hidden=16, embed=4, seed=seed, forget_bias=1.0, name="copy")
    config = TrainConfig(steps=6000, chunk=64, lr=1e-2, lr_end=1e-3, seed=seed)
    model, _ = train(model, docs, config, weights=weights)
    u, failure = copy_checks(model)
    if failure:
        return model, failure
    loss = evaluate(model, docs[:200])
    model.meta.update(memory_unit=str(u), example="b-------?b----?.a-----?a", loss=f"{loss:.4f}")
    description = (
        f"copy: a or b, dashes, ? and y says the letter back; unit {u}'s forget gate holds it (f near 1) "
        "through the dashes and lets it go (f near 0) at the answer"
    )
    return _named(model, "copy", description), ""


# --- writing -------------------------------------------------------------------


def _named(model: Model, name: str, description: str) -> Model:
    from dataclasses import replace

    return replace(model, name=name, description=description)


def save_demo(model: Model, path: Path) -> None:
    """``formats.save_model``'s format plus the model's own metadata (``model.meta``, strings)."""
    from safetensors.numpy import save

    meta = {**model_metadata(model), **{k: str(v) for k, v in model.meta.items()}}
    blob = save(model_tensors(model), metadata=meta)
    atomic_write(path, lambda fh: fh.write(blob), force=True)
    path.chmod(0o644)  # package data: readable by all (the temporary file was private)


DEMOS = {"brackets": make_brackets, "charlm": make_charlm, "copy": make_copy}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(DEMOS), help="train only these demos")
    parser.add_argument("--out", type=Path, default=ROOT / "lstm_tui" / "demos", help="folder to write into")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(DEMOS):
        start = time.perf_counter()
        for seed in SEEDS:
            model, failure = DEMOS[name](seed)
            if not failure:
                break
            print(f"{name}: seed {seed} failed its check ({failure}); trying the next", flush=True)
        else:
            print(f"{name}: no seed in {SEEDS} passed", file=sys.stderr)
            return 1
        model.meta.update(seed=str(seed), trained_by="scripts/train_demos.py")
        path = args.out / f"{name}.safetensors"
        save_demo(model, path)
        keys = ("depth_unit", "depth_corr", "memory_unit")
        extra = ", ".join(f"{k}={model.meta[k]}" for k in keys if k in model.meta)
        print(
            f"{name}: seed {seed}, loss {model.meta['loss']}, {time.perf_counter() - start:.1f} s, "
            f"{path.stat().st_size / 1024:.0f} KiB{', ' + extra if extra else ''}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
