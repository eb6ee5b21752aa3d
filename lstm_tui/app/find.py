"""Finding steps and units: breakpoints (b, B, c, C) and the unit search (s, u)."""

from __future__ import annotations

from ..core import explain
from ..core.blocks import examples_for
from ..core.breakpoints import compile_breakpoint, find_next, names_for
from ..core.checkpoint import CheckpointedTrace
from ..core.errors import InputError, UserError
from ..render.directions import unit_row
from ..widgets.breakpoints_screen import BreakpointsScreen
from ..widgets.prompt import PromptScreen
from .watching import error_text


class Find:
    """Mixed into ``LstmApp``: the keys that look for a step or a unit."""

    def action_add_breakpoint(self) -> None:
        cell, head = self.trace.cell, self.trace.has_head
        hint = (
            f"a condition on this step's numbers, e.g.  {'   '.join(examples_for(cell, head))}.  Names: "
            + ", ".join(names_for(cell, head))
        )
        self.push_screen(PromptScreen("add a breakpoint", hint, self.refused.pop("b", "")), self._add_breakpoint)

    def _add_breakpoint(self, text: str | None) -> None:
        if text is None or not text.strip():
            return
        try:
            bp = compile_breakpoint(text, self.trace.cell, self.trace.has_head)
            if self.steps:
                tr, j = self._around(self.k)
                bp.test(tr, self.layer, j, vocab=self.model.vocab)  # fail now, not at c
        except InputError as exc:
            self.notify(error_text(exc), severity="error", timeout=8)
            self.refused["b"] = text  # b offers it again, to mend
            return
        self.breakpoints.append(bp)
        self.notify(f"breakpoint {bp.text}: c continues to the next step where it holds")

    def action_breakpoints(self) -> None:
        self.push_screen(BreakpointsScreen(self.breakpoints))

    def on_breakpoints_screen_toggled(self, message: BreakpointsScreen.Toggled) -> None:
        self.breakpoints[message.index].enabled = message.enabled

    def on_breakpoints_screen_deleted(self, message: BreakpointsScreen.Deleted) -> None:
        del self.breakpoints[message.index]

    def action_continue(self, direction: int) -> None:
        """Go to the nearest later (or earlier) step where an enabled breakpoint holds."""
        if self._stop_scan():
            self.notify("breakpoint scan stopped")
            return
        if not any(bp.enabled for bp in self.breakpoints):
            n = len(self.breakpoints)  # all of them turned off in B: say how to turn one on
            again = f"{n} turned off (B lists them, space turns one on); b adds one" if n else "press b to add one"
            self.notify(f"no breakpoints enabled: {again}", severity="warning")
            return
        if not self.steps:
            return
        self.playing = False
        # A long scan recomputes windows: not on the UI's time. An input still being traced: the scan
        # goes on over the steps still to come, which only a worker can wait for.
        if isinstance(self.trace, CheckpointedTrace) or self.tracing is not None:
            self._start_scan(direction)
            return
        try:
            k = find_next(self.trace, self.breakpoints, self.layer, self.k, direction, vocab=self.model.vocab)
        except InputError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self._arrive(k, direction, self.k, self.layer, [bp for bp in self.breakpoints if bp.enabled])

    def _arrive(self, k: int | None, direction: int, origin: int, layer: int, bps: list) -> None:
        """Go to the step a breakpoint scan of ``layer`` from step ``origin`` found, saying which of the
        conditions it looked for (``bps``) hold there (the user may have moved, or added, enabled or
        deleted breakpoints, while a long scan ran)."""
        if k is None:
            self.bell()
            self.notify(f"no breakpoint holds {'after' if direction > 0 else 'before'} t = {origin + 1}")
            return
        tr, j = self._around(k)
        hit = []
        for bp in bps:
            try:
                if bp.test(tr, layer, j, self.model.vocab):
                    hit.append(bp.text)
            except InputError:  # the scan found it holds here; another may fail here (never the app's end)
                pass
        self.layer, self.k = layer, k  # the layer it holds in, had the user moved on
        self.notify(f"t = {k + 1}: {' | '.join(hit)}")

    def action_search(self) -> None:
        if not self.steps:
            return
        q = self.trace.memory_quantity
        hint = (
            f"steps START-END (1..{self.steps}), then > THRESHOLD, then optionally the quantity "
            f"({', '.join(self.trace.quantities)}; default {q}) and 'abs' to compare |value|. "
            "Finds the units above the threshold inside the range and below it outside."
        )
        ask = self.refused.pop("s", f"{self.k + 1}-{self.k + 1} > 0.5 {q}")
        self.push_screen(PromptScreen("unit search", hint, ask), self._search)

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
            elif self.tracing is not None:  # the steps still to come are not compared: said, as above
                outside = f", outside: the {self.steps:,} steps traced so far"
            results = explain.unit_search(tr, q, self.layer, start - lo, stop - lo, threshold, absolute=absolute)
            results = [(unit_row(tr, q, self.layer, u), score) for u, score in results]  # a projected h's rows
        except UserError as exc:
            self.notify(str(exc), severity="error")
            self.refused["s"] = text
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
