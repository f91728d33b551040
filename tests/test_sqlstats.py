"""sqlstats: pegasus-statistics' numbers computed in the Stampede DB with SQL.

They must equal what the real ``pegasus-statistics -s all`` (5.1.3) wrote for
the shared runs (``statistics-csv``, ``statistics-text``), and what pegstats
computes from a store read from the same DB.  Where the two paths could part
(multipliers, clustered jobs, a job executed in two different hours, a
sub-workflow asked for on its own) a copy of a shared DB is changed with SQL
and both read the copy.  Bad input ends in :class:`StatsDbError`, and
``panorama-top --stats`` in exit status 3, with one line that says why.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from benchmarks.bench_stats import close  # floats to 1e-12 (sums in another order), the rest exactly
from panorama_tui.stats import store_stats as P
from panorama_tui.stats import sql_stats as S
from panorama_tui.pipeline.read import read_stampede_db as read_store

from .test_pegstats import LA, rows
from .test_stampede_db import DBS, RUNS

pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite")  # SQLAlchemy, when pegasus code reads a DB

ROOT_WF = "48f759a4-165f-47d6-8c32-571649ce311b"
SUB_WF = "160be601-bda4-45fb-86cd-9cf7a269bb22"
COUNT_KEYS = ("succeeded", "failed", "incomplete", "total", "retries", "total_with_retries")


def db_of(replay_dir, run):
    return replay_dir / run / DBS[run]


def norm(x):
    """Floats to 9 decimals (for answers that are the same computation)."""
    if isinstance(x, float):
        return round(x, 9)
    if isinstance(x, dict):
        return {k: norm(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [norm(v) for v in x]
    return x



def same_as_pegstats(got: dict, store, wf) -> None:
    want = P.all_statistics(store, wf, LA)
    assert set(got) == set(want)
    for key in want:
        assert close(got[key], want[key]), key


def check_against_csv(st: dict, csvdir, expected_summary) -> None:
    """Every figure of ``all_statistics_db``'s answer against a
    ``pegasus-statistics -s all -f csv`` output dir, string for string."""
    s = st["summary"]
    want = expected_summary(csvdir / "summary.csv")
    for k in ("tasks", "jobs", "sub_workflows"):
        assert {x: s[k][x] for x in want[k]} == want[k], k
    summary = {r[0]: r for r in rows(csvdir / "summary.csv")}
    for k, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
        assert s[k]["total_with_retries"] == int(summary[title][6])
    times = {r[0]: (float(r[1]) if r[1] else None) for r in rows(csvdir / "summary-time.csv")}
    for mine, theirs in (("workflow_wall_time", "workflow_wall_time"),
                         ("cumulative_job_wall_time", "workflow_cumulative_job_wall_time"),
                         ("submit_side_wall_time", "cumulative_job_walltime_from_submit_side"),
                         ("cumulative_job_badput", "workflow_cumulative_badput_time"),
                         ("submit_side_badput", "cumulative_job_badput_walltime_from_submit_side")):
        assert s[mine] == pytest.approx(times[theirs]), mine

    wfs = [(w["wf_uuid"], w["label"]) for w in st["workflows"] if w["wf_uuid"] != "ALL"]
    got = []
    for r in st["workflows"]:
        for key, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
            got.append([r["wf_uuid"], r["label"] or "", title] + [str(r[key][x]) for x in COUNT_KEYS]
                       + ["" if r["workflow_retries"] is None else str(r["workflow_retries"])])
    assert got == rows(csvdir / "workflow.csv")

    got = [[u, label] + P.format_breakdown(r) for u, label in wfs for r in st["breakdown"][u]]
    got += [["ALL", ""] + P.format_breakdown(r) for r in st["breakdown"]["ALL"]]
    assert got == rows(csvdir / "breakdown.csv")

    got = [[u, label] + P.format_job(r) for u, label in wfs for r in st["jobs"][u]]
    assert got == rows(csvdir / "jobs.csv")

    got = [[u, label] + P.format_integrity(r) for u, label in wfs for r in st["integrity"][u]]
    got += [["ALL", ""] + P.format_integrity(r) for r in st["integrity"]["ALL"]]
    assert got == rows(csvdir / "integrity.csv")

    def fmt(kind, r):
        return [kind, r["date"]] + ([r["host"]] if "host" in r else []) + [str(r["count"]), P.fstr(r["runtime"])]

    tph, tpd = st["per_host"], st["per_day"]
    got = [fmt("jobs/host/day", r) for r in tph["jobs"]] + [fmt("invocations/host/day", r) for r in tph["invocations"]]
    assert got == rows(csvdir / "time-per-host.csv")
    assert ([fmt("jobs/day", r) for r in tpd["jobs"]] + [fmt("invocations/day", r) for r in tpd["invocations"]]
            == rows(csvdir / "time.csv"))


# -- the shared runs -------------------------------------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_equals_pegasus_statistics_csv(replay_dir, expected_summary, run):
    st = S.all_statistics_db(str(db_of(replay_dir, run)), tz=LA)
    check_against_csv(st, replay_dir / run / "statistics-csv", expected_summary)


@pytest.mark.parametrize("run", RUNS)
def test_equals_pegstats_on_the_store_of_the_same_db(replay_dir, run):
    db = str(db_of(replay_dir, run))
    s = read_store(db)
    same_as_pegstats(S.all_statistics_db(db, tz=LA), s, s.roots[0])


@pytest.mark.parametrize("run", RUNS)
def test_summary_text_is_pegasus_statistics_text(replay_dir, run):
    """summary.txt without its ``#`` legend lines, character for character."""
    text = (replay_dir / run / "statistics-text" / "summary.txt").read_text()
    want = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#")).strip("\n")
    assert S.summary_text(str(db_of(replay_dir, run))) == want


