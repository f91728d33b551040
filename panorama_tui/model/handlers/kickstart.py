"""kickstart's /proc traces (kickstart.inv.online) and summaries into jobs' resource series.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.events import ONLINE as _ONLINE
from ...core.events import Event, TraceSample
from ..coerce import _BAD, _NUM_TYPES, _field_float, _float, _int, _istr, _kept, _str
from ..entities import Workflow
from ..series import ResourceSeries
from . import handles

if TYPE_CHECKING:
    from ..store import Store


_KS_COUNTERS = ("utime", "stime", "rss", "bread", "bwrite", "rchar", "wchar", "rank")


@handles('kickstart.inv.online')
def _h_kickstart(s: Store, ev: Event, d: dict) -> None:
    # The general lane: Ingest sends the well-typed samples to apply_sample;
    # this one takes any record (tests, relays, odd producers).  Plain numbers
    # are taken as they are, anything else goes through the checks that warn.
    g = d.get
    u = g("xwf_id") or g("wf_uuid")
    wf = s.workflows.get(u) if type(u) is str else None
    if wf is None:
        wf = s._wf_of(d)
    jid = g("dag_job_id") or g("job_id")
    if wf is None or jid is None:
        s.warn("kickstart.inv.online: no wf_uuid or dag_job_id")
        return
    ts = ev.ts
    if ts is None:
        s.warn("kickstart.inv.online: no usable ts")
        return
    ut, st, rss, rd = g("utime"), g("stime"), g("rss"), g("bread")
    wr, rc, wc, rank = g("bwrite"), g("rchar"), g("wchar"), g("rank")
    T = _NUM_TYPES
    if not (
        type(ut) in T
        and type(st) in T
        and type(rss) in T
        and type(rd) in T
        and type(wr) in T
        and type(rc) in T
        and type(wc) in T
        and type(rank) in T
    ):
        for key in _KS_COUNTERS:
            if _field_float(s, ev.name, d, key) is _BAD:
                return  # a sample with a broken counter would draw a false rate
        ut, st, rss, rd, wr, rc, wc = (_float(v) for v in (ut, st, rss, rd, wr, rc, wc))
    # float() of each counter, in the checks' order (an int past the float
    # range raises here, before anything is changed, as the checks did)
    f = float
    cpu = f(ut or 0.0) + f(st or 0.0)
    rss = f(rss or 0.0)
    rd = None if rd is None else f(rd)
    wr = None if wr is None else f(wr)
    rc = f(rc or 0.0)
    wc = f(wc or 0.0)
    if rank is not None:
        f(rank)
    if rd is None:
        rd = rc
    if wr is None:
        wr = wc
    rank = rank if type(rank) is int else (_int(rank) or 0)
    label = g("wf_label")
    xform = g("xformation")
    threads, procs = g("threads"), g("procs")
    # Checked and converted: from here on it is a sample like the typed lane's.
    x = TraceSample(
        event=_ONLINE,
        ts=ts,
        utime=cpu,
        rss=rss,
        bread=rd,
        bwrite=wr,
        rank=rank,
        hostname=g("hostname"),
        pid=g("pid"),
        exe=g("exe"),
        threads=threads if type(threads) is int else _int(threads),
        procs=procs if type(procs) is int else _int(procs),
        wf_label=_str(label) if label else None,
        xformation=_str(xform) if xform else None,
    )
    _add_sample(s, wf, jid, x)


def _add_sample(s: Store, wf: Workflow, jid, x) -> None:
    """One /proc sample, its types checked, into its job's series (both lanes end here)."""
    job = wf.jobs.get(jid) if type(jid) is str else None
    if job is None:
        job = s.job(wf, str(jid))
    if not wf.label and x.wf_label:
        wf.label = _str(x.wf_label)
    if not job.transformation and x.xformation:
        job.transformation = _istr(x.xformation)
    series = job.series
    if series is None:
        series = job.series = ResourceSeries()
    ut, st, rd, wr = x.utime, x.stime, x.bread, x.bwrite
    if series.add5(
        x.rank or 0,
        x.ts,
        (ut or 0.0) + (st or 0.0),
        (x.rss or 0.0) * 1024.0,  # kickstart reports kB
        (x.rchar or 0.0) if rd is None else rd,
        (x.wchar or 0.0) if wr is None else wr,
    ):
        h = x.hostname
        if h and h != series.hostname:
            series.hostname = _istr(h)
        series.pid = x.pid or series.pid
        e = x.exe
        if e and e != series.exe:
            series.exe = _str(e)
        series.threads = x.threads
        series.procs = x.procs
        s.changed.add(job)


@handles('kickstart.inv.summary')
def _h_kickstart_summary(s: Store, ev: Event, d: dict) -> None:
    d = _kept(d)
    wf = s._wf_of(d)
    jid = d.get("dag_job_id") or d.get("job_id")
    if wf is None or jid is None:
        return
    job = s.job(wf, str(jid))
    job.summary = d
    s.changed.add(job)
