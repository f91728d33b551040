"""A Parsl monitoring DB (``runinfo/monitoring.db``) read live, read-only.

Parsl's monitoring writes one SQLite DB from one process, the DB manager
(``parsl/monitoring/db_manager.py``): it gathers messages for up to a second,
then commits them table by table (workflow, task, status, try, node, block,
the workers' status and try updates, resource).  This source turns the rows
back into ``parsl.*`` events (``parsl_events.py``), one per row, which the
store's Parsl handlers (``parsl_model.py``) build the run from.

Never in the writer's way
    The DB is opened with ``core.sqlite.connect_ro`` (``mode=ro``, ``PRAGMA
    query_only``): no write lock, ever.  It uses a rollback journal, so a
    reader's shared lock makes the writer's commit fail, and Parsl's writer
    then sleeps a second and retries, forever: a long read delays the
    workflow.  Each poll asks ``PRAGMA data_version`` first (no I/O beyond the
    header page) and reads only when another connection has committed; a read
    takes at most ``chunk`` rows a table in one short transaction that only
    fetches them (they become events after it), a big DB is caught up in
    several, and a 50 ms busy timeout turns "database is locked" into "try at
    the next poll".

What is new
    Parsl's tables are rowid tables its writer only appends to, so each has a
    high-water mark (``rowid``) and a poll reads ``rowid > mark`` in the order
    workflow, task, try, status, resource, node, block.

What is updated in place
    The writer updates three tables after their insert: ``workflow`` (the task
    counts at every batch; ``time_completed`` at the end), ``task`` (times,
    fail count and cost, hash, inputs) and ``try`` (launch, running and return
    times, host, block, fail history, joins).  Every task and try update rides
    with a new ``status`` row of that task: the task's is committed before the
    status row, the try's one or two commits after it.  So a task and its try
    are read again with a new status row (unless read already since the DB
    last changed), and at the next ``REREAD_POLLS`` polls that see a commit;
    a re-read row makes an event only when it differs from the one last sent.
    When the DB has been quiet for ``WRITER_QUIET`` s, what those polls waited
    for was committed before the last one: the window is emptied.  Runs
    without ``time_completed`` are re-read at every poll that sees a commit.

The writer
    A run whose process died keeps ``time_completed`` NULL forever.  When the
    DB has been quiet a while and a run without an end was written on this
    host, the source looks for a process that holds the DB open for writing
    (``/proc/*/fd``) and says what it found as a ``parsl.run.writer`` event:
    the store's stall rule (``parsl_model``) calls such a run ``killed``,
    where it can only say ``stalled`` otherwise.

Bad input (missing, empty, truncated, another schema, a dir without
``runinfo/monitoring.db``) ends with ``status.state == "error"`` and a
one-line message; a DB locked for longer than ``LOCK_PATIENCE`` when read
once is an error too (a followed one is waited for).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time

from ...core import parsl_events as pe
from ..polled_db import PolledDbSource, rows_there
from ...core.sqlite import BUSY_MS, connect_ro, sqlite_file_problem
from ..pegasus.stampede_db import POLL_SECONDS, _Busy, _classify

# Rows a table a read transaction takes: catching up with a 100k-task DB (1.2M rows), its
# longest transaction held the shared lock 1.8 s at 50,000, 1.1 s at 20,000, 0.67 s at
# 10,000 (a busy 2-core machine), for the same total time; Parsl's writer, locked out,
# sleeps a second before it tries again.
CHUNK = 10_000
REREAD_POLLS = 3
REREAD_CHUNK = 500  # keys a re-read query looks up at once (SQLite's variable limit is 999 on old builds)
# Read once (--once), a DB locked this long is given up: Parsl's writer holds
# its lock for milliseconds; longer means a reader's open transaction.
LOCK_PATIENCE = 10.0
# The writer is looked for after the DB has been quiet this long, at most this often: the
# scan of /proc costs ~10 ms, and a healthy run writes within a second of any change.  Quiet
# this long, the re-read window is emptied too: the updates it waited for were all committed
# (Parsl commits a status row's try update milliseconds after it).
WRITER_QUIET = 5.0
WRITER_CHECK_EVERY = 10.0
WRITER = "Parsl's monitoring writer"
TABLES = ("workflow", "task", "try", "status", "resource", "node", "block")
DB_NAME = "monitoring.db"


class ParslDbError(Exception):
    """The input is not a Parsl monitoring DB this source can read; the message says why."""


class _Creating(ParslDbError):
    """Some of Parsl's tables and nothing else: its writer is creating them (one commit a table)."""


