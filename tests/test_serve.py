"""lstm-tui serve: the app in a browser, on loopback only."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from lstm_tui.cli import _app_arguments

pytest.importorskip("textual_serve")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_on_loopback():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstm_tui", "serve", "--port", str(port), "--hidden", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        page = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and page is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    page = resp.read().decode("utf-8")
            except OSError:
                time.sleep(0.2)
                assert proc.poll() is None, proc.stdout.read().decode()
        assert page is not None, "the server did not answer within 20 s"
        assert "<html" in page.lower() and "textual" in page.lower()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_refuses_a_bad_model_before_serving():
    out = subprocess.run(
        [sys.executable, "-m", "lstm_tui", "serve", "--model", "nonexistent.safetensors", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "nonexistent.safetensors" in out.stderr


def test_app_arguments_drop_serve_options():
    argv = ["--hidden", "4", "serve", "--host", "0.0.0.0", "--port=9", "--text", "ab"]
    assert _app_arguments(argv) == ["--hidden", "4", "--text", "ab"]


def test_a_text_that_reads_as_a_word_of_the_command_line_is_forwarded():
    from lstm_tui.cli.parser import glue

    argv = glue(["--text", "serve", "serve", "--port", "9", "--source-text", "-a"])
    assert _app_arguments(argv) == ["--text=serve", "--source-text=-a"]
