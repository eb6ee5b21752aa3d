"""The registry: which reader takes a file (magic bytes, suffix, names), the install line for a missing
extra, and PyTorch pickles and TorchScript archives refused without being unpickled."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lstm_tui.cli import main
from lstm_tui.core import ModelFileError
from lstm_tui.formats import load_file
from lstm_tui.formats.registry import MODEL_SUFFIXES, is_model_path

from .util import keras_weights, torch_rnn, write_npz, write_st

DATA = Path(__file__).parent.parent / "data"


def _refused(path, *fragments, **kw) -> str:
    with pytest.raises(ModelFileError) as exc:
        load_file(path, **kw)
    msg = str(exc.value)
    assert msg.startswith(str(path)) and "\n" not in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def test_reader_by_names_in_the_container(tmp_path, rng):
    assert load_file(write_st(tmp_path / "t.safetensors", torch_rnn(rng))).meta["format"] == "pytorch"
    k, r, b = keras_weights(rng, "lstm", 3, 4)
    assert load_file(write_st(tmp_path / "k.safetensors", {"kernel": k, "recurrent_kernel": r})).meta["format"] == "keras"
    np.savez(tmp_path / "k.npz", kernel=k, recurrent_kernel=r, bias=b)
    assert load_file(tmp_path / "k.npz").meta["format"] == "keras"
    assert load_file(write_npz(tmp_path / "t.npz", torch_rnn(rng))).meta["format"] == "pytorch"


def test_reader_by_magic_bytes_whatever_the_name(tmp_path, rng):
    st = write_st(tmp_path / "m.safetensors", torch_rnn(rng))
    shutil.copy(st, tmp_path / "weights")
    assert load_file(tmp_path / "weights").meta["format"] == "pytorch"
    shutil.copy(DATA / "keras" / "simple_seq.keras", tmp_path / "model.zip")
    assert load_file(tmp_path / "model.zip").meta["format"] == "keras"
    shutil.copy(DATA / "keras" / "simple_seq.weights.h5", tmp_path / "weights.bin")
    assert load_file(tmp_path / "weights.bin").meta["format"] == "keras"


def test_model_suffixes_name_every_reader():
    for name in ("m.keras", "m.weights.h5", "m.onnx", "m.safetensors", "m.npz", "m.pt", "m.pth"):
        assert is_model_path(name)
    assert not is_model_path("charlm") and ".onnx" in MODEL_SUFFIXES


def test_the_suffix_list_covers_every_ending_a_reader_owns():
    # The hints (the app's o, the unknown-file refusal) show MODEL_SUFFIXES: a reader's ending not among
    # them would be a format the app opens but never names.
    from lstm_tui.formats import arrays, onnx, registry

    owned = {*arrays.SUFFIXES, *onnx.SUFFIXES, *(s for group in registry.SUFFIXES.values() for s in group)}
    for suffix in owned:
        assert suffix.endswith(MODEL_SUFFIXES), suffix
    listed = registry.suffix_list().split(", ")
    assert listed == list(MODEL_SUFFIXES) and ".weights.h5" in listed and ".pth" in listed


def test_prefix_is_refused_where_it_means_nothing():
    _refused(DATA / "keras" / "simple_seq.keras", "--prefix picks a module of a state dict", prefix="rnn")


@pytest.mark.parametrize("module, suffix, extra", [("h5py", ".keras", "keras"), ("h5py", ".weights.h5", "keras"),
                                                   ("onnx", ".onnx", "onnx")])
def test_missing_extra_names_the_install_line(tmp_path, monkeypatch, module, suffix, extra):
    monkeypatch.setitem(sys.modules, module, None)
    path = tmp_path / f"m{suffix}"
    path.write_bytes(b"\x08\x07\x12\x07pytorch" + bytes(50))
    _refused(path, f"read with {module}, which is not installed: pip install {module} ",
             f"(or pip install '.[{extra}]' in a clone of lstm-tui)")


def test_missing_extra_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "h5py", None)
    out = tmp_path / "x.npz"
    assert main(["export", "--model", str(DATA / "keras" / "simple_seq.keras"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install h5py" in err and not out.exists()


@pytest.mark.parametrize("name, fragments", [
    ("whole_module.pt", ["holds a whole pickled object (torch.nn.modules.rnn.LSTM), not a state dict",
                         "never unpickles", 'safetensors.torch.save_file(model.state_dict(), "model.safetensors")']),
    ("torchscript.pt", ["is a TorchScript archive (torch.jit.save: code and weights)", "never unpickles",
                        "model.state_dict()"]),
])
def test_pickled_modules_and_torchscript_are_never_unpickled(name, fragments, monkeypatch):
    """Refused from the pickle's opcodes alone, with or without PyTorch installed."""
    path = DATA / "pickles" / name
    _refused(path, *fragments)
    monkeypatch.setitem(sys.modules, "torch", None)
    _refused(path, *fragments)


