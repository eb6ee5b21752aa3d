"""The breakpoint language, part 2 of 2: the whitelist walk, its types, and what each operation computes.

``syntax.py`` parses the text; here the tree is walked over a whitelist of node types, names,
functions (``FUNCTIONS``) and methods (``METHODS``), as :func:`ast.literal_eval` walks its own:
nothing reaches ``eval``/``exec``/``compile``, no attribute exists but the methods, no dunder
name is known. Each node becomes a function of a :class:`~.blocks.Block` of steps (``blocks.py``:
the names, their values, the scan). Errors are one-line :class:`InputError`s: ``column N: ...``
for malformed text, the step for a failed evaluation. README.md ("Breakpoints") describes the language.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np

from . import blocks
from .blocks import HEAD_NAMES, Block, EvalError, Tokens, find_next, kind_of, names_for  # noqa: F401 (the API)
from .errors import InputError
from .syntax import MAX_DEPTH, ExpressionError, Source, clip  # noqa: F401 (ExpressionError: the API)

MAX_LENGTH = 500  # characters in one expression
MAX_EXPONENT = 64  # largest |b| allowed in a ** b: a huge power is a DoS, not a number
FUNCTIONS = ("abs", "tanh", "min", "max", "mean", "sum", "std", "any", "all", "argmax", "argmin", "len")
#: Reductions of a vector at each step, (n, m) -> (n, 1), and the kind of their value (see _kind).
_REDUCE = {"max": (np.max, ""), "min": (np.min, ""), "mean": (np.mean, "float"), "sum": (np.sum, "number"),
           "std": (np.std, "float"), "argmax": (np.argmax, "int"), "argmin": (np.argmin, "int"),
           "any": (np.any, "bool"), "all": (np.all, "bool")}
METHODS = tuple(_REDUCE)
#: Operators and elementwise functions: what a refusal calls it, what its operands need (a key of
#: _NEEDS), what it computes, and the kind of its value. syntax.py refuses every operator not here.
_OPS = {ast.Add: ("'+'", "numbers", np.add, "number"), ast.Sub: ("'-'", "numbers", np.subtract, "number"),
        ast.Mult: ("'*'", "numbers", np.multiply, "number"), ast.Div: ("'/'", "numbers", np.true_divide, "float"),
        ast.UAdd: ("'+'", "numbers", np.positive, "number"), ast.USub: ("'-'", "numbers", np.negative, "number"),
        ast.Not: ("'not'", "conditions", np.logical_not, "bool"),
        ast.And: ("'and'", "conditions", np.logical_and, "bool"), ast.Or: ("'or'", "conditions", np.logical_or, "bool"),
        "abs": ("abs()", "numbers", np.abs, "number"), "min": ("min()", "numbers", np.minimum, "number"),
        "max": ("max()", "numbers", np.maximum, "number"),
        "tanh": ("tanh()", "numbers", lambda a: np.tanh(np.asarray(a, dtype=np.float64)), "float")}
_CMPS = {ast.Lt: ("<", np.less), ast.LtE: ("<=", np.less_equal), ast.Gt: (">", np.greater),
         ast.GtE: (">=", np.greater_equal), ast.Eq: ("==", np.equal), ast.NotEq: ("!=", np.not_equal)}
_WORDS = {ast.Lambda: "lambda", ast.IfExp: "if", ast.GeneratorExp: "for", ast.In: "in", ast.NotIn: "not in",
          ast.Is: "is", ast.IsNot: "is not"}  # refused nodes that Python spells with a keyword
_NUMERIC, _TEXT = ("int", "float", "bool"), ("str", "token")
#: What a place may hold: the test, and the words of a refusal.
_NEEDS = {"numbers": (lambda a: a.kind in _NUMERIC, "needs numbers, and {s!r} is {noun}"),
          "conditions": (lambda a: a.kind == "bool",
                         "needs conditions, and {s!r} is not one: compare it, as in {s} > 0"),
          "vectors": (lambda a: a.kind in _NUMERIC and a.vec, "applies to vectors, and {s!r} is {noun}"),
          "whole": (lambda a: a.kind == "int" and not a.vec, "must be a whole number, and {s!r} is not"),
          "one": (lambda a: not a.vec, "must be one number, not a vector")}


@dataclass(frozen=True)
class _Typed:
    kind: str  # "int", "float", "bool", "str" or "token"
    vec: bool  # a vector at each step (else one value per step)
    fn: Callable[[Block], object]  # the value over a block (a constant's ignores the block)


def _kind(kind: str, parts: list[_Typed]) -> str:
    """A table's kind for these operands: "" the operand's own, "number" "float" if one is, else "int"."""
    if kind == "number":
        return "float" if any(p.kind == "float" for p in parts) else "int"
    return kind or parts[0].kind


class _Walker(Source):
    """Each whitelisted node of a parsed expression made a _Typed, checked as it goes."""

    def __init__(self, text: str, names: tuple[str, ...]):
        super().__init__(text)
        self.names, self.used, self.depth = names, set(), 0

    def walk(self, node) -> _Typed:
        nest = isinstance(node, (ast.UnaryOp, ast.Call, ast.Subscript)) or isinstance(getattr(node, "op", 0), ast.Pow)
        self.depth += nest
        if self.depth > MAX_DEPTH:
            raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
        typed = getattr(self, "w_" + type(node).__name__, self.refuse)(node)
        self.depth -= nest
        return typed

    def need(self, want: str, what: str, node, a: _Typed) -> _Typed:
        """``a``, if it is what ``what`` needs (a key of _NEEDS); else the error at ``node``."""
        test, words = _NEEDS[want]
        if not test(a):
            noun = {"str": "a string", "token": "a token"}.get(a.kind, "a vector" if a.vec else "a single number")
            raise self.fail(node, f"{what} " + words.format(s=self.show(node), noun=noun))
        return a

    def walk_as(self, want: str, what: str, *nodes) -> list:
        """The nodes walked, then each checked to be what ``what`` needs (None, a bound not given, stays)."""
        parts = [n and self.walk(n) for n in nodes]
        return [n and self.need(want, what, n, a) for n, a in zip(nodes, parts)]

    def apply(self, op, node, operands: list, parts: list[_Typed]) -> _Typed:
        """An operator or elementwise function of _OPS over the walked operands: a frame a level when
        evaluated (partial adds none), so that 250 additions in a row fit Python's stack."""
        what, want, ufunc, kind = _OPS[op]
        parts = [self.need(want, what, n, p) for n, p in zip(operands, parts)]
        fold = partial(_fold, ufunc, [p.fn for p in parts], self.show(node))
        return _Typed(_kind(kind, parts), any(p.vec for p in parts), fold)

    def refuse(self, node, start: int = 0) -> _Typed:
        if type(node) in _WORDS:
            word = _WORDS[type(node)]
            at = self.find(word.split()[:1], start or self.col(node))
            raise self.fail(at, f"'{word}' is not allowed in a breakpoint")
        if isinstance(node, (ast.List, ast.ListComp)):
            raise self.fail(node, "lists are not allowed: expected a value")
        if isinstance(node, ast.Tuple) and not node.elts:
            raise self.fail(self.col(node, True) - 1, "expected a value, found ')'")
        if isinstance(node, ast.Tuple):
            raise self.fail(self.find(",", self.col(node.elts[0], True)), "one value only: unexpected ','")
        raise self.fail(node, f"{self.show(node)!r} is not allowed in a breakpoint")

    def w_Constant(self, node) -> _Typed:
        v = node.value
        if isinstance(v, str) or isinstance(v, int) and abs(v) <= 2**53:  # bool is an int
            return _Typed({bool: "bool", int: "int", str: "str"}[type(v)], False, lambda b: v)
        if not isinstance(v, (int, float)):  # None, complex
            return self.refuse(node)
        x = np.float64(v) if isinstance(v, float) or v.bit_length() < 1024 else np.float64(np.inf)
        return _Typed("float", False, lambda b: x)  # float64, as written: not the trace's float32

    def w_Name(self, node) -> _Typed:
        word = node.id
        if word in FUNCTIONS:
            raise self.fail(node, f"'{word}' is a function: call it, as in {word}(f)")
        if word in HEAD_NAMES and word not in self.names:
            raise self.fail(node, f"'{word}' needs a model with an output head")
        if word not in self.names:
            raise self.fail(node, f"unknown name {clip(word, 24)!r} (expected one of: {', '.join(self.names)})")
        self.used.add(word)
        return _Typed(kind_of(word), kind_of(word) == "float", lambda b: b.get(word))

    def w_UnaryOp(self, node) -> _Typed:
        return self.apply(type(node.op), node, [node.operand], [self.walk(node.operand)])

    def w_BoolOp(self, node) -> _Typed:
        return self.apply(type(node.op), node, node.values, list(map(self.walk, node.values)))

    def w_BinOp(self, node) -> _Typed:  # walks its operands itself: two frames a level of a + b + c ...
        a, c = self.walk(node.left), self.walk(node.right)
        if not isinstance(node.op, ast.Pow):
            return self.apply(type(node.op), node, [node.left, node.right], [a, c])
        a, c = (self.need("numbers", "'**'", n, p) for n, p in ((node.left, a), (node.right, c)))
        self.need("one", "the exponent", node.right, c)
        fa, fc, span = a.fn, c.fn, self.show(node)
        if all(n.id in FUNCTIONS for n in ast.walk(node.right) if isinstance(n, ast.Name)):  # reads no step
            with np.errstate(all="ignore"):
                e = float(fc(None))
            if not abs(e) <= MAX_EXPONENT:
                raise self.fail(node.right, f"exponent {e:g} is not allowed: at most {MAX_EXPONENT} in size")
        return _Typed("float", a.vec, lambda b: _power(fa(b), fc(b), b, span))

    def w_Compare(self, node) -> _Typed:
        items = [node.left, *node.comparators]
        for op, left in zip(node.ops, items):
            if type(op) in _WORDS:
                self.refuse(op, self.col(left, True))
        parts = [self.walk(n) for n in items]
        tests = [self.compare(items[k : k + 2], parts[k : k + 2], op) for k, op in enumerate(node.ops)]
        if len(tests) == 1:
            return tests[0]
        fold = partial(_fold, np.logical_and, [t.fn for t in tests], self.show(node))
        return _Typed("bool", any(p.vec for p in parts), fold)

    def compare(self, nodes, parts, op) -> _Typed:
        """One comparison in a chain: of numbers, or of texts (== and != only)."""
        (na, nb), (a, b) = nodes, parts
        (sym, ufunc), fa, fb, vec = _CMPS[type(op)], a.fn, b.fn, a.vec or b.vec
        if a.kind in _NUMERIC and b.kind in _NUMERIC:
            return _Typed("bool", vec, partial(_fold, ufunc, [fa, fb], f"{self.show(na)} {sym} {self.show(nb)}"))
        (nt, t), (no, o) = ((na, a), (nb, b)) if a.kind in _TEXT else ((nb, b), (na, a))  # the text, the other
        if sym not in ("==", "!="):
            raise self.fail(nt, f"{self.show(nt)!r} is text: text compares only with == and !=")
        if t.kind == "str" and o.kind not in _TEXT:
            raise self.fail(no, f"cannot compare the string {self.show(nt)} with the number {self.show(no)!r}")
        if o.kind not in _TEXT and (o.kind != "int" or o.vec):  # a token against an id
            raise self.fail(no, "a token compares with a string or with one whole number (an id), "
                                f"and {self.show(no)!r} is neither")
        return _Typed("bool", vec, lambda blk: _token_equal(fa(blk), fb(blk), blk, sym == "!="))

    def w_Subscript(self, node) -> _Typed:
        target, sl = self.walk(node.value), node.slice
        if isinstance(sl, ast.Tuple):
            at = self.col(sl.elts[0], True) if sl.elts else self.col(sl)
            raise self.fail(self.find(",", at), "one index only: these vectors have one axis")
        cut = isinstance(sl, ast.Slice)
        self.need("vectors", "slicing" if cut else "indexing", node.value, target)
        bounds = [sl.lower, sl.upper, sl.step] if cut else [sl]
        fns = [p and p.fn for p in self.walk_as("whole", "a slice bound" if cut else "an index", *bounds)]
        ft, name, span = target.fn, self.show(node.value), self.show(node)
        if cut:
            return _Typed(target.kind, True, lambda b: _cut(ft(b), [f and f(b) for f in fns], span, name))
        return _Typed(target.kind, False, lambda b: _index(ft(b), fns[0](b), b, name))

    def w_Attribute(self, node) -> _Typed:
        self.method(node)
        raise self.fail(self.col(node, True), f"expected '(' after .{node.attr}")

    def method(self, node: ast.Attribute) -> _Typed:
        """The object a method is called on, once the method is known."""
        target = self.walk(node.value)
        if node.attr not in METHODS:
            at, allowed = self.find(".", self.col(node.value, True)), " ".join(f".{m}()" for m in METHODS)
            raise self.fail(at, f"'.{clip(node.attr, 24)}' is not allowed: the methods are {allowed}")
        return target

    def w_Call(self, node) -> _Typed:
        func, args = node.func, node.args
        if isinstance(func, ast.Attribute):  # a method: v.max()
            target = self.method(func)
            if args or node.keywords:
                raise self.fail((args or node.keywords)[0], f".{func.attr}() takes no arguments")
            return self.reduce(func.attr, f".{func.attr}()", func.value, target)
        word = func.id if isinstance(func, ast.Name) else self.show(func)
        if word in self.names or not isinstance(func, ast.Name):
            raise self.fail(func, f"{word!r} is not a function")
        if word not in FUNCTIONS:
            raise self.fail(func, f"unknown function {clip(word, 24)!r} (functions: {', '.join(FUNCTIONS)})")
        if node.keywords:
            raise self.fail(node.keywords[0], f"keyword arguments are not allowed ({node.keywords[0].arg or '*'}=...)")
        if not args:
            raise self.fail(self.col(node, True) - 1, f"{word}() needs an argument")
        if word in ("abs", "tanh") and len(args) == 1 or word in ("min", "max") and len(args) > 1:
            return self.apply(word, node, args, [self.walk(n) for n in args])  # elementwise
        parts = self.walk_as("numbers", f"{word}()", *args)
        if len(parts) != 1:
            raise self.fail(node, f"{word}() takes one argument, not {len(parts)}")
        return self.reduce(word, f"{word}()", args[0], parts[0])

    def reduce(self, word: str, what: str, node, a: _Typed) -> _Typed:
        """A reduction of the vector ``a`` at each step (or its length), (n, m) -> (n, 1)."""
        f = self.need("vectors", what, node, a).fn
        if word == "len":
            return _Typed("int", False, lambda b: f(b).shape[1])
        r, kind = _REDUCE[word]
        return _Typed(_kind(kind, [a]), False, lambda b: r(f(b), axis=1, keepdims=True))


