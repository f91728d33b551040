"""``panorama-top --once`` of a Parsl monitoring DB straight from the DB, without a store (issue #15).

The store path (``ParslDbSource``'s bulk read into the store, then ``once.as_dict``) builds a
Python task, try and sample series for every row.  The summary needs one state a task, so this
module asks the DB for one row a task instead:

* a grouped pass over ``status`` (by ranges of task ids, on its (task_id, run_id,
  task_status_name, timestamp) primary key, a covering index: try_id is not read there, one
  short statement a range) gives each task with every status row of try 0 and at most one end
  row its state: its furthest code along pending -> launched -> running -> running_ended ->
  joining, then the end states (``ParslTry.note_state``; a final state wins, ``parsl._settle``).
  The others (a status row of a try past 0, found by one scan of the table in rowid order, or a
  try row past 0: the retried tasks, ~3 %) are read again by a two-level query that applies the
  try rule first, then the task's, as ``try_id * 16 + state code`` maxima (_status_sql);
* the ``try`` and ``resource`` rows' keys (their primary keys, covering) give each task its
  tries, per-run maxima of every time column its last activity (on a second connection
  meanwhile: plain aggregates for a DB of one run, no GROUP BY run_id to sort for); the failed
  tasks, and only they, are read again whole (app, dependencies, tries' exceptions and hosts).

At 100k tasks (the shared 2-core machine, the whole command, pyc compiled): ~1.1-1.3 s of CPU in
the process against 1.7-2.3 s before the covering status pass and the side's plain aggregates
(in-process, 3 runs each alternated, load 3); perf's task-clock A B A B 1.79, 1.75 s against
2.46, 2.51 s, wall 2.5, 1.8 s against 3.4, 3.1 s at load 3.9 (the machine shared).  The status
pass is ~0.3 s of SQLite's CPU (0.6-0.8 s when it read try_id: a table lookup a row); the
command's start ~0.15 s.  (The store path, an earlier session: 9.6 s of CPU and 323 MB.)

The pace a stall is judged by (``ParslRun.pace``: the gaps between the latest 1,024 distinct
activity times as the store noted them, in the order its reader sent the rows) is asked for
only when it decides the answer (a run without an end, quiet longer than the floor, with no
resource samples to time it): it is then read for that run alone, in the reader's order
(row by row for a small DB, by the bulk reader's ranges for a big one).

Like the store path's reader it opens the DB read-only (``connect_ro``), never holds a read
transaction open across statements (Parsl's writer retries a locked commit a second later), and
stops at the rowids the DB had when it started (its snapshot: Parsl only appends rows); a DB
locked for longer than ``LOCK_PATIENCE`` is the same error.  ``events`` counts what the store
counts (a row an event, the writer's ones).

What this path leaves to the store (``once_from_db`` answers None, the caller reads the store,
the output is the same): a DB the store would warn about (a status it does not know), a row of no
task or of a run not in ``workflow`` (the store would make one), rows the store's two readers
treat differently (samples without a time, NULL or negative try ids), a try's two end states at
one time (the first read wins), status try ids that are not 0, 1, ..., a run sampled at several
intervals, and an ended run with a task without a state (its outcome then depends on the order
the rows were read in).
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor

from ..core import parsl_events as pe
from ..core.dagman import NODE_COLUMNS, percent_done
from ..core.fmt import iso_utc, visible
from ..core.sqlite import SQL_ERRORS, connect_ro
from ..core.typed import interned, text
from ..model.coerce import _float, _int
from ..model.handlers import parsl as ph
from ..model.states import ACTIVE_STATES, JobState, WorkflowState

# Task ids a grouped statement over status takes: at 100k tasks (~600k status rows) a range
# of 20,000 ids holds the shared lock ~0.1 s (the store path's bulk ranges: 500 ids, ~25 ms
# of SQLite each, but 200 of them).
RANGE = 20_000
KEYS = 500  # task ids a lookup of failed tasks names at once (SQLite's variable limit is 999 on old builds)
_ENDS = tuple(sorted(pe.TRY_END_STATES))
_PATH = (pe.PENDING, pe.LAUNCHED, pe.RUNNING, pe.RUNNING_ENDED, pe.JOINING)  # STATE_RANK's order
_RUNNING_LIKE = (pe.RUNNING, pe.RUNNING_ENDED)


class Unsupported(Exception):
    """This DB needs the store path (the message says why)."""


def _q(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class _Db:
    """The connection, each statement on its own (autocommit: a read transaction a statement),
    retried while the DB is locked, for LOCK_PATIENCE at most (the store path's patience)."""

    def __init__(self, path: str, rules):
        self.path = path
        self.rules = rules
        self.conn = connect_ro(path)
        self.cols: dict[str, str] = {}
        self.marks: dict[str, int] = {}

    def rows(self, sql: str, args=()) -> list:
        return self.retried(lambda: self.conn.execute(sql, args).fetchall())

    def retried(self, fn):
        since = None
        while True:
            try:
                return fn()
            except sqlite3.Error as exc:
                mdb = self.rules
                err = mdb._classify(exc, self.path, mdb.WRITER)
                if not isinstance(err, mdb._Busy):
                    raise
                now = time.monotonic()
                since = now if since is None else since
                if now - since > mdb.LOCK_PATIENCE:
                    raise mdb.ParslDbError(f"{self.path}: locked for over {mdb.LOCK_PATIENCE:g} s by another "
                                           f"process (an open write transaction); try again") from None
                time.sleep(0.05)

    def col(self, table: str, name: str) -> str:
        """The column's SELECT expression (NULL when this Parsl's table lacks it)."""
        return self.cols[table].split(", ")[pe.COLUMNS[table].index(name)]

    def upto(self, table: str) -> str:
        return f"rowid <= {int(self.marks[table])}"


class _Run:
    """What ``parsl.stall`` and the summary read of a run (a ParslRun's fields, from the DB)."""

    def __init__(self, row, epoch):
        (self.run_id, name, version, began, completed, host, user, rundir, failed, completed_n) = row
        self.label = text(name) or "parsl"
        self.version = text(version) or None
        self.host, self.user, self.rundir = text(host) or None, text(user) or None, text(rundir) or None
        self.start = epoch(began)
        self.time_completed = epoch(completed)
        self.db_failed, self.db_completed = _int(failed), _int(completed_n)
        self.activity: float | None = None
        self.interval: float | None = None
        self.state_counts: Counter = Counter()
        self.jobs: Counter = Counter()  # JobState -> tasks
        self.total = self.retries = self.running = 0
        self.stateless = 0  # tasks without a state
        self.writer: tuple[bool, float] | None = None
        self.failed_tasks: list = []  # task ids in a failure state
        self.pace_of = None  # () -> the pace, read when asked

    def note(self, ts) -> None:
        if ts is not None and (self.activity is None or ts > self.activity):
            self.activity = ts

    @property
    def ended(self) -> bool:
        return self.time_completed is not None

    @property
    def last_activity(self) -> float | None:
        ends = self.time_completed
        if ends is None or (self.activity is not None and self.activity > ends):
            return self.activity
        return ends

    def pace(self) -> float:
        return self.pace_of()


def once_from_db(path: str, rules, source: str = "", now: float | None = None, progress=None,
                 writers=None) -> tuple[dict, dict] | None:
    """(``once.as_dict``'s dict, {run_id: its text lines}) for a Parsl monitoring DB, or None
    when the store path must answer (see the module's doc; a DB that cannot be read: the
    store path says why).  ``rules``: the store path's reader, ``sources/parsl/monitoring_db``
    (its schema check, time conversion, ranges, lock patience and writer search: what this
    path must do as it does; passed in by the command, as statistics import no source).
    ``progress(done, total)``: tasks read.  ``writers``: how the writer's process is looked
    for (the reader's own by default).  ``rules.ParslDbError`` for a DB locked past
    ``rules.LOCK_PATIENCE`` (what the store path would say after the same wait)."""
    try:
        db = _Db(path, rules)
    except SQL_ERRORS:
        return None
    try:
        return _summary(db, path, source, now, progress, writers or rules.db_writers)
    except (Unsupported, *SQL_ERRORS, TypeError, ValueError, OverflowError):
        return None
    except rules.ParslDbError as exc:
        if "locked for over" in str(exc):
            raise
        return None
    finally:
        db.conn.close()


def _summary(db: _Db, path, source, now, progress, writers) -> tuple[dict, dict]:
    mdb = db.rules
    db.cols = db.retried(lambda: mdb.schema_of(db.conn, path))
    tables = list(db.cols)
    for t in tables:
        db.marks[t] = db.rows(f'SELECT max(rowid) FROM "{t}"')[0][0] or 0
    epoch = mdb.FastEpoch()
    runs = {r[0]: _Run(r, epoch) for r in db.rows(f'SELECT {db.cols["workflow"]} FROM workflow '
                                                  f'WHERE {db.upto("workflow")} ORDER BY rowid')}
    if not runs or any(not isinstance(k, str) or not k for k in runs):
        raise Unsupported("no run, or a run id that is not text")
    for run in runs.values():
        run.note(run.start)

    def run_of(run_id) -> _Run:
        run = runs.get(run_id)
        if run is None:
            raise Unsupported("a row of a run not in workflow")
        return run

    # each task's state, by the store's rule -------------------------------------------------
    lo, hi, n_tasks = db.rows(f'SELECT min(task_id), max(task_id), count(*) FROM task WHERE {db.upto("task")}')[0]
    if lo is not None and not (type(lo) is int and type(hi) is int):
        raise Unsupported("a task id that is not a number")
    bulk = lo is not None and n_tasks >= mdb.BULK_MIN_TASKS
    # What needs no task's state, on a second connection meanwhile (SQLite runs without the GIL:
    # the other core takes it); its own statements, the same snapshot (marks).
    pool = ThreadPoolExecutor(1, thread_name_prefix="parsl-once")
    side = pool.submit(_side, path, db.rules, db.cols, db.marks, list(runs))
    pool.shutdown(wait=False)
    tasks = dict.fromkeys(db.rows(f'SELECT run_id, task_id FROM task WHERE {db.upto("task")}'))
    try_hi: dict = {}  # (run_id, task_id) -> its try rows' ids past 0 (few: the retried tasks)
    if "try" in tables:  # (the rest, try 0 of every task, checked in the DB by _side)
        for y, tid, run_id in db.rows(f'SELECT try_id, task_id, run_id FROM try WHERE try_id > 0 '
                                      f'AND {db.upto("try")}'):
            key = (run_id, tid)
            if key not in tasks or type(y) is not int:
                raise Unsupported("a try row of no task, or a try id that is not a number")
            try_hi.setdefault(key, set()).add(y)
    failures: dict = {}  # (run_id, task_id) -> (its state, its store tries, its highest try id)
    # each on status's key, no scan (both in one statement: a scan, 50 ms at 100k); the ranges bound them
    s_lo, s_hi = (db.rows(f"SELECT {f}(task_id) FROM status")[0][0] for f in ("min", "max"))
    if s_lo is not None:
        if not (type(s_lo) is int and type(s_hi) is int):
            raise Unsupported("a task id that is not a number")
        for run_id, last in _status_pass(db, s_lo, s_hi, runs, tasks, try_hi, failures, progress).items():
            run_of(run_id).note(epoch(last))
    side_maxima, sampled, events = side.result()
    # the tasks without a status row: no state; retried, their tries are their try rows
    quiet = Counter(run_id for run_id, _ in tasks)  # tasks a run, less those with status rows
    for run in runs.values():
        quiet[run.run_id] -= run.total
    for run_id, n in quiet.items():
        run = run_of(run_id)
        run.total += n
        run.stateless += n
        run.jobs[JobState.WAITING] += n
    retried = sorted((k for k in try_hi if tasks[k] is None), key=lambda k: (str(k[0]), k[1]))
    for i in range(0, len(retried), KEYS):
        part = retried[i:i + KEYS]
        ids = ",".join(str(int(k[1])) for k in part)
        zero = set(db.rows(f"SELECT run_id, task_id FROM try WHERE try_id = 0 AND task_id IN ({ids}) "
                           f"AND {db.upto('try')}"))
        for key in part:
            runs[key[0]].retries += len(try_hi[key]) + (key in zero) - 1

    for run_id, v in side_maxima:
        run_of(run_id).note(epoch(v))
    if not sampled.keys() <= tasks.keys():
        raise Unsupported("a resource row of no task")
    for key, y in sampled.items():  # a failed task's highest try may be one only sampled
        f = failures.get(key)
        if f is not None and y > f[2]:
            failures[key] = (f[0], f[1], y)

    # the writer, as the source looks for it at the end of a read once
    open_runs = [r for r in runs.values() if not r.ended]
    hosts = mdb._this_host()
    local = [r for r in open_runs if (r.host or "") in hosts]
    if local:
        n = writers(path)
        if n is not None:
            wall = time.time()
            for r in local:
                r.writer = (n > 0, wall)
                events += 1

    for run in runs.values():
        if run.ended and run.stateless:
            raise Unsupported("an ended run with a task without a state (its outcome depends on the order read)")
        if not run.ended and run.running and "resource" in db.cols:  # what a stall is timed by (ph.stall)
            interval = db.col("resource", "resource_monitoring_interval")
            got = {_float(v) for v in db.rows(
                f"SELECT min(CASE WHEN {interval} <> 0 THEN {interval} END), max(CASE WHEN {interval} <> 0 THEN "
                f'{interval} END) FROM resource WHERE run_id = ? AND {db.upto("resource")}', (run.run_id,))[0]}
            got.discard(None)
            if len(got) > 1:
                raise Unsupported("a run sampled at several intervals (the store keeps the last read)")
            run.interval = next(iter(got), None)
        run.pace_of = (lambda r=run: _pace(db, r, bulk, (lo, hi), epoch))

    failed_info = _failed_tasks(db, failures)
    out = []
    lines = {}
    for run in runs.values():
        d = _run_json(run, now, failures, failed_info)
        out.append(d)
        lines[run.run_id] = ph.run_lines(d)
    exit_status = _exit(runs.values(), now)
    rows = [_dag_row(r) for r in runs.values()]
    totals: dict = dict.fromkeys((*NODE_COLUMNS, "total"), 0)
    for row in rows:
        for k in totals:
            totals[k] += row[k]
    totals["percent_done"] = percent_done(totals["done"], totals["total"])
    d = {"source": source, "exit_status": exit_status, "events": events, "bad_records": 0, "unknown_events": 0,
         "warnings": 0, "dag_totals": totals, "workflows": out}
    return d, lines


# A try's state code: its furthest state along the path (0-4), or its end (5-9; 6-9 final).
_CODES = (*_PATH, pe.FAIL_RETRYABLE, pe.EXEC_DONE, pe.MEMO_DONE, pe.FAILED, pe.DEP_FAIL)
_FINAL_CODE = _CODES.index(pe.EXEC_DONE)
_UNKNOWN = 15  # (_quick_sql) a status not in _CODES


def _side(path: str, rules, cols: dict, marks: dict, run_ids: list) -> tuple[list, dict, int]:
    """([(run_id, a latest time as text)], {(run_id, task_id): its highest sampled try past 0}, the
    rows): each run's latest task, try, sample, node and block times, the resource rows' tries and
    the event count; Unsupported for try and resource rows the store would read otherwise.

    A DB of one run (Parsl's usual: a run a DB) is read by plain aggregates over each table, with a
    count of the rows of another run instead of a GROUP BY run_id, which SQLite sorts for (no index
    has run_id first; 201k node rows spill to a temp file): at 100k tasks 0.23 against 0.50 s of
    SQLite's CPU for this function (node 0.04/0.10, resource 0.11/0.20 + its 100k groups in Python,
    try 0.05/0.09, task 0.02/0.05; the counts come with them)."""
    db = _Db(path, rules)
    try:
        db.cols, db.marks = cols, marks
        one = run_ids[0] if len(run_ids) == 1 else None
        maxima = []
        events = 0
        for t in ("task", "try", "node", "block"):
            if t not in cols:
                continue
            times = [db.col(t, c) for c in _ROW_TIMES[t]]
            sel = ", ".join(f"max({c})" for c in times)
            if t == "try":  # a try row of no task (the store would make it one), an id not 0, 1, ...
                odd = (f'count(*) - count(try_id) + count(CASE WHEN try_id < 0 THEN 1 END) + count(CASE WHEN NOT '
                       f'EXISTS (SELECT 1 FROM task t WHERE t.task_id = y.task_id AND t.run_id = y.run_id AND '
                       f't.{db.upto("task")}) THEN 1 END)')
                sel += f", {odd}"
            src = f'"{t}" y WHERE y.{db.upto(t)}'
            if one is not None:
                timed = " OR ".join(f"{c} IS NOT NULL" for c in times)
                rows = [(one, *r) for r in db.rows(
                    f"SELECT {sel}, count(*), count(CASE WHEN run_id IS NOT ? AND ({timed}) THEN 1 END) FROM {src}",
                    (one,))]
                if rows[0][-1]:
                    raise Unsupported("a row of a run not in workflow")
                rows = [r[:-1] for r in rows]
            else:
                rows = db.rows(f"SELECT run_id, {sel}, count(*) FROM {src} GROUP BY run_id")
            for run_id, *vs, n in rows:
                events += n
                if t == "try":
                    if sum(v for v in vs[len(times):]):
                        raise Unsupported("a try row of no task, or a try id that is not a number")
                    vs = vs[:len(times)]
                maxima += [(run_id, v) for v in vs if v is not None]
        sampled: dict = {}  # (run_id, task_id) -> its highest try with resource samples, past 0
        if "resource" in cols:
            events += _resource(db, maxima, sampled)
        events += db.rows(f'SELECT count(*) FROM "status" WHERE {db.upto("status")}')[0][0]
        events += sum(db.rows(f'SELECT count(*) FROM "{t}" WHERE {db.upto(t)}')[0][0] for t in cols
                      if t not in ("task", "try", "node", "block", "resource", "status"))
        return maxima, sampled, events
    finally:
        db.conn.close()


def _resource(db: _Db, maxima: list, sampled: dict) -> int:
    """The resource rows' part of _side: each run's latest sample into ``maxima``, each task's highest
    sampled try past 0 into ``sampled`` (a failed task's highest try may be one only sampled); its
    rows.  Unsupported for a row without a time or a try id that is not a number (the two readers
    differ on them), or of no task.  One pass over resource's primary key (try_id, task_id, run_id,
    timestamp: a covering index) grouped by try in SQLite, the task looked up a try: 0.17 s of CPU
    at 100k tasks (278k rows), against 0.18 s plus 0.05 s of Python for its 100k tries read here."""
    upto = db.upto("resource")
    n_rows = 0
    for run_id, n, n_ts, last, odd, orphans in db.rows(
            f"SELECT run_id, sum(n), sum(n_ts), max(last), count(CASE WHEN typeof(try_id) <> 'integer' THEN 1 END), "
            f"count(CASE WHEN NOT EXISTS (SELECT 1 FROM task t WHERE t.task_id = r.task_id AND t.run_id = r.run_id "
            f"AND t.{db.upto('task')}) THEN 1 END) FROM (SELECT try_id, task_id, run_id, count(*) AS n, "
            f"count(timestamp) AS n_ts, max(timestamp) AS last FROM resource WHERE {upto} "
            f"GROUP BY try_id, task_id, run_id) r GROUP BY run_id"):
        if n != n_ts or odd:
            raise Unsupported("a resource row the readers differ on (no time or try id)")
        if orphans:
            raise Unsupported("a resource row of no task")
        n_rows += n
        maxima.append((run_id, last))
    for tid, run_id, y in db.rows(f"SELECT task_id, run_id, max(try_id) FROM resource WHERE try_id > 0 AND {upto} "
                                  f"GROUP BY task_id, run_id"):  # (the key's tail: no scan)
        sampled[(run_id, tid)] = y
    return n_rows


def _status_sql(db: _Db, where: str) -> str:
    """Each task's state in the DB, exactly: a try's state (ParslTry.note_state: its end wins, the
    latest end by time, else its furthest state along the path), then the task's (parsl._settle:
    the highest try in a final state, else its highest try's) as ``try_id * 16 + code`` maxima:
    one row a task, two grouped passes, the second over the first's rows."""
    name = db.col("status", "task_status_name")
    ts = db.col("status", "timestamp")
    try_id = f"coalesce({db.col('status', 'try_id')}, 0)"  # a Parsl before status.try_id: one try (the store's 0)
    ends = _CODES[len(_PATH):]
    rank = f"CASE {name} " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(_PATH)) + " END"
    e_cols = ", ".join(f"max(CASE WHEN {name} = '{s}' THEN {ts} END) AS e{i}" for i, s in enumerate(ends))
    code = ("CASE WHEN ne = 0 THEN r " + " ".join(f"WHEN e{i} = emax THEN {len(_PATH) + i}" for i in range(len(ends)))
            + " END")
    ties = " + ".join(f"CASE WHEN e{i} = emax THEN 1 ELSE 0 END" for i in range(len(ends)))
    inner = (f"SELECT run_id, task_id, {try_id} AS y, count(*) AS n, "
             f"count(CASE WHEN {name} IN {_q(pe.STATE_RANK)} THEN 1 END) AS k, "
             f"count(CASE WHEN {name} IN {_q(ends)} THEN 1 END) AS ne, "
             f"max(CASE WHEN {name} IN {_q(ends)} THEN {ts} END) AS emax, max({rank}) AS r, max({ts}) AS last, "
             f"{e_cols} FROM status WHERE {where} AND {db.upto('status')} GROUP BY task_id, run_id, {try_id}")
    mid = f"SELECT run_id, task_id, y, n, k, ne, emax, last, {code} AS code, {ties} AS ties FROM ({inner}) s"
    return (f"SELECT run_id, task_id, count(*), min(y), max(y), sum(n - k), "
            f"sum(CASE WHEN ne > 0 AND emax IS NULL THEN 1 ELSE 0 END), max(ties), "
            f"max(CASE WHEN code >= {_FINAL_CODE} THEN y * 16 + code END), max(y * 16 + code), max(last) "
            f"FROM ({mid}) m GROUP BY run_id, task_id")


