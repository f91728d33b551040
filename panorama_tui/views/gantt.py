"""Task state over time (a Gantt): one row per task while they fit on a
screen, past that one row per app.

A task's life is a list of segments, each in a state of the screen's scale
(:class:`~panorama_tui.model.states.JobState`), and its end (done or failed)
is a point:

* a Parsl task: waiting from its invocation to its first try's launch
  (pending: its dependencies), queued from a try's launch to its start,
  running from its start to its end (retrying for a later try), ended at its
  return when its state is final (exec_done / memo_done: done, failed /
  dep_fail: failed);
* a Pegasus job (the store is shared; it costs nothing more): each try is
  queued from its submission to its start, then running to its end; the job's
  final state is its end.

Per task, a column shows the last state that covered it, and the end's glyph
(✓ / ✗) where it came.  Per app, a column counts the app's tasks in each
state there (difference arrays: O(segments + columns)); it shows

* ✗ when one of them failed in that column (problems are never hidden),
* else, when some of its tasks were on an executor (queued, running,
  retrying), the state most of those were in, shaded ░▒▓█ by how many
  against the app's busiest column: tasks waiting for their dependencies
  use no worker, and at 100k tasks most of an app waits most of the run, so
  they would hide the ones running,
* else · when some were waiting,
* else ✓ when some finished there, else blank.

No Textual here: the screen (ui/screens/gantt.py) colours the cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core import parsl_events as pe
from ..model.entities import Job, Workflow
from ..model.handlers import parsl as pm
from ..model.states import JobState

SHADES = "░▒▓█"
# What a column of one task shows for each state it is in.
CELL = {JobState.WAITING: "·", JobState.QUEUED: "░", JobState.RUNNING: "█", JobState.RETRYING: "▒",
        JobState.HELD: "‖", JobState.DONE: "✓", JobState.FAILED: "✗"}
ACTIVE = (JobState.RUNNING, JobState.RETRYING, JobState.QUEUED, JobState.WAITING)
EXECUTING = ACTIVE[:3]  # on an executor (a worker or its queue); ties go left


@dataclass
class Life:
    job: Job
    segments: list[tuple[float, float | None, JobState]]  # (start, end or None: still in it, state)
    end: tuple[float, JobState] | None  # (when, DONE or FAILED)

    @property
    def first(self) -> float:
        return self.segments[0][0] if self.segments else self.end[0]  # type: ignore[index]


@dataclass
class GanttRow:
    label: str
    cells: list[tuple[str, JobState | None]]  # one (character, state) per column
    count: int = 1  # tasks in the row
    states: dict = field(default_factory=dict)  # an app row: JobState -> its tasks in it now


@dataclass
class Gantt:
    t0: float
    t1: float
    per_task: bool
    rows: list[GanttRow]
    tasks: int
    apps: int


def _parsl_life(job: Job, task: pm.ParslTask) -> Life:
    """From the times the task and its tries keep (no status row is read again:
    unpacking every try's states made the whole Gantt of 10k tasks 1.04 s, this 0.65 s)."""
    segments: list = []
    seqs = sorted(job.tries)
    first = seqs[0] if seqs else None
    for seq in seqs:
        t = job.tries[seq]
        p = task.tries.get(seq)
        launched = p.launched if p is not None else None
        start, end = t.start_ts, t.end_ts
        if seq == first and task.invoked is not None:
            upto = next((x for x in (launched, start, end, task.returned) if x is not None), None)
            segments.append((task.invoked, upto, JobState.WAITING))
        if launched is not None:
            segments.append((launched, start if start is not None else end, JobState.QUEUED))
        if start is not None:
            segments.append((start, end, JobState.RUNNING if seq == first else JobState.RETRYING))
    if not seqs and task.invoked is not None:  # a dep_fail, or waiting for its dependencies
        segments.append((task.invoked, task.returned, JobState.WAITING))
    fin = None
    if task.state in pe.FINAL_STATES:
        when = task.returned or max((x for s in segments for x in s[:2] if x is not None), default=None)
        if when is not None:
            fin = (when, JobState.DONE if task.state in (pe.EXEC_DONE, pe.MEMO_DONE) else JobState.FAILED)
    return Life(job, segments, fin)


def _pegasus_life(job: Job) -> Life:
    segments = []
    for seq in sorted(job.tries):
        t = job.tries[seq]
        submit = t.state_time("SUBMIT", "GRID_SUBMIT", "GLOBUS_SUBMIT")
        start, end = t.start_ts, t.end_ts
        if submit is not None:
            segments.append((submit, start if start is not None else end, JobState.QUEUED))
        if start is not None:
            segments.append((start, end, JobState.RETRYING if seq != min(job.tries) else JobState.RUNNING))
    fin = None
    if job.state in (JobState.DONE, JobState.FAILED):
        last = max((s[1] for s in segments if s[1] is not None), default=None)
        if last is not None:
            fin = (last, job.state)
    return Life(job, segments, fin)


def lives(workflows: list[Workflow]) -> list[Life]:
    """Every job's life that has a time, in the order they started."""
    out = []
    for wf in workflows:
        run = pm.run_of(wf)
        for job in wf.jobs.values():
            task = None
            if run is not None:
                tid = int(job.job_id) if job.job_id.isdigit() else None
                task = run.tasks.get(tid) if tid is not None else None
            life = _parsl_life(job, task) if task is not None else _pegasus_life(job)
            if life.segments or life.end:
                out.append(life)
    out.sort(key=lambda lf: (lf.first, lf.job.order))
    return out


def gantt(workflows: list[Workflow], width: int, max_rows: int, now: float | None = None,
          app_width: int | None = None) -> Gantt | None:
    """The Gantt of ``workflows``' jobs over ``width`` columns: per task when they fit in
    ``max_rows``, else per app over ``app_width`` columns (default ``width``: an app's row
    may need room for its counts); None when no job has a time yet."""
    ls = lives(workflows)
    if len(ls) > max_rows and app_width is not None:
        width = app_width
    if not ls or width < 4:
        return None
    t0 = min(lf.first for lf in ls)
    ends = [x for lf in ls for s in lf.segments for x in (s[0], s[1]) if x is not None]
    ends += [lf.end[0] for lf in ls if lf.end]
    open_ = any(s[1] is None for lf in ls for s in lf.segments)
    t1 = max(ends + ([now] if open_ and now is not None else []))
    if t1 <= t0:
        t1 = t0 + 1.0
    scale = width / (t1 - t0)

    def col(ts: float) -> int:
        return min(width - 1, max(0, int((ts - t0) * scale)))

    apps = {lf.job.transformation or lf.job.type_desc or "?" for lf in ls}
    if len(ls) <= max_rows:
        rows = []
        for lf in ls:
            cells: list = [(" ", None)] * width
            for a, z, st in lf.segments:
                for x in range(col(a), col(z if z is not None else t1) + 1):
                    cells[x] = (CELL[st], st)
            if lf.end is not None:
                x = col(lf.end[0])
                cells[x] = (CELL[lf.end[1]], lf.end[1])
            rows.append(GanttRow(f"{lf.job.job_id} {lf.job.transformation or ''}".rstrip(), cells))
        return Gantt(t0, t1, True, rows, len(ls), len(apps))
    return Gantt(t0, t1, False, _per_app(ls, width, col, t1)[:max_rows], len(ls), len(apps))


def _per_app(ls: list[Life], width: int, col, t1: float) -> list[GanttRow]:
    by_app: dict[str, dict] = {}
    for lf in ls:
        app = lf.job.transformation or lf.job.type_desc or "?"
        a = by_app.get(app)
        if a is None:
            a = by_app[app] = {"n": 0, "now": {}, "diff": {st: [0] * (width + 1) for st in ACTIVE},
                               "ends": {JobState.DONE: [0] * width, JobState.FAILED: [0] * width}}
        a["n"] += 1
        for s, z, st in lf.segments:
            d = a["diff"].get(st)
            if d is None:
                continue
            d[col(s)] += 1
            d[col(z if z is not None else t1) + 1] -= 1
        if lf.end is not None:
            a["ends"][lf.end[1]][col(lf.end[0])] += 1
        now_state = lf.end[1] if lf.end is not None else (lf.segments[-1][2] if lf.segments else None)
        if now_state is not None:
            a["now"][now_state] = a["now"].get(now_state, 0) + 1
    rows = []
    for app, a in sorted(by_app.items(), key=lambda kv: (-kv[1]["n"], kv[0])):
        counts = {}
        for st, d in a["diff"].items():
            run, out = 0, []
            for x in range(width):
                run += d[x]
                out.append(run)
            counts[st] = out
        busy = [sum(counts[st][x] for st in EXECUTING) for x in range(width)]
        top = max(busy) or 1
        cells = []
        for x in range(width):
            if a["ends"][JobState.FAILED][x]:
                cells.append((CELL[JobState.FAILED], JobState.FAILED))
            elif busy[x] > 0:
                st = max(EXECUTING, key=lambda s: counts[s][x])  # max keeps the first of equals: their order
                cells.append((SHADES[min(3, (4 * busy[x] - 1) // top)], st))
            elif counts[JobState.WAITING][x] > 0:
                cells.append((CELL[JobState.WAITING], JobState.WAITING))
            elif a["ends"][JobState.DONE][x]:
                cells.append((CELL[JobState.DONE], JobState.DONE))
            else:
                cells.append((" ", None))
        rows.append(GanttRow(app, cells, a["n"], a["now"]))
    return rows
