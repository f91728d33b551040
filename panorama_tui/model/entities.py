"""The model's objects: workflows -> jobs -> tries -> invocations, tasks and transfers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from struct import Struct
from types import MappingProxyType

from ..core.events import PLACEHOLDER_RAW, PLACEHOLDER_STATES, REMOVED_EXIT, decode_exitcode
from ..core.parsl_events import TASK_STATES as _PARSL_STATES
from ..core.stampede import JOBSTATE_NAMES, SUBWF_TYPES
from .series import ResourceSeries
from .states import JobState, WorkflowState

_TRANSFER_FINAL = frozenset({"SUCCEEDED", "FAILED"})

# A try's states are kept packed in one bytes object of (ts, js_id, state
# code) double triples, sorted: 24 bytes a state instead of ~150 in a dict of
# tuples, and no object for the garbage collector to walk.
# Parsl's task states (lower case) after Stampede's: a Parsl task's tries keep them (parsl).
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

# A try's invocations until its first: one shared, read-only empty mapping (an empty dict
# a try is 64 bytes, 70 MB at 1M jobs); the handler that adds one makes the try its own dict.
NO_INVOCATIONS: Mapping = MappingProxyType({})


class Invocation:
    __slots__ = (
        "inv_id", "task_id", "transformation", "start_time", "dur", "exitcode",
        "remote_cpu_time", "maxrss", "avg_cpu", "executable", "argv",
    )

    def __init__(self, inv_id: int):
        self.inv_id = inv_id
        self.task_id: str | None = None
        self.transformation: str | None = None
        self.start_time: float | None = None
        self.dur: float | None = None
        self.exitcode: int | None = None
        self.remote_cpu_time: float | None = None
        self.maxrss: float | None = None
        self.avg_cpu: float | None = None
        self.executable: str | None = None
        self.argv: str | None = None  # argv: tasks only (not DAGMan's scripts)

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
        self.sched_id: str | None = None
        self.site: str | None = None
        self.host: str | None = None
        self.ip: str | None = None
        self.user: str | None = None
        self.work_dir: str | None = None
        self._st = b""  # packed (ts or NaN, js_id, state code) triples, sorted
        self._li = -1  # index of the latest state (by ts, then js_id)
        self.state_name: str | None = None  # the latest state's name
        self.start_ts: float | None = None
        self.end_ts: float | None = None
        self.main_exitcode: int | None = None
        self.post_exitcode: int | None = None
        self.local_dur: float | None = None
        self.cluster_dur = None  # pegasus-cluster's own timing of a clustered job (jobs.csv's Seqexec)
        self.stdout_file: str | None = None
        self.stderr_file: str | None = None
        self.stdout_text: str | None = None
        self.stderr_text: str | None = None
        self.invocations: Mapping[int, Invocation] = NO_INVOCATIONS
        self.reason: str | None = None
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
        wrote for it is a placeholder (:data:`~panorama_tui.core.events.PLACEHOLDER_STATES`)."""
        return self.has_state(*PLACEHOLDER_STATES)

    def task_invocations(self) -> list[Invocation]:
        return [i for i in self.invocations.values() if not i.is_script]


class Job:
    __slots__ = (
        "wf", "job_id", "type_desc", "transformation", "task_ids", "max_retries",
        "submit_file", "executable", "argv", "tries", "state", "subwf_uuid",
        "series", "darshan", "transfers", "summary", "order", "clustered", "latest", "partial",
    )

    def __init__(self, wf: "Workflow", job_id: str, order: int):
        self.wf = wf
        self.job_id = job_id
        self.type_desc: str | None = None
        self.transformation: str | None = None
        self.task_ids: tuple[str, ...] = ()
        self.max_retries: int | None = None
        self.submit_file: str | None = None
        self.executable: str | None = None
        self.argv: str | None = None
        self.tries: dict[int, Try] = {}
        self.state = JobState.WAITING
        self.subwf_uuid: str | None = None
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
        # Loaded in bulk (a big DB: handlers/stampede_bulk.py): its tries hold their
        # latest state, start and end, not their history, which is read when asked for
        # (Store.apply_history).
        self.partial = False

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
        self.type_desc: str | None = None
        self.transformation: str | None = None
        self.argv: str | None = None
        self.job_id: str | None = None


class Transfer:
    __slots__ = ("task_id", "wf_uuid", "job_id", "data", "rank", "ts")

    def __init__(self, task_id: str):
        self.task_id = task_id
        self.wf_uuid: str | None = None
        self.job_id: str | None = None
        self.data: dict = {}
        self.rank = (-1,)
        self.ts: float | None = None

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
        self.label: str | None = None
        self.parent_uuid: str | None = None
        self.root_uuid: str | None = None
        self.parent_job_id: str | None = None
        self.submit_dir: str | None = None
        self.user: str | None = None
        self.submit_host: str | None = None
        self.planner_version: str | None = None
        self.dag_file: str | None = None
        self.plan_ts: float | None = None
        self.wf_states: dict[tuple, tuple] = {}
        self.jobs: dict[str, Job] = {}
        self.tasks: dict[str, Task] = {}
        self.children: list[str] = []
        self.counts = [0] * len(JobState)
        self.meta: dict = {}
        self.state = WorkflowState.PLANNED
        self.start_ts: float | None = None
        self.end_ts: float | None = None
        self.status: int | None = None
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
