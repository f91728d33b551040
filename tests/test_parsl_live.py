"""Real Parsl runs (``parsl[monitoring]==2026.10.26`` in its own venv: tests/peers.py)
followed live: what the follower shows at the end is what a fresh read of the
finished DB shows, new rows arrive within a second of their commit, and a run
killed mid-way is shown killed, not running."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from panorama_tui.core import parsl_events as pe
from panorama_tui.model.handlers import parsl as pm
from panorama_tui.core.events import decode
from panorama_tui.sources.parsl.monitoring_db import ParslDbSource, db_writers
from panorama_tui.pipeline.read import read_parsl_db as read_store
from panorama_tui.model.store import Store
from panorama_tui.stats.once import EXIT_FAILED, EXIT_STALLED, overall_exit
from panorama_tui.stats.stall import stall

from .peers import ParslRun, parsl_python  # noqa: F401  (parsl_python: the fixture)
from .test_parsl_db import parsl_view

pytestmark = pytest.mark.timeout(600)


class Observer(threading.Thread):
    """An independent reader that notes when each status row first became visible
    (a query every 20 ms): the time the follower's delay is measured from."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.db = db
        self.first_seen: dict[tuple, float] = {}
        self.stop = threading.Event()

    def run(self):
        mark = 0
        conn = None
        while not self.stop.wait(0.02):
            try:
                if conn is None:
                    conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=0.01)
                rows = conn.execute("SELECT rowid, run_id, task_id, try_id, task_status_name FROM status "
                                    "WHERE rowid > ?", (mark,)).fetchall()
            except sqlite3.Error:
                conn = None
                continue
            now = time.monotonic()
            for rowid, *key in rows:
                mark = max(mark, rowid)
                self.first_seen.setdefault(tuple(key), now)
        if conn is not None:
            conn.close()


