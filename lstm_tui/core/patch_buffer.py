"""Patched runs written into the arrays of an earlier one: adding or removing a patch
without copying the whole clean trace again.

:func:`~lstm_tui.core.interventions.intervene` copies every array of the clean
trace (about 230 MB at H = 1024, T = 4,000: most of the time a patch near the
end takes). :func:`intervene_into` takes a spare patched run of the same clean
trace instead, no longer in use, and only puts back the clean rows from the
first step where either run differs, then recomputes from the first patched
step exactly as ``intervene`` does. The app keeps two such runs and uses them
in turn (one on screen, one spare).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .interventions import Patch, _differ, _fresh, _head, _plan, _propagate, intervene
from .model import Model, directions
from .trace import Trace, mark_run, run_of


def first_patched_step(model: Model, clean: Trace, patches: Sequence[Patch]) -> int:
    """The first step any of ``patches`` holds at (the clean trace's length without any)."""
    return min((p.steps[0] for p in patches if p.steps), default=clean.steps)


def _owns(into: Trace, clean: Trace, model: Model) -> bool:
    """Whether ``into``'s arrays are its own (never the clean trace's, which must not change)."""
    if into.steps != clean.steps:
        return False
    pairs = [(into.states[q], clean.states[q]) for q in clean.states] + [(into.hW, clean.hW)]
    if model.num_layers > 1:
        pairs.append((into.xW, clean.xW))
    for a, b in pairs:
        for n in range(model.num_layers):
            if a[n] is b[n] or np.may_share_memory(a[n], b[n]) or a[n].shape != b[n].shape:
                return False
    return True


def _reads_backwards(model: Model) -> bool:
    return any(layer.reverse for level in model.layers for layer in directions(level))


def spare_run(model: Model, clean: Trace) -> Trace | None:
    """A run equal to ``clean`` with its own copy of every array :func:`intervene_into` writes
    (``since`` = ``clean.steps``): made ahead of a first patch, while its value is typed, so that
    its run copies nothing. None for a model with a reverse direction, which takes no spare."""
    if _reads_backwards(model):
        return None
    return mark_run(dataclasses.replace(
        clean, states={q: _fresh(v) for q, v in clean.states.items()}, hW=_fresh(clean.hW),
        xW=_fresh(clean.xW) if model.num_layers > 1 else clean.xW, logits=_fresh(clean.logits), y=_fresh(clean.y),
    ), clean)


def intervene_into(
    model: Model,
    clean: Trace,
    patches: Sequence[Patch],
    source: Trace | None,
    into: Trace | None,
    since: int,
    base: Trace | None = None,
    base_patches: Sequence[Patch] = (),
    base_since: int = 0,
) -> Trace:
    """The patched run of ``clean`` under ``patches``, as :func:`intervene` returns it, written
    into ``into``'s arrays: an earlier result of this function or of ``intervene`` on the same
    clean trace that nothing reads any more. ``since`` is the first step where ``into`` may
    differ from ``clean`` (its patches' first step). Falls back to ``intervene`` (a fresh
    copy) without ``into``, for a model with a reverse direction (its changes run backwards),
    when ``into`` shares an array with ``clean`` and when ``into`` was not made from ``clean``
    (by this function, ``intervene`` or :func:`spare_run`: a run of another input of the same
    length would lend its rows before ``since``).

    ``base``, the run on screen (patches ``base_patches``, differing from ``clean``
    from ``base_since``), is read, never written: the rows before the first step
    of the patches that differ are its rows, and only the rest is recomputed. A base
    not made from ``clean`` is not read; one made with another source, not for its src patches."""
    if into is None or _reads_backwards(model) or run_of(into)[0] is not clean or not _owns(into, clean, model):
        return intervene(model, clean, patches, source)
    plan = _plan(model, clean, list(patches), source)
    if not plan:
        return clean
    start, forced = clean, {}  # the run whose rows the new one starts from; (level, 0) -> first step to redo
    lo = max(0, min(since, first_patched_step(model, clean, patches)))
    made_of, made_with = run_of(base)
    if base is not None and made_of is clean and _owns(base, clean, model) and not np.may_share_memory(
        base.states["h"][0], into.states["h"][0]
    ):
        differ = _differ(patches, base_patches, made_with is source)
        if not differ:
            return base
        for p in differ:  # a level is recomputed from the first step a differing patch held at
            forced[(p.layer, 0)] = min(forced.get((p.layer, 0), p.steps[0]), p.steps[0])
        floor = min(forced.values())
        plan = {key: {k: v for k, v in steps.items() if k >= floor} for key, steps in plan.items()}
        start, lo = base, max(0, min(since, base_since, floor))
    states, hW, xW = into.states, into.hW, into.xW
    for q in states:  # rows lo.. are the starting run's, before the patches change them
        for n in range(model.num_layers):
            states[q][n][lo:] = start.states[q][n][lo:]
    for n in range(model.num_layers):
        hW[n][lo:] = start.hW[n][lo:]
        if n > 0:
            xW[n][lo:] = start.xW[n][lo:]
    changed = _propagate(model, clean, start, plan, forced, states, xW, hW)
    logits, y = clean.logits, clean.y
    if model.head_W is not None and clean.logits is not None:
        logits = into.logits if into.logits is not None and into.logits is not clean.logits else clean.logits.copy()
        y = into.y if into.y is not None and into.y is not clean.y else clean.y.copy()
        logits[lo:], y[lo:] = start.logits[lo:], start.y[lo:]
        if changed is not None:
            _head(model, states, logits, y, changed, clean.pool)
    return mark_run(dataclasses.replace(clean, states=states, xW=xW, hW=hW, logits=logits, y=y), clean, source)
