"""The Parsl views (DAG, Gantt, resources, the runs list) on the shared DBs of real
Parsl runs and on a generated DB of thousands of tasks, checked against SQL on the
DB itself; and their screens at 80x24 and 120x40."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections import Counter, defaultdict, deque

import pytest

from benchmarks import generate_parsl as gen
from panorama_tui.model.handlers import parsl as pm
from panorama_tui.model.states import JobState
from panorama_tui.pipeline.read import read_parsl_db as read_store
from panorama_tui.views.gantt import gantt
from panorama_tui.views.parsl_dag import dag, depths, lineage
from panorama_tui.views.parsl_runs import run_rows
from panorama_tui.views.resources import resources

from .test_parsl_db import RUN1
from .ui_helpers import fixed_timezone

fixed_timezone()

N = 3000  # tasks a run of the generated DB: thousands, still ~2 s to write and read


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A generated DB of two runs of N tasks, both of the same program (the second a re-run)."""
    path = tmp_path_factory.mktemp("parsl-views") / "monitoring.db"
    gen.write(str(path), N, runs=2)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE workflow SET workflow_name = 'panorama-top-demo'")
    conn.commit()
    conn.close()
    return str(path), read_store(str(path))


def shared_run(shared_data):
    store = read_store(str(shared_data / "parsl" / "monitoring-run000-only.db"))
    return store, store.workflows[RUN1]


def sql(path: str, query: str, *args) -> list:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def first_run(path: str) -> str:
    return sql(path, "SELECT run_id FROM workflow ORDER BY time_began LIMIT 1")[0][0]


# -- the DAG -----------------------------------------------------------------------------------


def test_dag_of_a_real_run_by_layer_app_and_state(shared_data):
    _, wf = shared_run(shared_data)
    d = dag(wf, selected_task=39)
    assert (d.tasks, d.edges, d.layers) == (52, 39, 5)
    assert [b.total for b in d.bands] == [27, 11, 4, 2, 8]
    layer1 = {g.app: dict(g.states) for g in d.bands[1].groups}
    assert layer1 == {"burn_cpu": {"exec_done": 8}, "downstream_of_failure": {"dep_fail": 3}}
    layer0 = {g.app: dict(g.states) for g in d.bands[0].groups}
    assert layer0["flaky"] == {"failed": 3} and layer0["bash_fail"] == {"failed": 2}
    # the selected dep_fail task: its one ancestor is the failed task that caused it
    lin = d.lineage
    assert (lin.ancestors, lin.descendants, lin.depth) == (1, 0, 1)
    assert [(k.task_id, k.app, k.state) for k in lin.nearest_ancestors] == [(36, "flaky", "failed")]


def _sql_depths(path: str, run_id: str) -> dict[int, int]:
    """Each task's layer straight from task.task_depends (Kahn's order, done here apart from the view)."""
    deps = {tid: [int(x) for x in (d or "").split(",") if x.strip()]
            for tid, d in sql(path, "SELECT task_id, task_depends FROM task WHERE run_id = ?", run_id)}
    depth, pending = {}, dict(deps)
    while pending:
        ready = [t for t, ds in pending.items() if all(d in depth or d not in deps for d in ds)]
        assert ready, "a cycle"
        for t in ready:
            depth[t] = 1 + max((depth[d] for d in pending[t] if d in depth), default=-1)
            del pending[t]
    return depth


def test_dag_layers_and_counts_equal_sql_on_thousands_of_tasks(big):
    path, store = big
    run_id = first_run(path)
    wf = store.workflows[run_id]
    want = _sql_depths(path, run_id)
    assert depths(pm.run_of(wf)) == want
    d = dag(wf)
    apps = dict(sql(path, "SELECT task_id, task_func_name FROM task WHERE run_id = ?", run_id))
    per_layer = Counter((want[t], apps[t]) for t in want)
    got = Counter({(b.first, g.app): g.total for b in d.bands for g in b.groups})
    assert d.layers == max(want.values()) + 1
    if d.layers <= 60:
        assert got == per_layer
    # the states counted per group add up to the run's own state counts
    states = Counter()
    for b in d.bands:
        for g in b.groups:
            states.update(g.states)
    assert states == +pm.run_of(wf).state_counts
    assert sum(b.total for b in d.bands) == N
    # merged into bands past a screenful of layers: every layer in exactly one band
    d10 = dag(wf, max_bands=10)
    assert len(d10.bands) <= 10 and sum(b.total for b in d10.bands) == N
    covered = [x for b in d10.bands for x in range(b.first, b.last + 1)]
    assert covered == sorted(set(covered)) and set(want.values()) <= set(covered)


