"""When the ingest thread takes a checkpoint of the store (model/checkpoint.py), and where
it goes: into the live session's recording (core/recorder.py), or into a replay's memory
when its file has none (sources/replay.py), so a seek restores it and replays only what
follows.

A checkpoint costs in proportion to the store (~10-30 us of CPU a job to capture and
pack here, more as the store grows), a replay from one in proportion to the records after
it.  So the cadence is set by CPU, on the ingest thread's own clock: the next checkpoint
comes once the thread has spent ``cost / SHARE`` seconds since the last one (and at least
:data:`MIN_GAP` seconds): its checkpoints take at most ``SHARE`` of its CPU whatever the
store's size and the machine's speed, and the interval grows with the store.  A seek then
replays at most about that much CPU's worth of records after the checkpoint it restores.
"""

from __future__ import annotations

import logging
import time

from ..model import checkpoint

log = logging.getLogger(__name__)

# Checkpoints' share of the ingest thread's CPU at most.  Measured (benchmarks/bench_replay.py):
# a checkpoint of a 100k-job store costs ~1-2 s of CPU, so 0.1 puts one every ~10-20 s of
# ingest CPU (~1.5-3M records); a seek then replays at most that much.
SHARE = 0.1
# Ingest CPU between two checkpoints at the least: a replay of less than this from the
# previous checkpoint (or from zero) is as quick as a restore.
MIN_GAP = 2.0


class Cadence:
    """Says when the next checkpoint is due, from the CPU clock of the thread that asks."""

    def __init__(self, share: float = SHARE, min_gap: float = MIN_GAP, clock=time.thread_time):
        self.share = share
        self.min_gap = min_gap
        self.clock = clock
        self.cost = 0.0  # CPU of the last checkpoint
        # The clock is the asking thread's: it starts at the first question (the ingest
        # thread's), not in the constructor (whichever thread made the ingest).
        self.since: float | None = None
        self.spent = 0.0  # CPU of every checkpoint, for the figures
        self.taken = 0

    def restart(self) -> None:
        """The store was replaced (a restore, a reset): count from now (on the ingest thread)."""
        self.since = self.clock()

    def due(self) -> bool:
        now = self.clock()
        if self.since is None:
            self.since = now
        return now - self.since >= max(self.min_gap, self.cost / self.share)

    def took(self, cost: float) -> None:
        self.cost = cost
        self.spent += cost
        self.taken += 1
        self.since = self.clock()


class Checkpointer:
    """Takes checkpoints of ``store`` for ``sink`` (the recorder, or a replay source), as
    :class:`Cadence` says; run by the ingest thread after each batch.

    The sink has ``checkpoint_place(batch)``: (seq, ts, n_records) where a checkpoint of the
    store now would stand, or None (not at a row's end, the file has its own, ...), and
    ``add_checkpoint(seq, ts, n_records, body)``."""

    def __init__(self, store, sink, cadence: Cadence | None = None):
        self.store = store
        self.sink = sink
        self.cadence = cadence or Cadence()
        self.off: str | None = None  # why no checkpoints are taken any more
        self.lock_held = 0.0  # the longest hold of the store's lock, seconds
        self.last_size = 0

    def after_batch(self, batch) -> None:
        if self.off is not None or not self.cadence.due():
            return
        place = self.sink.checkpoint_place(batch)
        if place is None:
            return
        c0 = self.cadence.clock()
        t0 = time.perf_counter()
        with self.store.lock:
            captured = checkpoint.capture(self.store)
        self.lock_held = max(self.lock_held, time.perf_counter() - t0)
        try:
            body = checkpoint.pack(captured)  # outside the lock: this thread is the store's only writer
        except checkpoint.Unsupported as exc:
            self.off = str(exc)
            log.info("no checkpoints: %s", exc)
            return
        except Exception as exc:  # what it did not foresee must not stop the ingest: no more checkpoints
            self.off = f"checkpoint failed ({type(exc).__name__}: {exc})"[:200]
            log.info("%s", self.off, exc_info=True)
            return
        del captured
        try:
            self.sink.add_checkpoint(*place, body)
        except Exception as exc:  # a full disk: the recording goes on without them
            self.off = f"cannot keep a checkpoint: {exc}"
            log.info("%s", self.off)
            return
        self.last_size = len(body)
        self.cadence.took(self.cadence.clock() - c0)

    def restart(self) -> None:
        self.cadence.restart()


# -- checkpoints for a recording that has none (panorama-collect checkpoint) ---------------


class _FileSink:
    """Where :func:`add_to_recording`'s checkpoints go: the recording's own table."""

    def __init__(self, conn):
        self.conn = conn

    def checkpoint_place(self, batch):
        mark = getattr(batch, "mark", None)
        return None if mark is None else (mark.seq, mark.ts, mark.n_records)

    def add_checkpoint(self, seq: int, ts: float, n_records: int, body: bytes) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO checkpoints (seq, ts, n_records, body) VALUES (?, ?, ?, ?)",
                              (seq, ts, n_records, body))


def add_to_recording(path: str, cadence: Cadence | None = None) -> dict:
    """Replay the recording at ``path`` as fast as it goes and write checkpoints into it, in
    place of any it had, at the live recorder's cadence (or ``cadence``'s).  Returns the
    figures: checkpoints written, their CPU and the replay's (the ingest thread's), the
    longest hold of the store's lock, the bytes they added.  sqlite3.Error when the file
    cannot be written; ValueError when it is not a recording."""
    import os
    import sqlite3
    import threading

    from ..core.recorder import is_recording
    from ..model.store import Store
    from ..sources.replay import ReplayControl, ReplaySource
    from .ingest import Ingest

    if not is_recording(path):
        raise ValueError(f"{path} is not a panorama-top recording")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        with conn:
            conn.execute("BEGIN")
            conn.executescript("DROP TABLE IF EXISTS checkpoints;")
        from ..core.recorder import _CHECKPOINTS

        conn.executescript(_CHECKPOINTS)
        conn.execute("VACUUM")  # the old checkpoints' pages back, so the growth below is these
        before = os.path.getsize(path)
        source = ReplaySource(path, ReplayControl(speed=0.0))
        store = Store()
        ingest = Ingest(source, store, checkpoints=False)
        checkpointer = ingest.checkpointer = Checkpointer(store, _FileSink(conn), cadence)
        cpu = {"ingest": 0.0}

        def note_cpu() -> None:  # on the ingest thread: its own CPU clock
            cpu["ingest"] = time.thread_time()

        ingest.on_batch = note_cpu
        thread = threading.Thread(target=ingest.run, name="panorama-checkpoints", daemon=True)
        thread.start()
        while thread.is_alive() and not source.control.finished:
            thread.join(0.1)
        source.stop()
        thread.join()
        if ingest.error:
            raise ValueError(ingest.error)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c = checkpointer.cadence
        return {"checkpoints": c.taken, "checkpoint_cpu": c.spent, "ingest_cpu": cpu["ingest"],
                "lock_held": checkpointer.lock_held, "bytes_added": os.path.getsize(path) - before,
                "records": store.event_count + store.bad_count, "off": checkpointer.off}
    finally:
        conn.close()
