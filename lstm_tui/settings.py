"""The user's choices (theme, notation, palette, last model), kept between runs.

Stored as JSON in the platform's config folder (``platformdirs``; on Linux
``$XDG_CONFIG_HOME/lstm-tui/settings.json``). Read defensively: a missing file
gives the defaults, a broken one (or a pipe, a device, a file past 1 MB) gives
the defaults and a one-line warning, never an error, and never a wait.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from platformdirs import user_config_path

from .core.export import atomic_write
from .core.inputs import read_json

#: The largest settings file read (lstm-tui writes a few hundred bytes).
MAX_BYTES = 1024**2


@dataclass
class Settings:
    theme: str = "textual-dark"  # a Textual theme name
    notation: str = "both"  # gate names: "both", "classic" or "pytorch"
    palette: str = "viridis"  # the sequential colour scale: "viridis" or "cividis"
    last_model: str = ""  # the last built-in --model given; a bare lstm-tui opens it


def settings_path() -> Path:
    return user_config_path("lstm-tui", appauthor=False) / "settings.json"


def load() -> tuple[Settings, str | None]:
    """The saved settings and a warning (None if all was well)."""
    path = settings_path()
    try:  # opened without waiting: a named pipe would wait for a writer, before the app starts
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
            blob = fh.read(MAX_BYTES + 1) if regular else b""  # (a device such as /dev/zero never ends)
    except FileNotFoundError:
        return Settings(), None
    except OSError as exc:
        return Settings(), f"settings {path}: cannot be read ({exc}); using the defaults"
    if not regular:
        return Settings(), f"settings {path}: is not a regular file (a pipe, a device or a folder); using the defaults"
    if len(blob) > MAX_BYTES:
        return Settings(), f"settings {path}: larger than {MAX_BYTES // 1024**2} MB; using the defaults"
    try:
        raw = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Settings(), f"settings {path}: cannot be read ({exc}); using the defaults"
    try:
        doc = read_json(raw)
    except ValueError as exc:  # (a number of 5,000 digits, or nested too deeply: no line to name)
        where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        return Settings(), f"settings {path}: not valid JSON ({where}); using the defaults"
    if not isinstance(doc, dict):
        return Settings(), f"settings {path}: expected a JSON object; using the defaults"
    settings, bad = Settings(), []
    for f in fields(Settings):
        if f.name in doc:
            if isinstance(doc[f.name], str):
                setattr(settings, f.name, doc[f.name])
            else:
                bad.append(f.name)
    warning = f"settings {path}: ignored {', '.join(bad)} (expected text)" if bad else None
    return settings, warning


def save(settings: Settings) -> str | None:
    """Write the settings; returns a warning instead of raising if that fails."""
    path = settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = json.dumps(asdict(settings), indent=2).encode("utf-8")
        atomic_write(path, lambda fh: fh.write(blob), force=True)
    except Exception as exc:  # noqa: BLE001 - settings must never stop the app
        return f"settings {path}: not saved ({exc})"
    return None
