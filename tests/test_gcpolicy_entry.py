"""The collector's policy is the program's: entry points install it, library
functions (decoding, ingest) leave the thresholds as they find them (#13)."""

from __future__ import annotations

import gc
import json

from panorama_tui.core import gcpolicy
from panorama_tui.model.store import Store
from panorama_tui.pipeline.ingest import decode_batch, run_to_end
from panorama_tui.sources.base import Source

LINES = [
    json.dumps({"event": "stampede.xwf.start", "xwf_id": "wf-1", "ts": 1677913775, "restart_count": 0}),
    json.dumps({"event": "stampede.job_inst.submit.start", "xwf_id": "wf-1", "job_id": "j1", "job_inst_id": 1,
                "ts": 1677913789, "js_id": 1, "sched_id": "8.0", "site": "local"}),
    "not json",
]


class _Lines(Source):
    label = "lines"

    def batches(self):
        yield list(LINES)


def test_decode_batch_and_ingest_leave_the_thresholds_alone():
    before = gc.get_threshold()
    saved = gcpolicy._configured
    try:
        gc.set_threshold(700, 10, 10)  # what a program that never asked for ours has
        gcpolicy._configured = False
        bad: list = []
        assert len(decode_batch(LINES, bad, samples=True)) == 2 and len(bad) == 1
        decode_batch(LINES, [])
        store = run_to_end(_Lines(), Store())
        assert store.event_count == 2 and store.bad_count == 1
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gcpolicy._configured = saved
        gc.set_threshold(*before)


def test_configure_sets_them_once():
    before = gc.get_threshold()
    saved = gcpolicy._configured
    try:
        gcpolicy._configured = False
        gcpolicy.configure()
        assert gc.get_threshold()[0] == 5_000
    finally:
        gcpolicy._configured = saved
        gc.set_threshold(*before)


def test_a_burst_and_a_screen_hold_do_not_turn_each_other_off():
    """The bulk handler's burst (ingest thread) and a key's hold (screen thread) are counted
    together: the collector comes back only when both have ended, and as it was before."""
    assert gc.isenabled()
    gcpolicy.hold()
    with gcpolicy.no_collections():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the key's frame is not drawn yet
    gcpolicy.release()
    assert gc.isenabled()
    with gcpolicy.no_collections():
        gcpolicy.hold()
        gcpolicy.release()
        assert not gc.isenabled()  # the burst goes on
    assert gc.isenabled()
    gc.disable()  # a program that keeps it off has it off after both
    try:
        gcpolicy.hold()
        with gcpolicy.no_collections():
            pass
        gcpolicy.release()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_bulk_slice_is_frozen_not_walked(tmp_path):
    """The objects a bulk slice makes (jobs, tries) are frozen as they are made: the young
    collections after it find nothing of them to walk."""
    import sqlite3

    from benchmarks import generate as G
    from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource

    db = G.stampede_db(3000, outdir=str(tmp_path))
    (jobs,) = sqlite3.connect(db).execute("SELECT count(*) FROM job").fetchone()
    gc.collect()
    frozen = gc.get_freeze_count()
    try:
        store = run_to_end(StampedeDbSource(db, follow=False, bulk_min=1, prefetch_min=None), Store())
        assert store.job_count() == jobs
        assert gc.get_freeze_count() - frozen > 2 * jobs  # each job and its try, at least
        assert gc.isenabled()
    finally:
        gc.unfreeze()
