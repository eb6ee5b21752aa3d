"""The app's interventions end to end: keys through ``pilot.press``, asserting on the app's state.

! sets a unit, X lists and removes patches, D cycles Δ / diff, I types a
source, E and view 6 draw the effect map. Every expected number comes from
``core.interventions`` run directly on the same model and input.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from conftest import settle_runs as settle

from lstm_tui.app import LstmApp
from lstm_tui.core import interventions
from lstm_tui.core.interventions import (
    EffectMap,
    Patch,
    difference,
    intervene,
    log_softmax,
)
from lstm_tui.core.patch_buffer import spare_run
from lstm_tui.core.registry import load_demo, load_model
from lstm_tui.core.trace import run_of
from lstm_tui.render.palette import DIVERGING
from lstm_tui.widgets.effect_view import EffectLines
from lstm_tui.widgets.patches_screen import PatchesScreen

TEXT = "(()(()))((()))"
SOURCE = "((((()))))))()"


def brackets(source: str | None = None, text: str = TEXT) -> LstmApp:
    m = load_demo("brackets")
    return LstmApp(m, text=text, source=None if source is None else m.trace(source), source_text=source or "")


def close(a, b) -> None:
    """Equal to float32's precision (a run recomputed from the one before may step differently)."""
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


async def make_effect_map(pilot, app) -> None:
    """E, Enter on the question it proposes (the current step, unit and top token), and the map finished."""
    await pilot.press("E")
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot, app, lambda: app.effect_shown is not None and not app.effect_shown.running)


async def set_patch(pilot, app, text: str) -> None:
    await pilot.press("exclamation_mark")
    await pilot.pause()
    await pilot.press(*text, "enter")
    await settle(pilot, app)


async def select(pilot, steps: int, unit: int) -> None:
    await pilot.press(*["n"] * steps, *["j"] * unit)


async def test_bang_sets_the_selected_unit_at_this_step_and_the_run_follows():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "0")
        assert app.patches == [Patch(0, "c", 12, (4,), 0.0)]
        want = intervene(app.model, app.clean, app.patches)
        assert app.trace.states["c"][0][4][12] == 0.0
        for q in ("i", "f", "g", "o", "c", "h"):
            close(app.trace.states[q][0], want.states[q][0])
        close(app.trace.y, want.y)
        assert not np.allclose(app.trace.y[5:], app.clean.y[5:])  # the predictions after it change
        np.testing.assert_array_equal(app.trace.y[:4], app.clean.y[:4])
        assert app.status_line().startswith("PATCHED (1)")
        assert "PATCHED (1)" in app.sub_title
        assert app.k == 4 and app.unit == 12  # the step and unit stay


async def test_the_prompt_copies_the_arrays_of_the_next_run_while_its_value_is_typed():
    """A patch's run is written into a spare run's arrays; with none kept (the first patch, the
    second beside the first's run) the prompt copies one in a worker, and the run uses it."""
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        for steps, unit in ((4, 12), (2, 3)):
            await select(pilot, steps, unit)
            await pilot.press("exclamation_mark")
            await settle(pilot, app, lambda: app._spare is not None)
            spare, since = app._spare
            assert run_of(spare)[0] is app.clean and since == app.clean.steps
            assert not np.shares_memory(spare.states["c"][0], app.clean.states["c"][0])
            np.testing.assert_array_equal(spare.states["c"][0], app.clean.states["c"][0])
            await pilot.press("0", "enter")
            await settle(pilot, app)
            assert app.trace.states["c"] is spare.states["c"]  # written into, not copied again
            want = intervene(app.model, app.clean, app.patches)
            for q in ("i", "f", "g", "o", "c", "h"):
                close(app.trace.states[q][0], want.states[q][0])
            close(app.trace.y, want.y)
        kept = app._spare  # the run before last came back as the spare
        assert kept is not None
        await select(pilot, 1, 0)
        await pilot.press("exclamation_mark")
        await settle(pilot, app)
        assert app._spare is kept  # nothing copied


