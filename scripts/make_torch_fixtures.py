"""Regenerate the PyTorch fixtures: bidirectional and projected nn.LSTM / nn.GRU / nn.RNN
with their own outputs and gradients, for the NumPy core to match.

    python scripts/make_torch_fixtures.py tests/data/torch   (a venv with torch installed)

Needs PyTorch; the package and its tests never do. Each file is one module
with seeded random weights (PyTorch's default initialisation), a seeded input
``x`` (T, E) (batch of one) and, as safetensors:

- the module's state dict under its own names (``weight_ih_l{k}``,
  ``weight_ih_l{k}_reverse``, ``weight_hr_l{k}`` ...);
- ``x`` (T, E); ``h0`` and ``c0`` (L*D, P) / (L*D, H), the initial states
  given to the module (zeros unless the spec asks for random ones; PyTorch's
  layout: row k*D + d is layer k, direction d);
- ``expected.h_l{k}`` (T, D*P): the output of level k at every position,
  from single-level modules with the same weights run one after the other
  (the last one is checked against the whole module's output, the largest
  difference written as ``max_abs_err_vs_module``);
- ``expected.h_n`` (L*D, P) and ``expected.c_n`` (L*D, H) (LSTM): the
  module's final states;
- ``loss_w`` (T, D*P) and ``grad.*``: autograd's gradients of
  L = Σ loss_w ⊙ output for ``x``, ``h0``, ``c0`` and every parameter.

``index.json`` lists every file's metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: name -> (module, layers, E, H, proj_size, bidirectional, T, random initial states, seed, extra kwargs).
SPECS = {
    "lstm_bi_2layer": ("LSTM", 2, 5, 4, 0, True, 7, False, 2001, {}),
    "gru_bi_2layer": ("GRU", 2, 5, 4, 0, True, 7, True, 2002, {}),
    "rnn_tanh_bi_2layer": ("RNN", 2, 5, 4, 0, True, 7, False, 2003, {}),
    "rnn_relu_bi_1layer": ("RNN", 1, 5, 4, 0, True, 7, True, 2004, {"nonlinearity": "relu"}),
    "lstm_proj_1layer": ("LSTM", 1, 5, 6, 3, False, 7, False, 2005, {}),
    "lstm_proj_2layer": ("LSTM", 2, 5, 6, 3, False, 7, True, 2006, {}),
    "lstm_bi_proj_2layer": ("LSTM", 2, 5, 6, 3, True, 7, True, 2007, {}),
}

CELL = {"LSTM": "lstm", "GRU": "gru", "RNN": None}


def build(torch, spec):
    kind, L, E, H, P, bi, T, random_init, seed, extra = spec
    torch.manual_seed(seed)
    kw = dict(num_layers=L, bidirectional=bi, batch_first=False, **extra)
    if P:
        kw["proj_size"] = P
    module = getattr(torch.nn, kind)(E, H, **kw).float()
    x = torch.randn(T, E)
    D = 2 if bi else 1
    Pw = P or H
    if random_init:
        h0 = torch.randn(L * D, Pw) * 0.5
        c0 = torch.randn(L * D, H) * 0.5
    else:
        h0 = torch.zeros(L * D, Pw)
        c0 = torch.zeros(L * D, H)
    return module, x, h0, c0


def run_module(module, kind, x, h0, c0):
    """Output (T, D*P) and final states of one module on an unbatched sequence."""
    if kind == "LSTM":
        out, (h_n, c_n) = module(x, (h0, c0))
        return out, h_n, c_n
    out, h_n = module(x, h0)
    return out, h_n, None


def level_outputs(torch, module, kind, x, h0, c0, spec):
    """Each level's output, from one-level modules holding the same weights."""
    _, L, E, H, P, bi, T, _, _, extra = spec
    D = 2 if bi else 1
    outs = []
    inp = x
    for k in range(L):
        kw = dict(num_layers=1, bidirectional=bi, **extra)
        if P:
            kw["proj_size"] = P
        one = getattr(torch.nn, kind)(inp.shape[1], H, **kw).float()
        with torch.no_grad():
            for name, _ in one.named_parameters():
                src = name.replace("_l0", f"_l{k}")
                getattr(one, name).copy_(getattr(module, src))
        out, _, _ = run_module(one, kind, inp, h0[k * D : (k + 1) * D], c0[k * D : (k + 1) * D])
        outs.append(out.detach())
        inp = out.detach()
    return outs


def make(torch, name, spec):
    kind, L, E, H, P, bi, T, random_init, seed, extra = spec
    module, x, h0, c0 = build(torch, spec)
    x.requires_grad_(True)
    h0.requires_grad_(True)
    c0.requires_grad_(True)
    out, h_n, c_n = run_module(module, kind, x, h0, c0)
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1))
    loss = (out * w).sum()
    loss.backward()
    levels = level_outputs(torch, module, kind, x.detach(), h0.detach(), c0.detach(), spec)
    err = float((levels[-1] - out.detach()).abs().max())
    tensors = {n: p.detach().contiguous() for n, p in module.state_dict().items()}
    tensors["x"] = x.detach()
    tensors["h0"] = h0.detach()
    if kind == "LSTM":
        tensors["c0"] = c0.detach()
        tensors["expected.c_n"] = c_n.detach()
    tensors["expected.h_n"] = h_n.detach()
    for k, o in enumerate(levels):
        tensors[f"expected.h_l{k}"] = o
    tensors["loss_w"] = w
    tensors["grad.x"] = x.grad
    tensors["grad.h0"] = h0.grad
    if kind == "LSTM":
        tensors["grad.c0"] = c0.grad
    for n, p in module.named_parameters():
        tensors[f"grad.{n}"] = p.grad
    cell = CELL[kind] or ("rnn_relu" if extra.get("nonlinearity") == "relu" else "rnn_tanh")
    meta = {
        "cell": cell,
        "num_layers": str(L),
        "input_size": str(E),
        "hidden_size": str(H),
        "proj_size": str(P),
        "bidirectional": str(bi).lower(),
        "steps": str(T),
        "dtype": "float32",
        "seed": str(seed),
        "loss": "sum(loss_w * output)",
        "max_abs_err_vs_module": f"{err:.3g}",
        "torch": torch.__version__,
    }
    return {k: v.detach().contiguous() for k, v in tensors.items()}, meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as exc:
        print(f"needs PyTorch and safetensors: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    index = {}
    for name, spec in SPECS.items():
        tensors, meta = make(torch, name, spec)
        if float(meta["max_abs_err_vs_module"]) > 1e-6:
            print(f"{name}: layer-by-layer output differs from the module by {meta['max_abs_err_vs_module']}", file=sys.stderr)
            return 1
        path = args.out / f"{name}.safetensors"
        save_file(tensors, str(path), metadata=meta)
        path.chmod(0o644)
        index[name] = meta
        print(f"{name}: {len(tensors)} tensors, level-by-level vs module {meta['max_abs_err_vs_module']}")
    (args.out / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
