"""The panel as one Line-API widget: its lines as text, and which of them a step redraws (no clocks)."""

from __future__ import annotations

import numpy as np
from textual.app import App, ComposeResult

from lstm_tui.render.heatmap import as_text, heatmap_lines, legend
from lstm_tui.render.palette import Scale
from lstm_tui.render.panels import PANELS, equation
from lstm_tui.render.text import top_k_text
from lstm_tui.widgets.heatmap import MAX_ROWS
from lstm_tui.widgets.panel import Panel
from lstm_tui.widgets.rich_lines import rich_strips

SPECS = {s.key: s for s in PANELS["lstm"]}
GATE = Scale("viridis", 0.0, 1.0)


class OnePanel(App):
    """A panel alone, 40 cells wide (37 inside its border and padding)."""

    CSS = "Panel { width: 40; }"

    def __init__(self, key: str) -> None:
        super().__init__()
        self.panel = Panel(SPECS[key], id="p")

    def compose(self) -> ComposeResult:
        yield self.panel


def text(panel: Panel) -> list[str]:
    return ["".join(seg.text for seg in strip) for strip in panel._lines]


async def test_the_lines_are_equation_heatmap_rows_legend():
    app = OnePanel("f")
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.panel
        values = np.linspace(0, 1, 50)
        panel.show(values, GATE, 3)
        await pilot.pause()
        width = panel.content_region.width
        assert width == 37
        lines = text(panel)
        eq = equation(SPECS["f"]).splitlines()
        assert lines[: len(eq)] == eq  # the equation first, as written
        heat = panel.heatmap
        want = as_text(heatmap_lines(values, GATE, heat.cols, heat.cell_width, 3))
        assert heat.cols == 37 and len(want) == 2
        assert lines[len(eq) : len(eq) + 2] == [w.ljust(width) for w in want]  # rows padded to the width
        assert "◆" in lines[len(eq)] and "◆" not in lines[len(eq) + 1]  # unit 3 is in the first row
        row = min(heat.cols * heat.cell_width, width)
        assert lines[len(eq) + 2] == "".join(s.text for s in legend(GATE, row, False, width))
        assert len(lines) == len(eq) + 3 == panel.size.height
        assert panel.border_subtitle.startswith("50 values")


async def test_a_step_redraws_only_the_rows_that_changed():
    app = OnePanel("f")
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.panel
        values = np.linspace(0, 1, 111)  # three rows of 37
        panel.show(values, GATE, None)
        await pilot.pause()
        top = panel.heatmap.top
        before = list(panel._lines)
        changed = values.copy()
        changed[40] = 1 - changed[40]  # a value of the second row only
        panel.show(changed, GATE, None)
        after = list(panel._lines)
        assert [y for y in range(len(after)) if after[y] is not before[y]] == [top + 1]
        panel.show(changed, GATE, 80)  # the marker moves into the third row
        assert panel._lines[top + 2] is not after[top + 2] and panel._lines[top] is after[top]
        assert "◆" in text(panel)[top + 2]


