"""A Keras model's ``TextVectorization`` layer: the model reads text, and brings its vocabulary and tokenizer.

Keras keeps the vocabulary in the ``.keras`` archive, at
``assets/<the layer's weights group>/vocabulary.txt`` (one token a line: the
padding token ``""``, the unknown token ``[UNK]``, then the tokens by
frequency), or in the layer's config when it was given one. The layer's
``standardize`` and ``split`` options become the tokenizer
``keras:<standardize>:<split>`` (``core.tokenize``), which computes what
TensorFlow does. Only ``output_mode="int"`` without n-grams gives token ids
for an Embedding; custom standardize or split functions are code, not in the
file.
"""

from __future__ import annotations

from ..core import tokenize
from .registry import fail, refuse, show

MAX_VOCAB_BYTES = 64 * 1024**2  # the largest vocabulary.txt read from an archive


def is_vocabulary(name: str) -> bool:
    """An archive member that may be a TextVectorization's vocabulary."""
    return name.startswith("assets/") and name.endswith("/vocabulary.txt")


def text_vectorization(file: str, where: str, cfg: dict, group, assets: dict | None) -> tuple[tuple[str, ...] | None, str, list]:
    """(vocabulary, tokenizer, notes) of a TextVectorization layer (no vocabulary from a legacy .h5, which keeps
    none); one line for what lstm-tui cannot run."""
    if cfg.get("output_mode", "int") != "int":
        raise refuse(file, where, f"output_mode {show(str(cfg.get('output_mode')))!r}",
                     "'int' (token ids for an Embedding)")
    if cfg.get("ngrams") is not None:
        raise refuse(file, where, f"ngrams {show(str(cfg.get('ngrams')))}", "None (one token a step)")
    standardize, how = cfg.get("standardize", "lower_and_strip_punctuation"), cfg.get("split", "whitespace")
    if (standardize or "none") not in tokenize.KERAS_STANDARDIZE or standardize == "none":
        raise refuse(file, where, f"standardize {show(str(standardize))!r}",
                     "lower_and_strip_punctuation, lower, strip_punctuation or None (a function is code, not in "
                     "the file)")
    if how not in tokenize.KERAS_SPLIT:
        raise refuse(file, where, f"split {show(str(how))!r}", "whitespace or character (a function is code, not in "
                                                               "the file)")
    vocab = _vocabulary(file, where, cfg, group, assets)
    notes = []
    if isinstance(cfg.get("output_sequence_length"), int):
        notes.append(f"{where}: output_sequence_length={cfg['output_sequence_length']}: Keras pads (or cuts) every "
                     "text to that many tokens, padding with id 0 after the text; lstm-tui runs the tokens typed")
    return vocab, tokenize.keras_kind(standardize, how), notes


def _vocabulary(file: str, where: str, cfg: dict, group, assets: dict | None) -> tuple[str, ...] | None:
    """The layer's vocabulary, from its config or the archive (``assets``, None for a legacy .h5, which keeps
    none: then None)."""
    given = cfg.get("vocabulary")
    if isinstance(given, list) and given:
        tokens = [str(t) for t in given]
        specials = ["", tokenize.KERAS_UNK]
        return tuple(tokens if tokens[:2] == specials else specials + [t for t in tokens if t not in specials])
    if assets is None:  # a legacy .h5: no archive, no assets
        return None
    base = f"assets{group.name}" if group is not None else None  # (the layer's weights group: its assets' place)
    names = [f"{base}/_lookup_layer/vocabulary.txt", f"{base}/vocabulary.txt"] if base else []  # Keras reads the first
    name = next((n for n in names if n in assets), None)
    if name is None:
        expected = show(names[0]) if names else "assets/<the layer's group>/vocabulary.txt"
        raise fail(file, f"{where}: its vocabulary is not in the archive (expected {expected})")
    try:
        lines = assets[name].decode("utf-8").splitlines()  # as Keras reads it
    except UnicodeDecodeError as exc:
        raise fail(file, f"{show(name)} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    while lines and lines[-1] == "":
        lines.pop()
    if lines[:2] != ["", tokenize.KERAS_UNK]:
        raise fail(file, f"{show(name)} does not start with the padding token (an empty line) and "
                         f"{tokenize.KERAS_UNK}: expected TextVectorization's defaults")
    if len(set(lines)) != len(lines):
        raise fail(file, f"{show(name)} lists a token twice")
    return tuple(lines)
