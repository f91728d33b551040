"""pegstats: pegasus-statistics' numbers, from the store, equal its CSV output.

``statistics-csv/*.csv`` of the shared runs is what the real
``pegasus-statistics -s all`` (5.1.3, TZ=America/Los_Angeles) wrote; each
figure is compared for the store built from the Stampede DB and for the one
built from monitord's events.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from zoneinfo import ZoneInfo

import pytest

from panorama_tui.stats import store_stats as P
from panorama_tui.core.events import decode
from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.pipeline.read import read_stampede_db as read_store
from panorama_tui.model.store import Store

from .test_stampede_db import DBS, RUNS, events_store

LA = ZoneInfo("America/Los_Angeles")
ORIGINS = ("db", "events")


def blocks(path) -> list[list[list[str]]]:
    """A pegasus-statistics CSV as its tables: each a header row and data rows
    (comment lines and the indented legend lines dropped)."""
    out: list[list[list[str]]] = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#") or line.startswith(" "):
            continue
        row = next(csv.reader(io.StringIO(line)))
        if out and row == out[-1][0]:
            out.append([row])  # the same header again: a new table
        elif out and len(row) == len(out[-1][0]) and not _is_header(row):
            out[-1].append(row)
        else:
            out.append([row])
    return out


def _is_header(row) -> bool:
    return row[0] in ("Workflow_Id", "stat_type", "Type")


def rows(path) -> list[list[str]]:
    return [r for b in blocks(path) for r in b[1:]]


@pytest.fixture(params=[(r, o) for r in RUNS for o in ORIGINS], ids=lambda p: f"{p[0]}-{p[1]}")
def case(request, replay_dir):
    run, origin = request.param
    if origin == "db":
        s = read_store(str(replay_dir / run / DBS[run]))
    else:
        s = run_to_end(JsonLogSource(str(replay_dir / run / "events.json"), follow=False), Store())
    return run, s, s.roots[0], replay_dir / run / "statistics-csv"


def check_against_csv(s, root, csvdir, expected_summary) -> None:
    """Every pegstats figure against a ``pegasus-statistics -s all -f csv`` output dir."""
    case = (None, s, root, csvdir)
    test_summary_and_wall_times(case, expected_summary)
    test_workflow_rows(case)
    test_breakdown_rows_are_the_csv_rows(case)
    test_job_rows_are_the_csv_rows(case)
    test_time_per_host_and_per_day(case)
    test_integrity_rows_are_the_csv_rows(case)


def test_summary_and_wall_times(case, expected_summary):
    run, s, root, csvdir = case
    st = P.workflow_statistics(s, root)
    want = expected_summary(csvdir / "summary.csv")
    for k in ("tasks", "jobs", "sub_workflows"):
        got = {x: st[k][x] for x in want[k]}
        assert got == want[k], k
    summary = {r[0]: r for r in rows(csvdir / "summary.csv")}
    for k, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
        assert st[k]["total_with_retries"] == int(summary[title][6])
    times = {r[0]: float(r[1]) for r in rows(csvdir / "summary-time.csv") if r[1]}  # none while running
    assert st["workflow_wall_time"] == pytest.approx(times.get("workflow_wall_time"))
    assert st["cumulative_job_wall_time"] == pytest.approx(times["workflow_cumulative_job_wall_time"])
    assert st["submit_side_wall_time"] == pytest.approx(times["cumulative_job_walltime_from_submit_side"])
    assert st["cumulative_job_badput"] == pytest.approx(times["workflow_cumulative_badput_time"])
    assert st["submit_side_badput"] == pytest.approx(times["cumulative_job_badput_walltime_from_submit_side"])


def test_workflow_rows(case):
    run, s, root, csvdir = case
    want = rows(csvdir / "workflow.csv")
    got = []
    for r in P.workflow_rows(s, root):
        for key, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
            c = r[key]
            got.append([r["wf_uuid"], r["label"] or "", title] + [str(c[x]) for x in (
                "succeeded", "failed", "incomplete", "total", "retries", "total_with_retries")]
                + ["" if r["workflow_retries"] is None else str(r["workflow_retries"])])
    assert got == want


def test_breakdown_rows_are_the_csv_rows(case):
    """Every row, string for string: counts, runtimes, memory in MB, CPU in %."""
    run, s, root, csvdir = case
    got = []
    for w in [root] + s.descendants(root):
        got += [[w.wf_uuid, w.label] + P.format_breakdown(r) for r in P.breakdown(s, w, expand=False)]
    got += [["ALL", ""] + P.format_breakdown(r) for r in P.breakdown(s, root)]
    assert got == rows(csvdir / "breakdown.csv")


def test_job_rows_are_the_csv_rows(case):
    run, s, root, csvdir = case
    got = []
    for w in [root] + s.descendants(root):
        got += [[w.wf_uuid, w.label] + P.format_job(r) for r in P.job_rows(s, w)]
    assert got == rows(csvdir / "jobs.csv")


def _integrity_csv_rows(s, root) -> list[list[str]]:
    """integrity.csv's rows: each workflow that has metrics, then ALL."""
    got = []
    for w in [root] + s.descendants(root):
        got += [[w.wf_uuid, w.label] + P.format_integrity(r) for r in P.integrity(s, w, expand=False)]
    got += [["ALL", ""] + P.format_integrity(r) for r in P.integrity(s, root)]
    return got


