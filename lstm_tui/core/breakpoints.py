"""Breakpoints: conditions over one step's numbers, parsed and evaluated safely.

A breakpoint is a short expression typed by the user, such as ``f[12] < 0.1``,
``abs(c).max() > 3``, ``token == "("`` or ``y.argmax() != next_token``. It is
read by a small tokenizer and recursive-descent parser written here and
evaluated by this module's own interpreter: nothing is handed to Python's
``eval``, ``exec`` or ``compile``, and only the forms below exist.

Names, at step t of the layer being tested (vectors are (H,) unless said):

- the cell's quantities: ``i f g o c h`` (LSTM), ``r z n h`` (GRU), ``h`` (RNN);
- ``h_prev`` (and ``c_prev`` for an LSTM): the state before the step, hᵗ⁻¹, cᵗ⁻¹;
- ``x``: the layer's input vector, (E,) for the first layer, (H,) above it;
- ``y``: the next-token probabilities (V,), if the model has an output head;
- ``t``: the step, 1-based as the UI shows it; ``layer``: the layer, 1-based;
- ``token``, ``prev_token``, ``next_token``: the step's token and its
  neighbours ("" where there is none: before the first step, after the last);
- ``top``: the token the head ranks first at this step (with an output head);
- ``token_id``, ``prev_id``, ``next_id``: vocabulary ids, -1 where there is no
  token or the input was feature frames.

Tokens compare with ``==`` and ``!=`` only. Against a string they compare
their text (``token == "("``); against a number they compare their id, so
``y.argmax() != next_token`` holds where the model's top prediction is not the
token that follows (and at the last step, which has no next token). ``top``
compares by id; against a string it needs the model's vocabulary (the
``vocab`` argument) unless the string occurs in the traced text itself.
Unknown tokens (mapped to ``<unk>``) keep their text and take ``<unk>``'s id.

Grammar (loosest first)::

    expr    := and ('or' and)*
    and     := not ('and' not)*
    not     := 'not' not | compare
    compare := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)*     chains as in Python
    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/') unary)*
    unary   := ('-' | '+') unary | power
    power   := postfix ('**' unary)?                               |exponent| <= 64
    postfix := atom ('[' index ']' | '.' method '(' ')')*
    index   := sum | [sum] ':' [sum] [':' [sum]]                   whole numbers, checked
    atom    := number | string | name | 'True' | 'False' | function '(' expr (',' expr)* ')' | '(' expr ')'

Functions: abs, tanh (elementwise); min, max (of a vector, or elementwise of
two or more values); mean, sum, std, any, all, argmax, argmin, len (of a
vector). Methods on vectors: .max() .min() .mean() .sum() .std() .argmax()
.argmin() .any() .all(). Strings are ``"..."`` or ``'...'`` with the escapes
``\\\\ \\" \\' \\n \\t``.

Rules the interpreter keeps: arithmetic and ordering apply to numbers and
booleans only (never to strings or tokens); ``and``, ``or`` and ``not`` take
conditions and work unit by unit on vectors; a vector condition must be
reduced with any() or all() (``(f < 0.1).any()``); division by zero gives
±inf or nan rather than an error; an index may be a number fixed for the whole
run or one that changes per step (``c[h.argmax()]``), and is checked against
the vector's length. ``and``/``or`` do not guard errors: a condition is
evaluated on every step it is scanned over, both sides. Numbers written with
a point or an exponent are float64, so ``f[3] < 0.1`` means 0.1 as written,
not rounded to the trace's float32; ``**`` is computed in float64 (it
overflows to inf, never to a huge integer). An expression is at most 500
characters and 30 levels deep.

API: :func:`compile_breakpoint` checks the text and names against a cell kind
at once; :meth:`Breakpoint.test` evaluates one step; :func:`find_next` finds
the nearest step either way where any enabled breakpoint holds. Their
``layer`` and ``k`` arguments are 0-based like the trace's arrays (the names
``t`` and ``layer`` inside an expression are 1-based like the UI). Errors are
:class:`InputError` with one line: a column for a malformed text, the step
for a failure while evaluating.

Evaluation is vectorised over steps: :func:`find_next` evaluates every
breakpoint on blocks of steps at once (64 first, growing to 65,536), so a
scan of a long trace costs a few NumPy operations per block.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from functools import reduce
from typing import Callable

import numpy as np

from .cells import QUANTITIES
from .errors import InputError
from .trace import Trace

MAX_LENGTH = 500  # characters in one expression
MAX_DEPTH = 30  # nesting of brackets, unary operators, powers and subscripts
MAX_EXPONENT = 64  # largest |b| allowed in a ** b

#: Functions callable by name; each takes one argument except min and max.
FUNCTIONS = ("abs", "tanh", "min", "max", "mean", "sum", "std", "any", "all", "argmax", "argmin", "len")

#: Methods on vectors, each called with no arguments: ``v.max()``.
METHODS = ("max", "min", "mean", "sum", "std", "argmax", "argmin", "any", "all")

_TOKEN_NAMES = ("token", "prev_token", "next_token")
_ID_NAMES = ("token_id", "prev_id", "next_id")
_HEAD_NAMES = ("y", "top")
_GATE_NAMES = frozenset(q for qs in QUANTITIES.values() for q in qs)
_CONSTANTS = {"True": True, "False": False}
_FORBIDDEN = frozenset(keyword.kwlist) - {"and", "or", "not", "True", "False"}

_FIRST_BLOCK = 64  # steps in the first block a scan evaluates
_LAST_BLOCK = 65536  # largest block: bounds the memory of one evaluation


def names_for(cell: str, has_head: bool) -> tuple[str, ...]:
    """Every name a breakpoint may use for this cell kind, in the order messages list them."""
    if cell not in QUANTITIES:
        raise InputError(f"unknown cell {cell!r}: expected one of {', '.join(QUANTITIES)}")
    prev = ("c_prev", "h_prev") if cell == "lstm" else ("h_prev",)
    head = _HEAD_NAMES if has_head else ()
    return QUANTITIES[cell] + prev + ("x",) + head + ("t", "layer") + _TOKEN_NAMES + _ID_NAMES


# ---------------------------------------------------------------------------
# Tokenizer and parser: text -> tree of _Node


_LEXEME = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|<=|>=|==|!=|[-+*/<>()\[\]:,.=])"
)
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
_HINTS = {"&": "use 'and'", "|": "use 'or'", "!": "use 'not' or '!='", "%": "only + - * / ** are allowed"}


@dataclass(frozen=True)
class _Lexeme:
    kind: str  # "num", "str", "name", "op" or "end"
    value: object  # the number, the string's contents, or the text
    start: int  # 0-based offsets in the expression: [start, end)
    end: int


@dataclass(frozen=True)
class _Node:
    op: str  # what the node does: "const", "name", "arith", "call", ... (a _Builder.b_* method)
    args: tuple  # children (or the literal value, name, operators)
    start: int  # the node's span in the expression, for messages
    end: int


def _fail(pos: int, message: str) -> InputError:
    return InputError(f"column {pos + 1}: {message}")


def _lex(text: str) -> list[_Lexeme]:
    out: list[_Lexeme] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch in "\"'":
            chars, k = [], pos + 1
            while True:
                if k >= len(text):
                    raise _fail(pos, "this string is not closed")
                c = text[k]
                if c == ch:
                    break
                if c == "\\":
                    nxt = text[k + 1 : k + 2]
                    if nxt not in _ESCAPES:
                        raise _fail(k, f"unknown escape {text[k:k + 2]!r} (known: \\\\ \\\" \\' \\n \\t)")
                    chars.append(_ESCAPES[nxt])
                    k += 2
                else:
                    chars.append(c)
                    k += 1
            out.append(_Lexeme("str", "".join(chars), pos, k + 1))
            pos = k + 1
            continue
        m = _LEXEME.match(text, pos)
        if m is None:
            hint = _HINTS.get(ch)
            raise _fail(pos, f"unexpected character {ch!r}" + (f": {hint}" if hint else ""))
        kind = m.lastgroup
        if kind == "num":
            s = m.group()
            value: object = float(s)
            if not any(c in s for c in ".eE") and value <= 2**53:
                value = int(s)
            out.append(_Lexeme("num", value, pos, m.end()))
        elif kind != "ws":
            out.append(_Lexeme(kind, m.group(), pos, m.end()))
        pos = m.end()
    out.append(_Lexeme("end", "", len(text), len(text)))
    return out


def _describe(lx: _Lexeme) -> str:
    if lx.kind == "end":
        return "the end"
    if lx.kind == "str":
        return "a string"
    return repr(str(lx.value))


class _Parser:
    """Recursive descent over the lexemes, one method per grammar rule."""

    def __init__(self, text: str, names: tuple[str, ...], has_head: bool):
        self.lx = _lex(text)
        self.pos = 0
        self.depth = 0
        self.names = names
        self.has_head = has_head
        self.used: set[str] = set()

    # helpers
    def peek(self) -> _Lexeme:
        return self.lx[self.pos]

    def take(self) -> _Lexeme:
        lx = self.lx[self.pos]
        self.pos += 1
        return lx

    def at(self, *ops: str) -> bool:
        lx = self.lx[self.pos]
        return lx.kind in ("op", "name") and lx.value in ops

    def expect(self, op: str, what: str) -> _Lexeme:
        lx = self.peek()
        if lx.kind == "op" and lx.value == op:
            return self.take()
        raise _fail(lx.start, f"expected {what}, found {_describe(lx)}")

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _fail(pos, f"nested more than {MAX_DEPTH} levels deep")

    # rules
    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise InputError("the breakpoint is empty: type a condition such as f[0] < 0.1")
        node = self.expr()
        lx = self.peek()
        if lx.kind != "end":
            if lx.kind == "op" and lx.value == "=":
                raise _fail(lx.start, "'=' assigns: use '==' to compare")
            if lx.kind == "name" and lx.value in _FORBIDDEN:
                raise _fail(lx.start, f"'{lx.value}' is not allowed in a breakpoint")
            raise _fail(lx.start, f"unexpected {_describe(lx)} after a complete condition")
        return node

    def _chain(self, op: str, word: str, sub: Callable[[], _Node]) -> _Node:
        items = [sub()]
        while self.peek().kind == "name" and self.peek().value == word:
            self.take()
            items.append(sub())
        if len(items) == 1:
            return items[0]
        return _Node(op, tuple(items), items[0].start, items[-1].end)

    def expr(self) -> _Node:
        return self._chain("or", "or", self.and_)

    def and_(self) -> _Node:
        return self._chain("and", "and", self.not_)

    def not_(self) -> _Node:
        lx = self.peek()
        if lx.kind == "name" and lx.value == "not":
            self.take()
            self.enter(lx.start)
            try:
                a = self.not_()
            finally:
                self.depth -= 1
            return _Node("not", (a,), lx.start, a.end)
        return self.compare()

    def compare(self) -> _Node:
        items, ops = [self.sum_()], []
        while self.peek().kind == "op" and self.peek().value in ("<", "<=", ">", ">=", "==", "!="):
            ops.append(self.take().value)
            items.append(self.sum_())
        if not ops:
            return items[0]
        return _Node("compare", (tuple(items), tuple(ops)), items[0].start, items[-1].end)

    def _binary(self, op: str, symbols: tuple[str, ...], sub: Callable[[], _Node]) -> _Node:
        items, ops = [sub()], []
        while self.peek().kind == "op" and self.peek().value in symbols:
            ops.append(self.take().value)
            items.append(sub())
        if not ops:
            return items[0]
        return _Node(op, (tuple(items), tuple(ops)), items[0].start, items[-1].end)

    def sum_(self) -> _Node:
        return self._binary("arith", ("+", "-"), self.product)

    def product(self) -> _Node:
        return self._binary("arith", ("*", "/"), self.unary)

    def unary(self) -> _Node:
        lx = self.peek()
        self.enter(lx.start)
        try:
            if lx.kind == "op" and lx.value in ("-", "+"):
                self.take()
                a = self.unary()
                return _Node("neg" if lx.value == "-" else "pos", (a,), lx.start, a.end)
            base = self.postfix()
            if self.at("**") and self.peek().kind == "op":
                self.take()
                exp = self.unary()
                return _Node("pow", (base, exp), base.start, exp.end)
            return base
        finally:
            self.depth -= 1

    def postfix(self) -> _Node:
        node = self.atom()
        levels = 0
        try:
            while self.peek().kind == "op" and self.peek().value in ("[", "."):
                lx = self.take()
                self.enter(lx.start)
                levels += 1
                if lx.value == "[":
                    node = self.subscript(node)
                else:
                    node = self.method(node, lx)
        finally:
            self.depth -= levels
        return node

    def subscript(self, target: _Node) -> _Node:
        parts: list[_Node | None] = [None]
        colons = 0
        while True:
            lx = self.peek()
            if lx.kind == "op" and lx.value == ":":
                self.take()
                colons += 1
                if colons > 2:
                    raise _fail(lx.start, "a slice has at most two ':'")
                parts.append(None)
            elif lx.kind == "op" and lx.value == "]":
                break
            elif lx.kind == "op" and lx.value == ",":
                raise _fail(lx.start, "one index only: these vectors have one axis")
            elif parts[-1] is None:
                parts[-1] = self.sum_()
            else:
                raise _fail(lx.start, f"expected ']' or ':', found {_describe(lx)}")
        end = self.take().start + 1
        if colons == 0:
            if parts[0] is None:
                raise _fail(end - 1, "expected an index inside [ ]")
            return _Node("index", (target, parts[0]), target.start, end)
        while len(parts) < 3:
            parts.append(None)
        return _Node("slice", (target, *parts), target.start, end)

    def method(self, target: _Node, dot: _Lexeme) -> _Node:
        lx = self.peek()
        if lx.kind != "name":
            raise _fail(lx.start, f"expected a method name after '.', found {_describe(lx)}")
        if lx.value not in METHODS:
            allowed = " ".join(f".{m}()" for m in METHODS)
            raise _fail(dot.start, f"'.{lx.value}' is not allowed: the methods are {allowed}")
        self.take()
        self.expect("(", f"'(' after .{lx.value}")
        close = self.peek()
        if not (close.kind == "op" and close.value == ")"):
            raise _fail(close.start, f".{lx.value}() takes no arguments")
        self.take()
        return _Node("method", (target, lx.value), target.start, close.start + 1)

    def atom(self) -> _Node:
        lx = self.take()
        if lx.kind in ("num", "str"):
            return _Node("const", (lx.value,), lx.start, lx.end)
        if lx.kind == "op" and lx.value == "(":
            inner = self.expr()
            close = self.expect(")", "')'")
            return _Node(inner.op, inner.args, lx.start, close.end)
        if lx.kind == "name":
            return self.name(lx)
        if lx.kind == "op" and lx.value in ("[", "{"):
            raise _fail(lx.start, "lists are not allowed: expected a value")
        raise _fail(lx.start, f"expected a value, found {_describe(lx)}")

    def name(self, lx: _Lexeme) -> _Node:
        word = str(lx.value)
        end = lx.start + len(word)
        calls = self.at("(") and self.peek().kind == "op"
        if word in _CONSTANTS:
            return _Node("const", (_CONSTANTS[word],), lx.start, end)
        if word in ("and", "or", "not") or word in _FORBIDDEN:
            if word in ("and", "or", "not"):
                raise _fail(lx.start, f"expected a value before '{word}'")
            raise _fail(lx.start, f"'{word}' is not allowed in a breakpoint")
        if word in FUNCTIONS:
            if not calls:
                raise _fail(lx.start, f"'{word}' is a function: call it, as in {word}(f)")
            return self.call(lx, word)
        if calls:
            if word in self.names:
                raise _fail(lx.start, f"'{word}' is not a function")
            raise _fail(lx.start, f"unknown function {_short(word)} (functions: {', '.join(FUNCTIONS)})")
        if word not in self.names:
            if word in _HEAD_NAMES and not self.has_head:
                raise _fail(lx.start, f"'{word}' needs a model with an output head")
            every = ", ".join(self.names)
            raise _fail(lx.start, f"unknown name {_short(word)} (expected one of: {every})")
        self.used.add(word)
        return _Node("name", (word,), lx.start, end)

    def call(self, lx: _Lexeme, word: str) -> _Node:
        self.take()  # (
        args: list[_Node] = []
        self.enter(lx.start)
        try:
            if self.at(")") and self.peek().kind == "op":
                raise _fail(self.peek().start, f"{word}() needs an argument")
            while True:
                first, second = self.peek(), self.lx[min(self.pos + 1, len(self.lx) - 1)]
                if first.kind == "name" and second.kind == "op" and second.value == "=":
                    raise _fail(first.start, f"keyword arguments are not allowed ({first.value}=...)")
                a = self.expr()
                nxt = self.peek()
                if nxt.kind == "op" and nxt.value == "=":
                    raise _fail(nxt.start, "keyword arguments are not allowed")
                args.append(a)
                if nxt.kind == "op" and nxt.value == ",":
                    self.take()
                    continue
                close = self.expect(")", "',' or ')'")
                break
        finally:
            self.depth -= 1
        return _Node("call", (word, tuple(args)), lx.start, close.start + 1)


def _short(word: str) -> str:
    return repr(word if len(word) <= 24 else word[:21] + "...")


# ---------------------------------------------------------------------------
# Values: every name becomes an array over a block of n steps. A per-step
# number is (n, 1), a per-step vector (n, m), a constant a NumPy or Python
# scalar; so NumPy's broadcasting pairs a step's number with the same step's
# vector. Tokens are _Tokens.


class _EvalError(Exception):
    """An error while evaluating a block; ``row`` is the block's row at fault, if known."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row


