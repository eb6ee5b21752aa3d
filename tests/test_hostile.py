"""Hostile input found by hand: each case ends in one line on stderr and exit code 2, files intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import save_file

from lstm_tui.cli import main
from lstm_tui import formats as io
from lstm_tui.core.registry import load_model


def one_line_error(argv, capsys, *fragments):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "\x1b" not in err and "\x07" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture
def lm_file(tmp_path):
    model = load_model("random", hidden=4)
    tensors = io.model_tensors(model)
    return tmp_path, model, tensors


def test_deeply_nested_json_vocabulary(lm_file, capsys):
    tmp, model, tensors = lm_file
    path = tmp / "deep.safetensors"
    meta = io.model_metadata(model)
    meta["vocab"] = "[" * 100_000 + "]" * 100_000
    save_file(tensors, str(path), metadata=meta)
    one_line_error(["export", "--model", str(path), "--text", "ab", "-o", str(tmp / "x.npz")], capsys, "not a JSON list")
    deep = tmp / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    bare = tmp / "bare.safetensors"
    save_file(tensors, str(bare))
    argv = ["export", "--model", str(bare), "--vocab", str(deep), "--text", "ab", "-o", str(tmp / "x.npz")]
    one_line_error(argv, capsys, "deep.json")


def test_npz_vocabulary_of_bytes_that_are_not_text(lm_file, capsys):
    tmp, model, tensors = lm_file
    path = tmp / "m.npz"
    vocab = np.array([v.encode("utf-8") for v in model.vocab[:-1]] + [b"\xff"])
    np.savez(path, **tensors, vocab=vocab)
    one_line_error(["export", "--model", str(path), "--text", "ab", "-o", str(tmp / "x.npz")], capsys, "not text")


def test_layer_number_with_thousands_of_digits(lm_file, capsys):
    tmp, _, tensors = lm_file
    bad = {k.replace("_l0", "_l" + "1" * 5000): v for k, v in tensors.items() if k.startswith("rnn.")}
    path = tmp / "long.safetensors"
    save_file(bad, str(path))
    err = one_line_error(["export", "--model", str(path), "-o", str(tmp / "x.npz")], capsys, "no recurrent weights")
    assert len(err) < 1000


@pytest.mark.parametrize("option", ["-o", "--model", "--text-file", "--inputs"])
def test_names_too_long_for_the_file_system(option, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    long = "a" * 300 + ".npz"
    argv = ["export", "--hidden", "4", "--text", "ab", "-o", "out.npz"]
    if option == "-o":
        argv[-1] = long
    elif option == "--text-file":
        argv = ["export", "--hidden", "4", "--text-file", long, "-o", "out.npz"]
    else:
        argv = ["export", option, long, "-o", "out.npz"]
    one_line_error(argv, capsys)


def test_bytes_that_are_not_utf8_on_the_command_line(tmp_path, capsys):
    text = os.fsdecode(b"(\xff)")  # what argv holds for bytes that are not UTF-8
    for suffix in ("json", "csv", "npz"):
        assert main(["export", "--hidden", "4", "--text", text, "-o", str(tmp_path / f"x.{suffix}")]) == 0
    doc = json.loads((tmp_path / "x.json").read_text(encoding="utf-8"))
    assert doc["tokens"] == ["(", "\ufffd", ")"]


def test_random_model_too_large_is_refused_at_once(capsys):
    start = time.monotonic()
    one_line_error(["show", "--hidden", "100000000"], capsys, "GB of weights")
    one_line_error(["show", "--layers", "100000000"], capsys, "GB of weights")
    one_line_error(["show", "--layers", "50000"], capsys, "a random model of 50000 layers: at most 64")  # 0.96 GB
    assert time.monotonic() - start < 5  # refused before allocating anything


def test_text_export_too_large_for_csv(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("lstm_tui.core.export.MAX_TEXT_EXPORT", 1000)
    one_line_error(["export", "--hidden", "8", "--text", "abcdefgh", "-o", str(tmp_path / "x.csv")], capsys, ".npz")
    assert not list(tmp_path.iterdir())


def test_text_file_larger_than_the_limit(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("lstm_tui.core.inputs.MAX_TEXT_BYTES", 100)
    big = tmp_path / "big.txt"
    big.write_text("(" * 101)
    one_line_error(["export", "--text-file", str(big), "-o", str(tmp_path / "x.npz")], capsys, "larger than")


def test_npz_that_unpacks_too_large_is_refused_before_loading(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("lstm_tui.formats.arrays.MAX_NPZ_BYTES", 10_000)
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, padding=np.zeros(100_000, dtype=np.float32))
    assert path.stat().st_size < 10_000
    one_line_error(["export", "--model", str(path), "-o", str(tmp_path / "x.npz")], capsys, "unpacks to")


def test_escapes_in_an_output_name_are_shown_inert(tmp_path, capsys):
    name = tmp_path / "x.\x1b]0;pwn\x07"
    one_line_error(["export", "--hidden", "4", "--text", "a", "-o", str(name)], capsys, "\\x1b")


def test_export_never_writes_over_its_own_input(lm_file, capsys):
    tmp, model, tensors = lm_file
    path = tmp / "m.npz"
    np.savez(path, **tensors, vocab=np.array(model.vocab))
    before = path.read_bytes()
    one_line_error(["export", "--model", str(path), "--text", "ab", "-o", str(path), "--force"], capsys, "--model file")
    assert path.read_bytes() == before


def test_exported_files_keep_the_usual_permissions(tmp_path):
    out = tmp_path / "x.npz"
    old = os.umask(0o022)
    try:
        assert main(["export", "--hidden", "4", "--text", "a", "-o", str(out)]) == 0
        assert out.stat().st_mode & 0o777 == 0o644
        out.chmod(0o640)
        assert main(["export", "--hidden", "4", "--text", "a", "-o", str(out), "--force"]) == 0
        assert out.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_weights_that_overflow_float32_are_refused(lm_file, capsys):
    tmp, model, tensors = lm_file
    tensors = dict(tensors)
    tensors["decoder.bias"] = np.full(tensors["decoder.bias"].shape, 1e300)  # float64 beside float32 weights
    path = tmp / "big.safetensors"
    save_file(tensors, str(path), metadata=io.model_metadata(model))
    one_line_error(["export", "--model", str(path), "--text", "ab", "-o", str(tmp / "x.npz")], capsys, "too large")


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--hidden", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "at least 1" in err and "--help" in err


def test_sigterm_leaves_no_temporary_file(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("(()) " * 100_000)
    out = tmp_path / "x.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstm_tui", "export", "--text-file", str(big), "-o", str(out)],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert [p.name for p in tmp_path.iterdir()] == ["big.txt"] or out.exists()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
