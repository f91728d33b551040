"""``panorama-top --stats --json`` written as it is computed, in bounded memory.

:func:`panorama_tui.stats.sql_stats.all_statistics_db` returns every instance's jobs.csv row as
a dict (~740 bytes each: 0.75 GB at 1M jobs), and its JSON text is made whole on top of that
(bytes, then str: ~0.6 GB each).  :func:`write_statistics_json` writes the same JSON (the
same keys, values and order) with the rows read as they are written: per workflow, the
instances, their jobstate aggregates and their invocation aggregates, each one ordered pass
(instance-id order, which is pegasus-statistics' order in a DB monitord wrote), merged here;
a DB whose instances are not in that order gets one statement that sorts them.  What is held
is the aggregates, a few batches of rows, and (:class:`_Held`) the rows read before the
figures written ahead of them are known: up to 8 MB, the rest in a temporary file.

Where the time goes: CPU of each statement alone on one thread (user+sys, s), 100k jobs
(medians of 3) and 1M (one run), load ~1.5; the jobs.csv rows on this thread, the figures on
the workers:

                                                    100k    1M
  checks: odd values, submit order, tries           0.10    1.41
  rows: jobstate aggregates (700k / 7M states)      0.33    3.37
        invocation aggregates                       0.21    2.52
        instances with their job's name             0.25    3.08 (1.7 the job's lookup)
        the dicts, their text (Python)              0.19    2.28
  figures: retried instances, counts of instances   0.08    0.88
        counts of tasks                             0.12    1.36
        cumulative times                            0.05    0.48
        breakdown (a GROUP BY sorting invocations)  0.23    2.56
        time tables (two such GROUP BYs)            0.27    3.97
  all of it                                         1.85   21.91

Every figure stays the SQL statement sql_stats has, summing in SQLite (the same rows into
the same stable sort give the same floating-point sums, in the DB engine's own arithmetic, as
pegasus-statistics'), so the statements' sum, ~1.7 s at 100k and ~19.6 s at 1M, is about the
floor (pegasus-statistics -s all: ~11 s and ~125 s of CPU).  What is left to gain is the
second core: the figures are computed on two workers (:class:`_Work`) while this thread reads
the rows from the start, holding them until the figures before them are known (on two free
cores the wall time is about this thread's share: ~1.3 s at 100k, ~13 s at 1M).  With a core
for each feed too (:data:`_FEED_MIN_CPUS`) the rows' aggregates are read by feeds while this
thread reads the instances and writes.

The aggregates are sql_stats' own.  A DB sql_stats would answer another way (a caller's
connection, a value the figures cannot use, which sends it to the store) gets
``all_statistics_db``'s answer written whole; text that is not UTF-8 is read with U+FFFD,
each such value a warning, as sql_stats' second read does (from the start when found before
anything is written, else from its row on).
"""

from __future__ import annotations

import codecs
import json
import sqlite3
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from datetime import tzinfo
from itertools import islice
from operator import le
from queue import Full, Queue
from threading import Event
from typing import IO

from ..core.sqlite import MAX_STATEMENT_SECONDS, SQL_ERRORS, bound_work, text_reader
from . import sql_stats as S
from .per_day import by_day

__all__ = ["write_statistics_json", "dumps"]

# rows per write: few enough to hold, many enough that a write costs nothing per row
_BATCH = 2000
# The rows' statement sorts a workflow's instances before its first row: 20-60 s at 1M jobs on
# a busy 2-core machine, past the usual bound on a statement (core.sqlite).  It gets this long
# to its first row, then the usual bound again between batches of rows.
_FIRST_ROW_SECONDS = 600.0
_SENTINEL = "\x00jobs\x00"
# The rows' page cache (KiB), a feed's or this thread's: each statement reads its index once,
# in order (a page is not read twice).  1M jobs: peak RSS ~200 MB with 32 MB caches, against
# ~156 MB; a 60 MB cache for this thread (the instances' lookups of their job, 1.7 s) takes
# ~0.9 s off the system time and adds as much user time: CPU 26.9-28.7 s against 26.9-28.0 s
# at load ~5, RSS 205 against 91 MB.
_FEED_CACHE_KIB = 4096


def dumps(obj) -> str:
    """JSON with a 2-space indent, as ``panorama-top --json`` prints it (orjson when it is
    there; json for what orjson refuses, an integer past 64 bits)."""
    try:
        import orjson

        return orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode()
    except (ImportError, TypeError):
        return json.dumps(obj, indent=2)


