"""What a patched run changed: differences of two traces, the top next tokens, non-finite values.

Readers of :func:`.interventions.intervene`'s result, for the app's Δ and diff
modes, the command line's report and the effect map's log-probabilities.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .errors import InputError, int_argument
from .model import Model
from .run_checks import check_alike, check_fits, model_argument
from .trace import Trace, trace_argument


def difference(after: Trace, before: Trace) -> Trace:
    """A trace of ``after - before`` for every quantity, product, input and the head's
    logits and probabilities (``y``), over the steps both have: what the app's Δ mode
    (patched - clean) and diff mode (source - main) draw. Labels are ``after``'s."""
    after, before = trace_argument(after, "difference after"), trace_argument(before, "difference before")
    check_alike(after, before, ("difference after", "before"))
    T = min(after.steps, before.steps)

    def levels(a, b):
        if isinstance(a, np.ndarray):
            return a[:, :T] - b[:, :T]
        return [x[:T] - y[:T] for x, y in zip(a, b)]

    def initial(a, b):  # (L, W) or a list of (W_l,)
        if a is None:
            return None
        return a - b if isinstance(a, np.ndarray) else [x - y for x, y in zip(a, b)]

    def rows(a, b):
        return None if a is None or b is None else a[:T] - b[:T]

    cut = after.window(0, T)
    with np.errstate(all="ignore"):
        return dataclasses.replace(
            cut,
            states={q: levels(after.states[q], before.states[q]) for q in after.states},
            xW=levels(after.xW, before.xW),
            hW=levels(after.hW, before.hW),
            x=rows(after.x, before.x),
            h0=initial(after.h0, before.h0),
            c0=initial(after.c0, before.c0),
            logits=rows(after.logits, before.logits),
            y=rows(after.y, before.y),
        )


def log_probabilities(logits: np.ndarray) -> np.ndarray:
    """log y (model.probabilities) of the logits (..., V), in float64: log softmax, or log σ for one output."""
    a = np.asarray(logits, dtype=np.float64)
    if a.shape[-1] == 1:
        with np.errstate(all="ignore"):
            return -np.logaddexp(0.0, -a)
    return log_softmax(a)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, in float64."""
    a = np.asarray(logits, dtype=np.float64)
    with np.errstate(all="ignore"):  # NaN or inf logits (a patch's doing) give NaN, quietly
        m = np.max(a, axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        return a - m - np.log(np.sum(np.exp(a - m), axis=-1, keepdims=True))


@dataclass(frozen=True)
class TokenChange:
    """One token's probability before and after an intervention, at one step."""

    id: int  # vocabulary id
    label: str  # the token as text, or #id without a vocabulary
    p_before: float
    p_after: float
    dlogp: float  # log p_after - log p_before


def top_k_change(model: Model, clean: Trace, patched: Trace, k: int, top: int = 5) -> list[TokenChange]:
    """The ``top`` most likely next tokens of the patched run at 0-based step k, each
    with its probability in the clean run and the change in log-probability (all of them
    when the head has fewer than ``top`` outputs)."""
    model = model_argument(model, "top_k_change model")
    clean, patched = trace_argument(clean, "top_k_change clean"), trace_argument(patched, "top_k_change patched")
    check_fits(model, clean, "top_k_change clean"), check_fits(model, patched, "top_k_change patched")
    if clean.logits is None or patched.logits is None:
        raise InputError(f"model {model.name!r} has no output head")
    T = min(len(clean.logits), len(patched.logits))
    if not T:
        raise InputError("top_k_change: the runs have no steps")
    k = int_argument(k, "top_k_change k", f"a 0-based step from 0 to {T - 1}", low=0, high=T - 1)
    top = int_argument(top, "top_k_change top", "a whole number from 1 (how many tokens to list)", low=1)
    before = log_probabilities(clean.logits[k])  # (V,)
    after = log_probabilities(patched.logits[k])  # (V,)
    key = np.where(np.isnan(after), -np.inf, after)
    ids = np.argsort(-key, kind="stable")[:top]
    out = []
    for v in ids.tolist():
        out.append(
            TokenChange(v, token_label(model, v), math.exp(before[v]), math.exp(after[v]), float(after[v] - before[v]))
        )
    return out


def names_outputs(model: Model) -> bool:
    """Whether the vocabulary names the head's outputs (not a classifier's classes, which go by id)."""
    return model.vocab is not None and model.head_W is not None and len(model.vocab) == model.head_W.shape[0]


def token_label(model: Model, v: int) -> str:
    """Output v as its token, or ``#v`` (a classifier's class, a model without a vocabulary)."""
    return model.vocab[v] if names_outputs(model) else f"#{v}"


def nonfinite(trace: Trace) -> str:
    """Where the run holds NaN or ±inf, as one line ("" when nowhere): every quantity of every layer affected, and
    y, from the first step any is (steps 1-based), then, when they differ, each one's first step in parentheses
    (the part before " (" is the short form): "i, f, g, o, c, h of layer 1 and y are not finite from step 1 on
    (step 1: c, h of layer 1 and y; step 2: i, f, g, o of layer 1)"."""
    found = []  # (quantity, layer from 1 or None for y, first step from 1)
    for q, levels in trace.states.items():
        for n in range(len(levels)):
            bad = ~np.isfinite(levels[n])
            if bad.any():
                found.append((q, n + 1, int(np.argmax(bad.any(axis=1))) + 1))
    if trace.y is not None and trace.steps:
        bad = ~np.isfinite(trace.y)
        if bad.any():
            found.append(("y", None, int(np.argmax(bad.any(axis=1))) + 1))
    if not found:
        return ""
    firsts = sorted({k for _, _, k in found})
    line = f"{_which(found)} {'is' if len(found) == 1 else 'are'} not finite from step {firsts[0]} on"
    if len(firsts) > 1:
        line += " (" + "; ".join(f"step {k}: {_which([f for f in found if f[2] == k])}" for k in firsts) + ")"
    return line


def _which(found: list) -> str:
    """The quantities of ``found`` by layer, layers with the same ones together: "i, f of layer 1 and c, h of
    layers 1, 2 and y"."""
    by_layer: dict = {}
    for q, n, _ in sorted(found, key=lambda f: math.inf if f[1] is None else f[1]):  # by layer, y last
        by_layer.setdefault(n, []).append(q)
    groups: dict = {}
    for n, qs in by_layer.items():
        groups.setdefault(tuple(qs), []).append(n)
    parts = []
    for qs, ns in groups.items():
        if ns == [None]:
            parts.append(", ".join(qs))  # y: no layer
        else:
            parts.append(f"{', '.join(qs)} of layer{'s' if len(ns) > 1 else ''} {', '.join(str(n) for n in ns)}")
    return " and ".join(parts)
