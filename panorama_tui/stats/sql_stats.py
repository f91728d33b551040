"""pegasus-statistics' numbers straight from a Stampede DB, with SQL.

:func:`all_statistics_db` returns what :func:`panorama_tui.stats.store_stats.all_statistics`
returns for a store built from the same DB (summary, workflows, breakdown,
jobs, integrity, per_host, per_day), without building the store: a finished
run's statistics are a few aggregate scans, not 1.4M rows turned into events
and objects.  The store path stays what a live view uses (it recomputes as
the run goes on); this one is for a DB at rest (``panorama-top --stats``).

Definitions are pegasus-statistics 5.1.3's
(``Pegasus.db.workflow.stampede_statistics.StampedeStatistics``,
``Pegasus.statistics``), the same as pegstats':

* "expanded" figures (summary, ``ALL`` rows, time tables) cover the workflow
  and its descendants (``workflow.parent_wf_id``), per-workflow rows the
  workflow alone; descendants come in ``wf_id`` order, as pegasus-statistics
  lists them;
* a job's outcome is its latest instance's (max ``job_submit_seq``)
  ``exitcode``; tasks are the distinct ``abs_task_id`` of the latest
  instance's invocations; retries are rows minus distinct rows;
* SQL's NULL rules: a sum of nothing is None.

Where the store cannot know what the DB says, the DB's rule holds: the
submit-side wall time skips a sub-workflow job's instance when *that
instance* has a ``subwf_id``; an instance whose ``exitcode`` monitord never
merged is unfinished (the store infers the main job's 0 from JOB_SUCCESS).

Reading: ``file:...?mode=ro`` and ``PRAGMA query_only``, so never a write
lock, and one read transaction, so the figures agree with each other even
while pegasus-monitord appends (its next commit waits for it, a second or
two on a 100k-job DB).  The aggregates with few rows out run on a second
connection in a worker thread when it is sure to read the same snapshot
(rollback journal: nobody commits while the first holds its shared lock).
:func:`summary_text` is ``summary.txt`` as pegasus-statistics writes it, from
:func:`summary_statistics_db`: the summary alone, a few passes with one row out each, read(2)
into a small page cache (1M jobs: ~4 s of CPU, ~90 MB peak RSS, against pegasus-statistics'
~120 s and 1.1 GB); ``stats_json`` writes the whole answer as JSON without holding its rows.
"""

from __future__ import annotations

import gc
import os
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import tzinfo
from operator import itemgetter

from ..core.fmt import visible
from ..model.states import WorkflowState
from ..core.sqlite import SQL_ERRORS, bound_work, db_uri, sqlite_file_problem, text_reader
from ..core.stampede import SUPPORTED_VERSION
from .per_day import add_time, by_day

__all__ = ["StatsDbError", "all_statistics_db", "json_units", "source_db", "summary_statistics_db", "summary_text",
           "format_summary", "format_seconds"]

DAGMAN = "condor::dagman"
SUBWF = "('dax', 'dag')"
BUSY_SECONDS = 2.0
# every table a query below reads
TABLES = ("workflow", "workflowstate", "job", "job_instance", "jobstate", "invocation", "host", "task",
          "integrity", "tag")


class StatsDbError(Exception):
    """The file is not a Stampede DB that can be read now (missing, not
    SQLite, no Stampede tables, locked, corrupt); the message says why, in
    one line."""


class _NotUtf8(StatsDbError):
    """A text value is not UTF-8: read again, with U+FFFD for what is not."""


# What a cell SQLite keeps in a type or value the schema does not say ('abc' for a time, a wf_id
# no workflow has, 1e308) makes the figures' Python raise.  Such a DB is answered row by row
# instead (:func:`_from_store`): the store skips and counts a bad row where SQL cannot.
_ODD_VALUES = (TypeError, ValueError, KeyError, ArithmeticError, IndexError)


# -- opening ---------------------------------------------------------------------


def source_db(source) -> str | None:
    """The Stampede DB a source reads (a DB, or a submit dir's), or None: where a session's
    pegasus-statistics figures come from when it has one (the store may hold more, from
    jobstate.log's provisional overlay)."""
    return getattr(source, "stampede_db_path", None)  # a source says it; statistics know no source


def _connect(path: str, busy: float | None = None, text=None) -> sqlite3.Connection:
    kind, problem = sqlite_file_problem(path)
    if kind is not None:
        raise StatsDbError(problem)
    try:
        conn = sqlite3.connect(db_uri(path), uri=True, timeout=BUSY_SECONDS if busy is None else busy,
                               isolation_level=None, check_same_thread=False)
        bound_work(conn)
        if text is not None:
            conn.text_factory = text
        conn.execute("PRAGMA query_only = 1")
        # Several scans of the big tables: keep their pages in memory between queries.  The
        # cache size is also how much a GROUP BY sort may hold before it spills to a temp file.
        # temp_store stays the default (a file, past that): with MEMORY SQLite's sorter allocates
        # every record on its own, and its allocator takes a process-wide mutex the two threads
        # then queue on.
        conn.execute("PRAGMA cache_size = -131072")
        conn.execute("PRAGMA mmap_size = 1073741824")
    except SQL_ERRORS as exc:
        raise _error(exc, path) from None
    return conn


def _error(exc: Exception, name: str) -> StatsDbError:
    if isinstance(exc, UnicodeDecodeError):
        return StatsDbError(f"{name}: not a readable SQLite DB (its schema is not UTF-8 text); corrupt?")
    msg = str(exc)
    low = msg.lower()
    if msg.startswith("Could not decode"):
        return _NotUtf8(f"{name}: {msg}")
    if low == "interrupted":  # by bound_work
        return StatsDbError(f"{name}: a read ran too long and was stopped; a corrupt DB that makes SQLite loop?")
    if "locked" in low or "busy" in low:
        return StatsDbError(f"{name}: locked by another process (pegasus-monitord committing?); try again")
    if "readonly" in low or "read-only" in low:
        return StatsDbError(f"{name}: has an unfinished write (hot journal) that only pegasus-monitord or a "
                            "read-write open can roll back")
    if "not a database" in low or "malformed" in low or "disk image" in low:
        return StatsDbError(f"{name}: not a readable SQLite DB ({msg}); truncated or corrupt?")
    if "no such table" in low or "no such column" in low:
        return StatsDbError(f"{name}: not a Stampede DB of the schema pegasus-statistics 5.x reads ({msg})")
    return StatsDbError(f"{name}: {msg}")


def _check(conn: sqlite3.Connection, name: str) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in TABLES if t not in tables]
    if missing:
        stampede = tables & {"workflowstate", "job_instance", "jobstate", "invocation", "dbversion"}
        what = "an incomplete Stampede DB" if stampede else "an SQLite file, but not a Stampede DB"
        raise StatsDbError(f"{name}: {what} (no {missing[0]} table)")
    if "dbversion" in tables:
        row = conn.execute("SELECT version FROM dbversion ORDER BY id DESC LIMIT 1").fetchone()
        try:
            version = None if row is None else float(row[0])
        except (TypeError, ValueError):
            version = -1.0
        if version is not None and version != SUPPORTED_VERSION:
            raise StatsDbError(f"{name}: Stampede schema version {row[0]} is not supported; version "
                               f"{SUPPORTED_VERSION} (Pegasus 5.0.x-5.1.x) is; pegasus-db-admin can update an old DB")