@dataclass
class _Tokens:
    """Token values over a block: text (n, 1) (None for ``top``) and ids (n, 1), -1 for none."""

    texts: np.ndarray | None
    ids: np.ndarray


class _Scan:
    """What every block of one scan shares: the trace, layer, vocabulary and lookups."""

    def __init__(self, trace: Trace, layer: int, vocab: tuple[str, ...] | None):
        if not 0 <= layer < trace.num_layers:
            raise InputError(f"layer {layer + 1} does not exist: the model has {trace.num_layers}")
        self.trace = trace
        self.layer = layer
        self.vocab = vocab
        self._ids: dict[str, int] | None = None

    def id_of(self, text: str) -> int | None:
        """The vocabulary id of a token string: from ``vocab`` or, lacking it, the trace's own tokens."""
        if self._ids is None:
            if self.vocab is not None:
                self._ids = {s: k for k, s in enumerate(self.vocab)}
            else:
                tr = self.trace
                ids = [] if tr.ids is None else tr.ids.tolist()
                self._ids = {s: int(i) for s, i, u in zip(tr.tokens, ids, tr.unknown.tolist()) if not u}
        return self._ids.get(text)


class _Block:
    """Steps lo..hi-1 of one scan; ``first`` is the step scanned first, for messages."""

    def __init__(self, scan: _Scan, lo: int, hi: int, first: int):
        self.scan = scan
        self.lo, self.hi, self.first = lo, hi, first
        self.cache: dict[str, object] = {}

    def get(self, name: str) -> object:
        v = self.cache.get(name)
        if v is None:
            v = self.cache[name] = self._load(name)
        return v

    def _load(self, name: str) -> object:
        tr, L, lo, hi = self.scan.trace, self.scan.layer, self.lo, self.hi
        if name in tr.states:
            return tr.states[name][L][lo:hi]  # layers may differ in width: index the layer first
        if name in ("c_prev", "h_prev"):
            q = name[0]
            if q not in tr.states or (q == "c" and tr.c0 is None):
                raise _EvalError(f"this {tr.cell} trace has no {name}")
            return tr.states_before(q, L, lo, hi)  # a backward direction's units: the state at t + 1
        if name == "x":
            return tr.layer_input(L)[lo:hi]
        if name == "y":
            if tr.y is None:
                raise _EvalError("this trace has no output head, so no y")
            return tr.y[lo:hi]
        if name == "t":
            return np.arange(lo + 1, hi + 1)[:, None] + tr.offset  # a window of a long run counts from its place
        if name == "layer":
            return L + 1
        if name in _TOKEN_NAMES or name in _ID_NAMES:
            shift = {"token": 0, "prev_token": -1, "next_token": 1, "token_id": 0, "prev_id": -1, "next_id": 1}[name]
            tok = self._tokens(shift)
            return tok if name in _TOKEN_NAMES else tok.ids
        if name == "top":
            y = self.get("y")
            return _Tokens(None, y.argmax(axis=1)[:, None])
        raise _EvalError(f"this {tr.cell} trace has no {name}")

    def _tokens(self, shift: int) -> _Tokens:
        tr = self.scan.trace
        T, lo, hi = tr.steps, self.lo + shift, self.hi + shift
        a, b = max(lo, 0), min(hi, T)
        before, after = a - lo, hi - b  # rows outside the text: "" and id -1
        texts = [""] * before + list(tr.tokens[a:b]) + [""] * after
        ids = np.full(hi - lo, -1, dtype=np.int64)
        if tr.ids is not None:
            ids[before : before + (b - a)] = tr.ids[a:b]
        return _Tokens(np.array(texts, dtype=str)[:, None], ids[:, None])


