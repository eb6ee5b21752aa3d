"""Where a step's (or a jump's) time goes, through the app: a breakdown beside benchmarks/run.py.

Run from the repository root (unset the OpenBLAS variables in this command only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/step_parts.py            # H=1024, 2 layers, V=10,000, 160x50
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/step_parts.py --jumps    # T=100,000, H=128, checkpointed

Steps: keys 40 ms apart, each timed from the key event to the last frame it
causes (escape codes included), as ``run.py`` does; besides the wall time it
prints the main thread's CPU time from the key to that frame, which a loaded
machine disturbs less, and the CPU time a step spends in each part (the
app's ``refresh_view`` and the widgets it calls, Textual's layout and
compositor, writing the escape codes). The trace is computed before the
app starts, so no worker runs while the keys are timed. Between keys the app
draws the steps next to the current one ahead (``LstmApp._warm_list``);
``--cold`` turns that off: the cost of a step drawn cold, as when keys come
faster than the app can draw ahead, or the step is a jump. ``--widgets`` adds
the CPU time of each widget's lines in a frame (its ``render_lines``).

Jumps: Home, End and random steps of a checkpointed trace, each to its first
frame (the step on screen) and to its last (the history's text around it
coloured: the windows it crosses besides the step's are recomputed after the
first frame), with the windows recomputed per jump and how many of them
before the first frame.

Nothing here is asserted: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SPENT: defaultdict[str, float] = defaultdict(float)  # part -> main-thread CPU seconds
LINES: defaultdict[str, list] = defaultdict(lambda: [0.0, 0])  # widget -> [CPU seconds, lines] of its render_lines


def _timed(cls, name: str, label: str) -> None:
    """Wrap ``cls.name`` so that its thread CPU time adds up in SPENT[label]."""
    inner = getattr(cls, name)

    def timed(*args, **kwargs):
        t0 = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            SPENT[label] += time.thread_time() - t0

    setattr(cls, name, timed)


def _instrument() -> None:
    from textual.screen import Screen

    from lstm_tui.app import LstmApp
    from lstm_tui.widgets.history_view import HistoryView
    from lstm_tui.widgets.steps_view import StepsView
    from lstm_tui.widgets.token_strip import TokenStrip
    from lstm_tui.widgets.unit_view import UnitView

    _timed(LstmApp, "refresh_view", "app.refresh_view")
    _timed(StepsView, "show", "  panels (StepsView.show)")
    _timed(HistoryView, "show", "    history under the panels")
    _timed(UnitView, "show", "  unit view")
    _timed(TokenStrip, "show", "  token strip")
    _timed(LstmApp, "status_line", "  status line")
    _timed(Screen, "_refresh_layout", "Textual layout")
    _timed(Screen, "_compositor_refresh", "Textual compositor")


def _per_widget() -> None:
    """Time each widget's ``render_lines`` (what the compositor asks of it in a frame) in LINES."""
    from textual.widget import Widget

    from lstm_tui.widgets.framing import FramedLines

    depth = [0]

    def timed(inner):
        def render_lines(self, crop):
            depth[0] += 1
            t0 = time.thread_time()
            try:
                return inner(self, crop)
            finally:
                depth[0] -= 1
                if not depth[0]:  # the compositor's call (a framed widget asks Textual for its border lines)
                    kept = LINES[f"{type(self).__name__}#{self.id}" if self.id else type(self).__name__]
                    kept[0] += time.thread_time() - t0
                    kept[1] += crop.height
        return render_lines

    FramedLines.render_lines = timed(FramedLines.render_lines)
    Widget.render_lines = timed(Widget.render_lines)


def _frames(app) -> tuple[list[float], list[float]]:
    """Record each frame's wall and CPU time, paying for its escape codes as run.py does."""
    wall: list[float] = []
    cpu: list[float] = []

    def display(screen, update) -> None:
        t0 = time.thread_time()
        if update is not None and hasattr(update, "render_segments"):
            update.render_segments(app.console)
        cpu.append(time.thread_time())
        SPENT["escape codes"] += cpu[-1] - t0
        wall.append(time.perf_counter())

    app._display = display
    return wall, cpu


async def _after(frames: list[float], n0: int, quiet: float = 0.03) -> int:
    """Wait for the frames after the n0-th to stop coming; the index of the last one."""
    while not (len(frames) > n0 and time.perf_counter() - frames[-1] >= quiet):
        await asyncio.sleep(0.005)
    return len(frames) - 1


def _report(times: list[float], cpu: list[float], n: int, what: str) -> None:
    times, cpu = sorted(times), sorted(cpu)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(f"{what}: median {statistics.median(times) * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms, "
          f"worst {times[-1] * 1e3:.1f} ms; main-thread CPU median {statistics.median(cpu) * 1e3:.1f} ms; "
          f"load {os.getloadavg()[0]:.1f}")
    for part, seconds in SPENT.items():
        print(f"  {part:30s} {seconds / n * 1e3:6.2f} ms CPU each")
    if LINES:
        print("  each widget's lines (render_lines), the most costly first:")
        for name, (seconds, lines) in sorted(LINES.items(), key=lambda kv: -kv[1][0])[:12]:
            print(f"    {name:28s} {seconds / n * 1e3:6.2f} ms CPU, {lines / n:5.1f} lines each")


