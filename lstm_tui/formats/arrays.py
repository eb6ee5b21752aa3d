"""Containers of named arrays (safetensors, .npz, PyTorch's .pt) and the model they build.

:func:`open_arrays` opens a container into :class:`Arrays`, whose every error
names the file and the key; :func:`assemble` turns the pieces a reader found
(stack levels, embedding, head, vocabulary) into one float dtype and a
:class:`~lstm_tui.core.model.Model`. The namings inside the containers are read
by ``pytorch`` (``weight_ih_l0``), ``keras_npz`` (``kernel``,
``recurrent_kernel``) and ``native`` (lstm-tui's own files).
"""

from __future__ import annotations

import pickle  # only for its exception class: nothing here unpickles
import pickletools
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core import tokenize
from ..core.cells import Bidirectional, Layer
from ..core.errors import InputError, ModelFileError, install_hint
from ..core.inputs import check_vocab, dims, first_line, read_json
from ..core.model import Model, add_note
from .registry import SAVE_STATE_DICT, fail, never_unpickled, show

#: String metadata a file may carry.
META_KEYS = ("cell", "vocab", "tokenizer", "name", "description", "nonlinearity", "layers", "format")
#: The largest .npz whose arrays, uncompressed, lstm-tui will read (a zip bomb is refused before it unpacks).
MAX_NPZ_BYTES = 2 * 1024**3
#: Keys of a checkpoint dict that may hold the state dict.
STATE_DICT_NAMES = ("state_dict", "model_state_dict", "model", "net", "weights")
#: Containers of named arrays, by suffix.
SUFFIXES = (".safetensors", ".npz", ".pt", ".pth")

ZIP_MAGIC = b"PK\x03\x04"


