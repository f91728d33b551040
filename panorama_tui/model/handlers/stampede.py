"""Stampede events (monitord's vocabulary) into the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.events import Event, to_epoch, unquote_text
from ...core.stampede import JOBSTATE_NAMES
from ...core.typed import Bad, interned
from ..coerce import _BAD, _field_float, _field_int, _int, _istr, _kept, _str
from ..entities import _EXACT, Invocation, Job, Task, Try, Workflow
from ..states import WorkflowState
from . import HANDLERS, handles, handles_typed, ignores

if TYPE_CHECKING:
    from ..store import Store


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
        s.changed.add(job)


@handles('stampede.wf.plan')
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


@handles('stampede.xwf.start', 'stampede.xwf.end')
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


@handles('stampede.xwf.meta')
def _h_xwf_meta(s: Store, ev: Event, d: dict) -> None:
    wf = s._wf_of(d)
    if wf is not None and d.get("key") is not None:
        wf.meta[_str(d["key"])] = _kept(d.get("value"))


@handles('stampede.xwf.map.subwf_job')
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
    s.changed.add(job)
    s.structure_version += 1


@handles_typed('stampede.task.info')
def _h_task_info(s: Store, x) -> None:
    wf = _wf(s, x)
    tid = x.task_id
    if wf is None or tid is None:
        return
    task = wf.tasks.get(tid)
    if task is None:
        task = wf.tasks[tid] = Task(tid)
    task.type_desc = interned(x.type_desc) or task.type_desc
    task.transformation = interned(x.transformation) or task.transformation
    task.argv = x.argv or task.argv
    if task.job_id:
        job = wf.jobs.get(task.job_id)
        if job is not None:
            _update_transformation(s, job)


@handles_typed('stampede.wf.map.task_job')
def _h_task_map(s: Store, x) -> None:
    wf = _wf(s, x)
    tid, jid = x.task_id, x.job_id
    if wf is None or tid is None or jid is None:
        return
    task = wf.tasks.get(tid)
    if task is None:
        task = wf.tasks[tid] = Task(tid)
    job = s.job(wf, jid)
    task.job_id = job.job_id  # one string for both
    if task.task_id not in job.task_ids:
        job.task_ids += (task.task_id,)
    _update_transformation(s, job)
    s.changed.add(job)


@handles_typed('stampede.job.info')
def _h_job_info(s: Store, x) -> None:
    wf = _wf(s, x)
    jid = x.job_id
    if wf is None or jid is None:
        return
    job = s.job(wf, jid)
    job.type_desc = interned(x.type_desc) or job.type_desc
    job.submit_file = x.submit_file or job.submit_file
    job.executable = x.executable or job.executable
    job.argv = x.argv or job.argv
    job.clustered = x.clustered
    mr = x.max_retries
    if mr is not None:
        job.max_retries = mr
    # Auxiliary jobs have no task; kickstart's -n in argv names their role.
    _update_transformation(s, job)
    s._recompute(job)


def _wf(s: Store, x) -> Workflow | None:
    """A typed record's workflow (made when first named)."""
    u = x.xwf_id or x.wf_uuid
    if not u:
        return None
    wf = s.workflows.get(u)
    return wf if wf is not None else s.workflow(u)


def _try_of(s: Store, x) -> tuple[Job, Try] | None:
    """A typed record's job and try (made when first named); None, with a warning, without them."""
    # _wf and the common case of Store.try_in (both there), inlined: every job_inst and
    # inv event comes here (88k of the ingest benchmark's 146k typed records)
    u = x.xwf_id or x.wf_uuid
    wf = None
    if u:
        wf = s.workflows.get(u)
        if wf is None:
            wf = s.workflow(u)
    job_id = x.job_id
    seq = x.job_inst_id
    if wf is None or job_id is None or seq is None:
        s.warn(f"{x.name}: missing workflow, job or instance id")
        return None
    job = wf.jobs.get(job_id)
    if job is not None:
        t = job.tries.get(seq)
        if t is not None:
            return job, t
    return s.try_in(wf, job_id, seq)


def _add_jobstate(s: Store, job: Job, t: Try, x) -> bool:
    """Record the record's jobstate; True when that recomputed the job's state."""
    names = JOBSTATE_NAMES.get(x.name)
    if names is None:
        return False
    status, js_id = x.status, x.js_id
    if type(status) is Bad or type(js_id) is Bad:
        for key, v in (("status", status), ("js_id", js_id)):
            if type(v) is Bad:
                s.warn(v.warning(x.name, key))
        return False  # cannot tell which state this is, or where it goes
    if js_id is None:
        js_id = -1
    elif not -_EXACT <= js_id <= _EXACT:
        s.warn(f"{x.name}: js_id {js_id!r} is out of range; state ignored"[:200])
        return False
    ts = x.ts
    if ts is None and x.raw_ts is not None:
        s.warn(f"{x.name}: ts {x.raw_ts!r} is not a usable time; state ignored"[:200])
        return False
    state = names[0] if status == -1 else names[1]
    if not t.add_state(ts, js_id, state):
        return False
    if state == "JOB_HELD" and x.reason:
        t.reason = x.reason
    s._recompute(job)
    return True


