"""Turning text into tokens and tokens into vocabulary ids.

Two tokenizers: ``char`` (one token per user-perceived character: a base
character with the combining marks, variation selectors and zero-width
joiner sequences that follow it) and ``word`` (runs of word characters, and
each other non-space character on its own). A Keras model that takes text
through a ``TextVectorization`` layer brings its own, ``keras:<standardize>:<split>``,
as TensorFlow computes it: ``lower`` lowercases ASCII letters only,
``strip_punctuation`` removes ASCII punctuation, ``whitespace`` splits on runs
of ASCII whitespace, ``character`` into code points.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np

UNK = "<unk>"
KERAS_UNK = "[UNK]"  # TextVectorization's out-of-vocabulary token (id 1, after the padding token "")
TOKENIZERS = ("char", "word")
KERAS_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation", "none")
KERAS_SPLIT = ("whitespace", "character")
_KERAS_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')  # TextVectorization's own pattern
_ASCII_SPACES = re.compile(r"[ \t\n\v\f\r]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_WORD = re.compile(r"\w+|[^\w\s]")
_ZWJ = "\u200d"
_CRLF = re.compile(r"\r\n|.", re.DOTALL)
_SPACING = frozenset("\u0e33\u0eb3")  # Thai and Lao SARA AM: letters (Lo) that join the one before
#: Spacing marks (Mc) that Unicode does not join to the character before (Myanmar's and a few more).
_NOT_SPACING = frozenset(map(chr, (0x102B, 0x102C, 0x1038, *range(0x1062, 0x1065), *range(0x1067, 0x106E), 0x1083,
                                   *range(0x1087, 0x108D), 0x108F, *range(0x109A, 0x109D), 0x1A61, 0x1A63, 0x1A64,
                                   0xAA7B, 0xAA7D, 0x11720, 0x11721)))
_LINKERS = frozenset("\u094d\u09cd\u0acd\u0b4d\u0c4d\u0d4d")  # viramas that join two consonants into one


def _hangul(ch: str) -> str:
    """The Hangul syllable type of ch (Unicode's L, V, T, LV, LVT), or ""."""
    o = ord(ch)
    if 0x1100 <= o <= 0x115F or 0xA960 <= o <= 0xA97C:
        return "L"
    if 0x1160 <= o <= 0x11A7 or 0xD7B0 <= o <= 0xD7C6:
        return "V"
    if 0x11A8 <= o <= 0x11FF or 0xD7CB <= o <= 0xD7FB:
        return "T"
    if 0xAC00 <= o <= 0xD7A3:
        return "LV" if (o - 0xAC00) % 28 == 0 else "LVT"
    return ""


_HANGUL_JOINS = {"L": ("L", "V", "LV", "LVT"), "V": ("V", "T"), "LV": ("V", "T"), "T": ("T",), "LVT": ("T",)}


@functools.lru_cache(maxsize=8192)
def _kind(ch: str) -> str:
    """What ch is to UAX #29's rules: "C" a control (Cc, Zl, Zp: nothing joins one, nor one anything), "E" a
    mark or another extender (Extend, SpacingMark), "Z" the zero-width joiner, "R" a regional indicator,
    a Hangul syllable type (L, V, T, LV, LVT), or "" (cached: a text repeats its characters)."""
    if ch < " " or "\x7f" <= ch <= "\x9f" or ch in "\u2028\u2029":
        return "C"
    if ch == _ZWJ:
        return "Z"
    o = ord(ch)
    if ch in _SPACING or unicodedata.category(ch) in ("Mn", "Me", "Mc") and ch not in _NOT_SPACING:
        return "E"
    if 0xFE00 <= o <= 0xFE0F or 0x1F3FB <= o <= 0x1F3FF or 0xE0020 <= o <= 0xE007F:
        return "E"
    if 0x1F1E6 <= o <= 0x1F1FF:
        return "R"
    return _hangul(ch)


#: Unicode's Indic consonants (InCB=Consonant) of the scripts whose virama links two into one.
_CONSONANTS = ((0x0915, 0x0939), (0x0958, 0x095F), (0x0978, 0x097F), (0x0995, 0x09B9), (0x09DC, 0x09DF),
               (0x09F0, 0x09F1), (0x0A95, 0x0AB9), (0x0AF9, 0x0AF9), (0x0B15, 0x0B39), (0x0B5C, 0x0B5F),
               (0x0B71, 0x0B71), (0x0C15, 0x0C39), (0x0C58, 0x0C5A), (0x0D15, 0x0D3A))


def _consonant_after(linker: str, ch: str) -> bool:
    """Whether ch is a consonant of the linker's script (its Unicode block)."""
    o = ord(ch)
    return o >> 7 == ord(linker) >> 7 and any(lo <= o <= hi for lo, hi in _CONSONANTS)


def _joins(cluster: str, ch: str) -> bool:
    """Whether ch continues the user-perceived character ``cluster`` (an approximation of UAX #29)."""
    last = cluster[-1]
    before, kind = _kind(last), _kind(ch)
    if before == "C" or kind == "C":
        return last == "\r" and ch == "\n" and cluster == "\r"  # CR LF is one
    if kind in ("E", "Z") or before == "Z":
        return True
    if kind == "R":  # two regional indicators make one flag
        return len(cluster) == 1 and before == "R"
    if last in _LINKERS and _consonant_after(last, ch):  # a conjunct: क + ् + ष
        return True
    return kind in _HANGUL_JOINS.get(before, ())


def split_chars(text: str) -> list[str]:
    """Split text into user-perceived characters (an approximation of UAX #29)."""
    if text.isascii():  # nothing joins but CR LF
        return list(text) if "\r\n" not in text else _CRLF.findall(text)
    out: list[str] = []
    for ch in text:
        # below U+0300 (no marks, no Hangul, no ZWJ) only a CR joins, an LF
        if out and (ch >= "\u0300" or out[-1][-1] >= "\u0300" or ch == "\n") and _joins(out[-1], ch):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def split(text: str, kind: str = "char") -> list[str]:
    """Split ``text`` into tokens with the ``char``, ``word`` or a ``keras:...`` tokenizer."""
    if kind == "char":
        return split_chars(text)
    if kind == "word":
        return _WORD.findall(text)
    if is_known(kind):
        _, standardize, how = kind.split(":")
        if standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.translate(_ASCII_LOWER)
        if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = _KERAS_PUNCTUATION.sub("", text)
        return [t for t in _ASCII_SPACES.split(text) if t] if how == "whitespace" else list(text)
    raise ValueError(f"unknown tokenizer {kind!r}: expected one of {', '.join(TOKENIZERS)} or keras:<standardize>:<split>")


def keras_kind(standardize: str | None, how: str) -> str:
    """The tokenizer of a TextVectorization layer's ``standardize`` and ``split`` options."""
    return f"keras:{standardize or 'none'}:{how}"


def is_known(kind: str) -> bool:
    """Whether ``kind`` names a tokenizer: ``char``, ``word`` or ``keras:<standardize>:<split>``."""
    if kind in TOKENIZERS:
        return True
    parts = kind.split(":") if isinstance(kind, str) else []
    return len(parts) == 3 and parts[0] == "keras" and parts[1] in KERAS_STANDARDIZE and parts[2] in KERAS_SPLIT


def label(kind: str) -> str:
    """The tokenizer as a message names it: "char", "word", or "TextVectorization"."""
    return "TextVectorization" if kind.startswith("keras:") else kind


def fit_vocab(tokens: list[str], vocab: tuple[str, ...]) -> list[str]:
    """Characters the vocabulary does not hold whole, as the code points it holds: a vocabulary of code
    points (a char-RNN's ``sorted(set(text))``) reads हिंदी as its 5 code points, not as 2 unknown tokens.
    A character it holds whole stays one, and so does one with a code point it does not know, but CR LF,
    read as CR and LF when it knows either (a text file's line end, to a model trained on another's)."""
    known = set(vocab)
    out: list[str] = []
    for t in tokens:
        if len(t) > 1 and t not in known and (all(c in known for c in t) or t == "\r\n" and not known.isdisjoint(t)):
            out.extend(t)
        else:
            out.append(t)
    return out


def is_empty(text: str, kind: str = "char") -> bool:
    """Whether ``text`` gives no tokens with the ``kind`` tokenizer (without splitting all of it)."""
    if kind.startswith("keras:"):
        return not split(text, kind)
    return text == "" if kind == "char" else _WORD.search(text) is None


def encode(tokens: list[str], vocab: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Map tokens to ids (T,) and a mask (T,) of those not in ``vocab``.

    Unknown tokens take the id of ``<unk>`` (or Keras's ``[UNK]``) when the
    vocabulary has one, and id 0 otherwise; either way the mask marks them. A
    TextVectorization's vocabulary ("", "[UNK]", ...) sends them to ``[UNK]``, as
    TensorFlow does, even where its text had a word ``<unk>``.
    """
    index = {tok: k for k, tok in enumerate(vocab)}
    unk_id = 1 if tuple(vocab[:2]) == ("", KERAS_UNK) else index.get(UNK, index.get(KERAS_UNK, 0))
    ids = np.fromiter((index.get(t, unk_id) for t in tokens), dtype=np.int64, count=len(tokens))
    unknown = np.fromiter((t not in index for t in tokens), dtype=bool, count=len(tokens))
    return ids, unknown
