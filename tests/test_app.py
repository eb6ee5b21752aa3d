"""Every key of the app, end to end through Pilot, asserting on the app's state."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from textual.widgets import Input, Static

from lstm_tui.app import SPEEDS, LstmApp
from lstm_tui.core.registry import load_model
from lstm_tui.widgets.breakpoints_screen import BreakpointsScreen
from lstm_tui.widgets.help_screen import HelpScreen, keys_table
from lstm_tui.widgets.panel import Panel
from lstm_tui.widgets.watches import Watches

TEXT = "the cat sat."
DATA_KERAS = Path(__file__).parent / "data" / "keras"


def make_app(text: str = TEXT, **kw) -> LstmApp:
    return LstmApp(load_model("random", hidden=kw.pop("hidden", 8), seed=0, **kw), text=text)


async def test_opens_ready_to_step():
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        assert app.focused is None  # stepping keys are live at once
        assert app.k == 0 and app.trace.steps == len(TEXT)
        await pilot.press("n")
        assert app.k == 1


@pytest.mark.parametrize("keys,expected", [(("right",), 1), (("n", "n"), 2), (("n", "n", "left"), 1), (("n", "p"), 0)])
async def test_next_and_previous(keys, expected):
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press(*keys)
        assert app.k == expected


async def test_edges_stay_in_range():
    app = make_app("abc")
    async with app.run_test() as pilot:
        await pilot.press("p", "left")
        assert app.k == 0
        await pilot.press("end")
        assert app.k == 2
        await pilot.press("n", "right")
        assert app.k == 2
        await pilot.press("home")
        assert app.k == 0


async def test_empty_sequence_keys_do_nothing():
    app = make_app("")
    async with app.run_test() as pilot:
        await pilot.press("n", "p", "end", "home", "space", "down")
        assert app.k == 0 and not app.playing
        assert "empty" in app.status_line()


def screen_text(app) -> str:
    """What the screen shows, as text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_an_emptied_sequence_leaves_nothing_of_the_last_one_on_any_view():
    """History, unit search, watches: each says the sequence is empty instead of showing the last one."""
    app = LstmApp(load_model("brackets"), text="(()(()))((()()(())))().")
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("W", *"c[12]", "enter", "3")
        await pilot.pause()
        await pilot.press("s", *"3-5 > 0.5", "enter")
        await pilot.pause(0.3)
        old = " ".join(app.trace.tokens[:8])  # as the history's text and the token strip show it
        await pilot.press("4")
        await pilot.pause(0.2)
        assert "units c > 0.5 in steps 3-5" in screen_text(app)  # the search's result
        await pilot.press("slash", "ctrl+a", "ctrl+k", "enter", "escape")
        await pilot.pause()
        assert app.steps == 0
        for view in "123456":
            await pilot.press(view)
            await pilot.pause(0.2)
            screen = screen_text(app)
            assert old not in screen and "steps 3-5" not in screen, view
        await pilot.press("3")
        await pilot.pause(0.2)
        assert "empty sequence" in screen_text(app) and "c[12]  n/a here" in screen_text(app)


async def test_a_history_map_that_scrolls_keeps_its_last_bins_and_the_step_marker_in_view():
    """At 80×24, 64 units do not fit the map's lines, so it scrolls: its scrollbar must not cover the
    last bins of time, where the ▼ of the last step is."""
    app = LstmApp(load_model("charlm"), text="Beautiful is better than ugly. " * 40)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3", "end")
        await pilot.pause(0.3)
        lines = app.query_one("#history-map")
        assert lines.virtual_size.height > lines.size.height  # it scrolls
        assert lines.virtual_size.width <= lines.scrollable_content_region.width
        assert "▼" in screen_text(app)


async def test_unit_cursor_wraps_and_marks_every_panel():
    app = make_app(hidden=5)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "down", "j")
        assert app.unit == 3
        await pilot.press("up", "k")
        assert app.unit == 1
        await pilot.press("up", "up")
        assert app.unit == 4  # wraps around
        panel = app.query_one("#panel-f", Panel)
        assert panel.heatmap._selected == 4
        assert app.query_one("#panel-x", Panel).heatmap._selected is None


async def test_unit_view_numbers_satisfy_the_equations():
    app = make_app(hidden=6)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "n", "n", "down", "down")
        tr, k, j = app.trace, app.k, app.unit
        s = {q: tr.states[q][0, k, j] for q in "ifgoch"}
        c_prev = tr.state_before("c", 0, k)[j]
        assert s["c"] == pytest.approx(s["f"] * c_prev + s["i"] * s["g"], abs=1e-6)
        assert s["h"] == pytest.approx(s["o"] * np.tanh(s["c"]), abs=1e-6)
        text = str(app.query_one("#unit").render())
        assert f"{s['f']:.4f}" in text and f"{s['c']:+.4f}" in text and f"{s['h']:+.4f}" in text


async def test_typing_a_sequence_and_stepping_after_enter():
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("slash")
        assert app.focused is app.query_one("#input")
        await pilot.press("ctrl+a", "ctrl+k", *"qnp", "enter")  # q, n and p are typed, not obeyed
        assert app.is_running
        assert app.trace.tokens == ("q", "n", "p")
        assert app.focused is None and app.k == 0
        await pilot.press("n", "right")
        assert app.k == 2


async def test_escape_leaves_the_input_and_i_focuses_it():
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("i")
        assert app.focused is app.query_one("#input")
        await pilot.press("escape")
        assert app.focused is None
        await pilot.press("n")
        assert app.k == 1


async def test_unknown_tokens_are_marked():
    app = LstmApp(load_model("random", hidden=4, tokenizer="word"), text="the zebra sat")
    async with app.run_test() as pilot:
        assert app.trace.unknown.tolist() == [False, True, False]
        await pilot.press("n")
        assert "(<unk>)" in app.status_line() and "1 unknown token" in app.status_line()


async def test_play_pause_and_speed():
    app = make_app("abcdef")
    async with app.run_test() as pilot:
        start = app.speed
        await pilot.press("plus", "plus")
        assert app.speed == start + 2
        await pilot.press("minus")
        assert app.speed == start + 1
        for _ in range(10):
            await pilot.press("minus")
        assert SPEEDS[app.speed] == SPEEDS[0]
        await pilot.press("space")
        assert app.playing and app.k == 0  # 1 step/s: nothing yet
        for _ in range(10):
            await pilot.press("plus")
        assert SPEEDS[app.speed] == SPEEDS[-1]
        await pilot.pause(0.6)  # 32 steps/s plays 5 steps to the end and stops
        assert app.k == 5 and not app.playing
        for _ in range(10):
            await pilot.press("minus")
        await pilot.press("space")  # from the end, play starts over
        assert app.playing and app.k == 0
        await pilot.press("space")
        assert not app.playing