def write_statistics_json(path, out, wf_uuid: str | None = None, tz: tzinfo | None = None,
                          warnings: list | None = None) -> None:
    """Writes ``dumps(json_units(all_statistics_db(path, wf_uuid, tz, warnings)))`` to the
    text stream ``out``.  Raises :class:`~panorama_tui.stats.sql_stats.StatsDbError` before
    writing anything when the DB cannot be read."""
    if isinstance(path, str):
        def not_utf8(text: str) -> None:
            if warnings is not None:
                warnings.append(f"{path}: text that is not UTF-8, read as {text[:60]!r}")

        counted = _Counted(out)
        try:
            if _stream(path, counted, wf_uuid, tz, text_reader(not_utf8)):
                return
        except S._NotUtf8:
            if counted.wrote:
                raise
            # before any output: all of it again, every text read with U+FFFD (as sql_stats' second read)
            if _stream(path, out, wf_uuid, tz, text_reader(not_utf8), slow_text=True):
                return
    out.write(dumps(S.json_units(S.all_statistics_db(path, wf_uuid, tz, warnings))))


class _Counted:
    """``out``, knowing whether anything was written to it."""

    def __init__(self, out):
        self.out = out
        self.wrote = False

    def write(self, text: str):
        self.wrote = True
        return self.out.write(text)


def _stream(path: str, out, wf_uuid, tz, text, slow_text: bool = False) -> bool:
    """The streamed answer, or False (nothing written) when the DB needs sql_stats' whole one.

    Text is decoded by sqlite3's own C code (100k jobs: ~0.1 s of CPU less than a Python
    ``text_factory`` over the rows' names and sites); text that is not UTF-8 raises there, and
    is read with ``text`` (U+FFFD, a warning each): all over again when nothing is written
    yet (sql_stats.StatsDbError's _NotUtf8 out of here), from that row on among the rows
    (:func:`_instances_of`).  ``slow_text``: with ``text`` from the start."""
    r = S._Reader(path, text if slow_text else None)
    with r as conn:
        S._lean(conn)
        tree = S._Tree(conn, wf_uuid, r.name)
        work = None
        held = None
        failed = True
        try:
            try:
                odd, plain = _checks(conn)
                if odd:
                    return False
                work = _Work(r, conn)
                figures = _Figures(work, conn, tree, tz, S._runtime(conn, plain))
                rows_of = _Rows(conn, tree, figures.hosts, work)
            except S._ODD_VALUES:
                return False
            held = _Held(out, figures)
            try:
                _write_jobs(conn, tree, held, rows_of, text)
                held.finish()
            except _Unusable:
                # a figure with a value it cannot use (a time past time_t): nothing is written
                # before every figure is known, so sql_stats still answers the whole way (from the store)
                return False
            except S._ODD_VALUES as exc:
                raise S.StatsDbError(f"{path}: a value the figures cannot use ({type(exc).__name__}: {exc})"[:200]) from None
            failed = False
        finally:
            if work is not None:
                work.close(failed)
            if held is not None:
                held.close()
    return True


def _checks(conn) -> tuple:
    """(whether a multiplier or a job_submit_seq is not a number, whether every multiplier is 1),
    in one pass over the instances.  Odd values: the rows' Kickstart-Mult, or sql_stats' sort of
    the instances, would fail in Python (the store skips such a row; sql_stats then answers
    from the store).  Multipliers of 1: the runtimes need no join (sql_stats._runtime, which
    would look for another each time it is asked: 1M jobs, ~0.15 s of CPU a pass)."""
    odd, other = conn.execute("""
        SELECT max(typeof(multiplier_factor) NOT IN ('integer', 'real') OR typeof(job_submit_seq) NOT IN ('integer', 'real')),
               max(multiplier_factor <> 1)
        FROM job_instance""").fetchone()
    return bool(odd), not other


