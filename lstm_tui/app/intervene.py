"""Interventions in the app: set a unit (!), the patch list (X), Δ and diff modes (D), a source input (I).

The app keeps the clean run of its input; patches go through
``core.interventions.intervene`` in a worker (recomputing from the first
patched step), and the patched run replaces the trace every view reads. The
Δ mode shows patched − clean, the diff mode source − main (no patch), both
on the diverging palette. The effect map (E, view 6) is in ``effects.py``.
"""

from __future__ import annotations

import dataclasses
import threading
from functools import partial

import numpy as np
from textual.message import Message

from ..core.checkpoint import CheckpointedTrace, bytes_per_step
from ..core.errors import UserError
from ..core.interventions import Patch, PatchSyntaxError, difference, nonfinite, parse_patch, prompt_patch
from ..core.patch_buffer import first_patched_step, intervene_into, spare_run
from ..core.tokenize import is_empty, label
from ..core.trace import Trace, run_of
from ..render.interventions import MODES, badge, patch_label
from ..widgets.patches_screen import PatchesScreen
from ..widgets.prompt import PromptScreen
from ..widgets.update import update


class PatchedRun(Message):
    """From the patching worker: the patched run (or why it failed); the clean run it patched is
    ``run_of(trace)[0]`` (core.trace), noted on it by intervene."""

    def __init__(self, gen: int, trace: Trace | None, error: str | None = None, since: int = 0, patches=()) -> None:
        super().__init__()
        self.gen, self.trace, self.error, self.since, self.patches = gen, trace, error, since, list(patches)


def _error_text(exc: Exception) -> str:
    """A refusal, with the text and a caret under the bad column when the parser found one."""
    return f"{exc}\n{exc.caret()}" if isinstance(exc, PatchSyntaxError) else str(exc)


def _any_nonfinite(trace: Trace, since: int) -> bool:
    """Whether the run holds NaN or ±inf from step ``since`` on (before it, it is the clean run)."""
    arrays = [trace.states[q][n][since:] for q in trace.states for n in range(trace.num_layers)]
    return not all(np.isfinite(a).all() for a in arrays) or (trace.y is not None and not np.isfinite(trace.y[since:]).all())


