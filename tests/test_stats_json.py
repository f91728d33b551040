"""stats_json: ``--stats --json`` written as it is computed, the same text as the whole answer's.

``write_statistics_json`` streams the jobs.csv rows from SQL instead of holding them; what it
writes must be, byte for byte, ``dumps(json_units(all_statistics_db(...)))`` (what
``panorama-top --stats --json`` printed before), on the shared runs, on a DB with retries,
failures, integrity-error tags and orphan rows, for a sub-workflow alone, and when sql_stats
would answer another way (text that is not UTF-8, a multiplier that is not a number).
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3

import pytest

from panorama_tui.stats import sql_stats as S
from panorama_tui.stats import stats_json as J

from .test_pegstats import LA
from .test_sql_stats_summary import HIER, _orphans, _retried
from .test_sqlstats import ROOT_WF, SUB_WF, _clustered_and_multiplied, db_of
from .test_stampede_db import RUNS

pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite")


def streamed(db, wf=None, warnings=None) -> str:
    out = io.StringIO()
    J.write_statistics_json(db, out, wf, tz=LA, warnings=warnings)
    return out.getvalue()


def whole(db, wf=None, warnings=None) -> str:
    return J.dumps(S.json_units(S.all_statistics_db(db, wf, tz=LA, warnings=warnings)))


def same(db, wf=None) -> dict:
    got = streamed(db, wf)
    assert got == whole(db, wf)
    return json.loads(got)


@pytest.mark.parametrize("run", RUNS)
def test_the_shared_runs(replay_dir, run):
    same(str(db_of(replay_dir, run)))


@pytest.fixture
def hier_copy(tmp_path, shared_data):
    def make(*changes):
        db = tmp_path / "hierarchical-workflow-0.stampede.db"
        shutil.copyfile(shared_data / "pegasus" / "submitdirs" / HIER / db.name, db)
        with sqlite3.connect(db) as conn:
            for change in changes:
                change(conn)
        conn.close()
        return str(db)

    return make


def test_a_tree_of_workflows_and_each_alone(hier_copy):
    db = hier_copy()
    got = same(db)
    assert [w["wf_uuid"] for w in got["workflows"]] == [ROOT_WF, SUB_WF, "ALL"]
    assert list(got["jobs"]) == [ROOT_WF, SUB_WF] and all(got["jobs"].values())
    assert list(same(db, SUB_WF)["jobs"]) == [SUB_WF]


def test_retries_failures_tags_orphans_and_multipliers(hier_copy):
    db = hier_copy(_retried, _orphans, _clustered_and_multiplied)
    got = same(db)
    tries = [r["try"] for rows in got["jobs"].values() for r in rows]
    assert max(tries) == 2 and tries.count(2) == 3
    same(db, SUB_WF)


def test_a_workflow_with_no_instance_yet(hier_copy):
    db = hier_copy(lambda conn: conn.execute("DELETE FROM job_instance WHERE job_id IN "
                                             "(SELECT job_id FROM job WHERE wf_id = 2)"))
    assert same(db)["jobs"][SUB_WF] == []


def test_the_generated_run(tmp_path):
    from benchmarks import bench_stats

    db = str(tmp_path / "generated.stampede.db")
    bench_stats.write_stampede_db(db, bench_stats.run_events(300))
    same(db)


def test_a_generated_run_in_sub_workflows(tmp_path):
    """Each workflow's rows read through the indexes (its own instances and aggregates): the
    same text as the whole answer's, for the tree and for one sub-workflow."""
    from benchmarks import generate as G

    db = G.stampede_db(3000, None, outdir=str(tmp_path), subwfs=3)
    got = same(db)
    assert len(got["jobs"]) == 4 and sum(map(len, got["jobs"].values())) > 3000
    sub = got["workflows"][2]["wf_uuid"]
    assert list(same(db, sub)["jobs"]) == [sub]