def test_a_sub_workflow_on_its_own(replay_dir):
    """Asked for a sub-workflow, the figures are its own (and its descendants')."""
    db = str(db_of(replay_dir, "hierarchical_wf_success"))
    s = read_store(db)
    got = S.all_statistics_db(db, wf_uuid=SUB_WF, tz=LA)
    assert got["summary"]["wf_uuid"] == SUB_WF and list(got["jobs"]) == [SUB_WF]
    same_as_pegstats(got, s, s.workflows[SUB_WF])


def test_an_open_connection_is_read_and_left_open(replay_dir):
    db = str(db_of(replay_dir, "hierarchical_wf_success"))
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    got = S.all_statistics_db(conn, tz=LA)
    assert conn.execute("SELECT count(*) FROM workflow").fetchone() == (2,)
    conn.close()
    assert norm(got) == norm(S.all_statistics_db(db, tz=LA))


def test_one_connection_or_two_the_same(replay_dir, monkeypatch):
    """The aggregates run on a second connection in a worker thread when they
    can; on one connection, in turn, the answer is the same."""
    db = str(db_of(replay_dir, "process_wf_failure"))
    if (os.cpu_count() or 1) > 1:
        r = S._Reader(db)
        with r:
            assert r.second() is not None
    two = S.all_statistics_db(db, tz=LA)
    monkeypatch.setattr(S._Reader, "second", lambda self: None)
    assert norm(S.all_statistics_db(db, tz=LA)) == norm(two)


def test_a_wal_db_is_read_on_one_connection(tmp_path, replay_dir):
    """In WAL mode a reader that starts later may see later commits: no
    second connection, the same answer."""
    p = tmp_path / "wal.stampede.db"
    shutil.copyfile(db_of(replay_dir, "hierarchical_wf_success"), p)
    rw = sqlite3.connect(p)
    assert rw.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    r = S._Reader(str(p))
    with r:
        assert r.second() is None
    assert norm(S.all_statistics_db(str(p), tz=LA)) == norm(
        S.all_statistics_db(str(db_of(replay_dir, "hierarchical_wf_success")), tz=LA))
    rw.close()