def test_integrity_rows_are_the_csv_rows(case):
    run, s, root, csvdir = case
    assert _integrity_csv_rows(s, root) == rows(csvdir / "integrity.csv")


def test_integrity_of_a_sub_workflow_is_its_own(shared_data):
    """The committed DB of the hierarchical run (unlike the replayed one) has
    metrics in the sub-workflow.  Expected: what the real pegasus-statistics
    5.1.3 ``-s all -f csv`` wrote on that submit dir: the root's row is its own
    metrics only, ALL sums the tree."""
    s = read_store(str(shared_data / "pegasus/submitdirs/hierarchical_wf_success/hierarchical-workflow-0.stampede.db"))
    root = s.workflows["48f759a4-165f-47d6-8c32-571649ce311b"]
    root_uuid, sub_uuid = root.wf_uuid, "160be601-bda4-45fb-86cd-9cf7a269bb22"
    assert _integrity_csv_rows(s, root) == [
        [root_uuid, "hierarchical-workflow", "check", "output", "1", "0.146"],
        [root_uuid, "hierarchical-workflow", "compute", "output", "5", "0.081"],
        [sub_uuid, "blackdiamond", "check", "input", "9", "0.179"],
        [sub_uuid, "blackdiamond", "check", "output", "6", "0.866"],
        [sub_uuid, "blackdiamond", "compute", "output", "9", "0.121"],
        ["ALL", "", "check", "input", "9", "0.179"],
        ["ALL", "", "check", "output", "7", "1.012"],
        ["ALL", "", "compute", "output", "14", "0.202"],
    ]


def _cluster_dur(seq: int) -> float:
    return 0.5 + seq * 1.1255


