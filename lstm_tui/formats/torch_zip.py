"""PyTorch's own files (``torch.save`` since PyTorch 1.6: a zip of ``data.pkl`` and ``data/<key>``), read
without PyTorch and without Python's unpickler.

``data.pkl`` says how the saved dict is built: it is a pickle, and a pickle is a program. It is never run:
this module is a restricted pickle interpreter of its own, which imports and calls nothing. The opcodes
are read with :mod:`pickletools` and interpreted by :class:`_Reader` over plain values only (dicts,
lists, tuples, strings, numbers, None, booleans) and the few things a state dict names, each built by
this module itself: ``collections.OrderedDict`` (a dict), ``torch._utils._rebuild_tensor_v2`` and
``_rebuild_parameter`` (a NumPy array, copied from the storage it views, its bounds checked), and the
storage types (``torch.FloatStorage`` ..., a dtype). A global outside PyTorch's tensor machinery (a
module of ``torch.nn``, a class of the user's, ``os.system``) is refused as it is met (``arrays.
refused_global``); another of PyTorch's or NumPy's (``torch.Size``, ``torch.device``) becomes an inert
:class:`Opaque` value, which a tensor cannot be made of. An opcode outside the set below (``INST``,
``OBJ``, ``NEWOBJ`` ...) ends the read with a refusal, and so does going past any of the limits below.

Storages are read from ``data/<key>`` in the byte order ``byteorder`` names; float16 and bfloat16 become
float32.
"""

from __future__ import annotations

import math
import pickletools
import zipfile
from dataclasses import dataclass

import numpy as np

from ..core.errors import ModelFileError
from .registry import fail, show

#: A storage type's elements (``torch.FloatStorage`` is float32); BFloat16Storage is read as uint16.
STORAGES = {"FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "u2",
            "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
            "ByteStorage": "u1", "BoolStorage": "?"}
MAX_PICKLE_BYTES = 8 * 1024**2  # data.pkl describes the dict (about 100 bytes a tensor); the arrays are beside it
MAX_STORAGE_BYTES = 4 * 1024**3  # all the storages read, together
#: The tensors copied out of the storages, together, at most: twice the storages (tied weights view one storage
#: twice) and a little, so that a small file of many views of one storage cannot fill the memory.
COPIES = (2, 64 * 1024**2)
MAX_VALUES = 4_000_000  # the items of every list, tuple and dict data.pkl builds, together
MAX_NESTING = 64  # tuples in tuples (hashing a deeper one overflows the C stack)
MAX_TUPLE = 10_000  # the values in one tuple, its tuples' counted each time they occur (hashing visits each)
MAX_NAME = 256  # characters in a global's module or name
MAX_NEW_BYTES = 64 * 1024**2  # bytes that data.pkl builds from its own strings (protocol 2's bytes)
MAX_DIMS = 64  # of a tensor
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
            members = {i.filename: i for i in z.infolist()}
            pkl = [n for n in members if n == "data.pkl" or n.endswith("/data.pkl")]
            if len(pkl) != 1:
                raise fail(name, "a zip without one data.pkl: not a file of torch.save")
            root = pkl[0][: -len("data.pkl")]
            if members[pkl[0]].file_size > MAX_PICKLE_BYTES:
                raise fail(name, f"its data.pkl is over {MAX_PICKLE_BYTES // 2**20} MB")
            order = "little"
            if root + "byteorder" in members:
                if members[root + "byteorder"].file_size > 16:
                    raise fail(name, "its byteorder is not little or big")
                order = _read(z, members[root + "byteorder"], name).decode("ascii", "replace").strip()
            if order not in ("little", "big"):
                raise fail(name, f"byteorder '{show(order)}': expected little or big")
            reader = _Reader(name)

            def storage(pid) -> _Storage:
                if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                        and isinstance(pid[1], Global) and isinstance(pid[2], str)):
                    raise fail(name, "data.pkl names a storage other than ('storage', type, key, location, size)")
                kind = pid[1].name.rsplit(".", 1)[-1]
                if not pid[1].name.startswith("torch.") or kind not in STORAGES:
                    raise fail(name, f"a storage of type {show(pid[1].name[:80])}: lstm-tui reads "
                                     f"{', '.join(STORAGES)}")
                member = f"{root}data/{pid[2]}"
                if member not in members:
                    raise fail(name, f"data.pkl names the storage '{show(pid[2][:40])}', which the zip lacks")
                if (member, kind) not in reader.storages:
                    reader.spend(members[member].file_size, "storages")
                    dtype = np.dtype(STORAGES[kind]).newbyteorder("<" if order == "little" else ">")
                    raw = _read(z, members[member], name)
                    reader.storages[member, kind] = _Storage(
                        np.frombuffer(raw[: len(raw) - len(raw) % dtype.itemsize], dtype))
                return reader.storages[member, kind]

            return reader.run(_read(z, members[pkl[0]], name), storage)
    except ModelFileError:
        raise
    except Exception as exc:  # BadZipFile, OSError, zlib.error, an unknown compression or encryption, ...
        raise fail(name, f"not a readable zip of torch.save ({type(exc).__name__})") from None


