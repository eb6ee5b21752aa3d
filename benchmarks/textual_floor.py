"""What Textual itself costs on this machine to put a step's worth of changed cells on screen.

Run from the repository root (unset the OpenBLAS variables in this command only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/textual_floor.py              # 68 lines in 4 widgets
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/textual_floor.py --widgets 1 --lines 30
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/textual_floor.py --textual-filters --build

A bare app of ``--widgets`` Line-API widgets side by side at 160x50, nothing
else on screen (no borders, header, footer or other widgets): each "step"
replaces ``--lines`` lines in all (split among the widgets) with cells of
as many different RGB colours as a heatmap has, and is timed from the change
to its frame, escape codes included, as ``run.py`` times a step key. At
H = 1024, 2 layers and 160x50 a step of the app changes about 68 lines of
about 36 cells in 10 panels: the default here is about as many cells.

By default the lines are drawn as the app draws its heatmap rows: strips of
segments made before the step (the app keeps a segment for each colour) and
the app's line filters (``widgets.filters.skipping``: no ANSI-to-RGB pass
over cells already in RGB). ``--build`` makes each line's segments in the
step, ``--textual-filters`` keeps Textual's own filters: both as the first
version of this benchmark did, which overstated the floor.

Nothing here is asserted: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from textual.app import App
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lstm_tui.widgets.filters import skipping  # noqa: E402

STYLES = [Style(color=f"rgb({i},{255 - i},{i * 7 % 256})", bgcolor=f"rgb({i * 3 % 256},{i},{255 - i})") for i in range(256)]


class Board(Widget):
    DEFAULT_CSS = "Board { height: 1fr; width: 1fr; }"

    def __init__(self) -> None:
        super().__init__()
        self.frame = 0
        self.lines: dict[int, Strip] = {}

    def render_line(self, y: int) -> Strip:
        return self.lines.get(y) or Strip.blank(self.size.width)

    def step(self, lines: int, build: bool) -> None:
        self.frame += 1
        w, n = self.size.width, min(lines, self.size.height)
        for y in range(n):
            phase = (y + self.frame) % 256
            strip = None if build else MADE.get((w, phase))
            if strip is None:
                strip = MADE[w, phase] = _line(w, phase)
            self.lines[y] = strip
        self.refresh(Region(0, 0, w, n))


MADE: dict[tuple[int, int], Strip] = {}  # (width, phase) -> a line made before the steps


def _line(width: int, phase: int) -> Strip:
    return Strip([Segment("█", STYLES[(x + phase) % 256]) for x in range(width)], width)


class Floor(App):
    CSS = "Screen { layout: horizontal; }"

    def __init__(self, widgets: int, textual_filters: bool = False) -> None:
        super().__init__()
        self.widgets, self.textual_filters = widgets, textual_filters

    def get_line_filters(self):
        filters = super().get_line_filters()
        return filters if self.textual_filters else skipping(filters)

    def compose(self):
        for _ in range(self.widgets):
            yield Board()


async def measure(
    widgets: int, lines: int, steps: int, build: bool = False, textual_filters: bool = False
) -> list[float]:
    app = Floor(widgets, textual_filters)
    frames: list[float] = []
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        if not build:
            for board in app.query(Board):
                for phase in range(256):
                    MADE[board.size.width, phase] = _line(board.size.width, phase)

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
                board.step(lines // widgets, build)
            while not (len(frames) > n0 and time.perf_counter() - frames[-1] > 0.02):
                await asyncio.sleep(0.002)
            times.append(frames[-1] - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widgets", type=int, default=4, help="Line-API widgets side by side (default 4)")
    parser.add_argument("--lines", type=int, default=68, help="lines changed a step, in all (default 68)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--build", action="store_true", help="make each line's segments in the step")
    parser.add_argument("--textual-filters", action="store_true", help="Textual's line filters, not the app's")
    args = parser.parse_args()
    t0 = time.perf_counter()
    sum(range(10000))
    yardstick = (time.perf_counter() - t0) * 1e6
    times = sorted(asyncio.run(measure(args.widgets, args.lines, args.steps, args.build, args.textual_filters)))
    cells = args.lines // args.widgets * args.widgets * (160 // args.widgets)
    print(f"CPU: sum(range(10000)) takes {yardstick:.0f} µs (a yardstick for comparing machines)")
    made = (("segments made in the step", args.build), ("Textual's filters", args.textual_filters))
    how = ", ".join(what for what, on in made if on)
    print(f"{args.lines} lines in {args.widgets} widget(s), about {cells:,} cells of many colours, 160x50"
          f"{' (' + how + ')' if how else ''}: "
          f"median {statistics.median(times) * 1e3:.1f} ms, p95 {times[int(0.95 * len(times))] * 1e3:.1f} ms; "
          f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
