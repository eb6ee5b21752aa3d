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


def test_missing_extra_is_one_line_naming_the_install():
    assert "\n" not in plots.MISSING and "pip install textual-plotext" in plots.MISSING