def _read(z: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """A member's bytes, no more than its header says it holds (a member that inflates past that is refused
    before it fills the memory). torch.save stores its members as they are: a compressed one, which could
    inflate a small file into gigabytes, is refused."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise fail(name, f"its member '{show(info.filename[:80])}' is compressed, which torch.save never writes")
    with z.open(info) as fh:
        data = fh.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise zipfile.BadZipFile(f"{info.filename} is not the size its header says")
    return data


def _tensor(reader: _Reader, args: tuple) -> np.ndarray:
    """``_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])``: the elements
    it views, as an array of its own (metadata ``{"neg": True}``: negated, as PyTorch's lazy negation)."""
    name = reader.name
    if len(args) < 4 or not isinstance(args[0], _Storage):
        raise fail(name, "data.pkl rebuilds a tensor from something other than a storage")
    store, offset, size, stride = args[:4]

    def ints(v):
        return isinstance(v, tuple) and len(v) <= MAX_DIMS and all(type(i) is int and 0 <= i < 2**48 for i in v)

    if type(offset) is not int or not 0 <= offset < 2**48 or not ints(size) or not ints(stride) \
            or len(size) != len(stride):
        raise fail(name, "data.pkl rebuilds a tensor with a malformed offset, size or stride")
    a = store.array
    if 0 not in size and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= len(a):
        raise fail(name, f"a tensor of size {list(size)} reads past its storage of {len(a)} elements")
    if math.prod(size) > len(a):  # a view repeating elements (a stride 0) would be copied out
        raise fail(name, f"a tensor of size {list(size)} has more elements than its storage ({len(a)})")
    reader.spend(math.prod(size) * a.itemsize, "tensors")
    if 0 in size:
        out = np.zeros(size, dtype=a.dtype)
    else:
        view = np.lib.stride_tricks.as_strided(a[offset:], shape=size, strides=[s * a.itemsize for s in stride])
        out = np.array(view, order="C")  # its own copy (0-d stays 0-d)
    out = out.astype(out.dtype.newbyteorder("="))
    if a.dtype.kind == "u" and a.dtype.itemsize == 2:  # bfloat16: the high half of a float32
        out = np.asarray(out.astype(np.uint32) << 16).view(np.float32)  # (0-d stays an array)
    if out.dtype == np.float16:
        out = out.astype(np.float32)  # as torch.load's reader gives it
    meta = args[6] if len(args) > 6 and isinstance(args[6], dict) else {}
    if meta.get("neg") is True:
        out = np.negative(out) if out.dtype != bool else out
    return out


def _build(reader: _Reader, f, args):
    """What REDUCE makes of ``f(*args)``: the few builders of a state dict, else an inert value."""
    name = reader.name
    if not isinstance(f, Global):
        return Opaque(getattr(f, "name", "?"))
    if not isinstance(args, tuple):
        raise fail(name, f"data.pkl calls {show(f.name[:120])} with {type(args).__name__} arguments")
    if f.name == "collections.OrderedDict":
        items = args[0] if args and isinstance(args[0], (list, dict)) else ()
        reader.count(len(items))
        pairs = list(items.items()) if isinstance(items, dict) else list(items)
        if not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
            raise fail(name, "data.pkl builds an OrderedDict of something other than pairs")
        return dict(zip(*[iter(reader.keyed([x for p in pairs for x in p]))] * 2))
    if f.name == "torch._utils._rebuild_tensor_v2":
        return _tensor(reader, args)
    if f.name in ("torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state") \
            and args and isinstance(args[0], np.ndarray):
        return args[0]  # an nn.Parameter's data
    if f.name == "_codecs.encode" and len(args) == 2 and isinstance(args[0], str) and args[1] == "latin1":
        reader.spend(len(args[0]), "bytes")
        return args[0].encode("latin1")  # bytes, as a protocol-2 pickle writes them
    if f.name == "torch._tensor._rebuild_from_type_v2" and len(args) >= 3 and isinstance(args[0], Global):
        return _build(reader, args[0], args[2])  # a tensor saved with Python attributes: its data, as a tensor
    if f.name.startswith("torch._utils._rebuild"):
        raise fail(name, f"holds a tensor built by {show(f.name[:120])}: lstm-tui reads the dense tensors of "
                         "torch._utils._rebuild_tensor_v2")
    return Opaque(f.name)


class _Reader:
    """One data.pkl's interpretation: its stack, memo, and what it has built so far (see the module docstring)."""

    def __init__(self, name: str):
        self.name = name
        self.storages: dict[tuple, _Storage] = {}  # each storage once, however many tensors view it
        self.spent = {"storages": 0, "tensors": 0, "bytes": 0}  # bytes read, copied, and built from strings
        self.values = 0  # items of containers built
        self.depth: dict[int, tuple] = {}  # id of a tuple -> (the tuple, how deep tuples nest in it, its values)

    def spend(self, n: int, what: str) -> None:
        self.spent[what] += n
        if what == "bytes" and self.spent[what] > MAX_NEW_BYTES:
            raise fail(self.name, f"data.pkl builds over {MAX_NEW_BYTES // 2**20} MB of bytes: not a state dict")
        if what == "storages" and self.spent[what] > MAX_STORAGE_BYTES:
            raise fail(self.name, f"its storages are over {MAX_STORAGE_BYTES // 2**30} GB")
        if what == "tensors" and self.spent[what] > COPIES[0] * self.spent["storages"] + COPIES[1]:
            raise fail(self.name, f"its tensors copy {self.spent[what]:,} bytes out of storages of "
                                  f"{self.spent['storages']:,}: more than a state dict's views of them")

    def count(self, n: int) -> None:
        self.values += n
        if self.values > MAX_VALUES:
            raise fail(self.name, f"data.pkl builds more than {MAX_VALUES:,} values: not a state dict")

    def tuple_of(self, items) -> tuple:
        self.count(len(items))
        t = tuple(items)
        inner = [self.depth[id(i)] for i in t if type(i) is tuple and id(i) in self.depth]
        depth = 1 + max((d for _, d, _ in inner), default=0)
        size = len(t) + sum(n for _, _, n in inner)
        if depth > MAX_NESTING or size > MAX_TUPLE:
            raise fail(self.name, f"data.pkl builds a tuple nested more than {MAX_NESTING} deep or of more than "
                                  f"{MAX_TUPLE:,} values: not a state dict")
        self.depth[id(t)] = (t, depth, size)  # (the tuple kept, so that its id is not reused)
        return t

    def keyed(self, pairs: list) -> list:
        """``pairs`` (key, value, key, value ...), if every key is one a state dict or an optimizer's state has:
        text, a whole number of 32 bits, True, False, None, or a tuple of them (others can be made to
        share one hash, and a dict of them takes quadratic time)."""
        def fine(k):
            return type(k) in (str, bool) or k is None or type(k) is int and -(2**31) <= k < 2**31 or \
                type(k) is tuple and all(fine(i) for i in k)

        if not all(fine(k) for k in pairs[::2]):
            raise fail(self.name, "data.pkl keys a dict by something other than text or a small whole number")
        return pairs

    def global_(self, module, attr) -> Global:
        from .arrays import refused_global

        if not isinstance(module, str) or not isinstance(attr, str) or len(module) + len(attr) > MAX_NAME:
            raise fail(self.name, "data.pkl names a global by something other than a short text")
        g = f"{module}.{attr}".replace(" ", ".")
        refused_global(g, self.name)  # a module, a class or code: never built, and refused as arrays.py does
        return Global(g)

    def run(self, data: bytes, storage):
        """The value ``data`` (a pickle) describes, read opcode by opcode."""
        stack: list = []
        memo: dict = {}
        name = self.name

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
                    if len(stack) < n:
                        raise IndexError(code)
                    items = stack[-n:]
                    del stack[-n:]
                    stack.append(self.tuple_of(items))
                elif code in ("TUPLE", "LIST"):
                    items = to_mark()
                    if code == "LIST":
                        self.count(len(items))
                    stack.append(self.tuple_of(items) if code == "TUPLE" else items)
                elif code == "DICT":
                    items = to_mark()
                    self.count(len(items))
                    items = self.keyed(items)
                    stack.append(dict(zip(items[::2], items[1::2])))
                elif code in ("APPEND", "APPENDS"):
                    items = [stack.pop()] if code == "APPEND" else to_mark()
                    self.count(len(items))
                    stack[-1].extend(items)
                elif code in ("SETITEM", "SETITEMS"):
                    items = stack[-2:] if code == "SETITEM" else to_mark()
                    if code == "SETITEM":
                        del stack[-2:]
                    self.count(len(items))
                    target = stack[-1]
                    if isinstance(target, dict):
                        items = self.keyed(items)
                        target.update(zip(items[::2], items[1::2]))
                elif code in ("BINPUT", "LONG_BINPUT", "PUT"):
                    memo[arg] = stack[-1]
                elif code == "MEMOIZE":
                    memo[len(memo)] = stack[-1]
                elif code in ("BINGET", "LONG_BINGET", "GET"):
                    stack.append(memo[arg])
                elif code == "GLOBAL":
                    stack.append(self.global_(*str(arg).split(" ", 1)))
                elif code == "STACK_GLOBAL":
                    module, attr = stack[-2:]
                    del stack[-2:]
                    stack.append(self.global_(module, attr))
                elif code == "REDUCE":
                    args = stack.pop()
                    stack[-1] = _build(self, stack[-1], args)
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
        except (ValueError, IndexError, KeyError, TypeError, AttributeError, RecursionError, OverflowError) as exc:
            raise fail(name, f"data.pkl is malformed ({type(exc).__name__})") from None
        raise fail(name, "data.pkl is malformed (no STOP)")
