"""widgets.filters: ANSI-to-RGB skipped on lines already in RGB, with the same result as Textual's filter."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.terminal_theme import MONOKAI
from textual.color import Color
from textual.filter import ANSIToTruecolor, Monochrome

from lstm_tui.widgets.filters import SkipRGB, skipping

BACK = Color(20, 20, 20)


def _rgb_line(n: int = 40) -> list[Segment]:
    return [Segment("▀", Style(color=f"rgb({i},{200 - i},9)", bgcolor=f"rgb(9,{i},{i})")) for i in range(n)]


def _same(a: list[Segment], b: list[Segment]) -> bool:
    return [(s.text, s.style) for s in a] == [(s.text, s.style) for s in b]


def test_an_rgb_line_is_passed_through_untouched():
    inner = ANSIToTruecolor(MONOKAI)
    line = _rgb_line() + [Segment(" ", None)]
    out = SkipRGB(inner).apply(line, BACK)
    assert out is line  # no new segment for any cell
    assert _same(out, inner.apply(line, BACK))


def test_a_line_with_an_ansi_colour_or_dim_goes_through_the_filter():
    inner = ANSIToTruecolor(MONOKAI)
    skip = SkipRGB(inner)
    for odd in (Style(color="red"), Style(bgcolor="blue"), Style(color="rgb(1,2,3)", dim=True)):
        line = [*_rgb_line(5), Segment("x", odd), *_rgb_line(5)]
        out = skip.apply(line, BACK)
        assert out is not line
        assert _same(out, inner.apply(line, BACK))
        style = out[5].style
        assert not style.dim and all(c is None or c.triplet is not None for c in (style.color, style.bgcolor))


def test_the_wrapper_is_one_object_per_filter_and_others_are_kept():
    first, second, mono = ANSIToTruecolor(MONOKAI), ANSIToTruecolor(MONOKAI), Monochrome()
    a, b = skipping([first, mono]), skipping([first, mono])
    assert a[0] is b[0] and isinstance(a[0], SkipRGB) and a[0].inner is first
    assert a[1] is mono
    assert skipping([second])[0] is not a[0]  # a new theme's filter gets its own wrapper


async def test_the_app_draws_its_panels_through_the_wrapper():
    from lstm_tui.app import LstmApp
    from lstm_tui.core.registry import load_model
    from lstm_tui.widgets.panel import Panel

    app = LstmApp(load_model("random", hidden=8, seed=0), text="abc")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("n")
        filters = app.query(Panel).first().get_line_filters()
        assert any(isinstance(f, SkipRGB) for f in filters)
        assert not any(isinstance(f, ANSIToTruecolor) for f in filters)