async def test_a_patch_typed_before_the_copy_is_done_is_written_into_that_copy(monkeypatch):
    """Enter while the prompt's worker still copies: the run waits for the copy and writes into it,
    never copies the arrays a second time (the README's add figure is this case)."""
    import lstm_tui.app.intervene as room

    made = []

    def slow_spare_run(model, clean):
        time.sleep(0.5)
        made.append(spare_run(model, clean))
        return made[-1]

    monkeypatch.setattr(room, "spare_run", slow_spare_run)
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 4, 12)
        await pilot.press("exclamation_mark", "0", "enter")  # well within the 0.5 s copy
        await settle(pilot, app, lambda: app.trace is not app.clean)
        assert len(made) == 1 and app.trace.states["c"] is made[0].states["c"]
        assert app._spare is None and app._spare_copied is None


async def test_a_prompt_closed_without_a_patch_keeps_no_copy_but_a_spare_from_before_stays():
    """The copy a patch prompt makes while its value is typed is dropped when the prompt closes with
    no patch (Esc, nothing typed, or a value refused); a spare kept from an earlier run is not."""
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 4, 12)
        for keys in (("escape",), ("enter",), ("x", "y", "z", "enter")):
            await pilot.press("exclamation_mark")
            await settle(pilot, app, lambda: app._spare is not None)
            assert app._spare is not None  # copied while the prompt is open
            await pilot.press(*keys)
            await settle(pilot, app)
            assert app._spare is None and app._spare_copied is None, keys
        await pilot.press("exclamation_mark", "0", "enter")  # two patches: the first run comes back as the spare
        await settle(pilot, app)
        await pilot.press("n", "exclamation_mark", "0", "enter")
        await settle(pilot, app, lambda: app._spare is not None)
        kept = app._spare
        assert kept is not None
        await pilot.press("exclamation_mark")
        await settle(pilot, app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert app._spare is kept  # not the prompt's to drop


async def test_a_patch_at_the_same_place_replaces_the_one_before():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "0")
        await set_patch(pilot, app, "1.5")
        assert app.patches == [Patch(0, "c", 12, (4,), 1.5)]
        assert app.trace.states["c"][0][4][12] == 1.5
        assert any(n.message == "replaces L1:c[12]=0.0@5" for n in app._notifications)
        await pilot.press("n")
        await set_patch(pilot, app, "2")  # another step: kept beside it
        assert len(app.patches) == 2


async def test_a_replacing_patch_whose_run_fails_gives_the_old_one_back(monkeypatch):
    import lstm_tui.app.intervene as room
    from lstm_tui.core.errors import UserError

    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "0")

        real = room.intervene_into

        def fails_once(*args, **kwargs):
            monkeypatch.setattr(room, "intervene_into", real)  # the run of the patches left goes through
            raise UserError("the run failed")

        monkeypatch.setattr(room, "intervene_into", fails_once)
        await set_patch(pilot, app, "1.5")
        await settle(pilot, app)
        assert app.patches == [Patch(0, "c", 12, (4,), 0.0)]  # not lost with the one that failed
        assert app.trace.states["c"][0][4][12] == 0.0
        assert any(n.message == "the run failed" for n in app._notifications)


async def test_stage_view_at_a_patched_step_says_the_patch_set_it():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "0")
        await pilot.press("2")
        await pilot.pause()
        from rich.console import Console

        def body() -> str:
            console = Console(width=200, record=True, file=io.StringIO())
            console.print(app.query_one("#stages-body").content)
            return console.export_text()

        assert "set by a patch: cᵗ = +0.0000 in the run" in body()
        await pilot.press("n")  # the next step follows its own equations: no note
        await pilot.pause()
        assert "set by a patch" not in body() and "stages" in app.query_one("#stages").border_title


@pytest.mark.parametrize(
    "typed, steps, value",
    [("0 @ 2-4", (1, 2, 3), 0.0), ("2.5 @ *", tuple(range(len(TEXT))), 2.5), ("-1@7", (6,), -1.0)],
)
async def test_prompt_takes_a_range_of_steps(typed, steps, value):
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 2, 3)
        await set_patch(pilot, app, typed)
        assert app.patches == [Patch(0, "c", 3, steps, value)]
        assert np.all(app.trace.states["c"][0][list(steps), 3] == np.float32(value))


