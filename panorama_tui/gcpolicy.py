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
"""

from __future__ import annotations

import gc
import threading

FREEZE_EVERY = 20_000  # events applied between freezes
_lock = threading.Lock()
_since = 0
_configured = False


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


def thaw() -> None:
    """Let the collector see everything again (before dropping a store)."""
    global _since
    with _lock:
        _since = 0
    gc.unfreeze()
