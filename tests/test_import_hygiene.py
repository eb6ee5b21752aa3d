"""The core must not pull in the terminal UI (STYLE.md: a pure NumPy core)."""

import json
import subprocess
import sys


def test_core_imports_without_textual_or_rich():
    code = (
        "import sys, json, lstm_tui, lstm_tui.core, lstm_tui.core.export, lstm_tui.core.registry;"
        "m = lstm_tui.load_model(); m.trace('hi');"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in ('textual', 'rich'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
