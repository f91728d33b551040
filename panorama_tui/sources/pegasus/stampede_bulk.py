"""A big Stampede DB opened in bulk (issue #14): each job's current state by set-based SQL.

The incremental read turns every row back into an event (7 jobstate rows, 2 invocations,
a task and a job a job: 1.4M events at 100k jobs) for the store to apply one by one.
Opening a big DB, this reads instead, in three phases, each a slice at a time (one short
read transaction each, so monitord's commits never wait long):

1. the jobs (``JOB_SLICE`` a read): the rows appear at once, waiting, in the DB's order;
2. the tasks (their names): the transformation column fills in;
3. the instances (``INSTANCE_SLICE`` a read, by id: contiguous ranges of every table's
   primary key), each with what the screen needs of its states, computed in the database
   in one grouped pass: the latest state (the row at the highest time, ties by the highest
   ``jobstate_submit_seq``), the first EXECUTE and the first end, flags for the rare
   states a view asks about (held, removed, a POST script's end, whose rows are then read).

Each slice goes on as one ``stampede.bulk`` event of plain rows, which the store's bulk
handler turns into jobs and tries directly.  What it leaves out (every state, the
invocations, stdout/stderr, argv) is a job's history: read on demand for the job a user
opens (``StampedeDbSource.history_events``), and at the end for the jobs whose latest try
failed (the Failures panel lists them).

Only rows up to the tables' highest rowids at the first slice (``limits``) are read in
bulk; the incremental read then goes on from there, so a run that moves on while a big DB
loads loses nothing and reads nothing twice.

The SQL is plain (CASE aggregates, a grouped subquery joined back): SQLite, PostgreSQL,
MySQL / MariaDB all run it.  Measured per 5,000 instances on the generated 100k DB (2-core
machine, loaded): one grouped pass joined back 37 ms; the same with ROW_NUMBER() for the
latest state 74 ms (two queries); instance ids of a job range (IN a subquery) instead of
an id range, 1.5x more.
"""

from __future__ import annotations

from ...core.events import _LATEST_EPOCH as _EPOCH_HI
from ...core.events import _PLAUSIBLE_EPOCH as _EPOCH_LO
from ...core.events import PLACEHOLDER_STATES, Event, to_epoch
from ...core.stampede import SUBWF_TYPES

#: Rows a read: ~30-40 ms for the store to apply a slice on this 2-core machine, so a key
#: waits at most that long for the store's lock.
JOB_SLICE = 5000
TASK_SLICE = 10_000
INSTANCE_SLICE = 5000
# Rows a bulk event carries: a read's slice applied whole held the store lock ~70 ms at 5k
# instances (more with the reader's thread sharing the GIL), and a key pressed meanwhile
# waited for it; 1k rows hold it ~15 ms.
APPLY_ROWS = 1000
#: The incremental read is cheaper for a small DB (its events carry the whole history).
BULK_MIN_JOBS = 20_000
# From this many instances up the slices are read and shaped ahead by a child process
# (sources/read_ahead.py): its start (~0.1 s of a core, Python's own) is worth it only past a few.
PREFETCH_MIN = 50_000
SHAPER = f"{__name__}:SliceShaper"  # what the child shapes the slices with
# Rows of a slice between two looks at the screen (Source.breathe): 5,000 instances are ~50-80 ms
# of Python with their queries read ahead, which a key's frame would otherwise share the GIL with.
BREATHE_ROWS = 1000
BULK_EVENT = "stampede.bulk"
HISTORY_EVENT = "stampede.bulk.history"  # after a job's history: it is whole

_END_STATES = ("JOB_TERMINATED", "JOB_EVICTED", "JOB_SUCCESS", "JOB_FAILURE", "JOB_ABORTED")
_MAIN_END = ("JOB_SUCCESS", "JOB_FAILURE")
_POST_END = ("POST_SCRIPT_SUCCESS", "POST_SCRIPT_FAILED")
# States a view asks about besides the latest (held jobs, removed tries; a POST script's
# end when the row has no status): their rows are read for the instances that have them.
_FLAGGED = ("JOB_HELD", *sorted(PLACEHOLDER_STATES))
_RARE = (*_FLAGGED, *_POST_END)
# A latest state that means the try failed: its job's history is read at the end.
FAILED_LATEST = frozenset({"JOB_FAILURE", "POST_SCRIPT_FAILED", "PRE_SCRIPT_FAILED", *PLACEHOLDER_STATES})


