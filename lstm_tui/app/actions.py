"""The keys that move and choose: steps, units, layers, views, settings, watches, help.

Each ``action_*`` is named by a binding in ``LstmApp.BINDINGS``; most only
set a reactive of :mod:`.state`, whose watcher shows the change.
"""

from __future__ import annotations

from functools import partial

from textual.app import SystemCommand
from textual.widgets import Input

from ..core.errors import clip, inert, whole_number
from ..core.labels import find_token
from ..core.tokenize import label
from ..render.directions import layer_units, value_index
from ..render.panels import NOTATIONS
from ..render.text import token_label
from ..widgets.help_screen import HelpScreen
from ..widgets.prompt import PromptScreen
from .state import PALETTES, SPEEDS, VIEWS


class Actions:
    """Mixed into ``LstmApp``: what the stepping, selecting and settings keys do."""

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
        if self.trace.num_layers == 1:
            self.notify("this model has one layer")
            return
        layer = (self.layer + delta) % self.trace.num_layers
        self.set_reactive(type(self).unit, min(self.unit, layer_units(self.trace, layer) - 1))  # layers may differ in width
        self.layer = layer

    def action_view(self, view: str) -> None:
        self.view = view

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]

    def action_history_quantity(self) -> None:
        qs = self.trace.quantities
        self.history_quantity = qs[(qs.index(self.history_quantity) + 1) % len(qs)] if self.history_quantity in qs else qs[0]
        self._show_view("history")

    def action_history_scale(self) -> None:
        """Colour the history by each unit's own range, or by one scale shared by all units."""
        self.history_scale = "shared" if self.history_scale == "unit" else "unit"
        if self.view == "steps" and self._steps.timeline.display:
            self.refresh_view()  # the history under the panels shows it
        else:
            self._show_view("history")

    def action_compare(self) -> None:
        self.grad_compare = not self.grad_compare
        self._show_view("gradients")

    def action_grad_target(self) -> None:
        if not self.trace.has_head:  # Σ h is its one target: T would switch to the same
            self.notify("this model has no output head: Σ h of the last layer is the one gradient target")
        else:
            self.grad_target = None if self.grad_target == "sum-h" else "sum-h"
        self._show_view("gradients")

    def _show_view(self, view: str) -> None:
        """Switch to ``view`` (which draws it) or, if it is on screen, draw it again."""
        if self.view == view:
            self.refresh_view()
        else:
            self.view = view

    def action_palette(self) -> None:
        self.palette = PALETTES[(PALETTES.index(self.palette) + 1) % len(PALETTES)]
        self.notify(f"palette: {self.palette}")

    def action_numbers(self) -> None:
        self.numbers = not self.numbers

    def action_notation(self) -> None:
        order = list(NOTATIONS)  # the table's notations, in its order
        self.notation = order[(order.index(self.notation) + 1) % len(order)]
        self.notify(f"notation: {self.notation}")

    def action_watch(self) -> None:
        """Pin the selected unit of the history view's quantity (c at first) in this layer, or unpin it."""
        q = self.history_quantity
        pin = (q, self.layer, value_index(self.trace, q, self.layer, self.unit))  # a projected h: the unit's direction
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
            so_far = "" if self.tracing is None or direction < 0 else (
                f" in the {self.steps:,} steps traced so far (of {self.tracing[1]:,})")
            self.notify(f"no {'later' if direction > 0 else 'earlier'} {token_label(self.trace.tokens[self.k])!r}{so_far}")
        else:
            self.k = k

    def action_goto(self) -> None:
        if not self.steps:
            return

        def answer(text: str | None) -> None:
            if not text:
                return
            text = text.strip() or text[:1]  # only blanks: the blank token (a space is one in a character model)
            if text.isascii() and text.isdigit():  # (² is a digit to str.isdigit, not to int)
                t = whole_number(text)  # (5,000 digits: out of range, not int()'s ValueError)
                if not 1 <= t <= self.steps:
                    if self.tracing is not None and self.steps < t <= self.tracing[1]:  # there, but not yet traced
                        self.notify(f"step {t:,} is not traced yet ({self.steps:,} of {self.tracing[1]:,} steps so "
                                    "far): g again once it is", severity="warning")
                    else:
                        last = self.steps if self.tracing is None else self.tracing[1]
                        self.notify(f"step {t} is outside 1..{last}", severity="error")
                    return
                self.k = t - 1
                return
            k = find_token(self.trace.tokens, text, self.k, 1, wrap=True)
            if k is None:
                shown = clip(token_label(text))  # a pasted page is not said back whole
                where = "the sequence" if self.tracing is None else (
                    f"the {self.steps:,} steps traced so far (of {self.tracing[1]:,})")
                self.notify(f"token {shown!r} is not in {where}", severity="error")
                return
            if k == self.k:
                self.notify(f"no other {token_label(text)!r} in the sequence")
            elif k < self.k:
                self.notify(f"no later {token_label(text)!r}: went round to step {k + 1}")
            self.k = k

        hint = f"a step number 1..{self.steps}, or a token to find after the current step"
        self.push_screen(PromptScreen("go to", hint), answer)

    def action_page(self, direction: int) -> None:
        main = self.query_one(f"#{self.view}")
        main.scroll_page_down() if direction > 0 else main.scroll_page_up()

    def action_tokens(self) -> None:
        """Switch the built-in model between character and word tokens."""
        if self.retokenize is None or self.frames is not None:
            self.notify(f"this model's vocabulary is fixed: {label(self.model.tokenizer)} tokens", severity="warning")
            return
        self.model = self.retokenize("word" if self.model.tokenizer == "char" else "char")
        self.notify(f"{self.model.tokenizer} tokens")
        self.run_text(self.text)

    def action_focus_input(self) -> None:
        if self.frames is None:
            self.query_one("#input", Input).focus()

    def action_leave_input(self) -> None:
        """Esc: leave the input line; from it, with the sequence on screen back in it (as a browser's address
        bar gives back the page's address), not a text that was never run."""
        line = self.query_one("#input", Input)
        if self.focused is line:  # (while a text is traced, that text: the one on screen may not be it yet)
            text = self._traced_text if self.tracing is not None else self.text
            line.value = text if self._text_fits_input(text) else ""
        self.set_focus(None)

    def action_help_quit(self) -> None:
        """ctrl+c: how to quit, as plain text (Textual's own notice is markup, which this app's toasts show as typed)."""
        self.notify("press q to quit (or ctrl+q)", title="Do you want to quit?")

    def action_help(self) -> None:
        about = f"model: {self.model.name}: {self.model.description}\n" if self.model.description else ""
        about += "".join(f"note: {inert(n)}\n" for n in self.model.notes)
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
