"""A titled panel: one quantity's heatmap, its equation and its colour legend, as one Line-API widget.

Every line the panel shows (equation, heatmap rows, legend, the output panel's
top tokens) is a cached ``Strip``; the border, its title and the footer are
the panel's CSS border. A step rebuilds the heatmap rows whose values changed
and repaints those lines only: no child widget is laid out or composited.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.content import Content
from textual.geometry import Offset, Region, Size
from textual.message import Message
from textual.scrollbar import ScrollBarRender
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

from ..render.directions import values_label
from ..render.heatmap import legend
from ..render.palette import Scale
from ..render.panels import PanelSpec, scale_note, title
from ..render.panels import equation as spec_equation
from ..render.text import top_k_text
from .framing import FramedLines, blank, keep
from .heatmap import HeatmapRows
from .messages import UnitChosen
from .rich_lines import Drawn


class Part(Widget):
    """One part of a panel (its equation, heatmap, legend or top tokens).

    A child of the panel that is never displayed: the panel draws the part's
    lines. It is a widget so that it can be queried (``Panel .equation``) and
    answers like one for its place on screen (``region``, ``size``), which is
    what a pilot's click or a test aims at.
    """

    DEFAULT_CSS = "Part { display: none; }"

    def __init__(self, panel: Panel, classes: str) -> None:
        super().__init__(classes=classes)
        self._panel = panel
        self.top = 0  # its first line among the panel's content lines
        self.lines = 0  # how many lines it takes there

    @property
    def region(self) -> Region:
        box = self._panel.content_region
        return Region(box.x, box.y + self.top, box.width, self.lines) if box else Region()

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False):
        self._panel.refresh(layout=layout)
        return self


class TextPart(Part):
    """Text drawn in the panel's width, wrapped (the equation, the legend, the top tokens)."""

    def __init__(self, panel: Panel, classes: str, component: str | None = None) -> None:
        super().__init__(panel, classes)
        self.content: str | Text = ""
        self.component = component  # the panel's component class that styles it

    def render(self) -> Content | Text:
        return Content(self.content) if isinstance(self.content, str) else self.content

    def update(self, content: str | Text, *, layout: bool = False) -> None:
        """Show ``content`` (as ``Static.update`` does); the panel lays itself out again when it takes more lines."""
        self.content = content
        self._panel._text_changed(self)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._panel._text_strips(self, width))


class HeatmapPart(Part):
    """The panel's heatmap: rows of ``HeatmapRows``, scrolled to keep the marked unit in view."""

    def __init__(self, panel: Panel) -> None:
        super().__init__(panel, "heatmap")
        self.map = HeatmapRows()

    # What the rows show, as the heatmap widget named them (tests and the app read these).
    _values = property(lambda self: self.map._values)
    _scale = property(lambda self: self.map._scale)
    _selected = property(lambda self: self.map._selected)
    _strips = property(lambda self: self.map._strips)
    cols = property(lambda self: self.map.cols)
    cell_width = property(lambda self: self.map.cell_width)

    @property
    def scroll_offset(self) -> Offset:
        return Offset(0, self.map.scroll)

    def unit_at(self, x: int, y: int) -> int | None:
        """The index of the value drawn at content cell (x, y) of the heatmap, or None."""
        return self.map.unit_at(x, y)


