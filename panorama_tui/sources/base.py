"""The source interface.

A source yields batches of raw records (JSON text, bytes, dicts or decoded
events) from :meth:`Source.batches`; the ingest thread decodes, records and
applies them.  A source never touches the store, so every source gets the
same decoding, counting of bad input and recording for free.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

class Batch(list):
    """A batch that can say where its records came from.

    ``where(i)`` names the place of record ``i`` (``events.json:1234``, a
    recording's row, an AMQP delivery); the ingest thread asks only for a
    record it could not decode, so a source pays for it only then.
    ``resume()``, when a source can be resumed, is where to read from to
    continue after this batch (a followed file's ``(inode, offset)``).
    ``mark``, when the batch ends a recording's row: the place a checkpoint of the
    store after it would stand for (:class:`CheckpointPlace`)."""

    __slots__ = ("where", "resume", "mark")

    def __init__(self, records=(), where=None, resume=None, mark=None):
        super().__init__(records)
        self.where = where
        self.resume = resume
        self.mark = mark


# Yielded in place of a batch to say "forget what you built" (replay's
# backward seek, a followed file that was truncated and restarted).
RESET = object()


@dataclass(frozen=True)
class CheckpointPlace:
    """A point of a recording: after row ``seq``, ``n_records`` records in, none of them
    received after ``ts`` (the latest receive time so far, so a replay to any time
    from ``ts`` on has shown every one of them)."""

    seq: int
    ts: float
    n_records: int


class Restore:
    """Yielded in place of a batch: "take this checkpoint's store in place of yours"
    (a replay's seek).  ``body()`` reads its bytes; the ingest thread decodes them and
    sets ``ok`` (False: unreadable, ``problem`` says why, and the store is as it was),
    which the source reads when it resumes."""

    __slots__ = ("place", "body", "ok", "problem")

    def __init__(self, place: CheckpointPlace, body):
        self.place = place
        self.body = body
        self.ok: bool | None = None
        self.problem = ""


@dataclass
class SourceStatus:
    state: str = "starting"  # starting | reading | following | live | paused | ended | error | reconnecting | down
    message: str = ""
    detail: dict = field(default_factory=dict)


def _go_on() -> None:
    """No ingest thread to give way for: go on."""


class Source:
    """Base class: subclasses implement :meth:`batches`."""

    #: a short description for the status line (never with credentials)
    label: str = "source"
    #: True when more data may arrive after the first read
    live: bool = False
    #: True when the ingest thread should append what arrives to a recording
    recordable: bool = True
    #: True when the input is a file that keeps what it delivered (a followed
    #: log): the screen records it only when asked to (``--record FILE``)
    file_backed: bool = False

    def __init__(self):
        self.status = SourceStatus()
        self._stop = threading.Event()
        #: what the source could not read as it should (a row skipped, text not UTF-8), one line
        #: each: the ingest thread moves them to the store's counted, shown warnings
        self.warnings: list[str] = []
        #: called in a long stretch of the source's own work: the ingest thread that runs it
        #: makes it wait while the screen answers a key (Ingest.let_input_first)
        self.breathe: Callable[[], None] = _go_on

    def batches(self):  # pragma: no cover - interface
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()
