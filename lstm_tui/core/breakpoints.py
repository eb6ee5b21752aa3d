"""Breakpoints and watches: expressions over one step's numbers, read by Python's own parser.

A breakpoint is a condition such as ``f[12] < 0.1``, ``abs(c).max() > 3``, ``token == "("``
or ``y.argmax() != next_token``; a watch is a number or condition of the same language
(``c[12] * o[12]``, ``max(f)``). :func:`ast.parse` reads the text and the tree is walked over
a whitelist of node types, names, functions and methods, as :func:`ast.literal_eval` walks
its own: nothing reaches ``eval``/``exec``/``compile``, no attribute exists but the methods.

Names at a step of the layer (vectors have that quantity's width in it): the cell's
quantities ``i f g o c h`` / ``r z n h`` / ``h``; ``h_prev`` (``c_prev``), the state before
the step; ``x``, the layer's input; ``y``, the next-token probabilities, and ``top``, the
token ranked first (with a head); ``t`` and ``layer``, 1-based; ``token``, ``prev_token``,
``next_token`` ("" for none); ``token_id``, ``prev_id``, ``next_id`` (-1 for none). Tokens
compare with == and != only: with a string by text, with a whole number by id; ``top`` with
a string absent from the text needs the vocabulary (``vocab``).

Forms: numbers (float64 as written); strings "..." or '...' (escapes \\\\ \\" \\' \\n \\t); True,
False; + - * / and ** (float64, exponent at most 64 in size; x/0 is ±inf or nan); < <= > >=
== != chained; and, or, not on conditions (unit by unit; both sides evaluated); v[i] and
v[a:b:s] with whole numbers (an index may change per step, ``c[h.argmax()]``); functions abs,
tanh, min, max (of a vector, or elementwise of several), mean, sum, std, any, all, argmax,
argmin, len; methods .max() .min() .mean() .sum() .std() .argmax() .argmin() .any() .all().
A vector condition is reduced with any() or all(). At most 500 characters, 30 levels deep.

``layer`` and ``k`` arguments are 0-based. Errors are one-line :class:`InputError`s:
``column N: ...`` for malformed text (:class:`ExpressionError`; ``caret()`` draws it), the
step for a failed evaluation. :func:`find_next` scans blocks of 64 steps growing to 65,536.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import blocks
from .blocks import HEAD_NAMES, Block, EvalError, Tokens, find_next, kind_of, names_for  # noqa: F401 (the API)
from .errors import InputError
from .syntax import MAX_DEPTH, ExpressionError, Source, clip  # noqa: F401 (ExpressionError: the API)

MAX_LENGTH = 500  # characters in one expression
FUNCTIONS = ("abs", "tanh", "min", "max", "mean", "sum", "std", "any", "all", "argmax", "argmin", "len")
METHODS = ("max", "min", "mean", "sum", "std", "argmax", "argmin", "any", "all")

_ARITH = {ast.Add: ("+", np.add), ast.Sub: ("-", np.subtract), ast.Mult: ("*", np.multiply),
          ast.Div: ("/", np.true_divide), ast.Pow: ("**", None)}
_CMPS = {ast.Lt: ("<", np.less), ast.LtE: ("<=", np.less_equal), ast.Gt: (">", np.greater),
         ast.GtE: (">=", np.greater_equal), ast.Eq: ("==", np.equal), ast.NotEq: ("!=", np.not_equal)}
_WORDS = {ast.Lambda: "lambda", ast.IfExp: "if", ast.GeneratorExp: "for", ast.In: "in", ast.NotIn: "not in",
          ast.Is: "is", ast.IsNot: "is not"}  # refused nodes that Python spells with a keyword
_NUMERIC = ("int", "float", "bool")


@dataclass(frozen=True)
class _Typed:
    kind: str  # "int", "float", "bool", "str" or "token"
    vec: bool  # a vector at each step (else one value per step)
    fn: Callable[[Block], object]  # the value over a block (a constant's ignores the block)
    const: bool = False  # the same at every step, known when typed


class _Walker:
    """Each whitelisted node of a parsed expression made a _Typed, checked as it goes."""

    def __init__(self, text: str, names: tuple[str, ...], has_head: bool):
        self.s, self.names, self.has_head = Source(text), names, has_head
        self.fail, self.col, self.show, self.find = self.s.fail, self.s.col, self.s.show, self.s.find
        self.used: set[str] = set()
        self.depth = 0

    def walk(self, node) -> _Typed:
        nest = isinstance(node, (ast.UnaryOp, ast.Call, ast.Subscript)) or (
            isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow))
        self.depth += nest
        try:
            if self.depth > MAX_DEPTH:
                raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
            typed = getattr(self, "w_" + type(node).__name__, self.refuse)(node)
        finally:
            self.depth -= nest
        return typed

    def refuse(self, node) -> _Typed:
        if isinstance(node, (ast.List, ast.ListComp)):
            raise self.fail(node, "lists are not allowed: expected a value")
        if isinstance(node, ast.Tuple):
            if not node.elts:
                raise self.fail(self.col(node, True) - 1, "expected a value, found ')'")
            raise self.fail(self.find(",", self.col(node.elts[0], True)), "one value only: unexpected ','")
        if type(node) in _WORDS:
            word = _WORDS[type(node)]
            raise self.fail(self.find((word,), self.col(node)), f"'{word}' is not allowed in a breakpoint")
        raise self.fail(node, f"{self.show(node)!r} is not allowed in a breakpoint")

    def numeric(self, node, a: _Typed, what: str) -> None:
        if a.kind not in _NUMERIC:
            noun = "a string" if a.kind == "str" else "a token"
            raise self.fail(node, f"{what} needs numbers, and {self.show(node)!r} is {noun}")

    def condition(self, node, a: _Typed, word: str) -> None:
        if a.kind != "bool":
            s = self.show(node)
            raise self.fail(node, f"'{word}' needs conditions, and {s!r} is not one: compare it, as in {s} > 0")

    def vector(self, node, a: _Typed, what: str) -> None:
        if a.kind not in _NUMERIC or not a.vec:
            noun = "a single number" if a.kind in _NUMERIC else "text"
            raise self.fail(node, f"{what} applies to vectors, and {self.show(node)!r} is {noun}")

    def w_Constant(self, node) -> _Typed:
        v = node.value
        if isinstance(v, str) or isinstance(v, int) and abs(v) <= 2**53:  # bool is an int
            return _Typed({bool: "bool", int: "int", str: "str"}[type(v)], False, lambda b: v, True)
        if not isinstance(v, (int, float)):
            raise self.fail(node, f"{self.show(node)!r} is not allowed in a breakpoint")
        x = np.float64(v) if isinstance(v, float) or v.bit_length() < 1024 else np.float64(np.inf)
        return _Typed("float", False, lambda b: x, True)  # float64, as written: not the trace's float32

    def w_Name(self, node) -> _Typed:
        word = node.id
        if word in FUNCTIONS:
            raise self.fail(node, f"'{word}' is a function: call it, as in {word}(f)")
        if word not in self.names:
            if word in HEAD_NAMES and not self.has_head:
                raise self.fail(node, f"'{word}' needs a model with an output head")
            raise self.fail(node, f"unknown name {clip(word, 24)!r} (expected one of: {', '.join(self.names)})")
        self.used.add(word)
        kind = kind_of(word)
        return _Typed(kind, kind == "float", lambda b: b.get(word))

    def w_UnaryOp(self, node) -> _Typed:
        a = self.walk(node.operand)
        f = a.fn
        if isinstance(node.op, ast.Not):
            self.condition(node.operand, a, "not")
            return _Typed("bool", a.vec, lambda b: np.logical_not(f(b)), a.const)
        neg = isinstance(node.op, ast.USub)  # ~ never gets here: the token check refuses it
        self.numeric(node.operand, a, "'-'" if neg else "'+'")
        fn = (lambda b: np.negative(as_number(f(b)))) if neg else (lambda b: as_number(f(b)))
        return _Typed("float" if a.kind == "float" else "int", a.vec, fn, a.const)

    def w_BinOp(self, node) -> _Typed:
        sym, ufunc = _ARITH[type(node.op)]  # the token check lets no other operator through
        a, c = self.walk(node.left), self.walk(node.right)
        self.numeric(node.left, a, f"'{sym}'")
        self.numeric(node.right, c, f"'{sym}'")
        fa, fc, span, const = a.fn, c.fn, self.show(node), a.const and c.const
        if sym != "**":
            kind = "float" if "float" in (a.kind, c.kind) or sym == "/" else "int"
            num = as_number
            return _Typed(kind, a.vec or c.vec, lambda b: pair(ufunc, num(fa(b)), num(fc(b)), span), const)
        if c.vec:
            raise self.fail(node.right, "the exponent must be one number, not a vector")
        if c.const and not abs(float(c.fn(None))) <= MAX_EXPONENT:
            e = float(c.fn(None))
            raise self.fail(node.right, f"exponent {e:g} is not allowed: at most {MAX_EXPONENT} in size")
        return _Typed("float", a.vec, lambda b: power(fa(b), fc(b), b, span), const)

    def w_BoolOp(self, node) -> _Typed:
        word, ufunc = ("and", np.logical_and) if isinstance(node.op, ast.And) else ("or", np.logical_or)
        parts = [self.walk(n) for n in node.values]
        for n, p in zip(node.values, parts):
            self.condition(n, p, word)
        fns, span = [p.fn for p in parts], self.show(node)
        return _Typed("bool", any(p.vec for p in parts), lambda b: fold(ufunc, [f(b) for f in fns], span),
                      all(p.const for p in parts))

    def w_Compare(self, node) -> _Typed:
        items = [node.left, *node.comparators]
        for op, left in zip(node.ops, items):
            if type(op) in _WORDS:
                word = _WORDS[type(op)]
                at = self.find(("in", "is", "not"), self.col(left, True))
                raise self.fail(at, f"'{word}' is not allowed in a breakpoint")
        parts = [self.walk(n) for n in items]
        tests = [self.comparison(items[k], parts[k], items[k + 1], parts[k + 1], op) for k, op in enumerate(node.ops)]
        fns = [p.fn for p in parts]

        def run(b):
            values = [f(b) for f in fns]
            return fold(np.logical_and, [test(values[k], values[k + 1], b) for k, test in enumerate(tests)], "")

        return _Typed("bool", any(p.vec for p in parts), run, all(p.const for p in parts))

    def comparison(self, na, a: _Typed, nb, b: _Typed, op) -> Callable:
        sym, ufunc = _CMPS[type(op)]
        if a.kind in _NUMERIC and b.kind in _NUMERIC:
            span = f"{self.show(na)} {sym} {self.show(nb)}"
            return lambda x, y, blk: pair(ufunc, x, y, span)
        if sym not in ("==", "!="):
            who = na if a.kind in ("str", "token") else nb
            raise self.fail(who, f"{self.show(who)!r} is text: text compares only with == and !=")
        kinds = {a.kind, b.kind}
        if "str" in kinds and not kinds <= {"str", "token"}:  # a string against a number
            text_n, num_n = (na, nb) if a.kind == "str" else (nb, na)
            text, num = self.show(text_n), self.show(num_n)
            raise self.fail(num_n, f"cannot compare the string {text} with the number {num!r}")
        num_n, num = (nb, b) if a.kind == "token" else (na, a)
        if num.kind not in ("str", "token") and (num.kind != "int" or num.vec):  # a token against an id
            raise self.fail(num_n, f"a token compares with a string or with one whole number (an id), "
                                   f"and {self.show(num_n)!r} is neither")
        return lambda x, y, blk: token_equal(x, y, blk, sym == "!=")

    def w_Subscript(self, node) -> _Typed:
        target, sl = self.walk(node.value), node.slice
        if isinstance(sl, ast.Tuple):
            at = self.col(sl.elts[0], True) if sl.elts else self.col(sl)
            raise self.fail(self.find(",", at), "one index only: these vectors have one axis")
        self.vector(node.value, target, "slicing" if isinstance(sl, ast.Slice) else "indexing")
        ft, name, span = target.fn, self.show(node.value), self.show(node)
        parts = [sl.lower, sl.upper, sl.step] if isinstance(sl, ast.Slice) else [sl]
        fns = []
        for n in parts:
            p = None if n is None else self.walk(n)
            if p is not None and (p.kind != "int" or p.vec):
                what = "a slice bound" if isinstance(sl, ast.Slice) else "an index"
                raise self.fail(n, f"{what} must be a whole number, and {self.show(n)!r} is not")
            fns.append(None if p is None else p.fn)
        if isinstance(sl, ast.Slice):
            return _Typed(target.kind, True, lambda b: cut(ft(b), [f and f(b) for f in fns], span, name))
        return _Typed(target.kind, False, lambda b: index(ft(b), fns[0](b), b, name))

    def method(self, node: ast.Attribute) -> None:
        if node.attr not in METHODS:
            allowed = " ".join(f".{m}()" for m in METHODS)
            at = self.find(".", self.col(node.value, True))
            raise self.fail(at, f"'.{clip(node.attr, 24)}' is not allowed: the methods are {allowed}")

    def w_Attribute(self, node) -> _Typed:
        self.walk(node.value)
        self.method(node)
        raise self.fail(self.col(node, True), f"expected '(' after .{node.attr}")

    def w_Call(self, node) -> _Typed:
        func, extra = node.func, [*node.args, *node.keywords]
        if isinstance(func, ast.Attribute):  # a method: v.max()
            target = self.walk(func.value)
            self.method(func)
            if extra:
                raise self.fail(extra[0], f".{func.attr}() takes no arguments")
            self.vector(func.value, target, f".{func.attr}()")
            return _reduction(func.attr, target)
        word = func.id if isinstance(func, ast.Name) else self.show(func)
        if word not in FUNCTIONS:
            if word in self.names or not isinstance(func, ast.Name):
                raise self.fail(func, f"{word!r} is not a function")
            raise self.fail(func, f"unknown function {clip(word, 24)!r} (functions: {', '.join(FUNCTIONS)})")
        if node.keywords:
            raise self.fail(node.keywords[0], f"keyword arguments are not allowed ({node.keywords[0].arg or '*'}=...)")
        if not node.args:
            raise self.fail(self.col(node, True) - 1, f"{word}() needs an argument")
        args = [self.walk(n) for n in node.args]
        for n, a in zip(node.args, args):
            if a.kind not in _NUMERIC:
                raise self.fail(n, f"{word}() needs numbers, and {self.show(n)!r} is text")
        fns, vec, const = [a.fn for a in args], any(a.vec for a in args), all(a.const for a in args)
        kind = "float" if any(a.kind == "float" for a in args) else "int"
        if word in ("min", "max") and len(args) > 1:  # elementwise
            u, span = (np.minimum if word == "min" else np.maximum), self.show(node)
            return _Typed(kind, vec, lambda b: fold(u, [as_number(f(b)) for f in fns], span), const)
        if len(args) != 1:
            raise self.fail(node, f"{word}() takes one argument, not {len(args)}")
        f = fns[0]
        if word == "abs":
            return _Typed(kind, vec, lambda b: np.abs(as_number(f(b))), const)
        if word == "tanh":
            return _Typed("float", vec, lambda b: np.tanh(np.asarray(as_number(f(b)), dtype=np.float64)), const)
        self.vector(node.args[0], args[0], f"{word}()")
        if word == "len":
            return _Typed("int", False, lambda b: f(b).shape[1])
        return _reduction(word, args[0])


def _reduction(word: str, a: _Typed) -> _Typed:
    kinds = {"sum": "float" if a.kind == "float" else "int", "mean": "float", "std": "float",
             "argmax": "int", "argmin": "int", "any": "bool", "all": "bool"}
    f = a.fn
    return _Typed(kinds.get(word, a.kind), False, lambda b: reduce(word, f(b)))


# ---------------------------------------------------------------------------
# What the operations compute over a block. ``span`` and ``name`` are the
# expression's own text, for messages.

MAX_EXPONENT = 64  # largest |b| allowed in a ** b


def as_number(a):
    """Booleans take part in arithmetic as 0 and 1 (NumPy refuses bool - bool)."""
    if isinstance(a, (bool, np.bool_)) or isinstance(a, np.ndarray) and a.dtype == bool:
        return np.asarray(a, dtype=np.int64)
    return a


def pair(ufunc, x, y, span: str):
    """``ufunc(x, y)`` with NumPy's broadcasting; vectors of different widths are an error."""
    try:
        return ufunc(x, y)
    except ValueError:
        raise EvalError(f"{span!r} pairs vectors of {np.shape(x)[-1]} and {np.shape(y)[-1]} values") from None


