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

A big DB first (``BULK_MIN_TASKS``)
    Opened with at least 5,000 tasks, the DB is first read by ranges of task ids up to the
    rowids it had then (its snapshot), each range's task, try, status and resource rows in
    one ``parsl.bulk.tasks`` event of plain tuples (the nodes: each manager's latest row),
    a short transaction a range; the rowid marks then start at the snapshot and what comes
    after is read as below, the tries of the last status rows read in the re-read window.
    At 100k tasks: half the CPU of one event a row, half the memory (bench_parsl).  A task
    that ended exec_done or memo_done with one timed try comes with its final status row
    alone (``SUMMARISED``); its other status rows are its history, read when the user opens
    it (``history_events``, pipeline/history.py).  Each range is shaped for the store's bulk
    handler by ``bulk_shape.RangeShaper`` (times, id lists, the summary, each try's resource
    samples and each task's series); from ``PREFETCH_MIN_TASKS`` task ids a child process
    (``sources/read_ahead.py``) reads and shapes the ranges after the first ``PREFETCH_AFTER``
    ahead of the reader, whose thread shares the GIL with the screen.  Whatever the load: with
    the screen at 100k tasks, 6 alternated pairs at load 2.0-3.3 on 2 cores, fully loaded in
    8.5-13.6 s (median 11.0) against 11.9-13.7 s (median 12.3) without it, the screen's process
    5.5-6.6 s of CPU against 10.2-12.2 s, its ingest thread 3.4-4.1 s against 7.3-8.4 s.  (When
    the child only ran the queries, a load-average check kept it off a busy machine: the two
    then waited on each other.)

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
from ...core.events import Event
from ..polled_db import PolledDbSource, rows_there
from ...core.sqlite import BUSY_MS, connect_ro, sqlite_file_problem
from ..read_ahead import Prefetch
from .bulk_shape import REREAD_CHUNK, SHAPER, FastEpoch, RangeShaper, convert
from .bulk_shape import _ids as _ids  # (parsl_sql_once takes it from this module)
from ..pegasus.stampede_db import POLL_SECONDS, _Busy, _classify

# Rows a table a read transaction takes: catching up with a 100k-task DB (1.2M rows), its
# longest transaction held the shared lock 1.8 s at 50,000, 1.1 s at 20,000, 0.67 s at
# 10,000 (a busy 2-core machine), for the same total time; Parsl's writer, locked out,
# sleeps a second before it tries again.
CHUNK = 10_000
REREAD_POLLS = 3
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
# Bulk loading (issues #14, #15).  A DB of at least BULK_MIN_TASKS tasks is first read by
# ranges of task ids, BULK_RANGE ids a short transaction (each table through its primary
# key: status by (task_id, ...), try and resource by (try_id, task_id, ...) with the
# try ids listed), every row of those tasks carried by one ``parsl.bulk.tasks`` event as
# plain tuples, which the store's handler turns into tasks and tries in one loop: at
# 100k tasks one row event and its dict cost more than the whole bulk path per row.
# The first range is small, so the first screen's rows come from a read of a few
# milliseconds.  A smaller DB is read row event by row event (it takes < 0.2 s either way,
# and the relay's subscribers and recordings then carry the documented row events).
# A range's event holds the store's lock while it is applied: 500 tasks take ~25 ms of CPU
# (100k tasks: 9 s in all, the same at 2,000 a range, which held the lock 4 times as long).
BULK_MIN_TASKS = 5_000
BULK_FIRST = 500
BULK_RANGE = 500
# After the bulk read, the tries of the last status rows it read are re-read at the next
# changed polls, like every key the incremental path touches (a try row is updated one or
# two commits after its status row): the writer's last commits hold at most this many rows.
BULK_RECENT_STATUS = 5_000
# A bulk read of this many task ids or more has its ranges read and shaped ahead by a child
# process (sources/read_ahead.py): the queries and the shaping were ~3/4 of the ingest thread's
# CPU with the screen (100k tasks: 3.4-4.1 s with the child, 7.3-8.4 s without), which the
# screen's thread otherwise waits for (GIL).
PREFETCH_MIN_TASKS = 20_000
# ... started once this many ranges are read here: its start (a Python, ~0.1 s of a core) and
# its spec (200 ranges' SQL) are then off the first screen's path.  Started with the second
# range, the first rows came ~50 ms later than without it (medians of 8, load 2: 0.256 vs
# 0.202 s after the imports).
PREFETCH_AFTER = 4
TABLES = ("workflow", "task", "try", "status", "resource", "node", "block")
_SUMMARY_NAMES = ",".join(f"'{n}'" for n in sorted(pe.TRY_END_STATES))
_KNOWN_NAMES = ",".join(f"'{n}'" for n in sorted(pe.STATE_RANK))
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


DISTINCT_STEPS = 64  # try ids looked up one by one through the key; more: one DISTINCT scan


def _distinct_try_ids(conn, table: str) -> list:
    """The distinct ``try_id`` of ``table`` (try or resource: the first column of its primary
    key), one index lookup each while they are few (0, 1, ...: one a retry) instead of a scan
    (SELECT DISTINCT: 48 ms over 278k resource rows, on the first rows' path)."""
    out: list = []
    sql = f'SELECT min(try_id) FROM "{table}" WHERE try_id > ?'
    v = conn.execute(f'SELECT min(try_id) FROM "{table}"').fetchone()[0]
    while v is not None and len(out) < DISTINCT_STEPS:
        if type(v) not in (int, float):  # text or blobs after the numbers: let the scan say what there is
            break
        out.append(v)
        v = conn.execute(sql, (v,)).fetchone()[0]
    else:
        if v is None:
            return out
    return [r[0] for r in conn.execute(f'SELECT DISTINCT try_id FROM "{table}"')]


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
                 writers=db_writers, bulk: bool | None = None, prefetch_min: int | None = PREFETCH_MIN_TASKS):
        super().__init__()
        # True: a first read in bulk whatever the DB's size; False: never (the relay publishes row
        # events); None: when the DB has at least BULK_MIN_TASKS tasks
        self.bulk = bulk
        self._bulk_todo: list | None = None  # the task id ranges still to read in bulk, while bulk loading
        self._bulk_marks: dict[str, int] = {}  # the rowids the bulk read stops at (its snapshot)
        self._bulk_rows = 0
        self._bulk_tasks = 0  # the task ids the bulk read spans
        self._bulk_ranges = 0  # its ranges
        # the bulk read's fixed queries read ahead by a child process (None: never)
        self.prefetch_min = prefetch_min
        self._taken: tuple | None = None  # (range, its rows) the child handed over last
        self._shaper: RangeShaper | None = None  # what shapes the ranges read here
        self._prefetch_started = False
        self._resource_cols = self._task_cols = 0  # the columns a bulk read's resource and task rows have
        self._epoch = FastEpoch()
        self.path = path
        self.follow = follow
        self.live = follow
        self.recordable = follow  # read once, the DB is the record
        # Followed, it is recorded only when asked (--record FILE): its status rows keep every
        # state's time, as a followed log keeps its lines.  Recorded by default, a 100k-task DB
        # wrote a 17 MB recording at each open and took 10.0-10.1 s to load with the screen
        # against 6.5-7.5 s (2 pairs, quiet): the ingest thread's CPU 7.0-7.3 s against 3.1-4.1 s.
        self.file_backed = True
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
        self._ino: tuple | None = None
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
        if self._bulk_todo is None and self.bulk is not False and not any(self.marks.values()):
            self._bulk_todo = []
            if not self._in_read(conn, self._bulk_plan):
                self._bulk_todo = None
                return None
        if self._bulk_todo:
            return self._bulk_poll(conn, dv)
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

    # -- the bulk read --------------------------------------------------------------
    def _in_read(self, conn, fn, *args) -> bool:
        """``fn(conn, *args)`` in one read transaction; False when the DB was locked (busy noted)."""
        try:
            conn.execute("BEGIN")
            try:
                fn(conn, *args)
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
            return False
        self._busy_since = None
        return True

    def _bulk_plan(self, conn) -> None:
        """Whether to read in bulk, and the task id ranges and rowid marks (the snapshot) to read."""
        todo: list = []
        if "task" in self.selects:
            # min and max through the primary key, and whether there are BULK_MIN_TASKS tasks without
            # counting them all (the plan is on the first rows' path: count(*) of 100k tasks took 30 ms)
            lo, hi = conn.execute("SELECT min(task_id), max(task_id) FROM task").fetchone()
            n = conn.execute("SELECT count(*) FROM (SELECT 1 FROM task LIMIT ?)", (BULK_MIN_TASKS,)).fetchone()[0]
            if lo is not None and (self.bulk or n >= BULK_MIN_TASKS):
                first = min(hi + 1, lo + BULK_FIRST)
                todo = [(lo, first)]
                todo += [(a, min(hi + 1, a + BULK_RANGE)) for a in range(first, hi + 1, BULK_RANGE)]
                self._bulk_tasks = hi + 1 - lo
                self._bulk_ranges = len(todo)
        if not todo:
            self.bulk = False
            return
        marks: dict[str, int] = {}
        for t in ("task", "try", "status", "resource", "node"):
            if t in self.selects:
                marks[t] = conn.execute(f'SELECT max(rowid) FROM "{t}"').fetchone()[0] or 0
        # every try id (a few: one a retry), so try and resource are read through their primary keys
        ids: set = set()
        for t in ("try", "resource"):
            if t in self.selects:
                ids.update(_distinct_try_ids(conn, t))
        self._try_ids = sorted(i for i in ids if isinstance(i, int))
        self._bulk_marks = marks
        self._bulk_todo = todo
        self._bulk_first = todo[0][0]
        self._bulk_total = rows_there(conn, self.selects)

    def _bulk_poll(self, conn, dv) -> list[dict] | None:
        """One range of task ids read in bulk (one short transaction): its ``parsl.bulk.tasks``
        event; after the last, the nodes, and the rowid marks the incremental reads go on from."""
        lo, hi = self._bulk_todo[0]
        got: dict = {}
        last = len(self._bulk_todo) == 1
        if not self._in_read(conn, self._bulk_read, lo, hi, got, last):
            return None
        self._bulk_todo.pop(0)
        self.status.state = "reading"
        self.loading = True
        events = [row_event("workflow", r) for r in got.pop("workflow")]
        # the rows it stands for (the node table's as read, not the managers' latest rows it carries)
        n = len(got.get("task", ())) + len(got.get("try", ())) + got.pop("resource_rows", 0)
        n += got.get("status_rows", len(got.get("status", ())))
        n += got.pop("node_rows", 0)
        self._bulk_rows += n
        self.rows_read += n
        events.append({"event": pe.BULK, "ts": None, "rows": n, **got})
        if last:
            self._bulk_done(conn, got)
        self.status.detail = {"rows": self.rows_read, "polls": self.polls, "busy": self.busy_polls,
                              "runs": len(self._run_host), "loaded_rows": self._bulk_rows,
                              "total_rows": max(self._bulk_total, self._bulk_rows)}
        return events

    def _bulk_read(self, conn, lo: int, hi: int, got: dict, last: bool) -> None:
        raw: list[tuple] = []
        if lo == self._bulk_first:  # the runs first (the incremental reads then follow them)
            self._read_workflows(conn, raw, True)
        elif len(self._bulk_todo or ()) <= self._bulk_ranges - PREFETCH_AFTER:
            self._start_prefetch()  # (once) after the first ranges, off the first rows' path
        got["workflow"] = [row for _, row in raw]
        got.update(self._range_rows(conn, lo, hi, last))
        window = got.pop("window", None)
        if window is not None:
            # the window, with the rows as they are now (only what differs from them goes out again)
            keys = {(row[3], row[0], row[4]) for row in window}  # (a Parsl without status.try_id: NULL)
            self._reread(conn, [], keys, False)

    def _range_queries(self, lo: int, hi: int, last: bool) -> list[tuple[str, str, list]]:
        """A range's fixed queries, (name, SQL, parameters) each: what it reads of the task, try,
        status and resource tables (the last range: the nodes, and the status rows whose tries
        are re-read after it).  Fixed once the runs are read (a run without an end's latest
        status times are asked for): what the child reads ahead (``read_ahead``)."""
        marks = self._bulk_marks
        out: list[tuple[str, str, list]] = []
        q = 'SELECT {cols} FROM "{t}" WHERE {where}task_id >= ? AND task_id < ? AND rowid <= ?'
        ids = f"try_id IN ({','.join(str(int(i)) for i in self._try_ids)}) AND " if self._try_ids else "0 AND "
        for t in ("task", "try", "status", "resource"):
            if t == "status" and self._summarised():
                out += self._status_queries(lo, hi, marks["status"])
                continue
            if t in self.selects:  # try and resource through their (try_id, task_id, ...) keys
                cols = self.selects[t]
                if t == "resource":  # the sample's figures the store keeps, not the rest (11 of 18 columns)
                    cols = ", ".join(cols.split(", ")[i] for i in pe.BULK_RESOURCE_COLUMNS)
                    self._resource_cols = len(pe.BULK_RESOURCE_COLUMNS)
                sql = q.format(cols=cols, t=t, where=ids if t in ("try", "resource") else "")
                if t == "task":  # tasks become jobs in the order they were written (their rowid says it)
                    sql = sql.replace(" FROM", ", rowid FROM", 1)
                    self._task_cols = len(cols.split(", ")) + 1
                out.append((t, sql, [lo, hi, marks[t]]))
        if last and "status" in marks:
            out.append(("window", f'SELECT {self.selects["status"]} FROM status WHERE rowid > ? AND rowid <= ?',
                        [marks["status"] - BULK_RECENT_STATUS, marks["status"]]))
        if last and "node" in self.selects:
            cols = self.selects["node"]
            heartbeat = cols.split(", ")[pe.COLUMNS["node"].index("last_heartbeat")]
            out += [("node_count", "SELECT count(*) FROM node WHERE rowid <= ?", [marks["node"]]),
                    # (a column an older Parsl lacks is NULL in ``cols``: grouped by the result's columns)
                    ("node", f"SELECT {cols}, max(timestamp) FROM node WHERE rowid <= ? GROUP BY 1, 2, 3",
                     [marks["node"]]),
                    ("node_times", f"SELECT run_id, max(timestamp), max({heartbeat}) FROM node WHERE rowid <= ? "
                                   f"GROUP BY run_id", [marks["node"]])]
        return out

    def _range_rows(self, conn, lo: int, hi: int, last: bool) -> dict:
        """A range shaped (``bulk_shape.RangeShaper``): by the read-ahead child when it has it, else
        here, its queries in this poll's read transaction."""
        queries = self._range_queries(lo, hi, last)
        kind = "last" if last else "range"
        if self._taken is not None and self._taken[0] == lo:  # (its read here was locked out: again)
            return dict(self._taken[1])
        if self._shaper is None:
            self._shaper = RangeShaper(self._shaper_context())
        got = self.taken_ahead([kind, lo])
        if got is not None and list(self._shaper.names[kind]) != [name for name, _, _ in queries]:
            self.stop_reading_ahead("a range's queries differ from the child's")
            got = None
        if got is not None:
            self._taken = (lo, got)
            return dict(got)
        results = [conn.execute(sql, params).fetchall() for _, sql, params in queries]
        return self._shaper.shape(kind, conn, queries[0][2], results)

    def _shaper_context(self) -> dict:
        """The shaper's context: the names of a range's queries and of the last one's, and what
        of this source's schema and bulk read it shapes them by."""
        lo, hi = self._bulk_todo[0] if self._bulk_todo else (0, 0)
        names = {kind: [name for name, _, _ in self._range_queries(lo, hi, kind == "last")]
                 for kind in ("range", "last")}
        return RangeShaper.context(self, names)

    def _start_prefetch(self) -> None:
        """The ranges after this one read and shaped ahead by a child process (``read_ahead``) while
        this one is read here, for a DB of PREFETCH_MIN_TASKS (see PREFETCH_AFTER).  (Every 7th range
        read here as well, while the child read on, took more of this process's CPU, 4 alternated
        pairs with the screen at load ~1: the ingest thread 3.3-4.4 s against 2.9-3.8 s, and no
        shorter load: 6.9-8.9 s against 5.9-7.9 s.)"""
        todo = self._bulk_todo or []
        if (self.prefetch_min is None or len(todo) < 2 or self._bulk_tasks < self.prefetch_min
                or self._prefetch_started):
            return
        self._prefetch_started = True
        steps = []
        for i, (lo, hi) in enumerate(todo):
            last = i == len(todo) - 1
            if i > 0:
                steps.append([["last" if last else "range", lo],
                              [[sql, params] for _, sql, params in self._range_queries(lo, hi, last)]])
        self.prefetch = Prefetch(self.path, steps, shaper=SHAPER, ctx=self._shaper_context())

    def _summarised(self) -> bool:
        """Whether a bulk read may leave tasks' status rows out (a try table, ``status.try_id``):
        a task is summarised by its final state when its try row says the rest."""
        return "try" in self.selects and not self.selects["status"].endswith("NULL")

    def _status_queries(self, lo: int, hi: int, mark: int) -> list[tuple[str, str, list]]:
        """The fixed queries of a range's status rows (:meth:`_bulk_status`): its end rows, its tasks
        with a state the store does not know, its tasks, its rows and each run's latest time, and a
        run without an end's latest distinct times."""
        where = "task_id >= ? AND task_id < ? AND rowid <= ?"
        args = [lo, hi, mark]
        out = [("s_ends", f"SELECT task_id, run_id, task_status_name, timestamp FROM status WHERE {where} "
                          f"AND task_status_name IN ({_SUMMARY_NAMES})", args),
               ("s_odd", f"SELECT task_id, run_id FROM status WHERE {where} AND task_status_name NOT IN "
                         f"({_KNOWN_NAMES})", args),
               # the key's prefix: an index-only scan
               ("s_tasks", f"SELECT DISTINCT task_id, run_id FROM status WHERE {where}", args),
               ("s_count", f"SELECT count(*) FROM status WHERE {where}", args),
               ("s_latest", f"SELECT run_id, max(timestamp) FROM status WHERE {where} GROUP BY run_id", args)]
        # A run without an end judges a stall by its pace: the store's latest distinct activity
        # times, a range's latest RECENT_TIMES at most (parsl.py's bulk handler), so the range's
        # latest status times of such a run go too, as every row's did (an index-only scan).
        for run_id in self._open_runs:
            out.append((f"s_recent {run_id}", f"SELECT DISTINCT timestamp FROM status WHERE {where} AND run_id = ? "
                                              f"ORDER BY timestamp DESC LIMIT ?", [*args, run_id, pe.RECENT_TIMES]))
        return out

    def history_events(self, run_id: str, job_id: str) -> list:
        """A summarised task's status rows (its history), read in a connection of its own (any
        thread may ask), as a bulk event that makes the task whole in the store."""
        try:
            tid = int(job_id)
        except ValueError:
            return []
        try:
            conn = connect_ro(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise ParslDbError(f"{self.path}: {exc}") from None
        try:
            conn.execute("BEGIN")
            rows = conn.execute(f'SELECT {self.selects["status"]} FROM status WHERE task_id = ? AND run_id = ?',
                                (tid, run_id)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        finally:
            conn.close()
        d = {"event": pe.BULK, "ts": None, "rows": 0, "status": convert("status", rows, self._epoch),
             "history": [(run_id, tid)]}
        return [Event(pe.BULK, None, d)]

    def _bulk_done(self, conn, got: dict) -> None:
        """The incremental reads go on from the bulk read's snapshot; the tries of its last status
        rows are re-read at the next changed polls (their try rows may be updated after them)."""
        marks = self._bulk_marks
        self.marks.update(marks)
        self._bulk_todo = []
        self.stop_reading_ahead()

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