class Intervene:
    """Mixed into ``LstmApp``: patches, the source input and the difference modes."""

    def _init_interventions(self, source: Trace | None, source_text: str = "") -> None:
        self.patches: list[Patch] = []  # active, in the order set
        self.source = source  # the source input's clean run (where src values come from), or None
        self.source_text = source_text
        self._source_model = self.model  # the model the source was traced with
        self.compare_mode: str | None = None  # None, "delta" (patched − clean) or "diff" (source − main)
        self._clean: Trace | None = None  # the clean run while the trace shown is another
        self._patched: Trace | None = None  # the patched run of self.patches, once computed (of run_of's clean run)
        self._patch_gen = 0  # bumped by every change of the patches: older news is dropped
        self._clamped = (-1, -1)  # (the step, the last step of a shorter run shown): to go back to it from there
        self.patching = False  # a patched run is being computed
        self.nonfinite = ""  # where the patched run holds NaN or ±inf (outcomes.nonfinite, without each one's step)
        # A patched run off screen whose arrays the next one is written into (run, first patched
        # step), so that a change copies only the rows from the first patched step on; only while
        # it is one of the clean run on screen (run_of); the lock keeps two workers from writing into it at once.
        self._spare: tuple | None = None
        self._spare_ticket: object | None = None  # the open patch prompt's, for its copy worker
        self._spare_cancelled: object | None = None  # the ticket of a prompt closed without a patch
        self._spare_copied: tuple | None = None  # the spare the open prompt's worker copied
        self._patched_since = 0  # the first step where the patched run differs from the clean one
        self._patched_patches: list[Patch] = []  # the patches of the patched run
        self._replaced: tuple = (None, [])  # the last patch added and those it replaced (same place)
        self._patch_lock = threading.Lock()

    @property
    def clean(self) -> Trace | CheckpointedTrace:
        """The clean run of the input (the trace itself while nothing else is shown)."""
        return self._clean if self._clean is not None else self.trace

    @property
    def run_trace(self):
        """The run shown or behind the difference shown: the patched run, or the clean one."""
        if self.compare_mode == "diff":  # source − main is of the clean runs
            return self.clean
        return self.own_run

    @property
    def own_run(self):
        """The run on screen with any difference switched off: the patched run, or the clean one
        (what ``e`` exports)."""
        return self._patched if self.patches and self._patched is not None else self.clean

    # ------------------------------------------------------------ the state
    @property
    def state(self):
        st = super().state
        run = self._patched if self.patches and self._patched is not None and self.compare_mode != "diff" else None
        shown_run = run if run is not None else self.clean
        if self.compare_mode and self.view in ("stages", "gradients"):  # these read a run, not a difference
            st = dataclasses.replace(st, trace=shown_run)
        before, after = (self.clean, run) if run is not None else (None, None)
        if self.compare_mode == "diff" and self.source is not None:  # the output: main → source
            before, after = self.clean, self.source
        return dataclasses.replace(
            st, mode=self.compare_mode if st.trace is self.trace else None, before=before, after=after,
            patches=tuple(self._patched_patches) if run is not None else (), source=self.source,
            effect=getattr(self, "effect_shown", None),
        )

    def status_line(self) -> str:
        mark = badge(len(self.patches), self.compare_mode, bool(self.nonfinite))
        note = "  recomputing…" if self.patching else ""
        line = super().status_line()
        if self.nonfinite:  # after the step and token, which a narrow screen must not lose to it
            line += f"  {self.nonfinite}"
        return f"{mark}{note}  {line}" if mark or note else line

    def set_trace(self, trace) -> None:
        """A new input: its clean run, with no patches and no difference shown."""
        had = bool(self.patches)
        self.patches.clear()
        self.compare_mode, self._clean, self._patched, self.nonfinite = None, None, None, ""
        self._clamped = (-1, -1)
        self._spare = self._spare_copied = self._spare_ticket = None  # the arrays of another input's runs
        self._patch_gen += 1
        self.patching = False
        self.sub_title = self.model.name
        super().set_trace(trace)
        if had:
            self.notify("a new input: the patches were cleared")
        if self.source is not None and self.model is not self._source_model:  # another model (o, w)
            self._retrace_source()

    def _retrace_source(self) -> None:
        """The source input run through the model now open (dropped if it cannot be)."""
        source = None
        if self.source_text and self.frames is None:
            try:
                source = self.model.trace(self.source_text)
            except UserError:
                source = None
        self.source, self._source_model = source, self.model
        if source is None:
            self.notify("the source input does not fit this model: I types another", severity="warning")

    # ------------------------------------------------------------- the keys
    def _can_patch(self) -> bool:
        return bool(self.steps) and self._whole_run("patch", "patches need")

    def _whole_run(self, verb: str, needs: str) -> bool:
        """Whether the clean run is whole: traced to the end, in whole arrays, as a patch or a difference
        needs it; else it is said why, with ``verb`` (patch) and ``needs`` (patches need). (A source is
        always traced whole, with model.trace.)"""
        if isinstance(self.clean, CheckpointedTrace):  # first: one being traced as checkpoints is refused now
            steps = self.clean.steps if self.tracing is None else self.tracing[1]
            most = self.FULL_TRACE_BYTES // bytes_per_step(self.model)  # what a whole trace may hold of this model
            self.notify(f"this sequence ({steps:,} steps) is kept as checkpoints (it is long): {needs} inputs "
                        f"of at most {most:,} steps for this model", severity="error")
            return False
        if self.tracing is not None:  # the next steps traced would replace what is shown
            self.notify(f"the input is still being traced: {verb} it once it is done", severity="warning")
            return False
        return True

    def action_set_patch(self) -> None:
        """Ask for a value for the selected unit of the history's quantity at this step."""
        if not self._can_patch():
            return
        q, layer = self.history_quantity, self.layer
        unit = min(self.unit, self.clean.width(q, layer) - 1)
        now = float(self.clean.states[q][layer][self.k][unit])
        title = f"set {q}[{unit}] of layer {layer + 1} at t = {self.k + 1} (now {now:+.4f})"
        hint = (
            "a number or src (at this step), or V @ steps: 0   src   0 @ 5-9   2.5 @ *   "
            "or a whole patch as on the command line: L1:c[3]=0@5.   "
            f"The quantity is the history view's ({q}; a: next); src needs a source (I)."
        )
        self.push_screen(PromptScreen(title, hint, self.refused.pop("!", "")), partial(self._add_patch, q, layer, unit, self.k))
        self._prepare_spare()

    def _prepare_spare(self) -> None:
        """While a patch's value is typed and no spare run is kept (the first patch, or the second
        while the first's run is on screen): the arrays its run is written into, copied in a worker
        (about 230 MB at H = 1024, T = 4,000; the run waits for the copy, never makes a second)."""
        if self._spare is not None:
            return  # a run to write into is there
        clean, model = self.clean, self.model
        ticket = self._spare_ticket = object()

        def copy() -> None:
            with self._patch_lock:
                if self._spare is None and self._spare_cancelled is not ticket:
                    spare = spare_run(model, clean)
                    if spare is not None and clean is self.clean:  # still the input on screen
                        entry = self._spare = (spare, clean.steps)
                        if self._spare_ticket is ticket:  # the prompt is open: its to drop if it closes
                            self._spare_copied = entry
                        if self._spare_cancelled is ticket:  # it closed without a patch while this copied
                            self._forget_copy(entry)

        self.run_worker(copy, name="spare", group="spare", thread=True, exit_on_error=False)

    def _forget_copy(self, copied: tuple | None = None) -> None:
        """A patch prompt closed without a patch (cancelled, empty or refused): the run its worker
        copied is not kept for a patch that may never come (about 230 MB at H = 1024, T = 4,000);
        a spare kept from before stays. The cancel is said before the copy is looked at, and the
        worker looks at the cancel after storing its copy: one of the two always drops it."""
        if copied is None:  # the prompt closed (else its worker found it closed)
            self._spare_cancelled = self._spare_ticket
            self._spare_ticket = None
            copied = self._spare_copied
        if copied is not None and self._spare_copied is copied:
            self._spare_copied = None
        if copied is not None and self._spare is copied:
            self._spare = None

    def _add_patch(self, q: str, layer: int, unit: int, k: int, text: str | None) -> None:
        if text is None or not text.strip():
            self._forget_copy()
            return
        src = None if self.source is None else self.source.steps
        try:
            if "[" in text:
                p = parse_patch(text.strip(), self.model, self.clean.steps, src, option="patch")
            else:
                p = prompt_patch(text, self.model, layer, q, unit, k, self.clean.steps, src)
        except PatchSyntaxError as exc:
            self.notify(_error_text(exc), severity="error", timeout=8)
            self.refused["!"] = text  # ! offers it again, to mend
            self._forget_copy()
            return
        where = (p.layer, p.quantity, p.unit, p.steps)
        same = [old for old in self.patches if (old.layer, old.quantity, old.unit, old.steps) == where]
        for old in same:  # the same place set again: the new value replaces the old, not both kept
            self.patches.remove(old)
        if same:
            self.notify(f"replaces {same[0]}")
        self._replaced = (p, same)  # given back if p's run fails
        self.patches.append(p)
        self._spare_ticket = self._spare_copied = None  # the copy (made or under way) is the patch's run's
        self._recompute()

    def action_patches(self) -> None:
        self.push_screen(PatchesScreen([patch_label(p) for p in self.patches]))

    def on_patches_screen_removed(self, message: PatchesScreen.Removed) -> None:
        if message.index is None:
            self.patches.clear()
        elif 0 <= message.index < len(self.patches):
            del self.patches[message.index]
        self._recompute()

    def action_compare_mode(self) -> None:
        """Cycle the difference shown: Δ patched − clean (with patches), diff source − main (with a source), off."""
        modes = [None] + (["delta"] if self.patches else []) + (["diff"] if self.source is not None else [])
        if len(modes) == 1:
            self.notify("Δ needs a patch (!), diff needs a source input (I, or --source-text)", severity="warning")
            return
        at = modes.index(self.compare_mode) if self.compare_mode in modes else 0
        mode = modes[(at + 1) % len(modes)]
        if mode == "diff" and not self._whole_run("diff", "the diff mode (D) needs"):
            mode = None  # the last mode: on to the run itself
            if self.compare_mode is None:
                return
        self.compare_mode = mode
        self.notify(MODES.get(self.compare_mode, "the run itself"))
        self._show_run()

    def action_source(self) -> None:
        """Type a source input: the run that src values are copied from, and the diff mode's other side."""
        if self.frames is not None:
            self.notify("this model reads feature frames: give the source with --source-inputs", severity="warning")
            return
        self.push_screen(
            PromptScreen("source input", "a second input, Enter to run it; src values and the diff mode (D) read it",
                         self.source_text),
            self._set_source,
        )

    def _set_source(self, text: str | None) -> None:
        if text is None:
            return
        if is_empty(text, self.model.tokenizer):  # as the command line refuses it: no run to copy from or diff
            self.notify(f"the source has no {label(self.model.tokenizer)} tokens: type a sequence", severity="error")
            return
        try:
            source = self.model.trace(text)
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self.source, self.source_text, self._source_model = source, text, self.model
        self.notify(f"source: {source.steps} steps")
        self._recompute()

    def action_leave_input(self) -> None:
        """Esc also stops the effect map's exact rows."""
        self._stop_effect()
        super().action_leave_input()

    # ------------------------------------------------------- the patched run
    def _recompute(self) -> None:
        """Run the patches in a worker (the screen stays live); with none, show the clean run."""
        self._patch_gen += 1
        if self.compare_mode == "diff" and self.source is None or self.compare_mode == "delta" and not self.patches:
            self.compare_mode = None
        if not self.patches:
            old = self._patched
            self._patched, self.nonfinite, self.patching = None, "", False
            self._show_run()
            self._give_back(old, self._patched_since)
            return
        self.patching = True
        update(self._status, self.status_line())
        base = None  # the run on screen: the new one starts from it, before the first patch that differs
        if self._patched is not None:  # (intervene_into reads it only if it is a run of this clean run)
            base = (self._patched, self._patched_patches, self._patched_since)
        self.run_worker(
            partial(self._patch_in_thread, self.clean, list(self.patches), self.source, self._patch_gen, base),
            name="patch", group="patch", exclusive=True, thread=True, exit_on_error=False,
        )

    def _patch_in_thread(self, clean: Trace, patches: list[Patch], source: Trace | None, gen: int, base) -> None:
        with self._patch_lock:
            spare, self._spare = self._spare, None
            if self._spare_copied is spare:
                self._spare_copied = None
            into, since = spare if spare is not None else (None, clean.steps)  # (used only if a run of clean)
            kw = {} if base is None else {"base": base[0], "base_patches": base[1], "base_since": base[2]}
            try:
                trace = intervene_into(self.model, clean, patches, source, into, since, **kw)
            except UserError as exc:
                self._spare = spare
                self.post_message(PatchedRun(gen, None, str(exc)))
                return
        since = first_patched_step(self.model, clean, patches)
        self.post_message(PatchedRun(gen, trace, since=since, patches=patches))

    def _give_back(self, trace: Trace | None, since: int) -> None:
        """A patched run no longer on screen: its arrays hold the next one. Only while it is a run of
        the input's clean run (``run_of``; never the clean run itself): a run of an input replaced since
        (same shapes, other numbers) would lend the next run its rows before the first patched step.
        Never the run on screen: with the patches unchanged, the new run is the one before it
        (intervene_into's base)."""
        if trace is not None and trace is not self._patched and run_of(trace)[0] is self.clean:
            self._spare = (trace, since)

    def on_patched_run(self, message: PatchedRun) -> None:
        if message.gen != self._patch_gen:
            self._give_back(message.trace, message.since)
            return  # the patches (or the input) changed since
        self.patching = False
        if message.error:
            failed = self.patches.pop()
            p, same = self._replaced
            if failed is p:  # the patches it replaced hold again
                self.patches.extend(same)
            self.notify(message.error, severity="error", timeout=8)
            self._recompute()
            return
        old, old_since = self._patched, self._patched_since
        self._patched, self._patched_since, self._patched_patches = message.trace, message.since, message.patches
        self.nonfinite = ""
        if _any_nonfinite(message.trace, message.since):  # the toast says what the command line says, in one line
            where = nonfinite(message.trace)
            self.nonfinite = where.split(" (")[0]  # the status line's: without each one's first step
            self.notify(f"after the patches, {where}", severity="warning")
        self._show_run()
        self._give_back(old, old_since)  # off screen now

    def difference_sides(self) -> tuple | None:
        """The two runs whose difference is on screen, (after, before), or None when a run is shown."""
        if self.compare_mode == "delta" and self.patches:
            return self.own_run, self.clean
        if self.compare_mode == "diff" and self.source is not None:
            return self.source, self.clean
        return None

    def _show_run(self) -> None:
        """Put the run the patches and mode ask for on screen, staying at the same step."""
        clean, sides = self.clean, self.difference_sides()
        shown = self.own_run if sides is None else difference(*sides)
        if self.compare_mode == "diff" and sides is not None:  # source − main, on the main input's tokens
            shown = dataclasses.replace(shown, tokens=clean.tokens[: shown.steps], unknown=clean.unknown[: shown.steps],
                                        ids=None if clean.ids is None else clean.ids[: shown.steps])
        self._clean = None if shown is clean else clean
        self.trace = shown
        self.sub_title = f"{self.model.name} · {badge(len(self.patches), self.compare_mode)}" if self._clean is not None \
            else self.model.name
        was, clamped_to = self._clamped
        if shown.steps and self.k >= shown.steps:  # a shorter difference (diff on a shorter source): its last step
            self._clamped = (self.k, shown.steps - 1)
            self.set_reactive(type(self).k, shown.steps - 1)
        elif self.k == clamped_to and was < shown.steps:  # back from it, not moved since: the step it left
            self._clamped = (-1, -1)
            self.set_reactive(type(self).k, was)
        if self.watch_exprs:  # the watched expressions, of the run now shown
            self._compute_watches()
        self.refresh_view()