def _in(names) -> str:
    return "(" + ", ".join(f"'{n}'" for n in names) + ")"


_JOBS_SQL = """SELECT job_id, wf_id, exec_job_id, type_desc, clustered, max_retries, task_count,
CASE WHEN argv LIKE '% -n %' THEN argv END FROM job
WHERE job_id BETWEEN :lo AND :hi AND job_id <= :job_max ORDER BY job_id"""

_TASKS_SQL = """SELECT task_id, wf_id, job_id, abs_task_id, transformation, type_desc FROM task
WHERE task_id BETWEEN :lo AND :hi AND task_id <= :task_max ORDER BY task_id"""

_INSTANCES_SQL = """SELECT job_instance_id, job_id, job_submit_seq, sched_id, site, user, local_duration,
cluster_duration, multiplier_factor, exitcode, subwf_id, host_id FROM job_instance
WHERE job_instance_id BETWEEN :lo AND :hi AND job_instance_id <= :ji_max ORDER BY job_instance_id"""

# For a jobstate.log overlay: which js_ids the DB has of each instance, as a bit mask
# (StampedeDbSource.js_seen; a js_id past 61 is left out: a lost bit only repeats a state).
_JS_BITS = """,
  sum(DISTINCT CASE WHEN jobstate_submit_seq BETWEEN 0 AND 61 THEN 1 << jobstate_submit_seq END) AS bits"""

# One grouped pass over the slice's states, joined back to the rows at the latest time.
# Which of the flagged states an instance has, as bits (a distinct bit a state: the sum of the
# distinct values is their OR): one CASE a row instead of four max(CASE) (the query 0.69 -> 0.62 s
# CPU over the 100k DB's 700k states).
_OK, _FAIL, _POST, _RARE_BIT = 1, 2, 4, 8
_MAIN = _OK | _FAIL

_STATES_SQL = f"""SELECT s.job_instance_id, s.state, s.timestamp, s.jobstate_submit_seq, s.reason, s.rowid,
  m.st, m.en, m.f{{bits}}
FROM (SELECT job_instance_id, max(timestamp) AS mt,
  min(CASE WHEN state = 'EXECUTE' THEN timestamp END) AS st,
  min(CASE WHEN state IN {_in(_END_STATES)} THEN timestamp END) AS en,
  sum(DISTINCT CASE WHEN state = 'JOB_SUCCESS' THEN {_OK} WHEN state = 'JOB_FAILURE' THEN {_FAIL}
    WHEN state IN {_in(_POST_END)} THEN {_POST} WHEN state IN {_in(_FLAGGED)} THEN {_RARE_BIT} ELSE 0 END) AS f{{js_bits}}
  FROM jobstate WHERE job_instance_id BETWEEN :lo AND :hi AND rowid <= :js_max GROUP BY job_instance_id) m
JOIN jobstate s ON s.job_instance_id = m.job_instance_id AND s.timestamp = m.mt AND s.rowid <= :js_max"""

_RARE_SQL = """SELECT job_instance_id, state, timestamp, jobstate_submit_seq, reason FROM jobstate
WHERE job_instance_id IN ({ids}) AND state IN {rare} AND rowid <= :js_max ORDER BY rowid"""

# A try's name when its job has no planned task (the lowest task invocation), and the
# highest non-zero task status (the main job's, once a POST script overwrote the row's).
_INVOCATIONS_SQL = """SELECT job_instance_id, task_submit_seq, transformation, exitcode FROM invocation
WHERE job_instance_id IN ({ids}) AND task_submit_seq >= 0 AND invocation_id <= :inv_max"""

_LATEST_TRIES_SQL = """SELECT job_id, max(job_submit_seq) FROM job_instance
WHERE job_id IN ({ids}) AND job_instance_id <= :ji_max GROUP BY job_id"""


def limits(conn) -> dict:
    """The highest rowid of each table the bulk read covers (rows past them are the
    incremental read's), and where each phase starts."""
    out: dict = {"phase": "jobs", "failed": {}, "no_task": set()}
    for table, key in (("job", "job_max"), ("job_instance", "ji_max"), ("jobstate", "js_max"),
                       ("invocation", "inv_max"), ("task", "task_max")):
        out[key] = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    for table, key in (("job", "jobs"), ("task", "tasks"), ("job_instance", "instances")):
        lo = conn.execute(f"SELECT min(rowid) FROM {table}").fetchone()[0]
        out[key] = lo if lo is not None else 1
    return out


