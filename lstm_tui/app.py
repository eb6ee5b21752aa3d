"""The lstm-tui app: composes the panels, binds the keys, owns the state.

State is the current step ``k`` (0-based; the screen says t = k + 1), the
selected ``unit``, the ``layer`` shown and playback. Every change pushes the
step's arrays from the trace into the widgets; nothing is computed per key
beyond indexing the trace.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer, Header, Input, Static
from textual.worker import get_current_worker

from .core import checkpoint, compiled, explain
from .core.breakpoints import Breakpoint, compile_breakpoint, find_next, names_for
from .core.checkpoint import CheckpointedTrace, TraceBuilder, find_token, step_seconds
from .core.errors import InputError, UserError
from .core.export import atomic_write, write_trace
from .core.model import Model
from .core.trace import Trace
from .render import panels as panel_specs
from .render.directions import layer_units
from .render.panels import NOTATIONS
from .settings import Settings
from .settings import save as save_settings
from .render.text import token_label, top_tokens
from .widgets.breakpoints_screen import BreakpointsScreen
from .widgets.help_screen import HelpScreen
from .widgets.panel import Panel
from .widgets.prompt import PromptScreen
from .widgets.views import GradientView, HistoryView, StagesView, UnitsView
from .widgets.watches import Watches
from .widgets.token_strip import TokenStrip
from .widgets.unit_view import UnitView
from .widgets.update import update

SPEEDS = (1, 2, 4, 8, 16, 32)  # playback speeds, steps per second
VIEWS = ("steps", "stages", "history", "units", "gradients")
PALETTES = ("viridis", "cividis")  # colour-blind-safe sequential scales

#: Panels of the gates and states (the top grid); inputs and output go below them.
CORE_KEYS = ("f", "i", "g", "o", "c", "h", "r", "z", "n")


class LstmApp(App):
    """Step through a recurrent model's trace with the keyboard."""

    TITLE = "lstm-tui"
    AUTO_FOCUS = None  # start with the stepping keys live, not in the input line
    CSS = """
    #input { margin: 0 1; }
    #status { height: 1; padding: 0 1; background: $boost; }
    #views { height: 1fr; }
    #stages, #history, #units, #gradients { padding: 0 1; }
    #timeline { height: auto; padding: 0 1; margin-top: 1; }
    .grid { layout: grid; grid-size: 2; grid-gutter: 0 1; grid-rows: auto; height: auto; padding: 0 1; }
    #unit, #watches { margin: 0 1; }
    #too-small { display: none; width: 1fr; height: 1fr; content-align: center middle; text-style: bold; }
    LstmApp.-too-small #too-small { display: block; }
    LstmApp.-too-small #views, LstmApp.-too-small #unit, LstmApp.-too-small #watches,
    LstmApp.-too-small #strip, LstmApp.-too-small #status, LstmApp.-too-small Footer,
    LstmApp.-too-small #input, LstmApp.-too-small Header { display: none; }
    """

    BINDINGS = [
        Binding("right,n", "step(1)", "next", key_display="→ n"),
        Binding("left,p", "step(-1)", "prev", key_display="← p"),
        Binding("home", "jump(0)", "first", show=False),
        Binding("end", "jump(-1)", "last", show=False),
        Binding("space", "play", "play", tooltip="play / pause"),
        Binding("plus,equals_sign", "speed(1)", "faster", show=False),
        Binding("minus", "speed(-1)", "slower", show=False),
        Binding("down,j", "unit(1)", "unit", key_display="↓ j", tooltip="next unit"),
        Binding("up,k", "unit(-1)", "previous unit", key_display="↑ k", show=False),
        Binding("l", "layer(1)", "next layer", show=False),
        Binding("g", "goto", "go to step or token", show=False),
        Binding("b", "add_breakpoint", "add a breakpoint (a condition, e.g. f[3] < 0.1)", show=False),
        Binding("B", "breakpoints", "list, enable, disable, delete breakpoints", show=False),
        Binding("c", "continue(1)", "continue", tooltip="continue to the next step where a breakpoint holds", show=False),
        Binding("C", "continue(-1)", "continue backwards to a breakpoint", show=False),
        Binding("right_square_bracket", "same_token(1)", "next step with this token", key_display="]", show=False),
        Binding("left_square_bracket", "same_token(-1)", "previous step with this token", key_display="[", show=False),
        Binding("m", "watch", "pin or unpin the unit as a watch", show=False),
        Binding("N", "notation", "notation: classic / PyTorch / both", show=False),
        Binding("P", "palette", "palette: viridis / cividis", show=False),
        Binding("number_sign", "numbers", "numbers mode: write every value out", key_display="#", show=False),
        Binding("e", "export", "export the trace (.npz, .csv, .json)", show=False),
        Binding("S", "screenshot", "save a screenshot (.svg)", show=False),
        Binding("1", "view('steps')", "view: every gate at this step", show=False),
        Binding("2", "view('stages')", "view: the three stages of the unit", show=False),
        Binding("3", "view('history')", "view: history, units × time, coloured text", show=False),
        Binding("4", "view('units')", "view: unit search and gate saturation", show=False),
        Binding("5", "view('gradients')", "view: gradient flow", show=False),
        Binding("v", "next_view", "view", key_display="v", tooltip="next view (1-5 pick one)"),
        Binding("a", "history_quantity", "history: next quantity", show=False),
        Binding("s", "search", "unit search: on in a step range, off outside", show=False),
        Binding("u", "next_result", "go to the next unit search result", show=False),
        Binding("x", "compare", "gradients: compare with RNN and GRU", show=False),
        Binding("T", "grad_target", "gradients: target top token / sum of h", show=False),
        Binding("w", "tokens", "char/word tokens", show=False),
        Binding("o", "open_model", "open another model (a demo name or a weights file)", show=False),
        Binding("pagedown", "page(1)", "scroll panels down", show=False),
        Binding("pageup", "page(-1)", "scroll panels up", show=False),
        Binding("slash,i", "focus_input", "type", key_display="/ i"),
        Binding("escape", "leave_input", "leave the input line", show=False),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
    ]
    """Debugger keys as pdb and pudb users know them; one meaning each everywhere."""

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

    MIN_SIZE = (40, 12)  # below this the screen says it is too small
    SYNC_SECONDS = 0.1  # a trace estimated to take longer is computed in a worker, a chunk at a time
    YIELD_SECONDS = 0.3  # the worker pauses this long after each move of the step, unit or layer
    FULL_TRACE_BYTES = checkpoint.FULL_TRACE_BYTES  # a longer trace is kept as checkpoints
    HISTORY_TEXT_STEPS = 2000  # the history view colours this many tokens each side of t
    WINDOW_SECONDS = 0.15  # views that need whole arrays read about this much of a long trace

    class TraceProgress(Message):
        """From the tracing worker: the steps computed so far."""

        def __init__(self, gen: int, trace, done: int, total: int, first: bool, text: str) -> None:
            super().__init__()
            self.gen, self.trace, self.done, self.total, self.first, self.text = gen, trace, done, total, first, text

    class TraceFailed(Message):
        """From the tracing worker: the input was refused."""

        def __init__(self, gen: int, error: str) -> None:
            super().__init__()
            self.gen, self.error = gen, error

    class ScanProgress(Message):
        """From a breakpoint scan of a long trace: the step it has reached."""

        def __init__(self, trace, step: int) -> None:
            super().__init__()
            self.trace, self.step = trace, step

    class ScanDone(Message):
        """From a breakpoint scan of a long trace: the step found (None: none), or an error."""

        def __init__(self, trace, direction: int, k: int | None, error: str | None = None) -> None:
            super().__init__()
            self.trace, self.direction, self.k, self.error = trace, direction, k, error

    def __init__(
        self,
        model: Model,
        text: str = "",
        frames: np.ndarray | None = None,
        retokenize: Callable[[str], Model] | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__()
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
            self.trace: Trace | CheckpointedTrace = checkpoint.trace(model, inputs, self.FULL_TRACE_BYTES)
        self._timer: Timer | None = None
        self.watched: list[tuple[str, int, int]] = []  # pinned (quantity, layer, unit)
        self.history_quantity = self.trace.memory_quantity  # shown by the history view, pinned by m
        self.search_results: tuple[str, list[tuple[int, float]]] | None = None  # (what was asked, ranked units)
        self.grad_target: str | None = None  # None: top next token (or Σh without a head); "sum-h"
        self.grad_compare = False  # gradient view also runs an RNN and a GRU
        self.breakpoints: list[Breakpoint] = []  # conditions that c / C stop at
        self._panels: list[Panel] = []  # the steps view's panels, as built for the trace's cell
        self._stale_panels: set[Panel] = set()  # panels off screen that still show an earlier step
        self._gc_thresholds = gc.get_threshold()  # the collector's settings to put back on the way out

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header(icon="≋")
        yield Input(
            value=self.text if self._text_fits_input() else "",
            placeholder=self._input_placeholder(),
            id="input",
            compact=True,
            disabled=self.frames is not None,
        )
        yield TokenStrip(id="strip")
        yield Static("", id="status")
        with ContentSwitcher(initial="steps", id="views"):
            with VerticalScroll(id="steps", can_focus=False):
                yield Grid(id="core", classes="grid")
                yield Grid(id="io", classes="grid")
                yield HistoryView(id="timeline")
            yield StagesView(id="stages")
            yield HistoryView(id="history")
            yield UnitsView(id="units")
            yield GradientView(id="gradients")
        yield UnitView(id="unit")
        yield Watches(id="watches")
        yield Static("", id="too-small")
        yield Footer(show_command_palette=False)

    def _text_fits_input(self) -> bool:
        """Whether the text can stand in the one-line input as it is (no control characters, not huge)."""
        return self.frames is None and self.text.isprintable() and len(self.text) <= 10_000

    def _input_placeholder(self) -> str:
        if self.frames is not None:
            return "input is feature frames"
        if self.text and not self._text_fits_input():
            return f"({len(self.text):,} characters with line breaks or control characters: / types a new sequence)"
        return "type a sequence, Enter to run"

    async def on_mount(self) -> None:
        self.sub_title = self.model.name
        # Looked up once: a query walks the DOM, and refresh_view runs on every key.
        self._strip, self._status = self.query_one(TokenStrip), self.query_one("#status", Static)
        self._unit_view, self._watches = self.query_one(UnitView), self.query_one(Watches)
        self._steps_view = self.query_one("#steps", VerticalScroll)
        self._timeline = self.query_one("#timeline", HistoryView)
        self._timeline.display = False  # until the screen is tall enough (_fit_timeline)
        self.watch(self._steps_view, "scroll_y", self._show_stale_panels, init=False)
        if self.settings is not None:
            if self.settings.theme in self.available_themes:
                self.theme = self.settings.theme
            if self.settings.notation in NOTATIONS:
                self.set_reactive(LstmApp.notation, self.settings.notation)
            if self.settings.palette in PALETTES:
                self.set_reactive(LstmApp.palette, self.settings.palette)
            self.watch(self, "theme", self._remember, init=False)
        await self._build_panels()
        self._fit_columns(self.size.width)
        self._fit_timeline(self.size.height)
        self.refresh_view()
        self.call_after_refresh(self.refresh_view)  # again once laid out: legends take the panels' real width
        # Move the objects of the first screen out of the collector's reach, and
        # make full collections a hundred times rarer: each one stalls a step by
        # 8 ms or more (50 ms over all of Textual's objects before the freeze).
        self.call_after_refresh(gc.freeze)
        # A second after the first frame (and its second layout) is out: the compiled step loop
        # (numba, if installed) gets ready in the background, its import holding the GIL for a
        # moment; traces take NumPy's loop until it is ready (LSTM_TUI_COMPILED=0: always).
        self.set_timer(1.0, compiled.warm_up)
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(self._gc_thresholds[0], self._gc_thresholds[1], 1000)
        if self._pending is not None:
            self._start_tracing(self._pending, self.text)
            self._pending = None

    def on_unmount(self) -> None:
        gc.set_threshold(*self._gc_thresholds)

    async def _build_panels(self) -> None:
        """(Re)create the panels that fit the trace's cell."""
        tr = self.trace
        self.watched = [
            w for w in self.watched if w[0] in tr.quantities and w[1] < tr.num_layers and w[2] < tr.width(w[0], w[1])
        ]
        core, io = self.query_one("#core", Grid), self.query_one("#io", Grid)
        await core.remove_children()
        await io.remove_children()
        specs = panel_specs.panels_for(self.trace)
        await core.mount_all([Panel(s, id=f"panel-{s.key}") for s in specs if s.key in CORE_KEYS])
        await io.mount_all([Panel(s, id=f"panel-{s.key}") for s in specs if s.key not in CORE_KEYS])
        self._panels = list(self.query(Panel))
        self._stale_panels = set()
        for panel in self._panels:
            panel.set_notation(self.notation)

    def on_resize(self, event) -> None:
        self._fit_columns(event.size.width)
        self._fit_timeline(event.size.height)
        self.call_after_refresh(self._show_stale_panels)  # the new layout may bring panels into view
        w, h = event.size
        small = w < self.MIN_SIZE[0] or h < self.MIN_SIZE[1]
        self.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Static).update(
                f"terminal too small: {w}×{h}\nneeds at least {self.MIN_SIZE[0]}×{self.MIN_SIZE[1]}"
            )

    TIMELINE_MIN_HEIGHT = 46  # a taller screen shows the history under the panels of the steps view
    TIMELINE_MAX_UNITS = 256  # and only while it stays cheap to redraw on every step

    def _fit_timeline(self, height: int) -> None:
        if not hasattr(self, "_timeline"):  # a resize before the screen is mounted
            return
        units = max(layer_units(self.trace, n) for n in range(self.trace.num_layers))
        show = height >= self.TIMELINE_MIN_HEIGHT and units <= self.TIMELINE_MAX_UNITS
        if self._timeline.display != show:
            self._timeline.display = show
            if show and self.trace.steps:
                self.call_after_refresh(self.refresh_view)

    def _fit_columns(self, width: int) -> None:
        cols = max(1, min(4, width // 36))
        for grid in self.query(".grid"):
            grid.styles.grid_size_columns = cols

    # ------------------------------------------------------------------ state
    @property
    def steps(self) -> int:
        return self.trace.steps

    def refresh_view(self) -> None:
        """Push the current step's numbers into every widget."""
        tr, k, layer = self.trace, self.k, self.layer
        self._strip.show(tr.tokens, tr.unknown, k)
        update(self._status, self.status_line())
        if tr.steps == 0:
            for panel in self.query(Panel):
                panel.show(np.zeros(0), panel_specs.scale(tr, panel.spec, layer), None, self.mono)
            self._unit_view.show(tr, layer, 0, self.unit)
            return
        if self.view == "steps":
            self._show_panels(self._panels)
            if self._timeline.display:
                self._timeline.show(self)
        self._unit_view.show(tr, layer, k, self.unit, self.notation)
        self._watches.show(tr, k, self.watched)
        if self.view != "steps":
            self.query_one(f"#{self.view}").show(self)

    def _show_panels(self, panels: list[Panel]) -> None:
        """Push the step into the panels on screen; the others are marked stale until scrolled to.

        A widget refreshed while off screen makes Textual map the whole screen
        again on the next frame, which costs more than the rest of a step.
        """
        tr, k, layer = self.trace, self.k, self.layer
        view = self._steps_view.region
        for panel in panels:
            region = panel.heatmap.region  # what changes with the step
            if view and region and not region.overlaps(view):
                self._stale_panels.add(panel)
                continue
            self._stale_panels.discard(panel)
            spec = panel.spec
            vals = panel_specs.values(tr, spec.key, layer, k)
            by_unit = spec.key not in ("x", "y") or (spec.key == "x" and layer > 0)
            extra = top_tokens(tr, self.model.vocab, k) if spec.key == "y" else None
            unit = min(self.unit, len(vals) - 1) if by_unit else None  # panels of one layer may differ in width
            panel.show(vals, self._scale(spec), unit, self.mono, extra, self.numbers)

    def _show_stale_panels(self, *_) -> None:
        """Panels scrolled (or laid out) into view since the step changed."""
        if self._stale_panels and self.view == "steps" and self.trace.steps:
            self._show_panels([p for p in self._panels if p in self._stale_panels])

    def _scale(self, spec):
        key = (id(self.trace), spec.key, self.layer, self.palette)
        cache = self.__dict__.setdefault("_scales", {})
        if key not in cache:
            cache.clear() if len(cache) > 64 else None
            cache[key] = panel_specs.scale(self.trace, spec, self.layer, self.palette)
        return cache[key]

    def status_line(self) -> str:
        tr = self.trace
        progress = ""
        if self.tracing is not None:
            done, total = self.tracing
            progress = f"tracing {done / max(total, 1):.0%} of {total:,} steps (Enter restarts, q quits)"
        if self.scanning is not None:
            progress = f"scanning for a breakpoint at t = {self.scanning + 1:,} (c or C stops)"
        if tr.steps == 0:
            return f"t = 0 / 0  {progress or '(empty sequence)'}"
        parts = [f"t = {self.k + 1} / {tr.steps}", f"token '{token_label(tr.tokens[self.k])}'"]
        if progress:
            parts.insert(1, progress)
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
        for panel in self.query(Panel):
            panel.set_notation(notation)
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

    def set_trace(self, trace: Trace | CheckpointedTrace) -> None:
        """Show a new trace from its first step (the unit and layer kept where they fit)."""
        self.playing = False
        self._stop_scan()
        rebuild = trace.cell != self.trace.cell or trace.has_head != self.trace.has_head
        self.trace = trace
        self.search_results = None  # found on the old sequence
        self.__dict__.pop("_scales", None)
        self.set_reactive(LstmApp.k, 0)
        self.set_reactive(LstmApp.layer, min(self.layer, trace.num_layers - 1))
        self.set_reactive(LstmApp.unit, min(self.unit, layer_units(trace, self.layer) - 1))
        if rebuild:
            self.run_worker(self._rebuild_panels(), exclusive=True, group="panels")
        else:
            self.refresh_view()

    async def _rebuild_panels(self) -> None:
        await self._build_panels()
        self.refresh_view()

    # ------------------------------------------------------ long sequences
    def _expensive(self, inputs) -> bool:
        """Whether tracing ``inputs`` would keep the screen waiting (at most one step a character)."""
        return len(inputs) * step_seconds(self.model) > self.SYNC_SECONDS

    def _start_tracing(self, inputs, text: str) -> None:
        """Trace ``inputs`` in a worker thread, showing the steps done as they come."""
        self._trace_gen += 1
        self.tracing = (0, len(inputs))
        update(self._status, self.status_line())
        self.run_worker(
            partial(self._trace_in_thread, inputs, text, self._trace_gen),
            name="trace", group="trace", exclusive=True, thread=True,
        )

    def _trace_in_thread(self, inputs, text: str, gen: int) -> None:
        """The worker: a chunk of about 50 ms at a time, news at most every 0.1 s (first chunk at once)."""
        worker = get_current_worker()
        try:
            builder = TraceBuilder(self.model, inputs, self.FULL_TRACE_BYTES)
        except UserError as exc:
            self.post_message(self.TraceFailed(gen, str(exc)))
            return
        first, last = True, 0.0
        while not worker.is_cancelled:
            # While the user is moving, step aside: on two cores, a trace that keeps both
            # busy (BLAS threads) triples the time a step takes to reach the screen.
            pause = self._last_move + self.YIELD_SECONDS - time.monotonic()
            if pause > 0 and not first:
                time.sleep(min(pause, 0.05))
                continue
            builder.advance(seconds=0.02)
            now = time.monotonic()
            if first or builder.complete or now - last >= 0.1:
                self.post_message(
                    self.TraceProgress(gen, builder.snapshot(), builder.done, builder.total, first, text)
                )
                first, last = False, now
            if builder.complete:
                return

    def on_lstm_app_trace_progress(self, message: TraceProgress) -> None:
        if message.gen != self._trace_gen:
            return  # news of an input replaced since
        self.tracing = None if message.done >= message.total else (message.done, message.total)
        if message.first:
            self.text = message.text
            self.set_trace(message.trace)
        else:  # the same run, more steps: stay where the user is
            self.trace = message.trace
            self.refresh_view()

    def on_lstm_app_trace_failed(self, message: TraceFailed) -> None:
        if message.gen == self._trace_gen:
            self.tracing = None
            update(self._status, self.status_line())
            self.notify(message.error, severity="error")

    def _around(self, k: int) -> tuple[Trace, int]:
        """A full trace holding step k with a step each side, and k's index in it."""
        tr = self.trace
        if not isinstance(tr, CheckpointedTrace):
            return tr, k
        win = tr.window(k - 1, k + 2)
        return win, k - win.offset

    def _stop_scan(self) -> bool:
        """Stop a breakpoint scan of a long trace; whether one was running."""
        if self.scanning is None:
            return False
        self.workers.cancel_group(self, "scan")
        self.scanning = None
        update(self._status, self.status_line())
        return True

    def _scan_in_thread(self, trace: CheckpointedTrace, bps: list[Breakpoint], layer: int, k: int, direction: int) -> None:
        """The worker of c / C on a long trace: window by window, the step reached shown every 0.1 s."""
        worker = get_current_worker()
        last = [0.0]

        def progress(step: int) -> bool:
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                self.post_message(self.ScanProgress(trace, step))
            return not worker.is_cancelled

        try:
            hit = checkpoint.find_next(trace, bps, layer, k, direction, vocab=self.model.vocab, progress=progress)
        except InputError as exc:
            self.post_message(self.ScanDone(trace, direction, None, str(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(self.ScanDone(trace, direction, hit))

    def on_lstm_app_scan_progress(self, message: ScanProgress) -> None:
        if message.trace is self.trace and self.scanning is not None:
            self.scanning = message.step
            update(self._status, self.status_line())

    def on_lstm_app_scan_done(self, message: ScanDone) -> None:
        if message.trace is not self.trace or self.scanning is None:
            return  # stopped, or the trace changed since
        self.scanning = None
        update(self._status, self.status_line())
        if message.error:
            self.notify(message.error, severity="error", timeout=8)
        else:
            self._arrive(message.k, message.direction)

    # ---------------------------------------------------------------- actions
    def action_step(self, delta: int) -> None:
        """Move ``delta`` steps, stopping at the ends."""
        if self.steps == 0:
            self.bell()
            return
        k = min(max(self.k + delta, 0), self.steps - 1)
        if k == self.k:
            self.bell()
        self.k = k

    def action_jump(self, k: int) -> None:
        """Go to step k (0-based; -1 is the last step)."""
        if self.steps:
            self.k = k % self.steps

    def action_play(self) -> None:
        if self.steps == 0:
            return
        if not self.playing and self.k >= self.steps - 1:
            self.k = 0  # playing from the end starts over
        self.playing = not self.playing

    def action_speed(self, delta: int) -> None:
        self.speed = min(max(self.speed + delta, 0), len(SPEEDS) - 1)

    def action_unit(self, delta: int) -> None:
        self.unit = (self.unit + delta) % layer_units(self.trace, self.layer)

    def action_layer(self, delta: int) -> None:
        layer = (self.layer + delta) % self.trace.num_layers
        self.set_reactive(LstmApp.unit, min(self.unit, layer_units(self.trace, layer) - 1))  # layers may differ in width
        self.layer = layer

    def action_add_breakpoint(self) -> None:
        hint = (
            "a condition on this step's numbers, e.g.  f[3] < 0.1   abs(c).max() > 3   token == \"(\"   "
            "y.argmax() != next_token.  Names: " + ", ".join(names_for(self.trace.cell, self.trace.has_head))
        )
        self.push_screen(PromptScreen("add a breakpoint", hint), self._add_breakpoint)

    def _add_breakpoint(self, text: str | None) -> None:
        if text is None or not text.strip():
            return
        try:
            bp = compile_breakpoint(text, self.trace.cell, self.trace.has_head)
            if self.steps:
                tr, j = self._around(self.k)
                bp.test(tr, self.layer, j, vocab=self.model.vocab)  # fail now, not at c
        except InputError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self.breakpoints.append(bp)
        self.notify(f"breakpoint {bp.text}: c continues to the next step where it holds")

    def action_breakpoints(self) -> None:
        self.push_screen(BreakpointsScreen(self.breakpoints))

    def action_continue(self, direction: int) -> None:
        """Go to the nearest later (or earlier) step where an enabled breakpoint holds."""
        if self._stop_scan():
            self.notify("breakpoint scan stopped")
            return
        if not any(bp.enabled for bp in self.breakpoints):
            self.notify("no breakpoints enabled: press b to add one", severity="warning")
            return
        if not self.steps:
            return
        self.playing = False
        if isinstance(self.trace, CheckpointedTrace):  # a long scan recomputes windows: not on the UI's time
            self.scanning = self.k
            update(self._status, self.status_line())
            bps = [bp for bp in self.breakpoints if bp.enabled]
            self.run_worker(
                partial(self._scan_in_thread, self.trace, bps, self.layer, self.k, direction),
                name="scan", group="scan", exclusive=True, thread=True,
            )
            return
        try:
            k = find_next(self.trace, self.breakpoints, self.layer, self.k, direction, vocab=self.model.vocab)
        except InputError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self._arrive(k, direction)

    def _arrive(self, k: int | None, direction: int) -> None:
        """Go to the step a breakpoint scan found, saying which conditions hold there."""
        if k is None:
            self.bell()
            self.notify(f"no breakpoint holds {'after' if direction > 0 else 'before'} t = {self.k + 1}")
            return
        tr, j = self._around(k)
        hit = [bp.text for bp in self.breakpoints if bp.enabled and bp.test(tr, self.layer, j, self.model.vocab)]
        self.k = k
        self.notify(f"t = {k + 1}: {' | '.join(hit)}")

    def action_view(self, view: str) -> None:
        self.view = view

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]

    def action_history_quantity(self) -> None:
        qs = self.trace.quantities
        self.history_quantity = qs[(qs.index(self.history_quantity) + 1) % len(qs)] if self.history_quantity in qs else qs[0]
        self._show_view("history")

    def action_compare(self) -> None:
        self.grad_compare = not self.grad_compare
        self._show_view("gradients")

    def action_grad_target(self) -> None:
        self.grad_target = None if self.grad_target == "sum-h" else "sum-h"
        self._show_view("gradients")

    def _show_view(self, view: str) -> None:
        """Switch to ``view`` (which draws it) or, if it is on screen, draw it again."""
        if self.view == view:
            self.refresh_view()
        else:
            self.view = view

    def action_search(self) -> None:
        if not self.steps:
            return
        q = self.trace.memory_quantity
        hint = (
            f"steps START-END (1..{self.steps}), then > THRESHOLD, then optionally the quantity "
            f"({', '.join(self.trace.quantities)}; default {q}) and 'abs' to compare |value|. "
            "Finds the units above the threshold inside the range and below it outside."
        )
        self.push_screen(PromptScreen("unit search", hint, f"{self.k + 1}-{self.k + 1} > 0.5 {q}"), self._search)

    def _search(self, text: str | None) -> None:
        if text is None:
            return
        try:
            start, stop, threshold, q, absolute = explain.parse_search(text, self.trace.quantities, self.steps)
            tr, lo, hi, outside = self.trace, 0, self.steps, ""
            if isinstance(tr, CheckpointedTrace):  # compare with the steps near the range, not all of them
                n = tr.steps_within(self.WINDOW_SECONDS)
                if stop - start > n // 2:
                    raise InputError(
                        f"unit search on a long trace covers at most {n // 2:,} steps (they are recomputed): "
                        "search a shorter range"
                    )
                lo = max(0, min(start - (n - (stop - start)) // 2, self.steps - n))
                hi = min(self.steps, lo + n)
                tr = tr.window(lo, hi, keep=False)
                outside = f", outside: steps {lo + 1:,}-{hi:,} only"
            results = explain.unit_search(tr, q, self.layer, start - lo, stop - lo, threshold, absolute=absolute)
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        what = f"{'|' + q + '|' if absolute else q} > {threshold:g} in steps {start + 1}-{stop}{outside}"
        self.search_results = (what, results)
        self.view = "units"
        if results:
            self.unit = results[0][0]
        self.refresh_view()

    def action_next_result(self) -> None:
        if not self.search_results or not self.search_results[1]:
            self.notify("no unit search results: press s to search")
            return
        units = [u for u, _ in self.search_results[1]]
        self.unit = units[(units.index(self.unit) + 1) % len(units)] if self.unit in units else units[0]

    def action_palette(self) -> None:
        self.palette = PALETTES[(PALETTES.index(self.palette) + 1) % len(PALETTES)]
        self.notify(f"palette: {self.palette}")

    def action_numbers(self) -> None:
        self.numbers = not self.numbers

    def action_export(self) -> None:
        hint = "a file name ending in .npz, .csv (one row per number) or .json"
        self.push_screen(PromptScreen("export the trace", hint, "trace.npz"), self._export_as)

    def _export_as(self, name: str | None) -> None:
        if name and name.strip() and isinstance(self.trace, CheckpointedTrace):
            self.notify(f"{self.trace.steps:,} steps kept as checkpoints: too long to export whole", severity="error")
            return
        if name and name.strip():
            self._write(name.strip(), lambda path, force: write_trace(self.trace, path, force=force))

    def action_screenshot(self) -> None:
        hint = "an .svg file name for a picture of the screen as it is now"
        self.push_screen(PromptScreen("screenshot", hint, f"lstm-tui-t{self.k + 1}.svg"), self._save_screenshot_as)

    def _save_screenshot_as(self, name: str | None) -> None:
        if name and name.strip():
            svg = self.export_screenshot().encode("utf-8")
            self._write(name.strip(), lambda path, force: atomic_write(path, lambda fh: fh.write(svg), force=force))

    def _write(self, name: str, write: Callable, confirmed: bool = False) -> None:
        """Write a file, asking before replacing one that exists."""
        path = Path(name).expanduser()
        if path.exists() and not path.is_dir() and not confirmed:

            def answer(text: str | None) -> None:
                if text is not None and text.strip().lower() in ("y", "yes"):
                    self._write(name, write, confirmed=True)
                else:
                    self.notify(f"{path}: kept as it was")

            self.push_screen(PromptScreen("overwrite?", f"{path} exists. Type y and Enter to replace it."), answer)
            return
        try:
            written = write(path, confirmed)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self.notify(f"wrote {written}")

    def action_notation(self) -> None:
        self.notation = NOTATIONS[(NOTATIONS.index(self.notation) + 1) % len(NOTATIONS)]
        self.notify(f"notation: {self.notation}")

    def action_watch(self) -> None:
        """Pin the selected unit of the history view's quantity (c at first) in this layer, or unpin it."""
        pin = (self.history_quantity, self.layer, min(self.unit, self.trace.width(self.history_quantity, self.layer) - 1))
        if pin in self.watched:
            self.watched.remove(pin)
        else:
            self.watched.append(pin)
        self.refresh_view()

    def action_same_token(self, direction: int) -> None:
        """Go to the next (or previous) step whose token is the current one."""
        if not self.steps:
            return
        k = find_token(self.trace.tokens, self.trace.tokens[self.k], self.k, direction)
        if k is None:
            self.notify(f"no {'later' if direction > 0 else 'earlier'} {token_label(self.trace.tokens[self.k])!r}")
        else:
            self.k = k

    def action_goto(self) -> None:
        if not self.steps:
            return

        def answer(text: str | None) -> None:
            if text is None or not text.strip():
                return
            text = text.strip()
            if text.isdigit():
                t = int(text)
                if not 1 <= t <= self.steps:
                    self.notify(f"step {t} is outside 1..{self.steps}", severity="error")
                    return
                self.k = t - 1
                return
            k = find_token(self.trace.tokens, text, self.k, 1, wrap=True)
            if k is None:
                self.notify(f"token {text!r} is not in the sequence", severity="error")
            else:
                self.k = k

        hint = f"a step number 1..{self.steps}, or a token to find after the current step"
        self.push_screen(PromptScreen("go to", hint), answer)

    def action_page(self, direction: int) -> None:
        main = self.query_one(f"#{self.view}")
        main.scroll_page_down() if direction > 0 else main.scroll_page_up()

    def action_tokens(self) -> None:
        """Switch the built-in model between character and word tokens."""
        if self.retokenize is None or self.frames is not None:
            self.notify(f"this model's vocabulary is fixed: {self.model.tokenizer} tokens", severity="warning")
            return
        self.model = self.retokenize("word" if self.model.tokenizer == "char" else "char")
        self.notify(f"{self.model.tokenizer} tokens")
        self.run_text(self.query_one("#input", Input).value)

    def action_focus_input(self) -> None:
        if self.frames is None:
            self.query_one("#input", Input).focus()

    def action_leave_input(self) -> None:
        self.set_focus(None)

    def action_help(self) -> None:
        about = f"model: {self.model.name}: {self.model.description}\n" if self.model.description else ""
        self.push_screen(HelpScreen(list(self._help_bindings()), about + "Stepping keys work everywhere except while typing."))

    def _help_bindings(self):
        for binding in self.BINDINGS:
            yield binding

    def get_system_commands(self, screen):
        """The command palette (ctrl+p) offers every key's action by name."""
        yield from super().get_system_commands(screen)
        for b in self.BINDINGS:
            keys = b.key_display or b.key
            title = (b.tooltip or b.description).capitalize()
            yield SystemCommand(title, f"key: {keys}", partial(self.run_action, b.action))

    # ----------------------------------------------------------------- input
    def action_open_model(self) -> None:
        from .core.registry import BUILTIN

        hint = f"a built-in name ({', '.join(BUILTIN)}) or the path of a .safetensors, .npz or .pt file"
        self.push_screen(PromptScreen("open a model", hint), self._open_model)

    def _open_model(self, spec: str | None) -> None:
        """Load ``spec`` whole, then switch to it; a model that fails to load changes nothing."""
        if spec is None or not spec.strip():
            return
        from .core.registry import load_model

        try:
            model = load_model(spec.strip())
            if not model.takes_tokens:
                raise UserError(f"{spec.strip()}: this model reads feature frames: start it with --inputs FRAMES.npy")
            text = model.meta.get("example", self.text)
            trace = checkpoint.trace(model, text, self.FULL_TRACE_BYTES)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self._trace_gen += 1  # a worker still tracing for the old model is now stale
        self.workers.cancel_group(self, "trace")
        self.tracing = None
        self.model, self.frames, self.retokenize = model, None, None
        self.sub_title = model.name
        self.text = text
        self.query_one("#input", Input).value = text if self._text_fits_input() else ""
        self.watched.clear()
        self.set_trace(trace)
        self.notify(f"opened {model.name}")

    def run_text(self, text: str) -> None:
        """Trace ``text``; on failure say why and keep the current trace.

        A long text is traced in a worker thread: its first steps show at
        once and more follow (the status line says how far it has got); a new
        text stops it.
        """
        if self._expensive(text):
            self._start_tracing(text, text)
            return
        try:
            trace = checkpoint.trace(self.model, text, self.FULL_TRACE_BYTES)
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self._trace_gen += 1  # news from a worker still running for an older text is now stale
        self.workers.cancel_group(self, "trace")
        self.tracing = None
        self.text = text
        self.set_trace(trace)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.run_text(event.value)
        self.set_focus(None)
