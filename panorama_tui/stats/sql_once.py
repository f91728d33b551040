"""``panorama-top --once`` of a Stampede DB straight from the DB, without a store.

The store path (:func:`panorama_tui.stats.once.as_dict` on a store built by
``StampedeDbSource``) turns every row back into an event and every job into
Python objects: 13.6 s and 593 MB for a 100k-job DB.  A summary needs one row
per job, so this module asks the DB for exactly that, set-based:

* each job's latest instance (max ``job_submit_seq``) and the number of its
  instances, by one GROUP BY on the (job_id, job_submit_seq) unique index;
* that instance's latest jobstate (by timestamp, then jobstate_submit_seq:
  the store's order) and the few facts about its states the summary reads
  (held at some time, main job and POST script ended, removed by DAGMan),
  computed in the DB;

then one streaming pass over those rows (constant memory beyond per-workflow
counters) applies the store's own rules (``Store._derive_state``,
``progress._row_of_jobs``, ``stall``) to each job.  The numbers printed are
pegasus-statistics' (jobs from the same latest-instance rows, tasks from
:mod:`sql_stats`), as the store path prints them for a DB.

The SQL stays portable (no SQLite-only function: CASE instead of FILTER,
a correlated ``ORDER BY ... LIMIT 1`` that PostgreSQL and MySQL run too).

``events`` is what the store path counts for a DB read in one transaction: one event
a row (a mapped task, an instance's host and sub-workflow one more each).  The store path
reads a big DB in chunks of 50,000 rows a table and sends an instance's main.end and
post.end again when its end states straddle two chunks: on the generated 100k-job DB it
counts 1,405,217 events where this path counts 1,405,214 (every other field equal).

What this path does not do, and :func:`once_from_db` answers None for (the
caller then builds the store as before, so the output is the same): a DB the
store would warn about (a row whose parent row is missing, a time that is not
one, a workflow without a uuid, parents out of order), which the store counts
in ``warnings`` row by row.

A submit dir is its DB's summary plus what its source reads beside the DB (``overlay``:
sources/pegasus/overlay_once.py): DAGMan's progress tables (the ``dag`` rows, "from":
"dagman.out", and the state DAGMan's table says before monitord's end) and a stall DAGMan's
log shows, each one more event; DAGMan's start or end the DB has not got (a monitord stopped
short of DAGMan's end), applied to the workflow by the store's rule before its jobs are
counted.  The jobs whose states jobstate.log has and the DB has not got (a DB that lags its
log; the generated 100k run half done: 211 lines of 186 jobs) are the store's: a store of
those jobs alone, built by the store's own handlers from their DB history and their lines
(overlay_once.job_histories), gives their state, phase, hold and failure as stats/once.py
reads them; their rows are taken out of the DB's counts, and their counts as the store has
them beside pegasus-statistics' are the ``provisional`` ones.  The store path still answers
when a try only jobstate.log has follows one that ran tasks (the store's task counts would go
by the new try) or a job the DB has not got at all.  Event logs, recordings and Parsl DBs keep
the store path.
"""

from __future__ import annotations

import os
import time
from collections import Counter

from ..core.events import PLACEHOLDER_RAW, PLACEHOLDER_STATES, REMOVED_EXIT, describe_exitcode, to_epoch
from ..core.fmt import human_duration
from ..core.stampede import STATE_EVENTS, SUBWF_TYPES
from ..model.coerce import _str  # the store's text: control characters made visible
from ..model.states import FAILED_STATES, HELD_STATES, MAIN_DONE_STATES, JobState, WorkflowState
from ..model.store import derive_state
from ..core.dagman import NODE_COLUMNS, percent_done
from ..core.sqlite import SQL_ERRORS
from . import sql_stats
from .stall import STALL_FACTOR, STALL_FLOOR

# Set by the scale benchmark only: the store path, for its baseline.
FORCE_STORE_ENV = "PANORAMA_ONCE_STORE"

_PHASES = {"PRE_SCRIPT_STARTED": "pre", "PRE_SCRIPT_TERMINATED": "pre",
           "POST_SCRIPT_STARTED": "post", "POST_SCRIPT_TERMINATED": "post"}
_ACTIVE = (JobState.QUEUED, JobState.RUNNING, JobState.HELD, JobState.RETRYING)
_SUBWF_SQL = "('" + "', '".join(sorted(SUBWF_TYPES)) + "')"
_KNOWN_STATES_SQL = "('" + "', '".join(sorted(STATE_EVENTS)) + "')"
_REMOVED_SQL = "('" + "', '".join(sorted(PLACEHOLDER_STATES)) + "')"
# SQLite's page cache for the read (KiB): the correlated lookups revisit the jobstate and
# job_instance index pages; past the indexes' hot part more cache buys nothing.
CACHE_KIB = 65_536
# Rows fetched at a time: the pass stays a few MB whatever the DB's size.
FETCH = 20_000


class Unsupported(Exception):
    """This DB needs the store path (the message says why)."""


def enabled() -> bool:
    return not os.environ.get(FORCE_STORE_ENV)


# -- the per-job rows -------------------------------------------------------------------

# One narrow row per job: its workflow, its latest try's latest state, its tries, whether it is
# a sub-workflow job, its latest exit status's class (pegasus-statistics': 0, other, none) and
# whether that try was ever held.  Jobs whose state needs more than that (their latest state a
# failure, a hold or the main job's end: a few in a run) come with their instance id and are
# read again one by one (_one_job); all the others are counted by their row's value in C
# (Counter), with no per-job Python.  Rows come in their latest instance's order
# (job_instance_id): each lookup of its states on jobstate's (job_instance_id, state, ...) key
# lands next to the previous one (in job order the lookups jump around a 300 MB index at 1M).
# The latest instance is the max(job_submit_seq) of its job, on the (job_id, job_submit_seq)
# unique index.  Correlated lookups, nothing materialised: the rows stream in constant memory.
# 100k jobs: this query 0.6-0.9 s of CPU with ~0.05 s of Python, against 1.2 s + ~0.5 s of
# Python for the wide rows it replaces (every flag an EXISTS, every row through Python).


