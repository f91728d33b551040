"""``panorama-top --once`` as a script sees it: exit status, text, JSON, bad input.

Every case runs the real command in a child interpreter.  Whatever the input,
the answer is an exit status and at most one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from panorama_tui.core.recorder import Recorder

FAIL_WF = "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3"
OK_WF = "f00c0056-abd4-4e8e-b793-24eb760dda1f"
ROOT_WF = "48f759a4-165f-47d6-8c32-571649ce311b"
SUB_WF = "160be601-bda4-45fb-86cd-9cf7a269bb22"
COUNT_KEYS = {"succeeded", "failed", "incomplete", "total", "retries"}


@pytest.fixture
def cli(repo_root, child_env, tmp_path):
    def run(*args, timeout=120):
        proc = subprocess.run(
            [sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)],
            cwd=str(repo_root),
            env=child_env() | {"TMPDIR": str(tmp_path)},  # internal-error logs land here
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stdout
        assert proc.returncode != 70, proc.stderr  # an internal error
        assert not [f for f in os.listdir(tmp_path) if f.startswith("panorama-top-error-")]
        return proc

    return run


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("panorama-top: "), lines[0]
    return lines[0]


def good_lines(replay_dir, run, name="events.json") -> list[bytes]:
    return [ln + b"\n" for ln in (replay_dir / run / name).read_bytes().splitlines() if ln.strip()]


# -- exit status by workflow state -------------------------------------------------------------


@pytest.mark.parametrize(
    "run,name,code",
    [
        ("process_wf_failure", "events.json", 1),
        ("process_wf_success", "events.json", 0),
        ("hierarchical_wf_success", "events.json", 0),
        ("process_wf_failure", "events.bp", 1),
        ("process_wf_success", "events.bp", 0),
    ],
)
def test_exit_status_by_workflow_state(cli, replay_dir, run, name, code):
    proc = cli("--once", replay_dir / run / name)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr == ""
    assert "bad records: 0" in proc.stdout


def test_truncated_run_is_still_running(cli, replay_dir, tmp_path):
    p = tmp_path / "events.json"
    p.write_bytes(b"".join(good_lines(replay_dir, "hierarchical_wf_success")[:100]))
    proc = cli("--once", p)
    assert proc.returncode == 2, proc.stderr
    assert "RUNNING" in proc.stdout
    data = json.loads(cli("--once", "--json", p).stdout)
    assert data["exit_status"] == 2
    assert [w["state"] for w in data["workflows"]] == ["running"]


def test_empty_file_has_nothing_started(cli, tmp_path):
    p = tmp_path / "events.json"
    p.write_bytes(b"")
    proc = cli("--once", p)
    assert proc.returncode == 2
    assert "no workflow found" in proc.stdout


def test_text_output_names_the_failed_job(cli, replay_dir):
    out = cli("--once", replay_dir / "process_wf_failure" / "events.json").stdout
    assert f"process {FAIL_WF}  FAILED" in out
    assert "FAILED ls_ID0000001  exit 2  site condorpool  host workflow.isi.edu  tries 2" in out
    rows = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln.strip().startswith(("Tasks", "Jobs", "Sub-"))}
    assert rows["Jobs"] == ["1", "1", "3", "5", "1"]
    assert rows["Tasks"] == ["0", "1", "0", "1", "1"]


# -- JSON ---------------------------------------------------------------------------------------


def _check_shape(data):
    assert set(data) >= {"source", "exit_status", "events", "bad_records", "unknown_events", "warnings", "workflows"}
    for w in data["workflows"]:
        assert set(w) >= {"wf_uuid", "label", "state", "jobs", "tasks", "sub_workflows"}
        for key in ("jobs", "tasks", "sub_workflows"):
            assert set(w[key]) == COUNT_KEYS
            assert all(isinstance(v, int) for v in w[key].values())
            c = w[key]
            assert c["succeeded"] + c["failed"] + c["incomplete"] == c["total"]


@pytest.mark.parametrize(
    "run,root,code",
    [
        ("process_wf_failure", FAIL_WF, 1),
        ("process_wf_success", OK_WF, 0),
        ("hierarchical_wf_success", ROOT_WF, 0),
    ],
)
def test_json_matches_pegasus_statistics(cli, replay_dir, expected_summary, run, root, code):
    proc = cli("--once", "--json", replay_dir / run / "events.json")
    assert proc.returncode == code
    data = json.loads(proc.stdout)
    _check_shape(data)
    assert data["exit_status"] == code
    assert data["bad_records"] == 0 and data["unknown_events"] == 0 and data["warnings"] == 0
    assert data["workflows"][0]["wf_uuid"] == root
    w = data["workflows"][0]
    expected = expected_summary(replay_dir / run / "statistics-csv" / "summary.csv")
    assert {k: w[k] for k in ("tasks", "jobs", "sub_workflows")} == expected


def test_json_hierarchy_and_failed_jobs(cli, replay_dir):
    data = json.loads(cli("--once", "--json", replay_dir / "hierarchical_wf_success" / "events.json").stdout)
    assert [w["wf_uuid"] for w in data["workflows"]] == [ROOT_WF, SUB_WF]
    root, sub = data["workflows"]
    assert root["label"] == "hierarchical-workflow" and root["state"] == "succeeded"
    assert root["parent_wf_uuid"] is None
    assert sub["label"] == "blackdiamond"
    assert sub["parent_wf_uuid"] == ROOT_WF
    assert sub["jobs"] == {"succeeded": 0, "failed": 0, "incomplete": 15, "total": 15, "retries": 0}

    data = json.loads(cli("--once", "--json", replay_dir / "process_wf_failure" / "events.json").stdout)
    (w,) = data["workflows"]
    assert w["label"] == "process" and w["state"] == "failed"
    assert w["failed_jobs"] == [
        {
            "job_id": "ls_ID0000001",
            "transformation": "ls",
            "exitcode": "2",
            "site": "condorpool",
            "host": "workflow.isi.edu",
            "tries": 2,
            "hold_reason": None,
        }
    ]


def test_recording_input(cli, replay_dir, tmp_path):
    """A recording replays at full speed under --once and gives the same answer."""
    lines = good_lines(replay_dir, "process_wf_failure")
    path = tmp_path / "rec.panorama.db"
    rec = Recorder(str(path))
    rec.append_timed((1677913774.0 + i, None, ln.decode()) for i, ln in enumerate(lines))
    rec.close()
    proc = cli("--once", "--json", path, "--speed", "1")  # --once ignores --speed
    assert proc.returncode == 1, proc.stderr
    from_rec = json.loads(proc.stdout)
    from_log = json.loads(cli("--once", "--json", replay_dir / "process_wf_failure" / "events.json").stdout)
    assert from_rec["workflows"] == from_log["workflows"]
    assert from_rec["events"] == len(lines)


# -- bad input -------------------------------------------------------------------------------------


def test_missing_file(cli, tmp_path):
    proc = cli("--once", tmp_path / "nope.json")
    assert proc.returncode == 3
    assert "no such file" in one_line(proc.stderr)
    assert proc.stdout == ""


def test_a_directory(cli, tmp_path):
    proc = cli("--once", tmp_path)
    assert proc.returncode == 3
    assert "directory" in one_line(proc.stderr)


def test_a_binary_file(cli, tmp_path):
    p = tmp_path / "blob.bin"
    p.write_bytes(bytes(range(256)) * 64 + b"\x00\xff\xfe" * 1000)
    proc = cli("--once", p)
    assert proc.returncode == 3
    one_line(proc.stderr)


def test_a_gzip_file(cli, tmp_path, replay_dir):
    import gzip

    p = tmp_path / "events.json.gz"
    p.write_bytes(gzip.compress((replay_dir / "process_wf_failure" / "events.json").read_bytes()))
    proc = cli("--once", p)
    assert proc.returncode == 3
    one_line(proc.stderr)


def test_sqlite_that_is_not_ours(cli, tmp_path):
    # A Stampede DB is an input now (issue 3), and Parsl's monitoring.db (issue 15): not any SQLite file.
    p = tmp_path / "x.db"
    with sqlite3.connect(p) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    proc = cli("--once", p)
    assert proc.returncode == 3
    assert "not a panorama-top recording, a Pegasus DB or a Parsl monitoring DB" in one_line(proc.stderr)


def test_a_stampede_db_is_read(cli, tmp_path, replay_dir):
    p = tmp_path / "x.db"
    shutil.copy(replay_dir / "process_wf_failure" / "process-0.stampede.db", p)
    proc = cli("--once", p)
    assert proc.returncode == 1 and "FAILED ls_ID0000001" in proc.stdout


def test_json_that_is_not_events(cli, tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"hello": "world"}\n')
    proc = cli("--once", p)
    assert proc.returncode == 3
    one_line(proc.stderr)
    p.write_text("[1, 2, 3]\n")
    proc = cli("--once", p)
    assert proc.returncode == 3
    one_line(proc.stderr)


def test_garbage_mixed_with_good_events(cli, tmp_path, replay_dir):
    good = good_lines(replay_dir, "process_wf_failure")
    garbage = [
        b"this is not json\n",
        b"\x00\x01\x02\xff\xfe binary junk\n",
        b'{"no_event_name": 1}\n',
        b"[1, 2, 3]\n",
        b'{"event": "stampede.job_inst.main.end", "xwf_id": "' + FAIL_WF.encode() + b'", "job_id"\n',  # cut short
        b'"just a string"\n',
    ]
    mixed = [good[0]]
    for i, ln in enumerate(good[1:]):
        mixed.append(ln)
        if i % 7 == 0:
            mixed.append(garbage[(i // 7) % len(garbage)])
    n_bad = len(mixed) - len(good)
    p = tmp_path / "events.json"
    p.write_bytes(b"".join(mixed))
    proc = cli("--once", "--json", p)
    assert proc.returncode == 1  # the workflow failed; the garbage does not change that
    data = json.loads(proc.stdout)
    assert data["events"] == len(good)
    assert data["bad_records"] == n_bad
    assert data["warnings"] >= n_bad
    (w,) = data["workflows"]
    assert w["jobs"] == {"succeeded": 1, "failed": 1, "incomplete": 3, "total": 5, "retries": 1}
    text = cli("--once", p)
    assert f"bad records: {n_bad}" in text.stdout

    # the same with the successful run: still 0
    good = good_lines(replay_dir, "process_wf_success")
    p.write_bytes(good[0] + b"garbage\n" + b"".join(good[1:]) + b"more garbage")
    proc = cli("--once", "--json", p)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["bad_records"] == 2


def test_hostile_values_are_counted_not_fatal(cli, tmp_path, replay_dir):
    """Numbers too big for an int and JSON nested past the parser's limit."""
    good = good_lines(replay_dir, "process_wf_success")
    wf = OK_WF.encode()
    hostile = [
        b'{"event": "stampede.job_inst.main.end", "xwf_id": "' + wf + b'", "job_id": "ls_ID0000001", '
        b'"job_inst_id": 2, "ts": 1677911000, "exitcode": 1e400}\n',
        b'{"event": "stampede.job_inst.main.end", "xwf_id": "' + wf + b'", "job_id": "ls_ID0000001", '
        b'"job_inst_id": 1e400, "ts": 1677911000}\n',
        b"[" * 100_000 + b"\n",
    ]
    p = tmp_path / "events.json"
    p.write_bytes(good[0] + b"".join(hostile) + b"".join(good[1:]))
    proc = cli("--once", "--json", p)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    data = json.loads(proc.stdout)
    assert data["bad_records"] == 1
    assert data["warnings"] >= 3
    assert data["events"] == len(good) + 2
    assert data["workflows"][0]["jobs"]["succeeded"] == 5