def test_the_committed_hierarchical_db_as_pegasus_statistics_reads_it(shared_data, tmp_path, expected_summary):
    """The DB committed upstream (pegasus 5.0.5's monitord) has integrity
    metrics in the sub-workflow and an instance whose end was never merged
    (JOB_SUCCESS, but exitcode NULL): the real pegasus-statistics, run here on
    a copy, counts that job incomplete, and so do sqlstats and the store (which
    knows the main job succeeded, but not the POST script's status the DB keeps)."""
    pytest.importorskip("Pegasus")
    import Pegasus

    db = tmp_path / "hierarchical-workflow-0.stampede.db"
    shutil.copyfile(shared_data / "pegasus/submitdirs/hierarchical_wf_success" / db.name, db)
    props = tmp_path / "stats.properties"
    props.write_text(f"pegasus.monitord.output = sqlite:///{db}\n")
    script = os.path.join(os.path.dirname(Pegasus.__file__), "cli", "pegasus-statistics.py")
    out = tmp_path / "csv"
    proc = subprocess.run([sys.executable, script, "-s", "all", "-f", "csv", "-o", str(out), "-c", str(props),
                           "-u", ROOT_WF], env=dict(os.environ, TZ="America/Los_Angeles", HOME=str(tmp_path)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    st = S.all_statistics_db(str(db), tz=LA)
    check_against_csv(st, out, expected_summary)
    assert st["summary"]["jobs"]["incomplete"] == 4
    assert {r["file_type"] for r in st["integrity"][SUB_WF]} == {"input", "output"}
    s = read_store(str(db))
    same_as_pegstats(st, s, s.roots[0])


# -- where the DB says more than the shared runs use ---------------------------------------------


@pytest.fixture
def changed_copy(tmp_path, replay_dir):
    """A copy of the hierarchical run's DB, changed with ``sql`` (a function of
    the connection), as it would come from another run."""

    def make(change):
        db = tmp_path / "changed.stampede.db"
        shutil.copyfile(db_of(replay_dir, "hierarchical_wf_success"), db)
        with sqlite3.connect(db) as conn:
            change(conn)
        conn.close()
        return str(db)

    return make


def _clustered_and_multiplied(conn):
    conn.execute("UPDATE job_instance SET multiplier_factor = 1 + job_submit_seq % 3, "
                 "cluster_duration = 0.5 + job_submit_seq * 1.1255 WHERE job_instance_id IN "
                 "(SELECT job_instance_id FROM jobstate WHERE state IN ('JOB_SUCCESS', 'JOB_FAILURE'))")


def test_multipliers_and_clustered_jobs(changed_copy):
    """Runtime x multiplier_factor everywhere pegasus-statistics multiplies
    (breakdown, cumulative and submit-side wall times, Kickstart-Mult), and
    Seqexec / Seqexec-Delay from cluster_duration: as pegstats on the store of
    the same DB, and jobs.csv as pegasus-statistics' own code writes it."""
    db = changed_copy(_clustered_and_multiplied)
    s = read_store(db)
    got = S.all_statistics_db(db, tz=LA)
    same_as_pegstats(got, s, s.roots[0])
    assert sum(r["multiplier"] > 1 for rows_ in got["jobs"].values() for r in rows_) > 5
    assert sum(r["seqexec"] is not None for rows_ in got["jobs"].values() for r in rows_) > 10

    pytest.importorskip("Pegasus")
    from Pegasus.db.workflow.stampede_statistics import StampedeStatistics
    from Pegasus.statistics import PegasusStatistics

    for uuid, job_rows in got["jobs"].items():
        peg = StampedeStatistics(f"sqlite:///{db}", False)
        peg.initialize(uuid)
        want = [j.get_formatted_statistics() for j in PegasusStatistics._compute_job_statistics(None, peg)]
        peg.close()
        assert [P.format_job(r) for r in job_rows] == want, uuid


def test_a_job_executed_in_two_hours(changed_copy, replay_dir):
    """Time tables count every EXECUTE state in the hour it falls in: an
    instance executed again an hour later (held, released) adds to both."""

    def again(conn):
        conn.execute("INSERT INTO jobstate SELECT job_instance_id, state, timestamp + 3600, jobstate_submit_seq + 100,"
                     " reason FROM jobstate WHERE state = 'EXECUTE' AND job_instance_id IN (1, 2)")

    db = changed_copy(again)
    s = read_store(db)
    got = S.all_statistics_db(db, tz=LA)
    same_as_pegstats(got, s, s.roots[0])
    before = S.all_statistics_db(str(db_of(replay_dir, "hierarchical_wf_success")), tz=LA)
    count = lambda st: sum(r["count"] for r in st["per_day"]["jobs"])  # noqa: E731
    assert count(got) == count(before) + 2


@pytest.fixture(scope="module")
def generated_db(tmp_path_factory) -> str:
    """bench_stats' generated run (WfCommons shapes, retries, failures, many hosts), small."""
    from benchmarks import bench_stats

    db = str(tmp_path_factory.mktemp("generated") / "generated.stampede.db")
    bench_stats.write_stampede_db(db, bench_stats.run_events(400))
    return db


def test_the_generated_run_with_retries_and_failures(generated_db):
    s = read_store(generated_db)
    got = S.all_statistics_db(generated_db, tz=LA)
    same_as_pegstats(got, s, s.roots[0])
    assert got["summary"]["jobs"]["retries"] > 0 and got["summary"]["cumulative_job_badput"] > 0
    assert len({r["host"] for r in got["per_host"]["jobs"]}) > 3


def test_sqlite_without_aggregate_filter(generated_db, replay_dir, monkeypatch):
    """Before SQLite 3.30 (RHEL 8 has 3.26) there is no FILTER clause on
    aggregates: the same aggregates over a CASE give the same answer."""
    dbs = (generated_db, str(db_of(replay_dir, "hierarchical_wf_success")))
    want = [S.all_statistics_db(db, tz=LA) for db in dbs]
    monkeypatch.setattr(S, "_FILTER", False)
    assert "FILTER" not in S._sql(S._JS_SQL) + S._sql(S._INV_SQL)
    assert [norm(S.all_statistics_db(db, tz=LA)) for db in dbs] == [norm(w) for w in want]


# -- bad input --------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(S.StatsDbError, match="no such file"):
        S.all_statistics_db(str(tmp_path / "nope.stampede.db"))


def test_not_sqlite(tmp_path):
    p = tmp_path / "x.stampede.db"
    p.write_text("workflow,job\n1,2\n")
    with pytest.raises(S.StatsDbError, match="not an SQLite file"):
        S.all_statistics_db(str(p))
    p.write_bytes(b"")
    with pytest.raises(S.StatsDbError, match="empty file"):
        S.all_statistics_db(str(p))


def test_sqlite_without_stampede_tables(tmp_path, shared_data):
    p = tmp_path / "x.db"
    with sqlite3.connect(p) as conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
    conn.close()
    with pytest.raises(S.StatsDbError, match="not a Stampede DB"):
        S.all_statistics_db(str(p))
    shutil.copy(shared_data / "parsl" / "monitoring-run000-only.db", p)
    with pytest.raises(S.StatsDbError, match="not a Stampede DB .*no workflowstate table"):
        S.all_statistics_db(str(p))


def test_truncated_db(tmp_path, replay_dir):
    p = tmp_path / "x.stampede.db"
    p.write_bytes(db_of(replay_dir, "hierarchical_wf_success").read_bytes()[:8192])
    with pytest.raises(S.StatsDbError, match="corrupt|malformed|incomplete|not a Stampede"):
        S.all_statistics_db(str(p))


def test_unknown_workflow(replay_dir):
    with pytest.raises(S.StatsDbError, match="no workflow nope"):
        S.all_statistics_db(str(db_of(replay_dir, "process_wf_success")), wf_uuid="nope")


def test_locked_by_a_writer_and_never_locking(tmp_path, replay_dir, monkeypatch):
    """A writer in the middle of its commit (exclusive lock): a clear error
    after the busy timeout.  Reading takes no write lock: a writer can start
    right after, and the file is unchanged."""
    monkeypatch.setattr(S, "BUSY_SECONDS", 0.2)
    p = tmp_path / "x.stampede.db"
    shutil.copyfile(db_of(replay_dir, "process_wf_success"), p)
    writer = sqlite3.connect(p, isolation_level=None, timeout=0)
    writer.execute("BEGIN EXCLUSIVE")
    with pytest.raises(S.StatsDbError, match="locked"):
        S.all_statistics_db(str(p))
    writer.execute("ROLLBACK")
    before = p.read_bytes()
    S.all_statistics_db(str(p))
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("ROLLBACK")
    writer.close()
    assert p.read_bytes() == before


# -- panorama-top --stats ------------------------------------------------------------------------


@pytest.fixture
def cli(repo_root, child_env, tmp_path):
    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)], cwd=str(repo_root),
                              env=child_env() | {"TMPDIR": str(tmp_path), "TZ": "America/Los_Angeles"},
                              capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr + proc.stdout
        return proc

    return run


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("panorama-top: "), stderr
    return lines[0]


