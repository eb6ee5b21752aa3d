"""What the app hands down to its widgets: one step of one trace, and how to show it.

Attributes down, messages up: a widget reads a :class:`State` and draws it;
to change anything (the step, the unit) it posts a message from
:mod:`.messages` and the app decides. The state is frozen, so a widget can
keep the last one it was handed and compare it with the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.checkpoint import CheckpointedTrace
from ..core.model import Model
from ..core.trace import Trace


@dataclass(frozen=True, slots=True)
class State:
    """The app's state at one moment, as every widget sees it."""

    model: Model  # the network being stepped through
    trace: Trace | CheckpointedTrace  # every step's numbers (a long one kept as checkpoints)
    k: int  # current step, 0-based (t = k + 1 on screen)
    layer: int  # the layer whose numbers are shown
    unit: int  # the hidden unit highlighted in every panel
    view: str = "steps"  # the view filling the middle of the screen
    notation: str = "both"  # gate names: "classic", "pytorch" or "both"
    palette: str = "viridis"  # the sequential colour scale of gates and probabilities
    numbers: bool = False  # write every value out as well as colouring it
    mono: bool = False  # NO_COLOR: glyphs instead of colours
    history_quantity: str = "c"  # the quantity of the history view and of the next watch
    history_scale: str = "unit"  # history colours: "unit" (each unit's robust range) or "shared" (one scale)
    watched: tuple[tuple[str, int, int], ...] = ()  # pinned (quantity, layer, unit)
    search_results: tuple[str, list[tuple[int, float]]] | None = None  # unit search: (question, ranked units)
    grad_target: str | None = None  # None: the top next token (Σh without a head); "sum-h": Σh
    grad_compare: bool = False  # the gradient view also runs an RNN and a GRU of the same size
    window_seconds: float = 0.15  # views that need whole arrays read about this much of a long trace
    mode: str | None = None  # "delta" (patched − clean) or "diff" (source − main): the trace is a difference
    before: Trace | None = None  # the clean run while patches are active (the output's top-k before → after)
    after: Trace | None = None  # the patched run while patches are active
    patches: tuple = ()  # the active patches (core.interventions.Patch), for views that rerun the model
    source: Trace | None = None  # the source input's run (the value src of a patch)
    effect: object | None = None  # the effect map shown (widgets.effect_view.EffectShown), None before E

    @property
    def spaced(self) -> bool:
        """Whether tokens are words, written with a space between them (characters join)."""
        return self.model.takes_tokens and self.model.tokenizer != "char"

    @property
    def steps(self) -> int:
        """The number of steps in the trace."""
        return self.trace.steps


def patched_here(patches, layer: int, k: int, unit: int) -> list[str]:
    """The quantities of ``unit`` at 0-based step ``k`` of ``layer`` that a patch sets (their equations do not hold)."""
    here = [p.quantity for p in patches if p.layer == layer and k in p.steps and (p.unit is None or p.unit == unit)]
    return list(dict.fromkeys(here))  # once each, however many patches set it
