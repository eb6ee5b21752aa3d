"""Adding or removing a patch through the app (issue 12): from the key to the frame that shows it.

Run from the repository root, with the OpenBLAS variables unset for this command only::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/app_patch.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/app_patch.py --quick

One LSTM layer, H = 1024, T = 4,000 characters, 160×50, headless
(``App.run_test``), frames paid for as a terminal would (``render_segments``,
as in benchmarks/run.py's step latency). The app stands at step 3,990 with a
patch already at 3,980. Figures, each the median and worst of N:

- add: Enter in the ``!`` prompt (value 0 for the selected unit's c) to the
  last frame after the patched run (recomputed in a worker from step 3,990)
  reaches the screen;
- remove: ``d`` in the patch list (X) on that patch, to the last frame after
  the run with the patch at 3,980 alone reaches the screen.

The target is 100 ms. The load average is printed beside each figure: the
machine is shared. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from run import _after, _traced, _watch_frames  # noqa: E402  (benchmarks/run.py's frame clock)

TARGET = 0.1  # seconds from the key to the frame


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def text(T: int, seed: int = 0) -> str:
    import numpy as np

    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz  .,()")) for _ in range(T))


async def measure(T: int, H: int, repeat: int) -> dict:
    from textual import events

    from lstm_tui.app import LstmApp
    from lstm_tui.core import random_model
    from lstm_tui.core.interventions import Patch

    model = random_model(hidden=H, seed=0, embed=64)
    app = LstmApp(model, text=text(T))
    async with app.run_test(size=(160, 50)) as pilot:
        await _traced(app)
        await pilot.pause()
        app.k, app.unit = T - 21, 5
        app.patches.append(Patch(0, "c", 5, T - 21, 0.0))  # the patch already there
        app._recompute()
        while app.patching:
            await asyncio.sleep(0.01)
        app.k = T - 11
        await pilot.pause(0.2)
        frames = _watch_frames(app)

        async def until_shown(before, t0: float) -> float:
            """Wait for the app to take in a new patched run, then for the frames it causes."""
            while app.patching or app._patched is before:
                await asyncio.sleep(0.001)
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError("no patched run came")
            n = len(frames)
            split.append(time.perf_counter() - t0)
            while len(frames) <= n:  # the next frame holds everything the handler changed
                await asyncio.sleep(0.001)
            return frames[n] - t0

        adds, removes, split = [], [], []
        for _ in range(repeat):
            await pilot.press("exclamation_mark")
            await pilot.press("0")
            await pilot.pause(0.1)
            before, t0 = app._patched, time.perf_counter()
            app._driver.send_message(events.Key("enter", "\r"))
            adds.append(await until_shown(before, t0))
            assert len(app.patches) == 2 and app.trace.states["c"][0][T - 11][5] == 0
            await pilot.press("X")
            await pilot.pause(0.1)
            await pilot.press("down")  # the second patch, set last
            await pilot.pause(0.1)
            before, t0 = app._patched, time.perf_counter()
            app._driver.send_message(events.Key("d", "d"))
            removes.append(await until_shown(before, t0))
            assert len(app.patches) == 1
            await pilot.press("escape")
            await pilot.pause(0.2)
    print("patched run taken in after (ms):", [round(x * 1e3) for x in split])
    return {"add": adds, "remove": removes}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="T = 400, H = 256, 3 repeats: a smoke run")
    args = p.parse_args(argv)
    T, H, repeat = (400, 256, 3) if args.quick else (4000, 1024, 7)
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    print(f"{os.cpu_count()} cores, OpenBLAS variables set: {env or 'none'}  [{load()}]")
    out = asyncio.run(measure(T, H, repeat))
    for name, times in out.items():
        med, worst = statistics.median(times), max(times)
        verdict = "meets" if med <= TARGET else "misses"
        print(f"{name} a patch near the end through the app, H={H}, T={T}, 160x50: median {med * 1e3:.0f} ms, "
              f"worst {worst * 1e3:.0f} ms of {len(times)} ({verdict} the {TARGET * 1e3:.0f} ms target)  [{load()}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
