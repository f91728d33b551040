"""A Stampede SQLite DB (Pegasus 5.0.x schema) read live, read-only.

pegasus-monitord's loader (``Pegasus.db.workflow_loader``) turns events into
rows; this source turns rows back into the same events (monitord's JSON
shapes: ``xwf_id``, ``job_id``, ``job_inst_id``, ``js_id``, ``inv_id`` ...),
so the store's ordinary handlers build the store.

Reading without getting in monitord's way
    The DB is opened with ``file:...?mode=ro`` and ``PRAGMA query_only``: no
    write lock, ever.  Each poll first asks ``PRAGMA data_version`` (a counter
    SQLite bumps when another connection commits; it costs no I/O beyond the
    header page) and does nothing when it is unchanged.  When it changed, one
    short read transaction takes what is new.  monitord's DB uses a rollback
    journal, so a reader's shared lock makes monitord's commit wait; hence at
    most ``chunk`` rows per table per transaction (a big DB is caught up in
    several short transactions, not one long one) and a 50 ms busy timeout:
    "database is locked" just means "try at the next poll".

What is new
    Every Stampede table is a rowid table and monitord only appends, so each
    table has a high-water mark (``rowid``) and a poll reads ``rowid > mark``
    in parent-before-child order (workflow, workflowstate, workflow_meta, job,
    task, job_instance, jobstate, invocation, host, integrity, tag).  A child
    row whose parent has not been read yet (its table was cut at ``chunk``)
    ends that table's read for this transaction; the next one picks it up.

What is updated in place
    The loader UPDATEs three things after their insert:

    * ``job_instance`` on ``main.end`` / ``post.end`` (merge of exitcode,
      local_duration, stdout/stderr, site, user, work_dir, multiplier ...),
      on ``host.info`` (host_id, committed just after the batch that carried
      the states) and on ``xwf.map.subwf_job`` (subwf_id);
    * ``task.job_id`` on ``wf.map.task_job`` (committed at a later flush than
      the task row);
    * ``workflow.root_wf_id`` of a root workflow (not needed here).

    The end-state merges are committed with (or before) their jobstate row,
    so an instance is re-read whenever new jobstate rows name it, and again
    at the next ``REREAD_POLLS`` changed polls (the host mapping's own commit
    follows the batch's).  Instances of sub-workflow jobs (dax/dag) without a
    ``subwf_id`` are re-read at every changed poll until mapped or ended.
    Unmapped tasks are re-checked with one range query per poll.  A re-read
    instance produces events only when its row differs from what was last
    sent (a signature per instance).

Exit codes
    The DB keeps one ``exitcode`` per instance: the main job's, overwritten by
    the POST script's.  The store keeps both.  Once a ``POST_SCRIPT_*`` state
    exists the row's exitcode is the POST script's; the main job's is the
    value seen before that (if a poll saw it), else 0 for ``JOB_SUCCESS``,
    else the highest non-zero exit status of the instance's task invocations
    (what pegasus-statistics reports for the job), else unknown.

Bad input (missing, empty, truncated, not Stampede, unknown schema version)
ends with ``status.state == "error"`` and a one-line message; a DB that is
still being created while following is waited for.  Within a readable DB a
bad row is skipped and counted (:attr:`Source.warnings`), never the read: a
row whose parent row is missing (its parent's table was read to its end in
the same transaction, so it will not come), a cell of the wrong type, a time
that is not one (``events.to_epoch``).  Text that is not UTF-8 is read with
U+FFFD, each value counted.  Every statement has a bound (:func:`bound_work`),
so a corrupted page that makes SQLite go round in circles ends the read with
an error instead of hanging it.
"""

from __future__ import annotations

import os
import sqlite3
import time

from ...core.events import Event, to_epoch
from ...core.sqlite import MAX_STATEMENT_SECONDS, SQL_ERRORS, connect_ro, sqlite_file_problem, table_names, text_reader
from ...core.stampede import STATE_EVENTS, SUBWF_TYPES, SUPPORTED_VERSION, unescape_argv
from ..base import RESET
from ..polled_db import PolledDbSource, rows_there
from . import stampede_bulk as bulk
from ..read_ahead import Prefetch

POLL_SECONDS = 0.5
CHUNK = 50_000
REREAD_POLLS = 3
_PEGASUS_OF_VERSION = {1: "4.3", 2: "4.4", 4: "4.5", 5: "4.5.4", 6: "4.6", 8: "4.7-4.8", 11: "4.9", 14: "5.0"}
REQUIRED_TABLES = ("workflow", "workflowstate", "workflow_meta", "job", "job_instance", "jobstate", "invocation",
                   "host", "task", "integrity", "tag")
# every table of Pegasus's schema (Pegasus.db.schema): a file with some of them
# and not the rest is one monitord is still creating
PEGASUS_TABLES = frozenset(REQUIRED_TABLES + (
    "dbversion", "ensemble", "ensemble_workflow", "job_edge", "master_workflow", "master_workflowstate",
    "rc_lfn", "rc_meta", "rc_pfn", "task_edge", "task_meta", "trigger", "workflow_files", "schema_info",
))

# jobstate.state -> (event name, status): monitord's loader's mapping
# (Pegasus.db.workflow_loader.WorkflowLoader.jobstate), inverted, from the store.
MAIN_END = frozenset({"JOB_SUCCESS", "JOB_FAILURE"})
POST_END = frozenset({"POST_SCRIPT_SUCCESS", "POST_SCRIPT_FAILED"})
# state -> (event, status, 0 | 1 main end | 2 post end)
_STATE_KIND = {k: (v[0], v[1], 1 if k in MAIN_END else 2 if k in POST_END else 0) for k, v in STATE_EVENTS.items()}



def _f(v):
    return None if v is None else float(v)


