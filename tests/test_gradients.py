"""Gradient views: targets by finite differences, export against PyTorch, RNN against LSTM."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import numeric_grad, tolerance
from lstm_tui.core import Model, random_model
from lstm_tui.core.backward import backward
from lstm_tui.core.errors import InputError
from lstm_tui.core.gradients import compare_cells, export_gradients, gradient_norms, target_gradients

EPS = 1e-6  # central-difference step, float64


def test_export_gradients_match_pytorch(reference):
    tensors, meta, model = reference
    trace = model.trace(tensors["x"])
    out = export_gradients(model, trace, target="sum-h")
    tol = tolerance(meta, grad=True)
    L = model.num_layers
    expected = {"grad_x": tensors["grad.x"], "grad_h": np.stack([tensors[f"grad.h_l{k}"] for k in range(L)])}
    if meta["cell"] == "lstm":
        expected["grad_c"] = np.stack([tensors[f"grad.c_l{k}"] for k in range(L)])
    assert set(out) == set(expected)
    T, E = tensors["x"].shape
    for key, value in out.items():
        assert value.shape == expected[key].shape == ((T, E) if key == "grad_x" else (L, T, model.hidden_size))
        assert value.dtype == expected[key].dtype, key
        err = np.abs(value - expected[key]).max()
        assert err <= tol, f"{meta['cell']} {key}: max error {err:.3g} > {tol}"


def _numeric_dx(f, x):
    return numeric_grad(f, x, EPS)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("target", ["top", 7, "sum-h"])
def test_targets_at_an_inner_step_by_finite_differences(cell, target, rng):
    model = random_model(hidden=4, seed=11, cell=cell, layers=2, embed=3, dtype="float64")
    x = rng.standard_normal((6, 3))
    k = 3
    trace = model.trace(x)
    v = int(np.argmax(trace.y[k])) if target == "top" else target

    def value():
        t = model.trace(x)
        if target == "sum-h":
            return float(t.states["h"][-1, k].sum())
        return float(np.log(t.y[k, v]))

    got, label, grads = target_gradients(model, trace, target, k)
    assert got == pytest.approx(value(), abs=1e-12)
    assert label.endswith("at step 4")
    assert grads.x.shape == (k + 1, 3) and grads.h.shape == (2, k + 1, 4)
    numeric = _numeric_dx(value, x)
    np.testing.assert_allclose(grads.x, numeric[: k + 1], atol=1e-8)
    np.testing.assert_allclose(numeric[k + 1 :], 0, atol=1e-12)  # later steps cannot reach the target


def test_gradient_norms_cut_at_k_equal_the_full_backward():
    model = random_model(hidden=5, seed=2, cell="lstm", layers=2, dtype="float64")
    trace = model.trace("hello, world")
    k = 6
    norms = gradient_norms(model, trace, "sum-h", k)
    dh_top = np.zeros((trace.steps, 5))
    dh_top[k] = 1
    full = backward(model, trace, dh_top=dh_top)
    assert norms["k"] == k and norms["value"] == pytest.approx(trace.states["h"][1, k].sum())
    np.testing.assert_allclose(norms["h"], np.linalg.norm(full.h[:, : k + 1], axis=-1), atol=1e-14)
    np.testing.assert_allclose(norms["c"], np.linalg.norm(full.c[:, : k + 1], axis=-1), atol=1e-14)
    np.testing.assert_allclose(norms["x"], np.linalg.norm(full.x[: k + 1], axis=-1), atol=1e-14)
    np.testing.assert_allclose(full.h[:, k + 1 :], 0)


def test_default_target_is_the_top_token_with_a_head_and_sum_h_without():
    model = random_model(hidden=5, seed=2, cell="gru")
    trace = model.trace("hello")
    norms = gradient_norms(model, trace, k=2)
    top = model.vocab[int(np.argmax(trace.y[2]))]
    assert norms["target"] == f"log p({top!r}) at step 3"
    assert norms["value"] == pytest.approx(np.log(trace.y[2].max()), abs=1e-5)
    assert norms["c"] is None and norms["h"].shape == (1, 3) and norms["x"].shape == (3,)
    headless = Model(layers=model.layers)
    frames = headless.trace(trace.x)
    assert gradient_norms(headless, frames)["target"] == "Σ h of layer 1 at step 5"
    with pytest.raises(InputError, match="no output head"):
        gradient_norms(headless, frames, "top")


@pytest.mark.parametrize(
    "target,k,match", [("max-h", None, "unknown gradient target"), (10**6, None, "token id"), ("top", 5, "step 5")]
)
def test_gradient_targets_refused_with_a_message(target, k, match):
    model = random_model(hidden=3, seed=0)
    with pytest.raises(InputError, match=match):
        gradient_norms(model, model.trace("hello"), target, k)


def forget_bias(model: Model, bias: float) -> Model:
    """The model with ``bias`` added to every LSTM forget-gate bias (the usual +1..+3 init trick)."""
    layers = []
    for lay in model.layers:
        H = lay.hidden_size
        b_ih = lay.b_ih.copy()
        b_ih[H : 2 * H] += bias
        layers.append(dataclasses.replace(lay, b_ih=b_ih))
    return dataclasses.replace(model, layers=tuple(layers))


@pytest.mark.parametrize("seed", range(4))
def test_rnn_gradient_vanishes_where_the_lstms_does_not(seed):
    text = ("the quick brown fox jumps over the lazy dog; " * 2)[:64]  # T = 64
    lstm = forget_bias(random_model(hidden=24, seed=seed, cell="lstm"), 3.0)
    norms = compare_cells(lstm, text, seed=seed)
    assert list(norms) == ["lstm", "gru", "rnn_tanh"]
    assert all(v.shape == (64,) for v in norms.values())
    ratio = norms["rnn_tanh"][0] / norms["lstm"][0]
    # Measured on seeds 0-3: ratio 0 (seed 0: a tanh saturated to ±1 in float32) to 1.5e-17;
    # the LSTM's ‖dL/dh₁‖ 0.08 to 0.5, the RNN's at most 1.2e-18.
    assert ratio < 1e-6, f"‖dL/dh₁‖: RNN {norms['rnn_tanh'][0]:.3g}, LSTM {norms['lstm'][0]:.3g}, ratio {ratio:.3g}"
    assert norms["lstm"][0] > 1e-3, f"LSTM ‖dL/dh₁‖ = {norms['lstm'][0]:.3g}"
    for v in norms.values():
        assert v[-1] == pytest.approx(np.sqrt(24), rel=1e-6)  # dL/dh_T = 1 in every unit


def test_compare_cells_takes_a_trace_given_models_and_a_step():
    gru = random_model(hidden=6, seed=4, cell="gru")
    trace = gru.trace("abcdefgh")
    lstm = random_model(hidden=6, seed=9, cell="lstm")  # a "trained" LSTM on the same vocabulary
    norms = compare_cells(gru, trace, seed=1, models={"lstm": lstm}, k=4)
    assert list(norms) == ["gru", "lstm", "rnn_tanh"]
    np.testing.assert_allclose(norms["lstm"], gradient_norms(lstm, lstm.trace("abcdefgh"), "sum-h", 4)["h"][0])
    np.testing.assert_allclose(norms["gru"], gradient_norms(gru, trace, "sum-h", 4)["h"][0])
    again = compare_cells(gru, trace, seed=1, k=4)
    np.testing.assert_array_equal(again["rnn_tanh"], norms["rnn_tanh"])  # the seed fixes the random cells
    with pytest.raises(InputError, match="inputs of size"):
        compare_cells(gru, trace, models={"rnn_tanh": Model(layers=random_model(embed=3, cell="rnn_tanh").layers)})


def test_brackets_demo_keeps_its_gradient_where_an_rnn_loses_it():
    """Issue 4: with the trained demo, ‖dL/dh₁‖ of a plain RNN falls far below the LSTM's."""
    from lstm_tui.core.registry import load_model

    model = load_model("brackets")
    trace = model.trace("((((()()(()))(()))((()))))" * 2)
    norms = compare_cells(model, trace, seed=0, models={})  # untrained GRU and RNN, as issue 4 measured
    lstm, rnn = float(norms["lstm"][0]), float(norms["rnn_tanh"][0])
    ratio = rnn / lstm
    assert lstm > 1e-4, f"the LSTM's gradient at t'=1 is {lstm:.2e}"
    assert ratio < 1e-2, f"RNN/LSTM gradient ratio at t'=1 is {ratio:.2e} (LSTM {lstm:.2e}, RNN {rnn:.2e})"