# ---------------------------------------------------------------------------
# The interpreter: each node becomes a closure over a _Block, with its kind
# known before any step is seen, so that type errors are found when the
# breakpoint is typed.

_NUMERIC = ("int", "float", "bool")


@dataclass(frozen=True)
class _Typed:
    kind: str  # "int", "float", "bool", "str" or "token"
    vec: bool  # a vector at each step (else one value per step)
    fn: Callable[[_Block], object]  # the node's value over a block
    const: bool = False  # the same value everywhere, known when typed


def _as_number(a):
    """Booleans take part in arithmetic as 0 and 1 (NumPy refuses bool - bool)."""
    if isinstance(a, (bool, np.bool_)):
        return int(a)
    if isinstance(a, np.ndarray) and a.dtype == bool:
        return a.astype(np.int64)
    return a


class _Builder:
    def __init__(self, text: str):
        self.text = text

    def src(self, node: _Node) -> str:
        s = self.text[node.start : node.end].strip()
        return s if len(s) <= 40 else s[:37] + "..."

    def fail(self, node: _Node, message: str) -> InputError:
        return _fail(node.start, message)

    def build(self, node: _Node) -> _Typed:
        typed = getattr(self, "b_" + node.op)(node)
        if typed.const and not isinstance(typed.fn, _Const):
            try:
                with np.errstate(all="ignore"):
                    value = typed.fn(None)
            except _EvalError as e:
                raise self.fail(node, str(e)) from None
            typed = _Typed(typed.kind, typed.vec, _Const(value), True)
        return typed

    # leaves
    def b_const(self, node: _Node) -> _Typed:
        v = node.args[0]
        kind = {bool: "bool", int: "int", float: "float", str: "str"}[type(v)]
        if kind == "float":
            v = np.float64(v)  # compared as written, not rounded to the trace's float32
        return _Typed(kind, False, _Const(v), True)

    def b_name(self, node: _Node) -> _Typed:
        name = node.args[0]
        if name in ("t", "layer") or name in _ID_NAMES:
            kind, vec = "int", False
        elif name in _TOKEN_NAMES or name == "top":
            kind, vec = "token", False
        else:
            kind, vec = "float", True
        return _Typed(kind, vec, lambda b: b.get(name))

    # arithmetic
    def numeric(self, node: _Node, typed: _Typed, what: str) -> None:
        if typed.kind not in _NUMERIC:
            noun = "a string" if typed.kind == "str" else "a token"
            raise self.fail(node, f"{what} needs numbers, and {self.src(node)!r} is {noun}")

    def b_neg(self, node: _Node) -> _Typed:
        a = self.build(node.args[0])
        self.numeric(node.args[0], a, "'-'")
        f = a.fn
        return _Typed("int" if a.kind != "float" else "float", a.vec, lambda b: np.negative(_as_number(f(b))), a.const)

    def b_pos(self, node: _Node) -> _Typed:
        a = self.build(node.args[0])
        self.numeric(node.args[0], a, "'+'")
        f = a.fn
        return _Typed("int" if a.kind != "float" else "float", a.vec, lambda b: _as_number(f(b)), a.const)

    def b_arith(self, node: _Node) -> _Typed:
        items, ops = node.args
        parts = [self.build(n) for n in items]
        kind = "int"
        for n, p, op in zip(items, parts, ("",) + ops):
            self.numeric(n, p, f"'{op or ops[0]}'")
            if p.kind == "float" or op == "/":
                kind = "float"
        ufunc = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide}
        fns = [p.fn for p in parts]
        steps = [ufunc[o] for o in ops]
        span = self.src(node)

        def run(b):
            acc = _as_number(fns[0](b))
            for u, f in zip(steps, fns[1:]):
                acc = _broadcast(u, acc, _as_number(f(b)), span)
            return acc

        return _Typed(kind, any(p.vec for p in parts), run, all(p.const for p in parts))

    def b_pow(self, node: _Node) -> _Typed:
        base_n, exp_n = node.args
        base, exp = self.build(base_n), self.build(exp_n)
        self.numeric(base_n, base, "'**'")
        self.numeric(exp_n, exp, "'**'")
        if exp.vec:
            raise self.fail(exp_n, "the exponent must be one number, not a vector")
        if exp.const:
            e = exp.fn(None)
            if not abs(float(e)) <= MAX_EXPONENT:
                raise self.fail(exp_n, f"exponent {float(e):g} is not allowed: at most {MAX_EXPONENT} in size")
        fb, fe = base.fn, exp.fn
        span = self.src(node)

        def run(b):
            e = np.asarray(_as_number(fe(b)), dtype=np.float64)
            bad = np.abs(e) > MAX_EXPONENT
            if bad.any():
                row = _first_row(bad.reshape(-1), b) if e.ndim else None
                raise _EvalError(f"exponent in {span!r} is larger than {MAX_EXPONENT}", row)
            return np.power(np.asarray(_as_number(fb(b)), dtype=np.float64), e)

        return _Typed("float", base.vec, run, base.const and exp.const)

    # conditions
    def b_compare(self, node: _Node) -> _Typed:
        items, ops = node.args
        parts = [self.build(n) for n in items]
        tests = []
        for (na, a), (nb, bb), op in zip(zip(items, parts), zip(items[1:], parts[1:]), ops):
            tests.append(self.comparison(na, a, nb, bb, op))
        vec = any(p.vec for p in parts)
        fns = [p.fn for p in parts]

        def run(b):
            values = [f(b) for f in fns]
            out = None
            for k, test in enumerate(tests):
                r = test(values[k], values[k + 1], b)
                out = r if out is None else _broadcast(np.logical_and, out, r, "")
            return out

        return _Typed("bool", vec, run, all(p.const for p in parts))

    def comparison(self, na: _Node, a: _Typed, nb: _Node, b: _Typed, op: str) -> Callable:
        ufunc = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                 "==": np.equal, "!=": np.not_equal}[op]
        span = f"{self.src(na)} {op} {self.src(nb)}"
        if a.kind in _NUMERIC and b.kind in _NUMERIC:
            return lambda x, y, blk: _broadcast(ufunc, x, y, span)
        if op not in ("==", "!="):
            who = na if a.kind in ("str", "token") else nb
            raise self.fail(who, f"{self.src(who)!r} is text: text compares only with == and !=")
        negate = op == "!="
        if a.kind == "str" and b.kind == "str":
            return lambda x, y, blk: (x != y) if negate else (x == y)
        if {a.kind, b.kind} <= {"str", "token"}:
            return lambda x, y, blk: _token_equal(x, y, blk, negate)
        # text against a number: only a token against a whole number (its id) means something
        tok_first = a.kind in ("str", "token")
        text_n, text, num_n, num = (na, a, nb, b) if tok_first else (nb, b, na, a)
        if text.kind == "str":
            raise self.fail(num_n, f"cannot compare the string {self.src(text_n)} with the number {self.src(num_n)!r}")
        if num.kind != "int" or num.vec:
            raise self.fail(num_n, f"a token compares with a string or with one whole number (an id), "
                                   f"and {self.src(num_n)!r} is neither")

        def by_id(x, y, blk):
            t, n = (x, y) if tok_first else (y, x)
            r = np.equal(t.ids, n)
            return ~r if negate else r

        return by_id

    def logic(self, node: _Node, typed: _Typed, word: str) -> None:
        if typed.kind != "bool":
            raise self.fail(node, f"'{word}' needs conditions, and {self.src(node)!r} is not one: compare it, "
                                  f"as in {self.src(node)} > 0")

    def b_not(self, node: _Node) -> _Typed:
        a = self.build(node.args[0])
        self.logic(node.args[0], a, "not")
        f = a.fn
        return _Typed("bool", a.vec, lambda b: np.logical_not(f(b)), a.const)

    def _andor(self, node: _Node, word: str, ufunc) -> _Typed:
        parts = [self.build(n) for n in node.args]
        for n, p in zip(node.args, parts):
            self.logic(n, p, word)
        fns = [p.fn for p in parts]
        span = self.src(node)

        def run(b):
            return reduce(lambda acc, f: _broadcast(ufunc, acc, f(b), span), fns[1:], fns[0](b))

        return _Typed("bool", any(p.vec for p in parts), run, all(p.const for p in parts))

    def b_and(self, node: _Node) -> _Typed:
        return self._andor(node, "and", np.logical_and)

    def b_or(self, node: _Node) -> _Typed:
        return self._andor(node, "or", np.logical_or)

    # subscripts, methods and functions
    def vector(self, node: _Node, typed: _Typed, what: str) -> None:
        if typed.kind not in _NUMERIC:
            raise self.fail(node, f"{what} applies to vectors, and {self.src(node)!r} is text")
        if not typed.vec:
            raise self.fail(node, f"{what} applies to vectors, and {self.src(node)!r} is a single number")

    def b_index(self, node: _Node) -> _Typed:
        target_n, idx_n = node.args
        target, idx = self.build(target_n), self.build(idx_n)
        self.vector(target_n, target, "indexing")
        if idx.kind != "int" or idx.vec:
            raise self.fail(idx_n, f"an index must be a whole number, and {self.src(idx_n)!r} is not")
        ft, fi = target.fn, idx.fn
        name = self.src(target_n)

        def run(b):
            a = ft(b)
            m = a.shape[1]
            j = fi(b)
            if np.ndim(j) == 0:
                j = int(j)
                if not -m <= j < m:
                    raise _EvalError(f"index {j} is out of range for {name}, which has {m} values (0 to {m - 1})")
                j %= m
                return a[:, j : j + 1]
            bad = (j < -m) | (j >= m)
            if bad.any():
                row = _first_row(bad[:, 0], b)
                raise _EvalError(f"index {int(j[row, 0])} is out of range for {name}, which has {m} values "
                                 f"(0 to {m - 1})", row)
            return np.take_along_axis(a, j % m, axis=1)

        return _Typed(target.kind, False, run, False)

    def b_slice(self, node: _Node) -> _Typed:
        target_n, *bounds_n = node.args
        target = self.build(target_n)
        self.vector(target_n, target, "slicing")
        fns = []
        for n in bounds_n:
            if n is None:
                fns.append(None)
                continue
            t = self.build(n)
            if t.kind != "int" or t.vec:
                raise self.fail(n, f"a slice bound must be a whole number, and {self.src(n)!r} is not")
            fns.append(t.fn)
        ft = target.fn
        name = self.src(target_n)
        span = self.src(node)

        def run(b):
            a = ft(b)
            m = a.shape[1]
            vals = []
            for f in fns:
                v = None if f is None else f(b)
                if v is not None and np.ndim(v) != 0:
                    raise _EvalError(f"the bounds of {span!r} must be the same at every step")
                vals.append(None if v is None else int(v))
            lo, hi, st = vals
            if st == 0:
                raise _EvalError(f"the step of {span!r} is zero")
            for v in (lo, hi):
                if v is not None and not -m <= v <= m:
                    raise _EvalError(f"bound {v} is out of range for {name}, which has {m} values (0 to {m - 1})")
            sl = slice(lo, hi, st)
            if not len(range(m)[sl]):
                raise _EvalError(f"{span!r} selects no values of {name}, which has {m}")
            return a[:, sl]

        return _Typed(target.kind, True, run, False)

    def b_method(self, node: _Node) -> _Typed:
        target_n, meth = node.args
        target = self.build(target_n)
        self.vector(target_n, target, f".{meth}()")
        return _reduction(meth, target)

    def b_call(self, node: _Node) -> _Typed:
        word, args_n = node.args
        args = [self.build(n) for n in args_n]
        for n, a in zip(args_n, args):
            if a.kind not in _NUMERIC:
                raise self.fail(n, f"{word}() needs numbers, and {self.src(n)!r} is text")
        if word in ("min", "max") and len(args) > 1:
            u = np.minimum if word == "min" else np.maximum
            fns = [a.fn for a in args]
            span = self.src(node)
            kind = "float" if any(a.kind == "float" for a in args) else "int"

            def run(b):
                acc = _as_number(fns[0](b))
                for f in fns[1:]:
                    acc = _broadcast(u, acc, _as_number(f(b)), span)
                return acc

            return _Typed(kind, any(a.vec for a in args), run, all(a.const for a in args))
        if len(args) != 1:
            raise self.fail(node, f"{word}() takes one argument, not {len(args)}")
        (a,), (n,) = args, args_n
        f = a.fn
        if word == "abs":
            return _Typed("float" if a.kind == "float" else "int", a.vec, lambda b: np.abs(_as_number(f(b))), a.const)
        if word == "tanh":
            return _Typed("float", a.vec, lambda b: np.tanh(np.asarray(_as_number(f(b)), dtype=np.float64)), a.const)
        self.vector(n, a, f"{word}()")
        if word == "len":
            return _Typed("int", False, lambda b: f(b).shape[1])
        return _reduction(word, a)


