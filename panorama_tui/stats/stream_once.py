"""``panorama-top --once`` of a monitord event log in one streaming pass that keeps only
what the summary prints (issue #14).

The store path (cli/top.py read_to_end, then :mod:`.once`) builds every job's tries,
their packed states, invocations with their texts and each job's /proc series.
This pass reads the same decoded records (:func:`~panorama_tui.pipeline.ingest.decode_batch`,
so a bad record is counted and shown exactly as there) into a :class:`LeanStore`: the
store's own ``Workflow`` objects (few), with, per job, one slotted :class:`_Job` holding
its state code and its latest try's few facts (latest state, exit statuses, site, host,
hold reason, whether it was held / its POST script ended / it was removed), its try
numbers, and its invocations' (task id, exit status, transformation): no ``Try``, no
jobstate list, no ``Invocation``, no trace series.  The summary is then the store
path's own code (``once.as_dict``, ``render_text``, ``overall_exit``, ``counts.summarize``,
``progress.dag_row``, ``stall``) over that lean store, and a job's state the store's own
rule (``model.store.derive_state``), applied at the same events the store applies it.

The workflow events (plan, start and end, meta, sub-workflow map, integrity metrics) go to
the store's own handlers; the job events (job.info, task.info, task map, job_inst.*,
host.info, inv.end, /proc samples) are applied here, field for field as
``model/handlers/stampede.py`` and the typed lane (``model/lane.py``) apply them.

What this pass does not answer (:class:`Unsupported`; the caller reads the log again
through the store: the same output, the old cost): a record the store would warn about or
skip (a missing id, a field that is not a number, a js_id out of range, a record a handler
cannot use), an event of another domain (Darshan, transfers, Parsl, DAGMan's progress,
kickstart summaries, a /proc sample that did not come typed), and a duplicate jobstate whose
twin-ness decides whether the store recomputes a job it left stale.  A workflow whose stall
must be judged from every state's time (not ended, nothing queued or running) takes a second
pass that keeps those times (a set of floats a workflow) and nothing else.

Measured (``python -m benchmarks.bench_scale --event-log``, the generated 100k-job run, A B A B
against the store path, medians of 2, load 3-4 on 2 shared cores): with its /proc traces
(4.1 GB, 6.2M events) 44.3 s wall, 30.9 s CPU, 137 MB peak RSS against 88.0 s, 50.4 s,
440 MB; without traces (1.1 GB, 1.8M events) 24.4 s, 12.8 s, 137 MB against 25.3 s, 14.5 s,
331 MB; the same without its xwf.end (stalled: two passes) 26.9 s, 19.7 s, 138 MB against
16.5 s, 13.6 s, 330 MB (17.9 s of CPU against the store's 13.9 once the second pass
skipped the lines naming no job_inst event).  The CPU is mostly decoding, which both paths share; the pass keeps ~0.9 KB
a job (tracemalloc, 3,000 jobs: 2.7 MB).
"""

from __future__ import annotations

from typing import Any

from ..core.events import PLACEHOLDER_STATES, Event, TraceSample, to_epoch
from ..core.stampede import JOBSTATE_NAMES
from ..core.typed import Bad, interned, record_of
from ..model.coerce import _istr, _str
from ..model.entities import _EXACT, Job, Task, Try, Workflow
from ..model.handlers import HANDLERS, IGNORED, TYPED
from ..model.handlers.stampede import _derive_transformation
from ..model.states import JobState
from ..model.store import Store, derive_state
from ..pipeline.ingest import SLICE, _shifted, decode_batch


class Unsupported(Exception):
    """The store path must answer (the message says why)."""


# The workflow events whose store handlers this pass runs as they are: they touch
# Workflow objects and call back Store.job, Store._recompute and Store.warn, which the
# lean store provides.
_WF_EVENTS = frozenset({"stampede.wf.plan", "stampede.xwf.start", "stampede.xwf.end", "stampede.xwf.meta",
                        "stampede.xwf.map.subwf_job", "stampede.int.metric"})

