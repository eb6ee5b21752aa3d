"""The app's state: the reactive step, selection and settings, the session's data, and what a change does.

The current step ``k`` (0-based; the screen says t = k + 1), the selected
``unit``, the ``layer`` shown, playback and the display settings are
reactive: every change pushes the step's arrays from the trace into the
widgets (``refresh_view``); nothing is computed per key beyond indexing the
trace. Widgets are handed all of it as one frozen :class:`State`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Static

from ..core import tracing
from ..core.breakpoints import Breakpoint
from ..core.checkpoint import CheckpointedTrace
from ..core.model import Model
from ..core.trace import Trace
from ..render.directions import layer_units
from ..render.text import token_label
from ..settings import Settings
from ..settings import save as save_settings
from ..widgets.state import State
from ..widgets.update import update

SPEEDS = (1, 2, 4, 8, 16, 32)  # playback speeds, steps per second
VIEWS = ("steps", "stages", "history", "units", "gradients", "effects")
PALETTES = ("viridis", "cividis")  # colour-blind-safe sequential scales


def pin_fits(trace, pin: tuple[str, int, int]) -> bool:
    """Whether a pinned unit (quantity, layer, unit) exists in ``trace``."""
    q, layer, unit = pin
    return q in trace.quantities and layer < trace.num_layers and unit < trace.width(q, layer)


class AppState:
    """Mixed into ``LstmApp``: what it knows, and the watchers that show a change."""

    k: reactive[int] = reactive(0, init=False, repaint=False)
    """Current step, 0-based (t = k + 1 on screen)."""
    unit: reactive[int] = reactive(0, init=False, repaint=False)
    """The hidden unit highlighted in every panel."""
    layer: reactive[int] = reactive(0, init=False, repaint=False)
    """The layer whose numbers are shown."""
    playing: reactive[bool] = reactive(False, init=False, repaint=False)
    """Whether playback is advancing the step."""
    speed: reactive[int] = reactive(2, init=False, repaint=False)
    """Index into SPEEDS."""
    notation: reactive[str] = reactive("both", init=False, repaint=False)
    """Gate names: "classic" (z^f, z^i, z^o, z), "pytorch" (f, i, o, g) or "both"."""
    palette: reactive[str] = reactive("viridis", init=False, repaint=False)
    """The sequential colour scale of gates and probabilities."""
    numbers: reactive[bool] = reactive(False, init=False, repaint=False)
    """Write every value out instead of (besides) colouring it."""
    view: reactive[str] = reactive("steps", init=False, repaint=False)
    """Which view fills the middle of the screen (see VIEWS)."""

    def _init_state(
        self,
        model: Model,
        text: str,
        frames: np.ndarray | None,
        retokenize: Callable[[str], Model] | None,
        settings: Settings | None,
    ) -> None:
        """The session's data: the model, its input and trace, and what the user has picked so far."""
        self.settings = settings  # saved when the user changes a choice; None keeps nothing
        self.model = model
        self.text = text
        self.frames = frames
        self.retokenize = retokenize  # builds the same built-in model with another tokenizer
        self.mono = "NO_COLOR" in os.environ
        self._trace_gen = 0  # bumped by every new input: a worker's late news for an older one is dropped
        self._last_move = 0.0  # when the user last moved (the tracing worker gives way for a moment)
        self.tracing: tuple[int, int] | None = None  # (steps done, steps in all) while a worker traces
        self.scanning: int | None = None  # the step a breakpoint scan of a long trace has reached
        inputs = frames if frames is not None else text
        self._pending = None  # an input too long to trace before the first frame: traced once mounted
        if self._expensive(inputs):
            self._pending = inputs
            self.trace = model.trace(frames[:0] if frames is not None else "")
        else:
            self.trace: Trace | CheckpointedTrace = tracing.trace(model, inputs, self.FULL_TRACE_BYTES)
        self._timer: Timer | None = None
        self.watched: list[tuple[str, int, int]] = []  # pinned (quantity, layer, unit)
        self.watch_exprs: list[list] = []  # watched expressions: [text, layer, series (T,) or None while computed]
        self.history_quantity = self.trace.memory_quantity  # shown by the history view, pinned by m
        self.history_scale = "unit"  # history colours: "unit" (each unit's robust range) or "shared" (r)
        self.search_results: tuple[str, list[tuple[int, float]]] | None = None  # (what was asked, ranked units)
        self.grad_target: str | None = None  # None: top next token (or Σh without a head); "sum-h"
        self.grad_compare = False  # gradient view also runs an RNN and a GRU
        self.breakpoints: list[Breakpoint] = []  # conditions that c / C stop at
        self.refused: dict[str, str] = {}  # a prompt's text it refused, offered again the next time it opens

    @property
    def steps(self) -> int:
        return self.trace.steps

    @property
    def state(self) -> State:
        """What the widgets are handed: the step, the selection and the settings, as one frozen value."""
        return State(
            model=self.model, trace=self.trace, k=self.k, layer=self.layer, unit=self.unit, view=self.view,
            notation=self.notation, palette=self.palette, numbers=self.numbers, mono=self.mono,
            history_quantity=self.history_quantity, history_scale=self.history_scale, watched=tuple(self.watched), search_results=self.search_results,
            grad_target=self.grad_target, grad_compare=self.grad_compare, window_seconds=self.WINDOW_SECONDS,
        )

    def status_line(self) -> str:
        tr = self.trace
        progress = ""
        if self.tracing is not None:
            done, total = self.tracing
            progress = f"tracing {done / max(total, 1):.0%} of {total:,} (Enter restarts, q quits)"
        if self.scanning is not None:
            still = f", tracing {self.tracing[0] / max(self.tracing[1], 1):.0%}" if self.tracing is not None else ""
            progress = f"scanning for a breakpoint: t = {self.scanning + 1:,}{still} (c stops)"  # fits 80 columns
        if tr.steps == 0:
            return f"t = 0 / 0  {progress or '(empty sequence)'}"
        parts = [f"t = {self.k + 1:,} / {tr.steps:,}", f"token '{token_label(tr.tokens[self.k])}'"]
        if progress:  # a scan's before the step's token (the screen waits for it); tracing's after (t moves)
            parts.insert(1 if self.scanning is not None else 2, progress)
        if tr.unknown[self.k]:
            parts.append("(<unk>)")
        if tr.num_layers > 1:
            parts.append(f"layer {self.layer + 1}/{tr.num_layers}")
        parts.append(f"unit {self.unit} of {layer_units(tr, self.layer)}")
        parts.append(f"{'playing' if self.playing else 'paused'} at {SPEEDS[self.speed]} steps/s")
        n_unk = int(tr.unknown.sum())
        if n_unk:
            parts.append(f"{n_unk} unknown token{'s' if n_unk > 1 else ''} marked ?")
        return "  ".join(parts)

    def set_trace(self, trace: Trace | CheckpointedTrace) -> None:
        """Show a new trace from its first step (the unit and layer kept where they fit)."""
        self.playing = False
        self._stop_scan()
        rebuild = trace.cell != self.trace.cell or trace.has_head != self.trace.has_head
        self.trace = trace
        self.query_one("#input").placeholder = self._input_placeholder()  # says what the text is, when not in it
        if self.history_quantity not in trace.quantities:  # another cell: an LSTM's c is not a GRU's
            self.history_quantity = trace.memory_quantity
        self.search_results = None  # found on the old sequence
        for key in ("s", "!"):  # a step range or a patch refused for the old sequence
            self.refused.pop(key, None)
        self.set_reactive(AppState.k, 0)
        self.set_reactive(AppState.layer, min(self.layer, trace.num_layers - 1))
        self.set_reactive(AppState.unit, min(self.unit, layer_units(trace, self.layer) - 1))
        if self.watch_exprs:  # their series, for this trace
            self._compute_watches()
        self._fit_timeline(self.size.height)  # another model's units may bring the history under the panels, or not
        if rebuild:
            self.run_worker(self._rebuild_panels(), exclusive=True, group="panels")
        else:
            self.refresh_view()

    async def _rebuild_panels(self) -> None:
        await self._build_panels()
        self.refresh_view()

    # -------------------------------------------------------------- watchers
    def watch_k(self) -> None:
        if not self.playing:  # playback lets a trace go on
            self._last_move = time.monotonic()
        self.refresh_view()

    def watch_unit(self) -> None:
        self._last_move = time.monotonic()
        self.refresh_view()

    def watch_layer(self) -> None:
        self._last_move = time.monotonic()
        self.refresh_view()

    def watch_view(self, view: str) -> None:
        self.query_one(ContentSwitcher).current = view
        self.refresh_view()

    def watch_notation(self, notation: str) -> None:
        self._steps.set_notation(notation)
        self.refresh_view()
        self._remember()

    def watch_palette(self) -> None:
        self.refresh_view()
        self._remember()

    def watch_numbers(self) -> None:
        self.refresh_view()

    def _remember(self, *_) -> None:
        """Save the user's choices, if this app keeps settings."""
        if self.settings is None:
            return
        self.settings.theme, self.settings.notation, self.settings.palette = self.theme, self.notation, self.palette
        warning = save_settings(self.settings)
        if warning:
            self.notify(warning, severity="warning")

    def watch_playing(self, playing: bool) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if playing:
            self._timer = self.set_interval(1 / SPEEDS[self.speed], self._tick)
        update(self.query_one("#status", Static), self.status_line())

    def watch_speed(self) -> None:
        if self.playing:
            self.watch_playing(True)
        else:
            update(self.query_one("#status", Static), self.status_line())

    def _tick(self) -> None:
        if self.k >= self.steps - 1:
            self.playing = False
        else:
            self.k += 1
