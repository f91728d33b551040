"""A Parsl monitoring DB read right: the shared DBs (real Parsl 2026.10.26 runs)
are the fixtures; the expected answers are the DB's own counts and rows.

``../shared/data/parsl/monitoring.db``: two runs of ``parsl_workflow.py``
(52 tasks each: 44 exec_done, 5 failed after one retry, 3 dep_fail, a join
app), ``live-snapshots-run001/``: copies taken while the second run wrote.
"""

from __future__ import annotations

import random
import time
import shutil
import sqlite3

import pytest

from panorama_tui.core import parsl_events as pe
from panorama_tui.model.handlers import parsl as pm
from panorama_tui.core.events import decode
from panorama_tui.sources.parsl.monitoring_db import ParslDbError, ParslDbSource, recognise
from panorama_tui.pipeline.read import read_parsl_db as read_store
from panorama_tui.model.states import JobState
from panorama_tui.model.store import Store

RUN1 = "b1161bab-7b1d-4a85-8fd5-bcdde103c2e8"
RUN2 = "04319e95-b6b2-4ad6-b5db-072ee20dfb65"


@pytest.fixture(scope="session")
def parsl_dir(shared_data):
    return shared_data / "parsl"


@pytest.fixture(scope="session")
def shared_db(parsl_dir):
    return parsl_dir / "monitoring.db"


def events_of(path) -> list[dict]:
    src = ParslDbSource(str(path), follow=False, writers=lambda p: None)
    out = [d for batch in src.batches() for d in batch]
    assert src.status.state == "ended", src.status.message
    return out


def rows(path, sql, *args):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(sql, args).fetchall()


def parsl_view(store: Store) -> dict:
    """What the screen and --once show of the Parsl runs, independent of arrival order."""
    out = {}
    for wf in store.workflows.values():
        run = pm.run_of(wf)
        tasks = {}
        for tid, task in run.tasks.items():
            job = task.job
            tasks[tid] = {
                "state": task.state, "job_state": job.state, "label": job.state_label, "app": job.transformation,
                "exit": job.exit_raw, "depends": task.depends, "site": job.site, "host": job.host,
                "tries": {k: (p.state, p.fail_history, p.joins, p.hostname, p.launched, p.running, p.returned,
                              p.usage(), sorted(job.tries[k].states.values(), key=lambda v: (v[0] or 0, v[1])))
                          for k, p in task.tries.items()},
                "series": job.series.totals() if job.series else None,
                "duration": job.duration(None),
            }
        out[wf.wf_uuid] = {"label": wf.label, "state": wf.state, "start": wf.start_ts, "end": wf.end_ts,
                           "counts": pm.task_counts(run), "outcome": pm.outcome(run), "tasks": tasks,
                           "job_counts": list(wf.counts), "last": run.last_activity, "apps": run.apps}
    return out


def test_every_row_becomes_one_event(shared_db):
    evs = events_of(shared_db)
    for table, name in pe.EVENT_OF_TABLE.items():
        n = rows(shared_db, f'SELECT count(*) FROM "{table}"')[0][0]
        assert sum(1 for e in evs if e["event"] == name) == n, table
    assert all(decode(e).known for e in evs)


def test_counts_are_parsls_own(shared_db):
    """exec_done and failed tasks as Parsl counted them (workflow.tasks_completed_count /
    tasks_failed_count), dep_fail and the retries as the status and try rows say."""
    store = read_store(str(shared_db))
    assert sorted(store.workflows) == sorted([RUN1, RUN2])
    for run_id, completed, failed in rows(shared_db, "SELECT run_id, tasks_completed_count, tasks_failed_count "
                                                     "FROM workflow"):
        run = pm.run_of(store.workflows[run_id])
        c = pm.task_counts(run)
        assert (c["succeeded"], c["failed"]) == (completed, failed) == (44, 5)
        assert c["dep_fail"] == 3 and c["total"] == 52 and c["running"] == c["pending"] == 0
        assert c["retries"] == rows(shared_db, "SELECT count(*) FROM try WHERE run_id=? AND try_id > 0", run_id)[0][0]
        wf = store.workflows[run_id]
        assert wf.state == "failed" and pm.outcome(run) == "failed"
        assert wf.counts[JobState.DONE] == 44 and wf.counts[JobState.FAILED] == 8
        assert run.db_completed == 44 and run.db_failed == 5


