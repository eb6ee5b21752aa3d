"""A Keras 3 ``.weights.h5`` without its config: the stack's structure from the groups' names and shapes.

Keras names each layer's group after its class (``lstm``, ``gru_1``,
``simple_rnn``, ``bidirectional``, ``embedding``, ``dense``,
``time_distributed``), numbered in model order within a class, and h5py lists
the groups by name, so the order across classes is lost. It is rebuilt from
the widths: the embedding feeds the first recurrent layer, each layer takes
the width the one before gives (2H after a bidirectional one), the head reads
the last. The orders are counted (up to two) over partial orders, not tried
one by one. When no order or more than one order fits, or there are too many
partial orders to weigh, one line says so and points to the ``.keras`` file.
The config options a ``.weights.h5`` cannot say are Keras's defaults: tanh and
sigmoid, ``go_backwards=False``, ``return_sequences=True``, a GRU's
``reset_after`` from its bias's shape (True without a bias), a softmax head.
"""

from __future__ import annotations

import re

import numpy as np

from ..core.inputs import dims
from .registry import fail, refuse, show

#: The largest array read from a weights file.
MAX_ARRAY_BYTES = 2 * 1024**3
#: The most partial orders of the recurrent layers weighed before a .weights.h5 is refused.
MAX_ORDER_STATES = 50_000


_CLASSES = {"embedding": "Embedding", "lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN",
            "bidirectional": "Bidirectional", "dense": "Dense", "time_distributed": "TimeDistributed"}


def vars_of(group, *path: str) -> list[np.ndarray] | None:
    """The arrays of ``group/path.../vars`` in order (0, 1, ...), or None if there is no such group."""
    g = group
    for p in (*path, "vars"):
        if not hasattr(g, "keys") or p not in g:
            return None
        g = g[p]
    return [read_array(g[k]) for k in sorted(g.keys(), key=lambda s: int(s) if s.isdigit() else 1 << 30)]


def read_array(ds) -> np.ndarray:
    """An h5py dataset's values, refused before reading when it is not an array or is over ``MAX_ARRAY_BYTES``."""
    if not hasattr(ds, "shape") or ds.dtype.itemsize * float(np.prod(ds.shape, dtype=np.float64)) > MAX_ARRAY_BYTES:
        raise ValueError(f"{ds.name} is not an array of at most {MAX_ARRAY_BYTES // 1024**3} GB")
    return np.asarray(ds[()])


def _has_weights(group) -> bool:
    found = []
    group.visititems(lambda _n, o: found.append(1) if hasattr(o, "shape") else None)
    return bool(found)


def infer(file: str, layers_group) -> list[tuple[str, str, dict, object]]:
    """Entries like :func:`.keras_config.entries` built from the groups' names and shapes alone (defaults assumed)."""
    known = []  # (class, name, config, group, in width or None, out width)
    for key in sorted(layers_group):
        group = layers_group[key]
        base = re.sub(r"_\d+$", "", key)
        if not hasattr(group, "keys") or not _has_weights(group):
            continue
        if "layers" in group:
            raise refuse(file, f"layers/{show(key)}", "a model nested inside the model, whose order a .weights.h5 "
                         "does not keep", "the .keras file (model.save('model.keras'))")
        cls = _CLASSES.get(base)
        if cls is None:
            raise fail(file, f"layers/{show(key)} holds weights of a layer lstm-tui does not know, and a "
                             ".weights.h5 has no config to say what it is: open the .keras file (model.save)")
        known.append(_guess(file, key, cls, group))
    if not known:
        raise fail(file, "holds no layer weights")
    order = _chain(file, known)
    return [(cls, name, cfg, group) for cls, name, cfg, group, _i, _o in order]


