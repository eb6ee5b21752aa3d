"""A Keras model's config read as one chain of layers: ``entries()`` lists each layer's class, name,
config and h5 group, in order, for ``keras.py`` to build the levels from. A Sequential or a linear
functional model; a model used as a layer of another (a trained encoder wrapped in a new model) is read
in its place, its layers named ``outer/inner``.
"""

from __future__ import annotations

import json
import re

from .registry import fail, refuse, show

MODELS = ("Sequential", "Functional", "Model")  # a model, also as a layer of another (its layers read in its place)
MAX_NESTING = 8  # models inside models inside ...
MASKS = ("NotEqual",)  # op layers a functional model records for a mask (Embedding(mask_zero=True): ids != 0)


def where(name: str, cls: str) -> str:
    return f"layer {show(name)!r} ({show(cls)})"


def entries(file: str, config: dict, layers_group, groups: dict | None = None,
             src: str = "config.json", depth: int = 0) -> list[tuple[str, str, dict, object]]:
    """(class, name, config, h5 group) of each layer of a Sequential or linear functional model, in order
    (``depth``: how deep in models used as layers)."""
    cls = config.get("class_name")
    cfg = config.get("config")
    if cls not in MODELS or not isinstance(cfg, dict):
        raise refuse(file, src, f"the model is a {show(str(cls))}",
                     "a Sequential or functional Model of layers")
    layers = cfg.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise fail(file, f"{src} lists no layers")
    if cls != "Sequential":
        _check_linear(file, cfg, layers, src)
    legacy = groups is not None
    groups = _groups_by_name(layers_group) if groups is None else groups
    counters: dict[str, int] = {}
    out = []
    for x in layers:
        lcls, lcfg = str(x.get("class_name")), x.get("config")
        if not isinstance(lcfg, dict):
            raise fail(file, f"{src}: layer of class {show(lcls)} has no config")
        name = str(lcfg.get("name", x.get("name", "?")))
        snake = _snake(lcls)
        n = counters.get(snake, -1) + 1
        counters[snake] = n
        group = groups.get(name)
        if group is None and not legacy:  # Keras names the group after the class, numbered in model order
            key = snake if n == 0 else f"{snake}_{n}"
            group = layers_group[key] if key in layers_group else None
        if lcls in MODELS:  # a model used as a layer: its layers in its place, named "outer/inner"
            if legacy:
                raise refuse(file, where(name, lcls), "a model nested inside the model of a legacy .h5 file",
                             "a .keras file (save it with model.save('model.keras'))")
            if group is None or "layers" not in group:
                raise fail(file, f"{where(name, lcls)}: a nested model whose layers have no weights in the file")
            if depth >= MAX_NESTING:
                raise refuse(file, where(name, lcls), f"models nested more than {MAX_NESTING} deep", "fewer")
            inner = entries(file, x, group["layers"], None, src, depth + 1)
            out += [(c, f"{name}/{inner_name}", cfg, g) for c, inner_name, cfg, g in inner]
            continue
        out.append((lcls, name, lcfg, group))
    return out


def _check_linear(file: str, cfg: dict, layers: list[dict], src: str) -> None:
    """Refuse a functional model that is not one chain from its one input to its one output."""
    prev, masks = None, set()
    for x in layers:
        name = str(x.get("name") or x.get("config", {}).get("name"))
        nodes = x.get("inbound_nodes") or []
        if x.get("class_name") in MASKS and prev is not None and len(nodes) == 1 and len(_sources(nodes)) == 1:
            masks.add(name)  # Embedding(mask_zero=True)'s mask, NotEqual(ids, 0): read by the layers' mask=
            continue
        if prev is None:
            if nodes:
                raise refuse(file, where(name, str(x.get("class_name"))), "the first layer has inputs",
                             "an InputLayer first")
        else:
            sources = _sources(nodes, masks)
            if len(nodes) != 1 or sources != [prev]:
                what = f"takes {', '.join(map(show, sources)) or 'no tensors'}" if len(nodes) == 1 else \
                    f"is called {len(nodes)} times"
                raise refuse(file, where(name, str(x.get("class_name"))), what,
                             f"one input, the output of {show(prev)!r} (a linear stack)")
        prev = name
    outs = cfg.get("output_layers")
    if isinstance(outs, list) and outs and isinstance(outs[0], str):
        outs = [outs]
    if isinstance(outs, list) and (len(outs) != 1 or not outs[0] or outs[0][0] != prev):
        raise refuse(file, src, f"the model's outputs are {show(json.dumps(outs))}",
                     f"one output, the last layer {show(str(prev))!r}")


def _sources(nodes: list, masks: set | frozenset = frozenset()) -> list[str]:
    """The layer names whose outputs feed a call (every Keras tensor in its args and kwargs; a ``mask=`` made
    by one of the layers ``masks`` is not data)."""
    found: list[str] = []

    def walk(v):
        if isinstance(v, dict):
            if v.get("class_name") == "__keras_tensor__":
                hist = v.get("config", {}).get("keras_history")
                if isinstance(hist, list) and hist:  # [layer, node, tensor]: tensor 1, 2 are return_state's states
                    found.append(str(hist[0]) if hist[-1] in (0, None) or len(hist) < 3 else f"{hist[0]}[{hist[-1]}]")
                return
            for w in v.values():
                walk(w)
        elif isinstance(v, list):
            for w in v:
                walk(w)

    for node in nodes:
        if isinstance(node, dict):
            walk(node.get("args"))
            kwargs = node.get("kwargs")
            if isinstance(kwargs, dict) and "mask" in kwargs:
                mine, found[:] = found[:], []
                walk(kwargs["mask"])
                found[:] = mine + [m for m in found if m not in masks]
                kwargs = {k: v for k, v in kwargs.items() if k != "mask"}
            walk(kwargs)
        elif isinstance(node, list):  # tf.keras's form: [[layer, node, tensor, kwargs], ...]
            for entry in node:
                if isinstance(entry, list) and entry and isinstance(entry[0], str):
                    found.append(entry[0] if len(entry) < 3 or entry[2] in (0, None) else f"{entry[0]}[{entry[2]}]")
    return found


def _snake(name: str) -> str:
    """Keras's group name for a class: ``SimpleRNN`` -> ``simple_rnn``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _groups_by_name(layers_group) -> dict[str, object]:
    """The h5 groups under ``layers/``, by the layer name their ``vars`` group records."""
    out = {}
    for key in layers_group:
        g = layers_group[key]
        if hasattr(g, "keys") and "vars" in g:
            name = g["vars"].attrs.get("name")
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            if isinstance(name, str):
                out[name] = g
    return out