def test_unordered_status_rows(shared_db):
    """Task 5's exec_done row came before its running row; task 3's running_ended after its
    exec_done; task 34's first try's running rows after its retry began; join app 42 ran its
    function (running, running_ended) before it joined and finished long after."""
    store = read_store(str(shared_db))
    run = pm.run_of(store.workflows[RUN1])
    for tid in (3, 5):
        assert run.tasks[tid].state == pe.EXEC_DONE and run.tasks[tid].job.state_label == "exec_done"
    t34 = run.tasks[34]
    assert t34.state == pe.FAILED and t34.tries[0].state == pe.FAIL_RETRYABLE and t34.tries[1].state == pe.FAILED
    assert t34.job.state == JobState.FAILED and t34.job.exit_code == 3  # BashExitFailure('bash_fail', 3)
    join = run.tasks[42]
    assert join.state == pe.EXEC_DONE and join.tries[0].joins == (51,) and join.job.type_desc == "join_app"


def test_dependency_failures_trace_to_their_cause(shared_db):
    store = read_store(str(shared_db))
    run = pm.run_of(store.workflows[RUN2])
    causes = {tid: pm.failure_cause(run, t) for tid, t in run.tasks.items() if t.state == pe.DEP_FAIL}
    assert causes == {39: [36], 40: [37], 41: [38]}
    for tid in (36, 37, 38):
        assert "deliberate failure in flaky task" in run.tasks[tid].tries[1].fail_history


def test_arrival_order_does_not_matter(shared_db):
    evs = events_of(shared_db)
    want = parsl_view(_apply(evs))
    for seed in (1, 2, 3):
        shuffled = list(evs)
        random.Random(seed).shuffle(shuffled)
        assert parsl_view(_apply(shuffled)) == want, seed
    assert parsl_view(_apply(evs + evs)) == want  # twice: the same


def _apply(evs) -> Store:
    s = Store()
    s.apply_many(decode(dict(e)) for e in evs)
    return s


def test_per_task_resources_are_differences(shared_db):
    """The worker's counters run across its tasks: a task's CPU and I/O are its
    samples' change, not the worker's totals."""
    store = read_store(str(shared_db))
    run = pm.run_of(store.workflows[RUN1])
    for tid, task in run.tasks.items():
        got = rows(shared_db, "SELECT psutil_process_time_user + psutil_process_time_system, psutil_process_disk_read, "
                              "psutil_process_memory_resident FROM resource WHERE run_id=? AND task_id=? "
                              "ORDER BY try_id, timestamp", RUN1, tid)
        if not got:
            assert task.job.series is None
            continue
        cpu, peak, rd, _ = task.job.series.totals()
        if len(task.tries) == 1:
            assert cpu == pytest.approx(got[-1][0] - got[0][0])
            assert rd == pytest.approx(got[-1][1] - got[0][1])
        assert peak == max(r[2] for r in got)
    # burn_cpu tasks (8-15) busy-loop 2-4 s: most of it is CPU
    for tid in range(8, 16):
        cpu = run.tasks[tid].job.series.totals()[0]
        assert 0.5 < cpu < 5.0, (tid, cpu)
    # the worker's own total by then was far higher
    assert rows(shared_db, "SELECT max(psutil_process_time_user) FROM resource WHERE run_id=?", RUN1)[0][0] > 5


def test_htex_workers_are_not_shared_meanwhile(shared_db):
    store = read_store(str(shared_db))
    run = pm.run_of(store.workflows[RUN1])
    assert all(not pm.approximate_because(run, p) for t in run.tasks.values() for p in t.tries.values())


def test_two_tries_at_once_on_one_process_are_approximate():
    """A thread pool samples one process for every task it runs: overlapping windows."""
    s = Store()
    run_id = "r"
    evs = [{"event": pe.WORKFLOW, "run_id": run_id, "time_began": 1e9, "host": "h"}]
    for tid, (t0, t1) in enumerate(((1e9 + 1, 1e9 + 5), (1e9 + 3, 1e9 + 8), (1e9 + 9, 1e9 + 10))):
        evs.append({"event": pe.TRY, "run_id": run_id, "task_id": tid, "try_id": 0, "hostname": "h"})
        for ts, cpu in ((t0, 10.0 * tid), (t1, 10.0 * tid + 2)):
            evs.append({"event": pe.RESOURCE, "run_id": run_id, "task_id": tid, "try_id": 0, "ts": ts,
                        "psutil_process_pid": 7, "psutil_process_time_user": cpu})
    s.apply_many(decode(e) for e in evs)
    run = pm.run_of(s.workflows[run_id])
    assert [pm.approximate_because(run, run.tasks[t].tries[0]) for t in range(3)] == [[1], [0], []]


