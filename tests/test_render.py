"""The pure renderers, as text and styles, without an app."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lstm_tui.core.registry import load_model
from lstm_tui.render import panels
from lstm_tui.render.heatmap import as_text, heatmap_lines, layout, legend, level_segments
from lstm_tui.render.palette import LEVELS, Scale, colours, names, quantise
from lstm_tui.render.text import bar, token_label, token_strip, top_k, top_k_text, top_tokens, unit_text


def test_quantise_maps_the_range_to_levels_and_clips():
    q = quantise(np.array([-5.0, 0.0, 0.5, 1.0, 7.0, np.nan]), 0.0, 1.0)
    assert q.tolist() == [0, 0, LEVELS // 2, LEVELS - 1, LEVELS - 1, 0]



def test_values_far_outside_the_scale_take_its_end_colours():
    """A patch can set a value to 1e30 or inf: the top colour, not the bottom one a wrapped cast gave."""
    from lstm_tui.render.palette import quantise_rows

    far = np.array([np.inf, 1e300, 3e38, -np.inf, -1e300, np.nan])
    want = [LEVELS - 1] * 3 + [0] * 3
    assert quantise(far, -1.0, 1.0).tolist() == want
    with np.errstate(over="ignore"):
        far32 = far.astype(np.float32)  # 1e300 is inf in float32
    assert quantise(far32, -1.0, 1.0).tolist() == want
    assert quantise_rows(far[None, :], np.array([-1.0]), np.array([1.0])).tolist() == [want]
    assert quantise(0.5, 0.0, 1.0) == LEVELS // 2  # a single value too

def test_palettes_have_all_levels_and_distinct_ends():
    for name in names():
        cs = colours(name)
        assert len(cs) == LEVELS and cs[0] != cs[-1]
    assert colours("blue-white-red")[0][2] > colours("blue-white-red")[0][0]  # negative is blue


def test_layout_prefers_wide_cells_when_they_fit():
    assert layout(10, 40) == (10, 2)
    assert layout(30, 40) == (30, 1)
    assert layout(100, 40) == (40, 1)


def test_heatmap_lines_wrap_and_mark_the_selected_unit():
    vals = np.linspace(0, 1, 10)
    lines = heatmap_lines(vals, Scale("viridis", 0, 1), cols=4, cell_width=1, selected=5)
    assert as_text(lines) == ["    ", " ◆  ", "  "]
    plain, _ = level_segments("viridis", 1)
    assert lines[0][0].style == plain[0].style and lines[2][1].style == plain[LEVELS - 1].style


def test_monochrome_uses_a_glyph_ramp():
    lines = heatmap_lines(np.array([0.0, 0.5, 1.0]), Scale("viridis", 0, 1), cols=3, mono=True)
    text = as_text(lines)[0]
    assert text[0] == " " and text[2] == "█" and text[1] in "░▒▓"
    assert all(seg.style is None or seg.style.bgcolor is None for seg in lines[0])


def test_legend_shows_the_range():
    text = "".join(s.text for s in legend(Scale("blue-white-red", -2.5, 2.5), width=20))
    assert text.startswith("-2.5 ") and text.endswith(" 2.5")


def test_legend_is_as_wide_as_the_heatmap_row_it_explains():
    scale = Scale("blue-white-red", -14.14, 14.14)
    for row in (1, 4, 8, 12, 24, 34):
        segs = legend(scale, row, room=34)
        ramp = [s for s in segs if s.style.bgcolor is not None]
        # the ramp is the row's width, and the range goes after it when there is room, inside it when not
        text = "".join(s.text for s in segs)
        assert len(text) <= max(row, 34)
        if row + len(" -14.14 … 14.14") <= 34:
            assert len(ramp) == row and text.endswith("-14.14 … 14.14")
        else:
            assert len(text) == row
    assert len("".join(s.text for s in legend(scale, 24))) == 24  # no room given: the row's width exactly


def test_token_labels_are_inert():
    assert token_label(" ") == "␠" and token_label("\n") == "⏎" and token_label("\t") == "⇥"
    assert token_label(" the") == "␠the"
    assert token_label("\x1b[31m") == "␛[31m"  # C0 controls as their control pictures
    assert token_label("\x00") == "␀" and token_label("\x7f") == "␡" and token_label("\x85") == "\\x85"
    assert "\x1b" not in token_label("a\x1bb")
    assert token_label("\u202e") == "\\u202e"  # right-to-left override shown, not obeyed
    assert token_label("\u2028") == "\\u2028" and token_label("\u00a0") == "⍽"  # line separator, no-break space
    assert token_label("") == "∅"


@given(st.text(max_size=8))
def test_token_labels_are_printable_and_one_line(tok):
    label = token_label(tok)
    assert label and label.isprintable() and " " not in label


def test_top_k_columns_line_up():
    rows = [(token_label(" "), 0.5), (token_label("\n"), 0.25), ("<unk>", 0.125), ("a-very-long-token", 0.0)]
    lines = top_k_text(rows, 31, label_width=8).plain.split("\n")
    assert [line.split()[0] for line in lines] == ["␠", "⏎", "<unk>", "a-very-…"]
    assert len({line.index("0.") for line in lines}) == 1  # probabilities in one column
    bars = [line[line.index("0.") + 6 :] for line in lines]
    assert [len(b) for b in bars] == [8, 4, 2, 0] and bars[0] == "█" * 8  # 31 - 8 - 7 = 16 cells for p = 1
    assert all(len(line) <= 31 for line in lines)
    assert bar(0.5, 3) == "█▌" and bar(0.0, 5) == "" and bar(1.5, 2) == "██"


def test_token_strip_keeps_the_current_step_in_view():
    toks = tuple("abcdefghijklmnopqrstuvwxyz" * 4)
    unknown = np.zeros(len(toks), dtype=bool)
    for k in (0, 50, len(toks) - 1):
        line = token_strip(toks, unknown, k, 30)
        assert line.cell_len <= 30
        spans = [line.plain[s.start : s.end] for s in line.spans if "reverse" in str(s.style)]
        assert spans == [toks[k]]
    assert token_strip(toks, unknown, 50, 30).plain.startswith("…")


def test_unit_text_has_the_numbers_of_the_equations():
    trace = load_model("random", hidden=4, seed=2).trace("abc")
    text = unit_text(trace, 0, 2, 3).plain
    f, c = trace.states["f"][0, 2, 3], trace.states["c"][0, 2, 3]
    assert f"{f:.4f}" in text and f"{c:+.4f}" in text and "cᵗ = fᵗ·cᵗ⁻¹ + iᵗ·gᵗ" in text


def test_top_tokens_lists_the_most_likely_first():
    model = load_model("random", hidden=4, seed=2)
    trace = model.trace("ab")
    text = top_tokens(trace, model.vocab, 1).plain
    best = int(np.argmax(trace.y[1]))
    assert text.startswith(token_label(model.vocab[best]) + " ")
    rows = top_k(trace, model.vocab, 1, n=3)
    assert [p for _, p in rows] == sorted(np.sort(trace.y[1])[::-1][:3].tolist(), reverse=True)


def test_panel_scales():
    trace = load_model("random", hidden=4, seed=2).trace("hello")
    by_key = {p.key: p for p in panels.panels_for(trace)}
    assert panels.scale(trace, by_key["f"], 0) == Scale("viridis", 0, 1)
    c = panels.scale(trace, by_key["c"], 0)
    assert c.lo == -c.hi and c.hi == np.abs(trace.states["c"]).max()
    assert np.array_equal(panels.values(trace, "c_prev", 0, 0), trace.c0[0])
    assert np.array_equal(panels.values(trace, "h_prev", 0, 3), trace.states["h"][0, 2])


def test_every_segment_has_a_style():
    """Textual's monochrome filter (NO_COLOR) needs a Style on every segment."""
    vals = np.linspace(-1, 1, 7)
    scale = Scale("blue-white-red", -1, 1)
    for mono in (False, True):
        for line in heatmap_lines(vals, scale, cols=3, selected=2, mono=mono):
            assert all(seg.style is not None for seg in line)
        assert all(seg.style is not None for seg in legend(scale, 20, mono))


