from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from lstm_tui.core import Layer, Model

REFERENCE = Path(__file__).parent / "data" / "reference"
REFERENCE_NAMES = sorted(json.loads((REFERENCE / "index.json").read_text()))


def load_reference(name: str) -> tuple[dict, dict, Model]:
    """(tensors, metadata, model) of one reference file."""
    path = REFERENCE / f"{name}.safetensors"
    tensors = load_file(str(path))
    with safe_open(str(path), "np") as fh:
        meta = fh.metadata()
    layers = tuple(
        Layer(
            meta["cell"],
            tensors[f"weight_ih_l{k}"],
            tensors[f"weight_hh_l{k}"],
            tensors[f"bias_ih_l{k}"],
            tensors[f"bias_hh_l{k}"],
        )
        for k in range(int(meta["num_layers"]))
    )
    return tensors, meta, Model(layers=layers, name=name)


def tolerance(meta: dict, grad: bool = False) -> float:
    if meta["dtype"] == "float32":
        return 1e-4 if grad else 1e-5
    return 1e-10 if grad else 1e-12


def numeric_grad(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of scalar f() with respect to every entry of ``array`` (changed in place, restored)."""
    out = np.empty_like(array)
    for idx in np.ndindex(array.shape):
        keep = array[idx]
        array[idx] = keep + eps
        up = f()
        array[idx] = keep - eps
        down = f()
        array[idx] = keep
        out[idx] = (up - down) / (2 * eps)
    return out


@pytest.fixture(params=REFERENCE_NAMES)
def reference(request):
    return load_reference(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def numpy_loop_by_default(monkeypatch):
    """Traces take NumPy's loop unless a test asks for the compiled one (tests/test_compiled.py):
    whether numba's background compile has finished must never change what a test sees."""
    monkeypatch.setenv("LSTM_TUI_COMPILED", "0")


@pytest.fixture(autouse=True)
def private_config(tmp_path_factory, monkeypatch):
    """Settings go to a fresh folder in every test, never to the user's own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.delenv("NO_COLOR", raising=False)
