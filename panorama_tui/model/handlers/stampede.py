"""Stampede events (monitord's vocabulary) into the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.events import Event, to_epoch, unquote_text
from ...core.stampede import JOBSTATE_NAMES
from ..coerce import _BAD, _field_float, _field_int, _float, _int, _istr, _kept, _str
from ..entities import Invocation, Job, Task, Try
from ..states import WorkflowState
from . import HANDLERS, handles, ignores

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


@handles('stampede.task.info')
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


@handles('stampede.wf.map.task_job')
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
    s.changed.add(job)


@handles('stampede.job.info')
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


@handles('stampede.job_inst.pre.start', 'stampede.job_inst.submit.start')
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


@handles('stampede.job_inst.main.end', 'stampede.job_inst.post.end')
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


@handles('stampede.job_inst.host.info')
def _h_host(s: Store, ev: Event, d: dict) -> None:
    got = s._try_of(d, ev.name)
    if got is None:
        return
    job, t = got
    t.host = _istr(d.get("hostname")) or t.host
    t.ip = _istr(d.get("ip")) or t.ip
    t.site = _istr(d.get("site")) or t.site
    s.changed.add(job)


@handles('stampede.inv.end')
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
for _name in JOBSTATE_NAMES:
    if _name not in HANDLERS:
        handles(_name)(_h_job_inst_state)
