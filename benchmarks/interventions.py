"""Interventions (issue 12): patch, effect map, estimate, and how well the estimate ranks.

Run from the repository root, with the OpenBLAS variables unset for this command only::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/interventions.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/interventions.py --quick

Figures (core time only: the screen's part is measured once the app shows patches):

- add / remove a patch near the end: one LSTM layer, H = 1024, T = 4,000
  characters; a patch at step 3,990 added to a run that already has one at
  step 101, and removed again, each through :func:`intervene` with the
  previous patched run as ``base`` (as the app's patch list will); and the
  same run without a base, which recomputes from step 101. Best of N.
- exact effect map: T = 64, H = 256, 2 LSTM layers, c of layer 1 set to 0,
  target step 64: :meth:`EffectMap.run` (every (step, unit) of layer 1),
  against one :func:`intervene` per (step, unit) on the same clean trace,
  measured in the same run. The single runs are a uniform random sample of
  (step, unit) pairs (``--sample``, 192 by default), and their mean time is
  scaled to all 64 × 256 pairs (the mean of a uniform sample is an unbiased
  estimate of the whole), as saying so is cheaper than 16,384 runs. The map
  and a third of the sample alternate for three rounds, as the machine's load
  moves; each side keeps its best round.
- ``--blas-threads 1`` limits NumPy's BLAS to one thread (threadpoolctl): on a
  machine whose cores are busy with other work, two BLAS threads wait for
  each other.
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
    early = Patch(0, "c", 5, 100, 0.0)  # a patch already in the list, early in the sequence
    late = Patch(0, "h", None, T - 10, 0.5)  # the one added and removed, near the end
    base = intervene(model, clean, [early])
    both = intervene(model, clean, [early, late])
    full = best(lambda: intervene(model, clean, [early, late]), max(1, repeat // 2))
    add = best(lambda: intervene(model, clean, [early, late], base=base, base_patches=[early]), repeat)
    remove = best(lambda: intervene(model, clean, [early], base=both, base_patches=[early, late]), repeat)
    print(f"add a patch at step {T - 10} (another at step 101), H={H}, T={T}: {add * 1e3:.0f} ms  [{load()}]")
    print(f"remove it again:                                              {remove * 1e3:.0f} ms  [{load()}]")
    copy = best(lambda: [np.copy(v) for v in (*clean.states.values(), clean.hW)], repeat)
    print(f"  of which copying the trace's arrays:                        {copy * 1e3:.0f} ms  [{load()}]")
    print(f"  the same run without the base (from step 101):              {full * 1e3:.0f} ms  [{load()}]")


def effect_figures(T: int, H: int, layers: int, sample: int, rounds: int) -> None:
    """The exact map and the single runs alternate for a few rounds (the load moves): best of each."""
    model = random_model(hidden=H, seed=0, layers=layers, embed=64)
    clean = model.trace(text(T, 1))
    k = T - 1
    em = EffectMap(model, clean, "c", 0, 0.0, k)
    rng = np.random.default_rng(0)
    pairs = [(int(rng.integers(0, k + 1)), int(rng.integers(0, H))) for _ in range(sample)]
    per = max(1, sample // rounds)
    t_exact = t_single = float("inf")
    for r in range(rounds):
        t0 = time.perf_counter()
        EffectMap(model, clean, "c", 0, 0.0, k).run()
        t_exact = min(t_exact, time.perf_counter() - t0)
        print(f"  round {r + 1}: exact map {time.perf_counter() - t0:.2f} s  [{load()}]")
        t0 = time.perf_counter()
        for s, j in pairs[r * per : (r + 1) * per]:
            intervene(model, clean, [Patch(0, "c", j, s, 0.0)]).logits[k]
        mean = (time.perf_counter() - t0) / per
        t_single = min(t_single, mean)
        print(f"  round {r + 1}: one patched run {mean * 1e3:.2f} ms (mean of {per})  [{load()}]")
    total = t_single * (k + 1) * H
    print(f"exact effect map, T={T}, H={H}, {layers} layers (c of layer 1 = 0, target step {T}): "
          f"{t_exact:.2f} s (target <= 10 s)  [{load()}]")
    print(f"one patched run per (step, unit): {t_single * 1e3:.2f} ms each (best round's mean over random pairs), "
          f"x {(k + 1) * H} pairs = {total:.1f} s")
    print(f"  exact map is {total / t_exact:.0f}x faster (target >= 20x)")
    t_est = t_back = float("inf")
    for _ in range(9):  # alternating, so both see the same moments of the load
        t_est = min(t_est, best(em.estimate, 1))
        t_back = min(t_back, best(lambda: target_gradients(model, clean, em.token, k), 1))
    print(f"estimate: {t_est * 1e3:.1f} ms, one backward pass {t_back * 1e3:.1f} ms: "
          f"{t_est / t_back:.2f}x (target <= 2x)  [{load()}]")


def spearman_table() -> None:
    from lstm_tui.core.cells import QUANTITIES
    from lstm_tui.core.registry import DEMOS

    print(f"\nSpearman rank correlation of estimate and exact map (value 0, target: the last step)  [{load()}]")
    print("| demo | cell | steps | quantity: ρ |")
    print("| --- | --- | --- | --- |")
    for name in DEMOS:
        model = load_model(name)
        clean = model.trace(model.meta.get("example", "the cat sat on the mat."))
        k = clean.steps - 1
        cells = []
        for q in QUANTITIES[model.cell]:
            em = EffectMap(model, clean, q, 0, 0.0, k)
            cells.append(f"{q} {spearman(em.run()[: k + 1], em.estimate()[: k + 1]):.2f}")
        print(f"| {name} | {model.cell} | {clean.steps} | " + ", ".join(cells) + " |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes, one repeat: a smoke run")
    p.add_argument("--sample", type=int, default=192, help="single patched runs timed for the baseline")
    p.add_argument("--blas-threads", type=int, help="limit NumPy's BLAS to this many threads (needs threadpoolctl)")
    args = p.parse_args(argv)
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
        print(f"BLAS limited to {args.blas_threads} thread(s)")
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
