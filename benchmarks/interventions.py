"""Interventions (issue 12): patch, effect map, estimate, and how well the estimate ranks.

Run from the repository root, with the OpenBLAS variables unset for this command only::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/interventions.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/interventions.py --quick

Figures (core time only: the screen's part is measured once the app shows patches):

- add / remove a patch near the end: one LSTM layer, H = 1024, T = 4,000
  characters; a patch at step 3,990 added to a run that already has one at
  3,980, and removed again (the run with the one at 3,980 alone), each through
  :func:`intervene` from the clean trace. Best of N.
- exact effect map: T = 64, H = 256, 2 LSTM layers, c of layer 1 set to 0,
  target step 64: :meth:`EffectMap.run` (every (step, unit) of layer 1),
  against one :func:`intervene` per (step, unit) on the same clean trace,
  measured in the same run. The single runs are a uniform random sample of
  (step, unit) pairs (``--sample``, 128 by default), and their mean time is
  scaled to all 64 × 256 pairs (the mean of a uniform sample is an unbiased
  estimate of the whole), as saying so is cheaper than 16,384 runs.
- estimate: :meth:`EffectMap.estimate` against one backward pass
  (``gradients.target_gradients`` of the same target), best of N each.
- Spearman: the rank correlation of estimate and exact map, every
  quantity of every shipped demo on its example text, value 0, target its
  last step (the rows up to the target).

Every figure prints the load average beside it: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lstm_tui.core import random_model  # noqa: E402
from lstm_tui.core.gradients import target_gradients  # noqa: E402
from lstm_tui.core.interventions import EffectMap, Patch, intervene, spearman  # noqa: E402
from lstm_tui.core.registry import load_model  # noqa: E402


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def text(T: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz  .,()")) for _ in range(T))


def patch_figures(T: int, H: int, repeat: int) -> None:
    model = random_model(hidden=H, seed=0, embed=64)
    clean = model.trace(text(T))
    first = Patch(0, "c", 5, T - 20, 0.0)
    second = Patch(0, "h", None, T - 10, 0.5)
    one = intervene(model, clean, [first])
    add = best(lambda: intervene(model, clean, [first, second]), repeat)
    print(f"add a patch at step {T - 10} (another at {T - 20}), H={H}, T={T}: {add * 1e3:.0f} ms  [{load()}]")
    remove = best(lambda: intervene(model, clean, [first]), repeat)
    print(f"remove it again (the run with the one at {T - 20}):         {remove * 1e3:.0f} ms  [{load()}]")
    copy = best(lambda: [np.copy(v) for v in (*clean.states.values(), clean.hW)], repeat)
    print(f"  of which copying the clean trace's arrays:               {copy * 1e3:.0f} ms  [{load()}]")
    del one


def effect_figures(T: int, H: int, layers: int, sample: int, repeat: int) -> None:
    model = random_model(hidden=H, seed=0, layers=layers, embed=64)
    clean = model.trace(text(T, 1))
    k = T - 1

    def exact():
        return EffectMap(model, clean, "c", 0, 0.0, k).run()

    t_exact = best(exact, repeat)
    print(f"exact effect map, T={T}, H={H}, {layers} layers (c of layer 1 = 0, target step {T}): "
          f"{t_exact:.2f} s (target <= 10 s)  [{load()}]")
    rng = np.random.default_rng(0)
    em = EffectMap(model, clean, "c", 0, 0.0, k)
    pairs = [(int(rng.integers(0, k + 1)), int(rng.integers(0, H))) for _ in range(sample)]
    t0 = time.perf_counter()
    for s, j in pairs:
        tr = intervene(model, clean, [Patch(0, "c", j, s, 0.0)])
        tr.logits[k]
    mean = (time.perf_counter() - t0) / sample
    total = mean * (k + 1) * H
    print(f"one patched run per (step, unit): {mean * 1e3:.2f} ms each (mean of {sample} random pairs), "
          f"x {(k + 1) * H} pairs = {total:.1f} s  [{load()}]")
    print(f"  exact map is {total / t_exact:.0f}x faster (target >= 20x)")
    check = [em.effect]
    del check
    t_est = best(em.estimate, repeat)
    t_back = best(lambda: target_gradients(model, clean, em.token, k), repeat)
    print(f"estimate: {t_est * 1e3:.1f} ms, one backward pass {t_back * 1e3:.1f} ms: "
          f"{t_est / t_back:.2f}x (target <= 2x)  [{load()}]")


def spearman_table() -> None:
    print(f"\nSpearman rank correlation of estimate and exact map (value 0, target: the last step)  [{load()}]")
    print("| demo | steps | " + " | ".join("ifgoch") + " |")
    print("| --- | --- |" + " --- |" * 6)
    for name in ("brackets", "charlm", "copy"):
        model = load_model(name)
        clean = model.trace(model.meta.get("example", "the cat sat on the mat."))
        k = clean.steps - 1
        cells = []
        for q in ("i", "f", "g", "o", "c", "h"):
            em = EffectMap(model, clean, q, 0, 0.0, k)
            cells.append(f"{spearman(em.run()[: k + 1], em.estimate()[: k + 1]):.2f}")
        print(f"| {name} | {clean.steps} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes, one repeat: a smoke run")
    p.add_argument("--sample", type=int, default=128, help="single patched runs timed for the baseline")
    args = p.parse_args(argv)
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    print(f"{os.cpu_count()} cores, numpy {np.__version__}, OpenBLAS variables set: {env or 'none'}  [{load()}]")
    if args.quick:
        patch_figures(400, 256, 1)
        effect_figures(16, 64, 2, 32, 1)
    else:
        patch_figures(4000, 1024, 5)
        effect_figures(64, 256, 2, args.sample, 3)
    spearman_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