def _has(states: str, jiid: str = "ji.job_instance_id") -> str:
    return (f"CASE WHEN EXISTS (SELECT 1 FROM jobstate s WHERE s.job_instance_id = {jiid} "
            f"AND s.state IN {states}) THEN 1 ELSE 0 END")


_LAST_STATE = ("(SELECT s.state FROM jobstate s WHERE s.job_instance_id = ji.job_instance_id "
               "ORDER BY s.timestamp DESC, s.jobstate_submit_seq DESC LIMIT 1)")
_LATEST = "ji.job_submit_seq = (SELECT max(x.job_submit_seq) FROM job_instance x WHERE x.job_id = ji.job_id)"

_KEYS_SQL = f"""
SELECT j.wf_id, {_LAST_STATE} AS last_state,
       (SELECT count(*) FROM job_instance x WHERE x.job_id = j.job_id) AS tries,
       CASE WHEN j.type_desc IN {_SUBWF_SQL} THEN 1 ELSE 0 END,
       CASE WHEN ji.exitcode IS NULL THEN NULL WHEN ji.exitcode = 0 THEN 0 ELSE 1 END,
       {_has("('JOB_HELD')")} AS held,
       ji.job_instance_id
FROM job_instance ji
JOIN job j ON j.job_id = ji.job_id
WHERE ji.job_instance_id BETWEEN ? AND ? AND {_LATEST}
ORDER BY ji.job_instance_id"""
# The same with each row's job (a submit dir's jobs that jobstate.log changes are left out):
# only then, the column costs ~0.02 s of CPU at 100k jobs.
_KEYS_IDS_SQL = _KEYS_SQL.replace("ji.job_instance_id\nFROM", "ji.job_instance_id, j.job_id\nFROM", 1)
# Instances a statement reads (_KEYS_SQL, by job_instance_id): each statement stays short
# (~1 s of CPU) where a single one over 1M jobs ran 20-60 s on a loaded 2-core machine, past
# the 60 s core.sqlite.bound_work gives one statement: interrupted, --once fell back to the
# store path (4 min, 6 GB).  The slices keep the rows' order.
SLICE = 100_000

# The jobs DAGMan has not submitted yet, counted by workflow and kind.
_WAITING_SQL = f"""
SELECT j.wf_id, CASE WHEN j.type_desc IN {_SUBWF_SQL} THEN 1 ELSE 0 END, count(*)
FROM job j
WHERE NOT EXISTS (SELECT 1 FROM job_instance x WHERE x.job_id = j.job_id)
GROUP BY 1, 2"""

# What a job read one by one needs: the wide row, for one instance.
_ONE_SQL = f"""
SELECT j.job_id, j.wf_id, j.exec_job_id, j.type_desc, j.max_retries,
       (SELECT count(*) FROM job_instance x WHERE x.job_id = j.job_id) AS tries,
       ji.job_instance_id, ji.exitcode, ji.site, h.site, h.hostname,
       {_has("('JOB_HELD')")} AS held,
       {_has("('JOB_SUCCESS', 'JOB_FAILURE')")} AS main_end,
       {_has("('JOB_SUCCESS')")} AS main_ok,
       {_has("('POST_SCRIPT_SUCCESS', 'POST_SCRIPT_FAILED')")} AS post_end,
       {_has(_REMOVED_SQL)} AS removed,
       {_LAST_STATE} AS last_state
FROM job_instance ji
JOIN job j ON j.job_id = ji.job_id
LEFT JOIN host h ON h.host_id = ji.host_id
WHERE ji.job_instance_id = ?"""

# The latest states whose job is read one by one: a failure (failed or retrying, its exit
# status and reason shown), a hold (the held-now list), a main job's end (its state can hang on
# its exit status).  Any other state's job is decided by its row alone (_count_jobs).
_ONE_BY_ONE = FAILED_STATES | HELD_STATES | MAIN_DONE_STATES


class _Wf:
    """What the summary keeps of one workflow while the jobs stream past."""

    __slots__ = ("wf_id", "uuid", "label", "dag_file", "parent", "children", "state", "start_ts", "end_ts",
                 "counts", "njobs", "row", "jobs", "subwfs", "failed", "held", "held_now_jobs", "dagman", "stalled",
                 "delta", "times", "wf_states")

    def __init__(self, wf_id, uuid, label, dag_file):
        self.wf_id = wf_id
        self.uuid = uuid
        self.label = label
        self.dag_file = dag_file
        self.parent: _Wf | None = None
        self.children: list[_Wf] = []
        self.state = WorkflowState.PLANNED
        self.start_ts = self.end_ts = None
        self.counts = [0] * len(JobState)
        self.njobs = 0
        self.row = dict.fromkeys(NODE_COLUMNS, 0)  # phases of active jobs (pre, post, ready)
        self.jobs = [0, 0, 0, 0]  # succeeded, failed, total, retries (pegasus-statistics: latest exitcode)
        self.subwfs = [0, 0, 0, 0]
        self.failed: list = []  # (job_id, the failed job as --once --json shows it), then the jobs alone
        self.held = 0  # jobs whose latest try was held at some time
        # (job row id, job_id, jiid, hold reason) of the jobs held now: the reason is read by the
        # jiid, or was the store's (jiid None) for a job jobstate.log changes
        self.held_now_jobs: list[tuple] = []
        self.dagman: dict | None = None  # a submit dir's: DAGMan's latest progress table (Workflow.dagman)
        self.stalled: tuple | None = None  # a submit dir's: (reason, since) DAGMan's log gave (Workflow.stalled)
        # a submit dir's jobs that jobstate.log changes (_overlay_jobs): their jobs' and sub-workflows'
        # counts as the store has them less the DB's ([succeeded, failed, total, retries] each),
        # and their states' times (the store's, for the stall's pace)
        self.delta = ([0, 0, 0, 0], [0, 0, 0, 0])
        self.times: set[float] = set()
        self.wf_states: dict[tuple, tuple] = {}  # (restart_count, ended) -> (time, status): workflowstate's

    @property
    def ended(self) -> bool:
        return self.state in (WorkflowState.SUCCEEDED, WorkflowState.FAILED)

    @property
    def shown_state(self) -> str:
        """``progress.workflow_state``: monitord's end, else DAGMan's table's state."""
        if not self.ended and self.dagman is not None:
            return self.dagman.get("state") or self.state
        return self.state