class Panel(FramedLines, Widget, can_focus=False):
    """Shows one :class:`PanelSpec` at the current step."""

    DEFAULT_CSS = """
    Panel {
        height: auto;
        border: round $primary 40%;
        border-title-color: $text;
        padding: 0 0 0 1;
    }
    Panel > .panel--equation { color: $text-muted; }
    """
    COMPONENT_CLASSES = {"panel--equation"}

    def __init__(self, spec: PanelSpec, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec = spec
        self.equation = TextPart(self, "equation", "panel--equation")
        self.equation.content = spec_equation(spec)
        self.heatmap = HeatmapPart(self)
        self.legend = TextPart(self, "legend")
        self.extra = TextPart(self, "extra")  # the output panel's top tokens
        self.border_title = title(spec)
        self._legend_key: object = None
        self._style: Style | None = None  # the panel's own style, under the heatmap rows
        self._bar: tuple | None = None  # (rows shown, rows, scroll), and the scrollbar's segments
        self._built: dict[tuple, Strip] = {}  # heatmap lines by what they show, this step's and its neighbours'
        self.drawn = False  # whether a step has been shown (until then the panel's height is a guess)
        self._width = 0  # the content width the lines were made for
        self._lines: list[Strip] = []  # every content line, top to bottom
        self._heat_keys: list[object] = []  # what each heatmap line shows now
        self._cache: dict[tuple[int, int], list[Strip]] = {}  # (id of a text part, width) -> its strips
        self._drawn = Drawn(8)  # text parts' lines by what they hold: the output's top tokens of the steps around
        self._extra_rows: list[tuple[str, float]] | None = None  # the top tokens shown, if drawn from rows

    def compose(self) -> ComposeResult:
        yield from self._parts()

    # ----------------------------------------------------------------- parts
    def _parts(self) -> list[Part]:
        parts: list[Part] = [self.equation, self.heatmap, self.legend]
        return [*parts, self.extra] if self.spec.key == "y" else parts

    def _text_strips(self, part: TextPart, width: int) -> list[Strip]:
        """A text part's lines at ``width``, drawn as a ``Static`` holding it would draw them."""
        key = (id(part), width)
        strips = self._cache.get(key)
        if strips is None:
            if not part.content or width <= 0:
                strips = [] if part is self.extra and not part.content else [Strip([])]
            else:
                style = self.get_visual_style(part.component) if part.component else self.visual_style
                strips = self._drawn.strips(self, part.content, width, style)
                if strips is None:
                    visual: Visual = visualize(self, part.content, markup=False)
                    strips = Visual.to_strips(self, visual, width, None, style)
            self._cache[key] = strips
        return strips

    def _lines_at(self, text: Text, width: int) -> int:
        """The lines ``text`` takes ``width`` cells wide, drawn as the text parts are."""
        strips = self._drawn.strips(self, text, width, self.visual_style)
        if strips is None:
            strips = Visual.to_strips(self, visualize(self, text, markup=False), width, None, self.visual_style)
        return len(strips)

    def _text_changed(self, part: TextPart) -> None:
        self._cache = {k: v for k, v in self._cache.items() if k[0] != id(part)}
        if self._width:
            self._relayout()

    # ------------------------------------------------------------- the lines
    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.content_height(width)

    def content_height(self, width: int, max_rows: int | None = None) -> int:
        """Lines of content ``width`` cells wide, the heatmap showing ``max_rows`` rows at most (its own)."""
        h = self.heatmap.map.height_for(width, max_rows)
        # The legend is made as wide as the width it is shown at: one line there, whatever the width. Made
        # for another width, it would wrap at a narrower one (a screen made smaller kept a blank line).
        legend = len(self._text_strips(self.legend, width)) if width == self._width else 1
        h += len(self._text_strips(self.equation, width)) + legend
        if self.spec.key == "y":  # the top tokens too, made as wide as the width they are shown at
            rows = self._extra_rows if width != self._width else None
            h += len(self._text_strips(self.extra, width)) if rows is None else self._lines_at(top_k_text(rows, width), width)
        return h

    def _relayout(self) -> None:
        """Make every line again for the content width (a resize, new text, a heatmap of another height)."""
        width = self._width
        before = len(self._lines)
        self.heatmap.map.fit(width)
        lines: list[Strip] = []
        for part in self._parts():
            part.top = len(lines)
            if part is self.heatmap:
                self._heat_keys = [None] * self.heatmap.map.height_for(width)
                lines += [Strip([])] * len(self._heat_keys)
            else:
                lines += self._text_strips(part, width)
            part.lines = len(lines) - part.top
        self._lines = lines
        self._heat_lines()
        self.refresh(layout=len(lines) != before or len(lines) != self.size.height)

    def _heat_style(self) -> Style:
        # ``rich_style`` walks every ancestor's CSS: once per theme is enough.
        if self._style is None:
            self._style = self.rich_style
        return self._style

    def _heat_lines(self) -> list[int]:
        """Redraw the heatmap lines whose rows changed; the content lines redrawn."""
        hm = self.heatmap.map
        hm.style = self._heat_style()  # under a direction block's arrows (its rows are built below)
        changed = []
        bar = self._scrollbar(hm) if hm.scrollbar else None
        for i in range(len(self._heat_keys)):
            key, strip = self._heat_line(hm, i, bar)
            if key != self._heat_keys[i]:
                self._heat_keys[i] = key
                self._lines[self.heatmap.top + i] = strip if strip is not None else blank(self._width, hm.style)
                changed.append(self.heatmap.top + i)
        return changed

    def _heat_line(self, hm: HeatmapRows, i: int, bar: list | None) -> tuple[tuple, Strip | None]:
        """(what heatmap line i of ``hm`` shows, its strip: the row padded to the width, and the scrollbar),
        the strip kept under that key for the steps around (``warm``); None for a line under the rows."""
        if i >= hm.rows_shown:
            return ("blank", self._width), None
        key = (hm.row_key(hm.scroll + i), None if bar is None else bar[i], self._width)
        strip = self._built.get(key)
        if strip is None:  # the row, padded to the width, and the scrollbar: one strip made (each costs)
            width = self._width - (1 if bar is not None else 0)
            strip = hm._strips[hm.scroll + i]
            if strip.cell_length > width:
                strip = strip.crop(0, width)
            segments = list(strip)
            if strip.cell_length < width:
                segments.append(Segment(" " * (width - strip.cell_length), hm.style))
            if bar is not None:
                segments.append(bar[i])
            strip = keep(self._built, key, Strip(segments, self._width), 4 * len(self._heat_keys))
        return key, strip

    def _scrollbar(self, hm: HeatmapRows) -> list:
        """The heatmap's vertical scrollbar, a segment a line, in the colours Textual's scrollbar takes
        (kept for its position: a step does not move it)."""
        key = (hm.rows_shown, hm.rows, hm.scroll)
        if self._bar is None or self._bar[0] != key:
            self._bar = (key, self._make_scrollbar(hm))
        return self._bar[1]

    def _make_scrollbar(self, hm: HeatmapRows) -> list:
        styles = self.styles
        background, color = styles.scrollbar_background, styles.scrollbar_color
        if background.a < 1:
            background = self.background_colors[0] + background
        color = background + color
        bar = ScrollBarRender.render_bar(
            size=hm.rows_shown, virtual_size=hm.rows, window_size=hm.rows_shown, position=hm.scroll,
            thickness=1, vertical=True, back_color=background.rich_color, bar_color=color.rich_color,
        )
        # The segments without the scrollbar widget's mouse actions (a click on the bar is handled below).
        return [Segment(seg.text, _no_meta(seg.style)) for seg in bar.segments]

    stale = False  # off screen on the last step, so not drawn for it (the steps view's mark)
    _told = False  # whether Uncovered was posted since it was marked

    class Uncovered(Message):
        """Textual draws a stale panel: a layout brought it into view, and the steps view catches it up."""

    def mark_stale(self, stale: bool) -> None:
        self.stale, self._told = stale, False

    def render_lines(self, crop: Region) -> list[Strip]:
        if self.stale and not self._told:
            self._told = True
            self.post_message(self.Uncovered())
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        if y < len(self._lines):
            return self._lines[y]
        return blank(self.size.width, self.rich_style)

    def framing_ready(self) -> bool:
        return bool(self._heat_keys)  # (the lines are made once the panel knows its width)

    class Resized(Message):
        """A panel was laid out at a new size: the steps view fits its heatmaps' rows to the room."""

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())
        width = self.content_region.width
        if width and width != self._width:
            self._width = width
            self._cache.clear()
            self._legend_key = None
            if self._extra_rows:  # the top tokens' columns, as wide as the panel now is
                self.extra.content = top_k_text(self._extra_rows, width)
            self._relayout()
            self._show_legend()

    def notify_style_update(self) -> None:
        """The theme or the CSS changed: every cached line holds the old colours."""
        super().notify_style_update()
        self._style = self._bar = self._frame_key = None
        self._built.clear()  # (their padding has the panel's style, which their keys leave out: it changes only here)
        self._drawn = Drawn(8)
        if self._width:
            self._cache.clear()
            self._legend_key = None
            self._relayout()
            self._show_legend()

    def outer_height(self, max_rows: int) -> int:
        """The panel's height with the heatmap showing ``max_rows`` rows at most, at the width it is laid
        out at (0 until it is)."""
        width = self.content_region.width
        return self.content_height(width, max_rows) + self.styles.gutter.height if width and self._width else 0

    def set_max_rows(self, rows: int) -> None:
        """Show ``rows`` heatmap rows at most before it scrolls (the steps view's lines to spare)."""
        hm = self.heatmap.map
        if rows != hm.max_rows:
            hm.max_rows = rows
            if self._width:
                self._relayout()
                self._show_legend()

    # ----------------------------------------------------------- step to step
    def set_notation(self, notation: str) -> None:
        """Name the gates in ``notation`` (``render.panels.NOTATIONS``) in the title; the equation
        in it comes with the next ``show``."""
        self.border_title = title(self.spec, notation)

    def show(
        self,
        values: np.ndarray,
        scale: Scale,
        selected: int | None,
        mono: bool = False,
        extra: Text | list[tuple[str, float]] | None = None,
        numbers: bool = False,
        parts: tuple[str, ...] = (),
        subtitle: str | None = None,
        equation: str | None = None,
        note: str | None = None,
    ):
        """Draw ``values`` (n,); ``selected`` marks a unit (None for panels not indexed by unit);
        ``parts`` and ``subtitle``: the arrows of the direction blocks and the width label;
        ``equation``: the layer's own (its activations, a projection, the clip, the notation),
        if not the spec's; ``note``: which scale, if not the spec's; ``extra`` is drawn under the legend: a ``Text``, or ``render.text.top_k``'s rows."""
        self.drawn = True
        equation = equation or spec_equation(self.spec)
        if equation != self.equation.content:
            self.equation.update(equation)
        hm = self.heatmap.map
        height = hm.height_for(self._width) if self._width else None
        hm.set(values, scale, selected, mono, numbers, parts)
        if extra is not None:
            self._extra_rows = extra if isinstance(extra, list) else None
        if isinstance(extra, list):  # the output panel's top tokens: columns as wide as the panel
            extra = top_k_text(extra, max(1, self._width or 30))
        if extra is not None and extra != self.extra.content:
            self.extra.content = extra
            self._cache.pop((id(self.extra), self._width), None)
            if self._width:
                strips = self._text_strips(self.extra, self._width)
                if len(strips) != self.extra.lines or height != hm.height_for(self._width):
                    self._relayout()
                else:
                    top = self.extra.top
                    self._lines[top : top + len(strips)] = strips
                    self.repaint_lines(range(top, top + len(strips)))
        if self._width:
            if height != hm.height_for(self._width):
                self._relayout()
            else:
                self.repaint_lines(self._heat_lines())
            self._show_legend()
        n = len(values)
        if subtitle is None:
            subtitle = values_label(n) if n else ""
        bad = int(n - np.isfinite(values).sum()) if n else 0
        if bad:  # a patch can make a run NaN or ±inf: drawn with the scale's end colour, said here (before
            subtitle += f" · {bad} NaN/inf"  # the scale's note, which a narrow panel cuts first)
        if subtitle:
            subtitle = f"{subtitle} · {note or scale_note(self.spec)}"
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle

    def warm(self, values: np.ndarray, scale: Scale, selected: int | None, mono: bool = False,
             numbers: bool = False, parts: tuple[str, ...] = (), extra: list[tuple[str, float]] | Text | None = None) -> None:
        """Make (frame, and make the escape codes of) the heatmap lines that ``show`` of these values would draw, and the lines of
        ``extra``, before it is asked: the app warms the steps next to the current one while it waits for
        a key. Lines are kept by what they show, so ``show`` takes a warm line only where it would have
        made the same one."""
        hm = self.heatmap.map
        if not self._width or not self._heat_keys:
            return
        if extra is not None and self.spec.key == "y":
            text = top_k_text(extra, self._width) if isinstance(extra, list) else extra
            self.frame_ahead(self._drawn.strips(self, text, self._width, self.visual_style) or ())
        ahead = HeatmapRows()
        ahead.width, ahead.max_rows, ahead.scroll, ahead.style = hm.width, hm.max_rows, hm.scroll, self._heat_style()
        ahead.set(values, scale, selected, mono, numbers, parts)
        if ahead.height_for(self._width) != len(self._heat_keys):
            return  # show would lay the panel out again
        bar = self._scrollbar(ahead) if ahead.scrollbar else None
        self.frame_ahead([self._heat_line(ahead, i, bar)[1] for i in range(ahead.rows_shown)])

    def _show_legend(self) -> None:
        """The legend, as wide as a heatmap row: it changes with the scale only, not with the step."""
        hm, room = self.heatmap.map, max(1, self._width or 30)
        row = min(hm.line_width or room, room)  # the legend is as wide as a heatmap row
        key = (hm._scale, row, room, hm._mono)
        if key == self._legend_key or not self._width:
            return
        self._legend_key = key
        self.legend.content = Text.assemble(*[(s.text, s.style) for s in legend(hm._scale, row, hm._mono, room)])
        self._cache.pop((id(self.legend), self._width), None)
        strips = self._text_strips(self.legend, self._width)
        if len(strips) != self.legend.lines:
            self._relayout()
            return
        top = self.legend.top
        self._lines[top : top + len(strips)] = strips
        self.repaint_lines(range(top, top + len(strips)))

    # ----------------------------------------------------------------- mouse
    def _heat_offset(self, event: events.MouseEvent) -> tuple[int, int] | None:
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        y = offset.y - self.heatmap.top
        return (offset.x, y) if 0 <= y < self.heatmap.map.rows_shown else None

    def on_click(self, event: events.Click) -> None:
        at = self._heat_offset(event)
        if at is None:
            return
        hm = self.heatmap.map
        x, y = at
        if hm.scrollbar and x == self._width - 1:  # the scrollbar: page towards the click
            self._scroll_heatmap(hm.rows_shown * (1 if y >= hm.rows_shown // 2 else -1))
            return
        if hm._selected is None:  # a panel not indexed by unit (x, y)
            return
        j = hm.unit_at(x, y)
        if j is not None:
            self.post_message(UnitChosen(j))

    def _scroll_heatmap(self, rows: int) -> bool:
        hm = self.heatmap.map
        scroll = max(0, min(hm.scroll + rows, hm.rows - hm.rows_shown))
        if scroll == hm.scroll:
            return False
        hm.scroll = scroll
        self.repaint_lines(self._heat_lines())
        return True

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if self._heat_offset(event) is not None and self._scroll_heatmap(1):
            event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self._heat_offset(event) is not None and self._scroll_heatmap(-1):
            event.stop()


def _no_meta(style: Style) -> Style:
    return Style(color=style.color, bgcolor=style.bgcolor, reverse=style.reverse)
