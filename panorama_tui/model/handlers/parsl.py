"""Parsl runs in the store: the ``parsl.*`` handlers, the task state rule,
per-task resources, why a task failed, and when a run is stalled or killed.

The existing model holds a Parsl run as it holds a Pegasus one, so the job
list, the Failures panel, the detail, ``--once`` and ``--report`` show it:

* a run is a :class:`~panorama_tui.model.store.Workflow` (its ``wf_uuid`` the run id,
  its label the workflow name), a task a :class:`~panorama_tui.model.store.Job`
  (``job_id`` the task id, ``transformation`` the app's name, ``site`` the
  executor, ``host`` the try's host), a try a :class:`~panorama_tui.model.store.Try`
  (its states the task's status rows of that try);
* what Parsl has and Pegasus has not (dependencies, joins, fail histories, the
  workers' raw resource samples, the DB's own counts, the writer) is kept in a
  :class:`ParslRun` that hangs off its workflow (``wf.meta[RUN_KEY]``), so it
  goes when the store is emptied.

The state of a task (Parsl's status rows are not always in order: the
worker's ``running`` rows come from another clock and often land after the
DFK's next state, a failed try's rows after its retry's) is decided by:
a final state (exec_done, memo_done, failed, dep_fail) wins, whatever its
try or time; otherwise the state of the latest try, which is its end
(fail_retryable) if it has one, else its furthest state along pending ->
launched -> running -> running_ended -> joining (time breaks ties).  The
order a row arrives in never matters.  The state maps onto the screen's
:class:`~panorama_tui.model.states.JobState` (pending: waiting, launched: queued,
running / running_ended / joining: running, a later try's: retrying,
fail_retryable: retrying, exec_done / memo_done: done, failed / dep_fail:
failed) and Parsl's own name is what the STATE column shows.

Resources: with the HighThroughputExecutor the sampled process is the
long-lived worker, so its CPU and I/O counters run across the tasks it ran.
A try's figures are its samples less its first sample (taken as the try
starts), carried on from its earlier tries', so a task's series counts only
its own work; they are approximate when another try sampled the same
process (host, pid) meanwhile (a thread pool, an internal join).  Memory is
the process's resident size as sampled, the worker's own included.
"""

from __future__ import annotations

import os
import re
from array import array
from bisect import bisect_left, insort
from collections import Counter, deque
from dataclasses import dataclass
from itertools import chain
from struct import Struct
from typing import TYPE_CHECKING

from ...core import gcpolicy
from ...core import parsl_events as pe
from ...core.parsl_samples import draw_series, shape_samples
from ...core.fmt import clock_time, human_bytes, human_duration, visible
from ..coerce import _float, _int, _istr, _str
from ..entities import _NAN, _STATE_CODE, _STATE_NAMES, Job, Try, Workflow
from ..series import ResourceSeries
from ..states import JobState, WorkflowState
from . import handles

if TYPE_CHECKING:
    from ..store import Store

RUN_KEY = "parsl.run"  # the Workflow.meta key of its ParslRun
_SAMPLE = Struct("=5d")  # a resource sample: ts, cpu s, rss B, read B, written B

# -- stalls --------------------------------------------------------------------------------------
# A run without an end has stalled when nothing has been written for STALL_FACTOR
# times its cadence, and at least STALL_FLOOR: its resource interval while a task
# runs with resource monitoring (a sample is due every interval per running task),
# else the 90th percentile of the gaps between its recent activity times.  The
# floor is 30 times the writer's 1 s batching and lock-retry sleep, and 8 times
# the longest gap of the shared runs (3.7 s, before their first worker started).
# A long wait is not a stall: tasks launched to an executor with no worker yet
# (a batch queue), or running without resource monitoring, may be silent for hours.
STALL_FACTOR = 10
STALL_FLOOR = 30.0
RECENT_TIMES = pe.RECENT_TIMES  # distinct activity times the pace is taken from
TAIL_LINES = 12
TAIL_BYTES = 64 * 1024

_BASH_EXIT = re.compile(r"BashExitFailure\('(?:[^'\\]|\\.)*', (-?\d+)\)")
_TASK_REF = re.compile(r"'task (\d+)'")
_RUNNING_LIKE = frozenset({pe.RUNNING, pe.RUNNING_ENDED})


class ParslTry:
    """What Parsl keeps of a try beyond the store's :class:`~panorama_tui.model.store.Try`."""

    __slots__ = ("task_id", "try_id", "executor", "block_id", "hostname", "launched", "running", "returned",
                 "fail_history", "joins", "state", "_key", "_samples", "pid", "carry")

    def __init__(self, task_id: int, try_id: int):
        self.task_id = task_id
        self.try_id = try_id
        self.executor = self.block_id = self.hostname = None
        self.launched: float | None = None
        self.running: float | None = None
        self.returned: float | None = None
        self.fail_history: str | None = None
        self.joins: tuple[int, ...] = ()
        self.state: str | None = None
        self._key: tuple | None = None  # the order of its state (see note_state)
        # raw (ts, cpu s, rss B, read B, written B) samples, by time, packed: 40 bytes a sample
        # instead of a 176-byte tuple of floats (~280k samples at 100k tasks: 38 MB less)
        self._samples = b""
        self.pid = None
        self.carry: tuple | None = None  # where its counters start in the task's series (_carry)

    def note_state(self, name: str, ts: float | None) -> bool:
        """Take a status row into the try's state; True when the state changed.
        Its end (fail_retryable or a final state) wins, else its furthest state
        along the try's path; time breaks ties, so arrival order never counts."""
        t = -1.0 if ts is None else ts
        key = (1, 0, t) if name in pe.TRY_END_STATES else (0, pe.STATE_RANK.get(name, 0), t)
        if self._key is not None and key <= self._key:
            return False
        self._key = key
        changed = name != self.state
        self.state = name
        return changed

    @property
    def samples(self) -> list[tuple]:
        """Its samples, (ts, cpu s, rss B, read B, written B) by time (unpacked on demand)."""
        return list(_SAMPLE.iter_unpack(self._samples))

    def set_samples(self, samples) -> None:
        self._samples = b"".join(_SAMPLE.pack(*x) for x in samples)

    def first_sample(self) -> tuple:
        return _SAMPLE.unpack_from(self._samples, 0)

    def add_sample(self, sample: tuple) -> bool | None:
        """Take a sample: None when one of its time is there already, else whether it came in order."""
        b = self._samples
        ts = sample[0]
        if not b or ts > _SAMPLE.unpack_from(b, len(b) - _SAMPLE.size)[0]:
            self._samples = b + _SAMPLE.pack(*sample)
            return True
        samples = self.samples
        i = bisect_left(samples, (ts,))
        if i < len(samples) and samples[i][0] == ts:
            return None  # seen already (the DB keeps one sample a try and time)
        insort(samples, sample)
        self.set_samples(samples)
        return False

    @property
    def window(self) -> tuple[float, float] | None:
        b = self._samples
        if not b:
            return None
        return (_SAMPLE.unpack_from(b, 0)[0], _SAMPLE.unpack_from(b, len(b) - _SAMPLE.size)[0])

    def usage(self) -> tuple[float, float, float, float] | None:
        """(CPU s, peak RSS B, read B, written B) of this try: its counters' change since its first sample."""
        b = self._samples
        if not b:
            return None
        v = memoryview(b).cast("d")  # ts, cpu, rss, read, written, ts, ...: no tuple a sample
        n = len(v) - 5
        return (max(0.0, v[n + 1] - v[1]), max(v[2::5]), max(0.0, v[n + 3] - v[3]), max(0.0, v[n + 4] - v[4]))


