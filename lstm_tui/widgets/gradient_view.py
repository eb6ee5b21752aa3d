"""The gradient view: how far back the target at step t reaches, and the other cells compared."""

from __future__ import annotations

import numpy as np
from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..core.checkpoint import CheckpointedTrace, step_seconds
from ..core.errors import UserError
from ..core.gradients import compare_cells, gradient_norms
from ..core.interventions import intervene
from ..render.gradients import CELL_NAMES, norms_table, saliency_text
from .state import State


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
        )
        if patches:  # the patched run's gradients: the same patches on the float64 run
            t64 = intervene(m64, t64, patches, source)
        self._cache = (model, trace, m64, t64)
        return m64, t64

    def compose(self) -> ComposeResult:
        yield Static(id="grad-body")

    def show(self, state: State) -> None:
        tr = state.trace
        body = self.query_one("#grad-body", Static)
        if tr.steps == 0:
            body.update("empty sequence")
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
        try:
            model, tr = self._float64(state.model, tr, state.patches if tr is state.after else (), state.source)
            g = gradient_norms(model, tr, state.grad_target, k)
            rows = {f"hᵗ' layer {n + 1}" if tr.num_layers > 1 else "hᵗ'": g["h"][n] for n in range(tr.num_layers)}
            if g["c"] is not None:
                rows["cᵗ' (last layer)"] = g["c"][-1]
            rows["xᵗ' (saliency)"] = g["x"]
            parts = [
                Text.assemble(("target: ", "bold"), g["target"], f" = {g['value']:+.4f}   (T: switch target)\n"),
                *([note] if note else []),
                norms_table(rows, width),
                Text("\nsaliency ‖dL/dxᵗ'‖ of each token up to t:", style="bold"),
                saliency_text(tr.tokens, g["x"], state.palette),
            ]
            if state.grad_compare:
                start = max(0, k + 1 - self.COMPARE_STEPS)  # the other cells run on the steps up to t only
                cmp = compare_cells(model, tr.window(start, k + 1), seed=0)
                others = ", ".join(CELL_NAMES[c] for c in cmp if c != tr.cell)
                parts += [
                    Text(
                        f"\ncompare with {others}: ‖dL/dhᵗ'‖ for L = Σ hᵗ of the last layer at t, same hidden size and "
                        "inputs; the other cells untrained (PyTorch's default initialisation)"
                        + (f"; the last {k + 1 - start} steps" if start else ""),
                        style="bold",
                    ),
                    norms_table({CELL_NAMES[c]: v for c, v in cmp.items()}, width),
                ]
            else:
                parts.append(Text("\nx: compare with the other cells (LSTM, GRU, RNN) of the same size", style="dim"))
            body.update(Group(*parts))
        except UserError as exc:
            body.update(Text(str(exc), style="red"))
