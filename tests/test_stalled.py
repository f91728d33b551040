"""A dead run is said to be stalled, not RUNNING forever (#11 item 3).

Two causes, both a source/core signal (summary.stall):
(a) DAGMan's log says it exited but monitord recorded no end: the shared
    hierarchical submit dir (its DB and jobstate.log stop before DAGMan's end);
(b) no event for far longer than the run's own pace while nothing is queued or
    running: a real event log cut where nothing was queued.
The header says ``STALLED: …`` in the warning colour (bold and reverse, so it
reads without colour), elapsed stops at the last activity, the Warnings panel
lists it and ``--once`` exits 4.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys

import pytest
from rich.console import Console

from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir
from panorama_tui.model.store import Store
from panorama_tui.stats.once import EXIT_STALLED
from panorama_tui.stats.stall import STALL_FLOOR, quiet_for, run_pace, stall
from panorama_tui.ui.app import PanoramaApp
from panorama_tui.ui.panels.header import HeaderBar
from panorama_tui.ui.panels.warnings import WarningsView

ROOT_WF = "48f759a4-165f-47d6-8c32-571649ce311b"
OK_WF = "f00c0056-abd4-4e8e-b793-24eb760dda1f"
DAGMAN_END = 1677920801  # 2023-03-04 09:06:41 UTC, DAGMan's exit in the hierarchical run's dagman.out
NOW = 1795240000.0  # 2026-11-20: the day "elapsed 1373d" was seen
# events.json of process_wf_success: 32 lines end with create_dir's POST script done and nothing
# else submitted yet; 35 lines end with ls_ID0000001 executing
IDLE_CUT, RUNNING_CUT = 32, 35


def plain(renderable) -> str:
    console = Console(width=300, file=io.StringIO(), color_system=None)
    with console.capture() as cap:
        console.print(renderable)
    return cap.get()


@pytest.fixture
def submitdirs(shared_data):
    return shared_data / "pegasus" / "submitdirs"


@pytest.fixture
def cut_log(tmp_path, replay_dir):
    def make(n: int):
        lines = (replay_dir / "process_wf_success" / "events.json").read_text().splitlines(keepends=True)
        p = tmp_path / f"events-{n}.json"
        p.write_text("".join(lines[:n]))
        return p

    return make


@pytest.fixture
def cli(child_env, tmp_path):
    def run(*args):
        proc = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)], cwd=str(tmp_path),
                              env=child_env() | {"TMPDIR": str(tmp_path), "PANORAMA_AMQP_URL": ""},
                              capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        return proc

    return run


def hierarchical_store(submitdirs) -> Store:
    return run_to_end(SubmitDirSource(find_submit_dir(str(submitdirs / "hierarchical_wf_success")), follow=False),
                      Store())


# -- the signal ----------------------------------------------------------------------------


def test_dagman_exited_monitord_did_not_record_it(submitdirs):
    s = hierarchical_store(submitdirs)
    st = stall(s, s.workflows[ROOT_WF], NOW)
    assert st is not None and st.since == DAGMAN_END
    assert st.reason == "DAGMan exited 0 at 2023-03-04 09:06:41 UTC, monitord did not record the end"
    # the same with no clock at all: it is DAGMan's and monitord's word, not a time-out
    assert stall(s, s.workflows[ROOT_WF], None) == st


def test_no_event_for_far_longer_than_the_runs_pace(cut_log):
    s = run_to_end(JsonLogSource(str(cut_log(IDLE_CUT)), follow=False), Store())
    wf = s.workflows[OK_WF]
    assert wf.state == "running" and not s.active
    pace, last = run_pace(s, wf)
    assert last == 1677911039  # create_dir's POST_SCRIPT_SUCCESS, the last event
    # the run's own pace: its distinct event times so far (DAGMan's start at :23, create_dir's states
    # at :24 :28 :30 :31 :34 :35 :39) are 1, 4, 2, 1, 3, 1, 4 s apart; the 90th percentile is 4 s
    assert pace == 4.0
    limit = max(STALL_FLOOR, 10 * pace)
    assert stall(s, wf, last + limit) is None
    st = stall(s, wf, last + limit + 1)
    assert st is not None and st.since == last
    assert "no event for" in st.reason and "nothing queued or running" in st.reason
    assert stall(s, wf, NOW).reason.startswith("no event for 1357d")


def test_a_running_job_is_not_a_stall(cut_log):
    s = run_to_end(JsonLogSource(str(cut_log(RUNNING_CUT)), follow=False), Store())
    assert s.workflows[OK_WF].jobs["ls_ID0000001"].state.label == "running"
    assert stall(s, s.workflows[OK_WF], NOW) is None


def test_a_running_job_in_a_quiet_run_is_said_how_quiet(cut_log):
    """Not a stall, but the header says how long nothing came: jobs "running" in a log or a DB
    nothing has written to for years read "last event 1357d… ago", not only "RUNNING"."""
    s = run_to_end(JsonLogSource(str(cut_log(RUNNING_CUT)), follow=False), Store())
    wf = s.workflows[OK_WF]
    assert quiet_for(s, wf, s.latest_ts + STALL_FLOOR) is None  # a healthy gap
    assert quiet_for(s, wf, s.latest_ts + STALL_FLOOR + 1) == STALL_FLOOR + 1
    assert quiet_for(s, wf, None) is None
    text, segs, _ = _screen(s)
    line1 = text.splitlines()[0]
    assert "RUNNING" in line1 and "last event 1357d" in line1 and not segs  # said, not STALLED
    idle = run_to_end(JsonLogSource(str(cut_log(IDLE_CUT)), follow=False), Store())
    assert quiet_for(idle, idle.workflows[OK_WF], NOW) is None  # nothing running: the stall rule's


def test_the_timeline_of_a_quiet_run_ends_at_its_last_event(cut_log):
    """Jobs "running" since 2023 read in 2026: the chart's span is the run's, not years of nothing."""
    from panorama_tui.core.fmt import clock_time

    from .test_ui import text_of

    s = run_to_end(JsonLogSource(str(cut_log(RUNNING_CUT)), follow=False), Store())

    async def go():
        app = PanoramaApp(s, source_label="test", live=True, clock=lambda: NOW)
        async with app.run_test(size=(140, 50)) as pilot:
            await pilot.press("5")
            await pilot.pause(0.5)
            app.refresh_all(full=True)
            await pilot.pause(0.5)
            return text_of(app.query_one("#timeline-view"))

    text = asyncio.run(go())
    assert f"→ {clock_time(s.latest_ts)[-8:]}" in text and f"→ {clock_time(NOW)[-8:]}" not in text, text[:400]


def test_a_finished_run_is_not_a_stall(replay_dir):
    s = run_to_end(JsonLogSource(str(replay_dir / "process_wf_success" / "events.json"), follow=False), Store())
    assert stall(s, s.workflows[OK_WF], NOW) is None
    assert quiet_for(s, s.workflows[OK_WF], NOW) is None


def test_following_the_stall_is_said_then_taken_back(tmp_path, submitdirs, monkeypatch):
    """Following: said once nothing new came for DAGMAN_QUIET seconds; taken
    back when monitord records the end after all."""
    import shutil

    import panorama_tui.sources.pegasus.submitdir as m

    monkeypatch.setattr(m, "DAGMAN_QUIET", 0.0)
    d = tmp_path / "run"
    shutil.copytree(submitdirs / "hierarchical_wf_success", d)
    for p in [d, *d.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    src = SubmitDirSource(find_submit_dir(str(d)), follow=True, poll=0.01)
    store = Store()
    for _ in range(6):
        store.apply_many(e for e in src._round([])[0] if not isinstance(e, dict))
    assert store.workflows[ROOT_WF].stalled is not None
    with open(d / "jobstate.log", "a") as f:  # monitord catches up
        f.write(f"{DAGMAN_END} INTERNAL *** DAGMAN_FINISHED 0 ***\n")
    for _ in range(3):
        store.apply_many(e for e in src._round([])[0] if not isinstance(e, dict))
    src.db.close()
    assert store.workflows[ROOT_WF].stalled is None


# -- what the user sees ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_once_exits_4_and_says_why(cli, submitdirs, fmt):
    p = cli("--once", *(["--json"] if fmt == "json" else []), submitdirs / "hierarchical_wf_success")
    assert p.returncode == EXIT_STALLED == 4, p.stderr
    if fmt == "json":
        d = json.loads(p.stdout)
        assert d["exit_status"] == 4
        w = d["workflows"][0]
        assert w["stalled"] == {"reason": "DAGMan exited 0 at 2023-03-04 09:06:41 UTC, monitord did not record the end",
                                "since": "2023-03-04T09:06:41Z"}
        assert d["workflows"][1]["stalled"] is None
    else:
        assert "STALLED: DAGMan exited 0 at 2023-03-04 09:06:41 UTC, monitord did not record the end" in p.stdout


def test_once_on_a_dead_event_log(cli, cut_log):
    p = cli("--once", "--json", cut_log(IDLE_CUT))
    assert p.returncode == 4
    assert json.loads(p.stdout)["workflows"][0]["stalled"]["since"] == "2023-03-04T06:23:59Z"
    assert cli("--once", cut_log(RUNNING_CUT)).returncode == 2


def test_help_documents_the_status(cli):
    out = cli("--help").stdout
    assert "4 stalled" in " ".join(out.split())


def _screen(store: Store, size=(160, 40), keys=()):
    async def go():
        app = PanoramaApp(store, source_label="test", live=True, clock=lambda: NOW)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            for k in keys:
                await pilot.press(k)
            app.refresh_all(full=True)
            await pilot.pause()
            header = app.query_one("#header", HeaderBar)
            stalled = [seg for y in range(header.size.height) for seg in header.render_line(y) if "STALLED" in seg.text]
            return plain(header.content), stalled, plain(app.query_one("#warnings-view", WarningsView).content)

    return asyncio.run(go())


def test_the_header_says_stalled_and_elapsed_stops(cut_log):
    s = run_to_end(JsonLogSource(str(cut_log(IDLE_CUT)), follow=False), Store())
    text, segs, _ = _screen(s)
    line1, _, line3 = text.splitlines()
    assert "RUNNING" in line1 and line3.startswith(" STALLED: no event for 1357d")
    # elapsed stops at the last event (16s after the start), not at the clock's 1357 days
    assert "elapsed 16s" in line1
    style = segs[0].style
    assert style.bold and style.reverse and style.color is not None  # the warning colour, and readable without it


def test_the_header_of_a_run_monitord_lost(submitdirs):
    text, segs, _ = _screen(hierarchical_store(submitdirs), size=(120, 40))
    line1, _, line3 = text.splitlines()
    assert "SUCCEEDED" in line1 and "elapsed 5m31s" in line1 and segs
    assert line3.strip() == "STALLED: DAGMan exited 0 at 2023-03-04 09:06:41 UTC, monitord did not record the end"
    # at 80 columns the reason is cut, not the word (the Warnings panel has all of it)
    text80, segs80, _ = _screen(hierarchical_store(submitdirs), size=(80, 24))
    line3_80 = text80.splitlines()[2].strip()
    assert line3_80.startswith("STALLED: DAGMan exited 0 at 2023-03-04 09:06:41 UTC, monitord") and segs80
    assert line3_80.endswith("…") and len(line3_80) <= 78


def test_the_warnings_panel_lists_it(submitdirs):
    _, _, warnings = _screen(hierarchical_store(submitdirs), keys=["4"])
    assert "STALLED hierarchical-workflow" in warnings
    assert "DAGMan exited 0 at 2023-03-04 09:06:41 UTC, monitord did not record the end" in warnings
