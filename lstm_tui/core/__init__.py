"""The NumPy core: cells, models and traces. Imports no UI code."""

from .cells import CELLS, GATES, QUANTITIES, Bidirectional, Layer, run, sigmoid, step
from .errors import InputError, ModelFileError, UserError
from .model import Model, random_model, softmax
from .trace import Trace

__all__ = [
    "Bidirectional",
    "CELLS",
    "GATES",
    "QUANTITIES",
    "InputError",
    "Layer",
    "ModelFileError",
    "UserError",
    "Model",
    "Trace",
    "random_model",
    "run",
    "sigmoid",
    "softmax",
    "step",
]
