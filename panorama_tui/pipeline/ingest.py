"""The ingest thread: source -> (recording, of the records as read) -> decode -> store.

Decoding happens here, once, for every source; records that cannot be
decoded are counted in the store and shown, never dropped silently.  A
source's batch is decoded and applied in slices of :data:`SLICE` records
(the parsed records of a slice are still in the CPU cache when the store
reads them); the store lock is held per slice, so a view waits at most one
slice.
"""

from __future__ import annotations

import logging
import threading
import time

from ..core import gcpolicy
from ..core.events import (
    _LATEST_EPOCH, _ONLINE_BYTES, _ONLINE_STR, _PLAUSIBLE_EPOCH, _SAMPLE_ERRORS, MAX_LINE_BYTES, ONLINE as _ONLINE,
    BadEvent, Event, TraceSample, _fast_loads, _sample_decode, decode, decode_line, to_epoch,
)
from ..core.fmt import visible
from ..core.typed import typed_record
from ..sources.base import RESET, Restore, Source
from ..model.store import Store

log = logging.getLogger(__name__)

SLICE = 200  # records decoded and applied at a time
# A key's frame before the next slice: the ingest thread holds the GIL between SQLite's
# calls, and the screen's thread, woken a dozen times between a key and its frame, waited
# up to the 5 ms switch interval each time (keys p95 ~2x their CPU while a big DB loaded).
# So the thread waits between slices while a key is answered, this long at most (a frame
# that never comes must not stop the ingest).
INPUT_WAIT = 0.25
_STAMPEDE_STR = '"stampede.'  # a record that may be one of the typed Stampede events
_STAMPEDE_BYTES = _STAMPEDE_STR.encode()


def decode_batch(records, bad: list, samples: bool = False, where=None) -> list:
    """Decode raw records; the reasons for those that are not events go to ``bad``.

    A reason names the record's place when ``where(i)`` (the place of
    ``records[i]``, see :class:`~panorama_tui.sources.base.Batch`) is given,
    and shows the start of the bad text; only bad records pay for that.

    With ``samples``, /proc trace records come back as
    :class:`~panorama_tui.core.events.TraceSample` for the store's typed lane
    (:meth:`Store.apply_decoded`), and the hot Stampede events as their typed records
    (:mod:`panorama_tui.core.typed`), rather than as events with their whole
    dict: for the store, not for those that pass records on.

    The collector's thresholds are the program's choice (``gcpolicy.configure``
    in the entry points), not this function's."""
    out: list = []
    append = out.append
    fast = _fast_loads
    bad0 = len(bad)
    # The typed lanes' tests and decoders as locals: this loop runs once a record
    # (typed_sample inlined: ~0.1 us a record of the ~2.5 decoding costs)
    online_s, online_b, stampede_s, stampede_b = _ONLINE_STR, _ONLINE_BYTES, _STAMPEDE_STR, _STAMPEDE_BYTES
    sample_decode, sample_errors, record = _sample_decode, _SAMPLE_ERRORS, typed_record
    lo, hi, max_len = _PLAUSIBLE_EPOCH, _LATEST_EPOCH, MAX_LINE_BYTES
    for r in records:
        try:
            t = type(r)
            if fast is not None and (t is str or t is bytes) and len(r) <= max_len:
                if samples:
                    if online_s in r if t is str else online_b in r:
                        try:
                            x = sample_decode(r)
                        except sample_errors:
                            x = None
                        else:  # as typed_sample: else the general way decides, and warns
                            ts = x.ts
                            if (
                                x.event == _ONLINE and ts is not None and lo <= ts < hi
                                and (x.xwf_id or x.wf_uuid) and (x.dag_job_id or x.job_id)
                            ):
                                append(x)
                                continue
                    elif stampede_s in r if t is str else stampede_b in r:
                        x = record(r)
                        if x is not None:
                            append(x)
                            continue
                try:
                    obj = fast(r)
                except Exception:  # json decides what orjson refuses (events.loads)
                    append(decode_line(r))
                    continue
                # events.decode, inlined for the common case (an object with an
                # event name, underscore keys, a numeric or no ts)
                if type(obj) is dict and "xwf.id" not in obj and "wf.uuid" not in obj:
                    name = obj.get("event")
                    if type(name) is str and name and name != "stampede.task.monitoring":
                        ts = obj.get("ts")
                        if ts is None:
                            ts = obj.get("@timestamp")
                        if type(ts) is float:
                            ts = ts if lo <= ts < hi else None
                        elif ts is not None:
                            ts = to_epoch(ts)
                        append(Event(name, ts, obj))
                        continue
                append(decode(obj))
            elif isinstance(r, Event):
                append(r)
            elif isinstance(r, dict):
                append(decode(r))
            elif isinstance(r, BadEvent):  # a source's unreadable record (a damaged recording row)
                raise r
            else:
                append(decode_line(r))
        except BadEvent as exc:
            # Every record before this one is in ``out`` or ``bad``: its index is their sum.
            place = where(len(out) + len(bad) - bad0) if where is not None else None
            bad.append(describe_bad(str(exc), r, place))
        except Exception as exc:  # no record, whatever it holds, stops the others
            place = where(len(out) + len(bad) - bad0) if where is not None else None
            bad.append(describe_bad(f"undecodable record ({type(exc).__name__}: {exc})"[:200], r, place))
    return out


