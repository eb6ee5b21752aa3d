"""Keras models: ``.keras`` archives (``config.json`` + ``model.weights.h5``), bare ``.weights.h5`` files
and legacy ``.h5`` files (``model.save("model.h5")`` in Keras 3 or tf.keras: the config in the attribute
``model_config``, each layer's arrays under ``model_weights/<layer name>`` in the order of its
``weight_names``; a tf.keras file's ``hard_sigmoid`` is its own, 0.2 x + 0.5).

Read with h5py only (no TensorFlow, Keras or PyTorch). The config names each
layer's class and options; the weights file holds, for the layer that Keras
saved under the group name ``layers/<g>`` (its ``vars`` group's ``name``
attribute is the layer's name)::

    layers/<g>/cell/vars/0, 1, 2     kernel (E, G*H), recurrent_kernel (H, G*H), bias   LSTM, GRU, SimpleRNN
    layers/<g>/forward_layer/cell/vars/..., backward_layer/cell/vars/...                Bidirectional
    layers/<g>/vars/0                embeddings (V, E)                                  Embedding
    layers/<g>/vars/0, 1             kernel (W, V), bias (V,)                           Dense
    layers/<g>/layer/vars/0, 1       the Dense inside a TimeDistributed

Keras's gate blocks (LSTM i, f, c, o; GRU z, r, h) become PyTorch's (i, f, g,
o; r, z, n); one bias gives b_ih (b_hh = 0); a ``reset_after=True`` GRU's bias
rows are the input and recurrent biases; ``reset_after=False`` is
``Layer(linear_before_reset=False)``.

Directions. A Keras layer with ``go_backwards=True`` returns its outputs in the
order it computed them: the first is the one after reading the last input.
The next layer reads that reversed sequence. So in positions of the input
text, every layer after an odd number of ``go_backwards`` layers reads from the
end: its ``Layer.reverse`` is the parity of the ``go_backwards`` flags up to
and including it, and the model's output at Keras index k is position T-1-k
when the parity is odd (``meta["keras_order"] = "reversed"``).
``Bidirectional`` flips its backward half back, so it keeps the parity.

Tokens. A Keras file keeps no vocabulary: give one with --vocab, or the
token ids are the tokens ("0" ... "V-1", split on spaces), as for ONNX.

Outputs. ``return_sequences=False`` on the last recurrent layer makes Keras
return one step; lstm-tui still computes h and y at every position, and
Keras's output is the last step the layer computed (position T-1, or 0 for a
layer that reads from the end; for a Bidirectional layer, [forward h at T-1,
backward h at 0]) (``meta["keras_output"] = "last"``). A Dense head with
softmax gives y as Keras's probabilities; a linear one gives Keras's output as
lstm-tui's ``logits`` (y is their softmax); with any other activation the
logits are still the head's pre-activation and Keras's output is that
activation of them (``meta["head_activation"]`` names it in every case). A
``GlobalMaxPooling1D`` or ``GlobalAveragePooling1D`` before the head makes it a
pooling head (``core.pooling``): y at position t is the head on the pool of
positions 0..t, Keras's output at the last position (``meta["head_pool"]``).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.cells import DEFAULT_ACTIVATIONS, Bidirectional, Layer
from ..core.errors import ModelFileError
from ..core.inputs import first_line, read_json
from ..core.model import Dense, directions
from ..core.pooling import backward_note
from .arrays import ZIP_MAGIC, assemble, checked
from .keras_config import MASKS
from .keras_config import entries as _entries
from .keras_config import where as _where
from .keras_head import ACTIVATION_LAYERS, POOLING, activation_layer, batch_norm
from .keras_infer import infer, read_array, vars_of
from .keras_text import MAX_VOCAB_BYTES, is_vocabulary, text_vectorization
from .registry import fail, refuse, show, vocabulary

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: The largest config.json and model.weights.h5 read from a .keras archive.
MAX_CONFIG_BYTES = 16 * 1024**2
MAX_WEIGHTS_BYTES = 2 * 1024**3

#: Keras activation names and the (name, alpha, beta) lstm-tui's cells run.
ACTIVATIONS = {
    "tanh": ("Tanh", 0.0, 0.0),
    "sigmoid": ("Sigmoid", 0.0, 0.0),
    "relu": ("Relu", 0.0, 0.0),
    "linear": ("Affine", 1.0, 0.0),
    "hard_sigmoid": ("HardSigmoid", 1 / 6, 0.5),  # Keras 3: relu6(x + 3) / 6
    "elu": ("Elu", 1.0, 0.0),
    "softsign": ("Softsign", 0.0, 0.0),
    "softplus": ("Softplus", 0.0, 0.0),
    "leaky_relu": ("LeakyRelu", 0.2, 0.0),  # Keras 3's default negative_slope
}
#: tf.keras (Keras 2) defined hard_sigmoid as 0.2 x + 0.5 (clipped); its legacy .h5 files say keras_version 2.x.
ACTIVATIONS_KERAS2 = {**ACTIVATIONS, "hard_sigmoid": ("HardSigmoid", 0.2, 0.5)}
RECURRENT = ("LSTM", "GRU", "SimpleRNN")
#: Layers that do nothing at inference: skipped.
IDENTITY = ("InputLayer", "Dropout", "SpatialDropout1D", "GaussianDropout", "GaussianNoise", "AlphaDropout",
            "ActivityRegularization", "Masking")
KNOWN = ("InputLayer", "TextVectorization", "Embedding", *RECURRENT, "Bidirectional", "Dense", "TimeDistributed(Dense)",
         "BatchNormalization in the head", "GlobalMaxPooling1D or GlobalAveragePooling1D before it",
         "Activation, Softmax, ReLU, LeakyReLU or ELU after a Dense", "Dropout")
_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


def match(path: Path, head: bytes) -> bool:
    """An HDF5 file, or a zip holding config.json and model.weights.h5, or a .keras/.h5 name."""
    if head.startswith(HDF5_MAGIC) or path.suffix.lower() in (".keras", ".h5", ".hdf5"):
        return True
    if head.startswith(ZIP_MAGIC):
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
        return "config.json" in names and "model.weights.h5" in names
    return False


def load(path: Path, *, vocab_path=None):
    """The model of a Keras 3 ``.keras`` archive or ``.weights.h5`` file (see the module docstring)."""
    import h5py

    vocab = vocabulary(vocab_path)
    file = show(str(path))
    with open(path, "rb") as fh:
        magic = fh.read(8)
    config, assets = None, {}
    if magic.startswith(ZIP_MAGIC):
        config, blob, assets = _read_archive(file, path)
        source = io.BytesIO(blob)
    elif magic == HDF5_MAGIC:
        source = str(path)
    else:
        raise fail(file, "neither a .keras archive (a zip) nor an HDF5 .weights.h5 file")
    try:
        h5 = h5py.File(source, "r")
    except Exception as exc:  # OSError from a damaged or truncated file
        what = "its model.weights.h5" if config is not None else "it"
        raise fail(file, f"{what} is not a valid HDF5 file ({first_line(exc)})") from None
    with h5:
        try:
            return _from_h5(file, path, h5, config, vocab, assets)
        except ModelFileError:
            raise
        except Exception as exc:  # h5py on a damaged file: OSError, KeyError, RuntimeError, ValueError, ...
            raise fail(file, f"cannot read the weights ({first_line(exc)})") from None


def _from_h5(file: str, path: Path, h5, config: dict | None, vocab, assets: dict):
    if "layers" not in h5:
        if config is None and "model_config" in h5.attrs and "model_weights" in h5:
            return _legacy(file, path, h5, vocab)
        if "layer_names" in h5.attrs or "model_weights" in h5:
            raise fail(file, "is a legacy .h5 file of weights only (no model_config): save the model with "
                             "model.save('model.keras')")
        raise fail(file, "holds no 'layers' group: not a Keras 3 weights file (model.save_weights)")
    if config is None:
        notes = {"config": "none: structure from the weights' shapes, default activations assumed"}
        return _build(file, path, infer(file, h5["layers"]), vocab, notes)
    return _build(file, path, _entries(file, config, h5["layers"]), vocab, {}, assets=assets)


class LegacyWeights:
    """One layer's arrays in a legacy ``.h5`` (``model.save("model.h5")``, Keras 3 or tf.keras): the
    ``weight_names`` of ``model_weights/<layer>``, in order. A Bidirectional's are named
    ``[<model>/]<layer>/<sub-layer>/<cell>/<variable>``, the sub-layers named in the config (tf.keras adds
    ``forward_``, ``backward_``): see :meth:`half`."""

    def __init__(self, group, items=None):
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
        self.group, self.items = group, [(n, group[n]) for n in names] if items is None else items

    def arrays(self, path: tuple[str, ...]) -> list[np.ndarray]:
        return [read_array(ds) for _n, ds in self.items]

    def half(self, mine: set, theirs: set) -> LegacyWeights:
        """The arrays of the sub-layer named one of ``mine``: in each path, the component nearest the variable
        that names only one of the sub-layers decides."""
        def ours(n: str) -> bool:
            return next(((p in mine) for p in reversed(n.split("/")[:-1]) if (p in mine) != (p in theirs)), False)
        return LegacyWeights(self.group, [(n, ds) for n, ds in self.items if ours(n)])


def _legacy(file: str, path: Path, h5, vocab):
    """A legacy .h5 holding its config (attribute model_config) and its weights (group model_weights)."""
    raw = h5.attrs["model_config"]
    try:
        config = read_json(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError as exc:
        raise fail(file, f"model_config is not valid JSON ({first_line(exc)})") from None
    if not isinstance(config, dict):
        raise fail(file, "model_config is not a model config (a JSON object)")
    version = h5.attrs.get("keras_version", b"")
    version = version.decode() if isinstance(version, bytes) else str(version)
    weights = h5["model_weights"]
    groups = {k: LegacyWeights(weights[k]) for k in weights if hasattr(weights[k], "attrs")}
    notes = {"keras_version": show(version)} if version else {}
    entries = _entries(file, config, weights, groups, "model_config")
    return _build(file, path, entries, vocab, notes, keras2=version.startswith("2."))


def _read_archive(file: str, path: Path) -> tuple[dict, bytes, dict]:
    """config.json (parsed), the bytes of model.weights.h5 and of each vocabulary file (by name) from a .keras zip."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = {i.filename: i for i in z.infolist()}
            if "config.json" not in infos:
                raise fail(file, "holds no config.json: not a Keras 3 .keras archive (model.save)")
            if "model.weights.h5" not in infos:
                raise fail(file, "holds a config.json but no model.weights.h5: the weights are missing")
            for name, limit in (("config.json", MAX_CONFIG_BYTES), ("model.weights.h5", MAX_WEIGHTS_BYTES)):
                if infos[name].file_size > limit:
                    raise fail(file, f"{name} unpacks to {infos[name].file_size} bytes, more than lstm-tui reads")
            raw = z.read("config.json")
            blob = z.read("model.weights.h5")
            vocabularies = [n for n in infos if is_vocabulary(n)]
            for name in vocabularies:
                if infos[name].file_size > MAX_VOCAB_BYTES:
                    raise fail(file, f"{show(name)} unpacks to {infos[name].file_size} bytes, more than lstm-tui reads")
            assets = {name: z.read(name) for name in vocabularies[:64]}
    except zipfile.BadZipFile as exc:
        raise fail(file, f"not a valid .keras archive ({first_line(exc)})") from None
    except (OSError, EOFError, RuntimeError, ValueError) as exc:  # zlib.error, CRC errors, truncation
        if isinstance(exc, ModelFileError):
            raise
        raise fail(file, f"not a valid .keras archive ({first_line(exc)})") from None
    try:
        config = read_json(raw)
    except ValueError as exc:
        raise fail(file, f"config.json is not valid JSON ({first_line(exc)})") from None
    if not isinstance(config, dict):
        raise fail(file, "config.json is not a model config (a JSON object)")
    return config, blob, assets


