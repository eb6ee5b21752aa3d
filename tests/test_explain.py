"""Stage decomposition, unit search, gate saturation and time binning on constructed models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import tolerance
from lstm_tui.core import Layer, Model, random_model
from lstm_tui.core.errors import InputError
from lstm_tui.core.explain import (
    GATE_ACTIVATIONS,
    bin_means,
    bin_of,
    bin_time,
    frozen_units,
    history,
    saturation,
    stages,
    unit_search,
)

# --- stages ---------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_stages_sum_back_to_the_pre_activation_and_the_traces_values(cell, rng):
    model = random_model(hidden=5, seed=3, cell=cell, layers=2, embed=4, dtype="float64")
    x = rng.standard_normal((7, 4))
    h0 = rng.uniform(-0.9, 0.9, (2, 5))
    c0 = rng.uniform(-1.5, 1.5, (2, 5)) if cell == "lstm" else None
    trace = model.trace(x, h0=h0, c0=c0)
    H = 5
    for layer in (0, 1):
        lay = model.layers[layer]
        inp = trace.layer_input(layer)
        for k in (0, 3, 6):
            s = stages(model, trace, layer, k, None)
            h_prev = h0[layer] if k == 0 else trace.states["h"][layer, k - 1]
            # The pre-activation straight from the weights, not from the trace's products.
            ax = (lay.W_ih @ inp[k] + lay.b_ih).reshape(-1, H)  # (G, H)
            ah = (lay.W_hh @ h_prev + lay.b_hh).reshape(-1, H)
            assert list(s["gates"]) == list(GATE_ACTIVATIONS[cell])
            for n, (q, parts) in enumerate(s["gates"].items()):
                np.testing.assert_allclose(parts["input"] + parts["recurrent"] + parts["bias"], parts["pre"])
                if cell == "gru" and q == "n":
                    expected_pre = ax[n] + trace.states["r"][layer, k] * ah[n]
                else:
                    expected_pre = ax[n] + ah[n]
                np.testing.assert_allclose(parts["pre"], expected_pre, atol=1e-12, err_msg=q)
                traced = trace.states[q][layer, k]
                np.testing.assert_allclose(parts["value"], traced, atol=1e-12, err_msg=q)
            np.testing.assert_allclose(s["h_prev"], h_prev)
            np.testing.assert_allclose(s["h"], trace.states["h"][layer, k], atol=1e-12)
            if cell == "lstm":
                g = s["gates"]
                np.testing.assert_allclose(s["kept"], g["f"]["value"] * s["c_prev"])
                np.testing.assert_allclose(s["written"], g["i"]["value"] * g["g"]["value"])
                np.testing.assert_allclose(s["kept"] + s["written"], trace.states["c"][layer, k], atol=1e-12)
                np.testing.assert_allclose(s["tanh_c"], np.tanh(trace.states["c"][layer, k]), atol=1e-12)
                np.testing.assert_allclose(g["o"]["value"] * s["tanh_c"], s["h"])
            if cell == "gru":
                np.testing.assert_allclose(s["written"] + s["kept"], trace.states["h"][layer, k], atol=1e-12)
                np.testing.assert_allclose(s["kept"], s["gates"]["z"]["value"] * h_prev)
                np.testing.assert_allclose(s["reset_input"], ah[2], atol=1e-12)  # W_hn·hᵗ⁻¹ + b_hn, what rᵗ scales


def test_stages_of_one_unit_are_floats_equal_to_the_arrays():
    model = random_model(hidden=6, seed=1, cell="lstm")
    trace = model.trace("hello (world)")
    every = stages(model, trace, 0, 4, None)
    one = stages(model, trace, 0, 4, 2)
    assert one["unit"] == 2 and one["k"] == 4 and one["cell"] == "lstm"
    for q, parts in one["gates"].items():
        for name, value in parts.items():
            assert isinstance(value, float)
            assert value == every["gates"][q][name][2]
    for name in ("h_prev", "c_prev", "kept", "written", "c", "tanh_c", "h"):
        assert isinstance(one[name], float) and one[name] == every[name][2]
    f = one["gates"]["f"]
    assert f["value"] == pytest.approx(1 / (1 + np.exp(-f["pre"])), abs=1e-6)


def test_stages_equal_pytorchs_gates(reference):
    tensors, meta, model = reference
    trace = model.trace(tensors["x"])
    tol = tolerance(meta)
    for layer in range(model.num_layers):
        for k in (0, trace.steps - 1):
            s = stages(model, trace, layer, k, None)
            for q, parts in s["gates"].items():
                expected = tensors[f"expected.{q}_l{layer}"][k]
                assert np.abs(parts["value"] - expected).max() <= tol, (meta["cell"], q)


@pytest.mark.parametrize("where", [dict(layer=1), dict(k=20), dict(k=-1), dict(j=6)])
def test_stages_refuse_indices_out_of_range(where):
    model = random_model(hidden=6, seed=1)
    trace = model.trace("abc")
    args = dict(layer=0, k=0, j=0) | where
    with pytest.raises(InputError, match="out of range"):
        stages(model, trace, **args)


# --- a constructed bracket counter ------------------------------------------

VOCAB = ("(", ")", "a")
DEPTH_UNIT = 2
TEXT = "a(a(()a)a)a"  # depth after each step: 0 1 1 2 3 2 2 1 1 0 0


def bracket_model(sign: float = 1.0, seed: int = 0) -> Model:
    """An LSTM with H=4 whose unit 2 counts bracket depth in c: cᵗ ≈ ±depth.

    Unit 2: i, f, o held open by +30 biases, g = tanh(±3) on "(" and ")"
    (0 on "a"), so c adds about sign·1 per "(" and takes it away per ")".
    The other units have random weights.
    """
    rng = np.random.default_rng(seed)
    H, E = 4, len(VOCAB)
    W_ih = rng.uniform(-0.5, 0.5, (4 * H, E))
    W_hh = rng.uniform(-0.5, 0.5, (4 * H, H))
    b_ih = rng.uniform(-0.5, 0.5, 4 * H)
    b_hh = np.zeros(4 * H)
    rows = [n * H + DEPTH_UNIT for n in range(4)]  # i, f, g, o rows of the unit
    W_ih[rows] = 0
    W_hh[rows] = 0
    b_ih[rows] = [30, 30, 0, 30]
    W_ih[rows[2]] = [3 * sign, -3 * sign, 0]
    return Model(layers=(Layer("lstm", W_ih, W_hh, b_ih, b_hh),), embedding=np.eye(E), vocab=VOCAB)


def test_unit_search_finds_the_planted_depth_unit():
    trace = bracket_model().trace(TEXT)
    assert np.round(trace.states["c"][0, :, DEPTH_UNIT]).tolist() == [0, 1, 1, 2, 3, 2, 2, 1, 1, 0, 0]
    found = unit_search(trace, "c", 0, 3, 7, 1.5)  # the steps at depth 2 or more
    assert found[0] == (DEPTH_UNIT, 1.0)
    assert all(score < 1.0 for _, score in found[1:])
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert all(score > 0 for _, score in found)


def test_unit_search_scores_partial_matches_and_absolute_values():
    trace = bracket_model(sign=-1.0).trace(TEXT)  # the depth unit's c now goes negative
    assert DEPTH_UNIT not in dict(unit_search(trace, "c", 0, 3, 7, 1.5))
    assert unit_search(trace, "c", 0, 3, 7, 1.5, absolute=True)[0] == (DEPTH_UNIT, 1.0)
    # depth > 0.5 on steps 1..8: inside [3, 7) always, outside on 4 of 7 steps.
    score = dict(unit_search(trace, "c", 0, 3, 7, 0.5, absolute=True))[DEPTH_UNIT]
    assert score == pytest.approx(1 - 4 / 7)
    # A range over the whole sequence: the outside counts as never on.
    assert dict(unit_search(trace, "c", 0, 0, 11, 0.5, absolute=True))[DEPTH_UNIT] == pytest.approx(8 / 11)


@pytest.mark.parametrize("start,stop", [(3, 3), (5, 2), (-1, 4), (0, 12)])
def test_unit_search_refuses_an_empty_or_outside_range(start, stop):
    trace = bracket_model().trace(TEXT)
    with pytest.raises(InputError, match="range"):
        unit_search(trace, "c", 0, start, stop, 0.5)


def test_unit_search_refuses_a_quantity_the_cell_lacks():
    trace = bracket_model().trace(TEXT)
    with pytest.raises(InputError, match="unknown quantity 'z'"):
        unit_search(trace, "z", 0, 0, 3, 0.5)


# --- saturation, frozen and dead units -------------------------------------


def saturated_model() -> Model:
    """A random LSTM (H=6) with unit 1's forget gate stuck open, unit 2 dead and unit 3 frozen.

    Unit 1: forget bias +50 (f = 1). Unit 2: input bias -50 (i = 0), so c
    stays at c⁰ = 0 and h = 0. Unit 3: no weights, i and o open, f shut and
    g = tanh(1), so cᵗ = tanh(1) and hᵗ = tanh(tanh(1)) at every step.
    """
    model = random_model(hidden=6, seed=5, cell="lstm", dtype="float64")
    (lay,) = model.layers
    H = 6
    W_ih, W_hh, b_ih = lay.W_ih.copy(), lay.W_hh.copy(), lay.b_ih.copy()
    b_ih[H + 1] += 50
    b_ih[2] -= 50
    rows = [n * H + 3 for n in range(4)]
    W_ih[rows] = 0
    W_hh[rows] = 0
    b_ih[rows] = [50, -50, 1, 50]
    b_hh = lay.b_hh.copy()
    b_hh[rows] = 0
    return dataclasses.replace(model, layers=(Layer("lstm", W_ih, W_hh, b_ih, b_hh),))


def test_saturation_fractions_of_constructed_units():
    trace = saturated_model().trace("the cat sat on the mat (twice)")
    sat = saturation(trace, 0)
    assert list(sat) == ["i", "f", "o"]
    low_f, high_f = sat["f"]
    assert high_f[1] == 1.0 and low_f[1] == 0.0
    assert sat["i"][0][2] == 1.0  # unit 2's input gate always shut
    assert (sat["i"][1][3], sat["f"][0][3], sat["o"][1][3]) == (1.0, 1.0, 1.0)
    for low, high in sat.values():
        assert low.shape == high.shape == (6,)
        assert np.all(low + high <= 1)
    # The untouched units of a standard init rarely saturate.
    assert high_f[[0, 4, 5]].max() < 0.5
    T = trace.steps
    f = trace.states["f"][0]
    np.testing.assert_array_equal(low_f * T, (f < 0.1).sum(axis=0))


def test_saturation_gates_per_cell():
    gru = random_model(hidden=4, seed=0, cell="gru").trace("abc")
    assert list(saturation(gru, 0)) == ["r", "z"]
    rnn = random_model(hidden=4, seed=0, cell="rnn_tanh").trace("abc")
    assert saturation(rnn, 0) == {}


def test_frozen_and_dead_units():
    trace = saturated_model().trace("the cat sat on the mat (twice)")
    out = frozen_units(trace, 0)
    assert out["dead"].tolist() == [2]
    assert out["frozen"].tolist() == [2, 3]
    assert out["std"][3] < 1e-12
    assert out["max_abs"][3] == pytest.approx(np.tanh(np.tanh(1.0)))
    c = frozen_units(trace, 0, quantity="c")
    assert c["frozen"].tolist() == [2, 3] and c["dead"].tolist() == [2]


# --- history and time bins --------------------------------------------------


def test_history_is_units_by_time():
    model = random_model(hidden=5, seed=0, cell="gru", layers=2)
    trace = model.trace("hello world")
    z = history(trace, "z", 1)
    assert z.shape == (5, 11) and z.flags.c_contiguous
    np.testing.assert_array_equal(z, trace.states["z"][1].T)
    with pytest.raises(InputError, match="unknown quantity 'c'"):
        history(trace, "c", 0)
    with pytest.raises(InputError, match="layer 2"):
        history(trace, "h", 2)


def test_bin_time_mean_and_maxabs():
    values = np.zeros((2, 10))
    values[0] = np.arange(10)
    values[1, 7] = -5.0
    values[1, 6] = 1.0
    binned, edges = bin_time(values, 4)
    assert edges.tolist() == [0, 2, 5, 7, 10]
    np.testing.assert_allclose(binned[0], [0.5, 3.0, 5.5, 8.0])
    top, _ = bin_time(values, 4, how="maxabs")
    assert top[1].tolist() == [0.0, 0.0, 1.0, -5.0]  # the spike keeps its sign
    assert top[0].tolist() == [1.0, 4.0, 6.0, 9.0]
    same, edges = bin_time(values, 10)
    np.testing.assert_array_equal(same, values)
    assert edges.tolist() == list(range(11))
    with pytest.raises(InputError, match="width"):
        bin_time(values, 0)
    with pytest.raises(InputError, match="binning"):
        bin_time(values, 3, how="median")


@given(T=st.integers(0, 400), width=st.integers(1, 120), how=st.sampled_from(["mean", "maxabs"]))
def test_bin_time_never_exceeds_the_width_and_covers_every_step(T, width, how):
    values = np.sin(np.arange(3 * T, dtype=float)).reshape(3, T)
    binned, edges = bin_time(values, width, how)
    n = min(T, width)
    assert binned.shape == (3, n) and edges.shape == (n + 1,)
    assert edges[0] == 0 and edges[-1] == T
    sizes = np.diff(edges)
    assert np.all(sizes >= 1) and (n == 0 or sizes.max() - sizes.min() <= 1)
    for k in range(T):
        b = bin_of(edges, k)
        assert edges[b] <= k < edges[b + 1]
        if how == "maxabs":
            assert abs(values[0, k]) <= abs(binned[0, b]) + 1e-15
    if how == "mean" and T:
        np.testing.assert_allclose((binned * sizes).sum(axis=1), values.sum(axis=1), atol=1e-9)


def test_bin_means_leave_out_what_is_not_finite_and_match_bin_time_on_finite_values():
    """One binning of a series for the watches' plot, their values and the sparklines: a NaN step (a watch
    that failed there) or an inf one (a patched run past float's range) must not blank its whole bin."""
    values = np.arange(10, dtype=float)
    edges = np.array([0, 2, 5, 7, 10])
    np.testing.assert_allclose(bin_means(values, edges), bin_time(values[None], 4)[0][0])
    values[[2, 3]] = np.nan, np.inf
    values[[5, 6]] = np.nan
    got = bin_means(values, edges)
    assert got[0] == 0.5 and got[1] == 4.0 and np.isnan(got[2]) and got[3] == 8.0
    short = bin_means(np.ones(6), edges)  # steps past the values: their bins are empty
    assert short[:2].tolist() == [1.0, 1.0] and short[2] == 1.0 and np.isnan(short[3])
    assert bin_means(values, np.array([0])).shape == (0,)


def test_the_gru_reset_line_writes_out_what_it_scales():
    """Stage 1 of a GRU: rᵗ times the recurrent part before the reset, equal to the table's recurrent column."""
    from rich.console import Console

    from lstm_tui.render.stages import stages_renderable

    model = random_model(hidden=5, seed=2, cell="gru")
    trace = model.trace("hello")
    s = stages(model, trace, 0, 3, 1)
    console = Console(width=200, record=True, file=__import__("io").StringIO())
    console.print(stages_renderable(s))
    text = console.export_text()
    r, before, part = s["gates"]["r"]["value"], s["reset_input"], s["gates"]["n"]["recurrent"]
    assert abs(r * before - part) < 1e-6
    assert f"rᵗ = {r:.4f} scales nᵗ's recurrent part: rᵗ·(W_hn·hᵗ⁻¹ + b_hn) = {r:.4f}·" in text
    assert text.count(f"{part:+.4f}") >= 2  # in the table and at the end of the line
