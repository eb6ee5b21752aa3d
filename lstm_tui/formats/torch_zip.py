"""PyTorch's own files (``torch.save`` since PyTorch 1.6: a zip of ``data.pkl`` and ``data/<key>``), read
without PyTorch and without unpickling.

``data.pkl`` says how the saved dict is built: it is a pickle, and a pickle is a program. It is never run
here. Its opcodes are read with :mod:`pickletools` and interpreted by :func:`_interpret` over plain values
only (dicts, lists, tuples, strings, numbers, None, booleans) and the few things a state dict names, each
built by this module itself: ``collections.OrderedDict`` (a dict), ``torch._utils._rebuild_tensor_v2`` and
``_rebuild_parameter`` (a NumPy array, copied from the storage it views, its bounds checked), and the
storage types (``torch.FloatStorage`` ..., a dtype). Nothing is imported, called or looked up by name. Any
other global is an inert :class:`Opaque` value, which a tensor cannot be made of; an opcode outside the
set below (``INST``, ``OBJ``, ``NEWOBJ`` ...) ends the read with a refusal.

Storages are read from ``data/<key>`` in the byte order ``byteorder`` names; float16 and bfloat16 become
float32.
"""

from __future__ import annotations

import pickletools
import zipfile
from dataclasses import dataclass

import numpy as np

from .registry import fail, show

#: A storage type's elements (``torch.FloatStorage`` is float32); BFloat16Storage is read as uint16.
STORAGES = {"FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "u2",
            "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
            "ByteStorage": "u1", "BoolStorage": "?"}
MAX_PICKLE_BYTES = 64 * 1024**2  # data.pkl describes the dict; the arrays are beside it
MAX_STORAGE_BYTES = 4 * 1024**3  # all the storages read, together
_PUSH = {"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE", "BINSTRING", "SHORT_BINSTRING", "STRING",
         "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1",
         "LONG4", "BINFLOAT", "FLOAT"}  # opcodes whose argument is the value


@dataclass(frozen=True)
class Global:
    """A global the pickle names, by name only (never imported)."""

    name: str  # "module.name"


@dataclass(frozen=True)
class Opaque:
    """What a global other than a state dict's builds: a value that is never looked into."""

    name: str


@dataclass(frozen=True)
class _Storage:
    array: np.ndarray  # (numel,) its elements


class _Mark:
    pass


MARK = _Mark()