def _read_workflows(conn) -> dict[int, _Wf]:
    wfs: dict[int, _Wf] = {}
    parent_of: dict[int, int] = {}
    for wf_id, uuid, label, dag, parent in conn.execute(
            "SELECT wf_id, wf_uuid, dax_label, dag_file_name, parent_wf_id FROM workflow ORDER BY wf_id"):
        if uuid is None or type(wf_id) is not int:
            raise Unsupported("a workflow row without a uuid")
        wfs[wf_id] = _Wf(wf_id, _str(uuid), _str(label) or None, _str(dag) or None)
        if parent is not None:
            parent_of[wf_id] = parent
    for wf_id, parent in parent_of.items():
        # The store links a child to a parent it has read before it (rowid order).
        if parent not in wfs or parent >= wf_id:
            raise Unsupported("a workflow whose parent is missing or comes after it")
        wfs[wf_id].parent = wfs[parent]
        wfs[parent].children.append(wfs[wf_id])
    # A sub-workflow job maps its child (xwf.map.subwf_job): it must agree with parent_wf_id.
    for child, parent in conn.execute(
            "SELECT ji.subwf_id, j.wf_id FROM job_instance ji JOIN job j ON j.job_id = ji.job_id "
            "WHERE ji.subwf_id IS NOT NULL"):
        w = wfs.get(child)
        if w is not None and (w.parent is None or w.parent.wf_id != parent):
            raise Unsupported("a sub-workflow mapped to another parent than its own")
    for wf_id, state, ts, restart, status in conn.execute(
            "SELECT wf_id, state, timestamp, restart_count, status FROM workflowstate ORDER BY wf_id"):
        if wf_id not in wfs:
            raise Unsupported("a workflowstate row of no workflow")
        end = state == "WORKFLOW_TERMINATED"
        if (restart is not None and type(restart) is not int) or (status is not None and type(status) is not int):
            raise Unsupported("a workflowstate row with a non-integer field")
        t = to_epoch(ts)
        if t is None:
            raise Unsupported("a workflowstate time that is not one")
        wfs[wf_id].wf_states[(restart or 0, end)] = (t, status)
    for w in wfs.values():
        if w.wf_states:
            _set_wf_state(w)
    return wfs


def _set_wf_state(w: _Wf) -> None:
    """The store's rule (model/handlers/stampede.py ``_h_xwf_state``): the latest (restart_count,
    ended) decides, starts give the start."""
    restart_now, has_end = max(w.wf_states)
    ts, status = w.wf_states[(restart_now, has_end)]
    starts = [v[0] for k, v in w.wf_states.items() if not k[1]]
    w.start_ts = min(starts) if starts else None
    if has_end:
        w.end_ts = ts
        w.state = WorkflowState.SUCCEEDED if status == 0 else WorkflowState.FAILED
    else:
        w.end_ts = None
        w.state = WorkflowState.RUNNING


def _inv_exitcode(conn, jiid):
    """The highest non-zero exit status of an instance's task invocations (the store's main
    job status when only the POST script's is in the row), or None."""
    row = conn.execute("SELECT max(exitcode) FROM invocation WHERE job_instance_id = ? AND task_submit_seq >= 0 "
                       "AND exitcode > 0", (jiid,)).fetchone()
    return row[0] if row else None


def _exitcodes(conn, jiid, ec, main_end, main_ok, post_end):
    """(main, post) exit status as the store has them (StampedeDbSource's rules)."""
    if post_end:
        # main.end carries the main job's status: 0 for JOB_SUCCESS, else the tasks' worst
        main = (0 if main_ok else _inv_exitcode(conn, jiid)) if main_end else None
        return main, ec
    return (ec if main_end else None), None


def _hold_reason(conn, jiid):
    row = conn.execute(
        "SELECT reason FROM jobstate WHERE job_instance_id = ? AND state = 'JOB_HELD' AND reason IS NOT NULL "
        "AND reason <> '' ORDER BY timestamp DESC, jobstate_submit_seq DESC LIMIT 1", (jiid,)).fetchone()
    reason = _str(row[0]).strip() if row else ""
    return reason or None


def _transformation(conn, job_id, wf_id, jiid) -> str | None:
    """``_derive_transformation``: the job's first task (by task id) with one, else its
    latest instance's first kickstart invocation's, else kickstart's ``-n`` in argv."""
    row = conn.execute("SELECT transformation FROM task WHERE job_id = ? AND transformation IS NOT NULL "
                       "AND transformation <> '' ORDER BY abs_task_id LIMIT 1", (job_id,)).fetchone()
    if row:
        return _str(row[0])
    row = conn.execute(
        "SELECT i.transformation FROM invocation i JOIN job_instance ji ON ji.job_instance_id = i.job_instance_id "
        "WHERE ji.job_id = ? AND i.task_submit_seq >= 0 AND i.transformation IS NOT NULL AND i.transformation <> '' "
        "ORDER BY ji.job_submit_seq DESC, i.task_submit_seq LIMIT 1", (job_id,)).fetchone()
    if row:
        return _str(row[0])
    row = conn.execute("SELECT argv FROM job WHERE job_id = ?", (job_id,)).fetchone()
    argv = (row[0] if row else None) or ""
    from ..core.stampede import unescape_argv

    argv = _str(unescape_argv(argv)) or ""
    if " -n " in argv:
        return argv.split(" -n ", 1)[1].split()[0] or None
    return None