_HELD, _POST_END, _REMOVED = 1, 2, 4
_FLAG = {"JOB_HELD": _HELD, "POST_SCRIPT_SUCCESS": _POST_END, "POST_SCRIPT_FAILED": _POST_END,
         **dict.fromkeys(PLACEHOLDER_STATES, _REMOVED)}
_GROUPS = {("JOB_HELD",): _HELD, ("POST_SCRIPT_SUCCESS", "POST_SCRIPT_FAILED"): _POST_END,
           tuple(PLACEHOLDER_STATES): _REMOVED}


class _Inv:
    """An invocation as the summary reads it (made at the end, for counts.summarize)."""

    __slots__ = ("inv_id", "task_id", "exitcode", "transformation")

    def __init__(self, v):
        _, self.inv_id, self.task_id, self.exitcode, self.transformation = v


class NeedTimes(Unsupported):
    """A stall must be judged from every state's time, which the pass does not keep."""


class _TryView:
    """A try as the summary reads it: its invocations.  Its states' times are not kept:
    a stall judged from them needs a second pass (:func:`once_text`'s ``reopen``)."""

    __slots__ = ("invocations",)

    def __init__(self, invocations):
        self.invocations = invocations

    def state_times(self):
        raise NeedTimes("a stall judged from every state's time")


class _Job:
    """A job and its latest try's few facts (the job is its own ``latest``, as a Try reads)."""

    __slots__ = ("wf", "job_id", "type_desc", "max_retries", "state", "task_ids", "argv", "xform", "subwf_uuid",
                 "seqs", "seq", "state_name", "top", "flags", "held_at", "main_exitcode",
                 "post_exitcode", "site", "host", "reason", "invs", "stale")

    def __init__(self, wf: Workflow, job_id: str):
        self.wf = wf
        self.job_id = job_id
        self.type_desc: str | None = None
        self.max_retries: int | None = None
        self.argv: str | None = None
        self.xform: str | None = None  # a /proc sample's name for it ("" once it has its own)
        self.subwf_uuid: str | None = None
        self.state = JobState.WAITING
        self.task_ids: tuple = ()
        self.seqs: tuple = ()  # its tries' numbers
        self.seq = None  # the latest try's
        self._new_try()
        # its invocations: (seq, inv_id, task_id, exitcode, transformation), one or two a job
        # (a tuple: 1,000 jobs 0.3 MB less than a dict each)
        self.invs: tuple | None = None
        self.stale = False  # a try was added without the store recomputing the job's state

    def _new_try(self) -> None:
        self.state_name: str | None = None
        self.top: tuple = ()  # the latest try's states at its latest (ts or 0, js_id): (ts, js_id, state)
        self.flags = 0
        self.held_at: tuple | None = None  # (ts, js_id) of its JOB_HELD states: a twin leaves the reason
        self.main_exitcode: Any = None
        self.post_exitcode: Any = None
        self.site: str | None = None
        self.host: str | None = None
        self.reason: str | None = None

    # -- read as a Job and as its latest Try (model/entities.py's own properties) --
    exit_raw = Job.exit_raw
    phase = Job.phase
    retries = Job.retries
    exitcode = Try.exitcode
    removed = Try.removed

    @property
    def latest(self):
        return None if self.seq is None else self

    @property
    def transformation(self):
        # handlers/stampede.py sets it from what is known whenever that changes (one rule,
        # monotone: once a name, always one); a /proc sample names it while it has none
        name = _derive_transformation(self)  # type: ignore[arg-type]
        return name if name is not None else self.xform

    def has_state(self, *names: str) -> bool:
        return bool(self.flags & _GROUPS[names])

    def _invocations(self, seq) -> dict:
        if not self.invs:
            return {}
        return {v[1]: _Inv(v) for v in self.invs if v[0] == seq}

    @property
    def invocations(self) -> dict:
        return self._invocations(self.seq)

    @property
    def tries(self) -> dict:
        return {s: _TryView(self._invocations(s)) for s in self.seqs}


