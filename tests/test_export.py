"""Trace files: .npz, .csv (long format), .json, written atomically."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from lstm_tui.core.errors import UserError
from lstm_tui.core.export import write_trace
from lstm_tui.core.registry import load_model


@pytest.fixture
def trace():
    return load_model("random", hidden=3, seed=1, layers=2).trace("ab,")


def test_csv_long_format_has_every_number(tmp_path, trace):
    path = write_trace(trace, tmp_path / "t.csv")
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert list(rows[0]) == ["step", "token", "layer", "quantity", "unit", "value"]
    V = trace.y.shape[1]
    assert len(rows) == trace.steps * (2 * 6 * 3 + V)
    row = next(r for r in rows if (r["step"], r["layer"], r["quantity"], r["unit"]) == ("3", "1", "c", "2"))
    assert row["token"] == ","
    assert float(row["value"]) == pytest.approx(float(trace.states["c"][1, 2, 2]), abs=1e-7)


def test_json_round_trip(tmp_path, trace):
    doc = json.loads(write_trace(trace, tmp_path / "t.json").read_text(encoding="utf-8"))
    assert doc["cell"] == "lstm" and doc["tokens"] == ["a", "b", ","]
    np.testing.assert_allclose(np.array(doc["h"]), trace.states["h"], atol=1e-7)


def test_npz_and_refusals(tmp_path, trace):
    path = write_trace(trace, tmp_path / "t.npz")
    np.testing.assert_array_equal(np.load(path)["f"], trace.states["f"])
    with pytest.raises(UserError, match="already exists"):
        write_trace(trace, path)
    with pytest.raises(UserError, match="unknown format"):
        write_trace(trace, tmp_path / "t.txt")
    with pytest.raises(UserError, match="is a directory"):
        write_trace(trace, tmp_path)


def test_a_failed_write_leaves_the_old_file(tmp_path, trace, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("old", encoding="utf-8")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("lstm_tui.core.export._long_rows", boom)
    with pytest.raises(UserError, match="No space left"):
        write_trace(trace, path, force=True)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]