async def test_a_tall_heatmap_scrolls_to_the_marked_unit_beside_a_scrollbar():
    app = OnePanel("c")
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.panel
        values = np.linspace(-1, 1, 1024)
        panel.show(values, Scale("blue-white-red", -1, 1), 1000)
        await pilot.pause()
        heat = panel.heatmap
        assert heat.cols == 36  # a cell less than the panel: the scrollbar takes it
        assert len(heat._strips) == -(-1024 // 36) and heat.region.height == MAX_ROWS
        lines = text(panel)[heat.top : heat.top + MAX_ROWS]
        assert all(len(line) == 37 for line in lines)
        assert sum("◆" in line for line in lines) == 1  # unit 1000's row is in view
        row = 1000 // 36 - heat.map.scroll
        assert 0 <= row < MAX_ROWS and "◆" in lines[row]
        assert heat.unit_at(1000 % 36, row) == 1000


async def test_the_output_panel_shows_its_top_tokens_under_the_legend():
    app = OnePanel("y")
    async with app.run_test(size=(60, 24)) as pilot:
        panel = app.panel
        p = np.array([0.5, 0.3, 0.1, 0.05, 0.03, 0.02])
        rows = [("␠", 0.5), ("a", 0.3), ("b", 0.1), ("c", 0.05), ("d", 0.03)]
        panel.show(p, GATE, None, extra=rows)
        await pilot.pause()
        lines = text(panel)
        want = top_k_text(rows, panel.content_region.width).plain.splitlines()
        assert lines[-len(want) :] == want
        assert panel.size.height == len(lines)


async def test_the_equation_lines_follow_the_notation():
    app = OnePanel("c")
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.panel
        panel.show(np.zeros(8), Scale("blue-white-red", -1, 1), 0)
        await pilot.pause()
        assert text(panel)[0] == "cᵗ = fᵗ ⊙ cᵗ⁻¹ + iᵗ ⊙ gᵗ"
        panel.set_notation("classic")  # the title now; the equation comes with the step
        panel.show(np.zeros(8), Scale("blue-white-red", -1, 1), 0, equation=equation(SPECS["c"], "classic"))
        await pilot.pause()
        assert panel.border_title.startswith("cell state")
        assert text(panel)[0] == "cᵗ = σ(z^f) ⊙ cᵗ⁻¹ + σ(z^i) ⊙ tanh(z)"


def _textual_lines(panel: Panel, crop) -> list[list]:
    """The lines Textual itself draws for ``crop`` of the panel (its line cache emptied first)."""
    from textual.widget import Widget

    panel.refresh()
    return [list(strip) for strip in Widget.render_lines(panel, crop)]


async def test_heatmap_rows_framed_by_the_panel_are_the_lines_textual_draws():
    """The panel frames its heatmap rows itself (render_lines): cell for cell, style for style, what
    Textual draws, with a scrollbar, numbers, a crop, another theme, and a tint it cannot copy."""
    from textual.geometry import Region

    app = OnePanel("c")
    async with app.run_test(size=(60, 24)) as pilot:
        panel = app.panel
        rng = np.random.default_rng(0)
        diverging = Scale("blue-white-red", -1.0, 1.0)
        for values, numbers, theme in (
            (rng.uniform(-1, 1, 50), False, None),
            (rng.uniform(-1, 1, 400), False, None),  # taller than MAX_ROWS: a scrollbar
            (rng.uniform(-1, 1, 30), True, None),
            (rng.uniform(-1, 1, 400), False, "textual-light"),
        ):
            if theme:
                app.theme = theme
            panel.show(values, diverging, 7, numbers=numbers)
            await pilot.pause()
            whole = Region(0, 0, *panel.outer_size)
            for crop in (whole, Region(3, 2, 20, 5), Region(0, panel.heatmap.top + 1, whole.width, 2)):
                ours = [list(strip) for strip in panel.render_lines(crop)]
                assert panel._framing, "the rows were framed by the panel"
                assert ours == _textual_lines(panel, crop)
        # Lines other than the rows are kept as Textual drew them: each change must reach the screen.
        for change in (
            lambda: panel.show(rng.uniform(-1, 1, 400), Scale("blue-white-red", -2.0, 2.0), 7),  # the legend alone
            lambda: panel.show(rng.uniform(-1, 1, 400), diverging, 9, equation="cᵗ = a new equation"),
            lambda: panel.show(rng.uniform(-1, 1, 400), diverging, 9, subtitle="another subtitle"),
            lambda: setattr(panel.styles, "width", 52),  # a resize
        ):
            before = [list(strip) for strip in panel.render_lines(Region(0, 0, *panel.outer_size))]
            change()
            await pilot.pause()
            whole = Region(0, 0, *panel.outer_size)
            ours = [list(strip) for strip in panel.render_lines(whole)]
            assert panel._framing and ours != before
            assert ours == _textual_lines(panel, whole)
        panel.styles.tint = "red 30%"  # a tint the copied frame could not carry: Textual draws every line
        await pilot.pause()
        whole = Region(0, 0, *panel.outer_size)
        ours = [list(strip) for strip in panel.render_lines(whole)]
        assert panel._framing == ()
        assert ours == _textual_lines(panel, whole)


def _cells(strips) -> list[list[tuple]]:
    """Each segment's text, colours as drawn (red and color(1) are one), attributes and meta."""

    def rgb(color):
        return None if color is None else color.get_truecolor()

    return [[(seg.text, rgb(seg.style.color), rgb(seg.style.bgcolor), seg.style.bold, seg.style.dim,
              seg.style.italic, seg.style.reverse, seg.style.underline, seg.style.meta) for seg in strip]
            for strip in strips]


async def test_text_drawn_by_rich_is_what_textual_draws():
    """The output panel's top tokens change every step and are drawn by Rich (rich_strips):
    segment for segment, offsets included, what Textual's visual draws; text that would wrap is not."""
    from rich.text import Text
    from textual.visual import Visual, visualize

    app = OnePanel("y")
    async with app.run_test(size=(60, 20)):
        panel = app.panel
        style = panel.visual_style
        heading = Text("next (clean → patched):\n", style="bold")  # a style of the whole text
        heading.append("  ab ", style="reverse")
        heading.append("0.500 → 0.250 ")
        heading.append("-0.693", style="red")
        for text in (
            top_k_text([("w12", 0.4), ("␠", 0.3), ("a long token", 0.01)], 37),
            heading,
            Text.assemble(("-1", "bold"), " ", ("█████", "blue on red")),
            Text.assemble(("日本語", "bold"), " 😀 this ", ("[x]", "dim")),  # offsets count characters
        ):
            ours = rich_strips(panel, text, 37, style)
            assert ours is not None
            theirs = Visual.to_strips(panel, visualize(panel, text, markup=False), 37, None, style)
            assert _cells(ours) == _cells(theirs)
        assert rich_strips(panel, Text("x" * 38), 37, style) is None  # it would wrap: Textual's visual
        assert rich_strips(panel, Text("red", style="red"), 37, style) is None  # Textual reads "red" as CSS
        assert rich_strips(panel, Text("x", style="bold italic"), 37, style) is not None


async def test_a_rich_static_draws_what_a_static_draws():
    """The status line is a RichStatic of plain text (markup off): the cells a Static draws for it,
    brackets included; a Rich text too; and markup still read when it is on."""
    from rich.text import Text
    from textual.app import App
    from textual.widgets import Static

    from lstm_tui.widgets.rich_lines import RichStatic

    plain = RichStatic("t = 3 / 14  token '[b]'  unit 0 of 8", markup=False)
    styled = RichStatic(Text.assemble(("unit 3", "bold"), " of 8 ", ("[x]", "red")))
    marked = RichStatic("a [b]bold[/b] word")

    class Three(App):
        def compose(self):
            yield plain
            yield styled
            yield marked

    app = Three()
    async with app.run_test(size=(60, 8)):
        for widget in (plain, styled, marked):
            ours = widget.render_line(0)
            widget.refresh()
            assert _cells([ours]) == _cells([Static.render_line(widget, 0)])
        assert "[b]" in "".join(seg.text for seg in plain.render_line(0))
        assert "".join(seg.text for seg in marked.render_line(0)).startswith("a bold word")
        assert plain._rich_kept[4] is not None and styled._rich_kept[4] is not None  # drawn by Rich


async def test_rows_laid_out_for_another_width_are_cut_as_textual_cuts_them():
    """Textual draws a frame after a resize and before the panel lays its lines out again: rows made
    for the old, wider box must not cover the border; they are cut to the box as Textual cuts them."""
    from rich.segment import Segment
    from textual.geometry import Region
    from textual.strip import Strip

    app = OnePanel("c")
    async with app.run_test(size=(60, 24)) as pilot:
        panel = app.panel
        panel.show(np.random.default_rng(0).uniform(-1, 1, 400), Scale("blue-white-red", -1.0, 1.0), 7)
        await pilot.pause()
        assert panel._frame()
        panel._lines = [Strip([*line.adjust_cell_length(panel._width), Segment("XYZ")]) for line in panel._lines]  # a wider box
        whole = Region(0, 0, *panel.outer_size)
        ours = [list(strip) for strip in panel.render_lines(whole)]
        assert panel._framing, "framed by the panel"
        assert "XYZ" not in "".join(seg.text for line in ours for seg in line)
        assert ours == _textual_lines(panel, whole)


async def test_a_panels_height_at_another_width_counts_the_legend_made_for_that_width():
    """Textual asks a panel's height at its new width before the panel has made its lines for it: the
    legend, made as wide as the width it is shown at, must count one line, not the old width's legend
    wrapped (after a screen was made narrower under load, a panel kept a blank line until the next layout)."""
    app = OnePanel("f")
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.panel
        panel.show(np.linspace(0, 1, 50), GATE, 3)
        await pilot.pause()
        assert panel._width == 37
        asked = panel.content_height(20)  # before the panel is laid out at 20
        panel.styles.width = 23  # 20 inside the border and padding
        await pilot.pause()
        assert panel._width == 20
        assert asked == panel.content_height(20) == len(panel._lines) == panel.content_region.height


async def test_the_output_panels_height_at_another_width_counts_its_top_tokens_made_for_that_width():
    app = OnePanel("y")
    async with app.run_test(size=(60, 24)) as pilot:
        panel = app.panel
        rows = [("␠", 0.95), ("a", 0.03), ("b", 0.01), ("c", 0.005), ("d", 0.003)]  # a bar as wide as the panel
        panel.show(np.array([0.95, 0.03, 0.01, 0.005, 0.003, 0.002]), GATE, None, extra=rows)
        await pilot.pause()
        asked = panel.content_height(25)
        panel.styles.width = 28
        await pilot.pause()
        assert panel._width == 25
        assert asked == panel.content_height(25) == len(panel._lines) == panel.content_region.height
