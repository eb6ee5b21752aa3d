"""The steps next to the current one drawn ahead, while the app waits for a key (Panel.warm, the app's
_warm_list): a step then finds its lines made. Warm lines must be exactly the lines a step would make."""

from __future__ import annotations

import numpy as np
from textual.app import App, ComposeResult
from textual.geometry import Region

from lstm_tui.app import LstmApp
from lstm_tui.core.registry import load_model
from lstm_tui.render.palette import Scale
from lstm_tui.render.panels import PANELS
from lstm_tui.widgets.panel import Panel

SPECS = {s.key: s for s in PANELS["lstm"]}
DIVERGING = Scale("blue-white-red", -1.0, 1.0)


class TwoPanels(App):
    """Two panels of one quantity, 40 cells wide: one is warmed before each step, the other is not."""

    CSS = "Panel { width: 40; }"

    def __init__(self, key: str) -> None:
        super().__init__()
        self.warmed, self.cold = Panel(SPECS[key], id="warmed"), Panel(SPECS[key], id="cold")

    def compose(self) -> ComposeResult:
        yield self.warmed
        yield self.cold


def _lines(panel: Panel) -> list[list]:
    return [list(strip) for strip in panel.render_lines(Region(0, 0, *panel.outer_size))]


async def test_a_warmed_step_draws_what_a_cold_one_draws_and_takes_the_warm_lines():
    app = TwoPanels("c")
    async with app.run_test(size=(90, 40)) as pilot:
        rng = np.random.default_rng(0)
        steps = [rng.uniform(-1, 1, 400) for _ in range(6)]  # taller than the panel shows: a scrollbar
        cases = [  # (values, the marked unit, numbers mode, direction blocks)
            (steps[0], 7, False, ()), (steps[1], 7, False, ()), (steps[2], 390, False, ()),  # it scrolls to 390
            (steps[3], 390, False, ()), (steps[4][:30], 3, True, ()), (steps[5][:40], 3, False, ("→", "←")),
        ]
        for panel in (app.warmed, app.cold):
            panel.show(cases[0][0], DIVERGING, cases[0][1], numbers=cases[0][2], parts=cases[0][3])
        await pilot.pause()
        used = 0
        for values, unit, numbers, parts in cases[1:]:
            app.warmed.warm(values, DIVERGING, unit, False, numbers, parts)
            made = list(app.warmed._built.values())
            for panel in (app.warmed, app.cold):
                panel.show(values, DIVERGING, unit, numbers=numbers, parts=parts)
            await pilot.pause()
            heat = app.warmed.heatmap
            rows = app.warmed._lines[heat.top : heat.top + heat.map.rows_shown]
            used += all(any(row is m for m in made) for row in rows)
            assert _lines(app.warmed) == _lines(app.cold)
            assert heat.map.scroll == app.cold.heatmap.map.scroll
        assert used >= 3  # the steps that kept the panel's height took every row from the warm lines


async def test_warming_the_output_panel_draws_its_top_tokens_ahead():
    app = TwoPanels("y")
    async with app.run_test(size=(90, 40)) as pilot:
        p = np.array([0.5, 0.3, 0.1, 0.05, 0.03, 0.02])
        rows = [("␠", 0.5), ("a", 0.3), ("b", 0.1), ("c", 0.05), ("d", 0.03)]
        for panel in (app.warmed, app.cold):
            panel.show(p, Scale("viridis", 0.0, 1.0), None, extra=rows)
        await pilot.pause()
        later = [("a", 0.6), ("␠", 0.2), ("b", 0.1), ("c", 0.05), ("e", 0.03)]
        before = len(app.warmed._drawn._kept)
        app.warmed.warm(p[::-1], Scale("viridis", 0.0, 1.0), None, extra=later)
        assert len(app.warmed._drawn._kept) == before + 1
        for panel in (app.warmed, app.cold):
            panel.show(p[::-1], Scale("viridis", 0.0, 1.0), None, extra=later)
        await pilot.pause()
        assert _lines(app.warmed) == _lines(app.cold)
        assert len(app.warmed._drawn._kept) == before + 1  # the step drew no text of its own


async def _screens(warm: bool, keys: list[str]) -> list[str]:
    """The screen after each key, with the app warming the steps around the current one or not."""
    app = LstmApp(load_model("random", hidden=300, seed=0, layers=2), text="the cat sat on the mat, and the dog ran.")
    if not warm:
        app._warm_list = lambda k: []
    shots = []
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.05)  # the warming between keys
            await pilot.pause()
            shots.append(app.export_screenshot())
    return shots


async def test_stepping_with_warm_lines_shows_what_stepping_without_them_shows(monkeypatch):
    """Forward, back, a unit, a layer, numbers mode: every screen as the app draws it without warming."""
    keys = ["n", "n", "p", "n", "j", "n", "l", "n", "p", "number_sign", "n", "n", "P", "n"]
    warmed = []
    warm = Panel.warm
    monkeypatch.setattr(Panel, "warm", lambda self, *a: warmed.append(warm(self, *a)))
    with_warm = await _screens(True, keys)
    assert len(warmed) >= 2 * len(keys)  # the panels of both steps around each one were warmed
    assert with_warm == await _screens(False, keys)


async def test_a_long_traces_window_is_not_recomputed_to_draw_ahead():
    """A checkpointed trace keeps a few windows: a step next to this one in a window that has left the
    cache is not drawn ahead (its recompute would hold a key up on the main thread)."""
    from lstm_tui.core import checkpoint

    model = load_model("random", hidden=16, seed=0)
    trace = checkpoint.checkpointed(model, "abcdefghij" * 4, window=8)
    app = LstmApp(model, text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        app.set_trace(trace)
        app.k = 7  # the last step of window 0
        await pilot.pause()
        computed = []
        compute = trace._store.windows.compute
        trace._store.windows.compute = lambda w: computed.append(w) or compute(w)
        trace._store.windows.clear()
        for call in app._warm_list(8) + app._warm_list(6):
            call()
        assert computed == []
        app.k = 9
        await pilot.pause(0.05)
        await pilot.pause()
        assert computed  # the step itself recomputes its window, and then draws the steps around it
        np.testing.assert_array_equal(app._panels[0].heatmap._values, trace.value(app._panels[0].spec.key, 0, 9))
