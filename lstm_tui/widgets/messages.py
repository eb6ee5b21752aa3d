"""What widgets ask of the app (messages up): the app decides and hands the new state down.

A widget posts one of these and never changes the app itself; the app
routes each to the same code a key would run (``on_step_chosen`` and
``on_unit_chosen`` in ``lstm_tui.app``).
"""

from __future__ import annotations

from textual.message import Message


class StepChosen(Message):
    """Go to step ``k`` (0-based), e.g. a token clicked in the token strip."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k


class UnitChosen(Message):
    """Select hidden unit ``unit`` (of the layer shown), e.g. a cell clicked in a heatmap."""

    def __init__(self, unit: int) -> None:
        super().__init__()
        self.unit = unit
