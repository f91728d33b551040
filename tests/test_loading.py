"""The screen while a big Stampede DB loads (issue #14): the header shows the DB's own job
counts, said to be such, and the status line how much is loaded, until the store has it all.

The DBs are generated (``benchmarks.generate``, a run stopped half-way, with sub-workflows
and without) and read in small chunks, so that a few thousand jobs take many reads as a
million do with the default chunk.
"""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.generate import SEED, until_ts, write_stampede_db
from panorama_tui.model.states import JobState
from panorama_tui.model.store import Store
from panorama_tui.pipeline.ingest import Ingest, decode_batch
from panorama_tui.pipeline.read import read_stampede_db
from panorama_tui.sources.base import RESET
from panorama_tui.sources.pegasus import stampede_db
from panorama_tui.sources.pegasus.stampede_db import COUNT_SLICE, StampedeDbSource
from panorama_tui.stats.progress import dag_scope
from panorama_tui.stats.progress import db_counts, loading_percent

N = 3000
CHUNK = 400  # 3000 jobs of ~4 states a try: a dozen reads


@pytest.fixture(scope="module", params=[0, 3], ids=["one-wf", "3-subwfs"])
def half_db(request, tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("loading") / f"half-{request.param}.stampede.db")
    write_stampede_db(path, N, until=until_ts(N, 0.5, SEED), seed=SEED, subwfs=request.param)
    return path


def read_partly(path: str, percent: int):
    """(source, store, the rest of its batches): a DB read in small chunks until the
    source says ``percent`` % is loaded."""
    src = StampedeDbSource(path, follow=False, chunk=CHUNK)
    store = Store()
    batches = src.batches()
    for batch in batches:
        store.apply_many(batch)
        if (loading_percent(src.status.detail) or 0) >= percent:
            break
    return src, store, batches


def scope_counts(store: Store) -> tuple[list[int], int]:
    """The header's counts and retries over every root's DAGs, as it adds them up."""
    scope = [w for r in store.roots for w in dag_scope(store, r)]
    counts = [sum(col) for col in zip(*(w.counts for w in scope))]
    return counts, sum(w.retries for w in scope)


@pytest.mark.parametrize("count_slice", [COUNT_SLICE, 700])
def test_header_counts_while_loading_are_the_dbs(half_db, count_slice, monkeypatch):
    """Driven step by step: from the second read on (the first rows do not wait for the
    count), the DB's counts over the workflows the store has so far are the whole run's,
    counted in one slice of job ids or several; the loaded share only grows, and once the
    last batch is handed on the progress figures go."""
    monkeypatch.setattr(stampede_db, "COUNT_SLICE", count_slice)
    ref_counts, ref_retries = scope_counts(read_stampede_db(half_db))
    assert ref_counts[JobState.DONE] and ref_counts[JobState.RUNNING] + ref_counts[JobState.RETRYING]
    src = StampedeDbSource(half_db, follow=False, chunk=CHUNK)
    store = Store()
    seen, partial_differs = [], False
    for batch in src.batches():
        assert batch is not RESET
        store.apply_many(batch)
        detail = src.status.detail
        percent = loading_percent(detail)
        if percent is None:
            continue
        seen.append(percent)
        if src.polls == 1:
            assert "db_counts" not in detail  # taken once the first chunk is handed on
            continue
        scope = [w for r in store.roots for w in dag_scope(store, r)]
        assert db_counts(detail["db_counts"], scope) == (ref_counts, ref_retries)
        partial_differs |= scope_counts(store)[0] != ref_counts
    assert len(seen) > 5 and src.polls > 3 and seen == sorted(seen) and seen[0] < 50 <= seen[-1] <= 99
    assert partial_differs  # what the header would have said without the DB's counts
    assert loading_percent(src.status.detail) is None and "db_counts" not in src.status.detail
    assert scope_counts(store) == (ref_counts, ref_retries)


def test_small_db_read_in_one_chunk_never_loads(half_db):
    """A DB read in one go (every snapshot's) never shows the indicator nor pays the count."""
    src = StampedeDbSource(half_db, follow=False)
    for _ in src.batches():
        assert loading_percent(src.status.detail) is None
    assert src._db_counts is None


