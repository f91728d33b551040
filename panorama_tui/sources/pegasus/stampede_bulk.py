"""A big Stampede DB opened in bulk (issue #14): each job's current state by set-based SQL.

The incremental read turns every row back into an event (7 jobstate rows, 2 invocations,
a task and a job a job: 1.4M events at 100k jobs) for the store to apply one by one.
Opening a big DB, this reads instead, a slice of ``BULK_JOBS`` jobs at a time (one short
read transaction each, so monitord's commits never wait long):

* the jobs (id, type, retries allowed, the transformation its latest task invocation or its
  ``-n`` names),
* all their instances, each with what the screen needs of its states, computed in the
  database: the latest state (a window function), the first EXECUTE and the first end
  (conditional aggregates), flags for the rare states a view asks about (held, removed,
  a POST script's end), whose rows are then read,
* the highest non-zero exit status of an instance's task invocations (the main job's
  status once a POST script has overwritten the row's, as the incremental read says),

and hands each slice on as one ``stampede.bulk`` event of plain rows, which the store's
bulk handler turns into jobs and tries directly.  What it leaves out (every state, the
invocations, stdout/stderr, argv, the tasks) is a job's history: read on demand for the job
a user opens (:func:`panorama_tui.sources.pegasus.stampede_db.StampedeDbSource.history_events`),
and at once for the jobs whose latest try failed (the Failures panel lists them).

Only rows up to the tables' highest rowids at the first slice (``limits``) are read in
bulk; the incremental read then goes on from there, so a run that moves on while a big DB
loads loses nothing and reads nothing twice.

The SQL is plain (a window function, CASE aggregates, IN subqueries): SQLite >= 3.25,
PostgreSQL, MySQL 8 / MariaDB 10.2 all run it.
"""

from __future__ import annotations

from ...core.events import PLACEHOLDER_STATES, Event, to_epoch
from ...core.stampede import SUBWF_TYPES

#: Jobs a slice (one read transaction, one event): ~40 ms for the store to apply on this
#: 2-core machine, so a key waits at most that long for the store's lock.
BULK_JOBS = 5000
#: The incremental read is cheaper for a small DB (its events carry the whole history).
BULK_MIN_JOBS = 20_000
BULK_EVENT = "stampede.bulk"
HISTORY_EVENT = "stampede.bulk.history"  # after a job's history: it is whole

_END_STATES = ("JOB_TERMINATED", "JOB_EVICTED", "JOB_SUCCESS", "JOB_FAILURE", "JOB_ABORTED")
_MAIN_END = ("JOB_SUCCESS", "JOB_FAILURE")
_POST_END = ("POST_SCRIPT_SUCCESS", "POST_SCRIPT_FAILED")
# States a view asks about besides the latest (held jobs, removed tries, a POST script's
# end without its status): their rows are read for the instances that have them.
_RARE = ("JOB_HELD", *sorted(PLACEHOLDER_STATES), *_POST_END)
# A latest state that means the try failed: its job's history is read at once.
FAILED_LATEST = frozenset({"JOB_FAILURE", "POST_SCRIPT_FAILED", "PRE_SCRIPT_FAILED", *PLACEHOLDER_STATES})


def _in(names) -> str:
    return "(" + ", ".join(f"'{n}'" for n in names) + ")"


_JOBS_SQL = """SELECT job_id, wf_id, exec_job_id, type_desc, clustered, max_retries, argv FROM job
WHERE job_id BETWEEN :lo AND :hi AND job_id <= :job_max ORDER BY job_id"""

_INSTANCES_OF = """SELECT job_instance_id FROM job_instance
WHERE job_id BETWEEN :lo AND :hi AND job_id <= :job_max AND job_instance_id <= :ji_max"""

_INSTANCES_SQL = f"""SELECT job_instance_id, job_id, job_submit_seq, sched_id, site, user, local_duration,
cluster_duration, multiplier_factor, exitcode, subwf_id, host_id FROM job_instance
WHERE job_instance_id IN ({_INSTANCES_OF}) ORDER BY job_instance_id"""

_STATES_SQL = f"""SELECT s.job_instance_id,
  min(CASE WHEN s.state = 'EXECUTE' THEN s.timestamp END),
  min(CASE WHEN s.state IN {_in(_END_STATES)} THEN s.timestamp END),
  max(CASE WHEN s.state IN {_in(_RARE)} THEN 1 ELSE 0 END),
  max(CASE WHEN s.state IN {_in(_MAIN_END)} THEN 1 ELSE 0 END),
  max(CASE WHEN s.state IN {_in(_POST_END)} THEN 1 ELSE 0 END),
  max(CASE WHEN s.state = 'JOB_SUCCESS' THEN 1 ELSE 0 END){{js_bits}}
FROM jobstate s WHERE s.job_instance_id IN ({_INSTANCES_OF}) AND s.rowid <= :js_max
GROUP BY s.job_instance_id"""

# For a jobstate.log overlay: which js_ids the DB has of each instance, as a bit mask
# (StampedeDbSource.js_seen; a js_id past 61 is left out, as a lost bit only repeats a state).
_JS_BITS = """,
  sum(DISTINCT CASE WHEN s.jobstate_submit_seq BETWEEN 0 AND 61 THEN 1 << s.jobstate_submit_seq END)"""

