"""Keys, focus, colour and help (#11 items 17-22, 25, 29), with Pilot on real runs."""

from __future__ import annotations

import asyncio

import pytest

from textual.geometry import Region

from panorama_tui.core.events import decode_line
from panorama_tui.model.states import JobState
from panorama_tui.model.store import Store
from panorama_tui.ui.app import PanoramaApp
from panorama_tui.ui.widgets.joblist import JobList

from .ui_helpers import finished_demo, fixed_timezone

fixed_timezone()


def run(coro):
    return asyncio.run(coro)


def failed_run_store(replay_dir) -> Store:
    """The shared failed run (``ls -z /`` fails twice), whole."""
    path = replay_dir / "process_wf_failure" / "events.json"
    store = Store()
    store.apply_many(decode_line(ln) for ln in path.read_bytes().splitlines() if ln.strip())
    return store


def segments(widget, y: int | None = None, blank: bool = False):
    """The styled segments a widget paints (all lines, or line ``y``; with
    ``blank``, the blank ones too)."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return [seg for strip in (lines if y is None else [lines[y]]) for seg in strip if blank or seg.text.strip()]


def segment_with(segs, text: str):
    found = [s for s in segs if text in s.text]
    assert found, (text, [s.text for s in segs])
    return found[0]


def is_red(color) -> bool:
    if color is None:
        return False
    if color.number in (1, 9):  # ANSI red, bright red
        return True
    r, g, b = color.get_truecolor()
    return r > 150 and g < 100 and b < 100


# -- item 18: red emphasis ---------------------------------------------------


def test_the_header_of_a_failed_run_shows_failed_in_bold_red(replay_dir):
    store = failed_run_store(replay_dir)

    async def go():
        app = PanoramaApp(store, source_label="process_wf_failure")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            segs = segments(app.query_one("#header"))
            for text in ("FAILED", "✗ 1 failed"):
                style = segment_with(segs, text).style
                assert style.bold and is_red(style.color), (text, style)

    run(go())


def test_a_link_that_is_down_shows_in_bold_red_on_the_status_line():
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.sources.base import Source

    class Link(Source):
        label = "amqp://guest:****@127.0.0.1:5672/panorama/monitoring"
        live = True

        def batches(self):
            return iter(())

    src = Link()
    src.status.state = "down"
    src.status.message = "connection refused"
    store = Store()
    store.note_bad("not JSON: Expecting value")

    async def go():
        app = PanoramaApp(store, ingest=Ingest(src, store), live=True, monotonic=lambda: 0.0)
        async with app.run_test(size=(200, 30)) as pilot:
            await pilot.pause()
            segs = segments(app.query_one("#status"))
            for text, bold in (("monitoring: down", True), ("1 unparsable", True), ("connection refused", False)):
                style = segment_with(segs, text).style
                assert is_red(style.color) and bool(style.bold) == bold, (text, style)

    run(go())


def test_every_theme_style_is_one_rich_renders():
    """Rich parses every style here (Text, Style.parse); an ANSI name Rich does
    not know would raise, one Textual's markup does not know is dropped."""
    from rich.style import Style

    from panorama_tui.ui import theme

    for no_color in (False, True):
        theme.use_palette(no_color)
        for table in (theme.STATE_MARKUP, theme.WF_STATE_MARKUP, theme.SIGNAL_MARKUP):
            for markup in table.values():
                Style.parse(markup)
    theme.use_palette(False)


# -- item 19: NO_COLOR -------------------------------------------------------


