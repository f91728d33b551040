"""Submit directories: what is found in them, the jobstate.log overlay, dagman.out
times in any timezone, the master DB, and ``panorama-top`` pointed at them."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest

from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.pegasus.jobstate_log import JobstateLog, JobstateLogSource, parse_line
from panorama_tui.sources.pegasus.master_db import list_workflows, workflow_progress
from panorama_tui.sources.pegasus.stampede_db import StampedeDbError, StampedeDbSource
from panorama_tui.pipeline.read import read_stampede_db as read_store
from panorama_tui.sources.pegasus.submitdir import (
    SubmitDirError,
    SubmitDirSource,
    find_submit_dir,
    parse_braindump_yml,
    read_properties,
    sqlite_path,
)
from panorama_tui.model.store import Store

from .test_stampede_db import DBS, RUNS, deep, events_store, feed

# Pegasus's loader (SQLAlchemy) warns about Decimal columns on SQLite: its business, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite\\+pysqlite does \\*not\\* support Decimal")

FAIL_WF = "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3"
OK_WF = "f00c0056-abd4-4e8e-b793-24eb760dda1f"
ROOT_WF = "48f759a4-165f-47d6-8c32-571649ce311b"
UUIDS = {"process_wf_failure": FAIL_WF, "process_wf_success": OK_WF, "hierarchical_wf_success": ROOT_WF}
# DAGMAN_STARTED of each run, epoch seconds (jobstate.log, written by monitord)
DAGMAN_STARTED = {"process_wf_success": 1677911023, "process_wf_failure": 1677913788,
                  "hierarchical_wf_success": 1677920470}
MONITORD_FILES = ("jobstate.log", "monitord.info", "monitord.log.000", "monitord.started", "monitord.subwf",
                  "monitord.done", "monitord.pid", "monitord.recover")


@pytest.fixture
def submitdirs(shared_data):
    return shared_data / "pegasus" / "submitdirs"


def copy_dir(src, dst, drop=()):
    shutil.copytree(src, dst)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    for name in drop:
        p = dst / name
        if p.exists():
            p.unlink()
    return dst


# -- discovery ---------------------------------------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_find_everything_in_the_shared_submit_dirs(submitdirs, run):
    d = submitdirs / run
    sd = find_submit_dir(str(d))
    assert sd.wf_uuid == UUIDS[run] and sd.root_wf_uuid == UUIDS[run]
    # braindump's submit_dir is the original machine's: found here instead
    assert sd.db_path == str(d / DBS[run]) and sd.db_from == "default"
    assert sd.jobstate_log == str(d / "jobstate.log")
    assert sd.dagman_out and sd.dagman_out.endswith(".dag.dagman.out")
    assert sd.properties_file and sd.properties_file.endswith(".properties")
    assert sd.event_log is None
    assert sd.message == ""
    assert sd.dagman["start"] == DAGMAN_STARTED[run]


def test_cwd_is_the_default(submitdirs, monkeypatch):
    monkeypatch.chdir(submitdirs / "process_wf_success")
    assert find_submit_dir().wf_uuid == OK_WF


def test_not_a_submit_dir(tmp_path):
    with pytest.raises(SubmitDirError, match="not a Pegasus submit directory"):
        find_submit_dir(str(tmp_path))
    with pytest.raises(SubmitDirError, match="not a directory"):
        find_submit_dir(str(tmp_path / "nope"))


def test_old_braindump_txt(tmp_path, submitdirs):
    d = copy_dir(submitdirs / "process_wf_failure", tmp_path / "run")
    bd = parse_braindump_yml((d / "braindump.yml").read_text())
    (d / "braindump.yml").unlink()
    (d / "braindump.txt").write_text("".join(f"{k} {v}\n" for k, v in bd.items() if v is not None))
    sd = find_submit_dir(str(d))
    assert (sd.wf_uuid, sd.dag, os.path.basename(sd.db_path)) == (FAIL_WF, "process-0.dag", "process-0.stampede.db")
    assert sd.braindump_file.endswith("braindump.txt")


def test_braindump_without_pyyaml_parses_the_same(submitdirs):
    text = (submitdirs / "process_wf_success" / "braindump.yml").read_text()
    yaml_way = parse_braindump_yml(text)
    import panorama_tui.sources.pegasus.submitdir as m

    simple = {}
    for line in text.splitlines():
        k, v = line.split(":", 1)
        simple[k.strip()] = m._yaml_scalar(v)
    assert simple == yaml_way
    assert simple["planner_arguments"].startswith('"--conf') and simple["grid_dn"] is None


def test_properties_file_java_syntax(tmp_path):
    p = tmp_path / "x.properties"
    p.write_text("# comment\n! also\npegasus.catalog.replica.output.db.url=jdbc\\:sqlite\\:/a/b.db\n"
                 "a.b : spaced value\nlong = one \\\n    two\nnoval\n")
    props = read_properties(str(p))
    assert props["pegasus.catalog.replica.output.db.url"] == "jdbc:sqlite:/a/b.db"
    assert props["a.b"] == "spaced value" and props["long"] == "one two" and props["noval"] == ""


def test_sqlite_urls(tmp_path):
    assert sqlite_path("sqlite:////abs/x.db", "/base") == "/abs/x.db"
    assert sqlite_path("sqlite:///rel/x.db", "/base") == "/base/rel/x.db"
    assert sqlite_path("mysql://u:p@h/db", "/base") is None


def test_db_url_and_event_log_from_the_properties(tmp_path, submitdirs):
    d = copy_dir(submitdirs / "process_wf_failure", tmp_path / "run")
    shared = tmp_path / "elsewhere" / "all.db"
    shared.parent.mkdir()
    shutil.copy(d / "process-0.stampede.db", shared)
    (d / "process-0.stampede.db").unlink()
    prop = next(d.glob("pegasus.*.properties"))
    with open(prop, "a") as f:
        f.write(f"pegasus.catalog.workflow.url=sqlite\\:///{shared}\n")
        f.write(f"pegasus.catalog.workflow.events.url=file://{tmp_path}/ev.json\npegasus.monitord.encoding=json\n")
    sd = find_submit_dir(str(d))
    assert sd.db_path == str(shared) and sd.db_from == "properties"
    assert sd.event_log == f"{tmp_path}/ev.json" and not sd.event_log_bp
    assert "event log ev.json not there yet" in sd.message
    s = run_to_end(SubmitDirSource(sd, follow=False), Store())
    assert s.workflows[FAIL_WF].state == "failed"


def test_a_non_sqlite_db_is_said_so(tmp_path, submitdirs):
    d = copy_dir(submitdirs / "process_wf_failure", tmp_path / "run")
    prop = next(d.glob("pegasus.*.properties"))
    with open(prop, "a") as f:
        f.write("pegasus.monitord.output=mysql://user:secret@db.example.org/stampede\n")
    sd = find_submit_dir(str(d))
    assert sd.db_path is None
    assert "mysql://" in sd.message and "SQLite only" in sd.message and "secret" not in sd.message
    # jobstate.log still shows the run
    s = run_to_end(SubmitDirSource(sd, follow=False), Store())
    assert s.workflows[FAIL_WF].jobs["ls_ID0000001"].state.label == "failed"


# -- the jobstate.log overlay ----------------------------------------------------------------


def test_parse_lines():
    assert parse_line("1677913864 ls_ID0000001 JOB_FAILURE 2 condorpool - 2") == (
        1677913864, "ls_ID0000001", "JOB_FAILURE", "2", "condorpool", 2)
    assert parse_line("1677913788 INTERNAL *** DAGMAN_STARTED 7.0 ***") == (1677913788, "INTERNAL", "DAGMAN_STARTED", "7.0")
    assert parse_line("garbage") is None and parse_line("12 a b c d e notanint") is None


@pytest.mark.parametrize("run", RUNS)
def test_overlay_keys_are_the_db_keys(replay_dir, run, store_snapshot):
    """Alone, the log gives exactly the DB's states (same state, js_id, ts) and
    exit codes; laid under the DB, it changes nothing."""
    db = read_store(str(replay_dir / run / DBS[run]))
    uuid = UUIDS[run]
    log = JobstateLog(str(replay_dir / run / "jobstate.log"), uuid)
    events = log.poll()
    assert events and all(e.data["provisional"] for e in events)
    ov = Store()
    ov.apply_many(events)
    for job_id, job in ov.workflows[uuid].jobs.items():
        ref = db.workflows[uuid].jobs[job_id]
        assert sorted(job.tries) == sorted(ref.tries)
        for seq, t in job.tries.items():
            r = ref.tries[seq]
            assert t.states == r.states, (job_id, seq)
            assert (t.main_exitcode, t.post_exitcode, t.sched_id) == (r.main_exitcode, r.post_exitcode, r.sched_id)
        assert job.state == ref.state
    assert ov.workflows[uuid].wf_states == db.workflows[uuid].wf_states
    both = Store()
    both.apply_many(events)
    run_to_end(StampedeDbSource(str(replay_dir / run / DBS[run]), follow=False), both)
    assert store_snapshot(both) == store_snapshot(db)


def test_overlay_shows_what_the_db_has_not_yet(tmp_path, replay_dir, store_snapshot):
    """The DB holds the first half of the run, jobstate.log all of it: the
    overlay fills in the rest, provisionally; once the DB has everything the
    store equals the DB's, with no state counted twice."""
    run = "process_wf_failure"
    lines = [ln for ln in (replay_dir / run / "events.json").read_bytes().splitlines() if ln.strip()]
    d = tmp_path / "run"
    d.mkdir()
    (d / "braindump.yml").write_text(f'wf_uuid: "{FAIL_WF}"\nroot_wf_uuid: "{FAIL_WF}"\ndag: "process-0.dag"\n')
    shutil.copy(replay_dir / run / "jobstate.log", d / "jobstate.log")
    half = len(lines) // 2
    feed(d / "process-0.stampede.db", lines[:half], 1000)
    sd = find_submit_dir(str(d))
    src = SubmitDirSource(sd, follow=True, poll=0.01)
    store = Store()
    got = src._round([])[0]
    store.apply_many(got)
    assert any(e.data.get("provisional") for e in got)
    db_half = events_store(replay_dir, run, half)
    ls = store.workflows[FAIL_WF].jobs["ls_ID0000001"]
    assert ls.state.label == "failed" and len(ls.tries) == 2  # the DB half does not know yet
    assert db_half.workflows[FAIL_WF].jobs["ls_ID0000001"].state.label != "failed"
    assert store.workflows[FAIL_WF].state == "failed"
    # monitord writes the rest
    os.unlink(d / "process-0.stampede.db")
    feed(d / "process-0.stampede.db", lines, 1000)
    for _ in range(3):
        ev, reset = src._round([])
        if reset:
            store.reset()
        store.apply_many(ev)
    src.db.close()
    full = events_store(replay_dir, run)
    assert store_snapshot(store) == store_snapshot(full)
    assert deep(store) == deep(full)