async def test_help_lists_every_key_and_closes():
    app = make_app()
    async with app.run_test(size=(100, 50)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(keys_table(LstmApp.BINDINGS))
        text = console.export_text()
        for binding in LstmApp.BINDINGS:
            assert (binding.tooltip or binding.description) in text
        assert "→ n" in text and "home" in text and "?" in text
        await pilot.press("n")  # keys do not leak to the stepper under the help
        assert app.k == 0
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("opened", [(), ("question_mark",), ("B",), ("X",)])
async def test_quit_from_any_screen_but_a_text_line(opened):
    """q quits from the main screen, the help and the lists (a modal screen hides the app's keys);
    in a prompt it is a letter typed."""
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press(*opened, "q")
        assert not app.is_running, opened
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("b", "q")
        assert app.is_running and app.screen.query_one(Input).value == "q"


async def test_layer_key_cycles_layers():
    app = LstmApp(load_model("random", hidden=4, layers=2), text="abc")
    async with app.run_test() as pilot:
        await pilot.press("l")
        assert app.layer == 1
        assert "layer 2/2" in app.status_line()
        await pilot.press("l")
        assert app.layer == 0
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("l")  # one layer: said, not silently nothing
        assert app.layer == 0 and any(n.message == "this model has one layer" for n in app._notifications)


async def test_word_key_switches_the_builtin_tokenizer():
    app = LstmApp(
        load_model("random", hidden=4),
        text="the cat",
        retokenize=lambda tok: load_model("random", hidden=4, tokenizer=tok),
    )
    async with app.run_test() as pilot:
        assert len(app.trace.tokens) == 7
        await pilot.press("w")
        assert app.trace.tokens == ("the", "cat")
        await pilot.press("w")
        assert len(app.trace.tokens) == 7


@pytest.mark.parametrize("cell", ["gru", "rnn_tanh", "rnn_relu"])
async def test_other_cells_show_their_panels(cell):
    app = LstmApp(load_model("random", hidden=4, cell=cell), text="ab")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "down")
        keys = {p.spec.key for p in app.query(Panel)}
        assert keys == {s.key for s in __import__("lstm_tui.render.panels", fromlist=["x"]).PANELS[cell]}
        assert app.k == 1 and app.unit == 1


async def test_goto_a_step_number_and_a_token():
    app = make_app("abcabc")
    async with app.run_test() as pilot:
        await pilot.press("g", *"5", "enter")
        assert app.k == 4
        await pilot.press("g", "a", "enter")  # the next 'a' after step 5 wraps to step 1, and says so
        assert app.k == 0 and any("went round to step 1" in n.message for n in app._notifications)
        await pilot.press("g", *"99", "enter")  # out of range: stays, says why
        assert app.k == 0
        await pilot.press("g", "z", "escape")
        assert app.k == 0 and app.screen is app.screen_stack[0]
    app = make_app("ab cd²")
    async with app.run_test() as pilot:
        await pilot.press("g", "space", "enter")  # a blank is the space token, not nothing
        assert app.k == 2
        await pilot.press("g", "²", "enter")  # a digit to str.isdigit, a token here (int("²") fails)
        assert app.k == 5 and app.is_running
        await pilot.press("g")
        app.screen.query_one("Input").value = "xy" * 1500  # a pasted page: not said back whole
        await pilot.press("enter")
        said = list(app._notifications)[-1].message
        assert said == f"token '{'xy' * 18}x...' is not in the sequence"


async def test_goto_and_unit_search_refuse_a_number_too_long_for_int():
    """5,000 digits (int() raises ValueError past 4,300): out of range, said clipped; the app runs on."""
    app = make_app("abcabc")
    nines = "9" * 5000
    async with app.run_test(size=(120, 40)) as pilot:
        for key, typed, words in (("g", nines, "step 9999999999999999999999999999999999999... is outside 1..6"),
                                  ("s", f"1-{nines} > 0.5 c", "steps 1-9999999999999999999999999999999999999... are "
                                                              "not within 1..6")):
            await pilot.press(key)
            await pilot.pause()
            app.screen.query_one("#answer").value = typed
            await pilot.press("enter")
            await pilot.pause()
            assert app.is_running and app.k == 0 and app.search_results is None
            assert words in [n.message for n in app._notifications][-1]


async def test_same_token_brackets_jump_between_occurrences():
    app = make_app("abab")
    async with app.run_test() as pilot:
        await pilot.press("right_square_bracket")
        assert app.k == 2
        await pilot.press("right_square_bracket")  # no later 'a'
        assert app.k == 2
        await pilot.press("left_square_bracket")
        assert app.k == 0


async def test_watch_pins_and_unpins_the_unit():
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("down", "m", "down", "m")
        assert app.watched == [("c", 0, 1), ("c", 0, 2)]
        assert app.query_one("#watches").display
        await pilot.press("m")
        assert app.watched == [("c", 0, 1)]
        await pilot.press("a", "m")  # the history view's quantity: h
        assert app.watched == [("c", 0, 1), ("h", 0, 2)]


async def test_notation_cycles_panel_titles():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one("#panel-f", Panel)
        assert "z^f / f" in panel.border_title
        await pilot.press("N")
        assert app.notation == "classic" and panel.border_title.endswith("z^f")
        assert "σ(z^f)" in str(app.query_one("#unit").render())
        await pilot.press("N")
        assert app.notation == "pytorch" and panel.border_title.endswith("  f")


