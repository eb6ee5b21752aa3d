"""Keras weights saved as named arrays (an .npz of ``get_weights()``, or ``w.path`` names), converted to PyTorch's layout.

Per recurrent layer under a prefix P: ``{P}kernel`` (E, G*H),
``{P}recurrent_kernel`` (H, G*H) and ``{P}bias``: (4H,) for an LSTM (blocks
i, f, c, o: PyTorch's order; one bias, so b_hh = 0), (2, 3H) for a GRU with
``reset_after=True`` (blocks z, r, h; rows input bias, recurrent bias;
reordered to PyTorch's r, z, n), (3H,) for a GRU with ``reset_after=False``
(the reset gate acts before the recurrent product), (H,) for a SimpleRNN.
Layers are ``layer0/``, ``layer1/``, ... or, under other prefixes, in the
order they were saved; a prefix holding ``backward_`` right after one holding
``forward_`` (Keras's ``Bidirectional``) is that level's backward direction.
An embedding is a key ending in ``embeddings`` (V, E); a head is the one other
``{P}kernel`` (W, V) with ``{P}bias`` (V,). Activations are Keras's defaults
(tanh, sigmoid): the names carry no config; a ``.keras`` file does.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.cells import GATES, Bidirectional, Layer
from ..core.inputs import dims
from .arrays import Arrays, array_names, assemble, file_vocab, open_arrays
from .registry import show, vocabulary

#: This reader takes --prefix.
TAKES_PREFIX = True

KEY = re.compile(r"(.*?)recurrent_kernel")
_LAYER_PREFIX = re.compile(r"layer(\d{1,6})/")
_PYTORCH_KEY = re.compile(r".*weight_ih(?:_l\d{1,6})?(?:_reverse)?")


def groups_of(keys) -> list[str]:
    """The prefixes of Keras recurrent layers among ``keys``, in file order."""
    groups: list[str] = []
    for key in keys:
        if (m := KEY.fullmatch(key.removesuffix(":0"))) and m[1] not in groups:
            groups.append(m[1])
    return groups


def match(path: Path, head: bytes) -> bool:
    """A safetensors file or .npz with Keras names (``recurrent_kernel``) and no PyTorch ones."""
    names = array_names(path, head)
    if not names:
        return False
    return bool(groups_of(names)) and not any(_PYTORCH_KEY.fullmatch(n) for n in names)


def load(path: Path, *, prefix: str | None = None, vocab_path=None):
    """The model of Keras weights saved as named arrays (see the module docstring)."""
    vocab = vocabulary(vocab_path)
    return open_arrays(path, show(str(path)), lambda f: build(f, path, prefix, vocab))


def _gru_perm(H: int) -> np.ndarray:
    """Keras stacks z, r, h; PyTorch r, z, n."""
    return np.r_[H : 2 * H, 0:H, 2 * H : 3 * H]


def build(f: Arrays, path: Path, prefix: str | None, vocab):
    from .pytorch import meta_cell

    key_of = {k.removesuffix(":0"): k for k in f.keys}
    groups = groups_of(f.keys)
    recurrent = set(groups)
    if prefix is not None:
        p = prefix.rstrip("/")
        chosen = [g for g in groups if g == prefix or g.startswith(p + "/") or (not p and g == "")]
        if not chosen:
            found = ", ".join(repr(g) for g in groups)
            raise f.fail(f"no Keras recurrent weights under prefix {prefix!r}; prefixes found: {found}")
        groups = chosen
    numbered = [_LAYER_PREFIX.fullmatch(g) for g in groups]
    if all(numbered) and len(groups) > 1:
        order = sorted(int(m[1]) for m in numbered)
        if order != list(range(len(groups))):
            raise f.fail(f"Keras layers are numbered {order}, expected layer0/ to layer{len(groups) - 1}/")
        groups = sorted(groups, key=lambda g: int(_LAYER_PREFIX.fullmatch(g)[1]))
    # pair Bidirectional's forward_x/ and backward_x/ into one level
    paired: list[list[str]] = []
    for g in groups:
        if "backward_" in g:
            mate = g.replace("backward_", "forward_", 1)
            if not paired or paired[-1] != [mate]:
                raise f.fail(f"{show(key_of[g + 'recurrent_kernel'])} is a backward direction without its "
                             f"forward one ({show(mate)}recurrent_kernel) just before it")
            paired[-1].append(g)
        else:
            paired.append([g])

    def get(key, shape, why=""):
        return f.get(key_of.get(key, key), shape, why)

    cell = meta_cell(f)
    levels: list[Layer | Bidirectional] = []
    H = G = None
    for k, level in enumerate(paired):
        dirs = []
        for d, P in enumerate(level):
            rk, kk, bk = P + "recurrent_kernel", P + "kernel", P + "bias"
            R = f.raw(key_of[rk])
            if R.ndim != 2 or R.shape[0] == 0 or R.shape[1] % R.shape[0]:
                raise f.fail(f"{show(key_of[rk])} has shape {dims(R.shape)}, expected [H, G*H]")
            if k == 0 and d == 0:
                H = R.shape[0]
                cell = _kind(f, key_of[rk], R.shape, R.shape[1] // H, cell, H)
                G = GATES[cell]
            else:
                H = R.shape[0] if d == 0 and R.shape[1] == G * R.shape[0] else H
            R = get(rk, (H, G * H))
            if k == 0:
                K = get(kk, ("E", G * H) if d == 0 else (dirs[0].input_size, G * H))
            else:
                below = levels[-1].output_size
                K = get(kk, (below, G * H), f" (layer {k} takes layer {k - 1}'s h)")
            lbr = True
            if cell == "gru":
                perm = _gru_perm(H)
                W_ih, W_hh = K[:, perm].T, R[:, perm].T
                b_ih = b_hh = None
                if bk in key_of:
                    b = f.raw(key_of[bk])
                    if b.shape == (3 * H,):  # reset_after=False: one bias, reset before the recurrent product
                        b_ih, lbr = get(bk, (3 * H,))[perm], False
                    else:
                        b = get(bk, (2, 3 * H), " (input bias, recurrent bias of a reset_after=True GRU)")
                        b_ih, b_hh = b[0, perm], b[1, perm]
            else:
                # LSTM blocks i, f, c, o are PyTorch's i, f, g, o; one bias, so b_hh = 0.
                W_ih, W_hh = K.T, R.T
                b_ih, b_hh = (get(bk, (G * H,)) if bk in key_of else None), None
            dirs.append(Layer(cell, W_ih, W_hh, b_ih, b_hh, linear_before_reset=lbr, reverse=d == 1))
        levels.append(Bidirectional(*dirs) if len(dirs) == 2 else dirs[0])
    info = {"prefix": groups[0], "format": "keras"}
    E = levels[0].input_size
    W = levels[-1].output_size
    emb_keys = [k for k in key_of if k.endswith("embeddings")]
    if len(emb_keys) > 1:
        raise f.fail(f"holds several embeddings ({', '.join(map(show, emb_keys))}): keep one")
    embedding, emb_key = None, "the embedding"
    if emb_keys:
        embedding = get(emb_keys[0], ("V", E), f" (the embedding feeds {show(key_of[groups[0] + 'kernel'])})")
        info["embedding"] = emb_key = key_of[emb_keys[0]]
    dense = [k[: -len("kernel")] for k in key_of if k.endswith("kernel") and not k.endswith("recurrent_kernel")]
    dense = [d for d in dense if d not in recurrent]
    head_W = head_b = None
    head_key = "the head"
    if len(dense) > 1:
        raise f.fail(f"holds several dense layers ({', '.join(show(d + 'kernel') for d in dense)}): "
                     "lstm-tui shows one linear head after the recurrent layers; save only that one")
    if dense:
        kk, bk = dense[0] + "kernel", dense[0] + "bias"
        head_W = get(kk, (W, "V"), f" (the head reads the last layer's h, H={W})").T
        head_b = get(bk, (head_W.shape[0],)) if bk in key_of else None
        info["head"] = head_key = key_of[kk]
    if vocab is None:
        vocab = file_vocab(f)
    return assemble(f.name, path, levels, embedding=embedding, head_W=head_W, head_b=head_b, vocab=vocab,
                    meta=f.meta, info=info, embedding_key=emb_key, head_key=head_key)


def _kind(f: Arrays, key: str, found: tuple, G: int, cell: str | None, H: int) -> str:
    from .pytorch import _kind as kind

    return kind(f, key, found, G, cell, lambda g: (H, g * H), "[H, G*H]")
