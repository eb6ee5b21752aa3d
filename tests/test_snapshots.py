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


def test_stages_view(snap_compare):
    assert snap_compare(app(), press=["n", "n", "n", "n", "n", "down", "2"], terminal_size=(120, 36))


def test_history_view(snap_compare):
    assert snap_compare(app(LONG), press=["n"] * 30 + ["down", "3"], terminal_size=(120, 40))


def test_units_view_after_a_search(snap_compare):
    assert snap_compare(
        app(), press=["s", "ctrl+a", "ctrl+k", *"5-7 > 0.1", "enter"], terminal_size=(120, 40)
    )


def test_gradient_compare_view(snap_compare):
    assert snap_compare(app(LONG), press=["end", "x"], terminal_size=(120, 36))


def test_too_small(snap_compare):
    assert snap_compare(app(), terminal_size=(30, 8))


def test_numbers_mode(snap_compare):
    assert snap_compare(app(hidden=12), press=["n", "number_sign"], terminal_size=(120, 40))


def test_monochrome(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(app(hidden=12), press=["n", "n"], terminal_size=(100, 30))


def test_light_theme(snap_compare):
    async def light(pilot):
        pilot.app.theme = "textual-light"

    assert snap_compare(app(), press=["n", "down"], run_before=light, terminal_size=(120, 40))


def brackets() -> LstmApp:
    """The brackets demo on its example, as the README shows it."""
    model = load_model("brackets")
    return LstmApp(model, text=model.meta["example"])


def test_brackets_history_each_units_range(snap_compare):
    """The default history: every unit on its own range, so the depth unit (12) stands out."""
    assert snap_compare(brackets(), press=["n"] * 5 + ["3"], terminal_size=(160, 50))


def test_brackets_history_one_shared_scale(snap_compare):
    assert snap_compare(brackets(), press=["n"] * 5 + ["3", "r"], terminal_size=(160, 50))


def test_brackets_steps_fill_a_tall_screen(snap_compare):
    """Panels, then the history under them down to the unit view."""
    assert snap_compare(brackets(), press=["n"] * 5, terminal_size=(160, 50))


def test_output_panel_top_tokens(snap_compare):
    """Top tokens in columns: token (a space shown ␠), probability, a bar; the character demo after 'Explicit'."""
    model = load_model("charlm")
    charlm = LstmApp(model, text="Beautiful is better than ugly. Explicit")
    assert snap_compare(charlm, press=["end", "pagedown"], terminal_size=(120, 40))


def test_classic_notation(snap_compare):
    """The notes' names (σ(z^f), z^f = …) in every panel's equation, the titles and the unit view."""
    async def notation(pilot):
        await pilot.press("n", "n", "N")
        pilot.app.clear_notifications()  # the "notation: classic" toast would cover the unit view
        await pilot.pause()

    assert snap_compare(app(), run_before=notation, terminal_size=(120, 40))


def test_pytorch_notation_stages(snap_compare):
    """PyTorch's names (fᵗ, iᵗ, gᵗ, oᵗ) in the stage view."""
    assert snap_compare(app(), press=["n", "n", "n", "N", "N", "2"], terminal_size=(120, 36))


def test_watches_plot(snap_compare):
    """A pinned unit and an expression watch as lines over time, the step marked."""
    assert snap_compare(app(LONG), press=["n"] * 20 + ["m", "W", *"max(f)-min(f)", "enter"], terminal_size=(120, 40))
