"""What every command does at its edges, once: logging with secrets masked, and a reader that leaves stdout.

Shared by the five commands (panorama-top, panorama-collect, panorama-monitor,
panorama-darshan, panorama-globus).  :func:`setup` is their one logging set-up:
the screen logs to a file (the terminal is the screen's), headless commands to
stderr (journald) or ``--log FILE``, and every record passes a filter that
masks URL passwords and every secret known to :func:`add_secret` (the AMQP
password of any URL parsed, Globus tokens), in its message, arguments,
exception text and traceback alike.
"""

from __future__ import annotations

import functools
import logging
import os
import select
import sys
import traceback

from .private_files import open_private
from .secrets import MASK, add_secret, scrub  # noqa: F401  (the one masker; logsetup.scrub is its old name)

# The screen's log, bounded for a login node's quota: 1 MiB, and two old ones.
LOG_BYTES = 1024 * 1024
LOG_BACKUPS = 2
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

def hide_in_cmdline(text: str, start: int, length: int) -> bool | None:
    """Star ``length`` characters of ``text``, from ``start``, wherever ``text`` stands in
    this process's command line (/proc/PID/cmdline, what ps shows to every user).

    Linux keeps the command line in the process's own memory, between the
    ``arg_start`` and ``arg_end`` of /proc/self/stat; CPython copied argv at
    start and never reads it again, so it is overwritten in place.  True when
    done, None when ``text`` is not on the command line, False when it cannot be
    done (no /proc, or a command line already rewritten)."""
    import ctypes

    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # after the name, which may hold spaces
        arg_start, arg_end = int(fields[45]), int(fields[46])  # proc(5) fields 48 and 49
        with open("/proc/self/cmdline", "rb") as f:
            shown = f.read()
    except (OSError, ValueError, IndexError):
        return False
    if arg_end <= arg_start or ctypes.string_at(arg_start, arg_end - arg_start) != shown:
        return False  # not the memory ps reads: leave it alone
    raw = os.fsencode(text)
    skip, n = len(os.fsencode(text[:start])), len(os.fsencode(text[start:start + length]))
    at = shown.find(raw)
    if at < 0:
        return None
    while at >= 0:
        ctypes.memset(arg_start + at + skip, ord("*"), n)
        at = shown.find(raw, at + len(raw))
    return True


class RedactFilter(logging.Filter):
    """Masks secrets in a record's message, arguments, exception text and stack, whatever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: show what there is
            message = f"{record.msg} {record.args}"
        record.msg, record.args = scrub(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def private_file_handler(path: str, max_bytes: int = 0, backups: int = 0) -> logging.Handler:
    """A log file created 0600 (rotated ones too); ``max_bytes=0`` never rotates.

    logging.handlers is imported here: a collector that logs only to stderr
    starts without it (it pulls in socket, pickle and queue)."""
    from logging.handlers import RotatingFileHandler

    class PrivateFileHandler(RotatingFileHandler):
        def _open(self):
            return os.fdopen(open_private(self.baseFilename, os.O_WRONLY | os.O_APPEND), "a",
                             encoding=self.encoding, errors=self.errors)

    return PrivateFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")


def default_log_path(prog: str) -> str:
    from . import paths

    return os.path.join(paths.log_dir(), f"{prog}.log")


def setup(prog: str, *, screen: bool = False, log_file: str | None = None, verbose: bool = False,
          daemon: bool = False) -> str | None:
    """Install the one logging set-up; returns the log file's path (None: stderr).

    ``screen``: the terminal is the screen's, so records go to ``log_file`` or
    :func:`default_log_path` (rotated at :data:`LOG_BYTES`), never to stderr.
    Otherwise to ``log_file`` if given, else stderr, as ``prog: message`` lines
    (timestamped for a ``daemon``, whose stderr is a journal).  Levels: INFO to a
    file or a daemon's stderr, WARNING to a person's stderr, DEBUG with ``verbose``.
    Raises OSError when ``log_file`` cannot be made (the screen then logs nowhere, and says so).
    """
    path = log_file or (default_log_path(prog) if screen else None)
    handler: logging.Handler
    if path:
        try:
            handler = private_file_handler(path, *((LOG_BYTES, LOG_BACKUPS) if not log_file else (0, 0)))
        except OSError as exc:
            if not screen:
                raise
            # Still never the terminal (Python's last resort would print there): said once, before the screen.
            sys.stderr.write(f"{prog}: cannot write the log {path} ({exc.strerror or exc}): logging is off\n")
            handler, path = logging.NullHandler(), None
        handler.setFormatter(logging.Formatter(FILE_FORMAT))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FILE_FORMAT if daemon else f"{prog}: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    attach(handler)
    root.setLevel(logging.DEBUG if verbose else (logging.INFO if path or daemon else logging.WARNING))
    # pika's own lines repeat what the link status already says (masked); only with -v.
    logging.getLogger("pika").setLevel(logging.INFO if verbose else logging.CRITICAL)
    logging.captureWarnings(True)  # a library's warning must not land on the screen either
    return path


def attach(handler: logging.Handler) -> None:
    """Add ``handler`` to the root logger behind the secrets filter (the screen adds Textual's log)."""
    handler.addFilter(RedactFilter())
    logging.getLogger().addHandler(handler)


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
