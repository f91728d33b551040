"""SQLite read-only: the one way the tree sniffs, opens and bounds an SQLite file.

Sources (Stampede, master and Parsl DBs), detection and the SQL statistics read
DBs that other programs write; they all open them here: ``mode=ro`` plus
``PRAGMA query_only`` (never a write lock), a busy timeout, and a bound on
every statement's work (:func:`bound_work`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from urllib.parse import quote

# The first 16 bytes of every SQLite 3 file.
MAGIC = b"SQLite format 3\x00"

# What reading a damaged DB raises: SQLite's errors, and UnicodeDecodeError when the text of
# one (a corrupted schema's names in "malformed database schema (...)") is not UTF-8.
SQL_ERRORS = (sqlite3.Error, UnicodeDecodeError)
# SQLite VM steps between two looks at the clock (~1-5 ms of work here): a look costs ~1 us.
_STEPS = 50_000
# The longest one statement may run.  The slowest real ones, sqlstats' scans of a 100k-job DB,
# take ~2 s on a busy 2-core machine; a corrupted page that sends SQLite round a b-tree loop
# never ends.  60 s is far from both.
MAX_STATEMENT_SECONDS = 60.0
# A reader's busy timeout: a writer's commit holds the lock for milliseconds; "locked" past this
# means "try at the next poll" (a longer wait would make the writer's next commit wait on us).
BUSY_MS = 50


def bound_work(conn: sqlite3.Connection, seconds: float = MAX_STATEMENT_SECONDS) -> None:
    """Interrupt any statement of ``conn`` that runs longer than ``seconds``: it
    raises ``sqlite3.OperationalError: interrupted``."""
    clock = time.monotonic
    deadline = [clock() + seconds]

    def started(_sql) -> None:  # SQLite calls this as each statement starts to run
        deadline[0] = clock() + seconds

    conn.set_trace_callback(started)
    conn.set_progress_handler(lambda: clock() > deadline[0], _STEPS)


def text_reader(on_bad=None):
    """An SQLite ``text_factory``: UTF-8, with U+FFFD where a value is not
    (``on_bad(text)`` is told of each such value)."""

    def read(raw: bytes) -> str:
        try:
            return raw.decode()
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            if on_bad is not None:
                on_bad(text)
            return text

    return read


def db_uri(path: str, immutable: bool = False) -> str:
    """The read-only URI of ``path`` (quoted: a name may hold ``?`` or ``#``); ``immutable``
    for a file no one writes that lies where we cannot write (no ``-shm`` can be made)."""
    return "file:" + quote(os.path.abspath(path)) + "?mode=ro" + ("&immutable=1" if immutable else "")


def connect_ro(path: str, busy_ms: int = BUSY_MS) -> sqlite3.Connection:
    """A read-only, autocommit connection that never takes a write lock, and
    whose statements have a bound (:func:`bound_work`)."""
    conn = sqlite3.connect(db_uri(path), uri=True, timeout=busy_ms / 1000.0,
                           isolation_level=None, check_same_thread=False)
    bound_work(conn)
    conn.execute("PRAGMA query_only = 1")
    return conn


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def is_locked(exc: BaseException) -> bool:
    """An SQLite error that means "a writer holds the lock now", not "unreadable"."""
    msg = str(exc)
    return "locked" in msg or "busy" in msg


def sqlite_file_problem(path: str, what: str = "a Stampede DB") -> tuple[str | None, str | None]:
    """Why ``path`` cannot be read as an SQLite DB now, before SQLite is asked
    (its own errors are vaguer): (kind, one-line message), kind one of
    "missing", "empty", "other"; (None, None) when it looks like one.
    ``what`` names the DB the caller expected, for the message."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing", f"{path}: no such file"
    except OSError as exc:
        return "other", f"{path}: {exc.strerror or exc}"
    if os.path.isdir(path):
        return "other", f"{path}: a directory, not {what}"
    if st.st_size == 0:
        return "empty", f"{path}: empty file, not {what}"
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        return "other", f"{path}: {exc.strerror or exc}"
    if head != MAGIC:
        return "other", f"{path}: not an SQLite file, so not {what}"
    return None, None
