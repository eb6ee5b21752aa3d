"""A state dict's head with hidden layers (``fc1``, ReLU, ``fc2``; ``nn.Sequential(Linear, ReLU, Linear)``).

A state dict keeps the layers' weights but not their activations, which live in
the model's code: ``--head-activations relu`` (or ``relu,tanh``: one for each
hidden layer) gives them. The layers are chained by their shapes, from the
last recurrent layer's width: each reads what the one before gives, as many
as there are activations, and the one after the last hidden layer is the head.
Layers that read the same width are taken in the order their names number
them (head.0, head.2; fc1, fc2); otherwise the chain forks and is refused,
naming both. A layer of the same nn.Sequential left out of the chain (a
LayerNorm) is refused too.
"""

from __future__ import annotations

import math
import re

from ..core.cells import ACTIVATION_DEFAULTS, activation
from ..core.errors import InputError, clip
from ..core.model import Dense
from .arrays import Arrays
from .registry import show

#: Activation names as PyTorch's modules and functions call them, and the cells' (name, alpha, beta).
NAMES = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "elu": "Elu", "leaky_relu": "LeakyRelu",
         "softplus": "Softplus", "softsign": "Softsign", "hardsigmoid": "HardSigmoid", "identity": "Affine",
         "linear": "Affine"}
#: PyTorch's own parameters where they differ from ONNX's defaults: hardsigmoid is relu6(x + 3) / 6.
TORCH_PARAMS = {"HardSigmoid": (1 / 6, 0.5)}
MAX_LAYERS = 16


def parse_activations(text: str) -> list[tuple[str, float, float]]:
    """``relu`` or ``relu,tanh`` or ``leaky_relu=0.2,elu``: the cells' (name, alpha, beta) of each; InputError
    naming the word at fault."""
    out = []
    for word in text.split(","):
        name, _, value = word.strip().lower().partition("=")
        if name not in NAMES:
            raise InputError(f"--head-activations: unknown activation {clip(name)!r}: expected one of "
                             f"{', '.join(NAMES)} (leaky_relu=0.2 and elu=0.5 take a parameter)")
        onnx = NAMES[name]
        alpha, beta = TORCH_PARAMS.get(onnx, ACTIVATION_DEFAULTS.get(onnx, (0.0, 0.0)))
        if "=" in word:
            if onnx not in ("LeakyRelu", "Elu"):
                raise InputError(f"--head-activations: {name} takes no parameter ({clip(word.strip())!r})")
            try:
                alpha = float(value)
            except ValueError:
                alpha = math.nan
            if not math.isfinite(alpha):
                raise InputError(f"--head-activations: {clip(word.strip())!r}: the parameter is not a finite number")
        out.append(activation(onnx, alpha, beta))
    return out


def _order(key: str) -> tuple[str, int | None]:
    """A layer's name as a stem and its number: head.3.weight is (head., 3), fc2.weight (fc, 2)."""
    module = key[: -len(".weight")]
    m = re.fullmatch(r"(.*?)(\d+)", module)
    return (m[1], int(m[2])) if m else (module, None)


def _next(reads: list[str], prev: str | None) -> list[str]:
    """Of layers that all read the same width, the one that comes next by number (head.0 then head.2; fc1 then
    fc2) when they are numbered alike; else all of them (a fork)."""
    stems = {_order(k) for k in reads}
    if len({stem for stem, _ in stems}) != 1 or any(n is None for _, n in stems):
        return reads
    after = -1
    if prev is not None and _order(prev)[0] == _order(reads[0])[0]:
        after = _order(prev)[1]
    later = sorted((n, k) for k in reads if (n := _order(k)[1]) > after)
    return [later[0][1]] if later else reads


def bias_of(key: str) -> str:
    """The bias beside a weight: fc.weight -> fc.bias."""
    return key[: -len("weight")] + "bias"


def linear(f: Arrays, key: str, shape: tuple, why: str = "") -> tuple:
    """A linear layer's (weight checked against ``shape``, bias or None) by its weight's key."""
    W = f.get(key, shape, why)
    return W, f.get(bias_of(key), (W.shape[0],)) if f.has(bias_of(key)) else None


def weights(f: Arrays, parent: str, P: str) -> dict:
    """Every unread 2-D weight beside the recurrent module (under ``parent``, not under its prefix ``P``), by
    key: its shape."""
    weights = {k: f.shape(k) for k in f.keys
               if k not in f.used and k.startswith(parent) and not k.startswith(P) and k.endswith(".weight")}
    return {k: s for k, s in weights.items() if len(s) == 2 and min(s) > 0}


