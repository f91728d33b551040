"""The store: workflows -> sub-workflows -> jobs -> tries -> invocations.

Built incrementally from :class:`~panorama_tui.events.Event` s.  Every update
is keyed by the ids the event carries (job_inst_id, js_id, inv_id, sample
time, transfer task id), so applying an event twice, or events out of order,
gives the same store.  Sources call :meth:`Store.apply_many` from their own
threads while holding :attr:`Store.lock`; views take the same lock to read and
drain :attr:`Store.dirty`.
"""

from __future__ import annotations

import math
import sys
import threading
from collections import Counter, deque
from struct import Struct

from . import gcpolicy
from .events import ONLINE as _ONLINE
from .events import BadEvent, Event, TraceSample, decode_exitcode, to_epoch, unquote_text
from .events import PLACEHOLDER_RAW, PLACEHOLDER_STATES, REMOVED_EXIT
from .fmt import clock_time, human_duration, visible
from .parsl_events import TASK_STATES as _PARSL_STATES
from .series import ResourceSeries
from .states import (
    FAILED_STATES,
    HELD_STATES,
    MAIN_DONE_STATES,
    QUEUED_STATES,
    SUCCESS_STATES,
    JobState,
    WorkflowState,
)

# Stampede jobstate names for each job_inst event, by [status == -1, else];
# the same table monitord's loader uses to fill the DB's jobstate table.
JOBSTATE_NAMES = {
    "stampede.job_inst.pre.start": ("PRE_SCRIPT_STARTED", "PRE_SCRIPT_STARTED"),
    "stampede.job_inst.pre.term": ("PRE_SCRIPT_TERMINATED", "PRE_SCRIPT_TERMINATED"),
    "stampede.job_inst.pre.end": ("PRE_SCRIPT_FAILED", "PRE_SCRIPT_SUCCESS"),
    "stampede.job_inst.submit.end": ("SUBMIT_FAILED", "SUBMIT"),
    "stampede.job_inst.main.start": ("EXECUTE", "EXECUTE"),
    "stampede.job_inst.main.term": ("JOB_EVICTED", "JOB_TERMINATED"),
    "stampede.job_inst.main.end": ("JOB_FAILURE", "JOB_SUCCESS"),
    "stampede.job_inst.post.start": ("POST_SCRIPT_STARTED", "POST_SCRIPT_STARTED"),
    "stampede.job_inst.post.term": ("POST_SCRIPT_TERMINATED", "POST_SCRIPT_TERMINATED"),
    "stampede.job_inst.post.end": ("POST_SCRIPT_FAILED", "POST_SCRIPT_SUCCESS"),
    "stampede.job_inst.held.start": ("JOB_HELD", "JOB_HELD"),
    "stampede.job_inst.held.end": ("JOB_RELEASED", "JOB_RELEASED"),
    "stampede.job_inst.image.info": ("IMAGE_SIZE", "IMAGE_SIZE"),
    "stampede.job_inst.abort.info": ("JOB_ABORTED", "JOB_ABORTED"),
    "stampede.job_inst.grid.submit.end": ("GRID_SUBMIT_FAILED", "GRID_SUBMIT"),
    "stampede.job_inst.globus.submit.end": ("GLOBUS_SUBMIT_FAILED", "GLOBUS_SUBMIT"),
}
# The same table the other way round: jobstate name -> (event, status), the
# status None for events that carry none.  Sources that read the DB use it.
STATE_EVENTS: dict[str, tuple[str, int | None]] = {}
for _event, (_failed, _ok) in JOBSTATE_NAMES.items():
    if _failed == _ok:
        STATE_EVENTS[_ok] = (_event, None)
    else:
        STATE_EVENTS[_ok] = (_event, 0)
        STATE_EVENTS[_failed] = (_event, -1)
SUBWF_TYPES = frozenset({"dax", "dag"})
_TRANSFER_FINAL = frozenset({"SUCCEEDED", "FAILED"})
MAX_WARNINGS = 200

# A try's states are kept packed in one bytes object of (ts, js_id, state
# code) double triples, sorted: 24 bytes a state instead of ~150 in a dict of
# tuples, and no object for the garbage collector to walk.
# Parsl's task states (lower case) after Stampede's: a Parsl task's tries keep them (parsl_model).
_STATE_NAMES: tuple[str, ...] = tuple(dict.fromkeys([*(n for pair in JOBSTATE_NAMES.values() for n in pair),
                                                     *_PARSL_STATES]))
_STATE_CODE = {n: float(i) for i, n in enumerate(_STATE_NAMES)}
_TRIPLE = Struct("=3d")
_END_STATES = frozenset({"JOB_TERMINATED", "JOB_EVICTED", "JOB_SUCCESS", "JOB_FAILURE", "JOB_ABORTED"})
_PHASES = {"PRE_SCRIPT_STARTED": "PRE", "PRE_SCRIPT_TERMINATED": "PRE",
           "POST_SCRIPT_STARTED": "POST", "POST_SCRIPT_TERMINATED": "POST"}
# What the STATE column says in place of the JobState's label: a PRE or POST
# script's phase, a Parsl task's own state name.
_STATE_WORDS = {**_PHASES, **{n: n for n in _PARSL_STATES}}
_NAN = math.nan
_NINF = -math.inf
_EXACT = 2.0**53  # a js_id a double holds exactly
_NUM_TYPES = frozenset({int, float, type(None)})
_intern = sys.intern
_INTERN_MAX = 256  # longer strings are not worth a lookup (nor kept interned)
# How deep a record kept whole for a view may nest (Darshan's module data and
# Globus's event lists are 3 deep); past it the record is a bad one, since
# str(), repr() and json of a 1,000-deep list raise RecursionError.
MAX_KEPT_DEPTH = 32


def _int(v):
    if type(v) is int:  # the common case, first: int(v) would return v itself
        return v
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        try:
            return int(float(v))
        except (TypeError, ValueError, OverflowError):  # "abc", NaN, 1e400
            return None


def _float(v):
    t = type(v)
    if t is float:  # the common cases, first: float(v) gives the same value
        return v
    if t is int:
        return float(v)
    if v is None or t is bool:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _str(v):
    """A field as text a view may show: the string with its control characters
    made visible (:func:`~panorama_tui.fmt.visible`); every string from an
    input enters the store through here."""
    if v is None:
        return None
    if type(v) is not str:
        v = str(v)
    return v if v.isprintable() else visible(v)


def _istr(v):
    """:func:`_str`, interned: for the short values thousands of records repeat
    (site, host, user, type, transformation, executable)."""
    if v is None:
        return None
    if type(v) is not str:
        v = str(v)
    if not v.isprintable():
        v = visible(v)
    return _intern(v) if len(v) <= _INTERN_MAX else v


