"""benchmarks/generate_parsl.py: Parsl's real schema, deterministic, any size, written as
Parsl's DB manager writes it; the follower, run between any two of its commits, ends as
a fresh read."""

from __future__ import annotations

import sqlite3

import pytest

from benchmarks import generate_parsl as gen
from panorama_tui.model.handlers import parsl as pm
from panorama_tui.core.events import decode
from panorama_tui.sources.parsl.monitoring_db import ParslDbSource
from panorama_tui.pipeline.read import read_parsl_db as read_store
from panorama_tui.model.store import Store

from .test_parsl_db import parsl_view


def schema(path) -> list:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall())


def dump(path) -> list:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return list(conn.iterdump())


def test_the_schema_is_parsls(tmp_path, shared_data):
    gen.write(str(tmp_path / "g.db"), n=50)
    assert schema(tmp_path / "g.db") == schema(shared_data / "parsl" / "monitoring.db")
    with sqlite3.connect(tmp_path / "g.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # Parsl's rollback journal


def test_deterministic(tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert gen.write(str(a), n=400, seed=3, runs=2) == gen.write(str(b), n=400, seed=3, runs=2)
    assert dump(a) == dump(b)
    gen.write(str(b), n=400, seed=4, runs=2)
    assert dump(a) != dump(b)


@pytest.mark.parametrize("n", [60, 1500])
def test_what_it_says_it_wrote_reads_back(tmp_path, n):
    path = tmp_path / "monitoring.db"
    want = gen.write(str(path), n=n, runs=2)
    store = read_store(str(path))
    assert not store.warning_count and not store.unknown and not store.bad_count
    for run_id, d in want.items():
        run = pm.run_of(store.workflows[run_id])
        c = pm.task_counts(run)
        got = {k: c[k] for k in ("succeeded", "memo_done", "failed", "dep_fail") if c[k]}
        names = {"exec_done": "succeeded", "memo_done": "memo_done", "failed": "failed", "dep_fail": "dep_fail"}
        assert got == {names[s]: k for s, k in d["states"].items()}
        assert c["total"] == d["tasks"] == n and c["retries"] == d["retries"] and run.ended
        assert (run.db_completed, run.db_failed) == (c["succeeded"], c["failed"])
    if n >= 1500:  # big enough for every kind of task
        run = pm.run_of(next(iter(store.workflows.values())))
        assert all(c["memo_done"] and c["dep_fail"] and c["failed"] for c in [pm.task_counts(run)])
        joins = [t for t in run.tasks.values() if t.job.transformation == "fan_in"]
        assert joins and all(t.state == "exec_done" and t.tries[0].joins for t in joins)


@pytest.mark.parametrize("every", [1, 3])
def test_following_the_writer_commit_by_commit(tmp_path, every):
    """The follower polls after every commit (or every third) of Parsl's writing order: the
    task and try rows updated in place after their status rows are caught."""
    path = tmp_path / "monitoring.db"
    writing = gen.write_live(str(path), n=300, runs=2)
    next(writing)  # the DB exists with its schema and the first run's row
    src = ParslDbSource(str(path), follow=True, poll=0.0, writers=lambda p: None)
    store = Store()
    for i, _ in enumerate(writing):
        if i % every == 0:
            store.apply_many(decode(e) for e in src.step())
    for _ in range(3):
        store.apply_many(decode(e) for e in src.step())
    src.close()
    assert parsl_view(store) == parsl_view(read_store(str(path)))


def test_a_killed_run_written_elsewhere_is_stalled_not_killed(tmp_path):
    """The last run stops at 60 %: no end.  Its host is not this one, so its writer cannot be
    looked for: stalled (it might resume), not killed."""
    path = tmp_path / "monitoring.db"
    want = gen.write(str(path), n=400, runs=2, killed=True)
    store = read_store(str(path))
    first, last = (pm.run_of(store.workflows[r]) for r in want)
    assert first.ended and not last.ended and last.writer is None
    c = pm.task_counts(last)
    assert c["running"] + c["pending"] > 0
    assert pm.run_state(last, last.last_activity + 10) in ("running", "failed")
    st = pm.stall(last, last.last_activity + 100)
    assert st is not None and st.kind == "stalled" and st.since == last.last_activity
    assert pm.run_state(last, last.last_activity + 100) == "stalled"
