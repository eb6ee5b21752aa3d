"""PyTorch files lstm-tui must refuse without unpickling them, for tests/formats/test_registry.py.

Run where PyTorch is installed::

    python scripts/make_pickle_fixtures.py tests/data/pickles

Writes ``whole_module.pt`` (``torch.save(model)``: a pickled nn.Module),
``torchscript.pt`` (``torch.jit.save``: code and weights in a zip) and
``state_dict.pt`` (``torch.save(model.state_dict())``: what lstm-tui reads
when PyTorch is installed), each a few KB.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = torch.nn.LSTM(3, 2)
    torch.save(net, out / "whole_module.pt")
    torch.jit.save(torch.jit.script(net), out / "torchscript.pt")
    torch.save(net.state_dict(), out / "state_dict.pt")
    for p in sorted(out.glob("*.pt")):
        print(p.name, p.stat().st_size, "bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/pickles"))
