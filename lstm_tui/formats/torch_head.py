"""A state dict's head with hidden layers (``fc1``, ReLU, ``fc2``; ``nn.Sequential(Linear, ReLU, Linear)``).

A state dict keeps the layers' weights but not their activations, which live in
the model's code: ``--head-activations relu`` (or ``relu,tanh``, one for each
hidden layer) gives them. The layers are chained by their shapes, from the
last recurrent layer's width: each reads what the one before gives, and the
last of the chain is the head. A chain that forks (two layers reading the same
width) is refused, naming both.
"""

from __future__ import annotations

from ..core.cells import ACTIVATION_DEFAULTS, activation
from ..core.errors import InputError
from ..core.model import Dense
from .arrays import Arrays
from .registry import show

#: Activation names as PyTorch's modules and functions call them, and the cells' (name, alpha, beta).
NAMES = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "elu": "Elu", "leaky_relu": "LeakyRelu",
         "softplus": "Softplus", "softsign": "Softsign", "hardsigmoid": "HardSigmoid", "identity": "Affine",
         "linear": "Affine"}
#: PyTorch's own parameters where they differ from ONNX's defaults: hardsigmoid is relu6(x + 3) / 6.
TORCH_PARAMS = {"HardSigmoid": (1 / 6, 0.5), "LeakyRelu": (0.01, 0.0), "Elu": (1.0, 0.0)}
MAX_LAYERS = 16


def parse_activations(text: str) -> list[tuple[str, float, float]]:
    """``relu`` or ``relu,tanh`` or ``leaky_relu=0.2,elu``: the cells' (name, alpha, beta) of each; InputError
    naming the word at fault."""
    out = []
    for word in text.split(","):
        name, _, value = word.strip().lower().partition("=")
        if name not in NAMES:
            raise InputError(f"--head-activations: unknown activation {show(name)!r}: expected one of "
                             f"{', '.join(NAMES)} (leaky_relu=0.2 and elu=0.5 take a parameter)")
        onnx = NAMES[name]
        alpha, beta = TORCH_PARAMS.get(onnx, ACTIVATION_DEFAULTS.get(onnx, (0.0, 0.0)))
        if value:
            if onnx not in ("LeakyRelu", "Elu"):
                raise InputError(f"--head-activations: {name} takes no parameter ({show(word.strip())!r})")
            try:
                alpha = float(value)
            except ValueError:
                raise InputError(f"--head-activations: {show(word.strip())!r}: the parameter is not a number") from None
        out.append(activation(onnx, alpha, beta))
    return out


def _links(f: Arrays, parent: str, P: str, width: int) -> tuple[list[str], dict, list[str]]:
    """(the weights' keys as the layers chain from ``width``, every unread 2-D weight's shape, the keys where the
    chain forks: two layers reading the same width, or [])."""
    weights = {k: f.shape(k) for k in f.keys
               if k not in f.used and k.startswith(parent) and not k.startswith(P) and k.endswith(".weight")}
    weights = {k: s for k, s in weights.items() if len(s) == 2 and min(s) > 0}
    keys, w = [], width
    while len(keys) <= MAX_LAYERS:
        reads = [k for k, s in weights.items() if s[1] == w and k not in keys]
        if len(reads) != 1:
            return keys, weights, reads
        keys.append(reads[0])
        w = weights[reads[0]][0]
    return keys, weights, []


def chain(f: Arrays, parent: str, P: str, width: int, acts: list) -> tuple[tuple[Dense, ...], str]:
    """The head's hidden layers and the key of its last layer's weight, chained by shape from ``width``."""
    keys, weights, fork = _links(f, parent, P, width)
    if fork:
        raise f.fail(f"--head-activations: {' and '.join(map(show, fork))} both read "
                     f"{weights[fork[0]][1]} values: the head's layers do not chain one way")
    if len(keys) < 2:
        found = f"only {show(keys[0])} reads the last layer's {width} values" if keys else \
            f"no layer reads the last layer's {width} values"
        raise f.fail(f"--head-activations names hidden layers of the head, but {found}: no hidden layer")
    if len(acts) not in (1, len(keys) - 1):
        raise f.fail(f"--head-activations gives {len(acts)} activations for the {len(keys) - 1} hidden layers of "
                     f"the head ({' -> '.join(map(show, keys))}): give one for all, or one each")
    acts = acts * (len(keys) - 1) if len(acts) == 1 else acts
    hidden = []
    for key, act in zip(keys[:-1], acts):
        W = f.get(key, weights[key])
        bkey = key[: -len("weight")] + "bias"
        hidden.append(Dense(W, f.get(bkey, (W.shape[0],)) if f.has(bkey) else None, act))
    return tuple(hidden), keys[-1]


def hint(f: Arrays, parent: str, P: str, width: int) -> str:
    """For the note on unread arrays: the head's layers as they chain, and the option that opens them."""
    keys, _, fork = _links(f, parent, P, width)
    if len(keys) < 2 or fork:
        return ""
    return (f"; they chain as a head with hidden layers ({' -> '.join(map(show, keys))}): give their activations "
            "with --head-activations (relu, or one for each)")
