"""Screens of the interventions as SVG snapshots: a patched run, Δ mode, diff mode, the effect map.

The brackets demo (fixed weights) on a fixed text; each screen waits for its
worker to finish and clears the toasts, so that the picture is the same on
every run. Update with --snapshot-update, then look at every SVG as a PNG.
"""

from __future__ import annotations

import time

from lstm_tui.app import LstmApp
from lstm_tui.core.registry import load_demo

TEXT = "((()(())))(()((()))())"
SOURCE = "(()(()))(((())))((()))"
# to step 6 (depth 4, the deepest bracket), unit 12 (the depth counter), then c = 0 there
PATCH = ["n"] * 5 + ["j"] * 12 + ["exclamation_mark", "0", "enter"]


def app(source: bool = False) -> LstmApp:
    m = load_demo("brackets")
    return LstmApp(m, text=TEXT, source=m.trace(SOURCE) if source else None, source_text=SOURCE if source else "")


async def settle(pilot) -> None:
    """Wait for the patched run and the effect map, then clear the toasts."""
    a = pilot.app
    end = time.monotonic() + 60
    await pilot.pause()
    quiet = 0  # checks in a row with nothing running: a worker may start a message or two after its key
    while time.monotonic() < end and quiet < 4:
        busy = a.patching or (a.effect_shown is not None and a.effect_shown.running)
        quiet = 0 if busy else quiet + 1
        await pilot.pause(0.05)
    await pilot.pause()
    a.clear_notifications()
    await pilot.pause()


def keys(*presses):
    """run_before (which runs before snap_compare's own presses): the keys, each let settle."""

    async def run(pilot):
        for key in presses:
            await pilot.press(key)
            await settle(pilot)

    return run


def test_patched_screen(snap_compare):
    assert snap_compare(app(), run_before=keys(*PATCH, "n"), terminal_size=(160, 50))


def test_delta_mode(snap_compare):
    assert snap_compare(app(), run_before=keys(*PATCH, "n", "D"), terminal_size=(160, 50))


def test_delta_mode_history(snap_compare):
    assert snap_compare(app(), run_before=keys(*PATCH, "D", "3"), terminal_size=(120, 36))


def test_diff_mode(snap_compare):
    assert snap_compare(app(True), run_before=keys(*["n"] * 9, *["j"] * 12, "D"), terminal_size=(160, 50))


def test_effect_map(snap_compare):
    assert snap_compare(app(), run_before=keys(*["n"] * 12, *["j"] * 12, "E", "enter"), terminal_size=(120, 40))


def test_patch_list(snap_compare):
    assert snap_compare(app(), run_before=keys(*PATCH, "X"), terminal_size=(120, 36))
