"""Reading an expression's text with Python's own tokenizer and parser, in lstm-tui's words.

:class:`Source` holds the text as one line, its tokens (``tokenize``) and its tree
(``ast.parse(..., mode="eval")``). It refuses, before parsing, every operator but
``( ) [ ] : , . + - * / ** < <= > >= == !=``, string prefixes and escapes other than
``\\\\ \\" \\' \\n \\t``, and nesting deeper than ``MAX_DEPTH``; a SyntaxError is said
as this language says it (``expected a value, found the end``). Every refusal is an
:class:`ExpressionError`: one line ``column N: ...``, and ``caret()`` for a UI.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
import warnings

from .errors import InputError, inert

MAX_DEPTH = 30  # nesting of brackets, unary operators, powers, subscripts and calls
_OPS = frozenset("( ) [ ] : , . + - * / ** < <= > >= == !=".split())  # every other operator is refused
_HINTS = {"&": "use 'and'", "|": "use 'or'", "!": "use 'not' or '!='", "%": "only + - * / ** are allowed"}
_SKIP = (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT)


class ExpressionError(InputError):
    """Malformed text: the message is ``column N: ...``; ``column`` is 0-based."""

    def __init__(self, text: str, column: int, message: str):
        super().__init__(f"column {column + 1}: {message}")
        self.text, self.column = text, column

    def caret(self) -> str:
        """Two lines for a UI: the expression, and a caret under the offending column."""
        line = "".join(ch if ch.isprintable() else " " for ch in self.text)  # as one line, nothing obeyed
        return f"{line}\n{' ' * self.column}^"


def clip(s: str, n: int = 40) -> str:
    """``s`` shortened to ``n`` characters for a message, control characters shown, never obeyed."""
    s = inert(s)
    return s if len(s) <= n else s[: n - 3] + "..."


def _ends_value(tok: tuple[int, str, int]) -> bool:
    typ, s, _ = tok
    word = typ == tokenize.NAME and (not keyword.iskeyword(s) or s in ("True", "False"))
    return word or typ in (tokenize.NUMBER, tokenize.STRING) or s in (")", "]")


class Source:
    """One expression's text: ``src`` is it on one line without leading blanks (columns ``lead`` on)."""

    def __init__(self, text: str):
        line = "".join(" " if ch.isspace() else ch for ch in text)  # one line, the same columns
        self.text, self.src = text, line.lstrip()
        self.lead = len(line) - len(self.src)
        self.toks: list[tuple[int, str, int]] = []  # (type, string, column in src)
        try:
            for t in tokenize.generate_tokens(io.StringIO(self.src).readline):
                if t.type not in _SKIP:
                    self.toks.append((t.type, t.string, t.start[1]))
        except (tokenize.TokenError, SyntaxError):  # a bracket or string open at the end: the parser says
            pass

    def fail(self, at, message: str) -> ExpressionError:
        """The error at a column of ``src`` or at a node."""
        return ExpressionError(self.text, self.lead + (at if isinstance(at, int) else self.col(at)), message)

    def col(self, node, end: bool = False) -> int:
        b = node.end_col_offset if end else node.col_offset  # bytes of UTF-8
        return b if self.src.isascii() else len(self.src.encode()[:b].decode("utf-8", "ignore"))

    def show(self, node) -> str:
        """A node's text, clipped for messages."""
        return clip(self.src[self.col(node) : self.col(node, True)].strip())

    def find(self, words, start: int) -> int:
        """The column of the first token among ``words`` at or after ``start``."""
        return next((c for _, s, c in self.toks if c >= start and s in words), start)

    def parse(self) -> ast.expr:
        """The checked tokens parsed: the expression's tree. ExpressionError if malformed."""
        if not self.src.strip():
            raise InputError("the breakpoint is empty: type a condition such as f[0] < 0.1")
        depth, prev = 0, ""
        for typ, s, c in self.toks:
            if typ == tokenize.ERRORTOKEN and s in "\"'":
                raise self.fail(c, "this string is not closed")
            if typ == tokenize.STRING:
                if s[0] not in "\"'":
                    raise self.fail(c, "a string is \"...\" or '...', without a prefix")
                for m in re.finditer(r"\\(.)", s):
                    if m.group(1) not in "\\\"'nt":
                        raise self.fail(c + m.start(), f"unknown escape {m.group()!r} (known: \\\\ \\\" \\' \\n \\t)")
            elif typ in (tokenize.OP, tokenize.ERRORTOKEN, tokenize.COMMENT) and s not in _OPS and not s.isspace():
                if s == "=" and depth and prev.isidentifier():
                    continue  # a keyword argument: the walk refuses it in its own words
                if s == "=":
                    raise self.fail(c, "'=' assigns: use '==' to compare")
                s = s[0] if typ == tokenize.COMMENT else s
                hint = f": {_HINTS[s]}" if s in _HINTS else ""
                raise self.fail(c, f"unexpected {'character ' * (len(s) == 1)}{s!r}{hint}")
            depth += (s in ("(", "[")) - (s in (")", "]"))
            if depth > MAX_DEPTH:
                raise self.fail(c, f"nested more than {MAX_DEPTH} levels deep")
            prev = s
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(self.src, mode="eval")
        except SyntaxError as e:
            raise self.fail(*self.diagnose(e)) from None
        return tree.body

    def diagnose(self, e: SyntaxError) -> tuple[int, str]:
        """Python's SyntaxError in this language's words, at a column the tokens confirm."""
        for typ, s, c in self.toks:
            if typ == tokenize.NAME and keyword.iskeyword(s) and s not in ("and", "or", "not", "True", "False"):
                return c, f"'{s}' is not allowed in a breakpoint"
        if "unterminated" in str(e.msg):
            return max((e.offset or 1) - 1, 0), "this string is not closed"
        for a, b in zip(self.toks, self.toks[1:]):  # a value right after a value
            if _ends_value(a) and _ends_value(b) and b[1] not in (")", "]"):
                return b[2], f"unexpected {b[1]!r}"
        end = len(self.src.rstrip())
        at = end if "never closed" in str(e.msg) or not 0 < (e.offset or 0) <= end else e.offset - 1
        tok = next((t for t in self.toks if t[2] >= at), None)
        before = [t for t in self.toks if t[2] < (tok[2] if tok else end)]
        after_value = bool(before) and _ends_value(before[-1])
        if tok is not None:
            what = "a string" if tok[0] == tokenize.STRING else repr(tok[1])
            return tok[2], f"unexpected {what}" if after_value else f"expected a value, found {what}"
        if "never closed" in str(e.msg) and after_value:  # Python names the bracket: "'(' was never closed"
            return end, f"expected '{')' if e.msg[1] == '(' else ']'}', found the end"
        return end, "expected a value, found the end"
