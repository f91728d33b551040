"""The job list's columns: what each shows, how wide, which way it sorts,
and the timeline chart (issue #11 items 7, 8, 9, 23, 24, 26, 29), on the
real demo recording."""

from __future__ import annotations

import asyncio

from panorama_tui.ui.widgets.joblist import JobList

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
                # the demo's traced jobs all use CPU and memory; one of them does I/O
                # (tests/test_joborder.py checks every column on a generated run too)
                assert sum(x > 0 for x in shown) >= (1 if col == "io" else 2), col
                assert shown == sorted(shown, reverse=True), (col, shown)

    run(go())


async def _seek(app, store, control, pilot, target: float) -> None:
    """Seek the paused replay and wait until the store holds every event up
    to ``target`` (the recording says how many), then refresh the screen."""
    import sqlite3
    import time

    from panorama_tui.cli.top import DEMO_RECORDING

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
    from panorama_tui.ui.panels.tree import WorkflowTree

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


def _three_runs(replay_dir):
    """The shared runs in one store: two runs of "process" (same label, same
    submit-dir tail run0001, ls_ID0000001 in both) and a hierarchical run."""
    from panorama_tui.pipeline.ingest import run_to_end
    from panorama_tui.sources.jsonlog import JsonLogSource
    from panorama_tui.model.store import Store

    store = Store()
    for run_name in ("process_wf_failure", "process_wf_success", "hierarchical_wf_success"):
        run_to_end(JsonLogSource(str(replay_dir / run_name / "events.json"), follow=False), store)
    return store


def test_unique_names():
    from types import SimpleNamespace as W

    from panorama_tui.model.workflows import unique_names

    def wf(uuid, label, submit):
        return W(wf_uuid=uuid, label=label, submit_dir=submit, name=label or uuid[:8])

    names = unique_names([wf("aaaaaaaa-1", "p", "/s/p/run0001"), wf("bbbbbbbb-2", "p", "/s/p/run0002/"),
                          wf("cccccccc-3", "q", "/s/q/run0001")])
    assert names == {"aaaaaaaa-1": "p run0001", "bbbbbbbb-2": "p run0002", "cccccccc-3": "q"}
    names = unique_names([wf("aaaaaaaa-1", "p", "/x/run0001"), wf("bbbbbbbb-2", "p", "/y/run0001")])
    assert names == {"aaaaaaaa-1": "p aaaaaaaa", "bbbbbbbb-2": "p bbbbbbbb"}


def test_several_workflows_are_told_apart(replay_dir):
    """Tree labels are unique, and the list shows a workflow column while its
    scope holds more than one workflow (a root with a sub-workflow counts)."""
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.panels.tree import WorkflowTree

    store = _three_runs(replay_dir)
    assert len(store.workflows) == 4 and len({w.label for w in store.workflows.values()}) == 3

    async def go():
        app = PanoramaApp(store, source_label="three runs")
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.pause()
            tree = app.query_one("#tree", WorkflowTree)
            jobs = app.query_one("#jobs", JobList)
            labels = {uuid: str(node.label) for uuid, node in tree._wf_nodes.items()}
            want = {"f84f05fc-a8d0-42b5-bac5-52d6f41a77e3": "process f84f05fc",
                    "f00c0056-abd4-4e8e-b793-24eb760dda1f": "process f00c0056",
                    "48f759a4-165f-47d6-8c32-571649ce311b": "hierarchical-workflow",
                    "160be601-bda4-45fb-86cd-9cf7a269bb22": "blackdiamond"}
            assert set(labels) == set(want)
            for uuid, name in want.items():
                assert labels[uuid].startswith(f"● {name} "), labels  # then its counts

            def shown_pairs():
                now = app.now()
                return [(jobs._cell("wf", j, now)[0], j.job_id) for j in jobs.rows]

            assert "wf" in [c.key for c, _ in jobs._layout] and "WORKFLOW" in jobs.header_text()
            pairs = shown_pairs()
            assert len(pairs) == store.job_count() and len(set(pairs)) == len(pairs)
            assert ("process f84f05fc", "ls_ID0000001") in pairs and ("process f00c0056", "ls_ID0000001") in pairs
            for uuid, with_column in (("f84f05fc-a8d0-42b5-bac5-52d6f41a77e3", False),
                                      ("48f759a4-165f-47d6-8c32-571649ce311b", True)):  # it has a sub-workflow
                tree.select_node(tree._wf_nodes[uuid])
                await pilot.pause()
                assert jobs.scope_wf is store.workflows[uuid]
                assert ("wf" in [c.key for c, _ in jobs._layout]) is with_column, uuid
                assert ("WORKFLOW" in jobs.header_text()) is with_column

    run(go())


def _cells_cut(jobs, now):
    """(column, text) of the visible cells wider than their column."""
    top = jobs.scroll_offset.y
    return [(col.key, text) for j in jobs.rows[top:top + jobs.size.height] for col, w in jobs._layout
            if len(text := jobs._cell(col.key, j, now)[0]) > w]