def _kept(obj, depth: int = 0):
    """A record's data kept whole for a view (Darshan, transfers, kickstart
    summaries), its strings made visible; :class:`BadEvent` when it nests
    deeper than :data:`MAX_KEPT_DEPTH`."""
    t = type(obj)
    if t is str:
        return obj if obj.isprintable() else visible(obj)
    if t is dict or t is list:
        if depth >= MAX_KEPT_DEPTH:
            raise BadEvent(f"nested more than {MAX_KEPT_DEPTH} deep")
        if t is list:
            return [_kept(v, depth + 1) for v in obj]
        return {_kept(k): _kept(v, depth + 1) for k, v in obj.items()}
    return obj


_BAD = object()


def _field(s: "Store", name: str, d: dict, key: str, convert):
    """An optional numeric field: None when absent, ``_BAD`` (with a warning)
    when present but not a number, so the caller keeps what it had."""
    v = d.get(key)
    if v is None:
        return None
    out = convert(v)
    if out is None:
        s.warn(f"{name}: {key} {v!r} is not a number; ignored"[:200])
        return _BAD
    return out


def _field_int(s: "Store", name: str, d: dict, key: str):
    return _field(s, name, d, key, _int)


def _field_float(s: "Store", name: str, d: dict, key: str):
    return _field(s, name, d, key, _float)


class Invocation:
    __slots__ = (
        "inv_id", "task_id", "transformation", "start_time", "dur", "exitcode",
        "remote_cpu_time", "maxrss", "avg_cpu", "executable", "argv",
    )

    def __init__(self, inv_id: int):
        self.inv_id = inv_id
        self.task_id = self.transformation = self.start_time = self.dur = None
        self.exitcode = self.remote_cpu_time = self.maxrss = self.avg_cpu = None
        self.executable = self.argv = None  # argv: tasks only (not DAGMan's scripts)

    @property
    def is_script(self) -> bool:
        """DAGMan PRE/POST scripts have negative invocation ids."""
        return self.inv_id < 0


class Try:
    """One job instance (one submission of a job to the scheduler).

    Its jobstates are ``(ts, js_id, state)``: ts None when the record had no
    usable time, js_id -1 when it had none.  ``start_ts`` (earliest EXECUTE)
    and ``end_ts`` (earliest end of the main job) are kept as states arrive.
    """

    __slots__ = (
        "seq", "sched_id", "site", "host", "ip", "user", "work_dir", "_st", "_li",
        "state_name", "start_ts", "end_ts", "main_exitcode", "post_exitcode",
        "local_dur", "cluster_dur", "stdout_file", "stderr_file", "stdout_text", "stderr_text",
        "invocations", "reason", "multiplier",
    )

    def __init__(self, seq: int):
        self.seq = seq
        self.sched_id = self.site = self.host = self.ip = self.user = None
        self.work_dir = None
        self._st = b""  # packed (ts or NaN, js_id, state code) triples, sorted
        self._li = -1  # index of the latest state (by ts, then js_id)
        self.state_name: str | None = None  # the latest state's name
        self.start_ts: float | None = None
        self.end_ts: float | None = None
        self.main_exitcode = self.post_exitcode = None
        self.local_dur = None
        self.cluster_dur = None  # pegasus-cluster's own timing of a clustered job (jobs.csv's Seqexec)
        self.stdout_file = self.stderr_file = None
        self.stdout_text = self.stderr_text = None
        self.invocations: dict[int, Invocation] = {}
        self.reason = None
        self.multiplier = 1

    @property
    def exitcode(self):
        """The raw status as the DB keeps it: the POST script's, else main's."""
        return self.post_exitcode if self.post_exitcode is not None else self.main_exitcode

    def add_state(self, ts: float | None, js_id: int, state: str) -> bool:
        """Record a jobstate; False when it is already there.  ``js_id`` must
        be an int a double holds exactly (|js_id| <= 2**53).

        The triples are kept sorted by (ts, js_id, state), so the same states
        give the same bytes whatever order they came in."""
        code = _STATE_CODE[state]
        b = self._st
        n = len(b) // 24
        key = (_NINF if ts is None else ts, js_id, code)
        pos = n
        if n:
            t, j, c = _TRIPLE.unpack_from(b, len(b) - 24)
            last = (_NINF if t != t else t, j, c)
            if key <= last:  # not after the newest: find its place (or its twin)
                if key == last:
                    return False
                for i, (t, j, c) in enumerate(_TRIPLE.iter_unpack(b)):
                    k = (_NINF if t != t else t, j, c)
                    if k >= key:
                        if k == key:
                            return False
                        pos = i
                        break
        packed = _TRIPLE.pack(_NAN if ts is None else ts, js_id, code)
        self._st = b + packed if pos == n else b[:pos * 24] + packed + b[pos * 24:]
        li = self._li
        if li < 0:
            newer = True
        else:
            if li >= pos:
                li += 1
            lt, lj, _ = _TRIPLE.unpack_from(self._st, li * 24)
            newer = (ts or 0, js_id) >= ((0 if lt != lt else lt) or 0, lj)
        if newer:
            li = pos
            self.state_name = state
        self._li = li
        if ts is not None:
            if state == "EXECUTE":
                if self.start_ts is None or ts < self.start_ts:
                    self.start_ts = ts
            elif state in _END_STATES and (self.end_ts is None or ts < self.end_ts):
                self.end_ts = ts
        return True

    def _states(self) -> list[tuple]:
        names = _STATE_NAMES
        return [(None if t != t else t, int(j), names[int(c)]) for t, j, c in _TRIPLE.iter_unpack(self._st)]

    @property
    def last(self) -> tuple | None:
        """The latest state as ``(ts, js_id, state)``, or None."""
        if self._li < 0:
            return None
        t, j, c = _TRIPLE.unpack_from(self._st, self._li * 24)
        return (None if t != t else t, int(j), _STATE_NAMES[int(c)])

    @property
    def states(self) -> dict[tuple, tuple]:
        """Every state, as ``{(state, js_id, ts): (ts, js_id, state)}`` (made on demand)."""
        return {(v[2], v[1], v[0]): v for v in self._states()}

    def state_count(self) -> int:
        return len(self._st) // 24

    def state_times(self) -> list[float]:
        """The times of its states that have one."""
        return [t for t, _, _ in _TRIPLE.iter_unpack(self._st) if t == t]

    def state_time(self, *names: str) -> float | None:
        codes = {_STATE_CODE[n] for n in names if n in _STATE_CODE}
        times = [t for t, _, c in _TRIPLE.iter_unpack(self._st) if c in codes and t == t]
        return min(times) if times else None

    def has_state(self, *names: str) -> bool:
        codes = {_STATE_CODE[n] for n in names if n in _STATE_CODE}
        return any(c in codes for _, _, c in _TRIPLE.iter_unpack(self._st))

    def ordered_states(self) -> list[tuple]:
        return sorted(self._states(), key=lambda v: (v[0] or 0, v[1]))

    @property
    def removed(self) -> bool:
        """DAGMan removed this instance or its submission failed: a raw 1 monitord
        wrote for it is a placeholder (:data:`~panorama_tui.events.PLACEHOLDER_STATES`)."""
        return self.has_state(*PLACEHOLDER_STATES)

    def task_invocations(self) -> list[Invocation]:
        return [i for i in self.invocations.values() if not i.is_script]


