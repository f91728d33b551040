"""Jobs over time, and a Gantt view that still reads at 10k+ jobs.

Every try contributes a queued interval (SUBMIT to EXECUTE) and a running
interval (EXECUTE to its end); counts per time bin come from difference
arrays, so the cost is O(tries + bins) whatever the size of the workflow.
With more jobs than rows, the Gantt shows one row per transformation whose
cells shade by how many of its jobs ran in that time slice.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..model.states import JobState
from ..model.entities import Job, Workflow
from ..model.store import Store

_END_STATES = ("JOB_TERMINATED", "JOB_EVICTED", "JOB_SUCCESS", "JOB_FAILURE", "JOB_ABORTED")
_FINAL_STATES = ("POST_SCRIPT_SUCCESS", "POST_SCRIPT_FAILED", "SUBMIT_FAILED", "PRE_SCRIPT_FAILED", "JOB_ABORTED")
SHADES = " ░▒▓█"
# Seconds between clock ticks, round on a clock face.
CLOCK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
               2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400, 91 * 86400, 182 * 86400, 364 * 86400)
DAY = 86400


@dataclass
class Interval:
    job: Job
    submit: float | None
    start: float | None
    end: float | None  # None while still running


@dataclass
class Occupancy:
    t0: float
    t1: float
    times: list[float]
    queued: list[int]
    running: list[int]
    done: list[int]
    failed: list[int]


def _jobs(store: Store, wf: Workflow | None):
    if wf is None:
        return list(store.jobs())
    return [j for w in [wf] + store.descendants(wf) for j in w.jobs.values()]


def intervals(store: Store, wf: Workflow | None = None) -> list[Interval]:
    out = []
    for job in _jobs(store, wf):
        for t in job.tries.values():
            submit = t.state_time("SUBMIT", "GRID_SUBMIT", "GLOBUS_SUBMIT", "launched")  # launched: a Parsl try's
            start = t.start_ts
            end = t.end_ts
            if submit is None and start is None:
                continue
            out.append(Interval(job, submit, start, end))
    return out


def _finish_time(job: Job) -> float | None:
    t = job.latest
    if t is None:
        return None
    # Jobs without a POST script (sub-workflow jobs) finish with the main job.
    return t.state_time(*_FINAL_STATES) or t.state_time("JOB_SUCCESS", "JOB_FAILURE") or t.end_ts


def occupancy(store: Store, wf: Workflow | None = None, bins: int = 120, now: float | None = None) -> Occupancy | None:
    ivs = intervals(store, wf)
    if not ivs:
        return None
    stamps = [x for iv in ivs for x in (iv.submit, iv.start, iv.end) if x is not None]
    t0 = min(stamps)
    t1 = max(stamps + ([now] if now is not None else []))
    if t1 <= t0:
        t1 = t0 + 1.0
    width = (t1 - t0) / bins

    def b(ts: float) -> int:
        return min(bins - 1, max(0, int((ts - t0) / width)))

    dq = [0] * (bins + 1)
    dr = [0] * (bins + 1)
    # A try counts in every bin its interval touches (so a 1 s job still
    # shows at a 1 min resolution); an open interval runs to the last bin.
    for iv in ivs:
        if iv.submit is not None:
            qend = iv.start if iv.start is not None else iv.end
            dq[b(iv.submit)] += 1
            dq[b(qend) + 1 if qend is not None else bins] -= 1
        if iv.start is not None:
            dr[b(iv.start)] += 1
            dr[b(iv.end) + 1 if iv.end is not None else bins] -= 1
    dd = [0] * (bins + 1)
    df = [0] * (bins + 1)
    for job in _jobs(store, wf):
        if job.state in (JobState.DONE, JobState.FAILED):
            fin = _finish_time(job)
            if fin is not None:
                (dd if job.state == JobState.DONE else df)[b(fin)] += 1
    queued, running, done, failed = [], [], [], []
    q = r = d = f = 0
    for i in range(bins):
        q += dq[i]
        r += dr[i]
        d += dd[i]
        f += df[i]
        queued.append(max(0, q))
        running.append(max(0, r))
        done.append(d)
        failed.append(f)
    times = [t0 + (i + 0.5) * width for i in range(bins)]
    return Occupancy(t0, t1, times, queued, running, done, failed)


@dataclass
class GanttRow:
    label: str
    cells: str
    state: JobState | None  # one job's state, or None for an aggregate row
    count: int


def gantt(
    store: Store, wf: Workflow | None, width: int, max_rows: int, now: float | None = None
) -> tuple[list[GanttRow], float, float] | None:
    """Rows of text cells over [t0, t1]: one per job when they fit, else per transformation."""
    ivs = intervals(store, wf)
    ivs = [iv for iv in ivs if iv.start is not None]
    if not ivs or width < 4:
        return None
    t0 = min(iv.start for iv in ivs)
    t1 = max([iv.end or iv.start for iv in ivs] + ([now] if now is not None else []))
    if t1 <= t0:
        t1 = t0 + 1.0
    scale = width / (t1 - t0)

    def span(iv) -> tuple[int, int]:
        a = int((iv.start - t0) * scale)
        z = int(((iv.end if iv.end is not None else t1) - t0) * scale)
        return min(width - 1, a), min(width - 1, max(a, z))

    jobs = {iv.job for iv in ivs}
    rows: list[GanttRow] = []
    if len(jobs) <= max_rows:
        by_job: dict = {}
        for iv in ivs:
            by_job.setdefault(iv.job, []).append(iv)
        for job, its in sorted(by_job.items(), key=lambda kv: min(i.start for i in kv[1])):
            cells = [" "] * width
            for n, iv in enumerate(sorted(its, key=lambda i: i.start)):
                a, z = span(iv)
                ch = "█" if n == len(its) - 1 else "▒"  # earlier (failed) tries are lighter
                for x in range(a, z + 1):
                    cells[x] = ch
            rows.append(GanttRow(job.job_id, "".join(cells), job.state, 1))
        return rows, t0, t1
    # Aggregate: per transformation, how many of its jobs ran in each column.
    groups: dict[str, list[int]] = {}
    counts: dict[str, set] = {}
    for iv in ivs:
        key = iv.job.transformation or iv.job.type_desc or "?"
        col = groups.setdefault(key, [0] * (width + 1))
        a, z = span(iv)
        col[a] += 1
        col[z + 1] -= 1
        counts.setdefault(key, set()).add(iv.job)
    ordered = sorted(groups, key=lambda k: -len(counts[k]))[:max_rows]
    for key in ordered:
        diff = groups[key]
        run, dens = 0, []
        for x in range(width):
            run += diff[x]
            dens.append(run)
        top = max(dens) or 1
        shaded = "".join(SHADES[0] if v <= 0 else SHADES[min(4, 1 + int(3 * v / top))] for v in dens)
        rows.append(GanttRow(f"{key} ({len(counts[key])})", shaded, None, len(counts[key])))
    return rows, t0, t1


def clock_ticks(t0: float, t1: float, width: int) -> list[tuple[float, str]]:
    """Round local clock times within [t0, t1] for an axis ``width`` columns
    wide, labelled HH:MM, or HH:MM:SS when less than a minute apart, or the date
    when a day or more apart (a run read years after it ran: every label was
    "00:00"), as many as fit with two columns between labels (the first time
    alone when no round time falls in the span)."""
    span = max(t1 - t0, 0.0)

    def fits(step: int) -> bool:
        return (span / step + 1) * ((8 if step < 60 else 10 if step >= DAY else 5) + 2) <= width

    step = next((s for s in CLOCK_STEPS if fits(s)), CLOCK_STEPS[-1])
    offset = time.localtime(t0).tm_gmtoff  # round in local time (a 5:30 zone's hours too)
    first = math.ceil((t0 + offset) / step) * step - offset
    ticks = [first + i * step for i in range(int((t1 - first) // step) + 1)] if first <= t1 else [t0]
    fmt = "%H:%M:%S" if step < 60 else "%Y-%m-%d" if step >= DAY else "%H:%M"
    return [(t, time.strftime(fmt, time.localtime(t))) for t in ticks]


def count_ticks(top: float, max_ticks: int) -> list[int]:
    """Whole numbers from 0 to at least ``top`` (and 1), 1, 2 or 5 x 10^k
    apart, at most ``max_ticks`` of them (2 at least)."""
    top = max(1, math.ceil(top))
    step = 1
    while math.ceil(top / step) + 1 > max(2, max_ticks):
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2  # 1 2 5 10 20 50 ...
    return list(range(0, math.ceil(top / step) * step + 1, step))