# Ties broken as the incremental read's arrival order breaks them: the later row wins.
_LATEST_SQL = f"""SELECT job_instance_id, state, timestamp, jobstate_submit_seq, reason FROM (
  SELECT s.job_instance_id, s.state, s.timestamp, s.jobstate_submit_seq, s.reason,
         ROW_NUMBER() OVER (PARTITION BY s.job_instance_id
                            ORDER BY s.timestamp DESC, s.jobstate_submit_seq DESC, s.rowid DESC) AS rn
  FROM jobstate s WHERE s.job_instance_id IN ({_INSTANCES_OF}) AND s.rowid <= :js_max) t
WHERE rn = 1"""

_RARE_SQL = """SELECT job_instance_id, state, timestamp, jobstate_submit_seq, reason FROM jobstate
WHERE job_instance_id IN ({ids}) AND state IN {rare} AND rowid <= :js_max ORDER BY rowid"""

# The latest instance's first task invocation names the job (the incremental read's
# order of preference after the planned task); and the highest non-zero task status.
_INVOCATIONS_SQL = f"""SELECT job_instance_id, task_submit_seq, transformation, exitcode FROM invocation
WHERE job_instance_id IN ({_INSTANCES_OF}) AND task_submit_seq >= 0 AND invocation_id <= :inv_max"""


def limits(conn) -> dict:
    """The highest rowid of each table the bulk read covers: rows past them are the
    incremental read's."""
    out = {}
    for table, key in (("job", "job_max"), ("job_instance", "ji_max"), ("jobstate", "js_max"),
                       ("invocation", "inv_max"), ("task", "task_max")):
        out[key] = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    lo = conn.execute("SELECT min(job_id) FROM job").fetchone()[0]
    out["next"] = lo if lo is not None else 1
    lo = conn.execute("SELECT min(task_id) FROM task").fetchone()[0]
    out["task_next"] = lo if lo is not None else 1
    return out


def jobs_left(lim: dict) -> bool:
    return lim["next"] <= lim["job_max"]


def tasks_left(lim: dict) -> bool:
    return lim["task_next"] <= lim["task_max"]


def _argv_role(argv) -> str | None:
    """kickstart's ``-n`` names an auxiliary job's role (the incremental path's last resort)."""
    if isinstance(argv, str) and " -n " in argv:
        return argv.split(" -n ", 1)[1].split()[0] or None
    return None