def fold(ufunc, values: list, span: str):
    """ufunc over the values left to right, pairing each step's values (and, or, chained comparisons, min, max)."""
    acc = values[0]
    for v in values[1:]:
        acc = pair(ufunc, acc, v, span)
    return acc


def power(x, e, b: Block, span: str):
    """x ** e in float64; an exponent over MAX_EXPONENT in size fails (a huge power is a DoS, not a number)."""
    e = np.asarray(as_number(e), dtype=np.float64)
    bad = np.abs(e) > MAX_EXPONENT
    if bad.any():
        message = f"exponent in {span!r} is larger than {MAX_EXPONENT}"
        if e.ndim == 0:
            raise EvalError(message)
        b.excuse(bad.reshape(-1), lambda row: message)
        e = np.where(bad, 0.0, e)
    return np.power(np.asarray(as_number(x), dtype=np.float64), e)


def index(a: np.ndarray, j, b: Block, name: str) -> np.ndarray:
    """a[j] at each step: a (n, m), j one whole number or (n, 1) of them; (n, 1)."""
    m = a.shape[1]

    def message(v: int) -> str:
        return f"index {v} is out of range for {name}, which has {m} values (0 to {m - 1})"

    if np.ndim(j) == 0:
        if not -m <= int(j) < m:
            raise EvalError(message(int(j)))
        return a[:, int(j) % m][:, None]
    bad = (j < -m) | (j >= m)
    if bad.any():
        b.excuse(bad[:, 0], lambda row: message(int(j[row, 0])))
        j = np.where(bad, 0, j)
    return np.take_along_axis(a, j % m, axis=1)