def test_pilot_header_and_status_while_loading(half_db):
    """The screen half-way through a read: the DB's counts labelled, "loading N%" on the
    status line; after the last batch, the store's (equal) counts and no indicator."""
    from panorama_tui.ui.app import PanoramaApp
    from .test_ui import text_of

    ref = read_stampede_db(half_db)
    ref_counts, _ = scope_counts(ref)
    src, store, batches = read_partly(half_db, 30)
    percent = loading_percent(src.status.detail)
    done = f"✓ {ref_counts[JobState.DONE]} done"

    async def go():
        app = PanoramaApp(store, ingest=Ingest(src, store), live=True, monotonic=lambda: 0.0)
        async with app.run_test(size=(200, 40)) as pilot:
            await pilot.pause()
            app.refresh_all(full=True)  # drawn again at its laid-out width (the first tick may precede it)
            await pilot.pause()
            header = text_of(app.query_one("#header"))
            assert done in header and f"from the DB, loading {percent}%" in header, header
            during = header.splitlines()[1].replace(f"from the DB, loading {percent}%", "").split()
            assert f"loading {percent}%" in text_of(app.query_one("#status"))
            # the tree says what the header says: the DB's counts, not the jobs read so far
            tree = app.query_one("#tree")
            labels = {uuid: node.label.plain for uuid, node in tree._wf_nodes.items()}
            whole = f"{ref_counts[JobState.DONE]}/{sum(ref_counts)}"
            assert any(label.endswith(whole) or f" {whole} " in label for label in labels.values()), labels
            for batch in batches:
                store.apply_many(batch)
            app.refresh_all(full=True)
            await pilot.pause()
            header = text_of(app.query_one("#header"))
            assert done in header and "loading" not in header, header
            assert header.splitlines()[1].split() == during  # every figure, the bar and "N% of T" too
            assert "loading" not in text_of(app.query_one("#status"))
            assert {uuid: node.label.plain for uuid, node in tree._wf_nodes.items()} == labels  # the same, loaded

    asyncio.run(go())


def test_loading_percent_kept_on_an_80_column_status_line(half_db):
    """At 80 columns the status line gives up the source's label before "loading N%"."""
    from panorama_tui.ui.app import PanoramaApp
    from .test_ui import text_of

    src, store, _ = read_partly(half_db, 30)
    percent = loading_percent(src.status.detail)

    async def go():
        app = PanoramaApp(store, ingest=Ingest(src, store), live=True, monotonic=lambda: 0.0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            app.refresh_all(full=True)
            await pilot.pause()
            status = text_of(app.query_one("#status"))
            assert f"loading {percent}%" in status, status

    asyncio.run(go())


def test_parsl_db_read_in_chunks_says_how_far(shared_data):
    """The Parsl monitoring DB read in small chunks: "loading N%" grows to the end and goes
    once the last chunk is handed on."""
    from panorama_tui.sources.parsl.monitoring_db import ParslDbSource

    src = ParslDbSource(str(shared_data / "parsl" / "monitoring.db"), follow=False, chunk=20)
    seen = []
    for _ in src.batches():
        percent = loading_percent(src.status.detail)
        if percent is not None:
            seen.append(percent)
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] >= 50
    assert src.status.state == "ended" and loading_percent(src.status.detail) is None


@pytest.mark.parametrize("recount_after", [0, 10**9])
def test_followed_db_counted_again_while_loading(half_db, tmp_path, monkeypatch, recount_after):
    """A followed run moves on while it loads: its counts are taken again (here at every
    read, else once), so a job that ends meanwhile is counted done."""
    import shutil
    import sqlite3

    monkeypatch.setattr(stampede_db, "RECOUNT_AFTER", recount_after)
    path = str(tmp_path / "live.stampede.db")
    shutil.copy(half_db, path)
    src = StampedeDbSource(path, follow=True, chunk=CHUNK, poll=0)

    def done() -> int:
        rows = [r for r in src.status.detail["db_counts"] if r[1] == "POST_SCRIPT_SUCCESS"]
        return sum(r[5] for r in rows)

    src.step()
    src.step()
    before = done()
    with sqlite3.connect(path) as w:  # monitord's next commit: a queued job's POST script succeeds
        jiid, ts = w.execute("SELECT job_instance_id, timestamp FROM jobstate WHERE state = 'SUBMIT' "
                             "AND job_instance_id = (SELECT max(job_instance_id) FROM job_instance) "
                             "ORDER BY timestamp DESC LIMIT 1").fetchone()
        w.execute("INSERT INTO jobstate VALUES (?, 'POST_SCRIPT_SUCCESS', ?, 99, NULL)", (jiid, ts + 1))
    src.step()
    assert src.loading and done() == before + (recount_after == 0)
    src.close()