def _quick_sql(db: _Db) -> str:
    """Each task's state in one grouped pass on status's (task_id, run_id, task_status_name,
    timestamp) key, right for a task whose status rows are all of try 0 with at most one end row
    (its state then is its furthest code: an end row's code is above every path code; the rest:
    _status_sql).  try_id is not in the key, so it is not read here (reading it costs a table
    lookup a row: 0.61-0.77 against 0.25-0.33 s of SQLite's CPU at 100k tasks, 509k rows); the
    tasks with a try id past 0 come from _retried_status's table scan instead (~0.035 s).  An
    unknown status reads as code 15 (``_UNKNOWN``), above them all."""
    name = db.col("status", "task_status_name")
    code = (f"CASE {name} " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(_CODES))
            + f" ELSE {_UNKNOWN} END")
    return (f"SELECT run_id, task_id, count(CASE WHEN {name} IN {_q(_CODES[len(_PATH):])} THEN 1 END), max({code}), "
            f"max({db.col('status', 'timestamp')}) FROM status WHERE task_id >= ? AND task_id < ? AND {db.upto('status')} "
            f"GROUP BY task_id, run_id")


def _retried_status(db: _Db) -> set:
    """(run_id, task_id) of the tasks with a status row of a try id other than 0 (NULL is 0, as
    coalesce() takes it in _status_sql): one scan of the table in rowid order (no DISTINCT, which
    would make SQLite walk the key and look every row up: 0.15 against 0.035 s at 509k rows)."""
    y = db.col("status", "try_id")
    if y == "NULL":  # a Parsl before status.try_id: every row is try 0
        return set()
    return set(db.rows(f"SELECT run_id, task_id FROM status NOT INDEXED WHERE {y} <> 0 AND {db.upto('status')}"))