def _scan_jobs(conn, wfs: dict[int, _Wf], progress=None, overlaid: dict | None = None) -> None:
    """Every job's answer into its workflow; ``overlaid`` ({job row id: the store's Job}: the
    jobs jobstate.log changes) are the store's, not their rows'."""
    skip = overlaid or {}
    groups: Counter = Counter()
    one_by_one: list[int] = []
    done = 0
    lo, hi = conn.execute("SELECT min(job_instance_id), max(job_instance_id) FROM job_instance").fetchone()
    slices = [(a, a + SLICE - 1) for a in range(lo, hi + 1, SLICE)] if lo is not None else []
    sql = _KEYS_IDS_SQL if skip else _KEYS_SQL
    for rows in _batches(conn, *((sql, bounds) for bounds in slices)):
        if skip:
            rows = [r for r in rows if r[7] not in skip]
        groups.update([r[:6] for r in rows if r[1] not in _ONE_BY_ONE])  # in C: no per-row Python
        one_by_one.extend(r[6] for r in rows if r[1] in _ONE_BY_ONE)
        done += len(rows)
        if progress is not None:
            progress(done)
    for wf_id, subwf, n in conn.execute(_WAITING_SQL):
        groups[(wf_id, None, 0, subwf, None, 0)] += n
    for (wf_id, last, tries, subwf, ecc, held), n in groups.items():
        _count_jobs(wfs, wf_id, last, tries, subwf, ecc, held, n)
    for jiid in one_by_one:
        _one_job(conn, wfs, conn.execute(_ONE_SQL, (jiid,)).fetchone())
    for job_id, job in skip.items():
        _overlaid_job(conn, wfs, job_id, job)
    for w in wfs.values():  # the store's order: its jobs as they were added (job_id)
        w.failed = [f for _, f in sorted(w.failed, key=lambda x: x[0])]
        w.held_now_jobs = [h[1:] for h in sorted(w.held_now_jobs)]


def _wf_of(wfs: dict[int, _Wf], wf_id) -> _Wf:
    w = wfs.get(wf_id)
    if w is None:
        raise Unsupported("a job of no workflow")
    return w


def _count_jobs(wfs, wf_id, last, tries, subwf, ecc, held, n: int) -> None:
    """``n`` jobs alike whose latest state is none of _ONE_BY_ONE: neither failed nor held."""
    w = _wf_of(wfs, wf_id)
    tries = tries or 0
    w.njobs += n
    # the store's rule; an instance row without a jobstate row is a try without a state to
    # the store (submit.start is no jobstate): waiting, as derive_state has it for last None
    st = derive_state(tries, last, w.ended, None, None)
    w.counts[st] += n
    if st in _ACTIVE:
        key = _PHASES.get(last) if last else None
        if key is not None:
            w.row[key] += n
    # pegasus-statistics' counts: the latest instance's exitcode.
    acc = w.subwfs if subwf else w.jobs
    acc[2] += n
    if tries:
        acc[3] += (tries - 1) * n
        if ecc == 0:
            acc[0] += n
        elif ecc is not None:
            acc[1] += n
        if held:
            w.held += n


def _one_job(conn, wfs, row) -> None:
    """One job read whole (its latest state in _ONE_BY_ONE): the store's rules, row by row."""
    (job_id, wf_id, exec_id, tdesc, max_retries, tries, jiid, ec, site, hsite, host,
     held, main_end, main_ok, post_end, removed, last) = row
    w = _wf_of(wfs, wf_id)
    if exec_id is None or (max_retries is not None and type(max_retries) is not int) \
            or (ec is not None and type(ec) is not int):
        raise Unsupported("a job row the store would warn about")
    tries = tries or 0
    w.njobs += 1
    ecx = None  # the try's exit status matters only to a main job ended with the workflow
    if last in MAIN_DONE_STATES and w.ended:
        main, post = _exitcodes(conn, jiid, ec, main_end, main_ok, post_end)
        ecx = post if post is not None else main
    st = derive_state(tries, last, w.ended, ecx, max_retries)
    w.counts[st] += 1
    if st in _ACTIVE:
        key = _PHASES.get(last) if last else None
        if key is None and st == JobState.RETRYING and last in FAILED_STATES:
            key = "ready"
        if key is not None:
            w.row[key] += 1
    acc = w.subwfs if tdesc in SUBWF_TYPES else w.jobs
    acc[2] += 1
    if tries:
        acc[3] += tries - 1
        if ec == 0:
            acc[0] += 1
        elif ec is not None:
            acc[1] += 1
    if tries and held:
        w.held += 1
    if st == JobState.HELD:
        w.held_now_jobs.append((job_id, _str(exec_id), jiid, None))
    if st == JobState.FAILED:
        main, post = _exitcodes(conn, jiid, ec, main_end, main_ok, post_end)
        raw = main if main is not None else post  # Job.exit_raw
        if raw == PLACEHOLDER_RAW and removed:
            raw = REMOVED_EXIT
        # the try's site: main.end's (the row's) over host.info's over submit's (the row's)
        first, then = (site, hsite) if main_end else (hsite, site)
        w.failed.append((job_id, {
            "job_id": _str(exec_id),
            "transformation": _transformation(conn, job_id, wf_id, jiid),
            "exitcode": describe_exitcode(raw),
            "site": _str(first) or _str(then) or None,
            "host": _str(host) or None,
            "tries": tries,
            "hold_reason": _hold_reason(conn, jiid) if held else None,
        }))