def _text(v):
    """A DB value bound for output: text with its control characters made visible (a BLOB
    decoded as text); numbers and None as they are."""
    if type(v) is str:
        return v if v.isprintable() else visible(v)
    if type(v) is bytes:
        return visible(v.decode("utf-8", "replace"))
    return v


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use (taskset, cgroups)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Reader:
    """One read transaction on a checked DB (an own connection, closed at the end),
    and maybe a second connection reading the same snapshot (:meth:`second`)."""

    def __init__(self, path_or_conn, text=None):
        self.own = not isinstance(path_or_conn, sqlite3.Connection)
        self.began = False
        self.other: sqlite3.Connection | None = None
        self.text = text
        if self.own:
            self.name = self.path = str(path_or_conn)
            self.conn = _connect(self.name, text=text)
        else:
            self.conn = path_or_conn
            self.name = "DB"
            self.path = None

    def __enter__(self) -> sqlite3.Connection:
        try:
            if not self.conn.in_transaction:
                self.conn.execute("BEGIN")
                self.began = True
            _check(self.conn, self.name)  # in the transaction: its reads took the shared lock
        except SQL_ERRORS as exc:
            self.close()
            raise _error(exc, self.name) from None
        except BaseException:
            self.close()
            raise
        return self.conn

    def second(self) -> sqlite3.Connection | None:
        """Another read-only connection that sees what the first one sees, for
        a worker thread; None when that cannot be had cheaply and safely."""
        # A caller's connection may hold writes of its own that another one would not see.
        if not self.own or _cpus() < 2:
            return None
        try:
            if self.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return None  # a reader starting later may see later commits: one connection it is
            other = _connect(self.path, busy=0.05, text=self.text)
        except (*SQL_ERRORS, StatsDbError):
            return None
        try:
            # Rollback journal: while the first connection's read transaction holds its shared
            # lock nobody can commit, so this one, started now, reads the same data.
            other.execute("BEGIN")
            other.execute("SELECT count(*) FROM workflow").fetchone()
        except SQL_ERRORS:  # a writer is waiting for the first reader: leave it be
            other.close()
            return None
        self.other = other
        return other

    def __exit__(self, typ, exc, tb):
        for c, began in ((self.other, True), (self.conn, self.began)):
            try:
                if c is not None and began:
                    c.execute("COMMIT")  # a read transaction: nothing to commit, the lock goes
            except SQL_ERRORS:
                pass
        self.close()
        if isinstance(exc, SQL_ERRORS):
            raise _error(exc, self.name) from None
        return False

    def close(self) -> None:
        if self.other is not None:
            self.other.close()
            self.other = None
        if self.own:
            self.conn.close()


# -- the workflow tree -------------------------------------------------------------


class _Tree:
    def __init__(self, conn: sqlite3.Connection, wf_uuid: str | None, name: str):
        rows = conn.execute("SELECT wf_id, wf_uuid, dax_label, parent_wf_id FROM workflow ORDER BY wf_id").fetchall()
        if not rows:
            raise StatsDbError(f"{name}: no workflow in this Stampede DB yet")
        by_uuid = {r[1]: r for r in rows}
        known = {r[0] for r in rows}
        if wf_uuid is None:
            roots = [r for r in rows if r[3] is None or r[3] not in known] or rows
            top = roots[0]  # the first run, as the store's roots[0]
        else:
            top = by_uuid.get(wf_uuid)
            if top is None:
                raise StatsDbError(f"{name}: no workflow {wf_uuid} in this Stampede DB")
        kids: dict[int, list[int]] = {}
        for r in rows:
            if r[3] is not None:
                kids.setdefault(r[3], []).append(r[0])
        below, stack = set(), [top[0]]
        while stack:
            for k in kids.get(stack.pop(), ()):
                if k not in below and k != top[0]:
                    below.add(k)
                    stack.append(k)
        # pegasus-statistics' order: the workflow, then its descendants in wf_id order
        ids = [top[0]] + sorted(below)
        self.top = top[0]
        self.ids = ids
        self.uuid = {r[0]: _text(r[1]) for r in rows}
        self.label = {r[0]: _text(r[2]) or None for r in rows}
        # the literal id list is safe (ints from the DB); all of the DB needs no filter at all
        self.everything = len(ids) == len(rows)
        self.in_list = "(" + ",".join(str(int(i)) for i in ids) + ")"

    def where(self, col: str) -> str:
        """A filter on a wf_id column."""
        return "1" if self.everything else f"{col} IN {self.in_list}"

    def jobs_where(self, col: str) -> str:
        """A filter on a job_id column."""
        return "1" if self.everything else f"{col} IN (SELECT job_id FROM job WHERE wf_id IN {self.in_list})"

    def inst_where(self, col: str) -> str:
        """A filter on a job_instance_id column."""
        return "1" if self.everything else (
            f"{col} IN (SELECT ji.job_instance_id FROM job_instance ji JOIN job j ON j.job_id = ji.job_id "
            f"WHERE j.wf_id IN {self.in_list})")


# -- the figures -----------------------------------------------------------------------

# Aggregates' FILTER clause is SQLite 3.30 (2019); an older library (RHEL 8 has 3.26) is given
# the same aggregate over a CASE, which is a little slower.
_FILTER = sqlite3.sqlite_version_info >= (3, 30, 0)
_FILTER_RE = re.compile(r"(\w+)\(([^()]*)\) FILTER \(WHERE ((?:[^()]|\([^()]*\))*)\)")


def _sql(text: str) -> str:
    if _FILTER:
        return text

    def case(m) -> str:
        agg, arg, cond = m.groups()
        distinct = "DISTINCT " if arg.startswith("DISTINCT ") else ""
        expr = arg[len(distinct):]
        return f"{agg}({distinct}CASE WHEN {cond} THEN {'1' if expr == '*' else expr} END)"

    return _FILTER_RE.sub(case, text)

#
# Two kinds of reads.  The jobs.csv rows need every instance with its jobstate and invocation
# aggregates: three single-scan queries of 100k-row results joined by dict lookups in one
# Python pass (SQLite would join them through automatic indexes, which costs more).  Every
# other figure is an aggregate with a few rows out, which a second connection can compute on
# the other core meanwhile (:func:`_aggregates`).  invocation.wf_id is the workflow of the
# invocation's job (monitord's loader takes both from the same event), so invocations are
# filtered by it directly.

# One statement each, with no subquery: SQLite computes an aggregate named twice once, and the
# GROUP BY, a scan of the table's (job_instance_id, ...) index, gives the rows in the ORDER BY's
# order, which a subquery's rows would be sorted into again (a temporary B-tree of every row
# before the first one out).  100k jobs, CPU of the jobstate aggregates: 0.31 s against 0.33.
_END = {
    "post_end": "min(timestamp) FILTER (WHERE state = 'POST_SCRIPT_TERMINATED')",
    "post_start": "max(timestamp) FILTER (WHERE state IN ('POST_SCRIPT_STARTED', 'JOB_TERMINATED'))",
    "submit": "min(timestamp) FILTER (WHERE state = 'SUBMIT')",
    "execute": "min(timestamp) FILTER (WHERE state = 'EXECUTE')",
    "grid": "min(timestamp) FILTER (WHERE state IN ('GRID_SUBMIT', 'GLOBUS_SUBMIT'))",
}
_JS_SQL = """
SELECT job_instance_id,
       -- Post: the POST script's end after the later of its start and the job's termination
       CAST({post_end} - {post_start} AS REAL),
       -- CondorQTime: the first grid submit or execute after DAGMan's submit
       CAST(coalesce(min({execute}, {grid}), {execute}, {grid}) - {submit} AS REAL),
       -- Resource: the first execute after the first grid submit
       CAST({execute} - {grid} AS REAL)
FROM jobstate WHERE {{where}} GROUP BY 1 ORDER BY 1""".format(**_END)

