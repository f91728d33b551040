"""The store's change feed: any number of readers, each through its own cursor."""

from __future__ import annotations

import gc
import json
import tracemalloc

import pytest

from panorama_tui.core.events import decode
from panorama_tui.model.changes import ChangeFeed
from panorama_tui.model.snapshot import StoreSnapshot
from panorama_tui.model.store import Store


def _state(job_id: str, ts: float, status: int = -1) -> dict:
    return {"event": "stampede.job_inst.main.start", "ts": 1_700_000_000 + ts, "xwf.id": "wf-1", "job.id": job_id,
            "job_inst.id": 1, "js.id": int(ts), "status": status}


def test_two_readers_each_get_every_change_once():
    store = Store()
    a, b = store.changes.cursor(), store.changes.cursor()
    assert a.take().full and b.take().full  # a new reader has seen nothing: it builds first
    store.apply(decode(_state("j1", 1.0)))
    first = a.take()
    assert not first.full and {j.job_id for j in first.jobs} == {"j1"}
    assert a.take().jobs == set()  # taken: gone for a, not for b
    store.apply(decode(_state("j2", 2.0)))
    assert {j.job_id for j in b.take().jobs} == {"j1", "j2"}
    assert {j.job_id for j in a.take().jobs} == {"j2"}
    assert store.changes.kept == 0  # both have read everything: nothing is held


def test_a_reset_makes_every_readers_next_take_full():
    store = Store()
    reader = store.changes.cursor()
    reader.take()
    store.apply(decode(_state("j1", 1.0)))
    store.reset()
    taken = reader.take()
    assert taken.full and taken.jobs == set()
    store.apply(decode(_state("j1", 1.0)))
    taken = reader.take()
    assert not taken.full and {j.job_id for j in taken.jobs} == {"j1"}


def test_a_reader_that_falls_behind_refreshes_in_full():
    feed = ChangeFeed(max_kept=10)
    slow, fast = feed.cursor(), feed.cursor()
    slow.take(), fast.take()
    for gen in range(5):
        for i in range(4):
            feed.touch((gen, i))
        assert len(fast.take().jobs) == 4
    assert feed.kept <= 10 + 4  # the limit, plus the newest generation, which is never dropped
    assert slow.take().full
    feed.touch("x")
    assert slow.take().jobs == {"x"} and fast.take().jobs == {"x"}


def test_a_reader_that_is_gone_holds_nothing():
    feed = ChangeFeed()
    keep = feed.cursor()
    gone = feed.cursor()
    keep.take(), gone.take()
    del gone
    gc.collect()
    feed.touch("a")
    keep.take()
    assert feed.kept == 0


def test_a_lagging_reader_costs_little_memory_beside_the_jobs():
    """Changed jobs held for a reader that lags: ~42 bytes each (40 MiB for 1M),
    where one job of the store costs ~4.3 KiB."""
    feed = ChangeFeed()
    lagging, reader = feed.cursor(), feed.cursor()
    lagging.take(), reader.take()
    jobs = [object() for _ in range(200_000)]
    tracemalloc.start()
    try:
        for k in range(0, len(jobs), 20_000):
            for j in jobs[k:k + 20_000]:
                feed.touch(j)
            reader.take()
        used, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert feed.kept == len(jobs)
    assert used / len(jobs) < 60, used / len(jobs)
    assert len(lagging.take().jobs) == len(jobs)


def _events(replay_dir, run):
    with open(replay_dir / run / "events.json") as fh:
        return [decode(json.loads(line)) for line in fh if line.strip()]


@pytest.mark.parametrize("run", ["hierarchical_wf_success", "process_wf_failure"])
def test_a_snapshot_kept_from_the_changes_reads_as_the_store_does(replay_dir, run):
    """The timeline's figures from a snapshot updated a slice of events at a time (only
    the changed jobs copied) are the store's, for every scope, whole trees and sub-workflows."""
    from panorama_tui.ui.panels.timeline import read_figures

    events = _events(replay_dir, run)
    store = Store()
    snap = StoreSnapshot(store)
    step = len(events) // 9 + 1
    copied = []
    for i in range(0, len(events), step):
        store.apply_many(events[i:i + step])
        with store.lock:
            copied.append(snap.update())
        now = store.latest_ts
        for wf in [None, *store.workflows.values()]:
            assert read_figures(snap, snap.workflow(wf), now, 120) == read_figures(store, wf, now, 120)
    assert sum(copied[1:]) < len(copied[1:]) * store.job_count()  # not everything each time
    store.reset()
    with store.lock:
        snap.update()
    assert snap.workflows == {} and read_figures(snap, None, None, 120) is None