class LeanStore(Store):
    """The store's workflows with lean jobs; ``warn`` raises :class:`Unsupported`."""

    def __init__(self):
        super().__init__()
        self.changed = _Sink()
        self.records = 0  # the log's records the pass read (a second pass reads no more)

    def warn(self, message: str) -> None:
        raise Unsupported(message)

    def job(self, wf: Workflow, job_id: str) -> Any:
        j: Any = wf.jobs.get(job_id)
        if j is None:
            job_id = _str(job_id)
            j = wf.jobs.get(job_id)
            if j is None:
                j = _Job(wf, job_id)
                wf.jobs[job_id] = j
                wf.counts[j.state] += 1
        return j

    def _recompute(self, job, new: JobState | None = None) -> None:  # type: ignore[override]
        if new is None:
            new = (JobState.WAITING if not job.seqs else
                   derive_state(len(job.seqs), job.state_name, job.wf.ended, job.exitcode, job.max_retries))
        old = job.state
        if new != old:
            c = job.wf.counts
            c[old] -= 1
            c[new] += 1
            job.state = new
        job.stale = False


class _Sink:
    __slots__ = ()

    def add(self, _job) -> None:
        pass


# -- the job events, as handlers/stampede.py applies them --------------------------------


def _wf(s: LeanStore, x):
    u = x.xwf_id or x.wf_uuid
    if not u:
        return None
    wf = s.workflows.get(u)
    return wf if wf is not None else s.workflow(u)


def _try_of(s: LeanStore, x) -> tuple[_Job, bool]:
    """The record's job, its try made when first named (Store.try_in), and whether it was."""
    wf = _wf(s, x)
    job_id, seq = x.job_id, x.job_inst_id
    if wf is None or job_id is None or seq is None:
        raise Unsupported(f"{x.name}: missing workflow, job or instance id")
    job = wf.jobs.get(job_id)
    if job is None:
        job = s.job(wf, job_id)
    if seq in job.seqs:
        return job, False
    job.seqs += (seq,)
    if job.seq is None or seq > job.seq:
        job.seq = seq
        job._new_try()
    return job, True


def _add_state(s: LeanStore, job: _Job, x, conditional: bool, created: bool = False) -> bool:
    """handlers/stampede.py _add_jobstate; ``conditional``: the store recomputes the job only
    when the state is new (else it recomputes anyway); ``created``: the record made its try
    (its first state: new)."""
    names = JOBSTATE_NAMES.get(x.name)
    if names is None:
        return False
    status, js_id = x.status, x.js_id
    if type(status) is Bad or type(js_id) is Bad:
        raise Unsupported(f"{x.name}: status or js_id is not a number")
    if js_id is None:
        js_id = -1
    elif not -_EXACT <= js_id <= _EXACT:
        raise Unsupported(f"{x.name}: js_id out of range")
    ts = x.ts
    if ts is None and x.raw_ts is not None:
        raise Unsupported(f"{x.name}: ts is not a usable time")
    state = names[0] if status == -1 else names[1]
    if x.job_inst_id != job.seq:
        new = None  # an earlier try's: whether it is a twin is not known
    else:
        job.flags |= _FLAG.get(state, 0)
        key = (ts or 0, js_id)  # Try.add_state's order for the latest state
        triple = (ts, js_id, state)
        top = job.top
        if not top or key > (top[0][0] or 0, top[0][1]):
            job.top = (triple,)
            job.state_name = state
            new = True
        elif key == (top[0][0] or 0, top[0][1]):
            new = triple not in top
            if new:
                job.top = top + (triple,)
                job.state_name = state
        else:
            new = None  # an earlier state: a twin or not, the latest stays
        if state == "JOB_HELD":
            at = (ts, js_id)
            held = job.held_at or ()
            new = at not in held
            if new:
                job.held_at = held + (at,)
                if x.reason:
                    job.reason = x.reason
    if new is None and created:
        new = True
    if new is None:
        if conditional and job.stale:
            raise Unsupported(f"{x.name}: a state whose twin-ness decides a stale job's state")
        new = True  # recomputing a job that is not stale changes nothing
    if new and conditional:
        s._recompute(job)
    return bool(new)