def _params(lim: dict, lo: int, hi: int) -> dict:
    return {"lo": lo, "hi": hi, **{k: v for k, v in lim.items() if k.endswith("_max")}}


def _uuid_index(uuids: list, index: dict, uuid: str) -> int:
    wi = index.get(uuid)
    if wi is None:
        wi = index[uuid] = len(uuids)
        uuids.append(uuid)
    return wi


def _event(uuids: list, key: str, rows: list) -> list[Event]:
    """``rows`` as events of at most :data:`APPLY_ROWS` rows: each is applied under the store
    lock in one go (a batch of its own), so the screen waits at most that long for it."""
    return [Event(BULK_EVENT, None, {"event": BULK_EVENT, "xwf_ids": uuids, key: rows[i:i + APPLY_ROWS]})
            for i in range(0, len(rows), APPLY_ROWS)]


def step(src, conn, lim: dict) -> tuple[list[Event], list[int] | None]:
    """The next slice of the bulk read as events, and (once, at the end) the DB ids of the
    jobs whose latest try failed, else None; ``lim["phase"]`` is ``"done"`` after that."""
    phase = lim["phase"]
    if phase == "jobs":
        if lim["jobs"] > lim["job_max"]:
            lim["phase"] = "tasks"
            return [], None
        return _jobs(src, conn, lim), None
    if phase == "tasks":
        if lim["tasks"] > lim["task_max"]:
            lim["phase"] = "instances"
            return [], None
        return _tasks(src, conn, lim), None
    if lim["instances"] <= lim["ji_max"]:
        return _instances(src, conn, lim), None
    lim["phase"] = "done"
    return [], _latest_failed(src, conn, lim)


def plan(lim: dict, track: bool) -> list:
    """The steps of the bulk read from where it is, as :func:`step` will ask for them: what
    the read-ahead child reads (``[key, [[sql, params], ...]]``, sources/read_ahead.py)."""
    phase = lim["phase"]
    steps = []
    if phase == "jobs":
        steps += [_jobs_step(lim, lo) for lo in range(lim["jobs"], lim["job_max"] + 1, JOB_SLICE)]
    if phase in ("jobs", "tasks"):
        steps += [_tasks_step(lim, lo) for lo in range(lim["tasks"], lim["task_max"] + 1, TASK_SLICE)]
    if phase != "done":
        steps += [_instances_step(lim, lo, track)
                  for lo in range(lim["instances"], lim["ji_max"] + 1, INSTANCE_SLICE)]
    return steps


def _jobs_step(lim: dict, lo: int) -> list:
    return [["jobs", lo], [[_JOBS_SQL, _params(lim, lo, lo + JOB_SLICE - 1)]]]


def _tasks_step(lim: dict, lo: int) -> list:
    return [["tasks", lo], [[_TASKS_SQL, _params(lim, lo, lo + TASK_SLICE - 1)]]]


def _instances_step(lim: dict, lo: int, track: bool) -> list:
    p = _params(lim, lo, lo + INSTANCE_SLICE - 1)
    states = _STATES_SQL.format(bits=", m.bits" if track else "", js_bits=_JS_BITS if track else "")
    return [["instances", lo], [[states, p], [_INSTANCES_SQL, p]]]


def _slice_rows(src, conn, step: list) -> list:
    """The rows of a step's queries: read ahead by the source's child when it has them,
    else here (in this poll's read transaction)."""
    key, queries = step
    src.breathe()
    got = src.taken_ahead(key)
    return got if got is not None else [src._fetch(conn, sql, params) for sql, params in queries]


def fraction(lim: dict) -> float:
    """How much of the bulk read is done (jobs, tasks and instances weighed by their cost)."""
    done = {"jobs": 0.0, "tasks": 0.1, "instances": 0.2, "done": 1.0}[lim["phase"]]
    if lim["phase"] == "instances":
        done += 0.8 * min(1.0, lim["instances"] / max(1, lim["ji_max"]))
    elif lim["phase"] == "jobs":
        done += 0.1 * min(1.0, lim["jobs"] / max(1, lim["job_max"]))
    return done


def _jobs(src, conn, lim: dict) -> list[Event]:
    lo = lim["jobs"]
    lim["jobs"] = lo + JOB_SLICE
    return _shaped(src, conn, lim, "jobs", _jobs_step(lim, lo), shape_jobs)