def test_jobstate_log_alone_follows_growth_and_restart(tmp_path, replay_dir):
    log = tmp_path / "jobstate.log"
    lines = (replay_dir / "process_wf_failure" / "jobstate.log").read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:10]) + lines[10][:12])  # a line cut mid-write
    j = JobstateLog(str(log), FAIL_WF)
    first = j.poll()
    with open(log, "a") as f:
        f.write(lines[10][12:] + "".join(lines[11:]))
    rest = j.poll()
    s = Store()
    s.apply_many(first + rest)
    assert s.workflows[FAIL_WF].jobs["ls_ID0000001"].state.label == "failed"
    # monitord -r rewrites it from the top (a new MONITORD_STARTED line): read again, same store
    log.write_text("".join(["1795239999 INTERNAL *** MONITORD_STARTED ***\n"] + lines[1:]))
    again = j.poll()
    assert again
    s2 = Store()
    s2.apply_many(again)
    assert s2.workflows[FAIL_WF].jobs["ls_ID0000001"].tries.keys() == s.workflows[FAIL_WF].jobs["ls_ID0000001"].tries.keys()
    src = JobstateLogSource(str(log), FAIL_WF, follow=False)
    assert run_to_end(src, Store()).workflows[FAIL_WF].state == "failed"


def test_partial_submit_dir_shows_what_it_can(tmp_path, submitdirs):
    """No DB (monitord not started) and no dagman.out: jobstate.log still shows
    the jobs, and one message says what is missing."""
    d = copy_dir(submitdirs / "process_wf_failure", tmp_path / "run")
    (d / "process-0.stampede.db").unlink()
    (d / "process-0.dag.dagman.out").unlink()
    sd = find_submit_dir(str(d))
    assert "no Stampede DB yet" in sd.message and "no dagman.out" in sd.message
    src = SubmitDirSource(sd, follow=False)
    s = run_to_end(src, Store())
    assert src.status.state == "ended" and "no Stampede DB yet" in src.status.message
    assert s.workflows[FAIL_WF].jobs["ls_ID0000001"].state.label == "failed"
    # following: the DB is waited for, the log shown meanwhile
    src = SubmitDirSource(sd, follow=True, poll=0.01)
    got = src._round([])[0]
    assert got and src.db.status.state == "starting" and "waiting for" in src.db.status.message


