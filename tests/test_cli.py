"""The command line through main(argv), without starting the app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lstm_tui import load_model
from lstm_tui.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("lstm-tui ")


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for opt in ("--text", "--seed", "--hidden", "--version", "export"):
        assert opt in out


def test_export_writes_the_trace(tmp_path):
    out = tmp_path / "trace.npz"
    assert main(["export", "--text", "abc!", "--hidden", "8", "--seed", "3", "-o", str(out)]) == 0
    data = np.load(out, allow_pickle=False)
    trace = load_model(hidden=8, seed=3).trace("abc!")
    for q in "ifgoch":
        assert data[q].shape == (1, 4, 8)
        np.testing.assert_array_equal(data[q], trace.states[q])
    assert data["x"].shape == (4, 16)
    assert data["y"].shape == (4, 96)
    np.testing.assert_allclose(data["y"].sum(axis=1), 1, rtol=1e-5)
    assert data["tokens"].tolist() == ["a", "b", "c", "!"]


def test_export_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "trace.npz"
    out.write_bytes(b"precious")
    assert main(["export", "--text", "x", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and str(out) in err and "Traceback" not in err
    assert out.read_bytes() == b"precious"
    assert main(["export", "--text", "x", "-o", str(out), "--force"]) == 0
    assert np.load(out)["h"].shape == (1, 1, 24)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_into_missing_folder_is_one_line_error(tmp_path, capsys):
    assert main(["export", "--text", "x", "-o", str(tmp_path / "no" / "t.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not exist" in err


def test_bad_numbers_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--hidden", "0"])
    assert exc.value.code == 2
    assert "at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--seed", "9" * 5000], f"--seed: expected a seed from 0 to 2**63-1, got {'9' * 37}..."),
        (["--seed", "x" * 5000], f"--seed: expected a whole number, got '{'x' * 37}...'"),
        (["show", "--text", "abc", "--step", "9" * 5000], f"--step {'9' * 37}...: expected a step from 1 to 3"),
    ],
)
def test_a_number_of_5000_digits_is_out_of_range_and_echoed_clipped(argv, words, capsys):
    """int() raises ValueError past 4,300 digits ('expected a whole number', echoed whole): it is out of range."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's refusal
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1 and len(err) < 300


def test_word_tokens_mark_unknown(tmp_path):
    out = tmp_path / "w.npz"
    assert main(["export", "--tokens", "word", "--text", "the zebra", "-o", str(out)]) == 0
    data = np.load(out)
    assert data["tokens"].tolist() == ["the", "zebra"]
    assert data["unknown"].tolist() == [False, True]


def test_options_before_the_subcommand_count(tmp_path):
    out = tmp_path / "t.npz"
    assert main(["--hidden", "5", "--text", "xy", "export", "-o", str(out)]) == 0
    data = np.load(out)
    assert data["h"].shape == (1, 2, 5)


def test_list_models(capsys):
    assert main(["--list-models"]) == 0
    out = capsys.readouterr().out
    for name in ("brackets", "charlm", "copy", "random"):
        assert name in out