class _Work:
    """The connections besides the main one that read the same snapshot (``r``'s second, and a
    third: none for a WAL DB or one core), a worker thread each.  Work given to a worker runs
    on its connection in its thread; with no worker, on the main connection at once.

    Every figure's SQL runs in SQLite with the GIL released, so the cores share it: the
    figures (:class:`_Figures`, few rows out) on the workers while this thread reads the rows;
    with cores enough, the rows' aggregates too, each on a connection and thread of its own
    (:class:`_Feed`, ahead of the rows by up to ``_AHEAD`` batches)."""

    def __init__(self, r, conn):
        self.conn = conn
        self.r = r
        self.feeds: list = []
        self.workers: list = []
        self.feeders: list = []
        other = r.second()
        if other is None:
            return
        third = _another(r)
        for c in (other, third):
            if c is not None:
                S._lean(c)  # one pass per table: read(2), not every page mapped into this process
                c.execute(f"PRAGMA cache_size = -{_WORKER_CACHE_KIB}")
                self.workers.append((ThreadPoolExecutor(1, thread_name_prefix="statsjson"), c))

    def submit(self, i: int, fn, *args) -> Future:
        """``fn(connection, *args)`` on worker ``i`` (modulo the workers there are)."""
        if not self.workers:
            done: Future = Future()
            done.set_result(fn(self.conn, *args))
            return done
        pool, c = self.workers[i % len(self.workers)]
        return pool.submit(fn, c, *args)

    def feed(self, i: int, sql: str, ahead: int = 4):
        """A :class:`_Feed` of ``sql``'s rows on feeder ``i`` (a connection and thread of its own,
        made the first time), or None when there is no core for it (this thread reads them then:
        :data:`_FEED_MIN_CPUS`) or no such connection to be had.  Not on a worker, busy with the
        figures meanwhile, and not two on one feeder: two feeds read in step on one thread would
        wait for each other (the first one's rows, read ahead, would fill its queue before the
        second one began)."""
        if not self.workers or S._cpus() < _FEED_MIN_CPUS:
            return None
        while len(self.feeders) <= i:
            c = _another(self.r)
            if c is None:
                return None
            # each feed reads its index once, in order (a page is not read twice)
            c.execute(f"PRAGMA cache_size = -{_FEED_CACHE_KIB}")
            self.feeders.append((ThreadPoolExecutor(1, thread_name_prefix="statsjson-feed"), c))
        pool, c = self.feeders[i]
        f = _Feed(pool, c, sql, ahead)
        self.feeds.append(f)
        return f

    def close(self, failed: bool) -> None:
        """Every worker done with its connection, those not ``r``'s closed (``r`` closes its
        second).  ``failed``: what the workers still run or have queued is stopped."""
        for f in self.feeds:
            f.stop.set()
        threads = self.workers + self.feeders
        for pool, _c in threads:
            pool.shutdown(wait=False, cancel_futures=True)
        if failed:
            for _pool, c in threads:
                # A query on a closed connection crashes the process (the fuzz test's odd-valued
                # DB did): what a worker runs (the time tables) stops now, before r closes it.
                c.interrupt()
        for f in self.feeds:
            f.close()
        for pool, c in threads:
            pool.shutdown(wait=True)
            if c is not self.r.other:
                c.close()  # a read transaction: closing it ends it
        self.workers = []
        self.feeders = []


# Rows' batches the first feeds may read ahead of the rows: 16k rows, ~3 MB.
# The workers' page caches (KiB): the figures read their tables once each, in order, so a cache
# is mostly the memory of their GROUP BY sorts.  100k jobs, peak RSS: 96 MB so, 145 MB with
# sql_stats' 32 MB caches, 167 MB with them and every aggregate read ahead (50 batches), for
# the same CPU.
_AHEAD = 8
_WORKER_CACHE_KIB = 8192
# The rows' aggregates are read by feeds only with a core for this thread, each of the two
# workers (busy with the figures meanwhile) and each of the two feeds.  Every row a feed reads
# takes the GIL (sqlite3 builds the row's tuple; it lets the GIL go for each step) while this
# thread builds its rows' dicts: on fewer cores the handovers cost more than the overlap gains,
# in CPU and, with other work on the machine, in wall time too.  2 cores, load 6, medians of 2
# (1M) and 5 (100k), CPU, when the feeds ran on the workers after the figures (3 cores asked
# then): 1M 28.0 s with the feeds against 23.0 s without (wall 40.9 against 36.1 s), 100k 2.69
# against 2.52 s; the output the same.  Not measured on more cores.
_FEED_MIN_CPUS = 5


class _Unusable(Exception):
    """A figure with a value it cannot use (:data:`sql_stats._ODD_VALUES`), found before anything
    is written."""


