"""A Parsl run's resources: usage per app, efficiency, and its workers'
capacity against what used it.

* **Per app**, over its tasks that have resource samples: CPU time and peak
  resident memory as min / p50 / p90 / max and a histogram line (8 bins
  from min to max).  A task's CPU time is the sum of its tries' (each try's
  counters less its first sample: with the HighThroughputExecutor the
  sampled process is the long-lived worker, see model/handlers/parsl.py),
  its peak the highest sample of any try.  Percentiles are nearest-rank
  (the value at rank ceil(q * n)): always a value a task had.
* **Efficiency** of an app: its tasks' CPU time / (their wall time x 1
  core), wall time being each try's running -> returned.  An HTEX worker
  runs one task at a time on one core, so 100 % is a task that kept its
  core busy; more means it ran threads or processes of its own.
* **Capacity against use**: the managers (``node`` rows, their latest row
  each) with their workers, cores and memory (every manager the run had:
  a manager that ended keeps its figures, ``active`` 0); the workers of the
  active ones, busy now (tasks running) and idle; the most tries that ran
  at once (the busiest moment, against all the workers); the blocks by their latest status (PENDING ones are capacity asked
  for and not there yet).
* **Tasks over their memory** (Parsl #2364): a task whose peak RSS is above
  its node's memory per worker (``total_memory / worker_count``) can push
  the node into swap or the OOM killer when every worker does the same.

No Textual here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from ..model.entities import Workflow
from ..model.handlers import parsl as pm

BINS = 8
SPARK = "▁▂▃▄▅▆▇█"


@dataclass
class Spread:
    n: int
    lo: float
    p50: float
    p90: float
    hi: float
    histogram: list[int]  # tasks per bin, BINS bins from lo to hi


@dataclass
class AppUsage:
    app: str
    tasks: int  # tasks of the app
    sampled: int  # of them, with resource samples
    cpu: Spread | None
    rss: Spread | None
    cpu_total: float
    wall_total: float

    @property
    def efficiency(self) -> float | None:
        return self.cpu_total / self.wall_total if self.wall_total > 0 else None


@dataclass
class Capacity:
    managers: int
    active_managers: int
    workers: int  # over every manager the run had (an ended run's are all inactive)
    cores: int
    memory: float  # bytes, over every manager
    active_workers: int  # over the managers active now
    busy_now: int  # tasks running now
    busy_peak: int  # tries running at once, at the busiest moment
    blocks: Counter  # latest status -> blocks

    @property
    def idle_now(self) -> int:
        return max(0, self.active_workers - self.busy_now)

    @property
    def pending_blocks(self) -> int:
        return self.blocks.get("PENDING", 0)


@dataclass
class OverMemory:
    task_id: int
    app: str | None
    host: str | None
    peak: float
    per_worker: float


@dataclass
class Resources:
    run_id: str
    label: str
    apps: list[AppUsage]
    capacity: Capacity
    over_memory: list[OverMemory]


def rank(values: list[float], q: float) -> float:
    """The nearest-rank q-quantile of sorted ``values``."""
    return values[max(0, math.ceil(q * len(values)) - 1)]


def spread(values: list[float], bins: int = BINS) -> Spread | None:
    if not values:
        return None
    v = sorted(values)
    lo, hi = v[0], v[-1]
    hist = [0] * bins
    for x in v:
        hist[min(bins - 1, int((x - lo) / (hi - lo) * bins)) if hi > lo else 0] += 1
    return Spread(len(v), lo, rank(v, 0.5), rank(v, 0.9), hi, hist)


def histogram_line(hist: list[int]) -> str:
    top = max(hist) or 1
    return "".join(" " if not n else SPARK[min(7, (8 * n - 1) // top)] for n in hist)


def task_usage(task: pm.ParslTask) -> tuple[float, float, float] | None:
    """(CPU s, peak RSS B, wall s) of a task over its tries; None without samples."""
    cpu = peak = wall = 0.0
    sampled = False
    for p in task.tries.values():
        u = p.usage()
        if u is not None:
            sampled = True
            cpu += u[0]
            peak = max(peak, u[1])
        if p.running is not None and p.returned is not None and p.returned > p.running:
            wall += p.returned - p.running
    return (cpu, peak, wall) if sampled else None


def _capacity(run: pm.ParslRun) -> Capacity:
    nodes = list(run.nodes.values())
    active = [n for n in nodes if n.get("active") not in (False, 0, "0", None)]
    workers = sum(int(n.get("worker_count") or 0) for n in nodes)
    cores = sum(int(n.get("cpu_count") or 0) for n in nodes)
    memory = float(sum(float(n.get("total_memory") or 0) for n in nodes))
    active_workers = sum(int(n.get("worker_count") or 0) for n in active)
    spans: list = []
    for task in run.tasks.values():
        for p in task.tries.values():
            if p.running is not None:
                spans.append((p.running, 1))
                if p.returned is not None:
                    spans.append((max(p.returned, p.running), -1))
    peak = busy = 0
    for _, step in sorted(spans):  # an end before a start at the same time: (t, -1) < (t, 1)
        busy += step
        peak = max(peak, busy)
    blocks = Counter(status for _, status, _ in run.blocks.values() if status)
    return Capacity(len(nodes), len(active), workers, cores, memory, active_workers, run.running, peak, blocks)


def _per_worker(run: pm.ParslRun) -> dict[str, float]:
    """hostname -> the least memory per worker of its managers (bytes)."""
    out: dict[str, float] = {}
    for (host, _uid), n in run.nodes.items():
        mem, workers = n.get("total_memory"), n.get("worker_count")
        try:
            per = float(mem) / int(workers)
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        if host is not None and (host not in out or per < out[host]):
            out[host] = per
    return out


def resources(wf: Workflow) -> Resources | None:
    """The resources view of a Parsl run (None when ``wf`` is not one)."""
    run = pm.run_of(wf)
    if run is None:
        return None
    per_app: dict[str, dict] = {}
    per_worker = _per_worker(run)
    over = []
    for task in run.tasks.values():
        app = task.job.transformation or "?"
        a = per_app.setdefault(app, {"n": 0, "cpu": [], "rss": [], "cpu_total": 0.0, "wall": 0.0})
        a["n"] += 1
        u = task_usage(task)
        if u is None:
            continue
        cpu, peak, wall = u
        a["cpu"].append(cpu)
        a["rss"].append(peak)
        if wall > 0:
            a["cpu_total"] += cpu
            a["wall"] += wall
        hosts = {p.hostname for p in task.tries.values() if p.hostname in per_worker}
        limit = min((per_worker[h] for h in hosts), default=None)
        if limit is not None and peak > limit:
            host = next(iter(sorted(hosts)))
            over.append(OverMemory(task.task_id, task.job.transformation, host, peak, limit))
    apps = [AppUsage(app, a["n"], len(a["cpu"]), spread(a["cpu"]), spread(a["rss"]), a["cpu_total"], a["wall"])
            for app, a in per_app.items()]
    apps.sort(key=lambda x: (-x.cpu_total, x.app))
    over.sort(key=lambda o: (-o.peak / o.per_worker, o.task_id))
    return Resources(run.run_id, wf.name, apps, _capacity(run), over)