def test_a_retry_carries_on_from_its_first_try():
    """Two tries on two workers: the series counts both, without the jump between the workers' totals."""
    s = Store()
    evs = [{"event": pe.RESOURCE, "run_id": "r", "task_id": 1, "try_id": k, "ts": 1e9 + ts,
            "psutil_process_pid": pid, "psutil_process_time_user": cpu, "psutil_process_disk_write": wr}
           for k, ts, pid, cpu, wr in ((0, 0, 1, 100.0, 5e6), (0, 2, 1, 101.5, 6e6), (1, 5, 2, 7.0, 1e6),
                                       (1, 6, 2, 8.0, 3e6))]
    for order in (evs, evs[::-1]):
        s = Store()
        s.apply_many(decode(dict(e)) for e in order)
        job = s.workflows["r"].jobs["1"]
        cpu, _, _, wr = job.series.totals()
        assert cpu == pytest.approx(2.5) and wr == pytest.approx(3e6)
        assert all(r[1] <= 100.0 for r in job.series.rates())  # no 9000 % spike between the workers


def test_state_rule_final_state_wins():
    s = Store()
    base = {"run_id": "r", "task_id": 3}
    evs = [{"event": pe.STATUS, **base, "try_id": 0, "task_status_name": n, "ts": 1e9 + t}
           for n, t in (("pending", 0), ("launched", 1), ("running", 2), ("exec_done", 3), ("running_ended", 3.5))]
    s.apply_many(decode(e) for e in evs)
    job = s.workflows["r"].jobs["3"]
    assert (job.state, job.state_label) == (JobState.DONE, "exec_done")
    # a skewed worker clock: running stamped before launched is still past it
    s2 = Store()
    s2.apply_many(decode(e) for e in [
        {"event": pe.STATUS, **base, "try_id": 0, "task_status_name": "launched", "ts": 1e9 + 5},
        {"event": pe.STATUS, **base, "try_id": 0, "task_status_name": "running", "ts": 1e9 + 4}])
    job = s2.workflows["r"].jobs["3"]
    assert (job.state, job.state_label) == (JobState.RUNNING, "running")


@pytest.mark.parametrize("snap", ["snapshot_t006s.db", "snapshot_t012s.db", "snapshot_t020s.db", "snapshot_t030s.db"])
def test_live_snapshots_read_mid_run(parsl_dir, snap):
    """What a reader sees while the second run writes: its first run done, the second
    one without an end, its tasks where the status rows put them."""
    path = parsl_dir / "live-snapshots-run001" / snap
    store = read_store(str(path))
    done = pm.run_of(store.workflows[RUN1])
    assert done.ended and pm.task_counts(done)["succeeded"] == 44
    run = pm.run_of(store.workflows[RUN2])
    assert not run.ended and store.workflows[RUN2].end_ts is None
    c = pm.task_counts(run)
    last = dict(rows(path, "SELECT task_id, task_status_name FROM status s WHERE run_id=? AND timestamp = "
                           "(SELECT max(timestamp) FROM status WHERE run_id=s.run_id AND task_id=s.task_id "
                           "AND try_id = (SELECT max(try_id) FROM status WHERE run_id=s.run_id AND task_id=s.task_id))",
                     RUN2))
    final = {t for t, n in rows(path, "SELECT task_id, task_status_name FROM status WHERE run_id=?", RUN2)
             if n in pe.FINAL_STATES}
    assert c["succeeded"] == sum(1 for t in final if run.tasks[t].state == pe.EXEC_DONE)
    for tid, task in run.tasks.items():
        if tid not in final and last.get(tid) in (pe.PENDING, pe.LAUNCHED, pe.FAIL_RETRYABLE):
            assert task.state == last[tid], tid


def test_following_the_snapshots_gives_a_fresh_reads_store(tmp_path, parsl_dir, shared_db):
    """The DB rewritten in place as the snapshots were taken, then as it ended: the
    follower, which saw each stage, ends with what a fresh read of the end gives."""
    path = tmp_path / "monitoring.db"
    stages = [parsl_dir / "live-snapshots-run001" / f"snapshot_t{n:03d}s.db" for n in (6, 12, 20, 30)] + [shared_db]
    shutil.copy(stages[0], path)
    src = ParslDbSource(str(path), follow=True, poll=0.01, writers=lambda p: None)
    store = Store()
    for stage in stages:
        with open(path, "r+b") as f:  # same inode: the follower's open file sees the new content
            data = stage.read_bytes()
            f.write(data)
            f.truncate(len(data))
        for _ in range(6):  # a few polls after each change: the re-read window
            store.apply_many(decode(e) for e in src.step())
    src.close()
    assert src.status.state != "error", src.status.message
    assert parsl_view(store) == parsl_view(read_store(str(shared_db)))