def test_compare_runs_the_trained_demos_of_the_same_task():
    """Issue 13.7: beside a task's demo, the compare runs that task's trained GRU and RNN, and says so."""
    from lstm_tui.core.gradients import compare_label, compare_models
    from lstm_tui.core.registry import load_model

    model = load_model("brackets")
    trace = model.trace("((((()()(()))(()))((()))))" * 2)
    norms = compare_cells(model, trace)
    assert list(norms) == ["lstm", "gru", "rnn_tanh"]
    for cell, name in (("gru", "brackets-gru"), ("rnn_tanh", "brackets-rnn")):
        other = load_model(name)
        assert other.cell == cell
        want = gradient_norms(other, other.trace(list(trace.tokens)), "sum-h")["h"][-1]
        np.testing.assert_allclose(norms[cell], want, rtol=1e-6)
    assert compare_label(model) == "GRU: brackets-gru (trained), tanh RNN: brackets-rnn (trained)"
    untrained = compare_cells(model, trace, models={})
    assert not np.allclose(untrained["gru"], norms["gru"])
    # from a GRU demo, the LSTM and RNN of its task; a model of no task falls back to untrained cells
    peers = compare_models(load_model("copy-gru"))
    assert {c: m.name for c, m in peers.items()} == {"lstm": "copy", "rnn_tanh": "copy-rnn"}
    assert compare_models(load_model("charlm")) == {} == compare_models(random_model(hidden=4))
    assert compare_label(load_model("charlm")).count("untrained") == 2
    assert compare_models(model.astype("float64"))["gru"].dtype == np.float64  # the view's float64 run


