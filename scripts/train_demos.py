"""Train the shipped demo models with the project's own NumPy trainer.

    python scripts/train_demos.py                     # all seven into lstm_tui/demos/
    python scripts/train_demos.py --only brackets --out /tmp/demos

About a minute on one core, no PyTorch. Every random choice is seeded and
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
- ``brackets-gru``, ``brackets-rnn``, ``copy-gru``, ``copy-rnn``: a GRU and a
  tanh RNN trained on the same data, the same way (same sizes, steps, Adam
  settings), so that the gradient compare and ``--cell`` comparisons are
  between trained models. Each is checked for what it does learn, and its
  description says it with the figure measured: for brackets, how much of the
  depth a linear readout of h recovers (R², metadata ``depth_r2``, against
  ``depth_r2_untrained`` before training) and the held-out loss against the
  last character alone (``heldout_loss``, ``bigram_loss``); for copy,
  that it says the letter back after every gap up to 60 and which unit of h
  holds the letter (``memory_unit``). Metadata ``task`` names the LSTM demo's
  task, which the gradient compare uses to find them.

The LSTM demos are written only when their weights or metadata change, so a
run leaves the shipped files as they are, bit for bit.

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


def depth_readout(model: Model, strings: list[str]) -> float:
    """R² of the best linear readout of the depth from h (least squares, h and a constant), over the strings."""
    h = np.concatenate([model.trace(s).states["h"][0] for s in strings]).astype(np.float64)  # (N, H)
    d = np.concatenate([depths(s) for s in strings]).astype(np.float64)  # (N,)
    X = np.c_[h, np.ones(len(h))]
    coef, *_ = np.linalg.lstsq(X, d, rcond=None)
    return float(1 - ((X @ coef - d) ** 2).sum() / ((d - d.mean()) ** 2).sum())


def bigram_loss(ids: np.ndarray, held: np.ndarray) -> float:
    """Mean cross-entropy on the stream ``held`` of the best guess from the last character alone
    (its frequencies counted on ``ids``)."""
    counts = np.ones((len(BRACKETS_VOCAB),) * 2)  # add-one: every pair possible
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    p = counts / counts.sum(axis=1, keepdims=True)
    return float(np.mean(-np.log(p[held[:-1], held[1:]])))


def make_brackets_other(cell: str, seed: int) -> tuple[Model, str]:
    """The brackets task for a GRU or tanh RNN: the LSTM demo's data, sizes and training.

    The GRU must recover the depth from h (a linear readout, R² ≥ 0.9 on held-out strings);
    the RNN must at least beat the last character alone at guessing the next one (it does,
    but its h holds no more depth than an untrained RNN's: the description says both).
    """
    rng = np.random.default_rng(1000)
    text = "".join(bracket_string(rng) for _ in range(1500))
    ids = np.array([BRACKETS_VOCAB.index(ch) for ch in text])
    name = f"brackets-{CELL_SUFFIX[cell]}"
    untrained = init_model(BRACKETS_VOCAB, hidden=24, embed=4, cell=cell, seed=seed, name=name)
    model, _ = train(untrained, ids, TrainConfig(steps=2500, chunk=64, lr=1e-2, lr_end=1e-3, seed=seed))
    held_out = [bracket_string(np.random.default_rng(2000 + k)) for k in range(300)]
    held = np.array([BRACKETS_VOCAB.index(ch) for ch in "".join(held_out)])  # one stream, as it was trained
    r2, r2_before = depth_readout(model, held_out), depth_readout(untrained, held_out)
    loss, bigram = evaluate(model, held), bigram_loss(ids, held)
    if cell == "gru" and r2 < 0.9:
        return model, f"a linear readout of h recovers only R² = {r2:.3f} of the depth"
    if loss > bigram - 0.03:
        return model, f"held-out loss {loss:.3f}: no better than the last character alone ({bigram:.3f})"
    r = np.abs(depth_correlations_h(model, held_out))
    model.meta.update(depth_r2=f"{r2:.4f}", depth_r2_untrained=f"{r2_before:.4f}", heldout_loss=f"{loss:.4f}",
                      bigram_loss=f"{bigram:.4f}", task="brackets", example="(()(()))((()()(())))().",
                      loss=f"{evaluate(model, ids[:20000]):.4f}")
    if cell == "gru":
        description = (f"GRU on nested brackets: h holds the depth, spread over its units: a linear readout "
                       f"recovers R² = {r2:.2f} of it on held-out strings (untrained: {r2_before:.2f}; "
                       f"the best single unit: r = {r.max():.2f})")
    else:
        description = (f"tanh RNN on nested brackets: learns the local statistics (held-out loss {loss:.3f}; the last "
                       f"character alone: {bigram:.3f}) but not the count: a linear readout of h recovers "
                       f"R² = {r2:.2f} of the depth, an untrained RNN's {r2_before:.2f}")
    return _named(model, name, description), ""


def depth_correlations_h(model: Model, strings: list[str]) -> np.ndarray:
    """Pearson correlation (H,) of each unit's hᵗ with the depth."""
    h = np.concatenate([model.trace(s).states["h"][0] for s in strings]).astype(np.float64)
    d = np.concatenate([depths(s) for s in strings]).astype(np.float64)
    h, d = h - h.mean(axis=0), d - d.mean()
    return (h * d[:, None]).sum(axis=0) / np.sqrt((h * h).sum(axis=0) * (d * d).sum() + 1e-30)


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


def copy_data() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The copy task's documents (1 to 6 episodes each) and the weight of predicting each id."""
    rng = np.random.default_rng(3000)
    docs, weights = [], []
    for _ in range(1200):
        text = "".join(copy_episode(rng) for _ in range(int(rng.integers(1, 7))))
        docs.append(np.array([COPY_VOCAB.index(ch) for ch in text]))
        after_q = np.r_[False, np.array(list(text[:-1])) == "?"]
        weights.append(np.where(after_q, 1.0, 0.3))
    return docs, weights


COPY_GAPS = (*range(1, MAX_GAP + 1), 45, 60)  # every gap trained on, and two longer ones


def copy_recall(model: Model) -> tuple[int, str]:
    """(the unit of h that tells a from b all through the dashes by the widest margin, failure or ""):
    the letter (or ``.``) said back after every gap in COPY_GAPS, from zero state."""
    held = {s: [] for s in COPY_SYMBOLS}
    for symbol in COPY_SYMBOLS + ".":
        for gap in COPY_GAPS:
            text = ("" if symbol == "." else symbol) + "-" * gap + "?"
            trace = model.trace(text)
            guess = model.vocab[int(np.argmax(trace.y[-1]))]
            if guess != symbol:
                return -1, f"guesses {guess!r} after {text!r}"
            if symbol != ".":
                held[symbol].append(trace.states["h"][0, 1:-1])  # (gap, H) after each dash
    a, b = (np.concatenate(held[s]) for s in COPY_SYMBOLS)  # (steps, H)
    margin = np.maximum(a.min(0) - b.max(0), b.min(0) - a.max(0))  # > 0: a and b never overlap
    if margin.max() <= 0:
        return -1, "no single unit of h tells a from b all through the dashes"
    return int(np.argmax(margin)), ""


def make_copy_other(cell: str, seed: int) -> tuple[Model, str]:
    """The copy task for a GRU or tanh RNN: the LSTM demo's data, sizes and training."""
    docs, weights = copy_data()
    name = f"copy-{CELL_SUFFIX[cell]}"
    model = init_model(COPY_VOCAB, hidden=16, embed=4, cell=cell, seed=seed, name=name)
    model, _ = train(model, docs, TrainConfig(steps=6000, chunk=64, lr=1e-2, lr_end=1e-3, seed=seed), weights=weights)
    u, failure = copy_recall(model)
    if failure:
        return model, failure
    loss = evaluate(model, docs[:200])
    model.meta.update(memory_unit=str(u), task="copy", example="b-------?b----?.a-----?a", loss=f"{loss:.4f}")
    h = {s: float(model.trace(s + "-" * 30).states["h"][0, 1:, u].mean()) for s in COPY_SYMBOLS}
    description = (f"{CELL_NAMES[cell]} on copy: says the letter back after every gap up to {COPY_GAPS[-1]}; "
                   f"unit {u}'s h holds it through the dashes (about {h['a']:+.2f} for a, {h['b']:+.2f} for b)")
    z_held = cell == "gru" and all((model.trace(s + "-" * g + "?").states["z"][0, 1:-1, u] > 0.85).all()
                                   for s in COPY_SYMBOLS for g in COPY_GAPS)
    if z_held:  # the GRU's own way to keep h: z near 1 takes hᵗ⁻¹ as it is
        description += ", its update gate z near 1 keeping it"
    return _named(model, name, description), ""


CELL_SUFFIX = {"gru": "gru", "rnn_tanh": "rnn"}
CELL_NAMES = {"gru": "GRU", "rnn_tanh": "tanh RNN"}


# --- writing -------------------------------------------------------------------


def _named(model: Model, name: str, description: str) -> Model:
    from dataclasses import replace

    return replace(model, name=name, description=description)


def save_demo(model: Model, path: Path) -> bool:
    """``formats.save_model``'s format plus the model's own metadata (``model.meta``, strings).

    Leaves ``path`` as it is when it already holds the same tensors and metadata
    (safetensors may order a header differently run to run); returns whether it wrote.
    """
    from safetensors import safe_open
    from safetensors.numpy import save

    meta = {**model_metadata(model), **{k: str(v) for k, v in model.meta.items()}}
    tensors = model_tensors(model)
    if path.exists():
        with safe_open(str(path), framework="numpy") as fh:
            same = fh.metadata() == meta and set(fh.keys()) == set(tensors)
            same = same and all(np.array_equal(fh.get_tensor(k), v) and fh.get_tensor(k).dtype == v.dtype
                                for k, v in tensors.items())
        if same:
            return False
    blob = save(tensors, metadata=meta)
    atomic_write(path, lambda fh: fh.write(blob), force=True)
    path.chmod(0o644)  # package data: readable by all (the temporary file was private)
    return True


DEMOS = {
    "brackets": make_brackets,
    "charlm": make_charlm,
    "copy": make_copy,
    "brackets-gru": lambda seed: make_brackets_other("gru", seed),
    "brackets-rnn": lambda seed: make_brackets_other("rnn_tanh", seed),
    "copy-gru": lambda seed: make_copy_other("gru", seed),
    "copy-rnn": lambda seed: make_copy_other("rnn_tanh", seed),
}


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
        wrote = save_demo(model, path)
        keys = ("depth_unit", "depth_corr", "depth_r2", "memory_unit")
        extra = ", ".join(f"{k}={model.meta[k]}" for k in keys if k in model.meta)
        print(
            f"{name}: seed {seed}, loss {model.meta['loss']}, {time.perf_counter() - start:.1f} s, "
            f"{path.stat().st_size / 1024:.0f} KiB{', ' + extra if extra else ''}{'' if wrote else ' (unchanged)'}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