def test_a_broken_db_falls_back_to_the_log(tmp_path, submitdirs):
    d = copy_dir(submitdirs / "process_wf_failure", tmp_path / "run")
    (d / "process-0.stampede.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    sd = find_submit_dir(str(d))
    src = SubmitDirSource(sd, follow=False)
    s = run_to_end(src, Store())
    assert src.status.state == "ended" and "showing jobstate.log only" in src.status.message
    assert s.workflows[FAIL_WF].jobs["ls_ID0000001"].state.label == "failed"


def test_nothing_at_all(tmp_path):
    (tmp_path / "braindump.yml").write_text('wf_uuid: "x"\n')
    src = SubmitDirSource(find_submit_dir(str(tmp_path)), follow=False)
    assert list(src.batches()) == [] and src.status.state == "error"
    assert "no jobstate.log" in src.status.message


def test_event_log_when_there_is_no_db(tmp_path, submitdirs, replay_dir, store_snapshot):
    d = copy_dir(submitdirs / "process_wf_success", tmp_path / "run")
    prop = next(d.glob("pegasus.*.properties"))
    shutil.copy(replay_dir / "process_wf_success" / "events.json", d / "monitord-events.json")
    with open(prop, "a") as f:
        f.write("pegasus.monitord.output=monitord-events.json\npegasus.monitord.encoding=json\n")
    sd = find_submit_dir(str(d))
    assert sd.db_path is None and sd.event_log == str(d / "monitord-events.json")
    s = run_to_end(SubmitDirSource(sd, follow=False), Store())
    assert store_snapshot(s) == store_snapshot(events_store(replay_dir, "process_wf_success"))


# -- dagman.out times ----------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo", "America/Los_Angeles", "Australia/Adelaide"])
@pytest.mark.parametrize("with_log", [True, False])
def test_dagman_out_times_in_any_timezone(submitdirs, tmp_path, tz, with_log, child_env):
    """dagman.out says ``03/03/23 22:23:43`` in the submit host's time (PST): the
    epoch is the same whatever zone this machine is in, calibrated on
    jobstate.log, else on braindump's offset."""
    out = {}
    for run in RUNS:
        d = submitdirs / run
        log = str(d / "jobstate.log") if with_log else None
        code = (
            "import json, sys; from panorama_tui.sources.pegasus.submitdir import dagman_out_info, parse_braindump_yml;"
            f"bd = parse_braindump_yml(open({str(d / 'braindump.yml')!r}).read());"
            f"import glob; p = glob.glob({str(d)!r} + '/*.dag.dagman.out')[0];"
            f"print(json.dumps(dagman_out_info(p, {log!r}, bd.get('timestamp'))))"
        )
        r = subprocess.run([sys.executable, "-c", code], env=child_env() | {"TZ": tz}, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        out[run] = json.loads(r.stdout)
    for run, info in out.items():
        assert info["start"] == DAGMAN_STARTED[run], (run, info)
    assert out["process_wf_failure"]["status"] == 1 and out["process_wf_success"]["status"] == 0
    assert out["process_wf_failure"]["end"] == 1677913884  # DAGMAN_FINISHED in jobstate.log


# -- the master DB ----------------------------------------------------------------------------


def _master_db(path, rows):
    """A master DB made by Pegasus's own schema code."""
    pytest.importorskip("Pegasus.db.schema")
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from Pegasus.db.schema import MasterWorkflow, MasterWorkflowstate, metadata

    eng = create_engine(f"sqlite:///{path}")
    metadata.create_all(eng)
    ses = sessionmaker(bind=eng)()
    for i, (uuid, label, states, db_url) in enumerate(rows, 1):
        ses.add(MasterWorkflow(wf_id=i, wf_uuid=uuid, dax_label=label, submit_dir=f"/runs/{label}",
                               submit_hostname="submit.example.org", user="alice", timestamp=1677900000 + i,
                               db_url=db_url, archived=False, planner_version="5.0.5"))
        for state, ts, restart, status in states:
            ses.add(MasterWorkflowstate(wf_id=i, state=state, timestamp=ts, restart_count=restart, status=status))
    ses.commit()
    ses.close()
    eng.dispose()


def test_list_workflows_of_a_master_db(tmp_path, replay_dir):
    path = tmp_path / "workflow.db"
    fail_db = replay_dir / "process_wf_failure" / "process-0.stampede.db"
    hier_db = replay_dir / "hierarchical_wf_success" / DBS["hierarchical_wf_success"]
    _master_db(path, [
        (FAIL_WF, "process", [("WORKFLOW_STARTED", 1677913788, 0, None), ("WORKFLOW_TERMINATED", 1677913884, 0, 1)],
         f"sqlite:///{fail_db}"),
        (ROOT_WF, "hierarchical-workflow", [("WORKFLOW_STARTED", 1677920470, 0, None),
                                            ("WORKFLOW_TERMINATED", 1677920801, 0, 0)], f"sqlite:///{hier_db}"),
        ("running-1", "still-going", [("WORKFLOW_STARTED", 1677930000, 0, None)], "sqlite:////nonexistent.db"),
        ("restarted", "again", [("WORKFLOW_STARTED", 1677800000, 0, None), ("WORKFLOW_TERMINATED", 1677800100, 0, 1),
                                ("WORKFLOW_STARTED", 1677800200, 1, None)], None),
    ])
    wfs = list_workflows(str(path), progress=True)
    by = {w["wf_uuid"]: w for w in wfs}
    assert [w["wf_uuid"] for w in wfs] == ["running-1", ROOT_WF, FAIL_WF, "restarted"]  # newest first
    f = by[FAIL_WF]
    assert (f["state"], f["status"], f["start"], f["end"], f["label"]) == ("failed", 1, 1677913788.0, 1677913884.0, "process")
    assert f["db_path"] == str(fail_db) and f["submit_dir"] == "/runs/process"
    # pegasus-status's % done (status.json): 1 of 5 nodes done, not 2 of 5 "finished"
    assert f["progress"] == {"total": 5, "succeeded": 1, "failed": 1, "running": 0, "unsubmitted": 3, "percent": 20.0}
    h = by[ROOT_WF]
    # its sub-workflow never started in this DB (pegasus-status: 13 of 13 nodes; the sub-workflow's job is one)
    assert h["state"] == "succeeded" and h["progress"]["total"] == 13 and h["progress"]["succeeded"] == 13
    assert by["running-1"]["state"] == "running" and by["running-1"]["progress"] is None
    r = by["restarted"]
    assert (r["state"], r["restart_count"], r["start"], r["end"]) == ("running", 1, 1677800000.0, None)
    assert workflow_progress(str(fail_db), "no-such-uuid") is None


def test_master_db_bad_input(tmp_path, replay_dir):
    with pytest.raises(StampedeDbError, match="no such file"):
        list_workflows(str(tmp_path / "missing.db"))
    (tmp_path / "text.db").write_text("x")
    with pytest.raises(StampedeDbError, match="not an SQLite DB"):
        list_workflows(str(tmp_path / "text.db"))
    c = sqlite3.connect(tmp_path / "other.db")
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    with pytest.raises(StampedeDbError, match="not a Pegasus master DB"):
        list_workflows(str(tmp_path / "other.db"))


# -- panorama-top on submit dirs and DBs ---------------------------------------------------------


@pytest.fixture
def cli(child_env, tmp_path):
    def run(*args, cwd=None, timeout=120):
        proc = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)], cwd=str(cwd or tmp_path),
                              env=child_env() | {"TMPDIR": str(tmp_path), "PANORAMA_AMQP_URL": ""},
                              capture_output=True, text=True, timeout=timeout)
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        assert proc.returncode != 70, proc.stderr
        return proc

    return run


