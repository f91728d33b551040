"""pegasus-statistics, computed live from the store.

Every figure follows the query pegasus-statistics 5.1.3 runs
(``Pegasus.db.workflow.stampede_statistics.StampedeStatistics`` and
``Pegasus.statistics``), restated over the store's objects:

* a DB ``job_instance`` is a :class:`~panorama_tui.model.store.Try`, its
  ``exitcode`` is ``Try.exitcode`` (the POST script's, else the main job's),
  ``local_duration`` is ``Try.local_dur``, ``multiplier_factor`` is
  ``Try.multiplier``, its host is ``Try.host``;
* an ``invocation`` is an :class:`~panorama_tui.model.store.Invocation`
  (``task_submit_seq`` = ``inv_id``, ``remote_duration`` = ``dur``);
* an ``integrity`` row is an entry of ``Workflow.integrity`` (from
  ``stampede.int.metric``), ``job_instance.cluster_duration`` (``Seqexec``)
  is ``Try.cluster_dur``;
* "expanded" figures cover a workflow and all its sub-workflows
  (``root_wf_id``), per-workflow ones (``workflow.csv``, ``jobs.csv``,
  ``breakdown.csv``, ``integrity.csv`` rows of one workflow) only the
  workflow itself;
* SQL's NULL rules are kept: a sum of nothing is None, NULLs are skipped by
  ``sum``/``min``/``max``/``avg``.

Plain-data API for views (numbers, not strings): :func:`workflow_statistics`,
:func:`workflow_rows`, :func:`breakdown`, :func:`time_per_host`,
:func:`time_per_day`, :func:`job_rows`, :func:`integrity`; and ``format_*``
helpers that render a row the way pegasus-statistics writes it.

Where the store differs from the DB: the submit-side figures exclude a
sub-workflow job's tries when the job is mapped to a sub-workflow (the DB
decides per instance: ``job_instance.subwf_id``).  Integrity counts
monitord's ``stampede.int.metric`` only, as the DB does, not the live
``int.metric`` of a job's MONITORING_PAYLOAD block (the same figures, earlier).
"""

from __future__ import annotations

import weakref
from datetime import tzinfo

from ..core.stampede import SUBWF_TYPES
from ..model.entities import Workflow
from ..model.states import JobState
from ..model.store import Store
from .counts import Counts, _job_counts, _planned, _task_counts, summarize
from .per_day import add_time, by_day

__all__ = [
    "workflow_statistics",
    "workflow_rows",
    "breakdown",
    "time_per_host",
    "time_per_day",
    "time_tables",
    "job_rows",
    "integrity",
    "all_statistics",
    "summary_counts",
    "wall_time",
    "fstr",
    "pstr",
    "format_breakdown",
    "format_job",
    "format_integrity",
]

DAGMAN = "condor::dagman"


class _Sum:
    """SQL SUM: None over no non-NULL value."""

    __slots__ = ("v",)

    def __init__(self):
        self.v = None

    def add(self, x) -> None:
        if x is not None:
            self.v = x if self.v is None else self.v + x


def _tree(store: Store, wf: Workflow, expand: bool) -> list[Workflow]:
    return [wf] + store.descendants(wf) if expand else [wf]


def _jobs(wfs: list[Workflow]):
    for w in wfs:
        for j in w.jobs.values():
            if _planned(j):
                yield j


def _counts(c: Counts) -> dict:
    d = c.as_dict()
    d["total_with_retries"] = c.total_with_retries
    return d


def summary_counts(store: Store, wf: Workflow) -> dict:
    """``summary.csv``'s counts alone: ``{"tasks"|"jobs"|"sub_workflows": counts}``, each as
    in :func:`workflow_statistics` (with ``total_with_retries``)."""
    sm = summarize(store, wf)
    return {"tasks": _counts(sm.tasks), "jobs": _counts(sm.jobs), "sub_workflows": _counts(sm.sub_workflows)}


# -- summary -------------------------------------------------------------------


def wall_time(wf: Workflow) -> float | None:
    """Workflow wall time: DAGMan's end minus start, summed over restarts
    (``stats_utils.get_workflow_wall_time``)."""
    starts = [v[0] for v in wf.wf_states.values() if not v[2]]
    ends = [v[0] for v in wf.wf_states.values() if v[2]]
    if not starts or not ends or len(starts) != len(ends) or None in starts or None in ends:
        return None
    return sum(ends) - sum(starts)