_EC = "max(exitcode)"  # the PRE script (task_submit_seq -1) fails the job too (PM-704)
_INV_SQL = f"""
SELECT job_instance_id,
       CAST(sum(remote_duration) FILTER (WHERE task_submit_seq >= 0) AS REAL),
       CAST(sum(remote_cpu_time) FILTER (WHERE task_submit_seq >= 0) AS REAL),
       -- utils.raw_to_regular: the raw status as an exit code, -signal or -128
       CASE WHEN {_EC} IS NULL THEN NULL WHEN {_EC} < 0 THEN -128 WHEN {_EC} & 127 THEN -({_EC} & 127) ELSE {_EC} >> 8 END
-- the POST script's invocations (-2) count nowhere: their rows are not read (the test is on the
-- index); an instance with no other gets no row, which reads as all NULL anyway
FROM invocation WHERE task_submit_seq >= -1 AND {{where}} GROUP BY 1 ORDER BY 1"""

_JI_SQL = """
SELECT ji.job_instance_id, ji.job_id, ji.job_submit_seq, ji.site, ji.multiplier_factor,
       CAST(ji.local_duration AS REAL), CAST(ji.cluster_duration AS REAL), ji.exitcode, ji.host_id,
       j.wf_id, j.exec_job_id, j.type_desc IN {subwf}
FROM job_instance ji CROSS JOIN job j ON j.job_id = ji.job_id  -- CROSS: scan the instances, look their job up
WHERE {where}"""


def _instances(conn, tree: "_Tree", hosts: dict) -> dict:
    """jobs.csv rows per workflow; per job its tries and its latest instance's exitcode."""
    instances = conn.execute(_JI_SQL.format(subwf=SUBWF, where=tree.where("j.wf_id"))).fetchall()
    # pegasus-statistics' order: job_submit_seq (monitord inserts in about that order already,
    # which Python's sort makes cheap)
    instances.sort(key=itemgetter(2, 0))
    js = {r[0]: r for r in conn.execute(_sql(_JS_SQL.format(where=tree.inst_where("job_instance_id"))))}
    inv = {r[0]: r for r in conn.execute(_sql(_INV_SQL.format(where=tree.where("wf_id"))))}
    rows_of: dict = {w: [] for w in tree.ids}
    n_try: dict = {}
    latest: dict = {}  # job_id -> (wf_id, is_subwf, exitcode of its highest job_submit_seq)
    js_get, inv_get, host_get = js.get, inv.get, hosts.get
    no_js = no_inv = (None,) * 4
    # the rows are the bulk of the answer: tuples up to here, then one dict each
    for jiid, job_id, seq, site, mult, ldur, cdur, ec, host_id, wf_id, name, sub in instances:
        if type(name) is not str or not name.isprintable():  # the strings shown: see _text
            name = _text(name)
        if type(site) is not str or not site.isprintable():
            site = _text(site)
        n = n_try[job_id] = n_try.get(job_id, 0) + 1
        latest[job_id] = (wf_id, sub, ec)  # rows in job_submit_seq order: the last one is the latest
        _, post, queued, resource = js_get(jiid, no_js)
        _, kick, cpu, code = inv_get(jiid, no_inv)
        # Kickstart-Mult: the instance's invocations share its multiplier
        rows_of[wf_id].append({
            "job_id": name, "try": n, "job_inst_id": seq, "site": site, "kickstart": kick, "multiplier": mult,
            "kickstart_mult": None if kick is None else kick * mult, "cpu_time": cpu, "post": post,
            "condor_q_time": queued, "resource": resource, "runtime": ldur, "seqexec": cdur,
            "seqexec_delay": None if cdur is None or kick is None else cdur - kick, "exitcode": code,
            "host": host_get(host_id),
        })
    return {"rows": rows_of, "latest": latest, "n_try": n_try}


def _job_counts(inst: dict, totals: dict) -> dict:
    """{(wf_id, is_subwf): (succeeded, failed, total, retries)}: a job's outcome is its latest
    instance's exitcode; retries are instances minus jobs with an instance."""
    acc = {k: [0, 0, n, 0] for k, n in totals.items()}
    n_try = inst["n_try"]
    for job_id, (wf_id, sub, ec) in inst["latest"].items():
        a = acc[(wf_id, bool(sub))]
        a[3] += n_try[job_id] - 1
        if ec == 0:
            a[0] += 1
        elif ec is not None:
            a[1] += 1
    return {k: tuple(v) for k, v in acc.items()}


# An instance is its job's latest when no instance of the same job has a higher
# job_submit_seq: a probe of the (job_id, job_submit_seq) unique index.  Portable SQL (no bare
# column beside max(), no window function).
_LATEST = ("NOT EXISTS (SELECT 1 FROM job_instance k "
           "WHERE k.job_id = ji.job_id AND k.job_submit_seq > ji.job_submit_seq)")
# The instances that are not their job's latest (the retried ones: a few per thousand), found
# from the (job_id, job_submit_seq) index alone: the jobs with more than one instance (a scan
# of the index in order), then their instances.  Probing every instance for a later one costs
# more than the rest of a pass: the instances are in submit order, the index in job order, and
# past the page cache each probe is a read (1M jobs: 1.5 s of CPU for the probes against 0.2 s
# for this list).
_RETRIED = f"""SELECT ji.job_instance_id FROM job_instance ji
    WHERE ji.job_id IN (SELECT job_id FROM job_instance GROUP BY job_id HAVING count(*) > 1)
      AND NOT {_LATEST}"""
_SUBWF_JOBS = f"SELECT job_id FROM job WHERE type_desc IN {SUBWF}"
# The retried instances' ids put in the statements that use them as a list, read once by each
# function that does: SQLite builds _RETRIED's list again for every statement (and every place
# in one) that names it, ~0.15 s of CPU at 1M jobs each time, and the summary's counts named
# it five times.  Past this many ids (or ids that are not integers) the statements keep it.
_RETRIED_INLINE_MAX = 100_000
_NONE = "SELECT job_instance_id FROM job_instance WHERE 1 = 0"  # no id: NOT IN it is true


def _retried_ids(conn) -> str:
    """What ``IN (...)`` takes for the retried instances: their ids, or :data:`_RETRIED`."""
    ids = [r[0] for r in conn.execute(f"{_RETRIED} LIMIT {_RETRIED_INLINE_MAX + 1}")]
    if len(ids) > _RETRIED_INLINE_MAX or any(type(i) is not int for i in ids):
        return _RETRIED
    return ",".join(map(str, ids)) or _NONE


def _orphans(conn, child: str, col: str, parent: str, key: str) -> bool:
    """Whether a ``child`` row's ``col`` names no ``parent`` row: a scan of the child's index
    in key order, probing the parent's primary key in the same order (1M jobs: 0.15-0.2 s)."""
    return conn.execute(f"SELECT 1 FROM {child} WHERE {col} NOT IN (SELECT {key} FROM {parent}) LIMIT 1"
                        ).fetchone() is not None