class ParslTask:
    __slots__ = ("task_id", "job", "depends", "memoize", "hashsum", "inputs", "outputs", "stdin", "stdout",
                 "stderr", "invoked", "returned", "fail_count", "fail_cost", "tries", "state")

    def __init__(self, task_id: int, job: Job):
        self.task_id = task_id
        self.job = job
        self.depends: tuple[int, ...] = ()
        self.memoize = self.hashsum = self.inputs = self.outputs = self.stdin = None
        self.stdout = self.stderr = None
        self.invoked: float | None = None
        self.returned: float | None = None
        self.fail_count: float | None = None
        self.fail_cost: float | None = None
        self.tries: dict[int, ParslTry] = {}
        self.state: str | None = None  # Parsl's name for where the task is (the rule above)


class ParslRun:
    """A Parsl run's own facts, beside its :class:`~panorama_tui.model.store.Workflow`."""

    def __init__(self, wf: Workflow):
        self.wf = wf
        self.run_id = wf.wf_uuid
        self.version = None
        self.tasks: dict[int, ParslTask] = {}
        self.state_counts: Counter = Counter()  # Parsl state -> tasks in it
        self.db_failed = self.db_completed = None  # the DB's own tasks_failed_count, tasks_completed_count
        self.time_completed: float | None = None
        self.interval: float | None = None  # resource_monitoring_interval
        self._activity: float | None = None  # the latest time of every row but the run's end
        self.recent: deque = deque(maxlen=RECENT_TIMES)
        self.writer: tuple[bool, float] | None = None  # (a writer holds the DB, when that was seen)
        self.blocks: dict[str, tuple] = {}  # block_id -> (scheduler job id, status, ts)
        self.nodes: dict[tuple, dict] = {}  # (hostname, uid) -> its latest node row
        self.workers: dict[tuple, list] = {}  # (host or None, pid) -> the ParslTrys that sampled it
        self.running = 0  # tasks in running / running_ended now
        # app -> [tasks, done, failed]: the tree's app groups, kept as tasks move (100k tasks are not walked a tick)
        self.apps: dict[str, list[int]] = {}

    def count_app(self, task: "ParslTask", state: str | None, sign: int) -> None:
        """Add (sign 1) or take away (-1) a task in ``state`` from its app's counts."""
        app = task.job.transformation
        if app is None:
            return
        c = self.apps.get(app)
        if c is None:
            c = self.apps[app] = [0, 0, 0]
        c[0] += sign
        if state in (pe.EXEC_DONE, pe.MEMO_DONE):
            c[1] += sign
        elif state in pe.FAILURE_STATES:
            c[2] += sign

    @property
    def ended(self) -> bool:
        return self.time_completed is not None

    @property
    def failed(self) -> int:
        """Tasks whose final state is ``failed``: Parsl's own tasks_failed_count."""
        return self.state_counts[pe.FAILED]

    @property
    def last_activity(self) -> float | None:
        """The latest activity: of the rows, and the run's end as its row says now (the DB
        manager's own end can come first and later than the DFK's, which replaces it: a
        reader that saw both must end where one that saw only the last does)."""
        ends = self.time_completed
        if ends is None or (self._activity is not None and self._activity > ends):
            return self._activity
        return ends

    def note_activity(self, *times) -> None:
        recent = self.recent
        for ts in times:
            if ts is None:
                continue
            if self._activity is None or ts > self._activity:
                self._activity = ts
            if not recent or ts != recent[-1]:
                recent.append(ts)

    def pace(self) -> float:
        """The 90th percentile of the gaps between its recent distinct activity times."""
        times = sorted(set(self.recent))
        gaps = sorted(b - a for a, b in zip(times, times[1:]))
        return gaps[int(0.9 * (len(gaps) - 1))] if gaps else 0.0


def run_of(wf: Workflow | None) -> ParslRun | None:
    """The workflow's ParslRun when it is a Parsl run, else None."""
    if wf is None:
        return None
    run = wf.meta.get(RUN_KEY)
    return run if isinstance(run, ParslRun) else None


def task_of(job: Job) -> ParslTask | None:
    run = run_of(job.wf)
    if run is None:
        return None
    tid = _int(job.job_id)
    return run.tasks.get(tid) if tid is not None else None


# -- the handlers ----------------------------------------------------------------------------


def _run(s: Store, d: dict) -> ParslRun | None:
    run_id = d.get("run_id")
    if not run_id:
        s.warn(f"{d.get('event')}: no run_id")
        return None
    wf = s.workflows.get(run_id) if type(run_id) is str else None
    if wf is None:
        wf = s.workflow(str(run_id))
    run = wf.meta.get(RUN_KEY)
    if run is None:
        run = wf.meta[RUN_KEY] = ParslRun(wf)
        wf.state = WorkflowState.RUNNING
    return run


def _task(s: Store, run: ParslRun, d: dict) -> ParslTask | None:
    tid = _int(d.get("task_id"))
    if tid is None:
        s.warn(f"{d.get('event')}: no task_id")
        return None
    task = run.tasks.get(tid)
    return task if task is not None else _new_task(s, run, tid)


def _new_task(s: Store, run: ParslRun, tid: int) -> ParslTask:
    job = s.job(run.wf, str(tid))
    job.type_desc = "app"
    task = run.tasks[tid] = ParslTask(tid, job)
    return task


def _try(s: Store, run: ParslRun, task: ParslTask, d: dict) -> tuple[Try, ParslTry]:
    """The store's try and ours (made when first named)."""
    ptry = _ptry(task, d)
    got = s._try_of({"xwf_id": run.run_id, "job_id": task.job.job_id, "job_inst_id": ptry.try_id}, d.get("event"))
    return got[1], ptry


def _ptry(task: ParslTask, d: dict) -> ParslTry:
    try_id = _int(d.get("try_id")) or 0  # a Parsl before the try column ran one try a status row
    ptry = task.tries.get(try_id)
    if ptry is None:
        ptry = task.tries[try_id] = ParslTry(task.task_id, try_id)
    return ptry


def _h_workflow(s: Store, ev, d: dict) -> None:
    run = _run(s, d)
    if run is None:
        return
    wf = run.wf
    name = _str(d.get("workflow_name"))
    label = wf.label
    run.version = _str(d.get("workflow_version")) or run.version
    wf.label = name or wf.label or "parsl"
    wf.user = _str(d.get("user")) or wf.user
    wf.submit_host = _str(d.get("host")) or wf.submit_host
    wf.submit_dir = _str(d.get("rundir")) or wf.submit_dir
    began, completed = _float(d.get("time_began")), _float(d.get("time_completed"))
    if began is not None:
        wf.start_ts = wf.plan_ts = began
    # The counts only grow.  The end is the row's latest: told to stop before it has written
    # the DFK's end, the DB manager writes one of its own (datetime.now(): "abnormal exit"),
    # then the DFK's, which is earlier.
    run.db_failed = _most(run.db_failed, _int(d.get("tasks_failed_count")))
    run.db_completed = _most(run.db_completed, _int(d.get("tasks_completed_count")))
    if completed is not None:
        run.time_completed = wf.end_ts = completed
    run.note_activity(began)  # the end counts through last_activity, as the row says it now
    _set_outcome(run)
    if wf.label != label:
        s.structure_version += 1  # the names views tell workflows apart by (the row comes every batch)


def _most(a, b):
    return b if a is None else a if b is None else max(a, b)


