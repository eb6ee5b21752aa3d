"""The debugger on bidirectional, projected and mixed-width models: what the screen says
about each direction, the stage and gradient views for backward units, every view on
each layer's own width, and the readers' notes (Pilot, asserting on state and text)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from lstm_tui import cli
from lstm_tui.app import LstmApp
from lstm_tui.core import Model
from lstm_tui.widgets.panel import Panel
from model_zoo import bidi, make_layer

VOCAB = tuple("abcdef") + ("<unk>",)
TEXT = "abcdefabc"
ACTS = (("HardSigmoid", 0.2, 0.5), ("Softsign", 0.0, 0.0), ("ScaledTanh", 1.5, 0.7))


def bidi_proj(seed: int = 0, **kw) -> Model:
    """Bidirectional projected LSTM (H 4, P 2: gates 8 wide, h 4) → LSTM H 3 → head."""
    rng = np.random.default_rng(seed)
    layers = (bidi(rng, "lstm", 5, 4, P=2, **kw), make_layer(rng, "lstm", 4, 3))
    return Model(
        layers=layers, embedding=rng.standard_normal((7, 5)), head_W=rng.standard_normal((7, 3)),
        head_b=rng.standard_normal(7), vocab=VOCAB, name="bidi-proj", meta={"notes": ["a note from the reader"]},
    ).astype("float32")


def bidi_gru(seed: int = 0) -> Model:
    """One bidirectional GRU level of H 4 (8 wide) with a head."""
    rng = np.random.default_rng(seed)
    return Model(
        layers=(bidi(rng, "gru", 5, 4),), embedding=rng.standard_normal((7, 5)), head_W=rng.standard_normal((7, 8)),
        head_b=rng.standard_normal(7), vocab=VOCAB, name="bidi-gru",
    ).astype("float32")


def text_of(renderable, width: int = 160) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def strip_text(panel: Panel, row: int) -> str:
    return "".join(s.text for s in panel.heatmap._strips[row])


async def test_panels_show_each_direction_labelled():
    app = LstmApp(bidi_proj(), text=TEXT)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "n")
        f = app.query_one("#panel-f", Panel)
        assert f.border_subtitle == "8 values (2H): → 0-3 │ ← 4-7 · fixed scale"
        assert app.query_one("#panel-h", Panel).border_subtitle == "4 values (2P): → 0-1 │ ← 2-3 · fixed scale"
        line = strip_text(f, 0)  # both blocks fit one line: arrow, 4 cells, divider, arrow, 4 cells
        assert line.startswith("→ ") and "│← " in line
        assert line.index("│") == 2 + 4 * f.heatmap.cell_width
        note = str(app.query_one("#directions").render())
        assert "→ forward units 0-3 have read steps 1..3" in note
        assert "← backward units 4-7 have read steps 3..9" in note
        await pilot.press("l")  # the layer above reads forwards only: no note, no arrows
        await pilot.pause()
        assert not app.query_one("#directions").display
        assert app.query_one("#panel-f", Panel).border_subtitle == "3 values · fixed scale"
        # its input x is the bidirectional h below, split as that h is
        assert app.query_one("#panel-x", Panel).border_subtitle == "4 values: → 0-1 │ ← 2-3 · whole-trace scale"


async def test_narrow_panels_put_each_direction_on_rows_of_its_own():
    rng = np.random.default_rng(1)
    model = Model(layers=(bidi(rng, "lstm", 3, 24),)).astype("float32")
    app = LstmApp(model, frames=rng.standard_normal((6, 3)).astype("float32"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        f = app.query_one("#panel-f", Panel)
        rows = [strip_text(f, r) for r in range(len(f.heatmap._strips))]
        firsts = [r[:2] for r in rows]
        assert firsts[0] == "→ " and "← " in firsts  # the backward block starts a row of its own
        back = firsts.index("← ")
        assert all(r == "  " for r in firsts[1:back] + firsts[back + 1 :])
        app.unit = 30  # a backward unit (24..47): marked in the backward rows
        await pilot.pause()
        marked = [r for r in range(len(rows)) if "◆" in strip_text(f, r)]
        assert marked and marked[0] >= back
        x = 2 + (30 - 24) % f.heatmap.cols * f.heatmap.cell_width  # after the row's arrow (or its indent)
        assert f.heatmap.unit_at(x, marked[0] - f.heatmap.scroll_offset.y) == 30
        assert "previous at t+1" in str(app.query_one("#directions").render())


async def test_unit_view_names_the_direction_the_unit_number_and_the_activations():
    app = LstmApp(bidi_proj(activations=ACTS), text=TEXT)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "n")
        title = app.query_one("#unit").border_title
        assert "→ forward unit 0 of 4, has read steps 1..3" in title
        for _ in range(5):
            await pilot.press("j")
        title = app.query_one("#unit").border_title
        assert app.unit == 5 and "← backward unit 1 of 4, has read steps 3..9" in title
        text = str(app.query_one("#unit").render())
        assert "cᵗ⁺¹" in text and "cᵗ⁻¹" not in text  # a backward unit starts from t + 1
        assert "ScaledTanh(cᵗ)" in text and "hᵗ = W_hr·mᵗ" in text
        assert "f = HardSigmoid α=0.2 β=0.5" in text and "tanh" not in text.replace("ScaledTanh", "")
        # the panels' equations are the layer's own: its activations and the projection
        eq = {k: str(app.query_one(f"#panel-{k} .equation").render()) for k in ("f", "g", "h")}
        assert eq["f"].startswith("fᵗ = HardSigmoid(") and eq["g"].startswith("gᵗ = Softsign(")
        assert eq["h"] == "hᵗ = W_hr (oᵗ ⊙ ScaledTanh(cᵗ))"
        await pilot.press("l")  # the layer above has the defaults again
        await pilot.pause()
        assert str(app.query_one("#panel-h .equation").render()) == "hᵗ = oᵗ ⊙ tanh(cᵗ)"
        await pilot.press("l")
        # the numbers are the trace's: c at t for this unit, and its previous state at t + 1
        c_next = app.trace.value("c", 0, 3)[5]
        assert f"{c_next:+.4f}" in text


async def test_stage_view_of_a_backward_unit_starts_from_t_plus_1():
    model = bidi_gru()
    app = LstmApp(model, text=TEXT)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "n", *["j"] * 6, "2")
        text = text_of(app.query_one("#stages-body").content)
        assert app.view == "stages" and app.unit == 6
        assert "← backward unit 2, has read steps 3..9" in text
        assert "recurrent W_hh·hᵗ⁺¹" in text and "its previous state hᵗ⁺¹" in text
        st_h = float(app.trace.value("h", 0, 2)[6])
        assert f"{st_h:+.4f}" in text
        h_next = float(app.trace.value("h", 0, 3)[6])  # zᵗ·hᵗ⁺¹ uses the state at t + 1
        z = float(app.trace.value("z", 0, 2)[6])
        assert f"{z:.4f}·{h_next:.4f}" in text.replace("(", "").replace(")", "").replace("+", "")
        assert f"{z * h_next:+.4f}".lstrip("+") in text
        await pilot.press("k", "k", "k", "k")  # a forward unit: ᵗ⁻¹ again
        await pilot.pause()
        text = text_of(app.query_one("#stages-body").content)
        assert "→ forward unit 2" in text and "W_hh·hᵗ⁻¹" in text and "ᵗ⁺¹" not in text


async def test_stage_view_of_a_projected_layer_shows_m_and_the_projection():
    model = bidi_proj(activations=ACTS)
    app = LstmApp(model, text=TEXT)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "j", "2")
        text = text_of(app.query_one("#stages-body").content)
        assert "mᵗ = oᵗ·ScaledTanh(cᵗ)" in text and "4 project" in text and "P = 2 values" in text
        assert "HardSigmoid →" in text and "Softsign →" in text
        h = app.trace.value("h", 0, 1)[:2]  # unit 1 is forward: the forward direction's two h values
        assert " ".join(f"{v:+.4f}" for v in h) in text


async def test_gradient_view_splits_directions_and_runs_to_T():
    app = LstmApp(bidi_proj(), text=TEXT)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "n", "5")
        await pilot.pause()
        text = grad_text(app)
        assert "hᵗ' layer 1 → forward" in text and "hᵗ' layer 1 ← backward" in text
        assert "hᵗ' layer 2" in text and "layer 2 →" not in text  # layer 2 reads forwards only
        assert "t' = 1 … T (target at t = 3, the vertical line)" in text
        assert "the lines run to T" in text.replace("\n", " ")
        assert "each token 1..T" in text


def grad_text(app) -> str:
    """The gradient view's words: its head, its plot (legend and title) and its body."""
    parts = [text_of(app.query_one(q).content, 200) for q in ("#grad-head", "#grad-body")]
    return "\n".join(parts + [app.query_one("#grad-plot").render().plain])


