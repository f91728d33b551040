"""``panorama-top --once`` of a Parsl monitoring DB straight from the DB, without a store (issue #15).

The store path (``ParslDbSource``'s bulk read into the store, then ``once.as_dict``) builds a
Python task, try and sample series for every row: at 100k tasks 12.2 s of CPU and 320 MB.  The
summary needs one state a task, so this module asks the DB for one row a try instead:

* a grouped pass over ``status`` (by ranges of task ids, on its (task_id, ...) primary key,
  one short statement a range) gives each try its state by the store's rule
  (``ParslTry.note_state``: its end wins, the latest end by time; else its furthest state
  along pending -> launched -> running -> running_ended -> joining);
* one pass over ``try`` (its ids) and one over ``resource`` (grouped by try) give each task its
  tries; then each task's state is the store's (``parsl._settle``): a final state of any try
  wins (the highest try's), else the state of its latest try;
* per run maxima of every time column give its last activity; the failed tasks, and only
  they, are read again whole (app, dependencies, tries' exceptions and hosts).

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
the output is the same): a DB the store would warn about (a status it does not know, a row
without its run), a run that is not in ``workflow``, rows the two readers of the store path
treat differently (samples without a time, try ids that are NULL), an end state tied with
another at the same time in one try, and a run without an end whose state depends on a task
that has no state.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter, deque

from ..core import parsl_events as pe
from ..core.dagman import NODE_COLUMNS, percent_done
from ..core.fmt import iso_utc, visible
from ..core.sqlite import SQL_ERRORS, connect_ro
from ..core.typed import interned, text
from ..model.coerce import _float, _int
from ..model.handlers import parsl as ph
from ..model.states import ACTIVE_STATES, JobState, WorkflowState
from ..sources.parsl import monitoring_db as mdb
from ..sources.pegasus.stampede_db import _Busy, _classify

# Task ids a grouped statement over status takes: at 100k tasks (~600k status rows) a range
# of 20,000 ids holds the shared lock ~0.1 s (the store path's bulk ranges: 500 ids, ~25 ms
# of SQLite each, but 200 of them).
RANGE = 20_000
KEYS = mdb.REREAD_CHUNK  # keys a lookup of failed tasks names at once
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

    def __init__(self, path: str):
        self.path = path
        self.conn = connect_ro(path)
        self.cols: dict[str, str] = {}
        self.marks: dict[str, int] = {}

    def rows(self, sql: str, args=()) -> list:
        since = None
        while True:
            try:
                return self.conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                err = _classify(exc, self.path, mdb.WRITER)
                if not isinstance(err, _Busy):
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
        self.intervals: set = set()
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


def once_from_db(path: str, source: str = "", now: float | None = None, progress=None,
                 writers=mdb.db_writers) -> tuple[dict, dict] | None:
    """(``once.as_dict``'s dict, {run_id: its text lines}) for a Parsl monitoring DB, or None
    when the store path must answer (see the module's doc; a DB that cannot be read: the
    store path says why).  ``progress(done, total)``: tasks read.  ``writers``: how the
    writer's process is looked for (the source's own by default).  ParslDbError for a DB
    locked past LOCK_PATIENCE."""
    try:
        db = _Db(path)
    except SQL_ERRORS:
        return None
    try:
        return _summary(db, path, source, now, progress, writers)
    except (Unsupported, *SQL_ERRORS, TypeError, ValueError, OverflowError):
        return None
    except mdb.ParslDbError as exc:
        if "locked for over" in str(exc):
            raise
        return None
    finally:
        db.conn.close()


def _summary(db: _Db, path, source, now, progress, writers) -> tuple[dict, dict]:
    db.cols = mdb.schema_of(db.conn, path)
    tables = list(db.cols)
    for t in tables:
        db.marks[t] = db.rows(f'SELECT max(rowid) FROM "{t}"')[0][0] or 0
    epoch = mdb.fast_epoch()
    runs = {r[0]: _Run(r, epoch) for r in db.rows(f'SELECT {db.cols["workflow"]} FROM workflow '
                                                  f'WHERE {db.upto("workflow")} ORDER BY rowid')}
    if not runs or any(not isinstance(k, str) or not k for k in runs):
        raise Unsupported("no run, or a run id that is not text")
    events = sum(db.rows(f'SELECT count(*) FROM "{t}" WHERE {db.upto(t)}')[0][0] for t in tables)
    for run in runs.values():
        run.note(run.start)

    def run_of(run_id) -> _Run:
        run = runs.get(run_id)
        if run is None:
            raise Unsupported("a row of a run not in workflow")
        return run

    # each try's state and each task's tries ------------------------------------------------
    tries: dict = {}  # (run_id, task_id) -> {try_id: its state or None}
    store_tries: dict = {}  # (run_id, task_id) -> the try ids the store makes tries of (try and status rows)
    lo, hi, n_tasks = db.rows(f'SELECT min(task_id), max(task_id), count(*) FROM task WHERE {db.upto("task")}')[0]
    bulk = lo is not None and n_tasks >= mdb.BULK_MIN_TASKS
    s_lo, s_hi = db.rows(f'SELECT min(task_id), max(task_id) FROM status WHERE {db.upto("status")}')[0]
    if s_lo is not None:
        if not all(type(x) is int for x in (s_lo, s_hi)):
            raise Unsupported("a task id that is not a number")
        if bulk and (s_lo < lo or s_hi > hi):
            raise Unsupported("status rows of tasks the bulk reader does not read")
        _status_pass(db, s_lo, s_hi, tries, store_tries, run_of, epoch, progress)
    try_sql = (f'SELECT run_id, task_id, try_id, max({db.col("try", "task_try_time_launched")}), '
               f'max({db.col("try", "task_try_time_running")}), max({db.col("try", "task_try_time_returned")}) '
               f'FROM try WHERE {db.upto("try")} GROUP BY run_id, task_id, try_id') if "try" in tables else None
    for run_id, tid, try_id, a, b, c in (db.rows(try_sql) if try_sql else ()):
        run = run_of(run_id)
        if type(tid) is not int or type(try_id) is not int or (bulk and not lo <= tid <= hi):
            raise Unsupported("a try row the readers differ on")
        key = (run_id, tid)
        tries.setdefault(key, {}).setdefault(try_id, None)
        store_tries.setdefault(key, set()).add(try_id)
        for v in (a, b, c):
            run.note(epoch(v))
    if "resource" in tables:
        interval = db.col("resource", "resource_monitoring_interval")
        for run_id, tid, try_id, n, n_ts, last, i_lo, i_hi in db.rows(
                f"SELECT run_id, task_id, try_id, count(*), count(timestamp), max(timestamp), "
                f"min(CASE WHEN {interval} <> 0 THEN {interval} END), max(CASE WHEN {interval} <> 0 THEN {interval} END)"
                f' FROM resource WHERE {db.upto("resource")} GROUP BY run_id, task_id, try_id'):
            run = run_of(run_id)
            if n != n_ts or type(tid) is not int or type(try_id) is not int or (bulk and not lo <= tid <= hi):
                raise Unsupported("a resource row the readers differ on")
            tries.setdefault((run_id, tid), {}).setdefault(try_id, None)
            run.note(epoch(last))
            run.intervals.update(_float(v) for v in (i_lo, i_hi) if v is not None)
    for run_id, tid in db.rows(f'SELECT run_id, task_id FROM task WHERE {db.upto("task")}'):
        run_of(run_id)
        if type(tid) is not int:
            raise Unsupported("a task id that is not a number")
        tries.setdefault((run_id, tid), {})
    for run_id, a, b in db.rows(f'SELECT run_id, max({db.col("task", "task_time_invoked")}), '
                                f'max({db.col("task", "task_time_returned")}) FROM task WHERE {db.upto("task")} '
                                f'GROUP BY run_id'):
        run_of(run_id).note(epoch(a))
        run_of(run_id).note(epoch(b))
    for t, cols in (("node", ("timestamp", "last_heartbeat")), ("block", ("timestamp",))):
        if t in tables:
            sel = ", ".join(f"max({db.col(t, c)})" for c in cols)
            for run_id, *vs in db.rows(f'SELECT run_id, {sel} FROM "{t}" WHERE {db.upto(t)} GROUP BY run_id'):
                for v in vs:
                    run_of(run_id).note(epoch(v))

    # each task's state, by the store's rule ------------------------------------------------
    failures: dict = {}  # (run_id, task_id) -> (its state, its store tries, its highest try id)
    for key, by_try in tries.items():
        run = runs[key[0]]
        mine = store_tries.get(key, ())
        state = None
        for t in sorted(by_try, reverse=True):
            if by_try[t] in pe.FINAL_STATES:
                state = by_try[t]
                break
        if state is None and mine:
            state = by_try.get(max(mine))
        run.total += 1
        run.retries += max(0, len(mine) - 1)
        if state is None:
            run.stateless += 1
            run.jobs[JobState.WAITING] += 1
            continue
        run.state_counts[state] += 1
        run.running += state in _RUNNING_LIKE
        run.jobs[ph.job_state(state, len(mine) > 1)] += 1
        if state in pe.FAILURE_STATES:
            failures[key] = (state, len(mine), max(by_try) if by_try else None)
    tries.clear()

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
        if len(run.intervals) > 1:
            raise Unsupported("a run sampled at several intervals")
        run.interval = next(iter(run.intervals), None)
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


def _status_pass(db: _Db, s_lo: int, s_hi: int, tries: dict, store_tries: dict, run_of, epoch, progress) -> None:
    """Each try's state from its status rows, grouped in the DB, a range of task ids a statement."""
    name = db.col("status", "task_status_name")
    ts = db.col("status", "timestamp")
    try_id = db.col("status", "try_id")
    rank = "CASE " + name + " " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(_PATH)) + " END"
    ends = ", ".join(f"max(CASE WHEN {name} = '{s}' THEN {ts} END)" for s in _ENDS)
    sql = (f"SELECT run_id, task_id, {try_id}, count(*), count(CASE WHEN {name} IN {_q(pe.STATE_RANK)} THEN 1 END), "
           f"count(CASE WHEN {name} IN {_q(_ENDS)} THEN 1 END), max({rank}), max({ts}), {ends} "
           f"FROM status WHERE task_id >= ? AND task_id < ? AND {db.upto('status')} GROUP BY run_id, task_id, {try_id}")
    total = s_hi - s_lo + 1
    for a in range(s_lo, s_hi + 1, RANGE):
        for run_id, tid, t, n, known, n_end, r, last, *end_ts in db.rows(sql, (a, a + RANGE)):
            run = run_of(run_id)
            if known != n:
                raise Unsupported("a status the store does not know (it warns)")
            t = _int(t) or 0  # a Parsl before status.try_id: one try
            if type(t) is not int:
                raise Unsupported("a try id that is not a number")
            run.note(epoch(last))
            if n_end:
                got = [(epoch(v), s) for v, s in zip(end_ts, _ENDS) if v is not None]
                if not got:
                    raise Unsupported("end states without a time")
                best = max(v for v, _ in got)  # (a time that is not one: TypeError, the store path)
                named = [s for v, s in got if v == best]
                if len(named) > 1:
                    raise Unsupported("two end states of one try at one time (the first read wins)")
                state = named[0]
            else:
                state = _PATH[r]
            key = (run_id, tid)
            by_try = tries.setdefault(key, {})
            if by_try.get(t) is not None:
                raise Unsupported("a try's status rows under two try ids")
            by_try[t] = state
            store_tries.setdefault(key, set()).add(t)
        if progress is not None:
            progress(min(total, a + RANGE - s_lo), total)


