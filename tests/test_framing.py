"""Content lines framed by the widget (widgets/framing.py): the lines Textual itself draws, on every screen."""

from __future__ import annotations

import re

import pytest
from rich.ansi import AnsiDecoder
from rich.cells import cell_len
from rich.color import ColorSystem
from rich.console import Console
from rich.text import Text
from textual._compositor import CompositorUpdate
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget

from lstm_tui.app import LstmApp
from lstm_tui.core.registry import load_model
from lstm_tui.widgets.framing import FramedLines
from lstm_tui.widgets.rich_lines import RichStatic

KEYS = ["n", "n", "p", "j", "n", "l", "n", "number_sign", "n", "N", "n", "P", "n", "2", "1", "n", "v"]


_MOVE = re.compile(r"\x1b\[(\d+);(\d+)H")  # the cursor moved to (row, column), from 1


def _paint(cells: dict, data: str, console: Console) -> None:
    """What ``data`` (the escape codes an update writes) leaves on a terminal: cells (x, y) -> (character, style)."""
    parts = _MOVE.split(data)
    decoder = AnsiDecoder()
    for i in range(1, len(parts), 3):
        x, y = int(parts[i + 1]) - 1, int(parts[i]) - 1
        for segment in decoder.decode_line(parts[i + 2].rstrip("\n")).render(console):
            for ch in segment.text:
                cells[(x, y)] = (ch, segment.style)
                x += cell_len(ch)


def _terminal(app: LstmApp) -> tuple[dict, Console]:
    """A terminal that the app's updates are written to as a user's terminal gets them (a headless app
    writes none): its cells, and the console that reads them. A true-colour one: a headless app's console
    has 16 colours, and a screenshot (true colour) leaves its colours' escape codes in Rich's styles."""
    app.console._color_system = ColorSystem.TRUECOLOR
    cells: dict = {}
    console = Console(width=400, height=200, force_terminal=True, color_system="truecolor")
    display = app._display

    def written(screen, update) -> None:
        if isinstance(update, CompositorUpdate):
            _paint(cells, update.render_segments(app.console), console)
        display(screen, update)

    app._display = written
    return cells, console


async def _stale(pilot, cells: dict, console: Console) -> list[tuple[int, int]]:
    """The cells where the terminal shows something other than the screen drawn afresh, once the app
    has drawn what it has to (a change comes in a frame or two: one that never reaches the terminal stays)."""
    app = pilot.app
    for _ in range(10):
        whole: dict = {}
        update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
        _paint(whole, update.render_segments(app.console), console)
        stale = sorted((y, x) for (x, y), cell in whole.items() if cells.get((x, y)) != cell)
        if not stale:
            break
        await pilot.pause(0.03)
    return stale


async def _screens(size: tuple[int, int], keys: list[str], theme: str, framed: bool) -> list[str]:
    app = LstmApp(load_model("random", hidden=60, seed=0, layers=2), text="the cat sat on the mat.")
    cells, console = _terminal(app)
    shots = []
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            if key == "N" and theme:  # and a theme, mid-way
                app.theme = theme
            await pilot.pause(0.05)  # the steps drawn ahead, between keys
            await pilot.pause()
            shots.append(app.export_screenshot())
            assert (await _stale(pilot, cells, console))[:5] == [], key  # every change reached the terminal
            if framed:  # none refused to frame its lines (a panel scrolled out of sight has drawn none)
                shown = [w._framing for w in app.screen.walk_children(Widget) if isinstance(w, FramedLines)]
                assert sum(map(bool, shown)) >= 3 and () not in shown, key
    return shots


@pytest.mark.parametrize("size", [(160, 50), (80, 24)])
async def test_every_screen_is_what_textual_draws_without_the_framing(monkeypatch, size):
    """Steps, a unit, a layer, numbers, notation, palette, a theme, other views: the framed screen,
    cell for cell, is the one Textual draws when it frames every line itself."""
    framed = await _screens(size, KEYS, "textual-light", True)
    monkeypatch.setattr(FramedLines, "_frame", lambda self: None)
    assert framed == await _screens(size, KEYS, "textual-light", False)


def _textual(widget: Widget, crop: Region | None = None) -> list[list]:
    """The lines of ``widget`` (all, or ``crop``) as Textual itself draws them (its line cache emptied first)."""
    widget.refresh()
    return [list(strip) for strip in Widget.render_lines(widget, crop or Region(0, 0, *widget.outer_size))]