def cut(a: np.ndarray, bounds: list, span: str, name: str) -> np.ndarray:
    """a[lo:hi:step] at each step; the bounds (None or whole numbers) must be the same at every step."""
    m = a.shape[1]
    if any(v is not None and np.ndim(v) != 0 for v in bounds):
        raise EvalError(f"the bounds of {span!r} must be the same at every step")
    lo, hi, st = (None if v is None else int(v) for v in bounds)
    if st == 0:
        raise EvalError(f"the step of {span!r} is zero")
    for v in (lo, hi):
        if v is not None and not -m <= v <= m:
            raise EvalError(f"bound {v} is out of range for {name}, which has {m} values (0 to {m - 1})")
    if not len(range(m)[lo:hi:st]):
        raise EvalError(f"{span!r} selects no values of {name}, which has {m}")
    return a[:, lo:hi:st]


#: Reductions of a vector at each step: (n, m) -> (n, 1).
REDUCE = {"max": np.max, "min": np.min, "any": np.any, "all": np.all, "sum": np.sum, "mean": np.mean,
          "std": np.std, "argmax": np.argmax, "argmin": np.argmin}


def reduce(word: str, a: np.ndarray) -> np.ndarray:
    if word in ("sum", "mean", "std"):
        a = as_number(a)
    return REDUCE[word](a, axis=1, keepdims=True)