class Job:
    __slots__ = (
        "wf", "job_id", "type_desc", "transformation", "task_ids", "max_retries",
        "submit_file", "executable", "argv", "tries", "state", "subwf_uuid",
        "series", "darshan", "transfers", "summary", "order", "clustered", "latest",
    )

    def __init__(self, wf: "Workflow", job_id: str, order: int):
        self.wf = wf
        self.job_id = job_id
        self.type_desc = None
        self.transformation = None
        self.task_ids: tuple[str, ...] = ()
        self.max_retries = None
        self.submit_file = self.executable = self.argv = None
        self.tries: dict[int, Try] = {}
        self.state = JobState.WAITING
        self.subwf_uuid = None
        self.series: ResourceSeries | None = None
        self.darshan: dict[tuple, dict] | None = None
        self.transfers: list[str] | None = None
        self.summary: dict | None = None
        self.order = order
        self.clustered = None
        # The try with the highest number (None before the first): kept by
        # the store as tries arrive, because every column, filter and sort
        # key reads it and max() over the tries for 100k jobs shows.
        self.latest: Try | None = None

    # -- derived figures -------------------------------------------------
    @property
    def key(self) -> tuple[str, str]:
        return (self.wf.wf_uuid, self.job_id)

    @property
    def is_subwf(self) -> bool:
        return self.type_desc in SUBWF_TYPES or self.subwf_uuid is not None

    @property
    def retries(self) -> int:
        return max(0, len(self.tries) - 1)

    @property
    def site(self):
        t = self.latest
        return t.site if t else None

    @property
    def host(self):
        t = self.latest
        return t.host if t else None

    @property
    def exit_raw(self):
        """The user's program status (main job) when known, else the POST script's;
        monitord's placeholder 1 of a removed instance is given as -1, the exit code
        the Pegasus tools show for it (every decoder passes a negative status through)."""
        t = self.latest
        if t is None:
            return None
        raw = t.main_exitcode if t.main_exitcode is not None else t.exitcode
        if raw == PLACEHOLDER_RAW and t.removed:  # only a raw 1 costs a look at the states
            return REMOVED_EXIT
        return raw

    @property
    def exit_code(self) -> int | None:
        return decode_exitcode(self.exit_raw)[0]

    @property
    def phase(self) -> str | None:
        """``PRE`` or ``POST`` while DAGMan runs the job's PRE or POST script
        (pegasus-status's PRE and POST columns), else None."""
        t = self.latest
        return _PHASES.get(t.state_name) if t is not None else None

    @property
    def state_label(self) -> str:
        """The word the STATE column shows: PRE or POST while a script runs, a Parsl
        task's own state (exec_done, dep_fail, ...), else the JobState's label."""
        t = self.latest
        word = _STATE_WORDS.get(t.state_name) if t is not None else None
        return word or self.state.label

    def duration(self, now: float | None) -> float | None:
        t = self.latest
        if t is None:
            return None
        start = t.start_ts
        if start is None:
            return None
        end = t.end_ts
        if end is None:
            if self.state not in (JobState.RUNNING, JobState.RETRYING) or now is None:
                return t.local_dur
            end = now
        return max(0.0, end - start)


class Task:
    __slots__ = ("task_id", "type_desc", "transformation", "argv", "job_id")

    def __init__(self, task_id: str):
        self.task_id = task_id
        self.type_desc = self.transformation = self.argv = self.job_id = None


class Transfer:
    __slots__ = ("task_id", "wf_uuid", "job_id", "data", "rank", "ts")

    def __init__(self, task_id: str):
        self.task_id = task_id
        self.wf_uuid = self.job_id = None
        self.data: dict = {}
        self.rank = (-1,)
        self.ts = None

    def get(self, key, default=None):
        return self.data.get(key, default)

    @property
    def status(self) -> str:
        return str(self.data.get("status") or "?")

    @property
    def is_final(self) -> bool:
        return self.status in _TRANSFER_FINAL


class Workflow:
    __slots__ = (
        "wf_uuid", "label", "parent_uuid", "root_uuid", "parent_job_id",
        "submit_dir", "user", "submit_host", "planner_version", "dag_file",
        "plan_ts", "wf_states", "jobs", "tasks", "children", "counts", "meta",
        "state", "start_ts", "end_ts", "status", "retries", "integrity", "dagman", "stalled",
    )

    def __init__(self, wf_uuid: str):
        self.wf_uuid = wf_uuid
        self.label = None
        self.parent_uuid = self.root_uuid = self.parent_job_id = None
        self.submit_dir = self.user = self.submit_host = None
        self.planner_version = self.dag_file = self.plan_ts = None
        self.wf_states: dict[tuple, tuple] = {}
        self.jobs: dict[str, Job] = {}
        self.tasks: dict[str, Task] = {}
        self.children: list[str] = []
        self.counts = [0] * len(JobState)
        self.meta: dict = {}
        self.state = WorkflowState.PLANNED
        self.start_ts = self.end_ts = None
        self.status = None
        self.retries = 0  # sum over its jobs of max(0, tries - 1), kept as tries appear
        # {(job_id, job_inst_id, type, file_type): (count, duration)}; None until
        # a first metric (most workflows have few or none)
        self.integrity: dict[tuple, tuple] | None = None
        # DAGMan's latest progress table, as pegasus-status reads it (sources/dagman_out.py), or None
        self.dagman: dict | None = None
        # (why, since when): the run stopped without an end monitord recorded (sources/submitdir.py), or None
        self.stalled: tuple[str, float] | None = None

    @property
    def ended(self) -> bool:
        return self.state in (WorkflowState.SUCCEEDED, WorkflowState.FAILED)

    @property
    def name(self) -> str:
        return self.label or self.wf_uuid[:8]