def _links(weights: dict, width: int, count: int | None, stem: bool = False) -> tuple[list[str], list[str]]:
    """(the keys as the layers chain from ``width``, ``count`` of them at most; the keys where it forks, or []).
    ``stem``: only layers named as the first is (fc1, fc2; head.0, head.3)."""
    keys, w = [], width
    while len(keys) < (count or MAX_LAYERS):
        reads = [k for k, s in weights.items() if s[1] == w and k not in keys]
        if stem and keys:
            reads = [k for k in reads if _order(k)[0] == _order(keys[0])[0]]
        if len(reads) > 1:
            reads = _next(reads, keys[-1] if keys else None)
        if len(reads) != 1:
            return keys, reads
        keys.append(reads[0])
        w = weights[reads[0]][0]
    return keys, []


def readers(f: Arrays, parent: str, P: str, width: int, inputs: int) -> list[str]:
    """The unread layers (their weights' keys) that read ``width`` values, but those that give ``inputs`` values
    (the recurrent module's input width: an input projection, on the other side)."""
    return [k for k, s in weights(f, parent, P).items() if s[1] == width and s[0] != inputs]


def chain(f: Arrays, parent: str, P: str, width: int, inputs: int, acts: list) -> tuple[tuple[Dense, ...], str, str]:
    """The head's hidden layers, one for each activation, the key of its last layer's weight, and a note naming
    the chain; chained by shape from ``width`` (``inputs``: the recurrent module's input width). One line for a
    chain that forks, stops short, goes on past the activations given, or passes over a layer of its own."""
    shapes = weights(f, parent, P)
    keys, fork = _links(shapes, width, len(acts) + 1)
    if fork:
        raise f.fail(f"--head-activations: {' and '.join(map(show, fork))} both read "
                     f"{shapes[fork[0]][1]} values: the head's layers do not chain one way")
    if len(keys) < len(acts) + 1:
        found = " -> ".join(map(show, keys)) if keys else "no layer"
        raise f.fail(f"--head-activations gives {len(acts)} activations, one for each hidden layer of the head, but "
                     f"the layers reading the last layer's {width} values chain as {found}: "
                     f"{_layers(len(keys) - 1 if keys else 0)}")
    more = [k for k in readers(f, parent, P, shapes[keys[-1]][0], inputs) if k not in keys]
    if more:
        raise f.fail(f"--head-activations gives {len(acts)} activations, but {show(more[0])} reads the output of "
                     f"{show(keys[-1])}: give one for each hidden layer of the head ({_layers(len(acts) + 1)} or more)")
    modules = [k[: -len("weight")] for k in keys]
    for container in {m[: m[:-1].rfind(".") + 1] for m in modules if "." in m[len(parent) : -1]}:
        among = [k for k in f.keys if k.startswith(container) and not k.startswith(tuple(modules)) and k not in f.used]
        if among:  # nn.Sequential(Linear, LayerNorm, ReLU, Linear): the norm is a layer lstm-tui does not run
            raise f.fail(f"{show(among[0])} sits among the head's layers ({' -> '.join(map(show, keys))}): a "
                         "layer lstm-tui does not run (a normalisation?), so the head cannot be read")
    hidden = []
    for key, act in zip(keys[:-1], acts):
        hidden.append(Dense(*linear(f, key, shapes[key]), act))
    said = " -> ".join(f"{show(k)} -> {name}" for k, (name, _, _) in zip(keys, acts)) + f" -> {show(keys[-1])}"
    return tuple(hidden), keys[-1], f"the head's layers, chained by their shapes: {said}"


def _layers(n: int) -> str:
    return f"{n} hidden layer{'s' * (n != 1)}"


def hint(f: Arrays, parent: str, P: str, width: int) -> str:
    """For the note on unread arrays: the head's layers as they chain (named alike), and the option."""
    keys, fork = _links(weights(f, parent, P), width, None, stem=True)
    if len(keys) < 2 or fork:
        return ""
    return (f"; they chain as a head with hidden layers ({' -> '.join(map(show, keys))}): give their activations "
            f"with --head-activations, one for each of its {_layers(len(keys) - 1)} (e.g. "
            f"{','.join(['relu'] * (len(keys) - 1))})")