def _tasks(src, conn, lim: dict) -> list[Event]:
    lo = lim["tasks"]
    lim["tasks"] = lo + TASK_SLICE
    return _shaped(src, conn, lim, "tasks", _tasks_step(lim, lo), shape_tasks)


def _instances(src, conn, lim: dict) -> list[Event]:
    lo = lim["instances"]
    hi = lo + INSTANCE_SLICE - 1
    lim["instances"] = hi + 1
    p = _params(lim, lo, hi)
    return _shaped(src, conn, lim, "tries", _instances_step(lim, lo, src.track_js),
                   lambda src, lim, *got: shape_instances(src, conn, lim, p, *got))


def _shaped(src, conn, lim: dict, key: str, step: list, shape) -> list[Event]:
    """A slice as events: shaped here from its queries' rows, or by the read-ahead child
    (then only its notes are taken here)."""
    got = _slice_rows(src, conn, step)
    if type(got) is dict:
        take_notes(src, lim, got["notes"])
        uuids, rows = got["uuids"], got["rows"]
    else:
        src.breathe()
        uuids, rows = shape(src, lim, *got)
    return _event(uuids, key, rows)


# What the shaping notes of each slice for the slices and reads after it: the source's own
# bookkeeping (see StampedeDbSource.__init__), ``lim["no_task"]`` and ``lim["failed"]``.  A
# child shaping a slice sends its notes along.
# Each with the kind of container it is.
NOTES: dict[str, dict[str, type]] = {
    "jobs": {"_job": dict, "_job_skip": set, "no_task": set, "warnings": list},
    "tasks": {"_unmapped": dict, "warnings": list},
    "instances": {"_ji": dict, "_reread": dict, "_inv_ec": dict, "_ji_skip": set, "_host_wait": set,
                  "_subwf_wait": set, "js_seen": dict, "failed": dict, "warnings": list}}
_IN_LIM = ("no_task", "failed")


def take_notes(src, lim: dict, notes: dict) -> None:
    """A child's notes of a slice (shaped there), as if shaped here."""
    for name, value in notes.items():
        if name == "warnings":
            src.warnings.extend(value)
        elif name == "js_seen":
            seen = src.js_seen
            for key, bits in value.items():
                seen[key] = seen.get(key, 0) | bits
        elif name == "failed":
            failed = lim["failed"]
            for job_id, seq in value.items():
                failed[job_id] = max(seq, failed.get(job_id, seq))
        else:  # a dict or a set, each key noted once
            (lim[name] if name in _IN_LIM else getattr(src, name)).update(value)


def shape_jobs(src, lim: dict, found: list) -> tuple[list, list]:
    """A jobs slice's rows as the store's rows, noting each job for the slices after it
    (``src._job``, ``lim["no_task"]``)."""
    uuids: list[str] = []
    index: dict[str, int] = {}
    rows = []
    for job_id, wf_id, exec_id, tdesc, clustered, maxr, tcount, argv in found:
        uuid = src._wf.get(wf_id)
        if uuid is None:
            if wf_id not in src._wf_skip:
                src._skip("job", job_id, f"its workflow {wf_id} is not in the DB")
            src._job_skip.add(job_id)
            continue
        src._job[job_id] = (uuid, exec_id, tdesc)
        if not tcount:
            lim["no_task"].add(job_id)
        wi = index.get(uuid)
        if wi is None:
            wi = _uuid_index(uuids, index, uuid)
        rows.append((wi, exec_id, tdesc, clustered, maxr, _argv_role(argv) if argv is not None else None))
    return uuids, rows


def _argv_role(argv) -> str | None:
    """kickstart's ``-n`` names an auxiliary job's role (the incremental path's last resort)."""
    if isinstance(argv, str) and " -n " in argv:
        return argv.split(" -n ", 1)[1].split()[0] or None
    return None


def shape_tasks(src, lim: dict, found: list) -> tuple[list, list]:
    """Tasks name their jobs; their arguments are history.  A task whose job is not read
    yet waits, as in the incremental read, for its job (``src._unmapped``)."""
    uuids: list[str] = []
    index: dict[str, int] = {}
    rows = []
    for task_id, wf_id, job_id, abs_id, xform, tdesc in found:
        uuid = src._wf.get(wf_id)
        if uuid is None:
            continue
        job = src._job.get(job_id) if job_id is not None else None
        if job is None:
            src._unmapped[task_id] = (uuid, abs_id)
        wi = index.get(uuid)
        if wi is None:
            wi = _uuid_index(uuids, index, uuid)
        rows.append((wi, abs_id, xform, tdesc, job[1] if job is not None else None))
    return uuids, rows