class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self._clear()

    def reset(self) -> None:
        """Forget everything (replay's backward seek rebuilds from zero)."""
        gcpolicy.thaw()  # what was frozen is about to be garbage
        structure = self.structure_version
        self._clear()
        # Views rebuild when this moves: from zero, the replay could bring it
        # back to the very number they saw, and they would keep the old jobs.
        self.structure_version = structure + 1

    def _clear(self) -> None:
        self.workflows: dict[str, Workflow] = {}
        self.transfers: dict[str, Transfer] = {}
        self.event_count = 0
        self.event_names: Counter = Counter()
        self.unknown: Counter = Counter()
        self.bad_count = 0
        self.warnings: deque = deque(maxlen=MAX_WARNINGS)
        self.warning_count = 0
        self.dirty: set[Job] = set()
        self.active: set[Job] = set()  # jobs RUNNING or RETRYING
        self.structure_version = 0  # bumps when workflows or jobs appear
        self.version = 0
        self.latest_ts: float | None = None
        self._order = 0
        self._failed: dict[tuple, Job] = {}

    # -- bookkeeping -----------------------------------------------------
    def warn(self, message: str) -> None:
        """A counted, visible warning about input the store could not use
        (the message may quote the input: its control characters are made visible)."""
        self.warning_count += 1
        self.warnings.append(visible(message))

    def note_bad(self, reason: str) -> None:
        """A record that never became an event (not JSON, no name, too big)."""
        self.bad_count += 1
        self.warn(reason)

    @property
    def roots(self) -> list[Workflow]:
        return [w for w in self.workflows.values() if not w.parent_uuid or w.parent_uuid not in self.workflows]

    def workflow(self, wf_uuid: str) -> Workflow:
        wf = self.workflows.get(wf_uuid)
        if wf is None:
            wf_uuid = _str(wf_uuid)  # a workflow is known by its id as the views show it
            wf = self.workflows.get(wf_uuid)
            if wf is None:
                wf = self.workflows[wf_uuid] = Workflow(wf_uuid)
                self.structure_version += 1
        return wf

    def job(self, wf: Workflow, job_id: str) -> Job:
        j = wf.jobs.get(job_id)
        if j is None:
            job_id = _str(job_id)  # a job is known by its id as the views show it
            j = wf.jobs.get(job_id)
            if j is None:
                self._order += 1
                j = wf.jobs[job_id] = Job(wf, job_id, self._order)
                wf.counts[j.state] += 1
                self.structure_version += 1
        return j

    def jobs(self):
        for wf in self.workflows.values():
            yield from wf.jobs.values()

    def job_count(self) -> int:
        return sum(len(wf.jobs) for wf in self.workflows.values())

    def failed_jobs(self) -> list[Job]:
        return sorted(self._failed.values(), key=lambda j: j.order)

    def find_job(self, wf_uuid: str, job_id: str) -> Job | None:
        wf = self.workflows.get(wf_uuid)
        return wf.jobs.get(job_id) if wf else None

    def descendants(self, wf: Workflow) -> list[Workflow]:
        out, stack = [], list(wf.children)
        while stack:
            c = self.workflows.get(stack.pop())
            if c is not None and c not in out:
                out.append(c)
                stack.extend(c.children)
        return out

    def tree_counts(self, wf: Workflow) -> list[int]:
        counts = list(wf.counts)
        for c in self.descendants(wf):
            for i, n in enumerate(c.counts):
                counts[i] += n
        return counts

    # -- ingest ----------------------------------------------------------
    def apply_many(self, events) -> int:
        n = 0
        with self.lock:
            for ev in events:
                self.apply(ev)
                n += 1
        return n

    def apply(self, ev: Event) -> None:
        self.event_count += 1
        self.version += 1
        name = ev.name
        self.event_names[name] += 1
        ts = ev.ts
        if ts is not None and (self.latest_ts is None or ts > self.latest_ts):
            self.latest_ts = ts
        handler = _HANDLERS.get(name)
        if handler is None:
            if name not in _IGNORED:
                self.unknown[_str(name)] += 1
            return
        try:
            handler(self, ev, ev.data)
        except BadEvent as exc:
            self.note_bad(f"{name}: {exc}"[:200])
        except RecursionError:  # str() of a field nested ~1,000 deep
            self.note_bad(f"{name}: nested too deeply"[:200])
        except Exception as exc:
            # A field of the wrong type, or whatever else a record holds: keep
            # what we had, say so, go on.  No record stops the ingest thread.
            self.warn(f"{name}: unusable record ({type(exc).__name__}: {exc})"[:200])

    def apply_sample(self, x) -> None:
        """A :class:`~panorama_tui.events.TraceSample` (already type-checked by
        its decoder): what :meth:`apply` does for a ``kickstart.inv.online``
        event, without the checks and the dict."""
        self.apply_decoded((x,))

    def apply_decoded(self, items) -> None:
        """Events and TraceSamples in arrival order, as Ingest decodes a slice
        (see :func:`panorama_tui.ingest.decode_batch`).

        The samples' bookkeeping (counts, version, newest time) is done once
        for the slice: it was ~0.1 us of the ~1.5 a sample costs here."""
        apply = self.apply
        workflows = self.workflows
        S = TraceSample
        n = 0
        newest = _NINF
        try:
            for x in items:
                if type(x) is not S:
                    apply(x)
                    continue
                n += 1
                ts = x.ts
                if ts > newest:
                    newest = ts
                u = x.xwf_id or x.wf_uuid
                wf = workflows.get(u)
                if wf is None:
                    wf = self.workflow(u)
                try:  # free unless it raises (zero-cost exceptions, Python >= 3.11)
                    _add_sample(self, wf, x.dag_job_id or x.job_id, x)
                except Exception as exc:
                    self.warn(f"{_ONLINE}: unusable sample ({type(exc).__name__}: {exc})"[:200])
        finally:  # what was applied is counted, whatever stopped the slice
            if n:
                self.event_count += n
                self.version += n
                self.event_names[_ONLINE] += n
                if self.latest_ts is None or newest > self.latest_ts:
                    self.latest_ts = newest

    # -- job state -------------------------------------------------------
    def _wf_of(self, d: dict) -> Workflow | None:
        wf_uuid = d.get("xwf_id") or d.get("wf_uuid")
        if not wf_uuid:
            return None
        if type(wf_uuid) is str:
            wf = self.workflows.get(wf_uuid)
            if wf is not None:
                return wf
        return self.workflow(str(wf_uuid))

    def _try_of(self, d: dict, name: str) -> tuple[Job, Try] | None:
        wf = self._wf_of(d)
        job_id = d.get("job_id")
        seq = _int(d.get("job_inst_id"))
        if wf is None or job_id is None or seq is None:
            self.warn(f"{name}: missing workflow, job or instance id")
            return None
        job = wf.jobs.get(job_id) if type(job_id) is str else None
        if job is None:
            job = self.job(wf, str(job_id))
        tries = job.tries
        t = tries.get(seq)
        if t is None:
            t = tries[seq] = Try(seq)
            if job.latest is None or seq > job.latest.seq:
                job.latest = t
            if len(tries) > 1:
                wf.retries += 1
        return job, t

    def _recompute(self, job: Job, new: JobState | None = None) -> None:
        """Set the job's state (``new``, or the one its Stampede states say) and keep
        the counts, the failed and the active jobs in step."""
        if new is None:
            new = self._derive_state(job)
        old = job.state
        if new != old:
            c = job.wf.counts
            c[old] -= 1
            c[new] += 1
            job.state = new
            if new == JobState.FAILED:
                self._failed[job.key] = job
            elif old == JobState.FAILED:
                self._failed.pop(job.key, None)
            if new == JobState.RUNNING or new == JobState.RETRYING:
                self.active.add(job)
            elif old == JobState.RUNNING or old == JobState.RETRYING:
                self.active.discard(job)
        self.dirty.add(job)

    @staticmethod
    def _derive_state(job: Job) -> JobState:
        tries = job.tries
        if not tries:
            return JobState.WAITING
        t = job.latest
        st = t.state_name
        if st is None:
            return JobState.WAITING
        wf = job.wf
        if st in SUCCESS_STATES:
            return JobState.DONE
        failed = st in FAILED_STATES
        if st in MAIN_DONE_STATES and wf.ended:
            # No POST script came and none will: the main job's result stands.
            ec = t.exitcode
            if ec is not None and _int(ec) == 0:
                return JobState.DONE
            failed = True
        if failed:
            if not wf.ended and job.max_retries is not None and len(job.tries) <= job.max_retries:
                return JobState.RETRYING  # DAGMan will submit it again
            return JobState.FAILED
        if st in HELD_STATES:
            return JobState.HELD
        earlier_failed = len(job.tries) > 1
        if st in QUEUED_STATES:
            return JobState.RETRYING if earlier_failed else JobState.QUEUED
        return JobState.RETRYING if earlier_failed else JobState.RUNNING

    def _add_jobstate(self, job: Job, t: Try, ev: Event, d: dict) -> bool:
        """Record the event's jobstate; True when that recomputed the job's state."""
        names = JOBSTATE_NAMES.get(ev.name)
        if names is None:
            return False
        status = d.get("status")
        if status is not None and type(status) is not int:
            status = _field_int(self, ev.name, d, "status")
        js_id = d.get("js_id")
        if js_id is not None and type(js_id) is not int:
            js_id = _field_int(self, ev.name, d, "js_id")
        if status is _BAD or js_id is _BAD:
            return False  # cannot tell which state this is, or where it goes
        if js_id is None:
            js_id = -1
        elif not -_EXACT <= js_id <= _EXACT:
            self.warn(f"{ev.name}: js_id {js_id!r} is out of range; state ignored"[:200])
            return False
        ts = ev.ts
        if ts is None and d.get("ts") is not None:
            self.warn(f"{ev.name}: ts {d.get('ts')!r} is not a usable time; state ignored"[:200])
            return False
        state = names[0] if status == -1 else names[1]
        if not t.add_state(ts, js_id, state):
            return False
        if state == "JOB_HELD" and d.get("reason"):
            t.reason = _str(d.get("reason"))
        self._recompute(job)
        return True


