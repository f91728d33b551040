"""``--once`` of a Stampede DB computed in the DB (stats/sql_once.py) says exactly what the
store path says: on every shared Stampede DB, the held runs' DBs and generated runs (finished
and in progress), in JSON and in text, and at a clock where a run has stalled."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path

import pytest

from panorama_tui.cli import top
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource

from panorama_tui.pipeline.read import read_stampede_db as read_store
from panorama_tui.stats import once, sql_once

from .held_runs import DB, submit_dir


def _run(argv, store_path: bool, monkeypatch) -> tuple[int, str]:
    if store_path:
        monkeypatch.setenv(sql_once.FORCE_STORE_ENV, "1")
    else:
        monkeypatch.delenv(sql_once.FORCE_STORE_ENV, raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = top.main(argv)
    return code, out.getvalue()


def _same(db: Path, monkeypatch) -> None:
    # the SQL path really answers this DB (it does not fall back to the store)
    assert sql_once.once_from_db(str(db), str(db), time.time()) is not None
    for extra in (["--json"], []):
        argv = ["--once", *extra, str(db)]
        fast = _run(argv, False, monkeypatch)
        slow = _run(argv, True, monkeypatch)
        assert fast[0] in (0, 1, 2, 4) and fast[1].startswith(("{", "source: ")), fast
        assert fast == slow, f"{argv}: SQL path differs from the store path"


def _shared_dbs(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "pegasus").glob("*/*/*.stampede.db"))


def test_every_shared_stampede_db(shared_data, monkeypatch):
    dbs = _shared_dbs(shared_data)
    assert len(dbs) >= 6
    for db in dbs:
        _same(db, monkeypatch)


@pytest.mark.parametrize("case", ["removed", "held", "stale"])
def test_the_held_runs(case, tmp_path, monkeypatch):
    _same(submit_dir(case, tmp_path) / DB, monkeypatch)


@pytest.fixture(scope="module")
def generated(tmp_path_factory, shared_data):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import generate as G

    out = tmp_path_factory.mktemp("gen")
    dbs = {}
    for until, subwfs in RUNS:
        path = out / f"gen-{until}-{subwfs}.stampede.db"
        G.write_stampede_db(str(path), 1500, until=G.until_ts(1500, until), subwfs=subwfs)
        dbs[until, subwfs] = path
    return dbs


# (fraction of the run written or None for all of it, sub-workflows): finished, in progress, and
# split into sub-workflows of which some have not started
RUNS = [(None, 0), (0.3, 0), (0.6, 0), (None, 3), (0.05, 3), (0.5, 3)]


@pytest.mark.parametrize("until,subwfs", RUNS)
def test_generated_runs_finished_and_in_progress(generated, until, subwfs, monkeypatch):
    _same(generated[until, subwfs], monkeypatch)


def _without_end(src: Path, dst: Path) -> Path:
    """A copy of a finished run's DB whose end monitord never recorded (nothing active)."""
    import shutil
    import sqlite3

    shutil.copy(src, dst)
    conn = sqlite3.connect(dst)
    conn.execute("DELETE FROM workflowstate WHERE state = 'WORKFLOW_TERMINATED'")
    conn.commit()
    conn.close()
    return dst


def test_a_stalled_clock_gives_the_same_stall(generated, shared_data, tmp_path):
    """A clock far past the runs' last event: where nothing is active the store says stalled,
    and so must the SQL path (the same pace and reason)."""
    ended = [_without_end(db, tmp_path / f"noend-{i}.db") for i, db in enumerate(_shared_dbs(shared_data))]
    ended.append(_without_end(generated[None, 0], tmp_path / "noend-gen.db"))
    ended.append(_without_end(generated[None, 3], tmp_path / "noend-gen-sub.db"))
    dbs = [*_shared_dbs(shared_data), *generated.values(), *ended]
    stalled = 0
    for db in dbs:
        store = read_store(str(db))
        now = (store.latest_ts or 0) + 30 * 86400
        want = once.as_dict(store, "x", now, top._db_counts(StampedeDbSource(str(db)), store))
        got, _ = sql_once.once_from_db(str(db), "x", now)
        assert json.dumps(got) == json.dumps(want), db
        stalled += got["exit_status"] == once.EXIT_STALLED
    assert stalled >= 4  # the runs without an end whose jobs all ended (a failed one may be retrying)