# --- layers to levels ---------------------------------------------------------------------


def _activation(file: str, where: str, option: str, value, table: dict = ACTIVATIONS) -> tuple[str, float, float]:
    if isinstance(value, tuple):  # (name, alpha, beta) already: LeakyReLU(negative_slope) as a layer
        return value
    if value is None:
        value = "linear"
    if isinstance(value, str) and value in table:
        return table[value]
    shown = value if isinstance(value, str) else json.dumps(value)[:60]
    raise refuse(file, where, f"{option} {show(shown)!r}",
                 f"one of {', '.join(ACTIVATIONS)} (the activations lstm-tui's cells run)")


def _arrays(file: str, where: str, group, path: tuple[str, ...], names: tuple[str, ...]) -> list[np.ndarray]:
    """The weights of one layer, at least the first len(names) - 1 of them."""
    if group is None:
        raise fail(file, f"{where}: the file holds no weights for it")
    if isinstance(group, LegacyWeights):
        return group.arrays(path)
    w = vars_of(group, *path)
    if w is None:
        raise fail(file, f"{where}: no weights at {show(group.name)}/{'/'.join(path + ('vars',))}")
    return w


def _recurrent(file: str, where: str, cls: str, cfg: dict, group, path: tuple, E: int, reverse: bool,
               table: dict = ACTIVATIONS) -> Layer:
    """One direction of a Keras LSTM, GRU or SimpleRNN as a Layer in PyTorch's layout."""
    units = cfg.get("units")
    if not isinstance(units, int) or units < 1:
        raise fail(file, f"{where}: units {show(str(units))} is not a positive whole number")
    if cfg.get("time_major"):
        raise refuse(file, where, "time_major=True", "batch-major inputs (time_major=False)")
    H, G = units, _GATES[cls]
    act = _activation(file, where, "activation", cfg.get("activation", "tanh"), table)
    use_bias = bool(cfg.get("use_bias", True))
    reset_after = bool(cfg.get("reset_after", True))
    w = _arrays(file, where, group, path, ())
    want = 3 if use_bias else 2
    if len(w) != want:
        raise fail(file, f"{where}: holds {len(w)} weight arrays, expected {want} (kernel, recurrent kernel"
                         f"{', bias' if use_bias else ''}; use_bias={use_bias})")
    K = checked(file, f"{where} kernel", w[0], (E, G * H), f" (input width {E}, units {H})")
    R = checked(file, f"{where} recurrent kernel", w[1], (H, G * H))
    b = None
    if use_bias:
        shape = (2, 3 * H) if cls == "GRU" and reset_after else (G * H,)
        b = checked(file, f"{where} bias", w[2], shape,
                    " (reset_after=True: input and recurrent bias)" if len(shape) == 2 else "")
    if cls == "LSTM":
        rec = _activation(file, where, "recurrent_activation", cfg.get("recurrent_activation", "sigmoid"), table)
        acts = (rec, act, act)
        return _layer("lstm", K.T, R.T, b, None, acts, reverse)
    if cls == "GRU":
        rec = _activation(file, where, "recurrent_activation", cfg.get("recurrent_activation", "sigmoid"), table)
        perm = np.r_[H : 2 * H, 0:H, 2 * H : 3 * H]  # Keras z, r, h -> PyTorch r, z, n
        b_ih = b_hh = None
        if b is not None:
            b_ih, b_hh = (b[0, perm], b[1, perm]) if reset_after else (b[perm], None)
        return _layer("gru", K[:, perm].T, R[:, perm].T, b_ih, b_hh, (rec, act), reverse, reset_after)
    if act == ACTIVATIONS["relu"]:
        return _layer("rnn_relu", K.T, R.T, b, None, None, reverse)
    return _layer("rnn_tanh", K.T, R.T, b, None, (act,), reverse)