class _Figures:
    """Every figure of the answer but the jobs.csv rows, computed on the workers while this
    thread reads the rows (on this thread first with no worker).  Two workers' shares, each in
    this order, about even: 1M jobs, CPU ~5 s each (the counts of instances ~1.3 s, of tasks
    ~1.4, cumulative times ~0.4, the jobs' time tables ~2.0 | the breakdown ~2.5, the
    invocations' time tables ~2.5)."""

    def __init__(self, work: _Work, conn, tree, tz, runtime: tuple):
        self.tree = tree
        self.tz = tz
        self.hosts = {h: S._text(name) for h, name in conn.execute("SELECT host_id, hostname FROM host")}
        self.states = S._wf_states(conn, tree)
        self.integrity = S._integrity(conn, tree)
        self.parts = {
            "counts": work.submit(0, _counts, tree),
            "breakdown": work.submit(1, S._breakdown, tree, runtime),
            "invocation_hours": work.submit(1, S._invocation_hours, tree, self.hosts),
            "cum": work.submit(0, S._cumulative, tree, runtime),
            "execute_hours": work.submit(0, S._execute_hours, tree, self.hosts),
        }
        if len(tree.ids) > 1:
            self.parts["jobs"] = work.submit(0, _wf_job_counts, tree)
        self._texts: tuple | None = None

    def done(self) -> bool:
        return all(f.done() for f in self.parts.values())

    def texts(self) -> tuple:
        """(the answer's text up to the rows' ``{``, and from after their ``}``), waiting for the
        figures.  Raises :class:`_Unusable`."""
        if self._texts is None:
            try:
                self._texts = self._make()
            except S._ODD_VALUES as exc:
                raise _Unusable(exc) from exc
        return self._texts

    def _make(self) -> tuple:
        p = {k: f.result() for k, f in self.parts.items()}
        tree, tz = self.tree, self.tz
        (jobs, subs, side), tc = p["counts"]
        top = tree.top
        zero = (0, 0, 0, 0)
        jc = p["jobs"] if len(tree.ids) > 1 else {(top, False): jobs, (top, True): subs}
        summary = S._summary(tree, self.states, S._sum_counts(tc.get(w, zero) for w in tree.ids),
                             S._sum_counts(jc.get((w, False), zero) for w in tree.ids),
                             S._sum_counts(jc.get((w, True), zero) for w in tree.ids), p["cum"], side)
        every = {k: summary[k] for k in ("tasks", "jobs", "sub_workflows", "workflow_retries")}
        if len(tree.ids) == 1:
            workflows = [{"wf_uuid": tree.uuid[top], "label": tree.label[top], **every}]
        else:
            workflows = [{
                "wf_uuid": tree.uuid[w], "label": tree.label[w],
                "tasks": S._counts(*tc.get(w, zero)),
                "jobs": S._counts(*jc.get((w, False), zero)),
                "sub_workflows": S._counts(*jc.get((w, True), zero)),
                "workflow_retries": S._retries(self.states, [w]),
            } for w in tree.ids]
        workflows.append({"wf_uuid": "ALL", "label": None, **every})
        head = S.json_units({"summary": summary, "workflows": workflows, "breakdown": p["breakdown"]})
        t = {**p["invocation_hours"], **p["execute_hours"]}
        tail = {"per_host": {"jobs": by_day(t["hj"], tz), "invocations": by_day(t["hi"], tz)},
                "per_day": {"jobs": by_day(t["dj"], tz), "invocations": by_day(t["di"], tz)},
                "integrity": self.integrity}
        mark = dumps(_SENTINEL)
        text = dumps({**head, "jobs": _SENTINEL})
        head_text = text[:text.index(mark)]
        text = dumps({"jobs": _SENTINEL, **tail})
        return head_text, text[text.index(mark) + len(mark):]


def _counts(conn, tree) -> tuple:
    """(sql_stats' counts of the instances, of the tasks), with one list of the retried instances."""
    retried = S._retried_ids(conn)
    return S._tree_instances(conn, tree, retried), S._task_counts(conn, tree, retried)


class _Held:
    """``out`` for the rows, holding what they write until the figures before them are known
    (:class:`_Figures`), then writing those, what was held, and the rest as it comes.  Past
    :data:`_HOLD_CHARS` what is held goes to a temporary file, not this process's memory."""

    def __init__(self, out, figures: _Figures):
        self.out = out
        self.figures = figures
        self.held: list[str] | None = []
        self.size = 0
        self.file: IO[bytes] | None = None
        self.tail = ""

    def write(self, text: str) -> None:
        if self.held is None:
            self.out.write(text)
            return
        self.held.append(text)
        self.size += len(text)
        if self.figures.done():
            self._release()
        elif self.size >= _HOLD_CHARS:
            self._spill()

    def finish(self) -> None:
        """The rest: the figures' text after the rows (waiting for them)."""
        if self.held is not None:
            self._release()
        self.out.write(self.tail)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def _spill(self) -> None:
        if self.file is None:
            try:
                # unbuffered: what a failed write leaves is known, and cut off
                self.file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115  (open across writes: close() closes it)
            except OSError:  # nowhere to put it: the figures are waited for
                self._release()
                return
        at = self.file.tell()
        data = memoryview("".join(self.held or ()).encode("utf-8", "surrogatepass"))
        try:
            while data:
                data = data[self.file.write(data) or 0:]
        except OSError:  # no room left there: back to what it held, and the figures are waited for
            self.file.seek(at)
            self.file.truncate()
            self._release()
            return
        self.held = []
        self.size = 0

    def _release(self) -> None:
        head, self.tail = self.figures.texts()
        out = self.out
        out.write(head)
        if self.file is not None:
            self.file.seek(0)
            text = codecs.getincrementaldecoder("utf-8")("surrogatepass")  # a piece may end inside a character
            while chunk := self.file.read(_COPY_BYTES):
                out.write(text.decode(chunk))
            out.write(text.decode(b"", final=True))
            self.close()
        out.write("".join(self.held or ()))
        self.held = None