def _set_outcome(run: ParslRun) -> None:
    """The workflow's state: running until Parsl records the end, then succeeded
    when every task is done (exec_done or memo_done), else failed."""
    wf = run.wf
    if not run.ended:
        wf.state, wf.status = WorkflowState.RUNNING, None
        return
    c = run.state_counts
    ok = c[pe.EXEC_DONE] + c[pe.MEMO_DONE] == len(run.tasks)
    wf.state = WorkflowState.SUCCEEDED if ok else WorkflowState.FAILED
    wf.status = 0 if ok else 1


def _h_task(s: Store, ev, d: dict) -> None:
    run = _run(s, d)
    task = _task(s, run, d) if run is not None else None
    if task is None:
        return
    job = task.job
    func = d.get("task_func_name")
    if func and func != job.transformation:
        run.count_app(task, task.state, -1)
        job.transformation = _istr(func)
        run.count_app(task, task.state, 1)
    deps = d.get("task_depends")
    if deps:
        task.depends = tuple(_int(x) for x in deps if _int(x) is not None)
    for attr, key in (("memoize", "task_memoize"), ("hashsum", "task_hashsum"), ("inputs", "task_inputs"),
                      ("outputs", "task_outputs"), ("stdin", "task_stdin"), ("stdout", "task_stdout"),
                      ("stderr", "task_stderr")):
        v = d.get(key)
        if v not in (None, ""):
            setattr(task, attr, _task_text(attr, v))
    task.invoked = _float(d.get("task_time_invoked")) or task.invoked
    returned = _float(d.get("task_time_returned"))
    if returned is not None and (task.returned is None or returned > task.returned):
        task.returned = returned
    for attr, key in (("fail_count", "task_fail_count"), ("fail_cost", "task_fail_cost")):
        v = _float(d.get(key))
        if v is not None and (getattr(task, attr) is None or v > getattr(task, attr)):
            setattr(task, attr, v)
    executor = d.get("task_executor")  # older Parsl kept it on the task
    for t in job.tries.values():
        _task_files(task, t)
        if executor and not t.site:
            t.site = _istr(executor)
    run.note_activity(task.invoked, returned)
    s.changed.add(job)


_SHARED_TEXT = frozenset({"memoize", "inputs", "outputs", "stdin"})


def _task_text(attr: str, v) -> str:
    """A task's text field; those most tasks repeat ('0', 'None', '[]') shared (interned), not
    the ones each task has its own of (hashsum, stdout and stderr paths)."""
    return _istr(v) if attr in _SHARED_TEXT else _str(v)


def _task_files(task: ParslTask, t: Try) -> None:
    t.stdout_file = task.stdout or t.stdout_file
    t.stderr_file = task.stderr or t.stderr_file


def _h_try(s: Store, ev, d: dict) -> None:
    run = _run(s, d)
    task = _task(s, run, d) if run is not None else None
    if task is None:
        return
    t, ptry = _try(s, run, task, d)
    ptry.executor = _istr(d.get("task_executor")) or ptry.executor
    ptry.block_id = _str(d.get("block_id")) or ptry.block_id
    ptry.hostname = _istr(d.get("hostname")) or ptry.hostname
    for attr, key in (("launched", "task_try_time_launched"), ("running", "task_try_time_running"),
                      ("returned", "task_try_time_returned")):
        v = _float(d.get(key))
        if v is not None:
            setattr(ptry, attr, v)
    _try_onto(run, task, t, ptry, d.get("task_fail_history"), d.get("task_joins"))
    run.note_activity(ptry.launched, ptry.running, ptry.returned)
    s.changed.add(task.job)


def _try_onto(run, task, t, ptry, history, joins) -> None:
    """A try row's failure history and joins, then what the store's try shows of it (the row
    handler's and the bulk handler's one way)."""
    if history:
        # A multi-line history (older Parsl kept str(e); a traceback) keeps its
        # lines: only the other control characters are made visible.
        ptry.fail_history = visible(str(history), text=True)
        code = bash_exit(ptry.fail_history)
        if code is not None:
            t.main_exitcode = code << 8 & 0xFFFF  # a wait status, as the store keeps exit codes
    if joins:
        ptry.joins = tuple(_int(x) for x in joins if _int(x) is not None)
        task.job.type_desc = "join_app"
    t.site = ptry.executor or t.site
    t.host = ptry.hostname or t.host
    t.sched_id = ptry.block_id or t.sched_id
    if ptry.running is not None:
        t.start_ts = ptry.running
    if ptry.returned is not None:
        t.end_ts = ptry.returned
    _task_files(task, t)
    _resample_workers(run, ptry)


def bash_exit(history: str | None) -> int | None:
    """A bash app's exit code from a try's fail history (``BashExitFailure('app', 3)``), else None."""
    if not history or not history.startswith("BashExitFailure("):
        return None  # another exception, or one that names a bash app's failure as its cause
    m = _BASH_EXIT.match(history)
    return int(m.group(1)) if m else None


def _h_status(s: Store, ev, d: dict) -> None:
    run = _run(s, d)
    task = _task(s, run, d) if run is not None else None
    if task is None:
        return
    name = d.get("task_status_name")
    if name not in pe.STATE_RANK:
        s.warn(f"parsl.status: unknown task state {name!r} (task {task.task_id}); ignored"[:200])
        return
    t, ptry = _try(s, run, task, d)
    ts = ev.ts
    if not t.add_state(ts, pe.STATE_RANK[name], name):
        return  # seen already
    ptry.note_state(name, ts)
    if ts is not None:  # until the try row says when it ran and returned, its states do
        if name == pe.RUNNING and ptry.running is None and (t.start_ts is None or ts < t.start_ts):
            t.start_ts = ts
        elif name in pe.TRY_END_STATES and ptry.returned is None and (t.end_ts is None or ts < t.end_ts):
            t.end_ts = ts
    run.note_activity(ts)
    _settle(s, run, task)


def _settle(s: Store, run: ParslRun, task: ParslTask) -> None:
    """The task's state by the rule (module doc), onto the job, the run's counts and its outcome."""
    job = task.job
    final = None
    for tid in sorted(task.tries, reverse=True):
        st = task.tries[tid].state
        if st in pe.FINAL_STATES:
            final = st
            break
    latest = job.latest
    state = final or (task.tries[latest.seq].state if latest is not None and latest.seq in task.tries else None)
    if state is None:
        return
    latest.state_name = state  # what the STATE column shows (Job.state_label)
    old = task.state
    if state != old:
        c = run.state_counts
        if old is not None:
            c[old] -= 1
            run.running -= old in _RUNNING_LIKE
        c[state] += 1
        run.running += state in _RUNNING_LIKE
        run.count_app(task, old, -1)
        run.count_app(task, state, 1)
        task.state = state
        if state == pe.EXEC_DONE and latest.main_exitcode is None:
            latest.main_exitcode = 0  # as a job that exited 0 reads
    s._recompute(job, job_state(state, len(job.tries) > 1))
    if run.ended:
        _set_outcome(run)


def job_state(state: str, retried: bool) -> JobState:
    """A Parsl state on the screen's scale (``retried``: the task is on a later try)."""
    if state in (pe.EXEC_DONE, pe.MEMO_DONE):
        return JobState.DONE
    if state in pe.FAILURE_STATES:
        return JobState.FAILED
    if state == pe.FAIL_RETRYABLE or retried:
        return JobState.RETRYING
    if state == pe.PENDING:
        return JobState.WAITING
    if state == pe.LAUNCHED:
        return JobState.QUEUED
    return JobState.RUNNING


