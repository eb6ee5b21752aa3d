"""The history's colour scales, the fill-the-height layout and the notation table, as text without an app."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from rich.console import Console

from lstm_tui.core import explain
from lstm_tui.core.registry import load_model
from lstm_tui.render import panels
from lstm_tui.render.heatmap import as_text
from lstm_tui.render.history import (
    MAX_UNIT_HEIGHT,
    history_legend,
    history_lines,
    history_title,
    robust_range,
    summary_range,
    unit_height,
    unit_scales,
)
from lstm_tui.render.palette import DIVERGING, LEVELS, RowScales, Scale, quantise, quantise_rows
from lstm_tui.render.stages import stages_renderable
from lstm_tui.render.text import unit_text

DEPTH_UNIT = 12  # the brackets demo's unit whose c counts the nesting depth (README, registry)


def _c_panel(trace):
    return next(s for s in panels.panels_for(trace) if s.key == "c")


def test_robust_range_is_each_rows_percentiles_and_ignores_nan_and_inf():
    v = np.vstack([np.arange(101.0), np.zeros(101), np.full(101, np.nan)])  # (3, 101)
    v[1, 50] = np.inf
    lo, hi = robust_range(v, (1, 99))
    assert lo.tolist() == [1.0, 0.0, 0.0] and hi.tolist() == [99.0, 0.0, 0.0]


def test_summary_range_uses_the_bins_minima_and_maxima():
    mins = np.array([[0.0, -1.0], [1.0, -2.0], [2.0, -3.0]])  # (n=3 bins, H=2)
    maxs = mins + 10
    lo, hi = summary_range(mins, maxs, (0, 100))
    assert lo.tolist() == [0.0, -3.0] and hi.tolist() == [12.0, 9.0]


def test_unit_scales_centre_diverging_rows_on_zero_and_keep_flat_rows_on_the_shared_scale():
    shared = Scale(DIVERGING, -10.0, 10.0)
    s = unit_scales(np.array([-1.0, 0.5, 0.0]), np.array([3.0, 2.0, 0.05]), shared)
    assert s.lo.tolist() == [-3.0, -2.0, -10.0] and s.hi.tolist() == [3.0, 2.0, 10.0]  # the third barely moves
    gates = unit_scales(np.array([0.2, 0.5]), np.array([0.4, 0.5]), Scale("viridis", 0.0, 1.0))
    assert gates.lo.tolist() == [0.2, 0.0] and gates.hi.tolist() == [0.4, 1.0]


@given(arrays(np.float64, (3, 7), elements=st.floats(-1e6, 1e6)), st.floats(-5, 5), st.floats(0.01, 5))
def test_quantise_rows_equals_quantise_row_by_row(values, lo, span):
    lo_r, hi_r = np.array([lo, lo - 1, lo + 1]), np.array([lo + span, lo + 2 * span, lo])  # the third is empty
    q = quantise_rows(values, lo_r, hi_r)
    for j in range(3):
        assert q[j].tolist() == quantise(values[j], lo_r[j], hi_r[j]).tolist()


def test_history_lines_colour_each_row_by_its_own_range():
    values = np.array([[0.0, 1.0], [0.0, 100.0]])  # two units, the second a hundred times larger
    scales = RowScales(DIVERGING, np.array([-1.0, -100.0]), np.array([1.0, 100.0]))
    line = history_lines(values, scales, 0, None)[1][1:]  # one line: unit 0 on top, unit 1 below
    assert line[1].style.color == line[1].style.bgcolor  # at t=2 both units are at the top of their range
    shared = history_lines(values, Scale(DIVERGING, -100.0, 100.0), 0, None)[1][1:]
    assert shared[1].style.color != shared[1].style.bgcolor


def test_history_grows_to_the_lines_it_is_given():
    assert unit_height(24, 12) == 1 and unit_height(24, 24) == 2 and unit_height(24, 35) == 2
    assert unit_height(4, 100) == MAX_UNIT_HEIGHT and unit_height(1000, 10) == 1
    values = np.tile(np.linspace(-1, 1, 5), (3, 1))  # (3 units, 5 steps)
    scale = Scale(DIVERGING, -1.0, 1.0)
    for h in range(1, MAX_UNIT_HEIGHT + 1):
        lines = history_lines(values, scale, 2, 1, height=h)
        assert len(lines) == 1 + -(-3 * h // 2)  # the axis, then 3 units of h half-lines
        labels = [line[0].text for line in lines[1:]]
        assert all(len(label) == 6 for label in labels)
        numbered = [int(label[:4]) for label in labels if label[:4].strip()]
        assert numbered == ([0, 2] if h == 1 else [0, 1, 2])  # every unit named once (two a line at h = 1)
        assert any("▶" in label or "▲" in label or "▼" in label for label in labels)  # unit 1 marked
    assert as_text(history_lines(values, scale, 2, None, cell_width=2))[0] == " " * 6 + "     ▼"


def test_history_title_and_legend_say_which_scale_is_in_use():
    shared = Scale(DIVERGING, -14.14, 14.14)
    per_unit = RowScales(DIVERGING, np.array([-3.0, -1.0]), np.array([3.0, 1.0]))
    t_unit = history_title("cell state", "c", 0, 23, 23, per_unit).plain
    t_shared = history_title("cell state", "c", 0, 23, 23, shared).plain
    assert "cell state c of layer 1" in t_unit and "each unit's own range" in t_unit and "r: one shared scale" in t_unit
    assert "one scale for all units (-14.14 … 14.14)" in t_shared and "r: each unit's range" in t_shared
    assert "binned to 100" in history_title("cell state", "c", 0, 5000, 100, shared).plain
    legend_unit = "".join(s.text for s in history_legend(per_unit, 1, 80))
    assert "unit 1: -1 … 1" in legend_unit
    for width in (8, 20, 80):  # the legend is never wider than the map
        for scales in (shared, per_unit):
            assert len("".join(s.text for s in history_legend(scales, 0, width))) <= 6 + width


def _span_and_steps(levels: np.ndarray) -> tuple[int, float]:
    """A row's contrast: its range of colour levels, and its mean change of level from step to step."""
    return int(np.ptp(levels)), float(np.abs(np.diff(levels)).mean())


