"""Darshan I/O records (darshan.perf) onto their jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.events import Event
from ..coerce import _kept
from . import handles, ignores

if TYPE_CHECKING:
    from ..store import Store


@handles('darshan.perf')
def _h_darshan(s: Store, ev: Event, d: dict) -> None:
    d = _kept(d)
    wf = s._wf_of(d)
    jid = d.get("job_id") or d.get("dag_job_id")
    if wf is None or jid is None:
        # Darshan without workflow context still counts: keep it under the
        # transfers-and-orphans view via a placeholder workflow.
        wf = s.workflow(str(d.get("xwf_id") or d.get("wf_uuid") or "unattributed"))
        jid = jid or d.get("jobid") or d.get("exe") or "darshan"
    job = s.job(wf, str(jid))
    if job.darshan is None:
        job.darshan = {}
    key = (d.get("job_inst_id"), d.get("jobid"), d.get("start_time"), d.get("end_time"), d.get("exe"))
    job.darshan[key] = d
    s.changed.add(job)


ignores('darshan.error')
