"""A held job, as the real Pegasus tools tell it (tests/data/held, made by the real monitord).

* The exit code monitord writes for an instance DAGMan removed is a placeholder 1,
  not a SIGHUP: pegasus-analyzer and pegasus-statistics show -1, and so does every
  view here (the job list, the failure report, ``--once``, ``--stats``), whatever
  the source (event log, Stampede DB, submit dir with its overlay).
* ``--once`` tells holds: ``held`` (jobs ever held, pegasus-analyzer's count),
  ``held_now``, and each failed job's ``hold_reason``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from panorama_tui.core.events import decode_exitcode, describe_exitcode
from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.stats.job_report import failure_report, tries_report
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource
from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir
from panorama_tui.model.states import JobState
from panorama_tui.model.store import Store

from .held_runs import DB, HOLD_REASON, JOB, WF, events, expected, submit_dir

SOURCES = ("events", "db", "submitdir")


def source_of(kind: str, case: str, tmp_path):
    if kind == "events":
        return JsonLogSource(str(events(case)), follow=False)
    d = submit_dir(case, tmp_path)
    if kind == "db":
        return StampedeDbSource(str(d / DB), follow=False)
    return SubmitDirSource(find_submit_dir(str(d)), follow=False)


def store_of(kind: str, case: str, tmp_path) -> Store:
    store = run_to_end(source_of(kind, case, tmp_path), Store())
    assert store.bad_count == 0 and store.warning_count == 0, list(store.warnings)
    return store


@pytest.fixture
def cli(repo_root, child_env, tmp_path):
    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)], cwd=str(repo_root),
                              env=child_env() | {"TMPDIR": str(tmp_path), "TZ": "America/Los_Angeles"},
                              capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr + proc.stdout
        return proc

    return run


def csv_rows(text: str) -> list[list[str]]:
    return [ln.split(",") for ln in text.splitlines() if ln and not ln.startswith("#")]


# -- item 1: the placeholder exit code of a removed instance ------------------------------------


def test_the_pegasus_tools_show_minus_one_for_the_removed_job():
    """What the tests below hold panorama-top to."""
    assert "exitcode    : -1" in expected("removed", "analyzer.txt")
    jobs = [r for r in csv_rows(expected("removed", "statistics-csv/jobs.csv")) if r[2] == JOB]
    assert [r[15] for r in jobs] == ["-1", "-1"]  # both tries' Exitcode


@pytest.mark.parametrize("kind", SOURCES)
def test_a_removed_job_exits_minus_one_not_sighup(kind, tmp_path):
    store = store_of(kind, "removed", tmp_path)
    job = store.find_job(WF, JOB)
    assert job.state == JobState.FAILED and len(job.tries) == 2
    assert all(t.main_exitcode == 1 for t in job.tries.values())  # monitord's placeholder, as written
    assert describe_exitcode(job.exit_raw) == "-1" and job.exit_code == -1
    report = failure_report(job, tail=None)
    assert "SIGHUP" not in report and "signal" not in report, report
    assert " exit -1 " in report.splitlines()[0]
    assert "exitcode   : -1" in report  # the task, as pegasus-analyzer's "exitcode    : -1"
    assert "job exit: -1" in report
    tries = [ln for ln in tries_report(job) if ln.startswith("try #")]
    assert len(tries) == 2 and all(" exit -1 " in ln for ln in tries), tries


def test_a_raw_one_outside_a_removed_instance_is_still_sighup(tmp_path):
    """The placeholder is told from the instance's states, not from the value: without
    the JOB_ABORTED state (the abort.info events taken out) a raw 1 is death by signal 1."""
    assert decode_exitcode(1) == (None, 1) and describe_exitcode(1) == "signal 1 (SIGHUP)"
    assert decode_exitcode(1, removed=True) == (-1, None) and describe_exitcode(1, removed=True) == "-1"
    assert decode_exitcode(512, removed=True) == (2, None)  # a real status stays what it is
    lines = [ln for ln in events("removed").read_text().splitlines() if "job_inst.abort.info" not in ln]
    p = tmp_path / "events.json"
    p.write_text("\n".join(lines) + "\n")
    store = run_to_end(JsonLogSource(str(p), follow=False), Store())
    job = store.find_job(WF, JOB)
    assert describe_exitcode(job.exit_raw) == "signal 1 (SIGHUP)"
    assert "signal 1 (SIGHUP)" in failure_report(job)


@pytest.mark.parametrize("kind", ("events", "submitdir"))
def test_once_and_stats_say_minus_one(kind, cli, tmp_path):
    path = events("removed") if kind == "events" else submit_dir("removed", tmp_path)
    proc = cli("--once", "--json", path)
    assert proc.returncode == 1, proc.stderr
    (wf,) = json.loads(proc.stdout)["workflows"]
    assert [(f["job_id"], f["exitcode"]) for f in wf["failed_jobs"]] == [(JOB, "-1")]
    proc = cli("--once", path)
    assert f"FAILED {JOB}  exit -1 " in proc.stdout and "SIGHUP" not in proc.stdout
    if kind == "submitdir":
        proc = cli("--stats", "--json", path)
        assert proc.returncode == 0, proc.stderr
        rows = json.loads(proc.stdout)["jobs"][WF]
        assert [r["exitcode"] for r in rows if r["job_id"] == JOB] == [-1, -1]


def test_the_job_list_shows_minus_one():
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.widgets.joblist import JobList

    async def go():
        store = Store()
        ingest = Ingest(JsonLogSource(str(events("removed")), follow=False), store).start()
        app = PanoramaApp(store, ingest=ingest, source_label="held", monotonic=lambda: 0.0)
        try:
            async with app.run_test(size=(140, 40)) as pilot:
                ingest.done.wait(20)
                app.refresh_all(full=True)
                await pilot.pause()
                jobs = app.query_one("#jobs", JobList)
                job = store.find_job(WF, JOB)
                assert job in jobs.rows
                assert jobs._cell("exit", job, None)[0] == "-1"
        finally:
            ingest.stop()

    asyncio.run(go())


# -- item 2: holds on the command line -------------------------------------------------------------


def _analyzer_summary(case: str) -> dict:
    out = {}
    for line in expected(case, "analyzer.txt").splitlines():
        if line.startswith(" # jobs ") or line.startswith(" Total jobs"):
            key, value = line.split(":", 1)
            out[key.strip().removeprefix("# jobs ")] = int(value.split()[0])
    return out


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("case,code,held_now", [("removed", 1, 0), ("held", 2, 1)])
def test_once_json_says_held_as_the_analyzer_counts(kind, case, code, held_now, cli, tmp_path):
    want = _analyzer_summary(case)
    assert want["held"] == 1
    path = events(case) if kind == "events" else submit_dir(case, tmp_path)
    if kind == "db":
        path = path / DB
    proc = cli("--once", "--json", path)
    assert proc.returncode == code, proc.stderr
    (wf,) = json.loads(proc.stdout)["workflows"]
    assert wf["held"] == want["held"] and wf["held_now"] == held_now
    for f in wf["failed_jobs"]:
        assert f["hold_reason"].startswith(HOLD_REASON)
    assert [f["job_id"] for f in wf["failed_jobs"]] == ([JOB] if case == "removed" else [])
    proc = cli("--once", path)
    assert "held 1" in proc.stdout, proc.stdout
    if held_now:
        assert f"HELD {JOB}  {HOLD_REASON}" in proc.stdout
    else:
        assert f"held: {HOLD_REASON}" in proc.stdout


def test_once_json_of_runs_without_holds(cli, replay_dir):
    proc = cli("--once", "--json", replay_dir / "process_wf_failure" / "events.json")
    (wf,) = json.loads(proc.stdout)["workflows"]
    assert wf["held"] == 0 and wf["held_now"] == 0
    assert wf["failed_jobs"][0]["hold_reason"] is None
    assert "# jobs held        :      0" in (replay_dir / "process_wf_failure" / "analyzer.txt").read_text()


# -- the held runs' statistics equal pegasus-statistics' ----------------------------------------------


@pytest.mark.parametrize("case", ["removed", "held", "stale"])
def test_stats_of_the_held_runs_equal_pegasus_statistics(case, tmp_path, expected_summary):
    from panorama_tui.stats import sql_stats

    from .held_runs import HELD
    from .test_pegstats import LA
    from .test_pegstats import check_against_csv as check_store
    from .test_sqlstats import check_against_csv as check_db

    csv = HELD / case / "expected" / "statistics-csv"
    db = submit_dir(case, tmp_path) / DB
    check_db(sql_stats.all_statistics_db(str(db), tz=LA), csv, expected_summary)
    store = run_to_end(StampedeDbSource(str(db), follow=False), Store())
    check_store(store, store.workflows[WF], csv, expected_summary)
