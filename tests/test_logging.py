"""One logging set-up for every command: the screen logs to a private file, never to the
terminal; headless commands to stderr; secrets masked everywhere, tracebacks included."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import pty
import select
import stat
import struct
import subprocess
import sys
import termios
import time

import pytest

from panorama_tui.core import logsetup

from .ui_helpers import finished_demo

SECRET = "s3cr#t/pw?x y"  # characters that defeat URL-shaped masking


@pytest.fixture
def root_logging():
    """Each test's set-up is undone after it: the root logger is process-wide."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("pika").level)
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])
    logging.getLogger("pika").setLevel(saved[2])


def log_text(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_a_refresh_error_lands_in_the_log_file_not_on_the_terminal(root_logging, capfd):
    path = logsetup.setup("panorama-top", screen=True)
    assert path == os.path.join(os.environ["XDG_STATE_HOME"], "panorama-top", "panorama-top.log")
    logsetup.add_secret(SECRET)

    async def go():
        async with finished_demo() as (app, store, pilot):
            def broken_refresh(full):
                raise RuntimeError(f"drawing failed near {SECRET}")

            app._refresh = broken_refresh  # a drawing bug, provoked
            app.refresh_all()
            await pilot.pause()
            assert any("screen refresh failed" in str(w) for w in store.warnings)

    asyncio.run(go())
    out, err = capfd.readouterr()
    assert err == ""
    text = log_text(path)
    assert "refresh failed" in text and "Traceback" in text and "RuntimeError: drawing failed near ****" in text
    assert SECRET not in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_secrets_are_masked_in_message_arguments_exception_and_traceback(root_logging, tmp_path):
    from panorama_tui.transport.amqp_url import parse

    parse("amqp://panorama:hunter2%23x@broker.example.org/panorama/monitoring")  # a resolved URL: its password is known
    path = logsetup.setup("panorama-collect", log_file=str(tmp_path / "collect.log"), daemon=True)
    log = logging.getLogger("test")
    log.warning("connecting with %s", "hunter2#x")
    log.warning("the known one escaped: %s, and a URL amqp://me:other@host/vh", "hunter2%23x")
    try:
        try:
            raise ValueError("password hunter2#x refused")
        except ValueError as inner:
            raise RuntimeError("while connecting") from inner
    except RuntimeError:
        log.exception("link down")
    text = log_text(path)
    assert "hunter2" not in text
    assert "amqp://me:****@host/vh" in text
    assert "password **** refused" in text  # in the chained exception's traceback text
    assert text.count("****") >= 3


def test_the_screen_log_rotates_and_stays_private(root_logging, monkeypatch):
    monkeypatch.setattr(logsetup, "LOG_BYTES", 2000)
    path = logsetup.setup("panorama-top", screen=True)
    log = logging.getLogger("test")
    for i in range(100):
        log.warning("line %d %s", i, "x" * 80)
    rotated = [f"{path}.1", f"{path}.2"]
    assert all(os.path.exists(p) for p in rotated)
    assert not os.path.exists(f"{path}.3")
    assert {stat.S_IMODE(os.stat(p).st_mode) for p in [path, *rotated]} == {0o600}


def test_an_unwritable_screen_log_turns_logging_off_not_onto_the_terminal(root_logging, capfd, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker / "state"))  # not a directory, even for root
    assert logsetup.setup("panorama-top", screen=True) is None
    logging.getLogger("test").error("after the screen is up")
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "logging is off" in err
    assert "after the screen is up" not in err


def run_screen_in_pty(args, env, seconds: float = 4.0, size=(40, 120), on_start=None):
    """The real panorama-top on a pseudo-terminal (Textual draws on stderr, so all three are
    the terminal); q after ``seconds``.  Returns the exit status and all the terminal got.
    ``on_start(proc)`` looks at the running process first."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "panorama_tui.cli.top", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=env | {"TERM": "xterm-256color"}, start_new_session=True)
    os.close(slave)
    screen = bytearray()

    def drain(until: float) -> None:  # read the screen, or the app blocks on a full terminal
        while time.monotonic() < until and proc.poll() is None:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    screen.extend(os.read(master, 65536))
                except OSError:
                    return

    try:
        if on_start is not None:
            on_start(proc)
        drain(time.monotonic() + seconds)
        os.write(master, b"q")
        drain(time.monotonic() + 15)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return proc.returncode, screen.decode("utf-8", "replace")


def test_the_real_screen_logs_its_amqp_link_to_the_file_masked(repo_root, child_env):
    """panorama-top --amqp to a closed port: the link's ups and downs go to the log file
    (the password masked), never onto the screen."""
    env = child_env()
    url = "amqp://panorama:tiger%237%2Fx@127.0.0.1:1/panorama/monitoring"
    code, screen = run_screen_in_pty(["--amqp", url, "--no-record"], env)
    assert code == 0, screen[-2000:]
    path = os.path.join(env["XDG_STATE_HOME"], "panorama-top", "panorama-top.log")
    text = log_text(path)
    assert "INFO panorama_tui.sources.amqp: " in text  # the source's link state was logged
    assert "panorama_tui.sources.amqp" not in screen and "Traceback" not in screen
    assert "tiger" not in text and "tiger" not in screen
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_globus_tokens_are_masked_once_loaded(tmp_path):
    import argparse

    from panorama_tui.collectors.globus.collector import TRANSFER_RS, make_authorizer, save_tokens

    path = tmp_path / "globus-tokens.json"
    save_tokens(str(path), {"client_id": "9d5d9f4c-1b5c-4c4e-8a0e-3f1d2b7a6c01", "tokens": {TRANSFER_RS: {
        "access_token": "AccT0ken-xyz", "refresh_token": "RefT0ken-abc", "expires_at_seconds": 4102444800}}})
    make_authorizer(argparse.Namespace(tokens=str(path)), env={})
    assert logsetup.scrub("Authorization: Bearer AccT0ken-xyz; refresh RefT0ken-abc") == \
        "Authorization: Bearer ****; refresh ****"