def _layer(cell, W_ih, W_hh, b_ih, b_hh, acts, reverse, linear_before_reset=True) -> Layer:
    if acts is not None and tuple(acts) == DEFAULT_ACTIVATIONS[cell]:
        acts = None
    return Layer(cell, np.ascontiguousarray(W_ih), np.ascontiguousarray(W_hh), b_ih, b_hh,
                 activations=None if acts is None else tuple(acts), linear_before_reset=linear_before_reset,
                 reverse=reverse)


def _build(file: str, path: Path, entries: list, vocab, notes: dict, keras2: bool = False, assets: dict | None = None):
    embedding = head_W = head_b = None
    text = None  # (vocabulary, tokenizer) of a TextVectorization layer
    levels: list[Layer | Bidirectional] = []
    info: dict = {"format": "keras", **notes}
    flip = False  # Keras's sequence index k is position T-1-k
    width = None  # the width of the sequence flowing on (None before the first layer with weights)
    sequence = True  # False after return_sequences=False
    head_name = None
    pool = pool_where = ""  # a global pooling over the steps before the head (core.pooling), and its layer
    head_where, head_act, hidden = "", "linear", []  # the head so far, its activation, and the Dense layers before it
    fold = None  # Keras's input to the next layer as a matrix of the last level's output: the units in another
    # order (a Bidirectional read from the end), or its halves summed or averaged (merge_mode sum, ave)
    names: list[str] = []  # Keras's name of each level
    table = ACTIVATIONS_KERAS2 if keras2 else ACTIVATIONS
    said: list[str] = []  # the notes a user reads: where lstm-tui's numbers are not Keras's output as it is
    backwards: list[str] = []  # the layers with go_backwards=True
    skips = ("Keras skips them, carrying the state over; lstm-tui runs every step, so from such a step on its "
             "numbers are not Keras's")
    for cls, name, cfg, group in entries:
        where = _where(name, cls)
        if cls == "Masking":
            said.append(f"{where}: steps whose inputs all equal {cfg.get('mask_value', 0.0)} are padding: {skips}")
        if cls in MASKS:  # a functional model's record of a mask (the Embedding's mask_zero says it)
            if "mask_zero" not in info:
                said.append(f"{where}: a mask of the steps: {skips}")
            continue
        if cls in IDENTITY:
            continue
        if cls == "TimeDistributed":
            inner = cfg.get("layer") if isinstance(cfg.get("layer"), dict) else {}
            if inner.get("class_name") != "Dense":
                raise refuse(file, where, f"wraps a {show(str(inner.get('class_name')))}", "TimeDistributed(Dense)")
            cls, cfg, sub = "Dense", inner.get("config") or {}, ("layer",)
        else:
            sub = ()
        if cls in ACTIVATION_LAYERS and head_name is not None and info["head_activation"] == "linear":
            head_act = activation_layer(file, where, cls, cfg, sequence)
            head_where = where  # a refusal of the activation names this layer
            info["head_activation"] = show(head_act if isinstance(head_act, str) else json.dumps(head_act)[:60])
            continue  # Dense(V) then Activation("softmax"), Dense(64) then ReLU(): one layer with its activation
        if cls in POOLING:
            if not levels or head_name is not None or pool:
                raise refuse(file, where, "a pooling layer here" if levels else "a pooling layer before the recurrent layers",
                             "one global pooling right after the last recurrent layer, before any Dense")
            if not sequence:
                raise refuse(file, where, "pools the one step a layer with return_sequences=False gives",
                             "return_sequences=True on the layer before it")
            if cfg.get("data_format") not in (None, "channels_last"):
                raise refuse(file, where, f"data_format {show(str(cfg.get('data_format')))!r} (a pool over the units)",
                             "channels_last (a pool over the steps)")
            if POOLING[cls] == "max" and fold is not None and fold.shape[0] != fold.shape[1]:
                raise refuse(file, where, "the max of a Bidirectional layer's merged halves (merge_mode sum or ave)",
                             "merge_mode concat before a GlobalMaxPooling1D")
            pool, pool_where, sequence = POOLING[cls], where, False
            info["head_pool"] = pool
            continue
        if head_name is not None and cls not in ("Dense", "BatchNormalization"):
            raise refuse(file, where, f"comes after the head {show(head_name)!r}",
                         "Dense layers as the last layers (the head)")
        if head_name is not None:  # Dense(64, "relu"), Dense(V): the one before is a hidden layer of the head
            act = _activation(file, head_where, "activation", head_act, table)
            hidden.append(Dense(head_W, head_b, act))
        if cls == "TextVectorization":
            if levels or embedding is not None or text is not None:
                raise refuse(file, where, "a TextVectorization after other layers", "it first, before the Embedding")
            *text, said_here = text_vectorization(file, where, cfg, group, assets)
            said += said_here
            info["text_vectorization"] = name
            continue
        if cls == "Embedding":
            if levels or embedding is not None:
                raise refuse(file, where, "an embedding after other layers", "the Embedding first")
            w = _arrays(file, where, group, sub, ("embeddings",))
            if len(w) != 1:  # LoRA's a and b beside the table
                raise fail(file, f"{where}: holds {len(w)} weight arrays, expected 1 (the table; merge any LoRA "
                                 "weights into it first)")
            V, E = cfg.get("input_dim"), cfg.get("output_dim")
            embedding = checked(file, f"{where} embeddings", w[0], (V if isinstance(V, int) else "V",
                                                                     E if isinstance(E, int) else "E"))
            width = embedding.shape[1]
            if cfg.get("mask_zero"):
                info["mask_zero"] = "ignored: id 0 is read like any other token"
                said.append(f"{where}: mask_zero=True: the steps of token id 0 are padding: {skips}")
            info["embedding"] = name
            continue
        if cls in RECURRENT or cls == "Bidirectional":
            if "config" in info:  # a config inferred from the shapes (keras_infer.py)
                inner = cfg["layer"] if cls == "Bidirectional" else {"class_name": cls, "config": cfg}
                if inner["class_name"] == "GRU" and not inner["config"]["use_bias"]:
                    said.append(f"{where}: a GRU without biases does not say its reset_after: Keras's default "
                                "(True) assumed")
            if pool:
                raise refuse(file, where, f"follows the pooling layer {pool_where}", "recurrent layers before it")
            if not sequence:
                raise refuse(file, where, "follows a layer with return_sequences=False",
                             "return_sequences=True on every recurrent layer but the last")
            E = width if width is not None else _input_width(file, where, cls, cfg, group)
            if cls == "Bidirectional":
                level, seq = _bidirectional(file, where, cfg, group, E, flip, table)
            else:
                if cfg.get("go_backwards", False):
                    flip = not flip
                    backwards.append(show(name))
                level = _recurrent(file, where, cls, cfg, group, ("cell",), E, flip, table)
                seq = cfg.get("return_sequences", False)
            if fold is not None:  # the level below gives Keras's input to this one through ``fold``
                level = _fold_inputs(level, fold)
            fold = None
            merge = cfg.get("merge_mode", "concat") if cls == "Bidirectional" else "concat"
            if isinstance(level, Bidirectional):
                H = level.forward.output_size
                if flip:  # Keras's forward half reads from the end here: lstm-tui's forward direction is Keras's
                    # backward half, so the level's units come as [Keras backward, Keras forward]
                    level = Bidirectional(level.backward, level.forward)
                    info.setdefault("keras_units", f"{name}: backward half first")
                    fold = np.eye(2 * H)[np.r_[H : 2 * H, 0:H]]
                if merge != "concat":  # [I I] or [I I] / 2: halves in either order
                    fold = np.hstack([np.eye(H)] * 2) * (0.5 if merge == "ave" else 1.0)
                    said.append(f"{where}: merge_mode={merge}: Keras passes on the {merge} of the two halves; "
                                "lstm-tui shows them side by side, and the layer after it reads their "
                                f"{merge} (its weights, [W W]{' / 2' if merge == 'ave' else ''})")
            if levels and _family(level.cell) != _family(levels[0].cell):
                raise refuse(file, where, f"a {level.cell.upper()} layer after {levels[0].cell.upper()} layers",
                             "layers of one kind (LSTM, GRU or SimpleRNN): the panels show one cell's gates")
            levels.append(level)
            names.append(name)
            width = level.output_size if merge == "concat" else level.output_size // 2  # what Keras passes on
            sequence = bool(seq)
            continue
        if cls in ("Dense", "BatchNormalization"):
            if not levels:
                raise refuse(file, where, f"a {cls} layer before the recurrent layers",
                             "Dense and BatchNormalization only in the head after them")
            reads = f"the head's layer {show(head_name)!r}" if head_name else "the last layer's h"
            if cls == "BatchNormalization":  # at inference an affine map of each unit: a Dense of diagonal weights
                kernel, bias = batch_norm(file, where, cfg, _arrays(file, where, group, sub, ()), width, sequence)
                head_act = "linear"
            else:
                units = cfg.get("units")
                use_bias = bool(cfg.get("use_bias", True))
                w = _arrays(file, where, group, sub, ())
                if len(w) != (2 if use_bias else 1):
                    raise fail(file, f"{where}: holds {len(w)} weight arrays, expected {2 if use_bias else 1} "
                                     f"(use_bias={use_bias})")
                kernel = checked(file, f"{where} kernel", w[0], (width, units if isinstance(units, int) else "V"),
                                 f" (it reads {reads}, width {width})")
                bias = w[1] if use_bias else None
                head_act = cfg.get("activation") or "linear"
            head_W = kernel.T
            if fold is not None:
                head_W = head_W @ fold.astype(head_W.dtype)
            fold, width = None, head_W.shape[0]
            head_b = checked(file, f"{where} bias", bias, (head_W.shape[0],)) if bias is not None else None
            info["head_activation"] = show(head_act if isinstance(head_act, str) else json.dumps(head_act)[:60])
            info["head"] = head_name = name
            head_where = where
            continue
        raise refuse(file, where, "not a layer lstm-tui runs", ", ".join(KNOWN))
    if not levels:
        raise fail(file, "holds no LSTM, GRU or SimpleRNN layer")
    info["keras_layers"] = show(", ".join(names))
    if "config" in info:
        said.insert(0, "a .weights.h5 holds no config: the layers' order comes from their shapes, and Keras's default "
                       "activations and options (go_backwards=False, ...) are assumed, and layers without weights "
                       "(GlobalMaxPooling1D, ...) leave no trace: open the .keras file if the model had others")
    if flip:
        info["keras_order"] = "reversed"
        if sequence:  # a one-step output has no order (its note is below)
            said.append(f"go_backwards on {', '.join(repr(n) for n in backwards)}: Keras's output lists its steps in "
                        "reversed order, lstm-tui keeps each at its token's position")
    if pool and head_W is None:
        raise refuse(file, pool_where, "no Dense after it", "a Dense head reading the pool")
    if pool and any(d.reverse for level in levels for d in directions(level)):
        said.append(backward_note(pool, pool_where))
    if not sequence and not pool:
        info["keras_output"] = "last"
        if isinstance(levels[-1], Bidirectional):
            one = ("the forward half's h at the last position beside the backward half's at the first, a pair no "
                   "one position shows (nor its y)")
        else:
            one = "one step, the last this layer computed (h at the last position it read)"
        said.append(f"{_where(names[-1], 'return_sequences=False')}: Keras's output is {one}; lstm-tui shows "
                    "every position")
    act = info.get("head_activation", "linear")
    one_output = head_W is not None and head_W.shape[0] == 1  # y is σ(logit), Keras's sigmoid output
    if head_name is not None and act not in ("linear", "softmax", "log_softmax") and not (one_output and act == "sigmoid"):
        said.append(f"head {show(head_name)!r} has activation {act}: lstm-tui's logits are its pre-activation and "
                    f"y their {'σ' if one_output else 'softmax'}, not Keras's output ({act} of the logits)")
    if said:
        info["notes"] = said
    if hidden:
        info["head_hidden"] = show(", ".join(f"{d.W.shape[0]} {d.activation[0]}" for d in hidden))
    meta = {}
    if text is not None:
        if embedding is None:
            raise refuse(file, _where(info["text_vectorization"], "TextVectorization"), "no Embedding after it",
                         "an Embedding reading its token ids")
        words, meta["tokenizer"] = text
        if words is None and vocab is None:
            raise fail(file, f"{_where(info['text_vectorization'], 'TextVectorization')}: a legacy .h5 keeps no "
                             "vocabulary (Keras saves it beside the model in a .keras file): open the .keras file, "
                             "or give the vocabulary with --vocab")
        if vocab is None and len(words) > len(embedding):
            raise fail(file, f"{_where(info['text_vectorization'], 'TextVectorization')}: its vocabulary has "
                             f"{len(words)} tokens but the embedding has {len(embedding)} rows")
        if vocab is None:  # ids past the vocabulary (Embedding(max_tokens) over a smaller one): no token gives them
            vocab = words + tuple(f"<unused {i}>" for i in range(len(words), len(embedding)))
    return assemble(file, path, levels, embedding=embedding, head_W=head_W, head_b=head_b, vocab=vocab,
                    meta=meta, info=info, embedding_key=f"embedding {info.get('embedding', '')!r}",
                    head_key=f"head {head_name!r}", head_is_vocab=False, head_hidden=tuple(hidden), head_pool=pool)


