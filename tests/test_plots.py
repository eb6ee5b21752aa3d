"""Plots as text: what render.plots draws, read back from the built figure."""

import numpy as np
import pytest
from rich.text import Text

from lstm_tui.render import plots

pytestmark = pytest.mark.skipif(not plots.available(), reason=plots.MISSING)


def plain(fig) -> list[str]:
    return Text.from_ansi(fig.build()).plain.split("\n")


def test_decade_ticks_cover_the_range():
    ticks, labels = plots.decade_ticks(-7.3, -0.2)
    assert ticks[0] <= -7.3 and ticks[-1] >= -0.2
    assert labels == [f"1e{int(t)}" for t in ticks]
    assert len(ticks) <= 6


def test_gradient_figure_labels_each_series_on_a_log_axis():
    fig = plots.gradient_figure(
        {"LSTM": np.exp(-np.arange(40) / 30), "RNN": np.r_[np.exp(-np.arange(20.0)), np.zeros(20)], "GRU": np.zeros(40)},
        80,
        18,
    )
    text = "\n".join(plain(fig))
    assert "LSTM" in text and "RNN" in text
    assert "(GRU: all 0)" in text  # a series that underflowed says so instead of vanishing
    ticks = [line.split("┤")[0].strip() for line in text.split("\n") if "┤" in line]
    assert ticks[0] == "1e0"  # the top decade, and one at or below exp(-19) ≈ 5.6e-9
    assert float(ticks[-1]) <= np.exp(-19)


def test_a_series_of_nan_is_said_not_finite_not_all_0():
    """A patched run that turned NaN gives NaN gradients: the title said they were all 0."""
    series = {"hᵗ'": np.full(10, np.nan), "cᵗ'": np.r_[np.inf, np.zeros(9)], "x": np.zeros(10), "y": np.ones(10)}
    title = "\n".join(plain(plots.gradient_figure(series, 80, 18))).split("\n")[0]
    assert "(hᵗ', cᵗ': not finite)" in title and "(x: all 0)" in title


def test_saturation_figure_has_one_frame_per_gate_and_marks_the_unit():
    left = np.array([0.0, 1.0, 0.2, 0.5])
    right = np.array([1.0, 0.0, 0.2, 0.1])
    sat = {g: (left, right) for g in "ifo"}
    lines = plain(plots.saturation_figure(sat, 120, 20, unit=1))
    boxes = plots.frames(lines)
    assert len(boxes) == 3
    text = "\n".join(lines)
    assert text.count(plots.SELECTED) == 3  # once in each gate's plot
    # unit 1 is always shut, never open: the bottom-right corner of the first plot
    left_col, top, right_col, bottom = boxes[0]
    hits = [(r, c) for r, line in enumerate(lines) for c, ch in enumerate(line) if ch == plots.SELECTED and c <= right_col + 1]
    assert len(hits) == 1
    r, c = hits[0]
    assert abs(r - bottom) <= 1 and abs(c - right_col) <= 1


def test_a_click_maps_back_to_the_unit_under_it():
    rng = np.random.default_rng(3)
    left, right = rng.uniform(0, 1, 30), rng.uniform(0, 1, 30)
    sat = {"i": (left, right), "f": (right, left)}
    lines = plain(plots.saturation_figure(sat, 100, 24, unit=7))
    boxes = [plots.Box(*b, (0.0, 1.0), (0.0, 1.0)) for b in plots.frames(lines)]
    # the selected marker's cell in the second plot
    b = boxes[1]
    r, c = next((r, c) for r in range(b.top, b.bottom + 1) for c in range(b.left, b.right + 1) if lines[r][c] == plots.SELECTED)
    x, y = b.to_data(c, r)
    assert plots.nearest_unit(sat, 1, x, y) == 7
    assert b.to_data(b.left - 5, r) is None


def test_series_figure_marks_the_step():
    fig = plots.series_figure({"c[12]": np.sin(np.arange(50) / 5), "max(f)": np.cos(np.arange(50) / 7)}, 70, 14, at=20)
    text = "\n".join(plain(fig))
    assert "c[12]" in text and "max(f)" in text
    assert "watches over time" in text


