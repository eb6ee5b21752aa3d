"""Content lines framed by the widget, not by Textual: the lines a step changes, made once each.

Textual draws every line a frame repaints anew: the widget's content line cut or
padded to the content width, then its padding and border, then the app's line
filters, into a new strip, whose escape codes are then made anew too. A step
repaints the heatmap rows, the output's top tokens, the token strip, the unit
view and the status line: at H = 1024 that was a third of a step's time.

:class:`FramedLines` copies the cells Textual draws left and right of a content
line from one line Textual drew, and frames each content line with them itself,
keeping the framed strip while the content strip (by identity) is the same. A
line that did not change is then the same strip, whose escape codes
``Strip.render`` made once; a line made ahead of a step (the app draws the steps
either side while it waits for a key) is framed and its escape codes made then
(:meth:`FramedLines.frame_ahead`). The other lines (the border with its title or
subtitle, padding above and below) are Textual's, kept while their title or subtitle is.

The frame is copied again when the widget's size or any style of it or of its
ancestors changes. When the widget is drawn in a way a copied frame cannot
carry (tint, opacity, text opacity, an outline, hatching, a line filter that
changes RGB cells, a link under the mouse), or a framed line would differ from
the one Textual drew, Textual draws every line. ``tests/test_framing.py`` compares
the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from rich.style import Style as RichStyle

from textual.filter import ANSIToTruecolor
from textual.geometry import Region
from textual.strip import Strip
from textual.style import Style
from textual.widget import Widget

from .filters import SkipRGB


@lru_cache(maxsize=32)
def blank(width: int, style: RichStyle) -> Strip:
    """A blank line, the same strip each time it is asked for (a framed widget keeps it framed)."""
    return Strip.blank(width, style)


def keep(kept: dict, key, value, most: int):
    """``value`` put in ``kept`` under ``key``, the oldest entry dropped when there are ``most``; returned."""
    if len(kept) >= max(most, 8):
        del kept[next(iter(kept))]
    kept[key] = value
    return value


class FramedLines:
    """A mixin, before ``Widget`` in the bases, for a Line-API widget whose ``render_line(y)``
    hands back strips it keeps (the same object while the line is the same)."""

    #: (prefix, suffix, widget lines of the content, filters, filters' background, width, content width,
    #: padding style); () when it cannot be copied; None: not yet
    _framing: tuple | None = None
    _frame_key: object = None  # the size and styles the frame was copied for
    _framed_rows: dict | None = None  # id of a content strip -> (it, framed)
    _outer: dict | None = None  # the other lines as Textual drew them: line -> (the title or subtitle, strip)

    def framing_ready(self) -> bool:
        """Whether the content lines are made (a widget whose lines come later says not yet)."""
        return True

    def render_lines(self: Widget, crop: Region) -> list[Strip]:
        frame = self._frame() if self.framing_ready() and not self._link_hovered() else None
        if frame is None:
            return super().render_lines(crop)
        rows, width = frame[2], frame[5]
        # above and below the content: Textual's border title and subtitle, each a new object when set (by
        # identity: Content compares its text alone, and a title that only changes style draws otherwise)
        kept, labels = self._outer, (self._border_title, self._border_subtitle)
        missing = [y for y in crop.line_range if y not in rows and (y not in kept or kept[y][0] is not labels[y > rows.start])]
        while missing:  # Textual's lines, each run of them drawn at once
            top = missing[0]
            run = next((k for k, y in enumerate(missing) if y != top + k), len(missing))
            for y, strip in zip(range(top, top + run), super().render_lines(Region(0, top, width, run))):
                kept[y] = (labels[y > rows.start], strip)
            missing = missing[run:]
        render_line, framed, first = self.render_line, self._framed, rows.start
        lines = [framed(render_line(y - first), frame) if y in rows else kept[y][1] for y in crop.line_range]
        if crop.column_span != (0, width):
            lines = [strip.crop(crop.x, crop.right) for strip in lines]
        return lines

    def _link_hovered(self: Widget) -> bool:
        """Whether Textual would restyle a link under the mouse (its test): then it draws the lines. (Any
        text with a mouse offset has a link id: the mouse over the unit view's numbers leaves the frame.)"""
        hover = self.hover_style
        return bool(self.auto_links and hover._link_id and hover._meta and "@click" in hover.meta)

    def frame_ahead(self: Widget, strips: Iterable[Strip]) -> None:
        """Frame these content lines and make their escape codes now (the strip keeps them), for a
        step drawn ahead: when the step is shown, its lines cost a look-up."""
        frame = self._frame() if self.framing_ready() and self.is_mounted else None
        if frame:
            console = self.app.console
            for strip in strips:
                self._framed(strip, frame).render(console)

    def repaint_lines(self: Widget, lines: Iterable[int]) -> None:
        """Repaint these content lines (one refresh for all), each run of them as one region the
        widget's whole width, border included: a frame then sends each line whole, where a region of
        the content alone makes Textual crop every line it sends to leave the border out."""
        runs: list[list[int]] = []
        for y in sorted(lines):
            if runs and y == runs[-1][1]:
                runs[-1][1] = y + 1
            else:
                runs.append([y, y + 1])
        if runs:
            if self._framing:  # the frame knows the border's cells (content_offset costs a walk of styles)
                x, width = -self._framing[0].cell_length, self._framing[5]
            else:
                x, width = -self.content_offset.x, self.outer_size.width
            self.refresh(*[Region(x, top, width, end - top) for top, end in runs])

    def _set_dirty(self: Widget, *regions: Region) -> None:
        # Textual 8.2 marks the lines to repaint here, whatever asked: a refresh (of regions of the
        # content, or of all), a resize, new styles, a theme, hover. Textual's lines in the regions
        # go; a refresh of all keeps them: what they show (the border with its title or subtitle,
        # padding) changes with the title, the subtitle, the size or a style, which are checked.
        if regions and self._outer:  # (kept only while there is a frame, which knows the border's lines)
            top = self._framing[2].start
            for region in regions:
                for y in range(region.y + top, region.bottom + top):
                    self._outer.pop(y, None)
        super()._set_dirty(*regions)

    def _frame(self: Widget) -> tuple | None:
        """The frame for the widget's size and styles now, copied again when they changed; None when
        Textual must draw every line."""
        key = (self.outer_size, self.content_region.size, tuple(n.styles._cache_key for n in self.ancestors_with_self),
               tuple(map(id, self.get_line_filters())))
        if key != self._frame_key:
            self._frame_key, self._framed_rows, self._outer = key, {}, {}
            self._framing = self._copy_frame() or ()
        return self._framing or None

    def _copy_frame(self: Widget) -> tuple | None:
        styles = self.styles
        filters = self.get_line_filters()
        plain = (styles.tint.a == 0 and styles.text_opacity == 1.0 and self.opacity == 1.0
                 and not any(edge for edge, _ in styles.outline) and styles.hatch in ("none", None))
        if not plain or not all(isinstance(f, (SkipRGB, ANSIToTruecolor)) for f in filters):
            return None  # (these leave RGB cells alone: the copied frame passes through them twice)
        size, content = self.outer_size, self.content_region
        top = styles.gutter.top
        if not content.width or not content.height:
            return None
        line = super().render_lines(Region(0, top, size.width, 1))[0]
        gx = self.content_offset.x
        if line.cell_length != size.width:
            return None
        base, background = self.background_colors
        pad = Style(background=base + background).rich_style  # what Textual pads a short content line with
        frame = (line.crop(0, gx), line.crop(gx + content.width, size.width), range(top, top + content.height),
                 filters, background, size.width, content.width, pad)
        if list(self._framed(self.render_line(0), frame, keep_it=False)) != list(line):
            return None  # drawn some way the copy does not carry: Textual draws it
        return frame

    def _framed(self, row: Strip, frame: tuple, keep_it: bool = True) -> Strip:
        """A content line in its frame, the same strip while the line is the same."""
        kept = self._framed_rows.pop(id(row), None)
        if kept is not None:  # (it holds the row: its id is not another's)
            self._framed_rows[id(row)] = kept  # the newest again: a line that stays is kept the longest
            return kept[1]
        prefix, suffix, rows, filters, background, width, content_width, pad = frame
        segments = [*prefix, *row.adjust_cell_length(content_width, pad), *suffix]
        for f in filters:  # (as Strip.apply_filter, without a new strip for each filter)
            segments = f.apply(segments, background)
        strip = Strip(segments, width)
        return keep(self._framed_rows, id(row), (row, strip), 4 * len(rows))[1] if keep_it else strip
