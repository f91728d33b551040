"""``panorama-top --report PATH``: what pegasus-analyzer prints for the failed and held jobs.

Checked against the real pegasus-analyzer's output on the shared failed run
(analyzer.txt) and on the runs with a held job (tests/data/held): its summary
lines, its section headings and order, and every fact it gives of a job.  Each
job's block is ``failure_report(job, tail=None)``, the text the ``o`` key opens.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.stats.job_report import failure_report
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.model.store import Store

from .held_runs import DB, HOLD_REASON, JOB, WF, events, expected, submit_dir
from .test_failure_report import analyzer_facts

FAILED_HEADING = "Failed jobs' details".center(80, "*")
HELD_HEADING = "Held jobs' details".center(80, "*")
SUMMARY_HEADING = "Summary".center(80, "*")


@pytest.fixture
def cli(repo_root, child_env, tmp_path):
    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)], cwd=str(repo_root),
                              env=child_env() | {"TMPDIR": str(tmp_path)}, capture_output=True, text=True,
                              timeout=120)
        assert "Traceback" not in proc.stderr + proc.stdout
        assert proc.returncode != 70, proc.stderr
        return proc

    return run


def summary_lines(analyzer: str) -> list[str]:
    """pegasus-analyzer's summary: status and counts, as it prints them."""
    return [ln for ln in analyzer.splitlines() if ln.startswith((" Workflow Status", " Total jobs", " # jobs"))]


def block_of(report: str, job_id: str, after: str) -> str:
    """The job's report block under the ``after`` heading."""
    part = report.split(after, 1)[1]
    start = part.index(f"=== {job_id} ")
    rest = part[start:]
    ends = [i for i in (rest.find("\n" + "*" * 10), rest.find("\n=== ", 1)) if i > 0]
    return rest[:min(ends)] if ends else rest


def store_of(path) -> Store:
    return run_to_end(JsonLogSource(str(path), follow=False), Store())


def test_failed_run_as_pegasus_analyzer_says(cli, replay_dir, tmp_path):
    run = replay_dir / "process_wf_failure"
    analyzer = (run / "analyzer.txt").read_text()
    for path in (run / "events.json", run / "process-0.stampede.db"):
        proc = cli("--report", path)
        assert proc.returncode == 1, proc.stderr
        out = proc.stdout
        assert SUMMARY_HEADING in out and FAILED_HEADING in out and HELD_HEADING not in out
        for line in summary_lines(analyzer):
            assert line in out, line
        block = block_of(out, "ls_ID0000001", FAILED_HEADING)
        facts = analyzer_facts(analyzer)
        for key in ("last state", "site", "submit file", "output file", "error file", "hostname", "executable",
                    "working dir"):
            assert facts[key] in block, (key, facts[key])
        assert "exitcode   : 2" in block
        for line in facts["stderr"]:
            assert line in block
    job = store_of(run / "events.json").find_job("f84f05fc-a8d0-42b5-bac5-52d6f41a77e3", "ls_ID0000001")
    assert block_of(cli("--report", run / "events.json").stdout, "ls_ID0000001", FAILED_HEADING).rstrip("\n") \
        == failure_report(job, tail=None)  # what the o key opens


def test_successful_run_has_nothing_to_report(cli, replay_dir):
    run = replay_dir / "process_wf_success"
    proc = cli("--report", run / "events.json")
    assert proc.returncode == 0, proc.stderr
    for line in summary_lines((run / "analyzer.txt").read_text()):
        assert line in proc.stdout, line
    assert FAILED_HEADING not in proc.stdout and HELD_HEADING not in proc.stdout


@pytest.mark.parametrize("kind", ["events", "submitdir"])
def test_held_then_removed_as_pegasus_analyzer_says(kind, cli, tmp_path):
    analyzer = expected("removed", "analyzer.txt")
    path = events("removed") if kind == "events" else submit_dir("removed", tmp_path)
    proc = cli("--report", path)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    for line in summary_lines(analyzer):
        assert line in out, line
    # the analyzer's order: held jobs, then failed jobs
    assert out.index(SUMMARY_HEADING) < out.index(HELD_HEADING) < out.index(FAILED_HEADING)
    assert analyzer.index(HELD_HEADING) < analyzer.index(FAILED_HEADING)
    held = out.split(HELD_HEADING, 1)[1].split(FAILED_HEADING, 1)[0]
    assert f"reason : {HOLD_REASON}" in held and "removed by DAGMan" in held
    block = block_of(out, JOB, FAILED_HEADING)
    facts = analyzer_facts(analyzer + "Kickstart stderr\n")  # the job never ran: no stderr block of its own
    for key in ("last state", "site", "submit file", "executable", "working dir"):
        assert facts[key] in block, (key, facts[key])
    assert facts["exitcode"] == "-1" and "exitcode   : -1" in block and "SIGHUP" not in out
    assert f"held reason: {HOLD_REASON}" in block
    assert out.count(f"=== {JOB} ") == 2  # a short entry among the held, the whole report among the failed