# ---------------------------------------------------------------------------
# Handlers: one per event name.  They take (store, event, data).


def _derive_transformation(job: Job) -> str | None:
    """The name a job goes by, from what is known of it, in a fixed order of
    preference so arrival order does not matter: its planned task's
    transformation, else its kickstart invocation's (latest try), else the
    role kickstart's ``-n`` gives an auxiliary job."""
    wf = job.wf
    for tid in sorted(job.task_ids):
        task = wf.tasks.get(tid)
        if task is not None and task.transformation:
            return task.transformation
    best = None
    for seq, t in job.tries.items():
        for inv in t.invocations.values():
            if inv.inv_id >= 0 and inv.transformation:
                k = (-seq, inv.inv_id)
                if best is None or k < best[0]:
                    best = (k, inv.transformation)
    if best is not None:
        return best[1]
    argv = job.argv or ""
    if " -n " in argv:
        return argv.split(" -n ", 1)[1].split()[0] or None
    return None


def _update_transformation(s: "Store", job: Job) -> None:
    name = _derive_transformation(job)
    if name is not None and name != job.transformation:
        job.transformation = name
        s.dirty.add(job)


def _h_wf_plan(s: Store, ev: Event, d: dict) -> None:
    wf = s._wf_of(d)
    if wf is None:
        return
    wf.label = _str(d.get("dax_label")) or wf.label
    wf.submit_dir = _str(d.get("submit_dir")) or wf.submit_dir
    wf.user = _str(d.get("user") or d.get("wf_user")) or wf.user
    wf.submit_host = _str(d.get("submit_hostname")) or wf.submit_host
    wf.planner_version = _str(d.get("planner_version")) or wf.planner_version
    wf.dag_file = _str(d.get("dag_file_name")) or wf.dag_file
    wf.plan_ts = ev.ts
    root = _str(d.get("root_xwf_id"))
    if root and root != wf.wf_uuid:
        wf.root_uuid = root
    parent = _str(d.get("parent_xwf_id"))
    if parent and parent != wf.wf_uuid and wf.parent_uuid != parent:
        if _is_ancestor(s, wf.wf_uuid, parent):
            s.warn(f"{ev.name}: {wf.wf_uuid} would be its own ancestor; parent {parent} ignored"[:200])
        else:
            wf.parent_uuid = parent
            p = s.workflow(parent)
            if wf.wf_uuid not in p.children:
                p.children.append(wf.wf_uuid)
    s.structure_version += 1


def _is_ancestor(s: Store, uuid: str, of: str) -> bool:
    """``uuid`` is ``of`` or one of its ancestors.  Links that would make a
    workflow its own ancestor are refused, so every walk up the tree (the job
    list's scope, the summary's indent) ends."""
    seen = set()
    while of is not None and of not in seen:
        if of == uuid:
            return True
        seen.add(of)
        wf = s.workflows.get(of)
        of = wf.parent_uuid if wf is not None else None
    return False


