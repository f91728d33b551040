"""A finite source run to its end into a store, on the calling thread: --once's and the
tests' "what does this DB hold now", and the SQL statistics' row-by-row fallback.

It lives here, not in the sources: a source yields records and never sees the store."""

from __future__ import annotations

from ..model.store import Store
from ..sources.parsl.monitoring_db import ParslDbError, ParslDbSource, find_db
from ..sources.pegasus.stampede_db import StampedeDbError, StampedeDbSource
from .ingest import run_to_end

__all__ = ["ParslDbError", "StampedeDbError", "read_parsl_db", "read_stampede_db"]


def read_stampede_db(path: str, store: Store | None = None, root_uuid: str | None = None) -> Store:
    """A store built from the whole Stampede DB as it is now;
    :class:`StampedeDbError` when the DB cannot be read."""
    src = StampedeDbSource(path, follow=False, root_uuid=root_uuid, bulk_min=None)  # every job whole
    store = run_to_end(src, store if store is not None else Store())
    if src.status.state == "error":
        raise StampedeDbError(src.status.message)
    return store


def read_parsl_db(path: str, store: Store | None = None) -> Store:
    """A store built from the whole Parsl monitoring DB as it is now (``path`` may be
    the run's dir); :class:`ParslDbError` when the DB cannot be read."""
    src = ParslDbSource(find_db(path), follow=False)
    store = run_to_end(src, store if store is not None else Store())
    if src.status.state == "error":
        raise ParslDbError(src.status.message)
    return store
