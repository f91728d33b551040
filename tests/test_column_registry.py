"""The job list's columns are declared once (views/columns.py): the order,
the filter language, the job list and the column chooser read the registry,
so one entry adds a column everywhere.  Also: a Parsl task's own states in
``state=`` filters, and a Parsl fail history's lines kept (issues #13, #15)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from operator import attrgetter

import pytest

from panorama_tui.views import columns as registry
from panorama_tui.views import joborder, query
from panorama_tui.views.columns import Column
from panorama_tui.views.fields import Filter
from panorama_tui.views.joborder import JobOrder, column_keys
from panorama_tui.views.query import QueryError, parse

from .test_joborder import store_at, timeline  # noqa: F401  (a fixture)
from .test_parsl_db import RUN1
from .ui_helpers import finished_demo, fixed_timezone

fixed_timezone()


def test_the_registry_holds_what_the_list_had():
    """The built-in entries give exactly the constants the job list, its order
    and the filter language had before the registry."""
    assert joborder.SORTABLE == ("state", "id", "xform", "host", "tries", "exit", "dur", "cpu", "rss", "io")
    assert registry.timed() == {"dur"} and joborder.TIMED is registry.timed()
    assert query.FIELDS == ("state", "id", "xform", "site", "host", "exit", "tries", "wf", "type")
    assert registry.aliases() == {"job": "id", "job_id": "id", "transformation": "xform", "tr": "xform",
                                  "status": "state", "workflow": "wf", "try": "tries", "exitcode": "exit"}
    assert [c.key for c in registry.columns()] == ["state", "wf", "id", "xform", "status", "host", "tries", "exit",
                                                   "dur", "cpu", "rss", "io", "spark"]
    assert registry.priority() == ("state", "id", "status", "wf", "exit", "dur", "host", "tries", "cpu", "xform",
                                   "rss", "io", "spark")
    assert registry.text_columns() == ("wf", "id", "xform", "status", "host")
    assert registry.descending() == {"dur", "cpu", "rss", "io", "tries"}
    # The sort keys are the column-at-a-time functions themselves: no wrapper per job.
    assert registry.sort_functions()["state"].__module__ == "panorama_tui.views.sortkeys"


def _pool_keys(jobs, now):
    return [x or "" for x in map(attrgetter("site"), jobs)]


def _pool_cell(job, now, names):
    return job.site or "", None


# A column the registry does not have: the site alone (the list shows "host, else site").
POOL = Column("pool", "POOL", 4, _pool_cell, cap=12, sort=_pool_keys,
              filters=(Filter("pool", attrgetter("site"), aliases=("batch",)),))


@pytest.fixture
def pool_column():
    registry.register(POOL, after="xform")
    try:
        yield POOL
    finally:
        registry.unregister("pool")


def test_one_entry_makes_a_column_sortable_and_filterable(pool_column, timeline):  # noqa: F811
    store = store_at(timeline, len(timeline) // 2)
    now = store.latest_ts
    jobs = sorted(store.jobs(), key=attrgetter("order"))
    assert "pool" in joborder.SORTABLE and "pool" in query.FIELDS
    assert column_keys("pool", jobs, now) == [j.site or "" for j in jobs]
    order = JobOrder("pool")
    order.build(store.jobs(), now)
    assert order.full == sorted(jobs, key=lambda j: (j.site or "", j.order))
    pools = {j.site for j in jobs}
    assert None in pools and "condorpool" in pools
    for text in ("pool=CONDORPOOL", "batch=condorpool", "pool~^condor"):
        order.select(parse(text))
        assert order.rows == [j for j in order.full if j.site == "condorpool"], text
    order.select(parse("pool=-"))
    assert order.rows == [j for j in order.full if not j.site] != []
    with pytest.raises(ValueError, match="registered already"):
        registry.register(POOL)
    with pytest.raises(ValueError, match="'batch' is taken"):
        registry.register(Column("other", "OTHER", 4, _pool_cell, filters=(Filter("batch", attrgetter("job_id")),)))


def test_one_entry_shows_the_column_in_the_list_and_the_chooser(pool_column):
    from textual.widgets import SelectionList

    from panorama_tui.ui.screens.columns import ColumnsScreen
    from panorama_tui.ui.widgets.joblist import JobList

    async def go():
        async with finished_demo((200, 50)) as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            keys = [c.key for c in jobs.columns]
            assert keys.index("pool") == keys.index("xform") + 1
            while jobs.sort_col != "pool":  # s cycles through it
                jobs.cycle_sort()
            assert "POOL▲" in jobs.header_text()  # the sorted column shows, whatever its priority
            assert [jobs._cell("pool", j, None)[0] for j in jobs.rows] == sorted(j.site or "" for j in jobs.rows)
            await pilot.press("c")
            await pilot.pause()
            assert isinstance(app.screen, ColumnsScreen)
            picker = app.screen.query_one(SelectionList)
            titles = [str(picker.get_option_at_index(i).prompt) for i in range(picker.option_count)]
            assert "POOL" in titles

    asyncio.run(go())


# -- Parsl states in filters ----------------------------------------------------------------------
def _parsl_store(shared_data, path="monitoring-run000-only.db"):
    from panorama_tui.pipeline.read import read_parsl_db as read_store

    return read_store(str(shared_data / "parsl" / path))


def test_a_parsl_tasks_own_states_filter(shared_data):
    """``state=exec_done``, ``state=dep_fail`` ... (any case) pick the tasks whose
    STATE column says so; the JobState labels keep their meaning."""
    from panorama_tui.model.states import JobState

    store = _parsl_store(shared_data)
    jobs = sorted(store.workflows[RUN1].jobs.values(), key=attrgetter("order"))
    shown = {j: j.state_label for j in jobs}

    def picked(text):
        q = parse(text)
        one = [j for j in jobs if q(j)]
        # the bulk masks give what the per-job tests give
        assert one == [j for j, *flags in zip(jobs, *(t.mask(jobs) for t in q.tests)) if all(flags)], text
        return {j.job_id for j in one}

    assert picked("state=dep_fail") == {"39", "40", "41"} == {j.job_id for j in jobs if shown[j] == "dep_fail"}
    assert picked("state=exec_done") == {j.job_id for j in jobs if shown[j] == "exec_done"}
    assert len(picked("state=exec_done")) >= 8
    assert picked("state=Exec_Done") == picked("state=exec_done")
    assert picked("state!=exec_done") == {j.job_id for j in jobs} - picked("state=exec_done")
    assert picked("state=dep_fail,exec_done") == picked("state=dep_fail") | picked("state=exec_done")
    assert picked("status=dep_fail xform~dep") <= picked("state=dep_fail")
    # labels as before: failed is failed and dep_fail (the screen's JobState), done is exec_done and memo_done
    assert picked("state=failed") == {j.job_id for j in jobs if j.state == JobState.FAILED} >= picked("state=dep_fail")
    assert picked("state=FAILED") == picked("state=failed")
    assert picked("state=failed,exec_done") == picked("state=failed") | picked("state=exec_done")
    with pytest.raises(QueryError, match="unknown state 'exec'.*exec_done"):
        parse("state=exec")


def test_parsl_state_filters_on_the_job_list(shared_data):
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.widgets.joblist import JobList

    store = _parsl_store(shared_data)

    async def go():
        app = PanoramaApp(store, source_label="parsl monitoring.db", live=False)
        async with app.run_test(size=(140, 42)) as pilot:
            await pilot.pause()
            jobs = app.query_one("#jobs", JobList)
            jobs.set_query(parse("state=dep_fail"))
            jobs._finish_scan()
            await pilot.pause()
            assert sorted(j.job_id for j in jobs.rows) == ["39", "40", "41"]
            assert {jobs._cell("status", j, None)[0] for j in jobs.rows} == {"dep_fail"}

    asyncio.run(go())


# -- a fail history's lines -----------------------------------------------------------------------
def test_a_multi_line_fail_history_keeps_its_lines(shared_data, tmp_path):
    """Older Parsl kept ``str(e)`` (a message over several lines): the detail
    and the Failures panel show its lines, not ``^J``; other control
    characters are still made visible."""
    from panorama_tui.model.handlers import parsl as pm
    from panorama_tui.stats.job_report import failure_report

    db = tmp_path / "monitoring.db"
    shutil.copy(shared_data / "parsl" / "monitoring-run000-only.db", db)
    history = "ValueError: first line\nsecond line\tafter a tab\r\nthird \x1b[2J line"
    with sqlite3.connect(db) as con:
        con.execute("UPDATE try SET task_fail_history = ? WHERE task_id = 36", (history,))
    from panorama_tui.pipeline.read import read_parsl_db as read_store

    store = read_store(str(db))
    job = store.workflows[RUN1].jobs["36"]
    lines = pm.tries_report(job)
    assert "    ValueError: first line" in lines and "    second line\tafter a tab" in lines
    assert "    third ^[[2J line" in lines
    assert not any("^J" in line or "\n" in line for line in lines)
    report = failure_report(job).splitlines()
    at = report.index("  exception : ValueError: first line")
    assert report[at + 1:at + 3] == [" " * 14 + "second line\tafter a tab", " " * 14 + "third ^[[2J line"]
