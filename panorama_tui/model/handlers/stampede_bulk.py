"""A big Stampede DB's jobs, in bulk (``stampede.bulk``, from sources/pegasus/stampede_bulk.py).

One event carries a slice of jobs and their tries as plain rows, each try with its latest
state, the first EXECUTE and end times and the rare states a view asks about, not its
history; or a slice of tasks.  The jobs and tries are made here directly, as the
incremental events would have left them, with ``Job.partial`` set: their history (every
state, invocations, stdout/stderr, argv) comes later as ordinary events, followed by
``stampede.bulk.history`` naming the jobs it completed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.typed import interned
from ..entities import Task
from . import handles
from .stampede import _update_transformation

if TYPE_CHECKING:
    from ..store import Store

BULK_EVENT = "stampede.bulk"
HISTORY_EVENT = "stampede.bulk.history"


@handles(BULK_EVENT)
def _h_bulk(s: Store, ev, d: dict) -> None:
    wfs = [s.workflow(u) for u in d["xwf_ids"]]
    _jobs(s, wfs, d.get("jobs"))
    _tasks(s, wfs, d.get("tasks"))
    _tries(s, wfs, d.get("tries"))


def _jobs(s: Store, wfs: list, rows) -> None:
    """Jobs first, waiting: the rows the screen shows at once, in the DB's order."""
    job_of = s.job
    for wi, exec_id, tdesc, clustered, maxr, role in rows or ():
        wf = wfs[wi]
        fresh = exec_id not in wf.jobs
        job = job_of(wf, exec_id)
        job.type_desc = interned(tdesc) or job.type_desc
        job.clustered = clustered
        if maxr is not None:
            job.max_retries = maxr
        if role and job.transformation is None:
            job.transformation = interned(role)
        if fresh:
            job.partial = True
            s.changed.add(job)


def _tasks(s: Store, wfs: list, rows) -> None:
    job_of = s.job
    for wi, abs_id, xform, tdesc, exec_id in rows or ():
        wf = wfs[wi]
        task = wf.tasks.get(abs_id)
        if task is None:
            task = wf.tasks[abs_id] = Task(abs_id)
        task.type_desc = interned(tdesc) or task.type_desc
        task.transformation = interned(xform) or task.transformation
        if exec_id is None:
            continue
        job = wf.jobs.get(exec_id)
        if job is None:
            job = job_of(wf, exec_id)
        task.job_id = job.job_id
        if abs_id not in job.task_ids:
            job.task_ids += (task.task_id,)
            _update_transformation(s, job)
            s.changed.add(job)


def _tries(s: Store, wfs: list, rows) -> None:
    """Tries with their latest state, as the incremental events would have left them."""
    try_in = s.try_in
    touched: dict = {}  # jobs, in order
    for (wi, exec_id, seq, sched_id, site, user, ldur, cdur, mult, main_ec, post_ec, state, ts, js, reason,
         start, end, host, ip, host_site, rare, name) in rows or ():
        job, t = try_in(wfs[wi], exec_id, seq)
        touched[job] = None
        t.sched_id = sched_id or t.sched_id
        # the row's site (submit.start, main.end) wins over its host's (host.info comes first)
        t.site = interned(site) or interned(host_site) or t.site
        t.host = interned(host) or t.host
        t.ip = interned(ip) or t.ip
        t.user = interned(user) or t.user
        if ldur is not None:
            t.local_dur = ldur
        if cdur is not None:
            t.cluster_dur = cdur
        if mult is not None:
            t.multiplier = mult or 1
        if main_ec is not None:
            t.main_exitcode = main_ec
        if post_ec is not None:
            t.post_exitcode = post_ec
        if rare:
            for rts, rjs, rstate, rreason in rare:
                t.add_state(rts, -1 if rjs is None else rjs, rstate)
                if rstate == "JOB_HELD" and rreason:
                    t.reason = rreason
        if state is not None:
            t.add_state(ts, -1 if js is None else js, state)
            if state == "JOB_HELD" and reason:
                t.reason = reason
        # the earliest EXECUTE and end, which the states kept here may not include
        if start is not None and (t.start_ts is None or start < t.start_ts):
            t.start_ts = start
        if end is not None and (t.end_ts is None or end < t.end_ts):
            t.end_ts = end
        # no planned task: the name its highest try's first task invocation gives
        if name and not job.task_ids and job.latest is t:
            job.transformation = interned(name)
    recompute = s._recompute
    for job in touched:
        recompute(job)


@handles(HISTORY_EVENT)
def _h_history(s: Store, ev, d: dict) -> None:
    """The jobs whose history the events before this one brought: whole again."""
    wf = s.workflows.get(d.get("xwf_id"))
    if wf is None:
        return
    for job_id in d.get("job_ids") or ():
        job = wf.jobs.get(job_id)
        if job is not None and job.partial:
            job.partial = False
            s.changed.add(job)
