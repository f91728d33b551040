"""Hostile and broken input: never a crash, a hang or a lost stream (issue #12 items 1-4, 6).

Each test spoils a copy of a real shared run the way an input went wrong in
the field: text that is not UTF-8 and a corrupted schema in a Stampede DB,
rows whose parent row is gone, a cell of the wrong type, NaN and 1e20 times,
JSON nested a thousand deep, workflows that are their own ancestors, a
poison message on the real broker.  What is wrong is skipped, counted and
shown; the rest of the run is read; the exit status is the documented one.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from panorama_tui.core.recorder import read_records
from panorama_tui.core.events import decode
from panorama_tui.core.fmt import clock_time, human_bytes, human_duration, progress_bar, sparkline
from panorama_tui.pipeline.ingest import Ingest, decode_batch, run_to_end
from panorama_tui.sources.base import Source
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.core.sqlite import bound_work, connect_ro
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource
from panorama_tui.stats.counts import summarize
from panorama_tui.model.store import Store
from panorama_tui.stats.once import as_dict, render_text

from .broker import require_broker, unique, url_for, wait_until

RUN = "process_wf_failure"
FAIL_WF = "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3"
DEEP = "[" * 1000 + "]" * 1000  # orjson parses it (its limit is 1024); str() of it raises RecursionError


@pytest.fixture
def cli(repo_root, child_env, tmp_path):
    """``cli(*args)``: panorama-top in a child interpreter; never a traceback or an internal error."""

    def run(*args, timeout=60):
        p = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)], cwd=str(repo_root),
                           env=child_env() | {"TMPDIR": str(tmp_path)}, capture_output=True, text=True,
                           timeout=timeout)
        assert "Traceback" not in p.stderr + p.stdout, p.stderr
        assert p.returncode != 70 and "internal error" not in p.stderr, p.stderr
        return p

    return run


def failure_db(replay_dir, tmp_path, *sql, name="spoiled.stampede.db"):
    """A copy of the failed run's Stampede DB with ``sql`` applied."""
    db = tmp_path / name
    shutil.copy(replay_dir / RUN / "process-0.stampede.db", db)
    db.chmod(0o600)
    conn = sqlite3.connect(db)
    with conn:
        for stmt in sql:
            conn.execute(stmt)
    conn.close()
    return db


def expected_jobs(expected_summary, replay_dir) -> dict:
    return expected_summary(replay_dir / RUN / "statistics-csv" / "summary.csv")["jobs"]


# -- 1: text that is not UTF-8 --------------------------------------------------------------------


def test_text_that_is_not_utf8_is_read_with_u_fffd_and_counted(cli, replay_dir, tmp_path, expected_summary):
    db = failure_db(replay_dir, tmp_path,
                    "UPDATE job SET exec_job_id = CAST(x'6c73ff5f4944303030303030' AS TEXT) "
                    "WHERE exec_job_id = 'ls_ID0000001'",
                    "UPDATE host SET hostname = CAST(x'6877ff' AS TEXT)")
    p = cli("--once", "--json", db)
    assert p.returncode == 1, p.stderr  # the run failed: still told
    got = json.loads(p.stdout)
    assert got["warnings"] >= 2
    (wf,) = got["workflows"]
    assert wf["jobs"] == {**expected_jobs(expected_summary, replay_dir), "incomplete": 3}
    assert [j["job_id"] for j in wf["failed_jobs"]] == ["ls\ufffd_ID000000"]
    # --stats' summary reads no text column (counts and sums only): nothing to warn of
    p = cli("--stats", db)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    p = cli("--stats", "--json", db)  # every job's row: the job's name and its host read with U+FFFD
    assert p.returncode == 0, p.stderr
    assert "not UTF-8" in p.stderr and len(p.stderr.splitlines()) == 1
    assert "\ufffd" in json.dumps(json.loads(p.stdout)["jobs"], ensure_ascii=False)