@pytest.mark.parametrize("text", [None, "((()))(()(()))((((()))))()((()()))."])
def test_the_depth_unit_stands_out_in_the_default_history(text):
    """Unit 12 of the brackets demo swings about ±3.6 while other units reach ±14: on one shared
    scale its row is nearly flat; on its own range it spans most of the palette."""
    model = load_model("brackets")
    trace = model.trace(text or model.meta["example"])
    values = explain.history(trace, "c", 0)  # (H, T)
    shared = panels.scale(trace, _c_panel(trace), 0)
    own = unit_scales(*robust_range(values), shared)
    q_shared = quantise(values, shared.lo, shared.hi)
    q_own = quantise_rows(values, own.lo, own.hi)
    span_shared, steps_shared = _span_and_steps(q_shared[DEPTH_UNIT])
    span_own, steps_own = _span_and_steps(q_own[DEPTH_UNIT])
    assert span_own >= 3 * span_shared and span_own >= LEVELS // 2
    assert steps_own >= 3 * steps_shared
    spans_shared = [np.ptp(r) for r in q_shared]
    spans_own = [np.ptp(r) for r in q_own]
    assert span_shared < np.median(spans_shared)  # shared: one of the flattest rows
    assert span_own >= np.median(spans_own)  # its own range: at least as vivid as a typical row


def test_a_long_trace_gets_its_ranges_from_the_bin_summaries():
    from lstm_tui.core.checkpoint import CheckpointedTrace
    from lstm_tui.core.tracing import trace as checkpointed

    model = load_model("brackets")
    text = "((()))(()(()))((((()))))()((()()))." * 40
    long = checkpointed(model, text, 20_000)  # a small budget: kept as checkpoints and summaries
    assert isinstance(long, CheckpointedTrace)
    s = long.summary("c", 0)
    lo, hi = summary_range(s.lo, s.hi)
    full = explain.history(model.trace(text), "c", 0)
    full_lo, full_hi = robust_range(full)
    # the bins' extremes hold the steps' percentiles, and never go past the steps' extremes
    assert np.all(lo <= full_lo + 1e-5) and np.all(hi >= full_hi - 1e-5)
    assert np.all(lo >= full.min(axis=1) - 1e-5) and np.all(hi <= full.max(axis=1) + 1e-5)
    # and the depth unit stands out in the long history's map too
    shared = panels.scale(long, _c_panel(long), 0)
    own = unit_scales(lo, hi, shared)
    values = s.maxabs()  # (H, n) what the long history draws
    span_own = np.ptp(quantise_rows(values, own.lo, own.hi)[DEPTH_UNIT])
    span_shared = np.ptp(quantise(values, shared.lo, shared.hi)[DEPTH_UNIT])
    assert span_own >= 2 * span_shared


# ----------------------------------------------------------------- notation


def _lstm():
    model = load_model("random", hidden=4, seed=2)
    return model, model.trace("abcab")


