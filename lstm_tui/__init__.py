"""lstm-tui: step through a recurrent network one timestep at a time.

The Python API, for notebooks and scripts (no terminal UI is imported)::

    import lstm_tui
    model = lstm_tui.load_model("random", hidden=16, seed=0)
    trace = model.trace("hello")
    trace.states["f"][0]       # forget gate of layer 0, (T, H): index the layer first
    trace.width("h", 0)        # each layer's own width (bidirectional 2H, projected h P)
    trace.arrays()             # what `lstm-tui export` writes
"""

from .core import Bidirectional, InputError, Layer, Model, ModelFileError, Trace, UserError, random_model

# The rest is imported when first asked for (PEP 562): ``import lstm_tui.core``, which
# the app and the CLI start with, then costs neither the interventions nor importlib.metadata.
_LAZY = {
    "write_npz": "core.export",
    "EffectMap": "core.interventions",
    "Patch": "core.interventions",
    "intervene": "core.interventions",
    "load_model": "core.registry",
}


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("lstm-tui")
        except PackageNotFoundError:  # running from a source tree that was not installed
            value = "0+unknown"
    elif name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


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
