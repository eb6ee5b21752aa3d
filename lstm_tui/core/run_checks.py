"""One line for a run handed to the Python API that does not fit its model: a model that is not a Model, a trace
of a model of other shapes (a run of another model met NumPy's shape errors deep inside), two runs of different
models. (The checks of a model's own parts, when it is made, are in :mod:`.model_checks`.)"""

from __future__ import annotations

from .errors import InputError
from .model import Model
from .trace import Trace


def model_argument(value, name: str = "model"):
    """``value`` if it is a :class:`~.model.Model`, else an :class:`InputError` naming the argument ``name``."""
    if isinstance(value, Model):
        return value
    raise InputError(f"{name}: expected a Model, as lstm_tui.load_model(...) returns, not {type(value).__name__}")


def _shape(run) -> tuple:
    """What a run's arrays are shaped by: cell, input width, each layer's h and xW widths, outputs."""
    L = run.num_layers
    h, xW = tuple(run.width("h", n) for n in range(L)), tuple(run.width("xW", n) for n in range(L))
    return run.cell, run.width("x", 0), h, xW, run.width("y", 0)


def _shown_shape(shape: tuple) -> str:
    cell, E, h, _, V = shape
    return f"{cell}, input {E} wide, h {'/'.join(map(str, h))} wide, {V} outputs"


def check_fits(model, run, name: str) -> None:
    """An :class:`InputError` unless ``run`` (a trace) is shaped as a run of ``model`` is (a run of another
    model met NumPy's shape errors deep inside; one of the same shapes is the caller's to keep apart)."""
    V = 0 if model.head_W is None else model.head_W.shape[0]
    want = (model.cell, model.input_size, model.widths("h"), model.widths("xW"), V)
    if _shape(run) != want:
        raise InputError(f"{name}: a run of another model ({_shown_shape(_shape(run))}) than {model.name!r} "
                         f"({_shown_shape(want)})")


def run_argument(model, value, name: str):
    """A run of ``model`` for an argument that is one (a Trace, checked to fit) or inputs for ``model.trace``."""
    if isinstance(value, Trace):
        check_fits(model, value, name)
        return value
    return model.trace(value)


def check_alike(a, b, names: tuple[str, str]) -> None:
    """An :class:`InputError` unless traces ``a`` and ``b`` are runs of models of the same shapes."""
    if _shape(a) != _shape(b):
        raise InputError(f"{names[0]} and {names[1]} are runs of different models: {_shown_shape(_shape(a))}; "
                         f"{_shown_shape(_shape(b))}")
