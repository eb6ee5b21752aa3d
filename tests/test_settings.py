from __future__ import annotations

from lstm_tui import settings


def test_defaults_when_missing():
    s, warning = settings.load()
    assert s == settings.Settings() and warning is None


def test_round_trip():
    s = settings.Settings(theme="textual-light", notation="classic", palette="cividis", last_model="brackets")
    assert settings.save(s) is None
    assert settings.load() == (s, None)


def test_corrupted_file_is_reported_and_ignored():
    path = settings.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"{not json")
    s, warning = settings.load()
    assert s == settings.Settings() and "not valid JSON" in warning and str(path) in warning
    path.write_text('{"theme": 3, "notation": "pytorch"}')
    s, warning = settings.load()
    assert s.notation == "pytorch" and s.theme == "textual-dark" and "theme" in warning
    path.write_bytes(b"\xff\xfe\x00")
    assert "cannot be read" in settings.load()[1]
    path.write_text("[1, 2]")
    assert "JSON object" in settings.load()[1]



def test_a_number_too_long_or_nesting_too_deep_is_a_broken_file_said_in_one_line():
    """int() raises ValueError past 4,300 digits and deep nesting a RecursionError: not JSONDecodeErrors, they
    stopped a bare lstm-tui with an internal error; they are a broken file, the defaults used."""
    path = settings.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    for text, words in (('{"model": ' + "9" * 5000 + "}", "a whole number of 5,000 digits"),
                        ('{"theme": ' + "9" * 5000 + "}", "a whole number of 5,000 digits"),
                        ("[" * 100_000, "nested too deeply")):
        path.write_text(text)
        s, warning = settings.load()
        assert s == settings.Settings() and "not valid JSON" in warning and words in warning
        assert warning.endswith("using the defaults") and "\n" not in warning


def test_a_pipe_a_device_or_a_huge_file_is_refused_without_waiting(tmp_path):
    """A named pipe no program writes to made a bare lstm-tui wait forever before the app started, and a link
    to /dev/zero read without end: each is said in one line, the defaults used."""
    import os
    import threading

    path = settings.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    got = []
    reader = threading.Thread(target=lambda: got.append(settings.load()), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # it waits for a writer: give it one, so that the test ends
        with open(path, "wb"):
            pass
        reader.join(10)
    assert got and got[0][0] == settings.Settings() and "is not a regular file" in got[0][1]
    path.unlink()
    path.symlink_to("/dev/zero")
    s, warning = settings.load()
    assert s == settings.Settings() and "is not a regular file" in warning and "using the defaults" in warning
    path.unlink()
    path.write_bytes(b'{"theme": "' + b"x" * (settings.MAX_BYTES + 1) + b'"}')
    s, warning = settings.load()
    assert s == settings.Settings() and f"settings {path}: larger than 1 MB; using the defaults" == warning
    path.unlink()
    path.mkdir()
    s, warning = settings.load()
    assert s == settings.Settings() and str(path) in warning and "\n" not in warning


def test_unwritable_folder_gives_a_warning_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))
    assert "not saved" in settings.save(settings.Settings())


def test_a_broken_settings_file_is_said_on_the_apps_screen_not_only_before_it(monkeypatch, capsys):
    """The terminal line before the app opens is hidden by the app's screen until it quits: the app says it too."""
    import asyncio

    from lstm_tui.app import LstmApp
    from lstm_tui.cli import main

    path = settings.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"{not json")
    shown, again = [], []

    async def run(app):
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            shown.extend(n.message for n in app._notifications)
            app._open_model("charlm")  # another model: its notes, not the settings' warning again
            await pilot.pause()
            again.extend(n.message for n in app._notifications)

    monkeypatch.setattr(LstmApp, "run", lambda self: asyncio.run(run(self)))
    assert main(["--model", "brackets", "--text", "(())"]) == 0
    assert "not valid JSON" in capsys.readouterr().err
    assert any("not valid JSON" in m and str(path) in m for m in shown)
    assert sum("not valid JSON" in m for m in again) == 1 and any("opened charlm" in m for m in again)