async def test_notation_changes_every_equation_on_screen():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        equation = app.query_one("#panel-c", Panel).query_one(".equation")
        assert str(equation.render()) == "cᵗ = fᵗ ⊙ cᵗ⁻¹ + iᵗ ⊙ gᵗ"
        await pilot.press("N")  # classic: the notes' names in the panels, the unit view and the stages
        assert str(equation.render()) == "cᵗ = σ(z^f) ⊙ cᵗ⁻¹ + σ(z^i) ⊙ tanh(z)"
        assert str(app.query_one("#panel-g", Panel).query_one(".equation").render()).startswith("tanh(z), where")
        assert "cᵗ = σ(z^f)·cᵗ⁻¹ + σ(z^i)·tanh(z)" in str(app.query_one("#unit").render())
        await pilot.press("2")
        await pilot.pause()
        assert "σ(z^f) = " in _printed(app.query_one("#stages-body").content)
        await pilot.press("N")  # PyTorch's
        await pilot.pause()
        stages = _printed(app.query_one("#stages-body").content)
        assert "fᵗ = " in stages and "z^f" not in stages


def _printed(renderable) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def test_history_scale_key_switches_between_each_units_range_and_one_scale():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "3")
        await pilot.pause()
        title = app.query_one("#history #history-title")
        assert app.history_scale == "unit" and "each unit's own range" in str(title.render())
        await pilot.press("r")
        await pilot.pause()
        assert app.history_scale == "shared" and "one scale for all units" in str(title.render())
        await pilot.press("1", "r")  # from the steps view, r shows the history it changes
        assert app.view == "history" and app.history_scale == "unit"


async def test_the_output_panel_lists_the_top_tokens_in_columns():
    app = make_app("ab ab")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        lines = str(app.query_one("#panel-y", Panel).extra.render()).splitlines()
        assert len(lines) == 5 and len({line.index("0.") for line in lines}) == 1
        probs = [float(line.split()[1]) for line in lines]
        assert probs == sorted(probs, reverse=True)


async def test_the_history_fills_a_tall_screen():
    app = make_app(hidden=8)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        rows = len(app.query_one("#history #history-map")._strips) - 2  # less the axis and the legend
        assert rows >= 8 * 2  # 8 units, two lines each: the room there is, not four lines


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
async def test_no_panel_wide_hole_beside_a_grids_last_row(cell):
    app = make_app(cell=cell)
    async with app.run_test(size=(160, 50)) as pilot:
        for width in (160, 120, 80, 150):  # 4, 3, 2, then 4 columns again after resizes
            await pilot.resize_terminal(width, 50)
            await pilot.pause()
            for grid in app.query(".grid"):
                panels = list(grid.query_children(Panel))
                right = grid.content_region.right
                for y in {p.region.y for p in panels}:  # every row of panels reaches the grid's right edge
                    assert max(p.region.right for p in panels if p.region.y == y) == right, (width, grid.id, y)


def _blank_under_panels(app) -> int:
    view = app._steps
    return view.scrollable_content_region.bottom - max(p.region.bottom for p in view.panels)


@pytest.mark.parametrize("cell", ["lstm", "rnn_tanh"])
async def test_heatmaps_too_tall_to_show_whole_take_the_lines_to_spare(cell):
    from lstm_tui.widgets.heatmap import MAX_ROWS

    app = make_app(hidden=700, cell=cell)  # too many units for the history under the panels: the lines are free
    async with app.run_test(size=(160, 50)) as pilot:
        for keys, size in [((), (160, 50)), (("number_sign",), (160, 50)), (("number_sign",), (160, 50)),
                           ((), (150, 60)), ((), (200, 70)), ((), (80, 24)), ((), (160, 50))]:
            await pilot.press(*keys)
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            maps = [p.heatmap.map for p in app._steps.panels]
            grown = max(m.max_rows for m in maps) - MAX_ROWS
            rows_of_panels = len({(p.parent, p.region.y) for p in app._steps.panels})
            blank = _blank_under_panels(app)
            assert all(m.rows_shown == min(m.rows, MAX_ROWS + grown) for m in maps)
            if grown:  # never more than the view holds
                assert blank >= 0, (keys, size, blank)
            if any(m.scrollbar for m in maps) and blank >= 0:  # a row more each would not fit
                assert blank < rows_of_panels, (keys, size, blank)
            if size == (160, 50) and not app.numbers:
                assert any(m.rows_shown > MAX_ROWS for m in maps)  # not six rows and a blank band under them
            if size == (80, 24):
                assert grown == 0 and blank < 0  # the panels scroll: the heatmaps keep their six rows


async def test_no_heatmap_grows_under_the_history():
    app = make_app(hidden=256)  # 256 units wrap to 8 rows at 160 columns: the history takes the lines
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert app._steps.timeline.display
        assert any(p.heatmap.map.scrollbar for p in app._steps.panels)
        assert all(p.heatmap.map.max_rows == 6 for p in app._steps.panels)


async def test_the_unit_views_title_shows_a_token_as_it_is():
    from dataclasses import replace

    from lstm_tui.widgets.unit_view import UnitView

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view = app.query_one(UnitView)
        trace = replace(app.trace, tokens=("[b]", "[/]", *app.trace.tokens[2:]))
        for k in (0, 1):
            view.show(trace, 0, k, 0)
            assert f"'{trace.tokens[k]}'" in view._border_title.plain  # not read as markup, not dropped


async def test_opening_a_model_with_fewer_units_brings_the_history_under_the_panels():
    app = make_app(hidden=700)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        assert not app._steps.timeline.display  # 700 units: too many to redraw on every step
        await pilot.press("o", *"brackets", "enter")
        await pilot.pause()
        await pilot.pause()
        assert app.model.name == "brackets" and app._steps.timeline.display
        assert all(p.heatmap.map.max_rows == 6 for p in app._steps.panels)


async def test_too_small_then_back():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.resize_terminal(20, 6)
        await pilot.pause()
        assert app.has_class("-too-small")
        await pilot.press("n")
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert not app.has_class("-too-small") and app.k == 1


async def test_command_palette_offers_every_binding():
    app = make_app()
    async with app.run_test():
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for b in LstmApp.BINDINGS:
            assert (b.tooltip or b.description).capitalize() in titles
        cmd = next(c for c in app.get_system_commands(app.screen) if c.title == "Next")
        assert any(c.title == "Continue to the next step where a breakpoint holds" for c in app.get_system_commands(app.screen))
        await cmd.callback()
        assert app.k == 1


@pytest.mark.parametrize("key,view", [("2", "stages"), ("3", "history"), ("4", "units"), ("5", "gradients"), ("1", "steps")])
async def test_view_keys(key, view):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", key)
        assert app.view == view
        assert app.query_one("#views").current == view
        await pilot.press("n", "down")  # stepping keeps working in every view
        assert app.k == 2 and app.unit == 1