def _task_counts(conn, tree: "_Tree", retried: str | None = None) -> dict:
    """{wf_id: (succeeded, failed, total, retries)}: per workflow, the distinct task ids of the
    latest instances' invocations of non-sub-workflow jobs, by exit code; retries are rows minus
    distinct task ids, over all instances."""
    out = {w: [0, 0, 0, 0] for w in tree.ids}
    for wf_id, n in conn.execute(f"""
            SELECT t.wf_id, count(*) FROM task t JOIN job j ON j.job_id = t.job_id
            WHERE {tree.where('t.wf_id')} AND t.type_desc NOT IN {SUBWF} GROUP BY 1"""):
        out[wf_id][2] = n
    # An invocation's exit code counts when its instance is its job's latest.  An invocation
    # whose instance has no job_instance row is counted but never latest: such a DB (only) is
    # answered the slow way, every invocation joined to its instance and every task id sorted.
    if _orphans(conn, "invocation", "job_instance_id", "job_instance", "job_instance_id"):
        for wf_id, rows, distinct, ok, bad in conn.execute(f"""
                SELECT wf_id, sum(n), count(*), sum(ok), sum(bad) FROM (
                    SELECT wf_id, task, count(*) AS n, max(CASE WHEN lec = 0 THEN 1 ELSE 0 END) AS ok,
                           max(CASE WHEN lec <> 0 THEN 1 ELSE 0 END) AS bad
                    FROM (SELECT i.wf_id, i.abs_task_id AS task,
                                 CASE WHEN ji.job_id IS NOT NULL AND {_LATEST} THEN i.exitcode END AS lec
                          FROM invocation i LEFT JOIN job_instance ji ON ji.job_instance_id = i.job_instance_id
                          WHERE i.abs_task_id IS NOT NULL AND {tree.where('i.wf_id')}
                            AND (ji.job_id IS NULL OR ji.job_id NOT IN ({_SUBWF_JOBS}))) AS inv
                    GROUP BY wf_id, task) AS per_task
                GROUP BY wf_id"""):
            out[wf_id][0], out[wf_id][1], out[wf_id][3] = ok, bad, rows - distinct
        return {k: tuple(v) for k, v in out.items()}
    # Otherwise no join and no sort of every task id (1M jobs: 2.1 s of CPU for that sort alone):
    # A, one pass over the invocations counting each one's own exit code; then what is not so
    # taken off, from the indexes (few rows): B, the invocations of retried instances (not
    # latest) whose task id occurs once in the table; C, the task ids that occur more than once
    # (a retried task, an id sub-workflows share), grouped per (workflow, task id) to count
    # each once, by its latest instances' exit codes.
    base = f"""FROM invocation i WHERE i.abs_task_id IS NOT NULL AND {tree.where('i.wf_id')}
               AND i.job_instance_id NOT IN (SELECT job_instance_id FROM job_instance WHERE job_id IN ({_SUBWF_JOBS}))"""
    ok0, bad0 = "CASE WHEN i.exitcode = 0 THEN 1 ELSE 0 END", "CASE WHEN i.exitcode <> 0 THEN 1 ELSE 0 END"
    dup = _repeated_task_ids(conn)
    # one workflow: no GROUP BY, so a plain scan of the table rather than a walk of the wf_id
    # index with a lookup per row (1M jobs: 0.27 s of CPU against 0.37 s)
    one = len(tree.ids) == 1
    retried = _retried_ids(conn) if retried is None else retried
    for wf_id, ok, bad in conn.execute(f"""
            SELECT {tree.ids[0] if one else 'i.wf_id'}, sum({ok0}), sum({bad0}) {base}
            {'' if one else 'GROUP BY i.wf_id'}"""):
        out[wf_id][0], out[wf_id][1] = ok or 0, bad or 0
    for wf_id, ok, bad in conn.execute(f"""
            SELECT i.wf_id, sum({ok0}), sum({bad0}) {base}
              AND i.job_instance_id IN ({retried}) AND i.abs_task_id NOT IN ({dup}) GROUP BY 1"""):
        out[wf_id][0] -= ok
        out[wf_id][1] -= bad
    for wf_id, rows, groups, raw_ok, raw_bad, ok, bad in conn.execute(f"""
            SELECT wf_id, sum(n), count(*), sum(raw_ok), sum(raw_bad), sum(ok), sum(bad) FROM (
                SELECT i.wf_id, i.abs_task_id, count(*) AS n, sum({ok0}) AS raw_ok, sum({bad0}) AS raw_bad,
                       max(CASE WHEN i.exitcode = 0 AND i.job_instance_id NOT IN ({retried}) THEN 1 ELSE 0 END) AS ok,
                       max(CASE WHEN i.exitcode <> 0 AND i.job_instance_id NOT IN ({retried}) THEN 1 ELSE 0 END) AS bad
                {base} AND i.abs_task_id IN ({dup})
                GROUP BY 1, 2) AS per_task
            GROUP BY wf_id"""):
        a = out[wf_id]
        a[0] += ok - raw_ok
        a[1] += bad - raw_bad
        a[3] = rows - groups
    return {k: tuple(v) for k, v in out.items()}


_REPEATED = "SELECT abs_task_id FROM invocation WHERE abs_task_id IS NOT NULL GROUP BY abs_task_id HAVING count(*) > 1"
# As the retried instances' ids: the task ids that occur more than once (a retried task's, a
# few per thousand) read once and put in the two statements that use them as a list, not
# found again by each (a walk of the abs_task_id index: 1M jobs ~0.3 s of CPU each time).  The
# text's own bytes (hex), not Python's decoding of it; past this many, or not text, the
# statements keep the subquery.
_REPEATED_INLINE_MAX = 10_000


def _repeated_task_ids(conn) -> str:
    """What ``IN (...)`` takes for the task ids that occur more than once: a list, or :data:`_REPEATED`."""
    n, text, listed = conn.execute(f"""
        SELECT count(*), min(typeof(abs_task_id) = 'text'), group_concat('CAST(X' || quote(hex(abs_task_id)) || ' AS TEXT)')
        FROM ({_REPEATED} LIMIT {_REPEATED_INLINE_MAX + 1})""").fetchone()
    if not n:
        return "SELECT abs_task_id FROM invocation WHERE 1 = 0"
    if n > _REPEATED_INLINE_MAX or not text:
        return _REPEATED
    return listed.decode() if isinstance(listed, bytes) else listed  # bytes: a caller's text_factory


def _tree_instances(conn, tree: "_Tree", retried: str | None = None) -> tuple:
    """((succeeded, failed, total, retries) of the tree's jobs, the same of its sub-workflow
    jobs, the submit side's (wall time, goodput, badput)), without a row per job out.

    A job's outcome is its latest instance's exitcode; retries are instances minus jobs with
    an instance, which is the instances that are not their job's latest.  So one pass over
    the instances, in table order, sums them all, and the retried ones (few) are taken off.
    The instances of jobs with no job row count nowhere, as in :func:`_instances`, but in the
    submit side's sums, as in :func:`_submit_side`."""
    # The tree's instances: a filter with the job ids as a list (the + keeps SQLite from
    # reading the instances in job order through the index, a random read each).
    orphans = tree.everything and _orphans(conn, "job_instance", "job_id", "job", "job_id")
    mine = "1" if tree.everything and not orphans else f"+ji.job_id IN (SELECT job_id FROM job WHERE {tree.where('wf_id')})"
    ld = "ji.local_duration * ji.multiplier_factor"
    # the submit side: every instance but those of sub-workflow jobs that have their sub-workflow
    side = f"(ji.subwf_id IS NULL OR ji.job_id NOT IN ({_SUBWF_JOBS}))"
    n, ok, bad, s_cum, s_good, s_bad = conn.execute(f"""
        SELECT count(*), sum(CASE WHEN ji.exitcode = 0 THEN 1 ELSE 0 END),
               sum(CASE WHEN ji.exitcode <> 0 THEN 1 ELSE 0 END),
               CAST(sum(CASE WHEN {side} THEN {ld} END) AS REAL),
               CAST(sum(CASE WHEN {side} THEN CASE WHEN ji.exitcode = 0 THEN {ld} ELSE 0.0 END END) AS REAL),
               CAST(sum(CASE WHEN {side} THEN CASE WHEN ji.exitcode > 0 THEN {ld} ELSE 0.0 END END) AS REAL)
        FROM job_instance ji WHERE {mine}""").fetchone()
    if orphans:  # the submit side over every instance, the orphans' too
        s_cum, s_good, s_bad = _submit_side(conn, tree)

    ids = _retried_ids(conn) if retried is None else retried

    def of_retried(only: str) -> tuple:
        return conn.execute(f"""
            SELECT count(*), sum(CASE WHEN exitcode = 0 THEN 1 ELSE 0 END),
                   sum(CASE WHEN exitcode <> 0 THEN 1 ELSE 0 END)
            FROM job_instance WHERE job_instance_id IN ({ids}) AND {only}""").fetchone()

    # a probe of the job's primary key for each of the few retried instances, not the instances
    # of every job in the tree looked up through the (job_id, ...) index, which SQLite picked for
    # "job_id IN (SELECT job_id FROM job ...)" (1M jobs: ~0.5 s; 100k ~0.05 s)
    in_tree = f"EXISTS (SELECT 1 FROM job j WHERE j.job_id = job_instance.job_id AND {tree.where('j.wf_id')})"
    r_n, r_ok, r_bad = of_retried(in_tree)
    # the sub-workflow jobs (few, through the type_desc index)
    sub_jobs = f"job_id IN (SELECT job_id FROM job WHERE type_desc IN {SUBWF} AND {tree.where('wf_id')})"
    _, s_ok, s_bad_n = conn.execute(f"""
        SELECT count(*), sum(CASE WHEN exitcode = 0 THEN 1 ELSE 0 END),
               sum(CASE WHEN exitcode <> 0 THEN 1 ELSE 0 END) FROM job_instance WHERE {sub_jobs}""").fetchone()
    sr_n, sr_ok, sr_bad = of_retried(sub_jobs)
    total, subs = conn.execute(f"""
        SELECT count(*), sum(CASE WHEN type_desc IN {SUBWF} THEN 1 ELSE 0 END) FROM job
        WHERE {tree.where('wf_id')}""").fetchone()
    z = lambda v: v or 0  # noqa: E731  (a sum of no rows is NULL)
    sub = (z(s_ok) - z(sr_ok), z(s_bad_n) - z(sr_bad), z(subs), sr_n)
    every = (z(ok) - z(r_ok), z(bad) - z(r_bad), total, r_n)
    return tuple(a - b for a, b in zip(every, sub)), sub, (s_cum, s_good, s_bad)