async def test_prompt_takes_a_whole_patch_and_the_history_quantity():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")  # history quantity c -> h ...
        q = app.history_quantity
        await set_patch(pilot, app, "0.5")
        assert app.patches[-1].quantity == q
        await set_patch(pilot, app, "L1:f[3]=1@2-3")
        assert app.patches[-1] == Patch(0, "f", 3, (1, 2), 1.0)
        assert np.all(app.trace.states["f"][0][1:3, 3] == 1.0)


@pytest.mark.parametrize("typed", ["src", "zero", "0 @ 99", "L1:q[0]=0@1"])
async def test_a_bad_prompt_is_refused_and_changes_nothing(typed):
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await set_patch(pilot, app, typed)
        assert app.patches == []
        assert app.trace is app.clean
        assert any(n.severity == "error" for n in app._notifications)
        if typed == "zero":  # the text and a caret under the bad column
            assert any(n.message.endswith("zero\n^") for n in app._notifications)


async def test_a_prompted_number_too_long_for_int_is_refused_not_a_crash():
    """5,000 digits (int() raises ValueError past 4,300): the patch is refused as out of range, the app runs on."""
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        for typed in ("0@" + "9" * 5000, "c[3]=0@" + "9" * 5000):
            await pilot.press("exclamation_mark")
            await pilot.pause()
            app.screen.query_one("#answer").value = typed
            await pilot.press("enter")
            await settle(pilot, app)
            assert app.is_running and app.patches == [] and app.trace is app.clean
            said = [n.message for n in app._notifications]
            assert "step 9999999999999999999999999999999999999... out of range" in said[-1]


async def test_patch_list_removes_one_and_clears_all():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 3, 12)
        await set_patch(pilot, app, "0")
        await set_patch(pilot, app, "1 @ 9")
        assert len(app.patches) == 2
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, PatchesScreen)
        await pilot.press("d")  # the first one
        await settle(pilot, app)
        assert app.patches == [Patch(0, "c", 12, (8,), 1.0)]
        close(app.trace.states["c"][0], intervene(app.model, app.clean, app.patches).states["c"][0])
        await pilot.press("D")  # every one
        await settle(pilot, app)
        await pilot.press("escape")
        assert app.patches == []
        close(app.trace.states["c"][0], app.model.trace(TEXT).states["c"][0])
        assert "PATCHED" not in app.status_line()


async def test_delta_mode_shows_patched_minus_clean_on_the_diverging_palette():
    app = brackets()
    async with app.run_test(size=(160, 50)) as pilot:
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "0")
        patched = app.trace
        await pilot.press("D")
        await pilot.pause()
        assert app.compare_mode == "delta"
        want = difference(patched, app.clean)
        for q in ("f", "c", "h"):
            close(app.trace.states[q][0], want.states[q][0])
        close(app.trace.y, want.y)
        f_panel = next(p for p in app._panels if p.spec.key == "f")
        scale = f_panel.heatmap._scale
        assert scale.palette == DIVERGING and scale.lo == -scale.hi and scale.hi > 0
        y_panel = next(p for p in app._panels if p.spec.key == "y")
        assert "→" in str(y_panel.extra.render())  # top-k before → after
        assert "Δ" in app.status_line()
        await pilot.press("3")
        await pilot.pause()
        assert app.state.mode == "delta"
        await pilot.press("D")  # no source: back to the patched run
        assert app.compare_mode is None and app.trace is patched


async def test_output_panel_lists_top_k_with_the_change_in_log_probability():
    app = brackets()
    async with app.run_test(size=(160, 50)) as pilot:
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "0")
        await pilot.press("n")
        y_panel = next(p for p in app._panels if p.spec.key == "y")
        text = str(y_panel.extra.render())
        changes = interventions.top_k_change(app.model, app.clean, app.trace, 5)
        assert f"{changes[0].dlogp:+.3f}" in text
        assert f"{changes[0].p_before:.3f} → {changes[0].p_after:.3f}" in text


