"""Pilot tests: what a user's keys do on the real demo recording."""

from __future__ import annotations

import asyncio
import time

from panorama_tui.model.states import JobState
from panorama_tui.ui.app import HelpScreen, PanoramaApp
from panorama_tui.ui.screens.job import JobScreen
from panorama_tui.ui.screens.seek import parse_seek
from panorama_tui.ui.widgets.joblist import JobList

from .ui_helpers import demo_app, finished_demo, fixed_timezone

fixed_timezone()


def run(coro):
    return asyncio.run(coro)


def text_of(widget) -> str:
    """What a Static shows, as plain text."""
    import io

    from rich.console import Console

    console = Console(width=200, file=io.StringIO(), color_system=None)
    with console.capture() as cap:
        console.print(widget.content)
    return cap.get()


def test_problems_first_and_navigation():
    async def go():
        async with finished_demo((140, 42)) as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            assert len(jobs.rows) == store.job_count() == 33
            # Problems first: the failed job heads the list, done jobs close it.
            assert jobs.rows[0].state == JobState.FAILED
            assert jobs.rows[0].job_id == "ls_ID0000001"
            assert jobs.rows[-1].state == JobState.DONE
            await pilot.press("j", "j")
            assert jobs.cursor == 2
            await pilot.press("G")
            assert jobs.cursor == len(jobs.rows) - 1
            await pilot.press("g")
            assert jobs.cursor == 0
            await pilot.press("down", "k")
            assert jobs.cursor == 0

    run(go())


def test_filter_terms_regex_and_escape():
    async def go():
        async with finished_demo((140, 42)) as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            await pilot.press("slash", *"state=done host~workflow", "enter")
            assert jobs.rows and all(j.state == JobState.DONE for j in jobs.rows)
            want = [j for j in store.jobs() if j.state == JobState.DONE and "workflow" in (j.host or "")]
            assert len(jobs.rows) == len(want) > 0
            await pilot.press("escape")
            assert len(jobs.rows) == 33
            await pilot.press("slash", *"^stage_in", "enter")
            assert jobs.rows and all(j.job_id.startswith("stage_in") for j in jobs.rows)
            await pilot.press("escape")
            # A bad term is reported, not applied (a valid prefix may be, as typed),
            # and esc goes back to the filter kept: none.
            await pilot.press("slash", *"colour=red", "enter")
            assert jobs.query is None or jobs.query.text != "colour=red"
            await pilot.press("escape")
            assert jobs.query is None
            await pilot.press("exclamation_mark")
            assert [j.job_id for j in jobs.rows] == ["ls_ID0000001"]

    run(go())


def test_sort_cycle_and_reverse():
    async def go():
        async with finished_demo((140, 42)) as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            await pilot.press("s")  # state -> id
            assert jobs.sort_col == "id"
            ids = [j.job_id for j in jobs.rows]
            assert ids == sorted(ids)
            await pilot.press("r")
            assert [j.job_id for j in jobs.rows] == sorted(ids, reverse=True)
            assert "JOB▼" in jobs.header_text()

    run(go())


def test_enter_opens_job_screen_and_escape_returns():
    async def go():
        async with finished_demo((140, 42)) as (app, store, pilot):
            await pilot.press("enter")
            assert isinstance(app.screen, JobScreen)
            assert app.screen.job.job_id == "ls_ID0000001"
            # The list's keys are off while the job screen is up.
            await pilot.press("slash")
            assert isinstance(app.screen, JobScreen)
            await pilot.press("escape")
            assert not isinstance(app.screen, JobScreen)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)

    run(go())


def test_failures_panel_shows_reason():
    async def go():
        async with finished_demo((140, 42)) as (app, store, pilot):
            await pilot.press("2")
            await pilot.pause()
            fail = app.query_one("#fail-list", JobList)
            assert [j.job_id for j in fail.rows] == ["ls_ID0000001"]
            text = text_of(app.query_one("#fail-view"))
            assert "invalid option -- 'z'" in text
            assert "POST_SCRIPT_FAILED" in text

    run(go())