# The upstream hierarchical submit dir was copied mid-run: its DB and
# jobstate.log stop before the end, its dagman.out does not (status 0), and
# no monitord runs: DAGMan's log shows the rest of the run, which is stalled
# (monitord did not record the end; tests/test_stalled.py).
@pytest.mark.parametrize("run,code", [("process_wf_success", 0), ("process_wf_failure", 1),
                                      ("hierarchical_wf_success", 4)])
def test_once_in_a_submit_dir_without_a_path(cli, submitdirs, run, code):
    p = cli("--once", "--json", cwd=submitdirs / run)
    assert p.returncode == code, p.stderr
    d = json.loads(p.stdout)
    assert d["workflows"][0]["wf_uuid"] == UUIDS[run]
    if run == "hierarchical_wf_success":
        assert p.stderr.count("\n") == 1 and "DAGMan exited with status 0 at 2023-03-04 09:06:41 UTC" in p.stderr
        assert "monitord has not recorded the end" in p.stderr
        assert d["workflows"][0]["state"] == "succeeded" and d["workflows"][0]["dag"]["percent_done"] == 100.0
    else:
        assert p.stderr == ""


@pytest.mark.parametrize("run,codes", [("process_wf_success", (0, 0)), ("process_wf_failure", (1, 1)),
                                       ("hierarchical_wf_success", (4, 0))])