def workflow_retries(wfs: list[Workflow]) -> int | None:
    """Sum over workflows of their highest restart count (None without states)."""
    got = [max(k[0] for k in w.wf_states) for w in wfs if w.wf_states]
    return sum(got) if got else None


def workflow_statistics(store: Store, wf: Workflow, summary=None) -> dict:
    """``summary.csv`` + ``summary-time.csv``: counts and wall times of a
    workflow and its sub-workflows (``summary``: :func:`~panorama_tui.stats.counts.summarize`'s
    result, if at hand)."""
    wfs = _tree(store, wf, True)
    sm = summary or summarize(store, wf)
    cum, good, bad = _Sum(), _Sum(), _Sum()
    for job in _jobs(wfs):
        for t in job.tries.values():
            m = t.multiplier
            for inv in t.invocations.values():
                if inv.inv_id < 0 or inv.transformation == DAGMAN or inv.dur is None:
                    continue
                v = inv.dur * m
                cum.add(v)
                good.add(v if inv.exitcode == 0 else 0.0)
                bad.add(v if inv.exitcode is not None and inv.exitcode > 0 else 0.0)
    s_cum, s_good, s_bad = _Sum(), _Sum(), _Sum()
    for job in _jobs(wfs):
        if job.type_desc in SUBWF_TYPES and job.subwf_uuid is not None:
            continue  # its time is its sub-workflow's jobs'
        for t in job.tries.values():
            v = None if t.local_dur is None else t.local_dur * t.multiplier
            ec = t.exitcode
            s_cum.add(v)
            s_good.add(v if ec == 0 else 0.0)
            s_bad.add(v if ec is not None and ec > 0 else 0.0)
    return {
        "wf_uuid": wf.wf_uuid,
        "label": wf.label,
        "state": wf.state,
        "tasks": _counts(sm.tasks),
        "jobs": _counts(sm.jobs),
        "sub_workflows": _counts(sm.sub_workflows),
        "workflow_wall_time": wall_time(wf),
        "cumulative_job_wall_time": cum.v,
        "cumulative_job_goodput": good.v,
        "cumulative_job_badput": bad.v,
        "submit_side_wall_time": s_cum.v,
        "submit_side_goodput": s_good.v,
        "submit_side_badput": s_bad.v,
        "workflow_retries": workflow_retries(wfs),
    }


def workflow_rows(store: Store, wf: Workflow, summary=None) -> list[dict]:
    """``workflow.csv``: each workflow of the tree on its own, then ``ALL``
    (``summary``: :func:`~panorama_tui.stats.counts.summarize`'s result, if at hand)."""
    tree = _tree(store, wf, True)
    sm = summary or summarize(store, wf)
    if len(tree) == 1:  # no sub-workflows: the workflow's own rows are the ALL rows
        row = {"wf_uuid": wf.wf_uuid, "label": wf.label, "tasks": _counts(sm.tasks), "jobs": _counts(sm.jobs),
               "sub_workflows": _counts(sm.sub_workflows), "workflow_retries": workflow_retries(tree)}
        return [row, {**row, "wf_uuid": "ALL", "label": None}]
    out = []
    for w in tree:
        jobs = [j for j in w.jobs.values() if _planned(j)]
        out.append({
            "wf_uuid": w.wf_uuid,
            "label": w.label,
            "tasks": _counts(_task_counts([w])),
            "jobs": _counts(_job_counts([j for j in jobs if j.type_desc not in SUBWF_TYPES])),
            "sub_workflows": _counts(_job_counts([j for j in jobs if j.type_desc in SUBWF_TYPES])),
            "workflow_retries": workflow_retries([w]),
        })
    out.append({
        "wf_uuid": "ALL",
        "label": None,
        "tasks": _counts(sm.tasks),
        "jobs": _counts(sm.jobs),
        "sub_workflows": _counts(sm.sub_workflows),
        "workflow_retries": workflow_retries(_tree(store, wf, True)),
    })
    return out


# -- per transformation -----------------------------------------------------------