async def test_diff_mode_shows_source_minus_main_without_the_patches():
    app = brackets(SOURCE)
    async with app.run_test(size=(160, 50)) as pilot:
        await set_patch(pilot, app, "0")
        await pilot.press("D", "D")  # Δ, then diff
        assert app.compare_mode == "diff"
        main, source = app.model.trace(TEXT), app.model.trace(SOURCE)
        for q in ("i", "c", "h"):
            np.testing.assert_allclose(app.trace.states[q][0], source.states[q][0] - main.states[q][0])
        assert app.trace.tokens == main.tokens  # the steps keep the main input's tokens
        y_panel = next(p for p in app._panels if p.spec.key == "y")
        assert "main → source" in str(y_panel.extra.render())
        await pilot.press("D")
        assert app.compare_mode is None


async def test_export_writes_the_run_never_the_difference_on_screen(tmp_path, monkeypatch):
    """e in Δ or diff mode writes the run the difference is of (the patched run), as with the mode off,
    and says so: a difference's arrays under a run's names would pass for a run."""
    monkeypatch.chdir(tmp_path)  # short names to type: each key is a frame of the 160×50 screen
    app = brackets(SOURCE)
    async with app.run_test(size=(160, 50)) as pilot:
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "0")
        patched = app.trace
        for presses, name in (((), "plain"), (("D",), "delta"), (("D",), "diff")):
            await pilot.press(*presses)
            assert app.compare_mode == (None if name == "plain" else name)
            await pilot.press("e", "ctrl+a", "ctrl+k", *f"{name}.npz", "enter")
            await pilot.pause()
            got = np.load(tmp_path / f"{name}.npz")
            for q in ("c", "h"):
                np.testing.assert_array_equal(got[q][0], patched.states[q][0])
            np.testing.assert_array_equal(got["y"], patched.y)
            said = [n.message for n in app._notifications if "wrote" in n.message][-1]
            assert ("a difference on screen is not exported" in said) == (name != "plain"), said
        app.patching = True  # a run of the patches under way: the one on screen is not theirs yet
        await pilot.press("e", "ctrl+a", "ctrl+k", *"early.npz", "enter")
        await pilot.pause()
        assert not (tmp_path / "early.npz").exists()
        assert any("export it once it is done" in n.message for n in app._notifications)


async def test_src_copies_the_source_and_a_typed_source_replaces_it():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("I")
        await pilot.pause()
        await pilot.press(*SOURCE, "enter")
        await pilot.pause()
        assert app.source is not None and app.source.steps == len(SOURCE)
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "src")
        assert app.trace.states["c"][0][4][12] == app.source.states["c"][0][4][12]


async def test_a_new_source_gives_the_src_patches_its_values():
    """I with a src patch in place and a spare run kept (a second patch made one): the run once came back
    as the one on screen (the patches had not changed), its src values still the old source's."""
    app = brackets(SOURCE)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "src")
        await select(pilot, 3, 0)
        await set_patch(pilot, app, "0")
        assert app._spare is not None
        await pilot.press("I", "ctrl+a", "ctrl+k", *"))))))))))))))", "enter")
        await settle(pilot, app)
        assert app.source.tokens[0] == ")"
        assert app.trace.states["c"][0][4][12] == app.source.states["c"][0][4][12]
        close(app.trace.y, intervene(app.model, app.clean, app.patches, app.source).y)


async def test_an_empty_source_is_refused_and_a_short_one_diffs_its_steps():
    """A monkey found it: an empty source (I, Enter on nothing) then the diff mode (D) crashed the app, the
    output panel asking for a step past the source's end."""
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("end", "I", "ctrl+a", "ctrl+k", "enter")
        await pilot.pause()
        assert app.source is None and any("the source has no char tokens" in n.message for n in app._notifications)
        await pilot.press("I", "ctrl+a", "ctrl+k", *"((", "enter", "D")
        await pilot.pause()
        assert app.is_running and app.compare_mode == "diff" and app.trace.steps == 2 and app.k == 1
        await pilot.press("D", "end")
        await pilot.pause()
        assert app.is_running and app.compare_mode is None and app.k == len(TEXT) - 1