# ---------------------------------------------------------------------------
# What the operations compute over a block: (n, 1) a number a step, (n, W) a vector
# a step, a scalar a constant. ``span`` and ``name`` are the expression's own text.


def _number(a):
    """Booleans take part in arithmetic as 0 and 1 (NumPy refuses bool - bool)."""
    return np.asarray(a, dtype=np.int64) if np.asarray(a).dtype == bool else a


def _fold(ufunc, fns: list, span: str, b: Block):
    """ufunc of the fns' values at block b: of one (not, -, abs() ...), or of several left to right, each
    step's with the same step's (NumPy's broadcasting); vectors of different widths fail."""
    acc = _number(fns[0](b))
    if len(fns) == 1:
        return ufunc(acc)
    for f in fns[1:]:
        v = _number(f(b))
        try:
            acc = ufunc(acc, v)
        except ValueError:
            raise EvalError(f"{span!r} pairs vectors of {np.shape(acc)[-1]} and {np.shape(v)[-1]} values") from None
    return acc


def _power(x, e, b: Block, span: str):
    """x ** e in float64; an exponent over MAX_EXPONENT in size fails at its step."""
    e = np.asarray(_number(e), dtype=np.float64)
    bad = np.abs(e) > MAX_EXPONENT
    if bad.any():
        message = f"exponent in {span!r} is larger than {MAX_EXPONENT}"
        b.excuse(np.broadcast_to(bad, (b.hi - b.lo, 1))[:, 0], lambda row: message)
        e = np.where(bad, 0.0, e)
    return np.power(np.asarray(_number(x), dtype=np.float64), e)