# Text that is not UTF-8 (U+FFFD, each such value a warning: as sql_stats' second read), found
# where: the first row's job name; a later row's (sqlite3 decodes the text, the fast way, until
# then: the rows before it are written already, the rest is read with U+FFFD); a host name, read
# before anything is written (all of it read again with U+FFFD from the start).
_NOT_UTF8 = {
    "first row": ("UPDATE job SET exec_job_id = CAST(X'6375726CFF5F4944' AS TEXT) WHERE job_id = 1",
                  "curl\ufffd_ID", [{}]),
    "among the rows": ("UPDATE job SET exec_job_id = CAST(X'6375726CFF5F4944' AS TEXT) WHERE job_id = "
                       "(SELECT max(job_id) FROM job WHERE wf_id = 1)", "curl\ufffd_ID", [{}]),
    "before the rows": ("UPDATE host SET hostname = CAST(X'6E6F6465FF31' AS TEXT) WHERE host_id = 2",
                        "node\ufffd1", [{}, {"slow_text": True}]),
}


@pytest.mark.parametrize("where", list(_NOT_UTF8))
def test_text_that_is_not_utf8(hier_copy, monkeypatch, where):
    update, shown, passes_then = _NOT_UTF8[where]
    passes: list = []
    real = J._stream
    monkeypatch.setattr(J, "_stream", lambda *a, **k: passes.append(k) or real(*a, **k))
    db = hier_copy(lambda conn: conn.execute(update))
    mine: list = []
    theirs: list = []
    got = streamed(db, warnings=mine)
    assert got == whole(db, warnings=theirs)
    assert shown in got and mine and set(mine) == set(theirs)
    assert passes == passes_then


def test_a_multiplier_that_is_not_a_number(hier_copy):
    """sql_stats answers from the store there: the whole answer, written whole."""
    db = hier_copy(lambda conn: conn.execute("UPDATE job_instance SET multiplier_factor = 'x' "
                                             "WHERE job_instance_id = 4"))
    mine: list = []
    theirs: list = []
    assert streamed(db, warnings=mine) == whole(db, warnings=theirs)
    assert mine == theirs and any("row by row" in w for w in mine)


def test_bad_input_writes_nothing(tmp_path):
    out = io.StringIO()
    with pytest.raises(S.StatsDbError, match="no such file"):
        J.write_statistics_json(str(tmp_path / "nope.stampede.db"), out)
    assert out.getvalue() == ""


def test_an_open_connection(replay_dir):
    db = str(db_of(replay_dir, "process_wf_failure"))
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out = io.StringIO()
    J.write_statistics_json(conn, out, tz=LA)
    conn.close()
    assert out.getvalue() == whole(db)


def test_instances_out_of_submit_order(hier_copy, monkeypatch):
    """A workflow whose job_submit_seq goes down along the instance ids gets the sorting
    statement; in submit order (every DB here) the merged passes, which sort nothing."""
    sorted_ones: list = []
    real = J._write_jobs_sorted
    monkeypatch.setattr(J, "_write_jobs_sorted", lambda *a: sorted_ones.append(1) or real(*a))
    db = hier_copy(_retried)
    same(db)
    assert not sorted_ones
    # the root's first instance submitted last (its seq past every other's)
    swapped = hier_copy(_retried, lambda conn: conn.execute(
        "UPDATE job_instance SET job_submit_seq = 1000 WHERE job_instance_id = "
        "(SELECT min(ji.job_instance_id) FROM job_instance ji JOIN job j ON j.job_id = ji.job_id WHERE j.wf_id = 1)"))
    got = same(swapped)
    assert sorted_ones
    assert got["jobs"][ROOT_WF][-1]["job_inst_id"] == 1000


@pytest.mark.parametrize("feed_cpus", [1, 1000], ids=["feeds", "no-feeds"])
def test_rows_in_many_batches(tmp_path, monkeypatch, feed_cpus):
    """Batches of a few rows: the worker's feed (or this thread's read of the aggregates, with
    no core for a feed) and this thread's passes stay in step."""
    from benchmarks import bench_stats

    db = str(tmp_path / "generated.stampede.db")
    bench_stats.write_stampede_db(db, bench_stats.run_events(300))
    monkeypatch.setattr(J, "_FEED_MIN_CPUS", feed_cpus)
    monkeypatch.setattr(J, "_BATCH", 7)
    same(db)