def load(path, name: str) -> object:
    """The object ``torch.save`` wrote to ``path`` (a zip), with NumPy arrays for its tensors."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            pkl = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
            if len(pkl) != 1:
                raise fail(name, "a zip without one data.pkl: not a file of torch.save")
            root = pkl[0][: -len("data.pkl")]
            if z.getinfo(pkl[0]).file_size > MAX_PICKLE_BYTES:
                raise fail(name, f"its data.pkl is over {MAX_PICKLE_BYTES // 2**20} MB")
            order = z.read(root + "byteorder").decode("ascii", "replace").strip() if root + "byteorder" in names \
                else "little"
            if order not in ("little", "big"):
                raise fail(name, f"byteorder {show(order)!r}: expected little or big")

            read: dict[tuple, _Storage] = {}  # each storage once, however many tensors view it

            def storage(pid) -> _Storage:
                if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                        and isinstance(pid[1], Global) and isinstance(pid[2], str)):
                    raise fail(name, f"data.pkl names a storage as {show(repr(pid)[:60])}: expected "
                                     "('storage', type, key, location, size)")
                kind = pid[1].name.rsplit(".", 1)[-1]
                if not pid[1].name.startswith("torch.") or kind not in STORAGES:
                    raise fail(name, f"a storage of type {show(pid[1].name)}: lstm-tui reads "
                                     f"{', '.join(STORAGES)}")
                member = f"{root}data/{pid[2]}"
                if member not in names:
                    raise fail(name, f"data.pkl names the storage {show(pid[2])!r}, which the zip lacks")
                if (member, kind) not in read:
                    if sum(s.array.nbytes for s in read.values()) + z.getinfo(member).file_size > MAX_STORAGE_BYTES:
                        raise fail(name, f"its storages are over {MAX_STORAGE_BYTES // 2**30} GB")
                    dtype = np.dtype(STORAGES[kind]).newbyteorder("<" if order == "little" else ">")
                    raw = z.read(member)
                    read[member, kind] = _Storage(np.frombuffer(raw[: len(raw) - len(raw) % dtype.itemsize], dtype))
                return read[member, kind]

            return _interpret(z.read(pkl[0]), storage, name)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise fail(name, f"not a readable zip of torch.save ({type(exc).__name__})") from None


def _tensor(name: str, args: tuple) -> np.ndarray:
    """``_rebuild_tensor_v2(storage, offset, size, stride, ...)``: the elements it views, as an array."""
    if len(args) < 4 or not isinstance(args[0], _Storage):
        raise fail(name, "data.pkl rebuilds a tensor from something other than a storage")
    store, offset, size, stride = args[:4]
    ints = lambda v: isinstance(v, tuple) and all(isinstance(i, int) and i >= 0 for i in v)
    if not isinstance(offset, int) or offset < 0 or not ints(size) or not ints(stride) or len(size) != len(stride):
        raise fail(name, "data.pkl rebuilds a tensor with a malformed offset, size or stride")
    a = store.array
    if 0 not in size and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= len(a):
        raise fail(name, f"a tensor of size {list(size)} reads past its storage of {len(a)} elements")
    if int(np.prod(size, dtype=object)) > len(a):  # a view repeating elements (a stride 0) would be copied out
        raise fail(name, f"a tensor of size {list(size)} has more elements than its storage ({len(a)})")
    if 0 in size:
        out = np.zeros(size, dtype=a.dtype)
    else:
        view = np.lib.stride_tricks.as_strided(a[offset:], shape=size, strides=[s * a.itemsize for s in stride])
        out = np.ascontiguousarray(view)  # its own copy
    out = out.astype(out.dtype.newbyteorder("="))
    if a.dtype.kind == "u" and a.dtype.itemsize == 2:  # bfloat16: the high half of a float32
        out = (out.astype(np.uint32) << 16).view(np.float32)
    return out.astype(np.float32) if out.dtype == np.float16 else out  # as torch.load's reader gives it


def _build(name: str, f, args):
    """What REDUCE makes of ``f(*args)``: the few builders of a state dict, else an inert value."""
    if not isinstance(f, Global):
        return Opaque(getattr(f, "name", "?"))
    if not isinstance(args, tuple):
        raise fail(name, f"data.pkl calls {show(f.name)} with {type(args).__name__} arguments")
    if f.name == "collections.OrderedDict":
        return dict(args[0]) if args and isinstance(args[0], (list, dict)) else {}
    if f.name == "torch._utils._rebuild_tensor_v2":
        return _tensor(name, args)
    if f.name == "torch._utils._rebuild_parameter" and args and isinstance(args[0], np.ndarray):
        return args[0]  # an nn.Parameter's data
    if f.name.startswith("torch._utils._rebuild"):
        raise fail(name, f"holds a tensor built by {show(f.name)} (quantized, sparse or on another device): "
                         "lstm-tui reads dense tensors")
    return Opaque(f.name)


def _interpret(data: bytes, storage, name: str):
    """The value ``data`` (a pickle) describes, read opcode by opcode (see the module docstring)."""
    stack: list = []
    memo: dict = {}

    def to_mark() -> list:
        for k in range(len(stack) - 1, -1, -1):
            if stack[k] is MARK:
                items = stack[k + 1 :]
                del stack[k:]
                return items
        raise fail(name, "data.pkl is malformed (no mark)")

    try:
        for op, arg, _pos in pickletools.genops(data):
            code = op.name
            if code in ("PROTO", "FRAME"):
                continue
            if code in _PUSH:
                stack.append(arg)
            elif code in ("NONE", "NEWTRUE", "NEWFALSE"):
                stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[code])
            elif code == "MARK":
                stack.append(MARK)
            elif code in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
                stack.append({"EMPTY_DICT": dict, "EMPTY_LIST": list, "EMPTY_TUPLE": tuple}[code]())
            elif code in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(code[-1])
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif code in ("TUPLE", "LIST"):
                items = to_mark()
                stack.append(tuple(items) if code == "TUPLE" else items)
            elif code == "DICT":
                items = to_mark()
                stack.append(dict(zip(items[::2], items[1::2])))
            elif code in ("APPEND", "APPENDS"):
                items = [stack.pop()] if code == "APPEND" else to_mark()
                stack[-1].extend(items)
            elif code in ("SETITEM", "SETITEMS"):
                items = stack[-2:] if code == "SETITEM" else to_mark()
                if code == "SETITEM":
                    del stack[-2:]
                target = stack[-1]
                if isinstance(target, dict):
                    target.update(zip(items[::2], items[1::2]))
            elif code in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[arg] = stack[-1]
            elif code == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif code in ("BINGET", "LONG_BINGET", "GET"):
                stack.append(memo[arg])
            elif code == "GLOBAL":
                stack.append(Global(str(arg).replace(" ", ".")))
            elif code == "STACK_GLOBAL":
                module, attr = stack[-2:]
                del stack[-2:]
                stack.append(Global(f"{module}.{attr}"))
            elif code == "REDUCE":
                args = stack.pop()
                stack[-1] = _build(name, stack[-1], args)
            elif code == "BINPERSID":
                stack.append(storage(stack.pop()))
            elif code == "BUILD":
                stack.pop()  # the state set on the object (a state dict's _metadata): not needed
            elif code == "POP":
                stack.pop()
            elif code == "POP_MARK":
                to_mark()
            elif code == "DUP":
                stack.append(stack[-1])
            elif code == "STOP":
                return stack.pop()
            else:
                raise fail(name, f"data.pkl uses the pickle opcode {code}, which a state dict does not: "
                                 "lstm-tui reads dicts of tensors")
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:  # malformed opcodes or values
        raise fail(name, f"data.pkl is malformed ({type(exc).__name__})") from None
    raise fail(name, "data.pkl is malformed (no STOP)")
