"""Updating a ``Static`` on every step without a layout pass of the whole screen."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Size
from textual.widgets import Static


def update(widget: Static, content, key: object = None) -> None:
    """``widget.update(content)``, asking for a layout only if it needs more lines.

    ``Static.update`` lays out the whole screen by default, which costs more
    than the rest of a step. A widget with a fixed height never needs it; an
    auto-height one only when the new content wraps to more lines than it has
    (with fewer, it keeps its height until the next layout, so that a text
    whose wrapping changes from step to step does not move the screen).
    ``key``, when given, skips the update if it equals the last key.
    """
    if key is not None:
        if getattr(widget, "_update_key", None) == key:
            return
        widget._update_key = key
    before = widget.content_region.height
    widget.update(content, layout=False)
    height = widget.styles.height
    if height is not None and not height.is_auto:
        return  # a fixed height: the content cannot move anything else
    width = widget.content_region.width
    if not widget.is_mounted or not width:
        widget.refresh(layout=True)  # not laid out yet: nothing to compare with
    elif isinstance(content, Text) and _fits(content.plain, width, before):
        return  # as many lines or fewer, none wider than the box: no wrapping to measure
    else:
        needed = widget.get_content_height(Size(width, before), Size(width, before), width)
        cap = widget.styles.max_height
        if cap is not None and cap.is_cells:  # a max-height in lines: the box grows no further
            needed = min(needed, int(cap.value) - widget.styles.gutter.height)
        if needed > before:
            widget.refresh(layout=True)


def _fits(plain: str, width: int, lines: int) -> bool:
    """Whether text with these characters takes at most ``lines`` lines of ``width`` cells unwrapped."""
    rows = plain.expandtabs(8).split("\n")  # a tab is drawn as up to 8 cells; cell_len counts it as none
    return len(rows) <= lines and all(cell_len(row) <= width for row in rows)
