"""torch.save's zip read without PyTorch (formats/torch_zip.py): the same arrays as PyTorch saved, and
nothing in data.pkl ever run. The .pt/.pth fixtures come from scripts/make_torch_model_fixtures.py."""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lstm_tui.core.errors import ModelFileError
from lstm_tui.formats import load_file
from lstm_tui.formats.torch_zip import load

MODELS = Path(__file__).parent.parent / "data" / "torch_models"


def _bfloat16(a: np.ndarray) -> np.ndarray:
    """float32 rounded to bfloat16 (to nearest, ties to even), as PyTorch's .to(torch.bfloat16) rounds."""
    u = a.astype(np.float32).view(np.uint32)
    return (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)


@pytest.mark.parametrize("name", ["lstm_sentiment", "gru_mean_pool_mlp"])
def test_a_pt_state_dict_opens_without_torch_as_its_safetensors_twin(name, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails
    ref = np.load(MODELS / f"{name}.npz")
    options = {"head_activations": str(ref["activations"]) or None, "head_pool": str(ref["pool"]) or None}
    pt = load_file(MODELS / f"{name}.pt", **options)
    st = load_file(MODELS / f"{name}.safetensors", **options)
    for a, b in zip(pt.layers, st.layers):
        for w in ("W_ih", "W_hh", "b_ih", "b_hh"):
            np.testing.assert_array_equal(getattr(a, w), getattr(b, w))
    np.testing.assert_array_equal(pt.head_W, st.head_W)
    trace = pt.trace([pt.vocab[i] for i in ref["ids"]])
    got = trace.y if ref["out"].shape[1] == 1 else np.log(trace.y)
    np.testing.assert_allclose(got, ref["out"], atol=1e-5)  # PyTorch's numbers


def test_a_bfloat16_training_checkpoint_opens_with_its_vocabulary(monkeypatch):
    """{"epoch", "model_state_dict" (bfloat16), "optimizer", "vocab"}: the state dict inside, widened to float32
    as PyTorch rounded it, and the vocabulary the checkpoint keeps."""
    monkeypatch.setitem(sys.modules, "torch", None)
    ck = load_file(MODELS / "lstm_sentiment_checkpoint_bf16.pth", head_activations="relu")
    st = load_file(MODELS / "lstm_sentiment.safetensors", head_activations="relu")
    assert ck.layers[0].W_ih.dtype == np.float32
    np.testing.assert_array_equal(ck.layers[1].W_hh, _bfloat16(st.layers[1].W_hh))
    np.testing.assert_array_equal(ck.head_hidden[0].W, _bfloat16(st.head_hidden[0].W))
    assert ck.vocab == tuple(str(i) for i in range(9))
    raw = load(MODELS / "lstm_sentiment_checkpoint_bf16.pth", "ck")
    assert raw["epoch"] == 3 and raw["optimizer"] == {"lr": 0.1, "betas": (0.9, 0.999)}


def test_the_arrays_are_torchs_own(tmp_path):
    """Against torch.load itself (where PyTorch is installed): every dtype a state dict holds, a view with
    strides (a transposed weight) and a view into part of a storage, a parameter saved as one."""
    torch = pytest.importorskip("torch")
    w = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    saved = {"t": w.t(), "part": w[1:3, 2:5], "p": torch.nn.Parameter(w[0]), "n": torch.tensor(7),
             **{str(dt): w.to(dt) for dt in (torch.float64, torch.float16, torch.bfloat16, torch.int32, torch.int8,
                                             torch.uint8, torch.bool, torch.int16)}}
    torch.save(saved, tmp_path / "m.pt")
    ours = load(tmp_path / "m.pt", "m.pt")
    theirs = torch.load(tmp_path / "m.pt", weights_only=True)
    for key, t in theirs.items():
        t = t.detach()
        want = (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t).numpy()
        assert ours[key].dtype == want.dtype and ours[key].flags.c_contiguous, key
        np.testing.assert_array_equal(ours[key], want, err_msg=key)


def _zip(path: Path, pkl: bytes, storages: dict | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("m/data.pkl", pkl)
        z.writestr("m/byteorder", "little")
        for key, data in (storages or {}).items():
            z.writestr(f"m/data/{key}", data)
    return path


def _tensor_pickle(size, stride, offset=0, storage="FloatStorage", numel=6, neg=False, tensors=1) -> bytes:
    """{'w': _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()[, {'neg': True}])} as opcodes
    (``tensors`` of them, keyed w, w1, w2 ...)."""
    def glob(module, name):
        return f"c{module}\n{name}\n".encode()

    def uni(s):
        b = s.encode()
        return b"X" + len(b).to_bytes(4, "little") + b

    def tup(items):
        return b"(" + b"".join(items) + b"t"

    def i(n):
        if -(2**31) <= n < 2**31:
            return b"J" + n.to_bytes(4, "little", signed=True)
        return b"\x8a\x08" + n.to_bytes(8, "little", signed=True)  # LONG1

    pid = tup([uni("storage"), glob("torch", storage), uni("0"), uni("cpu"), i(numel)]) + b"Q"
    meta = [b"}" + uni("neg") + b"\x88s"] if neg else []
    args = tup([pid, i(offset), tup([i(n) for n in size]), tup([i(s) for s in stride]), b"\x89",
                glob("collections", "OrderedDict") + b")R", *meta])
    one = glob("torch._utils", "_rebuild_tensor_v2") + args + b"R"
    return b"\x80\x02}" + b"".join(uni("w" + (str(k) if k else "")) + one + b"s" for k in range(tensors)) + b"."


def test_hand_written_pickles_read_as_written_and_hostile_ones_are_refused(tmp_path, monkeypatch):
    from lstm_tui.formats import torch_zip

    monkeypatch.setattr(torch_zip, "COPIES", (2, 0))  # no slack: 400 views of a 24-byte storage show it
    data = np.arange(6, dtype="<f4").tobytes()
    ok = load(_zip(tmp_path / "ok.pt", _tensor_pickle((2, 3), (1, 2)), {"0": data}), "ok.pt")
    np.testing.assert_array_equal(ok["w"], np.arange(6, dtype=np.float32).reshape(3, 2).T)
    scalar = load(_zip(tmp_path / "s.pt", _tensor_pickle((), (), offset=4), {"0": data}), "s.pt")["w"]
    assert scalar.shape == () and scalar == 4  # num_batches_tracked, an optimizer's step: 0-d
    bf = load(_zip(tmp_path / "b.pt", _tensor_pickle((), (), offset=1, storage="BFloat16Storage", numel=12),
                   {"0": np.array([0, 0x4010], "<u2").tobytes()}), "b.pt")["w"]
    assert isinstance(bf, np.ndarray) and bf.shape == () and bf == 2.25
    negated = load(_zip(tmp_path / "n.pt", _tensor_pickle((6,), (1,), neg=True), {"0": data}), "n.pt")["w"]
    np.testing.assert_array_equal(negated, -np.arange(6))  # PyTorch's lazy negation, saved as a flag
    for pkl, words in (
        (_tensor_pickle((2, 3), (3, 1), offset=1), "a tensor of size [2, 3] reads past its storage of 6 elements"),
        (_tensor_pickle((2, 3), (3, 1), storage="ComplexFloatStorage"), "a storage of type torch.ComplexFloatStorage"),
        (_tensor_pickle((2, -3), (3, 1)), "malformed offset, size or stride"),
        (_tensor_pickle((1,), (2**61,)), "malformed offset, size or stride"),  # as_strided would overflow
        (_tensor_pickle((2, 3), (3, 1), tensors=400), "its tensors copy 72 bytes out of storages of 24"),
        (b"\x80\x02}" + b")" + b"\x85" * 100 + b"K\x01s.", "a tuple nested more than 64 deep"),  # hashing overflows C
        (b"\x80\x02(" + b"K\x01" * 4_000_001 + b"l.", "builds more than 4,000,000 values"),
        # t = (t, t) through the memo, 40 times: small to read, 2**40 values for hash() to visit
        (b"\x80\x02})q\x00" + b"h\x00h\x00\x86q\x00" * 40 + b"K\x01s.", "of more than 10,000 values"),
        # keys that are distinct whole numbers sharing one hash: a dict of them takes quadratic time
        (b"\x80\x02}(" + b"".join(b"\x8a\x08" + (k * (2**61 - 1)).to_bytes(8, "little") + b"K\x01"
                                  for k in range(1, 4)) + b"u.", "keys a dict by something other than text"),
        (b"\x80\x02c" + b"m" * 300 + b"\nx\n.", "names a global by something other than a short text"),
        (_tensor_pickle((10**9, 10**9), (0, 0)), "a tensor of size [1000000000, 1000000000] has more elements than its "
                                                 "storage (6)"),
        (b"\x80\x02ctorch\nSize\n)\x81.", "uses the pickle opcode NEWOBJ"),
        (b"\x80\x02c__builtin__\nobject\n)\x81.", "holds a whole pickled object (__builtin__.object)"),
        (b"\x80\x02(i__main__\nX\n.", "uses the pickle opcode INST"),
        (b"\x80\x02}q\x00", "data.pkl is malformed (ValueError)"),  # no STOP
        (b"\x80\x02t.", "no mark"),
    ):
        with pytest.raises(ModelFileError, match=re.escape(words)):
            load(_zip(tmp_path / "bad.pt", pkl, {"0": data}), "bad.pt")
    with pytest.raises(ModelFileError, match="names the storage '0', which the zip lacks"):
        load(_zip(tmp_path / "lacks.pt", _tensor_pickle((2, 3), (3, 1))), "lacks.pt")


def test_a_global_that_is_not_a_state_dicts_is_never_called(tmp_path):
    """os.mkdir in a zip's data.pkl, named directly or through the memo (which a scan of the opcodes' strings
    would miss): refused as the interpreter meets it, before anything could call it."""
    target = tmp_path / "pwned"
    arg = b"X" + len(str(target)).to_bytes(4, "little") + str(target).encode()
    direct = b"\x80\x02cos\nmkdir\n" + arg + b"\x85R."
    memo = b"\x80\x04\x8c\x02osq\x00\x8c\x05mkdirq\x01h\x00h\x01\x93" + arg + b"\x85R."  # STACK_GLOBAL of memo'd strings
    for n, evil in enumerate((direct, memo)):
        path = _zip(tmp_path / f"evil{n}.pt", evil)
        for read in (load_file, lambda p: load(p, str(p))):
            with pytest.raises(ModelFileError, match=r"holds a whole pickled object \(os.mkdir\)"):
                read(path)
    assert not target.exists()


def test_damaged_zips_and_oversized_members_are_refused_in_one_line(tmp_path):
    data = np.arange(6, dtype="<f4").tobytes()
    with zipfile.ZipFile(tmp_path / "order.pt", "w") as z:
        z.writestr("m/data.pkl", _tensor_pickle((6,), (1,)))
        z.writestr("m/byteorder", "middle")
        z.writestr("m/data/0", data)
    with pytest.raises(ModelFileError, match=re.escape("byteorder 'middle': expected little or big")):
        load_file(tmp_path / "order.pt")
    with pytest.raises(ModelFileError, match=re.escape("data.pkl is malformed")):
        load_file(_zip(tmp_path / "junk.pt", b"\x80\x02" + b"\x00" * 8, {"0": data}))
    with zipfile.ZipFile(tmp_path / "deflated.pt", "w", zipfile.ZIP_DEFLATED) as z:  # a corrupt stream: zlib.error
        z.writestr("m/data.pkl", _tensor_pickle((6,), (1,)))
        z.writestr("m/data/0", data * 1000)
    blob = bytearray((tmp_path / "deflated.pt").read_bytes())
    start = blob.index(b"m/data/0") + len("m/data/0")
    blob[start + 10 : start + 60] = b"\xff" * 50
    (tmp_path / "deflated.pt").write_bytes(bytes(blob))
    with pytest.raises(ModelFileError, match="its member 'm/data.pkl' is compressed, which torch.save never writes"):
        load(tmp_path / "deflated.pt", "deflated.pt")  # (a deflated storage of zeros: gigabytes from a small file)
    with zipfile.ZipFile(tmp_path / "order.pt", "w") as z:
        z.writestr("m/data.pkl", _tensor_pickle((6,), (1,)))
        z.writestr("m/byteorder", "little" + " " * 10_000)  # read whole, it could be gigabytes
        z.writestr("m/data/0", data)
    with pytest.raises(ModelFileError, match="its byteorder is not little or big"):
        load(tmp_path / "order.pt", "order.pt")


def test_tuples_nested_a_million_deep_do_not_crash_the_process(tmp_path):
    """Hashing such a tuple (a dict key) overflows the C stack: the nesting is refused before it is built."""
    import subprocess

    path = _zip(tmp_path / "deep.pt", b"\x80\x02}" + b")" + b"\x85" * 1_000_000 + b"K\x01s.")
    code = f"from lstm_tui.formats.torch_zip import load\ntry:\n    load({str(path)!r}, 'deep.pt')\nexcept Exception as e:\n    print(type(e).__name__, e)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ModelFileError deep.pt: data.pkl builds a tuple nested more than 64 deep" in done.stdout


def test_a_pt_of_neither_zip_nor_pickle_is_not_called_an_old_format(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    (tmp_path / "junk.pt").write_bytes(b"GIF89a" + bytes(300))
    with pytest.raises(ModelFileError, match="junk.pt: not a PyTorch file"):
        load_file(tmp_path / "junk.pt")