async def test_leaving_the_diff_of_a_shorter_source_goes_back_to_the_step_it_left():
    """D on a shorter source moves to its last step (9 -> 2); D off left the user there, at step 2 of 14."""
    app = brackets(source="((")
    async with app.run_test(size=(120, 40)) as pilot:
        app.k = 8
        await pilot.press("D")
        await pilot.pause()
        assert app.compare_mode == "diff" and app.k == 1
        await pilot.press("D")
        await pilot.pause()
        assert app.compare_mode is None and app.k == 8  # where it was before the diff
        await pilot.press("D", "p", "D")  # moved within the diff: that step is kept
        await pilot.pause()
        assert app.compare_mode is None and app.k == 0


def test_the_output_text_of_a_step_past_the_shorter_run_is_empty():
    from types import SimpleNamespace

    from lstm_tui.render.interventions import output_text

    model = load_model("brackets")
    long, short = model.trace(TEXT), model.trace("((")
    state = SimpleNamespace(model=model, before=long, after=short, mode="diff")
    assert output_text(state, 1).plain and output_text(state, 5).plain == ""


async def test_d_without_a_patch_or_source_only_warns():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("D")
        assert app.compare_mode is None
        assert any(n.severity == "warning" for n in app._notifications)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # NumPy quiet on NaN: the views say "not finite"
async def test_nonfinite_patch_is_marked_and_every_view_still_draws():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "inf")
        assert "not finite from step" in app.nonfinite and "(step" not in app.nonfinite  # the short form
        toast = [n.message for n in app._notifications if "not finite" in n.message]  # the command line's line
        assert len(toast) == 1 and toast[0].startswith("after the patches, ") and "\n" not in toast[0], toast
        status = app.status_line()
        assert "NaN/inf" in status and status.index("t = 5") < status.index(app.nonfinite)  # the step first
        c_panel = next(p for p in app._panels if p.spec.key == "c")
        await pilot.press("n")
        said = str(c_panel.border_subtitle)  # the count before the scale's note, which a narrow panel cuts first
        assert "NaN/inf" in said and said.index("NaN/inf") < said.index("scale"), said
        await pilot.press("p")
        await pilot.press("n", "n", "D")
        for view in "123456":
            await pilot.press(view)
            await pilot.pause()
        assert app.is_running


async def test_gradient_view_reads_the_patched_run():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "0")
        await pilot.press("5")
        await pilot.pause()
        _, _, _, t64 = app.query_one("#gradients")._cache
        assert t64.states["c"][0][4][12] == 0.0


async def test_effect_map_estimate_then_exact_and_each_cell_is_one_patched_run():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 6, 12)
        await make_effect_map(pilot, app)
        assert app.view == "effects"
        em = app.effect_shown.map
        assert em.complete and app.effect_shown.estimate is not None
        assert (em.quantity, em.layer, em.value, em.step) == ("c", 0, 0.0, 6)
        assert em.token == int(np.argmax(app.clean.logits[6]))  # default: the clean top-1 at T
        for s, j in [(0, 0), (3, 12), (6, 12), (5, 7)]:
            tr = intervene(app.model, app.clean, [Patch(0, "c", j, (s,), 0.0)])
            want = log_softmax(tr.logits[6])[em.token] - log_softmax(app.clean.logits[6])[em.token]
            assert em.effect[s, j] == pytest.approx(want, abs=1e-5)
        np.testing.assert_array_equal(em.effect[7:], 0)


async def test_effect_view_before_any_map_says_how_to_make_one_instead_of_an_empty_bar():
    app = brackets()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "n", "n", "6")
        await pilot.pause()
        title, bar = app.query_one("#effect-title"), app.query_one("#effect-progress")
        assert str(title.render()) == "no effect map yet: press E to compute one for the current step"
        assert title.size.height == 1 and not bar.display  # one line at 80 columns, no bar at 0%
        await make_effect_map(pilot, app)  # E, the key the hint names, for the step it names
        assert app.effect_shown.map.step == 3 and bar.display
        assert str(title.render()).startswith("effect map: log p(")


