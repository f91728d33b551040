"""The Statistics panel says what ``--stats`` says: pegasus-statistics' figures from the DB.

A stale submit dir (tests/data/held/stale: the real monitord wrote its Stampede DB
from a dagman.out cut after the third job, beside the whole run's jobstate.log)
has a DB that lags its jobstate.log: the real pegasus-statistics counts 3 jobs
succeeded, the jobstate.log overlay all 5.  The panel shows the DB's figures, the
ones ``panorama-top --stats`` prints, and the overlay's counts beside them,
labelled provisional.
"""

from __future__ import annotations

import asyncio

from panorama_tui.stats import sql_stats
from panorama_tui.pipeline.ingest import Ingest
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource
from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir
from panorama_tui.model.store import Store
from panorama_tui.ui.app import PanoramaApp

from .held_runs import DB, HELD, expected, submit_dir
from .test_ui import text_of


def squeeze(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def panel_text(source) -> str:
    async def go():
        store = Store()
        ingest = Ingest(source, store).start()
        app = PanoramaApp(store, ingest=ingest, source_label="stale", monotonic=lambda: 0.0)
        try:
            async with app.run_test(size=(140, 50)) as pilot:
                assert ingest.done.wait(20)
                app.refresh_all(full=True)
                await pilot.press("6")
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause()
                return text_of(app.query_one("#statistics-view"))
        finally:
            ingest.stop()

    return asyncio.run(go())


def test_the_stale_dir_disagrees_with_itself():
    """pegasus-statistics on the DB: 3 succeeded, 2 incomplete; jobstate.log: all 5 succeeded."""
    assert "Jobs 3 0 2 5 0 3" in squeeze(expected("stale", "summary.txt"))
    log = (HELD / "stale" / "submit" / "jobstate.log").read_text()
    assert log.count(" POST_SCRIPT_SUCCESS ") == 5


def test_panel_shows_the_db_figures_and_the_overlay_as_provisional(tmp_path):
    d = submit_dir("stale", tmp_path)
    stats = sql_stats.all_statistics_db(str(d / DB))
    assert stats["summary"]["jobs"]["succeeded"] == 3
    lines = squeeze(panel_text(SubmitDirSource(find_submit_dir(str(d)), follow=False)))
    text = "\n".join(lines)
    db_part, _, provisional = text.partition("provisional")
    assert provisional, text
    # the DB's figures, as --stats and pegasus-statistics give them
    assert "Jobs 3 0 2 5 0 3" in db_part and "Tasks 1 0 0 1 0 1" in db_part, db_part
    assert "Jobs 5 0 0 5 0 5" not in db_part
    assert "cumulative job wall time 5.6s" in db_part  # summary.txt: 5.59 secs
    # the overlay's, beside them
    assert "Jobs 5 0 0 5 0 5" in provisional, provisional


def test_panel_of_the_db_alone_has_nothing_provisional(tmp_path):
    d = submit_dir("stale", tmp_path)
    text = "\n".join(squeeze(panel_text(StampedeDbSource(str(d / DB), follow=False))))
    assert "Jobs 3 0 2 5 0 3" in text and "provisional" not in text


def test_panel_of_jobstate_log_alone_is_provisional(tmp_path):
    """A submit dir whose DB is not there (monitord has not written it) shows jobstate.log's
    figures, all of them provisional."""
    d = submit_dir("stale", tmp_path)
    (d / DB).unlink()
    text = "\n".join(squeeze(panel_text(SubmitDirSource(find_submit_dir(str(d)), follow=False))))
    assert "provisional: jobstate.log, no Stampede DB to read" in text
    assert "workflow wall time 1m17s" in text  # DAGMan's start and end, from jobstate.log


def test_once_counts_are_the_dbs_with_the_overlay_beside_them(tmp_path, repo_root, child_env, expected_summary):
    """--once printed the store's counts (the overlay: 5 succeeded) where --stats and
    pegasus-statistics say 3: its counts are pegasus-statistics' now, the overlay's
    beside them, labelled provisional, in the text and in the JSON."""
    import json
    import subprocess
    import sys

    d = submit_dir("stale", tmp_path)
    want = expected_summary(HELD / "stale" / "expected" / "statistics-csv" / "summary.csv")

    def once(*args):
        p = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", "--once", *args, str(d)], cwd=str(repo_root),
                           env=child_env(), capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout

    (wf,) = json.loads(once("--json"))["workflows"]
    for k in ("tasks", "jobs", "sub_workflows"):
        assert wf[k] == want[k], k
    assert wf["provisional"]["jobs"]["succeeded"] == 5 and wf["jobs"]["succeeded"] == 3
    text = squeeze(once())
    i = text.index("provisional, with jobstate.log (ahead of the Stampede DB):")
    assert "Jobs 3 0 2 5 0" in text[:i] and "Jobs 5 0 0 5 0" in text[i:]


def test_a_big_db_shows_the_summary_alone(replay_dir, monkeypatch):
    """Past FULL_TABLES_MAX jobs the panel asks the DB for the summary alone (the whole answer
    holds every job's row: 3.2 GB at 1M jobs), with the same figures, and says where the rest is."""
    from panorama_tui.stats import sql_stats
    from panorama_tui.ui.panels import statistics as P

    db = str(replay_dir / "hierarchical_wf_success" / "hierarchical-workflow-0.stampede.db")
    monkeypatch.setattr(P, "FULL_TABLES_MAX", 1)
    _, out, _ = P._figures_of_db(db, [None], ("k",))
    (got,) = out.values()
    whole = sql_stats.all_statistics_db(db, None)
    assert got["summary"] == whole["summary"] and got["integrity"] == whole["integrity"]
    assert "--stats --json" in got["note"] and not got["breakdown"]