def token_equal(x, y, b: Block, negate: bool):
    """Tokens, strings or one token against a whole number (its id) over a block: by text where
    both sides have one, else by id."""
    if isinstance(y, Tokens) or isinstance(x, str):
        x, y = y, x
    if isinstance(x, str):
        r = np.asarray(x == y)
    elif not isinstance(y, (str, Tokens)):
        r = np.equal(x.ids, y)
    elif isinstance(y, str):
        if x.texts is not None:
            r = x.texts == y
        else:
            i = b.scan.id_of(y)
            if i is None and b.scan.vocab is None:
                raise EvalError(f"'top' is compared with {y!r}, which is not in this text; "
                                "give the model's vocabulary to compare with any token")
            r = np.zeros(x.ids.shape, dtype=bool) if i is None else (x.ids == i)
    elif x.texts is not None and y.texts is not None:
        r = x.texts == y.texts
    else:
        r = (x.ids == y.ids) & (x.ids >= 0)
    return ~r if negate else r


# ---------------------------------------------------------------------------
# The public API


@dataclass(eq=False)
class Expression:
    """A checked expression: ``kind`` is "bool" for a condition, "int" or "float" for a number.
    ``core.watches.watch`` gives its value at every step (a watch)."""

    text: str  # what the user typed
    cell: str  # the cell kind it was checked against
    has_head: bool  # whether it was allowed y and top
    names: frozenset[str]  # the names it reads
    kind: str
    fn: Callable[[Block], object] = field(repr=False)  # its value over a block of steps


