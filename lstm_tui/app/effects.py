"""The effect map in the app (E, view 6): which (step, unit) moves log p(token at T), estimate then exact.

E asks for the question (prefilled from the selection); a worker draws the
estimate (one backward pass) at once and then the exact rows
(``core.interventions.EffectMap``), posting news at most every 0.1 s; Esc
or a new map stops it, keeping the rows done. Enter or a click on a cell
goes to its step and unit.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
from textual.message import Message
from textual.worker import get_current_worker

from ..core.errors import UserError, clip, whole_number
from ..core.interventions import NUMBER, EffectMap, token_label
from ..widgets.effect_view import EffectCellChosen, EffectShown
from ..widgets.prompt import PromptScreen


class EffectNews(Message):
    """From the effect map's worker: the estimate, or how far the exact rows have got."""

    def __init__(self, em: EffectMap, estimate=None, fraction: float = 0.0, running: bool = True, note: str = "") -> None:
        super().__init__()
        self.em, self.estimate, self.fraction, self.running, self.note = em, estimate, fraction, running, note


FIELDS = ("q", "layer", "value", "step", "token")


def parse_question(text: str) -> dict:
    """``q=c layer=1 value=0 step=37 token=)`` as a dict of those fields (any order, any subset)."""
    out = {}
    for part in text.split():
        key, eq, val = part.partition("=")
        if not eq or key not in FIELDS:
            raise UserError(f"effect map: {part!r}: expected fields {' '.join(f + '=…' for f in FIELDS)}")
        if key in out:
            raise UserError(f"effect map: {key}= is given twice ({key}={out[key]}, {part}): give it once")
        out[key] = val
    return out


def _whole(fields: dict, key: str, default: int, most: int) -> int:
    """A field that is a whole number from 1 to ``most`` (the default when it is left out), said as the
    map's own range check says it: a number of 5,000 digits too, where int() fails."""
    text = fields.get(key)
    try:
        n = default if text is None else whole_number(text)
    except ValueError:
        raise UserError(f"effect map: {key} {clip(text)!r}: expected a whole number from 1 to {most}") from None
    if not 1 <= n <= most:
        raise UserError(f"effect map: {key} {clip(str(text))} out of range: expected a {key} from 1 to {most}")
    return n


class Effects:
    """Mixed into ``LstmApp``: the effect map's question, worker and cell choice."""

    effect_shown: EffectShown | None = None  # what the effect view draws (None before the first E)

    def action_effect_map(self) -> None:
        clean = self.clean
        if not clean.has_head:
            self.notify("the effect map needs a model with an output head: this one has none", severity="warning")
            return
        if not self.steps:
            self.notify("the effect map needs an input: type a sequence first (/)", severity="warning")
            return
        if not self._can_patch():
            return
        k = min(self.k, clean.steps - 1)
        top = int(np.argmax(clean.logits[k]))
        label = token_label(self.model, top)
        ask = f"q={self.history_quantity} layer={self.layer + 1} value=0 step={k + 1}"
        if label.isprintable() and " " not in label and "=" not in label:
            ask += f" token={label}"
        hint = (
            "q: quantity, layer: from 1, value: a number or src, step: the target step T (from 1), "
            f"token: the target token (left out: the clean run's top-1 at T, here {label!r})."
        )
        self.push_screen(PromptScreen("effect map", hint, ask), self._start_effect)

    def _start_effect(self, text: str | None) -> None:
        if text is None or not text.strip():
            return
        try:
            f = parse_question(text)
            value = f.get("value", "0")
            if value != "src" and not NUMBER.fullmatch(value):
                raise UserError(f"effect map: value {clip(value)!r}: expected a number or src")
            if value == "src" and self.source is None:  # the core's message names no key of the app's
                raise UserError("effect map: the value src needs a source input: I types one")
            layer = _whole(f, "layer", self.layer + 1, self.clean.num_layers)
            step = _whole(f, "step", self.k + 1, self.clean.steps)
            em = EffectMap(self.model, self.clean, f.get("q", self.history_quantity), layer - 1,
                           value if value == "src" else float(value), step - 1, f.get("token") or None, self.source)
        except (UserError, ValueError) as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self._stop_effect()
        self.effect_shown = EffectShown(em, None, True)
        self.view = "effects"
        self.refresh_view()
        self.run_worker(partial(self._effect_in_thread, em), name="effect", group="effect", exclusive=True,
                        thread=True, exit_on_error=False)

    def _effect_in_thread(self, em: EffectMap) -> None:
        worker = get_current_worker()
        note = ""
        try:
            estimate = em.estimate()
        except Exception as exc:  # an estimate the backward pass cannot give: the exact map still comes
            estimate, note = None, f"no estimate: {exc}"
        self.post_message(EffectNews(em, estimate, 0.0, True, note))
        last = time.monotonic()
        try:
            for _ in em.rows():
                if worker.is_cancelled:
                    return
                now = time.monotonic()
                if now - last >= 0.1:
                    last = now
                    self.post_message(EffectNews(em, None, em.fraction, True))
        except Exception as exc:  # a map that fails part way keeps its rows and says why
            self.post_message(EffectNews(em, None, em.fraction, False, f"stopped: {exc}"))
            return
        self.post_message(EffectNews(em, None, 1.0, False))

    def on_effect_news(self, message: EffectNews) -> None:
        shown = self.effect_shown
        if shown is None or shown.map is not message.em:
            return  # a map replaced since
        estimate = message.estimate if message.estimate is not None else shown.estimate
        note = message.note or shown.note
        if not shown.running:  # stopped: late news changes nothing but the estimate
            self.effect_shown = EffectShown(shown.map, estimate, False, shown.fraction, note)
        else:
            self.effect_shown = EffectShown(shown.map, estimate, message.running, message.fraction, note)
        if self.view == "effects":
            self.refresh_view()

    def set_trace(self, trace) -> None:
        """A new input (or model): a map of the old one is stopped and dropped; its steps,
        units and target no longer mean anything."""
        self._stop_effect()
        self.effect_shown = None
        super().set_trace(trace)

    def _stop_effect(self) -> bool:
        """Stop the exact rows (those done stay); whether they were running."""
        shown = self.effect_shown
        if shown is None or not shown.running:
            return False
        shown.map.cancel()  # at its next time step, not only between groups of rows
        self.workers.cancel_group(self, "effect")
        self.effect_shown = EffectShown(shown.map, shown.estimate, False, shown.map.fraction,
                                        "stopped: the rows not done show the estimate (E: a new map)")
        if self.view == "effects":
            self.refresh_view()
        return True

    def action_effect_go(self) -> None:
        """Enter on the effect map: go to the selected cell's step and unit in the steps view."""
        if self.view == "effects":
            self.view = "steps"

    def on_effect_cell_chosen(self, message: EffectCellChosen) -> None:
        if not 0 <= message.k < self.steps or not 0 <= message.layer < self.trace.num_layers:
            return
        self.set_reactive(type(self).layer, message.layer)
        self.set_reactive(type(self).unit, message.unit)
        self.set_reactive(type(self).k, message.k)
        self.view = "steps"
        self.refresh_view()