def test_pause_freezes_view_but_collection_goes_on():
    async def go():
        app, store, control, ingest = demo_app(speed=0.0, paused=True)
        async with app.run_test(size=(140, 42)) as pilot:
            await pilot.pause()
            await pilot.press("p")
            assert app.view_paused
            assert app.query_one("#banner").has_class("visible")
            shown = len(app.query_one("#jobs", JobList).rows)
            control.toggle_pause()  # the replay runs while the view is paused
            await wait_for(lambda: control.finished)
            await asyncio.sleep(app.tick_seconds * 2)
            await pilot.pause()
            from panorama_tui.cli.top import DEMO_RECORDING
            from panorama_tui.core.recorder import read_records

            recorded = len(read_records(DEMO_RECORDING))
            assert store.event_count == recorded  # collected
            assert len(app.query_one("#jobs", JobList).rows) == shown  # not shown
            await pilot.press("p")
            await pilot.pause()
            assert len(app.query_one("#jobs", JobList).rows) == 33
        ingest.stop()

    run(go())


async def wait_for(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.02)


def test_replay_keys_step_speed_and_seek():
    async def go():
        app, store, control, ingest = demo_app(speed=1.0, paused=True)
        async with app.run_test(size=(140, 42)) as pilot:
            await wait_for(lambda: control.start is not None)
            before = store.event_count
            await pilot.press("full_stop")
            await wait_for(lambda: store.event_count > before)
            await pilot.press("plus")
            assert control.speed == 2.0
            await pilot.press("minus", "minus")
            assert control.speed == 0.5
            # Seek 60 s forward from the start, then back: the store is rebuilt.
            await pilot.press("right_curly_bracket")
            await wait_for(lambda: control.position >= control.start + 59)
            n_forward = store.event_count
            await pilot.press("left_curly_bracket")
            await wait_for(lambda: control.position < control.start + 30 and store.event_count < n_forward)
            await pilot.press("space")
            assert not control.paused
        ingest.stop()

    run(go())


def test_too_small_terminal_says_so():
    async def go():
        app, store, control, ingest = demo_app()
        async with app.run_test(size=(70, 20)) as pilot:
            await pilot.pause()
            assert app.screen.has_class("small")
            assert "too small" in text_of(app.query_one("#toosmall"))
        ingest.stop()

    run(go())


def test_parse_seek():
    start = time.mktime((2023, 3, 3, 23, 0, 0, 0, 0, -1))
    assert parse_seek("+30s", 100.0, start) == 130.0
    assert parse_seek("-5m", 1000.0, start) == 700.0
    assert parse_seek("23:10", start, start) == start + 600
    assert parse_seek("00:30", start, start) == start + 5400  # past midnight
    assert parse_seek("nonsense", 1.0, start) is None