def shape_instances(src, conn, lim: dict, p: dict, state_rows: list, instances: list) -> tuple[list, list]:
    """An instances slice's rows (its fixed queries' results) as the store's tries rows,
    with the queries that depend on them (a try's name, a main job's status, the rare
    states), noting what the reads after it need (:data:`NOTES`).  Runs in the reader or,
    read ahead, in the child (:class:`SliceShaper`), on its own connection within the slice's
    read transaction."""
    fetch = src._fetch
    track = src.track_js
    states: dict[int, tuple] = {}
    for r in state_rows:
        # ties at the latest time: the highest js_id, then the row written last
        old = states.get(r[0])
        if old is None or (r[3], r[5]) > (old[3], old[5]):
            states[r[0]] = r
    no_task = lim["no_task"]
    jobs = src._job
    want = []
    for r in instances:
        st = states.get(r[0])
        # a job without a task is named by its invocation; the main job's status once a POST
        # script ended without JOB_SUCCESS, or should one end later, is its highest task status
        # (most instances of a finished run have both: no invocation read for them)
        if r[1] in no_task or st is None or (st[8] & (_POST | _OK)) != _POST | _OK:
            want.append(r[0])
    names: dict[int, tuple] = {}
    inv_ec: dict[int, int] = {}
    for i in range(0, len(want), 500):
        ids = ",".join(map(str, want[i : i + 500]))
        for jiid, tseq, xform, ec in fetch(conn, _INVOCATIONS_SQL.format(ids=ids), p):
            if xform and (jiid not in names or tseq < names[jiid][0]):
                names[jiid] = (tseq, xform)
            if ec and ec > inv_ec.get(jiid, 0):
                inv_ec[jiid] = ec
    ec_of = {r[0]: r[9] for r in instances}
    rare = _rare_rows(src, conn, p, [j for j, r in states.items() if r[8] & _RARE_BIT or (r[8] & _POST and ec_of.get(j) is None)])
    uuids: list[str] = []
    index: dict[str, int] = {}
    rows = []
    hosts = src._hosts
    failed = lim["failed"]
    breathe = src.breathe
    for k, (jiid, job_id, seq, sched_id, site, user, ldur, cdur, mult, ec, subwf_id, host_id) in enumerate(instances):
        if not k % BREATHE_ROWS:
            breathe()
        job = jobs.get(job_id)
        if job is None:
            src._ji_skip.add(jiid)
            continue
        uuid, exec_id, tdesc = job
        if type(seq) is not int or (ec is not None and type(ec) is not int):
            src._skip("job_instance", jiid, f"job_submit_seq {seq!r} or exitcode {ec!r} is not a number")
            continue
        st = states.get(jiid)
        if st is None or not st[8] & _POST or tdesc in SUBWF_TYPES:
            # kept for the rows still to come; a finished one is looked up if one comes (_recall)
            src._ji[jiid] = (uuid, exec_id, seq, tdesc)
        state = ts = js = reason = start = end = None
        has_main = has_post = job_success = False
        if st is not None:
            # to_epoch's common case (a float in range) inline: 3 calls a row (py-spy at 100k: the
            # calls were 1.3 % of the load's samples)
            state, ts, js, reason, _, start, end = st[1:8]
            if not (type(ts) is float and _EPOCH_LO <= ts < _EPOCH_HI):
                ts = to_epoch(ts)
            if start is not None and not (type(start) is float and _EPOCH_LO <= start < _EPOCH_HI):
                start = to_epoch(start)
            if end is not None and not (type(end) is float and _EPOCH_LO <= end < _EPOCH_HI):
                end = to_epoch(end)
            f = st[8]
            has_main, has_post, job_success = bool(f & _MAIN), bool(f & _POST), bool(f & _OK)
            if track and st[9]:
                key = (uuid, exec_id, seq)
                src.js_seen[key] = src.js_seen.get(key, 0) | st[9]
        # exit statuses as the incremental read gives them (StampedeDbSource._instance_events)
        if has_post:
            post_ec = ec
            main_ec = 0 if job_success else inv_ec.get(jiid)
        else:
            post_ec = None
            main_ec = ec if has_main else None
            if jiid in inv_ec:  # the main job's status, should a POST script end later
                src._inv_ec[jiid] = inv_ec[jiid]
        h = hosts.get(host_id) if host_id is not None else None
        name = names.get(jiid)
        # main.end carries the instance's results: none before the main job ended
        wi = index.get(uuid)
        if wi is None:
            wi = _uuid_index(uuids, index, uuid)
        rows.append((wi, exec_id, seq, sched_id, site,
                     user if has_main else None, _float(ldur) if has_main else None,
                     _float(cdur) if has_main else None, mult if has_main and type(mult) is int else None,
                     main_ec, post_ec,
                     state, ts, js, reason, start, end, h[1] if h else None, h[2] if h else None,
                     h[0] if h else None, rare.get(jiid), name[1] if name else None))
        if state in FAILED_LATEST:
            failed[job_id] = max(seq, failed.get(job_id, seq))
        # what the incremental read would still wait for on a running DB
        if end is None and not has_post:
            src._reread[jiid] = 1
            if host_id is None:
                src._host_wait.add(jiid)
        if tdesc in SUBWF_TYPES:
            if subwf_id is None:
                src._subwf_wait.add(jiid)
            else:
                src._reread[jiid] = 1  # the mapping event comes from the instance's re-read
    return uuids, rows


