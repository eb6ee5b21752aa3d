"""Reading and writing model weights files.

Writing: a whole model is saved as safetensors under the key names of
PyTorch's ``word_language_model`` example: ``encoder.weight`` (V, E) for the
embedding, ``rnn.weight_ih_l{k}`` and friends for the recurrent layers, and
``decoder.weight`` (V, H), ``decoder.bias`` (V,) for the output head. The
metadata carries ``cell``, ``vocab`` (a JSON list of token strings, index =
id), ``tokenizer`` (``char`` or ``word``), ``name`` and ``description``.

Reading (:func:`load_file`) takes ``.safetensors``, ``.npz`` and, through
``torch.load(weights_only=True)`` only, ``.pt``/``.pth``. Two namings:

PyTorch (a ``state_dict``)
    ``{P}weight_ih_l{k}`` (G*H, E), ``{P}weight_hh_l{k}`` (G*H, H),
    ``{P}bias_ih_l{k}``, ``{P}bias_hh_l{k}`` (G*H,) for layer k of an
    ``nn.LSTM``/``nn.GRU``/``nn.RNN`` under the prefix P (``""`` for a bare
    module, ``"rnn."`` in ``word_language_model``); biases may be absent
    (``bias=False``). The cell-module form (``{P}weight_ih`` of an
    ``nn.LSTMCell``) is one layer. Beside the recurrent module, under the same
    parent, an embedding ``encoder|embedding|embed|embeddings|emb.weight``
    (V, E) and a head ``decoder|fc|linear|head|out|output|lm_head.weight``
    (V, H) with an optional ``.bias`` (V,) are found by name. A head without
    an embedding, in a file with a vocabulary, whose W is (V, E) with E = H is
    taken as tied weights (``safetensors.torch.save_model`` keeps only
    ``decoder.weight`` of ``word_language_model --tied``); a head bias without
    its weight takes the embedding's.

Keras (see :func:`load_file` for how to save them)
    ``{P}kernel`` (E, G*H), ``{P}recurrent_kernel`` (H, G*H) and ``{P}bias``
    per layer: (4H,) for an LSTM (blocks i, f, c, o: PyTorch's order, one bias
    so b_hh = 0), (2, 3H) for a GRU with ``reset_after=True`` (blocks z, r, h,
    rows: input bias, recurrent bias; reordered to PyTorch's r, z, n), (H,)
    for a SimpleRNN. Layers are ``layer0/``, ``layer1/``, ... or, under other
    prefixes, in the order they were saved. An embedding is a key ending in
    ``embeddings`` (V, E); a head is the one other ``{P}kernel`` (H, V) with
    ``{P}bias`` (V,). Keras's default activations (tanh, sigmoid) are assumed.

The cell kind comes from the metadata ``cell`` (``lstm``, ``gru``,
``rnn_tanh``, ``rnn_relu``; ``rnn`` is tanh) or from the gate count G: 4 is
an LSTM, 3 a GRU, 1 a tanh RNN (a relu RNN must say ``cell = rnn_relu``).
Metadata is safetensors' string metadata, string arrays of an ``.npz``
(``vocab`` a 1-D unicode array, ``tokenizer`` a 0-d string) or the plain
entries beside a ``.pt`` checkpoint's state dict.
"""

from __future__ import annotations

import json
import os
import pickle  # only for its exception class: nothing here unpickles
import re
import warnings
from pathlib import Path

import numpy as np

from . import tokenize
from .cells import GATES, Layer
from .errors import InputError, ModelFileError, UserError, inert
from .export import atomic_write
from .model import Model

#: File endings that mark a --model spec as a path rather than a built-in name.
MODEL_SUFFIXES = (".safetensors", ".npz", ".pt", ".pth", ".h5", ".keras")

#: Names of the embedding beside the recurrent module, most common first.
EMBEDDING_NAMES = ("encoder", "embedding", "embed", "embeddings", "emb")
#: Names of the linear output head beside the recurrent module, most common first.
HEAD_NAMES = ("decoder", "fc", "linear", "head", "out", "output", "lm_head")
#: String metadata a file may carry.
META_KEYS = ("cell", "vocab", "tokenizer", "name", "description", "nonlinearity")

#: --inputs longer than this are refused: the trace keeps every step of every gate.
MAX_FRAMES = 100_000