async def test_v_cycles_every_view():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        seen = []
        for _ in range(6):
            await pilot.press("v")
            seen.append(app.view)
        assert seen == ["stages", "history", "units", "gradients", "effects", "steps"]


async def test_history_quantity_key_cycles_quantities():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        assert app.view == "history" and app.history_quantity == "h"
        await pilot.press("a")
        assert app.history_quantity == "i"


async def test_unit_search_selects_the_best_unit_and_u_cycles():
    app = make_app("((()))", hidden=8)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await pilot.press("ctrl+a", "ctrl+k", *"2-4 > 0", "enter")
        assert app.view == "units"
        what, results = app.search_results
        assert "steps 2-4" in what

        c = app.trace.states["c"][0]  # (T, H)
        on = c > 0
        best = max(range(8), key=lambda j: (on[1:4, j].mean() - on[[0, 4, 5], j].mean(), -j))
        assert results, "a random model always has some unit more on inside steps 2-4 than outside"
        assert results[0][0] == best and app.unit == best
        if len(results) > 1:
            await pilot.press("u")
            assert app.unit == results[1][0]


async def test_unit_search_refuses_bad_input_and_keeps_state():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s", "ctrl+a", "ctrl+k", *"99-2 > x", "enter")
        assert app.search_results is None and app.is_running


async def test_gradient_compare_and_target_keys():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "n", "x")
        assert app.view == "gradients" and app.grad_compare
        await pilot.press("T")
        assert app.grad_target == "sum-h"
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(app.query_one("#grad-body").content)
        text = console.export_text()
        assert "RNN" in text and "GRU" in text and "Σ h" in text


def test_parse_search():
    from lstm_tui.core.explain import parse_search
    from lstm_tui.core.errors import InputError

    assert parse_search("2-5 > 0.5", ("i", "f", "g", "o", "c", "h"), 9) == (1, 5, 0.5, "c", False)
    assert parse_search("3 > -1 h abs", ("h",), 9) == (2, 3, -1.0, "h", True)
    for bad in ("", "5-2 > 1", "1-99 > 1", "1-2 > 0.5 q", "1-2 0.5"):
        with pytest.raises(InputError):
            parse_search(bad, ("c", "h"), 9)
    with pytest.raises(InputError, match=r"the range 9-5 is empty: write the smaller step first \(5-9\)"):
        parse_search("9-5 > 0.5", ("c",), 9)
    nines = "9" * 5000  # past the 4,300 digits int() reads: out of range, the echoes clipped
    for bad, words in ((f"{nines}-{nines} > 0.5", "steps 9999999999999999999999999999999999999...-999"),
                       (f"{nines}-2 > 0.5", "the range 9999999999999999999999999999999999999...-2 is empty"),
                       (f"1-2 > 0.5 {nines}", "unknown quantity '9999999999999999999999999999999999999...'"),
                       (f"{nines} > x", "unit search '9999999999999999999999999999999999999...': expected")):
        with pytest.raises(InputError, match=re.escape(words)) as exc:
            parse_search(bad, ("c", "h"), 9)
        assert len(str(exc.value)) < 200


async def test_breakpoints_stop_both_ways_and_can_be_disabled_and_deleted():
    app = make_app("ab(cd(ef")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")  # none yet: says so, stays
        assert app.k == 0
        await pilot.press("b", *'token == "("', "enter")
        assert [bp.text for bp in app.breakpoints] == ['token == "("']
        await pilot.press("c")
        assert app.k == 2
        await pilot.press("c")
        assert app.k == 5
        await pilot.press("c")  # no later one
        assert app.k == 5
        await pilot.press("C")
        assert app.k == 2
        await pilot.press("B")
        assert isinstance(app.screen, BreakpointsScreen)
        await pilot.press("space")
        assert not app.breakpoints[0].enabled
        await pilot.press("escape", "end", "C")
        assert app.k == len("ab(cd(ef") - 1  # disabled: no stop
        said = [n.message for n in app._notifications if n.message.startswith("no breakpoints enabled")]
        assert said[-1] == "no breakpoints enabled: 1 turned off (B lists them, space turns one on); b adds one"
        await pilot.press("B", "d", "escape", "C")
        assert app.breakpoints == []
        said = [n.message for n in app._notifications if n.message.startswith("no breakpoints enabled")]
        assert said[-1] == "no breakpoints enabled: press b to add one"


async def test_breakpoint_text_is_shown_as_typed_not_as_markup():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b", *"c[t] > 100", "enter")
        await pilot.pause()
        toast = next(n for n in app._notifications if "c[t] > 100" in n.message)
        assert toast.markup is False  # a toast quoting c[t] must not read [t] as a markup tag
        await pilot.press("B")
        await pilot.pause()
        from textual.widgets import OptionList

        assert "c[t] > 100" in app.screen.query_one(OptionList).render_line(0).text  # the list


async def test_breakpoint_on_gate_values_matches_numpy():
    app = make_app("the cat sat on the mat.", hidden=8)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b", *"f[3] < 0.45", "enter")
        f3 = app.trace.states["f"][0, :, 3]
        expected = [k for k in range(1, app.trace.steps) if f3[k] < 0.45]
        assert expected, f"the fixture needs a step with f[3] < 0.45: {f3.round(2)}"
        await pilot.press("c")
        assert app.k == expected[0]


@pytest.mark.parametrize("text", ["__import__('os')", "f.__class__", "f[", "9**9**9", "q > 1"])
async def test_malformed_and_malicious_breakpoints_are_refused(text):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b", *text, "enter")
        assert app.breakpoints == [] and app.is_running


@pytest.mark.parametrize("key, bad", [("b", "f[1] < 0.1 & t"), ("W", "c[99"), ("s", "9-5 > 0.5"),
                                      ("exclamation_mark", "zero")])
async def test_a_refused_prompt_offers_its_text_again_to_mend(key, bad):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(key, "ctrl+a", "ctrl+k", *bad, "enter")
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
        assert app.screen.query_one(Input).value == bad
        await pilot.press("escape", key)  # once: an Esc forgets it
        await pilot.pause()
        assert app.screen.query_one(Input).value != bad
        await pilot.press("escape", key, "ctrl+a", "ctrl+k", *bad, "enter")
        await pilot.pause()
        app.run_text("the rat sat.")  # a new sequence: a step range or a patch is the old one's
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
        assert (app.screen.query_one(Input).value == bad) == (key in ("b", "W")), key


