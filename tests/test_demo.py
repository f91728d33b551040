"""The bundled demo agrees with Pegasus, and every figure on its screens with every other.

The demo replays two real Pegasus runs (a failed one and a hierarchical one)
plus real collector output grafted onto their jobs.  Replayed to its end, it
must show what the real Pegasus tools say about the same runs:

* pegasus-status (``status.json`` in the shared data, run on the submit dirs):
  each DAG's state, done/failed/total and % done;
* pegasus-statistics: each workflow's summary.  The root of the hierarchical
  run is summed over its sub-workflow (pegasus-statistics' definition); the
  replayed DB saw the root only (its sub-workflow's jobs stay incomplete there),
  the committed Stampede DB saw the sub-workflow run to its end.  Expected:
  the replay's root summary minus the replay's sub-workflow plus the committed
  DB's sub-workflow, each from the real tool run here;
* pegasus-analyzer: failed jobs, their exit codes and last states, unsubmitted
  jobs; the sub-workflow's status from the real tool on its own submit dir.

And the collector output must fit the job it sits on (the rules, each asserted
below):

* a /proc trace lies in its job's run window: from the latest try's EXECUTE
  to its JOB_TERMINATED, plus one second, because DAGMan logs whole seconds
  (kickstart's 2.375 s transfer runs in the window 537..539);
* it measured the same task kickstart did: its duration within 0.25 s or 10 %
  of kickstart's, its exit code kickstart's, its CPU time and peak RSS within
  a factor of two of kickstart's (CPU give or take 0.1 s: starting a command
  costs that much), and at no time more CPUs busy than kickstart saw on
  average, rounded up (give or take 10 % and a few clock ticks);
* a job's Darshan record and its trace tell one story: Darshan's POSIX and
  STDIO bytes are within 20 % of the trace's bytes read plus written (/proc
  counts whole pages and read-ahead), its run time is no longer than the
  trace and its start and end lie in the job's run window;
* a Globus transfer belongs to a stage-in or stage-out job: its reports and
  its request and completion times lie in that job's run window, its files
  and bytes are the files that job moved (its ``.in`` file; sizes from the
  run's ``.meta`` files), and its rate is its bytes over its time (to the
  second the Transfer API gives its times in);
* no job under a workflow that succeeded is waiting, queued or running (the
  failed run's three jobs that never ran stay "waiting": pegasus-analyzer's
  "unsubmitted").
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panorama_tui.cli.top import DEMO_RECORDING
from panorama_tui.core.events import decode_exitcode, to_epoch
from panorama_tui.pipeline.ingest import Ingest
from panorama_tui.stats.job_report import darshan_report
from panorama_tui.sources.replay import ReplayControl, ReplaySource
from panorama_tui.model.states import JobState, WorkflowState
from panorama_tui.stats.counts import summarize
from panorama_tui.model.store import Store

FAIL_WF = "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3"
ROOT_WF = "48f759a4-165f-47d6-8c32-571649ce311b"
SUB_WF = "160be601-bda4-45fb-86cd-9cf7a269bb22"
RUN_OF = {FAIL_WF: "process_wf_failure", ROOT_WF: "hierarchical_wf_success"}
HIER_DB = "hierarchical-workflow-0.stampede.db"
SUB_DIR = "00/00/blackdiamond_diamond_subworkflow.000"
DAGMAN_SECOND = 1.0  # DAGMan's log times are whole seconds
TICKS = 0.05  # /proc counts CPU time in ticks of 10 ms, per process: a few processes' worth


# -- the demo, replayed to its end ----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Store:
    store = Store()
    control = ReplayControl(speed=0.0)
    source = ReplaySource(DEMO_RECORDING, control)
    ing = Ingest(source, store).start()
    deadline = time.monotonic() + 60
    while not control.finished:
        assert time.monotonic() < deadline, "the demo replay did not end"
        time.sleep(0.02)
    source.stop()
    ing.thread.join()
    assert source.status.state != "error", source.status.message
    return store


@pytest.fixture(scope="module")
def recorded() -> list[dict]:
    """The demo's events as recorded (every report, not just the latest)."""
    import sqlite3

    with sqlite3.connect(f"file:{DEMO_RECORDING}?mode=ro", uri=True) as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM events ORDER BY seq")]