def test_live_app_without_replay_ignores_replay_keys():
    from panorama_tui.model.store import Store

    async def go():
        app = PanoramaApp(Store(), source_label="empty", live=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("space", "plus", "full_stop")
            await pilot.pause()
            assert app.query_one("#jobs", JobList).rows == []

    run(go())


def test_panels_show_panorama_sample_events(shared_data):
    """Transfers, Darshan and /proc figures reach the screen (shared/data/panorama samples)."""
    import json

    from panorama_tui.core.events import decode
    from panorama_tui.model.store import Store

    store = Store()
    for name in ("kickstart.inv.online.json", "transfer.inv.go.json", "darshan.perf.as-stored.json"):
        with open(shared_data / "panorama" / name) as f:
            store.apply(decode(json.load(f)))

    async def go():
        app = PanoramaApp(store, source_label="samples")
        async with app.run_test(size=(140, 42)) as pilot:
            await pilot.pause()
            jobs = app.query_one("#jobs", JobList)
            ids = {j.job_id for j in jobs.rows}
            assert {"individuals_ID0000001", "stage_in_local_local_2_2", "namd_ID0000002"} <= ids
            kick = store.find_job("0a114f53-f208-44da-9b5c-9c30edcf49c6", "individuals_ID0000001")
            assert jobs.select_job(kick)
            await pilot.pause(0.3)  # the detail panel redraws once the cursor rests
            detail = text_of(app.query_one("#detail-view"))
            assert "peak rss" in detail and "24M" in detail and "71M" in detail  # 25004 kB RSS, 74547200 B written
            namd = store.find_job("e8c30de5-6bb2-4b38-a000-2b719e688e38", "namd_ID0000002")
            assert jobs.select_job(namd)
            await pilot.pause(0.3)
            detail = text_of(app.query_one("#detail-view"))
            assert "darshan" in detail and "POSIX" in detail and "18.470956" in detail
            await pilot.press("3")
            await pilot.pause()
            text = text_of(app.query_one("#transfers-view"))
            assert "SUCCEEDED" in text and "2/2" in text

    run(go())


def test_no_color_renders(monkeypatch):
    """NO_COLOR puts Textual's monochrome filter on every line; it must not crash."""
    monkeypatch.setenv("NO_COLOR", "1")

    async def go():
        async with finished_demo((100, 30)) as (app, store, pilot):
            await pilot.press("j", "2", "1")
            await pilot.pause()
            assert app.no_color
            assert app.query_one("#jobs", JobList).rows

    run(go())


def test_demo_shows_collector_output():
    """The demo carries real panorama-monitor, panorama-darshan and panorama-globus output."""

    async def go():
        async with finished_demo((140, 42)) as (app, store, pilot):
            rc = store.find_job("48f759a4-165f-47d6-8c32-571649ce311b", "register_local_0_0")
            assert rc.series is not None and len(rc.series.rates()) >= 3
            assert rc.summary is not None
            analyze = store.find_job("160be601-bda4-45fb-86cd-9cf7a269bb22", "analyze_ID0000004")
            assert analyze.darshan
            assert len(store.transfers) >= 2
            jobs = app.query_one("#jobs", JobList)
            assert jobs.select_job(rc)
            await pilot.pause(0.3)
            assert "peak rss" in text_of(app.query_one("#detail-view"))
            await pilot.press("3")
            await pilot.pause()
            assert "SUCCEEDED" in text_of(app.query_one("#transfers-view"))

    run(go())


def test_status_line_shows_the_link():
    """A source's link state, rate, lag and reconnects reach the status line (AMQP's contract)."""
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.sources.base import Source
    from panorama_tui.model.store import Store

    class Link(Source):
        label = "amqp://guest:****@127.0.0.1:5672/panorama/monitoring"
        live = True

        def batches(self):
            return iter(())

    src = Link()
    src.status.state = "reconnecting"
    src.status.message = "connection refused"
    src.status.detail = {"rate": 16.0, "lag": {"last": 2.0, "p50": 1.5}, "reconnects": 2}
    store = Store()
    store.note_bad("not JSON: Expecting value")

    async def go():
        app = PanoramaApp(store, ingest=Ingest(src, store), live=True, monotonic=lambda: 0.0)
        async with app.run_test(size=(260, 30)) as pilot:  # room for every field: a narrower line drops some whole
            await pilot.pause()
            text = text_of(app.query_one("#status"))
            for want in ("reconnecting", "connection refused", "16 msg/s", "lag 1.5s", "2 reconnects", "1 unparsable"):
                assert want in text, (want, text)
            assert "guest:guest" not in text

    run(go())


def test_timeline_panel():
    async def go():
        async with finished_demo((140, 50)) as (app, store, pilot):
            await pilot.press("5")
            await pilot.pause()
            text = text_of(app.query_one("#timeline-view"))
            assert "running" in text and "Gantt" in text and "ls_ID0000001" in text

    run(go())


def test_statistics_panel_matches_pegasus_statistics(shared_data):
    """The live statistics tab shows pegasus-statistics' figures for the failed run."""

    async def go():
        async with finished_demo((140, 50)) as (app, store, pilot):
            await pilot.press("6")
            await pilot.pause()
            text = text_of(app.query_one("#statistics-view"))
            expected = (shared_data / "pegasus/monitord-replay/process_wf_failure/statistics-text/summary.txt").read_text()
            assert "Workflow wall time                                       : 1 min, 36 secs" in expected
            assert "1m36s" in text and "Tasks" in text and "per transformation" in text
            assert "integrity" in text and "compute" in text  # integrity.csv: compute,output,2,0.000

    run(go())


def test_workflows_screen_lists_and_opens(tmp_path, shared_data):
    """A master DB opens on its workflows list; enter opens one from its Stampede DB."""
    from panorama_tui.model.store import Store
    from panorama_tui.ui.screens.workflow_list import WorkflowsScreen

    from .test_submitdir import _master_db

    fail_db = shared_data / "pegasus/monitord-replay/process_wf_failure/process-0.stampede.db"
    master = tmp_path / "workflow.db"
    _master_db(master, [
        ("f84f05fc-a8d0-42b5-bac5-52d6f41a77e3", "process",
         [("WORKFLOW_STARTED", 1677913788, 0, None), ("WORKFLOW_TERMINATED", 1677913884, 0, 1)],
         f"sqlite:///{fail_db}"),
        ("gone", "elsewhere", [("WORKFLOW_STARTED", 1677800000, 0, None)], None),
    ])

    async def go():
        app = PanoramaApp(Store(), master_db=str(master), live=True)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, WorkflowsScreen)
            assert [w["label"] for w in app.screen.workflows] == ["process", "elsewhere"]
            await pilot.press("down", "enter")  # no submit dir, no DB: says so, stays
            await pilot.pause()
            assert isinstance(app.screen, WorkflowsScreen)
            await pilot.press("up", "enter")
            await pilot.pause()
            assert not isinstance(app.screen, WorkflowsScreen)
            await wait_for(lambda: app.store.job_count() == 5)
            app.refresh_all(full=True)
            await pilot.pause()
            jobs = app.query_one("#jobs", JobList)
            assert jobs.rows[0].job_id == "ls_ID0000001" and jobs.rows[0].state == JobState.FAILED
            await pilot.press("w")
            assert isinstance(app.screen, WorkflowsScreen)
            await pilot.press("escape")
            assert not isinstance(app.screen, WorkflowsScreen)
        app.ingest.stop()

    run(go())


