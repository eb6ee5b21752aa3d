"""PyTorch state dicts, in safetensors, .npz or .pt (``torch.load(weights_only=True)`` only).

Names, for level k of an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` under the prefix P
(``""`` for a bare module, ``"rnn."`` in ``word_language_model``)::

    {P}weight_ih_l{k}  (G*H, E)    E = the input size of level k (2P of a bidirectional level below)
    {P}weight_hh_l{k}  (G*H, P)    P = H, or proj_size for a projected LSTM
    {P}bias_ih_l{k}, {P}bias_hh_l{k}  (G*H,)   absent with bias=False: zeros
    {P}weight_hr_l{k}  (P, H)      the LSTM projection (proj_size > 0)
    ... and each with ``_reverse`` appended: the backward direction of a bidirectional level

G is 4 for an LSTM (gates i, f, g, o), 3 for a GRU (r, z, n), 1 for an RNN. The
cell-module form (``{P}weight_ih`` of an ``nn.LSTMCell``) is one level. Beside
the recurrent module, under the same parent, an embedding
``encoder|embedding|embed|embeddings|emb.weight`` (V, E) and a head
``decoder|fc|linear|head|out|output|lm_head.weight`` (V, W) with an optional
``.bias`` (V,) are found by name. A head without an embedding, in a file with a
vocabulary, whose weight is (V, E) with E = W is taken as tied weights
(``safetensors.torch.save_model`` keeps only ``decoder.weight`` of
``word_language_model --tied``); a head bias without its weight takes the
embedding's.

The cell kind comes from the metadata ``cell`` (``lstm``, ``gru``,
``rnn_tanh``, ``rnn_relu``; ``rnn`` is tanh, or relu with ``nonlinearity =
relu``) or from the gate count G (1 is a tanh RNN, or a relu one with the
metadata ``nonlinearity = relu`` alone: a state dict cannot tell).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from ..core.cells import GATES, Bidirectional, Layer
from ..core.inputs import dims
from ..core.model import Dense, directions
from ..core.pooling import backward_note
from . import torch_head
from .arrays import Arrays, assemble, file_vocab, is_container, list_keys, open_arrays
from .registry import show, vocabulary

#: This reader takes --prefix.
TAKES_PREFIX = True

#: Names of the embedding beside the recurrent module, most common first.
EMBEDDING_NAMES = ("encoder", "embedding", "embed", "embeddings", "emb")
#: Names of the linear output head beside the recurrent module, most common first.
HEAD_NAMES = ("decoder", "fc", "linear", "head", "out", "output", "lm_head")

CELL_NAMES = {
    "lstm": "lstm",
    "gru": "gru",
    "rnn": "rnn_tanh",
    "rnn_tanh": "rnn_tanh",
    "rnn_relu": "rnn_relu",
    "simple_rnn": "rnn_tanh",
    "simplernn": "rnn_tanh",
}
_KIND = {4: "lstm", 3: "gru", 1: "rnn_tanh"}
KEY = re.compile(r"(.*?)weight_ih(?:_l(\d{1,6}))?(_reverse)?")


def match(path: Path, head: bytes) -> bool:
    """Any container of named arrays: the last reader asked, it says what is missing when nothing fits."""
    return is_container(path, head)


def load(path: Path, *, prefix: str | None = None, vocab_path=None, head_activations: list | None = None,
         head_pool: str = ""):
    """The model of a PyTorch state dict (see the module docstring); ``head_activations``
    (``torch_head.parse_activations``) those of its head's hidden layers and ``head_pool`` its pool of the steps
    ("max", "mean"; core.pooling), which a state dict does not keep."""
    vocab = vocabulary(vocab_path)
    return open_arrays(path, show(str(path)),
                       lambda f: build(f, path, prefix, vocab, activations=head_activations, head_pool=head_pool))


def build(f: Arrays, path: Path, prefix: str | None, vocab, spec: list | None = None, fmt: str = "pytorch",
          head_hidden: list | None = None, activations: list | None = None, head_pool: str = ""):
    """The model of a state dict's arrays; ``spec`` (lstm-tui's own files) gives each level's cell and options,
    ``head_hidden`` the activations of the head's hidden layers (``head.{n}.weight``, ``head.{n}.bias``),
    ``head_pool`` the head's pooling of the steps so far ("max", "mean"; core.pooling), which a state dict does not say."""
    groups: dict[str, set] = {}  # prefix -> the numbers of its levels' forward directions
    reverse: dict[str, set] = {}  # and of their reverse directions
    for key in f.keys:
        if m := KEY.fullmatch(key):
            nums = groups.setdefault(m[1], set())
            (reverse.setdefault(m[1], set()) if m[3] else nums).add(None if m[2] is None else int(m[2]))
    if not groups:
        from . import keras_npz

        if keras_npz.groups_of(f.keys):
            return keras_npz.build(f, path, prefix, vocab)
        raise f.fail("no recurrent weights found (expected PyTorch's weight_ih_l0, weight_hh_l0 or Keras's kernel, "
                     f"recurrent_kernel); keys found: {list_keys(f.keys)}")
    P = choose_prefix(f, groups, prefix)
    for n in sorted(reverse.get(P, set()) - groups[P], key=lambda n: -1 if n is None else n):
        tag = "" if n is None else f"_l{n}"
        raise f.fail(f"{show(f'{P}weight_ih{tag}_reverse')} has no forward direction ({show(f'{P}weight_ih{tag}')}): "
                     "a bidirectional level holds both")
    levels = read_levels(f, P, sorted(groups[P], key=lambda n: -1 if n is None else n), spec)
    W = levels[-1].output_size
    E = levels[0].input_size
    parent = P[: P.rstrip(".").rfind(".") + 1] if "." in P.rstrip(".") else ""
    info = {"prefix": P, "format": fmt}
    embedding, emb_key = None, "the embedding"
    for n in EMBEDDING_NAMES:
        key = f"{parent}{n}.weight"
        if f.has(key) and parent + n + "." != P:
            if f.has(f"{parent}{n}.bias"):
                raise f.fail(f"{show(key)} comes with a bias, so it is a linear input layer, not an embedding: "
                             "lstm-tui feeds the embedding or the frames straight into the recurrent layer")
            embedding = f.get(key, ("V", E), f" (the embedding feeds {show(P)}weight_ih_l0)")
            info["embedding"] = emb_key = key
            break
    found: list[str] = []  # for the note: what was found by its shape, and a name that others could also fit
    if embedding is None and (key := _by_shape(f, parent, P, E, bias=False)):
        embedding, emb_key = f.get(key, ("V", E)), key
        info["embedding"] = key
        found.append(f"the embedding is {show(key)} (a table without a bias, {E} wide, as layer 0 reads)")
    head_W = head_b = None
    head_key = "the head"
    hidden, reads = [], f"the last layer's h, H={W}"
    for n, act in enumerate(head_hidden or ()):
        key = f"{parent}head.{n}.weight"
        hidden.append(Dense(*torch_head.linear(f, key, ("out", W), f" (it reads {reads})"), act))
        W, reads = hidden[-1].W.shape[0], f"{show(key)}'s output, {hidden[-1].W.shape[0]} wide"
    if activations:  # the user's: a head of hidden layers chained by shape (a state dict does not say its activations)
        hidden, key, said = torch_head.chain(f, parent, P, W, E, activations)
        found.append(said)
        W, reads = hidden[-1].W.shape[0], f"the head's hidden layer before it, {hidden[-1].W.shape[0]} wide"
        head_names = (key[len(parent) : -len(".weight")],)
    else:
        head_names = HEAD_NAMES
    for n in head_names:
        wkey, bkey = f"{parent}{n}.weight", f"{parent}{n}.bias"
        if f.has(wkey):
            head_W, head_b = torch_head.linear(f, wkey, ("V", W), f" (the head reads {reads})")
            head_key = wkey
            break
        if f.has(bkey) and embedding is not None:  # tied: safetensors kept the embedding's name only
            b = f.get(bkey, ("V",))
            if embedding.shape == (b.shape[0], W):
                head_W, head_b, head_key, info["tied"] = embedding, b, emb_key, True
                break
    if head_W is not None and not hidden and not activations and not info.get("tied"):
        if torch_head.readers(f, parent, P, head_W.shape[0], E):  # fc, then out: fc is a hidden layer of the head
            f.used -= {head_key, torch_head.bias_of(head_key)}
            head_W = head_b = None
            head_key = "the head"
        elif rivals := torch_head.readers(f, parent, P, W, -1):
            found.append(f"the head is {show(head_key)} by its name, though {', '.join(map(show, rivals))} also "
                         f"read{'s' * (len(rivals) == 1)} the last layer's {W} values")
    if head_W is None and not hidden and not activations and (key := _by_shape(f, parent, P, W, bias=None)):
        (head_W, head_b), head_key = torch_head.linear(f, key, ("V", W)), key
        found.append(f"the head is {show(key)} (the one layer reading the last layer's {W} values)")
    if head_W is not None:
        info["head"] = head_key
    elif head_pool:
        chain = torch_head.hint(f, parent, P, levels[-1].output_size)
        raise f.fail("--head-pool pools the steps for the head, and lstm-tui found no head in the file "
                     f"({', '.join(HEAD_NAMES)}, or one linear layer reading the last layer's {W} values)"
                     + (chain.replace("; they chain", ": its layers chain") if chain else ""))
    if head_pool:
        info["head_pool"] = head_pool
    if vocab is None:
        vocab = file_vocab(f)
    if embedding is None and head_W is not None and vocab is not None:
        if head_W.shape == (len(vocab), E) and E == W:
            embedding, info["tied"] = head_W, True  # safetensors kept one name of two tied tensors
            info["embedding"] = emb_key = head_key
    unread = [k for k in f.keys if k not in f.used and k.startswith(parent) and not k.endswith("num_batches_tracked")]
    notes = [f"found by shape or name: {'; '.join(found)}"] if found else []
    if head_pool and any(d.reverse for level in levels for d in directions(level)):
        notes.append(backward_note(head_pool, "--head-pool"))
    elif head_W is not None and isinstance(levels[-1], Bidirectional) and fmt == "pytorch":
        notes.append(f"{show(head_key)} reads the bidirectional layer's {levels[-1].output_size} values: lstm-tui applies "
                     "it at every position, to the forward and backward halves' h there; a classifier that reads the "
                     "final states (torch.cat((h_n[-2], h_n[-1]), 1)) pairs the forward half at the last position "
                     "with the backward half at the first, which no one position shows")
    if unread:
        hint = torch_head.hint(f, parent, P, levels[-1].output_size)
        if not hint and any(k.endswith(".weight") and not k.endswith(("norm.weight", "ln.weight")) for k in unread):
            hint = ("; a head with hidden layers (Linear, ReLU, Linear) keeps its activations in code, not in a "
                    "state dict: give them with --head-activations, or open an ONNX export of the model")
        notes.append(f"{len(unread)} arrays are not read: {list_keys(unread, 4)}: lstm-tui reads the recurrent "
                     f"layers, an embedding ({', '.join(EMBEDDING_NAMES)}) and one linear head "
                     f"({', '.join(HEAD_NAMES)}){hint}")
    if notes:
        info["notes"] = notes
    return assemble(f.name, path, levels, embedding=embedding, head_W=head_W, head_b=head_b, vocab=vocab,
                    meta=f.meta, info=info, embedding_key=emb_key, head_key=head_key, head_hidden=tuple(hidden),
                    head_pool=head_pool)


