"""Whole PyTorch models as their users write them (modules named as in PyTorch's tutorials, not as lstm-tui
looks for them), their state dicts and their outputs, for tests/formats/test_pytorch.py.

    python scripts/make_torch_model_fixtures.py tests/data/torch_models   (a venv with torch and safetensors)

For each model NAME: ``NAME.safetensors`` (``model.state_dict()``), for some ``NAME.pt`` and
``NAME_checkpoint_bf16.pth`` too (see PT_FILES), and ``NAME.npz`` with ``ids`` (T,),
``out`` (T, C), the model's output at every position (log-softmax of the tag scores; a classifier's
probabilities, its head applied at each position: its prediction is the last; a model that pools the
steps: its output for the input up to each position), ``activations``, the --head-activations its head
needs, and ``pool``, the --head-pool ("" for none).
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


class SentimentLSTM(nn.Module):
    """The usual sentiment classifier: embedding, a 2-layer LSTM, fc1, ReLU, dropout, fc2 to one logit, sigmoid."""

    def __init__(self, vocab_size=9, embedding_dim=5, hidden_dim=6):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=2, batch_first=True)
        self.fc1 = nn.Linear(hidden_dim, 7)
        self.dropout = nn.Dropout(0.3)
        self.fc2 = nn.Linear(7, 1)

    def forward(self, ids):
        out, _ = self.lstm(self.embedding(ids)[None])
        return torch.sigmoid(self.fc2(self.dropout(torch.relu(self.fc1(out[0])))))


class GRUSequentialHead(nn.Module):
    """A bidirectional GRU tagger whose head is nn.Sequential(Linear, Tanh, Linear, LeakyReLU(0.2), Linear)."""

    def __init__(self, vocab_size=9, embedding_dim=4, hidden_dim=5, tags=4):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, embedding_dim)
        self.gru = nn.GRU(embedding_dim, hidden_dim, bidirectional=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden_dim, 6), nn.Tanh(), nn.Linear(6, 3), nn.LeakyReLU(0.2),
                                  nn.Linear(3, tags))

    def forward(self, ids):
        out, _ = self.gru(self.emb(ids)[:, None])
        return torch.log_softmax(self.head(out[:, 0]), dim=-1)


class LSTMMaxPool(nn.Module):
    """A classifier that max-pools the LSTM's outputs over the steps (out.max(1)), then one linear layer."""

    def __init__(self, vocab_size=9, embedding_dim=4, hidden_dim=5, classes=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, classes)

    def forward(self, ids):
        out, _ = self.lstm(self.embedding(ids)[None])
        return torch.log_softmax(self.fc(out.max(dim=1).values), dim=-1)[0]


class GRUMeanPoolMLP(nn.Module):
    """A 2-layer GRU whose outputs are averaged over the steps (out.mean(1)), then fc1, ReLU, fc2 to one logit."""

    def __init__(self, vocab_size=9, embedding_dim=4, hidden_dim=6):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.gru = nn.GRU(embedding_dim, hidden_dim, num_layers=2, batch_first=True)
        self.fc1 = nn.Linear(hidden_dim, 5)
        self.fc2 = nn.Linear(5, 1)

    def forward(self, ids):
        out, _ = self.gru(self.embedding(ids)[None])
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(out.mean(dim=1)))))[0]


#: name: (model, --head-activations, --head-pool). A pooled model's output is one for the whole input: its
#: ``out`` holds, at each position, its output for the input up to there.
MODELS = {"lstm_tagger": (LSTMTagger, "", ""), "lstm_sentiment": (SentimentLSTM, "relu", ""),
          "gru_sequential_head": (GRUSequentialHead, "tanh,leaky_relu=0.2", ""),
          "lstm_max_pool": (LSTMMaxPool, "", "max"), "gru_mean_pool_mlp": (GRUMeanPoolMLP, "relu", "mean")}


#: Models also saved with torch.save: as a state dict (NAME.pt), and in a training checkpoint's dict with
#: bfloat16 weights (NAME_checkpoint_bf16.pth), which lstm-tui reads without PyTorch.
PT_FILES = ("lstm_sentiment", "gru_mean_pool_mlp")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, (make, activations, pool)) in enumerate(MODELS.items()):
        torch.manual_seed(seed)
        model = make().eval()
        ids = torch.randint(0, 9, (7,), generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            outputs = torch.stack([model(ids[: t + 1]) for t in range(len(ids))]).numpy() if pool else model(ids).numpy()
        save_file(model.state_dict(), str(out / f"{name}.safetensors"))
        if name in PT_FILES:  # the same weights as torch.save writes them (a zip of a pickle and storages)
            torch.save(model.state_dict(), out / f"{name}.pt")
            torch.save({"epoch": 3, "model_state_dict": {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()},
                        "optimizer": {"lr": 0.1, "betas": (0.9, 0.999)}, "vocab": [str(i) for i in range(9)]},
                       out / f"{name}_checkpoint_bf16.pth")
        np.savez(out / f"{name}.npz", ids=ids.numpy(), out=outputs, activations=np.array(activations),
                 pool=np.array(pool))
        print(f"{name}: {ids.tolist()}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/torch_models"))