def _index(a: np.ndarray, j, b: Block, name: str) -> np.ndarray:
    """a[j] at each step: a (n, m), j one whole number or (n, 1) of them; (n, 1)."""
    m = a.shape[1]
    if np.ndim(j) == 0 and -m <= j < m:  # the common case, f[12]: a view, at once
        return a[:, int(j)][:, None]
    j = np.broadcast_to(j, (a.shape[0], 1))
    bad = (j < -m) | (j >= m)
    if bad.any():
        message = f"is out of range for {name}, which has {m} values (0 to {m - 1})"
        b.excuse(bad[:, 0], lambda row: f"index {j[row, 0]} {message}")
        j = np.where(bad, 0, j)
    return np.take_along_axis(a, j % m, axis=1)


def _cut(a: np.ndarray, bounds: list, span: str, name: str) -> np.ndarray:
    """a[lo:hi:step] at each step; the bounds (None or whole numbers) must be the same at every step."""
    m = a.shape[1]
    if any(v is not None and np.ndim(v) != 0 for v in bounds):
        raise EvalError(f"the bounds of {span!r} must be the same at every step")
    lo, hi, step = (None if v is None else int(v) for v in bounds)
    if step == 0:
        raise EvalError(f"the step of {span!r} is zero")
    for v in (lo, hi):
        if v is not None and not -m <= v <= m:
            raise EvalError(f"bound {v} is out of range for {name}, which has {m} values (0 to {m - 1})")
    if not len(range(m)[lo:hi:step]):
        raise EvalError(f"{span!r} selects no values of {name}, which has {m}")
    return a[:, lo:hi:step]