# -- recognising a Parsl DB --------------------------------------------------------


def db_of_dir(path: str) -> str | None:
    """The monitoring DB a directory holds: ``DIR/runinfo/monitoring.db`` (a
    Parsl script's working dir) or ``DIR/monitoring.db`` (``runinfo`` itself)."""
    for cand in (os.path.join(path, "runinfo", DB_NAME), os.path.join(path, DB_NAME)):
        if os.path.isfile(cand):
            return cand
    return None


def recognise(path: str) -> str | None:
    """The Parsl monitoring DB ``path`` names (itself, or the one a dir holds),
    or None when it is not one: what the source registry asks of each source."""
    if os.path.isdir(path):
        db = db_of_dir(path)
        return db if db is not None and (is_parsl_db(db) or _empty(db)) else None
    return path if is_parsl_db(path) else None


def _empty(path: str) -> bool:
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


def is_parsl_db(path: str) -> bool:
    """An SQLite file whose ``workflow`` table has Parsl's ``run_id`` (a Stampede
    workflow has ``wf_uuid``): Parsl's, even if the rest is not what we read."""
    kind, _ = sqlite_file_problem(path)
    if kind is not None:
        return False
    try:
        conn = connect_ro(path)
    except sqlite3.Error:
        return False
    try:
        return "run_id" in _columns(conn, "workflow")
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}


def find_db(path: str) -> str:
    """The DB to read for ``path`` (a DB, or a dir holding ``runinfo/``); ParslDbError
    saying what is missing for a dir without one."""
    if not os.path.isdir(path):
        return path
    db = db_of_dir(path)
    if db is None:
        raise ParslDbError(f"{path}: no runinfo/{DB_NAME} here (a Parsl run with monitoring writes it: "
                           f"MonitoringHub in its Config)")
    return db