def _cumulative(conn, tree: "_Tree", runtime: tuple | None = None) -> tuple:
    """(cumulative job wall time, goodput, badput): the runtime (remote_duration x the instance's
    multiplier_factor) of the tasks' invocations (not PRE/POST scripts), not DAGMan's, summed
    in one SQL sum as pegasus-statistics does; all None when there is none."""
    rt, join = runtime or _runtime(conn)
    n, cum, good, bad = conn.execute(f"""
        SELECT count(*), CAST(sum({rt}) AS REAL),
               CAST(sum(CASE WHEN i.exitcode = 0 THEN {rt} END) AS REAL),
               CAST(sum(CASE WHEN i.exitcode > 0 THEN {rt} END) AS REAL)
        FROM invocation i {join}
        WHERE {tree.where('i.wf_id')} AND i.task_submit_seq >= 0 AND i.transformation <> '{DAGMAN}'""").fetchone()
    if not n:
        return None, None, None
    return cum, good or 0.0, bad or 0.0


def _runtime(conn, plain: bool | None = None) -> tuple:
    """(an invocation's runtime in SQL, the join it needs): remote_duration x its instance's
    multiplier_factor; the join is skipped when every multiplier is 1 (the usual case: it is
    the costly part of a scan of the invocations).  ``plain``: whether they are, when known."""
    if plain is None:
        plain = conn.execute("SELECT 1 FROM job_instance WHERE multiplier_factor <> 1 LIMIT 1").fetchone() is None
    if plain:
        return "i.remote_duration", ""
    return ("i.remote_duration * ji.multiplier_factor",
            "JOIN job_instance ji ON ji.job_instance_id = i.job_instance_id")


def _wf_states(conn, tree: "_Tree") -> dict:
    """{wf_id: [(state, timestamp, restart_count, status)]} in insertion order."""
    out: dict = {}
    for wf_id, state, ts, restart, status in conn.execute(f"""
        SELECT wf_id, state, timestamp, restart_count, status FROM workflowstate
        WHERE {tree.where('wf_id')} ORDER BY rowid"""):
        out.setdefault(wf_id, []).append((state, ts, restart, status))
    return out


def _wall_time(states: list) -> float | None:
    """``stats_utils.get_workflow_wall_time``: ends minus starts, summed over restarts."""
    starts = [float(s[1]) for s in states if s[0] == "WORKFLOW_STARTED"]
    ends = [float(s[1]) for s in states if s[0] != "WORKFLOW_STARTED"]
    if not starts or not ends or len(starts) != len(ends):
        return None
    return sum(ends) - sum(starts)


def _wf_state(states: list) -> str:
    """The store's workflow state: the latest restart's end (if any) decides."""
    if not states:
        return WorkflowState.PLANNED
    latest = {}
    for state, _ts, restart, status in states:
        latest[(restart or 0, state != "WORKFLOW_STARTED")] = status
    key = max(latest)
    if not key[1]:
        return WorkflowState.RUNNING
    return WorkflowState.SUCCEEDED if latest[key] == 0 else WorkflowState.FAILED


def _retries(states_of: dict, ids) -> int | None:
    got = [max(s[2] for s in states_of[w]) for w in ids if states_of.get(w)]
    return sum(got) if got else None


def _aggregates(conn, tree: "_Tree", hosts: dict) -> dict:
    """Every figure but the jobs.csv rows and the job counts: breakdown, cumulative and
    submit-side wall times, time per hour and host, task counts, jobs per workflow.  Few rows
    out."""
    # In this order because of what the main thread does meanwhile.  The task counts first:
    # SQLite allocates a few times per row for them, and its allocator has a process-wide
    # mutex, while the main thread first reads the instances, which allocates little.  The time
    # tables' few hundred rows before the main thread builds the jobs.csv rows: a row fetched
    # then waits for the GIL (up to sys.getswitchinterval()).  The breakdown's few rows last.
    tasks = _task_counts(conn, tree)
    times = _time_tables(conn, tree, hosts)
    return {"breakdown": _breakdown(conn, tree), "cum": _cumulative(conn, tree), "side": _submit_side(conn, tree),
            **times, "jobs": _job_totals(conn, tree), "tasks": tasks}


def _breakdown(conn, tree: "_Tree", runtime: tuple | None = None) -> dict:
    """{wf_uuid or "ALL": breakdown rows}."""
    rt, join = runtime or _runtime(conn)
    per: dict = {w: {} for w in tree.ids}
    every: dict = {}
    # The sort of GROUP BY is most of the cost: its key is kept to two columns, the small ones
    # in one integer (wf_id * 8 + 4 for a task's invocation + 1 succeeded / 2 failed).
    for r in conn.execute(f"""
        SELECT i.transformation,
               i.wf_id * 8 + CASE WHEN i.task_submit_seq >= 0 THEN 4 ELSE 0 END
                           + CASE WHEN i.exitcode = 0 THEN 1 WHEN i.exitcode > 0 THEN 2 ELSE 0 END,
               count(*), CAST(min({rt}) AS REAL), CAST(max({rt}) AS REAL), CAST(sum({rt}) AS REAL), count({rt}),
               min(i.maxrss), max(i.maxrss), sum(i.maxrss), count(i.maxrss),
               CAST(min(i.avg_cpu) AS REAL), CAST(max(i.avg_cpu) AS REAL), CAST(sum(i.avg_cpu) AS REAL),
               count(i.avg_cpu)
        FROM invocation i {join}
        WHERE {tree.where('i.wf_id')}
        GROUP BY 1, 2"""):
        xform, code = r[:2]
        vals = r[2:]
        wf_id, flags = divmod(code, 8)
        key = (xform, "successful" if flags & 3 == 1 else "failed")
        _merge(per[wf_id], key, vals)
        _merge(every, key, vals)
    return {**{tree.uuid[w]: _breakdown_rows(g) for w, g in per.items()}, "ALL": _breakdown_rows(every)}