# A job jobstate.log changes: its workflow, kind, tries and latest exit status in the DB (what
# pegasus-statistics counts, and the store path prints as the counts).
_OVERLAID_SQL = f"""
SELECT j.wf_id, CASE WHEN j.type_desc IN {_SUBWF_SQL} THEN 1 ELSE 0 END,
       (SELECT count(*) FROM job_instance x WHERE x.job_id = j.job_id),
       (SELECT x.exitcode FROM job_instance x WHERE x.job_id = j.job_id ORDER BY x.job_submit_seq DESC LIMIT 1),
       (SELECT max(x.job_submit_seq) FROM job_instance x WHERE x.job_id = j.job_id)
FROM job j WHERE j.job_id = ?"""


_TASKS_OF_SQL = """SELECT 1 FROM invocation i JOIN job_instance ji ON ji.job_instance_id = i.job_instance_id
  WHERE ji.job_id = ? AND ji.job_submit_seq = ? AND i.abs_task_id IS NOT NULL LIMIT 1"""


def _overlaid_job(conn, wfs, job_id: int, job) -> None:
    """A job jobstate.log changes: its DB row's counts (pegasus-statistics'), and the rest as
    the store path has it after the overlay (``job``: the store's Job, built from the DB's
    history of the job and the overlay's lines by the store's own handlers), read as
    stats/once.py reads it."""
    from .counts import Counts, _job_counts, _planned, hold_reason  # a submit dir's lagging jobs only

    wf_id, subwf, tries, ec, latest = conn.execute(_OVERLAID_SQL, (job_id,)).fetchone()
    w = _wf_of(wfs, wf_id)
    if job.wf.ended != w.ended or (job.type_desc in SUBWF_TYPES) != bool(subwf):
        raise Unsupported("a job jobstate.log changes that the store reads otherwise")
    if (job.latest.seq if job.latest is not None else None) != latest and not subwf and latest is not None \
            and conn.execute(_TASKS_OF_SQL, (job_id, latest)).fetchone():
        # a try the DB has not got is the latest: the store's task counts go by its invocations
        # (none) where the DB's latest try's tasks were counted; the store path answers
        raise Unsupported("jobstate.log has a try the DB lacks, after one with tasks")
    acc = w.subwfs if subwf else w.jobs
    if not tries:  # counted among the waiting jobs by _WAITING_SQL: the store's state instead
        w.njobs -= 1
        w.counts[JobState.WAITING] -= 1
        acc[2] -= 1
    db = [0, 0, 1, 0]  # this job in pegasus-statistics' counts, as _one_job counts it
    if tries:
        db[3] = tries - 1
        if ec == 0:
            db[0] = 1
        elif ec is not None:
            db[1] = 1
    for i, v in enumerate(db):
        acc[i] += v
    mine = _job_counts([job]) if _planned(job) else Counts()  # summarize's (the provisional counts)
    delta = w.delta[1 if subwf else 0]
    for i, v in enumerate((mine.succeeded, mine.failed, mine.total, mine.retries)):
        delta[i] += v - db[i]
    st = job.state
    w.njobs += 1
    w.counts[st] += 1
    t = job.latest
    if st in _ACTIVE:  # progress._row_of_jobs
        phase = job.phase
        key = phase.lower() if phase is not None else None
        if key is None and st == JobState.RETRYING and t.state_name in FAILED_STATES:
            key = "ready"
        if key is not None:
            w.row[key] += 1
    if t is not None and t.has_state("JOB_HELD"):  # counts.held_jobs
        w.held += 1
    if st == JobState.HELD:
        w.held_now_jobs.append((job_id, job.job_id, None, hold_reason(job)))
    if st == JobState.FAILED:
        w.failed.append((job_id, {
            "job_id": job.job_id,
            "transformation": job.transformation,
            "exitcode": describe_exitcode(job.exit_raw),
            "site": job.site,
            "host": job.host,
            "tries": len(job.tries),
            "hold_reason": hold_reason(job),
        }))
    for tr in job.tries.values():
        w.times.update(tr.state_times())


def _overlay_store(history: list):
    """The store of the jobs jobstate.log changes (overlay_once.job_histories' events), or
    Unsupported when the store would warn about any of it."""
    from ..model.store import Store

    store = Store()
    store.apply_many(history)
    if store.warning_count or store.bad_count or store.unknown:
        raise Unsupported("the overlay's jobs make the store warn")
    return store


def _batches(conn, *queries):
    """The rows of each (sql, parameters), FETCH at a time."""
    for sql, params in queries:
        cur = conn.execute(sql, params)
        while True:
            rows = cur.fetchmany(FETCH)
            if not rows:
                break
            yield rows


# -- the event count the store path reports ------------------------------------------------


def _event_count(conn) -> tuple[int, int]:
    """(events, unknown events): what StampedeDbSource makes of the DB's rows, one event a row
    (a task mapped to its job one more, an instance's host and sub-workflow one each)."""
    one = lambda sql: conn.execute(sql).fetchone()[0] or 0  # noqa: E731
    n = 0
    for table in ("workflow", "workflowstate", "workflow_meta", "job", "task", "job_instance", "invocation",
                  "integrity", "tag"):
        n += one(f"SELECT count(*) FROM {table}")
    n += one("SELECT count(*) FROM task WHERE job_id IS NOT NULL")
    n += one("SELECT count(*) FROM job_instance ji JOIN host h ON h.host_id = ji.host_id")
    n += one("SELECT count(*) FROM job_instance ji JOIN workflow w ON w.wf_id = ji.subwf_id")
    total, unknown, lo, hi = conn.execute(
        f"SELECT count(*), sum(CASE WHEN state NOT IN {_KNOWN_STATES_SQL} THEN 1 ELSE 0 END), "
        f"min(timestamp), max(timestamp) FROM jobstate").fetchone()
    if total and (to_epoch(lo) is None or to_epoch(hi) is None):
        raise Unsupported("a jobstate time that is not one")
    return n + (total or 0), unknown or 0


