"""The columnar job table (issue #14, model/table/) answers what the object store answers.

Each DB is read in bulk once (``bulk_min=0``), the store built as the screen builds it, and
the events captured on the way.  Then:

* the table filled straight from the ``stampede.bulk`` rows (no Job, no Try) equals the
  table projected from the store, column by column (strings compared, not their ids), with
  the same per-workflow counts and retries, and job numbers ``Job.order - 1``;
* the same when the workflows' ends come after the rows (``set_ended`` derives again), and
  when the projection is refreshed in two steps;
* every query equals the object path's: counts and tree counts, the failed jobs, each
  sortable column's keys and stable order (views/sortkeys.py, joborder.stable_sort), a
  row's values and cells (views/columns.py), and filter masks (views/query.py).

On the shared runs pegasus-monitord wrote, a generated run with retries and failures, and
the generator's 10k-job run, finished and half done.
"""

from __future__ import annotations

from operator import attrgetter

import pytest

from panorama_tui.model.store import Store
from panorama_tui.model.table import BulkLoader, JobTable, project, refresh
from panorama_tui.model.table import keys as K
from panorama_tui.model.table.jobtable import PARTIAL, TASKS
from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource
from panorama_tui.views import columns as registry
from panorama_tui.views.joborder import stable_sort
from panorama_tui.views.query import QueryError, parse
from panorama_tui.views.tablefilter import Unsupported, cells, mask, select

from .test_stampede_db import DBS, RUNS

BULK, HISTORY = "stampede.bulk", "stampede.bulk.history"

QUERIES = (
    "state=failed", "state=problems", "state!=done", "state=running,queued", "state=exec_done", "state=held",
    "host~pegasus-1", "host=-", "host!=-", "site=condorpool", "site!=local", "site~^loc",
    "xform=mProject", "xform~^m", "xform!~diff", "tr=-", "type=compute", "type!=compute",
    "exit!=0", "exit=0", "exit=-", "exit>0", "exit<=1", "tries>1", "tries=1", "try<1",
    "id~ID00001", "job=mProject_ID0000001", "mproject", "pegasus-4", "condor", "ls", "^$",
    "state=failed exit!=0", "tries>1 state!=failed host~.", "state=waiting", "state=problems,exec_done host~.",
    "exit!=0 state=failed,dep_fail", "site=- tries=0",
)


class _Capture(Store):
    """The store, keeping every item the ingest thread applies to it."""

    def __init__(self):
        super().__init__()
        self.items: list = []

    def apply_decoded(self, items) -> None:
        items = list(items)
        self.items.extend(items)
        super().apply_decoded(items)


def _read(path) -> _Capture:
    src = StampedeDbSource(str(path), follow=False, bulk_min=0)
    store = _Capture()
    run_to_end(src, store)
    assert src.status.state == "ended", src.status.message
    assert any(getattr(x, "name", None) == BULK for x in store.items)
    return store


def bulk_table(items, ends_first: bool = True) -> JobTable:
    """The table from the bulk rows alone: the workflows as the events before the first bulk
    one leave them (a store of workflows, no jobs), then every bulk payload."""
    table = JobTable()
    loader = BulkLoader(table)
    wfs = Store()
    started = False
    for x in items:
        name = getattr(x, "name", None)
        if name == BULK:
            if not started:
                started = True
                for uuid, wf in wfs.workflows.items():
                    table.add_workflow(uuid, wf.ended and ends_first)
            loader.apply(x.data)
        elif name == HISTORY:
            loader.history(x.data)
        elif not started:
            wfs.apply_decoded([x])
    assert not wfs.job_count()
    if not ends_first:
        for uuid, wf in wfs.workflows.items():
            table.set_ended(table.wf_index[uuid], wf.ended)
    return table


def assert_same_table(a: JobTable, b: JobTable) -> None:
    assert len(a) == len(b)
    assert a.wf_uuids == b.wf_uuids
    for name in JobTable.COLUMNS:
        assert a.values(name) == b.values(name), name
    assert a.counts == b.counts
    assert a.retries == b.retries
    assert bytes(a.ended) == bytes(b.ended)


def _now(store: Store) -> float:
    return (store.latest_ts or 0.0) + 600.0