# What the rows hold in memory before the figures are known (characters: ASCII mostly, a
# byte each), and the pieces the rest is copied back in from its file.
_HOLD_CHARS = 8 << 20
_COPY_BYTES = 1 << 20


def _wf_job_counts(conn, tree) -> dict:
    """{(wf_id, is_subwf): (succeeded, failed, total, retries)} per workflow of the tree: one
    pass over the instances with their job (the retried instances from sql_stats' list)."""
    acc = {k: [0, 0, n, 0] for k, n in S._job_totals(conn, tree).items()}
    for wf_id, sub, ok, bad, retried in conn.execute(f"""
            SELECT j.wf_id, CASE WHEN j.type_desc IN {S.SUBWF} THEN 1 ELSE 0 END,
                   sum(CASE WHEN r = 0 AND ji.exitcode = 0 THEN 1 ELSE 0 END),
                   sum(CASE WHEN r = 0 AND ji.exitcode <> 0 THEN 1 ELSE 0 END), sum(r)
            FROM (SELECT job_id, exitcode, CASE WHEN job_instance_id IN ({S._RETRIED}) THEN 1 ELSE 0 END AS r
                  FROM job_instance) AS ji
            JOIN job j ON j.job_id = ji.job_id
            WHERE {tree.where('j.wf_id')}
            GROUP BY 1, 2"""):
        a = acc[(wf_id, bool(sub))]
        a[0], a[1], a[3] = ok, bad, retried
    return {k: tuple(v) for k, v in acc.items()}


# One instance's jobs.csv figures come from three statements, each one ordered pass over its
# table (no join between them, no sort of the rows, no correlated subquery) merged here on the
# instance id: the instances with their job's name; the jobstate aggregates (sql_stats'
# _JS_SQL, a scan of jobstate's primary-key index, which is in instance order); the invocation
# aggregates (_INV_SQL, a scan of invocation's (job_instance_id, task_submit_seq) index).  The
# same figures as the single statement below, which joined them through automatic indexes and
# sorted its result (100k jobs: ~1.0 s of CPU against ~0.6 s for the three passes).
# pegasus-statistics' order is (job_submit_seq, job_instance_id) within a workflow: instance-id
# order is that order when a workflow's job_submit_seq never goes down along the instance ids,
# which is how monitord inserts them (every DB here); a DB where it does gets the single
# statement (_ROWS_SQL), which sorts.
_INSTANCES_SQL = """
SELECT ji.job_instance_id, j.exec_job_id, ji.job_submit_seq, ji.site, ji.multiplier_factor,
       CAST(ji.local_duration AS REAL), CAST(ji.cluster_duration AS REAL), ji.host_id, ji.job_id
FROM job_instance ji CROSS JOIN job j ON j.job_id = ji.job_id  -- CROSS: scan the instances, look their job up
WHERE j.wf_id = ?
ORDER BY ji.job_instance_id"""
# One workflow's instances among others': its jobs through the (wf_id, exec_job_id) index, their
# instances through (job_id, job_submit_seq), sorted (3 workflows of 33k jobs: 0.04 s of CPU
# each, against 0.12 s for a scan of every instance).
_WF_INSTANCES_SQL = _INSTANCES_SQL.replace(
    "FROM job_instance ji CROSS JOIN job j ON j.job_id = ji.job_id  -- CROSS: scan the instances, look their job up",
    "FROM job j JOIN job_instance ji ON ji.job_id = j.job_id")
assert _WF_INSTANCES_SQL != _INSTANCES_SQL


def _from_instance(sql: str) -> str:
    """An instances' statement from the instance after a given one on (text that is not UTF-8
    read again from there: _instances_of)."""
    return sql.replace("WHERE j.wf_id = ?", "WHERE j.wf_id = ? AND ji.job_instance_id > ?")

# a job's try is its rank among its instances by job_submit_seq: 1 unless it has several
_MULTI_SQL = "SELECT job_id FROM job_instance GROUP BY job_id HAVING count(*) > 1"

# The single statement: its job's name, its try (its rank among its job's instances
# by job_submit_seq: 1 unless the job has several), DAGMan's figures, and the jobstate and
# invocation aggregates of sql_stats' jobs.csv queries, joined in SQL (SQLite materializes
# them with an index on the instance id), in pegasus-statistics' order.
_ROWS_SQL = """
WITH js(jiid, post, queued, resource) AS ({js}),
     inv(jiid, kick, cpu, code) AS ({inv})
SELECT j.exec_job_id, ji.job_submit_seq, ji.site, ji.multiplier_factor,
       CAST(ji.local_duration AS REAL), CAST(ji.cluster_duration AS REAL), ji.host_id,
       CASE WHEN ji.job_id IN (SELECT job_id FROM job_instance GROUP BY job_id HAVING count(*) > 1)
            THEN (SELECT count(*) FROM job_instance k
                  WHERE k.job_id = ji.job_id AND k.job_submit_seq <= ji.job_submit_seq)
            ELSE 1 END,
       js.post, js.queued, js.resource, inv.kick, inv.cpu, inv.code
FROM job_instance ji CROSS JOIN job j ON j.job_id = ji.job_id
LEFT JOIN js ON js.jiid = ji.job_instance_id
LEFT JOIN inv ON inv.jiid = ji.job_instance_id
WHERE j.wf_id = ?
ORDER BY ji.job_submit_seq, ji.job_instance_id"""


