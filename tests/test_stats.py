"""Summaries with pegasus-statistics' definitions, checked against its output."""

from __future__ import annotations

import csv
import io

import pytest

from panorama_tui.core.events import decode, decode_exitcode, decode_line
from panorama_tui.stats.counts import Counts, summarize
from panorama_tui.model.store import Store

RUNS = ("process_wf_success", "process_wf_failure", "hierarchical_wf_success")
ROOT_WF = "48f759a4-165f-47d6-8c32-571649ce311b"
SUB_WF = "160be601-bda4-45fb-86cd-9cf7a269bb22"
FAIL_WF = "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3"


def _csv_rows(path):
    text = "\n".join(ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#"))
    return list(csv.reader(io.StringIO(text)))


def _dict_rows(path):
    rows = _csv_rows(path)
    header = rows[0]
    return [dict(zip(header, r)) for r in rows[1:] if r != header]


def _store(replay_dir, run, limit=None) -> Store:
    lines = [ln for ln in (replay_dir / run / "events.json").read_bytes().splitlines() if ln.strip()]
    s = Store()
    s.apply_many(decode_line(ln) for ln in lines[:limit])
    return s


def _counts(c: Counts) -> dict:
    return c.as_dict()


def test_counts_arithmetic():
    c = Counts(succeeded=1, failed=1, incomplete=3, total=5, retries=1)
    assert c.total_with_retries == 3
    assert c.as_dict() == {"succeeded": 1, "failed": 1, "incomplete": 3, "total": 5, "retries": 1}


@pytest.mark.parametrize("run", RUNS)
def test_total_plus_retries_column(replay_dir, run):
    s = _store(replay_dir, run)
    root = s.roots[0]
    sm = summarize(s, root)
    rows = {r["Type"]: r for r in _dict_rows(replay_dir / run / "statistics-csv" / "summary.csv")}
    assert sm.tasks.total_with_retries == int(rows["Tasks"]["Total+Retries"])
    assert sm.jobs.total_with_retries == int(rows["Jobs"]["Total+Retries"])
    assert sm.sub_workflows.total_with_retries == int(rows["Sub-Workflows"]["Total+Retries"])


@pytest.mark.parametrize("run", RUNS)
def test_per_workflow_rows(replay_dir, run, expected_summary):
    """workflow.csv: the ALL rows are the recursive summary of the root; a leaf
    workflow's own rows are its summary."""
    s = _store(replay_dir, run)
    keys = {"Tasks": "tasks", "Jobs": "jobs", "Sub-Workflows": "sub_workflows"}
    by_wf: dict[str, dict] = {}
    for r in _dict_rows(replay_dir / run / "statistics-csv" / "workflow.csv"):
        by_wf.setdefault(r["Workflow_Id"], {})[keys[r["Type"]]] = {
            "succeeded": int(r["Succeeded"]),
            "failed": int(r["Failed"]),
            "incomplete": int(r["Incomplete"]),
            "total": int(r["Total"]),
            "retries": int(r["Retries"]),
        }
    root = s.roots[0]
    sm = summarize(s, root)
    got = {"tasks": _counts(sm.tasks), "jobs": _counts(sm.jobs), "sub_workflows": _counts(sm.sub_workflows)}
    assert got == by_wf["ALL"]
    assert got == expected_summary(replay_dir / run / "statistics-csv" / "summary.csv")
    for wf_uuid, expected in by_wf.items():
        if wf_uuid == "ALL" or s.workflows[wf_uuid].children:
            continue
        sm = summarize(s, s.workflows[wf_uuid])
        assert {"tasks": _counts(sm.tasks), "jobs": _counts(sm.jobs), "sub_workflows": _counts(sm.sub_workflows)} == expected


@pytest.mark.parametrize("run", RUNS)
def test_per_try_figures_match_jobs_csv(replay_dir, run):
    """jobs.csv: one row per try with site, kickstart time, runtime, exit code, host."""
    s = _store(replay_dir, run)
    rows = _dict_rows(replay_dir / run / "statistics-csv" / "jobs.csv")
    assert rows
    for r in rows:
        job = s.find_job(r["Workflow_Id"], r["Job"])
        assert job is not None, r["Job"]
        seqs = sorted(job.tries)
        t = job.tries[seqs[int(r["Try"]) - 1]]
        assert t.site == r["Site"]
        assert t.local_dur == float(r["Runtime"])
        assert decode_exitcode(t.main_exitcode)[0] == int(r["Exitcode"])
        assert (t.host or "None") == r["Hostname"]
        kick = sum(i.dur for i in t.task_invocations() if i.dur is not None)
        assert kick == pytest.approx(float(r["Kickstart"]), abs=1e-3)
        if r["CPU-Time"] != "-":
            cpu = sum(i.remote_cpu_time for i in t.task_invocations() if i.remote_cpu_time is not None)
            assert cpu == pytest.approx(float(r["CPU-Time"]), abs=1e-3)
    # every try the store knows is a row (jobs that ran at all)
    n_tries = sum(len(j.tries) for j in s.jobs() if j.type_desc is not None)
    assert n_tries == len(rows)


def test_incomplete_while_running(replay_dir):
    """Half way through, unfinished jobs are incomplete, never failed."""
    s = _store(replay_dir, "hierarchical_wf_success", limit=100)
    root = s.workflows[ROOT_WF]
    assert root.state == "running"
    assert SUB_WF not in s.workflows  # not planned yet at line 100
    sm = summarize(s, root)
    assert sm.jobs == Counts(succeeded=2, failed=0, incomplete=10, total=12, retries=0)
    assert sm.tasks == Counts(succeeded=0, failed=0, incomplete=2, total=2, retries=0)
    assert sm.sub_workflows == Counts(succeeded=0, failed=0, incomplete=1, total=1, retries=0)


def test_failure_run_task_retries_come_from_invocations(replay_dir):
    s = _store(replay_dir, "process_wf_failure")
    sm = summarize(s, s.workflows[FAIL_WF])
    assert sm.tasks == Counts(succeeded=0, failed=1, incomplete=0, total=1, retries=1)
    assert sm.jobs == Counts(succeeded=1, failed=1, incomplete=3, total=5, retries=1)


def test_jobs_known_only_from_traces_are_not_counted(replay_dir, panorama_dir):
    s = _store(replay_dir, "process_wf_success")
    wf = s.roots[0]
    before = summarize(s, wf)
    s.apply(decode({"event": "kickstart.inv.online", "wf_uuid": wf.wf_uuid, "dag_job_id": "not_planned",
                    "ts": 1677913800, "utime": 1, "stime": 0, "rss": 10}))
    s.apply(decode({"event": "transfer.inv.go", "wf_uuid": wf.wf_uuid, "dag_job_id": "also_not_planned",
                    "task_id": "t-1", "status": "ACTIVE", "@timestamp": "2023-03-04T07:10:00Z"}))
    assert "not_planned" in wf.jobs and "also_not_planned" in wf.jobs
    assert summarize(s, wf) == before


def test_summary_of_an_empty_workflow():
    s = Store()
    s.apply(decode({"event": "stampede.xwf.start", "xwf_id": "w", "ts": 1677913774, "restart_count": 0}))
    sm = summarize(s, s.workflows["w"])
    assert sm.jobs == Counts() and sm.tasks == Counts() and sm.sub_workflows == Counts()