@dataclass(eq=False)
class Breakpoint(Expression):
    """A compiled condition; ``enabled`` is for the UI's list to switch it off and on."""

    enabled: bool = True

    def test(self, trace, layer: int, k: int, vocab: tuple[str, ...] | None = None) -> bool:
        """Whether the condition holds at 0-based step k of ``layer`` (0-based)."""
        return blocks.test(self, trace, layer, k, vocab)


def _compile(text: str, cell: str, has_head: bool, what: str) -> tuple[set[str], _Typed, str]:
    if not isinstance(text, str):
        raise InputError(f"a {what} is text")
    if len(text) > MAX_LENGTH:
        raise InputError(f"the {what} is {len(text)} characters long: at most {MAX_LENGTH}")
    if not text.strip():
        example = "a condition such as f[0] < 0.1" if what == "breakpoint" else "a number of the step, such as c[12] * o[12]"
        raise InputError(f"the {what} is empty: type {example}")
    walker = _Walker(text, names_for(cell, has_head), has_head)
    try:
        typed = walker.walk(walker.s.parse())
    except RecursionError:  # only if the caller's own stack is already deep: MAX_DEPTH keeps ours short
        raise InputError("the breakpoint is nested too deeply") from None
    src = clip(text.strip())
    if typed.kind in ("str", "token"):
        raise InputError(f"{src!r} is a {'string' if typed.kind == 'str' else 'token'}, not a "
                         f"{'condition' if what == 'breakpoint' else 'number'}: compare it with ==")
    return walker.used, typed, src


