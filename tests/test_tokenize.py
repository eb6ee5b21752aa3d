from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lstm_tui.core.tokenize import UNK, encode, is_empty, split


def test_char_tokens_keep_combining_marks_and_emoji_together():
    assert split("e\u0301a") == ["e\u0301", "a"]
    assert split("👍🏽!") == ["👍🏽", "!"]
    assert split("👩\u200d💻x") == ["👩\u200d💻", "x"]
    assert split("🇫🇷🇩🇪") == ["🇫🇷", "🇩🇪"]
    assert split("日本") == ["日", "本"]


def test_char_tokens_are_what_a_reader_sees_as_one_character_in_any_script():
    """Marks that unicodedata.combining() calls 0 (Thai, Indic vowel signs), conjuncts, Hangul jamo, CR LF."""
    assert split("\u0e01\u0e35") == ["\u0e01\u0e35"]  # Thai ก + ี (a mark of class 0)
    assert split("\u0939\u093f\u0902\u0926\u0940") == ["\u0939\u093f\u0902", "\u0926\u0940"]  # हिंदी: 2
    assert split("\u0915\u094d\u0937a") == ["\u0915\u094d\u0937", "a"]  # क्ष, a conjunct
    assert split("\u0915\u094d\u0905") == ["\u0915\u094d", "\u0905"]  # not with an independent vowel
    assert split("\u09aa\u09cd\u09f0\u09a5") == ["\u09aa\u09cd\u09f0", "\u09a5"]  # Assamese প্ৰ: ৰ is a consonant
    assert split("\u1019\u102c") == ["\u1019", "\u102c"]  # Myanmar's aa: a spacing mark Unicode keeps apart
    assert split("\u1100\u1161\u11a8\uac00\u11a8") == ["\u1100\u1161\u11a8", "\uac00\u11a8"]  # jamo, LV + T
    assert split("a\r\nb\n\r") == ["a", "\r\n", "b", "\n", "\r"]
    assert split("\n\u0301") == ["\n", "\u0301"]  # nothing joins a control


@given(st.text(st.sampled_from("a\r\n\u0301\u200d\u0e35\u094d\u0915\u1100\u1161\u11a8\uac00\U0001f1eb👍🏽")))
def test_char_split_of_marks_and_joiners_loses_nothing_and_is_the_same_ascii_or_not(text):
    tokens = split(text)
    assert "".join(tokens) == text and all(tokens)
    assert split("\u65e5\n" + text) == ["\u65e5", "\n", *tokens]  # the ASCII shortcut or not: one answer


def test_word_tokens():
    assert split("Hello, world!  ok", "word") == ["Hello", ",", "world", "!", "ok"]


def test_unknown_tokens_are_marked_not_dropped():
    vocab = ("a", "b", UNK)
    ids, unknown = encode(["a", "z", "b"], vocab)
    assert ids.tolist() == [0, 2, 1]
    assert unknown.tolist() == [False, True, False]


@given(st.text())
def test_char_split_loses_nothing(text):
    assert "".join(split(text)) == text


@given(st.text())
def test_word_split_keeps_every_non_space_character(text):
    joined = "".join(split(text, "word"))
    assert joined == "".join(ch for ch in text if not ch.isspace() or ch in joined)
    assert sorted(joined) == sorted(ch for ch in text if not ch.isspace() and ch in joined)


@given(st.text(st.sampled_from(" \t\n\u00a0\u3000.a_é\u0301")))
def test_is_empty_agrees_with_split(text):
    for kind in ("char", "word"):
        assert is_empty(text, kind) == (split(text, kind) == [])


def test_a_vocabulary_of_code_points_reads_them_as_code_points():
    """A char-RNN's vocabulary is sorted(set(text)): code points. A character it holds only as code points is
    read as those (हिंदी as 5 known tokens, not 2 unknown ones; CR LF as CR and LF, the LF known)."""
    import dataclasses

    from lstm_tui.core.registry import load_model
    from lstm_tui.core.tokenize import fit_vocab

    vocab = (*"abcdefghijklmnopqrstuvwxyz .\n", *map(chr, range(0x900, 0x970)))
    hindi = "\u0939\u093f\u0902\u0926\u0940"
    assert fit_vocab(split(hindi), vocab) == list(hindi)
    assert fit_vocab(split("ab\r\ncd"), vocab) == ["a", "b", "\r", "\n", "c", "d"]
    assert fit_vocab(split("e\u0301\u65e5"), vocab) == ["e\u0301", "\u65e5"]  # a code point unknown: one token
    assert fit_vocab(["a", "\r\n"], ("a", "b")) == ["a", "\r\n"]  # neither CR nor LF known: one unknown
    assert fit_vocab(split(hindi), (*vocab, "\u0939\u093f\u0902")) == ["\u0939\u093f\u0902", "\u0926", "\u0940"]
    model = load_model("random", hidden=4)
    model = dataclasses.replace(model, vocab=vocab, embedding=np.zeros((len(vocab), model.input_size), np.float32))
    trace = model.trace("a " + hindi + "\r\n")
    assert list(trace.tokens) == ["a", " ", *hindi, "\r", "\n"] and trace.unknown.tolist() == [False] * 7 + [True, False]