class _Rows:
    """What the jobs.csv rows need before their first: whether the instances are in submit
    order (else :func:`_write_jobs_sorted`), the jobs with several instances, the statements,
    and the first workflow's aggregates already being read by feeds, when there are.

    All of a DB in one workflow: each statement one pass over its table.  Several workflows
    (or one of several): each workflow's statements read its own instances, through the
    indexes, not every workflow's rows once per workflow (a 100k-job run in 3 sub-workflows:
    CPU 6.2 -> 3.3 s, the same output)."""

    def __init__(self, conn, tree, hosts: dict, work: _Work):
        self.hosts = hosts
        self.in_order = _in_submit_order(conn, tree)
        self.first = None
        if not self.in_order:
            return
        self.multi = {job_id: 0 for (job_id,) in conn.execute(_MULTI_SQL)}
        self.tree = tree
        self.whole = tree.everything and len(tree.ids) == 1
        self.work = work
        self.first = self.feeds(tree.ids[0], _AHEAD)  # started now, beside the figures

    def statements(self, w) -> tuple:
        """Workflow ``w``'s (jobstate aggregates, invocation aggregates, instances) statements,
        the instances' with ``w`` for a parameter."""
        tree = self.tree
        if self.whole:
            js_where, inv_where, inst = "1", "1", _INSTANCES_SQL
        else:
            mine = ("job_instance_id IN (SELECT ji.job_instance_id FROM job_instance ji "
                    f"JOIN job j ON j.job_id = ji.job_id WHERE j.wf_id = {int(w)})")
            # the + keeps SQLite on the (job_instance_id, task_submit_seq) index, in sql_stats'
            # order within an instance (the wf_id index would sort them into the table's)
            js_where, inv_where, inst = mine, f"{mine} AND +{tree.where('wf_id')}", _WF_INSTANCES_SQL
        return S._sql(S._JS_SQL.format(where=js_where)), S._sql(S._INV_SQL.format(where=inv_where)), inst

    def feeds(self, w, ahead: int = 4) -> tuple:
        """(workflow ``w``'s jobstate aggregates' feed, its invocations'); None for one with
        no worker."""
        js_sql, inv_sql, _ = self.statements(w)
        return self.work.feed(0, js_sql, ahead), self.work.feed(1, inv_sql, ahead)


def _write_jobs(conn, tree, out, rows_of: _Rows, text) -> None:
    """``"jobs": {wf_uuid: [rows]}`` as dumps would indent it inside the answer (rows at 6).
    The jobstate and invocation aggregates are read on the workers when there are."""
    if not rows_of.in_order:
        conn.text_factory = text  # the one statement reads the names too: U+FFFD from the start
        _write_jobs_sorted(conn, tree, out, rows_of.hosts)
        return
    if rows_of.whole:
        # each of the rows' statements reads its table once, in order, here when there is no
        # feed: a feed's page cache will do (1M jobs, peak RSS: 158 MB with the summary's)
        conn.execute(f"PRAGMA cache_size = -{_FEED_CACHE_KIB}")
    out.write("{")
    for n_wf, w in enumerate(tree.ids):
        out.write(("," if n_wf else "") + "\n    " + dumps(tree.uuid[w]) + ": [")
        bound_work(conn, _FIRST_ROW_SECONDS)
        first = True
        feeds = rows_of.first if n_wf == 0 else rows_of.feeds(w)
        # closed however this ends (a write that fails: a closed pipe): the workers are then stopped
        with closing(_rows(conn, w, rows_of, feeds, text)) as rows:
            for batch in rows:
                out.write(("\n" if first else ",\n") + _indented(batch))
                first = False
                bound_work(conn, MAX_STATEMENT_SECONDS)  # rows are coming: a new bound from now
        out.write("]" if first else "\n    ]")
    bound_work(conn)
    out.write("\n  }" if tree.ids else "}")


def _another(r):
    """A third connection reading what ``r``'s two read (as :meth:`_Reader.second`: a rollback
    journal, and ``r``'s shared lock held, so nobody has committed since), or None."""
    try:
        c = S._connect(r.path, busy=0.05, text=r.text)
    except (*SQL_ERRORS, S.StatsDbError):
        return None
    try:
        c.execute("BEGIN")
        c.execute("SELECT count(*) FROM workflow").fetchone()
        S._lean(c)
    except SQL_ERRORS:
        c.close()
        return None
    return c


