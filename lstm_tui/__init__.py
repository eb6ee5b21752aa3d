"""lstm-tui: step through a recurrent network one timestep at a time.

The Python API, for notebooks and scripts (no terminal UI is imported)::

    import lstm_tui
    model = lstm_tui.load_model("random", hidden=16, seed=0)
    trace = model.trace("hello")
    trace.states["f"][0]       # forget gate of layer 0, (T, H): index the layer first
    trace.width("h", 0)        # each layer's own width (bidirectional 2H, projected h P)
    trace.arrays()             # what `lstm-tui export` writes
"""

from importlib.metadata import PackageNotFoundError, version

from .core import Bidirectional, InputError, Layer, Model, ModelFileError, Trace, UserError, random_model
from .core.export import write_npz
from .core.interventions import EffectMap, Patch, intervene
from .core.registry import load_model

try:
    __version__ = version("lstm-tui")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "Bidirectional",
    "EffectMap",
    "InputError",
    "Layer",
    "Model",
    "ModelFileError",
    "Patch",
    "Trace",
    "UserError",
    "__version__",
    "intervene",
    "load_model",
    "random_model",
    "write_npz",
]