def test_with_no_color_failed_is_bold_reverse_and_dim_is_only_for_waiting(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")

    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            assert app.no_color
            jobs = app.query_one("#jobs", JobList)
            assert jobs.rows[0].state == JobState.FAILED
            await pilot.press("j")  # the cursor off the failed row
            await pilot.pause()
            failed_row = segments(jobs, 0)
            for text in ("✗", "failed"):
                style = segment_with(failed_row, text).style
                assert style.bold and style.reverse, (text, style)
            header = segments(app.query_one("#header"))
            for text in ("FAILED", "✗ 1 failed"):
                style = segment_with(header, text).style
                assert style.bold and style.reverse, (text, style)
            assert not any(is_red(s.style.color) for s in failed_row)  # no colour asked for
            for y, job in enumerate(jobs.rows[: jobs.size.height]):
                state_cell = segment_with(segments(jobs, y), job.state.glyph).style
                assert bool(state_cell.dim) == (job.state == JobState.WAITING), (job.job_id, state_cell)

    run(go())


def test_no_color_palette_keeps_failed_the_loudest():
    from panorama_tui.ui import theme

    theme.use_palette(True)
    try:
        styles = theme.STATE_STYLES
        assert styles[JobState.FAILED].bold and styles[JobState.FAILED].reverse
        assert all(not s.reverse for state, s in styles.items() if state != JobState.FAILED)
        assert [state for state, s in styles.items() if s.dim] == [JobState.WAITING]
        assert all(s.color is None and s.bgcolor is None for s in styles.values())
    finally:
        theme.use_palette(False)
    assert theme.STATE_STYLES[JobState.FAILED].color is not None


# -- item 17: panel keys -----------------------------------------------------


def test_panel_keys_work_after_the_failures_panel_took_the_focus():
    from textual.widgets import TabbedContent

    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            tabs = app.query_one("#panels", TabbedContent)
            fail_list = app.query_one("#fail-list", JobList)
            for key, name in (("2", "failures"), ("1", "detail"), ("2", "failures"), ("3", "transfers"),
                              ("4", "warnings"), ("2", "failures"), ("5", "timeline"), ("6", "statistics"),
                              ("1", "detail")):
                await pilot.press(key)
                await pilot.pause()
                assert tabs.active == name, (key, tabs.active, app.focused)
                assert fail_list.has_focus == (name == "failures")
            assert app.focused is app.query_one("#jobs", JobList)

    run(go())


# -- item 20: the too-small check --------------------------------------------


def test_the_too_small_screen_follows_each_resize():
    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            assert not app.screen.has_class("small")
            await pilot.resize_terminal(70, 20)
            await pilot.pause()
            assert app.screen.has_class("small")
            assert "70x20" in str(app.query_one("#toosmall").render())
            await pilot.resize_terminal(120, 40)
            await pilot.pause()
            assert not app.screen.has_class("small")
            await pilot.resize_terminal(80, 24)  # the minimum is not too small
            await pilot.pause()
            assert not app.screen.has_class("small")
            await pilot.resize_terminal(79, 24)
            await pilot.pause()
            assert app.screen.has_class("small")

    run(go())


# -- item 21: focus you can see, the tree's keys, esc and ctrl+c --------------


def test_the_focused_pane_is_highlighted_without_a_layout():
    """Tab goes round tree, job list and panels; the pane with the focus shows
    it (the tree's border, the list's title line, the panels' top border) by
    a colour change only: a layout costs tens of ms at 100k jobs."""

    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            tree = app.query_one("#tree")
            head = app.query_one("#jobhead")
            panels = app.query_one("#panels")
            looks = {}

            def look():
                return (tree.styles.border_right, head.styles.background, panels.styles.border_top)

            layouts = []
            # Not the tree: Textual's Tree lays itself out on any style update
            # (Tree.notify_style_update), its own :focus rules included.
            for w in (head, panels, app.query_one("#jobs")):
                w.refresh = lambda *a, up=w.refresh, layout=False, **kw: layouts.append(layout) or up(
                    *a, layout=layout, **kw)
            assert app.focused is app.query_one("#jobs")
            looks["jobs"] = look()
            await pilot.press("shift+tab")
            await pilot.pause()
            assert app.focused is tree
            looks["tree"] = look()
            await pilot.press("tab", "tab")
            await pilot.pause()
            assert panels in app.focused.ancestors
            looks["panels"] = look()
            assert len(set(looks.values())) == 3, looks
            tree_look, jobs_look, panels_look = looks["tree"], looks["jobs"], looks["panels"]
            assert tree_look[0] != jobs_look[0] == panels_look[0]  # the tree's border
            assert jobs_look[1] != tree_look[1] == panels_look[1]  # the list's title line
            assert panels_look[2] != tree_look[2] == jobs_look[2]  # the panels' top border
            assert not any(layouts)

    run(go())


def test_the_tree_shows_its_cursor_from_the_start_and_takes_j_and_k():
    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            tree = app.query_one("#tree")
            assert tree.cursor_line == 0 and tree.cursor_node is not None
            await pilot.press("shift+tab")
            assert app.focused is tree
            await pilot.press("j", "j")
            assert tree.cursor_line == 2
            await pilot.press("k")
            assert tree.cursor_line == 1

    run(go())


def test_esc_closes_the_keys_panel():
    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            app.action_show_help_panel()
            await pilot.pause()
            assert app.screen.query("HelpPanel")
            await pilot.press("escape")
            await pilot.pause()
            assert not app.screen.query("HelpPanel")

    run(go())


@pytest.mark.parametrize("where", ["list", "filter box", "help"])
def test_ctrl_c_quits(where):
    from textual.widgets import Input

    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            if where == "filter box":
                await pilot.press("slash", "a")
                assert isinstance(app.focused, Input)
            elif where == "help":
                await pilot.press("question_mark")
            await pilot.press("ctrl+c")
            await pilot.pause()
            assert app._exit and app.return_code == 0

    run(go())


# -- item 22: filter as you type ---------------------------------------------


def status_text(app) -> str:
    from .test_ui import text_of

    return text_of(app.query_one("#status"))


async def type_then_pause(pilot, monkeypatch, *keys: str) -> None:
    """Keys typed without a pause (whatever the machine's speed), then the pause
    that applies them: each key restarts the wait, the last one a short one."""
    from panorama_tui.ui import app as app_module

    monkeypatch.setattr(app_module, "FILTER_DELAY", 30.0)
    await pilot.press(*keys[:-1])
    monkeypatch.setattr(app_module, "FILTER_DELAY", 0.05)
    await pilot.press(keys[-1])
    await pilot.pause(0.3)


def test_the_filter_applies_as_you_type_once_the_keys_pause(monkeypatch):
    from panorama_tui.ui import app as app_module
    from panorama_tui.ui.widgets.filterbox import FilterBox

    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            box = app.query_one("#filter", FilterBox)
            applied = []
            set_query = jobs.set_query
            jobs.set_query = lambda q: applied.append(q.text if q else None) or set_query(q)
            monkeypatch.setattr(app_module, "FILTER_DELAY", 30.0)
            await pilot.press("slash", *"state=done ^stag")
            await pilot.pause()
            assert applied == [] and box.has_focus and app._filter_timer is not None  # not per key
            await type_then_pause(pilot, monkeypatch, "e")
            assert applied == ["state=done ^stage"]  # once, after the keys paused
            assert box.has_focus and jobs.rows
            assert all(j.state == JobState.DONE and j.job_id.startswith("stage") for j in jobs.rows)

    run(go())


def test_a_rejected_filter_leaves_the_one_in_force_and_says_why_quietly(monkeypatch):
    from panorama_tui.ui.widgets.filterbox import FilterBox

    async def go():
        async with finished_demo((140, 40)) as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            box = app.query_one("#filter", FilterBox)
            await type_then_pause(pilot, monkeypatch, "slash", *"state=done")
            n_done = len(jobs.rows)
            assert jobs.query.text == "state=done" and n_done
            await type_then_pause(pilot, monkeypatch, *" colour=red")
            assert jobs.query.text == "state=done" and len(jobs.rows) == n_done
            status = status_text(app)
            assert "unknown field 'colour'" in status and "(filter in force: state=done)" in status
            assert "colour=red" not in status
            assert not app._notifications  # not a toast per key
            await pilot.press("enter")  # rejected on enter too: the box stays open on it
            await pilot.pause()
            assert box.has_focus and box.value == "state=done colour=red"
            assert jobs.query.text == "state=done" and not app._notifications
            await type_then_pause(pilot, monkeypatch, *["backspace"] * len(" colour=red"))
            assert "colour" not in status_text(app)  # the error goes with the text
            await pilot.press("escape")
            await pilot.pause()
            assert jobs.query is None and box.value == "" and jobs.has_focus  # none was kept

    run(go())


def test_enter_keeps_a_filter_esc_restores_the_one_in_force_and_up_down_walk_the_history(monkeypatch):
    from panorama_tui.ui.widgets.filterbox import HISTORY, FilterBox

    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            box = app.query_one("#filter", FilterBox)
            await pilot.press("slash", *"state=failed", "enter")
            await pilot.press("slash", *"^stage", "enter")  # typing replaces the text shown
            await pilot.pause()
            assert jobs.query.text == "^stage" and jobs.has_focus
            # esc drops an edit that was already applied: the filter kept is back
            await type_then_pause(pilot, monkeypatch, "slash", "end", *"_in")
            assert jobs.query.text == "^stage_in"
            await pilot.press("escape")
            await pilot.pause()
            assert jobs.query.text == "^stage" and box.value == "^stage" and jobs.has_focus
            # up/down walk the filters entered, newest first, then back to the draft
            await pilot.press("slash", *"draft", "up")
            assert box.value == "^stage"
            await pilot.press("up")
            assert box.value == "state=failed"
            await pilot.press("up")  # the oldest stays
            assert box.value == "state=failed"
            await pilot.press("down", "down")
            assert box.value == "draft"
            await pilot.press("up", "enter")
            await pilot.pause()
            assert jobs.query.text == "^stage"
            assert box.history == ["state=failed", "^stage"]  # entered again: not twice
            for i in range(HISTORY + 5):
                box.remember(f"id~{i}")
            assert len(box.history) == HISTORY and box.history[-1] == f"id~{HISTORY + 4}"

    run(go())


# -- item 25: help from the bindings -----------------------------------------


def test_readme_key_table_is_the_bindings(repo_root):
    """README's table is made from the bindings (scripts/keys_table.py): a key
    added, changed or described anew without running the script fails here."""
    import runpy

    script = runpy.run_path(str(repo_root / "scripts" / "keys_table.py"), run_name="keys_table")
    from panorama_tui.ui.keys import documented_bindings, help_rows, readme_table

    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    assert script["table_in"](readme) == readme_table(help_rows(documented_bindings()))


def test_every_key_of_the_main_screen_has_a_line_of_help():
    from textual.binding import Binding

    from panorama_tui.ui.widgets.filterbox import FilterBox
    from panorama_tui.ui.keys import Keys, documented_bindings
    from panorama_tui.ui.panels.tree import WorkflowTree

    ours = [*PanoramaApp.BINDINGS, *JobList.BINDINGS, *WorkflowTree.BINDINGS, *FilterBox.BINDINGS]
    assert all(isinstance(b.group, Keys) and b.group.description for b in Binding.make_bindings(ours))
    documented = {key for b in documented_bindings() for key in b.key.split(",")}
    assert {"tab", "shift+tab", "ctrl+p", "ctrl+c", "question_mark", "w", "j", "k"} <= documented


def help_lines(app) -> list[str]:
    """The help screen as its lines of text, at the width it has."""
    import io

    from rich.console import Console

    text = app.screen.query_one("#help-text")
    console = Console(width=text.content_region.width, file=io.StringIO(), color_system=None)
    with console.capture() as cap:
        console.print(text.content)
    return cap.get().splitlines()


def test_help_fits_80x24_scrolls_and_wrapped_lines_hang_under_their_text():
    from textual.containers import VerticalScroll

    from panorama_tui.ui.screens.help import HelpScreen

    async def go():
        async with finished_demo((80, 24)) as (app, store, pilot):
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            box = app.screen.query_one(VerticalScroll)
            assert app.screen.region.contains_region(box.region)  # not clipped
            assert box.max_scroll_y > 0  # it scrolls to the rest
            await pilot.press("end")
            await pilot.pause()
            assert box.scroll_offset.y == box.max_scroll_y
            lines = help_lines(app)
            rows = app.screen.rows
            text_at = 2 + max(len(r.keys) for r in rows) + 2  # indent, keys, gap
            starts = {r.keys for r in rows}
            wrapped = 0
            for line in lines:
                body = line[2:text_at].strip()
                if not line.strip() or not line.startswith("  ") or body in starts:
                    continue  # blank, a heading, or a row's first line
                wrapped += 1
                assert line[:text_at].strip() == "" and line[text_at] != " ", line  # hangs under its text
            assert wrapped >= 3
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)

    run(go())


