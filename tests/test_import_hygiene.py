"""The core must not pull in the terminal UI (STYLE.md: a pure NumPy core)."""

import json
import pkgutil
import subprocess
import sys

import lstm_tui.core


def test_every_core_module_imports_without_textual_or_rich():
    modules = [f"lstm_tui.core.{m.name}" for m in pkgutil.iter_modules(lstm_tui.core.__path__)]
    assert len(modules) >= 10
    code = (
        "import sys, json, importlib, lstm_tui;"
        f"[importlib.import_module(m) for m in {modules!r}];"
        "m = lstm_tui.load_model(); m.trace('(())');"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in ('textual', 'rich'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_core_does_not_print():
    for m in pkgutil.iter_modules(lstm_tui.core.__path__):
        source = open(f"{lstm_tui.core.__path__[0]}/{m.name}.py", encoding="utf-8").read()
        assert "print(" not in source, f"lstm_tui.core.{m.name} prints"