def _by_shape(f: Arrays, parent: str, P: str, width: int, bias: bool | None) -> str | None:
    """The one module beside the recurrent one (``parent`` + name + ``.weight``, not read yet) whose weight is
    [n, width]: an embedding (``bias=False``: a table has none, and its name says "emb") or a linear head (a bias
    or not; not one whose output another such module reads, which would make it a hidden layer). None when none
    or several fit."""
    weights = {k: s for k, s in torch_head.weights(f, parent, P).items() if "." not in k[len(parent) : -len(".weight")]}
    fits = [k for k, s in weights.items() if s[1] == width and (bias is None or f.has(torch_head.bias_of(k)) == bias)]
    if bias is False:  # a table: named as one (word_embeddings, tok_emb), not a bias-less linear layer
        fits = [k for k in fits if "emb" in (n := k[len(parent) :].lower()) and not any(w in n for w in ("pos", "proj"))]
    if bias is None:  # a layer whose output another reads, or that may read another's, is not the head
        fits = [k for k in fits if not any(weights[k][0] == s[1] or weights[k][1] == s[0]
                                           for o, s in weights.items() if o != k)]
    return fits[0] if len(fits) == 1 else None


def choose_prefix(f: Arrays, groups: dict, prefix: str | None) -> str:
    """The one recurrent module's prefix, from --prefix or because there is only one."""
    found = ", ".join(repr(g.rstrip(".")) if g else "'' (the top level)" for g in groups)
    if prefix is not None:
        P = prefix if prefix in ("", ".") or prefix.endswith(".") else prefix + "."
        P = "" if P == "." else P
        if P not in groups:
            raise f.fail(f"no recurrent weights under prefix {prefix!r} (expected {show(P)}weight_ih_l0); "
                         f"prefixes found: {found}")
        return P
    if len(groups) == 1:
        return next(iter(groups))
    raise f.fail(f"holds several recurrent modules ({found}): choose one with --prefix")


