"""What every command does at its edges, once: a reader that leaves stdout.

Shared by the five commands (panorama-top, panorama-collect, panorama-monitor,
panorama-darshan, panorama-globus).
"""

from __future__ import annotations

import functools
import os
import select
import sys

# 128 + SIGPIPE: what a shell reports for any filter (cat, grep, seq) whose reader left first.
EXIT_CLOSED_STDOUT = 141


def quiet_on_closed_stdout(main):
    """Wrap a command's ``main(argv=None)``: when stdout's reader has gone (``| head``),
    end quietly with :data:`EXIT_CLOSED_STDOUT`, as Unix filters do.

    Python ignores SIGPIPE, so a write to the closed pipe raises BrokenPipeError,
    and Python's own flush at exit would print "Exception ignored ..." on stderr:
    stdout is flushed here, and pointed at /dev/null once its reader has gone.
    A BrokenPipeError that is not stdout's (a socket) is not hidden.
    """

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            try:
                return main(argv)
            finally:
                sys.stdout.flush()  # here, not at exit: an EPIPE then is still ours to handle
        except BrokenPipeError:
            if not stdout_closed():
                raise
            _silence_closed_std_streams()
            return EXIT_CLOSED_STDOUT

    return wrapper


def _reader_gone(fd: int) -> bool:
    """True when ``fd`` is a pipe or socket whose other end is closed (poll says POLLERR)."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError):
        return False


def stdout_closed() -> bool:
    """True when stdout's reader has gone: a command's catch-all lets such a BrokenPipeError through."""
    return _reader_gone(1)


def _silence_closed_std_streams() -> None:
    """Point stdout (and stderr, when it went the same way) at /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        if fd == 1 or _reader_gone(fd):
            os.dup2(devnull, fd)
    os.close(devnull)