def test_a_schema_whose_text_is_not_utf8_is_unreadable_input(cli, replay_dir, tmp_path):
    """SQLite's error then quotes bytes that are not UTF-8: Python raised UnicodeDecodeError (exit 70)."""
    db = tmp_path / "schema.stampede.db"
    data = bytearray((replay_dir / RUN / "process-0.stampede.db").read_bytes())
    data[data.find(b"CREATE TABLE") + 3] = 0xC3  # "CRE\xc3TE": a syntax error near a broken character
    db.write_bytes(bytes(data))
    for args in (["--once"], ["--stats"], ["--stats", "--json"]):
        p = cli(*args, db)
        assert p.returncode == 3, p.stderr
        assert len(p.stderr.splitlines()) == 1 and "corrupt" in p.stderr


# -- 2 and 6: rows whose parent is missing, bad cells, absurd times -------------------------------


@pytest.mark.parametrize("sql, skipped", [
    ("UPDATE jobstate SET job_instance_id = 99999 WHERE rowid = 17", "jobstate row 17"),
    ("DELETE FROM job_instance WHERE rowid = 1", "jobstate row"),
    ("UPDATE job SET wf_id = 99999 WHERE rowid = 1", "job row 1"),
    ("UPDATE workflowstate SET wf_id = 99999 WHERE rowid = 1", "workflowstate row 1"),
    ("UPDATE invocation SET job_instance_id = 99999 WHERE rowid = 2", "invocation row 2"),
])
def test_a_row_whose_parent_is_missing_is_skipped_and_counted(cli, replay_dir, tmp_path, sql, skipped):
    """It used to wait for its parent forever: --once never ended."""
    db = failure_db(replay_dir, tmp_path, sql)
    started = time.monotonic()
    p = cli("--once", "--json", db, timeout=30)
    assert time.monotonic() - started < 20
    assert p.returncode in (1, 2), p.stderr
    got = json.loads(p.stdout)
    assert got["warnings"] >= 1 and got["workflows"]
    store = run_to_end(StampedeDbSource(str(db), follow=False), Store())
    assert any(skipped in w for w in store.warnings), list(store.warnings)


def test_a_bad_cell_skips_its_row_not_the_read(cli, replay_dir, tmp_path, expected_summary):
    """A text duration and a text exit code used to end the whole read (exit 3, nothing shown)."""
    db = failure_db(replay_dir, tmp_path,
                    "UPDATE invocation SET remote_duration = 'abc' WHERE rowid = 1",
                    "UPDATE invocation SET exitcode = 'x' WHERE rowid = 3",
                    "UPDATE job_instance SET local_duration = 'n/a' WHERE rowid = 2",
                    "UPDATE integrity SET duration = 'slow'")
    p = cli("--once", "--json", db)
    assert p.returncode == 1, p.stderr
    got = json.loads(p.stdout)
    assert got["warnings"] >= 3
    assert got["workflows"][0]["jobs"] == {**expected_jobs(expected_summary, replay_dir), "incomplete": 3}
    store = run_to_end(StampedeDbSource(str(db), follow=False), Store())
    assert sum("skipped" in w for w in store.warnings) >= 3
    p = cli("--stats", db)  # SQL sums a text cell as 0, as SQLite does
    assert p.returncode == 0 and "Jobs" in p.stdout, p.stderr


