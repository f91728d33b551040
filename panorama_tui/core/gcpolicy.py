"""Garbage-collector policy for a long-lived store of many small objects.

A 100k-job store is ~850k objects the cyclic collector tracks; each full
collection walks them all (0.8-2.6 s measured), freezing the screen.  Store
objects live as long as the store, so we move them to the permanent
generation (``gc.freeze``) as the store grows, and raise the thresholds of
the older generations so full collections are rare.  The youngest stays
small: a collection of it walks every young object, ~25-60 ms at 50k (what
a sort of 100k rows leaves behind), and lands in the middle of a key press;
at 5k it is a few ms.  Ingest is not slowed: its parsed records die before
a collection comes.  ``thaw`` before a reset, so a rebuilt store's
predecessor can be collected.

Between a key press and the frame that shows it the collector is held off
(``hold``/``release``): a collection that lands there walks the 100k-row
lists a sort or filter has just made (5-60 ms measured); right after the
frame it costs the same but delays nothing the user waits for.
"""

from __future__ import annotations

import gc
import threading
import time
from contextlib import contextmanager

FREEZE_EVERY = 20_000  # events applied between freezes
_lock = threading.Lock()
_since = 0
_configured = False
_holds = 0  # the screen's holds (hold/release)
_bursts = 0  # bursts of long-lived objects in progress (no_collections), any thread
_was_enabled = False
_held_since = 0.0


def configure() -> None:
    """Set the collection thresholds once per process."""
    global _configured
    with _lock:
        if not _configured:
            gc.set_threshold(5_000, 20, 1000)
            _configured = True


def note_applied(n: int) -> None:
    """Called after a batch is applied: freeze what has accumulated.

    A collection first, so that no garbage is frozen (it would never be
    freed): it walks only what is not frozen yet, i.e. what arrived since the
    last freeze, so its cost stays in proportion to the events applied.
    """
    global _since
    with _lock:
        _since += n
        if _since < FREEZE_EVERY:
            return
        _since = 0
    gc.collect()
    gc.freeze()


@contextmanager
def no_collections():
    """No automatic collection inside: for a burst of objects no cycle holds (a checkpoint's
    rows, ~10 tuples a job), which the collector would walk for nothing, and with them
    whatever of the store is not frozen yet (a full collection, triggered by the burst).
    Any thread: counted with the screen's :func:`hold`, so neither turns the other's off."""
    global _bursts
    with _lock:
        _off_locked()
        _bursts += 1
    try:
        yield
    finally:
        with _lock:
            _bursts -= 1
            _on_locked()


def build_frozen(build, *args):
    """``build(*args)``: a batch of long-lived objects made at once (a store restored from a
    checkpoint, or a big DB's slice of jobs and tries loaded in bulk: ~5-10 objects a job), with the collector
    off, then frozen as :func:`note_applied` freezes a grown store.  Else the young
    collections their allocations trigger walk them again and again: a 100k-job bulk load
    spent 0.34 s of its 2.6 s in collections, the longest 59 ms (a gen-1 pass over ~100k
    young objects) during which the screen's thread waited for the GIL.  A collection of
    the young generations first, so that no garbage is frozen with them: it walks only what
    was made since the last burst, a few ms.  Not a full one: that untracks a dict whose
    values are all untracked (the reader's job_id -> (uuid, name, type) note), the next row
    it notes tracks it again as young, and the next burst walks it whole: at 1M jobs, 3.3 s
    of collections, 12-31 ms each.  What reached the oldest generation since the last burst
    (two young collections survived) is frozen unexamined: a cycle among it is kept."""
    global _since
    gc.collect(1)
    with no_collections():
        out = build(*args)
        gc.freeze()
    with _lock:
        _since = 0
    return out


def thaw() -> None:
    """Let the collector see everything again (before dropping a store)."""
    global _since
    with _lock:
        _since = 0
    gc.unfreeze()


def _off_locked() -> None:
    """The first hold or burst turns the collector off (``_lock`` held)."""
    global _was_enabled
    if _holds + _bursts == 0:
        _was_enabled = gc.isenabled()
        gc.disable()


def _on_locked() -> None:
    """The last one ended: the collector as it was (``_lock`` held).  A collection that came
    due meanwhile runs at the next allocation."""
    if _holds + _bursts == 0 and _was_enabled:
        gc.enable()


def hold() -> None:
    """No automatic collection until the matching :func:`release` (UI thread)."""
    global _holds, _held_since
    with _lock:
        _off_locked()
        if _holds == 0:
            _held_since = time.monotonic()
        _holds += 1


def release() -> None:
    global _holds
    with _lock:
        if _holds == 0:
            return
        _holds -= 1
        _on_locked()


def release_overdue(max_age: float = 1.0) -> None:
    """Let the collector run again if a hold is older than ``max_age``
    seconds: a release whose frame never came must not keep it off."""
    global _holds
    with _lock:
        if _holds and time.monotonic() - _held_since > max_age:
            _holds = 0
            _on_locked()