def _ours(widget: Widget, crop: Region | None = None) -> list[list]:
    return [list(strip) for strip in widget.render_lines(crop or Region(0, 0, *widget.outer_size))]


class Boxed(App):
    CSS = "RichStatic { border: round red; padding: 0 2; width: 30; height: 5; }"

    def compose(self) -> ComposeResult:
        yield RichStatic("one\ntwo, a longer line\nthree", id="boxed", markup=False)


async def test_a_changed_style_or_size_copies_the_frame_again():
    """The frame holds the border, padding and background of the widget: set inline (which Textual does
    not announce to the widget), by CSS of an ancestor, or by a new size, the lines follow."""
    app = Boxed()
    async with app.run_test(size=(60, 12)) as pilot:
        widget = app.query_one(RichStatic)
        await pilot.pause()
        assert _ours(widget) == _textual(widget) and widget._framing
        for change in (
            lambda: setattr(widget.styles, "background", "blue 50%"),  # (the screen shows through)
            lambda: setattr(widget.styles, "border", ("heavy", "green")),
            lambda: setattr(app.screen.styles, "background", "darkred"),  # under the widget's own
            lambda: setattr(widget.styles, "padding", (0, 1, 0, 3)),
            lambda: setattr(widget.styles, "width", 24),
            lambda: widget.update("a new text"),
            lambda: setattr(widget, "border_title", "a title"),
            lambda: setattr(widget, "border_subtitle", "a subtitle"),
            lambda: setattr(widget, "border_title", "another title"),
            lambda: setattr(widget, "border_title", Text("another title", style="reverse")),  # its style alone
        ):
            before = _ours(widget)
            change()
            await pilot.pause()
            ours = _ours(widget)
            assert ours != before and widget._framing
            assert ours == _textual(widget)
            part = Region(2, 1, 9, 3)  # a crop through the border and the text
            assert _ours(widget, part) == _textual(widget, part)
        widget.styles.tint = "red 30%"  # a tint the copied frame cannot carry: Textual draws every line
        await pilot.pause()
        assert _ours(widget) == _textual(widget) and widget._framing == ()


async def test_lines_framed_ahead_are_the_lines_shown_with_their_escape_codes_made():
    app = Boxed()
    async with app.run_test(size=(60, 12)) as pilot:
        widget = app.query_one(RichStatic)
        await pilot.pause()
        later = Text("drawn ahead\nof its step")
        widget.rich_warm(later)
        ahead = [kept for kept in widget._framed_rows.values()]
        assert all(framed._render_cache is not None for _, framed in ahead[-2:])  # escape codes made
        widget.update(later)
        await pilot.pause()
        shown = widget.render_lines(Region(0, 0, *widget.outer_size))
        assert [kept[1] for kept in ahead[-2:]] == [line for line in shown[1:3]]
        assert all(any(line is framed for _, framed in ahead) for line in shown[1:3])  # the same strips
        assert [list(line) for line in shown] == _textual(widget)


class Hovered(App):
    CSS = "RichStatic { border: round red; width: 40; height: 4; }"

    def compose(self) -> ComposeResult:
        yield RichStatic(Text("numbers under the mouse"), id="text")
        yield RichStatic("a [@click=app.bell]link[/] to click", id="link")


async def test_the_mouse_over_text_keeps_the_frame_and_over_a_link_textual_draws():
    """Text drawn for the app carries the mouse offsets of its cells (a link id, to Rich): the mouse resting
    on the unit view's numbers must not leave every step to Textual. Over a link Textual restyles it."""
    app = Hovered()
    async with app.run_test(size=(60, 12)) as pilot:
        text, link = app.query_one("#text", RichStatic), app.query_one("#link", RichStatic)
        await pilot.hover(text, offset=(3, 1))
        await pilot.pause()
        assert text.hover_style._link_id  # the offsets
        text.update(Text("other numbers"))
        await pilot.pause()
        shown = text.render_lines(Region(0, 0, *text.outer_size))
        assert any(line is framed for line in shown for _, framed in text._framed_rows.values())
        assert [list(line) for line in shown] == _textual(text)
        before = _ours(link)
        await pilot.hover(link, offset=(4, 1))
        await pilot.pause()
        assert _textual(link) != before  # Textual restyles the link under the mouse
        assert _ours(link) == _textual(link)