def test_lineage_counts_equal_a_walk_of_task_depends(big):
    path, store = big
    run_id = first_run(path)
    run = pm.run_of(store.workflows[run_id])
    deps = {tid: [int(x) for x in (d or "").split(",") if x.strip()]
            for tid, d in sql(path, "SELECT task_id, task_depends FROM task WHERE run_id = ?", run_id)}
    kids = defaultdict(list)
    for t, ds in deps.items():
        for d in ds:
            kids[d].append(t)

    def reach(start, nexts):
        seen, q = {start}, deque([start])
        while q:
            for o in nexts(q.popleft()):
                if o not in seen and o in deps:
                    seen.add(o)
                    q.append(o)
        return len(seen) - 1

    for tid in (0, 10, N // 2, N - 1):
        lin = lineage(run, tid)
        assert lin.ancestors == reach(tid, lambda t: deps.get(t, ()))
        assert lin.descendants == reach(tid, lambda t: kids.get(t, ()))
        assert [k.distance for k in lin.nearest_descendants] == sorted(k.distance for k in lin.nearest_descendants)


# -- the Gantt -------------------------------------------------------------------------------


def test_gantt_is_per_task_up_to_a_screenful_then_per_app(shared_data):
    _, wf = shared_run(shared_data)
    g = gantt([wf], 60, max_rows=52)
    assert g.per_task and len(g.rows) == 52 and all(len(r.cells) == 60 for r in g.rows)
    ends = {r.label.split()[0]: "".join(c for c, _ in r.cells).strip()[-1:] for r in g.rows}
    assert ends["34"] == "✗" and ends["0"] == "✓"  # bash_fail failed, generate done
    g = gantt([wf], 60, max_rows=51)
    assert not g.per_task and sum(r.count for r in g.rows) == 52 and len(g.rows) == 10
    rows = {r.label: r for r in g.rows}
    failed_cols = {app: any(st == JobState.FAILED for _, st in r.cells) for app, r in rows.items()}
    assert failed_cols["flaky"] and failed_cols["bash_fail"] and failed_cols["downstream_of_failure"]
    assert not failed_cols["generate"] and not failed_cols["burn_cpu"]
    assert rows["burn_cpu"].states == {JobState.DONE: 8} and rows["flaky"].states == {JobState.FAILED: 3}


def test_gantt_per_app_on_thousands_of_tasks(big):
    path, store = big
    wfs = list(store.workflows.values())
    g = gantt(wfs, 100, max_rows=40)
    assert not g.per_task and g.tasks == 2 * N
    apps = dict(sql(path, "SELECT task_func_name, count(*) FROM task GROUP BY 1"))
    assert {r.label: r.count for r in g.rows} == apps
    assert g.t0 < g.t1


# -- resources ---------------------------------------------------------------------------------

# Per try: its counters' change from its first sample to its last (CPU), its highest RSS;
# per task: the sum over its tries (CPU), the highest (RSS).  Straight from the resource table.
USAGE_SQL = """
WITH s AS (
  SELECT task_id, try_id, timestamp,
         psutil_process_time_user + psutil_process_time_system AS cpu,
         psutil_process_memory_resident AS rss,
         FIRST_VALUE(psutil_process_time_user + psutil_process_time_system)
           OVER (PARTITION BY task_id, try_id ORDER BY timestamp) AS cpu0,
         LAST_VALUE(psutil_process_time_user + psutil_process_time_system)
           OVER (PARTITION BY task_id, try_id ORDER BY timestamp
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS cpu1
  FROM resource WHERE run_id = :run),
tries AS (SELECT task_id, try_id, MAX(cpu1 - cpu0, 0) AS cpu, MAX(rss) AS peak FROM s GROUP BY task_id, try_id)
SELECT task.task_func_name, tries.task_id, SUM(tries.cpu), MAX(tries.peak)
FROM tries JOIN task ON task.run_id = :run AND task.task_id = tries.task_id
GROUP BY tries.task_id
"""


def _rank(values, q):
    v = sorted(values)
    return v[max(0, math.ceil(q * len(v)) - 1)]


@pytest.mark.parametrize("which", ["shared", "big"])
def test_resource_distributions_equal_sql(which, big, shared_data):
    if which == "shared":
        path = str(shared_data / "parsl" / "monitoring.db")
        store = read_store(path)
        run_id = RUN1
    else:
        path, store = big
        run_id = first_run(path)
    r = resources(store.workflows[run_id])
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = conn.execute(USAGE_SQL, {"run": run_id}).fetchall()
    conn.close()
    per_app = defaultdict(lambda: ([], []))
    for app, _tid, cpu, peak in rows:
        per_app[app][0].append(cpu)
        per_app[app][1].append(peak)
    got = {a.app: a for a in r.apps if a.sampled}
    assert set(got) == set(per_app)
    for app, (cpus, peaks) in per_app.items():
        a = got[app]
        assert a.sampled == len(cpus)
        for spread, values in ((a.cpu, cpus), (a.rss, peaks)):
            assert spread.n == len(values) and sum(spread.histogram) == len(values)
            for field, q in (("lo", 0.0), ("p50", 0.5), ("p90", 0.9), ("hi", 1.0)):
                want = min(values) if q == 0 else _rank(values, q)
                assert getattr(spread, field) == pytest.approx(want, rel=1e-9, abs=1e-9), (app, field)


def test_resource_table_columns_line_up_whatever_the_counts(big):
    """A task count of "a/b" (some tasks not sampled) as wide as it gets: the rows' bars
    stay under the header's (at 100k tasks "39433/40220" pushed its row right)."""
    import dataclasses

    from panorama_tui.ui.screens.resources import resources_text

    path, store = big
    r = resources(store.workflows[first_run(path)])
    apps = [dataclasses.replace(a, tasks=a.tasks * 100_000, sampled=a.tasks * 100_000 - 1) for a in r.apps]
    for width in (80, 160):
        lines = [t.plain for t in resources_text(dataclasses.replace(r, apps=apps), width)]
        head = next(ln for ln in lines if ln.lstrip().startswith("app "))
        rows = [ln for ln in lines if "│" in ln and ln is not head]
        assert rows and {ln.index("│") for ln in rows} == {head.index("│")}, (head, rows)


def test_capacity_and_blocks_equal_sql(big):
    path, store = big
    run_id = first_run(path)
    cap = resources(store.workflows[run_id]).capacity
    latest = sql(path, """SELECT worker_count, cpu_count, total_memory FROM node n WHERE run_id = ? AND timestamp =
                          (SELECT MAX(timestamp) FROM node m WHERE m.run_id = n.run_id AND m.hostname = n.hostname
                           AND m.uid = n.uid) GROUP BY hostname, uid""", run_id)
    assert cap.managers == len(latest)
    assert cap.workers == sum(w for w, _, _ in latest) == max(2, N // 25)
    assert cap.cores == sum(c for _, c, _ in latest)
    blocks = Counter(s for (s,) in sql(path, """SELECT status FROM block b WHERE run_id = ? AND timestamp =
                     (SELECT MAX(timestamp) FROM block c WHERE c.run_id = b.run_id AND c.block_id = b.block_id)""",
                     run_id))
    assert cap.blocks == blocks
    assert 0 < cap.busy_peak <= cap.workers  # the generator never runs more tries than workers
    assert cap.busy_now == 0 and cap.pending_blocks == 0  # an ended run


def test_tasks_over_their_memory(shared_data):
    """Parsl #2364: a task whose peak RSS passes its node's memory per worker is named."""
    store = read_store(str(shared_data / "parsl" / "monitoring-run000-only.db"))
    run = pm.run_of(store.workflows[RUN1])
    assert resources(run.wf).over_memory == []  # 24 GiB a worker: nothing near it
    for node in run.nodes.values():
        node["total_memory"] = 400 * 2**20  # 200 MiB a worker: hog_memory's tasks (218-365 MiB) are over
    over = resources(run.wf).over_memory
    assert {o.app for o in over} == {"hog_memory"} and len(over) == 4
    assert all(o.peak > o.per_worker == 200 * 2**20 for o in over)


# -- the runs list ---------------------------------------------------------------------------


def test_runs_of_one_program_side_by_side_with_their_rerun_and_memo_done(big):
    path, store = big
    rows = run_rows(store, now=None)
    ids = [r for (r,) in sql(path, "SELECT run_id FROM workflow ORDER BY time_began")]
    assert [r.run_id for r in rows] == ids
    assert [(r.nth, r.runs_of_name, r.rerun_of) for r in rows] == [(1, 2, None), (2, 2, ids[0])]
    for r in rows:
        memo = sql(path, "SELECT count(DISTINCT task_id) FROM status WHERE run_id = ? AND task_status_name = "
                         "'memo_done'", r.run_id)[0][0]
        assert r.memo_done == memo > 0
        assert r.tasks["total"] == N and r.state == "failed" and r.duration > 0


# -- the screens ---------------------------------------------------------------------------


def _screen_text(app) -> str:
    from textual.widgets import Static

    from .test_ui import text_of

    return text_of(app.screen.query_one("#view-body", Static))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_each_screen_opens_and_shows_the_numbers(size, shared_data):
    from textual.widgets import DataTable

    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.screens.dag import DagScreen
    from panorama_tui.ui.screens.gantt import GanttScreen
    from panorama_tui.ui.screens.resources import ResourcesScreen
    from panorama_tui.ui.screens.workflow_list import ParslRunsScreen

    store = read_store(str(shared_data / "parsl" / "monitoring.db"))

    async def go():
        app = PanoramaApp(store, source_label="parsl monitoring.db", live=False)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            for key, cls, words in (
                ("d", DagScreen, ("52 tasks, 39 dependencies, 5 layers", "downstream_of_failure", "dep_fail 3")),
                ("b", GanttScreen, ("one row per app: 52 tasks in 10 apps", "burn_cpu")),  # the selected task's run
                ("u", ResourcesScreen, ("workers 2 on 1 managers", "hog_memory", "p90")),
            ):
                await pilot.press(key)
                await pilot.pause()
                assert isinstance(app.screen, cls), key
                text = _screen_text(app)
                for w in words:
                    assert w in text, (key, w, text[:2000])
                await pilot.press("escape")
                await pilot.pause()
                assert app.screen is app.default_screen
            await pilot.press("w")
            await pilot.pause()
            assert isinstance(app.screen, ParslRunsScreen)
            table = app.screen.query_one(DataTable)
            assert table.row_count == 2
            assert [str(c) for c in table.get_row_at(0)][:4] == ["failed", "panorama-top-demo", "b1161bab", "52"]
            await pilot.press("down", "enter")
            await pilot.pause()
            assert app.screen is app.default_screen and app.scope_wf is store.workflows[
                "04319e95-b6b2-4ad6-b5db-072ee20dfb65"]
            # with a task selected, the DAG shows its lineage
            from panorama_tui.ui.widgets.joblist import JobList

            jobs = app.query_one("#jobs", JobList)
            jobs.select_job(app.scope_wf.jobs["39"])
            await pilot.pause()
            await pilot.press("d")
            await pilot.pause()
            assert "task 39 (downstream_of_failure, dep_fail, layer 1): 1 ancestors" in _screen_text(app)

    asyncio.run(go())


def test_the_gantt_shows_pegasus_jobs_too():
    """The store is shared: the demo's real Pegasus runs get the same Gantt (queued, running, end)."""
    import time

    from panorama_tui.cli.top import DEMO_RECORDING
    from panorama_tui.model.store import Store
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.sources.replay import ReplayControl, ReplaySource

    store, control = Store(), ReplayControl(speed=0.0)
    ingest = Ingest(ReplaySource(DEMO_RECORDING, control), store).start()
    deadline = time.monotonic() + 60
    while not control.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    ingest.stop()
    wfs = list(store.workflows.values())
    timed = [j for w in wfs for j in w.jobs.values() if any(t.start_ts or t.end_ts for t in j.tries.values())]
    g = gantt(wfs, 80, max_rows=len(timed) + 100)
    assert g.per_task and len(g.rows) >= len(timed) > 0
    marks = {r.label.split()[0]: {st for _, st in r.cells if st is not None} for r in g.rows}
    failed = [j.job_id for j in store.jobs() if j.state == JobState.FAILED and j.job_id in marks]
    assert failed and all(JobState.FAILED in marks[f] for f in failed)
    assert not gantt(wfs, 80, max_rows=5).per_task


def test_a_view_redraws_only_when_the_store_changed(shared_data):
    """At 100k tasks a draw takes seconds under the store's lock: an unchanged store is not drawn again."""
    import time

    from panorama_tui.core.events import decode
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.screens.dag import DagScreen

    store = read_store(str(shared_data / "parsl" / "monitoring-run000-only.db"))

    async def go():
        app = PanoramaApp(store, source_label="parsl", live=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("d")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DagScreen)
            drawn = []
            body = screen.body
            screen.body = lambda *a: drawn.append(1) or body(*a)
            screen._next = 0.0
            screen._tick()
            assert drawn == []  # nothing new
            with store.lock:
                store.apply(decode({"event": "parsl.status", "run_id": RUN1, "task_id": 0, "try_id": 0,
                                    "task_status_name": "exec_done", "ts": 1796000000.0}))
            screen._next = time.monotonic() + 60
            screen._tick()
            assert drawn == []  # changed, but not before its next slot
            screen._next = 0.0
            screen._tick()
            assert drawn == [1]

    asyncio.run(go())