def test_recognise(parsl_dir, shared_db, replay_dir, tmp_path):
    assert recognise(str(shared_db)) == str(shared_db)
    assert recognise(str(replay_dir / "process_wf_success" / "process-0.stampede.db")) is None
    (tmp_path / "runinfo").mkdir()
    shutil.copy(shared_db, tmp_path / "runinfo" / "monitoring.db")
    assert recognise(str(tmp_path)) == str(tmp_path / "runinfo" / "monitoring.db")
    assert recognise(str(tmp_path / "runinfo")) == str(tmp_path / "runinfo" / "monitoring.db")
    assert recognise(str(parsl_dir / "live-snapshots-run001")) is None


# -- bad input ------------------------------------------------------------------------------------


def _read_error(path) -> str:
    with pytest.raises(ParslDbError) as err:
        read_store(str(path))
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_another_schema_names_what_is_missing(tmp_path, shared_db):
    p = tmp_path / "monitoring.db"
    shutil.copy(shared_db, p)
    with sqlite3.connect(p) as conn:
        conn.execute("DROP TABLE status")
    assert "no status table" in _read_error(p)
    shutil.copy(shared_db, p)
    with sqlite3.connect(p) as conn:
        conn.execute("ALTER TABLE task DROP COLUMN task_func_name")
    assert "no task.task_func_name column" in _read_error(p)


def test_older_columns_read_as_null(tmp_path, shared_db):
    """A Parsl without the try table, the resource table and the newer node columns:
    the tasks and their states still read."""
    p = tmp_path / "monitoring.db"
    shutil.copy(shared_db, p)
    with sqlite3.connect(p) as conn:
        conn.execute("DROP TABLE try")
        conn.execute("DROP TABLE resource")
        conn.execute("ALTER TABLE node DROP COLUMN last_heartbeat")
        conn.execute("ALTER TABLE node DROP COLUMN uid")
    store = read_store(str(p))
    c = pm.task_counts(pm.run_of(store.workflows[RUN1]))
    assert (c["succeeded"], c["failed"], c["dep_fail"]) == (44, 5, 3)


def test_truncated_and_empty(tmp_path, shared_db):
    p = tmp_path / "monitoring.db"
    p.write_bytes(shared_db.read_bytes()[:20_000])
    assert "truncated or corrupt" in _read_error(p)
    p.write_bytes(b"")
    assert "empty" in _read_error(p)


def test_a_dir_without_runinfo(tmp_path):
    assert "no runinfo/monitoring.db" in _read_error(tmp_path)