async def test_numbers_mode_writes_values_out():
    app = make_app(hidden=4)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("number_sign")
        assert app.numbers
        heat = app.query_one("#panel-f", Panel).heatmap
        text = "".join(seg.text for seg in heat._strips[0])
        f = app.trace.states["f"][0, 0]
        assert f"{f[0]:+.2f}" in text and f"{f[3]:+.2f}" in text


async def test_palette_key_switches_the_sequential_scale():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("P")
        assert app.palette == "cividis"
        assert app.query_one("#panel-f", Panel).heatmap._scale.palette == "cividis"


async def test_settings_are_saved_and_restored():
    from lstm_tui import settings as st

    s, _ = st.load()
    app = LstmApp(load_model("random", hidden=4), text="ab", settings=s)
    async with app.run_test() as pilot:
        await pilot.press("N", "P")
        app.theme = "textual-light"
        await pilot.pause()
    saved, warning = st.load()
    assert warning is None
    assert (saved.notation, saved.palette, saved.theme) == ("classic", "cividis", "textual-light")
    app = LstmApp(load_model("random", hidden=4), text="ab", settings=saved)
    async with app.run_test() as pilot:
        assert (app.notation, app.palette, app.theme) == ("classic", "cividis", "textual-light")


async def test_export_from_the_app_asks_before_overwriting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short names to type: each key is a frame
    target = tmp_path / "mine.csv"
    target.write_text("precious")
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("e", "ctrl+a", "ctrl+k", *"mine.csv", "enter")
        await pilot.press(*"n", "enter")  # not y: keep the file
        assert target.read_text() == "precious"
        await pilot.press("e", "ctrl+a", "ctrl+k", *"mine.csv", "enter", "y", "enter")
        assert target.read_text().startswith("step,token,layer")
        shot = tmp_path / "shot.svg"
        await pilot.press("S", "ctrl+a", "ctrl+k", *"shot.svg", "enter")
        assert shot.read_text().startswith("<svg")
        await pilot.press("S", "ctrl+a", "ctrl+k", *"shot.png", "enter")  # an SVG is no PNG
        await pilot.pause()
        assert not (tmp_path / "shot.png").exists()
        assert any("give a name ending in .svg" in n.message for n in app._notifications)


async def test_no_color_draws_glyphs(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(hidden=6)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        assert app.mono
        strip = app.query_one("#panel-f", Panel).heatmap._strips[0]
        assert set("".join(s.text for s in strip)) <= set(" ░▒▓█◆")


async def test_help_scrolls_on_a_small_terminal():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        scroller = app.screen.query_one("VerticalScroll")
        assert scroller.max_scroll_y > 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert scroller.scroll_y > 0
        assert app.k == 0  # the page key scrolled the help, not the stepper


async def test_a_new_sequence_clears_the_old_search():
    app = make_app("((()))", hidden=8)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s", "ctrl+a", "ctrl+k", *"2-4 > 0", "enter")
        assert app.search_results is not None
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"abc", "enter")
        assert app.search_results is None


async def test_page_keys_scroll_the_panels_and_equals_is_faster():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        steps = app.query_one("#steps")
        await pilot.press("pagedown")
        await pilot.pause()
        assert steps.scroll_y > 0
        await pilot.press("pageup")
        await pilot.pause()
        assert steps.scroll_y == 0
        speed = app.speed
        await pilot.press("equals_sign")
        assert app.speed == speed + 1


async def test_control_characters_never_reach_the_input_line():
    app = make_app("((\x1b]2;HACKED\x07))")
    async with app.run_test():
        field = app.query_one("#input")
        assert field.value == "" and "line breaks or controls" in field.placeholder
        assert app.trace.steps == len("((\x1b]2;HACKED\x07))")


async def test_the_input_lines_note_says_why_the_text_is_not_in_it_and_goes_with_it():
    """A long text without a line break was said to have 'line breaks or control characters', cut at
    80 columns; and once another sequence ran (an empty one: the note shows), it still said so."""
    from conftest import settle

    long = "ab " * 4000
    app = make_app(long)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.tracing is None and app.trace.steps == len(long))
        field = app.query_one("#input", Input)
        assert field.value == "" and field.placeholder.startswith("(12,000 characters too long to edit here")
        assert "line breaks" not in field.placeholder
        assert len(field.placeholder) <= field.content_region.width, (field.placeholder, field.content_region.width)
        app.run_text("")  # the empty sequence
        await pilot.pause()
        assert app.trace.steps == 0 and field.value == ""
        assert field.placeholder == "type a sequence, Enter to run"
        app.run_text("a\nb")
        await pilot.pause()
        assert field.placeholder.startswith("(3 characters with line breaks")
        assert len(field.placeholder.replace("3", "1,000,000")) <= field.content_region.width


async def test_enter_on_the_empty_line_of_a_text_it_cannot_hold_keeps_that_text(gated):
    """The line is empty when the text is too long for it: / then Enter dropped a 400,000-letter
    input (being traced, or traced) for the empty sequence, and the app cannot read the file again."""
    from conftest import settle

    long = "ab " * 4000  # as from --text-file
    app = make_app(long)
    async with app.run_test(size=(80, 24)) as pilot:
        gated.gate.release()  # one chunk: still tracing
        await settle(pilot, lambda: app.trace.steps > 0)
        assert app.tracing is not None and app.query_one("#input", Input).value == ""
        await pilot.press("slash", "enter")
        await pilot.pause()
        assert app.text == long and app.trace.steps > 0 and app.tracing is not None  # the trace goes on
        assert app.focused is None
        assert any("kept the 12,000 characters" in n.message for n in app._notifications)
        for _ in range(30):
            gated.gate.release()
        await settle(pilot, lambda: app.tracing is None)
        await pilot.press("slash", "enter")  # traced: kept as well
        await pilot.pause()
        assert app.text == long and app.trace.steps == len(long)
        await pilot.press("slash", "x", "enter")  # a sequence typed replaces it
        await settle(pilot, lambda: app.trace.steps == 1)


async def test_gradients_are_computed_in_float64():
    app = make_app("ab" * 100, hidden=8)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("end", "5")
        view = app.query_one("#gradients")
        model64, trace64 = view._cache[2], view._cache[3]
        assert model64.dtype == np.float64 and trace64.states["h"].dtype == np.float64
        np.testing.assert_allclose(trace64.states["h"], app.trace.states["h"], atol=1e-5)


