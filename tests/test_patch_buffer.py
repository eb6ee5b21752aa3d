"""intervene_into (patched runs written into a spare run's arrays) equals intervene, change after change."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_tui.core import random_model
from lstm_tui.core.interventions import Patch, intervene
from lstm_tui.core.patch_buffer import first_patched_step, intervene_into, spare_run

TEXT = "the quick brown fox jumps over the lazy dog, twice: the quick brown fox"


def same(a, b) -> None:
    """Equal to float32's precision: a stretch may run through cells.run in one and step by step in the other."""
    for q in b.states:
        for n in range(b.num_layers):
            np.testing.assert_allclose(a.states[q][n], b.states[q][n], rtol=1e-5, atol=1e-6, err_msg=f"{q}, layer {n + 1}")
    for n in range(b.num_layers):
        np.testing.assert_allclose(a.hW[n], b.hW[n], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.xW[n], b.xW[n], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.logits, b.logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a.y, b.y, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cell, layers", [("lstm", 2), ("gru", 2), ("rnn_tanh", 2), ("lstm", 1)])
def test_a_chain_of_patch_sets_through_two_spare_runs_equals_intervene(cell, layers):
    model = random_model(hidden=16, seed=3, cell=cell, layers=layers)
    clean = model.trace(TEXT)
    source = model.trace(TEXT[::-1])
    keep = {q: [np.array(clean.states[q][n]) for n in range(layers)] for q in clean.states}
    qs = list(clean.states)
    rng = np.random.default_rng(0)
    patches: list[Patch] = []
    spare = [None, None]  # (run, since) used in turn, as the app does
    for turn in range(16):
        if patches and rng.random() < 0.35:
            patches.pop(int(rng.integers(len(patches))))
        else:
            k = int(rng.integers(clean.steps))
            value = "src" if rng.random() < 0.3 else float(rng.normal())
            unit = None if rng.random() < 0.2 else int(rng.integers(16))
            patches.append(Patch(int(rng.integers(layers)), qs[int(rng.integers(len(qs)))], unit, range(k, k + 3), value))
        into, since = (spare[turn % 2] or (None, clean.steps))[:2]
        shown = spare[(turn + 1) % 2]  # the run on screen: read, never written
        kw = {} if shown is None else {"base": shown[0], "base_patches": shown[2], "base_since": shown[1]}
        got = intervene_into(model, clean, patches, source, into, since, **kw)
        same(got, intervene(model, clean, patches, source))
        if shown is not None:
            same(shown[0], intervene(model, clean, shown[2], source))  # the base is unchanged
        if got is not clean:
            spare[turn % 2] = (got, first_patched_step(model, clean, patches), list(patches))
    for q in clean.states:  # the clean run was never written
        for n in range(layers):
            np.testing.assert_array_equal(clean.states[q][n], keep[q][n])


def test_a_spare_that_shares_the_clean_arrays_is_not_written():
    model = random_model(hidden=8, seed=1)
    clean = model.trace(TEXT)
    c = np.array(clean.states["c"][0])
    got = intervene_into(model, clean, [Patch(0, "c", 2, 5, 0.0)], None, clean, 0)
    np.testing.assert_array_equal(clean.states["c"][0], c)
    assert got.states["c"][0][5][2] == 0


@pytest.mark.parametrize("layers", [1, 2])
def test_a_spare_made_ahead_is_written_into_and_gives_what_intervene_gives(layers):
    model = random_model(hidden=8, layers=layers, seed=2)
    clean = model.trace(TEXT)
    before = {q: np.array(v) for q, v in clean.states.items()}
    spare = spare_run(model, clean)
    patches = [Patch(layers - 1, "c", 3, 20, 0.5)]
    got = intervene_into(model, clean, patches, None, spare, clean.steps)
    assert got.states["c"] is spare.states["c"] and got.logits is spare.logits  # written into, no copy
    same(got, intervene(model, clean, patches))
    for q, v in before.items():  # the clean run untouched
        np.testing.assert_array_equal(np.array(clean.states[q]), v)


def test_a_model_reading_backwards_takes_no_spare():
    from lstm_tui.core.cells import Bidirectional
    from lstm_tui.core.model import Model

    layer = random_model(hidden=6, seed=3).layers[0]
    back = Model(layers=(Bidirectional(layer, layer.__class__(**{**layer.__dict__, "reverse": True})),))
    assert spare_run(back, back.trace(np.zeros((5, layer.input_size), np.float32))) is None


def test_a_run_of_another_input_of_the_same_length_is_neither_written_into_nor_read():
    """A spare or a base made for another input of the same length (same shapes, other numbers) would
    lend the new run its rows before the first patched step: intervene_into recomputes without them."""
    model = random_model(hidden=8, seed=1)
    clean, other = model.trace(TEXT), model.trace(TEXT[::-1])
    assert other.steps == clean.steps
    patches = [Patch(0, "h", 1, 40, 0.5)]
    want = intervene(model, clean, patches)
    for stale, since in ((spare_run(model, other), other.steps), (intervene(model, other, [Patch(0, "c", 2, 5, 0.0)]), 5)):
        same(intervene_into(model, clean, patches, None, stale, since), want)
    spare = spare_run(model, clean)
    on_screen = intervene(model, other, patches)  # the same patches, another input
    same(intervene_into(model, clean, patches, None, spare, clean.steps, base=on_screen, base_patches=patches,
                         base_since=40), want)
    same(intervene(model, clean, patches, base=on_screen, base_patches=patches), want)


def test_a_base_made_with_another_source_is_not_read_for_its_src_patches():
    """The same src patches with a new source (the app's I) copy the new source's values, not the run on screen's."""
    model = random_model(hidden=8, seed=1)
    clean, old, new = model.trace(TEXT), model.trace(TEXT[::-1]), model.trace(TEXT[1:] + "!")
    patches = [Patch(0, "c", 3, 30, 0.0), Patch(0, "h", None, range(10, 12), "src")]
    want = intervene(model, clean, patches, new)
    on_screen = intervene(model, clean, patches, old)
    same(intervene(model, clean, patches, new, base=on_screen, base_patches=patches), want)
    spare = spare_run(model, clean)
    got = intervene_into(model, clean, patches, new, spare, clean.steps, base=on_screen, base_patches=patches,
                         base_since=10)
    same(got, want)
    assert got is not on_screen and got.states["h"] is spare.states["h"]  # written into the spare, base unread
    base = intervene_into(model, clean, patches[:1], new, spare_run(model, clean), clean.steps)
    same(intervene(model, clean, patches, new, base=base, base_patches=patches[:1]), want)  # the same source: read


def test_a_patched_run_pickles_as_on_main_without_its_marks():
    """mark_run's weak references (the clean trace and source a run was made of) are left out of a pickle."""
    import pickle

    from lstm_tui.core.trace import run_of

    model = random_model(hidden=8, seed=1)
    clean, source = model.trace(TEXT), model.trace(TEXT[::-1])
    for run in (intervene(model, clean, [Patch(0, "h", None, range(3, 5), "src")], source), spare_run(model, clean)):
        assert run_of(run)[0] is clean
        back = pickle.loads(pickle.dumps(run))
        same(back, run)
        assert run_of(back) == (None, None) and run_of(run)[0] is clean  # the original keeps its marks