def test_locked_db_read_once_gives_up(tmp_path, shared_db, monkeypatch):
    from panorama_tui.sources.parsl import monitoring_db

    monkeypatch.setattr(monitoring_db, "LOCK_PATIENCE", 0.5)
    p = tmp_path / "monitoring.db"
    shutil.copy(shared_db, p)
    holder = sqlite3.connect(p, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert "locked for over 0.5 s" in _read_error(p)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_locked_db_followed_is_waited_for(tmp_path, shared_db):
    p = tmp_path / "monitoring.db"
    shutil.copy(shared_db, p)
    holder = sqlite3.connect(p, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    src = ParslDbSource(str(p), follow=True, poll=0.01, writers=lambda p: None)
    try:
        assert src.step() == [] and "locked by Parsl's monitoring writer" in src.status.message
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len([e for e in src.step() if e["event"] == pe.TASK]) == 104
    src.close()


def _stall_case(states, interval=None, writer=None):
    """A run of tasks in ``states`` (its last row at 1e9 + 100), sampled every ``interval``."""
    s = Store()
    evs = [{"event": pe.WORKFLOW, "run_id": "r", "time_began": 1e9, "host": "h"}]
    for tid, name in enumerate(states):
        evs.append({"event": pe.STATUS, "run_id": "r", "task_id": tid, "try_id": 0, "task_status_name": name,
                    "ts": 1e9 + 100})
        if interval:
            evs.append({"event": pe.RESOURCE, "run_id": "r", "task_id": tid, "try_id": 0, "ts": 1e9 + 100,
                        "resource_monitoring_interval": interval, "psutil_process_pid": tid})
    if writer is not None:
        evs.append({"event": pe.WRITER, "run_id": "r", "alive": writer, "ts": 1e9 + 105})
    s.apply_many(decode(e) for e in evs)
    return pm.run_of(s.workflows["r"])


def test_the_stall_rule():
    last = 1e9 + 100
    # sampled every 2 s while a task runs: silent for 10 x 2 s is not yet a stall (the 30 s floor), 31 s is
    run = _stall_case(["running"], interval=2.0)
    assert pm.stall(run, last + 29) is None
    st = pm.stall(run, last + 31)
    assert st.kind == "stalled" and st.since == last and "every 2s while tasks run" in st.reason
    assert pm.stall(_stall_case(["running"], interval=5.0), last + 45) is None  # 10 x 5 s
    # waiting for workers, or running without samples: a long silence is not a stall...
    assert pm.stall(_stall_case(["launched"]), last + 3600) is None
    assert pm.stall(_stall_case(["running"]), last + 3600) is None
    # ... unless the writer is gone: killed
    st = pm.stall(_stall_case(["launched"], writer=False), last + 3600)
    assert st.kind == "killed" and st.since == last
    # nothing waits and nothing ran since: stalled; a writer still there does not make it killed
    assert pm.stall(_stall_case(["pending", "exec_done"], writer=True), last + 3600).kind == "stalled"
    # a writer seen gone before the last row is not evidence about now
    run = _stall_case(["running"], interval=1.0)
    run.writer = (False, last - 1)
    assert pm.stall(run, last + 60).kind == "stalled"


def test_read_only_short_transactions_no_lock_between_polls(tmp_path, shared_db):
    """Parsl's writer retries forever while a reader holds a lock: between polls we hold none,
    a read never writes, and a big DB is read in several short transactions."""
    import os

    db = tmp_path / "monitoring.db"
    shutil.copy(shared_db, db)
    before = db.read_bytes()
    src = ParslDbSource(str(db), follow=True, chunk=100, writers=lambda p: None)
    got = []
    polls = 0
    while not src.caught_up or polls == 0:
        got += src.step()
        polls += 1
        w = sqlite3.connect(str(db), timeout=0)  # a writer that waits for nobody ...
        w.execute("BEGIN EXCLUSIVE")  # ... gets its lock at once
        w.rollback()
        w.close()
    assert polls >= 6  # 554 status rows, 100 a transaction
    with pytest.raises(sqlite3.OperationalError):  # cannot write, even by mistake
        src.conn.execute("DELETE FROM status")
    assert src.step() == []  # nothing changed: data_version says so, nothing is read
    src.close()
    assert db.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["monitoring.db"]
    store = Store()
    store.apply_many(decode(e) for e in got)
    assert parsl_view(store) == parsl_view(read_store(str(shared_db)))


def test_a_live_read_is_recorded_and_replays_the_same(tmp_path, shared_db):
    from panorama_tui.cli.top import read_to_end
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.core.recorder import Recorder
    from panorama_tui.sources.replay import ReplayControl, ReplaySource

    db = tmp_path / "monitoring.db"
    shutil.copy(shared_db, db)
    src = ParslDbSource(str(db), follow=True, writers=lambda p: None)
    assert src.recordable and src.live
    rec = Recorder(str(tmp_path / "r.panorama.db"), source=src.label)
    store = Store()
    ing = Ingest(src, store, rec).start()
    deadline = time.monotonic() + 30
    while not src.caught_up and time.monotonic() < deadline:
        time.sleep(0.05)
    ing.stop()
    assert rec.count == store.event_count == 1214
    replayed = read_to_end(ReplaySource(str(tmp_path / "r.panorama.db"), ReplayControl(speed=0.0)))
    assert parsl_view(replayed) == parsl_view(store) == parsl_view(read_store(str(shared_db)))


def test_the_latest_end_stands():
    """Parsl's DB manager, told to stop before it has written the run's end, writes one of its
    own (``datetime.now()``, "abnormal exit"), then the DFK's own end, which is earlier: the
    latest version of the row stands (seen in a real run followed live)."""
    s = Store()
    for completed in (1e9 + 60.7, 1e9 + 60.3):
        s.apply(decode({"event": pe.WORKFLOW, "run_id": "r", "time_began": 1e9, "time_completed": completed,
                        "tasks_failed_count": 0, "tasks_completed_count": 3}))
    wf = s.workflows["r"]
    assert wf.end_ts == pm.run_of(wf).time_completed == 1e9 + 60.3