def schema_of(conn: sqlite3.Connection, name: str) -> dict[str, str]:
    """Each table's SELECT list (a column Parsl's DB lacks reads as NULL), or
    ParslDbError naming what is missing for a schema this source cannot read."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for t in pe.REQUIRED_TABLES:
        if t not in tables:
            if tables <= set(TABLES):
                raise _Creating(f"{name}: an incomplete Parsl schema (no {t} table yet: Parsl still creating it?)")
            raise ParslDbError(f"{name}: not a Parsl monitoring DB panorama-top reads: no {t} table")
    out = {}
    for t in TABLES:
        if t not in tables:
            continue  # optional: no resource monitoring, no blocks, a Parsl before the try table
        have = _columns(conn, t)
        missing = [c for c in pe.REQUIRED[t] if c not in have]
        if missing:
            raise ParslDbError(f"{name}: not a Parsl monitoring DB panorama-top reads: "
                               f"no {t}.{missing[0]} column")
        out[t] = ", ".join(f'"{c}"' if c in have else "NULL" for c in pe.COLUMNS[t])
    return out


# -- rows as events ------------------------------------------------------------------


def row_event(table: str, row) -> dict:
    """One row (its columns in ``parsl_events.COLUMNS`` order) as a ``parsl.*`` event."""
    cols = pe.COLUMNS[table]
    d = dict(zip(cols, row))
    for c in cols:
        v = d[c]
        if v is None:
            continue
        if c in pe.TIME_COLUMNS:
            d[c] = pe.local_epoch(v)
        elif c in pe.ID_LISTS:
            try:
                d[c] = pe.id_list(v)
            except ValueError:
                d[c] = None  # not ids: nothing to draw a dependency from
    if table == "node" and d["active"] is not None:
        d["active"] = bool(d["active"])
    ts = None
    for c in pe.TS_COLUMNS[table]:
        ts = d[c]
        if ts is not None:
            break
    d["event"] = pe.EVENT_OF_TABLE[table]
    d["ts"] = ts
    return d


# -- the writer -----------------------------------------------------------------------


def db_writers(path: str) -> int | None:
    """How many processes this user can see hold ``path`` open for writing, or
    None when this system cannot tell (no /proc).  SQLite's writers open the DB
    read-write; readers that open it ``mode=ro`` (panorama-top) do not count."""
    try:
        target = os.stat(path)
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    key = (target.st_dev, target.st_ino)
    found = 0
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # another user's, or gone
        for fd in fds:
            try:
                st = os.stat(f"{fd_dir}/{fd}")
                if (st.st_dev, st.st_ino) != key:
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    flags = next((int(ln.split()[1], 8) for ln in f if ln.startswith("flags:")), 0)
            except (OSError, ValueError):
                continue
            if flags & 0o3:  # O_WRONLY or O_RDWR
                found += 1
    return found


def _this_host() -> set[str]:
    name = socket.gethostname()
    return {name, name.split(".")[0]}


# -- the source ------------------------------------------------------------------------


class ParslDbSource(PolledDbSource):
    """Follows (or reads once) a Parsl monitoring DB and yields ``parsl.*`` events."""

    error_class = ParslDbError

    def __init__(self, path: str, follow: bool = True, poll: float = POLL_SECONDS, chunk: int = CHUNK,
                 writers=db_writers):
        super().__init__()
        self.path = path
        self.follow = follow
        self.live = follow
        self.recordable = follow  # read once, the DB is the record
        self.poll_seconds = poll
        self.chunk = chunk
        self.label = f"parsl {os.path.basename(path)}"
        self.writers = writers  # how the writer is looked for (a test gives its own)
        self.conn: sqlite3.Connection | None = None
        self.selects: dict[str, str] = {}
        self.polls = self.changed_polls = self.busy_polls = self.rows_read = 0
        self.marks = dict.fromkeys(TABLES, 0)
        self.caught_up = False
        self._data_version = None
        self._ino = None
        self._busy_since: float | None = None
        # (run_id, task_id, try_id or None) -> changed polls it is still re-read at
        self._window: dict[tuple, int] = {}
        self._sig: dict[tuple, tuple] = {}  # ("task"|"try", key) -> the row last sent, while in the window
        self._read_now: set[tuple] = set()  # ("task"|"try", key) read since the DB last changed
        self._open_runs: dict[str, tuple] = {}  # run_id -> its workflow row, while it has no time_completed
        # run_id -> [its workflow row, changed polls left]: a run's end can be written twice (the DB
        # manager's own, then the DFK's, earlier one, in place), so an ended row is read again too
        self._ending: dict[str, list] = {}
        self._run_host: dict[str, str] = {}
        self._writer_said: dict[str, bool] = {}
        self._last_change = time.monotonic()
        self._last_check = 0.0

    # -- opening ---------------------------------------------------------------
    def _open(self) -> bool:
        """Open and check; False (with status set) when not possible now."""
        path = self.path
        kind, problem = sqlite_file_problem(path)
        if kind is not None:
            if self.follow and kind in ("missing", "empty"):
                self._wait(f"waiting for {path} (" + ("Parsl has not created it yet)" if kind == "missing"
                                                    else "empty: Parsl starting?)"))
                return False
            raise ParslDbError(problem.replace("Stampede DB", "Parsl monitoring DB"))
        try:
            st = os.stat(path)
            conn = connect_ro(path)
        except OSError as exc:
            raise ParslDbError(f"{path}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            return self._not_now(exc)
        try:
            self.selects = schema_of(conn, path)
        except sqlite3.Error as exc:
            conn.close()
            return self._not_now(exc)
        except ParslDbError as exc:
            conn.close()
            if isinstance(exc, _Creating) and self.follow:
                self._wait(str(exc))
                return False
            raise
        self.conn = conn
        self._ino = (st.st_dev, st.st_ino)
        self._data_version = None
        return True

    def _not_now(self, exc: sqlite3.Error) -> bool:
        """An SQLite error while opening: False when the DB is only locked, else the error to report."""
        err = self._error(exc)
        if not isinstance(err, _Busy):
            raise err from None
        self._busy(str(err))
        return False

    def _error(self, exc: sqlite3.Error) -> Exception:
        err = _classify(exc, self.path, WRITER)
        return err if isinstance(err, _Busy) else ParslDbError(str(err))

    def _busy(self, message: str) -> None:
        """Locked: wait (followed), or give up after LOCK_PATIENCE (read once)."""
        self.busy_polls += 1
        now = time.monotonic()
        if self._busy_since is None:
            self._busy_since = now
        if not self.follow and now - self._busy_since > LOCK_PATIENCE:
            raise ParslDbError(f"{self.path}: locked for over {LOCK_PATIENCE:g} s by another process "
                               f"(an open write transaction); try again")
        self.status.message = message

    # -- the loop ----------------------------------------------------------------
    def _busy_wait(self) -> float:
        return min(self.poll_seconds, BUSY_MS / 1000 * 4)

    def step(self) -> list[dict]:
        """One round: the events for what is new (maybe none), and what was found of
        the writer when the DB has been quiet (read once: at its end)."""
        self._loaded()
        if self.conn is None and not self._open():
            return []
        if self._replaced():  # a new DB at the path: what was read is no longer there
            raise ParslDbError(f"{self.path}: replaced by another file while being read; open it again")
        events = self.poll() or []
        if self.caught_up:
            events += self._writer_events(final=not self.follow)
            if self.follow:
                self.status.state = "following"
                self.status.message = ""
        return events

    def _replaced(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # moved away: keep reading the open file
        return (st.st_dev, st.st_ino) != self._ino

    def poll(self) -> list[dict] | None:
        """One look at the DB: the events for what is new (maybe []), or None
        when it was locked and nothing was read.  The read transaction only
        fetches rows: they become events once it has ended."""
        conn = self.conn
        self.polls += 1
        try:
            dv = conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            err = self._error(exc)
            if isinstance(err, _Busy):
                self._busy(str(err))
                return None
            raise err from None
        if dv == self._data_version and self.caught_up:
            if self._window and time.monotonic() - self._last_change >= WRITER_QUIET:
                # No commit for a while: every update a key waited for was in the last state read.
                self._window.clear()
                self._sig.clear()
            return []
        changed = dv != self._data_version
        if changed:
            self._last_change = time.monotonic()
            self._read_now.clear()  # what was read before may have changed since
            self._age_window()
        raw: list[tuple] = []
        try:
            conn.execute("BEGIN")
            try:
                more = self._read(conn, raw, changed)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            err = self._error(exc)
            if not isinstance(err, _Busy):
                raise err from None
            self._busy(str(err))
            self.caught_up = False
            return self._events(raw) or None  # marks moved only past the rows in raw
        self._busy_since = None
        self._data_version = dv
        self.changed_polls += changed
        self.caught_up = not more
        if self.caught_up:
            self._read_now.clear()  # the next read comes with a change, which would clear it
        if self.status.state == "starting" or more:
            self.status.state = "reading"
        detail = {"rows": self.rows_read, "polls": self.polls, "busy": self.busy_polls,
                  "runs": len(self._run_host)}
        if more or self.loading:  # a big DB read in chunks: how far (issue #14)
            self.loading = True
            loaded = sum(self.marks.values())
            try:
                total = rows_there(conn, self.selects)
            except sqlite3.Error:  # locked again: the last figures stand
                total = self.status.detail.get("total_rows", loaded)
            detail.update(loaded_rows=loaded, total_rows=max(total, loaded))
        self.status.detail = detail
        return self._events(raw)

    @staticmethod
    def _events(raw: list[tuple]) -> list[dict]:
        return [row_event(table, row) for table, row in raw]

    # -- reading --------------------------------------------------------------------
    def _rows(self, conn, table: str):
        rows = conn.execute(
            f'SELECT rowid, {self.selects[table]} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT ?',
            (self.marks[table], self.chunk),
        ).fetchall()
        if rows:
            self.marks[table] = rows[-1][0]
        self.rows_read += len(rows)
        return rows, len(rows) >= self.chunk

    def _read(self, conn, raw: list, changed: bool) -> bool:
        """Fetch what is new into ``raw`` as (table, row); True when a table was cut at ``chunk``."""
        more = self._read_workflows(conn, raw, changed)
        touched: set[tuple] = set()
        if "task" in self.selects:
            more |= self._read_new(conn, raw, "task", touched)
        if "try" in self.selects:
            more |= self._read_new(conn, raw, "try", touched)
        more |= self._read_new(conn, raw, "status", touched)
        self._reread(conn, raw, touched, changed)
        for table in ("resource", "node", "block"):
            if table in self.selects:
                more |= self._read_new(conn, raw, table, None)
        return more

    def _read_workflows(self, conn, raw: list, changed: bool) -> bool:
        rows, more = self._rows(conn, "workflow")
        fresh = set()
        for r in rows:
            fresh.add(r[1])
            self._workflow_row(r[1:], raw)
        if not changed:
            return more
        # Runs without an end, or just ended: their counts and time_completed are updated in place.
        for run in list(self._ending):
            self._ending[run][1] -= 1
            if self._ending[run][1] < 0:
                del self._ending[run]
        stale = [run for run in (*self._open_runs, *self._ending) if run not in fresh]
        for i in range(0, len(stale), REREAD_CHUNK):
            part = stale[i:i + REREAD_CHUNK]
            for r in conn.execute(f'SELECT {self.selects["workflow"]} FROM workflow WHERE run_id IN '
                                  f'({",".join("?" * len(part))})', part):
                self._workflow_row(tuple(r), raw)
        return more

    def _workflow_row(self, row: tuple, raw: list) -> None:
        run_id = row[0]
        ending = self._ending.get(run_id)
        if row == self._open_runs.get(run_id) or (ending is not None and row == ending[0]):
            return
        self._run_host[run_id] = row[5] or ""  # host
        if row[4] is None:  # time_completed
            self._open_runs[run_id] = row
        else:
            self._open_runs.pop(run_id, None)
            self._ending[run_id] = [row, REREAD_POLLS]
        raw.append(("workflow", row))

    # where a task's keys sit in its rows (parsl_events.COLUMNS): (run_id, task_id, try_id or None)
    _KEY_AT = {"task": (1, 0, None), "try": (2, 1, 0), "status": (3, 0, 4)}

    def _read_new(self, conn, raw: list, table: str, touched: set | None) -> bool:
        """New rows; those of a task (task, try, status) put its key in ``touched``;
        task and try rows are what this snapshot holds of them (``_read_now``)."""
        rows, more = self._rows(conn, table)
        if touched is None:
            raw.extend((table, r[1:]) for r in rows)
            return more
        run_at, task_at, try_at = self._KEY_AT[table]
        sig = self._sig
        read_now = self._read_now
        for r in rows:
            row = r[1:]
            raw.append((table, row))
            key = (row[run_at], row[task_at], None if try_at is None else row[try_at])
            touched.add(key)
            if table != "status":
                k = (table, key[:2] if table == "task" else key)
                sig[k] = row
                read_now.add(k)
        return more

    # -- rows updated in place ----------------------------------------------------------
    def _age_window(self) -> None:
        """One changed poll less for every key in the re-read window."""
        window = self._window
        for key, left in list(window.items()):
            if left <= 1:
                del window[key]
                self._sig.pop(("task", key[:2]), None)
                self._sig.pop(("try", key), None)
            else:
                window[key] = left - 1

    def _reread(self, conn, raw: list, touched: set, changed: bool) -> None:
        """Read again the task and try rows that may have changed since they were read:
        those of the keys touched now (a task row is updated before its status row is
        committed) and, when the DB has changed, of the keys in the window (a try row is
        updated one or two commits after); rows already read in this state of the DB
        (``_read_now``) are as they are.  Only rows that differ from the last sent go out."""
        window = self._window
        keys = (set(window) | touched) if changed else touched
        for key in touched:
            window[key] = REREAD_POLLS
        read_now = self._read_now
        tasks = sorted({k[:2] for k in keys if ("task", k[:2]) not in read_now}, key=str)
        tries = sorted({k for k in keys if k[2] is not None and ("try", k) not in read_now}, key=str)
        if "task" in self.selects:
            self._reread_rows(conn, raw, "task", tasks, ("task_id", "run_id"))
        if "try" in self.selects:
            self._reread_rows(conn, raw, "try", tries, ("try_id", "task_id", "run_id"))

    def _reread_rows(self, conn, raw: list, table: str, keys: list, pk: tuple) -> None:
        """Rows looked up by their primary key (Parsl's own index), a chunk of keys a query."""
        sig = self._sig
        read_now = self._read_now
        run_at, task_at, try_at = self._KEY_AT[table]
        cols = ", ".join(f"k{i}" for i in range(len(pk)))
        on = " AND ".join(f'"{table}"."{c}" = k.k{i}' for i, c in enumerate(pk))
        for i in range(0, len(keys), REREAD_CHUNK):
            part = keys[i:i + REREAD_CHUNK]
            values = ",".join("(" + ",".join("?" * len(pk)) + ")" for _ in part)
            args = [v for key in part for v in ((key[1], key[0]) if table == "task" else (key[2], key[1], key[0]))]
            sql = (f'WITH k({cols}) AS (VALUES {values}) '
                   f'SELECT {self.selects[table]} FROM "{table}" JOIN k ON {on}')
            for r in conn.execute(sql, args):
                row = tuple(r)
                key = (row[run_at], row[task_at]) if try_at is None else (row[run_at], row[task_at], row[try_at])
                k = (table, key)
                read_now.add(k)
                if sig.get(k) != row:
                    sig[k] = row
                    raw.append((table, row))

    # -- the writer ---------------------------------------------------------------------
    def _writer_events(self, final: bool) -> list[dict]:
        """``parsl.run.writer`` for the runs without an end written on this host, when
        the DB has been quiet (or, read once, at its end): what changed since last said."""
        if not self._open_runs:
            return []
        now = time.monotonic()
        if not final and (now - self._last_change < WRITER_QUIET or now - self._last_check < WRITER_CHECK_EVERY):
            return []
        self._last_check = now
        hosts = _this_host()
        local = [run for run in self._open_runs if self._run_host.get(run) in hosts]
        if not local:
            return []  # written elsewhere: its processes are not ours to see
        n = self.writers(self.path)
        if n is None:
            return []
        alive = n > 0
        wall = time.time()
        out = []
        for run in local:
            if self._writer_said.get(run) != alive:
                self._writer_said[run] = alive
                out.append({"event": pe.WRITER, "run_id": run, "alive": alive, "writers": n,
                            "host": self._run_host.get(run), "ts": wall})
        return out