def _status_pass(db: _Db, s_lo: int, s_hi: int, runs: dict, tasks: dict, try_hi: dict, failures: dict,
                 progress) -> dict:
    """Each task's state from its status rows, a range of task ids a statement (its primary key's
    order): the store's rule applied in the DB, the runs' counts here.  A task with one try, one
    end row at most and no try row past 0 (~97 %) is only counted (its state: its code); the others
    are read again by _status_sql and taken one by one (``one``)."""
    quick = _quick_sql(db)
    total = s_hi - s_lo + 1
    codes = _CODES
    failed = _FINAL_CODE + 2  # failed, dep_fail
    job_state = ph.job_state

    def one(run_id, tid, n_tries, y_lo, y_hi, fkey, skey) -> None:
        key = (run_id, tid)
        if key not in tasks or y_lo != 0 or y_hi != n_tries - 1:
            raise Unsupported("a status row of no task, or try ids that are not 0, 1, ...")
        more = try_hi.get(key)  # the try rows' ids past 0: the store's tries are both
        if more is None:
            tries, top = n_tries, y_hi
        else:
            ids = set(range(y_hi + 1)) | more
            tries, top = len(ids), max(ids)
        if fkey is not None:
            c = fkey & 15
        elif skey >> 4 == top:
            c = skey & 15
        else:
            c = None  # its latest try has no status row yet: no state (the store's too)
        run = runs[run_id]
        run.total += 1
        run.retries += tries - 1
        tasks[key] = True
        if c is None:
            run.stateless += 1
            run.jobs[JobState.WAITING] += 1
            return
        state = codes[c]
        run.state_counts[state] += 1
        run.running += state in _RUNNING_LIKE
        run.jobs[job_state(state, tries > 1)] += 1
        if c >= failed:
            failures[key] = (state, tries, top)

    again: set = set()
    retried = _retried_status(db)  # (their status rows' unknown states: _status_sql's check)
    latest: dict = {}  # run_id -> its latest status time (text: the DB's order, as max() takes it)
    counted: dict = {}  # (run_id, code) -> tasks with one try in that state
    for a in range(s_lo, s_hi + 1, RANGE):
        for run_id, tid, n_end, c, last in db.rows(quick, (a, a + RANGE)):
            key = (run_id, tid)
            if last is not None and last > latest.get(run_id, ""):
                latest[run_id] = last
            if n_end > 1 or key in retried or key in try_hi:
                again.add(key)
                continue
            if c == _UNKNOWN:
                raise Unsupported("a status the store does not know (it warns)")
            if key not in tasks:
                raise Unsupported("a status row of no task, or try ids that are not 0, 1, ...")
            counted[run_id, c] = counted.get((run_id, c), 0) + 1
            if c >= failed:
                failures[key] = (codes[c], 1, 0)
        if progress is not None:
            progress(min(total, a + RANGE - s_lo), total)
    for (run_id, c), n in counted.items():
        run = runs[run_id]
        state = codes[c]
        run.total += n
        run.state_counts[state] += n
        run.running += n * (state in _RUNNING_LIKE)
        run.jobs[job_state(state, False)] += n
    ids = sorted({k[1] for k in again})
    for i in range(0, len(ids), KEYS):
        where = f"task_id IN ({','.join(str(int(x)) for x in ids[i:i + KEYS])})"
        for run_id, tid, n, y_lo, y_hi, unknown, noend, ties, fkey, skey, _last in db.rows(_status_sql(db, where)):
            if (run_id, tid) not in again:
                continue  # (the same id in another run, read already)
            if unknown or noend or ties > 1:
                raise Unsupported("a status the store warns about, an end without a time, or two ends of a try at "
                                  "one time (the first read wins)")
            one(run_id, tid, n, y_lo, y_hi, fkey, skey)
    return latest


