"""The shortcuts that keep a step fast draw what the plain way would (no clocks here).

- panels off screen are not redrawn on a step, but are when scrolled to;
- a heatmap builds only the rows it draws, each the row ``heatmap_lines`` gives;
- a Static updated without a layout still grows when its text needs more lines.
"""

from __future__ import annotations

import numpy as np

from lstm_tui.app import LstmApp
from lstm_tui.core.registry import load_model
from lstm_tui.render.heatmap import as_text, heatmap_lines, number_lines
from lstm_tui.render.palette import Scale
from lstm_tui.widgets.panel import Panel


def make_app(**kw) -> LstmApp:
    return LstmApp(load_model("random", hidden=kw.pop("hidden", 8), seed=0, **kw), text="the cat sat on the mat.")


async def test_panels_off_screen_catch_up_when_scrolled_to():
    app = make_app(hidden=40)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "n", "n")
        last = app._panels[-1]  # the output panel, far below an 80x24 screen
        assert last in app._stale_panels
        await pilot.press("pagedown", "pagedown", "pagedown", "pagedown")
        await pilot.pause()
        assert last not in app._stale_panels
        np.testing.assert_array_equal(last.heatmap._values, app.trace.value("y", 0, 3))
        for panel in app._panels:  # every panel on screen shows the current step
            if panel not in app._stale_panels and panel.spec.key in app.trace.quantities:
                np.testing.assert_array_equal(panel.heatmap._values, app.trace.value(panel.spec.key, 0, 3))


async def test_heatmap_rows_are_the_lines_of_heatmap_lines():
    app = make_app(hidden=300)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "j", "j")
        heat = app.query_one("#panel-c", Panel).heatmap
        want = heatmap_lines(heat._values, heat._scale, heat.cols, heat.cell_width, heat._selected)
        assert len(heat._strips) == len(want) > 6  # more rows than the panel shows
        for row in (0, len(want) - 1, 3):
            assert "".join(s.text for s in heat._strips[row]) == as_text([want[row]])[0]
            assert [s.style for s in heat._strips[row]] == [s.style for s in want[row]]
        await pilot.press("number_sign")
        want = number_lines(heat._values, heat._scale, heat.cols, heat._selected)
        assert "".join(s.text for s in heat._strips[1]) == as_text([want[1]])[0]


async def test_a_static_grows_when_its_text_needs_more_lines():
    from rich.text import Text

    from lstm_tui.widgets.update import update

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = next(p for p in app._panels if p.spec.key == "y")
        await pilot.pause()
        before = panel.extra.size.height
        update(panel.extra, Text("word " * 200))
        await pilot.pause()
        assert panel.extra.size.height > before


async def test_a_static_asks_for_a_layout_only_when_its_text_may_need_more_lines():
    from rich.text import Text

    from lstm_tui.widgets.update import update

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        unit = app.query_one("#unit")
        lines = unit.content_region.height
        layouts = []
        real = unit.refresh
        unit.refresh = lambda *a, **kw: layouts.append(kw.get("layout", False)) or real(*a, **kw)
        update(unit, Text("\n".join(["short line"] * lines)))  # as many lines, each narrower than the box
        assert True not in layouts
        update(unit, Text("\n".join(["short line"] * (lines + 1))))  # one more line: laid out again
        assert layouts[-1] is True
        await pilot.pause()
        assert unit.content_region.height == lines + 1
        width, lines = unit.content_region.width, lines + 1
        layouts.clear()
        tabbed = "\t".join(["x"] * (width // 8 + 2))  # tabs: drawn 8 cells wide, so it wraps
        update(unit, Text("\n".join(["short line"] * (lines - 1) + [tabbed])))
        assert layouts[-1] is True


def test_heatmap_lines_unchanged_by_rows():
    values = np.linspace(-1, 1, 11)
    lines = heatmap_lines(values, Scale("blue-white-red", -1, 1), cols=4, cell_width=2, selected=9)
    assert as_text(lines) == ["        ", "        ", "  ◆   "]  # the last row is short


async def test_the_history_map_moves_only_its_marker_and_stays_what_a_full_redraw_gives():
    from lstm_tui.core import explain
    from lstm_tui.render.history import history_lines, robust_range, unit_scales
    from lstm_tui.render.panels import scale
    from lstm_tui.widgets.lines_view import LinesView

    app = LstmApp(load_model("random", hidden=12, seed=0), text="the quick brown fox jumps over the lazy dog. " * 8)
    async with app.run_test(size=(120, 50)) as pilot:
        view = app.query_one("#timeline")
        assert view.display  # a tall screen shows the history under the panels
        lines = view.query_one("#history-map", LinesView)
        for keys in (["n"] * 40, ["end"], ["down"], ["home", "n"]):
            await pilot.press(*keys)
            width = max(8, view.content_region.width - 6 - 2)
            if lines.virtual_size.height > lines.size.height:  # the map scrolls: its scrollbar takes cells
                width -= lines.styles.scrollbar_size_vertical
            full = explain.history(app.trace, "c", 0)
            values, edges = explain.bin_time(full, width, how="maxabs")
            spec = next(p.spec for p in app._panels if p.spec.key == "c")
            cw = max(1, min(view.MAX_CELL_WIDTH, width // values.shape[1]))
            scales = unit_scales(*robust_range(full), scale(app.trace, spec, 0, app.palette))  # each unit's range
            col = explain.bin_of(edges, app.k)
            want = history_lines(values, scales, col, app.unit, False, cw, view.unit_height)
            got = ["".join(s.text for s in strip) for strip in lines._strips[:-1]]  # less the legend
            assert got == ["".join(s.text for s in line) for line in want]
            assert [s.style for s in lines._strips[3]] == [s.style for s in want[3]]


async def test_a_panel_partly_on_screen_shows_what_changed_even_when_its_heatmap_is_off_screen():
    """At 80x24 the second row of gates shows its top lines only: numbers mode off again, or another
    model of the same cell, must reach those lines too (they kept the old mode or model until a step)."""
    from test_app import screen_text

    app = LstmApp(load_model("charlm"), text="Beautiful is better than ugly.")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "n", "number_sign")
        await pilot.pause()
        await pilot.press("number_sign")
        await pilot.pause()
        shown = screen_text(app)
        await pilot.press("n", "p")  # the same step drawn by steps: every panel on screen drawn again
        await pilot.pause()
        assert screen_text(app) == shown
        await pilot.press("o", *"copy", "enter")  # another LSTM with a head: the same panels, new numbers
        await pilot.pause(0.3)
        assert app.model.name == "copy"
        shown = screen_text(app)
        await pilot.press("n", "p")
        await pilot.pause()
        assert screen_text(app) == shown
