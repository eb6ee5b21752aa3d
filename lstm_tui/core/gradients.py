"""Gradient views: how far back a target at step k reaches, and why LSTMs were invented.

A *target* is one scalar of the forward pass at 0-based step k:

- ``"top"``: log yᵏ[v] with v = argmax yᵏ, the log-probability of the model's
  top next token (needs an output head), dL/dlogitsᵏ = onehot(v) - yᵏ;
- an int v: log yᵏ[v], the log-probability of token id v;
- ``"sum-h"``: Σⱼ hᵏⱼ of the last layer, dL/dhᵏ = 1 (the reference files'
  loss when k is the last step).

``None`` picks ``"top"`` when the model has a head and ``"sum-h"`` otherwise.
The gradients come from ``backward.backward`` run on the trace cut after step
k (nothing later can change the target), so every array here covers steps
t' = 0..k, except for a model that reads backwards (a bidirectional or
reverse layer): there later steps do reach the target, and the arrays cover
the whole trace, t' = 0..T-1. The norms are Euclidean over units: ‖dL/dhᵗ'‖, ‖dL/dcᵗ'‖ and
‖dL/dxᵗ'‖ (saliency of token t').
"""

from __future__ import annotations

import functools

import numpy as np

from .backward import Grads, backward
from .errors import InputError
from .model import Model, init_layers
from .outcomes import log_probabilities, names_outputs
from .trace import Trace

#: The target names besides a token id.
TARGETS = ("top", "sum-h")

#: The cells that ``compare_cells`` always shows, besides the model's own.
COMPARE_CELLS = ("lstm", "gru", "rnn_tanh")


def head(trace: Trace, n: int) -> Trace:
    """The trace of the first n steps (views of the same arrays)."""
    return trace.window(0, n)


def target_gradients(
    model: Model, trace: Trace, target: str | int | None = None, k: int | None = None
) -> tuple[float, str, Grads]:
    """Backpropagate one target (see the module docstring) at step k (default: the last step).

    Returns ``(value, label, grads)``: the target's value, a one-line label
    for a title (``log p('e') at step 4``, steps 1-based as the UI shows them)
    and the :class:`Grads` over steps 0..k (arrays of k + 1 steps).
    """
    T = trace.steps
    if T == 0:
        raise InputError("the trace has no steps to take a gradient of")
    k = T - 1 if k is None else k
    if not 0 <= k < T:
        raise InputError(f"step {k} out of range: the trace has {T} step(s)")
    if target is None:
        target = "top" if trace.logits is not None else "sum-h"
    cut = trace if _reads_backwards(model) else head(trace, k + 1)
    if target == "sum-h":
        h = cut.states["h"][-1]  # (k+1, W)
        dh_top = np.zeros_like(h)
        dh_top[k] = 1
        value = float(h[k].sum())
        label = f"Σ h of layer {trace.num_layers} at step {trace.offset + k + 1}"
        return value, label, backward(model, cut, dh_top=dh_top)
    if isinstance(target, str) and target != "top":
        raise InputError(f"unknown gradient target {target!r}: expected one of {', '.join(TARGETS)} or a token id")
    if cut.logits is None:
        raise InputError(f"model {model.name!r} has no output head: use the target 'sum-h'")
    y = cut.y[k]  # (V,)
    v = int(np.argmax(y)) if target == "top" else int(target)
    if not 0 <= v < y.shape[0]:
        raise InputError(f"token id {v} out of range: the vocabulary has {y.shape[0]} entries")
    dlogits = np.zeros_like(cut.logits)  # (k+1 or T, V)
    dlogits[k] = -y
    dlogits[k, v] += 1  # d log y[v] / da = onehot(v) - y (softmax, or σ of one output)
    value = float(log_probabilities(cut.logits[k])[v])
    name = repr(model.vocab[v]) if names_outputs(model) else f"#{v}"  # a classifier's class: by id
    label = f"log p({name}) at step {trace.offset + k + 1}"  # a window of a long run counts from its place
    return value, label, backward(model, cut, dlogits=dlogits)


def _reads_backwards(model: Model) -> bool:
    return any(flag for level in model.direction_flags for flag in level)


def gradient_norms(model: Model, trace: Trace, target: str | int | None = None, k: int | None = None) -> dict:
    """Per-step gradient norms of a target at step k (default: the last step).

    Returns ``{"target", "value", "k", "h", "c", "x"}``: ``target`` the label
    and ``value`` the target's value (see :func:`target_gradients`), ``h``
    (L, n) ‖dL/dhᵗ'‖ for every layer, ``c`` (L, n) ‖dL/dcᵗ'‖ for an LSTM
    (else None), ``x`` (n,) ‖dL/dxᵗ'‖ of the first layer's inputs, with n = k + 1
    (n = T for a model that reads backwards, see the module docstring); ``k``
    is the target's step.
    """
    value, label, grads = target_gradients(model, trace, target, k)

    def norms(per_layer):  # (L, n): each layer's own width folded into its norm
        return None if per_layer is None else np.stack([np.linalg.norm(v, axis=-1) for v in per_layer])

    return {
        "target": label,
        "value": value,
        "k": trace.steps - 1 if k is None else k,
        "h": norms(grads.h),  # (L, n)
        "c": norms(grads.c),  # (L, n)
        "x": np.linalg.norm(grads.x, axis=-1),  # (n,)
    }


