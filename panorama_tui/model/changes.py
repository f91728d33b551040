"""Which jobs changed, for any number of readers, each at its own pace.

The ingest side adds every job it changes to ``store.changed`` (with
:attr:`Store.lock <panorama_tui.model.store.Store.lock>` held); a reader (the
screen, a panel, a future insight engine) holds a :class:`ChangeCursor` from
:meth:`ChangeFeed.cursor` and calls :meth:`ChangeCursor.take`, also under the
lock, for the jobs changed since its own last take.

How: changed jobs go into one open set, :attr:`ChangeFeed.changed` (the handlers'
``set.add`` costs what it did on the single ``dirty`` set this replaces; a bound
``touch(job)`` stored on the store measured 30 % slower a call, 130 against 98 ns).
A take closes the open set into a *generation*; readers are generation numbers;
generations every reader has passed are dropped.  A reader
that falls too far behind (``max_kept`` jobs held for it) is told to refresh in
full instead of keeping an unbounded log, as it is after :meth:`ChangeFeed.reset`.
"""

from __future__ import annotations

import weakref
from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .entities import Job

# Jobs held in closed generations for readers that lag, before the laggards are
# told to refresh in full.  Measured: 1M jobs held in ten generations cost 40 MiB
# of sets (42 bytes a job; tests/test_changes.py checks < 60), against ~4 GiB for
# the 1M jobs themselves (4.3 KiB a job in the 2,000-job benchmark run); a full refresh of a 1M-job list costs about
# what re-keying that many changed jobs does, so holding more would not pay.
MAX_KEPT = 1_000_000


class Changes(NamedTuple):
    jobs: set[Job]  # the jobs changed since the reader's last take (its own set)
    full: bool  # anything may have changed (a reset, or the reader fell behind): rebuild


class ChangeFeed:
    """The store's change log (see the module's doc).  Not thread-safe on its own:
    callers hold the store's lock, as for every other store access."""

    def __init__(self, max_kept: int = MAX_KEPT):
        self.max_kept = max_kept
        # The open generation: handlers add to it (store.changed is this set). It is
        # cleared in place, never replaced, so the store's reference stays good.
        self.changed: set = set()
        self._closed: deque[set] = deque()
        self._first = 0  # the generation number of _closed[0]
        self._kept = 0  # jobs held in _closed, duplicates across generations included
        self._epoch = 0  # moves on reset(): every reader's next take is full
        self._readers: weakref.WeakSet[ChangeCursor] = weakref.WeakSet()

    @property
    def _next(self) -> int:
        """The number the next closed generation gets."""
        return self._first + len(self._closed)

    def cursor(self) -> ChangeCursor:
        """A new reader; its first take is full (it has seen nothing yet)."""
        reader = ChangeCursor(self)
        self._readers.add(reader)
        return reader

    def reset(self) -> None:
        """Everything changed (the store was emptied): every reader's next take is full."""
        self._epoch += 1
        self.changed.clear()
        self._first = self._next  # numbers only grow: a reader's old number never means a new generation
        self._closed.clear()
        self._kept = 0

    def touch(self, job) -> None:
        self.changed.add(job)

    def _close(self) -> None:
        if self.changed:
            self._closed.append(set(self.changed))
            self._kept += len(self.changed)
            self.changed.clear()
            while self._kept > self.max_kept and len(self._closed) > 1:
                self._drop()  # the readers still before it will refresh in full

    def _drop(self) -> None:
        self._kept -= len(self._closed.popleft())
        self._first += 1

    def _trim(self) -> None:
        """Drop the generations every current reader has read."""
        low = min((r._gen for r in self._readers if r._epoch == self._epoch), default=self._next)
        while self._first < low:
            self._drop()

    def _take(self, reader: ChangeCursor) -> Changes:
        self._close()
        if reader._epoch != self._epoch or reader._gen < self._first:
            changes = Changes(set(), True)
        else:
            changes = Changes(set().union(*islice(self._closed, reader._gen - self._first, None)), False)
        reader._gen, reader._epoch = self._next, self._epoch
        self._trim()
        return changes

    @property
    def kept(self) -> int:
        """Jobs held for readers that have not read them yet (open set included)."""
        return self._kept + len(self.changed)


class ChangeCursor:
    """One reader's place in a :class:`ChangeFeed`."""

    __slots__ = ("_feed", "_gen", "_epoch", "__weakref__")

    def __init__(self, feed: ChangeFeed):
        self._feed = feed
        self._gen = 0
        self._epoch = -1  # never the feed's: the first take is full

    def take(self) -> Changes:
        """The jobs changed since this reader's last take (store lock held)."""
        return self._feed._take(self)