def test_nan_and_far_future_times_in_a_db_are_no_times(cli, replay_dir, tmp_path):
    """'NaN' in a time column read as float('nan'); 1e20 passed as a time: both crashed the views."""
    db = failure_db(replay_dir, tmp_path,
                    "UPDATE workflowstate SET timestamp = 'NaN' WHERE rowid = 1",
                    "UPDATE workflowstate SET timestamp = 1e20 WHERE rowid = 2",
                    "UPDATE jobstate SET timestamp = 9e999 WHERE rowid = 3",
                    "UPDATE jobstate SET timestamp = 'NaN' WHERE rowid = 4",
                    "UPDATE invocation SET start_time = 1e300")
    store = run_to_end(StampedeDbSource(str(db), follow=False), Store())
    times = [store.latest_ts] + [w.start_ts for w in store.workflows.values()] + [w.end_ts for w in store.workflows.values()]
    times += [t.start_ts for j in store.jobs() for t in j.tries.values()]
    assert all(t is None or 1e8 <= t < 1e10 for t in times), times
    for args in (["--once"], ["--once", "--json"], ["--stats"], ["--stats", "--json"]):
        p = cli(*args, db)
        assert p.returncode in (0, 1), p.stderr
    assert_screen_draws(store)


def test_workflows_that_would_be_their_own_ancestors_are_refused():
    """A plan naming a child as its parent made every walk up the tree go round for ever."""
    store = Store()
    for d in ({"event": "stampede.wf.plan", "xwf_id": "A", "ts": 1677913774, "dax_label": "a"},
              {"event": "stampede.xwf.map.subwf_job", "xwf_id": "A", "subwf_id": "B", "job_id": "sub_b"},
              {"event": "stampede.wf.plan", "xwf_id": "B", "ts": 1677913774, "parent_xwf_id": "A"},
              {"event": "stampede.wf.plan", "xwf_id": "A", "ts": 1677913774, "parent_xwf_id": "B"},
              {"event": "stampede.xwf.map.subwf_job", "xwf_id": "B", "subwf_id": "A", "job_id": "sub_a"},
              {"event": "stampede.job.info", "xwf_id": "B", "job_id": "j1"}):
        store.apply(decode(d))
    assert store.workflows["A"].parent_uuid is None and store.workflows["B"].parent_uuid == "A"
    assert sum("own ancestor" in w for w in store.warnings) == 2
    assert [w.wf_uuid for w in store.roots] == ["A"]
    assert "B" in render_text(store, "test")


def test_sub_workflows_nested_thousands_deep_are_listed():
    """The summary walked the tree recursively: RecursionError (exit 70) at ~1,000 levels."""
    store = Store()
    for i in range(3000):
        d = {"event": "stampede.wf.plan", "xwf_id": f"w{i}", "ts": 1677913774}
        if i:
            d["parent_xwf_id"] = f"w{i - 1}"
        store.apply(decode(d))
    assert len(as_dict(store)["workflows"]) == 3000


def test_every_read_has_a_bound(tmp_path):
    """A corrupted page can send SQLite round a b-tree for ever: each statement of a connection
    gets MAX_STATEMENT_SECONDS; a statement that runs longer is interrupted."""
    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    conn = connect_ro(str(db))
    bound_work(conn, 0.3)
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        conn.execute(endless).fetchone()
    assert time.monotonic() - started < 5
    time.sleep(0.4)  # the bound is per statement, not per connection
    assert conn.execute("SELECT 1").fetchone() == (1,)


# -- 3: deeply nested JSON and absurd timestamps in an event log ---------------------------------


def spoiled_log(replay_dir, tmp_path, *extra: str, name="events.json"):
    """The failed run's event log with ``extra`` records after it (they are the latest word)."""
    lines = (replay_dir / RUN / "events.json").read_text().splitlines()
    path = tmp_path / name
    path.write_text("\n".join(lines + list(extra)) + "\n")
    return path