def _status_fields(app):
    return text_of(app.query_one("#status")).strip().split(" │ ")


def test_widths_come_from_content_and_nothing_is_cut_mid_field():
    """At 200 columns nothing in the list is cut; at 120 and 80 the job id
    gets its share first, titles stay whole, the header's "% of N" and the
    status line's fields are whole or not there."""
    import re

    from panorama_tui.ui.panels.tree import WorkflowTree

    seen = {}

    async def go(size):
        async with finished_demo(size) as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            now = app.now()
            widths = {c.key: w for c, w in jobs._layout}
            longest_id = max(len(j.job_id) for j in store.jobs())
            assert widths["id"] >= min(24, longest_id), widths
            header = jobs.header_text()
            assert len(header) <= jobs.scrollable_content_region.width
            for col, _ in jobs._layout:
                assert col.title in header or (col.short and col.short in header), (size, col.key, header)
            counts = text_of(app.query_one("#header")).splitlines()[1].strip()
            assert re.search(r"\d+(\.\d+)?% of 33$", counts), counts
            for field in re.split(r"\s{2,}", counts):
                assert re.fullmatch(r". \d+ \w+( \([^)]*\))?|[█▏▎▍▌▋▊▉ ]*\d+(\.\d+)?% of 33|[█▏▎▍▌▋▊▉]+", field), (size, field)
            seen[size] = (_status_fields(app), widths, _cells_cut(jobs, now))
            tree = app.query_one("#tree", WorkflowTree)
            assert tree.size.width <= max(16, size[0] // 5) + 1  # its border
            if size[0] == 80:
                await pilot.press("t")  # hide the tree: the list takes its width
                await pilot.pause()
                assert not tree.display
                assert jobs.scrollable_content_region.width > seen[size][1]["id"] + 20
                more = {c.key: w for c, w in jobs._layout}
                assert more["id"] >= widths["id"] and len(more) > len(widths), (widths, more)
                await pilot.press("t")
                await pilot.pause()
                assert tree.display

    for size in ((200, 60), (120, 40), (80, 24)):
        run(go(size))
    fields, widths, cut = seen[(200, 60)]
    assert cut == [] and {"xform", "host", "wf", "exit", "dur"} <= set(widths)
    for size in ((120, 40), (80, 24)):
        shown = seen[size][0]
        assert shown == fields[:len(shown)], (size, shown, fields)  # whole fields, dropped from the right


def test_the_detail_panel_never_cuts_a_label():
    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            await pilot.pause(0.3)
            view = app.query_one("#detail-view")
            detail = "\n".join(strip.text for strip in view.render_lines(view.region.reset_offset))
            assert "transformation" in detail and "transformat…" not in detail, detail

    run(go())


def test_the_column_chooser_hides_and_shows_columns():
    from textual.widgets import SelectionList

    from panorama_tui.ui.screens.columns import ColumnsScreen

    async def go():
        async with finished_demo((140, 40)) as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            assert "SITE/HOST" in jobs.header_text()
            await pilot.press("c")
            await pilot.pause()
            assert isinstance(app.screen, ColumnsScreen)
            picker = app.screen.query_one(SelectionList)
            keys = [picker.get_option_at_index(i).value for i in range(picker.option_count)]
            for _ in keys:  # j moves down (k up), as in the list
                if picker.highlighted == keys.index("host"):
                    break
                await pilot.press("j")
            await pilot.press("space", "escape")
            await pilot.pause()
            assert not isinstance(app.screen, ColumnsScreen)
            assert "host" in jobs.hidden and "SITE/HOST" not in jobs.header_text()
            assert "host" not in [c.key for c, _ in jobs._layout]
            await pilot.press("c")
            await pilot.pause()
            picker = app.screen.query_one(SelectionList)
            picker.highlighted = keys.index("host")
            await pilot.press("space", "c")
            await pilot.pause()
            assert not jobs.hidden and "SITE/HOST" in jobs.header_text()

    run(go())


# The fonts the README's screenshots are drawn with: Fira Code, and the
# monospace fallback fontconfig gives rsvg-convert for what it lacks.
SCREENSHOT_FONTS = ("/usr/share/fonts/truetype/firacode/FiraCode-Regular.ttf",
                    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")


def test_every_state_glyph_is_in_the_screenshot_fonts():
    """⏸ (held) was drawn as a box: no installed font has it."""
    import os

    import pytest

    from panorama_tui.model.states import JobState

    ttlib = pytest.importorskip("fontTools.ttLib")
    if not all(os.path.exists(f) for f in SCREENSHOT_FONTS):
        pytest.skip("fonts-firacode / fonts-dejavu-core not installed (.ci/run installs them)")
    covered = set()
    for path in SCREENSHOT_FONTS:
        covered |= set(ttlib.TTFont(path).getBestCmap())
    missing = [(s.label, s.glyph) for s in JobState if ord(s.glyph) not in covered]
    assert not missing, missing