def _token_equal(x, y, b: Block, negate: bool):
    """Tokens, strings or a token and a whole number (its id): by text where both sides have one, else by id."""
    if isinstance(y, Tokens) or isinstance(x, str):
        x, y = y, x  # x is Tokens unless both are strings
    if isinstance(x, str):
        r = np.asarray(x == y)
    elif not isinstance(y, (str, Tokens)):
        r = np.equal(x.ids, y)
    elif isinstance(y, Tokens) and (x.texts is None or y.texts is None):  # top against a token: by id
        r = (x.ids == y.ids) & (x.ids >= 0)
    elif x.texts is not None:
        r = x.texts == (y if isinstance(y, str) else y.texts)
    else:  # top against a string: its id in the vocabulary, or else in the text
        i = b.scan.id_of(y)
        if i is None and b.scan.vocab is None:
            raise EvalError(f"'top' is compared with {y!r}, which is not in this text; "
                            "give the model's vocabulary to compare with any token")
        r = np.zeros(x.ids.shape, dtype=bool) if i is None else (x.ids == i)
    return ~r if negate else r


# ---------------------------------------------------------------------------
# The public API


@dataclass(eq=False)
class Expression:
    """A checked expression: ``kind`` is "bool" for a condition, "int" or "float" for a number;
    ``names`` are the names it reads. ``core.watches.watch`` gives its value at every step."""

    text: str  # what the user typed
    cell: str  # the cell kind it was checked against
    has_head: bool  # whether it was allowed y and top
    names: frozenset[str]
    kind: str
    fn: Callable[[Block], object] = field(repr=False)  # its value over a block of steps


