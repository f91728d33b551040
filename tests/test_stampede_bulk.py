"""A big Stampede DB opened in bulk (issue #14) gives the store the incremental read gives.

Every DB is read both ways (``bulk_min=0`` forces the bulk read, ``None`` forbids it):
the shared DBs pegasus-monitord wrote, a generated run with retries and failures, and a
generated run stopped half-way (jobs queued, running, in their POST script).

* Bulk-loaded, before any history: every job's state, label, tries and each try's
  latest state, times, exit statuses, host and site; the counts, the failed and held jobs.
* With every job's history read on demand (``history_events``): the whole store, field by
  field, as the incremental read built it.
* Following: rows committed after the bulk read are picked up by the incremental read.
* Read ahead by a child process (``sources/read_ahead.py``): the same store as read here.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from panorama_tui.model.store import Store
from panorama_tui.pipeline.ingest import Ingest, run_to_end
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource
from panorama_tui.stats.counts import held_jobs

from .test_stampede_db import DBS, RUNS, deep


def _read(path, bulk_min, prefetch_min=None) -> tuple[Store, StampedeDbSource]:
    src = StampedeDbSource(str(path), follow=False, bulk_min=bulk_min, prefetch_min=prefetch_min)
    store = run_to_end(src, Store())
    assert src.status.state == "ended", src.status.message
    assert src.prefetch is None  # its child ended with the bulk read
    return store, src


def current(store: Store) -> dict:
    """What a bulk-loaded store holds of each job before its history is read."""
    out = {}
    for uuid, wf in store.workflows.items():
        jobs = {}
        for jid, j in wf.jobs.items():
            tries = {}
            for seq, t in j.tries.items():
                tries[seq] = (t.sched_id, t.site, t.host, t.ip, t.user, t.start_ts, t.end_ts, t.main_exitcode,
                              t.post_exitcode, t.last, t.state_name, t.local_dur, t.multiplier, t.cluster_dur,
                              t.reason, t.removed, t.has_state("JOB_HELD"))
            jobs[jid] = (j.state, j.state_label, j.type_desc, j.max_retries, j.clustered, j.exit_raw, j.retries,
                         j.duration(None), tries)
        out[uuid] = (list(wf.counts), wf.retries, sorted(j.job_id for j in held_jobs(wf)), jobs)
    out["failed"] = [(j.wf.wf_uuid, j.job_id) for j in store.failed_jobs()]
    return out


def _whole(store: Store, src: StampedeDbSource) -> None:
    for wf in list(store.workflows.values()):
        for jid, job in list(wf.jobs.items()):
            if job.partial:
                store.apply_many(src.history_events(wf.wf_uuid, jid))
                assert not job.partial


def notes(src: StampedeDbSource) -> dict:
    """What the bulk read noted for the incremental read after it (stampede_bulk.take_notes)."""
    from panorama_tui.sources.pegasus import stampede_bulk as bulk

    names = {n for kind in bulk.NOTES.values() for n in kind if n not in ("no_task", "failed")}
    return {name: getattr(src, name) for name in names if name != "_job"}


def _check(path) -> None:
    ref, _ = _read(path, None)
    noted = []
    for prefetch_min in (None, 0):
        got, src = _read(path, 0, prefetch_min)
        noted.append(notes(src))  # the child shaped the instances slices: it noted the same
        assert got.job_count() == ref.job_count() > 0
        assert current(got) == current(ref)
        assert [j.job_id for j in got.jobs()] == [j.job_id for j in ref.jobs()]  # the same order
        _whole(got, src)
        assert deep(got) == deep(ref)
        assert got.warning_count == ref.warning_count and not got.unknown
        if prefetch_min == 0:
            assert src.prefetched > 0 and src.prefetch_failed is None
    assert noted[0] == noted[1]


@pytest.mark.parametrize("run", RUNS)
def test_shared_dbs(replay_dir, run):
    _check(replay_dir / run / DBS[run])


def test_generated_run_with_retries_and_failures(tmp_path):
    from benchmarks import bench_stats

    db = tmp_path / "gen.stampede.db"
    bench_stats.write_stampede_db(str(db), iter(list(bench_stats.run_events(1500))))
    _check(db)


@pytest.mark.parametrize("until", [None, 0.5])
def test_generated_runs_finished_and_half_done(tmp_path, until):
    from benchmarks import generate as G

    db = tmp_path / "g.stampede.db"
    G.write_stampede_db(str(db), 3000, until=G.until_ts(3000, until))
    _check(db)


def test_rows_after_the_bulk_read_are_followed(tmp_path):
    """A run that moves on while its DB is read in bulk: the rows past the bulk read's
    limits come through the incremental read, and the store ends as a fresh read's."""
    from benchmarks import generate as G

    done = tmp_path / "done.stampede.db"
    G.write_stampede_db(str(done), 2000)
    live = tmp_path / "live.stampede.db"
    shutil.copy(done, live)
    # take the last 30 % of the states (and everything hung off them) away, to put back later
    conn = sqlite3.connect(live)
    (cut,) = conn.execute("SELECT max(rowid) * 7 / 10 FROM jobstate").fetchone()
    saved = conn.execute("SELECT rowid, * FROM jobstate WHERE rowid > ?", (cut,)).fetchall()
    conn.execute("DELETE FROM jobstate WHERE rowid > ?", (cut,))
    # and invocations of finished instances too: the bulk read does not keep those (_recall)
    (inv_cut,) = conn.execute("SELECT max(rowid) * 7 / 10 FROM invocation").fetchone()
    saved_inv = conn.execute("SELECT * FROM invocation WHERE rowid > ?", (inv_cut,)).fetchall()
    conn.execute("DELETE FROM invocation WHERE rowid > ?", (inv_cut,))
    conn.commit()
    src = StampedeDbSource(str(live), follow=True, bulk_min=0)
    store = Store()
    for _ in range(1000):  # the bulk read, then the incremental read's first look
        store.apply_many(src.step())
        if src.caught_up and src._bulk is None:
            break
    assert src._bulk_decided and src.caught_up
    cols = [c[1] for c in conn.execute("PRAGMA table_info(jobstate)")]
    conn.executemany(f"INSERT INTO jobstate (rowid, {', '.join(cols)}) VALUES ({', '.join('?' * (len(cols) + 1))})",
                     saved)
    conn.executemany(f"INSERT INTO invocation VALUES ({', '.join('?' * len(saved_inv[0]))})", saved_inv)
    conn.commit()
    conn.close()
    for _ in range(2 * 5):  # the new rows, then the instances' re-reads
        store.apply_many(src.step())
    src.close()
    ref, _ = _read(live, None)
    assert current(store) == current(ref)
    assert not src.warnings  # no late row was taken for one naming what is not in the DB
    late = sum(len(t.invocations) for j in store.jobs() for t in j.tries.values())
    assert late >= len(saved_inv) // 2  # what came after the bulk read (a failed job's history has more)
    _whole(store, src)
    assert deep(store) == deep(ref)


