"""A big Parsl DB's bulk load (``parsl.bulk.tasks``, issue #15) builds the store its row
events build: every task's state, tries, times, exit, host, resources and the runs' counts,
on every shared Parsl DB and on generated ones (2,000 tasks; two runs whose task ids
overlap, the last killed, so not every task is final), read once or followed."""

from __future__ import annotations

import shutil

import pytest

from benchmarks import generate_parsl
from panorama_tui.core import parsl_events as pe
from panorama_tui.core.events import decode
from panorama_tui.model.handlers import parsl as pm
from panorama_tui.model.store import Store
from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.parsl import bulk_shape
from panorama_tui.sources.parsl import monitoring_db as mdb
from panorama_tui.sources.parsl.monitoring_db import ParslDbSource


def full_view(store: Store) -> dict:
    """Everything the store keeps of the Parsl runs that a view, --once or --report reads."""
    out = {"jobs": store.job_count(), "events": store.event_count, "warnings": list(store.warnings),
           "failed": [j.key for j in store.failed_jobs()], "active": sorted(j.key for j in store.active)}
    for wf in store.workflows.values():
        run = pm.run_of(wf)
        tasks = {}
        for tid, task in run.tasks.items():
            job = task.job
            tries = {}
            for k, p in task.tries.items():
                t = job.tries.get(k)
                tries[k] = {
                    "parsl": (p.state, p._key, p.executor, p.block_id, p.hostname, p.launched, p.running, p.returned,
                              p.fail_history, p.joins, p.pid, list(p.samples), p.usage()),
                    "try": None if t is None else (
                        t.site, t.host, t.sched_id, t.start_ts, t.end_ts, t.main_exitcode, t.stdout_file,
                        t.stderr_file, t.state_name, t.last, t._st),
                }
            series = job.series
            tasks[tid] = {
                "task": (task.state, task.depends, task.memoize, task.hashsum, task.inputs, task.outputs, task.stdin,
                         task.stdout, task.stderr, task.invoked, task.returned, task.fail_count, task.fail_cost),
                "job": (job.state, job.state_label, job.transformation, job.type_desc, job.exit_raw, job.site,
                        job.host, job.duration(None), job.order, job.latest.seq if job.latest else None),
                "tries": tries,
                "series": None if series is None else (series.totals(), series.pid, series.hostname,
                                                       series.last_ts),
                "approx": {k: pm.approximate_because(run, p) for k, p in task.tries.items()},
            }
        out[wf.wf_uuid] = {
            "wf": (wf.label, wf.state, wf.status, wf.start_ts, wf.end_ts, wf.user, wf.submit_host, wf.submit_dir,
                   list(wf.counts), wf.retries),
            "run": (run.version, run.db_failed, run.db_completed, run.time_completed, run.interval,
                    run.last_activity, run.running, {k: v for k, v in run.state_counts.items() if v}, run.apps,
                    run.nodes, run.blocks, run.writer),
            "workers": {k: sorted(p.task_id for p in v) for k, v in run.workers.items() if v},
            "counts": pm.task_counts(run), "outcome": pm.outcome(run), "tasks": tasks,
            "json": pm.run_json(run, run.last_activity),
        }
    return out


def first_diffs(x, y, path=(), out=None, most=8) -> list:
    """Where two views differ (the first ``most`` places), for the assertion's message."""
    out = [] if out is None else out
    if x == y or len(out) >= most:
        return out
    if isinstance(x, dict) and isinstance(y, dict):
        for k in [*x, *(k for k in y if k not in x)]:
            first_diffs(x.get(k), y.get(k), (*path, k), out, most)
    elif isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)) and len(x) == len(y):
        for i, (u, v) in enumerate(zip(x, y)):
            first_diffs(u, v, (*path, i), out, most)
    else:
        out.append(f"{'/'.join(map(str, path))}: {x!r:.120} != {y!r:.120}")
    return out


