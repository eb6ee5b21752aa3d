"""Vocabulary files and feature frames (core.inputs)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from lstm_tui.core import ModelFileError
from lstm_tui.core.errors import InputError
from lstm_tui.core.inputs import load_frames, read_text, read_vocab


@pytest.mark.parametrize(
    "content, match",
    [
        ("a\n\nb\n", "line 2 is empty"),
        ("a\nb\na\n", r"repeats the token 'a' \(ids 0 and 2\)"),
        ("", "vocabulary is empty"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_vocab_files(tmp_path, content, match):
    path = tmp_path / "v.txt"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(ModelFileError, match=match):
        read_vocab(path)


def test_bad_vocab_file_paths(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        read_vocab(tmp_path / "none.txt")
    with pytest.raises(ModelFileError, match="^the file name is empty, expected a vocabulary file$"):
        read_vocab("")  # Path("") is ".", which is a folder
    with pytest.raises(ModelFileError, match="is a directory"):
        read_vocab(tmp_path)
    (tmp_path / "v.json").write_text('[{"a": 1}]')
    with pytest.raises(ModelFileError, match="not a list of token strings"):
        read_vocab(tmp_path / "v.json")
    (tmp_path / "w.json").write_text("[1, 2")
    with pytest.raises(ModelFileError, match="not a JSON list"):
        read_vocab(tmp_path / "w.json")


@pytest.mark.parametrize(
    "text, words",
    [
        ('{"a": 0, "b": ' + "9" * 5000 + "}", "a whole number of 5,000 digits"),  # int() raises ValueError past 4,300
        ("[" * 100_000, "arrays or objects nested too deeply"),  # a RecursionError
    ],
    ids=["5000 digits", "100000 ["],
)
def test_a_json_vocabulary_too_long_a_number_or_too_deep_is_refused_in_one_line(tmp_path, text, words):
    (tmp_path / "v.json").write_text(text)
    with pytest.raises(ModelFileError, match=f"v.json: not a JSON list of tokens \\({words}") as exc:
        read_vocab(tmp_path / "v.json")
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 300


# --- feature frames ---------------------------------------------------------------------


def test_an_empty_file_name_is_said_to_be_empty():
    """Path("") is "." (a folder): the message said '.: is a directory'."""
    with pytest.raises(InputError, match="^the file name is empty, expected a .npy file$"):
        load_frames("")
    with pytest.raises(InputError, match="^the file name is empty, expected a UTF-8 text file$"):
        read_text("")


def test_load_frames(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(load_frames(tmp_path / "x.npy", 3), x)
    cases = {
        "wrong_e": (np.zeros((4, 2)), r"has shape \[4, 2\], expected \[T, 3\]"),
        "one_dim": (np.zeros(4), r"has shape \[4\], expected \[T, 3\]"),
        "nan": (np.array([[0, 0, 0], [0, np.nan, 0]]), r"NaN or Inf values \(first in frame 2\)"),
        "empty": (np.zeros((0, 3)), "has no frames"),
        "text": (np.array([["a", "b", "c"]]), "holds <U1 values"),
        "objects": (np.array([None, 1], dtype=object), "Python objects"),
    }
    for name, (a, match) in cases.items():
        np.save(tmp_path / f"{name}.npy", a, allow_pickle=True)
        with pytest.raises(InputError, match=match):
            load_frames(tmp_path / f"{name}.npy", 3)
    np.savez(tmp_path / "z.npz", x=x)
    with pytest.raises(InputError, match="is an .npz archive"):
        load_frames(tmp_path / "z.npz", 3)
    with pytest.raises(InputError, match="no such file"):
        load_frames(tmp_path / "none.npy", 3)
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputError, match="not a valid .npy"):
        load_frames(tmp_path / "bad.npy", 3)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no named pipes here")
def test_a_pipe_with_no_writer_is_refused_as_a_model_or_frames_never_waited_on(tmp_path):
    """A named pipe blocks its reader until something writes: a model or frames file must be a regular file."""
    import os

    from lstm_tui.formats import load_file

    for name in ("m.safetensors", "m.onnx", "x.npy"):
        os.mkfifo(tmp_path / name)
    for name in ("m.safetensors", "m.onnx"):
        with pytest.raises(ModelFileError, match="is not a regular file"):
            load_file(tmp_path / name)
    with pytest.raises(InputError, match=r"x.npy: is not a regular file \(a pipe or a device\), expected a .npy file"):
        load_frames(tmp_path / "x.npy")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's poll on a pipe that never had a writer")
def test_a_pipe_is_read_when_written_and_refused_when_nothing_writes(tmp_path, monkeypatch):
    """--text-file and --vocab may be pipes (<(command)); one that nothing writes to waited forever."""
    import threading

    from lstm_tui.core import inputs

    monkeypatch.setattr(inputs, "PIPE_WAIT", 0.3)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="a pipe that nothing wrote to in 0.3 s"):
        inputs.read_text(fifo)
    monkeypatch.setattr(inputs, "PIPE_WAIT", 30.0)  # a writer that a busy machine starts late is still read

    def write():
        with open(fifo, "w", encoding="utf-8") as fh:
            fh.write("a\nb\n")

    writer = threading.Thread(target=write)
    writer.start()  # it opens the pipe while the reader waits: the reader gets everything, to the end
    assert inputs.read_vocab(fifo) == ("a", "b")
    writer.join(timeout=5)


def test_a_json_object_of_token_ids_is_a_vocabulary(tmp_path):
    """PyTorch's tutorials keep word_to_ix, {token: id}: read in the order of the ids; ids that are not 0 to V-1
    each once are refused."""
    path = tmp_path / "w.json"
    path.write_text('{"dog": 2, "the": 0, "ate": 1}')
    assert read_vocab(path) == ("the", "ate", "dog")
    for bad in ('{"a": 0, "b": 2}', '{"a": 0, "b": 0}', '{"a": "0"}', '{"a": true}'):
        path.write_text(bad)
        with pytest.raises(ModelFileError, match="ids are not 0 to"):
            read_vocab(path)