def check_queries(table: JobTable, store: Store) -> None:
    jobs = sorted(store.jobs(), key=attrgetter("order"))
    assert [table.find(j.wf.wf_uuid, j.job_id) for j in jobs] == list(range(len(jobs)))
    for uuid, wf in store.workflows.items():
        assert table.workflow_counts(uuid) == wf.counts
        assert table.retries[table.wf_index[uuid]] == wf.retries
        tree = [uuid, *(c.wf_uuid for c in store.descendants(wf))]
        assert table.tree_counts(tree) == store.tree_counts(wf)
    assert [table.job_id[i] for i in table.failed()] == [j.job_id for j in store.failed_jobs()]
    assert table.failed() == [j.order - 1 for j in store.failed_jobs()]
    fns = registry.sort_functions()
    for now in (None, _now(store)):
        for col in K.SORTABLE:
            want = fns[col](jobs, now)
            assert K.keys(table, col, now) == want, col
            assert K.order(table, col, now) == [j.order - 1 for j in stable_sort(jobs, want)[0]], col
            some = list(range(0, len(jobs), 3))
            assert K.order(table, col, now, some) == [
                j.order - 1 for j in stable_sort(jobs[::3], fns[col](jobs[::3], now))[0]], col
        names = {uuid: wf.name for uuid, wf in store.workflows.items()}
        for i, job in enumerate(jobs):
            assert table.row(i, now) == (job.state_label, job.job_id, job.transformation or job.type_desc or "",
                                         job.host or job.site or "", len(job.tries), job.exit_raw,
                                         job.duration(now)), job.job_id
            got = cells(table, i, now)
            assert got == {k: registry.column(k).cell(job, now, names) for k in got}, job.job_id
    for text in QUERIES:
        q = parse(text)
        want = list(map(q, jobs))
        assert mask(table, text) == want, text
        assert [j.order - 1 for j in q.apply(jobs, jobs)[0]] == [i for i, f in enumerate(want) if f], text
        assert select(table, text, range(0, len(jobs), 3)) == [j.order - 1 for j in q.apply(jobs[::3], jobs[::3])[0]]
    with pytest.raises(Unsupported):
        mask(table, "wf=x")
    with pytest.raises(QueryError):
        mask(table, "bogus=1")


