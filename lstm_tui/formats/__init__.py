"""Model files: one reader per source, a registry that picks one, lstm-tui's own format.

Readers (each ``match(path, head_bytes) -> bool`` and ``load(path, ...) -> Model``):

- ``native``: lstm-tui's own safetensors files (``save_model``);
- ``keras``: Keras 3 ``.keras`` archives and ``.weights.h5`` files (needs h5py; ``keras_infer``
  reads the structure of a ``.weights.h5`` without its config);
- ``onnx``: ONNX graphs with LSTM, GRU and RNN nodes (needs onnx);
- ``keras_npz``: Keras weights saved as named arrays;
- ``pytorch``: PyTorch state dicts in safetensors, .npz or .pt.

``registry.load_file`` picks the reader; every refusal is worded there. Like
``core``, nothing here imports Textual or Rich.
"""

from .native import model_metadata, model_tensors, save_model
from .registry import MODEL_SUFFIXES, is_model_path, load_file

__all__ = ["MODEL_SUFFIXES", "is_model_path", "load_file", "model_metadata", "model_tensors", "save_model"]