def _failed_tasks(db: _Db, failures: dict) -> dict:
    """(run_id, task_id) -> [app, depends, {try_id: (hostname, fail history, joins)}] of the failed tasks,
    looked up by task id (task's primary key; try's and resource's through their try ids); a failed
    task's highest try may be one only sampled (``failures`` is updated)."""
    mdb = db.rules
    out: dict = {key: [None, (), {}] for key in failures}
    ids = sorted({k[1] for k in failures})
    t_cols = ", ".join(db.col("task", c) for c in ("task_func_name", "task_depends"))
    y_cols = ", ".join(db.col("try", c) for c in ("try_id", "hostname", "task_fail_history", "task_joins")) \
        if "try" in db.cols else ""  # (a Parsl before the try table)
    try_ids = ""
    if "try" in db.cols:
        top = db.rows("SELECT max(try_id) FROM try")[0][0] or 0  # (its primary key's first column: no scan)
        try_ids = f"try_id IN ({', '.join(str(i) for i in range(top + 1))}) AND "  # their primary keys' first column
    for i in range(0, len(ids), KEYS):
        part = ",".join(str(int(x)) for x in ids[i:i + KEYS])
        for tid, run_id, func, deps in db.rows(f'SELECT task_id, run_id, {t_cols} FROM task WHERE task_id IN ({part}) '
                                               f'AND {db.upto("task")}'):
            got = out.get((run_id, tid))
            if got is None:
                continue
            got[0] = interned(text(func)) if func else None
            deps = mdb._ids(deps)
            if deps:
                got[1] = tuple(_int(x) for x in deps if _int(x) is not None)
        if "try" in db.cols:
            for tid, run_id, try_id, host, history, joins in db.rows(
                    f'SELECT task_id, run_id, {y_cols} FROM try WHERE {try_ids}task_id IN ({part}) AND {db.upto("try")}'):
                got = out.get((run_id, tid))
                if got is None:
                    continue
                joins = mdb._ids(joins)
                got[2][try_id] = (interned(text(host)) if host else None,
                                  visible(str(history), text=True) if history else None,
                                  tuple(_int(x) for x in joins if _int(x) is not None) if joins else ())
    return out