def compile_expression(text: str, cell: str, has_head: bool) -> Expression:
    """Parse and check ``text`` as a watch: one number (or condition, as 0/1) per step."""
    used, typed, src = _compile(text, cell, has_head, "watch")
    if typed.vec:
        raise InputError(f"{src!r} is a vector: a watch is one number per step, as in ({src}).max() or {src}[0]")
    return Expression(text, cell, has_head, frozenset(used), typed.kind, typed.fn)


def compile_breakpoint(text: str, cell: str, has_head: bool) -> Breakpoint:
    """Parse and check ``text`` as a condition for ``cell`` ("lstm", "gru", "rnn_tanh", "rnn_relu").

    InputError names the column or the name at fault. Index ranges are checked
    when it is evaluated, since the sizes come with the trace.
    """
    used, typed, src = _compile(text, cell, has_head, "breakpoint")
    if typed.kind != "bool":
        reduce_it = " and reduce it with any() or all()" if typed.vec else ""
        raise InputError(f"{src!r} is a {'vector' if typed.vec else 'number'}, not a condition: "
                         f"compare it, as in {src} > 0{reduce_it}")
    if typed.vec:
        raise InputError(f"{src!r} is a vector: use any() or all(), as in ({src}).any()")
    return Breakpoint(text, cell, has_head, frozenset(used), typed.kind, typed.fn)
