from __future__ import annotations

import json
import time
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


async def settle(pilot, until, tries: int = 500) -> None:
    """Let the app handle its workers' news until ``until()`` holds (fails after ``tries`` short pauses)."""
    for _ in range(tries):
        if until():
            return
        await pilot.pause(0.01)
    raise AssertionError("the app never got there")


async def settle_runs(pilot, app, until=lambda: True, seconds: float = 20.0) -> None:
    """Let the patching workers finish (patched run, effect map) and their messages arrive."""
    end = time.monotonic() + seconds
    await pilot.pause()
    while (app.patching or not until()) and time.monotonic() < end:
        await pilot.pause(0.02)
    await pilot.pause()


@pytest.fixture
def gated(monkeypatch):
    """Every input traced in the app's worker by a builder held at a gate: ``gated.gate.release()`` lets one
    chunk (at most 500 steps) through, no clocks involved; a cancelled worker (a new input) or the test's
    end (``stop``) lets it go. The fixture's value is the builder's class."""
    import threading

    from textual.worker import get_current_worker

    from lstm_tui import app as app_module
    from lstm_tui.app import LstmApp
    from lstm_tui.core.tracing import TraceBuilder

    class Held(TraceBuilder):
        gate = threading.Semaphore(0)
        stop = threading.Event()

        def __init__(self, model, inputs, limit, window=None):
            super().__init__(model, inputs, limit, window=256)

        def advance(self, seconds=0.05, max_steps=None):
            worker = get_current_worker()
            while True:
                if self.stop.is_set() or worker.is_cancelled:  # the app is quitting, or a new input came
                    return
                if self.gate.acquire(timeout=0.01):
                    if not worker.is_cancelled:
                        break
                    self.gate.release()  # the chunk was meant for the worker that replaced this one
            super().advance(seconds, max_steps=500)

    monkeypatch.setattr(app_module, "TraceBuilder", Held)
    monkeypatch.setattr(LstmApp, "SYNC_SECONDS", 0.0)  # every input goes to the worker
    yield Held
    Held.stop.set()
