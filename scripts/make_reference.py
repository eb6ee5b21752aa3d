"""Regenerate the reference traces: PyTorch's own numbers for the NumPy cells to match.

    python scripts/make_reference.py tests/data/reference

Needs PyTorch (``pip install torch``); the package and its tests never do.
Each file is one ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN`` with seeded random
weights (PyTorch's default initialisation) and a seeded input ``x`` (T, E).
It holds, as safetensors:

- the module's parameters under their PyTorch names (``weight_ih_l{k}`` ...);
- ``x`` (T, E);
- ``expected.{q}_l{k}`` (T, H): every gate and state of layer k at every step
  (q in i f g o c h for an LSTM, r z n h for a GRU, h for an RNN);
- ``grad.*``: autograd's gradients of L = sum(h_T) of the last layer, for
  ``x``, every parameter, and the total ``h_l{k}`` and ``c_l{k}`` (LSTM) of
  every step, through every later step and layer.

The gates are not visible from outside ``nn.LSTM``, so the script unrolls the
cell's equations step by step with the module's own parameters (as autograd
leaves) and checks the unrolled h against the module's output; the largest
difference is written as ``max_abs_err_vs_module_forward``. ``index.json``
lists every file's metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: name -> (cell, layers, input size E, hidden size H, steps T, dtype, seed).
#: These seeds give exactly the weights and inputs of the shipped files; the
#: expected and grad arrays agree with them to the last bit or two (the
#: unrolled sums may round in another order than the original run's).
SPECS = {
    "gru_1layer_f32": ("gru", 1, 5, 7, 12, "float32", 1236),
    "lstm_1layer_f32": ("lstm", 1, 5, 7, 12, "float32", 1234),
    "lstm_2layer_f64": ("lstm", 2, 3, 4, 10, "float64", 1235),
    "rnn_tanh_1layer_f64": ("rnn_tanh", 1, 5, 7, 12, "float64", 1237),
}

GATE_ORDER = {"lstm": "i,f,g,o", "gru": "r,z,n", "rnn_tanh": "-", "rnn_relu": "-"}
LOSS = "sum(h_T) of the last layer"


def unrolled(torch, module, cell: str, x):
    """Run ``module``'s equations one step at a time; returns {q: [layer][t] tensor (H,)}."""
    L, H = module.num_layers, module.hidden_size
    sig, tanh = torch.sigmoid, torch.tanh
    states: dict[str, list[list]] = {}
    inp = list(x)  # T tensors (E,)
    for k in range(L):
        W_ih, W_hh = getattr(module, f"weight_ih_l{k}"), getattr(module, f"weight_hh_l{k}")
        b_ih, b_hh = getattr(module, f"bias_ih_l{k}"), getattr(module, f"bias_hh_l{k}")
        h = torch.zeros(H, dtype=x.dtype)
        c = torch.zeros(H, dtype=x.dtype)
        rows: dict[str, list] = {}
        for xt in inp:
            ax = W_ih @ xt + b_ih
            ah = W_hh @ h + b_hh
            if cell == "lstm":
                a = ax + ah
                i, f, g, o = sig(a[:H]), sig(a[H : 2 * H]), tanh(a[2 * H : 3 * H]), sig(a[3 * H :])
                c = f * c + i * g
                h = o * tanh(c)
                step = {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}
            elif cell == "gru":
                r = sig(ax[:H] + ah[:H])
                z = sig(ax[H : 2 * H] + ah[H : 2 * H])
                n = tanh(ax[2 * H :] + r * ah[2 * H :])
                h = (1 - z) * n + z * h
                step = {"r": r, "z": z, "n": n, "h": h}
            else:
                h = tanh(ax + ah) if cell == "rnn_tanh" else torch.relu(ax + ah)
                step = {"h": h}
            for q in ("h", "c"):
                if q in step:
                    step[q].retain_grad()  # total dL/dh, dL/dc of this step
            for q, v in step.items():
                rows.setdefault(q, []).append(v)
        for q, v in rows.items():
            states.setdefault(q, []).append(v)
        inp = rows["h"]
    return states


def make(torch, name: str, spec: tuple) -> tuple[dict, dict]:
    """(tensors, metadata) of one reference file."""
    cell, L, E, H, T, dtype, seed = spec
    tdt = getattr(torch, dtype)
    torch.manual_seed(seed)
    if cell == "lstm":
        module = torch.nn.LSTM(E, H, num_layers=L)
    elif cell == "gru":
        module = torch.nn.GRU(E, H, num_layers=L)
    else:
        module = torch.nn.RNN(E, H, num_layers=L, nonlinearity=cell.split("_")[1])
    module = module.to(tdt)
    x = torch.randn(T, E, dtype=tdt, requires_grad=True)
    with torch.no_grad():
        out, _ = module(x[:, None, :])  # (T, 1, H): the last layer's h
    states = unrolled(torch, module, cell, x)
    h_top = torch.stack(states["h"][-1])  # (T, H)
    err = (h_top.detach() - out[:, 0]).abs().max().item()
    loss = h_top[-1].sum()
    loss.backward()

    def np(t):
        return t.detach().cpu().numpy().copy()

    tensors = {"x": np(x), "grad.x": np(x.grad)}
    for pname, p in module.named_parameters():
        tensors[pname] = np(p)
        tensors[f"grad.{pname}"] = np(p.grad)
    for q, per_layer in states.items():
        for k, steps in enumerate(per_layer):
            tensors[f"expected.{q}_l{k}"] = np(torch.stack(steps))
            if q in ("h", "c"):
                tensors[f"grad.{q}_l{k}"] = np(torch.stack([s.grad for s in steps]))
    meta = {
        "cell": cell,
        "dtype": dtype,
        "gate_order": GATE_ORDER[cell],
        "hidden_size": str(H),
        "input_size": str(E),
        "loss": LOSS,
        "made_with": f"torch {torch.__version__}",
        "max_abs_err_vs_module_forward": f"{err:.3e}",
        "num_layers": str(L),
        "steps": str(T),
    }
    return tensors, meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="where to write the .safetensors files and index.json")
    parser.add_argument("--only", nargs="*", choices=sorted(SPECS), help="write only these files")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("make_reference.py: PyTorch is not installed (pip install torch)", file=sys.stderr)
        return 2
    from safetensors.numpy import save_file

    torch.use_deterministic_algorithms(True)
    args.folder.mkdir(parents=True, exist_ok=True)
    index_path = args.folder / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    for name in args.only or sorted(SPECS):
        tensors, meta = make(torch, name, SPECS[name])
        save_file(tensors, str(args.folder / f"{name}.safetensors"), metadata=meta)
        index[name] = meta
        print(f"{name}: {len(tensors)} arrays, unrolled vs module {meta['max_abs_err_vs_module_forward']}")
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