def _is_sample(e) -> bool:
    return type(e) is TraceSample


SNIPPET = 60  # characters of a bad record shown in its warning


def describe_bad(reason: str, record, place: str | None = None) -> str:
    """``place: reason «start of the record»``, control characters made visible."""
    text = f"{place}: {reason}" if place else reason
    if isinstance(record, BadEvent):
        return text
    if isinstance(record, (bytes, bytearray)):
        raw = bytes(record[: SNIPPET * 4]).decode("utf-8", "replace")
    elif isinstance(record, dict):
        raw = repr(record)[: SNIPPET * 4]
    else:
        raw = str(record)[: SNIPPET * 4]
    shown = visible(raw.rstrip("\r\n"))
    if len(shown) > SNIPPET:
        shown = shown[: SNIPPET - 1] + "…"
    return f"{text} «{shown}»"


def _shifted(where, by: int):
    """``where`` for a slice that starts at record ``by`` of its batch."""
    if where is None:
        return None
    return lambda k: where(by + k)


class Ingest:
    """Runs one source on its own daemon thread."""

    def __init__(self, source: Source, store: Store, recorder=None, on_batch=None, checkpoints: bool = True):
        self.source = source
        self.store = store
        self.recorder = recorder
        # Checkpoints of the store (pipeline/checkpoints.py): into the live session's
        # recording, else into a replay's memory (a replay keeps those it is given);
        # ``checkpoints=False`` for a read to the end that never seeks (--once).
        self.checkpointer = None
        if checkpoints:
            from .checkpoints import Checkpointer

            if recorder is not None and source.recordable:
                self.checkpointer = Checkpointer(store, recorder)
            elif callable(getattr(source, "add_checkpoint", None)):
                self.checkpointer = Checkpointer(store, source)
        self._checkpoint_trouble: list[str] = []  # said again after each restore or reset
        self.restore_seconds: list[float] = []  # each restore's decode, build and swap (benchmarks)
        self.on_batch = on_batch  # called (from this thread) after each batch
        self.thread: threading.Thread | None = None
        self.error: str | None = None
        self.batches = 0
        self.done = threading.Event()
        self._input_answered = threading.Event()
        self._input_answered.set()
        source.breathe = self.let_input_first  # the source's own long work gives way too

    def yield_to_input(self) -> None:
        """The screen is answering a key: wait between slices until :meth:`input_answered`."""
        self._input_answered.clear()

    def input_answered(self) -> None:
        self._input_answered.set()

    def let_input_first(self) -> None:
        """While the screen answers a key, wait (INPUT_WAIT at most) for its frame."""
        if not self._input_answered.is_set():
            self._input_answered.wait(INPUT_WAIT)

    def start(self) -> "Ingest":
        self.thread = threading.Thread(target=self.run, name=f"ingest:{self.source.label}", daemon=True)
        self.thread.start()
        return self

    def run(self) -> None:
        store = self.store
        try:
            for batch in self._batches():
                if batch is RESET:
                    with store.lock:
                        store.reset()
                        for message in self._checkpoint_trouble:
                            store.warn(message)
                    if self.checkpointer is not None:
                        self.checkpointer.restart()
                        if self.checkpointer.sink is self.recorder:
                            # the store no longer is what a replay of the file builds
                            self.checkpointer.off = "the source started again"
                    continue
                if type(batch) is Restore:
                    self._restore(batch)
                    continue
                if self.recorder is not None and self.source.recordable:
                    try:
                        self.recorder.append(batch)
                    except Exception as exc:  # disk full, read-only: keep monitoring
                        store.warn(f"recording stopped: {exc}")
                        self.recorder = None
                        if self.checkpointer is not None and self.checkpointer.sink is not self.source:
                            self.checkpointer = None
                where = getattr(batch, "where", None)
                if not isinstance(batch, (list, tuple)):
                    batch = list(batch)
                bad: list[str] = []
                for i in range(0, len(batch), SLICE):
                    self.let_input_first()
                    try:
                        # Decode outside the lock (parsing is the slow part), apply under it.
                        events = decode_batch(batch[i:i + SLICE], bad, samples=True, where=_shifted(where, i))
                        with store.lock:
                            for reason in bad:
                                store.note_bad(reason)
                            store.apply_decoded(events)
                        # Trace samples are untracked structs (TraceSample, gc=False) that land in
                        # the series' rings: they add nothing to freeze.  Counted, 10k running jobs'
                        # 1 Hz traces made a full collection every 2 s on this thread, walking what
                        # the screen had made since (221 ms once after a sort: loop lag max 199 ms,
                        # benchmarks/bench_live.py).
                        gcpolicy.note_applied(len(events) - sum(map(_is_sample, events)))
                    except Exception as exc:
                        # Decoding and applying contain each record; this is for what they did
                        # not foresee (an odd Event a source made): the slice is lost, not the source.
                        log.debug("slice of %s failed", self.source.label, exc_info=True)
                        with store.lock:
                            store.warn(f"{self.source.label}: records skipped ({type(exc).__name__}: {exc})"[:200])
                    bad.clear()
                self._take_warnings()
                if self.checkpointer is not None:
                    self.checkpointer.after_batch(batch)
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
            self._take_warnings()
            self.done.set()

    def _batches(self):
        """The source's batches, none asked for while a key is answered: a source's own work
        for the next batch (a big DB's slice: ~50-100 ms of Python over 5,000 rows whose
        queries a child process ran) would hold the GIL the key's frame needs."""
        it = iter(self.source.batches())
        while True:
            self.let_input_first()
            try:
                yield next(it)
            except StopIteration:
                return

    def _restore(self, marker: Restore) -> None:
        """A checkpoint's store in place of this one (a replay's seek): decoded and built on
        this thread outside the lock, swapped in under it.  One that cannot be read is a
        counted warning and leaves the store as it was; the source, told by ``marker.ok``,
        falls back to an earlier one or to the first row."""
        from ..model import checkpoint

        t0 = time.perf_counter()
        try:
            state = checkpoint.decode(marker.body())
        except Exception as exc:  # CheckpointError, or the file's row gone (sqlite3.Error)
            marker.ok = False
            marker.problem = str(exc)[:160]
            message = (f"{self.source.label}: checkpoint after row {marker.place.seq} unreadable"
                       f" ({marker.problem}); replayed from an earlier point")
            self._checkpoint_trouble.append(message)
            with self.store.lock:
                self.store.warn(message)
            return
        with self.store.lock:
            self.store.restore(state)
            for message in self._checkpoint_trouble:
                self.store.warn(message)
        marker.ok = True
        self.restore_seconds.append(time.perf_counter() - t0)
        if self.checkpointer is not None:
            self.checkpointer.restart()

    def _take_warnings(self) -> None:
        got = self.source.warnings
        if got:
            with self.store.lock:
                for message in got:
                    self.store.warn(message)
            got.clear()

    def stop(self, timeout: float = 2.0) -> None:
        self.source.stop()
        if self.thread is not None:
            self.thread.join(timeout)
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None


def run_to_end(source: Source, store: Store, recorder=None) -> Store:
    """Ingest a finite source on the calling thread (for --once and tests)."""
    ing = Ingest(source, store, recorder, checkpoints=recorder is not None)
    ing.run()
    if ing.error:
        raise RuntimeError(ing.error)
    return store