def shown_view(store: Store) -> dict:
    """What the screen, --once and --json show of the runs without opening a task: every job
    list cell, the counts, the runs' entries (a summarised task's history is not in it)."""
    from panorama_tui.views import columns as cols

    now = max((pm.run_of(wf).last_activity or 0 for wf in store.workflows.values()), default=0)
    out = {"jobs": store.job_count(), "events": store.event_count, "warnings": list(store.warnings),
           "failed": [j.key for j in store.failed_jobs()], "active": sorted(j.key for j in store.active)}
    for wf in store.workflows.values():
        run = pm.run_of(wf)
        out[wf.wf_uuid] = {
            "cells": {j.job_id: [c.cell(j, now, {}) for c in cols.columns()] for j in wf.jobs.values()},
            "json": pm.run_json(run, run.last_activity), "counts": pm.task_counts(run), "apps": run.apps,
            "report": pm.report_entry(run), "wf": (wf.state, list(wf.counts), wf.retries, wf.start_ts, wf.end_ts),
            "activity": run.last_activity}
    return out


def paces(store: Store) -> dict:
    """The pace a stall of each run without an end is judged by (its recent activity times):
    a bulk read's, which row events (in their arrival order) do not give."""
    return {wf.wf_uuid: pm.run_of(wf).pace() for wf in store.workflows.values() if not pm.run_of(wf).ended}


def read(path, bulk: bool, whole: bool = True, summarised: bool = True, prefetch_min=None) -> Store:
    """The DB read once, in bulk or by row events; ``whole``: with every summarised task's
    history read as the detail panel reads it (``history_events``); ``summarised`` False: a
    bulk read that carries every status row; ``prefetch_min``: its ranges read ahead by the
    child from this many task ids (None: never)."""
    src = ParslDbSource(str(path), follow=False, bulk=bulk, writers=lambda p: None, prefetch_min=prefetch_min)
    if not summarised:
        src._summarised = lambda: False
    store = run_to_end(src, Store())
    assert src.status.state == "ended", src.status.message
    if prefetch_min is not None:
        assert src.prefetched > 0 and src.prefetch_failed is None, src.prefetch_failed
        assert src.prefetch is None  # ended with the bulk read
    if whole:
        read_histories(store, src)
    return store


def read_histories(store: Store, src: ParslDbSource) -> int:
    partial = [j for wf in store.workflows.values() for j in wf.jobs.values() if j.partial]
    for job in partial:
        store.apply_many(src.history_events(job.wf.wf_uuid, job.job_id))
        assert not job.partial
    return len(partial)


def assert_same(path) -> None:
    rows = read(path, False)
    bulk = read(path, True, whole=False)
    assert bulk.event_count == rows.event_count  # a bulk event counts the rows it carries
    a, b = shown_view(rows), shown_view(bulk)
    assert a == b, first_diffs(a, b)  # before any task's history is read
    assert paces(bulk) == paces(read(path, True, summarised=False))
    bulk = read(path, True)
    a, b = full_view(rows), full_view(bulk)
    assert a == b, first_diffs(a, b)


def shared_dbs(shared_data):
    d = shared_data / "parsl"
    return sorted([*d.glob("*.db"), *(d / "live-snapshots-run001").glob("*.db")])


def test_bulk_equals_row_events_on_the_shared_dbs(shared_data):
    dbs = shared_dbs(shared_data)
    assert len(dbs) >= 3
    for db in dbs:
        assert_same(db)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    d = tmp_path_factory.mktemp("bulk")
    one = d / "one.db"
    generate_parsl.write(str(one), 2000)
    two = d / "two.db"
    generate_parsl.write(str(two), 1000, runs=2, killed=True)
    return one, two


def test_bulk_equals_row_events_on_generated_dbs(generated, monkeypatch):
    one, two = generated
    assert_same(one)
    monkeypatch.setattr(mdb, "BULK_FIRST", 7)  # odd ranges: a task's rows never split between events
    monkeypatch.setattr(mdb, "BULK_RANGE", 333)
    assert_same(two)