class _Agg:
    __slots__ = ("count", "rt", "rss", "cpu")

    def __init__(self):
        self.count = 0
        self.rt: list = []
        self.rss: list = []
        self.cpu: list = []


def _stats(vals: list) -> tuple:
    if not vals:
        return None, None, None, None
    total = sum(vals)
    return min(vals), max(vals), total / len(vals), total


def breakdown(store: Store, wf: Workflow, expand: bool = True) -> list[dict]:
    """``breakdown.csv``: per (transformation, successful|failed) over every
    invocation (PRE/POST scripts and sub-workflow DAGMan included): count,
    runtime (``dur x multiplier``) min/max/mean/total, peak RSS (kB, as the DB
    keeps it) min/max/mean, average CPU (a fraction) min/max/mean.  Sorted by
    transformation, then type."""
    groups: dict[tuple, _Agg] = {}
    for job in _jobs(_tree(store, wf, expand)):
        for t in job.tries.values():
            m = t.multiplier
            for inv in t.invocations.values():
                key = (inv.transformation, "successful" if inv.exitcode == 0 else "failed")
                a = groups.get(key)
                if a is None:
                    a = groups[key] = _Agg()
                a.count += 1
                if inv.dur is not None:
                    a.rt.append(inv.dur * m)
                if inv.maxrss is not None:
                    a.rss.append(inv.maxrss)
                if inv.avg_cpu is not None:
                    a.cpu.append(inv.avg_cpu)
    return _breakdown_rows(groups)


def _breakdown_rows(groups: dict) -> list[dict]:
    out = []
    for (xform, typ), a in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        mn, mx, mean, total = _stats(a.rt)
        rmn, rmx, rmean, _ = _stats(a.rss)
        cmn, cmx, cmean, _ = _stats(a.cpu)
        out.append({
            "transformation": xform, "type": typ, "count": a.count,
            "min": mn, "max": mx, "mean": mean, "total": total,
            "min_maxrss": rmn, "max_maxrss": rmx, "mean_maxrss": rmean,
            "min_avg_cpu": cmn, "max_avg_cpu": cmx, "mean_avg_cpu": cmean,
        })
    return out


# -- one walk over the tries: time per host/day and jobs rows -------------------------

_EXEC = "EXECUTE"
_GRID = frozenset({"GRID_SUBMIT", "GLOBUS_SUBMIT"})
_POST_FROM = frozenset({"POST_SCRIPT_STARTED", "JOB_TERMINATED"})


def _bump(table: dict, key, value) -> None:
    r = table.get(key)
    if r is None:
        table[key] = [1, value]
    else:
        r[0] += 1
        if value is not None:
            r[1] = value if r[1] is None else r[1] + value