def _failed_tasks(db: _Db, failures: dict) -> dict:
    """(run_id, task_id) -> (app, depends, {try_id: (hostname, fail history, joins)}) of the failed tasks."""
    out: dict = {key: [None, (), {}] for key in failures}
    keys = sorted(failures, key=lambda k: (str(k[0]), k[1]))
    t_cols = ", ".join(db.col("task", c) for c in ("task_func_name", "task_depends"))
    y_cols = ", ".join(db.col("try", c) for c in ("try_id", "hostname", "task_fail_history", "task_joins")) \
        if "try" in db.cols else None
    for i in range(0, len(keys), KEYS):
        part = keys[i:i + KEYS]
        values = ",".join("(?, ?)" for _ in part)
        args = [v for k in part for v in (k[1], k[0])]
        for tid, run_id, func, deps in db.rows(
                f'WITH k(k0, k1) AS (VALUES {values}) SELECT task.task_id, task.run_id, {t_cols} FROM task '
                f'JOIN k ON task.task_id = k.k0 AND task.run_id = k.k1 WHERE task.{db.upto("task")}', args):
            got = out[(run_id, tid)]
            got[0] = interned(text(func)) if func else got[0]
            ids = mdb._ids(deps)
            if ids:
                got[1] = tuple(_int(x) for x in ids if _int(x) is not None)
        if y_cols is None:
            continue
        for tid, run_id, try_id, host, history, joins in db.rows(
                f'WITH k(k0, k1) AS (VALUES {values}) SELECT try.task_id, try.run_id, {y_cols} FROM try '
                f'JOIN k ON try.task_id = k.k0 AND try.run_id = k.k1 WHERE try.{db.upto("try")}', args):
            ids = mdb._ids(joins)
            out[(run_id, tid)][2][try_id] = (
                interned(text(host)) if host else None,
                visible(str(history), text=True) if history else None,
                tuple(_int(x) for x in ids if _int(x) is not None) if ids else ())
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
    row = dict.fromkeys(NODE_COLUMNS, 0)
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
