"""Pilot tests: a Parsl run on the screen (the shared DBs of real Parsl runs)."""

from __future__ import annotations

import asyncio
import time

from panorama_tui.core import parsl_events as pe
from panorama_tui.core.events import decode
from panorama_tui.sources.parsl.monitoring_db import read_store
from panorama_tui.model.states import JobState
from panorama_tui.ui.app import PanoramaApp
from panorama_tui.ui.widgets.joblist import JobList
from panorama_tui.ui.panels.header import HeaderBar
from panorama_tui.ui.panels.tree import WorkflowTree

from .test_parsl_db import RUN1, RUN2
from .test_ui import text_of
from .ui_helpers import fixed_timezone

fixed_timezone()


def run(coro):
    return asyncio.run(coro)


def one_run(shared_data):
    store = read_store(str(shared_data / "parsl" / "monitoring-run000-only.db"))
    return store, store.workflows[RUN1]


def test_states_apps_and_failures(shared_data):
    store, wf = one_run(shared_data)

    async def go():
        app = PanoramaApp(store, source_label="parsl monitoring.db", live=False)
        async with app.run_test(size=(140, 42)) as pilot:
            await pilot.pause()
            jobs = app.query_one("#jobs", JobList)
            # the STATE column says Parsl's own state; problems first
            cells = {j.job_id: jobs._cell("status", j, None)[0] for j in jobs.rows}
            assert cells["34"] == "failed" and cells["39"] == "dep_fail" and cells["0"] == "exec_done"
            assert jobs.rows[0].state == JobState.FAILED
            # the tree: run -> apps (done/total, failed) -> tasks
            tree = app.query_one("#tree", WorkflowTree)
            node = tree._wf_nodes[RUN1]
            apps = {c.data[2]: str(c.label) for c in node.children if c.data and c.data[0] == "group"}
            assert apps["flaky"] == "flaky 0/3 ✗3" and apps["burn_cpu"] == "burn_cpu 8/8"
            flaky = next(c for c in node.children if c.data and c.data[2] == "flaky")
            tree.select_node(flaky)
            await pilot.pause()
            assert sorted(j.job_id for j in jobs.rows) == ["36", "37", "38"]
            flaky.expand()
            await pilot.pause()
            assert sorted(str(leaf.label) for leaf in flaky.children) == ["36", "37", "38"]
            # the Failures panel: why, and what caused a dependency failure
            await pilot.press("escape", "2")
            await pilot.pause()
            fail = app.query_one("#fail-list", JobList)
            assert len(fail.rows) == 8
            fail.select_job(wf.jobs["39"])
            await pilot.pause()
            text = text_of(app.query_one("#fail-view"))
            assert "caused by: task 36 (dependency failed)" in text
            assert "DependencyError" in text
            fail.select_job(wf.jobs["34"])
            await pilot.pause()
            text = text_of(app.query_one("#fail-view"))
            assert "BashExitFailure('bash_fail', 3)" in text and "exit code : 3" in text
            # the statistics panel: the run's tasks, not pegasus-statistics' jobs
            await pilot.press("6")
            await pilot.pause()
            text = text_of(app.query_one("#statistics-view"))
            assert "a Parsl run" in text and "dep_fail" in text

    run(go())


def test_a_killed_run_says_so_in_the_header(shared_data):
    """The second run of the 30 s snapshot has no end; its writer is gone (as the source
    says with parsl.run.writer): KILLED, not RUNNING, and elapsed stops at its last row."""
    store = read_store(str(shared_data / "parsl" / "live-snapshots-run001" / "snapshot_t030s.db"))
    wf = store.workflows[RUN2]
    from panorama_tui.model.handlers import parsl as pm

    last = pm.run_of(wf).last_activity
    store.apply(decode({"event": pe.WRITER, "run_id": RUN2, "alive": False, "ts": last + 5}))

    async def go():
        app = PanoramaApp(store, source_label="parsl", live=True)
        async with app.run_test(size=(120, 40)) as pilot:
            app.scope_wf = wf
            app.query_one("#jobs").set_scope(wf)  # the App's tick re-reads the scope from the job list
            app.query_one("#header", HeaderBar).show(store, wf, time.time(), time.time())
            await pilot.pause()
            text = text_of(app.query_one("#header"))
            assert "KILLED" in text.splitlines()[0] and "RUNNING" not in text
            assert "KILLED: no row for" in text
            assert f"elapsed {int(last - wf.start_ts)}s" in text

    run(go())