def test_once_on_a_submit_dir_and_on_a_db(cli, submitdirs, replay_dir, run, codes, expected_summary):
    for target, code in zip((submitdirs / run, replay_dir / run / DBS[run]), codes):
        p = cli("--once", "--json", target)
        assert p.returncode == code, p.stderr
        d = json.loads(p.stdout)
        if target.suffix == ".db":
            w = d["workflows"][0]
            got = {k: {x: w[k][x] for x in ("succeeded", "failed", "incomplete", "total", "retries")}
                   for k in ("tasks", "jobs", "sub_workflows")}
            assert got == expected_summary(replay_dir / run / "statistics-csv" / "summary.csv")


def test_once_on_a_partial_submit_dir_says_what_is_missing(cli, submitdirs, tmp_path):
    d = copy_dir(submitdirs / "process_wf_failure", tmp_path / "run", drop=("process-0.stampede.db",))
    p = cli("--once", d)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "no Stampede DB yet" in p.stderr
    assert "ls_ID0000001" in p.stdout


def test_bad_paths_one_line_each(cli, tmp_path, replay_dir):
    p = cli("--once", tmp_path)
    assert p.returncode == 3 and "not a Pegasus submit directory" in p.stderr
    bad = tmp_path / "v.stampede.db"
    shutil.copy(replay_dir / "process_wf_failure" / "process-0.stampede.db", bad)
    c = sqlite3.connect(bad)
    c.execute("INSERT INTO dbversion (version_number, version, version_timestamp) VALUES (11, '11', 0)")
    c.commit()
    c.close()
    p = cli("--once", bad)
    assert p.returncode == 3 and p.stderr.count("\n") == 1 and "schema version 11" in p.stderr
    cut = tmp_path / "cut.stampede.db"
    cut.write_bytes((replay_dir / "process_wf_failure" / "process-0.stampede.db").read_bytes()[:3000])
    p = cli("--once", cut)
    assert p.returncode == 3 and p.stderr.count("\n") == 1, p.stderr


