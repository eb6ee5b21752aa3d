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

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import ANSIToTruecolor, LineFilter

_MAX_STYLES = 4096  # styles remembered by one filter before it starts again


def _changes(style: Style) -> bool:
    """Whether ANSIToTruecolor would change ``style``: a colour with no RGB triplet, or dim."""
    color, bgcolor = style.color, style.bgcolor
    return bool(style.dim) or (color is not None and color.triplet is None) or (
        bgcolor is not None and bgcolor.triplet is None)


class SkipRGB(LineFilter):
    """``inner`` applied only to lines with a style it changes; which styles do is remembered."""

    def __init__(self, inner: ANSIToTruecolor) -> None:
        super().__init__(enabled=inner.enabled)
        self.inner = inner
        self._changes: dict[Style, bool] = {}

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        known = self._changes
        for _, style, _ in segments:
            if style is None:
                continue
            changes = known.get(style)
            if changes is None:
                if len(known) >= _MAX_STYLES:
                    known.clear()
                changes = known[style] = _changes(style)
            if changes:
                return self.inner.apply(segments, background)
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
