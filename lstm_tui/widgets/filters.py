"""The app's line filters, made cheap for lines that are already in RGB: the heatmaps' hot path.

Textual passes every line it draws through the app's filters. The first,
``ANSIToTruecolor``, makes a new segment for every cell of the line, to turn
ANSI colours and ``dim`` into RGB, and a heatmap line at H = 1024 has a
segment for every cell, each of them RGB already. :func:`skipping` gives the
filters with that one wrapped in :class:`SkipRGB`, which hands a line to it
only when some style on the line would change, so the result is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import ANSIToTruecolor, LineFilter

_MAX_STYLES = 4096  # styles remembered by one filter before it starts again
_STYLE = itemgetter(1)  # a segment's style


def _changes(style: Style) -> bool:
    """Whether ANSIToTruecolor would change ``style``: a colour with no RGB triplet, or dim."""
    color, bgcolor = style.color, style.bgcolor
    return bool(style.dim) or (color is not None and color.triplet is None) or (
        bgcolor is not None and bgcolor.triplet is None)


class SkipRGB(LineFilter):
    """``inner`` applied only to lines with a style it changes; which styles do is remembered.

    The styles known to pass unchanged are kept by identity: a line's test is then a set of ids,
    made and compared in C, where hashing every segment's style would call Python per cell."""

    def __init__(self, inner: ANSIToTruecolor) -> None:
        super().__init__(enabled=inner.enabled)
        self.inner = inner
        self._plain: dict[int, Style | None] = {id(None): None}  # id -> a style that passes (kept alive)

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        plain = self._plain
        ids = set(map(id, map(_STYLE, segments)))
        if ids <= plain.keys():
            return segments
        for _, style, _ in segments:
            if id(style) in plain:
                continue
            if _changes(style):
                return self.inner.apply(segments, background)
            if len(plain) >= _MAX_STYLES:
                plain.clear()
                plain[id(None)] = None
            plain[id(style)] = style
        return segments


_WRAPPED: dict[int, tuple[LineFilter, SkipRGB]] = {}  # id of the app's filter -> (it, its wrapper)


def skipping(filters: Sequence[LineFilter]) -> list[LineFilter]:
    """``filters`` (a widget's, from the app) with ANSIToTruecolor wrapped in :class:`SkipRGB`.

    The wrapper is the same object for the same filter, since Textual keeps each line's
    filtered copy under the filter it went through."""
    out: list[LineFilter] = []
    for f in filters:
        if isinstance(f, ANSIToTruecolor):
            kept = _WRAPPED.get(id(f))
            if kept is None or kept[0] is not f:
                if len(_WRAPPED) > 8:  # the app makes a new one when the theme changes
                    _WRAPPED.clear()
                kept = _WRAPPED[id(f)] = (f, SkipRGB(f))
            f = kept[1]
        out.append(f)
    return out