def follow(src: ParslDbSource, store: Store, delivered: dict, until, timeout: float) -> None:
    """Run the follower as the ingest thread would, noting when each status row was delivered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until():
        for d in src.step():
            if d["event"] == pe.STATUS:
                delivered.setdefault((d["run_id"], d["task_id"], d["try_id"], d["task_status_name"]),
                                     time.monotonic())
            store.apply(decode(d))
        time.sleep(src.poll_seconds)


def test_a_real_run_followed_live(tmp_path, parsl_python, child_env):  # noqa: F811
    run = ParslRun(parsl_python, tmp_path / "run")
    src = ParslDbSource(str(run.db), follow=True)
    store = Store()
    delivered: dict[tuple, float] = {}
    seen_live: set[str] = set()
    writers_while_running = []
    observer = Observer(run.db)
    observer.start()
    try:
        def ended() -> bool:
            for wf in store.workflows.values():
                r = pm.run_of(wf)
                seen_live.update(t.state for t in r.tasks.values() if not r.ended)
                if run.db.exists() and len(writers_while_running) < 3 and not r.ended:
                    writers_while_running.append(db_writers(str(run.db)))
            return run.proc.poll() is not None and any(pm.run_of(w).ended for w in store.workflows.values())

        follow(src, store, delivered, ended, timeout=300)
        assert run.wait(30) == 0, run.output()
        # Parsl's DB manager is a process of its own: on a loaded machine it may still commit the
        # run's end after the workflow's process has exited, so wait for the writer to go first
        follow(src, store, delivered, lambda: db_writers(str(run.db)) == 0, timeout=30)
        follow(src, store, delivered, lambda: False, timeout=2)  # the last commits' re-reads
    finally:
        observer.stop.set()
        src.close()
        run.close()
    assert src.status.state != "error", src.status.message
    # followed live: tasks were seen on their way, not only at their end
    assert {pe.PENDING, pe.RUNNING} <= seen_live, seen_live
    assert writers_while_running and all(n == 1 for n in writers_while_running), writers_while_running
    assert db_writers(str(run.db)) == 0

    # the follower's view is a fresh read's
    fresh = read_store(str(run.db))
    assert parsl_view(store) == parsl_view(fresh)
    (wf,) = fresh.workflows.values()
    r = pm.run_of(wf)
    c = pm.task_counts(r)
    assert (c["succeeded"], c["failed"], c["dep_fail"], c["running"], c["pending"]) == (15, 2, 1, 0, 0)
    assert c["retries"] == 2 and (r.db_completed, r.db_failed) == (15, 2)
    assert overall_exit(fresh, time.time()) == EXIT_FAILED
    by_app = {t.job.transformation: t for t in r.tasks.values()}
    assert by_app["bash_fail"].job.exit_code == 3 and by_app["bash_fail"].tries[1].state == pe.FAILED
    assert pm.failure_cause(r, by_app["after"]) == [by_app["flaky"].task_id]
    assert by_app["fan_in"].state == pe.EXEC_DONE and by_app["fan_in"].job.type_desc == "join_app"
    facts = pm.task_facts(by_app["bash_fail"].job)
    assert "failing now" in facts["stderr"]["text"] and "about to fail" in facts["stdout"]["text"]
    burns = [t for t in r.tasks.values() if t.job.transformation == "burn" and t.job.series is not None]
    assert any(t.job.series.totals()[0] > 0.5 for t in burns)  # a 1.5 s busy loop's CPU, not the worker's

    # new rows within a second of their commit (the follower polls every 0.5 s)
    lags = sorted(delivered[k] - observer.first_seen[k] for k in delivered if k in observer.first_seen)
    assert len(lags) > 50
    assert lags[int(0.95 * (len(lags) - 1))] <= 1.0, lags[-10:]

    # --once on the finished DB says the same, as a fresh read
    proc = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", "--once", "--json", str(tmp_path / "run")],
                          capture_output=True, text=True, env=child_env(), timeout=120)
    assert proc.returncode == EXIT_FAILED, proc.stderr
    (w,) = json.loads(proc.stdout)["workflows"]
    assert w["state"] == "failed" and w["tasks"] == c and w["stalled"] is None


def test_a_killed_run_is_killed_not_running(tmp_path, parsl_python, child_env):  # noqa: F811
    run = ParslRun(parsl_python, tmp_path / "run", "--hang")
    src = ParslDbSource(str(run.db), follow=True)
    store = Store()

    def napping() -> bool:
        for wf in store.workflows.values():
            r = pm.run_of(wf)
            if any(t.job.transformation == "nap" and t.state == pe.RUNNING for t in r.tasks.values()):
                return True
        return False

    try:
        follow(src, store, {}, napping, timeout=240)
        assert napping(), run.output()
        (wf,) = store.workflows.values()
        r = pm.run_of(wf)
        assert pm.run_state(r, time.time()) == "running"  # alive: running, whatever its silences
        killed_at = time.time()
        run.kill()
        assert db_writers(str(run.db)) == 0
        # the follower goes on: it looks for the writer once the DB is quiet, and the rule waits
        # for silence beyond the run's cadence (1 s resource samples while a task runs: 30 s floor)
        follow(src, store, {}, lambda: stall(store, wf, time.time()) is not None, timeout=pm.STALL_FLOOR + 30)
    finally:
        src.close()
        run.close()
    st = stall(store, wf, time.time())
    assert st is not None and st.kind == "killed", st
    assert killed_at - 3 <= st.since <= killed_at  # the last row came before the kill
    assert pm.run_state(r, time.time()) == "killed" and not r.ended
    assert overall_exit(store, time.time()) == EXIT_STALLED

    proc = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", "--once", "--json", str(run.db)],
                          capture_output=True, text=True, env=child_env(), timeout=120)
    assert proc.returncode == EXIT_STALLED, proc.stderr
    (w,) = json.loads(proc.stdout)["workflows"]
    assert w["state"] == "killed" and w["stalled"]["kind"] == "killed" and w["end"] is None
    assert w["tasks"]["running"] == 1 and w["tasks"]["succeeded"] == 5
