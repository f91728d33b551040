"""pegstats: pegasus-statistics' numbers, from the store, equal its CSV output.

``statistics-csv/*.csv`` of the shared runs is what the real
``pegasus-statistics -s all`` (5.1.3, TZ=America/Los_Angeles) wrote; each
figure is compared for the store built from the Stampede DB and for the one
built from monitord's events.
"""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

import pytest

from panorama_tui import pegstats as P
from panorama_tui.events import decode
from panorama_tui.ingest import run_to_end
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.sources.stampede_db import read_store
from panorama_tui.store import Store

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
    times = {r[0]: float(r[1]) for r in rows(csvdir / "summary-time.csv")}
    assert st["workflow_wall_time"] == pytest.approx(times["workflow_wall_time"])
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
