"""What the two live SQLite readers share (a Stampede DB, a Parsl monitoring DB):
a read-only connection polled by ``step()``, an error class that ends the read with
one line on the status, and the loop's ending.  Each subclass says what ``_run``
yields and which exception is its own."""

from __future__ import annotations

import logging
import sqlite3

from .base import RESET, Source
from .read_ahead import Prefetch

log = logging.getLogger(__name__)

# Events a batch: what the ingest thread applies under one take of the store's lock.
BATCH = 5000


def slices(events: list):
    """``events`` in batches of at most :data:`BATCH`; a bulk event (thousands of jobs in
    one, ``*.bulk*``) is a batch of its own, so the lock is never held for several."""
    start = 0
    for i, ev in enumerate(events):
        name = ev.get("event") if isinstance(ev, dict) else getattr(ev, "name", None)  # a record may be a dict
        if ".bulk" in (name or ""):
            for j in range(start, i, BATCH):
                yield events[j : min(j + BATCH, i)]
            yield [ev]
            start = i + 1
    for j in range(start, len(events), BATCH):
        yield events[j : j + BATCH]


# What a source's status.detail says while a big DB is read in chunks (issue #14): the
# screen shows "loading N%" and, with the DB's own job counts, puts them in the header.
LOADING_KEYS = ("loaded_rows", "total_rows", "db_counts")


def rows_there(conn: sqlite3.Connection, tables) -> int:
    """The rows of ``tables`` as their highest rowids: for tables only appended to,
    what a reader's rowid marks are measured against (a lookup each, no scan: 0.5 ms
    for 11 tables of a 1M-job Stampede DB)."""
    return sum(conn.execute(f'SELECT max(rowid) FROM "{t}"').fetchone()[0] or 0 for t in tables)


class PolledDbSource(Source):
    #: the exception that ends this source's read with its message on the status line
    error_class: type[Exception] = Exception

    conn: sqlite3.Connection | None = None
    #: True from a read that did not catch up in one chunk until the source has
    #: handed on what it read when it did (:meth:`_loaded`)
    loading = False
    caught_up = False
    #: a bulk read's steps read ahead by a child process (read_ahead.py), while it runs
    prefetch: Prefetch | None = None
    prefetched = 0  # steps it handed over
    prefetch_failed: str | None = None  # why it stopped before the end

    def taken_ahead(self, key: list):
        """What the read-ahead child read for the step ``key``, or None: read it here (and,
        once the child is gone, every step after)."""
        pre = self.prefetch
        if pre is None or not pre.covers(key):
            return None
        got = pre.take(key)
        if got is not None:
            self.prefetched += 1
            return got
        self.stop_reading_ahead(pre.failed)
        return None

    def stop_reading_ahead(self, why: str | None = None) -> None:
        """End the child (the bulk read is over, the source closes, or ``why``: it failed)."""
        if why is not None:
            self.prefetch_failed = why
            log.debug("%s: reading ahead stopped (%s)", self.label, why)
        if self.prefetch is not None:
            self.prefetch.close()
            self.prefetch = None

    def _loaded(self) -> None:
        """Caught up, and the events of the last chunk handed on (the caller asked for
        more): the store has what the DB has, so the loading figures go."""
        if self.loading and self.caught_up:
            self.loading = False
            self.status.detail = {k: v for k, v in self.status.detail.items() if k not in LOADING_KEYS}

    def _fail(self, message: str) -> None:
        self.status.state = "error"
        self.status.message = message

    def _wait(self, message: str) -> None:
        self.status.state = "starting"
        self.status.message = message

    def close(self) -> None:
        self.stop_reading_ahead()
        if self.conn is not None:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
            self.conn = None

    def batches(self):
        try:
            yield from self._run()
        except self.error_class as exc:
            self._fail(str(exc))
        finally:
            self.close()
        if self.status.state != "error":
            self.status.state = "ended"

    def _run(self):
        while not self.stopping:
            events = self.step()
            if events is RESET:  # the DB file was replaced: forget what was built from it
                yield RESET
                continue
            yield from slices(events)
            self._loaded()
            if self.caught_up:
                if not self.follow:
                    return
                self._stop.wait(self.poll_seconds)
            elif not events:  # not open yet, or busy: let the writer finish
                self._stop.wait(self._busy_wait())

    def _busy_wait(self) -> float:
        """How long to wait before asking again when nothing could be read."""
        return self.poll_seconds

    def step(self):  # pragma: no cover - interface
        """One round: the new events (maybe none), or RESET."""
        raise NotImplementedError
