"""Turning text into tokens and tokens into vocabulary ids.

Two tokenizers: ``char`` (one token per user-perceived character: a base
character with the combining marks, variation selectors and zero-width
joiner sequences that follow it) and ``word`` (runs of word characters, and
each other non-space character on its own).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

UNK = "<unk>"
TOKENIZERS = ("char", "word")

_WORD = re.compile(r"\w+|[^\w\s]")
_ZWJ = "\u200d"


def _extends(ch: str) -> bool:
    """True for a character that belongs to the character before it."""
    if unicodedata.combining(ch) or ch == _ZWJ:
        return True
    o = ord(ch)
    return 0xFE00 <= o <= 0xFE0F or 0x1F3FB <= o <= 0x1F3FF or 0xE0020 <= o <= 0xE007F


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def split_chars(text: str) -> list[str]:
    """Split text into user-perceived characters (an approximation of UAX #29)."""
    out: list[str] = []
    for ch in text:
        if out and (_extends(ch) or out[-1].endswith(_ZWJ)):
            out[-1] += ch
        elif out and _is_regional(ch) and len(out[-1]) == 1 and _is_regional(out[-1]):
            out[-1] += ch  # two regional indicators make one flag
        else:
            out.append(ch)
    return out


def split(text: str, kind: str = "char") -> list[str]:
    """Split ``text`` into tokens with the ``char`` or ``word`` tokenizer."""
    if kind == "char":
        return split_chars(text)
    if kind == "word":
        return _WORD.findall(text)
    raise ValueError(f"unknown tokenizer {kind!r}: expected one of {', '.join(TOKENIZERS)}")


def is_empty(text: str, kind: str = "char") -> bool:
    """Whether ``text`` gives no tokens with the ``kind`` tokenizer (without splitting all of it)."""
    return text == "" if kind == "char" else _WORD.search(text) is None


def encode(tokens: list[str], vocab: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Map tokens to ids (T,) and a mask (T,) of those not in ``vocab``.

    Unknown tokens take the id of ``<unk>`` when the vocabulary has one, and
    id 0 otherwise; either way the mask marks them.
    """
    index = {tok: k for k, tok in enumerate(vocab)}
    unk_id = index.get(UNK, 0)
    ids = np.fromiter((index.get(t, unk_id) for t in tokens), dtype=np.int64, count=len(tokens))
    unknown = np.fromiter((t not in index for t in tokens), dtype=bool, count=len(tokens))
    return ids, unknown