# Columns whose cell the store reads as a number (a text or BLOB there is a row it skips with
# a warning, or a field it warns about).  Only SQLite lets a cell hold another type than its
# column's (PostgreSQL and MySQL refuse it on insert), so this check, with SQLite's typeof(),
# is SQLite's alone; text that reads as a number was made one by the column's affinity.
_TYPED = {
    "invocation": ("task_submit_seq", "start_time", "remote_duration", "remote_cpu_time", "exitcode", "avg_cpu"),
    "job_instance": ("job_submit_seq", "cluster_start", "cluster_duration", "local_duration", "multiplier_factor",
                     "exitcode"),
    "jobstate": ("jobstate_submit_seq",),
    "integrity": ("count", "duration"),
}


def _odd_cells(conn) -> bool:
    """A cell of a number column that holds text or a BLOB (the store skips its row)."""
    for table, cols in _TYPED.items():
        cond = " OR ".join(f"typeof({c}) IN ('text', 'blob')" for c in cols)
        if conn.execute(f"SELECT 1 FROM {table} WHERE {cond} LIMIT 1").fetchone():
            return True
    return False


def _odd_jobs(conn) -> bool:
    """A job without its name, or a retry limit or latest exit status that is not an integer
    (the store warns about the field): the job rows are counted in the DB, so this is checked
    here for all of them (the exit status of any try, not only the latest: a few more DBs
    take the store path, with the same output).  typeof() is SQLite's, as in _odd_cells."""
    return bool(conn.execute(
        "SELECT 1 FROM job WHERE exec_job_id IS NULL OR typeof(max_retries) NOT IN ('integer', 'null') "
        "UNION ALL SELECT 1 FROM job_instance WHERE typeof(exitcode) NOT IN ('integer', 'null') LIMIT 1").fetchone())


def _orphans(conn) -> bool:
    """A row whose parent row is missing (the store skips it with a warning)."""
    checks = (
        "SELECT 1 FROM job WHERE wf_id NOT IN (SELECT wf_id FROM workflow)",
        "SELECT 1 FROM job_instance WHERE job_id NOT IN (SELECT job_id FROM job)",
        "SELECT 1 FROM jobstate WHERE job_instance_id NOT IN (SELECT job_instance_id FROM job_instance)",
        "SELECT 1 FROM invocation WHERE job_instance_id NOT IN (SELECT job_instance_id FROM job_instance)",
        "SELECT 1 FROM task WHERE wf_id NOT IN (SELECT wf_id FROM workflow)",
        "SELECT 1 FROM task WHERE job_id IS NOT NULL AND job_id NOT IN (SELECT job_id FROM job)",
        "SELECT 1 FROM workflow_meta WHERE wf_id NOT IN (SELECT wf_id FROM workflow)",
        "SELECT 1 FROM integrity WHERE job_instance_id NOT IN (SELECT job_instance_id FROM job_instance)",
        "SELECT 1 FROM tag WHERE job_instance_id NOT IN (SELECT job_instance_id FROM job_instance)",
    )
    return any(conn.execute(sql + " LIMIT 1").fetchone() for sql in checks)


# -- stalls ---------------------------------------------------------------------------------


def _scope(w: _Wf) -> list[_Wf]:
    """``progress.dag_scope``: the workflow and its descendants whose DAG has started."""
    out, stack = [], list(w.children)
    while stack:
        c = stack.pop()
        if _started(c):
            out.append(c)
        stack.extend(c.children)
    return [w] + out


def _descendants(w: _Wf) -> list[_Wf]:
    out, stack = [], list(w.children)
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend(c.children)
    return out


def _started(w: _Wf) -> bool:
    return w.dagman is not None or w.state != WorkflowState.PLANNED or w.counts[JobState.WAITING] < w.njobs


def _stall(conn, w: _Wf, now: float | None) -> dict | None:
    """``stall.stall`` for a workflow read from the DB (and a submit dir's DAGMan logs)."""
    if w.stalled is not None:
        reason, since = w.stalled
        return {"reason": reason, "since": _iso(since)}
    if now is None or w.ended:
        return None
    scope = _scope(w)
    for s in scope:
        tab = s.dagman
        if any(s.counts[st] for st in _ACTIVE) or (tab is not None and (tab.get("queued") or tab.get("pre")
                                                                       or tab.get("post"))):
            return None
    times: set[float] = set()
    for s in scope:
        times.update(v for v in (s.start_ts, s.end_ts, (s.dagman or {}).get("ts")) if v is not None)
        times |= s.times
    ids = ",".join(str(int(s.wf_id)) for s in scope)
    for (ts,) in conn.execute(
            f"SELECT DISTINCT s.timestamp FROM jobstate s JOIN job_instance ji ON ji.job_instance_id = "
            f"s.job_instance_id JOIN job j ON j.job_id = ji.job_id WHERE j.wf_id IN ({ids})"):
        t = to_epoch(ts)
        if t is not None:
            times.add(t)
    ordered = sorted(times)
    gaps = sorted(b - a for a, b in zip(ordered, ordered[1:]))
    pace = gaps[int(0.9 * (len(gaps) - 1))] if gaps else 0.0
    last = ordered[-1] if ordered else None
    if last is None or now - last <= max(STALL_FLOOR, STALL_FACTOR * pace):
        return None
    return {"reason": f"no event for {human_duration(now - last)}, nothing queued or running (usual gap {pace:g}s)",
            "since": _iso(last)}