def _job_inst_start(s: LeanStore, x) -> None:
    job, _ = _try_of(s, x)
    if x.job_inst_id == job.seq:
        job.site = interned(x.site) or job.site
    _add_state(s, job, x, False)
    s._recompute(job)


def _job_inst_state(s: LeanStore, x) -> None:
    job, created = _try_of(s, x)
    _add_state(s, job, x, True, created)


def _job_inst_end(s: LeanStore, x) -> None:
    job, _ = _try_of(s, x)
    main = x.name == "stampede.job_inst.main.end"
    for v in (x.exitcode, x.local_dur, x.multiplier_factor, x.cluster_dur):
        if type(v) is Bad:
            raise Unsupported(f"{x.name}: a field that is not a number")
    if x.job_inst_id == job.seq:
        ec = x.exitcode
        if ec is not None:
            if main:
                job.main_exitcode = ec
            else:
                job.post_exitcode = ec
        if main:
            job.site = interned(x.site) or job.site
    _add_state(s, job, x, False)
    s._recompute(job)


def _host(s: LeanStore, x) -> None:
    job, created = _try_of(s, x)
    job.stale |= created  # a try the store makes without recomputing the job
    if x.job_inst_id == job.seq:
        job.host = interned(x.hostname) or job.host
        job.site = interned(x.site) or job.site


def _inv_end(s: LeanStore, x) -> None:
    job, created = _try_of(s, x)
    job.stale |= created  # a try the store makes without recomputing the job
    inv_id = x.inv_id
    if inv_id is None:
        raise Unsupported(f"{x.name}: no inv_id")
    ec = x.exitcode
    if type(ec) is Bad:
        raise Unsupported(f"{x.name}: exitcode is not a number")
    to_epoch(x.start_time)  # as the handler reads it: what it raises, it raises here
    # An invocation is kept once a record names its task or (a task's, inv_id >= 0) its
    # transformation: before that it counts for nothing (counts._task_counts reads those with
    # a task id, _derive_transformation a task's name), and its exit status is each record's.
    # DAGMan's PRE/POST scripts (negative ids, no task) are never kept: 5 a job in the
    # generated runs, 1.0 MB of 1.3 MB a 1,000 jobs.
    seq = x.job_inst_id
    invs = job.invs or ()
    at = next((i for i, v in enumerate(invs) if v[0] == seq and v[1] == inv_id), None)
    v = None if at is None else invs[at]
    tid = x.task_id
    name = interned(x.transformation) if inv_id >= 0 else None
    if v is None and not tid and not name:
        return
    if tid:
        task = job.wf.tasks.get(tid)
        tid = task.task_id if task is not None else tid  # the planned task's string, shared
    elif v is not None:
        tid = v[2]
    new = (seq, inv_id, tid, ec, name or (v[4] if v is not None else None))
    job.invs = invs + (new,) if at is None else invs[:at] + (new,) + invs[at + 1:]


def _job_info(s: LeanStore, x) -> None:
    wf = _wf(s, x)
    jid = x.job_id
    if wf is None or jid is None:
        return
    job = s.job(wf, jid)
    job.type_desc = interned(x.type_desc) or job.type_desc
    argv = x.argv
    if argv and " -n " in argv and not argv.split(" -n ", 1)[1].split():
        # _derive_transformation fails on it (IndexError) whenever the job has no other name:
        # the store warns, record after record
        raise Unsupported(f"{x.name}: an argv ending in -n")
    job.argv = argv or job.argv
    if x.max_retries is not None:
        job.max_retries = x.max_retries
    s._recompute(job)


def _task_info(s: LeanStore, x) -> None:
    wf = _wf(s, x)
    tid = x.task_id
    if wf is None or tid is None:
        return
    task = wf.tasks.get(tid)
    if task is None:
        task = wf.tasks[tid] = Task(tid)
    task.type_desc = interned(x.type_desc) or task.type_desc
    task.transformation = interned(x.transformation) or task.transformation


