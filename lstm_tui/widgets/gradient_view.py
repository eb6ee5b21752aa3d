"""The gradient view: how far back the target at step t reaches, and the other cells compared."""

from __future__ import annotations

import dataclasses

import numpy as np
from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..core.checkpoint import CheckpointedTrace, step_seconds
from ..core.errors import UserError
from ..core.gradients import compare_cells, compare_label, compare_models, target_gradients
from ..core.interventions import intervene
from ..render import plots
from ..render.gradients import CELL_NAMES, direction_norms, norms_table, saliency_text
from .figure import Figure
from .state import State


LATER = (
    "a backward direction reads the steps after t first, so they reach the target too: the lines run to T "
    "(← backward rows carry it; in the last layer → forward rows stop at t)."
)


class GradientView(VerticalScroll, can_focus=False):
    """How far back the target at step t reaches: ‖dL/dhᵗ'‖, ‖dL/dcᵗ'‖, saliency of each token.

    Gradients are computed in float64: in float32 a vanishing gradient
    underflows to exactly 0 after a hundred steps or so, which hides how small it is.
    """

    COMPARE_STEPS = 512  # the comparison reruns three cells: it looks at most this far back

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cache: tuple = (None, None, None, None)  # (model, trace, model64, trace64)

    def _float64(self, model, trace, patches=(), source=None):
        """The model and trace in float64 (with the patches applied), recomputed only when either changes."""
        if self._cache[0] is model and self._cache[1] is trace:
            return self._cache[2], self._cache[3]
        m64 = model.astype("float64")
        t64 = m64.trace_vectors(
            np.asarray(trace.x, dtype=np.float64), trace.tokens, trace.ids, trace.unknown,
            trace.h0, trace.c0,  # per layer; trace_vectors converts them
            pool=trace.pool,  # a pooling head's pool of the steps before a window of a long run
        )
        if patches:  # the patched run's gradients: the same patches on the float64 run
            t64 = intervene(m64, t64, patches, source)
        if t64.offset != trace.offset:  # a window of a long run keeps its place: the target's step is named by it
            t64 = dataclasses.replace(t64, offset=trace.offset)
        self._cache = (model, trace, m64, t64)
        return m64, t64

    DEFAULT_CSS = """
    GradientView Figure { height: 14; }
    GradientView #grad-compare { display: none; }
    GradientView.-compare #grad-compare { display: block; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="grad-head")
        if plots.available():
            yield Figure(id="grad-plot")
            yield Figure(id="grad-compare")
        yield Static(id="grad-body")

    def show(self, state: State) -> None:
        tr = state.trace
        head, body = self.query_one("#grad-head", Static), self.query_one("#grad-body", Static)
        drawn = plots.available()
        if tr.steps == 0:
            head.update("empty sequence")
            body.update("")
            return
        width = max(8, (self.content_region.width or 80) - 36)
        k, note = state.k, None
        if isinstance(tr, CheckpointedTrace):  # the window of steps ending at t
            n = min(state.k + 1, max(32, min(1024, int(state.window_seconds / (3 * step_seconds(state.model))))))
            tr, k = tr.window(state.k + 1 - n, state.k + 1, keep=False), n - 1
            note = Text(
                f"(a long trace: steps {tr.offset + 1:,}-{state.k + 1:,}, the {n:,} up to t, from the state before them)\n",
                style="dim",
            )
        first = tr.offset + 1  # the step number of the window's first step
        try:
            model, tr = self._float64(state.model, tr, state.patches if tr is state.after else (), state.source)
            with np.errstate(all="ignore"):  # a patched run past float's range: its title says "not finite"
                value, label, grads = target_gradients(model, tr, state.grad_target, k)
                # one row per direction of a layer that reads backwards (→ forward, ← backward)
                rows = direction_norms(grads.h, grads.c, [tr.reverse_flags(n) for n in range(tr.num_layers)])
                saliency = np.linalg.norm(grads.x, axis=-1)  # (n,) ‖dL/dxᵗ'‖
            later = len(saliency) > k + 1  # a backward direction: the steps after t reach the target too
            head.update(
                Text.assemble(
                    ("target: ", "bold"), label,
                    f" = {value:+.4f}   " + ("(T: switch target)" if tr.has_head else "(no output head: the one target)"),
                    *(("\n", note) if note else ()),
                    *(("\n", (LATER, "dim")) if later else ()),
                )
            )
            parts = []
            if drawn:
                key = ("norms", id(tr), k, state.grad_target, state.layer)
                title = "‖dL/d·ᵗ'‖ against the step t'"
                if later:
                    title += f" = 1 … T (target at t = {first + k}, the vertical line)"
                self.query_one("#grad-plot", Figure).show(
                    key, lambda w, h: plots.gradient_figure(rows, w, h, title, first, first + k if later else None)
                )
            else:
                parts += [norms_table({**rows, "xᵗ' (saliency)": saliency}, width, k), Text(plots.MISSING, style="dim")]
            parts += [
                Text(
                    "\nsaliency ‖dL/dxᵗ'‖ of each token "
                    + ("1..T (the backward direction reads past t):" if later else "up to t:"),
                    style="bold",
                ),
                saliency_text(tr.tokens, saliency, state.palette, k, gap=state.spaced),
            ]
            cmp = None
            if state.grad_compare:
                start = max(0, k + 1 - self.COMPARE_STEPS)  # the other cells run on the steps up to t only
                peers = compare_models(model)  # the demos of the model's task in the other cells, trained
                cmp = compare_cells(model, tr.window(start, k + 1), seed=0, models=peers)
                others = ", ".join(CELL_NAMES[c] for c in cmp if c != tr.cell)
                caption = (
                    f"compare with {compare_label(model, peers)}: ‖dL/dhᵗ'‖ for L = Σ hᵗ of the last layer at t, "
                    "on the same tokens" if peers else
                    f"compare with {others}: ‖dL/dhᵗ'‖ for L = Σ hᵗ of the last layer at t, same hidden size and "
                    "inputs; the other cells untrained (PyTorch's default initialisation)"
                ) + (f"; the last {k + 1 - start} steps" if start else "")
                if later:
                    caption += "; all on steps up to t, so this model's backward direction starts at t"
                series = {CELL_NAMES[c]: v for c, v in cmp.items()}
                if drawn:
                    key = ("compare", id(tr), k)
                    self.query_one("#grad-compare", Figure).show(
                        key, lambda w, h: plots.gradient_figure(series, w, h, "compare: ‖dL/dhᵗ'‖, L = Σ hᵗ", first + start)
                    )
                    parts.append(Text("\n" + caption, style="bold"))
                else:
                    parts += [Text("\n" + caption, style="bold"), norms_table(series, width, k)]
            else:
                parts.append(Text("\nx: compare with the other cells (LSTM, GRU, RNN) of the same size", style="dim"))
            self.set_class(cmp is not None and drawn, "-compare")
            body.update(Group(*parts))
        except UserError as exc:
            body.update(Text(str(exc), style="red"))