def test_master_db_lists_workflows(cli, tmp_path, replay_dir):
    path = tmp_path / "workflow.db"
    _master_db(path, [(FAIL_WF, "process", [("WORKFLOW_STARTED", 1677913788, 0, None),
                                            ("WORKFLOW_TERMINATED", 1677913884, 0, 1)],
                       f"sqlite:///{replay_dir / 'process_wf_failure' / 'process-0.stampede.db'}")])
    # Without --once the screen opens on the workflows list (tests/test_ui.py); --once prints it.
    p = cli("--once", path)
    assert p.returncode == 0 and "failed" in p.stdout and "20%" in p.stdout and "/runs/process" in p.stdout
    p = cli("--once", "--json", path)
    assert json.loads(p.stdout)["workflows"][0]["progress"]["failed"] == 1


def test_following_a_db_that_grows(tmp_path, replay_dir, store_snapshot):
    """StampedeDbSource through Ingest, on its own thread, while the loader writes."""
    from panorama_tui.pipeline.ingest import Ingest

    run = "hierarchical_wf_success"
    lines = [ln for ln in (replay_dir / run / "events.json").read_bytes().splitlines() if ln.strip()]
    db = tmp_path / "w.stampede.db"
    store = Store()
    ing = Ingest(StampedeDbSource(str(db), follow=True, poll=0.01), store).start()
    try:
        feed(db, lines, 25, lambda n: time.sleep(0.02))
        ref = events_store(replay_dir, run)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with store.lock:
                if store_snapshot(store) == store_snapshot(ref):
                    break
            time.sleep(0.05)
    finally:
        ing.stop(5)
    assert ing.error is None
    assert store_snapshot(store) == store_snapshot(ref)
    assert ing.source.changed_polls > 3