def _caused_by(run_id, tid, state, info: dict, failures: dict) -> list[int]:
    """``parsl.failure_cause`` on what was read of the failed tasks (only they are followed)."""
    _, depends, by_try = info[(run_id, tid)]
    roots: set[int] = set()
    seen: set[int] = set()
    stack = list(depends) if state == pe.DEP_FAIL else [j for p in by_try.values() for j in p[2]]
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        st = failures.get((run_id, t), (None,))[0]
        if st == pe.FAILED:
            roots.add(t)
        elif st == pe.DEP_FAIL:
            stack.extend(info[(run_id, t)][1])
    if not roots:
        history = " ".join(p[1] or "" for p in by_try.values())
        roots = {int(x) for x in ph._TASK_REF.findall(history)}
    return sorted(roots)


def _run_json(run: _Run, now, failures: dict, info: dict) -> dict:
    """``parsl.run_json`` of a run read here."""
    st = ph.stall(run, now)  # type: ignore[arg-type]  # the fields it reads, from the DB
    failed = []
    for key in sorted((k for k in failures if k[0] == run.run_id), key=lambda k: k[1]):
        state, n_tries, top = failures[key]
        app, _, by_try = info[key]
        p = None if top is None else by_try.get(top, (None, None, ()))  # the highest try, maybe sampled only
        history = p[1] if p else None
        failed.append({"task_id": key[1], "app": app, "state": state, "exception": history or None,
                       "exitcode": ph.bash_exit(history) if p else None, "host": p[0] if p else None,
                       "tries": n_tries, "caused_by": _caused_by(key[0], key[1], state, info, failures)})
    return {
        "kind": "parsl", "run_id": run.run_id, "wf_uuid": run.run_id, "label": run.label,
        "version": run.version, "rundir": run.rundir, "host": run.host, "user": run.user,
        "state": _state(run, now, st), "start": iso_utc(run.start), "end": iso_utc(run.time_completed),
        "last_activity": iso_utc(run.last_activity),
        "tasks": _task_counts(run),
        "db_counts": {"tasks_completed_count": run.db_completed, "tasks_failed_count": run.db_failed},
        "stalled": None if st is None else {"kind": st.kind, "reason": st.reason, "since": iso_utc(st.since)},
        "failed_tasks": failed,
    }