def list_keys(keys: list[str], limit: int = 12) -> str:
    """Up to ``limit`` key names for a message, and how many more there are."""
    if not keys:
        return "no arrays at all"
    shown = ", ".join(show(k if len(k) <= 60 else k[:57] + "…") for k in keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


class Arrays:
    """The arrays and metadata of one opened container; every error names the file and key."""

    def __init__(self, name: str, keys: list[str], read, meta: dict):
        self.name = name  # the path as shown in messages
        self.keys = keys  # array names, in file order
        self._keyset = set(keys)
        self._read = read  # key -> np.ndarray as stored
        self.meta = meta  # str -> str | list[str]
        self.used: set[str] = set()  # the keys read so far

    def fail(self, message: str):
        return fail(self.name, message)

    def has(self, key: str) -> bool:
        return key in self._keyset

    def raw(self, key: str) -> np.ndarray:
        if key not in self._keyset:
            raise self.fail(f"missing key {show(key)} (keys found: {list_keys(self.keys)})")
        self.used.add(key)
        return self._read(key)

    def shape(self, key: str) -> tuple[int, ...]:
        """The array's shape, not counted as read; () for one that cannot be read (its own reader says why)."""
        try:
            return tuple(np.shape(self._read(key)))
        except ModelFileError:
            return ()

    def get(self, key: str, shape: tuple, why: str = "") -> np.ndarray:
        """The float array ``key``, checked against ``shape`` (ints must match, strings name free sizes)."""
        return checked(self.name, key, self.raw(key), shape, why)


def checked(file: str, key: str, a: np.ndarray, shape: tuple, why: str = "") -> np.ndarray:
    """``a`` (the array called ``key``) if it is finite, floating point and of ``shape``; else one line why not."""
    if a.dtype.kind != "f":
        raise fail(file, f"{show(key)} holds {a.dtype} values, expected floating-point weights")
    if a.ndim != len(shape) or any(isinstance(e, int) and e != d for e, d in zip(shape, a.shape)):
        raise fail(file, f"{show(key)} has shape {dims(a.shape)}, expected {dims(shape)}{why}")
    if 0 in a.shape:
        raise fail(file, f"{show(key)} has shape {dims(a.shape)}: no weights")
    if not np.isfinite(a).all():
        raise fail(file, f"{show(key)} holds NaN or Inf values")
    return a


# --- cheap looks for match() ------------------------------------------------------


def safetensors_header(path: Path, head: bytes) -> dict | None:
    """The JSON header of a safetensors file (from ``head`` when it holds it all), or None if it is not one."""
    if len(head) < 10 or head[8:9] != b"{":
        return None
    n = int.from_bytes(head[:8], "little")
    if n > 100 * 1024**2:
        return None
    raw = head[8 : 8 + n]
    if len(raw) < n:
        with open(path, "rb") as fh:
            fh.seek(8)
            raw = fh.read(n)
    try:
        header = read_json(raw)
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def array_names(path: Path, head: bytes) -> list[str] | None:
    """The array names of a safetensors file or an .npz, without reading any array; None for anything else."""
    header = safetensors_header(path, head)
    if header is not None:
        return [k for k in header if k != "__metadata__"]
    if head.startswith(ZIP_MAGIC) and path.suffix.lower() == ".npz":
        with zipfile.ZipFile(path) as z:
            return [n.removesuffix(".npy") for n in z.namelist()]
    return None


def is_container(path: Path, head: bytes) -> bool:
    """A safetensors file, an .npz or a PyTorch file, by suffix or by its first bytes."""
    if path.suffix.lower() in SUFFIXES:
        return True
    return safetensors_header(path, head) is not None or head.startswith((ZIP_MAGIC, b"\x80"))


# --- opening containers -------------------------------------------------------------


def open_arrays(path: Path, name: str, build):
    """Open the container at ``path`` and return ``build(arrays)`` while it is open."""
    suffix = path.suffix.lower()
    with open(path, "rb") as fh:
        head = fh.read(16)
    if suffix == ".npz" or (suffix not in SUFFIXES and head.startswith(ZIP_MAGIC) and _is_npz(path)):
        return _open_npz(path, name, build)
    if suffix in (".pt", ".pth") or (suffix != ".safetensors" and head.startswith((ZIP_MAGIC, b"\x80"))):
        return _open_torch(path, name, build)
    return _open_safetensors(path, name, build)


def _is_npz(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return all(n.endswith(".npy") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


#: safetensors dtypes NumPy reads (BF16 widened by hand); the non-float ones are refused by name later.
_NUMPY_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64"})


def _open_safetensors(path: Path, name: str, build):
    from safetensors import SafetensorError, safe_open

    try:
        fh = safe_open(str(path), framework="np")
    except (SafetensorError, OSError, ValueError) as exc:
        raise fail(name, f"not a valid safetensors file ({first_line(exc)})") from None
    header = None

    def read(key: str) -> np.ndarray:
        nonlocal header
        try:
            dtype = fh.get_slice(key).get_dtype()
            if dtype not in _NUMPY_DTYPES:  # F8_*, F6_*, F4 ...: safetensors fails looking them up in NumPy
                raise fail(name, f"{show(key)} holds {show(dtype)} values, which NumPy cannot read: save the weights "
                                 "as float32, float16 or bfloat16")
            if dtype == "BF16":  # NumPy has no bfloat16: widen it by hand
                if header is None:
                    header = _header_and_start(path)
                return _read_bf16(path, header, key)
            return fh.get_tensor(key)
        except (SafetensorError, OSError, ValueError, TypeError) as exc:
            raise fail(name, f"cannot read {show(key)} ({first_line(exc)})") from None

    with fh:
        meta = dict(fh.metadata() or {})
        return build(Arrays(name, list(fh.keys()), read, meta))


def _header_and_start(path: Path) -> tuple[int, dict]:
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        return 8 + n, read_json(fh.read(n))


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
            raise fail(name, "holds a single .npy array, expected an .npz archive of named arrays")
        unpacked = sum(info.file_size for info in data.zip.infolist())
        if unpacked > MAX_NPZ_BYTES:
            data.close()
            raise fail(name, f"unpacks to {unpacked / 1024**3:.1f} GB, over the {MAX_NPZ_BYTES / 1024**3:.0f} GB "
                             "that lstm-tui reads from an .npz: save large models as .safetensors")
        with data:
            arrays = {}
            for key in data.files:
                try:
                    arrays[key] = data[key]
                except ValueError as exc:
                    if "allow_pickle" in str(exc):
                        raise fail(name, f"{show(key)} holds Python objects (pickled data), which lstm-tui never "
                                         "loads: save numeric and string arrays only") from None
                    raise
                if not isinstance(arrays[key], np.ndarray):  # NumPy hands back a member without its header as bytes
                    raise fail(name, f"{show(key)} is not a NumPy array (an .npz holds .npy arrays only)")
    except ValueError as exc:
        if "pickle" in str(exc):
            with open(path, "rb") as fh:
                pickled = fh.read(1) == b"\x80"  # a pickle's PROTO opcode; np.load tries pickle on anything unknown
            what = "it looks like pickled data, which lstm-tui never loads" if pickled else "no zip or NumPy header"
            raise fail(name, f"not an .npz archive ({what})") from None
        raise fail(name, f"not a valid .npz archive ({first_line(exc)})") from None
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, ... from a damaged archive
        if isinstance(exc, ModelFileError):
            raise
        raise fail(name, f"not a valid .npz archive ({first_line(exc)})") from None
    meta: dict = {}
    for key in list(arrays):
        a = arrays[key]
        if a.dtype.kind in "US":
            try:
                text = a.astype(str)
            except UnicodeDecodeError:
                raise fail(name, f"{show(key)} holds bytes that are not text") from None
            if key in META_KEYS:
                meta[key] = text.tolist() if text.ndim else str(text)
            del arrays[key]
    return build(Arrays(name, list(arrays), arrays.__getitem__, meta))


# --- PyTorch files: never unpickled beyond torch.load(weights_only=True) ------------------------

#: Globals a pickled state dict may name (tensors, storages, ordered dicts); anything else is code or a module.
_STATE_DICT_GLOBALS = ("torch._utils.", "torch.", "collections.OrderedDict", "builtins.set", "__builtin__.set",
                       "_codecs.encode", "numpy.")


def _is_torchscript(path: Path) -> bool:
    """Whether a zip is a TorchScript archive (code beside the weights)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist())
    except Exception:  # BadZipFile, OSError, ...: torch_zip says which
        return False


def pickled_globals(data: bytes) -> list[str]:
    """The ``module.name`` globals a pickle would import, read from its opcodes without running it."""
    found, strings = [], []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            if isinstance(arg, str):
                strings.append(arg)
    except Exception:  # a damaged or truncated pickle: what was read so far
        pass
    return found


def refused_global(g: str, name: str) -> None:
    """Refuse a global (``module.name``) that a state dict of tensors does not name: a module, a class, code."""
    if g.startswith("torch.nn.") or not g.startswith(_STATE_DICT_GLOBALS):
        raise never_unpickled(name, f"holds a whole pickled object ({show(g[:120])}), not a state dict of tensors")


def _open_torch(path: Path, name: str, build):
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == ZIP_MAGIC:  # torch.save's zip (PyTorch 1.6 on): read without PyTorch (torch_zip.py)
        if _is_torchscript(path):
            raise never_unpickled(name, "is a TorchScript archive (torch.jit.save: code and weights)")
        from .torch_zip import load

        state, meta = _state_dict(load(path, name), lambda v: isinstance(v, np.ndarray))  # (refuses each global)
        if state is None:
            raise fail(name, "holds no state_dict of tensors")
        state = {str(k): v for k, v in state.items()}  # (keys as torch.load's path gives them)
        return build(Arrays(name, list(state), state.__getitem__, meta))
    if head[:1] != b"\x80":  # neither a zip nor a pickle
        raise fail(name, "not a PyTorch file (neither torch.save's zip nor a pickle)")
    with open(path, "rb") as fh:  # the format before PyTorch 1.6: a pickle whose globals are checked before torch
        for g in pickled_globals(fh.read(64 * 1024**2)):
            refused_global(g, name)
    try:
        import torch
    except ImportError:
        raise fail(name, f"a .pt/.pth file in PyTorch's format before 1.6 needs PyTorch: {install_hint('torch')}; "
                         f"or, where PyTorch is installed, convert it: {SAVE_STATE_DICT}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (not a zip), EOFError, ...
        if isinstance(exc, pickle.UnpicklingError) or "weights only" in str(exc).lower():
            raise fail(name, "refused by torch.load(weights_only=True): it holds more than tensors (a whole "
                             f"pickled model or code) or is not a PyTorch file; save model.state_dict(), or better "
                             f"{SAVE_STATE_DICT}") from None
        raise fail(name, f"not a readable PyTorch file ({first_line(exc)})") from None
    state, meta = _state_dict(obj, lambda v: isinstance(v, torch.Tensor))
    if state is None:
        raise fail(name, f"holds no state_dict of tensors (found {type(obj).__name__})")
    arrays = {}
    for key, t in state.items():
        try:
            t = t.detach().cpu()
            if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
                t = t.float()  # float16 and bfloat16
            arrays[str(key)] = t.numpy()
        except Exception as exc:  # quantized, sparse or meta tensors
            raise fail(name, f"cannot read {show(str(key))} as an array ({first_line(exc)})") from None
    return build(Arrays(name, list(arrays), arrays.__getitem__, meta))


def _state_dict(obj, is_tensor) -> tuple[dict | None, dict]:
    """The tensors of a state dict, possibly inside a checkpoint dict, and the checkpoint's metadata."""
    if not isinstance(obj, dict):
        return None, {}
    tensors = {k: v for k, v in obj.items() if is_tensor(v)}
    meta = {}
    for k, v in obj.items():
        if k in META_KEYS and isinstance(v, str):
            meta[k] = v
        elif k in META_KEYS and isinstance(v, (list, tuple)) and all(isinstance(t, str) for t in v):
            meta[k] = list(v)
    if tensors:
        return tensors, meta
    for key in STATE_DICT_NAMES:
        inner = obj.get(key)
        if isinstance(inner, dict) and any(is_tensor(v) for v in inner.values()):
            return {k: v for k, v in inner.items() if is_tensor(v)}, meta
    return None, meta


# --- from pieces to a Model ---------------------------------------------------------------------


def file_vocab(f: Arrays) -> tuple[str, ...] | None:
    """The vocabulary in the file's metadata (a JSON list or a list of strings), or None."""
    v = f.meta.get("vocab")
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = read_json(v)
        except ValueError as exc:
            raise f.fail(f"metadata 'vocab' is not a JSON list of token strings ({first_line(exc)})") from None
    return check_vocab(v, f"{f.name}: metadata 'vocab'")


def id_vocabulary(V: int, hint: str = "") -> tuple[tuple[str, ...], dict]:
    """The tokens of a file with an embedding of V rows and no vocabulary: its ids "0" … "V-1",
    written as numbers (word tokenizer); and the metadata that says so, with an example text
    of ids to start on (a text of words would be all <unk>)."""
    vocab = tuple(str(k) for k in range(V))
    note = f"no vocabulary: tokens are the ids 0 to {V - 1}, written as numbers{hint}"
    return vocab, {"tokenizer": "word", "notes": note, "example": " ".join(vocab[k % V] for k in range(1, 13))}


def tokenizer_of(file: str, meta: dict, vocab: tuple[str, ...]) -> str:
    """The metadata's tokenizer, or ``char`` when every token is one character (or ``<unk>``)."""
    kind = meta.get("tokenizer")
    if kind is None:
        one_char = all(t == tokenize.UNK or len(tokenize.split_chars(t)) == 1 for t in vocab)
        return "char" if one_char else "word"
    if not tokenize.is_known(kind):
        raise fail(file, f"metadata tokenizer {show(str(kind))!r} is not one of {', '.join(tokenize.TOKENIZERS)} "
                         "or keras:<standardize>:<split>")
    return kind


def directions(level: Layer | Bidirectional) -> tuple[Layer, ...]:
    """The one or two layers of a stack level."""
    return level.directions if isinstance(level, Bidirectional) else (level,)


def assemble(
    file: str,
    path: Path,
    levels: list[Layer | Bidirectional],  # biases may be None (zeros)
    *,
    embedding: np.ndarray | None = None,  # (V, E)
    head_W: np.ndarray | None = None,  # (V, W) W the last level's output width
    head_b: np.ndarray | None = None,  # (V,) None: zeros
    vocab: tuple[str, ...] | None = None,
    meta: dict | None = None,  # the file's string metadata (tokenizer, name, description, ...)
    info: dict | None = None,  # what the reader found: keys used, format, notes
    embedding_key: str = "the embedding",
    head_key: str = "the head",
    head_is_vocab: bool = True,  # False: a head of any width even without an embedding (Keras: a classifier)
    head_hidden: tuple = (),  # core.model.Dense layers before head_W (biases may be None: zeros)
    head_pool: str = "",  # "max" or "mean": the head reads the pool of the steps so far (core.pooling)
) -> Model:
    """The :class:`Model` of a reader's pieces, every array in one float dtype (float64 only if all are)."""
    meta, info = dict(meta or {}), dict(info or {})
    if embedding is not None and vocab is None:  # no vocabulary in the file or given: the ids are the tokens
        vocab, said = id_vocabulary(embedding.shape[0], " (--vocab gives one)")
        meta.update(tokenizer=said["tokenizer"], example=said["example"])
        add_note(info, said["notes"])
    if vocab is not None:  # it names the embedding's rows; without one, the head's outputs
        what, a = (embedding_key, embedding) if embedding is not None else (head_key, head_W if head_is_vocab else None)
        if a is not None and a.shape[0] != len(vocab):
            raise fail(file, f"vocabulary has {len(vocab)} tokens but {show(what)} has {a.shape[0]} rows")
        if head_W is not None and head_W.shape[0] != len(vocab):
            info["head_classes"] = f"{head_W.shape[0]} outputs, not the vocabulary's {len(vocab)} tokens"
    if head_W is not None and head_W.shape[0] == 1 and info.get("head_activation") != "sigmoid":
        add_note(info, "a head of one output: y is σ of its logit, read as a binary classifier's probability (a "
                       "regression model's output is the logit itself: the trace's logits, in Python)")
    tokenizer = tokenizer_of(file, meta, vocab) if vocab is not None else "char"
    layers = [d for level in levels for d in directions(level)]
    arrays = [a for d in layers for a in (d.W_ih, d.W_hh, d.b_ih, d.b_hh, d.W_hr) if a is not None]
    arrays += [a for a in (embedding, head_W, head_b, *(x for d in head_hidden for x in (d.W, d.b))) if a is not None]
    dt = np.float64 if all(a.dtype == np.float64 for a in arrays) else np.float32

    def cast(a):
        if a is None:
            return None
        with np.errstate(over="ignore"):
            out = np.ascontiguousarray(a, dtype=dt)
        if not np.isfinite(out).all():
            raise fail(file, f"holds values too large for {np.dtype(dt).name} (the other weights are "
                             f"{np.dtype(dt).name})")
        return out

    def layer(d: Layer) -> Layer:
        zeros = np.zeros(d.W_hh.shape[0], dtype=dt)
        b_ih = zeros if d.b_ih is None else cast(d.b_ih)
        b_hh = zeros.copy() if d.b_hh is None else cast(d.b_hh)
        return replace(d, W_ih=cast(d.W_ih), W_hh=cast(d.W_hh), b_ih=b_ih, b_hh=b_hh, W_hr=cast(d.W_hr))

    stack = tuple(Bidirectional(layer(v.forward), layer(v.backward)) if isinstance(v, Bidirectional) else layer(v)
                  for v in levels)
    if head_W is not None and head_b is None:
        head_b = np.zeros(head_W.shape[0], dtype=dt)
    hidden = tuple(replace(d, W=cast(d.W), b=np.zeros(d.W.shape[0], dtype=dt) if d.b is None else cast(d.b))
                   for d in head_hidden)
    kinds = sorted({d.cell for d in layers}, key=[d.cell for d in layers].index)
    widths = "/".join(str(v.output_size) for v in stack)
    fmt = info.get("format", "")
    name = show(str(meta.get("name") or path.stem))
    default = f"{'+'.join(k.upper() for k in kinds)} from {path.name}: {len(stack)} layer(s), H={widths}"
    description = show(str(meta.get("description") or default))
    extra = {k: v for k, v in meta.items() if k not in ("vocab", "name", "description", "layers") and isinstance(v, str)}
    try:
        return _model(stack, embedding, head_W, head_b, vocab, tokenizer, name, description, extra, info, path, fmt,
                      cast, hidden, head_pool)
    except InputError as exc:  # levels that do not chain or pair, as the core words it
        raise fail(file, str(exc)) from None


def _model(stack, embedding, head_W, head_b, vocab, tokenizer, name, description, extra, info, path, fmt, cast,
           hidden, pool):
    return Model(
        layers=stack,
        embedding=cast(embedding),
        head_W=cast(head_W),
        head_b=cast(head_b),
        vocab=vocab,
        tokenizer=tokenizer,
        name=name,
        description=description,
        meta={**extra, **info, "path": str(path), "format": fmt},
        head_hidden=hidden,
        head_pool=pool,
    )
