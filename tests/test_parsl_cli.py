"""panorama-top and panorama-collect on Parsl's monitoring DB, as real processes:
--once / --json / --report, their exit statuses, times in the reader's zone, bad input
in one line, and a run relayed through the real broker, recorded and replayed."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys

import pytest

from panorama_tui.core import parsl_events as pe
from panorama_tui.pipeline.read import read_parsl_db as read_store

from .broker import url_for, wait_until
from .test_collect import _collect, _env, _recorded_store, _spawn
from .test_parsl_db import RUN1, RUN2, parsl_view


def cli(child_env, *args, cwd=None, env=None, timeout=120):
    e = child_env()
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)], capture_output=True,
                          text=True, env=e, cwd=cwd, timeout=timeout)


def one_line(stderr: str) -> str:
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    return stderr


def test_once_json(child_env, shared_data):
    db = shared_data / "parsl" / "monitoring.db"
    proc = cli(child_env, "--once", "--json", db)
    assert proc.returncode == 1, proc.stderr  # tasks failed
    d = json.loads(proc.stdout)
    assert d["exit_status"] == 1 and d["bad_records"] == d["unknown_events"] == d["warnings"] == 0
    runs = {w["run_id"]: w for w in d["workflows"]}
    assert set(runs) == {RUN1, RUN2}
    w = runs[RUN1]
    assert w["kind"] == "parsl" and w["state"] == "failed" and w["label"] == "panorama-top-demo"
    assert w["tasks"] == {"succeeded": 44, "memo_done": 0, "failed": 5, "dep_fail": 3, "running": 0, "pending": 0,
                          "total": 52, "retries": 5}
    assert w["db_counts"] == {"tasks_completed_count": 44, "tasks_failed_count": 5}
    assert w["start"] == "2026-11-21T05:29:26Z" and w["end"] == "2026-11-21T05:30:00Z"  # the DB's text, TZ=UTC here
    by_id = {f["task_id"]: f for f in w["failed_tasks"]}
    assert by_id[34]["exitcode"] == 3 and by_id[39]["caused_by"] == [36] and by_id[39]["state"] == "dep_fail"


def test_once_text_and_a_runinfo_dir_as_the_current_dir(child_env, shared_data, tmp_path):
    (tmp_path / "runinfo").mkdir()
    shutil.copy(shared_data / "parsl" / "monitoring-run000-only.db", tmp_path / "runinfo" / "monitoring.db")
    proc = cli(child_env, "--once", cwd=tmp_path)  # no PATH: the run of the dir it is started in
    assert proc.returncode == 1, proc.stderr
    assert "panorama-top-demo" in proc.stdout and "DEP_FAIL task 39 (downstream_of_failure)" in proc.stdout
    assert "caused by task 36" in proc.stdout


def test_exit_0_for_a_run_without_failures(child_env, tmp_path, shared_data):
    """The first run's failures taken out (their rows deleted): every task done, exit 0."""
    p = tmp_path / "monitoring.db"
    shutil.copy(shared_data / "parsl" / "monitoring-run000-only.db", p)
    with sqlite3.connect(p) as conn:
        bad = [r[0] for r in conn.execute("SELECT DISTINCT task_id FROM status WHERE task_status_name IN "
                                          "('failed', 'dep_fail')")]
        for table in ("task", "try", "status", "resource"):
            conn.execute(f'DELETE FROM "{table}" WHERE task_id IN ({",".join(map(str, bad))})')
    proc = cli(child_env, "--once", "--json", p)
    assert proc.returncode == 0, proc.stdout
    (w,) = json.loads(proc.stdout)["workflows"]
    assert w["state"] == "succeeded" and w["tasks"]["succeeded"] == 44 and w["tasks"]["total"] == 44


def test_times_are_the_writers_local_time(child_env, shared_data):
    """Parsl writes naive local time: read in another zone, the same text is another instant,
    and the screen's clock shows the DB's own text in either."""
    db = shared_data / "parsl" / "monitoring-run000-only.db"
    utc = json.loads(cli(child_env, "--once", "--json", db, env={"TZ": "UTC"}).stdout)["workflows"][0]
    chicago = json.loads(cli(child_env, "--once", "--json", db,
                             env={"TZ": "America/Chicago"}).stdout)["workflows"][0]
    assert utc["start"] == "2026-11-21T05:29:26Z"
    assert chicago["start"] == "2026-11-21T11:29:26Z"  # 05:29 in Chicago (UTC-6 in November)
    shown = subprocess.run(
        [sys.executable, "-c", "from panorama_tui.pipeline.read import read_parsl_db as read_store; "
         "from panorama_tui.core.fmt import "
         "clock_time; s = read_store(%r); print(clock_time(s.workflows[%r].start_ts))" % (str(db), RUN1)],
        capture_output=True, text=True, env={**child_env(), "TZ": "America/Chicago"}, timeout=60)
    assert shown.stdout.strip() == "2026-11-21 05:29:26"