def test_every_lstm_equation_follows_the_notation():
    _, trace = _lstm()
    specs = {s.key: s for s in panels.panels_for(trace)}
    classic = {k: panels.equation(s, "classic") for k, s in specs.items()}
    torch = {k: panels.equation(s, "pytorch") for k, s in specs.items()}
    assert torch["f"] == "fᵗ = σ(W_if xᵗ + W_hf hᵗ⁻¹ + b_f)"
    assert classic["f"] == "σ(z^f), where\nz^f = W_if xᵗ + W_hf hᵗ⁻¹ + b_f"
    assert classic["g"].startswith("tanh(z), where\nz = ")
    assert classic["c"] == "cᵗ = σ(z^f) ⊙ cᵗ⁻¹ + σ(z^i) ⊙ tanh(z)" and torch["c"] == "cᵗ = fᵗ ⊙ cᵗ⁻¹ + iᵗ ⊙ gᵗ"
    assert classic["h"] == "hᵗ = σ(z^o) ⊙ tanh(cᵗ)"
    assert panels.equation(specs["o"], "both") == "oᵗ = σ(z^o), where\nz^o = W_io xᵗ + W_ho hᵗ⁻¹ + b_o"
    for q in "ifgo":  # PyTorch's gate letters never appear as values in the notes' notation
        assert f"{q}ᵗ" not in " ".join(classic.values())
        assert "z^" not in torch[q]
    assert panels.title(specs["f"], "classic") == "forget gate  z^f" and panels.title(specs["f"], "pytorch") == "forget gate  f"


def test_every_name_comes_from_the_one_table(monkeypatch):
    """Renaming a gate in NOTATIONS renames it in the panels' equations, the unit view and the stages."""
    model, trace = _lstm()
    table = {n: {part: dict(names) for part, names in v.items()} for n, v in panels.NOTATIONS.items()}
    table["classic"]["value"]["f"] = "FORGET"
    table["classic"]["symbol"]["f"] = "ZF"
    monkeypatch.setattr(panels, "NOTATIONS", table)
    specs = {s.key: s for s in panels.panels_for(trace)}
    assert "FORGET" in panels.equation(specs["c"], "classic") and "ZF" in panels.title(specs["f"], "classic")
    assert "cᵗ = FORGET·cᵗ⁻¹" in unit_text(trace, 0, 2, 1, "classic").plain
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(stages_renderable(explain.stages(model, trace, 0, 3, 1), "classic"))
    stages = console.export_text()
    assert "forget gate ZF" in stages and "FORGET = " in stages


def test_gru_and_rnn_equations_are_the_same_in_every_notation():
    for cell in ("gru", "rnn_tanh"):
        trace = load_model("random", hidden=3, seed=1, cell=cell).trace("ab")
        for spec in panels.panels_for(trace):
            assert len({panels.equation(spec, n) for n in panels.NOTATIONS}) == 1


def test_coloured_token_lines_wrap_keep_the_current_step_and_fit_the_lines():
    from lstm_tui.render.history import coloured_token_lines, token_window

    tokens = tuple("the quick brown fox jumps over the lazy dog ") * 50  # 2,200 steps
    scale = Scale(DIVERGING, -1.0, 1.0)
    for k in (0, 1000, len(tokens) - 1):
        window = token_window(tokens, k, 30 * 3)
        assert window.start <= k < window.stop and window.stop - window.start <= 30 * 3 + 1
        values = np.linspace(-1, 1, window.stop - window.start)
        lines = coloured_token_lines(tokens[window], values, scale, k - window.start, 30, 3)
        assert 1 <= len(lines) <= 3 and all(sum(len(s.text) for s in line) <= 30 for line in lines)
        current = [s for line in lines for s in line if s.style.underline]
        assert len(current) == 1 and current[0].text == (" " if tokens[k] == " " else tokens[k])
    long = coloured_token_lines(("x" * 50,), np.zeros(1), scale, 0, 20, 2)  # a token wider than a line: cut
    assert [sum(len(s.text) for s in line) for line in long] == [20]


def test_words_are_written_with_a_space_between_them_characters_join():
    """The text coloured by a unit (and the gradient view's) of a word model read "12345" for "1 2 3 4 5": words
    now have an uncoloured space between them, which counts in the wrapping; characters still join."""
    from lstm_tui.render.history import coloured_token_lines, coloured_tokens

    scale = Scale("viridis", 0.0, 1.0)
    words = ("the", "cat", "sat", "on", "a", "mat")
    lines = coloured_token_lines(words, np.linspace(0, 1, 6), scale, 2, 11, 3, gap=True)
    assert ["".join(s.text for s in line) for line in lines] == ["the cat sat", "on a mat"]
    assert all(s.style is None or not s.style.bgcolor for line in lines for s in line if s.text == " ")
    chars = coloured_token_lines(tuple("cat"), np.zeros(3), scale, 0, 11, 1)
    assert "".join(s.text for s in chars[0]) == "cat"
    assert coloured_tokens(words, np.zeros(6), scale, gap=True).plain == "the cat sat on a mat"
    assert coloured_tokens(tuple("cat"), np.zeros(3), scale).plain == "cat"