# -- DAGMan's log under the DB and jobstate.log ------------------------------------------------


def test_dagman_out_shows_what_a_stopped_monitord_did_not(replay_dir, submitdirs):
    """The shared hierarchical submit dir: its DB and jobstate.log stop before
    DAGMan's end and no monitord runs.  DAGMan's log then gives the rest of the
    job states, under the very keys monitord gave them when it read the whole
    log (monitord-replay's DB): no state twice, none missing."""
    run = "hierarchical_wf_success"
    src = SubmitDirSource(find_submit_dir(str(submitdirs / run)), follow=False)
    s = run_to_end(src, Store())
    assert src.dagmans[ROOT_WF].nodes  # switched to DAGMan's node lines: monitord is not running
    full = read_store(str(replay_dir / run / DBS[run]))
    got, want = s.workflows[ROOT_WF], full.workflows[ROOT_WF]
    assert {j.job_id: j.state for j in got.jobs.values()} == {j.job_id: j.state for j in want.jobs.values()}
    for job_id, job in want.jobs.items():
        assert {seq: t.states for seq, t in got.jobs[job_id].tries.items()} == \
            {seq: t.states for seq, t in job.tries.items()}, job_id
    assert got.state == "succeeded" and got.end_ts == want.end_ts


def test_a_running_monitord_is_left_to_its_jobstate_log(tmp_path, submitdirs):
    """monitord runs (its pid file names a live process): its jobstate.log shows
    the jobs; DAGMan's log gives only its progress tables, start and end."""
    d = copy_dir(submitdirs / "hierarchical_wf_success", tmp_path / "run")
    (d / "monitord.pid").write_text(f"pid {os.getpid()}\ntimestamp 2023-03-04T01:01:09-0800\n")
    src = SubmitDirSource(find_submit_dir(str(d)), follow=False)
    s = run_to_end(src, Store())
    assert not src.dagmans[ROOT_WF].nodes
    wf = s.workflows[ROOT_WF]
    assert wf.dagman["done"] == 13 and wf.jobs["register_local_2_0"].state.label != "done"


# -- the overlay read from where the DB leaves off ------------------------------------------


def _overlay(path, uuid, db_path, known=None, wf_known=None):
    """(events as comparable tuples, bytes skipped) of one jobstate.log poll."""
    from panorama_tui.sources.pegasus.jobstate_resume import resumer

    log = JobstateLog(str(path), uuid, resume=resumer(str(db_path)) if db_path else None)
    try:
        events = log.poll(known, wf_known)
        return [(e.name, e.ts, sorted(e.data.items())) for e in events], log.skipped, log.finished
    finally:
        log.close()


def _resume_cases(replay_dir, tmp_path):
    from .held_runs import DB, WF, submit_dir

    for run in RUNS:
        yield run, replay_dir / run / "jobstate.log", UUIDS[run], replay_dir / run / DBS[run]
    for case in ("removed", "held", "stale"):
        d = submit_dir(case, tmp_path)
        yield case, d / "jobstate.log", WF, d / DB


def test_resumed_overlay_equals_the_whole_log_read(replay_dir, tmp_path):
    """Read from where the DB leaves off, the overlay sends what the whole log's
    read sends that the DB does not have (same js_ids, sites, sched ids,
    restarts), and the lines it sends are the whole read's last ones."""
    skipped_some = False
    for case, log, uuid, db in _resume_cases(replay_dir, tmp_path):
        src = StampedeDbSource(str(db), follow=False, track_js=True)
        run_to_end(src, Store())
        known, wf_known = src.js_seen, src.wf_seen
        whole, _, whole_end = _overlay(log, uuid, None, known, wf_known)
        resumed, skipped, resumed_end = _overlay(log, uuid, db, known, wf_known)
        # the same events, but for HTCondor's JOB_HELD lines above the resume point, which the
        # DB never has a row for (only JOB_HELD_REASON has): the whole read sends them again
        assert resumed == whole[len(whole) - len(resumed):], case
        assert all(e[0] == "stampede.job_inst.held.start" for e in whole[: len(whole) - len(resumed)]), case
        assert resumed_end == whole_end, case
        whole_all, _, _ = _overlay(log, uuid, None)
        resumed_all, _, _ = _overlay(log, uuid, db)
        assert resumed_all == whole_all[len(whole_all) - len(resumed_all):], case
        skipped_some = skipped_some or skipped > 0
    assert skipped_some  # (the shared runs last longer than the margin)