def _rare_rows(src, conn, p: dict, ids: list) -> dict[int, list]:
    out: dict[int, list] = {}
    for i in range(0, len(ids), 500):
        sql = _RARE_SQL.format(ids=",".join(map(str, ids[i : i + 500])), rare=_in(_RARE))
        for jiid, state, ts, js, reason in src._fetch(conn, sql, p):
            ts = to_epoch(ts)
            if ts is not None:
                out.setdefault(jiid, []).append((ts, js, state, reason))
    return out


def _latest_failed(src, conn, lim: dict) -> list[int]:
    """The jobs whose latest try failed (a later try may have come in a later slice)."""
    failed = lim["failed"]
    ids = list(failed)
    out = []
    for i in range(0, len(ids), 500):
        part = ",".join(map(str, ids[i : i + 500]))
        for job_id, seq in src._fetch(conn, _LATEST_TRIES_SQL.format(ids=part), _params(lim, 0, 0)):
            if failed.get(job_id) == seq:
                out.append(job_id)
    return out


def _float(v):
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


class SliceShaper:
    """What of the reader's state the read-ahead child (sources/read_ahead.py) keeps to shape the
    slices as the reader would: the workflows and hosts it was handed (``ctx``) and the jobs it
    noted, the reader's first slice included; each slice's notes go with its rows
    (:func:`take_notes`)."""

    breathe = staticmethod(lambda: None)  # no screen there

    def __init__(self, ctx: dict):
        self._wf = {wf_id: uuid for wf_id, uuid in ctx["wf"]}
        self._wf_skip = set(ctx["wf_skip"])
        self._hosts = {host_id: tuple(row) for host_id, row in ctx["hosts"]}
        self.track_js = ctx["track"]
        self.label = ctx["label"]
        self.all_jobs: dict = {}  # job_id -> (wf_uuid, exec_job_id, type_desc), as the reader's _job
        self.all_no_task: set = set()
        self.lim: dict = {}

    @staticmethod
    def context(src) -> dict:
        """What a shaper is made from: the source's workflows and hosts as the bulk read starts."""
        return {"wf": list(src._wf.items()), "wf_skip": list(src._wf_skip), "label": src.label,
                "hosts": list(src._hosts.items()), "track": src.track_js}

    def shape(self, kind: str, conn, params: dict, results: list) -> dict:
        notes = {name: box() for name, box in NOTES[kind].items()}
        for name, box in notes.items():
            if name in _IN_LIM:
                self.lim[name] = box
            else:
                setattr(self, name, box)
        if kind == "jobs":
            uuids, rows = shape_jobs(self, self.lim, *results)
            self.all_jobs.update(self._job)
            self.all_no_task.update(self.lim["no_task"])
        else:
            self._job, self.lim["no_task"] = self.all_jobs, self.all_no_task
            if kind == "tasks":
                uuids, rows = shape_tasks(self, self.lim, *results)
            else:
                uuids, rows = shape_instances(self, conn, self.lim, params, *results)
        return {"uuids": uuids, "rows": rows, "notes": notes}

    def _fetch(self, conn, sql, params):
        return conn.execute(sql, params).fetchall()

    def _skip(self, table: str, rowid, why: str) -> None:
        self.warnings.append(f"{self.label}: {table} row {rowid} skipped: {why}"[:200])