def test_a_classifiers_target_is_named_by_class_id():
    """A head of 3 classes beside a vocabulary of more tokens: the top class is #id, not the vocabulary's token."""
    import dataclasses

    model = random_model(hidden=5, seed=2)
    model = dataclasses.replace(model, head_W=model.head_W[:3], head_b=model.head_b[:3])
    trace = model.trace("hello")
    v = int(np.argmax(trace.y[2]))
    assert gradient_norms(model, trace, k=2)["target"] == f"log p(#{v}) at step 3"


def test_a_head_of_one_output_is_a_binary_classifier(rng):
    """A head of one output (Keras's Dense(1), PyTorch's BCEWithLogitsLoss): y is σ(logit), its class's
    probability, which a softmax would make 1 at every step; log p, its gradient (by finite differences) and
    the effect map follow it. Before, the effect map of such a model was all zeros."""
    from lstm_tui.core.interventions import EffectMap

    base = random_model(hidden=4, seed=3, cell="lstm", layers=1, embed=3, dtype="float64")
    model = dataclasses.replace(base, head_W=rng.standard_normal((1, 4)), head_b=rng.standard_normal(1))
    x = rng.standard_normal((5, 3))
    trace = model.trace(x)
    np.testing.assert_allclose(trace.y, 1 / (1 + np.exp(-trace.logits)), rtol=1e-12)
    assert not np.allclose(trace.y, 1)
    k = 3

    def value():
        return float(np.log(model.trace(x).y[k, 0]))

    got, label, grads = target_gradients(model, trace, "top", k)
    assert got == pytest.approx(value(), abs=1e-12) and "#0" in label
    np.testing.assert_allclose(grads.x, _numeric_dx(value, x)[: k + 1], atol=1e-8)
    effect = EffectMap(model, trace, "h", 0, 0.0, k).run()
    assert np.abs(effect[: k + 1]).max() > 1e-3


async def test_the_gradient_view_of_a_long_run_names_the_targets_own_step(monkeypatch):
    """A long run's gradients are of a window of the steps up to t, recomputed in float64: the float64
    run lost the window's place, and at t = 400,000 the title said 'at step 1024'."""
    from conftest import settle

    from lstm_tui.app import LstmApp
    from lstm_tui.core.checkpoint import CheckpointedTrace
    from lstm_tui.core.registry import load_model

    monkeypatch.setattr(LstmApp, "FULL_TRACE_BYTES", 0)  # every input kept as checkpoints
    monkeypatch.setattr(LstmApp, "WINDOW_SECONDS", 0.0)  # the gradients read the last 32 steps
    text = "(()(()))((()()(())))()." * 5
    app = LstmApp(load_model("brackets"), text=text)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.tracing is None and app.trace.steps == len(text))
        assert isinstance(app.trace, CheckpointedTrace)
        for key, target in (("T", "Σ h of layer 1"), ("T", "log p(")):
            await pilot.press("end", "5", key)
            await pilot.pause()
            head = str(app.query_one("#grad-head").render())
            assert f"{target}" in head and f"at step {len(text)} =" in head, head
            assert f"steps {len(text) - 31}-{len(text)}" in head


async def test_t_on_a_model_without_a_head_says_there_is_one_target():
    """Without an output head Σ h is the only target: the view offered '(T: switch target)' and T did
    nothing at all."""
    from lstm_tui.app import LstmApp

    rnn = random_model(hidden=6, seed=0, embed=3)
    model = Model(layers=rnn.layers, name="bare")  # no embedding, no head: it reads frames
    frames = np.random.default_rng(0).standard_normal((12, 3)).astype(np.float32)
    app = LstmApp(model, frames=frames)
    async with app.run_test(size=(120, 40)) as pilot:
        assert not app.trace.has_head
        await pilot.press("end", "5")
        await pilot.pause()
        head = str(app.query_one("#grad-head").render())
        assert "Σ h of layer 1 at step 12" in head and "T: switch" not in head and "no output head" in head
        await pilot.press("T")
        await pilot.pause()
        assert any("no output head" in n.message for n in app._notifications)
        assert "Σ h of layer 1 at step 12" in str(app.query_one("#grad-head").render())