def steps(hidden: int, layers: int, vocab: int, cols: int, rows: int, keys: int) -> None:
    from textual import events

    import run as bench
    from lstm_tui.app import LstmApp
    from lstm_tui.core import tracing

    model = bench._word_model(hidden, layers, vocab)
    text = bench._words(400, vocab)
    trace = tracing.trace(model, text, tracing.FULL_TRACE_BYTES)

    async def go() -> None:
        app = LstmApp(model, text="w1")
        async with app.run_test(size=(cols, rows)) as pilot:
            app.text = text
            app.set_trace(trace)
            await pilot.pause()
            await asyncio.sleep(0.5)
            wall, cpu = _frames(app)
            times, used = [], []
            SPENT.clear()
            LINES.clear()
            for _ in range(keys):
                await asyncio.sleep(0.04)
                n0, t0, c0 = len(wall), time.perf_counter(), time.thread_time()
                app._driver.send_message(events.Key("n", "n"))
                last = await _after(wall, n0)
                times.append(wall[last] - t0)
                used.append(cpu[last] - c0)
            _report(times, used, keys, f"step H={hidden}, {layers} layers, V={vocab:,}, {cols}x{rows}, {keys} keys")

    asyncio.run(go())


def jumps(steps_: int, hidden: int, n: int, compiled: bool) -> None:
    import numpy as np
    from textual import events

    from lstm_tui.app import LstmApp
    from lstm_tui.core import checkpoint, random_model

    import run as bench

    computes = [0]
    when: list[float] = []  # when each recompute started
    before = [0]  # recomputes before a jump's first frame, summed
    compute = checkpoint.Store.compute

    def counted(self, w):
        computes[0] += 1
        when.append(time.perf_counter())
        return compute(self, w)

    def computed_before(t0: float, t1: float) -> int:
        return sum(t0 <= t < t1 for t in when)

    checkpoint.Store.compute = counted
    model = random_model(hidden=hidden, seed=0, dtype="float32")
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz .,;()"), steps_).tolist())
    try:
        from lstm_tui.core import compiled as loop
    except ImportError:  # a copy without the compiled loop
        trace = checkpoint.checkpointed(model, text)
    else:
        if compiled:
            loop.warm_up(wait=True)
        with loop.using(compiled):
            trace = checkpoint.checkpointed(model, text)

    async def go() -> None:
        app = LstmApp(model, text="ab")
        async with app.run_test(size=(160, 50)) as pilot:
            app.set_trace(trace)
            await pilot.pause()
            wall, cpu = _frames(app)
            pushed = bench._watch_views(app)
            times, used, firsts = [], [], []
            moves = ["end", "home"] + [int(k) for k in rng.integers(0, steps_, n)]
            SPENT.clear()
            LINES.clear()
            computes[0] = 0
            for move in moves:
                await asyncio.sleep(0.05)
                n0, t0, c0 = len(wall), time.perf_counter(), time.thread_time()
                if isinstance(move, str):
                    app._driver.send_message(events.Key(move, None))
                else:
                    app.k = move  # what go-to-step does with the number typed
                await bench._filled(app, wall, n0)  # the history's text coloured too
                last = len(wall) - 1
                times.append(wall[last] - t0)
                used.append(cpu[last] - c0)
                firsts.append(bench._first_frame(wall, pushed, t0) - t0)
                before[0] += computed_before(t0, bench._first_frame(wall, pushed, t0))
            loop_name = "compiled loop" if compiled else "NumPy loop"
            _report(times, used, len(moves), f"jump T={steps_:,}, H={hidden}, 160x50, {loop_name}, {len(moves)} jumps, to the last frame")
            print(f"  to the first frame (the step shown): median {statistics.median(firsts) * 1e3:.1f} ms, "
                  f"worst {max(firsts) * 1e3:.1f} ms")
            print(f"  windows recomputed per jump: {computes[0] / len(moves):.2f}, "
                  f"of which before its first frame {before[0] / len(moves):.2f}")

    asyncio.run(go())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jumps", action="store_true", help="time jumps on a checkpointed trace instead of steps")
    parser.add_argument("--keys", type=int, default=60)
    parser.add_argument("--cold", action="store_true", help="steps without the steps around drawn ahead")
    parser.add_argument("-T", type=int, default=100_000, help="steps of the checkpointed trace (--jumps)")
    parser.add_argument("--numpy", action="store_true", help="jumps with NumPy's loop, not the compiled one")
    parser.add_argument("--small", action="store_true", help="steps at H=64, one layer, V=100, 80x24")
    parser.add_argument("--widgets", action="store_true", help="also each widget's share of the compositor's time")
    args = parser.parse_args(argv)
    if args.numpy:  # as run.py's NumPy child: the app would otherwise compile numba's loop in the background meanwhile
        os.environ["LSTM_TUI_COMPILED"] = "0"
    _instrument()
    if args.widgets:
        _per_widget()
    if args.cold:
        from lstm_tui.app import LstmApp

        LstmApp._warm_list = lambda self, k: []
    import run as bench

    print(f"CPU: {bench._yardstick()} (a yardstick for comparing machines)")
    if args.jumps:
        jumps(args.T, 128, 20, compiled=not args.numpy)
    elif args.small:
        steps(64, 1, 100, 80, 24, args.keys)
    else:
        steps(1024, 2, 10_000, 160, 50, args.keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
