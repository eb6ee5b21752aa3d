"""Messages up: widgets ask (a token clicked, a heatmap cell clicked) and the app decides."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lstm_tui.app import LstmApp
from lstm_tui.core.registry import load_model
from lstm_tui.render.text import token_at, token_label, token_strip
from lstm_tui.widgets.messages import StepChosen, UnitChosen
from lstm_tui.widgets.panel import Panel
from lstm_tui.widgets.token_strip import TokenStrip


def make_app(text: str = "abcdefgh", **kw) -> LstmApp:
    return LstmApp(load_model("random", hidden=kw.pop("hidden", 8), seed=0, **kw), text=text)


@given(
    tokens=st.lists(st.text("ab c(", min_size=1, max_size=4), min_size=1, max_size=40),
    width=st.integers(4, 60),
    data=st.data(),
)
def test_token_at_finds_the_token_drawn_at_each_cell(tokens, width, data):
    tokens = tuple(tokens)
    unknown = np.array(data.draw(st.lists(st.booleans(), min_size=len(tokens), max_size=len(tokens))))
    k = data.draw(st.integers(0, len(tokens) - 1))
    text = token_strip(tokens, unknown, k, width)
    cells: dict[int, list[int]] = {}
    for x in range(len(text.plain) + 2):
        n = token_at(tokens, unknown, k, width, x)
        if n is not None:
            cells.setdefault(n, []).append(x)
    assert k in cells  # the current step is always drawn
    for n, xs in cells.items():
        assert xs == list(range(xs[0], xs[-1] + 1))  # one run of cells per token
        assert text.plain[xs[0] : xs[-1] + 1] == token_label(tokens[n]) + ("?" if unknown[n] else "")
    current = next(s for s in text.spans if "reverse" in str(s.style))
    assert (current.start, current.end) == (cells[k][0], cells[k][-1] + 1)
    assert token_at(tokens, unknown, k, width, 0) is None  # the leading "…" or space


async def test_clicking_a_token_goes_to_its_step():
    app = make_app()
    seen: list[int] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.watch(app, "k", lambda k: seen.append(k), init=False)
        strip = app.query_one(TokenStrip)
        await pilot.click(strip, offset=(1 + 1 + 2 * 5, 0))  # padding, the leading space, "a b c d e " before f
        await pilot.pause()
        assert app.k == 5 and seen == [5]
        await pilot.click(strip, offset=(1 + 1 + 2 * 5 + 1, 0))  # the gap after f: nothing asked
        await pilot.pause()
        assert app.k == 5


async def test_clicking_a_heatmap_cell_selects_its_unit_where_cells_are_units():
    app = make_app(hidden=8)
    async with app.run_test(size=(120, 40)) as pilot:
        heat = app.query_one("#panel-f", Panel).heatmap
        assert heat.cols == 8 and heat.cell_width == 2  # one row, two cells per unit
        await pilot.click(heat, offset=(2 * 6 + 1, 0))
        await pilot.pause()
        assert app.unit == 6 and heat._selected == 6
        await pilot.click(app.query_one("#panel-x", Panel).heatmap, offset=(2, 0))  # inputs: not units
        await pilot.pause()
        assert app.unit == 6


async def test_the_app_refuses_what_is_out_of_range():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        app.post_message(StepChosen(3))
        app.post_message(UnitChosen(2))
        await pilot.pause()
        assert (app.k, app.unit) == (3, 2)
        app.post_message(StepChosen(len("abcdefgh")))
        app.post_message(UnitChosen(8))
        app.post_message(UnitChosen(-1))
        await pilot.pause()
        assert (app.k, app.unit) == (3, 2)


async def test_the_breakpoint_list_asks_and_leaves_the_list_to_the_app():
    from textual.app import App

    from lstm_tui.core.breakpoints import compile_breakpoint
    from lstm_tui.widgets.breakpoints_screen import BreakpointsScreen

    bps = [compile_breakpoint("f[0] < 0.5", "lstm", True), compile_breakpoint("t > 2", "lstm", True)]
    heard = []

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(BreakpointsScreen(bps))

        def on_breakpoints_screen_toggled(self, m) -> None:
            heard.append(("toggled", m.index, m.enabled))

        def on_breakpoints_screen_deleted(self, m) -> None:
            heard.append(("deleted", m.index))

    async with Host().run_test() as pilot:
        await pilot.press("space", "down", "d")
        await pilot.pause()
    assert heard == [("toggled", 0, False), ("deleted", 1)]
    assert [bp.enabled for bp in bps] == [True, True]  # the screen only asked