def test_a_20mb_single_line(cli, tmp_path):
    p = tmp_path / "huge.json"
    p.write_bytes(b'{"event": "stampede.xwf.start", "pad": "' + b"x" * (20 * 1024 * 1024) + b'"}\n')
    proc = cli("--once", p)
    assert proc.returncode in (2, 3), proc.stderr
    if proc.returncode == 3:
        one_line(proc.stderr)
    else:
        assert "bad records: 1" in proc.stdout


def test_a_20mb_line_among_good_events(cli, tmp_path, replay_dir):
    good = good_lines(replay_dir, "process_wf_failure")
    pad = b"x" * (20 * 1024 * 1024)
    huge = b'{"event": "stampede.xwf.start", "xwf_id": "' + FAIL_WF.encode() + b'", "pad": "' + pad + b'"}\n'
    p = tmp_path / "events.json"
    p.write_bytes(b"".join(good[:30]) + huge + b"".join(good[30:]))
    proc = cli("--once", "--json", p)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    data = json.loads(proc.stdout)
    assert data["bad_records"] == 1
    assert data["warnings"] >= 1
    assert data["events"] == len(good)


def test_json_without_once_and_bad_arguments(cli, replay_dir):
    proc = cli("--json", replay_dir / "process_wf_failure" / "events.json")
    assert proc.returncode == 3
    assert "--once" in one_line(proc.stderr)
    proc = cli("--once", "--no-such-option")
    assert proc.returncode == 64
    one_line(proc.stderr)
    proc = cli("--once", "--demo", replay_dir / "process_wf_failure" / "events.json")
    assert proc.returncode == 3
    one_line(proc.stderr)
    proc = cli("--once")
    assert proc.returncode == 3
    assert "--demo" in one_line(proc.stderr)


def test_negative_speed_for_a_recording(cli, tmp_path):
    path = tmp_path / "rec.db"
    r = Recorder(str(path))
    r.append_timed([(1.0, None, "{}")])
    r.close()
    proc = cli("--speed", "-2", path, "--no-mouse")
    assert proc.returncode == 3
    assert "--speed" in one_line(proc.stderr)


def test_demo_once(cli):
    proc = cli("--demo", "--once", "--json")
    assert proc.returncode in (0, 1, 2)
    data = json.loads(proc.stdout)
    _check_shape(data)
    assert data["exit_status"] == proc.returncode
    assert data["workflows"]