def _guess(file: str, key: str, cls: str, group):
    """(class, name, config, group, input width, output width) of one weights group, from shapes."""
    where = f"layers/{show(key)}"
    if cls == "Embedding":
        (emb, *_rest) = vars_of(group) or [None]
        if emb is None or emb.ndim != 2:
            raise fail(file, f"{where}: expected an embedding [V, E]")
        return cls, key, {"name": key}, group, None, emb.shape[1]
    if cls in ("Dense", "TimeDistributed"):
        w = vars_of(group) if cls == "Dense" else vars_of(group, "layer")
        if not w or w[0].ndim != 2:
            raise fail(file, f"{where}: expected a Dense kernel [W, V]")
        cfg = {"name": key, "units": w[0].shape[1], "use_bias": len(w) > 1, "activation": "softmax"}
        if cls == "TimeDistributed":
            cfg = {"name": key, "layer": {"class_name": "Dense", "config": cfg}}
        return cls, key, cfg, group, w[0].shape[0], w[0].shape[1]
    inner = ("forward_layer", "cell") if cls == "Bidirectional" else ("cell",)
    w = vars_of(group, *inner)
    if not w or len(w) < 2 or w[0].ndim != 2 or w[1].ndim != 2 or w[1].shape[0] == 0:
        raise fail(file, f"{where}: expected a kernel [E, G*H] and a recurrent kernel [H, G*H]")
    H = w[1].shape[0]
    G = w[1].shape[1] // H
    rnn = {4: "LSTM", 3: "GRU", 1: "SimpleRNN"}.get(G) if w[1].shape[1] % H == 0 else None
    if cls != "Bidirectional" and rnn != cls or rnn is None:
        raise fail(file, f"{where}: recurrent kernel {dims(w[1].shape)} does not fit a {cls if cls != 'Bidirectional' else 'recurrent layer'}")
    cfg = {"name": key, "units": H, "use_bias": len(w) > 2, "return_sequences": True}
    if rnn == "GRU":
        cfg["reset_after"] = not (len(w) > 2 and w[2].ndim == 1)
    if cls == "Bidirectional":
        cfg = {"name": key, "merge_mode": "concat", "layer": {"class_name": rnn, "config": dict(cfg)}}
        return cls, key, cfg, group, w[0].shape[0], 2 * H
    return cls, key, cfg, group, w[0].shape[0], H


def _chain(file: str, known: list) -> list:
    """The one order of the layers in which each takes the previous one's width; refuse none or several."""
    emb = [x for x in known if x[0] == "Embedding"]
    dense = [x for x in known if x[0] in ("Dense", "TimeDistributed")]
    rec = [x for x in known if x not in emb and x not in dense]
    if len(emb) > 1 or len(dense) > 1 or not rec:
        names = ", ".join(x[1] for x in known)
        raise fail(file, f"a .weights.h5 has no config, and its layers ({show(names)}) are not one embedding, "
                         "recurrent layers and one head: open the .keras file (model.save)")

    def number(x):
        m = re.search(r"_(\d+)$", x[1])
        return int(m[1]) if m else 0

    by_class: dict[str, list] = {}
    for x in sorted(rec, key=number):  # within a class, Keras numbered the groups in model order
        by_class.setdefault(x[0], []).append(x)
    lists = list(by_class.values())
    # Orders are counted, not listed: a state is (how many of each class are placed, the width given on), and
    # holds (the orders reaching it, counted up to 2; the state before on one of them; the layer placed last).
    steps = [{((0,) * len(lists), emb[0][5] if emb else None): (1, None, None)}]
    for _ in rec:
        here: dict = {}
        for (taken, width), (ways, _before, _x) in steps[-1].items():
            for c, xs in enumerate(lists):
                x = xs[taken[c]] if taken[c] < len(xs) else None
                if x is not None and (width is None or x[4] == width):
                    key = (taken[:c] + (taken[c] + 1,) + taken[c + 1:], x[5])
                    old = here.get(key, (0, (taken, width), x))
                    here[key] = (min(2, old[0] + ways), *old[1:])
        steps.append(here)
        if sum(map(len, steps)) > MAX_ORDER_STATES:
            raise fail(file, f"a .weights.h5 has no config, and its {len(rec)} recurrent layers could go in too "
                             "many orders to try: open the .keras file (model.save)")
    ends = [key for key in steps[-1] if not dense or key[1] == dense[0][4]]
    ways = sum(steps[-1][key][0] for key in ends)
    if ways != 1:
        why = "no order of" if not ways else "more than one order of"
        raise fail(file, f"a .weights.h5 has no config, and {why} its recurrent layers "
                         f"({show(', '.join(x[1] for x in rec))}) fits their shapes: open the .keras file (model.save)")
    order, key = [], ends[0]
    for here in reversed(steps[1:]):
        _ways, key, x = here[key]
        order.insert(0, x)
    return emb + order + dense