def test_submit_dir_passes_on_its_dbs_loading_figures(half_db, tmp_path, monkeypatch):
    """A submit dir reads its DB through the DB source: the screen's "loading N%" and the DB's
    counts come through while the DB loads, and go once it is all handed on."""
    from benchmarks.submit_dir import write_submit_dir
    from panorama_tui.sources.pegasus import submitdir

    class SmallChunks(StampedeDbSource):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("chunk", CHUNK)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(submitdir, "StampedeDbSource", SmallChunks)
    d = write_submit_dir(half_db, str(tmp_path / "submit"))
    src = submitdir.SubmitDirSource(submitdir.find_submit_dir(d), follow=False)
    seen = []
    for batch in src.batches():
        if batch is RESET:
            continue
        percent = loading_percent(src.status.detail)
        if percent is not None:
            seen.append(percent)
    assert seen and seen == sorted(seen), seen
    assert loading_percent(src.status.detail) is None and "db_counts" not in src.status.detail


def test_job_list_ordered_now_and_then_while_loading(half_db, monkeypatch):
    """While a big DB loads, the job list is put in order at most once every LOADING_DUTY
    times what its ordering cost (each tick re-keyed thousands of jobs: 63 s of a 1M load),
    its visible rows still repainted; no column is warmed meanwhile.  Once the load is over,
    the rows are those a fresh build gives, and the failed jobs' list holds the failed jobs."""
    from panorama_tui.ui import widgets
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.widgets.joblist import JobList
    from .test_ui import text_of

    monkeypatch.setattr(widgets.joblist, "LOADING_MIN", 100)
    src, store, batches = read_partly(half_db, 30)

    async def go():
        app = PanoramaApp(store, ingest=Ingest(src, store), live=True, monotonic=lambda: 0.0)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.pause()
            jobs = app.query_one("#jobs", JobList)
            assert app.loading and jobs.rows
            monkeypatch.setattr(widgets.joblist, "LOADING_DUTY", 10**9)  # from now on: put off
            jobs._ordered_at = widgets.joblist.monotonic()
            before = list(jobs.rows)
            for batch in batches:
                with store.lock:
                    store.apply_many(batch)
                if loading_percent(src.status.detail) is None or store.job_count() > len(before) * 1.5:
                    break
            app.refresh_all()
            await pilot.pause()
            assert app.loading and jobs.rows == before  # put off
            assert jobs.behind and f"{len(before)} shown so far by" in text_of(app.query_one("#status"))
            jobs._warm_step()
            assert not jobs.order._cache.keys() - {jobs.sort_col}  # nothing warmed
            for batch in batches:
                with store.lock:
                    store.apply_many(batch)
            assert not app.loading
            app.refresh_all()
            await pilot.pause()
            shown = [j.key for j in jobs.rows]
            jobs.rebuild()
            assert shown == [j.key for j in jobs.rows] and len(shown) == store.job_count()
            assert not jobs.behind and f"{len(shown)} shown by" in text_of(app.query_one("#status"))
            fail_list = app.query_one("#fail-list", JobList)
            assert [j.key for j in fail_list.order.full] == [j.key for j in store.failed_jobs()]

    asyncio.run(go())


def test_ingest_waits_between_slices_while_a_key_is_answered(half_db, monkeypatch):
    """A key pressed: the reader's thread waits between slices until the key's frame (or
    INPUT_WAIT) instead of taking turns with the screen for the GIL."""
    import threading

    from panorama_tui.pipeline import ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "INPUT_WAIT", 30.0)
    store = Store()
    ing = Ingest(StampedeDbSource(half_db, follow=False, chunk=CHUNK), store)
    ing.yield_to_input()
    ing.start()
    threading.Event().wait(0.3)
    assert store.event_count == 0 and not ing.done.is_set()
    ing.input_answered()
    assert ing.done.wait(60)
    assert store.job_count() == read_stampede_db(half_db).job_count()


