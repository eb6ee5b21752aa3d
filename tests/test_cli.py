"""The command line through main(argv), without starting the app."""

from __future__ import annotations

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


def test_word_tokens_mark_unknown(tmp_path):
    out = tmp_path / "w.npz"
    assert main(["export", "--tokens", "word", "--text", "the zebra", "-o", str(out)]) == 0
    data = np.load(out)
    assert data["tokens"].tolist() == ["the", "zebra"]
    assert data["unknown"].tolist() == [False, True]
