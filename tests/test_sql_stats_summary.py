"""sql_stats' summary alone (``panorama-top --stats``): the same figures as the full answer's.

``summary_statistics_db`` computes the summary with a few passes that have one row out each
(instances retried and sub-workflow jobs taken off sums over every instance, task ids that
occur once counted without a sort); ``all_statistics_db`` counts the same jobs from every
instance's row in Python.  The two must agree on every DB, and the summary text must be the
real pegasus-statistics' on a DB with what the shared runs lack: retried and failed
sub-workflow jobs, a task retried with another exit code, integrity-error tags, orphan rows.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from benchmarks.bench_stats import close
from panorama_tui.stats import sql_stats as S

from .test_pegstats import LA
from .test_sqlstats import ROOT_WF, SUB_WF, db_of
from .test_stampede_db import RUNS

pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite")

HIER = "hierarchical_wf_success"


def same_summary(db: str, wf_uuid: str | None = None) -> dict:
    got = S.summary_statistics_db(db, wf_uuid)
    want = S.all_statistics_db(db, wf_uuid, tz=LA)
    assert set(got) == {"summary", "integrity"}
    assert close(got["summary"], want["summary"]), (got["summary"], want["summary"])
    assert got["integrity"] == want["integrity"]
    return got["summary"]


@pytest.mark.parametrize("run", RUNS)
def test_the_shared_runs(replay_dir, run):
    same_summary(str(db_of(replay_dir, run)))


def test_a_sub_workflow_on_its_own(shared_data):
    db = str(shared_data / "pegasus" / "submitdirs" / HIER / "hierarchical-workflow-0.stampede.db")
    assert same_summary(db, SUB_WF)["wf_uuid"] == SUB_WF
    same_summary(db, ROOT_WF)


def test_the_generated_run_with_retries_and_failures(tmp_path):
    from benchmarks import bench_stats

    db = str(tmp_path / "generated.stampede.db")
    bench_stats.write_stampede_db(db, bench_stats.run_events(400))
    s = same_summary(db)
    assert s["jobs"]["retries"] > 0 and s["cumulative_job_badput"] > 0


def _retried(conn) -> None:
    """The sub-workflow job retried and failed (with integrity errors); a compute job retried,
    its task failing the second time; a compute job's first try failed, its retry passing; a
    clustered-like instance that ran one task twice."""
    new_id = conn.execute("SELECT max(job_instance_id) FROM job_instance").fetchone()[0]
    cols = ("job_id, host_id, job_submit_seq, sched_id, site, user, work_dir, cluster_start, cluster_duration, "
            "local_duration, subwf_id, stdout_file, stdout_text, stderr_file, stderr_text, stdin_file, "
            "multiplier_factor, exitcode")

    def retry(job_instance_id: int, exitcode: int, inv_exitcode: int | None) -> int:
        nonlocal new_id
        new_id += 1
        seq = conn.execute("SELECT max(job_submit_seq) + 1 FROM job_instance").fetchone()[0]
        conn.execute(f"INSERT INTO job_instance (job_instance_id, {cols}) SELECT ?, "
                     + cols.replace("job_submit_seq", "?").replace("exitcode", "?")
                     + " FROM job_instance WHERE job_instance_id = ?", (new_id, seq, exitcode, job_instance_id))
        if inv_exitcode is not None:
            conn.execute("INSERT INTO invocation (wf_id, job_instance_id, task_submit_seq, start_time, remote_duration,"
                         " remote_cpu_time, exitcode, transformation, executable, argv, abs_task_id, maxrss, avg_cpu)"
                         " SELECT wf_id, ?, task_submit_seq, start_time + 100, remote_duration + 1, remote_cpu_time, ?,"
                         " transformation, executable, argv, abs_task_id, maxrss, avg_cpu FROM invocation"
                         " WHERE job_instance_id = ?", (new_id, inv_exitcode, job_instance_id))
        return new_id

    def latest_of(type_desc: str, n: int) -> list[int]:
        return [r[0] for r in conn.execute(
            "SELECT ji.job_instance_id FROM job_instance ji JOIN job j ON j.job_id = ji.job_id "
            "WHERE j.type_desc = ? AND ji.job_instance_id IN (SELECT job_instance_id FROM invocation "
            "WHERE abs_task_id IS NOT NULL) ORDER BY ji.job_instance_id LIMIT ?", (type_desc, n))]

    (dax,) = latest_of("dax", 1)
    failed_sub = retry(dax, 1, 256)
    conn.execute("INSERT INTO tag (wf_id, job_instance_id, name, count) SELECT j.wf_id, ?, 'int.error', 2 "
                 "FROM job j JOIN job_instance ji ON ji.job_id = j.job_id WHERE ji.job_instance_id = ?",
                 (failed_sub, failed_sub))
    first, second, third = latest_of("compute", 3)
    retry(first, 1, 256)  # fails the second time
    conn.execute("UPDATE job_instance SET exitcode = 1 WHERE job_instance_id = ?", (second,))
    conn.execute("UPDATE invocation SET exitcode = 256 WHERE job_instance_id = ?", (second,))
    passed = retry(second, 0, 0)  # failed first, passes on its retry
    conn.execute("INSERT INTO tag (wf_id, job_instance_id, name, count) SELECT j.wf_id, ?, 'int.error', 1 "
                 "FROM job j JOIN job_instance ji ON ji.job_id = j.job_id WHERE ji.job_instance_id = ?",
                 (passed, passed))
    # the same task twice in one instance (task_submit_seq apart): one task, one retry
    conn.execute("INSERT INTO invocation (wf_id, job_instance_id, task_submit_seq, start_time, remote_duration,"
                 " remote_cpu_time, exitcode, transformation, executable, argv, abs_task_id, maxrss, avg_cpu)"
                 " SELECT wf_id, job_instance_id, task_submit_seq + 10, start_time, remote_duration, remote_cpu_time,"
                 " exitcode, transformation, executable, argv, abs_task_id, maxrss, avg_cpu FROM invocation"
                 " WHERE job_instance_id = ? AND abs_task_id IS NOT NULL", (third,))


@pytest.fixture
def retried_db(tmp_path, shared_data) -> str:
    db = tmp_path / "hierarchical-workflow-0.stampede.db"
    shutil.copyfile(shared_data / "pegasus" / "submitdirs" / HIER / db.name, db)
    with sqlite3.connect(db) as conn:
        _retried(conn)
    conn.close()
    return str(db)


def test_retries_failures_and_integrity_errors(retried_db):
    s = same_summary(retried_db)
    assert s["sub_workflows"]["retries"] == 1 and s["sub_workflows"]["failed"] == 1
    assert s["jobs"]["retries"] == 2 and s["tasks"]["retries"] >= 3
    same_summary(retried_db, SUB_WF)


def _pegasus_statistics_text(db: str, tmp_path, uuid: str) -> str:
    import Pegasus

    props = tmp_path / "stats.properties"
    props.write_text(f"pegasus.monitord.output = sqlite:///{db}\n")
    script = os.path.join(os.path.dirname(Pegasus.__file__), "cli", "pegasus-statistics.py")
    out = tmp_path / "text"
    proc = subprocess.run([sys.executable, script, "-s", "summary", "-o", str(out), "-c", str(props), "-u", uuid],
                          env=dict(os.environ, TZ="America/Los_Angeles", HOME=str(tmp_path)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (out / "summary.txt").read_text()
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith("#")).strip("\n")


def test_summary_text_is_pegasus_statistics_text_with_retries_and_integrity_errors(retried_db, tmp_path):
    """The real pegasus-statistics, run on the same changed DB, prints the same text, its
    integrity-error lines included (the total of the tags; the failed sub-workflow job
    whose latest instance has them)."""
    pytest.importorskip("Pegasus")
    got = S.summary_text(retried_db)
    assert "A total of 3 integrity errors" in got and "Failures: 1 job failures" in got
    assert got == _pegasus_statistics_text(retried_db, tmp_path, ROOT_WF)


def _orphans(conn) -> None:
    """An instance whose job is gone and an invocation whose instance is gone (no foreign
    keys enforced: a DB edited by hand, or cut short)."""
    conn.execute("INSERT INTO job_instance (job_instance_id, job_id, job_submit_seq, multiplier_factor, exitcode, "
                 "local_duration) VALUES (9001, 9999, 1, 1, 0, 50)")
    conn.execute("INSERT INTO invocation (wf_id, job_instance_id, task_submit_seq, start_time, remote_duration, "
                 "exitcode, transformation, executable, abs_task_id) "
                 "VALUES (1, 9002, 1, 1600000000, 5, 0, 'x', '/bin/x', 'ID_ORPHAN')")
    conn.execute("INSERT INTO invocation (wf_id, job_instance_id, task_submit_seq, start_time, remote_duration, "
                 "exitcode, transformation, executable, abs_task_id) "
                 "SELECT wf_id, 9002, 2, start_time, 1, 0, 'x', '/bin/x', abs_task_id FROM invocation "
                 "WHERE abs_task_id IS NOT NULL LIMIT 1")


def test_orphan_rows(tmp_path, shared_data):
    """Orphans count as in the full answer: an orphan instance in no job count (but in the
    submit side's sums), an orphan invocation's task id counted but never latest."""
    db = tmp_path / "hierarchical-workflow-0.stampede.db"
    shutil.copyfile(shared_data / "pegasus" / "submitdirs" / HIER / db.name, db)
    before = S.summary_statistics_db(str(db))["summary"]
    with sqlite3.connect(db) as conn:
        _orphans(conn)
    conn.close()
    s = same_summary(str(db))
    assert s["jobs"] == before["jobs"]
    # the orphan invocation of a known task is a retry of it; ID_ORPHAN's neither succeeded nor failed
    assert s["tasks"]["retries"] == before["tasks"]["retries"] + 1
    assert s["tasks"]["total_with_retries"] == before["tasks"]["total_with_retries"] + 1
    assert s["submit_side_wall_time"] == pytest.approx(before["submit_side_wall_time"] + 50)
    same_summary(str(db), SUB_WF)


def test_one_connection_or_two_the_same(retried_db, monkeypatch):
    two = S.summary_statistics_db(retried_db)
    monkeypatch.setattr(S._Reader, "second", lambda self: None)
    assert S.summary_statistics_db(retried_db) == two


def test_an_open_connection_keeps_its_settings(retried_db):
    conn = sqlite3.connect(f"file:{retried_db}?mode=ro", uri=True)
    conn.execute("PRAGMA cache_size = -1000")
    got = S.summary_statistics_db(conn)
    assert conn.execute("PRAGMA cache_size").fetchone() == (-1000,)
    conn.close()
    assert got == S.summary_statistics_db(retried_db)


@pytest.mark.parametrize("not_utf8", [False, True], ids=["text", "not-utf8"])
def test_repeated_task_ids_listed_or_found_again_the_same(retried_db, monkeypatch, not_utf8):
    """The task ids that occur more than once go into the task counts' statements as a list of
    their bytes (hex), or as the subquery past _REPEATED_INLINE_MAX: the same counts, a task id
    that is not UTF-8 among them too (its bytes, not a decoding of them)."""
    if not_utf8:
        with sqlite3.connect(retried_db) as conn:
            task = conn.execute(f"SELECT abs_task_id FROM ({S._REPEATED}) LIMIT 1").fetchone()[0]
            conn.execute("UPDATE invocation SET abs_task_id = CAST(X'6964FF' AS TEXT) WHERE abs_task_id = ?", (task,))
        conn.close()
    conn = sqlite3.connect(f"file:{retried_db}?mode=ro", uri=True)
    conn.text_factory = bytes
    listed = S._repeated_task_ids(conn)
    assert listed.startswith("CAST(X'") and (not not_utf8 or "CAST(X'6964FF' AS TEXT)" in listed)
    tree = S._Tree(conn, None, "DB")
    got = S._task_counts(conn, tree)
    monkeypatch.setattr(S, "_REPEATED_INLINE_MAX", 0)
    assert S._repeated_task_ids(conn) == S._REPEATED
    assert S._task_counts(conn, tree) == got
    conn.close()
    assert sum(c[3] for c in got.values()) >= 3  # retries: the repeated task ids counted once each