def _bump_execute_hours(states, host, ldur, per_host: dict, per_day: dict) -> None:
    """A try's EXECUTE states counted in its hour, per host and over all hosts."""
    for st in states:
        if st[2] == _EXEC and st[0] is not None:
            h = int(st[0] // 3600)
            if host is not None:
                _bump(per_host, (h, host), ldur)
            if ldur is not None:
                _bump(per_day, (h, None), ldur)


def _walk(store: Store, wf: Workflow, times: bool, jobs_of: Workflow | None) -> tuple[dict, list]:
    """One pass over the tries of ``wf``'s tree: the hour tables (when
    ``times``) and the jobs.csv rows of ``jobs_of`` (when given).  A try's
    states are decoded once for both."""
    tables: dict[str, dict] = {"host_jobs": {}, "host_invs": {}, "day_jobs": {}, "day_invs": {}}
    hj, hi, dj, di = tables["host_jobs"], tables["host_invs"], tables["day_jobs"], tables["day_invs"]
    rows: list = []
    for w in _tree(store, wf, True) if times else [jobs_of]:
        want_rows = w is jobs_of
        for job in w.jobs.values():
            if not _planned(job):
                continue
            nonsub = job.type_desc not in SUBWF_TYPES
            for seq, t in job.tries.items():
                host = t.host
                need_states = want_rows or (times and nonsub)
                sts = t.states.values() if need_states else ()
                if times:
                    ldur = t.local_dur
                    if nonsub:
                        _bump_execute_hours(sts, host, ldur, hj, dj)
                    for inv in t.invocations.values():
                        st = inv.start_time
                        if st is None or inv.transformation == DAGMAN:
                            continue
                        h = int(st // 3600)
                        if host is not None:
                            _bump(hi, (h, host), inv.dur)
                        _bump(di, (h, None), inv.dur)
                if want_rows:
                    rows.append(_job_row(job, seq, t, sts))
    rows.sort(key=lambda r: r["job_inst_id"])
    n_try: dict[str, int] = {}
    for r in rows:
        n_try[r["job_id"]] = r["try"] = n_try.get(r["job_id"], 0) + 1
    return tables, rows


def time_tables(store: Store, wf: Workflow, tz: tzinfo | None = None) -> dict:
    """:func:`time_per_host` and :func:`time_per_day` in one walk:
    ``{"per_host": {...}, "per_day": {...}}``."""
    t, _ = _walk(store, wf, True, None)
    return {
        "per_host": {"jobs": by_day(t["host_jobs"], tz), "invocations": by_day(t["host_invs"], tz)},
        "per_day": {"jobs": by_day(t["day_jobs"], tz), "invocations": by_day(t["day_invs"], tz)},
    }


def time_per_host(store: Store, wf: Workflow, tz: tzinfo | None = None) -> dict:
    """``time-per-host.csv``: ``{"jobs": [...], "invocations": [...]}``, rows
    ``{date, host, count, runtime}``.  Jobs: each EXECUTE of a try of a
    non-sub-workflow job on a known host, runtime = DAGMan's local duration;
    invocations: every invocation but sub-workflow DAGMans, runtime = kickstart
    duration.  Days are ``tz``'s (default: this machine's zone, as
    pegasus-statistics does), of the UTC hour the time falls in."""
    return time_tables(store, wf, tz)["per_host"]


def time_per_day(store: Store, wf: Workflow, tz: tzinfo | None = None) -> dict:
    """``time.csv``: as :func:`time_per_host` without the host (jobs: tries with
    a known local duration)."""
    return time_tables(store, wf, tz)["per_day"]


# -- jobs ------------------------------------------------------------------------


def _sub(a, b):
    return None if a is None or b is None else a - b


def raw_to_regular(code):
    """pegasus's ``utils.raw_to_regular``: exit code, -signal, or -128."""
    if not isinstance(code, int):
        return code
    if code < 0:
        return -128
    if code & 127:
        return -(code & 127)
    return code >> 8


def _job_row(job, seq, t, sts) -> dict:
    kick = kick_m = cpu = None
    ecmax = None
    m = t.multiplier
    for inv in t.invocations.values():
        i = inv.inv_id
        if i >= 0:
            d = inv.dur
            if d is not None:
                kick = d if kick is None else kick + d
                kick_m = d * m if kick_m is None else kick_m + d * m
            c = inv.remote_cpu_time
            if c is not None:
                cpu = c if cpu is None else cpu + c
        if i >= -1 and inv.exitcode is not None and (ecmax is None or inv.exitcode > ecmax):
            ecmax = inv.exitcode
    submit = first_run = first_exec = grid = post_term = post_from = None
    for ts, _js, state in sts:
        if ts is None:
            continue
        if state == _EXEC:
            if first_exec is None or ts < first_exec:
                first_exec = ts
            if first_run is None or ts < first_run:
                first_run = ts
        elif state in _GRID:
            if grid is None or ts < grid:
                grid = ts
            if first_run is None or ts < first_run:
                first_run = ts
        elif state == "SUBMIT":
            if submit is None or ts < submit:
                submit = ts
        elif state == "POST_SCRIPT_TERMINATED" and (post_term is None or ts < post_term):
            post_term = ts
        if state in _POST_FROM and (post_from is None or ts > post_from):
            post_from = ts
    return {
        "job_id": job.job_id,
        "try": 0,
        "job_inst_id": seq,
        "site": t.site,
        "kickstart": kick,
        "multiplier": m,
        "kickstart_mult": kick_m,
        "cpu_time": cpu,
        "post": _sub(post_term, post_from),
        "condor_q_time": _sub(first_run, submit),
        "resource": _sub(first_exec, grid),
        "runtime": t.local_dur,
        "seqexec": t.cluster_dur,  # whatever job.clustered says, as pegasus-statistics
        "seqexec_delay": _sub(t.cluster_dur, kick),
        "exitcode": raw_to_regular(ecmax),
        "host": t.host,
    }


def job_rows(store: Store, wf: Workflow) -> list[dict]:
    """``jobs.csv`` for one workflow: one row per try, in submit order."""
    return _walk(store, wf, False, wf)[1]


# -- integrity ----------------------------------------------------------------------


def _integrity_groups(wfs: list[Workflow]) -> dict:
    groups: dict[tuple, tuple] = {}
    for w in wfs:
        for (_jid, _seq, typ, file_type), (count, dur) in (w.integrity or {}).items():
            g = groups.get((typ, file_type))
            if g is None:
                g = groups[(typ, file_type)] = (_Sum(), _Sum())
            g[0].add(count)
            g[1].add(dur)
    return groups


def integrity(store: Store, wf: Workflow, expand: bool = True) -> list[dict]:
    """``integrity.csv``: per (type, file_type), in that order (SQLite's
    GROUP BY order), the sums of ``count`` and ``duration`` (s) over the
    workflow's metrics, and its sub-workflows' when ``expand`` (the ``ALL``
    rows; pegasus-statistics' row of one workflow is its own metrics only)."""
    groups = _integrity_groups(_tree(store, wf, expand))
    return [
        {"type": typ, "file_type": file_type, "count": count.v, "duration": dur.v}
        for (typ, file_type), (count, dur) in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or ""))
    ]