def test_held_now_as_pegasus_analyzer_says(cli, tmp_path):
    analyzer = expected("held", "analyzer.txt")
    proc = cli("--report", submit_dir("held", tmp_path))
    assert proc.returncode == 2, proc.stderr  # still running
    out = proc.stdout
    for line in summary_lines(analyzer):
        assert line in out, line
    assert FAILED_HEADING not in out
    block = block_of(out, JOB, HELD_HEADING)
    assert block.startswith(f"=== {JOB}  HELD ")
    assert "last state: JOB_HELD" in block and f"held reason: {HOLD_REASON}" in block
    job = store_of(events("held")).find_job(WF, JOB)
    assert block_of(cli("--report", events("held")).stdout, JOB, HELD_HEADING).rstrip("\n") == \
        failure_report(job, tail=None)


def test_report_json(cli, tmp_path):
    d = submit_dir("removed", tmp_path)
    proc = cli("--report", "--json", d)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["exit_status"] == 1 and data["source"] == str(d)
    (wf,) = data["workflows"]
    assert wf["wf_uuid"] == WF and wf["status"] == "failure"
    assert wf["jobs"] == {"total": 5, "succeeded": 1, "failed": 1, "held": 1, "unsubmitted": 3}
    (held,) = wf["held_jobs"]
    (failed,) = wf["failed_jobs"]
    for j in (held, failed):
        assert j["job_id"] == JOB and j["hold_reason"].startswith(HOLD_REASON)
        assert j["exitcode"] == "-1" and j["removed"] is True and j["state"] == "failed"
        assert j["last_state"] == "POST_SCRIPT_FAILED" and j["submit_file"] == "00/00/ls_ID0000001.sub"
        assert j["job_exit"] == "-1" and j["job_exit_raw"] == 1 and j["post_exit"] == "1"
        (task,) = j["tasks"]
        assert task["exitcode"] == "-1" and task["transformation"] == "ls" and task["task_id"] == "ID0000001"
    # the same facts the text shows
    text = cli("--report", d).stdout
    assert f"tries: {failed['tries']} (max retries {failed['max_retries']})" in text
    assert f"working dir: {failed['work_dir']}" in text


def test_report_json_of_the_db(cli, tmp_path):
    proc = cli("--report", "--json", submit_dir("held", tmp_path) / DB)
    assert proc.returncode == 2, proc.stderr
    (wf,) = json.loads(proc.stdout)["workflows"]
    assert wf["status"] == "running" and wf["failed_jobs"] == []
    assert wf["jobs"] == {"total": 5, "succeeded": 1, "failed": 0, "held": 1, "unsubmitted": 4}
    assert [j["state"] for j in wf["held_jobs"]] == ["held"]


def test_report_bad_input_and_arguments(cli, tmp_path, replay_dir):
    proc = cli("--report", tmp_path / "nope.json")
    assert proc.returncode == 3 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("panorama-top: ")
    ev = replay_dir / "process_wf_failure" / "events.json"
    for other in ("--once", "--stats"):
        proc = cli("--report", other, ev)
        assert proc.returncode == 3 and "--report" in proc.stderr and proc.stdout == ""
    proc = cli("--report", "--amqp", "amqp://guest:guest@127.0.0.1:5672/panorama/monitoring")
    assert proc.returncode == 3 and proc.stdout == ""
    proc = cli("--help")
    assert "--report" in proc.stdout


def test_report_of_a_recording_is_the_report_of_its_events(cli, tmp_path):
    """A recording replays at full speed under --report, as under --once."""
    from panorama_tui.core.recorder import Recorder

    lines = [ln for ln in events("removed").read_text().splitlines() if ln.strip()]
    path = tmp_path / "rec.panorama.db"
    rec = Recorder(str(path))
    rec.append_timed((1677911023.0 + i, None, ln) for i, ln in enumerate(lines))
    rec.close()
    from_rec = cli("--report", path)
    assert from_rec.returncode == 1, from_rec.stderr
    assert from_rec.stdout == cli("--report", events("removed")).stdout