class _Const:
    """A value known when the breakpoint is typed."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __call__(self, b):
        return self.value


def _reduction(word: str, a: _Typed) -> _Typed:
    f = a.fn
    kind = {"max": a.kind, "min": a.kind, "sum": "int" if a.kind != "float" else "float", "mean": "float",
            "std": "float", "argmax": "int", "argmin": "int", "any": "bool", "all": "bool"}[word]
    if word in ("sum", "mean", "std"):
        reducer = getattr(np, word)
        return _Typed(kind, False, lambda b: reducer(_as_number(f(b)), axis=1, keepdims=True))
    if word in ("argmax", "argmin"):
        reducer = getattr(np, word)
        return _Typed(kind, False, lambda b: reducer(f(b), axis=1)[:, None])
    reducer = {"max": np.max, "min": np.min, "any": np.any, "all": np.all}[word]
    return _Typed(kind, False, lambda b: reducer(f(b), axis=1, keepdims=True))


def _broadcast(ufunc, x, y, span: str):
    try:
        return ufunc(x, y)
    except ValueError:
        sx, sy = np.shape(x), np.shape(y)
        raise _EvalError(f"{span!r} pairs vectors of {sx[-1]} and {sy[-1]} values") from None


def _token_equal(x, y, blk: _Block, negate: bool):
    """token/string == token/string over a block: by text where both have one, else by id."""
    if isinstance(x, str):
        x, y = y, x
    if isinstance(y, str):
        if x.texts is not None:
            r = x.texts == y
        else:
            i = blk.scan.id_of(y)
            if i is None and blk.scan.vocab is None:
                raise _EvalError(f"'top' is compared with {y!r}, which is not in this text; "
                                 "give the model's vocabulary to compare with any token")
            r = np.zeros(x.ids.shape, dtype=bool) if i is None else (x.ids == i)
    elif x.texts is not None and y.texts is not None:
        r = x.texts == y.texts
    else:
        r = (x.ids == y.ids) & (x.ids >= 0)
    return ~r if negate else r


def _first_row(mask: np.ndarray, b: _Block) -> int:
    """The row of the first True in ``mask`` in the order the scan visits the steps."""
    rows = np.flatnonzero(mask)
    return int(rows[0]) if b.first == b.lo else int(rows[-1])


# ---------------------------------------------------------------------------
# The public API


@dataclass(eq=False)
class Breakpoint:
    """A compiled condition; ``enabled`` is for the UI's list to switch it off and on."""

    text: str  # what the user typed
    cell: str  # the cell kind it was checked against
    has_head: bool  # whether it was allowed y and top
    names: frozenset[str]  # the names it reads
    _fn: Callable[[_Block], object] = field(repr=False)
    enabled: bool = True

    def _evaluate(self, block: _Block) -> np.ndarray:
        """The condition at every step of ``block``, (n,) bool."""
        n = block.hi - block.lo
        tr = block.scan.trace
        for name in self.names:
            if name in _GATE_NAMES and name not in tr.states:
                raise InputError(f"breakpoint {self.text!r} reads {name}, which a {tr.cell} trace does not have")
        try:
            with np.errstate(all="ignore"):
                r = self._fn(block)
        except _EvalError as e:
            row = e.row if e.row is not None else block.first - block.lo
            raise InputError(f"breakpoint {self.text!r}, step {tr.offset + block.lo + row + 1}: {e}") from None
        r = np.asarray(r, dtype=bool)
        return np.broadcast_to(r.reshape(-1), (n,)) if r.ndim == 0 else r.reshape(n)

    def test(self, trace: Trace, layer: int, k: int, vocab: tuple[str, ...] | None = None) -> bool:
        """Whether the condition holds at 0-based step k of ``layer`` (0-based)."""
        if not 0 <= k < trace.steps:
            raise InputError(f"step {k + 1} does not exist: the trace has {trace.steps}")
        block = _Block(_Scan(trace, layer, vocab), k, k + 1, k)
        return bool(self._evaluate(block)[0])