async def test_a_new_input_drops_the_effect_map_of_the_old_one():
    app = brackets()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "n", "n", "n")
        await make_effect_map(pilot, app)
        assert app.effect_shown.map.step == 4
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"()", "enter")  # two steps: the old target t = 5 is gone
        await settle(pilot, app, lambda: app.steps == 2)
        await pilot.press("6")
        await pilot.pause()
        assert app.effect_shown is None
        assert str(app.query_one("#effect-title").render()).startswith("no effect map yet")


async def test_effect_map_is_drawn_at_the_views_own_width_once_laid_out():
    # view 6 is shown before it has a size (drawn for 80 columns); when it gets one it draws again, so the
    # cells per step never depend on whether the worker's last message came before the layout or after it
    from lstm_tui.render.interventions import effect_columns

    app = brackets(text="((()(())))(()((()))())")
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 12, 12)
        await make_effect_map(pilot, app)
        await pilot.press("1")
        await pilot.pause()
        await pilot.press("6")  # shown while its size is still 0
        await pilot.pause()
        await pilot.pause()
        view, lines = app.query_one("#effects"), app.query_one(EffectLines)
        rows = app.effect_shown.map.last + 1
        assert lines.place[1] == effect_columns(rows, view.content_region.width - 2)[1] == 6


@pytest.mark.parametrize("case", ["no head", "empty"])
async def test_effect_view_hint_where_e_would_refuse(case):
    from lstm_tui.core.model import Model

    if case == "empty":
        app, want = brackets(text=""), "no effect map yet: type a sequence (/), then press E"
    else:
        bare = Model(layers=load_demo("brackets").layers, name="bare")  # no embedding, no output head
        frames = np.zeros((5, bare.input_size), dtype=np.float32)
        app, want = LstmApp(bare, frames=frames), "no effect map: this model has no output head, so no log p to map"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        await pilot.pause()
        title = app.query_one("#effect-title")
        assert str(title.render()) == want and title.size.height == 1
        assert not app.query_one("#effect-progress").display
        await pilot.press("E")  # the toast says the same reason
        await pilot.pause()
        reason = "type a sequence first" if case == "empty" else "needs a model with an output head"
        assert any(reason in n.message for n in app._notifications) and app.effect_shown is None


async def test_effect_map_prompt_fields_and_refusals():
    app = brackets(SOURCE)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("E")
        await pilot.pause()
        inp = app.screen.query_one("Input")
        inp.value = "q=h layer=1 value=src step=9 token=("
        await pilot.press("enter")
        await settle(pilot, app, lambda: app.effect_shown is not None and not app.effect_shown.running)
        em = app.effect_shown.map
        assert (em.quantity, em.value, em.step, em.label) == ("h", "src", 8, "(")
        await pilot.press("E")
        await pilot.pause()
        app.screen.query_one("Input").value = "q=c step=99"
        await pilot.press("enter")
        await pilot.pause()
        assert app.effect_shown.map is em  # refused: the map shown stays
        assert any("out of range" in n.message for n in app._notifications)
        for typed, words in ((f"step={'9' * 5000}", "effect map: step 9999999999999999999999999999999999999... out "
                              "of range: expected a step from 1 to 14"), ("layer=x", "layer 'x': expected a whole "
                              "number from 1 to 1"), ("value=" + "x" * 99, "value 'xxxxxxxxx")):
            await pilot.press("E")
            await pilot.pause()
            app.screen.query_one("Input").value = typed
            await pilot.press("enter")
            await pilot.pause()
            said = list(app._notifications)[-1]
            assert words in said.message and len(said.message) < 120, said.message


async def test_an_effect_map_of_src_without_a_source_says_which_key_types_one():
    """'the value src needs a source input' named no way to give one in the app (the ! prompt says I)."""
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("E")
        await pilot.pause()
        app.screen.query_one("Input").value = "q=c value=src"
        await pilot.press("enter")
        await pilot.pause()
        assert app.effect_shown is None
        assert list(app._notifications)[-1].message == "effect map: the value src needs a source input: I types one"


