"""A terminal that goes away ends the screen, with or without a SIGHUP.

sshd gives the screen a controlling terminal, so a dropped session sends it
SIGHUP.  Started without one (a pty handed over by a tool, a process manager),
nobody sends it a signal when the terminal goes: Textual's input thread then
reads end-of-file forever and spins (one such screen was found at 63 % of a core
two hours after its terminal had gone).  The screen checks its terminal and ends.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time


def _start_on_a_pty(args, env):
    """panorama-top on a pty that is NOT its controlling terminal (a new session, no TIOCSCTTY)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "panorama_tui.cli.top", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=env | {"TERM": "xterm-256color"}, start_new_session=True)
    os.close(slave)
    return proc, master


def _drain(master, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if select.select([master], [], [], 0.1)[0]:
            try:
                os.read(master, 65536)
            except OSError:
                return


def test_the_screen_ends_when_its_terminal_goes_away(child_env, repo_root):
    proc, master = _start_on_a_pty(["--demo", "--no-record"], child_env())
    try:
        _drain(master, 4.0)  # up and drawing
        assert proc.poll() is None
        os.close(master)  # the terminal is gone; no signal comes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            raise AssertionError("the screen outlived its terminal") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
