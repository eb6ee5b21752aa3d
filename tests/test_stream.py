"""Streaming export: an .npz written chunk by chunk is the file a full trace writes.

A chunk's input and head products are BLAS matrix products whose last bits
depend on how many rows they have, so a run cut into chunks can differ from
one computed in a single call by rounding (checked to 1e-6 here). Against a
full trace made of the same chunks, the streamed file must be the same to
the byte, member by member: names, order, headers and data.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from lstm_tui.core import Layer, Model, compiled, random_model
from lstm_tui.core.checkpoint import concat
from lstm_tui.core.errors import UserError
from lstm_tui.core.export import write_npz
from lstm_tui.core.stream import chunk_steps, chunks, write_npz_stream

TEXT = "the streamed trace (of ((nested)) brackets) and words, " * 9


def members(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        return [(name, zf.read(name)) for name in zf.namelist()]


def same_chunks_trace(model: Model, inputs, steps: int):
    """A full trace made of the chunks the streaming writer computes."""
    return concat(list(chunks(model, *model.prepare(inputs), steps)))


@pytest.fixture(params=[False, "serial", "parallel"], ids=["numpy", "compiled-1-core", "compiled-all-cores"])
def path_used(request, monkeypatch):
    """The loop every chunk runs: NumPy's, or one compiled kernel (the two kernels may
    differ in the last bit, and unpinned each block takes the one that has lately been faster)."""
    monkeypatch.setenv(compiled.ENV, "auto")
    if request.param and not compiled.warm_up(wait=True):
        pytest.skip("numba is not installed")
    with compiled.using(request.param):
        yield request.param


@pytest.mark.parametrize("steps", [7, 64, 10_000])
@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("lstm", 2), ("gru", 2), ("rnn_tanh", 1)])
def test_streamed_file_is_the_full_traces_file(tmp_path, path_used, cell, layers, steps):
    m = random_model(hidden=12, layers=layers, cell=cell, embed=5, seed=2)
    streamed, whole = tmp_path / "s.npz", tmp_path / "w.npz"
    _, T = write_npz_stream(m, TEXT, streamed, steps=steps)
    assert T == len(TEXT)
    write_npz(same_chunks_trace(m, TEXT, steps), whole)
    assert members(streamed) == members(whole)
    # And against a trace computed in one call: the same arrays to rounding.
    full = m.trace(TEXT)
    if steps >= T:
        write_npz(full, whole, force=True)
        assert members(streamed) == members(whole)
    with np.load(streamed) as got:
        want = full.arrays()
        assert list(got.keys()) == [*want, "cell"]
        for name, a in want.items():
            assert got[name].dtype == a.dtype and got[name].shape == a.shape, name
            if a.dtype.kind == "f":
                np.testing.assert_allclose(got[name], a, rtol=1e-6, atol=1e-6, err_msg=name)
            else:
                np.testing.assert_array_equal(got[name], a)
        assert str(got["cell"]) == cell


def test_layers_of_different_widths_are_streamed_per_layer(tmp_path, path_used):
    rng = np.random.default_rng(0)

    def lstm(H, E):
        return Layer("lstm", *(rng.uniform(-0.3, 0.3, s).astype(np.float32) for s in ((4 * H, E), (4 * H, H), (4 * H,), (4 * H,))))

    base = random_model(hidden=6, embed=5, seed=1)
    m = Model(layers=(lstm(6, 5), lstm(9, 6)), embedding=base.embedding,
              head_W=rng.standard_normal((len(base.vocab), 9)).astype(np.float32),
              head_b=np.zeros(len(base.vocab), np.float32), vocab=base.vocab)
    assert not m.uniform
    streamed, whole = tmp_path / "s.npz", tmp_path / "w.npz"
    write_npz_stream(m, TEXT, streamed, steps=50)
    write_npz(same_chunks_trace(m, TEXT, 50), whole)
    assert members(streamed) == members(whole)
    with np.load(streamed) as got:
        assert got["h_l0"].shape == (len(TEXT), 6) and got["h_l1"].shape == (len(TEXT), 9)
        np.testing.assert_allclose(got["c_l1"], m.trace(TEXT).states["c"][1], atol=1e-6)


def test_frames_words_and_an_empty_input(tmp_path):
    m = random_model(hidden=8, embed=4, seed=3)
    frames = np.random.default_rng(4).standard_normal((130, 4)).astype(np.float32)
    bare = Model(layers=m.layers, name="bare")  # no embedding, no head: no ids, no y
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    write_npz_stream(bare, frames, a, steps=16)
    write_npz(same_chunks_trace(bare, frames, 16), b)
    assert members(a) == members(b) and "y.npy" not in dict(members(a)) and "ids.npy" not in dict(members(a))
    # Words of many lengths: the tokens array is as wide as the longest, in every chunk.
    w = random_model(hidden=8, embed=4, seed=3, tokenizer="word")
    text = "a bb ccc unbelievably long-winded word and zzzzqx, then more short ones " * 4
    write_npz_stream(w, text, a, steps=5, force=True)
    write_npz(w.trace(text), b, force=True)
    with np.load(a) as got, np.load(b) as want:
        assert got["tokens"].dtype == want["tokens"].dtype
        np.testing.assert_array_equal(got["tokens"], want["tokens"])
        np.testing.assert_array_equal(got["unknown"], want["unknown"])
    write_npz_stream(m, "", a, force=True)
    write_npz(m.trace(""), b, force=True)
    assert members(a) == members(b)


def test_bidirectional_models_are_traced_whole(tmp_path):
    from lstm_tui.core.cells import Bidirectional

    rng = np.random.default_rng(5)

    def gru(reverse):
        return Layer("gru", *(rng.uniform(-0.4, 0.4, s).astype(np.float32) for s in ((18, 3), (18, 6), (18,), (18,))),
                     reverse=reverse)

    m = Model(layers=(Bidirectional(gru(False), gru(True)),))
    frames = rng.standard_normal((40, 3)).astype(np.float32)
    write_npz_stream(m, frames, tmp_path / "a.npz", steps=8)
    write_npz(m.trace(frames), tmp_path / "b.npz")
    assert members(tmp_path / "a.npz") == members(tmp_path / "b.npz")


def test_existing_files_folders_and_failures(tmp_path, monkeypatch):
    m = random_model(hidden=8, embed=4, seed=3)
    out = tmp_path / "t.npz"
    out.write_bytes(b"old")
    with pytest.raises(UserError, match="already exists"):
        write_npz_stream(m, "abc", out)
    assert out.read_bytes() == b"old"
    with pytest.raises(UserError, match="does not exist"):
        write_npz_stream(m, "abc", tmp_path / "nowhere" / "t.npz")

    # A failure half-way leaves the old file, and no temporary or spool file behind.
    import lstm_tui.core.stream as stream

    def broken(*args):
        yield from list(chunks(*args))[:2]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stream, "chunks", broken)
    with pytest.raises(UserError, match="No space left"):
        write_npz_stream(m, TEXT, out, force=True, steps=10)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]
    monkeypatch.undo()
    write_npz_stream(m, TEXT, out, force=True, steps=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]
    with np.load(out) as got:
        assert got["h"].shape == (1, len(TEXT), 8)


def test_chunks_fit_their_budget():
    m = random_model(hidden=128, embed=16, seed=0)
    n = chunk_steps(m)
    tr = next(chunks(m, *m.prepare("x" * (3 * n)), n))
    size = sum(a.nbytes for a in tr.arrays().values()) + tr.xW.nbytes + tr.hW.nbytes
    assert tr.steps == n and size <= 48 << 20


def test_cli_export_streams_the_file_a_full_trace_writes(tmp_path, capsys):
    from lstm_tui import load_model
    from lstm_tui.cli import main

    out = tmp_path / "t.npz"
    assert main(["export", "--hidden", "8", "--text", TEXT, "-o", str(out)]) == 0
    assert f"{len(TEXT)} steps, 1 layer(s), H=8" in capsys.readouterr().out
    m = load_model("random", hidden=8, seed=0, layers=1, cell="lstm", tokenizer="char")
    write_npz(m.trace(TEXT), tmp_path / "w.npz")
    assert members(out) == members(tmp_path / "w.npz")
    assert main(["export", "--hidden", "8", "--text", TEXT, "-o", str(out)]) == 2
    assert "already exists (use --force to overwrite)" in capsys.readouterr().err


def test_cli_refuses_a_long_text_export_before_tracing_it(tmp_path, capsys, monkeypatch):
    from lstm_tui.cli import main

    def never(*args, **kwargs):
        raise AssertionError("traced")

    monkeypatch.setattr(Model, "trace", never)
    text = tmp_path / "long.txt"
    text.write_text("ab" * 300_000)
    assert main(["export", "--hidden", "64", "--text-file", str(text), "-o", str(tmp_path / "t.csv")]) == 2
    assert "too many for a text format" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_cli_show_reads_a_long_input_from_checkpoints(capsys, monkeypatch):
    from lstm_tui.cli import main
    from lstm_tui.core import tracing

    argv = ["show", "--hidden", "8", "--text", TEXT, "--step", "300", "--unit", "3"]
    assert main(argv) == 0
    whole = capsys.readouterr().out
    plain, kinds = tracing.trace, []

    def small_limit(model, inputs):
        tr = plain(model, inputs, limit=0, window=64)
        kinds.append(type(tr).__name__)
        return tr

    monkeypatch.setattr(tracing, "trace", small_limit)
    assert main(argv) == 0
    assert kinds == ["CheckpointedTrace"] and capsys.readouterr().out == whole


def test_the_models_own_initial_state_starts_the_stream(tmp_path):
    # A file may carry its initial state (ONNX initial_h / initial_c): the first chunk starts from it.
    import dataclasses

    base = random_model(hidden=8, embed=4, seed=6)
    m = dataclasses.replace(base, meta={"h0": [np.full(8, 0.3, np.float32)], "c0": [np.full(8, -0.7, np.float32)]})
    whole = m.trace(TEXT)
    assert not np.allclose(whole.states["h"][0, 0], base.trace(TEXT).states["h"][0, 0])
    for steps in (10_000, 9):
        write_npz_stream(m, TEXT, tmp_path / "s.npz", steps=steps, force=True)
        with np.load(tmp_path / "s.npz") as got:
            np.testing.assert_allclose(got["c"], whole.states["c"], atol=1e-6)
    write_npz(whole, tmp_path / "w.npz")
    write_npz_stream(m, TEXT, tmp_path / "s.npz", force=True)
    assert members(tmp_path / "s.npz") == members(tmp_path / "w.npz")
