"""Breakpoint scans: find_next over a 100,000-step trace where nothing matches.

Run from the repository root::

    python benchmarks/breakpoints.py

Prints, per expression, the best of three full scans forward and backward
(no hit, so every step is evaluated), then the cost of one ``test`` and one
``compile_breakpoint``. Nothing here is a test: the numbers depend on the machine.
"""

from __future__ import annotations

import numpy as np

from run import _best  # benchmarks/run.py, beside this file: one timer for every benchmark

from lstm_tui.core import random_model
from lstm_tui.core.breakpoints import compile_breakpoint, find_next

EXPRESSIONS = [
    "f[12] < -1",
    "abs(c).max() > 30",
    'token == "@"',
    "y.argmax() != next_token and t < 0",
    "c[3] > 20 and t > 5",
    "h.mean() < -5",
    "i[0:4].min() > 0.999",
    'top == "@"',
    "(f < 0.0001).any()",
    "c[h.argmax()] > 50",
]


def best(fn, repeats: int = 3) -> float:
    return _best(fn, repeats)


def main() -> None:
    model = random_model(hidden=64, seed=0)
    rng = np.random.default_rng(0)
    tr = model.trace("".join(rng.choice(list("abcdefgh ()"), size=100_000)))
    print(f"trace: T = {tr.steps:,}, H = {tr.hidden_size}, V = {tr.y.shape[1]}, one LSTM layer")
    for text in EXPRESSIONS:
        b = compile_breakpoint(text, "lstm", True)
        fwd = best(lambda: find_next(tr, [b], 0, -1, 1, vocab=model.vocab))
        back = best(lambda: find_next(tr, [b], 0, tr.steps, -1, vocab=model.vocab))
        print(f"  {text:38s} forward {fwd * 1e3:6.1f} ms   backward {back * 1e3:6.1f} ms")
    b = compile_breakpoint('f[12] < 0.1 and token == "("', "lstm", True)
    one = best(lambda: [b.test(tr, 0, k) for k in range(10_000)]) / 10_000
    src = 'abs(c).max() > 3 and token == "(" or y.argmax() != next_token'
    comp = best(lambda: [compile_breakpoint(src, "lstm", True) for _ in range(1000)]) / 1000
    print(f"  Breakpoint.test, one step: {one * 1e6:.1f} µs; compile_breakpoint: {comp * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