def test_ranges_read_ahead_by_the_child_give_the_same_store(generated, shared_data, monkeypatch):
    """The ranges read and shaped by the child process (sources/read_ahead.py, bulk_shape.RangeShaper)
    as by the reader: the same store, summarised or not, for a run with an end and two without
    (their latest status times a range are asked for), and on every shared Parsl DB; the same as
    row events build (assert_same, the shared DBs)."""
    one, two = generated
    monkeypatch.setattr(mdb, "BULK_FIRST", 7)
    monkeypatch.setattr(mdb, "PREFETCH_AFTER", 1)
    monkeypatch.setattr(mdb, "BULK_RANGE", 10)  # (52 task ids: 6 ranges, the child reads and shapes 4)
    for db in shared_dbs(shared_data):
        a, b = full_view(read(db, False)), full_view(read(db, True, prefetch_min=1))
        assert a == b, (db.name, first_diffs(a, b))
    monkeypatch.setattr(mdb, "BULK_RANGE", 333)  # (4 ranges: the child reads and shapes the last 2)
    for path in (one, two):
        for summarised in (True, False):
            here = read(path, True, whole=False, summarised=summarised)
            ahead = read(path, True, whole=False, summarised=summarised, prefetch_min=1)
            assert ahead.event_count == here.event_count
            a, b = shown_view(here), shown_view(ahead)
            assert a == b, first_diffs(a, b)
            assert paces(ahead) == paces(here)
        a, b = full_view(read(path, True)), full_view(read(path, True, prefetch_min=1))
        assert a == b, first_diffs(a, b)