def _h_resource(s: Store, ev, d: dict) -> None:
    run = _run(s, d)
    task = _task(s, run, d) if run is not None else None
    ts = ev.ts
    if task is None or ts is None:
        return
    ptry = _ptry(task, d)  # its states, not its samples, make the store's try
    user, system = _float(d.get("psutil_process_time_user")), _float(d.get("psutil_process_time_system"))
    sample = (ts, (user or 0.0) + (system or 0.0), _float(d.get("psutil_process_memory_resident")) or 0.0,
              _float(d.get("psutil_process_disk_read")) or 0.0, _float(d.get("psutil_process_disk_write")) or 0.0)
    b = ptry._samples
    if b and ts <= _SAMPLE.unpack_from(b, len(b) - _SAMPLE.size)[0] and any(
            x[0] == ts for x in _SAMPLE.iter_unpack(b)):
        return  # seen already (the DB keeps one sample a try and time)
    interval = _float(d.get("resource_monitoring_interval"))
    if interval:
        run.interval = interval
    pid = _int(d.get("psutil_process_pid"))
    if pid is not None and ptry.pid is None:
        ptry.pid = pid
        run.workers.setdefault((ptry.hostname, pid), []).append(ptry)
    in_order = ptry.add_sample(sample)
    if in_order and _is_last_try(task, ptry):
        _append_sample(task, ptry, sample)
    else:
        rebuild_series(task)  # a baseline or an earlier try's total moved: draw it again
    run.note_activity(ts)
    s.changed.add(task.job)


def _resample_workers(run: ParslRun, ptry: ParslTry) -> None:
    """A try's host arrives with its try row, maybe after its samples: file it under (host, pid)."""
    if ptry.pid is None or ptry.hostname is None:
        return
    loose = run.workers.get((None, ptry.pid))
    if loose and ptry in loose:
        loose.remove(ptry)
        if not loose:
            del run.workers[(None, ptry.pid)]
        run.workers.setdefault((ptry.hostname, ptry.pid), []).append(ptry)


def _is_last_try(task: ParslTask, ptry: ParslTry) -> bool:
    return all(p.try_id <= ptry.try_id or not p._samples for p in task.tries.values())


def _carry(task: ParslTask, below: int) -> tuple[float, float, float]:
    """CPU, read and written of the task's tries before ``below``: where the next try's counters start."""
    cpu = rd = wr = 0.0
    for p in task.tries.values():
        if p.try_id < below:
            u = p.usage()
            if u is not None:
                cpu, rd, wr = cpu + u[0], rd + u[2], wr + u[3]
    return cpu, rd, wr


def _append_sample(task: ParslTask, ptry: ParslTry, sample: tuple) -> None:
    job = task.job
    if job.series is None:
        job.series = ResourceSeries()
    base = ptry.first_sample()
    if ptry.carry is None:
        ptry.carry = _carry(task, ptry.try_id)
    cpu0, rd0, wr0 = ptry.carry
    ts, cpu, rss, rd, wr = sample
    job.series.add5(0, ts, cpu - base[1] + cpu0, rss, rd - base[3] + rd0, wr - base[4] + wr0)
    if ptry.pid is not None:
        job.series.pid = ptry.pid
    job.series.hostname = ptry.hostname or job.series.hostname


def rebuild_series(task: ParslTask) -> None:
    """The task's series from all its tries' samples, each try carried on from the ones before."""
    task.job.series = None
    for ptry in task.tries.values():
        ptry.carry = None
    for tid in sorted(task.tries):
        ptry = task.tries[tid]
        for sample in ptry.samples:
            _append_sample(task, ptry, sample)


def _h_node(s: Store, ev, d: dict) -> None:
    run = _run(s, d)
    if run is None:
        return
    key = (_str(d.get("hostname")), _str(d.get("uid")))
    old = run.nodes.get(key)
    if old is None or (ev.ts or 0) >= (old.get("ts") or 0):
        run.nodes[key] = {k: d.get(k) for k in ("block_id", "cpu_count", "total_memory", "active", "worker_count",
                                                 "python_v", "last_heartbeat", "ts")}
    run.note_activity(ev.ts, _float(d.get("last_heartbeat")))


def _h_block(s: Store, ev, d: dict) -> None:
    run = _run(s, d)
    if run is None:
        return
    block = _str(d.get("block_id"))
    old = run.blocks.get(block)
    if old is None or (ev.ts or 0) >= (old[2] or 0):
        run.blocks[block] = (_str(d.get("job_id")) or (old[0] if old else None), _str(d.get("status")), ev.ts)
    run.note_activity(ev.ts)


def _h_writer(s: Store, ev, d: dict) -> None:
    run = _run(s, d)
    if run is None or ev.ts is None:
        return
    if run.writer is None or ev.ts >= run.writer[1]:
        run.writer = (bool(d.get("alive")), ev.ts)


# -- a bulk load: the rows of a range of tasks at once -------------------------------------------
# The source reads a big DB's tasks by ranges of task ids (sources/parsl/monitoring_db.py) and hands
# each range's rows on as tuples in one event.  This builds what the row events' handlers above
# build from the same rows (a test compares the two stores), in one pass a table and without a
# dict an event: at 100k tasks, a row event cost ~20 us here, its share of this loop ~2 us.

_TRIPLE = Struct("=3d")
_NINF = float("-inf")
_INT_ONLY = {int}


def _h_bulk(s: Store, ev, d: dict) -> None:
    if d.get("rows"):
        # A range of tasks: thousands of objects that live as long as the store, made with the
        # collector off and frozen (as a store that grew is, gcpolicy): else each young
        # collection walks them, and the older ones again (100k tasks, no screen: collections took
        # 0.75-0.84 s of the ingest thread's CPU, 0.22-0.24 s so; with the screen at load 4.6-5.1,
        # 3 alternated pairs: fully loaded in 12.7, 17.6, 20.2 s against 20.8, 23.8, 21.3, the
        # ingest thread's CPU 3.7, 5.0, 4.0 s against 4.7, 5.4, 5.5).  A task's history (no rows)
        # is a few objects.
        gcpolicy.build_frozen(_bulk, s, d)
    else:
        _bulk(s, d)