def test_deep_json_and_absurd_times_are_bad_records(cli, replay_dir, tmp_path, expected_summary):
    base = '{"event": "stampede.job_inst.main.end", "xwf_id": "%s", "job_id": %s, "job_inst_id": 1, "ts": 1677913800}'
    deep = [base % (FAIL_WF, DEEP), base % (FAIL_WF, "[" * 3000 + "]" * 3000),
            '{"event": "stampede.xwf.start", "xwf_id": "%s", "a": %s}' % (FAIL_WF, "{\"a\":" * 900 + "1" + "}" * 900)]
    # the run's start again, at absurd times: the start shown stays the real one
    times = ['{"event": "stampede.xwf.start", "xwf_id": "%s", "ts": %s, "restart_count": 0}' % (FAIL_WF, ts)
             for ts in ("1e20", "1e308", "1" + "0" * 400, "NaN", "-Infinity", '"9999-12-31T23:59:59Z"')]
    log = spoiled_log(replay_dir, tmp_path, *deep, *times)
    for args in (["--once"], ["--once", "--json"]):
        p = cli(*args, log)
        assert p.returncode == 1, p.stderr
    got = json.loads(p.stdout)
    assert got["bad_records"] == 2  # the two jobs nested past what str() can take; the third is kept raw
    (wf,) = got["workflows"]
    assert wf["jobs"] == {**expected_jobs(expected_summary, replay_dir), "incomplete": 3}
    assert wf["start"] == "2023-03-04T07:09:48Z"  # the absurd starts are no times


def test_absurd_times_are_none_everywhere():
    for ts in (1e20, 1e308, float("nan"), float("inf"), 10**400, "1e20", "9999-12-31T23:59:59Z", -1):
        assert decode({"event": "stampede.xwf.start", "ts": ts}).ts is None, ts
        line = json.dumps({"event": "x", "ts": ts}) if not isinstance(ts, int) or ts < 1e300 else \
            '{"event": "x", "ts": %d}' % ts
        assert decode_batch([line], [])[0].ts is None, ts


def test_formatters_are_total():
    """The views format through these: NaN, infinities, 1e308 and strings never raise."""
    for v in (float("nan"), float("inf"), -float("inf"), 1e308, "abc", [1], 10**400):
        human_bytes(v), human_duration(v), clock_time(v), progress_bar(v, 10), sparkline([v, 1.0], 5, v)
    assert clock_time(1e20) == "-" and human_duration(float("nan")) == "-" and human_bytes("x") == "-"


# -- 4: one poison record stops nothing -------------------------------------------------------------


class Batches(Source):
    label = "test"

    def __init__(self, *batches):
        super().__init__()
        self._batches = batches

    def batches(self):
        yield from self._batches


def good_lines(replay_dir) -> list[bytes]:
    return (replay_dir / RUN / "events.json").read_bytes().splitlines()


def test_a_poison_record_is_counted_and_the_rest_ingested(replay_dir):
    """A 2 KB record nested 1,000 deep killed the ingest thread: nothing after it was shown."""
    lines = good_lines(replay_dir)
    poison = ('{"event": "stampede.job.info", "xwf_id": "%s", "job_id": %s}' % (FAIL_WF, DEEP)).encode()
    # a /proc sample with a field nested that deep: msgspec's typed lane raised RecursionError
    sample = ('{"event": "kickstart.inv.online", "xwf_id": "%s", "dag_job_id": "ls_ID0000001", "ts": 1677913800, '
              '"x": %s}' % (FAIL_WF, DEEP)).encode()
    store = Store()
    ing = Ingest(Batches(lines[:10] + [poison, sample] + lines[10:40], [poison], lines[40:]), store)
    ing.run()
    assert ing.error is None and ing.source.status.state != "error"
    assert store.event_count == len(lines) + 3 and store.bad_count == 2  # the sample's deep field is unread
    ref = run_to_end(JsonLogSource(str(replay_dir / RUN / "events.json"), follow=False), Store())
    assert summarize(store, store.roots[0]) == summarize(ref, ref.roots[0])


