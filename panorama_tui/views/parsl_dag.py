"""A Parsl run's DAG as text that stays readable at thousands of tasks.

parsl-visualize draws every task as a node (Graphviz / networkx): past a few
hundred tasks the picture is a hairball, and its page fails without Graphviz.
Here the DAG is summarised instead:

* **layers** by dependency depth: a task with no (known) dependency is in
  layer 0, any other one layer below its deepest dependency (the longest
  chain of ``task_depends`` above it);
* per layer, one **group per app** with its tasks counted by Parsl state;
* past ``max_bands`` layers, consecutive layers are merged into **bands**
  (``layers 40-59``) so a run of 4,000 layers still fits in a few screens;
* for a selected task, its **lineage**: how many ancestors and descendants
  it has, and the nearest of them (dependencies first, then theirs).

Only ``task_depends`` makes edges (join apps' inner tasks are not
dependencies: they are listed in the task's report).  No Textual here.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from ..model.entities import Workflow
from ..model.handlers import parsl as pm

MAX_BANDS = 60  # layers shown one by one up to this; past it, merged into this many bands
NEAREST = 8  # ancestors / descendants listed by name (the nearest first)


@dataclass
class AppGroup:
    app: str
    total: int = 0
    states: Counter = field(default_factory=Counter)  # Parsl state (None: no status yet) -> tasks


@dataclass
class Band:
    first: int  # first layer (depth) in it
    last: int  # last layer in it (== first when not merged)
    total: int
    groups: list[AppGroup]  # most tasks first

    @property
    def label(self) -> str:
        return f"layer {self.first}" if self.first == self.last else f"layers {self.first}-{self.last}"


@dataclass
class Kin:
    task_id: int
    app: str | None
    state: str | None
    distance: int  # 1: a direct dependency (or dependent), 2: theirs, ...


@dataclass
class Lineage:
    task_id: int
    app: str | None
    state: str | None
    depth: int
    ancestors: int
    descendants: int
    nearest_ancestors: list[Kin]
    nearest_descendants: list[Kin]
    ancestor_states: Counter
    descendant_states: Counter


@dataclass
class Dag:
    run_id: str
    label: str
    tasks: int
    edges: int
    layers: int  # depth of the deepest task + 1
    bands: list[Band]
    lineage: Lineage | None


def depths(run: pm.ParslRun) -> dict[int, int]:
    """Each task's layer: 0 without a known dependency, else 1 + its deepest dependency's.

    Kahn's order over the tasks' ``task_depends`` (O(tasks + edges), no recursion: a
    chain of 100k tasks would overflow Python's stack).  A dependency on a task the
    store has not seen is not an edge; tasks on a cycle (a damaged DB) get layer 0."""
    tasks = run.tasks
    indeg: dict[int, int] = {}
    children: dict[int, list[int]] = {}
    for tid, task in tasks.items():
        n = 0
        for dep in task.depends:
            if dep in tasks and dep != tid:
                children.setdefault(dep, []).append(tid)
                n += 1
        indeg[tid] = n
    depth = dict.fromkeys(tasks, 0)
    queue = deque(tid for tid, n in indeg.items() if n == 0)
    while queue:
        tid = queue.popleft()
        d = depth[tid] + 1
        for child in children.get(tid, ()):
            if depth[child] < d:
                depth[child] = d
            indeg[child] -= 1
            if indeg[child] == 0:
                queue.append(child)
    return depth


def _bands(run: pm.ParslRun, depth: dict[int, int], max_bands: int) -> list[Band]:
    top = max(depth.values(), default=-1) + 1
    width = 1 if top <= max_bands else -(-top // max_bands)  # layers per band
    groups: dict[int, dict[str, AppGroup]] = {}
    for tid, d in depth.items():
        task = run.tasks[tid]
        app = task.job.transformation or "?"
        per = groups.setdefault(d // width, {})
        g = per.get(app)
        if g is None:
            g = per[app] = AppGroup(app)
        g.total += 1
        g.states[task.state] += 1
    out = []
    for b in sorted(groups):
        gs = sorted(groups[b].values(), key=lambda g: (-g.total, g.app))
        out.append(Band(b * width, min(top - 1, (b + 1) * width - 1), sum(g.total for g in gs), gs))
    return out


def _walk(run: pm.ParslRun, start: int, nexts) -> tuple[list[Kin], Counter]:
    """Every task reachable from ``start`` through ``nexts`` (breadth first: nearest first)."""
    seen = {start}
    out: list[Kin] = []
    states: Counter = Counter()
    frontier = [start]
    dist = 0
    while frontier:
        dist += 1
        nxt = []
        for tid in frontier:
            for other in nexts(tid):
                if other in seen or other not in run.tasks:
                    continue
                seen.add(other)
                t = run.tasks[other]
                out.append(Kin(other, t.job.transformation, t.state, dist))
                states[t.state] += 1
                nxt.append(other)
        frontier = nxt
    return out, states


def lineage(run: pm.ParslRun, task_id: int, depth: dict[int, int] | None = None,
            children: dict[int, list[int]] | None = None, nearest: int = NEAREST) -> Lineage | None:
    """A task's ancestors (what it waits for, transitively) and descendants (what waits for it)."""
    task = run.tasks.get(task_id)
    if task is None:
        return None
    if depth is None:
        depth = depths(run)
    if children is None:
        children = children_of(run)
    up, up_states = _walk(run, task_id, lambda t: run.tasks[t].depends if t in run.tasks else ())
    down, down_states = _walk(run, task_id, lambda t: children.get(t, ()))
    return Lineage(task_id, task.job.transformation, task.state, depth.get(task_id, 0), len(up), len(down),
                   up[:nearest], down[:nearest], up_states, down_states)


def children_of(run: pm.ParslRun) -> dict[int, list[int]]:
    """task id -> the tasks that depend on it (by task id)."""
    out: dict[int, list[int]] = {}
    for tid in sorted(run.tasks):
        for dep in run.tasks[tid].depends:
            if dep != tid:
                out.setdefault(dep, []).append(tid)
    return out


def dag(wf: Workflow, selected_task: int | None = None, max_bands: int = MAX_BANDS) -> Dag | None:
    """The DAG view of a Parsl run (None when ``wf`` is not one)."""
    run = pm.run_of(wf)
    if run is None:
        return None
    depth = depths(run)
    edges = sum(1 for t in run.tasks.values() for d in t.depends if d in run.tasks and d != t.task_id)
    bands = _bands(run, depth, max_bands)
    lin = lineage(run, selected_task, depth) if selected_task is not None else None
    return Dag(run.run_id, wf.name, len(run.tasks), edges, max(depth.values(), default=-1) + 1, bands, lin)


def parsl_runs(workflows) -> list[Workflow]:
    """The Parsl runs among ``workflows``, oldest first."""
    runs = [w for w in workflows if pm.run_of(w) is not None]
    return sorted(runs, key=lambda w: (w.start_ts or 0, w.wf_uuid))
