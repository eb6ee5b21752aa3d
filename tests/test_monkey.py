"""A seeded monkey: about fifteen hundred random keys and resizes against every model; the state stays consistent.

Bounded in count (and so in time: a key costs about 0.12 s, and this file was a third of CI's 15 minutes at
two thousand); the seed makes a failure repeatable.
"""

from __future__ import annotations

import random

import pytest

from lstm_tui.app import VIEWS, LstmApp
from lstm_tui.core.registry import load_model

KEYS = [
    *"npjkl123458vasuxTNP#m[]]gbcCBw/i",
    *"6XDIE",  # interventions: the effect map view, patch list, Δ / diff, source, effect map
    "exclamation_mark",
    "right",
    "left",
    "up",
    "down",
    "home",
    "end",
    "space",
    "plus",
    "minus",
    "pagedown",
    "pageup",
    "escape",
    "enter",
    "backspace",
    "question_mark",
    "number_sign",
    "right_square_bracket",
    "left_square_bracket",
    "tab",
]
TEXT_KEYS = [*"()ab -?.", "enter", "escape", "backspace"]

MODELS = {
    "brackets": lambda: load_model("brackets"),
    "charlm": lambda: load_model("charlm"),
    "copy": lambda: load_model("copy"),
    "random-gru": lambda: load_model("random", hidden=5, cell="gru"),
    "random-rnn-2-layers": lambda: load_model("random", hidden=4, cell="rnn_relu", layers=2),
    "random-lstm-words": lambda: load_model("random", hidden=3, tokenizer="word"),
}


def consistent(app: LstmApp) -> None:
    tr = app.trace
    assert 0 <= app.k < max(tr.steps, 1)
    assert 0 <= app.unit < tr.hidden_size
    assert 0 <= app.layer < tr.num_layers
    assert app.view in VIEWS


@pytest.mark.parametrize("name", list(MODELS))
async def test_monkey(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # e and S may write files: keep them here
    rng = random.Random(f"monkey-{name}")
    app = LstmApp(MODELS[name](), text="(()(a-b?))")
    app.animation_level = "none"  # no scroll animations to wait for
    async with app.run_test(size=(100, 30)) as pilot:
        for n in range(240):  # 6 models: about fifteen hundred keys
            if rng.random() < 0.06:
                await pilot.resize_terminal(rng.randint(20, 300), rng.randint(6, 100))
            typing = app.focused is not None
            await pilot.press(rng.choice(TEXT_KEYS if typing and rng.random() < 0.7 else KEYS))
            if app.screen is not app.screen_stack[0] and rng.random() < 0.3:
                await pilot.press("escape")
            assert app.is_running, f"the app stopped after {n} keys"
            consistent(app)
        await pilot.resize_terminal(20, 6)
        await pilot.pause()
        await pilot.resize_terminal(300, 100)
        await pilot.pause()
        consistent(app)


async def test_resize_during_playback():
    app = LstmApp(load_model("brackets"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("plus", "plus", "plus", "space")
        for w, h in [(20, 6), (300, 100), (40, 12), (39, 11), (120, 40), (80, 24)]:
            await pilot.resize_terminal(w, h)
            await pilot.pause(0.05)
            consistent(app)
        assert app.has_class("-too-small") is False