def test_token_strip_looks_only_at_the_tokens_it_shows():
    class Counting(tuple):
        reads = 0

        def __getitem__(self, n):
            Counting.reads += 1
            return tuple.__getitem__(self, n)

    toks = Counting(["ab"] * 100_000)
    line = token_strip(toks, np.zeros(len(toks), dtype=bool), 50_000, 40)
    assert line.cell_len <= 40
    assert Counting.reads < 40


def test_stages_text_follows_the_notation_and_brackets_negative_factors():
    from rich.console import Console

    from lstm_tui.core import explain
    from lstm_tui.render.stages import stages_renderable

    model = load_model("random", hidden=4, seed=2)
    trace = model.trace("abcab")
    st = explain.stages(model, trace, 0, 3, 1)

    def text(notation):
        console = Console(width=200, record=True, file=__import__("io").StringIO())
        console.print(stages_renderable(st, notation))
        return console.export_text()

    assert "σ(z^f) = " in text("classic") and "fᵗ = " in text("pytorch")
    assert "·-" not in text("both") and "+ -" not in text("both")


def test_the_input_panel_above_the_first_layer_says_it_reads_the_layer_below():
    from lstm_tui.render.acts import layer_equation

    model = load_model("random", hidden=4, layers=3)
    x = next(s for s in panels.PANELS[model.cell] if s.key == "x")
    assert layer_equation(x.equation, "x", model, 0) == x.equation  # the embedding
    assert layer_equation(x.equation, "x", model, 2) == "xᵗ: layer 2's hidden state hᵗ, this layer's input"


def test_a_lone_mark_token_sits_on_a_dotted_circle():
    """A vocabulary of code points makes tokens of marks, which alone take no cell: shown on ◌, as type books do."""
    from rich.cells import cell_len

    from lstm_tui.render.text import token_label

    assert token_label("\u093f") == "\u25cc\u093f" and cell_len(token_label("\u093f")) == 1
    assert token_label("\u0939\u093f") == "\u0939\u093f" and token_label("e\u0301") == "e\u0301"