def _h_xwf_state(s: Store, ev: Event, d: dict) -> None:
    wf = s._wf_of(d)
    if wf is None:
        return
    end = ev.name == "stampede.xwf.end"
    restart = _field_int(s, ev.name, d, "restart_count")
    status = _field_int(s, ev.name, d, "status")
    if restart is _BAD or status is _BAD:
        return  # which run, or how it ended, is unknown: keep what we had
    restart = restart or 0
    wf.wf_states[(restart, end)] = (ev.ts, restart, end, status)
    # The latest restart's end (if any) decides the state.
    restart_now, has_end = max(wf.wf_states)
    ts, _, _, status = wf.wf_states[(restart_now, has_end)]
    starts = [v[0] for v in wf.wf_states.values() if not v[2] and v[0] is not None]
    wf.start_ts = min(starts) if starts else wf.start_ts
    was_ended = wf.ended
    if has_end:
        wf.end_ts = ts
        wf.status = status
        wf.state = WorkflowState.SUCCEEDED if status == 0 else WorkflowState.FAILED
    else:
        wf.end_ts = None
        wf.status = None
        wf.state = WorkflowState.RUNNING
    if was_ended != wf.ended:
        for job in wf.jobs.values():
            s._recompute(job)
    s.structure_version += 1


def _h_dagman_progress(s: Store, ev: Event, d: dict) -> None:
    """DAGMan's progress table (sources/dagman_out.py): the latest replaces the last."""
    wf = s._wf_of(d)
    if wf is not None:
        wf.dagman = {k: v for k, v in d.items() if k not in ("xwf_id", "provisional")}


def _h_stalled(s: Store, ev: Event, d: dict) -> None:
    """The run stopped without an end monitord recorded (``reason`` None: it came after all)."""
    wf = s._wf_of(d)
    if wf is None:
        return
    reason = _str(d.get("reason"))
    since = _float(d.get("since"))
    wf.stalled = (reason, since if since is not None else ev.ts) if reason else None


def _h_xwf_meta(s: Store, ev: Event, d: dict) -> None:
    wf = s._wf_of(d)
    if wf is not None and d.get("key") is not None:
        wf.meta[_str(d["key"])] = _kept(d.get("value"))


def _h_subwf_map(s: Store, ev: Event, d: dict) -> None:
    wf = s._wf_of(d)
    sub = _str(d.get("subwf_id"))
    job_id = d.get("job_id")
    if wf is None or not sub or job_id is None:
        return
    if sub == wf.wf_uuid or _is_ancestor(s, sub, wf.wf_uuid):
        s.warn(f"{ev.name}: {sub} would be its own ancestor; ignored"[:200])
        return
    job = s.job(wf, str(job_id))
    job.subwf_uuid = sub
    child = s.workflow(sub)
    child.parent_uuid = wf.wf_uuid
    child.parent_job_id = job.job_id
    if sub not in wf.children:
        wf.children.append(sub)
    s.dirty.add(job)
    s.structure_version += 1


def _h_task_info(s: Store, ev: Event, d: dict) -> None:
    wf = s._wf_of(d)
    tid = d.get("task_id")
    if wf is None or tid is None:
        return
    tid = _str(tid)
    task = wf.tasks.get(tid)
    if task is None:
        task = wf.tasks[tid] = Task(tid)
    task.type_desc = _istr(d.get("type_desc")) or task.type_desc
    task.transformation = _istr(d.get("transformation")) or task.transformation
    task.argv = _str(d.get("argv")) or task.argv
    if task.job_id:
        job = wf.jobs.get(task.job_id)
        if job is not None:
            _update_transformation(s, job)


def _h_task_map(s: Store, ev: Event, d: dict) -> None:
    wf = s._wf_of(d)
    tid, jid = d.get("task_id"), d.get("job_id")
    if wf is None or tid is None or jid is None:
        return
    tid = _str(tid)
    task = wf.tasks.get(tid)
    if task is None:
        task = wf.tasks[tid] = Task(tid)
    job = s.job(wf, str(jid))
    task.job_id = job.job_id  # one string for both
    if task.task_id not in job.task_ids:
        job.task_ids += (task.task_id,)
    _update_transformation(s, job)
    s.dirty.add(job)


def _h_job_info(s: Store, ev: Event, d: dict) -> None:
    wf = s._wf_of(d)
    jid = d.get("job_id")
    if wf is None or jid is None:
        return
    job = s.job(wf, str(jid))
    job.type_desc = _istr(d.get("type_desc")) or job.type_desc
    job.submit_file = _str(d.get("submit_file")) or job.submit_file
    job.executable = _str(d.get("executable")) or job.executable
    job.argv = _str(d.get("argv")) or job.argv
    job.clustered = _int(d.get("clustered"))
    mr = _int(d.get("max_retries"))
    if mr is not None:
        job.max_retries = mr
    # Auxiliary jobs have no task; kickstart's -n in argv names their role.
    _update_transformation(s, job)
    s._recompute(job)


def _h_job_inst_start(s: Store, ev: Event, d: dict) -> None:
    got = s._try_of(d, ev.name)
    if got is None:
        return
    job, t = got
    t.sched_id = _str(d.get("sched_id")) or t.sched_id
    t.site = _istr(d.get("site")) or t.site
    if not s._add_jobstate(job, t, ev, d):
        s._recompute(job)  # what it carried may change the state even when the jobstate is a twin


def _h_job_inst_state(s: Store, ev: Event, d: dict) -> None:
    got = s._try_of(d, ev.name)
    if got is None:
        return
    job, t = got
    if d.get("sched_id") is not None:
        t.sched_id = _str(d.get("sched_id"))
    _set_files(t, d, final=False)
    s._add_jobstate(job, t, ev, d)


def _set_files(t: Try, d: dict, final: bool) -> None:
    """main.end names the files as rotated (``.out.001``); earlier events the
    unrotated names.  main.end wins whatever the arrival order."""
    for attr in ("stdout_file", "stderr_file"):
        if d.get(attr) and (final or getattr(t, attr) is None):
            setattr(t, attr, _str(d[attr]))


