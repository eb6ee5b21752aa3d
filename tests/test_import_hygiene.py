"""The core must not pull in the terminal UI (STYLE.md: a pure NumPy core)."""

import importlib.util
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


# Widgets, render and core never import the app (issue 14: attributes down, messages up).
LOWER_ROOMS = ("core", "render", "widgets")


def _lower_modules() -> list[tuple[str, str]]:
    """(module name, source path) of every module under core/, render/ and widgets/."""
    import importlib

    found = []
    for room in LOWER_ROOMS:
        package = importlib.import_module(f"lstm_tui.{room}")
        for m in pkgutil.walk_packages(package.__path__, prefix=f"lstm_tui.{room}."):
            spec = importlib.util.find_spec(m.name)
            found.append((m.name, spec.origin))
        if package.__file__:  # render/ is a namespace package: no __init__.py
            found.append((package.__name__, package.__file__))
    return found


def _imports(name: str, path: str) -> set[str]:
    """Every module ``path`` names in an import statement, relative ones resolved against ``name``."""
    import ast

    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):  # every import, at the top, inside functions or under TYPE_CHECKING
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            mod = node.module or ""
            full = (f"{base}.{mod}" if mod else base) if node.level else mod
            out.add(full)
            out |= {f"{full}.{a.name}" for a in node.names}  # "from lstm_tui import app"
    return out


def test_no_widget_render_or_core_module_imports_the_app():
    modules = _lower_modules()
    assert {"lstm_tui.widgets.panel", "lstm_tui.render.heatmap", "lstm_tui.core.cells"} <= {m for m, _ in modules}
    offenders = [
        f"{name} imports {imp}"
        for name, path in modules
        for imp in sorted(_imports(name, path))
        if imp == "lstm_tui.app" or imp.startswith("lstm_tui.app.")
    ]
    assert offenders == []


def test_the_import_check_sees_relative_and_late_imports(tmp_path):
    src = tmp_path / "views.py"
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..app import LstmApp\n"
                   "def f():\n    from .. import app\n")
    assert {"lstm_tui.app", "lstm_tui.app.LstmApp"} <= _imports("lstm_tui.widgets.views", str(src))


def test_importing_every_widget_render_and_core_module_leaves_the_app_unloaded():
    modules = [m for m, _ in _lower_modules()]
    code = (
        "import sys, json, importlib;"
        f"[importlib.import_module(m) for m in {modules!r}];"
        "print(json.dumps(sorted(k for k in sys.modules if k == 'lstm_tui.app' or k.startswith('lstm_tui.app.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_package_names_load_when_asked_for():
    """``import lstm_tui.core`` (where the app and the CLI start) costs neither the interventions nor
    importlib.metadata; every name of ``lstm_tui.__all__`` is still there when asked for."""
    code = (
        "import sys, json, lstm_tui.core;"
        "early = [m for m in ('lstm_tui.core.interventions', 'importlib.metadata') if m in sys.modules];"
        "import lstm_tui; names = {n: type(getattr(lstm_tui, n)).__name__ for n in lstm_tui.__all__};"
        "print(json.dumps([early, names, lstm_tui.__version__]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    early, names, version = json.loads(out.stdout)
    assert early == []
    assert names["intervene"] == "function" and names["Patch"] == "type" and names["load_model"] == "function"
    assert version and version[0].isdigit()