@dataclass(eq=False)
class Breakpoint(Expression):
    """A compiled condition; ``enabled`` is for the UI's list to switch it off and on."""

    enabled: bool = True

    def test(self, trace, layer: int, k: int, vocab: tuple[str, ...] | None = None) -> bool:
        """Whether the condition holds at 0-based step k of ``layer`` (0-based)."""
        return blocks.test(self, trace, layer, k, vocab)


def _compile(text: str, cell: str, has_head: bool, what: str):
    """``text`` checked as a breakpoint (a condition) or a watch (a number); InputError names the
    column or the name at fault. Index ranges are checked when it is evaluated, with the trace."""
    if len(text) > MAX_LENGTH:
        raise InputError(f"the {what} is {len(text)} characters long: at most {MAX_LENGTH}")
    bp = what == "breakpoint"
    if not text.strip():
        example = blocks.examples_for(cell, has_head, watch=not bp)[0]  # in the names of this cell
        raise InputError(f"the {what} is empty: type " + ("a condition" if bp else "a number of the step")
                         + f", such as {example}")
    walker = _Walker(text, names_for(cell, has_head))
    try:
        typed = walker.walk(walker.parse())
    except RecursionError:  # only if the caller's own stack is already deep: MAX_DEPTH keeps ours short
        raise InputError(f"the {what} is nested too deeply") from None
    src = clip(text.strip())
    if typed.kind in _TEXT:
        raise InputError(f"{src!r} is a {'string' if typed.kind == 'str' else 'token'}, not a "
                         f"{'condition' if bp else 'number'}: compare it with ==")
    if bp and typed.kind != "bool":
        reduce_it = " and reduce it with any() or all()" if typed.vec else ""
        raise InputError(f"{src!r} is a {'vector' if typed.vec else 'number'}, not a condition: "
                         f"compare it, as in {src} > 0{reduce_it}")
    if typed.vec and bp:
        raise InputError(f"{src!r} is a vector: use any() or all(), as in ({src}).any()")
    if typed.vec:
        raise InputError(f"{src!r} is a vector: a watch is one number per step, as in ({src}).max() or {src}[0]")
    return (Breakpoint if bp else Expression)(text, cell, has_head, frozenset(walker.used), typed.kind, typed.fn)


def compile_expression(text: str, cell: str, has_head: bool) -> Expression:
    """Parse and check ``text`` as a watch: one number (or condition, as 0/1) per step."""
    return _compile(text, cell, has_head, "watch")


def compile_breakpoint(text: str, cell: str, has_head: bool) -> Breakpoint:
    """Parse and check ``text`` as a condition for ``cell`` ("lstm", "gru", "rnn_tanh", "rnn_relu")."""
    return _compile(text, cell, has_head, "breakpoint")
