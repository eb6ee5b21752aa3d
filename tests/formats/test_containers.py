"""Damaged, hostile and pickled containers: one line, nothing run, nothing written."""

from __future__ import annotations

import os
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_tui.core import ModelFileError
from lstm_tui.formats import load_file

from .util import torch_lm, torch_rnn, write_npz, write_st


# --- malformed and hostile files -----------------------------------------------------


def test_missing_directory_empty(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_file(tmp_path / "none.safetensors")
    (tmp_path / "d.safetensors").mkdir()
    with pytest.raises(ModelFileError, match="is a directory"):
        load_file(tmp_path / "d.safetensors")
    for ext in ("safetensors", "npz", "pt"):
        (tmp_path / f"e.{ext}").write_bytes(b"")
        with pytest.raises(ModelFileError, match="is empty"):
            load_file(tmp_path / f"e.{ext}")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable(tmp_path, rng):
    path = write_st(tmp_path / "m.safetensors", torch_rnn(rng))
    path.chmod(0)
    with pytest.raises(ModelFileError, match="cannot read"):
        load_file(path)


def test_unknown_types_and_damaged_keras_files(tmp_path):
    """The reader is picked by magic bytes and suffix: an HDF5 head goes to the Keras reader whatever the name."""
    (tmp_path / "m.bin").write_bytes(np.random.default_rng(0).bytes(100))
    with pytest.raises(ModelFileError, match="m.bin: unknown file type '.bin': expected .safetensors"):
        load_file(tmp_path / "m.bin")
    for ext in (".h5", ".keras", ".bin"):
        path = tmp_path / f"m{ext}"
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
        with pytest.raises(ModelFileError, match=rf"m{ext}: it is not a valid HDF5 file") as exc:
            load_file(path)
        assert "\n" not in str(exc.value)


def test_damaged_safetensors(tmp_path, rng):
    good = write_st(tmp_path / "good.safetensors", torch_rnn(rng)).read_bytes()
    cases = {
        "truncated": good[: len(good) - 7],
        "header cut": good[:30],
        "header bytes": good[:12] + b"\x00\xff" + good[14:],
        "huge header": (2**40).to_bytes(8, "little") + b"{}",
        "random": np.random.default_rng(0).bytes(500),
        "tiny": b"abc",
    }
    for what, data in cases.items():
        path = tmp_path / "bad.safetensors"
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match=r"bad.safetensors: not a valid safetensors file \(") as exc:
            load_file(path)
        assert "\n" not in str(exc.value), what


def test_damaged_npz(tmp_path, rng):
    good = write_npz(tmp_path / "good.npz", torch_rnn(rng)).read_bytes()
    cases = {
        "truncated": good[: len(good) // 2],
        "random": np.random.default_rng(1).bytes(500),
        "pickle": pickle.dumps({"weight_ih_l0": [1.0]}),
    }
    for what, data in cases.items():
        path = tmp_path / "bad.npz"
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match=r"bad.npz: not (a valid|an) .npz archive") as exc:
            load_file(path)
        assert "\n" not in str(exc.value), what
    # a member whose bytes were damaged: the CRC check catches it
    path = tmp_path / "crc.npz"
    with zipfile.ZipFile(tmp_path / "good.npz") as z:
        info = z.infolist()[0]
    data = bytearray(good)
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"crc.npz: not a valid .npz archive \(.*CRC"):
        load_file(path)


def test_npz_with_object_arrays_is_refused(tmp_path, rng):
    path = tmp_path / "obj.npz"
    np.savez(path, **torch_rnn(rng), vocab=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="obj.npz: vocab holds Python objects"):
        load_file(path)


def test_npy_with_an_npz_name(tmp_path):
    with open(tmp_path / "one.npz", "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(ModelFileError, match="holds a single .npy array"):
        load_file(tmp_path / "one.npz")


@pytest.mark.parametrize("member", ["notes.txt", "w.npy"])
def test_zip_member_that_is_not_an_array_is_refused(tmp_path, member):
    # np.load hands back a member without NumPy's header as raw bytes
    import zipfile

    with zipfile.ZipFile(tmp_path / "z.npz", "w") as z:
        z.writestr(member, "not an array at all")
    with pytest.raises(ModelFileError, match=r"z.npz: .* is not a NumPy array"):
        load_file(tmp_path / "z.npz")


class _Payload:
    """A pickle that would create a directory when unpickled."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_pt_without_torch_explains_the_conversion(tmp_path, monkeypatch):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Payload(target)))
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails
    with pytest.raises(ModelFileError) as exc:
        load_file(path)
    assert 'safetensors.torch.save_file(model.state_dict(), "model.safetensors")' in str(exc.value)
    assert not target.exists()


def test_pt_payload_never_runs_with_torch(tmp_path):
    pytest.importorskip("torch")
    target = tmp_path / "pwned"
    for ext in (".pt", ".pth"):
        path = tmp_path / f"evil{ext}"
        path.write_bytes(pickle.dumps(_Payload(target)))
        with pytest.raises(ModelFileError, match=r"holds a whole pickled object \(posix.mkdir\)") as exc:
            load_file(path)
        assert "\n" not in str(exc.value) and "\x1b" not in str(exc.value)
    assert not target.exists()
    (tmp_path / "rand.pt").write_bytes(np.random.default_rng(2).bytes(300))
    with pytest.raises(ModelFileError):
        load_file(tmp_path / "rand.pt")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=600), ext=st.sampled_from([".safetensors", ".npz"]))
def test_fuzz_random_bytes(tmp_path, data, ext):
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(data)
    with pytest.raises(ModelFileError):
        load_file(path)


@pytest.fixture(scope="module")
def good_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    rng = np.random.default_rng(5)
    arrays = torch_lm(rng, E=3, H=2, V=4)
    return {
        ".safetensors": write_st(folder / "m.safetensors", arrays, vocab=list("abcd")).read_bytes(),
        ".npz": write_npz(folder / "m.npz", arrays, vocab=list("abcd")).read_bytes(),
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ext=st.sampled_from([".safetensors", ".npz"]), cut=st.integers(1, 4000), pos=st.integers(0, 4000),
       byte=st.integers(0, 255))
def test_fuzz_damaged_files_load_or_fail_cleanly(tmp_path, good_files, ext, cut, pos, byte):
    data = bytearray(good_files[ext][: max(1, len(good_files[ext]) - cut % 64)] if cut % 3 == 0 else good_files[ext])
    data[pos % len(data)] = byte
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(bytes(data))
    try:
        model = load_file(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc)
    else:  # a damaged name or value can still make a model: it must be a whole, finite one
        arrays = [a for layer in model.layers for a in (layer.W_ih, layer.W_hh, layer.b_ih, layer.b_hh)]
        arrays += [a for a in (model.embedding, model.head_W, model.head_b) if a is not None]
        assert all(np.isfinite(a).all() for a in arrays)
