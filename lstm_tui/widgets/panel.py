"""A titled panel: one quantity's heatmap, its equation and its colour legend."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..render.heatmap import legend
from ..render.palette import Scale
from ..render.panels import PanelSpec, scale_note, title
from ..render.panels import equation as spec_equation
from ..render.text import top_k_text
from .heatmap import Heatmap
from .update import update


class Panel(Vertical):
    """Shows one :class:`PanelSpec` at the current step."""

    DEFAULT_CSS = """
    Panel {
        height: auto;
        border: round $primary 40%;
        border-title-color: $text;
        padding: 0 0 0 1;
    }
    Panel .equation { color: $text-muted; height: auto; }
    Panel .legend { height: 1; }
    Panel .extra { height: auto; }
    """

    def __init__(self, spec: PanelSpec, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec = spec
        self.heatmap = Heatmap()
        self.legend = Static("", classes="legend")
        self.extra = Static("", classes="extra")
        self.border_title = title(spec)

    def compose(self) -> ComposeResult:
        yield Static(spec_equation(self.spec), classes="equation", markup=False)
        yield self.heatmap
        yield self.legend
        if self.spec.key == "y":
            yield self.extra

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
    ):
        """Draw ``values`` (n,); ``selected`` marks a unit (None for panels not indexed by unit);
        ``parts`` and ``subtitle``: the arrows of the direction blocks and the width label;
        ``equation``: the layer's own (its activations, a projection, the clip, the notation),
        if not the spec's; ``extra`` is drawn under the legend: a ``Text``, or ``render.text.top_k``'s rows."""
        self.heatmap.show(values, scale, selected, mono, numbers, parts)
        equation = equation or spec_equation(self.spec)
        if equation != getattr(self, "_equation", None):
            self._equation = equation
            self.query_one(".equation", Static).update(equation)
        room = max(1, self.scrollable_content_region.width or 30)
        row = min(self.heatmap.virtual_size.width or room, room)  # the legend is as wide as a heatmap row
        key = (scale, row, room, mono)  # the legend changes with the scale only, not with the step
        if getattr(self.legend, "_update_key", None) != key:
            update(self.legend, Text.assemble(*[(s.text, s.style) for s in legend(scale, row, mono, room)]), key)
        if isinstance(extra, list):  # the output panel's top tokens: columns as wide as the panel
            extra = top_k_text(extra, room)
        if extra is not None:
            update(self.extra, extra)
        n = len(values)
        if subtitle is None:
            subtitle = f"{n} values" if n else ""
        if subtitle:
            subtitle = f"{subtitle} · {scale_note(self.spec)}"
        bad = int(n - np.isfinite(values).sum()) if n else 0
        if bad:  # a patch can make a run NaN or ±inf: drawn with the scale's end colour, said here
            subtitle += f" · {bad} NaN/inf"
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