def _family(cell: str) -> str:
    """Cells that record the same quantities: rnn_tanh and rnn_relu are one family."""
    return "rnn" if cell.startswith("rnn") else cell


def _fold_inputs(level, fold: np.ndarray):
    """``level`` reading the level below's output, where Keras gave it ``fold`` @ that output (W_ih @ fold)."""
    def one(d: Layer) -> Layer:
        return replace(d, W_ih=np.ascontiguousarray(d.W_ih @ fold.astype(d.W_ih.dtype)))

    return Bidirectional(one(level.forward), one(level.backward)) if isinstance(level, Bidirectional) else one(level)


def _input_width(file: str, where: str, cls: str, cfg: dict, group) -> int:
    """The first recurrent layer's input width, from its kernel."""
    path = ("forward_layer", "cell") if cls == "Bidirectional" else ("cell",)
    w = _arrays(file, where, group, path, ())
    if not w or w[0].ndim != 2:
        raise fail(file, f"{where}: expected a kernel [E, G*H]")
    return w[0].shape[0]


def _bidirectional(file: str, where: str, cfg: dict, group, E: int, flip: bool, table: dict):
    """A Bidirectional wrapper (merge_mode concat, sum or ave) as one stack level, and its return_sequences."""
    mode = cfg.get("merge_mode", "concat")
    if mode not in ("concat", "sum", "ave"):
        raise refuse(file, where, f"merge_mode {show(str(mode)[:40])!r}",
                     "'concat', 'sum' or 'ave' (a product of the halves, or the two apart, is not one layer's input)")
    inner = cfg.get("layer")
    if not isinstance(inner, dict) or inner.get("class_name") not in RECURRENT:
        cls = inner.get("class_name") if isinstance(inner, dict) else None
        raise refuse(file, where, f"wraps a {show(str(cls))}", "a wrapped LSTM, GRU or SimpleRNN")
    back = cfg.get("backward_layer") or {"class_name": inner["class_name"],
                                         "config": {**inner.get("config", {}), "go_backwards": True}}
    fcfg, bcfg = inner.get("config") or {}, back.get("config") or {}
    if fcfg.get("go_backwards") or not bcfg.get("go_backwards", True):
        raise refuse(file, where, "a forward layer with go_backwards=True (or a backward one without)",
                     "Bidirectional(layer) with the layer reading forwards")
    if back.get("class_name") != inner["class_name"]:
        raise refuse(file, where, f"a {show(str(back.get('class_name')))} backward layer beside a "
                                  f"{show(inner['class_name'])}", "both directions of one kind")
    fgroup = bgroup = group
    if isinstance(group, LegacyWeights):
        fnames, bnames = ({str(c.get("name")), f"{side}_{c.get('name')}"} for c, side in
                          ((fcfg, "forward"), (bcfg, "backward")))
        fgroup, bgroup = group.half(fnames, bnames), group.half(bnames, fnames)
    fwd = _recurrent(file, f"{where} forward", inner["class_name"], fcfg, fgroup, ("forward_layer", "cell"), E, flip,
                     table)
    bwd = _recurrent(file, f"{where} backward", back["class_name"], bcfg, bgroup, ("backward_layer", "cell"), E,
                     not flip, table)
    if bwd.W_hh.shape != fwd.W_hh.shape:
        raise refuse(file, where, f"a backward layer of {bwd.hidden_size} units beside {fwd.hidden_size}",
                     "both directions of one width")
    return Bidirectional(fwd, bwd), fcfg.get("return_sequences", False)