def export_gradients(model: Model, trace: Trace, target: str | int | None = "sum-h") -> dict[str, np.ndarray]:
    """The gradient arrays that ``export --grad`` writes, of a target at the last step.

    Returns ``grad_x`` (T, E), ``grad_h`` (L, T, W) and, for an LSTM,
    ``grad_c`` (L, T, W), the total gradients of the target; when the layers
    differ in width, one array per layer instead: ``grad_h_l0``, ``grad_h_l1``,
    … (T, W_l), as the trace's own arrays (a bidirectional layer's units
    forward first). With the default ``"sum-h"`` the target is L = Σ h_T of
    the last layer, the convention of the reference files (their ``grad.x``,
    ``grad.h_l{k}``, ``grad.c_l{k}``).
    """
    _, _, grads = target_gradients(model, trace, target)
    out = {"grad_x": grads.x}
    for name, v in (("grad_h", grads.h), ("grad_c", grads.c)):
        if v is None:
            continue
        if isinstance(v, np.ndarray):
            out[name] = v
        else:
            out.update({f"{name}_l{n}": a for n, a in enumerate(v)})
    return out


def compare_models(model: Model) -> dict[str, Model]:
    """The trained models :func:`compare_cells` uses by default: the shipped demos of the model's
    task in the other cells (``brackets-gru``, ``brackets-rnn`` beside ``brackets``; see
    ``registry.TASKS``), in the model's dtype; {} for a model of no task."""
    from .registry import TASKS, task_of

    task = task_of(model)
    if task is None:
        return {}
    return {cell: _demo(name, np.dtype(model.dtype).name) for cell, name in TASKS[task].items() if cell != model.cell}


@functools.lru_cache(maxsize=16)
def _demo(name: str, dtype: str) -> Model:
    """A shipped demo in ``dtype``, read once (the gradient view asks again at every step)."""
    from .registry import load_demo

    return load_demo(name).astype(dtype)


def compare_label(model: Model, models: dict[str, Model] | None = None) -> str:
    """Which models the compare ran, for its label: ``GRU: brackets-gru (trained), tanh RNN: untrained``.
    ``models`` as given to :func:`compare_cells` (None: :func:`compare_models`)."""
    given = compare_models(model) if models is None else models
    parts = []
    for cell in COMPARE_CELLS:
        if cell != model.cell:
            other = given.get(cell)
            parts.append(f"{CELL_NAMES[cell]}: " + (f"{other.name} (trained)" if other is not None else
                                                      "untrained (PyTorch's default initialisation)"))
    return ", ".join(parts)


#: How labels name the cells.
CELL_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "tanh RNN", "rnn_relu": "ReLU RNN"}


def compare_cells(
    model: Model,
    text_or_trace: str | list[str] | np.ndarray | Trace,
    seed: int = 0,
    *,
    models: dict[str, Model] | None = None,  # cell -> a model to run for that cell; None: compare_models(model)
    k: int | None = None,  # the target's step, default the last
) -> dict[str, np.ndarray]:
    """‖dL/dhᵗ'‖ of the last layer for t' = 0..k, for the model and for other cells on the same inputs.

    L is Σ h of the last layer at step k (``"sum-h"``, the one target every
    cell has). The other cells are LSTM, GRU and tanh RNN (those of
    ``COMPARE_CELLS`` that differ from the model's own). A cell in ``models``
    runs that model; by default (``models=None``) those are the trained demos
    of the model's own task (:func:`compare_models`), so the compare is between
    trained models where the project ships them. Any other cell is untrained:
    the model's hidden size, input size and number of layers, PyTorch's default
    initialisation from ``seed`` and the cell (the same seed always gives the
    same weights), run on the model's input vectors xᵗ, so that all of them see
    the same sequence. A given model that takes tokens is run on the trace's
    tokens. :func:`compare_label` says which is which.
    Returns ``cell -> (k+1,)`` norms, the model's own cell first.
    """
    trace = text_or_trace if isinstance(text_or_trace, Trace) else model.trace(text_or_trace)
    out = {model.cell: gradient_norms(model, trace, "sum-h", k)["h"][-1]}
    given = compare_models(model) if models is None else models
    for n, cell in enumerate(COMPARE_CELLS):
        if cell in out:
            continue
        other = given.get(cell)
        if other is None:
            rng = np.random.default_rng([seed, n])  # each cell's weights depend on the seed and the cell only
            hidden = model.width("h", -1)  # the width whose norms are compared
            layers = init_layers(rng, cell, model.num_layers, model.input_size, hidden, model.dtype)
            other = Model(layers=layers, name=f"random-{cell}")
        if other.takes_tokens and trace.ids is not None:
            other_trace = other.trace(list(trace.tokens))
        elif other.input_size == trace.x.shape[1]:
            other_trace = other.trace(trace.x)
        else:
            raise InputError(
                f"model {other.name!r} takes inputs of size {other.input_size}, the sequence has {trace.x.shape[1]}"
            )
        out[cell] = gradient_norms(other, other_trace, "sum-h", k)["h"][-1]
    return out