async def test_open_another_model_and_a_failed_load_changes_nothing(tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o", *"charlm", "enter")
        assert app.model.name == "charlm" and app.trace.steps > 0 and app.k == 0
        before = (app.model, app.trace)
        bad = tmp_path / "broken.safetensors"
        bad.write_bytes(b"\x00" * 40)
        await pilot.press("o", *str(bad), "enter")
        assert (app.model, app.trace) == before and app.is_running
        await pilot.press("o", *"nonsense-model", "enter")
        assert app.model is before[0]


async def test_opening_a_model_keeps_the_breakpoints_watches_and_pins_it_can_read():
    """o to another checkpoint of the same kind keeps them all (checked again, their series of the new
    run); o to a GRU drops those that read an LSTM's c, and says so."""
    from lstm_tui.core.breakpoints import compile_breakpoint
    from lstm_tui.core.watches import watch

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for text in ("c[3] > 0.5", "t > 2"):
            app.breakpoints.append(compile_breakpoint(text, "lstm", True))
        app.breakpoints[0].enabled = False
        app.watch_exprs.extend([["c[2]*o[2]", 0, None], ["h[0]", 0, None]])
        app.watched.extend([("c", 0, 5), ("h", 0, 7)])
        await pilot.press("o", *"charlm", "enter")
        await pilot.pause()
        assert app.model.name == "charlm"
        assert [(b.text, b.enabled) for b in app.breakpoints] == [("c[3] > 0.5", False), ("t > 2", True)]
        assert app.watched == [("c", 0, 5), ("h", 0, 7)]
        for text, layer, series in app.watch_exprs:
            np.testing.assert_array_equal(series, watch(app.trace, text, layer, vocab=app.model.vocab))
        await pilot.press("c")
        assert app.k == 2  # t > 2 holds at t = 3
        app.clear_notifications()
        await pilot.press("o", *"brackets-gru", "enter")
        await pilot.pause()
        assert app.trace.cell == "gru"
        assert [b.text for b in app.breakpoints] == ["t > 2"] and app.breakpoints[0].cell == "gru"
        assert [w[0] for w in app.watch_exprs] == ["h[0]"] and app.watched == [("h", 0, 7)]
        said = [n.message for n in app._notifications if n.message.startswith("opened")]
        assert said == [said[0]] and "dropped what it cannot read: 3: 'c[3] > 0.5'" in said[0], said
        assert "\n" not in said[0]


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (160, 50)])
async def test_the_unit_view_and_the_watches_sit_whole_above_the_footer(size):
    """Docked to one edge, widgets overlap: the footer hid the unit view's bottom border, and the watches
    all of it. In the layout, the watches take what the screen leaves (their plot only if it has room)."""
    from textual.widgets import Footer

    app = make_app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("m")  # pin a watch: the watches show
        await pilot.pause()
        unit, watches, footer = app.query_one("#unit").region, app.query_one("#watches").region, app.query_one(Footer).region
        assert unit.height >= 5 and watches.height > 0  # its border, three lines of numbers (more if they wrap)
        assert not unit.overlaps(footer) and not watches.overlaps(unit) and not watches.overlaps(footer)
        assert app.query_one("#views").region.bottom <= watches.y
        assert app.screen.max_scroll_y == 0  # all of it on screen, nothing pushed below
        from lstm_tui.render import plots

        if plots.available():
            assert app.query_one("#watch-plot").display == (size[1] > 24)  # 24 rows: the views keep their lines
            assert app.query_one("#views").region.height >= 6 or size[1] < 24
            await pilot.press("W", *"max(f)", "enter", "W", *"h[3]-h[4]", "enter")
            await pilot.pause()
            figure = app.query_one("#watch-plot")
            assert figure.display == (size[1] > 24)  # three values leave 24 rows too few lines for a plot
            assert not figure.display or figure.size.height >= Watches.MIN_PLOT, figure.size  # never one squeezed flat
            for n in range(3):
                await pilot.press("W", *f"c[{n + 1}]", "enter")
            await pilot.pause()
            assert figure.display == (size[1] > 24)  # six values: the box grows by their lines, the plot stays
            assert not figure.display or figure.size.height >= Watches.MIN_PLOT, figure.size


