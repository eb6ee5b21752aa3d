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


def _page(port: int, *host: str) -> str:
    """The page of a server started with ``--host *host`` (default loopback), fetched at 127.0.0.1."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstm_tui", "serve", "--port", str(port), "--hidden", "4", *host],
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
        return page
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_answers_on_loopback():
    page = _page(free_port())
    assert "<html" in page.lower() and "textual" in page.lower()


def test_a_server_on_every_interface_points_the_page_at_the_address_the_browser_used():
    """--host 0.0.0.0: the page's scripts and socket were at http://0.0.0.0:PORT, which no browser elsewhere
    reaches (the page stayed on its splash screen); they are at the address the page was fetched from."""
    port = free_port()
    page = _page(port, "--host", "0.0.0.0")
    assert f"ws://127.0.0.1:{port}/ws" in page and f"http://127.0.0.1:{port}/static/" in page
    assert "0.0.0.0" not in page


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


def test_an_address_the_server_cannot_listen_on_is_one_line(capsys, monkeypatch):
    """A port in use, an unknown host, an empty one (it would listen on every interface): exit 2, one line,
    before anything says it is serving."""
    from lstm_tui.cli import main

    resolve = socket.getaddrinfo

    def no_dns(host, *args, **kw):  # the unknown name fails here at once, whatever resolver the machine has
        if host == "256.1.1.1":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for host, words in (("127.0.0.1", f"cannot listen on 127.0.0.1:{port}: in use"),
                            ("", "--host '': expected an address"), ("256.1.1.1", "--host '256.1.1.1': not an address")):
            assert main(["serve", "--host", host, "--port", str(port)]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and words in err and "serving" not in err


def test_ipv6_everywhere_is_not_refused_beside_an_ipv4_listener(capsys, monkeypatch):
    """asyncio's server listens on :: for IPv6 alone: the check must not call a port taken on 0.0.0.0 in use."""
    from lstm_tui import cli

    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        try:
            cli._check_listening("::", taken.getsockname()[1])
        except cli.UserError as exc:
            assert "Address family" in str(exc) or "assign" in str(exc), exc  # no IPv6 stack: another refusal