def test_tree_state_groups_follow_the_store(replay_dir):
    """The per-state groups under a workflow keep their counts as the run goes
    on (they were filled once, then went stale), and an open group's jobs too."""
    from panorama_tui.core.events import decode_line
    from panorama_tui.model.store import Store
    from panorama_tui.ui.panels.tree import WorkflowTree

    lines = [ln for ln in (replay_dir / "process_wf_failure" / "events.json").read_bytes().splitlines() if ln.strip()]
    store = Store()
    half = len(lines) // 2
    store.apply_many(decode_line(ln) for ln in lines[:half])

    def groups(tree):
        wf_node = next(iter(tree._wf_nodes.values()))
        return {c.data[2]: (c.data[3], sorted(str(leaf.label) for leaf in c.children))
                for c in wf_node.children if c.data and c.data[0] == "group"}

    async def go():
        app = PanoramaApp(store, source_label="test", live=False)
        async with app.run_test(size=(140, 42)) as pilot:
            await pilot.pause()
            tree = app.query_one("#tree", WorkflowTree)
            wf = next(iter(store.workflows.values()))
            before = groups(tree)
            assert {s: n for s, (n, _) in before.items()} == {s: wf.counts[s] for s in JobState if wf.counts[s]}
            # open the group of done jobs: its leaves are listed
            done = next(c for c in next(iter(tree._wf_nodes.values())).children
                        if c.data and c.data[0] == "group" and c.data[2] == JobState.DONE)
            done.expand()
            await pilot.pause()
            with store.lock:
                store.apply_many(decode_line(ln) for ln in lines[half:])
            app.refresh_all()
            await pilot.pause()
            after = groups(tree)
            assert {s: n for s, (n, _) in after.items()} == {s: wf.counts[s] for s in JobState if wf.counts[s]}
            assert after != before
            assert after[JobState.DONE][1] == sorted(j.job_id for j in wf.jobs.values() if j.state == JobState.DONE)

    run(go())


def test_the_key_bar_is_not_rebuilt_when_its_keys_stay_the_same():
    """Textual's Footer recomposes (a whole-screen layout) on every focus change;
    the key bar only when the keys it shows change."""
    from panorama_tui.ui.widgets.keybar import KeyBar

    async def go():
        async with finished_demo((140, 42)) as (app, store, pilot):
            bar = app.screen.query_one(KeyBar)
            before = list(bar.children)
            assert any("Details" in str(k.description) for k in before)
            await pilot.press("slash", *"state=done", "enter")
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
            assert list(bar.children) == before

    run(go())