def test_a_big_db_is_read_in_bulk_a_small_one_by_rows(generated, shared_data, monkeypatch):
    one, _ = generated
    seen = []
    src = ParslDbSource(str(one), follow=False, writers=lambda p: None)
    for batch in src.batches():
        seen += [e["event"] for e in batch]
    assert pe.BULK not in seen  # 2,000 tasks: below BULK_MIN_TASKS
    monkeypatch.setattr(mdb, "BULK_MIN_TASKS", 1000)
    src = ParslDbSource(str(one), follow=False, writers=lambda p: None)
    seen = [e["event"] for batch in src.batches() for e in batch]
    # the first range is small (the first screen's rows), then BULK_RANGE task ids an event
    assert seen.count(pe.BULK) == 1 + -(-(2000 - mdb.BULK_FIRST) // mdb.BULK_RANGE)
    assert pe.STATUS not in seen and pe.TASK not in seen


def followed(path, bulk: bool, start: int = 400, every: int = 3) -> Store:
    """Follow a DB as Parsl's writer writes it (two runs of 600 tasks, the last killed), from
    its ``start``-th commit (a first read of what is there, in bulk or not), polling after
    every ``every`` commits."""
    writing = generate_parsl.write_live(str(path), n=600, runs=2, killed=True)
    for _ in range(start):
        next(writing)
    src = ParslDbSource(str(path), follow=True, poll=0.0, bulk=bulk, writers=lambda p: None)
    store = Store()

    def step():
        store.apply_many(decode(e) for e in src.step())

    step()
    while not src.caught_up:
        step()
    assert (store.event_names[pe.BULK] >= 1) == bulk
    for i, _ in enumerate(writing):
        if i % every == 0:
            step()
    for _ in range(REREAD):
        step()
    src.close()
    store.source = src  # the test reads the summarised tasks' histories through it
    return store


REREAD = mdb.REREAD_POLLS + 1


def test_followed_bulk_then_rows(tmp_path):
    """A DB followed while written: read in bulk up to its snapshot, then what is written after
    comes as row events (rows updated in place after their status rows too); the store ends as
    row events alone make it, and as a fresh read of the finished DB."""
    rows = followed(tmp_path / "rows.db", False)
    bulk = followed(tmp_path / "bulk.db", True)
    a, b = shown_view(rows), shown_view(bulk)
    assert a.pop("events") <= b.pop("events")
    assert a == b, first_diffs(a, b)  # before any task's history is read
    read_histories(bulk, bulk.source)
    a, b = full_view(rows), full_view(bulk)
    assert a.pop("events") <= b.pop("events")  # the bulk read's window may read a few rows again
    assert a == b, first_diffs(a, b)
    from tests.test_parsl_db import parsl_view

    fresh = read(tmp_path / "bulk.db", False)
    assert parsl_view(bulk) == parsl_view(fresh)


def test_a_bulk_read_is_recorded_and_replays_the_same(generated, tmp_path):
    """The bulk events go into a recording as any event does (JSON: their tuples come back as
    lists) and replay into the same store."""
    import time

    from panorama_tui.cli.top import read_to_end
    from panorama_tui.core.recorder import Recorder
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.sources.replay import ReplayControl, ReplaySource

    one, _ = generated
    db = tmp_path / "monitoring.db"
    shutil.copy(one, db)
    src = ParslDbSource(str(db), follow=True, bulk=True, writers=lambda p: None)
    rec = Recorder(str(tmp_path / "r.panorama.db"), source=src.label)
    store = Store()
    ing = Ingest(src, store, rec).start()
    deadline = time.monotonic() + 60
    while not (src.caught_up and not src.loading) and time.monotonic() < deadline:
        time.sleep(0.05)
    ing.stop()
    assert store.event_names[pe.BULK] >= 2
    replayed = read_to_end(ReplaySource(str(tmp_path / "r.panorama.db"), ReplayControl(speed=0.0)))
    a, b = full_view(store), full_view(replayed)
    assert a == b, first_diffs(a, b)


def test_bulk_of_an_older_schema(generated, tmp_path):
    """A Parsl without the try and resource tables, status.try_id and the newer node columns:
    the bulk read takes what there is, as row events do."""
    import sqlite3

    one, _ = generated
    db = tmp_path / "old.db"
    shutil.copy(one, db)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE try")
        conn.execute("DROP TABLE resource")
        conn.execute("ALTER TABLE status DROP COLUMN try_id")
        conn.execute("ALTER TABLE node DROP COLUMN last_heartbeat")
        conn.execute("ALTER TABLE node DROP COLUMN uid")
    assert_same(db)


def test_distinct_try_ids_through_the_key_as_a_scan_finds_them():
    """The bulk plan's try ids (one index lookup each while few) are the ones SELECT DISTINCT finds,
    with a NULL, a float, a text id, and more ids than it looks up one by one."""
    import sqlite3

    conn = sqlite3.connect(":memory:")
    for name, ids in (("few", [0, 1, 1, 0, 2]), ("odd", [0, 1, None, 2.5, "x", 3]),
                      ("many", list(range(mdb.DISTINCT_STEPS + 10)) * 2), ("none", [])):
        conn.execute(f'CREATE TABLE "{name}" (try_id, task_id, PRIMARY KEY (try_id, task_id))')
        conn.executemany(f'INSERT INTO "{name}" VALUES (?, ?)', [(v, i) for i, v in enumerate(ids)])
        want = {r[0] for r in conn.execute(f'SELECT DISTINCT try_id FROM "{name}"') if isinstance(r[0], int)}
        got = mdb._distinct_try_ids(conn, name)
        assert {i for i in got if isinstance(i, int)} == want, name


def test_summarised_tasks_and_their_history_on_demand(generated):
    """A bulk read carries the tasks that ended exec_done or memo_done with one try by their
    final status row (most of a run), never a failed, dep_fail, retried or unfinished one; the
    detail's reader (pipeline/history.py) then makes an opened task whole, as row events make it."""
    import time

    from panorama_tui.pipeline.history import HistoryReader

    _, two = generated  # two runs, the last killed: tasks still going too
    src = ParslDbSource(str(two), follow=False, bulk=True, writers=lambda p: None)
    store = run_to_end(src, Store())
    partial = [j for wf in store.workflows.values() for j in wf.jobs.values() if j.partial]
    assert len(partial) > 0.7 * store.job_count()  # 1,561 of 2,000 (one run killed at 60 %)
    for wf in store.workflows.values():
        for task in pm.run_of(wf).tasks.values():
            if task.job.partial:
                assert task.state in bulk_shape.SUMMARISED and len(task.job.tries) == 1
            elif task.state in pe.FAILURE_STATES or len(task.job.tries) > 1:
                assert task.job.tries[task.job.latest.seq]._st[24:]  # whole: more than its final state
    job = partial[0]
    assert len(job.latest.ordered_states()) == 1
    reader = HistoryReader(store, src)
    assert reader.ask(job) and not reader.ask(job)  # read once
    deadline = time.monotonic() + 30
    while job.partial and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not job.partial and reader.error is None
    rows = read(two, False)
    want = rows.workflows[job.wf.wf_uuid].jobs[job.job_id]
    assert job.latest.ordered_states() == want.latest.ordered_states()
    assert len(job.latest.ordered_states()) > 1


def test_an_older_recordings_resource_rows_give_the_same_store(generated, monkeypatch):
    """A bulk event recorded before the resource rows were shaped (``resource``: the rows, 11 or 14
    columns) is shaped by the handler: the same store as the shaped event's."""
    one, _ = generated
    shape = bulk_shape.RangeShaper.shape
    shaped = full_view(read(one, True))
    for width in (11, 14):

        def rows_not_samples(self, kind, conn, params, results, width=width):
            got = shape(self, kind, conn, params, results)
            rows = bulk_shape.convert("resource", results[self.names[kind].index("resource")], self.epoch,
                                      resource_cols=self.resource_cols)
            if width == 14:  # (the first 14 of the table's columns: those not kept are None here)
                at = dict(zip(pe.BULK_RESOURCE_COLUMNS, range(11)))
                rows = [tuple(r[at[i]] if i in at else None for i in range(14)) for r in rows]
            del got["samples"]
            got["resource"] = rows
            return got

        monkeypatch.setattr(bulk_shape.RangeShaper, "shape", rows_not_samples)
        a, b = shaped, full_view(read(one, True))
        assert a == b, (width, first_diffs(a, b))


def test_epochs_a_column_at_a_time_equal_local_epoch_bit_for_bit():
    """FastEpoch.column (the bulk read's times, no call a value) gives what local_epoch gives
    each value, across odd values too: None, short or unparsable texts, seconds out of range,
    numbers, another separator, a minute seen for the first time mid-column."""
    from panorama_tui.core.parsl_events import local_epoch
    from panorama_tui.sources.parsl.bulk_shape import FastEpoch

    good = [f"2026-11-21 05:{m:02d}:{s:09.6f}" for m in range(0, 60, 7) for s in (0.0, 1.5, 30.000001, 59.999999)]
    odd = [None, "2026-11-21 05:29:3", "2026-11-21 05:29:", "2026-11-21 05:29:99.5", "2026-11-21 05:29:-1.0",
           "2026-11-21 05:29:nan", "2026-11-21T05:29:30.5", "2026-13-40 05:29:30.5", "not a time at all!!",
           "", 1796679833.5, 7, b"2026-11-21 05:29:30.504744", "2026-03-29 02:30:00.000001"]
    columns = [good, good + [None], [None, *good, None], *([v, *good] for v in odd), [*good, *odd], odd]
    for texts in columns:
        expect = [local_epoch(t) for t in texts]
        for e in (FastEpoch(), FastEpoch()):
            got = e.column(texts)
            assert [repr(x) for x in got] == [repr(x) for x in expect], texts
            assert [repr(x) for x in e.column(texts)] == [repr(x) for x in expect]  # minutes known now
            assert [repr(e(t)) for t in texts] == [repr(x) for x in expect]