@pytest.mark.filterwarnings("ignore:Dialect sqlite")  # SQLAlchemy's note on NUMERIC columns in SQLite
@pytest.mark.parametrize("origin", ORIGINS)
def test_seqexec_of_clustered_instances_as_pegasus_statistics(tmp_path, replay_dir, origin):
    """Seqexec is an instance's cluster_duration, Seqexec-Delay that minus its
    kickstart time.  The shared runs have no clustered job, so a copy of the
    hierarchical run's DB gets cluster durations on every instance whose main
    job ended; pegasus-statistics' own code for jobs.csv reads the copy.  The
    store reads the copy, or the events with the same ``cluster_dur`` on each
    main.end (where monitord puts it)."""
    pytest.importorskip("Pegasus")
    from Pegasus.db.workflow.stampede_statistics import StampedeStatistics
    from Pegasus.statistics import PegasusStatistics

    run = "hierarchical_wf_success"
    db = tmp_path / DBS[run]
    shutil.copyfile(replay_dir / run / DBS[run], db)
    with sqlite3.connect(db) as conn:
        conn.create_function("cdur", 1, _cluster_dur)
        conn.execute("UPDATE job_instance SET cluster_duration = cdur(job_submit_seq) WHERE job_instance_id IN "
                     "(SELECT job_instance_id FROM jobstate WHERE state IN ('JOB_SUCCESS', 'JOB_FAILURE'))")
    if origin == "db":
        s = read_store(str(db))
    else:
        s = Store()
        for line in (replay_dir / run / "events.json").read_bytes().splitlines():
            d = json.loads(line)
            if d["event"] == "stampede.job_inst.main.end":
                d["cluster_dur"] = _cluster_dur(d["job_inst_id"])
            s.apply(decode(d))
    root = s.roots[0]
    clustered = 0
    for w in [root] + s.descendants(root):
        peg = StampedeStatistics(f"sqlite:///{db}", False)
        peg.initialize(w.wf_uuid)
        want = [j.get_formatted_statistics() for j in PegasusStatistics._compute_job_statistics(None, peg)]
        got = [P.format_job(r) for r in P.job_rows(s, w)]
        assert got == want, w.wf_uuid
        clustered += sum(r[11] != "-" for r in got)
    assert clustered > 10


def test_integrity_metric_twice_counts_once():
    """A metric is keyed by (job, instance, type, file type), as the DB's
    UNIQUE constraint: applied again, or after a later one, nothing doubles."""
    base = {"event": "stampede.int.metric", "xwf_id": "w", "job_id": "j", "job_inst_id": 1, "ts": 1677920501.0}
    metrics = [
        {**base, "type": "compute", "file_type": "output", "count": 3, "duration": 0.081},
        {**base, "type": "check", "file_type": "output", "count": 1, "duration": "0.146"},
        {**base, "job_inst_id": 2, "type": "check", "file_type": "output", "count": 1, "duration": "0.144"},
    ]
    once, twice = Store(), Store()
    once.apply_many(decode(m) for m in metrics)
    twice.apply_many(decode(m) for m in metrics[::-1] + metrics + metrics[::-1])
    want = [{"type": "check", "file_type": "output", "count": 2, "duration": pytest.approx(0.29)},
            {"type": "compute", "file_type": "output", "count": 3, "duration": 0.081}]
    for s in (once, twice):
        assert P.integrity(s, s.workflows["w"]) == want
    assert twice.workflows["w"].integrity == once.workflows["w"].integrity


def test_time_per_host_and_per_day(case):
    run, s, root, csvdir = case
    fmt = lambda kind, r: [kind, r["date"]] + ([r["host"]] if "host" in r else []) + [str(r["count"]), P.fstr(r["runtime"])]  # noqa: E731
    tph = P.time_per_host(s, root, LA)
    got = [fmt("jobs/host/day", r) for r in tph["jobs"]] + [fmt("invocations/host/day", r) for r in tph["invocations"]]
    assert got == rows(csvdir / "time-per-host.csv")
    tpd = P.time_per_day(s, root, LA)
    got = [fmt("jobs/day", r) for r in tpd["jobs"]] + [fmt("invocations/day", r) for r in tpd["invocations"]]
    assert got == rows(csvdir / "time.csv")


def test_all_statistics_in_one_walk_is_the_same(case):
    run, s, root, csvdir = case
    a = P.all_statistics(s, root, LA)
    assert a["summary"] == P.workflow_statistics(s, root)
    assert a["workflows"] == P.workflow_rows(s, root)
    wfs = [root] + s.descendants(root)
    assert a["breakdown"] == {**{w.wf_uuid: P.breakdown(s, w, expand=False) for w in wfs}, "ALL": P.breakdown(s, root)}
    assert a["jobs"] == {w.wf_uuid: P.job_rows(s, w) for w in wfs}
    assert a["integrity"] == {**{w.wf_uuid: P.integrity(s, w, expand=False) for w in wfs}, "ALL": P.integrity(s, root)}
    assert a["per_host"] == P.time_per_host(s, root, LA) and a["per_day"] == P.time_per_day(s, root, LA)


