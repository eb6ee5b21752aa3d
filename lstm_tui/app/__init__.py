"""The lstm-tui app: composes the screen, binds the keys, routes the messages.

The rest of the app lives beside this file, each part mixed into ``LstmApp``:

- ``state.py``: the reactive step, unit, layer and settings, the session's
  data, the watchers that show a change, and the frozen ``State`` handed to
  the widgets (attributes down);
- ``actions.py``: the keys that move and choose (steps, units, views, settings);
- ``find.py``: breakpoints and the unit search; ``files.py``: export,
  screenshot, open a model;
- ``workers.py``: tracing a long input and scanning a long trace, off the
  UI's time;
- ``intervene.py``: patches, the source input, the Δ and diff modes;
  ``effects.py``: the effect map.

Widgets never import the app: they read the ``State`` and post the
messages of ``lstm_tui.widgets.messages`` (messages up), routed below.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import partial

import numpy as np
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import ContentSwitcher, Header, Input, Static

from ..core import compiled, tracing
from ..core.tracing import TraceBuilder
from ..core.errors import inert
from ..core.model import Model
from ..render.directions import layer_units
from ..render.panels import NOTATIONS
from ..settings import Settings
from ..core.trace import Trace
from ..widgets.effect_view import EffectView
from ..widgets.filters import skipping
from ..widgets.gradient_view import GradientView
from ..widgets.footer import KeysFooter
from ..widgets.history_view import HistoryView
from ..widgets.messages import StepChosen, UnitChosen
from ..widgets.prompt import TypedInput
from ..widgets.rich_lines import RichStatic
from ..widgets.stages_view import StagesView
from ..widgets.steps_view import StepsView
from ..widgets.token_strip import TokenStrip
from ..widgets.unit_view import UnitView
from ..widgets.units_view import UnitsView
from ..widgets.state import patched_here
from ..widgets.update import update
from ..widgets.watches import Watches
from .actions import Actions
from .effects import Effects
from .files import Files
from .find import Find
from .intervene import Intervene
from .state import PALETTES, SPEEDS, VIEWS, AppState, pin_fits
from .watching import Watching
from .workers import Workers

__all__ = ["LstmApp", "PALETTES", "SPEEDS", "VIEWS"]


class LstmApp(Intervene, Effects, AppState, Workers, Actions, Find, Files, Watching, App):
    """Step through a recurrent model's trace with the keyboard."""

    TITLE = "lstm-tui"
    # header, input, strip, status and footer; the unit view (5 to 7 as it wraps); 6 lines of the views (a row of
    # panels, or the history's key and a few units: at 80×24 a watch plot left the history one unit's row)
    ROWS_BESIDE_WATCHES = 18
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
        Binding("W", "watch_expression", "watch an expression (e.g. c[12]*o[12]): plotted at every step", show=False),
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
        Binding("6", "view('effects')", "view: effect map of a patch on every step and unit", show=False),
        Binding("v", "next_view", "view", key_display="v", tooltip="next view (1-6 pick one)"),
        Binding("a", "history_quantity", "history: next quantity", show=False),
        Binding("r", "history_scale", "history: each unit's own range / one shared scale", show=False),
        Binding("s", "search", "unit search: on in a step range, off outside", show=False),
        Binding("u", "next_result", "go to the next unit search result", show=False),
        Binding("x", "compare", "gradients: compare with RNN and GRU", show=False),
        Binding("T", "grad_target", "gradients: target top token / sum of h", show=False),
        Binding("w", "tokens", "char/word tokens", show=False),
        Binding("exclamation_mark", "set_patch", "set the selected unit at this step (a patch)", key_display="!",
                show=False),
        Binding("X", "patches", "patches: list, remove one or all", show=False),
        Binding("D", "compare_mode", "Δ patched − clean / diff source − main / off", show=False),
        Binding("I", "source", "type a source input (src values, diff mode)", show=False),
        Binding("E", "effect_map", "effect map: every step × unit's effect on log p(token at T)", show=False),
        Binding("enter", "effect_go", "effect map: go to the selected step and unit", show=False),
        Binding("o", "open_model", "open another model (a demo name or a weights file)", show=False),
        Binding("pagedown", "page(1)", "scroll panels down", show=False),
        Binding("pageup", "page(-1)", "scroll panels up", show=False),
        Binding("slash,i", "focus_input", "type", key_display="/ i"),
        Binding("escape", "leave_input", "leave the input line", show=False),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
    ]
    """Debugger keys as pdb and pudb users know them; one meaning each everywhere."""

    MIN_SIZE = (40, 12)  # below this the screen says it is too small
    SYNC_SECONDS = 0.1  # a trace estimated to take longer is computed in a worker, a chunk at a time
    YIELD_SECONDS = 0.3  # the worker pauses this long after each move of the step, unit or layer
    FULL_TRACE_BYTES = tracing.FULL_TRACE_BYTES  # a longer trace is kept as checkpoints
    WINDOW_SECONDS = 0.15  # views that need whole arrays read about this much of a long trace


    def notify(self, message: str, *, markup: bool = False, **options) -> None:
        """Textual's toast, without markup by default: messages quote what users typed (c[t] > 0, file names)."""
        super().notify(message, markup=markup, **options)

    def get_line_filters(self):
        """Textual's filters, with ANSI-to-RGB skipped on lines already in RGB (``widgets.filters``):
        the same lines, without a new segment for every heatmap cell at every step."""
        return skipping(super().get_line_filters())

    def __init__(
        self,
        model: Model,
        text: str = "",
        frames: np.ndarray | None = None,
        retokenize: Callable[[str], Model] | None = None,
        settings: Settings | None = None,
        source: Trace | None = None,
        source_text: str = "",
        warnings: tuple[str, ...] = (),
    ) -> None:
        """``warnings``: one line each, shown when the app opens (a settings file it could not read)."""
        super().__init__()
        self._init_state(model, text, frames, retokenize, settings)
        self._init_interventions(source, source_text)
        self._warnings = warnings
        self._warming: list[Callable[[], None]] = []  # what is left to draw of the steps around this one
        self._gc_thresholds = gc.get_threshold()  # the collector's settings to put back on the way out

    def _trace_builder(self, inputs) -> TraceBuilder:
        """The tracing worker's builder for ``inputs`` (made here, where a test swaps in a gated one)."""
        return TraceBuilder(self.model, inputs, self.FULL_TRACE_BYTES)

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header(icon="≋")
        yield TypedInput(
            value=self.text if self._text_fits_input() else "",
            placeholder=self._input_placeholder(),
            id="input",
            compact=True,
            disabled=self.frames is not None,
        )
        yield TokenStrip(id="strip")
        yield RichStatic("", id="status", markup=False)  # plain text, drawn by Rich
        with ContentSwitcher(initial="steps", id="views"):  # one of VIEWS, each with show(state)
            yield StepsView(id="steps")
            yield StagesView(id="stages")
            yield HistoryView(id="history")
            yield UnitsView(id="units")
            yield GradientView(id="gradients")
            yield EffectView(id="effects")
        # Under the views in the layout, not docked: docked widgets on one edge overlap (the
        # footer hid the unit view's bottom border, and the watches all of the unit view).
        yield Watches(id="watches")
        yield UnitView(id="unit")
        yield Static("", id="too-small")
        yield KeysFooter(show_command_palette=False)

    def format_title(self, title: str, sub_title: str) -> Content:
        """The header, "lstm-tui — model": no run of it opens with a space (an SVG viewer drops it)."""
        if not sub_title:
            return Content(title)
        return Content.assemble((f"{title} ", ""), (f"— {sub_title}", "dim"))

    def _text_fits_input(self, text: str | None = None) -> bool:
        """Whether the text (``text``, else the one on screen) can stand in the one-line input as it is (no
        control characters, not huge)."""
        text = self.text if text is None else text
        return self.frames is None and text.isprintable() and len(text) <= 10_000

    def _input_placeholder(self) -> str:
        if self.frames is not None:
            return "input is feature frames"
        if self.text and not self._text_fits_input():  # (each fits the line at 80 columns)
            why = "with line breaks or controls" if not self.text.isprintable() else "too long to edit here"
            return f"({len(self.text):,} characters {why}: / types a new sequence)"
        return "type a sequence, Enter to run"

    async def on_mount(self) -> None:
        self.sub_title = self.model.name
        # Looked up once: a query walks the DOM, and refresh_view runs on every key.
        self._strip, self._status = self.query_one(TokenStrip), self.query_one("#status", Static)
        self._unit_view, self._watches = self.query_one(UnitView), self.query_one(Watches)
        self._steps = self.query_one(StepsView)
        if self.settings is not None:
            if self.settings.theme in self.available_themes:
                self.theme = self.settings.theme
            if self.settings.notation in NOTATIONS:
                self.set_reactive(LstmApp.notation, self.settings.notation)
            if self.settings.palette in PALETTES:
                self.set_reactive(LstmApp.palette, self.settings.palette)
            self.watch(self, "theme", self._remember, init=False)
        await self._build_panels()
        self._steps.fit_columns(self.size.width)
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
        for warning in self._warnings:  # (the terminal line said before the app opened is hidden by its screen)
            self.notify(inert(warning), title="warning", severity="warning", timeout=12, markup=False)
        self._show_notes()
        if self._pending is not None:
            self._start_tracing(self._pending, self.text)
            self._pending = None

    def _show_notes(self) -> None:
        """The reader's notes on the model's file, one line each, for a while (? shows them again)."""
        if self.model.notes:
            text = "\n".join(inert(n) for n in self.model.notes)
            self.notify(text, title=f"notes on {inert(self.model.name)}", timeout=12, markup=False)

    def on_unmount(self) -> None:
        gc.set_threshold(*self._gc_thresholds)

    async def _build_panels(self) -> None:
        """(Re)create the panels that fit the trace's cell, and drop the watches that no longer fit."""
        tr = self.trace
        self.watched = [w for w in self.watched if pin_fits(tr, w)]
        await self._steps.build(tr, self.notation)

    def on_resize(self, event) -> None:
        steps = self.query_one(StepsView)
        steps.fit_columns(event.size.width)
        self._fit_timeline(event.size.height)
        self.call_after_refresh(lambda: steps.catch_up(self.state))  # the new layout may bring panels into view
        w, h = event.size
        small = w < self.MIN_SIZE[0] or h < self.MIN_SIZE[1]
        self.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Static).update(
                f"terminal too small: {w}×{h}\nneeds at least {self.MIN_SIZE[0]}×{self.MIN_SIZE[1]}"
            )

    def _fit_timeline(self, height: int) -> None:
        """The history under the panels, and the watches' lines, for a screen ``height`` tall."""
        if not hasattr(self, "_steps"):  # a resize before the screen is mounted
            return
        self._watches.fit(height - self.ROWS_BESIDE_WATCHES, height)
        units = max(layer_units(self.trace, n) for n in range(self.trace.num_layers))
        if self._steps.fit_timeline(height, units) and self.trace.steps:
            self.call_after_refresh(self.refresh_view)

    # -------------------------------------------------------- attributes down
    def refresh_view(self) -> None:
        """Push the current step's numbers into every widget."""
        self._warming = []  # (the steps around the last step shown: another view, or the steps around this one)
        state = self.state
        tr, k, layer = self.trace, self.k, self.layer
        if self.view in ("steps", "history"):  # a long trace's windows its text needs, on the other core meanwhile
            history = self._steps.timeline if self.view == "steps" else self.query_one("#history", HistoryView)
            history.prefetch(state)
        self._strip.show(tr.tokens, tr.unknown, k)
        update(self._status, self.status_line())
        if tr.steps == 0:  # every widget emptied, or saying what to do: nothing of the last sequence stays
            self._steps.show(state)
            self._unit_view.show(tr, layer, 0, self.unit)
            self._watches.show(tr, 0, self.watched, [tuple(w) for w in self.watch_exprs])
            if self.view != "steps":
                self.query_one(f"#{self.view}").show(state)
            return
        if self.view == "steps":
            self._steps.show(state)
        shown = self.patches and self.run_trace is self._patched  # the patched run is shown
        patched = patched_here(self.patches, layer, k, self.unit) if shown else []
        self._unit_view.show(self.run_trace, layer, k, self.unit, self.notation, self.model, patched)  # the run, not a Δ
        self._watches.show(tr, k, self.watched, [tuple(w) for w in self.watch_exprs])
        if self.view != "steps":
            self.query_one(f"#{self.view}").show(state)
        else:  # the next step's lines and the one before's, made while the app waits for a key
            self._warming = self._warm_list(k + 1) + self._warm_list(k - 1)
            if self._warming:
                self.call_after_refresh(self._warm_one, self._warming)

    def _warm_list(self, k: int) -> list:
        """What to draw of 0-based step k before a key asks for it, a call an item: the panels' heatmap
        lines, the token strip, the unit view (none where k's numbers are not at hand)."""
        panels = self._steps.warm(k)
        if not panels:
            return []
        shown = self.patches and self.run_trace is self._patched
        patched = patched_here(self.patches, self.layer, k, self.unit) if shown else []
        unit = partial(self._unit_view.warm, self.run_trace, self.layer, k, self.unit, self.notation, self.model, patched)
        return [*panels, partial(self._strip.warm, k), partial(self._steps.if_at_hand, k, unit)]

    def _warm_one(self, warming: list) -> None:
        """One panel's lines of a step next to this one (``refresh_view``), once its frame is drawn; the
        next panel's after any key that has come meanwhile. A later step's list replaces this one."""
        if warming is self._warming and warming:
            warming.pop(0)()
            self.call_later(self._warm_one, warming)

    @property
    def _panels(self) -> list:
        """The steps view's panels (tests look at them)."""
        return self._steps.panels

    @property
    def _stale_panels(self) -> set:
        """The steps view's panels off screen that still show an earlier step."""
        return self._steps.stale

    # ---------------------------------------------------------- messages up
    def on_step_chosen(self, message: StepChosen) -> None:
        if 0 <= message.k < self.steps:
            self.k = message.k

    def on_unit_chosen(self, message: UnitChosen) -> None:
        if 0 <= message.unit < layer_units(self.trace, self.layer):
            self.unit = message.unit

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value and self.text and not self._text_fits_input():
            # The line is empty because the text on screen cannot stand in it (its note says so): Enter
            # there keeps that text, as it reruns one the line holds, instead of dropping it for nothing.
            self.notify(f"kept the {len(self.text):,} characters on screen: type a sequence to replace them")
        else:
            self.run_text(event.value)
        self.set_focus(None)