def _submit_side(conn, tree: "_Tree") -> tuple:
    """(wall time, goodput, badput) as seen from the submit side: DAGMan's duration of every
    instance but those of sub-workflow jobs that have their sub-workflow (its jobs count
    instead)."""
    return conn.execute(f"""
        SELECT CAST(sum(local_duration * multiplier_factor) AS REAL),
               CAST(sum(CASE WHEN exitcode = 0 THEN local_duration * multiplier_factor ELSE 0.0 END) AS REAL),
               CAST(sum(CASE WHEN exitcode > 0 THEN local_duration * multiplier_factor ELSE 0.0 END) AS REAL)
        FROM job_instance
        WHERE {tree.jobs_where('job_id')}
          AND NOT (subwf_id IS NOT NULL AND job_id IN (SELECT job_id FROM job WHERE type_desc IN {SUBWF}))
        """).fetchone()


def _time_tables(conn, tree: "_Tree", hosts: dict) -> dict:
    """Time per hour and host, and per hour: of the invocations (hi, di) and of the jobs (hj, dj)."""
    return {**_invocation_hours(conn, tree, hosts), **_execute_hours(conn, tree, hosts)}


def _invocation_hours(conn, tree: "_Tree", hosts: dict) -> dict:
    """The invocations' time tables: per hour and host (hi), per hour (di)."""
    hi: dict = {}
    di: dict = {}
    # host first in the GROUP BY: it tells more rows apart, so the sort compares less
    for host_id, hour, n, runtime in conn.execute(f"""
        SELECT ji.host_id, CAST(i.start_time / 3600 AS INTEGER), count(*), CAST(sum(i.remote_duration) AS REAL)
        FROM invocation i JOIN job_instance ji ON ji.job_instance_id = i.job_instance_id
        WHERE {tree.where('i.wf_id')} AND i.transformation <> '{DAGMAN}'
        GROUP BY 1, 2"""):
        if hour is None:
            continue
        host = hosts.get(host_id)
        if host is not None:
            add_time(hi, (hour, host), n, runtime)
        add_time(di, (hour, None), n, runtime)
    return {"hi": hi, "di": di}


def _job_totals(conn, tree: "_Tree") -> dict:
    """{(wf_id, is_subwf): jobs}, from the indexes on job (wf_id, ...) and (type_desc):
    no scan of the table and no sort."""
    totals: dict = {}
    for w, n in conn.execute(f"SELECT wf_id, count(*) FROM job WHERE {tree.where('wf_id')} GROUP BY 1"):
        totals[(w, False)] = n
    for w, n in conn.execute(
            f"SELECT wf_id, count(*) FROM job WHERE type_desc IN {SUBWF} AND {tree.where('wf_id')} GROUP BY 1"):
        totals[(w, False)] -= n
        totals[(w, True)] = n
    return {k: n for k, n in totals.items() if n}


def _execute_hours(conn, tree: "_Tree", hosts: dict) -> dict:
    """The jobs' time tables: one row per EXECUTE state of a non-sub-workflow job's
    instance, per hour and host when the host is known, per hour when DAGMan's duration
    is."""
    hj: dict = {}
    dj: dict = {}
    for host_id, hour, n, runtime, n_rt in conn.execute(f"""
        SELECT ji.host_id, CAST(js.timestamp / 3600 AS INTEGER), count(*),
               CAST(sum(ji.local_duration) AS REAL), count(ji.local_duration)
        FROM jobstate js JOIN job_instance ji ON ji.job_instance_id = js.job_instance_id
        WHERE js.state = 'EXECUTE' AND {tree.jobs_where('ji.job_id')}
          AND ji.job_id NOT IN (SELECT job_id FROM job WHERE type_desc IN {SUBWF})
        GROUP BY 1, 2"""):
        host = hosts.get(host_id)
        if host is not None:
            add_time(hj, (hour, host), n, runtime)
        if n_rt:
            add_time(dj, (hour, None), n_rt, runtime)
    return {"hj": hj, "dj": dj}


def _merge(groups: dict, key, vals) -> None:
    """Adds (count, then (min, max, sum, count) of runtime, maxrss, avg_cpu) to a group."""
    a = groups.get(key)
    if a is None:
        groups[key] = list(vals)
        return
    a[0] += vals[0]
    for i in (1, 5, 9):
        if vals[i + 3] == 0:
            continue
        if a[i + 3] == 0:
            a[i:i + 4] = vals[i:i + 4]
        else:
            a[i] = min(a[i], vals[i])
            a[i + 1] = max(a[i + 1], vals[i + 1])
            a[i + 2] += vals[i + 2]
            a[i + 3] += vals[i + 3]


