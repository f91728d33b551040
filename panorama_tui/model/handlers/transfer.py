"""Globus transfers (transfer.inv.go), kept per task and linked to their jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.events import Event
from ..coerce import _float, _kept, _str
from ..entities import _TRANSFER_FINAL, Transfer
from . import handles, ignores

if TYPE_CHECKING:
    from ..store import Store


def _transfer_rank(d: dict, ts) -> tuple:
    status = str(d.get("status") or "")
    return (
        1 if status in _TRANSFER_FINAL else 0,
        _float(d.get("bytes_transferred")) or 0.0,
        _float(d.get("files_transferred")) or 0.0,
        ts or 0.0,
    )


@handles('transfer.inv.go')
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
            s.changed.add(job)


ignores('transfer.status')