def _bulk(s: Store, d: dict) -> None:
    runs: dict = {}
    times: dict = {}  # run -> the activity times of its rows

    def run_of_id(run_id) -> ParslRun | None:
        run = runs.get(run_id)
        if run is None and run_id not in runs:
            run = runs[run_id] = _run(s, {"run_id": run_id, "event": pe.BULK})
            times[run_id] = []
        return run

    def task_of_ids(run: ParslRun, tid) -> ParslTask | None:
        task = run.tasks.get(tid) if type(tid) is int else None
        if task is None:
            tid = _int(tid)
            if tid is None:
                s.warn(f"{pe.BULK}: no task_id")
                return None
            task = run.tasks.get(tid)
            if task is None:
                task = _new_task(s, run, tid)
        return task

    touched: dict = {}  # (run_id, task_id) -> (run, task): to settle at the end

    def try_of_ids(run_id, tid, try_id) -> tuple | None:
        """(run, task, Parsl try, store try) a row names, made when first named; None without a task."""
        run = run_of_id(run_id)
        task = task_of_ids(run, tid) if run is not None else None
        if run is None or task is None:
            return None
        touched[(run_id, task.task_id)] = (run, task)
        ptry = task.tries.get(try_id) if type(try_id) is int else None
        ptry = ptry or _ptry(task, {"try_id": try_id})
        _, t = s.try_in(run.wf, task.job.job_id, ptry.try_id)
        return run, task, ptry, t
    shared: dict = {}  # _istr of each distinct text once an event: '0', 'None', '[]', executors, apps

    def istr(v):
        if type(v) is not str:
            return _istr(v)
        got = shared.get(v)
        if got is None:
            got = shared[v] = _istr(v)
        return got

    for row in d.get("task") or ():
        if len(row) == 17:  # with its rowid (the source's rows; a recording's of an older one have none)
            (tid, run_id, deps, func, memo, hashsum, inputs, outputs, stdin, stdout, stderr, invoked, returned,
             fail_count, fail_cost, executor, rowid) = row
        else:
            (tid, run_id, deps, func, memo, hashsum, inputs, outputs, stdin, stdout, stderr, invoked, returned,
             fail_count, fail_cost, executor) = row[:16]
            rowid = None
        run = run_of_id(run_id)
        if run is None:
            continue
        task = run.tasks.get(tid) if type(tid) is int else None
        new = task is None and _int(tid) not in run.tasks
        order = s._order
        if task is None:
            task = task_of_ids(run, tid)
            if task is None:
                continue
        if new and type(rowid) is int and rowid > 0:
            # the order a task was written in, as row events make it (one job a task row, in rowid
            # order): a range of task ids holds tasks written out of id order (a join app's inner ones)
            task.job.order = rowid
            s._order = max(order, rowid)
        touched[(run_id, tid)] = (run, task)
        job = task.job
        if func and func != job.transformation:
            run.count_app(task, task.state, -1)
            job.transformation = istr(func)
            run.count_app(task, task.state, 1)
        if deps:
            # (ids as the source's shaper gives them: ints, checked in C)
            task.depends = tuple(deps) if set(map(type, deps)) == _INT_ONLY else tuple(
                _int(x) for x in deps if _int(x) is not None)
        # (_task_text, written out: the shared ones interned, the task's own as text)
        if memo is not None and memo != "":
            task.memoize = istr(memo)
        if hashsum is not None and hashsum != "":
            task.hashsum = _str(hashsum)
        if inputs is not None and inputs != "":
            task.inputs = istr(inputs)
        if outputs is not None and outputs != "":
            task.outputs = istr(outputs)
        if stdin is not None and stdin != "":
            task.stdin = istr(stdin)
        if stdout is not None and stdout != "":
            task.stdout = _str(stdout)
        if stderr is not None and stderr != "":
            task.stderr = _str(stderr)
        task.invoked = (invoked if type(invoked) is float else _float(invoked)) or task.invoked
        returned = returned if type(returned) is float else _float(returned)
        if returned is not None and (task.returned is None or returned > task.returned):
            task.returned = returned
        fail_count = fail_count if type(fail_count) is float else _float(fail_count)
        if fail_count is not None and (task.fail_count is None or fail_count > task.fail_count):
            task.fail_count = fail_count
        fail_cost = fail_cost if type(fail_cost) is float else _float(fail_cost)
        if fail_cost is not None and (task.fail_cost is None or fail_cost > task.fail_cost):
            task.fail_cost = fail_cost
        if executor:
            task_executor = istr(executor)
            for t in job.tries.values():
                if not t.site:
                    t.site = task_executor
        tl = times[run_id]
        if task.invoked is not None:
            tl.append(task.invoked)
        if returned is not None:
            tl.append(returned)
        s.changed.add(job)

    hits: dict = {}  # (run_id, task_id, try_id) -> what try_of_ids gave for a try row
    for row in d.get("try") or ():
        (try_id, tid, run_id, block_id, hostname, executor, launched, running, returned, history, joins) = row
        hit = hits[(run_id, tid, try_id)] = try_of_ids(run_id, tid, try_id)
        if hit is None:
            continue
        run, task, ptry, t = hit
        ptry.executor = istr(executor) or ptry.executor
        ptry.block_id = _str(block_id) or ptry.block_id
        ptry.hostname = istr(hostname) or ptry.hostname
        tl = times[run_id]
        launched = launched if type(launched) is float else _float(launched)
        if launched is not None:
            ptry.launched = launched
            tl.append(launched)
        running = running if type(running) is float else _float(running)
        if running is not None:
            ptry.running = running
            tl.append(running)
        returned = returned if type(returned) is float else _float(returned)
        if returned is not None:
            ptry.returned = returned
            tl.append(returned)
        _try_onto(run, task, t, ptry, history, joins)

    # status rows: a try's states packed at once (as Try.add_state keeps them), its state by the rule
    per_try: dict = {}
    rank = pe.STATE_RANK
    for row in d.get("status") or ():
        tid, name, ts, run_id, try_id = row
        if name not in rank:
            s.warn(f"parsl.status: unknown task state {name!r} (task {tid}); ignored"[:200])
            continue
        got = per_try.get((run_id, tid, try_id))
        if got is None:
            got = per_try[(run_id, tid, try_id)] = []
        got.append((ts, name))
    for (run_id, tid, try_id), rows in per_try.items():
        hit = try_of_ids(run_id, tid, try_id)
        if hit is None:
            continue
        _, _, ptry, t = hit
        _bulk_states(t, ptry, rows)
        times[run_id].extend(ts for ts, _ in rows if ts is not None)

    # a task summarised by its final status row (the source's SUMMARISED: one try, its times in
    # its try row): that state, as its rows would leave it; the rest of its rows are its history
    end_rank = rank[pe.EXEC_DONE]
    for tid, name, ts, run_id, try_id in d.get("final") or ():
        hit = hits.get((run_id, tid, try_id)) or try_of_ids(run_id, tid, try_id)
        if hit is None:
            continue
        run, task, ptry, t = hit
        if t.add_state(ts, end_rank, name) and not t._st[24:]:
            task.job.partial = True  # nothing but this state yet: its history is read when asked for
        end_key = (1, 0, -1.0 if ts is None else ts)  # ParslTry.note_state's
        if ptry._key is None or end_key > ptry._key:
            ptry._key, ptry.state = end_key, name
        if ts is not None:
            times[run_id].append(ts)
            if ptry.returned is None and (t.end_ts is None or ts < t.end_ts):
                t.end_ts = ts
    for run_id, ts in d.get("status_latest") or ():
        if ts is not None and run_of_id(run_id) is not None:
            times[run_id].append(ts)
    if d.get("history"):  # a summarised task's rows, read when the user opened it: whole now
        for run_id, tid in d["history"]:
            run = runs.get(run_id) or run_of(s.workflows.get(run_id))
            task = run.tasks.get(tid) if run is not None else None
            if task is not None and task.job.partial:
                task.job.partial = False
                s.changed.add(task.job)

    # resources: each try's samples and each task's series as the source shaped them
    # (core/parsl_samples.py); a recording's bulk event of before carries the rows
    res = d.get("samples")
    if res is None and d.get("resource"):
        rows = d["resource"]
        if len(rows[0]) >= 14:  # (older still: the first 14 columns)
            rows = [tuple(r[i] for i in pe.BULK_RESOURCE_COLUMNS) for r in rows]
        res = shape_samples(rows, RECENT_TIMES)
    if res:
        _bulk_samples(s, res, run_of_id, touched)
        for run_id, interval in res["intervals"]:
            run = run_of_id(run_id)
            if run is not None:
                run.interval = interval
        for run_id, tl in res["times"]:
            if run_of_id(run_id) is not None:
                times[run_id] += tl

    for run, task in touched.values():
        _settle(s, run, task)

    for row in d.get("node") or ():
        run = run_of_id(row[0])
        if run is None:
            continue
        (_r, hostname, uid, block_id, cpu_count, total_memory, active, worker_count, python_v, ts,
         heartbeat) = row[:11]
        key = (_str(hostname), _str(uid))
        old = run.nodes.get(key)
        if old is None or (ts or 0) >= (old.get("ts") or 0):
            run.nodes[key] = {"block_id": block_id, "cpu_count": cpu_count, "total_memory": total_memory,
                              "active": None if active is None else bool(active), "worker_count": worker_count,
                              "python_v": python_v, "last_heartbeat": heartbeat, "ts": ts}
    for run_id, ts, heartbeat in d.get("node_times") or ():
        run = run_of_id(run_id)
        if run is not None:
            times[run_id] += [x for x in (ts, heartbeat) if x is not None]

    for run_id, tl in times.items():
        run = runs.get(run_id)
        if run is None or not tl or d.get("history"):  # a history's times are old: not the run's pace
            continue
        # the latest activity, and the pace (run.recent) from the latest distinct times
        run.note_activity(*sorted(set(tl))[-RECENT_TIMES:])
    s.event_count += max(0, _int(d.get("rows")) or 0) - 1  # the store counts the rows it stands for


