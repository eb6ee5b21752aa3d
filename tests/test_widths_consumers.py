"""Export, show, stages, unit search and the direction labels on bidirectional,
projected and mixed-width models (the CLI is given the model through its loader)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_tui import cli
from lstm_tui.core import Model
from lstm_tui.core import explain
from lstm_tui.core.export import write_trace
from lstm_tui.render.directions import direction_note, direction_ranges, unit_direction
from model_zoo import bidi, make_layer

VOCAB = tuple("abcdef") + ("<unk>",)


def _model(rng, kind: str) -> Model:
    """'mixed': Bidirectional projected LSTM (H 4, P 2: 4 wide, c 8) → LSTM H 3 → head;
    'uniform': two Bidirectional GRU levels of H 3 (6 wide each) → head."""
    if kind == "mixed":
        layers = (bidi(rng, "lstm", 5, 4, P=2), make_layer(rng, "lstm", 4, 3))
    else:
        layers = (bidi(rng, "gru", 5, 3, lbr=False), bidi(rng, "gru", 6, 3))
    W = layers[-1].output_size
    return Model(
        layers=layers, embedding=rng.standard_normal((7, 5)), head_W=rng.standard_normal((7, W)),
        head_b=rng.standard_normal(7), vocab=VOCAB, name=f"test-{kind}",
    )


def _export(tmp_path, monkeypatch, model, *extra):
    monkeypatch.setattr(cli, "_load", lambda args, default=None: model)
    out = tmp_path / "out.npz"
    assert cli.main(["export", "--model", "given.safetensors", "--text", "abcdefab", "-o", str(out), *extra]) == 0
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def test_export_of_a_mixed_width_model_writes_one_array_per_layer(tmp_path, monkeypatch, rng, capsys):
    model = _model(rng, "mixed")
    arrays = _export(tmp_path, monkeypatch, model, "--grad", "--target", "sum-h")
    trace = model.trace("abcdefab")
    T = 8
    want = {"h_l0": (T, 4), "c_l0": (T, 8), "i_l0": (T, 8), "h_l1": (T, 3), "c_l1": (T, 3), "y": (T, 7)}
    for name, shape in want.items():
        assert arrays[name].shape == shape, name
    assert not {"h", "c", "i", "f", "g", "o"} & set(arrays)
    assert {"grad_h_l0", "grad_h_l1", "grad_c_l0", "grad_c_l1", "grad_x"} <= set(arrays)
    assert arrays["grad_c_l0"].shape == (T, 8)
    np.testing.assert_array_equal(arrays["h_l0"], trace.states["h"][0])
    np.testing.assert_allclose(arrays["y"].sum(axis=1), 1)
    # position 0 of the backward half is that direction's final state (it read 0..T-1 last)
    np.testing.assert_array_equal(arrays["c_l0"][0, 4:], trace.states["c"][0][0, 4:])
    assert "widths h 4, 3; gates 8, 3" in capsys.readouterr().out


def test_export_of_a_uniform_bidirectional_model_is_layers_t_width(tmp_path, monkeypatch, rng):
    model = _model(rng, "uniform")
    arrays = _export(tmp_path, monkeypatch, model, "--grad")
    assert arrays["h"].shape == (2, 8, 6) and arrays["r"].shape == (2, 8, 6)
    assert arrays["grad_h"].shape == (2, 8, 6) and "h_l0" not in arrays
    # forward units first: the forward half at position 0 has read only step 0
    fw = model.layers[0].forward
    x0 = model.embedding[model.vocab.index("a")]
    from lstm_tui.core.cells import step

    rec = step(fw, x0, np.zeros(3))
    np.testing.assert_allclose(arrays["h"][0, 0, :3], rec["h"], atol=1e-12)


def test_text_exports_of_mixed_widths(tmp_path, rng):
    trace = _model(rng, "mixed").trace("abcab")
    write_trace(trace, tmp_path / "t.json")
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["widths"]["h"] == [4, 3] and doc["widths"]["c"] == [8, 3] and "hidden_size" not in doc
    assert np.array(doc["c_l0"]).shape == (5, 8)
    write_trace(trace, tmp_path / "t.csv")
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert len(rows) == 1 + 5 * (4 + 8 * 5 + 3 * 6 + 7)


def test_show_uses_each_layer_width(monkeypatch, rng, capsys):
    model = _model(rng, "mixed")
    monkeypatch.setattr(cli, "_load", lambda args, default=None: model)
    assert cli.main(["show", "--model", "m.safetensors", "--text", "abcde", "--step", "2", "--layer", "1", "--unit", "7"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "forward units 0-3 have read steps 1..2; backward units 4-7 have read steps 2..5" in out
    assert "hᵗ = W_hr·mᵗ" in out
    assert cli.main(["show", "--model", "m.safetensors", "--text", "abcde", "--layer", "2", "--unit", "3"]) == 2
    assert "--unit 3: expected a unit from 0 to 2" in capsys.readouterr().err


def test_stages_of_every_unit_of_a_bidirectional_level_match_the_trace(rng):
    for kind in ("mixed", "uniform"):
        model = _model(rng, kind)
        trace = model.trace("abcdefa")
        for layer in range(2):
            for k in (0, 3, 6):
                st = explain.stages(model, trace, layer, k, None)
                for q, parts in st["gates"].items():
                    np.testing.assert_allclose(parts["input"] + parts["recurrent"] + parts["bias"], parts["pre"])
                    np.testing.assert_allclose(parts["value"], trace.value(q, layer, k), atol=1e-12, err_msg=q)
                if st["projected"]:
                    assert "h_prev" not in st
                    np.testing.assert_allclose(st["c"], trace.value("c", layer, k), atol=1e-12)
                else:
                    np.testing.assert_allclose(st["h"], trace.value("h", layer, k), atol=1e-12)
                    np.testing.assert_allclose(st["h_prev"], trace.value("h_prev", layer, k))
        one = explain.stages(model, trace, 0, 2, 4)
        assert one["direction"] == "backward"
        with pytest.raises(explain.InputError, match="unit 99 out of range"):
            explain.stages(model, trace, 0, 2, 99)


def test_unit_search_and_saturation_use_the_layer_width(rng):
    model = _model(rng, "mixed")
    trace = model.trace("abcdefabcdef")
    assert explain.saturation(trace, 0)["f"][0].shape == (8,)
    assert explain.frozen_units(trace, 1)["std"].shape == (3,)
    assert explain.history(trace, "h", 0).shape == (4, 12)
    hits = explain.unit_search(trace, "c", 0, 2, 5, 0.0)
    assert all(0 <= u < 8 for u, _ in hits)


def test_direction_labels(rng):
    trace = _model(rng, "mixed").trace("abcdef")
    assert unit_direction(trace, 0, 5) == ("backward", 1)
    assert unit_direction(trace, 0, 1, "h") == ("forward", 1)
    assert unit_direction(trace, 0, 3, "h") == ("backward", 1)
    assert unit_direction(trace, 1, 0) is None
    assert direction_ranges(trace, 0, "h") == [("forward", 0, 1), ("backward", 2, 3)]
    assert direction_note(trace, 0, 0) == "at t = 1: forward units 0-3 have read steps 1..1; backward units 4-7 have read steps 1..6"
    assert direction_note(trace, 1, 3) == ""
    rev = Model(layers=(make_layer(rng, "gru", 2, 3, reverse=True),)).trace(rng.standard_normal((4, 2)))
    assert direction_note(rev, 0, 1) == "layer 1 reads backwards: at t = 2 it has read steps 2..4"


@pytest.mark.parametrize("kind", ["mixed", "uniform"])
async def test_the_app_survives_bidirectional_projected_and_mixed_width_models(kind, rng):
    """Every view, unit and layer of such a model opens; the unit cursor follows each layer's width."""
    from lstm_tui.app import LstmApp

    model = _model(rng, kind).astype("float32")
    app = LstmApp(model, text="abcdefabcdef")
    async with app.run_test(size=(120, 46)) as pilot:
        await pilot.press("n", "n")
        widest = max(app.trace.width(q, 0) for q in app.trace.quantities)
        for _ in range(widest - 1):
            await pilot.press("j")
        assert app.unit == widest - 1
        await pilot.press("m")  # a watch on the history quantity, clamped to its width
        for view in "2345":
            await pilot.press(view)
            await pilot.pause()
        await pilot.press("1", "l")  # the next layer: the unit clamped into its width
        await pilot.pause()
        assert app.layer == 1 and app.unit < max(app.trace.width(q, 1) for q in app.trace.quantities)
        for view in "2345":
            await pilot.press(view, "j", "n")
            await pilot.pause()
        await pilot.press("1", "l", "k", "p")
        await pilot.pause()
        assert app.layer == 0 and app.k == 5