def meta_cell(f: Arrays) -> str | None:
    """The cell kind the metadata names, or None."""
    cell = f.meta.get("cell")
    if cell is None:
        return None
    kind = CELL_NAMES.get(str(cell).strip().lower())
    if kind is None:
        raise f.fail(f"metadata cell {cell!r} is not one of {', '.join(GATES)}")
    if kind == "rnn_tanh" and str(f.meta.get("nonlinearity", "")).lower() == "relu":
        kind = "rnn_relu"
    return kind


def _kind(f: Arrays, key: str, found: tuple, G: int, cell: str | None, expected, layout: str) -> str:
    """The cell kind from ``cell`` (metadata) or else the gate count G; ``expected(G)`` is the shape for G."""
    if cell is not None:
        if G != GATES[cell]:
            raise f.fail(f"{show(key)} has shape {dims(found)}, expected {dims(expected(GATES[cell]))} "
                         f"for cell {cell} (from the metadata)")
        return cell
    if G not in _KIND:
        raise f.fail(f"{show(key)} has shape {dims(found)}, expected {layout} with G = 4 (LSTM), 3 (GRU) or 1 (RNN)")
    if G == 1 and str(f.meta.get("nonlinearity", "")).strip().lower() == "relu":  # nn.RNN's own option's name
        return "rnn_relu"
    return _KIND[G]