def _bulk_samples(s: Store, res: dict, run_of_id, touched: dict) -> None:
    """The tries' samples and the tasks' series of a bulk event (``core.parsl_samples``): put in
    place as they are for a task with none yet (what a bulk read brings), else merged with its
    own, each sample time once (the first stands), and its series drawn again."""
    for _ in range(res["no_task"]):
        s.warn(f"{pe.BULK}: no task_id")
    for run_id, tid, tries, series, ordered in res["tasks"]:
        run = run_of_id(run_id)
        if run is None:
            continue
        task = run.tasks.get(tid)
        if task is None:
            task = _new_task(s, run, tid)
        have = task.tries
        fresh = not any(p._samples for p in have.values())
        for try_id, pid, flat, carry in tries:
            ptry = have.get(try_id)
            if ptry is None:
                ptry = _ptry(task, {"try_id": try_id})
            if fresh:
                ptry._samples = array("d", flat).tobytes()
                ptry.carry = tuple(carry)
            else:
                by_ts = {x[0]: x for x in ptry.samples}
                for i in range(0, len(flat), 5):
                    by_ts.setdefault(flat[i], tuple(flat[i:i + 5]))
                ptry.set_samples(sorted(by_ts.values()))
            if pid is not None and ptry.pid is None:
                ptry.pid = pid
                run.workers.setdefault((ptry.hostname, pid), []).append(ptry)
        if fresh:
            _series_onto(task, tries, series, ordered)
        else:
            _bulk_series(task)
        s.changed.add(task.job)
        touched.setdefault((run.run_id, task.task_id), (run, task))


def _series_onto(task: ParslTask, tries: list, flat: list, ordered: bool) -> None:
    """A task's series as ``parsl_samples.draw_series`` drew it (``tries``: its tries with
    samples, by try id first): put in the series' array at once when its times rise and fit,
    else a sample at a time."""
    series = task.job.series = ResourceSeries()
    ptries = task.tries
    for try_id, *_ in tries:
        p = ptries[try_id]
        if p.pid is not None:
            series.pid = p.pid
        series.hostname = p.hostname or series.hostname
    rs = series.rank(0)
    if ordered and len(flat) // 5 <= rs.capacity:
        rs._a = array("d", flat)
        return
    add5 = series.add5
    for i in range(0, len(flat), 5):
        add5(0, *flat[i:i + 5])


def _bulk_series(task: ParslTask) -> None:
    """:func:`rebuild_series` in one pass (``parsl_samples.draw_series``), put in the series'
    array at once when its times rise and fit (what ``add5`` a sample would leave; at 100k
    tasks 98k series, 278k samples)."""
    task.job.series = None
    for p in task.tries.values():
        p.carry = None
    sampled = [tid for tid in sorted(task.tries) if task.tries[tid]._samples]
    if not sampled:
        return
    carries, flat, ordered = draw_series([memoryview(task.tries[tid]._samples).cast("d") for tid in sampled])
    for tid, carry in zip(sampled, carries):
        task.tries[tid].carry = carry
    _series_onto(task, [(tid,) for tid in sampled], flat, ordered)


def _bulk_states(t: Try, ptry: ParslTry, rows: list) -> None:
    """A try's status rows ((ts, name)) into its packed states and its state, as
    ``Try.add_state`` and ``ParslTry.note_state`` leave them whatever the rows' order
    (one pass over the rows for the try's state and its first running and end times:
    at 100k tasks, 509k rows in 102,856 tries: 0.64 s of CPU with a note_state call a row, 0.49 s so)."""
    rank = pe.STATE_RANK
    code = _STATE_CODE
    keys = {((_NINF if ts is None else ts), rank[name], code[name]): (ts, name) for ts, name in rows}
    old = t._st
    if old:  # states it had already (a bulk event after row events)
        for tt, j, c in _TRIPLE.iter_unpack(old):
            k = (_NINF if tt != tt else tt, j, c)
            keys.setdefault(k, (None if tt != tt else tt, _STATE_NAMES[int(c)]))
    order = sorted(keys)
    if order[0][0] > 0:
        # Every state has a time (no NaN to write), after 1970: the triples are the keys as they
        # are, and the latest by (time, rank), of equals the last, is the last key.
        t._st = array("d", chain.from_iterable(order)).tobytes()
        li = len(order) - 1
    else:
        t._st = b"".join(_TRIPLE.pack(_NAN if k[0] == _NINF else k[0], k[1], k[2]) for k in order)
        # the latest: by (ts or 0, js_id); of equals, the last
        best = None
        li = -1
        for i, k in enumerate(order):
            ts = keys[k][0]
            m = ((ts or 0), k[1])
            if best is None or m >= best:
                best, li = m, i
    t._li = li
    t.state_name = keys[order[li]][1]
    # ParslTry.note_state for each row in turn (a key must beat the best so far: of equals, the
    # first), and, until the try row says when it ran and returned, its states do (the earliest)
    ends = pe.TRY_END_STATES
    top = ptry._key
    state = None
    ran = ended = None
    for ts, name in rows:
        if name in ends:
            key = (1, 0, -1.0 if ts is None else ts)
            if ts is not None and (ended is None or ts < ended):
                ended = ts
        else:
            key = (0, rank[name], -1.0 if ts is None else ts)
            if name == pe.RUNNING and ts is not None and (ran is None or ts < ran):
                ran = ts
        if top is None or key > top:
            top, state = key, name
    if state is not None:
        ptry._key = top
        ptry.state = state
    if ran is not None and ptry.running is None and (t.start_ts is None or ran < t.start_ts):
        t.start_ts = ran
    if ended is not None and ptry.returned is None and (t.end_ts is None or ended < t.end_ts):
        t.end_ts = ended


HANDLERS = {
    pe.BULK: _h_bulk,
    pe.WORKFLOW: _h_workflow,
    pe.TASK: _h_task,
    pe.TRY: _h_try,
    pe.STATUS: _h_status,
    pe.RESOURCE: _h_resource,
    pe.NODE: _h_node,
    pe.BLOCK: _h_block,
    pe.WRITER: _h_writer,
}
for _name, _handler in HANDLERS.items():
    handles(_name)(_handler)


# -- the run as a whole ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStall:
    kind: str  # "stalled" or "killed"
    reason: str  # one line
    since: float  # the last activity (epoch s)