def test_report(child_env, shared_data):
    db = shared_data / "parsl" / "monitoring-run000-only.db"
    proc = cli(child_env, "--report", db)
    assert proc.returncode == 1
    assert "Workflow Status    : failed" in proc.stdout and "# tasks dep_fail   :      3" in proc.stdout
    assert "=== task 34 (bash_fail)  FAILED  exit 3" in proc.stdout
    assert "caused by: task 38 (dependency failed)" in proc.stdout
    proc = cli(child_env, "--report", "--json", db)
    (w,) = json.loads(proc.stdout)["workflows"]
    assert [f["task_id"] for f in w["failed_tasks"]] == [34, 35, 36, 37, 38, 39, 40, 41]
    f = w["failed_tasks"][0]
    assert f["tries"][0]["exception"] == "BashExitFailure('bash_fail', 3)" and f["tries"][1]["state"] == "failed"
    assert f["stdout"]["path"] == "/home/scientist/parsl-run/app-out/bfail0.out" and f["stdout"]["text"] is None


@pytest.mark.parametrize("case", ["other schema", "truncated", "no runinfo", "stats"])
def test_bad_input_is_one_line_and_exit_3(child_env, tmp_path, shared_data, case):
    db = shared_data / "parsl" / "monitoring-run000-only.db"
    p = tmp_path / "monitoring.db"
    args = ["--once", p]
    if case == "other schema":
        shutil.copy(db, p)
        with sqlite3.connect(p) as conn:
            conn.execute("DROP TABLE task")
        want = "no task table"
    elif case == "truncated":
        p.write_bytes(db.read_bytes()[:30_000])
        want = "truncated or corrupt"
    elif case == "no runinfo":
        args = ["--once", tmp_path]
        want = "not a Pegasus submit directory, nor runinfo/monitoring.db of a Parsl run"
    else:
        shutil.copy(db, p)
        args = ["--stats", p]
        want = "--once gives a Parsl run's"
    proc = cli(child_env, *args)
    assert proc.returncode == 3
    assert want in one_line(proc.stderr)


def test_a_locked_db_is_one_line_and_exit_3(child_env, tmp_path, shared_data):
    """Parsl's writer holds its lock for milliseconds: one held for 10 s is a reader's open write
    transaction; --once says so rather than wait for ever."""
    p = tmp_path / "monitoring.db"
    shutil.copy(shared_data / "parsl" / "monitoring-run000-only.db", p)
    holder = sqlite3.connect(p, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        proc = cli(child_env, "--once", p)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.returncode == 3
    assert "locked for over 10 s by another process" in one_line(proc.stderr)


def test_help_says_parsl(child_env):
    out = " ".join(cli(child_env, "--help").stdout.split())  # argparse wraps lines
    assert "Parsl monitoring.db" in out and "killed when its writer" in out


# -- relay -> broker -> record -> replay ----------------------------------------------------


@pytest.mark.broker
def test_a_parsl_run_relayed_recorded_and_replayed(admin, tmp_path, shared_data):
    """panorama-collect relay publishes the DB as parsl.* events; a recorder elsewhere (default
    bindings) gets every one; the recording replays into the store a fresh read builds."""
    db = shared_data / "parsl" / "monitoring.db"
    ex = admin.exchange()
    url = url_for(ex)
    out = tmp_path / "r.panorama.db"
    log = tmp_path / "record.log"
    rec = _spawn(tmp_path, "record", "--amqp", url, "--out", str(out), "--log", str(log), "--stats-every", "0.5")
    try:
        assert wait_until(lambda: log.exists() and "link connected" in log.read_text(), 20)
        r = _collect(tmp_path, "relay", str(db), "--amqp", url, "--no-follow", "--spool", str(tmp_path / "s.db"))
        assert r.returncode == 0, r.stderr
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            n = sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in pe.EVENT_OF_TABLE)
        assert wait_until(lambda: f"recorded {n}," in log.read_text(), 30), log.read_text()[-1500:]
    finally:
        rec.send_signal(signal.SIGTERM)
        assert rec.wait(20) == 0
    store, rows = _recorded_store(out)
    assert rows == n and store.bad_count == 0 and not store.unknown
    assert parsl_view(store) == parsl_view(read_store(str(db)))
    once = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", "--once", "--json", str(out)],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert once.returncode == 1, once.stderr
    direct = json.loads(subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", "--once", "--json", str(db)],
                                       env=_env(tmp_path), capture_output=True, text=True, timeout=60).stdout)
    assert json.loads(once.stdout)["workflows"] == direct["workflows"]