def test_resume_bisects_to_the_first_line_at_the_cut(tmp_path):
    from panorama_tui.sources.pegasus.jobstate_resume import first_line_at

    lines = [f"{1000 + i // 3} job_{i} SUBMIT 1.0 local - 1\n".encode() for i in range(300)]
    p = tmp_path / "jobstate.log"
    p.write_bytes(b"".join(lines))
    size = p.stat().st_size
    with open(p, "rb") as f:
        for cut in (0, 1000, 1001, 1050.5, 1099, 1100, 2000):
            off = first_line_at(f, size, cut)
            want = next((sum(map(len, lines[:i])) for i, ln in enumerate(lines) if int(ln.split()[0]) >= cut), size)
            assert off == want, cut


def test_resume_reads_everything_without_a_db_or_after_a_monitord_restart(tmp_path, replay_dir):
    from panorama_tui.sources.pegasus.jobstate_resume import resume_point

    run = "process_wf_success"
    src_log = replay_dir / run / "jobstate.log"
    with open(src_log, "rb") as f:
        assert resume_point(None, OK_WF, f) is None
        assert resume_point(str(tmp_path / "none.db"), OK_WF, f) is None
        assert resume_point(str(replay_dir / run / DBS[run]), "not-a-uuid", f) is None
        rp = resume_point(str(replay_dir / run / DBS[run]), OK_WF, f)
        assert rp is not None and rp.offset > 0
        rp.close()
    twice = tmp_path / "jobstate.log"
    twice.write_bytes(src_log.read_bytes() + b"1677911200 INTERNAL *** MONITORD_STARTED ***\n")
    with open(twice, "rb") as f:
        assert resume_point(str(replay_dir / run / DBS[run]), OK_WF, f) is None


def test_stale_db_overlay_from_where_it_leaves_off(tmp_path, replay_dir, store_snapshot):
    """A DB that holds half the run: the overlay read from the DB's end gives the
    same store as the whole log's, before and after the DB catches up."""
    run = "process_wf_failure"
    lines = [ln for ln in (replay_dir / run / "events.json").read_bytes().splitlines() if ln.strip()]
    d = tmp_path / "run"
    d.mkdir()
    (d / "braindump.yml").write_text(f'wf_uuid: "{FAIL_WF}"\nroot_wf_uuid: "{FAIL_WF}"\ndag: "process-0.dag"\n')
    shutil.copy(replay_dir / run / "jobstate.log", d / "jobstate.log")
    feed(d / "process-0.stampede.db", lines[: len(lines) // 2], 1000)
    stores = []
    for resume in (True, False):
        src = SubmitDirSource(find_submit_dir(str(d)), follow=False)
        if not resume:
            src._resumer = lambda: None
        store = Store()
        run_to_end(src, store)
        stores.append(store_snapshot(store))
        if resume:
            assert src.logs[FAIL_WF].skipped > 0  # (the half DB reaches beyond the margin)
    assert stores[0] == stores[1]


def test_resumed_overlay_after_a_new_monitord_numbers_afresh(tmp_path, replay_dir):
    """A monitord started again while the log is followed: from its MONITORD_STARTED on,
    the resumed read numbers states as the whole read does (afresh), not from the DB."""
    from panorama_tui.sources.pegasus.jobstate_resume import resumer

    run = "process_wf_success"
    log = tmp_path / "jobstate.log"
    shutil.copy(replay_dir / run / "jobstate.log", log)
    db = str(replay_dir / run / DBS[run])
    whole, resumed = JobstateLog(str(log), OK_WF), JobstateLog(str(log), OK_WF, resume=resumer(db))
    whole.poll(), resumed.poll()
    assert resumed.skipped > 0
    with open(log, "a") as f:
        f.write("1677911200 INTERNAL *** MONITORD_STARTED ***\n"
                "1677911201 ls_ID0000001 JOB_RELEASED 3.0 condorpool - 2\n")
    got = [[(e.name, e.ts, sorted(e.data.items())) for e in x.poll()] for x in (whole, resumed)]
    whole.close(), resumed.close()
    assert got[0] == got[1] and dict(got[0][-1][2])["js_id"] == 1
