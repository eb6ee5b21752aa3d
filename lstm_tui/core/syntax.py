"""The breakpoint language, part 1 of 2: text -> a parsed tree, or an error with a caret.

Python's tokenizer and ``ast.parse(..., mode="eval")`` read the text. Before parsing, the tokens
are checked: every operator but ``( ) [ ] : , . + - * / ** < <= > >= == !=`` is refused, so are
string prefixes, escapes but ``\\\\ \\" \\' \\n \\t`` and brackets nested deeper than ``MAX_DEPTH``;
a SyntaxError is said in this language's words. Each refusal is an :class:`ExpressionError`,
``column N: ...``, with ``caret()`` for a UI. ``breakpoints.py`` walks the tree.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
import warnings

from .errors import InputError, clip

MAX_DEPTH = 30  # nesting of brackets, and (in the walk) of unary operators, powers, subscripts and calls
_OPS = frozenset("( ) [ ] : , . + - * / ** < <= > >= == !=".split())  # every other operator is refused
_SAY = {"=": "'=' assigns: use '==' to compare", "&": "unexpected character '&': use 'and'",
        "|": "unexpected character '|': use 'or'", "!": "unexpected character '!': use 'not' or '!='",
        "%": "unexpected character '%': only + - * / ** are allowed"}  # refusals with a hint
_KEYWORDS = ("and", "or", "not", "True", "False")  # the only keywords of the language


class ExpressionError(InputError):
    """Malformed text: the message is ``column N: ...``; ``column`` is 0-based."""

    def __init__(self, text: str, column: int, message: str):
        super().__init__(f"column {column + 1}: {message}")
        self.text, self.column = text, column

    def caret(self) -> str:
        """Two lines for a UI: the expression, and a caret under the offending column."""
        line = "".join(ch if ch.isprintable() else " " for ch in self.text)  # as one line, nothing obeyed
        return f"{line}\n{' ' * self.column}^"


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
        self.toks: list[tuple[int, str, int]] = []  # (type, string, column in src), blanks left out
        try:
            for t in tokenize.generate_tokens(io.StringIO(self.src).readline):
                if t.string.strip():
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
        depth, prev = 0, ""
        for typ, s, c in self.toks:
            if typ == tokenize.ERRORTOKEN and s in ("'", '"'):
                raise self.fail(c, "this string is not closed")
            if typ == tokenize.STRING and s[0] not in "\"'":
                raise self.fail(c, "a string is \"...\" or '...', without a prefix")
            for m in re.finditer(r"\\(.)", s if typ == tokenize.STRING else ""):
                if m.group(1) not in "\\\"'nt":
                    raise self.fail(c + m.start(), f"unknown escape {m.group()!r} (known: \\\\ \\\" \\' \\n \\t)")
            if typ in (tokenize.OP, tokenize.ERRORTOKEN, tokenize.COMMENT) and s not in _OPS:
                if not (s == "=" and depth and prev.isidentifier()):  # a keyword argument: the walk refuses it
                    s = s[0] if typ == tokenize.COMMENT else s
                    raise self.fail(c, _SAY.get(s) or f"unexpected {'character ' * (len(s) == 1)}{s!r}")
            depth += (s in ("(", "[")) - (s in (")", "]"))
            if depth > MAX_DEPTH:
                raise self.fail(c, f"nested more than {MAX_DEPTH} levels deep")
            prev = s
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ast.parse(self.src, mode="eval").body
        except SyntaxError as e:
            raise self.diagnose(str(e.msg), e.offset or 0) from None

    def diagnose(self, msg: str, offset: int) -> ExpressionError:
        """Python's SyntaxError in this language's words, at the token where the parser stopped."""
        for typ, s, c in self.toks:
            if typ == tokenize.NAME and keyword.iskeyword(s) and s not in _KEYWORDS:
                return self.fail(c, f"'{s}' is not allowed in a breakpoint")
        if "unterminated" in msg:
            return self.fail(max(offset - 1, 0), "this string is not closed")
        for a, b in zip(self.toks, self.toks[1:]):  # a value right after a value
            if _ends_value(a) and _ends_value(b) and b[1] not in (")", "]"):
                return self.fail(b[2], f"unexpected {b[1]!r}")
        end, closing = len(self.src.rstrip()), "never closed" in msg
        at = end if closing or not 0 < offset <= end else offset - 1
        tok = next((t for t in self.toks if t[2] >= at), (0, "", end))  # (0, "", end): the end
        before = [t for t in self.toks if t[2] < tok[2]]
        after_value = bool(before) and _ends_value(before[-1])
        if not tok[1]:
            closer = ")" if msg[1:2] == "(" else "]"  # Python names the bracket: "'(' was never closed"
            return self.fail(end, f"expected '{closer}', found the end" if closing and after_value else
                             "expected a value, found the end")
        found = "a string" if tok[0] == tokenize.STRING else repr(tok[1])
        return self.fail(tok[2], f"unexpected {found}" if after_value else f"expected a value, found {found}")