def _in_submit_order(conn, tree) -> bool:
    """Whether each workflow's instances in instance-id order are in job_submit_seq order (ties
    are then in instance-id order too).  A workflow alone, all of the DB: every instance, an
    orphan too (stricter, and no join); 100k jobs: ~0.05 s.  A job_submit_seq that is not a
    number (SQLite keeps what it is given) is not in order: SQL sorts such values."""
    try:
        return _submit_order(conn, tree)
    except TypeError:
        return False


def _submit_order(conn, tree) -> bool:
    if tree.everything and len(tree.ids) == 1:
        cur = conn.execute("SELECT job_submit_seq FROM job_instance ORDER BY job_instance_id")
        last = None
        while chunk := cur.fetchmany(_BATCH * 5):
            seqs = [r[0] for r in chunk]
            if last is not None and seqs[0] < last or not all(map(le, seqs, islice(seqs, 1, None))):
                return False
            last = seqs[-1]
        return True
    last_of: dict = {}
    for wf_id, seq in conn.execute(f"""
            SELECT j.wf_id, ji.job_submit_seq FROM job_instance ji CROSS JOIN job j ON j.job_id = ji.job_id
            WHERE {tree.where('j.wf_id')} ORDER BY ji.job_instance_id"""):
        if seq < last_of.get(wf_id, seq):
            return False
        last_of[wf_id] = seq
    return True


def _rows(conn, w, rows_of: _Rows, feeds: tuple, text):
    """Workflow ``w``'s jobs.csv rows in batches of dicts: its instances in instance-id order,
    each with its jobstate and invocation aggregates (merged on the instance id, the three
    streams in that order).  The aggregates are read by the workers' feeds when there are;
    this thread reads the instances and makes the dicts (100k jobs, CPU: jobstate ~0.34 s,
    invocations ~0.22 s, instances ~0.17 s, the dicts and their text ~0.25 s)."""
    js_feed, inv_feed = feeds
    js_sql, inv_sql, inst_sql = rows_of.statements(w)
    try:
        js_rows = js_feed.rows() if js_feed is not None else conn.execute(js_sql)
        inv_rows = inv_feed.rows() if inv_feed is not None else conn.execute(inv_sql)
        yield from _merged(_instances_of(conn, w, inst_sql, text), js_rows, inv_rows, rows_of.hosts, rows_of.multi)
    finally:
        for feed in (js_feed, inv_feed):
            if feed is not None:
                feed.close()


def _instances_of(conn, w, sql: str, text):
    """The rows of ``sql`` (_INSTANCES_SQL or _WF_INSTANCES_SQL) for workflow ``w``.  Text that
    is not UTF-8 (sqlite3's decoding raises on it) is read with ``text`` from that row on: the
    rows before it are out already."""
    cur = conn.execute(sql, (w,))
    last = None
    while True:
        try:
            for row in cur:
                last = row[0]
                yield row
            return
        except sqlite3.OperationalError as exc:
            if conn.text_factory is text or not str(exc).startswith("Could not decode"):
                raise
            conn.text_factory = text
            cur = conn.execute(sql, (w,)) if last is None else conn.execute(_from_instance(sql), (w, last))


