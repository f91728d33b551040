"""The ingest thread: source -> decode -> (recording) -> store.

Decoding happens here, once, for every source; records that cannot be
decoded are counted in the store and shown, never dropped silently.  The
store lock is held per batch, so a view waits at most one batch.
"""

from __future__ import annotations

import logging
import threading
import time

from .events import BadEvent, Event, decode, decode_line
from .sources.base import RESET, Source
from .store import Store

log = logging.getLogger(__name__)


def decode_batch(records, bad: list) -> list[Event]:
    """Decode raw records; the reasons for those that are not events go to ``bad``."""
    out = []
    append = out.append
    for r in records:
        try:
            if isinstance(r, Event):
                append(r)
            elif isinstance(r, dict):
                append(decode(r))
            else:
                append(decode_line(r))
        except BadEvent as exc:
            bad.append(str(exc))
    return out


class Ingest:
    """Runs one source on its own daemon thread."""

    def __init__(self, source: Source, store: Store, recorder=None, on_batch=None):
        self.source = source
        self.store = store
        self.recorder = recorder
        self.on_batch = on_batch  # called (from this thread) after each batch
        self.thread: threading.Thread | None = None
        self.error: str | None = None
        self.batches = 0
        self.done = threading.Event()

    def start(self) -> "Ingest":
        self.thread = threading.Thread(target=self.run, name=f"ingest:{self.source.label}", daemon=True)
        self.thread.start()
        return self

    def run(self) -> None:
        store = self.store
        try:
            for batch in self.source.batches():
                if batch is RESET:
                    with store.lock:
                        store.reset()
                    continue
                if self.recorder is not None and self.source.recordable:
                    try:
                        self.recorder.append(batch)
                    except Exception as exc:  # disk full, read-only: keep monitoring
                        store.warn(f"recording stopped: {exc}")
                        self.recorder = None
                bad: list[str] = []
                events = decode_batch(batch, bad)  # outside the lock: parsing is the slow part
                with store.lock:
                    for reason in bad:
                        store.note_bad(reason)
                    for ev in events:
                        store.apply(ev)
                self.batches += 1
                if self.on_batch is not None:
                    self.on_batch()
        except Exception as exc:  # a source bug must not take the screen down
            # Shown through the source status and a store warning; the
            # traceback only at debug level (never on a --once user's stderr).
            log.debug("source %s failed", self.source.label, exc_info=True)
            self.error = f"{self.source.label}: {type(exc).__name__}: {exc}"
            self.source.status.state = "error"
            self.source.status.message = self.error
            with store.lock:
                store.warn(self.error)
        finally:
            self.done.set()

    def stop(self, timeout: float = 2.0) -> None:
        self.source.stop()
        if self.thread is not None:
            self.thread.join(timeout)
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None


def run_to_end(source: Source, store: Store, recorder=None, timeout: float | None = None) -> Store:
    """Ingest a finite source on the calling thread (for --once and tests)."""
    ing = Ingest(source, store, recorder)
    deadline = None if timeout is None else time.monotonic() + timeout
    ing.run()
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError(source.label)
    if ing.error:
        raise RuntimeError(ing.error)
    return store
