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


def _tensor_pickle(size, stride, offset=0, storage="FloatStorage", numel=6) -> bytes:
    """{'w': _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())} as opcodes."""
    def glob(module, name):
        return f"c{module}\n{name}\n".encode()

    def uni(s):
        b = s.encode()
        return b"X" + len(b).to_bytes(4, "little") + b

    def tup(items):
        return b"(" + b"".join(items) + b"t"

    def i(n):
        return b"J" + n.to_bytes(4, "little", signed=True)

    pid = tup([uni("storage"), glob("torch", storage), uni("0"), uni("cpu"), i(numel)]) + b"Q"
    args = tup([pid, i(offset), tup([i(n) for n in size]), tup([i(s) for s in stride]), b"\x89",
                glob("collections", "OrderedDict") + b")R"])
    return b"\x80\x02}" + uni("w") + glob("torch._utils", "_rebuild_tensor_v2") + args + b"Rs."


def test_hand_written_pickles_read_as_written_and_hostile_ones_are_refused(tmp_path):
    data = np.arange(6, dtype="<f4").tobytes()
    ok = load(_zip(tmp_path / "ok.pt", _tensor_pickle((2, 3), (1, 2)), {"0": data}), "ok.pt")
    np.testing.assert_array_equal(ok["w"], np.arange(6, dtype=np.float32).reshape(3, 2).T)
    for pkl, words in (
        (_tensor_pickle((2, 3), (3, 1), offset=1), "a tensor of size [2, 3] reads past its storage of 6 elements"),
        (_tensor_pickle((2, 3), (3, 1), storage="ComplexFloatStorage"), "a storage of type torch.ComplexFloatStorage"),
        (_tensor_pickle((2, -3), (3, 1)), "malformed offset, size or stride"),
        (_tensor_pickle((10**9, 10**9), (0, 0)), "a tensor of size [1000000000, 1000000000] has more elements than its "
                                                 "storage (6)"),
        (b"\x80\x02c__builtin__\nobject\n)\x81.", "uses the pickle opcode NEWOBJ"),
        (b"\x80\x02(i__main__\nX\n.", "uses the pickle opcode INST"),
        (b"\x80\x02}q\x00", "data.pkl is malformed (ValueError)"),  # no STOP
        (b"\x80\x02t.", "no mark"),
    ):
        with pytest.raises(ModelFileError, match=re.escape(words)):
            load(_zip(tmp_path / "bad.pt", pkl, {"0": data}), "bad.pt")
    with pytest.raises(ModelFileError, match="names the storage '0', which the zip lacks"):
        load(_zip(tmp_path / "lacks.pt", _tensor_pickle((2, 3), (3, 1))), "lacks.pt")


def test_a_global_that_is_not_a_state_dicts_is_never_called(tmp_path):
    """os.system in a zip's data.pkl: refused from the opcodes before anything reads it, and even past that
    check the interpreter makes of it an inert value, never a call."""
    target = tmp_path / "pwned"
    evil = b"\x80\x02cos\nmkdir\nX" + len(str(target)).to_bytes(4, "little") + str(target).encode() + b"\x85R."
    with pytest.raises(ModelFileError, match=r"holds a whole pickled object \(os.mkdir\)"):
        load_file(_zip(tmp_path / "evil.pt", evil))
    from lstm_tui.formats.torch_zip import Opaque

    assert load(_zip(tmp_path / "evil2.pt", evil), "evil2.pt") == Opaque("os.mkdir")
    assert not target.exists()