# -- the summary ------------------------------------------------------------------------------


def _iso(ts) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _dag_row(w: _Wf) -> dict:
    """``progress.dag_row``: DAGMan's latest table when a submit dir's log gave one, else
    ``_row_of_jobs`` with detail."""
    t = w.dagman
    if t is not None:
        table = {k: t.get(k, 0) for k in NODE_COLUMNS}
        table["total"] = t.get("total", 0)
        table["percent_done"] = percent_done(table["done"], table["total"])
        return table
    c = w.counts
    waiting = c[JobState.WAITING]
    aborted = w.state == WorkflowState.FAILED
    row: dict = dict.fromkeys(NODE_COLUMNS, 0)
    row.update(done=c[JobState.DONE], failed=c[JobState.FAILED], queued=sum(c[s] for s in _ACTIVE),
               unready=0 if aborted else waiting, futile=waiting if aborted else 0, total=w.njobs)
    for key in ("pre", "post", "ready"):
        row[key] += w.row[key]
        row["queued"] -= w.row[key]
    row["percent_done"] = percent_done(row["done"], row["total"])
    return row


def _counts(acc) -> dict:
    s, f, total, retries = acc
    return {"succeeded": s, "failed": f, "incomplete": total - s - f, "total": total, "retries": retries}


def _order(wfs: dict[int, _Wf]) -> list[_Wf]:
    """``workflow_order``: roots, each followed by its sub-workflows, depth first."""
    out: list[_Wf] = []
    stack = list(reversed([w for w in wfs.values() if w.parent is None]))
    while stack:
        w = stack.pop()
        out.append(w)
        stack.extend(reversed(w.children))
    return out


def once_from_db(path: str, source: str = "", now: float | None = None, progress=None,
                 overlay: list | None = None, jobs: tuple | None = None) -> tuple[dict, dict] | None:
    """(``once.as_dict``'s dict, extras for the text form) for a Stampede DB, or None when
    this DB needs the store path (see the module's doc, or a DB that cannot be read: the
    store path says why in its own words).  ``progress(done, total)`` is told of the jobs
    read.  ``overlay``: the events a submit dir's source adds to its DB's
    (sources/pegasus/overlay_once.py).  ``jobs``: (keys, history) of the jobs those events
    change (overlay_once.job_histories): their answers are the store's for their own rows
    and lines; without it an event that changes a job leaves the answer to the store path."""
    try:
        reader = sql_stats._Reader(path)  # a submit dir's DB is not checked before (the store path says why)
        with reader as conn:
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")  # and sql_stats' 1 GiB mapping: see _light
            return _summary(reader, conn, path, source, now, progress, overlay or [], jobs)
    except (Unsupported, sql_stats.StatsDbError, *SQL_ERRORS, TypeError, ValueError, OverflowError):
        return None


def _light(conn) -> None:
    """The aggregates' connection: one pass over each table, read(2) into SQLite's page cache
    rather than a mapping of the file, whose pages would all count in this process's RSS a
    second time.  The jobs' connection keeps sql_stats' mapping (up to 1 GiB): its index
    lookups cost less CPU through it (1M jobs: 19 s against 25 s of CPU for the job rows, peak
    RSS 850 against 225 MB; 100k jobs: 190 MB either way)."""
    conn.execute("PRAGMA mmap_size = 0")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")


def _aggregates(conn, path: str) -> tuple:
    """What needs no job row: the checks, the event count and pegasus-statistics' task counts
    ({wf_id: (succeeded, failed, total, retries)}).  Run on a second connection reading the
    same snapshot when there is one (sql_stats._Reader.second): SQLite does its work without
    the GIL, so the other core takes it while this thread reads the jobs."""
    if _orphans(conn):
        raise Unsupported("orphan rows")
    if _odd_cells(conn):
        raise Unsupported("a text or BLOB cell in a number column")
    if _odd_jobs(conn):
        raise Unsupported("a job row the store would warn about")
    events = _event_count(conn)
    tasks: dict[int, tuple] = {}
    for (uuid,) in conn.execute("SELECT wf_uuid FROM workflow WHERE parent_wf_id IS NULL ORDER BY wf_id"):
        tasks.update(sql_stats._task_counts(conn, sql_stats._Tree(conn, uuid, path)))
    return events, tasks


# The events of a submit dir's overlay this path applies (as model/handlers/panorama.py and
# stampede.py do); a job's states are its store's (_overlaid_job); any other ends it.
_PROGRESS = "dagman.progress"
_STALLED = "panorama.wf.stalled"
_WF_STATES = ("stampede.xwf.start", "stampede.xwf.end")
_SUBWF_MAP = "stampede.xwf.map.subwf_job"