def _h_job_inst_end(s: Store, ev: Event, d: dict) -> None:
    """main.end and post.end also carry the instance's results."""
    got = s._try_of(d, ev.name)
    if got is None:
        return
    job, t = got
    ec = _field_int(s, ev.name, d, "exitcode")
    if ec is not None and ec is not _BAD:
        if ev.name == "stampede.job_inst.post.end":
            t.post_exitcode = ec
        else:
            t.main_exitcode = ec
    if ev.name == "stampede.job_inst.main.end":
        t.site = _istr(d.get("site")) or t.site
        t.user = _istr(d.get("user")) or t.user
        t.work_dir = _str(d.get("work_dir")) or t.work_dir
        dur = _field_float(s, ev.name, d, "local_dur")
        if dur is not _BAD:
            t.local_dur = dur
        mult = _field_int(s, ev.name, d, "multiplier_factor")
        if mult is not _BAD:
            t.multiplier = mult or 1
        cdur = _field_float(s, ev.name, d, "cluster_dur")
        if cdur is not _BAD:
            t.cluster_dur = cdur
        if d.get("stdout_text") is not None:
            t.stdout_text = unquote_text(d.get("stdout_text"))
        if d.get("stderr_text") is not None:
            t.stderr_text = unquote_text(d.get("stderr_text"))
    if d.get("sched_id") is not None:
        t.sched_id = _str(d.get("sched_id"))
    _set_files(t, d, final=ev.name == "stampede.job_inst.main.end")
    if not s._add_jobstate(job, t, ev, d):
        s._recompute(job)  # what it carried may change the state even when the jobstate is a twin


def _h_host(s: Store, ev: Event, d: dict) -> None:
    got = s._try_of(d, ev.name)
    if got is None:
        return
    job, t = got
    t.host = _istr(d.get("hostname")) or t.host
    t.ip = _istr(d.get("ip")) or t.ip
    t.site = _istr(d.get("site")) or t.site
    s.dirty.add(job)


def _h_inv_end(s: Store, ev: Event, d: dict) -> None:
    got = s._try_of(d, ev.name)
    if got is None:
        return
    job, t = got
    inv_id = _int(d.get("inv_id"))
    if inv_id is None:
        s.warn(f"{ev.name}: no inv_id")
        return
    inv = t.invocations.get(inv_id)
    if inv is None:
        inv = t.invocations[inv_id] = Invocation(inv_id)
    tid = _str(d.get("task_id"))
    if tid:
        task = job.wf.tasks.get(tid)
        inv.task_id = task.task_id if task is not None else tid  # share the planned task's string
    inv.transformation = _istr(d.get("transformation")) or inv.transformation
    inv.start_time = to_epoch(d.get("start_time"))
    inv.dur = _float(d.get("dur"))
    ec = _field_int(s, ev.name, d, "exitcode")
    if ec is not _BAD:
        inv.exitcode = ec
    inv.remote_cpu_time = _float(d.get("remote_cpu_time"))
    inv.maxrss = _int(d.get("maxrss"))
    inv.avg_cpu = _float(d.get("avg_cpu"))
    inv.executable = _istr(d.get("executable")) or inv.executable
    if inv_id >= 0:  # a task's arguments; DAGMan's PRE/POST script lines are not shown
        inv.argv = _str(d.get("argv")) or inv.argv
    _update_transformation(s, job)
    s.dirty.add(job)


def _h_int_metric(s: Store, ev: Event, d: dict) -> None:
    """A job instance's checksum work.  monitord sends one record per (type,
    file_type) of an instance and the DB keeps them UNIQUE on (job_instance_id,
    type, file_type): keyed the same, a record seen twice replaces itself."""
    wf = s._wf_of(d)
    jid = d.get("job_id")
    seq = _int(d.get("job_inst_id"))
    typ = d.get("type")
    if wf is None or jid is None or seq is None or not typ:
        s.warn(f"{ev.name}: missing workflow, job, instance id or type")
        return
    count = _field_int(s, ev.name, d, "count")
    dur = _field_float(s, ev.name, d, "duration")
    if count is _BAD or dur is _BAD:
        return
    if wf.integrity is None:
        wf.integrity = {}
    wf.integrity[(str(jid), seq, _istr(typ), _istr(d.get("file_type")))] = (count, dur)


_KS_COUNTERS = ("utime", "stime", "rss", "bread", "bwrite", "rchar", "wchar", "rank")


def _h_kickstart(s: Store, ev: Event, d: dict) -> None:
    # The general lane: Ingest sends the well-typed samples to apply_sample;
    # this one takes any record (tests, relays, odd producers).  Plain numbers
    # are taken as they are, anything else goes through the checks that warn.
    g = d.get
    u = g("xwf_id") or g("wf_uuid")
    wf = s.workflows.get(u) if type(u) is str else None
    if wf is None:
        wf = s._wf_of(d)
    jid = g("dag_job_id") or g("job_id")
    if wf is None or jid is None:
        s.warn("kickstart.inv.online: no wf_uuid or dag_job_id")
        return
    ts = ev.ts
    if ts is None:
        s.warn("kickstart.inv.online: no usable ts")
        return
    ut, st, rss, rd = g("utime"), g("stime"), g("rss"), g("bread")
    wr, rc, wc, rank = g("bwrite"), g("rchar"), g("wchar"), g("rank")
    T = _NUM_TYPES
    if not (
        type(ut) in T
        and type(st) in T
        and type(rss) in T
        and type(rd) in T
        and type(wr) in T
        and type(rc) in T
        and type(wc) in T
        and type(rank) in T
    ):
        for key in _KS_COUNTERS:
            if _field_float(s, ev.name, d, key) is _BAD:
                return  # a sample with a broken counter would draw a false rate
        ut, st, rss, rd, wr, rc, wc = (_float(v) for v in (ut, st, rss, rd, wr, rc, wc))
    # float() of each counter, in the checks' order (an int past the float
    # range raises here, before anything is changed, as the checks did)
    f = float
    cpu = f(ut or 0.0) + f(st or 0.0)
    rss = f(rss or 0.0)
    rd = None if rd is None else f(rd)
    wr = None if wr is None else f(wr)
    rc = f(rc or 0.0)
    wc = f(wc or 0.0)
    if rank is not None:
        f(rank)
    if rd is None:
        rd = rc
    if wr is None:
        wr = wc
    rank = rank if type(rank) is int else (_int(rank) or 0)
    label = g("wf_label")
    xform = g("xformation")
    threads, procs = g("threads"), g("procs")
    # Checked and converted: from here on it is a sample like the typed lane's.
    x = TraceSample(
        event=_ONLINE,
        ts=ts,
        utime=cpu,
        rss=rss,
        bread=rd,
        bwrite=wr,
        rank=rank,
        hostname=g("hostname"),
        pid=g("pid"),
        exe=g("exe"),
        threads=threads if type(threads) is int else _int(threads),
        procs=procs if type(procs) is int else _int(procs),
        wf_label=_str(label) if label else None,
        xformation=_str(xform) if xform else None,
    )
    _add_sample(s, wf, jid, x)