_CELL_NAMES = {
    "lstm": "lstm",
    "gru": "gru",
    "rnn": "rnn_tanh",
    "rnn_tanh": "rnn_tanh",
    "rnn_relu": "rnn_relu",
    "simple_rnn": "rnn_tanh",
    "simplernn": "rnn_tanh",
}
_KIND = {4: "lstm", 3: "gru", 1: "rnn_tanh"}
_TORCH_KEY = re.compile(r"(.*?)weight_ih(?:_l(\d{1,6}))?")
_KERAS_KEY = re.compile(r"(.*?)recurrent_kernel")
_LAYER_PREFIX = re.compile(r"layer(\d{1,6})/")
_STATE_DICT_NAMES = ("state_dict", "model_state_dict", "model", "net", "weights")


def model_tensors(model: Model, prefix: str = "rnn.") -> dict[str, np.ndarray]:
    """The model's arrays under PyTorch's key names."""
    out: dict[str, np.ndarray] = {}
    for k, layer in enumerate(model.layers):
        out[f"{prefix}weight_ih_l{k}"] = layer.W_ih
        out[f"{prefix}weight_hh_l{k}"] = layer.W_hh
        out[f"{prefix}bias_ih_l{k}"] = layer.b_ih
        out[f"{prefix}bias_hh_l{k}"] = layer.b_hh
    if model.embedding is not None:
        out["encoder.weight"] = model.embedding
    if model.head_W is not None:
        out["decoder.weight"] = model.head_W
        out["decoder.bias"] = model.head_b
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def model_metadata(model: Model) -> dict[str, str]:
    """The model's metadata as safetensors stores it (strings only)."""
    meta = {"cell": model.cell, "tokenizer": model.tokenizer, "name": model.name, "description": model.description}
    if model.vocab is not None:
        meta["vocab"] = json.dumps(list(model.vocab), ensure_ascii=False)
    return meta


def save_model(model: Model, path: str | os.PathLike, *, force: bool = False) -> None:
    """Write ``model`` as one safetensors file (atomically, never over a file unless ``force``)."""
    from safetensors.numpy import save

    blob = save(model_tensors(model), metadata=model_metadata(model))
    atomic_write(path, lambda fh: fh.write(blob), force=force)


# --- reading ---------------------------------------------------------------


def is_model_path(spec: str | os.PathLike) -> bool:
    """True if ``spec`` names a file: it exists or ends like a weights file."""
    return os.path.exists(spec) or str(spec).lower().endswith(MODEL_SUFFIXES)


_show = inert  # names in one-line messages: control characters and escapes made inert

#: The largest .npz whose arrays, uncompressed, lstm-tui will read (a zip bomb is refused before it unpacks).
MAX_NPZ_BYTES = 2 * 1024**3
#: The largest text file (--text-file, --vocab) lstm-tui reads.
MAX_TEXT_BYTES = 64 * 1024**2