# -- all of it, live: one walk, finished jobs cached in buckets -----------------------------

BUCKET = 256  # finished jobs per cached part
_CACHES: "weakref.WeakKeyDictionary[Store, dict]" = weakref.WeakKeyDictionary()
_SETTLED = (JobState.DONE, JobState.FAILED)


class _Part:
    """What a set of jobs adds to every figure."""

    __slots__ = ("sig", "cum", "good", "bad", "s_cum", "s_good", "s_bad", "groups", "hj", "hi", "dj", "di", "rows")
    sig: tuple
    cum: float
    good: float
    bad: float
    s_cum: float
    s_good: float
    s_bad: float
    groups: dict
    hj: dict
    hi: dict
    dj: dict
    di: dict
    rows: list


def _job_sig(job) -> tuple:
    """Changes whenever anything a figure reads changes in the job's tries."""
    return (job.type_desc, job.subwf_uuid, tuple(
        (seq, t.state_count(), len(t.invocations), t.local_dur, t.main_exitcode, t.post_exitcode, t.host, t.site,
         t.multiplier, t.cluster_dur) for seq, t in job.tries.items()))


def _wf_parts(w: Workflow, cache: dict) -> list:
    """The parts of one workflow: finished jobs in buckets that are reused
    while none of their jobs changes (finished jobs rarely do: a retry), and
    one part of the jobs still in progress, computed afresh."""
    c = cache.get(w.wf_uuid)
    if c is None or c["wf"] is not w:  # new workflow object (a store reset): start over
        c = cache[w.wf_uuid] = {"wf": w, "slot": {}, "buckets": []}
    slot, buckets = c["slot"], c["buckets"]
    dirty: set = set()
    active = []
    for job in w.jobs.values():
        if not job.tries:
            continue  # planned, never submitted: adds nothing
        jid = job.job_id
        sig = _job_sig(job)
        b = slot.get(jid)
        settled = job.state in _SETTLED
        if b is not None:
            bucket = buckets[b]
            if settled and bucket["sigs"][jid] == sig:
                continue
            del bucket["sigs"][jid], bucket["jobs"][jid], slot[jid]
            dirty.add(b)
        if not settled:
            active.append(job)
            continue
        if not buckets or len(buckets[-1]["jobs"]) >= BUCKET:
            buckets.append({"sigs": {}, "jobs": {}, "part": None})
        b = len(buckets) - 1
        buckets[b]["sigs"][jid] = sig
        buckets[b]["jobs"][jid] = job
        slot[jid] = b
        dirty.add(b)
    for b in dirty:
        buckets[b]["part"] = _part(list(buckets[b]["jobs"].values()), None)
    return [bk["part"] for bk in buckets if bk["jobs"]] + [_part(active, None)]