def _merged(instances, js_rows, inv_rows, hosts: dict, multi: dict):
    text = S._text
    host_get = hosts.get
    js, inv = _by_id(js_rows), _by_id(inv_rows)
    no = (None,) * 4
    js_row = next(js, None) or no
    inv_row = next(inv, None) or no
    batch: list[dict] = []
    for jiid, name, seq, site, mult, ldur, cdur, host_id, job_id in instances:
        # the aggregates of instances not of this workflow (another's, an orphan's) are passed
        while js_row[0] is not None and js_row[0] < jiid:
            js_row = next(js, None) or no
        while inv_row[0] is not None and inv_row[0] < jiid:
            inv_row = next(inv, None) or no
        _, post, queued, resource = js_row if js_row[0] == jiid else no
        _, kick, cpu, code = inv_row if inv_row[0] == jiid else no
        if type(name) is not str or not name.isprintable():
            name = text(name)
        if type(site) is not str or not site.isprintable():
            site = text(site)
        if job_id in multi:  # rows in job_submit_seq order: the instances of its job so far
            n = multi[job_id] = multi[job_id] + 1
        else:
            n = 1
        batch.append({
            "job_id": name, "try": n, "job_inst_id": seq, "site": site, "kickstart": kick, "multiplier": mult,
            "kickstart_mult": None if kick is None else kick * mult, "cpu_time": cpu, "post": post,
            "condor_q_time": queued, "resource": resource, "runtime": ldur, "seqexec": cdur,
            "seqexec_delay": None if cdur is None or kick is None else cdur - kick, "exitcode": code,
            "host": host_get(host_id),
        })
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class _Feed:
    """A statement's rows read on the worker's connection, handed over in batches (a few held
    at a time)."""

    def __init__(self, pool, conn, sql: str, ahead: int = 4):
        self.queue: Queue = Queue(maxsize=ahead)
        self.stop = Event()
        self.conn = conn
        self.future = pool.submit(self._run, sql)

    def _run(self, sql: str) -> None:
        try:
            bound_work(self.conn, _FIRST_ROW_SECONDS)
            cur = self.conn.execute(sql)
            while not self.stop.is_set():
                batch = cur.fetchmany(_BATCH)
                bound_work(self.conn, MAX_STATEMENT_SECONDS)  # rows are coming: a new bound from now
                self._put(batch)
                if not batch:
                    break
            cur.close()
        except BaseException as exc:  # told to the reader, in its thread
            self._put(exc)
        finally:
            bound_work(self.conn)

    def _put(self, item) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except Full:
                pass

    def rows(self):
        while True:
            item = self.queue.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield from item

    def close(self) -> None:
        """The worker is done with its connection when this returns (at most a batch more)."""
        self.stop.set()
        try:
            self.future.result()
        except BaseException:  # already told through the queue, or nobody is reading any more
            pass


def _by_id(cursor):
    """The aggregates' rows whose instance id is a number, in order: SQLite keeps what a cell
    is given, and sorts text and BLOBs after every number (no instance has such an id, so
    the rows from there on are nobody's; a NULL, first, neither)."""
    for row in cursor:
        t = type(row[0])
        if t is int or t is float:
            yield row
        elif row[0] is not None:
            return


def _indented(batch: list) -> str:
    """The rows as dumps writes them at 6 spaces, joined by ",\\n": one dumps for the batch,
    put as deep as the rows are in the answer, and cut out of it (100k rows: ~0.12 s of CPU
    against ~0.3 s a row at a time, and ~0.08 s more for indenting a shallower dumps' lines);
    row by row when a row needs json's answer (an integer past 64 bits), so that the other
    rows keep orjson's text."""
    try:
        import orjson

        text = orjson.dumps({"": {"": batch}}, option=orjson.OPT_INDENT_2)
    except (ImportError, TypeError):
        return ",\n".join("      " + dumps(row).replace("\n", "\n      ") for row in batch)
    return text[_DEEP_HEAD:-_DEEP_TAIL].decode()


# '{\n  "": {\n    "": [\n' before the rows, '\n    ]\n  }\n}' after them
_DEEP_HEAD = len('{\n  "": {\n    "": [\n')
_DEEP_TAIL = len('\n    ]\n  }\n}')


def _write_jobs_sorted(conn, tree, out, hosts: dict) -> None:
    """_write_jobs with the rows of _ROWS_SQL, which sorts them."""
    host_get = hosts.get
    text = S._text
    sql = _ROWS_SQL.format(js=S._sql(S._JS_SQL.format(where=tree.inst_where("job_instance_id"))),
                           inv=S._sql(S._INV_SQL.format(where=tree.where("wf_id"))))
    out.write("{")
    for n_wf, w in enumerate(tree.ids):
        out.write(("," if n_wf else "") + "\n    " + dumps(tree.uuid[w]) + ": [")
        batch: list[str] = []
        first = True
        bound_work(conn, _FIRST_ROW_SECONDS)
        for name, seq, site, mult, ldur, cdur, host_id, n, post, queued, resource, kick, cpu, code in conn.execute(
                sql, (w,)):
            if type(name) is not str or not name.isprintable():
                name = text(name)
            if type(site) is not str or not site.isprintable():
                site = text(site)
            row = {
                "job_id": name, "try": n, "job_inst_id": seq, "site": site, "kickstart": kick, "multiplier": mult,
                "kickstart_mult": None if kick is None else kick * mult, "cpu_time": cpu, "post": post,
                "condor_q_time": queued, "resource": resource, "runtime": ldur, "seqexec": cdur,
                "seqexec_delay": None if cdur is None or kick is None else cdur - kick, "exitcode": code,
                "host": host_get(host_id),
            }
            batch.append(("\n      " if first else ",\n      ") + dumps(row).replace("\n", "\n      "))
            first = False
            if len(batch) >= _BATCH:
                out.write("".join(batch))
                batch.clear()
                bound_work(conn, MAX_STATEMENT_SECONDS)  # rows are coming: a new bound from now
        out.write("".join(batch))
        out.write("]" if first else "\n    ]")
    bound_work(conn)
    out.write("\n  }" if tree.ids else "}")

