"""``--once`` of a Parsl monitoring DB computed in the DB (stats/parsl_sql_once.py) says exactly
what the store path says: on every shared Parsl DB (complete runs, live snapshots), generated ones
(a few thousand tasks read row by row, more read by the bulk reader, several runs, a killed run,
snapshots taken while one is written), in JSON and in text, with the same exit status, at clocks
where a run has stalled or not, with and without its writer's process."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest

from panorama_tui.cli import top
from panorama_tui.model.handlers import parsl as ph
from panorama_tui.model.store import Store
from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.parsl import monitoring_db as mdb
from panorama_tui.stats import once, parsl_sql_once, sql_once


def _store_path(db: Path, now, writers):
    src = mdb.ParslDbSource(str(db), follow=False, writers=writers)
    store = run_to_end(src, Store())
    assert src.status.state != "error", src.status.message
    return (once.render_json(store, str(db), now), once.render_text(store, str(db), now),
            once.overall_exit(store, now)), store


def _sql_path(db: Path, now, writers):
    got = parsl_sql_once.once_from_db(str(db), mdb, str(db), now, None, writers)
    assert got is not None, f"{db}: the SQL path left it to the store"
    d, lines = got
    text = once.text_of(d, str(db), lambda u: 0, lambda u: (), lambda w: lines[w["run_id"]])
    return json.dumps(d, indent=2), text, d["exit_status"]


def _clocks(store: Store) -> list:
    """No clock, now, and clocks around each run's stall threshold (its last activity + 29, 31 and
    1,000 s: the floor is 30 s), where the stall rule and its pace decide."""
    out: list = [None, 2e9]
    for wf in store.workflows.values():
        run = ph.run_of(wf)
        if run is not None and not run.ended and run.last_activity is not None:
            out += [run.last_activity + d for d in (29.0, 31.0, 1000.0)]
    return out


def _same(db: Path, writers_found=(None,)) -> None:
    """Both paths at every clock of _clocks; ``writers_found``: what the writer's search finds
    (None: no /proc to look in; 0: the writer gone; 1: it is there), asked for runs written here."""
    for n in writers_found:
        def writers(path, n=n):
            return n

        _, store = _store_path(db, None, writers)
        for now in _clocks(store):
            want = (once.render_json(store, str(db), now), once.render_text(store, str(db), now),
                    once.overall_exit(store, now))
            assert _sql_path(db, now, writers) == want, f"{db} at {now} (writers {n}): the SQL path differs"


def _here(src: Path, dst: Path, samples: bool = True) -> Path:
    """A copy whose runs were written on this host (the writer is looked for), maybe without
    resource samples (a run without resource monitoring: its stall is timed by its pace)."""
    shutil.copy(src, dst)
    conn = sqlite3.connect(dst)
    conn.execute("UPDATE workflow SET host = ?", (socket.gethostname(),))
    if not samples:
        conn.execute("DELETE FROM resource")
    conn.commit()
    conn.close()
    return dst


def _parsl_dbs(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "parsl").rglob("*.db"))


def test_every_shared_parsl_db(shared_data):
    dbs = _parsl_dbs(shared_data)
    assert len(dbs) >= 6
    for db in dbs:
        _same(db)


def test_shared_runs_written_here_without_samples(shared_data, tmp_path):
    for db in _parsl_dbs(shared_data):
        _same(_here(db, tmp_path / f"{db.stem}-here.db"), (0, 1))
        _same(_here(db, tmp_path / f"{db.stem}-nores.db", samples=False), (None, 0))


@pytest.mark.parametrize("older", [
    ("DROP TABLE try", "DROP TABLE resource", "ALTER TABLE node DROP COLUMN last_heartbeat",
     "ALTER TABLE node DROP COLUMN uid"),  # a Parsl before the try table, without resource monitoring
    ("ALTER TABLE status DROP COLUMN try_id",),  # before status.try_id: one try a task
    ("DROP TABLE node", "DROP TABLE block"),  # no blocks, no managers
])
def test_older_schemas(shared_data, tmp_path, older):
    for db in (shared_data / "parsl" / "monitoring.db",
               shared_data / "parsl" / "live-snapshots-run001" / "snapshot_t012s.db"):
        copy = tmp_path / f"older-{db.stem}.db"
        shutil.copy(db, copy)
        conn = sqlite3.connect(copy)
        for sql in older:
            conn.execute(sql)
        conn.commit()
        conn.close()
        _same(copy)
        _same(_here(copy, tmp_path / f"older-{db.stem}-here.db"), (0,))


def test_tries_without_status_rows(shared_data, tmp_path):
    """A run without its end whose retried tasks' latest tries have no status row yet (a live
    DB between two commits): those tasks have no state and count their try rows as tries."""
    db = tmp_path / "tries.db"
    shutil.copy(shared_data / "parsl" / "monitoring.db", db)
    conn = sqlite3.connect(db)
    retried = conn.execute("SELECT run_id, task_id FROM try WHERE try_id = 1 ORDER BY run_id, task_id").fetchall()
    assert len(retried) >= 3
    (r1, t1), (r2, t2), (r3, t3) = retried[:3]
    conn.execute("DELETE FROM status WHERE run_id = ? AND task_id = ? AND try_id = 1", (r1, t1))
    conn.execute("DELETE FROM status WHERE run_id = ? AND task_id = ?", (r2, t2))  # no status row at all
    conn.execute("DELETE FROM status WHERE run_id = ? AND task_id = ?", (r3, t3))
    conn.execute("DELETE FROM try WHERE run_id = ? AND task_id = ? AND try_id = 0", (r3, t3))  # try 1 only
    conn.execute("UPDATE workflow SET time_completed = NULL")
    conn.commit()
    conn.close()
    _same(db)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from benchmarks import generate_parsl as G

    d = tmp_path_factory.mktemp("parsl-gen")
    out = {}
    for name, n, kw in (("row", 3000, {}), ("row-killed", 3000, {"killed": True}), ("runs", 1500, {"runs": 3}),
                        ("bulk-killed", mdb.BULK_MIN_TASKS + 1000, {"killed": True})):
        out[name] = d / f"{name}.db"
        G.write(str(out[name]), n, **kw)
    # snapshots of a run being written (one commit a table a batch, as Parsl's DB manager commits)
    live = d / "live.db"
    for commits, _ in enumerate(G.write_live(str(live), 2000, runs=2), 1):
        if commits in (1, 2, 5, 40, 400, 1500, 2500):
            out[f"live-{commits}"] = d / f"live-{commits}.db"
            shutil.copy(live, out[f"live-{commits}"])
    return out


@pytest.mark.parametrize("name", ["row", "row-killed", "runs", "bulk-killed", "live-1", "live-2", "live-5",
                                  "live-40", "live-400", "live-1500", "live-2500"])
def test_generated_runs(generated, name, tmp_path):
    if name not in generated:
        pytest.skip(f"the generated run has fewer commits than {name}")
    _same(generated[name])
    if name in ("row-killed", "bulk-killed", "live-400", "live-2500"):  # read row by row, in bulk, while written
        _same(_here(generated[name], tmp_path / "here.db"), (0, 1))
        _same(_here(generated[name], tmp_path / "nores.db", samples=False), (None, 0))


def _cli(argv, store_path: bool, monkeypatch) -> tuple[int, str]:
    if store_path:
        monkeypatch.setenv(sql_once.FORCE_STORE_ENV, "1")
    else:
        monkeypatch.delenv(sql_once.FORCE_STORE_ENV, raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = top.main(argv)
    return code, out.getvalue()


def test_the_command_line_takes_the_sql_path(shared_data, generated, monkeypatch):
    calls = []
    real = parsl_sql_once.once_from_db

    def spy(*a, **kw):
        got = real(*a, **kw)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(parsl_sql_once, "once_from_db", spy)
    for db in (shared_data / "parsl" / "monitoring.db", generated["bulk-killed"]):
        for extra in (["--json"], []):
            argv = ["--once", *extra, str(db)]
            fast = _cli(argv, False, monkeypatch)
            slow = _cli(argv, True, monkeypatch)
            assert fast == slow, argv
    assert calls == [True] * 4  # the store path's runs did not ask it


def test_a_db_the_store_warns_about_is_left_to_the_store(shared_data, tmp_path, monkeypatch):
    db = tmp_path / "odd.db"
    shutil.copy(shared_data / "parsl" / "monitoring.db", db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE status SET task_status_name = 'exploded' WHERE rowid = 7")
    conn.commit()
    conn.close()
    assert parsl_sql_once.once_from_db(str(db), mdb, str(db), 2e9) is None
    fast = _cli(["--once", "--json", str(db)], False, monkeypatch)
    slow = _cli(["--once", "--json", str(db)], True, monkeypatch)
    assert fast == slow and json.loads(fast[1])["warnings"] == 1


def test_a_locked_db_is_the_store_paths_error(shared_data, tmp_path, monkeypatch):
    db = tmp_path / "locked.db"
    shutil.copy(shared_data / "parsl" / "monitoring.db", db)
    monkeypatch.setattr(mdb, "LOCK_PATIENCE", 0.3)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")  # a writer's open transaction (rollback journal: readers locked out)
    try:
        with pytest.raises(mdb.ParslDbError, match="locked for over 0.3 s"):
            parsl_sql_once.once_from_db(str(db), mdb, str(db), 2e9)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# Rows the SQL path must leave to the store (or answer as it does), in a DB of one run (the plain
# aggregates of _side) and of two (their GROUP BY run_id): each edit alone.
_ODD_ROWS = {
    "unknown state of a retried task": ("UPDATE status SET task_status_name = 'exploded' WHERE rowid = (SELECT "
                                        "min(rowid) FROM status WHERE try_id = 1)",),
    "status of a try past 0 without its try row": ("UPDATE status SET try_id = 1 WHERE rowid = (SELECT max(rowid) "
                                                   "FROM status WHERE task_id = (SELECT min(task_id) FROM task))",),
    "status try id that is text": ("UPDATE status SET try_id = 'x' WHERE rowid = 3",),
    "sample of no task": ("INSERT INTO resource (try_id, task_id, run_id, timestamp) SELECT 0, 99999, run_id, "
                          "'2030-01-01 00:00:00.000000' FROM workflow LIMIT 1",),
    "sample of a try id that is text": ("UPDATE resource SET try_id = 'x' WHERE rowid = 2",),
    "node of a run not in workflow": ("INSERT INTO node SELECT 99999, 'no-such-run', hostname, uid, block_id, cpu_count, "
                                      "total_memory, active, worker_count, python_v, '2030-01-01 00:00:00.000000', "
                                      "last_heartbeat FROM node LIMIT 1",),
    "try of no task": ("INSERT INTO try (try_id, task_id, run_id, task_executor) SELECT 0, 99999, run_id, 'htex' "
                       "FROM workflow LIMIT 1",),
    "task of a run not in workflow": ("INSERT INTO task (task_id, run_id, task_func_name, task_memoize, task_fail_count, "
                                      "task_fail_cost) VALUES (99999, 'no-such-run', 'f', '0', 0, 0)",),
}


@pytest.mark.parametrize("edit", sorted(_ODD_ROWS))
@pytest.mark.parametrize("name", ["monitoring-run000-only.db", "monitoring.db"])
def test_odd_rows_are_left_to_the_store_or_answered_alike(shared_data, tmp_path, edit, name):
    db = tmp_path / name
    shutil.copy(shared_data / "parsl" / name, db)
    conn = sqlite3.connect(db)
    for sql in _ODD_ROWS[edit]:
        assert conn.execute(sql).rowcount == 1, sql
    conn.commit()
    conn.close()
    got = parsl_sql_once.once_from_db(str(db), mdb, str(db), 2e9)
    if got is not None:
        _same(db)