class _Breaks(io.StringIO):
    def __init__(self, after: int):
        super().__init__()
        self.after = after

    def write(self, s):
        self.after -= 1
        if self.after < 0:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(s)


def test_a_write_that_fails_among_the_rows_stops_the_worker(tmp_path, monkeypatch):
    """The worker is feeding rows when the write fails: it is stopped, the error comes out."""
    import threading

    from benchmarks import bench_stats

    db = str(tmp_path / "generated.stampede.db")
    bench_stats.write_stampede_db(db, bench_stats.run_events(300))
    monkeypatch.setattr(J, "_FEED_MIN_CPUS", 1)  # the feeds, on any machine
    monkeypatch.setattr(J, "_BATCH", 5)
    before = threading.active_count()
    with pytest.raises(BrokenPipeError):
        J.write_statistics_json(db, _Breaks(4), tz=LA)
    assert threading.active_count() == before


def test_one_worker_when_a_third_connection_cannot_be_had(tmp_path, monkeypatch):
    """A writer waiting for the lock can refuse the third connection (and the feeds' own): the
    one worker computes every figure, this thread reads the rows' aggregates itself."""
    from benchmarks import bench_stats

    db = str(tmp_path / "generated.stampede.db")
    bench_stats.write_stampede_db(db, bench_stats.run_events(300))
    monkeypatch.setattr(J, "_another", lambda r: None)
    monkeypatch.setattr(J, "_FEED_MIN_CPUS", 1)  # the feeds, on any machine
    monkeypatch.setattr(J, "_BATCH", 5)
    same(db)


def test_a_wal_db_reads_on_one_connection(hier_copy):
    """WAL: a connection opened later may see later commits, so no worker and no feeds; the
    same text."""
    db = hier_copy(_retried, lambda conn: conn.execute("PRAGMA journal_mode = WAL"))
    same(db)


def test_a_submit_seq_that_is_not_a_number(hier_copy):
    """SQLite keeps 'x' in an INTEGER column; sql_stats answers such a DB from the store (its
    sort of the instances fails): the whole answer, written whole."""
    db = hier_copy(lambda conn: conn.execute("UPDATE job_instance SET job_submit_seq = 'x' WHERE job_instance_id = "
                                             "(SELECT min(job_instance_id) FROM job_instance)"))
    mine: list = []
    theirs: list = []
    assert streamed(db, warnings=mine) == whole(db, warnings=theirs)
    assert mine == theirs and any("row by row" in w for w in mine)


@pytest.mark.parametrize("hold", [1, 10**9], ids=["spilled", "in-memory"])
def test_rows_held_until_the_figures_are_known(tmp_path, monkeypatch, hold):
    """The rows are read while the workers compute the figures written before them: what they
    write meanwhile is held (past a few characters, in a temporary file) and written after the
    figures, the same text."""
    from benchmarks import bench_stats

    db = str(tmp_path / "generated.stampede.db")
    bench_stats.write_stampede_db(db, bench_stats.run_events(300))
    with sqlite3.connect(db) as conn:  # names of several bytes a character, cut across the file's pieces
        conn.execute("UPDATE job SET exec_job_id = exec_job_id || '_\u00e9\u2603\U0001f600'")
    conn.close()
    monkeypatch.setattr(J, "_HOLD_CHARS", hold)
    monkeypatch.setattr(J, "_COPY_BYTES", 3)
    monkeypatch.setattr(J, "_BATCH", 7)
    real = J._Figures.done
    seen: list = []
    # not known until the rows are all read: everything is held
    monkeypatch.setattr(J._Figures, "done", lambda self: seen.append(1) and False)
    got = same(db)
    assert seen and all(r["job_id"].endswith("_\u00e9\u2603\U0001f600") for rows in got["jobs"].values() for r in rows)
    monkeypatch.setattr(J._Figures, "done", real)
    same(db)