def test_an_odd_event_from_a_source_loses_its_slice_not_the_source(replay_dir):
    from panorama_tui.core.events import Event

    lines = good_lines(replay_dir)
    odd = Event(["not", "a", "name"], None, {})  # what decoding never makes: a bug of a source
    store = Store()
    ing = Ingest(Batches([odd], lines), store)
    ing.run()
    assert ing.error is None and any("records skipped" in w for w in store.warnings)
    ref = run_to_end(JsonLogSource(str(replay_dir / RUN / "events.json"), follow=False), Store())
    assert summarize(store, store.roots[0]) == summarize(ref, ref.roots[0])


def test_a_refresh_that_meets_absurd_data_draws(replay_dir):
    """ts 1e20 made the screen's refresh fail with a traceback over the TUI."""
    store = Store()
    lines = good_lines(replay_dir)
    absurd = [{"event": "stampede.xwf.start", "xwf_id": FAIL_WF, "ts": 1e20, "restart_count": 9},
              {"event": "stampede.job_inst.main.end", "xwf_id": FAIL_WF, "job_id": "ls_ID0000001", "job_inst_id": 3,
               "ts": 1677913900, "local_dur": float("nan"), "exitcode": 0},
              {"event": "kickstart.inv.summary", "xwf_id": FAIL_WF, "job_id": "ls_ID0000001", "duration": "abc",
               "exitcode": [1]}]
    ing = Ingest(Batches(lines, [json.dumps(d) for d in absurd]), store)
    ing.run()
    assert_screen_draws(store)


def assert_screen_draws(store: Store) -> None:
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.widgets.joblist import JobList

    async def go():
        app = PanoramaApp(store, source_label="hostile", live=False)
        async with app.run_test(size=(140, 42)) as pilot:
            await pilot.pause()
            jobs = app.query_one("#jobs", JobList)
            for job in list(jobs.rows)[:6]:
                jobs.select_job(job)
                await pilot.pause(0.2)
            for key in ("2", "4", "5", "6", "1", "enter"):
                await pilot.press(key)
                await pilot.pause(0.2)
            app.refresh_all(full=True)
            await pilot.pause()
        assert not [w for w in store.warnings if "refresh failed" in w], list(store.warnings)

    asyncio.run(go())


@pytest.mark.broker
def test_record_acknowledges_a_poison_message_keeps_it_raw_and_goes_on(admin, replay_dir, repo_root, child_env,
                                                                      tmp_path):
    """The same 1,000-deep body on the exchange made `panorama-collect record` exit 70; redelivered,
    it killed every restart while the queue backed up."""
    require_broker()
    ex = admin.exchange()
    queue = unique("ptest-q")
    admin.track_queue(queue)
    out, log = tmp_path / "site.panorama.db", tmp_path / "record.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "panorama_tui.cli.collect", "record", "--amqp", url_for(ex), "--queue", queue,
         "--out", str(out), "--log", str(log)],
        cwd=str(repo_root), env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: log.exists() and "link connected" in log.read_text(), 20)
        lines = good_lines(replay_dir)
        poison = [('{"event": "stampede.job.info", "xwf_id": "%s", "job_id": %s}' % (FAIL_WF, DEEP)).encode(),
                  ('{"event": "stampede.xwf.start", "xwf_id": "%s", "ts": 1e20}' % FAIL_WF).encode(),
                  b'{"event": "stampede.job.info", "job_id": "\xff\xfe"}', b"[" * 100_000]
        for body in lines[:20] + poison + lines[20:]:
            admin.publish(ex, "stampede.job.info", body)
        assert wait_until(lambda: _recorded(out) >= len(lines) + len(poison), 30), _recorded(out)
        assert wait_until(lambda: admin.count(queue) == 0, 10)  # every message acknowledged
        assert proc.poll() is None  # still recording
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert "Traceback" not in err + log.read_text()
    bodies = [body.decode("utf-8", "replace") for _, body in read_records(str(out))]
    assert DEEP in "".join(bodies)  # the poison is in the recording, raw, for later


def _recorded(path) -> int:
    try:
        return len(read_records(str(path)))
    except sqlite3.Error:
        return 0

