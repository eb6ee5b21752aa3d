"""What Textual itself costs on this machine to put a step's worth of changed cells on screen.

Run from the repository root (unset the OpenBLAS variables in this command only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/textual_floor.py              # 68 lines in 4 widgets
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/textual_floor.py --widgets 1 --lines 30

A bare app of ``--widgets`` Line-API widgets side by side at 160x50, nothing
else on screen (no borders, header, footer or other widgets): each "step"
replaces ``--lines`` lines in all (split among the widgets) with cells of
as many different RGB colours as a heatmap has, and is timed from the change
to its frame, escape codes included, as ``run.py`` times a step key. At
H = 1024, 2 layers and 160x50 a step of the app changes about 68 lines of
about 36 cells in 10 panels: the default here is about as many cells, so its
time is a floor under the app's step latency that no code of ours can go below
under this Textual.

Nothing here is asserted: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from rich.segment import Segment
from rich.style import Style
from textual.app import App
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

STYLES = [Style(color=f"rgb({i},{255 - i},{i * 7 % 256})", bgcolor=f"rgb({i * 3 % 256},{i},{255 - i})") for i in range(256)]


class Board(Widget):
    DEFAULT_CSS = "Board { height: 1fr; width: 1fr; }"

    def __init__(self) -> None:
        super().__init__()
        self.frame = 0
        self.lines: dict[int, Strip] = {}

    def render_line(self, y: int) -> Strip:
        return self.lines.get(y) or Strip.blank(self.size.width)

    def step(self, lines: int) -> None:
        self.frame += 1
        w, n = self.size.width, min(lines, self.size.height)
        for y in range(n):
            self.lines[y] = Strip([Segment("█", STYLES[(x + y + self.frame) % 256]) for x in range(w)], w)
        self.refresh(Region(0, 0, w, n))


class Floor(App):
    CSS = "Screen { layout: horizontal; }"

    def __init__(self, widgets: int) -> None:
        super().__init__()
        self.widgets = widgets

    def compose(self):
        for _ in range(self.widgets):
            yield Board()


async def measure(widgets: int, lines: int, steps: int) -> list[float]:
    app = Floor(widgets)
    frames: list[float] = []
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()

        def display(screen, update) -> None:
            if update is not None and hasattr(update, "render_segments"):
                update.render_segments(app.console)  # the escape codes a terminal would get
            frames.append(time.perf_counter())

        app._display = display
        times = []
        for _ in range(steps):
            await asyncio.sleep(0.04)  # as run.py's keys: Textual's 60 fps throttle holds nothing back
            n0, t0 = len(frames), time.perf_counter()
            for board in app.query(Board):
                board.step(lines // widgets)
            while not (len(frames) > n0 and time.perf_counter() - frames[-1] > 0.02):
                await asyncio.sleep(0.002)
            times.append(frames[-1] - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widgets", type=int, default=4, help="Line-API widgets side by side (default 4)")
    parser.add_argument("--lines", type=int, default=68, help="lines changed a step, in all (default 68)")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    t0 = time.perf_counter()
    sum(range(10000))
    yardstick = (time.perf_counter() - t0) * 1e6
    times = sorted(asyncio.run(measure(args.widgets, args.lines, args.steps)))
    cells = args.lines // args.widgets * args.widgets * (160 // args.widgets)
    print(f"CPU: sum(range(10000)) takes {yardstick:.0f} µs (a yardstick for comparing machines)")
    print(f"{args.lines} lines in {args.widgets} widget(s), about {cells:,} cells of many colours, 160x50: "
          f"median {statistics.median(times) * 1e3:.1f} ms, p95 {times[int(0.95 * len(times))] * 1e3:.1f} ms; "
          f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