def test_filters_change_the_row_count_without_a_layout():
    """A filter repaints the list and moves the scrollbar's thumb, with no
    whole-screen layout: the bar is always there, so even a filter that
    leaves fewer rows than the screen moves no column."""

    async def go():
        async with finished_demo((140, 42)) as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            height = jobs.scrollable_content_region.height
            assert len(jobs.rows) > height + 5 and jobs.show_vertical_scrollbar
            layouts = []
            refresh = jobs.refresh

            def counted(*a, layout=False, **kw):
                layouts.append(layout)
                return refresh(*a, layout=layout, **kw)

            jobs.refresh = counted
            await pilot.press("slash", *"state!=failed", "enter")
            await pilot.pause()
            n = len(jobs.rows)
            assert n == sum(1 for j in store.jobs() if j.state != JobState.FAILED) > height
            assert jobs.virtual_size.height == n and jobs.max_scroll_y == n - height
            assert jobs.vertical_scrollbar.window_virtual_size == n
            await pilot.press("G")
            await pilot.pause()
            assert jobs.cursor == n - 1 and jobs.scroll_offset.y == n - height
            await pilot.press("escape")  # back to all 33: the bar stays
            await pilot.pause()
            assert len(jobs.rows) == 33 and jobs.vertical_scrollbar.window_virtual_size == 33
            assert jobs.scroll_offset.y <= jobs.max_scroll_y == 33 - height
            assert layouts and not any(layouts)
            await pilot.press("slash", *"state=failed", "enter")  # 1 row: the bar stays
            await pilot.pause()
            assert len(jobs.rows) == 1 and jobs.show_vertical_scrollbar
            assert jobs.vertical_scrollbar.window_virtual_size == 1 and jobs.max_scroll_y == 0
            assert not any(layouts)

    run(go())


def test_the_filter_box_scrolls_to_its_cursor_and_keeps_the_filter_in_force():
    from panorama_tui.ui.widgets.filterbox import FilterBox

    async def go():
        async with finished_demo((100, 30)) as (app, store, pilot):
            box = app.query_one("#filter", FilterBox)
            jobs = app.query_one("#jobs", JobList)
            assert not box.can_focus  # not a tab stop
            long = "state!=failed " + "x|" * 30 + "stage"
            await pilot.press("slash", *long)
            await pilot.pause()
            assert box.has_focus and box.value == long
            assert box.scroll_offset.x > 0 and box.scroll_offset.x <= box.max_scroll_x
            await pilot.press("enter")
            await pilot.pause()
            assert jobs.has_focus and box.value == long == jobs.query.text
            assert jobs.rows and all("stage" in j.job_id for j in jobs.rows)
            await pilot.press("slash", *"abc", "escape")  # esc: the edit is dropped
            await pilot.pause()
            assert box.value == long and jobs.query.text == long
            await pilot.press("escape")  # esc on the list: the filter is cleared
            await pilot.pause()
            assert box.value == "" and jobs.query is None and len(jobs.rows) == 33

    run(go())


def test_the_collector_waits_for_the_frame_that_shows_a_key():
    """A collection inside a key's handling would walk the 100k-row lists a
    sort has just made: it is held off until that frame is drawn."""
    import gc

    from panorama_tui.core import gcpolicy

    async def go():
        async with finished_demo() as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            seen = []
            sort_by = jobs.sort_by

            def sorting(col):
                seen.append(gc.isenabled())
                return sort_by(col)

            jobs.sort_by = sorting
            assert gc.isenabled()
            await pilot.press("s")
            await pilot.pause()
            assert seen == [False]
            assert gc.isenabled()
            gcpolicy.hold()  # a release that never comes (its frame never drew) ...
            assert not gc.isenabled()
            gcpolicy.release_overdue(0.0)  # ... is let go by the refresh timer
            assert gc.isenabled()

    run(go())


