"""The gradient view: how far back the target at step t reaches, and the other cells compared.

The numbers come from ``render.gradient_flow.compute``: at once for a short
full trace, in a worker thread for a long one (a new step, target or compare
supersedes the request under way). The view draws only the picture of the
request that matches the state it was last handed; while one is computed it
keeps the last picture of the same run dimmed, its first line saying which
step is coming (or says "computing…" alone for another run).
"""

from __future__ import annotations

import threading
import time
from functools import partial

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from ..core.blas import one_blas_thread
from ..core.errors import UserError
from ..render import plots
from ..render.gradient_flow import Cancelled, GradientPicture, GradientRequest, compute, estimate_seconds
from ..render.gradients import norms_table, saliency_text
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

    SYNC_SECONDS = 0.05  # a picture estimated to take longer is computed in a worker
    SETTLE_SECONDS = 0.05  # the worker waits this long for the keys to stop (a held → starts none meanwhile)

    class Computed(Message, bubble=False):
        """From the worker: the picture of a request (the view checks it is still the one wanted)."""

        def __init__(self, picture: GradientPicture) -> None:
            super().__init__()
            self.picture = picture

    DEFAULT_CSS = """
    GradientView Figure { height: 14; }
    GradientView #grad-compare { display: none; }
    GradientView.-compare #grad-compare { display: block; }
    GradientView.-stale Figure, GradientView.-stale #grad-body { text-opacity: 45%; }
    GradientView.-blank Figure { display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cache: tuple = (None, None, None, None)  # (model, trace, model64, trace64)
        self._state: State | None = None  # the state last handed in
        self._wanted: GradientRequest | None = None  # the request being computed in the worker
        self._shown: GradientPicture | None = None  # the picture on screen
        self._one_at_a_time = threading.Lock()  # a superseded computation finishes before the next starts
        self._serial = 0  # counts the pictures accepted: the figures' keys

    def compose(self) -> ComposeResult:
        yield Static(id="grad-head")
        if plots.available():
            yield Figure(id="grad-plot")
            yield Figure(id="grad-compare")
        yield Static(id="grad-body")

    def show(self, state: State) -> None:
        self._state = state
        head, body = self.query_one("#grad-head", Static), self.query_one("#grad-body", Static)
        if state.trace.steps == 0:
            self._drop()
            head.update("empty sequence")
            body.update("")
            return
        tr = state.trace
        request = GradientRequest(
            state.model, tr, state.k, state.grad_target, state.grad_compare,
            state.patches if tr is state.after else (), state.source, state.window_seconds,
        )
        if self._shown is not None and self._shown.request.same(request):
            self._drop()
            self._draw(self._shown)  # the same numbers (another unit, palette, width)
            return
        if request.same(self._wanted):
            return  # the worker is on it
        if estimate_seconds(request) <= self.SYNC_SECONDS:
            self._drop()
            try:
                picture = compute(request, self._cache)
            except UserError as exc:
                picture = GradientPicture(request, str(exc))
            self._accept(picture)
            return
        self._wanted = request
        self._waiting(request)
        self.run_worker(partial(self._work, request, self._cache), name="gradients", group="gradients",
                        exclusive=True, thread=True, exit_on_error=False)

    def _drop(self) -> None:
        """No picture is waited for: a worker still running is told to stop."""
        if self._wanted is not None:
            self._wanted = None
            self.workers.cancel_group(self, "gradients")

    def _work(self, request: GradientRequest, cache: tuple) -> None:
        """The worker: after a moment without a newer request, the picture (or a line saying why not)."""
        worker = get_current_worker()
        until = time.monotonic() + self.SETTLE_SECONDS
        while time.monotonic() < until:
            if worker.is_cancelled:
                return
            time.sleep(0.01)
        while not self._one_at_a_time.acquire(timeout=0.01):
            if worker.is_cancelled:
                return
        try:
            with one_blas_thread():  # steadier here (0.125 s, not 0.11-0.38), and the other core is the UI's
                picture = compute(request, cache, cancelled=lambda: worker.is_cancelled)
        except Cancelled:
            return
        except UserError as exc:
            picture = GradientPicture(request, str(exc))
        except Exception as exc:  # a bug, or memory: said in the view, never the end of the session
            picture = GradientPicture(request, f"gradients not computed ({type(exc).__name__}: {exc})"[:300])
        finally:
            self._one_at_a_time.release()
        if not worker.is_cancelled:
            self.post_message(self.Computed(picture))

    def on_gradient_view_computed(self, message: Computed) -> None:
        if message.picture.request.same(self._wanted):  # else the news of a request replaced since
            self._wanted = None
            self._accept(message.picture)

    def _accept(self, picture: GradientPicture) -> None:
        if picture.error is None:
            self._cache = picture.cache
        self._shown = picture
        self._serial += 1
        self._draw(picture)

    def _waiting(self, request: GradientRequest) -> None:
        """While the worker computes: the last picture of the same run dimmed, or nothing of another."""
        shown = self._shown
        same_run = shown is not None and shown.error is None and shown.request.trace is request.trace \
            and shown.request.model is request.model
        line = Text.assemble(("computing the gradients", "bold"), f" at step {request.k + 1:,}…")
        if same_run:  # (one line at 80 columns, as the target's line it stands for)
            line.append(f"  (dimmed: step {shown.request.k + 1:,})", style="dim")
        note = request.note()
        self.query_one("#grad-head", Static).update(Text.assemble(line, *(("\n", (note, "dim")) if note else ())))
        self.set_class(True, "-stale")
        self.set_class(not same_run, "-blank")
        if not same_run:
            self.query_one("#grad-body", Static).update("")

    def _draw(self, picture: GradientPicture) -> None:
        state = self._state
        self.set_class(False, "-stale")
        self.set_class(False, "-blank")
        head, body = self.query_one("#grad-head", Static), self.query_one("#grad-body", Static)
        req, note = picture.request, picture.request.note()
        if picture.error is not None:  # one line that says why, under the step it is of
            head.update(Text.assemble(("gradients", "bold"), f" of the target at step {req.k + 1:,}:",
                                      *(("\n", (note, "dim")) if note else ())))
            self.set_class(True, "-blank")
            self.set_class(False, "-compare")
            body.update(Text(picture.error.splitlines()[0] if picture.error else "", style="red"))
            return
        drawn = plots.available()
        width = max(8, (self.content_region.width or 80) - 36)
        k, first, later, rows = picture.k, picture.first, picture.later, picture.rows
        head.update(
            Text.assemble(
                ("target: ", "bold"), picture.label,
                f" = {picture.value:+.4f}   " + ("(T: switch target)" if picture.has_head else "(no output head: the one target)"),
                *(("\n", (note, "dim")) if note else ()),
                *(("\n", (LATER, "dim")) if later else ()),
            )
        )
        parts = []
        if drawn:
            key = ("norms", self._serial)
            title = "‖dL/d·ᵗ'‖ against the step t'"
            if later:
                title += f" = 1 … T (target at t = {first + k}, the vertical line)"
            self.query_one("#grad-plot", Figure).show(
                key, lambda w, h: plots.gradient_figure(rows, w, h, title, first, first + k if later else None)
            )
        else:
            parts += [norms_table({**rows, "xᵗ' (saliency)": picture.saliency}, width, k), Text(plots.MISSING, style="dim")]
        parts += [
            Text(
                "\nsaliency ‖dL/dxᵗ'‖ of each token "
                + ("1..T (the backward direction reads past t):" if later else "up to t:"),
                style="bold",
            ),
            saliency_text(picture.tokens, picture.saliency, state.palette, k, gap=state.spaced),
        ]
        series = picture.compare
        if series is not None:
            caption, start = picture.compare_caption, picture.compare_start
            if drawn:
                key = ("compare", self._serial)
                self.query_one("#grad-compare", Figure).show(
                    key, lambda w, h: plots.gradient_figure(series, w, h, "compare: ‖dL/dhᵗ'‖, L = Σ hᵗ", first + start)
                )
                parts.append(Text("\n" + caption, style="bold"))
            else:
                parts += [Text("\n" + caption, style="bold"), norms_table(series, width, k)]
        else:
            parts.append(Text("\nx: compare with the other cells (LSTM, GRU, RNN) of the same size", style="dim"))
        self.set_class(series is not None and drawn, "-compare")
        body.update(Group(*parts))