def read_slice(src, conn, lim: dict) -> tuple[list[Event], list[int]]:
    """The next slice of jobs as one bulk event (maybe none), and the DB ids of its
    jobs whose latest try failed.  Moves ``lim["next"]`` on."""
    lo = lim["next"]
    hi = lo + BULK_JOBS - 1
    lim["next"] = hi + 1
    p = {"lo": lo, "hi": hi, **{k: v for k, v in lim.items() if k.endswith("_max")}}
    fetch = src._fetch
    uuids: list[str] = []
    wf_index: dict[str, int] = {}
    jobs_out: list[tuple] = []
    job_at: dict[int, int] = {}  # DB job_id -> index in jobs_out
    for job_id, wf_id, exec_id, tdesc, clustered, maxr, argv in fetch(conn, _JOBS_SQL, p):
        uuid = src._wf.get(wf_id)
        if uuid is None:
            if wf_id not in src._wf_skip:
                src._skip("job", job_id, f"its workflow {wf_id} is not in the DB")
            src._job_skip.add(job_id)
            continue
        wi = wf_index.get(uuid)
        if wi is None:
            wi = wf_index[uuid] = len(uuids)
            uuids.append(uuid)
        src._job[job_id] = (uuid, exec_id, tdesc)
        job_at[job_id] = len(jobs_out)
        jobs_out.append([wi, exec_id, tdesc, clustered, maxr, _argv_role(argv), job_id])
    if not jobs_out:
        return [], []
    aggs = {r[0]: r[1:] for r in fetch(conn, _STATES_SQL.format(js_bits=_JS_BITS if src.track_js else ""), p)}
    latest = {r[0]: r[1:] for r in fetch(conn, _LATEST_SQL, p)}
    # name: the lowest task invocation of the highest try; status: the highest non-zero
    names: dict[int, tuple] = {}
    inv_ec: dict[int, int] = {}
    for jiid, tseq, xform, ec in fetch(conn, _INVOCATIONS_SQL, p):
        if xform and (jiid not in names or tseq < names[jiid][0]):
            names[jiid] = (tseq, xform)
        if ec and ec > inv_ec.get(jiid, 0):
            inv_ec[jiid] = ec
    rare_ids = [jiid for jiid, a in aggs.items() if a[2]]
    rare: dict[int, list] = {}
    for i in range(0, len(rare_ids), 500):
        part = rare_ids[i : i + 500]
        sql = _RARE_SQL.format(ids=",".join(map(str, part)), rare=_in(_RARE))
        for jiid, state, ts, js, reason in fetch(conn, sql, p):
            ts = to_epoch(ts)
            if ts is not None:
                rare.setdefault(jiid, []).append((ts, js, state, reason))
    tries_out: list[tuple] = []
    failed: list[int] = []
    best_try: dict[int, tuple] = {}  # job index -> (seq, latest state) of its highest try
    try_of: dict[int, tuple] = {}  # jiid -> (job index, seq)
    named: dict[int, tuple] = {}
    hosts = src._hosts
    for (jiid, job_id, seq, sched_id, site, user, ldur, cdur, mult, ec, subwf_id, host_id) in fetch(
            conn, _INSTANCES_SQL, p):
        ji = job_at.get(job_id)
        if ji is None:
            src._ji_skip.add(jiid)
            continue
        uuid, exec_id, tdesc = src._job[job_id]
        src._ji[jiid] = (uuid, exec_id, seq, tdesc)
        try_of[jiid] = (ji, seq)
        agg = aggs.get(jiid)
        last = latest.get(jiid)
        start = end = None
        has_main = has_post = job_success = False
        if agg is not None:
            start, end = to_epoch(agg[0]), to_epoch(agg[1])
            has_main, has_post, job_success = bool(agg[3]), bool(agg[4]), bool(agg[5])
        state = ts = js = reason = None
        if last is not None:
            state, ts, js, reason = last[0], to_epoch(last[1]), last[2], last[3]
        # exit statuses as the incremental read gives them (StampedeDbSource._instance_events)
        if has_post:
            post_ec = ec
            main_ec = 0 if job_success else inv_ec.get(jiid)
        else:
            post_ec = None
            main_ec = ec if has_main else None
        h = hosts.get(host_id) if host_id is not None else None
        tries_out.append((ji, seq, sched_id, site, user, _float(ldur), _float(cdur), mult, main_ec, post_ec,
                          state, ts, js, reason, start, end, h[1] if h else None, h[2] if h else None,
                          h[0] if h else None, rare.get(jiid)))
        b = best_try.get(ji)
        if b is None or seq > b[0]:
            best_try[ji] = (seq, state)
        if src.track_js and agg is not None and agg[6]:
            key = (uuid, exec_id, seq)
            src.js_seen[key] = src.js_seen.get(key, 0) | agg[6]
        # what the incremental read would still wait for on a running DB
        if not has_post and jiid in inv_ec:  # the main job's status, should a POST script end later
            src._inv_ec[jiid] = inv_ec[jiid]
        if end is None and not has_post:
            src._reread[jiid] = 1
            if host_id is None:
                src._host_wait.add(jiid)
        if tdesc in SUBWF_TYPES:
            if subwf_id is None:
                src._subwf_wait.add(jiid)
            else:
                src._reread[jiid] = 1  # the mapping event comes from the instance's re-read
    # the job's name: its highest try's lowest task invocation, over all tries
    for jiid, (tseq, xform) in names.items():
        got = try_of.get(jiid)
        if got is not None:
            ji, seq = got
            k = (-seq, tseq)
            if ji not in named or k < named[ji][0]:
                named[ji] = (k, xform)
    for ji, (_, xform) in named.items():
        jobs_out[ji][5] = xform
    for ji, (_, state) in best_try.items():
        if state in FAILED_LATEST:
            failed.append(jobs_out[ji][6])
    for row in jobs_out:
        del row[6:]
    ev = Event(BULK_EVENT, None, {"event": BULK_EVENT, "xwf_ids": uuids, "jobs": jobs_out, "tries": tries_out})
    return [ev], failed


def _float(v):
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


_TASKS_SQL = """SELECT task_id, wf_id, job_id, abs_task_id, transformation, type_desc FROM task
WHERE task_id BETWEEN :lo AND :hi AND task_id <= :task_max ORDER BY task_id"""


def read_task_slice(src, conn, lim: dict) -> list[Event]:
    """The next ``2 * BULK_JOBS`` tasks (after every job: a task names its job) as one
    bulk event of ``tasks`` rows; their arguments are history.  A task whose job is
    not read yet waits, as in the incremental read, for its job."""
    lo = lim["task_next"]
    hi = lo + 2 * BULK_JOBS - 1
    lim["task_next"] = hi + 1
    uuids: list[str] = []
    wf_index: dict[str, int] = {}
    out: list[tuple] = []
    for task_id, wf_id, job_id, abs_id, xform, tdesc in src._fetch(
            conn, _TASKS_SQL, {"lo": lo, "hi": hi, "task_max": lim["task_max"]}):
        uuid = src._wf.get(wf_id)
        if uuid is None:
            continue
        wi = wf_index.get(uuid)
        if wi is None:
            wi = wf_index[uuid] = len(uuids)
            uuids.append(uuid)
        job = src._job.get(job_id) if job_id is not None else None
        if job is None:
            src._unmapped[task_id] = (uuid, abs_id)
        out.append((wi, abs_id, xform, tdesc, job[1] if job is not None else None))
    if not out:
        return []
    return [Event(BULK_EVENT, None, {"event": BULK_EVENT, "xwf_ids": uuids, "tasks": out})]
