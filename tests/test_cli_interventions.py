"""`export --set`, `--source-text/--source-inputs` and `sweep` through main(argv)."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_tui.cli import main
from lstm_tui.core.interventions import EffectMap, Patch, intervene
from lstm_tui.core.registry import load_model

TEXT = "hello there"


def test_export_set_writes_the_patched_run(tmp_path):
    out = tmp_path / "p.npz"
    args = ["export", "--model", "charlm", "--text", TEXT, "-o", str(out), "--set", "c[3]=0@5",
            "--set", "L1:h[*]=src@2-3", "--source-text", "HELLO THERE", "--set", "f[*]=1@*"]
    assert main(args) == 0
    model = load_model("charlm")
    want = intervene(
        model,
        model.trace(TEXT),
        [Patch(0, "c", 3, 4, 0.0), Patch(0, "h", None, (1, 2), "src"), Patch(0, "f", None, range(11), 1.0)],
        "HELLO THERE",
    )
    data = np.load(out)
    for q in "ifgoch":
        np.testing.assert_array_equal(data[q], want.states[q])
    np.testing.assert_array_equal(data["y"], want.y)
    assert (data["f"] == 1).all()


def test_export_set_in_any_order_and_with_frames(tmp_path):
    model = load_model("random", hidden=6, seed=2, cell="gru", layers=2)
    frames = np.random.default_rng(0).standard_normal((7, 16)).astype(np.float32)
    src = np.random.default_rng(1).standard_normal((7, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", frames)
    np.save(tmp_path / "s.npy", src)
    out = tmp_path / "p.npz"
    args = ["--set", "L2:z[5]=src@3-7", "--source-inputs", str(tmp_path / "s.npy"), "-o", str(out),
            "--inputs", str(tmp_path / "x.npy"), "--cell", "gru", "--layers", "2", "--hidden", "6", "--seed", "2"]
    assert main(["export", *args]) == 0
    want = intervene(model, model.trace(frames), [Patch(1, "z", 5, range(2, 7), "src")], src)
    np.testing.assert_array_equal(np.load(out)["h"], want.states["h"])


@pytest.mark.parametrize(
    "sets,extra,words,column",
    [
        (["c=0@5"], [], "expected [J]", 1),
        (["c[3]=0@5", "c[3]=0@5x"], [], "unexpected text", 8),
        (["L2:c[0]=0@1"], [], "layer 2 out of range: expected a layer from 1 to 1", 1),
        (["c[64]=0@1"], [], "units 0 to 63", 2),
        (["c[0]=0@12"], [], "expected a step from 1 to 11", 7),
        (["q[0]=0@1"], [], "expected one of i f g o c h", 0),
        (["c[0]=src@1"], [], "needs a source input", 5),
        (["c[0]=src@3-4"], ["--source-text", "abc"], "past the source's length (3 steps)", 5),
        (["c[-1]=0@2"], [], "unit -1 out of range: c of layer 1 has units 0 to 63", 2),
        (["L-1:c[0]=0@1"], [], "layer -1 out of range: expected a layer from 1 to 1", 1),
        (["c[\uff13]=0@2"], [], "expected a unit (a whole number from 0)", 2),  # full-width digits: not to other tools
        (["c[3]=\uff11@2"], [], "expected a value: a number or src", 5),
    ],
)
def test_bad_sets_exit_2_with_one_line_naming_the_column_and_write_nothing(tmp_path, capsys, sets, extra, words, column):
    out = tmp_path / "p.npz"
    args = ["export", "--model", "charlm", "--text", TEXT, "-o", str(out), *extra]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    assert not out.exists()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and words in err[0]
    assert f'--set "{sets[-1]}": column {column + 1}: ' in err[0]


@pytest.mark.parametrize(
    "text,words",
    [
        ("c[{n}]=0@1", "unit 9999999999999999999999999999999999999... out of range"),
        ("c[3]=0@{n}", "step 9999999999999999999999999999999999999... out of range: expected a step from 1 to 11"),
        ("L{n}:c[3]=0@1", "layer 9999999999999999999999999999999999999... out of range"),
        ("c[3]=0@1-{n}", "step 9999999999999999999999999999999999999... out of range"),
    ],
)
def test_a_set_with_a_number_past_ints_digits_is_out_of_range(tmp_path, capsys, text, words):
    """5,000 digits: int() raises ValueError past 4,300 (an internal error); it is out of range, in one short line."""
    out = tmp_path / "p.npz"
    text = text.format(n="9" * 5000)
    assert main(["export", "--model", "charlm", "--text", TEXT, "-o", str(out), "--set", text]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and words in err[0] and len(err[0]) < 250 and not out.exists()


def test_set_refuses_grad_and_reports_non_finite(tmp_path, capsys):
    out = tmp_path / "p.npz"
    base = ["export", "--model", "brackets", "--text", "(())", "-o", str(out)]
    assert main([*base, "--set", "c[0]=0@1", "--grad"]) == 2 and not out.exists()
    assert main([*base, "--set", "h[*]=nan@2"]) == 0
    assert "not finite from step 2" in capsys.readouterr().err
    assert np.isnan(np.load(out)["h"][0, 1:]).all()


def test_source_options_need_one_source(tmp_path, capsys):
    out = tmp_path / "p.npz"
    np.save(tmp_path / "s.npy", np.zeros((3, 4), np.float32))
    args = ["export", "--model", "brackets", "--text", "(())", "-o", str(out), "--set", "c[0]=src@1",
            "--source-text", "()", "--source-inputs", str(tmp_path / "s.npy")]
    assert main(args) == 2 and not out.exists()
    assert "not both" in capsys.readouterr().err


def test_sweep_writes_the_effect_map(tmp_path):
    out = tmp_path / "m.npz"
    assert main(["sweep", "--model", "charlm", "--text", TEXT, "--quantity", "c", "--layer", "1",
                 "--value", "0", "--step", "8", "-o", str(out)]) == 0
    model = load_model("charlm")
    trace = model.trace(TEXT)
    em = EffectMap(model, trace, "c", 0, 0.0, 7)
    data = np.load(out)
    assert data["effect"].shape == data["estimate"].shape == (11, 64)
    np.testing.assert_allclose(data["effect"], em.run(), atol=1e-6)
    np.testing.assert_allclose(data["estimate"], em.estimate(), atol=1e-6)
    assert (data["effect"][8:] == 0).all() and (data["estimate"][8:] == 0).all()
    assert data["steps"].tolist() == list(range(1, 12)) and data["units"].tolist() == list(range(64))
    top = model.vocab[int(np.argmax(trace.y[7]))]
    assert str(data["token"]) == top and int(data["token_id"]) == model.vocab.index(top)
    # effect[s-1, j] is the exact change from setting c[j] at step s to 0
    patched = intervene(model, trace, [Patch(0, "c", 9, 2, 0.0)])
    want = np.log(patched.y[7, data["token_id"]]) - np.log(trace.y[7, data["token_id"]])
    assert data["effect"][2, 9] == pytest.approx(want, abs=1e-5)


def test_sweep_options_in_any_order_token_and_src(tmp_path):
    out = tmp_path / "m.npz"
    assert main(["--model", "brackets", "sweep", "-o", str(out), "--token", ")", "--step", "5", "--value", "src",
                 "--source-text", "((((((", "--quantity", "h", "--text", "(()())"]) == 0
    model = load_model("brackets")
    em = EffectMap(model, model.trace("(()())"), "h", 0, "src", 4, ")", "((((((")
    data = np.load(out)
    np.testing.assert_allclose(data["effect"], em.run(), atol=1e-6)
    assert str(data["token"]) == ")"


@pytest.mark.parametrize(
    "args,words",
    [
        (["--quantity", "r"], "expected one of i f g o c h"),
        (["--layer", "2"], "expected a layer from 1 to 1"),
        (["--step", "40"], "expected a step from 1 to 11"),
        (["--step", "0"], "--step 0: expected a step from 1 to 11"),
        (["--step", "-1"], "--step -1: expected a step from 1 to 11"),
        (["--layer", "0"], "--layer 0: expected a layer from 1 to 1"),
        (["--value", "zero"], "expected a number or src"),
        (["--value", "src"], "needs a source input"),
        (["--value", "src", "--source-text", "abc"], "the source has 3 steps"),
        (["--token", "no such token"], "not in the vocabulary"),
        (["--token", "9" * 5000], "token id 9999999999999999999999999999999999999... out of range: expected 0 to"),
        (["--token", "#" + "9" * 5000], "token id 9999999999999999999999999999999999999... out of range"),
        (["--token", "x" * 5000], "token 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is not in the vocabulary"),
        (["-o", "m.csv"], "writes .npz files only"),
    ],
)
def test_sweep_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    base = {"--quantity": "c", "--layer": "1", "--value": "0", "--step": "8", "-o": "m.npz"}
    extra = []
    for k, v in zip(args[::2], args[1::2]):
        if k in base:
            base[k] = v
        else:
            extra += [k, v]
    argv = ["sweep", "--model", "charlm", "--text", TEXT, *extra]
    for k, v in base.items():
        argv += [k, v]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and len(err) < 300  # (a number or text of 5,000 characters is clipped)
    assert list(tmp_path.iterdir()) == []


def test_sweep_refuses_an_existing_file_before_running(tmp_path, capsys):
    out = tmp_path / "m.npz"
    out.write_bytes(b"keep")
    argv = ["sweep", "--model", "brackets", "--quantity", "c", "--value", "0", "--step", "2", "-o", str(out)]
    assert main(argv) == 2 and out.read_bytes() == b"keep"
    assert main([*argv, "--force"]) == 0 and "effect" in np.load(out)


def test_sweep_on_frames_names_the_token_by_id(tmp_path):
    """A model with a head and no vocabulary: --token is an id, and token is written as that id."""
    rng = np.random.default_rng(0)
    H, E, V = 5, 3, 20
    arrays = {"rnn.weight_ih_l0": rng.uniform(-1, 1, (H, E)), "rnn.weight_hh_l0": rng.uniform(-1, 1, (H, H)),
              "rnn.bias_ih_l0": rng.uniform(-1, 1, H), "rnn.bias_hh_l0": rng.uniform(-1, 1, H),
              "decoder.weight": rng.uniform(-1, 1, (V, H)), "decoder.bias": rng.uniform(-1, 1, V)}
    np.savez(tmp_path / "m.npz", **{k: v.astype(np.float32) for k, v in arrays.items()})
    frames = rng.standard_normal((6, E)).astype(np.float32)
    np.save(tmp_path / "x.npy", frames)
    out = tmp_path / "e.npz"
    assert main(["sweep", "--model", str(tmp_path / "m.npz"), "--inputs", str(tmp_path / "x.npy"),
                 "--quantity", "h", "--value", "0", "--step", "4", "--token", "17", "-o", str(out)]) == 0
    data = np.load(out)
    assert str(data["token"]) == "17" and int(data["token_id"]) == 17
    model = load_model(str(tmp_path / "m.npz"))
    em = EffectMap(model, model.trace(frames), "h", 0, 0.0, 3, 17)
    np.testing.assert_allclose(data["effect"], em.run(), atol=1e-6)


@pytest.mark.parametrize("value", ["-1e-3", "-inf", "-.5"])
def test_sweep_takes_a_negative_value_however_written(tmp_path, capsys, value):
    """argparse reads '-1e-3' after an option as an option of its own unless told otherwise."""
    spaced, joined = tmp_path / "a.npz", tmp_path / "b.npz"
    argv = ["sweep", "--model", "brackets", "--text", "(()())", "--quantity", "c", "--step", "4"]
    assert main([*argv, "--value", value, "-o", str(spaced)]) == 0
    assert main([*argv, f"--value={value}", "-o", str(joined)]) == 0
    a, b = np.load(spaced), np.load(joined)
    np.testing.assert_array_equal(a["effect"], b["effect"])
    assert "set to " + value in capsys.readouterr().out


def test_non_finite_runs_are_reported_in_one_line(tmp_path, capsys):
    """A patch that makes the run NaN: one warning naming every quantity affected, not one line a quantity;
    a sweep whose effect map and estimate are both NaN: one line for both."""
    argv = ["export", "--model", "brackets", "--text", "(()(()))((", "-o", str(tmp_path / "p.npz"), "--force"]
    said = ("lstm-tui: warning: after the patches, i, f, g, o, c, h of layer 1 and y are not finite from step 1 on "
            "(step 1: c, h of layer 1 and y; step 2: i, f, g, o of layer 1)")
    for patch in ("c[3]=NaN@1", "c[*]=nan@*"):
        assert main([*argv, "--set", patch]) == 0
        assert capsys.readouterr().err.splitlines() == [said]
    sweep = ["sweep", "--model", "brackets", "--text", "(()())", "--quantity", "c", "--step", "4", "--value", "nan"]
    assert main([*sweep, "-o", str(tmp_path / "m.npz")]) == 0
    effect, estimate = (np.load(tmp_path / "m.npz")[k] for k in ("effect", "estimate"))
    bad = [int((~np.isfinite(a)).sum()) for a in (effect, estimate)]
    assert capsys.readouterr().err.splitlines() == [f"lstm-tui: warning: {bad[0]} cells of the effect map and "
                                                    f"{bad[1]} cells of the estimate are not finite (NaN or inf)"]


def test_sweep_warns_of_an_estimate_that_is_not_finite(tmp_path, capsys):
    argv = ["sweep", "--model", "brackets", "--text", "(()())", "--quantity", "c", "--step", "4", "--value", "inf"]
    assert main([*argv, "-o", str(tmp_path / "m.npz")]) == 0
    estimate = np.load(tmp_path / "m.npz")["estimate"]
    bad = int((~np.isfinite(estimate)).sum())
    assert bad and f"{bad} cells of the estimate are not finite" in capsys.readouterr().err


def test_sweep_on_a_classifier_goes_by_class_id(tmp_path, capsys, rng):
    """A head of 3 outputs beside a vocabulary of 7 tokens: the outputs are classes, named by id, and a token
    of the vocabulary is not one of them (it was taken as a class, and past the classes: an internal error)."""
    from tests.formats.util import torch_lm, write_st

    arrays = torch_lm(rng)
    arrays["decoder.weight"], arrays["decoder.bias"] = arrays["decoder.weight"][:3], arrays["decoder.bias"][:3]
    write_st(tmp_path / "clf.safetensors", arrays, vocab=["a", "b", "c", " ", ".", "<unk>", "é"])
    argv = ["sweep", "--model", str(tmp_path / "clf.safetensors"), "--text", "abca", "--quantity", "c",
            "--value", "0", "--step", "4", "-o", str(tmp_path / "m.npz")]
    for token in ("b", "é"):
        assert main([*argv, "--token", token]) == 2
        assert "are classes, not the vocabulary's tokens: give a class id from 0 to 2" in capsys.readouterr().err
    assert main([*argv, "--token", "#1"]) == 0
    data = np.load(tmp_path / "m.npz")
    assert str(data["token"]) == "1" and int(data["token_id"]) == 1 and "log p('#1')" in capsys.readouterr().out
    assert main([*argv, "--force"]) == 0  # the default: the top class, by id
    data = np.load(tmp_path / "m.npz")
    assert str(data["token"]) == str(int(data["token_id"]))


@pytest.mark.parametrize("command", [["export", "-o", "t.npz"], ["show"], ["export", "-o", "t.csv"]])
@pytest.mark.parametrize(
    "source,words",
    [
        (["--source-inputs", "none.npy"], "none.npy: no such file"),
        (["--source-text", "(", "--source-inputs", "none.npy"], "give --source-text or --source-inputs, not both"),
        (["--source-text", ""], "--source-text '' has no char tokens"),
    ],
)
def test_a_source_given_is_checked_even_unused(tmp_path, monkeypatch, capsys, command, source, words):
    """Without a --set that reads src the source is not run, but a bad one is still refused, not ignored."""
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--model", "brackets", "--text", "(()", *source]) == 2
    assert words in capsys.readouterr().err and list(tmp_path.iterdir()) == []