def read_levels(f: Arrays, P: str, nums: list, spec: list | None) -> list[Layer | Bidirectional]:
    """The stack levels under prefix P: numbered ``_l{k}`` (or one cell module), each one or two directions."""
    if None in nums:  # nn.LSTMCell / nn.GRUCell / nn.RNNCell: one layer, no _l suffix
        tags = [""]
    else:
        if nums != list(range(len(nums))):
            raise f.fail(f"layers of {show(P)}weight_ih_l* are numbered {nums}, expected 0 to {len(nums) - 1}")
        tags = [f"_l{k}" for k in nums]
    if spec is not None and len(spec) != len(tags):
        raise f.fail(f"metadata 'layers' describes {len(spec)} level(s) but the file holds {len(tags)}")
    cell = meta_cell(f)
    levels: list[Layer | Bidirectional] = []
    for k, tag in enumerate(tags):
        sides = ["", "_reverse"] if f.has(f"{P}weight_ih{tag}_reverse") else [""]
        if spec is not None and len(spec[k]) != len(sides):
            raise f.fail(f"metadata 'layers' gives level {k} {len(spec[k])} direction(s) but the file holds "
                         f"{len(sides)}")
        dirs = []
        for d, side in enumerate(sides):
            opts = spec[k][d] if spec is not None else {}
            like = dirs[0] if d == 1 else None  # the backward direction has the forward one's shapes
            kind = opts.get("cell", like.cell if like is not None else cell)
            layer = _read_layer(f, P, tag + side, k, kind, like, levels[-1].output_size if levels else None)
            if k == 0 and d == 0 and spec is None:
                cell = layer.cell  # PyTorch's levels share one cell kind
            dirs.append(replace(layer, **{n: v for n, v in opts.items() if n != "cell"}))
        levels.append(Bidirectional(*dirs) if len(dirs) == 2 else dirs[0])
    return levels