def test_w_is_there_when_a_master_db_is_and_lists_it(shared_data):
    """``w`` shows in the help and works whenever ~/.pegasus/workflow.db
    exists (the tests' HOME is a temporary one), not only when the app was
    started on it."""
    from pathlib import Path

    from panorama_tui.ui.screens.help import HelpScreen
    from panorama_tui.ui.screens.workflow_list import WorkflowsScreen

    from .test_submitdir import _master_db

    master = Path.home() / ".pegasus" / "workflow.db"
    assert not master.exists()

    async def go():
        async with finished_demo((120, 40)) as (app, store, pilot):
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert "w" not in {r.keys for r in app.screen.rows}
            await pilot.press("escape", "w")
            assert not isinstance(app.screen, WorkflowsScreen)
            master.parent.mkdir()
            fail_db = shared_data / "pegasus/monitord-replay/process_wf_failure/process-0.stampede.db"
            _master_db(master, [("f84f05fc-a8d0-42b5-bac5-52d6f41a77e3", "process",
                                 [("WORKFLOW_STARTED", 1677913788, 0, None),
                                  ("WORKFLOW_TERMINATED", 1677913884, 0, 1)], f"sqlite:///{fail_db}")])
            await pilot.press("question_mark")
            assert "w" in {r.keys for r in app.screen.rows}
            await pilot.press("escape", "w")
            await pilot.pause()
            assert isinstance(app.screen, WorkflowsScreen)
            assert [w["label"] for w in app.screen.workflows] == ["process"]

    run(go())