# -- what the real Pegasus tools say ---------------------------------------------------------------


def _pegasus_tool(name: str) -> str:
    import Pegasus  # the pegasus-wms wheel: a test dependency, never skipped

    return os.path.join(os.path.dirname(Pegasus.__file__), "cli", f"{name}.py")


def _tool_env(home: Path) -> dict:
    return dict(os.environ, TZ="America/Los_Angeles", HOME=str(home))


def _writable_copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    dst.chmod(0o644)
    return dst


def _properties(tmp: Path, db: Path) -> Path:
    p = tmp / (db.stem + ".properties")
    p.write_text(f"pegasus.monitord.output = sqlite:///{db}\n")
    return p


def _statistics(tmp: Path, db: Path, wf_uuid: str, expected_summary) -> dict:
    """The real pegasus-statistics' summary of one workflow (and its sub-workflows)."""
    out = tmp / f"stats-{db.stem}-{wf_uuid[:8]}"
    proc = subprocess.run([sys.executable, _pegasus_tool("pegasus-statistics"), "-s", "summary", "-f", "csv",
                           "-o", str(out), "-c", str(_properties(tmp, db)), "-u", wf_uuid],
                          env=_tool_env(tmp), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return expected_summary(out / "summary.csv")


@pytest.fixture(scope="module")
def pegasus(shared_data, tmp_path_factory, expected_summary) -> dict:
    """Per workflow: pegasus-status, pegasus-statistics and pegasus-analyzer's answers."""
    tmp = tmp_path_factory.mktemp("pegasus-tools")
    replay = shared_data / "pegasus" / "monitord-replay"
    committed = _writable_copy(shared_data / "pegasus/submitdirs/hierarchical_wf_success" / HIER_DB,
                               tmp / "committed.stampede.db")
    replayed = _writable_copy(replay / RUN_OF[ROOT_WF] / HIER_DB, tmp / "replayed.stampede.db")
    sub_committed = _statistics(tmp, committed, SUB_WF, expected_summary)
    sub_replayed = _statistics(tmp, replayed, SUB_WF, expected_summary)
    root_replayed = expected_summary(replay / RUN_OF[ROOT_WF] / "statistics-csv" / "summary.csv")
    root = {kind: {k: root_replayed[kind][k] - sub_replayed[kind][k] + sub_committed[kind][k]
                   for k in root_replayed[kind]} for kind in root_replayed}
    out = {
        FAIL_WF: {"status": _status(replay / RUN_OF[FAIL_WF]), "statistics": expected_summary(
            replay / RUN_OF[FAIL_WF] / "statistics-csv" / "summary.csv"),
            "analyzer": parse_analyzer((replay / RUN_OF[FAIL_WF] / "analyzer.txt").read_text())},
        ROOT_WF: {"status": _status(replay / RUN_OF[ROOT_WF]), "statistics": root,
                  "analyzer": parse_analyzer((replay / RUN_OF[ROOT_WF] / "analyzer.txt").read_text())},
        SUB_WF: {"status": None, "statistics": sub_committed,
                 "analyzer": parse_analyzer(_analyzer_of_sub_workflow(shared_data, tmp, committed))},
    }
    return out


def _status(run_dir: Path) -> dict:
    """pegasus-status -Q of the run's submit dir (its one DAG: pegasus-status
    reads dagman.out, and the sub-workflow's is not in the upstream submit dir)."""
    return json.loads((run_dir / "status.json").read_text())["dags"]["root"]


def _analyzer_of_sub_workflow(shared_data: Path, tmp: Path, db: Path) -> str:
    """The real pegasus-analyzer on the sub-workflow's submit dir, reading the
    committed DB (the one that saw the sub-workflow run)."""
    run = tmp / "hierarchical_wf_success"  # whole: the analyzer looks up the parent's braindump
    shutil.copytree(shared_data / "pegasus/submitdirs/hierarchical_wf_success", run)
    sub = run / SUB_DIR
    proc = subprocess.run([sys.executable, _pegasus_tool("pegasus-analyzer"), "-c", str(_properties(tmp, db)), str(sub)],
                          env=_tool_env(tmp), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def parse_analyzer(text: str) -> dict:
    def count(what):
        return int(re.search(rf"# jobs {what}\s*:\s*(\d+)", text).group(1))

    failed = {}
    for m in re.finditer(r"^=+(\S+?)=+$(.*?)(?=^=+\S+?=+$|\Z)", text, re.M | re.S):
        body = m.group(2)
        failed[m.group(1)] = {
            "last_state": re.search(r"last state: (\S+)", body).group(1),
            "site": re.search(r"^\s*site\s*: (\S+)", body, re.M).group(1),
            "hostname": re.search(r"hostname\s*: (\S+)", body).group(1),
            "exitcode": int(re.search(r"exitcode\s*: (-?\d+)", body).group(1)),
        }
    return {
        "status": re.search(r"Workflow Status\s*:\s*(\S+)", text).group(1),
        "total": int(re.search(r"Total jobs\s*:\s*(\d+)", text).group(1)),
        "succeeded": count("succeeded"), "failed": count("failed"), "unsubmitted": count("unsubmitted"),
        "failed_jobs": failed,
    }


# -- the workflows: states and counts -------------------------------------------------------------


@pytest.mark.parametrize("wf_uuid", [FAIL_WF, ROOT_WF, SUB_WF])
def test_each_workflow_as_pegasus_tells_it(demo, pegasus, wf_uuid):
    wf = demo.workflows[wf_uuid]
    want = pegasus[wf_uuid]
    an = want["analyzer"]
    assert wf.state == {"success": WorkflowState.SUCCEEDED, "failure": WorkflowState.FAILED}[an["status"]]
    counts = wf.counts
    # pegasus-analyzer (and pegasus-status) count the workflow's own DAG nodes
    assert sum(counts) == an["total"]
    assert counts[JobState.DONE] == an["succeeded"]
    assert counts[JobState.FAILED] == an["failed"]
    never_submitted = [j for j in wf.jobs.values() if not j.tries]
    assert len(never_submitted) == an["unsubmitted"]
    st = want["status"]
    if st is not None:
        assert {"Success": WorkflowState.SUCCEEDED, "Failure": WorkflowState.FAILED}[st["state"]] == wf.state
        assert (counts[JobState.DONE], counts[JobState.FAILED], sum(counts)) == (st["succeeded"], st["failed"], st["total"])
        assert round(100.0 * counts[JobState.DONE] / sum(counts), 1) == st["percent_done"]
    sm = summarize(demo, wf)
    got = {"tasks": sm.tasks.as_dict(), "jobs": sm.jobs.as_dict(), "sub_workflows": sm.sub_workflows.as_dict()}
    assert got == want["statistics"]


def test_the_sub_workflow_sits_under_its_job_and_the_tree_is_done(demo):
    root, sub = demo.workflows[ROOT_WF], demo.workflows[SUB_WF]
    assert sub.parent_uuid == ROOT_WF and sub.parent_job_id == "pegasus-plan_diamond_subworkflow"
    assert root.jobs["pegasus-plan_diamond_subworkflow"].subwf_uuid == SUB_WF
    tree = demo.tree_counts(root)
    assert tree[JobState.DONE] == sum(tree) == 13 + 15  # 100 %, as pegasus-status says of the run


def test_no_job_waits_under_a_workflow_that_succeeded(demo):
    for wf in demo.workflows.values():
        if wf.state == WorkflowState.SUCCEEDED:
            assert {j.job_id: j.state.label for j in wf.jobs.values() if j.state != JobState.DONE} == {}, wf.name


def test_failed_jobs_as_pegasus_analyzer_reports_them(demo, pegasus):
    for wf_uuid, want in pegasus.items():
        wf = demo.workflows[wf_uuid]
        failed = {j.job_id: j for j in wf.jobs.values() if j.state == JobState.FAILED}
        assert set(failed) == set(want["analyzer"]["failed_jobs"])
        for job_id, a in want["analyzer"]["failed_jobs"].items():
            job = failed[job_id]
            assert (job.exit_code, job.latest.state_name, job.site, job.host) == (
                a["exitcode"], a["last_state"], a["site"], a["hostname"])


# -- collector output fits its job ----------------------------------------------------------------


def _window(job) -> tuple[float, float]:
    """The latest try's run: EXECUTE to the main job's end (+ DAGMan's second)."""
    t = job.latest
    assert t is not None and t.start_ts is not None and t.end_ts is not None, job.job_id
    return t.start_ts, t.end_ts + DAGMAN_SECOND


def _kickstart(job):
    """The latest try's task invocation, as kickstart recorded it."""
    invs = job.latest.task_invocations()
    assert len(invs) == 1, (job.job_id, invs)
    return invs[0]


def _traced(demo):
    jobs = [j for j in demo.jobs() if j.series is not None]
    assert len(jobs) >= 3, "the demo shows /proc traces"
    return jobs


def test_every_trace_lies_in_its_jobs_run(demo):
    for job in _traced(demo):
        lo, hi = _window(job)
        times = [s[0] for rs in job.series.ranks.values() for s in rs.samples]
        assert times and all(lo <= t < hi for t in times), (job.job_id, lo, hi, min(times), max(times))
        s = job.summary
        assert s is not None and lo <= s["start_ts"] <= s["end_ts"] < hi, job.job_id


def test_every_trace_measured_the_task_kickstart_measured(demo):
    for job in _traced(demo):
        inv, s = _kickstart(job), job.summary
        assert abs(s["duration"] - inv.dur) <= max(0.25, 0.1 * inv.dur), (job.job_id, s["duration"], inv.dur)
        assert s["exitcode"] == decode_exitcode(inv.exitcode)[0], job.job_id
        cpu, peak, _, _ = job.series.totals()
        assert inv.remote_cpu_time / 2 - 0.1 <= cpu <= 2 * inv.remote_cpu_time + 0.1, (job.job_id, cpu, inv.remote_cpu_time)
        assert inv.maxrss * 1024 / 2 <= peak <= 2 * inv.maxrss * 1024, (job.job_id, peak, inv.maxrss)
        cpus = math.ceil(inv.avg_cpu)  # kickstart's CPU time over its duration: how many CPUs were busy
        for rs in job.series.ranks.values():
            for (t0, c0, *_), (t1, c1, *_) in zip(rs.samples, list(rs.samples)[1:]):
                assert c1 - c0 <= 1.1 * cpus * (t1 - t0) + TICKS, (job.job_id, t0, t1, c1 - c0, cpus)


def _darshan_bytes(rec: dict) -> int:
    # MPI-IO's bytes are the same bytes again, written through POSIX
    return sum((rec.get(f"{m}_module_data") or {}).get("total_bytes") or 0 for m in ("POSIX", "STDIO"))


def test_darshan_and_the_trace_tell_one_story(demo):
    jobs = [j for j in demo.jobs() if j.darshan]
    assert jobs, "the demo shows a Darshan record"
    for job in jobs:
        assert job.series is not None, f"{job.job_id}: Darshan I/O on a job without a trace to compare"
        _, _, rd, wr = job.series.totals()
        lo, hi = _window(job)
        for rec in job.darshan.values():
            b = _darshan_bytes(rec)
            assert 0.8 <= (rd + wr) / b <= 1.2, (job.job_id, rd, wr, b)
            assert rec["run_time"] <= job.summary["duration"] + DAGMAN_SECOND, job.job_id
            assert lo <= rec["start_time"] <= rec["end_time"] < hi, (job.job_id, rec["start_time"], lo, hi)


def test_darshan_rates_carry_their_unit(demo):
    lines = [ln for j in demo.jobs() if j.darshan for ln in darshan_report(j)]
    rates = re.findall(r"by_\w+ (\S+)( MiB/s)?", "\n".join(lines))
    assert rates and all(unit for _, unit in rates), lines


def _submit_dir(shared_data: Path, wf_uuid: str) -> Path:
    base = shared_data / "pegasus" / "submitdirs"
    return base / RUN_OF[ROOT_WF] / SUB_DIR if wf_uuid == SUB_WF else base / RUN_OF[wf_uuid]


def _sizes(run_dir: Path) -> dict[str, int]:
    """Every file's size as the jobs' .meta files (pegasus-transfer's checksums) record it."""
    out = {}
    for meta in run_dir.glob("**/00/00/*.meta"):
        for entry in json.loads(meta.read_text() or "[]"):
            out[entry["_id"]] = int(entry["_attributes"]["size"])
    return out


def test_transfers_belong_to_the_stage_jobs_that_moved_those_files(demo, recorded, shared_data):
    assert len(demo.transfers) >= 2, "the demo shows Globus transfers"
    sizes = _sizes(shared_data / "pegasus" / "submitdirs" / RUN_OF[ROOT_WF])
    for tr in demo.transfers.values():
        job = demo.find_job(tr.wf_uuid, tr.job_id)
        assert job is not None and job.type_desc in ("stage-in-tx", "stage-out-tx"), tr.job_id
        lo, hi = _window(job)
        reports = [e for e in recorded if e.get("event") == "transfer.inv.go" and e.get("task_id") == tr.task_id]
        for e in reports:
            assert lo <= e["ts"] < hi, (tr.job_id, e["ts"], lo, hi)
            for key in ("request_time", "completion_time"):
                if e.get(key):
                    assert lo <= to_epoch(e[key]) < hi, (tr.job_id, key, e[key])
        moved = [t["lfn"] for t in json.loads((_submit_dir(shared_data, tr.wf_uuid) / "00/00" / f"{tr.job_id}.in")
                                            .read_text())]
        d = tr.data
        assert d["status"] == "SUCCEEDED" and d["files"] == d["files_transferred"] == len(moved), tr.job_id
        assert d["bytes_transferred"] == sum(sizes[lfn] for lfn in moved), tr.job_id
        took = to_epoch(d["completion_time"]) - to_epoch(d["request_time"])  # whole seconds
        assert abs(d["bytes_transferred"] / d["effective_bytes_per_second"] - took) <= 1.0, (tr.job_id, took)


# -- on the screen ----------------------------------------------------------------------------------


def test_the_tree_shows_each_workflow_as_pegasus_status_does():
    """Each workflow's node: done/total of its tree, failures marked; the
    hierarchical run 100 % done (pegasus-status: 13 of 13, Success) with its
    sub-workflow's 15 jobs done beneath it."""
    import asyncio

    from panorama_tui.ui.panels.tree import WorkflowTree

    from .ui_helpers import finished_demo

    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            nodes = app.query_one("#tree", WorkflowTree)._wf_nodes
            return {uuid: str(node.label) for uuid, node in nodes.items()}

    labels = asyncio.run(go())
    assert labels[FAIL_WF].endswith("process 1/5 ✗1")
    assert labels[ROOT_WF].endswith("hierarchical-workflow 28/28")
    assert labels[SUB_WF].endswith("blackdiamond 15/15")
