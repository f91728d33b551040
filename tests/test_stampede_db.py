"""The Stampede DB source: the store it builds equals the one from monitord's events.

The DBs are the shared ones pegasus-monitord 5.1.3 wrote (``monitord-replay``)
and DBs written here, while the source follows them, by Pegasus's own loader
(``Pegasus.db.workflow_loader.WorkflowLoader``, batch mode as monitord runs
it) fed the shared ``events.json``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3

import pytest

from panorama_tui.core.events import decode_line
from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.base import RESET
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.sources.pegasus.stampede_db import StampedeDbError, StampedeDbSource, unescape_argv
from panorama_tui.pipeline.read import read_stampede_db as read_store
from panorama_tui.stats.counts import summarize
from panorama_tui.model.entities import Invocation, Job, Task, Try, Workflow
from panorama_tui.model.store import Store

# Pegasus's loader (SQLAlchemy) warns about Decimal columns on SQLite: its business, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Dialect sqlite\\+pysqlite does \\*not\\* support Decimal")

RUNS = ("process_wf_success", "process_wf_failure", "hierarchical_wf_success")
DBS = {"process_wf_success": "process-0.stampede.db", "process_wf_failure": "process-0.stampede.db",
       "hierarchical_wf_success": "hierarchical-workflow-0.stampede.db"}


def deep(store: Store) -> dict:
    """Every field of every object the store keeps for Pegasus (more than the
    shared snapshot: argv, executables, multiplier, CPU, ...)."""
    out = {}
    for uuid, wf in store.workflows.items():
        w = {k: getattr(wf, k) for k in Workflow.__slots__
             if k not in ("jobs", "tasks", "counts", "children") and not k.startswith("_")}
        w["children"] = sorted(wf.children)
        w["tasks"] = {tid: {k: getattr(t, k) for k in Task.__slots__} for tid, t in wf.tasks.items()}
        jobs = {}
        for jid, j in wf.jobs.items():
            jd = {k: getattr(j, k) for k in Job.__slots__ if k not in ("wf", "tries", "order", "series", "latest")}
            jd["task_ids"] = sorted(j.task_ids)
            jd["tries"] = {}
            for seq, t in j.tries.items():
                # public fields only: private ones may keep arrival order
                td = {k: getattr(t, k) for k in Try.__slots__ if k != "invocations" and not k.startswith("_")}
                td["states"], td["last"] = t.states, t.last
                td["inv"] = {i: {k: getattr(v, k) for k in Invocation.__slots__} for i, v in t.invocations.items()}
                jd["tries"][seq] = td
            jobs[jid] = jd
        w["jobs"] = jobs
        out[uuid] = w
    return out


def events_store(replay_dir, run, limit=None) -> Store:
    lines = [ln for ln in (replay_dir / run / "events.json").read_bytes().splitlines() if ln.strip()]
    s = Store()
    s.apply_many(decode_line(ln) for ln in lines[:limit])
    return s


# -- Pegasus's own loader, as monitord drives it ------------------------------------

_DOTTED = {"xwf_id": "xwf.id", "job_id": "job.id", "task_id": "task.id", "subwf_id": "subwf.id",
           "job_inst_id": "job_inst.id"}


def pegasus_loader(db_path: str):
    """monitord's DB sink: WorkflowLoader in batch mode (flush every 1000
    events or 30 s, or when asked)."""
    pytest.importorskip("Pegasus.db.workflow_loader")
    if not hasattr(logging.Logger, "trace"):  # monitord's logging setup adds this level
        logging.Logger.trace = lambda self, msg, *a, **k: self.log(5, msg, *a, **k)
    from Pegasus.db.workflow_loader import WorkflowLoader
    from Pegasus.tools import properties

    logging.getLogger("Pegasus").setLevel(logging.ERROR)
    return WorkflowLoader("sqlite:///" + str(db_path), batch=True, props=properties.Properties())


def loader_record(line: bytes) -> dict:
    """A JSON event as monitord hands it to the loader (some handlers read dotted keys)."""
    d = json.loads(line)
    for k, v in _DOTTED.items():
        if k in d:
            d[v] = d[k]
    return d


def feed(db_path, lines, every: int, after_flush=None) -> None:
    loader = pegasus_loader(db_path)
    for i, line in enumerate(lines):
        loader.process(loader_record(line))
        if (i + 1) % every == 0:
            loader.hard_flush()
            if after_flush is not None:
                after_flush(i + 1)
    loader.finish()


def _lines(replay_dir, run):
    return [ln for ln in (replay_dir / run / "events.json").read_bytes().splitlines() if ln.strip()]


# -- the shared DBs ------------------------------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_db_store_equals_events_store(replay_dir, run, store_snapshot, expected_summary):
    db = read_store(str(replay_dir / run / DBS[run]))
    ref = run_to_end(JsonLogSource(str(replay_dir / run / "events.json"), follow=False), Store())
    assert store_snapshot(db) == store_snapshot(ref)
    assert deep(db) == deep(ref)
    assert db.warning_count == 0 and not db.unknown
    root = db.roots[0]
    sm = summarize(db, root)
    got = {"tasks": sm.tasks.as_dict(), "jobs": sm.jobs.as_dict(), "sub_workflows": sm.sub_workflows.as_dict()}
    assert got == expected_summary(replay_dir / run / "statistics-csv" / "summary.csv")


def test_per_job_facts_of_the_failure_run(replay_dir):
    s = read_store(str(replay_dir / "process_wf_failure" / "process-0.stampede.db"))
    (wf,) = s.roots
    ls = wf.jobs["ls_ID0000001"]
    assert ls.state.label == "failed" and sorted(ls.tries) == [2, 3]
    t = ls.latest
    assert (t.main_exitcode, t.post_exitcode, ls.exit_code) == (512, 256, 2)
    assert (t.site, t.host, t.sched_id) == ("condorpool", "workflow.isi.edu", "10.0")
    assert [i.transformation for i in sorted(t.invocations.values(), key=lambda i: i.inv_id)] == ["dagman::post", "ls"]
    assert t.stderr_file == "00/00/ls_ID0000001.err.001"
    assert [j for j in wf.jobs.values() if j.state.label == "waiting"] and wf.state == "failed"


def test_hierarchy_sub_workflow_under_its_job(replay_dir):
    s = read_store(str(replay_dir / "hierarchical_wf_success" / "hierarchical-workflow-0.stampede.db"))
    root = s.workflows["48f759a4-165f-47d6-8c32-571649ce311b"]
    sub = s.workflows["160be601-bda4-45fb-86cd-9cf7a269bb22"]
    assert [w.wf_uuid for w in s.roots] == [root.wf_uuid]
    assert sub.parent_uuid == root.wf_uuid and sub.parent_job_id == "pegasus-plan_diamond_subworkflow"
    assert root.jobs["pegasus-plan_diamond_subworkflow"].subwf_uuid == sub.wf_uuid
    assert len(sub.jobs) == 15 and sub.label == "blackdiamond"


def test_argv_unescaped_as_the_loader_escaped_it():
    assert unescape_argv("a \\\\b \\'c\\'") == "a \\b 'c'"
    assert unescape_argv("-z /") == "-z /" and unescape_argv(None) is None


# -- following a DB the real loader writes --------------------------------------------


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("every", [1, 4])
def test_following_the_loader_commit_by_commit(tmp_path, replay_dir, run, every, store_snapshot):
    """Poll after every loader flush: the store never misses an UPDATE (host,
    exit codes, sub-workflow map, task map) and ends equal to the events' store;
    with a flush per event, every intermediate store shows what the events so far say."""
    lines = _lines(replay_dir, run)
    db_path = tmp_path / "w.stampede.db"
    store = Store()
    src = StampedeDbSource(str(db_path), follow=True)
    mismatches = []

    def after(n):
        if src.conn is None:
            assert src._open()
        events = src.poll()
        assert events is not None  # nothing else holds a lock here
        store.apply_many(events)
        if every == 1:
            ref = events_store(replay_dir, run, n)
            # (not the site: a job with a PRE script gets its instance row at
            # pre.start, and the loader never updates it from submit.start,
            # so the DB learns the site only at main.end)
            view = lambda s: {(u, j): (job.state, len(job.tries), job.exit_raw, job.host, job.subwf_uuid)  # noqa: E731
                              for u, w in s.workflows.items() for j, job in w.jobs.items()}
            if view(store) != view(ref):
                mismatches.append(n)

    feed(db_path, lines, every, after)
    after(len(lines))
    src.close()
    assert not mismatches
    ref = events_store(replay_dir, run)
    assert store_snapshot(store) == store_snapshot(ref)
    assert deep(store) == deep(ref)
    assert src.changed_polls >= len(lines) // every // 2


def test_chunked_reads_give_the_same_store(replay_dir, store_snapshot):
    path = str(replay_dir / "hierarchical_wf_success" / DBS["hierarchical_wf_success"])
    small = run_to_end(StampedeDbSource(path, follow=False, chunk=7), Store())
    assert store_snapshot(small) == store_snapshot(read_store(path))


# -- never in monitord's way --------------------------------------------------------------


def test_read_only_and_no_lock_between_polls(tmp_path, replay_dir):
    db = tmp_path / "copy.stampede.db"
    shutil.copy(replay_dir / "process_wf_failure" / "process-0.stampede.db", db)
    before = db.read_bytes()
    src = StampedeDbSource(str(db), follow=True)
    assert src._open()
    assert src.poll()
    with pytest.raises(sqlite3.OperationalError):  # cannot write, even by mistake
        src.conn.execute("DELETE FROM jobstate")
    assert src.poll() == []  # nothing changed: data_version says so
    src.close()
    assert db.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["copy.stampede.db"]

    src = StampedeDbSource(str(db), follow=True)
    assert src._open() and src.poll()
    w = sqlite3.connect(str(db), timeout=0)  # a writer that will not wait for anyone
    w.execute("BEGIN EXCLUSIVE")  # ... gets its lock at once: we hold none between polls
    w.execute("INSERT INTO jobstate VALUES (3, 'JOB_HELD', 1677913885, 8, 'test')")
    assert src.poll() is None and src.busy_polls == 1  # monitord mid-commit: "retry", not an error
    w.commit()
    (ev,) = src.poll()
    assert (ev.name, ev.data["js_id"], ev.data["reason"]) == ("stampede.job_inst.held.start", 8, "test")
    w.close()
    src.close()


def test_busy_db_is_retried_not_fatal(tmp_path, replay_dir, store_snapshot):
    db = tmp_path / "copy.stampede.db"
    shutil.copy(replay_dir / "process_wf_success" / "process-0.stampede.db", db)
    w = sqlite3.connect(str(db), timeout=0)
    w.execute("BEGIN EXCLUSIVE")  # monitord mid-commit
    src = StampedeDbSource(str(db), follow=True)
    got = []
    assert src.step() == []  # cannot even read the schema: wait
    assert src.status.state == "starting" and "locked" in src.status.message
    w.rollback()
    w.close()
    for _ in range(5):
        got.extend(src.step())
    s = Store()
    s.apply_many(got)
    assert store_snapshot(s) == store_snapshot(read_store(str(db)))


def test_replaced_db_starts_over(tmp_path, replay_dir, store_snapshot):
    db = tmp_path / "w.stampede.db"
    shutil.copy(replay_dir / "process_wf_failure" / "process-0.stampede.db", db)
    src = StampedeDbSource(str(db), follow=True)
    assert src.step()
    # monitord -r moves the old DB away and writes a new one
    tmp = tmp_path / "new.db"
    shutil.copy(replay_dir / "process_wf_success" / "process-0.stampede.db", tmp)
    os.replace(tmp, db)
    assert src.step() is RESET
    s = Store()
    for _ in range(3):
        s.apply_many(src.step())
    assert store_snapshot(s) == store_snapshot(read_store(str(db)))


def test_one_root_of_a_shared_db(tmp_path, replay_dir, store_snapshot):
    """pegasus.catalog.workflow.url can point many runs at one DB: root_uuid keeps one."""
    db = tmp_path / "shared.db"
    lines = _lines(replay_dir, "process_wf_success") + _lines(replay_dir, "hierarchical_wf_success")
    feed(db, lines, 1000)
    both = read_store(str(db))
    assert len(both.roots) == 2
    hier = read_store(str(db), root_uuid="48f759a4-165f-47d6-8c32-571649ce311b")
    assert set(hier.workflows) == {"48f759a4-165f-47d6-8c32-571649ce311b", "160be601-bda4-45fb-86cd-9cf7a269bb22"}
    assert store_snapshot(hier) == store_snapshot(events_store(replay_dir, "hierarchical_wf_success"))


# -- bad input: a clear message, never a traceback ----------------------------------------


def _error_of(path, follow=False) -> str:
    src = StampedeDbSource(str(path), follow=follow)
    batches = list(src.batches())
    assert not [b for b in batches if b is not RESET and b]
    assert src.status.state == "error", src.status
    return src.status.message


def test_missing_file(tmp_path):
    assert "no such file" in _error_of(tmp_path / "nope.stampede.db")


def test_missing_file_is_waited_for_when_following(tmp_path):
    src = StampedeDbSource(str(tmp_path / "later.stampede.db"), follow=True, poll=0.01)
    assert src.step() == []
    assert src.status.state == "starting" and "waiting for" in src.status.message


def test_empty_and_non_sqlite_files(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert "empty" in _error_of(empty)
    text = tmp_path / "text.db"
    text.write_text("hello\n")
    assert "not an SQLite file" in _error_of(text)


def test_truncated_db(tmp_path, replay_dir):
    data = (replay_dir / "process_wf_failure" / "process-0.stampede.db").read_bytes()
    cut = tmp_path / "cut.stampede.db"
    cut.write_bytes(data[: len(data) // 3])
    msg = _error_of(cut)
    assert "cut.stampede.db" in msg and ("truncated" in msg or "not a Stampede" in msg or "malformed" in msg)


def test_sqlite_but_not_stampede(tmp_path):
    p = tmp_path / "other.db"
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE things (x)")
    c.commit()
    c.close()
    assert "not a Stampede DB" in _error_of(p)


@pytest.mark.parametrize("version,words", [("11", "Pegasus 4.9"), ("15", "newer")])
def test_unknown_schema_version_is_refused(tmp_path, replay_dir, version, words):
    p = tmp_path / "v.stampede.db"
    shutil.copy(replay_dir / "process_wf_failure" / "process-0.stampede.db", p)
    c = sqlite3.connect(p)
    c.execute("INSERT INTO dbversion (version_number, version, version_timestamp) VALUES (?, ?, 0)",
              (int(version), version))
    c.commit()
    c.close()
    msg = _error_of(p)
    assert f"version {version}" in msg and words in msg and "14" in msg


def test_ancient_schema_info_db_is_refused(tmp_path):
    p = tmp_path / "old.stampede.db"
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE schema_info (version_number)")
    c.commit()
    c.close()
    assert "Pegasus < 4.3" in _error_of(p)


def test_read_store_raises_with_the_message(tmp_path):
    with pytest.raises(StampedeDbError, match="no such file"):
        read_store(str(tmp_path / "missing.db"))


# -- the benchmark's DB writer is Pegasus's loader, faster ---------------------------------


def test_bench_db_writer_writes_what_pegasus_loader_writes(tmp_path):
    pytest.importorskip("Pegasus.db.workflow_loader")
    from benchmarks import bench_stats

    ok, msg = bench_stats.validate(150, str(tmp_path))
    assert ok, msg


def test_generated_run_db_store_equals_events_store(tmp_path, store_snapshot):
    """1,500 generated jobs with retries and failures: DB path and event path agree."""
    from panorama_tui.core.events import decode

    from benchmarks import bench_stats

    events = list(bench_stats.run_events(1500))
    db = tmp_path / "gen.stampede.db"
    bench_stats.write_stampede_db(str(db), iter(events))
    from_db = read_store(str(db))
    ref = Store()
    ref.apply_many(decode(e) for e in events)
    assert store_snapshot(from_db) == store_snapshot(ref)
    assert deep(from_db) == deep(ref)
    assert sum(len(j.tries) for j in from_db.jobs()) > len(list(from_db.jobs()))  # there were retries