def _task_map(s: LeanStore, x) -> None:
    wf = _wf(s, x)
    tid, jid = x.task_id, x.job_id
    if wf is None or tid is None or jid is None:
        return
    task = wf.tasks.get(tid)
    if task is None:
        task = wf.tasks[tid] = Task(tid)
    job = s.job(wf, jid)
    task.job_id = job.job_id
    if task.task_id not in job.task_ids:
        job.task_ids += (task.task_id,)


def _sample(s: LeanStore, x) -> None:
    """lane.py's and kickstart._add_sample's effects that --once shows: the job a sample
    names is made, the workflow's label and the job's transformation taken while unset."""
    u = x.xwf_id or x.wf_uuid
    wf = s.workflows.get(u)
    if wf is None:
        wf = s.workflow(u)
    jid = x.dag_job_id or x.job_id
    job: Any = wf.jobs.get(jid) if type(jid) is str else None
    if job is None:
        job = s.job(wf, str(jid))
    if not wf.label and x.wf_label:
        wf.label = _str(x.wf_label)
    if job.xform is None and x.xformation:
        # once the job has a name of its own it keeps one (monotone): "" stops asking
        named = _derive_transformation(job) is not None  # type: ignore[arg-type]
        job.xform = "" if named else _istr(x.xformation)


_JOB_EVENTS = {
    "stampede.job_inst.pre.start": _job_inst_start,
    "stampede.job_inst.submit.start": _job_inst_start,
    "stampede.job_inst.main.end": _job_inst_end,
    "stampede.job_inst.post.end": _job_inst_end,
    "stampede.job_inst.host.info": _host,
    "stampede.inv.end": _inv_end,
    "stampede.job.info": _job_info,
    "stampede.task.info": _task_info,
    "stampede.wf.map.task_job": _task_map,
}
for _name in JOBSTATE_NAMES:
    _JOB_EVENTS.setdefault(_name, _job_inst_state)
# Every typed name the store handles is one of these (checked by tests/test_stream_once.py).
assert set(TYPED) <= set(_JOB_EVENTS), set(TYPED) - set(_JOB_EVENTS)


# -- the pass ------------------------------------------------------------------------------


def apply_items(s: LeanStore, items) -> None:
    """Apply a slice as Ingest decodes it (events, typed records, /proc samples)."""
    handlers, job_events, wf_events, ignored = HANDLERS, _JOB_EVENTS, _WF_EVENTS, IGNORED
    for x in items:
        s.event_count += 1
        t = type(x)
        if t is TraceSample:
            _sample(s, x)
            continue
        name = x.name
        fn = job_events.get(name)
        if fn is not None:
            if t is Event:
                x = record_of(name, x.data, x.ts)
            fn(s, x)
            continue
        if name in wf_events:
            if t is not Event:
                raise Unsupported(f"{name}: not an event")
            handlers[name](s, x, x.data)
            if name == "stampede.int.metric":
                for wf in s.workflows.values():
                    wf.integrity = None  # checked as the store checks it; --once shows none of it
            continue
        if name in handlers:
            raise Unsupported(f"{_str(name)}: another domain's event")
        if name not in ignored:
            s.unknown[_str(name)] += 1


def read_lean(source, tick=None) -> LeanStore:
    """A lean store of everything ``source`` (a finite event log) holds; raises
    :class:`Unsupported` where the store path must answer.  ``tick(events)``: progress."""
    s = LeanStore()
    bad: list[str] = []
    try:
        for batch in source.batches():
            where = getattr(batch, "where", None)
            if not isinstance(batch, (list, tuple)):
                batch = list(batch)
            s.records += len(batch)
            for i in range(0, len(batch), SLICE):
                items = decode_batch(batch[i:i + SLICE], bad, samples=True, where=_shifted(where, i))
                # Ingest: the slice's bad records first (each a warning too), then its events
                s.bad_count += len(bad)
                s.warning_count += len(bad)
                bad.clear()
                apply_items(s, items)
            got = source.warnings
            if got:
                s.warning_count += len(got)
                got.clear()
            if tick is not None:
                tick(s.event_count)
    except Unsupported:
        raise
    except Exception as exc:  # what the store would count as an unusable record, or a source's trouble
        raise Unsupported(f"{type(exc).__name__}: {exc}") from None
    finally:
        source.stop()
    if getattr(source, "status", None) is not None and source.status.state == "error":
        raise Unsupported(source.status.message)
    s.version = s.event_count
    return s