def stall(run: ParslRun, now: float | None) -> RunStall | None:
    """Why a run without an end is not running any more, or None (see STALL_FACTOR)."""
    last = run.last_activity
    if now is None or run.ended or last is None:
        return None
    quiet = now - last
    monitored = run.running and run.interval
    cadence = run.interval if monitored else run.pace()
    threshold = max(STALL_FLOOR, STALL_FACTOR * cadence)
    if quiet <= threshold:
        return None
    c = run.state_counts
    gone = run.writer is not None and not run.writer[0] and run.writer[1] >= last
    what = (f"every {cadence:g}s while tasks run" if monitored else f"usual gap {cadence:g}s")
    if gone:
        return RunStall("killed", f"no row for {human_duration(quiet)} and no process holds the DB for writing "
                                  f"(Parsl's writer died; {what})", last)
    if not monitored and c[pe.LAUNCHED] + c[pe.JOINING] + run.running:
        return None  # tasks wait for workers, or run unsampled: a long silence is theirs
    return RunStall("stalled", f"no row for {human_duration(quiet)}, no end recorded ({what})", last)


def outcome(run: ParslRun) -> str:
    """The run's word for the header and the tree (a WorkflowState): failed as soon as a
    task failed (the run goes on, its outcome is known), else running until Parsl records
    the end, then succeeded or failed."""
    if run.failed:
        return WorkflowState.FAILED
    return run.wf.state


def run_state(run: ParslRun, now: float | None) -> str:
    """``--once``'s state: succeeded / failed once ended; before, killed or stalled when
    the stall rule says so, else failed (a task failed) or running."""
    if run.ended:
        return run.wf.state
    st = stall(run, now)
    if st is not None:
        return st.kind
    return outcome(run)


def task_counts(run: ParslRun) -> dict:
    """``--once``'s ``tasks``: succeeded (exec_done: Parsl's tasks_completed_count),
    memo_done, failed (Parsl's tasks_failed_count), dep_fail, running (launched,
    running, running_ended, joining, fail_retryable), pending (a try's pending),
    total, and retries (tries beyond each task's first)."""
    c = run.state_counts
    done = {"succeeded": c[pe.EXEC_DONE], "memo_done": c[pe.MEMO_DONE], "failed": c[pe.FAILED],
            "dep_fail": c[pe.DEP_FAIL]}
    pending = c[pe.PENDING]
    total = len(run.tasks)
    running = total - sum(done.values()) - pending
    retries = sum(max(0, len(t.job.tries) - 1) for t in run.tasks.values())
    return {**done, "running": running, "pending": pending, "total": total, "retries": retries}


# -- why a task failed -------------------------------------------------------------------------


def failure_cause(run: ParslRun, task: ParslTask) -> list[int]:
    """The task ids whose failure made this one fail: for a dep_fail, the failed
    tasks at the root of its failed dependencies (followed through other
    dep_fails); for a join app, the joined tasks that failed.  From the DB's
    task_depends and task_joins, else the ids the exception names."""
    roots: set[int] = set()
    seen: set[int] = set()
    stack = list(task.depends) if task.state == pe.DEP_FAIL else [j for p in task.tries.values() for j in p.joins]
    while stack:
        tid = stack.pop()
        if tid in seen:
            continue
        seen.add(tid)
        dep = run.tasks.get(tid)
        if dep is None:
            continue
        if dep.state == pe.FAILED:
            roots.add(tid)
        elif dep.state == pe.DEP_FAIL:
            stack.extend(dep.depends)
    if not roots:
        history = " ".join(p.fail_history or "" for p in task.tries.values())
        roots = {int(x) for x in _TASK_REF.findall(history)}
    return sorted(roots)


def tail_text(path: str | None, rundir: str | None, lines: int | None = TAIL_LINES) -> tuple[str | None, str | None]:
    """(the file read, its last ``lines`` lines) of a task's stdout or stderr, when readable
    here: absolute, or relative to the current directory or to the dir its runinfo is in."""
    if not path:
        return None, None
    if path.startswith("file://"):
        path = path[len("file://"):]
    cands = [path] if os.path.isabs(path) else [os.path.abspath(path)]
    if not os.path.isabs(path) and rundir and os.path.isabs(rundir):
        cands.append(os.path.join(os.path.dirname(os.path.dirname(rundir)), path))
    for cand in cands:
        try:
            with open(cand, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - TAIL_BYTES))
                data = f.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        rows = data.splitlines()
        if size > TAIL_BYTES and rows:
            rows = rows[1:]  # the first is cut
        return cand, "\n".join(rows[-lines:] if lines else rows)
    return None, None


def approximate_because(run: ParslRun, ptry: ParslTry) -> list[int]:
    """The other tasks that sampled the same process (host, pid) while this try ran:
    its figures include their work too."""
    win = ptry.window
    if win is None or ptry.pid is None:
        return []
    out = set()
    for key in ((ptry.hostname, ptry.pid), (None, ptry.pid)):
        for other in run.workers.get(key, ()):
            if other is ptry:
                continue
            ow = other.window
            if ow is not None and ow[0] < win[1] and win[0] < ow[1]:
                out.add(other.task_id)
    return sorted(out)


def task_facts(job: Job) -> dict | None:
    """Everything a Parsl task's report says, as data (``--report --json``); None for a
    job that is not a Parsl task.  Times in epoch seconds, sizes in bytes, CPU in seconds."""
    run = run_of(job.wf)
    task = task_of(job)
    if run is None or task is None:
        return None
    tries = []
    for tid in sorted(task.tries):
        p = task.tries[tid]
        t = job.tries.get(tid)
        usage = p.usage()
        tries.append({
            "try_id": tid, "state": p.state, "exception": p.fail_history or None,
            "exitcode": bash_exit(p.fail_history), "executor": p.executor, "host": p.hostname, "block": p.block_id,
            "batch_job": (run.blocks.get(p.block_id) or (None,))[0] if p.block_id is not None else None,
            "launched": p.launched, "running": p.running, "returned": p.returned,
            "states": [[ts, name] for ts, _, name in (t.ordered_states() if t is not None else [])],
            "cpu_time": usage[0] if usage else None, "peak_rss": usage[1] if usage else None,
            "read_bytes": usage[2] if usage else None, "written_bytes": usage[3] if usage else None,
            "approximate_because": approximate_because(run, p),
        })
    out = {
        "task_id": task.task_id, "run_id": run.run_id, "workflow": job.wf.name, "app": job.transformation,
        "state": task.state, "depends": list(task.depends), "caused_by": [], "fail_count": task.fail_count,
        "invoked": task.invoked, "returned": task.returned, "tries": tries,
    }
    if task.state in pe.FAILURE_STATES:
        out["caused_by"] = failure_cause(run, task)
    for key, path in (("stdout", task.stdout), ("stderr", task.stderr)):
        where, text = tail_text(path, job.wf.submit_dir, None)
        out[key] = {"path": path, "read": where, "text": text}
    return out