def test_cli_stats_text_and_json(cli, replay_dir):
    run = "process_wf_failure"
    proc = cli("--stats", db_of(replay_dir, run))
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.rstrip("\n") == S.summary_text(str(db_of(replay_dir, run)))
    proc = cli("--stats", "--json", db_of(replay_dir, run))
    assert proc.returncode == 0
    assert norm(json.loads(proc.stdout)) == norm(S.json_units(S.all_statistics_db(str(db_of(replay_dir, run)), tz=LA)))


@pytest.mark.parametrize("run", RUNS)
def test_cli_stats_json_has_pegasus_statistics_units(cli, replay_dir, run):
    """Memory in MB and average CPU in %, as breakdown.csv has them (every other figure is in
    the CSV's own unit already: seconds, counts, dates)."""
    proc = cli("--stats", "--json", db_of(replay_dir, run))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)["breakdown"]["ALL"]
    want = [r for r in rows(replay_dir / run / "statistics-csv" / "breakdown.csv") if r[0] == "ALL"]
    assert [(r["transformation"], r["type"]) for r in got] == [(w[2], w[3]) for w in want]
    checked = 0
    for r, w in zip(got, want):
        for i, stat in ((9, "min"), (10, "max"), (11, "mean")):
            if w[i] != "-":
                assert P.fstr(r[f"{stat}_mem_mb"]) == w[i], (r, w)
                checked += 1
            if w[i + 3] != "-":
                assert P.pstr(r[f"{stat}_avg_cpu_pct"]) == w[i + 3], (r, w)
                checked += 1
        assert "min_maxrss" not in r and "mean_avg_cpu" not in r
    assert checked >= 6


