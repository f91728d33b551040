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


def test_text_that_is_not_utf8(hier_copy):
    """Read with U+FFFD from the start, each such value a warning: as sql_stats' second read."""
    db = hier_copy(lambda conn: conn.execute("UPDATE job SET exec_job_id = CAST(X'6375726CFF5F4944' AS TEXT) "
                                             "WHERE job_id = 1"))
    mine: list = []
    theirs: list = []
    got = streamed(db, warnings=mine)
    assert got == whole(db, warnings=theirs)
    assert "curl\ufffd_ID" in got and mine and set(mine) == set(theirs)


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