def once_text(s: LeanStore, source: str, now: float | None, as_json: bool, reopen=None) -> tuple[str, int]:
    """(what --once prints, its exit status) from a lean store: once.py's own rendering.
    A stall judged from every state's time (a run not ended, nothing queued or running)
    takes a second pass over ``reopen()`` (the same log opened again) for those times;
    without ``reopen``, :class:`Unsupported`."""
    from .once import overall_exit, render_json, render_text

    for attempt in (1, 2):
        try:
            out = render_json(s, source, now) if as_json else render_text(s, source, now)
            return out, overall_exit(s, now)
        except NeedTimes:
            if reopen is None or attempt == 2:
                raise
            _paces(s, reopen())
        except RecursionError:
            raise Unsupported("nested too deeply") from None
    raise AssertionError("unreachable")


class _Shape:
    """What stall.run_pace reads of a workflow in scope: its times and its jobs' tries."""

    __slots__ = ("start_ts", "end_ts", "dagman", "jobs", "tries", "times")

    def __init__(self, start_ts=None, end_ts=None, dagman=None, times=None):
        self.start_ts, self.end_ts, self.dagman = start_ts, end_ts, dagman
        self.jobs = {} if times is None else {"": self}  # one job with one try: every state's time
        self.tries = {0: self}
        self.times = times

    def state_times(self):
        return self.times


_JOB_INST: dict[type, Any] = {bytes: b"stampede.job_inst.", str: "stampede.job_inst."}
_ESCAPE: dict[type, Any] = {bytes: b"\\", str: "\\"}


def _paces(s: LeanStore, source) -> None:
    """Every workflow's pace and last activity (stall.run_pace, its own rule and cache) from
    a second pass that keeps the distinct times of the jobstates of each workflow: a set of
    floats a workflow, only when a stall is to be judged (the first pass read the same
    records without trouble, so each jobstate record with a time is one the store keeps)."""
    from .progress import dag_scope
    from .stall import run_pace

    times: dict[str, set] = {u: set() for u in s.workflows}
    names = JOBSTATE_NAMES
    bad: list[str] = []
    try:
        left = s.records  # a log still written to: its lines past the first pass's are not read
        for batch in source.batches():
            if left <= 0:
                break
            batch = batch[:left]
            left -= len(batch)
            # Only jobstate records are read: a line that names no stampede.job_inst event (and
            # has no escape that could spell one) is not decoded again.  100k jobs without
            # traces, the stalled log: the second pass 7.3-8.4 -> 5.3 s of CPU (A B A B).
            batch = [r for r in batch if type(r) not in (bytes, str) or _JOB_INST[type(r)] in r
                     or _ESCAPE[type(r)] in r]
            for i in range(0, len(batch), SLICE):
                for x in decode_batch(batch[i:i + SLICE], bad, samples=True):
                    if type(x) is TraceSample or x.name not in names:
                        continue
                    if type(x) is Event:
                        x = record_of(x.name, x.data, x.ts)
                    ts = x.ts
                    if ts is not None:
                        u = x.xwf_id or x.wf_uuid
                        wf = s.workflows.get(u) or s.workflows.get(_str(u))
                        times[wf.wf_uuid].add(ts)  # type: ignore[union-attr]
                bad.clear()
    except Exception as exc:  # the log changed under us, or cannot be read again
        raise Unsupported(f"second pass: {type(exc).__name__}: {exc}") from None
    finally:
        source.stop()
    for wf in s.workflows.values():
        scope = dag_scope(s, wf)
        shapes = [_Shape(w.start_ts, w.end_ts, w.dagman) for w in scope]
        shapes.append(_Shape(times=set().union(*(times[w.wf_uuid] for w in scope))))
        run_pace(s, wf, shapes)  # type: ignore[arg-type]  # cached for stall() at this store.version


__all__ = ["LeanStore", "Unsupported", "NeedTimes", "read_lean", "once_text", "apply_items"]