async def test_gradient_table_without_plotext_splits_directions(monkeypatch):
    from lstm_tui.render import plots

    monkeypatch.setattr(plots, "available", lambda: False)
    app = LstmApp(bidi_proj(), text=TEXT)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "n", "5")
        text = text_of(app.query_one("#grad-body").content, 200)
        assert "hᵗ' layer 1 → forward" in text and "hᵗ' layer 1 ← backward" in text
        assert "t' = 1 … T, target at t = 3" in text and "at t'=T" in text


async def test_every_view_uses_each_layers_width_after_l(tmp_path):
    """Watches, breakpoints, unit search, history, gradients and export on a stack of
    different widths (8-wide gates and 4-wide h below, 3 wide above)."""
    app = LstmApp(bidi_proj(), text=TEXT * 2)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press(*["j"] * 7, "m")  # unit 7 of layer 1's c (8 wide)
        assert app.watched == [("c", 0, 7)]
        await pilot.press("l")
        assert app.layer == 1 and app.unit == 2  # clamped into the 3 units above
        await pilot.press("m")
        assert app.watched == [("c", 0, 7), ("c", 1, 2)]
        await pilot.pause()
        assert "c[2] l2" in text_of(app.query_one("#watch-values").content)
        await pilot.press("b", *"c[2] > -5", "enter")  # a quantity breakpoint on the narrow layer
        await pilot.press("c")
        assert app.k == 1 and app.breakpoints
        await pilot.press("b", *"h_prev[0] > 5", "enter", "c")
        await pilot.pause()
        assert app.k == 2
        await pilot.press("s", "ctrl+a", "ctrl+k", *"2-4 > -5 c", "enter")
        await pilot.pause()
        assert app.view == "units" and app.search_results is not None
        assert all(0 <= u < 3 for u, _ in app.search_results[1])
        for view in "345":
            await pilot.press(view)
            await pilot.pause()
        assert "hᵗ' layer 2" in grad_text(app)
        out = tmp_path / "t.npz"
        await pilot.press("e", "ctrl+a", "ctrl+k", *str(out), "enter")
        await pilot.pause()
    with np.load(out) as z:
        assert z["c_l0"].shape == (18, 8) and z["h_l0"].shape == (18, 4) and z["h_l1"].shape == (18, 3)