def test_the_store_path_stays_for_a_db_with_an_orphan_row(shared_data, tmp_path, monkeypatch):
    """A row whose parent is missing is counted as a warning row by row: the store path answers."""
    import shutil
    import sqlite3

    src = next(p for p in _shared_dbs(shared_data) if "process_wf_failure" in str(p))
    db = tmp_path / "orphan.stampede.db"
    shutil.copy(src, db)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO jobstate VALUES (999999, 'SUBMIT', 1677913000, 1, NULL)")
    conn.commit()
    conn.close()
    assert sql_once.once_from_db(str(db), "x", None) is None
    code, out = _run(["--once", "--json", str(db)], False, monkeypatch)
    assert json.loads(out)["warnings"] == 1


def test_the_store_path_stays_for_a_db_with_a_text_number(shared_data, tmp_path):
    """A text cell in a number column is a row the store skips with a warning: its path answers."""
    import shutil
    import sqlite3

    src = next(p for p in _shared_dbs(shared_data) if "process_wf_failure" in str(p))
    db = tmp_path / "text.stampede.db"
    shutil.copy(src, db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE invocation SET remote_duration = 'abc' WHERE rowid = 1")
    conn.commit()
    conn.close()
    assert sql_once.once_from_db(str(db), "x", None) is None


def _diff(a, b, path="") -> set[str]:
    """The JSON paths where ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {p for k in a.keys() | b.keys() for p in _diff(a.get(k), b.get(k), f"{path}.{k}")}
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return {p for i, (x, y) in enumerate(zip(a, b)) for p in _diff(x, y, f"{path}[{i}]")}
    return set() if a == b else {path}


def _submit_dirs(shared_data: Path, tmp_path: Path) -> list[Path]:
    dirs = sorted((shared_data / "pegasus" / "submitdirs").glob("*/braindump.yml"))
    return [p.parent for p in dirs] + [submit_dir(case, tmp_path) for case in ("removed", "held", "stale")]


def _fast_and_store(argv, monkeypatch) -> tuple[bool, tuple, tuple]:
    """(whether the SQL path answered, its (exit status, stdout), the store path's)."""
    answered = []
    real = sql_once.once_from_db

    def spy(*a, **k):
        got = real(*a, **k)
        answered.append(got is not None)
        return got

    monkeypatch.setattr(sql_once, "once_from_db", spy)
    fast = _run(argv, False, monkeypatch)
    slow = _run(argv, True, monkeypatch)
    monkeypatch.setattr(sql_once, "once_from_db", real)
    return any(answered), fast, slow


# The submit dirs whose DB monitord finished; the others' overlay adds job states the DB lacks
# (hierarchical_wf_success: monitord stopped short of DAGMan's end; the held runs "held" and
# "stale": a DB that lags its jobstate.log): the SQL path answers them all, those jobs decided
# by the store's rules.
FAST_DIRS = {"process_wf_failure", "process_wf_success", "removed"}
LAGGING_DIRS = {"hierarchical_wf_success", "held", "stale"}


def test_a_submit_dir_is_its_db_summary_and_what_the_dir_adds(shared_data, tmp_path, monkeypatch):
    """--once of a submit dir computed in its DB plus DAGMan's tables and the jobstate.log
    lines the DB lacks says exactly what the store path says (text, JSON, exit status), on
    every shared submit dir and held run, and the SQL path answers every one of them."""
    dirs = _submit_dirs(shared_data, tmp_path)
    assert {d.name for d in dirs} >= FAST_DIRS | LAGGING_DIRS
    for d in dirs:
        for extra in (["--json"], []):
            fast_used, fast, slow = _fast_and_store(["--once", *extra, str(d)], monkeypatch)
            assert fast == slow, f"{d} {extra}: the SQL path differs from the store path"
            assert fast_used, d
        if d.name in FAST_DIRS:
            out = json.loads(_run(["--once", "--json", str(d)], False, monkeypatch)[1])
            assert out["workflows"][0]["dag"]["from"] == "dagman.out", d  # DAGMan's own table, as the store has it


@pytest.mark.parametrize("until,subwfs", [(None, 0), (0.6, 0), (None, 3)])
def test_a_generated_submit_dir(generated, until, subwfs, tmp_path, monkeypatch):
    """A generated run's submit dir (benchmarks/submit_dir.py: its jobstate.log written from the
    DB), finished or not: the store path's output, whichever path answers."""
    from benchmarks.submit_dir import write_submit_dir

    d = write_submit_dir(str(generated[until, subwfs]), str(tmp_path / "submit"))
    for extra in (["--json"], []):
        _, fast, slow = _fast_and_store(["--once", *extra, d], monkeypatch)
        assert fast == slow, f"{extra}: the SQL path differs from the store path"


def _lagging(generated, run, tmp_path: Path, *sql: str, log_of=None) -> str:
    """A generated run's submit dir whose DB lacks what ``sql`` deletes from it, or whose
    jobstate.log is written from a later point of the same run (``log_of``): monitord's DB
    behind its jobstate.log, those lines only in jobstate.log."""
    import shutil
    import sqlite3

    from benchmarks.submit_dir import DAG, write_submit_dir

    db = tmp_path / "lagging.stampede.db"
    shutil.copy(generated[run], db)
    d = write_submit_dir(str(generated[log_of] if log_of else db), str(tmp_path / "submit"))
    link = Path(d) / (DAG[: -len(".dag")] + ".stampede.db")
    link.unlink()
    link.symlink_to(db)
    conn = sqlite3.connect(db)
    for stmt in sql:
        conn.execute(stmt)
    conn.commit()
    conn.close()
    return d


_LAST_STATES = "DELETE FROM jobstate WHERE rowid > (SELECT max(rowid) - {n} FROM jobstate)"
_NO_END = "DELETE FROM workflowstate WHERE state = 'WORKFLOW_TERMINATED'"
_NO_LAST_TRY = ("DELETE FROM jobstate WHERE job_instance_id = (SELECT max(job_instance_id) FROM job_instance)",
                "DELETE FROM job_instance WHERE job_instance_id = (SELECT max(job_instance_id) FROM job_instance)")
# the DB from the last retry on (its earlier try ran tasks): the store's task counts would go by
# the retry's invocations (none yet) where pegasus-statistics' go by the DB's latest try: the
# store path's to answer
_TO_LAST_RETRY = (
    "CREATE TEMP TABLE cut AS SELECT x.jiid, (SELECT min(timestamp) FROM jobstate s WHERE s.job_instance_id = x.jiid)"
    " AS ts FROM (SELECT max(job_instance_id) AS jiid FROM job_instance WHERE job_id IN "
    "(SELECT job_id FROM job_instance GROUP BY job_id HAVING count(*) > 1)) x",
    "DELETE FROM jobstate WHERE timestamp >= (SELECT ts FROM cut)",
    *(f"DELETE FROM {t} WHERE job_instance_id = (SELECT jiid FROM cut)"
      for t in ("jobstate", "invocation", "integrity", "tag", "job_instance")),
)

# (run, what the DB lacks, the run jobstate.log is written from, whether the SQL path answers):
# a DB that lags its jobstate.log by a state or by a few hundred (a finished run, one half
# done), one without monitord's end of the run (DAGMan's end in jobstate.log; with
# sub-workflows too: their own jobstate.log is not written, so their states stay whole in the
# DB; a DB whose instance rows keep an exit status without their end states is one the store's
# own counts, shown as "provisional", differ on even without a submit dir); a try only
# jobstate.log has; the DB from a retry on (the store path's); the same run's DB at 30 % of it
# under its jobstate.log at 60 % (new tries, new jobs' first tries, ends).
LAGS = [
    ((None, 0), (_LAST_STATES.format(n=1),), None, True),
    ((None, 0), (_LAST_STATES.format(n=300),), None, True),
    ((0.6, 0), (_LAST_STATES.format(n=300),), None, True),
    ((None, 0), (_NO_END,), None, True),
    ((None, 3), (_NO_END,), None, True),
    ((0.6, 0), _NO_LAST_TRY, None, True),
    ((None, 0), _TO_LAST_RETRY, None, False),
    ((0.3, 0), (), (0.6, 0), True),
]


@pytest.mark.parametrize("run,sql,log_of,answers", LAGS)
def test_a_submit_dir_whose_log_is_ahead_of_its_db(generated, run, sql, log_of, answers, tmp_path, monkeypatch):
    """jobstate.log lines the DB has not got (monitord's DB lags its log): the jobs they change
    are decided by the store's rules on their rows and lines, the rest in the DB; text, JSON
    and exit status are the store path's."""
    d = _lagging(generated, run, tmp_path, *sql, log_of=log_of)
    for extra in (["--json"], []):
        fast_used, fast, slow = _fast_and_store(["--once", *extra, d], monkeypatch)
        assert fast == slow, f"{extra}: the SQL path differs from the store path"
        assert answers is None or fast_used == answers


def test_dagman_tables_and_stalls_on_a_run_without_its_end(generated, shared_data, tmp_path):
    """What a submit dir adds to a DB whose run has no end yet: DAGMan's table (its state and
    nodes, a queued node keeping the run from stalling) and DAGMan's own stall, applied to the
    DB's summary as the store applies them to its own."""
    from panorama_tui.core.events import Event

    db = _without_end(generated[None, 3], tmp_path / "noend.db")
    store0 = read_store(str(db))
    root = store0.roots[0].wf_uuid
    subs = [w.wf_uuid for w in store0.descendants(store0.roots[0])]
    now = (store0.latest_ts or 0) + 30 * 86400

    def table(uuid, **cols):
        d = {"xwf_id": uuid, "ts": store0.latest_ts, "dagname": "x.dag", "provisional": True, "total": 9,
             "done": 3, "failed": 0, "queued": 0, "pre": 0, "post": 0, "ready": 0, "unready": 6, "futile": 0,
             "state": "running"}
        d.update(cols)
        return Event("dagman.progress", d["ts"], d)

    cases = [
        [table(root)],  # DAGMan's table in the row
        [table(root, queued=2, state="failed"), table(subs[0], done=9, unready=0, state="succeeded")],
        [table(root), Event("panorama.wf.stalled", None, {"xwf_id": root, "since": store0.latest_ts,
                                                          "reason": "DAGMan exited 1 at then"})],
        [Event("panorama.wf.stalled", None, {"xwf_id": root, "since": 5.0, "reason": "gone"}),
         Event("panorama.wf.stalled", None, {"xwf_id": root, "reason": None})],  # taken back
    ]
    outs = []
    for events in cases:
        store = read_store(str(db))
        for ev in events:
            store.apply(ev)
        want = once.as_dict(store, "x", now, top._db_counts(StampedeDbSource(str(db)), store))
        got, _ = sql_once.once_from_db(str(db), "x", now, overlay=events)
        assert json.dumps(got) == json.dumps(want), [e.name for e in events]
        outs.append(got)
    assert outs[0]["workflows"][0]["dag"]["from"] == "dagman.out"
    assert outs[1]["workflows"][0]["state"] == "failed" and not outs[1]["workflows"][0]["stalled"]
    assert outs[2]["workflows"][0]["stalled"]["reason"] == "DAGMan exited 1 at then"
    # a job state the DB lacks: the store path's to answer
    job = Event("stampede.job_inst.main.start", 1.0, {"xwf_id": root, "job_id": "x", "job_inst_id": 1})
    assert sql_once.once_from_db(str(db), "x", now, overlay=[job]) is None


def test_a_submit_dir_whose_db_is_cut_short(shared_data, tmp_path, monkeypatch):
    """A submit dir whose DB is not a readable SQLite DB (cut short): the store path says so in
    its own words and shows jobstate.log; the SQL path, asked first, leaves it to it."""
    import shutil

    src = shared_data / "pegasus" / "submitdirs" / "process_wf_success"
    d = tmp_path / "cut"
    shutil.copytree(src, d)
    db = next(d.glob("*.stampede.db"))
    db.write_bytes(db.read_bytes()[:3000])
    for extra in (["--json"], []):
        fast_used, fast, slow = _fast_and_store(["--once", *extra, str(d)], monkeypatch)
        assert fast == slow and not fast_used
