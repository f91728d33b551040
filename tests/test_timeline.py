"""Jobs over time and the Gantt view, on the real hierarchical run."""

from __future__ import annotations

from panorama_tui.ingest import run_to_end
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.store import Store
from panorama_tui.timeline import SHADES, gantt, intervals, occupancy


def _store(shared_data, run="hierarchical_wf_success"):
    path = shared_data / "pegasus" / "monitord-replay" / run / "events.json"
    return run_to_end(JsonLogSource(str(path), follow=False), Store())


def test_occupancy_counts(shared_data):
    s = _store(shared_data)
    root = s.roots[0]
    occ = occupancy(s, root, bins=50)
    assert len(occ.times) == len(occ.running) == 50
    # 13 jobs of the root ran once each; all end done, none failed.
    assert occ.done[-1] == 13 and occ.failed[-1] == 0
    assert max(occ.running) >= 1
    assert occ.done == sorted(occ.done)  # cumulative
    assert len(intervals(s, root)) == 13


def test_failed_run_counts_retries_and_failure(shared_data):
    s = _store(shared_data, "process_wf_failure")
    occ = occupancy(s, s.roots[0], bins=30)
    assert occ.failed[-1] == 1 and occ.done[-1] == 1
    assert len(intervals(s, s.roots[0])) == 3  # create_dir + two tries of ls


def test_gantt_one_row_per_job_then_aggregated(shared_data):
    s = _store(shared_data)
    rows, t0, t1 = gantt(s, s.roots[0], width=60, max_rows=20)
    assert len(rows) == 13 and all(r.state is not None for r in rows)
    assert all(len(r.cells) == 60 and r.cells.strip() for r in rows)
    rows, _, _ = gantt(s, s.roots[0], width=60, max_rows=5)
    assert len(rows) <= 5 and all(r.state is None for r in rows)
    assert rows[0].label.startswith("pegasus::transfer (5)")
    assert set("".join(r.cells for r in rows)) <= set(SHADES)


def test_nothing_submitted_yet():
    assert occupancy(Store()) is None
    assert gantt(Store(), None, 40, 10) is None