def _read_layer(f: Arrays, P: str, tag: str, k: int, cell: str | None, like: Layer | None,
                below: int | None) -> Layer:
    """One direction of level k: keys ``{P}weight_ih{tag}`` and friends, checked against the level below."""
    wi, wh, bi, bh, hr = (f"{P}{n}{tag}" for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))
    W_hr = None
    if like is not None:  # the backward direction has the forward one's shapes
        GH, Pw, H = like.W_hh.shape[0], like.W_hh.shape[1], like.hidden_size
        if f.has(hr) != (like.W_hr is not None):
            raise f.fail(f"{show(hr if f.has(hr) else hr.removesuffix('_reverse'))} has no counterpart in the "
                         "other direction: both directions of a bidirectional level have the same projection")
        cell = like.cell if cell is None else cell
    else:
        W_hh = f.raw(wh)
        if f.has(hr):
            W_hr = f.raw(hr)
            if W_hr.ndim != 2 or 0 in W_hr.shape or W_hr.shape[0] >= W_hr.shape[1]:
                raise f.fail(f"{show(hr)} has shape {dims(W_hr.shape)}, expected [P, H] with P < H (proj_size)")
            Pw, H = W_hr.shape
            if W_hh.ndim != 2 or W_hh.shape[1] != Pw or W_hh.shape[0] % H:
                raise f.fail(f"{show(wh)} has shape {dims(W_hh.shape)}, expected [4*{H}, {Pw}] "
                             f"(the projection {show(hr)} is {dims(W_hr.shape)})")
            G = W_hh.shape[0] // H
            cell = _kind(f, wh, W_hh.shape, G, cell, lambda g: (g * H, Pw), "[G*H, P]")
            if cell != "lstm":
                raise f.fail(f"{show(hr)}: a projection (proj_size) belongs to an LSTM, not a {cell.upper()}")
        else:
            if W_hh.ndim != 2 or 0 in W_hh.shape:
                raise f.fail(f"{show(wh)} has shape {dims(W_hh.shape)}, expected [G*H, H]")
            if k > 0 and cell is not None and W_hh.shape[0] % GATES[cell] == 0:
                H = W_hh.shape[0] // GATES[cell]  # checked against (G*H, H) below
            elif W_hh.shape[0] % W_hh.shape[1] == 0:
                H = W_hh.shape[1]
            else:
                raise f.fail(f"{show(wh)} has shape {dims(W_hh.shape)}, expected [G*H, H]")
            Pw = H
            cell = _kind(f, wh, W_hh.shape, W_hh.shape[0] // H, cell, lambda g: (g * H, H), "[G*H, H]")
        GH = GATES[cell] * H
    W_hh = f.get(wh, (GH, Pw))
    if like is not None and like.W_hr is not None:
        W_hr = f.get(hr, (Pw, H))
    elif W_hr is not None:
        W_hr = f.get(hr, (Pw, H))
    if below is None:
        W_ih = f.get(wi, (GH, "E") if like is None else (GH, like.input_size))
    else:
        W_ih = f.get(wi, (GH, below), f" (layer {k} takes layer {k - 1}'s h)")
    b_ih = f.get(bi, (GH,)) if f.has(bi) else None
    b_hh = f.get(bh, (GH,)) if f.has(bh) else None
    return Layer(cell, W_ih, W_hh, b_ih, b_hh, W_hr, reverse=tag.endswith("_reverse"))