def test_cli_stats_of_a_submit_dir(cli, shared_data):
    """The DB is found the way the submit-dir source finds it (braindump)."""
    d = shared_data / "pegasus" / "submitdirs" / "hierarchical_wf_success"
    proc = cli("--stats", d)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip("\n") == S.summary_text(str(d / DBS["hierarchical_wf_success"]), ROOT_WF)


def test_cli_stats_bad_input(cli, tmp_path, shared_data):
    proc = cli("--stats", tmp_path / "nope.stampede.db")
    assert proc.returncode == 3 and "no such file" in one_line(proc.stderr) and proc.stdout == ""
    p = tmp_path / "x.db"
    shutil.copy(shared_data / "parsl" / "monitoring-run000-only.db", p)
    proc = cli("--stats", p)
    assert proc.returncode == 3
    one_line(proc.stderr)
    p = tmp_path / "partial.stampede.db"
    with sqlite3.connect(p) as conn:  # Stampede-like, but not all of it
        conn.execute("CREATE TABLE workflow (wf_id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE job_instance (job_instance_id INTEGER PRIMARY KEY)")
    conn.close()
    proc = cli("--stats", p)
    assert proc.returncode == 3 and "incomplete Stampede DB" in one_line(proc.stderr)
    proc = cli("--stats", tmp_path)
    assert proc.returncode == 3
    one_line(proc.stderr)


def test_cli_stats_arguments(cli, replay_dir):
    db = db_of(replay_dir, "process_wf_success")
    proc = cli("--stats", "--once", db)
    assert proc.returncode == 3 and "--stats" in one_line(proc.stderr)
    proc = cli("--stats", "--no-such-option", db)
    assert proc.returncode == 64
    one_line(proc.stderr)
    proc = cli("--json", db)
    assert proc.returncode == 3 and "--json" in one_line(proc.stderr)