@pytest.mark.parametrize("steps, width", [(3, 70), (23, 150), (3100, 80), (100_000, 156)])
def test_step_axes_are_labelled_with_whole_steps(steps, width):
    """plotext's own ticks fall between steps (1.50, 775.8): the axes of steps label whole ones."""
    ticks = plots.step_ticks(1, steps, width)
    assert all(isinstance(t, int) and 1 <= t <= steps for t in ticks) and 1 <= len(ticks) <= max(2, width // 12)
    gaps = set(np.diff(ticks).tolist())
    assert len(gaps) <= 1 and all(str(g).strip("0") in ("1", "2", "5") for g in gaps)
    figures = () if steps > 10_000 else (  # (plotting 100,000 points takes seconds: the ticks alone there)
        plots.series_figure({"c[1]": np.sin(np.arange(steps) / 5)}, width, 12, at=1),
        plots.gradient_figure({"LSTM": np.exp(-np.arange(steps) / 30)}, width, 12))
    for fig in figures:
        axis = next(line for line in plain(fig) if "└" in line)  # the labels are the line under the frame
        labels = plain(fig)[plain(fig).index(axis) + 1].split()
        assert labels and all(label.isdigit() for label in labels), labels


def test_step_ticks_of_degenerate_ranges():
    assert plots.step_ticks(3, 1, 80) == [] and plots.step_ticks(5, 5, 80) == [5]
    assert plots.step_ticks(1, 1e30, 80)[-1] == 10**30  # no decade is too large


def test_missing_extra_is_one_line_naming_the_install():
    assert "\n" not in plots.MISSING and "pip install textual-plotext" in plots.MISSING


# ---------------------------------------------------------------------------
# In the app: watches of expressions, the scatter's click, the gradient plot


async def test_an_expression_watch_is_plotted_and_a_second_w_unpins_it():
    from lstm_tui.app import LstmApp
    from lstm_tui.core.registry import load_model
    from lstm_tui.core.watches import watch
    from lstm_tui.widgets.figure import Figure

    app = LstmApp(load_model("brackets"), text="(()(()))((()()(())))().")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("W", *"c[12]*o[12]", "enter")
        await pilot.pause()
        (text, layer, series), = app.watch_exprs
        assert (text, layer) == ("c[12]*o[12]", 0)
        expected = app.trace.states["c"][0][:, 12] * app.trace.states["o"][0][:, 12]
        np.testing.assert_allclose(series, expected, rtol=1e-6)
        np.testing.assert_allclose(series, watch(app.trace, text, 0), rtol=0)
        assert app.query_one("#watch-plot", Figure).display
        await pilot.press("i", *"(((", "enter")  # a new sequence: the series follows it
        await pilot.pause()
        assert len(app.watch_exprs[0][2]) == 3
        await pilot.press("W", *"c[12]*o[12]", "enter")
        await pilot.pause()
        assert app.watch_exprs == []


async def test_a_watch_of_a_long_input_plots_no_more_points_than_the_plot_has_dots(monkeypatch):
    """plotext takes seconds over 100,000 points and the plot is rebuilt at every step (its mark
    moves): a watch of a long input froze each step for seconds. A long series is drawn as bin means."""
    from conftest import settle

    from lstm_tui.app import LstmApp
    from lstm_tui.core.registry import load_model
    from lstm_tui.widgets.figure import Figure

    drawn = []
    real = plots.new_figure

    def counting(width, height):
        fig = real(width, height)
        plot = fig.plot
        fig.plot = lambda x, y, **kw: (drawn.append((width, len(x))), plot(x, y, **kw))[1]
        return fig

    monkeypatch.setattr(plots, "new_figure", counting)
    text = "(()(()))((()()(())))()." * 300
    app = LstmApp(load_model("brackets"), text=text)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot, lambda: app.tracing is None and app.trace.steps == len(text))
        await pilot.press("W", *"c[12]*o[12]", "enter", "m")
        await settle(pilot, lambda: app.watch_exprs and app.watch_exprs[0][2] is not None)
        await pilot.press("n")
        await settle(pilot, lambda: len(drawn) >= 2 and app.query_one("#watch-plot", Figure)._cached is not None)
        assert drawn and all(0 < n <= 2 * width for width, n in drawn), drawn
        series = app.watch_exprs[0][2]
        fig = plots.series_figure({"w": series}, 150, 12, at=5)  # the axis still runs to the last step
        assert "6000" in "\n".join(plain(fig))  # of 6,900 steps


async def test_a_malformed_watch_is_refused_with_a_caret():
    from lstm_tui.app import LstmApp
    from lstm_tui.core.registry import load_model

    app = LstmApp(load_model("brackets"), text="(())")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("W", *"max(f", "enter")
        await pilot.pause()
        assert app.watch_exprs == []
        note = list(app._notifications)[-1].message
        assert "max(f" in note and "^" in note.splitlines()[-1]


async def test_a_click_on_the_saturation_scatter_selects_the_unit_under_it():
    from lstm_tui.app import LstmApp
    from lstm_tui.core.registry import load_model
    from lstm_tui.widgets.figure import Figure

    app = LstmApp(load_model("brackets"), text="(()(()))((()()(())))().")
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        fig = app.query_one("#units-scatter", Figure)
        fig.render()  # the boxes are known once it is drawn
        box = fig._boxes[1]  # the forget gate's plot
        sat = fig.parent._sat
        left, right = sat["f"]
        j = int(np.argmax(left))  # the unit most often shut
        col = box.left + round(left[j] * (box.right - box.left))
        row = box.bottom - round(right[j] * (box.bottom - box.top))
        await pilot.click(fig, offset=(col, row))
        await pilot.pause()
        chosen = app.unit
        assert abs(left[chosen] - left[j]) < 0.05 and abs(right[chosen] - right[j]) < 0.1


def test_saturation_titles_shorten_to_fit_a_narrow_screen():
    """At 80 columns each of three plots is about 25 wide: plotext dropped the 31-character title, so
    nothing said which plot was which gate."""
    sat = {g: (np.linspace(0, 1, 5), np.linspace(1, 0, 5)) for g in "ifo"}
    for width, words in ((160, "i: → shut (<0.1)  ↑ open (>0.9)"), (76, "i: → <0.1  ↑ >0.9"), (40, "i ")):
        title = plain(plots.saturation_figure(sat, width, 14))[0]
        assert words in title and "f" in title and "o" in title, (width, title)
