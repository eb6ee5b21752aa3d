"""Every room small enough to read in one sitting (issue 14: no file under lstm_tui/ over 600 lines)."""

from pathlib import Path

import lstm_tui

MAX_LINES = 600


def _lines(data: bytes) -> int:
    """Lines as an editor counts them: a last line without a newline still counts."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _long_files(root: Path, limit: int = MAX_LINES) -> list[str]:
    """'path: N lines' for every text file under ``root`` longer than ``limit`` (binary files are skipped)."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        data = path.read_bytes()
        if b"\0" in data:  # weights (.safetensors) and other binary files
            continue
        n = _lines(data)
        if n > limit:
            found.append(f"{path.relative_to(root).as_posix()}: {n} lines")
    return found


def test_no_file_under_the_package_is_over_600_lines():
    root = Path(lstm_tui.__file__).parent
    assert len(list(root.rglob("*.py"))) >= 30  # the walk sees the package's modules
    assert _long_files(root) == []


def test_the_size_check_counts_lines_and_skips_binary_files(tmp_path):
    (tmp_path / "room").mkdir()
    (tmp_path / "room" / "big.py").write_text("x = 1\n" * 601)
    (tmp_path / "room" / "edge.py").write_text("x = 1\n" * 600)
    (tmp_path / "unterminated.txt").write_text("w\n" * 600 + "last")
    (tmp_path / "weights.safetensors").write_bytes(b"\0\n" * 5000)
    assert _long_files(tmp_path) == ["room/big.py: 601 lines", "unterminated.txt: 601 lines"]