def _wf_state(run: _Run) -> str:
    """The store's ``wf.state`` (parsl._set_outcome)."""
    if not run.ended:
        return WorkflowState.RUNNING
    c = run.state_counts
    return WorkflowState.SUCCEEDED if c[pe.EXEC_DONE] + c[pe.MEMO_DONE] == run.total else WorkflowState.FAILED


def _outcome(run: _Run) -> str:
    return WorkflowState.FAILED if run.state_counts[pe.FAILED] else _wf_state(run)


def _state(run: _Run, now, st) -> str:
    if run.ended:
        return _wf_state(run)
    return st.kind if st is not None else _outcome(run)


def _task_counts(run: _Run) -> dict:
    c = run.state_counts
    done = {"succeeded": c[pe.EXEC_DONE], "memo_done": c[pe.MEMO_DONE], "failed": c[pe.FAILED],
            "dep_fail": c[pe.DEP_FAIL]}
    pending = c[pe.PENDING]
    running = run.total - sum(done.values()) - pending
    return {**done, "running": running, "pending": pending, "total": run.total, "retries": run.retries}


def _dag_row(run: _Run) -> dict:
    """``progress._row_of_jobs`` of a run's tasks (no Parsl state is a PRE or POST phase)."""
    c = run.jobs
    waiting = c[JobState.WAITING]
    aborted = _wf_state(run) == WorkflowState.FAILED
    row: dict = dict.fromkeys(NODE_COLUMNS, 0)
    row.update(done=c[JobState.DONE], failed=c[JobState.FAILED], queued=sum(c[s] for s in ACTIVE_STATES),
               unready=0 if aborted else waiting, futile=waiting if aborted else 0, total=run.total)
    row["percent_done"] = percent_done(row["done"], row["total"])
    return row


