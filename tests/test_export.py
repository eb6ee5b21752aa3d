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


def test_json_is_standard_json_with_null_for_nan_and_inf(tmp_path, trace):
    """JSON has no NaN or Infinity (JavaScript's JSON.parse refuses them): they are written as null."""
    trace.states["c"][1, 1, 0], trace.states["c"][0, 2, 2], trace.states["h"][1, 0, 1] = np.nan, np.inf, -np.inf
    text = write_trace(trace, tmp_path / "t.json").read_text(encoding="utf-8")
    doc = json.loads(text, parse_constant=lambda word: pytest.fail(f"{word} is not JSON"))
    assert doc["c"][1][1][0] is None and doc["c"][0][2][2] is None and doc["h"][1][0][1] is None
    c = np.array(doc["c"], dtype=float)  # None -> nan
    assert np.isnan(c).sum() == 2
    finite = np.isfinite(trace.states["c"])
    np.testing.assert_allclose(c[finite], trace.states["c"][finite], atol=1e-7)


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


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_array_an_npz_export_writes_is_documented(cell, tmp_path, capsys):
    import re
    from pathlib import Path

    from lstm_tui.cli import main
    from lstm_tui.core import export

    out = tmp_path / "t.npz"
    assert main(["export", "--cell", cell, "--hidden", "3", "--text", "ab", "-o", str(out)]) == 0
    with np.load(out) as z:
        names = set(z.files)
    assert {"ids", "unknown", "tokens", "cell"} <= names
    np.testing.assert_array_equal(np.load(out)["ids"], load_model("random", hidden=3, cell=cell).trace("ab").ids)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    paragraph = readme[readme.index("- `lstm-tui export` writes the whole trace"):]
    paragraph = " ".join(paragraph[: paragraph.index("\n- ")].split())
    readme_words = {w for span in re.findall(r"`([^`]+)`", paragraph) for w in span.split()}
    doc_words = {w for span in re.findall(r"``([^`]+)``", export.__doc__) for w in span.split()}
    help_words = set(re.findall(r"[\w]+", help_text))
    for name in sorted(names):
        assert name in help_words, f"export --help leaves out {name}"
        assert name in readme_words, f"README leaves out {name}"
        assert name in doc_words, f"the export module's docstring leaves out {name}"