def _headers(store: Store, size: tuple[int, int], details: list) -> list[str]:
    """The header's text (plain) at ``size``, shown once for each of ``details`` (each a
    function giving the source's status detail), over the store's one workflow."""
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.panels.header import HeaderBar

    from .test_percent_done import plain

    (wf,) = store.workflows.values()

    async def go():
        app = PanoramaApp(store, source_label="test")
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            header = app.query_one("#header", HeaderBar)
            out = []
            for detail in details:
                header.show(store, wf, 0.0, 0.0, detail())
                out.append(plain(header.content))
            return out

    return asyncio.run(go())


def test_partial_header_calls_no_job_futile_while_loading():
    """An ended, failed run read in bulk: the jobs not read yet look waiting, and the header
    (labelled partial) does not call them futile, which DAGMan says of jobs that never ran."""
    from panorama_tui.model.states import WorkflowState

    store = Store()
    wf = store.workflow("wf-1")
    wf.state = WorkflowState.FAILED
    for i in range(5):
        store.job(wf, f"job{i}")
    loading = {"total_rows": 100, "loaded_rows": 5}

    during, after = _headers(store, (160, 40), [lambda: loading, lambda: None])
    assert "partial, loading 5%" in during and "futile" not in during, during
    assert "5 futile" in after, after  # read whole: DAGMan's word for them


def test_the_partial_label_stays_at_80_columns():
    """At 80 columns a 100k-job load's counts leave no room for "partial, loading 17%": the
    label shortens to "partial" rather than be cut off, so the counts never pass for whole."""
    store = Store()
    wf = store.workflow("a44e8468-3172-4f6f-8f82-dd846b5dd0f0")
    for i in range(100_000):
        store.job(wf, f"mProject_ID{i:07d}")
    wf.counts[JobState.DONE], wf.counts[JobState.RUNNING] = 17_563, 438
    wf.counts[JobState.WAITING] -= 17_563 + 438
    loading = {"total_rows": 1000, "loaded_rows": 175}

    def more_counts():
        wf.retries = 99  # one more count: the label goes before the percentage
        return loading

    lines = [h.splitlines()[1] for h in _headers(store, (80, 24), [lambda: loading, more_counts])]
    assert lines[0].rstrip().endswith("17.56% of 100000  partial") and len(lines[0]) <= 78, lines[0]
    assert "partial: 17.56% done" in lines[1], lines[1]


def test_parsl_tasks_fill_the_job_list_as_ranges_come(tmp_path, monkeypatch):
    """A Parsl DB read in bulk a range at a time: each range's tasks come after those shown (by
    the order they were written), so the job list places them (JobOrder._grow), keyed by the
    column it is sorted by, and shows them at the next tick although no shown row moved: the
    list grows with the store, not only once the load is over (it stayed at the first range's
    500 rows through a 100k-task load)."""
    from benchmarks import generate_parsl
    from panorama_tui.sources.parsl import monitoring_db as mdb
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.widgets.joblist import JobList

    path = str(tmp_path / "monitoring.db")
    generate_parsl.write(path, 1200)
    monkeypatch.setattr(mdb, "BULK_FIRST", 100)
    monkeypatch.setattr(mdb, "BULK_RANGE", 100)
    src = mdb.ParslDbSource(path, follow=False, bulk=True, writers=lambda p: None, prefetch_min=None)
    store = Store()
    batches = (decode_batch(b, [], samples=True) for b in src.batches())
    store.apply_decoded(next(batches))

    async def go():
        app = PanoramaApp(store, ingest=Ingest(src, store), live=True, monotonic=lambda: 0.0)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.pause()
            jobs = app.query_one("#jobs", JobList)
            app.refresh_all()
            await pilot.pause()
            seen = [len(jobs.rows)]
            for batch in batches:
                with store.lock:
                    store.apply_decoded(batch)
                app.refresh_all()
                await pilot.pause()
                assert len(jobs.rows) == store.job_count()
                seen.append(len(jobs.rows))
            assert seen[-1] == 1200 and len(set(seen)) > 10, seen
            shown = [j.key for j in jobs.rows]
            jobs.rebuild()
            assert shown == [j.key for j in jobs.rows]

    asyncio.run(go())