async def test_open_a_file_without_vocabulary_starts_on_its_ids():
    """A Keras file keeps no vocabulary: its tokens are the ids, so the text the app was on
    (words) would be all <unk>; it starts on an example of ids instead."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o", *str(DATA_KERAS / "lstm_lm.keras"), "enter")
        await pilot.pause()
        assert app.model.name == "lstm_lm" and app.trace.steps > 1
        assert app.text == app.model.meta["example"] and not app.trace.unknown.any()


async def test_open_a_model_of_another_cell_from_any_view():
    """From an LSTM to a GRU to an RNN and back: the history's quantity (an LSTM's c) and the
    panels follow the new cell (a GRU opened on the history of c used to end the app)."""
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        for name, view in (("brackets-gru", "3"), ("brackets-rnn", "1"), ("brackets", "3"), ("copy-gru", "1")):
            await pilot.press(view, "o", *name, "enter")
            await pilot.pause()
            await pilot.pause(0.1)
            assert app.is_running and app.model.name == name
            assert app.history_quantity in app.trace.quantities
            assert {p.spec.key for p in app._panels} <= set(app.trace.quantities) | {"x", "y", "h_prev", "c_prev"}
            await pilot.press("n")
            assert app.k == 1


async def test_open_survives_a_readers_own_bug(monkeypatch):
    import lstm_tui.core.registry as registry

    def broken(spec):
        raise AttributeError("'bytes' object has no attribute 'dtype'")

    monkeypatch.setattr(registry, "load_model", broken)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        before = (app.model, app.trace)
        await pilot.press("o", *"some.npz", "enter")
        await pilot.pause()
        assert (app.model, app.trace) == before and app.is_running
        assert any("could not be opened" in n.message for n in app._notifications)


async def test_open_refuses_a_model_that_reads_frames_and_says_how_to_open_it(tmp_path):
    from lstm_tui.core.model import Model
    from lstm_tui.formats import save_model

    path = tmp_path / "frames model.safetensors"
    save_model(Model(layers=load_model("random", hidden=6, seed=1).layers, name="bare"), path)  # no embedding
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        before = (app.model, app.trace, app.text)
        await pilot.press("o", *str(path), "enter")
        await pilot.pause()
        assert (app.model, app.trace, app.text) == before and app.is_running
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1 and "\n" not in errors[0]
        msg = errors[0]
        assert msg.startswith(f"{path}: reads feature frames (it has no embedding or vocabulary)")
        input_size = load_model("random", hidden=6, seed=1).input_size
        assert f"lstm-tui --model '{path}' --inputs FRAMES.npy (a float array [T, {input_size}]" in msg


async def test_the_open_dialog_names_every_ending_the_registry_reads(monkeypatch):
    from lstm_tui.formats import registry
    from lstm_tui.widgets.prompt import PromptScreen

    # derived from the registry: an ending added there shows in the hint without another list to edit
    monkeypatch.setattr(registry, "MODEL_SUFFIXES", (*registry.MODEL_SUFFIXES, ".newformat"))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        assert isinstance(app.screen, PromptScreen)
        hint = str(app.screen.query_one(Static).render())
        for suffix in (".safetensors", ".npz", ".pt", ".pth", ".keras", ".weights.h5", ".h5", ".onnx", ".newformat"):
            assert f"{suffix}," in hint or f"{suffix})" in hint, suffix
        await pilot.press("escape")


async def test_a_tall_screen_shows_the_history_under_the_panels():
    app = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        timeline = app.query_one("#timeline")
        assert timeline.display
        await pilot.press("n", "n")
        assert "▼" in "".join(seg.text for seg in timeline.query_one("#history-map")._strips[0])
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert not timeline.display


async def test_the_footer_keeps_its_keys_when_a_prompt_closes_and_redraws_when_they_change():
    """Textual's footer builds its keys again whenever the bindings are refreshed, which each
    prompt's closing does (about 20 ms at H = 1024): the same keys are kept; new keys show."""
    from textual.widgets._footer import FooterKey

    from lstm_tui.widgets.footer import KeysFooter

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        footer = app.query_one(KeysFooter)
        keys = list(footer.query(FooterKey))
        assert [k.description for k in keys][:2] == ["next", "prev"]
        await pilot.press("question_mark")  # the help screen over the app, then closed
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert list(footer.query(FooterKey)) == keys  # the same widgets: not built again
        app.bind("z", "bell", description="ring")
        app.refresh_bindings()
        await pilot.pause()
        assert "ring" in [k.description for k in footer.query(FooterKey)]


async def test_served_exports_are_the_browsers_downloads(tmp_path, monkeypatch):
    """Under `lstm-tui serve` e and S hand the file to the browser; nothing is written where the server runs."""
    monkeypatch.chdir(tmp_path)
    got = []

    def deliver_binary(self, path, *, save_filename=None, **_):
        got.append((save_filename, Path(path).read_bytes()))  # read now: the folder goes once it is handed over

    monkeypatch.setattr(LstmApp, "is_web", property(lambda self: True))
    monkeypatch.setattr(LstmApp, "deliver_binary", deliver_binary)
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("e", "ctrl+a", "ctrl+k", *"../t.csv", "enter")
        await pilot.press("S", "enter")
        await pilot.pause()
    assert [name for name, _ in got] == ["t.csv", f"lstm-tui-t{app.k + 1}.svg"]
    assert got[0][1].startswith(b"step,token,layer") and got[1][1].startswith(b"<svg")
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / "t.csv").exists()
    assert any("sent t.csv to the browser as a download" in n.message for n in app._notifications)


async def test_ctrl_c_says_how_to_quit_in_plain_text():
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert [n.message for n in app._notifications] == ["press q to quit (or ctrl+q)"]


async def test_esc_in_the_input_line_gives_back_the_sequence_on_screen():
    """A text typed and left with Esc was never run: the line shows the sequence the panels show again."""
    app = make_app()
    async with app.run_test() as pilot:
        line = app.query_one("#input", Input)
        before, trace = line.value, app.trace
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"xyz", "escape")
        await pilot.pause()
        assert app.focused is None and line.value == before == app.text and app.trace is trace
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"ab", "enter")  # Enter runs it: it stays
        await pilot.pause()
        assert line.value == app.text == "ab" and app.trace is not trace


def test_open_takes_a_model_files_options_after_its_path(tmp_path):
    from lstm_tui.app.files import open_spec
    from lstm_tui.core.errors import UserError

    spaced = tmp_path / "my model.safetensors"
    spaced.write_bytes(b"x")
    assert open_spec(f"  {spaced}  ") == (str(spaced), {})  # a path with spaces, alone: whole
    assert open_spec("brackets") == ("brackets", {})
    assert open_spec(f"'{spaced}' --vocab v.json --head-pool=max --head-activations relu,tanh --prefix rnn") == (
        str(spaced), {"vocab_path": "v.json", "head_pool": "max", "head_activations": "relu,tanh", "prefix": "rnn"})
    for text, words in (("m.pt --head-pool", "--head-pool needs a value"),
                        ("m.pt --tokens word", "unknown option '--tokens' after the model"),
                        ("brackets --vocab v.json", "apply to a model file, not 'brackets'"),
                        ("'m.pt --vocab v", "No closing quotation")):
        with pytest.raises(UserError, match=words):
            open_spec(text)
    fifo = tmp_path / "v.fifo"
    os.mkfifo(fifo)  # the command line waits for a pipe's writer; the screen would freeze
    with pytest.raises(UserError, match=r"v.fifo: is not a regular file \(a pipe or a device\), expected a vocabulary"):
        open_spec(f"{spaced} --vocab {fifo}")


async def test_open_with_head_options_opens_a_pytorch_classifier():
    """o with --head-activations and --head-pool after the path: the whole model, as on the command line."""
    path = Path(__file__).parent / "data" / "torch_models" / "gru_mean_pool_mlp.safetensors"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o", *f"{path} --head-activations relu --head-pool mean", "enter")
        await pilot.pause()
        assert app.model.name == "gru_mean_pool_mlp"
        assert app.model.head_pool == "mean" and len(app.model.head_hidden) == 1
        await pilot.press("o", *f"{path} --head-pool median", "enter")
        await pilot.pause()
        assert app.model.head_pool == "mean" and app.is_running  # refused: the model on screen is kept
        assert any("--head-pool 'median': expected one of max, mean" in n.message for n in app._notifications)