# The DB's own job counts while the store fills in (issue #14): per workflow, the jobs
# grouped by their latest try's latest state, with what the store's state rules need
# besides (a retry before it, retries left, the row's exit status), then how many and
# their retries; jobs without a try (not submitted yet) come last, NULL but the last two.
# Plain rows: the screen (which may import the model) turns them into job states.
# Taken once, when a read does not catch up in its first chunk (a small DB never pays),
# after that chunk is handed on (the first rows do not wait for it).  Measured on
# generated half-done DBs on this 2-core machine: 0.7-1.1 s at 100k jobs (loading it
# takes 12-15 s), 9.8-9.9 s at 1M; hence slices of COUNT_SLICE job ids, each its own
# statement (~1 s), so that monitord's commits never wait on one long read.
COUNT_SLICE = 100_000
# A followed run moves on while a big DB loads (minutes at 1M jobs): the counts are taken
# again once RECOUNT_AFTER times what the last count cost has passed, so that counting
# takes at most ~1/RECOUNT_AFTER of the reading thread (every ~8 s at 100k, ~100 s at 1M).
RECOUNT_AFTER = 10
DB_COUNTS_SQL = """
SELECT w.wf_uuid,
       (SELECT s.state FROM jobstate s WHERE s.job_instance_id = l.jiid
        ORDER BY s.timestamp DESC, s.jobstate_submit_seq DESC LIMIT 1),
       l.tries > 1, l.tries <= coalesce(j.max_retries, 0), ji.exitcode = 0, count(*), sum(l.tries - 1)
FROM (SELECT job_id, max(job_instance_id) AS jiid, count(*) AS tries FROM job_instance
      WHERE job_id BETWEEN :lo AND :hi GROUP BY job_id) l
JOIN job j ON j.job_id = l.job_id
JOIN job_instance ji ON ji.job_instance_id = l.jiid
JOIN workflow w ON w.wf_id = j.wf_id
GROUP BY 1, 2, 3, 4, 5
UNION ALL
SELECT w.wf_uuid, NULL, NULL, NULL, NULL, count(*), 0 FROM job j JOIN workflow w ON w.wf_id = j.wf_id
WHERE j.job_id BETWEEN :lo AND :hi AND NOT EXISTS (SELECT 1 FROM job_instance x WHERE x.job_id = j.job_id)
GROUP BY 1"""


class StampedeDbError(Exception):
    """The file is not a Stampede DB this source can read; the message says why."""


def check_schema(conn: sqlite3.Connection, path: str = "") -> int:
    """The Stampede schema version, or :class:`StampedeDbError` saying why not.

    Raises ``_NotReady`` when the file looks like a Stampede DB still being
    created by monitord (some tables, or no version row yet).
    """
    try:
        return _check_schema(conn, path)
    except SQL_ERRORS as exc:
        raise _classify(exc, path or "DB") from None