def render_task_facts(f: dict, tail: int | None = TAIL_LINES) -> str:
    """:func:`task_facts` as text: why it failed first, then where and its output."""
    last = f["tries"][-1] if f["tries"] else {}
    where = last.get("host") or "-"
    code = last.get("exitcode")
    head = f"=== task {f['task_id']} ({f['app'] or '?'})  {str(f['state'] or '-').upper()}"
    head += f"  exit {code}" if code is not None else ""
    out = [head + f"  on {where} ==="]
    if f["caused_by"]:
        ids = ", ".join(str(i) for i in f["caused_by"])
        what = "dependency failed" if f["state"] == pe.DEP_FAIL else "joined task failed"
        out.append(f"     caused by: task {ids} ({what})")
    if f["depends"]:
        out.append(f"    depends on: {', '.join(str(i) for i in f['depends'])}")
    out.append(f"         tries: {len(f['tries'])}")
    for t in f["tries"]:
        out.append("")
        host = " on ".join(x for x in (t["host"], t["executor"]) if x) or "-"
        block = f"  block {t['block']}" + (f" (batch job {t['batch_job']})" if t["batch_job"] else "") \
            if t["block"] is not None else ""
        out.append(f"--- try {t['try_id']}: {t['state'] or '-'}  {host}{block} ---")
        if t["exception"]:
            out.append("  exception : " + t["exception"].replace("\n", "\n" + " " * 14))
        if t["exitcode"] is not None:
            out.append(f"  exit code : {t['exitcode']}")
        times = "  ".join(f"{k} {clock_time(t[k])}" for k in ("launched", "running", "returned") if t[k] is not None)
        if times:
            out.append(f"  {times}")
        if t["cpu_time"] is not None:
            out.append("  " + _usage_line((t["cpu_time"], t["peak_rss"], t["read_bytes"], t["written_bytes"]),
                                          t["approximate_because"]))
    for key in ("stdout", "stderr"):
        s = f[key]
        if not s["path"]:
            continue
        out.append("")
        if s["text"] is None:
            out.append(f"--- {key}: {s['path']} (not readable here) ---")
            continue
        rows = s["text"].splitlines()
        more = f" (last {tail} lines)" if tail and len(rows) > tail else ""
        out.append(f"--- {key}: {s['read']}{more} ---")
        out.extend(" " + r for r in (rows[-tail:] if tail else rows))
    out.append(f"      workflow: {f['workflow']} ({f['run_id']})")
    return "\n".join(out)


def _usage_line(usage: tuple, approx: list[int]) -> str:
    """A try's CPU, peak RSS and I/O, and why they are approximate when they are."""
    cpu, rss, rd, wr = usage
    note = f"  (approximate: its process ran task {', '.join(map(str, approx))} meanwhile)" if approx else ""
    return (f"cpu {human_duration(cpu)}  peak rss {human_bytes(rss)}  read {human_bytes(rd)}"
            f"  written {human_bytes(wr)}{note}")


def tries_report(job: Job) -> list[str]:
    """The job screen's lines for a Parsl task: each try's state, where, why it failed, its states."""
    task = task_of(job)
    if task is None:
        return []
    out = []
    for tid in sorted(task.tries):
        p = task.tries[tid]
        t = job.tries.get(tid)
        code = bash_exit(p.fail_history)
        out.append(f"try {tid} {p.state or '-'}" + (f"  exit {code}" if code is not None else "")
                   + f"  on {p.hostname or '-'}  executor {p.executor or '-'}  block {p.block_id or '-'}")
        if p.fail_history:
            out.extend(f"    {line}" for line in p.fail_history.splitlines())
        usage = p.usage()
        if usage is not None:
            out.append("    " + _usage_line(usage, approximate_because(run_of(job.wf), p)))
        for ts, _, state in (t.ordered_states() if t is not None else []):
            out.append(f"    {clock_time(ts)}  {state}")
    return out


def run_json(run: ParslRun, now: float | None) -> dict:
    """A run's entry in ``--once --json`` (fields documented in docs/parsl.md)."""
    from ...core.fmt import iso_utc as _iso  # the one ISO form --once prints times in

    wf = run.wf
    st = stall(run, now)
    failed = []
    for task in sorted(run.tasks.values(), key=lambda t: t.task_id):
        if task.state not in pe.FAILURE_STATES:
            continue
        p = task.tries[max(task.tries)] if task.tries else None
        failed.append({"task_id": task.task_id, "app": task.job.transformation, "state": task.state,
                       "exception": (p.fail_history or None) if p else None,
                       "exitcode": bash_exit(p.fail_history) if p else None, "host": p.hostname if p else None,
                       "tries": len(task.job.tries), "caused_by": failure_cause(run, task)})
    return {
        "kind": "parsl", "run_id": run.run_id, "wf_uuid": run.run_id, "label": wf.label,
        "version": run.version, "rundir": wf.submit_dir, "host": wf.submit_host, "user": wf.user,
        "state": run_state(run, now), "start": _iso(wf.start_ts), "end": _iso(wf.end_ts),
        "last_activity": _iso(run.last_activity),
        "tasks": task_counts(run),
        "db_counts": {"tasks_completed_count": run.db_completed, "tasks_failed_count": run.db_failed},
        "stalled": None if st is None else {"kind": st.kind, "reason": st.reason, "since": _iso(st.since)},
        "failed_tasks": failed,
    }


def run_text(run: ParslRun, now: float | None) -> list[str]:
    """A run's block in ``--once``'s text."""
    return run_lines(run_json(run, now))


def run_lines(d: dict) -> list[str]:
    """:func:`run_json`'s dict as ``--once``'s text (stats/parsl_sql_once.py prints its own dict so)."""
    lines = [f"{d['label'] or '?'} {d['run_id']}  {d['state'].upper()}  (parsl, {d['rundir'] or '-'})"]
    if d["stalled"]:
        lines.append(f"  {d['stalled']['kind'].upper()}: {d['stalled']['reason']} "
                     f"(last activity {d['stalled']['since'] or '-'})")
    c = d["tasks"]
    keys = ("succeeded", "memo_done", "failed", "dep_fail", "running", "pending", "total", "retries")
    lines.append("  " + f"{'':<8}" + "".join(f"{k:>11}" for k in keys))
    lines.append("  " + f"{'Tasks':<8}" + "".join(f"{c[k]:>11}" for k in keys))
    for f in d["failed_tasks"]:
        why = f"exit {f['exitcode']}" if f["exitcode"] is not None else (f["exception"] or "-")
        cause = f"  caused by task {', '.join(map(str, f['caused_by']))}" if f["caused_by"] else ""
        lines.append(f"  {f['state'].upper()} task {f['task_id']} ({f['app'] or '?'})  {why[:100]}"
                     f"  tries {f['tries']}{cause}")
    return lines


# -- --report ----------------------------------------------------------------------------------


def report_entry(run: ParslRun) -> dict:
    """A run in ``--report --json``: its status, counts and every failed task's :func:`task_facts`
    (dep_fail ones after the failures that caused them)."""
    wf = run.wf
    failed = sorted((t for t in run.tasks.values() if t.state in pe.FAILURE_STATES),
                    key=lambda t: (t.state == pe.DEP_FAIL, t.task_id))
    return {"kind": "parsl", "run_id": run.run_id, "wf_uuid": run.run_id, "label": wf.label, "rundir": wf.submit_dir,
            "status": outcome(run), "tasks": task_counts(run), "failed_tasks": [task_facts(t.job) for t in failed]}


def report_lines(entry: dict) -> list[str]:
    """:func:`report_entry` as text: pegasus-analyzer's summary in a Parsl run's words, then
    each failed task's report (the one the ``o`` key opens)."""
    c = entry["tasks"]
    total = c["total"] or 1
    out = ["", "Summary".center(80, "*"), "",
           f" Workflow           : {entry['label'] or '-'} ({entry['run_id']})",
           f" Run Directory      : {entry['rundir'] or '-'}",
           f" Workflow Status    : {entry['status']}"]
    for label, key in (("Total tasks       ", "total"), ("# tasks succeeded ", "succeeded"),
                       ("# tasks memo_done ", "memo_done"), ("# tasks failed    ", "failed"),
                       ("# tasks dep_fail  ", "dep_fail"), ("# tasks running   ", "running"),
                       ("# tasks pending   ", "pending")):
        out.append(f" {label} : {c[key]:6d} ({100 * c[key] / total:3.2f}%)")
    if entry["failed_tasks"]:
        out += ["", "Failed tasks' details".center(80, "*")]
        for f in entry["failed_tasks"]:
            out += ["", render_task_facts(f, None)]
    return out