@pytest.mark.parametrize("run", ["hierarchical_wf_success", "generated"])
def test_cached_live_statistics_equal_fresh_ones(replay_dir, run, monkeypatch):
    """As the run goes on (events applied between calls), the per-bucket cache
    gives exactly what a computation from scratch gives."""
    monkeypatch.setattr(P, "BUCKET", 7)
    if run == "generated":
        from benchmarks import bench_stats

        events = [decode(e) for e in bench_stats.run_events(400)]
    else:
        events = [decode(__import__("json").loads(ln)) for ln in
                  (replay_dir / run / "events.json").read_bytes().splitlines() if ln.strip()]
    live = Store()
    step = max(1, len(events) // 25)
    for i in range(0, len(events) + step, step):
        live.apply_many(events[max(0, i - step):i])
        if not live.roots:
            continue
        root = live.roots[0]
        fresh = Store()
        fresh.apply_many(events[:i])
        got = P.all_statistics(live, root, LA)
        P._CACHES.pop(fresh, None)
        want = P.all_statistics(fresh, fresh.workflows[root.wf_uuid], LA)
        assert _norm(got) == _norm(want), i  # (sums may add in another order: equal to 1e-9)
    assert P._CACHES.get(live)  # the cache was used


def _norm(x):
    if isinstance(x, float):
        return round(x, 9)
    if isinstance(x, dict):
        return {k: _norm(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_norm(v) for v in x]
    return x


def test_days_follow_the_zone_asked_for(replay_dir):
    """The hierarchical run (01:01-01:06 PST on 2023-03-04) is on the 4th in
    Los Angeles and in UTC, the 3rd nowhere; process_wf_success ran 22:23 PST on
    the 3rd, which is the 4th in UTC."""
    s = read_store(str(replay_dir / "process_wf_success" / DBS["process_wf_success"]))
    root = s.roots[0]
    assert [r["date"] for r in P.time_per_host(s, root, LA)["jobs"]] == ["2023-03-03"]
    assert [r["date"] for r in P.time_per_host(s, root, ZoneInfo("UTC"))["jobs"]] == ["2023-03-04"]


def test_live_half_way(replay_dir):
    """Statistics of a run in progress: nothing crashes, unfinished figures are None."""
    s = events_store(replay_dir, "hierarchical_wf_success", 100)
    root = s.workflows["48f759a4-165f-47d6-8c32-571649ce311b"]
    st = P.workflow_statistics(s, root)
    assert st["workflow_wall_time"] is None and st["jobs"]["incomplete"] == 10
    assert st["cumulative_job_wall_time"] > 0
    assert P.breakdown(s, root) and P.job_rows(s, root) and P.time_per_host(s, root, LA)["jobs"]


def test_empty_workflow():
    s = Store()
    s.apply(decode({"event": "stampede.xwf.start", "xwf_id": "w", "ts": 1677913774, "restart_count": 0}))
    wf = s.workflows["w"]
    st = P.workflow_statistics(s, wf)
    assert st["cumulative_job_wall_time"] is None and st["submit_side_wall_time"] is None
    assert st["workflow_retries"] == 0 and st["workflow_wall_time"] is None
    assert P.breakdown(s, wf) == [] and P.job_rows(s, wf) == [] and P.time_per_host(s, wf) == {"jobs": [], "invocations": []}


def test_formatting_like_pegasus():
    assert P.fstr(None) == "-" and P.fstr(2.2260000000000004) == "2.226" and P.fstr(186) == "186.0"
    assert P.pstr(18.181818) == "18.18%"
    assert P.raw_to_regular(512) == 2 and P.raw_to_regular(9) == -9 and P.raw_to_regular(-1) == -128