@pytest.mark.parametrize("extra", [{}, {"a-much-longer-demo-name": "a made-up model"}])
def test_list_models_lines_up_its_descriptions(extra, capsys, monkeypatch):
    from lstm_tui.core import registry

    monkeypatch.setattr(registry, "BUILTIN", {**registry.BUILTIN, **extra})
    assert main(["--list-models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(registry.BUILTIN)
    starts = set()
    for line, (name, text) in zip(lines, registry.BUILTIN.items()):
        assert line.startswith(name + "  ")  # at least two spaces after even the longest name
        starts.add(line.index(text))
    assert starts == {max(map(len, registry.BUILTIN)) + 2}  # one column, from the names themselves


def test_every_install_hint_has_one_wording_from_one_place(capsys):
    import re
    from pathlib import Path

    import lstm_tui
    from lstm_tui.core.errors import EXTRAS, install_hint

    tomllib = pytest.importorskip("tomllib")
    root = Path(lstm_tui.__file__).parent
    project = tomllib.loads((root.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    for extra, packages in EXTRAS.items():  # the hint installs what the extra does
        assert [re.split("[<>=]", p)[0] for p in extras[extra]] == list(packages), extra
    # Every "pip install" in the package comes from install_hint, never a wording of its own.
    for path in root.rglob("*.py"):
        if path.name != "errors.py":
            assert "pip install" not in path.read_text(encoding="utf-8"), path
    # The README installs from a clone, as the hints say; never the package's name from an index.
    readme = (root.parent / "README.md").read_text(encoding="utf-8")
    assert "lstm-tui[" not in readme and "pip install '.[serve]'" in readme
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps the line
    assert f"needs the serve extra: {install_hint('serve')}" in help_text and "lstm-tui[" not in help_text


def test_show_prints_one_step(capsys):
    assert main(["show", "--hidden", "6", "--text", "abc", "--step", "2", "--unit", "3"]) == 0
    out = capsys.readouterr().out
    trace = load_model(hidden=6).trace("abc")
    assert "step t = 2/3" in out
    assert f"{trace.states['c'][0, 1, 3]:+.4f}" in out
    assert "cᵗ = fᵗ·cᵗ⁻¹ + iᵗ·gᵗ" in out and "\x1b[" not in out  # plain text into a pipe
    assert "\nunit 3\nfᵗ" in out  # whose equations these are


@pytest.mark.parametrize(
    "argv,message",
    [
        (["show", "--text", "abc", "--step", "9"], "expected a step from 1 to 3"),
        (["show", "--text", "", "--step", "1"], "empty"),
        (["show", "--hidden", "4", "--text", "ab", "--unit", "4"], "expected a unit from 0 to 3"),
        (["--model", "charlm", "--hidden", "3", "export", "-o", "x.npz"], "only for the random model"),
        (["export", "--text", "ab", "-o", "x.csv", "--grad"], ".npz files only"),
        (["export", "--text", "ab", "-o", "x.npz", "--target", "top"], "--target goes with --grad"),
        (["export", "--text", "a", "--text-file", "f", "-o", "x.npz"], "not both"),
        (["export", "--text-file", "/no/such/file", "-o", "x.npz"], "no such file"),
        (["export", "--text-file", "", "-o", "x.npz"], "the file name is empty, expected a UTF-8 text file"),
        (["export", "--inputs", "", "-o", "x.npz"], "the file name is empty, expected a .npy file"),  # not '.: is a directory'
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv,where,nothing",
    [
        (["export", "--text", "", "-o", "t.csv"], "--text ''", "nothing to export"),
        (["export", "--text", "", "-o", "t.json"], "--text ''", "nothing to export"),
        (["export", "--text", "", "-o", "t.npz"], "--text ''", "nothing to export"),
        (["export", "--text", "", "-o", "t.npz", "--grad"], "--text ''", "nothing to export"),
        (["export", "--text-file", "empty.txt", "-o", "t.csv"], "empty.txt", "nothing to export"),
        (["export", "--tokens", "word", "--text", " \n ", "-o", "t.json"], "--text ' \\n '", "nothing to export"),
        (["show", "--text", ""], "--text ''", "nothing to show"),
        (["sweep", "--model", "charlm", "--text", "", "--quantity", "c", "--value", "0", "--step", "1",
          "-o", "t.npz"], "--text ''", "nothing to map"),
    ],
)
def test_an_empty_sequence_is_refused_alike_by_every_command(argv, where, nothing, capsys, tmp_path, monkeypatch):
    # export used to write a file of 0 steps (exit 0) where show refused: now both refuse, and write nothing
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"\xef\xbb\xbf")  # a UTF-8 BOM and nothing else
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lstm-tui: error: {where}: the sequence is empty") and err.count("\n") == 1
    assert err.endswith(f": expected at least one token ({nothing})\n")
    assert [p.name for p in tmp_path.iterdir()] == ["empty.txt"]


def test_a_model_whose_own_example_is_empty_is_refused_by_name(tmp_path, capsys):
    from safetensors.numpy import save_file

    from lstm_tui.formats import model_metadata, model_tensors

    model = load_model(hidden=4)  # a file's metadata "example" is the text commands start on
    save_file(model_tensors(model), tmp_path / "m.safetensors", metadata={**model_metadata(model), "example": ""})
    assert main(["show", "--model", str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "the example text of" in err and "the sequence is empty" in err and err.count("\n") == 1


def test_text_file(tmp_path, capsys):
    """A file's last line end is left out (with a note) when the model has no line end among its
    characters: it is the file's end, not a token to read as unknown. Line ends inside the text stay."""
    from dataclasses import replace

    from lstm_tui.cli import _last_line_end
    from lstm_tui.core.registry import load_model

    src = tmp_path / "in.txt"
    src.write_text("hé\nx\n", encoding="utf-8")
    out = tmp_path / "t.npz"
    assert main(["export", "--hidden", "4", "--text-file", str(src), "-o", str(out)]) == 0
    assert np.load(out)["tokens"].tolist() == ["h", "é", "\n", "x"]
    assert "note: the text file's last line end is left out" in capsys.readouterr().err
    model = load_model("random", hidden=4, seed=0)
    assert _last_line_end(model, "ab\r\n") == "ab" and _last_line_end(model, "ab") == "ab"
    assert _last_line_end(model, "ab\r") == "ab" and _last_line_end(model, "ab\n\n") == "ab\n"  # one line end
    knows = replace(model, vocab=(*model.vocab[:-1], "\n"))  # a char LM trained on lines reads its line end
    assert _last_line_end(knows, "ab\n") == "ab\n"
    cr = replace(model, vocab=(*model.vocab[:-1], "\r"))  # what it lacks goes, what it has stays
    assert _last_line_end(cr, "ab\r\n") == "ab\r"
    pytest.importorskip("h5py")
    keras = load_model(str(Path(__file__).parent / "data" / "keras" / "text_chars_given.keras"))
    assert keras.tokenizer.endswith(":character") and _last_line_end(keras, "abc\n") == "abc"
    assert _last_line_end(load_model("random", hidden=4, seed=0, tokenizer="word"), "a b\n") == "a b\n"
    src.write_bytes(b"\xff\xfe\xfa")
    assert main(["export", "--hidden", "4", "--text-file", str(src), "-o", str(out), "--force"]) == 2


def test_export_csv_and_json(tmp_path):
    assert main(["export", "--hidden", "4", "--text", "ab", "-o", str(tmp_path / "t.csv")]) == 0
    assert main(["export", "--hidden", "4", "--text", "ab", "-o", str(tmp_path / "t.json")]) == 0
    assert (tmp_path / "t.csv").read_text().startswith("step,token,layer,quantity,unit,value")
    assert (tmp_path / "t.json").read_text().startswith("{")


@pytest.mark.parametrize("name", ["lstm_1layer_f32", "lstm_2layer_f64", "gru_1layer_f32", "rnn_tanh_1layer_f64"])
def test_export_grad_sum_h_matches_pytorch(name, tmp_path):
    from conftest import REFERENCE, load_reference, tolerance

    tensors, meta, _ = load_reference(name)
    frames = tmp_path / "x.npy"
    np.save(frames, tensors["x"])
    out = tmp_path / "g.npz"
    argv = ["export", "--model", str(REFERENCE / f"{name}.safetensors"), "--prefix", "", "--inputs", str(frames)]
    assert main([*argv, "--grad", "--target", "sum-h", "-o", str(out)]) == 0
    data = np.load(out)
    tol = tolerance(meta, grad=True)
    np.testing.assert_allclose(data["grad_x"], tensors["grad.x"], rtol=0, atol=tol)
    for k in range(int(meta["num_layers"])):
        np.testing.assert_allclose(data["grad_h"][k], tensors[f"grad.h_l{k}"], rtol=0, atol=tol)
        if meta["cell"] == "lstm":
            np.testing.assert_allclose(data["grad_c"][k], tensors[f"grad.c_l{k}"], rtol=0, atol=tol)


@pytest.fixture
def opened(monkeypatch):
    """Run main() up to the app, recording what it would open instead of starting the TUI."""
    from lstm_tui.app import LstmApp

    seen = []
    monkeypatch.setattr(LstmApp, "run", lambda self: seen.append((self.model.name, self.text, self.retokenize)))
    return seen


def test_bare_command_opens_the_default_then_the_last_builtin(opened, tmp_path):
    from lstm_tui import settings

    assert main([]) == 0
    assert opened[-1][0] == "brackets" and opened[-1][1]  # the demo's own example text
    assert main(["--model", "charlm"]) == 0
    assert settings.load()[0].last_model == "charlm"
    assert main([]) == 0
    assert opened[-1][0] == "charlm"
    path = tmp_path / "m.safetensors"
    from lstm_tui.formats import save_model

    save_model(load_model(hidden=4), path)
    assert main(["--model", str(path)]) == 0
    assert main([]) == 0
    assert opened[-1][0] == "charlm"  # files are not remembered


def test_random_model_gets_the_tokenizer_switch(opened):
    assert main(["--hidden", "4"]) == 0
    retokenize = opened[-1][2]
    assert retokenize is not None and retokenize("word").tokenizer == "word"
    assert main(["--model", "copy"]) == 0
    assert opened[-1][2] is None


def test_model_help_names_every_model_file_ending():
    import re

    from lstm_tui.cli import build_parser
    from lstm_tui.formats.registry import MODEL_SUFFIXES

    action = next(a for a in build_parser()._actions if "--model" in a.option_strings)
    endings = set(re.findall(r"\.[a-z0-9]+(?:\.[a-z0-9]+)?", action.help))
    assert set(MODEL_SUFFIXES) <= endings


def test_a_bug_of_ours_is_one_line_and_the_traceback_on_request(monkeypatch, capsys):
    import lstm_tui.cli as cli

    def broken(args):
        raise AttributeError("'bytes' object has no attribute 'dtype'")

    monkeypatch.setattr(cli, "_show", broken)
    monkeypatch.delenv("LSTM_TUI_TRACEBACK", raising=False)
    assert cli.main(["show", "--step", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: AttributeError" in err and "LSTM_TUI_TRACEBACK=1" in err
    monkeypatch.setenv("LSTM_TUI_TRACEBACK", "1")
    with pytest.raises(AttributeError):
        cli.main(["show", "--step", "1"])


@pytest.mark.parametrize("text", ["-(())", "-", "--x"])
def test_a_text_beginning_with_a_dash_is_the_text(capsys, text):
    """argparse takes a value beginning with '-' for an option; --text's value is any text."""
    if text.startswith("--"):  # an option's look: argparse's own refusal, as for a missing value
        with pytest.raises(SystemExit) as stop:
            main(["show", "--model", "brackets", "--text", text])
        assert stop.value.code == 2
        assert "--text: expected one argument" in capsys.readouterr().err
        return
    assert main(["show", "--model", "brackets", "--text", text]) == 0
    spaced = capsys.readouterr().out
    assert main(["show", "--model", "brackets", f"--text={text}"]) == 0
    assert capsys.readouterr().out == spaced and repr(text[0]) in spaced


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--model", "no/such/model"], "no/such/model: no such file"),
        (["--model", "nosuchmodel"], "unknown model 'nosuchmodel': expected one of brackets"),
        (["-o", ""], "the output file's name is empty"),
    ],
)
def test_a_missing_path_or_an_empty_output_name_is_said_plainly(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    base = {"--model": "brackets", "-o": "t.npz"}
    base.update(dict(zip(argv[::2], argv[1::2])))
    assert main(["export", *[a for kv in base.items() for a in kv]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and list(tmp_path.iterdir()) == []


def test_show_in_a_narrow_terminal_keeps_every_number_whole(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "40")
    assert main(["show", "--model", "brackets", "--text", "(()", "--step", "2"]) == 0
    narrow = capsys.readouterr().out
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["show", "--model", "brackets", "--text", "(()", "--step", "2"]) == 0
    wide = capsys.readouterr().out
    table = [line.split() for line in wide.splitlines() if line.strip()[:1].isdigit()]
    assert len(table) == 24 and "…" not in narrow
    assert [line.split() for line in narrow.splitlines() if line.strip()[:1].isdigit()][:24] == table


def test_notes_follow_the_work_and_a_refusal_stays_one_line(tmp_path, monkeypatch, capsys):
    """The reader's notes on a file come once the command has done its work: before a refusal they made it
    two lines or more."""
    pytest.importorskip("h5py")
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    keras = Path(__file__).parent / "data" / "keras" / "gru_seq.keras"
    assert main(["export", "--model", str(keras), "-o", "t.npz"]) == 2  # frames needed: one line, no notes
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstm-tui: error:") and "note:" not in err
    np.save(tmp_path / "x.npy", np.zeros((4, 3), dtype=np.float32))
    assert main(["export", "--model", str(keras), "--inputs", "x.npy", "-o", "t.npz"]) == 0
    out = capsys.readouterr()
    assert "note: head 'dense_1' has activation sigmoid" in out.err and out.out.startswith("wrote")


def test_every_option_that_takes_a_value_is_glued():
    """glue() joins the long options that take a value to it; a new option must be among them."""
    import argparse

    from lstm_tui.cli.parser import FREE_VALUES, build_parser, glue

    parser, seen = build_parser(), set()
    parsers = [parser]
    while parsers:
        p = parsers.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers += list(action.choices.values())
            elif action.nargs is None and action.option_strings:
                seen |= {s for s in action.option_strings if s.startswith("--")}
    assert seen == set(FREE_VALUES)
    assert glue(["--vocab", "serve", "serve", "--step", "-1", "--force", "-o", "x"]) == [
        "--vocab=serve", "serve", "--step=-1", "--force", "-o", "x"]


def test_options_are_known_only_as_spelled(capsys):
    """argparse took --val for --value; glue() and serve's forwarding know options by their names only."""
    with pytest.raises(SystemExit) as stop:
        main(["sweep", "--model", "brackets", "--quantity", "c", "--step", "2", "--val", "1", "-o", "m.npz"])
    assert stop.value.code == 2 and "--val" in capsys.readouterr().err


def test_show_runs_a_forward_model_only_up_to_the_step(tmp_path, monkeypatch, capsys):
    """show --step 2 of a long text ran every step; a model that reads forwards needs the first 2 (the header
    still counts the whole input). A model with a backward direction runs them all."""
    from lstm_tui.render import show

    seen = []
    real = show.step_report
    monkeypatch.setattr(show, "step_report", lambda model, trace, *a: seen.append(trace) or real(model, trace, *a))
    text = "(()(()))" * 50
    assert main(["show", "--model", "brackets", "--text", text, "--step", "2"]) == 0
    assert "step t = 2/400" in capsys.readouterr().out
    full = load_model("brackets").trace(text)
    assert seen[-1].steps == 2
    for q in ("c", "h", "y"):
        np.testing.assert_array_equal(getattr(seen[-1], q, None) if q == "y" else seen[-1].states[q][0][1],
                                      full.y[:2] if q == "y" else full.states[q][0][1])
    frames = tmp_path / "x.npy"
    np.save(frames, np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32))
    bi = Path(__file__).parent / "data" / "torch" / "lstm_bi_2layer.safetensors"
    assert main(["show", "--model", str(bi), "--prefix", "", "--inputs", str(frames), "--step", "2"]) == 0
    assert seen[-1].steps == 9 and "step t = 2/9" in capsys.readouterr().out  # the backward half read steps 2..9
