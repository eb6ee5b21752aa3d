"""Whole PyTorch models as their users write them (modules named as in PyTorch's tutorials, not as lstm-tui
looks for them), their state dicts and their outputs, for tests/formats/test_pytorch.py.

    python scripts/make_torch_model_fixtures.py tests/data/torch_models   (a venv with torch and safetensors)

For each model NAME: ``NAME.safetensors`` (``model.state_dict()``) and ``NAME.npz`` with ``ids`` (T,) and
``log_probs`` (T, C), the model's output (log-softmax of the tag scores) on them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn


class LSTMTagger(nn.Module):
    """PyTorch's "Sequence Models and Long Short-Term Memory Networks" tutorial: word_embeddings, lstm,
    hidden2tag."""

    def __init__(self, embedding_dim=6, hidden_dim=5, vocab_size=9, tagset_size=3):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        return torch.log_softmax(self.hidden2tag(lstm_out.view(len(sentence), -1)), dim=1)


MODELS = {"lstm_tagger": LSTMTagger}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, make) in enumerate(MODELS.items()):
        torch.manual_seed(seed)
        model = make().eval()
        ids = torch.randint(0, 9, (7,), generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            log_probs = model(ids).numpy()
        save_file(model.state_dict(), str(out / f"{name}.safetensors"))
        np.savez(out / f"{name}.npz", ids=ids.numpy(), log_probs=log_probs)
        print(f"{name}: {ids.tolist()}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/torch_models"))