def _apply_overlay(conn, wfs: dict[int, _Wf], events: list, jobs: dict) -> None:
    """The workflows' part of the overlay; its jobs' events are ``jobs``' (_overlaid_job)."""
    by_uuid = {w.uuid: w for w in wfs.values()}
    for ev in events:
        d = ev.data
        if ev.name.startswith("stampede.job_inst.") and (d.get("xwf_id"), d.get("job_id")) in jobs:
            continue
        w = by_uuid.get(d.get("xwf_id"))  # the store would make a workflow of another uuid
        if w is None or ev.name not in (_PROGRESS, _STALLED, *_WF_STATES, _SUBWF_MAP):
            raise Unsupported(f"the submit dir adds {ev.name} to its DB")
        if ev.name in _WF_STATES:  # DAGMan's start or end that monitord has not written (yet)
            restart, status = d.get("restart_count"), d.get("status")
            if type(ev.ts) not in (int, float) or type(restart) not in (int, type(None)) \
                    or type(status) not in (int, type(None)):
                raise Unsupported(f"a {ev.name} whose fields the store would warn about")
            w.wf_states[(restart or 0, ev.name == _WF_STATES[1])] = (ev.ts, status)
            _set_wf_state(w)
        elif ev.name == _SUBWF_MAP:  # the same tree when the DB links that child to that job's workflow
            sub = by_uuid.get(d.get("subwf_id"))
            job_id = d.get("job_id")
            if sub is None or sub.parent is not w or type(job_id) is not str or not conn.execute(
                    "SELECT 1 FROM job WHERE wf_id = ? AND exec_job_id = ?", (w.wf_id, job_id)).fetchone():
                raise Unsupported("a sub-workflow the DB does not link to that job")
        elif ev.name == _PROGRESS:  # the latest table replaces the last
            w.dagman = {k: v for k, v in d.items() if k not in ("xwf_id", "provisional")}
        else:
            reason = _str(d.get("reason"))
            since = d.get("since")
            if since is not None and type(since) not in (int, float):
                raise Unsupported("a stall whose time is not one")
            w.stalled = (reason, since if since is not None else ev.ts) if reason else None


def _summary(reader, conn, path, source, now, progress, overlay: list, lagging: tuple | None) -> tuple[dict, dict]:
    if conn.execute("SELECT count(*) FROM workflow").fetchone()[0] == 0:
        raise Unsupported("no workflow yet")
    wfs = _read_workflows(conn)  # first: a tree the store would build otherwise ends here
    keys, history = lagging or ({}, [])
    _apply_overlay(conn, wfs, overlay, keys)
    overlaid: dict = {}
    if keys:
        store = _overlay_store(history)
        for (uuid, exec_id), job_id in keys.items():
            overlaid[job_id] = store.workflows[uuid].jobs[exec_id]
    total_jobs = conn.execute("SELECT count(*) FROM job").fetchone()[0]
    tick = None if progress is None else (lambda done: progress(done, total_jobs))
    other = reader.second()
    if other is None:
        (events, unknown), tasks = _aggregates(conn, path)  # one connection: the mapped one
        _scan_jobs(conn, wfs, tick, overlaid)
    else:
        from concurrent.futures import ThreadPoolExecutor

        _light(other)
        with ThreadPoolExecutor(1, thread_name_prefix="sql-once") as pool:
            agg = pool.submit(_aggregates, other, path)
            try:
                _scan_jobs(conn, wfs, tick, overlaid)
            except BaseException:
                other.interrupt()
                raise
            (events, unknown), tasks = agg.result()
    ordered = _order(wfs)
    out_wfs = []
    held_lines: dict[str, list] = {}
    for w in ordered:
        tree = [w] + _descendants(w)
        jobs = [sum(x.jobs[i] for x in tree) for i in range(4)]
        subs = [sum(x.subwfs[i] for x in tree) for i in range(4)]
        tk = [sum(tasks.get(x.wf_id, (0, 0, 0, 0))[i] for x in tree) for i in range(4)]
        # the store's own counts, shown beside the DB's when jobstate.log's lines change them
        dj = [sum(x.delta[0][i] for x in tree) for i in range(4)]
        ds = [sum(x.delta[1][i] for x in tree) for i in range(4)]
        provisional = None
        if any(dj) or any(ds):
            provisional = {"tasks": _counts(tk), "jobs": _counts([a + b for a, b in zip(jobs, dj)]),
                           "sub_workflows": _counts([a + b for a, b in zip(subs, ds)])}
        if w.parent is not None and not _started(w):
            dag = None
        else:
            dag = _dag_row(w)
            dag["dagname"] = (w.dagman or {}).get("dagname") or w.dag_file
            dag["from"] = "dagman.out" if w.dagman is not None else "jobs"
        out_wfs.append({
            "wf_uuid": w.uuid,
            "label": w.label,
            "state": w.shown_state,
            "parent_wf_uuid": w.parent.uuid if w.parent else None,
            "start": _iso(w.start_ts),
            "end": _iso(w.end_ts),
            "tasks": _counts(tk),
            "jobs": _counts(jobs),
            "sub_workflows": _counts(subs),
            "provisional": provisional,
            "held": w.held,
            "held_now": w.counts[JobState.HELD],
            "dag": dag,
            "stalled": _stall(conn, w, now),
            "failed_jobs": w.failed,
        })
        held_lines[w.uuid] = [(job_id, reason if jiid is None else _hold_reason(conn, jiid))
                              for job_id, jiid, reason in w.held_now_jobs]
    roots = [w for w in ordered if w.parent is None]
    totals: dict = dict.fromkeys((*NODE_COLUMNS, "total"), 0)
    for r in roots:
        for s in _scope(r):
            row = _dag_row(s)
            for k in totals:
                totals[k] += row[k]
    totals["percent_done"] = percent_done(totals["done"], totals["total"])
    stalled_root = any(d["stalled"] for d, w in zip(out_wfs, ordered) if w.parent is None)
    if not roots:
        status = 2
    elif any(w.shown_state == WorkflowState.FAILED for w in wfs.values()):
        status = 1
    elif stalled_root:
        status = 4
    elif all(w.shown_state == WorkflowState.SUCCEEDED for w in roots):
        status = 0
    else:
        status = 2
    d = {
        "source": source,
        "exit_status": status,
        "events": events + len(overlay),
        "bad_records": 0,
        "unknown_events": unknown,
        "warnings": 0,
        "dag_totals": totals,
        "workflows": out_wfs,
    }
    depth = {w.uuid: _depth(w) for w in ordered}
    return d, {"depth": depth, "held": held_lines}


def _depth(w: _Wf) -> int:
    n = 0
    while w.parent is not None:
        n += 1
        w = w.parent
    return n


__all__ = ["once_from_db", "enabled", "Unsupported", "FORCE_STORE_ENV"]