def compile_breakpoint(text: str, cell: str, has_head: bool) -> Breakpoint:
    """Parse and check ``text`` as a condition for ``cell`` ("lstm", "gru", "rnn_tanh", "rnn_relu").

    Raises :class:`InputError` with a one-line message naming the column or the
    name at fault. Index ranges are checked when the breakpoint is evaluated,
    since the sizes come with the trace.
    """
    if not isinstance(text, str):
        raise InputError("a breakpoint is text")
    if len(text) > MAX_LENGTH:
        raise InputError(f"the breakpoint is {len(text)} characters long: at most {MAX_LENGTH}")
    names = names_for(cell, has_head)
    parser = _Parser(text, names, has_head)
    try:
        tree = parser.parse()
        typed = _Builder(text).build(tree)
    except RecursionError:  # only if the caller's own stack is already deep: MAX_DEPTH keeps ours short
        raise InputError("the breakpoint is nested too deeply") from None
    src = _clip(text.strip())
    if typed.kind in ("str", "token"):
        raise InputError(f"{src!r} is a {'string' if typed.kind == 'str' else 'token'}, not a condition: "
                         "compare it with ==")
    if typed.kind != "bool":
        reduce_it = " and reduce it with any() or all()" if typed.vec else ""
        raise InputError(f"{src!r} is a {'vector' if typed.vec else 'number'}, not a condition: "
                         f"compare it, as in {src} > 0{reduce_it}")
    if typed.vec:
        raise InputError(f"{src!r} is a vector: use any() or all(), as in ({src}).any()")
    return Breakpoint(text, cell, has_head, frozenset(parser.used), typed.fn)


