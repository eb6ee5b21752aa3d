"""Rich text drawn by Rich, cell for cell what Textual's visual draws, where that costs a step too much.

Textual turns a Rich ``Text`` into its own ``Content`` and renders that: about
75 us a line. Text that changes every step (the output panel's top tokens,
the token strip, the status line, the unit view) and fits its width without
wrapping is drawn here by Rich instead, over the widget's style, each segment
marked with its offset as Textual's visuals mark them for selecting text.
Anything else (wrapping, alignment, tabs, links, a selection) is left to
Textual. ``tests/test_panel_lines.py`` compares the two.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from .framing import FramedLines, blank


def rich_strips(widget: Widget, text: object, width: int, style) -> list[Strip] | None:
    """``text``'s lines drawn by Rich over ``style`` (a Textual visual style), or None when Textual's
    visual must draw them: not a Rich text, justified or aligned, a tab, a link, a line wider than
    ``width``, text selected in the widget."""
    if not isinstance(text, Text) or text.justify not in (None, "default", "left") or "\t" in text.plain:
        return None
    styles = widget.styles
    if widget.text_selection is not None or styles.content_align != ("left", "top") or styles.line_pad:
        return None
    if styles.text_align not in ("left", "start"):
        return None
    if any(isinstance(s, Style) and (s.link or s._meta) for s in (text.style, *(span.style for span in text.spans))):
        return None
    if isinstance(text.style, str) and text.style and not _plain_attributes(text.style):
        return None  # Textual reads a whole text's style string as CSS ("red" is #ff0000), Rich as ANSI
    lines = text.split("\n", allow_blank=True)
    if any(line.cell_len > width for line in lines):
        return None
    base, console = style.rich_style, widget.app.console
    strips = []
    for y, line in enumerate(lines):  # (a line without spans renders without its own style: added here)
        under = base + console.get_style(line.style) if line.style else base
        strips.append(Strip(_offsets([Segment(t, under + s if s else under) for t, s, _ in line.render(console)], y)))
    return strips


def _plain_attributes(style: str) -> bool:
    """Whether a style string sets attributes only (bold, dim, italic ...): no colour, no link."""
    try:
        parsed = Style.parse(style)
    except Exception:  # not a style Rich can read: Textual's visual decides
        return False
    return parsed.color is None and parsed.bgcolor is None and not parsed.link


def _offsets(segments: list[Segment], y: int) -> list[Segment]:
    """Each segment's offset in its line, (x, y), in its style's meta: as Textual's visuals mark them,
    for selecting text with the mouse."""
    out, x = [], 0
    for text, style, _ in segments:
        out.append(Segment(text, style + Style.from_meta({"offset": (x, y)})))
        x += len(text)  # characters, as Textual's visuals count (the selection reads them)
    return out


def text_key(text: object) -> tuple | None:
    """What Rich draws of ``text``: equal keys, equal lines (None for anything but a Rich text)."""
    if not isinstance(text, Text):
        return None
    return (text.plain, tuple(text.spans), text.style, text.justify, text.overflow, text.no_wrap, text.end,
            text.tab_size)


class Drawn:
    """Rich texts' lines by what the texts hold (``text_key``), the width, the style and the selection:
    the last few, so that a text made again for the next step finds its lines made (the app warms them)."""

    def __init__(self, most: int = 4) -> None:
        self.most, self._kept = most, {}

    def strips(self, widget: Widget, text: object, width: int, style) -> list[Strip] | None:
        """``rich_strips(widget, text, width, style)``, drawn once for equal texts."""
        key = text_key(text)
        if key is None:
            return rich_strips(widget, text, width, style)
        key = (key, width, style, widget.text_selection)
        strips = self._kept.get(key, False)
        if strips is False:
            if len(self._kept) >= self.most:
                del self._kept[next(iter(self._kept))]
            strips = self._kept[key] = rich_strips(widget, text, width, style)
        return strips


class RichLines(FramedLines):
    """For a widget that shows one Rich text: its lines by :func:`rich_strips`, kept while the text
    (by identity), the width, the style and the selection are the same, and the lines of the last
    few texts by what they hold (``warm`` draws the next step's before it is shown), framed by the
    widget (``framing.py``)."""

    _rich_kept: tuple | None = None
    _rich_drawn: Drawn | None = None

    def rich_line(self: Widget, y: int, key: tuple, text: Callable[[], object]) -> Strip | None:
        """Line y of ``text()``, drawn when ``key`` (compared item by item with ``is``) changes;
        None when Textual must draw it."""
        width, style, selection = self.size.width, self.visual_style, self.text_selection
        kept = self._rich_kept
        if (kept is None or len(kept[0]) != len(key) or any(a is not b for a, b in zip(kept[0], key))
                or kept[1:4] != (width, style, selection)):
            kept = self._rich_kept = (key, width, style, selection, self.rich_drawn.strips(self, text(), width, style))
        strips = kept[4]
        if strips is None:
            return None
        return strips[y] if y < len(strips) else blank(width, style.rich_style)

    @property
    def rich_drawn(self) -> Drawn:
        """The widget's texts drawn lately (made the first time it is asked for)."""
        if self._rich_drawn is None:
            self._rich_drawn = Drawn()
        return self._rich_drawn

    def rich_warm(self: Widget, text: object) -> None:
        """Draw ``text``'s lines now, framed and with their escape codes, for when the widget is handed
        a text equal to it."""
        if self.size.width:
            self.frame_ahead(self.rich_drawn.strips(self, text, self.size.width, self.visual_style) or ())


class RichStatic(RichLines, Static):
    """A ``Static`` whose Rich text (or plain string, with ``markup=False``) is drawn by
    :func:`rich_strips` when it fits, and framed by the widget (``framing.py``)."""

    def __init__(self, content: object = "", *, markup: bool = True, **kwargs) -> None:
        super().__init__(content, markup=markup, **kwargs)
        self._plain_strings = not markup

    def render_line(self, y: int) -> Strip:
        content = self.content
        line = self.rich_line(y, (content,), lambda: Text(content) if self._plain_strings and isinstance(content, str)
                              else content)
        return super().render_line(y) if line is None else line
