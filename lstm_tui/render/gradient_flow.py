"""The gradient view's numbers, computed apart from the widget (no Textual): what it draws for one request.

A :class:`GradientRequest` names everything the picture depends on (the
model, the trace, the step, the target, the patches, the compare flag);
:func:`compute` turns it into a :class:`GradientPicture`, in float64.
The widget calls it at once when :func:`estimate_seconds` says it is quick
(a short full trace) and in a worker thread otherwise (a long run's window of
up to 1,024 steps: 0.2-0.6 s at H = 256), drawing only the picture of the
request that matches its current state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.checkpoint import CheckpointedTrace, step_seconds
from ..core.gradients import compare_cells, compare_label, compare_models, target_gradients
from ..core.interventions import intervene
from .gradients import CELL_NAMES, direction_norms

COMPARE_STEPS = 512  # the comparison reruns three cells: it looks at most this far back

#: compute's measured cost per step over ``step_seconds`` (float64 rerun and backward pass, 1-3.5 at H = 8-256),
#: and the compare's on top (three cells more, 2-8): estimates err on the slow side
COST_PER_STEP, COMPARE_COST_PER_STEP = 4.0, 8.0


class Cancelled(Exception):
    """A computation given up between its stages: a newer request replaced it."""


@dataclass(frozen=True, eq=False)
class GradientRequest:
    """What one picture of the gradient view depends on."""

    model: object
    trace: object  # the run shown (Trace or CheckpointedTrace)
    k: int  # the target's 0-based step
    target: str | None
    compare: bool
    patches: tuple = ()  # applied to the float64 rerun (the patched run shown)
    source: object = None  # the source run of the patches' src values
    window_seconds: float = 0.15

    def same(self, other: GradientRequest | None) -> bool:
        """Whether ``other`` asks for the same picture (the same objects, the same step and choices)."""
        return (
            other is not None and other.model is self.model and other.trace is self.trace and other.k == self.k
            and other.target == self.target and other.compare == self.compare and other.patches == self.patches
            and other.source is self.source and other.window_seconds == self.window_seconds
        )

    def window(self) -> int | None:
        """How many steps up to k a long trace's picture covers (None: the whole trace)."""
        if not isinstance(self.trace, CheckpointedTrace):
            return None
        return min(self.k + 1, max(32, min(1024, int(self.window_seconds / (3 * step_seconds(self.model))))))

    def note(self) -> str | None:
        """The line that says a long trace's picture is of a window."""
        n = self.window()
        if n is None:
            return None
        return f"(a long trace: steps {self.k + 2 - n:,}-{self.k + 1:,}, the {n:,} up to t, from the state before them)\n"


@dataclass(frozen=True, eq=False)
class GradientPicture:
    """What the gradient view draws for one request (``error``: why there is nothing to draw)."""

    request: GradientRequest
    error: str | None = None
    value: float = 0.0
    label: str = ""
    has_head: bool = True
    tokens: tuple = ()
    k: int = 0  # the target's index in ``tokens`` (the window's)
    first: int = 1  # the step number of the window's first step
    later: bool = False  # a backward direction: the steps after t reach the target too
    rows: dict = dataclasses.field(default_factory=dict)  # one row of norms per direction of a layer
    saliency: np.ndarray | None = None  # (n,) ‖dL/dxᵗ'‖
    compare: dict | None = None  # cell name -> ‖dL/dhᵗ'‖ (x), None without
    compare_start: int = 0  # the index in ``tokens`` the compare's series start at
    compare_caption: str = ""
    cache: tuple = (None, None, None, None)  # (model, trace, model64, trace64): the float64 run, for the next


def estimate_seconds(request: GradientRequest) -> float:
    """A rough (pessimistic) time for :func:`compute`: the steps rerun and backpropagated."""
    n = request.window()
    per = step_seconds(request.model)
    if n is None:
        steps = request.trace.steps
        cost = COST_PER_STEP * steps * per
    else:  # the window's own rerun from its checkpoint besides
        steps = n
        cost = (COST_PER_STEP * n + n + request.trace.window_length) * per
    if request.compare:
        cost += COMPARE_COST_PER_STEP * min(steps, COMPARE_STEPS) * per
    return cost


def float64_run(model, trace, patches=(), source=None, cache=(None, None, None, None)) -> tuple:
    """The model and trace in float64 (with the patches applied), and the cache to keep:
    ``cache`` is given back when it holds them already (the same model and trace)."""
    if cache[0] is model and cache[1] is trace:
        return cache
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
    return (model, trace, m64, t64)


def compute(request: GradientRequest, cache: tuple = (None, None, None, None),
            cancelled: Callable[[], bool] = lambda: False) -> GradientPicture:
    """The picture of ``request``; raises the core's ``UserError`` (a target this model has not), and
    :class:`Cancelled` when ``cancelled()`` holds between two stages."""

    def check() -> None:
        if cancelled():
            raise Cancelled

    tr, k, n = request.trace, request.k, request.window()
    if n is not None:  # the window of steps ending at t
        tr, k = tr.window(request.k + 1 - n, request.k + 1, keep=False), n - 1
        check()
    first = tr.offset + 1  # the step number of the window's first step
    cache = float64_run(request.model, tr, request.patches, request.source, cache)
    model, tr = cache[2], cache[3]
    check()
    with np.errstate(all="ignore"):  # a patched run past float's range: its title says "not finite"
        value, label, grads = target_gradients(model, tr, request.target, k)
        # one row per direction of a layer that reads backwards (→ forward, ← backward)
        rows = direction_norms(grads.h, grads.c, [tr.reverse_flags(n) for n in range(tr.num_layers)])
        saliency = np.linalg.norm(grads.x, axis=-1)  # (n,) ‖dL/dxᵗ'‖
    later = len(saliency) > k + 1
    picture = GradientPicture(request, None, value, label, tr.has_head, tr.tokens, k, first, later, rows, saliency,
                              cache=cache)
    if not request.compare:
        return picture
    check()
    start = max(0, k + 1 - COMPARE_STEPS)  # the other cells run on the steps up to t only
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
    return dataclasses.replace(picture, compare=series, compare_start=start, compare_caption=caption)
