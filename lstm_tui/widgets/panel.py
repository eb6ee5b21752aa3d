"""A titled panel: one quantity's heatmap, its equation and its colour legend."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..render.heatmap import legend
from ..render.palette import Scale
from ..render.panels import PanelSpec, title
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
        yield Static(self.spec.equation, classes="equation", markup=False)
        yield self.heatmap
        yield self.legend
        if self.spec.key == "y":
            yield self.extra

    def set_notation(self, notation: str) -> None:
        self.border_title = title(self.spec, notation)

    def show(
        self,
        values: np.ndarray,
        scale: Scale,
        selected: int | None,
        mono: bool = False,
        extra: Text | None = None,
        numbers: bool = False,
        parts: tuple[str, ...] = (),
        subtitle: str | None = None,
        equation: str | None = None,
    ):
        """Draw ``values`` (n,); ``selected`` marks a unit (None for panels not indexed by unit);
        ``parts`` and ``subtitle``: the arrows of the direction blocks and the width label;
        ``equation``: the layer's own (its activations, a projection, the clip), if not the spec's."""
        self.heatmap.show(values, scale, selected, mono, numbers, parts)
        equation = equation or self.spec.equation
        if equation != getattr(self, "_equation", self.spec.equation):
            self._equation = equation
            self.query_one(".equation", Static).update(equation)
        width = min(max(10, self.scrollable_content_region.width or 30), 40)
        key = (scale, width, mono)  # the legend changes with the scale only, not with the step
        if getattr(self.legend, "_update_key", None) != key:
            update(self.legend, Text.assemble(*[(s.text, s.style) for s in legend(scale, width, mono)]), key)
        if extra is not None:
            update(self.extra, extra)
        n = len(values)
        if subtitle is None:
            subtitle = f"{n} values" if n else ""
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