@handles_typed('stampede.job_inst.pre.start', 'stampede.job_inst.submit.start')
def _h_job_inst_start(s: Store, x) -> None:
    got = _try_of(s, x)
    if got is None:
        return
    job, t = got
    t.sched_id = x.sched_id or t.sched_id
    t.site = interned(x.site) or t.site
    if not _add_jobstate(s, job, t, x):
        s._recompute(job)  # what it carried may change the state even when the jobstate is a twin


def _h_job_inst_state(s: Store, x) -> None:
    got = _try_of(s, x)
    if got is None:
        return
    job, t = got
    if x.sched_id is not None:
        t.sched_id = x.sched_id
    _set_files(t, x, final=False)
    _add_jobstate(s, job, t, x)


def _set_files(t: Try, x, final: bool) -> None:
    """main.end names the files as rotated (``.out.001``); earlier events the
    unrotated names.  main.end wins whatever the arrival order."""
    out, err = x.stdout_file, x.stderr_file
    if out and (final or t.stdout_file is None):
        t.stdout_file = out
    if err and (final or t.stderr_file is None):
        t.stderr_file = err


@handles_typed('stampede.job_inst.main.end', 'stampede.job_inst.post.end')
def _h_job_inst_end(s: Store, x) -> None:
    """main.end and post.end also carry the instance's results."""
    got = _try_of(s, x)
    if got is None:
        return
    job, t = got
    name = x.name
    main = name == "stampede.job_inst.main.end"
    ec = x.exitcode
    if type(ec) is Bad:
        s.warn(ec.warning(name, "exitcode"))
    elif ec is not None:
        if main:
            t.main_exitcode = ec
        else:
            t.post_exitcode = ec
    if main:
        t.site = interned(x.site) or t.site
        t.user = interned(x.user) or t.user
        t.work_dir = x.work_dir or t.work_dir
        for key in ("local_dur", "multiplier_factor", "cluster_dur"):
            v = getattr(x, key)
            if type(v) is Bad:
                s.warn(v.warning(name, key))
            elif key == "local_dur":
                t.local_dur = v
            elif key == "cluster_dur":
                t.cluster_dur = v
            else:
                t.multiplier = v or 1
        if x.stdout_text is not None:
            t.stdout_text = unquote_text(x.stdout_text)
        if x.stderr_text is not None:
            t.stderr_text = unquote_text(x.stderr_text)
    if x.sched_id is not None:
        t.sched_id = x.sched_id
    _set_files(t, x, final=main)
    if not _add_jobstate(s, job, t, x):
        s._recompute(job)  # what it carried may change the state even when the jobstate is a twin


@handles_typed('stampede.job_inst.host.info')
def _h_host(s: Store, x) -> None:
    got = _try_of(s, x)
    if got is None:
        return
    job, t = got
    t.host = interned(x.hostname) or t.host
    t.ip = interned(x.ip) or t.ip
    t.site = interned(x.site) or t.site
    s.changed.add(job)


@handles_typed('stampede.inv.end')
def _h_inv_end(s: Store, x) -> None:
    got = _try_of(s, x)
    if got is None:
        return
    job, t = got
    inv_id = x.inv_id
    if inv_id is None:
        s.warn(f"{x.name}: no inv_id")
        return
    invs = t.invocations
    if type(invs) is not dict:  # the shared empty mapping (entities.NO_INVOCATIONS): its own now
        invs = t.invocations = {}
    inv = invs.get(inv_id)
    if inv is None:
        inv = invs[inv_id] = Invocation(inv_id)
    tid = x.task_id
    if tid:
        task = job.wf.tasks.get(tid)
        inv.task_id = task.task_id if task is not None else tid  # share the planned task's string
    inv.transformation = interned(x.transformation) or inv.transformation
    inv.start_time = to_epoch(x.start_time)
    inv.dur = x.dur
    ec = x.exitcode
    if type(ec) is Bad:
        s.warn(ec.warning(x.name, "exitcode"))
    else:
        inv.exitcode = ec
    inv.remote_cpu_time = x.remote_cpu_time
    inv.maxrss = x.maxrss
    inv.avg_cpu = x.avg_cpu
    inv.executable = interned(x.executable) or inv.executable
    if inv_id >= 0:  # a task's arguments; DAGMan's PRE/POST script lines are not shown
        inv.argv = x.argv or inv.argv
    _update_transformation(s, job)
    s.changed.add(job)


@handles('stampede.int.metric')
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


# Known, carrying nothing the model keeps (yet).  int.metric is a job's MONITORING_PAYLOAD
# block unwrapped live: it has no instance id, and monitord sends the same figures as
# stampede.int.metric when the job ends; counting both would count them twice.
ignores(
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
    "stampede.rc.meta",
    "stampede.rc.pfn",
    "stampede.wf.map.file",
    "stampede.task.monitoring",
    "int.metric",
)


# Every other job_inst event records a jobstate and nothing else.
handles_typed(*(name for name in JOBSTATE_NAMES if name not in HANDLERS))(_h_job_inst_state)