def _exit(runs, now) -> int:
    """``once.overall_exit``: failed, then stalled, then all succeeded, else running."""
    from .once import EXIT_FAILED, EXIT_RUNNING, EXIT_STALLED, EXIT_SUCCEEDED

    runs = list(runs)
    if any(_outcome(r) == WorkflowState.FAILED for r in runs):
        return EXIT_FAILED
    if any(ph.stall(r, now) for r in runs):  # type: ignore[arg-type]
        return EXIT_STALLED
    if all(_outcome(r) == WorkflowState.SUCCEEDED for r in runs):
        return EXIT_SUCCEEDED
    return EXIT_RUNNING


# -- the pace, in the order the store's reader noted the times ---------------------------------


def _note(recent: deque, times) -> None:
    for ts in times:
        if ts is not None and (not recent or ts != recent[-1]):
            recent.append(ts)


def _pace(db: _Db, run: _Run, bulk: bool, task_ids: tuple, epoch) -> float:
    recent: deque = deque(maxlen=ph.RECENT_TIMES)
    if bulk:
        _bulk_times(db, run, task_ids, epoch, recent)
    else:
        _row_times(db, run, epoch, recent)
    times = sorted(set(recent))
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    return gaps[int(0.9 * (len(gaps) - 1))] if gaps else 0.0


