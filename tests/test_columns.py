"""The job list's columns: what each shows, how wide, which way it sorts,
and the timeline chart (issue #11 items 7, 8, 9, 23, 24, 26, 29), on the
real demo recording."""

from __future__ import annotations

import asyncio

from panorama_tui.ui.joblist import JobList

from .test_ui import text_of
from .ui_helpers import finished_demo, fixed_timezone

fixed_timezone()


def run(coro):
    return asyncio.run(coro)


def test_the_sort_arrow_points_up_for_ascending_in_the_header_and_the_status_line():
    async def go():
        async with finished_demo() as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            status = app.query_one("#status")
            assert "STATE▲" in jobs.header_text() and "by state▲" in text_of(status)  # problems first: ascending
            await pilot.press("s")  # by id, ascending
            await pilot.pause()
            assert "JOB▲" in jobs.header_text() and "by id▲" in text_of(status)
            await pilot.press("r")
            await pilot.pause()
            assert "JOB▼" in jobs.header_text() and "by id▼" in text_of(status)
            jobs.sort_by("dur")  # longest first: descending
            app._refresh_status()
            assert "TIME▼" in jobs.header_text() and "by dur▼" in text_of(status)

    run(go())


def _number(text: str) -> float:
    """A CPU %, RSS or I/O cell back to a number ("" -> -1)."""
    text = text.strip().removesuffix("/s")
    if not text:
        return -1.0
    scale = {"B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    return float(text[:-1]) * scale[text[-1]] if text[-1] in scale else float(text)


def test_the_cpu_rss_and_io_columns_sort_by_the_numbers_they_show():
    """A finished job shows what it did over its trace (its last sample is
    taken as it exits): the sort follows the shown figure, not that sample."""
    async def go():
        async with finished_demo() as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            now = app.now()
            for col in ("cpu", "rss", "io"):
                jobs.sort_by(col)  # biggest first
                await pilot.pause()
                shown = [_number(jobs._cell(col, j, now)[0]) for j in jobs.rows]
                assert sum(x > 0 for x in shown) >= 2, col
                assert shown == sorted(shown, reverse=True), (col, shown)

    run(go())


async def _seek(app, store, control, pilot, target: float) -> None:
    """Seek the paused replay and wait until the store holds every event up
    to ``target`` (the recording says how many), then refresh the screen."""
    import sqlite3
    import time

    from panorama_tui.cli import DEMO_RECORDING

    with sqlite3.connect(DEMO_RECORDING) as db:
        want = db.execute("SELECT COUNT(*) FROM events WHERE recv_ts <= ?", (target,)).fetchone()[0]
    control.seek(target)
    deadline = time.monotonic() + 20
    while not (store.event_count == want and control.position == target):
        assert time.monotonic() < deadline, "the replay did not reach the target"
        await asyncio.sleep(0.02)
    app.refresh_all()
    await pilot.pause()


def test_seeking_back_leaves_only_the_workflows_started_by_then():
    """A backward seek replays from an empty store: the tree drops the
    workflows that had not started at that time and holds the store's new
    workflow objects, and a list scoped to a workflow follows it."""
    from panorama_tui.ui.panels import WorkflowTree

    from .ui_helpers import demo_app, wait_finished

    async def go():
        app, store, control, ingest = demo_app()
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await wait_finished(app, control, pilot)
                tree = app.query_one("#tree", WorkflowTree)
                jobs = app.query_one("#jobs", JobList)
                roots = [w.wf_uuid for w in store.roots]
                assert len(roots) == 2 and set(tree._wf_nodes) == set(store.workflows)
                first = min(store.roots, key=lambda w: w.start_ts)
                second = max(store.roots, key=lambda w: w.start_ts)
                assert first.start_ts + 3600 < second.start_ts
                tree.select_node(tree._wf_nodes[first.wf_uuid])  # scope the list to the first
                await pilot.pause()
                assert jobs.scope[0] is first
                control.toggle_pause()
                await _seek(app, store, control, pilot, first.start_ts + 60)
                assert set(store.workflows) == {first.wf_uuid}
                assert set(tree._wf_nodes) == {first.wf_uuid}
                shown = [n.data[1] for n in tree.root.children]
                assert shown == [store.workflows[first.wf_uuid]]  # the new object, not the old one
                now_first = store.workflows[first.wf_uuid]
                assert jobs.scope[0] is now_first and app.scope_wf is now_first
                assert jobs.rows and all(j.wf is now_first for j in jobs.rows)
                assert set(jobs.rows) == set(now_first.jobs.values())
                # To the end, then back twice: the second backward seek builds
                # the store again to the same structure; the list holds the new jobs.
                await pilot.press("escape")  # all workflows
                await _seek(app, store, control, pilot, control.end)
                for back in (0.001, 0.002):
                    await _seek(app, store, control, pilot, control.end - back)
                    assert len(store.workflows) == 3
                    assert len(jobs.rows) == store.job_count() and set(jobs.rows) == set(store.jobs())
                    assert set(tree._wf_nodes) == set(store.workflows)
        finally:
            ingest.stop()

    run(go())


def test_the_timeline_chart_fits_the_panel_at_80x24_and_120x40():
    for size in ((80, 24), (120, 40)):
        async def go(size=size):
            async with finished_demo(size) as (app, store, pilot):
                await pilot.press("5")
                await pilot.pause()
                app.refresh_all(full=True)
                await pilot.pause()
                view = app.query_one("#timeline-view")
                chart = view.content.renderables[0].plain.splitlines()
                shown = view.parent.size.height
                assert "running" in chart[0] and "done" in chart[0]
                assert len(chart) == min(12, shown), (size, len(chart), shown)
                assert all(len(line.rstrip()) <= view.size.width - 2 for line in chart)
                assert "Gantt" in text_of(view)

        run(go())