def _dims(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return _show(text if len(text) <= limit else text[: limit - 1] + "…")


def _list_keys(keys: list[str], limit: int = 12) -> str:
    if not keys:
        return "no arrays at all"
    shown = ", ".join(_show(k if len(k) <= 60 else k[:57] + "…") for k in keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


class _File:
    """The arrays and metadata of one opened file; every error names the file and key."""

    def __init__(self, name: str, keys: list[str], read, meta: dict):
        self.name = name  # the path as shown in messages
        self.keys = keys  # array names, in file order
        self._keyset = set(keys)
        self._read = read  # key -> np.ndarray as stored
        self.meta = meta  # str -> str | list[str]

    def fail(self, message: str) -> ModelFileError:
        return ModelFileError(f"{self.name}: {message}")

    def has(self, key: str) -> bool:
        return key in self._keyset

    def raw(self, key: str) -> np.ndarray:
        if key not in self._keyset:
            raise self.fail(f"missing key {_show(key)} (keys found: {_list_keys(self.keys)})")
        return self._read(key)

    def get(self, key: str, shape: tuple, why: str = "") -> np.ndarray:
        """The float array ``key``, checked against ``shape`` (ints must match, strings name free sizes)."""
        a = self.raw(key)
        if a.dtype.kind != "f":
            raise self.fail(f"{_show(key)} holds {a.dtype} values, expected floating-point weights")
        if a.ndim != len(shape) or any(isinstance(e, int) and e != d for e, d in zip(shape, a.shape)):
            raise self.fail(f"{_show(key)} has shape {_dims(a.shape)}, expected {_dims(shape)}{why}")
        if 0 in a.shape:
            raise self.fail(f"{_show(key)} has shape {_dims(a.shape)}: no weights")
        if not np.isfinite(a).all():
            raise self.fail(f"{_show(key)} holds NaN or Inf values")
        return a


def _open_safetensors(path: Path, name: str, build):
    from safetensors import SafetensorError, safe_open

    try:
        fh = safe_open(str(path), framework="np")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{name}: not a valid safetensors file ({_first_line(exc)})") from None
    header = None

    def read(key: str) -> np.ndarray:
        nonlocal header
        try:
            if fh.get_slice(key).get_dtype() == "BF16":  # NumPy has no bfloat16: widen it by hand
                if header is None:
                    header = _safetensors_header(path)
                return _read_bf16(path, header, key)
            return fh.get_tensor(key)
        except (SafetensorError, OSError, ValueError, TypeError) as exc:
            raise ModelFileError(f"{name}: cannot read {_show(key)} ({_first_line(exc)})") from None

    with fh:
        meta = dict(fh.metadata() or {})
        return build(_File(name, list(fh.keys()), read, meta))


def _safetensors_header(path: Path) -> tuple[int, dict]:
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        return 8 + n, json.loads(fh.read(n))


def _read_bf16(path: Path, header: tuple[int, dict], key: str) -> np.ndarray:
    start, info = header
    lo, hi = info[key]["data_offsets"]
    with open(path, "rb") as fh:
        fh.seek(start + lo)
        bits = np.frombuffer(fh.read(hi - lo), dtype="<u2")
    return (bits.astype(np.uint32) << 16).view(np.float32).reshape(info[key]["shape"])


def _open_npz(path: Path, name: str, build):
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ModelFileError(f"{name}: holds a single .npy array, expected an .npz archive of named arrays")
        unpacked = sum(info.file_size for info in data.zip.infolist())
        if unpacked > MAX_NPZ_BYTES:
            data.close()
            raise ModelFileError(
                f"{name}: unpacks to {unpacked / 1024**3:.1f} GB, over the {MAX_NPZ_BYTES / 1024**3:.0f} GB "
                "that lstm-tui reads from an .npz: save large models as .safetensors"
            )
        with data:
            arrays = {}
            for key in data.files:
                try:
                    arrays[key] = data[key]
                except ValueError as exc:
                    if "allow_pickle" in str(exc):
                        raise ModelFileError(
                            f"{name}: {_show(key)} holds Python objects (pickled data), which lstm-tui never "
                            "loads: save numeric and string arrays only"
                        ) from None
                    raise
    except ModelFileError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ModelFileError(
                f"{name}: not an .npz archive (it looks like pickled data, which lstm-tui never loads)"
            ) from None
        raise ModelFileError(f"{name}: not a valid .npz archive ({_first_line(exc)})") from None
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, ... from a damaged archive
        raise ModelFileError(f"{name}: not a valid .npz archive ({_first_line(exc)})") from None
    meta: dict = {}
    for key in list(arrays):
        a = arrays[key]
        if a.dtype.kind in "US":
            try:
                text = a.astype(str)
            except UnicodeDecodeError:
                raise ModelFileError(f"{name}: {_show(key)} holds bytes that are not text") from None
            if key in META_KEYS:
                meta[key] = text.tolist() if text.ndim else str(text)
            del arrays[key]
    return build(_File(name, list(arrays), arrays.__getitem__, meta))


def _open_torch(path: Path, name: str, build):
    try:
        import torch
    except ImportError:
        raise ModelFileError(
            f"{name}: .pt/.pth files need PyTorch (pip install torch); or, where PyTorch is installed, "
            'convert it: safetensors.torch.save_file(model.state_dict(), "model.safetensors")'
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (not a zip), EOFError, ...
        if isinstance(exc, pickle.UnpicklingError) or "weights only" in str(exc).lower():
            raise ModelFileError(
                f"{name}: refused by torch.load(weights_only=True): it holds more than tensors (a whole "
                "pickled model or code) or is not a PyTorch file; save model.state_dict(), or better "
                'safetensors.torch.save_file(model.state_dict(), "model.safetensors")'
            ) from None
        raise ModelFileError(f"{name}: not a readable PyTorch file ({_first_line(exc)})") from None
    state, meta = _state_dict(obj, torch)
    if state is None:
        raise ModelFileError(f"{name}: holds no state_dict of tensors (found {type(obj).__name__})")
    arrays = {}
    for key, t in state.items():
        try:
            t = t.detach().cpu()
            if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
                t = t.float()  # float16 and bfloat16
            arrays[str(key)] = t.numpy()
        except Exception as exc:  # quantized, sparse or meta tensors
            raise ModelFileError(f"{name}: cannot read {_show(str(key))} as an array ({_first_line(exc)})") from None
    return build(_File(name, list(arrays), arrays.__getitem__, meta))


def _state_dict(obj, torch) -> tuple[dict | None, dict]:
    """The tensors of a state dict, possibly inside a checkpoint dict, and the checkpoint's metadata."""
    if not isinstance(obj, dict):
        return None, {}
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    meta = {}
    for k, v in obj.items():
        if k in META_KEYS and isinstance(v, str):
            meta[k] = v
        elif k in META_KEYS and isinstance(v, (list, tuple)) and all(isinstance(t, str) for t in v):
            meta[k] = list(v)
    if tensors:
        return tensors, meta
    for key in _STATE_DICT_NAMES:
        inner = obj.get(key)
        if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            return {k: v for k, v in inner.items() if isinstance(v, torch.Tensor)}, meta
    return None, meta


def load_file(
    path: str | os.PathLike,
    *,
    prefix: str | None = None,
    vocab_path: str | os.PathLike | None = None,
) -> Model:
    """Load a model from a weights file (see the module docstring for the namings).

    ``prefix`` picks the recurrent module (``"rnn"`` finds ``rnn.weight_ih_l0``;
    for Keras names, the layers whose keys start with ``prefix/``) when a file
    holds several. ``vocab_path`` gives the vocabulary: one token per line,
    UTF-8 (or a ``.json`` list, for tokens such as a newline); it replaces any
    vocabulary in the file.

    Keras models are read from ``.npz``. Saved like this (Keras 2 or 3)::

        import numpy as np
        from keras import layers

        arrays, k = {}, 0
        for layer in model.layers:
            w = layer.get_weights()
            if isinstance(layer, layers.Embedding):
                arrays["embedding/embeddings"] = w[0]          # [V, E]
            elif isinstance(layer, (layers.LSTM, layers.GRU, layers.SimpleRNN)):
                for key, a in zip(("kernel", "recurrent_kernel", "bias"), w):
                    arrays[f"layer{k}/{key}"] = a             # [E, 4H], [H, 4H], [4H]
                k += 1
            elif isinstance(layer, layers.Dense):
                for key, a in zip(("kernel", "bias"), w):
                    arrays[f"dense/{key}"] = a                # [H, V], [V]
        arrays["vocab"] = np.array(vocab)                     # optional: token strings, index = id
        arrays["tokenizer"] = np.array("char")                # optional: "char" or "word"
        np.savez("model.npz", **arrays)

    ``{w.path: w.numpy() for w in model.weights}`` (Keras 3) or ``w.name``
    (tf.keras) names such as ``lstm/lstm_cell/kernel`` are read too. A GRU
    must have ``reset_after=True`` (the default since TF 2); a Dense head may
    use a linear or softmax activation.

    Raises :class:`ModelFileError` with one line naming the file, the key and
    the expected and found shapes.
    """
    path = Path(path)
    name = _check_file(path, "a weights file", ModelFileError)
    try:
        with open(path, "rb") as fh:
            empty = not fh.read(1)
    except OSError as exc:
        raise ModelFileError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if empty:
        raise ModelFileError(f"{name}: is empty")
    suffix = path.suffix.lower()
    vocab = None if vocab_path is None else read_vocab(vocab_path)

    def build(f: _File) -> Model:
        return _build(f, path, prefix, vocab)

    if suffix == ".safetensors":
        return _open_safetensors(path, name, build)
    if suffix == ".npz":
        return _open_npz(path, name, build)
    if suffix in (".pt", ".pth"):
        return _open_torch(path, name, build)
    if suffix in (".h5", ".keras"):
        raise ModelFileError(
            f"{name}: Keras {suffix} files are not read directly; save the layers' get_weights() as .npz "
            "(see help(lstm_tui.core.io.load_file) or the README)"
        )
    raise ModelFileError(f"{name}: unknown file type {suffix or '(none)'!r}: expected .safetensors, .npz, .pt or .pth")


def _check_file(path: Path, what: str, error: type[UserError]) -> str:
    """The file's inert display name, after refusing a missing path, a folder or an impossible name."""
    name = _show(str(path))
    try:
        exists, folder = path.exists(), path.is_dir()
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise error(f"{name}: cannot be used ({exc.strerror or exc})") from None
    if not exists:
        raise error(f"{name}: no such file")
    if folder:
        raise error(f"{name}: is a directory, expected {what}")
    return name


def read_text(path: str | os.PathLike, what: str = "a UTF-8 text file", error: type[UserError] = InputError) -> str:
    """A UTF-8 text file's contents, or ``error`` with one line saying why it cannot be read."""
    path = Path(path)
    name = _check_file(path, what, error)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_TEXT_BYTES + 1)
        if len(raw) > MAX_TEXT_BYTES:
            raise error(f"{name}: larger than {MAX_TEXT_BYTES // 1024**2} MB, expected {what}")
        return raw.decode("utf-8-sig")
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{name}: not UTF-8 text (byte {exc.start})") from None


def read_vocab(path: str | os.PathLike) -> tuple[str, ...]:
    """A vocabulary file: one token per line (UTF-8), or a JSON list if it ends in ``.json``."""
    path = Path(path)
    name = _show(str(path))
    text = read_text(path, "a vocabulary file", ModelFileError)
    if path.suffix.lower() == ".json":
        try:
            tokens = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ModelFileError(f"{name}: not a JSON list of tokens ({_first_line(exc)})") from None
        return _check_vocab(tokens, name)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line break
    lines = [t[:-1] if t.endswith("\r") else t for t in lines]
    for n, tok in enumerate(lines, 1):
        if tok == "":
            raise ModelFileError(
                f"{name}: line {n} is empty; for tokens such as a newline give the vocabulary as a .json list"
            )
    return _check_vocab(lines, name)


def _check_vocab(tokens, where: str) -> tuple[str, ...]:
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise ModelFileError(f"{where}: vocabulary is not a list of token strings")
    if not tokens:
        raise ModelFileError(f"{where}: vocabulary is empty")
    seen: dict[str, int] = {}
    for k, tok in enumerate(tokens):
        if tok in seen:
            raise ModelFileError(f"{where}: vocabulary repeats the token {tok!r} (ids {seen[tok]} and {k})")
        seen[tok] = k
    return tuple(tokens)


def _file_vocab(f: _File) -> tuple[str, ...] | None:
    v = f.meta.get("vocab")
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise f.fail(f"metadata 'vocab' is not a JSON list of token strings ({_first_line(exc)})") from None
    return _check_vocab(v, f"{f.name}: metadata 'vocab'")


def _meta_cell(f: _File) -> str | None:
    cell = f.meta.get("cell")
    if cell is None:
        return None
    kind = _CELL_NAMES.get(str(cell).strip().lower())
    if kind is None:
        raise f.fail(f"metadata cell {cell!r} is not one of {', '.join(GATES)}")
    if kind == "rnn_tanh" and str(f.meta.get("nonlinearity", "")).lower() == "relu":
        kind = "rnn_relu"
    return kind


def _tokenizer(f: _File, vocab: tuple[str, ...]) -> str:
    """The metadata's tokenizer, or ``char`` when every token is one character (or ``<unk>``)."""
    kind = f.meta.get("tokenizer")
    if kind is None:
        one_char = all(t == tokenize.UNK or len(tokenize.split_chars(t)) == 1 for t in vocab)
        return "char" if one_char else "word"
    if kind not in tokenize.TOKENIZERS:
        raise f.fail(f"metadata tokenizer {kind!r} is not one of {', '.join(tokenize.TOKENIZERS)}")
    return kind


def _build(f: _File, path: Path, prefix: str | None, vocab: tuple[str, ...] | None) -> Model:
    """The model a file's arrays describe, in PyTorch's or Keras's naming."""
    torch_groups: dict[str, list] = {}
    keras_groups: list[str] = []
    for key in f.keys:
        if m := _TORCH_KEY.fullmatch(key):
            torch_groups.setdefault(m[1], []).append(None if m[2] is None else int(m[2]))
        if (m := _KERAS_KEY.fullmatch(key.removesuffix(":0"))) and m[1] not in keras_groups:
            keras_groups.append(m[1])
    if torch_groups:
        parts = _torch_parts(f, torch_groups, prefix)
        fmt = "pytorch"
    elif keras_groups:
        parts = _keras_parts(f, keras_groups, prefix)
        fmt = "keras"
    else:
        raise f.fail(
            "no recurrent weights found (expected PyTorch's weight_ih_l0, weight_hh_l0 or Keras's kernel, "
            f"recurrent_kernel); keys found: {_list_keys(f.keys)}"
        )
    cell, layers, embedding, (head_W, head_b, head_key), info = parts
    if vocab is None:
        vocab = _file_vocab(f)
    H = layers[-1][1].shape[1]
    E = layers[0][0].shape[1]
    if fmt == "pytorch" and embedding is None and head_W is not None and vocab is not None:
        if head_W.shape == (len(vocab), E) and E == H:
            embedding, info["tied"] = head_W, True  # safetensors kept one name of two tied tensors
            info["embedding"] = head_key
    if embedding is not None and vocab is None:
        raise f.fail(
            f"has an embedding ({embedding.shape[0]} tokens) but no vocabulary: give one with --vocab FILE "
            "(one token per line) or store it in the file's metadata"
        )
    if vocab is not None:
        for what, a in ((info.get("embedding"), embedding), (head_key, head_W)):
            if a is not None and a.shape[0] != len(vocab):
                raise f.fail(f"vocabulary has {len(vocab)} tokens but {_show(what)} has {a.shape[0]} rows")
    tokenizer = _tokenizer(f, vocab) if vocab is not None else "char"
    arrays = [a for layer in layers for a in layer if a is not None]
    arrays += [a for a in (embedding, head_W, head_b) if a is not None]
    dt = np.float64 if all(a.dtype == np.float64 for a in arrays) else np.float32

    def cast(a):
        if a is None:
            return None
        with np.errstate(over="ignore"):
            out = np.ascontiguousarray(a, dtype=dt)
        if not np.isfinite(out).all():
            raise f.fail(f"holds values too large for {np.dtype(dt).name} (the other weights are {np.dtype(dt).name})")
        return out

    G = GATES[cell]
    stack = []
    for W_ih, W_hh, b_ih, b_hh in layers:
        zeros = np.zeros(G * H, dtype=dt)
        stack.append(Layer(cell, cast(W_ih), cast(W_hh), zeros if b_ih is None else cast(b_ih),
                           zeros.copy() if b_hh is None else cast(b_hh)))
    if head_W is not None and head_b is None:
        head_b = np.zeros(head_W.shape[0], dtype=dt)
    # shown in the title bar and --list-models: one line, escapes made inert
    name = _show(str(f.meta.get("name") or path.stem))
    L = len(stack)
    description = _show(str(f.meta.get("description") or f"{cell.upper()} from {path.name}: {L} layer(s), H={H}"))
    extra = {k: v for k, v in f.meta.items() if k not in ("vocab", "name", "description") and isinstance(v, str)}
    return Model(
        layers=tuple(stack),
        embedding=cast(embedding),
        head_W=cast(head_W),
        head_b=cast(head_b),
        vocab=vocab,
        tokenizer=tokenizer,
        name=name,
        description=description,
        meta={**extra, **info, "path": str(path), "format": fmt},
    )


def _kind(f: _File, key: str, found: tuple, G: int, cell: str | None, expected, layout: str) -> str:
    """The cell kind from the metadata's ``cell`` or else the gate count G; ``expected(G)`` is the shape for G."""
    if cell is not None:
        if G != GATES[cell]:
            raise f.fail(f"{_show(key)} has shape {_dims(found)}, expected {_dims(expected(GATES[cell]))} "
                         f"for cell {cell} (from the metadata)")
        return cell
    if G not in _KIND:
        raise f.fail(f"{_show(key)} has shape {_dims(found)}, expected {layout} with G = 4 (LSTM), 3 (GRU) or 1 (RNN)")
    return _KIND[G]


def _torch_parts(f: _File, groups: dict[str, list], prefix: str | None):
    """(cell, layers, embedding, head, info) of a PyTorch state dict."""
    if prefix is not None:
        P = prefix if prefix in ("", ".") or prefix.endswith(".") else prefix + "."
        P = "" if P == "." else P
        if P not in groups:
            found = ", ".join(repr(g.rstrip(".")) for g in groups)
            raise f.fail(f"no recurrent weights under prefix {prefix!r} (expected {_show(P)}weight_ih_l0); "
                         f"prefixes found: {found}")
    elif len(groups) == 1:
        P = next(iter(groups))
    else:
        found = ", ".join(repr(g.rstrip(".")) for g in groups)
        raise f.fail(f"holds several recurrent modules ({found}): choose one with --prefix")
    for key in f.keys:
        if key.startswith(P) and key.endswith("_reverse"):
            raise f.fail(f"{_show(key)} is the backward direction of a bidirectional layer: "
                         "lstm-tui steps through one direction only (bidirectional=False)")
        if key.startswith(P + "weight_hr"):
            raise f.fail(f"{_show(key)} is an LSTM projection (proj_size > 0), which lstm-tui does not support")
    nums = groups[P]
    if None in nums:  # nn.LSTMCell / nn.GRUCell / nn.RNNCell: one layer, no _l suffix
        names = [("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    else:
        nums = sorted(nums)
        if nums != list(range(len(nums))):
            raise f.fail(f"layers of {_show(P)}weight_ih_l* are numbered {nums}, expected 0 to {len(nums) - 1}")
        names = [(f"weight_ih_l{k}", f"weight_hh_l{k}", f"bias_ih_l{k}", f"bias_hh_l{k}") for k in nums]
    cell = _meta_cell(f)
    layers = []
    for k, (wi, wh, bi, bh) in enumerate(names):
        wi, wh, bi, bh = (P + n for n in (wi, wh, bi, bh))
        if k == 0:
            W_hh = f.raw(wh)
            if W_hh.ndim != 2 or W_hh.shape[1] == 0 or W_hh.shape[0] % W_hh.shape[1]:
                raise f.fail(f"{_show(wh)} has shape {_dims(W_hh.shape)}, expected [G*H, H]")
            H = W_hh.shape[1]
            cell = _kind(f, wh, W_hh.shape, W_hh.shape[0] // H, cell, lambda g: (g * H, H), "[G*H, H]")
            GH = GATES[cell] * H
        W_hh = f.get(wh, (GH, H))
        W_ih = f.get(wi, (GH, "E") if k == 0 else (GH, H), "" if k == 0 else f" (layer {k} takes layer {k - 1}'s h)")
        b_ih = f.get(bi, (GH,)) if f.has(bi) else None
        b_hh = f.get(bh, (GH,)) if f.has(bh) else None
        layers.append((W_ih, W_hh, b_ih, b_hh))
    E = layers[0][0].shape[1]
    parent = P[: P.rstrip(".").rfind(".") + 1] if "." in P.rstrip(".") else ""
    info = {"prefix": P}
    embedding = None
    for n in EMBEDDING_NAMES:
        key = f"{parent}{n}.weight"
        if f.has(key) and parent + n + "." != P:
            if f.has(f"{parent}{n}.bias"):
                raise f.fail(f"{_show(key)} comes with a bias, so it is a linear input layer, not an embedding: "
                             "lstm-tui feeds the embedding or the frames straight into the recurrent layer")
            embedding = f.get(key, ("V", E), f" (the embedding feeds {_show(P)}weight_ih_l0)")
            info["embedding"] = key
            break
    head = (None, None, None)
    for n in HEAD_NAMES:
        wkey, bkey = f"{parent}{n}.weight", f"{parent}{n}.bias"
        if f.has(wkey):
            W = f.get(wkey, ("V", H), f" (the head reads the last layer's h, H={H})")
            b = f.get(bkey, (W.shape[0],)) if f.has(bkey) else None
            head = (W, b, wkey)
            break
        if f.has(bkey) and embedding is not None:  # tied: safetensors kept the embedding's name only
            b = f.get(bkey, ("V",))
            if embedding.shape == (b.shape[0], H):
                head, info["tied"] = (embedding, b, info["embedding"]), True
                break
    if head[2] is not None:
        info["head"] = head[2]
    return cell, layers, embedding, head, info


def _keras_parts(f: _File, groups: list[str], prefix: str | None):
    """(cell, layers, embedding, head, info) of Keras weights, converted to PyTorch's layout."""
    key_of = {k.removesuffix(":0"): k for k in f.keys}
    recurrent = set(groups)
    for k in key_of:
        if "backward_" in k:
            raise f.fail(f"{_show(key_of[k])} is the backward direction of a Bidirectional layer: "
                         "lstm-tui steps through one direction only")
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

    def get(key, shape, why=""):
        return f.get(key_of.get(key, key), shape, why)

    def has(key):
        return key in key_of

    cell = _meta_cell(f)
    layers = []
    for k, P in enumerate(groups):
        rk, kk, bk = P + "recurrent_kernel", P + "kernel", P + "bias"
        if k == 0:
            R = f.raw(key_of[rk])
            if R.ndim != 2 or R.shape[0] == 0 or R.shape[1] % R.shape[0]:
                raise f.fail(f"{_show(key_of[rk])} has shape {_dims(R.shape)}, expected [H, G*H]")
            H = R.shape[0]
            cell = _kind(f, key_of[rk], R.shape, R.shape[1] // H, cell, lambda g: (H, g * H), "[H, G*H]")
            G = GATES[cell]
        R = get(rk, (H, G * H))
        K = get(kk, ("E", G * H) if k == 0 else (H, G * H), "" if k == 0 else f" (layer {k} takes layer {k - 1}'s h)")
        if cell == "gru":
            # Keras stacks z, r, h; PyTorch r, z, n.
            perm = np.r_[H : 2 * H, 0:H, 2 * H : 3 * H]
            W_ih, W_hh = K[:, perm].T, R[:, perm].T
            b_ih = b_hh = None
            if has(bk):
                b = f.raw(key_of[bk])
                if b.shape == (3 * H,):
                    raise f.fail(f"{_show(key_of[bk])} has shape [{3 * H}]: a GRU with reset_after=False, whose "
                                 "candidate is tanh(W x + U (r ⊙ h)), not PyTorch's; retrain with reset_after=True")
                b = get(bk, (2, 3 * H), " (input bias, recurrent bias of a reset_after=True GRU)")
                b_ih, b_hh = b[0, perm], b[1, perm]
        else:
            # LSTM blocks i, f, c, o are PyTorch's i, f, g, o; one bias, so b_hh = 0.
            W_ih, W_hh = K.T, R.T
            b_ih, b_hh = (get(bk, (G * H,)) if has(bk) else None), None
        layers.append((W_ih, W_hh, b_ih, b_hh))
    info = {"prefix": groups[0]}
    E = layers[0][0].shape[1]
    emb_keys = [k for k in key_of if k.endswith("embeddings")]
    if len(emb_keys) > 1:
        raise f.fail(f"holds several embeddings ({', '.join(map(_show, emb_keys))}): keep one")
    embedding = None
    if emb_keys:
        embedding = get(emb_keys[0], ("V", E), f" (the embedding feeds {_show(key_of[groups[0] + 'kernel'])})")
        info["embedding"] = key_of[emb_keys[0]]
    dense = [k[: -len("kernel")] for k in key_of if k.endswith("kernel") and not k.endswith("recurrent_kernel")]
    dense = [d for d in dense if d not in recurrent]
    head = (None, None, None)
    if len(dense) > 1:
        raise f.fail(f"holds several dense layers ({', '.join(_show(d + 'kernel') for d in dense)}): "
                     "lstm-tui shows one linear head after the recurrent layers; save only that one")
    if dense:
        kk, bk = dense[0] + "kernel", dense[0] + "bias"
        W = get(kk, (H, "V"), f" (the head reads the last layer's h, H={H})").T
        b = get(bk, (W.shape[0],)) if has(bk) else None
        head = (W, b, key_of[kk])
        info["head"] = key_of[kk]
    return cell, layers, embedding, head, info


def load_frames(path: str | os.PathLike, input_size: int | None = None) -> np.ndarray:
    """Feature frames from a ``.npy`` file: a real array (T, E), finite, 1 <= T <= ``MAX_FRAMES``.

    ``input_size`` checks E. Raises :class:`InputError` with one line naming the file.
    """
    path = Path(path)
    name = _check_file(path, "a .npy file", InputError)
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(f"{name}: holds Python objects (pickled data), which lstm-tui never loads") from None
        raise InputError(f"{name}: not a valid .npy array ({_first_line(exc)})") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or _first_line(exc)})") from None
    except Exception as exc:  # EOFError, corrupted headers
        raise InputError(f"{name}: not a valid .npy array ({_first_line(exc)})") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise InputError(f"{name}: is an .npz archive, expected one .npy array [T, E] (np.save)")
    want = f"[T, {'E' if input_size is None else input_size}]"
    if x.dtype.kind not in "fiu":
        raise InputError(f"{name}: holds {x.dtype} values, expected real numbers {want}")
    if x.ndim != 2:
        raise InputError(f"{name}: has shape {_dims(x.shape)}, expected {want}")
    if input_size is not None and x.shape[1] != input_size:
        raise InputError(f"{name}: has shape {_dims(x.shape)}, expected {want} (the model's input size)")
    if x.shape[0] == 0:
        raise InputError(f"{name}: has no frames (shape {_dims(x.shape)})")
    if x.shape[0] > MAX_FRAMES:
        raise InputError(f"{name}: has {x.shape[0]} frames, more than the {MAX_FRAMES} lstm-tui traces")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = int(np.argwhere(~np.isfinite(x))[0, 0])
        raise InputError(f"{name}: holds NaN or Inf values (first in frame {bad + 1})")
    return x