# the activity times each table's row event notes (model/handlers/parsl.py's handlers)
_ROW_TIMES = {"workflow": ("time_began",), "task": ("task_time_invoked", "task_time_returned"),
              "try": ("task_try_time_launched", "task_try_time_running", "task_try_time_returned"),
              "status": ("timestamp",), "resource": ("timestamp",), "node": ("timestamp", "last_heartbeat"),
              "block": ("timestamp",)}


def _row_times(db: _Db, run: _Run, epoch, recent: deque) -> None:
    """A small DB, read row event by row event: each poll takes ``CHUNK`` rows of each table in
    turn (mdb.ParslDbSource._read), every row's times noted as its handler notes them."""
    mdb = db.rules
    polls: dict = {}
    for t in mdb.TABLES:
        if t not in db.cols:
            continue
        if t == "try" and db.rows(f"SELECT count(*) FROM try WHERE {db.upto(t)}")[0][0] > mdb.CHUNK:
            raise Unsupported("tries read over several polls")
        cols = ", ".join(db.col(t, c) for c in _ROW_TIMES[t])
        keys = ", ".join(db.col(t, c) for c in ("task_id", "try_id")) if t in ("status", "resource") else "NULL, NULL"
        seen: set = set()
        for i, (run_id, k1, k2, *vs) in enumerate(db.rows(
                f'SELECT {db.col(t, "run_id")}, {keys}, {cols} FROM "{t}" WHERE {db.upto(t)} ORDER BY rowid')):
            if run_id != run.run_id:
                continue
            if t in ("status", "resource"):  # a state or sample the try has already is not noted again
                if vs[0] is None:
                    continue
                dup = (k1, _int(k2) or 0, vs[0]) if t == "resource" else None
                if dup is not None:
                    if dup in seen:
                        continue
                    seen.add(dup)
            polls.setdefault(i // mdb.CHUNK, {}).setdefault(t, []).append([epoch(v) for v in vs])
    for p in sorted(polls):
        for t in mdb.TABLES:
            for vs in polls[p].get(t, ()):
                _note(recent, vs)


def _bulk_times(db: _Db, run: _Run, task_ids: tuple, epoch, recent: deque) -> None:
    """A big DB, read by ranges of task ids (mdb.ParslDbSource._bulk_plan): the run's start,
    each range's distinct times in order (the latest 1,024), the nodes' latest times with the
    last range, then the block rows one by one.  Only the last ranges reach the latest 1,024."""
    mdb = db.rules
    lo, hi = task_ids
    first = min(hi + 1, lo + mdb.BULK_FIRST)
    ranges = [(lo, first)] + [(a, min(hi + 1, a + mdb.BULK_RANGE)) for a in range(first, hi + 1, mdb.BULK_RANGE)]
    rid = run.run_id
    blocks = []
    if "block" in db.cols:
        blocks = [epoch(v) for (v,) in db.rows(f'SELECT {db.col("block", "timestamp")} FROM block WHERE run_id = ? '
                                               f'AND {db.upto("block")} ORDER BY rowid', (rid,))]
    tail: list = []
    got = len([b for b in blocks if b is not None])
    for i in range(len(ranges) - 1, -1, -1):
        a, b = ranges[i]
        tl: set = set()
        for t in ("task", "try", "status", "resource"):
            if t not in db.cols:
                continue
            cols = ", ".join(db.col(t, c) for c in _ROW_TIMES[t])
            extra = f' AND {db.col(t, "try_id")} IS NOT NULL' if t in ("try", "resource") else ""
            for vs in db.rows(f'SELECT {cols} FROM "{t}" WHERE run_id = ? AND task_id >= ? AND task_id < ? '
                              f'AND {db.upto(t)}{extra}', (rid, a, b)):
                tl.update(epoch(v) for v in vs if v is not None)
        if i == len(ranges) - 1 and "node" in db.cols:
            hb = db.col("node", "last_heartbeat")
            for vs in db.rows(f"SELECT max(timestamp), max({hb}) FROM node WHERE run_id = ? AND {db.upto('node')}",
                              (rid,)):
                tl.update(epoch(v) for v in vs if v is not None)
        tl.discard(None)
        part = sorted(tl)[-ph.RECENT_TIMES:]
        tail.append(part)
        got += len(part)
        if got > ph.RECENT_TIMES + 1:
            break
    else:
        _note(recent, [run.start])
    for part in reversed(tail):
        _note(recent, part)
    _note(recent, blocks)