async def test_effect_map_cursor_enter_and_click_go_to_the_cell():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, 8, 0)
        await pilot.press("E")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, app, lambda: not app.effect_shown.running)
        await pilot.press("left", "left", "j", "j", "j")  # the map's cursor is the app's step and unit
        await pilot.pause()
        assert "t = 7, unit 3" in str(app.query_one("#effect-cell").render())
        await pilot.press("enter")
        assert app.view == "steps" and (app.k, app.unit) == (6, 3)
        await pilot.press("6")
        await pilot.pause()
        lines = app.query_one(EffectLines)
        edges, cw, _ = lines.place
        await pilot.click(EffectLines, offset=(6 + 2 * cw, 1 + 5))  # step column 2, unit 5
        await pilot.pause()
        assert app.view == "steps" and (app.k, app.unit) == (int(edges[2]), 5)


async def test_escape_stops_the_exact_map_and_keeps_its_rows(monkeypatch):
    monkeypatch.setattr(interventions, "GROUP_ROWS", 1)  # one step's copies at a time: many rows to stop between
    model = load_model("random", hidden=64, seed=0)
    app = LstmApp(model, text="the quick brown fox jumps over the lazy dog " * 20)  # far too long to finish in 0.2 s
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("end", "E")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause(0.2)
        await pilot.press("escape")
        for _ in range(200):  # it stops at its next time step: on a loaded machine that can take a while
            await pilot.pause(0.05)
            if not app.effect_shown.running:
                break
        shown = app.effect_shown
        assert not shown.running and not shown.map.complete
        assert "stopped" in shown.note
        done = shown.map.done.copy()
        await pilot.pause(0.3)
        np.testing.assert_array_equal(app.effect_shown.map.done, done)  # the worker has stopped


async def test_a_new_input_clears_the_patches():
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await set_patch(pilot, app, "0")
        app.run_text("(())")
        await pilot.pause()
        assert app.patches == [] and app.trace.steps == 4 and "PATCHED" not in app.status_line()


def test_cli_hands_the_source_to_the_app(monkeypatch):
    from lstm_tui import cli

    seen = {}

    def run(self):
        seen["source"], seen["text"] = self.source, self.source_text

    monkeypatch.setattr(LstmApp, "run", run)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/tmp/lstm-tui-test-ivui")
    assert cli.main(["--model", "brackets", "--text", TEXT, "--source-text", SOURCE]) == 0
    assert seen["text"] == SOURCE and seen["source"].steps == len(SOURCE)


def test_effect_map_of_the_app_is_the_core_map():
    """The view's values are the map's exact rows once done (no re-scaling of the numbers)."""
    from lstm_tui.widgets.effect_view import EffectShown, EffectView

    m = load_demo("brackets")
    clean = m.trace(TEXT)
    em = EffectMap(m, clean, "c", 0, 0.0, 5)
    est = em.estimate()
    em.run()
    vals = EffectView().values(EffectShown(em, est, False, 1.0))
    np.testing.assert_array_equal(vals, em.effect[:6])


async def test_changes_reuse_a_spare_run_and_stay_exact():
    """Each change writes into the run before last (not on screen) instead of copying the clean trace."""
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        runs = []
        for typed in ("0 @ 9", "1 @ 12", "-1 @ 3", "0.5 @ 10-11"):
            await set_patch(pilot, app, typed)
            runs.append(app.trace)
            want = intervene(app.model, app.clean, app.patches)
            for q in ("i", "c", "h"):
                close(app.trace.states[q][0], want.states[q][0])
            np.testing.assert_allclose(app.trace.y, want.y, atol=1e-7)
        assert np.shares_memory(runs[2].states["c"][0], runs[0].states["c"][0])
        assert not np.shares_memory(runs[3].states["c"][0], runs[2].states["c"][0])  # the one on screen
        assert not np.shares_memory(app.trace.states["c"][0], app.clean.states["c"][0])