def test_a_filter_shows_its_first_rows_at_once_and_the_rest_between_frames(monkeypatch):
    """With no time to spend per step, a filter goes a chunk of jobs at a
    time: the list starts at the top of the rows found so far (the bottom of
    the scope when the order is descending), the status line says how far it
    got, and the rows end as the whole filter gives them."""
    from panorama_tui.views import joborder
    from panorama_tui.views.query import parse
    from panorama_tui.ui import app as app_module
    from panorama_tui.ui.widgets import joblist

    monkeypatch.setattr(app_module, "FILTER_DELAY", 30.0)  # applied on enter, not as typed
    monkeypatch.setattr(joborder, "CHUNK", 3)
    monkeypatch.setattr(joblist, "SCAN_FIRST", 0.0)
    monkeypatch.setattr(joblist, "SCAN_STEP", 0.0)

    async def go():
        async with finished_demo() as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            status = app.query_one("#status")
            seen = []
            refresh_status = app._refresh_status

            def recorded():
                refresh_status()
                seen.append((list(jobs.rows), jobs.filtering, "filtering" in text_of(status), jobs.cursor))

            app._refresh_status = recorded
            for keys in (["s"], ["r"]):  # by id ascending; then descending
                await pilot.press(*keys)
                await pilot.pause()
                test = parse("state!=waiting")
                want = [j for j in (jobs.order.full[::-1] if jobs.reverse else jobs.order.full) if test(j)]
                assert len(want) > 10
                await pilot.press("down", "down", "slash", *"state!=waiting")
                seen.clear()
                await pilot.press("enter")
                await pilot.pause()
                partial = [(rows, f, shown, cur) for rows, f, shown, cur in seen if f is not None]
                assert len(partial) >= 3
                for rows, _f, shown, cur in partial:
                    assert rows == want[:len(rows)] and shown and cur == 0
                assert [len(p[0]) for p in partial] == sorted(len(p[0]) for p in partial)
                assert jobs.rows == want and jobs.filtering is None
                assert seen[-1][1:3] == (None, False)  # the status line no longer says filtering
                await pilot.press("escape")
                await pilot.pause()

    run(go())


def test_a_list_watched_from_the_top_stays_there_and_a_moved_cursor_follows_its_job():
    async def go():
        async with finished_demo() as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            assert jobs.cursor == 0
            await pilot.press("s")  # by id
            await pilot.pause()
            assert jobs.cursor == 0 and jobs.current is jobs.rows[0] is min(jobs.rows, key=lambda j: j.job_id)
            await pilot.press("down", "down")
            job = jobs.current
            await pilot.press("s")  # by transformation: the cursor goes where its job went
            await pilot.pause()
            assert jobs.current is job and jobs.cursor == jobs.rows.index(job) != 2

    run(go())


def test_a_tick_repaints_only_what_changed():
    async def go():
        async with finished_demo() as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            app.refresh_all()  # the clock's move since the replay ended, if any
            painted, updated = [], []
            refresh = jobs.refresh
            jobs.refresh = lambda *a, **kw: painted.append(a) or refresh(*a, **kw)
            for wid in ("#header", "#status"):
                w = app.query_one(wid)
                w.update = lambda *a, w=w, up=w.update, **kw: updated.append(w.id) or up(*a, **kw)
            app.refresh_all()
            assert painted == [] and updated == []  # nothing new: nothing painted
            with store.lock:
                store.changed.add(jobs.rows[3])
            app.refresh_all()
            assert len(painted) == 1 and painted[0][0].y == 3 and painted[0][0].height == 1

    run(go())


def test_the_job_list_prepares_every_columns_keys_while_idle(monkeypatch):
    from panorama_tui.views import joborder

    monkeypatch.setattr(joborder, "WARM_MIN", 0)
    monkeypatch.setattr(joborder, "CHUNK", 4)

    async def go():
        async with finished_demo() as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            jobs.rebuild()  # as when the scope changes: only the shown column's keys are made
            assert jobs.order.cold and jobs._warm_timer is not None
            for _ in range(100):
                if not jobs.order.cold:
                    break
                await pilot.pause(0.05)
            assert not jobs.order.cold
            await pilot.pause(0.2)
            assert jobs._warm_timer is None  # stopped once done
            await pilot.press("s", "s", "s")  # sorts from the prepared keys
            await pilot.pause()
            assert jobs.sort_col == "host" and not jobs.order.cold

    run(go())


def test_the_sort_arrow_shows_on_a_narrow_column():
    async def go():
        async with finished_demo() as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            jobs.sort_by("tries")  # TRY is 3 wide; most tries first
            assert "TR▼" in jobs.header_text()
            jobs.toggle_reverse()
            assert "TR▲" in jobs.header_text()

    run(go())


def test_the_detail_panel_changes_job_only_once_the_cursor_rests():
    """A refresh tick between two keys does not draw the next job's detail
    (a chart and often a layout inside a key's frame): the rest timer does."""
    async def go():
        async with finished_demo() as (app, store, pilot):
            await pilot.pause(0.3)
            jobs = app.query_one("#jobs", JobList)
            first = jobs.current
            assert app.panels["detail"].job is first
            await pilot.press("down")
            app.refresh_all()  # a tick before the cursor rests
            assert jobs.current is not first and app.panels["detail"].job is first
            await pilot.pause(0.4)
            assert app.panels["detail"].job is jobs.current

    run(go())