def _part(jobs, sig) -> _Part:
    p = _Part()
    p.sig = sig
    cum, good, bad = _Sum(), _Sum(), _Sum()
    s_cum, s_good, s_bad = _Sum(), _Sum(), _Sum()
    groups: dict[tuple, _Agg] = {}
    hj: dict = {}
    hi: dict = {}
    dj: dict = {}
    di: dict = {}
    rows: list = []
    for job in jobs:
        if not _planned(job):
            continue
        nonsub = job.type_desc not in SUBWF_TYPES
        mapped_subwf = not nonsub and job.subwf_uuid is not None
        for n, seq in enumerate(sorted(job.tries), 1):
            t = job.tries[seq]
            m = t.multiplier
            host = t.host
            ldur = t.local_dur
            sts = t.states.values()
            if not mapped_subwf:
                v = None if ldur is None else ldur * m
                ec = t.exitcode
                s_cum.add(v)
                s_good.add(v if ec == 0 else 0.0)
                s_bad.add(v if ec is not None and ec > 0 else 0.0)
            if nonsub:
                _bump_execute_hours(sts, host, ldur, hj, dj)
            for inv in t.invocations.values():
                x = inv.transformation
                ec = inv.exitcode
                d = inv.dur
                key = (x, "successful" if ec == 0 else "failed")
                a = groups.get(key)
                if a is None:
                    a = groups[key] = _Agg()
                a.count += 1
                if d is not None:
                    a.rt.append(d * m)
                if inv.maxrss is not None:
                    a.rss.append(inv.maxrss)
                if inv.avg_cpu is not None:
                    a.cpu.append(inv.avg_cpu)
                if x == DAGMAN:
                    continue
                if inv.inv_id >= 0 and d is not None:
                    v = d * m
                    cum.add(v)
                    good.add(v if ec == 0 else 0.0)
                    bad.add(v if ec is not None and ec > 0 else 0.0)
                stt = inv.start_time
                if stt is not None:
                    h = int(stt // 3600)
                    if host is not None:
                        _bump(hi, (h, host), d)
                    _bump(di, (h, None), d)
            row = _job_row(job, seq, t, sts)
            row["try"] = n  # a job's tries are all in its bucket
            rows.append(row)
    p.cum, p.good, p.bad, p.s_cum, p.s_good, p.s_bad = cum.v, good.v, bad.v, s_cum.v, s_good.v, s_bad.v
    p.groups, p.hj, p.hi, p.dj, p.di, p.rows = groups, hj, hi, dj, di, rows
    return p


def _merge_table(into: dict, table: dict) -> None:
    for k, (count, runtime) in table.items():
        add_time(into, k, count, runtime)


def _merge_groups(into: dict, groups: dict) -> None:
    for key, a in groups.items():
        b = into.get(key)
        if b is None:
            b = into[key] = _Agg()
        b.count += a.count
        b.rt += a.rt
        b.rss += a.rss
        b.cpu += a.cpu


def all_statistics(store: Store, wf: Workflow, tz: tzinfo | None = None) -> dict:
    """Everything pegasus-statistics ``-s all`` reports, for ``wf``'s tree:
    ``summary`` (:func:`workflow_statistics`), ``workflows``
    (:func:`workflow_rows`), ``breakdown`` and ``integrity`` ({wf_uuid | "ALL":
    rows}), ``jobs`` ({wf_uuid: rows}), ``per_host`` and ``per_day``
    (:func:`time_tables`).

    Made for a view that recomputes as the run goes on: finished jobs are kept
    in buckets of :data:`BUCKET`, and a bucket none of whose jobs has changed
    since the last call on this store (same states count, invocations, exit
    codes, durations, host) reuses what it added then; jobs in progress are
    computed afresh.  Integrity is summed afresh on each call (a few metrics
    per job at most, kept by the workflow, not by its jobs).  Call with the
    store's lock held, like every reader; the rows returned are shared with
    that cache: read them, do not change them."""
    cache = _CACHES.get(store)
    if cache is None:
        cache = _CACHES[store] = {}
    wfs = _tree(store, wf, True)
    sm = summarize(store, wf)
    sums = [_Sum() for _ in range(6)]
    hj: dict = {}
    hi: dict = {}
    dj: dict = {}
    di: dict = {}
    groups_of: dict[str, dict] = {}
    jobs_of: dict[str, list] = {}
    every: dict = {}
    for w in wfs:
        groups: dict = {}
        rows: list = []
        for part in _wf_parts(w, cache):
            for acc, v in zip(sums, (part.cum, part.good, part.bad, part.s_cum, part.s_good, part.s_bad)):
                acc.add(v)
            _merge_groups(groups, part.groups)
            _merge_table(hj, part.hj)
            _merge_table(hi, part.hi)
            _merge_table(dj, part.dj)
            _merge_table(di, part.di)
            rows += part.rows
        rows.sort(key=lambda r: r["job_inst_id"])
        groups_of[w.wf_uuid] = groups
        jobs_of[w.wf_uuid] = rows
        _merge_groups(every, groups)
    for u in [u for u in cache if u not in {w.wf_uuid for w in wfs} and u not in store.workflows]:
        del cache[u]
    cum, good, bad, s_cum, s_good, s_bad = (x.v for x in sums)
    summary = {
        "wf_uuid": wf.wf_uuid, "label": wf.label, "state": wf.state,
        "tasks": _counts(sm.tasks), "jobs": _counts(sm.jobs), "sub_workflows": _counts(sm.sub_workflows),
        "workflow_wall_time": wall_time(wf),
        "cumulative_job_wall_time": cum, "cumulative_job_goodput": good, "cumulative_job_badput": bad,
        "submit_side_wall_time": s_cum, "submit_side_goodput": s_good, "submit_side_badput": s_bad,
        "workflow_retries": workflow_retries(wfs),
    }
    return {
        "summary": summary,
        "workflows": workflow_rows(store, wf, sm),
        "breakdown": {**{u: _breakdown_rows(g) for u, g in groups_of.items()}, "ALL": _breakdown_rows(every)},
        "jobs": jobs_of,
        "integrity": {**{w.wf_uuid: integrity(store, w, expand=False) for w in wfs}, "ALL": integrity(store, wf)},
        "per_host": {"jobs": by_day(hj, tz), "invocations": by_day(hi, tz)},
        "per_day": {"jobs": by_day(dj, tz), "invocations": by_day(di, tz)},
    }


# -- pegasus-statistics' text forms -------------------------------------------------


def fstr(v, to: int = 3) -> str:
    return "-" if v is None else str(round(float(v), to))


def pstr(v, to: int = 2) -> str:
    return "-" if v is None else fstr(v, to) + "%"


def format_breakdown(r: dict) -> list[str]:
    """A breakdown row as ``breakdown.csv`` writes it (memory in MB, CPU in %)."""
    return [
        r["transformation"], r["type"], str(r["count"]),
        fstr(r["min"]), fstr(r["max"]), fstr(r["mean"]), fstr(r["total"]),
        fstr(r["min_maxrss"] / 1024) if r["min_maxrss"] else "-",
        fstr(r["max_maxrss"] / 1024) if r["max_maxrss"] else "-",
        fstr(r["mean_maxrss"] / 1024) if r["mean_maxrss"] else "-",
        pstr(r["min_avg_cpu"] * 100) if r["min_avg_cpu"] else "-",
        pstr(r["max_avg_cpu"] * 100) if r["max_avg_cpu"] else "-",
        pstr(r["mean_avg_cpu"] * 100) if r["mean_avg_cpu"] else "-",
    ]


def format_job(r: dict) -> list[str]:
    """A job row as ``jobs.csv`` writes it (from Job to Hostname)."""
    return [
        r["job_id"], str(r["try"]), r["site"] or "-", fstr(r["kickstart"]), str(r["multiplier"]),
        fstr(r["kickstart_mult"]), fstr(r["cpu_time"]), fstr(r["post"]), fstr(r["condor_q_time"]),
        fstr(r["resource"]), fstr(r["runtime"]), fstr(r["seqexec"]), fstr(r["seqexec_delay"]),
        str(r["exitcode"]), r["host"] or "None",
    ]


def format_integrity(r: dict) -> list[str]:
    """An integrity row as ``integrity.csv`` writes it (from Type to Total
    Duration): the DB's NUMERIC(10, 3) duration comes back with 3 decimals."""
    dur = r["duration"]
    return [r["type"], r["file_type"] or "", str(r["count"]), "-" if dur is None else f"{dur:.3f}"]
