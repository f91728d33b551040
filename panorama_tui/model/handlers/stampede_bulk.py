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

from ...core import gcpolicy
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
    # The slice's jobs and tries live as long as the store: made with the collector off and
    # frozen (gcpolicy.build_frozen), not walked by the young collections they would trigger.
    gcpolicy.build_frozen(_apply_bulk, s, d)


def _apply_bulk(s: Store, d: dict) -> None:
    wfs = [s.workflow(u) for u in d["xwf_ids"]]
    rows = d.get("jobs")
    if rows:
        _jobs(s, wfs, rows)
    rows = d.get("tasks")
    if rows:
        _tasks(s, wfs, rows)
    rows = d.get("tries")
    if rows:
        _tries(s, wfs, rows)


# Text from the DB enters the store as every input's does (``typed.text``: control characters
# made visible), a column at a time rather than a call a cell (8M calls at 1M jobs; cProfile at
# 100k: 0.54 s of the handler's 2.6 s, profiled): a column of few distinct values (sites, hosts, users, types, names)
# cleaned once a distinct value and shared; a column of unique values (condor ids) cleaned,
# not interned (sys.intern of 1M strings each used once only costs).


def _shared(col) -> list:
    """A column of few distinct values, each cleaned once and shared (``typed.interned``)."""
    m = {v: interned(text(v)) for v in set(col)}
    return list(map(m.__getitem__, col))


def _unique(col) -> list:
    """A column of unique values, cleaned (the common printable str goes through as it is)."""
    return [v if type(v) is str and v.isprintable() else text(v) for v in col]


def _jobs(s: Store, wfs: list, rows) -> None:
    """Jobs first, waiting: the rows the screen shows at once, in the DB's order."""
    job_of = s.job
    _, _, tdescs, _, _, roles = zip(*rows)
    for (wi, exec_id, _, clustered, maxr, _), tdesc, role in zip(rows, _shared(tdescs), _shared(roles)):
        wf = wfs[wi]
        job = wf.jobs.get(exec_id)
        fresh = job is None
        if fresh:
            job = job_of(wf, exec_id)
        job.type_desc = tdesc or job.type_desc
        job.clustered = clustered
        if maxr is not None:
            job.max_retries = maxr
        if role and job.transformation is None:
            job.transformation = role
        if fresh:
            job.partial = True  # (Store.job noted it as changed)


def _tasks(s: Store, wfs: list, rows) -> None:
    job_of = s.job
    _, abs_ids, xforms, tdescs, _ = zip(*rows)
    for (wi, _, _, _, exec_id), abs_id, xform, tdesc in zip(rows, _unique(abs_ids), _shared(xforms), _shared(tdescs)):
        wf = wfs[wi]
        task = wf.tasks.get(abs_id)
        if task is None:
            task = wf.tasks[abs_id] = Task(abs_id)
        task.type_desc = tdesc or task.type_desc
        task.transformation = xform or task.transformation
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


def _tries(s: Store, wfs: list, rows) -> None:
    """Tries with their latest state, as the incremental events would have left them."""
    try_in = s.try_in
    touched: dict = {}  # jobs, in order
    unknown = s.unknown
    codes = _STATE_CODE
    (_, _, _, sched_ids, sites, users, _, _, _, _, _, _, _, _, _, _, _, hosts, ips, host_sites, _, names) = zip(*rows)
    # the row's site (submit.start, main.end) wins over its host's (host.info comes first)
    site_col = _shared([a or b for a, b in zip(sites, host_sites)])
    for row, sched_id, site, user, host, ip, name in zip(rows, _unique(sched_ids), site_col, _shared(users),
                                                         _shared(hosts), _shared(ips), _shared(names)):
        (wi, exec_id, seq, _, _, _, ldur, cdur, mult, main_ec, post_ec, state, ts, js, reason,
         start, end, _, _, _, rare, _) = row
        try:  # free unless it raises (zero-cost exceptions, Python >= 3.11)
            job, t = try_in(wfs[wi], exec_id, seq)
            touched[job] = None
            t.sched_id = sched_id or t.sched_id
            t.site = site or t.site
            t.host = host or t.host
            t.ip = ip or t.ip
            t.user = user or t.user
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
                    if rstate not in codes:
                        continue
                    t.add_state(rts, -1 if rjs is None else rjs, rstate)
                    if rstate == "JOB_HELD" and rreason:
                        t.reason = text(rreason)
            if state in codes:
                t.add_state(ts, -1 if js is None else js, state)
                if state == "JOB_HELD" and reason:
                    t.reason = text(reason)
            elif state is not None:  # as the incremental read counts it
                unknown[f"stampede.job_inst.{str(state).lower()}"] += 1
            # the earliest EXECUTE and end, which the states kept here may not include
            if start is not None and (t.start_ts is None or start < t.start_ts):
                t.start_ts = start
            if end is not None and (t.end_ts is None or end < t.end_ts):
                t.end_ts = end
            # no planned task: the name its highest try's first task invocation gives
            if name and not job.task_ids and job.latest is t:
                job.transformation = name
        except Exception as exc:  # a cell of another type than the schema's: that try, said, not the slice
            s.warn(f"{BULK_EVENT}: {exec_id!r} try {seq!r} unusable ({type(exc).__name__}: {exc})"[:200])
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