def _check_schema(conn: sqlite3.Connection, path: str = "") -> int:
    """The Stampede schema version, or :class:`StampedeDbError` saying why not.

    Raises ``_NotReady`` when the file looks like a Stampede DB still being
    created by monitord (tables without a version row yet, or no tables).
    """
    name = path or "DB"
    try:
        tables = table_names(conn)
    except SQL_ERRORS as exc:
        raise _classify(exc, name) from None  # a StampedeDbError, or _Busy
    if not tables:
        raise _NotReady(f"{name}: empty SQLite DB (monitord has not created the schema yet?)")
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if not tables & PEGASUS_TABLES:
        raise StampedeDbError(f"{name}: an SQLite file, but not a Stampede DB (no {missing[0]} table)")
    if "dbversion" not in tables:
        if "schema_info" in tables:
            raise StampedeDbError(f"{name}: a Stampede DB of Pegasus < 4.3 (schema_info table); "
                                  f"panorama-top reads schema {SUPPORTED_VERSION} (Pegasus 5.0.x and later)")
        # Some Stampede tables: monitord is creating the schema (the version
        # row comes last), or a DB from before versioned schemas.
        raise _NotReady(f"{name}: Stampede tables but no dbversion table yet (monitord creating the schema? "
                        f"a DB older than Pegasus 4.5?)")
    if missing:  # monitord creates the tables one by one
        raise _NotReady(f"{name}: incomplete Stampede schema (no {missing[0]} table yet: monitord creating it?)")
    row = conn.execute("SELECT version FROM dbversion ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        raise _NotReady(f"{name}: no row in dbversion yet (monitord still creating the schema?)")
    try:
        version = float(row[0])
    except (TypeError, ValueError):
        raise StampedeDbError(f"{name}: unknown Stampede schema version {str(row[0])[:40]!r}") from None
    if version != SUPPORTED_VERSION:
        what = _PEGASUS_OF_VERSION.get(version)  # 4.0 finds 4; NaN and infinities find nothing
        hint = f" (Pegasus {what}.x)" if what else ""
        newer = " newer than" if version > SUPPORTED_VERSION else ""
        raise StampedeDbError(
            f"{name}: Stampede schema version {row[0]}{hint} is{newer or ' not'} supported"
            f"; panorama-top reads version {SUPPORTED_VERSION} (Pegasus 5.0.x-5.1.x); "
            f"pegasus-db-admin can update an old DB"
        )
    return int(version)


class _NotReady(StampedeDbError):
    pass


class _Busy(Exception):
    pass


def _classify(exc: Exception, name: str, writer: str = "pegasus-monitord") -> Exception:
    """What an SQLite error means to a reader: ``_Busy`` (try at the next poll) or
    the error to report; ``writer`` names the program that writes the DB."""
    if isinstance(exc, UnicodeDecodeError):
        return StampedeDbError(f"{name}: not a readable SQLite DB (its schema is not UTF-8 text); corrupt?")
    msg = str(exc)
    low = msg.lower()
    if low == "interrupted":  # by bound_work
        return StampedeDbError(f"{name}: a read ran over {MAX_STATEMENT_SECONDS:.0f} s and was stopped; "
                               f"a corrupt DB that makes SQLite loop?")
    if "locked" in low or "busy" in low:
        return _Busy(f"{name}: locked by {writer}; retrying")
    if "no such table" in low:
        return _Busy(f"{name}: {msg} ({writer} still creating the schema?); retrying")
    if "readonly" in low or "read-only" in low:
        # A hot journal: a writer died mid-commit and only a read-write
        # connection may roll it back (the writer will when it restarts).
        return _Busy(f"{name}: has an unfinished write (hot journal) that only {writer} or a "
                     f"read-write open can roll back; retrying")
    if "not a database" in low or "malformed" in low or "disk image" in low:
        return StampedeDbError(f"{name}: not a readable SQLite DB ({msg}); truncated or corrupt?")
    if "unable to open" in low:
        return StampedeDbError(f"{name}: cannot open ({msg})")
    return StampedeDbError(f"{name}: {msg}")


class StampedeDbSource(PolledDbSource):
    """Follows (or reads once) a Stampede DB and yields monitord-shaped events.

    ``root_uuid`` limits the source to one root workflow and its
    sub-workflows (a DB shared by several runs through
    ``pegasus.catalog.workflow.url``).
    """

    recordable = False  # the DB is the record; re-open it to see the run again

    error_class = StampedeDbError

    def __init__(self, path: str, follow: bool = True, poll: float = POLL_SECONDS, chunk: int = CHUNK,
                 root_uuid: str | None = None, track_js: bool = False, bulk_min: int | None = bulk.BULK_MIN_JOBS,
                 prefetch_min: int | None = bulk.PREFETCH_MIN):
        super().__init__()
        #: a DB of at least this many jobs is opened in bulk (stampede_bulk.py); None: never
        self.bulk_min = bulk_min
        #: a bulk read of at least this many instances reads ahead in a child process; None: never
        self.prefetch_min = prefetch_min
        #: keep :attr:`js_seen` (what a jobstate.log overlay needs to know)
        self.track_js = track_js
        self.path = path
        self.follow = follow
        self.live = follow
        self.poll_seconds = poll
        self.chunk = chunk
        self.root_uuid = root_uuid
        self.label = f"stampede {os.path.basename(path)}"
        self.conn: sqlite3.Connection | None = None
        self.schema_version: int | None = None
        self.polls = 0
        self.changed_polls = 0
        self.busy_polls = 0
        self.rows_read = 0
        self._ino = None
        self._data_version = None
        #: a read that took more than one chunk and has not caught up yet (issue #14)
        self.loading = False
        self._progress: dict = {}
        self._db_counts: list | None = None
        self._counted_at = self._count_cost = 0.0
        self._clear()

    @property
    def stampede_db_path(self) -> str:
        """The Stampede DB this source reads: where a session's pegasus-statistics figures
        come from (``stats.sql_stats.source_db`` asks any source for it)."""
        return self.path

    # -- state -----------------------------------------------------------
    def _clear(self) -> None:
        self.marks = {t: 0 for t in ("workflow", "workflowstate", "workflow_meta", "job", "task", "job_instance",
                                     "jobstate", "invocation", "host", "integrity", "tag")}
        self._db_counts = None  # another DB (RESET): its counts are taken afresh
        self._wf: dict[int, str] = {}  # wf_id -> uuid (allowed workflows only)
        self._wf_parent: dict[int, int | None] = {}
        self._wf_skip: set[int] = set()
        self._job: dict[int, tuple] = {}  # job_id -> (wf_uuid, exec_job_id, type_desc)
        self._job_skip: set[int] = set()
        self._ji: dict[int, tuple] = {}  # job_instance_id -> (wf_uuid, exec_job_id, seq, type_desc)
        self._ji_skip: set[int] = set()
        self._ends: dict[int, tuple] = {}  # jiid -> ([main end (ts, js, status, state)], [post end ...])
        self._inv_ec: dict[int, int] = {}  # jiid -> highest non-zero task invocation exitcode (0 if none)
        self._main_ec: dict[int, int] = {}  # jiid -> main job exitcode seen before a POST script ended
        self._sig: dict[int, tuple] = {}
        self._reread: dict[int, int] = {}  # jiid -> changed polls left
        self._subwf_wait: set[int] = set()
        self._host_wait: set[int] = set()  # instances whose host_id may still be set
        self._fresh: dict[int, tuple] = {}  # instance rows read in this transaction
        self._unmapped: dict[int, tuple] = {}  # task_id -> (wf_uuid, abs_task_id)
        self._hosts: dict[int, tuple] = {}
        #: (wf_uuid, job_id, job_inst_id) -> bit mask of the js_ids read (for the jobstate.log overlay:
        #: monitord defers main.end past the POST script's first states, so js_ids arrive out of order)
        self.js_seen: dict[tuple, int] = {}
        self.wf_seen: dict[str, set] = {}  # wf_uuid -> {(restart_count, ended)}
        self.wf_dirs: dict[str, str] = {}  # wf_uuid -> submit_dir as the DB names it
        self.caught_up = False
        self._bulk: dict | None = None  # while a bulk read goes on: its limits and where it is
        self._bulk_limits: dict | None = None  # after it: the rows it covered (see _recall)
        self._bulk_decided = False
        self.bulk_read = False  # this DB was opened in bulk (its jobs' history is read on demand)

    # -- opening ---------------------------------------------------------
    def _open(self) -> bool:
        """Open and check; False (with status set) when not possible now."""
        path = self.path
        kind, problem = sqlite_file_problem(path)
        if kind is not None:
            if self.follow and kind in ("missing", "empty"):
                self._wait(f"waiting for {path} ("
                           + ("pegasus-monitord has not created it yet)" if kind == "missing" else "empty: monitord starting?)"))
                return False
            raise StampedeDbError(problem)
        try:
            st = os.stat(path)  # which file this is: a rotation or a new DB is noticed by it
            conn = connect_ro(path)
        except OSError as exc:
            raise StampedeDbError(f"{path}: {exc.strerror or exc}") from None
        except SQL_ERRORS as exc:
            err = _classify(exc, path)
            if self.follow and self.polls == 0:
                self._wait(f"{err}; retrying")  # monitord may be writing its first pages
                return False
            raise err from None
        try:
            self.schema_version = check_schema(conn, path)
        except _NotReady as exc:
            conn.close()
            if self.follow:
                self._wait(str(exc))
                return False
            raise StampedeDbError(f"{exc}: not a complete Stampede DB") from None
        except _Busy as exc:
            conn.close()
            self._wait(str(exc))
            return False
        except StampedeDbError as exc:
            conn.close()
            if self.follow and self.polls == 0 and "corrupt" in str(exc):
                self._wait(f"{exc}; retrying")  # a file still being written
                return False
            raise
        except Exception:
            conn.close()
            raise
        self.conn = conn
        self._ino = (st.st_dev, st.st_ino)
        self._data_version = None
        return True

    # -- the loop ----------------------------------------------------------
    def step(self):
        """One round for a caller that runs the loop itself (the submit-dir
        source): the new events (maybe none), or RESET when the DB file was
        replaced.  Raises :class:`StampedeDbError` for a DB it cannot read."""
        self._loaded()
        if self.conn is None and not self._open():
            return []
        if self._replaced():
            self.close()
            self._clear()
            return RESET
        events = self.poll()
        if self.caught_up and self.follow:
            self.status.state = "following"
            self.status.message = ""
        return events or []

    def _replaced(self) -> bool:
        """The path now names another file (monitord -r started over)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # moved away and not yet replaced: keep reading the old one
        return (st.st_dev, st.st_ino) != self._ino

    def poll(self) -> list[Event] | None:
        """One look at the DB: the events for what is new (maybe []), or
        None when the DB was busy (monitord writing) and nothing was read."""
        conn = self.conn
        self.polls += 1
        try:
            dv = conn.execute("PRAGMA data_version").fetchone()[0]
        except SQL_ERRORS as exc:
            err = _classify(exc, self.path)
            if isinstance(err, _Busy):
                self.busy_polls += 1
                return None
            raise err from None
        if dv == self._data_version and self.caught_up:
            return []
        out: list[Event] = []
        try:
            conn.execute("BEGIN")
            try:
                more = self._read(conn, out)
            finally:
                conn.execute("COMMIT")
        except SQL_ERRORS as exc:
            try:
                conn.execute("ROLLBACK")
            except SQL_ERRORS:
                pass
            err = _classify(exc, self.path)
            if not isinstance(err, _Busy):
                raise err from None
            self.busy_polls += 1
            self.status.message = str(err)
            # Marks only move past rows whose events are in ``out``: keep them.
            self.caught_up = False
            return out or None
        self._data_version = dv
        self.changed_polls += 1
        self.caught_up = not more
        if self.status.state in ("starting",) or more:
            self.status.state = "reading"
        detail = {"rows": self.rows_read, "polls": self.polls, "busy": self.busy_polls,
                  "workflows": len(self._wf), "instances": len(self._ji)}
        if more or self.loading:
            # a bulk read is quick: the store's own counts, labelled partial, not the DB's
            detail.update(self._load_progress(conn, counts=self.loading and not self.bulk_read))
            self.loading = True
        self.status.detail = detail
        return out

    def _load_progress(self, conn, counts: bool) -> dict:
        """How far a read that takes more than one chunk has come: ``loaded_rows`` of
        ``total_rows`` (the tables' rowid marks against their highest rowids: monitord
        only appends, so that is the rows read and the rows there), and ``db_counts``,
        the DB's own job counts (:data:`DB_COUNTS_SQL` rows), taken once when ``counts``."""
        try:
            total = rows_there(conn, self.marks)
            now = time.monotonic()
            if counts and (self._db_counts is None or (
                    self.follow and now - self._counted_at > RECOUNT_AFTER * self._count_cost)):
                self._db_counts = self._count_jobs(conn)
                self._counted_at, self._count_cost = now, time.monotonic() - now
        except SQL_ERRORS as exc:
            err = _classify(exc, self.path)
            if not isinstance(err, _Busy):
                raise err from None
            return dict(self._progress)  # busy: the last figures stand; the counts come at a later poll
        loaded = sum(self.marks.values())
        if self._bulk is not None:
            loaded = int(total * bulk.fraction(self._bulk))
        self._progress = {"loaded_rows": loaded, "total_rows": max(total, loaded)}
        if self._db_counts is not None:
            self._progress["db_counts"] = self._db_counts
        return dict(self._progress)

    def _count_jobs(self, conn) -> list[tuple]:
        """:data:`DB_COUNTS_SQL`'s rows over all jobs, slice by slice, added up."""
        lo, hi = conn.execute("SELECT min(job_id), max(job_id) FROM job").fetchone()
        merged: dict[tuple, list[int]] = {}
        for start in range(lo or 0, (hi or -1) + 1, COUNT_SLICE):
            for *key, n, more in self._fetch(conn, DB_COUNTS_SQL, {"lo": start, "hi": start + COUNT_SLICE - 1}):
                got = merged.setdefault(tuple(key), [0, 0])
                got[0] += n
                got[1] += more or 0
        return [key + (n, more) for key, (n, more) in merged.items()]

    def _loaded(self) -> None:
        if self.loading and self.caught_up:
            self._db_counts = None  # a later big read (another DB) takes them afresh
        super()._loaded()

    # -- reading -------------------------------------------------------------
    def _fetch(self, conn, sql: str, params=()) -> list:
        """``conn.execute(sql, params).fetchall()``.  Text that is not UTF-8 makes
        this connection read all text with U+FFFD from then on, each such value
        counted (until then SQLite's own decoding, in C, costs nothing)."""
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if conn.text_factory is not str or not str(exc).startswith("Could not decode"):
                raise
        conn.text_factory = text_reader(self._not_utf8)
        return conn.execute(sql, params).fetchall()

    def _not_utf8(self, text: str) -> None:
        self.warnings.append(f"{self.label}: text that is not UTF-8, read as {text[:60]!r}")

    def _skip(self, table: str, rowid, why: str) -> None:
        """A row that cannot be read as it should: counted, shown, and passed over."""
        self.warnings.append(f"{self.label}: {table} row {rowid} skipped: {why}"[:200])

    def _bad_row(self, table: str, rowid, exc: Exception) -> None:
        self._skip(table, rowid, f"{type(exc).__name__}: {exc}")

    def _rows(self, conn, table: str, cols: str):
        mark = self.marks[table]
        rows = self._fetch(conn, f"SELECT rowid, {cols} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                           (mark, self.chunk))
        self.rows_read += len(rows)
        more = len(rows) >= self.chunk
        if rows and rows[-1][0] <= mark:
            # A corrupted b-tree gave rows back out of order: keep those past the mark and end
            # this table's read here, so the mark only ever moves on (no read can go round).
            for r in rows:
                if r[0] <= mark:
                    self._skip(table, r[0], f"out of rowid order (after {mark}): a corrupt table?")
            rows, more = [r for r in rows if r[0] > mark], False
        if more:
            self._cut.add(table)
        return rows, more

    def _parent_later(self, table: str, parent: str) -> bool:
        """A row of ``table`` names a ``parent`` row this source has not read.  True
        when that row may still come (the parent table's read stopped at this
        transaction's chunk: ``table``'s read stops here too); False when it is
        missing: the parent table was read to its end in this same snapshot."""
        if parent in self._cut:
            self._cut.add(table)
            return True
        return False

    def _read(self, conn, out: list) -> bool:
        """Read what is new into ``out``; True when a table was cut at ``chunk``."""
        self._cut: set[str] = set()  # tables whose read stopped before their end in this transaction
        more = False
        more |= self._read_workflows(conn, out)
        more |= self._read_wfstates(conn, out)
        more |= self._read_wfmeta(conn, out)
        if not self._bulk_decided and not more:
            self._bulk_decided = True
            if self.bulk_min is not None and self.marks["job"] == 0 and (
                    conn.execute("SELECT count(*) FROM job").fetchone()[0] >= self.bulk_min):
                self._bulk = bulk.limits(conn)
                self.bulk_read = True
                while self._read_hosts(conn):
                    pass
                if self.prefetch_min is not None and self._bulk["ji_max"] >= self.prefetch_min:
                    # every slice but the first (the first rows wait for no child), read ahead
                    # while the first is read here: the child's start (~0.1 s) is not waited for
                    steps = bulk.plan(self._bulk, self.track_js)
                    self.prefetch = Prefetch(self.path, steps[1:], warm=steps[:1], shaper=bulk.SHAPER,
                                             ctx=bulk.SliceShaper.context(self))
        if self._bulk is not None:
            return self._bulk_step(conn, out)
        more |= self._read_jobs(conn, out)
        more |= self._read_tasks(conn, out)
        more |= self._read_instances(conn, out)
        touched: set[int] = set()
        more |= self._read_jobstates(conn, out, touched)
        more |= self._read_invocations(conn, out)
        more |= self._read_hosts(conn)
        self._reread_instances(conn, out, touched)
        more |= self._read_integrity(conn, out)
        more |= self._read_tags(conn, out)
        return more

    def _bulk_step(self, conn, out) -> bool:
        """One slice of a bulk read (stampede_bulk.py); at its end the history of the jobs
        whose latest try failed, and the incremental read takes over from the bulk read's
        limits.  Always True: read again at once."""
        lim = self._bulk
        events, failed = bulk.step(self, conn, lim)
        while not events and failed is None and lim["phase"] != "done":
            # a phase ended: the next one's first slice now (an empty round waits a poll)
            events, failed = bulk.step(self, conn, lim)
        out.extend(events)
        if failed:  # the Failures panel lists them: their history now
            for i in range(0, len(failed), 500):
                out.extend(self._history(conn, failed[i : i + 500]))
        if lim["phase"] == "done":
            for table, key in (("job", "job_max"), ("job_instance", "ji_max"), ("jobstate", "js_max"),
                               ("invocation", "inv_max"), ("task", "task_max")):
                self.marks[table] = lim[key]
            self._bulk = None
            self._bulk_limits = lim
            lim.pop("failed", None)
            lim.pop("no_task", None)
            self._job = {}  # ~150 MB at 1M jobs: a row naming one of them looks it up (_recall)
            self.stop_reading_ahead()
        return True

    @property
    def in_bulk(self) -> bool:
        """In a bulk read, or the DB open and not yet known whether there is one: what a
        jobstate.log overlay waits for, as it only adds what the DB has not (a DB not there
        yet is not waited for: DAGMan's log shows the run meanwhile)."""
        return self._bulk is not None or (self.conn is not None and not self._bulk_decided
                                          and self.bulk_min is not None)

    def _recall(self, conn, job_ids=(), jiids=()) -> None:
        """The jobs and instances a bulk read covered but did not keep (finished ones:
        hundreds of MB at 1M jobs), looked up for the new rows that name them."""
        lim = self._bulk_limits
        if lim is None:
            return
        jiids = sorted({i for i in jiids if type(i) is int and i <= lim["ji_max"] and i not in self._ji
                        and i not in self._ji_skip})
        rows = []
        for i in range(0, len(jiids), 500):
            ids = ",".join(map(str, jiids[i : i + 500]))
            rows += self._fetch(conn, "SELECT job_instance_id, job_id, job_submit_seq FROM job_instance "
                                      f"WHERE job_instance_id IN ({ids})")
        want = sorted({j for j in [*job_ids, *(r[1] for r in rows)] if type(j) is int and j <= lim["job_max"]
                       and j not in self._job and j not in self._job_skip})
        for i in range(0, len(want), 500):
            ids = ",".join(map(str, want[i : i + 500]))
            for job_id, wf_id, exec_id, tdesc in self._fetch(
                    conn, f"SELECT job_id, wf_id, exec_job_id, type_desc FROM job WHERE job_id IN ({ids})"):
                uuid = self._wf.get(wf_id)
                if uuid is not None:
                    self._job[job_id] = (uuid, exec_id, tdesc)
        for jiid, job_id, seq in rows:
            job = self._job.get(job_id)
            if job is not None:
                self._ji[jiid] = (job[0], job[1], seq, job[2])

    # -- a job's history, on demand --------------------------------------------
    def history_events(self, wf_uuid: str, job_id: str) -> list[Event]:
        """Everything the DB holds of one job (a bulk-loaded job's history), read in a
        connection of its own (any thread may ask), ending with the marker that makes
        the job whole in the store; [] when the DB does not have it."""
        try:
            conn = connect_ro(self.path)
        except (OSError, *SQL_ERRORS) as exc:
            raise StampedeDbError(f"{self.path}: {exc}") from None
        try:
            conn.execute("BEGIN")
            row = conn.execute("SELECT j.job_id FROM job j JOIN workflow w ON w.wf_id = j.wf_id "
                               "WHERE w.wf_uuid = ? AND j.exec_job_id = ?", (wf_uuid, job_id)).fetchone()
            return self._history(conn, [row[0]]) if row else []
        except SQL_ERRORS as exc:
            raise _classify(exc, self.path) from None
        finally:
            conn.close()

    def _history(self, conn, job_ids: list[int]) -> list[Event]:
        reader = _JobsReader(self, job_ids)
        out: list[Event] = []
        reader._read(conn, out)
        self.warnings.extend(reader.warnings)
        done: dict[str, list] = {}
        for uuid, exec_id, _ in reader._job.values():
            done.setdefault(uuid, []).append(exec_id)
        for uuid, ids in done.items():
            out.append(Event(bulk.HISTORY_EVENT, None, {"event": bulk.HISTORY_EVENT, "xwf_id": uuid, "job_ids": ids}))
        return out

    def _read_workflows(self, conn, out) -> bool:
        rows, more = self._rows(
            conn, "workflow",
            "wf_id, wf_uuid, dag_file_name, timestamp, submit_hostname, submit_dir, planner_arguments, user, "
            "grid_dn, planner_version, dax_label, dax_version, dax_file, db_url, parent_wf_id, root_wf_id",
        )
        for r in rows:
            (rowid, wf_id, uuid, dag, ts, host, sdir, pargs, user, dn, pver, label, dver, dfile, dburl,
             parent, root) = r
            self.marks["workflow"] = rowid
            if uuid is None:
                self._skip("workflow", rowid, "no wf_uuid (its rows are skipped with it)")
                self._wf_skip.add(wf_id)
                continue
            self._wf_parent[wf_id] = parent
            if not self._in_root(wf_id, uuid, parent):
                self._wf_skip.add(wf_id)
                continue
            self._wf[wf_id] = uuid
            if sdir:
                self.wf_dirs[uuid] = sdir
            ts = to_epoch(ts)
            d = {
                "event": "stampede.wf.plan", "xwf_id": uuid, "dax_label": label, "dax_version": dver,
                "dax_file": dfile, "dag_file_name": dag, "ts": ts, "submit_hostname": host,
                "submit_dir": sdir, "argv": unescape_argv(pargs), "user": user, "grid_dn": dn,
                "planner_version": pver, "db_url": dburl,
            }
            if root is not None and root in self._wf:
                d["root_xwf_id"] = self._wf[root]
            elif parent is None:
                d["root_xwf_id"] = uuid
            if parent is not None and parent in self._wf:
                d["parent_xwf_id"] = self._wf[parent]
            out.append(Event("stampede.wf.plan", ts, d))
        return more

    def _in_root(self, wf_id, uuid, parent) -> bool:
        if self.root_uuid is None:
            return True
        if uuid == self.root_uuid:
            return True
        return parent is not None and parent in self._wf  # a descendant of an allowed workflow

    def _wf_missing(self, table: str, rowid, wf_id) -> bool:
        """True when ``table``'s read waits for ``wf_id``'s row; else the row is skipped."""
        if self._parent_later(table, "workflow"):
            return True
        self._skip(table, rowid, f"its workflow {wf_id} is not in the DB")
        self.marks[table] = rowid
        return False

    def _read_wfstates(self, conn, out) -> bool:
        rows, more = self._rows(conn, "workflowstate", "wf_id, state, timestamp, restart_count, status, reason")
        for rowid, wf_id, state, ts, restart, status, reason in rows:
            if wf_id not in self._wf and wf_id not in self._wf_skip:
                if self._wf_missing("workflowstate", rowid, wf_id):
                    return True  # parent not read yet
                continue
            self.marks["workflowstate"] = rowid
            uuid = self._wf.get(wf_id)
            if uuid is None:
                continue
            end = state == "WORKFLOW_TERMINATED"
            name = "stampede.xwf.end" if end else "stampede.xwf.start"
            ts = to_epoch(ts)
            d = {"event": name, "xwf_id": uuid, "ts": ts, "restart_count": restart, "reason": reason}
            if status is not None:
                d["status"] = status
            self.wf_seen.setdefault(uuid, set()).add((restart, end))
            out.append(Event(name, ts, d))
        return more

    def _read_wfmeta(self, conn, out) -> bool:
        rows, more = self._rows(conn, "workflow_meta", 'wf_id, "key", value')
        for rowid, wf_id, key, value in rows:
            if wf_id not in self._wf and wf_id not in self._wf_skip:
                if self._wf_missing("workflow_meta", rowid, wf_id):
                    return True
                continue
            self.marks["workflow_meta"] = rowid
            uuid = self._wf.get(wf_id)
            if uuid is not None:
                out.append(Event("stampede.xwf.meta", None,
                                 {"event": "stampede.xwf.meta", "xwf_id": uuid, "key": key, "value": value}))
        return more

    def _read_jobs(self, conn, out) -> bool:
        rows, more = self._rows(
            conn, "job", "job_id, wf_id, exec_job_id, submit_file, type_desc, clustered, max_retries, executable, "
            "argv, task_count",
        )
        for rowid, job_id, wf_id, exec_id, sub, tdesc, clustered, maxr, exe, argv, tcount in rows:
            if wf_id not in self._wf and wf_id not in self._wf_skip:
                if self._wf_missing("job", rowid, wf_id):
                    return True
                self._job_skip.add(job_id)  # its instances go with it, uncounted: one warning is enough
                continue
            self.marks["job"] = rowid
            uuid = self._wf.get(wf_id)
            if uuid is None:
                self._job_skip.add(job_id)
                continue
            self._job[job_id] = (uuid, exec_id, tdesc)
            out.append(Event("stampede.job.info", None, {
                "event": "stampede.job.info", "xwf_id": uuid, "job_id": exec_id, "submit_file": sub,
                "type_desc": tdesc, "clustered": clustered, "max_retries": maxr, "executable": exe,
                "argv": unescape_argv(argv), "task_count": tcount,
            }))
        return more

    def _read_tasks(self, conn, out) -> bool:
        rows, more = self._rows(conn, "task", "task_id, wf_id, job_id, abs_task_id, transformation, argv, type_desc")
        self._recall(conn, job_ids=[r[3] for r in rows])
        for rowid, task_id, wf_id, job_id, abs_id, xform, argv, tdesc in rows:
            if wf_id not in self._wf and wf_id not in self._wf_skip:
                if self._wf_missing("task", rowid, wf_id):
                    return True
                continue
            if job_id is not None and job_id not in self._job and job_id not in self._job_skip:
                if self._parent_later("task", "job"):
                    return True
                self._skip("task", rowid, f"its job {job_id} is not in the DB")
                job_id = None  # the task itself is real: keep it, unmapped
            self.marks["task"] = rowid
            uuid = self._wf.get(wf_id)
            if uuid is None:
                continue
            out.append(Event("stampede.task.info", None, {
                "event": "stampede.task.info", "xwf_id": uuid, "task_id": abs_id, "transformation": xform,
                "argv": unescape_argv(argv), "type_desc": tdesc,
            }))
            if job_id is None:
                self._unmapped[task_id] = (uuid, abs_id)
            elif job_id in self._job:
                self._map_task(out, uuid, abs_id, job_id)
        # Tasks read earlier whose job mapping arrived since (a later flush).
        if self._unmapped:
            lo, hi = min(self._unmapped), max(self._unmapped)
            mapped = self._fetch(
                conn, "SELECT task_id, job_id FROM task WHERE task_id BETWEEN ? AND ? AND job_id IS NOT NULL", (lo, hi))
            self._recall(conn, job_ids=[r[1] for r in mapped if r[0] in self._unmapped])
            for task_id, job_id in mapped:
                got = self._unmapped.get(task_id)
                if got is None or job_id not in self._job:
                    continue
                del self._unmapped[task_id]
                self._map_task(out, got[0], got[1], job_id)
        return more

    def _map_task(self, out, uuid, abs_id, job_id) -> None:
        out.append(Event("stampede.wf.map.task_job", None, {
            "event": "stampede.wf.map.task_job", "xwf_id": uuid, "task_id": abs_id, "job_id": self._job[job_id][1],
        }))

    _JI_COLS = ("job_instance_id, job_id, host_id, job_submit_seq, sched_id, site, user, work_dir, cluster_start, "
                "cluster_duration, local_duration, subwf_id, stdout_file, stdout_text, stderr_file, stderr_text, "
                "stdin_file, multiplier_factor, exitcode")

    def _read_instances(self, conn, out) -> bool:
        rows, more = self._rows(conn, "job_instance", self._JI_COLS)
        self._recall(conn, job_ids=[r[2] for r in rows])
        jobs = self._job
        fresh = self._fresh
        reread = self._reread
        host_wait = self._host_wait
        append = out.append
        last = None
        for r in rows:
            rowid, jiid, job_id = r[0], r[1], r[2]
            job = jobs.get(job_id)
            if job is None:
                if job_id not in self._job_skip:
                    if self._parent_later("job_instance", "job"):
                        more = True  # its job is beyond this read's chunk: next time
                        break
                    self._skip("job_instance", rowid, f"its job {job_id} is not in the DB")
                last = rowid
                self._ji_skip.add(jiid)
                continue
            last = rowid
            uuid, exec_id, tdesc = job
            seq = r[4]
            self._ji[jiid] = (uuid, exec_id, seq, tdesc)
            append(Event("stampede.job_inst.submit.start", None, {
                "event": "stampede.job_inst.submit.start", "xwf_id": uuid, "job_id": exec_id, "job_inst_id": seq,
                "sched_id": r[5], "site": r[6],
            }))
            fresh[jiid] = r[1:]  # the row as of this transaction: no need to read it again below
            reread[jiid] = REREAD_POLLS + 1  # its row may already be complete (a finished run)
            host_wait.add(jiid)
            if tdesc in SUBWF_TYPES:
                self._subwf_wait.add(jiid)
        if last is not None:
            self.marks["job_instance"] = last
        return more

    def _instance_gone(self, table: str, rowid, jiid) -> bool:
        """True when ``table``'s read waits for instance ``jiid``'s row; else the row is skipped."""
        if self._parent_later(table, "job_instance"):
            return True
        self._skip(table, rowid, f"its job instance {jiid} is not in the DB")
        self._ji_skip.add(jiid)  # its other rows go with it, uncounted: one warning is enough
        return False

    def _read_jobstates(self, conn, out, touched: set) -> bool:
        # The hot loop of a big DB (7 rows a job): locals, one dict per row.
        rows, more = self._rows(conn, "jobstate", "job_instance_id, state, timestamp, jobstate_submit_seq, reason")
        self._recall(conn, jiids=[r[1] for r in rows])
        seen = self.js_seen if self.track_js else None
        ji_get = self._ji.get
        skip = self._ji_skip
        ends_map = self._ends
        kinds = _STATE_KIND
        append = out.append
        add = touched.add
        last = None
        for rowid, jiid, state, ts, js, reason in rows:
            ji = ji_get(jiid)
            if ji is None:
                if jiid in skip or not self._instance_gone("jobstate", rowid, jiid):
                    last = rowid
                    continue
                more = True  # its instance is beyond this read's chunk: next time
                break
            last = rowid
            uuid, exec_id, seq, _ = ji
            if seen is not None and type(js) is int and 0 <= js < 4096:
                key = (uuid, exec_id, seq)
                seen[key] = seen.get(key, 0) | (1 << js)
            if ts is not None:
                ts = to_epoch(ts)  # None for what is not a time: the store warns and ignores the state
            add(jiid)
            kind = kinds.get(state)
            if kind is None:
                # A corner-case state the loader derives from the event name
                # (stampede.job_inst.<x>.*): keep it visible as an unknown event.
                kind = (f"stampede.job_inst.{str(state).lower()}", None, 0)
            name, status, end = kind
            if end:
                ends = ends_map.get(jiid)
                if ends is None:
                    ends = ends_map[jiid] = ([], [])
                ends[end - 1].append((ts, js, status, state))
                continue
            d = {"event": name, "xwf_id": uuid, "job_id": exec_id, "job_inst_id": seq, "js_id": js, "ts": ts}
            if status is not None:
                d["status"] = status
            if reason is not None:
                d["reason"] = reason
            append(Event(name, ts, d))
        if last is not None:
            self.marks["jobstate"] = last
        reread = self._reread
        for jiid in touched:
            reread[jiid] = REREAD_POLLS + 1
        return more

    def _read_invocations(self, conn, out) -> bool:
        rows, more = self._rows(
            conn, "invocation",
            "job_instance_id, task_submit_seq, start_time, remote_duration, remote_cpu_time, exitcode, "
            "transformation, executable, argv, abs_task_id, maxrss, avg_cpu",
        )
        self._recall(conn, jiids=[r[1] for r in rows])
        ji_get = self._ji.get
        inv_ec = self._inv_ec
        append = out.append
        last = None
        for rowid, jiid, tseq, start, dur, cpu, ec, xform, exe, argv, abs_id, maxrss, avg_cpu in rows:
            ji = ji_get(jiid)
            if ji is None:
                if jiid in self._ji_skip or not self._instance_gone("invocation", rowid, jiid):
                    last = rowid
                    continue
                more = True
                break
            last = rowid
            uuid, exec_id, seq, _ = ji
            try:  # free unless it raises (zero-cost exceptions, Python >= 3.11)
                d = {
                    "event": "stampede.inv.end", "xwf_id": uuid, "job_id": exec_id, "job_inst_id": seq,
                    "inv_id": tseq, "task_id": abs_id, "transformation": xform, "start_time": to_epoch(start),
                    "dur": _f(dur), "remote_cpu_time": _f(cpu), "exitcode": ec, "executable": exe,
                    "argv": unescape_argv(argv), "maxrss": maxrss, "avg_cpu": _f(avg_cpu),
                }
                if ec and ec > inv_ec.get(jiid, 0) and tseq is not None and tseq >= 0:
                    inv_ec[jiid] = ec
            except (TypeError, ValueError) as exc:  # a text or BLOB cell where the schema says a number
                self._bad_row("invocation", rowid, exc)
                continue
            d["ts"] = start = d["start_time"]
            append(Event("stampede.inv.end", start, d))
        if last is not None:
            self.marks["invocation"] = last
        return more

    def _read_hosts(self, conn) -> bool:
        rows, more = self._rows(conn, "host", "host_id, site, hostname, ip, uname, total_memory")
        for rowid, host_id, site, hostname, ip, uname, mem in rows:
            self.marks["host"] = rowid
            self._hosts[host_id] = (site, hostname, ip, uname, mem)
        return more

    def _read_instance_rows(self, conn, out, table: str, names: tuple, event: str, convert=None) -> bool:
        """Rows of a table hung off job_instance, as one event each; a row whose
        instance is not read yet waits for the next transaction."""
        rows, more = self._rows(conn, table, "job_instance_id, " + ", ".join(names))
        self._recall(conn, jiids=[r[1] for r in rows])
        for rowid, jiid, *vals in rows:
            ji = self._ji.get(jiid)
            if ji is None and jiid not in self._ji_skip and self._instance_gone(table, rowid, jiid):
                return True
            self.marks[table] = rowid
            if ji is not None:
                uuid, exec_id, seq, _ = ji
                d = {"event": event, "xwf_id": uuid, "job_id": exec_id, "job_inst_id": seq}
                d.update(zip(names, vals))
                try:
                    for key, fn in (convert or {}).items():
                        d[key] = fn(d[key])
                except (TypeError, ValueError) as exc:  # a text or BLOB cell where the schema says a number
                    self._bad_row(table, rowid, exc)
                    continue
                out.append(Event(event, None, d))
        return more

    def _read_integrity(self, conn, out) -> bool:
        return self._read_instance_rows(
            conn, out, "integrity", ("type", "file_type", "count", "duration"), "stampede.int.metric",
            convert={"duration": _f},
        )

    def _read_tags(self, conn, out) -> bool:
        return self._read_instance_rows(conn, out, "tag", ("name", "count"), "stampede.job_inst.tag")

    # -- instances updated in place -----------------------------------------
    def _reread_instances(self, conn, out, touched: set) -> None:
        want = set(self._reread) | self._subwf_wait
        # host.info sets host_id in a commit of its own, maybe with no new
        # state for the instance: look for it on every instance still waiting.
        ends, reread = self._ends, self._reread
        done = [j for j in self._host_wait if j in ends and j not in reread]
        self._host_wait.difference_update(done)  # ended a while ago without a host: none will come
        waiting = sorted(self._host_wait - want)
        for i in range(0, len(waiting), 500):
            part = waiting[i : i + 500]
            marks = ",".join("?" * len(part))
            for (jiid,) in self._fetch(
                conn,
                f"SELECT job_instance_id FROM job_instance WHERE host_id IS NOT NULL AND job_instance_id IN ({marks})",
                part,
            ):
                want.add(jiid)
        if not want:
            return
        fresh = self._fresh
        self._fresh = {}
        ids = sorted(want)
        for jiid in ids:
            r = fresh.get(jiid)
            if r is not None:
                self._instance_row(conn, r, out)
        stale = [j for j in ids if j not in fresh]
        cols = self._JI_COLS
        for i in range(0, len(stale), 500):
            part = stale[i : i + 500]
            marks = ",".join("?" * len(part))
            for r in self._fetch(conn, f"SELECT {cols} FROM job_instance WHERE job_instance_id IN ({marks})", part):
                self._instance_row(conn, r, out)
        # Only now (all read): one changed poll less in each re-read window.
        for jiid in ids:
            left = self._reread.get(jiid)
            if left is not None:
                if left <= 1:
                    del self._reread[jiid]
                else:
                    self._reread[jiid] = left - 1

    def _instance_row(self, conn, r, out) -> None:
        try:  # free unless it raises (zero-cost exceptions, Python >= 3.11)
            self._instance_events(conn, r, out)
        except SQL_ERRORS:
            raise  # the DB's trouble, not the row's: the poll decides
        except (TypeError, ValueError) as exc:  # a text or BLOB cell where the schema says a number
            self._bad_row("job_instance", r[0], exc)

    def _instance_events(self, conn, r, out) -> None:
        """The events of an instance row that changed since it was last seen.  A cell
        of the wrong type raises before anything is kept (:meth:`_instance_row`)."""
        (jiid, job_id, host_id, seq, sched_id, site, user, work_dir, cstart, cdur, ldur, subwf_id,
         out_file, out_text, err_file, err_text, in_file, mult, ec) = r
        ji = self._ji.get(jiid)
        if ji is None:
            return
        uuid, exec_id, _, tdesc = ji
        main_rows, post_rows = self._ends.get(jiid) or ((), ())
        sig = (host_id, subwf_id, ec, ldur, sched_id, site, user, work_dir, cdur, out_file, err_file,
               None if out_text is None else len(out_text), None if err_text is None else len(err_text), mult,
               len(main_rows), len(post_rows))
        old = self._sig.get(jiid)
        if old == sig:
            return
        durations = {"local_dur": _f(ldur), "cluster_start": _f(cstart), "cluster_dur": _f(cdur)}
        h = None
        if host_id is not None and (old is None or old[0] != host_id):
            h = self._hosts.get(host_id)
            if h is None:
                got = self._fetch(conn, "SELECT site, hostname, ip, uname, total_memory FROM host WHERE host_id = ?",
                                  (host_id,))
                if got:
                    h = self._hosts[host_id] = got[0]
        # No DB access below this line: the events and the signature go together.
        self._sig[jiid] = sig
        if host_id is not None:
            self._host_wait.discard(jiid)
        base = {"xwf_id": uuid, "job_id": exec_id, "job_inst_id": seq}
        if h is not None:
            out.append(Event("stampede.job_inst.host.info", None, {
                "event": "stampede.job_inst.host.info", **base, "site": h[0], "hostname": h[1], "ip": h[2],
                "uname": h[3], "total_memory": h[4],
            }))
        if subwf_id is not None:
            self._subwf_wait.discard(jiid)
            sub = self._wf.get(subwf_id)
            if sub is not None and (old is None or old[1] != subwf_id):
                out.append(Event("stampede.xwf.map.subwf_job", None, {
                    "event": "stampede.xwf.map.subwf_job", "xwf_id": uuid, "subwf_id": sub, **base,
                }))
            elif sub is None and subwf_id not in self._wf_skip:
                self._sig[jiid] = sig[:1] + (None,) + sig[2:]  # child not read yet: map it next time
                self._subwf_wait.add(jiid)
        elif (jiid in self._subwf_wait and (main_rows or post_rows) and ji[3] in SUBWF_TYPES
              and jiid not in self._reread):
            # ended without a sub-workflow (pegasus-plan failed): stop waiting
            # once the re-read window of its last change has passed.
            self._subwf_wait.discard(jiid)
        # The instance's results ride on its main.end / post.end states.
        if post_rows:
            main_ec = self._main_ec.get(jiid)
            if main_ec is None:
                if any(s[3] == "JOB_SUCCESS" for s in main_rows):
                    main_ec = 0
                elif jiid in self._inv_ec:
                    main_ec = self._inv_ec[jiid]
            post_ec = ec
        else:
            main_ec = ec
            post_ec = None
            if main_rows and ec is not None:
                self._main_ec[jiid] = ec
        for ts, js, status, _state in main_rows:
            d = {
                "event": "stampede.job_inst.main.end", "xwf_id": uuid, "job_id": exec_id, "job_inst_id": seq,
                "js_id": js, "ts": ts, "status": status, "sched_id": sched_id, "site": site, "user": user,
                "work_dir": work_dir, **durations, "stdout_file": out_file, "stderr_file": err_file,
                "stdin_file": in_file, "stdout_text": out_text, "stderr_text": err_text, "multiplier_factor": mult,
            }
            if main_ec is not None:
                d["exitcode"] = main_ec
            out.append(Event("stampede.job_inst.main.end", ts, d))
        for ts, js, status, _state in post_rows:
            d = {"event": "stampede.job_inst.post.end", **base, "sched_id": sched_id, "js_id": js, "ts": ts,
                 "status": status}
            if post_ec is not None:
                d["exitcode"] = post_ec
            out.append(Event("stampede.job_inst.post.end", ts, d))


class _JobsReader(StampedeDbSource):
    """The incremental read narrowed to a few jobs' rows, all of them: their history as
    the same events (the read's own code makes them), for a bulk-loaded store."""

    def __init__(self, parent: StampedeDbSource, job_ids: list[int]):
        super().__init__(parent.path, follow=False, root_uuid=parent.root_uuid, bulk_min=None)
        # the workflows as the parent read them (looked up, never changed, here)
        self._wf = parent._wf
        self._wf_skip = parent._wf_skip
        self._bulk_decided = True
        ids = ",".join(str(int(i)) for i in job_ids)
        of_instances = f"job_instance_id IN (SELECT job_instance_id FROM job_instance WHERE job_id IN ({ids}))"
        self._where = {"job": f"job_id IN ({ids})", "task": f"job_id IN ({ids})",
                       "job_instance": f"job_id IN ({ids})", "jobstate": of_instances,
                       "invocation": of_instances, "integrity": of_instances, "tag": of_instances}

    def _rows(self, conn, table: str, cols: str):
        where = self._where.get(table)
        if where is None:  # the workflows are the parent's; a host is looked up by its instance
            return [], False
        return self._fetch(conn, f"SELECT rowid, {cols} FROM {table} WHERE {where} ORDER BY rowid"), False