def _add_sample(s: Store, wf: Workflow, jid, x) -> None:
    """One /proc sample, its types checked, into its job's series (both lanes end here)."""
    job = wf.jobs.get(jid) if type(jid) is str else None
    if job is None:
        job = s.job(wf, str(jid))
    if not wf.label and x.wf_label:
        wf.label = _str(x.wf_label)
    if not job.transformation and x.xformation:
        job.transformation = _istr(x.xformation)
    series = job.series
    if series is None:
        series = job.series = ResourceSeries()
    ut, st, rd, wr = x.utime, x.stime, x.bread, x.bwrite
    if series.add5(
        x.rank or 0,
        x.ts,
        (ut or 0.0) + (st or 0.0),
        (x.rss or 0.0) * 1024.0,  # kickstart reports kB
        (x.rchar or 0.0) if rd is None else rd,
        (x.wchar or 0.0) if wr is None else wr,
    ):
        h = x.hostname
        if h and h != series.hostname:
            series.hostname = _istr(h)
        series.pid = x.pid or series.pid
        e = x.exe
        if e and e != series.exe:
            series.exe = _str(e)
        series.threads = x.threads
        series.procs = x.procs
        s.dirty.add(job)


def _h_kickstart_summary(s: Store, ev: Event, d: dict) -> None:
    d = _kept(d)
    wf = s._wf_of(d)
    jid = d.get("dag_job_id") or d.get("job_id")
    if wf is None or jid is None:
        return
    job = s.job(wf, str(jid))
    job.summary = d
    s.dirty.add(job)


def _h_darshan(s: Store, ev: Event, d: dict) -> None:
    d = _kept(d)
    wf = s._wf_of(d)
    jid = d.get("job_id") or d.get("dag_job_id")
    if wf is None or jid is None:
        # Darshan without workflow context still counts: keep it under the
        # transfers-and-orphans view via a placeholder workflow.
        wf = s.workflow(str(d.get("xwf_id") or d.get("wf_uuid") or "unattributed"))
        jid = jid or d.get("jobid") or d.get("exe") or "darshan"
    job = s.job(wf, str(jid))
    if job.darshan is None:
        job.darshan = {}
    key = (d.get("job_inst_id"), d.get("jobid"), d.get("start_time"), d.get("end_time"), d.get("exe"))
    job.darshan[key] = d
    s.dirty.add(job)


def _transfer_rank(d: dict, ts) -> tuple:
    status = str(d.get("status") or "")
    return (
        1 if status in _TRANSFER_FINAL else 0,
        _float(d.get("bytes_transferred")) or 0.0,
        _float(d.get("files_transferred")) or 0.0,
        ts or 0.0,
    )


def _h_transfer(s: Store, ev: Event, d: dict) -> None:
    tid = d.get("task_id")
    if tid is None:
        s.warn("transfer.inv.go: no task_id")
        return
    d = _kept(d)
    tid = _str(tid)
    tr = s.transfers.get(tid)
    if tr is None:
        tr = s.transfers[tid] = Transfer(tid)
        s.structure_version += 1
    rank = _transfer_rank(d, ev.ts)
    if rank < tr.rank:
        return  # an older report of progress we have already seen
    tr.rank = rank
    tr.data = d
    tr.ts = ev.ts
    wf_uuid = d.get("wf_uuid") or d.get("xwf_id")
    jid = d.get("dag_job_id") or d.get("job_id")
    if wf_uuid:
        tr.wf_uuid = _str(wf_uuid)
        if jid:
            tr.job_id = _str(jid)
            job = s.job(s.workflow(tr.wf_uuid), tr.job_id)
            if job.transfers is None:
                job.transfers = []
            if tr.task_id not in job.transfers:
                job.transfers.append(tr.task_id)
            s.dirty.add(job)


def _h_gap(s: Store, ev: Event, d: dict) -> None:
    """panorama-top's own marker (sources/amqp.py): its link was down, what was published meanwhile is missing."""
    start, end = _float(d.get("start")), _float(d.get("end"))
    span = f"{clock_time(start)} to {clock_time(end)[-8:]} ({human_duration(end - start)})" if start and end else "?"
    s.warn(f"gap {span}: events sent meanwhile are missing ({d.get('reason') or 'the link was down'})"[:200])


def _h_noop(s: Store, ev: Event, d: dict) -> None:
    return None


_HANDLERS = {
    "stampede.wf.plan": _h_wf_plan,
    "stampede.xwf.start": _h_xwf_state,
    "stampede.xwf.end": _h_xwf_state,
    "stampede.xwf.meta": _h_xwf_meta,
    "stampede.xwf.map.subwf_job": _h_subwf_map,
    "stampede.task.info": _h_task_info,
    "stampede.wf.map.task_job": _h_task_map,
    "stampede.job.info": _h_job_info,
    "stampede.job_inst.pre.start": _h_job_inst_start,
    "stampede.job_inst.submit.start": _h_job_inst_start,
    "stampede.job_inst.main.end": _h_job_inst_end,
    "stampede.job_inst.post.end": _h_job_inst_end,
    "stampede.job_inst.host.info": _h_host,
    "stampede.inv.end": _h_inv_end,
    "stampede.int.metric": _h_int_metric,
    "dagman.progress": _h_dagman_progress,
    "panorama.wf.stalled": _h_stalled,
    "kickstart.inv.online": _h_kickstart,
    "kickstart.inv.summary": _h_kickstart_summary,
    "darshan.perf": _h_darshan,
    "transfer.inv.go": _h_transfer,
    "panorama.gap": _h_gap,
}
for _name in JOBSTATE_NAMES:
    _HANDLERS.setdefault(_name, _h_job_inst_state)
# Known events that carry nothing the screen shows (yet); not "unknown".
_IGNORED = frozenset(
    {
        "stampede.static.start",
        "stampede.static.end",
        "stampede.static.meta.start",
        "stampede.static.meta.end",
        "stampede.task.edge",
        "stampede.task.meta",
        "stampede.job.edge",
        "stampede.inv.start",
        "stampede.job_inst.composite",
        "stampede.job_inst.tag",
        "stampede.job_inst.grid.submit.start",
        "stampede.job_inst.globus.submit.start",
        # A job's MONITORING_PAYLOAD block, unwrapped live: no instance id, and
        # monitord sends the same figures as stampede.int.metric when the job
        # ends; counting both would count them twice.
        "int.metric",
        "stampede.rc.meta",
        "stampede.rc.pfn",
        "stampede.wf.map.file",
        "stampede.task.monitoring",
        "darshan.error",
        "transfer.status",
        "collector.status",
    }
)


def register_handlers(handlers: dict) -> None:
    """Another domain's event handlers join the table (parsl_model registers its own when imported)."""
    _HANDLERS.update(handlers)


from . import parsl_model  # noqa: E402,F401  (the parsl.* handlers; issue #13 moves this to the registry)
