"""The table as a projection of the object store: the bridge the views use first.

``project(store)`` reads every job; ``refresh(table, jobs)`` reads the jobs a change feed
names again (adding the new ones).  The state is the store's own (``Job.state``), not derived
again, so a table filled from bulk rows (:mod:`.bulk`) compared with this one checks the
derivation too.  Callers hold the store's lock.
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import TYPE_CHECKING

from ...core.typed import to_int
from .jobtable import EC0, NO_NAME, NONE_I, NONE_Q, PARTIAL, STATE_CODE, TASKS, JobTable

if TYPE_CHECKING:
    from ..store import Store

_order = attrgetter("order")


def project(store: Store) -> JobTable:
    """Every job of ``store``, numbered in arrival order (``Job.order - 1``)."""
    table = JobTable()
    for uuid, wf in store.workflows.items():
        table.add_workflow(uuid, wf.ended)
    refresh(table, sorted(store.jobs(), key=_order))
    return table


def refresh(table: JobTable, jobs) -> None:
    """Read ``jobs`` into the table again; a job it does not hold yet is added (in the
    order given: pass new jobs in arrival order to keep numbers = ``Job.order - 1``)."""
    jobs = list(jobs)
    if not jobs:
        return
    for wf in dict.fromkeys(j.wf for j in jobs):  # a new one numbered as first named
        if table.wf_index.get(wf.wf_uuid) is None:
            table.add_workflow(wf.wf_uuid)
        wi = table.wf_index[wf.wf_uuid]
        if bool(table.ended[wi]) != wf.ended:
            table.ended[wi] = wf.ended  # the states come from the store below, not derived
    wi_of = table.wf_index.__getitem__
    nums = table.jobs_of([wi_of(j.wf.wf_uuid) for j in jobs], [j.job_id for j in jobs])
    sid = table.strings.id
    nan = math.nan
    retries = table.retries
    for i, job in zip(nums, jobs):
        n = len(job.tries)
        old = table.tries[i]
        if n != old:  # Workflow.retries: the sum of max(0, tries - 1)
            retries[table.wf[i]] += max(0, n - 1) - max(0, old - 1)
            table.tries[i] = n
        table.type_desc[i] = sid(job.type_desc)
        table.xform[i] = sid(job.transformation)
        table.max_retries[i] = NONE_I if job.max_retries is None else job.max_retries
        flags = (PARTIAL if job.partial else 0) | (TASKS if job.task_ids else 0)
        t = job.latest
        if t is None:
            table.seq[i] = NONE_I
            table.stname[i] = NO_NAME
            table.host[i] = table.site[i] = 0
            table.start[i] = table.end[i] = table.local_dur[i] = nan
            table.exit[i] = NONE_Q
        else:
            table.seq[i] = t.seq
            table.stname[i] = NO_NAME if t.state_name is None else STATE_CODE[t.state_name]
            table.host[i] = sid(t.host)
            table.site[i] = sid(t.site)
            table.start[i] = nan if t.start_ts is None else t.start_ts
            table.end[i] = nan if t.end_ts is None else t.end_ts
            table.local_dur[i] = nan if t.local_dur is None else t.local_dur
            raw = job.exit_raw
            table.exit[i] = NONE_Q if raw is None else raw
            ec = t.exitcode
            if ec is not None and to_int(ec) == 0:
                flags |= EC0
        table.flags[i] = flags
    table.set_states(nums, [int(j.state) for j in jobs])