def check(path) -> tuple[JobTable, Store]:
    store = _read(path)
    ref = project(store)
    got = bulk_table(store.items)
    assert_same_table(got, ref)
    check_queries(got, store)
    # the workflows' ends coming after the rows: the states derived again
    assert_same_table(bulk_table(store.items, ends_first=False), ref)
    # the projection kept current a few jobs at a time, as a view would
    jobs = sorted(store.jobs(), key=attrgetter("order"))
    table = JobTable()
    for uuid, wf in store.workflows.items():
        table.add_workflow(uuid, wf.ended)
    half = len(jobs) // 2
    refresh(table, jobs[:half])
    refresh(table, jobs[half // 2:])
    refresh(table, jobs[:7])
    assert_same_table(table, ref)
    return got, store


@pytest.mark.parametrize("run", RUNS)
def test_shared_runs(replay_dir, run):
    table, store = check(replay_dir / run / DBS[run])
    if run == "process_wf_failure":
        assert table.failed()


def test_generated_run_with_retries_and_failures(tmp_path):
    from benchmarks import bench_stats

    db = tmp_path / "gen.stampede.db"
    bench_stats.write_stampede_db(str(db), iter(list(bench_stats.run_events(1500))))
    table, _ = check(db)
    assert max(table.tries) > 1 and table.failed()


@pytest.mark.parametrize("until", [None, 0.5])
def test_generated_10k(until):
    from benchmarks import generate as G

    table, store = check(G.stampede_db(10_000, until=until))
    # what the run exercises: retries, failures, held and removed tries, partial jobs, tasks
    assert max(table.tries) > 1
    assert table.failed()
    assert any(f & PARTIAL for f in table.flags) and any(f & TASKS for f in table.flags)
    if until is not None:
        running = table.workflow_counts(table.wf_uuids[0])
        assert running[3] and running[4]  # running and queued jobs


def test_table_is_smaller_than_objects():
    """A rough guard on the point of it (the benchmark measures it): the columns of 1,000
    jobs take well under the ~1,700 B a job the objects take."""
    table = JobTable()
    wi = table.add_workflow("w")
    table.jobs_of([wi] * 1000, [f"job_{i:07d}" for i in range(1000)])
    sizes = table.nbytes()
    assert sum(sizes.values()) / 1000 < 400


# -- the bulk rules on rows made up to reach what the DBs above do not ------------------------------
_STATES = ("EXECUTE", "JOB_TERMINATED", "JOB_SUCCESS", "JOB_FAILURE", "POST_SCRIPT_SUCCESS", "POST_SCRIPT_FAILED",
           "PRE_SCRIPT_STARTED", "POST_SCRIPT_STARTED", "SUBMIT", "JOB_HELD", "JOB_RELEASED", "JOB_ABORTED",
           "SUBMIT_FAILED", "JOB_EVICTED", "BOGUS", None)
_RARE = ("JOB_HELD", "JOB_ABORTED", "SUBMIT_FAILED", "POST_SCRIPT_SUCCESS", "POST_SCRIPT_FAILED")


def _made_up_payloads(seed: int) -> tuple[list[str], list[dict]]:
    """Bulk payloads as the source shapes them, drawn at random: several workflows a slice,
    a job's tries in one slice and out of order, rare states tied in time with the latest, no
    times, unknown states, removed tries with a raw 1, jobs with several tasks (named or
    not), jobs first named by a task or a try, ids and names with control characters."""
    import random

    rnd = random.Random(seed)
    uuids = [f"wf-{seed}-{k}" for k in range(3)]
    pick = rnd.choice
    names = (None, "", "alpha", "beta", "gamma\x01", "zeta")
    ids = [f"job_{k:03d}" for k in range(60)] + ["job\tctl"]
    jobs = [(rnd.randrange(3), j) for j in ids]
    rnd.shuffle(jobs)
    out: list[dict] = []
    rows = [(w, j, pick((None, "compute", "stage-in-tx")), 0, pick((None, 0, 1, 2)), pick((None, "role-x")))
            for w, j in jobs[:50]]
    rows.append(rows[3][:2] + (None, 0, None, "role-y"))  # named twice (rounds)
    out += [{"jobs": rows[:25]}, {"jobs": rows[25:]}]
    tasks = []
    for k in range(90):
        w, j = pick(jobs)
        tasks.append((w, f"T{rnd.randrange(10**6):06d}-{k}", pick(names), "compute", pick((j, j, None))))
    out += [{"tasks": tasks[:40]}, {"tasks": tasks[40:]}]
    tries = []
    for w, j in jobs:
        seqs = rnd.sample(range(1, 5), rnd.randrange(0, 4))
        for seq in seqs:
            state = pick(_STATES)
            ts = pick((None, 100.0, 200.0, 300.0))
            rare = [(pick((100.0, 200.0, 300.0)), pick((None, 1, 2, 5)), pick(_RARE), pick((None, "why")))
                    for _ in range(pick((0, 0, 1, 2)))] or None
            tries.append((w, j, seq, f"{seq}.0", pick((None, "siteA", "")), "u", pick((None, 12.5, 0.0)), None, 1,
                          pick((None, 0, 1, 256)), pick((None, None, 0, 1)), state, ts, pick((None, 1, 3)), None,
                          pick((None, 150.0, 250.0)), pick((None, 180.0, 350.0)), pick((None, "h1", "h\x02")),
                          None, pick((None, "siteB")), rare, pick(names)))
    rnd.shuffle(tries)
    out += [{"tries": tries[i:i + 40]} for i in range(0, len(tries), 40)]
    for d in out:
        d["event"] = BULK
        d["xwf_ids"] = uuids
    return uuids, out


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("ended", [False, True])
def test_made_up_rows_as_the_handler(seed, ended):
    from panorama_tui.core.events import Event
    from panorama_tui.model.states import WorkflowState

    uuids, payloads = _made_up_payloads(seed)
    store = Store()
    table = JobTable()
    loader = BulkLoader(table)
    for u in uuids:
        wf = store.workflow(u)
        if ended:
            wf.state = WorkflowState.FAILED
        table.add_workflow(u, ended)
    for d in payloads:
        store.apply(Event(BULK, None, d))
        loader.apply(d)
    assert not store.warnings
    assert_same_table(table, project(store))
    check_queries(table, store)
    # and the history's end of a failed job: whole again
    failed = store.failed_jobs()
    if failed:
        d = {"event": HISTORY, "xwf_id": failed[0].wf.wf_uuid, "job_ids": [failed[0].job_id]}
        store.apply(Event(HISTORY, None, d))
        loader.history(d)
        assert_same_table(table, project(store))


def test_a_parsl_store_projected(tmp_path):
    """A Parsl run's store (tasks as jobs, Parsl's own states in the STATE column): the
    projection's queries answer as the objects do, ``state=exec_done`` included."""
    from benchmarks import generate_parsl
    from panorama_tui.sources.parsl.monitoring_db import ParslDbSource

    db = tmp_path / "monitoring.db"
    generate_parsl.write(str(db), 800, runs=2, killed=True)
    store = run_to_end(ParslDbSource(str(db), follow=False, writers=lambda p: None), Store())
    table = project(store)
    check_queries(table, store)
    words = set(table.values("word"))
    assert "exec_done" in words and len(table.failed()) == len(store.failed_jobs()) > 0
