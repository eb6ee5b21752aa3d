from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lstm_tui.core.tokenize import UNK, encode, is_empty, split


def test_char_tokens_keep_combining_marks_and_emoji_together():
    assert split("e\u0301a") == ["e\u0301", "a"]
    assert split("👍🏽!") == ["👍🏽", "!"]
    assert split("👩\u200d💻x") == ["👩\u200d💻", "x"]
    assert split("🇫🇷🇩🇪") == ["🇫🇷", "🇩🇪"]
    assert split("日本") == ["日", "本"]


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