def _breakdown_rows(groups: dict) -> list[dict]:
    rows = []
    for (xform, typ), (count, rmn, rmx, rsum, rn, mmn, mmx, msum, mn, cmn, cmx, csum, cn) in sorted(
            groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        rows.append({
            "transformation": _text(xform), "type": typ, "count": count,
            "min": rmn, "max": rmx, "mean": rsum / rn if rn else None, "total": rsum,
            "min_maxrss": mmn, "max_maxrss": mmx, "mean_maxrss": msum / mn if mn else None,
            "min_avg_cpu": cmn, "max_avg_cpu": cmx, "mean_avg_cpu": csum / cn if cn else None,
        })
    return rows


def _integrity(conn, tree: "_Tree") -> dict:
    per: dict = {tree.uuid[w]: [] for w in tree.ids}
    every: dict = {}
    for wf_id, typ, ftype, count, duration in conn.execute(f"""
        SELECT wf_id, type, file_type, sum(count), CAST(sum(duration) AS REAL) FROM integrity
        WHERE {tree.where('wf_id')} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""):
        typ, ftype = _text(typ), _text(ftype)
        per[tree.uuid[wf_id]].append({"type": typ, "file_type": ftype, "count": count, "duration": duration})
        a = every.setdefault((typ, ftype), [0, None])
        a[0] += count
        if duration is not None:
            a[1] = duration if a[1] is None else a[1] + duration
    per["ALL"] = [{"type": t, "file_type": f, "count": c, "duration": d}
                  for (t, f), (c, d) in sorted(every.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]
    return per


# -- all of it -------------------------------------------------------------------------------


def _counts(succeeded, failed, total, retries) -> dict:
    return {"succeeded": succeeded, "failed": failed, "incomplete": total - succeeded - failed, "total": total,
            "retries": retries, "total_with_retries": succeeded + failed + retries}


@contextmanager
def _gc_paused():
    """Everything read is kept: a collection while the 100k-row results are built (several
    hundred of them) would only walk them to find nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_all(r: _Reader, conn, tree: "_Tree") -> tuple:
    """(aggregates, instances, states, integrity), with two threads when a second connection
    on the same snapshot is to be had."""
    with _gc_paused():
        return _read(r, conn, tree)


def _read(r: _Reader, conn, tree: "_Tree") -> tuple:
    hosts = {h: _text(name) for h, name in conn.execute("SELECT host_id, hostname FROM host")}
    states = _wf_states(conn, tree)
    integrity = _integrity(conn, tree)
    other = r.second()
    if other is None:
        return _aggregates(conn, tree, hosts), _instances(conn, tree, hosts), states, integrity
    # The worker's queries return a few rows each: it seldom needs the GIL this thread holds
    # while it reads and builds the 100k-row results (two threads doing that would spend more
    # on handing the GIL over than they gain).
    pool = ThreadPoolExecutor(1, thread_name_prefix="sqlstats")
    try:
        agg = pool.submit(_aggregates, other, tree, hosts)
        try:
            inst = _instances(conn, tree, hosts)
        except BaseException:
            other.interrupt()
            raise
        return agg.result(), inst, states, integrity
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def all_statistics_db(path_or_conn, wf_uuid: str | None = None, tz: tzinfo | None = None,
                      warnings: list | None = None) -> dict:
    """Everything ``pegasus-statistics -s all`` reports for ``wf_uuid``'s tree
    (default: the DB's first root workflow), from a Stampede DB (a path, or
    an open connection, which is left open): the same dict as
    :func:`panorama_tui.stats.store_stats.all_statistics`.  Days are ``tz``'s
    (default: this machine's zone, as pegasus-statistics does).  What could
    not be read as it should (:func:`_answer`) is told in ``warnings``.

    Raises :class:`StatsDbError` when the DB cannot be read."""
    def from_store(store, wf):
        from .store_stats import all_statistics

        return all_statistics(store, wf, tz)

    return _answer(path_or_conn, wf_uuid, warnings, lambda r, conn, tree: _statistics(r, conn, tree, tz), from_store)


# The breakdown's figures kept in other units than pegasus-statistics prints them:
# memory in KiB (as kickstart and the DB have maxrss) and average CPU as a fraction.
_BREAKDOWN_UNITS = (("maxrss", "mem_mb", 1 / 1024), ("avg_cpu", "avg_cpu_pct", 100))


def json_units(stats: dict) -> dict:
    """:func:`all_statistics_db`'s answer in pegasus-statistics' units, for ``--stats --json``:
    the breakdown's ``{min,max,mean}_maxrss`` (KiB) become ``{min,max,mean}_mem_mb`` (MB) and
    its ``{min,max,mean}_avg_cpu`` (a fraction) ``{min,max,mean}_avg_cpu_pct`` (%); every other
    figure already is in the unit pegasus-statistics gives it (seconds, counts, dates)."""
    def row(r: dict) -> dict:
        out = dict(r)
        for kept, printed, factor in _BREAKDOWN_UNITS:
            for stat in ("min", "max", "mean"):
                v = out.pop(f"{stat}_{kept}")
                out[f"{stat}_{printed}"] = None if v is None else v * factor
        return out

    return {**stats, "breakdown": {k: [row(r) for r in rows] for k, rows in stats["breakdown"].items()}}


def summary_statistics_db(path_or_conn, wf_uuid: str | None = None, warnings: list | None = None) -> dict:
    """The ``summary`` and ``integrity`` of :func:`all_statistics_db`'s answer, computed alone
    (a few passes with one row out each: what ``panorama-top --stats`` prints needs no
    jobs.csv rows, breakdown or time tables).  Raises :class:`StatsDbError`."""
    def from_store(store, wf):
        from .store_stats import all_statistics

        st = all_statistics(store, wf)
        return {"summary": st["summary"], "integrity": st["integrity"]}

    return _answer(path_or_conn, wf_uuid, warnings, _summary_statistics, from_store)


def summary_text(path_or_conn, wf_uuid: str | None = None, warnings: list | None = None) -> str:
    """pegasus-statistics' summary text (:func:`format_summary`) of ``wf_uuid``'s
    tree, from one read of a Stampede DB.  Raises :class:`StatsDbError`."""

    def from_sql(r, conn, tree):
        return _summary_statistics(r, conn, tree), _integrity_errors(conn, tree)

    def from_store(store, wf):  # without the integrity-error lines: a quirk of pegasus-statistics' SQL
        from .store_stats import all_statistics

        return all_statistics(store, wf), None

    return format_summary(*_answer(path_or_conn, wf_uuid, warnings, from_sql, from_store))


def _answer(path_or_conn, wf_uuid, warnings: list | None, from_sql, from_store):
    """``from_sql(reader, conn, tree)`` in one read transaction.  Text that is not
    UTF-8 is read again with U+FFFD (each such value a warning); a DB with a
    value the SQL figures cannot use is answered by ``from_store(store,
    workflow)`` (:func:`_from_store`).  A caller's own connection gets neither."""

    def not_utf8(text: str) -> None:
        if warnings is not None:
            warnings.append(f"{path_or_conn}: text that is not UTF-8, read as {text[:60]!r}")

    text = None
    while True:
        r = _Reader(path_or_conn, text)
        try:
            with r as conn:
                return from_sql(r, conn, _Tree(conn, wf_uuid, r.name))
        except _NotUtf8:
            if text is not None or not r.own:
                raise
            text = text_reader(not_utf8)
        except _ODD_VALUES as exc:
            if not r.own:
                raise
            return _from_store(r.path, wf_uuid, f"{type(exc).__name__}: {exc}"[:120], warnings, from_store)


def _from_store(path: str, wf_uuid, why: str, warnings: list | None, answer):
    """``answer(store, workflow)`` from a store :class:`StampedeDbSource` built
    row by row, its bad rows skipped and counted (slower than SQL: only for a
    DB that has such rows)."""
    from ..pipeline.read import StampedeDbError, read_stampede_db

    try:
        store = read_stampede_db(path)
    except StampedeDbError as exc:
        raise StatsDbError(str(exc)) from None
    wf = store.workflows.get(wf_uuid) if wf_uuid else next(iter(store.roots), None)
    if wf is None:
        raise StatsDbError(f"{path}: no workflow {wf_uuid or ''} in this Stampede DB".replace("  ", " "))
    if warnings is not None:
        warnings.append(f"{path}: a value the SQL figures cannot use ({why}); figures computed row by row")
        warnings.extend(store.warnings)
        if store.warning_count > len(store.warnings):
            warnings.append(f"{path}: {store.warning_count - len(store.warnings)} more warnings not kept")
    return answer(store, wf)


def _summary(tree: _Tree, states: dict, tasks, jobs, subs, cum, side) -> dict:
    """The summary of pegasus-statistics' figures: counts are (succeeded, failed, total,
    retries) of the whole tree; cum and side (wall time, goodput, badput)."""
    top = tree.top
    c, good, bad = cum
    s_cum, s_good, s_bad = side
    return {
        "wf_uuid": tree.uuid[top], "label": tree.label[top], "state": _wf_state(states.get(top, [])),
        "tasks": _counts(*tasks), "jobs": _counts(*jobs), "sub_workflows": _counts(*subs),
        "workflow_wall_time": _wall_time(states.get(top, [])),
        "cumulative_job_wall_time": c, "cumulative_job_goodput": good, "cumulative_job_badput": bad,
        "submit_side_wall_time": s_cum, "submit_side_goodput": s_good, "submit_side_badput": s_bad,
        "workflow_retries": _retries(states, tree.ids),
    }


def _sum_counts(counts) -> tuple:
    counts = list(counts)
    return tuple(sum(c[i] for c in counts) for i in range(4))


# The summary's page cache (KiB): its passes read each table once, in order, and probe the
# (job_id, job_submit_seq) index, whose hot part this holds.
_LEAN_CACHE_KIB = 32_768


def _lean(conn) -> None:
    """Settings for the summary's passes: read(2) into a small page cache instead of the file
    mapped, every page of which would count in this process's RSS (100k jobs: 63 MB peak RSS
    against 218 MB, for ~0.05 s more CPU)."""
    conn.execute("PRAGMA mmap_size = 0")
    conn.execute(f"PRAGMA cache_size = -{_LEAN_CACHE_KIB}")


def _statistics(r: _Reader, conn, tree: _Tree, tz) -> dict:
    groups, inst, states, integrity = _read_all(r, conn, tree)
    jc = _job_counts(inst, groups["jobs"])
    tc = groups["tasks"]
    zero = (0, 0, 0, 0)
    summary = _summary(tree, states, _sum_counts(tc.get(w, zero) for w in tree.ids),
                       _sum_counts(jc.get((w, False), zero) for w in tree.ids),
                       _sum_counts(jc.get((w, True), zero) for w in tree.ids), groups["cum"], groups["side"])
    every = {k: summary[k] for k in ("tasks", "jobs", "sub_workflows", "workflow_retries")}
    top = tree.top
    if len(tree.ids) == 1:
        workflows = [{"wf_uuid": tree.uuid[top], "label": tree.label[top], **every}]
    else:
        workflows = [{
            "wf_uuid": tree.uuid[w], "label": tree.label[w],
            "tasks": _counts(*tc.get(w, zero)),
            "jobs": _counts(*jc.get((w, False), zero)),
            "sub_workflows": _counts(*jc.get((w, True), zero)),
            "workflow_retries": _retries(states, [w]),
        } for w in tree.ids]
    workflows.append({"wf_uuid": "ALL", "label": None, **every})
    return {
        "summary": summary,
        "workflows": workflows,
        "breakdown": groups["breakdown"],
        "jobs": {tree.uuid[w]: rows for w, rows in inst["rows"].items()},
        "per_host": {"jobs": by_day(groups["hj"], tz), "invocations": by_day(groups["hi"], tz)},
        "per_day": {"jobs": by_day(groups["dj"], tz), "invocations": by_day(groups["di"], tz)},
        "integrity": integrity,
    }


def _summary_statistics(r: _Reader, conn, tree: _Tree) -> dict:
    """What pegasus-statistics' summary text needs (``summary`` and ``integrity``), from a few
    aggregates with one row out each: no jobs.csv rows, breakdown or time tables.  The task
    counts (the costliest: a sort of every task id) on a second connection when there is one."""
    states = _wf_states(conn, tree)
    integrity = _integrity(conn, tree)
    other = r.second()
    if r.own:  # a caller's connection keeps its own settings
        for c in (conn, other):
            if c is not None:
                _lean(c)
    pool = None if other is None else ThreadPoolExecutor(1, thread_name_prefix="sqlstats")
    try:
        tasks = pool.submit(_task_counts, other, tree) if pool is not None else None
        try:
            jobs, subs, side = _tree_instances(conn, tree)
            cum = _cumulative(conn, tree)
        except BaseException:
            if other is not None:
                other.interrupt()
            raise
        tc = tasks.result() if tasks is not None else _task_counts(conn, tree)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    zero = (0, 0, 0, 0)
    summary = _summary(tree, states, _sum_counts(tc.get(w, zero) for w in tree.ids), jobs, subs, cum, side)
    return {"summary": summary, "integrity": integrity}


def _integrity_errors(conn, tree: _Tree) -> dict:
    """The integrity-error lines of pegasus-statistics' summary text: ``{"total": the sum of
    int.error tags or None, "failures": jobs whose latest instance failed with such tags}``."""
    row = conn.execute(f"""SELECT sum(count) FROM tag WHERE name = 'int.error' AND {tree.where('wf_id')}
                           GROUP BY name""").fetchone()
    # pegasus-statistics asks this right after the sub-workflow counts, and the job filter that
    # query set is still on: only sub-workflow (dax/dag) jobs are counted.  Kept, for the same text.
    # From the tags (a row per instance with integrity errors, few), each tag's instance its
    # job's latest: no pass over the instances.
    failures = conn.execute(f"""
        SELECT count(*) FROM tag t
        JOIN job_instance ji ON ji.job_instance_id = t.job_instance_id
        JOIN job j ON j.job_id = ji.job_id
        WHERE t.name = 'int.error' AND t.count > 0 AND {tree.where('j.wf_id')} AND j.type_desc IN {SUBWF}
          AND ji.exitcode <> 0 AND {_LATEST}""").fetchone()[0]
    return {"total": None if row is None else row[0], "failures": failures}


# -- pegasus-statistics' summary text --------------------------------------------------------


def format_seconds(duration, max_comp: int = 2) -> str:
    """``Pegasus.plots_stats.utils.format_seconds``: ``1 min, 17 secs``."""
    if duration is None:
        return "-"
    try:
        sec = int(duration)
    except (TypeError, ValueError, OverflowError):  # NaN, an infinity: a DB's 9e999
        return "-"
    parts: list[str] = []
    years, sec = divmod(sec, 31536000)
    days, sec = divmod(sec, 86400)
    hrs, sec = divmod(sec, 3600)
    mins, sec = divmod(sec, 60)
    for n, one, many in ((years, "year", "years"), (days, "day", "days"), (hrs, "hr", "hrs"),
                         (mins, "min", "mins")):
        if len(parts) < max_comp and (n >= 1 or parts):
            parts.append(f"{n} {one if n == 1 else many}")
    if len(parts) < max_comp:
        if not parts:
            sec = round(duration, 2)  # under a minute: the fraction shows
        parts.append(f"{sec} {'sec' if sec == 1 else 'secs'}")
    return ", ".join(parts)


def _decimal(v, places: int):
    # pegasus-statistics reads NUMERIC columns as Decimals of the column's scale, which is how
    # "0.00 secs" (not "0.0 secs") gets printed
    from decimal import Decimal  # only for the summary text's two figures: ~4 ms to import

    return None if v is None else Decimal(f"{float(v):.{places}f}")


def format_summary(stats: dict, errors: dict | None = None) -> str:
    """``summary.txt`` of ``pegasus-statistics -s summary`` without its
    ``#`` legend lines: the counts table, the wall times, and (when the run
    has integrity metrics) the checksum and integrity-error lines."""
    widths = (15, 10, 8, 12, 10, 10, 13)

    def row(cells) -> str:
        return "".join(str(v).ljust(w) for v, w in zip(cells, widths))

    s = stats["summary"]
    rule = "-" * sum(widths)
    lines = [rule, row(("Type", "Succeeded", "Failed", "Incomplete", "Total", "Retries", "Total+Retries"))]
    for key, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
        c = s[key]
        lines.append(row((title, c["succeeded"], c["failed"], c["incomplete"], c["total"], c["retries"],
                          c["total_with_retries"])))
    lines += [rule, ""]
    for title, v in (("Workflow wall time", _decimal(s["workflow_wall_time"], 6)),
                     ("Cumulative job wall time", s["cumulative_job_wall_time"]),
                     ("Cumulative job wall time as seen from submit side", s["submit_side_wall_time"]),
                     ("Cumulative job badput wall time", s["cumulative_job_badput"]),
                     ("Cumulative job badput wall time as seen from submit side", s["submit_side_badput"])):
        lines.append(f"{title:<57}: {format_seconds(v)}")
    metrics: dict = {}
    for r in stats.get("integrity", {}).get("ALL", []):
        m = metrics.setdefault(r["type"], [0, None])
        m[0] += r["count"]
        if r["duration"] is not None:
            m[1] = r["duration"] if m[1] is None else m[1] + r["duration"]
    if metrics:
        lines.append("")
        for typ, (count, duration) in sorted(metrics.items()):
            word = {"check": "compared", "compute": "generated"}.get(typ, typ)
            lines.append(f"{count} files checksums {word} with total duration of "
                         f"{format_seconds(_decimal(duration, 3))}")
        errors = errors or {}
        lines.append("")
        if errors.get("total") is not None:
            lines.append(f"Total:    A total of {errors['total']} integrity errors encountered in the workflow")
        lines.append(f"Failures: {errors.get('failures') or 0} job failures had integrity errors")
    return "\n".join(lines)