def test_open_finds_a_path_with_spaces_quoted_or_not(tmp_path):
    from lstm_tui.app.files import open_spec
    from lstm_tui.core.errors import UserError

    spaced = tmp_path / "my model.safetensors"
    spaced.write_bytes(b"x")
    assert open_spec(f'"{spaced}"') == (str(spaced), {})
    assert open_spec(f"{spaced} --head-pool max") == (str(spaced), {"head_pool": "max"})
    for text in ("m.pt --vocab --prefix rnn", "m.pt --vocab="):
        with pytest.raises(UserError, match="--vocab needs a value"):
            open_spec(text)
    assert open_spec("x" * 5000) == ("x" * 5000, {})  # too long a name for the system: not found, later


async def test_a_screenshot_leaves_the_terminals_colours_as_they_were():
    """S draws the screen as Textual's screenshot does, without writing escape codes: Rich keeps the codes
    it writes for a style on the style, and Textual's screenshot (in true colour) left true-colour codes
    that a 256- or 16-colour terminal then got in later frames."""
    from lstm_tui.app.files import screenshot_svg

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        styles = {seg.style for strip in app.screen._compositor.render_strips() for seg in strip if seg.style}

        def forget() -> None:
            for style in styles:
                style._ansi = None  # as if never written

        forget()
        ours = screenshot_svg(app)
        assert all(style._ansi is None for style in styles)
        assert ours == app.export_screenshot()  # the same picture; Textual's leaves codes on the styles:
        assert any(style._ansi for style in styles)
        forget()


async def test_o_opens_a_file_whose_vocabulary_knows_no_token_of_the_text_on_its_own_tokens():
    """The text on screen (brackets) is all unknown to a checkpoint's vocabulary of ids: it starts on those."""
    from pathlib import Path

    ckpt = Path(__file__).parent / "data" / "torch_models" / "lstm_sentiment_checkpoint_bf16.pth"
    app = LstmApp(load_model("brackets"), text="(()())")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o", *f"{ckpt} --head-activations relu", "enter")
        await pilot.pause(0.3)
        assert app.model.name == "lstm_sentiment_checkpoint_bf16"
        assert list(app.trace.tokens[:3]) == ["1", "2", "3"] and not app.trace.unknown.any()


async def test_keys_sent_in_a_burst_act_in_their_order():
    """Keys arriving together (a paste without bracketed paste, a script): ctrl+u, a text and Enter ran an empty
    sequence, since Textual ran the Input's bound keys only once they had bubbled up to the app; in a prompt,
    b a backspace c gave "ba". Both inputs now act on each key as it arrives."""
    from textual import events

    def burst(app, keys: list[str]) -> None:
        names = {"\x15": "ctrl+u", "\x7f": "backspace", "\r": "enter", " ": "space"}
        for ch in keys:
            app.post_message(events.Key(names.get(ch, ch), ch))

    app = LstmApp(load_model("charlm"), text="hello")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("i")
        await pilot.pause()
        line = app.query_one("#input")
        line._cursor_visible = False  # a bound key shows the cursor again at once, as a letter does
        await pilot.press("home")
        assert line._cursor_visible
        await pilot.press("end")
        burst(app, ["\x15", *"Beautiful is", "\r"])
        await pilot.pause(0.3)
        assert app.text == "Beautiful is" and app.trace.steps == 12
        await pilot.press("g")
        await pilot.pause()
        burst(app, [*"1a", "\x7f", "0", "\r"])
        await pilot.pause(0.3)
        assert app.k == 9  # step 10


async def test_opening_a_model_drops_a_breakpoint_past_its_widths():
    """c[40] of a 64-unit model reads nothing in a 24-unit one: dropped and said when the model is
    opened, as b refuses it, not kept to fail at the next c."""
    from lstm_tui.core import random_model
    from lstm_tui.core.breakpoints import compile_breakpoint

    app = LstmApp(random_model(hidden=64, seed=0), text="(()())")
    async with app.run_test(size=(120, 40)) as pilot:
        app.breakpoints.extend([compile_breakpoint("c[40] > 0", "lstm", True), compile_breakpoint("t > 2", "lstm", True)])
        await pilot.press("o", *"brackets", "enter")
        await pilot.pause()
        assert app.trace.width("c", 0) < 40
        assert [b.text for b in app.breakpoints] == ["t > 2"]
        said = [n.message for n in app._notifications if n.message.startswith("opened")]
        assert len(said) == 1 and "'c[40] > 0'" in said[0], said


@pytest.mark.parametrize("cell, layers", [("lstm", 1), ("gru", 1), ("rnn_tanh", 2)])
async def test_the_b_and_w_prompts_give_examples_in_the_models_own_names(cell, layers):
    """A GRU's b prompt offered 'abs(c).max() > 3' and its W prompt 'c[12]*o[12]   max(f)': copied, each
    was refused with 'unknown name'. Every example shown must be accepted as it is."""
    from lstm_tui.widgets.prompt import PromptScreen

    app = LstmApp(load_model("random", hidden=16, seed=0, cell=cell, layers=layers), text="hello there")
    async with app.run_test(size=(120, 40)) as pilot:
        for key, add in (("b", app._add_breakpoint), ("W", app._add_watch_expression)):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, PromptScreen)
            shown = app.screen._hint.split("e.g.")[1].split(".  Names")[0].split("(the same text")[0]
            said = [e.strip() for e in shown.split("   ") if e.strip()]
            assert len(said) >= 2, shown
            await pilot.press("escape")
            for text in said:
                add(text)
                await pilot.pause()
                assert not app.refused, (text, [n.message for n in app._notifications])
            if key == "b":
                assert [bp.text for bp in app.breakpoints] == said
            else:
                assert [w[0] for w in app.watch_exprs] == said


async def test_a_pinned_unit_of_an_empty_sequence_shows_no_value():
    """With no steps, the pinned unit's value was drawn as +0.0000, a number no step has; an
    expression's says 'n/a here'."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("m", "W", *"h[1]", "enter")
        await pilot.pause()
        app.run_text("")
        await pilot.pause()
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(app.query_one("#watch-values").content)
        shown = console.export_text()
        assert app.trace.steps == 0 and "+0.0000" not in shown and shown.count("n/a here") == 2, shown