@pytest.mark.parametrize("until", [None, 0.5])
def test_submit_dir_opens_in_bulk_too(tmp_path, until):
    """A submit dir around a generated DB: its DB in bulk with jobstate.log read from where
    the DB leaves off gives the store the whole read gives."""
    from benchmarks import generate as G
    from benchmarks.submit_dir import write_submit_dir
    from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir

    db = tmp_path / "g.stampede.db"
    G.write_stampede_db(str(db), 3000, until=G.until_ts(3000, until))
    d = write_submit_dir(str(db), str(tmp_path / "submit"))
    stores = []
    for bulk_min in (None, 0):
        src = SubmitDirSource(find_submit_dir(d), follow=False, bulk_min=bulk_min)
        stores.append(run_to_end(src, Store()))
        assert src.status.state == "ended", src.status.message
    ref, got = stores
    assert current(got) == current(ref)


def test_the_detail_panel_reads_a_bulk_loaded_jobs_history(tmp_path):
    """On the screen: the job under the cursor, loaded in bulk, has its history read from
    the DB (every state, its invocations) and drawn, while the other jobs stay partial."""
    import asyncio

    from benchmarks import generate as G
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.widgets.joblist import JobList

    from .test_ui import text_of

    db = tmp_path / "g.stampede.db"
    G.write_stampede_db(str(db), 3000)
    got, src = _read(db, 0)
    ref, _ = _read(db, None)

    async def go():
        app = PanoramaApp(got, ingest=Ingest(src, got), monotonic=lambda: 0.0)
        async with app.run_test(size=(140, 42)) as pilot:
            await pilot.pause(0.4)
            job = app.query_one("#jobs", JobList).current
            assert job is not None
            for _ in range(100):
                if not job.partial:
                    break
                await pilot.pause(0.05)
            assert not job.partial
            app.refresh_all(full=True)
            await pilot.pause(0.3)
            want = ref.find_job(job.wf.wf_uuid, job.job_id)
            for seq, t in job.tries.items():
                assert t.states == want.tries[seq].states
                assert t.invocations.keys() == want.tries[seq].invocations.keys()
            detail = text_of(app.query_one("#detail-view"))
            assert "history: reading" not in detail and job.job_id in detail
            assert sum(j.partial for j in got.jobs()) == got.job_count() - 1 - len(got.failed_jobs())

    asyncio.run(go())