def test_state_dict_pt_opens_without_torch_and_an_old_format_one_says_how_to_convert(tmp_path, monkeypatch):
    """torch.save's zip is read without PyTorch (formats/torch_zip.py); a file in the format before PyTorch 1.6
    (a bare pickle) still needs it, and the message says how to convert it."""
    monkeypatch.setitem(sys.modules, "torch", None)
    assert load_file(DATA / "pickles" / "state_dict.pt").layers[0].W_hh.shape == (8, 2)
    old = tmp_path / "old.pt"
    old.write_bytes(b"\x80\x02\x8a\x0alQ\x1c\x9e\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.")  # the old format's magic number
    _refused(old, "in PyTorch's format before 1.6 needs PyTorch: pip install torch (or pip install '.[torch]' in a "
                  "clone of lstm-tui)", "safetensors.torch.save_file")


def test_state_dict_pt_with_torch():
    torch = pytest.importorskip("torch")
    model = load_file(DATA / "pickles" / "state_dict.pt")
    want = torch.load(DATA / "pickles" / "state_dict.pt", weights_only=True)
    np.testing.assert_array_equal(model.layers[0].W_hh, want["weight_hh_l0"].numpy())


def test_handmade_torchscript_layout_and_hostile_pickles(tmp_path):
    path = tmp_path / "script.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("m/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("m/code/__torch__.py", "def forward(self): ...")
        z.writestr("m/constants.pkl", b"\x80\x02).")
    _refused(path, "TorchScript archive")
    target = tmp_path / "pwned"
    import os
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(target),))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps(Payload()))
    _refused(tmp_path / "evil.pth", "holds a whole pickled object (posix.mkdir)")
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(Payload()))
    _refused(tmp_path / "evil.pt", "holds a whole pickled object (posix.mkdir)")
    assert not target.exists()


def test_formats_import_no_ui_and_no_framework():
    """Like core, the readers import neither Textual nor Rich, and never torch/keras/onnxruntime to read a file."""
    import json
    import subprocess

    code = (
        "import sys, json, pkgutil, importlib, lstm_tui.formats as f;"
        "[importlib.import_module(f'lstm_tui.formats.{m.name}') for m in pkgutil.iter_modules(f.__path__)];"
        f"f.load_file({str(DATA / 'keras' / 'simple_seq.keras')!r});"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in "
        "('textual', 'rich', 'torch', 'keras', 'tensorflow', 'onnxruntime'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent.parent)
    assert json.loads(out.stdout) == []


def test_loading_a_state_dict_imports_no_optional_reader_package():
    """h5py and onnx are imported only for the files that need them (loading a demo stays fast)."""
    import json
    import subprocess

    code = ("import sys, json, lstm_tui; lstm_tui.load_model('charlm');"
            "print(json.dumps(sorted(k for k in ('h5py', 'onnx') if k in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent.parent)
    assert json.loads(out.stdout) == []
