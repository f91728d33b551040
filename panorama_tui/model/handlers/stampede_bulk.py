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

from ...core.typed import interned, text
from ..entities import _STATE_CODE, Task
from . import handles
from .stampede import _update_transformation

if TYPE_CHECKING:
    from ..store import Store

BULK_EVENT = "stampede.bulk"
HISTORY_EVENT = "stampede.bulk.history"


@handles(BULK_EVENT)
def _h_bulk(s: Store, ev, d: dict) -> None:
    wfs = [s.workflow(u) for u in d["xwf_ids"]]
    clean = _cleaner()
    _jobs(s, wfs, d.get("jobs"), clean)
    _tasks(s, wfs, d.get("tasks"), clean)
    _tries(s, wfs, d.get("tries"), clean)


def _cleaner():
    """Text from the DB as every input's enters the store (``typed.text``: control characters
    made visible; short ones shared), each distinct value once a slice: sites, hosts, users
    and names repeat thousands of times."""
    cache: dict = {}

    get = cache.get

    def clean(v):
        got = get(v)
        if got is None and v is not None:
            got = cache[v] = interned(text(v))
        return got

    return clean


def _jobs(s: Store, wfs: list, rows, clean) -> None:
    """Jobs first, waiting: the rows the screen shows at once, in the DB's order."""
    job_of = s.job
    for wi, exec_id, tdesc, clustered, maxr, role in rows or ():
        wf = wfs[wi]
        fresh = exec_id not in wf.jobs
        job = job_of(wf, exec_id)
        job.type_desc = clean(tdesc) or job.type_desc
        job.clustered = clustered
        if maxr is not None:
            job.max_retries = maxr
        if role and job.transformation is None:
            job.transformation = clean(role)
        if fresh:
            job.partial = True
            s.changed.add(job)


def _tasks(s: Store, wfs: list, rows, clean) -> None:
    job_of = s.job
    for wi, abs_id, xform, tdesc, exec_id in rows or ():
        wf = wfs[wi]
        abs_id = text(abs_id)
        task = wf.tasks.get(abs_id)
        if task is None:
            task = wf.tasks[abs_id] = Task(abs_id)
        task.type_desc = clean(tdesc) or task.type_desc
        task.transformation = clean(xform) or task.transformation
        if exec_id is None:
            continue
        job = wf.jobs.get(exec_id)
        if job is None:
            job = job_of(wf, exec_id)
        task.job_id = job.job_id
        if abs_id not in job.task_ids:
            job.task_ids += (task.task_id,)
            if len(job.task_ids) == 1 and task.transformation:  # its one task names it
                job.transformation = task.transformation
            else:
                _update_transformation(s, job)
            s.changed.add(job)


def _tries(s: Store, wfs: list, rows, clean) -> None:
    """Tries with their latest state, as the incremental events would have left them."""
    try_in = s.try_in
    touched: dict = {}  # jobs, in order
    for (wi, exec_id, seq, sched_id, site, user, ldur, cdur, mult, main_ec, post_ec, state, ts, js, reason,
         start, end, host, ip, host_site, rare, name) in rows or ():
        try:  # free unless it raises (zero-cost exceptions, Python >= 3.11)
            job, t = try_in(wfs[wi], exec_id, seq)
            touched[job] = None
            _try(t, job, sched_id, site, user, ldur, cdur, mult, main_ec, post_ec, state, ts, js, reason, start, end,
                 host, ip, host_site, rare, name, clean)
            if state is not None and state not in _STATE_CODE:  # as the incremental read counts it
                s.unknown[f"stampede.job_inst.{str(state).lower()}"] += 1
        except Exception as exc:  # a cell of another type than the schema's: that try, said, not the slice
            s.warn(f"{BULK_EVENT}: {exec_id!r} try {seq!r} unusable ({type(exc).__name__}: {exc})"[:200])
    recompute = s._recompute
    for job in touched:
        recompute(job)


def _try(t, job, sched_id, site, user, ldur, cdur, mult, main_ec, post_ec, state, ts, js, reason, start, end,
         host, ip, host_site, rare, name, clean) -> None:
    """One try's row onto the try (raises for a cell of another type than the schema's)."""
    t.sched_id = clean(sched_id) or t.sched_id
    # the row's site (submit.start, main.end) wins over its host's (host.info comes first)
    t.site = clean(site or host_site) or t.site
    t.host = clean(host) or t.host
    t.ip = clean(ip) or t.ip
    t.user = clean(user) or t.user
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
            if rstate not in _STATE_CODE:
                continue
            t.add_state(rts, -1 if rjs is None else rjs, rstate)
            if rstate == "JOB_HELD" and rreason:
                t.reason = text(rreason)
    if state in _STATE_CODE:
        t.add_state(ts, -1 if js is None else js, state)
        if state == "JOB_HELD" and reason:
            t.reason = text(reason)
    # the earliest EXECUTE and end, which the states kept here may not include
    if start is not None and (t.start_ts is None or start < t.start_ts):
        t.start_ts = start
    if end is not None and (t.end_ts is None or end < t.end_ts):
        t.end_ts = end
    # no planned task: the name its highest try's first task invocation gives
    if name and not job.task_ids and job.latest is t:
        job.transformation = clean(name)


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