async def test_another_model_retraces_the_source():
    app = brackets(SOURCE)
    async with app.run_test(size=(120, 40)) as pilot:
        other = load_model("random", hidden=8, seed=0)
        app.model = other
        app.run_text("(()())")
        await pilot.pause()
        assert app.source is not None and app.source.cell == other.layers[0].cell
        np.testing.assert_array_equal(app.source.states["h"][0], other.trace(SOURCE).states["h"][0])


async def test_the_unit_view_says_when_a_patch_set_the_value_it_shows():
    """A patched cᵗ no longer follows fᵗ·cᵗ⁻¹ + iᵗ·gᵗ: the unit view says so, and only at that step and unit."""
    from lstm_tui.app import LstmApp
    from lstm_tui.core.registry import load_model

    app = LstmApp(load_model("brackets"), text="(()(()))((()()(())))().")
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(15):
            await pilot.press("n")
        app.unit = 12
        await pilot.press("!", "0", "enter")
        for _ in range(100):
            await pilot.pause(0.05)
            if app._patched is not None:
                break
        await pilot.pause()
        assert "set by a patch: cᵗ" in str(app._unit_view.render())
        await pilot.press("n")
        assert "set by a patch" not in str(app._unit_view.render())


def test_an_effect_question_names_each_field_once():
    from lstm_tui.app.effects import parse_question
    from lstm_tui.core.errors import UserError

    assert parse_question("q=c step=37 token=)") == {"q": "c", "step": "37", "token": ")"}
    with pytest.raises(UserError, match=r"step= is given twice \(step=16, step=3\)"):
        parse_question("q=c step=16 step=3")  # the last one used to win without a word
    with pytest.raises(UserError, match="expected fields"):
        parse_question("q=c when=3")


async def test_a_watched_expression_in_a_difference_is_its_own_difference():
    """In Δ, c[12]*o[12] is its value on the patched run minus the clean one, not Δc·Δo; in diff, on the
    source minus the main input, over the steps both have (the watch of one quantity is Δ of it either way)."""
    from lstm_tui.core.watches import watch

    app = brackets("((((()")
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("W", *"c[12]*o[12]", "enter")
        await select(pilot, 4, 12)
        await set_patch(pilot, app, "0")
        patched, clean = app.trace, app.clean
        await pilot.press("D")
        await settle(pilot, app)
        assert app.compare_mode == "delta"
        series = app.watch_exprs[0][2]
        want = watch(patched, "c[12]*o[12]", 0) - watch(clean, "c[12]*o[12]", 0)
        close(series, want)
        assert abs(series[4]) > 0.1  # the patch moved it at step 5 ...
        assert abs(series[4] - watch(app.trace, "c[12]*o[12]", 0)[4]) > 0.1  # ... by more than Δc·Δo says
        await pilot.press("D")
        await settle(pilot, app)
        assert app.compare_mode == "diff"
        source = app.model.trace("((((()")
        close(app.watch_exprs[0][2], watch(source, "c[12]*o[12]", 0) - watch(clean, "c[12]*o[12]", 0)[:6])


async def test_the_same_patch_set_again_does_not_hand_the_run_on_screen_back_as_the_spare():
    """The patches unchanged: the new run is the one on screen (intervene_into's base), which must not
    become the spare that the next patch's run is written into (it would change the arrays on screen)."""
    app = brackets()
    async with app.run_test(size=(120, 40)) as pilot:
        await set_patch(pilot, app, "0 @ 9")
        await set_patch(pilot, app, "0 @ 9")
        shown = app.trace
        assert shown is app._patched and len(app.patches) == 1
        assert all(part is not shown for part in app._spare or ())
        before = shown.states["c"][0].copy()
        await select(pilot, 2, 3)
        await set_patch(pilot, app, "1 @ 3")
        np.testing.assert_array_equal(shown.states["c"][0], before)  # the run once on screen, unwritten
        want = intervene(app.model, app.clean, app.patches)
        close(app.trace.states["c"][0], want.states["c"][0])
