"""A bulk-loaded job's history (``Job.partial``), read from the source that holds it when a
user opens the job (issue #14).  The read runs on a thread of its own: a few queries on
the source's DB in a connection of their own (~5 ms a job on the generated 1M-job DB),
then the events go into the store as any source's do, under its lock."""

from __future__ import annotations

import threading

from ..model.entities import Job
from ..model.store import Store


class HistoryReader:
    """Reads each partial job's history once, in the background."""

    def __init__(self, store: Store, source):
        self.store = store
        self.source = source
        self._asked: set[tuple[str, str]] = set()
        self.error: str | None = None  # the last read's trouble, shown by the panel asking

    def can_read(self) -> bool:
        return callable(getattr(self.source, "history_events", None))

    def ask(self, job: Job) -> bool:
        """Start reading ``job``'s history unless it is whole, asked for already, or its
        source cannot say; True when a read started."""
        if not job.partial or job.key in self._asked or not self.can_read():
            return False
        self._asked.add(job.key)
        threading.Thread(target=self._read, args=job.key, name="panorama-history", daemon=True).start()
        return True

    def _read(self, wf_uuid: str, job_id: str) -> None:
        try:
            events = self.source.history_events(wf_uuid, job_id)
        except Exception as exc:  # the DB went away or is locked: said on the panel, the rest stays
            self.error = f"{job_id}: history not read ({exc})"[:200]
            return
        self.store.apply_many(events)