async def test_notes_show_when_the_model_opens_and_on_the_help_screen():
    app = LstmApp(bidi_proj(), text=TEXT)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert any("a note from the reader" in n.message for n in app._notifications)
        await pilot.press("question_mark")
        about = str(app.screen.query("Static").first().render())
        assert "note: a note from the reader" in about


def test_model_notes_take_a_line_or_a_list():
    assert Model(layers=bidi_gru().layers, meta={"notes": "one line"}).notes == ("one line",)
    assert Model(layers=bidi_gru().layers, meta={"notes": ["a", "", "b  c"]}).notes == ("a", "b c")
    assert Model(layers=bidi_gru().layers).notes == ()


@pytest.mark.parametrize("command", ["show", "export"])
def test_cli_prints_notes_on_stderr_only(command, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "_load", lambda args, default=None: bidi_proj())
    extra = ["-o", str(tmp_path / "o.npz")] if command == "export" else ["--unit", "5"]
    assert cli.main([command, "--model", "m.safetensors", "--text", "abcab", *extra]) == 0
    out, err = capsys.readouterr()
    assert "note: a note from the reader" in err.splitlines()
    assert "a note from the reader" not in out


def test_show_lines_up_a_bidirectional_projected_layer(monkeypatch, capsys):
    model = bidi_proj()
    monkeypatch.setattr(cli, "_load", lambda args, default=None: model)
    assert cli.main(["show", "--model", "m.safetensors", "--text", "abcde", "--step", "2", "--unit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["unit"])
    rows = {line.split()[0] + line.split()[1]: line for line in lines if line[:6].strip()[:1].isdigit()}
    assert header.split() == ["unit", "h", "prev", "c", "prev", "i", "f", "g", "o", "c", "h"]
    trace = model.trace("abcde")
    h = trace.value("h", 0, 1)  # (4,): forward 0-1, backward 2-3
    # the backward h values sit beside the backward units b0, b1 (rows 4, 5); rows f2, f3, b2, b3 have none
    assert rows["4b0"].split()[-1] == f"{h[2]:+.4f}" and rows["5b1"].split()[-1] == f"{h[3]:+.4f}"
    assert rows["0f0"].split()[-1] == f"{h[0]:+.4f}"
    assert len(rows["2f2"].split()) == len(rows["0f0"].split()) - 2  # no h, no h prev
    assert "h is 4 wide, the gates and c 8 (2 and 4 a direction)" in " ".join(" ".join(lines).split())


async def test_history_and_units_views_name_the_directions():
    app = LstmApp(bidi_proj(), text=TEXT)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("n", "3")
        title = text_of(app.query_one("#history-title").content)
        assert "rows 0-3 → forward, 4-7 ← backward" in title  # c: 8 rows
        await pilot.press("4")
        await pilot.pause()
        text = text_of(app.query_one("#units-saturation").content)
        lines = [line.split() for line in text.splitlines() if line.strip()[:1].isdigit()]
        rows = {cells[0] + cells[1]: cells for cells in lines}
        assert set(rows) == {"0f0", "1f1", "2f2", "3f3", "4b0", "5b1", "6b2", "7b3"}
        h = app.trace.states["h"][0]  # (T, 4): forward h 0-1, backward h 2-3
        assert rows["4b0"][-1] == f"{h[:, 2].std():.3f}"  # backward h unit 0 beside backward unit 0
        assert rows["2f2"][-1].endswith("%")  # a forward unit past P has no h of its own


def test_unit_row_puts_a_projected_h_beside_its_direction():
    from lstm_tui.render.directions import aligned_rows, unit_row

    trace = bidi_proj().trace(TEXT)  # gates 8 (4 a direction), h 4 (2 a direction)
    assert [unit_row(trace, "h", 0, i) for i in range(4)] == [0, 1, 4, 5]
    assert [unit_row(trace, "c", 0, i) for i in range(8)] == list(range(8))
    assert [unit_row(trace, "h", 1, i) for i in range(3)] == [0, 1, 2]
    assert aligned_rows([10, 11, 12, 13], 2, 8) == [10, 11, None, None, 12, 13, None, None]
    from lstm_tui.render.directions import value_index

    assert [value_index(trace, "h", 0, j) for j in range(8)] == [0, 1, 1, 1, 2, 3, 3, 3]
    assert all(unit_row(trace, "h", 0, value_index(trace, "h", 0, j)) == j for j in (0, 1, 4, 5))


def test_breakpoint_h_prev_of_a_backward_unit_is_the_state_at_t_plus_1():
    from lstm_tui.core.breakpoints import compile_breakpoint

    model = bidi_proj()
    trace = model.trace(TEXT)
    for j in (0, 3):  # forward unit 0, backward unit 1 of h (P = 2 a direction)
        bp = compile_breakpoint(f"h_prev[{j}] > 0", "lstm", True)
        want = [k for k in range(trace.steps) if trace.value("h_prev", 0, k)[j] > 0]
        assert [k for k in range(trace.steps) if bp.test(trace, 0, k, VOCAB)] == want
    h = trace.states["h"][0]
    back = [k for k in range(trace.steps) if (h[k + 1, 3] if k + 1 < trace.steps else 0.0) > 0]
    assert [k for k in range(trace.steps) if compile_breakpoint("h_prev[3] > 0", "lstm", True).test(trace, 0, k)] == back


async def test_the_direction_line_takes_the_wording_that_fits_after_a_resize():
    app = LstmApp(bidi_gru(), text=TEXT)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("n", "2", "1")
        assert str(app.query_one("#directions").render()).startswith("at t = 2: → forward units 0-3")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        line = str(app.query_one("#directions").render())
        assert line.startswith("→ forward 0-3 read 1..2 │ ← backward 4-7") and len(line) <= 78


async def test_opening_a_bidirectional_onnx_file_shows_its_notes_and_directions():
    from pathlib import Path

    pytest.importorskip("onnx")
    path = Path(__file__).parent / "data" / "onnx" / "node_split_bi_lstm_lstm_gemm.onnx"
    app = LstmApp(bidi_gru(), text=TEXT)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("o", *str(path), "enter")
        await pilot.pause()
        assert app.model.name == "node_split_bi_lstm_lstm_gemm" and app.trace.reverse_flags(0) == (False, True)
        assert any("no vocabulary" in n.message for n in app._notifications)
        await pilot.press("/", "ctrl+a", "ctrl+k", *"1 2 3 4", "enter", "n")
        await pilot.pause()
        assert "→ forward units 0-3 have read steps 1..2" in str(app.query_one("#directions").render())


def test_panel_equations_say_where_a_backward_units_previous_state_is():
    from lstm_tui.render.acts import layer_equation
    from lstm_tui.render.panels import PANELS

    rng = np.random.default_rng(3)
    both = Model(layers=(bidi(rng, "gru", 3, 4),))
    back = Model(layers=(make_layer(rng, "gru", 3, 4, reverse=True),))
    spec = {s.key: s for s in PANELS["gru"]}
    assert layer_equation(spec["h_prev"].equation, "h_prev", both, 0).startswith("hᵗ⁻¹ (← units: hᵗ⁺¹):")
    assert layer_equation(spec["z"].equation, "z", both, 0) == spec["z"].equation  # the line over the panels says it
    assert layer_equation(spec["h"].equation, "h", back, 0) == "hᵗ = (1 − zᵗ) ⊙ nᵗ + zᵗ ⊙ hᵗ⁺¹"


def test_width_labels_of_a_projected_layer_that_reads_forwards():
    from lstm_tui.render.directions import panel_parts, width_label

    rng = np.random.default_rng(4)
    trace = Model(layers=(make_layer(rng, "lstm", 3, 5, P=2), make_layer(rng, "lstm", 2, 4))).trace(rng.standard_normal((4, 3)))
    assert width_label(trace, "h", 0, 2) == "2 values (P)" and width_label(trace, "f", 0, 5) == "5 values (H)"
    assert width_label(trace, "h_prev", 0, 2) == "2 values (P)" and width_label(trace, "c_prev", 0, 5) == "5 values (H)"
    assert width_label(trace, "h", 1, 4) == "4 values" and panel_parts(trace, "h", 0) == ()
    assert width_label(trace, "h", 1, 1) == "1 value"  # a binary classifier's y panel