def _clip(s: str) -> str:
    return s if len(s) <= 40 else s[:37] + "..."


def find_next(
    trace: Trace,
    breakpoints: list[Breakpoint],
    layer: int,
    k: int,
    direction: int,
    vocab: tuple[str, ...] | None = None,
) -> int | None:
    """The nearest 0-based step after (direction +1) or before (-1) step k where an enabled breakpoint holds.

    Steps of ``layer`` (0-based) are scanned from k + direction to the end (or
    the start) without wrapping; None if no step qualifies. ``vocab`` is the
    model's vocabulary, needed only to compare ``top`` with tokens absent from
    the text.
    """
    if direction not in (1, -1):
        raise InputError(f"direction must be 1 or -1, not {direction!r}")
    active = [b for b in breakpoints if b.enabled]
    T = trace.steps
    if not active or T == 0:
        return None
    scan = _Scan(trace, layer, vocab)
    size = _FIRST_BLOCK
    if direction > 0:
        lo = max(k + 1, 0)
        while lo < T:
            hi = min(lo + size, T)
            hits = _any_hit(active, _Block(scan, lo, hi, lo))
            if hits.size:
                return lo + int(hits[0])
            lo, size = hi, min(size * 4, _LAST_BLOCK)
    else:
        hi = min(k, T)
        while hi > 0:
            lo = max(hi - size, 0)
            hits = _any_hit(active, _Block(scan, lo, hi, hi - 1))
            if hits.size:
                return lo + int(hits[-1])
            hi, size = lo, min(size * 4, _LAST_BLOCK)
    return None


def _any_hit(active: list[Breakpoint], block: _Block) -> np.ndarray:
    hit = active[0]._evaluate(block)
    for b in active[1:]:
        hit = hit | b._evaluate(block)
    return np.flatnonzero(hit)