# -- item 29: one time zone, said once ----------------------------------------


@pytest.fixture
def zone(monkeypatch):
    """Set TZ for a test (the module runs in UTC)."""
    import time

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


WINTER, SUMMER = 1677913788, 1688000000  # 2023-03-04 07:09:48 UTC (the failed run), 2023-06-29


@pytest.mark.parametrize("tz, ts, label", [
    ("UTC", WINTER, "UTC"),
    ("Europe/Paris", WINTER, "CET (UTC+01:00)"),
    ("Europe/Paris", SUMMER, "CEST (UTC+02:00)"),
    ("America/Los_Angeles", WINTER, "PST (UTC-08:00)"),
    ("Asia/Kolkata", WINTER, "IST (UTC+05:30)"),
    ("Asia/Dubai", WINTER, "UTC+04:00"),  # the zone has no name of its own
])
def test_the_zone_label_names_the_zone_clock_times_are_in(zone, tz, ts, label):
    from panorama_tui.core.fmt import clock_time, zone_label

    zone(tz)
    assert zone_label(ts) == label
    if tz == "America/Los_Angeles":
        assert clock_time(ts) == "2023-03-03 23:09:48"  # TZ honoured


def test_the_zone_label_takes_any_time():
    from panorama_tui.core.fmt import zone_label

    for ts in (None, float("nan"), float("inf"), 1e20, -1e20):
        assert zone_label(ts) == "UTC"


def test_the_screen_says_its_zone_once_and_shows_every_time_in_it(zone, replay_dir):
    """TZ=Europe/Paris: the header says CET once; the failed job's states in
    the detail panel are at Paris time (monitord wrote 07:10:09 UTC)."""
    zone("Europe/Paris")
    store = failed_run_store(replay_dir)

    async def go():
        for size in ((120, 40), (80, 24)):
            app = PanoramaApp(store, source_label="process_wf_failure")
            async with app.run_test(size=size) as pilot:
                await pilot.pause(0.3)
                header = app.query_one("#header")
                line1, line2 = ("".join(s.text for s in segments(header, y, blank=True)).strip() for y in (0, 1))
                assert line2.startswith("✓")  # line 1 never wraps into the counts
                if size[0] == 120:
                    assert "elapsed 1m36s  times in CET (UTC+01:00)" in line1
                    detail = text_of_all(app.query_one("#detail-view"))
                    assert "2023-03-04 08:10:09  SUBMIT" in detail
                    assert "07:10:09" not in detail

    run(go())


def text_of_all(widget) -> str:
    from .test_ui import text_of

    return text_of(widget)
