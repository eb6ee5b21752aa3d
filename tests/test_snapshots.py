"""Screens as SVG snapshots (pytest-textual-snapshot). Update with --snapshot-update, then look at them."""

from __future__ import annotations

from lstm_tui.app import LstmApp
from lstm_tui.core.registry import load_model

LONG = "it was the best of times, it was the worst of times, it was the age of wisdom, " * 2


def app(text: str = "the cat sat on the mat.", **kw) -> LstmApp:
    """A fixed model and text, so that the screens are the same on every machine."""
    return LstmApp(load_model("random", hidden=kw.pop("hidden", 24), seed=0, **kw), text=text)


def test_opening_screen(snap_compare):
    assert snap_compare(app(), terminal_size=(120, 40))


def test_three_steps_with_a_unit_selected(snap_compare):
    assert snap_compare(app(), press=["n", "n", "n", "down", "down", "down"], terminal_size=(120, 40))


def test_help_screen(snap_compare):
    assert snap_compare(app(), press=["question_mark"], terminal_size=(100, 36))


def test_small_terminal(snap_compare):
    assert snap_compare(app(), press=["n", "j"], terminal_size=(80, 24))


def test_long_sequence_at_its_end(snap_compare):
    assert snap_compare(app(LONG), press=["end"], terminal_size=(120, 40))


def test_gru_panels(snap_compare):
    assert snap_compare(app("hello", cell="gru", hidden=12), press=["n"], terminal_size=(120, 36))
