"""% done is pegasus-status's, everywhere: the header, the tree, the workflows
list (master DB) and ``--once`` agree with ``pegasus-status`` on the shared runs
and on real runs cut mid-way (no Stampede DB, jobstate.log and dagman.out cut
at the same moment).  One definition, in the core (summary.tree_progress)."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.sources.pegasus.master_db import list_workflows
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource
from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir
from panorama_tui.model.store import Store
from panorama_tui.ui.app import PanoramaApp
from panorama_tui.ui.panels.header import HeaderBar
from panorama_tui.ui.panels.tree import WorkflowTree

from .test_dagman_out import DAGS, RUNS, UUIDS, copy_dir, pegasus_status, row_values, table_rows
from .test_stampede_db import DBS
from .test_submitdir import _master_db

MONITORD_FILES = ("monitord.info", "monitord.log.000", "monitord.started", "monitord.subwf", "monitord.done",
                  "monitord.recover")


def plain(renderable) -> str:
    console = Console(width=300, file=io.StringIO(), color_system=None)
    with console.capture() as cap:
        console.print(renderable)
    return cap.get()


def header_says(store: Store, size=(160, 40)) -> tuple[float, int]:
    """(% done, of N) as the header shows them for the store's one root."""

    async def go():
        app = PanoramaApp(store, source_label="test")
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            return plain(app.query_one("#header", HeaderBar).content)

    text = asyncio.run(go())
    m = re.search(r"([\d.]+)% of (\d+)", text)
    assert m, text
    return float(m.group(1)), int(m.group(2))


def tree_says(store: Store, uuid: str) -> tuple[int, int]:
    """done/total in the tree's label of a workflow."""
    label = WorkflowTree(store)._wf_label(store.workflows[uuid]).plain
    m = re.search(r"(\d+)/(\d+)", label)
    return int(m.group(1)), int(m.group(2))


def once_says(store: Store) -> dict:
    from panorama_tui.stats.once import as_dict

    return as_dict(store)["dag_totals"]


def stores_of_a_run(replay_dir, submitdirs, run) -> dict:
    r = replay_dir / run
    return {
        "events.json": run_to_end(JsonLogSource(str(r / "events.json"), follow=False), Store()),
        "stampede.db": run_to_end(StampedeDbSource(str(r / DBS[run]), follow=False), Store()),
        "submit dir": run_to_end(SubmitDirSource(find_submit_dir(str(submitdirs / run)), follow=False), Store()),
    }


@pytest.fixture
def submitdirs(shared_data):
    return shared_data / "pegasus" / "submitdirs"


@pytest.mark.parametrize("run", RUNS)
def test_every_view_says_what_pegasus_status_says_on_the_shared_runs(replay_dir, submitdirs, run):
    want = json.loads((replay_dir / run / "status.json").read_text())["totals"]
    for name, store in stores_of_a_run(replay_dir, submitdirs, run).items():
        got = once_says(store)
        assert got["percent_done"] == want["percent_done"], name
        pct, of = header_says(store)
        assert (pct, of) == (want["percent_done"], got["total"]), name
        done, total = tree_says(store, UUIDS[run])
        assert (done, total) == (got["done"], got["total"]), name
        if name != "submit dir":  # the copied submit dir's DB has the sub-workflow's run, its DAGMan log not
            assert (got["done"], got["total"]) == (want["succeeded"], want["total"]), name


def test_the_workflows_list_says_what_pegasus_status_says(tmp_path, replay_dir):
    master = tmp_path / "workflow.db"
    rows = []
    for run in RUNS:
        rows.append((UUIDS[run], run, [("WORKFLOW_STARTED", 1677900000, 0, None)], f"sqlite:///{replay_dir / run / DBS[run]}"))
    _master_db(master, rows)
    by = {w["wf_uuid"]: w for w in list_workflows(str(master), progress=True)}
    for run in RUNS:
        want = json.loads((replay_dir / run / "status.json").read_text())["totals"]
        p = by[UUIDS[run]]["progress"]
        assert (p["percent"], p["succeeded"], p["total"]) == (want["percent_done"], want["succeeded"], want["total"]), run