def test_control_characters_are_made_visible_as_row_by_row(tmp_path):
    """Text cleaned a column at a time (handlers/stampede_bulk.py) as typed.text cleans a cell:
    a control character in a site, user, host, condor id or transformation made visible, the
    same as the row-by-row read gives it."""
    from benchmarks import generate as G

    db = tmp_path / "ctl.stampede.db"
    G.write_stampede_db(str(db), 300)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE job_instance SET site = 'si\x1bte', user = 'us\x07er', sched_id = sched_id || '\x1b[2J'"
                     " WHERE job_instance_id % 7 = 0")
        conn.execute("UPDATE host SET hostname = hostname || '\x1b]0;x\x07'")
        conn.execute("UPDATE task SET transformation = 'tr\x1bans' WHERE task_id % 5 = 0")
    _check(db)
    got, _ = _read(db, 0)
    seen = set()
    for job in got.jobs():
        for t in job.tries.values():
            for v in (t.site, t.user, t.host, t.sched_id, job.transformation):
                assert v is None or v.isprintable(), v
                seen.add(v)
    assert {"si^[te", "us^Ger", "tr^[ans"} <= seen
    assert any(v and v.endswith("^[[2J") for v in seen) and any(v and v.endswith("^[]0;x^G") for v in seen)


def test_text_the_child_cannot_read_is_read_here(tmp_path):
    """Text that is not UTF-8 stops the child's read (SQLite's decoder raises there); the
    source reads the rest itself, as it reads such text, and the store is the same."""
    from benchmarks import generate as G

    db = tmp_path / "g.stampede.db"
    G.write_stampede_db(str(db), 3000)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE job_instance SET site = CAST(x'6e6f7420757466ff38' AS TEXT) WHERE job_instance_id = 2500")
    conn.close()
    ref, _ = _read(db, 0)
    got, src = _read(db, 0, prefetch_min=0)
    assert src.prefetch_failed and "decode" in src.prefetch_failed
    assert current(got) == current(ref)
    assert got.warning_count == ref.warning_count > 0  # the text, counted and shown


def test_the_child_is_gone_when_the_source_stops(tmp_path):
    from benchmarks import generate as G

    db = tmp_path / "g.stampede.db"
    G.write_stampede_db(str(db), 3000)
    src = StampedeDbSource(str(db), follow=True, bulk_min=0, prefetch_min=0)
    batches = src.batches()
    next(batches)  # the first slice: the child started with it
    pre = src.prefetch
    assert pre is not None
    proc = pre._proc
    src.stop()
    batches.close()  # the generator's end closes the source
    assert src.prefetch is None and proc.poll() is not None


def test_the_child_notes_the_js_ids_a_jobstate_log_overlay_needs(tmp_path):
    """A submit dir's DB is read tracking the js_ids of each instance (js_seen, for the
    jobstate.log read from where the DB leaves off): the child, shaping the instances
    slices, notes the same as the reader."""
    from benchmarks import generate as G

    db = tmp_path / "g.stampede.db"
    G.write_stampede_db(str(db), 3000, until=G.until_ts(3000, 0.5))
    noted = []
    for prefetch_min in (None, 0):
        src = StampedeDbSource(str(db), follow=False, bulk_min=0, prefetch_min=prefetch_min, track_js=True)
        run_to_end(src, Store())
        assert (src.prefetched > 0) == (prefetch_min == 0)
        noted.append(notes(src))
    assert noted[0]["js_seen"] and noted[0] == noted[1]