def _cut_run(src: Path, dst: Path, table: int, keep_dagman_out: bool = True) -> Path:
    """A real submit dir as it was at one of DAGMan's tables: no Stampede DB
    yet, jobstate.log and dagman.out both cut at that moment."""
    d = copy_dir(src, dst, drop=MONITORD_FILES)
    for db in d.glob("*.stampede.db"):
        db.unlink()
    out = d / (DAGS[src.name] + ".dagman.out")
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[: table + 1]))
    stamp = " ".join(lines[table].split()[:2])  # MM/DD/YY HH:MM:SS, submit host time
    from datetime import datetime, timedelta, timezone

    from panorama_tui.sources.pegasus.submitdir import parse_braindump_yml

    tz = parse_braindump_yml((d / "braindump.yml").read_text())["timestamp"][-5:]
    offset = timedelta(hours=int(tz[:3]), minutes=int(tz[0] + tz[3:]))
    cut = datetime.strptime(stamp, "%m/%d/%y %H:%M:%S").replace(tzinfo=timezone(offset)).timestamp()
    js = d / "jobstate.log"
    js.write_text("".join(ln for ln in js.read_text().splitlines(keepends=True)
                          if "MONITORD" not in ln and int(ln.split()[0]) <= cut))
    if not keep_dagman_out:
        out.unlink()
    return d


@pytest.mark.parametrize("table", [3, 6, 9])
def test_a_submit_dir_without_its_db_mid_run(tmp_path, submitdirs, child_env, table):
    """Was "67 % of 3" where pegasus-status said "25.0 % of 8": the jobs jobstate.log
    had named so far.  Now the DAG's own total, and DAGMan's Done."""
    run = "process_wf_success"
    n = table_rows(submitdirs / run / (DAGS[run] + ".dagman.out"))[table]
    d = _cut_run(submitdirs / run, tmp_path / "cut", n)
    want = pegasus_status(d, child_env)["totals"]
    assert want["percent_done"] < 100 and want["total"] == 5
    assert row_values(d / (DAGS[run] + ".dagman.out"), n)[0] == want["succeeded"]
    store = run_to_end(SubmitDirSource(find_submit_dir(str(d)), follow=False), Store())
    got = once_says(store)
    assert (got["percent_done"], got["done"], got["total"]) == (want["percent_done"], want["succeeded"], want["total"])
    assert header_says(store) == (want["percent_done"], want["total"])
    assert tree_says(store, UUIDS[run]) == (want["succeeded"], want["total"])
    # without DAGMan's log either: jobstate.log's states, the planned jobs as the total
    d2 = _cut_run(submitdirs / run, tmp_path / "cut-no-dagman", n, keep_dagman_out=False)
    store2 = run_to_end(SubmitDirSource(find_submit_dir(str(d2)), follow=False), Store())
    got2 = once_says(store2)
    assert got2["total"] == 5 and got2["percent_done"] == want["percent_done"]
    assert header_says(store2) == (want["percent_done"], 5)


def test_the_header_at_80_columns_still_says_it(replay_dir):
    store = run_to_end(JsonLogSource(str(replay_dir / "process_wf_failure" / "events.json"), follow=False), Store())
    assert header_says(store, size=(80, 24)) == (20.0, 5)


def test_the_workflows_screen_shows_it(tmp_path, replay_dir):
    from textual.widgets import DataTable

    from panorama_tui.ui.screens.workflow_list import WorkflowsScreen

    master = tmp_path / "workflow.db"
    run = "process_wf_failure"
    _master_db(master, [(UUIDS[run], "process", [("WORKFLOW_STARTED", 1677913788, 0, None),
                                                 ("WORKFLOW_TERMINATED", 1677913884, 0, 1)],
                         f"sqlite:///{replay_dir / run / DBS[run]}")])

    async def go():
        app = PanoramaApp(Store(), master_db=str(master), live=True)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, WorkflowsScreen)
            table = app.screen.query_one(DataTable)
            return [str(c) for c in table.get_row_at(0)]

    row = asyncio.run(go())
    assert row[2] == "20%" and row[3] == "5"  # pegasus-status: 20.0 % of 5
